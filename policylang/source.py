"""Source text and spans: where in which file a piece of policy came from."""

from __future__ import annotations

import hashlib

import attrs


@attrs.frozen(slots=True)
class Span:
    """A stretch of source text: 1-based line and column of its first and last character."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    @classmethod
    def point(cls, file: str, line: int, column: int, width: int = 1) -> Span:
        """A span on one line starting at ``column`` and ``width`` characters wide."""
        return cls(file, line, column, line, column + max(width, 1))


NOWHERE = Span("<unknown>", 0, 0, 0, 0)


def text_digest(text: str) -> str:
    """The SHA-256 of a file's text (UTF-8) in hex: how a policy version names what it read."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@attrs.frozen(slots=True)
class Source:
    """The text of one file, kept so errors can quote the offending line."""

    name: str
    text: str

    def line(self, number: int) -> str:
        lines = self.text.split("\n")  # as the lexer counts lines; splitlines also splits at \f
        if 1 <= number <= len(lines):
            return lines[number - 1].rstrip("\r")
        return ""

"""Source text and spans: where in which file a piece of policy came from."""

from __future__ import annotations

from policylang.slotted import field, frozen


@frozen
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
    import hashlib  # here: hashlib loads OpenSSL, a few milliseconds of every cold command

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@frozen
class Source:
    """The text of one file, kept so errors can quote the offending line."""

    name: str
    text: str
    # where each line starts, found on the first call of line(): one pass, not one per error
    _starts: list[int] = field(factory=list, init=False, eq=False, repr=False)

    def line(self, number: int) -> str:
        starts = self._starts
        if not starts:
            starts.append(0)  # lines end at "\n" only, as the lexer counts them (not \f, \x1c, ...)
            find, text, at = self.text.find, self.text, self.text.find("\n")
            while at >= 0:
                starts.append(at + 1)
                at = find("\n", at + 1)
            starts.append(len(text) + 1)
        if 1 <= number < len(starts):
            return self.text[starts[number - 1] : starts[number] - 1].rstrip("\r")
        return ""

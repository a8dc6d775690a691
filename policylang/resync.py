"""Statement boundaries of a policy file, found without the parser.

When a file does not parse, the parser reports every syntax error by parsing the file
again one statement at a time. This module finds where statements start using only the
line rules of the language, so that a mistake in one statement cannot hide the next:

- a statement starts at the margin;
- an indented line belongs to the statement above it (a ``customer`` block's attributes);
- a line after one that ends with a comma, or inside open parentheses, continues the
  statement, unless it plainly starts a new statement (``cap "...``, ``teams ...``): a
  trailing comma is then the mistake, and the next statement is still read.
"""

from __future__ import annotations

import re

import attrs

# Lines that start a statement even after a trailing comma: no continuation looks like these.
STATEMENT_START = re.compile(
    r"""^(?:
        (?:cap|capacity|quiet|exclude|require|exclusive|exempt)\s+["“'] |
        (?:policy|timezone|precedence|include|pack)\s |
        (?:channels|teams|purposes|outcomes|events)\s |
        owner\s+is\b |
        customer\s*(?:\#.*)?$
    )""",
    re.VERBOSE,
)


@attrs.frozen(slots=True)
class Chunk:
    """The lines ``first``..``last`` (1-based, inclusive) of one statement."""

    first: int
    last: int


def code_of(line: str) -> str:
    """A line without its comment (a ``#`` outside a quoted string) and trailing blanks."""
    if "#" not in line:  # most lines: no need to walk them character by character
        return line.rstrip()
    in_string = escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and in_string:
            escaped = True
        elif char == '"':
            in_string = not in_string
        elif char == "#" and not in_string:
            return line[:index].rstrip()
    return line.rstrip()


def paren_balance(code: str) -> int:
    """Open minus closed parentheses outside quoted strings."""
    if "(" not in code and ")" not in code:
        return 0
    depth = 0
    in_string = escaped = False
    for char in code:
        if escaped:
            escaped = False
        elif char == "\\" and in_string:
            escaped = True
        elif char == '"':
            in_string = not in_string
        elif not in_string and char == "(":
            depth += 1
        elif not in_string and char == ")":
            depth -= 1
    return depth


def statement_chunks(text: str) -> list[Chunk]:
    """The statements of ``text`` as line ranges, in file order (blank lines belong to none)."""
    chunks: list[Chunk] = []
    first = last = 0
    depth = 0
    continued = False
    for number, raw in enumerate(text.split("\n"), start=1):
        code = code_of(raw.rstrip("\r"))
        if not code.strip():
            continue
        at_margin = not code[:1].isspace()
        starts = at_margin and (not (continued or depth > 0) or STATEMENT_START.match(code) is not None)
        if starts or not first:
            if first:
                chunks.append(Chunk(first, last))
            first, depth = number, 0
        last = number
        depth = max(0, depth + paren_balance(code))
        continued = code.endswith(",")
    if first:
        chunks.append(Chunk(first, last))
    return chunks


def chunk_text(lines: list[str], chunk: Chunk) -> str:
    """The text of one chunk, preceded by as many newlines as lines before it, so that
    the parser's line and column numbers are those of the whole file."""
    return "\n" * (chunk.first - 1) + "\n".join(lines[chunk.first - 1 : chunk.last]) + "\n"

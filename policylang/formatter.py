"""The canonical layout of a policy file (``policylang fmt``).

The formatter works from the AST plus the comments the parser kept, so its output says
exactly what the input said (``parse(format_policy(p)) == parse(p)``) and formatting is
idempotent. The layout is the one of the language reference's Northwind example:

* every statement on one line; a line continued after a comma is joined;
* vocabulary lists in a run of consecutive vocabulary lines align their names;
* customer attributes are indented two spaces, their types aligned in a column;
* rule heads (``cap "name":``) in a run of consecutive rules are padded so the bodies
  start in one column (blank lines and comments do not end a run; very long heads
  opt out so one long name does not push every body far to the right);
* blank lines between groups are kept, a run of blank lines becomes one;
* a comment after code stays after that code; trailing comments in a block of lines
  share one column, at least as far right as any of them was written; an own-line
  comment stays before the statement that follows it.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from policylang import nodes
from policylang.parser import parse, without_bom
from policylang.unparse import Unparser, quote

__all__ = ["format_policy", "quote"]

INDENT = "  "
GAP = 2  # spaces between an aligned column and what follows it
MAX_ALIGNED_HEAD = 44  # rule heads longer than this are not padded to align


def format_policy(text: str, file: str = "<policy>") -> str:
    """``text`` in the canonical layout; raise :class:`PolicySyntaxError` if it does not parse."""
    text = without_bom(text)
    tree = parse(text, file)
    # lines as the lexer counts them: only "\n" ends a line
    return Layout(tree, [line.rstrip("\r") for line in text.split("\n")]).render()


# ---- layout ---------------------------------------------------------------------------


@attrs.define
class Line:
    """One output line before alignment: an optional head padded to a column, then text."""

    text: str = ""
    head: str = ""
    align: str | None = None  # alignment family: "vocab", "rule", "attr" or None
    indent: str = ""
    comment: str | None = None
    comment_column: int = 0  # the trailing comment's 1-based column in the source
    blank_before: bool = False

    def code(self, width: int) -> str:
        if not self.head:
            return self.indent + self.text
        if not self.text:
            return self.indent + self.head
        pad = max(width - len(self.head), 0) + GAP
        if self.align == "rule" and len(self.head) > MAX_ALIGNED_HEAD:
            pad = GAP
        return self.indent + self.head + " " * pad + self.text


class Layout:
    """Lays out one parsed file; see the module docstring for the rules."""

    def __init__(self, tree: nodes.PolicyFile, source_lines: list[str]) -> None:
        self.tree = tree
        self.source_lines = source_lines
        self.unparser = Unparser.for_policy(tree)
        self.lines: list[Line] = []
        self.last_line = 0  # the last source line already laid out
        self.own_comments: list[nodes.Comment] = []
        self.trailing: dict[int, nodes.Comment] = {}
        self.split_comments()

    # -- comments --
    def split_comments(self) -> None:
        """Own-line comments in source order; trailing ones by the line they end."""
        for comment in self.tree.comments:
            before = self.source_lines[comment.line - 1][: comment.column - 1]
            if before.strip():
                self.trailing[comment.line] = comment
            else:
                self.own_comments.append(comment)

    def comments_before(self, line: int, indent: str = "") -> None:
        """Emit own-line comments above source line ``line`` not yet emitted."""
        while self.own_comments and self.own_comments[0].line < line:
            comment = self.own_comments.pop(0)
            self.add(Line(comment.text, indent=indent), comment.line, comment.line)

    def trailing_in(self, first: int, last: int, indent: str = "") -> Line | None:
        """Attach comments that trail code on lines first..last: the one on the last line
        stays trailing, those on earlier (continued) lines move above the statement."""
        for number in range(first, last):
            comment = self.trailing.pop(number, None)
            if comment is not None:
                self.lines.append(Line(comment.text, indent=indent, blank_before=self.blank_gap(first)))
                self.last_line = max(self.last_line, first - 1)
        return None

    def blank_gap(self, first: int) -> bool:
        """Was there a blank line between the last laid-out source line and ``first``?"""
        if not self.lines:
            return False
        return any(not text.strip() for text in self.source_lines[self.last_line : first - 1])

    def add(self, line: Line, first: int, last: int) -> None:
        """Append ``line`` standing for source lines first..last."""
        self.trailing_in(first, last, line.indent)
        line.blank_before = self.blank_gap(first)
        comment = self.trailing.pop(last, None)
        if comment is not None and line.comment is None:
            line.comment = comment.text
            line.comment_column = comment.column
        self.lines.append(line)
        self.last_line = max(self.last_line, last)

    # -- statements --
    def render(self) -> str:
        for statement in self.tree.statements:
            self.statement(statement)
        self.comments_before(len(self.source_lines) + 1)
        for number in sorted(self.trailing):  # a comment after code no statement claimed
            comment = self.trailing.pop(number)
            self.add(Line(comment.text), number, number)
        self.mark_runs()
        return self.text()

    def statement(self, statement: nodes.Statement) -> None:
        first = statement.span.line
        # own-line comments inside a continued statement go above it as well
        last = statement.span.end_line
        if isinstance(statement, nodes.CustomerBlock):
            self.customer_block(statement)
            return
        self.comments_before(last + 1 if last > first else first)
        if isinstance(statement, nodes.Vocabulary):
            names = self.unparser.join(statement.names)
            self.add(Line(names, head=statement.kind, align="vocab"), first, last)
        elif isinstance(statement, nodes.RULE_TYPES):
            head = self.unparser.head(statement)
            self.add(Line(self.unparser.rule_body(statement), head=head, align="rule"), first, last)
        else:
            self.add(Line(self.unparser.text(statement)), first, last)

    def customer_block(self, block: nodes.CustomerBlock) -> None:
        first = block.span.line
        self.comments_before(first)
        self.add(Line("customer"), first, first)
        for attribute in block.attributes:
            line, last = attribute.span.line, attribute.span.end_line
            self.comments_before(last + 1 if last > line else line, INDENT)
            text = self.unparser.text(attribute.type)
            self.add(Line(text, head=attribute.name.value, align="attr", indent=INDENT), line, last)

    # -- alignment and output --
    def mark_runs(self) -> None:
        """Give each line of a run of one alignment family the run's head width."""
        self.widths: list[int] = [0] * len(self.lines)
        run: list[int] = []
        family: str | None = None
        for index, line in enumerate(self.lines):
            if line.align is None:
                if line.head or line.text != "" and not line.text.startswith("#"):
                    self.close_run(run)
                    run, family = [], None
                continue
            if line.align != family:
                self.close_run(run)
                run, family = [], line.align
            run.append(index)
        self.close_run(run)

    def close_run(self, run: Iterable[int]) -> None:
        indexes = list(run)
        heads = [len(self.lines[i].head) for i in indexes]
        if self.lines and indexes and self.lines[indexes[0]].align == "rule":
            heads = [h for h in heads if h <= MAX_ALIGNED_HEAD]
        width = max(heads, default=0)
        for i in indexes:
            self.widths[i] = width

    def text(self) -> str:
        codes = [line.code(width) for line, width in zip(self.lines, self.widths, strict=True)]
        columns = self.comment_columns(codes)
        out: list[str] = []
        for line, code, column in zip(self.lines, codes, columns, strict=True):
            if line.blank_before and out:
                out.append("")
            if line.comment is not None:
                code = code + " " * (column - 1 - len(code)) + line.comment
            out.append(code)
        return "\n".join(out) + "\n" if out else ""

    def comment_columns(self, codes: list[str]) -> list[int]:
        """One column for the trailing comments of each block of lines without a blank."""
        columns = [0] * len(self.lines)
        block: list[int] = []
        for index, line in enumerate(self.lines):
            if line.blank_before:
                self.fill_block(block, codes, columns)
                block = []
            block.append(index)
        self.fill_block(block, codes, columns)
        return columns

    def fill_block(self, block: list[int], codes: list[str], columns: list[int]) -> None:
        with_comment = [i for i in block if self.lines[i].comment is not None]
        if not with_comment:
            return
        column = max(
            max(self.lines[i].comment_column, len(codes[i]) + 1 + GAP) for i in with_comment
        )
        for i in with_comment:
            columns[i] = column

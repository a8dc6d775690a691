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

from collections.abc import Iterable, Sequence

import attrs

from policylang import ast
from policylang.compiler import condition_text, selector_text
from policylang.parser import parse, without_bom

INDENT = "  "
GAP = 2  # spaces between an aligned column and what follows it
MAX_ALIGNED_HEAD = 44  # rule heads longer than this are not padded to align


def format_policy(text: str, file: str = "<policy>") -> str:
    """``text`` in the canonical layout; raise :class:`PolicySyntaxError` if it does not parse."""
    text = without_bom(text)
    tree = parse(text, file)
    # lines as the lexer counts them: only "\n" ends a line
    return Layout(tree, [line.rstrip("\r") for line in text.split("\n")]).render()


# ---- writing AST nodes back as text ------------------------------------------------------


def quote(text: str) -> str:
    """A quoted string literal that the parser reads back as ``text``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def duration_words(duration: ast.Duration) -> str:
    return f"{duration.amount} {duration.unit}{'' if duration.amount == 1 else 's'}"


def days_words(days: int) -> str:
    return f"{days} consecutive {'day' if days == 1 else 'days'}"


def window_text(window: ast.Window) -> str:
    if isinstance(window, ast.RollingWindow):
        return duration_words(window.length)
    if isinstance(window, ast.ConsecutiveDays):
        return days_words(window.days)
    return f"calendar {window.unit}"


def tail_text(tail: ast.RuleTail) -> str:
    """`` in zone "..." when ... from DATE until DATE`` (11.0), empty for no clauses."""
    text = ""
    if isinstance(tail.zone, str):
        text += f" in zone {quote(tail.zone)}"
    elif tail.zone is not None:
        text += f" in zone customer.{tail.zone.attribute}"
    if tail.when is not None:
        text += f" when {condition_text(tail.when)}"
    if tail.start is not None:
        text += f" from {tail.start.value}"
    if tail.until_items:
        text += " until " + ", ".join(item.value for item in tail.until_items)
    return text


class SelectorWriter:
    """Writes selectors: names of one declared kind joined by commas, kinds by spaces."""

    def __init__(self, tree: ast.PolicyFile) -> None:
        self.kind_of: dict[str, str] = {}
        for statement in tree.statements:
            if isinstance(statement, ast.Vocabulary):
                for name in statement.names:
                    self.kind_of.setdefault(name.value, statement.kind)

    def names(self, names: Sequence[ast.Name]) -> str:
        out = ""
        previous: str | None = None
        for name in names:
            kind = self.kind_of.get(name.value)
            if out:
                out += ", " if kind is not None and kind == previous else " "
            out += name.value
            previous = kind
        return out

    def selector(self, node: ast.Selector) -> str:
        parts = [self.names(node.names)] if node.names else []
        if node.by:
            parts.append("by " + ", ".join(n.value for n in node.by))
        if node.excepts:
            parts.append("except " + ", ".join(n.value for n in node.excepts))
        return " ".join(parts)

    def period(self, period: ast.QuietPeriod) -> str:
        if isinstance(period, ast.Outside):
            return f"outside {period.start}-{period.end}"
        if isinstance(period, ast.Between):
            return f"between {period.start} and {period.end}"
        if isinstance(period, ast.OnDays):
            text = "on " + ", ".join(d.value for d in period.days)
            return text + (" " + self.period(period.clock) if period.clock is not None else "")
        if period.duration is not None:
            length = duration_words(period.duration)
        else:
            length = days_words(period.days or 0)
        count = f"{period.count} " if period.count is not None else ""
        text = f"within {length} after {count}{self.selector(period.trigger)}"
        if period.outcome is not None:
            text += " with outcome " + ", ".join(n.value for n in (period.outcome, *period.more_outcomes))
        if period.count_window is not None:
            text += f" in {window_text(period.count_window)}"
        if period.for_each is not None:
            text += f" for each {period.for_each}"
        return text

    def rule_body(self, rule: ast.Rule) -> str:
        """Everything after ``kind "name":``, with the clauses of 11.0 after the body."""
        return self.body(rule) + tail_text(rule.tail) + cite_text(rule.cite)

    def body(self, rule: ast.Rule) -> str:
        if isinstance(rule, ast.Cap):
            text = f"at most {rule.limit} {self.selector(rule.selector)} per {window_text(rule.window)}"
            text += f" for each {rule.for_each}" if rule.for_each else ""
            if rule.counting is not None:
                names = ", ".join(n.value for n in rule.counting.outcomes)
                text += f" {'counting only' if rule.counting.only else 'not counting'} outcome {names}"
            return text
        if isinstance(rule, ast.Quiet):
            parts = " or ".join(self.period(p) for p in (rule.period, *rule.more_periods))
            return f"no {self.selector(rule.selector)} {parts}"
        if isinstance(rule, ast.Exclude):
            return f"{self.selector(rule.selector)} when {condition_text(rule.condition)}"
        if isinstance(rule, ast.Require):
            return self.require_body(rule)
        if isinstance(rule, ast.Exclusive):
            return f"{self.selector(rule.selector)} per {duration_words(rule.distance)}"
        targets = ", ".join(t.text if t.is_kind else quote(t.text) for t in rule.targets)
        text = f"{self.selector(rule.selector)} from {targets}"
        window = rule.window
        if window is not None:
            if window.duration is not None:
                text += f" within {duration_words(window.duration)}"
            elif window.days is not None:
                text += f" within {days_words(window.days)}"
            text += f" after {self.selector(window.opener)}"
            if window.outcomes:
                text += " with outcome " + ", ".join(n.value for n in window.outcomes)
        return text

    def require_body(self, rule: ast.Require) -> str:
        text = f"{self.selector(rule.selector)} after {self.selector(rule.prerequisite)}"
        if rule.outcome is not None:
            text += " with outcome " + ", ".join(n.value for n in (rule.outcome, *rule.more_outcomes))
        if rule.at_least is not None:
            text += f" at least {duration_words(rule.at_least)} before"
            if rule.within is not None:
                text += ","
        if rule.within is not None:
            text += f" within {duration_words(rule.within)}"
        return text


def attr_type_text(node: ast.AttrType) -> str:
    if node.kind == "enum":
        return "one of " + ", ".join(c.value for c in node.choices)
    if node.kind == "set":
        return f"set of {node.element}"
    return node.kind


def cite_text(cite: Sequence[ast.Citation]) -> str:
    """`` cite "a", "b"`` (11.17), or nothing."""
    return " cite " + ", ".join(quote(c.text) for c in cite) if cite else ""


def include_text(line: ast.Include) -> str:
    """An ``include`` line as written, renaming included."""
    text = f"include {quote(line.target)}"
    if line.version is not None:
        text += f" version {quote(line.version)}"
    if line.renames:
        text += " with " + ", ".join(
            f"customer.{r.old} as customer.{r.new}" if r.attribute else f"{r.old} as {r.new}" for r in line.renames
        )
    return text


def simple_statement_text(statement: ast.Statement) -> str:
    """Declarations other than vocabulary, customer blocks and rules."""
    if isinstance(statement, ast.PolicyName):
        return f"policy {quote(statement.title)}"
    if isinstance(statement, ast.PolicyTimezone):
        return f"timezone {quote(statement.zone)}"
    if isinstance(statement, ast.OwnerDecl):
        return f"owner is customer.{statement.attr.attribute}"
    if isinstance(statement, ast.Precedence):
        return "precedence " + " > ".join(t.value for t in statement.teams)
    if isinstance(statement, ast.Include):
        return include_text(statement)
    if isinstance(statement, ast.PackHeader):
        return f"pack {quote(statement.name)} version {quote(statement.version)}"
    if isinstance(statement, ast.Holidays):
        if statement.attr is not None:
            return f"holidays from customer.{statement.attr.attribute}"
        return f"holidays {quote(statement.code or '')}"
    if isinstance(statement, ast.WeekStarts):
        return f"week starts {statement.day.value}"
    if isinstance(statement, ast.Hold):
        return f"hold {selector_text(statement.selector)} up to {duration_words(statement.duration)}"
    raise TypeError(f"not a simple statement: {statement!r}")  # pragma: no cover


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

    def __init__(self, tree: ast.PolicyFile, source_lines: list[str]) -> None:
        self.tree = tree
        self.source_lines = source_lines
        self.writer = SelectorWriter(tree)
        self.lines: list[Line] = []
        self.last_line = 0  # the last source line already laid out
        self.own_comments: list[ast.Comment] = []
        self.trailing: dict[int, ast.Comment] = {}
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

    def statement(self, statement: ast.Statement) -> None:
        first = statement.span.line
        # own-line comments inside a continued statement go above it as well
        last = statement.span.end_line
        if isinstance(statement, ast.CustomerBlock):
            self.customer_block(statement)
            return
        self.comments_before(last + 1 if last > first else first)
        if isinstance(statement, ast.Vocabulary):
            names = ", ".join(n.value for n in statement.names)
            self.add(Line(names, head=statement.kind, align="vocab"), first, last)
        elif isinstance(statement, ast.RULE_TYPES):
            warn = " warn" if statement.tail.warn else ""
            head = f"{statement.kind} {quote(statement.name)}{warn}:"
            self.add(Line(self.writer.rule_body(statement), head=head, align="rule"), first, last)
        else:
            self.add(Line(simple_statement_text(statement)), first, last)

    def customer_block(self, block: ast.CustomerBlock) -> None:
        first = block.span.line
        self.comments_before(first)
        self.add(Line("customer"), first, first)
        for attribute in block.attributes:
            line, last = attribute.span.line, attribute.span.end_line
            self.comments_before(last + 1 if last > line else line, INDENT)
            text = attr_type_text(attribute.type)
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

"""Policy text to AST: runs the Lark parser and turns its tree into :mod:`policylang.nodes`.

Syntax errors are translated into plain words: never a Lark terminal name, always the
line, the column and what the author could have written there.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import sys
import unicodedata
from typing import Any, Literal, cast

import attrs
from lark import Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import LexerState, LexerThread, LineCounter
from lark.utils import TextSlice
from lark.visitors import _VArgsWrapper

from policylang import nodes
from policylang.errors import PolicySyntaxError, did_you_mean, raise_all, suggest
from policylang.grammar import load_grammar
from policylang.resync import code_of, statement_chunks
from policylang.source import Source, Span

# How the parser's expectations read to a person.
TERMINAL_WORDS = {
    "NAME": "a name",
    "STRING": 'a quoted name like "offers per month"',
    "INT": "a whole number",
    "NUMBER": "a number",
    "DATE": "a date like 2026-12-25",
    "CLOCK": "a clock time like 08:00",
    "_NL": "the end of the line",
    "_INDENT": "an indented line",
    "_DEDENT": "the end of the indented block",
    "$END": "the end of the file",
    "VOCAB_KIND": "`channels`, `teams`, `purposes`, `outcomes` or `events`",
    "SIMPLE_TYPE": "a type (flag, number, text, zone, date, team, channel, purpose, one of ..., set of ...)",
    "SET_ELEMENT": "channel, team, purpose or text",
    "TIME_UNIT": "minutes, hours, days or weeks",
    "DAY_UNIT": "days",
    "CALENDAR_UNIT": "day, week, month, quarter or year",
    "GROUP": "team, channel, purpose or campaign",
    "RULE_KIND": "a rule kind (cap, capacity, quiet, exclude, require, exclusive) or a quoted rule name",
    "REQUEST_FIELD": "channel, team or purpose",
    "COMPARISON": "a comparison (<, <=, >, >=, ==, !=)",
    "OWNER": "`owner`",
    "ANY": "`any`",
    "TRUE": "`true`",
    "FALSE": "`false`",
}

STATEMENT_KEYWORDS = ["policy", "timezone", "channels", "teams", "purposes", "outcomes", "events", "customer", "owner", "precedence", "cap", "capacity", "quiet", "exclude", "require", "exclusive", "exempt"]

KEYWORDS = frozenset(
    STATEMENT_KEYWORDS
    + ["warn", "zone", "cite", "until", "counting", "only", "ago", "starts", "holidays", "include", "version", "pack", "hold", "up", "to", "as", "months", "years", "zones", "instant", "region"]
    + ["at", "most", "per", "for", "each", "consecutive", "calendar", "no", "outside", "between", "and", "on", "within", "after", "with", "outcome", "when", "least", "before", "from", "by", "except", "any", "is", "not", "in", "or", "one", "of", "set", "true", "false", "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks", "month", "quarter", "year"]
)


def _span(file: str, meta: Any) -> Span:
    if getattr(meta, "empty", False) or not hasattr(meta, "line"):
        return Span(file, 0, 0, 0, 0)
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def token_span(file: str, token: Token) -> Span:
    """The span of one token."""
    line = token.line or 0
    column = token.column or 0
    end_line = token.end_line or line
    end_column = token.end_column or column + len(str(token))
    return Span(file, line, column, end_line, end_column)


def unquote(token: Token) -> str:
    """The text of a STRING token without quotes and escapes."""
    body = str(token)[1:-1]
    return body.replace('\\"', '"').replace("\\\\", "\\")


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    """Builds AST nodes bottom-up; every node gets its span."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def _s(self, meta: Any) -> Span:
        return _span(self.file, meta)

    def _fast_transform(self, tree: Tree[Token]) -> Any:
        """What ``transform`` returns, without Lark's per-call wrappers (a third of the time
        of a large policy went to building ``v_args`` wrappers); errors are not wrapped in
        ``VisitError``."""
        children = [self._fast_transform(c) if isinstance(c, Tree) else c for c in tree.children]
        handler = _HANDLERS.get(tree.data)
        if handler is None:
            return Tree(tree.data, children, tree.meta)
        return handler(self, tree.meta, children)

    def _name(self, token: Token) -> nodes.Name:
        # interned: a large policy names the same few channels, teams and purposes over and over
        return nodes.Name(sys.intern(str(token)), token_span(self.file, token))

    # -- declarations --
    def start(self, meta: Any, items: list[Any]) -> list[Any]:
        return items

    def policy_name(self, meta: Any, items: list[Token]) -> nodes.PolicyName:
        return nodes.PolicyName(unquote(items[0]), self._s(meta))

    def policy_timezone(self, meta: Any, items: list[Token]) -> nodes.PolicyTimezone:
        return nodes.PolicyTimezone(unquote(items[0]), self._s(meta))

    def vocabulary(self, meta: Any, items: list[Any]) -> nodes.Vocabulary:
        return nodes.Vocabulary(cast(nodes.VocabularyKind, str(items[0])), items[1], self._s(meta))

    def name_list(self, meta: Any, items: list[Token]) -> tuple[nodes.Name, ...]:
        return tuple(self._name(t) for t in items)

    def customer_block(self, meta: Any, items: list[nodes.Attribute]) -> nodes.CustomerBlock:
        return nodes.CustomerBlock(tuple(items), self._s(meta))

    def attribute(self, meta: Any, items: list[Any]) -> nodes.Attribute:
        return nodes.Attribute(self._name(items[0]), items[1], self._s(meta))

    def simple_type(self, meta: Any, items: list[Token]) -> nodes.AttrType:
        return nodes.AttrType(str(items[0]), span=self._s(meta))

    def enum_type(self, meta: Any, items: list[Token]) -> nodes.AttrType:
        return nodes.AttrType("enum", tuple(self._name(t) for t in items), span=self._s(meta))

    def set_type(self, meta: Any, items: list[Token]) -> nodes.AttrType:
        return nodes.AttrType("set", element=str(items[0]), span=self._s(meta))

    def owner_decl(self, meta: Any, items: list[nodes.AttrRef]) -> nodes.OwnerDecl:
        return nodes.OwnerDecl(items[0], self._s(meta))

    def precedence(self, meta: Any, items: list[nodes.Name]) -> nodes.Precedence:
        return nodes.Precedence(tuple(items), self._s(meta))

    def team_ref(self, meta: Any, items: list[Token]) -> nodes.Name:
        return self._name(items[0])

    # -- selectors --
    def selector(self, meta: Any, items: list[Any]) -> nodes.Selector:
        names: tuple[nodes.Name, ...] = ()
        by: tuple[nodes.Name, ...] = ()
        excepts: tuple[nodes.Name, ...] = ()
        for kind, value in items:
            if kind == "names":
                names = value
            elif kind == "by":
                by = value
            else:
                excepts = value
        return nodes.Selector(names, by, excepts, self._s(meta))

    def selector_names(self, meta: Any, items: list[Any]) -> tuple[str, tuple[nodes.Name, ...]]:
        names: list[nodes.Name] = []
        for item in items:
            if isinstance(item, tuple):
                names.extend(item[1])
            else:
                names.append(item)
        return ("names", tuple(names))

    def selector_name(self, meta: Any, items: list[Token]) -> nodes.Name:
        return self._name(items[0])

    def by_clause(self, meta: Any, items: list[nodes.Name]) -> tuple[str, tuple[nodes.Name, ...]]:
        return ("by", tuple(items))

    def except_clause(self, meta: Any, items: list[Token]) -> tuple[str, tuple[nodes.Name, ...]]:
        return ("except", tuple(self._name(t) for t in items))

    # -- windows and durations --
    def duration(self, meta: Any, items: list[Token]) -> nodes.Duration:
        return nodes.Duration(int(items[0]), duration_unit(items[1]), self._s(meta))

    def rolling_window(self, meta: Any, items: list[Token]) -> nodes.RollingWindow:
        length = nodes.Duration(int(items[0]), duration_unit(items[1]), self._s(meta))
        return nodes.RollingWindow(length, self._s(meta))

    def consecutive_window(self, meta: Any, items: list[Token]) -> nodes.ConsecutiveDays:
        return nodes.ConsecutiveDays(int(items[0]), self._s(meta))

    def calendar_window(self, meta: Any, items: list[Token]) -> nodes.CalendarWindow:
        return nodes.CalendarWindow(cast(nodes.CalendarUnit, str(items[0])), self._s(meta))

    def for_each(self, meta: Any, items: list[Token]) -> str:
        return str(items[0])

    # -- rules --
    def _rule_head(self, meta: Any, items: list[Any]) -> tuple[str, Span]:
        return unquote(items[0]), token_span(self.file, items[0])

    def _cap(self, kind: Literal["cap", "capacity"], meta: Any, items: list[Any]) -> nodes.Cap:
        items, tail = _split_tail(items)
        counting = next((i for i in items if isinstance(i, nodes.Counting)), None)
        items = [i for i in items if not isinstance(i, nodes.Counting)]
        name, name_span = self._rule_head(meta, items)
        for_each = items[4] if len(items) > 4 else None
        return nodes.Cap(
            kind, name, int(items[1]), items[2], items[3], for_each, self._s(meta), name_span,
            tail=tail, counting=counting,
        )

    # -- section 11.0: the clauses after a rule's body --
    def warn_mark(self, meta: Any, items: list[Any]) -> object:
        return _WARN

    def rule_tail(self, meta: Any, items: list[Any]) -> nodes.RuleTail:
        fields: dict[str, Any] = dict(items)
        until: tuple[nodes.Name, ...] = fields.get("until", ())
        return nodes.RuleTail(False, fields.get("zone"), fields.get("when"), fields.get("from"),
                            until[0] if until else None, self._s(meta), more_until=until[1:])

    exclude_tail = rule_tail

    def zone_name(self, meta: Any, items: list[Token]) -> tuple[str, str]:
        return ("zone", unquote(items[0]))

    def zone_attr(self, meta: Any, items: list[Any]) -> tuple[str, nodes.AttrRef]:
        return ("zone", items[0])

    def when_clause(self, meta: Any, items: list[Any]) -> tuple[str, nodes.Condition]:
        return ("when", items[0])

    def from_clause(self, meta: Any, items: list[Token]) -> tuple[str, nodes.Name]:
        return ("from", self._name(items[0]))

    def until_clause(self, meta: Any, items: list[nodes.Name]) -> tuple[str, tuple[nodes.Name, ...]]:
        return ("until", tuple(items))

    def until_item(self, meta: Any, items: list[Token]) -> nodes.Name:
        return self._name(items[0])

    def window_duration(self, meta: Any, items: list[Any]) -> nodes.ExemptWindow:
        outcomes = tuple(items[2]) if len(items) > 2 else ()
        return nodes.ExemptWindow(items[0], None, items[1], outcomes, self._s(meta))

    def window_days(self, meta: Any, items: list[Any]) -> nodes.ExemptWindow:
        outcomes = tuple(items[3]) if len(items) > 3 else ()
        return nodes.ExemptWindow(None, int(items[0]), items[2], outcomes, self._s(meta))

    def window_open(self, meta: Any, items: list[Any]) -> nodes.ExemptWindow:
        outcomes = tuple(items[1]) if len(items) > 1 else ()
        return nodes.ExemptWindow(None, None, items[0], outcomes, self._s(meta))

    def outcome_names(self, meta: Any, items: list[Token]) -> tuple[nodes.Name, ...]:
        return tuple(self._name(t) for t in items)

    def counting_only(self, meta: Any, items: list[Any]) -> nodes.Counting:
        return nodes.Counting(True, items[0], self._s(meta))

    def not_counting(self, meta: Any, items: list[Any]) -> nodes.Counting:
        return nodes.Counting(False, items[0], self._s(meta))

    def cap(self, meta: Any, items: list[Any]) -> nodes.Cap:
        return self._cap("cap", meta, items)

    def capacity(self, meta: Any, items: list[Any]) -> nodes.Cap:
        return self._cap("capacity", meta, items)

    def quiet(self, meta: Any, items: list[Any]) -> nodes.Quiet:
        items, tail = _split_tail(items)
        name, name_span = self._rule_head(meta, items)
        return nodes.Quiet("quiet", name, items[1], items[2], self._s(meta), name_span, tail=tail,
                         more_periods=tuple(items[3:]))

    def holidays_code(self, meta: Any, items: list[Token]) -> nodes.Holidays:
        return nodes.Holidays(unquote(items[0]), None, self._s(meta))

    def holidays_from(self, meta: Any, items: list[Any]) -> nodes.Holidays:
        return nodes.Holidays(None, items[0], self._s(meta))

    def week_starts(self, meta: Any, items: list[Token]) -> nodes.WeekStarts:
        return nodes.WeekStarts(self._name(items[0]), self._s(meta))

    def hold(self, meta: Any, items: list[Any]) -> nodes.Hold:
        return nodes.Hold(items[0], items[1], self._s(meta))

    def holiday_day(self, meta: Any, items: list[Token]) -> nodes.Name:
        text = "holidays" + (f' "{unquote(items[0])}"' if items else "")
        return nodes.Name(text, self._s(meta))

    def outside(self, meta: Any, items: list[Token]) -> nodes.Outside:
        return nodes.Outside(self._clock(items[0]), self._clock(items[1]), self._s(meta))

    def between(self, meta: Any, items: list[Token]) -> nodes.Between:
        return nodes.Between(self._clock(items[0]), self._clock(items[1]), self._s(meta))

    def _clock(self, token: Token) -> nodes.ClockTime:
        """A CLOCK token read once: hours and minutes (their range is the compiler's to check)."""
        hours, minutes = str(token).split(":")
        return nodes.ClockTime(int(hours), int(minutes), str(token), token_span(self.file, token))

    def on_days(self, meta: Any, items: list[Any]) -> nodes.OnDays:
        clock = next((i for i in items if isinstance(i, (nodes.Outside, nodes.Between))), None)
        days = tuple(i for i in items if isinstance(i, nodes.Name))
        return nodes.OnDays(days, self._s(meta), clock=clock)

    def day(self, meta: Any, items: list[Token]) -> nodes.Name:
        return self._name(items[0])

    def within_after(self, meta: Any, items: list[Any]) -> nodes.WithinAfter:
        outcomes, for_each = _trigger_options(items[2:])
        return nodes.WithinAfter(items[0], None, items[1], outcomes[0] if outcomes else None, for_each,
                               self._s(meta), more_outcomes=outcomes[1:])

    def within_days_after(self, meta: Any, items: list[Any]) -> nodes.WithinAfter:
        outcomes, for_each = _trigger_options(items[3:])
        return nodes.WithinAfter(None, int(items[0]), items[2], outcomes[0] if outcomes else None, for_each,
                               self._s(meta), more_outcomes=outcomes[1:])

    def pause_after(self, meta: Any, items: list[Any]) -> nodes.WithinAfter:
        window = next(i for i in items if isinstance(i, (nodes.RollingWindow, nodes.ConsecutiveDays, nodes.CalendarWindow)))
        outcomes, for_each = _trigger_options(items[3:])
        return nodes.WithinAfter(items[0], None, items[2], outcomes[0] if outcomes else None, for_each, self._s(meta),
                               more_outcomes=outcomes[1:], count=int(items[1]), count_window=window)

    def pause_days_after(self, meta: Any, items: list[Any]) -> nodes.WithinAfter:
        window = next(i for i in items if isinstance(i, (nodes.RollingWindow, nodes.ConsecutiveDays, nodes.CalendarWindow)))
        outcomes, for_each = _trigger_options(items[4:])
        return nodes.WithinAfter(None, int(items[0]), items[3], outcomes[0] if outcomes else None, for_each,
                               self._s(meta), more_outcomes=outcomes[1:], count=int(items[2]), count_window=window)

    def outcome(self, meta: Any, items: list[Token]) -> _Outcomes:
        return _Outcomes(self._name(t) for t in items)

    def exclude(self, meta: Any, items: list[Any]) -> nodes.Exclude:
        items, tail = _split_tail(items)
        name, name_span = self._rule_head(meta, items)
        return nodes.Exclude("exclude", name, items[1], items[2], self._s(meta), name_span, tail=tail)

    def require(self, meta: Any, items: list[Any]) -> nodes.Require:
        items, tail = _split_tail(items)
        name, name_span = self._rule_head(meta, items)
        outcome = at_least = within = None
        more: tuple[nodes.Name, ...] = ()
        for item in items[3:]:
            if isinstance(item, _Outcomes):
                outcome, more = item[0], tuple(item[1:])
            elif isinstance(item, tuple) and item[0] == "at_least":
                at_least = item[1]
            elif isinstance(item, tuple):
                within = item[1]
        return nodes.Require(
            "require", name, items[1], items[2], outcome, at_least, within, self._s(meta), name_span,
            more_outcomes=more, tail=tail,
        )

    def at_least(self, meta: Any, items: list[Any]) -> tuple[str, nodes.Duration]:
        return ("at_least", items[0])

    def within(self, meta: Any, items: list[Any]) -> tuple[str, nodes.Duration]:
        return ("within", items[0])

    def exclusive(self, meta: Any, items: list[Any]) -> nodes.Exclusive:
        items, tail = _split_tail(items)
        name, name_span = self._rule_head(meta, items)
        return nodes.Exclusive("exclusive", name, items[1], items[2], self._s(meta), name_span, tail=tail)

    def exempt(self, meta: Any, items: list[Any]) -> nodes.Exempt:
        items, tail = _split_tail(items)
        window = next((i for i in items if isinstance(i, nodes.ExemptWindow)), None)
        items = [i for i in items if not isinstance(i, nodes.ExemptWindow)]
        name, name_span = self._rule_head(meta, items)
        return nodes.Exempt("exempt", name, items[1], tuple(items[2:]), self._s(meta), name_span, tail=tail,
                          window=window)

    def exempt_target(self, meta: Any, items: list[Token]) -> nodes.ExemptTarget:
        token = items[0]
        if token.type == "STRING":
            return nodes.ExemptTarget(unquote(token), False, self._s(meta))
        return nodes.ExemptTarget(str(token), True, self._s(meta))

    # -- reuse (section 11.17) --
    def cited_rule(self, meta: Any, items: list[Any]) -> nodes.Rule:
        rule, cite = items
        return attrs.evolve(rule, cite=cite, span=self._s(meta))  # type: ignore[no-any-return]

    def cite(self, meta: Any, items: list[Token]) -> tuple[nodes.Citation, ...]:
        return tuple(nodes.Citation(unquote(t), token_span(self.file, t)) for t in items)

    def include(self, meta: Any, items: list[Any]) -> nodes.Include:
        target = items[0]
        version: Token | None = next((i for i in items[1:] if isinstance(i, Token)), None)
        renames = next((i for i in items[1:] if isinstance(i, tuple)), ())
        return nodes.Include(
            unquote(target),
            unquote(version) if version is not None else None,
            renames,
            self._s(meta),
            token_span(self.file, target),
            token_span(self.file, version) if version is not None else self._s(meta),
        )

    def include_version(self, meta: Any, items: list[Token]) -> Token:
        return items[0]

    def include_renames(self, meta: Any, items: list[nodes.Rename]) -> tuple[nodes.Rename, ...]:
        return tuple(items)

    def rename_name(self, meta: Any, items: list[Token]) -> nodes.Rename:
        return nodes.Rename(str(items[0]), str(items[1]), False, self._s(meta))

    def rename_attr(self, meta: Any, items: list[nodes.AttrRef]) -> nodes.Rename:
        return nodes.Rename(items[0].attribute, items[1].attribute, True, self._s(meta))

    def pack_header(self, meta: Any, items: list[Token]) -> nodes.PackHeader:
        return nodes.PackHeader(unquote(items[0]), unquote(items[1]), self._s(meta))

    # -- conditions --
    def attr_ref(self, meta: Any, items: list[Token]) -> nodes.AttrRef:
        return nodes.AttrRef(str(items[0]), self._s(meta))

    def value(self, meta: Any, items: list[Token]) -> nodes.Value:
        return literal_value(items[0], self.file)

    def any_of(self, meta: Any, items: list[nodes.Condition]) -> nodes.AnyOf:
        return nodes.AnyOf(tuple(items), self._s(meta))

    def all_of(self, meta: Any, items: list[nodes.Condition]) -> nodes.AllOf:
        return nodes.AllOf(tuple(items), self._s(meta))

    def negation(self, meta: Any, items: list[nodes.Condition]) -> nodes.Not:
        return nodes.Not(items[0], self._s(meta))

    def flag_test(self, meta: Any, items: list[nodes.AttrRef]) -> nodes.FlagTest:
        return nodes.FlagTest(items[0], self._s(meta))

    def is_test(self, meta: Any, items: list[Any]) -> nodes.Compare:
        return nodes.Compare(items[0], "is", items[1], self._s(meta))

    def is_not_test(self, meta: Any, items: list[Any]) -> nodes.Compare:
        return nodes.Compare(items[0], "is not", items[1], self._s(meta))

    def in_test(self, meta: Any, items: list[Any]) -> nodes.InList:
        return nodes.InList(items[0], tuple(items[1:]), False, self._s(meta))

    def not_in_test(self, meta: Any, items: list[Any]) -> nodes.InList:
        return nodes.InList(items[0], tuple(items[1:]), True, self._s(meta))

    def compare_test(self, meta: Any, items: list[Any]) -> nodes.Compare:
        return nodes.Compare(items[0], cast(nodes.CompareOp, str(items[1])), items[2], self._s(meta))

    def within_test(self, meta: Any, items: list[Any]) -> nodes.TimeTest:
        return nodes.TimeTest(items[0], "within", items[1], None, self._s(meta))

    def within_days_test(self, meta: Any, items: list[Any]) -> nodes.TimeTest:
        return nodes.TimeTest(items[0], "within_days", None, int(items[1]), self._s(meta))

    def ago_test(self, meta: Any, items: list[Any]) -> nodes.TimeTest:
        return nodes.TimeTest(items[0], "ago", items[1], None, self._s(meta))

    def member_test(self, meta: Any, items: list[Any]) -> nodes.Member:
        return nodes.Member(cast(nodes.RequestField, str(items[0])), items[1], False, self._s(meta))

    def not_member_test(self, meta: Any, items: list[Any]) -> nodes.Member:
        return nodes.Member(cast(nodes.RequestField, str(items[0])), items[1], True, self._s(meta))


# The handlers of _ToAst as plain functions (self, meta, children), by rule name.
_HANDLERS: dict[str, Any] = {
    name: method.base_func for name, method in vars(_ToAst).items() if isinstance(method, _VArgsWrapper)
}


class _Outcomes(tuple):  # type: ignore[type-arg]
    """The names of a ``with outcome a, b`` clause."""


_WARN = object()  # the `warn` mark after a rule's name


def _split_tail(items: list[Any]) -> tuple[list[Any], nodes.RuleTail]:
    """A rule's items without its `warn` mark and clause tail, and the tail (with ``warn``)."""
    warn = any(i is _WARN for i in items)
    tail = next((i for i in items if isinstance(i, nodes.RuleTail)), nodes.NO_TAIL)
    kept = [i for i in items if i is not _WARN and not isinstance(i, nodes.RuleTail)]
    if warn:
        tail = attrs.evolve(tail, warn=True)
    return kept, tail


def _trigger_options(items: list[Any]) -> tuple[tuple[nodes.Name, ...], str | None]:
    """The optional ``with outcome O, ...`` and ``for each G`` after a quiet trigger."""
    outcomes = next((tuple(i) for i in items if isinstance(i, _Outcomes)), ())
    for_each = next((i for i in items if isinstance(i, str)), None)
    return outcomes, for_each


def duration_unit(token: Token) -> nodes.DurationUnit:
    """``days`` -> ``day``: a TIME_UNIT token as its singular unit."""
    return cast(nodes.DurationUnit, str(token).rstrip("s"))


def literal_value(token: Token, file: str) -> nodes.Value:
    """A condition literal from its token; dates are checked here, so 2026-02-30 fails early."""
    span = token_span(file, token)
    kind = token.type
    text = str(token)
    if kind == "DATE":
        try:
            return nodes.Value("date", dt.date.fromisoformat(text), span)
        except ValueError:
            raise PolicySyntaxError(f"`{text}` is not a real date", span) from None
    if kind == "NUMBER":
        return nodes.Value("number", float(text), span)
    if kind == "STRING":
        return nodes.Value("text", unquote(token), span)
    if kind in ("TRUE", "FALSE"):
        return nodes.Value("bool", kind == "TRUE", span)
    return nodes.Value("name", text, span)


def describe_expected(expected: set[str], parser_terminals: dict[str, Any]) -> str:
    """``a name, `per` or the end of the line`` from a set of terminal names."""
    if {"CAP", "QUIET", "EXCLUDE", "VOCAB_KIND"} <= expected:
        return "a statement: " + ", ".join(STATEMENT_KEYWORDS[:-1]) + " or " + STATEMENT_KEYWORDS[-1]
    words: list[str] = []
    for name in sorted(expected):
        if name in TERMINAL_WORDS:
            word = TERMINAL_WORDS[name]
        else:
            term = parser_terminals.get(name)
            pattern = getattr(term, "pattern", None)
            if pattern is not None and type(pattern).__name__ == "PatternStr":
                word = f"`{pattern.value}`"
            else:
                word = name.lower()
        if word not in words:
            words.append(word)
    words.sort(key=lambda w: (not w.startswith("`"), w))
    if len(words) > 8:  # keep "the end of the line": it says the statement could stop here
        ends = [w for w in words if w.startswith("the end")]
        words = [w for w in words if w not in ends][: 8 - len(ends)] + ["..."] + ends
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _found(token: Token) -> str:
    if token.type == "_NL":
        return "end of the line"
    if token.type == "$END":
        return "end of the file"
    if token.type == "_DEDENT":
        return "line that is not indented"
    return f"`{token}`"


def acceptable(exc: UnexpectedInput, fallback: set[str]) -> set[str]:
    """The terminals the parser would really accept where it failed.

    Lark's own sets are too wide: the lexer adds terminals every state accepts (the
    post-lexer's newline), and LALR merges the look-aheads of states with one core, so
    after ``precedence cards`` it would also offer ``from`` or ``on``. Feeding each
    candidate to a copy of the parser state keeps only those that would be shifted.
    """
    state = getattr(exc, "state", None)
    try:
        candidates = state.parse_conf.parse_table.states[state.position]  # type: ignore[union-attr]
    except (AttributeError, KeyError, TypeError):
        return fallback
    accepted: set[str] = set()
    for name in candidates:
        if not name.isupper() and name != "$END":
            continue
        trial = state.copy()  # type: ignore[union-attr]
        try:
            trial.feed_token(Token(name, ""), name == "$END")
        except UnexpectedInput:
            continue
        except Exception:  # a tree callback choking on the empty probe still means "accepted"
            pass
        accepted.add(name)
    return accepted or fallback


def syntax_error(exc: UnexpectedInput, source: Source, terminals: dict[str, Any]) -> PolicySyntaxError:
    """A plain-words error for a Lark parse failure."""
    file = source.name
    if isinstance(exc, UnexpectedCharacters):
        line_text = source.line(exc.line)
        char = line_text[exc.column - 1 : exc.column] or "?"
        span = Span.point(file, exc.line, exc.column)
        allowed = acceptable(exc, set(exc.allowed or ()))
        expected = describe_expected(allowed, terminals) if allowed else None
        special = _common_mistake(source, exc.line, exc.column, allowed, expected)
        if special is not None:
            return special
        word = _word_at(line_text, exc.column)
        hint = None
        if word and word.lower() != word and word.lower() in KEYWORDS:
            hint = f"keywords are lower case: write `{word.lower()}`"
        elif word and word != word.lower():
            hint = "names are written in lower case letters, digits and _"
        elif char == '"':
            hint = 'a quoted name ends with `"` on the same line'
        return PolicySyntaxError(
            f"unexpected character `{char}`{_char_name(char)}", span, expected=expected, hint=hint, source=source
        )
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "_INDENT":
            return _indent_error(exc, source)
        wanted = acceptable(exc, set(exc.expected))
        expected = describe_expected(wanted, terminals)
        if token.type == "COMMA" and token.line and code_of(source.line(token.line)).endswith(","):
            trailing = _trailing_comma(source, token.line, expected)
            if trailing is not None and trailing.span.column == token.column:
                return trailing
        if token.type not in ("_NL", "$END", "_DEDENT") and token.line and token.column:
            special = _common_mistake(source, token.line, token.column, wanted, expected)
            if special is not None:
                return special
        elif token.type in ("_NL", "$END") and "_INDENT" in wanted and token.line:
            text = source.line(token.line)
            return PolicySyntaxError(
                "the `customer` block has no attributes",
                Span.point(file, token.line, 1, len(code_of(text)) or 1),
                expected="indented attribute lines below `customer`",
                hint="write each attribute on its own indented line, like `  status  one of active, dormant`",
                source=source,
            )
        elif token.type in ("_NL", "$END") and token.line:
            trailing = _trailing_comma(source, token.line, expected)
            if trailing is not None:
                return trailing
        span = _token_error_span(file, token, source)
        hint = _token_hint(token, wanted, terminals)
        return PolicySyntaxError(
            f"unexpected {_found(token)}", span, expected=expected, hint=hint, source=source
        )
    if isinstance(exc, UnexpectedEOF):
        lines = source.text.splitlines() or [""]
        span = Span.point(file, len(lines), len(lines[-1]) + 1)
        expected = describe_expected(set(exc.expected), terminals)
        return PolicySyntaxError("the file ends too early", span, expected=expected, source=source)
    return PolicySyntaxError(str(exc), Span.point(file, 1, 1), source=source)


CURLY_QUOTES = "“”„‟‘’‚‛«»"
# Letters a word processor or a keyboard layout gives that have no one-letter ASCII form.
ASCII_SPELLING = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ð": "d", "þ": "th", "ł": "l"}
AM_PM = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*([ap])\.?m\.?$", re.IGNORECASE)


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _whole_word(line: str, column: int) -> tuple[int, str]:
    """The (1-based start column, text) of the word around ``column``, letters of any script."""
    start = column - 1
    while start > 0 and _is_word_char(line[start - 1]):
        start -= 1
    end = column - 1
    while end < len(line) and _is_word_char(line[end]):
        end += 1
    return start + 1, line[start:end]


def ascii_name(word: str) -> str:
    """``kündigung`` -> ``kundigung``: the nearest name made of a-z, 0-9 and _."""
    out = []
    for char in word.lower():
        if char in ASCII_SPELLING:
            out.append(ASCII_SPELLING[char])
            continue
        base = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        out.append("".join(c for c in base if _is_word_char(c)) or "_")
    return "".join(out)


def _char_name(char: str) -> str:
    """`` (no-break space)`` for a character that is hard to see or to tell apart, else ``""``."""
    if char.isascii() and char.isprintable():
        return ""
    return f" ({unicodedata.name(char, 'an unnamed character').lower()})"


def to_24_hour(text: str) -> str | None:
    """``8am`` -> ``08:00``, ``9:30 pm`` -> ``21:30``, ``8`` -> ``08:00``; None for anything else."""
    if text.strip().isdigit() and int(text) <= 23:  # a bare hour: `8-21`
        return f"{int(text):02d}:00"
    match = AM_PM.match(text.strip())
    if not match:
        return None
    hours, minutes = int(match[1]), int(match[2] or 0)
    if not 1 <= hours <= 12 or minutes > 59:
        return None
    hours = hours % 12 + (12 if match[3].lower() == "p" else 0)
    return f"{hours:02d}:{minutes:02d}"


def _common_mistake(
    source: Source, line: int, column: int, wanted: set[str], expected: str | None
) -> PolicySyntaxError | None:
    """A message that says what to type, for the mistakes new authors make most.

    ``column`` is where the parser gave up; None when nothing specific applies.
    """
    file = source.name
    text = source.line(line)
    code = code_of(text)
    char = text[column - 1 : column]
    start, word = _whole_word(text, column) if char and _is_word_char(char) else (column, "")

    def error(message: str, at: int, width: int, hint: str, expect: str | None = expected) -> PolicySyntaxError:
        return PolicySyntaxError(message, Span.point(file, line, at, width), expected=expect, hint=hint, source=source)

    if char and not char.isascii() and _is_word_char(char):
        return error(
            f"`{char}` cannot be part of a name (`{word}`)",
            column,
            1,
            f"names use the letters a-z, digits and _: write `{ascii_name(word)}`",
        )
    if char and char in CURLY_QUOTES:
        return error(
            f"`{char}` is a curly quote{_char_name(char)}",
            column,
            1,
            'type a straight double quote `"`; word processors curl quotes as you type',
        )
    if char == "'":
        closing = text.find("'", column)
        inner = text[column : closing] if closing > 0 else "name"
        return error("single quotes do not quote a name", column, 1, f'use double quotes: `"{inner}"`')
    if text[column - 1 : column + 1] == "//":
        return error("`//` does not start a comment", column, 2, "comments start with `#`")
    if word and start < column:  # the lexer took a keyword from the front of a longer word
        # the lexer took `text[start:column]` as a keyword; suggest it, or a longer keyword
        # it begins (`capacities` -> `capacity`), whichever is closer to what was typed
        taken = text[start - 1 : column - 1]
        keyword = suggest(word, [k for k in KEYWORDS if k.startswith(taken)] + [taken]) or taken
        if word not in KEYWORDS and keyword:
            return error(f"`{word}` is not a keyword", start, len(word), f"did you mean `{keyword}`?", None)
    if "STRING" in wanted and re.match(r"timezone\s", code) and column > len("timezone"):
        zone = code[column - 1 :].strip()
        return error(
            "the time zone is not quoted",
            column,
            len(zone),
            f'write `timezone "{zone}"`',
            'a quoted IANA time zone name like "America/New_York"',
        )
    if "CLOCK" in wanted:
        raw = code[column - 1 :].split()[0] if code[column - 1 :].strip() else char
        parts = [to_24_hour(p) for p in code[column - 1 :].replace("to", "-").split("-")]
        keyword = code[: column - 1].split()[-1] if code[: column - 1].split() else ""
        if len(parts) == 2 and all(parts) and keyword == "outside":
            fix = f"times are 24-hour `HH:MM`: write `outside {parts[0]}-{parts[1]}`"
        elif parts and parts[0]:
            fix = f"times are 24-hour `HH:MM`: write `{parts[0]}`"
        else:
            fix = "times are 24-hour `HH:MM`, from 00:00 to 23:59 (24:00 may end a period)"
        return error(f"`{raw}` is not a clock time", column, len(raw), fix, "a 24-hour time like 08:00 or 21:00")
    decimal = re.compile(r"\d+\.\d+")
    for found in decimal.finditer(code):
        if found.start() < column <= found.end():
            number = found[0]
            before = code[: found.start()].split()
            if before[-2:] == ["at", "most"]:
                hint = f"a limit counts contacts: write a whole number, like `{int(float(number))}`"
            else:
                hint = "lengths are whole numbers of a unit: use a smaller unit (`36 hours`, not `1.5 days`)"
            return error(f"`{number}` is not a whole number", found.start() + 1, len(number), hint, "a whole number")
    return None


def _trailing_comma(source: Source, line: int, expected: str | None) -> PolicySyntaxError | None:
    """A statement that ends with a comma: the comma is the mistake, not the next line."""
    code = code_of(source.line(line))
    if not code.endswith(","):
        return None
    return PolicySyntaxError(
        "the line ends with a comma, but nothing follows it",
        Span.point(source.name, line, len(code), 1),
        expected=expected,
        hint="remove the `,` at the end of the line (a comma there continues the list on the next line)",
        source=source,
    )


def _tab_indented_line(source: Source, error_line: int) -> int | None:
    """The first line of the block above ``error_line`` whose indentation has a tab."""
    first = error_line
    while first > 1 and source.line(first - 1)[:1].isspace():
        first -= 1
    for number in range(first, error_line + 1):
        text = source.line(number)
        if "\t" in text[: len(text) - len(text.lstrip())]:
            return number
    return None


def _indent_error(exc: UnexpectedToken, source: Source) -> PolicySyntaxError:
    """Indentation where none belongs, or a customer attribute out of line."""
    token = exc.token
    # the indentation token borrows the position of the newline that ends the line above
    line = token.end_line if token.end_line and token.end_line > (token.line or 0) else (token.line or 0) + 1
    tabbed = _tab_indented_line(source, line)
    if tabbed is not None:
        text = source.line(tabbed)
        return PolicySyntaxError(
            "this line is indented with a tab",
            Span.point(source.name, tabbed, text.index("\t") + 1),
            hint="indent the attributes of a customer block with spaces, all by the same amount",
            source=source,
        )
    span = Span.point(source.name, line, 1, len(source.line(line)) - len(source.line(line).lstrip()) or 1)
    if exc.expected == {"_NL"}:  # the post-lexer: a dedent to a level never used
        message = "this line's indentation does not match the lines above it"
    elif "NAME" in acceptable(exc, set(exc.expected)):
        message = "this line is indented more than the attribute above it"
    else:
        message = "this line is indented, but only the attributes of a `customer` block are"
    return PolicySyntaxError(
        message,
        span,
        hint="indent every attribute of a customer block by the same amount; start other lines at the margin",
        source=source,
    )


def _word_at(line: str, column: int) -> str:
    start = column - 1
    end = start
    while end < len(line) and (line[end].isalnum() or line[end] == "_"):
        end += 1
    return line[start:end]


def _token_error_span(file: str, token: Token, source: Source) -> Span:
    if token.type in ("_NL", "$END", "_DEDENT"):
        line = token.line or 1
        text = source.line(line)
        column = len(text.split("#", 1)[0].rstrip()) + 1
        return Span.point(file, line, max(column, 1))
    return token_span(file, token)


def keywords_of(expected: set[str], terminals: dict[str, Any]) -> list[str]:
    """The keywords (fixed-text terminals) among the expected terminals, for did-you-mean
    hints; shared by the policy and the scenario parsers."""
    found = []
    for name in expected:
        pattern = getattr(terminals.get(name), "pattern", None)
        if pattern is not None and type(pattern).__name__ == "PatternStr":
            found.append(pattern.value)
    return found


def _token_hint(token: Token, expected: set[str], terminals: dict[str, Any]) -> str | None:
    if token.type == "NAME":
        keywords = keywords_of(expected, terminals)
        if "VOCAB_KIND" in expected:
            keywords += ["channels", "teams", "purposes", "outcomes", "events"]
        if str(token) in STATEMENT_KEYWORDS and "_NL" in expected:
            return "each statement goes on its own line"
        hint = did_you_mean(str(token), keywords)
        if hint:
            return hint
    if token.type == "STRING" and "NAME" in expected:
        return "names are written without quotes; quotes are for rule names"
    if token.type == "NAME" and "STRING" in expected:
        return f'rule names are quoted: "{token}"'
    if token.type in ("_NL", "$END") and "RPAR" in expected:
        return "a `(` is not closed"
    if token.type == "_NL" and "COLON" in expected:
        return 'a rule looks like: cap "name": at most 3 marketing per 30 days'
    return None


BOM = "\ufeff"


def without_bom(text: str) -> str:
    """The text without a leading UTF-8 byte-order mark (Windows editors write one)."""
    return text[1:] if text.startswith(BOM) else text


@attrs.frozen(slots=True)
class PartialParse:
    """What a file's statements parse to, and every syntax error among them.

    ``unparsed_words`` are the words of the statements other than rules that failed to
    parse (they may have declared names, attributes or the owner); ``unparsed_rules`` the
    names of the rules that failed (an ``exempt`` may name them). The compiler does not
    report those names as unknown: the syntax error already explains them, once.
    """

    tree: nodes.PolicyFile
    problems: tuple[PolicySyntaxError, ...]
    unparsed_words: frozenset[str] = frozenset()
    unparsed_rules: frozenset[str] = frozenset()


RULE_LINE = re.compile(r"^\S+\s*[\"“”'‘’]([^\"“”'‘’]*)")
WORD = re.compile(r"\w+")


def parse(text: str, file: str = "<policy>") -> nodes.PolicyFile:
    """Parse policy text into a :class:`nodes.PolicyFile`.

    Raises a :class:`PolicySyntaxError`, or an :class:`~policylang.errors.ErrorGroup` of
    every syntax error in the file when there are several.
    """
    partial = parse_partial(text, file)
    raise_all(partial.problems)
    return partial.tree


# Limits of a policy file (issue 9): far past any real policy, and before the parser, the
# AST conversion or ``int`` would fail on their own (RecursionError, 4,300-digit integers)
# or take minutes and gigabytes.
MAX_POLICY_CHARS = 200_000_000
MAX_LINE_CHARS = 10_000
MAX_NUMBER_DIGITS = 18
MAX_CONDITION_TERMS = 100  # `and`, `or`, `not` and `(` in one statement
MAX_STATEMENTS = 2_000_000  # about 5 GB of AST and rules: 1,000,000 rules still compile
_LONG_NUMBER = re.compile(r"\d{" + str(MAX_NUMBER_DIGITS + 1) + ",}")
_TERM = re.compile(r"\b(?:and|or|not)\b|\(")
_ZEROS = str.maketrans("123456789", "000000000")


def _terms(line: str) -> int:
    """About how many `and`, `or`, `not` and `(` a line has (never fewer; str.count is fast)."""
    return line.count("(") + line.count("and") + line.count("or") + line.count("not")


def _exact_terms(lines: list[str], first: int, last: int) -> int:
    return sum(len(_TERM.findall(code_of(line))) for line in lines[first - 1 : last])


def limit_error(text: str, source: Source) -> PolicySyntaxError | None:
    """The first limit the text goes past, as a syntax error with its place; None if none."""
    file = source.name
    if len(text) > MAX_POLICY_CHARS:
        return PolicySyntaxError(f"the policy has {len(text):,} characters, over the limit of {MAX_POLICY_CHARS:,}",
                                 Span.point(file, 1, 1), hint="split it into several policies", source=source)
    lines = text.split("\n")
    if max(map(len, lines)) > MAX_LINE_CHARS:
        number = next(n for n, line in enumerate(lines, start=1) if len(line) > MAX_LINE_CHARS)
        return PolicySyntaxError(f"line {number} has {len(lines[number - 1]):,} characters, over the limit of "
                                 f"{MAX_LINE_CHARS:,}", Span.point(file, number, MAX_LINE_CHARS + 1),
                                 hint="no name, list or condition needs a line that long", source=source)
    if "0" * (MAX_NUMBER_DIGITS + 1) in text.translate(_ZEROS):  # a quick look first: re is slow here
        for number, line in enumerate(lines, start=1):
            if "0" * (MAX_NUMBER_DIGITS + 1) not in line.translate(_ZEROS):
                continue
            found = _LONG_NUMBER.search(code_of(line))
            if found:
                return PolicySyntaxError(f"a number of {len(found.group()):,} digits is over the limit of "
                                         f"{MAX_NUMBER_DIGITS}", Span.point(file, number, found.start() + 1,
                                                                            min(len(found.group()), 80)),
                                         source=source)
    if _terms(text) > MAX_CONDITION_TERMS:
        terms, first = 0, 1
        for number, line in enumerate(lines, start=1):
            if line[:1] not in ("", " ", "\t"):
                terms, first = 0, number  # a statement starts at the margin
            terms += _terms(line)
            if terms > MAX_CONDITION_TERMS:  # count exactly (whole words, no comments) before refusing
                terms = _exact_terms(lines, first, number)
            if terms > MAX_CONDITION_TERMS:
                return PolicySyntaxError(
                    f"the condition of the statement on line {first} has more than {MAX_CONDITION_TERMS} "
                    "`and`, `or`, `not` and parentheses", Span.point(file, number, 1),
                    hint="split it into several rules", source=source)
    return None


def parse_partial(text: str, file: str = "<policy>") -> PartialParse:
    """Parse what parses: every statement that is well formed, and every syntax error.

    The file is parsed one statement at a time (as :func:`policylang.resync.statement_chunks`
    finds them), each straight from its place in the text (a Lark ``TextSlice`` with its
    line counter set to the statement's first line, so lines, columns and offsets are the
    file's). Memory then grows with the AST, not with Lark's tree of the whole file; a
    mistake in one statement is reported once and does not hide the mistakes after it; and
    a mistake on the last line costs one pass, not two.
    """
    text = without_bom(text)
    parser = load_grammar("policy.lark")
    source = Source(file, text)
    over = limit_error(text, source)
    if over is not None:
        return PartialParse(nodes.PolicyFile((), (), file), (over,))
    parsed: list[nodes.Statement] = []
    problems: list[PolicySyntaxError] = []
    words: set[str] = set()
    rules: set[str] = set()
    lines = text.split("\n")
    transformer = _ToAst(file)
    line, offset = 1, 0  # the start of line `line` in the text, walked forward chunk by chunk

    def skip_to(number: int) -> None:
        """Walk to line ``number``; a skipped line the lexer would not skip is parsed alone
        (so a stray character between statements is the error one parse of the file gives)."""
        nonlocal line, offset
        while line < number:
            text_line = lines[line - 1]
            if text_line and not _lexer_blank(text_line, line == len(lines)):
                try:
                    _parse_slice(parser, transformer, text, offset, offset + len(text_line), line, source)
                except PolicySyntaxError as exc:
                    problems.append(exc)
            offset += len(text_line) + 1
            line += 1

    chunks = statement_chunks(text)
    if len(chunks) > MAX_STATEMENTS:
        return PartialParse(nodes.PolicyFile((), (), file), (PolicySyntaxError(
            f"the policy has {len(chunks):,} statements, over the limit of {MAX_STATEMENTS:,}",
            Span.point(file, chunks[MAX_STATEMENTS].first, 1), hint="split it into several policies",
            source=source),))
    for chunk in chunks:
        skip_to(chunk.first)
        end = offset
        for number in range(chunk.first, chunk.last + 1):
            end += len(lines[number - 1]) + 1
        start, line, offset = offset, chunk.last + 1, end
        try:
            parsed.extend(_parse_slice(parser, transformer, text, start, min(end, len(text)), chunk.first, source))
        except PolicySyntaxError as exc:
            problems.append(exc)
            rule = RULE_LINE.match(code_of(lines[chunk.first - 1]))
            if rule:
                rules.add(rule[1])
            else:
                for text_line in lines[chunk.first - 1 : chunk.last]:
                    found = WORD.findall(code_of(text_line))
                    words.update(found)
                    words.update(ascii_name(w) for w in found)  # as the error told the author to write it
    skip_to(len(lines) + 1)
    tree = nodes.PolicyFile(tuple(parsed), tuple(collect_comments(text)), file)
    return PartialParse(tree, tuple(problems), frozenset(words), frozenset(rules))


_LEXER_BLANKS = " \t\f"  # what the grammar ignores between tokens (besides comments and newlines)


def _lexer_blank(line: str, last: bool) -> bool:
    """Would the lexer pass over this line (blank or a comment to the splitter) unasked?"""
    if "#" in line:  # the splitter saw no quote before it: what precedes it must be blank
        return not line.split("#", 1)[0].strip(_LEXER_BLANKS)
    body = line[:-1] if line.endswith("\r") and not last else line  # `\r\n` ends a line
    return not body.strip(_LEXER_BLANKS)


def _parse_text(parser: Any, text: str, source: Source) -> tuple[nodes.Statement, ...]:
    """One Lark parse of the whole ``text`` (tests compare it with the statement-wise parse)."""
    return _parse_slice(parser, _ToAst(source.name), text, 0, len(text), 1, source)


def _parse_slice(parser: Any, transformer: _ToAst, text: str, start: int, end: int, line: int,
                 source: Source) -> tuple[nodes.Statement, ...]:
    """One Lark parse of ``text[start:end]``, a statement starting at line ``line``, column 1."""
    counter = LineCounter("\n")  # type: ignore[no-untyped-call]
    counter.char_pos = counter.line_start_pos = start
    counter.line = line
    frontend = parser.parser
    thread = LexerThread(frontend.lexer, LexerState(TextSlice(text, start, end), counter))
    try:
        tree = frontend.parser.parse(thread, "start")
    except UnexpectedInput as exc:
        raise syntax_error(exc, source, _terminals(parser)) from None
    except PolicySyntaxError as exc:
        exc.source = source
        raise
    try:
        statements = transformer._fast_transform(tree)
    except Exception as exc:  # VisitError wraps our own errors
        inner = getattr(exc, "orig_exc", exc)
        if isinstance(inner, PolicySyntaxError):
            inner.source = source
            raise inner from None
        raise
    return tuple(statements)


def collect_comments(text: str) -> list[nodes.Comment]:
    """Every ``#`` comment outside a quoted string, with its position."""
    found: list[nodes.Comment] = []
    # split at "\n" only, as the lexer counts lines (str.splitlines also splits at \f, \x1c, ...)
    for number, line in enumerate(text.split("\n"), start=1):
        if "#" not in line:
            continue
        in_string = False
        escaped = False
        for index, char in enumerate(line):
            if escaped:
                escaped = False
            elif char == "\\" and in_string:
                escaped = True
            elif char == '"':
                in_string = not in_string
            elif char == "#" and not in_string:
                found.append(nodes.Comment(line[index:].rstrip(), number, index + 1))
                break
    return found


@functools.cache
def _terminals(parser: Any) -> dict[str, Any]:
    return {t.name: t for t in parser.terminals}

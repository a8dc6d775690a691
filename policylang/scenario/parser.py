"""Scenario text to statements; syntax errors in the policy parser's plain words."""

from __future__ import annotations

import datetime as dt
from typing import Any

from lark import Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from policylang.clock import valid_zone, zone_hint
from policylang.errors import (
    PolicylangError,
    PolicySyntaxError,
    ScenarioError,
    did_you_mean,
    suggest,
)
from policylang.grammar import load_grammar
from policylang.nodes import Name, Value
from policylang.parser import describe_expected, keywords_of, syntax_error, token_span, unquote, without_bom
from policylang.records import FIRST_YEAR, LAST_YEAR
from policylang.scenario.nodes import (
    Ask,
    AttrValue,
    Check,
    ContactSpec,
    CustomerDecl,
    Expect,
    Had,
    HadEvent,
    Instant,
    Now,
    RequestSpec,
    ScenarioFile,
    SetLiteral,
    Statement,
    Use,
    Voided,
)
from policylang.source import Source, Span

STATEMENT_KEYWORDS = ("use", "now", "customer", "expect", "ask")
KEYWORDS = STATEMENT_KEYWORDS + (
    "had", "plans", "event", "at", "by", "with", "outcome", "campaign", "priority", "is",
    "allowed", "denied", "next", "never", "displaces", "nothing", "warns", "and", "true", "false",
    "voided", "because", "id",
)

SCENARIO_WORDS = {
    "DATETIME": "a date and time like 2026-11-24T10:00",
    "CLOCK_SECONDS": "a clock time like 10:00:30",
    "ZULU": "`Z`",
    "OFFSET": "an offset like +01:00",
    "BRACKET_ZONE": "a zone like [Europe/London]",
    "STRING": 'a quoted text like "northwind.pol"',
}



@v_args(meta=True)
class _ToScenario(Transformer[Token, Any]):
    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def _s(self, meta: Any) -> Span:
        if getattr(meta, "empty", False) or not hasattr(meta, "line"):
            return Span(self.file, 0, 0, 0, 0)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _name(self, token: Token) -> Name:
        return Name(str(token), token_span(self.file, token))

    def start(self, meta: Any, items: list[Any]) -> list[Any]:
        return items

    def line(self, meta: Any, items: list[Any]) -> Any:
        return items[0]

    def use(self, meta: Any, items: list[Token]) -> Use:
        return Use(unquote(items[0]), token_span(self.file, items[0]))

    def now(self, meta: Any, items: list[Instant]) -> Now:
        return Now(items[0], self._s(meta))

    def customer(self, meta: Any, items: list[Any]) -> CustomerDecl:
        return CustomerDecl(self._name(items[0]), tuple(items[1:]), self._s(meta))

    def attribute(self, meta: Any, items: list[Any]) -> AttrValue:
        value = items[1] if len(items) > 1 else None
        return AttrValue(self._name(items[0]), value, self._s(meta))

    def set_value(self, meta: Any, items: list[Any]) -> tuple[Value, ...]:
        return SetLiteral(item for item in items if item is not None).at(self._s(meta))

    def scalar(self, meta: Any, items: list[Token]) -> Value:
        token = items[0]
        span = token_span(self.file, token)
        text = str(token)
        if token.type == "STRING":
            return Value("text", unquote(token), span)
        if token.type == "NUMBER":
            return Value("number", float(text), span)
        if token.type == "DATE":
            return Value("date", self._date(text, span), span)
        if token.type in ("TRUE", "FALSE"):
            return Value("bool", token.type == "TRUE", span)
        return Value("name", text, span)

    def had(self, meta: Any, items: list[Any]) -> Had:
        return Had(self._name(items[0]), items[1], False, self._s(meta))

    def plans(self, meta: Any, items: list[Any]) -> Had:
        return Had(self._name(items[0]), items[1], True, self._s(meta))

    def had_event(self, meta: Any, items: list[Any]) -> HadEvent:
        campaign = items[3][1] if len(items) > 3 else None
        return HadEvent(self._name(items[0]), self._name(items[1]), items[2], self._s(meta), campaign=campaign)

    def contact(self, meta: Any, items: list[Any]) -> ContactSpec:
        outcome = campaign = ident = None
        for extra in items[3:]:
            if extra[0] == "outcome":
                outcome = extra[1]
            elif extra[0] == "id":
                ident = extra[1]
            else:
                campaign = extra[1]
        return ContactSpec(items[0], self._name(items[1]), items[2], outcome, campaign, self._s(meta), id=ident)

    def contact_id(self, meta: Any, items: list[Token]) -> tuple[str, str]:
        return ("id", unquote(items[0]))

    def voided(self, meta: Any, items: list[Any]) -> Voided:
        strings = [unquote(t) for t in items[1:] if isinstance(t, Token) and t.type == "STRING"]
        at = next(i for i in items if isinstance(i, Instant))
        after = items.index(at)
        reason = unquote(items[after + 1]) if len(items) > after + 1 else None
        ids = tuple(strings[: len(strings) - (1 if reason is not None else 0)])
        return Voided(self._name(items[0]), ids, at, reason, self._s(meta))

    def shape(self, meta: Any, items: list[Token]) -> tuple[Name, ...]:
        return tuple(self._name(t) for t in items)

    def outcome(self, meta: Any, items: list[Token]) -> tuple[str, Name]:
        return ("outcome", self._name(items[0]))

    def campaign(self, meta: Any, items: list[Token]) -> tuple[str, str | tuple[str, ...]]:
        names = tuple(dict.fromkeys(unquote(t) for t in items))
        return ("campaign", names[0] if len(names) == 1 else names)

    def event_campaign(self, meta: Any, items: list[Token]) -> tuple[str, str | tuple[str, ...]]:
        return self.campaign(meta, items)

    def request_at(self, meta: Any, items: list[Instant]) -> tuple[str, Instant]:
        return ("at", items[0])

    def priority(self, meta: Any, items: list[Token]) -> tuple[str, int]:
        return ("priority", int(items[0]))

    def request(self, meta: Any, items: list[Any]) -> RequestSpec:
        extras: dict[str, Any] = {}
        for key, value in items[2:]:
            extras[key] = value
        return RequestSpec(items[0], self._name(items[1]), span=self._s(meta), **extras)

    def expect(self, meta: Any, items: list[Any]) -> Expect:
        return Expect(self._name(items[0]), items[1], tuple(items[2:]), self._s(meta))

    def ask(self, meta: Any, items: list[Any]) -> Ask:
        return Ask(self._name(items[0]), items[1], self._s(meta))

    # -- checks --
    def is_allowed(self, meta: Any, items: list[Any]) -> Check:
        return Check("allowed", span=self._s(meta))

    def is_denied(self, meta: Any, items: list[Any]) -> Check:
        return Check("denied", span=self._s(meta))

    def is_denied_by(self, meta: Any, items: list[Token]) -> Check:
        return Check(
            "denied",
            rules=tuple(unquote(t) for t in items),
            rule_spans=tuple(token_span(self.file, t) for t in items),
            span=self._s(meta),
        )

    def next_allowed_at(self, meta: Any, items: list[Instant]) -> Check:
        return Check("next", at=items[0], span=self._s(meta))

    def next_allowed_never(self, meta: Any, items: list[Any]) -> Check:
        return Check("next", span=self._s(meta))

    def displaces_nothing(self, meta: Any, items: list[Any]) -> Check:
        return Check("displaces", span=self._s(meta))

    def warns(self, meta: Any, items: list[Token]) -> Check:
        return Check(
            "warns",
            rules=tuple(unquote(t) for t in items),
            rule_spans=tuple(token_span(self.file, t) for t in items),
            span=self._s(meta),
        )

    def warns_nothing(self, meta: Any, items: list[Any]) -> Check:
        return Check("warns", rules=(), span=self._s(meta))

    def displaces(self, meta: Any, items: list[ContactSpec]) -> Check:
        return Check("displaces", contacts=tuple(items), span=self._s(meta))

    def displaced(self, meta: Any, items: list[Any]) -> ContactSpec:
        at = items[2] if len(items) > 2 else None
        return ContactSpec(items[0], self._name(items[1]), at, span=self._s(meta))

    # -- instants --
    def instant(self, meta: Any, items: list[Any]) -> Instant:
        span = self._s(meta)
        first = items[0]
        zone = items[-1] if isinstance(items[-1], tuple) else None
        if first.type == "DATETIME":
            day_text, clock_text_ = str(first).split("T")
            day = self._date(day_text, token_span(self.file, first))
            clock: dt.time | None = self._clock(clock_text_, token_span(self.file, first))
        else:
            day = self._date(str(first), token_span(self.file, first))
            clock = None
            if len(items) > 1 and isinstance(items[1], Token):
                clock = self._clock(str(items[1]), token_span(self.file, items[1]))
        return Instant(day, clock, zone[0] if zone else None, span)

    def zone(self, meta: Any, items: list[Token]) -> tuple[str]:
        token = items[0]
        span = token_span(self.file, token)
        text = str(token)
        if token.type == "ZULU":
            return ("Z",)
        if token.type == "OFFSET":
            digits = text[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours > 23 or minutes > 59:
                raise ScenarioError(f"`{text}` is not a valid offset", span, expected="an offset like +01:00")
            return (f"{text[0]}{hours:02d}:{minutes:02d}",)
        name = text[1:-1].strip()
        if not valid_zone(name):
            raise ScenarioError(
                f"`{name}` is not a known time zone",
                span,
                expected="an IANA time zone name like [Europe/London]",
                hint=zone_hint(name),
            )
        return (name,)

    @staticmethod
    def _date(text: str, span: Span) -> dt.date:
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise ScenarioError(f"`{text}` is not a real date", span) from None
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise ScenarioError(
                f"`{text}` is outside the years policylang handles",
                span,
                expected=f"a date from {FIRST_YEAR} to {LAST_YEAR}",
            )
        return day

    @staticmethod
    def _clock(text: str, span: Span) -> dt.time:
        parts = [int(p) for p in text.split(":")] + [0]
        try:
            return dt.time(parts[0], parts[1], parts[2])
        except ValueError:
            raise ScenarioError(
                f"`{text}` is not a clock time", span, expected="a time from 00:00 to 23:59"
            ) from None


def parse_scenario(text: str, file: str = "<scenario>") -> ScenarioFile:
    """Parse scenario text; raise PolicySyntaxError or ScenarioError with a span."""
    text = without_bom(text)
    source = Source(file, text)
    statements = _parse(text, file, "start", source)
    return ScenarioFile(tuple(statements), source)


def parse_statement(text: str, file: str = "<input>") -> Statement:
    """Parse one statement (a REPL line)."""
    return _parse(text, file, "line", Source(file, text))  # type: ignore[no-any-return]


def _parse(text: str, file: str, start: str, source: Source) -> Any:
    parser = load_grammar("scenario.lark", start)
    try:
        tree = parser.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, source, parser) from None
    try:
        return _ToScenario(file).transform(tree)
    except Exception as exc:  # lark wraps our errors in VisitError
        inner = getattr(exc, "orig_exc", exc)
        if isinstance(inner, PolicylangError):
            inner.source = source
            raise inner from None
        raise


def _syntax_error(exc: UnexpectedInput, source: Source, parser: Any) -> PolicySyntaxError:
    terminals = {t.name: t for t in parser.terminals}
    error = syntax_error(exc, source, terminals)
    if isinstance(exc, (UnexpectedToken, UnexpectedEOF)) or (
        isinstance(exc, UnexpectedCharacters) and exc.allowed
    ):
        expected = set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())
        error.expected = _describe(expected, terminals) if expected else error.expected
    if isinstance(exc, UnexpectedToken):
        error.hint = _hint(exc.token, set(exc.expected), terminals, source)
        if exc.token.type == "_INDENT" and exc.expected == {"_NL"}:
            error.hint = "scenario lines need no indentation"
    elif isinstance(exc, UnexpectedCharacters):
        error.hint = _char_hint(source, exc) or error.hint
    return error


def _describe(expected: set[str], terminals: dict[str, Any]) -> str:
    mine = [SCENARIO_WORDS[name] for name in sorted(expected) if name in SCENARIO_WORDS]
    rest = {name for name in expected if name not in SCENARIO_WORDS and name not in ("_INDENT", "_DEDENT")}
    words = ([describe_expected(rest, terminals)] if rest else []) + mine
    if not words:
        return "the end of the line"
    return ", ".join(words[:-1]) + (" or " if len(words) > 1 else "") + words[-1]


def _hint(token: Token, expected: set[str], terminals: dict[str, Any], source: Source) -> str | None:
    line = source.line(token.line or 0)
    words = line.split()
    first = words[0].rstrip(":") if words else ""
    second = words[1] if len(words) > 1 else ""
    if (
        first not in KEYWORDS
        and token.column is not None
        and line[: token.column - 1].strip() == first
    ):
        close = suggest(first, STATEMENT_KEYWORDS)
        if close:
            return f"did you mean `{close}`?"
    keywords = keywords_of(expected, terminals)
    if token.type == "NAME":
        hint = did_you_mean(str(token), keywords)
        if hint:
            return hint
    if token.type == "STRING" and "NAME" in expected:
        return "names are written without quotes; quotes are for rule names, files and texts"
    ledger = second in ("had", "plans")
    if "COLON" in expected and first in ("expect", "ask", "customer"):
        return f"put a colon after the customer's name: {first} ada: ..."
    if "by" in keywords and (first in ("expect", "ask") or ledger):
        return "a request or contact names its team: marketing phone by cards"
    if first == "expect" and "is" in keywords and "next" in keywords:
        return (
            'an expectation ends with `is allowed`, `is denied`, `is denied by "rule"`, '
            "`next allowed at TIME` or `displaces ...`"
        )
    if ledger and "at" in keywords and token.type in ("_NL", "$END"):
        return "a ledger line needs its time: ... at 2026-11-23 15:00"
    if "DATE" in expected or "DATETIME" in expected:
        return "times are written 2026-11-24 10:00, optionally with Z, +01:00 or [Europe/London]"
    return None


def _char_hint(source: Source, exc: UnexpectedCharacters) -> str | None:
    line = source.line(exc.line)
    char = line[exc.column - 1 : exc.column]
    if char.isalpha() and char.isupper():
        return "names are written in lower case letters, digits and _"
    if char == "'":
        return 'quote with double quotes: "like this"'
    return None

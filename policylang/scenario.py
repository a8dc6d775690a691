"""Scenarios: the small language of ``*.polt`` policy tests and what-if sessions.

A scenario names a policy (``use``), sets the clock (``now``), describes customers and
their ledgers, and asks questions (``ask``) or asserts answers (``expect``). Statements
run in order: an ``expect`` sees only what the lines above it built.

:func:`parse_scenario` turns text into a :class:`ScenarioFile` of frozen statements with
spans; :class:`ScenarioRun` executes statements one at a time (the test runner and the
REPL share it); :func:`run_file` runs a whole file and collects its results and errors.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
from lark import Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from policylang import unparse
from policylang.ast import Name, Value, span_field
from policylang.clock import valid_zone, zone_hint
from policylang.compiler import compile_policy
from policylang.decision import Decision
from policylang.errors import (
    ErrorGroup,
    PolicylangError,
    PolicySyntaxError,
    ScenarioError,
    did_you_mean,
    suggest,
)
from policylang.grammar import load_grammar
from policylang.parser import describe_expected, syntax_error, token_span, unquote, without_bom
from policylang.records import FIRST_YEAR, LAST_YEAR, Contact, Customer, Entry, Event, Request, VoidLine
from policylang.rules import ExemptRule, Policy
from policylang.source import NOWHERE, Source, Span

UTC = dt.timezone.utc

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


_span = span_field


# ---- the scenario AST ------------------------------------------------------------------


@attrs.frozen(slots=True)
class Instant:
    """A point in time as written: a date, an optional clock time and an optional zone.

    ``zone`` is None (the customer's local time), ``"Z"``, an offset like ``"+01:00"``,
    or an IANA zone name.
    """

    date: dt.date
    clock: dt.time | None = None
    zone: str | None = None
    span: Span = _span()

    def wall(self) -> dt.datetime:
        """The written date and time, naive."""
        return dt.datetime.combine(self.date, self.clock or dt.time(0, 0))

    def resolve(self, local: dt.tzinfo) -> dt.datetime:
        """The instant, reading a zoneless time in ``local``."""
        return self.wall().replace(tzinfo=self.tzinfo() or local)

    def tzinfo(self) -> dt.tzinfo | None:
        """The written zone, or None when the time is local to the customer."""
        return zone_info(self.zone)

    def text(self) -> str:
        """The instant as a scenario writes it."""
        out = self.date.isoformat()
        if self.clock is not None:
            out += " " + clock_text(self.clock)
        if self.zone == "Z":
            out += "Z"
        elif self.zone and self.zone[0] in "+-":
            out += " " + self.zone
        elif self.zone:
            out += f" [{self.zone}]"
        return out


@attrs.frozen(slots=True)
class AttrValue:
    """One ``attr value`` of a ``customer`` line; ``value`` is a literal, a tuple (a set) or None."""

    name: Name
    value: Any
    span: Span = _span()


class SetLiteral(tuple):  # type: ignore[type-arg]
    """A written set ``(a, b)``: a tuple of literals that knows where it was written."""

    span: Span = NOWHERE

    def at(self, span: Span) -> SetLiteral:
        self.span = span
        return self


@attrs.frozen(slots=True)
class ContactSpec:
    """``marketing phone by cards at T [with outcome O] [campaign "x"]``; ``at`` optional in ``displaces``."""

    names: tuple[Name, ...]
    team: Name
    at: Instant | None = None
    outcome: Name | None = None
    campaign: str | tuple[str, ...] | None = None  # 11.18: `campaign "a", "b"`
    span: Span = _span()
    id: str | None = attrs.field(default=None, kw_only=True)  # 11.18 `id "c-1"`


@attrs.frozen(slots=True)
class RequestSpec:
    """``PURPOSE CHANNEL by TEAM [at T] [campaign "x"] [priority N]``."""

    names: tuple[Name, ...]
    team: Name
    at: Instant | None = None
    campaign: str | tuple[str, ...] | None = None
    priority: int = 0
    span: Span = _span()


@attrs.frozen(slots=True)
class Check:
    """One assertion of an ``expect``.

    kind: ``allowed``, ``denied`` (``rules`` None: any rules, else exactly these),
    ``next`` (``at`` None: never), ``displaces`` (``contacts`` empty: nothing), ``warns``
    (``rules``: exactly these `warn` rules warn; empty: none does, 11.18).
    """

    kind: str
    rules: tuple[str, ...] | None = None
    at: Instant | None = None
    contacts: tuple[ContactSpec, ...] = ()
    rule_spans: tuple[Span, ...] = attrs.field(default=(), eq=False, repr=False)
    span: Span = _span()


@attrs.frozen(slots=True)
class Use:
    path: str
    span: Span = _span()


@attrs.frozen(slots=True)
class Now:
    at: Instant
    span: Span = _span()


@attrs.frozen(slots=True)
class CustomerDecl:
    name: Name
    attributes: tuple[AttrValue, ...]
    span: Span = _span()


@attrs.frozen(slots=True)
class Had:
    """``NAME had ...`` (sent) or ``NAME plans ...`` (planned)."""

    customer: Name
    contact: ContactSpec
    planned: bool = False
    span: Span = _span()


@attrs.frozen(slots=True)
class HadEvent:
    customer: Name
    event: Name
    at: Instant
    span: Span = _span()
    campaign: str | tuple[str, ...] | None = attrs.field(default=None, kw_only=True)  # 11.18


@attrs.frozen(slots=True)
class Expect:
    customer: Name
    request: RequestSpec
    checks: tuple[Check, ...]
    span: Span = _span()


@attrs.frozen(slots=True)
class Ask:
    customer: Name
    request: RequestSpec
    span: Span = _span()


@attrs.frozen(slots=True)
class Voided:
    """``NAME voided "c-1", "c-2" at T [because "why"]`` (11.18): a void line (11.4)."""

    customer: Name
    ids: tuple[str, ...]
    at: Instant
    reason: str | None = None
    span: Span = _span()


Statement = Use | Now | CustomerDecl | Had | HadEvent | Voided | Expect | Ask


@attrs.frozen(slots=True)
class ScenarioFile:
    """A parsed scenario: its statements in order and its source text."""

    statements: tuple[Statement, ...]
    source: Source


# ---- parsing ---------------------------------------------------------------------------


def clock_text(clock: dt.time) -> str:
    return clock.strftime("%H:%M:%S" if clock.second else "%H:%M")


def zone_info(zone: str | None) -> dt.tzinfo | None:
    """The tzinfo for a written zone (validated when parsed)."""
    if zone is None:
        return None
    if zone == "Z":
        return UTC
    if zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        delta = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return dt.timezone(-delta if zone[0] == "-" else delta)
    return zoneinfo.ZoneInfo(zone)


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


def _keywords(expected: set[str], terminals: dict[str, Any]) -> list[str]:
    found = []
    for name in expected:
        pattern = getattr(terminals.get(name), "pattern", None)
        if pattern is not None and type(pattern).__name__ == "PatternStr":
            found.append(pattern.value)
    return found


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
    keywords = _keywords(expected, terminals)
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


# ---- running ---------------------------------------------------------------------------


@attrs.define(slots=True)
class CustomerState:
    """A customer built by the scenario so far: attribute values and ledger."""

    name: str
    values: dict[str, Any]
    ledger: list[Entry] = attrs.field(factory=list)
    span: Span = NOWHERE

    def record(self) -> Customer:
        return Customer(self.name, dict(self.values))


@attrs.frozen(slots=True)
class Answer:
    """The outcome of an ``ask`` or ``expect``: the decision, and for an expect its failures."""

    statement: Ask | Expect
    customer: str
    request: Request
    decision: Decision
    policy: Policy
    zone: dt.tzinfo
    failures: tuple[str, ...] = ()
    owner: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def is_expect(self) -> bool:
        return isinstance(self.statement, Expect)


Loader = Callable[[Path], Policy]


def load_policy_file(path: Path) -> Policy:
    """Read and compile a policy file (errors carry their own spans)."""
    text = path.read_text(encoding="utf-8")
    return compile_policy(text, str(path))


class ScenarioRun:
    """The state a scenario builds: the policy, the clock, the customers and their ledgers.

    :meth:`execute` runs one statement and returns an :class:`Answer` for ``ask`` and
    ``expect``, a short text for the others; problems raise :class:`ScenarioError`.
    """

    def __init__(
        self,
        base: Path,
        *,
        policy: Policy | None = None,
        policy_path: Path | None = None,
        loader: Loader = load_policy_file,
    ) -> None:
        self.base = base
        self.policy = policy
        self.policy_path = policy_path
        self.loader = loader
        self.now: dt.datetime | None = None  # naive = local to each customer
        self.customers: dict[str, CustomerState] = {}
        self.answers: list[Answer] = []

    # -- dispatch --
    def execute(self, statement: Statement) -> Answer | str:
        """Run one statement."""
        if isinstance(statement, Use):
            return self.use(statement)
        if isinstance(statement, Now):
            return self.set_now(statement)
        if isinstance(statement, CustomerDecl):
            return self.declare(statement)
        if isinstance(statement, Had):
            return self.had(statement)
        if isinstance(statement, HadEvent):
            return self.had_event(statement)
        if isinstance(statement, Voided):
            return self.voided(statement)
        if isinstance(statement, (Expect, Ask)):
            answer = self.answer(statement)
            self.answers.append(answer)
            return answer
        raise TypeError(statement)  # pragma: no cover - the union is closed

    def use(self, statement: Use) -> str:
        path = (self.base / statement.path) if not Path(statement.path).is_absolute() else Path(statement.path)
        if not path.is_file():
            raise ScenarioError(
                f"no policy file `{statement.path}`",
                statement.span,
                hint=f"the path is relative to the scenario's folder ({self.base})",
            )
        try:
            self.policy = self.loader(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"cannot read `{statement.path}`: {exc}", statement.span) from None
        self.policy_path = path
        return f"using {path} ({len(self.policy.rules)} rules)"

    def need_policy(self, span: Span) -> Policy:
        if self.policy is None:
            raise ScenarioError(
                "no policy yet", span, hint='start the scenario with a line like `use "northwind.pol"`'
            )
        return self.policy

    def set_now(self, statement: Now) -> str:
        at = statement.at
        zone = at.tzinfo()
        self.now = at.wall().replace(tzinfo=zone) if zone else at.wall()
        return f"now {at.text()}" + ("" if zone else " (local to each customer)")

    def advance(self, delta: dt.timedelta, span: Span = NOWHERE) -> str:
        """Move the clock on (the REPL's ``advance``)."""
        if self.now is None:
            raise ScenarioError("there is no `now` to advance yet", span, hint="set one: now 2026-11-24 10:00")
        self.now = self.now + delta
        return f"now {format_wall(self.now)}"

    # -- customers and ledgers --
    def declare(self, statement: CustomerDecl) -> str:
        policy = self.need_policy(statement.span)
        name = statement.name.value
        state = self.customers.get(name)
        values = dict(state.values) if state else {}
        for attribute in statement.attributes:
            key = attribute.name.value
            value = typed_attribute(policy, attribute)
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
        if state is None:
            self.customers[name] = CustomerState(name, values, span=statement.span)
            return f"customer {name}"
        state.values = values
        return f"customer {name} updated"

    def customer(self, name: Name) -> CustomerState:
        state = self.customers.get(name.value)
        if state is None:
            known = sorted(self.customers)
            raise ScenarioError(
                f"no customer `{name.value}` yet",
                name.span,
                hint=did_you_mean(name.value, known)
                or f"declare one first: customer {name.value}: ..."
                + (f" (customers so far: {', '.join(known)})" if known else ""),
            )
        return state

    def zone_of(self, state: CustomerState) -> dt.tzinfo:
        """The customer's local zone, as the evaluator decides it (its timezone attribute,
        the first of several (11.7), when the policy declares one; else the policy's; else UTC)."""
        if self.policy is None:
            return UTC
        from policylang.evaluator import customer_tz

        return customer_tz(self.policy, state.values)

    def had(self, statement: Had) -> str:
        policy = self.need_policy(statement.span)
        state = self.customer(statement.customer)
        spec = statement.contact
        purpose, channel = shape(policy, spec.names, spec.span)
        team = declared(policy, spec.team, "team")
        outcome = declared(policy, spec.outcome, "outcome") if spec.outcome else None
        assert spec.at is not None
        contact = Contact(
            at=spec.at.resolve(self.zone_of(state)),
            channel=channel,
            purpose=purpose,
            team=team,
            status="planned" if statement.planned else "sent",
            outcome=outcome,
            campaign=spec.campaign,
            id=spec.id,
            customer=state.name,
        )
        if spec.id is not None and any(isinstance(e, Contact) and e.id == spec.id for e in state.ledger):
            raise ScenarioError(f'{state.name} already has a contact with id "{spec.id}"', spec.span,
                                hint="ids are unique per customer")
        state.ledger.append(contact)
        return f"{state.name}: {contact.describe()}"

    def voided(self, statement: Voided) -> str:
        self.need_policy(statement.span)
        state = self.customer(statement.customer)
        known = [e.id for e in state.ledger if isinstance(e, Contact) and e.id is not None]
        for ident in statement.ids:
            if ident not in known:
                raise ScenarioError(f'{state.name} has no contact with id "{ident}"', statement.span,
                                    hint=did_you_mean(ident, known) or 'give the contact an id: `... id "c-1"`')
        line = VoidLine(statement.at.resolve(self.zone_of(state)), statement.ids, statement.reason, None, state.name)
        state.ledger.append(line)  # type: ignore[arg-type]
        return f"{state.name}: void " + ", ".join(statement.ids)

    def had_event(self, statement: HadEvent) -> str:
        policy = self.need_policy(statement.span)
        state = self.customer(statement.customer)
        event = declared(policy, statement.event, "event")
        entry = Event(statement.at.resolve(self.zone_of(state)), event, state.name, statement.campaign)
        state.ledger.append(entry)
        return f"{state.name}: event {event} at {entry.at:%Y-%m-%d %H:%M}Z"

    # -- questions --
    def request(self, spec: RequestSpec, state: CustomerState) -> Request:
        """The request a spec describes for this customer, at ``now`` unless it says when."""
        policy = self.need_policy(spec.span)
        purpose, channel = shape(policy, spec.names, spec.span)
        team = declared(policy, spec.team, "team")
        zone = self.zone_of(state)
        if spec.at is not None:
            at = spec.at.resolve(zone)
        elif self.now is not None:
            at = self.now if self.now.tzinfo else self.now.replace(tzinfo=zone)
        else:
            raise ScenarioError(
                "this request has no time and there is no `now`",
                spec.span,
                hint="add `at 2026-11-24 10:00` or a `now` line above it",
            )
        return Request(team, channel, purpose, at, spec.campaign, spec.priority)

    def answer(self, statement: Ask | Expect) -> Answer:
        policy = self.need_policy(statement.span)
        state = self.customer(statement.customer)
        request = self.request(statement.request, state)
        checks = statement.checks if isinstance(statement, Expect) else ()
        for check in checks:
            self.validate(check, policy, state)
        try:
            customer: Any = state.record()  # decide takes a Customer or a plain mapping
            decision = policy.decide(customer, request, tuple(state.ledger), loads=ScenarioLoads(self))
        except PolicylangError as exc:
            raise ScenarioError(f"cannot decide: {exc.message}", statement.span, hint=exc.hint) from None
        zone = self.zone_of(state)
        failures = tuple(
            problem for check in checks if (problem := self.compare(check, decision, request, zone))
        )
        owner = state.values.get(policy.owner_attribute) if policy.owner_attribute else None
        return Answer(statement, state.name, request, decision, policy, zone, failures, owner)

    def validate(self, check: Check, policy: Policy, state: CustomerState) -> None:
        names = [rule.name for rule in policy.rules]
        for rule, span in zip(check.rules or (), check.rule_spans, strict=False):
            if rule not in names:
                raise ScenarioError(
                    f'the policy has no rule "{rule}"', span, hint=did_you_mean(rule, names)
                )
        for contact in check.contacts:
            shape(policy, contact.names, contact.span)
            declared(policy, contact.team, "team")

    def compare(self, check: Check, decision: Decision, request: Request, zone: dt.tzinfo) -> str | None:
        """None when the decision meets the check, else what went wrong in words."""
        actual = describe_decision(decision, zone)
        if check.kind == "allowed":
            return None if decision.allowed else f"expected allowed, but it is {actual}"
        if check.kind == "denied":
            if decision.allowed:
                wanted = "denied" + (" by " + quoted(check.rules) if check.rules else "")
                return f"expected {wanted}, but it is allowed"
            if check.rules is not None and set(check.rules) != set(decision.denied_by):
                return f"expected denied by {quoted(check.rules)}, but it is {actual}"
            return None
        if check.kind == "warns":
            warned = set(check.rules or ())
            if warned == set(decision.warnings):
                return None
            got_text = quoted(decision.warnings) if decision.warnings else "nothing"
            return f"expected warnings {quoted(sorted(warned)) if warned else 'nothing'}, but it warns {got_text}"
        if check.kind == "next":
            got = request.at if decision.allowed else decision.next_allowed_at
            if check.at is None:
                if got is None:
                    return None
                return f"expected never allowed, but it is allowed at {format_instant(got, zone)}"
            wanted_at = check.at.resolve(zone)
            if got is not None and got == wanted_at:
                return None
            when = format_instant(got, zone) if got else "never (waiting does not help)"
            return f"expected next allowed at {format_instant(wanted_at, zone)}, but next allowed is {when}"
        # displaces
        if not check.contacts:
            if not decision.displaces:
                return None
            return "expected to displace nothing, but it displaces " + displaced_text(decision.displaces, zone)
        if not decision.allowed:
            return f"expected to displace planned contacts, but it is {actual}"
        remaining = list(decision.displaces)
        for spec in check.contacts:
            found = next((c for c in remaining if contact_fits(spec, c, zone)), None)
            if found is None:
                return "expected to displace " + spec_text(spec) + ", but it displaces " + (
                    displaced_text(decision.displaces, zone) or "nothing"
                )
            remaining.remove(found)
        if remaining:
            return "it also displaces " + displaced_text(tuple(remaining), zone)
        return None


class ScenarioLoads:
    """Capacity rules count every customer of the scenario, not just the one asked about."""

    def __init__(self, run: ScenarioRun) -> None:
        self.run = run

    def contacts(self, rule: Any, start: dt.datetime, end: dt.datetime) -> list[Contact]:
        """Every customer's counted contacts matching ``rule.match`` in ``[start, end)``."""
        policy = self.run.policy
        found: list[Contact] = []
        for state in self.run.customers.values():
            owner = None
            if policy is not None and policy.owner_attribute:
                owner = state.values.get(policy.owner_attribute)
            for entry in state.ledger:
                if (
                    isinstance(entry, Contact)
                    and entry.counted
                    and start <= entry.at < end
                    and rule.match.matches(entry.purpose, entry.channel, entry.team, owner)
                ):
                    found.append(entry)  # the ledger's own objects: displacement tracks them by identity
        return found


# ---- values and names -----------------------------------------------------------------


def typed_attribute(policy: Policy, attribute: AttrValue) -> Any:
    """The attribute's value typed per the policy's customer declaration."""
    from policylang.inputs import attribute_value

    key = attribute.name.value
    spec = policy.attributes.get(key)
    if spec is None:
        raise ScenarioError(
            f"the customer has no attribute `{key}` in this policy",
            attribute.name.span,
            hint=did_you_mean(key, policy.attributes)
            or "declared attributes: " + (", ".join(policy.attributes) or "none"),
        )
    value = attribute.value
    if value is None:
        if spec.kind != "flag":
            raise ScenarioError(f"`{key}` needs a value", attribute.name.span, expected=expected_value(spec))
        return True
    try:
        if isinstance(value, tuple) and spec.kind == "zones":
            return attribute_value(policy, spec, [raw(item) for item in value], attribute.span)
        if isinstance(value, tuple):
            if spec.kind != "set":
                raise ScenarioError(
                    f"`{key}` holds one value, not a set",
                    getattr(value, "span", attribute.span),
                    expected=expected_value(spec),
                )
            items: set[Any] = set()
            for item in value:
                items |= attribute_value(policy, spec, [raw(item)], item.span)
            return frozenset(items)
        if spec.kind == "set":
            return attribute_value(policy, spec, [raw(value)], value.span)
        if spec.kind == "flag" and value.kind != "bool":
            raise ScenarioError(f"`{key}` is a flag: write true or false", value.span)
        if spec.kind == "number" and value.kind != "number":
            raise ScenarioError(f"`{key}` is a number", value.span, expected="a number like 42")
        if spec.kind == "date" and value.kind != "date":
            raise ScenarioError(f"`{key}` is a date", value.span, expected="a date like 2026-11-24")
        if spec.kind not in ("flag", "number", "date") and value.kind in ("number", "bool", "date"):
            raise ScenarioError(
                f"`{key}` is {spec.kind if spec.kind != 'enum' else 'one of ' + ', '.join(sorted(spec.choices))}",
                value.span,
                expected=expected_value(spec),
            )
        return attribute_value(policy, spec, raw(value), value.span)
    except ScenarioError:
        raise
    except PolicylangError as exc:
        raise ScenarioError(
            exc.message.replace("field ", "attribute ", 1), exc.span, expected=exc.expected, hint=exc.hint
        ) from None


def raw(value: Value) -> Any:
    """A literal as the value :func:`policylang.inputs.attribute_value` checks (it takes dates as they are)."""
    return value.value


def expected_value(spec: Any) -> str:
    kind = spec.kind
    return {
        "flag": "true or false",
        "number": "a number",
        "text": 'a quoted text like "gold"',
        "zone": 'a quoted time zone like "Europe/London"',
        "date": "a date like 2026-11-24",
        "team": "a team",
        "channel": "a channel",
        "purpose": "a purpose",
        "enum": "one of " + ", ".join(sorted(spec.choices)),
        "set": f"a set of {spec.element} like (a, b)",
    }.get(kind, "a value")


def declared(policy: Policy, name: Name | None, kind: str) -> str:
    """The name when it is a declared ``kind``; ScenarioError with did-you-mean otherwise."""
    assert name is not None
    pool = policy.vocabulary.get(kind + "s", ())
    if name.value in pool:
        return name.value
    other = kind_of(policy, name.value)
    if other:
        raise ScenarioError(f"`{name.value}` is a {other}, but a {kind} is expected here", name.span)
    raise ScenarioError(
        f"`{name.value}` is not a declared {kind}",
        name.span,
        hint=did_you_mean(name.value, pool) or f"declared {kind}s: {', '.join(pool) or 'none'}",
    )


def kind_of(policy: Policy, name: str) -> str | None:
    for vocab, names in policy.vocabulary.items():
        if name in names:
            return vocab[:-1]
    return None


def shape(policy: Policy, names: Sequence[Name], span: Span) -> tuple[str, str]:
    """(purpose, channel) of ``marketing phone`` / ``phone marketing``."""
    found: dict[str, Name] = {}
    for name in names:
        kind = kind_of(policy, name.value)
        if kind not in ("purpose", "channel"):
            if kind:
                raise ScenarioError(
                    f"`{name.value}` is a {kind}, but a purpose or a channel is expected here",
                    name.span,
                    hint="a team goes after `by`" if kind == "team" else None,
                )
            raise ScenarioError(
                f"`{name.value}` is not a declared purpose or channel",
                name.span,
                hint=did_you_mean(name.value, policy.purposes + policy.channels),
            )
        if kind in found:
            raise ScenarioError(f"two {kind}s: `{found[kind].value}` and `{name.value}`", name.span)
        found[kind] = name
    for kind in ("purpose", "channel"):
        if kind not in found:
            pool = policy.purposes if kind == "purpose" else policy.channels
            raise ScenarioError(
                f"no {kind} given",
                names[-1].span if names else span,
                expected=f"a {kind} ({', '.join(pool)})",
                hint="write the purpose and the channel: marketing phone by cards",
            )
    return found["purpose"].value, found["channel"].value


# ---- words -----------------------------------------------------------------------------


def format_wall(moment: dt.datetime) -> str:
    text = moment.strftime("%Y-%m-%d %H:%M")
    if moment.tzinfo is not None:
        text += " " + offset_text(moment)
    return text


def offset_text(moment: dt.datetime) -> str:
    offset = moment.utcoffset() or dt.timedelta(0)
    if offset == dt.timedelta(0) and moment.tzinfo is UTC:
        return "Z"
    sign = "-" if offset < dt.timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def format_instant(moment: dt.datetime, zone: dt.tzinfo) -> str:
    """An instant in the customer's local time, written so a scenario reads it back exactly."""
    local = moment.astimezone(zone)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")
    naive_back = local.replace(tzinfo=None).replace(tzinfo=zone)
    if naive_back.astimezone(UTC) != moment.astimezone(UTC):
        text += " " + offset_text(local)  # a repeated or skipped local time: say which
    return text


def quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def describe_decision(decision: Decision, zone: dt.tzinfo) -> str:
    """``allowed`` / ``denied by "a", "b" (next allowed at ...)``."""
    if decision.allowed:
        text = "allowed"
        if decision.displaces:
            text += ", displacing " + displaced_text(decision.displaces, zone)
        return text
    when = (
        format_instant(decision.next_allowed_at, zone)
        if decision.next_allowed_at
        else "never (waiting does not help)"
    )
    return f"denied by {quoted(decision.denied_by)} (next allowed at {when})"


def contact_text(contact: Contact, zone: dt.tzinfo) -> str:
    return f"{contact.purpose} {contact.channel} by {contact.team} at {format_instant(contact.at, zone)}"


def displaced_text(contacts: Sequence[Contact], zone: dt.tzinfo) -> str:
    return ", ".join(contact_text(c, zone) for c in contacts)


def spec_text(spec: ContactSpec) -> str:
    """The contact as written, normalised (by the one unparser)."""
    return unparse.text(spec)


def contact_fits(spec: ContactSpec, contact: Contact, zone: dt.tzinfo) -> bool:
    names = {n.value for n in spec.names}
    if names != {contact.purpose, contact.channel} or spec.team.value != contact.team:
        return False
    return spec.at is None or spec.at.resolve(zone) == contact.at



def request_text(spec: RequestSpec) -> str:
    """The request as written, normalised (by the one unparser)."""
    return unparse.text(spec)


def expectation_for(answer: Answer) -> str:
    """An ``expect`` line asserting everything an answer said (what ``save`` writes)."""
    statement = answer.statement
    decision = answer.decision
    head = f"expect {answer.customer}: {request_text(statement.request)}"
    if decision.allowed:
        checks = ["is allowed"]
        if decision.displaces:
            checks.append(
                "displaces "
                + ", ".join(
                    f"{c.purpose} {c.channel} by {c.team} at {format_instant(c.at, answer.zone)}"
                    for c in decision.displaces
                )
            )
        else:
            checks.append("displaces nothing")
    else:
        checks = [f"is denied by {quoted(decision.denied_by)}" if decision.denied_by else "is denied"]
        if decision.next_allowed_at is None:
            checks.append("next allowed never")
        else:
            checks.append(f"next allowed at {format_instant(decision.next_allowed_at, answer.zone)}")
    return head + " " + " and ".join(checks)


# ---- whole files -----------------------------------------------------------------------


@attrs.define(slots=True)
class FileReport:
    """What running one ``.polt`` file produced."""

    path: Path
    answers: list[Answer] = attrs.field(factory=list)
    problems: list[PolicylangError] = attrs.field(factory=list)
    source: Source | None = None

    @property
    def expectations(self) -> list[Answer]:
        return [a for a in self.answers if a.is_expect]

    @property
    def failures(self) -> list[Answer]:
        return [a for a in self.expectations if not a.passed]


def run_file(path: Path, loader: Loader = load_policy_file) -> FileReport:
    """Parse and run one scenario file; problems are collected, never raised."""
    report = FileReport(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report.problems.append(ScenarioError(f"{path}: cannot be read ({exc})"))
        return report
    try:
        scenario = parse_scenario(text, str(path))
    except PolicylangError as exc:
        report.problems.extend(exc.errors)
        return report
    report.source = scenario.source
    run = ScenarioRun(path.parent, loader=loader)
    for statement in scenario.statements:
        try:
            result = run.execute(statement)
        except PolicylangError as exc:
            for problem in exc.errors:
                if problem.source is None and problem.span.file == str(path):
                    problem.source = scenario.source
            report.problems.extend(exc.errors)
            if isinstance(statement, Use) or run.policy is None:
                break  # nothing below can run without the policy
            continue
        if isinstance(result, Answer):
            report.answers.append(result)
    return report


def raise_problems(report: FileReport) -> None:
    """Raise the report's problems as one error (for callers that want an exception)."""
    if len(report.problems) == 1:
        raise report.problems[0]
    if report.problems:
        raise ErrorGroup(report.problems)


# ---- coverage --------------------------------------------------------------------------


def decided_rules(answer: Answer) -> set[str]:
    """Rules that took part in an answer: a deny or pass verdict, or an exemption that lifted a rule."""
    found = {t.rule for t in answer.decision.trace if t.verdict in ("deny", "pass")}
    lifted = [t.rule for t in answer.decision.trace if t.verdict == "exempt"]
    if not lifted:
        return found
    policy, request = answer.policy, answer.request
    lifted_rules = [policy.rule(name) for name in lifted if name in {r.name for r in policy.rules}]
    for rule in policy.rules:
        if not isinstance(rule, ExemptRule):
            continue
        if any(rule.lifts(other) for other in lifted_rules) and rule.match.matches(
            request.purpose, request.channel, request.team, answer.owner
        ):
            found.add(rule.name)
    return found

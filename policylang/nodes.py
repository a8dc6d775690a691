"""The policy's abstract syntax tree: frozen, slotted attrs classes with source spans.

Spans are excluded from equality, so two trees parsed from differently laid-out text
compare equal when they say the same thing (the formatter's round-trip test relies on it).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import attrs

from policylang.source import NOWHERE, Span

# The closed sets of words the grammar allows, as types (the parser reads each once).
DurationUnit = Literal["minute", "hour", "day", "week", "month", "year"]
CalendarUnit = Literal["day", "week", "month", "quarter", "year"]
CompareOp = Literal["is", "is not", "==", "!=", "<", "<=", ">", ">="]
TimeOp = Literal["within", "within_days", "ago"]
RequestField = Literal["channel", "team", "purpose"]
ValueKind = Literal["name", "number", "date", "text", "bool"]
VocabularyKind = Literal["channels", "teams", "purposes", "outcomes", "events"]
RuleKind = Literal["cap", "capacity", "quiet", "exclude", "require", "exclusive", "exempt"]


def span_field() -> Span:
    """An attrs field for a node's span: defaults to nowhere, ignored by equality."""
    return attrs.field(default=NOWHERE, eq=False, repr=False)


_span = span_field


@attrs.frozen(slots=True)
class Name:
    """A declared or referenced name (``phone``, ``owner``, ``any``)."""

    value: str
    span: Span = _span()


@attrs.frozen(slots=True)
class Duration:
    """``N minutes|hours|days|weeks``; ``unit`` is the singular form as written."""

    amount: int
    unit: DurationUnit
    span: Span = _span()

    @property
    def seconds(self) -> int:
        """The length in seconds; 0 for months and years, which have no fixed length."""
        return self.amount * {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}.get(self.unit, 0)

    @property
    def months(self) -> int:
        """The length in months (``N years`` is 12N months); 0 for fixed-length units."""
        return self.amount * {"month": 1, "year": 12}.get(self.unit, 0)


@attrs.frozen(slots=True)
class RollingWindow:
    """``per 7 days``: a window of fixed absolute length."""

    length: Duration
    span: Span = _span()


@attrs.frozen(slots=True)
class ConsecutiveDays:
    """``per N consecutive days``: runs of whole local dates."""

    days: int
    span: Span = _span()


@attrs.frozen(slots=True)
class CalendarWindow:
    """``per calendar day|week|month|quarter|year`` in local time."""

    unit: CalendarUnit
    span: Span = _span()


Window = RollingWindow | ConsecutiveDays | CalendarWindow


@attrs.frozen(slots=True)
class Selector:
    """Which contacts a rule is about: names, ``by`` teams and ``except`` names."""

    names: tuple[Name, ...] = ()
    by: tuple[Name, ...] = ()
    excepts: tuple[Name, ...] = ()
    span: Span = _span()


# ---- conditions ------------------------------------------------------------------------


@attrs.frozen(slots=True)
class AttrRef:
    """``customer.ATTR``."""

    attribute: str
    span: Span = _span()


@attrs.frozen(slots=True)
class Value:
    """A literal in a condition; ``kind`` is name, number, date, text or bool."""

    kind: ValueKind
    value: str | float | dt.date | bool
    span: Span = _span()


@attrs.frozen(slots=True)
class FlagTest:
    """``customer.do_not_call``: true when the flag is set."""

    attr: AttrRef
    span: Span = _span()


@attrs.frozen(slots=True)
class Compare:
    """``customer.ATTR OP value`` with OP one of is, is not, ==, !=, <, <=, >, >=."""

    attr: AttrRef
    op: CompareOp
    value: Value
    span: Span = _span()


@attrs.frozen(slots=True)
class InList:
    """``customer.ATTR in (a, b)`` or ``not in``."""

    attr: AttrRef
    values: tuple[Value, ...]
    negated: bool = False
    span: Span = _span()


@attrs.frozen(slots=True)
class Member:
    """``channel in customer.opted_out`` (or team/purpose, or ``not in``)."""

    field: RequestField
    attr: AttrRef
    negated: bool = False
    span: Span = _span()


@attrs.frozen(slots=True)
class Not:
    operand: Condition
    span: Span = _span()


@attrs.frozen(slots=True)
class AllOf:
    operands: tuple[Condition, ...]
    span: Span = _span()


@attrs.frozen(slots=True)
class AnyOf:
    operands: tuple[Condition, ...]
    span: Span = _span()


@attrs.frozen(slots=True)
class TimeTest:
    """``customer.ATTR within D``, ``within N consecutive days`` or ``at least D ago`` (11.2):
    ``op`` is ``within``, ``within_days`` or ``ago``; ``days`` is set for ``within_days``."""

    attr: AttrRef
    op: TimeOp
    duration: Duration | None = None
    days: int | None = None
    span: Span = _span()


Condition = FlagTest | Compare | InList | Member | Not | AllOf | AnyOf | TimeTest


# ---- declarations ---------------------------------------------------------------------


@attrs.frozen(slots=True)
class PolicyName:
    title: str
    span: Span = _span()


@attrs.frozen(slots=True)
class PolicyTimezone:
    zone: str
    span: Span = _span()


@attrs.frozen(slots=True)
class Vocabulary:
    """``channels a, b`` (kind is channels, teams, purposes, outcomes or events)."""

    kind: VocabularyKind
    names: tuple[Name, ...]
    span: Span = _span()


@attrs.frozen(slots=True)
class AttrType:
    """An attribute type: ``kind`` is flag, number, text, zone, date, team, channel,
    purpose, enum (with ``choices``) or set (with ``element``)."""

    kind: str
    choices: tuple[Name, ...] = ()
    element: str | None = None
    span: Span = _span()


@attrs.frozen(slots=True)
class Attribute:
    name: Name
    type: AttrType
    span: Span = _span()


@attrs.frozen(slots=True)
class CustomerBlock:
    attributes: tuple[Attribute, ...]
    span: Span = _span()


@attrs.frozen(slots=True)
class OwnerDecl:
    attr: AttrRef
    span: Span = _span()


@attrs.frozen(slots=True)
class Precedence:
    teams: tuple[Name, ...]
    span: Span = _span()


# ---- reuse (section 11.17) --------------------------------------------------------------


@attrs.frozen(slots=True)
class Citation:
    """One ``cite "text"`` of a rule: the source of law or policy it encodes."""

    text: str
    span: Span = _span()


@attrs.frozen(slots=True)
class Rename:
    """``debt as collections`` (a vocabulary name) or ``customer.a as customer.b``."""

    old: str
    new: str
    attribute: bool = False
    span: Span = _span()


@attrs.frozen(slots=True)
class Include:
    """``include "us/reg_f" [version "2026.1"] [with a as b, ...]`` or ``include "x.pol"``."""

    target: str
    version: str | None = None
    renames: tuple[Rename, ...] = ()
    span: Span = _span()
    target_span: Span = _span()
    version_span: Span = _span()

    @property
    def is_file(self) -> bool:
        """A relative ``.pol`` file, not a shipped pack."""
        return self.target.endswith(".pol")


@attrs.frozen(slots=True)
class PackHeader:
    """``pack "us/reg_f" version "2026.1"``: the first line of a pack file."""

    name: str
    version: str
    span: Span = _span()


# ---- rules ----------------------------------------------------------------------------


@attrs.frozen(slots=True)
class RuleTail:
    """The clauses of section 11.0 after a rule's body: ``in zone``, ``when``, ``from``,
    ``until``; and whether the name carried ``warn``. ``zone`` is an IANA name (str) or a
    customer attribute; dates are checked by the compiler."""

    warn: bool = False
    zone: str | AttrRef | None = None
    when: Condition | None = None
    start: Name | None = None  # the `from` date, as written
    until: Name | None = None  # the first `until` item (a date, or an exemption window's closer)
    span: Span = _span()
    more_until: tuple[Name, ...] = attrs.field(default=(), kw_only=True)  # `until a, b`: b...

    @property
    def until_items(self) -> tuple[Name, ...]:
        return ((self.until,) if self.until is not None else ()) + self.more_until

    @property
    def empty(self) -> bool:
        return self == RuleTail()


NO_TAIL = RuleTail()


@attrs.frozen(slots=True)
class Counting:
    """``counting only outcome A, B`` (``only`` True) or ``not counting outcome A, B``."""

    only: bool
    outcomes: tuple[Name, ...]
    span: Span = _span()


@attrs.frozen(slots=True)
class Cap:
    """``cap`` and ``capacity``: at most N matching contacts per window."""

    kind: Literal["cap", "capacity"]  # "cap" or "capacity"
    name: str
    limit: int
    selector: Selector
    window: Window
    for_each: str | None = None
    span: Span = _span()
    name_span: Span = _span()
    tail: RuleTail = attrs.field(default=NO_TAIL, kw_only=True)
    counting: Counting | None = attrs.field(default=None, kw_only=True)
    cite: tuple[Citation, ...] = attrs.field(default=(), kw_only=True)  # 11.17


@attrs.frozen(slots=True)
class ClockTime:
    """A clock time ``HH:MM`` as read once by the parser (``24:00`` is kept; the compiler
    says where it may stand); ``written`` is the text as written, for printing."""

    hour: int
    minute: int
    written: str = attrs.field(default="", eq=False)
    span: Span = _span()

    @property
    def minutes(self) -> int:
        """Minutes since midnight."""
        return self.hour * 60 + self.minute

    def __str__(self) -> str:
        return self.written or f"{self.hour:02d}:{self.minute:02d}"


@attrs.frozen(slots=True)
class Outside:
    """``outside A-B``: quiet before A and from B."""

    start: ClockTime
    end: ClockTime
    span: Span = _span()


@attrs.frozen(slots=True)
class Between:
    """``between A and B``: quiet from A until B."""

    start: ClockTime
    end: ClockTime
    span: Span = _span()


@attrs.frozen(slots=True)
class OnDays:
    """``on DAY, ...`` and, with ``clock``, ``on DAY, ... outside A-B | between A and B``
    (11.9). A day is a weekday, ``weekend``, an ISO date, ``holidays`` (the customer's
    calendar) or ``holidays "CODE"`` (a fixed one), kept as the Name's text."""

    days: tuple[Name, ...]  # weekday names, ``weekend``, ISO dates or holidays (as Name text)
    span: Span = _span()
    clock: Outside | Between | None = attrs.field(default=None, kw_only=True)


@attrs.frozen(slots=True)
class WithinAfter:
    """``within D after TRIGGER [with outcome O] [for each G]``; ``consecutive`` counts local
    dates. With ``for each``, only triggers of the request's own team/channel/purpose/campaign
    count (a conversation about one debt quiets calls about that debt)."""

    duration: Duration | None
    days: int | None
    trigger: Selector
    outcome: Name | None = None
    for_each: str | None = None
    span: Span = _span()
    more_outcomes: tuple[Name, ...] = attrs.field(default=(), kw_only=True)  # `with outcome a, b`: b...
    count: int | None = attrs.field(default=None, kw_only=True)  # 11.12 `after N TRIGGER in WINDOW`
    count_window: Window | None = attrs.field(default=None, kw_only=True)

    @property
    def consecutive(self) -> bool:
        return self.days is not None


QuietPeriod = Outside | Between | OnDays | WithinAfter


@attrs.frozen(slots=True)
class Quiet:
    kind: Literal["quiet"]
    name: str
    selector: Selector
    period: QuietPeriod
    span: Span = _span()
    name_span: Span = _span()
    more_periods: tuple[QuietPeriod, ...] = attrs.field(default=(), kw_only=True)  # `or PART` (11.9)
    tail: RuleTail = attrs.field(default=NO_TAIL, kw_only=True)
    cite: tuple[Citation, ...] = attrs.field(default=(), kw_only=True)  # 11.17


@attrs.frozen(slots=True)
class Exclude:
    kind: Literal["exclude"]
    name: str
    selector: Selector
    condition: Condition
    span: Span = _span()
    name_span: Span = _span()
    tail: RuleTail = attrs.field(default=NO_TAIL, kw_only=True)
    cite: tuple[Citation, ...] = attrs.field(default=(), kw_only=True)  # 11.17


@attrs.frozen(slots=True)
class Require:
    kind: Literal["require"]
    name: str
    selector: Selector
    prerequisite: Selector
    outcome: Name | None
    at_least: Duration | None
    within: Duration | None
    span: Span = _span()
    name_span: Span = _span()
    more_outcomes: tuple[Name, ...] = attrs.field(default=(), kw_only=True)  # `with outcome a, b`: b...
    tail: RuleTail = attrs.field(default=NO_TAIL, kw_only=True)
    cite: tuple[Citation, ...] = attrs.field(default=(), kw_only=True)  # 11.17


@attrs.frozen(slots=True)
class Exclusive:
    kind: Literal["exclusive"]
    name: str
    selector: Selector
    distance: Duration
    span: Span = _span()
    name_span: Span = _span()
    tail: RuleTail = attrs.field(default=NO_TAIL, kw_only=True)
    cite: tuple[Citation, ...] = attrs.field(default=(), kw_only=True)  # 11.17


@attrs.frozen(slots=True)
class ExemptTarget:
    """A rule kind (``cap``) or a quoted rule name; ``is_kind`` says which."""

    text: str
    is_kind: bool
    span: Span = _span()


@attrs.frozen(slots=True)
class ExemptWindow:
    """``within D after OPENER`` / ``within N consecutive days after OPENER`` / ``after
    OPENER`` of an exemption window (11.5); the closers are the rule's ``until`` items."""

    duration: Duration | None
    days: int | None
    opener: Selector
    outcomes: tuple[Name, ...] = ()
    span: Span = _span()


@attrs.frozen(slots=True)
class Exempt:
    kind: Literal["exempt"]
    name: str
    selector: Selector
    targets: tuple[ExemptTarget, ...]
    span: Span = _span()
    name_span: Span = _span()
    window: ExemptWindow | None = attrs.field(default=None, kw_only=True)
    tail: RuleTail = attrs.field(default=NO_TAIL, kw_only=True)
    cite: tuple[Citation, ...] = attrs.field(default=(), kw_only=True)  # 11.17


@attrs.frozen(slots=True)
class Holidays:
    """``holidays "CODE"`` (the policy's calendar) or ``holidays from customer.ATTR`` (11.10)."""

    code: str | None = None
    attr: AttrRef | None = None
    span: Span = _span()


@attrs.frozen(slots=True)
class WeekStarts:
    """``week starts sunday`` (11.13)."""

    day: Name
    span: Span = _span()


@attrs.frozen(slots=True)
class Hold:
    """``hold SELECTOR up to DURATION`` (11.16)."""

    selector: Selector
    duration: Duration
    span: Span = _span()


Rule = Cap | Quiet | Exclude | Require | Exclusive | Exempt
Statement = (PolicyName | PolicyTimezone | Vocabulary | CustomerBlock | OwnerDecl | Precedence | Rule
             | Holidays | WeekStarts | Hold | Include | PackHeader)
RULE_TYPES = (Cap, Quiet, Exclude, Require, Exclusive, Exempt)


@attrs.frozen(slots=True)
class Comment:
    """A ``# comment``, kept for the formatter."""

    text: str
    line: int
    column: int


@attrs.frozen(slots=True)
class PolicyFile:
    """A whole ``.pol`` file: its statements in source order, and its comments."""

    statements: tuple[Statement, ...]
    comments: tuple[Comment, ...] = attrs.field(default=(), eq=False, repr=False)
    file: str = attrs.field(default="<policy>", eq=False, repr=False)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(s for s in self.statements if isinstance(s, RULE_TYPES))

"""The rule graph: what the compiler produces and the evaluator runs.

A compiled policy holds its vocabulary, customer attribute types, owner and precedence,
the rules in policy order with compiled selectors, the exemption edges, and an index
from (purpose, channel, team, is-owner) to the rules a request of that shape is subject to.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping

from policylang.conditions import NEVER_HOLDS, Condition, TimeSpec
from policylang.slotted import define, field, frozen
from policylang.source import Span

TYPE_CHECKING = False
if TYPE_CHECKING:  # the syntax tree's classes are not needed to decide (a cold start skips them)
    from typing import Any

    from policylang import nodes
    from policylang.decision import Decision
    from policylang.history import History
    from policylang.records import Customer, Entry, Request
else:
    from policylang.annotations import Any

RULE_KINDS = ("cap", "capacity", "quiet", "exclude", "require", "exclusive", "exempt")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@frozen
class Match:
    """A compiled selector. ``None`` for a kind means any name of that kind."""

    purposes: frozenset[str] | None = None
    channels: frozenset[str] | None = None
    teams: frozenset[str] | None = None
    by_owner: bool = False
    except_purposes: frozenset[str] = frozenset()
    except_channels: frozenset[str] = frozenset()
    except_teams: frozenset[str] = frozenset()
    except_owner: bool = False
    text: str = ""

    def matches(self, purpose: str, channel: str, team: str, owner: str | None) -> bool:
        """Does a contact of this shape, for a customer owned by ``owner``, match?"""
        if self.purposes is not None and purpose not in self.purposes:
            return False
        if self.channels is not None and channel not in self.channels:
            return False
        if self.teams is not None or self.by_owner:
            in_teams = self.teams is not None and team in self.teams
            if not (in_teams or (self.by_owner and owner is not None and team == owner)):
                return False
        if purpose in self.except_purposes or channel in self.except_channels:
            return False
        return not (team in self.except_teams or self.except_owner and owner is not None and team == owner)

    @property
    def uses_owner(self) -> bool:
        return self.by_owner or self.except_owner


@frozen
class Rolling:
    """A rolling window of ``seconds``, or of ``months`` (added to each window's start, 11.2)."""

    seconds: int
    text: str
    months: int = 0


@frozen
class Consecutive:
    """Runs of ``days`` whole local dates."""

    days: int
    text: str


@frozen
class Calendar:
    """The local calendar day, week (from Monday), month, quarter or year."""

    unit: nodes.CalendarUnit
    text: str


WindowSpec = Rolling | Consecutive | Calendar


@frozen
class ClockRange:
    """Quiet by local clock: ``quiet_inside`` False for ``outside A-B``, True for ``between``.

    Minutes since midnight; ``end`` may be 1440. A range with start > end wraps midnight.
    """

    start: int
    end: int
    quiet_inside: bool

    def inside(self, minute: float) -> bool:
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def quiet(self, minute: float) -> bool:
        return self.inside(minute) == self.quiet_inside


@frozen
class DaySet:
    """Quiet on whole local days: weekdays (0 = Monday), ISO dates and holiday calendars
    (11.10: a code, or None for the customer's own calendar; the evaluator looks them up)."""

    weekdays: frozenset[int]
    dates: frozenset[dt.date]
    holidays: tuple[str | None, ...] = ()

    def quiet(self, day: dt.date) -> bool:
        """Quiet by weekday or date (holidays are the evaluator's to add)."""
        return day.weekday() in self.weekdays or day in self.dates


@frozen
class DayClock:
    """``on DAYS outside A-B`` / ``on DAYS between A and B`` (11.9): the clock range on
    those local dates only; a ``between`` that wraps midnight belongs to the day it starts."""

    days: DaySet
    clock: ClockRange


@frozen
class AfterTrigger:
    """Quiet for a while after an event or a matching contact (optionally with an outcome)."""

    seconds: int | None  # rolling duration, or None for consecutive days
    days: int | None
    event: str | None
    trigger: Match | None
    outcome: str | None
    text: str
    group: str | None = None  # ``for each``: only triggers of the request's own group
    outcomes: frozenset[str] = frozenset()  # ``with outcome a, b``: every name (11.3)
    months: int = 0  # 11.2: `within N months after`: the quiet stretch ends N months after
    count: int = 1  # 11.12: an entry triggers when its window holds this many, itself included
    count_window: Rolling | Consecutive | Calendar | None = None


QuietSpec = ClockRange | DaySet | DayClock | AfterTrigger

@frozen
class Scope:
    """When a rule is in force for a request (11.1, 11.11): its ``when`` condition and its
    effective period ``[start, until)`` in epoch microseconds (None: open)."""

    condition: Condition | None = None  # interpreted by the evaluator (evaluator.holds)
    condition_text: str = ""
    attributes: tuple[str, ...] = ()
    time_tests: tuple[TimeSpec, ...] = ()
    start: int | None = None
    until: int | None = None
    zone_name: str = "UTC"  # where the effective dates are read
    fixed_zone: str | None = None  # 11.8 `in zone "NAME"`: the rule reads local time there
    zone_attr: str | None = None  # 11.8 `in zone customer.ATTR`


@frozen
class Rule:
    """Common part of every compiled rule."""

    index: int
    kind: nodes.RuleKind
    name: str
    match: Match
    span: Span
    # the rule as written; None in a policy read back from the compiled-policy cache
    # (policylang.compiled), which keeps only what deciding reads, so that a cold
    # `policylang decide` imports none of the syntax tree's classes
    source: nodes.Rule | None = field(eq=False, repr=False)
    warn: bool = field(default=False, kw_only=True)  # 11.14: a `warn` rule never denies
    scope: Scope | None = field(default=None, kw_only=True)  # 11.1 and 11.11
    # the rule's ``cite "..."`` texts (11.17), in the order written (taken from the source)
    cite: tuple[str, ...] = field(
        factory=lambda rule: tuple(c.text for c in rule.source.cite) if rule.source else (), takes_self=True,
        kw_only=True, eq=False, repr=False)

    @property
    def syntax(self) -> nodes.Rule:
        """The rule as written. A policy from :func:`policylang.compile` always has it; one
        read back from the command line's compiled-policy cache does not (ValueError)."""
        if self.source is None:
            raise ValueError(f"rule {self.name!r}: its syntax was not kept (a policy from the compiled cache)")
        return self.source


@frozen
class CapRule(Rule):
    limit: int = 0
    window: WindowSpec = Rolling(0, "")
    group: str | None = None
    not_counted: frozenset[str] = frozenset()  # 11.3: outcomes of sent contacts left out

    def leaves_out(self, status: str, outcome: str | None) -> bool:
        """Is a contact with this status and outcome left out of the rule's count (11.3: a
        sent contact whose outcome is ``not counting``)? Every provider of capacity loads
        asks this, so that they count what the evaluator's own window counts."""
        return bool(self.not_counted) and status == "sent" and outcome in self.not_counted


@frozen
class QuietRule(Rule):
    period: QuietSpec = DaySet(frozenset(), frozenset())
    parts: tuple[QuietSpec, ...] = ()  # 11.9: every part when there are several (`or`)


@frozen
class ExcludeRule(Rule):
    condition: Condition = NEVER_HOLDS  # interpreted by the evaluator (evaluator.holds)
    attributes: tuple[str, ...] = ()  # customer attributes, and ``request.FIELD`` the condition reads
    condition_text: str = ""
    time_tests: tuple[TimeSpec, ...] = ()


@frozen
class RequireRule(Rule):
    prerequisite: Match = Match()
    outcome: str | None = None
    at_least: int = 0
    within: int | None = None
    outcomes: frozenset[str] = frozenset()  # ``with outcome a, b``: every name (11.3)
    # 11.2: `at least N months` / `within N months` (then at_least / within are 0): months are
    # added to the prerequisite's instant in the customer's zone
    at_least_months: int = 0
    within_months: int = 0


@frozen
class ExclusiveRule(Rule):
    distance: int = 0
    months: int = 0  # 11.2: a distance of N months, added to the earlier of the two instants


@frozen
class WindowSpec11:
    """An exemption window (11.5): opened by ``event`` or a sent contact matching
    ``opener`` (with one of ``outcomes``, when named); open for ``seconds``, or until the
    start of the local date ``days`` after, or until the first closer: an event of
    ``closer_events``, a sent contact matching the exemption's selector with an outcome of
    ``closer_outcomes``, or the start of a date of ``closer_dates`` (epoch µs)."""

    seconds: int | None
    days: int | None
    event: str | None
    opener: Match | None
    outcomes: frozenset[str]
    closer_events: frozenset[str]
    closer_outcomes: frozenset[str]
    closer_dates: tuple[int, ...]
    text: str
    months: int = 0  # 11.2: `within N months after`: the window ends at the opener + N months


@frozen
class ExemptRule(Rule):
    kinds: frozenset[str] = frozenset()
    rule_names: frozenset[str] = frozenset()
    window: WindowSpec11 | None = None

    def lifts(self, rule: Rule) -> bool:
        return rule.kind in self.kinds or rule.name in self.rule_names


AnyRule = CapRule | QuietRule | ExcludeRule | RequireRule | ExclusiveRule | ExemptRule


@frozen
class AttrSpec:
    """A customer attribute's compiled type."""

    name: str
    kind: str  # flag number text zone zones date instant region team channel purpose enum set
    choices: frozenset[str] = frozenset()
    element: str | None = None


@define(eq=False)
class Policy:
    """A compiled policy: the rule graph. Build one with :func:`policylang.compile`."""

    title: str
    timezone: str | None
    vocabulary: dict[str, tuple[str, ...]]
    attributes: dict[str, AttrSpec]
    owner_attribute: str | None
    precedence: tuple[str, ...]
    rules: tuple[AnyRule, ...]
    exempted_by: dict[int, tuple[int, ...]]
    file: str = "<policy>"
    syntax: nodes.PolicyFile | None = field(default=None, repr=False)
    # 11.17: the packs read (name -> version) and the pack each included rule came from
    sources: dict[str, str] = field(factory=dict)
    rule_packs: dict[str, tuple[str, str]] = field(factory=dict, repr=False)
    # 11.17: every file an include line read (path -> SHA-256 of its text), so a service can
    # version the whole text that decides and notice when an included file changes
    included_files: dict[str, str] = field(factory=dict, repr=False)
    _index: dict[tuple[str, str, str, bool], tuple[int, ...]] = field(factory=dict, repr=False, alias="index")
    holiday_code: str | None = None  # 11.10 `holidays "CODE"`
    holiday_attribute: str | None = None  # 11.10 `holidays from customer.ATTR`
    week_start: int = 0  # 11.13 `week starts DAY` (0 = Monday)
    holds: tuple[tuple[Match, int, int], ...] = ()  # 11.16 `hold SELECTOR up to D` (seconds, or months)
    has_windows: bool = field(default=False, init=False)  # set from the rules

    def __attrs_post_init__(self) -> None:
        # 11.5: whether counting must look for exemption windows (asked for every count)
        self.has_windows = any(isinstance(r, ExemptRule) and r.window is not None for r in self.rules)

    @property
    def uses_holidays(self) -> bool:
        return self.holiday_code is not None or self.holiday_attribute is not None
    # ---- vocabulary -------------------------------------------------------------
    @property
    def channels(self) -> tuple[str, ...]:
        return self.vocabulary.get("channels", ())

    @property
    def teams(self) -> tuple[str, ...]:
        return self.vocabulary.get("teams", ())

    @property
    def purposes(self) -> tuple[str, ...]:
        return self.vocabulary.get("purposes", ())

    @property
    def outcomes(self) -> tuple[str, ...]:
        return self.vocabulary.get("outcomes", ())

    @property
    def events(self) -> tuple[str, ...]:
        return self.vocabulary.get("events", ())

    def rule(self, name: str) -> AnyRule:
        """The rule called ``name``; KeyError when there is none."""
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    # ---- the index ----------------------------------------------------------------
    def subject_rules(self, purpose: str, channel: str, team: str, is_owner: bool) -> tuple[int, ...]:
        """Indexes of the rules whose selector matches a request of this shape."""
        key = (purpose, channel, team, is_owner)
        found = self._index.get(key)
        if found is None:
            owner = team if is_owner else None
            found = tuple(
                r.index for r in self.rules if r.match.matches(purpose, channel, team, owner)
            )
            self._index[key] = found
        return found

    # ---- precedence -------------------------------------------------------------
    def rank(self, team: str, owner: str | None) -> int:
        """Position of ``team`` in the precedence for a customer owned by ``owner``.

        Lower is stronger; teams not listed share the weakest rank.
        """
        return _rank_table(self.precedence, owner).get(team, len(self.precedence))

    def ranks(self, owner: str | None) -> tuple[dict[str, int], int]:
        """The ranks of the listed teams for a customer owned by ``owner``, and the weakest
        rank (that of every team not listed): :meth:`rank` for many teams at once."""
        return _rank_table(self.precedence, owner), len(self.precedence)

    # ---- deciding ---------------------------------------------------------------
    def decide(
        self,
        customer: Customer | Mapping[str, Any],
        request: Request | Mapping[str, Any],
        ledger: History | Iterable[Entry | Mapping[str, Any]] = (),
        *,
        explain: bool = True,
        loads: Any = None,
        stats: Any = None,
        search: bool = True,
    ) -> Decision:
        """Decide ``request`` for ``customer`` against its ``ledger`` (see section 7).

        The request and the ledger entries may be records or plain mappings of their
        section 10 JSON fields; mappings are validated (an :class:`InputError` otherwise).
        ``stats`` (a :class:`policylang.evaluator.Stats`) counts the evaluator's work;
        ``search=False`` leaves a denial's ``next_allowed_at`` empty.
        """
        decide = _EVALUATOR[0] if _EVALUATOR else _evaluator()
        return decide(self, customer, request, ledger, explain=explain, loads=loads, stats=stats, search=search)

    def decide_json(self, document: bytes | str, *, file: str = "<document>", explain: bool = True,
                    loads: Any = None) -> Decision:
        """Decide the section 10 document ``{"customer": ..., "request": ..., "ledger": [...]}``
        given as JSON text, as a service receives it; bad input raises :class:`InputError`
        with the line and column in the document."""
        from policylang.ingest import decide_json

        return decide_json(self, document, file=file, explain=explain, loads=loads)


_EVALUATOR: list[Callable[..., Decision]] = []  # evaluator.decide, imported on the first decision


def _evaluator() -> Callable[..., Decision]:
    from policylang.evaluator import decide

    _EVALUATOR.append(decide)
    return decide


@functools.lru_cache(maxsize=4096)
def _rank_table(precedence: tuple[str, ...], owner: str | None) -> dict[str, int]:
    table: dict[str, int] = {}
    for position, name in enumerate(precedence):
        team = owner if name == "owner" else name
        if team is None:
            continue
        if name != "owner" and name == owner and "owner" in precedence:
            continue  # the owner team takes the owner's place instead of its own
        table.setdefault(team, position)
    return table

"""Decisions: may this team contact this customer on this channel for this purpose now?

The evaluator runs the rule graph against one customer's ledger. For each rule that the
request is subject to (and that no ``exempt`` rule lifts) it asks one question, answered
with binary searches over the :class:`~policylang.history.History` indexes:

* cap / capacity: does some window containing the request already hold the limit?
* quiet: is the request's local time inside a quiet period?
* exclude: does the condition hold for this customer and request?
* require: is there a sent prerequisite in ``[t - within, t - at least]``?
* exclusive: is another team's matching contact closer than the distance?

Precedence (section 6): planned contacts of strictly lower-ranked teams do not count
against the request; when a rule would deny only because of them, the decision
*displaces* them. ``next_allowed_at`` jumps from rule boundary to rule boundary (a contact
leaving its window, a quiet period ending, a period rolling over), never minute by minute.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import compress, count, repeat
from operator import attrgetter, ge, le, lt, ne, sub

from policylang import clock, unparse
from policylang.clock import DAY, format_local, format_span
from policylang.conditions import (
    Comparison,
    Condition,
    Conjunction,
    Disjunction,
    FlagIs,
    Membership,
    Negation,
    OneOf,
    TimeSpec,
    assert_never,
)
from policylang.decision import Decision, TraceEntry, decided
from policylang.history import History, LazyContacts, between, cut
from policylang.records import COUNTED_STATUSES, Contact, Customer, Entry, Request, in_campaign
from policylang.rules import (
    AfterTrigger,
    AnyRule,
    Calendar,
    CapRule,
    ClockRange,
    Consecutive,
    DayClock,
    DaySet,
    ExcludeRule,
    ExclusiveRule,
    ExemptRule,
    Policy,
    QuietRule,
    QuietSpec,
    RequireRule,
    Rolling,
    Scope,
)
from policylang.slotted import define, evolve, field, frozen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol
else:
    from policylang.annotations import Any, Protocol

HORIZON = 400 * DAY
MIDNIGHT = dt.time()
NEVER = None


@define
class Stats:
    """Work done by the evaluator, counted so tests can hold a decision to a step budget.

    ``checks`` rule checks, ``bounds`` next-pass bounds, ``jumps`` iterations of the
    ``next_allowed_at`` search and ``scanned`` contacts (or dates) visited one by one by a
    scan. Pass one to :func:`decide` (``stats=``); the counts add up over decisions.
    """

    checks: int = 0
    bounds: int = 0
    jumps: int = 0
    scanned: int = 0

    @property
    def steps(self) -> int:
        """All the work in one number: what a step budget bounds."""
        return self.checks + self.bounds + self.jumps + self.scanned


UNCOUNTED = Stats()  # where a decision nobody counts adds its counts (never read): no Stats made per decision


class Loads(Protocol):
    """Where ``capacity`` rules read every customer's contacts (the shared ledger).

    A loads object may also offer ``window(rule, lo_us, hi_us)``: the counted contacts
    matching the rule as sorted epoch-microsecond ``times`` and ``contacts`` plus the index
    range ``[i, j)`` of those in ``[lo_us, hi_us)`` (the batch engine keeps them sorted, so
    a count costs two binary searches however many customers it spans). They are taken as
    they are: a window must already leave out the sent contacts whose outcome the rule does
    not count (11.3), as ``contacts`` does not need to.
    """

    def contacts(self, rule: CapRule, start: dt.datetime, end: dt.datetime) -> Iterable[Contact]:
        """Counted contacts of all customers matching ``rule.match`` in ``[start, end)``."""
        ...


@define(eq=False)
class Finding:
    """One rule's answer at one instant: deny or not, the contacts it holds against the
    request (for displacement), and the facts for the trace. Never changed once made (not
    frozen only because a frozen class sets each field through ``object.__setattr__``,
    three times the cost, and a finding is made at almost every rule check)."""

    deny: bool
    held: Sequence[Contact] = ()
    reason: str = ""
    skipped: bool = False  # out of the rule's scope (11.1, 11.11): the verdict is skip


PASS = Finding(False)
DENY = Finding(True)
NOTHING: frozenset[int] = frozenset()


class Context:
    """Everything a rule check needs about one request.

    A plain slotted class, not attrs: one is made per decision, and attrs' generated
    ``__init__`` (a Stats and two dicts from factories) costs a visible part of a short one.
    """

    __slots__ = ("policy", "values", "tz", "zone_name", "owner", "request", "history", "explain", "loads",
                 "skip", "stats", "prefetch", "_windows", "zones", "campaigns", "judged", "_memo")

    def __init__(self, policy: Policy, values: Mapping[str, Any], tz: dt.tzinfo, zone_name: str,
                 owner: str | None, request: Request, history: History, explain: bool, loads: Loads | None,
                 stats: Stats | None = None) -> None:
        self.policy = policy
        self.values = values
        self.tz = tz
        self.zone_name = zone_name
        self.owner = owner
        self.request = request
        self.history = history
        self.explain = explain
        self.loads = loads
        self.skip: frozenset[int] = NOTHING  # ids of planned contacts that precedence displaces
        self.stats = stats if stats is not None else UNCOUNTED
        self.prefetch = 0  # while searching: how far past a range capacity loads are read at once
        self._windows: dict[tuple[int, dt.tzinfo], list[Window]] | None = None  # exemption windows by rule and zone
        self.zones: tuple[tuple[dt.tzinfo, str], ...] = ()  # 11.7: every possible zone, when several
        self.campaigns = False  # 11.3: the request names several campaigns
        self.judged: int | None = None  # the instant being checked (the search moves it past the request's)
        # Per-rule indexes built at most once per decision (see :func:`sequence`, :func:`dense`).
        self._memo: dict[Any, Any] = {}

    def local(self, us: int, tz: dt.tzinfo | None = None) -> dt.datetime:
        """Local time of an instant, memoised (:data:`LOCAL`): several rules ask about the same
        instant, and the search's jumps land on instants many customers share (a local 08:00,
        midnight, the first of a quarter)."""
        key = (us, tz or self.tz)
        found = LOCAL.get(key)
        if found is None:
            if len(LOCAL) >= MEMO_SIZE:
                LOCAL.clear()
            found = LOCAL[key] = clock.local(us, key[1])
        return found

    def local_date(self, us: int, tz: dt.tzinfo | None = None) -> dt.date:
        return self.local(us, tz).date()

    def offset(self, us: int) -> int:
        """The UTC offset of the context's zone at an instant, in microseconds (memoised as :meth:`local`)."""
        key = (us, self.tz)
        found = OFFSETS.get(key)
        if found is None:
            if len(OFFSETS) >= MEMO_SIZE:
                OFFSETS.clear()
            off = self.local(us).utcoffset()
            found = OFFSETS[key] = 0 if off is None else off // clock.ONE_US
        return found


# Local times and offsets of (instant, zone) pairs, for every decision of the process: pure
# functions of their keys, so shared; emptied when full (a few MB at most).
LOCAL: dict[tuple[int, dt.tzinfo], dt.datetime] = {}
OFFSETS: dict[tuple[int, dt.tzinfo], int] = {}
MEMO_SIZE = 1 << 14


# ---- entry point -------------------------------------------------------------------------


def decide(
    policy: Policy,
    customer: Customer | Mapping[str, Any],
    request: Request | Mapping[str, Any],
    ledger: History | Iterable[Entry | Mapping[str, Any]] = (),
    *,
    explain: bool = True,
    loads: Loads | None = None,
    stats: Stats | None = None,
    search: bool = True,
) -> Decision:
    """Decide ``request`` for ``customer`` against its ``ledger``; see :class:`Decision`.

    ``search=False`` leaves ``next_allowed_at`` empty on a denial (the planner only needs
    the verdict, and a store deciding under its write lock searches after releasing it).

    ``customer`` is a validated :class:`Customer` or a mapping of typed attribute values;
    ``request`` and each ledger entry are records or mappings of their section 10 JSON
    fields, validated as JSON input is (the same :class:`InputError`).
    ``loads`` feeds ``capacity`` rules with every customer's contacts; without it a
    capacity rule counts this customer's ledger only. ``stats`` counts the work done
    (:class:`Stats`). A decision's work is bounded by the ledger's size and the number of
    rule boundaries within the 400-day horizon, never by the length of a window.
    """
    values = customer.values if isinstance(customer, Customer) else checked_values(policy, customer)
    if not isinstance(request, Request) or not isinstance(ledger, History):
        from policylang import ingest  # plain mappings are validated like JSON input

        request = ingest.request_of(policy, request)
        ledger = ingest.history_of(policy, ledger)
    history = ledger
    memo: dict[Any, Any] = policy._index  # noqa: SLF001 - the policy's memo table
    facts: Facts = memo.get("facts") or policy_facts(policy)
    zone = values.get("timezone") if facts.zone_attribute else None
    names = (zone,) if type(zone) is str and zone else zones_of(facts, values)  # (one zone named: the common case)
    zone_name = names[0]
    owner = values.get(facts.owner_attribute) if facts.owner_attribute else None
    ctx = Context(policy, values, clock.zone(zone_name), zone_name or "UTC", owner, request, history, explain, loads, stats)
    if len(names) > 1:
        ctx.zones = tuple((clock.zone(n), f"{n} (one of {len(names)} zones)") for n in names)
    campaigns = ctx.campaigns = type(request.campaign) is tuple
    if facts.ranked and history.has_planned:  # (has_planned first read here: made when first asked)
        ctx.skip = displaceable(ctx)
    plan = facts.plans.get((request.purpose, request.channel, request.team, owner is not None and request.team == owner))
    if plan is None:
        plan = rule_plan(policy, request, owner)
    t = (request.at - clock.EPOCH) // clock.ONE_US  # clock.micros, inline
    results: dict[int, Judgement] = {}
    denying: list[AnyRule] = []
    # `warn` rules are not among the steps: 11.14 judges them last, against what this
    # decision does not displace. A plain rule in a plain context is its body's answer
    # (what :func:`judge` gives then, without its layers). Without explain a passing rule
    # leaves nothing behind (no trace to write, nothing it displaces).
    simple = not ctx.zones and not campaigns
    ctx.judged = t  # every check below is at the request's instant
    if simple:
        ctx.stats.checks += plan.plain_steps  # each plain step below is one check
    for position, rule, body, alone in plan.steps:
        if alone and simple:
            finding = body(rule, ctx, t, NOTHING)
            if not finding.deny:
                if explain:
                    results[position] = ("pass", finding.reason, ())
                continue
            if ctx.skip and rule.kind in DISPLACING:
                judgement = results[position] = judged(rule, ctx, *check_with_precedence(rule, ctx, t, finding))
                if judgement[0] != "deny":
                    continue
            else:
                results[position] = ("deny", finding.reason, ())
            denying.append(rule)
            continue
        judgement = results[position] = judge(rule, ctx, t, plan)
        if judgement[0] == "deny":
            denying.append(rule)
    notes: list[str] = []
    displaced: tuple[Contact, ...] = ()
    if denying and not search:
        next_at = None
    elif denying:
        ctx.explain = False  # the search needs verdicts, not words
        next_at = next_allowed(ctx, plan, t, denying, notes)
        ctx.explain = explain
    else:
        next_at = t
        if ctx.skip and results:
            held = {id(c) for _, _, shown in results.values() for c in shown}
            displaced = tuple(c for c in history.planned if id(c) in held) if held else ()
    warnings: list[str] = []
    if plan.warners:
        gone = frozenset(id(c) for c in displaced)
        for position, rule in plan.checked:
            if rule.warn:
                judgement = results[position] = judge_warning(rule, ctx, t, plan, gone)
                if judgement[0] == "warn":
                    warnings.append(rule.name)
    for position in plan.scoped_lifters:
        results[position] = judge_lifter(plan.entries[position][0], ctx, t)
    trace: tuple[TraceEntry, ...] = ()
    if explain:
        trace = tuple(
            TraceEntry(rule.name, rule.kind, *results[position][:2]) if position in results
            else fixed or TraceEntry(rule.name, rule.kind, "pass", "")
            for position, ((rule, _, _), fixed) in enumerate(zip(plan.entries, plan.fixed_trace, strict=True))
        )
        if facts.cited:
            trace = cited(policy, trace, [rule for rule, _, _ in plan.entries])
    if next_at is None:
        when = None
    elif next_at == t and type(at := request.at) is dt.datetime and at.tzinfo is clock.UTC and not at.fold:
        when = at  # allowed now: the request's own instant (UTC, exact), not made again
    else:
        when = clock.instant(next_at)
    # every field given, in order (request, allowed, denied_by, displaces, next_allowed_at,
    # trace, notes, warnings, sources): decision.decided fills the frozen slots directly
    return decided(request, not denying, tuple([rule.name for rule in denying]) if denying else (), displaced, when,
                   trace, tuple(notes) if notes else (), tuple(warnings) if warnings else (), facts.sources)


class Facts:
    """What every decision reads of the policy itself, worked out once per policy (kept in
    its memo table): where a customer's zone comes from, the owner
    attribute, whether precedence ranks anyone, citations and sources."""

    __slots__ = ("zone_attribute", "default_zones", "owner_attribute", "ranked", "cited", "sources", "plans", "ranks")

    def __init__(self, policy: Policy) -> None:
        spec = policy.attributes.get("timezone")
        self.zone_attribute = spec is not None and spec.kind in ("zone", "zones")
        self.default_zones: tuple[str | None, ...] = (policy.timezone,)
        self.owner_attribute = policy.owner_attribute
        self.ranked = bool(policy.precedence)
        self.cited = has_citations(policy)
        self.sources = policy_sources(policy)
        # the plan of each request shape (purpose, channel, team, by the owner?): :func:`rule_plan`
        self.plans: dict[tuple[str, str, str, bool], Plan] = {}
        # Policy.ranks by owner (that one hashes the precedence tuple at every call)
        self.ranks: dict[str | None, tuple[dict[str, int], int]] = {}


def policy_facts(policy: Policy) -> Facts:
    """The policy's :class:`Facts` (memoised on the policy)."""
    cache: dict[Any, Any] = policy._index  # noqa: SLF001 - the policy's own memo table
    found: Facts | None = cache.get("facts")
    if found is None:
        found = cache["facts"] = Facts(policy)
    return found


def zones_of(facts: Facts, values: Mapping[str, Any]) -> tuple[str | None, ...]:
    """Every zone the customer may be in (11.7); the policy's zone (or None, UTC) without one."""
    if facts.zone_attribute:
        zone = values.get("timezone")
        if isinstance(zone, str) and zone:
            return (zone,)
        if isinstance(zone, (tuple, list)) and zone:
            return tuple(zone)
    return facts.default_zones


def has_citations(policy: Policy) -> bool:
    """Does any rule cite its source or come from a pack? (Memoised on the policy.)"""
    cache: dict[Any, Any] = policy._index  # noqa: SLF001 - the policy's own memo table
    found = cache.get("cited")
    if found is None:
        found = cache["cited"] = bool(policy.rule_packs) or any(rule.cite for rule in policy.rules)
    return bool(found)


def cited(policy: Policy, trace: tuple[TraceEntry, ...], rules: Sequence[AnyRule]) -> tuple[TraceEntry, ...]:
    """The trace with each rule's citations and pack (11.17)."""
    out = []
    for entry, rule in zip(trace, rules, strict=True):
        pack = policy.rule_packs.get(rule.name)
        out.append(evolve(entry, cite=rule.cite, pack=pack[0] if pack else None,
                          pack_version=pack[1] if pack else None))
    return tuple(out)


def policy_sources(policy: Policy) -> tuple[tuple[str, str], ...]:
    """The versions of what the decision used beyond the policy text (11.18): the packs its
    rules came from (11.17) and the holidays package. (Memoised on the policy.)"""
    cache: dict[Any, Any] = policy._index  # noqa: SLF001 - the policy's own memo table
    found: tuple[tuple[str, str], ...] | None = cache.get("sources")
    if found is None:
        found = tuple(policy.sources.items())
        if policy.uses_holidays or reads_calendars(policy):
            from policylang import calendars

            found += (("holidays", calendars.version()),)
        cache["sources"] = found
    return found


def reads_calendars(policy: Policy) -> bool:
    """Does a rule name a fixed calendar (`on holidays "FR"`) though the policy has no `holidays` line?"""
    for rule in policy.rules:
        if isinstance(rule, QuietRule):
            for part in (rule.period, *rule.parts):
                days = part.days if isinstance(part, DayClock) else part
                if isinstance(days, DaySet) and days.holidays:
                    return True
    return False


def checked_values(policy: Policy, customer: Mapping[str, Any]) -> Mapping[str, Any]:
    """A plain mapping checked against the policy's customer declarations (section 3).

    Raises InputError for an unknown attribute or a value of the wrong type, so a bad
    record never reaches a comparison. Pass a :class:`Customer` to validate once.
    """
    from policylang.inputs import customer_from_json, where

    return customer_from_json(policy, dict(customer), where("<customer>")).values


def customer_zone(policy: Policy, values: Mapping[str, Any]) -> str | None:
    """The customer's ``timezone`` attribute (its first, display zone when it lists
    several), else the policy's zone, else None (UTC)."""
    return customer_zones(policy, values)[0]


def customer_zones(policy: Policy, values: Mapping[str, Any]) -> tuple[str | None, ...]:
    """Every zone the customer may be in (11.7); the policy's zone (or None, UTC) without one."""
    return zones_of(policy_facts(policy), values)


def customer_tz(policy: Policy, values: Mapping[str, Any]) -> dt.tzinfo:
    """The customer's local zone as a tzinfo (:func:`customer_zone`; UTC when there is none).

    Every front end that shows local time (the REPL, the scenario runner) asks here, so they
    and the decisions agree on what "local" means.
    """
    return clock.zone(customer_zone(policy, values))


def displaceable(ctx: Context) -> frozenset[int]:
    """Planned contacts of teams ranked strictly below the requester (asked by :func:`decide`
    only of a history with some planned contact: not asked again here)."""
    history = ctx.history
    if not ctx.policy.precedence:
        return NOTHING
    facts = policy_facts(ctx.policy)
    found = facts.ranks.get(ctx.owner)
    if found is None:
        found = facts.ranks[ctx.owner] = ctx.policy.ranks(ctx.owner)
    ranks, weakest = found
    mine = ranks.get(ctx.request.team, weakest)
    # each planning team ranked once, not each planned contact
    return frozenset(ident for team, idents in history.planned_by_team().items()
                     if ranks.get(team, weakest) > mine for ident in idents)


# ---- which rules apply ---------------------------------------------------------------------

Judgement = tuple[str, str, Sequence[Contact]]  # verdict, reason, displaced contacts
Body = Callable[[Any, Context, int, frozenset[int]], Finding]  # a rule kind's check of its own body


@frozen
class Plan:
    """What to do with each rule for one shape of request (purpose, channel, team, owner?).

    ``entries`` has every rule in policy order with ``check``, ``skip``, ``exempt`` (lifted,
    with the lifting rule's name) or ``lifter`` (an exempt rule that applies); ``checked``
    the rules to check, with their position; ``timed`` those whose verdict can change with
    time (every kind but ``exclude``); ``fixed_trace`` the trace entries of the others,
    which never change (skip, exempt, lifter).
    """

    entries: tuple[tuple[AnyRule, str, str], ...]
    checked: tuple[tuple[int, AnyRule], ...]
    timed: tuple[AnyRule, ...]
    fixed_trace: tuple[TraceEntry | None, ...]
    lifters: Mapping[int, tuple[ExemptRule, ...]] = field(factory=dict)  # conditional (11.6)
    warners: bool = False  # some rule to check is a `warn` rule
    scoped_lifters: tuple[int, ...] = ()  # positions of exempt rules with a scope or a window
    # The rules to check first (not `warn`), each with its kind's body and whether it is
    # plain (no scope, no conditional exemption), so a decision with no section 11 form
    # asks the body straight away; and the same for ``timed`` (the search's re-checks).
    steps: tuple[tuple[int, AnyRule, Body, bool], ...] = ()
    timed_steps: tuple[tuple[AnyRule, Body, bool], ...] = ()
    plain_steps: int = 0  # how many of ``steps`` are plain (each one check in a plain context)


def rule_plan(policy: Policy, request: Request, owner: str | None) -> Plan:
    """The plan for this request's shape; cached on the policy (:class:`Facts`)."""
    is_owner = owner is not None and request.team == owner
    plans = policy_facts(policy).plans
    key = (request.purpose, request.channel, request.team, is_owner)
    plan = plans.get(key)
    if plan is None:
        plan = plans[key] = build_plan(policy, request, is_owner)
    return plan


def build_plan(policy: Policy, request: Request, is_owner: bool) -> Plan:
    subject = set(policy.subject_rules(request.purpose, request.channel, request.team, is_owner))
    entries = []
    lifters: dict[int, tuple[ExemptRule, ...]] = {}
    for rule in policy.rules:
        applying = [policy.rules[i] for i in policy.exempted_by.get(rule.index, ()) if i in subject]
        # An exemption with a `when` or effective dates lifts only while in scope (11.6).
        lifter = next((r.name for r in applying if r.scope is None and not windowed(r)), "")
        if rule.index not in subject:
            entries.append((rule, "skip", ""))
        elif isinstance(rule, ExemptRule):
            entries.append((rule, "lifter", ""))
        elif lifter:
            entries.append((rule, "exempt", lifter))
        else:
            conditional = tuple(r for r in applying if isinstance(r, ExemptRule))
            if conditional:
                lifters[rule.index] = conditional
            entries.append((rule, "check", ""))
    checked = tuple((i, rule) for i, (rule, status, _) in enumerate(entries) if status == "check")
    timed = tuple(rule for _, rule in checked if not rule.warn and changes_with_time(rule, lifters))
    shape = f"{request.purpose} {request.channel} by {request.team}"
    fixed = tuple(fixed_trace_entry(rule, status, lifter, shape) for rule, status, lifter in entries)
    scoped = tuple(i for i, (rule, status, _) in enumerate(entries)
                   if status == "lifter" and (rule.scope is not None or windowed(rule)))
    steps = tuple((i, rule, body_of(rule), plain(rule, lifters)) for i, rule in checked if not rule.warn)
    timed_steps = tuple((rule, body_of(rule), plain(rule, lifters)) for rule in timed)
    return Plan(tuple(entries), checked, timed, fixed, lifters, any(rule.warn for _, rule in checked), scoped,
                steps, timed_steps, sum(1 for step in steps if step[3]))


def plain(rule: AnyRule, lifters: Mapping[int, tuple[ExemptRule, ...]]) -> bool:
    """Is the rule judged by its body alone (no scope, no conditional exemption), when the
    request and customer have no section 11 form either (one zone, one campaign)?"""
    return rule.scope is None and rule.index not in lifters


def changes_with_time(rule: AnyRule, lifters: Mapping[int, tuple[ExemptRule, ...]]) -> bool:
    """Can the rule's verdict change with the instant? Every kind but a plain ``exclude``."""
    if not isinstance(rule, ExcludeRule):
        return True
    return bool(rule.time_tests or rule.scope is not None or rule.index in lifters)


def fixed_trace_entry(rule: AnyRule, status: str, lifter: str, shape: str) -> TraceEntry | None:
    if status == "skip":
        text = rule.match.text
        what = f"contacts {text}" if text.startswith(("by ", "except ")) else text
        return TraceEntry(rule.name, rule.kind, "skip", f"applies to {what}, not {shape}")
    if status == "exempt":
        return TraceEntry(rule.name, rule.kind, "exempt", f'lifted by exempt "{lifter}"')
    if status == "lifter" and isinstance(rule, ExemptRule):
        return TraceEntry(rule.name, rule.kind, "pass", lifts_text(rule))
    return None


def judge(rule: AnyRule, ctx: Context, t: int, plan: Plan) -> Judgement:
    """(verdict, reason, displaced contacts) for one rule to check."""
    lifter = lifted_by(rule, ctx, t, plan) if plan.lifters else None
    if lifter is not None:
        return "exempt", f'lifted by exempt "{lifter.name}"' + lifter_window_text(lifter, ctx, t), ()
    return judged(rule, ctx, *check_with_precedence(rule, ctx, t))


def judged(rule: AnyRule, ctx: Context, finding: Finding, displaced: Sequence[Contact]) -> Judgement:
    """The judgement of a rule's finding (after precedence) and the contacts it displaces."""
    if finding.skipped:
        return "skip", finding.reason, ()
    if finding.deny:
        return "deny", finding.reason, ()
    reason = finding.reason
    if displaced and ctx.explain:
        reason += "; displaces " + ", ".join(describe(c, ctx) for c in displaced)
    return "pass", reason, displaced


def judge_warning(rule: AnyRule, ctx: Context, t: int, plan: Plan, gone: frozenset[int]) -> Judgement:
    """A `warn` rule (11.14): never displaces, counts every planned contact not displaced."""
    lifter = lifted_by(rule, ctx, t, plan)
    if lifter is not None:
        return "exempt", f'lifted by exempt "{lifter.name}"', ()
    finding = check(rule, ctx, t, gone)
    if finding.skipped:
        return "skip", finding.reason, ()
    return ("warn" if finding.deny else "pass"), finding.reason, ()


def judge_lifter(rule: AnyRule, ctx: Context, t: int) -> Judgement:
    """The trace entry of an exempt rule with a scope or a window: skipped while it lifts
    nothing (out of scope, or no window open)."""
    assert isinstance(rule, ExemptRule)
    out = out_of_scope(rule, ctx, t)
    if out is not None:
        return "skip", out.reason, ()
    if rule.window is not None:
        current = open_window(rule, ctx, t)
        if current is None:
            return "skip", f"no window open ({rule.window.text})", ()
        return "pass", lifts_text(rule) + window_words(current, ctx), ()
    return "pass", lifts_text(rule), ()


def lifter_window_text(lifter: ExemptRule, ctx: Context, t: int) -> str:
    if lifter.window is None or not ctx.explain:
        return ""
    current = open_window(lifter, ctx, t)
    return window_words(current, ctx) if current is not None else ""


def lifted_by(rule: AnyRule, ctx: Context, t: int, plan: Plan) -> ExemptRule | None:
    """The conditional exemption (11.6) or open exemption window (11.5) lifting ``rule`` at ``t``."""
    for lifter in plan.lifters.get(rule.index, ()):
        if lifts_everywhere(lifter, ctx, t):
            return lifter
    return None


def lifts_everywhere(lifter: ExemptRule, ctx: Context, t: int) -> bool:
    """An exemption lifts only if it lifts in every zone (11.7)."""
    zones = rule_zones(lifter, ctx) or ((ctx.tz, ctx.zone_name),)
    saved = ctx.tz, ctx.zone_name
    try:
        for tz, label in zones:
            ctx.tz, ctx.zone_name = tz, label
            if out_of_scope(lifter, ctx, t) is not None:
                return False
            if lifter.window is not None and open_window(lifter, ctx, t) is None:
                return False
    finally:
        ctx.tz, ctx.zone_name = saved
    return True


def windowed(rule: AnyRule) -> bool:
    return isinstance(rule, ExemptRule) and rule.window is not None


# ---- exemption windows (11.5) ----------------------------------------------------------------

Window = tuple[int, int, str, int | None]  # start, end, what opened it, id of the closing contact


def exemption_windows(rule: ExemptRule, ctx: Context) -> list[Window]:
    """Every window of ``rule`` in this customer's ledger, in order of opening (memoised)."""
    if ctx._windows is None:  # noqa: SLF001 - the context's own memo, made on first use
        ctx._windows = {}  # noqa: SLF001
    found = ctx._windows.get((rule.index, ctx.tz))  # noqa: SLF001
    if found is not None:
        return found
    spec = rule.window
    assert spec is not None
    history = ctx.history
    openers: list[tuple[int, str]]
    if spec.event is not None:
        openers = [(us, spec.event) for us in history.event_times(spec.event)]
    else:
        assert spec.opener is not None
        times, contacts = history.matching(spec.opener, ctx.owner, sent_only=True,
                                           outcome=spec.outcomes or None)
        openers = [(times[k], f"{contacts[k].purpose} {contacts[k].channel}") for k in range(len(times))]
    closers: list[tuple[int, int | None]] = [(us, None) for us in spec.closer_dates]
    for name in spec.closer_events:
        closers += [(us, None) for us in history.event_times(name)]
    if spec.closer_outcomes:
        times, contacts = history.matching(rule.match, ctx.owner, sent_only=True, outcome=spec.closer_outcomes)
        closers += [(times[k], id(contacts[k])) for k in range(len(times))]
    closers.sort(key=lambda pair: pair[0])
    closer_times = [us for us, _ in closers]
    windows: list[Window] = []
    for start, what in openers:
        ends: list[tuple[int, int | None]] = []
        if spec.seconds is not None:
            ends.append((start + spec.seconds * clock.SECOND, None))
        if spec.months:  # 11.2: the opener + N months, in the zone being judged
            ends.append((clock.plus_months(start, spec.months, ctx.tz), None))
        if spec.days is not None:
            ends.append((clock.start_of_day_number(clock.local_date(start, ctx.tz).toordinal() + spec.days, ctx.tz), None))
        k = bisect_right(closer_times, start)
        if k < len(closers):
            ends.append(closers[k])
        if not ends:
            continue
        end, closer = min(ends, key=lambda pair: pair[0])
        windows.append((start, end, what, closer))
    ctx._windows[(rule.index, ctx.tz)] = windows  # noqa: SLF001
    return windows


def open_window(rule: ExemptRule, ctx: Context, t: int) -> Window | None:
    """The window of ``rule`` open at ``t`` that stays open longest, if any."""
    inside = [w for w in exemption_windows(rule, ctx) if w[0] <= t < w[1]]
    return max(inside, key=lambda w: w[1]) if inside else None


def window_words(window: Window, ctx: Context) -> str:
    """`` (consent 04-03 10:05, open until 04-10 00:00)``."""
    start, end, what, _ = window
    return f" ({what} {short_local(start, ctx)}, open until {short_local(end, ctx)})"


def short_local(us: int, ctx: Context) -> str:
    return ctx.local(us).strftime("%m-%d %H:%M")


def window_cover(rule: CapRule, ctx: Context) -> list[tuple[ExemptRule, list[Window]]]:
    """The window exemptions that may excuse contacts from counting under ``rule``. With
    several zones a contact escapes only if inside a window in every zone (11.7): the
    windows are then the intersections of each zone's windows."""
    if ctx.zones:
        saved = ctx.tz, ctx.zone_name
        per_zone: list[list[tuple[ExemptRule, list[Window]]]] = []
        try:
            for tz, label in ctx.zones:
                ctx.tz, ctx.zone_name = tz, label
                per_zone.append(window_cover_here(rule, ctx))
        finally:
            ctx.tz, ctx.zone_name = saved
        return intersect_covers(per_zone)
    return window_cover_here(rule, ctx)


def intersect_covers(per_zone: list[list[tuple[ExemptRule, list[Window]]]]) -> list[tuple[ExemptRule, list[Window]]]:
    result = per_zone[0]
    for other in per_zone[1:]:
        merged = []
        others = {lifter.index: windows for lifter, windows in other}
        for lifter, windows in result:
            theirs = others.get(lifter.index, [])
            both = [(max(a[0], b[0]), min(a[1], b[1]), a[2], a[3] if a[1] <= b[1] else b[3])
                    for a in windows for b in theirs if max(a[0], b[0]) < min(a[1], b[1])]
            if both:
                merged.append((lifter, both))
        result = merged
    return result


def window_cover_here(rule: CapRule, ctx: Context) -> list[tuple[ExemptRule, list[Window]]]:
    policy = ctx.policy
    found = []
    for index in policy.exempted_by.get(rule.index, ()):
        lifter = policy.rules[index]
        if not isinstance(lifter, ExemptRule) or lifter.window is None:
            continue
        own = rule_zones(lifter, ctx) if lifter.scope is not None and (
            lifter.scope.fixed_zone is not None or lifter.scope.zone_attr is not None) else ()
        if own:  # `in zone` (11.8): the window's dates are the rule's own zone's, in each of them
            found += own_zone_cover(lifter, ctx, own)
            continue
        if lifter.scope is not None and out_of_scope(lifter, ctx, judged_instant(ctx)) is not None:
            continue  # a `when` that does not hold excuses nothing (doubt restricts)
        windows = exemption_windows(lifter, ctx)
        if windows:
            found.append((lifter, windows))
    return found


def judged_instant(ctx: Context) -> int:
    return ctx.judged if ctx.judged is not None else clock.micros(ctx.request.at)


def own_zone_cover(lifter: ExemptRule, ctx: Context,
                   zones: tuple[tuple[dt.tzinfo, str], ...]) -> list[tuple[ExemptRule, list[Window]]]:
    """The windows of an exemption with its own zones: inside only if inside in every one."""
    saved = ctx.tz, ctx.zone_name
    per_zone: list[list[tuple[ExemptRule, list[Window]]]] = []
    try:
        for tz, label in zones:
            ctx.tz, ctx.zone_name = tz, label
            if out_of_scope(lifter, ctx, judged_instant(ctx)) is not None:
                return []
            per_zone.append([(lifter, exemption_windows(lifter, ctx))])
    finally:
        ctx.tz, ctx.zone_name = saved
    return [(rule, windows) for rule, windows in intersect_covers(per_zone) if windows]


def excused(contact: Contact, us: int, cover: list[tuple[ExemptRule, list[Window]]], ctx: Context) -> str | None:
    """The name of the window exemption under which ``contact`` was placed, if any: inside
    an open window, or the contact that closed it."""
    for lifter, windows in cover:
        if not lifter.match.matches(contact.purpose, contact.channel, contact.team, ctx.owner):
            continue
        for start, end, _, closer in windows:
            if start <= us < end or (us == end and closer == id(contact)):
                return lifter.name
    return None


DISPLACING = frozenset({"cap", "quiet", "exclusive"})  # the kinds whose denial precedence can lift


def check_with_precedence(rule: AnyRule, ctx: Context, t: int,
                          full: Finding | None = None) -> tuple[Finding, Sequence[Contact]]:
    """Check the rule (or take ``full``, its finding at ``t`` counting every contact); if it
    denies, check again without displaceable planned contacts."""
    if full is None:
        full = check(rule, ctx, t, NOTHING)
    if not full.deny or not ctx.skip or rule.kind not in DISPLACING:
        return full, ()
    without = check(rule, ctx, t, ctx.skip)
    if without.deny:
        return without, ()
    displaced = [c for c in full.held if id(c) in ctx.skip]
    if rule.kind == "cap":
        displaced = fewest_to_displace(rule, ctx, t, displaced)
    return without, displaced


def fewest_to_displace(rule: AnyRule, ctx: Context, t: int, candidates: list[Contact]) -> list[Contact]:
    """For a cap, displace only as many planned contacts as it takes to pass.

    Lowest-ranked first, then the latest planned first (the furthest-off plan is the
    cheapest to move), then the latest written; each is taken until the cap passes.
    """
    policy, owner = ctx.policy, ctx.owner
    ordered = sorted(reversed(candidates), key=lambda c: -policy.rank(c.team, owner))
    taken: list[Contact] = []
    for contact in ordered:
        taken.append(contact)
        if not check(rule, ctx, t, frozenset(id(c) for c in taken)).deny:
            break
    return taken


def check(rule: AnyRule, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    """The rule's finding at ``t``. A request for several campaigns is checked in each
    campaign's group by ``for each campaign`` rules and denied when any denies (11.3)."""
    ctx.stats.checks += 1
    ctx.judged = t  # an exemption window's scope is judged then (11.5), not at the request
    if rule.scope is None and not ctx.zones and not ctx.campaigns:  # the common case, no section 11 form
        return check_body(rule, ctx, t, skip)
    request = ctx.request
    if ctx.campaigns and by_campaign(rule):
        first: Finding | None = None
        denied: Finding | None = None
        try:
            for campaign in request.campaigns:
                ctx.request = evolve(request, campaign=campaign)
                found = check_zones(rule, ctx, t, skip)
                if found.deny:
                    denied = found if denied is None else holding_both(denied, found)
                first = first or found
        finally:
            ctx.request = request
        assert first is not None
        return denied or first
    return check_zones(rule, ctx, t, skip)


def holding_both(found: Finding, more: Finding) -> Finding:
    """A denial that also holds what another campaign's group or zone holds against the
    request: precedence must be able to displace the plans of every group that denies, not
    only the first one's (11.3, 11.7)."""
    seen = {id(c) for c in found.held}
    held = sorted([*found.held, *(c for c in more.held if id(c) not in seen)], key=lambda c: c.at)
    return evolve(found, held=held)


def by_campaign(rule: AnyRule) -> bool:
    if isinstance(rule, CapRule):
        return rule.group == "campaign"
    return isinstance(rule, QuietRule) and any(
        isinstance(p, AfterTrigger) and p.group == "campaign" for p in (rule.parts or (rule.period,)))


def check_zones(rule: AnyRule, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    """A rule that reads local time is checked in each of its zones (11.7, 11.8) and
    denies if it denies in any."""
    zones = rule_zones(rule, ctx)
    if not zones:
        return check_here(rule, ctx, t, skip)
    saved = ctx.tz, ctx.zone_name
    first: Finding | None = None
    denied: Finding | None = None
    try:
        for tz, label in zones:
            ctx.tz, ctx.zone_name = tz, label
            found = check_here(rule, ctx, t, skip)
            if found.deny:
                denied = found if denied is None else holding_both(denied, found)
            first = first or found
    finally:
        ctx.tz, ctx.zone_name = saved
    assert first is not None
    return denied or first


def check_here(rule: AnyRule, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    if rule.scope is not None:
        out = out_of_scope(rule, ctx, t)
        if out is not None:
            return out
    return check_body(rule, ctx, t, skip)


def rule_zones(rule: AnyRule, ctx: Context) -> tuple[tuple[dt.tzinfo, str], ...]:
    """The zones a rule reads local time in, when not just the customer's one zone: the
    rule's own (``in zone``), else each of the customer's several zones; () otherwise."""
    scope = rule.scope
    if scope is not None and scope.fixed_zone is not None:
        return ((clock.zone(scope.fixed_zone), f"{scope.fixed_zone} (the rule's zone)"),)
    if scope is not None and scope.zone_attr is not None:
        value = ctx.values.get(scope.zone_attr)
        names = (value,) if isinstance(value, str) else tuple(value or ())
        if names:
            return tuple((clock.zone(n), f"{n} (customer.{scope.zone_attr})") for n in names)
        if rule.kind == "capacity":  # 11.8: absent, it falls back to the customer's zones, every one
            return ctx.zones
    if not ctx.zones or not reads_local_time(rule):
        return ()
    return ctx.zones


def reads_local_time(rule: AnyRule) -> bool:
    """Can the rule's verdict depend on the zone? (Rolling caps, exclusive and require
    rules measure absolute time; capacity reads the policy's zone.)"""
    if rule.kind == "capacity":  # the policy's zone, its `when` included (local_zone)
        return False
    if rule.scope is not None and (rule.scope.time_tests or rule.scope.condition is not None):
        return True
    if isinstance(rule, CapRule):  # months are added in local time (11.2)
        return rule.kind == "cap" and (not isinstance(rule.window, Rolling) or bool(rule.window.months))
    if isinstance(rule, QuietRule):  # every part joined by `or` (11.9)
        return any(part_reads_local_time(part) for part in (rule.parts or (rule.period,)))
    if isinstance(rule, ExcludeRule):
        return bool(rule.time_tests)
    if isinstance(rule, RequireRule):  # 11.2: months are added in local time
        return bool(rule.at_least_months or rule.within_months)
    if isinstance(rule, ExclusiveRule):
        return bool(rule.months)
    return isinstance(rule, ExemptRule) and rule.window is not None


def part_reads_local_time(part: QuietSpec) -> bool:
    """A quiet part reads local time unless it is a fixed-length (or rolling-counted) pause."""
    if not isinstance(part, AfterTrigger):
        return True
    counted_by_date = part.count_window is not None and not isinstance(part.count_window, Rolling)
    return part.days is not None or bool(part.months) or counted_by_date


def out_of_scope(rule: AnyRule, ctx: Context, t: int) -> Finding | None:
    """A ``skip`` finding when the rule is not in force at ``t`` (11.11) or its ``when``
    condition does not hold (11.1); None when the rule applies."""
    scope = rule.scope
    if scope is None:
        return None
    if scope.start is not None and t < scope.start:
        reason = f"in force from {format_local(scope.start, clock.zone(scope.zone_name))} {scope.zone_name}" if ctx.explain else ""
        return Finding(False, (), reason, skipped=True)
    if scope.until is not None and t >= scope.until:
        reason = f"in force until {format_local(scope.until, clock.zone(scope.zone_name))} {scope.zone_name}" if ctx.explain else ""
        return Finding(False, (), reason, skipped=True)
    if scope.condition is not None and not holds(scope.condition, ctx.values, ctx.request, t, local_zone(rule, ctx)):
        reason = ""
        if ctx.explain:
            reason = when_false_text(scope.condition, scope.condition_text, scope.attributes, ctx, t)
        return Finding(False, (), reason, skipped=True)
    return None


def own_zone(rule: AnyRule) -> bool:
    """Does the rule name its own zone (``in zone``, 11.8)?"""
    return rule.scope is not None and (rule.scope.fixed_zone is not None or rule.scope.zone_attr is not None)


def local_zone(rule: AnyRule, ctx: Context) -> dt.tzinfo:
    """Where a rule reads local time (its windows, a date value's start, months in its
    ``when``): the zone it is being checked in (the customer's, or its own ``in zone``, which
    the caller has made ``ctx.tz``), except a ``capacity`` rule without ``in zone``: it counts
    all customers and reads the policy's zone (section 2; 11.8 "on capacity: not in the
    policy's"), its time tests included, so it is judged once whatever the customer's zones."""
    if rule.kind == "capacity" and not own_zone(rule):
        return clock.zone(ctx.policy.timezone)
    return ctx.tz


def when_false_text(node: Condition, text: str, attributes: Sequence[str], ctx: Context, t: int) -> str:
    """``applies when customer.state is fl; it is tx`` (the trace sentences of 11.1, 11.6)."""
    if isinstance(node, FlagIs):
        return f"{text} is false" if ctx.values.get(node.attribute) is not None else f"{text} is missing"
    if isinstance(node, (Comparison, OneOf)):
        value = ctx.values.get(node.attribute)
        return f"applies when {text}; it is {plain_value(value) if value is not None else 'missing'}"
    return f"applies when {text}; it is false ({condition_facts(attributes, ctx, t)})"


def plain_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return clock.format_local(clock.micros(value), dt.timezone.utc) + " UTC"
    if isinstance(value, (set, frozenset)):
        return "(" + ", ".join(sorted(map(str, value))) + ")"
    return str(value)


def condition_facts(attributes: Sequence[str], ctx: Context, t: int) -> str:
    return ", ".join(
        f"{name[8:]} is {getattr(ctx.request, name[8:])}" if name.startswith("request.")
        else attribute_fact(name, ctx.values, ctx.tz)
        for name in attributes
    )


def scope_changes(scope: Scope | None, ctx: Context, t: int, policy_zone: bool = False) -> list[int]:
    """Instants after ``t`` at which a rule's scope can change: its effective dates and the
    change instants of its condition's time tests (read in the policy's zone when
    ``policy_zone``: a capacity rule's, :func:`local_zone`)."""
    if scope is None:
        return []
    found = [us for us in (scope.start, scope.until) if us is not None and us > t]
    if not scope.time_tests:
        return found
    # time tests read local time in the rule's zones (`in zone`, or each customer zone)
    zones = rule_zones_of_scope(scope, ctx)
    if not zones and policy_zone:
        zones = ((clock.zone(ctx.policy.timezone), ctx.policy.timezone or "UTC"),)
    zones = zones or ctx.zones or ((ctx.tz, ctx.zone_name),)
    saved = ctx.tz, ctx.zone_name
    try:
        for tz, label in zones:
            ctx.tz, ctx.zone_name = tz, label
            found += time_changes(scope.time_tests, ctx, t)
    finally:
        ctx.tz, ctx.zone_name = saved
    return found


def rule_zones_of_scope(scope: Scope, ctx: Context) -> tuple[tuple[dt.tzinfo, str], ...]:
    """The zones of a scope's own `in zone` (a name, or a customer attribute with a value)."""
    if scope.fixed_zone is not None:
        return ((clock.zone(scope.fixed_zone), scope.fixed_zone),)
    if scope.zone_attr is not None:
        value = ctx.values.get(scope.zone_attr)
        names = (value,) if isinstance(value, str) else tuple(value or ())
        return tuple((clock.zone(n), n) for n in names)
    return ()


def time_changes(tests: Sequence[TimeSpec], ctx: Context, t: int) -> list[int]:
    return [us for test in tests for us in time_test_changes(test, ctx.values, ctx.tz) if us > t]


def bound(rule: AnyRule, ctx: Context, t: int, plan: Plan | None = None) -> int | None:
    """The earliest instant after ``t`` at which a denying rule could pass; None if never.

    Never later than the rule's true next pass, so jumping to the largest bound of all
    denying rules skips no allowed instant. A rule's scope (its effective dates and the
    time tests of its ``when``) and the scopes of the exemptions that may lift it add
    their change instants: the verdict may change there too.
    """
    ctx.stats.bounds += 1
    if rule.scope is None and not ctx.zones and not ctx.campaigns and (plan is None or not plan.lifters):
        return body_bound(rule, ctx, t)  # the common case, no section 11 form
    found = campaign_body_bound(rule, ctx, t)
    changes = scope_changes(rule.scope, ctx, t, policy_zone=rule.kind == "capacity")
    if plan is not None:
        for lifter in plan.lifters.get(rule.index, ()):
            changes += scope_changes(lifter.scope, ctx, t)
            if lifter.window is not None:
                changes += [us for w in exemption_windows(lifter, ctx) for us in w[:2] if us > t]
    if changes:
        return min(changes if found is None else [*changes, found])
    return found


def campaign_body_bound(rule: AnyRule, ctx: Context, t: int) -> int | None:
    """With several campaigns, the latest bound of the campaigns whose group denies (11.3)."""
    request = ctx.request
    if not (isinstance(request.campaign, tuple) and by_campaign(rule)):
        return zoned_body_bound(rule, ctx, t)
    found: list[int] = []
    try:
        for campaign in request.campaign:
            ctx.request = evolve(request, campaign=campaign)
            if check_zones(rule, ctx, t, ctx.skip if rule.kind != "capacity" else frozenset()).deny:
                here = zoned_body_bound(rule, ctx, t)
                if here is None:
                    return None
                found.append(here)
    finally:
        ctx.request = request
    return max(found, default=t + 1)


def zoned_body_bound(rule: AnyRule, ctx: Context, t: int) -> int | None:
    """The body bound in each zone where the rule denies at ``t``; the latest of them (the
    rule passes only once it passes in every zone)."""
    zones = rule_zones(rule, ctx)
    if not zones:
        return body_bound(rule, ctx, t)
    saved = ctx.tz, ctx.zone_name
    found: list[int] = []
    try:
        for tz, label in zones:
            ctx.tz, ctx.zone_name = tz, label
            if check_here(rule, ctx, t, ctx.skip if rule.kind != "capacity" else frozenset()).deny:
                here = body_bound(rule, ctx, t)
                if here is None:
                    return None
                found.append(here)
    finally:
        ctx.tz, ctx.zone_name = saved
    return max(found, default=t + 1)


def body_bound(rule: AnyRule, ctx: Context, t: int) -> int | None:
    skip = ctx.skip if rule.kind != "capacity" else NOTHING
    # an isinstance chain, not `match`: see quiet_part
    if isinstance(rule, CapRule):
        return bound_cap(rule, ctx, t, skip)
    if isinstance(rule, QuietRule):
        return bound_quiet(rule, ctx, t, skip)
    if isinstance(rule, RequireRule):
        return bound_require(rule, ctx, t)
    if isinstance(rule, ExclusiveRule):
        return bound_exclusive(rule, ctx, t, skip)
    if isinstance(rule, ExcludeRule):
        # 11.11: an exclusion whose condition stops holding at a known instant allows then
        return min(time_changes(rule.time_tests, ctx, t), default=NEVER) if rule.time_tests else NEVER
    if isinstance(rule, ExemptRule):
        return NEVER  # an exemption never denies
    assert_never(rule)


def next_allowed(ctx: Context, plan: Plan, t: int, denying: list[AnyRule], notes: list[str]) -> int | None:
    """The earliest instant at or after ``t`` at which the request is allowed, or None.

    ``denying`` are the rules that deny at ``t``. Exclusions do not change with time, so
    one of them denying means no wait helps; the others are re-checked at each jump.
    """
    hold = hold_limit(ctx, t)
    limit = hold[0] if hold is not None else t + HORIZON
    current = t
    # Each bound is the rule's own next pass, so each jump reaches an instant where some
    # rule's verdict changes: the jumps are bounded by the rules' boundaries within the
    # horizon (contacts, period starts, quiet edges), never by the distance covered.
    ctx.prefetch = HORIZON + 2 * DAY
    while True:
        ctx.stats.jumps += 1
        latest: int | None = None
        # one rule that never passes ends the search (exclusions first: theirs is the cheapest
        # bound and the likeliest never; then prerequisites, never once none is left to come),
        # with no need to bound the rest: the bounds' order changes nothing else (their max)
        for rule in sorted(denying, key=bound_order) if len(denying) > 1 else denying:
            found = bound(rule, ctx, current, plan)
            if found is None:
                return None
            latest = found if latest is None or found > latest else latest
        assert latest is not None
        current = latest
        if current > limit:
            break
        simple = not ctx.zones and not ctx.campaigns
        denying = []
        for rule, body, alone in plan.timed_steps:
            if alone and simple:  # denies(), inline for a plain rule: its body's answer, then precedence
                ctx.stats.checks += 1
                ctx.judged = current
                if body(rule, ctx, current, NOTHING).deny and not (
                        ctx.skip and rule.kind in DISPLACING and not check(rule, ctx, current, ctx.skip).deny):
                    denying.append(rule)
            elif denies(rule, body, False, ctx, current, plan):
                denying.append(rule)
        if not denying:
            return current
    if hold is not None and current > limit:
        notes.append(f"not allowed within the hold of {hold[1]}")
        return None
    notes.append(
        f"no allowed time found within {HORIZON // DAY} days of the request; next_allowed_at is left empty"
    )
    return None


def bound_order(rule: AnyRule) -> int:
    """Exclusions, then prerequisites, then the rest: the likeliest ``never`` and cheapest first."""
    return BOUND_ORDER.get(rule.kind, 2)


BOUND_ORDER = {"exclude": 0, "require": 1}


def denies(rule: AnyRule, body: Body, alone: bool, ctx: Context, t: int, plan: Plan) -> bool:
    """Does the rule deny at ``t`` after exemptions and precedence? (The verdict of
    :func:`judge`, without the words or the contacts to displace the search does not need.)"""
    if not alone and rule.index in plan.lifters and lifted_by(rule, ctx, t, plan) is not None:
        return False
    if alone:
        ctx.stats.checks += 1
        ctx.judged = t
        full = body(rule, ctx, t, NOTHING)
    else:
        full = check(rule, ctx, t, NOTHING)
    if not full.deny:
        return False
    if ctx.skip and rule.kind in DISPLACING:
        return check(rule, ctx, t, ctx.skip).deny
    return True


def hold_limit(ctx: Context, t: int) -> tuple[int, str] | None:
    """The end of the shortest ``hold SELECTOR up to D`` matching the request (11.16), as an
    instant (``t`` + D), with D in words. ``N months`` are added to ``t`` in the customer's
    zone; with several zones the earliest end is the hold's (the shortest wait)."""
    if not ctx.policy.holds:
        return None
    request = ctx.request
    found: list[tuple[int, str]] = []
    for match, seconds, months in ctx.policy.holds:
        if not match.matches(request.purpose, request.channel, request.team, ctx.owner):
            continue
        if months:
            zones = [tz for tz, _ in ctx.zones] or [ctx.tz]
            found.append((min(clock.plus_months(t, months, tz) for tz in zones), month_words(months)))
        else:
            found.append((t + seconds * clock.SECOND, format_span(seconds * clock.SECOND)))
    return min(found, key=lambda pair: pair[0], default=None)


def month_words(months: int) -> str:
    """``1 month``, ``18 months``, ``2 years`` (a whole number of years reads as years)."""
    if months % 12 == 0:
        years = months // 12
        return f"{years} year{'s' if years != 1 else ''}"
    return f"{months} month{'s' if months != 1 else ''}"


# ---- counting contacts ---------------------------------------------------------------------

Selection = tuple[list[int], Sequence[Contact], int, int]  # times, contacts, range [i, j)
Sequence_ = tuple[list[int], Sequence[Contact]]


def sequence(rule: CapRule, ctx: Context, skip: frozenset[int], lo: int, hi: int) -> Sequence_:
    """Every counted contact the rule counts for this request, in time order, minus ``skip``.

    Holds at least the contacts in ``[lo, hi)``. Built at most once per decision and rule
    (capacity loads are read again only for a range outside what was read), so each check
    is binary searches over it and never a scan.
    """
    memoed = ctx._memo.get(rule.index)  # noqa: SLF001 - the context's own memo
    if memoed is not None:  # asked again this decision (kept only when it cannot change: below)
        times, contacts = memoed
    elif rule.kind == "capacity" and ctx.loads is not None:
        times, contacts = loaded_sequence(rule, ctx, lo, hi)
    else:
        windowed = ctx.policy.has_windows and rule.index in ctx.policy.exempted_by
        group = rule.group
        wanted = getattr(ctx.request, group) if group is not None else None
        times, contacts = ctx.history.matching(rule.match, ctx.owner, group=group, value=wanted,
                                               drop=rule.not_counted)
        # One request, one group and no exemption window (whose cover changes with the
        # instant judged, 11.5, 11.11): the same sequence all decision long.
        if not windowed and not ctx.campaigns:
            ctx._memo[rule.index] = (times, contacts)  # noqa: SLF001
        cover = window_cover(rule, ctx) if windowed else []
        if cover:  # exemption windows (11.x): rare; filtered over the range asked for, not memoised
            i, j = bisect_left(times, lo), bisect_left(times, hi)
            kept_pairs = [(times[k], contacts[k]) for k in range(i, j)
                          if id(contacts[k]) not in skip and excused(contacts[k], times[k], cover, ctx) is None]
            covered = ([us for us, _ in kept_pairs], [c for _, c in kept_pairs])
            # held for the decision's life: memo keys use id(times), which must not be reused
            ctx._memo.setdefault("held", []).append(covered)  # noqa: SLF001
            return covered
    if not skip:
        return times, contacts
    key2 = ("skip", rule.index, skip, id(times))
    hit = ctx._memo.get(key2)  # noqa: SLF001
    if hit is None:
        ctx.stats.scanned += len(times)
        hit = ctx._memo[key2] = without(times, contacts, skip, ctx)  # noqa: SLF001
    return hit


def loaded_sequence(rule: CapRule, ctx: Context, lo: int, hi: int) -> Sequence_:
    """A ``capacity`` rule's counted contacts of every customer (``ctx.loads``), in time
    order, holding at least those in ``[lo, hi)`` (see :func:`sequence`)."""
    assert ctx.loads is not None
    window = getattr(ctx.loads, "window", None)
    if window is not None:
        # a batch's or a replay's counts, kept sorted in memory: only [i, j) counts (a replay
        # cuts off the contacts from the replayed one's place on); no sort per request, and
        # no copy when the range is the whole sequence
        times, contacts, i, j = window(rule, lo, hi)
        if i or j != len(times):
            times, contacts = times[i:j], contacts[i:j]
        group = rule.group
        if group is not None:
            wanted = getattr(ctx.request, group)
            kept_at = [k for k in range(len(times)) if in_group(contacts[k], group, wanted)]
            ctx.stats.scanned += len(times)
            times, contacts = [times[k] for k in kept_at], [contacts[k] for k in kept_at]
    else:
        group = rule.group
        wanted = getattr(ctx.request, group) if group is not None else None
        key = ("loads", rule.index, wanted)
        found = ctx._memo.get(key)  # noqa: SLF001 - the context's own memo
        if found is None or not (found[0] <= lo and hi <= found[1]):
            if found is not None:
                lo = min(lo, found[0])
            hi = max(hi, lo + ctx.prefetch, found[1] if found is not None else hi)
            loaded = ctx.loads.contacts(rule, clock.instant(lo), clock.instant(hi))
            drop = rule.not_counted
            # the same as sorting (micros, contact) pairs by time, stably, with less Python
            # per contact: the status test inlined, one subtraction each, a sort only when
            # the store did not already give them in time order, the range by bisection
            listed = [c for c in loaded if c.status in COUNTED_STATUSES
                      and not (drop and c.status == "sent" and c.outcome in drop)]
            epoch, unit = clock.EPOCH, clock.ONE_US
            us = [(c.at - epoch) // unit for c in listed]
            ctx.stats.scanned += len(us)
            if not all(map(le, us, us[1:])):
                order = sorted(range(len(us)), key=us.__getitem__)
                us, listed = [us[k] for k in order], [listed[k] for k in order]
            i, j = bisect_left(us, lo), bisect_left(us, hi)
            us, listed = us[i:j], listed[i:j]
            if group is not None:
                at = [k for k in range(len(listed)) if in_group(listed[k], group, wanted)]
                us, listed = [us[k] for k in at], [listed[k] for k in at]
            found = ctx._memo[key] = (lo, hi, us, listed)  # noqa: SLF001
        times, contacts = found[2], found[3]
    return times, contacts


def without(times: list[int], contacts: Sequence[Contact], skip: frozenset[int], ctx: Context) -> Sequence_:
    """``times`` and ``contacts`` minus the contacts whose ids are in ``skip``.

    The skipped contacts are planned ones of the history (issue 11): only the positions at
    their instants are looked at, so a history built from columns makes no contact object
    for the rest. Ids that are not the history's planned contacts: every position is looked at.
    """
    named = [c for c in ctx.history.planned if id(c) in skip]
    if len(named) != len(skip):
        kept_at = [k for k in range(len(times)) if id(contacts[k]) not in skip]
        return [times[k] for k in kept_at], [contacts[k] for k in kept_at]
    dropped = set()
    for us in {clock.micros(c.at) for c in named}:
        for k in range(bisect_left(times, us), bisect_right(times, us)):
            if id(contacts[k]) in skip:
                dropped.add(k)
    if not dropped:
        return times, contacts
    gone = sorted(dropped)  # a few planned contacts: the rest is copied a slice at a time
    kept_contacts: Sequence[Contact] = (contacts.without_positions(gone) if isinstance(contacts, LazyContacts)
                                        else cut(list(contacts), gone))
    return cut(times, gone), kept_contacts


def select(rule: CapRule, ctx: Context, lo: int, hi: int, skip: frozenset[int]) -> Selection:
    """Matching counted contacts in ``[lo, hi)`` of the request's group, minus ``skip``:
    the rule's whole sequence with an index range, so counting is two binary searches."""
    times, contacts = sequence(rule, ctx, skip, lo, hi)
    return times, contacts, bisect_left(times, lo), bisect_left(times, hi)


def dense_runs(values: Sequence[int], limit: int, width: int, ctx: Context, key: Any) -> list[int]:
    """Positions m at which ``limit`` contacts in a row fit in one window:
    ``values[m + limit - 1] - values[m] < width`` (built once per decision and rule)."""
    found = ctx._memo.get(key)  # noqa: SLF001
    if found is None:
        ctx.stats.scanned += len(values)
        spans = map(sub, values[limit - 1 :], values[: len(values) - limit + 1])
        found = ctx._memo[key] = list(compress(count(), map(lt, spans, repeat(width))))  # noqa: SLF001
    return found


def window_denies(values: Sequence[int], i: int, j: int, k: int, limit: int, width: int,
                  ctx: Context, key: Any) -> bool:
    """Does some window of ``width`` containing the point hold ``limit`` counted values?

    ``[i, j)`` are the values less than ``width`` away from the point on either side and
    ``[i, k)`` those at or before it. A window [s, s + width) holding the point and the run
    ``values[m : m + limit]`` exists exactly when the run itself spans less than ``width``
    and lies within ``[i, j)``.
    """
    if k - i >= limit:
        return True
    if j - i < limit:
        return False
    if key not in ctx._memo:  # noqa: SLF001 - a dense run near i answers without indexing them all
        probe = min(j - limit + 1, i + 64)
        spans = map(sub, values[i + limit - 1 : probe + limit - 1], values[i:probe])
        if next(compress(count(), map(lt, spans, repeat(width))), None) is not None:
            ctx.stats.scanned += probe - i
            return True
    runs = dense_runs(values, limit, width, ctx, key)
    at = bisect_left(runs, i)
    return at < len(runs) and runs[at] <= j - limit


def first_wide(values: list[int], a: int, end: int, p: int, q: int, threshold: int, ctx: Context) -> int:
    """The first k in ``[a, end)`` with ``values[k + p] - values[k + q] >= threshold`` (``end``
    if none), for sorted ``values`` and ``p >= q``.

    Over a block ``[k, b)`` every difference is at most ``values[b - 1 + p] - values[k + q]``,
    so a block below the threshold is skipped in one comparison; a block that is not is
    scanned in C (blocks double either way). Never more than one pass, and a handful of
    comparisons when the values are close together (a dense ledger under a long window).
    """
    k, step = a, 64
    while k < end:
        b = min(end, k + step)
        if values[b - 1 + p] - values[k + q] < threshold:
            ctx.stats.scanned += 1
            k, step = b, step * 2
            continue
        wide = map(ge, map(sub, values[k + p : b + p], values[k + q : b + q]), repeat(threshold))
        found = next(compress(count(k), wide), b)
        ctx.stats.scanned += found - k + 1
        if found < b:
            return found
        k, step = b, step * 2  # blocks keep doubling: O(log n) of them, copies at most 2n
    return end


def next_clear(values: Sequence[int], point: int, limit: int, width: int, ctx: Context, stop: int) -> int:
    """The first value after ``point`` covered by no window holding ``limit`` values.

    The run starting at m denies the open interval ``(values[m + limit - 1] - width,
    values[m] + width)``; both ends grow with m, so the covered stretch from ``point`` is
    found by walking the runs in order, merging while they overlap (stopping past ``stop``).
    """
    m = bisect_right(values, point - width)  # the first run that ends after the point
    current = point
    size = len(values)
    if isinstance(values, list) and m + limit - 1 < size and values[m + limit - 1] - width < point:
        # Runs m + 1, m + 2, ... keep the stretch going while each starts before the last
        # one ends: values[k + limit - 1] - values[k - 1] < 2 * width. Found in C, not a loop.
        first = m + 1
        last = first_wide(values, first, size - limit + 1, limit - 1, -1, 2 * width, ctx)
        # The merge holds only if every run m .. last - 1 is dense (spans less than a window);
        # a run that is not denies nothing, so then the walk below decides.
        if limit == 1 or first_wide(values, m, last, limit - 1, 0, width, ctx) == last:  # a run of 1 spans 0
            return int(values[last - 1]) + width
    while m + limit - 1 < size and values[m + limit - 1] - width < current and current <= stop:
        if values[m + limit - 1] - values[m] < width:  # only a dense run denies anything
            current = max(current, values[m] + width)
        m += 1
        ctx.stats.scanned += 1
    return current if current > point else point + 1


def in_group(contact: Contact, group: str, wanted: object) -> bool:
    """Is the contact in the request's ``for each`` group? A contact with several campaigns
    is in each of theirs (11.3)."""
    value = getattr(contact, group)
    return in_campaign(value, wanted) if group == "campaign" else bool(value == wanted)


def check_cap(rule: CapRule, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    window = rule.window
    if isinstance(window, Rolling):
        return rolling_cap(rule, window, ctx, t, skip)
    if isinstance(window, Calendar):
        return calendar_cap(rule, window, ctx, t, skip)
    return consecutive_cap(rule, window, ctx, t, skip)


def month_cap(rule: CapRule, window: Rolling, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    """A rolling window of months (11.2): a window from s ends at s + W, months added in the
    customer's zone; the busiest window containing t starts at t or at a contact c with
    c <= t < c + W."""
    tz = local_zone(rule, ctx)
    months = window.months
    times, contacts, i, j = select(rule, ctx, t - (months * 31 + 1) * DAY, clock.plus_months(t, months, tz), skip)
    k = bisect_right(times, t, i, j)
    starts = [us for us in times[i:k] if clock.plus_months(us, months, tz) > t] + [t]
    best, best_start = 0, t
    for start in starts:
        end = clock.plus_months(start, months, tz)
        count = bisect_left(times, end, i, j) - bisect_left(times, start, i, j)
        if count > best:
            best, best_start = count, start
    reason = ""
    if ctx.explain:
        reason = count_text(rule, best, ctx) + f" in {window.text} since {format_local(best_start, ctx.tz)}"
    return Finding(best >= rule.limit, held_of(times, contacts, i, j, ctx), reason)


def rolling_cap(rule: CapRule, window: Rolling, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    if window.months:
        return month_cap(rule, window, ctx, t, skip)
    width = window.seconds * clock.SECOND
    times, contacts, i, j = select(rule, ctx, t - width + 1, t + width, skip)
    k = bisect_right(times, t, i, j)  # contacts in [t - W + 1, t] fill the window ending at t
    limit = rule.limit
    held = held_of(times, contacts, i, j, ctx) if ctx.skip else ()
    if k - i >= limit:  # window_denies' two quick answers, without making its memo key
        deny = True
    elif j - i < limit:
        deny = False
    else:
        deny = window_denies(times, i, j, k, limit, width, ctx, ("runs", rule.index, skip, id(times)))
    if not ctx.explain:
        return Finding(deny, held) if held else (DENY if deny else PASS)
    # The busiest window [s, s + W) containing t starts at t or at a contact in (t - W, t].
    best, best_start = 0, t
    ctx.stats.scanned += k - i
    for start in (*times[i:k], t):
        count = bisect_left(times, start + width, i, j) - bisect_left(times, start, i, j)
        if count > best:
            best, best_start = count, start
    first, last = bisect_left(times, best_start, i, j), bisect_left(times, best_start + width, i, j)
    reason = count_text(rule, best, ctx, best_start, best_start + width) + f" in {window.text} since {format_local(best_start, ctx.tz)}"
    if last > first:
        reason += f" ({latest_text(times, contacts, first, last, ctx)})"
    return Finding(deny, held, reason)


def calendar_cap(rule: CapRule, window: Calendar, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    tz = local_zone(rule, ctx)
    day = ctx.local_date(t, tz)
    lo, hi = clock.period_instants(day, window.unit, ctx.policy.week_start, tz)
    times, contacts, i, j = select(rule, ctx, lo, hi, skip)
    reason = ""
    if ctx.explain:
        first, following = clock.period_bounds(day, window.unit, ctx.policy.week_start)
        if window.unit == "week" and ctx.policy.week_start:
            last = following - dt.timedelta(days=1)
            reason = count_text(rule, j - i, ctx, lo, hi) + (
                f" in the week {first.isoformat()} ({first:%A}) to {last.isoformat()}")
        else:
            reason = count_text(rule, j - i, ctx, lo, hi) + f" in the calendar {window.unit} from {first.isoformat()}"
        if j > i:
            reason += f" ({latest_text(times, contacts, i, j, ctx)})"
    deny = j - i >= rule.limit
    if not ctx.skip:
        return Finding(deny, (), reason) if reason else (DENY if deny else PASS)
    return Finding(deny, held_of(times, contacts, i, j, ctx), reason)


class DayNumbers(Sequence[int]):
    """The local date (as an ordinal) of each instant of a sorted list, made on demand.

    A contact's date is the d with ``start_of_date(d) <= at < start_of_date(d + 1)``, so the
    numbers never decrease along the list, even where a zone turns its clocks back over
    midnight.
    """

    __slots__ = ("_times", "_tz", "_days", "_stats")

    def __init__(self, times: list[int], tz: dt.tzinfo, stats: Stats) -> None:
        # the decision's counts, not its context: the context keeps this in its memo, and
        # holding the context back would make every such decision a reference cycle (its
        # index with it) that only the cyclic collector frees
        self._times, self._tz, self._stats = times, tz, stats
        self._days: list[int | None] = [None] * len(times)

    def __len__(self) -> int:
        return len(self._times)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(len(self)))]
        found = self._days[index]
        if found is None:
            self._stats.scanned += 1
            found = self._days[index] = day_number(self._times[index], self._tz)
        return found


def day_number(us: int, tz: dt.tzinfo) -> int:
    """The ordinal of the local date an instant falls in, by the dates' first instants."""
    day = clock.local_date(us, tz).toordinal()
    while us < clock.start_of_day_number(day, tz):
        day -= 1
    while us >= clock.start_of_day_number(day + 1, tz):
        day += 1
    return day


def day_numbers(rule: CapRule, ctx: Context, times: list[int], tz: dt.tzinfo) -> DayNumbers:
    key = ("days", id(times), tz)
    found = ctx._memo.get(key)  # noqa: SLF001
    if found is None:
        found = ctx._memo[key] = DayNumbers(times, tz, ctx.stats)  # noqa: SLF001
    return found


def consecutive_cap(rule: CapRule, window: Consecutive, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    # A run of N local dates is a window of width N on the axis of date numbers: the same
    # question as a rolling window, asked of the contacts' dates. Its cost is two binary
    # searches (a scan of the contacts within reach at worst), whatever N is.
    tz, days = local_zone(rule, ctx), window.days
    d = ctx.local_date(t, tz).toordinal()
    start_of = clock.start_of_day_number  # dates by their ordinals: no date arithmetic
    times, contacts, i, j = select(rule, ctx, start_of(d - days + 1, tz), start_of(d + days, tz), skip)
    numbers: DayNumbers | None = None
    if j - i < rule.limit:  # fewer within reach than the limit: window_denies' quick answer
        deny = False
    else:
        k = bisect_left(times, start_of(d + 1, tz), i, j)
        numbers = day_numbers(rule, ctx, times, tz)
        deny = window_denies(numbers, i, j, k, rule.limit, days, ctx, ("runs", rule.index, skip, id(times), tz))
    held = held_of(times, contacts, i, j, ctx) if ctx.skip else ()
    if not ctx.explain:
        return Finding(deny, held) if held else (DENY if deny else PASS)
    if numbers is None:
        numbers = day_numbers(rule, ctx, times, tz)
    # The busiest run holding today starts on its first possible date or on a contact's date.
    dates = numbers[i:j]
    best, best_first = 0, d - days + 1
    for first in sorted({d - days + 1, *(x for x in dates if x <= d)}):
        count = bisect_right(dates, first + days - 1) - bisect_left(dates, first)
        if count > best:
            best, best_first = count, first
    first_date = dt.date.fromordinal(best_first)
    last = dt.date.fromordinal(best_first + days - 1)
    run = start_of(best_first, tz), start_of(best_first + days, tz)
    reason = count_text(rule, best, ctx, *run) + f" on {first_date.isoformat()} to {last.isoformat()}"
    if j > i:
        reason += f" ({latest_text(times, contacts, i, j, ctx)})"
    return Finding(deny, held, reason)


def bound_cap(rule: CapRule, ctx: Context, t: int, skip: frozenset[int]) -> int | None:
    window = rule.window
    stop = t + HORIZON
    if isinstance(window, Rolling) and window.months:
        tz = local_zone(rule, ctx)
        # contacts after t count too (a planned one in [t, t + W) fills the window from t):
        # the busiest window can first shrink when a contact c leaves, at c + W
        times, _, i, j = select(rule, ctx, t - (window.months * 31 + 1) * DAY,
                                clock.plus_months(t, window.months, tz), skip)
        leaving = [end for end in (clock.plus_months(us, window.months, tz) for us in times[i:j]) if end > t]
        return min(leaving, default=t + 1)
    if isinstance(window, Rolling):
        width = window.seconds * clock.SECOND
        times, _ = sequence(rule, ctx, skip, t - width + 1, stop + 2 * width)
        return next_clear(times, t, rule.limit, width, ctx, stop)
    tz = local_zone(rule, ctx)
    today = ctx.local_date(t, tz)
    if isinstance(window, Calendar):
        return clock.period_instants(today, window.unit, ctx.policy.week_start, tz)[1]
    days = window.days
    times, _ = sequence(rule, ctx, skip, clock.start_of_day_number(today.toordinal() - days, tz),
                        stop + (days + 2) * DAY)
    numbers = day_numbers(rule, ctx, times, tz)
    clear = next_clear(numbers, today.toordinal(), rule.limit, days, ctx, clock.local_date(stop, tz).toordinal())
    return clock.start_of_date(dt.date.fromordinal(clear), tz)


def count_text(rule: CapRule, count: int, ctx: Context, lo: int = 0, hi: int = 0) -> str:
    text = f"{count} of at most {rule.limit} {rule.match.text} contacts"
    if rule.group:
        text += f" of {rule.group} {getattr(ctx.request, rule.group) or '(none)'}"
    if rule.not_counted and hi > lo:
        text += left_out_text(rule, ctx, lo, hi)
    if hi > lo and ctx.policy.has_windows and rule.index in ctx.policy.exempted_by and rule.kind == "cap":
        text += excused_text(rule, ctx, lo, hi)
    if hi > lo and ctx.history.voided:
        text += void_text(rule, ctx, lo, hi)
    if rule.kind == "capacity":
        text += " across all customers" if ctx.loads is not None else " (this customer's ledger only)"
    return text


def left_out_text(rule: CapRule, ctx: Context, lo: int, hi: int) -> str:
    """`` (2 with outcome busy not counted)``: the sent contacts 11.3 leaves out of ``[lo, hi)``."""
    group = rule.group
    wanted = getattr(ctx.request, group) if group is not None else None
    times, contacts = ctx.history.matching(rule.match, ctx.owner, sent_only=True, outcome=rule.not_counted,
                                           group=group, value=wanted)
    i, j = bisect_left(times, lo), bisect_left(times, hi)
    if j == i:
        return ""
    named = ", ".join(sorted({c.outcome or "" for c in contacts[i:j]}))
    return f" ({j - i} with outcome {named} not counted)"


def void_text(rule: CapRule, ctx: Context, lo: int, hi: int) -> str:
    """`` (2 void: c-1, c-2, misdirected)``: void contacts the window would otherwise hold (11.4)."""
    group = rule.group
    wanted = getattr(ctx.request, group) if group is not None else None
    found = [c for c in ctx.history.voided
             if lo <= clock.micros(c.at) < hi and rule.match.matches(c.purpose, c.channel, c.team, ctx.owner)
             and (group is None or in_group(c, group, wanted))]
    if not found:
        return ""
    ids = ", ".join(c.id or "(no id)" for c in sorted(found, key=lambda c: c.at))
    reasons = ", ".join(dict.fromkeys(c.void_reason for c in found if c.void_reason))
    return f" ({len(found)} void: {ids}{', ' + reasons if reasons else ''})"


def excused_text(rule: CapRule, ctx: Context, lo: int, hi: int) -> str:
    """`` (8 placed under exempt "calls with consent" not counted)`` (11.5)."""
    cover = window_cover(rule, ctx)
    if not cover:
        return ""
    group = rule.group
    wanted = getattr(ctx.request, group) if group is not None else None
    times, contacts = ctx.history.matching(rule.match, ctx.owner, group=group, value=wanted, drop=rule.not_counted)
    counts: dict[str, int] = {}
    for k in range(bisect_left(times, lo), bisect_left(times, hi)):
        name = excused(contacts[k], times[k], cover, ctx)
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    return "".join(f' ({n} placed under exempt "{name}" not counted)' for name, n in counts.items())


def latest_text(times: list[int], contacts: Sequence[Contact], i: int, j: int, ctx: Context) -> str:
    """The latest of the contacts at ``[i, j)`` (``i < j``; the first of several at that instant,
    as ``max`` by instant picks it), found by its instant: the others are not made."""
    latest = contacts[bisect_left(times, times[j - 1], i, j)]
    return f"latest {format_local(times[j - 1], ctx.tz)} by {latest.team}"


def held_of(times: list[int], contacts: Sequence[Contact], i: int, j: int, ctx: Context) -> Sequence[Contact]:
    """What a cap's finding holds against the request when some contacts are displaceable
    (``ctx.skip``): the contacts at ``[i, j)``, of which precedence only ever reads those in
    ``ctx.skip``. From columns (a long ledger) only those are made: the history's planned
    contacts, found by their instants as :func:`without` finds them (a window of a long
    ledger would otherwise make every contact in it); the others are left out. Nothing
    without displaceable contacts."""
    if not ctx.skip:
        return ()
    if type(contacts) is not list and isinstance(contacts, LazyContacts):  # (an ABC test costs)
        skip = ctx.skip
        named = [c for c in ctx.history.planned if id(c) in skip]
        if len(named) == len(skip):
            found = set()
            for us in {clock.micros(c.at) for c in named}:
                for k in range(bisect_left(times, us, i, j), bisect_right(times, us, i, j)):
                    if id(contacts[k]) in skip:
                        found.add(k)
            return [contacts[k] for k in sorted(found)]
    return contacts[i:j]


# ---- quiet periods ----------------------------------------------------------------------------


def check_quiet(rule: QuietRule, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    """Quiet when any part is quiet (11.9); the trace names the part."""
    if not rule.parts:
        return quiet_part(rule.period, ctx, t, skip)
    found = [quiet_part(part, ctx, t, skip) for part in rule.parts]
    denying = [f for f in found if f.deny]
    if denying:
        return Finding(True, [c for f in denying for c in f.held], denying[0].reason)
    return Finding(False, (), "; ".join(f.reason for f in found) if ctx.explain else "")


def quiet_part(period: QuietSpec, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    if isinstance(period, AfterTrigger):
        return quiet_after(period, ctx, t, skip)
    moment = ctx.local(t)
    holiday: tuple[str, str] | None = None
    # An isinstance chain, not `match` (a class pattern costs several times an isinstance
    # test on Python 3.11, and this runs at most rule checks); mypy still proves it closed.
    if isinstance(period, ClockRange):
        deny = clock_range_quiet(period, moment)
    elif isinstance(period, DayClock):
        deny = day_clock_quiet(period, ctx, moment)
    elif isinstance(period, DaySet):
        deny = period.quiet(moment.date())
        if not deny and period.holidays:
            holiday = holiday_on(period, ctx, moment.date())
            deny = holiday is not None
    else:
        assert_never(period)
    if not ctx.explain:
        return DENY if deny else PASS
    reason = ""
    if holiday is not None:
        code, name = holiday
        reason = f"{moment.date().isoformat()} is a holiday in {code} ({name})"
    elif isinstance(period, ClockRange) and "(" in ctx.zone_name:
        # a rule's own zone or one of several (11.7, 11.8): say which zone denied
        zone, _, label = ctx.zone_name.partition(" ")
        words = quiet_text(period) if deny else "not " + quiet_text(period)
        reason = f"{moment:%H:%M} in {zone} {label} is {words}" + end_time_words(period, moment, deny)
    else:
        reason = (
            f"local time {moment:%a %Y-%m-%d %H:%M} ({ctx.zone_name}) is "
            + ("inside" if deny else "outside")
            + f" the quiet period ({quiet_text(period)})"
        )
        if isinstance(period, ClockRange):
            reason += end_time_words(period, moment, deny)
    return Finding(deny, (), reason)


def end_time_words(period: ClockRange, moment: dt.datetime, deny: bool) -> str:
    """`` (21:00 is quiet: the end time is not allowed)`` at the end of `outside A-B` (11.15)."""
    if deny and not period.quiet_inside and minute_of_day(moment) == period.end:
        return f" ({moment:%H:%M} is quiet: the end time is not allowed)"
    return ""


def customer_calendar(ctx: Context) -> str | None:
    """The customer's holiday calendar: its region when it has one, else the policy's."""
    policy = ctx.policy
    if policy.holiday_attribute is not None:
        region = ctx.values.get(policy.holiday_attribute)
        if isinstance(region, str) and region:
            return region
    return policy.holiday_code


def holiday_on(days: DaySet, ctx: Context, day: dt.date) -> tuple[str, str] | None:
    """(calendar code, holiday name) when ``day`` is a holiday of one of the set's calendars."""
    from policylang import calendars

    for code in days.holidays:
        code = code if code is not None else customer_calendar(ctx)
        if code is None:
            continue
        name = calendars.holiday(code, day)
        if name is not None:
            return code, name
    return None


def day_quiet(days: DaySet, ctx: Context, day: dt.date) -> bool:
    return days.quiet(day) or (bool(days.holidays) and holiday_on(days, ctx, day) is not None)


def day_clock_quiet(period: DayClock, ctx: Context, wall: dt.datetime) -> bool:
    """``on DAYS outside A-B``: quiet on those dates before A and from B. ``on DAYS between
    A and B`` with A after B runs from A on the named date to B the next date."""
    rng = period.clock
    minute = minute_of_day(wall)
    if not rng.quiet_inside or rng.start < rng.end:
        return day_quiet(period.days, ctx, wall.date()) and rng.quiet(minute)
    # a wrapping `between`: the evening belongs to its own date, the morning to the day before
    if minute >= rng.start:
        return day_quiet(period.days, ctx, wall.date())
    if minute < rng.end:
        return day_quiet(period.days, ctx, wall.date() - dt.timedelta(days=1))
    return False


def clock_range_quiet(period: ClockRange, moment: dt.datetime) -> bool:
    """``period.quiet(minute_of_day(moment))`` by the whole minute: the minute of the day lies
    in [m, m + 1) for the whole minute m, so against the range's whole-minute bounds the
    comparisons are those of m (no float, no calls)."""
    m = moment.hour * 60 + moment.minute
    start, end = period.start, period.end
    inside = start <= m < end if start < end else m >= start or m < end
    return inside == period.quiet_inside


def minute_of_day(moment: dt.datetime) -> float:
    return moment.hour * 60 + moment.minute + (moment.second + moment.microsecond / 1e6) / 60


@functools.lru_cache(maxsize=1024)
def quiet_text(period: ClockRange | DaySet | DayClock) -> str:
    """A compiled quiet period in the trace's words (the one unparser; cached per period)."""
    return unparse.text(period)


def triggers(period: AfterTrigger, ctx: Context, t: int, skip: frozenset[int]) -> list[tuple[int, int, Contact | None]]:
    """(start, end, contact) of each trigger whose quiet stretch [start, end) contains t."""
    # A run of N local dates lasts at most N days plus a daylight-saving hour: N + 2 is safe.
    if period.months:  # a month is at most 31 days (and a daylight-saving hour)
        span = (period.months * 31 + 1) * DAY
    else:
        span = period.seconds * clock.SECOND if period.seconds is not None else ((period.days or 0) + 2) * DAY
    lo = t - span + 1
    found: list[tuple[int, Contact | None]]
    if period.event is not None:
        times = ctx.history.event_times(period.event, ctx.request.campaign if period.group == "campaign" else None)
        i, j = bisect_left(times, lo), bisect_right(times, t)
        if i == j:  # no trigger within reach (the common case): nothing to count or end
            return []
        found = [(us, None) for us in times[i:j]]
    else:
        assert period.trigger is not None
        group = period.group
        wanted = getattr(ctx.request, group) if group is not None else None
        times, contacts = ctx.history.matching(
            period.trigger, ctx.owner, outcome=period.outcomes or period.outcome, group=group, value=wanted
        )
        i, j = bisect_left(times, lo), bisect_right(times, t)
        if i == j:
            return []
        found = [(times[k], contacts[k]) for k in range(i, j) if id(contacts[k]) not in skip]
    if period.count_window is not None:  # 11.12: only entries whose window holds the count trigger
        every = times if period.event is not None else [us for us, c in zip(times, contacts, strict=True)
                                                         if id(c) not in skip]
        found = [(us, c) for us, c in found if count_ending_at(period, every, us, ctx) >= period.count]
    if period.seconds is not None and not period.months:
        # a fixed length: every trigger in (t - span, t] ends after t (quiet_end is start + span)
        return [(start, start + span, contact) for start, contact in found]
    covering = []
    for start, contact in found:
        end = quiet_end(period, start, ctx)
        if start <= t < end:
            covering.append((start, end, contact))
    return covering


def count_ending_at(period: AfterTrigger, times: list[int], x: int, ctx: Context) -> int:
    """Matching entries in the window ending at ``x``, ``x`` included (11.12): rolling
    (x - W, x]; consecutive, the N local dates ending on date(x); calendar, x's period."""
    window = period.count_window
    hi = bisect_right(times, x)
    if isinstance(window, Rolling):
        return hi - bisect_right(times, x - window.seconds * clock.SECOND)
    day = ctx.local_date(x)
    if isinstance(window, Consecutive):
        first = dt.date.fromordinal(day.toordinal() - window.days + 1)
    else:
        assert isinstance(window, Calendar)
        first = clock.period_bounds(day, window.unit, ctx.policy.week_start)[0]
    return hi - bisect_left(times, clock.start_of_date(first, ctx.tz))


def pause_words(period: AfterTrigger, start: int, ctx: Context, times: list[int]) -> str:
    """``3 marketing with outcome refused in 30 days (06-02, 06-15, 06-28)``."""
    n = period.count
    window = period.count_window
    assert window is not None
    k = bisect_right(times, start)
    dates = ", ".join(ctx.local(us).strftime("%m-%d") for us in times[max(0, k - n):k])
    what = period.event or (period.trigger.text if period.trigger is not None else "")
    if period.outcome:
        what += " with outcome " + ", ".join(sorted(period.outcomes)) if period.outcomes else f" with outcome {period.outcome}"
    return f"{n} {what} in {window.text.removeprefix('calendar ')} ({dates})"


def quiet_end(period: AfterTrigger, start: int, ctx: Context) -> int:
    return quiet_end_in(period, start, ctx.tz)


def quiet_end_in(period: AfterTrigger, start: int, tz: dt.tzinfo) -> int:
    """When the quiet stretch a trigger at ``start`` opens ends (exclusive), in zone ``tz``."""
    if period.months:
        return clock.plus_months(start, period.months, tz)
    if period.seconds is not None:
        return start + period.seconds * clock.SECOND
    first = clock.local_date(start, tz).toordinal()
    return clock.start_of_day_number(first + (period.days or 0), tz)


def trigger_times(period: AfterTrigger, ctx: Context) -> list[int]:
    if period.event is not None:
        return ctx.history.event_times(period.event, ctx.request.campaign if period.group == "campaign" else None)
    assert period.trigger is not None
    group = period.group
    wanted = getattr(ctx.request, group) if group is not None else None
    return ctx.history.matching(period.trigger, ctx.owner, outcome=period.outcomes or period.outcome,
                                group=group, value=wanted)[0]


def quiet_after(period: AfterTrigger, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    covering = triggers(period, ctx, t, skip)
    if not ctx.explain:  # the verdict and what it holds, no words (and nothing made for a pass)
        if not covering:
            return PASS
        held = [c for _, _, c in covering if c is not None]
        return Finding(True, held) if held else DENY
    held = [c for _, _, c in covering if c is not None]
    if covering:
        start, end, contact = max(covering, key=lambda item: item[1])
        what = describe(contact, ctx) if contact else f"{period.event} at {format_local(start, ctx.tz)}"
        if period.count_window is not None:
            what = pause_words(period, start, ctx, trigger_times(period, ctx))
        reason = f"quiet {period.text}: {what}; quiet until {format_local(end, ctx.tz)}"
    else:
        reason = f"not {period.text}"
    return Finding(bool(covering), held, reason)


def bound_quiet(rule: QuietRule, ctx: Context, t: int, skip: frozenset[int]) -> int | None:
    """The latest exit of the parts quiet at ``t``: the rule passes only when none is."""
    if not rule.parts:
        return bound_part(rule.period, ctx, t, skip)
    exits = []
    for part in rule.parts:
        if quiet_part(part, ctx, t, skip).deny:
            found = bound_part(part, ctx, t, skip)
            if found is None:
                return None
            exits.append(found)
    return max(exits, default=t + 1)


def bound_part(period: QuietSpec, ctx: Context, t: int, skip: frozenset[int]) -> int | None:
    if isinstance(period, AfterTrigger):
        covering = triggers(period, ctx, t, skip)
        return max((end for _, end, _ in covering), default=t + 1)
    limit = t + HORIZON
    found = wall_exit(period, ctx, t, limit)
    # Still quiet at the horizon: past it, so the search gives up with a note.
    return found if found is not None else limit + 1


EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def wall_exit(period: ClockRange | DaySet | DayClock, ctx: Context, t: int, limit: int) -> int | None:
    """:func:`clock.next_exit` with :func:`wall_tests`' tests, step for step, on integers: a
    wall time is epoch microseconds of the naive local clock, its time of day the remainder
    by a day, so a step makes no datetime (the search asks this at every quiet denial), and
    the offsets come from the context's memo of local times (the re-checks at the instant
    found read the same local time). The same instants as next_exit, tested against it."""
    tz = ctx.tz
    current = t
    offset = ctx.offset(t)
    clock_range = period if isinstance(period, ClockRange) else period.clock if isinstance(period, DayClock) else None
    while current <= limit:
        wall = current + offset
        since = wall % DAY  # microseconds since local midnight; wall - since is that midnight
        if not wall_quiet(period, ctx, wall, since):
            return current
        if clock_range is None:  # quiet days: the next local midnight
            step = DAY
        else:
            # next_clock_boundary: the first of the range's boundaries on this date and the next after the time
            step = next(minute * clock.MINUTE for minute in boundary_minutes(clock_range.start, clock_range.end)
                        if minute * clock.MINUTE > since)
            if isinstance(period, DayClock):
                step = min(step, DAY)
        candidate = wall - since + step - offset
        # stop at an offset change: after a fold the wall clock runs back (as next_exit)
        reach = min(candidate, current + clock.TRANSITION_SCAN)
        if reach <= current:
            raise RuntimeError(f"next_exit made no progress at {clock.instant(current).isoformat()}")
        after = ctx.offset(reach)
        if after != offset:
            change = clock.transition_between(current, reach, tz)
            if change is not None:
                reach, after = change, ctx.offset(change)
        current, offset = reach, after
    return None


def wall_quiet(period: ClockRange | DaySet | DayClock, ctx: Context, wall: int, since: int) -> bool:
    """:func:`wall_tests`' quiet test of the wall time ``wall`` (``since`` its microseconds
    since local midnight). A clock range's minute of the day lies in [m, m + 1) for the
    whole minute m, so against its whole-minute bounds the comparisons are those of m."""
    if isinstance(period, ClockRange):
        start, end = period.start * clock.MINUTE, period.end * clock.MINUTE
        inside = start <= since < end if period.start < period.end else since >= start or since < end
        return inside == period.quiet_inside
    if isinstance(period, DaySet):
        return day_quiet(period, ctx, dt.date.fromordinal(EPOCH_ORDINAL + wall // DAY))
    return day_clock_quiet(period, ctx, clock.wall_datetime(wall))


WallTest = Callable[[dt.datetime], bool]
WallStep = Callable[[dt.datetime], dt.datetime]


def wall_tests(period: ClockRange | DaySet | DayClock, ctx: Context) -> tuple[WallTest, WallStep]:
    """Is a local wall time quiet, and the next wall time at which that can change."""
    # an isinstance chain, not `match`: see quiet_part
    if isinstance(period, ClockRange):
        clock_range = period
        return (lambda wall: clock_range.quiet(minute_of_day(wall)),
                lambda wall: next_clock_boundary(clock_range, wall))
    if isinstance(period, DayClock):
        day_clock = period
        return (lambda wall: day_clock_quiet(day_clock, ctx, wall),
                lambda wall: min(next_clock_boundary(day_clock.clock, wall),
                                 dt.datetime.combine(wall.date() + dt.timedelta(days=1), dt.time())))
    if isinstance(period, DaySet):
        day_set = period
        return (lambda wall: day_quiet(day_set, ctx, wall.date()),
                lambda wall: dt.datetime.combine(wall.date() + dt.timedelta(days=1), dt.time()))
    assert_never(period)


def body_of(rule: AnyRule) -> Body:
    """The function answering a rule's own body (:func:`check_body`'s choice, made once per plan)."""
    match rule:
        case CapRule():
            return check_cap
        case QuietRule():
            return check_quiet
        case ExcludeRule():
            return check_exclude
        case RequireRule():
            return check_require
        case ExclusiveRule():
            return check_exclusive
        case ExemptRule():
            return exempt_body
        case _:
            assert_never(rule)


def exempt_body(rule: AnyRule, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    return PASS  # an exemption only lifts other rules


def check_body(rule: AnyRule, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    """The finding of the rule's own body at ``t`` (its scope already in force)."""
    match rule:
        case CapRule():
            return check_cap(rule, ctx, t, skip)
        case QuietRule():
            return check_quiet(rule, ctx, t, skip)
        case ExcludeRule():
            return check_exclude(rule, ctx, t, skip)
        case RequireRule():
            return check_require(rule, ctx, t, skip)
        case ExclusiveRule():
            return check_exclusive(rule, ctx, t, skip)
        case ExemptRule():
            return PASS  # an exemption only lifts other rules
        case _:
            assert_never(rule)


def next_clock_boundary(period: ClockRange, wall: dt.datetime) -> dt.datetime:
    """The next wall time after ``wall`` at which the clock range starts or ends."""
    # The candidates are this date's and the next date's start and end (whole minutes):
    # the first of them after the wall time, compared in microseconds since midnight.
    since = ((wall.hour * 60 + wall.minute) * 60 + wall.second) * 1_000_000 + wall.microsecond
    for minute in boundary_minutes(period.start, period.end):
        if minute * 60_000_000 > since:
            return dt.datetime.combine(wall.date(), MIDNIGHT) + dt.timedelta(minutes=minute)
    raise AssertionError("the next date's boundaries are after any wall time of this one")


@functools.lru_cache(maxsize=1024)
def boundary_minutes(start: int, end: int) -> tuple[int, ...]:
    """A clock range's start and end on its date and on the next, in order (per range, once)."""
    return tuple(sorted((start, end, start + 1440, end + 1440)))


# ---- conditions: the interpreter of the condition tree ---------------------------------------

COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "is": operator.eq,
    "==": operator.eq,
    "is not": operator.ne,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def holds(condition: Condition, c: Mapping[str, Any], r: Any, t: int | None = None,
          z: dt.tzinfo | None = None) -> bool:
    """Does ``condition`` hold for customer values ``c`` and request ``r`` at ``t`` (epoch µs;
    the request's instant when None) in zone ``z`` (UTC when None)? A comparison with an
    absent value is false, an absent flag is false and an absent set is empty (section 3)."""
    # An isinstance chain, not `match`: on Python 3.11 a class pattern costs several times an
    # isinstance test, and conditions are asked on every decision. mypy narrows the chain the
    # same way, so `assert_never` still proves every node kind has its case.
    if isinstance(condition, FlagIs):
        return c.get(condition.attribute) is True
    if isinstance(condition, Comparison):
        value = c.get(condition.attribute)
        return value is not None and COMPARE[condition.op](value, condition.value.value)
    if isinstance(condition, Membership):
        return (getattr(r, condition.field) in c.get(condition.attribute, ())) != condition.negated
    if isinstance(condition, OneOf):
        value = c.get(condition.attribute)
        return value is not None and ((value in condition.choices) != condition.negated)
    if isinstance(condition, TimeSpec):
        return time_test_holds(condition, c, r, t, z)
    if isinstance(condition, Conjunction):
        return all(holds(op, c, r, t, z) for op in condition.operands)
    if isinstance(condition, Disjunction):
        return any(holds(op, c, r, t, z) for op in condition.operands)
    if isinstance(condition, Negation):
        return not holds(condition.operand, c, r, t, z)
    assert_never(condition)


def time_value(value: Any, tz: dt.tzinfo) -> int | None:
    """An instant or date attribute as epoch µs (a date is the start of that local date)."""
    if isinstance(value, dt.datetime):
        return clock.micros(value)
    if isinstance(value, dt.date):
        return clock.start_of_date(value, tz)
    return None


def time_test_end(test: TimeSpec, start: int, tz: dt.tzinfo) -> int:
    """The instant at which ``within`` stops holding, or ``at least ... ago`` starts."""
    if test.op == "within_days":
        return clock.start_of_day_number(clock.local_date(start, tz).toordinal() + test.days, tz)
    return clock.plus(start, test.seconds, test.months, tz)


def time_test_holds(test: TimeSpec, c: Mapping[str, Any], r: Any, t: int | None = None,
                    z: dt.tzinfo | None = None) -> bool:
    """Does the time test hold at ``t`` (the request's instant when None)? An absent value,
    or one after ``t``, makes every test false."""
    tz = z or clock.UTC
    now = t if t is not None else clock.micros(r.at)
    start = time_value(c.get(test.attribute), tz)
    if start is None or start > now:
        return False
    end = time_test_end(test, start, tz)
    return now < end if test.op != "ago" else end <= now


def time_test_changes(test: TimeSpec, c: Mapping[str, Any], tz: dt.tzinfo) -> tuple[int, ...]:
    """The instants at which a time test can change its truth value for this customer."""
    start = time_value(c.get(test.attribute), tz)
    if start is None:
        return ()
    return (start, time_test_end(test, start, tz))


# ---- exclusions, prerequisites, exclusivity --------------------------------------------------


def check_exclude(rule: ExcludeRule, ctx: Context, t: int = 0, skip: frozenset[int] = frozenset()) -> Finding:
    deny = holds(rule.condition, ctx.values, ctx.request, t, ctx.tz)
    if not ctx.explain:
        return DENY if deny else PASS
    return Finding(deny, (), exclude_reason(rule, ctx, t, deny))


def exclude_reason(rule: ExcludeRule, ctx: Context, t: int, true: bool) -> str:
    """``COND is true (facts)``; a time test that made the condition true is told in its
    own words (11.2): ``customer.A 2026-04-02 15:10 is within 10 days (until ...)``."""
    node = rule.condition
    if rule.time_tests and true:
        parts = node.operands if isinstance(node, Disjunction) else (node,)
        for part in parts:
            if isinstance(part, TimeSpec) and time_holds(part, ctx, t):
                return time_sentence(part, ctx)
    return f"{rule.condition_text} is {'true' if true else 'false'} ({condition_facts(rule.attributes, ctx, t)})"


def time_holds(test: TimeSpec, ctx: Context, t: int) -> bool:
    return time_test_holds(test, ctx.values, ctx.request, t, ctx.tz)


def time_sentence(test: TimeSpec, ctx: Context) -> str:
    """``customer.A 2026-04-02 15:10 is within 10 days (until 2026-04-12 15:10)``."""
    changes = time_test_changes(test, ctx.values, ctx.tz)
    if not changes:
        return f"customer.{test.attribute} is missing"
    start, end = changes
    words = unparse.text(test).removeprefix(f"customer.{test.attribute} ")
    when = format_local(start, ctx.tz)
    if test.op == "ago":
        return f"customer.{test.attribute} {when} is {words} (since {format_local(end, ctx.tz)})"
    return f"customer.{test.attribute} {when} is {words} (until {format_local(end, ctx.tz)})"


def attribute_fact(name: str, values: Mapping[str, Any], tz: dt.tzinfo = dt.timezone.utc) -> str:
    value = values.get(name)
    if value is None:
        return f"customer.{name} is missing"
    if isinstance(value, bool):
        return f"customer.{name} = {'true' if value else 'false'}"
    if isinstance(value, (set, frozenset)):
        return f"customer.{name} = ({', '.join(sorted(map(str, value)))})"
    if isinstance(value, float) and value.is_integer():
        return f"customer.{name} = {int(value)}"
    if isinstance(value, dt.datetime):
        return f"customer.{name} = {format_local(clock.micros(value), tz)}"
    return f"customer.{name} = {value}"


def require_times(rule: RequireRule, ctx: Context) -> tuple[list[int], Sequence[Contact]]:
    return ctx.history.matching(rule.prerequisite, ctx.owner, sent_only=True, outcome=rule.outcomes or rule.outcome)


def require_reach(rule: RequireRule, ctx: Context, times: list[int], t: int) -> int:
    """How many prerequisites (in time order) are at least ``at_least`` before ``t``: those with
    p + at_least <= t (months added to p, 11.2; p + N months never decreases as p grows)."""
    if rule.at_least_months:
        months = rule.at_least_months
        return bisect_right(times, t, key=lambda p: clock.plus_months(p, months, ctx.tz))
    return bisect_right(times, t - rule.at_least * clock.SECOND)


def check_require_months(rule: RequireRule, ctx: Context, t: int) -> Finding:
    """``require`` with a length in months (11.2): a prerequisite p with p + at_least <= t and,
    with `within`, t <= p + within (both ends kept, as section 5 says); months are added to p."""
    times, contacts = require_times(rule, ctx)
    j = require_reach(rule, ctx, times, t)
    found = j > 0 and (rule.within is None or clock.plus(times[j - 1], rule.within, rule.within_months, ctx.tz) >= t)
    reason = ""
    if ctx.explain:
        at_least = month_words(rule.at_least_months) if rule.at_least_months else format_span(rule.at_least * clock.SECOND)
        span = f"at least {at_least} before {format_local(t, ctx.tz)}"
        if rule.within is not None:
            within = month_words(rule.within_months) if rule.within_months else format_span(rule.within * clock.SECOND)
            span += f" and within {within}"
        named = ", ".join(sorted(rule.outcomes)) if rule.outcomes else rule.outcome
        wanted = rule.prerequisite.text + (f" with outcome {named}" if named else "")
        reason = f"{describe(contacts[j - 1], ctx)} is {span}" if found else f"no sent {wanted} {span}"
    return Finding(not found, (), reason)


def check_require(rule: RequireRule, ctx: Context, t: int, skip: frozenset[int] = frozenset()) -> Finding:
    if rule.at_least_months or rule.within_months:
        return check_require_months(rule, ctx, t)
    times, contacts = require_times(rule, ctx)
    hi = t - rule.at_least * clock.SECOND
    lo = t - rule.within * clock.SECOND if rule.within is not None else None
    j = bisect_right(times, hi)
    found = j > 0 and (lo is None or times[j - 1] >= lo)
    reason = ""
    if ctx.explain:
        span = "between " + (format_local(lo, ctx.tz) if lo is not None else "any time") + f" and {format_local(hi, ctx.tz)}"
        named = ", ".join(sorted(rule.outcomes)) if rule.outcomes else rule.outcome
        wanted = rule.prerequisite.text + (f" with outcome {named}" if named else "")
        reason = f"{describe(contacts[j - 1], ctx)} is {span}" if found else f"no sent {wanted} {span}"
    return Finding(not found, (), reason)


def bound_require(rule: RequireRule, ctx: Context, t: int) -> int | None:
    times, _ = require_times(rule, ctx)
    # A prerequisite p counts from p + at_least; one sent later than t - at_least will.
    i = require_reach(rule, ctx, times, t)
    if i >= len(times):
        return NEVER
    return clock.plus(times[i], rule.at_least, rule.at_least_months, ctx.tz)


def rivals(rule: ExclusiveRule, ctx: Context, t: int, skip: frozenset[int], *,
           first_only: bool = False) -> tuple[list[int], Sequence[Contact], list[int]]:
    """The rule's matching contacts (instants and contacts, time order) and the positions of
    those of other teams less than the distance away, minus ``skip`` (or just the first).

    From columns (a long ledger) the teams are read from the team column and ``skip`` is
    told from the contacts already made (``skip`` holds ids of made contacts), so no contact
    is made here: a window of a long ledger holds many rivals and a caller needs few of them.
    """
    times, contacts = ctx.history.matching(rule.match, ctx.owner)
    if rule.months:
        # 11.2: months are added to the earlier instant: a contact c before t is a rival while
        # t < c + N months (c + N months never decreases as c grows), one after t while c < t + N months
        months = rule.months
        lo = bisect_right(times, t, key=lambda c: clock.plus_months(c, months, ctx.tz))
        hi = bisect_left(times, clock.plus_months(t, months, ctx.tz))
    else:
        distance = rule.distance * clock.SECOND
        lo, hi = bisect_left(times, t - distance + 1), bisect_left(times, t + distance)
    team = ctx.request.team
    if type(contacts) is list and hi - lo <= SHORT:
        # records, a few within reach (a customer's ledger): a plain loop; the C chains
        # below cost more to set up than they save on a handful
        if first_only:
            for k in range(lo, hi):
                contact = contacts[k]
                if contact.team != team and id(contact) not in skip:
                    return times, contacts, [k]
            return times, contacts, []
        return times, contacts, [k for k in range(lo, hi) if contacts[k].team != team and id(contacts[k]) not in skip]
    lazy = contacts if type(contacts) is not list and isinstance(contacts, LazyContacts) else None
    teams = lazy.field_between("team", lo, hi) if lazy is not None else None
    made = lazy.made_between(lo, hi) if lazy is not None and teams is not None and skip else None
    if teams is not None and (made is not None or not skip):
        found = list(compress(range(lo, hi), map(ne, teams, repeat(team))))
        if skip:
            assert made is not None
            found = [k for k in found if (c := made[k - lo]) is None or id(c) not in skip]
        return times, contacts, found[:1] if first_only else found
    if not skip and type(contacts) is list:  # records, nothing displaceable: the teams read in C
        found = list(compress(range(lo, hi), map(ne, map(TEAM, contacts[lo:hi]), repeat(team))))
        return times, contacts, found[:1] if first_only else found
    # records: contacts are made (from columns) only as far as the scan goes
    pairs = zip(range(lo, hi), between(contacts, lo, hi), strict=True)
    if first_only:
        first = next((k for k, c in pairs if c.team != team and id(c) not in skip), None)
        return times, contacts, [first] if first is not None else []
    return times, contacts, [k for k, c in pairs if c.team != team and id(c) not in skip]


TEAM = attrgetter("team")
SHORT = 16  # up to this many contacts a plain Python loop beats setting up compress/map chains


def check_exclusive(rule: ExclusiveRule, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    times, contacts, found = rivals(rule, ctx, t, skip, first_only=not (ctx.explain or ctx.skip))
    reason = ""
    if ctx.explain:
        if found:
            k = min(found, key=lambda k: abs(times[k] - t))
            us, contact = times[k], contacts[k]
            side = "before" if us <= t else "after"
            reason = f"{describe(contact, ctx)} is {format_span(abs(t - us))} {side}, closer than {exclusive_words(rule)}"
        else:
            reason = f"no {rule.match.text} contact by another team within {exclusive_words(rule)}"
    if not ctx.skip and not reason:  # nothing for precedence to read, no words
        return DENY if found else PASS
    # what the denial holds against the request: precedence reads only the displaceable
    # contacts among the rivals (see held_of), so only those are made from columns
    return Finding(bool(found), rivals_held(contacts, found, ctx), reason)


def rivals_held(contacts: Sequence[Contact], found: list[int], ctx: Context) -> Sequence[Contact]:
    """The rivals at positions ``found`` that precedence may read: every one from records,
    from columns only the displaceable ones (made already: ``ctx.skip`` holds their ids)."""
    if not found:
        return []
    if (type(contacts) is not list and isinstance(contacts, LazyContacts)
            and (made := contacts.made_between(found[0], found[-1] + 1)) is not None):
        skip, first = ctx.skip, found[0]
        return [c for k in found if (c := made[k - first]) is not None and id(c) in skip]
    return [contacts[k] for k in found]


def bound_exclusive(rule: ExclusiveRule, ctx: Context, t: int, skip: frozenset[int]) -> int | None:
    times, _, found = rivals(rule, ctx, t, skip)
    if not found:
        return t + 1
    # us + distance never decreases as us grows (months too, 11.2): the latest rival's end is the latest end
    # (rivals come in time order: the last is the latest)
    return clock.plus(times[found[-1]], rule.distance, rule.months, ctx.tz)


def exclusive_words(rule: ExclusiveRule) -> str:
    return month_words(rule.months) if rule.months else format_span(rule.distance * clock.SECOND)


# ---- words ---------------------------------------------------------------------------------


def describe(contact: Contact, ctx: Context) -> str:
    """``marketing phone by private_banking at 2026-11-23 15:00 (planned)`` in local time."""
    text = f"{contact.purpose} {contact.channel} by {contact.team} at {format_local(clock.micros(contact.at), ctx.tz)}"
    if contact.status != "sent":
        text += f" ({contact.status})"
    if contact.outcome:
        text += f" with outcome {contact.outcome}"
    return text


def lifts_text(rule: ExemptRule) -> str:
    lifted = sorted(rule.kinds) + [f'"{n}"' for n in sorted(rule.rule_names)]
    return "lifts " + ", ".join(lifted) + " for this request"


# ---- stretches and windows, for front ends that draw them -------------------------------------

Stretch = tuple[AnyRule, dt.datetime, dt.datetime]  # a rule and a span [start, end) of instants


def quiet_stretches(policy: Policy, values: Mapping[str, Any], ledger: History | Iterable[Entry],
                    start: dt.datetime, end: dt.datetime) -> list[Stretch]:
    """Every stretch of ``[start, end)`` in which a quiet rule is quiet for this customer.

    Clock-time quiet hours and quiet days come from the same local-time tests the decisions
    use (daylight-saving changes included); a ``within D after`` rule gives one stretch per
    trigger in the ledger (its event, or each counted matching contact with the outcome; with
    ``for each``, every group's triggers, since no request picks one), from the trigger to the
    end the decisions use. Spans are clipped to ``[start, end)``, in rule then time order.
    """
    history = ledger if isinstance(ledger, History) else History(list(ledger))
    tz = customer_tz(policy, values)
    owner = values.get(policy.owner_attribute) if policy.owner_attribute else None
    # the day tests read the customer (holidays by region), not a request: any shape will do
    ctx = Context(policy, values, tz, str(getattr(tz, "key", "UTC")), owner,
                  Request("", "", "", start), history, False, None)
    lo, hi = clock.micros(start), clock.micros(end)
    out: list[Stretch] = []
    for rule in policy.rules:
        if not isinstance(rule, QuietRule):
            continue
        period = rule.period
        spans: list[tuple[int, int]] = []
        if isinstance(period, AfterTrigger):
            if period.event is not None:
                opened = list(history.event_times(period.event))
            else:
                assert period.trigger is not None
                opened = list(history.matching(period.trigger, owner, outcome=period.outcome)[0])
            spans = [(us, quiet_end_in(period, us, tz)) for us in opened]
        else:
            quiet, boundary = wall_tests(period, ctx)

            def loud(wall: dt.datetime, quiet: WallTest = quiet) -> bool:
                return not quiet(wall)

            current = lo
            while current < hi:
                enter = clock.next_exit(current, tz, loud, boundary, hi)  # the next quiet instant
                if enter is None or enter >= hi:
                    break
                leave = clock.next_exit(enter, tz, quiet, boundary, hi)
                stop = hi if leave is None else leave
                spans.append((enter, stop))
                current = stop
        for a, b in sorted(spans):
            a, b = max(a, lo), min(b, hi)
            if a < b:
                out.append((rule, clock.instant(a), clock.instant(b)))
    return out


def window_spans(policy: Policy, values: Mapping[str, Any], at: dt.datetime) -> list[Stretch]:
    """For each cap and capacity, the span of instants whose contacts its window counts
    against a request at ``at``: ``(at - W, at]`` for a rolling window (the window ending
    at the request), the run of N local dates ending on the request's date, or the calendar
    period holding it (capacity in the policy's zone). Spans are ``[start, end)``."""
    tz = customer_tz(policy, values)
    t = clock.micros(at)
    out: list[Stretch] = []
    for rule in policy.rules:
        if not isinstance(rule, CapRule):
            continue
        window = rule.window
        zone = clock.zone(policy.timezone) if rule.kind == "capacity" else tz
        today = clock.local_date(t, zone)
        if isinstance(window, Rolling):
            lo, hi = t - window.seconds * clock.SECOND + 1, t + 1
        elif isinstance(window, Consecutive):
            lo = clock.start_of_date(today - dt.timedelta(days=window.days - 1), zone)
            hi = clock.start_of_date(today + dt.timedelta(days=1), zone)
        else:
            first, following = clock.period_bounds(today, window.unit)
            lo, hi = clock.start_of_date(first, zone), clock.start_of_date(following, zone)
        out.append((rule, clock.instant(lo), clock.instant(hi)))
    return out

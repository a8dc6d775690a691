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
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import compress, count, repeat
from operator import ge, lt, sub
from typing import Any, Protocol

import attrs

from policylang import clock
from policylang.clock import DAY, format_local, format_span
from policylang.decision import Decision, TraceEntry
from policylang.history import History
from policylang.records import Contact, Customer, Entry, Request
from policylang.rules import (
    AfterTrigger,
    AnyRule,
    Calendar,
    CapRule,
    ClockRange,
    Consecutive,
    DaySet,
    ExcludeRule,
    ExclusiveRule,
    ExemptRule,
    Policy,
    QuietRule,
    RequireRule,
    Rolling,
)

HORIZON = 400 * DAY
NEVER = None


@attrs.define(slots=True)
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


class Loads(Protocol):
    """Where ``capacity`` rules read every customer's contacts (the shared ledger)."""

    def contacts(self, rule: CapRule, start: dt.datetime, end: dt.datetime) -> Iterable[Contact]:
        """Counted contacts of all customers matching ``rule.match`` in ``[start, end)``."""
        ...


@attrs.frozen(slots=True)
class Finding:
    """One rule's answer at one instant: deny or not, the contacts it holds against the
    request (for displacement), and the facts for the trace."""

    deny: bool
    held: Sequence[Contact] = ()
    reason: str = ""


PASS = Finding(False)
DENY = Finding(True)


@attrs.define(slots=True)
class Context:
    """Everything a rule check needs about one request."""

    policy: Policy
    values: Mapping[str, Any]
    tz: dt.tzinfo
    zone_name: str
    owner: str | None
    request: Request
    history: History
    explain: bool
    loads: Loads | None
    skip: frozenset[int] = frozenset()  # ids of planned contacts that precedence displaces
    stats: Stats = attrs.field(factory=Stats)
    prefetch: int = 0  # while searching: how far past a range capacity loads are read at once
    _local: dict[tuple[int, dt.tzinfo], dt.datetime] = attrs.field(factory=dict)
    # Per-rule indexes built at most once per decision (see :func:`sequence`, :func:`dense`).
    _memo: dict[Any, Any] = attrs.field(factory=dict)

    def local(self, us: int, tz: dt.tzinfo | None = None) -> dt.datetime:
        """Local time of an instant, memoised: several rules ask about the same instant."""
        key = (us, tz or self.tz)
        found = self._local.get(key)
        if found is None:
            found = self._local[key] = clock.local(us, key[1])
        return found

    def local_date(self, us: int, tz: dt.tzinfo | None = None) -> dt.date:
        return self.local(us, tz).date()


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

    ``customer`` is a validated :class:`Customer` or a mapping of typed attribute values;
    ``request`` and each ledger entry are records or mappings of their section 10 JSON
    fields, validated as JSON input is (the same :class:`InputError`).
    ``loads`` feeds ``capacity`` rules with every customer's contacts; without it a
    capacity rule counts this customer's ledger only. ``stats`` counts the work done
    (:class:`Stats`); ``search=False`` leaves ``next_allowed_at`` of a denial empty (a
    store deciding under its write lock searches after releasing it). A decision's work is bounded by the ledger's size and the number of
    rule boundaries within the 400-day horizon, never by the length of a window.
    """
    values = customer.values if isinstance(customer, Customer) else checked_values(policy, customer)
    if not isinstance(request, Request) or not isinstance(ledger, History):
        from policylang import ingest  # plain mappings are validated like JSON input

        request = ingest.request_of(policy, request)
        ledger = ingest.history_of(policy, ledger)
    history = ledger
    zone_name = customer_zone(policy, values)
    owner = values.get(policy.owner_attribute) if policy.owner_attribute else None
    ctx = Context(policy, values, clock.zone(zone_name), zone_name or "UTC", owner, request,
                  history, explain, loads)
    if stats is not None:
        ctx.stats = stats
    ctx.skip = displaceable(ctx)
    plan = rule_plan(policy, request, owner)
    t = clock.micros(request.at)
    results: dict[int, Judgement] = {}
    denying: list[AnyRule] = []
    for position, rule in plan.checked:
        judgement = results[position] = judge(rule, ctx, t)
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
        held = {id(c) for _, _, shown in results.values() for c in shown}
        displaced = tuple(c for c in history.planned if id(c) in held) if held else ()
    trace: tuple[TraceEntry, ...] = ()
    if explain:
        trace = tuple(
            fixed or TraceEntry(rule.name, rule.kind, *results[position][:2])
            for position, ((rule, _, _), fixed) in enumerate(zip(plan.entries, plan.fixed_trace, strict=True))
        )
    return Decision(
        request=request,
        allowed=not denying,
        denied_by=tuple(rule.name for rule in denying),
        displaces=displaced,
        next_allowed_at=clock.instant(next_at) if next_at is not None else None,
        trace=trace,
        notes=tuple(notes),
    )


def checked_values(policy: Policy, customer: Mapping[str, Any]) -> Mapping[str, Any]:
    """A plain mapping checked against the policy's customer declarations (section 3).

    Raises InputError for an unknown attribute or a value of the wrong type, so a bad
    record never reaches a comparison. Pass a :class:`Customer` to validate once.
    """
    from policylang.inputs import customer_from_json, where

    return customer_from_json(policy, dict(customer), where("<customer>")).values


def customer_zone(policy: Policy, values: Mapping[str, Any]) -> str | None:
    """The customer's ``timezone`` attribute, else the policy's zone, else None (UTC)."""
    spec = policy.attributes.get("timezone")
    if spec is not None and spec.kind == "zone":
        zone = values.get("timezone")
        if isinstance(zone, str) and zone:
            return zone
    return policy.timezone


def displaceable(ctx: Context) -> frozenset[int]:
    """Planned contacts of teams ranked strictly below the requester."""
    history = ctx.history
    if not history.has_planned or not ctx.policy.precedence:
        return frozenset()
    policy, owner = ctx.policy, ctx.owner
    mine = policy.rank(ctx.request.team, owner)
    return frozenset(id(c) for c in history.planned if policy.rank(c.team, owner) > mine)


# ---- which rules apply ---------------------------------------------------------------------

Judgement = tuple[str, str, Sequence[Contact]]  # verdict, reason, displaced contacts


@attrs.frozen(slots=True)
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


def rule_plan(policy: Policy, request: Request, owner: str | None) -> Plan:
    """The plan for this request's shape; cached on the policy."""
    is_owner = owner is not None and request.team == owner
    key = ("plan", request.purpose, request.channel, request.team, is_owner)
    cache: dict[Any, Any] = policy._index  # noqa: SLF001 - the policy's own memo table
    plan = cache.get(key)
    if plan is None:
        plan = cache[key] = build_plan(policy, request, is_owner)
    return plan


def build_plan(policy: Policy, request: Request, is_owner: bool) -> Plan:
    subject = set(policy.subject_rules(request.purpose, request.channel, request.team, is_owner))
    entries = []
    for rule in policy.rules:
        lifter = next(
            (policy.rules[i].name for i in policy.exempted_by.get(rule.index, ()) if i in subject), ""
        )
        if rule.index not in subject:
            entries.append((rule, "skip", ""))
        elif isinstance(rule, ExemptRule):
            entries.append((rule, "lifter", ""))
        elif lifter:
            entries.append((rule, "exempt", lifter))
        else:
            entries.append((rule, "check", ""))
    checked = tuple((i, rule) for i, (rule, status, _) in enumerate(entries) if status == "check")
    timed = tuple(rule for _, rule in checked if not isinstance(rule, ExcludeRule))
    shape = f"{request.purpose} {request.channel} by {request.team}"
    fixed = tuple(fixed_trace_entry(rule, status, lifter, shape) for rule, status, lifter in entries)
    return Plan(tuple(entries), checked, timed, fixed)


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


def judge(rule: AnyRule, ctx: Context, t: int) -> Judgement:
    """(verdict, reason, displaced contacts) for one rule to check."""
    finding, displaced = check_with_precedence(rule, ctx, t)
    if finding.deny:
        return "deny", finding.reason, ()
    reason = finding.reason
    if displaced and ctx.explain:
        reason += "; displaces " + ", ".join(describe(c, ctx) for c in displaced)
    return "pass", reason, displaced


def check_with_precedence(rule: AnyRule, ctx: Context, t: int) -> tuple[Finding, Sequence[Contact]]:
    """Check the rule; if it denies, check again without displaceable planned contacts."""
    full = check(rule, ctx, t, frozenset())
    if not full.deny or not ctx.skip or rule.kind not in ("cap", "quiet", "exclusive"):
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
    ctx.stats.checks += 1
    return CHECKS[type(rule)](rule, ctx, t, skip)


def bound(rule: AnyRule, ctx: Context, t: int) -> int | None:
    """The earliest instant after ``t`` at which a denying rule could pass; None if never.

    Never later than the rule's true next pass, so jumping to the largest bound of all
    denying rules skips no allowed instant.
    """
    ctx.stats.bounds += 1
    skip = ctx.skip if rule.kind != "capacity" else frozenset()
    if isinstance(rule, CapRule):
        return bound_cap(rule, ctx, t, skip)
    if isinstance(rule, QuietRule):
        return bound_quiet(rule, ctx, t, skip)
    if isinstance(rule, RequireRule):
        return bound_require(rule, ctx, t)
    if isinstance(rule, ExclusiveRule):
        return bound_exclusive(rule, ctx, t, skip)
    return NEVER


def next_allowed(ctx: Context, plan: Plan, t: int, denying: list[AnyRule], notes: list[str]) -> int | None:
    """The earliest instant at or after ``t`` at which the request is allowed, or None.

    ``denying`` are the rules that deny at ``t``. Exclusions do not change with time, so
    one of them denying means no wait helps; the others are re-checked at each jump.
    """
    limit = t + HORIZON
    current = t
    # Each bound is the rule's own next pass, so each jump reaches an instant where some
    # rule's verdict changes: the jumps are bounded by the rules' boundaries within the
    # horizon (contacts, period starts, quiet edges), never by the distance covered.
    ctx.prefetch = HORIZON + 2 * DAY
    while True:
        ctx.stats.jumps += 1
        bounds = [bound(r, ctx, current) for r in denying]
        if any(b is None for b in bounds):
            return None
        current = max(b for b in bounds if b is not None)
        if current > limit:
            break
        denying = [r for r in plan.timed if check_with_precedence(r, ctx, current)[0].deny]
        if not denying:
            return current
    notes.append(
        f"no allowed time found within {HORIZON // DAY} days of the request; next_allowed_at is left empty"
    )
    return None


# ---- counting contacts ---------------------------------------------------------------------

Selection = tuple[list[int], Sequence[Contact], int, int]  # times, contacts, range [i, j)
Sequence_ = tuple[list[int], Sequence[Contact]]


def sequence(rule: CapRule, ctx: Context, skip: frozenset[int], lo: int, hi: int) -> Sequence_:
    """Every counted contact the rule counts for this request, in time order, minus ``skip``.

    Holds at least the contacts in ``[lo, hi)``. Built at most once per decision and rule
    (capacity loads are read again only for a range outside what was read), so each check
    is binary searches over it and never a scan.
    """
    if rule.kind == "capacity" and ctx.loads is not None:
        key = ("loads", rule.index)
        found = ctx._memo.get(key)  # noqa: SLF001 - the context's own memo
        if found is None or not (found[0] <= lo and hi <= found[1]):
            if found is not None:
                lo = min(lo, found[0])
            hi = max(hi, lo + ctx.prefetch, found[1] if found is not None else hi)
            loaded = ctx.loads.contacts(rule, clock.instant(lo), clock.instant(hi))
            pairs = sorted(((clock.micros(c.at), c) for c in loaded if c.counted), key=lambda p: p[0])
            group = rule.group
            wanted = getattr(ctx.request, group) if group is not None else None
            kept = [p for p in pairs if lo <= p[0] < hi and (group is None or getattr(p[1], group) == wanted)]
            ctx.stats.scanned += len(pairs)
            found = ctx._memo[key] = (lo, hi, [us for us, _ in kept], [c for _, c in kept])  # noqa: SLF001
        times, contacts = found[2], found[3]
    else:
        group = rule.group
        wanted = getattr(ctx.request, group) if group is not None else None
        times, contacts = ctx.history.matching(rule.match, ctx.owner, group=group, value=wanted)
    if not skip:
        return times, contacts
    key2 = ("skip", rule.index, skip, id(times))
    hit = ctx._memo.get(key2)  # noqa: SLF001
    if hit is None:
        kept_at = [k for k in range(len(times)) if id(contacts[k]) not in skip]
        ctx.stats.scanned += len(times)
        hit = ctx._memo[key2] = ([times[k] for k in kept_at], [contacts[k] for k in kept_at])  # noqa: SLF001
    return hit


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
    runs = dense_runs(values, limit, width, ctx, key)
    at = bisect_left(runs, i)
    return at < len(runs) and runs[at] <= j - limit


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
        ends, starts = values[first + limit - 1 :], values[first - 1 : size - limit]
        gaps = map(sub, ends, starts)
        last = next(compress(count(first), map(ge, gaps, repeat(2 * width))), first + len(ends))
        ctx.stats.scanned += last - m
        return int(values[last - 1]) + width
    while m + limit - 1 < size and values[m + limit - 1] - width < current and current <= stop:
        current = max(current, values[m] + width)
        m += 1
        ctx.stats.scanned += 1
    return current if current > point else point + 1


def period_zone(rule: CapRule, ctx: Context) -> dt.tzinfo:
    """Customer time, except capacity (all customers): the policy's zone."""
    return clock.zone(ctx.policy.timezone) if rule.kind == "capacity" else ctx.tz


def check_cap(rule: CapRule, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    window = rule.window
    if isinstance(window, Rolling):
        return rolling_cap(rule, window, ctx, t, skip)
    if isinstance(window, Calendar):
        return calendar_cap(rule, window, ctx, t, skip)
    return consecutive_cap(rule, window, ctx, t, skip)


def rolling_cap(rule: CapRule, window: Rolling, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    width = window.seconds * clock.SECOND
    times, contacts, i, j = select(rule, ctx, t - width + 1, t + width, skip)
    k = bisect_right(times, t, i, j)  # contacts in [t - W + 1, t] fill the window ending at t
    limit = rule.limit
    held = contacts[i:j] if ctx.skip else ()
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
    inside = contacts[bisect_left(times, best_start, i, j) : bisect_left(times, best_start + width, i, j)]
    reason = count_text(rule, best, ctx) + f" in {window.text} since {format_local(best_start, ctx.tz)}"
    if inside:
        reason += f" ({latest_text(inside, ctx)})"
    return Finding(deny, held, reason)


def calendar_cap(rule: CapRule, window: Calendar, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    tz = period_zone(rule, ctx)
    first, following = clock.period_bounds(ctx.local_date(t, tz), window.unit)
    lo, hi = clock.start_of_date(first, tz), clock.start_of_date(following, tz)
    times, contacts, i, j = select(rule, ctx, lo, hi, skip)
    reason = ""
    if ctx.explain:
        reason = count_text(rule, j - i, ctx) + f" in the calendar {window.unit} from {first.isoformat()}"
        if j > i:
            reason += f" ({latest_text(contacts[i:j], ctx)})"
    return Finding(j - i >= rule.limit, contacts[i:j] if ctx.skip else (), reason)


class DayNumbers(Sequence[int]):
    """The local date (as an ordinal) of each instant of a sorted list, made on demand.

    A contact's date is the d with ``start_of_date(d) <= at < start_of_date(d + 1)``, so the
    numbers never decrease along the list, even where a zone turns its clocks back over
    midnight.
    """

    __slots__ = ("_times", "_tz", "_days", "_ctx")

    def __init__(self, times: list[int], tz: dt.tzinfo, ctx: Context) -> None:
        self._times, self._tz, self._ctx = times, tz, ctx
        self._days: list[int | None] = [None] * len(times)

    def __len__(self) -> int:
        return len(self._times)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(len(self)))]
        found = self._days[index]
        if found is None:
            self._ctx.stats.scanned += 1
            found = self._days[index] = day_number(self._times[index], self._tz)
        return found


def day_number(us: int, tz: dt.tzinfo) -> int:
    """The ordinal of the local date an instant falls in, by the dates' first instants."""
    day = clock.local_date(us, tz)
    while us < clock.start_of_date(day, tz):
        day -= dt.timedelta(days=1)
    while us >= clock.start_of_date(day + dt.timedelta(days=1), tz):
        day += dt.timedelta(days=1)
    return day.toordinal()


def day_numbers(rule: CapRule, ctx: Context, times: list[int], tz: dt.tzinfo) -> DayNumbers:
    key = ("days", id(times), tz)
    found = ctx._memo.get(key)  # noqa: SLF001
    if found is None:
        found = ctx._memo[key] = DayNumbers(times, tz, ctx)  # noqa: SLF001
    return found


def consecutive_cap(rule: CapRule, window: Consecutive, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    # A run of N local dates is a window of width N on the axis of date numbers: the same
    # question as a rolling window, asked of the contacts' dates. Its cost is two binary
    # searches (a scan of the contacts within reach at worst), whatever N is.
    tz, days = period_zone(rule, ctx), window.days
    today = ctx.local_date(t, tz)
    d = today.toordinal()
    lo = clock.start_of_date(today - dt.timedelta(days=days - 1), tz)
    times, contacts, i, j = select(rule, ctx, lo, clock.start_of_date(today + dt.timedelta(days=days), tz), skip)
    k = bisect_left(times, clock.start_of_date(today + dt.timedelta(days=1), tz), i, j)
    numbers = day_numbers(rule, ctx, times, tz)
    deny = window_denies(numbers, i, j, k, rule.limit, days, ctx, ("runs", rule.index, skip, id(times)))
    held = contacts[i:j] if ctx.skip else ()
    if not ctx.explain:
        return Finding(deny, held) if held else (DENY if deny else PASS)
    # The busiest run holding today starts on its first possible date or on a contact's date.
    dates = numbers[i:j]
    best, best_first = 0, d - days + 1
    for first in sorted({d - days + 1, *(x for x in dates if x <= d)}):
        count = bisect_right(dates, first + days - 1) - bisect_left(dates, first)
        if count > best:
            best, best_first = count, first
    first_date = dt.date.fromordinal(best_first)
    last = first_date + dt.timedelta(days=days - 1)
    reason = count_text(rule, best, ctx) + f" on {first_date.isoformat()} to {last.isoformat()}"
    if j > i:
        reason += f" ({latest_text(contacts[i:j], ctx)})"
    return Finding(deny, held, reason)


def bound_cap(rule: CapRule, ctx: Context, t: int, skip: frozenset[int]) -> int | None:
    window = rule.window
    stop = t + HORIZON
    if isinstance(window, Rolling):
        width = window.seconds * clock.SECOND
        times, _ = sequence(rule, ctx, skip, t - width + 1, stop + 2 * width)
        return next_clear(times, t, rule.limit, width, ctx, stop)
    tz = period_zone(rule, ctx)
    today = ctx.local_date(t, tz)
    if isinstance(window, Calendar):
        return clock.start_of_date(clock.period_bounds(today, window.unit)[1], tz)
    days = window.days
    times, _ = sequence(rule, ctx, skip, clock.start_of_date(today - dt.timedelta(days=days), tz),
                        stop + (days + 2) * DAY)
    numbers = day_numbers(rule, ctx, times, tz)
    clear = next_clear(numbers, today.toordinal(), rule.limit, days, ctx, clock.local_date(stop, tz).toordinal())
    return clock.start_of_date(dt.date.fromordinal(clear), tz)


def count_text(rule: CapRule, count: int, ctx: Context) -> str:
    text = f"{count} of at most {rule.limit} {rule.match.text} contacts"
    if rule.group:
        text += f" of {rule.group} {getattr(ctx.request, rule.group) or '(none)'}"
    if rule.kind == "capacity":
        text += " across all customers" if ctx.loads is not None else " (this customer's ledger only)"
    return text


def latest_text(contacts: Sequence[Contact], ctx: Context) -> str:
    latest = max(contacts, key=lambda c: c.at)
    return f"latest {format_local(clock.micros(latest.at), ctx.tz)} by {latest.team}"


# ---- quiet periods ----------------------------------------------------------------------------


def check_quiet(rule: QuietRule, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    period = rule.period
    if isinstance(period, AfterTrigger):
        return quiet_after(period, ctx, t, skip)
    moment = ctx.local(t)
    if isinstance(period, ClockRange):
        deny = period.quiet(minute_of_day(moment))
    else:
        deny = period.quiet(moment.date())
    if not ctx.explain:
        return DENY if deny else PASS
    reason = ""
    if ctx.explain:
        reason = (
            f"local time {moment:%a %Y-%m-%d %H:%M} ({ctx.zone_name}) is "
            + ("inside" if deny else "outside")
            + f" the quiet period ({quiet_text(period)})"
        )
    return Finding(deny, (), reason)


def minute_of_day(moment: dt.datetime) -> float:
    return moment.hour * 60 + moment.minute + (moment.second + moment.microsecond / 1e6) / 60


@functools.lru_cache(maxsize=1024)
def quiet_text(period: ClockRange | DaySet) -> str:
    if isinstance(period, ClockRange):
        start = f"{period.start // 60:02d}:{period.start % 60:02d}"
        end = f"{period.end // 60:02d}:{period.end % 60:02d}"
        return f"between {start} and {end}" if period.quiet_inside else f"outside {start}-{end}"
    names = [clock_day_name(d) for d in sorted(period.weekdays)]
    names += [d.isoformat() for d in sorted(period.dates)]
    return "on " + ", ".join(names)


def clock_day_name(index: int) -> str:
    return ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")[index]


def triggers(period: AfterTrigger, ctx: Context, t: int, skip: frozenset[int]) -> list[tuple[int, int, Contact | None]]:
    """(start, end, contact) of each trigger whose quiet stretch [start, end) contains t."""
    # A run of N local dates lasts at most N days plus a daylight-saving hour: N + 2 is safe.
    span = period.seconds * clock.SECOND if period.seconds is not None else ((period.days or 0) + 2) * DAY
    lo = t - span + 1
    found: list[tuple[int, Contact | None]]
    if period.event is not None:
        times = ctx.history.event_times(period.event)
        found = [(us, None) for us in times[bisect_left(times, lo) : bisect_right(times, t)]]
    else:
        assert period.trigger is not None
        group = period.group
        wanted = getattr(ctx.request, group) if group is not None else None
        times, contacts = ctx.history.matching(
            period.trigger, ctx.owner, outcome=period.outcome, group=group, value=wanted
        )
        i, j = bisect_left(times, lo), bisect_right(times, t)
        found = [(times[k], contacts[k]) for k in range(i, j) if id(contacts[k]) not in skip]
    covering = []
    for start, contact in found:
        end = quiet_end(period, start, ctx)
        if start <= t < end:
            covering.append((start, end, contact))
    return covering


def quiet_end(period: AfterTrigger, start: int, ctx: Context) -> int:
    if period.seconds is not None:
        return start + period.seconds * clock.SECOND
    first = clock.local_date(start, ctx.tz)
    return clock.start_of_date(first + dt.timedelta(days=period.days or 0), ctx.tz)


def quiet_after(period: AfterTrigger, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    covering = triggers(period, ctx, t, skip)
    held = [c for _, _, c in covering if c is not None]
    reason = ""
    if ctx.explain:
        if covering:
            start, end, contact = max(covering, key=lambda item: item[1])
            what = describe(contact, ctx) if contact else f"{period.event} at {format_local(start, ctx.tz)}"
            reason = f"quiet {period.text}: {what}; quiet until {format_local(end, ctx.tz)}"
        else:
            reason = f"not {period.text}"
    return Finding(bool(covering), held, reason)


def bound_quiet(rule: QuietRule, ctx: Context, t: int, skip: frozenset[int]) -> int | None:
    period = rule.period
    if isinstance(period, AfterTrigger):
        covering = triggers(period, ctx, t, skip)
        return max((end for _, end, _ in covering), default=t + 1)
    limit = t + HORIZON
    if isinstance(period, ClockRange):
        clock_range = period
        found = clock.next_exit(
            t, ctx.tz, lambda wall: clock_range.quiet(minute_of_day(wall)),
            lambda wall: next_clock_boundary(clock_range, wall), limit,
        )
    else:
        day_set = period
        found = clock.next_exit(
            t, ctx.tz, lambda wall: day_set.quiet(wall.date()),
            lambda wall: dt.datetime.combine(wall.date() + dt.timedelta(days=1), dt.time()), limit,
        )
    # Still quiet at the horizon: past it, so the search gives up with a note.
    return found if found is not None else limit + 1


CHECKS: dict[type, Callable[[Any, Context, int, frozenset[int]], Finding]] = {}  # filled below


def next_clock_boundary(period: ClockRange, wall: dt.datetime) -> dt.datetime:
    """The next wall time after ``wall`` at which the clock range starts or ends."""
    midnight = dt.datetime.combine(wall.date(), dt.time())
    candidates = sorted(
        midnight + dt.timedelta(days=day, minutes=minute)
        for day in (0, 1)
        for minute in (period.start, period.end)
    )
    return next(c for c in candidates if c > wall)


# ---- exclusions, prerequisites, exclusivity --------------------------------------------------


def check_exclude(rule: ExcludeRule, ctx: Context, t: int = 0, skip: frozenset[int] = frozenset()) -> Finding:
    deny = rule.condition(ctx.values, ctx.request)
    if not ctx.explain:
        return DENY if deny else PASS
    reason = ""
    if ctx.explain:
        facts = ", ".join(
            f"{name[8:]} is {getattr(ctx.request, name[8:])}" if name.startswith("request.")
            else attribute_fact(name, ctx.values)
            for name in rule.attributes
        )
        reason = f"{rule.condition_text} is {'true' if deny else 'false'} ({facts})"
    return Finding(deny, (), reason)


def attribute_fact(name: str, values: Mapping[str, Any]) -> str:
    value = values.get(name)
    if value is None:
        return f"customer.{name} is missing"
    if isinstance(value, bool):
        return f"customer.{name} = {'true' if value else 'false'}"
    if isinstance(value, (set, frozenset)):
        return f"customer.{name} = ({', '.join(sorted(map(str, value)))})"
    if isinstance(value, float) and value.is_integer():
        return f"customer.{name} = {int(value)}"
    return f"customer.{name} = {value}"


def require_times(rule: RequireRule, ctx: Context) -> tuple[list[int], Sequence[Contact]]:
    return ctx.history.matching(rule.prerequisite, ctx.owner, sent_only=True, outcome=rule.outcome)


def check_require(rule: RequireRule, ctx: Context, t: int, skip: frozenset[int] = frozenset()) -> Finding:
    times, contacts = require_times(rule, ctx)
    hi = t - rule.at_least * clock.SECOND
    lo = t - rule.within * clock.SECOND if rule.within is not None else None
    j = bisect_right(times, hi)
    found = j > 0 and (lo is None or times[j - 1] >= lo)
    reason = ""
    if ctx.explain:
        span = "between " + (format_local(lo, ctx.tz) if lo is not None else "any time") + f" and {format_local(hi, ctx.tz)}"
        wanted = rule.prerequisite.text + (f" with outcome {rule.outcome}" if rule.outcome else "")
        reason = f"{describe(contacts[j - 1], ctx)} is {span}" if found else f"no sent {wanted} {span}"
    return Finding(not found, (), reason)


def bound_require(rule: RequireRule, ctx: Context, t: int) -> int | None:
    times, _ = require_times(rule, ctx)
    # A prerequisite p counts from p + at_least; one sent later than t - at_least will.
    i = bisect_right(times, t - rule.at_least * clock.SECOND)
    if i >= len(times):
        return NEVER
    return times[i] + rule.at_least * clock.SECOND


def rivals(rule: ExclusiveRule, ctx: Context, t: int, skip: frozenset[int], *,
           first_only: bool = False) -> list[tuple[int, Contact]]:
    """Matching contacts of other teams less than the distance away (or just the first)."""
    distance = rule.distance * clock.SECOND
    times, contacts = ctx.history.matching(rule.match, ctx.owner)
    team = ctx.request.team
    found = []
    for k in range(bisect_left(times, t - distance + 1), bisect_left(times, t + distance)):
        contact = contacts[k]
        if contact.team != team and id(contact) not in skip:
            found.append((times[k], contact))
            if first_only:
                break
    return found


def check_exclusive(rule: ExclusiveRule, ctx: Context, t: int, skip: frozenset[int]) -> Finding:
    found = rivals(rule, ctx, t, skip, first_only=not (ctx.explain or ctx.skip))
    reason = ""
    if ctx.explain:
        if found:
            us, contact = min(found, key=lambda p: abs(p[0] - t))
            side = "before" if us <= t else "after"
            reason = f"{describe(contact, ctx)} is {format_span(abs(t - us))} {side}, closer than {format_span(rule.distance * clock.SECOND)}"
        else:
            reason = f"no {rule.match.text} contact by another team within {format_span(rule.distance * clock.SECOND)}"
    return Finding(bool(found), [c for _, c in found], reason)


def bound_exclusive(rule: ExclusiveRule, ctx: Context, t: int, skip: frozenset[int]) -> int | None:
    found = rivals(rule, ctx, t, skip)
    return max((us + rule.distance * clock.SECOND for us, _ in found), default=t + 1)


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


CHECKS.update({
    CapRule: check_cap,
    QuietRule: check_quiet,
    ExcludeRule: check_exclude,
    RequireRule: check_require,
    ExclusiveRule: check_exclusive,
    ExemptRule: lambda rule, ctx, t, skip: PASS,
})

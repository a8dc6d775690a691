"""A deliberately simple, slow reference evaluator, written from docs/language.md sections 4-7.

It shares nothing with ``policylang/evaluator.py`` except the compiled rule graph
(``policylang.rules``): every rule is evaluated by brute force over the whole ledger,
and ``next_allowed_at`` is found by deciding the request again at every instant where
the answer could change. The differential tests compare the fast evaluator with it.

Interpretations (the project's decided ones):

* The customer's zone is ``customer["timezone"]`` when the policy declares a ``timezone``
  attribute and the record has it, else the policy's ``timezone``, else UTC.
  ``capacity`` rules count all customers, so their local dates are in the policy's zone.
* Caps, quiet-after and exclusive rules count sent and planned contacts; ``require`` only sent.
* Displacement: D = planned contacts of teams ranking strictly lower than the requester.
  A rule denies only if it denies with the ledger minus D. If it denies with the full
  ledger but not without D, the request proceeds and displaces the D contacts the rule
  counts against it (a ``cap`` only as many as it takes, lowest rank and latest first).
  ``capacity``, ``require`` and ``exclude`` never displace.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from policylang.records import Contact, Event, Request
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

UTC = dt.timezone.utc
TICK = dt.timedelta(microseconds=1)
DAY = dt.timedelta(days=1)


@attrs.frozen
class RefDecision:
    allowed: bool
    denied_by: tuple[str, ...]
    displaces: tuple[Contact, ...]
    next_allowed_at: dt.datetime | None


# ---- time helpers -------------------------------------------------------------------------


def customer_zone(policy: Policy, customer: Mapping[str, Any]) -> dt.tzinfo:
    if "timezone" in policy.attributes and customer.get("timezone"):
        return ZoneInfo(customer["timezone"])
    return policy_zone(policy)


def policy_zone(policy: Policy) -> dt.tzinfo:
    return ZoneInfo(policy.timezone) if policy.timezone else UTC


def local_date(instant: dt.datetime, zone: dt.tzinfo) -> dt.date:
    return instant.astimezone(zone).date()


def local_minute(instant: dt.datetime, zone: dt.tzinfo) -> float:
    local = instant.astimezone(zone)
    return local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 60_000_000


def clock_instants(day: dt.date, minute: int, zone: dt.tzinfo) -> list[dt.datetime]:
    """The instants (both folds) at which the local clock reads ``minute`` on ``day``.

    In a gap the result is not on that clock reading; it is still a harmless candidate.
    """
    naive = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)
    return sorted({naive.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1)})


def first_instant(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """The earliest instant whose local date is ``day`` (or later, if midnight is skipped)."""
    naive = dt.datetime.combine(day, dt.time())
    options = [naive.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1)]
    on_day = [o for o in options if local_date(o, zone) >= day]
    return min(on_day)


def period_key(day: dt.date, unit: str) -> tuple[int, ...]:
    if unit == "day":
        return (day.toordinal(),)
    if unit == "week":
        return ((day - dt.timedelta(days=day.weekday())).toordinal(),)
    if unit == "month":
        return (day.year, day.month)
    if unit == "quarter":
        return (day.year, (day.month - 1) // 3)
    if unit == "year":
        return (day.year,)
    raise ValueError(unit)


@functools.lru_cache(maxsize=64)
def zone_transitions(zone_name: str, year: int) -> tuple[dt.datetime, ...]:
    """Every instant in the (UTC) year where the zone's UTC offset changes.

    Scans in 3-hour steps (no real zone changes twice in 3 hours), then bisects to the second.
    """
    if zone_name == "UTC":
        return ()
    zone = ZoneInfo(zone_name)
    step = dt.timedelta(hours=3)
    found = []
    here = dt.datetime(year, 1, 1, tzinfo=UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=UTC)
    while here < end:
        there = here + step
        if here.astimezone(zone).utcoffset() != there.astimezone(zone).utcoffset():
            low, high = here, there  # offset(low) differs from offset(high)
            while high - low > dt.timedelta(seconds=1):
                mid = (low + (high - low) / 2).replace(microsecond=0)
                if mid.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                    low = mid
                else:
                    high = mid
            found.append(high)
        here = there
    return tuple(found)


def zone_name(zone: dt.tzinfo) -> str:
    return getattr(zone, "key", "UTC")


# ---- the context of one decision --------------------------------------------------------------


@attrs.define
class Context:
    policy: Policy
    customer: Mapping[str, Any]
    request: Request
    zone: dt.tzinfo
    owner: str | None

    @property
    def t(self) -> dt.datetime:
        return self.request.at

    def matches(self, match: Any, contact: Contact) -> bool:
        return bool(match.matches(contact.purpose, contact.channel, contact.team, self.owner))

    def rule_zone(self, rule: AnyRule) -> dt.tzinfo:
        return policy_zone(self.policy) if rule.kind == "capacity" else self.zone


def counted(ledger: Iterable[Contact | Event]) -> list[Contact]:
    return [e for e in ledger if isinstance(e, Contact) and e.status in ("sent", "planned")]


# ---- caps ------------------------------------------------------------------------------------


def cap_pool(ctx: Context, rule: CapRule, ledger: Sequence[Contact | Event]) -> list[Contact]:
    """Counted contacts the rule is about, in the request's group when ``for each``."""
    pool = [c for c in counted(ledger) if ctx.matches(rule.match, c)]
    if rule.group is not None:
        mine = getattr(ctx.request, rule.group)
        pool = [c for c in pool if getattr(c, rule.group) == mine]
    return pool


def cap_denies(ctx: Context, rule: CapRule, ledger: Sequence[Contact | Event]) -> bool:
    pool = cap_pool(ctx, rule, ledger)
    t = ctx.t
    window = rule.window
    if isinstance(window, Rolling):
        width = dt.timedelta(seconds=window.seconds)
        # The count over [s, s+W) is a step function of s; its maximum over (t-W, t]
        # is reached at s = t, at a contact instant, or just after t - W.
        starts = {t, t - width + TICK} | {c.at for c in pool if t - width < c.at <= t}
        return any(sum(1 for c in pool if s <= c.at < s + width) >= rule.limit for s in starts)
    zone = ctx.rule_zone(rule)
    today = local_date(t, zone)
    if isinstance(window, Calendar):
        key = period_key(today, window.unit)
        return sum(1 for c in pool if period_key(local_date(c.at, zone), window.unit) == key) >= rule.limit
    assert isinstance(window, Consecutive)
    for first in range(window.days):
        start = today - dt.timedelta(days=window.days - 1 - first)
        end = start + dt.timedelta(days=window.days - 1)
        if sum(1 for c in pool if start <= local_date(c.at, zone) <= end) >= rule.limit:
            return True
    return False


def cap_counts_against(ctx: Context, rule: CapRule, contact: Contact) -> bool:
    """Is ``contact`` (already known to be in the rule's pool) inside some window holding t?"""
    t = ctx.t
    window = rule.window
    if isinstance(window, Rolling):
        width = dt.timedelta(seconds=window.seconds)
        return t - width < contact.at < t + width
    zone = ctx.rule_zone(rule)
    today = local_date(t, zone)
    day = local_date(contact.at, zone)
    if isinstance(window, Calendar):
        return period_key(day, window.unit) == period_key(today, window.unit)
    assert isinstance(window, Consecutive)
    return abs((day - today).days) < window.days


# ---- quiet -------------------------------------------------------------------------------------


def triggers(ctx: Context, period: AfterTrigger, ledger: Sequence[Contact | Event]) -> list[Contact | Event]:
    if period.event is not None:
        return [e for e in ledger if isinstance(e, Event) and e.name == period.event]
    return [
        c
        for c in counted(ledger)
        if ctx.matches(period.trigger, c)
        and (period.outcome is None or c.outcome == period.outcome)
        and (period.group is None or getattr(c, period.group) == getattr(ctx.request, period.group))
    ]


def quiet_until(ctx: Context, period: AfterTrigger, trigger: Contact | Event) -> dt.datetime:
    if period.seconds is not None:
        return trigger.at + dt.timedelta(seconds=period.seconds)
    assert period.days is not None
    day = local_date(trigger.at, ctx.zone) + dt.timedelta(days=period.days)
    return first_instant(day, ctx.zone)


def quiet_holds(ctx: Context, period: AfterTrigger, trigger: Contact | Event) -> bool:
    return trigger.at <= ctx.t < quiet_until(ctx, period, trigger)


def quiet_denies(ctx: Context, rule: QuietRule, ledger: Sequence[Contact | Event]) -> bool:
    period = rule.period
    if isinstance(period, ClockRange):
        return period.quiet(local_minute(ctx.t, ctx.zone))
    if isinstance(period, DaySet):
        return period.quiet(local_date(ctx.t, ctx.zone))
    return any(quiet_holds(ctx, period, e) for e in triggers(ctx, period, ledger))


# ---- require, exclusive ---------------------------------------------------------------------


def require_denies(ctx: Context, rule: RequireRule, ledger: Sequence[Contact | Event]) -> bool:
    latest = ctx.t - dt.timedelta(seconds=rule.at_least)
    earliest = None if rule.within is None else ctx.t - dt.timedelta(seconds=rule.within)
    for c in ledger:
        if not isinstance(c, Contact) or c.status != "sent" or not ctx.matches(rule.prerequisite, c):
            continue
        if rule.outcome is not None and c.outcome != rule.outcome:
            continue
        if c.at <= latest and (earliest is None or c.at >= earliest):
            return False
    return True


def exclusive_near(ctx: Context, rule: ExclusiveRule, contact: Contact) -> bool:
    return (
        ctx.matches(rule.match, contact)
        and contact.team != ctx.request.team
        and abs(contact.at - ctx.t) < dt.timedelta(seconds=rule.distance)
    )


def exclusive_denies(ctx: Context, rule: ExclusiveRule, ledger: Sequence[Contact | Event]) -> bool:
    return any(exclusive_near(ctx, rule, c) for c in counted(ledger))


# ---- one rule, with displacement -----------------------------------------------------------------


def denies(ctx: Context, rule: AnyRule, ledger: Sequence[Contact | Event]) -> bool:
    if isinstance(rule, CapRule):
        return cap_denies(ctx, rule, ledger)
    if isinstance(rule, QuietRule):
        return quiet_denies(ctx, rule, ledger)
    if isinstance(rule, ExcludeRule):
        return bool(rule.condition(ctx.customer, ctx.request))
    if isinstance(rule, RequireRule):
        return require_denies(ctx, rule, ledger)
    if isinstance(rule, ExclusiveRule):
        return exclusive_denies(ctx, rule, ledger)
    return False


def displaced_by(ctx: Context, rule: AnyRule, lower: list[Contact]) -> list[Contact]:
    """The lower-ranked planned contacts ``rule`` counts against the request."""
    if isinstance(rule, CapRule):
        pool = cap_pool(ctx, rule, lower)
        return [c for c in pool if cap_counts_against(ctx, rule, c)]
    if isinstance(rule, QuietRule) and isinstance(rule.period, AfterTrigger):
        period = rule.period
        return [c for c in triggers(ctx, period, lower) if isinstance(c, Contact) and quiet_holds(ctx, period, c)]
    if isinstance(rule, ExclusiveRule):
        return [c for c in lower if exclusive_near(ctx, rule, c)]
    return []


def fewest_for_cap(
    ctx: Context, rule: AnyRule, ledger: Sequence[Contact | Event], blocking: list[Contact]
) -> list[Contact]:
    """A cap displaces only what it takes: lowest rank first, then latest ``at``, then
    latest in the ledger, one at a time until the cap passes (docs/language.md)."""
    position = {id(e): i for i, e in enumerate(ledger)}
    ordered = sorted(
        blocking,
        key=lambda c: (-ctx.policy.rank(c.team, ctx.owner), -c.at.timestamp(), -position[id(c)]),
    )
    taken: list[Contact] = []
    for contact in ordered:
        taken.append(contact)
        gone = {id(c) for c in taken}
        if not denies(ctx, rule, [e for e in ledger if id(e) not in gone]):
            break
    return taken


def is_lifted(ctx: Context, rule: AnyRule) -> bool:
    req = ctx.request
    return any(
        isinstance(e, ExemptRule)
        and e.match.matches(req.purpose, req.channel, req.team, ctx.owner)
        and e.lifts(rule)
        for e in ctx.policy.rules
    )


def subject(ctx: Context, rule: AnyRule) -> bool:
    req = ctx.request
    return bool(rule.match.matches(req.purpose, req.channel, req.team, ctx.owner))


DISPLACING = ("cap", "quiet", "exclusive")


def decide_at(
    policy: Policy, customer: Mapping[str, Any], request: Request, ledger: Sequence[Contact | Event]
) -> tuple[bool, tuple[str, ...], tuple[Contact, ...]]:
    """allowed, denied_by, displaces for the request at its own instant."""
    ctx = make_context(policy, customer, request)
    my_rank = policy.rank(request.team, ctx.owner)
    lower = [
        c
        for c in ledger
        if isinstance(c, Contact) and c.status == "planned" and policy.rank(c.team, ctx.owner) > my_rank
    ]
    lower_ids = {id(c) for c in lower}
    without = [e for e in ledger if id(e) not in lower_ids]
    denied: list[str] = []
    displaced_ids: set[int] = set()
    for rule in policy.rules:
        if isinstance(rule, ExemptRule) or not subject(ctx, rule) or is_lifted(ctx, rule):
            continue
        if rule.kind not in DISPLACING:
            if denies(ctx, rule, ledger):
                denied.append(rule.name)
            continue
        if denies(ctx, rule, without):
            denied.append(rule.name)
        elif denies(ctx, rule, ledger):
            blocking = displaced_by(ctx, rule, lower)
            if rule.kind == "cap":
                blocking = fewest_for_cap(ctx, rule, ledger, blocking)
            displaced_ids |= {id(c) for c in blocking}
    if denied:
        return False, tuple(denied), ()
    order = sorted((c.at, i) for i, c in enumerate(ledger) if id(c) in displaced_ids)
    return True, (), tuple(ledger[i] for _, i in order)  # type: ignore[misc]


def make_context(policy: Policy, customer: Mapping[str, Any], request: Request) -> Context:
    owner = customer.get(policy.owner_attribute) if policy.owner_attribute else None
    return Context(policy, customer, request, customer_zone(policy, customer), owner)


# ---- next allowed -------------------------------------------------------------------------------


def rule_durations(policy: Policy) -> set[dt.timedelta]:
    out: set[dt.timedelta] = set()
    for rule in policy.rules:
        if isinstance(rule, CapRule) and isinstance(rule.window, Rolling):
            out.add(dt.timedelta(seconds=rule.window.seconds))
        elif isinstance(rule, QuietRule) and isinstance(rule.period, AfterTrigger) and rule.period.seconds:
            out.add(dt.timedelta(seconds=rule.period.seconds))
        elif isinstance(rule, ExclusiveRule):
            out.add(dt.timedelta(seconds=rule.distance))
        elif isinstance(rule, RequireRule):
            out.add(dt.timedelta(seconds=rule.at_least))
            if rule.within is not None:
                out.add(dt.timedelta(seconds=rule.within))
    return out


def clock_minutes(policy: Policy) -> set[int]:
    return {m for r in policy.rules if isinstance(r, QuietRule) and isinstance(r.period, ClockRange)
            for m in (r.period.start, r.period.end)}


def candidates(
    policy: Policy, customer: Mapping[str, Any], t: dt.datetime, ledger: Sequence[Contact | Event], days: int
) -> Iterator[dt.datetime]:
    """Every instant in [t, t + days], ascending, where some rule's verdict can turn from deny to allow.

    Why these are enough: each rule's allowed set, as a function of the request instant u, is
    a finite union of intervals closed on the left (rolling windows, quiet-after and exclusive
    distances are half-open or open in the right way, require's range is closed, clock and
    date rules change at local clock readings). So the earliest allowed u >= t is t itself
    or a left end of some rule's allowed interval:
    * rolling cap: deny set is a union of open intervals (c_j - W, c_i + W): left ends c + W;
    * quiet within D after e: quiet on [e, e + D): e + D; consecutive days: a local midnight;
    * exclusive: deny on (c - d, c + d): c + d;  require: allowed on [p + A, p + B]: p + A;
    * calendar / consecutive caps and quiet days: local midnights (customer zone; policy zone
      for capacity); clock ranges: the clock readings HH:MM (both folds of a repeated hour)
      and zone transitions (a reading skipped by a gap starts at the transition).
    The instants c - d etc. are added too (harmless: extra candidates never change the answer).
    Generated a week at a time so that an early answer stays cheap.
    """
    end = t + dt.timedelta(days=days)
    from_ledger = {t} | {e.at + d for e in ledger for d in rule_durations(policy)}
    from_ledger |= {e.at - d for e in ledger for d in rule_durations(policy)}
    zones = {zone_name(customer_zone(policy, customer)), zone_name(policy_zone(policy))}
    minutes = clock_minutes(policy)
    chunk = dt.timedelta(days=7)
    low = t
    while low <= end:
        high = min(low + chunk, end + TICK)
        found = {u for u in from_ledger if low <= u < high}
        for name in zones:
            zone = ZoneInfo(name) if name != "UTC" else UTC
            first = local_date(low, zone) - DAY
            for n in range((high - low).days + 3):
                day = first + dt.timedelta(days=n)
                found.add(first_instant(day, zone))
                for minute in minutes:
                    found.update(clock_instants(day, minute, zone))
            for year in {low.year, high.year}:
                found.update(zone_transitions(name, year))
        yield from sorted(u for u in found if low <= u < high)
        low = high


def reference_decide(
    policy: Policy,
    customer: Mapping[str, Any],
    request: Request,
    ledger: Sequence[Contact | Event],
    *,
    horizon_days: int = 400,
) -> RefDecision:
    """The decision of section 7, by brute force."""
    ledger = list(ledger)
    allowed, denied_by, displaces = decide_at(policy, customer, request, ledger)
    if allowed:
        return RefDecision(True, (), displaces, request.at)
    return RefDecision(False, denied_by, (), next_allowed(policy, customer, request, ledger, horizon_days))


def next_allowed(
    policy: Policy, customer: Mapping[str, Any], request: Request, ledger: list[Contact | Event], days: int
) -> dt.datetime | None:
    ctx = make_context(policy, customer, request)
    # Exclusions do not depend on time: waiting never helps (a shortcut, not a semantic change).
    for rule in policy.rules:
        if isinstance(rule, ExcludeRule) and subject(ctx, rule) and not is_lifted(ctx, rule) \
                and denies(ctx, rule, ledger):
            return None
        # A prerequisite p helps only while u - within <= p, i.e. never if p < t - within.
        if isinstance(rule, RequireRule) and subject(ctx, rule) and not is_lifted(ctx, rule) \
                and not any(
                    isinstance(c, Contact) and c.status == "sent" and ctx.matches(rule.prerequisite, c)
                    and (rule.outcome is None or c.outcome == rule.outcome)
                    and (rule.within is None or c.at >= request.at - dt.timedelta(seconds=rule.within))
                    for c in ledger):
            return None
    for u in candidates(policy, customer, request.at, ledger, days):
        if decide_at(policy, customer, request.moved_to(u), ledger)[0]:
            return u
    return None

"""A deliberately simple, slow reference evaluator, written from docs/language.md sections 3-7.

It is an independent oracle: from policylang it imports only the parser and the AST it
produces (``policylang.parser.parse``, ``policylang.ast``). Selector matching, clock ranges,
days and dates, exemptions, precedence ranks, condition interpretation, every rule kind and
displacement are written here again, plainly (linear scans over the whole ledger, datetimes
and :mod:`zoneinfo`, no shared helpers), so a wrong compiler or a wrong rule graph shows up as
a disagreement in the differential tests. ``next_allowed_at`` is found by deciding the
request again at every instant where the answer could change.

Ledger entries and requests are read by duck typing (``at``, ``channel``, ``purpose``,
``team``, ``status``, ``outcome``, ``campaign``; an event has ``name`` and no ``channel``);
the customer is the plain JSON-like mapping (lists for sets, ISO text or dates for dates).

Interpretations (the project's decided ones):

* The customer's zone is ``customer["timezone"]`` when the policy declares a ``timezone``
  attribute of type ``zone`` and the record has it, else the policy's ``timezone``, else UTC.
  ``capacity`` rules count all customers, so their local dates are in the policy's zone.
* Caps, quiet-after and exclusive rules count sent and planned contacts; ``require`` only sent.
* Displacement: D = planned contacts of teams ranking strictly lower than the requester.
  A rule denies only if it denies with the ledger minus D. If it denies with the full
  ledger but not without D, the request proceeds and displaces the D contacts the rule
  counts against it (a ``cap`` only as many as it takes, lowest rank and latest first).
  ``capacity``, ``require`` and ``exclude`` never displace.
* A comparison with an absent attribute is false, whatever the operator (section 3).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from policylang import ast
from policylang.parser import parse

UTC = dt.timezone.utc
TICK = dt.timedelta(microseconds=1)
DAY = dt.timedelta(days=1)
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
VOCAB_KINDS = {"channels": "channel", "teams": "team", "purposes": "purpose",
               "outcomes": "outcome", "events": "event"}


@attrs.frozen
class RefDecision:
    allowed: bool
    denied_by: tuple[str, ...]
    displaces: tuple[Any, ...]
    next_allowed_at: dt.datetime | None


@attrs.frozen
class Req:
    """The reference's own request: the fields a decision reads."""

    team: str
    channel: str
    purpose: str
    at: dt.datetime
    campaign: str | None = None

    def moved_to(self, at: dt.datetime) -> Req:
        return Req(self.team, self.channel, self.purpose, at, self.campaign)


# ---- the policy, read from its syntax tree ----------------------------------------------------


@attrs.frozen
class RefPolicy:
    timezone: str | None
    kind_of: dict[str, str]  # declared name -> channel, team, purpose, outcome, event
    attributes: dict[str, ast.AttrType]
    owner_attribute: str | None
    precedence: tuple[str, ...]
    rules: tuple[Any, ...]  # the AST rule nodes, in policy order


def load(source: Any) -> RefPolicy:
    """A policy from its text or its parsed :class:`ast.PolicyFile`."""
    if isinstance(source, RefPolicy):
        return source
    if isinstance(source, str):
        return _load_text(source)
    assert isinstance(source, ast.PolicyFile), type(source)
    return _load_tree(source)


@functools.lru_cache(maxsize=256)
def _load_text(text: str) -> RefPolicy:
    return _load_tree(parse(text, "reference.pol"))


def _load_tree(tree: ast.PolicyFile) -> RefPolicy:
    timezone = None
    kind_of: dict[str, str] = {}
    attributes: dict[str, ast.AttrType] = {}
    owner = None
    precedence: tuple[str, ...] = ()
    rules = []
    for statement in tree.statements:
        if isinstance(statement, ast.PolicyTimezone):
            timezone = statement.zone
        elif isinstance(statement, ast.Vocabulary):
            for name in statement.names:
                kind_of[name.value] = VOCAB_KINDS[statement.kind]
        elif isinstance(statement, ast.CustomerBlock):
            for attribute in statement.attributes:
                attributes[attribute.name.value] = attribute.type
        elif isinstance(statement, ast.OwnerDecl):
            owner = statement.attr.attribute
        elif isinstance(statement, ast.Precedence):
            precedence = tuple(n.value for n in statement.teams)
        elif isinstance(statement, (ast.Cap, ast.Quiet, ast.Exclude, ast.Require, ast.Exclusive, ast.Exempt)):
            rules.append(statement)
    return RefPolicy(timezone, kind_of, attributes, owner, precedence, tuple(rules))


def seconds_of(duration: ast.Duration) -> int:
    return duration.amount * UNIT_SECONDS[duration.unit]


def clock_minutes_of(time: ast.ClockTime) -> int:
    return time.hour * 60 + time.minute


# ---- selectors, precedence, exemptions --------------------------------------------------------


def selector_matches(pol: RefPolicy, sel: ast.Selector, purpose: str, channel: str, team: str,
                     owner: str | None) -> bool:
    """Names of one kind are OR-ed, kinds AND-ed; ``by`` teams; ``except`` removes (section 4)."""
    purposes = [n.value for n in sel.names if pol.kind_of.get(n.value) == "purpose"]
    channels = [n.value for n in sel.names if pol.kind_of.get(n.value) == "channel"]
    teams = [n.value for n in sel.names if pol.kind_of.get(n.value) == "team"]
    teams += [n.value for n in sel.by if n.value != "owner"]
    by_owner = any(n.value == "owner" for n in sel.by)
    if purposes and purpose not in purposes:
        return False
    if channels and channel not in channels:
        return False
    if teams or by_owner:
        ok = team in teams or (by_owner and owner is not None and team == owner)
        if not ok:
            return False
    shape = {"purpose": purpose, "channel": channel, "team": team}
    for name in sel.excepts:
        if name.value == "owner":
            if owner is not None and team == owner:
                return False
        elif shape.get(pol.kind_of.get(name.value, "")) == name.value:
            return False
    return True


def rank(pol: RefPolicy, team: str, owner: str | None) -> int:
    """Position in the precedence (lower is stronger); ``owner`` stands for the owner team,
    which then does not also hold its own place; unlisted teams share the last rank."""
    for position, name in enumerate(pol.precedence):
        if name == "owner":
            if owner is not None and team == owner:
                return position
        elif name == team and not (team == owner and "owner" in pol.precedence):
            return position
    return len(pol.precedence)


def is_lifted(pol: RefPolicy, rule: Any, req: Any, owner: str | None) -> bool:
    for other in pol.rules:
        if not isinstance(other, ast.Exempt):
            continue
        if not selector_matches(pol, other.selector, req.purpose, req.channel, req.team, owner):
            continue
        for target in other.targets:
            if target.is_kind and target.text == rule.kind:
                return True
            if not target.is_kind and target.text == rule.name:
                return True
    return False


# ---- time helpers -------------------------------------------------------------------------


def zone_of(name: str | None) -> dt.tzinfo:
    return ZoneInfo(name) if name else UTC


def customer_zone_name(pol: RefPolicy, customer: Mapping[str, Any]) -> str | None:
    declared = pol.attributes.get("timezone")
    if declared is not None and declared.kind == "zone" and customer.get("timezone"):
        return str(customer["timezone"])
    return pol.timezone


def local_date(instant: dt.datetime, zone: dt.tzinfo) -> dt.date:
    return instant.astimezone(zone).date()


def local_minute(instant: dt.datetime, zone: dt.tzinfo) -> float:
    local = instant.astimezone(zone)
    return local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 60_000_000


def clock_instants(day: dt.date, minute: int, zone: dt.tzinfo) -> list[dt.datetime]:
    """The instants (both folds) at which the local clock reads ``minute`` on ``day``.

    In a gap the result is not on that clock reading; it is still a harmless candidate.
    """
    naive = dt.datetime(day.year, day.month, day.day) + dt.timedelta(minutes=minute)
    return sorted({naive.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1)})


def first_instant(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """The earliest instant whose local date is ``day`` (or later, if midnight is skipped).

    Found by scanning: the candidates are midnight under both folds and every offset change
    of the two days around it, so a gap over midnight ends the search at the transition."""
    naive = dt.datetime(day.year, day.month, day.day)
    options = [naive.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1)]
    around = dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
    options += [u for u in zone_transitions(zone_name(zone), day.year) if abs(u - around) < 2 * DAY]
    on_day = [o for o in options if local_date(o, zone) >= day and local_date(o - TICK, zone) < day]
    return min(on_day)


def period_key(day: dt.date, unit: str) -> tuple[int, ...]:
    if unit == "day":
        return (day.toordinal(),)
    if unit == "week":  # weeks start on Monday
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
    pol: RefPolicy
    customer: Mapping[str, Any]
    request: Any
    zone: dt.tzinfo
    owner: str | None

    @property
    def t(self) -> dt.datetime:
        return self.request.at

    def matches(self, sel: ast.Selector, contact: Any) -> bool:
        return selector_matches(self.pol, sel, contact.purpose, contact.channel, contact.team, self.owner)

    def rule_zone(self, rule: Any) -> dt.tzinfo:
        return zone_of(self.pol.timezone) if rule.kind == "capacity" else self.zone


def is_event(entry: Any) -> bool:
    return not hasattr(entry, "channel")


def counted(ledger: Sequence[Any]) -> list[Any]:
    return [e for e in ledger if not is_event(e) and e.status in ("sent", "planned")]


# ---- caps ------------------------------------------------------------------------------------


def cap_pool(ctx: Context, rule: ast.Cap, ledger: Sequence[Any]) -> list[Any]:
    """Counted contacts the rule is about, in the request's group when ``for each``."""
    pool = [c for c in counted(ledger) if ctx.matches(rule.selector, c)]
    if rule.for_each is not None:
        mine = getattr(ctx.request, rule.for_each)
        pool = [c for c in pool if getattr(c, rule.for_each) == mine]
    return pool


def cap_denies(ctx: Context, rule: ast.Cap, ledger: Sequence[Any]) -> bool:
    pool = cap_pool(ctx, rule, ledger)
    t = ctx.t
    window = rule.window
    if isinstance(window, ast.RollingWindow):
        width = dt.timedelta(seconds=seconds_of(window.length))
        # The count over [s, s+W) is a step function of s; its maximum over (t-W, t]
        # is reached at s = t, at a contact instant, or just after t - W.
        starts = {t, t - width + TICK} | {c.at for c in pool if t - width < c.at <= t}
        return any(sum(1 for c in pool if s <= c.at < s + width) >= rule.limit for s in starts)
    zone = ctx.rule_zone(rule)
    today = local_date(t, zone)
    if isinstance(window, ast.CalendarWindow):
        key = period_key(today, window.unit)
        return sum(1 for c in pool if period_key(local_date(c.at, zone), window.unit) == key) >= rule.limit
    assert isinstance(window, ast.ConsecutiveDays)
    for first in range(window.days):
        start = today - dt.timedelta(days=window.days - 1 - first)
        end = start + dt.timedelta(days=window.days - 1)
        if sum(1 for c in pool if start <= local_date(c.at, zone) <= end) >= rule.limit:
            return True
    return False


def cap_counts_against(ctx: Context, rule: ast.Cap, contact: Any) -> bool:
    """Is ``contact`` (already known to be in the rule's pool) inside some window holding t?"""
    t = ctx.t
    window = rule.window
    if isinstance(window, ast.RollingWindow):
        width = dt.timedelta(seconds=seconds_of(window.length))
        return t - width < contact.at < t + width
    zone = ctx.rule_zone(rule)
    today = local_date(t, zone)
    day = local_date(contact.at, zone)
    if isinstance(window, ast.CalendarWindow):
        return period_key(day, window.unit) == period_key(today, window.unit)
    assert isinstance(window, ast.ConsecutiveDays)
    return abs((day - today).days) < window.days


# ---- quiet -------------------------------------------------------------------------------------


def trigger_event(ctx: Context, period: ast.WithinAfter) -> str | None:
    names = period.trigger.names
    if len(names) == 1 and ctx.pol.kind_of.get(names[0].value) == "event":
        return names[0].value
    return None


def triggers(ctx: Context, period: ast.WithinAfter, ledger: Sequence[Any]) -> list[Any]:
    event = trigger_event(ctx, period)
    if event is not None:
        return [e for e in ledger if is_event(e) and e.name == event]
    outcome = period.outcome.value if period.outcome is not None else None
    group = period.for_each
    return [
        c
        for c in counted(ledger)
        if ctx.matches(period.trigger, c)
        and (outcome is None or c.outcome == outcome)
        and (group is None or getattr(c, group) == getattr(ctx.request, group))
    ]


def quiet_until(ctx: Context, period: ast.WithinAfter, trigger: Any) -> dt.datetime:
    if period.duration is not None:
        return trigger.at + dt.timedelta(seconds=seconds_of(period.duration))
    assert period.days is not None
    day = local_date(trigger.at, ctx.zone) + dt.timedelta(days=period.days)
    return first_instant(day, ctx.zone)


def quiet_holds(ctx: Context, period: ast.WithinAfter, trigger: Any) -> bool:
    return trigger.at <= ctx.t < quiet_until(ctx, period, trigger)


def clock_quiet(period: ast.Outside | ast.Between, minute: float) -> bool:
    start = clock_minutes_of(period.start)
    end = clock_minutes_of(period.end)
    # a range with start > end wraps past midnight
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    return inside if isinstance(period, ast.Between) else not inside


def day_quiet(period: ast.OnDays, day: dt.date) -> bool:
    for name in period.days:
        text = name.value
        if text == "weekend" and day.weekday() >= 5:
            return True
        if text in DAY_NAMES and DAY_NAMES.index(text) == day.weekday():
            return True
        if text[:1].isdigit() and dt.date.fromisoformat(text) == day:
            return True
    return False


def quiet_denies(ctx: Context, rule: ast.Quiet, ledger: Sequence[Any]) -> bool:
    period = rule.period
    if isinstance(period, (ast.Outside, ast.Between)):
        return clock_quiet(period, local_minute(ctx.t, ctx.zone))
    if isinstance(period, ast.OnDays):
        return day_quiet(period, local_date(ctx.t, ctx.zone))
    assert isinstance(period, ast.WithinAfter)
    return any(quiet_holds(ctx, period, e) for e in triggers(ctx, period, ledger))


# ---- exclude: conditions -----------------------------------------------------------------------


def attribute_value(ctx: Context, name: str) -> Any:
    value = ctx.customer.get(name)
    declared = ctx.pol.attributes.get(name)
    if declared is not None and declared.kind == "date" and isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


def literal(value: ast.Value) -> Any:
    return value.value


def holds(ctx: Context, cond: Any) -> bool:
    """Interpret a condition of the AST for this customer and request (section 5)."""
    if isinstance(cond, ast.AllOf):
        return all(holds(ctx, c) for c in cond.operands)
    if isinstance(cond, ast.AnyOf):
        return any(holds(ctx, c) for c in cond.operands)
    if isinstance(cond, ast.Not):
        return not holds(ctx, cond.operand)
    if isinstance(cond, ast.FlagTest):
        return ctx.customer.get(cond.attr.attribute) is True
    if isinstance(cond, ast.Member):
        members = ctx.customer.get(cond.attr.attribute) or ()
        inside = getattr(ctx.request, cond.field) in list(members)
        return inside != cond.negated
    value = attribute_value(ctx, cond.attr.attribute)
    if value is None:
        return False  # a comparison with an absent value is false
    if isinstance(cond, ast.InList):
        inside = any(value == literal(v) for v in cond.values)
        return inside != cond.negated
    assert isinstance(cond, ast.Compare), type(cond)
    other = literal(cond.value)
    op = cond.op
    if op in ("is", "=="):
        return bool(value == other)
    if op in ("is not", "!="):
        return bool(value != other)
    if op == "<":
        return bool(value < other)
    if op == "<=":
        return bool(value <= other)
    if op == ">":
        return bool(value > other)
    if op == ">=":
        return bool(value >= other)
    raise AssertionError(op)


# ---- require, exclusive ---------------------------------------------------------------------


def require_denies(ctx: Context, rule: ast.Require, ledger: Sequence[Any]) -> bool:
    at_least = seconds_of(rule.at_least) if rule.at_least is not None else 0
    latest = ctx.t - dt.timedelta(seconds=at_least)
    earliest = None if rule.within is None else ctx.t - dt.timedelta(seconds=seconds_of(rule.within))
    outcome = rule.outcome.value if rule.outcome is not None else None
    for c in ledger:
        if is_event(c) or c.status != "sent" or not ctx.matches(rule.prerequisite, c):
            continue
        if outcome is not None and c.outcome != outcome:
            continue
        if c.at <= latest and (earliest is None or c.at >= earliest):
            return False
    return True


def exclusive_near(ctx: Context, rule: ast.Exclusive, contact: Any) -> bool:
    return (
        ctx.matches(rule.selector, contact)
        and contact.team != ctx.request.team
        and abs(contact.at - ctx.t) < dt.timedelta(seconds=seconds_of(rule.distance))
    )


def exclusive_denies(ctx: Context, rule: ast.Exclusive, ledger: Sequence[Any]) -> bool:
    return any(exclusive_near(ctx, rule, c) for c in counted(ledger))


# ---- one rule, with displacement -----------------------------------------------------------------


def denies(ctx: Context, rule: Any, ledger: Sequence[Any]) -> bool:
    if isinstance(rule, ast.Cap):
        return cap_denies(ctx, rule, ledger)
    if isinstance(rule, ast.Quiet):
        return quiet_denies(ctx, rule, ledger)
    if isinstance(rule, ast.Exclude):
        return holds(ctx, rule.condition)
    if isinstance(rule, ast.Require):
        return require_denies(ctx, rule, ledger)
    if isinstance(rule, ast.Exclusive):
        return exclusive_denies(ctx, rule, ledger)
    raise AssertionError(f"the reference does not know {type(rule).__name__}")


def displaced_by(ctx: Context, rule: Any, lower: list[Any]) -> list[Any]:
    """The lower-ranked planned contacts ``rule`` counts against the request."""
    if isinstance(rule, ast.Cap):
        pool = cap_pool(ctx, rule, lower)
        return [c for c in pool if cap_counts_against(ctx, rule, c)]
    if isinstance(rule, ast.Quiet) and isinstance(rule.period, ast.WithinAfter):
        period = rule.period
        return [c for c in triggers(ctx, period, lower) if not is_event(c) and quiet_holds(ctx, period, c)]
    if isinstance(rule, ast.Exclusive):
        return [c for c in lower if exclusive_near(ctx, rule, c)]
    return []


def fewest_for_cap(ctx: Context, rule: Any, ledger: Sequence[Any], blocking: list[Any]) -> list[Any]:
    """A cap displaces only what it takes: lowest rank first, then latest ``at``, then
    latest in the ledger, one at a time until the cap passes (docs/language.md)."""
    position = {id(e): i for i, e in enumerate(ledger)}
    ordered = sorted(
        blocking,
        key=lambda c: (-rank(ctx.pol, c.team, ctx.owner), -c.at.timestamp(), -position[id(c)]),
    )
    taken: list[Any] = []
    for contact in ordered:
        taken.append(contact)
        gone = {id(c) for c in taken}
        if not denies(ctx, rule, [e for e in ledger if id(e) not in gone]):
            break
    return taken


def subject(ctx: Context, rule: Any) -> bool:
    req = ctx.request
    return selector_matches(ctx.pol, rule.selector, req.purpose, req.channel, req.team, ctx.owner)


DISPLACING = ("cap", "quiet", "exclusive")


def decide_at(source: Any, customer: Mapping[str, Any], request: Any,
              ledger: Sequence[Any]) -> tuple[bool, tuple[str, ...], tuple[Any, ...]]:
    """allowed, denied_by, displaces for the request at its own instant."""
    pol = load(source)
    ctx = make_context(pol, customer, request)
    my_rank = rank(pol, request.team, ctx.owner)
    lower = [
        c for c in ledger
        if not is_event(c) and c.status == "planned" and rank(pol, c.team, ctx.owner) > my_rank
    ]
    lower_ids = {id(c) for c in lower}
    without = [e for e in ledger if id(e) not in lower_ids]
    denied: list[str] = []
    displaced_ids: set[int] = set()
    for rule in pol.rules:
        if isinstance(rule, ast.Exempt) or not subject(ctx, rule) or is_lifted(pol, rule, request, ctx.owner):
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
    return True, (), tuple(ledger[i] for _, i in order)


def make_context(pol: RefPolicy, customer: Mapping[str, Any], request: Any) -> Context:
    owner = customer.get(pol.owner_attribute) if pol.owner_attribute else None
    return Context(pol, customer, request, zone_of(customer_zone_name(pol, customer)), owner)


# ---- next allowed -------------------------------------------------------------------------------


def rule_durations(pol: RefPolicy) -> set[dt.timedelta]:
    out: set[dt.timedelta] = set()
    for rule in pol.rules:
        if isinstance(rule, ast.Cap) and isinstance(rule.window, ast.RollingWindow):
            out.add(dt.timedelta(seconds=seconds_of(rule.window.length)))
        elif isinstance(rule, ast.Quiet) and isinstance(rule.period, ast.WithinAfter) \
                and rule.period.duration is not None:
            out.add(dt.timedelta(seconds=seconds_of(rule.period.duration)))
        elif isinstance(rule, ast.Exclusive):
            out.add(dt.timedelta(seconds=seconds_of(rule.distance)))
        elif isinstance(rule, ast.Require):
            out.add(dt.timedelta(seconds=seconds_of(rule.at_least) if rule.at_least else 0))
            if rule.within is not None:
                out.add(dt.timedelta(seconds=seconds_of(rule.within)))
    return out


def clock_minutes(pol: RefPolicy) -> set[int]:
    return {clock_minutes_of(text) for r in pol.rules
            if isinstance(r, ast.Quiet) and isinstance(r.period, (ast.Outside, ast.Between))
            for text in (r.period.start, r.period.end)}


def candidates(source: Any, customer: Mapping[str, Any], t: dt.datetime, ledger: Sequence[Any],
               days: int) -> Iterator[dt.datetime]:
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
    pol = load(source)
    end = t + dt.timedelta(days=days)
    durations = rule_durations(pol)
    from_ledger = {t} | {e.at + d for e in ledger for d in durations}
    from_ledger |= {e.at - d for e in ledger for d in durations}
    zones = {customer_zone_name(pol, customer) or "UTC", pol.timezone or "UTC"}
    minutes = clock_minutes(pol)
    chunk = dt.timedelta(days=7)
    low = t
    while low <= end:
        high = min(low + chunk, end + TICK)
        found = {u for u in from_ledger if low <= u < high}
        for name in zones:
            zone = zone_of(name if name != "UTC" else None)
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


def as_request(request: Any) -> Req:
    return Req(request.team, request.channel, request.purpose, request.at.astimezone(UTC),
               getattr(request, "campaign", None))


def reference_decide(source: Any, customer: Mapping[str, Any], request: Any, ledger: Sequence[Any],
                     *, horizon_days: int = 400) -> RefDecision:
    """The decision of section 7, by brute force. ``source`` is the policy's text or AST."""
    pol = load(source)
    ledger = list(ledger)
    req = as_request(request)
    allowed, denied_by, displaces = decide_at(pol, customer, req, ledger)
    if allowed:
        return RefDecision(True, (), displaces, req.at)
    return RefDecision(False, denied_by, (), next_allowed(pol, customer, req, ledger, horizon_days))


def next_allowed(pol: RefPolicy, customer: Mapping[str, Any], request: Req, ledger: list[Any],
                 days: int) -> dt.datetime | None:
    ctx = make_context(pol, customer, request)
    # Exclusions do not depend on time: waiting never helps (a shortcut, not a semantic change).
    for rule in pol.rules:
        if isinstance(rule, ast.Exempt) or not subject(ctx, rule) or is_lifted(pol, rule, request, ctx.owner):
            continue
        if isinstance(rule, ast.Exclude) and denies(ctx, rule, ledger):
            return None
        # A prerequisite p helps only while u - within <= p, i.e. never if p < t - within.
        if isinstance(rule, ast.Require):
            outcome = rule.outcome.value if rule.outcome is not None else None
            within = None if rule.within is None else dt.timedelta(seconds=seconds_of(rule.within))
            if not any(
                not is_event(c) and c.status == "sent" and ctx.matches(rule.prerequisite, c)
                and (outcome is None or c.outcome == outcome)
                and (within is None or c.at >= request.at - within)
                for c in ledger
            ):
                return None
    for u in candidates(pol, customer, request.at, ledger, days):
        if decide_at(pol, customer, request.moved_to(u), ledger)[0]:
            return u
    return None

"""A deliberately simple, slow reference evaluator, written from docs/language.md sections 3-7
and section 11 of the contract (``LANGUAGE-2.md``).

It is an independent oracle: from policylang it imports only the parser and the AST it
produces (``policylang.parser.parse``, ``policylang.nodes``). Selector matching, clock ranges,
days and dates, exemptions, precedence ranks, condition interpretation, every rule kind and
displacement are written here again, plainly (linear scans over the whole ledger, datetimes
and :mod:`zoneinfo`, no shared helpers), so a wrong compiler or a wrong rule graph shows up as
a disagreement in the differential tests. ``next_allowed_at`` is found by deciding the
request again at every instant where the answer could change. Holiday calendars come from
the third-party ``holidays`` package directly.

Ledger entries and requests are records or plain section 10 JSON mappings (read by duck
typing; void lines are applied here); the customer is the plain JSON-like mapping (lists for
sets and zones, ISO text or dates for dates, RFC 3339 text for instants).

Interpretations (the project's decided ones, and section 11's):

* The customer's zones are ``customer["timezone"]`` (one name or a list; an empty list is
  absent) when the policy declares a ``timezone`` attribute of type ``zone``/``zones``,
  else the policy's ``timezone``, else UTC. ``capacity`` rules count all customers, so their
  local dates are in the policy's zone. A rule with ``in zone`` reads local time there.
* Section 11.7: every rule is judged in each of its zones and denies if it denies in any;
  an exemption lifts only if it lifts in every zone; a contact escapes counting under an
  exemption window only if it is inside a window in every zone.
* Caps, quiet-after and exclusive rules count sent and planned contacts; ``require`` only
  sent; a void contact counts for nothing (11.4).
* Displacement: D = planned contacts of teams ranking strictly lower than the requester.
  A rule denies only if it denies with the ledger minus D. If it denies with the full
  ledger but not without D, the request proceeds and displaces the D contacts the rule
  counts against it (a ``cap`` only as many as it takes, lowest rank and latest first).
  ``capacity``, ``require`` and ``exclude`` never displace; ``warn`` rules are judged last
  against the ledger minus what the decision displaces (11.14).
* A comparison with an absent attribute is false, whatever the operator (section 3); a
  time test with an absent value, or a value after the instant, is false (11.2).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from policylang import nodes
from policylang.parser import parse

UTC = dt.timezone.utc
TICK = dt.timedelta(microseconds=1)
DAY = dt.timedelta(days=1)
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
UNIT_MONTHS = {"month": 1, "year": 12}
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
VOCAB_KINDS = {"channels": "channel", "teams": "team", "purposes": "purpose",
               "outcomes": "outcome", "events": "event"}
RULE_NODES = (nodes.Cap, nodes.Quiet, nodes.Exclude, nodes.Require, nodes.Exclusive, nodes.Exempt)


@attrs.frozen
class RefDecision:
    allowed: bool
    denied_by: tuple[str, ...]
    displaces: tuple[Any, ...]
    next_allowed_at: dt.datetime | None
    warnings: tuple[str, ...] = ()


@attrs.frozen
class Req:
    """The reference's own request: the fields a decision reads (``campaigns`` a tuple or None)."""

    team: str
    channel: str
    purpose: str
    at: dt.datetime
    campaigns: tuple[str, ...] | None = None

    def moved_to(self, at: dt.datetime) -> Req:
        return Req(self.team, self.channel, self.purpose, at, self.campaigns)


@attrs.frozen(eq=False)
class Entry:
    """The reference's own ledger entry: a contact, or an event when ``name`` is set."""

    at: dt.datetime
    channel: str = ""
    purpose: str = ""
    team: str = ""
    status: str = "sent"
    outcome: str | None = None
    campaigns: tuple[str, ...] | None = None
    id: str | None = None
    name: str | None = None
    orig: Any = None


# ---- the policy, read from its syntax tree ----------------------------------------------------


@attrs.frozen
class RefPolicy:
    timezone: str | None
    kind_of: dict[str, str]  # declared name -> channel, team, purpose, outcome, event
    attributes: dict[str, nodes.AttrType]
    owner_attribute: str | None
    precedence: tuple[str, ...]
    rules: tuple[Any, ...]  # the AST rule nodes, in policy order
    holiday_code: str | None = None
    holiday_attribute: str | None = None
    week_start: int = 0
    holds: tuple[nodes.Hold, ...] = ()

    @property
    def outcomes(self) -> tuple[str, ...]:
        return tuple(n for n, k in self.kind_of.items() if k == "outcome")


def load(source: Any) -> RefPolicy:
    """A policy from its text or its parsed :class:`nodes.PolicyFile`."""
    if isinstance(source, RefPolicy):
        return source
    if isinstance(source, str):
        return _load_text(source)
    assert isinstance(source, nodes.PolicyFile), type(source)
    return _load_tree(source)


@functools.lru_cache(maxsize=256)
def _load_text(text: str) -> RefPolicy:
    return _load_tree(parse(text, "reference.pol"))


def _load_tree(tree: nodes.PolicyFile) -> RefPolicy:
    timezone = None
    kind_of: dict[str, str] = {}
    attributes: dict[str, nodes.AttrType] = {}
    owner = None
    precedence: tuple[str, ...] = ()
    rules = []
    holiday_code = holiday_attribute = None
    week_start = 0
    holds = []
    for statement in tree.statements:
        if isinstance(statement, nodes.PolicyTimezone):
            timezone = statement.zone
        elif isinstance(statement, nodes.Vocabulary):
            for name in statement.names:
                kind_of[name.value] = VOCAB_KINDS[statement.kind]
        elif isinstance(statement, nodes.CustomerBlock):
            for attribute in statement.attributes:
                attributes[attribute.name.value] = attribute.type
        elif isinstance(statement, nodes.OwnerDecl):
            owner = statement.attr.attribute
        elif isinstance(statement, nodes.Precedence):
            precedence = tuple(n.value for n in statement.teams)
        elif isinstance(statement, nodes.Holidays):
            if statement.code is not None:
                holiday_code = statement.code
            if statement.attr is not None:
                holiday_attribute = statement.attr.attribute
        elif isinstance(statement, nodes.WeekStarts):
            week_start = DAY_NAMES.index(statement.day.value)
        elif isinstance(statement, nodes.Hold):
            holds.append(statement)
        elif isinstance(statement, RULE_NODES):
            rules.append(statement)
    return RefPolicy(timezone, kind_of, attributes, owner, precedence, tuple(rules), holiday_code,
                     holiday_attribute, week_start, tuple(holds))


def seconds_of(duration: nodes.Duration) -> int:
    """A fixed-length duration in seconds (months and years have none: see :func:`plus`)."""
    return duration.amount * UNIT_SECONDS[duration.unit]


def months_of(duration: nodes.Duration) -> int:
    return duration.amount * UNIT_MONTHS.get(duration.unit, 0)


def plus_months(instant: dt.datetime, months: int, zone: dt.tzinfo) -> dt.datetime:
    """``instant`` + N months in ``zone`` (11.2), written from the contract: the same local
    day of month (lowered to the target month's last day) and clock time; a clock time the
    date skips is moved forward by the gap, a repeated one is the first."""
    local = instant.astimezone(zone)
    index = local.year * 12 + local.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    naive = dt.datetime(year, month, day, local.hour, local.minute, local.second, local.microsecond)
    if not isinstance(zone, ZoneInfo):
        return naive.replace(tzinfo=zone).astimezone(UTC)
    # the first reading of a repeated time; for a skipped one the reading before the change,
    # which is the instant the gap's length later on the clock
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:  # the time exists: take its first instant
        return min(u for u in (first, second) if u.astimezone(zone).replace(tzinfo=None) == naive)
    gap = second.astimezone(zone).utcoffset() - first.astimezone(zone).utcoffset()  # type: ignore[operator]
    moved = naive + abs(gap)
    return moved.replace(tzinfo=zone).astimezone(UTC)


def plus(instant: dt.datetime, duration: nodes.Duration, zone: dt.tzinfo) -> dt.datetime:
    """``instant`` + ``duration``; months are added in ``zone``."""
    months = months_of(duration)
    if months:
        return plus_months(instant, months, zone)
    return instant + dt.timedelta(seconds=seconds_of(duration))


def clock_minutes_of(time: nodes.ClockTime) -> int:
    return time.hour * 60 + time.minute


# ---- selectors, precedence -----------------------------------------------------------------


def selector_matches(pol: RefPolicy, sel: nodes.Selector, purpose: str, channel: str, team: str,
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


# ---- time helpers -------------------------------------------------------------------------


def zone_of(name: str | None) -> dt.tzinfo:
    return ZoneInfo(name) if name else UTC


def customer_zone_names(pol: RefPolicy, customer: Mapping[str, Any]) -> tuple[str | None, ...]:
    """The customer's possible zones (11.7); the policy's zone (or UTC) without any."""
    declared = pol.attributes.get("timezone")
    if declared is not None and declared.kind in ("zone", "zones", "set") and customer.get("timezone"):
        value = customer["timezone"]
        names = (value,) if isinstance(value, str) else tuple(value)
        if names:
            return tuple(dict.fromkeys(str(n) for n in names))
    return (pol.timezone,)


def customer_zone_name(pol: RefPolicy, customer: Mapping[str, Any]) -> str | None:
    """The first (display) zone."""
    return customer_zone_names(pol, customer)[0]
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




def period_key(day: dt.date, unit: str, week_start: int = 0) -> tuple[int, ...]:
    if unit == "day":
        return (day.toordinal(),)
    if unit == "week":  # weeks start on `week starts DAY` (Monday by default, 11.13)
        return ((day - dt.timedelta(days=(day.weekday() - week_start) % 7)).toordinal(),)
    if unit == "month":
        return (day.year, day.month)
    if unit == "quarter":
        return (day.year, (day.month - 1) // 3)
    if unit == "year":
        return (day.year,)
    raise ValueError(unit)


@functools.lru_cache(maxsize=512)
def holiday_dates(code: str, year: int) -> frozenset[dt.date]:
    """The public holidays of a calendar code (``FR``, ``FR-57``, ``US-TX``) in one year,
    straight from the third-party ``holidays`` package (its defaults, observed days included)."""
    import holidays

    country, _, region = code.partition("-")
    return frozenset(holidays.country_holidays(country, subdiv=region or None, years=year).keys())


# ---- ledger entries ---------------------------------------------------------------------------


def instant_of(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime) and value.tzinfo is not None, value
    return value.astimezone(UTC)


def campaigns_of(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value) or None


def entries_of(ledger: Sequence[Any]) -> list[Entry]:
    """The reference's entries from records or JSON mappings, void lines applied (11.4)."""
    out: list[Entry] = []
    voided: set[str] = set()
    for raw in ledger:
        if isinstance(raw, Entry):
            out.append(raw)
            continue
        get = raw.get if isinstance(raw, Mapping) else (lambda key, default=None, raw=raw: getattr(raw, key, default))
        if isinstance(raw, Mapping) and "void" in raw or not isinstance(raw, Mapping) and hasattr(raw, "ids"):
            ids = raw["void"] if isinstance(raw, Mapping) else raw.ids
            voided.update([ids] if isinstance(ids, str) else ids)
            if get("event"):
                out.append(Entry(instant_of(get("at")), name=get("event"), orig=raw))
            continue
        name = get("event") if isinstance(raw, Mapping) else (None if hasattr(raw, "channel") else raw.name)
        if name:
            out.append(Entry(instant_of(get("at")), campaigns=campaigns_of(get("campaign")), name=name, orig=raw))
            continue
        out.append(Entry(
            instant_of(get("at")), get("channel"), get("purpose"), get("team"), get("status") or "sent",
            get("outcome"), campaigns_of(get("campaign")), get("id"), None, raw,
        ))
    return [attrs.evolve(e, status="void") if e.id is not None and e.id in voided and e.name is None else e
            for e in out]


def is_event(entry: Entry) -> bool:
    return entry.name is not None


def counted(ledger: Sequence[Entry]) -> list[Entry]:
    """Contacts caps, quiet-after and exclusive rules count: sent and planned (never void)."""
    return [e for e in ledger if not is_event(e) and e.status in ("sent", "planned")]


# ---- the context of one decision, in one zone and one campaign group ----------------------------


@attrs.define
class Context:
    pol: RefPolicy
    customer: Mapping[str, Any]
    request: Req
    zones: tuple[str | None, ...]  # the customer's zones
    owner: str | None
    zone: dt.tzinfo = UTC  # the zone the current rule is judged in
    group: str | None = None  # the campaign group a `for each campaign` rule is judged in
    ledger_for_windows: Sequence[Entry] = ()  # the whole ledger: exemption windows read it all

    @property
    def t(self) -> dt.datetime:
        return self.request.at

    def matches(self, sel: nodes.Selector, contact: Entry) -> bool:
        return selector_matches(self.pol, sel, contact.purpose, contact.channel, contact.team, self.owner)

    def in_zone(self, zone: dt.tzinfo, group: str | None) -> Context:
        return attrs.evolve(self, zone=zone, group=group)

    def request_value(self, field: str) -> Any:
        if field == "campaign":
            return self.group
        return getattr(self.request, field)


def in_group(ctx: Context, field: str | None, entry: Entry) -> bool:
    """Is ``entry`` in the request's group of ``for each FIELD``? A contact for several
    campaigns is in each one's group; an event without a campaign is in every group, and
    every event is in the group of a request without a campaign (11.3)."""
    if field is None:
        return True
    if field == "campaign":
        if is_event(entry):
            return ctx.group is None or entry.campaigns is None or ctx.group in entry.campaigns
        return ctx.group in (entry.campaigns or (None,))
    return bool(getattr(entry, field) == getattr(ctx.request, field))


def rule_zones(ctx: Context, rule: Any) -> list[dt.tzinfo]:
    """Where a rule reads local time: its ``in zone`` (a name, or a customer attribute that
    falls back to the customer's zones when absent), else the customer's zones; the
    policy's zone for ``capacity``."""
    fixed = rule.tail.zone
    if isinstance(fixed, str):
        return [zone_of(fixed)]
    if isinstance(fixed, nodes.AttrRef):
        value = ctx.customer.get(fixed.attribute)
        names = [value] if isinstance(value, str) else list(value or ())
        if names:
            return [zone_of(n) for n in names]
    if rule.kind == "capacity":
        return [zone_of(ctx.pol.timezone)]
    return [zone_of(n) for n in ctx.zones]


def groups_of(ctx: Context, rule: Any) -> list[str | None]:
    """The campaign groups a request is judged in by this rule: each of its campaigns for a
    ``for each campaign`` rule (11.3), else its one campaign (or none)."""
    mine = ctx.request.campaigns
    if by_campaign(rule) and mine:
        return list(mine)
    return [mine[0] if mine else None]


def by_campaign(rule: Any) -> bool:
    if isinstance(rule, nodes.Cap):
        return rule.for_each == "campaign"
    if isinstance(rule, nodes.Quiet):
        return any(isinstance(p, nodes.WithinAfter) and p.for_each == "campaign" for p in quiet_parts(rule))
    return False


def effective_zone(ctx: Context, rule: Any) -> dt.tzinfo:
    """Effective dates are read in the policy's zone, or the rule's ``in zone "NAME"`` (11.11)."""
    return zone_of(rule.tail.zone) if isinstance(rule.tail.zone, str) else zone_of(ctx.pol.timezone)


def is_date(name: nodes.Name) -> bool:
    return name.value[:1].isdigit()


def effective_period(ctx: Context, rule: Any) -> tuple[dt.datetime | None, dt.datetime | None]:
    zone = effective_zone(ctx, rule)
    tail = rule.tail
    start = first_instant(dt.date.fromisoformat(tail.start.value), zone) if tail.start is not None else None
    end = None
    if not (isinstance(rule, nodes.Exempt) and rule.window is not None):
        dates = [dt.date.fromisoformat(n.value) for n in tail.until_items if is_date(n)]
        end = first_instant(min(dates), zone) if dates else None
    return start, end


def in_force(ctx: Context, rule: Any) -> bool:
    """In its effective period (11.11) and its ``when`` holds (11.1), in ``ctx.zone``."""
    start, end = effective_period(ctx, rule)
    if start is not None and ctx.t < start:
        return False
    if end is not None and ctx.t >= end:
        return False
    return rule.tail.when is None or holds(ctx, rule.tail.when)


def targets(exempt: nodes.Exempt, rule: Any) -> bool:
    return any(t.text == rule.kind if t.is_kind else t.text == rule.name for t in exempt.targets)


def is_lifted(ctx: Context, rule: Any) -> bool:
    """Some exemption naming the rule matches the request and lifts in every zone (11.7):
    in force there and, with a window, inside an open window there (11.5, 11.6)."""
    req = ctx.request
    for other in ctx.pol.rules:
        if not isinstance(other, nodes.Exempt) or not targets(other, rule):
            continue
        if not selector_matches(ctx.pol, other.selector, req.purpose, req.channel, req.team, ctx.owner):
            continue
        if all(in_force(here, other) and (other.window is None or window_open(here, other))
               for here in (ctx.in_zone(z, ctx.group) for z in rule_zones(ctx, other))):
            return True
    return False


# ---- exemption windows (11.5) ----------------------------------------------------------------


@attrs.frozen
class Win:
    start: dt.datetime
    end: dt.datetime
    closer: Entry | None  # the contact that closed it (inside the window), if one did


def windows(ctx: Context, ex: nodes.Exempt, ledger: Sequence[Entry]) -> list[Win]:
    """Every window of ``ex`` in the ledger, in ``ctx.zone``."""
    spec = ex.window
    assert spec is not None
    opener_names = [n.value for n in spec.opener.names]
    if len(opener_names) == 1 and ctx.pol.kind_of.get(opener_names[0]) == "event":
        opens = [e.at for e in ledger if e.name == opener_names[0]]
    else:
        wanted = {o.value for o in spec.outcomes}
        opens = [c.at for c in ledger if not is_event(c) and c.status == "sent" and ctx.matches(spec.opener, c)
                 and (not wanted or c.outcome in wanted)]
    # closers: (instant, the closing contact or None)
    closers: list[tuple[dt.datetime, Entry | None]] = []
    for item in ex.tail.until_items:
        if is_date(item):
            closers.append((first_instant(dt.date.fromisoformat(item.value), effective_zone(ctx, ex)), None))
        elif ctx.pol.kind_of.get(item.value) == "event":
            closers += [(e.at, None) for e in ledger if e.name == item.value]
        else:
            closers += [(c.at, c) for c in ledger if not is_event(c) and c.status == "sent"
                        and ctx.matches(ex.selector, c) and c.outcome == item.value]
    out = []
    for e in opens:
        ends: list[tuple[dt.datetime, Entry | None]] = []
        if spec.duration is not None:
            ends.append((plus(e, spec.duration, ctx.zone), None))
        if spec.days is not None:
            ends.append((first_instant(local_date(e, ctx.zone) + dt.timedelta(days=spec.days), ctx.zone), None))
        ends += [(u, c) for u, c in closers if u > e]
        if not ends:
            continue
        end = min(u for u, _ in ends)
        at_end = [c for u, c in ends if u == end]
        # the closing contact is inside its own window; when a length, a date, an event or
        # another contact ends the window at the same instant, doubt restricts: none is
        closer = at_end[0] if len(at_end) == 1 else None
        out.append(Win(e, end, closer))
    return out


def window_open(ctx: Context, ex: nodes.Exempt) -> bool:
    return any(w.start <= ctx.t < w.end for w in windows(ctx, ex, ctx.ledger_for_windows))


def excused(ctx: Context, rule: nodes.Cap, contact: Entry, ledger: Sequence[Entry]) -> bool:
    """Placed inside an open window of an exemption naming the cap, in every zone of that
    exemption, which is in force at the decision (11.5): not counted."""
    for ex in ctx.pol.rules:
        if not isinstance(ex, nodes.Exempt) or ex.window is None or not targets(ex, rule):
            continue
        if not ctx.matches(ex.selector, contact):
            continue
        inside_everywhere = True
        for zone in rule_zones(ctx, ex):
            here = ctx.in_zone(zone, ctx.group)
            if not in_force(here, ex) or not any(
                w.start <= contact.at < w.end or (contact.at == w.end and w.closer is contact)
                for w in windows(here, ex, ledger)
            ):
                inside_everywhere = False
                break
        if inside_everywhere:
            return True
    return False


# ---- caps ------------------------------------------------------------------------------------


def counts_outcome(pol: RefPolicy, rule: nodes.Cap, contact: Entry) -> bool:
    """``not counting outcome ..`` / ``counting only outcome ..`` leave out sent contacts
    recorded with those outcomes; an unknown outcome counts (11.3)."""
    counting = rule.counting
    if counting is None or contact.status != "sent" or contact.outcome is None:
        return True
    listed = {o.value for o in counting.outcomes}
    return contact.outcome in listed if counting.only else contact.outcome not in listed


def cap_pool(ctx: Context, rule: nodes.Cap, ledger: Sequence[Entry]) -> list[Entry]:
    """Counted contacts the rule is about, in the request's group when ``for each``."""
    return [c for c in counted(ledger)
            if ctx.matches(rule.selector, c) and in_group(ctx, rule.for_each, c)
            and counts_outcome(ctx.pol, rule, c) and not excused(ctx, rule, c, ctx.ledger_for_windows)]


def cap_denies(ctx: Context, rule: nodes.Cap, ledger: Sequence[Entry]) -> bool:
    pool = cap_pool(ctx, rule, ledger)
    t = ctx.t
    window = rule.window
    zone = ctx.zone
    if isinstance(window, nodes.RollingWindow):
        if months_of(window.length):
            # 11.2: a window from s ends at s + W; the busiest one holding t starts at t or
            # at a contact c with c <= t < c + W (no month subtraction)
            starts = {t} | {c.at for c in pool if c.at <= t < plus(c.at, window.length, zone)}
            return any(sum(1 for c in pool if s <= c.at < plus(s, window.length, zone)) >= rule.limit
                       for s in starts)
        width = dt.timedelta(seconds=seconds_of(window.length))
        # The count over [s, s+W) is a step function of s; its maximum over (t-W, t]
        # is reached at s = t, at a contact instant, or just after t - W.
        starts = {t, t - width + TICK} | {c.at for c in pool if t - width < c.at <= t}
        return any(sum(1 for c in pool if s <= c.at < s + width) >= rule.limit for s in starts)
    today = local_date(t, zone)
    if isinstance(window, nodes.CalendarWindow):
        key = period_key(today, window.unit, ctx.pol.week_start)
        return sum(1 for c in pool if period_key(local_date(c.at, zone), window.unit, ctx.pol.week_start) == key) \
            >= rule.limit
    assert isinstance(window, nodes.ConsecutiveDays)
    for first in range(window.days):
        start = today - dt.timedelta(days=window.days - 1 - first)
        end = start + dt.timedelta(days=window.days - 1)
        if sum(1 for c in pool if start <= local_date(c.at, zone) <= end) >= rule.limit:
            return True
    return False


def cap_counts_against(ctx: Context, rule: nodes.Cap, contact: Entry) -> bool:
    """Is ``contact`` (already known to be in the rule's pool) inside some window holding t?"""
    t = ctx.t
    window = rule.window
    if isinstance(window, nodes.RollingWindow):
        if months_of(window.length):
            return contact.at <= t < plus(contact.at, window.length, ctx.zone) or t <= contact.at < plus(
                t, window.length, ctx.zone)
        width = dt.timedelta(seconds=seconds_of(window.length))
        return t - width < contact.at < t + width
    zone = ctx.zone
    today = local_date(t, zone)
    day = local_date(contact.at, zone)
    if isinstance(window, nodes.CalendarWindow):
        return period_key(day, window.unit, ctx.pol.week_start) == period_key(today, window.unit, ctx.pol.week_start)
    assert isinstance(window, nodes.ConsecutiveDays)
    return abs((day - today).days) < window.days


# ---- quiet -------------------------------------------------------------------------------------


def quiet_parts(rule: nodes.Quiet) -> tuple[Any, ...]:
    return (rule.period, *rule.more_periods)


def trigger_event(ctx: Context, period: nodes.WithinAfter) -> str | None:
    names = period.trigger.names
    if len(names) == 1 and ctx.pol.kind_of.get(names[0].value) == "event":
        return names[0].value
    return None


def matching_triggers(ctx: Context, period: nodes.WithinAfter, ledger: Sequence[Entry]) -> list[Entry]:
    """Entries the period counts: the named event, or sent and planned contacts (planned only
    when no outcome is named; never void) in the request's group."""
    event = trigger_event(ctx, period)
    if event is not None:
        return [e for e in ledger if e.name == event and in_group(ctx, period.for_each, e)]
    outcomes = {o.value for o in ((period.outcome,) if period.outcome else ()) + period.more_outcomes}
    return [
        c for c in counted(ledger)
        if ctx.matches(period.trigger, c)
        and (not outcomes or c.outcome in outcomes)
        and in_group(ctx, period.for_each, c)
    ]


def count_in_window(ctx: Context, period: nodes.WithinAfter, pool: list[Entry], x: Entry) -> int:
    """Entries of the pool in the window ending at ``x``, ``x`` included (11.12)."""
    window = period.count_window
    if isinstance(window, nodes.RollingWindow):
        width = dt.timedelta(seconds=seconds_of(window.length))
        return sum(1 for e in pool if x.at - width < e.at <= x.at)
    day = local_date(x.at, ctx.zone)
    if isinstance(window, nodes.ConsecutiveDays):
        first = day - dt.timedelta(days=window.days - 1)
        return sum(1 for e in pool if e.at <= x.at and first <= local_date(e.at, ctx.zone))
    assert isinstance(window, nodes.CalendarWindow)
    key = period_key(day, window.unit, ctx.pol.week_start)
    return sum(1 for e in pool if e.at <= x.at
               and period_key(local_date(e.at, ctx.zone), window.unit, ctx.pol.week_start) == key)


def triggers(ctx: Context, period: nodes.WithinAfter, ledger: Sequence[Entry]) -> list[Entry]:
    """Entries that start a quiet stretch: every matching one, or with ``after N X in W``
    only those whose window holds N or more (11.12)."""
    pool = matching_triggers(ctx, period, ledger)
    if period.count is None:
        return pool
    return [x for x in pool if count_in_window(ctx, period, pool, x) >= period.count]


def quiet_until(ctx: Context, period: nodes.WithinAfter, trigger: Entry) -> dt.datetime:
    if period.duration is not None:
        return plus(trigger.at, period.duration, ctx.zone)
    assert period.days is not None
    day = local_date(trigger.at, ctx.zone) + dt.timedelta(days=period.days)
    return first_instant(day, ctx.zone)


def quiet_holds(ctx: Context, period: nodes.WithinAfter, trigger: Entry) -> bool:
    return trigger.at <= ctx.t < quiet_until(ctx, period, trigger)


def clock_quiet(period: nodes.Outside | nodes.Between, minute: float) -> bool:
    start = clock_minutes_of(period.start)
    end = clock_minutes_of(period.end)
    # a range with start > end wraps past midnight
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    return inside if isinstance(period, nodes.Between) else not inside


def customer_calendar(ctx: Context) -> str | None:
    if ctx.pol.holiday_attribute is not None:
        region = ctx.customer.get(ctx.pol.holiday_attribute)
        if isinstance(region, str) and region:
            return region
    return ctx.pol.holiday_code


def day_quiet(ctx: Context, period: nodes.OnDays, day: dt.date) -> bool:
    for name in period.days:
        text = name.value
        if text == "weekend" and day.weekday() >= 5:
            return True
        if text in DAY_NAMES and DAY_NAMES.index(text) == day.weekday():
            return True
        if text[:1].isdigit() and dt.date.fromisoformat(text) == day:
            return True
        if text.startswith("holidays"):
            code = text[len("holidays"):].strip().strip('"') or customer_calendar(ctx)
            if code and day in holiday_dates(code, day.year):
                return True
    return False


def days_and_clock_quiet(ctx: Context, period: nodes.OnDays, instant: dt.datetime) -> bool:
    """``on DAYS``, alone or with a clock range (11.9): ``outside A-B`` is quiet on those
    dates before A and from B; a wrapping ``between A and B`` runs from A on the named date
    to B on the next."""
    local = instant.astimezone(ctx.zone)
    day = local.date()
    rng = period.clock
    if rng is None:
        return day_quiet(ctx, period, day)
    minute = local_minute(instant, ctx.zone)
    start, end = clock_minutes_of(rng.start), clock_minutes_of(rng.end)
    if isinstance(rng, nodes.Between) and start > end:
        if minute >= start:
            return day_quiet(ctx, period, day)
        if minute < end:
            return day_quiet(ctx, period, day - DAY)
        return False
    return day_quiet(ctx, period, day) and clock_quiet(rng, minute)


def part_quiet(ctx: Context, period: Any, ledger: Sequence[Entry]) -> bool:
    if isinstance(period, (nodes.Outside, nodes.Between)):
        return clock_quiet(period, local_minute(ctx.t, ctx.zone))
    if isinstance(period, nodes.OnDays):
        return days_and_clock_quiet(ctx, period, ctx.t)
    assert isinstance(period, nodes.WithinAfter)
    return any(quiet_holds(ctx, period, e) for e in triggers(ctx, period, ledger))


def quiet_denies(ctx: Context, rule: nodes.Quiet, ledger: Sequence[Entry]) -> bool:
    return any(part_quiet(ctx, period, ledger) for period in quiet_parts(rule))


# ---- conditions --------------------------------------------------------------------------------


def attribute_value(ctx: Context, name: str) -> Any:
    value = ctx.customer.get(name)
    declared = ctx.pol.attributes.get(name)
    if declared is not None and declared.kind == "date" and isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


def time_value(ctx: Context, name: str) -> dt.datetime | None:
    """An instant or date attribute as an instant; a date is the start of that local date (11.2)."""
    value = ctx.customer.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC)
    assert isinstance(value, dt.date), value
    return first_instant(value, ctx.zone)


def time_test_holds(ctx: Context, test: nodes.TimeTest) -> bool:
    a = time_value(ctx, test.attr.attribute)
    t = ctx.t
    if a is None or a > t:
        return False
    if test.op == "within":
        assert test.duration is not None
        return t < plus(a, test.duration, ctx.zone)
    if test.op == "within_days":
        assert test.days is not None
        return local_date(t, ctx.zone) < local_date(a, ctx.zone) + dt.timedelta(days=test.days)
    assert test.op == "ago" and test.duration is not None, test.op
    return plus(a, test.duration, ctx.zone) <= t


def literal(value: nodes.Value) -> Any:
    return value.value


def holds(ctx: Context, cond: Any) -> bool:
    """Interpret a condition of the AST for this customer and request (section 5, 11.2)."""
    if isinstance(cond, nodes.AllOf):
        return all(holds(ctx, c) for c in cond.operands)
    if isinstance(cond, nodes.AnyOf):
        return any(holds(ctx, c) for c in cond.operands)
    if isinstance(cond, nodes.Not):
        return not holds(ctx, cond.operand)
    if isinstance(cond, nodes.TimeTest):
        return time_test_holds(ctx, cond)
    if isinstance(cond, nodes.FlagTest):
        return ctx.customer.get(cond.attr.attribute) is True
    if isinstance(cond, nodes.Member):
        members = ctx.customer.get(cond.attr.attribute) or ()
        inside = getattr(ctx.request, cond.field) in list(members)
        return inside != cond.negated
    value = attribute_value(ctx, cond.attr.attribute)
    if value is None:
        return False  # a comparison with an absent value is false
    if isinstance(cond, nodes.InList):
        inside = any(value == literal(v) for v in cond.values)
        return inside != cond.negated
    assert isinstance(cond, nodes.Compare), type(cond)
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


def time_tests_in(cond: Any) -> list[nodes.TimeTest]:
    if isinstance(cond, nodes.TimeTest):
        return [cond]
    if isinstance(cond, (nodes.AllOf, nodes.AnyOf)):
        return [t for c in cond.operands for t in time_tests_in(c)]
    if isinstance(cond, nodes.Not):
        return time_tests_in(cond.operand)
    return []


# ---- require, exclusive ---------------------------------------------------------------------


def require_denies(ctx: Context, rule: nodes.Require, ledger: Sequence[Entry]) -> bool:
    outcomes = {o.value for o in ((rule.outcome,) if rule.outcome else ()) + rule.more_outcomes}
    for c in ledger:
        if is_event(c) or c.status != "sent" or not ctx.matches(rule.prerequisite, c):
            continue
        if outcomes and c.outcome not in outcomes:
            continue
        if prerequisite_in_range(rule, c.at, ctx.t, ctx.zone):
            return False
    return True


def prerequisite_in_range(rule: nodes.Require, p: dt.datetime, t: dt.datetime, zone: dt.tzinfo) -> bool:
    """p + at_least <= t <= p + within, both ends kept (section 5); months added in ``zone``."""
    if (p if rule.at_least is None else plus(p, rule.at_least, zone)) > t:
        return False
    return rule.within is None or t <= plus(p, rule.within, zone)


def exclusive_near(ctx: Context, rule: nodes.Exclusive, contact: Entry) -> bool:
    """c <= t < c + D, or t < c < t + D (11.7 for months: added in ``ctx.zone``)."""
    c, t = contact.at, ctx.t
    near = c <= t < plus(c, rule.distance, ctx.zone) or t < c < plus(t, rule.distance, ctx.zone)
    return ctx.matches(rule.selector, contact) and contact.team != ctx.request.team and near


def exclusive_denies(ctx: Context, rule: nodes.Exclusive, ledger: Sequence[Entry]) -> bool:
    return any(exclusive_near(ctx, rule, c) for c in counted(ledger))


# ---- one rule, with displacement -----------------------------------------------------------------


def body_denies(ctx: Context, rule: Any, ledger: Sequence[Entry]) -> bool:
    if isinstance(rule, nodes.Cap):
        return cap_denies(ctx, rule, ledger)
    if isinstance(rule, nodes.Quiet):
        return quiet_denies(ctx, rule, ledger)
    if isinstance(rule, nodes.Exclude):
        return holds(ctx, rule.condition)
    if isinstance(rule, nodes.Require):
        return require_denies(ctx, rule, ledger)
    if isinstance(rule, nodes.Exclusive):
        return exclusive_denies(ctx, rule, ledger)
    raise AssertionError(f"the reference does not know {type(rule).__name__}")


def judged_in(ctx: Context, rule: Any) -> list[Context]:
    """One context per zone the rule reads and campaign group the request is in."""
    return [ctx.in_zone(zone, group) for zone in rule_zones(ctx, rule) for group in groups_of(ctx, rule)]


def denies(ctx: Context, rule: Any, ledger: Sequence[Entry]) -> bool:
    """The rule, in force, denies in some zone and group (11.1, 11.3, 11.7, 11.11)."""
    return any(in_force(here, rule) and body_denies(here, rule, ledger) for here in judged_in(ctx, rule))


def displaced_by(ctx: Context, rule: Any, ledger: Sequence[Entry], lower: list[Entry]) -> list[Entry]:
    """The lower-ranked planned contacts ``rule`` counts against the request (every zone
    and group where it is in force)."""
    lower_ids = {id(c) for c in lower}
    found: dict[int, Entry] = {}
    for here in judged_in(ctx, rule):
        if not in_force(here, rule):
            continue
        if isinstance(rule, nodes.Cap):
            pool = cap_pool(here, rule, lower)
            found.update((id(c), c) for c in pool if cap_counts_against(here, rule, c))
        elif isinstance(rule, nodes.Quiet):
            for period in quiet_parts(rule):
                if isinstance(period, nodes.WithinAfter):
                    found.update((id(c), c) for c in triggers(here, period, ledger)
                                 if id(c) in lower_ids and quiet_holds(here, period, c))
        elif isinstance(rule, nodes.Exclusive):
            found.update((id(c), c) for c in lower if exclusive_near(here, rule, c))
    return list(found.values())


def fewest_for_cap(ctx: Context, rule: Any, ledger: Sequence[Entry], blocking: list[Entry]) -> list[Entry]:
    """A cap displaces only what it takes: lowest rank first, then latest ``at``, then
    latest in the ledger, one at a time until the cap passes (docs/language.md)."""
    position = {id(e): i for i, e in enumerate(ledger)}
    ordered = sorted(
        blocking,
        key=lambda c: (-rank(ctx.pol, c.team, ctx.owner), -c.at.timestamp(), -position[id(c)]),
    )
    taken: list[Entry] = []
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


@attrs.frozen
class Verdicts:
    allowed: bool
    denied_by: tuple[str, ...]
    displaces: tuple[Any, ...]
    warnings: tuple[str, ...]


def judge(source: Any, customer: Mapping[str, Any], request: Any, ledger: Sequence[Any]) -> Verdicts:
    """allowed, denied_by, displaces and warnings for the request at its own instant."""
    pol = load(source)
    entries = entries_of(ledger)
    req = as_request(request)
    ctx = make_context(pol, customer, req, entries)
    my_rank = rank(pol, req.team, ctx.owner)
    lower = [
        c for c in entries
        if not is_event(c) and c.status == "planned" and rank(pol, c.team, ctx.owner) > my_rank
    ]
    lower_ids = {id(c) for c in lower}
    without = [e for e in entries if id(e) not in lower_ids]
    denied: list[str] = []
    displaced_ids: set[int] = set()
    for rule in pol.rules:
        if isinstance(rule, nodes.Exempt) or rule.tail.warn or not subject(ctx, rule) or is_lifted(ctx, rule):
            continue
        if rule.kind not in DISPLACING:
            if denies(ctx, rule, entries):
                denied.append(rule.name)
            continue
        if denies(ctx, rule, without):
            denied.append(rule.name)
        elif denies(ctx, rule, entries):
            blocking = displaced_by(ctx, rule, entries, lower)
            if rule.kind == "cap":
                blocking = fewest_for_cap(ctx, rule, entries, blocking)
            displaced_ids |= {id(c) for c in blocking}
    if denied:
        displaced_ids = set()
    # 11.14: warn rules last, against every planned contact this decision does not displace
    kept = [e for e in entries if id(e) not in displaced_ids]
    warnings = tuple(
        rule.name for rule in pol.rules
        if not isinstance(rule, nodes.Exempt) and rule.tail.warn and subject(ctx, rule)
        and not is_lifted(ctx, rule) and denies(ctx, rule, kept)
    )
    if denied:
        return Verdicts(False, tuple(denied), (), warnings)
    order = sorted((c.at, i) for i, c in enumerate(entries) if id(c) in displaced_ids)
    return Verdicts(True, (), tuple(entries[i].orig for _, i in order), warnings)


def decide_at(source: Any, customer: Mapping[str, Any], request: Any,
              ledger: Sequence[Any]) -> tuple[bool, tuple[str, ...], tuple[Any, ...]]:
    """allowed, denied_by, displaces for the request at its own instant."""
    found = judge(source, customer, request, ledger)
    return found.allowed, found.denied_by, found.displaces


def make_context(pol: RefPolicy, customer: Mapping[str, Any], request: Req, ledger: Sequence[Entry]) -> Context:
    owner = customer.get(pol.owner_attribute) if pol.owner_attribute else None
    names = customer_zone_names(pol, customer)
    return Context(pol, customer, request, names, owner, zone_of(names[0]), None, ledger)


# ---- next allowed -------------------------------------------------------------------------------


def all_durations(pol: RefPolicy) -> list[nodes.Duration]:
    """Every duration written in a rule (windows, pauses, distances, ranges, time tests)."""
    found: list[nodes.Duration] = []

    def walk(node: Any) -> None:
        if isinstance(node, nodes.Duration):
            found.append(node)
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item)
        elif attrs.has(type(node)):
            for field in attrs.fields(type(node)):
                if field.name not in ("span", "name_span"):
                    walk(getattr(node, field.name))

    walk(pol.rules)
    return found


def rule_durations(pol: RefPolicy) -> set[dt.timedelta]:
    return {dt.timedelta(seconds=seconds_of(d)) for d in all_durations(pol) if not months_of(d)} | {dt.timedelta(0)}


def clock_minutes(pol: RefPolicy) -> set[int]:
    out: set[int] = set()
    for rule in pol.rules:
        if not isinstance(rule, nodes.Quiet):
            continue
        for period in quiet_parts(rule):
            rng = period.clock if isinstance(period, nodes.OnDays) else period
            if isinstance(rng, (nodes.Outside, nodes.Between)):
                out |= {clock_minutes_of(rng.start), clock_minutes_of(rng.end)}
    return out


def all_zone_names(pol: RefPolicy, customer: Mapping[str, Any]) -> set[str]:
    names = {n or "UTC" for n in customer_zone_names(pol, customer)} | {pol.timezone or "UTC"}
    for rule in pol.rules:
        zone = rule.tail.zone
        if isinstance(zone, str):
            names.add(zone)
        elif isinstance(zone, nodes.AttrRef):
            value = customer.get(zone.attribute)
            names |= {value} if isinstance(value, str) else set(value or ())
    return names


def fixed_instants(pol: RefPolicy, customer: Mapping[str, Any], ledger: Sequence[Entry],
                   zones: set[str]) -> set[dt.datetime]:
    """Instants that do not come from a clock reading: entries plus or minus each duration
    (months added in each zone), effective dates and window closing dates, time-test values
    plus their durations."""
    durations = all_durations(pol)
    fixed = [dt.timedelta(seconds=seconds_of(d)) for d in durations if not months_of(d)] + [dt.timedelta(0)]
    monthly = [d for d in durations if months_of(d)]
    out = {e.at + d for e in ledger for d in fixed} | {e.at - d for e in ledger for d in fixed}
    for zone in (zone_of(n if n != "UTC" else None) for n in zones):
        out |= {plus(e.at, d, zone) for e in ledger for d in monthly}
        for rule in pol.rules:
            dates = [n for n in (rule.tail.start, *rule.tail.until_items) if n is not None and is_date(n)]
            out |= {first_instant(dt.date.fromisoformat(n.value), zone) for n in dates}
            conditions = [c for c in (rule.tail.when, getattr(rule, "condition", None)) if c is not None]
            for test in (t for c in conditions for t in time_tests_in(c)):
                ctx = Context(pol, customer, Req("", "", "", dt.datetime.now(UTC)), (None,), None, zone)
                a = time_value(ctx, test.attr.attribute)
                if a is None:
                    continue
                out.add(a)
                if test.duration is not None:
                    out.add(plus(a, test.duration, zone))
    return out


def candidates(source: Any, customer: Mapping[str, Any], t: dt.datetime, ledger: Sequence[Any],
               days: int, limit: dt.datetime | None = None) -> Iterator[dt.datetime]:
    """Every instant in [t, t + days] (or [t, limit]), ascending, where some rule's verdict can
    turn from deny to allow.

    Why these are enough: each rule's allowed set, as a function of the request instant u, is
    a finite union of intervals closed on the left (rolling windows, quiet-after and exclusive
    distances are half-open or open in the right way, require's range is closed, clock and
    date rules change at local clock readings). So the earliest allowed u >= t is t itself
    or a left end of some rule's allowed interval:
    * rolling cap: deny set is a union of open intervals (c_j - W, c_i + W): left ends c + W
      (with months, c + W in each zone);
    * quiet within D after e: quiet on [e, e + D): e + D; consecutive days: a local midnight;
    * exclusive: deny on (c - d, c + d): c + d;  require: allowed on [p + A, p + B]: p + A;
    * calendar / consecutive caps, quiet days and holidays: local midnights (each zone);
      clock ranges: the clock readings HH:MM (both folds of a repeated hour) and zone
      transitions (a reading skipped by a gap starts at the transition);
    * effective dates, window ends (an entry + D, a midnight, a closing entry), time tests
      (A, A + D, a midnight).
    The instants c - d etc. are added too (harmless: extra candidates never change the answer).
    Generated a week at a time so that an early answer stays cheap.
    """
    pol = load(source)
    entries = entries_of(ledger)
    end = limit if limit is not None else t + dt.timedelta(days=days)
    zones = all_zone_names(pol, customer)
    from_ledger = {t} | fixed_instants(pol, customer, entries, zones)
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
    if isinstance(request, Req):
        return request
    if isinstance(request, Mapping):
        return Req(request["team"], request["channel"], request["purpose"], instant_of(request["at"]),
                   campaigns_of(request.get("campaign")))
    return Req(request.team, request.channel, request.purpose, request.at.astimezone(UTC),
               campaigns_of(getattr(request, "campaign", None)))


def hold_limit(pol: RefPolicy, customer: Mapping[str, Any], req: Req) -> dt.datetime | None:
    """Where the shortest ``hold SELECTOR up to D`` matching the request ends (11.16): the
    request's time + D, months added in each of the customer's zones, the earliest of them."""
    owner = customer.get(pol.owner_attribute) if pol.owner_attribute else None
    zones = [zone_of(n) for n in customer_zone_names(pol, customer)]
    return min((plus(req.at, h.duration, zone) for h in pol.holds
                if selector_matches(pol, h.selector, req.purpose, req.channel, req.team, owner)
                for zone in zones), default=None)


def reference_decide(source: Any, customer: Mapping[str, Any], request: Any, ledger: Sequence[Any],
                     *, horizon_days: int = 400) -> RefDecision:
    """The decision of section 7, by brute force. ``source`` is the policy's text or AST."""
    pol = load(source)
    entries = entries_of(list(ledger))
    req = as_request(request)
    found = judge(pol, customer, req, entries)
    if found.allowed:
        return RefDecision(True, (), found.displaces, req.at, found.warnings)
    return RefDecision(False, found.denied_by, (), next_allowed(pol, customer, req, entries, horizon_days),
                       found.warnings)


def static(pol: RefPolicy, customer: Mapping[str, Any], rule: Any) -> bool:
    """A rule whose verdict cannot change by waiting once it denies (no `until`, no time test
    on a value the customer has; a `from` is then already past) and no exemption that could
    start lifting it later."""
    def timeless(node: Any) -> bool:
        conditions = [c for c in (node.tail.when, getattr(node, "condition", None)) if c is not None]
        return not any(customer.get(t.attr.attribute) is not None for c in conditions for t in time_tests_in(c))

    if any(is_date(n) for n in rule.tail.until_items) or not timeless(rule):
        return False
    return not any(
        isinstance(ex, nodes.Exempt) and targets(ex, rule)
        and (ex.window is not None or ex.tail.start is not None or ex.tail.until_items or not timeless(ex))
        for ex in pol.rules
    )


def next_allowed(pol: RefPolicy, customer: Mapping[str, Any], request: Req, ledger: list[Entry],
                 days: int) -> dt.datetime | None:
    ctx = make_context(pol, customer, request, ledger)
    # Shortcuts, not semantic changes: a static exclusion never ends, a static requirement
    # whose every prerequisite is too old never passes again.
    for rule in pol.rules:
        if isinstance(rule, nodes.Exempt) or rule.tail.warn or not subject(ctx, rule) or is_lifted(ctx, rule):
            continue
        if not static(pol, customer, rule):
            continue
        if isinstance(rule, nodes.Exclude) and denies(ctx, rule, ledger):
            return None
        # A prerequisite p helps only while u - within <= p, i.e. never if p < t - within.
        if isinstance(rule, nodes.Require) and denies(ctx, rule, ledger):
            # (only while it denies now: a requirement out of force, e.g. its `when` false for
            # this customer, is no reason to give up)
            outcomes = {o.value for o in ((rule.outcome,) if rule.outcome else ()) + rule.more_outcomes}
            if not any(
                not is_event(c) and c.status == "sent" and ctx.matches(rule.prerequisite, c)
                and (not outcomes or c.outcome in outcomes)
                and (rule.within is None or request.at <= plus(c.at, rule.within, ctx.zone))
                for c in ledger
            ):
                return None
    limit = hold_limit(pol, customer, request)
    for u in candidates(pol, customer, request.at, ledger, days, limit):
        if judge(pol, customer, request.moved_to(u), ledger).allowed:
            return u
    return None

"""Hypothesis strategies: small random policies, customers, ledgers and requests.

The vocabulary is small (three channels, teams and purposes) so that random rules and
random contacts meet often. Instants cluster around daylight-saving changes and around
rule boundaries (exactly a window, a distance or a prerequisite range away).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import assume
from hypothesis import strategies as st

import policylang
from policylang.errors import PolicylangError
from policylang.records import Contact, Event, Request
from policylang.rules import AfterTrigger, CapRule, ExclusiveRule, Policy, QuietRule, RequireRule, Rolling
from tests.reference import (
    clock_instants,
    clock_minutes,
    first_instant,
    load,
    rank,
    rule_durations,
    zone_transitions,
)

UTC = dt.timezone.utc
CHANNELS = ("email", "sms", "phone")
TEAMS = ("sales", "cards", "collect")
PURPOSES = ("marketing", "debt", "service")
OUTCOMES = ("conversation", "no_answer")
ZONES = ("America/New_York", "Europe/London", "Australia/Sydney", "Pacific/Chatham", "Asia/Kolkata")
DURATIONS = ("90 minutes", "1 hour", "36 hours", "1 day", "2 days", "7 days", "2 weeks")
CLOCKS = ("00:00", "01:00", "01:30", "02:00", "02:30", "02:45", "03:00", "03:30", "08:00", "12:15", "21:00", "23:30")
DATES = ("2026-03-08", "2026-03-29", "2026-04-05", "2026-10-04", "2026-10-25", "2026-11-01", "2026-09-27")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "weekend")

HEAD = """policy "random"
{timezone}channels email, sms, phone
teams sales, cards, collect
purposes marketing, debt, service
outcomes conversation, no_answer
events complaint
customer
  timezone zone
  owner team
  vip flag
  opted_out set of channel
  age number
owner is customer.owner
precedence {precedence}
"""


Focus = tuple[str, str, str]  # the request's purpose, channel, team: rules lean towards it


@st.composite
def selectors(draw: Any, focus: Focus | None = None) -> str:
    shape = draw(st.sampled_from(["names", "names", "names", "any", "by", "by owner"]))
    if shape == "any":
        text = "any"
        if draw(st.booleans()):
            text += " except " + draw(st.sampled_from(PURPOSES + CHANNELS))
        return text
    if shape == "by owner":
        return "by owner"
    if shape == "by":
        teams = draw(st.lists(st.sampled_from((*TEAMS, "owner")), min_size=1, max_size=2, unique=True))
        return "by " + ", ".join(teams)
    names = draw(st.lists(st.sampled_from(PURPOSES + CHANNELS), min_size=1, max_size=3, unique=True))
    if focus is not None and draw(st.booleans()):
        names = [draw(st.sampled_from(focus[:2]))]
    text = " ".join(names)
    if draw(st.integers(0, 3)) == 0:
        teams = draw(st.lists(st.sampled_from((*TEAMS, "owner")), min_size=1, max_size=2, unique=True))
        text += " by " + ", ".join(teams)
    if draw(st.integers(0, 3)) == 0:
        text += " except " + draw(st.sampled_from(TEAMS + ("owner", "owner")))
    return text


def windows() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(DURATIONS),
        st.integers(1, 7).map(lambda n: f"{n} consecutive days"),
        st.sampled_from(("day", "week", "month", "quarter", "year")).map(lambda u: f"calendar {u}"),
    )


@st.composite
def cap_rules(draw: Any, focus: Focus | None = None) -> str:
    kind = draw(st.sampled_from(["cap", "cap", "cap", "cap", "capacity"]))
    text = f'{kind} "{{name}}": at most {draw(st.sampled_from((1, 1, 2, 3)))} {draw(selectors(focus))} per {draw(windows())}'
    if draw(st.booleans()):
        text += " for each " + draw(st.sampled_from(("team", "channel", "purpose", "campaign")))
    return text


@st.composite
def quiet_rules(draw: Any, focus: Focus | None = None) -> str:
    head = f'quiet "{{name}}": no {draw(selectors(focus))} '
    form = draw(st.sampled_from(["outside", "between", "on", "after", "after", "after days"]))
    if form in ("outside", "between"):
        start, end = draw(st.lists(st.sampled_from(CLOCKS), min_size=2, max_size=2, unique=True))
        if form == "outside":
            return head + f"outside {start}-{end}"
        return head + f"between {start} and {end}"
    if form == "on":
        days = draw(st.lists(st.sampled_from(WEEKDAYS[:7] + ("weekend",) + DATES), min_size=1, max_size=3, unique=True))
        return head + "on " + ", ".join(days)
    length = draw(st.sampled_from(DURATIONS)) if form == "after" else f"{draw(st.integers(1, 7))} consecutive days"
    if draw(st.booleans()):
        return head + f"within {length} after complaint"
    text = head + f"within {length} after {draw(selectors(focus))}"
    if draw(st.booleans()):
        text += " with outcome " + draw(st.sampled_from(OUTCOMES))
    if draw(st.integers(0, 3)) == 0:
        text += " for each " + draw(st.sampled_from(("team", "channel", "purpose", "campaign")))
    return text


CONDITIONS = (
    "customer.vip",
    "not customer.vip",
    "customer.age < 18",
    "customer.age >= 65",
    # every comparison operator, with ages drawn at the compared value (equality decides)
    "customer.age <= 30",
    "customer.age > 30",
    "customer.age == 30",
    "customer.age != 30",
    "customer.age is 65",
    "customer.age is not 18",
    "customer.age in (18, 65)",
    "customer.age not in (16, 30)",
    "customer.owner is not cards",
    "channel in customer.opted_out",
    "customer.owner is sales",
    "customer.vip and channel in customer.opted_out",
    "customer.age < 18 or customer.owner is cards",
)


@st.composite
def exclude_rules(draw: Any, focus: Focus | None = None) -> str:
    return f'exclude "{{name}}": {draw(selectors(focus))} when {draw(st.sampled_from(CONDITIONS))}'


REQUIRE_RANGES = (
    "",
    " at least 1 day before",
    " within 7 days",
    " at least 3 days before, within 30 days",
    " at least 1 hour before, within 2 days",
    " at least 2 days before within 2 weeks",
    " at least 1 day before, within 1 day",  # a single instant: at least D and within D
)


@st.composite
def require_rules(draw: Any, focus: Focus | None = None) -> str:
    text = f'require "{{name}}": {draw(selectors(focus))} after {draw(selectors(focus))}'
    if draw(st.integers(0, 2)) == 0:
        text += " with outcome " + draw(st.sampled_from(OUTCOMES))
    return text + draw(st.sampled_from(REQUIRE_RANGES))


@st.composite
def exclusive_rules(draw: Any, focus: Focus | None = None) -> str:
    return f'exclusive "{{name}}": {draw(selectors(focus))} per {draw(st.sampled_from(DURATIONS))}'


@st.composite
def policy_texts(draw: Any, focus: Focus | None = None, max_rules: int = 5) -> str:
    zone = draw(st.sampled_from((None,) + ZONES))
    order = draw(st.permutations((*TEAMS, "owner")))
    order = order[: draw(st.integers(2, 4))]
    rules = draw(
        st.lists(
            st.one_of(cap_rules(focus), cap_rules(focus), quiet_rules(focus), quiet_rules(focus),
                      exclude_rules(focus), require_rules(focus), exclusive_rules(focus)),
            min_size=1,
            max_size=max_rules,
        )
    )
    lines = [r.format(name=f"r{i}") for i, r in enumerate(rules)]
    for j in range(draw(st.integers(0, 2))):
        targets = draw(
            st.lists(
                st.sampled_from(("cap", "capacity", "quiet", "exclude", "require", "exclusive")
                                + tuple(f'"r{i}"' for i in range(len(lines)))),
                min_size=1, max_size=2, unique=True,
            )
        )
        lines.append(f'exempt "e{j}": {draw(selectors())} from {", ".join(targets)}')
    timezone = f'timezone "{zone}"\n' if zone else ""
    return HEAD.format(timezone=timezone, precedence=" > ".join(order)) + "\n".join(lines) + "\n"


@st.composite
def policies(draw: Any, focus: Focus | None = None) -> tuple[str, Policy]:
    """Policy text and its compiled policy (texts that do not compile are skipped)."""
    text = draw(policy_texts(focus))
    try:
        return text, policylang.compile(text, "random.pol")
    except PolicylangError:
        assume(False)
        raise


@st.composite
def customers(draw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    zone = draw(st.sampled_from((None,) + ZONES + ZONES))
    if zone:
        out["timezone"] = zone
    owner = draw(st.sampled_from((None,) + TEAMS))
    if owner:
        out["owner"] = owner
    if draw(st.booleans()):
        out["vip"] = draw(st.booleans())
    out["opted_out"] = draw(st.lists(st.sampled_from(CHANNELS), max_size=2, unique=True))
    age = draw(st.sampled_from((None, 16, 18, 30, 30, 65, 70)))
    if age is not None:
        out["age"] = age
    return out


def policy_durations(policy: Policy) -> list[int]:
    """Seconds: every rolling window, quiet-after length, distance and prerequisite range."""
    out: list[int] = []
    for rule in policy.rules:
        if isinstance(rule, CapRule) and isinstance(rule.window, Rolling):
            out.append(rule.window.seconds)
        elif isinstance(rule, QuietRule) and isinstance(rule.period, AfterTrigger) and rule.period.seconds:
            out.append(rule.period.seconds)
        elif isinstance(rule, ExclusiveRule):
            out.append(rule.distance)
        elif isinstance(rule, RequireRule):
            out.append(rule.at_least)
            if rule.within is not None:
                out.append(rule.within)
    return out


@st.composite
def request_instants(draw: Any, zone: str | None) -> dt.datetime:
    """Near a daylight-saving change of ``zone`` (or of New York) in 2026, or anywhere in 2026."""
    changes = zone_transitions(zone or "America/New_York", 2026) or zone_transitions("America/New_York", 2026)
    if draw(st.integers(0, 3)) == 0:
        base = dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(days=draw(st.integers(0, 364)))
    else:
        base = draw(st.sampled_from(changes))
    minutes = draw(st.one_of(st.integers(-72 * 4, 72 * 4).map(lambda q: q * 15), st.integers(-4320, 4320)))
    return base + dt.timedelta(minutes=minutes)


@st.composite
def offsets(draw: Any, durations: list[int]) -> dt.timedelta:
    """How far from the request a ledger entry lies: often exactly on a rule boundary."""
    choice = draw(st.integers(0, 6))
    if choice == 6:
        return dt.timedelta(0)  # exactly at the request instant
    if choice == 0 and durations:
        seconds = draw(st.sampled_from(durations)) * draw(st.sampled_from((-1, 1)))
        return dt.timedelta(seconds=seconds + draw(st.sampled_from((0, 0, -1, 1))))
    if choice == 1:
        return dt.timedelta(hours=draw(st.integers(-40 * 24, 10 * 24)))
    if choice == 2:
        return dt.timedelta(minutes=draw(st.integers(-3 * 1440, 3 * 1440)))
    if choice == 3:
        return dt.timedelta(seconds=draw(st.integers(-8 * 86400, 3 * 86400)))
    return dt.timedelta(seconds=draw(st.integers(-40 * 86400, 40 * 86400)))


@st.composite
def entries(draw: Any, request: Request, durations: list[int], edges: Sequence[dt.datetime] = ()) -> Contact | Event:
    """A ledger entry; half the contacts share the request's purpose and channel, so rules bite.
    One in five lies exactly on one of ``edges`` (a midnight, a quiet edge, a DST change)."""
    if edges and draw(st.integers(0, 4)) == 0:
        at = draw(st.sampled_from(edges))
    else:
        at = request.at + draw(offsets(durations))
    if draw(st.integers(0, 7)) == 0:
        return Event(at=at, name="complaint")
    like = draw(st.booleans())
    return Contact(
        at=at,
        channel=request.channel if like else draw(st.sampled_from(CHANNELS)),
        purpose=request.purpose if like else draw(st.sampled_from(PURPOSES)),
        team=draw(st.sampled_from(TEAMS)),
        status=draw(st.sampled_from(("sent", "sent", "planned", "planned", "planned", "displaced", "released"))),
        outcome=draw(st.sampled_from((None, None, *OUTCOMES))),
        campaign=draw(st.sampled_from((None, None, "d1", "d2"))),
    )


@st.composite
def requests_for(draw: Any, t: dt.datetime, focus: Focus) -> Request:
    return Request(
        team=focus[2],
        channel=focus[1],
        purpose=focus[0],
        at=t,
        campaign=draw(st.sampled_from((None, "d1", "d2"))),
    )


PRESSURE_MODES = ("deny", "deny", "displace", "displace", "displace", "near")


@st.composite
def pressing_caps(draw: Any, focus: Focus, kinds: tuple[str, ...] = ("cap", "cap", "capacity")) -> tuple[str, str, int]:
    """A cap or capacity rule the request is subject to, its window and its limit (the
    window is filled by :func:`pressure`), so that cap denials and displacements are common."""
    kind = draw(st.sampled_from(kinds))
    window = draw(windows())
    limit = draw(st.sampled_from((1, 1, 2, 3)))
    shape = draw(st.sampled_from((f"{focus[0]} {focus[1]}", focus[0], focus[1], "any")))
    text = f'{kind} "press": at most {limit} {shape} per {window}'
    if draw(st.integers(0, 4)) == 0:
        text += " for each " + draw(st.sampled_from(("team", "campaign")))
    return text, window, limit


@st.composite
def pressure(draw: Any, text: str, customer: dict[str, Any], request: Request, window: str,
             zone: str | None, limit: int, mode: str) -> list[Contact]:
    """Contacts like the request inside the window holding it: the limit of them (a denial),
    one fewer (a pass), or some sent and the rest planned by teams ranked below the requester
    (a displacement); some lie exactly on the window's edges."""
    t = request.at
    if window[0].isdigit() and "consecutive" not in window:
        amount, unit = window.split()
        width = dt.timedelta(seconds=int(amount) * {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}[unit.rstrip("s")])
    else:
        width = dt.timedelta(days=1)  # calendar and consecutive windows: today, in local time
    tz = ZoneInfo(zone) if zone else UTC
    midnight = first_instant(t.astimezone(tz).date(), tz)
    pol = load(text)
    owner = customer.get("owner")
    mine = rank(pol, request.team, owner)
    lower = [team for team in TEAMS if rank(pol, team, owner) > mine]
    if mode == "displace" and not lower:
        mode = "deny"
    count = limit - 1 if mode == "near" else limit + draw(st.sampled_from((0, 0, 1)))
    sent = count if mode != "displace" else draw(st.integers(0, limit - 1))
    out = []
    for n in range(count):
        planned = n >= sent
        where = draw(st.integers(0, 7))
        if where == 1 and planned:
            where = 0  # a displaced contact must count: inside the window
        if where == 0:
            at = t  # exactly at the request instant
        elif where == 1:
            at = t - width  # exactly one window before: outside a rolling window
        elif where == 2:
            at = max(midnight, t - width + dt.timedelta(seconds=1))
        else:
            at = t - width * draw(st.floats(0, 0.999))
        out.append(Contact(
            at=at, channel=request.channel, purpose=request.purpose,
            team=draw(st.sampled_from(lower if planned else TEAMS)),
            status="planned" if planned else draw(st.sampled_from(("sent", "sent", "planned"))),
            campaign=request.campaign if planned else draw(st.sampled_from((request.campaign, request.campaign, "d2"))),
        ))
    return out


@st.composite
def pressing_quiet(draw: Any, focus: Focus, t: dt.datetime, zone: str | None) -> str:
    """A quiet rule the request is subject to whose edge is at (or a minute from) the request's
    local time, or whose days are the request's local weekday or date (or the next ones)."""
    local = t.astimezone(ZoneInfo(zone) if zone else UTC)
    shape = draw(st.sampled_from((focus[0], focus[1], "any")))
    form = draw(st.sampled_from(("weekday", "date", "next", "between", "outside")))
    if form in ("weekday", "date", "next"):
        day = local.date() + dt.timedelta(days=1 if form == "next" else draw(st.sampled_from((0, 0, -1))))
        names = {"weekday": [WEEKDAYS[day.weekday()]], "date": [day.isoformat()],
                 "next": [WEEKDAYS[day.weekday()], day.isoformat()]}[form]
        return f'quiet "hush": no {shape} on {", ".join(names)}'
    minute = local.hour * 60 + local.minute + draw(st.sampled_from((0, 0, 0, 1, -1)))
    length = draw(st.sampled_from((1, 30, 90, 600)))
    start, end = minute % 1440, (minute + length) % 1440
    if draw(st.booleans()):
        start, end = (minute - length) % 1440, minute % 1440  # the request at the end instead
    a, b = f"{start // 60:02d}:{start % 60:02d}", f"{end // 60:02d}:{end % 60:02d}"
    return f'quiet "hush": no {shape} ' + (f"between {a} and {b}" if form == "between" else f"outside {a}-{b}")


def anchors(text: str, zone: str | None, t: dt.datetime) -> list[dt.datetime]:
    """Instants where a verdict can change: local midnights around ``t``, the zone's
    daylight-saving changes within 40 days, and the policy's quiet clock readings today."""
    tz = ZoneInfo(zone) if zone else UTC
    today = t.astimezone(tz).date()
    out = [first_instant(today + dt.timedelta(days=d), tz) for d in (-1, 0, 1)]
    out += [u for u in zone_transitions(zone or "UTC", t.year) if abs(u - t) < dt.timedelta(days=40)]
    for minute in clock_minutes(load(text)):
        out += clock_instants(today, minute, tz)
    return out


@st.composite
def scenarios(draw: Any) -> tuple[str, Policy, dict[str, Any], Request, list[Contact | Event]]:
    """Policy text, its policy, a customer, a request and a ledger of up to 18 entries around it.

    Weighted towards the boundaries: often a cap or capacity the request is subject to, with
    its window filled to about the limit; entries exactly at the request, a window away, at a
    local midnight, a quiet start or end or a daylight-saving change; requests exactly there too.
    """
    focus = (draw(st.sampled_from(PURPOSES)), draw(st.sampled_from(CHANNELS)), draw(st.sampled_from(TEAMS)))
    mode = draw(st.sampled_from(PRESSURE_MODES))
    # a displacement shows only when no other rule denies: fewer rules then
    text = draw(policy_texts(focus, max_rules=1 if mode == "displace" else 5))
    window, limit = None, 0
    if mode == "displace" or draw(st.integers(0, 9)) < 9:
        # capacity never displaces: a displacing pressure is a cap
        line, window, limit = draw(pressing_caps(focus, ("cap",) if mode == "displace" else ("capacity", "cap", "cap", "capacity", "cap")))
        text += line + "\n"
    customer = draw(customers())
    zone = customer.get("timezone") or load(text).timezone
    strongest = [team for team in load(text).precedence if team in TEAMS][:1]
    if strongest and (mode == "displace" or draw(st.booleans())):
        focus = (focus[0], focus[1], strongest[0])  # the strongest team asks: it can displace
    t = draw(request_instants(zone))
    if draw(st.integers(0, 5)) == 0:
        t = draw(st.sampled_from(anchors(text, zone, t)))
    if draw(st.integers(0, 2)) == 0 and mode != "displace":
        text += draw(pressing_quiet(focus, t, zone)) + "\n"
    try:
        policy = policylang.compile(text, "random.pol")
    except PolicylangError:
        assume(False)
        raise
    durations = policy_durations(policy)
    request = draw(requests_for(t, focus))
    edges = anchors(text, zone, t)
    # a displacement needs the window free of other counted contacts: a short ledger then
    ledger = draw(st.lists(entries(request, durations, edges), min_size=0 if mode == "displace" else 2,
                           max_size=3 if window is not None and mode == "displace" else 14))
    if window is not None:
        capacity = 'capacity "press"' in text
        ledger += draw(pressure(text, customer, request, window, policy.timezone if capacity else zone, limit, mode))
        ledger = draw(st.permutations(ledger))
    return text, policy, customer, request, ledger


def boundary_label(text: str, customer: dict[str, Any], request: Request, ledger: list[Any]) -> str:
    """Which boundary (if any) a ledger entry of this scenario lies exactly on, for event()."""
    pol = load(text)
    zone = customer.get("timezone") or pol.timezone
    t = request.at
    edges = set(anchors(text, zone, t))
    widths = rule_durations(pol)
    for entry in ledger:
        if entry.at == t:
            return "entry at the request instant"
    for entry in ledger:
        if any(entry.at in (t - w, t + w) for w in widths if w):
            return "entry a window/distance away"
    for entry in ledger:
        if entry.at in edges:
            return "entry at a midnight, quiet edge or DST change"
    return "no entry on a boundary"


@st.composite
def displacement_scenarios(draw: Any) -> tuple[str, Policy, dict[str, Any], Request, list[Contact | Event]]:
    """Rules that displace (cap, quiet after, exclusive) over ledgers of mostly planned contacts
    from teams of every rank, so that precedence decides often."""
    focus = (draw(st.sampled_from(PURPOSES)), draw(st.sampled_from(CHANNELS)), draw(st.sampled_from(TEAMS)))
    rules = draw(st.lists(st.one_of(cap_rules(focus), exclusive_rules(focus), quiet_after(focus)),
                          min_size=1, max_size=3))
    lines = [r.format(name=f"r{i}").replace("capacity ", "cap ", 1) for i, r in enumerate(rules)]
    order = draw(st.permutations((*TEAMS, "owner")))[: draw(st.integers(2, 4))]
    if order[0] != "owner" and draw(st.booleans()):
        focus = (focus[0], focus[1], order[0])  # the strongest team asks: it can displace
    zone = draw(st.sampled_from((None,) + ZONES))
    timezone = f'timezone "{zone}"\n' if zone else ""
    text = HEAD.format(timezone=timezone, precedence=" > ".join(order)) + "\n".join(lines) + "\n"
    window, limit = None, 0
    if draw(st.integers(0, 3)):
        line, window, limit = draw(pressing_caps(focus, ("cap",)))
        text += line + "\n"
    try:
        policy = policylang.compile(text, "random.pol")
    except PolicylangError:
        assume(False)
        raise
    customer = draw(customers())
    zone = customer.get("timezone") or policy.timezone
    t = draw(request_instants(zone))
    request = draw(requests_for(t, focus))
    durations = policy_durations(policy)
    mode = draw(st.sampled_from(("deny", "displace", "displace", "displace")))
    ledger = draw(st.lists(planned_entries(request, durations), min_size=1,
                           max_size=2 if window is not None and mode == "displace" else 8))
    if window is not None:
        ledger += draw(pressure(text, customer, request, window, zone, limit, mode))
        ledger = draw(st.permutations(ledger))
    return text, policy, customer, request, ledger


@st.composite
def quiet_after(draw: Any, focus: Focus) -> str:
    length = draw(st.one_of(st.sampled_from(DURATIONS), st.integers(1, 4).map(lambda n: f"{n} consecutive days")))
    text = f'quiet "{{name}}": no {draw(selectors(focus))} within {length} after {draw(selectors(focus))}'
    if draw(st.integers(0, 3)) == 0:
        text += " with outcome " + draw(st.sampled_from(OUTCOMES))
    if draw(st.integers(0, 3)) == 0:
        text += " for each " + draw(st.sampled_from(("team", "campaign")))
    return text


@st.composite
def planned_entries(draw: Any, request: Request, durations: list[int]) -> Contact:
    return Contact(
        at=request.at + draw(offsets(durations)) / draw(st.sampled_from((1, 4))),
        channel=request.channel if draw(st.booleans()) else draw(st.sampled_from(CHANNELS)),
        purpose=request.purpose if draw(st.integers(0, 3)) else draw(st.sampled_from(PURPOSES)),
        team=draw(st.sampled_from(TEAMS)),
        status=draw(st.sampled_from(("planned", "planned", "planned", "sent"))),
        outcome=draw(st.sampled_from((None, *OUTCOMES))),
        campaign=draw(st.sampled_from((None, "d1"))),
    )

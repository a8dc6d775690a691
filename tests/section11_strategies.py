"""Hypothesis strategies for the section 11 forms (``LANGUAGE-2.md``), aimed at their boundaries.

Each scenario is a small policy drawing its rules from the section 11 forms (``when``, effective
dates, ``in zone``, ``warn``, time tests with months, outcome counting, campaign lists, exemption
windows, conditional exemptions, quiet parts joined by ``or`` with day+clock parts and holidays,
count-triggered pauses, ``week starts``, ``hold``), a customer in one or two zones, a request and a
ledger of plain section 10 JSON mappings (void lines and campaign lists included), so the engine
reads them through its own input path and the reference through its own.

The instants are chosen where answers turn: effective dates and exemption-window ends exactly at
the request, zone pairs around local midnight, month ends (Jan 31 + 1 month) and daylight-saving
gaps and folds, pause triggers with exactly N (and N - 1) matching entries, void lines before and
after the entries they void. :func:`labels` names what a scenario reached, for ``event()``.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import assume
from hypothesis import strategies as st

import policylang
from policylang.errors import PolicylangError
from policylang.rules import Policy
from tests import reference

UTC = dt.timezone.utc
CHANNELS = ("email", "sms", "phone")
TEAMS = ("sales", "cards", "collect")
PURPOSES = ("marketing", "debt")
OUTCOMES = ("conversation", "no_answer", "busy", "refused")
ZONES = ("America/New_York", "America/Los_Angeles", "Europe/Paris", "Europe/London", "Asia/Kolkata",
         "Pacific/Chatham")
# Zone pairs whose local midnights are hours apart, so one request straddles a date change.
ZONE_SETS = (("America/New_York", "America/Los_Angeles"), ("America/New_York", "Asia/Kolkata"),
             ("Europe/Paris", "America/New_York"), ("Europe/London", "Pacific/Chatham"),
             ("America/Los_Angeles", "Europe/Paris"))
# Local dates where something turns: DST gaps and folds (US 03-08, 11-01; EU 03-29, 10-25), month
# ends (Jan 31 + 1 month = Feb 28), a Feb 29 a year later, French and US holidays (Pentecost
# Monday 05-25, Good Friday 04-03 in FR-57, 07-03 observed for 07-04), Christmas.
DAYS = ("2026-03-08", "2026-03-09", "2026-03-29", "2026-03-30", "2026-11-01", "2026-11-02", "2026-10-25",
        "2026-01-31", "2026-02-28", "2026-03-01", "2026-03-31", "2026-05-25", "2026-04-03", "2026-07-03",
        "2026-12-25", "2026-12-26", "2027-02-28")
CLOCKS = ("00:00", "01:30", "02:30", "08:00", "09:00", "12:00", "13:00", "20:00", "21:00", "23:30")
HEAD = """policy "section 11"
{timezone}{settings}channels email, sms, phone
teams sales, cards, collect
purposes marketing, debt
outcomes conversation, no_answer, busy, refused
events complaint, consent, revoked
customer
  timezone zones
  owner team
  vip flag
  state one of fl, tx, other
  asked_at instant
  bought_on date
  region region
  work_zone zone
owner is customer.owner
precedence {precedence}
"""

Focus = tuple[str, str, str]  # the request's purpose, channel, team


# ---- instants ------------------------------------------------------------------------------


def local_instant(day: str, clock: str, zone: str, fold: int = 0) -> dt.datetime:
    naive = dt.datetime.fromisoformat(f"{day}T{clock}")
    return naive.replace(tzinfo=UTC if zone == "UTC" else ZoneInfo(zone), fold=fold).astimezone(UTC)


@st.composite
def request_instants(draw: Any, zones: tuple[str, ...]) -> dt.datetime:
    """A local midnight or clock edge in one of the zones (or in a policy or rule zone, where
    effective dates start), so another zone is mid-evening or morning; either fold of a
    repeated hour; or a daylight-saving change of one of the zones; give or take a minute."""
    zone = draw(st.sampled_from(zones + ("America/New_York", "Asia/Kolkata", "Europe/Paris", "UTC")))
    if zone != "UTC" and draw(st.integers(0, 3)) == 0:
        year = draw(st.sampled_from((2026, 2027)))
        at = draw(st.sampled_from(transitions(zone, year)))
    else:
        clock = draw(st.sampled_from(CLOCKS + ("00:00",) * 5))
        at = local_instant(draw(st.sampled_from(DAYS)), clock, zone, draw(st.sampled_from((0, 0, 1))))
    return at + dt.timedelta(minutes=draw(st.sampled_from((0, 0, 0, -1, 1, 30, -90))))


@functools.cache
def transitions(zone: str, year: int) -> list[dt.datetime]:
    """The instants the zone's offset changes in a year (hour steps, then minute steps)."""
    tz = ZoneInfo(zone)
    found = []
    here = dt.datetime(year, 1, 1, tzinfo=UTC)
    while here.year == year:
        step = here + dt.timedelta(hours=1)
        if here.astimezone(tz).utcoffset() != step.astimezone(tz).utcoffset():
            minute = here
            while minute.astimezone(tz).utcoffset() == here.astimezone(tz).utcoffset():
                minute += dt.timedelta(minutes=1)
            found.append(minute)
        here = step
    return found or [dt.datetime(year, 3, 1, tzinfo=UTC)]


def months_back(at: dt.datetime, zone: str, months: int, day: int | None = None) -> dt.datetime:
    """The same local clock reading ``months`` earlier (on ``day`` if given, clamped): an instant
    whose + N months may land exactly on ``at`` (Jan 29..31 + 1 month = Feb 28)."""
    local = at.astimezone(ZoneInfo(zone))
    index = local.year * 12 + local.month - 1 - months
    year, month = divmod(index, 12)
    import calendar

    last = calendar.monthrange(year, month + 1)[1]
    naive = local.replace(tzinfo=None, year=year, month=month + 1, day=min(day or local.day, last))
    return naive.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


OFFSETS = (0, 0, 1, -1, 60, -60, 5, -5, 90, -90, 24 * 60, -24 * 60, 2 * 24 * 60, -2 * 24 * 60, 7 * 24 * 60,
           -7 * 24 * 60, -3 * 24 * 60, -6 * 24 * 60 - 1, -30 * 24 * 60, -29 * 24 * 60, 10 * 24 * 60)


@st.composite
def near(draw: Any, t: dt.datetime, zones: tuple[str, ...]) -> dt.datetime:
    """An instant a boundary away from t: minutes, days, a window, a month (in one zone)."""
    if draw(st.integers(0, 4)) == 0:
        return months_back(t, draw(st.sampled_from(zones)), draw(st.sampled_from((1, 2))),
                           draw(st.sampled_from((None, 28, 29, 30, 31))))
    return t + dt.timedelta(minutes=draw(st.sampled_from(OFFSETS)))


# ---- rules ---------------------------------------------------------------------------------


@st.composite
def selectors(draw: Any, focus: Focus) -> str:
    shape = draw(st.sampled_from(["focus", "focus", "focus", "purpose", "any", "other"]))
    if shape == "focus":
        return f"{focus[0]} {focus[1]}"
    if shape == "purpose":
        return focus[0]
    if shape == "any":
        return "any"
    return draw(st.sampled_from(PURPOSES)) + " " + draw(st.sampled_from(CHANNELS))


CONDITIONS = (
    "customer.state is fl", "customer.state is not tx", "customer.vip", "not customer.vip",
    "customer.asked_at within 2 days", "customer.asked_at within 1 month", "customer.asked_at within 3 consecutive days",
    "customer.asked_at at least 1 month ago", "not customer.bought_on within 2 months",
    "customer.bought_on within 1 month", "customer.vip or customer.asked_at within 90 minutes",
)


@st.composite
def tails(draw: Any, t: dt.datetime, zones: tuple[str, ...], *, when: bool = True, zone: bool = True) -> str:
    """``[in zone ..] [when ..] [from DATE] [until DATE]``, dates around the request's date."""
    text = ""
    if zone and draw(st.integers(0, 4)) == 0:
        text += " in zone " + draw(st.sampled_from(('"America/New_York"', '"Asia/Kolkata"', "customer.work_zone")))
    if when and draw(st.integers(0, 2)) == 0:
        text += " when " + draw(st.sampled_from(CONDITIONS))
    fixed = text.split('"')[1] if text.startswith(' in zone "') else None
    where = draw(st.sampled_from(zones + ("America/New_York", "Europe/Paris", "UTC") + ((fixed,) * 3 if fixed else ())))
    day = t.astimezone(UTC if where == "UTC" else ZoneInfo(where)).date()
    start = until = None
    if draw(st.integers(0, 3)) == 0:
        start = day + dt.timedelta(days=draw(st.sampled_from((0, 0, 1, 1, -1))))
        text += f" from {start.isoformat()}"
    if draw(st.integers(0, 3)) == 0:
        until = day + dt.timedelta(days=draw(st.sampled_from((0, 1, 1, 1, 2))))
        if start is not None and until <= start:
            until = start + dt.timedelta(days=1)
        text += f" until {until.isoformat()}"
    return text


def warn_mark(draw: Any) -> str:
    return " warn" if draw(st.integers(0, 4)) == 0 else ""


WINDOWS = ("90 minutes", "1 day", "7 days", "1 month", "2 months", "2 consecutive days", "7 consecutive days",
           "calendar day", "calendar week", "calendar month")
COUNTING = ("", "", " not counting outcome busy, no_answer", " counting only outcome conversation",
            " not counting outcome refused")


@st.composite
def caps(draw: Any, focus: Focus, t: dt.datetime, zones: tuple[str, ...]) -> str:
    kind = draw(st.sampled_from(["cap", "cap", "cap", "capacity"]))
    text = f'{kind} "{{name}}"{warn_mark(draw)}: at most {draw(st.sampled_from((1, 1, 2, 3)))} {draw(selectors(focus))}'
    text += f" per {draw(st.sampled_from(WINDOWS))}"
    if draw(st.integers(0, 2)) == 0:
        text += " for each " + draw(st.sampled_from(("campaign", "campaign", "team")))
    text += draw(st.sampled_from(COUNTING))
    return text + draw(tails(t, zones))


DAY_SETS = ("sunday", "weekend", "holidays", 'holidays "FR-57"', 'holidays "US"', "monday, tuesday",
            "holidays, sunday")


@st.composite
def quiet_parts(draw: Any, focus: Focus) -> str:
    form = draw(st.sampled_from(["outside", "between", "on", "on clock", "after", "pause", "pause"]))
    if form in ("outside", "between"):
        start, end = draw(st.lists(st.sampled_from(CLOCKS), min_size=2, max_size=2, unique=True))
        return f"outside {start}-{end}" if form == "outside" else f"between {start} and {end}"
    if form == "on":
        return "on " + draw(st.sampled_from(DAY_SETS))
    if form == "on clock":
        start, end = draw(st.lists(st.sampled_from(CLOCKS), min_size=2, max_size=2, unique=True))
        clock = f"outside {start}-{end}" if draw(st.booleans()) else f"between {start} and {end}"
        return "on " + draw(st.sampled_from(DAY_SETS)) + " " + clock
    length = draw(st.sampled_from(("90 minutes", "1 day", "2 days", "1 month", "2 consecutive days")))
    within = f"within {length.replace(' consecutive days', '')} consecutive days" if "consecutive" in length \
        else f"within {length}"
    group = " for each campaign" if draw(st.integers(0, 3)) == 0 else ""
    if form == "after":
        if draw(st.booleans()):
            return f"{within} after complaint{group}"
        return f"{within} after {draw(selectors(focus))} with outcome conversation, refused{group}"
    n = draw(st.sampled_from((2, 3)))
    window = draw(st.sampled_from(("7 days", "2 consecutive days", "calendar week", "30 days")))
    trigger = draw(st.sampled_from((f"{focus[0]} with outcome refused", "complaint", focus[0])))
    return f"{within} after {n} {trigger} in {window}{group}"


@st.composite
def quiets(draw: Any, focus: Focus, t: dt.datetime, zones: tuple[str, ...]) -> str:
    parts = draw(st.lists(quiet_parts(focus), min_size=1, max_size=2))
    return f'quiet "{{name}}"{warn_mark(draw)}: no {draw(selectors(focus))} ' + " or ".join(parts) + draw(tails(t, zones))


@st.composite
def excludes(draw: Any, focus: Focus, t: dt.datetime, zones: tuple[str, ...]) -> str:
    cond = draw(st.sampled_from(CONDITIONS[2:]))
    return f'exclude "{{name}}"{warn_mark(draw)}: {draw(selectors(focus))} when {cond}' + draw(
        tails(t, zones, when=False, zone=False))


@st.composite
def requires(draw: Any, focus: Focus, t: dt.datetime, zones: tuple[str, ...]) -> str:
    text = f'require "{{name}}"{warn_mark(draw)}: {draw(selectors(focus))} after {focus[0]} email'
    if draw(st.booleans()):
        text += " with outcome conversation, no_answer"
    text += " " + draw(st.sampled_from(("at least 1 day before", "within 7 days", "at least 1 hour before, within 2 days",
                                      "at least 1 month before", "within 1 month", "at least 1 day before, within 2 months")))
    return text + draw(tails(t, zones))


@st.composite
def exclusives(draw: Any, focus: Focus, t: dt.datetime, zones: tuple[str, ...]) -> str:
    return f'exclusive "{{name}}"{warn_mark(draw)}: {draw(selectors(focus))} per {draw(st.sampled_from(("1 day", "2 days", "1 month")))}' \
        + draw(tails(t, zones))


@st.composite
def exempts(draw: Any, focus: Focus, t: dt.datetime, zones: tuple[str, ...], names: list[str]) -> str:
    chosen = draw(st.lists(st.sampled_from(tuple(f'"{n}"' for n in names) + ("cap", "quiet", "exclude")),
                           min_size=1, max_size=2, unique=True))
    text = f'exempt "{{name}}": {draw(selectors(focus))} from {", ".join(chosen)}'
    shape = draw(st.sampled_from(("plain", "window", "window", "window")))
    if shape == "window":
        length = draw(st.sampled_from(("within 2 days ", "within 3 consecutive days ", "within 90 minutes ", "")))
        opener = draw(st.sampled_from(("consent", "consent", f"{focus[0]} phone with outcome conversation")))
        text += f" {length}after {opener}"
        tail = draw(tails(t, zones, when=True, zone=True))
        closers = draw(st.lists(st.sampled_from(("conversation", "revoked", "refused")), max_size=2, unique=True))
        if not length and not closers:
            closers = ["revoked"]
        if " until " in tail:  # an exemption window's `until` lists its closers (dates among them)
            tail, _, date = tail.partition(" until ")
            closers.append(date)
        if closers:
            tail += " until " + ", ".join(closers)
        return text + tail
    return text + draw(tails(t, zones, when=True, zone=True))


# ---- policy, customer, ledger --------------------------------------------------------------


@st.composite
def policy_texts(draw: Any, focus: Focus, t: dt.datetime, zones: tuple[str, ...]) -> str:
    makers = [caps, caps, quiets, quiets, excludes, requires, exclusives]
    rules = [draw(st.sampled_from(makers)).__call__(focus, t, zones) for _ in range(draw(st.integers(1, 3)))]
    lines = [draw(r).format(name=f"r{i}") for i, r in enumerate(rules)]
    names = [f"r{i}" for i in range(len(lines))]
    for j in range(draw(st.sampled_from((0, 1, 1, 2)))):
        lines.append(draw(exempts(focus, t, zones, names)).format(name=f"e{j}"))
    settings = draw(st.sampled_from(('holidays "US"\n', 'holidays "FR"\n', 'holidays "FR"\nholidays from customer.region\n')))
    if draw(st.integers(0, 2)) == 0:
        settings += "week starts sunday\n"
    if draw(st.integers(0, 3)) == 0:
        settings += f"hold {draw(st.sampled_from(('any', focus[0], 'marketing')))} up to {draw(st.sampled_from(('2 hours', '1 day', '3 days', '1 month')))}\n"
    zone = draw(st.sampled_from((None, "America/New_York", "Europe/Paris")))
    order = draw(st.permutations((*TEAMS, "owner")))[: draw(st.integers(2, 4))]
    head = HEAD.format(timezone=f'timezone "{zone}"\n' if zone else "", settings=settings,
                       precedence=" > ".join(order))
    return head + "\n".join(lines) + "\n"


@st.composite
def customers(draw: Any, t: dt.datetime, zones: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.integers(0, 5)) > 0:
        out["timezone"] = list(zones) if len(zones) > 1 or draw(st.booleans()) else zones[0]
    owner = draw(st.sampled_from((None, *TEAMS)))
    if owner:
        out["owner"] = owner
    if draw(st.booleans()):
        out["vip"] = draw(st.booleans())
    state = draw(st.sampled_from((None, "fl", "tx", "other")))
    if state:
        out["state"] = state
    if draw(st.integers(0, 3)) > 0:
        # exactly a test's length before the request (2 days, 90 minutes, 1 month back in a zone)
        asked = draw(st.one_of(near(t, zones), st.sampled_from((t - dt.timedelta(days=2), t - dt.timedelta(minutes=90)))))
        out["asked_at"] = asked.astimezone(ZoneInfo(draw(st.sampled_from(zones)))).isoformat()
    if draw(st.booleans()):
        back = months_back(t, draw(st.sampled_from(zones)), draw(st.sampled_from((1, 2))), draw(st.sampled_from((None, 31))))
        day = back.astimezone(ZoneInfo(zones[0])).date() + dt.timedelta(days=draw(st.sampled_from((0, 0, -1, 1))))
        out["bought_on"] = day.isoformat()
    region = draw(st.sampled_from((None, "FR-57", "US-TX", "FR")))
    if region:
        out["region"] = region
    if draw(st.booleans()):
        out["work_zone"] = draw(st.sampled_from(ZONES))
    return out


@st.composite
def contacts(draw: Any, focus: Focus, t: dt.datetime, zones: tuple[str, ...], k: int) -> dict[str, Any]:
    purpose = draw(st.sampled_from((focus[0], focus[0], focus[0], *PURPOSES)))
    channel = draw(st.sampled_from((focus[1], focus[1], focus[1], focus[1], *CHANNELS)))
    out: dict[str, Any] = {"at": draw(near(t, zones)).isoformat(), "channel": channel, "purpose": purpose,
                           "team": draw(st.sampled_from((focus[2], *TEAMS))), "id": f"c-{k}"}
    status = draw(st.sampled_from(("sent", "sent", "sent", "planned")))
    if status == "planned":
        out["status"] = "planned"
    elif draw(st.integers(0, 2)) > 0:
        out["outcome"] = draw(st.sampled_from(OUTCOMES))
    campaign = draw(st.sampled_from((None, None, "a", "b", ["a", "b"])))
    if campaign is not None:
        out["campaign"] = campaign
    return out


@st.composite
def events(draw: Any, t: dt.datetime, zones: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"at": draw(near(t, zones)).isoformat(),
                           "event": draw(st.sampled_from(("consent", "consent", "complaint", "revoked")))}
    campaign = draw(st.sampled_from((None, None, "a", ["a", "b"])))
    if campaign is not None:
        out["campaign"] = campaign
    return out


@st.composite
def bursts(draw: Any, focus: Focus, t: dt.datetime, k: int, count: int | None = None,
           complaints: bool | None = None) -> list[dict[str, Any]]:
    """N - 1, N or N + 1 refusals (or complaints) a day apart ending at or just before t: a
    pause triggered exactly at N, or one entry short."""
    n = draw(st.sampled_from((1, 2, 3, 4))) if count is None else count + draw(st.sampled_from((-1, 0, 0, 1)))
    gap = dt.timedelta(hours=draw(st.sampled_from((1, 24, 36))))
    last = t - dt.timedelta(minutes=draw(st.sampled_from((0, 1, 60))))
    if draw(st.booleans()) if complaints is None else complaints:
        return [{"at": (last - i * gap).isoformat(), "event": "complaint"} for i in range(n)]
    return [{"at": (last - i * gap).isoformat(), "channel": focus[1], "purpose": focus[0], "team": focus[2],
             "outcome": "refused", "id": f"c-{k + i}"} for i in range(n)]


WINDOW_OPENS = (0, 1, 60, 89, 90, 91, 24 * 60, 2 * 24 * 60, 2 * 24 * 60 + 1, 3 * 24 * 60, 4 * 24 * 60)


@st.composite
def ledgers(draw: Any, focus: Focus, t: dt.datetime, zones: tuple[str, ...], text: str = "") -> list[dict[str, Any]]:
    size = draw(st.integers(0, 6))
    ledger: list[dict[str, Any]] = [draw(contacts(focus, t, zones, k)) for k in range(size)]
    ledger += draw(st.lists(events(t, zones), max_size=2))
    if " in 7 days" in text or " in 30 days" in text or " in 2 consecutive" in text or " in calendar" in text:
        if draw(st.integers(0, 2)) > 0:  # a pause: N - 1, N or N + 1 triggers ending at the request
            count = 2 if "after 2 " in text else 3
            ledger += draw(bursts(focus, t, size + 10, count, f"after {count} complaint" in text))
    elif draw(st.integers(0, 3)) == 0:
        ledger += draw(bursts(focus, t, size + 10))
    if " after consent" in text and draw(st.integers(0, 3)) > 0:
        # a window opened exactly its length (90 minutes, 2 days, 3 consecutive days) before the
        # request, or a minute either side; sometimes closed by a conversation at the request
        lengths = [m for word, m in (("within 90 minutes after consent", 90), ("within 2 days after consent", 2880),
                                     ("within 3 consecutive days after consent", 3 * 1440)) if word in text]
        aimed = [m + d for m in lengths for d in (-1, 0, 0, 1)]
        opened = t - dt.timedelta(minutes=draw(st.sampled_from(tuple(aimed) + WINDOW_OPENS)))
        ledger.append({"at": opened.isoformat(), "event": "consent"})
        if lengths and draw(st.integers(0, 2)) == 0:  # a contact exactly at the window's end: outside it
            end = opened + dt.timedelta(minutes=draw(st.sampled_from(lengths)))
            ledger.append({"at": end.isoformat(), "channel": focus[1], "purpose": focus[0], "team": focus[2],
                           "id": "c-98"})
        if draw(st.integers(0, 3)) == 0:
            closed = t - dt.timedelta(minutes=draw(st.sampled_from((0, 0, 1, 30))))
            ledger.append({"at": closed.isoformat(), "channel": focus[1], "purpose": focus[0], "team": focus[2],
                           "outcome": "conversation", "id": "c-99"})
    ids = [e["id"] for e in ledger if "id" in e]
    if ids and draw(st.integers(0, 2)) == 0:
        voided = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=2, unique=True))
        first = min(dt.datetime.fromisoformat(e["at"]) for e in ledger if e.get("id") in voided)
        # the void line before or after the entries it voids: a void applies at every instant
        at = first + dt.timedelta(days=draw(st.sampled_from((-3, -1, 1, 2, 30))))
        line: dict[str, Any] = {"at": at.isoformat(), "void": voided if len(voided) > 1 else voided[0],
                                "reason": "misdirected"}
        if draw(st.integers(0, 3)) == 0:
            line["event"] = "consent"
        ledger.append(line)
    return draw(st.permutations(ledger))


@st.composite
def scenarios(draw: Any) -> tuple[str, Policy, dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(policy text, compiled policy, customer, request, ledger), all plain JSON-like data."""
    zones = draw(st.one_of(st.sampled_from(ZONE_SETS).flatmap(st.permutations).map(tuple),
                           st.sampled_from(ZONES).map(lambda z: (z,))))
    focus = (draw(st.sampled_from(PURPOSES)), draw(st.sampled_from(CHANNELS)), draw(st.sampled_from(TEAMS)))
    t = draw(request_instants(zones))
    text = draw(policy_texts(focus, t, zones))
    try:
        policy = policylang.compile(text, "section11.pol")
    except PolicylangError:
        assume(False)
        raise
    # the request exactly at an effective date (`from` or `until`) a third of the time
    pol = reference.load(text)
    here = reference.make_context(pol, {}, reference.Req("", "", "", t), [])
    periods = [reference.effective_period(here, rule) for rule in pol.rules]
    # starts twice: a rule that just came into force must deny for a wrong `from` to show
    edges = sorted(e for start, end in periods for e in (start, start, end) if e is not None)
    if edges and draw(st.integers(0, 1)) == 0:
        t = draw(st.sampled_from(edges)) + dt.timedelta(minutes=draw(st.sampled_from((0, 0, 0, -1))))
    customer = draw(customers(t, zones))
    request: dict[str, Any] = {"team": focus[2], "channel": focus[1], "purpose": focus[0], "at": t.isoformat()}
    campaign = draw(st.sampled_from((None, "a", "b", ["a", "b"])))
    if campaign is not None:
        request["campaign"] = campaign
    return text, policy, customer, request, draw(ledgers(focus, t, zones, text))


def labels(text: str, customer: dict[str, Any], ledger: list[dict[str, Any]]) -> list[str]:
    """What forms and boundaries a scenario holds, for ``event()``."""
    found = []
    for word, label in ((" when ", "form: when"), (" from 20", "form: from"), (" until 20", "form: until date"),
                        (" in zone ", "form: in zone"), (" warn:", "form: warn"), (" months", "form: months"),
                        (" month", "form: month"), (" counting ", "form: outcome counting"),
                        (" after consent", "form: exemption window"), (" or ", "form: quiet parts with or"),
                        ("on holidays", "form: on holidays"), (" in 7 days", "form: pause"), (" in 30 days", "form: pause"),
                        (" in 2 consecutive days", "form: pause"), (" in calendar week", "form: pause"),
                        ("week starts", "form: week starts"), ("\nhold ", "form: hold"),
                        ("for each campaign", "form: for each campaign"), ("1 month before", "form: require months"),
                        ("within 1 month", "form: require months"), ("within 2 months", "form: require months"),
                        ("per 1 month", "form: exclusive months"), ("up to 1 month", "form: hold months")):
        if word in text:
            found.append(label)
    zones = customer.get("timezone")
    if isinstance(zones, list) and len(zones) > 1:
        found.append("customer in 2 zones")
    if any("void" in e for e in ledger):
        found.append("void line")
    if any(isinstance(e.get("campaign"), list) for e in ledger):
        found.append("campaign list in the ledger")
    return sorted(set(found))

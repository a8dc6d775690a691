"""The evaluator's fast paths (issue 11a) against the paths they replace.

* A history of records grown by an arbitration's grant (``History.plus``) against a history
  built again from the entries with the grant appended: every selector's matches (the same
  instants and the very same contact objects, since precedence tells contacts apart by
  identity), the planned, voided and counted contacts, and whole decisions, on ledgers
  shuffled, with ties, around the size where instants stop being converted lazily.
* ``arbitrate`` (which grows the index) against a cycle written out here that decides each
  request on a list of entries, rebuilt after every grant as arbitration did before.
* The search's early stop, the exclusive rule's bound and ``displaceable`` per team are
  held by the differential tests against tests/reference.py; here the pieces that share no
  code with the reference are compared with a plain scan.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from policylang.arbitration import arbitrate, arbitration_order
from policylang.evaluator import decide
from policylang.history import EAGER, History, LazyContacts, between, cut
from policylang.records import Contact, Customer, Event, Request, VoidLine
from tests.strategies import displacement_scenarios, scenarios

UTC = dt.timezone.utc


def grant(request: Request, ident: str) -> Contact:
    return Contact(request.at, request.channel, request.purpose, request.team, "planned",
                   campaign=request.campaign, id=ident)


def same_history(grown: History, fresh: History, policy: Any, owners: list[str | None]) -> None:
    """Everything the evaluator reads of a history, compared (contacts by identity)."""
    assert len(grown) == len(fresh)
    assert grown.size == fresh.size
    assert [id(c) for c in grown.planned] == [id(c) for c in fresh.planned]
    assert grown.has_planned == fresh.has_planned
    assert [id(c) for c in grown.voided] == [id(c) for c in fresh.voided]
    assert [id(c) for c in grown.counted] == [id(c) for c in fresh.counted]
    assert grown.counted_us == fresh.counted_us
    assert grown.events == fresh.events
    assert grown.event_campaigns == fresh.event_campaigns
    for field in ("team", "status", "outcome", "campaign"):
        assert grown.field(field) == fresh.field(field)
    assert {team: sorted(ids) for team, ids in grown.planned_by_team().items()} == \
        {team: sorted(ids) for team, ids in fresh.planned_by_team().items()}
    for rule in policy.rules:
        for owner in owners:
            for kwargs in ({}, {"sent_only": True}, {"outcome": "refused"}, {"group": "team", "value": "a"},
                           {"drop": frozenset({"refused"})}):
                times, contacts = grown.matching(rule.match, owner, **kwargs)
                want_times, want = fresh.matching(rule.match, owner, **kwargs)
                assert times == want_times
                assert [id(c) for c in contacts] == [id(c) for c in want]


@st.composite
def growing(draw: Any) -> tuple[Any, dict[str, Any], list[Any], list[Request]]:
    """A displacement scenario with more requests (other teams, instants, some equal to the
    ledger's) and sometimes a ledger padded past the eager-conversion size."""
    _, policy, customer, request, ledger = draw(displacement_scenarios())
    extra = draw(st.lists(st.tuples(st.sampled_from(policy.teams), st.integers(-3, 3),
                                    st.sampled_from((0, 0, 60, 3600, 86400))), min_size=1, max_size=4))
    requests = [request] + [attrs.evolve(request, team=team, at=request.at + dt.timedelta(seconds=sign * step))
                            for team, sign, step in extra]
    if draw(st.booleans()) and ledger:
        # past EAGER contacts: instants are then converted a shape at a time
        copies = draw(st.integers(EAGER // len(ledger), EAGER // len(ledger) + 2))
        ledger = [attrs.evolve(e, id=None) if isinstance(e, Contact) else e for e in ledger * (copies + 1)]
    return policy, customer, list(draw(st.permutations(ledger))), requests


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(growing(), st.booleans())
def test_a_grown_history_of_records_is_the_history_built_again(case: Any, warm: bool) -> None:
    policy, customer, ledger, requests = case
    entries = list(ledger)
    history = History(entries)
    owners = [None, *policy.teams[:1]]
    for k, request in enumerate(requests):
        if warm:  # what the evaluator built on demand is carried over: build it first
            decide(policy, customer, request, history, explain=False)
        contact = grant(request, f"g{k}")
        grown = history.plus(contact)
        assert grown is not None
        entries.append(contact)
        fresh = History(list(entries))
        same_history(grown, fresh, policy, owners)
        for other in requests:
            assert decide(policy, customer, other, grown) == decide(policy, customer, other, fresh)
        history = grown


def test_a_history_with_void_lines_or_displacements_is_not_grown() -> None:
    t = dt.datetime(2026, 3, 1, 12, tzinfo=UTC)
    sent = Contact(t, "email", "marketing", "a", id="x")
    planned = Contact(t, "email", "marketing", "b", "planned", id="y")
    grant_ = Contact(t, "email", "marketing", "a", "planned", id="z")
    # void lines are resolved again with the new contact among those they may name
    assert History([sent, VoidLine(t, ("x",))]).plus(grant_) is None
    history = History([sent, planned])
    assert history.plus(grant_, (planned,)) is None
    grown = history.plus(grant_)
    assert grown is not None and [c.id for c in grown.counted] == ["x", "y", "z"]  # ties: ledger order


def rebuilt_cycle(policy: Any, customer: Any, requests: list[Request], ledger: list[Any],
                  explain: bool) -> list[tuple[int, Any]]:
    """Arbitration as it was: each decision on the list of entries, rebuilt after a grant."""
    values = customer.values if isinstance(customer, Customer) else customer
    owner = values.get(policy.owner_attribute) if policy.owner_attribute else None
    order = arbitration_order(policy, owner, requests)
    entries = list(ledger)
    out = []
    for n, index in enumerate(order):
        decision = decide(policy, customer, requests[index], list(entries), explain=explain)
        out.append((index, decision))
        if decision.allowed and n < len(order) - 1:
            if decision.displaces:
                entries = [attrs.evolve(e, status="displaced") if e in decision.displaces else e for e in entries]
            entries.append(grant(requests[index], f"request-{index}"))
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(growing(), st.booleans())
def test_arbitrate_gives_what_a_rebuilt_cycle_gives(case: Any, explain: bool) -> None:
    policy, customer, ledger, requests = case
    rulings = arbitrate(policy, customer, requests, ledger, explain=explain)
    expected = rebuilt_cycle(policy, customer, requests, ledger, explain)
    note(str(expected))
    assert [(r.position, r.decision) for r in rulings] == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(scenarios())
def test_a_prebuilt_history_decides_as_a_list_does_explained(scenario: Any) -> None:
    """The plain-rule shortcut (no judge layers) gives the words the layered path gives:
    a list of entries and a prebuilt index, explained and not, agree."""
    _, policy, customer, request, ledger = scenario
    history = History(list(ledger))
    for explain in (True, False):
        assert decide(policy, customer, request, history, explain=explain) == \
            decide(policy, customer, request, list(ledger), explain=explain)


@given(st.lists(st.integers(0, 9), max_size=12), st.sets(st.integers(0, 11)))
def test_cut_and_between_are_plain_list_operations(values: list[int], dropped: set[int]) -> None:
    gone = sorted(d for d in dropped if d < len(values))
    assert cut(values, gone) == [v for k, v in enumerate(values) if k not in set(gone)]
    lazy = LazyContacts(values.__getitem__, list(range(len(values))))  # type: ignore[arg-type]
    assert list(lazy.without_positions(gone)) == cut(values, gone)
    for lo in range(len(values) + 1):
        for hi in range(lo, len(values) + 1):
            assert list(between(lazy, lo, hi)) == values[lo:hi]  # type: ignore[arg-type]
            assert list(between(values, lo, hi)) == values[lo:hi]  # type: ignore[arg-type]


def test_events_are_kept_when_a_history_grows() -> None:
    t = dt.datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the night Europe's clocks go forward
    ledger = [Event(t, "complaint"), Contact(t, "email", "marketing", "a")]
    grown = History(ledger).plus(Contact(t + dt.timedelta(hours=1), "email", "marketing", "b", "planned"))
    assert grown is not None
    assert grown.event_times("complaint") == History(ledger).event_times("complaint")


ZONES = ("America/Chicago", "Europe/London", "Australia/Lord_Howe", "America/St_Johns", "Europe/Dublin",
         "Pacific/Apia", "Asia/Kolkata", "UTC")


def test_local_time_is_astimezone_at_every_transition() -> None:
    """clock.local (fromtimestamp) against astimezone of the UTC instant: the same wall time,
    offset and fold a second and a microsecond either side of every offset change of
    2000-2040, in zones with half hours, 30-minute DST (Lord Howe), negative DST (Dublin)
    and a skipped day (Apia); and at the ends of the datetime range (the same error)."""
    import zoneinfo

    from policylang import clock

    def reference(us: int, tz: dt.tzinfo) -> dt.datetime:
        return (dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=us)).astimezone(tz)

    checked = 0
    for name in ZONES:
        tz = zoneinfo.ZoneInfo(name)
        start = clock.micros(dt.datetime(2000, 1, 1, tzinfo=UTC))
        end = clock.micros(dt.datetime(2040, 1, 1, tzinfo=UTC))
        step = 6 * 3600 * 1_000_000
        previous = reference(start, tz).utcoffset()
        for us in range(start, end, step):
            offset = reference(us, tz).utcoffset()
            if offset == previous:
                continue
            previous = offset
            change = clock.transition_between(us - step, us, tz)
            assert change is not None
            for near in (change - 1_000_000, change - 1, change, change + 1, change + 1_000_000):
                got, want = clock.local(near, tz), reference(near, tz)
                assert (got, got.fold, got.utcoffset(), got.replace(tzinfo=None)) == \
                    (want, want.fold, want.utcoffset(), want.replace(tzinfo=None))
                checked += 1
    assert checked > 500
    for us in (clock.micros(dt.datetime(1, 1, 1, tzinfo=UTC)), clock.micros(dt.datetime(9999, 12, 31, 23, tzinfo=UTC))):
        for name in ("America/Chicago", "Asia/Kolkata"):
            tz = zoneinfo.ZoneInfo(name)
            try:
                want: object = reference(us, tz)
            except OverflowError as error:
                want = type(error)
            try:
                got: object = clock.local(us, tz)
            except OverflowError as error:
                got = type(error)
            assert got == want


@given(st.integers(0, 1440), st.integers(0, 1440), st.booleans(),
       st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2040, 1, 1)), st.booleans())
def test_next_clock_boundary_is_the_first_of_the_four_candidates(start: int, end: int, inside: bool,
                                                                  wall: dt.datetime, on_edge: bool) -> None:
    from policylang.evaluator import next_clock_boundary
    from policylang.rules import ClockRange

    if on_edge:  # exactly on a boundary, where "after" must be strict
        wall = dt.datetime.combine(wall.date(), dt.time()) + dt.timedelta(minutes=min(start, 1439))
    period = ClockRange(start, end, inside)
    midnight = dt.datetime.combine(wall.date(), dt.time())
    candidates = sorted(midnight + dt.timedelta(days=day, minutes=minute) for day in (0, 1) for minute in (start, end))
    assert next_clock_boundary(period, wall) == next(c for c in candidates if c > wall)


def columns_history(entries: list[Any]) -> History:
    """A history from columns (as the batch engine builds them), of records' values."""
    from policylang.history import FIELDS

    contacts = [e for e in entries if isinstance(e, Contact)]
    columns = {name: [getattr(c, name) for c in contacts] for name in FIELDS if name != "at"}
    micros = [(c.at - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1) for c in contacts]
    events: dict[str, list[int]] = {}
    for e in entries:
        if isinstance(e, Event):
            events.setdefault(e.name, []).append((e.at - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1))
    return History.from_columns(columns, micros, events)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(growing(), st.booleans())
def test_a_grown_history_of_columns_is_the_history_built_again(case: Any, warm: bool) -> None:
    policy, customer, ledger, requests = case
    ledger = [e for e in ledger if not isinstance(e, Contact) or e.campaign is None or isinstance(e.campaign, str)]
    entries = list(ledger)
    history = columns_history(entries)
    for k, request in enumerate(requests):
        if warm:
            decide(policy, customer, request, history, explain=False)
        contact = grant(request, f"g{k}")
        grown = history.plus(contact)
        assert grown is not None
        entries.append(contact)
        fresh = columns_history(entries)
        assert grown.counted_us == fresh.counted_us and list(grown.counted) == list(fresh.counted)
        for rule in policy.rules:
            for owner in (None, policy.teams[0]):
                assert grown.matching(rule.match, owner)[0] == fresh.matching(rule.match, owner)[0]
                assert list(grown.matching(rule.match, owner)[1]) == list(fresh.matching(rule.match, owner)[1])
        for other in requests:
            assert decide(policy, customer, other, grown) == decide(policy, customer, other, fresh)
        history = grown

"""A fresh index's answers against a plain scan of the ledger (issues 11 and 12).

``History`` codes every contact's (purpose, channel, team, status) once per process and
reads which contacts count, which are sent or planned, and which a selector takes off those
codes; it sorts a history whose instants are all known once (not at all when they are in
order already, as a store's digest keeps them) and picks each selector's contacts from that
order. The reference here shares none of that: for each question it walks the entries one
by one and sorts what it kept by instant (Python's sort is stable: ties in ledger order).
Every way a history is built (records, short and long; columns with epoch microseconds, in
order or not; columns of datetimes), asked in a drawn order (so each lazy part is built by a
different question first), must give the reference's answers; so must a history grown by a
contact (``plus``), whose codes and time orders grow instead of being built again, including
a contact of a (shape, status) no history coded before.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylang import history as module
from policylang.history import FIELDS, History
from policylang.records import Contact, Event
from policylang.rules import Match

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
BASE = dt.datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
PURPOSES, CHANNELS, TEAMS = ("marketing", "debt", ""), ("sms", "email", "phone"), ("cards", "sales", "")
STATUSES = ("sent", "planned", "displaced", "released", "void")
OUTCOMES = (None, "conversation", "no_answer")
FRESH = itertools.count()  # names no history coded before (the code table grows)


def micros(at: dt.datetime) -> int:
    return (at - EPOCH) // dt.timedelta(microseconds=1)


def names(pool: tuple[str, ...]) -> st.SearchStrategy[frozenset[str] | None]:
    return st.one_of(st.none(), st.frozensets(st.sampled_from(pool), max_size=2))


matches = st.builds(Match, names(PURPOSES), names(CHANNELS), names(TEAMS), st.booleans(),
                    st.frozensets(st.sampled_from(PURPOSES), max_size=1),
                    st.frozensets(st.sampled_from(CHANNELS), max_size=1),
                    st.frozensets(st.sampled_from(TEAMS), max_size=1), st.booleans())


@st.composite
def contacts(draw: Any) -> Contact:
    # few instants, so many ties; a minute either side of midnight and of the DST change
    at = BASE + dt.timedelta(minutes=draw(st.sampled_from((-1, 0, 0, 1, 60, 61, 24 * 60))))
    return Contact(at, draw(st.sampled_from(CHANNELS)), draw(st.sampled_from(PURPOSES)), draw(st.sampled_from(TEAMS)),
                   draw(st.sampled_from(STATUSES)), draw(st.sampled_from(OUTCOMES)),
                   draw(st.sampled_from((None, "d1", ("d1", "d2")))), customer="c")


@st.composite
def ledgers(draw: Any) -> list[Contact | Event]:
    # up to past history.EAGER contacts: short records convert every instant at once, long
    # ones a selector at a time
    size = draw(st.sampled_from((0, 1, 2, 5, 12, module.EAGER + 6, 2 * module.EAGER + 3)))
    entries: list[Contact | Event] = [draw(contacts()) for _ in range(size)]
    if draw(st.booleans()):
        entries.sort(key=lambda c: c.at)  # in time order (as a digest): the sort is skipped
    for _ in range(draw(st.integers(0, 2))):
        at = BASE + dt.timedelta(minutes=draw(st.sampled_from((-1, 0, 61))))
        entries.insert(draw(st.integers(0, len(entries))), Event(at, draw(st.sampled_from(("complaint", "moved"))), "c",
                                                                 draw(st.sampled_from((None, None, "d1")))))
    return entries


ASKED: tuple[dict[str, Any], ...] = (
    {}, {"sent_only": True}, {"outcome": "conversation"}, {"outcome": frozenset({"conversation", "no_answer"})},
    {"sent_only": True, "outcome": "no_answer"}, {"group": "team", "value": "cards"},
    {"group": "campaign", "value": "d2"}, {"drop": frozenset({"no_answer"})}, {"group": "channel", "value": "sms"},
    {"group": "purpose", "value": ""}, {"group": "team", "value": "sales", "outcome": None, "sent_only": True},
)


def scanned(entries: list[Contact | Event], match: Match, owner: str | None, asked: dict[str, Any]) -> list[Contact]:
    """The reference: the counted contacts ``match`` takes, filtered, by instant (ties in ledger order)."""
    kept = []
    for entry in entries:
        if not isinstance(entry, Contact) or entry.status not in ("sent", "planned"):
            continue
        if not match.matches(entry.purpose, entry.channel, entry.team, owner):
            continue
        if asked.get("sent_only") and entry.status != "sent":
            continue
        outcome = asked.get("outcome")
        if isinstance(outcome, frozenset) and entry.outcome not in outcome:
            continue
        if isinstance(outcome, str) and entry.outcome != outcome:
            continue
        if entry.outcome in asked.get("drop", ()) and entry.status == "sent":
            continue
        group = asked.get("group")
        if group == "campaign":
            if not (entry.campaign == asked["value"] or (isinstance(entry.campaign, tuple)
                                                         and asked["value"] in entry.campaign)):
                continue
        elif group is not None and getattr(entry, group) != asked["value"]:
            continue
        kept.append(entry)
    return sorted(kept, key=lambda c: c.at)


def built(entries: list[Contact | Event], how: str) -> History:
    """The history of ``entries`` built one of the ways the engine builds it."""
    if how == "records":
        return History(entries)
    contacts = [e for e in entries if isinstance(e, Contact)]
    columns: dict[str, list[Any]] = {name: [getattr(c, name) for c in contacts] for name in FIELDS if name != "at"}
    events: dict[str, list[int]] = {}
    for e in entries:
        if isinstance(e, Event):
            events.setdefault(e.name, []).append(micros(e.at))
    if how == "columns":
        return History.from_columns(columns, [micros(c.at) for c in contacts], events)
    if how.startswith("shapes"):  # a store's digest: in time order, each contact's shape a code into the distinct
        quads = [(c.purpose, c.channel, c.team, c.status) for c in contacts]
        distinct = list(dict.fromkeys(quads))
        if how == "shapes+unused":  # a shape no contact has (a digest's plan released at read time leaves one)
            distinct.insert(0, ("debt", "sms", "cards", "planned"))
        shapes = module.shapes_of([json.dumps(quad) for quad in distinct], lambda key: tuple(json.loads(key)))
        codes: Any = [distinct.index(quad) for quad in quads]
        # bytes while the codes fit (picked by the shapes' verdicts), else a list (coded a contact at a time)
        return History.from_shapes(columns, [micros(c.at) for c in contacts], codes if how == "shapes-list"
                                   else bytes(codes), shapes, events)  # fmt: skip
    columns["at"] = [c.at for c in contacts]
    return History.from_moments(columns, events)


def same_contact(made: Contact, record: Contact) -> bool:
    return all(getattr(made, name) == getattr(record, name) for name in FIELDS)


def check(history: History, entries: list[Contact | Event], questions: list[tuple[str, Any]], how: str) -> None:
    """Every question's answer as the reference gives it (records: the very records)."""
    contacts = [e for e in entries if isinstance(e, Contact)]
    for kind, question in questions:
        if kind == "matching":
            match, owner, asked = question
            times, found = history.matching(match, owner, **asked)
            want = scanned(entries, match, owner, asked)
            assert times == [micros(c.at) for c in want], (match, owner, asked)
            if how == "records":
                assert [id(c) for c in found] == [id(c) for c in want]
            else:
                assert len(found) == len(want) and all(map(same_contact, found, want))
            if isinstance(found, module.LazyContacts):  # fields read without making the contacts
                lo = len(want) // 3
                for name in ("team", "channel", "purpose", "status", "outcome", "campaign"):
                    assert found.field_between(name, lo, len(want)) == [getattr(c, name) for c in want[lo:]], name
        elif kind == "planned":
            want = sorted((c for c in contacts if c.status == "planned"), key=lambda c: c.at)
            assert history.has_planned == bool(want)
            assert len(history.planned) == len(want) and all(map(same_contact, history.planned, want))
            by_team: dict[str, list[int]] = {}
            for contact in history.planned:
                by_team.setdefault(contact.team, []).append(id(contact))
            assert {team: list(ids) for team, ids in history.planned_by_team().items()} == by_team
        elif kind == "counted":
            want = sorted((c for c in contacts if c.status in ("sent", "planned")), key=lambda c: c.at)
            assert history.counted_us == [micros(c.at) for c in want]
            assert all(map(same_contact, history.counted, want)) and len(history.counted) == len(want)
            assert history.field("outcome") == [c.outcome for c in want]
        elif kind == "events":  # (from records: the entries split when first asked)
            happened: dict[str, list[int]] = {}
            for entry in entries:
                if isinstance(entry, Event):
                    happened.setdefault(entry.name, []).append(micros(entry.at))
            assert history.events == {name: sorted(times) for name, times in happened.items()}
            assert history.event_times("complaint") == sorted(happened.get("complaint", []))
            assert len(history) == len(entries)
            if how == "records":  # (the other ways here are built without the events' campaigns)
                pairs: dict[str, list[tuple[int, Any]]] = {}
                for entry in entries:
                    if isinstance(entry, Event):
                        pairs.setdefault(entry.name, []).append((micros(entry.at), entry.campaign))
                assert history.event_campaigns == {
                    name: sorted(found, key=lambda pair: pair[0]) for name, found in pairs.items()
                    if any(campaign is not None for _, campaign in found)}
                assert history.event_times("complaint", "d2") == sorted(
                    us for us, campaign in pairs.get("complaint", []) if campaign is None)
        else:
            want = [c for c in contacts if c.status == "void"]
            assert len(history.voided) == len(want) and all(map(same_contact, history.voided, want))


@st.composite
def questions(draw: Any) -> list[tuple[str, Any]]:
    asked = [("matching", (draw(matches), draw(st.sampled_from((None, "cards", "sales"))), draw(st.sampled_from(ASKED))))
             for _ in range(draw(st.integers(1, 4)))]
    asked += [(kind, None) for kind in draw(st.lists(st.sampled_from(("planned", "counted", "voided", "events")),
                                                      max_size=3))]
    return draw(st.permutations(asked))


HOW = ("records", "columns", "moments", "shapes", "shapes-list", "shapes+unused")


def in_order(entries: list[Contact | Event], how: str) -> list[Contact | Event]:
    """The ledger a way of building takes: from shapes (a digest) in time order (ties in ledger order)."""
    return sorted(entries, key=lambda e: e.at) if how.startswith("shapes") else entries


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ledgers(), questions(), st.sampled_from(HOW))
def test_a_fresh_history_answers_as_a_scan_of_the_ledger(entries: list[Contact | Event],
                                                         asked: list[tuple[str, Any]], how: str) -> None:
    entries = in_order(entries, how)
    history = built(entries, how)
    check(history, entries, asked, how)
    check(history, entries, asked, how)  # asked again: the answers kept


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ledgers(), questions(), questions(), contacts(), st.sampled_from(("records", "columns", "shapes")),
       st.booleans())
def test_a_grown_history_answers_as_a_scan_of_the_grown_ledger(
        entries: list[Contact | Event], before: list[tuple[str, Any]], after: list[tuple[str, Any]],
        added: Contact, how: str, never_coded: bool) -> None:
    if never_coded:  # a shape no history coded: the grown codes are made again
        added = Contact(added.at, f"pigeon{next(FRESH)}", added.purpose, added.team, added.status, customer="c")
    entries = in_order(entries, how)
    history = built(entries, how)
    check(history, entries, before, how)  # what the parent built (codes, orders) grows with it
    grown = history.plus(added)
    assert grown is not None
    check(grown, [*entries, added], after, how)
    check(history, entries, before, how)  # the parent is unchanged


def test_codes_tell_statuses_apart_and_each_status_set_holds_its_own() -> None:
    at = BASE
    entries: list[Contact | Event] = [Contact(at, "sms", "debt", "cards", status) for status in STATUSES]
    history = History(entries)
    codes = history._coding()  # noqa: SLF001
    table = history._table  # noqa: SLF001
    assert len(set(codes)) == len(STATUSES)
    assert {table.shapes[c][3] for c in table.counted & set(codes)} == {"sent", "planned"}
    assert {table.shapes[c][3] for c in table.sent & set(codes)} == {"sent"}
    assert {table.shapes[c][3] for c in table.planned & set(codes)} == {"planned"}
    assert {table.shapes[c][3] for c in table.void & set(codes)} == {"void"}

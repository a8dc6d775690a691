"""Section 11 in the shared ledger (issue 15's leftovers): campaign lists (11.3) and a
reservation's warnings (11.14) are stored by every store, survive export and import, and an
older ledger takes them after `policylang ledger init` migrates it."""

# ruff: noqa: F811 - pytest fixtures imported from tests.ledger_fixtures are parameters here
from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import policylang
from policylang.commands.ledger import entries_csv, read_csv
from policylang.inputs import entry_from_json, where
from policylang.ledger import SCHEMA_VERSION, Ledger, LedgerError, open_ledger
from policylang.records import Contact, Customer, Event, Request
from tests.ledger_fixtures import (  # noqa: F401 - fixtures
    T0,
    FakeClock,
    clock,
    fresh_url,
    ledger,
    make_ledger,
    store_kind,
)

POLICY = policylang.compile(
    """
policy "campaign lists"
channels  email, phone
teams     collections
purposes  debt
outcomes  conversation, no_answer
events    dispute
cap "one call a day per campaign":  at most 1 debt phone per 1 day for each campaign
quiet "after a dispute":            no debt within 2 days after dispute for each campaign
cap "two unanswered" warn:          at most 1 debt phone per 5 minutes counting only outcome no_answer
""",
    "campaigns.pol",
)
JOE = Customer("joe", {})


def call(at: dt.datetime, campaign: str | tuple[str, ...] | None) -> Request:
    return Request("collections", "phone", "debt", at, campaign=campaign)


def test_a_reservation_for_two_campaigns_counts_in_each(ledger: Ledger) -> None:
    # 11.3: one call about debts "card-a" and "card-b" fills both campaigns' daily cap
    first = ledger.reserve(POLICY, JOE, call(T0, ("card-a", "card-b")))
    assert first.allowed and first.contact is not None and first.contact.campaign == ("card-a", "card-b")
    later = T0 + dt.timedelta(hours=2)
    for campaign in ("card-a", "card-b"):
        denied = ledger.reserve(POLICY, JOE, call(later, campaign))
        assert denied.decision.denied_by == ("one call a day per campaign",), campaign
        assert denied.decision.next_allowed_at == T0 + dt.timedelta(days=1)
    assert ledger.reserve(POLICY, JOE, call(later, "card-c")).allowed
    # a list request is denied when any of its campaigns is full
    assert not ledger.reserve(POLICY, JOE, call(later, ("card-d", "card-a"))).allowed
    stored = [e for e in ledger.events("joe") if isinstance(e, Contact)]
    assert [c.campaign for c in stored] == [("card-a", "card-b"), "card-c"]
    assert ledger.reservation(first.id or "").contact.campaign == ("card-a", "card-b")


def test_events_keep_their_campaigns(ledger: Ledger) -> None:
    # 11.3: a dispute about card-a holds back card-a calls, not card-b ones; an event about
    # two campaigns holds back both
    ledger.append([Event(T0, "dispute", "joe", campaign="card-a"),
                   Event(T0, "dispute", "ann", campaign=("card-a", "card-b"))])  # fmt: skip
    later = T0 + dt.timedelta(days=1)
    assert ledger.reserve(POLICY, JOE, call(later, "card-a")).decision.denied_by == ("after a dispute",)
    assert ledger.reserve(POLICY, JOE, call(later, "card-b")).allowed
    ann = Customer("ann", {})
    assert not ledger.reserve(POLICY, ann, call(later, "card-b")).allowed
    assert ledger.reserve(POLICY, ann, call(later, "card-c")).allowed
    events = [e for e in ledger.export() if isinstance(e, Event)]
    assert [e.campaign for e in events] == ["card-a", ("card-a", "card-b")]


def test_plans_and_appended_contacts_keep_campaign_lists(ledger: Ledger) -> None:
    made = ledger.reserve_all(POLICY, JOE, [call(T0, ("x", "y")), call(T0 + dt.timedelta(hours=1), "z")])
    assert [m.contact.campaign for m in made if m.contact] == [("x", "y"), "z"]
    ledger.append([Contact(T0, "phone", "debt", "collections", campaign=("p", "q"), id="c-1", customer="bo")])
    assert [e.campaign for e in ledger.events("bo")] == [("p", "q")]  # type: ignore[union-attr]
    with pytest.raises(LedgerError, match="control character"):
        ledger.reserve(POLICY, JOE, call(T0, ("ok", "bad\n")))


def test_a_reservation_keeps_its_warnings(ledger: Ledger) -> None:
    # 11.14: "reservations store their warnings". A planned call's outcome is unknown, so
    # it counts for "two unanswered": the second call 3 minutes later (another campaign)
    # is allowed with that warning, and the ledger keeps it with the reservation.
    assert ledger.reserve(POLICY, JOE, call(T0, "a")).decision.warnings == ()
    second = ledger.reserve(POLICY, JOE, call(T0 + dt.timedelta(minutes=3), "b"))
    assert second.allowed and second.decision.warnings == ("two unanswered",)
    assert second.contact is not None and second.contact.warnings == ("two unanswered",)
    state = ledger.reservation(second.id or "").to_dict()
    assert state["contact"]["warnings"] == ["two unanswered"]  # type: ignore[index]
    exported = [e.to_dict() for e in ledger.export("joe")]
    assert ["warnings" in e for e in exported] == [False, True]
    assert exported[1]["warnings"] == ["two unanswered"]
    ledger.confirm(second.id or "", "conversation")
    assert ledger.reservation(second.id or "").contact.warnings == ("two unanswered",)  # kept once sent


def test_campaign_lists_and_warnings_round_trip_through_jsonl_and_csv(make_ledger: Callable[..., Ledger]) -> None:
    source = make_ledger()
    source.reserve(POLICY, JOE, call(T0, ("card-a", "card-b")))
    source.reserve(POLICY, JOE, call(T0 + dt.timedelta(minutes=3), "[not a list"))
    source.append([Event(T0, "dispute", "joe", campaign=("card-a", "[x]")),
                   Contact(T0, "phone", "debt", "collections", campaign='["one"]', id="c-1", customer="joe",
                           status="void", void_reason="misdirected")])  # fmt: skip
    rows = [e.to_dict() for e in source.export()]
    from_csv = [entry_from_json(POLICY, obj, where("x.csv", n)) for n, obj in read_csv(entries_csv(rows), "x.csv",
                                                                                          POLICY, customers=False)]  # fmt: skip
    from_jsonl = [entry_from_json(POLICY, json.loads(json.dumps(r)), where("x.jsonl", 1)) for r in rows]
    assert [e.to_dict() for e in from_csv] == [e.to_dict() for e in from_jsonl] == rows
    again = make_ledger()
    assert again.append(from_csv) == 4
    assert [e.to_dict() for e in again.export()] == rows


@pytest.mark.parametrize("store_kind", ["sqlite", "postgres"], indirect=True)
def test_a_version_3_ledger_takes_campaign_lists_after_migration(make_ledger: Callable[..., Ledger],
                                                                 tmp_path: os.PathLike[str], store_kind: str) -> None:  # fmt: skip
    url = fresh_url(store_kind, tmp_path)
    old = make_ledger(url, target_version=3)
    assert old.schema_version == 3
    assert old.reserve(POLICY, JOE, call(T0, "card-a")).allowed
    with pytest.raises(LedgerError, match="before version 4") as refused:
        old.reserve(POLICY, JOE, call(T0 + dt.timedelta(days=2), ("card-a", "card-b")))
    assert "policylang ledger init" in str(refused.value)
    old.close()
    new = make_ledger(url)  # what `policylang ledger init` does: migrate to the newest
    assert new.schema_version == SCHEMA_VERSION >= 4
    assert [e.campaign for e in new.events("joe")] == ["card-a"]  # type: ignore[union-attr]
    assert not new.reserve(POLICY, JOE, call(T0 + dt.timedelta(hours=1), ("card-b", "card-a"))).allowed
    assert new.reserve(POLICY, JOE, call(T0 + dt.timedelta(hours=1), ("card-b", "card-c"))).allowed


def test_ledger_init_migrates_and_show_prints_lists_and_warnings(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from policylang import cli

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    open_ledger(url, target_version=3, create=True, clock=FakeClock()).close()
    assert cli.main(["ledger", "init", "--ledger", url]) == 0
    assert "(migrated from version 3)" in capsys.readouterr().out
    with open_ledger(url, clock=FakeClock()) as ledger:
        ledger.reserve(POLICY, JOE, call(T0, ("card-a", "card-b")))
        warned = ledger.reserve(POLICY, JOE, call(T0 + dt.timedelta(minutes=3), "card-c"))
    assert cli.main(["ledger", "show", "--ledger", url, "--customer", "joe"]) == 0
    out = capsys.readouterr().out
    assert "campaign card-a, card-b" in out and "warnings two unanswered" in out
    assert cli.main(["ledger", "show", "--ledger", url, "--reservation", warned.id or ""]) == 0
    assert json.loads(capsys.readouterr().out)["contact"]["warnings"] == ["two unanswered"]


# ---- 11.4: a bad void line is named by its place, whatever the way in ----------------------------

VOID_POLICY = policylang.compile(
    'policy "v"\nchannels phone\nteams collections\npurposes debt\n'
    'cap "seven": at most 7 debt phone per 7 days\n',
    "void.pol",
)


def test_a_bad_void_line_in_a_library_list_names_its_position_and_field() -> None:
    from policylang.errors import InputError
    from policylang.records import VoidLine

    calls = [Contact(T0, "phone", "debt", "collections", id="c-1"), Contact(T0, "phone", "debt", "collections", id="c-2")]
    request = Request("collections", "phone", "debt", T0 + dt.timedelta(days=1))
    with pytest.raises(InputError) as unknown:
        VOID_POLICY.decide({}, request, [*calls, VoidLine(T0, ("c-9",), None, None, None)])
    assert (unknown.value.span.file, unknown.value.span.line) == ("<ledger>", 3)
    assert unknown.value.message.startswith("field `void`:") and "c-9" in unknown.value.message
    mappings = [c.to_dict() for c in calls] + [{"at": T0.isoformat(), "void": ["c-1", "c-8"]}]
    with pytest.raises(InputError) as mapped:
        VOID_POLICY.decide({}, request, mappings[2:] + mappings[:2])  # the void line first: position 1
    assert mapped.value.span.line == 1 and "c-8" in mapped.value.message
    with pytest.raises(InputError) as twice:
        VOID_POLICY.decide({}, request, [calls[0], calls[0], VoidLine(T0, ("c-1",), None, None, None)])
    assert twice.value.span.line == 2 and twice.value.message.startswith("field `id`:")


def test_a_void_line_given_to_append_is_refused_with_its_index(ledger: Ledger) -> None:
    from policylang.records import VoidLine

    with pytest.raises(LedgerError, match=r"entry 1 \(field `void`\)"):
        ledger.append([Contact(T0, "phone", "debt", "collections", id="c-1", customer="joe"),
                       VoidLine(T0, ("c-1",), "misdirected", None, "joe")])  # type: ignore[list-item]
    assert ledger.export() is not None and list(ledger.export()) == []


def test_ledger_import_names_the_line_of_a_bad_void(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from policylang import cli

    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    (tmp_path / "v.pol").write_text('policy "v"\nchannels phone\nteams collections\npurposes debt\n')
    lines = [{"customer": "joe", "at": T0.isoformat(), "channel": "phone", "purpose": "debt", "team": "collections",
              "id": "c-1"}, {"customer": "joe", "at": T0.isoformat(), "void": ["c-1", "c-7"]}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    assert cli.main(["ledger", "init", "--ledger", url]) == 0
    code = cli.main(["ledger", "import", "--ledger", url, "--policy", str(tmp_path / "v.pol"), str(tmp_path / "in.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and f"{tmp_path / 'in.jsonl'}:2" in err and "c-7" in err and "field `void`" in err


def test_a_decision_from_the_stored_rows_names_void_contacts_as_one_from_entries_does(ledger: Ledger) -> None:
    # the ledger's own index (history) and its entries (events) must give the same decision and
    # trace: a void contact counts for nothing and the trace names it with its reason
    calls = [Contact(T0 + dt.timedelta(days=d), "phone", "debt", "collections", id=f"c-{d}", customer="joe",
                     campaign="a") for d in range(3)]  # fmt: skip
    ledger.append(calls)
    ledger.void("c-1", "misdirected")
    request = Request("collections", "phone", "debt", T0 + dt.timedelta(days=6), campaign="a")
    pol = policylang.compile(
        'policy "v"\nchannels phone\nteams collections\npurposes debt\n'
        'cap "two": at most 2 debt phone per 7 days\n', "void.pol")  # fmt: skip
    from_rows = pol.decide({}, request, ledger.history("joe"))
    from_entries = pol.decide({}, request, ledger.events("joe"))
    assert from_rows.to_dict() == from_entries.to_dict()
    assert not from_rows.allowed and "(1 void: c-1, misdirected)" in from_rows.trace[0].reason

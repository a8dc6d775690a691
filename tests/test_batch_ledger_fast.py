"""The batch's columnar check of ledger rows (contacts and events) against the row-by-row validator.

``batch.ledger_batches`` takes a chunk's contacts, and its events, each through a columnar
check and validates any other row one by one. Whatever the mix of good and bad contacts
and events, and wherever they fall, the rows it gives and the bad rows it reports (row,
message, in row order) must equal validating every row on its own with
``policylang.inputs.entry_from_json`` (the reference below; it shares nothing with the
columnar checks).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylang import batch, clock
from policylang.compiler import compile_policy
from policylang.errors import InputError
from policylang.inputs import entry_from_json, where
from policylang.records import Event

ROOT = Path(__file__).resolve().parent.parent
POLICY = compile_policy((ROOT / "examples" / "northwind.pol").read_text(), "northwind.pol")

CONTACT = {"customer": "c1", "at": "2026-11-02T10:00:00Z", "channel": "sms", "purpose": "marketing",
           "team": "growth"}
EVENT = {"customer": "c1", "at": "2026-11-03T09:30:00Z", "event": "complaint"}
# each a change to a good event: some still good (other forms), most bad in one field
EVENT_CHANGES: list[dict[str, Any]] = [
    {}, {"event": "bereavement"}, {"at": "2026-11-02T10:00:00.123456+05:30"}, {"event": "nope"}, {"event": 5},
    {"event": None}, {"campaign": "winter"}, {"campaign": None}, {"colour": "red"}, {"customer": ""},
    {"customer": 3}, {"customer": None}, {"at": "2026-11-02T10:00:00"}, {"at": None}, {"at": 1700000000},
    {"at": "2026-02-30T10:00:00Z"}, {"at": "1850-01-01T00:00:00Z"}, {"channel": "sms"}, {"void": "c-1"},
]
CONTACT_CHANGES: list[dict[str, Any]] = [
    {}, {"status": "planned", "id": "p1"}, {"outcome": "delivered"}, {"channel": "pigeon"}, {"customer": ""},
    {"at": "2026-11-02T10:00:00"},
    # the typed decoding's boundaries (batch._typed_lines): null or left out, other types, unknown fields
    {"status": None}, {"status": "cancelled"}, {"outcome": None}, {"outcome": "nope"}, {"campaign": None},
    {"campaign": "winter"}, {"campaign": ["winter"]}, {"id": None},  # (two campaigns: test_batch_limits.py)
    {"id": 7}, {"channel": None}, {"team": 3}, {"colour": "red"}, {"event": None}, {"status": "displaced"},
    {"at": "2026-11-02T10:00:00.5+01:00"},
]
DROPS = (None, "customer", "at")


def expected(path: str, lines: list[str]) -> tuple[list[tuple[Any, ...]], list[tuple[int, str]]]:
    """Every row validated on its own (what ledger_batches must give)."""
    out: list[tuple[Any, ...]] = []
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        row = json.loads(line)
        customer = row.get("customer")
        if not isinstance(customer, str) or not customer:
            bad.append((number, "field `customer` must name the customer (a text)"))
            continue
        try:
            entry = entry_from_json(POLICY, row, where(path, number))
        except InputError as exc:
            bad.append((number, exc.message))
            continue
        if isinstance(entry, Event):
            if entry.campaign is not None:
                bad.append((number, "an event for a campaign"))
                continue
            out.append((number, customer, clock.micros(entry.at), None, None, None, None, None, None, None,
                        entry.name))
        elif hasattr(entry, "channel"):
            out.append((number, customer, clock.micros(entry.at), entry.channel, entry.purpose, entry.team,
                        entry.status, entry.outcome, entry.campaign, entry.id, None))
        else:  # a void line
            bad.append((number, "a void line"))
    return out, bad


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 99), st.integers(0, len(DROPS) - 1), st.booleans()),
                min_size=1, max_size=40),
       st.integers(1, 9))
def test_ledger_fast_paths_equal_validating_each_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      rows: list[tuple[bool, int, int, bool]], chunk: int) -> None:
    monkeypatch.setattr(batch, "CHUNK_ROWS", chunk)
    lines = []
    for index, (is_event, change, drop, good) in enumerate(rows):
        # mostly good rows, so that many chunks take the columnar checks
        base = dict(EVENT if is_event else CONTACT, customer=f"c{index % 5}")
        changes = EVENT_CHANGES if is_event else CONTACT_CHANGES
        row = base if good else {**base, **changes[change % len(changes)]}
        if not good and DROPS[drop] is not None:
            row.pop(DROPS[drop], None)
        lines.append(json.dumps(row))
    path = tmp_path / "ledger.jsonl"
    path.write_text("\n".join(lines) + "\n")
    problems = batch.Problems()
    got = sorted(tuple(r.values()) for b in batch.ledger_batches(POLICY, str(path), problems)
                 for r in b.to_pylist())
    want, want_bad = expected(str(path), lines)
    assert got == want
    found = [(b.row, b.message) for b in problems.rows]
    assert len(found) == len(want_bad)
    for (row, message), (want_row, want_message) in zip(found, want_bad, strict=True):
        assert row == want_row
        assert message.startswith(want_message)


def test_a_chunk_of_good_events_takes_the_columnar_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Good events are not validated one by one (the columnar check is used at all)."""
    lines = [json.dumps(dict(EVENT, customer=f"c{k}")) for k in range(5)] + [json.dumps(CONTACT)]
    path = tmp_path / "ledger.jsonl"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(batch, "entry_from_json", None)  # the row-by-row validator would fail
    rows = [r for b in batch.ledger_batches(POLICY, str(path), batch.Problems()) for r in b.to_pylist()]
    assert sorted(r["row"] for r in rows) == [1, 2, 3, 4, 5, 6]
    assert [r["event"] for r in rows if r["row"] <= 5] == ["complaint"] * 5


def test_typed_lines_equal_the_parsed_path_row_for_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of good contacts and events of every field form: the typed decoding
    (``batch._typed_lines``) gives the batches of the dict path exactly (values and order),
    and takes every such block (``orjson.loads``, the dict path's parser, is never called)."""
    lines = []
    for k in range(40):
        if k % 7 == 3:
            lines.append(json.dumps(dict(EVENT, customer=f"c{k % 4}", event=("complaint", "bereavement")[k % 2])))
            continue
        extra = ({}, {"status": "planned", "id": f"p{k}"}, {"outcome": "delivered"}, {"campaign": "winter"},
                 {"campaign": None, "id": None, "outcome": None}, {"status": "displaced"})[k % 6]
        lines.append(json.dumps(dict(CONTACT, customer=f"c{k % 4}", **extra)))
    path = tmp_path / "ledger.jsonl"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(batch, "CHUNK_ROWS", 9)
    typed = [b.to_pylist() for b in batch.ledger_batches(POLICY, str(path), batch.Problems())]
    monkeypatch.setattr(batch, "_typed_lines", lambda *args: False)
    parsed = [b.to_pylist() for b in batch.ledger_batches(POLICY, str(path), batch.Problems())]
    assert typed == parsed
    assert sum(map(len, typed)) == 40
    monkeypatch.undo()
    monkeypatch.setattr(batch, "CHUNK_ROWS", 9)
    monkeypatch.setattr(batch.orjson, "loads", None)
    assert [b.to_pylist() for b in batch.ledger_batches(POLICY, str(path), batch.Problems())] == typed


@pytest.mark.parametrize("change", [(True, c) for c in EVENT_CHANGES] + [(False, c) for c in CONTACT_CHANGES],
                         ids=repr)
def test_each_change_among_good_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     change: tuple[bool, dict[str, Any]]) -> None:
    """Every change of a good row, alone among good contacts and events (so in a block the
    columnar checks would otherwise take whole), gives what validating each row gives."""
    is_event, changed = change
    good = [dict(CONTACT, customer="c1"), dict(EVENT, customer="c2"), dict(CONTACT, customer="c3", status="planned",
                                                                        id="p1")]
    lines = [json.dumps(row) for row in [*good, {**(EVENT if is_event else CONTACT), **changed}, *good]]
    path = tmp_path / "ledger.jsonl"
    path.write_text("\n".join(lines) + "\n")
    want, want_bad = expected(str(path), lines)
    for chunk in (2, 50):
        monkeypatch.setattr(batch, "CHUNK_ROWS", chunk)
        problems = batch.Problems()
        got = sorted(tuple(r.values()) for b in batch.ledger_batches(POLICY, str(path), problems)
                     for r in b.to_pylist())
        assert got == want
        found = [(b.row, b.message) for b in problems.rows]
        assert [row for row, _ in found] == [row for row, _ in want_bad]
        for (_, message), (_, want_message) in zip(found, want_bad, strict=True):
            assert message.startswith(want_message)

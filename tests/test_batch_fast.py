"""The batch's columnar check of request rows against the row-by-row validator.

``batch.read_requests`` takes a chunk of well-formed rows through a columnar check and
validates any other chunk row by row. Whatever the mix of good and bad rows, and wherever
the bad ones fall, what it yields and what it reports (row, field, message) must equal
validating every row on its own with ``policylang.inputs.request_from_json`` (the
reference below; it shares nothing with the columnar check).
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
from policylang.inputs import request_from_json, where

ROOT = Path(__file__).resolve().parent.parent
POLICY = compile_policy((ROOT / "examples" / "northwind.pol").read_text(), "northwind.pol")

GOOD = {"customer": "c1", "team": "service", "channel": "phone", "purpose": "marketing", "at": "2026-11-02T10:00:00Z"}
# each a change to a good row: some still good (other forms), most bad in one field
CHANGES: list[dict[str, Any]] = [
    {}, {"at": "2026-11-02T10:00:00.123456+05:30"}, {"priority": 2}, {"campaign": "winter"}, {"id": "given"},
    {"campaign": ["winter", "spring"]}, {"campaign": ["winter"]}, {"priority": -1},
    {"team": "nobody"}, {"channel": "pigeon"}, {"purpose": 7}, {"at": "2026-11-02T10:00:00"},
    {"at": "2026-02-30T10:00:00Z"}, {"at": "2026-11-02 10:00:00Z"}, {"at": 1700000000}, {"at": None},
    {"priority": True}, {"priority": "3"}, {"priority": 1.5}, {"priority": None}, {"id": 17}, {"id": None},
    {"id": "dup"}, {"campaign": 5}, {"campaign": []}, {"campaign": None}, {"colour": "red"}, {"customer": ""},
    {"customer": 3}, {"outcome": "x"}, {"\u00e9quipe": "service"},
]
MISSING = ("team", "channel", "purpose", "at", "customer")


def row_of(index: int, change: int, drop: int | None) -> dict[str, Any]:
    row = {**GOOD, "customer": f"c{index % 5}", **CHANGES[change]}
    if drop is not None:
        row.pop(MISSING[drop], None)
    return row


def expected(path: str, lines: list[str]) -> tuple[list[tuple[Any, ...]], list[tuple[int, str | None, str]]]:
    """Every row validated on its own (what read_requests must give)."""
    out: list[tuple[Any, ...]] = []
    bad: list[tuple[int, str | None, str]] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
        except ValueError:
            bad.append((number, None, "invalid JSON"))
            continue
        customer = row.get("customer")
        if not isinstance(customer, str) or not customer:
            bad.append((number, "customer", "field `customer` must name the customer (a text)"))
            continue
        ident = row.get("id", str(number))
        try:
            request = request_from_json(POLICY, row, where(path, number))
        except InputError as exc:
            bad.append((number, "?", exc.message))
            continue
        if isinstance(request.campaign, tuple):  # batch does not carry campaign lists yet
            bad.append((number, "campaign", "a list of campaigns"))
            continue
        if ident in seen:
            bad.append((number, "id", f"request id `{ident}` is given twice (first on row {seen[ident]})"))
            continue
        seen[ident] = number
        out.append((number, customer, str(ident), (request.team, request.channel, request.purpose,
                                                    clock.micros(request.at), request.campaign, request.priority)))
    return out, bad


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(CHANGES) - 1), st.none() | st.integers(0, len(MISSING) - 1),
                          st.booleans()), min_size=1, max_size=40),
       st.integers(1, 9), st.randoms(use_true_random=False))
def test_requests_fast_path_equals_validating_each_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        rows: list[tuple[int, int | None, bool]], chunk: int,
                                                        rng: Any) -> None:
    monkeypatch.setattr(batch, "CHUNK_ROWS", chunk)
    lines = []
    for index, (change, drop, good) in enumerate(rows):
        # mostly good rows, so that many chunks are all good and take the columnar check
        row = {**GOOD, "customer": f"c{index % 5}", "id": f"r{index}"} if good else row_of(index, change, drop)
        lines.append(json.dumps(row))
    if rng.random() < 0.2:
        lines.insert(rng.randrange(len(lines) + 1), '{"customer": "c1", "team":')  # not JSON
    path = tmp_path / "requests.jsonl"
    path.write_text("\n".join(lines) + "\n")
    problems = batch.Problems()
    got = list(batch.read_requests(POLICY, str(path), problems))
    want, want_bad = expected(str(path), lines)
    assert got == want
    found = [(b.row, b.message) for b in problems.rows]
    assert len(found) == len(want_bad)
    for (row, message), (want_row, _, want_message) in zip(found, want_bad, strict=True):
        assert row == want_row
        assert (message.startswith(want_message) if want_message in ("invalid JSON", "a list of campaigns")
                else message == want_message)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(CHANGES) - 1), st.integers(0, 7), st.booleans()), min_size=1,
                max_size=40),
       st.integers(1, 9))
def test_spilled_requests_equal_validating_each_row(tmp_path_factory: pytest.TempPathFactory,
                                                     rows: list[tuple[int, int, bool]], chunk: int) -> None:
    """What the scatter spills of the requests (a chunk's columns at once when every row is
    good and names a known customer) and the bad rows it reports, in row order, equal
    validating each row on its own and then checking its customer: c0-c4 are known, c3's
    ledger has a bad row, c5-c7 are not known (c6's record was bad)."""
    tmp_path = tmp_path_factory.mktemp("spill")
    lines = []
    for index, (change, customer, good) in enumerate(rows):
        row = {**GOOD, "customer": f"c{customer}", "id": f"r{index}"} if good else row_of(index, change, None)
        lines.append(json.dumps(row))
    path = tmp_path / "requests.jsonl"
    path.write_text("\n".join(lines) + "\n")
    known, bad_customers = {"c0", "c1", "c2", "c3", "c4"}, {"c3", "c6"}
    scattered = batch.Scattered(str(tmp_path), 3, 0, 0)
    problems = batch.Problems()
    saved, batch.CHUNK_ROWS = batch.CHUNK_ROWS, chunk
    try:
        count, last = batch._spill_requests(POLICY, str(path), "customers.jsonl", known, bad_customers, scattered,
                                            problems)
    finally:
        batch.CHUNK_ROWS = saved
    got = sorted(tuple(r.values()) for b in range(3)
                 for r in batch.read_spill(scattered.path("requests", b), batch.request_schema()).to_pylist())
    want_rows, want_bad = expected(str(path), lines)
    want, bad = [], [(row, message) for row, _, message in want_bad]
    for number, customer, ident, fields in want_rows:
        if customer not in known:
            bad.append((number, "its customer record is bad" if customer in bad_customers
                        else f"no customer `{customer}` in customers.jsonl"))
        elif customer in bad_customers:
            bad.append((number, f"the ledger of customer `{customer}` has a bad row"))
        else:
            want.append((number, customer, ident, *fields))
    bad.sort(key=lambda b: b[0])
    assert got == want
    assert (count, last) == (len(want), max((w[0] for w in want), default=0))
    found = [(b.row, b.message) for b in problems.rows]
    assert [row for row, _ in found] == [row for row, _ in bad]
    for (_, message), (_, want_message) in zip(found, bad, strict=True):
        assert (message.startswith(want_message) if want_message in ("invalid JSON", "a list of campaigns")
                else message == want_message)


def test_decoded_records_are_kept_per_policy_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker decodes a customer record once for all its tasks (the memo lives on the
    policy), starts again when it holds RECORDS_KEPT records, and never lends one policy's
    decodings to another (whose declarations may read the same text otherwise)."""
    policy = compile_policy((ROOT / "examples" / "northwind.pol").read_text(), "northwind.pol")
    other = compile_policy((ROOT / "examples" / "northwind.pol").read_text(), "northwind.pol")
    memo = batch.records_memo(policy)
    record = json.dumps({"timezone": "Europe/London", "status": "active", "owner": "cards"})
    first = batch.record_customer(policy, record, memo, "a")
    assert batch.records_memo(policy) is memo and record in memo
    assert batch.records_memo(other) is not memo and record not in batch.records_memo(other)
    second = batch.record_customer(policy, record, batch.records_memo(policy), "b")
    assert (first.id, second.id) == ("a", "b") and first.values == second.values
    assert first.values is not second.values  # each customer its own attributes
    monkeypatch.setattr(batch, "RECORDS_KEPT", 1)
    assert batch.records_memo(policy) == {}

# ruff: noqa: F811 - pytest fixtures imported from tests.ledger_fixtures are parameters here
"""Issue 11 (store path): a reservation's and a decision's read of a customer's rows as plain
tuples of the columns a decision reads (no Row per row) gives exactly the index the Row path
gives, with campaign lists and warnings too; a reservation that displaces a plan read that way
writes the plan back whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policylang.ingest import history_from_rows
from policylang.ledger import Ledger, LedgerError, open_ledger
from policylang.ledger.core import history_of
from policylang.ledger.rows import Row
from policylang.ledger.schema import SCHEMA_VERSION, columns_at, decision_columns
from policylang.records import Contact
from tests.ledger_fixtures import clock, ledger, make_ledger, store_kind  # noqa: F401 - fixtures
from tests.test_ledger import GOLD_OWNED, POLICY, marketing
from tests.test_store_history import NOW, rows, seen


@settings(max_examples=150, deadline=None)
@given(st.lists(rows(), max_size=25), st.sampled_from([SCHEMA_VERSION, 3, 2]))
def test_decision_columns_give_the_index_whole_rows_give(found: list[Row], version: int) -> None:
    if version < 4:  # an older schema stores neither campaign lists nor warnings
        found = [r for r in found if not isinstance(r.campaign, tuple) and not r.warnings]
    columns = decision_columns(version)
    whole = columns_at(version)
    # the tuples a SQL store reads: each stored row, then only the decision's columns of it
    stored = [dict(zip(whole, row.values(len(whole)), strict=True)) for row in found]
    plain = [tuple(values[name] for name in columns) for values in stored]
    expected = history_from_rows([Row.from_values(row.values(len(whole))) for row in found], NOW)
    assert seen(history_of((columns, plain), NOW)) == seen(expected)


def test_decision_columns_leave_out_only_bookkeeping() -> None:
    assert set(columns_at(SCHEMA_VERSION)) - set(decision_columns(SCHEMA_VERSION)) == {
        "created_us", "updated_us", "displaced_by", "outcomes"}


def test_a_displaced_plan_read_as_tuples_is_written_back_whole(ledger: Ledger) -> None:
    # the reservation reads its customer's rows as tuples and the displaced plan by id: every
    # stored field of that plan but its status, displaced_by and updated_us stays as written
    bronze = [ledger.reserve(POLICY, GOLD_OWNED, attrs.evolve(marketing("bronze"), campaign=f"c{k}"))
              for k in range(3)]
    assert all(r.allowed for r in bronze)
    before = {e.id: e for e in ledger.export("ada")}
    gold = ledger.reserve(POLICY, "ada", marketing("gold"))
    assert [c.id for c in gold.displaced] == [bronze[2].id]
    after = {e.id: e for e in ledger.export("ada")}
    gone = bronze[2].id
    assert isinstance(after[gone], Contact) and after[gone].status == "displaced"
    assert attrs.evolve(after[gone], status="planned") == before[gone]
    assert ledger.reservation(gone or "").displaced_by == gold.id
    assert all(after[r.id] == before[r.id] for r in bronze[:2])


# ---- durability: synchronous=normal (the default) or full ---------------------------------------


def test_a_sqlite_url_chooses_full_sync_and_refuses_unknown_options(tmp_path: Path) -> None:
    def level(ledger: Any) -> int:
        return int(ledger._conn.execute("PRAGMA synchronous").fetchone()[0])  # noqa: SLF001

    url = f"sqlite:///{tmp_path}/l.sqlite"
    with open_ledger(url, create=True) as normal:
        assert level(normal) == 1  # NORMAL
    with open_ledger(url + "?synchronous=full") as full:
        assert level(full) == 2  # FULL: every commit syncs the disk
        assert full.reserve(POLICY, GOLD_OWNED, marketing("gold")).allowed
    for bad, said in ((url + "?synchronus=full", "unknown option 'synchronus'"),
                      (url + "?synchronous=off", "normal or full"), (url + "?full", "unknown option 'full'")):
        with pytest.raises(LedgerError, match=said):
            open_ledger(bad)

"""Issue 11 (store path): SQLite's digest as columns (ledger/digest.py) gives exactly the index
the rows give, survives its stored form, is kept right by its patches, and a decision's read
without a digest is one snapshot."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policylang.ingest import history_from_rows
from policylang.ledger import digest, open_ledger
from policylang.ledger.rows import Row
from policylang.ledger.schema import DECISION_COLUMNS, SCHEMA_VERSION
from policylang.ledger.sqlite import SQLiteLedger, _decision_values, _SQLiteTxn
from policylang.records import Contact, Customer, Request
from tests.ledger_fixtures import T0, make_policy
from tests.test_store_history import NOW, rows, seen

POLICY = make_policy()


def everything(history: Any) -> tuple[Any, ...]:
    """What an index shows: the counted, voided and planned contacts, events, and every contact
    as made (not only the counted ones)."""
    return seen(history), [history._contact(k) for k in range(history.size)]  # noqa: SLF001


def odd_rows() -> Any:
    """Stored rows with the values a store may hold beyond what policylang writes: no channel,
    purpose or team, no status, an empty campaign list or warnings list."""
    return rows().map(lambda row: Row(row.id, row.customer, row.kind, row.at_us, status=row.status, ended=row.ended,
                                      expires_us=row.expires_us, campaign=()))  # fmt: skip


def ledger_order(found: list[Row]) -> list[Row]:
    return sorted(found, key=lambda row: row.at_us)  # stable: ties keep their storage order


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(rows(), odd_rows()), max_size=30), st.integers(NOW - 10**9, NOW + 10**9))
def test_a_digest_gives_the_index_the_rows_give_after_its_stored_form(found: list[Row], now_us: int) -> None:
    found = ledger_order(found)
    made = digest.from_values("c", [_decision_values(row) for row in found])
    # the stored form reads back whole: a value of a type the Digest does not declare would be
    # refused here (and then every read would fall back to the rows: loud in this test)
    back = digest.decode(digest.encode(made), "c")
    assert back is not None
    assert back.columns() == made.columns()
    assert everything(back.history(now_us)) == everything(history_from_rows(found, now_us))


@settings(max_examples=150, deadline=None)
@given(st.lists(rows(), max_size=20), st.lists(rows(), min_size=1, max_size=5), st.data())
def test_patches_give_the_digest_of_the_rows(first: list[Row], added: list[Row], data: st.DataObject) -> None:
    first = ledger_order(first)
    base = digest.from_values("c", [_decision_values(row) for row in first])
    # rows inserted later are stored last among the rows of their instant
    grown = base.with_rows([_decision_values(row) for row in added])
    every = ledger_order(first + added)
    assert grown.columns() == digest.from_values("c", [_decision_values(row) for row in every]).columns()
    contacts = [row for row in every if row.kind == "contact"]
    if contacts:  # an update changes a contact's status, outcome and end
        row = data.draw(st.sampled_from(contacts))
        row.status, row.outcome, row.ended = data.draw(st.sampled_from([
            ("displaced", None, None), ("sent", "delivered", None), ("released", None, "void:wrong"),
            ("released", None, "released")]))  # fmt: skip
        changed = grown.with_update(_decision_values(row))
        assert changed is not None
        assert changed.columns() == digest.from_values("c", [_decision_values(r) for r in every]).columns()
        assert everything(changed.history(NOW)) == everything(history_from_rows(every, NOW))


def test_a_digest_is_built_from_the_decision_columns_by_name() -> None:
    # the digest reads the decision's SELECT by column name: a column renamed or dropped there
    # fails when ledger.digest is imported, and every value _parts reads is one of them
    assert DECISION_COLUMNS[SCHEMA_VERSION] == digest.SOURCE
    assert set(DECISION_COLUMNS[SCHEMA_VERSION]) >= {"id", "kind", "at_us", "channel", "purpose", "team", "status",
                                                     "outcome", "campaign", "event", "expires_us", "ended",
                                                     "campaigns", "warnings"}  # fmt: skip
    # and a stored row with a value of a type the Digest does not declare fails loudly when
    # encoded and decoded (a channel stored as a number by another program, say)
    row = Row("x", "c", "contact", NOW, channel="email", purpose="marketing", team="gold", status="sent")
    values = list(_decision_values(row))
    values[DECISION_COLUMNS[SCHEMA_VERSION].index("expires_us")] = "soon"
    made = digest.from_values("c", [tuple(values)])
    assert digest.decode(digest.encode(made), "c") is None
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.decode(digest.encode(made), type=digest.Digest)


# ---- a decision's read without a digest is one snapshot --------------------------------------


def test_a_read_without_a_digest_does_not_see_a_write_between_its_statements(tmp_path: Path,
                                                                             monkeypatch: Any) -> None:  # fmt: skip
    url = f"sqlite:///{tmp_path}/l.sqlite"
    ada = Customer("ada", {"owner": "gold"})
    reader = open_ledger(url, create=True)
    writer = open_ledger(url)
    assert isinstance(reader, SQLiteLedger) and isinstance(writer, SQLiteLedger)
    try:
        reader.append([Contact(at=T0, channel="email", purpose="marketing", team="gold", customer="ada")])
        sql = sqlite3.connect(reader.path)
        with sql:  # another program's change: ada's digest is gone, the read takes two statements
            sql.execute("UPDATE entries SET outcome = 'delivered' WHERE customer = 'ada'")
        sql.close()
        before = reader.history("ada")
        between, written = threading.Event(), threading.Event()
        read_rows = _SQLiteTxn.plain_rows

        def rows_after_a_write(txn: _SQLiteTxn, customer: str) -> Any:
            if txn.ledger is reader and not written.is_set():
                between.set()  # the store's now is read: let the writer commit now
                assert written.wait(30), "the writer did not commit"
            return read_rows(txn, customer)

        def write() -> None:
            between.wait(30)
            try:
                assert writer.reserve(POLICY, ada, Request("gold", "sms", "servicing", T0), explain=False).allowed
            finally:
                written.set()

        monkeypatch.setattr(_SQLiteTxn, "plain_rows", rows_after_a_write)
        thread = threading.Thread(target=write)
        thread.start()
        seen_then = reader.history("ada")
        thread.join()
        assert written.is_set() and between.is_set()  # the write did land between the two reads
        monkeypatch.undo()
        assert everything(seen_then) == everything(before)  # not the reservation that committed meanwhile
        assert len(reader.history("ada")) == len(before) + 1  # which the next read sees
    finally:
        reader.close()
        writer.close()


# ---- the indexes a thread keeps ---------------------------------------------------------------


def test_a_kept_index_is_used_only_while_the_digest_and_the_deadlines_allow(tmp_path: Path) -> None:
    import datetime as dt

    now = [T0]
    url = f"sqlite:///{tmp_path}/l.sqlite"
    ledger = open_ledger(url, create=True, clock=lambda: now[0])
    other = open_ledger(url, clock=lambda: now[0])
    fresh = open_ledger(url, clock=lambda: now[0], read_cache=0)
    assert isinstance(ledger, SQLiteLedger)
    ada = Customer("ada", {"owner": "gold"})

    def same() -> None:  # the kept index shows what an index built now shows
        assert everything(ledger.history("ada")) == everything(fresh.history("ada"))

    try:
        planned = ledger.reserve(POLICY, ada, Request("gold", "email", "marketing", T0 + dt.timedelta(days=1)))
        assert planned.allowed and planned.expires_at is not None
        first = ledger.history("ada")
        assert ledger.history("ada") is first  # kept: nothing changed
        same()
        now[0] = planned.expires_at  # the plan's deadline: it no longer counts
        assert ledger.history("ada") is not first
        same()
        now[0] -= dt.timedelta(seconds=1)  # a clock set back before the deadline: it counts again
        same()
        again = ledger.history("ada")
        other.reserve(POLICY, ada, Request("gold", "sms", "servicing", T0 + dt.timedelta(days=2)))  # another writer
        assert ledger.history("ada") is not again
        same()
        sql = sqlite3.connect(ledger.path)
        with sql:  # another program: the digest is gone, the rows are read
            sql.execute("UPDATE entries SET outcome = 'delivered' WHERE customer = 'ada'")
        sql.close()
        same()
        kept: dict[int, Any] = {}

        def in_thread() -> None:  # each thread keeps its own
            kept[0] = ledger.history("ada")

        thread = threading.Thread(target=in_thread)
        thread.start()
        thread.join()
        assert kept[0] is not ledger.history("ada")
    finally:
        ledger.close()
        other.close()
        fresh.close()


def test_a_thread_keeps_a_bounded_number_of_indexes(tmp_path: Path) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path}/l.sqlite", create=True, read_cache=2)
    assert isinstance(ledger, SQLiteLedger)
    try:
        for who in ("ada", "bo", "cy"):
            ledger.reserve(POLICY, Customer(who, {"owner": "gold"}), Request("gold", "sms", "servicing", T0))
            ledger.history(who)
        assert list(ledger._kept.indexes) == ["bo", "cy"]  # noqa: SLF001 - the oldest went
    finally:
        ledger.close()


def test_a_postgres_read_is_one_snapshot_too(tmp_path: Path) -> None:
    # PostgreSQL sends the store's now and the rows in one pipeline; they run in one read-only
    # REPEATABLE READ transaction. The interleaving is forced with an advisory lock the now's
    # statement waits for: a reservation commits while the read is between its snapshot and
    # its rows.
    import psycopg

    from tests.ledger_fixtures import fresh_url

    url = fresh_url("postgres", tmp_path)
    ada = Customer("ada", {"owner": "gold"})
    reader, writer = open_ledger(url, create=True), open_ledger(url)
    holder = psycopg.connect(pg_conninfo(url), autocommit=True)
    try:
        writer.append([Contact(at=T0, channel="email", purpose="marketing", team="gold", customer="ada")])
        before = reader.history("ada")
        holder.execute("SELECT pg_advisory_lock(4242)")
        reader.now_sql = type(reader).now_sql + ", pg_advisory_xact_lock(4242)"  # type: ignore[attr-defined]
        found: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: found.setdefault("history", reader.history("ada")))
        thread.start()
        while not holder.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                                 "AND objid = 4242").fetchone()[0]:  # fmt: skip
            assert thread.is_alive()  # waits for the read to block on the lock (no timing)
        assert writer.reserve(POLICY, ada, Request("gold", "sms", "servicing", T0), explain=False).allowed
        holder.execute("SELECT pg_advisory_unlock(4242)")
        thread.join()
        del reader.now_sql  # type: ignore[attr-defined]
        assert everything(found["history"]) == everything(before)
        assert len(reader.history("ada")) == len(before) + 1
    finally:
        holder.close()
        reader.close()
        writer.close()


def pg_conninfo(url: str) -> str:
    from policylang.ledger.postgres import _split_schema

    return _split_schema(url)[0]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ada", "bo"]), st.sampled_from(["gold", "silver", "bronze", "service"]),
                          st.sampled_from(["email", "sms", "phone"]), st.integers(0, 72)), min_size=1, max_size=12))
def test_reservations_and_their_denials_searches_are_the_same_with_kept_indexes(
        tmp_path_factory: pytest.TempPathFactory, asks: list[tuple[str, str, str, int]]) -> None:  # fmt: skip
    import datetime as dt

    folder = tmp_path_factory.mktemp("kept")
    now = [T0]
    kept = open_ledger(f"sqlite:///{folder}/a.sqlite", create=True, clock=lambda: now[0])
    fresh = open_ledger(f"sqlite:///{folder}/b.sqlite", create=True, clock=lambda: now[0], read_cache=0)
    try:
        for who, team, channel, hours in asks:
            now[0] += dt.timedelta(minutes=5)
            request = Request(team, channel, "marketing", T0 + dt.timedelta(hours=hours))
            answers = [ledger.reserve(POLICY, Customer(who, {"owner": "silver"}), request).decision
                       for ledger in (kept, fresh)]  # fmt: skip
            assert [(d.allowed, d.next_allowed_at, d.denied_by, d.explain()) for d in answers][0] == \
                [(d.allowed, d.next_allowed_at, d.denied_by, d.explain()) for d in answers][1]  # fmt: skip
            assert without_ids(everything(kept.history(who))) == without_ids(everything(fresh.history(who)))
    finally:
        kept.close()
        fresh.close()


def without_ids(value: Any) -> Any:
    """``value`` with every contact's id left out (two ledgers give their reservations their own)."""
    import attrs

    if isinstance(value, Contact):
        return attrs.evolve(value, id=None)
    if isinstance(value, (list, tuple)):
        return type(value)(map(without_ids, value))
    return value


def test_a_digest_of_more_than_256_shapes_and_words_keeps_its_codes_as_lists() -> None:
    # one byte a contact while the codes fit; past 256 shapes (and words) a list: the index then
    # codes the contacts a shape at a time, and the patches go on in lists
    found = [Row(f"r{k}", "c", "contact", NOW + k, channel=f"ch{k}", purpose="marketing", team="cards",
                 status="planned" if k % 7 else "sent", outcome=f"o{k % 300}", expires_us=NOW + 10 * k)
             for k in range(300)]  # fmt: skip
    made = digest.from_values("c", [_decision_values(row) for row in found])
    assert isinstance(made.digest.shapes, list) and isinstance(made.digest.outcome, list)
    back = digest.decode(digest.encode(made), "c")
    assert back is not None and back.columns() == made.columns()
    assert everything(back.history(NOW + 1000)) == everything(history_from_rows(found, NOW + 1000))
    added = Row("x", "c", "contact", NOW + 5, channel="ch5", purpose="marketing", team="cards", status="sent")
    grown = back.with_rows([_decision_values(added)])
    every = ledger_order([*found, added])
    assert grown.columns() == digest.from_values("c", [_decision_values(row) for row in every]).columns()
    found[3].status, found[3].outcome = "displaced", None
    changed = grown.with_update(_decision_values(found[3]))
    assert changed is not None
    assert everything(changed.history(NOW)) == everything(history_from_rows(every, NOW))
    small = digest.from_values("c", [_decision_values(row) for row in found[:5]])
    assert isinstance(small.digest.shapes, bytes)  # and one byte a contact while they fit

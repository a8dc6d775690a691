"""The in-memory store: one process, for tests and embedding."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from policylang.ledger.core import (
    Ledger,
    Opening,
    StoredRows,
    Txn,
    decision_rows,
    load_contacts,
    now_and_rows,
    opening,
)
from policylang.ledger.rows import LedgerError, Row, to_micros, utc_now

if TYPE_CHECKING:
    from policylang.records import Contact
    from policylang.rules import CapRule


class _MemoryTxn:
    """A transaction over a :class:`MemoryLedger`: reads see the committed state; writes
    are collected and applied together at commit (so a failure leaves nothing behind)."""

    def __init__(self, store: MemoryLedger) -> None:
        self.store = store
        self.inserts: list[Row] = []
        self.updates: dict[str, Row] = {}
        self.customer_puts: dict[str, tuple[str, str | None]] = {}

    def now_us(self) -> int:
        return to_micros(utc_now())  # a memory store lives in its process: its clock is the store's

    def lock_customer(self, customer: str) -> None:
        pass  # the store's one lock is held for the whole transaction

    def lock_capacity(self, rule_name: str) -> None:
        pass

    def customer(self, customer: str) -> tuple[str, str | None] | None:
        return self.customer_puts.get(customer) or self.store._customers.get(customer)

    def opening(self, customer: str, request_id: str | None, now: bool) -> Opening:
        return opening(self, customer, request_id, now)

    def now_and_rows(self, customer: str, now: bool) -> tuple[int | None, list[Row]]:
        return now_and_rows(self, customer, now)

    def decision_rows(self, customer: str, now: bool) -> tuple[int | None, StoredRows]:
        return decision_rows(self, customer, now)

    def put_customer(self, customer: str, record: str, owner: str | None) -> None:
        self.customer_puts[customer] = (record, owner)

    def rows(self, customer: str) -> list[Row]:
        found = [attrs.evolve(self.store._rows[i]) for i in self.store._by_customer.get(customer, [])]
        found.sort(key=lambda r: (r.at_us, self.store._seq[r.id]))
        return found

    def row(self, row_id: str, *, for_update: bool) -> Row | None:
        found = self.store._rows.get(row_id)
        return None if found is None else attrs.evolve(found)

    def rows_by_id(self, ids: Sequence[str]) -> dict[str, Row]:
        return {i: self.store._rows[i] for i in ids if i in self.store._rows}

    def load_rows(self, rule: CapRule, start_us: int, end_us: int, now_us: int) -> list[tuple[Row, str | None]]:
        out = []
        for row in self.store._rows.values():
            if row.kind == "contact" and start_us <= row.at_us < end_us and row.counted(now_us):
                owner = self.customer(row.customer)
                out.append((attrs.evolve(row), owner[1] if owner else None))
        return out

    def load_contacts(self, rule: CapRule, start_us: int, end_us: int, now_us: int) -> list[Contact]:
        return load_contacts(self, rule, start_us, end_us, now_us)

    def insert(self, rows: Sequence[Row]) -> None:
        seen = {r.id for r in self.inserts}
        for row in rows:
            if row.id in self.store._rows or row.id in seen:
                raise LedgerError(f"an entry with id {row.id!r} is already in the ledger")
            seen.add(row.id)
        self.inserts.extend(attrs.evolve(r) for r in rows)

    def update(self, row: Row) -> None:
        self.updates[row.id] = attrs.evolve(row)

    def all_rows(self, customer: str | None) -> Iterator[Row]:
        rows = self.store._rows.values() if customer is None else (
            self.store._rows[i] for i in self.store._by_customer.get(customer, [])
        )
        yield from sorted((attrs.evolve(r) for r in rows), key=lambda r: self.store._seq[r.id])

    def customers(self) -> Iterator[tuple[str, str]]:
        for cid, (record, _owner) in sorted(self.store._customers.items()):
            yield cid, record

    def expire(self, now_us: int) -> int:
        count = 0
        for row in self.store._rows.values():
            if row.status == "planned" and row.expires_us is not None and row.expires_us <= now_us:
                self.update(attrs.evolve(row, status="released", ended="expired", updated_us=now_us))
                count += 1
        return count

    def counts(self) -> list[tuple[str, str | None, str | None, int, int]]:
        out: dict[tuple[str, str | None, str | None, int], int] = {}
        for r in self.store._rows.values():
            key = (r.kind, r.status, r.ended, r.expires_us if r.status == "planned" and r.expires_us else 0)
            out[key] = out.get(key, 0) + 1
        return [(*key, n) for key, n in out.items()]

    def commit(self) -> None:
        store = self.store
        for row in self.inserts:
            store._rows[row.id] = row
            store._seq[row.id] = len(store._seq)
            store._by_customer.setdefault(row.customer, []).append(row.id)
        for row in self.updates.values():
            store._rows[row.id] = row
        store._customers.update(self.customer_puts)


class MemoryLedger(Ledger):
    """A ledger in this process's memory: for tests and for embedding in one program."""

    url = "memory:"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._lock = threading.RLock()
        self._rows: dict[str, Row] = {}
        self._seq: dict[str, int] = {}
        self._by_customer: dict[str, list[str]] = {}
        self._customers: dict[str, tuple[str, str | None]] = {}

    @contextlib.contextmanager
    def _transaction(self, *, write: bool, bulk: bool = False) -> Iterator[Txn]:
        with self._lock:
            txn = _MemoryTxn(self)
            yield txn
            if write:
                txn.commit()

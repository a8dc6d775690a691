"""The store-independent reservation logic: :class:`Ledger` decides and records on the
primitives of a store's transaction (:class:`Txn`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from policylang.ledger.rows import (
    DEFAULT_HOLD,
    LOCKED_APPEND,
    ONE_MICROSECOND,
    RESERVATION_STATES,
    VOID_MARK,
    LedgerError,
    ReservationError,
    Row,
    _content,
    check_text,
    customer_from_stored,
    customer_json,
    customer_owner,
    from_micros,
    new_id,
    row_from_entry,
    stable_ids,
    to_micros,
)  # fmt: skip
from policylang.ledger.schema import SCHEMA_VERSION
from policylang.records import Contact, Customer, Entry, Request, VoidLine

if TYPE_CHECKING:
    from policylang.decision import Decision
    from policylang.history import History
    from policylang.rules import CapRule, Policy


# ---- results ----------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Reservation:
    """The result of :meth:`Ledger.reserve`.

    ``id`` names the planned contact when the request was allowed (None when denied);
    ``displaced`` are the planned contacts this reservation displaced (status now
    ``displaced``), each with its ``id`` and ``customer`` so their owners can be told.
    """

    decision: Decision
    id: str | None = None
    contact: Contact | None = None
    displaced: tuple[Contact, ...] = ()
    expires_at: dt.datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    def to_dict(self, decision: dict[str, object] | None = None) -> dict[str, object]:
        """JSON form: the reservation fields plus the decision of section 10 (``decision``: that
        JSON already built by the caller, e.g. as a team may see it, so it is built once)."""
        return {
            "reservation": self.id,
            "allowed": self.allowed,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "contact": self.contact.to_dict() if self.contact else None,
            "displaced": [c.to_dict() for c in self.displaced],
            "decision": self.decision.to_dict() if decision is None else decision,
        }


@attrs.frozen(slots=True)
class ReservationState:
    """A reservation as it stands: its contact and state (planned/sent/displaced/released/expired)."""

    id: str
    state: str
    contact: Contact
    expires_at: dt.datetime | None
    displaced_by: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "reservation": self.id,
            "state": self.state,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "displaced_by": self.displaced_by,
            "contact": self.contact.to_dict(),
        }


# ---- the protocol -----------------------------------------------------------------------------


@runtime_checkable
class Loads(Protocol):
    """What capacity rules read: every customer's counted contacts matching a rule."""

    def contacts(self, rule: CapRule, start: dt.datetime, end: dt.datetime) -> Iterable[Contact]: ...


@runtime_checkable
class LedgerProtocol(Loads, Protocol):
    """What every store offers (see :class:`Ledger` for the shared implementation)."""

    def append(self, entries: Iterable[Entry]) -> int: ...

    def events(self, customer: str) -> list[Entry]: ...

    def reserve(self, policy: Policy, customer: Customer | str, request: Request, *,
                explain: bool = True) -> Reservation: ...  # fmt: skip

    def confirm(self, reservation_id: str, outcome: str | None = None, *, force: bool = False) -> ReservationState: ...

    def release(self, reservation_id: str) -> ReservationState: ...

    def close(self) -> None: ...


class Txn(Protocol):
    """One open transaction of a store: the primitives :class:`Ledger` builds on."""

    def now_us(self) -> int: ...

    def lock_customer(self, customer: str) -> None: ...

    def lock_capacity(self, rule_name: str) -> None: ...

    def customer(self, customer: str) -> tuple[str, str | None] | None: ...

    def opening(self, customer: str, request_id: str | None, now: bool) -> Opening: ...

    def put_customer(self, customer: str, record: str, owner: str | None) -> None: ...

    def rows(self, customer: str) -> list[Row]: ...

    def now_and_rows(self, customer: str, now: bool) -> tuple[int | None, list[Row]]: ...

    def decision_rows(self, customer: str, now: bool) -> tuple[int | None, StoredRows]: ...

    def row(self, row_id: str, *, for_update: bool) -> Row | None: ...

    def rows_by_id(self, ids: Sequence[str]) -> dict[str, Row]: ...

    def load_rows(self, rule: CapRule, start_us: int, end_us: int, now_us: int) -> list[tuple[Row, str | None]]: ...

    def load_contacts(self, rule: CapRule, start_us: int, end_us: int, now_us: int) -> list[Contact]: ...

    def insert(self, rows: Sequence[Row]) -> None: ...

    def update(self, row: Row) -> None: ...

    def all_rows(self, customer: str | None) -> Iterator[Row]: ...

    def customers(self) -> Iterator[tuple[str, str]]: ...

    def expire(self, now_us: int) -> int: ...

    def counts(self) -> list[tuple[str, str | None, str | None, int, int]]: ...


class Indexable(Protocol):
    """A customer's rows kept in a form that builds the evaluator's index itself (SQLite's
    digest: :class:`policylang.ledger.digest.Digest`)."""

    def history(self, now_us: int) -> History: ...


# A customer's rows as a store read them: ``Row`` objects (the memory store), or the column
# names and plain tuples a SQL store fetched (no ``Row`` made for a decision's read: the
# evaluator's index is built straight from the tuples, and a ``Row`` is made only for a row
# the reservation changes), or a digest (SQLite).
StoredRows = list[Row] | tuple[tuple[str, ...], list[tuple[Any, ...]]] | Indexable



# What a reservation reads first, under its customer's lock: the store's now (None when not
# asked for), the row a retried request id booked, the customer's stored record and rows.
Opening = tuple[int | None, Row | None, tuple[str, str | None] | None, StoredRows]


def _checked(policy: Policy, given: Customer | str, record: Customer) -> Customer:
    """The customer record to decide with, its values checked against ``policy`` once per
    reservation (a record read from the store was checked as it was read); the decisions of
    one reservation (the verdict, a denial's search) then take it as checked."""
    if isinstance(given, str):
        return record  # customer_from_stored checked it
    from policylang.evaluator import checked_values

    return Customer(record.id, checked_values(policy, record.values))


# The types of the values a record is kept by (_Records): each such value's JSON text is
# decided by its type and value alone (a float's by its repr: 0.0 and -0.0 are equal but
# written apart), and a set or list of texts by its texts.
_PLAIN = frozenset((str, bool, int, type(None)))
_TEXTS = frozenset((frozenset, tuple))


def _record_key(customer: Customer) -> tuple[Any, ...] | None:
    """What decides a record's JSON text and checked values exactly (None: a value of a type
    that does not, e.g. a date or a list; such a record is not kept)."""
    key: list[Any] = [customer.id]
    for name, value in customer.values.items():
        kind = type(value)
        if kind in _PLAIN:
            key.append((name, kind, value))
        elif kind is float:
            key.append((name, kind, repr(value)))
        elif kind in _TEXTS and all(type(item) is str for item in value):
            key.append((name, kind, value))
        else:
            return None
    return tuple(key)


class _Records:
    """The records a ledger was given lately, per policy: each one's JSON text (as
    :func:`customer_json` writes it) and, once a reservation asked, its values checked against
    the policy, kept by :func:`_record_key` (so a reservation for a customer given the same
    record again neither writes nor checks it again). Bounded: emptied when full."""

    SIZE = 4096

    def __init__(self) -> None:
        self.by_policy: dict[int, tuple[Policy, dict[tuple[Any, ...], list[Any]]]] = {}

    def entry(self, policy: Policy, customer: Customer) -> list[Any]:
        """``[JSON text, checked record or None]`` of ``customer`` (see :meth:`checked`)."""
        key = _record_key(customer)
        if key is None:
            return [customer_json(customer), None]
        held = self.by_policy.get(id(policy))
        if held is None or held[0] is not policy:  # (the id of a policy gone, taken by another)
            held = self.by_policy[id(policy)] = (policy, {})
            if len(self.by_policy) > 16:
                self.by_policy = {id(policy): held}
        kept = held[1]
        found = kept.get(key)
        if found is None:
            if len(kept) >= self.SIZE:
                kept.clear()
            found = kept[key] = [customer_json(customer), None]
        return found

    @staticmethod
    def checked(policy: Policy, customer: Customer, entry: list[Any]) -> Customer:
        """The record of ``entry`` checked against ``policy`` (InputError for a value it refuses)."""
        found: Customer | None = entry[1]
        if found is None:
            found = entry[1] = _checked(policy, customer, customer)
        return found


def history_of(rows: StoredRows, now_us: int) -> History:
    """The evaluator's index of a customer's stored rows, statuses as of ``now_us``."""
    if not isinstance(rows, (list, tuple)):  # a digest (the common read): no import statement on its way
        return rows.history(now_us)
    from policylang.ingest import history_from_rows, history_from_values

    if isinstance(rows, list):
        return history_from_rows(rows, now_us)
    columns, values = rows
    found = history_from_values(values, now_us, columns)
    if found is not None:
        return found
    return history_from_rows([_row(columns, v) for v in values], now_us)  # JSON columns: as stored


def _row(columns: tuple[str, ...], values: tuple[Any, ...]) -> Row:
    """A ``Row`` of some named columns (the rest take Row's defaults)."""
    fields = dict(zip(columns, values, strict=True))
    listed, warned = fields.pop("campaigns", None), fields.pop("warnings", None)
    row = Row(**fields)
    if listed:
        row.campaign = tuple(json.loads(listed))
    if warned:
        row.warnings = tuple(json.loads(warned))
    return row


@functools.lru_cache(maxsize=64)
def _outcomes_json(outcomes: tuple[str, ...]) -> str:
    """A policy's outcomes as a reservation stores them (made once per policy)."""
    return json.dumps(list(outcomes))


def _lookup(txn: Txn, customer: str, rows: StoredRows) -> Callable[[str], Row | None]:
    """The customer's row with an id, or None (read again by id for a SQL store's tuples: only
    a row a reservation displaces is wanted, and it is written back whole)."""
    if isinstance(rows, list):
        return {row.id: row for row in rows}.get

    def by_id(row_id: str) -> Row | None:
        row = txn.row(row_id, for_update=True) if row_id else None
        return row if row is not None and row.customer == customer else None

    return by_id


def opening(txn: Txn, customer: str, request_id: str | None, now: bool) -> Opening:
    """:meth:`Txn.opening` by the single primitives, one after the other: the store's now,
    the customer's lock, then the reads (a store that can send them together overrides it)."""
    now_us = txn.now_us() if now else None
    txn.lock_customer(customer)
    booked = txn.row(request_id, for_update=True) if request_id else None
    return now_us, booked, txn.customer(customer), txn.rows(customer)


def decision_rows(txn: Txn, customer: str, now: bool) -> tuple[int | None, StoredRows]:
    """:meth:`Txn.decision_rows` by :meth:`Txn.now_and_rows` (a store that reads plain tuples
    of the columns a decision needs overrides it)."""
    return txn.now_and_rows(customer, now)


def now_and_rows(txn: Txn, customer: str, now: bool) -> tuple[int | None, list[Row]]:
    """:meth:`Txn.now_and_rows` one read after the other: the store's now (None when not asked
    for), then the customer's rows (a store that can send both together overrides it)."""
    return (txn.now_us() if now else None), txn.rows(customer)


class _TxnLoads:
    """The loads a decision reads inside a reservation's transaction.

    Counting a capacity rule takes that rule's lock first, so two reservations that both
    count the same rule are serialised and the total stays exact.
    """

    def __init__(self, txn: Txn, now_us: int) -> None:
        self.txn = txn
        self.now_us = now_us
        self.locked: set[str] = set()
        # the evaluator asks for the same window more than once (the check, then the search
        # for the next allowed instant); within one transaction the answer cannot change
        self.seen: dict[tuple[str, dt.datetime, dt.datetime], list[Contact]] = {}

    def contacts(self, rule: CapRule, start: dt.datetime, end: dt.datetime) -> list[Contact]:
        if rule.name not in self.locked:
            self.txn.lock_capacity(rule.name)
            self.locked.add(rule.name)
        key = (rule.name, start, end)
        found = self.seen.get(key)
        if found is None:
            found = self.seen[key] = _counted_contacts(self.txn, rule, start, end, self.now_us)
        return list(found)


class _ReadLoads:
    """Capacity loads read outside any write transaction (for a denial's search)."""

    def __init__(self, ledger: Ledger, now_us: int) -> None:
        self.ledger = ledger
        self.now_us = now_us

    def contacts(self, rule: CapRule, start: dt.datetime, end: dt.datetime) -> list[Contact]:
        with self.ledger._transaction(write=False) as txn:  # noqa: SLF001 - the ledger's own reader
            return _counted_contacts(txn, rule, start, end, self.now_us)


def _counted_contacts(txn: Txn, rule: CapRule, start: dt.datetime, end: dt.datetime, now_us: int) -> list[Contact]:
    return txn.load_contacts(rule, to_micros(start), to_micros(end), now_us)


def load_contacts(txn: Txn, rule: CapRule, start_us: int, end_us: int, now_us: int) -> list[Contact]:
    """:meth:`Txn.load_contacts` by :meth:`Txn.load_rows`: every counted contact of every customer
    matching ``rule`` in ``[start_us, end_us)`` as of ``now_us``, a ``Row`` made for each (the
    reference; a SQL store reads plain tuples of the columns a contact needs instead)."""
    out = []
    for row, owner in txn.load_rows(rule, start_us, end_us, now_us):
        if row.counted(now_us) and rule.match.matches(row.purpose or "", row.channel or "", row.team or "", owner):
            out.append(_as_contact(row, now_us))
    return out


class _Denied(Exception):
    """A plan's request was denied: the transaction rolls back. It carries what the search
    for the next allowed instant needs once the write lock is released: the request, the
    plan's contacts decided before it and the stored plans they displaced."""

    def __init__(self, decision: Decision, request: Request, planned: list[Row], gone: set[str]) -> None:
        super().__init__("denied")
        self.decision, self.request = decision, request
        self.planned = [attrs.evolve(row) for row in planned]
        self.gone = set(gone)


class _PlusLoads:
    """Some loads plus the rows a plan is about to insert, less the plans it displaced."""

    def __init__(self, base: Loads, new: list[Row], owner: str | None, now_us: int, gone: set[str]) -> None:
        self.base, self.new, self.owner, self.now_us, self.gone = base, new, owner, now_us, gone

    def contacts(self, rule: CapRule, start: dt.datetime, end: dt.datetime) -> list[Contact]:
        lo, hi = to_micros(start), to_micros(end)
        extra = [_as_contact(r, self.now_us) for r in self.new
                 if lo <= r.at_us < hi and r.counted(self.now_us)
                 and rule.match.matches(r.purpose or "", r.channel or "", r.team or "", self.owner)]
        # a plan displaced earlier in this plan stops counting (the memory store applies its
        # updates only at commit, and the transaction's loads may have read it before)
        kept = [c for c in self.base.contacts(rule, start, end) if c.id not in self.gone]
        return kept + extra


class Ledger:
    """The shared implementation of every store; subclasses supply transactions.

    ``hold`` is how long a reservation stays planned without being confirmed or released.
    Every "now" (a reservation's deadline, whether a plan has expired) is the store's
    clock, read inside the transaction: the database's for SQLite and PostgreSQL, so two
    clients whose clocks disagree still agree on what has expired. ``clock`` replaces it
    (tests and the demo pass a fake one); it is never the caller's clock by default.
    """

    url: str = ""

    def __init__(
        self,
        *,
        hold: dt.timedelta = DEFAULT_HOLD,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if hold <= dt.timedelta(0):
            raise LedgerError("a reservation hold must be positive")
        self.hold = hold
        self.clock = clock
        self._records = _Records()

    # -- what subclasses provide --
    def _transaction(self, *, write: bool, bulk: bool = False) -> contextlib.AbstractContextManager[Txn]:
        """A transaction (``write``: one that may write; ``bulk``: one that inserts many rows)."""
        raise NotImplementedError

    def _before_commit(self, txn: Txn) -> None:
        """Called inside a reserve, confirm or release transaction just before it commits
        (a test hook: concurrency tests pause a writer here to force an interleaving)."""

    @property
    def schema_version(self) -> int:
        return SCHEMA_VERSION

    def close(self) -> None:
        """Release the store's connections."""

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- time --
    def _now_us(self, txn: Txn) -> int:
        """The store's now, read inside ``txn`` (or the clock the ledger was given)."""
        if self.clock is not None:
            return to_micros(self.clock())
        return txn.now_us()

    def _now_and_rows(self, customer: str) -> tuple[int, list[Row]]:
        """The store's now (or the ledger's clock) and a customer's rows, in one read
        (:meth:`Txn.now_and_rows`: one round trip where the store can send both)."""
        with self._transaction(write=False) as txn:
            store_now, rows = txn.now_and_rows(customer, self.clock is None)
        now_us = to_micros(self.clock()) if self.clock is not None else store_now
        assert now_us is not None
        return now_us, rows

    def _decision_read(self, customer: str) -> tuple[int, StoredRows]:
        """The store's now (or the ledger's clock) and a customer's rows as a decision reads
        them (:meth:`Txn.decision_rows`: plain tuples from a SQL store), in one read."""
        with self._transaction(write=False) as txn:
            store_now, rows = txn.decision_rows(customer, self.clock is None)
        now_us = to_micros(self.clock()) if self.clock is not None else store_now
        assert now_us is not None
        return now_us, rows

    # -- writing history --
    def append(self, entries: Iterable[Entry]) -> int:
        """Store sent contacts, imported plans and events, all in one transaction.

        Every entry must name its customer. Returns how many were stored. An append for
        up to ``LOCKED_APPEND`` customers is serialised with their reservations; a bulk
        import is not (run it while no reservations are being made, or accept that a
        reservation racing it may decide without the entries still being imported).
        """
        entries = list(entries)
        for index, entry in enumerate(entries):
            if isinstance(entry, VoidLine):  # 11.4: a void names stored contacts; void() does it
                raise LedgerError(f"entry {index} (field `void`) is a void line, which append does not store; "
                                  "nothing was written",
                                  hint="void stored contacts with ledger.void(id, reason) after appending them")  # fmt: skip
        # validated before the transaction; stamped with the store's time inside it
        rows = stable_ids([row_from_entry(entry, 0) for entry in entries])
        customers = sorted({row.customer for row in rows})
        with self._transaction(write=True, bulk=len(rows) >= 100) as txn:
            now_us = self._now_us(txn)
            if len(customers) <= LOCKED_APPEND:
                # a live report of a few contacts waits for reservations of those customers,
                # so a decision never misses a contact that committed before it
                for customer in customers:  # sorted: two appends cannot deadlock
                    txn.lock_customer(customer)
            else:
                txn.lock_capacity(" import")  # bulk imports take turns, so a re-import sees the first
            stored = txn.rows_by_id([row.id for row in rows])
            fresh = []
            for row in rows:
                old = stored.get(row.id)
                if old is None:
                    row.created_us = row.updated_us = now_us
                    fresh.append(row)
                elif _content(old) != _content(row):
                    raise LedgerError(f"an entry with id {row.id!r} is already in the ledger with other content; "
                                      "nothing was written", hint="give the new entry another id")  # fmt: skip
            txn.insert(fresh)
        return len(fresh)

    def put_customers(self, policy: Policy, customers: Iterable[Customer]) -> int:
        """Store (or replace) customer records, all in one transaction."""
        records = [(c.id, customer_json(c), customer_owner(policy, c)) for c in customers]
        for cid, _, _ in records:
            check_text(cid, "customer id")
        with self._transaction(write=True) as txn:
            for cid, text, owner in records:
                txn.put_customer(cid, text, owner)
        return len(records)

    # -- reading --
    def events(self, customer: str) -> list[Entry]:
        """Every entry of one customer in time order, with statuses as of now."""
        with self._transaction(write=False) as txn:
            now_us = self._now_us(txn)
            rows = txn.rows(customer)
        return [row.entry(now_us) for row in rows]

    def history(self, customer: str) -> History:
        """One customer's entries as the evaluator's index, built straight from the rows
        (statuses as of now): what :meth:`events` gives, ready for ``policy.decide``."""
        return self._index(customer)[1]

    def _index(self, customer: str) -> tuple[int, History]:
        """The store's now (or the ledger's clock) and the customer's index as of then (a store
        may keep indexes it built: SQLite)."""
        now_us, rows = self._decision_read(customer)
        return now_us, history_of(rows, now_us)

    def _index_of(self, customer: str, rows: StoredRows, now_us: int) -> History:
        """The index of the rows a reservation read (a store may keep it for the next read and
        reservation, valid while the rows are unchanged, and hand back one it kept: SQLite)."""
        return history_of(rows, now_us)

    def customer(self, policy: Policy, customer: str) -> Customer | None:
        """The stored record of ``customer``, validated against ``policy``; None if unknown."""
        with self._transaction(write=False) as txn:
            found = txn.customer(customer)
        return None if found is None else customer_from_stored(policy, found[0], f"customer {customer}")

    def contacts(self, rule: CapRule, start: dt.datetime, end: dt.datetime) -> list[Contact]:
        """The loads protocol: every customer's counted contacts matching ``rule`` in [start, end)."""
        with self._transaction(write=False) as txn:
            now_us = self._now_us(txn)
            return _counted_contacts(txn, rule, start, end, now_us)

    def export(self, customer: str | None = None) -> Iterator[Entry]:
        """Every stored entry (of one customer, or all) in storage order, statuses as of now."""
        with self._transaction(write=False) as txn:
            now_us = self._now_us(txn)
            rows = list(txn.all_rows(customer))
        for row in rows:
            yield row.entry(now_us)

    def stored_customers(self) -> list[tuple[str, str]]:
        """Every stored customer as (id, JSON record)."""
        with self._transaction(write=False) as txn:
            return list(txn.customers())

    def summary(self) -> dict[str, int]:
        """How many customers, events, and contacts in each state (planned, sent, ..., expired)."""
        out = dict.fromkeys(("customers", "events", *RESERVATION_STATES), 0)
        with self._transaction(write=False) as txn:
            now_us = self._now_us(txn)
            out["customers"] = sum(1 for _ in txn.customers())
            for kind, status, ended, expires_us, count in txn.counts():
                if kind == "event":
                    out["events"] += count
                else:
                    probe = Row("", "", "contact", 0, status=status, ended=ended, expires_us=expires_us or None)
                    out[probe.state(now_us)] += count
        return out

    def reservation(self, reservation_id: str) -> ReservationState:
        """Where a reservation stands; LedgerError when no contact has that id."""
        with self._transaction(write=False) as txn:
            now_us = self._now_us(txn)
            row = txn.row(reservation_id, for_update=False)
        if row is None or row.kind != "contact":
            raise LedgerError(f"no reservation {reservation_id!r} in this ledger")
        return _state(row, now_us)

    # -- reserving --
    def reserve(
        self,
        policy: Policy,
        customer: Customer | str,
        request: Request,
        *,
        explain: bool = True,
    ) -> Reservation:
        """Decide ``request`` and, when allowed, record it as planned - atomically.

        ``customer`` is a record (stored or updated as part of the transaction) or the id of a
        stored one. Planned contacts that precedence overrides are marked ``displaced`` and
        returned in :attr:`Reservation.displaced`. A denied request writes nothing (not even
        the customer record). ``explain=False`` skips the trace, for speed.
        """
        customer_id = customer if isinstance(customer, str) else customer.id
        if not customer_id:
            raise LedgerError("the customer has no id; a ledger keeps contacts by customer id")
        check_text(customer_id, "customer id")
        check_text(request.campaign, "campaign")
        check_text(request.id, "request id")
        entry = None if isinstance(customer, str) else self._records.entry(policy, customer)
        record_text = None if entry is None else entry[0]
        denied: Decision | None = None
        with self._transaction(write=True) as txn:
            # One trip to the store for every read before the decision (PostgreSQL sends them
            # together): the customer's lock, then the request id's booking, the stored record
            # and the customer's rows. The request id is the reservation's id: a retry finds
            # the first booking (under the customer's lock, so two retries cannot both book).
            store_now, booked, found, rows = txn.opening(customer_id, request.id, self.clock is None)
            now_us = to_micros(self.clock()) if self.clock is not None else store_now
            assert now_us is not None
            if booked is not None:
                return self._retried(booked, customer_id, request, now_us)
            record, store_record = self._record(policy, customer, found, record_text)
            # once: the verdict and a denial's search (a stored record was checked as it was read)
            checked = record if entry is None else self._records.checked(policy, record, entry)
            # no record per row (the store wrote them); kept: a denial's search may read it again
            ledger = self._index_of(customer_id, rows, now_us)
            # Under the write lock: the verdict at the request's instant only. The search for
            # the next allowed instant (a denial's) runs after the lock is released.
            decision = policy.decide(checked, request, ledger, explain=explain,
                                     loads=_TxnLoads(txn, now_us), search=False)  # fmt: skip
            if not decision.allowed:
                denied = decision
            else:
                if store_record and record_text is not None:
                    txn.put_customer(customer_id, record_text, customer_owner(policy, record))
                displaced = self._displace(txn, _lookup(txn, customer_id, rows), decision, now_us)
                row = Row(
                    request.id or new_id(), customer_id, "contact", to_micros(request.at), channel=request.channel,
                    purpose=request.purpose, team=request.team, status="planned", campaign=request.campaign,
                    expires_us=now_us + self.hold // ONE_MICROSECOND, created_us=now_us, updated_us=now_us,
                    outcomes=_outcomes_json(policy.outcomes), warnings=decision.warnings,
                )  # fmt: skip
                for old in displaced:
                    old.displaced_by = row.id
                    txn.update(old)
                txn.insert([row])
                self._before_commit(txn)
        if denied is not None:
            return Reservation(decision=self._searched(policy, checked, customer_id, request, explain, denied))
        contact = row.entry(now_us)
        assert isinstance(contact, Contact) and row.expires_us is not None
        return Reservation(
            decision=decision,
            id=row.id,
            contact=contact,
            displaced=tuple(_as_contact(old, now_us) for old in displaced),
            expires_at=from_micros(row.expires_us),
        )

    def reserve_all(self, policy: Policy, customer: Customer, requests: Sequence[Request]) -> list[Reservation]:
        """Reserve several requests for one customer in one transaction (a plan's contacts).

        The requests are decided in arbitration order, each seeing the ones before it as
        planned. Either every one is allowed and recorded as planned (the reservations come
        back in the order of ``requests``), or nothing is written and the list holds the
        first denied request's reservation alone. As in :meth:`reserve`, only the verdicts
        are reached under the write lock; a denial's next allowed instant is searched after
        the transaction ends, on a fresh read plus the plan's contacts decided before it.
        """
        from policylang.arbitration import arbitration_order
        from policylang.ingest import history_from_rows

        if not customer.id:
            raise LedgerError("the customer has no id; a ledger keeps contacts by customer id")
        check_text(customer.id, "customer id")
        for request in requests:
            check_text(request.campaign, "campaign")
        record_text = customer_json(customer)
        owner = customer_owner(policy, customer)
        made: dict[int, Reservation] = {}
        try:
            with self._transaction(write=True) as txn:
                now_us = self._now_us(txn)
                txn.lock_customer(customer.id)
                record, store_record = self._customer_for(txn, policy, customer, record_text)
                checked = _checked(policy, customer, record)  # once for every request
                rows = txn.rows(customer.id)
                new: list[Row] = []
                gone: set[str] = set()
                loads = _PlusLoads(_TxnLoads(txn, now_us), new, owner, now_us, gone)
                for i in arbitration_order(policy, owner, requests):
                    request = requests[i]
                    mine = sorted(rows + new, key=lambda r: r.at_us)
                    # under the write lock: the verdict only (see reserve)
                    decision = policy.decide(checked, request, history_from_rows(mine, now_us),
                                             explain=False, loads=loads, search=False)  # fmt: skip
                    if not decision.allowed:
                        raise _Denied(decision, request, new, gone)
                    displaced = self._displace(txn, {row.id: row for row in rows + new}.get, decision, now_us)
                    row = Row(
                        new_id(), customer.id, "contact", to_micros(request.at), channel=request.channel,
                        purpose=request.purpose, team=request.team, status="planned", campaign=request.campaign,
                        expires_us=now_us + self.hold // ONE_MICROSECOND, created_us=now_us, updated_us=now_us,
                        outcomes=_outcomes_json(policy.outcomes), warnings=decision.warnings,
                    )  # fmt: skip
                    for old in displaced:
                        old.displaced_by = row.id
                        gone.add(old.id)
                        if old not in new:
                            txn.update(old)
                    new.append(row)
                    contact = row.entry(now_us)
                    assert isinstance(contact, Contact) and row.expires_us is not None
                    made[i] = Reservation(decision=decision, id=row.id, contact=contact,
                                          displaced=tuple(_as_contact(old, now_us) for old in displaced),
                                          expires_at=from_micros(row.expires_us))
                if store_record:
                    txn.put_customer(customer.id, record_text, owner)
                txn.insert(new)
                self._before_commit(txn)
        except _Denied as denied:
            return [Reservation(decision=self._searched_plan(policy, checked, owner, denied))]
        return [made[i] for i in range(len(requests))]

    def _searched_plan(self, policy: Policy, customer: Customer, owner: str | None, denied: _Denied) -> Decision:
        """A plan's denial with its next allowed instant, searched with no write lock held: the
        customer's rows as they are now, with the plans the plan displaced before the denied
        request marked displaced and the plan's contacts before it added as planned.

        As in :meth:`_searched`, if this fresh read allows the request (another writer
        released a plan meanwhile), the denial stands without a next allowed instant.
        """
        from policylang.ingest import history_from_rows

        now_us, rows = self._now_and_rows(customer.id)
        for row in rows:
            if row.id in denied.gone and row.effective_status(now_us) == "planned":
                row.status = "displaced"
        mine = sorted(rows + denied.planned, key=lambda r: r.at_us)
        loads = _PlusLoads(_ReadLoads(self, now_us), denied.planned, owner, now_us, denied.gone)
        decision = policy.decide(customer, denied.request, history_from_rows(mine, now_us), explain=False,
                                 loads=loads)  # fmt: skip
        return denied.decision if decision.allowed else decision

    @staticmethod
    def _retried(booked: Row, customer_id: str, request: Request, now_us: int) -> Reservation:
        """The answer to a retried request id: the reservation booked the first time."""
        from policylang.decision import Decision

        same = (booked.kind == "contact" and booked.customer == customer_id and booked.at_us == to_micros(request.at)
                and (booked.team, booked.channel, booked.purpose) == (request.team, request.channel, request.purpose))
        if not same:
            raise LedgerError(
                f"request id {request.id!r} was already used for another contact; nothing was booked",
                hint="a request id is an idempotency key: give each new request its own id",
            )
        contact = booked.entry(now_us)
        assert isinstance(contact, Contact)
        decision = Decision(request=request, allowed=True, denied_by=(), displaces=(), next_allowed_at=request.at,
                            trace=(), notes=(f"request {request.id} was reserved before: this is that reservation",))
        return Reservation(decision=decision, id=booked.id, contact=contact, displaced=(),
                           expires_at=from_micros(booked.expires_us) if booked.expires_us is not None else None)

    def _searched(self, policy: Policy, record: Customer, customer_id: str, request: Request, explain: bool,
                  denied: Decision) -> Decision:  # fmt: skip
        """A denial with its next allowed instant, searched on a fresh read (no write lock held).

        Writers may have moved on since the denial; if the fresh read allows the request
        (a plan was released meanwhile), the denial stands without a next allowed instant:
        the caller asks again.
        """
        now_us, index = self._index(customer_id)
        decision = policy.decide(record, request, index, explain=explain,
                                 loads=_ReadLoads(self, now_us))  # fmt: skip
        return denied if decision.allowed else decision

    @classmethod
    def _customer_for(cls, txn: Txn, policy: Policy, customer: Customer | str,
                      record_text: str | None) -> tuple[Customer, bool]:  # fmt: skip
        """The customer record to decide with, and whether the stored one needs writing."""
        return cls._record(policy, customer, txn.customer(customer if isinstance(customer, str) else customer.id),
                           record_text)

    @staticmethod
    def _record(policy: Policy, customer: Customer | str, found: tuple[str, str | None] | None,
                record_text: str | None) -> tuple[Customer, bool]:  # fmt: skip
        """:meth:`_customer_for` given the stored (record, owner) ``found``."""
        if isinstance(customer, str):
            if found is None:
                raise LedgerError(
                    f"no customer {customer!r} in this ledger",
                    hint="store the record first (policylang ledger import --customers) or pass it",
                )
            return customer_from_stored(policy, found[0], f"customer {customer}"), False
        return customer, found is None or found != (record_text, customer_owner(policy, customer))

    @staticmethod
    def _displace(txn: Txn, by_id: Callable[[str], Row | None], decision: Decision, now_us: int) -> list[Row]:
        """Mark the decision's displaced planned contacts (``by_id``: the customer's row with an
        id, or None); each must be a counted plan here."""
        out: list[Row] = []
        for contact in decision.displaces:
            row = by_id(contact.id or "")
            if row is None and contact.id and contact.customer:
                # a plan of another customer (a capacity rule's displacement): lock it too
                row = txn.row(contact.id, for_update=True)
            if row is None or row.effective_status(now_us) != "planned":
                raise LedgerError(f"decision displaces {contact.describe()}, which is not a planned contact here")
            row.status = "displaced"
            row.updated_us = now_us
            out.append(row)
        return out

    # -- closing reservations --
    def confirm(self, reservation_id: str, outcome: str | None = None, *, force: bool = False) -> ReservationState:
        """Mark a planned reservation sent (optionally with its outcome).

        Confirming an already confirmed reservation is harmless (retries are safe); a
        displaced, released or expired one is refused with :class:`ReservationError`. The
        outcome must be one of the policy the reservation was made under (a
        :class:`LedgerError` otherwise); an outcome already recorded is changed only with
        ``force=True`` (a :class:`ReservationError` otherwise).
        """
        return self._close(reservation_id, "sent", outcome, force)

    def release(self, reservation_id: str) -> ReservationState:
        """Give a planned reservation back: it stops counting at once.

        Releasing a reservation that is already displaced, released or expired is harmless;
        releasing a sent one is refused (a sent contact cannot be unsent).
        """
        return self._close(reservation_id, "released", None)

    def _close(self, reservation_id: str, to: str, outcome: str | None, force: bool = False) -> ReservationState:
        with self._transaction(write=True) as txn:
            now_us = self._now_us(txn)
            row = _locked_contact(txn, reservation_id)
            if row is None:
                raise LedgerError(f"no reservation {reservation_id!r} in this ledger")
            if outcome is not None and row.outcomes is not None and outcome not in json.loads(row.outcomes):
                allowed = json.loads(row.outcomes)
                raise LedgerError(f"`{outcome}` is not an outcome of the policy reservation {reservation_id} was made "
                                  "under; nothing was changed",
                                  expected=", ".join(allowed) or "no outcomes (the policy declares none)")  # fmt: skip
            state = row.state(now_us)
            if state == "planned":
                row.status = to
                row.ended = "released" if to == "released" else None
                if outcome is not None:
                    row.outcome = outcome
                row.updated_us = now_us
                txn.update(row)
            elif to == "sent" and state == "sent":
                if outcome is not None and row.outcome is not None and row.outcome != outcome and not force:
                    raise ReservationError(
                        f"reservation {reservation_id} was confirmed with outcome {row.outcome}; "
                        f"it is not changed to {outcome}",
                        hint="pass force (confirm --force) to correct a recorded outcome",
                    )
                if outcome is not None and row.outcome != outcome:
                    row.outcome = outcome
                    row.updated_us = now_us
                    txn.update(row)
            elif to == "sent":
                raise ReservationError(
                    f"reservation {reservation_id} cannot be confirmed: it was {state}",
                    hint="reserve again; the contact must not be sent",
                )
            elif state == "sent":
                raise ReservationError(f"reservation {reservation_id} cannot be released: it was already sent")
            self._before_commit(txn)
        return _state(row, now_us)

    def void(self, entry_id: str, reason: str | None = None) -> Contact:
        """Make a stored contact void (section 11.4): it counts for nothing, for any rule, at
        any instant (a misdirected call is treated as never placed to this consumer).
        Voiding a void contact again only updates the reason. An unknown id is a
        :class:`LedgerError`."""
        check_text(reason, "void reason")
        with self._transaction(write=True) as txn:
            now_us = self._now_us(txn)
            row = _locked_contact(txn, entry_id)
            if row is None:
                raise LedgerError(f"no contact {entry_id!r} in this ledger")
            row.status = "released"
            row.ended = VOID_MARK + (reason or "")
            row.updated_us = now_us
            txn.update(row)
        return _as_contact(row, now_us)

    def expire(self) -> int:
        """Mark every reservation past its deadline released (expired); returns how many.

        Not needed for correctness - expired reservations stop counting anyway - but keeps
        the stored statuses tidy.
        """
        with self._transaction(write=True) as txn:
            now_us = self._now_us(txn)
            return txn.expire(now_us)


def _locked_contact(txn: Txn, row_id: str) -> Row | None:
    """The stored contact ``row_id``, read for update under its customer's lock, or None.

    The customer's lock comes first (as reserve takes it), so a reservation displacing this
    contact and a confirm, release or void of it cannot interleave."""
    row = txn.row(row_id, for_update=False)
    if row is None:
        return None
    txn.lock_customer(row.customer)
    row = txn.row(row_id, for_update=True)
    return row if row is not None and row.kind == "contact" else None


def _state(row: Row, now_us: int) -> ReservationState:
    return ReservationState(
        id=row.id,
        state=row.state(now_us),
        contact=_as_contact(row, now_us),
        expires_at=from_micros(row.expires_us) if row.expires_us is not None else None,
        displaced_by=row.displaced_by,
    )


def _as_contact(row: Row, now_us: int) -> Contact:
    entry = row.entry(now_us)
    assert isinstance(entry, Contact)
    return entry

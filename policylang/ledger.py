"""The shared contact ledger: every team's sent and planned contacts, in one place.

A decision is only as good as the ledger it reads. When several programs (a campaign
engine, a call-centre dialler, a nightly batch) ask for decisions at once, two of them must
never both be granted the last slot under a cap. :meth:`Ledger.reserve` therefore decides
*and* records the granted contact as ``planned`` in one transaction, holding the customer's
lock (and, for ``capacity`` rules, the rule's lock) from the read to the commit:

    ledger = open_ledger("sqlite:///contacts.sqlite")
    reservation = ledger.reserve(policy, customer, request)
    if reservation.allowed:
        ...  # tell the owners of reservation.displaced; send the message
        ledger.confirm(reservation.id, outcome="delivered")   # or ledger.release(reservation.id)

A reservation that is neither confirmed nor released within the ledger's ``hold`` (15
minutes by default) expires: it stops counting, and confirming it afterwards is refused.

Stores:

- :class:`MemoryLedger` - one process, for tests and embedding;
- :class:`SQLiteLedger` - the default: one file, WAL mode, ``BEGIN IMMEDIATE`` so the write
  lock is held from the read to the commit; safe for several processes on one machine;
- :class:`PostgresLedger` - for many processes on many machines (psycopg 3): an advisory
  transaction lock per customer, and one per ``capacity`` rule so totals stay exact.

Customer records are stored too (table ``customers``, values as JSON): ``reserve`` with a
:class:`~policylang.records.Customer` stores or updates the record in the same transaction,
and ``reserve`` with a customer id decides with the stored one. Capacity rules that say
``by owner`` use each stored customer's owner.

Instants are stored in UTC as integer microseconds since the Unix epoch. Every write
happens in one transaction: a crash leaves the ledger as it was before or after it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import attrs

from policylang import clock
from policylang.errors import PolicylangError
from policylang.records import UTC, Contact, Customer, Entry, Event, Request

if TYPE_CHECKING:
    from policylang.decision import Decision
    from policylang.history import History
    from policylang.rules import CapRule, Policy

DEFAULT_URL = "sqlite:///policylang-ledger.sqlite"
DEFAULT_HOLD = dt.timedelta(minutes=15)
# An append of entries for at most this many customers takes their locks; a bulk import
# (an offline job) does not, which would exhaust PostgreSQL's lock table.
LOCKED_APPEND = 100
ONE_MICROSECOND = dt.timedelta(microseconds=1)

# Reservation states as reported by Ledger.reservation(); "expired" is a released
# reservation that was never confirmed or released in time.
RESERVATION_STATES = ("planned", "sent", "displaced", "released", "expired")


class LedgerError(PolicylangError):
    """A ledger cannot be opened or used as asked (bad URL, unknown schema, unknown id)."""


class ReservationError(LedgerError):
    """A reservation cannot be confirmed or released in its present state."""


# ---- instants ---------------------------------------------------------------------------------


def to_micros(instant: dt.datetime) -> int:
    """Microseconds since the Unix epoch, exactly (no float rounding)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant {instant.isoformat()} has no offset")
    return clock.micros(instant)


from_micros = clock.instant  # the UTC instant ``micros`` microseconds after the Unix epoch


def utc_now() -> dt.datetime:
    return dt.datetime.now(UTC)


# ---- rows ------------------------------------------------------------------------------------

# Column order of the entries table as every store reads and writes it.
COLUMNS = (
    "id", "customer", "kind", "at_us", "channel", "purpose", "team", "status", "outcome",
    "campaign", "event", "expires_us", "ended", "displaced_by", "created_us", "updated_us", "outcomes",
)  # fmt: skip


@attrs.define(slots=True)
class Row:
    """One stored ledger entry (a contact or an event), as the tables hold it."""

    id: str
    customer: str
    kind: str  # contact | event
    at_us: int
    channel: str | None = None
    purpose: str | None = None
    team: str | None = None
    status: str | None = None  # sent | planned | displaced | released (contacts only)
    outcome: str | None = None
    campaign: str | None = None
    event: str | None = None
    expires_us: int | None = None  # a reservation's deadline; None for an imported plan
    ended: str | None = None  # released | expired: why a planned contact stopped counting
    displaced_by: str | None = None  # the reservation that displaced this one
    created_us: int = 0
    updated_us: int = 0
    # a reservation's policy outcomes (JSON list), so confirm checks an outcome against them
    outcomes: str | None = None

    def values(self) -> tuple[Any, ...]:
        return attrs.astuple(self, recurse=False)

    @classmethod
    def from_values(cls, values: Sequence[Any]) -> Row:
        return cls(*values)

    def effective_status(self, now_us: int) -> str | None:
        """The status a decision sees: a planned contact past its deadline is released."""
        if self.status == "planned" and self.expires_us is not None and self.expires_us <= now_us:
            return "released"
        return self.status

    def counted(self, now_us: int) -> bool:
        return self.kind == "contact" and self.effective_status(now_us) in ("sent", "planned")

    def state(self, now_us: int) -> str:
        """The reservation state: planned, sent, displaced, released or expired."""
        status = self.effective_status(now_us) or "sent"
        if status == "released" and (self.ended == "expired" or self.status == "planned"):
            return "expired"
        return status

    def entry(self, now_us: int) -> Entry:
        """The record a decision reads (statuses as of ``now_us``)."""
        if self.kind == "event":
            return Event(at=from_micros(self.at_us), name=self.event or "", customer=self.customer)
        void = self.ended is not None and self.ended.startswith(VOID_MARK)
        return Contact(
            at=from_micros(self.at_us),
            channel=self.channel or "",
            purpose=self.purpose or "",
            team=self.team or "",
            status="void" if void else self.effective_status(now_us) or "sent",
            outcome=self.outcome,
            campaign=self.campaign,
            id=self.id,
            customer=self.customer,
            void_reason=(self.ended or "")[len(VOID_MARK):] or None if void else None,
        )


# Section 11.4: a void contact is stored as released with `ended` = VOID_MARK + its reason, so
# the stores' schema (four statuses) is unchanged; Row.entry shows it as "status": "void".
VOID_MARK = "void:"


def new_id() -> str:
    return uuid.uuid4().hex


# Ids and campaign names: what every store keeps and every export format writes back the same.
MAX_ID_CHARS = 256
# Control characters (NUL: PostgreSQL cannot store it; CR/LF: CSV lines) and lone surrogates
# (not UTF-8: SQLite and PostgreSQL cannot store them).
_UNSTORABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def one_campaign(value: str | tuple[str, ...] | None) -> str | None:
    """The one campaign a row stores (check_text refused a list before)."""
    assert not isinstance(value, tuple)
    return value


def check_text(value: str | tuple[str, ...] | None, what: str) -> None:
    """Refuse an id (or campaign) no store could keep or no export could write back: over
    MAX_ID_CHARS characters, a control character, a lone surrogate. Every store applies it."""
    if isinstance(value, tuple):  # section 11.3 campaign lists: not stored by the shared ledger yet
        raise LedgerError(f"{what} {list(value)!r} is a list; the shared ledger stores one campaign per contact")
    if value is None:
        return
    if len(value) > MAX_ID_CHARS:
        raise LedgerError(f"{what} {value[:40]!r}... has {len(value):,} characters, over the limit of {MAX_ID_CHARS}")
    bad = _UNSTORABLE.search(value)
    if bad:
        char = bad.group()
        kind = ("a NUL character" if char == "\x00" else "a lone surrogate" if "\ud800" <= char <= "\udfff"
                else f"a control character (U+{ord(char):04X})")  # fmt: skip
        raise LedgerError(f"{what} {value!r} contains {kind}, which a ledger cannot store or export")


def row_from_entry(entry: Entry, now_us: int) -> Row:
    """The row for an appended entry; it must name its customer."""
    if not entry.customer:
        raise LedgerError(f"cannot store {_describe(entry)}: it names no customer")
    check_text(entry.customer, "customer id")
    if isinstance(entry, Contact):
        check_text(entry.id, "contact id")
        check_text(entry.campaign, "campaign")
    if isinstance(entry, Event):
        return Row("new-", entry.customer, "event", to_micros(entry.at), event=entry.name,
                   created_us=now_us, updated_us=now_us)  # fmt: skip
    if entry.status == "void":  # 11.4, as export writes it
        return Row(
            entry.id or new_id(), entry.customer, "contact", to_micros(entry.at),
            channel=entry.channel, purpose=entry.purpose, team=entry.team, status="released",
            outcome=entry.outcome, campaign=one_campaign(entry.campaign), ended=VOID_MARK + (entry.void_reason or ""),
            created_us=now_us, updated_us=now_us,
        )  # fmt: skip
    if entry.status not in ("sent", "planned", "displaced", "released"):
        raise LedgerError(f"cannot store {_describe(entry)}: unknown status {entry.status!r}")
    return Row(
        entry.id or "new-", entry.customer, "contact", to_micros(entry.at),
        channel=entry.channel, purpose=entry.purpose, team=entry.team, status=entry.status,
        outcome=entry.outcome, campaign=one_campaign(entry.campaign), created_us=now_us, updated_us=now_us,
    )  # fmt: skip


def _content(row: Row) -> tuple[Any, ...]:
    """What an imported line says (not what the ledger did with it since)."""
    return (row.customer, row.kind, row.at_us, row.channel, row.purpose, row.team, row.outcome, row.campaign,
            row.event)  # fmt: skip


def stable_ids(rows: list[Row]) -> list[Row]:
    """Give each row without an id of its own an identity made from its content (the n-th
    identical line of a batch gets its own), so importing the same lines again adds nothing."""
    import hashlib

    seen: dict[str, int] = {}
    for row in rows:
        if row.id.startswith("new-"):
            text = json.dumps([*_content(row), row.status], separators=(",", ":"))
            digest = "line-" + hashlib.sha256(text.encode()).hexdigest()[:32]
            count = seen.get(digest, 0)
            seen[digest] = count + 1
            row.id = digest if count == 0 else f"{digest}-{count}"
    return rows


def _describe(entry: Entry) -> str:
    if isinstance(entry, Event):
        return f"event {entry.name} at {entry.at.isoformat()}"
    return entry.describe()


# ---- customers --------------------------------------------------------------------------------


def _json_default(value: object) -> object:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return str(value)  # a ZoneInfo or the like: its name


def customer_json(customer: Customer) -> str:
    """A customer record as the JSON object of section 10 (``id`` plus attribute values)."""
    values = {key: value for key, value in customer.values.items() if key != "id"}
    return json.dumps({"id": customer.id, **values}, default=_json_default, sort_keys=True)


def customer_owner(policy: Policy, customer: Customer) -> str | None:
    if policy.owner_attribute is None:
        return None
    owner = customer.values.get(policy.owner_attribute)
    return owner if isinstance(owner, str) else None


def customer_from_stored(policy: Policy, text: str, where: str) -> Customer:
    """A stored customer record, validated against ``policy`` like any JSON input."""
    from policylang.inputs import customer_from_json
    from policylang.source import Span

    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:  # only a hand-edited ledger gets here
        raise LedgerError(f"{where}: stored customer record is not JSON ({exc.msg})") from None
    return customer_from_json(policy, obj, Span(where, 0, 0, 0, 0))


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

    def to_dict(self) -> dict[str, object]:
        """JSON form: the reservation fields plus the decision of section 10."""
        return {
            "reservation": self.id,
            "allowed": self.allowed,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "contact": self.contact.to_dict() if self.contact else None,
            "displaced": [c.to_dict() for c in self.displaced],
            "decision": self.decision.to_dict(),
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

    def put_customer(self, customer: str, record: str, owner: str | None) -> None: ...

    def rows(self, customer: str) -> list[Row]: ...

    def row(self, row_id: str, *, for_update: bool) -> Row | None: ...

    def rows_by_id(self, ids: Sequence[str]) -> dict[str, Row]: ...

    def load_rows(self, rule: CapRule, start_us: int, end_us: int, now_us: int) -> list[tuple[Row, str | None]]: ...

    def insert(self, rows: Sequence[Row]) -> None: ...

    def update(self, row: Row) -> None: ...

    def all_rows(self, customer: str | None) -> Iterator[Row]: ...

    def customers(self) -> Iterator[tuple[str, str]]: ...

    def expire(self, now_us: int) -> int: ...

    def counts(self) -> list[tuple[str, str | None, str | None, int, int]]: ...


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
    out = []
    for row, owner in txn.load_rows(rule, to_micros(start), to_micros(end), now_us):
        if row.counted(now_us) and rule.match.matches(row.purpose or "", row.channel or "", row.team or "", owner):
            out.append(_as_contact(row, now_us))
    return out


class _Denied(Exception):
    """A plan's request was denied: the transaction rolls back."""

    def __init__(self, reservation: Reservation) -> None:
        super().__init__("denied")
        self.reservation = reservation


class _PlusLoads:
    """The transaction's loads plus the rows this transaction is about to insert."""

    def __init__(self, base: _TxnLoads, new: list[Row], owner: str | None, now_us: int) -> None:
        self.base, self.new, self.owner, self.now_us = base, new, owner, now_us

    def contacts(self, rule: CapRule, start: dt.datetime, end: dt.datetime) -> list[Contact]:
        lo, hi = to_micros(start), to_micros(end)
        extra = [_as_contact(r, self.now_us) for r in self.new
                 if lo <= r.at_us < hi and r.counted(self.now_us)
                 and rule.match.matches(r.purpose or "", r.channel or "", r.team or "", self.owner)]
        return self.base.contacts(rule, start, end) + extra


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

    # -- what subclasses provide --
    def _transaction(self, *, write: bool) -> contextlib.AbstractContextManager[Txn]:
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

    # -- writing history --
    def append(self, entries: Iterable[Entry]) -> int:
        """Store sent contacts, imported plans and events, all in one transaction.

        Every entry must name its customer. Returns how many were stored. An append for
        up to ``LOCKED_APPEND`` customers is serialised with their reservations; a bulk
        import is not (run it while no reservations are being made, or accept that a
        reservation racing it may decide without the entries still being imported).
        """
        entries = list(entries)
        # validated before the transaction; stamped with the store's time inside it
        rows = stable_ids([row_from_entry(entry, 0) for entry in entries])
        customers = sorted({row.customer for row in rows})
        with self._transaction(write=True) as txn:
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
        from policylang.ingest import history_from_rows

        with self._transaction(write=False) as txn:
            now_us = self._now_us(txn)
            rows = txn.rows(customer)
        return history_from_rows(rows, now_us)

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
        from policylang.ingest import history_from_rows

        customer_id = customer if isinstance(customer, str) else customer.id
        if not customer_id:
            raise LedgerError("the customer has no id; a ledger keeps contacts by customer id")
        check_text(customer_id, "customer id")
        check_text(request.campaign, "campaign")
        check_text(request.id, "request id")
        record_text = None if isinstance(customer, str) else customer_json(customer)
        denied: Decision | None = None
        with self._transaction(write=True) as txn:
            now_us = self._now_us(txn)
            txn.lock_customer(customer_id)
            if request.id:
                # The request id is the reservation's id: a retry finds the first booking
                # (under the customer's lock, so two retries cannot both book).
                booked = txn.row(request.id, for_update=True)
                if booked is not None:
                    return self._retried(booked, customer_id, request, now_us)
            record, store_record = self._customer_for(txn, policy, customer, record_text)
            rows = txn.rows(customer_id)
            ledger = history_from_rows(rows, now_us)  # no record per row: the store wrote them
            # Under the write lock: the verdict at the request's instant only. The search for
            # the next allowed instant (a denial's) runs after the lock is released.
            decision = policy.decide(record.values, request, ledger, explain=explain,
                                     loads=_TxnLoads(txn, now_us), search=False)  # fmt: skip
            if not decision.allowed:
                denied = decision
            else:
                if store_record and record_text is not None:
                    txn.put_customer(customer_id, record_text, customer_owner(policy, record))
                displaced = self._displace(txn, rows, decision, now_us)
                row = Row(
                    request.id or new_id(), customer_id, "contact", to_micros(request.at), channel=request.channel,
                    purpose=request.purpose, team=request.team, status="planned", campaign=one_campaign(request.campaign),
                    expires_us=now_us + self.hold // ONE_MICROSECOND, created_us=now_us, updated_us=now_us,
                    outcomes=json.dumps(list(policy.outcomes)),
                )  # fmt: skip
                for old in displaced:
                    old.displaced_by = row.id
                    txn.update(old)
                txn.insert([row])
                self._before_commit(txn)
        if denied is not None:
            return Reservation(decision=self._searched(policy, record, customer_id, request, explain, denied))
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
        first denied request's reservation alone.
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
                rows = txn.rows(customer.id)
                new: list[Row] = []
                loads = _PlusLoads(_TxnLoads(txn, now_us), new, owner, now_us)
                for i in arbitration_order(policy, owner, requests):
                    request = requests[i]
                    mine = sorted(rows + new, key=lambda r: r.at_us)
                    decision = policy.decide(record.values, request, history_from_rows(mine, now_us),
                                             explain=False, loads=loads)
                    if not decision.allowed:
                        raise _Denied(Reservation(decision=decision))
                    displaced = self._displace(txn, rows + new, decision, now_us)
                    row = Row(
                        new_id(), customer.id, "contact", to_micros(request.at), channel=request.channel,
                        purpose=request.purpose, team=request.team, status="planned", campaign=one_campaign(request.campaign),
                        expires_us=now_us + self.hold // ONE_MICROSECOND, created_us=now_us, updated_us=now_us,
                        outcomes=json.dumps(list(policy.outcomes)),
                    )  # fmt: skip
                    for old in displaced:
                        old.displaced_by = row.id
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
            return [denied.reservation]
        return [made[i] for i in range(len(requests))]

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
        from policylang.ingest import history_from_rows

        with self._transaction(write=False) as txn:
            now_us = self._now_us(txn)
            rows = txn.rows(customer_id)
        decision = policy.decide(record.values, request, history_from_rows(rows, now_us), explain=explain,
                                 loads=_ReadLoads(self, now_us))  # fmt: skip
        return denied if decision.allowed else decision

    @staticmethod
    def _customer_for(txn: Txn, policy: Policy, customer: Customer | str, record_text: str | None) -> tuple[Customer, bool]:
        """The customer record to decide with, and whether the stored one needs writing."""
        if isinstance(customer, str):
            found = txn.customer(customer)
            if found is None:
                raise LedgerError(
                    f"no customer {customer!r} in this ledger",
                    hint="store the record first (policylang ledger import --customers) or pass it",
                )
            return customer_from_stored(policy, found[0], f"customer {customer}"), False
        found = txn.customer(customer.id)
        return customer, found is None or found != (record_text, customer_owner(policy, customer))

    @staticmethod
    def _displace(txn: Txn, rows: list[Row], decision: Decision, now_us: int) -> list[Row]:
        """Mark the decision's displaced planned contacts; each must be a counted plan here."""
        by_id = {row.id: row for row in rows}
        out: list[Row] = []
        for contact in decision.displaces:
            row = by_id.get(contact.id or "")
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


# ---- memory -----------------------------------------------------------------------------------


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
    def _transaction(self, *, write: bool) -> Iterator[Txn]:
        with self._lock:
            txn = _MemoryTxn(self)
            yield txn
            if write:
                txn.commit()


# ---- SQL stores -------------------------------------------------------------------------------

SCHEMA_VERSION = 3

# Each migration brings a ledger from version N-1 to N. Statements use "?" placeholders
# and portable types; BIGINT_PK is replaced per dialect.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE entries (
            seq {BIGINT_PK},
            id TEXT NOT NULL UNIQUE,
            customer TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('contact', 'event')),
            at_us BIGINT NOT NULL,
            channel TEXT, purpose TEXT, team TEXT,
            status TEXT CHECK (status IN ('sent', 'planned', 'displaced', 'released')),
            outcome TEXT, campaign TEXT, event TEXT,
            expires_us BIGINT,
            ended TEXT,
            displaced_by TEXT,
            created_us BIGINT NOT NULL,
            updated_us BIGINT NOT NULL,
            CHECK ((kind = 'contact') = (status IS NOT NULL))
        )""",
        "CREATE INDEX entries_customer_at ON entries (customer, at_us)",
        "CREATE INDEX entries_channel_at ON entries (channel, at_us) WHERE kind = 'contact'",
    ),
    # version 2: customer records, for decisions by customer id and `by owner` capacity rules
    2: (
        """CREATE TABLE customers (
            id TEXT PRIMARY KEY,
            record TEXT NOT NULL,
            owner TEXT,
            updated_us BIGINT NOT NULL
        )""",
        "CREATE INDEX entries_planned_expiry ON entries (expires_us) WHERE status = 'planned'",
        # capacity rules are mostly a team's load ("phone by service"): find its contacts directly
        "CREATE INDEX entries_team_channel_at ON entries (team, channel, at_us) WHERE kind = 'contact'",
    ),
    # version 3: the outcomes of the policy a reservation was made under (confirm checks them)
    3: ("ALTER TABLE entries ADD COLUMN outcomes TEXT",),
}

def _statements(columns: Sequence[str]) -> tuple[str, str, str]:
    return (
        "SELECT " + ", ".join(columns) + " FROM entries",
        "INSERT INTO entries (" + ", ".join(columns) + ") VALUES (" + ", ".join("?" * len(columns)) + ")",
        ", ".join("e." + c for c in columns),
    )


_SELECT, _INSERT, _PREFIXED = _statements(COLUMNS)
# A ledger object kept at an older schema (tests build old ledgers) reads and writes the
# columns that schema has; every opened ledger is migrated to the newest.
_OLD_STATEMENTS = _statements(COLUMNS[:-1])
_UPDATE = (
    "UPDATE entries SET status = ?, outcome = ?, ended = ?, displaced_by = ?, updated_us = ? WHERE id = ?"
)


def _counted_sql(prefix: str) -> str:
    """Rows that count now (one "?" for the current instant): sent, or planned and not expired."""
    p = prefix
    return f"({p}status = 'sent' OR ({p}status = 'planned' AND ({p}expires_us IS NULL OR {p}expires_us > ?)))"


def _match_filter(rule: CapRule, prefix: str) -> tuple[str, list[Any]]:
    """SQL that narrows the rows a capacity rule can count (Python re-checks every row)."""
    match = rule.match
    clauses: list[str] = []
    params: list[Any] = []
    teams = None if match.by_owner else match.teams
    for column, names in (("purpose", match.purposes), ("channel", match.channels), ("team", teams)):
        if names is not None:
            clauses.append(f"{prefix}{column} IN ({', '.join('?' * len(names))})")
            params.extend(sorted(names))
    return "".join(f" AND {c}" for c in clauses), params


class _SQLTxn:
    """A transaction over a DB-API connection; ``mark`` converts "?" placeholders."""

    def __init__(self, ledger: SQLLedger, cursor: Any) -> None:
        old = getattr(ledger, "_version", SCHEMA_VERSION) < 3
        self._select, self._insert, self._prefixed = _OLD_STATEMENTS if old else (_SELECT, _INSERT, _PREFIXED)
        self._columns = COLUMNS[:-1] if old else COLUMNS
        self.ledger = ledger
        self.cur = cursor

    def _sql(self, text: str) -> str:
        return self.ledger._sql(text)

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        return self.cur.execute(self._sql(text), params)

    def now_us(self) -> int:
        return int(self.execute(self.ledger.now_sql).fetchone()[0])

    def lock_customer(self, customer: str) -> None:
        self.ledger._lock_customer(self, customer)

    def lock_capacity(self, rule_name: str) -> None:
        self.ledger._lock_capacity(self, rule_name)

    def customer(self, customer: str) -> tuple[str, str | None] | None:
        found = self.execute("SELECT record, owner FROM customers WHERE id = ?", (customer,)).fetchone()
        return None if found is None else (found[0], found[1])

    def put_customer(self, customer: str, record: str, owner: str | None) -> None:
        self.execute(
            "INSERT INTO customers (id, record, owner, updated_us) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET record = excluded.record, owner = excluded.owner, "
            "updated_us = excluded.updated_us",
            (customer, record, owner, to_micros(utc_now())),
        )

    def rows(self, customer: str) -> list[Row]:
        found = self.execute(self._select + " WHERE customer = ? ORDER BY at_us, seq", (customer,)).fetchall()
        return [Row.from_values(values) for values in found]

    def row(self, row_id: str, *, for_update: bool) -> Row | None:
        text = self._select + " WHERE id = ?" + (self.ledger.for_update if for_update else "")
        found = self.execute(text, (row_id,)).fetchone()
        return None if found is None else Row.from_values(found)

    def rows_by_id(self, ids: Sequence[str]) -> dict[str, Row]:
        out: dict[str, Row] = {}
        unique = sorted(set(ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            text = self._select + " WHERE id IN (" + ", ".join("?" * len(chunk)) + ")"
            for values in self.execute(text, chunk).fetchall():
                row = Row.from_values(values)
                out[row.id] = row
        return out

    def load_rows(self, rule: CapRule, start_us: int, end_us: int, now_us: int) -> list[tuple[Row, str | None]]:
        narrow, params = _match_filter(rule, "e.")
        # only a `by owner` selector needs each contact's customer's owner
        owner = ("c.owner", "LEFT JOIN customers c ON c.id = e.customer") if rule.match.uses_owner else ("NULL", "")
        text = (
            f"SELECT {self._prefixed}, {owner[0]} FROM entries e {owner[1]} "
            f"WHERE e.kind = 'contact' AND e.at_us >= ? AND e.at_us < ? AND {_counted_sql('e.')}{narrow}"
        )
        found = self.execute(text, [start_us, end_us, now_us, *params]).fetchall()
        return [(Row.from_values(values[:-1]), values[-1]) for values in found]

    def insert(self, rows: Sequence[Row]) -> None:
        if len(rows) >= 100 and self.ledger.placeholder == "%s":
            # PostgreSQL bulk import: COPY is an order of magnitude faster than INSERTs
            with self.cur.copy(f"COPY entries ({', '.join(self._columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row.values()[: len(self._columns)])
        elif rows:
            self.cur.executemany(self._sql(self._insert), [row.values()[: len(self._columns)] for row in rows])

    def update(self, row: Row) -> None:
        self.execute(_UPDATE, (row.status, row.outcome, row.ended, row.displaced_by, row.updated_us, row.id))

    def all_rows(self, customer: str | None) -> Iterator[Row]:
        if customer is None:
            cursor = self.execute(self._select + " ORDER BY seq")
        else:
            cursor = self.execute(self._select + " WHERE customer = ? ORDER BY seq", (customer,))
        for values in cursor:
            yield Row.from_values(values)

    def customers(self) -> Iterator[tuple[str, str]]:
        yield from self.execute("SELECT id, record FROM customers ORDER BY id").fetchall()

    def expire(self, now_us: int) -> int:
        cursor = self.execute(
            "UPDATE entries SET status = 'released', ended = 'expired', updated_us = ? "
            "WHERE status = 'planned' AND expires_us IS NOT NULL AND expires_us <= ?",
            (now_us, now_us),
        )
        return int(cursor.rowcount)


    def counts(self) -> list[tuple[str, str | None, str | None, int, int]]:
        # a planned row's deadline matters (live or expired); other rows group by status only
        found = self.execute(
            "SELECT kind, status, ended, CASE WHEN status = 'planned' THEN COALESCE(expires_us, 0) ELSE 0 END AS e, "
            "COUNT(*) FROM entries GROUP BY kind, status, ended, e"
        ).fetchall()
        return [(kind, status, ended, int(e), int(n)) for kind, status, ended, e, n in found]


class SQLLedger(Ledger):
    """What the SQL stores share: the schema, its migrations and the queries."""

    placeholder = "?"
    bigint_pk = "INTEGER PRIMARY KEY"
    # the database's clock, in microseconds since the epoch (SQLite's has milliseconds)
    now_sql = "SELECT CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000"
    for_update = ""
    found_version = 0  # the schema version the ledger had when opened (0: created now)

    def _sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def _lock_customer(self, txn: _SQLTxn, customer: str) -> None:
        pass

    def _lock_capacity(self, txn: _SQLTxn, rule_name: str) -> None:
        pass

    def _migrate(self, txn: _SQLTxn, target: int = SCHEMA_VERSION) -> int:
        """Bring the schema to ``target`` (the newest unless a test builds an old ledger);
        refuse a ledger newer than this code. Returns the version found."""
        txn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        found = int(txn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            raise LedgerError(
                f"{_safe_url(self.url)}: ledger schema version {found} is newer than this policylang "
                f"understands (version {SCHEMA_VERSION})",
                hint="upgrade policylang; it will not touch a ledger it does not understand",
            )
        for version in range(found + 1, target + 1):
            for statement in MIGRATIONS[version]:
                txn.execute(statement.replace("{BIGINT_PK}", self.bigint_pk))
            txn.execute("DELETE FROM schema_version")
            txn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        self._version = max(found, target)
        self.found_version = found
        return found

    @property
    def schema_version(self) -> int:
        return self._version


# ---- SQLite -----------------------------------------------------------------------------------


class SQLiteLedger(SQLLedger):
    """A ledger in one SQLite file, shared safely by the processes of one machine.

    WAL mode lets readers run while one writer writes; every write transaction starts with
    ``BEGIN IMMEDIATE``, which takes the write lock before the decision reads, so two
    reservations never decide on the same state. Writers first queue on an OS lock on the
    file ``PATH-writers`` (fair hand-over between processes). ``busy_timeout`` (seconds) is
    how long a writer waits for its turn before giving up with a :class:`LedgerError`.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0, target_version: int | None = None,
                 **options: Any) -> None:  # fmt: skip
        super().__init__(**options)
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                         check_same_thread=False)  # fmt: skip
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: a power cut may lose the last commits but never corrupts;
            # a process crash loses nothing that was committed.
            self._conn.execute("PRAGMA synchronous = NORMAL")
            # A damaged file must not take writes: quick_check is cheap (no index cross-checks)
            # and catches most damage; `policylang ledger check` runs the full integrity_check.
            self._damaged = ""
            self._version = 0
            problems = self.check(full=False)
            if problems:
                self._damaged = "; ".join(problems[:3])
            else:
                self._open_schema(target_version)
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"{self.url}: cannot open the ledger ({exc})",
                              hint="is it a policylang SQLite ledger? `policylang ledger check` says more") from None
        # Writers queue on an OS lock beside the file before BEGIN IMMEDIATE. SQLite's own
        # busy handler sleeps and retries, so under contention one busy process can starve
        # another until busy_timeout; a waiter on the OS lock is woken the moment it is free.
        # The OS drops the lock when its process dies.
        try:
            self._queue = os.open(self.path + "-writers", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            self._conn.close()
            raise LedgerError(f"{self.url}: cannot create {self.path}-writers ({exc.strerror})") from None

    def _open_schema(self, target_version: int | None) -> None:
        cur = self._conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            self._migrate(_SQLTxn(self, cur), target_version or SCHEMA_VERSION)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Txn]:
        with self._lock, self._writer_turn(write):
            if write:
                self._refuse_if_damaged()
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise self._fault(exc) from None
                raise LedgerError(f"{self.url}: the ledger is busy ({exc})",
                                  hint="another process holds the write lock; raise busy_timeout") from None  # fmt: skip
            try:
                yield _SQLTxn(self, cur)
                cur.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                self._rollback(cur)
                raise LedgerError(f"{self.url}: {_integrity_message(str(exc))}") from None
            except sqlite3.DatabaseError as exc:
                self._rollback(cur)
                raise self._fault(exc) from None
            except BaseException:
                self._rollback(cur)
                raise
            finally:
                cur.close()

    def _rollback(self, cur: sqlite3.Cursor) -> None:
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.DatabaseError):  # the fault being reported matters more
                cur.execute("ROLLBACK")

    def _fault(self, exc: sqlite3.DatabaseError) -> LedgerError:
        """A store fault as a LedgerError saying what happened and what to do."""
        text = str(exc)
        lowered = text.lower()
        if "readonly" in lowered or "read-only" in lowered:
            return LedgerError(f"{self.url}: the ledger file is read-only; nothing was written ({text})",
                               hint=f"give this user write access to {self.path} and its folder "
                                    "(SQLite writes -wal and -shm files beside it)")  # fmt: skip
        if "full" in lowered:
            return LedgerError(f"{self.url}: the disk is full; nothing was written ({text})",
                               hint="free space on that disk, then try again")  # fmt: skip
        if "malformed" in lowered or "not a database" in lowered or "corrupt" in lowered:
            self._damaged = text
            return LedgerError(f"{self.url}: the ledger file is damaged; nothing was written ({text})",
                               hint="restore it from a backup; `policylang ledger check` lists the damage")  # fmt: skip
        return LedgerError(f"{self.url}: the ledger store failed; nothing was written ({text})",
                           hint="try again; if it fails again, run `policylang ledger check`")  # fmt: skip

    def _refuse_if_damaged(self) -> None:
        if self._damaged:
            raise LedgerError(f"{self.url}: the ledger file is damaged ({self._damaged}); it takes no writes",
                              hint="restore it from a backup; `policylang ledger check` lists the damage")  # fmt: skip

    def check(self, *, full: bool = True) -> list[str]:
        """SQLite's integrity check (``quick_check`` when not ``full``): the problems, or []."""
        with self._lock:
            try:
                rows = self._conn.execute("PRAGMA integrity_check" if full else "PRAGMA quick_check").fetchall()
            except sqlite3.DatabaseError as exc:
                return [str(exc)]
        found = [str(row[0]) for row in rows]
        return [] if found == ["ok"] else found

    @contextlib.contextmanager
    def _writer_turn(self, write: bool) -> Iterator[None]:
        """Hold the writers' lock for a write transaction (waiting at most busy_timeout)."""
        if not write:
            yield
            return
        self._take_writer_lock()
        try:
            yield
        finally:
            fcntl.flock(self._queue, fcntl.LOCK_UN)

    def _take_writer_lock(self) -> None:
        try:
            fcntl.flock(self._queue, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        # Busy: a helper thread blocks in the kernel; we wait for it at most busy_timeout.
        got, given_up, guard = threading.Event(), threading.Event(), threading.Lock()
        fd = self._queue

        def wait() -> None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with guard:
                if given_up.is_set():
                    fcntl.flock(fd, fcntl.LOCK_UN)
                else:
                    got.set()

        threading.Thread(target=wait, name="policylang-ledger-writer", daemon=True).start()
        if got.wait(self.busy_timeout):
            return
        with guard:
            if got.is_set():
                return
            given_up.set()
        raise LedgerError(f"{self.url}: the ledger is busy: no write turn within {self.busy_timeout:g} s",
                          hint="another process holds a write transaction open; raise busy_timeout")  # fmt: skip

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            if self._queue >= 0:
                os.close(self._queue)
                self._queue = -1


# ---- PostgreSQL -------------------------------------------------------------------------------

# Advisory lock namespaces (the first key of pg_advisory_xact_lock(int, int)).
_LOCK_SCHEMA, _LOCK_CUSTOMER, _LOCK_CAPACITY = 7301, 7302, 7303


class PostgresLedger(SQLLedger):
    """A ledger in PostgreSQL for many processes on many machines (needs psycopg 3).

    Each reservation takes ``pg_advisory_xact_lock`` on its customer before reading, and on
    each ``capacity`` rule before counting it; both are held to the commit. Locks are taken
    customer first, then capacity rules in policy order, so they cannot deadlock.
    A ``schema=NAME`` query parameter in the URL keeps the tables in that schema.
    """

    placeholder = "%s"
    bigint_pk = "BIGSERIAL PRIMARY KEY"
    now_sql = "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint"
    for_update = " FOR UPDATE"

    def __init__(self, url: str, *, target_version: int | None = None, create: bool = True,
                 **options: Any) -> None:  # fmt: skip
        super().__init__(**options)
        try:
            import psycopg
        except ImportError:
            raise LedgerError(
                "a PostgreSQL ledger needs psycopg 3", hint="pip install 'policylang[postgres]'"
            ) from None
        self._psycopg = psycopg
        self._conninfo, self.schema = _split_schema(url)
        self.url = url
        self._lock = threading.RLock()
        self._conn = self._connect()
        try:
            if not create and not self._has_ledger():
                self._conn.close()
                where_ = f"schema {self.schema}" if self.schema else "the default schema"
                raise LedgerError(f"{_safe_url(url)}: no ledger in {where_} of this database",
                                  hint=f"create it with `policylang ledger init --ledger {_safe_url(url)}`, "
                                       "or check the URL")  # fmt: skip
            if self.schema:
                self._conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            with self._conn.transaction(), self._conn.cursor() as cur:
                txn = _SQLTxn(self, cur)
                cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (_LOCK_SCHEMA,))
                self._migrate(txn, target_version or SCHEMA_VERSION)
        except psycopg.Error as exc:
            self._conn.close()
            raise LedgerError(f"{_safe_url(url)}: cannot open the ledger ({str(exc).strip()})",
                              hint="check the schema name and this user's rights on it") from None  # fmt: skip

    # Reconnecting after the server went away: tries with doubling pauses, at most this long.
    RECONNECT_SECONDS = 10.0

    def _connect(self) -> Any:
        psycopg = self._psycopg
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True)
            if self.schema:
                conn.execute(f'SET search_path TO "{self.schema}"')
        except psycopg.Error as exc:
            raise LedgerError(f"{_safe_url(self.url)}: cannot connect ({str(exc).strip()})") from None
        return conn

    def _has_ledger(self) -> bool:
        row = self._conn.execute("SELECT to_regclass('schema_version')").fetchone()
        return row is not None and row[0] is not None

    def _reconnect(self) -> None:
        """A new connection after the old one broke (a server restart): up to
        RECONNECT_SECONDS of tries, pausing 0.05 s, 0.1 s, 0.2 s, ... (at most 2 s) between them."""
        import time

        deadline = time.monotonic() + self.RECONNECT_SECONDS
        pause, tries, last = 0.05, 0, ""
        with contextlib.suppress(Exception):
            self._conn.close()
        while True:
            tries += 1
            try:
                self._conn = self._connect()
                return
            except LedgerError as exc:
                last = exc.message
            if time.monotonic() + pause > deadline:
                raise LedgerError(f"{_safe_url(self.url)}: the connection to the server was lost and {tries} "
                                  f"reconnection tries over {self.RECONNECT_SECONDS:g} s failed ({last})",
                                  hint="nothing was written; is the server up? the next call tries again")  # fmt: skip
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _lock_customer(self, txn: _SQLTxn, customer: str) -> None:
        txn.cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CUSTOMER, customer))

    def _lock_capacity(self, txn: _SQLTxn, rule_name: str) -> None:
        txn.cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CAPACITY, rule_name))

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Txn]:
        psycopg = self._psycopg
        with self._lock:
            if self._conn.closed or self._conn.broken:
                self._reconnect()
            try:
                # Reads are single statements (a summary's two counts may see different
                # moments): in autocommit they cost one round trip instead of three.
                block = self._conn.transaction() if write else contextlib.nullcontext()
                with block, self._conn.cursor() as cur:
                    yield _SQLTxn(self, cur)
            except psycopg.errors.UniqueViolation as exc:
                raise LedgerError(f"{_safe_url(self.url)}: {_integrity_message(str(exc))}") from None
            except psycopg.Error as exc:
                if self._conn.closed or self._conn.broken:
                    raise LedgerError(f"{_safe_url(self.url)}: the connection to the server was lost "
                                      f"({str(exc).strip()}); nothing was written",
                                      hint="try again: the next call reconnects (with pauses, up to "
                                           f"{self.RECONNECT_SECONDS:g} s)") from None  # fmt: skip
                raise LedgerError(f"{_safe_url(self.url)}: the ledger store failed; nothing was written "
                                  f"({str(exc).strip()})",
                                  hint="check the server's log and this user's rights") from None  # fmt: skip

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _integrity_message(text: str) -> str:
    if "id" in text and ("UNIQUE" in text or "unique" in text):
        return "an entry with the same id is already in the ledger (nothing was written)"
    return f"{text.strip()} (nothing was written)"


def _split_schema(url: str) -> tuple[str, str | None]:
    """The libpq URL without our ``schema`` parameter, and that schema's name."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = None
    kept = []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            kept.append((key, value))
    if schema is not None and not schema.replace("_", "a").isalnum():
        raise LedgerError(f"schema name {schema!r} must be letters, digits and underscores")
    return urlunsplit(parts._replace(query=urlencode(kept, quote_via=quote))), schema


def _safe_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


# ---- opening ----------------------------------------------------------------------------------


def open_ledger(url: str = DEFAULT_URL, *, create: bool = False, **options: Any) -> Ledger:
    """Open the ledger at ``url`` (migrating an older schema as needed).

    ``memory:``, ``sqlite:///relative/path``, ``sqlite:////absolute/path`` or
    ``postgresql://user@host/db[?schema=NAME]``. Only ``create=True`` (what ``policylang
    ledger init`` passes) makes a new ledger: otherwise a URL that names no ledger - a typo,
    or a relative path run from another folder - is a :class:`LedgerError` naming the path
    it looked for, never a new empty ledger that grants against nothing. Options: ``hold``
    (a timedelta), ``clock``, and ``busy_timeout`` (seconds) for SQLite.
    """
    if url == "memory:":
        return MemoryLedger(**options)
    if url.startswith("sqlite://"):
        path = unquote(url[len("sqlite://"):])
        if not path.startswith("/") or len(path) < 2:
            raise LedgerError(f"{url}: a SQLite ledger URL is sqlite:///PATH", hint="e.g. sqlite:///ledger.sqlite")
        if not create and not Path(path[1:]).exists():
            raise LedgerError(
                f"{url}: no ledger at {Path(path[1:]).absolute()}",
                hint=f"create it with `policylang ledger init --ledger {url}`, or check the path "
                     "(a relative path is read from the current folder)",
            )  # fmt: skip
        return SQLiteLedger(path[1:], **options)
    if url.startswith(("postgresql://", "postgres://")):
        options.pop("busy_timeout", None)
        return PostgresLedger(url, create=create, **options)
    raise LedgerError(
        f"{url!r} is not a ledger URL",
        expected="memory:, sqlite:///PATH or postgresql://...",
        hint=f"e.g. --ledger {DEFAULT_URL}",
    )

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

The package's modules, one job each: ``rows`` (the stored form of entries, ids, errors),
``core`` (:class:`Ledger`: the store-independent reservation logic), ``memory``, ``schema``
(the SQL schema and its migrations), ``sql`` (what the SQL stores share), ``sqlite``,
``postgres`` and ``opening`` (:func:`open_ledger`). Import the public names from
``policylang.ledger``.
"""

from __future__ import annotations

from policylang.ledger.core import (
    Ledger,
    LedgerProtocol,
    Loads,
    Reservation,
    ReservationState,
    Txn,
    _as_contact,
    _locked_contact,
    _state,
    _TxnLoads,
)
from policylang.ledger.memory import MemoryLedger
from policylang.ledger.opening import open_ledger
from policylang.ledger.postgres import PostgresLedger, _split_schema
from policylang.ledger.rows import (
    COLUMNS,
    DEFAULT_HOLD,
    DEFAULT_URL,
    LOCKED_APPEND,
    MAX_ID_CHARS,
    ONE_MICROSECOND,
    RESERVATION_STATES,
    VOID_MARK,
    LedgerError,
    LedgerUnreachable,
    ReservationError,
    Row,
    check_text,
    customer_from_stored,
    customer_json,
    customer_owner,
    from_micros,
    new_id,
    row_from_entry,
    stable_ids,
    to_micros,
    utc_now,
)
from policylang.ledger.schema import MIGRATIONS, SCHEMA_VERSION
from policylang.ledger.sql import SQLLedger, _safe_url
from policylang.ledger.sqlite import SQLiteLedger

__all__ = [
    "COLUMNS",
    "DEFAULT_HOLD",
    "DEFAULT_URL",
    "LOCKED_APPEND",
    "MAX_ID_CHARS",
    "MIGRATIONS",
    "ONE_MICROSECOND",
    "RESERVATION_STATES",
    "SCHEMA_VERSION",
    "VOID_MARK",
    "Ledger",
    "LedgerError",
    "LedgerUnreachable",
    "LedgerProtocol",
    "Loads",
    "MemoryLedger",
    "PostgresLedger",
    "Reservation",
    "ReservationError",
    "ReservationState",
    "Row",
    "SQLLedger",
    "SQLiteLedger",
    "Txn",
    "_TxnLoads",
    "_as_contact",
    "_locked_contact",
    "_safe_url",
    "_split_schema",
    "_state",
    "check_text",
    "customer_from_stored",
    "customer_json",
    "customer_owner",
    "from_micros",
    "new_id",
    "open_ledger",
    "row_from_entry",
    "stable_ids",
    "to_micros",
    "utc_now",
]

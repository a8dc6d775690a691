"""The PostgreSQL store (psycopg 3): many processes on many machines."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from policylang.ledger.core import Opening, StoredRows, Txn
from policylang.ledger.rows import LedgerError, LedgerUnreachable, Row
from policylang.ledger.schema import SCHEMA_VERSION
from policylang.ledger.sql import SQLLedger, _integrity_message, _safe_url, _SQLTxn

# Advisory lock namespaces (the first key of pg_advisory_xact_lock(int, int)).
_LOCK_SCHEMA, _LOCK_CUSTOMER, _LOCK_CAPACITY = 7301, 7302, 7303
# A customer's lock and, once it is granted, the server's clock (microseconds since the epoch).
_LOCK_AND_NOW = ("SELECT pg_advisory_xact_lock(%s, hashtext(%s)), "
                 "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint")


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
                raise LedgerUnreachable(f"{_safe_url(self.url)}: the connection to the server was lost and {tries} "
                                  f"reconnection tries over {self.RECONNECT_SECONDS:g} s failed ({last})",
                                  hint="nothing was written; is the server up? the next call tries again")  # fmt: skip
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _lock_customer(self, txn: _SQLTxn, customer: str) -> None:
        txn.cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CUSTOMER, customer))

    def _lock_capacity(self, txn: _SQLTxn, rule_name: str) -> None:
        txn.cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CAPACITY, rule_name))

    @contextlib.contextmanager
    def _transaction(self, *, write: bool, bulk: bool = False) -> Iterator[Txn]:
        psycopg = self._psycopg
        with self._lock:
            if self._conn.closed or self._conn.broken:
                self._reconnect()
            try:
                if write and not bulk:
                    with self._pipelined() as txn:
                        yield txn
                else:
                    # Reads are single statements (a summary's two counts may see different
                    # moments): in autocommit they cost one round trip instead of three.
                    # COPY (a bulk append) cannot run in a pipeline.
                    block = self._conn.transaction() if write else contextlib.nullcontext()
                    with block, self._conn.cursor() as cur:
                        yield _PGTxn(self, cur)
            except psycopg.errors.UniqueViolation as exc:
                raise LedgerError(f"{_safe_url(self.url)}: {_integrity_message(str(exc))}") from None
            except psycopg.Error as exc:
                if self._conn.closed or self._conn.broken:
                    raise LedgerUnreachable(f"{_safe_url(self.url)}: the connection to the server was lost "
                                      f"({str(exc).strip()}); nothing was written",
                                      hint="try again: the next call reconnects (with pauses, up to "
                                           f"{self.RECONNECT_SECONDS:g} s)") from None  # fmt: skip
                raise LedgerError(f"{_safe_url(self.url)}: the ledger store failed; nothing was written "
                                  f"({str(exc).strip()})",
                                  hint="check the server's log and this user's rights") from None  # fmt: skip

    @contextlib.contextmanager
    def _pipelined(self) -> Iterator[Txn]:
        """A write transaction in pipeline mode.

        A statement whose result is not read yet is queued and sent with the next one that
        is read: BEGIN and a reservation's first reads (:meth:`_PGTxn.opening`) make one round
        trip, a capacity rule's lock and count another, and the writes with COMMIT a last one
        (a reservation took eight before). Each statement still starts after the one before it
        finished, with its own snapshot (READ COMMITTED), so a read queued behind a lock sees
        what the lock's last holder committed. BEGIN and COMMIT are plain statements here
        (psycopg's transaction block waits for each); a failure anywhere - in Python or in a
        statement the server refused - ends in ROLLBACK."""
        conn = self._conn
        try:
            with conn.pipeline(), conn.cursor() as cur:
                cur.execute("BEGIN")
                try:
                    yield _PGTxn(self, cur)
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                cur.execute("COMMIT")
        except BaseException:
            # a statement refused inside the pipeline skips the rest (the ROLLBACK or COMMIT
            # too) and leaves the transaction failed: end it before the connection is reused
            status = self._psycopg.pq.TransactionStatus
            if not conn.closed and not conn.broken and conn.info.transaction_status in (status.INTRANS,
                                                                                           status.INERROR):
                with contextlib.suppress(self._psycopg.Error):
                    conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _PGTxn(_SQLTxn):
    """A PostgreSQL transaction: a reservation's first reads go out together."""

    def opening(self, customer: str, request_id: str | None, now: bool) -> Opening:
        # Each statement on its own cursor, all executed before any result is read: in the
        # write transaction's pipeline they make one round trip (outside one, they run in turn).
        # The store's now is read in the lock's statement, after the lock is granted (one
        # statement less than core.opening, and the later instant: a plan that expired while
        # this reservation waited for the lock is seen expired); the reads come after the lock.
        conn = self.cur.connection
        sql = self.ledger._sql
        with conn.cursor() as c_lock, conn.cursor() as c_booked, conn.cursor() as c_customer, \
                conn.cursor() as c_rows:  # fmt: skip
            if now:
                c_lock.execute(_LOCK_AND_NOW, (_LOCK_CUSTOMER, customer))
            else:
                self.lock_customer(customer)
            if request_id:
                c_booked.execute(sql(self._select + " WHERE id = ?" + self.ledger.for_update), (request_id,))
            c_customer.execute(sql("SELECT record, owner FROM customers WHERE id = ?"), (customer,))
            c_rows.execute(sql(self._decision_select), (customer,))
            now_us = int(c_lock.fetchone()[1]) if now else None
            booked = c_booked.fetchone() if request_id else None
            found = c_customer.fetchone()
            rows = c_rows.fetchall()
        return (now_us, None if booked is None else Row.from_values(booked),
                None if found is None else (found[0], found[1]), (self._decision_columns, rows))

    def now_and_rows(self, customer: str, now: bool) -> tuple[int | None, list[Row]]:
        now_us, rows = self._now_and(self._select + " WHERE customer = ? ORDER BY at_us, seq", customer, now)
        return now_us, [Row.from_values(values) for values in rows]

    def decision_rows(self, customer: str, now: bool) -> tuple[int | None, StoredRows]:
        # as now_and_rows, the rows as plain tuples of a decision's columns
        now_us, values = self._now_and(self._decision_select, customer, now)
        return now_us, (self._decision_columns, values)

    def _now_and(self, text: str, customer: str, now: bool) -> tuple[int | None, list[Any]]:
        """The store's now and the rows ``text`` selects for ``customer``: one round trip (a
        pipeline) and, outside a transaction, one snapshot (a read-only REPEATABLE READ
        transaction, so a write committing between the two statements is not seen)."""
        import psycopg

        conn = self.cur.connection
        status = psycopg.pq.TransactionStatus
        alone = conn.info.transaction_status == status.IDLE
        try:
            with conn.pipeline(), conn.cursor() as c_begin, conn.cursor() as c_now, conn.cursor() as c_rows, \
                    conn.cursor() as c_end:  # fmt: skip
                if alone:
                    c_begin.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                if now:
                    c_now.execute(self.ledger.now_sql)
                c_rows.execute(self._sql(text), (customer,))
                if alone:
                    c_end.execute("COMMIT")
                now_us = int(c_now.fetchone()[0]) if now else None
                rows = c_rows.fetchall()
        except BaseException:
            if alone and not conn.closed and not conn.broken and conn.info.transaction_status in (status.INTRANS,
                                                                                                  status.INERROR):
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
            raise
        return now_us, rows


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

"""The SQLite store: one file, shared safely by the processes of one machine."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

from policylang.ledger.core import Opening, StoredRows, Txn
from policylang.ledger.rows import COLUMNS, LedgerError, Row
from policylang.ledger.schema import DECISION_COLUMNS, SCHEMA_VERSION, SQLITE_MIGRATIONS
from policylang.ledger.sql import SQLLedger, _integrity_message, _SQLTxn

# the first schema version with digests
_DIGESTS = 5
# an insert of rows of at most this many customers keeps their digests (a bulk import leaves
# them to be written again at each customer's next reservation)
_PATCHED_CUSTOMERS = 16


class _SQLiteTxn(_SQLTxn):
    """A SQLite transaction that reads and keeps customers' digests (schema version 5).

    A digest holds the tuples :meth:`plain_rows` would read, msgpack-encoded: a decision reads
    one row (the store's now, the customer's record and the digest in one statement) instead
    of one per entry. Writes through this transaction keep the digests of the customers they
    touch (the triggers delete them first) and write the digest of a customer they touch or
    read for a reservation from its rows when it is missing.
    """

    def __init__(self, ledger: SQLiteLedger, cursor: Any) -> None:
        super().__init__(ledger, cursor)
        self.digests = (getattr(ledger, "_version", SCHEMA_VERSION) or SCHEMA_VERSION) >= _DIGESTS
        self.write = False
        # the decoded digests this transaction read or wrote (kept in step with its writes)
        self.known: dict[str, list[tuple[Any, ...]]] = {}

    def opening(self, customer: str, request_id: str | None, now: bool) -> Opening:
        if not self.digests:
            return super().opening(customer, request_id, now)
        now_us, record, owner, body = self.execute(
            self.ledger.now_sql + _WITH_CUSTOMER_DIGEST, (customer, customer)).fetchone()
        booked = self.row(request_id, for_update=True) if request_id else None
        return (int(now_us) if now else None), booked, (None if record is None else (record, owner)), \
            self._digested(customer, body)  # fmt: skip

    def decision_rows(self, customer: str, now: bool) -> tuple[int | None, StoredRows]:
        if not self.digests:
            return super().decision_rows(customer, now)
        now_us, body = self.execute(self.ledger.now_sql + ", (SELECT body FROM digests WHERE customer = ?)",
                                    (customer,)).fetchone()  # fmt: skip
        return (int(now_us) if now else None), self._digested(customer, body)

    def _digested(self, customer: str, body: bytes | None) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        """The customer's rows from its digest ``body``, or read (and, writing, kept) when none."""
        values = _decoded(body)
        if values is None:
            values = self.plain_rows(customer)[1]
            if self.write:
                self._put(customer, values)
        self.known[customer] = values
        return self._decision_columns, values

    def _digest(self, customer: str) -> list[tuple[Any, ...]] | None:
        found = self.known.get(customer)
        if found is None:
            body = self.execute("SELECT body FROM digests WHERE customer = ?", (customer,)).fetchone()
            found = _decoded(body[0]) if body is not None else None
        return found

    def _put(self, customer: str, values: list[tuple[Any, ...]]) -> None:
        self.execute("INSERT OR REPLACE INTO digests (customer, body) VALUES (?, ?)", (customer, _ENCODE(values)))
        self.known[customer] = values

    def insert(self, rows: Sequence[Row]) -> None:
        customers = {row.customer for row in rows}
        if not self.digests or len(customers) > _PATCHED_CUSTOMERS:
            super().insert(rows)  # the triggers delete the customers' digests
            self.known.clear()
            return
        kept = {customer: self._digest(customer) for customer in customers}
        super().insert(rows)
        width = len(self._columns)
        for customer, values in kept.items():
            if values is None:  # none yet: written from the rows
                self._put(customer, self.plain_rows(customer)[1])
                continue
            # ledger order: instant, then storage order (a new row is stored last)
            added = [self._plain(row, width) for row in rows if row.customer == customer]
            self._put(customer, sorted([*values, *added], key=itemgetter(self._decision_columns.index("at_us"))))

    def update(self, row: Row) -> None:
        values = self._digest(row.customer) if self.digests else None
        super().update(row)  # the triggers delete the customer's digest
        if not self.digests:
            return
        if values is None:  # none yet: written from the rows
            self._put(row.customer, self.plain_rows(row.customer)[1])
            return
        new = self._plain(row, len(self._columns))
        self._put(row.customer, [new if old[0] == row.id else old for old in values])

    def expire(self, now_us: int) -> int:
        self.known.clear()  # the triggers delete the digests of the customers of expired plans
        return super().expire(now_us)

    def _plain(self, row: Row, width: int) -> tuple[Any, ...]:
        """``row`` as the decision's columns hold it in the store (JSON columns as text)."""
        picked: tuple[Any, ...] = _PICK(row.values(width))
        return picked


# a stored row's decision columns (digests exist from schema version 5: every column is there)
_PICK = itemgetter(*(COLUMNS.index(name) for name in DECISION_COLUMNS[_DIGESTS]))

# appended to the statement of the store's now: the customer's record and digest
_WITH_CUSTOMER_DIGEST = (", c.record, c.owner, d.body FROM (SELECT 1) AS one LEFT JOIN customers c ON c.id = ? "
                         "LEFT JOIN digests d ON d.customer = ?")


def _encoder() -> tuple[Any, Any]:
    import msgspec

    # each tuple typed column by column as SQLite returns it (DECISION_COLUMNS at version 5):
    # a digest of another shape or with a value of another type is refused while decoding, at
    # no cost over an untyped decode, and the rows are read instead
    text, number = str | None, int | None
    row = tuple[str, str, str, int, text, text, text, text, text, text, text, number, text, text, text]  # type: ignore[valid-type]
    return msgspec.msgpack.Encoder().encode, msgspec.msgpack.Decoder(list[row]).decode


_ENCODE, _DECODE = _encoder()


def _decoded(body: bytes | None) -> list[tuple[Any, ...]] | None:
    """A digest's tuples, or None when there is none (or it cannot be read: the rows are read)."""
    if body is None:
        return None
    try:
        found: list[tuple[Any, ...]] = _DECODE(body)
    except Exception:  # noqa: BLE001 - a digest is derived data: any doubt means reading the rows
        return None
    return found


class SQLiteLedger(SQLLedger):
    """A ledger in one SQLite file, shared safely by the processes of one machine.

    ``synchronous`` is ``"normal"`` (the default) or ``"full"`` (every commit waits for the disk;
    see docs/ledger.md for what each promises). WAL mode lets readers run while one writer writes; every write transaction starts with
    ``BEGIN IMMEDIATE``, which takes the write lock before the decision reads, so two
    reservations never decide on the same state. Writers first queue on an OS lock on the
    file ``PATH-writers`` (fair hand-over between processes). ``busy_timeout`` (seconds) is
    how long a writer waits for its turn before giving up with a :class:`LedgerError`.
    """

    dialect_migrations = SQLITE_MIGRATIONS

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0, target_version: int | None = None,
                 synchronous: str = "normal", **options: Any) -> None:  # fmt: skip
        super().__init__(**options)
        if synchronous not in ("normal", "full"):
            raise LedgerError(f"synchronous={synchronous!r}: a SQLite ledger's synchronous is normal or full",
                              hint="full makes every commit wait for the disk (see docs/ledger.md)")  # fmt: skip
        self.synchronous = synchronous
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                         check_same_thread=False)  # fmt: skip
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            # The durability docs/ledger.md promises. NORMAL in WAL mode: a record is never
            # half-written, and a crash of any process loses nothing committed; a power cut or an
            # operating system crash may lose the commits since the last checkpoint (the disk is
            # synced only there). FULL syncs the disk at every commit: nothing committed is lost
            # even then, at the cost of one sync a reservation.
            self._conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
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
            self._migrate(_SQLiteTxn(self, cur), target_version or SCHEMA_VERSION)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _transaction(self, *, write: bool, bulk: bool = False) -> Iterator[Txn]:
        with self._lock, self._writer_turn(write):
            if write:
                self._refuse_if_damaged()
            cur = self._conn.cursor()
            try:
                # Reads run in autocommit, each statement on its own snapshot (as PostgreSQL's
                # do): a decision's read is one statement (the store's now with the digest), so
                # BEGIN and COMMIT would be two statements more for nothing.
                if write:
                    cur.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise self._fault(exc) from None
                raise LedgerError(f"{self.url}: the ledger is busy ({exc})",
                                  hint="another process holds the write lock; raise busy_timeout") from None  # fmt: skip
            try:
                txn = _SQLiteTxn(self, cur)
                txn.write = write
                yield txn
                if write:
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

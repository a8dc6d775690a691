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
from typing import TYPE_CHECKING, Any

from policylang.ledger import digest
from policylang.ledger.core import Opening, StoredRows, Txn, history_of
from policylang.ledger.digest import Stored
from policylang.ledger.rows import COLUMNS, LedgerError, Row, to_micros
from policylang.ledger.schema import DECISION_COLUMNS, SCHEMA_VERSION, SQLITE_MIGRATIONS
from policylang.ledger.sql import SQLLedger, _integrity_message, _SQLTxn

if TYPE_CHECKING:
    from policylang.history import History

# the first schema version with digests as columns (ledger.digest)
_DIGESTS = 6
# an insert of rows of at most this many customers keeps their digests (a bulk import leaves
# them to be written again at each customer's next reservation)
_PATCHED_CUSTOMERS = 16


class _SQLiteTxn(_SQLTxn):
    """A SQLite transaction that reads and keeps customers' digests (:mod:`policylang.ledger.digest`).

    A decision reads one row (the store's now, the customer's record and digest in one
    statement) instead of one per entry. Writes through this transaction keep the digests of
    the customers they touch (the triggers delete them first), and a write transaction that
    reads a customer without one writes it from the rows.
    """

    ledger: SQLiteLedger

    def __init__(self, ledger: SQLiteLedger, cursor: Any) -> None:
        super().__init__(ledger, cursor)
        self.digests = (getattr(ledger, "_version", SCHEMA_VERSION) or SCHEMA_VERSION) >= _DIGESTS
        self.write = False
        # the digests this transaction read or wrote (kept in step with its writes)
        self.known: dict[str, Stored] = {}

    def opening(self, customer: str, request_id: str | None, now: bool) -> Opening:
        if not self.digests:
            return super().opening(customer, request_id, now)
        now_us, record, owner, body = self.execute(_OPENING, (customer, customer)).fetchone()
        booked = self.row(request_id, for_update=True) if request_id else None
        hit = self.ledger._kept_digest(customer, body)  # the same bytes decoded before: not again
        found = _whole(hit if hit is not None else digest.decode(body, customer))
        if found is None:  # none yet (or not one this code wrote): from the rows, and kept
            found = self._put(customer, digest.from_values(customer, self.plain_rows(customer)[1]))
        self.known[customer] = found
        return (int(now_us) if now else None), booked, (None if record is None else (record, owner)), found

    def decision_rows(self, customer: str, now: bool) -> tuple[int | None, StoredRows]:
        if not self.digests:
            return super().decision_rows(customer, now)
        # The store's now and the digest; with none, the rows, in the same transaction (one
        # snapshot: a write committing between the two statements is not seen).
        now_us, body = self.execute(_NOW_AND_DIGEST, (customer,)).fetchone()
        found = digest.decode(body, customer)
        return (int(now_us) if now else None), self.plain_rows(customer) if found is None else found

    def _digest(self, customer: str) -> Stored | None:
        found = self.known.get(customer)
        if found is None:
            body = self.execute("SELECT body FROM digests WHERE customer = ?", (customer,)).fetchone()
            found = _whole(digest.decode(body[0], customer)) if body is not None else None
        return found

    def _put(self, customer: str, made: Stored) -> Stored:
        body = made.body = digest.encode(made)
        self.execute("INSERT OR REPLACE INTO digests (customer, body) VALUES (?, ?)", (customer, body))
        self.known[customer] = made
        # kept by its bytes: the next reservation of this customer that reads them (no other
        # write since) goes on from it, not decoding them (a rollback leaves other bytes stored)
        if self.ledger.read_cache:
            self.ledger._keep(customer, made)
        return made

    def _from_rows(self, customer: str) -> None:
        self._put(customer, digest.from_values(customer, self.plain_rows(customer)[1]))

    def insert(self, rows: Sequence[Row]) -> None:
        customers = {row.customer for row in rows}
        if not self.digests or len(customers) > _PATCHED_CUSTOMERS:
            super().insert(rows)  # the triggers delete the customers' digests
            self.known.clear()
            return
        kept = {customer: self._digest(customer) for customer in customers}
        super().insert(rows)
        for customer, found in kept.items():
            if found is None:  # none yet: written from the rows
                self._from_rows(customer)
            else:  # a new row is stored last among the entries of its instant
                self._put(customer, found.with_rows([_decision_values(row) for row in rows
                                                     if row.customer == customer]))  # fmt: skip

    def update(self, row: Row) -> None:
        found = self._digest(row.customer) if self.digests else None
        super().update(row)  # the triggers delete the customer's digest
        if not self.digests:
            return
        changed = found.with_update(_decision_values(row)) if found is not None else None
        if changed is None:  # none yet: written from the rows
            self._from_rows(row.customer)
        else:
            self._put(row.customer, changed)

    def expire(self, now_us: int) -> int:
        self.known.clear()  # the triggers delete the digests of the customers of expired plans
        return super().expire(now_us)


def _whole(found: Stored | None) -> Stored | None:
    """A digest a write transaction goes on from: its ids decoded (a read leaves them encoded
    until a contact is made); None when they do not decode (written again from the rows)."""
    if found is not None:
        try:
            found.ids()
        except digest.DamagedDigest:
            return None
    return found


# a stored row's decision columns (digests exist from schema version 6: every column is there)
_PICK = itemgetter(*(COLUMNS.index(name) for name in DECISION_COLUMNS[_DIGESTS]))


def _decision_values(row: Row) -> tuple[Any, ...]:
    """``row`` as a decision's SELECT reads it from the store (JSON columns as text)."""
    picked: tuple[Any, ...] = _PICK(row.values())
    return picked


class _Kept:
    """A customer's digest kept for the next read or reservation: the bytes stored, the digest
    they decode to (ids decoded), and its index, built at the first use, for the instant
    of that use; (worked out at the first use that finds the same digest) the instants around
    it at which the index is the same."""

    __slots__ = ("body", "stored", "history", "size", "_at", "_window")

    def __init__(self, stored: Stored) -> None:
        assert stored.body is not None
        self.body, self.stored = stored.body, stored
        self.history: History | None = None
        self.size = len(stored.digest.micros) + len(stored.digest.event_names)
        self._at = 0
        self._window: tuple[int, int] | None = None

    def index(self, now_us: int) -> History:
        """The index as of ``now_us``: the one built before while no planned contact's deadline
        lies between the instant it was built for and now, else built anew (and kept)."""
        history = self.history
        if history is not None:
            if self._window is None:
                self._window = self.stored.window(self._at)
            if self._window[0] <= now_us < self._window[1]:
                return history
        history = self.history = self.stored.history(now_us)
        self._at, self._window = now_us, None
        return history


# the most entries the indexes a thread keeps (SQLiteLedger.history) may hold in all
_KEPT_ENTRIES = 200_000
# the store's now and a customer's digest, one statement
_NOW_AND_DIGEST = SQLLedger.now_sql + ", (SELECT body FROM digests WHERE customer = ?)"
# the store's now, the customer's record and digest: a reservation's first read, one statement
_OPENING = SQLLedger.now_sql + (", c.record, c.owner, d.body FROM (SELECT 1) AS one LEFT JOIN customers c ON c.id = ? "
                                "LEFT JOIN digests d ON d.customer = ?")


class SQLiteLedger(SQLLedger):
    """A ledger in one SQLite file, shared safely by the processes of one machine.

    ``synchronous`` is ``"normal"`` (the default) or ``"full"`` (every commit waits for the disk;
    see docs/ledger.md for what each promises). ``read_cache`` is how many customers' indexes
    :meth:`history` keeps per thread (0: none). WAL mode lets readers run while one writer writes; every write transaction starts with
    ``BEGIN IMMEDIATE``, which takes the write lock before the decision reads, so two
    reservations never decide on the same state. Writers first queue on an OS lock on the
    file ``PATH-writers`` (fair hand-over between processes). ``busy_timeout`` (seconds) is
    how long a writer waits for its turn before giving up with a :class:`LedgerError`.
    """

    dialect_migrations = SQLITE_MIGRATIONS

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0, target_version: int | None = None,
                 synchronous: str = "normal", read_cache: int = 256, **options: Any) -> None:  # fmt: skip
        super().__init__(**options)
        self.read_cache = read_cache
        self._kept = threading.local()
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
        with self._lock:
            if write:  # the writers' turn first (see _take_writer_lock), released last
                self._refuse_if_damaged()
                self._take_writer_lock()
            try:
                cur = self._conn.cursor()
                try:
                    # A read transaction too: the reads of more than one statement (the store's
                    # now and a customer's rows, a summary's counts) see one snapshot. (The common
                    # decision's read is one statement on the connection: _now_and_digest.)
                    cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                except sqlite3.OperationalError as exc:
                    cur.close()
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise self._fault(exc) from None
                    raise LedgerError(f"{self.url}: the ledger is busy ({exc})",
                                      hint="another process holds the write lock; raise busy_timeout") from None  # fmt: skip
                try:
                    txn = _SQLiteTxn(self, cur)
                    txn.write = write
                    yield txn
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
            finally:
                if write:
                    fcntl.flock(self._queue, fcntl.LOCK_UN)

    def _now_and_digest(self, customer: str) -> tuple[int, bytes | None]:
        """The store's now (or the ledger's clock) and the customer's stored digest: one
        statement on the connection (so one snapshot), without a transaction's machinery."""
        with self._lock:
            try:
                store_now, body = self._conn.execute(_NOW_AND_DIGEST, (customer,)).fetchone()
            except sqlite3.DatabaseError as exc:
                raise self._fault(exc) from None
        return (to_micros(self.clock()) if self.clock is not None else int(store_now)), body

    def _decision_read(self, customer: str) -> tuple[int, StoredRows]:
        # The common read is one statement; with no digest (or one not trusted) the
        # transaction's read runs: the now and the rows in one snapshot.
        if self._version < _DIGESTS:
            return super()._decision_read(customer)
        now_us, body = self._now_and_digest(customer)
        found = digest.decode(body, customer)
        if found is None:
            return super()._decision_read(customer)
        return now_us, found

    def history(self, customer: str) -> History:
        """One customer's entries as the evaluator's index (statuses as of now).

        Each thread keeps the indexes it built last (``read_cache`` customers, at most
        ``_KEPT_ENTRIES`` entries in all), including a reservation's: an index is used again
        while the customer's stored digest is byte for byte the one it was built from - so no
        write of any program since - and no planned contact's deadline lies between the
        instant it was built for and now. A kept index is a prebuilt ``policylang.History``:
        what it built for one decision serves the next. Every read still runs its statement.
        A reservation decides on the kept index too, and goes on from the kept digest (not
        decoded again) while the stored bytes are the same; the digest a write stores is kept
        by its bytes, its index built at its first use."""
        return self._index(customer)[1]

    def _index(self, customer: str) -> tuple[int, History]:
        if self._version < _DIGESTS or not self.read_cache:
            return super()._index(customer)
        now_us, body = self._now_and_digest(customer)
        hit = self._kept_indexes().get(customer)
        if hit is not None and hit.body == body:
            return now_us, hit.index(now_us)
        found = digest.decode(body, customer)
        if found is None:
            return super()._index(customer)
        return now_us, self._index_of(customer, found, now_us)

    def _index_of(self, customer: str, rows: StoredRows, now_us: int) -> History:
        if not isinstance(rows, Stored) or rows.body is None or not self.read_cache:
            return history_of(rows, now_us)  # only an index of a digest as stored is kept
        return self._keep(customer, rows).index(now_us)

    def _kept_digest(self, customer: str, body: bytes | None) -> Stored | None:
        """The kept digest of ``customer`` whose stored bytes are ``body``, or None."""
        if not self.read_cache or body is None:
            return None
        hit = self._kept_indexes().get(customer)
        return hit.stored if hit is not None and hit.body == body else None

    def _keep(self, customer: str, stored: Stored) -> _Kept:
        """Keep ``stored`` (a digest as stored: ``body`` set) as the customer's newest (the same
        bytes kept already: that entry, with its index)."""
        kept = self._kept_indexes()
        old = kept.pop(customer, None)
        if old is not None:
            self._kept.entries -= old.size
            if old.body == stored.body:
                kept[customer] = old  # the newest again
                self._kept.entries += old.size
                return old
        made = kept[customer] = _Kept(stored)
        self._kept.entries += made.size
        while len(kept) > self.read_cache or self._kept.entries > _KEPT_ENTRIES:
            self._kept.entries -= kept.pop(next(iter(kept))).size
        return made

    def _kept_indexes(self) -> dict[str, _Kept]:
        """This thread's kept indexes, by customer (oldest first)."""
        kept: dict[str, _Kept] | None = getattr(self._kept, "indexes", None)
        if kept is None:
            kept = self._kept.indexes = {}
            self._kept.entries = 0
        return kept

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

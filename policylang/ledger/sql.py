"""What the SQL stores share: a transaction over a DB-API cursor and the migration runner."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from policylang.ledger.core import Ledger, Opening, StoredRows, load_contacts, now_and_rows
from policylang.ledger.rows import COLUMNS, VOID_MARK, LedgerError, Row, from_micros, to_micros, utc_now
from policylang.ledger.schema import (
    _UPDATE,
    DECISION_COLUMNS,
    DECISION_SELECT,
    MIGRATIONS,
    SCHEMA_VERSION,
    STATEMENTS,
    columns_at,
)
from policylang.records import Contact

if TYPE_CHECKING:
    from policylang.rules import CapRule


# appended to a store's now_sql: the customer's stored record and owner in the same statement
_WITH_CUSTOMER = ", c.record, c.owner FROM (SELECT 1) AS one LEFT JOIN customers c ON c.id = ?"


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
        version = getattr(ledger, "_version", SCHEMA_VERSION) or SCHEMA_VERSION
        self._select, self._insert, self._prefixed = STATEMENTS[version]
        self._columns = columns_at(version)
        self._decision_select = DECISION_SELECT[version]
        self._decision_columns = DECISION_COLUMNS[version]
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

    def opening(self, customer: str, request_id: str | None, now: bool) -> Opening:
        # core.opening's reads with a statement less: the store's now and the customer's
        # record in one (after the customer's lock), and the rows as plain tuples of the
        # columns a decision reads (a Row is made only for a row the reservation changes)
        self.lock_customer(customer)
        if now:
            now_us, record, owner = self.execute(self.ledger.now_sql + _WITH_CUSTOMER, (customer,)).fetchone()
            found = None if record is None else (record, owner)
            now_us = int(now_us)
        else:
            now_us, found = None, self.customer(customer)
        booked = self.row(request_id, for_update=True) if request_id else None
        return now_us, booked, found, self.plain_rows(customer)

    def now_and_rows(self, customer: str, now: bool) -> tuple[int | None, list[Row]]:
        return now_and_rows(self, customer, now)

    def decision_rows(self, customer: str, now: bool) -> tuple[int | None, StoredRows]:
        return (self.now_us() if now else None), self.plain_rows(customer)

    def plain_rows(self, customer: str) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        """The customer's rows as a decision reads them: the columns and plain tuples."""
        return self._decision_columns, self.execute(self._decision_select, (customer,)).fetchall()

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

    def load_contacts(self, rule: CapRule, start_us: int, end_us: int, now_us: int) -> list[Contact]:
        # core.load_contacts' answer from plain tuples of the columns a contact needs, no Row
        # a row (a capacity rule's read is every customer's contacts in a week or more: the
        # rows of a Row each cost more than their SQL); a ledger of an older schema: that
        if len(self._columns) < len(COLUMNS):
            return load_contacts(self, rule, start_us, end_us, now_us)
        narrow, params = _match_filter(rule, "e.")
        owner = ("c.owner", "LEFT JOIN customers c ON c.id = e.customer") if rule.match.uses_owner else ("NULL", "")
        text = (
            f"SELECT e.id, e.customer, e.at_us, e.channel, e.purpose, e.team, e.status, e.outcome, e.campaign, "
            f"e.campaigns, e.warnings, e.expires_us, e.ended, {owner[0]} FROM entries e {owner[1]} "
            f"WHERE e.kind = 'contact' AND e.at_us >= ? AND e.at_us < ? AND {_counted_sql('e.')}{narrow}"
        )
        matches = rule.match.matches
        out = []
        for (row_id, customer, at_us, channel, purpose, team, status, outcome, campaign, listed, warned, expires_us,
             ended, owned) in self.execute(text, [start_us, end_us, now_us, *params]).fetchall():  # fmt: skip
            # what Row.counted and Row.entry make of the row (the SQL chose counted rows: checked again)
            if status == "planned" and expires_us is not None and expires_us <= now_us:
                continue
            if status not in ("sent", "planned") or (ended or "").startswith(VOID_MARK):
                continue
            if not matches(purpose or "", channel or "", team or "", owned):
                continue
            out.append(Contact(from_micros(at_us), channel or "", purpose or "", team or "", status, outcome,
                               tuple(json.loads(listed)) if listed else campaign, row_id, customer, None,
                               tuple(json.loads(warned)) if warned else ()))  # fmt: skip
        return out

    def insert(self, rows: Sequence[Row]) -> None:
        if len(rows) >= 100 and self.ledger.placeholder == "%s":
            # PostgreSQL bulk import: COPY is an order of magnitude faster than INSERTs
            with self.cur.copy(f"COPY entries ({', '.join(self._columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row.values(len(self._columns)))
        elif len(rows) == 1:  # a reservation's row: executemany costs more for one
            self.execute(self._insert, rows[0].values(len(self._columns)))
        elif rows:
            self.cur.executemany(self._sql(self._insert), [row.values(len(self._columns)) for row in rows])

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
        # RETURNING rather than rowcount: in PostgreSQL's pipeline mode a count is known only
        # once the results are read
        return len(self.execute(
            "UPDATE entries SET status = 'released', ended = 'expired', updated_us = ? "
            "WHERE status = 'planned' AND expires_us IS NOT NULL AND expires_us <= ? RETURNING id",
            (now_us, now_us),
        ).fetchall())


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
    dialect_migrations: dict[int, tuple[str, ...]] = {}  # statements a version adds in this store only

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
            for statement in MIGRATIONS[version] + self.dialect_migrations.get(version, ()):
                txn.execute(statement.replace("{BIGINT_PK}", self.bigint_pk))
            txn.execute("DELETE FROM schema_version")
            txn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        self._version = max(found, target)
        self.found_version = found
        return found

    @property
    def schema_version(self) -> int:
        return self._version


def _integrity_message(text: str) -> str:
    if "id" in text and ("UNIQUE" in text or "unique" in text):
        return "an entry with the same id is already in the ledger (nothing was written)"
    return f"{text.strip()} (nothing was written)"


def _safe_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url

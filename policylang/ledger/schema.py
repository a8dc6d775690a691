"""The SQL stores' schema: its version, the migrations that build it, and the statements
that read and write its rows."""

from __future__ import annotations

from collections.abc import Sequence

from policylang.ledger.rows import COLUMNS, ROW_COLUMNS

SCHEMA_VERSION = 6

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
    # version 4: section 11.3 campaign lists (a JSON list; `campaign` is NULL then) on contacts
    # and events, and 11.14 a reservation's warnings (a JSON list of rule names)
    4: ("ALTER TABLE entries ADD COLUMN campaigns TEXT", "ALTER TABLE entries ADD COLUMN warnings TEXT"),
    # version 5: SQLite's digests (below); nothing for PostgreSQL
    5: (),
    # version 6: SQLite's digests as columns (below); nothing for PostgreSQL
    6: (),
}

# Statements a version adds in SQLite only, after the shared ones.
SQLITE_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # version 5: a customer's digest - the columns a decision reads of each of the customer's
    # rows, in ledger order, as one msgpack value (ledger.sqlite.Digests) - so a decision reads
    # one row instead of one per entry. Derived data: any change to a customer's entries by
    # any program deletes the digest (these triggers), and policylang writes it again, from
    # the rows, the next time a write transaction reads that customer; a reader that finds
    # none reads the rows.
    5: (
        "CREATE TABLE digests (customer TEXT PRIMARY KEY, body BLOB NOT NULL) WITHOUT ROWID",
        "CREATE TRIGGER entries_digest_insert AFTER INSERT ON entries "
        "BEGIN DELETE FROM digests WHERE customer = NEW.customer; END",
        "CREATE TRIGGER entries_digest_update AFTER UPDATE ON entries "
        "BEGIN DELETE FROM digests WHERE customer = OLD.customer OR customer = NEW.customer; END",
        "CREATE TRIGGER entries_digest_delete AFTER DELETE ON entries "
        "BEGIN DELETE FROM digests WHERE customer = OLD.customer; END",
    ),
    # version 6: a digest holds columns (ledger.digest) instead of one tuple per row; the old
    # ones are dropped (derived data) and written again at each customer's next write
    6: ("DELETE FROM digests",),
}


def _statements(columns: Sequence[str]) -> tuple[str, str, str]:
    return (
        "SELECT " + ", ".join(columns) + " FROM entries",
        "INSERT INTO entries (" + ", ".join(columns) + ") VALUES (" + ", ".join("?" * len(columns)) + ")",
        ", ".join("e." + c for c in columns),
    )


def columns_at(version: int) -> tuple[str, ...]:
    """The entries columns a ledger at schema ``version`` has (a prefix of COLUMNS)."""
    return COLUMNS if version >= 4 else COLUMNS[:ROW_COLUMNS] if version == 3 else COLUMNS[: ROW_COLUMNS - 1]


# What a decision reads of a customer's rows (the evaluator's index is built from these: not
# the bookkeeping columns created_us, updated_us, displaced_by and outcomes).
_DECISION_COLUMNS = ("id", "customer", "kind", "at_us", "channel", "purpose", "team", "status", "outcome", "campaign",
                     "event", "expires_us", "ended", "campaigns", "warnings")


def decision_columns(version: int) -> tuple[str, ...]:
    """The columns a decision reads from a ledger at schema ``version``."""
    have = columns_at(version)
    return tuple(name for name in _DECISION_COLUMNS if name in have)


# A ledger object kept at an older schema (tests build old ledgers) reads and writes the
# columns that schema has; every opened ledger is migrated to the newest.
STATEMENTS = {version: _statements(columns_at(version)) for version in range(1, SCHEMA_VERSION + 1)}
DECISION_COLUMNS = {version: decision_columns(version) for version in range(1, SCHEMA_VERSION + 1)}
# A decision's read of one customer's rows, in ledger order (ties in instant: storage order).
DECISION_SELECT = {
    version: "SELECT " + ", ".join(decision_columns(version)) + " FROM entries WHERE customer = ? ORDER BY at_us, seq"
    for version in range(1, SCHEMA_VERSION + 1)
}
_UPDATE = (
    "UPDATE entries SET status = ?, outcome = ?, ended = ?, displaced_by = ?, updated_us = ? WHERE id = ?"
)

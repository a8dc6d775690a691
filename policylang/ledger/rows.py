"""Ledger rows: the constants, errors and stored form every store shares (entries as rows,
ids and campaigns checked, customer records as JSON)."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from policylang import clock
from policylang.errors import PolicylangError
from policylang.records import UTC, Contact, Customer, Entry, Event

if TYPE_CHECKING:
    from policylang.rules import Policy


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


class LedgerUnreachable(LedgerError):
    """The store's server went away (connection lost, reconnection failed): nothing was
    written and a later call may succeed. Told apart from the caller's errors by its type,
    because asking the same ledger again would reconnect and could hide the loss."""


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

# Column order of the entries table as every store reads and writes it (the last two came
# with schema version 4; a ledger object kept at an older version uses a prefix).
COLUMNS = (
    "id", "customer", "kind", "at_us", "channel", "purpose", "team", "status", "outcome",
    "campaign", "event", "expires_us", "ended", "displaced_by", "created_us", "updated_us", "outcomes",
    "campaigns", "warnings",
)  # fmt: skip
# Row's own fields map one to one onto this many leading columns.
ROW_COLUMNS = 17


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
    # 11.3: one campaign, or several (a tuple: stored as a JSON list in column `campaigns`)
    campaign: str | tuple[str, ...] | None = None
    event: str | None = None
    expires_us: int | None = None  # a reservation's deadline; None for an imported plan
    ended: str | None = None  # released | expired: why a planned contact stopped counting
    displaced_by: str | None = None  # the reservation that displaced this one
    created_us: int = 0
    updated_us: int = 0
    # a reservation's policy outcomes (JSON list), so confirm checks an outcome against them
    outcomes: str | None = None
    # 11.14: a reservation's warnings (the warn rules its decision named)
    warnings: tuple[str, ...] = ()

    def values(self, count: int = len(COLUMNS)) -> tuple[Any, ...]:
        """The row as the first ``count`` columns of COLUMNS, as SQL stores them."""
        several = isinstance(self.campaign, tuple)
        if count <= ROW_COLUMNS and (several or self.warnings):
            raise LedgerError(f"this ledger's schema (before version 4) cannot store the campaign list or "
                              f"warnings of {self.kind} {self.id}", hint="upgrade it with `policylang ledger init`")  # fmt: skip
        stored = (
            self.id, self.customer, self.kind, self.at_us, self.channel, self.purpose, self.team, self.status,
            self.outcome, None if several else self.campaign, self.event, self.expires_us, self.ended,
            self.displaced_by, self.created_us, self.updated_us, self.outcomes,
            json.dumps(list(self.campaign)) if several else None,  # type: ignore[arg-type]
            json.dumps(list(self.warnings)) if self.warnings else None,
        )  # fmt: skip
        return stored if count >= len(COLUMNS) else stored[:count]

    @classmethod
    def from_values(cls, values: Sequence[Any]) -> Row:
        """A row from the columns a SQL store read (a prefix of COLUMNS)."""
        row = cls(*values[:ROW_COLUMNS])
        if len(values) > ROW_COLUMNS and values[ROW_COLUMNS]:
            row.campaign = tuple(json.loads(values[ROW_COLUMNS]))
        if len(values) > ROW_COLUMNS + 1 and values[ROW_COLUMNS + 1]:
            row.warnings = tuple(json.loads(values[ROW_COLUMNS + 1]))
        return row

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
            return Event(at=from_micros(self.at_us), name=self.event or "", customer=self.customer,
                         campaign=self.campaign)
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
            warnings=self.warnings,
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


def check_text(value: str | tuple[str, ...] | None, what: str) -> None:
    """Refuse an id (or campaign, or each of a list of campaigns, 11.3) no store could keep
    or no export could write back: over MAX_ID_CHARS characters, a control character, a lone
    surrogate. Every store applies it."""
    if isinstance(value, tuple):
        for one in value:
            check_text(one, what)
        return
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
    check_text(entry.campaign, "campaign")
    if isinstance(entry, Contact):
        check_text(entry.id, "contact id")
        for name in entry.warnings:
            check_text(name, "warning")
    if isinstance(entry, Event):
        return Row("new-", entry.customer, "event", to_micros(entry.at), event=entry.name, campaign=entry.campaign,
                   created_us=now_us, updated_us=now_us)  # fmt: skip
    if entry.status == "void":  # 11.4, as export writes it
        return Row(
            entry.id or new_id(), entry.customer, "contact", to_micros(entry.at),
            channel=entry.channel, purpose=entry.purpose, team=entry.team, status="released",
            outcome=entry.outcome, campaign=entry.campaign, ended=VOID_MARK + (entry.void_reason or ""),
            created_us=now_us, updated_us=now_us, warnings=entry.warnings,
        )  # fmt: skip
    if entry.status not in ("sent", "planned", "displaced", "released"):
        raise LedgerError(f"cannot store {_describe(entry)}: unknown status {entry.status!r}")
    return Row(
        entry.id or "new-", entry.customer, "contact", to_micros(entry.at),
        channel=entry.channel, purpose=entry.purpose, team=entry.team, status=entry.status,
        outcome=entry.outcome, campaign=entry.campaign, created_us=now_us, updated_us=now_us,
        warnings=entry.warnings,
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

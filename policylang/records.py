"""What a decision is about: requests, ledger entries and instants.

Instants are timezone-aware :class:`datetime.datetime` values, normalised to UTC when
a record is built. Validation of JSON input (customer records, ledger lines, requests)
lives in :mod:`policylang.inputs`; these classes assume their values are already valid.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from policylang.slotted import evolve, field, frozen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
else:
    from policylang.annotations import Any

UTC = dt.timezone.utc

CONTACT_STATUSES = ("sent", "planned", "displaced", "released", "void")
COUNTED_STATUSES = frozenset({"sent", "planned"})


# Instants policylang decides about: wide enough for any ledger, narrow enough that a
# window, a horizon or a zone conversion never leaves the range datetime can represent.
FIRST_YEAR, LAST_YEAR = 1900, 2999


def to_utc(value: dt.datetime) -> dt.datetime:
    """``value`` as UTC; refuses a naive datetime, which would silently mean 'some zone'."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"instant {value.isoformat()} has no offset; give Z or +HH:MM")
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"instant {value.isoformat()} is outside the years {FIRST_YEAR} to {LAST_YEAR}")
    return value.astimezone(UTC)


@frozen
class Request:
    """A question: may ``team`` contact the customer on ``channel`` for ``purpose`` at ``at``?"""

    team: str
    channel: str
    purpose: str
    at: dt.datetime = field(converter=to_utc)
    campaign: str | tuple[str, ...] | None = None  # 11.3: one campaign or several
    priority: int = 0
    # the caller's idempotency key: a store books a request id at most once (issue 9)
    id: str | None = None

    @property
    def campaigns(self) -> tuple[str | None, ...]:
        """The request's campaigns: checked in each one's group (11.3)."""
        return self.campaign if isinstance(self.campaign, tuple) else (self.campaign,)

    def moved_to(self, at: dt.datetime) -> Request:
        """The same request at another instant."""
        return evolve(self, at=at)


@frozen
class Contact:
    """A contact in a customer's ledger: sent, planned (reserved), displaced or released."""

    at: dt.datetime = field(converter=to_utc)
    channel: str = ""
    purpose: str = ""
    team: str = ""
    status: str = "sent"
    outcome: str | None = None
    campaign: str | tuple[str, ...] | None = None  # 11.3: a contact about several campaigns counts in each
    id: str | None = None
    customer: str | None = None
    void_reason: str | None = None  # 11.4: why a void contact is void
    # 11.14: a reservation's warnings (the warn rules its decision named); a shared ledger
    # keeps them with the planned contact, export writes them, import reads them back
    warnings: tuple[str, ...] = ()

    @property
    def counted(self) -> bool:
        """Sent and planned contacts count against caps; displaced and released do not."""
        return self.status in COUNTED_STATUSES

    def describe(self) -> str:
        """``marketing phone by cards at 2026-11-23 15:00Z (planned)``."""
        text = f"{self.purpose} {self.channel} by {self.team} at {self.at:%Y-%m-%d %H:%M}Z"
        if self.status != "sent":
            text += f" ({self.status})"
        return text

    def to_dict(self) -> dict[str, object]:
        """The JSON form of section 10 of the language reference."""
        out: dict[str, object] = {
            "at": self.at.isoformat(),
            "channel": self.channel,
            "purpose": self.purpose,
            "team": self.team,
            "status": self.status,
        }
        for key in ("outcome", "campaign", "id", "customer", "void_reason"):
            value = getattr(self, key)
            if value is not None:
                out[key] = list(value) if isinstance(value, tuple) else value
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


@frozen
class Event:
    """A declared customer event (``complaint``) at an instant."""

    at: dt.datetime = field(converter=to_utc)
    name: str = ""
    customer: str | None = None
    campaign: str | tuple[str, ...] | None = None  # 11.3: None applies to every campaign

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"at": self.at.isoformat(), "event": self.name}
        if self.customer is not None:
            out["customer"] = self.customer
        if self.campaign is not None:
            out["campaign"] = list(self.campaign) if isinstance(self.campaign, tuple) else self.campaign
        return out


@frozen
class VoidLine:
    """A ledger line that voids entries by id (11.4): ``{"at", "void": [...], "reason"?,
    "event"?}``. With ``event`` the line is also that declared event. It applies at every
    instant, before its ``at`` too: a voided contact is treated as never placed."""

    at: dt.datetime = field(converter=to_utc)
    ids: tuple[str, ...] = ()
    reason: str | None = None
    event: str | None = None
    customer: str | None = None


Entry = Contact | Event


def resolve_voids(entries: list[Any], file: str = "<ledger>", lines: list[int] | None = None) -> list[Entry]:
    """The entries with every :class:`VoidLine` applied (11.4): each named contact becomes
    ``void`` (with the line's reason), a line with ``event`` becomes that event, and the
    void lines themselves go. Ids are unique per customer; naming an unknown id, or a
    voiding line, is bad input (an :class:`InputError`). The error names the entry's line
    in ``file`` when ``lines`` gives them, else its position in the list (1-based, as the
    library names a bad ledger entry: ``<ledger>:3``), and the field (`void` or `id`)."""
    from policylang.errors import InputError
    from policylang.source import Span

    voids = [e for e in entries if isinstance(e, VoidLine)]
    if not voids:
        return entries

    def at(index: int) -> Span:  # the entry's line when the caller knows it, else its position
        return Span.point(file, lines[index] if lines is not None else index + 1, 1)

    by_id: dict[tuple[str | None, str], int] = {}
    for index, entry in enumerate(entries):
        if isinstance(entry, Contact) and entry.id is not None:
            key = (entry.customer, entry.id)
            if key in by_id:
                raise InputError(f"field `id`: the id `{entry.id}` is used by two ledger entries", at(index),
                                 hint="ids are unique per customer")
            by_id[key] = index
    reasons: dict[int, str | None] = {}
    for position, line in enumerate(entries):
        if not isinstance(line, VoidLine):
            continue
        for ident in line.ids:
            found = by_id.get((line.customer, ident))
            if found is None:
                raise InputError(f"field `void`: the void line names `{ident}`, which is no contact's id in "
                                 "this ledger",
                                 at(position), hint="a void line names the `id` of a contact line")
            reasons[found] = line.reason
    out: list[Entry] = []
    for index, entry in enumerate(entries):
        if isinstance(entry, VoidLine):
            if entry.event is not None:
                out.append(Event(entry.at, entry.event, entry.customer))
        elif index in reasons:
            assert isinstance(entry, Contact)
            out.append(evolve(entry, status="void", void_reason=reasons[index] or entry.void_reason))
        else:
            out.append(entry)
    return out


@frozen
class Customer:
    """A validated customer record: its id and typed attribute values.

    Values are typed per the policy's ``customer`` block: flags are bool, numbers float,
    dates :class:`datetime.date`, sets frozensets; missing attributes are simply absent.
    """

    id: str
    values: Mapping[str, Any] = field(factory=dict)


def in_campaign(value: str | tuple[str, ...] | None, campaign: object) -> bool:
    """Is an entry whose campaign is ``value`` in the group of ``campaign`` (11.3)?"""
    return value == campaign or (isinstance(value, tuple) and campaign in value)

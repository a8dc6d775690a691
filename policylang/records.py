"""What a decision is about: requests, ledger entries and instants.

Instants are timezone-aware :class:`datetime.datetime` values, normalised to UTC when
a record is built. Validation of JSON input (customer records, ledger lines, requests)
lives in :mod:`policylang.inputs`; these classes assume their values are already valid.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

UTC = dt.timezone.utc

CONTACT_STATUSES = ("sent", "planned", "displaced", "released")
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


@attrs.frozen(slots=True)
class Request:
    """A question: may ``team`` contact the customer on ``channel`` for ``purpose`` at ``at``?"""

    team: str
    channel: str
    purpose: str
    at: dt.datetime = attrs.field(converter=to_utc)
    campaign: str | None = None
    priority: int = 0
    # the caller's idempotency key: a store books a request id at most once (issue 9)
    id: str | None = None

    def moved_to(self, at: dt.datetime) -> Request:
        """The same request at another instant."""
        return attrs.evolve(self, at=at)


@attrs.frozen(slots=True)
class Contact:
    """A contact in a customer's ledger: sent, planned (reserved), displaced or released."""

    at: dt.datetime = attrs.field(converter=to_utc)
    channel: str = ""
    purpose: str = ""
    team: str = ""
    status: str = "sent"
    outcome: str | None = None
    campaign: str | None = None
    id: str | None = None
    customer: str | None = None

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
        for key in ("outcome", "campaign", "id", "customer"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@attrs.frozen(slots=True)
class Event:
    """A declared customer event (``complaint``) at an instant."""

    at: dt.datetime = attrs.field(converter=to_utc)
    name: str = ""
    customer: str | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"at": self.at.isoformat(), "event": self.name}
        if self.customer is not None:
            out["customer"] = self.customer
        return out


Entry = Contact | Event


@attrs.frozen(slots=True)
class Customer:
    """A validated customer record: its id and typed attribute values.

    Values are typed per the policy's ``customer`` block: flags are bool, numbers float,
    dates :class:`datetime.date`, sets frozensets; missing attributes are simply absent.
    """

    id: str
    values: Mapping[str, Any] = attrs.field(factory=dict)

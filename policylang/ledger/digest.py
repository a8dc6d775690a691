"""A customer's digest (SQLite, schema version 6): what a decision reads of the customer's
rows, kept as columns in one msgpack value, so a decision reads one row of the store and
builds the evaluator's index from whole columns.

A digest is derived from the rows and is never the only copy of anything. Everything about
its form lives here: :func:`from_values` builds it from the rows a decision's SELECT reads
(the reference), :meth:`Digest.with_rows` and :meth:`Digest.with_update` keep it in step
with a transaction's writes, :func:`encode` and :func:`decode` store and read it (a body of
another form, or one whose columns disagree, is refused: the rows are read instead), and
:meth:`Digest.history` is the evaluator's index, exactly what ``ingest.history_from_rows``
gives of the same rows.

Every value a row contributes is computed once, when the row is written, by :func:`_parts`:
an entry's columns as the index wants them (a contact's channel, purpose and team as text,
``"sent"`` for no status, a void contact's status and reason, campaign lists) - so a read
does no work per row but apply a planned contact's deadline. Repeated words (channel,
purpose, team, status, outcome) are stored once each, the columns as their codes (one byte a
row while a customer has at most 256 distinct words): a smaller row to read and write, fewer
strings to make when reading, and the same string object for the same word, whose hash is
computed once.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from policylang.ledger.rows import VOID_MARK
from policylang.ledger.schema import DECISION_COLUMNS, SCHEMA_VERSION

if TYPE_CHECKING:
    from policylang.history import History

# What a digest is built from: the columns of a decision's SELECT (schema.DECISION_COLUMNS),
# each found by its name (a column renamed or dropped there fails here, at import)
SOURCE = DECISION_COLUMNS[SCHEMA_VERSION]
(_ID, _KIND, _AT, _CHANNEL, _PURPOSE, _TEAM, _STATUS, _OUTCOME, _CAMPAIGN, _EVENT, _EXPIRES, _ENDED, _CAMPAIGNS,
 _WARNINGS) = map(SOURCE.index, ("id", "kind", "at_us", "channel", "purpose", "team", "status", "outcome", "campaign",
                                 "event", "expires_us", "ended", "campaigns", "warnings"))  # fmt: skip

Campaign = str | list[str] | None
# a column of codes into the words: bytes while there are at most 256 words, else a list
Codes = bytes | list[Annotated[int, msgspec.Meta(ge=0)]]
# the columns coded through the words, in the order of Digest's fields
CODED = ("channel", "purpose", "team", "status", "outcome")


class Digest(msgspec.Struct, array_like=True):
    """One customer's entries as columns, in ledger order (instant, then storage order).

    Contacts: ``ids``, ``micros`` (epoch microseconds), the coded columns (channel, purpose,
    team, status - void resolved, never None - and outcome) and ``expires`` (deadlines, read
    for planned contacts), ``campaign`` (text, a list for 11.3's several), ``void_reason``
    and ``warnings``; an optional column is None when every contact has its default. Events:
    names, instants and campaigns.
    """

    customer: str
    words: list[str | None]
    ids: list[str]
    micros: list[int]
    channel: Codes
    purpose: Codes
    team: Codes
    status: Codes
    outcome: Codes
    expires: list[int | None] | None
    campaign: list[Campaign] | None
    void_reason: list[str | None] | None
    warnings: list[list[str]] | None
    event_names: list[str]
    event_micros: list[int]
    event_campaigns: list[Campaign] | None

    def history(self, now_us: int) -> History:
        """The evaluator's index, statuses as of ``now_us`` (a plan past its deadline is released)."""
        from policylang.history import History

        words = self.words
        size = len(self.ids)
        status = _decoded_words(words, self.status)
        expires = self.expires
        if expires is not None and "planned" in status:
            status = ["released" if state == "planned" and until is not None and until <= now_us else state
                      for state, until in zip(status, expires, strict=True)]  # fmt: skip
        columns: dict[str, list[Any]] = {
            "id": self.ids,
            "customer": [self.customer] * size,
            "channel": _decoded_words(words, self.channel),
            "purpose": _decoded_words(words, self.purpose),
            "team": _decoded_words(words, self.team),
            "status": status,
            "outcome": _decoded_words(words, self.outcome),
        }
        if self.campaign is not None:
            columns["campaign"] = list(map(_campaign, self.campaign))
        if self.void_reason is not None:
            columns["void_reason"] = self.void_reason
        if self.warnings is not None:
            columns["warnings"] = list(map(tuple, self.warnings))
        events: dict[str, list[int]] = {}
        campaigns: dict[str, list[tuple[int, Any]]] = {}
        if self.event_names:
            for name, at in zip(self.event_names, self.event_micros, strict=True):
                events.setdefault(name, []).append(at)
            if self.event_campaigns is not None:  # 11.3: kept for the names of which some event names one
                for name, at, campaign in zip(self.event_names, self.event_micros, self.event_campaigns,
                                              strict=True):  # fmt: skip
                    campaigns.setdefault(name, []).append((at, _campaign(campaign)))
                campaigns = {name: pairs for name, pairs in campaigns.items()
                             if any(c is not None for _, c in pairs)}  # fmt: skip
        return History.from_columns(columns, self.micros, events, campaigns)

    def with_rows(self, rows: Sequence[tuple[Any, ...]]) -> Digest:
        """This digest with ``rows`` (decision tuples, :data:`SOURCE`) added, each after every
        entry at or before its instant (a new row is stored last)."""
        parts = _Columns.of(self)
        for values in rows:
            kind, fields = _parts(values)
            if kind == "event":
                parts.insert_event(fields)
            else:
                parts.insert_contact(fields)
        return parts.digest()

    def with_update(self, values: tuple[Any, ...]) -> Digest | None:
        """This digest with the contact ``values`` (decision tuple) replacing the one of its id;
        None when the digest has no contact of that id (read it from the rows again)."""
        try:
            key = self.ids.index(values[_ID])
        except ValueError:
            return None
        kind, fields = _parts(values)
        if kind == "event" or fields[1] != self.micros[key]:
            return None  # an update changes a contact's status, outcome and end only
        parts = _Columns.of(self)
        parts.replace_contact(key, fields)
        return parts.digest()


def _campaign(value: Campaign) -> str | tuple[str, ...] | None:
    return tuple(value) if isinstance(value, list) else value


def _decoded_words(words: list[str | None], codes: Codes) -> list[Any]:
    """The words the ``codes`` name (one C call for the column)."""
    if len(codes) > 1:
        return list(itemgetter(*codes)(words))
    return [words[code] for code in codes]


def _parts(values: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """What one stored row (a decision tuple) puts in a digest: ``("event", (name, micros,
    campaign))`` or ``("contact", (id, micros, channel, purpose, team, status, outcome,
    expires, campaign, void_reason, warnings))``, each value as the index reads it (as
    ``Row.entry`` and ``ingest.history_from_rows`` give it)."""
    listed = values[_CAMPAIGNS]
    campaign = json.loads(listed) if listed else values[_CAMPAIGN]
    if values[_KIND] == "event":
        return "event", (values[_EVENT] or "", values[_AT], campaign)
    status = values[_STATUS]
    ended = values[_ENDED]
    reason = None
    if status == "released" and (ended or "").startswith(VOID_MARK):  # 11.4: void, stored released
        status, reason = "void", ended[len(VOID_MARK):] or None
    warned = values[_WARNINGS]
    return "contact", (values[_ID], values[_AT], values[_CHANNEL] or "", values[_PURPOSE] or "", values[_TEAM] or "",
                       status or "sent", values[_OUTCOME], values[_EXPIRES], campaign, reason,
                       json.loads(warned) if warned else [])  # fmt: skip


# the contact columns in the order of _parts' tuple (coded ones by name, the rest plain)
_CONTACT = ("ids", "micros", "channel", "purpose", "team", "status", "outcome", "expires", "campaign", "void_reason",
            "warnings")
_EVENT_COLUMNS = ("event_names", "event_micros", "event_campaigns")
# an optional column's value for every entry when the digest leaves it out (None)
_DEFAULT: dict[str, Any] = {"expires": None, "campaign": None, "void_reason": None, "warnings": [],
                            "event_campaigns": None}


class _Columns:
    """A digest being built or patched: every column as a full list of values (words decoded)."""

    def __init__(self, customer: str) -> None:
        self.customer = customer
        self.columns: dict[str, list[Any]] = {name: [] for name in (*_CONTACT, *_EVENT_COLUMNS)}

    @classmethod
    def of(cls, digest: Digest) -> _Columns:
        made = cls(digest.customer)
        size, events = len(digest.ids), len(digest.event_names)
        for name in (*_CONTACT, *_EVENT_COLUMNS):
            value = getattr(digest, name)
            if name in CODED:
                value = _decoded_words(digest.words, value)
            elif value is None:
                value = [_DEFAULT[name]] * (events if name.startswith("event") else size)
            made.columns[name] = list(value)
        return made

    def insert_contact(self, fields: tuple[Any, ...]) -> None:
        at = bisect_right(self.columns["micros"], fields[1])
        for name, value in zip(_CONTACT, fields, strict=True):
            self.columns[name].insert(at, value)

    def insert_event(self, fields: tuple[Any, ...]) -> None:
        at = bisect_right(self.columns["event_micros"], fields[1])
        for name, value in zip(_EVENT_COLUMNS, fields, strict=True):
            self.columns[name].insert(at, value)

    def replace_contact(self, key: int, fields: tuple[Any, ...]) -> None:
        for name, value in zip(_CONTACT, fields, strict=True):
            self.columns[name][key] = value

    def digest(self) -> Digest:
        columns = self.columns
        words: list[str | None] = []
        index: dict[str | None, int] = {}
        coded: dict[str, Codes] = {}
        for name in CODED:
            codes = []
            for word in columns[name]:
                code = index.get(word)
                if code is None:
                    code = index[word] = len(words)
                    words.append(word)
                codes.append(code)
            coded[name] = codes
        if len(words) <= 256:
            coded = {name: bytes(codes) for name, codes in coded.items()}
        optional = {name: None if all(value == _DEFAULT[name] for value in columns[name]) else columns[name]
                    for name in _DEFAULT}  # fmt: skip
        return Digest(self.customer, words, columns["ids"], columns["micros"], coded["channel"], coded["purpose"],
                      coded["team"], coded["status"], coded["outcome"], optional["expires"], optional["campaign"],
                      optional["void_reason"], optional["warnings"], columns["event_names"], columns["event_micros"],
                      optional["event_campaigns"])  # fmt: skip


def from_values(customer: str, values: Sequence[tuple[Any, ...]]) -> Digest:
    """The digest of ``customer``'s rows as a decision's SELECT reads them (:data:`SOURCE`
    columns, ledger order)."""
    parts = _Columns(customer)
    contacts: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    for row in values:
        kind, fields = _parts(row)
        (events if kind == "event" else contacts).append(fields)
    for names, found in ((_CONTACT, contacts), (_EVENT_COLUMNS, events)):
        for name, column in zip(names, zip(*found, strict=True) if found else [()] * len(names), strict=True):
            parts.columns[name] = list(column)
    return parts.digest()


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Digest)


def encode(digest: Digest) -> bytes:
    """The stored form of a digest."""
    return _ENCODER.encode(digest)


def decode(body: bytes | None, customer: str) -> Digest | None:
    """The digest stored as ``body`` for ``customer``; None when there is none, or it is not one
    this code wrote for that customer (another form, columns of different lengths, a code
    naming no word): the rows are read then."""
    if body is None:
        return None
    try:
        found = _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    size, events, words = len(found.ids), len(found.event_names), len(found.words)
    if found.customer != customer or len(found.micros) != size or len(found.event_micros) != events:
        return None
    for codes in (found.channel, found.purpose, found.team, found.status, found.outcome):
        if len(codes) != size or (size and max(codes) >= words):
            return None
    for column in (found.expires, found.campaign, found.void_reason, found.warnings):
        if column is not None and len(column) != size:
            return None
    if found.event_campaigns is not None and len(found.event_campaigns) != events:
        return None
    return found

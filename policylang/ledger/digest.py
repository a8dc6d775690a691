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
from sys import intern
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
    """A digest's stored form: one customer's entries as columns, in ledger order (instant,
    then storage order).

    Contacts: ``ids``, ``micros`` (epoch microseconds), the coded columns (channel, purpose,
    team, status - void resolved, never None - and outcome), ``expires`` (deadlines, read for
    planned contacts), ``campaign`` (text, a list for 11.3's several), ``void_reason`` and
    ``warnings``; an optional column is None when every contact has its default. Events:
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


# the contact columns in the order of _parts' tuple, then the events'
_CONTACT = ("ids", "micros", "channel", "purpose", "team", "status", "outcome", "expires", "campaign", "void_reason",
            "warnings")
_EVENTS = ("event_names", "event_micros", "event_campaigns")
# an optional column's value for every entry when the digest leaves it out (None)
_DEFAULT: dict[str, Any] = {"expires": None, "campaign": None, "void_reason": None, "warnings": [],
                            "event_campaigns": None}


class Stored:
    """A customer's digest as read or written: the stored form and, once asked for, its coded
    columns as words (made when it is decoded, so a code naming no word is refused then)."""

    __slots__ = ("digest", "_texts", "body")

    def __init__(self, digest: Digest, texts: dict[str, list[Any]] | None = None, body: bytes | None = None) -> None:
        self.digest = digest
        self._texts = texts
        self.body = body  # the stored bytes it was decoded from (None: made or patched here)

    def texts(self) -> dict[str, list[Any]]:
        """The coded columns as their words."""
        if self._texts is None:
            self._texts = _texts(self.digest)
        return self._texts

    def history(self, now_us: int) -> History:
        """The evaluator's index, statuses as of ``now_us`` (a plan past its deadline is released)."""
        from policylang.history import History

        digest, texts = self.digest, self.texts()
        status = texts["status"]
        expires = digest.expires
        if expires is not None and "planned" in status:
            status = ["released" if state == "planned" and until is not None and until <= now_us else state
                      for state, until in zip(status, expires, strict=True)]  # fmt: skip
        columns: dict[str, list[Any]] = {"id": digest.ids, "customer": [digest.customer] * len(digest.ids),
                                         "channel": texts["channel"], "purpose": texts["purpose"],
                                         "team": texts["team"], "status": status, "outcome": texts["outcome"]}  # fmt: skip
        if digest.campaign is not None:
            columns["campaign"] = list(map(_campaign, digest.campaign))
        if digest.void_reason is not None:
            columns["void_reason"] = digest.void_reason
        if digest.warnings is not None:
            columns["warnings"] = list(map(tuple, digest.warnings))
        events: dict[str, list[int]] = {}
        campaigns: dict[str, list[tuple[int, Any]]] = {}
        if digest.event_names:
            for name, at in zip(digest.event_names, digest.event_micros, strict=True):
                events.setdefault(name, []).append(at)
            if digest.event_campaigns is not None:  # 11.3: kept for the names of which some event names one
                for name, at, campaign in zip(digest.event_names, digest.event_micros, digest.event_campaigns,
                                              strict=True):  # fmt: skip
                    campaigns.setdefault(name, []).append((at, _campaign(campaign)))
                campaigns = {name: pairs for name, pairs in campaigns.items()
                             if any(c is not None for _, c in pairs)}  # fmt: skip
        return History.from_columns(columns, digest.micros, events, campaigns)

    def window(self, now_us: int) -> tuple[int, int]:
        """The instants ``[lo, hi)`` around ``now_us`` at which :meth:`history` gives the same
        index: between the deadlines of planned contacts."""
        lo, hi = -(2**63), 2**63
        expires = self.digest.expires
        status = self.texts()["status"]
        if expires is not None and "planned" in status:
            for state, until in zip(status, expires, strict=True):
                if state == "planned" and until is not None:
                    if until <= now_us:
                        lo = max(lo, until)
                    else:
                        hi = min(hi, until)
        return lo, hi

    def columns(self) -> dict[str, list[Any]]:
        """Every column in full, words decoded and left-out columns filled with their default
        (what two digests of the same rows agree on, whatever the order of their words)."""
        digest, texts = self.digest, self.texts()
        out: dict[str, list[Any]] = {}
        for name in (*_CONTACT, *_EVENTS):
            value = texts[name] if name in CODED else getattr(digest, name)
            if value is None:
                value = [_DEFAULT[name]] * len(digest.event_names if name in _EVENTS else digest.ids)
            out[name] = list(value)
        return {"customer": [digest.customer], **out}

    def with_rows(self, rows: Sequence[tuple[Any, ...]]) -> Stored:
        """This digest with ``rows`` (decision tuples, :data:`SOURCE`) added, each after every
        entry at or before its instant (a new row is stored last)."""
        patch = _Patch(self.digest)
        for values in rows:
            kind, fields = _parts(values)
            names, instants = (_EVENTS, "event_micros") if kind == "event" else (_CONTACT, "micros")
            column = patch.fields[instants]
            at, size = bisect_right(column, fields[1]), len(column)
            for name, value in zip(names, fields, strict=True):
                patch.put(name, at, value, size, replace=False)
        return Stored(patch.digest())

    def with_update(self, values: tuple[Any, ...]) -> Stored | None:
        """This digest with the contact ``values`` (decision tuple) replacing the one of its id;
        None when the digest has no contact of that id at that instant (read the rows again)."""
        digest = self.digest
        try:
            at = digest.ids.index(values[_ID])
        except ValueError:
            return None
        kind, fields = _parts(values)
        if kind == "event" or fields[1] != digest.micros[at]:
            return None  # an update changes a contact's status, outcome and end, never its instant
        patch = _Patch(digest)
        for name, value in zip(_CONTACT, fields, strict=True):
            patch.put(name, at, value, len(digest.ids), replace=True)
        return Stored(patch.digest())


class _Patch:
    """A digest's fields being changed a value at a time (new containers, the old untouched)."""

    def __init__(self, digest: Digest) -> None:
        self.fields: dict[str, Any] = {name: getattr(digest, name) for name in digest.__struct_fields__}
        self.words: list[str | None] = list(digest.words)
        self.index = {word: code for code, word in enumerate(self.words)}
        self.fields["words"] = self.words

    def put(self, name: str, at: int, value: Any, size: int, *, replace: bool) -> None:
        """Insert ``value`` into column ``name`` (of ``size`` values) at ``at``, or replace the one there."""
        column = self.fields[name]
        end = at + 1 if replace else at
        if name in CODED:
            code = self.index.get(value)
            if code is None:
                code = self.index[value] = len(self.words)
                self.words.append(value)
            if isinstance(column, bytes) and code < 256:
                self.fields[name] = column[:at] + bytes((code,)) + column[end:]
            else:
                self.fields[name] = [*column[:at], code, *column[end:]]
            return
        if column is None:
            if value == _DEFAULT[name]:
                return
            column = [_DEFAULT[name]] * size
        self.fields[name] = [*column[:at], value, *column[end:]]

    def digest(self) -> Digest:
        return Digest(**self.fields)


def _campaign(value: Campaign) -> str | tuple[str, ...] | None:
    return tuple(value) if isinstance(value, list) else value


def _words(words: list[str | None], codes: Codes) -> list[Any]:
    """The words the ``codes`` name (one C call for the column); IndexError for a code naming none."""
    if len(codes) > 1:
        return list(itemgetter(*codes)(words))
    return [words[code] for code in codes]


def _texts(digest: Digest) -> dict[str, list[Any]]:
    # interned: the index codes (purpose, channel, team, status) by a table whose words are
    # interned, so each row's look-up compares by identity (history._coded)
    words = [intern(word) if type(word) is str else word for word in digest.words]
    return {"channel": _words(words, digest.channel), "purpose": _words(words, digest.purpose),
            "team": _words(words, digest.team), "status": _words(words, digest.status),
            "outcome": _words(words, digest.outcome)}  # fmt: skip


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


def from_values(customer: str, values: Sequence[tuple[Any, ...]]) -> Stored:
    """The digest of ``customer``'s rows as a decision's SELECT reads them (:data:`SOURCE`
    columns, ledger order): every value made by :func:`_parts`, the words coded once."""
    contacts: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    for row in values:
        kind, fields = _parts(row)
        (events if kind == "event" else contacts).append(fields)
    columns: dict[str, Any] = {}
    for names, found in ((_CONTACT, contacts), (_EVENTS, events)):
        for name, column in zip(names, zip(*found, strict=True) if found else [()] * len(names), strict=True):
            columns[name] = list(column)
    words: list[str | None] = []
    index: dict[str | None, int] = {}
    for name in CODED:
        codes = []
        for word in columns[name]:
            code = index.get(word)
            if code is None:
                code = index[word] = len(words)
                words.append(word)
            codes.append(code)
        columns[name] = codes
    if len(words) <= 256:
        columns.update({name: bytes(columns[name]) for name in CODED})
    for name, default in _DEFAULT.items():  # left out when every entry has the default
        if all(value == default for value in columns[name]):
            columns[name] = None
    return Stored(Digest(customer=customer, words=words, **columns))


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Digest)


def encode(stored: Stored) -> bytes:
    """The stored form of a digest."""
    return _ENCODER.encode(stored.digest)


def decode(body: bytes | None, customer: str) -> Stored | None:
    """The digest stored as ``body`` for ``customer``, its words decoded; None when there is
    none, or it is not one this code wrote for that customer (another form, columns of
    different lengths, a code naming no word): the rows are read then."""
    if body is None:
        return None
    try:
        found = _DECODER.decode(body)
        texts = _texts(found)
    except (msgspec.DecodeError, msgspec.ValidationError, IndexError):
        return None
    size, events = len(found.ids), len(found.event_names)
    if found.customer != customer or len(found.micros) != size or len(found.event_micros) != events:
        return None
    if any(len(column) != size for column in texts.values()):
        return None
    for column in (found.expires, found.campaign, found.void_reason, found.warnings):
        if column is not None and len(column) != size:
            return None
    if found.event_campaigns is not None and len(found.event_campaigns) != events:
        return None
    return Stored(found, texts, body)

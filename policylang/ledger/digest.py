"""A customer's digest (SQLite, schema version 6): what a decision reads of the customer's
rows, kept as columns in one msgpack value, so a decision reads one row of the store and
builds the evaluator's index from whole columns.

A digest is derived from the rows and is never the only copy of anything. Everything about
its form lives here: :func:`from_values` builds it from the rows a decision's SELECT reads
(the reference), :meth:`Stored.with_rows` and :meth:`Stored.with_update` keep it in step
with a transaction's writes, :func:`encode` and :func:`decode` store and read it (a body of
another form, or one whose columns disagree, is refused: the rows are read instead), and
:meth:`Stored.history` is the evaluator's index, exactly what ``ingest.history_from_rows``
gives of the same rows.

Every value a row contributes is computed once, when the row is written, by :func:`_parts`:
an entry's columns as the index wants them (a contact's channel, purpose and team as text,
``"sent"`` for no status, a void contact's status and reason, campaign lists) - so a read
does no work per row but apply a planned contact's deadline. Repeated words (channel,
purpose, team, status, outcome) are stored once each, the columns as their codes (one byte a
row while a customer has at most 256 distinct words).

Form 2 (this one) stores each contact's (purpose, channel, team, status) as one code into the
customer's distinct *shapes* (one byte a row while the customer has at most 256), each shape
its four word codes: the index codes a customer's contacts by their few shapes (a C pass over
the bytes) instead of one tuple and one look-up a row, and decodes a column of words only
when the evaluator reads that column. The ids are kept as their msgpack bytes, decoded when a
contact is first made. Form 1 (schema version 6's first digests: the coded columns one by
one) is still read, and written again in form 2 at the customer's next write.
"""

from __future__ import annotations

import functools
import json
from bisect import bisect_right
from collections.abc import Sequence
from operator import itemgetter
from sys import intern
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from policylang.ledger.rows import VOID_MARK, LedgerError
from policylang.ledger.schema import DECISION_COLUMNS, SCHEMA_VERSION

if TYPE_CHECKING:
    from policylang.history import History, Shapes

# What a digest is built from: the columns of a decision's SELECT (schema.DECISION_COLUMNS),
# each found by its name (a column renamed or dropped there fails here, at import)
SOURCE = DECISION_COLUMNS[SCHEMA_VERSION]
(_ID, _KIND, _AT, _CHANNEL, _PURPOSE, _TEAM, _STATUS, _OUTCOME, _CAMPAIGN, _EVENT, _EXPIRES, _ENDED, _CAMPAIGNS,
 _WARNINGS) = map(SOURCE.index, ("id", "kind", "at_us", "channel", "purpose", "team", "status", "outcome", "campaign",
                                 "event", "expires_us", "ended", "campaigns", "warnings"))  # fmt: skip

Campaign = str | list[str] | None
# a column of codes into the words (or the shapes): bytes while every code is below 256, else a list
Codes = bytes | list[Annotated[int, msgspec.Meta(ge=0)]]
FORM = 2  # the form this code writes (form 1: Digest1, read only)


class Digest(msgspec.Struct, array_like=True, gc=False):
    """A digest's stored form: one customer's entries as columns, in ledger order (instant,
    then storage order).

    ``form`` is :data:`FORM`. Contacts: ``ids`` (a msgpack list of text, kept encoded),
    ``micros`` (epoch microseconds), ``shapes`` (each contact's code into the shapes), each
    shape's key (:func:`shape_key`: the JSON text of its purpose, channel, team and status -
    void resolved, never None), ``outcome`` (codes into ``words``), ``expires`` (deadlines, read for planned
    contacts), ``campaign`` (text, a list for 11.3's several), ``void_reason`` and
    ``warnings``; an optional column is None when every contact has its default. Events:
    names, instants and campaigns.
    """

    form: int
    customer: str
    words: list[str | None]
    ids: msgspec.Raw
    micros: list[int]
    shapes: Codes
    shape_keys: list[str]
    outcome: Codes
    expires: list[int | None] | None
    campaign: list[Campaign] | None
    void_reason: list[str | None] | None
    warnings: list[list[str]] | None
    event_names: list[str]
    event_micros: list[int]
    event_campaigns: list[Campaign] | None


class Digest1(msgspec.Struct, array_like=True, gc=False):
    """Form 1 (read only): the coded columns one by one, the ids decoded."""

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


# a contact's values in the order of _parts' tuple (what columns() names them), then the events'
_CONTACT = ("ids", "micros", "channel", "purpose", "team", "status", "outcome", "expires", "campaign", "void_reason",
            "warnings")
_EVENTS = ("event_names", "event_micros", "event_campaigns")
# the optional contact columns (after the coded ones in _CONTACT)
_OPTIONAL = ("expires", "campaign", "void_reason", "warnings")
# an optional column's value for every entry when the digest leaves it out (None)
_DEFAULT: dict[str, Any] = {"expires": None, "campaign": None, "void_reason": None, "warnings": [],
                            "event_campaigns": None}
# a shape's words in the evaluator's order (history.Quad): purpose, channel, team, status
Shape = tuple[str, str, str, str]

_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Digest)
_DECODER1 = msgspec.msgpack.Decoder(Digest1)
_IDS = msgspec.msgpack.Decoder(list[str])


class DamagedDigest(LedgerError):
    """A stored digest whose ids do not decode: found when a read first makes a contact (a
    read does not decode the ids before); a write transaction checks them first and writes
    the digest again from the rows (``sqlite._SQLiteTxn``)."""


class Stored:
    """A customer's digest as read or written: the stored form, and (made when first asked
    for) its words interned, its shapes as words and its ids."""

    __slots__ = ("digest", "body", "_words", "_shapes", "_ids")

    def __init__(self, digest: Digest, body: bytes | None = None, ids: list[str] | None = None) -> None:
        self.digest = digest
        self.body = body  # the stored bytes it was decoded from (None: made or patched here)
        self._words: list[Any] | None = None
        self._shapes: Shapes | None = None
        self._ids = ids

    def words(self) -> list[Any]:
        """The words, interned: the index codes shapes by a table whose words are interned, so
        a look-up compares by identity (and the evaluator's string compares too)."""
        found = self._words
        if found is None:
            found = self._words = [intern(word) if type(word) is str else word for word in self.digest.words]
        return found

    def shapes(self) -> Shapes:
        """The distinct (purpose, channel, team, status), coded (``history.shapes_of``: a key
        is parsed once per process); ValueError for a key that :func:`shape_key` does not write."""
        found = self._shapes
        if found is None:
            from policylang.history import shapes_of

            found = self._shapes = shapes_of(self.digest.shape_keys, _shape)
        return found

    def ids(self) -> list[str]:
        """The contacts' ids (decoded on first use)."""
        found = self._ids
        if found is None:
            try:
                found = self._ids = _IDS.decode(self.digest.ids)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise DamagedDigest(f"the stored digest of customer {self.digest.customer!r} is damaged ({exc})",
                                    hint="any write to that customer's entries writes it again from the rows "
                                         "(or delete its row of the digests table)") from None  # fmt: skip
        return found

    def history(self, now_us: int) -> History:
        """The evaluator's index, statuses as of ``now_us`` (a plan past its deadline is released)."""
        from policylang.history import History

        digest = self.digest
        shapes, codes = self.shapes(), digest.shapes
        if digest.expires is not None:
            codes, shapes = _released(codes, shapes, digest.shape_keys, digest.expires, now_us)
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
        return History.from_shapes(Columns(self, codes, shapes), digest.micros, codes, shapes, events, campaigns)

    def window(self, now_us: int) -> tuple[int, int]:
        """The instants ``[lo, hi)`` around ``now_us`` at which :meth:`history` gives the same
        index: between the deadlines of planned contacts."""
        lo, hi = -(2**63), 2**63
        expires = self.digest.expires
        if expires is not None:
            planned = set(self.shapes().having("planned"))
            for code, until in zip(self.digest.shapes, expires, strict=True):
                if code in planned and until is not None:
                    if until <= now_us:
                        lo = max(lo, until)
                    else:
                        hi = min(hi, until)
        return lo, hi

    def columns(self) -> dict[str, list[Any]]:
        """Every column in full, words decoded and left-out columns filled with their default
        (what two digests of the same rows agree on, whatever the order of their words)."""
        digest = self.digest
        size = len(digest.micros)
        by_row = list(map(self.shapes().shapes.__getitem__, digest.shapes))
        out: dict[str, list[Any]] = {"ids": list(self.ids()), "micros": list(digest.micros)}
        for name, place in (("channel", 1), ("purpose", 0), ("team", 2), ("status", 3)):
            out[name] = [shape[place] for shape in by_row]
        out["outcome"] = _words(self.words(), digest.outcome)
        for name in _OPTIONAL:
            value = getattr(digest, name)
            out[name] = list(value) if value is not None else [_DEFAULT[name]] * size
        for name in _EVENTS:
            value = getattr(digest, name)
            out[name] = list(value) if value is not None else [_DEFAULT[name]] * len(digest.event_names)
        return {"customer": [digest.customer], **{name: out[name] for name in (*_CONTACT, *_EVENTS)}}

    def with_rows(self, rows: Sequence[tuple[Any, ...]]) -> Stored:
        """This digest with ``rows`` (decision tuples, :data:`SOURCE`) added, each after every
        entry at or before its instant (a new row is stored last)."""
        patch = _Patch(self, many=len(rows) > 4)
        for values in rows:
            kind, fields = _parts(values)
            if kind == "event":
                patch.event(fields)
            else:
                patch.contact(bisect_right(patch.micros, fields[1]), fields, replace=False)
        return patch.stored()

    def with_update(self, values: tuple[Any, ...]) -> Stored | None:
        """This digest with the contact ``values`` (decision tuple) replacing the one of its id;
        None when the digest has no contact of that id at that instant (read the rows again)."""
        try:
            at = self.ids().index(values[_ID])
        except ValueError:
            return None
        kind, fields = _parts(values)
        if kind == "event" or fields[1] != self.digest.micros[at]:
            return None  # an update changes a contact's status, outcome and end, never its instant
        patch = _Patch(self)
        patch.contact(at, fields, replace=True)
        return patch.stored()


class Columns:
    """A digest's contact columns as :class:`History` reads them (a mapping of field name to
    one value per contact, in ledger order; a field left out has its default for every
    contact), each column made from the digest when first read."""

    __slots__ = ("_stored", "_codes", "_shapes", "_made")

    def __init__(self, stored: Stored, codes: Codes, shapes: Shapes) -> None:
        self._stored = stored
        self._codes = codes  # the contacts' shape codes as of the index's instant (deadlines applied)
        self._shapes = shapes
        self._made: dict[str, list[Any] | None] = {}

    def __contains__(self, name: object) -> bool:
        if name in _ALWAYS:
            return True
        return name in _LEFT_OUT and getattr(self._stored.digest, name) is not None

    def __getitem__(self, name: str) -> list[Any]:
        found = self.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def get(self, name: str, default: None = None) -> list[Any] | None:
        """The column ``name``; None when left out (every contact has the field's default)."""
        made = self._made
        if name in made:
            return made[name]
        found: list[Any] | None = None
        stored = self._stored
        digest = stored.digest
        place = _PLACE.get(name)
        if place is not None:  # a word of the shape: the shapes' words, then one C pass over the codes
            found = list(map(list(map(itemgetter(place), self._shapes.shapes)).__getitem__, self._codes))
        elif name == "outcome":
            found = _words(stored.words(), digest.outcome)
        elif name == "id":
            found = stored.ids()
        elif name == "customer":
            found = [digest.customer] * len(digest.micros)
        elif name == "campaign":
            found = list(map(_campaign, digest.campaign)) if digest.campaign is not None else None
        elif name == "warnings":
            found = list(map(tuple, digest.warnings)) if digest.warnings is not None else None
        elif name == "void_reason":
            found = digest.void_reason
        made[name] = found
        return found


# the contact fields a digest always holds, and those it leaves out when every contact has the default
_ALWAYS = frozenset(("id", "customer", "channel", "purpose", "team", "status", "outcome"))
_LEFT_OUT = frozenset(("campaign", "void_reason", "warnings"))
@functools.lru_cache(maxsize=4096)  # a write's new contact has one of the policy's few shapes
def shape_key(purpose: str, channel: str, team: str, status: str) -> str:
    """A shape as a digest stores it: the JSON text of its four words."""
    return json.dumps([purpose, channel, team, status], ensure_ascii=False, separators=(",", ":"))


def _shape(key: str) -> Shape:
    """The shape written as ``key`` (interned words); ValueError when it is not one."""
    words = json.loads(key)
    if type(words) is not list or len(words) != 4 or any(type(word) is not str for word in words):
        raise ValueError(f"not a shape: {key!r}")
    return (intern(words[0]), intern(words[1]), intern(words[2]), intern(words[3]))


_PLACE = {"purpose": 0, "channel": 1, "team": 2, "status": 3}


def _released(codes: Codes, shapes: Shapes, keys: list[str], expires: list[int | None],
              now_us: int) -> tuple[Codes, Shapes]:  # fmt: skip
    """The shape codes and shapes as of ``now_us``: a planned contact whose deadline has passed
    is released (a shape of its own, added after the stored ones)."""
    planned = set(shapes.having("planned"))
    if not planned or not any(map(codes.__contains__, planned)):
        return codes, shapes
    changed: list[int] | None = None
    added: dict[int, int] = {}
    for key, until in enumerate(expires):
        if until is not None and until <= now_us and codes[key] in planned:
            if changed is None:
                changed, keys = list(codes), list(keys)
            code = codes[key]
            new = added.get(code)
            if new is None:
                new = added[code] = len(keys)
                keys.append(shape_key(*shapes.shapes[code][:3], "released"))
            changed[key] = new
    if changed is None:
        return codes, shapes
    from policylang.history import shapes_of

    return _packed(changed), shapes_of(keys, _shape)


class _Patch:
    """A digest's fields being changed a row at a time (new containers, the old untouched)."""

    def __init__(self, stored: Stored, *, many: bool = False) -> None:
        digest = stored.digest
        self.customer = digest.customer
        self.words: list[str | None] = list(digest.words)
        self.shapes: list[str] = list(digest.shape_keys)
        # the codes of the words and shapes by a look-up table for a patch of many contacts; a
        # patch of one (a reservation's) looks each up in the short list itself (no table built)
        self.index: dict[str | None, int] | None = None
        self.shape_index: dict[str, int] | None = None
        if many:
            self.index = {word: code for code, word in enumerate(self.words)}
            self.shape_index = {shape: code for code, shape in enumerate(self.shapes)}
        self.ids = list(stored.ids())
        self.micros = list(digest.micros)
        # spliced as bytes while every code fits in one (a list: the patch's own, changed in place)
        self.codes: Codes = digest.shapes if type(digest.shapes) is bytes else list(digest.shapes)
        self.outcome: Codes = digest.outcome if type(digest.outcome) is bytes else list(digest.outcome)
        size = len(self.micros)
        self.optional: dict[str, Any] = {name: (list(column) if (column := getattr(digest, name)) is not None
                                                             else None) for name in _OPTIONAL}  # fmt: skip
        self.size = size
        self.events: dict[str, Any] = {name: getattr(digest, name) for name in _EVENTS}
        self.replaced = False

    def code(self, word: str | None) -> int:
        return _code_of(word, self.words, self.index)

    def contact(self, at: int, fields: tuple[Any, ...], *, replace: bool) -> None:
        """Insert the contact ``fields`` (:func:`_parts`) at position ``at``, or replace the one there."""
        end = at + 1 if replace else at
        row_id, micros, channel, purpose, team, status, outcome = fields[:7]
        code = _code_of(shape_key(purpose, channel, team, status), self.shapes, self.shape_index)
        self.ids[at:end] = [row_id]
        self.micros[at:end] = [micros]
        self.codes = _spliced(self.codes, at, end, code)
        self.outcome = _spliced(self.outcome, at, end, self.code(outcome))
        for name, value in zip(_OPTIONAL, fields[7:], strict=True):
            column = self.optional[name]
            if column is None:
                if value == _DEFAULT[name]:
                    continue
                column = self.optional[name] = [_DEFAULT[name]] * self.size
            column[at:end] = [value]  # a copy of the stored digest's (__init__)
        if not replace:
            self.size += 1
        self.replaced = self.replaced or replace

    def event(self, fields: tuple[Any, ...]) -> None:
        """Add the event ``fields`` (:func:`_parts`) after every event at or before its instant."""
        events = self.events
        at, size = bisect_right(events["event_micros"], fields[1]), len(events["event_names"])
        for name, value in zip(_EVENTS, fields, strict=True):
            column = events[name]
            if column is None:
                if value == _DEFAULT[name]:
                    continue
                column = [_DEFAULT[name]] * size
            events[name] = [*column[:at], value, *column[at:]]

    def stored(self) -> Stored:
        shapes, codes = self.shapes, self.codes
        if self.replaced and len(set(codes)) < len(shapes):  # a shape no contact has any more: dropped
            used = sorted(set(codes))
            renumber = {old: new for new, old in enumerate(used)}
            shapes, codes = [shapes[old] for old in used], list(map(renumber.__getitem__, codes))
        made = Digest(form=FORM, customer=self.customer, words=self.words,
                      ids=msgspec.Raw(_ENCODER.encode(self.ids)), micros=self.micros, shapes=_packed(codes),
                      shape_keys=shapes, outcome=_packed(self.outcome), **self.optional, **self.events)  # fmt: skip
        return Stored(made, ids=self.ids)


def _code_of(word: Any, words: list[Any], index: dict[Any, int] | None) -> int:
    """The code of ``word`` among ``words`` (added last when new), by ``index`` (kept in step)
    when given, else by a search of the list."""
    if index is None:
        try:
            return words.index(word)
        except ValueError:
            words.append(word)
            return len(words) - 1
    code = index.get(word)
    if code is None:
        code = index[word] = len(words)
        words.append(word)
    return code


def _spliced(column: Codes, at: int, end: int, code: int) -> Codes:
    """``column`` with ``code`` in place of its items ``[at, end)``: new bytes while every code
    fits in one, else a list (changed in place: a patch's own)."""
    if type(column) is bytes:
        if code < 256:
            return column[:at] + bytes((code,)) + column[end:]
        column = list(column)
    assert isinstance(column, list)
    column[at:end] = [code]
    return column


def _packed(codes: Codes) -> Codes:
    """A column of codes as stored: bytes while every code is below 256."""
    if type(codes) is bytes:
        return codes
    return bytes(codes) if not codes or max(codes) < 256 else codes


def _campaign(value: Campaign) -> str | tuple[str, ...] | None:
    return tuple(value) if isinstance(value, list) else value


def _words(words: list[Any], codes: Codes) -> list[Any]:
    """The words the ``codes`` name (one C call for the column); IndexError for a code naming none."""
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


def from_values(customer: str, values: Sequence[tuple[Any, ...]]) -> Stored:
    """The digest of ``customer``'s rows as a decision's SELECT reads them (:data:`SOURCE`
    columns, ledger order): every value made by :func:`_parts`, the words coded once."""
    contacts: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    for row in values:
        kind, fields = _parts(row)
        (events if kind == "event" else contacts).append(fields)
    return _assembled(customer, contacts, events)


def _assembled(customer: str, contacts: list[tuple[Any, ...]], events: list[tuple[Any, ...]]) -> Stored:
    """The digest of contacts and events given as :func:`_parts` tuples, in ledger order."""
    empty = _Patch(Stored(_EMPTY), many=True)
    empty.customer = customer
    empty.codes, empty.outcome = [], []  # appended to in place (packed when stored)
    for at, fields in enumerate(contacts):
        empty.contact(at, fields, replace=False)
    for name, column in zip(_EVENTS, zip(*events, strict=True) if events else [()] * len(_EVENTS), strict=True):
        empty.events[name] = list(column)
    if all(value is None for value in empty.events["event_campaigns"] or ()):
        empty.events["event_campaigns"] = None
    return empty.stored()


_EMPTY = Digest(form=FORM, customer="", words=[], ids=msgspec.Raw(_ENCODER.encode([])), micros=[], shapes=b"",
                shape_keys=[], outcome=b"", expires=None,
                campaign=None, void_reason=None, warnings=None, event_names=[], event_micros=[],
                event_campaigns=None)  # fmt: skip


def encode(stored: Stored) -> bytes:
    """The stored form of a digest."""
    return _ENCODER.encode(stored.digest)


def _array_size(raw: msgspec.Raw) -> int:
    """How many items the msgpack array ``raw`` holds (-1: not an array)."""
    view = memoryview(raw)
    if not view:
        return -1
    head = view[0]
    if 0x90 <= head <= 0x9F:
        return head & 0x0F
    if head == 0xDC and len(view) >= 3:
        return int.from_bytes(view[1:3], "big")
    if head == 0xDD and len(view) >= 5:
        return int.from_bytes(view[1:5], "big")
    return -1


# the bytes below n, for each n: what bytes.translate deletes to leave the codes naming nothing
_BELOW = [bytes(range(n)) for n in range(257)]


def _below(codes: Codes, bound: int) -> bool:
    """Whether every code is below ``bound`` (for bytes, one C pass making no objects)."""
    if isinstance(codes, bytes):
        return not codes.translate(None, _BELOW[min(bound, 256)])
    return not codes or max(codes) < bound


def decode(body: bytes | None, customer: str) -> Stored | None:
    """The digest stored as ``body`` for ``customer``; None when there is none, or it is not
    one this code wrote for that customer (another form, columns of different lengths, a
    code naming no word or no shape): the rows are read then. A form 1 digest is read into
    form 2 (written so at the customer's next write)."""
    if body is None:
        return None
    try:
        found = _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _decode1(body, customer)
    size, events, count = len(found.micros), len(found.event_names), len(found.shape_keys)
    if found.form != FORM or found.customer != customer or _array_size(found.ids) != size:
        return None
    if len(found.shapes) != size or len(found.outcome) != size or len(found.event_micros) != events:
        return None
    if not _below(found.shapes, count) or not _below(found.outcome, len(found.words)):
        return None
    for column in (found.expires, found.campaign, found.void_reason, found.warnings):
        if column is not None and len(column) != size:
            return None
    if found.event_campaigns is not None and len(found.event_campaigns) != events:
        return None
    stored = Stored(found, body)
    try:
        stored.shapes()  # (a look-up a shape: made once per process and shape)
    except ValueError:
        return None
    return stored


def _decode1(body: bytes, customer: str) -> Stored | None:
    """A form 1 digest read into form 2 (None when it is not one either)."""
    try:
        old = _DECODER1.decode(body)
        words = [intern(word) if type(word) is str else word for word in old.words]
        coded = {name: _words(words, getattr(old, name)) for name in ("channel", "purpose", "team", "status",
                                                                       "outcome")}  # fmt: skip
    except (msgspec.DecodeError, msgspec.ValidationError, IndexError):
        return None
    size, events = len(old.ids), len(old.event_names)
    if old.customer != customer or len(old.micros) != size or len(old.event_micros) != events:
        return None
    if any(len(column) != size for column in coded.values()):
        return None
    for column in (old.expires, old.campaign, old.void_reason, old.warnings):
        if column is not None and len(column) != size:
            return None
    if old.event_campaigns is not None and len(old.event_campaigns) != events:
        return None
    optional = [getattr(old, name) or [_DEFAULT[name]] * size for name in _OPTIONAL]
    contacts = list(zip(old.ids, old.micros, coded["channel"], coded["purpose"], coded["team"], coded["status"],
                        coded["outcome"], *optional, strict=True))  # fmt: skip
    happened = list(zip(old.event_names, old.event_micros, old.event_campaigns or [None] * events, strict=True))
    return _assembled(customer, contacts, happened)

"""A customer's ledger, indexed once for many decisions.

The evaluator asks the same questions again and again: the counted contacts matching a
rule's selector, in time order; the instants of an event. :class:`History` sorts the
entries once and caches each selector's matches, so a decision costs a few binary
searches per rule instead of a scan of the ledger.

A history is built either from records (:class:`Contact`, :class:`Event`) or, by
:mod:`policylang.ingest`, from columns (one list per field, instants as epoch
microseconds). From columns, a :class:`Contact` object is made only when the evaluator
looks at that contact (to describe it, or to hold it against a request), and always the
same object for the same contact, since precedence tells contacts apart by identity.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress, repeat
from operator import attrgetter, eq, floordiv, mul, sub
from typing import Any, overload

from policylang.clock import EPOCH, ONE_US
from policylang.records import COUNTED_STATUSES, Contact, Entry, Event, VoidLine, in_campaign, resolve_voids
from policylang.rules import Match

UTC = dt.timezone.utc
Matched = tuple[list[int], Sequence[Contact]]
FIELDS = ("at", "channel", "purpose", "team", "status", "outcome", "campaign", "id", "customer", "void_reason",
          "warnings")


class LazyContacts(Sequence[Contact]):
    """Contacts given by their keys, each made on first access (and then the same object)."""

    __slots__ = ("_keys", "_make")

    def __init__(self, make: Callable[[int], Contact], keys: list[int]) -> None:
        self._make = make
        self._keys = keys

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, index: int) -> Contact: ...

    @overload
    def __getitem__(self, index: slice) -> list[Contact]: ...

    def __getitem__(self, index: int | slice) -> Contact | list[Contact]:
        if isinstance(index, slice):
            return list(map(self._make, self._keys[index]))
        return self._make(self._keys[index])

    def __iter__(self) -> Iterator[Contact]:
        return map(self._make, self._keys)


class History:
    """A customer's contacts and events, sorted, with per-selector indexes."""

    __slots__ = ("size", "counted", "counted_us", "events", "has_planned", "planned", "voided", "event_campaigns",
                 "_cache", "_shapes", "_fields", "_columns", "_made", "_keys", "_micros")

    def __init__(self, entries: Iterable[Entry | VoidLine] = ()) -> None:
        entries = entries if isinstance(entries, list) else list(entries)
        kinds = set(map(type, entries))
        if VoidLine in kinds:  # 11.4: void lines mark the entries they name
            entries = resolve_voids(entries)
            kinds = set(map(type, entries))
        if not kinds <= {Contact, Event}:
            for entry in entries:
                if not isinstance(entry, (Contact, Event)):
                    raise TypeError(f"a ledger holds Contact and Event entries, not {type(entry).__name__}")
        events: dict[str, list[int]] = {}
        campaigns: dict[str, list[tuple[int, Any]]] = {}
        contacts: list[Contact] = entries  # type: ignore[assignment]
        if Event in kinds:
            flags = [type(entry) is Contact or isinstance(entry, Contact) for entry in entries]
            for entry in compress(entries, [not flag for flag in flags]):
                assert isinstance(entry, Event)
                us = (entry.at - EPOCH) // ONE_US
                events.setdefault(entry.name, []).append(us)
                campaigns.setdefault(entry.name, []).append((us, entry.campaign))
            contacts = list(compress(entries, flags))  # type: ignore[arg-type]
        # Column at a time, so the per-entry work is done in C.
        micros = epoch_micros(list(map(_AT, contacts)))
        # A stable sort of positions by instant: ties keep the ledger's order.
        order = sorted(range(len(contacts)), key=micros.__getitem__)
        statuses = list(map(_STATUS, contacts))
        if not set(statuses) <= {"sent"}:
            order = [k for k in order if statuses[k] in COUNTED_STATUSES]
        self.counted: Sequence[Contact] = list(map(contacts.__getitem__, order))
        self.counted_us = list(map(micros.__getitem__, order))
        self.planned = [contacts[k] for k in order if statuses[k] == "planned"]
        # 11.4: void contacts count for nothing; the trace still names them
        self.voided: list[Contact] = [c for c in contacts if c.status == "void"] if "void" in statuses else []
        self._columns: dict[str, list[Any]] | None = None
        self._keys: list[int] = []
        self._made: dict[int, Contact] = {}
        self._micros: list[int] = []
        self._finish(len(contacts), events)
        # 11.3: events with campaigns, kept only when some event names one
        self.event_campaigns = {name: sorted(pairs, key=lambda p: p[0]) for name, pairs in campaigns.items()
                                if any(c is not None for _, c in pairs)}

    @classmethod
    def from_columns(cls, columns: dict[str, list[Any]], micros: list[int], events: dict[str, list[int]],
                     event_campaigns: dict[str, list[tuple[int, Any]]] | None = None) -> History:  # fmt: skip
        """A history from validated contact columns.

        ``columns`` maps each :class:`Contact` field to a list (one value per contact, in
        ledger order; ``at`` holds aware datetimes, made UTC when a contact is made, and
        ``micros`` the same instants as epoch microseconds; without ``at`` the instants
        are made from ``micros``); another field left out has its default for every contact. ``events`` maps an
        event name to its instants, in any order; ``event_campaigns`` an event name to its
        (instant, campaign) pairs when some event of that name names a campaign (11.3).
        """
        history = cls.__new__(cls)
        size = len(micros)
        statuses = columns.get("status")
        # Sorting positions by instant is stable, so ties keep the ledger's order.
        order = sorted(range(size), key=micros.__getitem__)
        if statuses is not None:
            order = [k for k in order if statuses[k] in COUNTED_STATUSES]
        history._columns = columns
        history._keys = order
        history._made = {}
        history._micros = micros
        history.counted_us = list(map(micros.__getitem__, order))
        history.counted = LazyContacts(history._contact, order)
        history.planned = [history._contact(k) for k in order if statuses[k] == "planned"] if statuses else []
        history.voided = [history._contact(k) for k in range(size) if statuses[k] == "void"] if statuses else []
        history.event_campaigns = {name: sorted(pairs, key=lambda p: p[0])
                                   for name, pairs in (event_campaigns or {}).items()}
        history._finish(size, events)
        return history

    def plus(self, contact: Contact, displaced: Sequence[Contact] = ()) -> History | None:
        """This ledger with ``contact`` added and the ``displaced`` contacts (made by this
        history) marked displaced, as a new history built from columns; ``None`` for a
        history built from records (rebuild it from the records then)."""
        if self._columns is None:
            return None
        size = len(self._micros)
        columns = {name: list(self._columns[name]) if name in self._columns else [_DEFAULTS[name]] * size
                   for name in FIELDS if name != "at" or "at" in self._columns}
        if displaced:
            gone = {id(c) for c in displaced}
            statuses = columns["status"]
            for key, made in self._made.items():
                if id(made) in gone:
                    statuses[key] = "displaced"
        for name, values in columns.items():
            values.append(getattr(contact, name))
        micros = [*self._micros, (contact.at - EPOCH) // ONE_US]
        return History.from_columns(columns, micros, {name: list(times) for name, times in self.events.items()},
                                    self.event_campaigns)

    def _finish(self, size: int, events: dict[str, list[int]]) -> None:
        self.size = size
        self.events = {name: sorted(times) for name, times in events.items()}
        self.has_planned = bool(self.planned)
        self._cache: dict[tuple[Any, ...], tuple[Match, Matched]] = {}
        self._shapes: dict[tuple[str, str, str], list[int]] | None = None
        self._fields: dict[str, list[Any]] = {}

    def _contact(self, key: int) -> Contact:
        """The contact at ledger position ``key`` of the columns, made once."""
        made = self._made.get(key)
        if made is None:
            columns = self._columns
            assert columns is not None
            contact: Contact = object.__new__(Contact)
            for name in FIELDS:
                column = columns.get(name)
                # The columns were validated and ``at`` is UTC already: attrs' converter
                # would change nothing, so the frozen slots are filled directly.
                _SETTERS[name](contact, column[key] if column is not None else _DEFAULTS[name])
            if "at" not in columns:  # a store's rows: the instant is kept as an integer
                _SETTERS["at"](contact, EPOCH + dt.timedelta(microseconds=self._micros[key]))
            elif contact.at.tzinfo is not UTC:
                _SETTERS["at"](contact, contact.at.astimezone(UTC))
            made = self._made[key] = contact
        return made

    def __len__(self) -> int:
        return self.size + sum(len(v) for v in self.events.values())

    def field(self, name: str) -> list[Any]:
        """One field of the counted contacts, in their time order."""
        found = self._fields.get(name)
        if found is None:
            columns = self._columns
            if columns is None:
                found = list(map(attrgetter(name), self.counted))
            else:
                column = columns.get(name)
                found = (list(map(column.__getitem__, self._keys)) if column is not None
                         else [_DEFAULTS[name]] * len(self._keys))
            self._fields[name] = found
        return found

    def matching(self, match: Match, owner: str | None, *, sent_only: bool = False,
                 outcome: str | frozenset[str] | None = None, group: str | None = None, value: object = None,
                 drop: frozenset[str] = frozenset()) -> Matched:
        """Counted contacts matching ``match``, in time order.

        Optionally only sent ones, only those with ``outcome`` (or one of a set), only
        those whose ``group`` attribute (team, channel, purpose, campaign) equals
        ``value``; ``drop`` leaves out sent contacts with one of those outcomes (11.3).
        """
        key = (id(match), owner, sent_only, outcome, group, value, drop)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is match:
            return hit[1]
        # Test each distinct (purpose, channel, team) once, not each contact: a ledger has
        # few shapes, and a fresh index (one decision per call) is the common case.
        shapes = self._shapes
        if shapes is None:
            # Grouped in one pass in time order, so each shape's positions are in time order.
            shapes = self._shapes = {}
            add = shapes.setdefault
            for position, shape in enumerate(zip(self.field("purpose"), self.field("channel"), self.field("team"), strict=True)):
                add(shape, []).append(position)
        verdicts = _verdicts(match, owner)
        chosen: list[int] = []
        groups = 0
        for shape, positions in shapes.items():
            verdict = verdicts.get(shape)
            if verdict is None:
                verdict = verdicts[shape] = match.matches(shape[0], shape[1], shape[2], owner)
            if verdict:
                chosen.extend(positions)
                groups += 1
        if groups > 1:
            chosen.sort()  # back to time order
        if sent_only:
            statuses = self.field("status")
            chosen = list(compress(chosen, map(eq, map(statuses.__getitem__, chosen), repeat("sent"))))
        if isinstance(outcome, frozenset):
            outcomes = self.field("outcome")
            chosen = list(compress(chosen, map(outcome.__contains__, map(outcomes.__getitem__, chosen))))
        elif outcome is not None:
            outcomes = self.field("outcome")
            chosen = [i for i in chosen if outcomes[i] == outcome]
        if drop:
            outcomes, statuses = self.field("outcome"), self.field("status")
            chosen = [i for i in chosen if not (outcomes[i] in drop and statuses[i] == "sent")]
        if group == "campaign":
            values = self.field(group)
            chosen = [i for i in chosen if in_campaign(values[i], value)]
        elif group is not None:
            values = self.field(group)
            chosen = [i for i in chosen if values[i] == value]
        result = (list(map(self.counted_us.__getitem__, chosen)), LazyContacts(self.counted.__getitem__, chosen))
        self._cache[key] = (match, result)
        return result

    def event_times(self, name: str, campaign: object = None) -> list[int]:
        """The instants of an event; with ``campaign``, those of that campaign or of none
        (an event without a campaign applies to every campaign, 11.3)."""
        pairs = self.event_campaigns.get(name) if campaign is not None else None
        if pairs is None:
            return self.events.get(name, [])
        return [us for us, value in pairs if value is None or in_campaign(value, campaign)]


def epoch_micros(instants: list[dt.datetime]) -> list[int]:
    """Epoch microseconds of aware datetimes (clock.micros, a column at a time).

    Whole seconds go through the float timestamp, which is exact for them and several
    times cheaper than dividing timedeltas.
    """
    if any(map(_MICROSECOND, instants)):
        return list(map(floordiv, map(sub, instants, repeat(EPOCH)), repeat(ONE_US)))
    return list(map(mul, map(int, map(dt.datetime.timestamp, instants)), repeat(1_000_000)))


_AT = attrgetter("at")
_MICROSECOND = attrgetter("microsecond")
_STATUS = attrgetter("status")

# Whether a selector matches a (purpose, channel, team) shape, for one owner: a policy has
# few selectors and a ledger few shapes, so the answers outlive any one history. Keyed by
# the selector's identity; holding the selector keeps that identity from being reused.
_VERDICTS: dict[tuple[int, str | None], tuple[Match, dict[tuple[str, str, str], bool]]] = {}


def _verdicts(match: Match, owner: str | None) -> dict[tuple[str, str, str], bool]:
    key = (id(match), owner)
    found = _VERDICTS.get(key)
    if found is None or found[0] is not match:
        if len(_VERDICTS) > 4096:  # policies compiled again and again (a REPL, a test run)
            _VERDICTS.clear()
        found = _VERDICTS[key] = (match, {})
    return found[1]


def default_of(field: str) -> Any:
    """The value of a :class:`Contact` field that a ledger line leaves out."""
    return _DEFAULTS[field]


_SETTERS: dict[str, Callable[[Contact, Any], None]] = {name: Contact.__dict__[name].__set__ for name in FIELDS}
_DEFAULTS: dict[str, Any] = {"status": "sent", "at": dt.datetime.min}
_DEFAULTS.update({name: None for name in ("outcome", "campaign", "id", "customer", "void_reason")})
_DEFAULTS.update({name: "" for name in ("channel", "purpose", "team")})
_DEFAULTS["warnings"] = ()

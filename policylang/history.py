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
from _thread import allocate_lock  # threading.Lock itself, without importing threading (cold start)
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress, filterfalse, islice, repeat
from operator import and_, attrgetter, eq, floordiv, is_, itemgetter, le, not_, sub
from sys import intern

from policylang.clock import EPOCH, ONE_US
from policylang.records import COUNTED_STATUSES, Contact, Entry, Event, VoidLine, in_campaign, resolve_voids
from policylang.rules import Match

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol, cast, overload
else:
    from policylang.annotations import Any, Protocol, cast, overload

UTC = dt.timezone.utc
Matched = tuple[list[int], Sequence[Contact]]


class Columns(Protocol):
    """A history's contact columns: a field's values by name (a dict, or an object making each
    column when first read, as a store's digest does); a field left out has its default."""

    def get(self, name: str, default: None = None, /) -> list[Any] | None: ...

    def __contains__(self, name: object, /) -> bool: ...

    def __getitem__(self, name: str, /) -> list[Any]: ...


FIELDS = ("at", "channel", "purpose", "team", "status", "outcome", "campaign", "id", "customer", "void_reason",
          "warnings")


class LazyContacts(Sequence[Contact]):
    """Contacts given by their keys, each made on first access (and then the same object)."""

    __slots__ = ("_maker", "_keys", "_make")

    def __init__(self, make: Callable[[int], Contact], keys: list[int], maker: _Maker | None = None) -> None:
        self._make = make
        self._keys = keys
        # the maker of the history of columns the keys are of (see field_between, made_between);
        # not the history itself, which holds this sequence in its memos (no reference cycle)
        self._maker = maker

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

    def between(self, lo: int, hi: int) -> Iterator[Contact]:
        """The contacts at positions ``[lo, hi)``, each made only when the iterator reaches it."""
        return map(self._make, self._keys[lo:hi])

    def without_positions(self, dropped: list[int]) -> LazyContacts:
        """These contacts less those at the ``dropped`` positions (sorted, distinct)."""
        return LazyContacts(self._make, cut(self._keys, dropped), self._maker)

    def field_between(self, name: str, lo: int, hi: int) -> list[Any] | None:
        """One field of the contacts at positions ``[lo, hi)``, read from the columns without
        making the contacts; ``None`` when not known so (then read the contacts)."""
        maker = self._maker
        if maker is None:
            return None
        return maker.values(name, self._keys[lo:hi])

    def made_between(self, lo: int, hi: int) -> list[Contact | None] | None:
        """The contacts at positions ``[lo, hi)`` already made (``None`` for the others), or
        ``None`` when not known so. A contact not yet made is none of the objects a caller
        holds (its id is in no set of ids taken from made contacts)."""
        maker = self._maker
        if maker is None:
            return None
        return list(map(maker.made.get, self._keys[lo:hi]))


class _Idents(Sequence[int]):
    """The ids of some contacts of a history of columns, each contact made when its id is read."""

    __slots__ = ("_keys", "_make")

    def __init__(self, make: Callable[[int], Contact], keys: list[int]) -> None:
        self._make = make
        self._keys = keys

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> list[int]: ...

    def __getitem__(self, index: int | slice) -> int | list[int]:
        if isinstance(index, slice):
            return [id(self._make(key)) for key in self._keys[index]]
        return id(self._make(self._keys[index]))

    def __iter__(self) -> Iterator[int]:
        return (id(self._make(key)) for key in self._keys)


class _Maker:
    """The contacts of a history of columns, each made when first read (and then always the
    same object: precedence tells contacts apart by identity), and their fields read from the
    columns without making them.

    The lazy sequences a history hands out (its selectors' matchings, its planned contacts by
    team) hold this, never the history, which holds them in its memos: so no index is a
    reference cycle, and each is freed by reference counting when its last reference goes
    (CPython's cyclic collector was about a quarter of a batch worker's time when it had to)."""

    __slots__ = ("columns", "micros", "made", "local")

    def __init__(self, columns: Columns, micros: list[int] | None, made: dict[int, Contact],
                 local: tuple[Sequence[int], Shapes] | None) -> None:
        self.columns = columns
        self.micros = micros  # every instant, when the columns hold no ``at`` (a store's rows)
        self.made = made
        self.local = local

    def contact(self, key: int) -> Contact:
        """The contact at ledger position ``key``, made once."""
        made = self.made.get(key)
        if made is None:
            columns = self.columns
            contact: Contact = object.__new__(Contact)
            for name in FIELDS:
                column = columns.get(name)
                # The columns were validated and ``at`` is UTC already: attrs' converter
                # would change nothing, so the frozen slots are filled directly.
                _SETTERS[name](contact, column[key] if column is not None else _DEFAULTS[name])
            micros = self.micros
            if micros is not None:  # a store's rows: the instant is known as an integer
                _SETTERS["at"](contact, EPOCH + dt.timedelta(0, 0, micros[key]))
            elif contact.at.tzinfo is not UTC:
                _SETTERS["at"](contact, contact.at.astimezone(UTC))
            made = self.made[key] = contact
        return made

    def values(self, name: str, keys: list[int]) -> list[Any]:
        """One field of the contacts ``keys``, read without making them (a word of the shape
        from the shapes, in C: no column made)."""
        local = self.local
        place = _PLACES.get(name) if local is not None else None
        if place is not None:
            codes, shapes = local  # type: ignore[misc]
            return list(map(_WORD[place], map(shapes.shapes.__getitem__, map(codes.__getitem__, keys))))
        column = self.columns.get(name)
        return list(map(column.__getitem__, keys)) if column is not None else [_DEFAULTS[name]] * len(keys)


def _maker_of(columns: Columns, micros: Any, made: dict[int, Contact],
              local: tuple[Sequence[int], Shapes] | None) -> _Maker:
    """The maker of a history of columns whose instants are ``micros`` (a list, or a dict
    filled a shape at a time when the columns hold ``at``)."""
    return _Maker(columns, None if "at" in columns else micros, made, local)


def cut(values: list[Any], dropped: list[int]) -> list[Any]:
    """``values`` less the items at the ``dropped`` positions (sorted, distinct), a slice at a time."""
    kept: list[Any] = []
    start = 0
    for position in dropped:
        kept += values[start:position]
        start = position + 1
    kept += values[start:]
    return kept


def between(contacts: Sequence[Contact], lo: int, hi: int) -> Iterator[Contact]:
    """The contacts at positions ``[lo, hi)`` of a matching's sequence, made (from columns)
    only as the iterator reaches them."""
    if isinstance(contacts, LazyContacts):
        return contacts.between(lo, hi)
    return iter(contacts[lo:hi])


class History:
    """A customer's contacts and events, with per-selector indexes built on demand.

    Contacts are known by their ledger position (their *key*). Nothing is sorted up front:
    the first time a selector asks, every contact's (purpose, channel, team, status) is
    coded in one pass (process-wide codes: which shapes a selector takes, and which codes
    count, are sent or planned, are answered once per code, not per contact). A history
    whose instants are all known (columns, a short list of records) is then sorted by instant
    once (ties in ledger order; not at all when already in order, as a store's digest is) and
    each selector's contacts are picked from that order; a long list of records, or columns
    of datetimes (:meth:`from_moments`), converts only the instants of the contacts a
    selector takes and sorts those. So a decision pays for the contacts its rules can count,
    not for the whole ledger.

    Built from records, even the split of the entries into contacts and events waits for
    the first question that needs it (:meth:`_split`: every public question checks for it;
    ``_size`` and ``_records`` are unset till then), and for any history which contacts are
    planned, and which are void, waits for the first to ask (:attr:`has_planned`,
    :attr:`voided`; from the codes when a selector made them). A decision none of whose
    rules reads the ledger (its request is no rule's) pays for checking the entries' types
    only. (Not ``__getattr__`` for the unset slots: a class with one has every attribute
    read the slow way, about 18 ns more a read on the warm path, measured.)

    No memo refers back to the history (the lazy sequences hold its :class:`_Maker`), so an
    index is freed by reference counting as soon as its last reference goes.
    """

    __slots__ = ("_size", "_happened", "_has_planned", "_planned", "_planned_keys", "_voided", "_campaigns",
                 "_cache", "_table", "_codes", "_distinct", "_time", "_fields", "_columns", "_records", "_made",
                 "_micros", "_counted_keys", "_keys", "_voiding", "_teams", "_local", "_maker", "_entries", "_sorted",
                 "__weakref__")
    _size: int
    _happened: dict[str, list[int]]
    _campaigns: dict[str, list[tuple[int, Any]]]
    _has_planned: bool | None
    _voided: list[Contact] | None
    _planned: list[Contact] | None
    _planned_keys: list[int] | None
    _cache: dict[tuple[Any, ...], tuple[Match, Matched]]
    _table: _Table
    _codes: list[int] | None
    _distinct: set[int]
    _time: tuple[list[int], list[int]] | None
    _fields: dict[str, list[Any]]
    _columns: Columns
    _records: list[Contact] | None
    _made: dict[int, Contact]
    _micros: list[int] | dict[int, int]
    _counted_keys: list[int] | None
    _keys: list[int] | None
    _voiding: bool
    _teams: dict[str, Sequence[int]] | None
    _local: tuple[Sequence[int], Shapes] | None
    _maker: _Maker | None
    _entries: list[Contact | Event] | None
    _sorted: int

    def __init__(self, entries: Iterable[Entry | VoidLine] = (), *, _kinds: set[type] | None = None) -> None:
        entries = entries if isinstance(entries, list) else list(entries)
        # ``_kinds``: the entries' types, when the caller has taken them already (ingest.history_of)
        kinds = set(map(type, entries)) if _kinds is None else _kinds
        self._voiding = VoidLine in kinds
        if self._voiding:  # 11.4: void lines mark the entries they name
            entries = resolve_voids(entries)
            kinds = set(map(type, entries))
        if not kinds <= _KINDS:
            for entry in entries:
                if not isinstance(entry, (Contact, Event)):
                    raise TypeError(f"a ledger holds Contact and Event entries, not {type(entry).__name__}")
        self._local = None
        self._columns = {}
        self._micros = {}  # filled a shape at a time
        self._maker = None
        self._made = {}
        if Event in kinds:  # split when first needed (_split): _records, size and the events unset till then
            self._entries = entries  # type: ignore[assignment]
        else:
            self._entries = None
            self._records = entries  # type: ignore[assignment]
            self._size = len(entries)
            self._happened = {}
            self._campaigns = {}
        self._empty()

    @classmethod
    def from_columns(cls, columns: dict[str, list[Any]], micros: list[int], events: dict[str, list[int]],
                     event_campaigns: dict[str, list[tuple[int, Any]]] | None = None) -> History:  # fmt: skip
        """A history from validated contact columns.

        ``columns`` maps each :class:`Contact` field to a list (one value per contact, in
        ledger order; ``at``, when given, holds aware datetimes, made UTC when a contact is
        made, and ``micros`` the same instants as epoch microseconds; without ``at`` the
        instants are made from ``micros``); another field left out has its default for
        every contact. ``events`` maps an event name to its instants, in any order;
        ``event_campaigns`` an event name to its (instant, campaign) pairs when some event
        of that name names a campaign (11.3).
        """
        return cls._of_columns(columns, micros, None, len(micros), events, event_campaigns)

    @classmethod
    def from_shapes(cls, columns: Columns, micros: list[int], codes: Sequence[int], shapes: Shapes,
                    events: dict[str, list[int]],
                    event_campaigns: dict[str, list[tuple[int, Any]]] | None = None) -> History:  # fmt: skip
        """A history from validated contact columns (as :meth:`from_columns`; any mapping with
        ``get``, so columns may be made when first read), the contacts in time order (ties in
        ledger order: ``micros`` sorted, as a store's digest keeps them), whose (purpose,
        channel, team, status) are given as ``codes`` (one per contact, bytes or a list) into
        the distinct ``shapes`` (:func:`shapes_of`): the contacts are picked by their shapes'
        verdicts (bytes: a translation and a compress in C) or coded by their shapes (a list:
        one C pass), never a row at a time in Python.
        """
        return cls._of_columns(columns, micros, (codes, shapes), len(micros), events, event_campaigns)

    @classmethod
    def from_moments(cls, columns: dict[str, list[Any]], events: dict[str, list[int]],
                     event_campaigns: dict[str, list[tuple[int, Any]]] | None = None) -> History:  # fmt: skip
        """A history from validated contact columns (as :meth:`from_columns`) whose ``at``
        holds aware datetimes within the years handled; each instant is converted to epoch
        microseconds only when a selector first needs its contact."""
        return cls._of_columns(columns, {}, None, len(columns["at"]), events, event_campaigns)

    @classmethod
    def _of_columns(cls, columns: Any, micros: Any, local: Any, size: int, events: dict[str, list[int]],
                    event_campaigns: dict[str, list[tuple[int, Any]]] | None) -> History:
        """The one constructor from columns (:meth:`from_columns`, :meth:`from_shapes`,
        :meth:`from_moments`): ``local`` is the shapes' codes and table, or None."""
        history = cls.__new__(cls)
        history._records = None
        history._entries = None
        history._local = local
        history._voiding = False
        history._columns = columns
        history._micros = micros
        maker = history._maker = _maker_of(columns, micros, {}, local)
        history._made = maker.made
        history._size = size
        history._set_events(events, event_campaigns or {})
        history._empty()
        return history

    def _set_events(self, events: dict[str, list[int]], campaigns: dict[str, list[tuple[int, Any]]]) -> None:
        """Keep the instants of each event, sorted, and its (instant, campaign) pairs when some names one."""
        self._happened = {name: sorted(times) for name, times in events.items()} if events else {}
        # 11.3: events with campaigns, kept only when some event names one
        self._campaigns = ({name: sorted(pairs, key=_FIRST) for name, pairs in campaigns.items()
                                 if any(c is not None for _, c in pairs)} if campaigns else {})

    def _empty(self) -> None:
        """Every memo empty: nothing asked yet (whether some contact is planned, and the void
        contacts, too: :attr:`has_planned`, :attr:`voided`)."""
        self._cache = {}
        self._time = None
        self._fields = {}
        self._counted_keys = None
        self._teams = None
        self._keys = None
        self._codes = None  # made by _coding, when a selector first asks
        self._planned_keys = None
        self._planned = None  # made when first asked for (planned)
        self._has_planned = None
        self._voided = None
        self._sorted = 0  # how many contacts the selectors asked have sorted (matching)
        local = self._local
        if local is not None:  # a shape no contact has does no harm: none picked
            self._table, self._distinct = local[1].table, set(local[1].codes)

    @property
    def size(self) -> int:
        """How many contacts the ledger holds."""
        if self._entries is not None:
            self._split()
        return self._size

    @property
    def events(self) -> dict[str, list[int]]:
        """The instants of each event, by name, sorted."""
        if self._entries is not None:
            self._split()
        return self._happened

    @property
    def event_campaigns(self) -> dict[str, list[tuple[int, Any]]]:
        """Each event's (instant, campaign) pairs in time order, for the names of which some
        event names a campaign (11.3)."""
        if self._entries is not None:
            self._split()
        return self._campaigns

    @property
    def has_planned(self) -> bool:
        """Whether some contact is planned."""
        found = self._has_planned
        if found is None:
            found = self._has_planned = self._planning()
        return found

    @property
    def voided(self) -> list[Contact]:
        """The void contacts (11.4: they count for nothing; a decision's words still name them)."""
        found = self._voided
        if found is None:
            found = self._voided = self._voids()
        return found

    def _split(self) -> None:
        """The entries of a history of records split into its contacts (in ledger order: their
        keys are their places there) and its events, by name."""
        entries = self._entries
        assert entries is not None
        flags = bytes(map(isinstance, entries, repeat(Contact)))
        happened: list[Event] = list(compress(entries, flags.translate(_NOT)))  # type: ignore[arg-type]
        events: dict[str, list[int]] = {}
        campaigns: dict[str, list[tuple[int, Any]]] = {}
        if happened:
            times = epoch_micros(list(map(_AT, happened)))
            for name, us in zip(map(_NAME, happened), times, strict=True):
                events.setdefault(name, []).append(us)
            if not all(map(is_, map(_CAMPAIGN, happened), repeat(None))):  # 11.3: some event names a campaign
                for entry, us in zip(happened, times, strict=True):
                    campaigns.setdefault(entry.name, []).append((us, entry.campaign))
        contacts: list[Contact] = list(compress(entries, flags))  # type: ignore[arg-type]
        self._records = contacts
        self._size = len(contacts)
        self._set_events(events, campaigns)
        self._entries = None

    def _planning(self) -> bool:
        """Whether some contact is planned: off the codes when a selector made them (a test a
        distinct code), else off the statuses, a C pass that stops at the first planned
        contact (from records, with no column made)."""
        if self._entries is not None:
            self._split()
        local = self._local
        if local is not None:  # the statuses of the shapes the contacts have (no column read)
            codes, shapes = local
            has_planned = not shapes.table.planned.isdisjoint(shapes.codes) and any(map(codes.__contains__,
                                                                                      shapes.having("planned")))
        elif self._codes is not None:  # every code a contact has is among the distinct
            has_planned = not self._table.planned.isdisjoint(self._distinct)
        elif self._records is not None and "status" not in self._fields:
            has_planned = "planned" in map(_GET["status"], self._records)
        else:
            statuses = self._column("status")
            has_planned = statuses is not None and "planned" in statuses
        return has_planned

    def _voids(self) -> list[Contact]:
        """The void contacts, off the codes when a selector made them, else off the statuses."""
        if self._entries is not None:
            self._split()
        size = self._size
        local = self._local
        if local is not None:
            codes, shapes = local
            voided: list[int] = []
            if not shapes.table.void.isdisjoint(shapes.codes):
                void = set(shapes.having("void"))
                voided = list(compress(range(size), map(void.__contains__, codes)))
        elif self._codes is not None:
            table, found = self._table, self._codes
            voided = ([] if table.void.isdisjoint(self._distinct)
                      else list(compress(range(size), map(table.void.__contains__, found))))
        else:
            statuses = self._column("status")
            voided = ([k for k, status in enumerate(statuses) if status == "void"]
                      if statuses is not None and "void" in statuses else [])  # fmt: skip
        return list(map(self._contact, voided)) if voided else []

    def _coding(self) -> list[int]:
        """Every contact's (purpose, channel, team, status) as a process-wide code, in ledger
        order, made in one pass over the records or the columns when first needed: which
        contacts count, are sent or planned, and which shapes a selector tests are then read
        off the few distinct codes, never per contact."""
        codes = self._codes
        if codes is None:
            if self._entries is not None:
                self._split()
            table = _TABLE[0]
            local = self._local
            if local is not None:  # given by their shapes, coded already: one C pass
                table, found = local[1].table, local[1].codes
                codes = list(map(found.__getitem__, local[0]))
                distinct: set[Any] = set(found)  # a shape no contact has does no harm: no contact to pick
            else:
                found: list[Any] = list(map(table.codes.get, self._quads()))  # type: ignore[no-redef]
                distinct = set(found)
                codes = found
                if None in distinct:  # (shape, status) pairs never seen before (once per process and pair)
                    table, codes = _coded(list(self._quads()))
                    distinct = set(codes)
            self._table = table
            self._distinct = distinct
            self._codes = codes
        return codes

    def _by_shape(self) -> bool:
        """Whether the contacts are picked by their shapes' codes, with no code a contact: a
        history from shapes (in time order) whose contacts name at most 256 shapes, as bytes,
        not coded a contact at a time since (the table and distinct codes are the shapes')."""
        local = self._local
        return local is not None and type(local[0]) is bytes and self._codes is None

    def _picked(self, wanted: set[int]) -> list[int]:
        """The keys, in time order, of the contacts whose code is in ``wanted`` (:meth:`_by_shape`)."""
        mask = self._mask(wanted)
        return list(compress(range(self._size), mask)) if mask is not None else []

    def _mask(self, wanted: set[int]) -> bytes | None:
        """One byte a contact (in time order, :meth:`_by_shape`), 1 when its code is in ``wanted``;
        None when no contact's is: one test a shape, then the contacts' shape codes translated, in C."""
        codes, shapes = self._local  # type: ignore[misc]  # (_by_shape: bytes)
        assert type(codes) is bytes
        verdicts = bytes(map(wanted.__contains__, shapes.codes))
        if 1 not in verdicts:
            return None
        return codes.translate(verdicts.ljust(256, b"\0"))

    def _quads(self) -> Iterator[tuple[str, str, str, str]]:
        """The (purpose, channel, team, status) of every contact, in ledger order."""
        if self._records is not None:  # one C call per contact, no columns
            return map(_QUAD, self._records)
        columns, size = self._columns, self._size
        return zip(*(columns.get(name) or repeat(_DEFAULTS[name], size)
                     for name in ("purpose", "channel", "team", "status")), strict=True)

    @property
    def planned(self) -> list[Contact]:
        """The planned contacts, in time order (ties in ledger order)."""
        found = self._planned
        if found is None:
            # made when first asked for, and by team only for the teams a request can displace
            # (planned_by_team): a fresh index for one decision makes none when the requester
            # ranks below every planning team
            found = self._planned = list(map(self._contact, self._planned_order())) if self.has_planned else []
        return found

    def _planned_order(self) -> list[int]:
        """The keys of the planned contacts, in time order."""
        keys = self._planned_keys
        if keys is None:
            if self._by_shape():
                keys = self._picked(self._table.planned)
                self._planned_keys = keys
                return keys
            codes = self._coding()
            planned = self._table.planned
            if self._time is not None or self._size <= EAGER:
                timed, codes = self._timed()
                keys = list(compress(timed, map(planned.__contains__, codes)))
            else:  # (few: not worth the full order)
                keys = self._in_time_order(list(compress(range(self._size), map(planned.__contains__, codes))))
            self._planned_keys = keys
        return keys

    def planned_by_team(self) -> dict[str, Sequence[int]]:
        """The ids (``id()``) of the planned contacts, by team (made once per history); from
        columns a team's contacts are made only when its ids are read."""
        teams = self._teams
        if teams is not None:
            return teams
        teams = self._teams = {}
        if not self.has_planned:
            return teams
        if self._records is not None or self._planned is not None:
            for contact in self.planned:
                cast(list[int], teams.setdefault(contact.team, [])).append(id(contact))
        else:
            column = self._column("team")
            by_team: dict[str, list[int]] = {}
            for key in self._planned_order():
                by_team.setdefault(column[key] if column is not None else "", []).append(key)
            make = self._maker.contact  # type: ignore[union-attr]  # (columns: not the history, no cycle)
            teams.update({team: _Idents(make, keys) for team, keys in by_team.items()})
        return teams

    def _column(self, name: str) -> list[Any] | None:
        """One field of every contact, in ledger order; ``None`` when every contact has the
        field's default."""
        if self._records is not None:
            found = self._fields.get(name)
            if found is None:
                found = self._fields[name] = list(map(_GET[name], self._records))
            return found
        return self._columns.get(name)

    def _known(self, keys: list[int]) -> None:
        """Convert the instants of ``keys`` to epoch microseconds, where not done yet."""
        micros = self._micros
        if type(micros) is list:
            return
        assert isinstance(micros, dict)
        if self._size <= EAGER and self._records is not None:
            # a short list of records: every instant at once costs less than a shape at a time
            keys = range(self._size)  # type: ignore[assignment]
        if not micros and len(keys) == self._size:  # all of them: straight into the list it ends in
            records = self._records
            self._micros = epoch_micros(list(map(_AT, records)) if records is not None else self._columns["at"])
            return
        wanted = list(filterfalse(micros.__contains__, keys)) if micros else keys
        if not wanted:
            return
        if self._records is not None:
            moments = list(map(_AT, map(self._records.__getitem__, wanted)))
        else:
            moments = list(map(self._columns["at"].__getitem__, wanted))
        micros.update(zip(wanted, epoch_micros(moments), strict=True))
        if len(micros) == self._size:  # all known: a list is cheaper to read
            self._micros = list(map(micros.__getitem__, range(self._size)))

    def _in_time_order(self, keys: list[int]) -> list[int]:
        """``keys`` (any order) sorted by instant, ties in ledger order."""
        self._known(keys)
        keys = sorted(keys)
        keys.sort(key=self._micros.__getitem__)
        return keys

    def _counted(self) -> list[int]:
        """The keys of the contacts that count (sent or planned), in ledger order."""
        found = self._counted_keys
        if found is None:
            if self._by_shape():  # (ledger order is time order)
                found = self._counted_keys = self._picked(self._table.counted)
                return found
            codes = self._coding()
            counted = self._table.counted
            if self._distinct <= counted:
                found = list(range(self._size))
            else:
                found = list(compress(range(self._size), map(counted.__contains__, codes)))
            self._counted_keys = found
        return found

    def _timed(self) -> tuple[list[int], list[int]]:
        """Every contact's key in time order (ties in ledger order), and each one's code in
        that order: sorted once per history (every instant converted), then each selector's
        contacts are picked from it in C, with no sort of their own."""
        found = self._time
        if found is None:
            codes = self._coding()
            size = self._size
            self._known(range(size))  # type: ignore[arg-type]
            micros = cast(list[int], self._micros)
            # in time order already (a store's digest)? A C pass that stops at the first
            # instant out of order, so a ledger out of order is sorted once, not twice
            if self._local is not None or all(map(le, micros, islice(micros, 1, None))):
                found = self._time = (list(range(size)), codes)
            else:
                keys = sorted(range(size), key=micros.__getitem__)  # stable: ties stay in ledger order
                found = self._time = (keys, list(map(codes.__getitem__, keys)))
        return found

    def _order(self) -> list[int]:
        """The keys of the counted contacts in time order (every instant converted)."""
        if self._keys is None:
            if self._by_shape():  # ledger order is time order
                self._keys = self._counted()
                return self._keys
            keys, codes = self._timed()
            counted = self._table.counted
            self._keys = keys if self._distinct <= counted else list(compress(keys, map(counted.__contains__, codes)))
        return self._keys

    @property
    def counted(self) -> Sequence[Contact]:
        """The contacts that count (sent or planned), in time order."""
        if self._entries is not None:
            self._split()
        if self._records is not None:
            return list(map(self._records.__getitem__, self._order()))
        return LazyContacts(self._maker.contact, self._order())  # type: ignore[union-attr]

    @property
    def counted_us(self) -> list[int]:
        """The instants of :attr:`counted`, as epoch microseconds."""
        if self._entries is not None:
            self._split()
        keys = self._order()  # first: it may convert the instants (then ``_micros`` is a new list)
        return list(map(self._micros.__getitem__, keys))

    def plus(self, contact: Contact, displaced: Sequence[Contact] = ()) -> History | None:
        """This ledger with ``contact`` added and the ``displaced`` contacts (made by this
        history) marked displaced, as a new history built from columns; ``None`` for a
        history built from records with contacts to displace or void lines (rebuild it from
        the records then: void lines are resolved again, with the new contact among those
        they may name)."""
        if self._entries is not None:
            self._split()
        if self._records is not None:
            return self._plus_record(contact) if not displaced and not self._voiding else None
        size = self._size
        self._known(list(range(size)))
        own = self._columns
        columns = {name: list(own[name]) if name in own else [_DEFAULTS[name]] * size
                   for name in FIELDS if name != "at" or "at" in own}
        if displaced:
            gone = {id(c) for c in displaced}
            statuses = columns["status"]
            for key, made in self._made.items():
                if id(made) in gone:
                    statuses[key] = "displaced"
        for name, values in columns.items():
            values.append(getattr(contact, name))
        us = (contact.at - EPOCH) // ONE_US
        micros = [*map(self._micros.__getitem__, range(size)), us]
        if displaced:
            grown = History.from_columns(columns, micros, {name: list(times) for name, times in self._happened.items()},
                                         self._campaigns)
        else:
            grown = self._grown_columns(columns, micros, contact, us)
            self._carry(grown, contact, us)
        return grown

    def _grown_columns(self, columns: dict[str, list[Any]], micros: list[int], contact: Contact, us: int) -> History:
        """This history of columns grown by one contact (the last entry of ``columns``, of
        ``contact``'s status, at ``us``), nothing displaced, without building it again (as
        :meth:`from_columns` would): the events are shared (never changed in place), and the
        contacts already made are kept, since every one of them has the same values in the
        new columns; the planned and void lists, the codes and the time orders grow by the
        new contact (planned in time order, ties in ledger order, where it is the last)."""
        size = self._size
        new = History.__new__(History)
        new._records = None
        new._entries = None
        new._local = None
        new._voiding = False
        new._columns = columns
        new._micros = micros
        new._size = size + 1
        new._happened = self._happened  # never changed in place
        new._campaigns = self._campaigns
        new._cache = {}
        new._sorted = 0
        new._fields = {}
        maker = new._maker = _maker_of(columns, micros, dict(self._made), None)
        new._made = maker.made
        new._counted_keys = None
        new._teams = None
        new._keys = None
        self._grow_codes(new, contact, us, size)
        self._grow_lists(new, contact.status, us, size)  # a planned list made later makes the same objects (_made)
        return new

    def _grow_lists(self, new: History, status: str, us: int, size: int) -> None:
        """Give ``new`` (this history with a contact of ``status`` at ``us`` added as entry
        ``size``, nothing displaced) this history's planned and void lists grown by that
        contact where its status puts it (planned: in time order, ties in ledger order, where
        it is the last); a planned list not made yet stays to be made when asked."""
        planned = self._planned
        if planned is None and self._has_planned is False:  # none planned: none to make
            planned = []
        if planned is not None and status == "planned":
            place = bisect_right(planned, us, key=_micros_of)
            planned = [*planned[:place], new._contact(size), *planned[place:]]
        new._planned = planned
        new._planned_keys = None  # not read: made from the statuses when asked
        new._has_planned = True if status == "planned" else self._has_planned  # (None: found when asked)
        voided = self._voided
        new._voided = None if voided is None else [*voided, new._contact(size)] if status == "void" else voided

    def _grow_codes(self, new: History, contact: Contact, us: int, size: int) -> None:
        """Give ``new`` (this history with ``contact`` at ``us`` added as entry ``size``,
        nothing displaced) this history's codes and, where built, its time orders, each grown
        by that entry (after every contact at or before its instant: ties in ledger order)."""
        new._time = None
        new._codes = None
        codes = self._codes
        table = self._table if codes is not None else _TABLE[0]
        code = table.codes.get((contact.purpose, contact.channel, contact.team, contact.status))
        if codes is not None and code is not None:  # else coded when first asked
            new._table = table
            new._codes = [*codes, code]
            new._distinct = self._distinct if code in self._distinct else self._distinct | {code}
            if self._time is not None:
                keys, codes = self._time
                place = bisect_right(keys, us, key=new._micros.__getitem__)
                new._time = ([*keys[:place], size, *keys[place:]], [*codes[:place], code, *codes[place:]])
        if contact.status not in COUNTED_STATUSES:
            return  # the counted contacts are this history's
        counted_keys = self._counted_keys
        new._counted_keys = None if counted_keys is None else [*counted_keys, size]
        order = self._keys
        new._keys = None
        if order is not None:
            place = bisect_right(order, us, key=new._micros.__getitem__)
            new._keys = [*order[:place], size, *order[place:]]

    def _plus_record(self, contact: Contact) -> History:
        """This history of records with ``contact`` added last (an arbitration's grant):
        what was built on demand (columns, instants, shape codes, the time order) is
        carried over and grown by one entry instead of being built again."""
        size = self._size
        assert self._records is not None
        new = History.__new__(History)
        new._records = [*self._records, contact]
        new._entries = None
        new._maker = None
        new._local = None
        new._voiding = False
        new._columns = self._columns
        us = (contact.at - EPOCH) // ONE_US
        micros = self._micros
        new._micros = [*micros, us] if isinstance(micros, list) else {**micros, size: us}
        new._teams = None
        new._size = size + 1
        new._happened = self._happened  # never changed in place
        new._campaigns = self._campaigns
        new._cache = {}
        new._sorted = 0
        new._made = self._made
        new._fields = {name: [*column, _GET[name](contact)] for name, column in self._fields.items()}
        new._counted_keys = self._counted_keys
        new._keys = self._keys
        self._grow_codes(new, contact, us, size)
        self._grow_lists(new, contact.status, us, size)
        self._carry(new, contact, us)
        return new

    def _contact(self, key: int) -> Contact:
        """The contact at ledger position ``key``, made once (records: the record itself)."""
        if self._records is not None:
            return self._records[key]
        assert self._maker is not None
        return self._maker.contact(key)

    def __len__(self) -> int:
        if self._entries is not None:
            self._split()
        return self._size + sum(len(v) for v in self._happened.values())

    def field(self, name: str) -> list[Any]:
        """One field of the counted contacts, in their time order."""
        if self._entries is not None:
            self._split()
        column = self._column(name)
        keys = self._order()
        return list(map(column.__getitem__, keys)) if column is not None else [_DEFAULTS[name]] * len(keys)

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
        if self._entries is not None:
            self._split()
        # Test each distinct (purpose, channel, team, status) once per process, not each
        # contact, and pick the contacts by their code: every step a C loop, so a fresh index
        # (one decision per call, the common case) costs no Python per contact or per shape.
        by_shape = self._by_shape()
        codes = None if by_shape else self._coding()
        table, distinct = self._table, self._distinct
        matched, checked = table.verdicts_of(match, owner)
        if not distinct <= checked:  # codes this selector was never asked about
            fresh = distinct - checked
            counted = table.counted
            for code in fresh:
                shape = table.shapes[code]
                if code in counted and match.matches(shape[0], shape[1], shape[2], owner):
                    matched.add(code)
            checked |= fresh
        if sent_only:  # the status is part of the code: the sent contacts' codes only
            matched = matched & table.sent
        micros = self._micros
        mask: bytes | None = None
        if matched.isdisjoint(distinct):
            chosen: list[int] = []
        elif by_shape:  # in time order, picked by the shapes' verdicts (no code a contact)
            place = _PLACES.get(group) if group is not None else None
            if place is not None:  # a group of the shape's words: a test a shape, not a contact
                inside = list(matched & distinct)
                matched = set(compress(inside, map(eq, map(_WORD[place], map(table.shapes.__getitem__, inside)),
                                                   repeat(value))))
                group = None
            mask = self._mask(matched)
            chosen = list(compress(range(self._size), mask)) if mask is not None else []
        elif self._size > EAGER and self._time is None and (type(micros) is not list or self._sorted < self._size):
            # A long history not in time order yet: this selector's contacts picked in ledger
            # order, their instants converted where not known, and sorted (stable: ties in
            # ledger order, as in the full order). A decision asks few selectors of a fresh
            # index, each taking part of the ledger: sorting all of it (n log n) for the first
            # cost several times this. Once the selectors asked have sorted as many contacts
            # as the ledger holds, the full order is made (when every instant is known).
            assert codes is not None
            chosen = list(compress(range(self._size), map(matched.__contains__, codes)))
            self._known(chosen)
            micros = self._micros
            chosen.sort(key=micros.__getitem__)
            self._sorted += len(chosen)
        else:  # every instant known (or cheap): the time order once
            keys, codes = self._timed()
            micros = self._micros
            chosen = keys if distinct <= matched else list(compress(keys, map(matched.__contains__, codes)))
        if outcome is not None or drop or group is not None:
            chosen = self._kept(chosen, False, outcome, group, value, drop)
            mask = None
        # from records each contact is the record itself, listed in C (then read with no
        # method in between); from columns a contact is made when first read
        contacts: Sequence[Contact] = (list(map(self._records.__getitem__, chosen)) if self._records is not None
                                       else LazyContacts(self._maker.contact, chosen, self._maker))  # type: ignore[union-attr]
        # the instants by the same mask when nothing filtered the keys since (a C pass with no call a contact)
        result = (list(compress(micros, mask)) if mask is not None else list(map(micros.__getitem__, chosen)), contacts)
        self._cache[key] = (match, result)
        return result

    def _kept(self, chosen: list[int], sent_only: bool, outcome: str | frozenset[str] | None, group: str | None,
              value: object, drop: frozenset[str]) -> list[int]:
        """The keys of ``chosen`` that :meth:`matching`'s filters keep (order kept)."""
        if sent_only and (status_column := self._column("status")) is not None:
            chosen = list(compress(chosen, map(eq, map(status_column.__getitem__, chosen), repeat("sent"))))
        # each filter a C loop over the chosen keys (no Python per contact but a campaign's test)
        if outcome is not None or drop:
            outcomes = self._column("outcome") or _Constant(None)
            if isinstance(outcome, frozenset):
                chosen = list(compress(chosen, map(outcome.__contains__, map(outcomes.__getitem__, chosen))))
            elif outcome is not None:
                chosen = list(compress(chosen, map(eq, map(outcomes.__getitem__, chosen), repeat(outcome))))
            if drop:
                statuses = self._column("status") or _Constant("sent")
                chosen = list(compress(chosen, map(not_, map(and_, map(drop.__contains__, map(outcomes.__getitem__, chosen)),
                                                             map(eq, map(statuses.__getitem__, chosen), repeat("sent"))))))
        if group is not None:
            values = self._column(group) or _Constant(_DEFAULTS[group])
            if group == "campaign":
                chosen = [i for i in chosen if in_campaign(values[i], value)]
            else:
                chosen = list(compress(chosen, map(eq, map(values.__getitem__, chosen), repeat(value))))
        return chosen

    def _carry(self, new: History, contact: Contact, us: int) -> None:
        """Give ``new`` (this history with ``contact`` added last, as entry ``self._size``, and
        nothing displaced) this history's answers to :meth:`matching`, each grown by the new
        contact where the selector and the filters take it (the filters are :meth:`_kept`'s,
        asked of the new history about the new key): an arbitration's next decision asks
        most of the same selectors again."""
        key_new = self._size
        lazy = new._records is None
        carried: dict[tuple[Any, ...], tuple[Match, Matched]] = {}
        counted = contact.status in COUNTED_STATUSES
        for key, (match, (times, contacts)) in self._cache.items():
            keys = contacts._keys if isinstance(contacts, LazyContacts) else None  # noqa: SLF001
            if lazy and keys is None:
                continue  # asked again of the new history
            if counted and match.matches(contact.purpose, contact.channel, contact.team, key[1]) \
                    and new._kept([key_new], *key[2:]):
                place = bisect_right(times, us)  # after every contact at its instant: the last in ledger order
                times = [*times[:place], us, *times[place:]]
                if keys is not None:
                    keys = [*keys[:place], key_new, *keys[place:]]
                else:
                    contacts = [*contacts[:place], contact, *contacts[place:]]
            # from columns the contacts are the new history's own (made once there: precedence
            # tells contacts by identity)
            carried[key] = (match, (times, LazyContacts(new._maker.contact, keys, new._maker)  # type: ignore[union-attr]
                                    if lazy and keys is not None
                                    else contacts))
        new._cache = carried

    def event_times(self, name: str, campaign: object = None) -> list[int]:
        """The instants of an event; with ``campaign``, those of that campaign or of none
        (an event without a campaign applies to every campaign, 11.3)."""
        if self._entries is not None:
            self._split()
        pairs = self._campaigns.get(name) if campaign is not None else None
        if pairs is None:
            return self._happened.get(name, [])
        return [us for us, value in pairs if value is None or in_campaign(value, campaign)]


_NOT = bytes((1, 0)).ljust(256, b"\0")  # a translation of bytes 0 and 1 into 1 and 0


class _Constant:
    """A column holding one value at every key."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __getitem__(self, key: int) -> Any:
        return self.value


def epoch_micros(instants: list[dt.datetime]) -> list[int]:
    """Epoch microseconds of aware datetimes (clock.micros, a column at a time).

    Measured on Python 3.11 (one call of 10, 100 and 10,000 whole-second instants): the
    timedelta division in C is 1.33-1.38x cheaper than the float timestamp this used to take
    for whole seconds, and exact for every instant.
    """
    return list(map(floordiv, map(sub, instants, repeat(EPOCH)), repeat(ONE_US)))


_AT = attrgetter("at")
_NAME = attrgetter("name")
_CAMPAIGN = attrgetter("campaign")
_KINDS = frozenset((Contact, Event))
_QUAD = attrgetter("purpose", "channel", "team", "status")
# a field's place in a Quad, and each place's getter
_PLACES = {"purpose": 0, "channel": 1, "team": 2, "status": 3}
_WORD = [itemgetter(place) for place in range(4)]

_FIRST = itemgetter(0)
EAGER = 64  # up to this many contacts, every instant is converted on the first need


def _micros_of(contact: Contact) -> int:
    return (contact.at - EPOCH) // ONE_US


# Shapes (purpose, channel, team) with a status as small integer codes, and which codes each
# selector matches for one owner: a policy has few selectors and a ledger few shapes, so the
# answers outlive any one history. Verdicts are keyed by the selector's identity; holding the
# selector keeps that identity from being reused. When the table grows past its bound (names
# from records no policy declared, policies compiled again and again), new shapes go to a new
# table; a history keeps reading the table it was coded in.
SHAPE_CODES = 200_000  # the most shapes one table codes (a soft bound: one ledger's shapes all fit)
Quad = tuple[str, str, str, str]  # (purpose, channel, team, status)


class _Table:
    __slots__ = ("codes", "shapes", "verdicts", "counted", "sent", "planned", "void", "keyed")

    def __init__(self) -> None:
        self.codes: dict[Quad, int] = {}
        self.keyed: dict[str, int] = {}  # codes by a store's text for a shape (shapes_of)
        self.shapes: list[Quad] = []
        self.verdicts: dict[tuple[int, str | None], tuple[Match, set[int], set[int]]] = {}
        # the codes by status: those that count (sent, planned), the sent, the planned, the void
        self.counted: set[int] = set()
        self.sent: set[int] = set()
        self.planned: set[int] = set()
        self.void: set[int] = set()

    def verdicts_of(self, match: Match, owner: str | None) -> tuple[set[int], set[int]]:
        """The codes ``match`` matches for ``owner`` (counted ones only), and the codes it was
        tested on."""
        key = (id(match), owner)
        found = self.verdicts.get(key)
        if found is None or found[0] is not match:
            if len(self.verdicts) > 4096:  # policies compiled again and again (a REPL, a test run)
                self.verdicts.clear()
            found = self.verdicts[key] = (match, set(), set())
        return found[1], found[2]


_TABLE = [_Table()]
_CODING = allocate_lock()  # two threads must not hand one code to two shapes


def _coded(quads: list[Quad]) -> tuple[_Table, list[int]]:
    """The current table (a new one if these shapes would take it past its bound) and the
    code of each (shape, status) in it."""
    with _CODING:
        table = _TABLE[0]
        new = set(quads) - table.codes.keys()
        if len(table.shapes) + len(new) > SHAPE_CODES:
            table = _TABLE[0] = _Table()
            new = set(quads)
        for quad in new:
            code = len(table.shapes)
            # interned, so a ledger of interned names (the policy's; a store's words) finds its
            # codes by identity, comparing no text
            quad = cast(Quad, tuple(intern(word) if type(word) is str else word for word in quad))
            table.shapes.append(quad)
            status = quad[3]
            if status in COUNTED_STATUSES:
                table.counted.add(code)
            if status == "sent":
                table.sent.add(code)
            elif status == "planned":
                table.planned.add(code)
            elif status == "void":
                table.void.add(code)
            table.codes[quad] = code  # last: a reader without the lock finds a code fully made
        return table, list(map(table.codes.__getitem__, quads))


class Shapes:
    """A ledger's distinct (purpose, channel, team, status), coded (:func:`shapes_of`): the
    table coding them, each one's code in it, and (made when first read) each one as words
    (the table's own tuple)."""

    __slots__ = ("table", "codes", "_shapes")

    def __init__(self, table: _Table, codes: list[int]) -> None:
        self.table = table
        self.codes = codes
        self._shapes: list[Quad] | None = None

    @property
    def shapes(self) -> list[Quad]:
        """Each shape as words, by its place."""
        found = self._shapes
        if found is None:
            found = self._shapes = list(map(self.table.shapes.__getitem__, self.codes))
        return found

    def having(self, status: str) -> list[int]:
        """The places of the shapes of ``status`` (sent, planned or void)."""
        wanted = {"sent": self.table.sent, "planned": self.table.planned, "void": self.table.void}[status]
        return list(compress(range(len(self.codes)), map(wanted.__contains__, self.codes)))


def shapes_of(keys: list[str], parse: Callable[[str], Quad]) -> Shapes:
    """The shapes a store names by ``keys`` (each a text standing for one shape; ``parse``
    gives its words, and may raise ValueError), coded. A key is parsed once per process: a
    policy's customers share their few shapes, so a customer read for the first time finds
    them coded already (one look-up a shape, no tuple made)."""
    table = _TABLE[0]
    found: list[Any] = list(map(table.keyed.get, keys))
    if None in found:  # keys never seen (once per process and key)
        table, found = _coded(list(map(parse, keys)))
        with _CODING:
            if len(table.keyed) > SHAPE_CODES:
                table.keyed.clear()
            table.keyed.update(zip(keys, found, strict=True))
    return Shapes(table, found)


def default_of(field: str) -> Any:
    """The value of a :class:`Contact` field that a ledger line leaves out."""
    return _DEFAULTS[field]


_GET = {name: attrgetter(name) for name in FIELDS}
_SETTERS: dict[str, Callable[[Contact, Any], None]] = {name: Contact.__dict__[name].__set__ for name in FIELDS}
_DEFAULTS: dict[str, Any] = {"status": "sent", "at": dt.datetime.min}
_DEFAULTS.update({name: None for name in ("outcome", "campaign", "id", "customer", "void_reason")})
_DEFAULTS.update({name: "" for name in ("channel", "purpose", "team")})
_DEFAULTS["warnings"] = ()

"""A customer's ledger, indexed once for many decisions.

The evaluator asks the same questions again and again: the counted contacts matching a
rule's selector, in time order; the instants of an event. :class:`History` sorts the
entries once and caches each selector's matches, so a decision costs a few binary
searches per rule instead of a scan of the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from policylang.clock import micros
from policylang.records import Contact, Entry, Event
from policylang.rules import Match

Matched = tuple[list[int], list[Contact]]


class History:
    """A customer's contacts and events, sorted, with per-selector indexes."""

    __slots__ = ("contacts", "counted", "counted_us", "events", "has_planned", "planned", "_cache")

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        contacts: list[tuple[int, int, Contact]] = []
        events: dict[str, list[int]] = {}
        for position, entry in enumerate(entries):
            if isinstance(entry, Contact):
                contacts.append((micros(entry.at), position, entry))
            elif isinstance(entry, Event):
                events.setdefault(entry.name, []).append(micros(entry.at))
            else:
                raise TypeError(f"a ledger holds Contact and Event entries, not {type(entry).__name__}")
        contacts.sort(key=lambda item: (item[0], item[1]))
        self.contacts = [c for _, _, c in contacts]
        counted = [(us, c) for us, _, c in contacts if c.counted]
        self.counted = [c for _, c in counted]
        self.counted_us = [us for us, _ in counted]
        self.events = {name: sorted(times) for name, times in events.items()}
        self.planned = [c for c in self.counted if c.status == "planned"]
        self.has_planned = bool(self.planned)
        self._cache: dict[tuple[Any, ...], tuple[Match, Matched]] = {}

    def __len__(self) -> int:
        return len(self.contacts) + sum(len(v) for v in self.events.values())

    def matching(self, match: Match, owner: str | None, *, sent_only: bool = False,
                 outcome: str | None = None, group: str | None = None, value: object = None) -> Matched:
        """Counted contacts matching ``match``, in time order.

        Optionally only sent ones, only those with ``outcome``, or only those whose
        ``group`` attribute (team, channel, purpose, campaign) equals ``value``.
        """
        key = (id(match), owner, sent_only, outcome, group, value)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is match:
            return hit[1]
        times: list[int] = []
        found: list[Contact] = []
        test = match.matches
        for us, contact in zip(self.counted_us, self.counted, strict=False):
            if sent_only and contact.status != "sent":
                continue
            if outcome is not None and contact.outcome != outcome:
                continue
            if group is not None and getattr(contact, group) != value:
                continue
            if test(contact.purpose, contact.channel, contact.team, owner):
                times.append(us)
                found.append(contact)
        result = (times, found)
        self._cache[key] = (match, result)
        return result

    def event_times(self, name: str) -> list[int]:
        return self.events.get(name, [])

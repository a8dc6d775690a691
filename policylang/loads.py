"""Capacity loads from a snapshot of every customer's contacts, indexed once per rule.

A ``capacity`` rule counts every customer's contacts. A loads object that only offers
``contacts(rule, start, end)`` makes the evaluator convert, sort and filter all of them at
each decision (10,000 contacts: about 10 ms of Python). :class:`SnapshotLoads` does that
once per rule for a fixed set of contacts and answers the evaluator's ``window`` question
(see :class:`policylang.evaluator.Loads`) with two binary searches, so a decision that
counts them costs what a decision over one customer's own ledger costs.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections.abc import Callable, Iterable

from policylang import clock
from policylang.records import Contact
from policylang.rules import CapRule


class SnapshotLoads:
    """Every customer's contacts at one moment, as the evaluator's ``loads``.

    ``owner_of`` gives a customer's owning team (for ``by owner`` selectors); without it no
    contact has an owner. The contacts must not change while the snapshot is in use: take a
    new snapshot after the store changes.
    """

    def __init__(self, contacts: Iterable[Contact], owner_of: Callable[[str | None], str | None] | None = None) -> None:
        self._contacts = [c for c in contacts if c.counted]
        self._owner_of = owner_of
        self._by_rule: dict[str, tuple[list[int], list[Contact]]] = {}

    def _indexed(self, rule: CapRule) -> tuple[list[int], list[Contact]]:
        """The rule's counted contacts, sorted by instant, with their epoch microseconds."""
        found = self._by_rule.get(rule.name)
        if found is None:
            owner_of, match = self._owner_of, rule.match
            pairs = sorted(
                ((clock.micros(c.at), c) for c in self._contacts
                 if match.matches(c.purpose, c.channel, c.team, owner_of(c.customer) if owner_of else None)
                 and not rule.leaves_out(c.status, c.outcome)),
                key=lambda pair: pair[0],
            )
            found = self._by_rule[rule.name] = ([us for us, _ in pairs], [c for _, c in pairs])
        return found

    def contacts(self, rule: CapRule, start: dt.datetime, end: dt.datetime) -> list[Contact]:
        """Counted contacts of all customers matching ``rule.match`` in ``[start, end)``."""
        times, contacts, i, j = self.window(rule, clock.micros(start), clock.micros(end))
        return contacts[i:j]

    def window(self, rule: CapRule, lo: int, hi: int) -> tuple[list[int], list[Contact], int, int]:
        """The rule's sorted counted contacts and the index range of those in ``[lo, hi)``."""
        times, contacts = self._indexed(rule)
        return times, contacts, bisect_left(times, lo), bisect_left(times, hi)

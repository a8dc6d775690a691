"""Batch arbitration: many requests for one customer in one cycle (section 6).

Requests are granted in precedence order (the customer's owner substituted), then by
priority (higher first), then by time (earlier first). Each granted request becomes a
planned contact that the following requests see; contacts a grant displaces become
``displaced`` and stop counting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from policylang.clock import UTC, instant
from policylang.decision import Decision
from policylang.evaluator import Loads, decide
from policylang.history import History
from policylang.records import FIRST_YEAR, LAST_YEAR, Contact, Customer, Entry, Event, Request
from policylang.rules import Policy
from policylang.slotted import evolve, fields


@attrs.frozen(slots=True)
class Ruling:
    """One request's place in the arbitration order and its decision."""

    position: int  # index of the request in the caller's list
    decision: Decision


def arbitration_order(policy: Policy, owner: str | None, requests: Sequence[Request]) -> list[int]:
    """Indexes of ``requests`` in the order they are decided."""
    ranks, weakest = policy.ranks(owner)
    return sorted(
        range(len(requests)),
        key=lambda i: (ranks.get(requests[i].team, weakest), -requests[i].priority, requests[i].at, i),
    )


def arbitrate(
    policy: Policy,
    customer: Customer | Mapping[str, Any],
    requests: Sequence[Request],
    ledger: Iterable[Entry] | History = (),
    *,
    explain: bool = False,
    loads: Loads | None = None,
) -> list[Ruling]:
    """Decide a cycle's requests for one customer; rulings come in arbitration order."""
    cycle = Cycle(policy, customer, requests, ledger)
    return [Ruling(index, cycle.decide(index, explain=explain, loads=loads)) for index in cycle.order]


class Cycle:
    """One customer's cycle, decided a request at a time in :attr:`order`.

    :func:`arbitrate` decides the whole cycle at once; a batch that interleaves several
    customers' cycles (``capacity`` rules count every customer's grants) steps each cycle
    itself, so both share this one account of what a grant does to the ledger.
    """

    __slots__ = ("policy", "customer", "values", "requests", "order", "grant_ids", "_entries", "_history", "_undecided")

    def __init__(self, policy: Policy, customer: Customer | Mapping[str, Any], requests: Sequence[Request],
                 ledger: Iterable[Entry] | History = (), grant_ids: Sequence[str | None] | None = None) -> None:
        self.policy = policy
        self.customer = customer  # a validated Customer is not checked again at each decision
        self.values = customer.values if isinstance(customer, Customer) else customer
        owner = self.values.get(policy.owner_attribute) if policy.owner_attribute else None
        self.requests = requests
        self.order = arbitration_order(policy, owner, requests)
        # The id a grant's planned contact carries (what a later decision displaces).
        self.grant_ids = grant_ids
        # A prebuilt index is used as it is until the first grant changes the ledger.
        self._history: History | None = ledger if isinstance(ledger, History) else None
        self._entries: list[Entry] | None = None if isinstance(ledger, History) else list(ledger)
        self._undecided = len(requests)

    def decide(self, index: int, *, explain: bool = False, loads: Loads | None = None) -> Decision:
        """Decide request ``index``; a grant becomes a planned contact the next ones see."""
        if self._history is None:
            assert self._entries is not None
            self._history = History(self._entries)
        request = self.requests[index]
        decision = decide(self.policy, self.customer, request, self._history, explain=explain, loads=loads)
        self._undecided -= 1
        # after the cycle's last request no decision reads the ledger again: the grant is
        # not added (in a batch of two requests per customer, half the growing was for nothing)
        if decision.allowed and self._undecided > 0:
            ident = self.grant_ids[index] if self.grant_ids is not None else f"request-{index}"
            # the index grows by the grant (rebuilt from the entries when it cannot: see History.plus)
            planned = grant(request, ident)
            grown = self._history.plus(planned, decision.displaces)
            if grown is not None:
                if self._entries is not None:
                    self._entries.append(planned)  # the same object: precedence tells contacts by identity
                self._history = grown
                return decision
            entries = self._entries if self._entries is not None else entries_of(self._history)
            if decision.displaces:
                entries = [displaced(e) if e in decision.displaces else e for e in entries]
            entries.append(grant(request, ident))
            self._entries, self._history = entries, None
        return decision


def grant(request: Request, ident: str | None) -> Contact:
    """The planned contact a granted request becomes."""
    at = request.at
    if type(at) is dt.datetime and at.tzinfo is UTC and FIRST_YEAR <= at.year <= LAST_YEAR:
        # what Contact() makes of it, its slots filled directly: the converter (records.to_utc)
        # would give back this very instant (UTC already, in range), and the frozen class's
        # __init__ sets each field through object.__setattr__
        contact: Contact = _NEW(Contact)
        _AT(contact, at)
        _CHANNEL(contact, request.channel)
        _PURPOSE(contact, request.purpose)
        _TEAM(contact, request.team)
        _STATUS(contact, "planned")
        _OUTCOME(contact, None)
        _CAMPAIGN(contact, request.campaign)
        _ID(contact, ident)
        _CUSTOMER(contact, None)
        _VOID_REASON(contact, None)
        _WARNINGS(contact, ())
        return contact
    return Contact(at, request.channel, request.purpose, request.team, "planned", campaign=request.campaign, id=ident)


_NEW = object.__new__
_AT, _CHANNEL, _PURPOSE, _TEAM, _STATUS, _OUTCOME, _CAMPAIGN, _ID, _CUSTOMER, _VOID_REASON, _WARNINGS = (
    Contact.__dict__[spec.name].__set__ for spec in fields(Contact))
assert tuple(spec.name for spec in fields(Contact)) == (
    "at", "channel", "purpose", "team", "status", "outcome", "campaign", "id", "customer", "void_reason",
    "warnings"), "grant() fills every field of Contact, in this order"


def entries_of(history: History) -> list[Entry]:
    """The entries a decision can see in ``history``: its counted contacts and its events
    (displaced and released contacts count for nothing, so they are not needed again)."""
    events: list[Entry] = [Event(instant(us), name) for name, times in history.events.items() for us in times]
    return [*history.counted, *events]


def displaced(entry: Entry) -> Entry:
    return evolve(entry, status="displaced") if isinstance(entry, Contact) else entry

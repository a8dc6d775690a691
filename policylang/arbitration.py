"""Batch arbitration: many requests for one customer in one cycle (section 6).

Requests are granted in precedence order (the customer's owner substituted), then by
priority (higher first), then by time (earlier first). Each granted request becomes a
planned contact that the following requests see; contacts a grant displaces become
``displaced`` and stop counting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from policylang.decision import Decision
from policylang.evaluator import Loads, decide
from policylang.records import Contact, Customer, Entry, Request
from policylang.rules import Policy


@attrs.frozen(slots=True)
class Ruling:
    """One request's place in the arbitration order and its decision."""

    position: int  # index of the request in the caller's list
    decision: Decision


def arbitration_order(policy: Policy, owner: str | None, requests: Sequence[Request]) -> list[int]:
    """Indexes of ``requests`` in the order they are decided."""
    return sorted(
        range(len(requests)),
        key=lambda i: (policy.rank(requests[i].team, owner), -requests[i].priority, requests[i].at, i),
    )


def arbitrate(
    policy: Policy,
    customer: Customer | Mapping[str, Any],
    requests: Sequence[Request],
    ledger: Iterable[Entry] = (),
    *,
    explain: bool = False,
    loads: Loads | None = None,
) -> list[Ruling]:
    """Decide a cycle's requests for one customer; rulings come in arbitration order."""
    values = customer.values if isinstance(customer, Customer) else customer
    owner = values.get(policy.owner_attribute) if policy.owner_attribute else None
    entries: list[Entry] = list(ledger)
    rulings = []
    for index in arbitration_order(policy, owner, requests):
        request = requests[index]
        # a Customer is validated already; a plain mapping is checked by decide each time
        decision = decide(policy, customer if isinstance(customer, Customer) else values, request, entries,
                          explain=explain, loads=loads)
        if decision.allowed:
            entries = [displaced(e) if e in decision.displaces else e for e in entries]
            entries.append(Contact(request.at, request.channel, request.purpose, request.team,
                                   "planned", campaign=request.campaign, id=f"request-{index}"))
        rulings.append(Ruling(index, decision))
    return rulings


def displaced(entry: Entry) -> Entry:
    return attrs.evolve(entry, status="displaced") if isinstance(entry, Contact) else entry

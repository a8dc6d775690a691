"""Replaying a plan through the evaluator: the check every test plan passes.

Shares nothing with the solvers: per customer, the granted candidates go through
:func:`~policylang.arbitration.arbitrate` with the customer's ledger; every capacity rule
is decided with a load holding every customer's ledger and the whole plan; budgets,
volumes, cells and groups are summed from the candidates; precedence is the issue's
statement, checked literally (a dropped stronger candidate swapped for a granted weaker
one must give an invalid plan).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from policylang import clock
from policylang.arbitration import arbitrate
from policylang.evaluator import decide
from policylang.history import History
from policylang.plan.inputs import Candidates, Cycle
from policylang.plan.oracle import NO_LOADS
from policylang.plan.problem import LIMIT_TOLERANCE
from policylang.records import Contact, Customer, Entry
from policylang.rules import CapRule, Policy


class PlanLoads:
    """Every customer's counted ledger contacts and the plan's contacts, for capacity rules."""

    def __init__(self, contacts: Sequence[tuple[Contact, str | None]]) -> None:
        self.items = [(clock.micros(c.at), c, owner) for c, owner in contacts]

    def contacts(self, rule: CapRule, start: dt.datetime, end: dt.datetime) -> Iterable[Contact]:
        lo, hi = clock.micros(start), clock.micros(end)
        return [c for us, c, owner in self.items
                if lo <= us < hi and rule.match.matches(c.purpose, c.channel, c.team, owner)]


def _owner(policy: Policy, customer: Customer) -> str | None:
    owner = customer.values.get(policy.owner_attribute) if policy.owner_attribute else None
    return owner if isinstance(owner, str) else None


def problems(
    policy: Policy,
    candidates: Candidates,
    customers: Mapping[str, Customer],
    ledgers: Mapping[str, Sequence[Entry]],
    cycle: Cycle,
    granted: Sequence[bool],
    *,
    precedence: bool = True,
) -> list[str]:
    """Every way the plan breaks the policy or the cycle's limits; empty when it is valid."""
    chosen = {j for j, g in enumerate(granted) if g}
    found = _invalid(policy, candidates, customers, ledgers, cycle, chosen, only=None)
    if found or not precedence:
        return found
    by_customer: dict[str, list[int]] = defaultdict(list)
    for j, c in enumerate(candidates.customers):
        by_customer[c].append(j)
    for c, mine in by_customer.items():
        owner = _owner(policy, customers[c])
        rank = {j: policy.rank(candidates.requests[j].team, owner) for j in mine}
        for low in (j for j in mine if j in chosen):
            for h in (j for j in mine if j not in chosen and rank[j] < rank[low]):
                swapped = (chosen - {low}) | {h}
                if not _invalid(policy, candidates, customers, ledgers, cycle, swapped, only=(c, h)):
                    found.append(f"precedence: {candidates.ids[h]} ({candidates.requests[h].team}) could take "
                                 f"the place of {candidates.ids[low]} ({candidates.requests[low].team})")
    return found


def _invalid(policy: Policy, candidates: Candidates, customers: Mapping[str, Customer],
             ledgers: Mapping[str, Sequence[Entry]], cycle: Cycle, chosen: set[int],
             only: tuple[str, int] | None) -> list[str]:
    """Problems of the plan ``chosen``; with ``only`` (customer, candidate), the policy and
    capacity checks look at that customer and that candidate alone (the rest is unchanged)."""
    found: list[str] = []
    groups = Counter(candidates.group[j] for j in chosen if candidates.group[j] is not None)
    found += [f"group {g}: {n} granted" for g, n in groups.items() if n > 1]
    per: dict[str, list[int]] = defaultdict(list)
    for j in sorted(chosen):
        per[candidates.customers[j]].append(j)
    for c, mine in per.items():
        if only is not None and c != only[0]:
            continue
        rulings = arbitrate(policy, customers[c], [candidates.requests[j] for j in mine], ledgers.get(c, ()),
                            explain=False, loads=NO_LOADS)
        found += [f"rule: {candidates.ids[mine[r.position]]} denied by {', '.join(r.decision.denied_by)}"
                  for r in rulings if not r.decision.allowed]
    if any(isinstance(r, CapRule) and r.kind == "capacity" for r in policy.rules):
        load: list[tuple[Contact, str | None]] = [
            (e, _owner(policy, customers[c]) if c in customers else None)
            for c, entries in ledgers.items() for e in entries if isinstance(e, Contact) and e.counted]
        planned = {}
        for j in chosen:
            r = candidates.requests[j]
            planned[j] = (Contact(r.at, r.channel, r.purpose, r.team, "planned", campaign=r.campaign,
                                  id=candidates.ids[j]), _owner(policy, customers[candidates.customers[j]]))
        for j in sorted(chosen):
            if only is not None and j != only[1]:
                continue
            loads = PlanLoads(load + [v for k, v in planned.items() if k != j])
            c = candidates.customers[j]
            decision = decide(policy, customers[c], candidates.requests[j], History(list(ledgers.get(c, ()))),
                              explain=False, loads=loads)
            kinds = {r.name: r.kind for r in policy.rules}
            full = [n for n in decision.denied_by if kinds[n] == "capacity"]
            found += [f"capacity: {candidates.ids[j]} denied by {n}" for n in full]
    cost = sum(float(candidates.cost[j]) for j in chosen)
    if cycle.budget is not None and cost > cycle.budget + LIMIT_TOLERANCE:
        found.append(f"budget: {cost} over {cycle.budget}")
    for name, limits in cycle.campaigns.items():
        inside = [j for j in chosen if candidates.requests[j].campaign == name]
        spent = sum(float(candidates.cost[j]) for j in inside)
        cells = len({candidates.customers[j] for j in inside})
        if limits.budget is not None and spent > limits.budget + LIMIT_TOLERANCE:
            found.append(f"budget: campaign {name} spends {spent} over {limits.budget}")
        if limits.max_volume is not None and len(inside) > limits.max_volume:
            found.append(f"volume: campaign {name} has {len(inside)} over {limits.max_volume}")
        if limits.min_volume is not None and len(inside) < limits.min_volume:
            found.append(f"volume: campaign {name} has {len(inside)} under {limits.min_volume}")
        if limits.min_cell is not None and 0 < cells < limits.min_cell:
            found.append(f"cell: campaign {name} reaches {cells} customers, under {limits.min_cell}")
    return found

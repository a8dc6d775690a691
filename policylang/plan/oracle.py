"""Which subsets of one customer's candidates the policy allows: the evaluator decides.

Policy feasibility does not depend on prices or on other customers (capacity rules,
the only rules that read every customer's contacts, are shared constraints the solver
holds; here they are fed no load, so they never deny). So it is computed once, before
solving: a depth-first walk over the customer's candidates in arbitration order, each
step one :func:`~policylang.evaluator.decide` with the customer's ledger plus the
candidates already taken as planned contacts (exactly what
:func:`~policylang.arbitration.arbitrate` does). A subset is *feasible* when arbitration
allows every member; at most one candidate of a ``group`` is taken.

The walk runs in worker processes over chunks of customers (fork: the compiled policy
holds closures that do not pickle, so workers inherit it).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from policylang.arbitration import arbitration_order, displaced
from policylang.evaluator import decide
from policylang.history import History
from policylang.records import Contact, Customer, Entry, Request
from policylang.rules import CapRule, Policy


class NoLoads:
    """Capacity rules see no contacts: the planner holds them as shared constraints."""

    def contacts(self, rule: CapRule, start: dt.datetime, end: dt.datetime) -> Iterable[Contact]:
        return ()


NO_LOADS = NoLoads()


def customer_patterns(
    policy: Policy,
    customer: Customer | Mapping[str, Any],
    ledger: Sequence[Entry],
    requests: Sequence[Request],
    groups: Sequence[str | None],
) -> list[int]:
    """Every feasible subset of ``requests`` as a bit mask (bit i: ``requests[i]``), sorted.

    The empty subset (mask 0) is always among them. Pass a :class:`Customer` (validated
    once) rather than a plain mapping (checked at every decision).
    """
    values = customer.values if isinstance(customer, Customer) else customer
    owner = values.get(policy.owner_attribute) if policy.owner_attribute else None
    order = arbitration_order(policy, owner, requests)
    found: list[int] = []

    def walk(k: int, mask: int, entries: list[Entry], taken: frozenset[str]) -> None:
        if k == len(order):
            found.append(mask)
            return
        walk(k + 1, mask, entries, taken)
        i = order[k]
        group = groups[i]
        if group is not None and group in taken:
            return
        request = requests[i]
        decision = decide(policy, customer, request, History(entries), explain=False, loads=NO_LOADS, search=False)
        if not decision.allowed:
            return
        after = [displaced(e) if e in decision.displaces else e for e in entries] if decision.displaces else list(entries)
        after.append(Contact(request.at, request.channel, request.purpose, request.team, "planned",
                             campaign=request.campaign, id=f"request-{i}"))
        walk(k + 1, mask | (1 << i), after, taken | {group} if group is not None else taken)

    walk(0, 0, list(ledger), frozenset())
    return sorted(found)


def first_denial(policy: Policy, customer: Customer, ledger: Sequence[Entry],
                 requests: Sequence[Request]) -> tuple[int, tuple[str, ...]] | None:
    """Arbitrate ``requests`` as :func:`~policylang.arbitration.arbitrate` does (capacity fed no
    load, no search for the next allowed time): the first denied request's index and the
    rules that deny it, or None when all are allowed."""
    values = customer.values
    owner = values.get(policy.owner_attribute) if policy.owner_attribute else None
    entries: list[Entry] = list(ledger)
    for i in arbitration_order(policy, owner, requests):
        request = requests[i]
        decision = decide(policy, customer, request, History(entries), explain=False, loads=NO_LOADS, search=False)
        if not decision.allowed:
            return i, decision.denied_by
        if decision.displaces:
            entries = [displaced(e) if e in decision.displaces else e for e in entries]
        entries.append(Contact(request.at, request.channel, request.purpose, request.team, "planned",
                               campaign=request.campaign, id=f"request-{i}"))
    return None


# ---- many customers, many processes ------------------------------------------------------

Job = tuple[Customer | Mapping[str, Any], Sequence[Entry], Sequence[Request], Sequence[str | None]]
_STATE: dict[str, Any] = {}


def _run_chunk(bounds: tuple[int, int]) -> list[list[int]]:
    policy: Policy = _STATE["policy"]
    jobs: Sequence[Job] = _STATE["jobs"]
    return [customer_patterns(policy, *jobs[k]) for k in range(*bounds)]


def all_patterns(policy: Policy, jobs: Sequence[Job], workers: int | None = None) -> list[list[int]]:
    """:func:`customer_patterns` for each job (customer values, ledger, requests, groups).

    ``workers`` processes (default: every core; 1 runs inline). Results keep job order.
    """
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(jobs) < 200 or "fork" not in multiprocessing.get_all_start_methods():
        return [customer_patterns(policy, *job) for job in jobs]
    size = max(100, len(jobs) // (workers * 8))
    chunks = [(start, min(start + size, len(jobs))) for start in range(0, len(jobs), size)]
    _STATE.update(policy=policy, jobs=jobs)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_run_chunk, chunks)
    finally:
        _STATE.clear()
    return [masks for part in parts for masks in part]

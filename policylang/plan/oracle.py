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

import array
import bisect
import datetime as dt
import gc
import multiprocessing
import os
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

from policylang.arbitration import arbitration_order, displaced
from policylang.evaluator import decide
from policylang.history import History
from policylang.records import Contact, Customer, Entry, Request
from policylang.rules import CapRule, Policy
from policylang.slotted import fields


class NoLoads:
    """Capacity rules see no contacts: the planner holds them as shared constraints."""

    def contacts(self, rule: CapRule, start: dt.datetime, end: dt.datetime) -> Iterable[Contact]:
        return ()


NO_LOADS = NoLoads()


# (mask of the feasible subset before it, request index) -> the rules that denied that request
Denials = dict[tuple[int, int], tuple[str, ...]]


def customer_patterns(
    policy: Policy,
    customer: Customer | Mapping[str, Any],
    ledger: Sequence[Entry],
    requests: Sequence[Request],
    groups: Sequence[str | None],
    denials: Denials | None = None,
) -> list[int]:
    """Every feasible subset of ``requests`` as a bit mask (bit i: ``requests[i]``), sorted.

    The empty subset (mask 0) is always among them. Pass a :class:`Customer` (validated
    once) rather than a plain mapping (checked at every decision). ``denials``, when given,
    receives each denial the walk met: ``(mask, i)`` -> the rules denying ``requests[i]``
    after the feasible subset ``mask`` (of requests before it in arbitration order), which
    is all :func:`first_denial` asks (see :func:`recorded_denial`).
    """
    values = customer.values if isinstance(customer, Customer) else customer
    owner = values.get(policy.owner_attribute) if policy.owner_attribute else None
    order = arbitration_order(policy, owner, requests)
    found: list[int] = []

    # ``history`` is the index of ``entries``, built at the first decision that needs it and
    # handed down the branches that leave out the next candidate (same entries): one index
    # per feasible subset rather than one per decision.
    def walk(k: int, mask: int, entries: list[Entry], history: History | None, taken: frozenset[str]) -> None:
        if k == len(order):
            found.append(mask)
            return
        i = order[k]
        group = groups[i]
        if group is not None and group in taken:
            walk(k + 1, mask, entries, history, taken)
            return
        request = requests[i]
        if history is None:
            history = History(entries)
        decision = decide(policy, customer, request, history, explain=False, loads=NO_LOADS, search=False)
        walk(k + 1, mask, entries, history, taken)
        if not decision.allowed:
            if denials is not None:
                denials[(mask, i)] = decision.denied_by
            return
        after = [displaced(e) if e in decision.displaces else e for e in entries] if decision.displaces else list(entries)
        after.append(Contact(request.at, request.channel, request.purpose, request.team, "planned",
                             campaign=request.campaign, id=f"request-{i}"))
        walk(k + 1, mask | (1 << i), after, None, taken | {group} if group is not None else taken)

    walk(0, 0, list(ledger), None, frozenset())
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


class Denied:
    """A walk's denials, kept compact until the reasons ask: the keys ``(mask, i)`` as one
    sorted array of ``mask << 16 | i`` and the rules beside them (a dict of tuples was
    ~0.7 KB a customer, half a gigabyte at a million). Keys past 64 bits stay a dict."""

    __slots__ = ("keys", "rules", "wide")

    def __init__(self, denials: Mapping[tuple[int, int], tuple[str, ...]]) -> None:
        items = sorted(((mask << 16 | i), rules) for (mask, i), rules in denials.items())
        self.wide: dict[tuple[int, int], tuple[str, ...]] | None = None
        if items and (items[-1][0] >= 1 << 63 or max(i for _, i in denials) >= 1 << 16):
            self.wide = dict(denials)
            items = []
        self.keys = array.array("q", [key for key, _ in items])
        self.rules = tuple(rules for _, rules in items)

    def get(self, key: tuple[int, int]) -> tuple[str, ...] | None:
        """The rules that denied request ``i`` after the feasible subset ``mask``, or None."""
        if self.wide is not None:
            return self.wide.get(key)
        mask, i = key
        if mask >= 1 << 47 or i >= 1 << 16:
            return None
        wanted = mask << 16 | i
        at = bisect.bisect_left(self.keys, wanted)
        return self.rules[at] if at < len(self.keys) and self.keys[at] == wanted else None

    def __len__(self) -> int:
        return len(self.wide) if self.wide is not None else len(self.keys)


def recorded_denial(policy: Policy, customer: Customer, requests: Sequence[Request], trial: Sequence[int],
                    denials: Mapping[tuple[int, int], tuple[str, ...]] | Denied) -> tuple[int, tuple[str, ...]] | None:
    """:func:`first_denial` of the requests ``trial`` (indexes into the customer's ``requests``,
    ascending, no two of one group) from the walk's ``denials``: arbitrating a subset visits
    them in the customer's arbitration order, and each prefix allowed so far is a feasible
    subset the walk tried the next request after."""
    owner = customer.values.get(policy.owner_attribute) if policy.owner_attribute else None
    subset = [requests[i] for i in trial]
    mask = 0
    for k in arbitration_order(policy, owner, subset):
        i = trial[k]
        denied = denials.get((mask, i))
        if denied is not None:
            return k, denied
        mask |= 1 << i
    return None


# ---- many customers, many processes ------------------------------------------------------

Job = tuple[Customer | Mapping[str, Any], Sequence[Entry], Sequence[Request], Sequence[str | None]]


def job_key(job: Job) -> Hashable:
    """What a customer's feasible subsets depend on: its attribute values, its ledger and its
    candidates' requests, and which of them share a group. Not the customer's id (a
    decision reads ``Customer.values`` only), not the ledger lines' ``customer`` field, not the
    group labels themselves (only which candidates share one). Unhashable values make the
    job its own key."""
    customer, ledger, requests, groups = job
    values = customer.values if isinstance(customer, Customer) else customer
    labels: dict[str, int] = {}
    shape = tuple(None if g is None else labels.setdefault(g, len(labels)) for g in groups)
    entries = tuple(_entry_key(e) for e in ledger)
    # Requests by identity: the candidates reader holds equal requests once, and the jobs
    # keep them alive while keys are compared (equal ones held twice only miss a sharing).
    key = (tuple(sorted(values.items())), entries, tuple(map(id, requests)), shape)
    try:
        hash(key)
    except TypeError:
        return ("job", id(job))
    return key


_FIELDS: dict[type, tuple[str, ...]] = {}


def _entry_key(entry: Entry) -> tuple[Any, ...]:
    """A ledger line's fields but its ``customer`` (cheaper than a copy without it)."""
    kind = type(entry)
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(f.name for f in fields(kind) if f.name != "customer")
    return (kind, *[getattr(entry, name) for name in names])


def distinct(jobs: Sequence[Job]) -> tuple[list[Job], list[int]]:
    """The jobs with distinct :func:`job_key` (first of each, in order) and, for each job, the
    position of its representative: customers in the same situation share one walk."""
    first: dict[Hashable, int] = {}
    unique: list[Job] = []
    back: list[int] = []
    for job in jobs:
        key = job_key(job)
        at = first.get(key)
        if at is None:
            at = first[key] = len(unique)
            unique.append(job)
        back.append(at)
    return unique, back


def eligible_walks(policy: Policy, jobs: Sequence[Job], workers: int | None = None,
                   engine: Callable[[Policy, Sequence[Job]], list[list[int]]] | None = None,
                   ) -> tuple[list[list[int]], list[Denied] | None]:
    """:func:`customer_patterns` for each job, each distinct situation walked once (on
    ``engine``, e.g. Spark, else on ``workers`` processes), with each job's denials
    (:func:`walk_job`) when walked locally (an ``engine`` returns masks only: None then)."""
    unique, back = distinct(jobs)
    if engine is not None:
        found = engine(policy, unique)
        return [found[at] for at in back], None
    walks = all_walks(policy, unique, workers)
    return [walks[at][0] for at in back], [walks[at][1] for at in back]
_STATE: dict[str, Any] = {}


Walk = tuple[list[int], Denied]


def walk_job(policy: Policy, job: Job, names: dict[tuple[str, ...], tuple[str, ...]]) -> Walk:
    """One job's feasible masks and the denials met (rule tuples shared through ``names``)."""
    denials: Denials = {}
    masks = customer_patterns(policy, *job, denials=denials)
    return masks, Denied({key: names.setdefault(rules, rules) for key, rules in denials.items()})


def _run_chunk(bounds: tuple[int, int]) -> list[Walk]:
    policy: Policy = _STATE["policy"]
    jobs: Sequence[Job] = _STATE["jobs"]
    names: dict[tuple[str, ...], tuple[str, ...]] = {}
    return [walk_job(policy, jobs[k], names) for k in range(*bounds)]


def all_patterns(policy: Policy, jobs: Sequence[Job], workers: int | None = None) -> list[list[int]]:
    """:func:`customer_patterns` for each job (customer values, ledger, requests, groups).

    ``workers`` processes (default: every core; 1 runs inline). Results keep job order.
    """
    return [masks for masks, _ in all_walks(policy, jobs, workers)]


def all_walks(policy: Policy, jobs: Sequence[Job], workers: int | None = None) -> list[Walk]:
    """:func:`walk_job` for each job, on ``workers`` processes (see :func:`all_patterns`)."""
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(jobs) < 200 or "fork" not in multiprocessing.get_all_start_methods():
        names: dict[tuple[str, ...], tuple[str, ...]] = {}
        return [walk_job(policy, job, names) for job in jobs]
    size = max(100, len(jobs) // (workers * 8))
    chunks = [(start, min(start + size, len(jobs))) for start in range(0, len(jobs), size)]
    _STATE.update(policy=policy, jobs=jobs)
    # Every object so far goes to the collector's permanent generation: a forked worker's
    # collections would otherwise write to every object's header and copy the parent's
    # whole heap (1,000,000 customers: each worker at the parent's 3.2 GB RSS, 2 GB PSS).
    gc.freeze()
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_run_chunk, chunks)
    finally:
        gc.unfreeze()
        _STATE.clear()
    return [walk for part in parts for walk in part]

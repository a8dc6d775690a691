"""The planning problem over plain arrays: patterns per customer, shared rows, limits.

Rows are the shared constraints the evaluator cannot hold one customer at a time:

* ``capacity``: one row per window of a ``capacity`` rule that some candidate falls in
  (rolling: every window starting at a contact's instant, where the busiest window
  containing a request starts; calendar: each period in the policy's zone; consecutive
  days: each run of local dates). Which candidates a rule counts is asked of the
  evaluator's rule plan (selector and exemptions); the right-hand side is the limit
  less the ledger's counted contacts of every customer in the window.
* ``budget``: the cycle's total budget and each campaign's budget, over candidate costs.
* ``volume``: each campaign's ``max_volume`` (granted candidates).

Lower limits (``min_volume``, ``min_cell``) are kept apart: the Lagrangian bound relaxes
them, the exact model and the repair hold them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from policylang import clock
from policylang.evaluator import rule_plan
from policylang.plan.inputs import Candidates, Cycle
from policylang.records import Contact, Customer, Entry
from policylang.rules import Calendar, CapRule, Consecutive, Policy, Rolling

# A shared row holds while its load is at most its right-hand side plus this (budgets are
# sums of float costs): the solvers' states, the exact model's thresholds, the bound and the
# replay (verify) all read a limit this one way.
LIMIT_TOLERANCE = 1e-6

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@attrs.frozen(slots=True)
class Resource:
    """One shared row: ``kind`` capacity/budget/volume, the rule or campaign ``name``, and
    ``label`` (the window, for capacity)."""

    kind: str
    name: str
    label: str
    limit: float  # the rule's or budget's own limit
    rhs: float  # what the plan may still use: limit less the ledger's load


@attrs.frozen(slots=True, eq=False)
class Problem:
    """Everything the solvers need, as arrays. Candidates keep their file index ``j``."""

    candidates: Candidates
    customer_ids: list[str]  # customer index -> id, in first-appearance order
    cust: IntArray  # candidate -> customer index
    rank: IntArray  # candidate -> precedence rank for its customer (lower is stronger)
    campaign: IntArray  # candidate -> campaign index
    campaign_names: list[str]
    gain: FloatArray  # value - cost
    # patterns: feasible subsets, contiguous per customer, the empty one first
    cust_pat: IntArray  # customer c's patterns are cust_pat[c]:cust_pat[c+1]
    pat_ptr: IntArray  # pattern p's members are pat_members[pat_ptr[p]:pat_ptr[p+1]]
    pat_members: IntArray
    pat_of: IntArray  # member position -> pattern
    pat_cust: IntArray  # pattern -> customer
    # shared rows, by row (CSR) and by candidate (CSC)
    resources: list[Resource]
    row_ptr: IntArray
    row_cand: IntArray
    row_coef: FloatArray
    row_of: IntArray  # nonzero -> row
    cand_ptr: IntArray
    cand_row: IntArray
    cand_coef: FloatArray
    blocked: dict[int, str]  # candidate -> capacity rule whose window the ledger already fills
    min_volume: dict[int, int]  # campaign index -> min
    min_cell: dict[int, int]
    # Feasible subsets precedence always refuses (see :func:`always_refused`): never chosen,
    # but still swap targets. Precedence asks whether the plan with ``l`` swapped for ``h`` is
    # valid by the policy and the limits alone, so a plan whose only swap leads to such a
    # subset breaks precedence too. Customer c's are ref_cust[c]:ref_cust[c+1]; refused
    # pattern i's members are ref_members[ref_ptr[i]:ref_ptr[i+1]].
    ref_cust: IntArray = attrs.field(factory=lambda: np.zeros(1, dtype=np.int64))
    ref_ptr: IntArray = attrs.field(factory=lambda: np.zeros(1, dtype=np.int64))
    ref_members: IntArray = attrs.field(factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def customers(self) -> int:
        return len(self.customer_ids)

    @property
    def patterns(self) -> int:
        return len(self.pat_ptr) - 1

    def members(self, p: int) -> IntArray:
        return self.pat_members[self.pat_ptr[p]:self.pat_ptr[p + 1]]

    def pattern_gain(self) -> FloatArray:
        """Each pattern's total value less cost."""
        return pattern_sums(self, self.gain)

    def usage(self, granted: npt.NDArray[np.bool_]) -> FloatArray:
        """Each row's load from the granted candidates."""
        weights = self.row_coef * granted[self.row_cand]
        return np.asarray(np.bincount(self.row_of, weights=weights, minlength=len(self.resources)), dtype=np.float64)


def pattern_sums(problem: Problem, per_candidate: FloatArray) -> FloatArray:
    """The sum of ``per_candidate`` over each pattern's members (0 for the empty pattern)."""
    sums = np.bincount(problem.pat_of, weights=per_candidate[problem.pat_members], minlength=problem.patterns)
    return np.asarray(sums, dtype=np.float64)


def customer_jobs(candidates: Candidates) -> tuple[list[str], IntArray, list[list[int]]]:
    """Customer ids in first-appearance order, each candidate's customer index, and each
    customer's candidate indexes."""
    index: dict[str, int] = {}
    members: list[list[int]] = []
    cust = np.empty(len(candidates), dtype=np.int64)
    for j, customer in enumerate(candidates.customers):
        c = index.get(customer)
        if c is None:
            c = index[customer] = len(members)
            members.append([])
        members[c].append(j)
        cust[j] = c
    return list(index), cust, members


def build(
    policy: Policy,
    candidates: Candidates,
    customers: Mapping[str, Customer],
    ledgers: Mapping[str, Sequence[Entry]],
    cycle: Cycle,
    customer_ids: list[str],
    cust: IntArray,
    members: list[list[int]],
    masks: list[list[int]],
) -> Problem:
    """Assemble the arrays from each customer's feasible masks (see :mod:`.oracle`)."""
    owners = [owner_of(policy, customers[c].values) for c in customer_ids]
    rank = np.array([policy.rank(r.team, owners[cust[j]]) for j, r in enumerate(candidates.requests)], dtype=np.int64)
    names = candidates.campaigns
    campaign_names = sorted(set(names) | set(cycle.campaigns))
    campaign_of = {name: k for k, name in enumerate(campaign_names)}
    campaign = np.array([campaign_of[name] for name in names], dtype=np.int64)
    gain = candidates.value - candidates.cost

    resources: list[Resource] = []
    rows: list[IntArray] = []
    coefs: list[FloatArray] = []
    blocked: dict[int, str] = {}
    capacity_rows(policy, candidates, owners, cust, customers, ledgers, resources, rows, coefs, blocked)
    if cycle.budget is not None:
        resources.append(Resource("budget", "total", "the cycle's budget", cycle.budget, cycle.budget))
        rows.append(np.arange(len(candidates), dtype=np.int64))
        coefs.append(candidates.cost.copy())
    for name, limits in sorted(cycle.campaigns.items()):
        inside = np.flatnonzero(campaign == campaign_of[name])
        if limits.budget is not None:
            resources.append(Resource("budget", name, f"campaign {name}'s budget", limits.budget, limits.budget))
            rows.append(inside)
            coefs.append(candidates.cost[inside])
        if limits.max_volume is not None:
            resources.append(Resource("volume", name, f"campaign {name}'s max_volume", limits.max_volume,
                                      limits.max_volume))
            rows.append(inside)
            coefs.append(np.ones(len(inside)))
    row_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    row_ptr[1:] = np.cumsum([len(r) for r in rows])
    row_cand = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    row_coef = np.concatenate(coefs) if coefs else np.zeros(0)
    row_of = np.repeat(np.arange(len(rows), dtype=np.int64), np.diff(row_ptr))
    order = np.lexsort((row_of, row_cand))
    cand_ptr = np.zeros(len(candidates) + 1, dtype=np.int64)
    cand_ptr[1:] = np.cumsum(np.bincount(row_cand, minlength=len(candidates)))

    # Patterns: drop those holding a blocked candidate, and those precedence always refuses;
    # masks are over each customer's list.
    uses: dict[int, list[tuple[int, float]]] = {}
    for r, (cands_r, coef_r) in enumerate(zip(rows, coefs, strict=True)):
        for j, a in zip(cands_r.tolist(), coef_r.tolist(), strict=True):
            uses.setdefault(j, []).append((r, a))
    campaign_list = campaign.tolist()
    lower = {campaign_of[n] for n, lim in cycle.campaigns.items() if lim.min_volume or (lim.min_cell or 0) > 1}
    cust_pat = [0]
    pat_sizes: list[int] = []
    flat: list[int] = []
    ref_cust = [0]
    ref_sizes: list[int] = []
    ref_flat: list[int] = []
    for c, customer_masks in enumerate(masks):
        local = members[c]
        family = []
        for mask in customer_masks:
            chosen = [local[i] for i in range(len(local)) if mask >> i & 1]
            if not any(j in blocked for j in chosen):
                family.append(chosen)
        targets = {tuple(chosen) for chosen in family}
        mine = {j for chosen in family for j in chosen}
        for chosen in family:
            if always_refused(chosen, targets, mine, rank, uses, campaign_list, lower):
                ref_sizes.append(len(chosen))
                ref_flat.extend(chosen)
            else:
                pat_sizes.append(len(chosen))
                flat.extend(chosen)
        cust_pat.append(len(pat_sizes))
        ref_cust.append(len(ref_sizes))
    pat_ptr = np.zeros(len(pat_sizes) + 1, dtype=np.int64)
    pat_ptr[1:] = np.cumsum(pat_sizes)
    cust_pat_array = np.array(cust_pat, dtype=np.int64)
    pat_of = np.repeat(np.arange(len(pat_sizes), dtype=np.int64), pat_sizes)
    pat_cust = np.repeat(np.arange(len(masks), dtype=np.int64), np.diff(cust_pat_array))
    min_volume = {campaign_of[n]: lim.min_volume for n, lim in cycle.campaigns.items() if lim.min_volume}
    min_cell = {campaign_of[n]: lim.min_cell for n, lim in cycle.campaigns.items() if lim.min_cell and lim.min_cell > 1}
    ref_ptr = np.zeros(len(ref_sizes) + 1, dtype=np.int64)
    ref_ptr[1:] = np.cumsum(ref_sizes)
    return Problem(
        candidates, customer_ids, cust, rank, campaign, campaign_names, gain,
        cust_pat_array, pat_ptr, np.array(flat, dtype=np.int64), pat_of, pat_cust,
        resources, row_ptr, row_cand, row_coef, row_of, cand_ptr, row_of[order], row_coef[order], blocked,
        min_volume, min_cell, np.array(ref_cust, dtype=np.int64), ref_ptr, np.array(ref_flat, dtype=np.int64),
    )  # fmt: skip


def always_refused(chosen: list[int], patterns: set[tuple[int, ...]], mine: set[int], rank: IntArray,
                   uses: dict[int, list[tuple[int, float]]], campaign: list[int], lower: set[int]) -> bool:
    """Does precedence refuse this pattern in every plan?

    It does when a granted ``l`` could be swapped for a dropped stronger ``h`` giving
    another feasible pattern that puts no more on any shared row and leaves every
    campaign with a lower limit as it was: no plan can then block the swap. Such a pattern
    is never chosen but stays a swap target for the others (``Problem.ref_*``).
    """
    if not chosen:
        return False
    inside = set(chosen)
    for h in mine - inside:
        for low in chosen:
            if rank[h] >= rank[low]:
                continue
            swapped = tuple(sorted((inside - {low}) | {h}))
            if swapped not in patterns:
                continue
            if campaign[h] != campaign[low] and (campaign[h] in lower or campaign[low] in lower):
                continue
            delta: dict[int, float] = {}
            for r, a in uses.get(h, ()):
                delta[r] = delta.get(r, 0.0) + a
            for r, a in uses.get(low, ()):
                delta[r] = delta.get(r, 0.0) - a
            if all(d <= 1e-12 for d in delta.values()):
                return True
    return False


def owner_of(policy: Policy, values: Mapping[str, Any]) -> str | None:
    owner = values.get(policy.owner_attribute) if policy.owner_attribute else None
    return owner if isinstance(owner, str) else None


def capacity_rules(policy: Policy) -> list[CapRule]:
    return [r for r in policy.rules if isinstance(r, CapRule) and r.kind == "capacity"]


def capacity_rows(
    policy: Policy,
    candidates: Candidates,
    owners: list[str | None],
    cust: IntArray,
    customers: Mapping[str, Customer],
    ledgers: Mapping[str, Sequence[Entry]],
    resources: list[Resource],
    rows: list[IntArray],
    coefs: list[FloatArray],
    blocked: dict[int, str],
) -> None:
    rules = capacity_rules(policy)
    if not rules:
        return
    tz = clock.zone(policy.timezone)
    micros = np.array([clock.micros(r.at) for r in candidates.requests], dtype=np.int64)
    shapes: dict[tuple[str, str, str, bool], frozenset[int]] = {}
    counted_by: dict[int, list[int]] = {rule.index: [] for rule in rules}
    for j, request in enumerate(candidates.requests):
        owner = owners[cust[j]]
        key = (request.purpose, request.channel, request.team, owner is not None and request.team == owner)
        checked = shapes.get(key)
        if checked is None:
            plan = rule_plan(policy, request, owner)
            checked = shapes[key] = frozenset(rule.index for _, rule in plan.checked if rule.kind == "capacity")
        for index in checked:
            counted_by[index].append(j)
    ledger_contacts: list[tuple[Contact, str | None]] = [
        (e, owner_of(policy, customers[c].values) if c in customers else None)
        for c, entries in ledgers.items() for e in entries if isinstance(e, Contact) and e.counted
    ]
    for rule in rules:
        subject = np.array(counted_by[rule.index], dtype=np.int64)
        if not len(subject):
            continue
        keys = [getattr(candidates.requests[j], rule.group) if rule.group else None for j in subject]
        load = [(clock.micros(e.at), getattr(e, rule.group) if rule.group else None)
                for e, owner in ledger_contacts if rule.match.matches(e.purpose, e.channel, e.team, owner)]
        for wanted in sorted(set(keys), key=lambda k: (k is not None, k or "")):
            mine = subject[[k == wanted for k in keys]]
            order = np.argsort(micros[mine], kind="stable")
            mine, times = mine[order], micros[mine][order]
            ledger_times = np.sort(np.array([us for us, k in load if k == wanted], dtype=np.int64))
            spans: dict[tuple[int, int], tuple[int, int, int]] = {}  # candidate range -> (ledger load, lo, hi)
            for lo, hi in windows(rule, times, ledger_times, tz):
                a, b = int(np.searchsorted(times, lo)), int(np.searchsorted(times, hi))
                if a == b:
                    continue
                held = int(np.searchsorted(ledger_times, hi) - np.searchsorted(ledger_times, lo))
                if (a, b) not in spans or spans[(a, b)][0] < held:
                    spans[(a, b)] = (held, lo, hi)
            for (a, b), (held, lo, hi) in sorted(spans.items()):
                rhs = rule.limit - held
                if rhs <= 0:
                    for j in mine[a:b]:
                        blocked.setdefault(int(j), rule.name)
                    continue
                if b - a <= rhs:
                    continue  # every candidate in the window fits: never binding
                label = f"{clock.format_local(lo, tz)} to {clock.format_local(hi, tz)}"
                if wanted is not None:
                    label += f" ({rule.group} {wanted})"
                resources.append(Resource("capacity", rule.name, label, rule.limit, rhs))
                rows.append(mine[a:b].copy())
                coefs.append(np.ones(b - a))


def windows(rule: CapRule, times: IntArray, ledger_times: IntArray, tz: dt.tzinfo) -> list[tuple[int, int]]:
    """The windows ``[lo, hi)`` (microseconds) a plan must keep within the rule's limit."""
    window = rule.window
    if isinstance(window, Rolling):
        width = window.seconds * clock.SECOND
        first, last = int(times[0]), int(times[-1])
        near = ledger_times[(ledger_times > first - width) & (ledger_times <= last)]
        starts = np.unique(np.concatenate([times, near]))
        return [(int(s), int(s) + width) for s in starts]
    dates = sorted({clock.local_date(int(us), tz) for us in np.unique(times)})
    if isinstance(window, Calendar):
        periods = {clock.period_bounds(day, window.unit) for day in dates}
        return [(clock.start_of_date(a, tz), clock.start_of_date(b, tz)) for a, b in sorted(periods)]
    assert isinstance(window, Consecutive)
    runs = {day - dt.timedelta(days=k) for day in dates for k in range(window.days)}
    return [(clock.start_of_date(first, tz), clock.start_of_date(first + dt.timedelta(days=window.days), tz))
            for first in sorted(runs)]

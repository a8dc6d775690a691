"""One call from inputs to a plan: oracle, problem, solver, reasons and the summary."""

from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, overload

import attrs
import numpy as np

from policylang.errors import InputError
from policylang.inputs import where
from policylang.plan import oracle
from policylang.plan import problem as problem_mod
from policylang.plan.bound import Bound, precedence_bound
from policylang.plan.inputs import Candidates, Cycle
from policylang.plan.mip import Model, exact, key_holds, polish, valid
from policylang.plan.problem import LIMIT_TOLERANCE, Problem
from policylang.plan.solve import Solution, State, enforce_precedence, greedy, lagrangian
from policylang.records import Customer, Entry
from policylang.rules import Policy

EXACT_PATTERNS = 20_000  # auto: the exact MIP up to this many patterns, the heuristic above
# The blocks are skipped when the plan is already this close to the bound (a fraction of it):
# the bound and the plan have met, as far as a plan needs (the target is 0.5 %; at
# 100,000 customers the blocks cost a minute for the last hundredth of a percent).
MET = 1e-3


@attrs.frozen(slots=True)
class Row:
    """One candidate's line of the plan file."""

    id: str
    customer: str
    granted: bool
    reason_kind: str
    rule: str | None
    reason: str
    shadow_price: float | None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


class Rows(Sequence[Row]):
    """The plan's rows, one per candidate in file order, held as columns (a :class:`Row` is
    made when one is read): a Row object per candidate was ~100 bytes, half a gigabyte at a
    million customers, and the texts repeat (a capacity's, a budget's, "granted")."""

    def __init__(self, candidates: Candidates) -> None:
        self._ids = candidates.ids
        self._customers = candidates.customers
        self.granted = bytearray()
        self.kinds: list[str] = []
        self.rules: list[str | None] = []
        self.reasons: list[str] = []
        self.prices: list[float | None] = []
        self._texts: dict[str, str] = {}

    def append(self, row: Row) -> None:
        """Add the next candidate's row (rows come in file order)."""
        at = len(self.granted)
        assert row.id == self._ids[at] and row.customer == self._customers[at], (row, at)
        texts = self._texts
        self.granted.append(row.granted)
        self.kinds.append(texts.setdefault(row.reason_kind, row.reason_kind))
        self.rules.append(row.rule if row.rule is None else texts.setdefault(row.rule, row.rule))
        # a group's reason names the granted alternative: one text each, not worth a look-up
        shared = row.reason_kind != "group" and len(texts) < 1 << 16
        self.reasons.append(texts.setdefault(row.reason, row.reason) if shared else row.reason)
        self.prices.append(row.shadow_price)

    def __len__(self) -> int:
        return len(self.granted)

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return Row(self._ids[index], self._customers[index], bool(self.granted[index]), self.kinds[index],
                   self.rules[index], self.reasons[index], self.prices[index])

    def __iter__(self) -> Iterator[Row]:
        return map(self.__getitem__, range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or len(other) != len(self):
            return False
        return all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]


@attrs.frozen(slots=True, eq=False)
class PlanResult:
    """The plan: a row per candidate (file order) and the summary document."""

    rows: Sequence[Row]
    summary: dict[str, Any]
    problem: Problem
    solution: Solution

    @property
    def granted(self) -> list[bool]:
        if isinstance(self.rows, Rows):
            return [bool(g) for g in self.rows.granted]
        return [r.granted for r in self.rows]


def plan(
    policy: Policy,
    candidates: Candidates,
    customers: Mapping[str, Customer],
    ledgers: Mapping[str, Sequence[Entry]],
    cycle: Cycle,
    *,
    solver: str = "auto",
    workers: int | None = None,
    time_limit: float = 60.0,
    iterations: int = 300,
    file: str = "<candidates>",
    eligibility: Callable[[Policy, Sequence[oracle.Job]], list[list[int]]] | None = None,
    timings: dict[str, float] | None = None,
) -> PlanResult:
    """Plan the cycle. ``solver``: ``exact`` (HiGHS alone; the heuristic's plan when HiGHS
    finds none in time), ``lagrangian`` (the Lagrangian heuristic, then blocks of customers
    solved exactly) or ``auto`` (the heuristic, then, up to ``EXACT_PATTERNS``, HiGHS from
    the heuristic's plan). ``time_limit`` caps the bound's cutting planes, the block
    polishing and HiGHS, each. The heuristic's plan is the bound's best scenario's
    (:mod:`.bound`) when that one is valid, else the Lagrangian heuristic's.

    ``eligibility`` runs the per-customer step (each customer's feasible subsets, see
    :func:`.oracle.all_patterns`) somewhere else, e.g. on Spark
    (:func:`policylang.spark.run_patterns`); it must return what ``all_patterns`` would.
    ``timings``, when given, receives each step's wall seconds (the benchmark's columns)
    and, as ``"<step> cpu"``, its CPU seconds (this process and its finished workers).
    """
    clock_at = [time.perf_counter(), _cpu()]

    def lap(name: str) -> None:
        now, cpu = time.perf_counter(), _cpu()
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + now - clock_at[0]
            timings[f"{name} cpu"] = timings.get(f"{name} cpu", 0.0) + cpu - clock_at[1]
        clock_at[0], clock_at[1] = now, cpu

    customer_ids, cust, members = problem_mod.customer_jobs(candidates)
    for c in customer_ids:
        if c not in customers:
            j = candidates.customers.index(c)
            raise InputError(f"candidate `{candidates.ids[j]}`: customer `{c}` has no record in the customers file",
                             where(file))
    groups = candidates.group
    jobs = [(customers[c], list(ledgers.get(c, ())), [candidates.requests[j] for j in members[k]],
             [groups[j] for j in members[k]]) for k, c in enumerate(customer_ids)]
    masks, denials = oracle.eligible_walks(policy, jobs, workers, eligibility)
    del jobs  # a list per customer: not kept through the solve
    lap("eligibility")
    problem = problem_mod.build(policy, candidates, customers, ledgers, cycle, customer_ids, cust, members, masks)
    lap("build")
    began = time.perf_counter()
    base = greedy(problem)
    model = Model(problem, like=base)
    gains = model.gains  # one list: 8 million floats at a million customers
    greedy_value = base.objective(gains) if base.lower_limits_met() else None
    method = solver if solver != "auto" else ("exact" if problem.patterns <= EXACT_PATTERNS else "lagrangian")
    lap("greedy")
    if solver == "exact":
        # HiGHS alone, from nothing: what the brute-force test checks the model with
        alone = exact(problem, time_limit=time_limit, model=model)
        if alone.feasible:
            solution = tighten(problem, model, alone, time_limit, began)
            rows = explain(policy, problem, solution, customers, ledgers, denials)
            return PlanResult(rows, summarise(problem, solution, rows, greedy_value), problem, solution)
    # First the bound that holds precedence (bound.py) and its best scenario's plan; where that
    # plan is valid it is the heuristic's plan, else the Lagrangian heuristic runs.
    held = precedence_bound(problem, model, greedy_value if greedy_value is not None else -math.inf,
                            time_limit=time_limit)
    guided = scenario_plan(problem, model, held)
    if guided is not None:
        value = guided.objective(gains)
        prices = held.prices if held.prices is not None else np.zeros(len(problem.resources))
        heuristic = Solution(guided, value, max(held.value, value), prices, "scenarios", True,
                             time.perf_counter() - began)
    else:
        heuristic = lagrangian(problem, iterations=iterations, members=base.members, start=base)
        if heuristic.feasible:
            heuristic = attrs.evolve(heuristic, bound=max(min(heuristic.bound, held.value), heuristic.objective))
    lap("bound")
    solution = heuristic
    if heuristic.feasible and heuristic.bound - heuristic.objective > MET * max(1.0, abs(heuristic.bound)):
        # blocks of customers solved exactly, the others fixed (mip.polish): the heuristic's
        # plan made precedence-aware and close to the optimum
        polished = polish(problem, heuristic.state, time_limit=time_limit, model=model)
        solution = attrs.evolve(heuristic, state=polished, objective=polished.objective(gains),
                                method=f"{heuristic.method} + blocks", seconds=time.perf_counter() - began)
    if solver == "exact":
        # HiGHS found no plan within its time: the heuristic's, with HiGHS's bound when it has one
        bound = min(solution.bound, alone.bound) if math.isfinite(alone.bound) else solution.bound
        solution = attrs.evolve(solution, bound=max(bound, solution.objective) if solution.feasible else bound,
                                method=f"{solution.method} ({alone.method} found nothing)")
    elif method == "exact":
        # the heuristic's plan is HiGHS's first incumbent: past the time limit HiGHS returns
        # it or better, with a proved bound
        found = exact(problem, time_limit=time_limit, model=model, start=solution.state if solution.feasible else None)
        if found.feasible and (not solution.feasible or found.objective >= solution.objective - 1e-9):
            bound = min(found.bound, heuristic.bound) if math.isfinite(heuristic.bound) else found.bound
            solution = attrs.evolve(found, bound=max(bound, found.objective), seconds=time.perf_counter() - began)
        else:  # HiGHS found nothing within its time: keep the heuristic's plan
            bound = min(solution.bound, found.bound) if math.isfinite(found.bound) else solution.bound
            solution = attrs.evolve(solution, bound=max(bound, solution.objective),
                                    method=f"{solution.method} ({found.method} found nothing better)")
    lap("polish")
    rows = explain(policy, problem, solution, customers, ledgers, denials)
    lap("reasons")
    summary = summarise(problem, solution, rows, greedy_value)
    return PlanResult(rows, summary, problem, solution)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the eligibility workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def scenario_plan(problem: Problem, model: Model, held: Bound) -> State | None:
    """The plan the bound's best scenario recovered, made to fit the shared rows where it
    overfills them by a little (:func:`fit_rows`), when it is then valid as the exact model
    reads it (rows, lower limits, every customer's precedence links); else None."""
    if held.recovered is None:
        return None
    plan = State.empty(problem, model.state.members, model.state.rows, model.state.lookup)
    firsts = problem.cust_pat[:-1].tolist()
    for c, p in enumerate(held.recovered.tolist()):
        if p != firsts[c]:
            plan.switch(c, p)
    fit_rows(problem, model, plan)
    if not valid(model, plan):
        # freeing a row may leave some customers' weaker grants unjustified: the same swaps
        # the Lagrangian heuristic's repair ends with
        enforce_precedence(problem, plan)
    return plan if valid(model, plan) else None


def fit_rows(problem: Problem, model: Model, plan: State) -> None:
    """Bring each overfull shared row within its limit: customers move to another of their
    patterns that uses less of it and no more of anything else, the least value lost per
    unit freed first, keeping lower limits and the moved customer's own precedence links."""
    gains, use, starts = model.gains, model.use, model.starts
    for r in range(len(problem.resources)):
        if plan.load[r] <= plan.rhs[r] + LIMIT_TOLERANCE:
            continue
        moves: list[tuple[float, int, int]] = []
        for c in range(problem.customers):
            p = plan.choice[c]
            have = use[p].get(r, 0.0)
            if have <= 0:
                continue
            for q in range(starts[c], starts[c + 1]):
                freed = have - use[q].get(r, 0.0)
                if freed > 0 and all(a <= use[p].get(k, 0.0) for k, a in use[q].items()):
                    moves.append(((gains[p] - gains[q]) / freed, c, q))
        for _, c, q in sorted(moves):
            if plan.load[r] <= plan.rhs[r] + LIMIT_TOLERANCE:
                break
            p = plan.choice[c]
            if use[q].get(r, 0.0) >= use[p].get(r, 0.0) or not plan.lower_ok(p, q):
                continue  # the customer moved already
            before = list(plan.load)
            plan.switch(c, q)
            if not all(any(key_holds(plan, key) for key in link) for link in model.links(c, q)):
                plan.switch(c, p)
                plan.load = before


def tighten(problem: Problem, model: Model, solution: Solution, time_limit: float, began: float) -> Solution:
    """The solution with the least of its bound and the scenarios' bound, which holds
    precedence (:mod:`.bound`; the Lagrangian bound relaxes it)."""
    if not solution.feasible or not solution.bound > solution.objective + 1e-9 * max(1.0, abs(solution.objective)):
        return solution
    held = precedence_bound(problem, model, solution.objective, time_limit=time_limit)
    return attrs.evolve(solution, bound=max(min(solution.bound, held.value), solution.objective),
                        seconds=time.perf_counter() - began)


def explain(policy: Policy, problem: Problem, solution: Solution, customers: Mapping[str, Customer],
            ledgers: Mapping[str, Sequence[Entry]], denials: Sequence[oracle.Denied] | None = None) -> Rows:
    """Why each candidate is granted or not: the first of group, rule (or precedence),
    capacity, budget, volume, cell, value that holds when it is added back."""
    state = solution.state
    cands = problem.candidates
    granted = state.granted()
    rows = Rows(cands)
    by_customer: list[list[int]] = [[] for _ in range(problem.customers)]
    for j, c in enumerate(problem.cust.tolist()):
        by_customer[c].append(j)
    for j in range(len(cands)):
        c = int(problem.cust[j])
        ident, customer = cands.ids[j], cands.customers[j]
        if granted[j]:
            rows.append(Row(ident, customer, True, "granted", None, "granted", None))
            continue
        if not solution.feasible:
            rows.append(Row(ident, customer, False, "volume", None, "no plan meets the cycle's lower limits", None))
            continue
        p = state.choice[c]
        chosen = state.members[p]
        group = cands.group[j]
        rival = next((k for k in chosen if group is not None and cands.group[k] == group), None)
        if rival is not None:
            rows.append(Row(ident, customer, False, "group", group,
                            f"its alternative {cands.ids[rival]} of group {group} is granted", None))
            continue
        if j in problem.blocked:
            name = problem.blocked[j]
            rows.append(Row(ident, customer, False, "capacity", name,
                            f'capacity "{name}" is already full from the ledger in its window', None))
            continue
        q = state.customer(c)[0].get(tuple(sorted([*chosen, j])))
        if q is None or q >= problem.patterns:  # refused patterns (from problem.patterns) are never chosen
            rows.append(policy_reason(policy, problem, customers, ledgers, chosen, j,
                                      denials[c] if denials is not None else None, by_customer[c]))
            continue
        if not state.fits(c, q):
            delta = state._delta(p, q)  # noqa: SLF001 - same module family
            r = min(r for r, d in delta.items() if d > 0 and state.load[r] + d > state.rhs[r] + LIMIT_TOLERANCE)
            res = problem.resources[r]
            price = float(solution.prices[r]) if len(solution.prices) else 0.0
            what = {"capacity": f'capacity "{res.name}" is full ({res.label})',
                    "budget": f"{res.label} would be exceeded",
                    "volume": f"{res.label} is reached"}[res.kind]
            rows.append(Row(ident, customer, False, res.kind, res.name, what, price))
            continue
        if not state.lower_ok(p, q):
            name = problem.campaign_names[int(problem.campaign[j])]
            rows.append(Row(ident, customer, False, "cell", name,
                            f"campaign {name} is granted to nobody: one customer is under its min_cell", None))
            continue
        rows.append(Row(ident, customer, False, "value", None,
                        f"allowed and within every limit; left out for value (value less cost "
                        f"{float(problem.gain[j]):g})", None))
    return rows


def policy_reason(policy: Policy, problem: Problem, customers: Mapping[str, Customer],
                  ledgers: Mapping[str, Sequence[Entry]], chosen: Sequence[int], j: int,
                  denials: oracle.Denied | None = None, mine: Sequence[int] | None = None) -> Row:
    """Why the policy refuses candidate ``j`` beside the customer's ``chosen`` ones. With the
    eligibility walk's ``denials`` and the customer's candidates ``mine`` (ascending), the
    arbitration is looked up rather than decided again."""
    cands = problem.candidates
    customer = cands.customers[j]
    if mine is None:
        mine = [k for k in range(len(cands)) if cands.customers[k] == customer]

    def first_denial(trial: list[int]) -> tuple[int, tuple[str, ...]] | None:
        if denials is not None:
            local = {k: i for i, k in enumerate(mine)}
            return oracle.recorded_denial(policy, customers[customer], [cands.requests[k] for k in mine],
                                          [local[k] for k in trial], denials)
        return oracle.first_denial(policy, customers[customer], ledgers.get(customer, ()),
                                   [cands.requests[k] for k in trial])

    trial = sorted([*chosen, j])
    denied = first_denial(trial)
    if denied is None:
        # the policy allows it, but a stronger team's candidate could always take its place
        stronger = [k for k in mine if k not in chosen and problem.rank[k] < problem.rank[j]]
        names = ", ".join(cands.ids[k] for k in stronger) or "a stronger team's candidate"
        return Row(cands.ids[j], customer, False, "precedence", None,
                   f"granting it would leave out {names} of a stronger team, which could take its place", None)
    rule = denied[1][0]
    victim = trial[denied[0]]
    if victim != j:
        return Row(cands.ids[j], customer, False, "rule", rule,
                   f'granting it would make rule "{rule}" deny the granted {cands.ids[victim]}', None)
    stronger = [k for k in chosen if problem.rank[k] < problem.rank[j]]
    if stronger:
        rest = sorted([k for k in chosen if k not in stronger] + [j])
        again = first_denial(rest)
        if again is None:
            return Row(cands.ids[j], customer, False, "precedence", rule,
                       f'denied by rule "{rule}" because of the granted contacts of stronger teams '
                       f"({', '.join(cands.ids[k] for k in stronger)})", None)
    return Row(cands.ids[j], customer, False, "rule", rule, f'denied by rule "{rule}" when added to the plan', None)


def summarise(problem: Problem, solution: Solution, rows: Sequence[Row], greedy_value: float | None) -> dict[str, Any]:
    cands = problem.candidates
    granted = np.frombuffer(bytes(rows.granted), dtype=bool) if isinstance(rows, Rows) else \
        np.array([r.granted for r in rows], dtype=bool)
    objective = float(problem.gain[granted].sum()) if solution.feasible else None
    bound = float(solution.bound) if math.isfinite(solution.bound) else None
    gap = None
    if objective is not None and bound is not None:
        gap = max(0.0, (bound - objective) / abs(bound)) if bound else 0.0
    groups: dict[str, dict[str, dict[str, float]]] = {"by_campaign": {}, "by_team": {}, "by_channel": {}}
    keyed: dict[str, list[str]] = {
        "by_campaign": cands.campaigns,
        "by_team": [r.team for r in cands.requests],
        "by_channel": [r.channel for r in cands.requests],
    }
    for key, labels in keyed.items():
        table: dict[str, dict[str, float]] = defaultdict(lambda: {"candidates": 0, "granted": 0, "value": 0.0, "cost": 0.0})
        for j, label in enumerate(labels):
            entry = table[label]
            entry["candidates"] += 1
            if granted[j]:
                entry["granted"] += 1
                entry["value"] += float(cands.value[j])
                entry["cost"] += float(cands.cost[j])
        groups[key] = {k: dict(v) for k, v in sorted(table.items())}
    used = problem.usage(granted)
    resources = [
        {"kind": res.kind, "name": res.name, "window": res.label if res.kind == "capacity" else None,
         "used": float(used[r]) + (res.limit - res.rhs), "limit": res.limit,
         "shadow_price": float(solution.prices[r]) if len(solution.prices) else 0.0}
        for r, res in enumerate(problem.resources)
    ]
    return {
        "objective": objective,
        "bound": bound,
        "gap": gap,
        "greedy_objective": greedy_value,
        "granted": int(granted.sum()),
        "candidates": len(cands),
        "customers": problem.customers,
        "method": solution.method,
        "seconds": round(solution.seconds, 3),
        "by_campaign": groups["by_campaign"],
        "by_team": groups["by_team"],
        "by_channel": groups["by_channel"],
        "resources": resources,
    }


__all__ = ["PlanResult", "Row", "State", "plan"]

"""Choosing the plan: Lagrangian heuristic with a bound, greedy baseline (the exact MIP and the
block polishing that improves the heuristic's plan are in :mod:`.mip`).

Every solver picks one feasible pattern (see :mod:`.oracle`) per customer. The shared
rows (:mod:`.problem`) must hold; lower limits (``min_volume``, ``min_cell``) too; and
precedence (docs/planning.md): a dropped candidate ``h`` with a granted candidate ``l`` of
the same customer from a lower-ranked team must stay infeasible in the plan with ``l``
swapped for ``h``.

* ``lagrangian``: prices on the shared rows; with prices, each customer's best pattern
  is an argmax over arrays; the dual value is an upper bound. Every few iterations the
  priced choice is repaired into a feasible plan (customers in order of priced value,
  each taking its best pattern that fits), improved, and made to respect precedence.
* ``greedy``: candidates in descending value, each granted when the plan stays valid.
"""

from __future__ import annotations

import array
import bisect
import math
import time
from collections.abc import Iterator, Sequence

import attrs
import numpy as np
import numpy.typing as npt

from policylang.plan.problem import LIMIT_TOLERANCE, FloatArray, IntArray, Problem, pattern_sums

EPS = 1e-9
REPAIR_AT = frozenset({0, 20, 60, 150})  # repairs cost a pass in Python over every customer


class Patterns:
    """One customer's patterns by their members (a tuple, ascending), refused ones included:
    the members sorted in a tuple (the patterns' own tuples, not copies) and the pattern
    numbers beside them in an array, looked up by bisection. A dict per customer, with an
    int object per pattern, was ~0.8 KB a customer (most of a gigabyte at a million)."""

    __slots__ = ("keys", "numbers")

    def __init__(self, pairs: list[tuple[tuple[int, ...], int]]) -> None:
        pairs.sort()
        self.keys = tuple(members for members, _ in pairs)
        self.numbers = array.array("q", [p for _, p in pairs])

    def get(self, members: tuple[int, ...]) -> int | None:
        """The pattern with exactly these members (ascending), or None."""
        at = bisect.bisect_left(self.keys, members)
        return self.numbers[at] if at < len(self.keys) and self.keys[at] == members else None

    def items(self) -> Iterator[tuple[tuple[int, ...], int]]:
        return zip(self.keys, self.numbers, strict=True)

    def values(self) -> Iterator[int]:
        return iter(self.numbers)

    def __len__(self) -> int:
        return len(self.keys)


@attrs.define(slots=True)
class State:
    """A plan under construction: one pattern per customer and the loads it puts on rows."""

    problem: Problem
    choice: list[int]  # customer -> pattern
    load: list[float]
    rhs: list[float]
    volume: list[int]  # campaign -> granted candidates
    cells: list[int]  # campaign -> customers granted something of it
    members: list[tuple[int, ...]]  # pattern -> candidates (Python: the hot loops are Python)
    rows: list[list[tuple[int, float]]]  # candidate -> (row, coefficient)
    campaign: list[int]
    lookup: dict[int, tuple[Patterns, list[int], bool]] = attrs.field(factory=dict)
    # customer -> (pattern by members, refused ones included, the customer's candidates, any
    # two of different rank); shared by copies: patterns never change
    ranks: list[int] = attrs.field(factory=list)

    @classmethod
    def empty(cls, problem: Problem, members: list[tuple[int, ...]] | None = None,
              rows: list[list[tuple[int, float]]] | None = None,
              lookup: dict[int, tuple[Patterns, list[int], bool]] | None = None) -> State:
        """The empty plan. ``members``, ``rows`` and ``lookup`` (another state's, of the same
        problem) are shared rather than built again: they never change."""
        if members is None:
            members = pattern_members(problem)
        if rows is None:
            cr, cc, cp = problem.cand_row.tolist(), problem.cand_coef.tolist(), problem.cand_ptr.tolist()
            # Candidates share few distinct (row, coefficient) lists (a million customers have
            # a handful): one shared list each rather than a list of tuples per candidate.
            shared: dict[tuple[tuple[int, float], ...], list[tuple[int, float]]] = {}
            rows = []
            for j in range(len(problem.candidates)):
                mine = tuple(zip(cr[cp[j]:cp[j + 1]], cc[cp[j]:cp[j + 1]], strict=True))
                found = shared.get(mine)
                if found is None:
                    found = shared[mine] = list(mine)
                rows.append(found)
        campaigns = len(problem.campaign_names)
        return cls(problem, problem.cust_pat[:-1].tolist(), [0.0] * len(problem.resources),
                   [r.rhs for r in problem.resources], [0] * campaigns, [0] * campaigns, members, rows,
                   problem.campaign.tolist(), {} if lookup is None else lookup, problem.rank.tolist())

    def copy(self) -> State:
        return State(self.problem, list(self.choice), list(self.load), self.rhs, list(self.volume),
                     list(self.cells), self.members, self.rows, self.campaign, self.lookup, self.ranks)

    def customer(self, c: int) -> tuple[Patterns, list[int], bool]:
        found = self.lookup.get(c)
        if found is None:
            problem = self.problem
            lo, hi = int(problem.cust_pat[c]), int(problem.cust_pat[c + 1])
            # refused patterns (numbered after the chosen ones) are swap targets too
            npat = problem.patterns
            ids = [*range(lo, hi), *range(npat + int(problem.ref_cust[c]), npat + int(problem.ref_cust[c + 1]))]
            index = Patterns([(self.members[p], p) for p in ids])
            mine = sorted({j for p in ids for j in self.members[p]})
            ranked = len({self.ranks[j] for j in mine}) > 1
            found = self.lookup[c] = (index, mine, ranked)
        return found

    def _delta(self, old: int, new: int) -> dict[int, float]:
        delta: dict[int, float] = {}
        for j in self.members[new]:
            for r, a in self.rows[j]:
                delta[r] = delta.get(r, 0.0) + a
        for j in self.members[old]:
            for r, a in self.rows[j]:
                delta[r] = delta.get(r, 0.0) - a
        return delta

    def fits(self, c: int, new: int, *, lower: bool = False) -> bool:
        """Would switching customer ``c`` to pattern ``new`` keep every upper row (and, with
        ``lower``, every min_cell and min_volume)?"""
        old = self.choice[c]
        for r, d in self._delta(old, new).items():
            if d > 0 and self.load[r] + d > self.rhs[r] + LIMIT_TOLERANCE:
                return False
        if lower:
            return self.lower_ok(old, new)
        return True

    def lower_ok(self, old: int, new: int) -> bool:
        problem = self.problem
        before = {self.campaign[j] for j in self.members[old]}
        after = {self.campaign[j] for j in self.members[new]}
        for k, m in problem.min_cell.items():
            cell = self.cells[k] - (k in before) + (k in after)
            if 0 < cell < m:
                return False
        for k, m in problem.min_volume.items():
            vol = self.volume[k] - sum(self.campaign[j] == k for j in self.members[old]) + \
                sum(self.campaign[j] == k for j in self.members[new])
            if vol < m and vol < self.volume[k]:
                return False
        return True

    def switch(self, c: int, new: int) -> None:
        old = self.choice[c]
        for r, d in self._delta(old, new).items():
            self.load[r] += d
        for j in self.members[old]:
            self.volume[self.campaign[j]] -= 1
        for k in {self.campaign[j] for j in self.members[old]}:
            self.cells[k] -= 1
        for j in self.members[new]:
            self.volume[self.campaign[j]] += 1
        for k in {self.campaign[j] for j in self.members[new]}:
            self.cells[k] += 1
        self.choice[c] = new

    def granted(self) -> npt.NDArray[np.bool_]:
        out = np.zeros(len(self.problem.candidates), dtype=bool)
        for p in self.choice:
            out[list(self.members[p])] = True
        return out

    def objective(self, pattern_gain: Sequence[float]) -> float:
        return float(sum(pattern_gain[p] for p in self.choice))

    def lower_limits_met(self) -> bool:
        problem = self.problem
        return all(not 0 < self.cells[k] < m for k, m in problem.min_cell.items()) and \
            all(self.volume[k] >= m for k, m in problem.min_volume.items())


def pattern_members(problem: Problem) -> list[tuple[int, ...]]:
    """Each pattern's candidates as a tuple, the refused patterns (numbered from
    ``problem.patterns``: swap targets, never chosen) after the others.

    Tuples, not lists (smaller, and a customer's lookup keys by members are these same
    objects), holding one shared int object per candidate rather than one per membership:
    at a million customers (8 million patterns) the lists and their ints were a gigabyte."""
    ints = list(range(len(problem.candidates)))
    members: list[tuple[int, ...]] = []
    for flat_array, ptr_array in ((problem.pat_members, problem.pat_ptr), (problem.ref_members, problem.ref_ptr)):
        flat = list(map(ints.__getitem__, flat_array.tolist()))
        ptr = ptr_array.tolist()
        members += [tuple(flat[ptr[p]:ptr[p + 1]]) for p in range(len(ptr) - 1)]
    return members


@attrs.frozen(slots=True)
class Solution:
    state: State
    objective: float
    bound: float
    prices: FloatArray  # per shared row
    method: str
    feasible: bool
    seconds: float


# ---- precedence ------------------------------------------------------------------------------


def pattern_index(problem: Problem, state: State, c: int) -> dict[tuple[int, ...], int]:
    """The customer's patterns a plan may choose, by members (refused ones left out)."""
    npat = problem.patterns
    return {m: p for m, p in state.customer(c)[0].items() if p < npat}


def swaps(problem: Problem, state: State, c: int, p: int,
          index: Patterns | None = None) -> list[tuple[int, int, int]]:
    """(h, l, q): swapping granted ``l`` for a stronger dropped ``h`` gives pattern ``q``."""
    chosen = state.members[p]
    if not chosen:
        return []
    index, mine, ranked = state.customer(c)
    if not ranked:
        return []
    rank = state.ranks
    weakest = max(rank[j] for j in chosen)
    found = []
    for h in mine:
        if rank[h] >= weakest or h in chosen:
            continue
        for low in chosen:
            if rank[h] < rank[low]:
                q = index.get(tuple(sorted([*(j for j in chosen if j != low), h])))
                if q is not None:
                    found.append((h, low, q))
    return found


def enforce_precedence(problem: Problem, state: State) -> int:
    """Swap until no dropped stronger candidate could take a weaker one's place; returns swaps.

    Each swap strictly improves one customer's ranks, so this ends. A swap may lead to a
    pattern precedence always refuses (:func:`.problem.always_refused`); from there a swap
    that uses no more of anything always follows, so no customer ends on one.
    """
    done = 0
    # Only customers with two ranks can swap; after the first pass, only those a swap was
    # refused for (a later swap elsewhere may have freed what they need).
    todo = [c for c in range(problem.customers) if state.customer(c)[2]]
    changed = True
    while changed and todo:
        changed = False
        waiting = []
        for c in todo:
            while True:
                possible = swaps(problem, state, c, state.choice[c])
                moves = [(h, low, q) for h, low, q in possible if state.fits(c, q, lower=True)]
                if not moves and state.choice[c] >= problem.patterns:  # refused: must move on
                    moves = [(h, low, q) for h, low, q in possible if state.fits(c, q)]
                if not moves:
                    if possible:
                        waiting.append(c)
                    break
                _, _, q = min(moves, key=lambda m: (state.ranks[m[0]], m[0], -state.ranks[m[1]], m[1]))
                state.switch(c, q)
                done += 1
                changed = True
        todo = waiting
    return done


# ---- greedy -------------------------------------------------------------------------------------


def greedy(problem: Problem, members: list[tuple[int, ...]] | None = None) -> State:
    """Candidates in descending value (then file order); each granted when the plan stays valid."""
    state = State.empty(problem, members)
    order = np.lexsort((np.arange(len(problem.candidates)), -problem.candidates.value)).tolist()
    cust = problem.cust.tolist()
    npat = problem.patterns
    for j in order:
        c = cust[j]
        # the customer's index holds refused patterns too (numbered from npat): never chosen
        q = state.customer(c)[0].get(tuple(sorted([*state.members[state.choice[c]], j])))
        if q is not None and q < npat and state.fits(c, q):
            state.switch(c, q)
    finish_lower(problem, state, problem.pattern_gain().tolist())
    enforce_precedence(problem, state)
    return state


# ---- repair: from any choice to a valid plan ------------------------------------------------------


def finish_lower(problem: Problem, state: State, gains: Sequence[float]) -> None:
    """Meet min_cell (drop a campaign below its cell) and then min_volume (add where it fits)."""
    for k, m in sorted(problem.min_cell.items()):
        if 0 < state.cells[k] < m:
            for c in range(problem.customers):
                p = state.choice[c]
                if any(state.campaign[j] == k for j in state.members[p]):
                    lo, hi = int(problem.cust_pat[c]), int(problem.cust_pat[c + 1])
                    options = [q for q in range(lo, hi) if all(state.campaign[j] != k for j in state.members[q])
                               and set(state.members[q]) <= set(state.members[p])]
                    state.switch(c, max(options, key=lambda q: (gains[q], -q)))
    for k, m in sorted(problem.min_volume.items()):
        if state.volume[k] >= m:
            continue
        offers: list[tuple[float, int, int]] = []
        for c in range(problem.customers):
            p = state.choice[c]
            have = sum(state.campaign[j] == k for j in state.members[p])
            lo, hi = int(problem.cust_pat[c]), int(problem.cust_pat[c + 1])
            for q in range(lo, hi):
                if sum(state.campaign[j] == k for j in state.members[q]) > have:
                    offers.append((gains[p] - gains[q], q, c))
        for _, q, c in sorted(offers):
            if state.volume[k] >= m:
                break
            p = state.choice[c]
            if sum(state.campaign[j] == k for j in state.members[q]) > sum(state.campaign[j] == k for j in state.members[p]) \
                    and state.fits(c, q, lower=True):
                state.switch(c, q)


def repair(problem: Problem, priced: FloatArray, gains: Sequence[float], base: State) -> State:
    """A valid plan led by the priced values: customers by their best priced pattern, each
    taking its best-priced pattern that fits; then upgrades by true gain."""
    state = base.copy()
    state.choice = problem.cust_pat[:-1].tolist()
    state.load = [0.0] * len(problem.resources)
    state.volume = [0] * len(problem.campaign_names)
    state.cells = [0] * len(problem.campaign_names)
    starts = problem.cust_pat.tolist()
    priced_list = priced.tolist()
    best = np.maximum.reduceat(priced, problem.cust_pat[:-1]) if problem.patterns else np.zeros(0)
    order = np.lexsort((np.arange(problem.customers), -best)).tolist()
    for c in order:
        lo, hi = starts[c], starts[c + 1]
        if hi - lo <= 1:
            continue
        for q in sorted(range(lo + 1, hi), key=lambda q: (-priced_list[q], q)):
            if priced_list[q] <= 0 and gains[q] <= 0:
                break
            if state.fits(c, q):
                state.switch(c, q)
                break
    improve(problem, state, gains, order)
    finish_lower(problem, state, gains)
    enforce_precedence(problem, state)
    # Swaps free or take resources; upgrading again and re-enforcing can only be kept when better.
    for _ in range(3):
        trial = state.copy()
        improve(problem, trial, gains, order)
        enforce_precedence(problem, trial)
        if not trial.lower_limits_met() or trial.objective(gains) <= state.objective(gains) + EPS:
            break
        state = trial
    return state


def improve(problem: Problem, state: State, gains: Sequence[float], order: list[int]) -> None:
    """One pass: each customer moves to a higher-gain pattern that fits."""
    starts = problem.cust_pat.tolist()
    for c in order:
        lo, hi = starts[c], starts[c + 1]
        current = gains[state.choice[c]]
        for q in sorted(range(lo, hi), key=lambda q: (-gains[q], q)):
            if gains[q] <= current + EPS:
                break
            if state.fits(c, q):
                state.switch(c, q)
                break


# ---- Lagrangian ---------------------------------------------------------------------------------


def lagrangian(problem: Problem, *, iterations: int = 300, tolerance: float = 1e-4,
               members: list[tuple[int, ...]] | None = None, start: State | None = None) -> Solution:
    """Subgradient on the shared rows' prices; best repaired plan and the least dual bound."""
    began = time.perf_counter()
    gains_arr = problem.pattern_gain()
    gains = gains_arr.tolist()
    base = start if start is not None else greedy(problem, members)
    best_state = base
    best_value = base.objective(gains) if base.lower_limits_met() else -math.inf
    rhs = np.array([r.rhs for r in problem.resources])
    nrows = len(rhs)
    prices = np.zeros(nrows)
    best_prices = prices.copy()
    bound = math.inf
    theta, stall = 1.0, 0
    cand_of = np.repeat(np.arange(len(problem.candidates)), np.diff(problem.cand_ptr))
    firsts = problem.cust_pat[:-1]
    for it in range(iterations):
        reduced = problem.gain - np.bincount(cand_of, weights=prices[problem.cand_row] * problem.cand_coef,
                                             minlength=len(problem.candidates))
        priced = pattern_sums(problem, reduced)
        top = np.maximum.reduceat(priced, firsts)
        dual = float(top.sum() + prices @ rhs)
        if dual < bound - EPS:
            bound, best_prices, stall = dual, prices.copy(), 0
        else:
            stall += 1
            if stall >= 8:
                theta, stall = theta / 2, 0
        # the priced choice: first pattern (smallest mask) reaching each customer's top
        hits = np.flatnonzero(priced >= top[problem.pat_cust] - 1e-12)
        _, first = np.unique(problem.pat_cust[hits], return_index=True)
        chosen = hits[first]
        taken = np.zeros(len(problem.candidates), dtype=bool)
        counts = np.diff(problem.pat_ptr)[chosen]
        if counts.sum():
            starts = problem.pat_ptr[chosen]
            taken[problem.pat_members[np.repeat(starts, counts) + _ranges(counts)]] = True
        sub = problem.usage(taken) - rhs
        if it in REPAIR_AT or it == iterations - 1 or theta < 1e-3:
            candidate = repair(problem, priced, gains, best_state)
            if candidate.lower_limits_met():
                value = candidate.objective(gains)
                if value > best_value + EPS:
                    best_value, best_state = value, candidate
        if nrows == 0 or (bound - best_value) <= tolerance * max(1.0, abs(bound)) or theta < 1e-3:
            break
        norm = float(sub @ sub)
        if norm == 0:
            break
        target = best_value if best_value > -math.inf else 0.0
        step = theta * max(bound - target, 1e-6 * max(1.0, abs(bound))) / norm
        prices = np.maximum(0.0, prices + step * sub)
    if nrows == 0:
        bound = float(np.maximum.reduceat(gains_arr, firsts).sum()) if problem.patterns else 0.0
    feasible = best_value > -math.inf
    return Solution(best_state, best_value if feasible else math.nan, bound, best_prices, "lagrangian",
                    feasible, time.perf_counter() - began)


def _ranges(counts: IntArray) -> IntArray:
    """0..n-1 for each n in counts, concatenated."""
    ends = np.cumsum(counts)
    return np.arange(int(ends[-1])) - np.repeat(ends - counts, counts)

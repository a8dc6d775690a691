"""Choosing the plan: exact MIP (HiGHS), Lagrangian heuristic with a bound, greedy baseline.

Every solver picks one feasible pattern (see :mod:`.oracle`) per customer. The shared
rows (:mod:`.problem`) must hold; lower limits (``min_volume``, ``min_cell``) too; and
precedence (docs/planning.md): a dropped candidate ``h`` with a granted candidate ``l`` of
the same customer from a lower-ranked team must stay infeasible in the plan with ``l``
swapped for ``h``.

* ``exact``: one binary per pattern, the shared rows, a binary per campaign for
  ``min_cell``, and for each swap the policy allows, indicator binaries saying which
  shared row the swap would break. HiGHS proves the optimum (or reports its bound).
* ``lagrangian``: prices on the shared rows; with prices, each customer's best pattern
  is an argmax over arrays; the dual value is an upper bound. Every few iterations the
  priced choice is repaired into a feasible plan (customers in order of priced value,
  each taking its best pattern that fits), improved, and made to respect precedence.
* ``greedy``: candidates in descending value, each granted when the plan stays valid.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from policylang.plan.problem import FloatArray, IntArray, Problem, pattern_sums

EPS = 1e-9
REPAIR_AT = frozenset({0, 20, 60, 150})  # repairs cost a pass in Python over every customer


@attrs.define(slots=True)
class State:
    """A plan under construction: one pattern per customer and the loads it puts on rows."""

    problem: Problem
    choice: list[int]  # customer -> pattern
    load: list[float]
    rhs: list[float]
    volume: list[int]  # campaign -> granted candidates
    cells: list[int]  # campaign -> customers granted something of it
    members: list[list[int]]  # pattern -> candidates (lists: the hot loops are Python)
    rows: list[list[tuple[int, float]]]  # candidate -> (row, coefficient)
    campaign: list[int]
    lookup: dict[int, tuple[dict[tuple[int, ...], int], list[int], bool]] = attrs.field(factory=dict)
    # customer -> (pattern by members, refused ones included, the customer's candidates, any
    # two of different rank); shared by copies: patterns never change
    ranks: list[int] = attrs.field(factory=list)

    @classmethod
    def empty(cls, problem: Problem, members: list[list[int]] | None = None,
              rows: list[list[tuple[int, float]]] | None = None) -> State:
        if members is None:
            # patterns problem.patterns.. are the refused ones: swap targets, never chosen
            flat = problem.pat_members.tolist()
            ptr = problem.pat_ptr.tolist()
            members = [flat[ptr[p]:ptr[p + 1]] for p in range(problem.patterns)]
            ref_flat, ref_ptr = problem.ref_members.tolist(), problem.ref_ptr.tolist()
            members += [ref_flat[ref_ptr[i]:ref_ptr[i + 1]] for i in range(len(ref_ptr) - 1)]
        if rows is None:
            cr, cc, cp = problem.cand_row.tolist(), problem.cand_coef.tolist(), problem.cand_ptr.tolist()
            rows = [list(zip(cr[cp[j]:cp[j + 1]], cc[cp[j]:cp[j + 1]], strict=True))
                    for j in range(len(problem.candidates))]
        campaigns = len(problem.campaign_names)
        return cls(problem, problem.cust_pat[:-1].tolist(), [0.0] * len(problem.resources),
                   [r.rhs for r in problem.resources], [0] * campaigns, [0] * campaigns, members, rows,
                   problem.campaign.tolist(), {}, problem.rank.tolist())

    def copy(self) -> State:
        return State(self.problem, list(self.choice), list(self.load), self.rhs, list(self.volume),
                     list(self.cells), self.members, self.rows, self.campaign, self.lookup, self.ranks)

    def customer(self, c: int) -> tuple[dict[tuple[int, ...], int], list[int], bool]:
        found = self.lookup.get(c)
        if found is None:
            problem = self.problem
            lo, hi = int(problem.cust_pat[c]), int(problem.cust_pat[c + 1])
            # refused patterns (numbered after the chosen ones) are swap targets too
            npat = problem.patterns
            ids = [*range(lo, hi), *range(npat + int(problem.ref_cust[c]), npat + int(problem.ref_cust[c + 1]))]
            index = {tuple(self.members[p]): p for p in ids}
            mine = sorted({j for p in ids for j in self.members[p]})
            ranked = len({int(problem.rank[j]) for j in mine}) > 1
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
            if d > 0 and self.load[r] + d > self.rhs[r] + EPS:
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
            out[self.members[p]] = True
        return out

    def objective(self, pattern_gain: Sequence[float]) -> float:
        return float(sum(pattern_gain[p] for p in self.choice))

    def lower_limits_met(self) -> bool:
        problem = self.problem
        return all(not 0 < self.cells[k] < m for k, m in problem.min_cell.items()) and \
            all(self.volume[k] >= m for k, m in problem.min_volume.items())


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
          index: dict[tuple[int, ...], int] | None = None) -> list[tuple[int, int, int]]:
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


def greedy(problem: Problem, members: list[list[int]] | None = None) -> State:
    """Candidates in descending value (then file order); each granted when the plan stays valid."""
    state = State.empty(problem, members)
    order = np.lexsort((np.arange(len(problem.candidates)), -problem.candidates.value)).tolist()
    indexes: dict[int, dict[tuple[int, ...], int]] = {}
    cust = problem.cust.tolist()
    for j in order:
        c = cust[j]
        index = indexes.get(c)
        if index is None:
            index = indexes[c] = pattern_index(problem, state, c)
        q = index.get(tuple(sorted([*state.members[state.choice[c]], j])))
        if q is not None and state.fits(c, q):
            state.switch(c, q)
    finish_lower(problem, state, problem.pattern_gain().tolist())
    enforce_precedence(problem, state)
    return state


# ---- repair: from any choice to a valid plan ------------------------------------------------------


def finish_lower(problem: Problem, state: State, gains: list[float]) -> None:
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


def repair(problem: Problem, priced: FloatArray, gains: list[float], base: State) -> State:
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


def improve(problem: Problem, state: State, gains: list[float], order: list[int]) -> None:
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
               members: list[list[int]] | None = None, start: State | None = None) -> Solution:
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


# ---- exact MIP ---------------------------------------------------------------------------------------


def new_highs(time_limit: float | None = None) -> Any:
    """A silent HiGHS instance (the constructor prints a banner on standard output)."""
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()  # type: ignore[no-untyped-call]
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    return h


def exact(problem: Problem, *, time_limit: float = 60.0, members: list[list[int]] | None = None,
          start: State | None = None) -> Solution:
    """The MIP over patterns with HiGHS; the plan HiGHS returns, and its dual bound.

    Columns: a binary ``y_p`` per pattern; a continuous load ``L_r`` per shared row (its
    upper bound is what the plan may use), a volume ``V_k`` per campaign with a lower
    limit, a cell count ``C_k`` and a binary ``z_k`` (granted to anybody) per ``min_cell``
    campaign. Precedence: for each swap the policy allows from pattern ``p`` (granted
    weaker ``l`` out, dropped stronger ``h`` in, giving pattern ``q``), ``y_p <= sum of b``
    where each indicator ``b`` says one thing that makes the swapped plan invalid: a shared
    row too full for the swap's extra use (``L_r >= rhs - d + step``), a cell the swap
    would break (``C_k`` at ``min_cell`` when the swap removes the campaign, 0 when it adds
    it), or a volume the swap would take under ``min_volume``. Indicators are shared by
    every swap that needs the same threshold on the same row, and they read the aggregate
    columns (two nonzeros each) rather than repeating the row's patterns: the earlier
    model, which repeated a whole shared row in every indicator, grew with customers times
    row length and did not finish a few hundred customers.

    ``start`` is not passed to HiGHS (see below); the caller keeps the better plan.
    """
    import highspy

    began = time.perf_counter()
    state = State.empty(problem, members)
    gains = problem.pattern_gain().tolist()
    npat = problem.patterns
    inf = highspy.kHighsInf
    cols_cost: list[float] = list(gains)
    col_lo: list[float] = [0.0] * npat
    col_hi: list[float] = [1.0] * npat
    integer: list[bool] = [True] * npat
    entries: list[dict[int, float]] = [dict() for _ in range(npat)]  # column -> {row: coef}
    row_lo: list[float] = []
    row_hi: list[float] = []

    def new_row(lo: float, hi: float) -> int:
        row_lo.append(lo)
        row_hi.append(hi)
        return len(row_lo) - 1

    def new_col(cost: float, lo: float, hi: float, is_int: bool) -> int:
        cols_cost.append(cost)
        col_lo.append(lo)
        col_hi.append(hi)
        integer.append(is_int)
        entries.append({})
        return len(cols_cost) - 1

    starts = problem.cust_pat.tolist()
    for c in range(problem.customers):
        r = new_row(1.0, 1.0)
        for p in range(starts[c], starts[c + 1]):
            entries[p][r] = 1.0
    # L_r = sum of the patterns' use of row r, at most rhs
    # every pattern's use, the refused ones (numbered from npat, swap targets only) included
    pattern_rows: list[dict[int, float]] = []
    for p in range(len(state.members)):
        use: dict[int, float] = {}
        for j in state.members[p]:
            for r, a in state.rows[j]:
                use[r] = use.get(r, 0.0) + a
        pattern_rows.append(use)
    load_col: list[int] = []
    load_row: list[int] = []
    for res in problem.resources:
        load_row.append(new_row(0.0, 0.0))
        load_col.append(new_col(0.0, 0.0, res.rhs, False))
        entries[load_col[-1]][load_row[-1]] = -1.0
    for p in range(npat):
        for r, a in pattern_rows[p].items():
            entries[p][load_row[r]] = a
    counts = {k: [sum(state.campaign[j] == k for j in state.members[p]) for p in range(len(state.members))]
              for k in set(problem.min_volume) | set(problem.min_cell)}
    volume_col: dict[int, int] = {}
    total = {k: float(sum(max(counts[k][p] for p in range(starts[c], starts[c + 1]))
                          for c in range(problem.customers))) for k in counts}
    for k, m in problem.min_volume.items():
        row = new_row(0.0, 0.0)
        volume_col[k] = col = new_col(0.0, float(m), max(float(m), total[k]), False)
        entries[col][row] = -1.0
        for p in range(npat):
            if counts[k][p]:
                entries[p][row] = float(counts[k][p])
    cell_col: dict[int, int] = {}
    n = float(problem.customers)
    for k, m in problem.min_cell.items():
        row = new_row(0.0, 0.0)
        cell_col[k] = col = new_col(0.0, 0.0, n, False)
        entries[col][row] = -1.0
        for p in range(npat):
            if counts[k][p]:
                entries[p][row] = 1.0
        z = new_col(0.0, 0.0, 1.0, True)
        lo_row, hi_row = new_row(0.0, inf), new_row(-inf, 0.0)  # C >= m z, C <= n z
        entries[col][lo_row] = entries[col][hi_row] = 1.0
        entries[z][lo_row] = -float(m)
        entries[z][hi_row] = -n

    indicators: dict[tuple[str, int, float], int] = {}

    def indicator(kind: str, key: int, threshold: float) -> int:
        """The binary b with b = 1 only when the aggregate column ``key`` is past ``threshold``."""
        found = indicators.get((kind, key, threshold))
        if found is not None:
            return found
        b = new_col(0.0, 0.0, 1.0, True)
        if kind == "row":  # L_r >= threshold * b
            row = new_row(0.0, inf)
            entries[load_col[key]][row] = 1.0
            entries[b][row] = -threshold
        else:  # C_k (or V_k) <= threshold when b = 1: C + (top - threshold) b <= top
            col = cell_col[key] if kind == "cell" else volume_col[key]
            top = col_hi[col]
            row = new_row(-inf, top)
            entries[col][row] = 1.0
            entries[b][row] = top - threshold
        indicators[(kind, key, threshold)] = b
        return b

    for c in range(problem.customers):
        for p in range(starts[c], starts[c + 1]):
            links: set[tuple[int, ...]] = set()
            # q may be a refused pattern: the swapped plan need only be valid by the policy
            # and the limits (docs/planning.md, precedence), not respect precedence itself
            for _high, _low, q in swaps(problem, state, c, p):
                delta = dict(pattern_rows[q])
                for r, a in pattern_rows[p].items():
                    delta[r] = delta.get(r, 0.0) - a
                # the swap breaks row r iff L_r > rhs - d; with y_p = 1, L_r holds p's own use, so a
                # row whose threshold is below that use always breaks it: nothing to add
                if any(d > EPS and pattern_rows[p].get(r, 0.0) > problem.resources[r].rhs - d + EPS
                       for r, d in delta.items()):
                    continue
                breakers: list[int] = []
                for r, d in sorted(delta.items()):
                    if d <= EPS:
                        continue
                    # a budget is broken past 1e-6 (as verify reads it); the margin stays well
                    # above HiGHS's feasibility tolerance (1e-6), or L_r = rhs - d would pass
                    step = 1.0 if problem.resources[r].kind != "budget" else 1e-6 + 1e-4 * max(1.0, d)
                    threshold = problem.resources[r].rhs - d + step
                    if threshold > problem.resources[r].rhs + EPS:
                        continue  # L_r never gets there
                    breakers.append(indicator("row", r, threshold))
                old_k = {state.campaign[j] for j in state.members[p]}
                new_k = {state.campaign[j] for j in state.members[q]}
                for k in sorted(problem.min_cell):
                    if (k in old_k) != (k in new_k):
                        # removing k breaks the cell iff C_k == min_cell; adding it iff C_k == 0
                        breakers.append(indicator("cell", k, float(problem.min_cell[k]) if k in old_k else 0.0))
                for k, m in sorted(problem.min_volume.items()):
                    d = counts[k][q] - counts[k][p]
                    if d < 0 and m - d - 1 >= m:  # V_k + d < m iff V_k <= m - d - 1
                        breakers.append(indicator("volume", k, float(m - d - 1)))
                links.add(tuple(sorted(set(breakers))))
            for breakers_set in sorted(links):
                link = new_row(-inf, 0.0)  # y_p <= sum of b
                entries[p][link] = 1.0
                for b in breakers_set:
                    entries[b][link] = -1.0
    ncol, nrow = len(cols_cost), len(row_lo)
    col_start = [0]
    index_list: list[int] = []
    value_list: list[float] = []
    for col in range(ncol):
        for r, a in sorted(entries[col].items()):
            index_list.append(r)
            value_list.append(a)
        col_start.append(len(index_list))
    h = new_highs(time_limit)
    h.setOptionValue("mip_rel_gap", 1e-9)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = ncol, nrow
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = np.array(cols_cost, dtype=np.double)
    lp.col_lower_ = np.array(col_lo, dtype=np.double)
    lp.col_upper_ = np.array(col_hi, dtype=np.double)
    lp.row_lower_ = np.array(row_lo, dtype=np.double)
    lp.row_upper_ = np.array(row_hi, dtype=np.double)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.array(col_start, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index_list, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value_list, dtype=np.double)
    lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous for i in integer]
    h.passModel(lp)
    # No starting incumbent: with highspy 1.16, after setSolution a run can report the
    # optimum's value while returning the start's columns; the caller keeps the better plan.
    del start
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    prices = np.zeros(len(problem.resources))
    if info.primal_solution_status != 2:  # no feasible plan found
        return Solution(state, math.nan, info.mip_dual_bound if math.isfinite(info.mip_dual_bound) else math.nan,
                        prices, f"exact ({h.modelStatusToString(status)})", False, time.perf_counter() - began)
    values = h.getSolution().col_value
    for c in range(problem.customers):
        p = max(range(starts[c], starts[c + 1]), key=lambda p: (values[p], -p))
        state.switch(c, p)
    objective = state.objective(gains)
    bound = float(info.mip_dual_bound)
    if not math.isfinite(bound) or bound < objective:
        bound = objective
    prices = lp_prices(problem, state)
    proved = status == highspy.HighsModelStatus.kOptimal
    return Solution(state, objective, bound, prices, "exact" if proved else f"exact ({h.modelStatusToString(status)})",
                    True, time.perf_counter() - began)


def lp_prices(problem: Problem, state: State) -> FloatArray:
    """Shadow prices of the shared rows: the duals of the LP relaxation over patterns."""
    import highspy

    if not problem.resources:
        return np.zeros(0)
    gains = problem.pattern_gain()
    npat, ncust = problem.patterns, problem.customers
    nres = len(problem.resources)
    columns: list[list[tuple[int, float]]] = []
    for p in range(npat):
        use: dict[int, float] = {}
        for j in state.members[p]:
            for r, a in state.rows[j]:
                use[r] = use.get(r, 0.0) + a
        columns.append([(int(problem.pat_cust[p]), 1.0)] + [(ncust + r, a) for r, a in sorted(use.items())])
    start = np.cumsum([0] + [len(col) for col in columns])
    h = new_highs()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = npat, ncust + nres
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = np.asarray(gains, dtype=np.double)
    lp.col_lower_ = np.zeros(npat)
    lp.col_upper_ = np.ones(npat)
    lp.row_lower_ = np.concatenate([np.ones(ncust), np.full(nres, -highspy.kHighsInf)])
    lp.row_upper_ = np.concatenate([np.ones(ncust), [r.rhs for r in problem.resources]])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = start.astype(np.int32)
    lp.a_matrix_.index_ = np.array([r for col in columns for r, _ in col], dtype=np.int32)
    lp.a_matrix_.value_ = np.array([a for col in columns for _, a in col], dtype=np.double)
    h.passModel(lp)
    h.run()
    duals = np.asarray(h.getSolution().row_dual[ncust:], dtype=np.float64)
    return np.abs(duals)

"""The exact model over patterns (HiGHS): the whole plan, or a block of customers with the rest fixed.

Columns: a binary ``y_p`` per pattern; a continuous load ``L_r`` per shared row (its upper
bound is what the plan may use), a volume ``V_k`` per campaign with a lower limit, a cell
count ``C_k`` and a binary ``z_k`` (granted to anybody) per ``min_cell`` campaign.
Precedence: for each swap the policy allows from pattern ``p`` (granted weaker ``l`` out,
dropped stronger ``h`` in, giving pattern ``q``), ``y_p <= sum of b`` where each indicator
``b`` says one thing that makes the swapped plan invalid: a shared row too full for the
swap's extra use (``L_r >= rhs - d + step``), a cell the swap would break (``C_k`` at
``min_cell`` when the swap removes the campaign, 0 when it adds it), or a volume the swap
would take under ``min_volume``. Indicators are shared by every swap that needs the same
threshold on the same column, and they read the aggregate columns (two nonzeros each)
rather than repeating the row's patterns: the earlier model, which repeated a whole shared
row in every indicator, grew with customers times row length and did not finish a few
hundred customers.

The same model with most customers fixed (:func:`polish`) is how the heuristic's plan is
improved: a block of customers is solved exactly while the others keep their patterns;
the fixed customers' loads become constants, and their precedence links become rows on
the indicators alone (``sum of b >= 1``: whatever the block does, each fixed customer's
weaker grant must stay justified), so every block's answer is a valid plan of the whole.
"""

from __future__ import annotations

import array
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from policylang.plan.problem import LIMIT_TOLERANCE, FloatArray, Problem
from policylang.plan.solve import EPS, Solution, State, swaps

DOUBLETON_EQUATIONS = 1 << 9  # HiGHS's presolve rule bit (see Model.run)
Key = tuple[str, int, float]  # an indicator: ("row", r, threshold), ("cell", k, C_k <= t) or ("volume", k, V_k <= t)
Link = tuple[Key, ...]  # one swap is blocked when one of these indicators is on


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
        h.setOptionValue("time_limit", float(max(time_limit, 0.01)))
    return h


@attrs.define(slots=True)
class Built:
    """One model ready for HiGHS: its columns' meaning and the arrays."""

    patterns: list[int]  # column i < len(patterns) is y of this pattern
    free: list[int]
    load_col: list[int]
    volume_col: dict[int, int]
    cell_col: dict[int, tuple[int, int]]  # campaign -> (C_k, z_k)
    indicators: dict[Key, int]
    cost: list[float]
    col_lo: list[float]
    col_hi: list[float]
    integer: list[bool]
    entries: list[dict[int, float]]  # column -> {row: coefficient}
    row_lo: list[float]
    row_hi: list[float]


class Model:
    """What every solve of one problem shares: each pattern's use of the rows, its counts
    per campaign, and its precedence links (computed once per pattern, on demand)."""

    def __init__(self, problem: Problem, members: list[tuple[int, ...]] | None = None, like: State | None = None) -> None:
        """``like``: a state of the same problem whose patterns, rows and lookups are shared."""
        self.problem = problem
        self.state = State.empty(problem, members) if like is None else \
            State.empty(problem, like.members, like.rows, like.lookup)
        # an array, not a list: a float object per pattern was a quarter of a gigabyte at a million
        self.gains: Sequence[float] = array.array("d", problem.pattern_gain().astype(np.float64).tobytes())
        self.starts: list[int] = problem.cust_pat.tolist()
        state = self.state
        # every pattern's use, the refused ones (numbered from problem.patterns, swap targets only) included
        # (patterns share few distinct uses: one dict each, read only)
        self.use: list[dict[int, float]] = []
        uses: dict[tuple[tuple[int, float], ...], dict[int, float]] = {}
        # members' rows are shared lists (State.empty): patterns whose members have the
        # same ones have the same use, found by the lists' identities
        by_rows: dict[tuple[int, ...], dict[int, float]] = {}
        rows = state.rows
        for p in range(len(state.members)):
            shape = tuple([id(rows[j]) for j in state.members[p]])
            use = by_rows.get(shape)
            if use is None:
                use = {}
                for j in state.members[p]:
                    for r, a in rows[j]:
                        use[r] = use.get(r, 0.0) + a
                use = by_rows[shape] = uses.setdefault(tuple(use.items()), use)
            self.use.append(use)
        lower = sorted(set(problem.min_volume) | set(problem.min_cell))
        # each pattern's count of each lower-limit campaign (refused patterns after the others)
        self.counts: dict[int, list[int]] = {}
        self.total: dict[int, float] = {}
        for k in lower:
            inside = problem.campaign == k
            chosen = np.bincount(problem.pat_of, weights=inside[problem.pat_members].astype(np.float64), minlength=problem.patterns)
            ref_of = np.repeat(np.arange(len(problem.ref_ptr) - 1), np.diff(problem.ref_ptr))
            refused = np.bincount(ref_of, weights=inside[problem.ref_members].astype(np.float64), minlength=len(problem.ref_ptr) - 1)
            self.counts[k] = np.concatenate([chosen, refused]).astype(np.int64).tolist()
            most = np.maximum.reduceat(chosen, problem.cust_pat[:-1]) if problem.patterns else chosen
            self.total[k] = float(most.sum())
        self._links: list[tuple[Link, ...] | None] = [None] * problem.patterns
        # every distinct link set, once: customers in like situations have equal ones
        self._shared: dict[tuple[Link, ...], tuple[Link, ...]] = {}
        # a customer's shape (its patterns as masks over its candidates, their ranks, rows
        # and campaigns) -> each pattern's links by its mask: what the links depend on
        self._shapes: dict[Any, dict[int, tuple[Link, ...]]] = {}

    def links(self, c: int, p: int) -> tuple[Link, ...]:
        """Pattern ``p`` of customer ``c`` may be chosen only when every link has an indicator on.

        An empty link means no plan blocks that swap (the pattern is never valid). Computed
        for all of the customer's patterns at once, and once per shape of customer: the
        links name rows, cells and volumes, never candidates, so customers whose patterns
        look alike over candidates of like ranks, rows and campaigns have equal ones."""
        if p >= len(self._links):  # a refused pattern: never chosen, asked about directly
            return self._pattern_links(c, p)
        found = self._links[p]
        if found is None:
            self._customer_links(c)
            found = self._links[p]
            assert found is not None
        return found

    def _customer_links(self, c: int) -> None:
        state = self.state
        index, mine, _ = state.customer(c)
        position = {j: i for i, j in enumerate(mine)}

        def mask(p: int) -> int:
            m = 0
            for j in state.members[p]:
                m |= 1 << position[j]
            return m

        shape = (tuple(sorted(mask(q) for q in index.values())), tuple(state.ranks[j] for j in mine),
                 tuple(tuple(state.rows[j]) for j in mine), tuple(state.campaign[j] for j in mine))
        lo, hi = self.starts[c], self.starts[c + 1]
        known = self._shapes.get(shape)
        if known is None:
            known = self._shapes[shape] = {mask(p): self._pattern_links(c, p) for p in range(lo, hi)}
        for p in range(lo, hi):
            self._links[p] = known[mask(p)]

    def _pattern_links(self, c: int, p: int) -> tuple[Link, ...]:
        problem, state, use = self.problem, self.state, self.use
        links: set[Link] = set()
        # q may be a refused pattern: the swapped plan need only be valid by the policy
        # and the limits (docs/planning.md, precedence), not respect precedence itself
        for _high, _low, q in swaps(problem, state, c, p):
            delta = dict(use[q])
            for r, a in use[p].items():
                delta[r] = delta.get(r, 0.0) - a
            # the swap breaks row r iff L_r > rhs - d; with y_p = 1, L_r holds p's own use, so a
            # row whose threshold is below that use always breaks it: nothing to add
            if any(d > EPS and use[p].get(r, 0.0) > problem.resources[r].rhs - d + EPS for r, d in delta.items()):
                continue
            keys: list[Key] = []
            for r, d in sorted(delta.items()):
                if d <= EPS:
                    continue
                # a budget is broken past LIMIT_TOLERANCE (as every part reads it); the margin
                # stays well above HiGHS's feasibility tolerance (1e-6), or L_r = rhs - d would pass
                step = 1.0 if problem.resources[r].kind != "budget" else LIMIT_TOLERANCE + 1e-4 * max(1.0, d)
                threshold = problem.resources[r].rhs - d + step
                if threshold > problem.resources[r].rhs + EPS:
                    continue  # L_r never gets there
                keys.append(("row", r, threshold))
            old_k = {state.campaign[j] for j in state.members[p]}
            new_k = {state.campaign[j] for j in state.members[q]}
            for k in sorted(problem.min_cell):
                if (k in old_k) != (k in new_k):
                    # removing k breaks the cell iff C_k == min_cell; adding it iff C_k == 0
                    keys.append(("cell", k, float(problem.min_cell[k]) if k in old_k else 0.0))
            for k, m in sorted(problem.min_volume.items()):
                d = self.counts[k][q] - self.counts[k][p]
                if d < 0 and m - d - 1 >= m:  # V_k + d < m iff V_k <= m - d - 1
                    keys.append(("volume", k, float(m - d - 1)))
            links.add(tuple(sorted(set(keys))))
        found = tuple(sorted(links))
        return self._shared.setdefault(found, found)

    # ---- building ------------------------------------------------------------------------------

    def build(self, free: list[int], base: State | None, fixed_links: set[Link]) -> Built | None:
        """The model over the ``free`` customers; the others keep ``base``'s patterns (their
        loads are constants, their ``fixed_links`` rows on the indicators). None when a
        fixed customer's link can never hold (``base`` breaks precedence)."""
        import highspy

        if () in fixed_links:
            return None
        problem, gains, starts, use = self.problem, self.gains, self.starts, self.use
        inf = highspy.kHighsInf
        patterns = [p for c in free for p in range(starts[c], starts[c + 1])]
        col_of = {p: i for i, p in enumerate(patterns)}
        built = Built(patterns, free, [], {}, {}, {}, [gains[p] for p in patterns], [0.0] * len(patterns),
                      [1.0] * len(patterns), [True] * len(patterns), [{} for _ in patterns], [], [])
        entries, row_lo, row_hi = built.entries, built.row_lo, built.row_hi

        def new_row(lo: float, hi: float) -> int:
            row_lo.append(lo)
            row_hi.append(hi)
            return len(row_lo) - 1

        def new_col(cost: float, lo: float, hi: float, is_int: bool) -> int:
            built.cost.append(cost)
            built.col_lo.append(lo)
            built.col_hi.append(hi)
            built.integer.append(is_int)
            entries.append({})
            return len(built.cost) - 1

        for c in free:
            r = new_row(1.0, 1.0)
            for p in range(starts[c], starts[c + 1]):
                entries[col_of[p]][r] = 1.0
        # what the fixed customers hold: the base plan's totals less the free customers' part
        fixed_load = [0.0] * len(problem.resources)
        fixed_count = dict.fromkeys(self.counts, 0.0)
        fixed_cell = dict.fromkeys(self.counts, 0.0)
        if base is not None:
            fixed_load = list(base.load)
            fixed_count = {k: float(base.volume[k]) for k in self.counts}
            fixed_cell = {k: float(base.cells[k]) for k in self.counts}
            for c in free:
                p = base.choice[c]
                for r, a in use[p].items():
                    fixed_load[r] -= a
                for k, count in self.counts.items():
                    fixed_count[k] -= count[p]
                    fixed_cell[k] -= count[p] > 0
        # L_r = fixed load + the free patterns' use of row r, at most rhs
        load_rows: list[int] = []
        for r, res in enumerate(problem.resources):
            load_rows.append(new_row(-fixed_load[r], -fixed_load[r]))
            built.load_col.append(new_col(0.0, 0.0, res.rhs, False))
            entries[built.load_col[-1]][load_rows[-1]] = -1.0
        for p in patterns:
            for r, a in use[p].items():
                entries[col_of[p]][load_rows[r]] = a
        for k, m in problem.min_volume.items():
            row = new_row(-fixed_count[k], -fixed_count[k])
            built.volume_col[k] = col = new_col(0.0, float(m), max(float(m), self.total[k]), False)
            entries[col][row] = -1.0
            for p in patterns:
                if self.counts[k][p]:
                    entries[col_of[p]][row] = float(self.counts[k][p])
        n = float(problem.customers)
        for k, m in problem.min_cell.items():
            row = new_row(-fixed_cell[k], -fixed_cell[k])
            col = new_col(0.0, 0.0, n, False)
            entries[col][row] = -1.0
            for p in patterns:
                if self.counts[k][p]:
                    entries[col_of[p]][row] = 1.0
            z = new_col(0.0, 0.0, 1.0, True)
            built.cell_col[k] = (col, z)
            lo_row, hi_row = new_row(0.0, inf), new_row(-inf, 0.0)  # C >= m z, C <= n z
            entries[col][lo_row] = entries[col][hi_row] = 1.0
            entries[z][lo_row] = -float(m)
            entries[z][hi_row] = -n

        def indicator(key: Key) -> int:
            """The binary b with b = 1 only when the aggregate column is past the threshold."""
            found = built.indicators.get(key)
            if found is not None:
                return found
            kind, index, threshold = key
            b = new_col(0.0, 0.0, 1.0, True)
            if kind == "row":  # L_r >= threshold * b
                row = new_row(0.0, inf)
                entries[built.load_col[index]][row] = 1.0
                entries[b][row] = -threshold
            else:  # C_k (or V_k) <= threshold when b = 1: C + (top - threshold) b <= top
                col = built.cell_col[index][0] if kind == "cell" else built.volume_col[index]
                top = built.col_hi[col]
                row = new_row(-inf, top)
                entries[col][row] = 1.0
                entries[b][row] = top - threshold
            built.indicators[key] = b
            return b

        for c in free:
            for p in range(starts[c], starts[c + 1]):
                for link in self.links(c, p):
                    row = new_row(-inf, 0.0)  # y_p <= sum of b
                    entries[col_of[p]][row] = 1.0
                    for key in link:
                        entries[indicator(key)][row] = -1.0
        for link in sorted(fixed_links):
            row = new_row(1.0, inf)  # a fixed customer's weaker grant stays justified
            for key in link:
                entries[indicator(key)][row] = 1.0
        return built

    def start_values(self, built: Built, plan: State) -> list[float]:
        """Every column's value for ``plan`` (valid): the MIP start."""
        values = [0.0] * len(built.cost)
        chosen = {plan.choice[c] for c in built.free}
        for i, p in enumerate(built.patterns):
            values[i] = 1.0 if p in chosen else 0.0
        for r, col in enumerate(built.load_col):
            values[col] = min(max(plan.load[r], 0.0), built.col_hi[col])
        for k, col in built.volume_col.items():
            values[col] = float(plan.volume[k])
        for k, (col, z) in built.cell_col.items():
            values[col] = float(plan.cells[k])
            values[z] = 1.0 if plan.cells[k] > 0 else 0.0
        for key, b in built.indicators.items():
            values[b] = 1.0 if key_holds(plan, key) else 0.0
        return values

    def run(self, built: Built, *, time_limit: float | None, start: State | None = None,
            node_limit: int | None = None, presolve: bool = True) -> tuple[Any, Any, list[float] | None]:
        """Solve with HiGHS; (the HiGHS instance, its info, the column values or None)."""
        import highspy

        ncol, nrow = len(built.cost), len(built.row_lo)
        col_start = [0]
        index_list: list[int] = []
        value_list: list[float] = []
        for col in range(ncol):
            for r, a in sorted(built.entries[col].items()):
                index_list.append(r)
                value_list.append(a)
            col_start.append(len(index_list))
        h = new_highs(time_limit)
        h.setOptionValue("mip_rel_gap", 1e-9)
        if node_limit is not None:
            h.setOptionValue("mip_max_nodes", int(node_limit))
        if not presolve:
            h.setOptionValue("presolve", "off")
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = ncol, nrow
        lp.sense_ = highspy.ObjSense.kMaximize
        lp.col_cost_ = np.array(built.cost, dtype=np.double)
        lp.col_lower_ = np.array(built.col_lo, dtype=np.double)
        lp.col_upper_ = np.array(built.col_hi, dtype=np.double)
        lp.row_lower_ = np.array(built.row_lo, dtype=np.double)
        lp.row_upper_ = np.array(built.row_hi, dtype=np.double)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.array(col_start, dtype=np.int32)
        lp.a_matrix_.index_ = np.array(index_list, dtype=np.int32)
        lp.a_matrix_.value_ = np.array(value_list, dtype=np.double)
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in built.integer]
        h.passModel(lp)
        if start is not None:
            # HiGHS 1.16's presolve maps a start into the reduced model wrongly when it
            # substitutes doubleton equations (the start, worth 0, was "feasible in the reduced
            # space" at 1 and HiGHS returned its columns as optimal at 1; found by the
            # brute-force test). Rule 9 of presolve_rule_off is that substitution.
            h.setOptionValue("presolve_rule_off", DOUBLETON_EQUATIONS)
            solution = highspy.HighsSolution()
            solution.col_value = self.start_values(built, start)
            solution.value_valid = True
            h.setSolution(solution)
        h.run()
        info = h.getInfo()
        if info.primal_solution_status != 2:  # no feasible plan found
            return h, info, None
        return h, info, list(h.getSolution().col_value)

    def apply(self, built: Built, values: list[float], plan: State) -> None:
        """Move ``plan``'s free customers to the patterns ``values`` chose."""
        starts = self.starts
        col_of = {p: i for i, p in enumerate(built.patterns)}
        for c in built.free:
            p = max(range(starts[c], starts[c + 1]), key=lambda p: (values[col_of[p]], -p))
            if plan.choice[c] != p:
                plan.switch(c, p)


def exact(problem: Problem, *, time_limit: float = 60.0, members: list[tuple[int, ...]] | None = None,
          start: State | None = None, model: Model | None = None) -> Solution:
    """The whole MIP with HiGHS; the plan HiGHS returns, and its dual bound.

    ``start`` (a valid plan) is handed to HiGHS as its first incumbent (``setSolution``),
    so past the time limit HiGHS returns at least that plan, with a proved bound.
    """
    import highspy

    began = time.perf_counter()
    model = model if model is not None else Model(problem, members)
    state = State.empty(problem, model.state.members, model.state.rows, model.state.lookup)
    built = model.build(list(range(problem.customers)), None, set())
    assert built is not None
    if start is not None and not valid(model, start):
        start = None
    h, info, values = model.run(built, time_limit=time_limit, start=start)
    if values is not None and start is not None and not agrees(model, built, values, info):
        # the columns are not worth what HiGHS reports: once more without presolve
        h, info, values = model.run(built, time_limit=max(time_limit - (time.perf_counter() - began), 1.0),
                                    start=start, presolve=False)
    status = h.getModelStatus()
    prices = np.zeros(len(problem.resources))
    if values is None:
        bound = info.mip_dual_bound if math.isfinite(info.mip_dual_bound) else math.nan
        return Solution(state, math.nan, bound, prices, f"exact ({h.modelStatusToString(status)})", False,
                        time.perf_counter() - began)
    model.apply(built, values, state)
    objective = state.objective(model.gains)
    bound = float(info.mip_dual_bound)
    proved = status == highspy.HighsModelStatus.kOptimal
    if proved:
        bound = max(bound, objective) if math.isfinite(bound) else objective
    elif not math.isfinite(bound) or bound < objective - 1e-6 * max(1.0, abs(objective)):
        # Stopped before HiGHS had a bound of its own (a dual bound below its own plan is
        # none): no proof, so no bound from HiGHS; the caller keeps the Lagrangian one.
        bound = math.inf
    prices = lp_prices(problem, state)
    method = "exact" if proved else f"exact ({h.modelStatusToString(status)})"
    if abs(objective - info.objective_function_value) > 1e-6 * max(1.0, abs(objective)):
        # The plan is what the columns say; a proof about another value is no proof of it.
        # (A note from highspy 1.16 said a run from a start could report the optimum's value
        # with the start's columns; not seen since every column of the start is given.)
        method = f"exact (columns worth {objective:.6g}, HiGHS reports {info.objective_function_value:.6g})"
    return Solution(state, objective, bound, prices, method, True, time.perf_counter() - began)


def agrees(model: Model, built: Built, values: list[float], info: Any) -> bool:
    """Are the columns HiGHS returned worth the objective it reports?"""
    worth = sum(model.gains[p] for i, p in enumerate(built.patterns) if values[i] > 0.5)
    return bool(abs(worth - float(info.objective_function_value)) <= 1e-6 * max(1.0, abs(worth)))


def key_holds(plan: State, key: Key) -> bool:
    """Whether one condition of a precedence link holds in ``plan``: a shared row at least
    this full (``row``), or a cell or volume at most this large."""
    kind, index, threshold = key
    if kind == "row":
        return bool(plan.load[index] >= threshold - 1e-9)
    return bool((plan.cells[index] if kind == "cell" else plan.volume[index]) <= threshold + 1e-9)


def valid(model: Model, plan: State) -> bool:
    """Is ``plan`` valid as the model reads it (rows, lower limits, every customer's links)?"""
    problem = model.problem
    if any(load > r.rhs + LIMIT_TOLERANCE for load, r in zip(plan.load, problem.resources, strict=True)):
        return False
    if not plan.lower_limits_met():
        return False
    if any(p >= problem.patterns for p in plan.choice):
        return False
    on: dict[Key, bool] = {}

    def holds(key: Key) -> bool:
        found = on.get(key)
        if found is None:
            found = on[key] = key_holds(plan, key)
        return found

    return all(any(holds(key) for key in link)
               for c in range(problem.customers) for link in model.links(c, plan.choice[c]))


def polish(problem: Problem, plan: State, *, block: int = 200, sweeps: int = 20, time_limit: float = 60.0,
           node_limit: int = 200, members: list[tuple[int, ...]] | None = None, model: Model | None = None) -> State:
    """Improve a valid plan by solving blocks of customers exactly, the others fixed.

    Each sweep shuffles the customers (seed 0) and takes them ``block`` at a time; each block's MIP
    starts from the plan's own patterns (so it never gets worse) and stops after
    ``node_limit`` branch-and-bound nodes. Sweeps repeat while one improved the plan, up
    to ``sweeps``; ``time_limit`` (seconds, wall) is a cap: within it the result depends on
    the input only.
    """
    began = time.perf_counter()
    model = model if model is not None else Model(problem, members)
    if not valid(model, plan):
        return plan
    plan = plan.copy()
    gains = model.gains
    rng = np.random.default_rng(0)
    # each customer's links, counted: the fixed customers' rows are those of everyone outside the block
    held: dict[Link, int] = {}
    mine: list[tuple[Link, ...]] = [model.links(c, plan.choice[c]) for c in range(problem.customers)]
    for links in mine:
        for link in links:
            held[link] = held.get(link, 0) + 1
    for _ in range(sweeps):
        better = False
        order = rng.permutation(problem.customers).tolist()  # new blocks each sweep
        for at in range(0, problem.customers, block):
            if time.perf_counter() - began > time_limit:
                return plan
            free = sorted(order[at:at + block])
            inside: dict[Link, int] = {}
            for c in free:
                for link in mine[c]:
                    inside[link] = inside.get(link, 0) + 1
            fixed = {link for link, n in held.items() if n > inside.get(link, 0)}
            built = model.build(free, plan, fixed)
            if built is None:
                return plan
            left = time_limit - (time.perf_counter() - began)
            _, _, values = model.run(built, time_limit=left, start=plan, node_limit=node_limit)
            if values is None:
                continue
            before = sum(gains[plan.choice[c]] for c in free)
            trial = plan.copy()
            model.apply(built, values, trial)
            if sum(gains[trial.choice[c]] for c in free) <= before + 1e-7:
                continue
            plan, better = trial, True
            for c in free:
                for link in mine[c]:
                    held[link] -= 1
                mine[c] = model.links(c, plan.choice[c])
                for link in mine[c]:
                    held[link] = held.get(link, 0) + 1
        if not better:
            break
    return plan


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

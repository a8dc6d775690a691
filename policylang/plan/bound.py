"""An upper bound on the optimum that holds precedence: the gap the summary reports.

The plain Lagrangian bound (:func:`.solve.lagrangian`) prices the shared rows and lets each
customer take its best pattern. It relaxes precedence: a pattern that grants a weaker
team's candidate while a stronger one is dropped is valid only while something blocks the
swap (:meth:`.mip.Model.links`: a shared row too full for the swap's extra use, a cell or a
volume at its limit), and the relaxation never asks whether anything does. On the
benchmark's instances that bound is ~10 % above the optimum.

Here the plans are split into *scenarios* by the state of what can block a swap: each row
some swap could be blocked by is *full* (its load at least the least threshold any swap
needs, ``L_r >= t_r``) or *not* (``L_r <= t_r``); each ``min_cell`` campaign is granted to
nobody, to exactly ``min_cell`` customers, or to more; each ``min_volume`` campaign a swap
could break is *near* its limit or past it. Every plan lies in some scenario (the split
is by its own loads). Within a scenario, a pattern may be chosen only when each of its
swaps has a blocker the scenario allows (per customer, exactly, from the same links the
exact model uses), and the scenario's conditions are rows of their own. Each scenario's
Lagrangian dual (prices on all its rows, each customer's best allowed pattern) is an
upper bound on the plans in it, so the largest over the scenarios is an upper bound on
the optimum with precedence. Any prices give a valid bound; they are chosen by Kelley's
cutting planes (a handful of rows: a tiny LP per step), the scenario with the largest
bound first, until it meets the best plan found or the time runs out.

A row or campaign left unsplit (past ``MAX_SCENARIOS``) is treated as able to block
whenever it is needed, with no condition of its own: a weaker relaxation, still valid.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence

import attrs
import numpy as np
import numpy.typing as npt

from policylang.plan.mip import Key, Model, new_highs
from policylang.plan.problem import FloatArray, IntArray, Problem, pattern_sums

MAX_SCENARIOS = 64
TOLERANCE = 1e-7  # relative: a scenario is done when its cutting-plane model is this close


@attrs.define(slots=True)
class Scenario:
    """One scenario: its allowed patterns, its rows (``A x <= b`` over patterns), the best
    (least) dual value found and the cutting planes so far."""

    name: str
    allowed: npt.NDArray[np.bool_]
    rows: FloatArray  # (m, patterns)
    rhs: FloatArray
    upper: float = math.inf  # least dual value found: a bound on every plan in the scenario
    lower: float = -math.inf  # the cutting-plane model's least value: no dual value is below it
    points: list[FloatArray] = attrs.field(factory=list)
    grads: list[FloatArray] = attrs.field(factory=list)
    values: list[float] = attrs.field(factory=list)
    done: bool = False


@attrs.frozen(slots=True)
class Bound:
    """The bound, how many scenarios were open (feasible as far as known) and the time."""

    value: float
    scenarios: int
    open: int
    seconds: float


def _atom(key: Key) -> tuple[str, int]:
    kind, index, threshold = key
    if kind == "row":
        return ("row", index)
    if kind == "cell":
        return ("cell0", index) if threshold == 0 else ("cellm", index)
    return ("volume", index)


def precedence_bound(problem: Problem, model: Model, incumbent: float, *, time_limit: float = 60.0,
                     max_scenarios: int = MAX_SCENARIOS) -> Bound:
    """An upper bound on the optimum (precedence held); ``incumbent`` is the best plan's value
    (scenarios whose bound falls to it are left; ``-inf`` pushes every scenario to its least
    bound). ``time_limit`` caps the cutting planes: whatever they reached is still a bound."""
    began = time.perf_counter()
    npat = problem.patterns
    # each pattern's links as blocker sets: (kind, index) atoms, a link holds when one is on
    atoms: dict[tuple[str, int], int] = {}
    least: dict[int, float] = {}  # row -> least threshold of any key
    most: dict[int, float] = {}  # min_volume campaign -> largest threshold of any key
    sets: dict[tuple[int, ...], int] = {}
    set_of = np.empty(npat, dtype=np.int64)
    for c in range(problem.customers):
        for p in range(int(problem.cust_pat[c]), int(problem.cust_pat[c + 1])):
            masks = []
            for link in model.links(c, p):
                mask = 0
                for key in link:
                    atom = atoms.setdefault(_atom(key), len(atoms))
                    mask |= 1 << atom
                    if key[0] == "row":
                        least[key[1]] = min(least.get(key[1], math.inf), key[2])
                    elif key[0] == "volume":
                        most[key[1]] = max(most.get(key[1], -math.inf), key[2])
                masks.append(mask)
            set_of[p] = sets.setdefault(tuple(sorted(set(masks))), len(sets))
    link_sets = list(sets)
    # what to split: rows first (by how many link sets read them), then cells, then volumes
    weight = {a: sum(1 for s in link_sets for m in s if m >> i & 1) for a, i in atoms.items()}

    def dim_of(atom: tuple[str, int]) -> tuple[str, int]:
        return ("cell", atom[1]) if atom[0] in ("cell0", "cellm") else atom

    wanted = {("row", r) for r in least} | {("cell", k) for k in problem.min_cell} | {("volume", k) for k in most}
    dims: list[tuple[str, int]] = []
    count = 1
    for kind, index in sorted(wanted, key=lambda d: (-sum(w for a, w in weight.items() if dim_of(a) == d), d)):
        ways = 3 if kind == "cell" else 2
        if count * ways > max_scenarios:
            continue
        dims.append((kind, index))
        count *= ways
    split = set(dims)
    always = 0  # atoms of unsplit dimensions: able to block whenever needed
    for (kind, index), i in atoms.items():
        if dim_of((kind, index)) not in split:
            always |= 1 << i

    # the rows' coefficients per pattern
    nres = len(problem.resources)
    cand_rows = np.zeros((nres, len(problem.candidates)))
    cand_rows[problem.row_of, problem.row_cand] = problem.row_coef
    use = np.vstack([pattern_sums(problem, cand_rows[r]) for r in range(nres)]) if nres else np.zeros((0, npat))
    counts = {k: pattern_sums(problem, (problem.campaign == k).astype(np.float64))
              for k in set(problem.min_cell) | set(problem.min_volume)}
    rhs = np.array([r.rhs for r in problem.resources], dtype=np.float64)
    gains = problem.pattern_gain()

    scenarios: list[Scenario] = []
    choices = [(("full", "not") if kind != "cell" else ("zero", "min", "more")) if kind != "volume" else ("near", "past")
               for kind, _ in dims]
    for states in itertools.product(*choices):
        on = always
        allowed = np.ones(npat, dtype=bool)
        rows: list[FloatArray] = [use[r] for r in range(nres)]
        limits: list[float] = rhs.tolist()
        for (kind, index), state in zip(dims, states, strict=True):
            if kind == "row":
                if state == "full":
                    on |= 1 << atoms[("row", index)]
                    rows.append(-use[index])
                    limits.append(-least[index])
                else:
                    limits[index] = min(limits[index], least[index])
            elif kind == "cell":
                m = float(problem.min_cell[index])
                has = (counts[index] > 0).astype(np.float64)
                if state == "zero":
                    if ("cell0", index) in atoms:
                        on |= 1 << atoms[("cell0", index)]
                    allowed &= has == 0
                elif state == "min":
                    if ("cellm", index) in atoms:
                        on |= 1 << atoms[("cellm", index)]
                    rows += [has, -has]
                    limits += [m, -m]
                else:
                    rows.append(-has)
                    limits.append(-(m + 1))
            else:
                if state == "near":
                    on |= 1 << atoms[("volume", index)]
                    rows.append(counts[index])
                    limits.append(most[index])
                else:
                    rows.append(-counts[index])
                    limits.append(-(most[index] + 1))
        for k, m in problem.min_volume.items():
            rows.append(-counts[k])
            limits.append(-float(m))
        ok = np.array([all(mask & on for mask in s) for s in link_sets], dtype=bool)
        allowed &= ok[set_of]
        name = ", ".join(f"{kind} {index} {state}" for (kind, index), state in zip(dims, states, strict=True))
        scenarios.append(Scenario(name, allowed, np.vstack(rows) if rows else np.zeros((0, npat)),
                                  np.array(limits, dtype=np.float64)))

    firsts = problem.cust_pat[:-1]
    scale = float(np.abs(gains).max()) if npat else 1.0
    for s in scenarios:
        _evaluate(problem, s, gains, firsts, np.zeros(len(s.rhs)))
    enough = incumbent + TOLERANCE * max(1.0, abs(incumbent)) if math.isfinite(incumbent) else -math.inf
    while time.perf_counter() - began < time_limit:
        live = [s for s in scenarios if not s.done and s.upper > enough]
        if not live:
            break
        s = max(live, key=lambda s: s.upper)
        _step(problem, s, gains, firsts, scale)
    value = max([incumbent, *(s.upper for s in scenarios)]) if scenarios else incumbent
    open_ = sum(1 for s in scenarios if s.upper > incumbent)
    return Bound(value, len(scenarios), open_, time.perf_counter() - began)


def _evaluate(problem: Problem, s: Scenario, gains: FloatArray, firsts: IntArray, prices: FloatArray) -> None:
    """The dual value and a subgradient at ``prices``; keeps the least value."""
    priced = gains - prices @ s.rows if len(prices) else gains.copy()
    priced = np.where(s.allowed, priced, -np.inf)
    top = np.maximum.reduceat(priced, firsts)
    value = float(top.sum() + prices @ s.rhs) if len(prices) else float(top.sum())
    hits = np.flatnonzero(priced >= top[problem.pat_cust])
    _, first = np.unique(problem.pat_cust[hits], return_index=True)
    chosen = hits[first]
    grad = s.rhs - s.rows[:, chosen].sum(axis=1) if len(prices) else np.zeros(0)
    s.points.append(prices)
    s.values.append(value)
    s.grads.append(grad)
    s.upper = min(s.upper, value)


def _step(problem: Problem, s: Scenario, gains: FloatArray, firsts: IntArray, scale: float) -> None:
    """One cutting-plane step: the prices minimising the cuts' model, evaluated."""
    import highspy

    m = len(s.rhs)
    if m == 0:
        s.done = True
        return
    # least positive coefficient per row: no price needs to exceed what makes every pattern
    # using the row worthless many times over; past it, a larger box only slows the steps
    cap = np.empty(m)
    for i in range(m):
        nonzero = np.abs(s.rows[i][s.rows[i] != 0])
        cap[i] = 1e3 * scale / float(nonzero.min()) if len(nonzero) else 0.0
    h = new_highs()
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = m + 1, len(s.values)
    lp.sense_ = highspy.ObjSense.kMinimize
    lp.col_cost_ = np.concatenate([np.zeros(m), [1.0]])
    lp.col_lower_ = np.concatenate([np.zeros(m), [-inf]])
    lp.col_upper_ = np.concatenate([cap, [inf]])
    # theta - g.x >= f - g.x_k
    lp.row_lower_ = np.array([v - float(g @ x) for x, v, g in zip(s.points, s.values, s.grads, strict=True)])
    lp.row_upper_ = np.full(len(s.values), inf)
    matrix = np.hstack([-np.vstack(s.grads), np.ones((len(s.values), 1))])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.arange(0, matrix.size + 1, m + 1, dtype=np.int32)
    lp.a_matrix_.index_ = np.tile(np.arange(m + 1, dtype=np.int32), len(s.values))
    lp.a_matrix_.value_ = matrix.ravel().astype(np.double)
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        s.done = True
        return
    solution = np.asarray(h.getSolution().col_value, dtype=np.float64)
    s.lower = max(s.lower, float(solution[m]))
    prices = np.clip(solution[:m], 0.0, cap)
    _evaluate(problem, s, gains, firsts, prices)
    if s.upper - s.lower <= TOLERANCE * max(1.0, abs(s.upper)) or len(s.values) > 400:
        s.done = True


__all__: Sequence[str] = ["Bound", "precedence_bound"]

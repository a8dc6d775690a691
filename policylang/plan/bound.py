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

from policylang.plan.mip import Key, Link, Model, new_highs
from policylang.plan.problem import LIMIT_TOLERANCE, FloatArray, IntArray, Problem, pattern_sums

MAX_SCENARIOS = 64
TOLERANCE = 1e-7  # relative: a scenario is done when its cutting-plane model is this close


@attrs.define(slots=True)
class Scenario:
    """One scenario: which link sets it can block, the campaigns it grants to nobody, its rows
    (``A x <= b``, each row of ``A`` a combination of the :class:`Basis` rows), the least
    dual value found and the cutting planes so far."""

    name: str
    ok: npt.NDArray[np.bool_]  # per link set: can every link be blocked here?
    zero: list[int]  # campaigns granted to nobody here
    rows: FloatArray  # (m, basis rows)
    rhs: FloatArray
    upper: float = math.inf  # least dual value found: a bound on every plan in the scenario
    lower: float = -math.inf  # the cutting-plane model's least value: no dual value is below it
    points: list[FloatArray] = attrs.field(factory=list)
    grads: list[FloatArray] = attrs.field(factory=list)
    values: list[float] = attrs.field(factory=list)
    done: bool = False
    caps: FloatArray | None = None


@attrs.frozen(slots=True, eq=False)
class Basis:
    """What every scenario's rows are made of, per pattern (shared, not copied per scenario):
    each shared row's use, then per lower-limit campaign its count and whether it has one."""

    matrix: FloatArray  # (rows, patterns)
    set_of: IntArray  # pattern -> link set
    has: dict[int, int]  # campaign -> its "has" row
    least: dict[int, float] = attrs.field(factory=dict)  # basis row -> least nonzero |coefficient|

    def allowed(self, s: Scenario) -> npt.NDArray[np.bool_]:
        allowed = s.ok[self.set_of]
        for k in s.zero:
            allowed &= self.matrix[self.has[k]] == 0
        return allowed


def _row_values(problem: Problem, start: int, end: int) -> FloatArray:
    """One shared row's coefficient per candidate (0 for a candidate it does not hold)."""
    values = np.zeros(len(problem.candidates))
    values[problem.row_cand[start:end]] = problem.row_coef[start:end]
    return values


@attrs.frozen(slots=True)
class Bound:
    """The bound, how many scenarios there were and how many stay above the incumbent, the
    time, and the scenario with the largest bound as a guide for a plan."""

    value: float
    scenarios: int
    open: int
    seconds: float
    # that scenario's plan as the cutting planes see it (each customer's pattern of most
    # weight in the mix of the cuts' choices the master LP's duals make: Kelley's primal
    # recovery): nearly optimal, but it may break a row or a link (check it: mip.valid)
    recovered: IntArray | None = None
    # that scenario's best prices, netted onto each shared row (the shadow prices)
    prices: FloatArray | None = None


def _atom(key: Key) -> tuple[str, int]:
    kind, index, threshold = key
    if kind == "row":
        return ("row", index)
    if kind == "cell":
        return ("cell0", index) if threshold == 0 else ("cellm", index)
    return ("volume", index)


def precedence_bound(problem: Problem, model: Model, incumbent: float, *, time_limit: float = 60.0,
                     max_scenarios: int = MAX_SCENARIOS, recover: bool = True) -> Bound:
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
    # patterns share their links' tuple (Model.links): each distinct one is read once
    seen: dict[int, tuple[tuple[Link, ...], int]] = {}
    starts = problem.cust_pat.tolist()
    for c in range(problem.customers):
        for p in range(starts[c], starts[c + 1]):
            links = model.links(c, p)
            known = seen.get(id(links))
            if known is not None:
                set_of[p] = known[1]
                continue
            masks = []
            for link in links:
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
            seen[id(links)] = (links, int(set_of[p]))  # (the tuple held: its id stays its own)
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
    # (filled a row at a time: a dense candidates-by-rows matrix and the rows stacked from a
    # list were each a copy of it, a gigabyte at a million customers)
    nres = len(problem.resources)
    campaigns = sorted(set(problem.min_cell) | set(problem.min_volume))
    width = nres + 2 * len(campaigns)
    matrix = np.zeros((width, npat))
    row_ptr = problem.row_ptr.tolist()
    for r in range(nres):
        matrix[r] = pattern_sums(problem, _row_values(problem, row_ptr[r], row_ptr[r + 1]))
    count_row: dict[int, int] = {}
    has_row: dict[int, int] = {}
    for i, k in enumerate(campaigns):
        count_row[k] = nres + 2 * i
        matrix[nres + 2 * i] = pattern_sums(problem, (problem.campaign == k).astype(np.float64))
        has_row[k] = nres + 2 * i + 1
        matrix[nres + 2 * i + 1] = matrix[nres + 2 * i] > 0
    basis = Basis(matrix, set_of, has_row)
    rhs = np.array([r.rhs + LIMIT_TOLERANCE for r in problem.resources], dtype=np.float64)
    gains = problem.pattern_gain()

    def unit(row: int, sign: float = 1.0) -> FloatArray:
        out = np.zeros(width)
        out[row] = sign
        return out

    scenarios: list[Scenario] = []
    choices = [("full", "not") if kind == "row" else ("zero", "min", "more") if kind == "cell" else ("near", "past")
               for kind, _ in dims]
    for states in itertools.product(*choices):
        on = always
        zero: list[int] = []
        rows: list[FloatArray] = [unit(r) for r in range(nres)]
        limits: list[float] = rhs.tolist()
        for (kind, index), state in zip(dims, states, strict=True):
            if kind == "row":
                if state == "full":  # L_r >= least threshold
                    on |= 1 << atoms[("row", index)]
                    rows.append(unit(index, -1.0))
                    limits.append(-least[index])
                else:  # L_r below every threshold (<= the least: a relaxation)
                    limits[index] = min(limits[index], least[index])
            elif kind == "cell":
                m = float(problem.min_cell[index])
                has = has_row[index]
                if state == "zero":
                    if ("cell0", index) in atoms:
                        on |= 1 << atoms[("cell0", index)]
                    zero.append(index)
                elif state == "min":  # C_k == min_cell
                    if ("cellm", index) in atoms:
                        on |= 1 << atoms[("cellm", index)]
                    rows += [unit(has), unit(has, -1.0)]
                    limits += [m, -m]
                else:  # C_k > min_cell
                    rows.append(unit(has, -1.0))
                    limits.append(-(m + 1))
            elif state == "near":  # V_k <= the largest threshold
                on |= 1 << atoms[("volume", index)]
                rows.append(unit(count_row[index]))
                limits.append(most[index])
            else:
                rows.append(unit(count_row[index], -1.0))
                limits.append(-(most[index] + 1))
        for k, m in problem.min_volume.items():
            rows.append(unit(count_row[k], -1.0))
            limits.append(-float(m))
        ok = np.array([all(mask & on for mask in s) for s in link_sets], dtype=bool)
        name = ", ".join(f"{kind} {index} {state}" for (kind, index), state in zip(dims, states, strict=True))
        scenarios.append(Scenario(name, ok, zero, np.vstack(rows) if rows else np.zeros((0, width)),
                                  np.array(limits, dtype=np.float64)))

    firsts = problem.cust_pat[:-1]
    scale = float(np.abs(gains).max()) if npat else 1.0
    for s in scenarios:
        _evaluate(problem, basis, s, gains, firsts, np.zeros(len(s.rhs)))
    enough = incumbent + TOLERANCE * max(1.0, abs(incumbent)) if math.isfinite(incumbent) else -math.inf
    stepping = time.perf_counter()  # the limit is on the cutting planes, not on the setup before them
    while time.perf_counter() - stepping < time_limit:
        # The bound is the largest scenario bound: once the scenario holding it can go no
        # lower, refining the others changes nothing (at 10,000 customers 643 of 763 steps
        # were spent there), so the steps stop.
        if not scenarios or max(scenarios, key=lambda s: s.upper).done:
            break
        live = [s for s in scenarios if not s.done and s.upper > enough]
        if not live:
            break
        s = max(live, key=lambda s: s.upper)
        _step(problem, basis, s, gains, firsts, scale)
    value = max([incumbent, *(s.upper for s in scenarios)]) if scenarios else incumbent
    open_ = sum(1 for s in scenarios if s.upper > incumbent)
    recovered = prices = None
    if scenarios:
        top = max(scenarios, key=lambda s: s.upper)
        best = top.points[int(np.argmin(top.values))]
        prices = np.abs((best @ top.rows)[:nres]) if len(best) else np.zeros(nres)
        if recover:
            recovered = _recover(problem, basis, top, gains, firsts, scale)
    return Bound(value, len(scenarios), open_, time.perf_counter() - began, recovered, prices)


def _priced(basis: Basis, s: Scenario, gains: FloatArray, prices: FloatArray) -> FloatArray:
    """Each pattern's value less its priced use, -inf where the scenario does not allow it."""
    priced = gains - (prices @ s.rows) @ basis.matrix if len(prices) else gains.copy()
    return np.where(basis.allowed(s), priced, -np.inf)


def _best(problem: Problem, firsts: IntArray, score: FloatArray) -> tuple[FloatArray, IntArray]:
    """Each customer's best score and its pattern (the first of ties)."""
    top = np.maximum.reduceat(score, firsts)
    hits = np.flatnonzero(score >= top[problem.pat_cust])
    _, first = np.unique(problem.pat_cust[hits], return_index=True)
    return top, np.asarray(hits[first], dtype=np.int64)


def _evaluate(problem: Problem, basis: Basis, s: Scenario, gains: FloatArray, firsts: IntArray,
              prices: FloatArray) -> None:
    """The dual value and a subgradient at ``prices``; keeps the least value."""
    top, chosen = _best(problem, firsts, _priced(basis, s, gains, prices))
    value = float(top.sum() + prices @ s.rhs) if len(prices) else float(top.sum())
    grad = s.rhs - s.rows @ basis.matrix[:, chosen].sum(axis=1) if len(prices) else np.zeros(0)
    s.points.append(prices)
    s.values.append(value)
    s.grads.append(grad)
    s.upper = min(s.upper, value)


def _recover(problem: Problem, basis: Basis, s: Scenario, gains: FloatArray, firsts: IntArray,
             scale: float) -> IntArray:
    """A plan from the cuts: the master LP's duals weigh each cut's choices; each customer
    takes its pattern of most weight."""
    solved = _master(basis, s, scale) if len(s.rhs) and len(s.values) > 1 else None
    if solved is None:
        return _best(problem, firsts, _priced(basis, s, gains, s.points[int(np.argmin(s.values))]))[1]
    score = np.zeros(problem.patterns)
    for k in np.flatnonzero(solved[1] > 1e-9):
        score[_best(problem, firsts, _priced(basis, s, gains, s.points[int(k)]))[1]] += solved[1][k]
    return _best(problem, firsts, np.where(basis.allowed(s), score, -1.0))[1]


def _caps(basis: Basis, s: Scenario, scale: float) -> FloatArray:
    """No price needs to exceed what makes every pattern using its row worthless many times
    over; past it, a larger box only slows the steps."""
    found = s.caps
    if found is None:
        found = np.empty(len(s.rhs))
        for i in range(len(s.rhs)):
            used = np.flatnonzero(s.rows[i])
            if len(used) == 1:
                # the scenarios' rows are mostly one basis row, signed: its least once, for all
                key = int(used[0])
                if key not in basis.least:
                    basis.least[key] = _least(basis.matrix[key])
                least = basis.least[key] * abs(float(s.rows[i][key]))
            else:
                least = _least(s.rows[i] @ basis.matrix)
            found[i] = 1e3 * scale / least if least else 0.0
        s.caps = found
    return found


def _least(row: FloatArray) -> float:
    """The least nonzero magnitude in ``row`` (0 when there is none)."""
    nonzero = np.abs(row[row != 0])
    return float(nonzero.min()) if len(nonzero) else 0.0


def _master(basis: Basis, s: Scenario, scale: float) -> tuple[FloatArray, FloatArray] | None:
    """The cutting-plane model's least point (the prices, then its value) and the cuts' duals."""
    import highspy

    m = len(s.rhs)
    h = new_highs()
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = m + 1, len(s.values)
    lp.sense_ = highspy.ObjSense.kMinimize
    lp.col_cost_ = np.concatenate([np.zeros(m), [1.0]])
    lp.col_lower_ = np.concatenate([np.zeros(m), [-inf]])
    lp.col_upper_ = np.concatenate([_caps(basis, s, scale), [inf]])
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
        return None
    solution = h.getSolution()
    return np.asarray(solution.col_value, dtype=np.float64), np.abs(np.asarray(solution.row_dual, dtype=np.float64))


def _step(problem: Problem, basis: Basis, s: Scenario, gains: FloatArray, firsts: IntArray, scale: float) -> None:
    """One cutting-plane step: the prices minimising the cuts' model, evaluated."""
    m = len(s.rhs)
    solved = _master(basis, s, scale) if m else None
    if solved is None:
        s.done = True
        return
    point = solved[0]
    s.lower = max(s.lower, float(point[m]))
    _evaluate(problem, basis, s, gains, firsts, np.clip(point[:m], 0.0, _caps(basis, s, scale)))
    if s.upper - s.lower <= TOLERANCE * max(1.0, abs(s.upper)) or len(s.values) > 400:
        s.done = True


__all__: Sequence[str] = ["Bound", "precedence_bound"]

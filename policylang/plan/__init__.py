"""The cycle planner: which candidate contacts to grant under the policy and shared limits.

Data flows one way: :mod:`.inputs` reads candidates and the cycle file, :mod:`.oracle`
asks the evaluator which subsets of each customer's candidates the policy allows (once,
before any price is known), :mod:`.problem` turns capacity rules, budgets and volumes
into rows over plain numpy arrays, :mod:`.solve` chooses (exact MIP or Lagrangian
heuristic, and the greedy baseline), :mod:`.explain` says why each candidate was or was
not granted, and :mod:`.verify` replays a plan through the evaluator.
"""

from __future__ import annotations

from policylang.plan.inputs import Candidates, Cycle, read_candidates, read_cycle
from policylang.plan.planner import PlanResult, plan

__all__ = ["Candidates", "Cycle", "PlanResult", "plan", "read_candidates", "read_cycle"]

"""How often the differential test's generators reach the boundaries (issue 10).

Draws N scenarios from each strategy of tests/strategies.py (default 1000), decides each with
the evaluator, and prints the share denied by a cap, by a capacity, that displaces, and that
has a ledger entry exactly on a boundary (the request instant, a window or distance away, a
local midnight, a quiet start or end, a daylight-saving change). The test run shows the same
counts for its own examples with ``pytest tests/test_differential.py --hypothesis-show-statistics``.

    python benchmarks/generator_mix.py [N]
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.strategies import boundary_label, displacement_scenarios, scenarios  # noqa: E402


def main(n: int) -> None:
    print("| strategy | examples | cap denial | capacity denial | displaces | entry on a boundary |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, strategy in (("scenarios", scenarios()), ("displacement_scenarios", displacement_scenarios())):
        counts = tally(strategy, n)
        total = counts["n"]
        shares = " | ".join(f"{counts[k] / total:.1%}" for k in ("cap", "capacity", "displaces", "boundary"))
        print(f"| {name} | {total} | {shares} |")


def tally(strategy: Any, n: int) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()

    @settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(strategy)
    def sample(scenario: Any) -> None:
        text, policy, customer, request, ledger = scenario
        decision = policy.decide(customer, request, ledger)
        kinds = {policy.rule(rule).kind for rule in decision.denied_by}
        counts["n"] += 1
        counts["cap"] += "cap" in kinds
        counts["capacity"] += "capacity" in kinds
        counts["displaces"] += bool(decision.displaces)
        counts["boundary"] += boundary_label(text, customer, request, ledger) != "no entry on a boundary"

    sample()
    return counts


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)

"""Test-wide settings.

Hypothesis: no per-example deadline and no "too slow" health check. CI machines are
shared and small (2 cores), so timing says nothing about correctness here; speed is
measured by the scripts in benchmarks/, never by tests.

``POLICYLANG_HYPOTHESIS_PROFILE=mutation`` (set by benchmarks/mutation.py) skips shrinking:
a mutation run only needs to know that a test fails, not its smallest example.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "policylang",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "mutation",
    settings.get_profile("policylang"),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    database=None,
)
settings.load_profile(os.environ.get("POLICYLANG_HYPOTHESIS_PROFILE", "policylang"))

"""Test-wide settings.

Hypothesis: no per-example deadline and no "too slow" health check. CI machines are
shared and small (2 cores), so timing says nothing about correctness here; speed is
measured by the scripts in benchmarks/, never by tests.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "policylang",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("policylang")

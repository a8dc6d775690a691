"""Counters and latency histograms in the Prometheus text format (version 0.0.4).

Each worker process keeps its own; with ``--workers N`` a scrape sees one worker's share
(label ``pid`` says which), as with any multi-process Python exporter without a shared store.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections import defaultdict

# seconds; fine at the bottom, where a decision lives
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

Labels = tuple[tuple[str, str], ...]


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """The service's metrics; every method is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.decisions: dict[Labels, int] = defaultdict(int)
        self.ledger_errors: dict[Labels, int] = defaultdict(int)
        self.reloads: dict[Labels, int] = defaultdict(int)
        self.responses: dict[Labels, int] = defaultdict(int)
        self.latency: dict[Labels, list[int]] = {}
        self.latency_sum: dict[Labels, float] = defaultdict(float)

    def decision(self, policy: str, allowed: bool, rules: tuple[str, ...]) -> None:
        verdict = "allowed" if allowed else "denied"
        with self._lock:
            for rule in rules or ("",):
                self.decisions[(("policy", policy), ("verdict", verdict), ("rule", rule))] += 1

    def ledger_error(self, kind: str) -> None:
        with self._lock:
            self.ledger_errors[(("kind", kind),)] += 1

    def reload(self, policy: str, result: str) -> None:
        with self._lock:
            self.reloads[(("policy", policy), ("result", result))] += 1

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        key = (("endpoint", endpoint),)
        with self._lock:
            self.responses[(("endpoint", endpoint), ("status", str(status)))] += 1
            counts = self.latency.setdefault(key, [0] * (len(BUCKETS) + 1))
            counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            self.latency_sum[key] += seconds

    def render(self) -> str:
        """The exposition text."""
        pid = (("pid", str(os.getpid())),)
        out: list[str] = []
        with self._lock:
            for name, help_text, table in (
                ("policylang_decisions_total", "Decisions by policy, verdict and deciding rule "
                 "(denied: each denying rule; allowed: rule is empty).", self.decisions),
                ("policylang_ledger_errors_total", "Ledger calls that failed, by kind.", self.ledger_errors),
                ("policylang_reloads_total", "Policy reloads by policy and result.", self.reloads),
                ("policylang_responses_total", "HTTP responses by endpoint and status.", self.responses),
            ):
                out += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
                out += [f"{name}{_labels(pid + k)} {v}" for k, v in sorted(table.items())]
            name = "policylang_request_duration_seconds"
            out += [f"# HELP {name} Time from request to response, by endpoint.", f"# TYPE {name} histogram"]
            for key, counts in sorted(self.latency.items()):
                running = 0
                for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                    running += count
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    out.append(f"{name}_bucket{_labels(pid + key + (('le', le),))} {running}")
                out.append(f"{name}_sum{_labels(pid + key)} {self.latency_sum[key]:.6f}")
                out.append(f"{name}_count{_labels(pid + key)} {running}")
        return "\n".join(out) + "\n"

"""Decision speed: p50/p99 microseconds per decision and decisions per second, one core.

Run: python benchmarks/decide.py [--quick]

For examples/northwind.pol and ledgers of 10, 100, 1,000 and 10,000 events, with explain
off and on. The ledger is indexed once (a History) and then asked many requests, which is
how an embedding service uses it. Also times a cold `policylang decide --json` process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import policylang  # noqa: E402
from policylang.history import History  # noqa: E402
from policylang.records import Contact, Customer, Event, Request  # noqa: E402

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def make_ledger(policy: policylang.Policy, size: int, rng: random.Random) -> list[Contact | Event]:
    """``size`` entries spread over the past year and the next week."""
    entries: list[Contact | Event] = []
    span = 365 * 24 * 3600
    for _ in range(size):
        at = NOW - dt.timedelta(seconds=rng.randrange(span)) + dt.timedelta(days=7 * (rng.random() < 0.02))
        if rng.random() < 0.03:
            entries.append(Event(at, rng.choice(policy.events)))
            continue
        status = "planned" if at > NOW else "sent"
        entries.append(Contact(at, rng.choice(policy.channels), rng.choice(policy.purposes),
                               rng.choice(policy.teams), status,
                               rng.choice((None, "conversation", "delivered"))))
    return entries


def make_requests(policy: policylang.Policy, count: int, rng: random.Random) -> list[Request]:
    return [
        Request(rng.choice(policy.teams), rng.choice(policy.channels), rng.choice(policy.purposes),
                NOW + dt.timedelta(minutes=rng.randrange(-600, 600)))
        for _ in range(count)
    ]


def measure(policy: policylang.Policy, size: int, explain: bool, count: int) -> list[float]:
    rng = random.Random(size)
    history = History(make_ledger(policy, size, rng))
    # Validated once, as an embedding service would (a plain dict is checked on every call).
    customer = Customer("c1", {"timezone": "America/Chicago", "status": "active", "owner": "cards", "age": 40.0})
    requests = make_requests(policy, count, rng)
    for request in requests[:200]:  # warm the per-selector indexes and plan cache
        policy.decide(customer, request, history, explain=explain)
    timings = []
    clock = time.perf_counter_ns
    for request in requests:
        start = clock()
        policy.decide(customer, request, history, explain=explain)
        timings.append((clock() - start) / 1000)
    return timings


def cold_process(runs: int) -> float:
    ada = ROOT / "examples" / "ada"
    command = [sys.executable, "-m", "policylang.cli", "decide", str(ROOT / "examples" / "northwind.pol"),
               "--customer", str(ada / "customer.json"), "--ledger", str(ada / "ledger.jsonl"),
               "--request", str(ada / "request.json"), "--json"]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer decisions per row")
    args = parser.parse_args()
    count = 2000 if args.quick else 20000
    policy = policylang.load(ROOT / "examples" / "northwind.pol")
    print(f"{'events':>7} {'explain':>7} {'p50 us':>8} {'p99 us':>8} {'decisions/s':>12}")
    results = {}
    for size in (10, 100, 1000, 10000):
        for explain in (False, True):
            timings = sorted(measure(policy, size, explain, count))
            p50 = timings[len(timings) // 2]
            p99 = timings[int(len(timings) * 0.99)]
            results[(size, explain)] = p50
            rate = len(timings) / (sum(timings) / 1e6)
            print(f"{size:>7} {'on' if explain else 'off':>7} {p50:>8.1f} {p99:>8.1f} {rate:>12,.0f}")
    print()
    print(f"targets: p50 <= 20 us at 100 events, explain off (measured {results[(100, False)]:.1f});"
          f" <= 40 us at 10,000 (measured {results[(10000, False)]:.1f});"
          f" explain on <= 3x off (measured {results[(100, True)] / results[(100, False)]:.2f}x at 100)")
    print(f"cold `policylang decide --json` process, median of 7: {cold_process(7):.0f} ms (target 250 ms)")


if __name__ == "__main__":
    main()

"""The floors under the service benchmark's reserve and decide rows, measured without HTTP.

    python benchmarks/service_floor.py                       # 3 s a run, concurrency 1, 16, 64
    python benchmarks/service_floor.py --seconds 2 --concurrency 64

Reserve on PostgreSQL (the same stored ledger as benchmarks/service.py):

- ``ledger.reserve in process``: the ledger's own ``reserve`` in one process, one caller
  (psycopg in pipeline mode plus the decision), its CPU time a reservation;
- ``bare SQL replay (asyncpg)``: the statements real reservations sent (captured from the
  psycopg cursor: BEGIN, the store's now, the customer's advisory lock, the reads, the
  capacity rule's lock and count, the insert, COMMIT; a denial's rollback and fresh reads)
  replayed by asyncpg, one connection a caller, no decision and no HTTP in between. Each
  replayed insert gets a fresh id; the locks are the same, so contention is the same. This
  is what the database itself gives these statements on this machine: the reserve floor.

Decide inline (the 100-event document of benchmarks/service.py):

- ``decide_json alone``: ``Policy.decide_json`` of the joined document in one process, its
  CPU time a decision: the service cannot decide faster than this per core.

PostgreSQL: $POLICYLANG_TEST_PG_URL, --pg-url, or a throwaway server as the tests start.
Needs asyncpg for the replay (``pip install -e '.[bench]'``; only this benchmark uses it).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import ledger as ledger_bench  # noqa: E402 - benchmarks/ledger.py: the same stored ledger
import service as service_bench  # noqa: E402 - benchmarks/service.py: the same requests

import policylang  # noqa: E402
from policylang.ledger import open_ledger  # noqa: E402
from policylang.records import Request  # noqa: E402

print = functools.partial(print, flush=True)  # noqa: A001

Statement = tuple[str, tuple[Any, ...]]


def requests(count: int, seed: int) -> list[tuple[str, Request]]:
    """Reserve requests drawn as benchmarks/service.py draws them (customer, request with an id)."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        r = ledger_bench.random_request(rng)
        customer = f"cust{rng.randrange(service_bench.CUSTOMERS):06d}"
        out.append((customer, Request(team=r.team, channel=r.channel, purpose=r.purpose, at=r.at,
                                      id=f"floor-{seed}-{n}")))
    return out


def capture(url: str, count: int) -> tuple[list[list[Statement]], float, int]:
    """Run ``count`` real reservations; the statements each sent, the CPU time a reservation
    (no capture in the timed half) and how many were granted."""
    import psycopg

    policy = policylang.load(ledger_bench.POLICY_PATH)
    scripts: list[list[Statement]] = []
    current: list[Statement] = []
    original = psycopg.Cursor.execute

    def execute(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        current.append((str(query), tuple(params or ())))
        return original(self, query, params, **kw)

    todo = requests(2 * count, seed=int(time.time()))
    granted = 0
    with open_ledger(url) as ledger:
        psycopg.Cursor.execute = execute  # type: ignore[method-assign]
        try:
            for customer, request in todo[:count]:
                current = []
                ledger.reserve(policy, customer, request)
                scripts.append(current)
        finally:
            psycopg.Cursor.execute = original  # type: ignore[method-assign]
        started = time.process_time()
        for customer, request in todo[count:]:
            granted += ledger.reserve(policy, customer, request).allowed
        cpu = (time.process_time() - started) / count
    return scripts, cpu, granted


def to_asyncpg(query: str) -> str:
    n = 0

    def number(_: re.Match[str]) -> str:
        nonlocal n
        n += 1
        return f"${n}"

    return re.sub(r"%s", number, query)


INSERT = re.compile(r"^\s*INSERT INTO entries", re.I)


def replay(url: str, scripts: list[list[Statement]], concurrency: int, seconds: float) -> dict[str, float]:
    import asyncpg

    conninfo, schema = url.split("?schema=")
    prepared = [[(to_asyncpg(q), p, bool(INSERT.match(q))) for q, p in script] for script in scripts]

    async def main() -> tuple[int, float]:
        conns = [await asyncpg.connect(conninfo, server_settings={"search_path": schema})
                 for _ in range(concurrency)]
        done = 0
        start = time.perf_counter()
        warm_until = start + min(1.0, seconds / 4)
        stop_at = warm_until + seconds
        latencies: list[float] = []

        async def caller(conn: Any, k: int) -> None:
            nonlocal done
            i = k * 997
            while (now := time.perf_counter()) < stop_at:
                for query, params, insert in prepared[i % len(prepared)]:
                    if insert:  # a fresh id: the captured one is booked already
                        params = (uuid.uuid4().hex, *params[1:])
                    await conn.fetch(query, *params)
                i += 1
                if now >= warm_until:
                    done += 1
                    latencies.append(time.perf_counter() - now)

        pids = service_bench.database_pids(url)
        mine, theirs = time.process_time(), service_bench.cpu_seconds(pids)
        await asyncio.gather(*(caller(c, k) for k, c in enumerate(conns)))
        elapsed = time.perf_counter() - start
        cpu = ((time.process_time() - mine) / elapsed, (service_bench.cpu_seconds(pids) - theirs) / elapsed)
        for c in conns:
            await c.close()
        latencies.sort()
        return done, cpu, latencies  # type: ignore[return-value]

    done, cpu, latencies = asyncio.run(main())  # type: ignore[misc]
    total = len(latencies)
    return {"per_second": done / seconds, "p50_ms": 1000 * latencies[total // 2],
            "p99_ms": 1000 * latencies[min(total - 1, int(total * 0.99))], "client_cpu": cpu[0], "db_cpu": cpu[1]}


def decide_json_cpu(repeat: int = 400) -> float:
    """CPU time a decision of ``Policy.decide_json`` on the 100-event documents."""
    import json

    policy = policylang.load(ledger_bench.POLICY_PATH)
    docs = []
    for raw in service_bench.inline_documents():
        body = json.loads(raw.split(b"\r\n\r\n", 1)[1])
        body.pop("policy", None)
        docs.append(json.dumps(body).encode())
    for doc in docs:
        policy.decide_json(doc)
    started = time.process_time()
    for i in range(repeat):
        policy.decide_json(docs[i % len(docs)])
    return (time.process_time() - started) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--capture", type=int, default=1000, help="reservations captured (and as many timed)")
    parser.add_argument("--pg-url", default=None)
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]

    cpu = decide_json_cpu()
    print(f"decide_json alone: {1e6 * cpu:.0f} us CPU a decision "
          f"(one core: {1 / cpu:,.0f}/s; {os.cpu_count()} cores: {os.cpu_count() / cpu:,.0f}/s, nothing else running)")

    pg_url, pg_server = ledger_bench.postgres_url(args.pg_url)
    if not pg_url:
        print("(PostgreSQL runs skipped: no server)")
        return
    try:
        sep = "&" if "?" in pg_url else "?"
        url = f"{pg_url}{sep}schema=bench_floor_{os.getpid()}"
        ledger_bench.build(url, service_bench.CUSTOMERS * service_bench.PER_CUSTOMER, service_bench.CUSTOMERS)
        scripts, reserve_cpu, granted = capture(url, args.capture)
        statements = sum(len(s) for s in scripts) / len(scripts)
        print(f"ledger.reserve in process: {1e6 * reserve_cpu:.0f} us CPU a reservation, one caller "
              f"({granted} of {args.capture} granted; {statements:.1f} statements a reservation)")
        print(f"{'run':<26} {'conc':>4} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'client':>7} {'db':>7} "
              f"{'db us':>7}")
        for level in levels:
            row = replay(url, scripts, level, args.seconds)
            print(f"{'bare SQL replay (asyncpg)':<26} {level:>4} {row['per_second']:>8.0f} {row['p50_ms']:>8.2f} "
                  f"{row['p99_ms']:>8.2f} {row['client_cpu']:>7.2f} {row['db_cpu']:>7.2f} "
                  f"{1e6 * row['db_cpu'] / max(row['per_second'], 1e-9):>7.0f}")
    finally:
        if pg_server is not None:
            pg_server.stop()


if __name__ == "__main__":
    main()

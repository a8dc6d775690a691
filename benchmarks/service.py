"""Decision-service benchmark: decisions per second and latency over real HTTP on loopback.

    python benchmarks/service.py                 # 5 s a run, concurrency 1, 16, 64
    python benchmarks/service.py --seconds 2 --concurrency 1,64 --workers 2

Starts ``policylang serve`` (uvicorn, ``--workers`` processes) on a free loopback port with
the example Northwind policy, and drives it from this process with a minimal asyncio
HTTP/1.1 client (one keep-alive connection per concurrent caller; an httpx client would
cost more CPU than the server on a two-core machine). The client shares the machine with
the server, so the figures are the whole loop's, client included.

Runs, each at every concurrency:

- ``empty``: ``GET /v1/empty`` of the same server - the floor (HTTP, routing, JSON);
- ``decide inline``: the section 10 document with a 100-event ledger;
- ``decide id sqlite`` / ``decide id postgres``: ``customer_id`` of one of 2,000 stored
  customers (10 entries each), read from the shared ledger;
- ``reserve postgres``: random Northwind requests for those customers; after the runs, the
  contacts the runs added are checked against the caps (none may be exceeded).

PostgreSQL: $POLICYLANG_TEST_PG_URL, --pg-url, or a throwaway server as the tests start.
Targets (two cores): decide inline >= 3,000/s with p99 <= 30 ms at concurrency 64;
reserve on PostgreSQL >= 1,000/s, exact.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import ledger as ledger_bench  # noqa: E402 - benchmarks/ledger.py: the same stored ledger

from policylang.ledger import open_ledger  # noqa: E402
from policylang.records import Contact  # noqa: E402
from tests.service_server import Served, policy_folder  # noqa: E402

print = functools.partial(print, flush=True)  # noqa: A001
CUSTOMERS = 2_000
PER_CUSTOMER = 10


# ---- a minimal HTTP/1.1 keep-alive client -------------------------------------------------------


def request_bytes(method: str, path: str, body: bytes | None) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if body is None:
        return (head + "\r\n").encode()
    return (head + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> tuple[int, bytes]:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def caller(port: int, requests: list[bytes], offset: int, stop_at: float, warm_until: float,
                 latencies: list[float], statuses: dict[int, int], answers: list[bytes] | None) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                return
            raw = requests[i % len(requests)]
            i += 1
            t0 = time.perf_counter()
            status, body = await exchange(reader, writer, raw)
            t1 = time.perf_counter()
            if t0 >= warm_until:
                latencies.append(t1 - t0)
                statuses[status] += 1
                if answers is not None:
                    answers.append(body)
    finally:
        writer.close()


def drive(port: int, requests: list[bytes], concurrency: int, seconds: float,
          keep_answers: bool = False) -> tuple[dict[str, float], list[bytes]]:
    async def main() -> tuple[list[float], dict[int, int], list[bytes], float]:
        latencies: list[float] = []
        statuses: dict[int, int] = defaultdict(int)
        answers: list[bytes] = []
        start = time.perf_counter()
        warm_until = start + min(1.0, seconds / 4)
        stop_at = warm_until + seconds
        await asyncio.gather(*[
            caller(port, requests, k * 997, stop_at, warm_until, latencies, statuses,
                   answers if keep_answers else None)
            for k in range(concurrency)
        ])
        return latencies, statuses, answers, seconds

    latencies, statuses, answers, elapsed = asyncio.run(main())
    latencies.sort()
    total = len(latencies)
    bad = sum(v for k, v in statuses.items() if k != 200)
    return {
        "per_second": total / elapsed,
        "p50_ms": 1000 * latencies[total // 2] if total else float("nan"),
        "p99_ms": 1000 * latencies[min(total - 1, int(total * 0.99))] if total else float("nan"),
        "requests": total,
        "errors": bad,
    }, answers


# ---- workloads ------------------------------------------------------------------------------------


def inline_documents(count: int = 50) -> list[bytes]:
    rng = random.Random(11)
    out = []
    for i in range(count):
        record = ledger_bench.customer(i)
        customer = {"id": record.id, **{k: (sorted(v) if isinstance(v, frozenset) else v) for k, v in record.values.items()}}
        entries = [e.to_dict() for e in ledger_bench.entries_for(i, 100, rng, 0.03)]
        request = ledger_bench.random_request(rng)
        doc = {"policy": "northwind", "customer": customer, "ledger": entries,
               "request": {"team": request.team, "channel": request.channel, "purpose": request.purpose,
                           "at": request.at.isoformat()}}
        out.append(request_bytes("POST", "/v1/decide", json.dumps(doc).encode()))
    return out


def by_id_documents(path: str, count: int = 2_000, seed: int = 5, reserve: bool = False) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        request = ledger_bench.random_request(rng)
        body: dict[str, Any] = {
            "policy": "northwind", "customer_id": f"cust{rng.randrange(CUSTOMERS):06d}",
            "request": {"team": request.team, "channel": request.channel, "purpose": request.purpose,
                        "at": request.at.isoformat()},
        }
        if reserve:
            body["request"]["id"] = f"bench-{seed}-{n}"
        out.append(request_bytes("POST", path, json.dumps(body).encode()))
    return out


def check_caps(url: str, new_ids: set[str]) -> str:
    """The contacts the reserve runs added break no cap: "one sales call a week" around each new
    marketing phone contact, and "call centre" (200 phone by service a calendar week)."""
    with open_ledger(url) as ledger:
        contacts = [e for e in ledger.export() if isinstance(e, Contact) and e.status in ("planned", "sent")]
    by_customer: dict[str | None, list[Contact]] = defaultdict(list)
    for c in contacts:
        if c.purpose == "marketing" and c.channel == "phone":
            by_customer[c.customer].append(c)
    broken = 0
    for c in contacts:
        if c.id in new_ids and c.purpose == "marketing" and c.channel == "phone":
            near = [o for o in by_customer[c.customer] if o is not c and abs(o.at - c.at) < dt.timedelta(days=7)]
            broken += bool(near)
    weeks: dict[tuple[int, int], int] = defaultdict(int)
    new_weeks = set()
    for c in contacts:
        if c.team == "service" and c.channel == "phone":
            week = tuple(c.at.astimezone(dt.timezone(dt.timedelta(hours=-5))).isocalendar()[:2])
            weeks[week] += 1  # type: ignore[index]
            if c.id in new_ids:
                new_weeks.add(week)
    over = [w for w in new_weeks if weeks[w] > 200]  # type: ignore[index]
    return f"{len(new_ids)} reservations granted; one-sales-call breaks: {broken}; call-centre weeks over 200: {len(over)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", default="empty,inline,sqlite,postgres,reserve")
    parser.add_argument("--pg-url", default=None)
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    runs = args.runs.split(",")
    folder = tempfile.mkdtemp(prefix="policylang-bench-service-")
    policies = policy_folder("northwind")

    sqlite_url = f"sqlite:///{folder}/ledger.sqlite"
    pg_url, pg_server = (None, None)
    if {"postgres", "reserve"} & set(runs):
        pg_url, pg_server = ledger_bench.postgres_url(args.pg_url)
        if pg_url:
            sep = "&" if "?" in pg_url else "?"
            pg_url = f"{pg_url}{sep}schema=bench_service_{os.getpid()}"
    if "sqlite" in runs or "empty" in runs or "inline" in runs:
        ledger_bench.build(sqlite_url, CUSTOMERS * PER_CUSTOMER, CUSTOMERS)
    if pg_url:
        ledger_bench.build(pg_url, CUSTOMERS * PER_CUSTOMER, CUSTOMERS)

    print(f"# {os.cpu_count()} cores (shared, loaded machine); server: uvicorn --workers {args.workers}; "
          f"{args.seconds:g} s a run after warm-up")
    print(f"{'run':<20} {'conc':>4} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")

    def table(name: str, served: Served, requests: list[bytes], keep: bool = False) -> None:
        for level in levels:
            row, _ = drive(served.port, requests, level, args.seconds, keep)
            print(f"{name:<20} {level:>4} {row['per_second']:>8.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
                  f"{row['errors']:>7}")

    workers = ["--workers", str(args.workers), "--reload-interval", "0", "--pool", "4"]
    if {"empty", "inline", "sqlite"} & set(runs):
        served = Served(policies, "--ledger", sqlite_url, *workers)
        try:
            if "empty" in runs:
                table("empty (floor)", served, [request_bytes("GET", "/v1/empty", None)])
            if "inline" in runs:
                table("decide inline 100", served, inline_documents())
            if "sqlite" in runs:
                table("decide id sqlite", served, by_id_documents("/v1/decide"))
        finally:
            served.stop()
    if pg_url and {"postgres", "reserve"} & set(runs):
        served = Served(policies, "--ledger", pg_url, *workers)
        try:
            if "postgres" in runs:
                table("decide id postgres", served, by_id_documents("/v1/decide"))
            if "reserve" in runs:
                granted: set[str] = set()
                for level in levels:
                    requests = by_id_documents("/v1/reserve", count=200_000, seed=level, reserve=True)
                    row, answers = drive(served.port, requests, level, args.seconds, keep_answers=True)
                    for body in answers:
                        ident = json.loads(body).get("reservation")
                        if ident:
                            granted.add(ident)
                    print(f"{'reserve postgres':<20} {level:>4} {row['per_second']:>8.0f} {row['p50_ms']:>8.2f} "
                          f"{row['p99_ms']:>8.2f} {row['errors']:>7}")
                print("cap check after the reserve runs:", check_caps(pg_url, granted))
        finally:
            served.stop()
    elif {"postgres", "reserve"} & set(runs):
        print("(PostgreSQL runs skipped: no server)")
    if pg_server is not None:
        pg_server.stop()


if __name__ == "__main__":
    main()

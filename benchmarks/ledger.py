"""Shared-ledger benchmark: reservations per second and latency, SQLite and PostgreSQL.

    python benchmarks/ledger.py            # 1,000,000 events across 100,000 customers
    python benchmarks/ledger.py --small    # 10,000 events across 1,000 customers (quick)
    python benchmarks/ledger.py --floor    # one reserve against the decision alone and its SQL in sqlite3

For each store it builds a ledger (contacts and events spread over the last six months and
the next two weeks, 10 per customer, plus every customer's record; service calls stay near
the policy's call-centre capacity of 200 a week, as in a ledger the policy governs), then runs 1, 4 and 16
worker processes - each with its own connection, as separate programs would - reserving
random Northwind requests for random customers for a few seconds. It prints reservations
per second (allowed or denied: each is a full decide-and-record transaction), the share
allowed, and p50/p99 latency. Then it times a decision's read of one customer's entries
in a ledger of 10,000 and of 1,000,000 (or 100,000 with --small) events.

PostgreSQL: $POLICYLANG_TEST_PG_URL, --pg-url, or a throwaway server started like the tests
do (fsync off there; SQLite runs WAL with synchronous=NORMAL - neither syncs every commit).
Target: SQLite >= 2,000 reservations/s with one writer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import policylang  # noqa: E402
from policylang.ledger import open_ledger  # noqa: E402
from policylang.records import Contact, Customer, Entry, Event, Request  # noqa: E402

print = functools.partial(print, flush=True)  # noqa: A001 - rows appear as they are measured
UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
POLICY_PATH = ROOT / "examples" / "northwind.pol"
TEAMS = ("private_banking", "wealth_management", "cards", "collections", "growth", "service")
CHANNELS = ("email", "sms", "phone", "letter", "push")
PURPOSES = ("marketing", "servicing", "debt", "transactional")
ZONES = ("America/New_York", "Europe/London", "America/Los_Angeles", "Asia/Tokyo")


def customer(i: int) -> Customer:
    rng = random.Random(i)
    values: dict[str, Any] = {
        "timezone": rng.choice(ZONES),
        "status": rng.choices(("active", "dormant", "in_collections"), (90, 7, 3))[0],
        "owner": rng.choice(TEAMS),
        "age": float(rng.randint(16, 90)),
    }
    if rng.random() < 0.1:
        values["opted_out"] = frozenset({"sms"})
    if rng.random() < 0.05:
        values["do_not_call"] = True
    return Customer(f"cust{i:06d}", values)


def entries_for(i: int, count: int, rng: random.Random, service_calls: float) -> list[Entry]:
    cid = f"cust{i:06d}"
    out: list[Entry] = []
    for _ in range(count):
        at = NOW + dt.timedelta(minutes=rng.randint(-180 * 24 * 60, 14 * 24 * 60))
        if rng.random() < 0.02:
            out.append(Event(at=at, name="complaint", customer=cid))
            continue
        planned = at > NOW and rng.random() < 0.5
        team, channel = rng.choice(TEAMS), rng.choice(CHANNELS)
        if team == "service" and channel == "phone" and rng.random() > service_calls:
            channel = "email"  # a ledger governed by the policy keeps within "call centre"
        out.append(Contact(
            at=at, channel=channel, purpose=rng.choice(PURPOSES), team=team,
            status="planned" if planned else "sent", customer=cid,
            outcome=None if planned else rng.choice((None, "delivered", "conversation", "no_answer")),
        ))  # fmt: skip
    return out


def build(url: str, events: int, customers: int) -> float:
    """Fill an empty ledger; returns seconds taken."""
    started = time.perf_counter()
    policy = policylang.load(POLICY_PATH)
    per = events // customers
    rng = random.Random(7)
    # keep service calls near the call centre's 200 a week: ~28 weeks of data, 1 in 30
    # contacts would be a service call at random
    service_calls = min(1.0, 150 * 28 * 30 / events)
    with open_ledger(url, create=True) as ledger:
        chunk = 5_000
        for lo in range(0, customers, chunk):
            ids = range(lo, min(lo + chunk, customers))
            ledger.put_customers(policy, [customer(i) for i in ids])
            ledger.append([e for i in ids for e in entries_for(i, per, rng, service_calls)])
    return time.perf_counter() - started


def random_request(rng: random.Random) -> Request:
    at = NOW + dt.timedelta(minutes=rng.randint(0, 7 * 24 * 60))
    return Request(team=rng.choice(TEAMS), channel=rng.choice(CHANNELS), purpose=rng.choice(PURPOSES), at=at)


def worker(url: str, customers: int, seconds: float, seed: int, start: Any, out: Any) -> None:
    policy = policylang.load(POLICY_PATH)
    rng = random.Random(seed)
    ledger = open_ledger(url)
    records = {}
    for _ in range(20):  # warm up connection, caches and prepared statements
        i = rng.randrange(customers)
        ledger.reserve(policy, records.setdefault(i, customer(i)), random_request(rng), explain=False)
    start.wait()
    latencies: list[float] = []
    allowed = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        i = rng.randrange(customers)
        record = records.get(i) or records.setdefault(i, customer(i))
        request = random_request(rng)
        t0 = time.perf_counter()
        res = ledger.reserve(policy, record, request, explain=False)
        latencies.append(time.perf_counter() - t0)
        allowed += res.allowed
    ledger.close()
    out.put((latencies, allowed))


def run_workers(url: str, customers: int, workers: int, seconds: float) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(workers + 1)
    out = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(url, customers, seconds, 1000 + w, start, out)) for w in range(workers)]
    for p in procs:
        p.start()
    start.wait()
    t0 = time.perf_counter()
    results = [out.get() for _ in procs]
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    total = len(latencies)
    return {
        "reserves": total,
        "per_second": total / elapsed,
        "allowed": sum(a for _, a in results) / max(total, 1),
        "p50_ms": 1000 * latencies[total // 2],
        "p99_ms": 1000 * latencies[min(total - 1, int(total * 0.99))],
    }


def read_times(url: str, customers: int, samples: int = 2000) -> tuple[float, float]:
    """p50 and p99 microseconds of reading one customer's entries (what a decision reads)."""
    rng = random.Random(3)
    times = []
    with open_ledger(url) as ledger:
        for _ in range(samples):
            cid = f"cust{rng.randrange(customers):06d}"
            t0 = time.perf_counter()
            ledger.events(cid)
            times.append(time.perf_counter() - t0)
    times.sort()
    return 1e6 * times[len(times) // 2], 1e6 * times[int(len(times) * 0.99)]


def reserve_floor(url: str, customers: int, rounds: int = 2000) -> dict[str, tuple[float, float]]:
    """Wall microseconds (median, mean) of ``Ledger.reserve`` (explain off) and of its floors,
    called in turn in one loop on the same SQLite file (each on a random customer):

    - ``decision``: the decision alone, on an index built from the customer's tuples read
      beforehand: the verdict, and for a denial the search for the next allowed instant
      (reserve runs that after the commit);
    - ``digest txn``: the transaction reserve runs, in plain ``sqlite3`` with no decision: the
      write lock, the store's now with the customer's record and digest in one statement,
      msgspec decoding the digest, one row inserted, the digest written back, commit;
    - ``rows txn``: the transaction before digests (schema version 4): the write lock, the
      customer's record, the SELECT of the customer's rows, one row inserted, commit."""
    import sqlite3

    import msgspec

    from policylang.ledger.core import history_of
    from policylang.ledger.schema import DECISION_COLUMNS, DECISION_SELECT, SCHEMA_VERSION, STATEMENTS

    _, insert, _ = STATEMENTS[SCHEMA_VERSION]
    columns = DECISION_COLUMNS[SCHEMA_VERSION]
    policy = policylang.load(POLICY_PATH)
    rng = random.Random(11)
    ledger = open_ledger(url)
    now_sql = ledger.now_sql  # type: ignore[attr-defined]
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    cur = conn.cursor()
    encode, decode = msgspec.msgpack.Encoder().encode, msgspec.msgpack.Decoder(list[tuple[Any, ...]]).decode
    records: dict[int, Customer] = {}
    times: dict[str, list[float]] = {"Ledger.reserve": [], "decision": [], "digest txn": [], "rows txn": []}

    def new_row(cid: str) -> tuple[Any, ...]:
        at = random_request(rng).at
        return (uuid.uuid4().hex, cid, "contact", int(at.timestamp() * 1e6), "email", "marketing", "growth",
                "planned", None, None, None, 2**60, None, None, 0, 0, '["delivered"]', None, None)

    # every customer's digest written beforehand, as the store keeps it once a customer was touched
    cur.execute("BEGIN IMMEDIATE")
    for k in range(customers):
        cid = f"cust{k:06d}"
        body = encode(cur.execute(DECISION_SELECT[SCHEMA_VERSION], (cid,)).fetchall())
        cur.execute("INSERT OR REPLACE INTO digests (customer, body) VALUES (?, ?)", (cid, body))
    cur.execute("COMMIT")
    allowed = 0
    for _ in range(rounds):
        i = rng.randrange(customers)
        record = records.get(i) or records.setdefault(i, customer(i))
        request = random_request(rng)
        t0 = time.perf_counter()
        ledger.reserve(policy, record, request, explain=False)
        times["Ledger.reserve"].append(time.perf_counter() - t0)

        k = rng.randrange(customers)  # another customer: its record and rows, as reserve reads them
        values = conn.execute(DECISION_SELECT[SCHEMA_VERSION], (f"cust{k:06d}",)).fetchall()
        now_us = int(conn.execute(now_sql).fetchone()[0])
        who = (records.get(k) or records.setdefault(k, customer(k))).values
        t0 = time.perf_counter()
        verdict = policy.decide(who, request, history_of((columns, values), now_us), explain=False, loads=ledger,
                                search=False)  # fmt: skip
        if not verdict.allowed:  # reserve searches a denial's next allowed instant after the commit
            policy.decide(who, request, history_of((columns, values), now_us), explain=False, loads=ledger)
        times["decision"].append(time.perf_counter() - t0)
        allowed += verdict.allowed

        cid = f"cust{rng.randrange(customers):06d}"
        t0 = time.perf_counter()
        cur.execute("BEGIN IMMEDIATE")
        _, _, _, body = cur.execute(now_sql + ", c.record, c.owner, d.body FROM (SELECT 1) AS one LEFT JOIN customers c "
                                    "ON c.id = ? LEFT JOIN digests d ON d.customer = ?", (cid, cid)).fetchone()
        stored = decode(body) if body is not None else cur.execute(DECISION_SELECT[SCHEMA_VERSION], (cid,)).fetchall()
        row = new_row(cid)
        cur.execute(insert, row)
        cur.execute("INSERT OR REPLACE INTO digests (customer, body) VALUES (?, ?)",
                    (cid, encode(sorted([*stored, tuple(row[k] for k in range(len(columns)))], key=lambda v: v[3]))))
        cur.execute("COMMIT")
        times["digest txn"].append(time.perf_counter() - t0)

        cid = f"cust{rng.randrange(customers):06d}"
        t0 = time.perf_counter()
        cur.execute("BEGIN IMMEDIATE")
        cur.execute("SELECT record, owner FROM customers WHERE id = ?", (cid,)).fetchone()
        cur.execute(DECISION_SELECT[SCHEMA_VERSION], (cid,)).fetchall()
        cur.execute(insert, new_row(cid))
        cur.execute("COMMIT")
        times["rows txn"].append(time.perf_counter() - t0)
    ledger.close()
    conn.close()
    print(f"  (the decisions allowed {allowed / rounds:.0%})")
    return {name: (1e6 * statistics.median(found), 1e6 * statistics.fmean(found)) for name, found in times.items()}


def store_urls(kinds: list[str], folder: str, pg_url: str | None) -> dict[str, Any]:
    """A function per store making a fresh ledger URL."""
    makers: dict[str, Any] = {}
    if "sqlite" in kinds:
        makers["sqlite"] = lambda: f"sqlite:///{folder}/{uuid.uuid4().hex[:8]}.sqlite"
    if "postgres" in kinds and pg_url:
        sep = "&" if "?" in pg_url else "?"
        makers["postgres"] = lambda: f"{pg_url}{sep}schema=bench_{uuid.uuid4().hex[:10]}"
    return makers


def postgres_url(given: str | None) -> tuple[str | None, Any]:
    url = given or os.environ.get("POLICYLANG_TEST_PG_URL")
    if url:
        return url, None
    try:
        from tests.pg_server import Server, Unavailable
    except ImportError:
        return None, None
    try:
        server = Server().start()
    except Unavailable as exc:
        print(f"(PostgreSQL skipped: {exc})")
        return None, None
    return server.url, server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="10,000 events across 1,000 customers")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--workers", default="1,4,16")
    parser.add_argument("--seconds", type=float, default=None, help="per run (default 5, or 2 with --small)")
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--floor", action="store_true",
                        help="only SQLite: one reserve against the decision alone and its transaction in plain "
                             "sqlite3, in turn, at 10 and 100 entries a customer")
    parser.add_argument("--rounds", type=int, default=2000, help="reservations of each kind with --floor")
    args = parser.parse_args()
    if args.floor:
        folder = tempfile.mkdtemp(prefix="policylang-bench-")
        url = f"sqlite:///{folder}/floor.sqlite"
        for events, people in ((10_000, 1_000), (100_000, 1_000)):
            url = f"sqlite:///{folder}/floor-{events}.sqlite"
            build(url, events, people)
            found = reserve_floor(url, people, args.rounds)
            print(f"SQLite, one writer, {events:,} events across {people:,} customers ({events // people} each), "
                  f"{args.rounds:,} rounds in turn in one loop, wall us:")
            print(f"  {'':<16} {'median':>8} {'mean':>8} {'per s (mean)':>13}")
            for name, (median, mean) in found.items():
                print(f"  {name:<16} {median:>8,.0f} {mean:>8,.0f} {1e6 / mean:>13,.0f}")
        return
    events, customers = (10_000, 1_000) if args.small else (1_000_000, 100_000)
    read_sizes = [(10_000, 1_000), (100_000, 10_000) if args.small else (1_000_000, 100_000)]
    seconds = args.seconds or (2.0 if args.small else 5.0)
    kinds = args.stores.split(",")
    pg_url, server = postgres_url(args.pg_url) if "postgres" in kinds else (None, None)
    folder = tempfile.mkdtemp(prefix="policylang-bench-")
    try:
        makers = store_urls(kinds, folder, pg_url)
        print(f"ledger of {events:,} events across {customers:,} customers; Northwind policy; "
              f"{seconds:g} s per run; {os.cpu_count()} CPUs\n")  # fmt: skip
        print(f"{'store':<9} {'workers':>7} {'reserves':>9} {'per s':>8} {'allowed':>8} {'p50 ms':>8} {'p99 ms':>8}")
        main_urls = {}
        for name, make in makers.items():
            url = make()
            took = build(url, events, customers)
            main_urls[name] = url
            print(f"{name:<9} (built in {took:.1f} s)")
            for workers in [int(w) for w in args.workers.split(",")]:
                r = run_workers(url, customers, workers, seconds)
                print(f"{name:<9} {workers:>7} {r['reserves']:>9,} {r['per_second']:>8,.0f} {r['allowed']:>8.0%} "
                      f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}")  # fmt: skip
        print(f"\n{'store':<9} {'events':>10} {'customers':>10} {'read p50 us':>12} {'read p99 us':>12}")
        for name, make in makers.items():
            for size, people in read_sizes:
                url = main_urls[name] if (size, people) == (events, customers) else make()
                if url != main_urls[name]:
                    build(url, size, people)
                p50, p99 = read_times(url, people)
                print(f"{name:<9} {size:>10,} {people:>10,} {p50:>12.0f} {p99:>12.0f}")
    finally:
        if server is not None:
            server.stop()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

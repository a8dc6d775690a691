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

Floors, measured in the same run (benchmarks/service_floor.py; no HTTP):

- ``floor: decide_json``: ``Policy.decide_json`` alone in this process, CPU time a decision,
  and the rate it would give with the cores the server had in each inline row;
- ``floor: ledger.reserve``: the ledger's own reserve in this process, CPU a reservation;
- ``floor: bare SQL``: the statements real reservations sent, replayed by asyncpg (one
  connection a caller) - what PostgreSQL gives them here (needs ``pip install -e '.[bench]'``).

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
#
# The client shares the two cores with the server, so it must cost little: one asyncio Protocol
# per connection on uvloop, which sends the next request from data_received (no coroutine, no
# stream buffer), parses only the status line and Content-Length, and keeps one float a request.
# Its CPU time and the server's are measured and printed beside each row.


def request_bytes(method: str, path: str, body: bytes | None) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if body is None:
        return (head + "\r\n").encode()
    return (head + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


class Caller(asyncio.Protocol):
    """One keep-alive connection sending ``requests`` in turn until ``stop_at``."""

    def __init__(self, requests: list[bytes], offset: int, stop_at: float, warm_until: float,
                 latencies: list[float], statuses: dict[int, int], answers: list[bytes] | None,
                 done: asyncio.Future[None]) -> None:
        self.requests, self.i, self.stop_at, self.warm_until = requests, offset, stop_at, warm_until
        self.latencies, self.statuses, self.answers, self.done = latencies, statuses, answers, done
        self.buffer = b""
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        if self.sent_at >= self.stop_at:
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)
            return
        self.transport.write(self.requests[self.i % len(self.requests)])
        self.i += 1

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            self.buffer = buffer
            return
        head = buffer[:end]
        at = head.lower().find(b"content-length:")
        length = int(head[at + 15 : head.index(b"\r\n", at) if b"\r\n" in head[at:] else len(head)]) if at >= 0 else 0
        if len(buffer) < end + 4 + length:
            self.buffer = buffer
            return
        self.buffer = buffer[end + 4 + length :]
        now = time.perf_counter()
        if self.sent_at >= self.warm_until:
            self.latencies.append(now - self.sent_at)
            status = int(head[9:12])
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if self.answers is not None:
                self.answers.append(buffer[end + 4 : end + 4 + length])
        self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of these processes so far (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


def drive(port: int, requests: list[bytes], concurrency: int, seconds: float,
          keep_answers: bool = False, server_pids: list[int] | None = None,
          db_url: str | None = None) -> tuple[dict[str, float], list[bytes]]:
    async def main() -> tuple[list[float], dict[int, int], list[bytes], dict[str, float]]:
        loop = asyncio.get_running_loop()
        latencies: list[float] = []
        statuses: dict[int, int] = defaultdict(int)
        answers: list[bytes] = []
        start = time.perf_counter()
        warm_until = start + min(1.0, seconds / 4)
        stop_at = warm_until + seconds
        dones = []
        for k in range(concurrency):
            done: asyncio.Future[None] = loop.create_future()
            dones.append(done)
            await loop.create_connection(
                functools.partial(Caller, requests, k * 997, stop_at, warm_until, latencies, statuses,
                                  answers if keep_answers else None, done), "127.0.0.1", port)
        await asyncio.sleep(max(0.0, warm_until - time.perf_counter()))
        db = database_pids(db_url) if db_url else []  # after the warm-up: every connection open
        mine, theirs, its = time.process_time(), cpu_seconds(server_pids or []), cpu_seconds(db)
        await asyncio.gather(*dones)
        cpu = {"client_cpu": (time.process_time() - mine) / seconds,
               "server_cpu": (cpu_seconds(server_pids or []) - theirs) / seconds,
               "db_cpu": (cpu_seconds(db) - its) / seconds if db else float("nan")}
        return latencies, statuses, answers, cpu

    runner = asyncio.run
    try:
        import uvloop

        runner = uvloop.run  # type: ignore[assignment]
    except ImportError:
        pass
    latencies, statuses, answers, cpu = runner(main())
    latencies.sort()
    total = len(latencies)
    bad = sum(v for k, v in statuses.items() if k != 200)
    return {
        "per_second": total / seconds,
        "p50_ms": 1000 * latencies[total // 2] if total else float("nan"),
        "p99_ms": 1000 * latencies[min(total - 1, int(total * 0.99))] if total else float("nan"),
        "requests": total,
        "errors": bad,
        **cpu,
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


def database_pids(url: str) -> list[int]:
    """The PostgreSQL server's processes when it runs on this machine (found by its port on the
    postmaster's command line, as the throwaway servers start), else none."""
    from urllib.parse import urlsplit

    port = urlsplit(url).port or 5432
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"postgres") and (b"-p %d" % port in b" ".join(argv)):
                return tree(int(entry.name))
    return []


def tree(root: int) -> list[int]:
    """``root`` and every process below it (a server's supervisor and workers)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children[parent].append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


class Granian:
    """The service's application under granian (ASGI, uvloop), as ``policylang serve`` builds it."""

    def __init__(self, policies: Path, ledger: str, workers: int, pool: int = 4) -> None:
        import subprocess

        from policylang.service.app import ENV, Settings
        from tests.service_server import free_port

        self.port = free_port()
        settings = Settings(policies=str(policies), ledger=ledger, reload_interval=0, pool=pool)
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "granian"), "--interface", "asgi", "--factory", "--loop", "uvloop",
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers), "--no-ws",
             "--log-level", "warning", "policylang.service.app:from_env"],
            env={**os.environ, ENV: settings.to_env()}, cwd=ROOT, start_new_session=True)
        import httpx

        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            raise RuntimeError("granian did not start")
        time.sleep(1.0)  # every worker up

    def pids(self) -> list[int]:
        return tree(self.process.pid)

    def stop(self) -> None:
        import signal

        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool", type=int, default=4, help="ledger connections a worker (serve --pool)")
    parser.add_argument("--runs", default="empty,inline,sqlite,postgres,reserve")
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn",
                        help="uvicorn: `policylang serve` itself; granian: the same application under granian")
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

    print(f"# {os.cpu_count()} cores (shared); server: {args.server} --workers {args.workers}; "
          f"{args.seconds:g} s a run after warm-up; CPU columns: cores busy (1.0 = one core), "
          "us/req: the server's CPU time a request (steadier than the rate on a shared machine); "
          "db, db us: PostgreSQL's (when it runs on this machine)")
    print(f"{'run':<20} {'conc':>4} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'server':>7} {'client':>7} "
          f"{'us/req':>7} {'db':>5} {'db us':>6}")

    def line(name: str, level: int, row: dict[str, float]) -> None:
        print(f"{name:<20} {level:>4} {row['per_second']:>8.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
              f"{row['errors']:>7} {row['server_cpu']:>7.2f} {row['client_cpu']:>7.2f} "
              f"{1e6 * row['server_cpu'] / max(row['per_second'], 1e-9):>7.0f}"
              + ("" if row["db_cpu"] != row["db_cpu"] else
                 f" {row['db_cpu']:>5.2f} {1e6 * row['db_cpu'] / max(row['per_second'], 1e-9):>6.0f}"))

    def table(name: str, served: Any, requests: list[bytes], db_url: str | None = None) -> list[dict[str, float]]:
        out = []
        for level in levels:
            row, _ = drive(served.port, requests, level, args.seconds, server_pids=served.pids(), db_url=db_url)
            line(name, level, row)
            out.append(row)
        return out

    def decide_floor(rows: list[dict[str, float]]) -> None:
        """decide_json alone in this process (the server idle meanwhile), and what it would
        give with the cores the server had in each row above."""
        import service_floor

        cpu = service_floor.decide_json_cpu()
        print(f"{'floor: decide_json':<20} {'':>4} CPU {1e6 * cpu:.0f} us a decision in process; with the server's "
              "cores of each row: " + ", ".join(f"{r['server_cpu'] / cpu:,.0f}/s" for r in rows))

    def reserve_floor(url: str, levels: list[int], seconds: float) -> None:
        """The same statements as real reservations, replayed by asyncpg without HTTP or decision
        (after the cap check: the replayed inserts decide nothing and may break caps)."""
        import service_floor

        try:
            import asyncpg  # noqa: F401
        except ImportError:
            print("(reserve floor skipped: pip install -e '.[bench]')")
            return
        scripts, cpu, granted = service_floor.capture(url, 300)
        print(f"{'floor: ledger.reserve':<20} {'':>4} CPU {1e6 * cpu:.0f} us a reservation in process, one caller "
              f"({sum(map(len, scripts)) / len(scripts):.1f} statements a reservation)")
        for level in levels:
            row = service_floor.replay(url, scripts, level, seconds)
            print(f"{'floor: bare SQL':<20} {level:>4} {row['per_second']:>8.0f} {row['p50_ms']:>8.2f} "
                  f"{row['p99_ms']:>8.2f} {0:>7} {'':>7} {row['client_cpu']:>7.2f} {'':>7} "
                  f"{row['db_cpu']:>5.2f} {1e6 * row['db_cpu'] / max(row['per_second'], 1e-9):>6.0f}")

    def serve(ledger: str) -> Any:
        if args.server == "granian":
            return Granian(policies, ledger, args.workers, args.pool)
        served = Served(policies, "--ledger", ledger, "--workers", str(args.workers), "--reload-interval", "0",
                        "--pool", str(args.pool))
        served.pids = lambda: tree(served.process.pid)  # type: ignore[attr-defined]
        return served

    if {"empty", "inline", "sqlite"} & set(runs):
        served = serve(sqlite_url)
        try:
            if "empty" in runs:
                table("empty (floor)", served, [request_bytes("GET", "/v1/empty", None)])
            if "inline" in runs:
                rows = table("decide inline 100", served, inline_documents())
                decide_floor(rows)
            if "sqlite" in runs:
                table("decide id sqlite", served, by_id_documents("/v1/decide"))
        finally:
            served.stop()
    if pg_url and {"postgres", "reserve"} & set(runs):
        served = serve(pg_url)
        try:
            if "postgres" in runs:
                table("decide id postgres", served, by_id_documents("/v1/decide"), pg_url)
            if "reserve" in runs:
                granted: set[str] = set()
                for level in levels:
                    requests = by_id_documents("/v1/reserve", count=200_000, seed=level, reserve=True)
                    row, answers = drive(served.port, requests, level, args.seconds, keep_answers=True,
                                         server_pids=served.pids(), db_url=pg_url)
                    for body in answers:
                        ident = json.loads(body).get("reservation")
                        if ident:
                            granted.add(ident)
                    line("reserve postgres", level, row)
                print("cap check after the reserve runs:", check_caps(pg_url, granted))
                reserve_floor(pg_url, levels, args.seconds)
        finally:
            served.stop()
    elif {"postgres", "reserve"} & set(runs):
        print("(PostgreSQL runs skipped: no server)")
    if pg_server is not None:
        pg_server.stop()


if __name__ == "__main__":
    main()

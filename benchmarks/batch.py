"""Batch decisions and replay, files in to file out, on this machine.

Run: python benchmarks/batch.py [--sizes 100000,1000000] [--repeat 3] [--spark] [--replay]
     [--format parquet|jsonl] [--folder /tmp/policylang-batch-bench] [--workers N] [--batch-only] [--floor]

Data: benchmarks/batch_data.py (examples/northwind.pol; customers with zones and owners,
10 ledger events and 2 requests each, from six teams), generated once per size and kept
in --folder. Each run is the real command in a fresh process (`policylang batch ... -o
out.parquet`, cold start included) on every core; the table gives the median wall time,
decisions per second, and the peak memory of the whole process tree (the command and its
workers: the sum of their proportional set sizes, sampled every 200 ms from /proc, walking
only the command's own process tree). Then the ratios the targets are about: 1M
against 100k customers, Spark local mode against the local engine (--spark; outputs
compared row for row), a replay of the largest size's ledger (--replay: 10 events per
customer, so 10,000,000 events at 1M customers), and how fast each reader takes in
the 100k ledger (why pyarrow and orjson: see docs/batch.md).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import batch_data  # noqa: E402

POLICY = str(ROOT / "examples" / "northwind.pol")


def tree_rss(pid: int) -> int:
    """Memory of ``pid`` and all its descendants (the sum of their proportional set sizes).

    The tree is walked from ``pid`` down through ``/proc/PID/task/TID/children`` (only the
    processes it started), not by reading every process's ``stat``: walking all of /proc
    every 50 ms cost a visible share of a core on a busy machine.
    """
    family, frontier = {pid}, [pid]
    while frontier:
        current = frontier.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    children = [int(c) for c in handle.read().split()]
            except (OSError, ValueError):
                continue
            for child in children:
                if child not in family:
                    family.add(child)
                    frontier.append(child)
    total = 0
    for member in family:  # proportional set size: pages a forked worker shares are counted once
        try:
            with open(f"/proc/{member}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, IndexError, ValueError):
            continue
    return total


def timed(command: list[str]) -> tuple[float, int, float]:
    """Wall seconds, peak tree memory and CPU seconds (user + system, the command and every
    process it waited for) of a command (which must succeed). On a shared machine the CPU
    time is the steadier figure: wall time grows with the other users' load."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        begun = time.perf_counter()
        while not done.is_set():
            peak = max(peak, tree_rss(process.pid))
            # every 50 ms cost the sampler ~7 % of a core at 1 GB; every 200 ms still took
            # about as much CPU as a worker got in a long run on a loaded machine: after
            # the first minute (memory then moves in steps of seconds), once a second
            done.wait(0.2 if time.perf_counter() - begun < 60 else 1.0)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, err = process.communicate()
    done.set()
    sampler.join()
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{err.decode()[-2000:]}")
    return elapsed, peak, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def data(folder: Path, size: int, fmt: str) -> dict[str, str]:
    target = folder / f"{size}-{fmt}"
    paths = {role: str(target / f"{role}.{fmt}") for role in ("customers", "ledger", "requests")}
    if not all(os.path.exists(p) for p in paths.values()):
        print(f"generating {size:,} customers ({fmt}) ...", file=sys.stderr)
        batch_data.write_all(str(target), size, fmt)
    return paths


def batch(paths: dict[str, str], out: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "policylang.launch", "batch", POLICY, "--customers", paths["customers"],
            "--ledger", paths["ledger"], "--requests", paths["requests"], "-o", out, "--no-progress", *extra]


def readers(paths: dict[str, str]) -> list[tuple[str, float]]:
    """Seconds to take in the ledger file by each reader (parse only, no validation)."""
    import orjson
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    out = []
    ledger = paths["ledger"]
    parquet = ledger.replace(".jsonl", ".parquet")
    if ledger.endswith(".jsonl"):
        start = time.perf_counter()
        with open(ledger, "rb") as handle:
            rows = [orjson.loads(line) for line in handle]
        out.append((f"orjson, line by line ({len(rows):,} rows, Python dicts)", time.perf_counter() - start))
        del rows
        start = time.perf_counter()
        table = pajson.read_json(ledger)
        out.append(("pyarrow.json.read_json (Arrow table)", time.perf_counter() - start))
        pq.write_table(table, parquet)
    start = time.perf_counter()
    pq.read_table(parquet)
    out.append(("pyarrow.parquet.read_table (Arrow table)", time.perf_counter() - start))
    start = time.perf_counter()
    pq.read_table(parquet).to_pylist()
    out.append(("pyarrow.parquet, to Python dicts", time.perf_counter() - start))
    try:
        import duckdb
    except ImportError:
        out.append(("duckdb (not installed)", float("nan")))
    else:
        start = time.perf_counter()
        duckdb.sql(f"select * from read_json_auto('{ledger}')").arrow()
        out.append(("duckdb read_json_auto to Arrow", time.perf_counter() - start))
    return out


def first_customers(paths: dict[str, str], customers: int) -> tuple[Any, dict[str, Any]]:
    """The benchmark's policy and its first ``customers`` customers, read by the library's
    validating reader (the floors' inputs, built before any timing)."""
    import json

    from policylang.compiler import compile_policy
    from policylang.inputs import customer_from_json, where

    policy = compile_policy(Path(POLICY).read_text(), POLICY)
    people = {}
    with open(paths["customers"]) as handle:
        for line in handle:
            row = json.loads(line)
            people[row["id"]] = customer_from_json(policy, row, where("c"))
            if len(people) >= customers:
                break
    return policy, people


def library_loop(paths: dict[str, str], customers: int = 20_000) -> tuple[int, float, float, float, float]:
    """The library loop the issue compares with (records validated beforehand, ``arbitrate``
    per customer): its decisions, CPU seconds on one core, and wall seconds on two forked
    processes (half the customers each). This is the evaluator's own cost on the
    benchmark's data, the floor of any engine that calls it once per decision."""
    import json

    from policylang.arbitration import Cycle, arbitrate
    from policylang.history import History
    from policylang.inputs import entry_from_json, request_from_json, where

    policy, people = first_customers(paths, customers)
    ledgers: dict[str, list[object]] = {c: [] for c in people}
    with open(paths["ledger"]) as handle:
        for line in handle:
            row = json.loads(line)
            if row["customer"] in people:
                ledgers[row["customer"]].append(entry_from_json(policy, row, where("l")))
    asks: dict[str, list[object]] = {c: [] for c in people}
    with open(paths["requests"]) as handle:
        for line in handle:
            row = json.loads(line)
            if row["customer"] in people:
                asks[row["customer"]].append(request_from_json(policy, row, where("r")))
    idents = list(people)

    def loop(part: list[str]) -> int:
        return sum(len(arbitrate(policy, people[i], asks[i], ledgers[i])) for i in part)  # type: ignore[arg-type]

    # the floor proper: the decisions alone, every input made beforehand (each customer's
    # record, requests and a fresh ledger index: History, whose lazy per-selector work is
    # part of the decision, as in the engine, which also builds a fresh index per customer)
    histories = {i: History(ledgers[i]) for i in idents}  # type: ignore[arg-type]
    loop(idents[:500])  # warm: the policy's own caches, first calls
    # the collector would scan every prebuilt object again and again: freeze what exists
    # (the engine does the same, batch.few_collections), so the floor times the decisions
    gc.collect()
    gc.freeze()
    start = time.process_time()
    prebuilt = 0
    for i in idents:
        cycle = Cycle(policy, people[i], asks[i], histories[i])  # type: ignore[arg-type]
        for index in cycle.order:
            cycle.decide(index)
            prebuilt += 1
    decided = time.process_time() - start
    # the same requests again on the same, now warm, indexes (no grants: Policy.decide):
    # what benchmarks/decide.py's "prebuilt" column times, one index used for many decisions
    start = time.process_time()
    for i in idents:
        for request in asks[i]:
            policy.decide(people[i], request, histories[i], explain=False)  # type: ignore[arg-type]
    warm = time.process_time() - start
    del histories
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    start = time.process_time()
    count = loop(idents)
    one = time.process_time() - start
    gc.unfreeze()
    # the same work on two forked processes, a half each: the floor on this machine's two cores
    import multiprocessing

    global _LOOP
    _LOOP = loop
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(_half, [idents[0::2], idents[1::2]])
    assert prebuilt == count
    return count, decided, warm, one, time.perf_counter() - start


def replay_floor(paths: dict[str, str], customers: int = 10_000) -> tuple[int, float]:
    """The replay's floor: each sent contact of the first ``customers`` customers decided
    alone, every input made beforehand (the customer's record, the request, and the ledger
    before the contact as a fresh History); the decisions and their CPU seconds. Capacity
    rules count the customer's own ledger here (no other customer's contacts), so this is
    the evaluator's cost, not the replay's answers."""
    import json

    from policylang.history import History
    from policylang.inputs import entry_from_json, where
    from policylang.records import Contact, Request

    policy, people = first_customers(paths, customers)
    ledgers: dict[str, list[tuple[int, Any]]] = {c: [] for c in people}
    with open(paths["ledger"]) as handle:
        for number, line in enumerate(handle, start=1):
            row = json.loads(line)
            if row["customer"] in people:
                ledgers[row["customer"]].append((number, entry_from_json(policy, row, where("l"))))
    work = []
    for ident, entries in ledgers.items():
        for number, entry in entries:
            if isinstance(entry, Contact) and entry.status == "sent":
                before = [e for n, e in entries if (e.at, n) < (entry.at, number)]
                work.append((people[ident], Request(entry.team, entry.channel, entry.purpose, entry.at, entry.campaign),
                             History(before)))
    decide = policy.decide
    for customer, request, history in work[:500]:  # warm: the policy's own caches
        decide(customer, request, History(list(history.counted)), explain=False)
    gc.collect()
    gc.freeze()
    start = time.process_time()
    for customer, request, history in work:
        decide(customer, request, history, explain=False)
    took = time.process_time() - start
    gc.unfreeze()
    return len(work), took


_LOOP: Any = None


def _half(part: list[str]) -> int:
    return int(_LOOP(part))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--format", choices=("parquet", "jsonl"), default="jsonl")
    parser.add_argument("--spark", action="store_true")
    parser.add_argument("--replay", action="store_true")
    parser.add_argument("--folder", default="/tmp/policylang-batch-bench")
    parser.add_argument("--workers", type=int, help="local engine: worker processes (default: every core)")
    parser.add_argument("--batch-only", action="store_true",
                        help="skip the library loop and the readers (they hold the ledger as Python objects)")
    parser.add_argument("--floor", action="store_true", help="with --batch-only: still time the library loop")
    args = parser.parse_args()
    workers = ("--workers", str(args.workers)) if args.workers else ()
    folder = Path(args.folder)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows: list[tuple[str, str, str, str]] = []
    medians: dict[str, float] = {}
    for size in sizes:
        paths = data(folder, size, args.format)
        repeat = args.repeat if size <= 100_000 else 1
        runs = [timed(batch(paths, str(folder / f"out-{size}.parquet"), *workers)) for _ in range(repeat)]
        wall = statistics.median(t for t, _, _ in runs)
        cpu = statistics.median(c for _, _, c in runs)
        medians[f"local {size}"] = wall
        medians[f"cpu {size}"] = cpu
        print(f"[{time.strftime('%H:%M:%S')}] local {size:,}: wall {wall:,.1f} s, CPU {cpu:,.1f} s, "
              f"peak {max(m for _, m, _ in runs) / 2**30:.2f} GB", file=sys.stderr, flush=True)
        rows.append((f"batch, local engine, {size:,} customers ({2 * size:,} requests; median of {repeat}"
                     + (f"; {args.workers} workers)" if args.workers else ")"),
                     f"{wall:,.1f} s", f"{2 * size / wall:,.0f}/s", f"{max(m for _, m, _ in runs) / 2**30:.2f} GB"))
        rows.append(("  CPU time (user + system, all processes), decisions per CPU second",
                     f"{cpu:,.1f} s", f"{2 * size / cpu:,.0f}/s", ""))
        if args.spark:
            wall_s, peak_s, _ = timed(batch(paths, str(folder / f"out-{size}-spark.parquet"), "--engine", "spark",
                                         "--spark-master", "local[2]"))
            import pyarrow.parquet as pq

            same = pq.read_table(folder / f"out-{size}.parquet").equals(pq.read_table(folder / f"out-{size}-spark.parquet"))
            rows.append((f"batch, Spark local[2], {size:,} customers (identical output: {same})", f"{wall_s:,.1f} s",
                         f"{2 * size / wall_s:,.0f}/s", f"{peak_s / 2**30:.2f} GB (driver side)"))
            rows.append((f"  Spark / local at {size:,}", f"{wall_s / wall:.2f}x", "", ""))
    if len(sizes) > 1:
        a, b = sizes[0], sizes[-1]
        rows.append((f"time at {b:,} / time at {a:,} customers", f"{medians[f'local {b}'] / medians[f'local {a}']:.2f}x",
                     f"(size ratio {b / a:.0f}x)", ""))
    if args.replay:  # every size, so that the growth is seen, not assumed
        replays, replay_cpu = [], []
        for size in sizes:
            paths = data(folder, size, args.format)
            wall, peak, cpu = timed([sys.executable, "-m", "policylang.launch", "replay", POLICY, "--ledger",
                                     paths["ledger"], "--customers", paths["customers"], "-o",
                                     str(folder / f"replay-{size}.parquet"), "--no-progress", *workers])
            replays.append(wall)
            import pyarrow.parquet as pq

            replayed = pq.read_metadata(folder / f"replay-{size}.parquet").num_rows
            replay_cpu.append((size, cpu / replayed))
            rows.append((f"replay, {10 * size:,}-event ledger ({replayed:,} sent contacts replayed)", f"{wall:,.1f} s", f"{10 * size / wall:,.0f} events/s",
                         f"{peak / 2**30:.2f} GB"))
            rows.append(("  CPU time, events per CPU second", f"{cpu:,.1f} s", f"{10 * size / cpu:,.0f}/s", ""))
        if len(sizes) > 1:
            rows.append((f"  replay time at {sizes[-1]:,} / at {sizes[0]:,}", f"{replays[-1] / replays[0]:.2f}x",
                         f"(size ratio {sizes[-1] / sizes[0]:.0f}x)", ""))
        if 10 * sizes[-1] < 10_000_000:  # the target's size, when not run: the largest run's time grown linearly
            rows.append((f"  replay of 10,000,000 events, projected from {10 * sizes[-1]:,} (linear; target 180 s)",
                         f"{replays[-1] * 10_000_000 / (10 * sizes[-1]):,.0f} s", "", ""))
        count, took = replay_floor(data(folder, sizes[0], args.format))
        rows.append((f"  replay floor: each sent contact decided alone on prebuilt inputs, one core ({count:,})",
                     f"{took:,.1f} s", f"{count / took:,.0f}/s", f"(CPU; {took / count * 1e6:,.0f} us)"))
        for size, each in replay_cpu:
            rows.append((f"  replay CPU per replayed contact at {size:,} / the floor's", f"{each / (took / count):.2f}x",
                         f"{each * 1e6:,.0f} us", ""))
    if not args.batch_only or args.floor:
        count, decided, warm, seconds, two = library_loop(data(folder, sizes[0], args.format))
        rows.append(("floor: the decisions alone on prebuilt inputs (record, requests, fresh History), one core",
                     f"{decided:,.1f} s", f"{count / decided:,.0f}/s", f"(CPU; {decided / count * 1e6:,.0f} us)"))
        rows.append(("  the same requests again on the same, now warm, indexes (Policy.decide)",
                     f"{warm:,.1f} s", f"{count / warm:,.0f}/s", f"(CPU; {warm / count * 1e6:,.0f} us)"))
        rows.append((f"library loop: arbitrate per customer, records prebuilt, one core ({count:,} decisions)",
                     f"{seconds:,.1f} s", f"{count / seconds:,.0f}/s", "(CPU time)"))
        rows.append(("  the same on two forked processes (the evaluator's floor on two cores)",
                     f"{two:,.1f} s", f"{count / two:,.0f}/s", "(wall time)"))
        for size in sizes:  # what the engine adds: its CPU per decision over the floor's
            engine = medians[f"cpu {size}"] / (2 * size)
            rows.append((f"  engine CPU per decision at {size:,} / the floor's", f"{engine / (decided / count):.2f}x",
                         f"{engine * 1e6:,.0f} us", f"(floor {decided / count * 1e6:,.0f} us)"))
    width = max(len(r[0]) for r in rows)
    print(f"{'run':<{width}} | {'wall':>9} | {'rate':>16} | peak memory")
    print("-" * (width + 50))
    for name, wall_text, rate, memory in rows:
        print(f"{name:<{width}} | {wall_text:>9} | {rate:>16} | {memory}")
    if args.batch_only:
        return
    print()
    print("reading the ledger of", f"{sizes[0]:,}", "customers:")
    for name, seconds in readers(data(folder, sizes[0], "jsonl")):
        print(f"  {name:<60} {seconds:8.2f} s")


if __name__ == "__main__":
    main()

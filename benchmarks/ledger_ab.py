"""``Ledger.reserve`` on SQLite, this tree against others, side by side in one process (issue 11).

Run: python benchmarks/ledger_ab.py --against /tmp/base [--against DIR ...] [--per 10,100] [--rounds 40] [--block 50]

One ledger is built per size (benchmarks/ledger.py's data: 1,000 customers with ``--per``
entries each, every customer's digest written) and copied once per tree, so every tree starts
from the same file. Each tree's ``policylang`` is imported under its own module table
(benchmarks/trees.py); the trees take turns block by block (``--block`` reservations each,
the order alternating), every tree reserving the same random Northwind requests for the same
random customers in the same order, one writer, explain off, as benchmarks/ledger.py's
workers do. The verdicts of the trees are compared (they must agree: the same requests on
the same ledgers). The table gives wall microseconds a reservation (median and mean: a
reservation's I/O is part of it) and CPU, and each other tree's ratio to this one.
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import ledger as bench  # noqa: E402  (this tree's data; imports this tree's policylang once)
from trees import Tree  # noqa: E402

MODULES = [f"policylang.{name}" for name in ("arbitration", "compiler", "inputs", "history", "records", "evaluator",
                                              "ingest", "decision", "ledger", "ledger.core", "ledger.sqlite",
                                              "ledger.digest", "ledger.rows", "ledger.sql", "ledger.opening")]  # fmt: skip
CUSTOMERS = 1_000


def template(folder: str, per: int) -> str:
    """A built ledger file (every customer's digest written, the WAL checkpointed)."""
    path = f"{folder}/template-{per}.sqlite"
    bench.build(f"sqlite:///{path}", CUSTOMERS * per, CUSTOMERS)
    from policylang.ledger import open_ledger

    with open_ledger(f"sqlite:///{path}") as ledger, ledger._transaction(write=True) as txn:  # noqa: SLF001
        for k in range(CUSTOMERS):  # as the store keeps them once a customer was written to
            txn.opening(f"cust{k:06d}", None, True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def work(count: int, seed: int) -> list[tuple[Any, tuple[Any, ...]]]:
    """``count`` (customer, request fields) pairs, made with this tree's generator."""
    rng = random.Random(seed)
    records: dict[int, Any] = {}
    out = []
    for _ in range(count):
        i = rng.randrange(CUSTOMERS)
        record = records.get(i) or records.setdefault(i, bench.customer(i))
        request = bench.random_request(rng)
        out.append((record, (request.team, request.channel, request.purpose, request.at)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", action="append", default=[], help="another checkout (a folder holding policylang/)")
    parser.add_argument("--per", default="10,100", help="entries a customer, one ledger each")
    parser.add_argument("--rounds", type=int, default=40, help="blocks per tree")
    parser.add_argument("--block", type=int, default=50, help="reservations a tree makes in a row")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="policylang-ledger-ab-")
    try:
        sizes = [int(p) for p in args.per.split(",")]
        templates = {per: template(folder, per) for per in sizes}
        warm = 200
        jobs = work(warm + args.rounds * args.block, 17)
        plain = [(record.id, dict(record.values), fields) for record, fields in jobs]
        for name in [n for n in sys.modules if n == "policylang" or n.startswith("policylang.")]:
            del sys.modules[name]  # each tree below imports its own
        trees = [Tree("this", ROOT, MODULES)] + [Tree(Path(f).name or f, Path(f).resolve(), MODULES)
                                                  for f in args.against]  # fmt: skip
        print(f"SQLite Ledger.reserve, one writer, {CUSTOMERS:,} customers, {args.rounds} blocks of {args.block} "
              "a tree; wall us a reservation (median / mean), CPU us (median / mean); ratio to this tree")
        for per in sizes:
            ledgers, asked, policies = [], [], []
            for tree in trees:
                with tree.active():
                    path = f"{folder}/{tree.label}-{per}.sqlite"
                    shutil.copy(templates[per], path)
                    ledgers.append(tree.mod("ledger").open_ledger(f"sqlite:///{path}"))
                    policies.append(tree.mod("compiler").compile_policy(bench.POLICY_PATH.read_text(), "northwind.pol"))
                    records = tree.mod("records")
                    people: dict[str, Any] = {}
                    asked.append([(people.get(cid) or people.setdefault(cid, records.Customer(cid, values)),
                                   records.Request(*fields)) for cid, values, fields in plain])  # fmt: skip
            walls: list[list[float]] = [[] for _ in trees]
            cpus: list[list[float]] = [[] for _ in trees]
            verdicts: list[list[bool]] = [[] for _ in trees]
            for k, tree in enumerate(trees):  # warm up: connection, caches, prepared statements
                with tree.active():
                    for record, request in asked[k][:warm]:
                        verdicts[k].append(ledgers[k].reserve(policies[k], record, request, explain=False).allowed)
            gc.collect()
            for round_ in range(args.rounds):
                order = range(len(trees)) if round_ % 2 == 0 else reversed(range(len(trees)))
                lo = warm + round_ * args.block
                for k in order:
                    ledger, policy, wall, cpu, said = ledgers[k], policies[k], walls[k], cpus[k], verdicts[k]
                    with trees[k].active():
                        for record, request in asked[k][lo : lo + args.block]:
                            c0, t0 = time.process_time(), time.perf_counter()
                            done = ledger.reserve(policy, record, request, explain=False)
                            wall.append(time.perf_counter() - t0)
                            cpu.append(time.process_time() - c0)
                            said.append(done.allowed)
            for k, tree in enumerate(trees):
                with tree.active():
                    ledgers[k].close()
                if verdicts[k] != verdicts[0]:
                    first = next(i for i, (a, b) in enumerate(zip(verdicts[0], verdicts[k], strict=True)) if a != b)
                    print(f"  ! {tree.label} and this tree disagree on reservation {first} ({per} entries a customer)")
            means = [statistics.fmean(w) for w in walls]
            medians = [statistics.median(w) for w in walls]
            cpu_medians = [statistics.median(c) for c in cpus]
            print(f"{per} entries a customer ({sum(verdicts[0]) / len(verdicts[0]):.0%} allowed):")
            for k, tree in enumerate(trees):
                # the means' ratio, then the medians' (wall and CPU: the means carry the tails)
                ratio = (f"  {means[k] / means[0]:.2f}x (medians {medians[k] / medians[0]:.2f}x wall, "
                         f"{cpu_medians[k] / cpu_medians[0]:.2f}x cpu)") if k else ""
                ordered = sorted(walls[k])
                tail = "  p90 {:7.0f}  p99 {:7.0f}".format(*(1e6 * ordered[int(len(ordered) * q)] for q in (0.9, 0.99)))
                print(f"  {tree.label[:16]:<16} {1e6 * statistics.median(walls[k]):8.1f} / {1e6 * means[k]:8.1f} wall"
                      f"  {1e6 * statistics.median(cpus[k]):7.1f} / {1e6 * statistics.fmean(cpus[k]):7.1f} cpu"
                      f"  {1 / means[k]:7,.0f}/s{tail}{ratio}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

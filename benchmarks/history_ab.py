"""A fresh index's first use, this tree against others, side by side in one process (issues 11, 12).

Run: python benchmarks/history_ab.py --against /work/main [--against DIR ...] [--rounds 21] [--only NAME]

Each tree's ``policylang`` is imported under its own module table (benchmarks/trees.py) and
the trees take turns workload by workload, round by round, the order alternating, so a change
of the machine's load hits them alike. Every tree reads the same inputs, made with its own
classes. The table gives the median CPU microseconds per call (per decision where a decision
is made), each other tree's ratio to this one, and in brackets the ratio of the fastest rounds.

* ``History() 10``: building ``History`` from a customer's records (benchmarks/batch_data.py's
  customers: 10 ledger entries each), nothing asked;
* ``fresh decide 10``: that history built and then every request of the customer decided on it
  (about 2: the batch floor's loop, the index's first use included);
* ``warm decide 10``: the same requests on indexes already asked once;
* ``records 100 northwind`` / ``records 100 six``: an unsorted list of 100 records handed to
  ``decide`` (examples/northwind.pol; benchmarks/northwind6.pol, issue 11's six rules);
* ``store read 100``: a SQLite ledger's ``history`` with ``read_cache=0`` (the store's now and
  the digest in one statement, decoded, the index built anew), northwind's 100 entries;
* ``digest history 100``: decoding the stored digest and building the index (no SQL);
* ``digest+decide 100``: that and one decision on the fresh index;
* ``store+decide 100``: the store's read and one decision (issue 11's target: 100 us).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import batch_data  # noqa: E402
import decide as bench  # noqa: E402  (this tree's generator; imports this tree's policylang once)
from trees import Tree  # noqa: E402

MODULES = [f"policylang.{name}" for name in ("arbitration", "compiler", "inputs", "history", "records", "evaluator",
                                              "ingest", "ledger", "ledger.core", "ledger.sqlite", "ledger.digest",
                                              "ledger.rows", "ledger.sql")]  # fmt: skip
FIELDS = ("at", "channel", "purpose", "team", "status", "outcome")


def workloads(tree: Tree, folder: str, ledgers: dict[str, list[Any]], asked: dict[str, list[Any]]) -> dict[
        str, Callable[[], int]]:  # fmt: skip
    """name -> work() returning how many calls (or decisions) it made."""
    out: dict[str, Callable[[], int]] = {}
    with tree.active():
        inputs, records, ingest = tree.mod("inputs"), tree.mod("records"), tree.mod("ingest")
        History = tree.mod("history").History
        compile_policy = tree.mod("compiler").compile_policy
        northwind = compile_policy((ROOT / "examples" / "northwind.pol").read_text(), "northwind.pol")
        six = compile_policy((ROOT / "benchmarks" / "northwind6.pol").read_text(), "northwind6.pol")

        people_rows, ledger_rows, ask_rows = batch_data.generate(300)
        people = {r["id"]: inputs.customer_from_json(northwind, r, inputs.where("c")) for r in people_rows}
        entries: dict[str, list[Any]] = {c: [] for c in people}
        requests: dict[str, list[Any]] = {c: [] for c in people}
        for r in ledger_rows:
            entries[r["customer"]].append(inputs.entry_from_json(northwind, r, inputs.where("l")))
        for r in ask_rows:
            requests[r["customer"]].append(inputs.request_from_json(northwind, r, inputs.where("r")))
        ids = list(people)
        count = sum(len(requests[c]) for c in ids)

        def built() -> int:
            for c in ids:
                History(entries[c])
            return len(ids)

        def fresh() -> int:
            for c in ids:
                history = History(entries[c])
                for request in requests[c]:
                    northwind.decide(people[c], request, history, explain=False)
            return count

        warmed = {c: History(entries[c]) for c in ids}
        for c in ids:
            for request in requests[c]:
                northwind.decide(people[c], request, warmed[c], explain=False)

        def warm() -> int:
            for c in ids:
                for request in requests[c]:
                    northwind.decide(people[c], request, warmed[c], explain=False)
            return count

        out["History() 10"], out["fresh decide 10"], out["warm decide 10"] = built, fresh, warm

        customer = ingest.customer_of(northwind, {k: v for k, v in bench.CUSTOMER.items() if k != "id"})

        def made(entry: Any, **more: Any) -> Any:  # the same entry with this tree's classes
            if type(entry).__name__ == "Event":
                return records.Event(entry.at, entry.name, **more)
            return records.Contact(**{name: getattr(entry, name) for name in FIELDS}, **more)

        for name, policy in (("northwind", northwind), ("six", six)):
            ledger = [made(e) for e in ledgers[name]]
            wanted = [records.Request(r.team, r.channel, r.purpose, r.at) for r in asked[name]]

            def listed(ledger: list[Any] = ledger, wanted: list[Any] = wanted, policy: Any = policy) -> int:
                for request in wanted:
                    policy.decide(customer, request, ledger, explain=False)
                return len(wanted)

            out[f"records 100 {name}"] = listed

        store = tree.mod("ledger").open_ledger(f"sqlite:///{folder}/{tree.label}.sqlite", create=True, read_cache=0)
        store.append([made(e, customer="c1") for e in ledgers["northwind"]])
        wanted = [records.Request(r.team, r.channel, r.purpose, r.at) for r in asked["northwind"]]
        digest = tree.mod("ledger.digest")
        now, body = store._now_and_digest("c1")  # noqa: SLF001 - the digest as the read finds it

        def read() -> int:
            for _ in wanted:
                store.history("c1")
            return len(wanted)

        def decoded() -> int:
            for _ in wanted:
                digest.decode(body, "c1").history(now)
            return len(wanted)

        def decoded_decide() -> int:
            for request in wanted:
                northwind.decide(customer, request, digest.decode(body, "c1").history(now), explain=False)
            return len(wanted)

        def read_decide() -> int:
            for request in wanted:
                northwind.decide(customer, request, store.history("c1"), explain=False)
            return len(wanted)

        out["store read 100"], out["digest history 100"] = read, decoded
        out["digest+decide 100"], out["store+decide 100"] = decoded_decide, read_decide
        for work in out.values():  # each path once before the clock
            work()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", action="append", default=[], help="another checkout (a folder holding policylang/)")
    parser.add_argument("--rounds", type=int, default=21, help="rounds per workload (each tree once a round)")
    parser.add_argument("--only", help="only the workloads whose name starts with this")
    args = parser.parse_args()
    ledgers: dict[str, list[Any]] = {}
    asked: dict[str, list[Any]] = {}
    for name, path in (("northwind", ROOT / "examples" / "northwind.pol"), ("six", ROOT / "benchmarks" / "northwind6.pol")):
        ledgers[name], asked[name], _ = bench.documents(bench.policylang.load(path), 100, 20)
    for name in [n for n in sys.modules if n == "policylang" or n.startswith("policylang.")]:
        del sys.modules[name]  # each tree below imports its own
    trees = [Tree("this", ROOT, MODULES)] + [Tree(Path(f).name or f, Path(f).resolve(), MODULES) for f in args.against]
    with tempfile.TemporaryDirectory() as folder:
        works = [workloads(tree, folder, ledgers, asked) for tree in trees]
        gc.collect()
        gc.freeze()  # the inputs are not what a deciding program's collector walks
        print("median CPU us per call (per decision where one is made); ratio to this tree (fastest rounds' ratio)")
        print(f"{'workload':>20}" + "".join(f"{t.label[:12]:>13}" for t in trees)
              + "".join(f"{t.label[:10] + '/this':>22}" for t in trees[1:]))
        for name in works[0]:
            if args.only and not name.startswith(args.only):
                continue
            times: list[list[float]] = [[] for _ in trees]
            for round_ in range(args.rounds):
                order = range(len(trees)) if round_ % 2 == 0 else reversed(range(len(trees)))
                for k in order:
                    with trees[k].active():
                        start = time.process_time_ns()
                        made = works[k][name]()
                        times[k].append((time.process_time_ns() - start) / 1000 / made)
            medians = [statistics.median(t) for t in times]
            fastest = [min(t) for t in times]
            print(f"{name:>20}" + "".join(f"{m:13.1f}" for m in medians)
                  + "".join(f"{m / medians[0]:14.2f}x ({f / fastest[0]:.2f}x)"
                            for m, f in zip(medians[1:], fastest[1:], strict=True)))


if __name__ == "__main__":
    main()

"""Ingestion's real paths, this tree against another, side by side in one process (issue 11).

Run: python benchmarks/ingest_ab.py --against /work/main [--sizes 10,100,1000] [--budget 0.3] [--store] [--among]

Each tree's ``policylang`` is imported under its own module table (every module the
workloads use loaded up front, so a function's own late import finds its tree too) and the two
trees take turns round by round, the order alternating, so a change of the machine's load
hits them alike. The texts and rows are made once (benchmarks/decide.py's generator); each
tree validates them with its own classes. Median CPU microseconds per call and the ratio of
this tree to the other:

* ``json N``: ``Policy.decide_json`` of the section 10 document with N ledger events
  (benchmarks/northwind6.pol, explain off: the six rules issue 11's figures are read on);
* ``records N``: an unsorted list of N records handed to ``decide``;
* ``prebuilt N``: one ``History`` built beforehand;
* ``fresh N``: the decision on a history built each time from decide_json's own columns
  (the index and the decision on it, no parsing);
* with ``--store``, ``store read 100`` and ``store+decide 100`` on examples/northwind.pol: a
  SQLite ledger's ``history`` (read_cache=0: the index built anew each time) and the decision.

With ``--among``, each call follows other work (untimed ``json.loads`` and regorus on the same
size's text), as in benchmarks/decide.py's loop: measured so, a change can rank otherwise than
in a loop of the workload alone (numpy's instant reader won at 100 events alone, lost among).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import decide as bench  # noqa: E402  (this tree's generator; imports this tree's policylang once)
from trees import Tree  # noqa: E402


def workloads(tree: Tree, sizes: list[int], store: bool, folder: str) -> dict[str, Callable[[int], Any]]:
    out: dict[str, Callable[[int], Any]] = {}
    with tree.active():
        compile_policy = tree.mod("compiler").compile_policy
        ingest, inputs, history = tree.mod("ingest"), tree.mod("inputs"), tree.mod("history")
        six = compile_policy((ROOT / "benchmarks" / "northwind6.pol").read_text(), "northwind6.pol")
        customer = ingest.customer_of(six, {k: v for k, v in bench.CUSTOMER.items() if k != "id"})
        for size in sizes:
            texts, docs = TEXTS[size]
            requests = [ingest.request_of(six, d["request"]) for d in docs]
            entries = [inputs.entry_from_json(six, o, inputs.where("x")) for o in docs[0]["ledger"]]
            built = history.History(entries)
            typed = ingest.schema(six)
            columns = [ingest.line_columns(typed.document.decode(t).ledger, True, False)[0] for t in texts]
            n = len(texts)

            def fresh(i: int, cols: list[Any] = columns, reqs: list[Any] = requests, n: int = n) -> Any:
                found, micros, events, _ = cols[i % n]
                return six.decide(customer, reqs[i % n], ingest.built(dict(found), micros, events), explain=False)

            out[f"json {size}"] = lambda i, t=texts, n=n: six.decide_json(t[i % n], explain=False)
            out[f"records {size}"] = lambda i, r=requests, e=entries, n=n: six.decide(customer, r[i % n], e,
                                                                                    explain=False)
            out[f"prebuilt {size}"] = lambda i, r=requests, h=built, n=n: six.decide(customer, r[i % n], h,
                                                                                    explain=False)
            out[f"fresh {size}"] = fresh
            for i in range(3):  # every path gives the same decision
                assert out[f"json {size}"](i) == out[f"records {size}"](i) == fresh(i)
        if store:
            import attrs

            northwind = compile_policy((ROOT / "examples" / "northwind.pol").read_text(), "northwind.pol")
            customer = ingest.customer_of(northwind, {k: v for k, v in bench.CUSTOMER.items() if k != "id"})
            texts, docs = STORE_TEXTS
            requests = [ingest.request_of(northwind, d["request"]) for d in docs]
            entries = [inputs.entry_from_json(northwind, o, inputs.where("x")) for o in docs[0]["ledger"]]
            ledger = tree.mod("ledger").open_ledger(f"sqlite:///{folder}/{tree.label}.sqlite", create=True,
                                                    read_cache=0)
            ledger.append([attrs.evolve(e, customer="c1") for e in entries])
            n = len(requests)
            out["store read 100"] = lambda i: ledger.history("c1")
            out["store+decide 100"] = lambda i: northwind.decide(customer, requests[i % n], ledger.history("c1"),
                                                                 explain=False)
    return out


NEEDED: list[str] = []
TEXTS: dict[int, tuple[list[str], list[Any]]] = {}


def warm(sizes: list[int], store: bool) -> None:
    """Run every workload once with this tree's policylang as first imported."""
    with tempfile.TemporaryDirectory() as folder:
        for name in ("compiler", "ingest", "inputs", "history", "ledger"):  # what workloads() asks for by name
            importlib.import_module(f"policylang.{name}")
        tree = Tree.__new__(Tree)
        tree.label = "warm"
        tree.modules = {n: m for n, m in sys.modules.items() if n == "policylang" or n.startswith("policylang.")}
        for work in workloads(tree, sizes, store, folder).values():
            work(0)
STORE_TEXTS: tuple[list[str], list[Any]] = ([], [])


def among(sizes: list[int]) -> Callable[[int, int], None]:
    """Other work on the same size's text (json.loads, and regorus when installed)."""
    try:
        import opa_eval
    except ImportError:
        engine = None
    else:
        engine = opa_eval.OpaEval(str(ROOT / "benchmarks" / "northwind6.rego"), query="data.northwind.deny")

    def run(size: int, i: int) -> None:
        texts = TEXTS[size][0] if size in TEXTS else STORE_TEXTS[0]
        text = texts[i % len(texts)]
        json.loads(text)
        if engine is not None:
            engine.evaluate(text)

    return run


def main() -> None:
    global STORE_TEXTS
    parser = argparse.ArgumentParser()
    parser.add_argument("--against", required=True, help="the other checkout (a folder holding policylang/)")
    parser.add_argument("--sizes", default="10,100,1000", help="ledger events, comma-separated")
    parser.add_argument("--budget", type=float, default=0.3, help="CPU seconds a tree and workload")
    parser.add_argument("--store", action="store_true", help="also the SQLite store's read at 100 (northwind)")
    parser.add_argument("--among", action="store_true",
                        help="before each call, untimed, json.loads and regorus (when installed) on the same "
                             "size's text, as in benchmarks/decide.py's loop: each call then finds the caches "
                             "as a call among other work does")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    six = bench.policylang.load(ROOT / "benchmarks" / "northwind6.pol")
    for size in sizes:
        _, _, texts = bench.documents(six, size, 50)
        TEXTS[size] = (texts, [json.loads(t) for t in texts])
    if args.store:
        _, _, texts = bench.documents(bench.policylang.load(ROOT / "examples" / "northwind.pol"), 100, 50)
        STORE_TEXTS = (texts, [json.loads(t) for t in texts])
    warm(sizes, args.store)  # the modules the workloads import, late ones too: each tree loads those
    NEEDED.extend(name for name in sys.modules if name == "policylang" or name.startswith("policylang."))
    for name in NEEDED:  # each tree below imports its own
        del sys.modules[name]
    trees = [Tree("this", ROOT, NEEDED), Tree("other", Path(args.against).resolve(), NEEDED)]
    with tempfile.TemporaryDirectory() as folder:
        work = [workloads(tree, sizes, args.store, folder) for tree in trees]
        # two trees' every module (pandas, pyspark among them) would make each full collection
        # of the cyclic collector walk far more objects than a program deciding has: set aside
        gc.collect()
        gc.freeze()
        clock = time.process_time_ns
        print(f"this tree ({ROOT}) against {args.against}: median CPU us per call, trees in turn")
        print(f"{'workload':>17} {'this':>10} {'other':>10} {'this/other':>11}")
        between = among(sizes) if args.among else None
        for name in work[0]:
            times: list[list[float]] = [[], []]
            spent, rounds = 0, 0
            size = int(name.rsplit(" ", 1)[-1])
            while rounds < 5 or (spent < args.budget * 2e9 and rounds < 5000):
                for k in ((0, 1) if rounds % 2 else (1, 0)):
                    if between is not None:
                        between(size, rounds)
                    with trees[k].active():
                        start = clock()
                        work[k][name](rounds)
                        took = clock() - start
                    times[k].append(took / 1000)
                    spent += took
                rounds += 1
            ours, theirs = statistics.median(times[0]), statistics.median(times[1])
            print(f"{name:>17} {ours:10.1f} {theirs:10.1f} {ours / theirs:11.2f}")


if __name__ == "__main__":
    main()

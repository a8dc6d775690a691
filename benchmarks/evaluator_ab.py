"""The evaluator's cost per decision, this tree against another, side by side in one process.

Run: python benchmarks/evaluator_ab.py [--against DIR ...] [--quick] [--only NAME]

Each tree's ``policylang`` package is imported under its own name table: before a tree's
work runs its modules are put in ``sys.modules`` (lazy imports inside functions find their
own tree), and every tree's inputs are made from the same plain rows with that tree's
classes. Trees take turns round by round, so a change of the machine's load hits them alike;
the table gives median CPU microseconds per decision and each tree's ratio to this one.

Workloads (examples/northwind.pol unless named, explain off):

* ``floor``: batch.py ``--floor``'s loop: ``Cycle.decide`` on a fresh ``History`` per
  customer made before the clock starts (only the decisions timed); ``floor warm``: the same
  requests by ``Policy.decide`` on indexes already asked once; ``floor columns``: the floor on
  indexes built from columns (``History.from_columns``, as the batch engine and the store build them);
* ``library loop``: ``arbitrate`` per customer on benchmarks/batch_data.py's rows (10 ledger
  events and 2 requests a customer, records prebuilt), as batch.py's ``--floor`` does;
* ``prebuilt N``: one ``History`` of N entries built once (benchmarks/decide.py's ledger),
  many requests (issue 11: 12.7 us at 100, 21 us at 10,000 when it was filed);
* ``six-rule N``: the same on benchmarks/northwind6.pol, the policy issue 11's prebuilt
  targets were set on, at 10, 100, 1,000 and 10,000 entries;
* ``records N`` (``records six N``: on northwind6.pol): an unsorted list of N records handed to ``decide`` each time (issue 11:
  at most 25 us at 100, 150 us at 1,000).

``--against /tmp/old`` (say) compares with an older checkout (a folder holding ``policylang/``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import batch_data  # noqa: E402
from trees import Tree  # noqa: E402

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
POLICY = ROOT / "examples" / "northwind.pol"
MODULES = [f"policylang.{part}" for part in ("arbitration", "compiler", "inputs", "history", "records", "evaluator")]
SIX = ROOT / "benchmarks" / "northwind6.pol"  # issue 11's reference policy (benchmarks/decide.py's six-rule table)


def ledger_rows(size: int, rng: random.Random, policy: Any) -> list[tuple[Any, ...]]:
    """benchmarks/decide.py's ledger as plain tuples: ("event", at, name) or ("contact", ...)."""
    rows: list[tuple[Any, ...]] = []
    span = 365 * 24 * 3600
    for _ in range(size):
        at = NOW - dt.timedelta(seconds=rng.randrange(span)) + dt.timedelta(days=7 * (rng.random() < 0.02))
        if rng.random() < 0.03:
            rows.append(("event", at, rng.choice(policy.events)))
            continue
        status = "planned" if at > NOW else "sent"
        rows.append(("contact", at, rng.choice(policy.channels), rng.choice(policy.purposes),
                     rng.choice(policy.teams), status, rng.choice((None, "conversation", "delivered"))))
    return rows


def request_rows(count: int, rng: random.Random, policy: Any) -> list[tuple[Any, ...]]:
    return [(rng.choice(policy.teams), rng.choice(policy.channels), rng.choice(policy.purposes),
             NOW + dt.timedelta(minutes=rng.randrange(-600, 600))) for _ in range(count)]


CUSTOMER = {"timezone": "America/Chicago", "status": "active", "owner": "cards", "age": 40.0}


def deciding_in_turn(policy: Any, customer: Any, ledger: Any, asked: list[Any], n: int) -> Callable[[int], int]:
    """Round i decides the next ``n`` of ``asked`` on ``ledger`` (an index, or records indexed each time)."""

    def work(i: int) -> int:
        base = (i * n) % len(asked)
        for request in asked[base:base + n]:
            policy.decide(customer, request, ledger, explain=False)
        return n

    return work


def workloads(tree: Tree, quick: bool) -> dict[str, tuple[Callable[[int], Any], int]]:
    """name -> (work(round) returning how many decisions it made, decisions per round)."""
    with tree.active():
        records = tree.mod("records")
        policy = tree.mod("compiler").compile_policy(POLICY.read_text(), str(POLICY))
        inputs = tree.mod("inputs")
        arbitrate = tree.mod("arbitration").arbitrate
        History = tree.mod("history").History
        out: dict[str, tuple[Callable[[int], Any], int]] = {}

        # the library loop on batch_data's rows
        people_rows, ledger_json, ask_rows = batch_data.generate(400 if quick else 1500)
        people = {r["id"]: inputs.customer_from_json(policy, json.loads(json.dumps(r)), inputs.where("c"))
                  for r in people_rows}
        ledgers: dict[str, list[Any]] = {c: [] for c in people}
        asks: dict[str, list[Any]] = {c: [] for c in people}
        for r in ledger_json:
            ledgers[r["customer"]].append(inputs.entry_from_json(policy, json.loads(json.dumps(r)), inputs.where("l")))
        for r in ask_rows:
            asks[r["customer"]].append(inputs.request_from_json(policy, json.loads(json.dumps(r)), inputs.where("r")))
        ids = list(people)
        chunk = 100
        parts = [ids[k:k + chunk] for k in range(0, len(ids), chunk)]

        def loop(i: int) -> int:
            part = parts[i % len(parts)]
            return sum(len(arbitrate(policy, people[c], asks[c], ledgers[c])) for c in part)

        per = sum(len(asks[c]) for c in parts[0])
        out["library loop"] = (loop, per)

        # batch.py --floor's loop: a fresh History per customer made before the clock starts,
        # only Cycle.decide timed (the decisions alone on prebuilt inputs)
        Cycle = tree.mod("arbitration").Cycle

        def cycles_on(build: Callable[[list[Any]], Any]) -> Callable[[int], tuple[int, int]]:
            """The floor's loop on indexes made by ``build`` from a customer's entries."""

            def floor(i: int) -> tuple[int, int]:
                part = parts[i % len(parts)]
                fresh = [build(ledgers[c]) for c in part]
                gc.freeze()  # as batch.py --floor: the collector does not scan the prebuilt inputs
                made = 0
                start = time.process_time_ns()
                for c, history in zip(part, fresh, strict=True):
                    cycle = Cycle(policy, people[c], asks[c], history)
                    for index in cycle.order:
                        cycle.decide(index)
                        made += 1
                return made, time.process_time_ns() - start

            return floor

        out["floor"] = (cycles_on(History), per)

        # the same on indexes built from columns, as the batch engine and the store build them
        fields = ("channel", "purpose", "team", "status", "outcome", "campaign", "id")
        epoch, unit = dt.datetime(1970, 1, 1, tzinfo=UTC), dt.timedelta(microseconds=1)

        def from_columns(entries: list[Any]) -> Any:
            contacts = [e for e in entries if isinstance(e, records.Contact)]
            events: dict[str, list[int]] = {}
            for e in entries:
                if not isinstance(e, records.Contact):
                    events.setdefault(e.name, []).append((e.at - epoch) // unit)
            columns = {name: [getattr(c, name) for c in contacts] for name in fields}
            columns["customer"] = ["c"] * len(contacts)
            return History.from_columns(columns, [(c.at - epoch) // unit for c in contacts], events)

        out["floor columns"] = (cycles_on(from_columns), per)

        histories = {c: History(ledgers[c]) for c in ids}
        for c in ids:  # warm indexes: each customer's selectors asked once (batch.py's "warm")
            for request in asks[c]:
                policy.decide(people[c], request, histories[c], explain=False)

        def warm(i: int, histories: dict[str, Any] = histories) -> int:
            made = 0
            for c in parts[i % len(parts)]:
                for request in asks[c]:
                    policy.decide(people[c], request, histories[c], explain=False)
                    made += 1
            return made

        out["floor warm"] = (warm, per)

        customer = records.Customer("c1", dict(CUSTOMER))

        def make(rows: list[tuple[Any, ...]]) -> list[Any]:
            return [records.Event(r[1], r[2]) if r[0] == "event" else records.Contact(*r[1:]) for r in rows]

        six = tree.mod("compiler").compile_policy(SIX.read_text(), str(SIX))
        for label, deciding, sizes in (("prebuilt", policy, (100, 10_000)), ("six-rule", six, (10, 100, 1_000, 10_000))):
            for size in sizes:
                rng = random.Random(size)
                entries = make(ledger_rows(size, rng, deciding))
                history = History(entries)
                asked = [records.Request(*r) for r in request_rows(400, rng, deciding)]
                for request in asked[:200]:  # warm the selector indexes and plan cache
                    deciding.decide(customer, request, history, explain=False)
                out[f"{label} {size:,}"] = (deciding_in_turn(deciding, customer, history, asked, 20), 20)
        for label, deciding in (("records", policy), ("records six", six)):
            for size in (100, 1_000):
                rng = random.Random(size + 1)
                rows = ledger_rows(size, rng, deciding)
                rng.shuffle(rows)
                entries = make(rows)
                asked = [records.Request(*r) for r in request_rows(200, rng, deciding)]
                n = 5 if size >= 1000 else 20
                out[f"{label} {size:,}"] = (deciding_in_turn(deciding, customer, entries, asked, n), n)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", action="append", default=[], help="another checkout (a folder holding policylang/)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--only", help="run only the workloads whose name starts with this")
    parser.add_argument("--budget", type=float, default=None, help="CPU seconds per tree and workload")
    args = parser.parse_args()
    trees = [Tree("this tree", ROOT, MODULES)] + [Tree(Path(f).name or f, Path(f), MODULES) for f in args.against]
    works = [workloads(tree, args.quick) for tree in trees]
    # the collector would scan every prebuilt input again and again (batch.py --floor and the
    # engine freeze them the same way), so the table times the decisions
    gc.collect()
    gc.freeze()
    budget = args.budget if args.budget is not None else (0.5 if args.quick else 2.0)
    names = [n for n in works[0] if not args.only or n.startswith(args.only)]
    print(f"examples/northwind.pol, explain off: median CPU us per decision, {len(trees)} trees in turn each round")
    print(f"{'workload':>16} " + " ".join(f"{t.label[:14]:>14}" for t in trees)
          + "".join(f" {t.label[:10] + '/this':>15}" for t in trees[1:]))
    for name in names:
        timings: list[list[float]] = [[] for _ in trees]
        spent = 0.0
        rounds = 0
        clock = time.process_time_ns
        while rounds < 5 or spent < budget * len(trees):
            for k, tree in enumerate(trees):
                work, _ = works[k][name]
                with tree.active():
                    start = clock()
                    made = work(rounds)
                    took = (clock() - start) / 1000
                    if isinstance(made, tuple):  # the work timed its own part
                        made, took = made[0], made[1] / 1000
                timings[k].append(took / made)
                spent += took / 1e6
            rounds += 1
        medians = [statistics.median(t) for t in timings]
        print(f"{name:>16} " + " ".join(f"{m:>14,.1f}" for m in medians)
              + "".join(f" {m / medians[0]:>14.2f}x" for m in medians[1:]), flush=True)


if __name__ == "__main__":
    main()

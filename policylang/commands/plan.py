"""``policylang plan POLICY --customers F --ledger F --candidates F [--cycle C] -o PLAN``:
choose which candidate contacts to grant under the policy and the cycle's limits."""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from policylang.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, FileProblem, read_text, stdout
from policylang.commands.decide import load_policy
from policylang.errors import InputError, PolicylangError
from policylang.inputs import customer_from_json, entry_from_json, read_jsonl, where
from policylang.records import Customer, Entry
from policylang.render import print_errors
from policylang.rules import Policy
from policylang.slotted import evolve

if TYPE_CHECKING:
    from policylang.plan.inputs import Candidates, Cycle

EPILOG = """\
exit status: 0 a plan was written; 1 no plan meets the cycle's lower limits (min_volume), or
--check found a granted contact the policy or a limit refuses, or --reserve was refused for
a customer; 2 bad input (a file that cannot be read or written, invalid JSON, CSV or TOML,
an unknown name, a customer without a record, a ledger line without `customer`, a policy
that does not compile) or a usage error.

The plan file's format follows its extension: .csv, .jsonl or .parquet. The summary goes
beside it as PLAN.summary.json.
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "plan",
        help="plan a cycle: which customer gets which offer under the policy and its limits",
        description="Plan a cycle: grant the candidate contacts that maximise value less cost under the "
                    "policy, capacity rules, budgets, volumes and cells (docs/planning.md).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("policy", metavar="POLICY", help="the policy file")
    p.add_argument("--customers", required=True, metavar="JSONL", help="customer records, one JSON object a line")
    p.add_argument("--ledger", required=True, metavar="JSONL",
                   help="every customer's ledger, one JSON object a line, each with `customer`")
    p.add_argument("--candidates", required=True, metavar="FILE",
                   help="the candidate contacts: .csv, .jsonl or .parquet")
    p.add_argument("--cycle", metavar="TOML", help="the cycle file: budget and per-campaign limits")
    p.add_argument("-o", "--output", required=True, metavar="PLAN", help="the plan file to write (.csv, .jsonl, .parquet)")
    p.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="where the per-customer step runs: local processes (default) or Apache Spark (PySpark)")
    p.add_argument("--spark-master", metavar="URL",
                   help="spark engine: the master (default: the session's, or local[*])")
    p.add_argument("--solver", choices=("auto", "exact", "lagrangian"), default="auto",
                   help="exact MIP (HiGHS), Lagrangian heuristic with a bound, or auto by size (default)")
    p.add_argument("--time-limit", type=float, default=60.0, metavar="SECONDS",
                   help="the exact solver's time limit (default 60); past it the best plan and its bound")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes for the eligibility pass (default: every core)")
    p.add_argument("--reserve", metavar="LEDGER_URL",
                   help="record the granted contacts as planned in this shared ledger, one transaction per customer")
    p.add_argument("--check", action="store_true",
                   help="replay the plan through the evaluator and every limit before writing (slow on large plans)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text: the summary as a table (default); json: the summary document on stdout")
    p.set_defaults(run=run)


def read_inputs(policy: Policy, candidates_path: str, customers_path: str, ledger_path: str,
                cycle_path: str | None) -> tuple[Candidates, dict[str, Customer], dict[str, list[Entry]], Cycle]:
    """The four inputs, validated; InputError names file, line and field."""
    from policylang.plan.inputs import Cycle, read_candidates, read_cycle

    customers: dict[str, Customer] = {}
    # Equal attribute values are held once: customers have few distinct ones (a dict each was
    # ~400 bytes a customer at a million), and a decision reads them, never changes them.
    alike: dict[Any, Mapping[str, Any]] = {}
    for number, obj in read_jsonl(read_text(customers_path), customers_path):
        record = customer_from_json(policy, obj, where(customers_path, number))
        if not record.id:
            raise InputError("the customer record has no `id`", where(customers_path, number))
        try:
            key = tuple(sorted(record.values.items()))
            values = alike.get(key, record.values)
            if len(alike) < 1 << 16:  # bounded: customers all unlike gain nothing
                alike.setdefault(key, values)
        except TypeError:  # an unhashable value: kept as it is
            values = record.values
        customers[record.id] = record if values is record.values else Customer(record.id, values)
    ledgers: dict[str, list[Entry]] = defaultdict(list)
    names: dict[str, str] = {}
    for number, obj in read_jsonl(read_text(ledger_path), ledger_path):
        entry = entry_from_json(policy, obj, where(ledger_path, number))
        if entry.customer is None:
            raise InputError("the ledger line has no `customer` field", where(ledger_path, number),
                             hint="a cycle's ledger holds every customer's contacts; each line names its customer")
        entry = _held_once(entry, names, customers)
        ledgers[entry.customer].append(entry)  # type: ignore[index]
    cycle = read_cycle(read_text(cycle_path), cycle_path) if cycle_path else Cycle()
    if not Path(candidates_path).is_file():
        raise FileProblem(f"{candidates_path}: no such file")
    candidates = read_candidates(policy, candidates_path)
    return candidates, customers, dict(ledgers), cycle


def _held_once(entry: Entry, names: dict[str, str], customers: Mapping[str, Customer]) -> Entry:
    """``entry`` with its texts shared: the names (few distinct) through ``names``, the
    customer's id as the customer record's (each JSON line parsed them as new texts: a
    gigabyte's worth at a million customers, with the records)."""
    changes: dict[str, str] = {}
    for field in ("channel", "purpose", "team", "status", "event", "outcome"):
        value = getattr(entry, field, None)
        if isinstance(value, str):
            shared = names.setdefault(value, value)
            if shared is not value:
                changes[field] = shared
    record = customers.get(entry.customer) if entry.customer is not None else None
    if record is not None and record.id is not entry.customer:
        changes["customer"] = record.id
    return evolve(entry, **changes) if changes else entry


def run(args: argparse.Namespace) -> int:
    from policylang.plan.planner import plan
    from policylang.plan.verify import problems

    try:
        policy = load_policy(args.policy)
        candidates, customers, ledgers, cycle = read_inputs(policy, args.candidates, args.customers, args.ledger,
                                                            args.cycle)
        eligibility = None
        if args.engine == "spark":
            eligibility = functools.partial(spark_patterns, read_text(args.policy), args.policy, args.spark_master)
        result = plan(policy, candidates, customers, ledgers, cycle, solver=args.solver, workers=args.workers,
                      time_limit=args.time_limit, file=args.candidates, eligibility=eligibility)
        status = EXIT_OK if result.solution.feasible else EXIT_FAILED
        if args.check and result.solution.feasible:
            found = problems(policy, candidates, customers, ledgers, cycle, result.granted)
            if found:
                for line in found:
                    stdout().print(f"check: {line}")
                status = EXIT_FAILED
        write_plan(args.output, result.rows)
        summary_path = args.output + ".summary.json"
        write_text(summary_path, json.dumps(result.summary, indent=2, allow_nan=False) + "\n")
        if args.reserve and result.solution.feasible and status == EXIT_OK:
            status = max(status, reserve(args.reserve, policy, customers, candidates, result.granted))
    except FileProblem as exc:
        print_errors(exc)
        return EXIT_BAD_INPUT
    except PolicylangError as exc:
        print_errors(exc)
        return EXIT_BAD_INPUT
    if args.format == "json":
        print(json.dumps(result.summary, indent=2))
    else:
        show(result.summary, args.output)
    return status


def spark_patterns(text: str, name: str, master: str | None, policy: Policy, jobs: Sequence[Any]) -> list[list[int]]:
    """The per-customer step on Spark (the executors compile the policy ``text``)."""
    from policylang.spark import run_patterns

    return run_patterns(text, name, jobs, master=master)


def write_text(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise FileProblem(f"{path}: cannot be written ({exc.strerror})") from None


COLUMNS = ("id", "customer", "granted", "reason_kind", "rule", "reason", "shadow_price")


def write_plan(path: str, rows: Sequence[Any]) -> None:
    """The plan file by extension, from the plan's rows (``planner.Row``); a folder that does
    not exist is an error, not created. CSV and JSON Lines are written a row at a time to a
    temporary file renamed over ``path`` when complete (the whole text, and a dict per row,
    were gigabytes at a million customers)."""
    from policylang.tables import atomic_path

    lower = path.lower()
    if not Path(path).parent.is_dir():
        raise FileProblem(f"{path}: the folder {Path(path).parent} does not exist")
    if lower.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {"granted": pa.bool_(), "shadow_price": pa.float64()}
        table = pa.table({k: pa.array([getattr(row, k) for row in rows], types.get(k, pa.string())) for k in COLUMNS})
        try:
            pq.write_table(table, path)
        except OSError as exc:
            raise FileProblem(f"{path}: cannot be written ({exc})") from None
        return
    if not lower.endswith((".csv", ".jsonl", ".ndjson", ".json")):
        raise InputError(f"{path}: unknown plan format", where(path), expected=".csv, .jsonl or .parquet")
    temp, commit, abort = atomic_path(path)
    try:
        with open(temp, "w", encoding="utf-8", newline="") as handle:
            if lower.endswith(".csv"):
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(COLUMNS)
                for row in rows:
                    writer.writerow(["" if v is None else str(v).lower() if isinstance(v, bool) else v
                                     for v in (getattr(row, k) for k in COLUMNS)])
            else:
                for row in rows:
                    handle.write(json.dumps({k: getattr(row, k) for k in COLUMNS}) + "\n")
    except OSError as exc:
        abort()
        raise FileProblem(f"{path}: cannot be written ({exc.strerror})") from None
    except BaseException:
        abort()
        raise
    commit()


def reserve(url: str, policy: Policy, customers: Mapping[str, Customer], candidates: Candidates,
            granted: Sequence[bool]) -> int:
    from policylang.ledger import open_ledger

    per: dict[str, list[int]] = defaultdict(list)
    for j, g in enumerate(granted):
        if g:
            per[candidates.customers[j]].append(j)
    refused = 0
    with open_ledger(url) as ledger:
        for customer, mine in per.items():
            made = ledger.reserve_all(policy, customers[customer], [candidates.requests[j] for j in mine])
            if len(made) != len(mine):
                refused += 1
                decision = made[0].decision
                stdout().print(f"reserve: customer {customer} refused ({', '.join(decision.denied_by)}); "
                               "nothing written for this customer")
    if refused:
        return EXIT_FAILED
    stdout().print(f"reserved {sum(map(len, per.values()))} contacts for {len(per)} customers in {url}")
    return EXIT_OK


def show(summary: Mapping[str, object], output: str) -> None:
    console = stdout()

    def number(value: object) -> str:
        if value is None:
            return "-"
        assert isinstance(value, (int, float))
        return f"{value:,.2f}" if not math.isnan(value) else "-"

    table = Table(title=f"plan: {summary['granted']} of {summary['candidates']} candidates granted "
                        f"({summary['method']}, {summary['seconds']} s)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("objective (value - cost)", number(summary["objective"]))
    table.add_row("bound", number(summary["bound"]))
    gap = summary["gap"]
    table.add_row("gap", "-" if gap is None else f"{100 * float(gap):.3f} %")  # type: ignore[arg-type]
    table.add_row("greedy objective", number(summary["greedy_objective"]))
    console.print(table)
    campaigns = Table(title="by campaign")
    for column in ("campaign", "candidates", "granted", "value", "cost"):
        campaigns.add_column(column, justify="left" if column == "campaign" else "right")
    by_campaign = summary["by_campaign"]
    assert isinstance(by_campaign, dict)
    for name, entry in by_campaign.items():
        campaigns.add_row(name, str(entry["candidates"]), str(entry["granted"]), number(entry["value"]),
                          number(entry["cost"]))
    console.print(campaigns)
    resources = summary["resources"]
    assert isinstance(resources, list)
    if resources:
        res = Table(title="shared resources")
        for column in ("kind", "name", "window", "used", "limit", "shadow price"):
            res.add_column(column, justify="right" if column in ("used", "limit", "shadow price") else "left")
        for entry in resources:
            res.add_row(entry["kind"], entry["name"], entry["window"] or "", number(entry["used"]),
                        number(entry["limit"]), number(entry["shadow_price"]))
        console.print(res)
    console.print(f"plan written to {output}; summary to {output}.summary.json")

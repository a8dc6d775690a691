"""``policylang batch POLICY --customers F --ledger F --requests F -o F``: decide every request."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.table import Table

from policylang.cli import EXIT_BAD_INPUT, EXIT_OK, stderr, stdout
from policylang.commands.decide import load_policy

EPILOG = """\
exit status: 0 every request was decided (allowed or denied) and the output written;
2 bad input (a file that cannot be read, a bad row: each is reported with its file, row and
field, up to 100, and nothing is written unless --rejects is given), a policy that does not
compile, or a usage error.
Files are JSON Lines (.jsonl), CSV (.csv) or Parquet (.parquet), by extension.
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "batch",
        help="decide a file of requests for many customers (all cores, or Spark)",
        description="Decide every request of a file: each customer's requests arbitrated as one cycle, "
        "capacity rules counted across customers (docs/batch.md).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("policy", metavar="POLICY", help="the policy file")
    p.add_argument("--customers", required=True, metavar="FILE", help="customer records (id and attributes)")
    p.add_argument("--ledger", metavar="FILE", help="ledger rows of every customer (each with `customer`)")
    p.add_argument("--requests", required=True, metavar="FILE",
                   help="requests (team, channel, purpose, at, customer, id; optional campaign, priority)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the decisions file (.jsonl, .csv, .parquet)")
    add_engine_options(p)
    p.add_argument("--explain", action="store_true", help="add each decision's trace (a JSON text) to the output")
    p.add_argument("--rejects", metavar="FILE",
                   help="write bad rows here with their error and decide the rest (instead of exit 2)")
    p.set_defaults(run=run)


def add_engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="local: worker processes on this machine (default); spark: Apache Spark through PySpark")
    p.add_argument("--workers", type=int, metavar="N", help="local engine: worker processes (default: every core)")
    p.add_argument("--spark-master", metavar="URL",
                   help="spark engine: the master (default: the session's, or local[*])")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (also off when stderr is not a terminal)")


def problems_out(problems: Any, rejects: str | None) -> bool:
    """Report bad rows; True when the run must stop (no --rejects)."""
    from policylang.batch import BadRow

    if not problems:
        return False
    if rejects is None:
        stderr().print(problems.report(), markup=False, highlight=False)
        stderr().print(f"policylang: {len(problems.rows)} bad rows; nothing was written "
                       "(fix them, or give --rejects FILE to decide the rest)", markup=False)
        return True
    import orjson
    import pyarrow as pa

    from policylang.tables import write_table

    rows: list[BadRow] = problems.rows
    write_table(pa.table({
        "file": [b.file for b in rows], "row": [b.row for b in rows], "field": [b.field for b in rows],
        "error": [b.message for b in rows],
        "data": [orjson.dumps(b.data).decode() if b.data is not None else None for b in rows],
    }), rejects)
    stderr().print(f"policylang: {len(rows)} bad rows written to {rejects}", markup=False)
    return False


def progress_bar(args: argparse.Namespace, total: int) -> Any:
    """A context giving the function to call with each finished task's request count (a
    progress bar with the rate and time left on a terminal; nothing otherwise)."""
    import contextlib

    if args.no_progress or not sys.stderr.isatty():
        return contextlib.nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    @contextlib.contextmanager
    def bar() -> Any:
        columns = (TextColumn("deciding"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
        with Progress(*columns, console=stderr(), transient=True) as shown:
            task = shown.add_task("deciding", total=total, rate="")

            def advance(count: int) -> None:
                shown.advance(task, count)
                speed = shown.tasks[0].speed
                shown.update(task, rate=f"{speed:,.0f} decisions/s" if speed else "")

            yield advance

    return bar()


def run(args: argparse.Namespace) -> int:
    """Decide, write, summarise; see EPILOG for the exit status."""
    import tempfile

    from policylang.batch import Problems, Tally, prepare, run_files, scatter_apart
    from policylang.tables import file_format, write_table

    policy = load_policy(args.policy)
    for path in (args.output, args.rejects):
        if path is not None:
            file_format(path)  # an unknown extension is a usage error before any work
    problems = Problems()
    if args.engine == "spark":
        from policylang.cli import read_text
        from policylang.spark import run_spark

        prepared = prepare(policy, args.customers, args.ledger, args.requests, problems)
        if problems_out(problems, args.rejects):
            return EXIT_BAD_INPUT
        table = run_spark(read_text(args.policy), args.policy, prepared.work, explain=args.explain,
                          master=args.spark_master)
        write_table(table, args.output)
        tally = Tally()
        tally.add(table)
    else:
        # the inputs are spilled by customer bucket beside the temporary files (TMPDIR)
        with tempfile.TemporaryDirectory(prefix="policylang-batch-") as folder:
            scattered = scatter_apart(policy, args.customers, args.ledger, args.requests, problems, folder,
                                      workers=args.workers)
            if problems_out(problems, args.rejects):
                return EXIT_BAD_INPUT
            with progress_bar(args, scattered.requests) as advance:
                tally = run_files(policy, scattered, args.output, explain=args.explain, workers=args.workers,
                                  progress=advance)
    stdout().print(summary(tally, f"{tally.decisions:,} decisions written to {args.output}"))
    return EXIT_OK


def summary(tally: Any, title: str) -> Table:
    """Requests, allowed and denied per rule, per team (rich), from a :class:`policylang.batch.Tally`."""
    requests, granted, per_rule = tally.requests, tally.allowed, tally.denied
    rules = sorted({rule for _, rule in per_rule})
    names = sorted(requests)
    out = Table(title=title)
    out.add_column("", no_wrap=True)
    for team in names:
        out.add_column(team, justify="right")
    out.add_column("all", justify="right", style="bold")
    out.add_row("requests", *(f"{requests[t]:,}" for t in names), f"{sum(requests.values()):,}")
    out.add_row("allowed", *(f"{granted[t]:,}" for t in names), f"{sum(granted.values()):,}")
    for rule in rules:
        out.add_row(f"denied by {rule}", *(f"{per_rule[(t, rule)]:,}" for t in names),
                    f"{sum(per_rule[(t, rule)] for t in names):,}")
    return out

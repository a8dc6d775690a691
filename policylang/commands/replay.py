"""``policylang replay POLICY --ledger F [--against OLD.pol] -o F``: decide past contacts again."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

from rich.table import Table

from policylang.cli import EXIT_BAD_INPUT, EXIT_OK, FileProblem, stderr, stdout
from policylang.commands.decide import load_policy

if TYPE_CHECKING:
    from policylang.replay import ReplayTally

EPILOG = """\
exit status: 0 the replay ran and its output was written (whatever it found); 2 bad input
(a file that cannot be read, a bad ledger or customer row: each is reported with its file,
row and field, up to 100, and nothing is written), a policy that does not compile, or a
usage error.
Files are JSON Lines (.jsonl), CSV (.csv) or Parquet (.parquet), by extension.
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay",
        help="decide the contacts a ledger records as sent under a policy (and compare with another)",
        description="Decide every contact a ledger records as sent as if requested at its time, with the "
        "ledger before it; with --against, list the contacts the two policies decide differently.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("policy", metavar="POLICY", help="the policy to replay (the new one with --against)")
    p.add_argument("--ledger", required=True, metavar="FILE", help="ledger rows of every customer (each with `customer`)")
    p.add_argument("--customers", metavar="FILE",
                   help="customer records (zones, owners, attributes); without it customers have none")
    p.add_argument("--against", metavar="OLD.pol", help="the policy in force: report the contacts decided differently")
    p.add_argument("--from", dest="start", type=_date, metavar="DATE", help="first day replayed (UTC, YYYY-MM-DD)")
    p.add_argument("--to", dest="end", type=_date, metavar="DATE", help="last day replayed (UTC, YYYY-MM-DD, included)")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="the replayed contacts (.jsonl, .csv, .parquet); with --against only those that differ")
    p.add_argument("--chart", metavar="FILE.html",
                   help="a self-contained HTML chart of denials per rule per week (old against new with --against)")
    p.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="local: worker processes on this machine (default); spark: Apache Spark through PySpark")
    p.add_argument("--workers", type=int, metavar="N", help="local engine: worker processes (default: every core)")
    p.add_argument("--spark-master", metavar="URL",
                   help="spark engine: the master (default: the session's, or local[*])")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (also off when stderr is not a terminal)")
    p.set_defaults(run=run)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{text}` is not a date like 2026-11-24") from None


def run(args: argparse.Namespace) -> int:
    """Replay, write, summarise; see EPILOG for the exit status."""
    from policylang.batch import Problems
    from policylang.replay import ReplayTally, chart_html, differing, prepare_replay, run_to_file
    from policylang.tables import atomic_path, file_format, write_table

    new = load_policy(args.policy)
    old = load_policy(args.against) if args.against else None
    file_format(args.output)
    if args.chart is not None and not args.chart.endswith((".html", ".htm")):
        raise FileProblem(f"{args.chart}: the chart is written as HTML: give a .html file")
    if args.start and args.end and args.start > args.end:
        raise FileProblem(f"--from {args.start} is after --to {args.end}")
    problems = Problems()
    progress = None
    bar: Any = None
    if not args.no_progress and sys.stderr.isatty():
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

        bar = Progress("replaying", BarColumn(), TaskProgressColumn(), TimeRemainingColumn(), console=stderr(),
                       transient=True)
        bar.start()
        task = bar.add_task("replaying", total=None)

        def progress(count: int) -> None:
            bar.advance(task, count)
    try:
        job = prepare_replay(new, old, args.ledger, args.customers, args.start, args.end, problems,
                             workers=args.workers)
        tally = ReplayTally(old is not None)
        if job is not None and args.engine == "spark":
            from policylang.cli import read_text
            from policylang.spark import run_replay

            # Spark's answers come back whole to the driver (it holds the job anyway)
            table = run_replay(job, read_text(args.policy), args.policy,
                               read_text(args.against) if args.against else None, args.against,
                               master=args.spark_master)
            tally.add(table.to_pydict())
            shown = differing(table) if old is not None else table
            tally.written = shown.num_rows
            write_table(shown, args.output)
        elif job is not None:
            tally = run_to_file(job, args.output, workers=args.workers, progress=progress)
    finally:
        if bar is not None:
            bar.stop()
    if problems:
        stderr().print(problems.report(), markup=False, highlight=False)
        stderr().print(f"policylang: {len(problems.rows)} bad rows; nothing was written", markup=False)
        return EXIT_BAD_INPUT
    if args.chart:
        temp, commit, abort = atomic_path(args.chart)
        try:
            with open(temp, "w", encoding="utf-8") as out:
                out.write(chart_html(tally, f"Replay of {args.ledger} under {args.policy}"
                                     + (f" against {args.against}" if old else ""), old is not None))
        except BaseException:
            abort()
            raise
        commit()
    stdout().print(report(tally, old is not None, tally.written, args.output, args.chart))
    return EXIT_OK


# Up to this many weeks the summary lists every week; past it (a year's replay has 52 or 53,
# times every rule) the terminal would scroll past the totals, so each rule shows its busiest
# week and the reader is pointed to the chart and the output file, which hold every week.
WEEKS_SHOWN = 8


def report(tally: ReplayTally, against: bool, written: int, output: str, chart: str | None = None) -> Table:
    """Denials per rule: the total, then by team, channel and week; with an old policy, both
    columns. Past :data:`WEEKS_SHOWN` weeks, each rule's busiest week stands for the weeks."""
    title = (f"{tally.contacts:,} sent contacts replayed; {tally.denied:,} would be denied; "
             + (f"{written:,} decided differently" if against else f"{written:,}") + f" written to {output}")
    many_weeks = len(tally.weeks) > WEEKS_SHOWN
    caption = None
    if many_weeks:
        caption = (f"{len(tally.weeks)} weeks: each rule's busiest week is shown; every week's denials: "
                   + (f"the chart {chart}" if chart else "a chart (--chart FILE.html)")
                   + ("" if against else f", or the rows of {output}"))  # with --against it holds only changes
    out = Table(title=title, caption=caption)
    out.add_column("rule", no_wrap=True)
    out.add_column("by", no_wrap=True)
    out.add_column("value")
    out.add_column("denied" + (" (new)" if against else ""), justify="right")
    if against:
        out.add_column("denied (old)", justify="right")

    def row(rule: str, by: str, value: str, new: int, old: int) -> None:
        out.add_row(rule, by, value, f"{new:,}", *([f"{old:,}"] if against else []))

    def counts(by: str) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
        return tally.denials(by), (tally.denials(by, "old_denied_by") if against else Counter())

    # The totals per rule, from the team counts: every replayed contact has exactly one team.
    new_by_team, old_by_team = counts("team")
    totals_new: Counter[str] = Counter()
    totals_old: Counter[str] = Counter()
    for (rule, _), n in new_by_team.items():
        totals_new[rule] += n
    for (rule, _), n in old_by_team.items():
        totals_old[rule] += n
    for rule in sorted(set(totals_new) | set(totals_old)):
        row(rule, "all", "", totals_new[rule], totals_old[rule])
    for by in ("team", "channel", "week"):
        new, old = counts(by)
        if by == "week" and many_weeks:
            busiest: dict[str, tuple[int, str]] = {}
            for (rule, week), n in (new + old).items():  # denials under both policies together
                most, first = busiest.get(rule, (0, ""))
                if n > most or (n == most and week < first):  # the earlier week on a tie
                    busiest[rule] = (n, week)
            for rule, (_, week) in sorted(busiest.items()):
                row(rule, "busiest week", week, new[(rule, week)], old[(rule, week)])
            continue
        for rule, value in sorted(set(new) | set(old)):
            row(rule, by, value, new[(rule, value)], old[(rule, value)])
    return out

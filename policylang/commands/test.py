"""``policylang test [PATHS]``: run every ``*.polt`` scenario and report failed expectations.

Exit status: 0 when every expectation held, 1 when one failed (or coverage is below
``--fail-under``), 2 when a scenario could not run (it does not parse, names an unknown
customer, its policy does not compile...) or for a usage error. The last line of the text
output is always ``N passed, M failed, K errors``: expectations that held, that failed, and
scenario files that could not run.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs
from rich.console import Console
from rich.table import Table
from rich.text import Text

from policylang.errors import ErrorGroup, PolicylangError
from policylang.render import print_errors
from policylang.rules import Policy
from policylang.scenario import Answer, FileReport, decided_rules, load_policy_file, run_file
from policylang.source import Span

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

EPILOG = """\
exit status: 0 every expectation held; 1 an expectation failed, or coverage is below
--fail-under; 2 a scenario could not run (it does not parse, its policy does not compile),
no scenario was found, or a usage error.
output: text (failures with their traces, then "N passed, M failed, K errors"), json (one
document, schema docs/schemas/test.schema.json) or junit (JUnit XML for CI dashboards).
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``policylang test``."""
    p = sub.add_parser(
        "test",
        help="run *.polt scenario tests",
        description="Run *.polt scenario tests: every expect line is one test.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="*", metavar="PATH", default=["."],
                   help="scenario files or folders to search for *.polt (default: .)")
    p.add_argument("--run", metavar="PATTERN", action="append", dest="run_patterns",
                   help="run only the scenario files whose path contains PATTERN or matches it "
                        "as a glob (`--run 'north*'`); may be given several times")
    p.add_argument("--coverage", action="store_true",
                   help="show, per policy, which rules no test made decide")
    p.add_argument("--fail-under", metavar="PERCENT", type=float,
                   help="exit 1 when a policy's rule coverage is below PERCENT")
    p.add_argument("--format", choices=("text", "json", "junit"), default="text",
                   help="text for people (default), json for programs, junit for CI dashboards")
    p.add_argument("--json", dest="format", action="store_const", const="json",
                   help="the same as --format json")
    p.add_argument("-v", "--verbose", action="store_true", help="list every expectation, passed ones too")
    p.set_defaults(run=run)


def find_scenarios(paths: Sequence[str]) -> list[Path]:
    """The scenario files named, and every ``*.polt`` below the folders named, sorted."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.polt") if p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise PolicylangError(f"{name}: no such file or folder")
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def selected(path: Path, patterns: Sequence[str] | None) -> bool:
    """Does ``--run`` select this file? (No pattern selects every file.)"""
    if not patterns:
        return True
    text = path.as_posix()
    return any(p in text or fnmatch.fnmatch(text, p) or fnmatch.fnmatch(path.name, p) for p in patterns)


class PolicyCache:
    """Compiles each policy file once per run (many scenarios share one policy)."""

    def __init__(self) -> None:
        self.policies: dict[tuple[Path, int], Policy] = {}
        self.failures: dict[tuple[Path, int], PolicylangError] = {}

    def __call__(self, path: Path) -> Policy:
        key = (path.resolve(), path.stat().st_mtime_ns)
        if key in self.failures:
            raise self.failures[key]
        if key not in self.policies:
            try:
                self.policies[key] = load_policy_file(path)
            except PolicylangError as exc:
                self.failures[key] = exc
                raise
        return self.policies[key]


def run(args: argparse.Namespace) -> int:
    """Run the scenarios; print failures, errors, the summary line and optional coverage."""
    from policylang.testreport import report_json, report_junit, summary_counts

    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    files = [f for f in find_scenarios(args.paths) if selected(f, args.run_patterns)]
    if not files:
        what = f" matching {', '.join(args.run_patterns)}" if args.run_patterns else ""
        err.print(f"no *.polt scenario files{what} in {', '.join(args.paths)}")
        return EXIT_BAD_INPUT
    loader = PolicyCache()
    reports = [run_file(path, loader) for path in files]
    covered = coverage(reports) if args.coverage or args.fail_under is not None else None
    below = [c for c in covered or () if args.fail_under is not None and c.percent < args.fail_under]
    counts = summary_counts(reports)
    if args.format == "json":
        sys.stdout.write(json.dumps(report_json(reports, covered), indent=2, ensure_ascii=False) + "\n")
    elif args.format == "junit":
        sys.stdout.write(report_junit(reports))
    else:
        for report in reports:
            print_report(report, out, verbose=args.verbose)
            if report.problems:
                print_errors(ErrorGroup(report.problems) if len(report.problems) > 1 else report.problems[0], err)
        if args.coverage and covered is not None:
            print_coverage(covered, out)
        for item in below:
            out.print(f"coverage {item.file}: {item.percent:.1f}% is below --fail-under {args.fail_under:g}%")
        errors = counts['errors']
        out.print(f"{counts['passed']} passed, {counts['failed']} failed, {errors} error{'' if errors == 1 else 's'}")
    if counts["errors"]:
        return EXIT_BAD_INPUT
    return EXIT_FAILED if counts["failed"] or below else EXIT_OK


def where(answer: Answer) -> Span:
    return answer.statement.span


def print_report(report: FileReport, out: Console, *, verbose: bool = False) -> None:
    """Each failed expectation (and, verbose, each passed one) of one file."""
    for answer in report.expectations:
        if answer.passed and not verbose:
            continue
        span = where(answer)
        line = report.source.line(span.line).strip() if report.source else ""
        head = Text()
        head.append("PASS " if answer.passed else "FAIL ", style="bold green" if answer.passed else "bold red")
        head.append(f"{span.file}:{span.line}: ", style="bold")
        head.append(line)
        out.print(head)
        if answer.passed:
            continue
        for failure in answer.failures:
            out.print(Text("  " + failure, style="red"))
        out.print(Text("  decision: " + decision_line(answer)))
        print_trace(answer, out)


def decision_line(answer: Answer) -> str:
    from policylang.scenario import describe_decision

    request = answer.request
    return (
        f"{request.purpose} {request.channel} by {request.team} at "
        f"{request.at.astimezone(answer.zone):%Y-%m-%d %H:%M} (customer {answer.customer}): "
        + describe_decision(answer.decision, answer.zone)
    )


VERDICT_STYLE = {"deny": "bold red", "pass": "green", "exempt": "yellow", "skip": "dim"}


def print_trace(answer: Answer, out: Console) -> None:
    """The rules that spoke (skipped ones are only counted)."""
    skipped = 0
    out.print("  trace:")
    for entry in answer.decision.trace:
        if entry.verdict == "skip":
            skipped += 1
            continue
        text = Text("    ")
        text.append(f'{entry.kind} "{entry.rule}"')
        if entry.reason:
            text.append(f": {entry.reason}")
        text.append(" -> ")
        text.append(entry.verdict, style=VERDICT_STYLE.get(entry.verdict, ""))
        out.print(text)
    if skipped:
        out.print(Text(f"    ({skipped} rules skipped: the request is not subject to them)", style="dim"))


# ---- coverage ---------------------------------------------------------------------------


@attrs.frozen(slots=True)
class RuleCoverage:
    """How often tests made one rule decide."""

    rule: str
    kind: str
    decided: int
    denied: int

    @property
    def covered(self) -> bool:
        return self.decided > 0


@attrs.frozen(slots=True)
class PolicyCoverage:
    file: str
    rules: tuple[RuleCoverage, ...]

    @property
    def covered(self) -> int:
        return sum(1 for r in self.rules if r.covered)

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / len(self.rules) if self.rules else 100.0

    @property
    def untested(self) -> list[str]:
        return [r.rule for r in self.rules if not r.covered]


def coverage(reports: Iterable[FileReport]) -> list[PolicyCoverage]:
    """Per policy file: each rule with the number of answers it decided (deny or pass while subject)."""
    policies: dict[str, Policy] = {}
    decided: dict[str, dict[str, int]] = {}
    denied: dict[str, dict[str, int]] = {}
    for report in reports:
        for answer in report.answers:
            file = answer.policy.file
            policies[file] = answer.policy
            counts = decided.setdefault(file, {})
            for name in decided_rules(answer):
                counts[name] = counts.get(name, 0) + 1
            denials = denied.setdefault(file, {})
            for name in answer.decision.denied_by:
                denials[name] = denials.get(name, 0) + 1
    result = []
    for file, policy in sorted(policies.items()):
        rules = tuple(
            RuleCoverage(r.name, r.kind, decided[file].get(r.name, 0), denied[file].get(r.name, 0))
            for r in policy.rules
        )
        result.append(PolicyCoverage(file, rules))
    return result


def print_coverage(report: list[PolicyCoverage], out: Console) -> None:
    """A table per policy, then its percentage and the untested rules."""
    if not report:
        out.print("coverage: no scenario asked a policy anything")
    for item in report:
        table = Table(title=f"rule coverage: {item.file}", title_justify="left")
        table.add_column("rule")
        table.add_column("kind")
        table.add_column("decided", justify="right")
        table.add_column("denied", justify="right")
        table.add_column("")
        for rule in item.rules:
            mark = Text("ok", style="green") if rule.covered else Text("UNTESTED", style="bold red")
            table.add_row(f'"{rule.rule}"', rule.kind, str(rule.decided), str(rule.denied), mark)
        out.print(table)
        out.print(
            f"coverage {item.file}: {item.covered}/{len(item.rules)} rules ({item.percent:.1f}%)"
        )
        if item.untested:
            out.print("untested: " + ", ".join(f'"{n}"' for n in item.untested))

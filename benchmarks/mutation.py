"""A mutation check: one-line mutants of the semantics, each run against its relevant tests.

Not part of the test run (it takes minutes). Each mutant changes one line of the evaluator,
the clock, the compiler, the rule graph or the input validation; the script copies the
repository to a temporary folder once, applies each mutant there in turn, runs the test
files that guard that code (``pytest -x``, a fixed hypothesis seed so a run is repeatable),
and records which test killed it. Every mutant must be killed; the script exits 1 when one
survives, and prints a table of mutants and their killers.

    python benchmarks/mutation.py            # every mutant
    python benchmarks/mutation.py 3 17       # only mutants 3 and 17
    python benchmarks/mutation.py --list     # the mutants, without running them
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The differential test (the independent oracle of tests/reference.py) runs first, so the
# table shows what it catches on its own; the hand-written tests follow.
SEMANTICS = (
    "tests/test_differential.py",
    "tests/test_properties.py",
    "tests/test_evaluator.py",
    "tests/test_regulations.py",
    "tests/test_compiler_graph.py",
    "tests/test_regulation_f_commentary.py",
    "tests/test_examples.py",
)
INPUTS = ("tests/test_decide_cli.py", "tests/test_evaluator.py", "tests/test_ingest.py")
# Section 11 forms: the section 11 differential test first, then the hand-computed cases.
SECTION11 = (
    "tests/test_differential_section11.py",
    "tests/test_section11_oracle_findings.py",
    "tests/test_section11.py",
    "tests/test_section11_properties.py",
)


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...] = SEMANTICS


MUTANTS = (
    # ---- conditions (interpreted by the evaluator), compiler forms ----
    Mutant("`<=` interpreted as `<` in conditions", "policylang/evaluator.py",
           '"<=": operator.le,', '"<=": operator.lt,'),
    Mutant("`>=` interpreted as `>` in conditions", "policylang/evaluator.py",
           '">=": operator.ge,', '">=": operator.gt,'),
    Mutant("`in (...)` ignores `not`", "policylang/evaluator.py",
           "((value in condition.choices) != condition.negated)", "((value in condition.choices) == condition.negated)"),
    Mutant("a missing flag counts as set", "policylang/evaluator.py",
           "return c.get(condition.attribute) is True", "return c.get(condition.attribute) is not False"),
    Mutant("`at least D ... within D` rejected", "policylang/compiler.py",
           "if within is not None and _shortest(at_least, at_least_months) > _longest(within, within_months):",
           "if within is not None and _shortest(at_least, at_least_months) >= _longest(within, within_months):"),
    Mutant("`between` compiled as `outside`", "policylang/compiler.py",
           "quiet_inside=isinstance(period, nodes.Between)", "quiet_inside=isinstance(period, nodes.Outside)"),
    Mutant("weekend is Friday and Saturday", "policylang/compiler.py",
           "weekdays.update((5, 6))", "weekdays.update((4, 5))"),
    Mutant("weekday names off by one day", "policylang/compiler.py",
           "weekdays.add(WEEKDAYS.index(text))", "weekdays.add((WEEKDAYS.index(text) + 1) % 7)"),
    # ---- rule graph: clock ranges, days, selectors, exemptions, precedence ----
    Mutant("ClockRange end-inclusive", "policylang/rules.py",
           "return self.start <= minute < self.end", "return self.start <= minute <= self.end"),
    Mutant("wrapping ClockRange start-exclusive", "policylang/rules.py",
           "return minute >= self.start or minute < self.end", "return minute > self.start or minute < self.end"),
    Mutant("DaySet ignores dates", "policylang/rules.py",
           "return day.weekday() in self.weekdays or day in self.dates", "return day.weekday() in self.weekdays"),
    Mutant("exemption lifts only by kind", "policylang/rules.py",
           "return rule.kind in self.kinds or rule.name in self.rule_names", "return rule.kind in self.kinds"),
    Mutant("`except owner` ignored", "policylang/rules.py",
           "return not (team in self.except_teams or self.except_owner and owner is not None and team == owner)",
           "return not (team in self.except_teams)"),
    Mutant("unlisted teams rank first", "policylang/rules.py",
           "return _rank_table(self.precedence, owner).get(team, len(self.precedence))",
           "return _rank_table(self.precedence, owner).get(team, 0)"),
    # ---- clock: calendar, days, DST ----
    Mutant("weeks start on Sunday", "policylang/clock.py",
           "start = day - dt.timedelta(days=(day.weekday() - week_start) % 7)",
           "start = day - dt.timedelta(days=(day.weekday() - week_start + 1) % 7)"),
    Mutant("a calendar day lasts two dates", "policylang/clock.py",
           "return day, day + dt.timedelta(days=1)", "return day, day + dt.timedelta(days=2)"),
    Mutant("a calendar quarter lasts four months", "policylang/clock.py",
           "return start, add_months(start, 3)", "return start, add_months(start, 4)"),
    Mutant("quiet exit steps over a DST change (fold)", "policylang/clock.py",
           "following = change if change is not None else reach", "following = reach"),
    # ---- evaluator: windows, quiet after, require, exclusive, precedence ----
    Mutant("rolling cap counts a contact exactly W before", "policylang/evaluator.py",
           "times, contacts, i, j = select(rule, ctx, t - width + 1, t + width, skip)",
           "times, contacts, i, j = select(rule, ctx, t - width, t + width, skip)"),
    Mutant("rolling cap next-allowed a microsecond late", "policylang/evaluator.py",
           "return int(values[last - 1]) + width", "return int(values[last - 1]) + width + 1"),
    Mutant("quiet-after end-inclusive", "policylang/evaluator.py",
           "if start <= t < end:", "if start <= t <= end:"),
    Mutant("quiet N consecutive days lasts a day longer", "policylang/evaluator.py",
           "return clock.start_of_date(first + dt.timedelta(days=period.days or 0), tz)",
           "return clock.start_of_date(first + dt.timedelta(days=(period.days or 0) + 1), tz)"),
    Mutant("consecutive-day cap looks one date too far back", "policylang/evaluator.py",
           "lo = clock.start_of_date(today - dt.timedelta(days=days - 1), tz)",
           "lo = clock.start_of_date(today - dt.timedelta(days=days), tz)"),
    Mutant("require's `at least` end exclusive", "policylang/evaluator.py",
           "j = bisect_right(times, hi)", "j = bisect_left(times, hi)"),
    Mutant("require's `within` end exclusive", "policylang/evaluator.py",
           "found = j > 0 and (lo is None or times[j - 1] >= lo)", "found = j > 0 and (lo is None or times[j - 1] > lo)"),
    Mutant("exclusive distance inclusive", "policylang/evaluator.py",
           "lo, hi = bisect_left(times, t - distance + 1), bisect_left(times, t + distance)",
           "lo, hi = bisect_left(times, t - distance), bisect_left(times, t + distance)"),
    Mutant("capacity in the customer's zone", "policylang/evaluator.py",
           'return clock.zone(ctx.policy.timezone) if rule.kind == "capacity" else ctx.tz', "return ctx.tz"),
    Mutant("customer's zone ignored", "policylang/evaluator.py",
           "            return (zone,)", "            return (policy.timezone,)"),
    Mutant("equal teams displaced", "policylang/evaluator.py",
           "if policy.rank(c.team, owner) > mine)", "if policy.rank(c.team, owner) >= mine)"),
    Mutant("capacity displaces", "policylang/evaluator.py",
           'rule.kind not in ("cap", "quiet", "exclusive")', 'rule.kind not in ("cap", "capacity", "quiet", "exclusive")'),
    Mutant("cap displaces the earliest plan first", "policylang/evaluator.py",
           "ordered = sorted(reversed(candidates), key=", "ordered = sorted(candidates, key="),
    # ---- section 11 ----
    Mutant("`until` inclusive", "policylang/evaluator.py",
           "if scope.until is not None and t >= scope.until:", "if scope.until is not None and t > scope.until:",
           SECTION11),
    Mutant("`from` exclusive", "policylang/evaluator.py",
           "if scope.start is not None and t < scope.start:", "if scope.start is not None and t <= scope.start:",
           SECTION11),
    Mutant("a pause triggers at N - 1", "policylang/evaluator.py",
           "count_ending_at(period, every, us, ctx) >= period.count]",
           "count_ending_at(period, every, us, ctx) >= period.count - 1]", SECTION11),
    Mutant("months clamp to the day before the month's last", "policylang/clock.py",
           "first.replace(day=min(moment.day, last))", "first.replace(day=min(moment.day, last - 1))", SECTION11),
    Mutant("months keep the source's fold", "policylang/clock.py",
           "moment.time().replace(tzinfo=None, fold=0)", "moment.time().replace(tzinfo=None)", SECTION11),
    Mutant("an exemption window includes its end", "policylang/evaluator.py",
           "w[0] <= t < w[1]", "w[0] <= t <= w[1]", SECTION11),
    Mutant("a contact at a window's end is excused", "policylang/evaluator.py",
           "if start <= us < end or (us == end and closer == id(contact)):",
           "if start <= us <= end:", SECTION11),
    Mutant("a warn rule counts the plans the decision displaces", "policylang/evaluator.py",
           "finding = check(rule, ctx, t, gone)", "finding = check(rule, ctx, t, frozenset())", SECTION11),
    Mutant("a time test's `within` includes its end", "policylang/compiler.py",
           'return now < end if test.op != "ago" else end <= now',
           'return now <= end if test.op != "ago" else end <= now', SECTION11),
    Mutant("rolling month caps judged in the display zone only", "policylang/evaluator.py",
           'return rule.kind == "cap" and (not isinstance(rule.window, Rolling) or bool(rule.window.months))',
           'return rule.kind == "cap" and not isinstance(rule.window, Rolling)', SECTION11),
    Mutant("an `in zone` window excuses by the customer's dates", "policylang/evaluator.py",
           "        if own:  # `in zone` (11.8)", "        if False:  # `in zone` (11.8)", SECTION11),
    Mutant("an exemption window's scope judged at the request's instant", "policylang/evaluator.py",
           "    ctx.judged = t  # an exemption", "    ctx.judged = None  # an exemption", SECTION11),
    # ---- inputs ----
    Mutant("an offset is dropped, not applied", "policylang/inputs.py",
           "return value.astimezone(dt.timezone.utc)", "return value.replace(tzinfo=dt.timezone.utc)", INPUTS),
    Mutant("a ledger line's status defaults to planned", "policylang/inputs.py",
           'status = data.get("status", "sent")', 'status = data.get("status", "planned")', INPUTS),
)

FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)


def run(mutant: Mutant, copy: Path) -> tuple[str, float]:
    """Apply the mutant in ``copy``, run its tests, restore; (killer or "SURVIVED", seconds)."""
    target = copy / mutant.path
    original = target.read_text()
    if original.count(mutant.old) != 1:
        return f"NOT APPLIED ({original.count(mutant.old)} matches)", 0.0
    target.write_text(original.replace(mutant.old, mutant.new))
    started = time.perf_counter()
    try:
        env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1",
               "POLICYLANG_HYPOTHESIS_PROFILE": "mutation"}  # no shrinking: a failure is enough
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-x", "-q", "-rfE",
             "--hypothesis-seed=0", "--timeout=240", *mutant.tests],
            cwd=copy, env=env, capture_output=True, text=True, timeout=900,
        )
        output = result.stdout + result.stderr
    except subprocess.TimeoutExpired:
        output, result = "FAILED (the whole run timed out)", None
    finally:
        target.write_text(original)
    seconds = time.perf_counter() - started
    if result is not None and result.returncode == 0:
        return "SURVIVED", seconds
    found = FAILED.search(output)
    if found:
        return found[1], seconds
    return f"killed (exit {result.returncode if result else 'timeout'}, no test named)", seconds


def main(argv: list[str]) -> int:
    if "--list" in argv:
        for number, mutant in enumerate(MUTANTS, 1):
            print(f"{number:3}  {mutant.path:24} {mutant.name}")
        return 0
    chosen = [int(a) for a in argv if a.isdigit()] or list(range(1, len(MUTANTS) + 1))
    folder = Path(tempfile.mkdtemp(prefix="policylang-mutation-"))
    copy = folder / "repo"
    try:
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", ".hypothesis", "__pycache__", "*.egg-info"))
        # the copy must be what the tests import, not the installed checkout
        probe = subprocess.run([sys.executable, "-c", "import policylang; print(policylang.__file__)"],
                               cwd=copy, env={**os.environ, "PYTHONPATH": str(copy)}, capture_output=True, text=True)
        assert probe.stdout.strip().startswith(str(copy)), probe.stdout + probe.stderr
        rows = []
        for number in chosen:
            mutant = MUTANTS[number - 1]
            killer, seconds = run(mutant, copy)
            rows.append((number, mutant, killer, seconds))
            print(f"{number:3}  {killer:78} {seconds:6.1f} s  {mutant.name}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print()
    print("| # | file | mutant | killed by | s |")
    print("| --- | --- | --- | --- | --- |")
    for number, mutant, killer, seconds in rows:
        print(f"| {number} | {mutant.path.split('/')[-1]} | {mutant.name} | {killer} | {seconds:.0f} |")
    survivors = [row for row in rows if row[2] == "SURVIVED" or row[2].startswith("NOT APPLIED")]
    print(f"\n{len(rows) - len(survivors)} of {len(rows)} mutants killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

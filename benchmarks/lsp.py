"""Authoring-tools benchmark: prints a table of targets and medians.

1. Diagnostics after a keystroke in a 2,000-rule policy (the generated policy of
   benchmarks/compile.py): the language server's quick path (policylang.incremental: the
   edited rule compiled with the declarations, the other statements' errors kept), for a
   character typed inside a rule and for a new line inserted above half the file.
2. The whole compile and lint of that policy (what the server runs once typing pauses).
3. Lint of the example policies: in a fresh process (`policylang lint examples/`, the
   interpreter start and imports included) and in this process once imports are warm.

Run: ``python benchmarks/lsp.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from compile import big_policy  # noqa: E402

from policylang.incremental import Document  # noqa: E402
from policylang.lint import lint_text  # noqa: E402

KEYSTROKE_TARGET = 0.100
LINT_TARGET = 0.200
LINT_BASELINE: list[float] = []  # `policylang check` of the same files, fresh process: the floor


def median(work: list[float]) -> float:
    return statistics.median(work)


def keystrokes(runs: int) -> tuple[float, float]:
    text = big_policy(2000)
    document = Document("big.pol")
    document.full(text)
    lines = text.split("\n")
    middle = len(lines) // 2
    while not lines[middle].startswith("cap "):
        middle += 1
    typed, inserted = [], []
    for i in range(runs):
        edited = lines.copy()
        edited[middle] = edited[middle] + " " * (i + 1)  # a different keystroke each run
        start = time.perf_counter()
        document.update("\n".join(edited))
        typed.append(time.perf_counter() - start)
        grown = lines[:middle] + [f'cap "typed {i}": at most 1 sms per 7 days'] + lines[middle:]
        start = time.perf_counter()
        document.update("\n".join(grown))
        inserted.append(time.perf_counter() - start)
    return median(typed), median(inserted)


def whole(runs: int) -> float:
    text = big_policy(2000)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        lint_text(text, "big.pol")
        times.append(time.perf_counter() - start)
    return median(times)


def lint_examples(runs: int) -> tuple[float, float]:
    files = sorted(str(p) for p in (ROOT / "examples").glob("*.pol"))
    command = [sys.executable, "-m", "policylang.cli", "lint", *files]
    check = [sys.executable, "-m", "policylang.cli", "check", *files]
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)  # the grammar cache, once
    cold, warm, checks = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        cold.append(time.perf_counter() - start)
        start = time.perf_counter()
        subprocess.run(check, check=True, capture_output=True, cwd=ROOT)
        checks.append(time.perf_counter() - start)
    LINT_BASELINE.append(median(checks))
    texts = [(f, Path(f).read_text()) for f in files]
    for _ in range(runs):
        start = time.perf_counter()
        for name, text in texts:
            lint_text(text, name)
        warm.append(time.perf_counter() - start)
    return median(cold), median(warm)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement (the median is shown)")
    runs = parser.parse_args().runs
    typed, inserted = keystrokes(runs)
    settle = whole(max(1, runs // 3))
    cold, warm = lint_examples(runs)
    rows = [
        ("diagnostics after a keystroke in a rule, 2,000 rules", KEYSTROKE_TARGET, typed),
        ("diagnostics after a new line mid-file, 2,000 rules", KEYSTROKE_TARGET, inserted),
        ("whole compile + lint, 2,000 rules (when typing pauses)", None, settle),
        ("`policylang lint examples/*.pol`, fresh process", LINT_TARGET, cold),
        ("`policylang check examples/*.pol`, fresh process (floor)", None, LINT_BASELINE[0]),
        ("lint of the example policies, warm process", LINT_TARGET, warm),
    ]
    print(f"| {'measurement':56} | target | median |")
    print(f"| {'-' * 56} | ------ | ------ |")
    for name, target, value in rows:
        goal = f"{target * 1000:.0f} ms" if target else "-"
        flag = "" if target is None or value <= target else " (over)"
        print(f"| {name:56} | {goal:>6} | {value * 1000:.0f} ms{flag} |")


if __name__ == "__main__":
    main()

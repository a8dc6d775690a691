"""Compile-speed benchmark: prints a table of target and measured times.

1. Cold ``policylang check examples/northwind.pol``: a whole new process each run (the
   interpreter start, imports, grammar load from its cache, parse, compile, output).
2. Parse + compile of a generated policy with 2,000 rules, in this process.

3. With ``--huge``: the worst cases of issue 9, each in a fresh process (wall and CPU time,
   peak memory): 100,000 and 1,000,000 generated rules (target: linear, at most 12x from 100k
   to 1M in time and in memory), a syntax error on the last line of the 1,000,000-rule file,
   and a 10 MB quoted name (refused by the line-length limit before the parser sees it).
   ``--huge-sizes`` changes the two sizes (e.g. ``10000 100000`` on a busy machine).

Run: ``python benchmarks/compile.py [--runs N] [--huge]``. Timings are medians.
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

from policylang.compiler import compile_policy  # noqa: E402
from policylang.parser import parse  # noqa: E402

CHECK_TARGET = 0.300
BIG_TARGET = 1.0

BIG_HEAD = """policy "generated"
timezone "Europe/London"
channels  email, sms, phone, letter, push
teams     t0, t1, t2, t3, t4, t5, t6, t7
purposes  marketing, servicing, debt, transactional
outcomes  conversation, no_answer
events    complaint
customer
  timezone   zone
  status     one of active, dormant, closed
  dnc        flag
  age        number
  opted_out  set of channel
  owner      team
owner is customer.owner
precedence t0 > owner > t1 > t2
"""

BODIES = [
    'cap "r{i}": at most {n} marketing phone by t{t} per {n} days for each campaign',
    'capacity "r{i}": at most {n}00 phone by t{t} per calendar week',
    'quiet "r{i}": no marketing sms outside 08:00-21:00',
    'quiet "r{i}": no debt phone within {n} consecutive days after debt phone with outcome conversation',
    'quiet "r{i}": no marketing on sunday, 2026-12-25',
    'exclude "r{i}": marketing when customer.dnc or (customer.age < 18 and customer.status is not active)',
    'exclude "r{i}": any except transactional when channel in customer.opted_out',
    'require "r{i}": debt sms after debt email at least {n} days before, within 30 days',
    'exclusive "r{i}": marketing by t{t} per {n} days',
    'exempt "r{i}": transactional from cap, quiet',
]


def big_policy(rules: int = 2000) -> str:
    lines = [BIG_HEAD]
    for i in range(rules):
        lines.append(BODIES[i % len(BODIES)].format(i=i, n=i % 9 + 1, t=i % 8))
    return "\n".join(lines) + "\n"


def cold_check(runs: int) -> float:
    policy = ROOT / "examples" / "northwind.pol"
    command = [sys.executable, "-m", "policylang.cli", "check", str(policy)]
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)  # warm the grammar cache once
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def big_compile(runs: int) -> tuple[float, float]:
    text = big_policy()
    parse_times, total_times = [], []
    for _ in range(runs):
        start = time.perf_counter()
        parse(text, "generated.pol")
        parse_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        policy = compile_policy(text, "generated.pol")
        total_times.append(time.perf_counter() - start)
        assert len(policy.rules) == 2000
    return statistics.median(parse_times), statistics.median(total_times)


HUGE_CHILD = """
import resource, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
from compile import big_policy
from policylang.compiler import compile_policy
from policylang.errors import PolicylangError
case = {case!r}
if case.startswith("rules-"):
    text = big_policy(int(case[6:]))
elif case.startswith("error-"):
    text = big_policy(int(case[6:])) + "cap oops\\n"
else:
    text = 'policy "p"\\nchannels email\\nteams t\\npurposes m\\ncap "' + "x" * 10_000_000 + '": at most 1 email per 1 day\\n'
start, cpu = time.perf_counter(), time.process_time()
try:
    result = f"{{len(compile_policy(text, 'huge.pol').rules):,}} rules"
except PolicylangError as exc:
    result = "refused: " + str(exc.errors[0].span) + " " + str(exc.errors[0].message)[:60]
took, cpu = time.perf_counter() - start, time.process_time() - cpu
print(f"{{took:.2f}} {{cpu:.2f}} {{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}} {{result}}")
"""


def huge(small: int = 100_000, large: int = 1_000_000) -> None:
    """Issue 9's size cases, each in its own process: seconds, peak MiB, what came out, and
    the large/small ratios (target: at most 12x for 10x the rules)."""
    print(f"{'case':<24} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9}  result")
    measured: dict[str, tuple[float, int]] = {}
    for case in (f"rules-{small}", f"rules-{large}", f"error-{large}", "name-10MB"):
        code = HUGE_CHILD.format(root=str(ROOT), bench=str(ROOT / "benchmarks"), case=case)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{case:<24} failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        seconds, cpu, peak, result = done.stdout.strip().split(" ", 3)
        measured[case] = (float(cpu), int(peak))
        print(f"{case:<24} {float(seconds):>8.2f} {float(cpu):>8.2f} {int(peak):>9,}  {result}")
    if f"rules-{small}" in measured and f"rules-{large}" in measured:
        (cpu_s, peak_s), (cpu_l, peak_l) = measured[f"rules-{small}"], measured[f"rules-{large}"]
        limit = 1.2 * large / small
        for what, ratio in (("CPU time", cpu_l / cpu_s), ("peak memory", peak_l / peak_s)):
            ok = "yes" if ratio <= limit else "NO"
            print(f"{what} {large:,} / {small:,} rules: {ratio:.1f}x (target <= {limit:.0f}x)  {ok}")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--runs", type=int, default=10, help="cold check runs (default 10)")
    options.add_argument("--big-runs", type=int, default=3, help="2,000-rule compile runs (default 3)")
    options.add_argument("--huge", action="store_true", help="only the 100k/1M-rule, error and 10 MB name cases")
    options.add_argument("--huge-sizes", type=int, nargs=2, default=(100_000, 1_000_000), metavar=("SMALL", "LARGE"),
                         help="the two rule counts of --huge (default 100000 1000000)")
    args = options.parse_args()
    if args.huge:
        huge(*args.huge_sizes)
        return
    check = cold_check(args.runs)
    parse_only, whole = big_compile(args.big_runs)
    rows = [
        ("cold `policylang check examples/northwind.pol`", CHECK_TARGET, check),
        ("parse + compile, 2,000 rules", BIG_TARGET, whole),
        ("  of which parse", None, parse_only),
    ]
    print(f"{'measure':<50} {'target':>9} {'measured':>9}  ok")
    for name, target, measured in rows:
        target_text = f"{target * 1000:.0f} ms" if target else ""
        ok = "" if target is None else ("yes" if measured <= target else "NO")
        print(f"{name:<50} {target_text:>9} {measured * 1000:>6.0f} ms  {ok}")


if __name__ == "__main__":
    main()

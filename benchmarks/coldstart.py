"""Cold start of the ``policylang`` command, beside ``python3 -c pass`` (issue 11, item 3).

Run: python benchmarks/coldstart.py [--runs N] [--against SOURCE_TREE]

Each command runs N times (default 15) in a fresh process; the table gives the median wall
milliseconds and the median CPU milliseconds (user + system of the child) of each, and the
ratio to ``python3 -c pass`` measured in the same loop. The commands are interleaved run by
run, so a change of load hits every row alike.

Byte code: an installed package has its ``.pyc`` files (pip compiles them on install), so
the children run with ``PYTHONDONTWRITEBYTECODE`` unset and ``PYTHONPYCACHEPREFIX`` in a
temporary folder, after one warm-up run of each command. The warm-up also fills the cache of
compiled policies (policylang.compiled, in a temporary folder here): the first rows are the
everyday case, a policy run before; the last two turn the cache off (a policy's first run,
parsed and compiled). (With ``PYTHONDONTWRITEBYTECODE=1``
every module of policylang would be compiled from source on every start, about 150 ms.)

``--against DIR`` adds the same commands run from another source tree (for example
``git archive main | tar -x -C /tmp/base``) through ``PYTHONPATH``, interleaved with this
one: the before/after of a change, measured side by side.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# what `decide` cannot do without once the policy is compiled: its classes and the policy
UNPICKLE = ("import os, pickle, sys; from policylang import compiled; "
            "pickle.load(open(os.path.join(compiled.cache_folder(), "
            "compiled.cache_key(open(sys.argv[1]).read(), sys.argv[1]) + '.pickle'), 'rb'))")


def commands() -> list[tuple[str, list[str], bool]]:
    """(name, command, whether the compiled-policy cache is off for it)."""
    script = Path(sys.executable).with_name("policylang")
    tool = [str(script)] if script.exists() else [sys.executable, "-m", "policylang.launch"]
    ada = ROOT / "examples" / "ada"
    policy = str(ROOT / "examples" / "northwind.pol")
    check = [*tool, "check", policy]
    decide = [*tool, "decide", policy, "--customer", str(ada / "customer.json"), "--ledger", str(ada / "ledger.jsonl"),
              "--request", str(ada / "request.json"), "--json"]
    return [
        ("python3 -c pass", [sys.executable, "-c", "pass"], False),
        ("policylang --version", [*tool, "--version"], False),
        ("policylang check examples/northwind.pol", check, False),
        ("policylang decide --json (README example)", decide, False),
        ("  the same check, compiled-policy cache off", check, True),
        ("  the same decide, compiled-policy cache off", decide, True),
        # the floor under the two commands: the imports a compiled policy cannot do without
        ("floor: python3 -c 'import attrs'", [sys.executable, "-c", "import attrs"], False),
        ("floor: import the policy classes (rules)", [sys.executable, "-c", "import policylang.rules"], False),
        ("floor: ... and unpickle the compiled policy", [sys.executable, "-c", UNPICKLE, policy], False),
    ]


def run_once(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT, env=env)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (median reported)")
    parser.add_argument("--against", type=Path, help="another source tree, run interleaved through PYTHONPATH")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        base = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
        base["PYTHONPYCACHEPREFIX"] = cache
        base["POLICYLANG_CACHE_DIR"] = os.path.join(cache, "compiled")  # filled by the warm-up run
        trees: list[tuple[str, dict[str, str]]] = [("this tree", base)]
        if args.against is not None:
            trees.append((f"{args.against}", {**base, "PYTHONPATH": str(args.against.resolve())}))
        rows = [(tree, {**env, "POLICYLANG_CACHE_DIR": ""} if off else env, name, command)
                for tree, env in trees for name, command, off in commands()
                if tree == "this tree" or not name.startswith("floor")]
        for _, env, _, command in rows:  # warm-up: writes the byte code, fills the grammar caches
            run_once(command, env)
        taken: dict[int, list[tuple[float, float]]] = {i: [] for i in range(len(rows))}
        for _ in range(args.runs):
            for i, (_, env, _, command) in enumerate(rows):
                taken[i].append(run_once(command, env))
    load = os.getloadavg()[0]
    print(f"Cold start, median of {args.runs} runs, interleaved (load average {load:.1f} on {os.cpu_count()} cores)")
    print(f"  {'command':<45} {'wall ms':>8} {'cpu ms':>7} {'wall / pass':>12}")
    for tree, _ in trees:
        if len(trees) > 1:
            print(f" {tree}")
        pass_wall = None
        for i, (row_tree, _, name, _) in enumerate(rows):
            if row_tree != tree:
                continue
            wall = statistics.median(w for w, _ in taken[i])
            cpu = statistics.median(c for _, c in taken[i])
            pass_wall = pass_wall or wall
            print(f"  {name:<45} {wall:>8.0f} {cpu:>7.0f} {wall / pass_wall:>11.1f}x")


if __name__ == "__main__":
    main()

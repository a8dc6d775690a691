"""Cold start of the ``policylang`` command, beside ``python3 -c pass`` (issue 11, item 3).

Run: python benchmarks/coldstart.py [--runs N] [--against SOURCE_TREE] [--against-venv VENV]

Each command runs N times (default 15) in a fresh process; the table gives the median wall
milliseconds and the median CPU milliseconds (user + system of the child) of each, and the
ratio to ``python3 -c pass`` measured in the same loop. The commands are interleaved run by
run, so a change of load hits every row alike.

Byte code: an installed package has its ``.pyc`` files (pip compiles them on install), so
the children run with ``PYTHONDONTWRITEBYTECODE`` unset and ``PYTHONPYCACHEPREFIX`` in a
temporary folder, after one warm-up run of each command. The warm-up also fills the caches
(in a temporary folder here): compiled policies and check lines (policylang.compiled), the
grammar's tables, and the generated ``__init__`` methods (policylang.codecache). The first rows are the
everyday case, a policy run before; "edited policy" rows give each run a policy text no run
has seen (the first check or decide after an edit: parsed and compiled, the other caches
warm); "every cache off" rows set ``POLICYLANG_CACHE_DIR`` empty. The floor rows are the
imports a cold decide cannot do without (the standard modules alone, then with policylang's)
and the unpickling of the policy; ``import attrs`` is there for scale (a decide no longer
imports it). (With
``PYTHONDONTWRITEBYTECODE=1`` every module of policylang would be compiled from source on
every start, about 150 ms.)

``--against DIR`` adds the same commands run from another source tree (for example
``git archive main | tar -x -C /tmp/base``) through ``PYTHONPATH``, interleaved with this
one: the before/after of a change, measured side by side. ``--against-venv VENV`` does the same
with another virtual environment's interpreter and its installed ``policylang`` command (for
example main's venv beside a branch's): each tree has its own caches.
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


# the floor under a cold decide: what the command cannot do without once the policy is compiled
# and attrs' methods are kept (policylang.codecache, installed as launch.py does)
WARM_CODE = ("import gc; gc.disable(); from policylang import codecache, compiled; "
             "codecache.install(compiled._folder_name()); ")
DECIDE_MODULES = WARM_CODE + "import policylang.commands.decide"
UNPICKLE = (WARM_CODE + "import os, _pickle, sys; import policylang.commands.decide; "
            "_pickle.load(open(os.path.join(compiled._folder_name(), "
            "compiled.cache_key(open(sys.argv[1]).read(), sys.argv[1]) + '.pickle'), 'rb'))")
# the standard modules a cached decide imports (no attrs, orjson or inspect, and since issue 11's
# third session no argparse, gettext, locale, typing, threading or contextlib: see
# tests/test_coldstart.py), without
# anything of policylang (their regular expressions compiled here: a decide keeps them)
STDLIB = "import _pickle, bisect, datetime, json, re, zoneinfo"
FRESH = "{fresh}"  # replaced by a policy file whose text no run has seen: a first check or decide


def commands(python: str = sys.executable) -> list[tuple[str, list[str], bool]]:
    """(name, command, whether the caches are off for it), run by ``python``'s environment."""
    script = Path(python).with_name("policylang")
    tool = [str(script)] if script.exists() else [python, "-m", "policylang.launch"]
    ada = ROOT / "examples" / "ada"
    policy = str(ROOT / "examples" / "northwind.pol")
    inputs = ["--customer", str(ada / "customer.json"), "--ledger", str(ada / "ledger.jsonl"),
              "--request", str(ada / "request.json"), "--json"]
    check = [*tool, "check", policy]
    decide = [*tool, "decide", policy, *inputs]
    return [
        ("python3 -c pass", [python, "-c", "pass"], False),
        ("policylang --version", [*tool, "--version"], False),
        ("policylang check examples/northwind.pol", check, False),
        ("policylang decide --json (README example)", decide, False),
        # a policy edited since its last run: compiled (parser, grammar tables and attrs'
        # methods still from their caches): what a user gets on the first run after an edit
        ("  check of an edited policy (first check)", [*tool, "check", FRESH], False),
        ("  decide of an edited policy (first decide)", [*tool, "decide", FRESH, *inputs], False),
        ("  the same check, every cache off", check, True),
        ("  the same decide, every cache off", decide, True),
        ("floor: python3 -c 'import attrs'", [python, "-c", "import attrs"], False),
        ("floor: the standard modules decide imports", [python, "-c", STDLIB], False),
        ("floor: import decide's modules (kept code)", [python, "-c", DECIDE_MODULES], False),
        ("floor: ... and unpickle the compiled policy", [python, "-c", UNPICKLE, policy], False),
    ]


_EDITS = [0]


def fresh_policy(folder: str) -> str:
    """A copy of northwind.pol with a comment no earlier run has seen (the cache key changes)."""
    _EDITS[0] += 1
    path = os.path.join(folder, f"edited{_EDITS[0]}.pol")
    text = (ROOT / "examples" / "northwind.pol").read_text(encoding="utf-8")
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(f"{text}\n# edit {_EDITS[0]}\n")
    return path


def run_once(command: list[str], env: dict[str, str], folder: str) -> tuple[float, float]:
    """Wall and CPU milliseconds of one run of ``command``."""
    if FRESH in command:
        command = [fresh_policy(folder) if part == FRESH else part for part in command]
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
    parser.add_argument("--against-venv", type=Path,
                        help="another virtual environment (its python and policylang command), run interleaved")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        base = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
        base["PYTHONPYCACHEPREFIX"] = cache
        base["POLICYLANG_CACHE_DIR"] = os.path.join(cache, "compiled")  # filled by the warm-up run
        trees: list[tuple[str, dict[str, str], str]] = [("this tree", base, sys.executable)]
        if args.against is not None:
            trees.append((f"{args.against}", {**base, "PYTHONPATH": str(args.against.resolve()),
                                              "POLICYLANG_CACHE_DIR": os.path.join(cache, "against")},
                          sys.executable))
        if args.against_venv is not None:
            python = str(args.against_venv.resolve() / "bin" / "python")
            trees.append((f"{args.against_venv} (venv)", {**base, "POLICYLANG_CACHE_DIR": os.path.join(cache, "venv")},
                          python))
        rows = [(tree, {**env, "POLICYLANG_CACHE_DIR": ""} if off else env, name, command)
                for tree, env, python in trees for name, command, off in commands(python)
                if tree == "this tree" or not name.startswith("floor")]
        for _, env, _, command in rows:  # warm-up: writes the byte code, fills the grammar caches
            run_once(command, env, cache)
        taken: dict[int, list[tuple[float, float]]] = {i: [] for i in range(len(rows))}
        for _ in range(args.runs):
            for i, (_, env, _, command) in enumerate(rows):
                taken[i].append(run_once(command, env, cache))
    load = os.getloadavg()[0]
    print(f"Cold start, median of {args.runs} runs, interleaved (load average {load:.1f} on {os.cpu_count()} cores)")
    print(f"  {'command':<45} {'wall ms':>8} {'cpu ms':>7} {'wall / pass':>12}")
    for tree, _, _ in trees:
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
    print("Targets (issue 11): --version at most 2x python3 -c pass; check and decide --json at most 120 ms on an")
    print("idle machine (there python3 -c pass takes about 23 ms: 5.2x); the edited-policy rows are a first run.")


if __name__ == "__main__":
    main()

"""A well-formed ``policylang decide`` is read without argparse (issue 11, cold start).

``commands/decide.quick_args`` reads the plain spelling of decide's options and answers None
for anything else, which argparse then reads as before. These tests hold that whatever it
reads, it reads as argparse does (the parser ``cli.build_parser`` makes, on generated
command lines), that it takes the everyday forms, and that the program (``launch.py``, which
also ends the process early in ``launch.leave``) prints the same bytes and exits with the
same status as the argparse path (``python -m policylang.cli``) for good and bad input.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policylang.cli import build_parser
from policylang.commands.decide import quick_args, run

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "examples" / "northwind.pol"
ADA = ROOT / "examples" / "ada"

OPTIONS = ["--customer", "--ledger", "--request", "--scope", "--format", "--json"]
ODD = ["--cust", "--customer=c.json", "--format=json", "-h", "--help", "--", "--jso", "--version", "--other", "-c",
       "--led", "--ledger="]
VALUES = ["p.pol", "c.json", "l.jsonl", "r.json", "-", "", "json", "text", "xml", "cards", "a b", "-x", "-1",
          "--json", "-a b", "decide"]


def argparse_reading(words: list[str]) -> dict[str, object] | None:
    """What cli.main's parser makes of ``policylang decide WORDS``, or None when it refuses
    them (an error, --help, unrecognized arguments)."""
    parser = build_parser("decide")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            args, unknown = parser.parse_known_args(["decide", *words])
        except SystemExit:
            return None
    return None if unknown else vars(args)


def quick_reading(words: list[str]) -> dict[str, object] | None:
    found = quick_args(words)
    return None if found is None else vars(found)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(OPTIONS + ODD + VALUES), max_size=12))
def test_what_quick_args_reads_argparse_reads_alike(words: list[str]) -> None:
    quick = quick_reading(words)
    if quick is not None:
        assert quick == argparse_reading(words)


@settings(max_examples=300, deadline=None)
@given(st.permutations([["--customer", "c.json"], ["--request", "r.json"], ["--ledger", "l.jsonl"], ["--json"],
                        ["--scope", "cards"], ["--format", "text"], ["--request", "-"]]),
       st.integers(0, 7), st.integers(3, 7), st.sampled_from(["p.pol", "-"]))
def test_well_formed_lines_are_read_without_argparse(pairs: list[list[str]], at: int, size: int, policy: str) -> None:
    """Options in any order (some twice) with the policy anywhere between them: read, and as argparse does."""
    pairs = pairs[:size]
    if not {"--customer", "--request"} <= {pair[0] for pair in pairs}:
        pairs = [["--customer", "c.json"], ["--request", "r.json"], *pairs]
    line = [w for pair in pairs[:at] for w in pair] + [policy] + [w for pair in pairs[at:] for w in pair]
    quick = quick_reading(line)
    assert quick is not None, line
    assert quick == argparse_reading(line)


@pytest.mark.parametrize("words", [
    ["p.pol", "--customer", "c", "--request", "r", "--json"],
    ["p.pol", "--customer", "c", "--ledger", "l", "--request", "r"],
    ["--request", "r", "--customer", "-", "p.pol", "--format", "json"],
    ["p.pol", "--customer", "c", "--request", "r", "--scope", "growth", "--json"],
    ["p.pol", "--customer", "c", "--customer", "c2", "--request", "r"],  # the last one wins, as in argparse
])
def test_the_everyday_forms_are_read(words: list[str]) -> None:
    quick = quick_reading(words)
    assert quick is not None and quick == argparse_reading(words)
    assert quick["run"] is run and quick["command"] == "decide"


@pytest.mark.parametrize("words", [
    [], ["--help"], ["p.pol", "-h"], ["p.pol", "--customer", "c"], ["--customer", "c", "--request", "r"],
    ["p.pol", "--cust", "c", "--request", "r"], ["p.pol", "--customer=c", "--request", "r"],
    ["p.pol", "--customer", "c", "--request", "r", "--format", "xml"], ["p.pol", "q.pol", "--customer", "c", "--request", "r"],
    ["p.pol", "--customer", "c", "--request", "r", "--ledger"], ["p.pol", "--customer", "-x", "--request", "r"],
    ["p.pol", "--customer", "c", "--request", "r", "--", "x"], ["p.pol", "--customer", "c", "--request", "r", "--bogus"],
])
def test_anything_else_goes_to_argparse(words: list[str]) -> None:
    assert quick_args(words) is None


# ---- the program: same bytes and status as the argparse path --------------------------------------------------

def both(arguments: list[str], cwd: Path, stdin: str = "", cache: str = "") -> None:
    """Run ``decide ARGUMENTS`` through launch.py (quick path, early exit) and through cli.main
    (argparse, the interpreter's own exit): stdout, stderr and status must be equal."""
    env = {**os.environ, "POLICYLANG_CACHE_DIR": cache, "COLUMNS": "100"}
    env.pop("POLICYLANG_DEBUG", None)
    runs = [subprocess.run([sys.executable, "-m", module, "decide", *arguments], input=stdin.encode(), cwd=cwd,
                           capture_output=True, env=env) for module in ("policylang.launch", "policylang.cli")]
    quick, slow = runs
    assert (quick.returncode, quick.stdout, quick.stderr) == (slow.returncode, slow.stdout, slow.stderr), arguments
    return None


GOOD = ["--customer", str(ADA / "customer.json"), "--ledger", str(ADA / "ledger.jsonl"),
        "--request", str(ADA / "request.json")]


@pytest.mark.parametrize("name, arguments, stdin", [
    ("json", [str(POLICY), *GOOD, "--json"], ""),
    ("text", [str(POLICY), *GOOD], ""),
    ("scoped json", [str(POLICY), *GOOD, "--scope", "growth", "--json"], ""),
    ("unknown team", [str(POLICY), *GOOD, "--scope", "nobody", "--json"], ""),
    ("no ledger", [str(POLICY), "--customer", str(ADA / "customer.json"), "--request", str(ADA / "request.json"),
                   "--json"], ""),
    ("request on stdin", [str(POLICY), *GOOD[:4], "--request", "-", "--json"],
     '{"team": "growth", "channel": "email", "purpose": "marketing", "at": "2026-11-24T10:00:00Z"}'),
    ("bad request", [str(POLICY), *GOOD[:4], "--request", "-", "--json"], '{"team": "cards", "channel": "fax"}'),
    ("no offset", [str(POLICY), *GOOD[:4], "--request", "-", "--json"],
     '{"team": "cards", "channel": "phone", "purpose": "marketing", "at": "2026-11-24T10:00:00"}'),
    ("invalid json", [str(POLICY), *GOOD[:4], "--request", "-", "--json"], '{"team": '),
    ("bad ledger", [str(POLICY), "--customer", str(ADA / "customer.json"), "--ledger", "-", "--request",
                    str(ADA / "request.json"), "--json"], '{"at": "2026-11-23T15:00:00Z", "channel": "pigeon"}\n'),
    ("missing file", [str(POLICY), *GOOD[:4], "--request", "nowhere.json", "--json"], ""),
    ("two stdins", [str(POLICY), "--customer", "-", "--request", "-", "--json"], ""),
    ("policy on stdin", ["-", *GOOD, "--json"], POLICY.read_text(encoding="utf-8")),
    ("broken policy", ["-", *GOOD, "--json"], "policy broken\nrule x: nonsense\n"),
    ("usage: missing option", [str(POLICY), "--customer", str(ADA / "customer.json"), "--json"], ""),
    ("usage: bad format", [str(POLICY), *GOOD, "--format", "xml"], ""),
    ("help", ["--help"], ""),
])
def test_the_program_answers_as_the_argparse_path(tmp_path_factory: pytest.TempPathFactory, name: str,
                                                  arguments: list[str], stdin: str) -> None:
    cache = tmp_path_factory.getbasetemp() / "quick-args-cache"  # shared: compiled by the first case, then kept
    both(arguments, tmp_path_factory.mktemp("run"), stdin, str(cache))


@pytest.mark.parametrize("arguments", [[str(POLICY), *GOOD, "--json"], ["-", *GOOD, "--json"]], ids=["file", "stdin"])
def test_the_program_answers_alike_with_every_cache_off(tmp_path: Path, arguments: list[str]) -> None:
    both(arguments, tmp_path, POLICY.read_text(encoding="utf-8"))


@pytest.mark.parametrize("unbuffered", [True, False])
@pytest.mark.parametrize("ledger", [True, False])  # the answer's length: written whole by the flush, or not
def test_a_closed_output_pipe_ends_as_it_always_did(tmp_path: Path, unbuffered: bool, ledger: bool) -> None:
    """Standard output whose reader is gone. Buffered: launch.leave's flush fails and the
    interpreter's exit reports it as it does without the early exit (same message, status
    120); unbuffered: the write fails in the command, status 0 as before."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env.update({"POLICYLANG_CACHE_DIR": str(tmp_path / "cache"), **({"PYTHONUNBUFFERED": "1"} if unbuffered else {})})
    results = []
    for module in ("policylang.launch", "policylang.cli", "policylang.launch"):
        read, write = os.pipe()
        os.close(read)
        try:
            done = subprocess.run([sys.executable, "-m", module, "decide", str(POLICY), *(GOOD if ledger else GOOD[:2] + GOOD[4:]),
                                   "--json"], stdout=write, stderr=subprocess.PIPE, cwd=tmp_path, env=env)
        finally:
            os.close(write)
        results.append((done.returncode, done.stderr))
    assert results[0] == results[1] == results[2]
    assert results[0][0] == (0 if unbuffered else 120), results[0]
    assert unbuffered or b"BrokenPipeError" in results[0][1]


def test_atexit_functions_still_run(tmp_path: Path) -> None:
    script = ("import atexit, sys; sys.argv = ['policylang', *sys.argv[1:]]\n"
              "atexit.register(lambda: print('at exit', flush=True))\n"
              "from policylang.launch import main\n"
              "raise SystemExit(main())\n")
    done = subprocess.run([sys.executable, "-c", script, "decide", str(POLICY), *GOOD, "--json"], capture_output=True,
                          text=True, cwd=tmp_path, env={**os.environ, "POLICYLANG_CACHE_DIR": ""})
    assert done.returncode == 0 and done.stdout.endswith("}\nat exit\n"), done.stdout[-200:]

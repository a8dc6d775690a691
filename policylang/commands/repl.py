"""``policylang repl [POLICY]``: the what-if REPL (see :mod:`policylang.repl`)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``policylang repl``."""
    p = sub.add_parser(
        "repl",
        help="what-if REPL: type scenario statements, ask questions",
        description="The what-if REPL: type scenario statements (docs/scenarios.md), ask, why, when, save.",
        epilog="exit status: 0 the session ended normally; 2 the policy file named does not exist, "
        "or a usage error. A policy that does not compile is reported, and `reload` loads it once fixed.",
    )
    p.add_argument("policy", nargs="?", metavar="POLICY", help="the policy file to load")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Start the REPL; a policy file that does not exist is bad input (status 2)."""
    from pathlib import Path

    from policylang.cli import FileProblem
    from policylang.repl import run_repl

    if args.policy is not None and not Path(args.policy).is_file():
        raise FileProblem(f"no policy file `{args.policy}`")
    return run_repl(args.policy)

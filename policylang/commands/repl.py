"""``policylang repl [POLICY]``: the what-if REPL (see :mod:`policylang.repl`)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``policylang repl``."""
    p = sub.add_parser("repl", help="what-if REPL: type scenario statements, ask questions")
    p.add_argument("policy", nargs="?", metavar="POLICY", help="the policy file to load")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from policylang.repl import run_repl

    return run_repl(args.policy)

"""``policylang graph POLICY [--format mermaid|dot] [-o FILE]``: draw the rule graph.

A policy that does not compile is bad input (its errors are printed, exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from policylang.cli import EXIT_BAD_INPUT, EXIT_OK, read_text, stderr
from policylang.compiler import compile_policy
from policylang.graph import FORMATS, draw


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``graph`` subcommand."""
    p = sub.add_parser(
        "graph",
        help="draw the rule graph (Mermaid or Graphviz DOT)",
        description="Draw which rules govern which traffic, as Mermaid or Graphviz DOT.",
        epilog="exit status: 0 the drawing was written; 2 the policy cannot be read or does not compile, "
        "the output cannot be written, or a usage error.",
    )
    p.add_argument("policy", metavar="POLICY", help="the policy file (- for standard input)")
    p.add_argument("--format", choices=FORMATS, default="mermaid", help="drawing language (default mermaid)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the drawing here instead of stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Compile the policy and print (or write) its drawing."""
    policy = compile_policy(read_text(args.policy), "<stdin>" if args.policy == "-" else args.policy)
    drawing = draw(policy, args.format)
    if args.output:
        try:
            Path(args.output).write_text(drawing, encoding="utf-8")
        except OSError as exc:
            stderr().print(f"{args.output}: cannot be written ({exc.strerror})")
            return EXIT_BAD_INPUT
    else:
        print(drawing, end="")
    return EXIT_OK

"""``policylang diff OLD.pol NEW.pol [--ledger FILE [--customers FILE]] [--format text|json]``.

Exit status: 0 whether or not the policies differ, 2 when a file cannot be read, a policy
does not compile, a ledger or customer line is bad, or a usage error.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from policylang.cli import EXIT_OK, read_text, stdout

EPILOG = """\
exit status: 0 the difference was shown (none is a difference too); 2 a file cannot be read,
a policy does not compile, a bad ledger or customer line (named by file and line), or a usage error.
Rules are matched by name, renamed rules by body. Without --ledger the diff says which traffic
each change touches; with --ledger every recorded contact is decided under both versions
(with the customer's earlier ledger) and the verdicts that change are counted per rule and team.
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``policylang diff``."""
    p = sub.add_parser(
        "diff",
        help="what changed between two versions of a policy, and what it does to recorded traffic",
        description="Say what changed between two versions of a policy, in plain words.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("old", metavar="OLD.pol", help="the policy as it is deployed")
    p.add_argument("new", metavar="NEW.pol", help="the changed policy")
    p.add_argument("--ledger", metavar="FILE",
                   help="a JSONL ledger (lines with `customer`) to replay under both versions")
    p.add_argument("--customers", metavar="FILE",
                   help="JSONL customer records (with `id`) for the replay; missing customers have no attributes")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text for people (default) or json for programs")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Compile both versions, print their difference (and the replay impact)."""
    from policylang.compiler import compile_policy
    from policylang.inputs import read_jsonl
    from policylang.policydiff import diff_policies, replay

    old = compile_policy(read_text(args.old), args.old)
    new = compile_policy(read_text(args.new), args.new)
    changes = diff_policies(old, new)
    impact = None
    if args.customers and not args.ledger:
        from policylang.cli import FileProblem

        raise FileProblem("--customers needs --ledger: the customers are those of a ledger to replay")
    if args.ledger:
        ledger = list(read_jsonl(read_text(args.ledger), args.ledger))
        customers = list(read_jsonl(read_text(args.customers), args.customers)) if args.customers else []
        impact = replay(old, new, ledger, customers, args.ledger, args.customers or "<customers>")
    out = stdout()
    if args.format == "json":
        document: dict[str, Any] = {"old": args.old, "new": args.new,
                                    "changes": [c.to_json() for c in changes],
                                    "impact": impact.to_json() if impact else None}
        out.file.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        return EXIT_OK
    if not changes:
        out.file.write("no change in what the policies say\n")
    for change in changes:
        out.file.write(f"- {change.text}\n")
        if change.traffic:
            out.file.write(f"    traffic: {change.traffic}\n")
    if impact is not None:
        out.file.write(
            f"replay of {args.ledger}: {impact.contacts} recorded contacts of {impact.customers} customers; "
            f"{impact.newly_denied} would now be denied, {impact.newly_allowed} would now be allowed\n"
        )
        for rule, count in impact.by_rule.items():
            out.file.write(f"    rule \"{rule}\": {count}\n")
        for team, count in impact.by_team.items():
            out.file.write(f"    team {team}: {count}\n")
    return EXIT_OK

"""``policylang decide POLICY --customer C --ledger L --request R [--json]`` (section 10)."""

from __future__ import annotations

import json
import re

from policylang.cli import EXIT_OK, FileProblem, read_data, read_text, stdout, write_text
from policylang.compiled import compile_cached
from policylang.errors import InputError, PolicylangError
from policylang.history import History
from policylang.ingest import history_from_jsonl
from policylang.inputs import customer_from_json, load_json, request_from_json, where
from policylang.records import Entry
from policylang.render import decision_panel, trace_table
from policylang.rules import Policy
from policylang.slotted import evolve
from policylang.source import Source, Span

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    import argparse  # here, not at the top: a well-formed decide is read by quick_args

    p = sub.add_parser(
        "decide",
        help="decide one request for one customer against a ledger",
        description="Decide one request for one customer against a ledger (section 10 of docs/language.md).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("policy", metavar="POLICY", help="the policy file (- for standard input)")
    p.add_argument("--customer", required=True, metavar="JSON",
                   help="the customer record, a JSON object (- for standard input)")
    p.add_argument("--ledger", metavar="JSONL",
                   help="the customer's ledger, one JSON object a line (- for standard input)")
    p.add_argument("--request", required=True, metavar="JSON",
                   help="the request, a JSON object (- for standard input)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text: a panel and the trace (default); json: the decision as one JSON object")
    p.add_argument("--json", dest="format", action="store_const", const="json", help="the same as --format json")
    p.add_argument("--scope", metavar="TEAM",
                   help="show the decision as TEAM may see it: other teams' contacts only counted (default: full)")
    p.set_defaults(run=run)


# ---- the command line of a well-formed decide, without argparse ------------------------------
#
# argparse with gettext and locale was about a tenth of a cold `policylang decide --json`
# (issue 11): launch.py asks quick_args first. It reads only the plainest spelling of
# add_parser's options (each option whole, its value in the next word, the policy once) and
# answers None for anything else (--help, --opt=value, an abbreviation, `--`, an unknown or
# missing option, a value that looks like an option, a --format argparse would refuse), which
# then goes to argparse as before: so every message, usage line and exit status is
# argparse's. tests/test_decide_quick_args.py checks it against add_parser's parser.

VALUED = {"--customer": "customer", "--ledger": "ledger", "--request": "request", "--scope": "scope",
          "--format": "format"}
FORMATS = ("text", "json")


class QuickArgs:
    """The attributes argparse's ``Namespace`` would have for ``policylang decide ...``."""

    def __init__(self, policy: str, customer: str, ledger: str | None, request: str, format: str,
                 scope: str | None) -> None:
        self.command = "decide"
        self.policy, self.customer, self.ledger, self.request = policy, customer, ledger, request
        self.format, self.scope, self.run = format, scope, run

    def __repr__(self) -> str:
        return f"QuickArgs({vars(self)!r})"


def quick_args(words: list[str]) -> QuickArgs | None:
    """``policylang decide WORDS...`` read as :func:`add_parser`'s parser reads it, or None
    when the words are not in the plain form this reads (argparse then reads them)."""
    found: dict[str, str | None] = {"customer": None, "ledger": None, "request": None, "scope": None}
    policy = None
    form = "text"
    position = 0
    while position < len(words):
        word = words[position]
        position += 1
        if word == "--json":
            form = "json"
        elif word in VALUED:
            if position == len(words):
                return None
            value = words[position]
            position += 1
            if value.startswith("-") and value != "-":  # argparse may read it as an option
                return None
            if word == "--format":
                if value not in FORMATS:
                    return None
                form = value
            else:
                found[VALUED[word]] = value
        elif word.startswith("-") and word != "-":
            return None
        elif policy is None:
            policy = word
        else:
            return None
    customer, request = found["customer"], found["request"]
    if policy is None or customer is None or request is None:
        return None
    return QuickArgs(policy, customer, found["ledger"], request, form, found["scope"])


EPILOG = """\
exit status: 0 a decision was made, allowed or denied; 2 bad input (a file that cannot be
read, invalid JSON, an unknown name, a wrong type, an instant without an offset, a policy
that does not compile) or a usage error.
Only one of the file options may be - (standard input can be read once).
"""


def load_policy(path: str) -> Policy:
    """Read and compile a policy for a command that needs a valid one (``-``: standard input).

    Through the cache of compiled policies (:mod:`policylang.compiled`): a policy decided
    before is not parsed or compiled again, nor the compiler imported.
    """
    return compile_cached(read_text(path), "<stdin>" if path == "-" else path)


def read_object(path: str) -> tuple[str, object]:
    text = read_text(path)
    return text, load_json(text, path)


def locate(error: InputError, text: str) -> InputError:
    """Point a whole-file error at the line and column of the field it names."""
    error.source = Source(error.span.file, text)
    if error.span.line:
        return error
    found = re.search(r"(?:field|attribute) `([^`]+)`", error.message)
    if found:
        key = re.search(r'"' + re.escape(found.group(1)) + r'"\s*:', text)
        if key:
            line = text.count("\n", 0, key.start()) + 1
            column = key.start() - (text.rfind("\n", 0, key.start()) + 1) + 1
            error.span = Span.point(error.span.file, line, column, len(found.group(1)) + 2)
            return error
    error.span = evolve(error.span, line=1, column=1, end_line=1, end_column=2)
    return error


def run(args: argparse.Namespace | QuickArgs) -> int:
    """Decide and print; see EPILOG for the exit status."""
    stdin_users = [name for name in (args.policy, args.customer, args.ledger, args.request) if name == "-"]
    if len(stdin_users) > 1:
        raise FileProblem("only one of POLICY, --customer, --ledger and --request can be - (standard input)")
    policy = load_policy(args.policy)
    customer_text, customer_obj = read_object(args.customer)
    request_text, request_obj = read_object(args.request)
    try:
        customer = customer_from_json(policy, customer_obj, where(args.customer))
    except InputError as exc:
        raise locate(exc, customer_text) from None
    try:
        request = request_from_json(policy, request_obj, where(args.request))
    except InputError as exc:
        raise locate(exc, request_text) from None
    ledger: History | list[Entry] = []
    if args.ledger:
        ledger = history_from_jsonl(policy, read_data(args.ledger), args.ledger)
    decision = policy.decide(customer, request, ledger, explain=True)
    teams = policy.vocabulary.get("teams", ())
    if args.scope is not None and args.scope not in teams:
        raise InputError(f"--scope: `{args.scope}` is not a declared team", expected=", ".join(teams))
    if args.scope is not None:
        # imported only for a scoped answer: its patterns are compiled on import (cold start)
        from policylang import disclosure

        if args.format == "json":
            write_text(json.dumps(disclosure.scoped_dict(decision, args.scope, teams), indent=2))
            return EXIT_OK
        decision = disclosure.scoped_decision(decision, args.scope, teams)
    elif args.format == "json":
        write_text(json.dumps(decision.to_dict(), indent=2))  # disclosure.decision_dict with no scope
        return EXIT_OK
    out = stdout()
    out.print(decision_panel(decision))
    out.print(trace_table(decision))
    return EXIT_OK


__all__ = ["add_parser", "load_policy", "quick_args", "PolicylangError"]

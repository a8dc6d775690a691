"""``policylang demo``: three requests on the example policy, through the embedded ledger.

The demo needs nothing but an installed policylang: the example policy and its customers
ship inside the package. It opens a fresh SQLite ledger (the embedded default) in a
temporary folder, loads two customers and their history, then reserves three requests,
printing each decision and its trace.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

from policylang.cli import EXIT_OK, read_text, stdout
from policylang.compiler import compile_policy
from policylang.inputs import customer_from_json, ledger_from_jsonl, read_jsonl, where
from policylang.records import Request
from policylang.render import decision_panel, trace_table

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 24, 16, 30, tzinfo=UTC)  # the demo's "now": the ledger's clock

STEPS = (
    ("The cards team wants to call Ada (owned by wealth management) with an offer.",
     "ada", Request("cards", "phone", "marketing", dt.datetime(2026, 11, 24, 10, tzinfo=UTC))),
    ("The cards team emails Bo, its own customer, an offer.",
     "bo", Request("cards", "email", "marketing", dt.datetime(2026, 11, 24, 15, tzinfo=UTC))),
    ("An hour later the growth team wants to email Bo an offer too.",
     "bo", Request("growth", "email", "marketing", dt.datetime(2026, 11, 24, 16, tzinfo=UTC))),
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``demo`` subcommand."""
    p = sub.add_parser(
        "demo",
        help="three decisions on the example policy, with the embedded SQLite ledger",
        description="Reserve three requests on examples/northwind.pol in a fresh ledger and print each decision.",
        epilog="exit status: 0 the demo ran; 2 the ledger URL cannot be opened, or a usage error.",
    )
    p.add_argument("--ledger", metavar="URL", help="a ledger URL instead of a fresh SQLite file")
    p.set_defaults(run=run)


def example(name: str) -> Path:
    """An example file, from the installed package or the source tree."""
    here = Path(__file__).resolve().parent.parent
    for folder in (here / "_examples", here.parent / "examples"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"the example file {name} is missing from this installation")


def run(args: argparse.Namespace) -> int:
    from policylang.ledger import open_ledger

    policy_file, customers_file, ledger_file = (
        str(example(n)) for n in ("northwind.pol", "shared/customers.jsonl", "shared/ledger.jsonl")
    )
    policy = compile_policy(read_text(policy_file), policy_file)
    customers = [
        customer_from_json(policy, record, where(customers_file, line))
        for line, record in read_jsonl(read_text(customers_file), customers_file)
    ]
    history = ledger_from_jsonl(policy, read_text(ledger_file), ledger_file)
    out = stdout()
    with tempfile.TemporaryDirectory(prefix="policylang-demo-") as folder:
        url = args.ledger or f"sqlite:///{folder}/demo.sqlite"
        with open_ledger(url, clock=lambda: NOW, create=True) as ledger:
            ledger.put_customers(policy, customers)
            ledger.append(history)
            out.print(f"policy {policy_file} ({len(policy.rules)} rules); ledger {url}\n")
            for number, (story, customer, request) in enumerate(STEPS, start=1):
                out.print(f"[bold]{number}. {story}[/bold]")
                reservation = ledger.reserve(policy, customer, request)
                out.print(decision_panel(reservation.decision))
                out.print(trace_table(reservation.decision, show_skipped=False))
                if reservation.allowed and reservation.id is not None:
                    ledger.confirm(reservation.id, outcome="delivered")
                    out.print(f"reserved and confirmed as sent: {reservation.id}\n")
                else:
                    out.print("nothing written: a denied request leaves the ledger as it was\n")
    return EXIT_OK

"""Capacity rules that leave outcomes out (section 11.3, ``not counting outcome``) in the
batch and replay engines, whose counts come from their own sorted loads (``window``), not
from the evaluator's ``contacts`` path: each must leave out what ``Policy.decide`` leaves out.

The reference decides each contact with ``Policy.decide`` and a loads object that lists
every customer's contacts (no window, nothing shared with the engines' loads)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from policylang.cli import main
from policylang.compiler import compile_policy
from policylang.records import Contact, Request

POLICY = """policy "outcomes"
timezone "UTC"

channels  phone
teams     sales
purposes  marketing
outcomes  conversation, busy

customer
  timezone  zone

capacity "desk":  at most 2 phone by sales per calendar week not counting outcome busy
"""

UTC = dt.timezone.utc
# (customer, instant, outcome): busy calls of other customers come first; they must not count
LEDGER = [
    ("a", "2026-11-23T09:00:00Z", "busy"),
    ("b", "2026-11-23T10:00:00Z", "busy"),
    ("c", "2026-11-23T11:00:00Z", "busy"),
    ("a", "2026-11-24T09:00:00Z", "conversation"),
    ("b", "2026-11-24T10:00:00Z", None),  # no outcome: counts
    ("c", "2026-11-24T11:00:00Z", "conversation"),  # the third counted: denied
    ("c", "2026-11-25T11:00:00Z", "busy"),  # still over: denied
]


class ListLoads:
    """Every customer's contacts, scanned in full for each count."""

    def __init__(self, contacts: list[Contact]) -> None:
        self.all = contacts

    def contacts(self, rule: Any, start: dt.datetime, end: dt.datetime) -> list[Contact]:
        return [c for c in self.all if start <= c.at < end and rule.match.matches(c.purpose, c.channel, c.team, None)]


def contact(customer: str, at: str, outcome: str | None) -> Contact:
    return Contact(dt.datetime.fromisoformat(at), "phone", "marketing", "sales", "sent", outcome, customer=customer)


def write(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "p.pol").write_text(POLICY)
    (tmp_path / "customers.jsonl").write_text("".join(json.dumps({"id": c, "timezone": "UTC"}) + "\n" for c in "abc"))
    (tmp_path / "ledger.jsonl").write_text("".join(
        json.dumps({"customer": c, "at": at, "channel": "phone", "purpose": "marketing", "team": "sales",
                    "status": "sent", **({"outcome": o} if o else {})}) + "\n" for c, at, o in LEDGER))
    return {p.stem: str(p) for p in tmp_path.iterdir()}


def test_replay_leaves_out_what_decide_leaves_out(tmp_path: Path) -> None:
    files = write(tmp_path)
    policy = compile_policy(POLICY, "p.pol")
    expected = []
    for k, (customer, at, _) in enumerate(LEDGER):
        before = [contact(*row) for row in LEDGER[:k]]
        mine = [c for c in before if c.customer == customer]
        request = Request("sales", "phone", "marketing", dt.datetime.fromisoformat(at))
        decision = policy.decide({"id": customer, "timezone": "UTC"}, request, mine, loads=ListLoads(before))
        expected.append((k + 1, decision.allowed, list(decision.denied_by)))
    assert [allowed for _, allowed, _ in expected] == [True] * 5 + [False] * 2  # by hand
    out = tmp_path / "out.jsonl"
    assert main(["replay", files["p"], "--ledger", files["ledger"], "--customers", files["customers"],
                 "-o", str(out), "--no-progress", "--workers", "1"]) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["row"], r["allowed"], r["denied_by"]) for r in got] == expected


def test_batch_leaves_out_what_decide_leaves_out(tmp_path: Path) -> None:
    """Two busy calls and one conversation this week: one more call fits, the next does not."""
    files = write(tmp_path)
    (tmp_path / "ledger.jsonl").write_text("".join(
        json.dumps({"customer": c, "at": at, "channel": "phone", "purpose": "marketing", "team": "sales",
                    "status": "sent", **({"outcome": o} if o else {})}) + "\n" for c, at, o in LEDGER[:4]))
    asks = [("b", "r1", "2026-11-25T09:00:00Z"), ("c", "r2", "2026-11-25T10:00:00Z")]
    (tmp_path / "requests.jsonl").write_text("".join(
        json.dumps({"customer": c, "id": i, "at": at, "channel": "phone", "purpose": "marketing", "team": "sales"})
        + "\n" for c, i, at in asks))
    policy = compile_policy(POLICY, "p.pol")
    counted = [contact(*row) for row in LEDGER[:4]]
    expected = []
    for customer, ident, at in asks:
        request = Request("sales", "phone", "marketing", dt.datetime.fromisoformat(at))
        mine = [c for c in counted if c.customer == customer]
        decision = policy.decide({"id": customer, "timezone": "UTC"}, request, mine, loads=ListLoads(counted))
        expected.append((ident, decision.allowed, list(decision.denied_by)))
        if decision.allowed:
            counted.append(Contact(request.at, "phone", "marketing", "sales", "planned", id=ident, customer=customer))
    assert [allowed for _, allowed, _ in expected] == [True, False]  # by hand
    out = tmp_path / "out.jsonl"
    assert main(["batch", files["p"], "--customers", files["customers"], "--ledger", str(tmp_path / "ledger.jsonl"),
                 "--requests", str(tmp_path / "requests.jsonl"), "-o", str(out), "--no-progress"]) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["allowed"], r["denied_by"]) for r in got] == expected

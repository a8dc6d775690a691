"""Trace scope (issue 9 item 13): what a team may see of a decision."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from policylang.decision import Decision, TraceEntry
from policylang.disclosure import WITHHELD, scoped_dict, scoped_entry
from policylang.records import Contact, Request
from policylang.scenario import run_file

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TEAMS = ("cards", "private_banking", "growth")


@pytest.mark.parametrize(
    ("kind", "reason", "seen_by_cards"),
    [
        ("cap", "1 of at most 1 marketing phone contacts in 7 days since 2026-11-23 15:00 "
                "(latest 2026-11-23 15:00 by private_banking)",
         "1 of at most 1 marketing phone contacts in 7 days (latest by another team)"),
        ("cap", "2 of at most 3 marketing contacts in 30 days since 2026-11-02 10:00 (latest 2026-11-20 10:00 by cards)",
         "2 of at most 3 marketing contacts in 30 days (latest 2026-11-20 10:00 by cards)"),
        ("capacity", "5 of at most 5 phone contacts across all customers since 2026-11-23 09:00 "
                     "(latest 2026-11-23 15:00 by cards)",
         "5 of at most 5 phone contacts across all customers"),
        ("exclusive", "marketing phone by private_banking at 2026-11-23 15:00 with outcome conversation is 19 hours "
                      "before, closer than 14 days",
         "a contact by another team is 19 hours before, closer than 14 days"),
        ("exclusive", "marketing email by cards at 2026-11-23 15:00 (planned) is 19 hours before, closer than 14 days",
         "marketing email by cards at 2026-11-23 15:00 (planned) is 19 hours before, closer than 14 days"),
        ("cap", "1 of at most 2 marketing contacts in 7 days; displaces marketing email by growth at 2026-11-26 10:00 "
                "(planned), marketing sms by cards at 2026-11-27 10:00 (planned)",
         "1 of at most 2 marketing contacts in 7 days; displaces marketing sms by cards at 2026-11-27 10:00 (planned), "
         "1 contact of other teams"),
        ("quiet", "quiet within 3 days after debt phone: debt phone by growth at 2026-11-23 15:00; quiet until 2026-11-26",
         "quiet within 3 days after debt phone: a contact by another team; quiet until 2026-11-26"),
        ("quiet", "local time Tue 2026-11-24 10:00 (Europe/London) is inside the quiet period (outside 08:00-21:00)",
         "local time Tue 2026-11-24 10:00 (Europe/London) is inside the quiet period (outside 08:00-21:00)"),
        ("require", "the growth team said so", WITHHELD),  # wording this module does not know: fail closed
    ],
)
def test_a_reason_as_cards_sees_it(kind: str, reason: str, seen_by_cards: str) -> None:
    entry = TraceEntry("r", kind, "deny", reason)
    assert scoped_entry(entry, "cards", TEAMS) == TraceEntry("r", kind, "deny", seen_by_cards)


def test_displaced_contacts_of_other_teams_are_counted_not_shown() -> None:
    at = Request("cards", "email", "marketing", __import__("datetime").datetime(2026, 11, 24, 10,
                 tzinfo=__import__("datetime").timezone.utc))
    mine = Contact(at.at, "sms", "marketing", "cards", "planned", campaign="spring", id="a", customer="ada")
    theirs = Contact(at.at, "email", "marketing", "growth", "planned", campaign="secret-launch", id="b", customer="ada")
    decision = Decision(at, True, displaces=(mine, theirs))
    out = scoped_dict(decision, "cards", TEAMS)
    assert out["displaces"] == [mine.to_dict()] and out["displaces_others"] == 1 and out["scope"] == "cards"
    assert "secret-launch" not in json.dumps(out) and "growth" not in json.dumps(out)
    assert decision.to_dict(scope="cards", teams=TEAMS) == out
    assert decision.to_dict()["displaces"] == [mine.to_dict(), theirs.to_dict()]  # the default stays full


@pytest.mark.parametrize("scenario", sorted(EXAMPLES.glob("*.polt")), ids=lambda p: p.name)
def test_no_scoped_answer_of_the_examples_names_another_team(scenario: Path) -> None:
    """Every decision of the example scenarios, seen by every team: no other team is named."""
    report = run_file(scenario)
    assert report.answers
    for answer in report.answers:
        teams = answer.policy.vocabulary["teams"]
        for team in teams:
            # rule names are the policy's text, which every team reads; reasons are about the ledger
            text = " ".join(t["reason"] for t in scoped_dict(answer.decision, team, teams)["trace"])
            for other in teams:
                if other != team:
                    assert not re.search(rf"\b{re.escape(other)}\b", text), (team, other, text)


def test_decide_scope_on_the_command_line() -> None:
    command = [str(Path(sys.executable).parent / "policylang"), "decide", str(EXAMPLES / "northwind.pol"),
               "--customer", str(EXAMPLES / "ada/customer.json"), "--ledger", str(EXAMPLES / "ada/ledger.jsonl"),
               "--request", str(EXAMPLES / "ada/request.json")]
    full = subprocess.run([*command, "--json"], capture_output=True, text=True, check=True).stdout
    assert "private_banking" in full
    scoped = subprocess.run([*command, "--json", "--scope", "cards"], capture_output=True, text=True, check=True)
    assert "private_banking" not in scoped.stdout and json.loads(scoped.stdout)["scope"] == "cards"
    table = subprocess.run([*command, "--scope", "cards"], capture_output=True, text=True, check=True)
    assert "private_banking" not in table.stdout and "one voice" in table.stdout
    unknown = subprocess.run([*command, "--scope", "cardz"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "cardz" in unknown.stderr and "Traceback" not in unknown.stderr

"""`policylang diff`: hand-written pairs of policies with the expected sentences written out,
renamed rules matched by body, precedence changes, the traffic a change touches, and the
replay of a hand-written ledger whose changed verdicts are counted by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policylang.cli import main
from policylang.compiler import compile_policy
from policylang.policydiff import diff_policies

OLD = """\
policy "shop"
timezone "Europe/London"
channels  email, sms, phone
teams     sales, support, growth
purposes  marketing, service
customer
  timezone  zone
  age       number
precedence support > growth > sales

cap "offers per month":  at most 3 marketing per 30 days
quiet "calling hours":   no phone outside 08:00-21:00
exclude "minors":        marketing when customer.age < 18
cap "texts":             at most 1 sms per 7 days
"""

NEW = """\
policy "shop"
timezone "Europe/London"
channels  email, sms, phone
teams     sales, support, growth
purposes  marketing, service
customer
  timezone  zone
  age       number
precedence growth > support > sales

cap "offers per month":  at most 2 marketing per 30 days
quiet "calling hours":   no phone outside 08:00-20:00
exclude "children":      marketing when customer.age < 18
exclusive "one voice":   marketing per 14 days
"""


def sentences(old: str, new: str) -> list[str]:
    return [c.text for c in diff_policies(compile_policy(old, "old.pol"), compile_policy(new, "new.pol"))]


def test_what_changed_in_business_words() -> None:
    assert sentences(OLD, NEW) == [
        "precedence: growth now ranks above support",
        'cap "offers per month" now allows 2 per 30 days instead of 3 per 30 days',
        'quiet "calling hours" now starts at 20:00 instead of 21:00',
        'exclude "minors" is now called "children"',
        'new rule exclusive "one voice": marketing per 14 days',
        'rule cap "texts" removed (it said: at most 1 sms per 7 days)',
    ]


def test_no_change_and_layout_only_changes_say_nothing() -> None:
    assert sentences(OLD, OLD) == []
    relaid = OLD.replace('cap "offers per month":  at most', 'cap "offers per month": at   most')
    assert sentences(OLD, relaid) == []


def test_selector_and_window_changes_and_traffic() -> None:
    new = OLD.replace("at most 1 sms per 7 days", "at most 1 sms, email by growth per calendar week")
    changes = diff_policies(compile_policy(OLD, "o"), compile_policy(new, "n"))
    assert [c.text for c in changes] == [
        'cap "texts" now governs sms, email by growth instead of sms',
        'cap "texts" now allows 1 per calendar week instead of 1 per 7 days',
    ]
    assert changes[0].traffic == ("marketing email by growth; marketing sms by any team; "
                                  "service email by growth; service sms by any team")


def test_a_change_elsewhere_that_moves_a_rules_traffic_is_reported() -> None:
    new = OLD + 'exempt "service texts": service from "texts"\n'
    changes = diff_policies(compile_policy(OLD, "o"), compile_policy(new, "n"))
    assert [c.text for c in changes] == [
        'cap "texts" no longer applies to service sms by any team (through a change elsewhere)',
        'new rule exempt "service texts": service from "texts"',
    ]


LEDGER = [
    # ada: three marketing emails inside 30 days; the third is allowed by OLD (cap 3), denied by NEW (cap 2)
    {"customer": "ada", "at": "2026-11-01T10:00:00Z", "channel": "email", "purpose": "marketing", "team": "sales"},
    {"customer": "ada", "at": "2026-11-05T10:00:00Z", "channel": "email", "purpose": "marketing", "team": "sales"},
    {"customer": "ada", "at": "2026-11-09T10:00:00Z", "channel": "email", "purpose": "marketing", "team": "growth"},
    # bo: a call at 20:30 London time, allowed before, quiet now
    {"customer": "bo", "at": "2026-11-10T20:30:00Z", "channel": "phone", "purpose": "service", "team": "support"},
    # bo: two texts a day apart: the second was denied by "texts", which NEW removes
    {"customer": "bo", "at": "2026-11-11T10:00:00Z", "channel": "sms", "purpose": "service", "team": "support"},
    {"customer": "bo", "at": "2026-11-12T10:00:00Z", "channel": "sms", "purpose": "service", "team": "support"},
]


def write(tmp_path: Path) -> tuple[str, str, str, str]:
    old, new = tmp_path / "old.pol", tmp_path / "new.pol"
    old.write_text(OLD)
    new.write_text(NEW.replace('exclusive "one voice":   marketing per 14 days\n', ""))
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text("".join(json.dumps(line) + "\n" for line in LEDGER))
    customers = tmp_path / "customers.jsonl"
    customers.write_text('{"id": "ada", "timezone": "Europe/London", "age": 40}\n{"id": "bo", "age": 30}\n')
    return str(old), str(new), str(ledger), str(customers)


def test_replay_counts_changed_verdicts_per_rule_and_team(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new, ledger, customers = write(tmp_path)
    assert main(["diff", old, new, "--ledger", ledger, "--customers", customers, "--format", "json"]) == 0
    impact = json.loads(capsys.readouterr().out)["impact"]
    assert impact == {
        "contacts": 6, "customers": 2, "newly_denied": 2, "newly_allowed": 1,
        "by_rule": {"offers per month": 1, "calling hours": 1, "texts": 1},
        "by_team": {"support": 2, "growth": 1},
    }
    assert main(["diff", old, new, "--ledger", ledger, "--customers", customers]) == 0
    out = capsys.readouterr().out
    assert "6 recorded contacts of 2 customers; 2 would now be denied, 1 would now be allowed" in out
    assert '    rule "offers per month": 1\n' in out


def test_bad_input_is_exit_2_with_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new, ledger, customers = write(tmp_path)
    Path(ledger).write_text(Path(ledger).read_text() + '{"customer": "bo", "at": "2026-11-12T10:00:00Z", '
                            '"channel": "fax", "purpose": "service", "team": "support"}\n')
    assert main(["diff", old, new, "--ledger", ledger]) == 2
    assert f"{ledger}:7" in capsys.readouterr().err
    assert main(["diff", old, str(tmp_path / "nope.pol")]) == 2
    Path(new).write_text(NEW.replace("at most 2 marketing", "at most 2 markting"))
    assert main(["diff", old, new]) == 2
    assert "did you mean `marketing`" in capsys.readouterr().err

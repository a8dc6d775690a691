"""The example policies: each checks clean, is already formatted, and means what its
comments say (decisions worked out by hand from the regulations they cite).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

import policylang
from policylang.cli import main
from policylang.formatter import format_policy
from policylang.records import Contact, Event, Request

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.pol"))
UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_examples_are_there() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"northwind.pol", "regulation_f.pol", "tcpa_telemarketing.pol", "retailer_marketing.pol"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_checks_clean(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(path)]) == 0
    assert ": ok," in capsys.readouterr().out


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_is_already_formatted(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert format_policy(text, str(path)) == text


LANGUAGE = ROOT / "docs" / "language.md"


def reference_section(number: int) -> str:
    """Section ``number`` of the project's own language reference, docs/language.md."""
    text = LANGUAGE.read_text(encoding="utf-8")
    return text.split(f"\n## {number}. ", 1)[1].split("\n## ", 1)[0]


def code_blocks(section: str) -> list[str]:
    return re.findall(r"```\n(.*?)```", section, re.S)


def test_northwind_is_the_policy_of_section_2() -> None:
    assert (ROOT / "examples" / "northwind.pol").read_text(encoding="utf-8") == code_blocks(reference_section(2))[0]


def test_every_policy_form_in_the_reference_compiles() -> None:
    """Each rule example of sections 3-6, put into the northwind policy, compiles."""
    northwind = (ROOT / "examples" / "northwind.pol").read_text(encoding="utf-8")
    checked = 0
    for number in (3, 4, 5, 6):
        for block in code_blocks(reference_section(number)):
            for line in block.splitlines():
                if re.match(r"(cap|capacity|quiet|exclude|require|exclusive|exempt) \"", line):
                    name = re.match(r'\w+ "([^"]+)"', line)
                    assert name is not None
                    text = northwind.replace(f'"{name[1]}"', f'"{name[1]} (original)"') + line + "\n"
                    policylang.compile(text, f"docs/language.md section {number}")
                    checked += 1
    assert checked >= 20


def test_the_scenario_of_section_8_passes(tmp_path: Path) -> None:
    from policylang.scenario import run_file

    block = code_blocks(reference_section(8))[0]
    scenario = tmp_path / "section8.polt"
    scenario.write_text(block.replace('use "northwind.pol"', f'use "{ROOT / "examples" / "northwind.pol"}"'))
    report = run_file(scenario)
    assert report.problems == [] and len(report.expectations) == 4
    assert all(answer.passed for answer in report.expectations)


def test_the_json_contract_of_section_10_is_what_decide_prints(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    section = reference_section(10)
    records = dict(re.findall(r"- `(\w+\.jsonl?)`[^`]*`(\{.*?\})`", section))
    ada = ROOT / "examples" / "ada"
    assert json.loads(records["customer.json"]) == json.loads((ada / "customer.json").read_text())
    assert json.loads(records["request.json"]) == json.loads((ada / "request.json").read_text())
    assert json.loads(records["ledger.jsonl"]) == json.loads((ada / "ledger.jsonl").read_text().splitlines()[0])
    assert main(["decide", str(ROOT / "examples" / "northwind.pol"), "--customer", str(ada / "customer.json"),
                 "--ledger", str(ada / "ledger.jsonl"), "--request", str(ada / "request.json"), "--format", "json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    shown = re.search(r"- output: `(\{.*?), \"trace\"", section)
    assert shown is not None
    assert json.loads(shown[1] + "}") == {k: decision[k] for k in ("allowed", "denied_by", "displaces", "next_allowed_at")}


# ---- Regulation F ------------------------------------------------------------------------
# Customer in Chicago: in November 2026 local time is UTC-6, so 08:00 local is 14:00Z.


@pytest.fixture(scope="module")
def regulation_f() -> policylang.Policy:
    return policylang.load(ROOT / "examples" / "regulation_f.pol")


CHICAGO = {"timezone": "America/Chicago"}


def debt_call(when: str, debt: str = "D1", outcome: str | None = None) -> Contact:
    return Contact(at(when), "phone", "debt", "collections", outcome=outcome, campaign=debt)


def test_regulation_f_eighth_call_in_seven_days_is_denied_per_debt(regulation_f: policylang.Policy) -> None:
    # seven calls on Nov 2-5 (local), all no answer
    ledger = [debt_call(f"2026-11-0{2 + i // 2}T{15 + i % 2}:00") for i in range(7)]
    same = regulation_f.decide(CHICAGO, Request("collections", "phone", "debt", at("2026-11-06T16:00"), campaign="D1"), ledger)
    assert not same.allowed and same.denied_by == ("seven calls in seven days",)
    # Nov 9 is the first date whose seven-day runs leave out Nov 2; 08:00 local there
    assert same.next_allowed_at == at("2026-11-09T14:00")
    other = regulation_f.decide(CHICAGO, Request("collections", "phone", "debt", at("2026-11-06T16:00"), campaign="D2"), ledger)
    assert other.allowed


def test_regulation_f_no_call_for_seven_days_after_a_conversation(regulation_f: policylang.Policy) -> None:
    ledger = [debt_call("2026-11-02T15:00", outcome="conversation")]  # 09:00 local on Nov 2, day 1 of 7
    decision = regulation_f.decide(CHICAGO, Request("collections", "phone", "debt", at("2026-11-08T20:00"), campaign="D1"), ledger)
    assert decision.denied_by == ("after a conversation",)
    assert decision.next_allowed_at == at("2026-11-09T14:00")  # Nov 9 local, once 08:00 comes
    answered_machine = [debt_call("2026-11-02T15:00", outcome="voicemail")]
    assert regulation_f.decide(CHICAGO, Request("collections", "phone", "debt", at("2026-11-03T20:00")), answered_machine).allowed


def test_regulation_f_inconvenient_times(regulation_f: policylang.Policy) -> None:
    late = at("2026-11-10T03:00")  # 21:00 local on Nov 9
    for purpose in ("debt", "response"):
        decision = regulation_f.decide(CHICAGO, Request("collections", "sms", purpose, late), [])
        assert decision.denied_by == ("inconvenient times",)
        assert decision.next_allowed_at == at("2026-11-10T14:00")
    letter = regulation_f.decide(CHICAGO, Request("collections", "letter", "debt", late), [])
    assert letter.allowed


def test_regulation_f_exclusions(regulation_f: policylang.Policy) -> None:
    noon = at("2026-11-10T18:00")
    ceased = regulation_f.decide({**CHICAGO, "ceased": True}, Request("collections", "email", "debt", noon), [])
    assert ceased.denied_by == ("cease communication",) and ceased.next_allowed_at is None
    lawyer = regulation_f.decide({**CHICAGO, "has_attorney": True}, Request("legal", "phone", "response", noon), [])
    assert lawyer.denied_by == ("represented by attorney",)
    disputed = regulation_f.decide({**CHICAGO, "status": "disputed"}, Request("collections", "letter", "debt", noon), [])
    assert disputed.denied_by == ("dispute pending",)


# ---- TCPA --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tcpa() -> policylang.Policy:
    return policylang.load(ROOT / "examples" / "tcpa_telemarketing.pol")


def test_tcpa_do_not_call_registry_and_consent(tcpa: policylang.Policy) -> None:
    noon = at("2026-06-10T16:00")  # 12:00 in New York (EDT)
    call = Request("outbound_sales", "phone", "telemarketing", noon)
    base = {"timezone": "America/New_York"}
    assert tcpa.decide({**base, "national_dnc": True, "written_consent": True}, call, []).allowed
    neither = tcpa.decide({**base, "national_dnc": True}, call, [])
    assert set(neither.denied_by) == {"national do not call", "no written consent"}
    relationship = tcpa.decide({**base, "national_dnc": True, "business_relationship": True}, call, [])
    assert relationship.denied_by == ("no written consent",)
    informational = Request("service", "sms", "informational", noon)
    assert tcpa.decide({**base, "opted_out": frozenset({"sms"})}, informational, []).allowed


def test_tcpa_calling_hours_follow_the_called_party(tcpa: policylang.Policy) -> None:
    consented = {"written_consent": True}
    call = Request("outbound_sales", "phone", "telemarketing", at("2026-06-10T12:30"))  # 08:30 New York, 05:30 LA
    assert tcpa.decide({**consented, "timezone": "America/New_York"}, call, []).allowed
    west = tcpa.decide({**consented, "timezone": "America/Los_Angeles"}, call, [])
    assert west.denied_by == ("calling hours",) and west.next_allowed_at == at("2026-06-10T15:00")


def test_tcpa_stop_reply(tcpa: policylang.Policy) -> None:
    customer = {"written_consent": True, "timezone": "America/New_York"}
    ledger = [Event(at("2026-06-01T16:00"), "stop_request")]
    text = Request("outbound_sales", "sms", "telemarketing", at("2026-06-10T16:00"))
    assert tcpa.decide(customer, text, ledger).denied_by == ("after a stop reply",)


# ---- retailer ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def retailer() -> policylang.Policy:
    return policylang.load(ROOT / "examples" / "retailer_marketing.pol")


def test_retailer_quiet_hours_and_exempt_order_updates(retailer: policylang.Policy) -> None:
    customer = {"timezone": "Europe/London", "sms_consent": True}
    night = at("2026-11-10T22:00")  # London is on UTC in November
    promotion = retailer.decide(customer, Request("crm", "push", "promotion", night), [])
    assert promotion.denied_by == ("quiet hours",) and promotion.next_allowed_at == at("2026-11-11T09:00")
    assert retailer.decide(customer, Request("service", "push", "order_update", night), []).allowed


def test_retailer_caps_and_precedence(retailer: policylang.Policy) -> None:
    customer = {"timezone": "Europe/London", "owner": "loyalty"}
    sent = [Contact(at(f"2026-11-0{d}T10:00"), "email", "promotion", "crm") for d in (2, 3, 4)]
    fourth = retailer.decide(customer, Request("crm", "email", "promotion", at("2026-11-06T12:00")), sent)
    assert "promotional emails" in fourth.denied_by
    assert fourth.next_allowed_at == at("2026-11-09T10:00")  # 7 days after the first
    assert retailer.rank("loyalty", "loyalty") < retailer.rank("crm", "loyalty") < retailer.rank("merchandising", "loyalty")

"""`policylang decide` as a process: the JSON contract of section 10 and exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "examples" / "northwind.pol"
ADA = ROOT / "examples" / "ada"


def decide(tmp_path: Path, *, customer: str | None = None, ledger: str | None = None,
           request: str | None = None, policy: Path = POLICY) -> subprocess.CompletedProcess[str]:
    files = {}
    for name, text, default in (("customer.json", customer, ADA / "customer.json"),
                                ("ledger.jsonl", ledger, ADA / "ledger.jsonl"),
                                ("request.json", request, ADA / "request.json")):
        if text is None:
            files[name] = default
        else:
            files[name] = tmp_path / name
            files[name].write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "policylang.cli", "decide", str(policy), "--customer", str(files["customer.json"]),
         "--ledger", str(files["ledger.jsonl"]), "--request", str(files["request.json"]), "--json"],
        capture_output=True, text=True, cwd=ROOT,
    )


def test_json_output_follows_section_10(tmp_path: Path) -> None:
    result = decide(tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) >= {"allowed", "denied_by", "displaces", "next_allowed_at", "trace"}
    # Section 8's story: cards waits for "one voice" until 14 days after private banking's call.
    assert out["allowed"] is False
    assert out["denied_by"] == ["one sales call a week", "one voice"]
    assert out["next_allowed_at"] == "2026-12-07T15:00:00+00:00"
    assert [t["rule"] for t in out["trace"]][:2] == ["one sales call a week", "offers per month"]
    assert {t["verdict"] for t in out["trace"]} <= {"deny", "pass", "skip", "exempt"}


def test_allowed_request_exits_zero_and_lists_displaced(tmp_path: Path) -> None:
    # "offers per month" allows 3 marketing contacts in 30 days: one sent call and two planned
    # emails of growth fill it. The owner (wealth_management, exempt from "one voice") ranks
    # above growth, so its email is allowed and displaces only what the cap needs: growth's
    # latest plan (the furthest off), not the earlier one.
    ledger = "\n".join((
        '{"at": "2026-11-23T15:00:00+00:00", "channel": "phone", "purpose": "marketing", "team": "private_banking", "status": "sent"}',
        '{"at": "2026-11-20T10:00:00Z", "channel": "email", "purpose": "marketing", "team": "growth", "status": "planned"}',
        '{"at": "2026-11-26T10:00:00Z", "channel": "email", "purpose": "marketing", "team": "growth", "status": "planned"}',
    ))
    request = '{"team": "wealth_management", "channel": "email", "purpose": "marketing", "at": "2026-11-24T10:00:00Z"}'
    result = decide(tmp_path, ledger=ledger, request=request)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["allowed"] is True and out["denied_by"] == []
    assert out["displaces"] == [{"at": "2026-11-26T10:00:00+00:00", "channel": "email", "purpose": "marketing",
                                 "team": "growth", "status": "planned"}]
    offers = next(t for t in out["trace"] if t["rule"] == "offers per month")
    assert offers["verdict"] == "pass" and "displaces marketing email by growth" in offers["reason"]
    # without a lower-ranked plan nothing is displaced: a servicing email by service
    plain = decide(tmp_path, request='{"team": "service", "channel": "email", "purpose": "servicing", "at": "2026-11-24T10:00:00Z"}')
    assert plain.returncode == 0 and json.loads(plain.stdout)["displaces"] == []


@pytest.mark.parametrize(
    ("field", "request_text", "fragment"),
    [
        ("at", '{"team": "cards", "channel": "phone", "purpose": "marketing", "at": "2026-11-24T10:00:00"}', "no offset"),
        ("channel", '{"team": "cards", "channel": "fone", "purpose": "marketing", "at": "2026-11-24T10:00:00Z"}', "did you mean `phone`"),
        ("team", '{"team": 3, "channel": "phone", "purpose": "marketing", "at": "2026-11-24T10:00:00Z"}', "team"),
        ("json", '{"team": "cards", ', "invalid JSON"),
        ("unknown", '{"team": "cards", "chanel": "phone", "purpose": "marketing", "at": "2026-11-24T10:00:00Z"}', "did you mean `channel`"),
        ("missing", '{"team": "cards", "purpose": "marketing", "at": "2026-11-24T10:00:00Z"}', "no `channel`"),
    ],
)
def test_bad_requests_exit_2_naming_file_and_field(tmp_path: Path, field: str, request_text: str, fragment: str) -> None:
    result = decide(tmp_path, request=request_text)
    assert result.returncode == 2
    assert "request.json:1:" in result.stderr
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_bad_ledger_line_names_the_line(tmp_path: Path) -> None:
    ledger = (ADA / "ledger.jsonl").read_text() + '{"at": "2026-11-02T09:00:00Z", "event": "complain"}\n'
    result = decide(tmp_path, ledger=ledger)
    assert result.returncode == 2
    assert "ledger.jsonl:4:" in result.stderr and "did you mean `complaint`" in result.stderr


def test_bad_customer_zone_and_type(tmp_path: Path) -> None:
    result = decide(tmp_path, customer='{"id": "ada", "timezone": "Europe/Londn"}')
    assert result.returncode == 2 and "Europe/London" in result.stderr
    result = decide(tmp_path, customer='{"id": "ada", "age": "ten"}')
    assert result.returncode == 2 and "`age` must be a number" in result.stderr


def test_unreadable_and_invalid_policy_exit_2(tmp_path: Path) -> None:
    assert decide(tmp_path, policy=tmp_path / "missing.pol").returncode == 2
    broken = tmp_path / "broken.pol"
    broken.write_text('channels phone\ncap "x" at most 1 phone per 7 days\n')
    result = decide(tmp_path, policy=broken)
    assert result.returncode == 2 and "broken.pol:2:" in result.stderr


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=60))
def test_random_instants_are_refused_or_parsed_never_a_traceback(text: str) -> None:
    from policylang.errors import InputError
    from policylang.inputs import parse_instant, where

    try:
        value = parse_instant(text, where("r.json"))
    except InputError as exc:
        assert exc.span.file == "r.json" and "`at`" in exc.message
    else:
        assert value.utcoffset() is not None


@pytest.mark.parametrize("instant", ["9999-12-31T23:00:00Z", "0001-01-01T00:30:00+01:00", "1899-12-31T23:59:59Z"])
def test_instants_outside_the_handled_years_are_bad_input(tmp_path: Path, instant: str) -> None:
    request = f'{{"team": "cards", "channel": "phone", "purpose": "marketing", "at": "{instant}"}}'
    result = decide(tmp_path, request=request)
    assert result.returncode == 2
    assert "outside the years policylang handles" in result.stderr and "Traceback" not in result.stderr


def test_scenario_dates_outside_the_handled_years_are_located(tmp_path: Path) -> None:
    scenario = tmp_path / "far.polt"
    scenario.write_text(
        f'use "{POLICY}"\ncustomer ada: timezone "Europe/London"\n'
        "ada had marketing phone by cards at 9999-12-31 10:00\n"
    )
    result = subprocess.run([sys.executable, "-m", "policylang.cli", "test", str(scenario)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "far.polt:3:37" in result.stderr and "outside the years" in result.stderr


def test_machine_output_is_written_as_it_is(tmp_path: Path) -> None:
    """`decide --json` and `check` print names as they are: rich, which printed them before
    (issue 11), turned `:smile:` into an emoji and read `[bold]` as markup."""
    name = "one :smile: voice [bold]x[/bold]"
    policy = tmp_path / "p.pol"
    policy.write_text(POLICY.read_text(encoding="utf-8").replace('"one voice"', f'"{name}"')
                      .replace("Northwind Bank customer contact policy", "Bank :smile: [red]x"), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "policylang.launch", "decide", str(policy), "--customer", str(ADA / "customer.json"),
         "--ledger", str(ADA / "ledger.jsonl"), "--request", str(ADA / "request.json"), "--json"],
        capture_output=True, text=True, cwd=ROOT, check=True)
    assert name in json.loads(done.stdout)["denied_by"]
    checked = subprocess.run([sys.executable, "-m", "policylang.launch", "check", str(policy)],
                             capture_output=True, text=True, cwd=ROOT, check=True)
    assert '"Bank :smile: [red]x": ok' in checked.stdout


def test_a_ledger_read_as_bytes_or_as_text_gives_one_answer(tmp_path: Path) -> None:
    """The command passes an ASCII ledger file's bytes to the fast path unread (issue 11);
    a ledger with a byte-order mark or other UTF-8 is read as text; bad UTF-8 is bad input."""
    plain = (ADA / "ledger.jsonl").read_text(encoding="utf-8")
    expected = decide(tmp_path, ledger=plain)
    assert expected.returncode == 0
    decided = json.loads(expected.stdout)
    for variant in ("\ufeff" + plain, plain.replace('"id": "', '"id": "\u00e9', 1) if '"id": "' in plain else plain,
                    plain.rstrip("\n")):
        result = decide(tmp_path, ledger=variant)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == decided
    (tmp_path / "bad.jsonl").write_bytes(plain.encode() + b'{"at": "2026-11-02T09:00:00Z", "event": "\xff"}\n')
    result = subprocess.run(
        [sys.executable, "-m", "policylang.cli", "decide", str(POLICY), "--customer", str(ADA / "customer.json"),
         "--ledger", str(tmp_path / "bad.jsonl"), "--request", str(ADA / "request.json"), "--json"],
        capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "bad.jsonl: is not UTF-8 text" in result.stderr and "Traceback" not in result.stderr
    bad_line = plain + '{"at": "2026-11-02T09:00:00Z", "channel": "sms", "purpose": "debt", "team": "nobody"}\n'
    result = decide(tmp_path, ledger=bad_line)
    assert result.returncode == 2 and f"ledger.jsonl:{plain.count(chr(10)) + 1}:" in result.stderr

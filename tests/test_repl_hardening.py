"""The REPL as a new user meets it: a policy that failed to compile is remembered for
`reload`, a missing policy file is bad input, completion follows the context, and `save`
writes what the user did (no invented clock, failed expectations kept as written).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from policylang.repl import Session
from policylang.scenario import run_file

ROOT = Path(__file__).parent.parent
NORTHWIND = ROOT / "examples" / "northwind.pol"
START = dt.datetime(2026, 11, 24, 10, 0)
GOOD = 'channels email\nteams t, u\npurposes p\ncap "c": at most 1 email per 1 day\n'
BROKEN = 'channels email\nteams t, u\npurposes p\ncap "c": at most 1 emial per 1 day\n'


def show(session: Session, line: str) -> str:
    console = Console(width=200, record=True, file=io.StringIO(), color_system=None)
    result = session.handle(line)
    if result is not None:
        console.print(result)
    return console.export_text()


def startup(session: Session) -> str:
    console = Console(width=200, record=True, file=io.StringIO(), color_system=None)
    assert session.startup is not None
    console.print(session.startup)
    return console.export_text()


# ---- item 9: reload after a failed start, a missing file -----------------------------------


def test_a_policy_that_failed_at_start_up_is_loaded_by_reload(tmp_path: Path) -> None:
    policy = tmp_path / "p.pol"
    policy.write_text(BROKEN)
    session = Session(policy, base=tmp_path, now=START)
    shown = startup(session)
    assert f"{policy}:4:" in shown and "did you mean `email`?" in shown and "type `reload`" in shown
    assert 'use "' not in shown  # no line the user never typed
    assert "still does not compile" in show(session, "reload")
    policy.write_text(GOOD)
    assert "loaded" in show(session, "reload")
    show(session, "customer x")
    assert 'DENIED by "c"' not in show(session, "ask x: p email by t at 2026-01-01 10:00")
    show(session, "x had p email by t at 2026-01-01 09:00")
    assert 'DENIED by "c"' in show(session, "ask x: p email by t at 2026-01-01 10:00")


def test_a_policy_that_failed_in_a_use_line_is_loaded_by_reload(tmp_path: Path) -> None:
    policy = tmp_path / "p.pol"
    policy.write_text(BROKEN)
    session = Session(None, base=tmp_path, now=START)
    assert "did you mean `email`?" in show(session, 'use "p.pol"')
    policy.write_text(GOOD)
    assert "loaded" in show(session, "reload")
    assert session.run.policy is not None and len(session.run.policy.rules) == 1


def test_a_missing_policy_file_is_bad_input() -> None:
    result = subprocess.run([sys.executable, "-m", "policylang.cli", "repl", "missing.pol"],
                            capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "no policy file `missing.pol`" in result.stderr
    assert "use " not in result.stderr + result.stdout and "Traceback" not in result.stderr


def test_reload_after_a_failed_start_in_a_real_terminal(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    policy = tmp_path / "p.pol"
    policy.write_text(BROKEN)
    env = dict(os.environ, POLICYLANG_HISTORY=str(tmp_path / "history"), PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm")
    child = pexpect.spawn(sys.executable, ["-m", "policylang.cli", "repl", str(policy)], cwd=str(tmp_path), env=env,
                          encoding="utf-8", timeout=30, dimensions=(50, 160))
    try:
        child.expect("did you mean `email`")
        child.expect("policylang>")
        policy.write_text(GOOD)
        child.sendline("reload")
        child.expect("loaded")
        child.expect("1 rules")
        child.expect("policylang>")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


# ---- item 10: completion by context --------------------------------------------------------


@pytest.fixture
def northwind(tmp_path: Path) -> Session:
    session = Session(NORTHWIND, base=tmp_path, now=START)
    show(session, 'customer ada: timezone "Europe/London", status active')
    show(session, "customer dee: status active")
    return session


def words(session: Session, before: str) -> list[str]:
    return [w for w, _ in session.completions(before)]


def test_a_customer_after_ask_not_every_word_starting_with_the_letter(northwind: Session) -> None:
    assert words(northwind, "ask d") == ["dee"]
    assert words(northwind, "expect ") == ["ada", "dee"]


def test_commands_and_customers_at_the_start_of_a_line(northwind: Session) -> None:
    assert words(northwind, "a") == ["ada", "advance", "ask"]
    assert words(northwind, "t") == ["timeline"]


def test_teams_only_after_by(northwind: Session) -> None:
    got = words(northwind, "ask ada: marketing phone by ")
    assert got == sorted(["private_banking", "wealth_management", "cards", "collections", "growth", "service"])


def test_channels_and_purposes_in_a_request(northwind: Session) -> None:
    got = set(words(northwind, "ask ada: "))
    assert {"email", "sms", "phone", "marketing", "debt", "by", "at"} <= got
    assert not got & {"cards", "growth", "days", "denied", "ada"}
    assert words(northwind, "ask ada: marketing ph") == ["phone"]


def test_checks_after_is_and_rule_names_in_quotes(northwind: Session) -> None:
    assert words(northwind, "expect ada: marketing phone by cards is d") == ["denied", "displaces"]
    assert words(northwind, 'expect ada: marketing phone by cards is denied by "one v') == ['one voice"']


def test_attributes_and_their_values_in_a_customer_line(northwind: Session) -> None:
    assert words(northwind, "customer bob: st") == ["status"]
    assert "in_collections" in words(northwind, "customer bob: status ")
    assert words(northwind, "customer bob: do_not_call ") == ["false", "true"]
    assert words(northwind, "customer.o") == ["opted_out", "owner"]


def test_a_contact_line_takes_purposes_channels_and_event(northwind: Session) -> None:
    assert words(northwind, "ada h") == ["had"]
    assert "event" in words(northwind, "ada had ")
    assert words(northwind, "ada had event ") == ["bereavement", "complaint"]
    assert words(northwind, "ada had debt phone by cards at 2026-11-01 10:00 with outcome ") == [
        "conversation", "delivered", "no_answer"]


# ---- item 11: save -------------------------------------------------------------------------


def test_save_writes_no_clock_the_user_did_not_set_or_use(tmp_path: Path) -> None:
    session = Session(NORTHWIND, base=tmp_path)  # the wall clock
    show(session, 'customer ada: timezone "Europe/London"')
    show(session, "ask ada: marketing email by growth at 2026-11-24 10:00")
    show(session, "save s")
    text = (tmp_path / "s.polt").read_text()
    assert "\nnow " not in text
    assert run_file(tmp_path / "s.polt").problems == []


def test_save_writes_the_clock_a_request_without_at_used(tmp_path: Path) -> None:
    session = Session(NORTHWIND, base=tmp_path, now=START)
    show(session, 'customer ada: timezone "Europe/London"')
    show(session, "ask ada: marketing email by growth")
    show(session, "save s")
    text = (tmp_path / "s.polt").read_text()
    assert "now 2026-11-24 10:00" in text
    report = run_file(tmp_path / "s.polt")
    assert report.problems == [] and all(a.passed for a in report.expectations)


def test_a_failed_expectation_is_saved_as_written_and_says_it_failed(tmp_path: Path) -> None:
    session = Session(NORTHWIND, base=tmp_path, now=START)
    show(session, 'customer ada: timezone "Europe/London"')
    typed = "expect ada: transactional email by service at 2026-11-24 10:00 is denied"
    assert "FAIL" in show(session, typed)
    passing = "expect ada: marketing email by growth at 2026-11-24 10:00 is allowed"
    assert "PASS" in show(session, passing)
    show(session, "save s")
    lines = (tmp_path / "s.polt").read_text().splitlines()
    at = lines.index(typed)
    assert lines[at - 1].startswith("# FAILED in the session: expected denied")
    assert passing in lines
    assert not any("transactional email by service" in line and "is allowed" in line for line in lines)
    report = run_file(tmp_path / "s.polt")
    assert [a.passed for a in report.expectations] == [False, True]

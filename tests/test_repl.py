"""The what-if REPL: the command layer for every command, and one run in a real terminal."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from policylang.repl import Session
from policylang.scenario import run_file

ROOT = Path(__file__).parent.parent
NORTHWIND = ROOT / "examples" / "northwind.pol"
START = dt.datetime(2026, 11, 24, 10, 0)  # local to each customer

ADA = [
    'customer ada: timezone "Europe/London", status active, owner wealth_management',
    "ada had marketing phone by private_banking at 2026-11-23 15:00",
    "ada had event complaint at 2026-10-01 09:00",
    "ada plans marketing email by growth at 2026-11-26 10:00",
]


def show(session: Session, line: str) -> str:
    """What the REPL prints for one line, as plain text."""
    console = Console(width=200, record=True, file=io.StringIO(), color_system=None)
    result = session.handle(line)
    if result is not None:
        console.print(result)
    return console.export_text()


@pytest.fixture
def session(tmp_path: Path) -> Session:
    s = Session(NORTHWIND, base=tmp_path, now=START)
    for line in ADA:
        show(s, line)
    return s


def test_ask_shows_the_decision_and_the_rules_that_spoke(session: Session) -> None:
    out = show(session, "ask ada: marketing phone by cards")
    assert 'DENIED by "one sales call a week", "one voice"' in out
    assert "next allowed: 2026-12-07 15:00" in out
    assert re.search(r'"one voice"\s*│\s*deny', out)
    assert re.search(r'"offers per month"\s*│\s*pass', out)
    assert '"letters per quarter"' not in out  # skipped rules are only counted
    assert "8 rules skipped" in out


def test_why_shows_the_full_trace(session: Session) -> None:
    assert "nothing asked yet" in show(session, "why")
    show(session, "ask ada: marketing phone by cards")
    out = show(session, "why")
    assert re.search(r'"letters per quarter"\s*│\s*skip', out)
    assert len(re.findall(r"\"\s*│ (deny|pass|skip|exempt)\s", out)) == 20


def test_when_gives_the_next_allowed_time(session: Session) -> None:
    show(session, "ask ada: marketing phone by cards")
    assert show(session, "when").startswith("next allowed at 2026-12-07 15:00 (2026-12-07 15:00Z), 13 days 5 hours")
    show(session, "ask ada: servicing email by service")
    assert show(session, "when").startswith("allowed now: 2026-11-24 10:00")
    show(session, "customer vic: status deceased")
    show(session, "ask vic: servicing email by service")
    assert show(session, "when").startswith("never")


def test_displacement_is_shown(session: Session) -> None:
    out = show(session, "ask ada: marketing phone by cards at 2026-12-07 15:00")
    assert "ALLOWED" in out
    assert "displaces marketing email by growth at 2026-11-26 10:00 (planned)" in out


def test_advance_and_now_move_the_clock(session: Session) -> None:
    assert show(session, "advance 6 days").strip() == "now 2026-11-30 10:00"
    assert "ALLOWED" in show(session, "ask ada: marketing phone by wealth_management at 2026-11-30 15:00")
    assert "DENIED" in show(session, "ask ada: marketing phone by wealth_management")  # 10:00, call at 15:00 a week ago
    show(session, "now 2026-11-30 16:00Z")
    assert "ALLOWED" in show(session, "ask ada: marketing phone by wealth_management")
    assert show(session, "advance 90 minutes").strip() == "now 2026-11-30 17:30 Z"
    assert "cannot advance by `3 fortnights`" in show(session, "advance 3 fortnights")


def test_expect_reports_pass_and_fail(session: Session) -> None:
    assert show(session, "expect ada: servicing email by service is allowed").startswith("PASS")
    out = show(session, "expect ada: servicing email by service is denied")
    assert out.startswith("FAIL")
    assert "expected denied, but it is allowed" in out


def test_errors_are_shown_with_a_caret_and_never_end_the_session(session: Session) -> None:
    out = show(session, "ask adda: marketing phone by cards")
    assert "<input>:1:5: error: no customer `adda` yet" in out
    assert "hint: did you mean `ada`?" in out
    assert out.splitlines()[2].index("^") == 4 + 4
    out = show(session, "ask ada: marketing phone by card")
    assert "did you mean `cards`?" in out
    assert "did you mean `ask`?" in show(session, "aks ada: marketing phone by cards")
    assert "unknown command `advanse`" in show(session, "advanse")
    assert "did you mean `advance`?" in show(session, "advanse")
    assert not session.finished


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80))
def test_no_input_raises(text: str) -> None:
    session = Session(NORTHWIND, now=START)
    session.handle('customer ada: status active')
    for line in (text, "ask ada: " + text, "expect ada: marketing phone by cards " + text, "timeline " + text):
        # Session.handle turns any exception into text, so "it returned" proves nothing:
        # what it printed must be an answer or a user error, never an internal error.
        out = show(session, line)
        # An internal error is the whole answer (Session.handle); a user error may echo the
        # input, which can itself read "internal error", so only the answer's start tells.
        assert not out.startswith("internal error:"), (line, out)
        assert "Traceback" not in out


def test_timeline_draws_the_ledger_quiet_periods_and_windows(session: Session) -> None:
    show(session, "ask ada: marketing phone by cards")
    out = show(session, "timeline ada")
    lines = out.splitlines()
    assert lines[0].startswith("timeline of ada (Europe/London)")
    ledger = next(line for line in lines if line.strip().startswith("ledger |"))
    marks = ledger.split("|", 1)[1]
    # the complaint comes first, then the call, then the planned email (capital: planned)
    assert marks.index("!") < marks.index("p") < marks.index("E")
    complaint = next(line for line in lines if 'quiet "after a complaint"' in line)
    assert complaint.split("|", 1)[1].lstrip().startswith("░")
    week = next(line for line in lines if 'cap "one sales call a week"' in line)
    bar = week.split("|", 1)[1]
    assert bar.count("[") == 1 and bar.count("]") == 1
    assert "event complaint at 2026-10-01 09:00" in out
    assert "marketing email by growth at 2026-11-26 10:00 (planned)" in out
    assert "no customer `bob` yet" in show(session, "timeline bob")


def test_rules_customers_and_help(session: Session) -> None:
    rules = show(session, "rules")
    assert '"owner speaks first"' in rules and "any except transactional" in rules
    customers = show(session, "customers")
    assert re.search(r"ada\s*│.*owner wealth_management.*│\s*3", customers)
    assert 'is denied [by "rule"]' in show(session, "help")
    assert show(session, "help advance").startswith("advance 3 days")
    assert "did you mean `advance`?" in show(session, "help advanse")


def test_reload_keeps_the_scenario_and_the_old_policy_on_errors(tmp_path: Path) -> None:
    policy = tmp_path / "p.pol"
    policy.write_text('channels email\nteams t\npurposes p\ncap "c": at most 1 email per 1 day\n')
    session = Session(policy, base=tmp_path, now=dt.datetime(2026, 1, 1, 10, 0))
    show(session, "customer x")
    show(session, "x had p email by t at 2026-01-01 09:00")
    assert 'DENIED by "c"' in show(session, "ask x: p email by t")
    policy.write_text('channels email\nteams t\npurposes p\ncap "c": at most 2 email per 1 day\n')
    assert "reloaded" in show(session, "reload")
    assert "ALLOWED" in show(session, "ask x: p email by t")
    policy.write_text('channels email\nteams t\npurposes p\ncap "c": at most 2 emial per 1 day\n')
    out = show(session, "reload")
    assert "did you mean `email`?" in out and "kept the previous version" in out
    assert "ALLOWED" in show(session, "ask x: p email by t")


def test_a_saved_session_replays_as_a_passing_test(session: Session, tmp_path: Path) -> None:
    show(session, "ask ada: marketing phone by cards")
    show(session, "ask ada: marketing phone by cards at 2026-12-07 15:00")
    show(session, "advance 3 days")
    show(session, "ask ada: marketing phone by wealth_management")
    show(session, "ask ada: marketing phone by nobody")  # an error: not saved
    assert "saved" in show(session, "save session")
    saved = tmp_path / "session.polt"
    text = saved.read_text()
    assert f'use "{os.path.relpath(NORTHWIND, tmp_path)}"' in text
    assert "now 2026-11-27 10:00" in text
    assert (
        'expect ada: marketing phone by cards is denied by "one sales call a week", "one voice" '
        "and next allowed at 2026-12-07 15:00" in text
    )
    assert "displaces marketing email by growth at 2026-11-26 10:00" in text
    assert "nobody" not in text
    report = run_file(saved)
    assert report.problems == []
    assert len(report.expectations) == 3
    assert all(a.passed for a in report.expectations)


def test_quit_and_exit_end_the_session(session: Session) -> None:
    assert show(session, "quit").strip() == "bye"
    assert session.finished
    other = Session(None, now=START)
    assert "no policy yet" in show(other, "customer ada")
    other.handle("exit")
    assert other.finished


def test_completion_offers_keywords_names_customers_and_rules(session: Session) -> None:
    def words(before: str) -> list[str]:
        return [w for w, _ in session.completions(before)]

    assert "ask" in words("a") and "advance" in words("a") and "ada" in words("a")
    assert "wealth_management" in words("ask ada: marketing phone by wea")
    assert words('expect ada: marketing phone by cards is denied by "one v') == ['one voice"']
    assert session.completions("ask ada: marketing ph") == [("phone", 2)]
    assert "in_collections" in words("customer bob: status in_")


def test_highlighting_lexers_cover_every_character() -> None:
    from pygments.token import Error

    from policylang.highlight import PolicyLexer, ScenarioLexer

    policy = NORTHWIND.read_text()
    tokens = list(PolicyLexer().get_tokens(policy))
    assert "".join(value for _, value in tokens) == policy
    assert not [t for t in tokens if t[0] is Error]
    assert ("Token.Keyword.Declaration", "cap") in [(str(t), v) for t, v in tokens]
    scenario = (ROOT / "examples" / "northwind.polt").read_text()
    tokens = list(ScenarioLexer().get_tokens(scenario))
    assert "".join(value for _, value in tokens) == scenario
    assert ("Token.Name.Variable", "ada") in [(str(t), v) for t, v in tokens]


def test_the_repl_in_a_real_terminal(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    env = dict(
        os.environ,
        POLICYLANG_HISTORY=str(tmp_path / "history"),
        PROMPT_TOOLKIT_NO_CPR="1",
        TERM="xterm",
    )
    child = pexpect.spawn(
        sys.executable,
        ["-m", "policylang.cli", "repl", "examples/northwind.pol"],
        cwd=str(ROOT),
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(50, 160),
    )
    try:
        child.expect("policylang>")
        child.sendline('customer ada: timezone "Europe/London", status deceased')
        child.expect("policylang>")
        child.sendline("ask ada: servicing email by service at 2026-11-24 10:00")
        child.expect("DENIED")
        child.expect('by "deceased"')
        child.expect("policylang>")
        child.send("ask ada: transactional em\t")  # tab completes `email`
        child.expect("ail")  # the completion inserts the rest of the word
        child.sendline(" by service at 2026-11-24 10:00")
        child.expect("ALLOWED")
        child.expect("policylang>")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    history = (tmp_path / "history").read_text()
    assert "+ask ada: transactional email by service at 2026-11-24 10:00" in history


def test_timeline_draws_quiet_hours_and_calendar_windows_from_the_evaluator(tmp_path: Path) -> None:
    policy = tmp_path / "p.pol"
    policy.write_text('policy "z"\ntimezone "America/New_York"\nchannels email\nteams t\npurposes p\n'
                      'customer\n  timezone zone\n'
                      'quiet "nights": no email between 22:00 and 07:00\n'
                      'cap "week": at most 1 email per calendar week\n')
    session = Session(policy, base=tmp_path, now=dt.datetime(2026, 1, 7, 10, 0))
    show(session, 'customer x: timezone "Asia/Tokyo"')
    show(session, "x had p email by t at 2026-01-05 09:00")
    out = show(session, "timeline x")
    lines = out.splitlines()
    assert lines[0].startswith("timeline of x (Asia/Tokyo)")
    nights = next(line for line in lines if 'quiet "nights"' in line).split("|", 1)[1]
    # the axis spans 4 to 8 January local: one quiet stretch a night, so separate runs of ░
    assert len([run for run in nights.split(" ") if run]) >= 3
    week = next(line for line in lines if 'cap "week"' in line).split("|", 1)[1]
    assert week.count("[") == 1 and week.count("]") <= 1  # the calendar week holding now

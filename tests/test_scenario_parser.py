"""Scenario language: every statement form parses to the expected AST; broken scenarios fail
with the right position, message and hint."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policylang.errors import PolicylangError, PolicySyntaxError, ScenarioError, format_error
from policylang.nodes import Value
from policylang.scenario import (
    Ask,
    Check,
    CustomerDecl,
    Expect,
    Had,
    HadEvent,
    Instant,
    Now,
    Use,
    parse_scenario,
    parse_statement,
    request_text,
    run_file,
)

BROKEN = Path(__file__).parent / "broken_scenarios"
D = dt.date(2026, 11, 24)


def one(text: str):
    statements = parse_scenario(text + "\n", "t.polt").statements
    assert len(statements) == 1
    return statements[0]


# ---- forms ---------------------------------------------------------------------------


def test_use_and_now_forms() -> None:
    assert one('use "policies/northwind.pol"') == Use("policies/northwind.pol")
    assert one("now 2026-11-24 10:00").at == Instant(D, dt.time(10, 0), None)
    assert one("now 2026-11-24").at == Instant(D, None, None)
    assert one("now 2026-11-24 10:00Z").at == Instant(D, dt.time(10, 0), "Z")
    assert one("now 2026-11-24 10:00 Z").at == Instant(D, dt.time(10, 0), "Z")
    assert one("now 2026-11-24 10:00 +01:00").at == Instant(D, dt.time(10, 0), "+01:00")
    assert one("now 2026-11-24 10:00 -0530").at == Instant(D, dt.time(10, 0), "-05:30")
    assert one("now 2026-11-24 10:00 [Europe/London]").at.zone == "Europe/London"
    assert one("now 2026-11-24T10:00:30Z").at == Instant(D, dt.time(10, 0, 30), "Z")


def test_customer_values_of_every_kind() -> None:
    decl = one(
        'customer ada: timezone "Europe/London", tier gold, vip, age 17, joined 2020-01-31, '
        "opted_out (sms, email), tags (), paused false, score -2.5"
    )
    assert isinstance(decl, CustomerDecl)
    assert decl.name.value == "ada"
    got = {a.name.value: a.value for a in decl.attributes}
    assert got["timezone"] == Value("text", "Europe/London")
    assert got["tier"] == Value("name", "gold")
    assert got["vip"] is None  # a bare flag
    assert got["age"] == Value("number", 17.0)
    assert got["joined"] == Value("date", dt.date(2020, 1, 31))
    assert tuple(got["opted_out"]) == (Value("name", "sms"), Value("name", "email"))
    assert tuple(got["tags"]) == ()
    assert got["paused"] == Value("bool", False)
    assert got["score"] == Value("number", -2.5)
    assert one("customer bob").attributes == ()


def test_a_customer_line_continues_after_a_comma_and_inside_parentheses() -> None:
    decl = one("customer ada: tier gold,\n    opted_out (sms,\n  email), vip")
    assert [a.name.value for a in decl.attributes] == ["tier", "opted_out", "vip"]


def test_ledger_lines() -> None:
    had = one('ada had marketing phone by cards at 2026-11-23 15:00 with outcome conversation campaign "q4"')
    assert isinstance(had, Had) and not had.planned
    assert [n.value for n in had.contact.names] == ["marketing", "phone"]
    assert had.contact.team.value == "cards"
    assert had.contact.outcome is not None and had.contact.outcome.value == "conversation"
    assert had.contact.campaign == "q4"
    plans = one("ada plans email marketing by growth at 2026-11-26 10:00Z")
    assert isinstance(plans, Had) and plans.planned
    assert [n.value for n in plans.contact.names] == ["email", "marketing"]
    event = one("ada had event complaint at 2026-10-01 09:00")
    assert isinstance(event, HadEvent)
    assert event.event.value == "complaint" and event.at == Instant(dt.date(2026, 10, 1), dt.time(9, 0))


def test_expect_forms() -> None:
    def checks(text: str) -> tuple[Check, ...]:
        statement = one("expect ada: marketing phone by cards " + text)
        assert isinstance(statement, Expect)
        return statement.checks

    assert checks("is allowed") == (Check("allowed"),)
    assert checks("is denied") == (Check("denied"),)
    assert checks('is denied by "a", "b c"') == (Check("denied", rules=("a", "b c")),)
    assert checks("next allowed at 2026-12-07 15:00") == (
        Check("next", at=Instant(dt.date(2026, 12, 7), dt.time(15, 0))),
    )
    assert checks("next allowed never") == (Check("next"),)
    assert checks("displaces nothing") == (Check("displaces"),)
    both = checks("displaces marketing email by growth at 2026-11-26 10:00, sms marketing by cards")
    assert len(both[0].contacts) == 2 and both[0].contacts[1].at is None
    combined = checks('is denied by "x" and next allowed at 2026-12-01')
    assert [c.kind for c in combined] == ["denied", "next"]


def test_request_extras() -> None:
    ask = one('ask ada: marketing phone by cards at 2026-11-30 15:00 campaign "spring" priority 3')
    assert isinstance(ask, Ask)
    request = ask.request
    assert request.at == Instant(dt.date(2026, 11, 30), dt.time(15, 0))
    assert (request.campaign, request.priority) == ("spring", 3)
    assert request_text(request) == 'marketing phone by cards at 2026-11-30 15:00 campaign "spring" priority 3'


def test_comments_blank_lines_and_indentation_mean_nothing() -> None:
    text = '# a test\n\nuse "p.pol"   # the policy\n\n  now 2026-11-24 10:00\n    customer ada\n'
    statements = parse_scenario(text, "t.polt").statements
    assert [type(s) for s in statements] == [Use, Now, CustomerDecl]


def test_spans_point_at_the_written_text() -> None:
    text = 'use "p.pol"\nexpect ada: marketing phone by cards is denied by "one voice"\n'
    expect = parse_scenario(text, "t.polt").statements[1]
    assert isinstance(expect, Expect)
    assert (expect.customer.span.line, expect.customer.span.column) == (2, 8)
    assert expect.request.team.span.column == 32
    assert expect.checks[0].rule_spans[0].column == 51


def test_parse_statement_reads_one_repl_line() -> None:
    assert isinstance(parse_statement("ask ada: marketing phone by cards"), Ask)
    with pytest.raises(PolicySyntaxError):
        parse_statement("ask ada: marketing phone by cards\nask ada: marketing phone by cards")


# ---- properties ----------------------------------------------------------------------

zones = st.one_of(
    st.none(),
    st.just("Z"),
    st.builds(lambda s, h, m: f"{s}{h:02d}:{m:02d}", st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59)),
    st.sampled_from(["Europe/London", "America/New_York", "Asia/Kolkata"]),
)
instants = st.builds(
    Instant,
    st.dates(dt.date(1970, 1, 1), dt.date(2200, 12, 31)),
    st.one_of(st.none(), st.builds(dt.time, st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))),
    zones,
)


@settings(max_examples=150, deadline=None)
@given(instants)
def test_an_instant_written_back_reads_the_same(instant: Instant) -> None:
    statement = parse_statement(f"now {instant.text()}")
    assert isinstance(statement, Now)
    assert statement.at == instant


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60))
def test_any_text_parses_or_fails_with_a_located_error(text: str) -> None:
    try:
        parse_scenario(text, "fuzz.polt")
    except PolicylangError as exc:
        for problem in exc.errors:
            assert problem.span.file == "fuzz.polt"
            assert problem.span.line >= 1
            assert format_error(problem).startswith("fuzz.polt:")



# ---- the broken corpus ------------------------------------------------------------------

HEADER = re.compile(r"# error: (?:(?P<file>[\w.]+):)?(?P<line>\d+):(?P<column>\d+): (?P<message>.*)")


def broken_cases() -> list[Path]:
    return sorted(BROKEN.glob("*.polt"))


def test_the_corpus_is_not_empty() -> None:
    assert len(broken_cases()) >= 20


@pytest.mark.parametrize("path", broken_cases(), ids=lambda p: p.stem)
def test_broken_scenario(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = HEADER.fullmatch(lines[0])
    assert header, f"{path.name}: first line must be '# error: LINE:COL: message'"
    hint = lines[1][len("# hint: "):] if lines[1].startswith("# hint: ") else None
    report = run_file(path)
    assert report.problems, f"{path.name} ran without an error"
    first = report.problems[0]
    assert isinstance(first, (ScenarioError, PolicySyntaxError, PolicylangError))
    expected_file = header["file"] or path.name
    assert Path(first.span.file).name == expected_file
    assert (first.span.line, first.span.column) == (int(header["line"]), int(header["column"]))
    assert header["message"] in first.message
    if hint is not None:
        assert first.hint is not None and hint in first.hint
    rendered = format_error(first)
    # the source line is quoted with a caret under the problem
    assert "^" in rendered.splitlines()[2]
    caret_line = rendered.splitlines()[2]
    assert caret_line.index("^") - 4 == first.span.column - 1

"""Running scenarios: local times, customer records, statement order, every kind of check."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policylang.errors import ScenarioError
from policylang.records import Contact, Event
from policylang.scenario import Answer, ScenarioRun, parse_scenario, run_file

HERE = Path(__file__).parent
SCENARIOS = HERE / "scenarios"
EXAMPLES = HERE.parent / "examples"
UTC = dt.timezone.utc


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def run(text: str, base: Path = SCENARIOS) -> ScenarioRun:
    """Run scenario text in ``base`` (mini.pol lives there); return the final state."""
    scenario = parse_scenario(text, str(base / "inline.polt"))
    state = ScenarioRun(base)
    for statement in scenario.statements:
        state.execute(statement)
    return state


def failures(state: ScenarioRun) -> list[tuple[str, ...]]:
    return [a.failures for a in state.answers]


MINI = 'use "mini.pol"\n'


# ---- the language reference's own example ----------------------------------------------


def test_the_section_8_example_passes_as_written() -> None:
    text = '''use "northwind.pol"
now 2026-11-24 10:00                        # local to each customer unless a zone or Z is given

customer ada: timezone "Europe/London", status active, owner wealth_management
ada had marketing phone by private_banking at 2026-11-23 15:00
ada had event complaint at 2026-10-01 09:00
ada plans marketing email by growth at 2026-11-26 10:00

expect ada: marketing phone by wealth_management is denied by "one sales call a week"
expect ada: servicing email by service is allowed
expect ada: marketing phone by wealth_management at 2026-11-30 15:00 is allowed
expect ada: marketing phone by cards next allowed at 2026-12-07 15:00
'''
    state = run(text, EXAMPLES)
    assert len(state.answers) == 4
    assert failures(state) == [()] * 4


def test_the_northwind_example_file_passes() -> None:
    report = run_file(EXAMPLES / "northwind.polt")
    assert report.problems == []
    assert len(report.expectations) >= 4
    assert [a.failures for a in report.failures] == []


# ---- times --------------------------------------------------------------------------------


def ledger_time(text: str) -> dt.datetime:
    state = run(MINI + text + "\n")
    (entry,) = next(iter(state.customers.values())).ledger
    return entry.at


@pytest.mark.parametrize(
    ("customer", "at", "expected"),
    [
        # no timezone attribute: the policy's America/New_York (EST, UTC-5 in November)
        ("customer ada", "2026-11-23 15:00", utc(2026, 11, 23, 20, 0)),
        # in July New York is on daylight time, UTC-4
        ("customer ada", "2026-07-01 15:00", utc(2026, 7, 1, 19, 0)),
        ('customer ada: timezone "Europe/London"', "2026-11-23 15:00", utc(2026, 11, 23, 15, 0)),
        ('customer ada: timezone "Europe/London"', "2026-07-01 15:00", utc(2026, 7, 1, 14, 0)),
        ('customer ada: timezone "Europe/London"', "2026-11-23 15:00Z", utc(2026, 11, 23, 15, 0)),
        ('customer ada: timezone "Europe/London"', "2026-11-23 15:00 +01:00", utc(2026, 11, 23, 14, 0)),
        ('customer ada: timezone "Europe/London"', "2026-11-23 15:00 -05:30", utc(2026, 11, 23, 20, 30)),
        ('customer ada: timezone "Europe/London"', "2026-11-23 15:00 [Asia/Tokyo]", utc(2026, 11, 23, 6, 0)),
        ("customer ada", "2026-11-23T15:00:30Z", utc(2026, 11, 23, 15, 0, 30)),
        ("customer ada", "2026-11-23", utc(2026, 11, 23, 5, 0)),
    ],
)
def test_a_time_without_a_zone_is_the_customers_local_time(customer: str, at: str, expected: dt.datetime) -> None:
    assert ledger_time(f"{customer}\nada had servicing email by sales at {at}") == expected


def test_without_any_timezone_times_are_utc(tmp_path: Path) -> None:
    (tmp_path / "p.pol").write_text("channels email\nteams t\npurposes p\ncap \"c\": at most 1 email per 1 day\n")
    state = run('use "p.pol"\ncustomer x\nx had p email by t at 2026-11-23 15:00\n', tmp_path)
    assert state.customers["x"].ledger[0].at == utc(2026, 11, 23, 15, 0)


def test_now_is_local_to_each_customer_unless_it_has_a_zone() -> None:
    state = run(
        MINI
        + 'now 2026-11-24 10:00\ncustomer ny\ncustomer ldn: timezone "Europe/London"\n'
        + "ask ny: servicing email by sales\nask ldn: servicing email by sales\n"
        + "now 2026-11-24 10:00Z\nask ny: servicing email by sales\nask ldn: servicing email by sales\n"
    )
    times = [a.request.at for a in state.answers]
    assert times == [utc(2026, 11, 24, 15), utc(2026, 11, 24, 10), utc(2026, 11, 24, 10), utc(2026, 11, 24, 10)]


def test_advance_moves_the_clock() -> None:
    state = run(MINI + "now 2026-11-24 10:00\n")
    state.advance(dt.timedelta(days=3))
    assert state.now == dt.datetime(2026, 11, 27, 10, 0)


# ---- customers ---------------------------------------------------------------------------


def test_customer_values_are_typed_by_the_policy() -> None:
    state = run(
        MINI
        + 'customer ada: timezone "Europe/London", tier gold, vip, age 41, joined 2020-01-31, '
        + 'owner service, opted_out (sms, email), tags ("a b", "c"), nickname "Ada"\n'
    )
    assert state.customers["ada"].values == {
        "timezone": "Europe/London",
        "tier": "gold",
        "vip": True,
        "age": 41.0,
        "joined": dt.date(2020, 1, 31),
        "owner": "service",
        "opted_out": frozenset({"sms", "email"}),
        "tags": frozenset({"a b", "c"}),
        "nickname": "Ada",
    }


def test_a_single_name_is_a_one_element_set_and_a_repeated_customer_line_updates() -> None:
    state = run(MINI + "customer ada: opted_out sms, vip\ncustomer ada: vip false, tier silver\n")
    assert state.customers["ada"].values == {"opted_out": frozenset({"sms"}), "vip": False, "tier": "silver"}


def test_ledger_entries_keep_status_outcome_and_campaign() -> None:
    state = run(
        MINI
        + "customer ada\n"
        + 'ada had marketing phone by sales at 2026-11-23 15:00Z with outcome answered campaign "q4"\n'
        + "ada plans email servicing by service at 2026-11-24 15:00Z\n"
        + "ada had event complaint at 2026-11-20 09:00Z\n"
    )
    assert state.customers["ada"].ledger == [
        Contact(utc(2026, 11, 23, 15), "phone", "marketing", "sales", "sent", "answered", "q4", customer="ada"),
        Contact(utc(2026, 11, 24, 15), "email", "servicing", "service", "planned", customer="ada"),
        Event(utc(2026, 11, 20, 9), "complaint", "ada"),
    ]


# ---- order and checks ---------------------------------------------------------------------


def test_an_expect_sees_only_the_lines_above_it() -> None:
    state = run(
        MINI
        + "now 2026-11-24 10:00\ncustomer ada\n"
        + "expect ada: servicing phone by sales is allowed\n"
        + "ada had servicing phone by sales at 2026-11-24 09:00\n"
        + 'expect ada: servicing phone by sales is denied by "one call a day"\n'
    )
    assert failures(state) == [(), ()]


def checked(check: str, ledger: str = "") -> tuple[str, ...]:
    """Failures of one expectation for ada, whose ledger holds a phone call at 09:00 local."""
    state = run(
        MINI
        + "now 2026-11-24 10:00\ncustomer ada: owner service, opted_out (sms)\n"
        + "ada had servicing phone by service at 2026-11-24 09:00\n"
        + ledger
        + f"expect ada: {check}\n"
    )
    return state.answers[-1].failures


def test_is_allowed_and_is_denied() -> None:
    assert checked("servicing email by service is allowed") == ()
    assert checked("servicing phone by service is denied") == ()
    (problem,) = checked("servicing phone by service is allowed")
    assert problem.startswith('expected allowed, but it is denied by "one call a day"')
    (problem,) = checked("servicing email by service is denied")
    assert problem == "expected denied, but it is allowed"


def test_is_denied_by_is_an_exact_set() -> None:
    assert checked('servicing phone by service at 2026-11-24 21:00 is denied by "nights", "one call a day"') == ()
    assert checked('servicing phone by service at 2026-11-24 21:00 is denied by "one call a day", "nights"') == ()
    (problem,) = checked('servicing phone by service at 2026-11-24 21:00 is denied by "nights"')
    assert 'expected denied by "nights", but it is denied by "one call a day", "nights"' in problem


def test_next_allowed() -> None:
    # the call at 09:00 blocks phone for one day: next allowed at 09:00 the next day
    assert checked("servicing phone by service next allowed at 2026-11-25 09:00") == ()
    assert checked("servicing phone by service next allowed at 2026-11-25 14:00Z") == ()
    (problem,) = checked("servicing phone by service next allowed at 2026-11-25 10:00")
    assert problem == "expected next allowed at 2026-11-25 10:00, but next allowed is 2026-11-25 09:00"
    # an allowed request is allowed at its own time
    assert checked("servicing email by service next allowed at 2026-11-24 10:00") == ()
    # opted out: waiting never helps
    assert checked("servicing sms by service next allowed never") == ()
    (problem,) = checked("servicing phone by service next allowed never")
    assert problem == "expected never allowed, but it is allowed at 2026-11-25 09:00"


def test_displaces() -> None:
    # sales (ranked below the owner, service) planned a call: service's call displaces it
    plan = "ada plans marketing phone by sales at 2026-11-25 11:00\n"
    ledger = plan
    request = "marketing phone by service at 2026-11-25 10:00"
    assert checked(f"{request} is allowed and displaces marketing phone by sales at 2026-11-25 11:00", ledger) == ()
    assert checked(f"{request} displaces phone marketing by sales", ledger) == ()
    (problem,) = checked(f"{request} displaces nothing", ledger)
    assert problem == "expected to displace nothing, but it displaces marketing phone by sales at 2026-11-25 11:00"
    (problem,) = checked(f"{request} displaces marketing phone by sales at 2026-11-25 12:00", ledger)
    assert problem.startswith("expected to displace marketing phone by sales at 2026-11-25 12:00, but it displaces")
    # the planning team itself is not displaced by its own plan: equal rank
    (problem,) = checked("marketing phone by sales at 2026-11-25 10:00 displaces marketing phone by sales", ledger)
    assert problem.startswith("expected to displace planned contacts, but it is denied")


def test_checks_combine_with_and() -> None:
    assert checked('servicing phone by service is denied by "one call a day" and next allowed at 2026-11-25 09:00') == ()
    problems = checked("servicing phone by service is allowed and next allowed never")
    assert len(problems) == 2


def test_capacity_counts_every_customer_of_the_scenario() -> None:
    lines = "".join(
        f"customer c{i}\nc{i} had servicing phone by support at 2026-11-24 0{8 + i}:00\n" for i in range(2)
    )
    state = run(
        MINI + "now 2026-11-24 12:00\n" + lines + "customer c9\n"
        + 'expect c9: servicing phone by support is denied by "phone lines"\n'
        + "expect c9: servicing phone by support at 2026-11-25 08:00 is allowed\n"
    )
    assert failures(state) == [(), ()]


# ---- errors ------------------------------------------------------------------------------


def test_errors_name_the_problem_and_the_nearest_name() -> None:
    with pytest.raises(ScenarioError) as caught:
        run(MINI + "customer ada\ncustomer bob\nask adb: servicing email by sales at 2026-11-24\n")
    assert caught.value.message == "no customer `adb` yet"
    assert caught.value.hint == "did you mean `ada`?"
    assert (caught.value.span.line, caught.value.span.column) == (4, 5)


def test_a_file_keeps_going_after_an_error_and_reports_them_all(tmp_path: Path) -> None:
    (tmp_path / "mini.pol").write_text((SCENARIOS / "mini.pol").read_text())
    path = tmp_path / "many.polt"
    path.write_text(
        MINI + "now 2026-11-24 10:00\ncustomer ada\nask bob: servicing email by sales\n"
        "ask ada: servicing email by sale\nexpect ada: servicing email by sales is allowed\n"
    )
    report = run_file(path)
    assert [(p.span.line, p.message) for p in report.problems] == [
        (4, "no customer `bob` yet"),
        (5, "`sale` is not a declared team"),
    ]
    assert len(report.expectations) == 1 and report.expectations[0].passed


# ---- a property: local times round-trip through the scenario ----------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1), timezones=st.just(UTC)).map(
        lambda d: d.replace(microsecond=0)
    ),
    st.sampled_from(["Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]),
)
def test_an_instant_written_in_local_time_reads_back_as_the_same_instant(moment: dt.datetime, zone: str) -> None:
    from zoneinfo import ZoneInfo

    from policylang.scenario import format_instant

    written = format_instant(moment, ZoneInfo(zone))
    got = ledger_time(f'customer ada: timezone "{zone}"\nada had servicing email by sales at {written}')
    assert got == moment


def test_answers_are_answers() -> None:
    state = run(MINI + "customer ada\nask ada: servicing email by sales at 2026-11-24 10:00\n")
    (answer,) = state.answers
    assert isinstance(answer, Answer) and answer.passed and not answer.is_expect

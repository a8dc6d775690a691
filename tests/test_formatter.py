"""The formatter: canonical layout, meaning kept, comments kept, idempotent; and ``fmt``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylang.cli import main
from policylang.errors import PolicySyntaxError
from policylang.formatter import format_policy, quote
from policylang.parser import parse, unquote
from tests.policy_strategies import texts, valid_policies

EXAMPLES = Path(__file__).parent.parent / "examples"
HEAD = "channels email, sms, phone\nteams cards, growth\npurposes marketing, debt\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_policies())
def test_formatting_keeps_the_meaning_and_is_idempotent(text: str) -> None:
    formatted = format_policy(text)
    assert parse(formatted) == parse(text)
    assert format_policy(formatted) == formatted


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_policies())
def test_formatting_keeps_every_comment(text: str) -> None:
    before = Counter(c.text for c in parse(text).comments)
    after = Counter(c.text for c in parse(format_policy(text)).comments)
    assert before == after


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_policies())
def test_formatted_text_has_no_runs_of_blank_lines_or_trailing_space(text: str) -> None:
    formatted = format_policy(text)
    assert "\n\n\n" not in formatted
    assert not formatted.startswith("\n")
    assert formatted.endswith("\n") and not formatted.endswith("\n\n")
    assert all(line == line.rstrip(" \t") for line in formatted.split("\n"))


@given(texts)
def test_quote_is_read_back_exactly(text: str) -> None:
    assert unquote(quote(text)) == text  # type: ignore[arg-type]


def test_northwind_is_already_canonical() -> None:
    text = (EXAMPLES / "northwind.pol").read_text()
    assert format_policy(text) == text


def test_vocabulary_names_align_in_a_column() -> None:
    text = "channels email,sms\nteams   cards\n\nevents  complaint\n"
    assert format_policy(text) == "channels  email, sms\nteams     cards\n\nevents    complaint\n"


def test_customer_attributes_indent_two_and_align_types() -> None:
    text = "customer\n    timezone zone\n    do_not_call    flag\n    status one of a,b\n"
    assert format_policy(text) == (
        "customer\n  timezone     zone\n  do_not_call  flag\n  status       one of a, b\n"
    )


def test_rule_bodies_align_across_blank_lines_until_another_statement() -> None:
    text = HEAD + (
        'cap "a": at most 1 phone per 7 days\n\n'
        'quiet "longer name": no sms on sunday\n'
        "owner is customer.owner\n"
        'exclusive "b": marketing per 2 weeks\n'
    )
    lines = format_policy(text).splitlines()
    assert lines[3:] == [
        'cap "a":              at most 1 phone per 7 days',
        "",
        'quiet "longer name":  no sms on sunday',
        "owner is customer.owner",
        'exclusive "b":  marketing per 2 weeks',
    ]


def test_a_very_long_rule_head_does_not_push_the_others() -> None:
    long_name = "x" * 60
    text = HEAD + f'cap "a": at most 1 phone per 7 days\ncap "{long_name}": at most 2 sms per 7 days\n'
    lines = format_policy(text).splitlines()
    assert lines[3] == 'cap "a":  at most 1 phone per 7 days'
    assert lines[4] == f'cap "{long_name}":  at most 2 sms per 7 days'


def test_selector_names_use_commas_within_a_kind_and_spaces_between_kinds() -> None:
    text = HEAD + 'quiet "q": no marketing   email sms by cards,growth outside 08:00-21:00\n'
    assert format_policy(text).splitlines()[-1] == (
        'quiet "q":  no marketing email, sms by cards, growth outside 08:00-21:00'
    )


def test_continued_lines_are_joined_and_their_comments_move_above() -> None:
    text = HEAD + 'exempt "e": marketing from cap,   # kinds\n   quiet   # last\n'
    assert format_policy(text).splitlines()[-2:] == ["# kinds", 'exempt "e":  marketing from cap, quiet  # last']


def test_comments_blank_lines_and_trailing_comment_columns() -> None:
    text = (
        "\n\n# header\n\n\n"
        'policy "p"          # a title\n'
        'timezone "UTC" # zone\n'
        "\n\n\n"
        "# vocabulary\n"
        "channels sms\n"
        "# trailing remark\n"
    )
    assert format_policy(text) == (
        "# header\n\n"
        'policy "p"          # a title\n'
        'timezone "UTC"      # zone\n'
        "\n"
        "# vocabulary\n"
        "channels  sms\n"
        "# trailing remark\n"
    )


def test_comments_inside_a_customer_block_stay_inside() -> None:
    text = "customer   # who\n  # the zone\n  timezone zone\n\n  age number # years\n"
    assert format_policy(text) == "customer   # who\n  # the zone\n  timezone  zone\n\n  age       number  # years\n"


def test_conditions_are_written_back_with_the_parentheses_they_need() -> None:
    text = (
        "customer\n  a flag\n  b flag\n  n number\n"
        + HEAD
        + 'exclude "x": any when (customer.a or customer.b) and not (customer.n >= 1.50 or customer.n in (2, -3))\n'
    )
    formatted = format_policy(text)
    assert formatted.splitlines()[-1] == (
        'exclude "x":  any when (customer.a or customer.b) and not (customer.n >= 1.5 or customer.n in (2, -3))'
    )
    assert parse(formatted) == parse(text)


def test_durations_and_windows_are_spelled_canonically() -> None:
    text = HEAD + 'cap "a": at most 1 phone per 1 days\nrequire "r": sms after email at least 1 hours before within 2 week\n'
    assert format_policy(text).splitlines()[-2:] == [
        'cap "a":      at most 1 phone per 1 day',
        'require "r":  sms after email at least 1 hour before, within 2 weeks',
    ]


def test_empty_text_formats_to_empty_text() -> None:
    assert format_policy("") == ""
    assert format_policy("\n\n# only a comment\n\n") == "# only a comment\n"


def test_text_that_does_not_parse_raises_a_syntax_error() -> None:
    with pytest.raises(PolicySyntaxError):
        format_policy('cap "x" at most 1 phone per 7 days\n', "bad.pol")


# ---- the fmt command ---------------------------------------------------------------------


def test_fmt_check_lists_files_that_would_change_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messy = tmp_path / "messy.pol"
    messy.write_text("channels   email ,sms\n")
    tidy = tmp_path / "tidy.pol"
    tidy.write_text("channels  email, sms\n")
    assert main(["fmt", "--check", str(messy), str(tidy)]) == 1
    out = capsys.readouterr().out
    assert str(messy) in out and str(tidy) not in out
    assert messy.read_text() == "channels   email ,sms\n"
    assert main(["fmt", "--check", str(tidy)]) == 0


def test_fmt_rewrites_in_place_keeping_the_mode(tmp_path: Path) -> None:
    messy = tmp_path / "messy.pol"
    messy.write_text("channels   email ,sms\n")
    messy.chmod(0o640)
    assert main(["fmt", str(messy)]) == 0
    assert messy.read_text() == "channels  email, sms\n"
    assert messy.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["messy.pol"]  # no temporary file left behind


def test_fmt_leaves_a_file_that_does_not_parse_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pol"
    bad.write_text("channels Email\n")
    good = tmp_path / "good.pol"
    good.write_text("channels   sms\n")
    assert main(["fmt", str(bad), str(good)]) == 1
    assert bad.read_text() == "channels Email\n"
    assert good.read_text() == "channels  sms\n"  # the other files are still formatted
    assert f"{bad}:1:10" in capsys.readouterr().err


def test_fmt_of_a_missing_file_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fmt", str(tmp_path / "nope.pol")]) == 2
    assert "no such file" in capsys.readouterr().err


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(sorted(EXAMPLES.glob("*.pol"))))
def test_examples_survive_formatting_unchanged(path: Path) -> None:
    text = path.read_text()
    assert format_policy(text) == text

"""Every syntactic form of docs/language.md sections 2-6 parses to the AST it means.

These tests look at the AST (policylang.ast); tests/test_compiler_graph.py checks what the
same forms compile to.
"""

from __future__ import annotations

import datetime as dt

import pytest

from policylang import ast
from policylang.parser import parse

HEAD = """channels  email, sms, phone, letter, push
teams     cards, growth, service, collections
purposes  marketing, debt, transactional, servicing
outcomes  conversation, no_answer
events    complaint
"""


def rule(text: str) -> ast.Rule:
    """The one rule of HEAD + ``text``."""
    (only,) = parse(HEAD + text + "\n").rules
    return only


def names(items: tuple[ast.Name, ...]) -> list[str]:
    return [n.value for n in items]


def test_policy_title_and_timezone() -> None:
    tree = parse('policy "Northwind \\"Bank\\""\ntimezone "America/New_York"   # comment\n')
    assert tree.statements == (ast.PolicyName('Northwind "Bank"'), ast.PolicyTimezone("America/New_York"))


@pytest.mark.parametrize("kind", ["channels", "teams", "purposes", "outcomes", "events"])
def test_vocabulary_lists(kind: str) -> None:
    (statement,) = parse(f"{kind}  a, b_2,\n   _c\n").statements
    assert statement == ast.Vocabulary(kind, (ast.Name("a"), ast.Name("b_2"), ast.Name("_c")))


def test_customer_block_with_every_type() -> None:
    text = """customer
  timezone     zone
  status       one of active, dormant, in_collections
  do_not_call  flag
  owner        team
  opted_out    set of channel
  teams_seen   set of team
  likes        set of purpose
  tags         set of text
  age          number
  note         text
  since        date
  via          channel
  why          purpose
"""
    (block,) = parse(text).statements
    assert isinstance(block, ast.CustomerBlock)
    types = {a.name.value: a.type for a in block.attributes}
    assert types["status"] == ast.AttrType("enum", (ast.Name("active"), ast.Name("dormant"), ast.Name("in_collections")))
    assert types["opted_out"] == ast.AttrType("set", element="channel")
    assert types["tags"] == ast.AttrType("set", element="text")
    for name, kind in [("timezone", "zone"), ("do_not_call", "flag"), ("owner", "team"), ("age", "number"),
                       ("note", "text"), ("since", "date"), ("via", "channel"), ("why", "purpose")]:
        assert types[name] == ast.AttrType(kind)
    assert [a.name.value for a in block.attributes][:3] == ["timezone", "status", "do_not_call"]


def test_owner_and_precedence() -> None:
    tree = parse("owner is customer.owner\nprecedence collections > owner > service\n")
    assert tree.statements == (
        ast.OwnerDecl(ast.AttrRef("owner")),
        ast.Precedence((ast.Name("collections"), ast.Name("owner"), ast.Name("service"))),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("marketing phone", ast.Selector((ast.Name("marketing"), ast.Name("phone")))),
        ("phone, sms", ast.Selector((ast.Name("phone"), ast.Name("sms")))),
        ("marketing email, sms", ast.Selector((ast.Name("marketing"), ast.Name("email"), ast.Name("sms")))),
        ("marketing by growth, cards", ast.Selector((ast.Name("marketing"),), (ast.Name("growth"), ast.Name("cards")))),
        ("debt sms", ast.Selector((ast.Name("debt"), ast.Name("sms")))),
        ("any", ast.Selector((ast.Name("any"),))),
        ("any except transactional", ast.Selector((ast.Name("any"),), (), (ast.Name("transactional"),))),
        ("by owner", ast.Selector((), (ast.Name("owner"),))),
        ("by owner except cards", ast.Selector((), (ast.Name("owner"),), (ast.Name("cards"),))),
    ],
)
def test_selector_forms(text: str, expected: ast.Selector) -> None:
    parsed = rule(f'exclusive "x": {text} per 14 days')
    assert parsed.selector == expected


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("per 7 days", ast.RollingWindow(ast.Duration(7, "day"))),
        ("per 36 hours", ast.RollingWindow(ast.Duration(36, "hour"))),
        ("per 2 weeks", ast.RollingWindow(ast.Duration(2, "week"))),
        ("per 1 day", ast.RollingWindow(ast.Duration(1, "day"))),
        ("per 90 minutes", ast.RollingWindow(ast.Duration(90, "minute"))),
        ("per 7 consecutive days", ast.ConsecutiveDays(7)),
        ("per calendar day", ast.CalendarWindow("day")),
        ("per calendar week", ast.CalendarWindow("week")),
        ("per calendar month", ast.CalendarWindow("month")),
        ("per calendar quarter", ast.CalendarWindow("quarter")),
        ("per calendar year", ast.CalendarWindow("year")),
    ],
)
def test_cap_windows(text: str, window: ast.Window) -> None:
    parsed = rule(f'cap "c": at most 3 marketing {text}')
    assert isinstance(parsed, ast.Cap)
    assert (parsed.kind, parsed.limit, parsed.window, parsed.for_each) == ("cap", 3, window, None)


@pytest.mark.parametrize("group", ["team", "channel", "purpose", "campaign"])
def test_for_each(group: str) -> None:
    parsed = rule(f'capacity "c": at most 200 phone by service per calendar week for each {group}')
    assert isinstance(parsed, ast.Cap)
    assert (parsed.kind, parsed.for_each) == ("capacity", group)


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("outside 08:00-21:00", ast.Outside(ast.ClockTime(8, 0), ast.ClockTime(21, 0))),
        ("between 21:00 and 08:00", ast.Between(ast.ClockTime(21, 0), ast.ClockTime(8, 0))),
        ("on sunday", ast.OnDays((ast.Name("sunday"),))),
        ("on weekend, 2026-12-25", ast.OnDays((ast.Name("weekend"), ast.Name("2026-12-25")))),
        ("within 30 days after complaint", ast.WithinAfter(ast.Duration(30, "day"), None, ast.Selector((ast.Name("complaint"),)))),
        (
            "within 7 consecutive days after debt phone with outcome conversation",
            ast.WithinAfter(None, 7, ast.Selector((ast.Name("debt"), ast.Name("phone"))), ast.Name("conversation")),
        ),
    ],
)
def test_quiet_periods(text: str, period: ast.QuietPeriod) -> None:
    parsed = rule(f'quiet "q": no marketing {text}')
    assert isinstance(parsed, ast.Quiet)
    assert parsed.period == period


def test_exclude_conditions_nest_as_written() -> None:
    parsed = rule(
        'exclude "x": any when not customer.a and (customer.b is x or customer.c in (1, 2))'
        " or channel not in customer.d"
    )
    assert isinstance(parsed, ast.Exclude)
    a, b, c, d = (ast.AttrRef(n) for n in "abcd")
    one, two = ast.Value("number", 1.0), ast.Value("number", 2.0)
    assert parsed.condition == ast.AnyOf((
        ast.AllOf((
            ast.Not(ast.FlagTest(a)),
            ast.AnyOf((ast.Compare(b, "is", ast.Value("name", "x")), ast.InList(c, (one, two)))),
        )),
        ast.Member("channel", d, negated=True),
    ))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("customer.s is not active", ast.Compare(ast.AttrRef("s"), "is not", ast.Value("name", "active"))),
        ("customer.age <= 17.5", ast.Compare(ast.AttrRef("age"), "<=", ast.Value("number", 17.5))),
        ("customer.age != -3", ast.Compare(ast.AttrRef("age"), "!=", ast.Value("number", -3.0))),
        ("customer.since >= 2026-01-31", ast.Compare(ast.AttrRef("since"), ">=", ast.Value("date", dt.date(2026, 1, 31)))),
        ('customer.note == "a \\"b\\""', ast.Compare(ast.AttrRef("note"), "==", ast.Value("text", 'a "b"'))),
        ("customer.vip is true", ast.Compare(ast.AttrRef("vip"), "is", ast.Value("bool", True))),
        ("customer.s not in (a, b)", ast.InList(ast.AttrRef("s"), (ast.Value("name", "a"), ast.Value("name", "b")), True)),
        ("team in customer.seen", ast.Member("team", ast.AttrRef("seen"))),
        ("purpose in customer.likes", ast.Member("purpose", ast.AttrRef("likes"))),
    ],
)
def test_condition_tests(text: str, expected: ast.Condition) -> None:
    parsed = rule(f'exclude "x": any when {text}')
    assert isinstance(parsed, ast.Exclude)
    assert parsed.condition == expected


@pytest.mark.parametrize(
    ("tail", "outcome", "at_least", "within"),
    [
        ("at least 3 days before, within 30 days", None, ast.Duration(3, "day"), ast.Duration(30, "day")),
        ("at least 3 days before within 30 days", None, ast.Duration(3, "day"), ast.Duration(30, "day")),
        ("with outcome conversation within 2 weeks", ast.Name("conversation"), None, ast.Duration(2, "week")),
        ("at least 1 hour before", None, ast.Duration(1, "hour"), None),
        ("", None, None, None),
    ],
)
def test_require_forms(tail: str, outcome: ast.Name | None, at_least: ast.Duration | None, within: ast.Duration | None) -> None:
    parsed = rule(f'require "r": debt sms after debt email {tail}')
    assert isinstance(parsed, ast.Require)
    assert parsed.prerequisite == ast.Selector((ast.Name("debt"), ast.Name("email")))
    assert (parsed.outcome, parsed.at_least, parsed.within) == (outcome, at_least, within)


def test_exempt_targets_kinds_and_quoted_names() -> None:
    parsed = rule('exempt "t": transactional from cap, quiet, "one \\"voice\\"", capacity')
    assert isinstance(parsed, ast.Exempt)
    assert parsed.targets == (
        ast.ExemptTarget("cap", True),
        ast.ExemptTarget("quiet", True),
        ast.ExemptTarget('one "voice"', False),
        ast.ExemptTarget("capacity", True),
    )


def test_spans_point_at_the_source_and_do_not_count_for_equality() -> None:
    one = parse(HEAD + 'cap "c": at most 1 marketing phone per 7 days\n')
    two = parse("\n# moved\n" + HEAD.replace("  ", "     ") + 'cap  "c" :  at most  1  marketing   phone per 7   days  # x\n')
    assert one == two
    cap_one, cap_two = one.rules[0], two.rules[0]
    assert cap_one.span.line == 6 and cap_two.span.line == 8
    assert cap_two.name_span.column == 6
    assert two.comments == (ast.Comment("# moved", 2, 1), ast.Comment("# x", 8, cap_two.span.end_column + 2))


def test_a_newline_after_an_operator_ends_the_statement_unless_the_next_line_is_indented() -> None:
    from policylang.errors import PolicySyntaxError

    with pytest.raises(PolicySyntaxError) as caught:
        parse(HEAD + 'exclude "x": any when customer.a\nor customer.b\n')
    assert caught.value.span.line == 7
    # 11.0: outside a customer block an indented line continues the statement above
    exclude = parse(HEAD + 'exclude "x": any when customer.a\n  or customer.b\n').rules[0]
    assert isinstance(exclude, ast.Exclude)
    assert exclude.condition == ast.AnyOf((ast.FlagTest(ast.AttrRef("a")), ast.FlagTest(ast.AttrRef("b"))))


def test_newlines_after_commas_and_inside_parentheses_continue_the_statement() -> None:
    text = HEAD + 'exclude "x": email,\n    sms when (customer.a\n  or customer.b)\nquiet "q": no phone on saturday,\n  sunday\n'
    exclude, quiet = parse(text).rules
    assert isinstance(exclude, ast.Exclude) and isinstance(quiet, ast.Quiet)
    assert names(exclude.selector.names) == ["email", "sms"]
    assert exclude.condition == ast.AnyOf((ast.FlagTest(ast.AttrRef("a")), ast.FlagTest(ast.AttrRef("b"))))
    assert quiet.period == ast.OnDays((ast.Name("saturday"), ast.Name("sunday")))


def test_a_hash_inside_a_rule_name_is_not_a_comment() -> None:
    tree = parse(HEAD + 'cap "no #1": at most 1 phone per 7 days  # real\n')
    assert tree.rules[0].name == "no #1"
    assert [c.text for c in tree.comments] == ["# real"]


def test_the_northwind_example_parses_to_twenty_rules_in_order() -> None:
    from pathlib import Path

    tree = parse((Path(__file__).parent.parent / "examples" / "northwind.pol").read_text())
    kinds = [r.kind for r in tree.rules]
    assert kinds == ["cap"] * 5 + ["capacity"] + ["quiet"] * 5 + ["exclude"] * 5 + ["require", "exclusive", "exempt", "exempt"]

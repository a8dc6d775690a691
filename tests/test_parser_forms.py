"""Every syntactic form of docs/language.md sections 2-6 parses to the AST it means.

These tests look at the AST (policylang.nodes); tests/test_compiler_graph.py checks what the
same forms compile to.
"""

from __future__ import annotations

import datetime as dt

import pytest

from policylang import nodes
from policylang.parser import parse

HEAD = """channels  email, sms, phone, letter, push
teams     cards, growth, service, collections
purposes  marketing, debt, transactional, servicing
outcomes  conversation, no_answer
events    complaint
"""


def rule(text: str) -> nodes.Rule:
    """The one rule of HEAD + ``text``."""
    (only,) = parse(HEAD + text + "\n").rules
    return only


def names(items: tuple[nodes.Name, ...]) -> list[str]:
    return [n.value for n in items]


def test_policy_title_and_timezone() -> None:
    tree = parse('policy "Northwind \\"Bank\\""\ntimezone "America/New_York"   # comment\n')
    assert tree.statements == (nodes.PolicyName('Northwind "Bank"'), nodes.PolicyTimezone("America/New_York"))


@pytest.mark.parametrize("kind", ["channels", "teams", "purposes", "outcomes", "events"])
def test_vocabulary_lists(kind: str) -> None:
    (statement,) = parse(f"{kind}  a, b_2,\n   _c\n").statements
    assert statement == nodes.Vocabulary(kind, (nodes.Name("a"), nodes.Name("b_2"), nodes.Name("_c")))


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
    assert isinstance(block, nodes.CustomerBlock)
    types = {a.name.value: a.type for a in block.attributes}
    assert types["status"] == nodes.AttrType("enum", (nodes.Name("active"), nodes.Name("dormant"), nodes.Name("in_collections")))
    assert types["opted_out"] == nodes.AttrType("set", element="channel")
    assert types["tags"] == nodes.AttrType("set", element="text")
    for name, kind in [("timezone", "zone"), ("do_not_call", "flag"), ("owner", "team"), ("age", "number"),
                       ("note", "text"), ("since", "date"), ("via", "channel"), ("why", "purpose")]:
        assert types[name] == nodes.AttrType(kind)
    assert [a.name.value for a in block.attributes][:3] == ["timezone", "status", "do_not_call"]


def test_owner_and_precedence() -> None:
    tree = parse("owner is customer.owner\nprecedence collections > owner > service\n")
    assert tree.statements == (
        nodes.OwnerDecl(nodes.AttrRef("owner")),
        nodes.Precedence((nodes.Name("collections"), nodes.Name("owner"), nodes.Name("service"))),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("marketing phone", nodes.Selector((nodes.Name("marketing"), nodes.Name("phone")))),
        ("phone, sms", nodes.Selector((nodes.Name("phone"), nodes.Name("sms")))),
        ("marketing email, sms", nodes.Selector((nodes.Name("marketing"), nodes.Name("email"), nodes.Name("sms")))),
        ("marketing by growth, cards", nodes.Selector((nodes.Name("marketing"),), (nodes.Name("growth"), nodes.Name("cards")))),
        ("debt sms", nodes.Selector((nodes.Name("debt"), nodes.Name("sms")))),
        ("any", nodes.Selector((nodes.Name("any"),))),
        ("any except transactional", nodes.Selector((nodes.Name("any"),), (), (nodes.Name("transactional"),))),
        ("by owner", nodes.Selector((), (nodes.Name("owner"),))),
        ("by owner except cards", nodes.Selector((), (nodes.Name("owner"),), (nodes.Name("cards"),))),
    ],
)
def test_selector_forms(text: str, expected: nodes.Selector) -> None:
    parsed = rule(f'exclusive "x": {text} per 14 days')
    assert parsed.selector == expected


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("per 7 days", nodes.RollingWindow(nodes.Duration(7, "day"))),
        ("per 36 hours", nodes.RollingWindow(nodes.Duration(36, "hour"))),
        ("per 2 weeks", nodes.RollingWindow(nodes.Duration(2, "week"))),
        ("per 1 day", nodes.RollingWindow(nodes.Duration(1, "day"))),
        ("per 90 minutes", nodes.RollingWindow(nodes.Duration(90, "minute"))),
        ("per 7 consecutive days", nodes.ConsecutiveDays(7)),
        ("per calendar day", nodes.CalendarWindow("day")),
        ("per calendar week", nodes.CalendarWindow("week")),
        ("per calendar month", nodes.CalendarWindow("month")),
        ("per calendar quarter", nodes.CalendarWindow("quarter")),
        ("per calendar year", nodes.CalendarWindow("year")),
    ],
)
def test_cap_windows(text: str, window: nodes.Window) -> None:
    parsed = rule(f'cap "c": at most 3 marketing {text}')
    assert isinstance(parsed, nodes.Cap)
    assert (parsed.kind, parsed.limit, parsed.window, parsed.for_each) == ("cap", 3, window, None)


@pytest.mark.parametrize("group", ["team", "channel", "purpose", "campaign"])
def test_for_each(group: str) -> None:
    parsed = rule(f'capacity "c": at most 200 phone by service per calendar week for each {group}')
    assert isinstance(parsed, nodes.Cap)
    assert (parsed.kind, parsed.for_each) == ("capacity", group)


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("outside 08:00-21:00", nodes.Outside(nodes.ClockTime(8, 0), nodes.ClockTime(21, 0))),
        ("between 21:00 and 08:00", nodes.Between(nodes.ClockTime(21, 0), nodes.ClockTime(8, 0))),
        ("on sunday", nodes.OnDays((nodes.Name("sunday"),))),
        ("on weekend, 2026-12-25", nodes.OnDays((nodes.Name("weekend"), nodes.Name("2026-12-25")))),
        ("within 30 days after complaint", nodes.WithinAfter(nodes.Duration(30, "day"), None, nodes.Selector((nodes.Name("complaint"),)))),
        (
            "within 7 consecutive days after debt phone with outcome conversation",
            nodes.WithinAfter(None, 7, nodes.Selector((nodes.Name("debt"), nodes.Name("phone"))), nodes.Name("conversation")),
        ),
    ],
)
def test_quiet_periods(text: str, period: nodes.QuietPeriod) -> None:
    parsed = rule(f'quiet "q": no marketing {text}')
    assert isinstance(parsed, nodes.Quiet)
    assert parsed.period == period


def test_exclude_conditions_nest_as_written() -> None:
    parsed = rule(
        'exclude "x": any when not customer.a and (customer.b is x or customer.c in (1, 2))'
        " or channel not in customer.d"
    )
    assert isinstance(parsed, nodes.Exclude)
    a, b, c, d = (nodes.AttrRef(n) for n in "abcd")
    one, two = nodes.Value("number", 1.0), nodes.Value("number", 2.0)
    assert parsed.condition == nodes.AnyOf((
        nodes.AllOf((
            nodes.Not(nodes.FlagTest(a)),
            nodes.AnyOf((nodes.Compare(b, "is", nodes.Value("name", "x")), nodes.InList(c, (one, two)))),
        )),
        nodes.Member("channel", d, negated=True),
    ))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("customer.s is not active", nodes.Compare(nodes.AttrRef("s"), "is not", nodes.Value("name", "active"))),
        ("customer.age <= 17.5", nodes.Compare(nodes.AttrRef("age"), "<=", nodes.Value("number", 17.5))),
        ("customer.age != -3", nodes.Compare(nodes.AttrRef("age"), "!=", nodes.Value("number", -3.0))),
        ("customer.since >= 2026-01-31", nodes.Compare(nodes.AttrRef("since"), ">=", nodes.Value("date", dt.date(2026, 1, 31)))),
        ('customer.note == "a \\"b\\""', nodes.Compare(nodes.AttrRef("note"), "==", nodes.Value("text", 'a "b"'))),
        ("customer.vip is true", nodes.Compare(nodes.AttrRef("vip"), "is", nodes.Value("bool", True))),
        ("customer.s not in (a, b)", nodes.InList(nodes.AttrRef("s"), (nodes.Value("name", "a"), nodes.Value("name", "b")), True)),
        ("team in customer.seen", nodes.Member("team", nodes.AttrRef("seen"))),
        ("purpose in customer.likes", nodes.Member("purpose", nodes.AttrRef("likes"))),
    ],
)
def test_condition_tests(text: str, expected: nodes.Condition) -> None:
    parsed = rule(f'exclude "x": any when {text}')
    assert isinstance(parsed, nodes.Exclude)
    assert parsed.condition == expected


@pytest.mark.parametrize(
    ("tail", "outcome", "at_least", "within"),
    [
        ("at least 3 days before, within 30 days", None, nodes.Duration(3, "day"), nodes.Duration(30, "day")),
        ("at least 3 days before within 30 days", None, nodes.Duration(3, "day"), nodes.Duration(30, "day")),
        ("with outcome conversation within 2 weeks", nodes.Name("conversation"), None, nodes.Duration(2, "week")),
        ("at least 1 hour before", None, nodes.Duration(1, "hour"), None),
        ("", None, None, None),
    ],
)
def test_require_forms(tail: str, outcome: nodes.Name | None, at_least: nodes.Duration | None, within: nodes.Duration | None) -> None:
    parsed = rule(f'require "r": debt sms after debt email {tail}')
    assert isinstance(parsed, nodes.Require)
    assert parsed.prerequisite == nodes.Selector((nodes.Name("debt"), nodes.Name("email")))
    assert (parsed.outcome, parsed.at_least, parsed.within) == (outcome, at_least, within)


def test_exempt_targets_kinds_and_quoted_names() -> None:
    parsed = rule('exempt "t": transactional from cap, quiet, "one \\"voice\\"", capacity')
    assert isinstance(parsed, nodes.Exempt)
    assert parsed.targets == (
        nodes.ExemptTarget("cap", True),
        nodes.ExemptTarget("quiet", True),
        nodes.ExemptTarget('one "voice"', False),
        nodes.ExemptTarget("capacity", True),
    )


def test_spans_point_at_the_source_and_do_not_count_for_equality() -> None:
    one = parse(HEAD + 'cap "c": at most 1 marketing phone per 7 days\n')
    two = parse("\n# moved\n" + HEAD.replace("  ", "     ") + 'cap  "c" :  at most  1  marketing   phone per 7   days  # x\n')
    assert one == two
    cap_one, cap_two = one.rules[0], two.rules[0]
    assert cap_one.span.line == 6 and cap_two.span.line == 8
    assert cap_two.name_span.column == 6
    assert two.comments == (nodes.Comment("# moved", 2, 1), nodes.Comment("# x", 8, cap_two.span.end_column + 2))


def test_a_newline_after_an_operator_ends_the_statement_unless_the_next_line_is_indented() -> None:
    from policylang.errors import PolicySyntaxError

    with pytest.raises(PolicySyntaxError) as caught:
        parse(HEAD + 'exclude "x": any when customer.a\nor customer.b\n')
    assert caught.value.span.line == 7
    # 11.0: outside a customer block an indented line continues the statement above
    exclude = parse(HEAD + 'exclude "x": any when customer.a\n  or customer.b\n').rules[0]
    assert isinstance(exclude, nodes.Exclude)
    assert exclude.condition == nodes.AnyOf((nodes.FlagTest(nodes.AttrRef("a")), nodes.FlagTest(nodes.AttrRef("b"))))


def test_newlines_after_commas_and_inside_parentheses_continue_the_statement() -> None:
    text = HEAD + 'exclude "x": email,\n    sms when (customer.a\n  or customer.b)\nquiet "q": no phone on saturday,\n  sunday\n'
    exclude, quiet = parse(text).rules
    assert isinstance(exclude, nodes.Exclude) and isinstance(quiet, nodes.Quiet)
    assert names(exclude.selector.names) == ["email", "sms"]
    assert exclude.condition == nodes.AnyOf((nodes.FlagTest(nodes.AttrRef("a")), nodes.FlagTest(nodes.AttrRef("b"))))
    assert quiet.period == nodes.OnDays((nodes.Name("saturday"), nodes.Name("sunday")))


def test_a_hash_inside_a_rule_name_is_not_a_comment() -> None:
    tree = parse(HEAD + 'cap "no #1": at most 1 phone per 7 days  # real\n')
    assert tree.rules[0].name == "no #1"
    assert [c.text for c in tree.comments] == ["# real"]


def test_the_northwind_example_parses_to_twenty_rules_in_order() -> None:
    from pathlib import Path

    tree = parse((Path(__file__).parent.parent / "examples" / "northwind.pol").read_text())
    kinds = [r.kind for r in tree.rules]
    assert kinds == ["cap"] * 5 + ["capacity"] + ["quiet"] * 5 + ["exclude"] * 5 + ["require", "exclusive", "exempt", "exempt"]

"""Issue 10 items 2-4: conditions are data in the rule graph; one unparser prints every node;
dispatch over closed unions fails loudly on a node it does not know."""

from __future__ import annotations

import datetime as dt
import json

import attrs
import pytest

from policylang import conditions, nodes, unparse
from policylang.compiler import compile_policy
from policylang.conditions import (
    Comparison,
    Conjunction,
    Constant,
    Disjunction,
    FlagIs,
    Membership,
    Negation,
    OneOf,
    TimeSpec,
)
from policylang.evaluator import holds
from policylang.parser import parse
from policylang.records import Request
from policylang.rules import ExcludeRule

HEAD = """policy "p"
timezone "UTC"
channels email, sms
teams cards
purposes marketing
customer
  age  number
  since  date
  seen  instant
  state  text
  dnc  flag
  opted  set of channel
"""
AT = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def exclude(condition: str) -> ExcludeRule:
    policy = compile_policy(HEAD + f'exclude "x": any when {condition}\n')
    rule = policy.rules[0]
    assert isinstance(rule, ExcludeRule)
    return rule


def test_a_condition_compiles_to_a_typed_tree() -> None:
    rule = exclude('customer.dnc or customer.age <= 17 and not (channel in customer.opted) '
                   'or customer.state in ("fl", tx) or customer.seen within 2 weeks')
    assert rule.condition == Disjunction((
        FlagIs("dnc"),
        Conjunction((Comparison("age", "<=", Constant(17.0)), Negation(Membership("channel", "opted")))),
        OneOf("state", (Constant("fl", quoted=True), Constant("tx"))),
        TimeSpec("seen", "within", seconds=14 * 86400, amount=2, unit="week"),
    ))
    assert rule.time_tests == (TimeSpec("seen", "within", seconds=14 * 86400, amount=2, unit="week"),)


def test_equal_conditions_compare_equal_however_laid_out() -> None:
    assert exclude("customer.age   <=  17").condition == exclude("customer.age <= 17").condition
    assert exclude("customer.age < 17").condition != exclude("customer.age <= 17").condition


@pytest.mark.parametrize(("op", "expected"), [
    ("<", [True, False, False]), ("<=", [True, True, False]), (">", [False, False, True]),
    (">=", [False, True, True]), ("==", [False, True, False]), ("!=", [True, False, True]),
    ("is", [False, True, False]), ("is not", [True, False, True]),
])
def test_every_comparison_at_and_around_equality(op: str, expected: list[bool]) -> None:
    rule = exclude(f"customer.age {op} 18")
    request = Request("cards", "sms", "marketing", AT)
    assert [holds(rule.condition, {"age": age}, request) for age in (17.0, 18.0, 19.0)] == expected
    assert holds(rule.condition, {}, request) is False  # an absent value makes a comparison false


def test_time_tests_are_half_open() -> None:
    within = exclude("customer.seen within 1 day").condition
    ago = exclude("customer.seen at least 1 day ago").condition
    request = Request("cards", "sms", "marketing", AT)
    for seen, inside in ((AT - dt.timedelta(days=1), False), (AT - dt.timedelta(days=1) + dt.timedelta(microseconds=1), True),
                         (AT, True), (AT + dt.timedelta(seconds=1), False)):
        assert holds(within, {"seen": seen}, request) is inside
    assert holds(ago, {"seen": AT - dt.timedelta(days=1)}, request) is True
    assert holds(ago, {"seen": AT - dt.timedelta(hours=23)}, request) is False


@pytest.mark.parametrize("condition", [
    "customer.dnc",
    "not customer.dnc",
    "customer.age <= 17.5 and (customer.dnc or customer.state is not \"a \\\"b\\\"\")",
    "customer.since < 2026-01-01 or customer.state in (fl, \"tx\")",
    "customer.state not in (fl)",
    "channel not in customer.opted",
    "customer.seen within 3 consecutive days or customer.seen at least 1 month ago",
])
def test_the_compiled_tree_prints_as_the_source_condition(condition: str) -> None:
    rule = exclude(condition)
    tree = parse(HEAD + f'exclude "x": any when {condition}\n').rules[0]
    assert isinstance(tree, nodes.Exclude)
    assert unparse.text(rule.condition) == unparse.text(tree.condition) == rule.condition_text


def test_conditions_serialise_and_read_back() -> None:
    rule = exclude("customer.since >= 2026-01-01 and customer.state in (\"fl\", tx) or not customer.dnc "
                   "or channel in customer.opted or customer.seen within 2 consecutive days")
    data = json.loads(json.dumps(conditions.to_data(rule.condition)))
    assert conditions.from_data(data) == rule.condition
    with pytest.raises(ValueError, match="not a condition node"):
        conditions.from_data({"node": "xor"})


@attrs.frozen
class Mystery:
    """A node kind no code knows."""

    value: int = 0


def test_the_unparser_raises_on_a_node_it_does_not_know() -> None:
    with pytest.raises(unparse.UnparseError, match="mystery_text"):
        unparse.text(Mystery())


def test_the_interpreter_and_the_compiler_raise_on_an_unknown_node() -> None:
    with pytest.raises(AssertionError):
        holds(Mystery(), {}, Request("cards", "sms", "marketing", AT))  # type: ignore[arg-type]
    from policylang.compiler import Compiler
    from policylang.source import Source

    compiler = Compiler(parse(HEAD), Source("<policy>", HEAD))
    with pytest.raises(AssertionError):  # a rule of a kind the compiler has no case for
        compiler.rule(MysteryRule(), 0)  # type: ignore[arg-type]
    with pytest.raises(AssertionError):
        compiler.condition(Mystery(), [])  # type: ignore[arg-type]
    with pytest.raises(AssertionError):
        compiler.quiet_part(Mystery())  # type: ignore[arg-type]


@attrs.frozen
class MysteryRule:
    """A rule-shaped node of no known kind."""

    cite: tuple[nodes.Citation, ...] = ()
    selector: nodes.Selector = nodes.Selector()


def test_every_statement_of_the_examples_prints() -> None:
    from pathlib import Path

    printer = unparse.Unparser()
    for path in sorted(Path(__file__).parent.parent.joinpath("examples").glob("*.pol")):
        for statement in parse(path.read_text(encoding="utf-8"), str(path)).statements:
            assert printer.text(statement)

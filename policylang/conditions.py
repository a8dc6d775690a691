"""The compiled condition tree: a rule's ``when`` (11.1) and an ``exclude``'s condition as data.

The compiler resolves the AST's condition (names checked, literals typed) into these frozen
nodes and keeps them in the rule graph; the evaluator interprets them
(:func:`policylang.evaluator.holds`, a ``match`` over :data:`Condition`), as Cedar's evaluator
interprets an expression rather than calling a compiled closure. Being data, a condition can
be compared (two policies that say the same thing compile to equal trees), printed (by the
one unparser, :mod:`policylang.unparse`) and serialised (:func:`to_data` / :func:`from_data`).
"""

from __future__ import annotations

import datetime as dt

from policylang.slotted import field, fields, frozen

TYPE_CHECKING = False
if TYPE_CHECKING:  # names of literal types only: deciding needs none of the syntax tree
    from typing import Any
    from typing import assert_never as assert_never

    from policylang.nodes import CompareOp, DurationUnit, RequestField, TimeOp
else:  # typing's names, without importing typing (a cold decide: policylang.annotations)
    from policylang.annotations import Any, assert_never


Scalar = float | str | dt.date | bool

COMPARE_OPS: tuple[CompareOp, ...] = ("is", "is not", "==", "!=", "<", "<=", ">", ">=")
TIME_OPS: tuple[TimeOp, ...] = ("within", "within_days", "ago")
REQUEST_FIELDS: tuple[RequestField, ...] = ("channel", "team", "purpose")


@frozen
class Constant:
    """A typed literal; ``quoted`` when it was written as a string (``"fl"``, not ``fl``)."""

    value: Scalar
    quoted: bool = False


@frozen
class FlagIs:
    """``customer.FLAG``: true when the flag is set (an absent flag is false)."""

    attribute: str


@frozen
class Comparison:
    """``customer.ATTR OP value``; false when the value is absent (section 3)."""

    attribute: str
    op: CompareOp
    value: Constant


@frozen
class OneOf:
    """``customer.ATTR in (a, b)`` (or ``not in``); false when the value is absent."""

    attribute: str
    values: tuple[Constant, ...]
    negated: bool = False
    choices: frozenset[Scalar] = field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # looked up on every test: built once
        object.__setattr__(self, "choices", frozenset(v.value for v in self.values))


@frozen
class Membership:
    """``channel in customer.SET`` (or team/purpose, or ``not in``); an absent set is empty."""

    field: RequestField
    attribute: str
    negated: bool = False


@frozen
class TimeSpec:
    """A time test (11.2): ``customer.A within D``, ``within N consecutive days`` or ``at least D
    ago``. ``seconds``/``months`` (or ``days`` for ``within_days``) measure it; ``amount`` and
    ``unit`` are the duration as written, for printing."""

    attribute: str
    op: TimeOp
    seconds: int = 0
    months: int = 0
    days: int = 0
    amount: int = 0
    unit: DurationUnit = "day"


@frozen
class Conjunction:
    """``a and b and ...``: true when every operand holds."""

    operands: tuple[Condition, ...]


@frozen
class Disjunction:
    """``a or b or ...``: true when an operand holds (none: false)."""

    operands: tuple[Condition, ...]


@frozen
class Negation:
    """``not a``."""

    operand: Condition


Condition = FlagIs | Comparison | OneOf | Membership | TimeSpec | Conjunction | Disjunction | Negation
NEVER_HOLDS: Condition = Disjunction(())


def time_tests(condition: Condition | None) -> tuple[TimeSpec, ...]:
    """The time tests in a condition, in the order written (the instants where it can change)."""
    match condition:
        case None | FlagIs() | Comparison() | OneOf() | Membership():
            return ()
        case TimeSpec():
            return (condition,)
        case Conjunction(operands) | Disjunction(operands):
            return tuple(test for op in operands for test in time_tests(op))
        case Negation(operand):
            return time_tests(operand)
        case _:
            assert_never(condition)


# ---- serialisation -----------------------------------------------------------------------


def _constant_data(constant: Constant) -> dict[str, Any]:
    value = constant.value
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    return {"value": value, "quoted": constant.quoted} if constant.quoted else {"value": value}


def _constant(data: dict[str, Any]) -> Constant:
    if "date" in data:
        return Constant(dt.date.fromisoformat(data["date"]))
    return Constant(data["value"], bool(data.get("quoted", False)))


def to_data(condition: Condition) -> dict[str, Any]:
    """A JSON-ready dict of ``condition`` (``{"node": KIND, ...}``); :func:`from_data` reads it back."""
    match condition:
        case FlagIs(attribute):
            return {"node": "flag", "attribute": attribute}
        case Comparison(attribute, op, value):
            return {"node": "compare", "attribute": attribute, "op": op, "value": _constant_data(value)}
        case OneOf(attribute, values, negated):
            return {"node": "one_of", "attribute": attribute, "values": [_constant_data(v) for v in values],
                    "negated": negated}
        case Membership(field, attribute, negated):
            return {"node": "member", "field": field, "attribute": attribute, "negated": negated}
        case TimeSpec():
            return {"node": "time", **{spec.name: getattr(condition, spec.name) for spec in fields(TimeSpec)}}
        case Conjunction(operands):
            return {"node": "all", "operands": [to_data(op) for op in operands]}
        case Disjunction(operands):
            return {"node": "any", "operands": [to_data(op) for op in operands]}
        case Negation(operand):
            return {"node": "not", "operand": to_data(operand)}
        case _:
            assert_never(condition)


def from_data(data: dict[str, Any]) -> Condition:
    """The condition :func:`to_data` wrote; ValueError on a node kind it does not know."""
    kind = data["node"]
    if kind == "flag":
        return FlagIs(data["attribute"])
    if kind == "compare":
        return Comparison(data["attribute"], data["op"], _constant(data["value"]))
    if kind == "one_of":
        return OneOf(data["attribute"], tuple(_constant(v) for v in data["values"]), data["negated"])
    if kind == "member":
        return Membership(data["field"], data["attribute"], data["negated"])
    if kind == "time":
        fields = {k: v for k, v in data.items() if k != "node"}
        return TimeSpec(**fields)
    if kind in ("all", "any"):
        operands = tuple(from_data(op) for op in data["operands"])
        return Conjunction(operands) if kind == "all" else Disjunction(operands)
    if kind == "not":
        return Negation(from_data(data["operand"]))
    raise ValueError(f"not a condition node: {kind!r}")

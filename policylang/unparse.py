"""The one unparser: every node written back as the text a policy or scenario author writes.

A method per node kind, in the style of sqlglot's ``Generator``: :meth:`Unparser.text` finds
the method ``<kind>_text`` of a node's class (the class name in snake case: ``cap_text``,
``all_of_text``, ``time_spec_text``) and raises :class:`UnparseError` on a node it has no
method for, never printing nothing. It prints the policy AST (:mod:`policylang.nodes`), the
compiled condition tree (:mod:`policylang.conditions`) and the scenario statements a REPL
session saves.

The formatter, the compiler's trace wording, the graph's labels, the lint and policy-diff
messages and the REPL's ``save`` all print through it. One option, as a sqlglot dialect has
settings: ``kind_of`` (a name's vocabulary kind, from :meth:`Unparser.for_policy`) joins names
of one kind in a selector with commas (``marketing, service email``), as the formatter lays
them out; without it names are joined by spaces, as traces word them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from policylang import conditions as cond
from policylang.conditions import assert_never

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from policylang import nodes
    from policylang.rules import ClockRange, DayClock, DaySet
else:
    from policylang.annotations import Any

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class UnparseError(TypeError):
    """The unparser met a node it has no method for (a new node kind needs a ``<kind>_text``)."""


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def node_key(cls: type) -> str:
    """The snake-case kind of a node class: ``AllOf`` -> ``all_of``."""
    return _CAMEL.sub("_", cls.__name__).lower()


def quote(text: str) -> str:
    """A quoted string literal that the parsers read back as ``text``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def number_text(number: float) -> str:
    """A number as policy text: never an exponent (the grammars' NUMBER has none)."""
    number = float(number)
    if number.is_integer():
        return str(int(number))
    import decimal  # a fraction in a policy is rare: not on every start

    return format(decimal.Decimal(repr(number)), "f")


def duration_words(amount: int, unit: str) -> str:
    """``1 day``, ``7 days``."""
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


def days_words(days: int) -> str:
    """``1 consecutive day``, ``3 consecutive days``."""
    return f"{days} consecutive {'day' if days == 1 else 'days'}"


class Unparser:
    """Writes nodes back as text; see the module docstring."""

    _dispatch: ClassVar[dict[type, Callable[[Any, Any], str]]] = {}  # node class -> method, filled on first use

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls._dispatch = {}

    def __init__(self, kind_of: Mapping[str, str] | None = None) -> None:
        self.kind_of = kind_of

    @classmethod
    def for_policy(cls, tree: nodes.PolicyFile) -> Unparser:
        """The formatter's unparser for ``tree``: selector names grouped by declared kind."""
        from policylang import nodes  # the syntax tree's classes: not needed for the trace's words

        kind_of: dict[str, str] = {}
        for statement in tree.statements:
            if isinstance(statement, nodes.Vocabulary):
                for name in statement.names:
                    kind_of.setdefault(name.value, statement.kind)
        return cls(kind_of)

    def text(self, node: object) -> str:
        """``node`` as text; :class:`UnparseError` when no method prints its kind."""
        kind = type(node)
        method = self._dispatch.get(kind)
        if method is None:
            name = f"{node_key(kind)}_text"
            method = getattr(type(self), name, None)
            if method is None:
                raise UnparseError(f"the unparser has no method {name} for {kind.__name__}")
            self._dispatch[kind] = method
        return method(self, node)

    def join(self, items: Sequence[object], separator: str = ", ") -> str:
        return separator.join(self.text(n) for n in items)

    # ---- small nodes ------------------------------------------------------------------
    def name_text(self, node: nodes.Name) -> str:
        return node.value

    def duration_text(self, node: nodes.Duration) -> str:
        return duration_words(node.amount, node.unit)

    def rolling_window_text(self, node: nodes.RollingWindow) -> str:
        return self.text(node.length)

    def consecutive_days_text(self, node: nodes.ConsecutiveDays) -> str:
        return days_words(node.days)

    def calendar_window_text(self, node: nodes.CalendarWindow) -> str:
        return f"calendar {node.unit}"

    def names(self, names: Sequence[nodes.Name]) -> str:
        """Selector names: kinds by spaces; with ``kind_of``, one kind's names by commas."""
        if self.kind_of is None:
            return " ".join(n.value for n in names)
        out = ""
        previous: str | None = None
        for name in names:
            kind = self.kind_of.get(name.value)
            if out:
                out += ", " if kind is not None and kind == previous else " "
            out += name.value
            previous = kind
        return out

    def selector_text(self, node: nodes.Selector) -> str:
        parts = [self.names(node.names)] if node.names else []
        if node.by:
            parts.append("by " + self.join(node.by))
        if node.excepts:
            parts.append("except " + self.join(node.excepts))
        return " ".join(parts)

    def attr_ref_text(self, node: nodes.AttrRef) -> str:
        return f"customer.{node.attribute}"

    def value_text(self, node: nodes.Value) -> str:
        if node.kind == "text":
            return quote(str(node.value))
        if node.kind == "bool":
            return "true" if node.value else "false"
        if node.kind == "number":
            return number_text(node.value)  # type: ignore[arg-type]
        return str(node.value)  # a name, or a date (str of a date is its ISO form)

    def citation_text(self, node: nodes.Citation) -> str:
        return quote(node.text)

    def cite(self, cite: Sequence[nodes.Citation]) -> str:
        """`` cite "a", "b"`` (11.17), or nothing."""
        return " cite " + self.join(cite) if cite else ""

    def outcomes(self, names: Sequence[nodes.Name]) -> str:
        return " with outcome " + self.join(names) if names else ""

    # ---- conditions (the AST's) --------------------------------------------------------
    def wrap(self, node: object) -> str:
        """An operand of ``and``/``or``/``not``: a nested ``and``/``or`` in parentheses."""
        from policylang import nodes

        text = self.text(node)
        wrapped = (nodes.AllOf, nodes.AnyOf, cond.Conjunction, cond.Disjunction)
        return f"({text})" if isinstance(node, wrapped) else text

    def all_of_text(self, node: nodes.AllOf) -> str:
        return " and ".join(self.wrap(op) for op in node.operands)

    def any_of_text(self, node: nodes.AnyOf) -> str:
        return " or ".join(self.wrap(op) for op in node.operands)

    def not_text(self, node: nodes.Not) -> str:
        return "not " + self.wrap(node.operand)

    def flag_test_text(self, node: nodes.FlagTest) -> str:
        return self.text(node.attr)

    def member_text(self, node: nodes.Member) -> str:
        return f"{node.field} {'not in' if node.negated else 'in'} {self.text(node.attr)}"

    def time_test_text(self, node: nodes.TimeTest) -> str:
        head = self.text(node.attr)
        if node.op == "within_days":
            return f"{head} within {days_words(node.days or 0)}"
        assert node.duration is not None
        length = self.text(node.duration)
        return f"{head} within {length}" if node.op == "within" else f"{head} at least {length} ago"

    def in_list_text(self, node: nodes.InList) -> str:
        return f"{self.text(node.attr)} {'not in' if node.negated else 'in'} ({self.join(node.values)})"

    def compare_text(self, node: nodes.Compare) -> str:
        return f"{self.text(node.attr)} {node.op} {self.text(node.value)}"

    # ---- conditions (the compiled tree) -------------------------------------------------
    def constant_text(self, node: cond.Constant) -> str:
        value = node.value
        if node.quoted:
            return quote(str(value))
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return number_text(value)
        return str(value)  # a name, or a date (str of a date is its ISO form)

    def conjunction_text(self, node: cond.Conjunction) -> str:
        return " and ".join(self.wrap(op) for op in node.operands)

    def disjunction_text(self, node: cond.Disjunction) -> str:
        return " or ".join(self.wrap(op) for op in node.operands)

    def negation_text(self, node: cond.Negation) -> str:
        return "not " + self.wrap(node.operand)

    def flag_is_text(self, node: cond.FlagIs) -> str:
        return f"customer.{node.attribute}"

    def comparison_text(self, node: cond.Comparison) -> str:
        return f"customer.{node.attribute} {node.op} {self.text(node.value)}"

    def one_of_text(self, node: cond.OneOf) -> str:
        return f"customer.{node.attribute} {'not in' if node.negated else 'in'} ({self.join(node.values)})"

    def membership_text(self, node: cond.Membership) -> str:
        return f"{node.field} {'not in' if node.negated else 'in'} customer.{node.attribute}"

    def time_spec_text(self, node: cond.TimeSpec) -> str:
        head = f"customer.{node.attribute}"
        if node.op == "within_days":
            return f"{head} within {days_words(node.days)}"
        length = duration_words(node.amount, node.unit)
        return f"{head} within {length}" if node.op == "within" else f"{head} at least {length} ago"

    # ---- quiet periods -------------------------------------------------------------------
    def outside_text(self, node: nodes.Outside) -> str:
        return f"outside {node.start}-{node.end}"

    def between_text(self, node: nodes.Between) -> str:
        return f"between {node.start} and {node.end}"

    def on_days_text(self, node: nodes.OnDays) -> str:
        text = "on " + self.join(node.days)
        return text + (" " + self.text(node.clock) if node.clock is not None else "")

    def within_after_text(self, node: nodes.WithinAfter) -> str:
        length = self.text(node.duration) if node.duration is not None else days_words(node.days or 0)
        count = f"{node.count} " if node.count is not None else ""
        text = f"within {length} after {count}{self.text(node.trigger)}"
        if node.outcome is not None:
            text += self.outcomes((node.outcome, *node.more_outcomes))
        if node.count_window is not None:
            text += f" in {self.text(node.count_window)}"
        if node.for_each is not None:
            text += f" for each {node.for_each}"
        return text

    # ---- quiet periods of the rule graph (compiled: clock times normalised to HH:MM) ------------
    def clock_range_text(self, node: ClockRange) -> str:
        start = f"{node.start // 60:02d}:{node.start % 60:02d}"
        end = f"{node.end // 60:02d}:{node.end % 60:02d}"
        return f"between {start} and {end}" if node.quiet_inside else f"outside {start}-{end}"

    def day_set_text(self, node: DaySet) -> str:
        names = [WEEKDAYS[d] for d in sorted(node.weekdays)]
        names += [d.isoformat() for d in sorted(node.dates)]
        names += ["holidays" if code is None else f"holidays {quote(code)}" for code in node.holidays]
        return "on " + ", ".join(names)

    def day_clock_text(self, node: DayClock) -> str:
        return f"{self.text(node.days)} {self.text(node.clock)}"

    # ---- rules -----------------------------------------------------------------------------
    def rule_tail_text(self, node: nodes.RuleTail) -> str:
        """`` in zone "..." when ... from DATE until DATE`` (11.0), empty for no clauses."""
        text = ""
        if isinstance(node.zone, str):
            text += f" in zone {quote(node.zone)}"
        elif node.zone is not None:
            text += f" in zone {self.text(node.zone)}"
        if node.when is not None:
            text += f" when {self.text(node.when)}"
        if node.start is not None:
            text += f" from {node.start.value}"
        if node.until_items:
            text += " until " + self.join(node.until_items)
        return text

    def head(self, rule: nodes.Rule) -> str:
        """``cap "name" warn:``: a rule's kind, name and mark."""
        return f"{rule.kind} {quote(rule.name)}{' warn' if rule.tail.warn else ''}:"

    def rule_body(self, rule: nodes.Rule) -> str:
        """Everything after the head, with the clauses of 11.0 and the citations after the body."""
        return self.body(rule) + self.text(rule.tail) + self.cite(rule.cite)

    def body(self, rule: nodes.Rule) -> str:
        """The rule's own words, between the head and the clauses of 11.0."""
        from policylang import nodes

        match rule:
            case nodes.Cap():
                return self.cap_body(rule)
            case nodes.Quiet():
                return self.quiet_body(rule)
            case nodes.Exclude():
                return self.exclude_body(rule)
            case nodes.Require():
                return self.require_body(rule)
            case nodes.Exclusive():
                return self.exclusive_body(rule)
            case nodes.Exempt():
                return self.exempt_body(rule)
            case _:
                assert_never(rule)

    def rule_text(self, rule: nodes.Rule) -> str:
        return f"{self.head(rule)} {self.rule_body(rule)}"

    cap_text = exclude_text = quiet_text = require_text = exclusive_text = exempt_text = rule_text

    def counting_text(self, node: nodes.Counting) -> str:
        return f"{'counting only' if node.only else 'not counting'} outcome {self.join(node.outcomes)}"

    def cap_body(self, rule: nodes.Cap) -> str:
        text = f"at most {rule.limit} {self.text(rule.selector)} per {self.text(rule.window)}"
        text += f" for each {rule.for_each}" if rule.for_each else ""
        if rule.counting is not None:
            text += " " + self.text(rule.counting)
        return text

    def quiet_body(self, rule: nodes.Quiet) -> str:
        return f"no {self.text(rule.selector)} " + " or ".join(self.text(p) for p in (rule.period, *rule.more_periods))

    def exclude_body(self, rule: nodes.Exclude) -> str:
        return f"{self.text(rule.selector)} when {self.text(rule.condition)}"

    def require_body(self, rule: nodes.Require) -> str:
        text = f"{self.text(rule.selector)} after {self.text(rule.prerequisite)}"
        if rule.outcome is not None:
            text += self.outcomes((rule.outcome, *rule.more_outcomes))
        if rule.at_least is not None:
            text += f" at least {self.text(rule.at_least)} before"
            if rule.within is not None:
                text += ","
        if rule.within is not None:
            text += f" within {self.text(rule.within)}"
        return text

    def exclusive_body(self, rule: nodes.Exclusive) -> str:
        return f"{self.text(rule.selector)} per {self.text(rule.distance)}"

    def exempt_target_text(self, node: nodes.ExemptTarget) -> str:
        return node.text if node.is_kind else quote(node.text)

    def exempt_window_text(self, node: nodes.ExemptWindow) -> str:
        text = ""
        if node.duration is not None:
            text += f"within {self.text(node.duration)} "
        elif node.days is not None:
            text += f"within {days_words(node.days)} "
        return text + f"after {self.text(node.opener)}" + self.outcomes(node.outcomes)

    def exempt_body(self, rule: nodes.Exempt) -> str:
        text = f"{self.text(rule.selector)} from {self.join(rule.targets)}"
        return text + (" " + self.text(rule.window) if rule.window is not None else "")

    # ---- declarations ---------------------------------------------------------------------
    def policy_name_text(self, node: nodes.PolicyName) -> str:
        return f"policy {quote(node.title)}"

    def policy_timezone_text(self, node: nodes.PolicyTimezone) -> str:
        return f"timezone {quote(node.zone)}"

    def vocabulary_text(self, node: nodes.Vocabulary) -> str:
        return f"{node.kind} {self.join(node.names)}"

    def attr_type_text(self, node: nodes.AttrType) -> str:
        if node.kind == "enum":
            return "one of " + self.join(node.choices)
        if node.kind == "set":
            return f"set of {node.element}"
        return node.kind

    def attribute_text(self, node: nodes.Attribute) -> str:
        return f"{node.name.value}  {self.text(node.type)}"

    def customer_block_text(self, node: nodes.CustomerBlock) -> str:
        return "\n  ".join(["customer", *(self.text(a) for a in node.attributes)])

    def owner_decl_text(self, node: nodes.OwnerDecl) -> str:
        return f"owner is {self.text(node.attr)}"

    def precedence_text(self, node: nodes.Precedence) -> str:
        return "precedence " + self.join(node.teams, " > ")

    def rename_text(self, node: nodes.Rename) -> str:
        if node.attribute:
            return f"customer.{node.old} as customer.{node.new}"
        return f"{node.old} as {node.new}"

    def include_text(self, node: nodes.Include) -> str:
        text = f"include {quote(node.target)}"
        if node.version is not None:
            text += f" version {quote(node.version)}"
        if node.renames:
            text += " with " + self.join(node.renames)
        return text

    def pack_header_text(self, node: nodes.PackHeader) -> str:
        return f"pack {quote(node.name)} version {quote(node.version)}"

    def holidays_text(self, node: nodes.Holidays) -> str:
        if node.attr is not None:
            return f"holidays from {self.text(node.attr)}"
        return f"holidays {quote(node.code or '')}"

    def week_starts_text(self, node: nodes.WeekStarts) -> str:
        return f"week starts {node.day.value}"

    def hold_text(self, node: nodes.Hold) -> str:
        return f"hold {self.text(node.selector)} up to {self.text(node.duration)}"

    def comment_text(self, node: nodes.Comment) -> str:
        return node.text

    # ---- scenario statements (what the REPL's ``save`` writes) --------------------------------
    def instant_text(self, node: Any) -> str:
        return str(node.text())

    def campaign(self, campaign: str | tuple[str, ...] | None) -> str:
        if campaign is None:
            return ""
        names = campaign if isinstance(campaign, tuple) else (campaign,)
        return " campaign " + ", ".join(quote(n) for n in names)

    def use_text(self, node: Any) -> str:
        return f"use {quote(node.path)}"

    def now_text(self, node: Any) -> str:
        return f"now {self.text(node.at)}"

    def attr_value_text(self, node: Any) -> str:
        value = node.value
        if value is None:
            return str(node.name.value)
        if isinstance(value, tuple):
            return f"{node.name.value} ({self.join(value)})"
        return f"{node.name.value} {self.text(value)}"

    def customer_decl_text(self, node: Any) -> str:
        attributes = self.join(node.attributes)
        return f"customer {node.name.value}" + (f": {attributes}" if attributes else "")

    def contact_spec_text(self, node: Any) -> str:
        text = " ".join(n.value for n in node.names) + f" by {node.team.value}"
        return text + (f" at {self.text(node.at)}" if node.at is not None else "")

    def request_spec_text(self, node: Any) -> str:
        text = " ".join(n.value for n in node.names) + f" by {node.team.value}"
        if node.at is not None:
            text += f" at {self.text(node.at)}"
        text += self.campaign(node.campaign)
        return text + (f" priority {node.priority}" if node.priority else "")

    def had_text(self, node: Any) -> str:
        contact = node.contact
        text = f"{node.customer.value} {'plans' if node.planned else 'had'} {self.text(contact)}"
        if contact.outcome is not None:
            text += f" with outcome {contact.outcome.value}"
        text += self.campaign(contact.campaign)
        return text + (f" id {quote(contact.id)}" if contact.id is not None else "")

    def had_event_text(self, node: Any) -> str:
        text = f"{node.customer.value} had event {node.event.value} at {self.text(node.at)}"
        return text + self.campaign(node.campaign)

    def voided_text(self, node: Any) -> str:
        ids = ", ".join(quote(i) for i in node.ids)
        because = f" because {quote(node.reason)}" if node.reason is not None else ""
        return f"{node.customer.value} voided {ids} at {self.text(node.at)}{because}"

    def ask_text(self, node: Any) -> str:
        return f"ask {node.customer.value}: {self.text(node.request)}"


TRACE = Unparser()  # trace wording: selector names joined by spaces


def text(node: object) -> str:
    """``node`` as trace wording (:data:`TRACE`)."""
    return TRACE.text(node)

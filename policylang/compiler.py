"""AST to rule graph: name resolution, type checks and the checks a policy author needs.

The compiler never stops at the first problem: it records every error it finds in a file
with its span, then raises them together (:class:`~policylang.errors.ErrorGroup`).
"""

from __future__ import annotations

import datetime as dt
import gc

import attrs

from policylang import clock, nodes, unparse
from policylang.clock import valid_zone, zone_hint
from policylang.conditions import (
    Comparison,
    Condition,
    Conjunction,
    Constant,
    Disjunction,
    FlagIs,
    Membership,
    Negation,
    OneOf,
    TimeSpec,
    assert_never,
)
from policylang.errors import PolicyCompileError, PolicylangError, did_you_mean, raise_all
from policylang.includes import Expansion, PackRef, expand
from policylang.parser import KEYWORDS, parse_partial
from policylang.rules import (
    WEEKDAYS,
    AfterTrigger,
    AnyRule,
    AttrSpec,
    Calendar,
    CapRule,
    ClockRange,
    Consecutive,
    DayClock,
    DaySet,
    ExcludeRule,
    ExclusiveRule,
    ExemptRule,
    Match,
    Policy,
    QuietRule,
    QuietSpec,
    RequireRule,
    Rolling,
    Scope,
    WindowSpec11,
)
from policylang.slotted import evolve
from policylang.source import Source, Span, text_digest

VOCAB_KIND = {
    "channels": "channel",
    "teams": "team",
    "purposes": "purpose",
    "outcomes": "outcome",
    "events": "event",
}
SELECTABLE = ("channel", "team", "purpose")
MAX_WINDOW_SECONDS = 10 * 366 * 86400  # ten years: anything longer is a typo


def compile_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse and compile policy text; raise a :class:`PolicylangError` on any problem.

    Several problems come as one :class:`~policylang.errors.ErrorGroup`: every syntax
    error of the file first, then the semantic errors of the statements that parsed
    (leaving out those a syntax error explains, such as the names of a list that did
    not parse).
    """
    if len(text) < LARGE_POLICY_CHARS or not gc.isenabled():
        return _compile_policy(text, source)
    # A large policy is millions of small acyclic objects (AST nodes, spans, rules): the
    # cyclic collector would rescan them again and again as they pile up (a fifth of the
    # time) and find nothing. Paused for the compile only; reference counting still frees.
    gc.disable()
    try:
        return _compile_policy(text, source)
    finally:
        gc.enable()


LARGE_POLICY_CHARS = 1_000_000


def _compile_policy(text: str, source: str) -> Policy:
    partial = parse_partial(text, source)
    root = Source(source, text.removeprefix("\ufeff"))
    tree = partial.tree
    expansion: Expansion | None = None
    if any(isinstance(s, (nodes.Include, nodes.PackHeader)) for s in tree.statements):
        expansion = expand(tree, root, parse_partial)  # 11.17: included files take their lines' places
        tree = attrs.evolve(tree, statements=tuple(expansion.statements))
    earlier = [*partial.problems, *(expansion.problems if expansion else ())]
    compiler = Compiler(
        tree,
        root,
        unparsed_words=partial.unparsed_words | frozenset(expansion.unparsed_words if expansion else ()),
        unparsed_rules=partial.unparsed_rules | frozenset(expansion.unparsed_rules if expansion else ()),
        expansion=expansion,
    )
    if not earlier:
        return compiler.compile()
    try:
        compiler.compile()
    except PolicylangError as exc:
        raise_all([*earlier, *exc.errors])
    raise_all(earlier)
    raise AssertionError("unreachable: there were syntax errors")


def holiday_code_problem(code: str) -> tuple[str, str | None] | None:
    """Why ``code`` is not a holiday calendar of the ``holidays`` package (message, hint),
    or None when it is one: ``"FR"``, or a country and one of its subdivisions ``"FR-57"``."""
    from policylang import calendars

    return calendars.code_problem(code)


class Compiler:
    """One compilation: collects declarations, then compiles each rule."""

    def __init__(
        self,
        tree: nodes.PolicyFile,
        source: Source,
        *,
        unparsed_words: frozenset[str] = frozenset(),
        unparsed_rules: frozenset[str] = frozenset(),
        expansion: Expansion | None = None,
    ) -> None:
        self.tree = tree
        self.source = source
        self.expansion = expansion
        self.pack_of_file: dict[str, PackRef] = expansion.pack_of_file if expansion else {}
        self.attribute_at: dict[str, Span] = {}  # where each customer attribute was first declared
        self.conflicting: set[str] = set()  # attributes an included file declares with another type
        # Words of declarations (and names of rules) that did not parse: a name missing
        # because of them is not reported again, the syntax error already is.
        self.unparsed_words = unparsed_words
        self.unparsed_rules = unparsed_rules
        self.owner_declared = False  # an `owner is` line, valid or not
        self.problems: list[PolicylangError] = []
        self.kind_of: dict[str, str] = {}  # declared name -> channel/team/purpose/outcome/event
        self.declared_at: dict[str, Span] = {}
        self.attributes: dict[str, AttrSpec] = {}
        self.vocabulary: dict[str, list[str]] = {k: [] for k in VOCAB_KIND}
        self.owner_attribute: str | None = None
        self.title = ""
        self.timezone: str | None = None
        self.time_tests: list[TimeSpec] = []  # the time tests of the condition being compiled
        self.week_start = 0
        self.holiday_code: str | None = None
        self.holiday_attribute: str | None = None
        self.uses_customer_holidays: Span | None = None  # where `on holidays` is first used
        self._rules_by_name: dict[str, nodes.Rule] | None = None  # built once: exempt rules look names up
        self._matches: dict[Match, Match] = {}  # a large policy repeats its selectors: keep one of each

    def rules_by_name(self) -> dict[str, nodes.Rule]:
        """Every rule node by name (the last of a repeated name), built on first use."""
        if self._rules_by_name is None:
            self._rules_by_name = {r.name: r for r in self.tree.rules}
        return self._rules_by_name

    # ---- plumbing -------------------------------------------------------------------
    def error(self, message: str, span: Span, *, expected: str | None = None, hint: str | None = None) -> None:
        source = self.source
        chain: tuple[Span, ...] = ()
        if self.expansion is not None and span.file in self.expansion.origins:
            origin = self.expansion.origins[span.file]
            source, chain = origin.source, origin.chain
        problem = PolicyCompileError(message, span, expected=expected, hint=hint, source=source)
        problem.included_from = chain
        self.problems.append(problem)

    def included(self, span: Span) -> bool:
        """Does ``span`` lie in an included file (not the policy's own)?"""
        return span.file != self.source.name

    def written(self, span: Span) -> str:
        """The text at ``span`` as its file has it (a one-line span)."""
        source = self.source
        if self.expansion is not None and span.file in self.expansion.origins:
            source = self.expansion.origins[span.file].source
        return source.line(span.line)[span.column - 1 : span.end_column - 1] if span.line == span.end_line else ""

    def place(self, span: Span, here: Span) -> str:
        """``line 12`` in the same file as ``here``, else ``FILE:12:3``."""
        return f"line {span.line}" if span.file == here.file else str(span)

    def compile(self) -> Policy:
        statements = self.tree.statements
        # the policy's own declarations first: they win when an included file's must merge with them
        for statement in sorted(statements, key=lambda s: self.included(s.span)):
            self.declare(statement)
        self.check_pack_vocabulary()
        rule_nodes = [s for s in statements if isinstance(s, nodes.RULE_TYPES)]
        self.check_rule_names(rule_nodes)
        precedence = self.precedence(statements)
        for statement in statements:
            if isinstance(statement, nodes.Holidays):
                self.declare_holidays(statement)
        holds = tuple(h for h in (self.hold(s) for s in statements if isinstance(s, nodes.Hold)) if h is not None)
        rules: list[AnyRule] = []
        for node in rule_nodes:
            compiled = self.rule(node, len(rules))
            if compiled is not None:
                rules.append(compiled)
        declared = any(isinstance(s, nodes.Holidays) and s.code is not None for s in statements)
        if self.uses_customer_holidays is not None and not declared and "holidays" not in self.unparsed_words:
            self.error(
                "`on holidays` needs the policy's calendar",
                self.uses_customer_holidays,
                hint='add a line like `holidays "FR"` (used for customers without a region of their own)',
            )
        # report in file order, the policy's own file first
        self.problems.sort(key=lambda p: (self.included(p.span), p.span.file, p.span.line, p.span.column))
        raise_all(self.problems)
        packs = self.expansion.packs if self.expansion else {}
        return Policy(
            title=self.title,
            timezone=self.timezone,
            vocabulary={k: tuple(v) for k, v in self.vocabulary.items()},
            attributes=self.attributes,
            owner_attribute=self.owner_attribute,
            precedence=precedence,
            rules=tuple(rules),
            exempted_by=exemption_edges(rules),
            file=self.source.name,
            syntax=self.tree,
            sources=dict(packs),
            included_files={
                name: text_digest(origin.source.text)
                for name, origin in (self.expansion.origins.items() if self.expansion else ())
                if name != self.source.name
            },
            rule_packs={
                r.name: (pack.name, pack.version)
                for r in rules
                if (pack := self.pack_of_file.get(r.span.file)) is not None
            },
            holiday_code=self.holiday_code,
            holiday_attribute=self.holiday_attribute,
            week_start=self.week_start,
            holds=holds,
        )

    def declare_holidays(self, statement: nodes.Holidays) -> None:
        """``holidays "CODE"`` and ``holidays from customer.ATTR`` (11.10)."""
        if statement.attr is not None:
            if self.holiday_attribute is not None:
                self.error("the customers' holiday calendar is given twice", statement.span)
            spec = self.attr(statement.attr)
            if spec is not None and spec.kind not in ("region", "text"):
                self.error(f"`customer.{spec.name}` is {describe_type(spec)}; a holiday calendar comes from a region",
                           statement.attr.span, hint=f"declare it as `{spec.name}  region` in the customer block")
            elif spec is not None:
                self.holiday_attribute = spec.name
            return
        if self.holiday_code is not None:
            self.error("the policy's holiday calendar is given twice", statement.span,
                       hint="keep one `holidays \"CODE\"` line")
        code = statement.code or ""
        problem = holiday_code_problem(code)
        if problem is not None:
            self.error(problem[0], statement.span, expected="a code like \"FR\", \"FR-57\" or \"US-TX\"", hint=problem[1])
            return
        self.holiday_code = code

    def hold(self, statement: nodes.Hold) -> tuple[Match, int, int] | None:
        """``hold SELECTOR up to D`` (11.16): (selector, seconds, months)."""
        match = self.selector(statement.selector)
        seconds = self.duration(statement.duration)
        return (match, seconds, statement.duration.months) if match is not None else None

    # ---- declarations ---------------------------------------------------------------
    def declare(self, statement: nodes.Statement) -> None:
        match statement:
            case nodes.PolicyName():
                if self.title:
                    self.error("the policy is named twice", statement.span, hint="keep one `policy` line")
                self.title = statement.title
            case nodes.PolicyTimezone():
                self.declare_timezone(statement)
            case nodes.Vocabulary():
                for name in statement.names:
                    self.declare_name(name, VOCAB_KIND[statement.kind])
            case nodes.CustomerBlock():
                self.declare_customer(statement)
            case nodes.WeekStarts():
                if statement.day.value not in WEEKDAYS:
                    self.error(f"`{statement.day.value}` is not a day of the week", statement.day.span,
                               expected="monday to sunday", hint=did_you_mean(statement.day.value, WEEKDAYS))
                else:
                    self.week_start = WEEKDAYS.index(statement.day.value)
            case (nodes.OwnerDecl() | nodes.Precedence() | nodes.Holidays() | nodes.Hold() | nodes.Include() | nodes.PackHeader()
                  | nodes.Cap() | nodes.Quiet() | nodes.Exclude() | nodes.Require() | nodes.Exclusive() | nodes.Exempt()):
                pass  # compiled once every declaration is known (or, for include and pack, expanded before)
            case _:
                assert_never(statement)

    def declare_timezone(self, statement: nodes.PolicyTimezone) -> None:
        if self.timezone is not None:
            self.error("the policy's time zone is given twice", statement.span)
        if not valid_zone(statement.zone):
            self.error(
                f'"{statement.zone}" is not a known time zone',
                statement.span,
                expected='an IANA time zone name like "America/New_York"',
                hint=zone_hint(statement.zone),
            )
            return
        self.timezone = statement.zone

    def declare_name(self, name: nodes.Name, kind: str) -> None:
        if name.value in KEYWORDS:
            self.error(f"`{name.value}` is a reserved word and cannot name a {kind}", name.span)
            return
        if name.value in self.kind_of:
            first = self.declared_at[name.value]
            if self.kind_of[name.value] == kind and first.file != name.span.file:
                return  # an included file may declare the policy's names again, in the same list
            self.error(
                f"`{name.value}` is already declared as a {self.kind_of[name.value]} on {self.place(first, name.span)}",
                name.span,
                hint="a name may be declared once, in one list",
            )
            return
        self.kind_of[name.value] = kind
        self.declared_at[name.value] = name.span
        self.vocabulary[kind + "s" if kind != "event" else "events"].append(name.value)

    def declare_customer(self, block: nodes.CustomerBlock) -> None:
        included = self.included(block.span)
        if self.attributes and not included and not any(map(self.included, self.attribute_at.values())):
            self.error("the customer attributes are declared twice", block.span, hint="keep one `customer` block")
        for attribute in block.attributes:
            name = attribute.name.value
            if included and name in self.attributes:
                self.merge_attribute(attribute)
                continue
            if name in self.attributes or name == "id":
                self.error(f"customer attribute `{name}` is declared twice" if name != "id"
                           else "`id` is the customer's identifier and cannot be declared", attribute.name.span)
                continue
            spec = self.attribute_type(name, attribute.type)
            if name == "timezone" and spec.kind not in ("zone", "zones"):
                self.error("the `timezone` attribute must have type `zone` or `zones`", attribute.type.span)
            self.attributes[name] = spec
            self.attribute_at[name] = attribute.span

    def merge_attribute(self, attribute: nodes.Attribute) -> None:
        """An included file's attribute that is already declared: the types must agree (11.17).

        An enumeration declared by the policy must list every value the included file's
        lists (a value the policy's customers can never have would make the file's rules
        apply to nothing); two included files must list the same values.
        """
        name = attribute.name.value
        have = self.attributes[name]
        first = self.attribute_at[name]
        spec = self.attribute_type(name, attribute.type)
        where = self.place(first, attribute.span)
        self.conflicting.add(name)  # until the types are found to agree
        if (have.kind, have.element) != (spec.kind, spec.element):
            self.error(
                f"customer attribute `{name}` is {describe_type(spec)} here, but {describe_type(have)} on {where}",
                attribute.type.span,
                hint="customer attributes of included files merge by name and must agree in type",
            )
        elif have.kind == "enum" and not self.included(first) and not spec.choices <= have.choices:
            missing = ", ".join(sorted(spec.choices - have.choices))
            self.error(
                f"customer attribute `{name}` may be {missing} here, which the policy's list on {where} lacks",
                attribute.type.span,
                hint=f"add {missing} to `{name}` in the policy's customer block",
            )
        elif have.kind == "enum" and self.included(first) and spec.choices != have.choices:
            self.error(
                f"customer attribute `{name}` is {describe_type(spec)} here, but {describe_type(have)} on {where}",
                attribute.type.span,
                hint=f"declare `{name}` in the policy's customer block with every value both files use",
            )
        else:
            self.conflicting.discard(name)

    def check_pack_vocabulary(self) -> None:
        """A pack declares no names: the policy must declare each of them in the same list."""
        if self.expansion is None:
            return
        missing: set[str] = set()
        for line in self.expansion.required:
            kind = VOCAB_KIND[line.kind]
            pack = self.pack_of_file.get(line.span.file)
            what = f"the pack {pack.name}" if pack else "this pack"
            for name in line.names:
                have = self.kind_of.get(name.value)
                if have == kind or name.value in self.unparsed_words:
                    continue
                missing.add(name.value)
                own = self.written(name.span) or name.value  # the pack's word, before renaming
                shown = f"`{own}`" + (f" (renamed `{name.value}`)" if own != name.value else "")
                include = f'`include "{pack.name if pack else "..."}" with {own} as NAME`'
                if have is None:
                    self.error(
                        f"{what} uses the {kind} {shown}, which the policy does not declare",
                        name.span,
                        hint=f"declare `{name.value}` in the policy's `{line.kind}` list, or map it to one of "
                        f"yours: {include}",
                    )
                else:
                    self.error(
                        f"{what} uses {shown} as a {kind}, but the policy declares `{name.value}` as a {have}",
                        name.span,
                        hint=f"map it to one of the policy's {line.kind}: {include}",
                    )
        # the pack's rules that use a missing name are explained by the error above
        self.unparsed_words = self.unparsed_words | frozenset(missing)

    def attribute_type(self, name: str, node: nodes.AttrType) -> AttrSpec:
        if node.kind == "enum":
            choices = [c.value for c in node.choices]
            seen: set[str] = set()
            for choice in node.choices:
                if choice.value in seen:
                    self.error(f"`{choice.value}` is listed twice", choice.span)
                seen.add(choice.value)
            return AttrSpec(name, "enum", frozenset(choices))
        if node.kind == "set" and node.element == "zone":
            return AttrSpec(name, "zones")  # 11.7: `set of zone` is `zones`
        if node.kind == "set":
            return AttrSpec(name, "set", element=node.element)
        return AttrSpec(name, node.kind)

    def check_rule_names(self, rules: list[nodes.Rule]) -> None:
        seen: dict[str, Span] = {}
        for rule in rules:
            if not rule.name.strip():
                self.error("a rule name cannot be empty", rule.name_span)
            elif rule.name in seen:
                self.error(
                    f'the rule name "{rule.name}" is already used on {self.place(seen[rule.name], rule.name_span)}',
                    rule.name_span,
                    hint="rule names are unique within a policy",
                )
            else:
                seen[rule.name] = rule.name_span

    def precedence(self, statements: tuple[nodes.Statement, ...]) -> tuple[str, ...]:
        order: tuple[str, ...] = ()
        for statement in statements:
            if isinstance(statement, nodes.OwnerDecl):
                self.owner_decl(statement)
        for statement in statements:
            if isinstance(statement, nodes.Precedence):
                if order:
                    self.error("precedence is given twice", statement.span)
                order = self.precedence_order(statement)
        return order

    def owner_decl(self, statement: nodes.OwnerDecl) -> None:
        self.owner_declared = True
        if self.owner_attribute is not None:
            self.error("the owner is named twice", statement.span)
        spec = self.attr(statement.attr)
        if spec is None:
            return
        if spec.kind != "team":
            self.error(
                f"`customer.{spec.name}` has type {describe_type(spec)}, but an owner must be a team",
                statement.attr.span,
                hint=f"declare it as `{spec.name}  team` in the customer block",
            )
            return
        self.owner_attribute = spec.name

    def precedence_order(self, statement: nodes.Precedence) -> tuple[str, ...]:
        order: list[str] = []
        for name in statement.teams:
            if name.value == "owner":
                if self.owner_attribute is None and not (self.owner_declared or "owner" in self.unparsed_words):
                    self.error(
                        "`owner` is used in precedence, but no owner is declared",
                        name.span,
                        hint="add a line like `owner is customer.owner`",
                    )
            elif self.kind_of.get(name.value) != "team":
                self.unknown(name, "team")
            if name.value in order:
                self.error(f"`{name.value}` appears twice in the precedence", name.span)
            order.append(name.value)
        return tuple(order)

    # ---- names ---------------------------------------------------------------------
    def unknown(self, name: nodes.Name, wanted: str | None = None) -> None:
        """Report an undeclared (or wrongly kinded) name with the nearest declared one."""
        kind = self.kind_of.get(name.value)
        if kind is None and name.value in self.unparsed_words:
            return
        if kind is not None and wanted is not None:
            self.error(f"`{name.value}` is a {kind}, but a {wanted} is expected here", name.span)
            return
        pool = [n for n, k in self.kind_of.items() if wanted is None or k == wanted]
        if wanted == "team":
            pool.append("owner")
        what = f"{wanted}" if wanted else "name"
        self.error(
            f"`{name.value}` is not a declared {what}",
            name.span,
            hint=did_you_mean(name.value, pool) or declare_hint(wanted),
        )

    def attr(self, ref: nodes.AttrRef) -> AttrSpec | None:
        if ref.attribute in self.conflicting and self.included(ref.span):
            return None  # the type conflict is reported once, where the included file declares it
        spec = self.attributes.get(ref.attribute)
        # a `customer` block that did not parse leaves every attribute undeclared
        if spec is None and not {ref.attribute, "customer"} & self.unparsed_words:
            self.error(
                f"the customer has no attribute `{ref.attribute}`",
                ref.span,
                hint=did_you_mean(ref.attribute, self.attributes)
                or "declare it in the `customer` block",
            )
        return spec

    # ---- selectors -----------------------------------------------------------------
    def selector(self, node: nodes.Selector, *, allow_events: bool = False) -> Match | None:
        groups: dict[str, set[str]] = {k: set() for k in SELECTABLE}
        by_owner = False
        ok = True
        saw_any = False
        for name in node.names:
            if name.value == "any":
                saw_any = True
                continue
            kind = self.kind_of.get(name.value)
            if kind in SELECTABLE:
                groups[kind].add(name.value)
            elif kind == "event" and allow_events:
                continue
            else:
                ok = False
                if kind is None:
                    self.unknown(name)
                else:
                    self.error(
                        f"`{name.value}` is an {kind}; a selector names channels, purposes and teams",
                        name.span,
                    )
        if saw_any and len(node.names) > 1:
            self.error("`any` stands alone: it already matches every contact", node.span,
                       hint="drop `any`, or drop the other names")
        for name in node.by:
            if name.value == "owner":
                by_owner = True
                if self.owner_attribute is None:
                    ok = False
                    if not (self.owner_declared or "owner" in self.unparsed_words):
                        self.error("`by owner` needs an owner", name.span, hint="add a line like `owner is customer.owner`")
            elif self.kind_of.get(name.value) == "team":
                groups["team"].add(name.value)
            else:
                ok = False
                self.unknown(name, "team")
        excepts: dict[str, set[str]] = {k: set() for k in SELECTABLE}
        except_owner = False
        for name in node.excepts:
            kind = self.kind_of.get(name.value)
            if name.value == "owner":
                except_owner = True
            elif kind in SELECTABLE:
                excepts[kind].add(name.value)
            else:
                ok = False
                self.unknown(name)
        if not ok:
            return None
        match = Match(
            purposes=frozenset(groups["purpose"]) or None,
            channels=frozenset(groups["channel"]) or None,
            teams=frozenset(groups["team"]) or None,
            by_owner=by_owner,
            except_purposes=frozenset(excepts["purpose"]),
            except_channels=frozenset(excepts["channel"]),
            except_teams=frozenset(excepts["team"]),
            except_owner=except_owner,
            text=unparse.text(node),
        )
        match = self._matches.setdefault(match, match)  # equal selectors share one (frozen) Match
        if not self.unparsed_words and not self.can_match(match):
            self.error(
                "this selector can match no contact",
                node.span,
                hint="its `except` removes every name it selects",
            )
            return None
        return match

    def can_match(self, match: Match) -> bool:
        """False when ``except`` removes every name the selector would otherwise take."""
        for chosen, removed, kind in (
            (match.purposes, match.except_purposes, "purposes"),
            (match.channels, match.except_channels, "channels"),
            (match.teams, match.except_teams, "teams"),
        ):
            if kind == "teams" and match.by_owner and not match.except_owner:
                continue
            pool = set(chosen) if chosen is not None else set(self.vocabulary[kind])
            if removed and not (pool - removed):
                return False
        return not (match.by_owner and match.except_owner and match.teams is None)

    # ---- rules ---------------------------------------------------------------------
    def rule(self, node: nodes.Rule, index: int) -> AnyRule | None:
        count = len(self.problems)
        for citation in node.cite:  # 11.17
            if not citation.text.strip():
                self.error("a citation cannot be empty", citation.span,
                           hint='cite the text the rule encodes, like `cite "12 CFR 1006.14(b)(2)(i)(A)"`')
        match = self.selector(node.selector)
        compiled: AnyRule | None = None
        match node:
            case nodes.Cap():
                compiled = self.cap(node, index, match)
            case nodes.Quiet():
                compiled = self.quiet(node, index, match)
            case nodes.Exclude():
                compiled = self.exclude(node, index, match)
            case nodes.Require():
                compiled = self.require(node, index, match)
            case nodes.Exclusive():
                compiled = self.exclusive(node, index, match)
            case nodes.Exempt():
                compiled = self.exempt(node, index, match)
            case _:  # a rule form the compiler does not know must fail loudly, never vanish
                assert_never(node)
        compiled = self.rule_tail(node, compiled)
        return compiled if len(self.problems) == count else None

    def rule_tail(self, node: nodes.Rule, compiled: AnyRule | None) -> AnyRule | None:
        """The clauses of 11.0 after the body: ``warn``, ``when``, ``from``, ``until``."""
        tail = node.tail
        if tail.empty:
            return compiled
        if tail.warn and isinstance(node, nodes.Exempt):
            self.error(
                "an `exempt` rule cannot warn",
                node.name_span,
                hint="`warn` marks a rule that would deny; an exemption only lifts rules",
            )
        fixed_zone, zone_attr = self.rule_zone(tail, node)
        zone_name = fixed_zone or self.timezone or "UTC"
        condition: Condition | None = None
        used: list[str] = []
        self.time_tests = []
        if tail.when is not None:
            condition = self.condition(tail.when, used)
        tests = tuple(self.time_tests)
        start = self.effective_date(tail.start, zone_name)
        windowed = isinstance(node, nodes.Exempt) and node.window is not None
        until = None if windowed else self.effective_until(tail, node, zone_name)
        if start is not None and until is not None and until <= start:
            assert tail.until is not None and tail.start is not None
            self.error(
                f"`until {tail.until.value}` is not after `from {tail.start.value}`: the rule would never be in force",
                tail.until.span,
                hint="the `until` date is the first day the rule no longer applies",
            )
        if compiled is None:
            return None
        scope = Scope(
            condition, unparse.text(tail.when) if tail.when is not None else "",
            tuple(dict.fromkeys(used)), tests, start, until, zone_name,
        )
        scope = evolve(scope, fixed_zone=fixed_zone, zone_attr=zone_attr)
        if scope == Scope(zone_name=zone_name):
            return evolve(compiled, warn=tail.warn)
        return evolve(compiled, warn=tail.warn, scope=scope)

    def rule_zone(self, tail: nodes.RuleTail, node: nodes.Rule) -> tuple[str | None, str | None]:
        """``in zone "NAME"`` or ``in zone customer.ATTR`` (11.8): (zone name, attribute)."""
        if tail.zone is None:
            return None, None
        if isinstance(node, nodes.Exclude):
            self.error("an `exclude` reads no local time; it takes no `in zone`", node.span)
        if isinstance(tail.zone, str):
            if not valid_zone(tail.zone):
                self.error(
                    f'"{tail.zone}" is not a known time zone',
                    tail.span if tail.span.line else node.span,
                    expected='an IANA time zone name like "America/New_York"',
                    hint=zone_hint(tail.zone),
                )
                return None, None
            return tail.zone, None
        spec = self.attr(tail.zone)
        if spec is None:
            return None, None
        if spec.kind not in ("zone", "zones"):
            self.error(f"`customer.{spec.name}` is {describe_type(spec)}; `in zone` needs a zone or zones",
                       tail.zone.span)
            return None, None
        return None, spec.name

    def effective_until(self, tail: nodes.RuleTail, node: nodes.Rule, zone_name: str) -> int | None:
        """A rule's `until DATE`, read where its `from` is (the policy's zone or the rule's
        `in zone "NAME"`, 11.11); names there close exemption windows only (11.5)."""
        for item in tail.until_items:
            if not item.value[:1].isdigit():
                self.error(
                    f"`until {item.value}` names a closer, but this rule has no exemption window",
                    item.span,
                    expected="a date like 2026-09-01",
                    hint="events and outcomes end the window of `exempt ... within D after OPENER`",
                )
                return None
        if len(tail.until_items) > 1:
            self.error("a rule ends at one date", tail.more_until[0].span, hint="keep the earliest `until` date")
        return self.effective_date(tail.until, zone_name)

    def exempt_window(self, node: nodes.Exempt) -> WindowSpec11 | None:
        """The window of ``exempt ... within D after OPENER until CLOSER, ...`` (11.5)."""
        window = node.window
        assert window is not None
        seconds = self.duration(window.duration) if window.duration is not None else None
        months = window.duration.months if window.duration is not None else 0
        if months:
            seconds = None  # 11.2: the window ends at the opener + N months in the customer's zone
        if window.days is not None and not 1 <= window.days <= 3660:
            self.error("a run of consecutive days must be between 1 and 3660 days", window.span)
        if window.duration is None and window.days is None and not node.tail.until_items:
            self.error(
                "this exemption window never closes",
                window.span,
                hint="add `within 7 days` before `after`, or `until` an event or outcome at the end",
            )
        names = window.opener.names
        event_names = [n for n in names if self.kind_of.get(n.value) == "event"]
        outcomes = frozenset(o for o in (self.outcome(n) for n in window.outcomes) if o)
        event: str | None = None
        opener: Match | None = None
        if event_names:
            if len(names) > 1 or window.opener.by or window.opener.excepts:
                self.error(f"`{event_names[0].value}` is an event; a window opened by an event names that event alone",
                           window.opener.span)
            if window.outcomes:
                self.error("an event has no outcome; outcomes belong to contacts", window.span)
            event = event_names[0].value
        else:
            opener = self.selector(window.opener)
        events: set[str] = set()
        closer_outcomes: set[str] = set()
        dates: list[int] = []
        for item in node.tail.until_items:
            if item.value[:1].isdigit():
                # a closing date starts as an effective date does (11.5, 11.11)
                fixed = node.tail.zone if isinstance(node.tail.zone, str) else None
                found = self.effective_date(item, fixed or self.timezone or "UTC")
                if found is not None:
                    dates.append(found)
            elif self.kind_of.get(item.value) == "event":
                events.add(item.value)
            elif self.kind_of.get(item.value) == "outcome":
                closer_outcomes.add(item.value)
            elif item.value not in self.unparsed_words:  # a name a syntax (or pack) error explains
                pool = [n for n, k in self.kind_of.items() if k in ("event", "outcome")]
                self.error(
                    f"`{item.value}` is not a declared event or outcome",
                    item.span,
                    expected="an event, an outcome or a date that ends the window",
                    hint=did_you_mean(item.value, pool) or "declare it in the `events` or `outcomes` list",
                )
        text = unparse.text(window)
        if node.tail.until_items:
            text += " until " + ", ".join(i.value for i in node.tail.until_items)
        return WindowSpec11(seconds, window.days, event, opener, outcomes, frozenset(events),
                            frozenset(closer_outcomes), tuple(sorted(dates)), text, months)

    def effective_date(self, name: nodes.Name | None, zone_name: str) -> int | None:
        """The first instant of a `from`/`until` date in the policy's zone (11.11)."""
        if name is None:
            return None
        try:
            day = dt.date.fromisoformat(name.value)
        except ValueError:
            self.error(f"`{name.value}` is not a real date", name.span, expected="a date like 2026-08-11")
            return None
        return clock.start_of_date(day, clock.zone(zone_name))

    def duration(self, node: nodes.Duration) -> int:
        """The duration in seconds (0 for months and years: every length takes them, and the
        rule reads them as calendar months in its zone, 11.2)."""
        if node.amount <= 0:
            self.error("a duration must be at least 1", node.span)
        elif node.seconds > MAX_WINDOW_SECONDS or node.months > 120:
            self.error("this duration is longer than ten years", node.span, hint="check the number and the unit")
        return node.seconds

    def cap(self, node: nodes.Cap, index: int, match: Match | None) -> CapRule | None:
        if node.limit < 1:
            self.error(
                "a cap of 0 forbids every matching contact",
                node.span,
                hint="use an `exclude` rule to forbid a contact; a cap allows at least 1",
            )
        spec = self.window_spec(node.window)
        not_counted = self.counting(node.counting)
        if match is None:
            return None
        return CapRule(index, node.kind, node.name, match, node.span, node, node.limit, spec, node.for_each,
                       not_counted)

    def window_spec(self, window: nodes.Window) -> Rolling | Consecutive | Calendar:
        match window:
            case nodes.RollingWindow(length):
                return Rolling(self.duration(length), unparse.text(length), length.months)
            case nodes.ConsecutiveDays(days):
                if days < 1 or days > 3660:
                    self.error("a run of consecutive days must be between 1 and 3660 days", window.span)
                return Consecutive(days, unparse.text(window))
            case nodes.CalendarWindow(unit):
                return Calendar(unit, unparse.text(window))
            case _:
                assert_never(window)

    def counting(self, node: nodes.Counting | None) -> frozenset[str]:
        """The outcomes a cap leaves out (11.3): ``counting only`` keeps the named ones."""
        if node is None:
            return frozenset()
        named = {o for o in (self.outcome(n) for n in node.outcomes) if o is not None}
        if node.only:
            return frozenset(self.vocabulary["outcomes"]) - named
        return frozenset(named)

    def quiet(self, node: nodes.Quiet, index: int, match: Match | None) -> QuietRule | None:
        specs = [self.quiet_part(p) for p in (node.period, *node.more_periods)]
        if match is None or any(s is None for s in specs):
            return None
        parts = tuple(s for s in specs if s is not None)
        return QuietRule(index, "quiet", node.name, match, node.span, node, parts[0],
                         parts if len(parts) > 1 else ())

    def quiet_part(self, period: nodes.QuietPeriod) -> QuietSpec | None:
        match period:
            case nodes.Outside() | nodes.Between():
                return self.clock_range(period)
            case nodes.OnDays():
                days = self.day_set(period)
                if period.clock is None or days is None:
                    return days
                clock_range = self.clock_range(period.clock)
                return DayClock(days, clock_range) if clock_range is not None else None
            case nodes.WithinAfter():
                return self.after_trigger(period)
            case _:
                assert_never(period)

    def clock(self, time: nodes.ClockTime, *, end: bool) -> int | None:
        """Minutes since midnight of a clock time the parser read; ``24:00`` only at an end."""
        hours, minutes = time.hour, time.minute
        if end and hours == 24 and minutes == 0:
            return 1440
        if hours == 24 and minutes == 0:
            self.error("`24:00` can only end a period", time.span, expected="a start time from 00:00 to 23:59",
                       hint="a period that starts at midnight starts at `00:00`")
            return None
        if hours > 23 or minutes > 59:
            self.error(
                f"`{time}` is not a clock time",
                time.span,
                expected="a time from 00:00 to 23:59, or 24:00 at the end of a period",
                hint="times are 24-hour `HH:MM`",
            )
            return None
        return hours * 60 + minutes

    def clock_range(self, period: nodes.Outside | nodes.Between) -> ClockRange | None:
        start = self.clock(period.start, end=False)
        end = self.clock(period.end, end=True)
        if start is None or end is None:
            return None
        if start == end or (start == 0 and end == 1440):
            self.error(
                "this quiet period is empty or the whole day",
                period.span,
                hint="use `on monday, ...` for whole days, or two different clock times",
            )
            return None
        return ClockRange(start, end, quiet_inside=isinstance(period, nodes.Between))

    def day_set(self, period: nodes.OnDays) -> DaySet | None:
        weekdays: set[int] = set()
        dates: set[dt.date] = set()
        holidays: list[str | None] = []
        for day in period.days:
            text = day.value
            if text == "holidays":
                holidays.append(None)
                if self.uses_customer_holidays is None:
                    self.uses_customer_holidays = day.span
                continue
            if text.startswith("holidays "):
                code = text[len("holidays ") :].strip('"')
                problem = holiday_code_problem(code)
                if problem is not None:
                    self.error(problem[0], day.span, expected="a code like \"FR\", \"FR-57\" or \"US-TX\"",
                               hint=problem[1])
                holidays.append(code)
                continue
            if text[:1].isdigit():
                try:
                    dates.add(dt.date.fromisoformat(text))
                except ValueError:
                    self.error(f"`{text}` is not a real date", day.span, expected="a date like 2026-12-25")
            elif text == "weekend":
                weekdays.update((5, 6))
            elif text in WEEKDAYS:
                weekdays.add(WEEKDAYS.index(text))
            else:
                self.error(
                    f"`{text}` is not a day",
                    day.span,
                    expected="monday to sunday, weekend, or a date like 2026-12-25",
                    hint=did_you_mean(text, (*WEEKDAYS, "weekend")),
                )
        return DaySet(frozenset(weekdays), frozenset(dates), tuple(dict.fromkeys(holidays)))

    def after_trigger(self, period: nodes.WithinAfter) -> AfterTrigger | None:
        seconds = self.duration(period.duration) if period.duration is not None else None
        months = period.duration.months if period.duration is not None else 0
        if period.days is not None and not 1 <= period.days <= 3660:
            self.error("a run of consecutive days must be between 1 and 3660 days", period.span)
        names = period.trigger.names
        event_names = [n for n in names if self.kind_of.get(n.value) == "event"]
        outcome = self.outcome(period.outcome)
        more = [self.outcome(n) for n in period.more_outcomes]
        if event_names:
            if len(names) > 1 or period.trigger.by or period.trigger.excepts:
                self.error(
                    f"`{event_names[0].value}` is an event; quiet after an event names that event alone",
                    period.trigger.span,
                )
                return None
            if period.outcome is not None:
                self.error("an event has no outcome; outcomes belong to contacts", period.outcome.span)
            if period.for_each is not None and period.for_each != "campaign":
                self.error(
                    f"an event has no {period.for_each}; after an event only `for each campaign` applies",
                    period.span,
                )
            count, count_window = self.pause_count(period)
            text = unparse.text(period)
            return AfterTrigger(seconds, period.days, event_names[0].value, None, None, text, period.for_each,
                                months=months, count=count, count_window=count_window)
        trigger = self.selector(period.trigger)
        if trigger is None:
            return None
        count, count_window = self.pause_count(period)
        text = unparse.text(period)
        every = frozenset(o for o in (outcome, *more) if o) if more else frozenset()
        return AfterTrigger(seconds, period.days, None, trigger, outcome, text, period.for_each, every,
                            months=months, count=count, count_window=count_window)

    def pause_count(self, period: nodes.WithinAfter) -> tuple[int, Rolling | Consecutive | Calendar | None]:
        """``after N TRIGGER in WINDOW`` (11.12): the count and its window."""
        if period.count is None or period.count_window is None:
            return 1, None
        if period.count < 1:
            self.error("a pause needs at least 1 trigger", period.span)
        return period.count, self.window_spec(period.count_window)

    def outcome(self, name: nodes.Name | None) -> str | None:
        if name is None:
            return None
        if self.kind_of.get(name.value) != "outcome":
            self.unknown(name, "outcome")
        return name.value

    def exclude(self, node: nodes.Exclude, index: int, match: Match | None) -> ExcludeRule | None:
        used: list[str] = []
        self.time_tests = []
        condition = self.condition(node.condition, used)
        if match is None or condition is None:
            return None
        return ExcludeRule(
            index, "exclude", node.name, match, node.span, node, condition,
            tuple(dict.fromkeys(used)), unparse.text(node.condition), tuple(self.time_tests),
        )

    def require(self, node: nodes.Require, index: int, match: Match | None) -> RequireRule | None:
        prerequisite = self.selector(node.prerequisite)
        outcome = self.outcome(node.outcome)
        more = [self.outcome(n) for n in node.more_outcomes]
        at_least = self.duration(node.at_least) if node.at_least else 0
        within = self.duration(node.within) if node.within else None
        at_least_months = node.at_least.months if node.at_least else 0
        within_months = node.within.months if node.within else 0
        # (months vary in length: refused only when no prerequisite instant could fit both)
        if within is not None and _shortest(at_least, at_least_months) > _longest(within, within_months):
            self.error(
                "no contact can be both at least that long before and within that time",
                node.span,
                hint="the `at least` duration must not be longer than the `within` one",
            )
        if match is None or prerequisite is None:
            return None
        every = frozenset(o for o in (outcome, *more) if o) if more else frozenset()
        return RequireRule(index, "require", node.name, match, node.span, node, prerequisite, outcome, at_least,
                           within, every, at_least_months, within_months)

    def exclusive(self, node: nodes.Exclusive, index: int, match: Match | None) -> ExclusiveRule | None:
        distance = self.duration(node.distance)
        if match is None:
            return None
        return ExclusiveRule(index, "exclusive", node.name, match, node.span, node, distance, node.distance.months)

    def exempt(self, node: nodes.Exempt, index: int, match: Match | None) -> ExemptRule | None:
        kinds: set[str] = set()
        names: set[str] = set()
        rule_names = self.rules_by_name()
        for target in node.targets:
            if target.is_kind:
                kinds.add(target.text)
            elif target.text not in rule_names:
                if target.text in self.unparsed_rules:  # the rule that did not parse
                    continue
                self.error(
                    f'there is no rule called "{target.text}"',
                    target.span,
                    hint=did_you_mean(target.text, rule_names),
                )
            elif isinstance(rule_names[target.text], nodes.Exempt):
                self.error("an exempt rule cannot be exempted", target.span)
            else:
                names.add(target.text)
        window = self.exempt_window(node) if node.window is not None else None
        if match is None:
            return None
        return ExemptRule(index, "exempt", node.name, match, node.span, node, frozenset(kinds), frozenset(names),
                          window)

    # ---- conditions ----------------------------------------------------------------
    def condition(self, node: nodes.Condition, used: list[str]) -> Condition | None:
        """The condition as a typed tree (:mod:`policylang.conditions`), or None after an error."""
        match node:
            case nodes.AllOf(operands) | nodes.AnyOf(operands):
                parts = [self.condition(op, used) for op in operands]
                kept = tuple(p for p in parts if p is not None)
                if len(kept) != len(parts):
                    return None
                return Conjunction(kept) if isinstance(node, nodes.AllOf) else Disjunction(kept)
            case nodes.Not(operand):
                inner = self.condition(operand, used)
                return None if inner is None else Negation(inner)
            case nodes.FlagTest() | nodes.Compare() | nodes.InList() | nodes.Member() | nodes.TimeTest():
                spec = self.attr(node.attr)
                if spec is None:
                    return None
                used.append(spec.name)
                return self.test(node, spec, used)
            case _:
                assert_never(node)

    def test(self, node: nodes.FlagTest | nodes.Compare | nodes.InList | nodes.Member | nodes.TimeTest,
             spec: AttrSpec, used: list[str]) -> Condition | None:
        match node:
            case nodes.TimeTest():
                return self.time_test(node, spec)
            case nodes.FlagTest():
                return self.flag_test(node, spec)
            case nodes.Member():
                used.append("request." + node.field)  # the trace shows the request's value too
                return self.member_test(node, spec)
            case nodes.InList():
                return self.in_list(node, spec)
            case nodes.Compare():
                return self.compare(node, spec)
            case _:
                assert_never(node)

    def time_test(self, node: nodes.TimeTest, spec: AttrSpec) -> TimeSpec | None:
        """``customer.A within D`` / ``within N consecutive days`` / ``at least D ago`` (11.2)."""
        words = {"within": "within", "within_days": "within", "ago": "at least ... ago"}[node.op]
        if spec.kind not in ("instant", "date"):
            self.error(
                f"`customer.{spec.name}` is {describe_type(spec)}; `{words}` tests an instant or a date",
                node.attr.span,
                hint=f"declare it as `{spec.name}  instant` (or `date`) in the customer block",
            )
            return None
        seconds = months = days = amount = 0
        unit: nodes.DurationUnit = "day"
        if node.duration is not None:
            seconds, months = self.duration(node.duration), node.duration.months
            amount, unit = node.duration.amount, node.duration.unit
        elif node.days is not None and not 1 <= node.days <= 3660:
            self.error("a run of consecutive days must be between 1 and 3660 days", node.span)
        else:
            days = node.days or 0
        test = TimeSpec(spec.name, node.op, seconds, months, days, amount, unit)
        self.time_tests.append(test)
        return test

    def flag_test(self, node: nodes.FlagTest, spec: AttrSpec) -> FlagIs | None:
        if spec.kind != "flag":
            self.error(
                f"`customer.{spec.name}` is {describe_type(spec)}, not a flag",
                node.attr.span,
                hint=f"compare it, for example `customer.{spec.name} is ...`",
            )
            return None
        return FlagIs(spec.name)

    def member_test(self, node: nodes.Member, spec: AttrSpec) -> Membership | None:
        if spec.kind != "set" or spec.element != node.field:
            self.error(
                f"`customer.{spec.name}` is {describe_type(spec)}, not a set of {node.field}",
                node.attr.span,
            )
            return None
        return Membership(node.field, spec.name, node.negated)

    def typed_value(self, value: nodes.Value, spec: AttrSpec) -> Constant | None:
        """The literal as the attribute's type, or None after an error."""
        kind = spec.kind
        quoted = value.kind == "text"
        if kind in ("number",) and value.kind == "number":
            return Constant(value.value)
        if kind == "date" and value.kind == "date":
            return Constant(value.value)
        if kind == "flag" and value.kind == "bool":
            return Constant(value.value)
        if kind in ("text", "zone") and value.kind in ("text", "name"):
            return Constant(value.value, quoted)
        if kind == "enum" and value.kind == "name":
            if value.value not in spec.choices:
                self.error(
                    f"`{value.value}` is not one of the values of `customer.{spec.name}`",
                    value.span,
                    expected=", ".join(sorted(spec.choices)),
                    hint=did_you_mean(str(value.value), spec.choices),
                )
                return None
            return Constant(value.value)
        if kind in SELECTABLE and value.kind == "name":
            if self.kind_of.get(str(value.value)) != kind:
                self.unknown(nodes.Name(str(value.value), value.span), kind)
                return None
            return Constant(value.value)
        self.error(
            f"`customer.{spec.name}` is {describe_type(spec)}; it cannot be compared with "
            f"{describe_value(value)}",
            value.span,
        )
        return None

    def in_list(self, node: nodes.InList, spec: AttrSpec) -> OneOf | None:
        if spec.kind in ("set", "flag"):
            self.error(f"`customer.{spec.name}` is {describe_type(spec)}; `in (...)` needs a single value", node.attr.span)
            return None
        values = [self.typed_value(v, spec) for v in node.values]
        kept = tuple(v for v in values if v is not None)
        if len(kept) != len(values):
            return None
        return OneOf(spec.name, kept, node.negated)

    def compare(self, node: nodes.Compare, spec: AttrSpec) -> Comparison | None:
        op = node.op
        if op in ("<", "<=", ">", ">=") and spec.kind not in ("number", "date"):
            self.error(
                f"`{op}` compares numbers and dates, but `customer.{spec.name}` is {describe_type(spec)}",
                node.span,
                hint="use `is` or `is not`" if spec.kind != "set" else None,
            )
            return None
        if spec.kind == "set":
            self.error(f"`customer.{spec.name}` is a set; test membership with `channel in customer.{spec.name}`", node.span)
            return None
        value = self.typed_value(node.value, spec)
        if value is None:
            return None
        return Comparison(spec.name, op, value)


def exemption_edges(rules: list[AnyRule]) -> dict[int, tuple[int, ...]]:
    """For each rule, the exempt rules that could lift it (in rule order).

    Indexed by kind and by name rather than testing every exempt against every rule: the
    rules that only kinds lift share one tuple per kind, so a policy with many exempts and
    many rules costs memory in proportion to its size, not to their product.
    """
    by_kind: dict[str, list[int]] = {}
    by_name: dict[str, list[int]] = {}
    for exempt in rules:
        if isinstance(exempt, ExemptRule):
            for kind in exempt.kinds:
                by_kind.setdefault(kind, []).append(exempt.index)
            for name in exempt.rule_names:
                by_name.setdefault(name, []).append(exempt.index)
    shared = {kind: tuple(indexes) for kind, indexes in by_kind.items()}
    edges: dict[int, tuple[int, ...]] = {}
    for rule in rules:
        if isinstance(rule, ExemptRule):
            continue
        named = by_name.get(rule.name)
        lifting = shared.get(rule.kind, ())
        if named:  # an exempt may name a rule and its kind both: once each, in rule order
            lifting = tuple(sorted(set(lifting).union(named)))
        if lifting:
            edges[rule.index] = lifting
    return edges


def describe_type(spec: AttrSpec) -> str:
    if spec.kind == "enum":
        return "one of " + ", ".join(sorted(spec.choices))
    if spec.kind == "set":
        return f"a set of {spec.element}"
    article = "an" if spec.kind[0] in "aeiou" else "a"
    return f"{article} {spec.kind}"


def describe_value(value: nodes.Value) -> str:
    return {"number": "a number", "date": "a date", "text": "a text", "bool": "true/false"}.get(
        value.kind, f"the name `{value.value}`"
    )


def declare_hint(wanted: str | None) -> str:
    lists = {"channel": "channels", "team": "teams", "purpose": "purposes", "outcome": "outcomes", "event": "events"}
    if wanted in lists:
        return f"declare it in the `{lists[wanted]}` list"
    return "declare it in the `channels`, `teams`, `purposes`, `outcomes` or `events` list"


def _shortest(seconds: int, months: int) -> int:
    """A lower bound in seconds of a duration of ``seconds`` or ``months`` (28-day months, an
    hour less for a DST change)."""
    return months * 28 * 86400 - 3600 if months else seconds


def _longest(seconds: int, months: int) -> int:
    """An upper bound in seconds of a duration of ``seconds`` or ``months``."""
    return months * 31 * 86400 + 3600 if months else seconds

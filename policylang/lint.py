"""The linter: mistakes that compile but are almost certainly not what the author meant.

Every check works on the compiler's public output, the rule graph (:class:`Policy`) and the
AST it keeps, and asks the evaluator which rules a shape of request is subject to (its
``rule_plan``, exemptions included), so the linter never re-derives what a rule means and
new language forms flow through. A finding has a stable code (``PL001`` ...), a span, a
sentence and a hint; ``# policylang: ignore[PL003]`` on a rule's line (or the line above it)
silences one code for it, ``# policylang: ignore-file[PL010]`` for the whole file, and a
project's ``policylang.toml`` (``[lint]``) or ``pyproject.toml`` (``[tool.policylang.lint]``)
can ``ignore`` codes everywhere.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

from policylang import nodes, unparse
from policylang.errors import PolicylangError
from policylang.rules import (
    WEEKDAYS,
    AnyRule,
    Calendar,
    CapRule,
    ClockRange,
    Consecutive,
    DaySet,
    ExcludeRule,
    ExclusiveRule,
    ExemptRule,
    Match,
    Policy,
    QuietRule,
    RequireRule,
    Rolling,
)
from policylang.source import Source, Span


@attrs.frozen(slots=True)
class LintRule:
    """One kind of finding: its code, a short name and what it means."""

    code: str
    name: str
    summary: str


RULES: dict[str, LintRule] = {
    rule.code: rule
    for rule in (
        LintRule("PL001", "quiet-hours-reversed",
                 "`outside A-B` with A later than B: the rule allows only the night"),
        LintRule("PL002", "no-allowed-hour",
                 "quiet rules together leave some traffic no allowed hour on a day"),
        LintRule("PL003", "overlapping-quiet",
                 "two quiet rules silence the same traffic at the same time"),
        LintRule("PL004", "shadowed-cap",
                 "a cap never decides: a stricter cap over a superset of its traffic denies first"),
        LintRule("PL005", "never-applies",
                 "a rule that can never apply: exemptions lift it from everything it selects"),
        LintRule("PL006", "condition-always-false",
                 "an exclusion whose condition is false for every customer"),
        LintRule("PL007", "require-never-met",
                 "a prerequisite that is itself denied at every time"),
        LintRule("PL008", "exclusive-single-team",
                 "`exclusive` over traffic of a single team never excludes anyone"),
        LintRule("PL009", "precedence-no-effect",
                 "precedence names a team no counting rule weighs against another team"),
        LintRule("PL010", "unused-declaration",
                 "a customer attribute or an event that no rule uses"),
        LintRule("PL011", "unnamed-vocabulary",
                 "a channel, purpose, team or outcome no rule names (requests and ledgers use them too)"),
        LintRule("PL012", "uncited-rule",
                 "a policy that includes a regulatory pack has a rule of its own without a `cite`"),
    )
}
DEFAULT_OFF = frozenset({"PL011"})


@attrs.frozen(slots=True)
class Finding:
    """One lint warning."""

    code: str
    message: str
    span: Span
    hint: str | None = None

    @property
    def rule(self) -> LintRule:
        return RULES[self.code]

    def to_json(self) -> dict[str, Any]:
        span = self.span
        return {
            "file": span.file, "line": span.line, "column": span.column, "end_line": span.end_line,
            "end_column": span.end_column, "severity": "warning", "code": self.code,
            "name": self.rule.name, "message": self.message, "hint": self.hint,
        }


def format_finding(finding: Finding, source: Source | None) -> str:
    """Text like the compiler's errors: location, code, message, line, caret, hint."""
    span = finding.span
    lines = [f"{span}: warning[{finding.code}]: {finding.message}"]
    if source is not None and span.line:
        text = source.line(span.line).expandtabs(1)
        if text:
            width = span.end_column - span.column if span.end_line == span.line else len(text) - span.column + 1
            lines.append(f"    {text}")
            lines.append("    " + " " * (span.column - 1) + "^" * max(1, min(width, len(text) - span.column + 1)))
    if finding.hint:
        lines.append(f"  hint: {finding.hint}")
    return "\n".join(lines)


# ---- configuration and suppression ------------------------------------------------------------

SUPPRESS = re.compile(r"#\s*policylang:\s*ignore(-file)?\[([A-Za-z0-9_,\s]+)\]")


@attrs.frozen(slots=True)
class Config:
    """Project-level settings: codes to ignore everywhere, and where they were read from."""

    ignore: frozenset[str] = frozenset()
    enable: frozenset[str] = frozenset()
    file: str | None = None

    def silenced(self, code: str) -> bool:
        return code in self.ignore or (code in DEFAULT_OFF and code not in self.enable)


def _toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicylangError(f"{path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicylangError(f"{path}: is not valid TOML ({exc})") from None


def find_config(start: Path) -> Config:
    """The nearest ``policylang.toml`` (``[lint]``) or ``pyproject.toml``
    (``[tool.policylang.lint]``) at or above ``start``; unknown codes are an error."""
    folder = start if start.is_dir() else start.parent
    for place in [folder.resolve(), *folder.resolve().parents]:
        for name, keys in (("policylang.toml", ("lint",)), ("pyproject.toml", ("tool", "policylang", "lint"))):
            candidate = place / name
            if not candidate.is_file():
                continue
            table: Any = _toml(candidate)
            for key in keys:
                table = table.get(key, {}) if isinstance(table, dict) else {}
            if not table and name == "pyproject.toml":
                continue  # a pyproject without our table says nothing; keep looking up
            if not isinstance(table, dict):
                raise PolicylangError(f"{candidate}: the lint settings must be a table")
            lists: dict[str, frozenset[str]] = {}
            for key in ("ignore", "enable"):
                codes = table.get(key, [])
                if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                    raise PolicylangError(f"{candidate}: `{key}` must be a list of codes like \"PL003\"")
                unknown = [c for c in codes if c.upper() not in RULES]
                if unknown:
                    raise PolicylangError(f"{candidate}: unknown lint code {unknown[0]!r} in `{key}` "
                                          f"(codes are {', '.join(RULES)})")
                lists[key] = frozenset(c.upper() for c in codes)
            return Config(lists["ignore"], lists["enable"], str(candidate))
    return Config()


def suppressions(tree: nodes.PolicyFile) -> tuple[dict[int, set[str]], set[str]]:
    """Codes silenced per line (a comment silences its own line and the next) and per file."""
    lines: dict[int, set[str]] = {}
    whole: set[str] = set()
    for comment in tree.comments:
        for found in SUPPRESS.finditer(comment.text):
            codes = {c.strip().upper() for c in found.group(2).split(",") if c.strip()}
            if found.group(1):
                whole |= codes
            else:
                for line in (comment.line, comment.line + 1):
                    lines.setdefault(line, set()).update(codes)
    return lines, whole


def suppressed(finding: Finding, lines: dict[int, set[str]], whole: set[str], config: Config) -> bool:
    code = finding.code
    return config.silenced(code) or code in whole or code in lines.get(finding.span.line, set())


# ---- traffic: the shapes of request a rule is checked for ---------------------------------------

Shape = tuple[str, str, str, bool]  # purpose, channel, team, is the customer's owner


def all_shapes(policy: Policy) -> list[Shape]:
    owners = (False, True) if policy.owner_attribute else (False,)
    return [(p, c, t, o) for p in policy.purposes for c in policy.channels for t in policy.teams for o in owners]


def matched(policy: Policy, match: Match) -> set[Shape]:
    """Shapes a compiled selector matches (the rule graph's own ``Match.matches``)."""
    return {s for s in all_shapes(policy) if match.matches(s[0], s[1], s[2], s[2] if s[3] else None)}


class Traffic:
    """Which rules are checked for each shape of request, exemptions applied: the rule
    graph's index (``subject_rules``) and exemption edges (``exempted_by``), read the way the
    evaluator's ``build_plan`` reads them (tests/test_lint.py holds the two together)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.shapes = all_shapes(policy)
        self.status: dict[Shape, dict[int, str]] = {}
        exempt_kind = {r.index for r in policy.rules if isinstance(r, ExemptRule)}
        # an exemption with a scope (when, from, until) or a window (section 11.5, 11.6) lifts
        # only sometimes: the rules it names are still checked, as the evaluator's plan says
        always = {r.index for r in policy.rules
                  if isinstance(r, ExemptRule) and r.scope is None and r.window is None}
        for shape in self.shapes:
            purpose, channel, team, is_owner = shape
            subject = set(policy.subject_rules(purpose, channel, team, is_owner))
            lifting = subject & always
            # rules lifted by the same exempts share one tuple of them: look each tuple over once
            lifted: dict[int, bool] = {}
            status: dict[int, str] = {}
            for index in subject:
                lifters = policy.exempted_by.get(index, ())
                if lifters and id(lifters) not in lifted:
                    lifted[id(lifters)] = not lifting.isdisjoint(lifters)
                if index in exempt_kind:
                    status[index] = "lifter"
                elif lifters and lifted[id(lifters)]:
                    status[index] = "exempt"
                else:
                    status[index] = "check"
            self.status[shape] = status

    def checked(self, rule: AnyRule) -> set[Shape]:
        """Shapes for which the evaluator checks ``rule`` (selected and not exempted)."""
        return {s for s in self.shapes if self.status[s].get(rule.index) == "check"}

    def selected(self, rule: AnyRule) -> set[Shape]:
        return {s for s in self.shapes if self.status[s].get(rule.index) in ("check", "exempt", "lifter")}

    def quiet_rules(self, shape: Shape) -> list[QuietRule]:
        status = self.status[shape]
        return [r for r in self.policy.rules if isinstance(r, QuietRule) and status.get(r.index) == "check"]


def shape_text(shape: Shape) -> str:
    purpose, channel, team, is_owner = shape
    return f"{purpose} {channel} by {team}" + (" (the owner)" if is_owner else "")


def quoted(names: Iterable[str]) -> str:
    items = [f'"{n}"' for n in names]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def boundaries(ranges: Iterable[ClockRange]) -> list[int]:
    """Minutes where some range's verdict may change: checking these covers the whole day."""
    points = {0}
    for r in ranges:
        points.update({r.start % 1440, r.end % 1440})
    return sorted(points)


def blocked_weekdays(rules: list[QuietRule]) -> dict[int, list[str]]:
    """Weekdays on which these quiet rules leave no allowed minute, with the rules to blame."""
    ranges = [r for r in rules if isinstance(r.period, ClockRange)]
    spans = [r.period for r in ranges if isinstance(r.period, ClockRange)]
    whole_day = bool(spans) and all(any(p.quiet(m) for p in spans) for m in boundaries(spans))
    blocked: dict[int, list[str]] = {}
    for day in range(7):
        by_day = [r.name for r in rules if isinstance(r.period, DaySet) and day in r.period.weekdays]
        if by_day:
            blocked[day] = by_day
        elif whole_day:
            blocked[day] = [r.name for r in ranges]
    return blocked


def name_span(rule: AnyRule) -> Span:
    span = getattr(rule.source, "name_span", None)
    return span if isinstance(span, Span) and span.line else rule.span


# ---- the checks -------------------------------------------------------------------------------


def lint_policy(policy: Policy) -> list[Finding]:
    """Every finding for a compiled policy, in file order (suppressions not yet applied)."""
    traffic = Traffic(policy)
    found: list[Finding] = []
    for check in CHECKS:
        found.extend(check(policy, traffic))
    unique = {(f.code, f.span.line, f.span.column, f.message): f for f in found}
    return sorted(unique.values(), key=lambda f: (f.span.line, f.span.column, f.code))


def reversed_hours(policy: Policy, traffic: Traffic) -> Iterator[Finding]:
    """PL001: ``outside 21:00-08:00`` allows only 21:00 to 08:00."""
    for rule in policy.rules:
        period = rule.period if isinstance(rule, QuietRule) else None
        if isinstance(period, ClockRange) and not period.quiet_inside and period.start > period.end:
            node = getattr(rule.source, "period", None)
            span = node.span if node is not None else rule.span
            a, b = clock(period.start), clock(period.end % 1440)
            yield Finding(
                "PL001",
                f'quiet "{rule.name}" allows {rule.match.text or "contacts"} only between {a} and {b} '
                f"(overnight): `outside {a}-{b}` is quiet from {b} to {a}",
                span,
                hint=f"to be quiet at night write `outside {b}-{a}` (allowed {b} to {a}) "
                f"or `between {a} and {b}`",
            )


def no_allowed_hour(policy: Policy, traffic: Traffic) -> Iterator[Finding]:
    """PL002: clock-range quiet rules that together cover the whole day for some traffic."""
    reported: set[frozenset[str]] = set()
    for shape in traffic.shapes:
        rules = [r for r in traffic.quiet_rules(shape) if isinstance(r.period, ClockRange)]
        blocked = blocked_weekdays(rules)
        if len(blocked) < 7:
            continue
        names = frozenset(n for ns in blocked.values() for n in ns)
        if names in reported:
            continue
        reported.add(names)
        last = max((r for r in rules if r.name in names), key=lambda r: r.index)
        yield Finding(
            "PL002",
            f"{shape_text(shape)} has no allowed hour on any day: quiet {quoted(sorted(names))} "
            "together cover the whole day",
            name_span(last),
            hint="check which hours each rule is written to allow; `outside A-B` allows A to B",
        )


def _quiet_overlap(a: QuietRule, b: QuietRule) -> str | None:
    """When both rules are quiet at a common time, a few words saying when."""
    pa, pb = a.period, b.period
    if isinstance(pa, ClockRange) and isinstance(pb, ClockRange):
        for minute in boundaries([pa, pb]):
            if pa.quiet(minute) and pb.quiet(minute):
                return f"at {clock(minute)}"
    if isinstance(pa, DaySet) and isinstance(pb, DaySet):
        days = sorted(pa.weekdays & pb.weekdays)
        if days:
            return f"on {WEEKDAYS[days[0]]}"
        dates = sorted(pa.dates & pb.dates)
        if dates:
            return f"on {dates[0].isoformat()}"
    return None


def overlapping_quiet(policy: Policy, traffic: Traffic) -> Iterator[Finding]:
    """PL003: a quiet rule whose traffic another covers, quiet at a common time (or a duplicate)."""
    quiets = [r for r in policy.rules if isinstance(r, QuietRule)]
    checked = {r.index: traffic.checked(r) for r in quiets}
    for later in quiets:
        for earlier in quiets:
            mine, theirs = checked[later.index], checked[earlier.index]
            if earlier.index == later.index or not mine or not mine <= theirs:
                continue
            if mine == theirs and later.index < earlier.index:
                continue  # two rules over the same traffic: report the pair once, on the later
            when = _quiet_overlap(later, earlier)
            if when is None:
                continue
            same = later.period == earlier.period and mine == theirs
            if same:
                message = f'quiet "{later.name}" repeats quiet "{earlier.name}" (line {earlier.span.line})'
            else:
                message = (f'quiet "{later.name}" overlaps quiet "{earlier.name}" (line {earlier.span.line}): '
                           f"both silence {shape_text(min(mine))} {when}")
            yield Finding("PL003", message, name_span(later),
                          hint="merge them into one rule, or narrow one so each says something of its own")
            break  # one finding per rule is enough to act on


CALENDAR_INSIDE = {
    "day": {"day", "week", "month", "quarter", "year"},
    "week": {"week"},
    "month": {"month", "quarter", "year"},
    "quarter": {"quarter", "year"},
    "year": {"year"},
}


def window_within(inner: Rolling | Consecutive | Calendar, outer: Rolling | Consecutive | Calendar) -> bool:
    """Is every window of ``inner`` inside some window of ``outer``?"""
    if isinstance(inner, Rolling) and isinstance(outer, Rolling):
        return outer.seconds >= inner.seconds
    if isinstance(inner, Consecutive) and isinstance(outer, Consecutive):
        return outer.days >= inner.days
    if isinstance(inner, Calendar) and isinstance(outer, Calendar):
        return outer.unit in CALENDAR_INSIDE.get(inner.unit, set())
    return False


def shadowed_caps(policy: Policy, traffic: Traffic) -> Iterator[Finding]:
    """PL004: cap A never denies when cap B counts a superset of A's contacts, in a window
    containing A's, applies wherever A does, and allows no more."""
    caps = [r for r in policy.rules if isinstance(r, CapRule)]
    counted = {r.index: matched(policy, r.match) for r in caps}
    checked = {r.index: traffic.checked(r) for r in caps}
    for a in caps:
        for b in caps:
            if a.index == b.index or a.kind != b.kind or not checked[a.index]:
                continue
            if b.group is not None and b.group != a.group:
                continue  # b counts per group, a over all: b may count fewer
            if not (counted[a.index] <= counted[b.index] and checked[a.index] <= checked[b.index]):
                continue
            if b.limit > a.limit or not window_within(a.window, b.window):
                continue
            twin = (b.limit == a.limit and a.window == b.window and counted[a.index] == counted[b.index]
                    and checked[a.index] == checked[b.index] and a.group == b.group)
            if twin and a.index < b.index:
                continue  # report a pair of twins once, on the later rule
            yield Finding(
                "PL004",
                f'cap "{a.name}" never decides: cap "{b.name}" (line {b.span.line}) allows at most '
                f"{b.limit} per {b.window.text} over the same contacts or more, so it denies first",
                name_span(a),
                hint=f'remove "{a.name}", or make it stricter than "{b.name}"',
            )
            break  # one finding per cap


def never_applies(policy: Policy, traffic: Traffic) -> Iterator[Finding]:
    """PL005: a rule that exemptions lift from every request it selects."""
    for rule in policy.rules:
        if isinstance(rule, ExemptRule):
            continue
        selected = traffic.selected(rule)
        if selected and not traffic.checked(rule):
            lifters = sorted({policy.rules[i].name for i in policy.exempted_by.get(rule.index, ())})
            yield Finding(
                "PL005",
                f'{rule.kind} "{rule.name}" can never apply: exempt {quoted(lifters)} lift it from '
                "everything it selects",
                name_span(rule),
                hint="narrow the exemption, or remove the rule",
            )


def _interval_empty(compares: list[nodes.Compare]) -> bool:
    low, high = -float("inf"), float("inf")
    low_open = high_open = False
    for c in compares:
        v = c.value.value
        if c.value.kind != "number" or isinstance(v, (bool, dt.date)):
            return False
        x = float(v)
        if c.op in (">", ">="):
            if x > low or (x == low and c.op == ">"):
                low, low_open = x, c.op == ">"
        elif c.op in ("<", "<="):
            if x < high or (x == high and c.op == "<"):
                high, high_open = x, c.op == "<"
        elif c.op in ("==", "is"):
            if x > low or (x == low and low_open):
                low, low_open = x, False
            if x < high:
                high, high_open = x, False
            if not low <= x <= high:
                return True
    return low > high or (low == high and (low_open or high_open))


def contradiction(node: nodes.Condition) -> str | None:
    """Why a condition is false for every customer, when it plainly is."""
    if isinstance(node, nodes.AnyOf):
        reasons = [contradiction(op) for op in node.operands]
        return reasons[0] if all(reasons) else None
    if not isinstance(node, nodes.AllOf):
        if isinstance(node, nodes.InList) and not node.negated and not node.values:
            return "an empty list matches nothing"
        return None
    for op in node.operands:
        inner = contradiction(op)
        if inner:
            return inner
    by_attr: dict[str, list[nodes.Compare]] = {}
    for op in node.operands:
        if isinstance(op, nodes.Compare):
            by_attr.setdefault(op.attr.attribute, []).append(op)
    for attribute, compares in by_attr.items():
        equal = {str(c.value.value) for c in compares if c.op in ("is", "==")}
        unequal = {str(c.value.value) for c in compares if c.op in ("is not", "!=")}
        if len(equal) > 1 or equal & unequal:
            return f"`customer.{attribute}` cannot be {' and '.join(sorted(equal | (equal & unequal)))} at once"
        if _interval_empty([c for c in compares if c.op not in ("is not", "!=")]):
            text = " and ".join(unparse.text(c) for c in compares)
            return f"no number satisfies {text}"
    return None


def always_false(policy: Policy, traffic: Traffic) -> Iterator[Finding]:
    """PL006: an ``exclude`` whose condition contradicts itself."""
    for rule in policy.rules:
        node = getattr(rule.source, "condition", None) if isinstance(rule, ExcludeRule) else None
        if node is None:
            continue
        why = contradiction(node)
        if why:
            yield Finding("PL006", f'exclude "{rule.name}" can never apply: {why}', node.span,
                          hint="did you mean `or`, or a different value?")


def require_never_met(policy: Policy, traffic: Traffic) -> Iterator[Finding]:
    """PL007: every contact that could meet a ``require`` is itself quiet every day of the week."""
    for rule in policy.rules:
        if not isinstance(rule, RequireRule):
            continue
        shapes = matched(policy, rule.prerequisite)
        if not shapes:
            continue
        blame: set[str] = set()
        for shape in shapes:
            blocked = blocked_weekdays(traffic.quiet_rules(shape))
            if len(blocked) < 7:
                break
            blame.update(n for names in blocked.values() for n in names)
        else:
            node = getattr(rule.source, "prerequisite", None)
            yield Finding(
                "PL007",
                f'require "{rule.name}" can never be met: its prerequisite ({rule.prerequisite.text}) '
                f"is denied at every time by quiet {quoted(sorted(blame))}",
                node.span if node is not None else rule.span,
                hint="exempt the prerequisite from those quiet rules, or require something that can happen",
            )


def single_team_exclusive(policy: Policy, traffic: Traffic) -> Iterator[Finding]:
    """PL008: ``exclusive`` keeps other teams away; over one team it excludes nobody."""
    for rule in policy.rules:
        if not isinstance(rule, ExclusiveRule):
            continue
        teams = {s[2] for s in traffic.checked(rule)}
        if len(teams) == 1:
            yield Finding(
                "PL008",
                f'exclusive "{rule.name}" governs only team {next(iter(teams))}, so no other team is ever kept away',
                name_span(rule),
                hint="widen its selector to the teams that compete, or use a cap for one team",
            )


def precedence_no_effect(policy: Policy, traffic: Traffic) -> Iterator[Finding]:
    """PL009: a precedence entry matters only where a counting rule weighs two teams' contacts."""
    node = next((s for s in policy.syntax.statements if isinstance(s, nodes.Precedence)), None) if policy.syntax else None
    if node is None:
        return
    counting = [r for r in policy.rules if isinstance(r, (CapRule, ExclusiveRule))]
    weighed: set[str] = set()
    for rule in counting:
        applies = {s[2] for s in traffic.checked(rule)}
        counts = {s[2] for s in matched(policy, rule.match)}
        for team in applies:
            if counts - {team}:
                weighed.add(team)
                weighed.update(counts)
    owners_weighed = bool(weighed)
    for name in node.teams:
        if name.value == "owner":
            if not owners_weighed:
                yield Finding("PL009", "precedence names `owner`, but no cap or exclusive rule weighs two "
                              "teams' contacts, so its rank changes no decision", name.span,
                              hint="remove it from the precedence")
            continue
        if name.value not in weighed:
            yield Finding(
                "PL009",
                f"precedence names `{name.value}`, but no cap or exclusive rule counts its contacts "
                "together with another team's, so its rank changes no decision",
                name.span,
                hint="remove it from the precedence, or widen a cap or exclusive rule to it",
            )


def walk(node: object) -> Iterator[object]:
    """Every attrs node below ``node`` (tuples followed), the node itself first."""
    yield node
    if isinstance(node, tuple):
        for item in node:
            yield from walk(item)
        return
    if attrs.has(type(node)):
        for field in attrs.fields(type(node)):  # type: ignore[arg-type]  # attrs.has checked it
            if field.name in ("span", "name_span"):
                continue
            yield from walk(getattr(node, field.name))


def references(tree: nodes.PolicyFile) -> tuple[set[str], set[str]]:
    """Names and customer attributes the policy's statements refer to (declarations aside)."""
    names: set[str] = set()
    attributes: set[str] = set()
    for statement in tree.statements:
        if isinstance(statement, (nodes.Vocabulary, nodes.CustomerBlock)):
            continue
        for node in walk(statement):
            if isinstance(node, nodes.Name):
                names.add(node.value)
            elif isinstance(node, nodes.AttrRef):
                attributes.add(node.attribute)
            elif isinstance(node, nodes.Value) and node.kind == "name":
                names.add(str(node.value))
            elif isinstance(node, str):
                names.add(node)  # ``for each team``, element types and other plain words
    return names, attributes


IMPLICIT_ATTRIBUTES = {"timezone"}  # read by the evaluator itself (the customer's zone)


def unused_declarations(policy: Policy, traffic: Traffic) -> Iterator[Finding]:
    """PL010: declared names nothing in the policy names."""
    tree = policy.syntax
    if tree is None:
        return
    names, attributes = references(tree)
    for statement in tree.statements:
        if isinstance(statement, nodes.Vocabulary):
            kind = statement.kind.removesuffix("s")
            code = "PL010" if kind == "event" else "PL011"
            for name in statement.names:
                if name.value not in names:
                    yield Finding(code, f"{kind} `{name.value}` is declared but no rule names it",
                                  name.span, hint=f"remove it from the `{statement.kind}` list, or use it")
        elif isinstance(statement, nodes.CustomerBlock):
            for attribute in statement.attributes:
                value = attribute.name.value
                if value not in attributes and value not in IMPLICIT_ATTRIBUTES:
                    yield Finding("PL010", f"customer attribute `{value}` is declared but no rule uses it",
                                  attribute.name.span, hint="remove it from the `customer` block, or use it")


def uncited_rules(policy: Policy, traffic: Traffic) -> Iterator[Finding]:
    """PL012: once a policy includes a pack, its own rules say which text they follow too, so
    an auditor reading a trace can tell law from house rule (11.17's `cite`)."""
    packs = sorted({pack for pack, _ in policy.rule_packs.values()})
    if not packs:
        return
    for rule in policy.rules:
        if rule.name not in policy.rule_packs and not rule.cite:
            yield Finding("PL012", f'{rule.kind} "{rule.name}" cites nothing, though the policy includes '
                                   f"{quoted(packs)}",
                          name_span(rule),
                          hint='end the rule with `cite "..."` (the law, or the firm\'s own policy document), '
                               "or silence it with `# policylang: ignore[PL012]`")


CHECKS = (
    reversed_hours,
    no_allowed_hour,
    overlapping_quiet,
    shadowed_caps,
    never_applies,
    always_false,
    require_never_met,
    single_team_exclusive,
    precedence_no_effect,
    unused_declarations,
    uncited_rules,
)


# ---- a whole file -----------------------------------------------------------------------------


@attrs.frozen(slots=True)
class LintResult:
    """One file's outcome: the compiled policy (None when it has errors), its errors and findings."""

    file: str
    source: Source
    policy: Policy | None
    errors: tuple[PolicylangError, ...]
    findings: tuple[Finding, ...]


def lint_text(text: str, file: str = "<policy>", config: Config = Config()) -> LintResult:
    """Compile ``text`` and lint it; compile errors come back in ``errors`` (no findings then)."""
    from policylang.compiler import compile_policy

    source = Source(file, text.removeprefix("\ufeff"))
    try:
        policy = compile_policy(text, file)
    except PolicylangError as exc:
        return LintResult(file, source, None, tuple(exc.errors), ())
    findings = lint_policy(policy)
    lines, whole = suppressions(policy.syntax) if policy.syntax is not None else ({}, set())
    kept = tuple(f for f in findings if not suppressed(f, lines, whole, config))
    return LintResult(file, source, policy, (), kept)

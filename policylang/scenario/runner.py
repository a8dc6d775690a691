"""Running scenarios: the state a scenario builds, answers to ``ask`` and ``expect``, whole files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from policylang.compiler import compile_policy
from policylang.decision import Decision
from policylang.errors import (
    ErrorGroup,
    PolicylangError,
    ScenarioError,
    did_you_mean,
)
from policylang.nodes import Name, Value
from policylang.records import Contact, Customer, Entry, Event, Request, VoidLine
from policylang.rules import ExemptRule, Policy
from policylang.scenario.nodes import (
    UTC,
    Ask,
    AttrValue,
    Check,
    CustomerDecl,
    Expect,
    Had,
    HadEvent,
    Now,
    RequestSpec,
    Statement,
    Use,
    Voided,
)
from policylang.scenario.parser import parse_scenario
from policylang.scenario.wording import (
    contact_fits,
    describe_decision,
    displaced_text,
    format_instant,
    format_wall,
    quoted,
    spec_text,
)
from policylang.source import NOWHERE, Source, Span

# ---- running ---------------------------------------------------------------------------


@attrs.define(slots=True)
class CustomerState:
    """A customer built by the scenario so far: attribute values and ledger."""

    name: str
    values: dict[str, Any]
    ledger: list[Entry] = attrs.field(factory=list)
    span: Span = NOWHERE

    def record(self) -> Customer:
        return Customer(self.name, dict(self.values))


@attrs.frozen(slots=True)
class Answer:
    """The outcome of an ``ask`` or ``expect``: the decision, and for an expect its failures."""

    statement: Ask | Expect
    customer: str
    request: Request
    decision: Decision
    policy: Policy
    zone: dt.tzinfo
    failures: tuple[str, ...] = ()
    owner: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def is_expect(self) -> bool:
        return isinstance(self.statement, Expect)


Loader = Callable[[Path], Policy]


def load_policy_file(path: Path) -> Policy:
    """Read and compile a policy file (errors carry their own spans)."""
    text = path.read_text(encoding="utf-8")
    return compile_policy(text, str(path))


class ScenarioRun:
    """The state a scenario builds: the policy, the clock, the customers and their ledgers.

    :meth:`execute` runs one statement and returns an :class:`Answer` for ``ask`` and
    ``expect``, a short text for the others; problems raise :class:`ScenarioError`.
    """

    def __init__(
        self,
        base: Path,
        *,
        policy: Policy | None = None,
        policy_path: Path | None = None,
        loader: Loader = load_policy_file,
    ) -> None:
        self.base = base
        self.policy = policy
        self.policy_path = policy_path
        self.loader = loader
        self.now: dt.datetime | None = None  # naive = local to each customer
        self.customers: dict[str, CustomerState] = {}
        self.answers: list[Answer] = []

    # -- dispatch --
    def execute(self, statement: Statement) -> Answer | str:
        """Run one statement."""
        if isinstance(statement, Use):
            return self.use(statement)
        if isinstance(statement, Now):
            return self.set_now(statement)
        if isinstance(statement, CustomerDecl):
            return self.declare(statement)
        if isinstance(statement, Had):
            return self.had(statement)
        if isinstance(statement, HadEvent):
            return self.had_event(statement)
        if isinstance(statement, Voided):
            return self.voided(statement)
        if isinstance(statement, (Expect, Ask)):
            answer = self.answer(statement)
            self.answers.append(answer)
            return answer
        raise TypeError(statement)  # pragma: no cover - the union is closed

    def use(self, statement: Use) -> str:
        path = (self.base / statement.path) if not Path(statement.path).is_absolute() else Path(statement.path)
        if not path.is_file():
            raise ScenarioError(
                f"no policy file `{statement.path}`",
                statement.span,
                hint=f"the path is relative to the scenario's folder ({self.base})",
            )
        try:
            self.policy = self.loader(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"cannot read `{statement.path}`: {exc}", statement.span) from None
        self.policy_path = path
        return f"using {path} ({len(self.policy.rules)} rules)"

    def need_policy(self, span: Span) -> Policy:
        if self.policy is None:
            raise ScenarioError(
                "no policy yet", span, hint='start the scenario with a line like `use "northwind.pol"`'
            )
        return self.policy

    def set_now(self, statement: Now) -> str:
        at = statement.at
        zone = at.tzinfo()
        self.now = at.wall().replace(tzinfo=zone) if zone else at.wall()
        return f"now {at.text()}" + ("" if zone else " (local to each customer)")

    def advance(self, delta: dt.timedelta, span: Span = NOWHERE) -> str:
        """Move the clock on (the REPL's ``advance``)."""
        if self.now is None:
            raise ScenarioError("there is no `now` to advance yet", span, hint="set one: now 2026-11-24 10:00")
        self.now = self.now + delta
        return f"now {format_wall(self.now)}"

    # -- customers and ledgers --
    def declare(self, statement: CustomerDecl) -> str:
        policy = self.need_policy(statement.span)
        name = statement.name.value
        state = self.customers.get(name)
        values = dict(state.values) if state else {}
        for attribute in statement.attributes:
            key = attribute.name.value
            value = typed_attribute(policy, attribute)
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
        if state is None:
            self.customers[name] = CustomerState(name, values, span=statement.span)
            return f"customer {name}"
        state.values = values
        return f"customer {name} updated"

    def customer(self, name: Name) -> CustomerState:
        state = self.customers.get(name.value)
        if state is None:
            known = sorted(self.customers)
            raise ScenarioError(
                f"no customer `{name.value}` yet",
                name.span,
                hint=did_you_mean(name.value, known)
                or f"declare one first: customer {name.value}: ..."
                + (f" (customers so far: {', '.join(known)})" if known else ""),
            )
        return state

    def zone_of(self, state: CustomerState) -> dt.tzinfo:
        """The customer's local zone, as the evaluator decides it (its timezone attribute,
        the first of several (11.7), when the policy declares one; else the policy's; else UTC)."""
        if self.policy is None:
            return UTC
        from policylang.evaluator import customer_tz

        return customer_tz(self.policy, state.values)

    def had(self, statement: Had) -> str:
        policy = self.need_policy(statement.span)
        state = self.customer(statement.customer)
        spec = statement.contact
        purpose, channel = shape(policy, spec.names, spec.span)
        team = declared(policy, spec.team, "team")
        outcome = declared(policy, spec.outcome, "outcome") if spec.outcome else None
        assert spec.at is not None
        contact = Contact(
            at=spec.at.resolve(self.zone_of(state)),
            channel=channel,
            purpose=purpose,
            team=team,
            status="planned" if statement.planned else "sent",
            outcome=outcome,
            campaign=spec.campaign,
            id=spec.id,
            customer=state.name,
        )
        if spec.id is not None and any(isinstance(e, Contact) and e.id == spec.id for e in state.ledger):
            raise ScenarioError(f'{state.name} already has a contact with id "{spec.id}"', spec.span,
                                hint="ids are unique per customer")
        state.ledger.append(contact)
        return f"{state.name}: {contact.describe()}"

    def voided(self, statement: Voided) -> str:
        self.need_policy(statement.span)
        state = self.customer(statement.customer)
        known = [e.id for e in state.ledger if isinstance(e, Contact) and e.id is not None]
        for ident in statement.ids:
            if ident not in known:
                raise ScenarioError(f'{state.name} has no contact with id "{ident}"', statement.span,
                                    hint=did_you_mean(ident, known) or 'give the contact an id: `... id "c-1"`')
        line = VoidLine(statement.at.resolve(self.zone_of(state)), statement.ids, statement.reason, None, state.name)
        state.ledger.append(line)  # type: ignore[arg-type]
        return f"{state.name}: void " + ", ".join(statement.ids)

    def had_event(self, statement: HadEvent) -> str:
        policy = self.need_policy(statement.span)
        state = self.customer(statement.customer)
        event = declared(policy, statement.event, "event")
        entry = Event(statement.at.resolve(self.zone_of(state)), event, state.name, statement.campaign)
        state.ledger.append(entry)
        return f"{state.name}: event {event} at {entry.at:%Y-%m-%d %H:%M}Z"

    # -- questions --
    def request(self, spec: RequestSpec, state: CustomerState) -> Request:
        """The request a spec describes for this customer, at ``now`` unless it says when."""
        policy = self.need_policy(spec.span)
        purpose, channel = shape(policy, spec.names, spec.span)
        team = declared(policy, spec.team, "team")
        zone = self.zone_of(state)
        if spec.at is not None:
            at = spec.at.resolve(zone)
        elif self.now is not None:
            at = self.now if self.now.tzinfo else self.now.replace(tzinfo=zone)
        else:
            raise ScenarioError(
                "this request has no time and there is no `now`",
                spec.span,
                hint="add `at 2026-11-24 10:00` or a `now` line above it",
            )
        return Request(team, channel, purpose, at, spec.campaign, spec.priority)

    def answer(self, statement: Ask | Expect) -> Answer:
        policy = self.need_policy(statement.span)
        state = self.customer(statement.customer)
        request = self.request(statement.request, state)
        checks = statement.checks if isinstance(statement, Expect) else ()
        for check in checks:
            self.validate(check, policy, state)
        try:
            customer: Any = state.record()  # decide takes a Customer or a plain mapping
            decision = policy.decide(customer, request, tuple(state.ledger), loads=ScenarioLoads(self))
        except PolicylangError as exc:
            raise ScenarioError(f"cannot decide: {exc.message}", statement.span, hint=exc.hint) from None
        zone = self.zone_of(state)
        failures = tuple(
            problem for check in checks if (problem := self.compare(check, decision, request, zone))
        )
        owner = state.values.get(policy.owner_attribute) if policy.owner_attribute else None
        return Answer(statement, state.name, request, decision, policy, zone, failures, owner)

    def validate(self, check: Check, policy: Policy, state: CustomerState) -> None:
        names = [rule.name for rule in policy.rules]
        for rule, span in zip(check.rules or (), check.rule_spans, strict=False):
            if rule not in names:
                raise ScenarioError(
                    f'the policy has no rule "{rule}"', span, hint=did_you_mean(rule, names)
                )
        for contact in check.contacts:
            shape(policy, contact.names, contact.span)
            declared(policy, contact.team, "team")

    def compare(self, check: Check, decision: Decision, request: Request, zone: dt.tzinfo) -> str | None:
        """None when the decision meets the check, else what went wrong in words."""
        actual = describe_decision(decision, zone)
        if check.kind == "allowed":
            return None if decision.allowed else f"expected allowed, but it is {actual}"
        if check.kind == "denied":
            if decision.allowed:
                wanted = "denied" + (" by " + quoted(check.rules) if check.rules else "")
                return f"expected {wanted}, but it is allowed"
            if check.rules is not None and set(check.rules) != set(decision.denied_by):
                return f"expected denied by {quoted(check.rules)}, but it is {actual}"
            return None
        if check.kind == "warns":
            warned = set(check.rules or ())
            if warned == set(decision.warnings):
                return None
            got_text = quoted(decision.warnings) if decision.warnings else "nothing"
            return f"expected warnings {quoted(sorted(warned)) if warned else 'nothing'}, but it warns {got_text}"
        if check.kind == "next":
            got = request.at if decision.allowed else decision.next_allowed_at
            if check.at is None:
                if got is None:
                    return None
                return f"expected never allowed, but it is allowed at {format_instant(got, zone)}"
            wanted_at = check.at.resolve(zone)
            if got is not None and got == wanted_at:
                return None
            when = format_instant(got, zone) if got else "never (waiting does not help)"
            return f"expected next allowed at {format_instant(wanted_at, zone)}, but next allowed is {when}"
        # displaces
        if not check.contacts:
            if not decision.displaces:
                return None
            return "expected to displace nothing, but it displaces " + displaced_text(decision.displaces, zone)
        if not decision.allowed:
            return f"expected to displace planned contacts, but it is {actual}"
        remaining = list(decision.displaces)
        for spec in check.contacts:
            found = next((c for c in remaining if contact_fits(spec, c, zone)), None)
            if found is None:
                return "expected to displace " + spec_text(spec) + ", but it displaces " + (
                    displaced_text(decision.displaces, zone) or "nothing"
                )
            remaining.remove(found)
        if remaining:
            return "it also displaces " + displaced_text(tuple(remaining), zone)
        return None


class ScenarioLoads:
    """Capacity rules count every customer of the scenario, not just the one asked about."""

    def __init__(self, run: ScenarioRun) -> None:
        self.run = run

    def contacts(self, rule: Any, start: dt.datetime, end: dt.datetime) -> list[Contact]:
        """Every customer's counted contacts matching ``rule.match`` in ``[start, end)``."""
        policy = self.run.policy
        found: list[Contact] = []
        for state in self.run.customers.values():
            owner = None
            if policy is not None and policy.owner_attribute:
                owner = state.values.get(policy.owner_attribute)
            for entry in state.ledger:
                if (
                    isinstance(entry, Contact)
                    and entry.counted
                    and start <= entry.at < end
                    and rule.match.matches(entry.purpose, entry.channel, entry.team, owner)
                ):
                    found.append(entry)  # the ledger's own objects: displacement tracks them by identity
        return found


# ---- values and names -----------------------------------------------------------------


def typed_attribute(policy: Policy, attribute: AttrValue) -> Any:
    """The attribute's value typed per the policy's customer declaration."""
    from policylang.inputs import attribute_value

    key = attribute.name.value
    spec = policy.attributes.get(key)
    if spec is None:
        raise ScenarioError(
            f"the customer has no attribute `{key}` in this policy",
            attribute.name.span,
            hint=did_you_mean(key, policy.attributes)
            or "declared attributes: " + (", ".join(policy.attributes) or "none"),
        )
    value = attribute.value
    if value is None:
        if spec.kind != "flag":
            raise ScenarioError(f"`{key}` needs a value", attribute.name.span, expected=expected_value(spec))
        return True
    try:
        if isinstance(value, tuple) and spec.kind == "zones":
            return attribute_value(policy, spec, [raw(item) for item in value], attribute.span, noun="attribute")
        if isinstance(value, tuple):
            if spec.kind != "set":
                raise ScenarioError(
                    f"`{key}` holds one value, not a set",
                    getattr(value, "span", attribute.span),
                    expected=expected_value(spec),
                )
            items: set[Any] = set()
            for item in value:
                items |= attribute_value(policy, spec, [raw(item)], item.span, noun="attribute")
            return frozenset(items)
        if spec.kind == "set":
            return attribute_value(policy, spec, [raw(value)], value.span, noun="attribute")
        if spec.kind == "flag" and value.kind != "bool":
            raise ScenarioError(f"`{key}` is a flag: write true or false", value.span)
        if spec.kind == "number" and value.kind != "number":
            raise ScenarioError(f"`{key}` is a number", value.span, expected="a number like 42")
        if spec.kind == "date" and value.kind != "date":
            raise ScenarioError(f"`{key}` is a date", value.span, expected="a date like 2026-11-24")
        if spec.kind not in ("flag", "number", "date") and value.kind in ("number", "bool", "date"):
            raise ScenarioError(
                f"`{key}` is {spec.kind if spec.kind != 'enum' else 'one of ' + ', '.join(sorted(spec.choices))}",
                value.span,
                expected=expected_value(spec),
            )
        return attribute_value(policy, spec, raw(value), value.span, noun="attribute")
    except ScenarioError:
        raise
    except PolicylangError as exc:  # an InputError, already worded for a scenario (noun="attribute")
        raise ScenarioError(exc.message, exc.span, expected=exc.expected, hint=exc.hint) from None


def raw(value: Value) -> Any:
    """A literal as the value :func:`policylang.inputs.attribute_value` checks (it takes dates as they are)."""
    return value.value


def expected_value(spec: Any) -> str:
    kind = spec.kind
    return {
        "flag": "true or false",
        "number": "a number",
        "text": 'a quoted text like "gold"',
        "zone": 'a quoted time zone like "Europe/London"',
        "date": "a date like 2026-11-24",
        "team": "a team",
        "channel": "a channel",
        "purpose": "a purpose",
        "enum": "one of " + ", ".join(sorted(spec.choices)),
        "set": f"a set of {spec.element} like (a, b)",
    }.get(kind, "a value")


def declared(policy: Policy, name: Name | None, kind: str) -> str:
    """The name when it is a declared ``kind``; ScenarioError with did-you-mean otherwise."""
    assert name is not None
    pool = policy.vocabulary.get(kind + "s", ())
    if name.value in pool:
        return name.value
    other = kind_of(policy, name.value)
    if other:
        raise ScenarioError(f"`{name.value}` is a {other}, but a {kind} is expected here", name.span)
    raise ScenarioError(
        f"`{name.value}` is not a declared {kind}",
        name.span,
        hint=did_you_mean(name.value, pool) or f"declared {kind}s: {', '.join(pool) or 'none'}",
    )


def kind_of(policy: Policy, name: str) -> str | None:
    for vocab, names in policy.vocabulary.items():
        if name in names:
            return vocab[:-1]
    return None


def shape(policy: Policy, names: Sequence[Name], span: Span) -> tuple[str, str]:
    """(purpose, channel) of ``marketing phone`` / ``phone marketing``."""
    found: dict[str, Name] = {}
    for name in names:
        kind = kind_of(policy, name.value)
        if kind not in ("purpose", "channel"):
            if kind:
                raise ScenarioError(
                    f"`{name.value}` is a {kind}, but a purpose or a channel is expected here",
                    name.span,
                    hint="a team goes after `by`" if kind == "team" else None,
                )
            raise ScenarioError(
                f"`{name.value}` is not a declared purpose or channel",
                name.span,
                hint=did_you_mean(name.value, policy.purposes + policy.channels),
            )
        if kind in found:
            raise ScenarioError(f"two {kind}s: `{found[kind].value}` and `{name.value}`", name.span)
        found[kind] = name
    for kind in ("purpose", "channel"):
        if kind not in found:
            pool = policy.purposes if kind == "purpose" else policy.channels
            raise ScenarioError(
                f"no {kind} given",
                names[-1].span if names else span,
                expected=f"a {kind} ({', '.join(pool)})",
                hint="write the purpose and the channel: marketing phone by cards",
            )
    return found["purpose"].value, found["channel"].value


# ---- whole files -----------------------------------------------------------------------


@attrs.define(slots=True)
class FileReport:
    """What running one ``.polt`` file produced."""

    path: Path
    answers: list[Answer] = attrs.field(factory=list)
    problems: list[PolicylangError] = attrs.field(factory=list)
    source: Source | None = None

    @property
    def expectations(self) -> list[Answer]:
        return [a for a in self.answers if a.is_expect]

    @property
    def failures(self) -> list[Answer]:
        return [a for a in self.expectations if not a.passed]


def run_file(path: Path, loader: Loader = load_policy_file) -> FileReport:
    """Parse and run one scenario file; problems are collected, never raised."""
    report = FileReport(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report.problems.append(ScenarioError(f"{path}: cannot be read ({exc})"))
        return report
    try:
        scenario = parse_scenario(text, str(path))
    except PolicylangError as exc:
        report.problems.extend(exc.errors)
        return report
    report.source = scenario.source
    run = ScenarioRun(path.parent, loader=loader)
    for statement in scenario.statements:
        try:
            result = run.execute(statement)
        except PolicylangError as exc:
            for problem in exc.errors:
                if problem.source is None and problem.span.file == str(path):
                    problem.source = scenario.source
            report.problems.extend(exc.errors)
            if isinstance(statement, Use) or run.policy is None:
                break  # nothing below can run without the policy
            continue
        if isinstance(result, Answer):
            report.answers.append(result)
    return report


def raise_problems(report: FileReport) -> None:
    """Raise the report's problems as one error (for callers that want an exception)."""
    if len(report.problems) == 1:
        raise report.problems[0]
    if report.problems:
        raise ErrorGroup(report.problems)


# ---- coverage --------------------------------------------------------------------------


def decided_rules(answer: Answer) -> set[str]:
    """Rules that took part in an answer: a deny or pass verdict, or an exemption that lifted a rule."""
    found = {t.rule for t in answer.decision.trace if t.verdict in ("deny", "pass")}
    lifted = [t.rule for t in answer.decision.trace if t.verdict == "exempt"]
    if not lifted:
        return found
    policy, request = answer.policy, answer.request
    lifted_rules = [policy.rule(name) for name in lifted if name in {r.name for r in policy.rules}]
    for rule in policy.rules:
        if not isinstance(rule, ExemptRule):
            continue
        if any(rule.lifts(other) for other in lifted_rules) and rule.match.matches(
            request.purpose, request.channel, request.team, answer.owner
        ):
            found.add(rule.name)
    return found

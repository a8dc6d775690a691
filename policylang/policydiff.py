"""What changed between two versions of a policy, in the words a business owner uses.

Rules are matched by name, then (for renamed rules) by body. The traffic a change touches
is read from the evaluator's rule plans (which rules it checks for each shape of request),
and the replay impact (:func:`replay`) decides every recorded contact of a ledger under both
versions with the evaluator itself, so the diff never re-derives what a rule means.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from policylang import nodes
from policylang.lint import Shape, Traffic
from policylang.rules import AnyRule, ClockRange, Policy, QuietRule
from policylang.unparse import Unparser, quote


@attrs.frozen(slots=True)
class Change:
    """One difference: what kind, which rule (if any), a sentence, and the traffic it touches."""

    kind: str  # added, removed, renamed, changed, precedence, vocabulary, attribute, setting
    text: str
    rule: str | None = None
    traffic: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "rule": self.rule, "text": self.text, "traffic": self.traffic or None}


def body(policy: Policy, rule: AnyRule) -> str:
    """The rule as written after ``kind "name":`` (the formatter's unparser)."""
    tree = policy.syntax or nodes.PolicyFile(())
    return Unparser.for_policy(tree).rule_body(rule.syntax)


def head(rule: AnyRule) -> str:
    return f"{rule.kind} {quote(rule.name)}"


def nameless(rule: AnyRule) -> Any:
    """The rule's AST without its name (spans are ignored by equality)."""
    return attrs.evolve(rule.syntax, name="")


def traffic_text(shapes: Iterable[Shape], policy: Policy) -> str:
    """Shapes grouped per purpose and channel: ``marketing phone by any team; debt sms by cards``."""
    teams_of: dict[tuple[str, str], set[str]] = {}
    for purpose, channel, team, _owner in shapes:
        teams_of.setdefault((purpose, channel), set()).add(team)
    if not teams_of:
        return "no traffic"
    parts = []
    for (purpose, channel), teams in sorted(teams_of.items()):
        who = "any team" if teams >= set(policy.teams) else ", ".join(sorted(teams))
        parts.append(f"{purpose} {channel} by {who}")
    if len(parts) > 6:
        return "; ".join(parts[:6]) + f"; and {len(parts) - 6} more"
    return "; ".join(parts)


def quiet_edges(rule: QuietRule) -> tuple[int, int] | None:
    """(minute quiet starts, minute it ends) for a clock-range quiet rule."""
    period = rule.period
    if not isinstance(period, ClockRange):
        return None
    if period.quiet_inside:
        return period.start, period.end % 1440
    return period.end % 1440, period.start


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def describe_change(old_policy: Policy, new_policy: Policy, old: AnyRule, new: AnyRule) -> list[str]:
    """Sentences saying how a rule of the same name changed."""
    name = head(new)
    out: list[str] = []
    if old.kind != new.kind:
        return [f'{quote(new.name)} is now a {new.kind} rule: {body(new_policy, new)} '
                f"(was {old.kind}: {body(old_policy, old)})"]
    if old.match.text != new.match.text:
        was = Unparser.for_policy(old_policy.syntax or nodes.PolicyFile(())).text(old.syntax.selector)
        now = Unparser.for_policy(new_policy.syntax or nodes.PolicyFile(())).text(new.syntax.selector)
        out.append(f"{name} now governs {now or 'every contact'} instead of {was or 'every contact'}")
    o, n = old.syntax, new.syntax
    if isinstance(o, nodes.Cap) and isinstance(n, nodes.Cap):
        old_window = getattr(old, "window", None)
        new_window = getattr(new, "window", None)
        if o.limit != n.limit or o.window != n.window:
            out.append(f"{name} now allows {n.limit} per {getattr(new_window, 'text', '?')} "
                       f"instead of {o.limit} per {getattr(old_window, 'text', '?')}")
        if o.for_each != n.for_each:
            out.append(f"{name} now counts " + (f"for each {n.for_each}" if n.for_each else "all together")
                       + " instead of " + (f"for each {o.for_each}" if o.for_each else "all together"))
    elif isinstance(old, QuietRule) and isinstance(new, QuietRule) and old.period != new.period:
        before, after = quiet_edges(old), quiet_edges(new)
        if before and after:
            if before[0] != after[0]:
                out.append(f"{name} now starts at {clock(after[0])} instead of {clock(before[0])}")
            if before[1] != after[1]:
                out.append(f"{name} now ends at {clock(after[1])} instead of {clock(before[1])}")
        else:
            out.append(f"{name} now reads {body(new_policy, new)} (was {body(old_policy, old)})")
    elif not isinstance(o, (nodes.Cap, nodes.Quiet)) and attrs.evolve(nameless(old), selector=n.selector) != nameless(new):
        out.append(f"{name} now reads {body(new_policy, new)} (was {body(old_policy, old)})")
    return out


def diff_policies(old: Policy, new: Policy) -> list[Change]:
    """Every difference between ``old`` and ``new``, settings first, then rules in new order."""
    changes: list[Change] = []
    changes.extend(setting_changes(old, new))
    changes.extend(vocabulary_changes(old, new))
    changes.extend(precedence_changes(old.precedence, new.precedence))
    old_traffic, new_traffic = Traffic(old), Traffic(new)
    old_by_name = {r.name: r for r in old.rules}
    new_by_name = {r.name: r for r in new.rules}
    gone = [r for r in old.rules if r.name not in new_by_name]
    fresh = [r for r in new.rules if r.name not in old_by_name]
    renamed: dict[str, AnyRule] = {}  # new name -> old rule
    for rule in fresh:
        twin = next((g for g in gone if nameless(g) == nameless(rule) and g.name not in
                     {r.name for r in renamed.values()}), None)
        if twin is not None:
            renamed[rule.name] = twin

    def touched(policy: Policy, traffic: Traffic, rule: AnyRule) -> set[Shape]:
        return traffic.checked(rule) if rule.kind != "exempt" else traffic.selected(rule)

    for rule in new.rules:
        if rule.name in renamed:
            was = renamed[rule.name]
            changes.append(Change("renamed", f"{head(was)} is now called {quote(rule.name)}", rule.name))
            continue
        if rule.name not in old_by_name:
            shapes = touched(new, new_traffic, rule)
            changes.append(Change("added", f"new rule {head(rule)}: {body(new, rule)}", rule.name,
                                  traffic_text(shapes, new)))
            continue
        before = old_by_name[rule.name]
        sentences = describe_change(old, new, before, rule)
        old_shapes, new_shapes = touched(old, old_traffic, before), touched(new, new_traffic, rule)
        if not sentences and old_shapes != new_shapes:
            gained, lost = new_shapes - old_shapes, old_shapes - new_shapes
            words = []
            if gained:
                words.append(f"now also applies to {traffic_text(gained, new)}")
            if lost:
                words.append(f"no longer applies to {traffic_text(lost, old)}")
            sentences = [f"{head(rule)} " + " and ".join(words) + " (through a change elsewhere)"]
        for sentence in sentences:
            changes.append(Change("changed", sentence, rule.name, traffic_text(old_shapes | new_shapes, new)))
    for rule in gone:
        if rule not in renamed.values():
            changes.append(Change("removed", f"rule {head(rule)} removed (it said: {body(old, rule)})", rule.name,
                                  traffic_text(touched(old, old_traffic, rule), old)))
    return changes


def setting_changes(old: Policy, new: Policy) -> Iterable[Change]:
    if old.title != new.title:
        yield Change("setting", f"the policy is now called {quote(new.title)} (was {quote(old.title)})")
    if old.timezone != new.timezone:
        yield Change("setting", f"the policy's time zone is now {new.timezone or 'UTC'} (was {old.timezone or 'UTC'})")
    if old.owner_attribute != new.owner_attribute:
        yield Change("setting", f"the owner is now customer.{new.owner_attribute} (was customer.{old.owner_attribute})"
                     if new.owner_attribute and old.owner_attribute else
                     f"the owner is now {'customer.' + new.owner_attribute if new.owner_attribute else 'not declared'}")
    for name in sorted(set(old.attributes) | set(new.attributes)):
        a, b = old.attributes.get(name), new.attributes.get(name)
        if a is None:
            yield Change("attribute", f"new customer attribute `{name}`")
        elif b is None:
            yield Change("attribute", f"customer attribute `{name}` removed")
        elif a != b:
            yield Change("attribute", f"customer attribute `{name}` changed type")


def vocabulary_changes(old: Policy, new: Policy) -> Iterable[Change]:
    for kind in ("channels", "teams", "purposes", "outcomes", "events"):
        before, after = set(old.vocabulary.get(kind, ())), set(new.vocabulary.get(kind, ()))
        for name in sorted(after - before):
            yield Change("vocabulary", f"new {kind.removesuffix('s')} `{name}`")
        for name in sorted(before - after):
            yield Change("vocabulary", f"{kind.removesuffix('s')} `{name}` removed")


def precedence_changes(old: Sequence[str], new: Sequence[str]) -> Iterable[Change]:
    if tuple(old) == tuple(new):
        return
    for team in new:
        if team not in old:
            yield Change("precedence", f"precedence: {team} now ranks at position {list(new).index(team) + 1}")
    for team in old:
        if team not in new:
            yield Change("precedence", f"precedence: {team} no longer ranked")
    for i, a in enumerate(new):
        for b in new[i + 1:]:
            if a in old and b in old and old.index(a) > old.index(b):
                yield Change("precedence", f"precedence: {a} now ranks above {b}")


# ---- replay -----------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Impact:
    """How many recorded contacts change verdict, in which direction, per rule and per team."""

    contacts: int
    customers: int
    newly_denied: int
    newly_allowed: int
    by_rule: dict[str, int]
    by_team: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def replay(old: Policy, new: Policy, ledger: Sequence[tuple[int, object]], customers: Sequence[tuple[int, object]],
           ledger_file: str, customers_file: str) -> Impact:
    """Decide every recorded contact under both versions, with the customer's earlier ledger
    as it was recorded, and count the verdicts that change (the evaluator decides both).

    Lines are validated against each version (a name only one of them declares is an
    :class:`~policylang.errors.InputError` naming its line)."""
    from policylang.inputs import customer_from_json, entry_from_json, where
    from policylang.records import Contact, Request

    records: dict[str, tuple[Any, Any]] = {}
    for number, obj in customers:
        at = where(customers_file, number)
        a, b = customer_from_json(old, obj, at), customer_from_json(new, obj, at)
        records[a.id] = (a, b)
    per_customer: dict[str, list[tuple[Any, Any]]] = {}
    for number, obj in ledger:
        at = where(ledger_file, number)
        a_entry, b_entry = entry_from_json(old, obj, at), entry_from_json(new, obj, at)
        per_customer.setdefault(a_entry.customer or "", []).append((a_entry, b_entry))
    by_rule: Counter[str] = Counter()
    by_team: Counter[str] = Counter()
    denied = allowed = contacts = 0
    for ident, entries in per_customer.items():
        entries.sort(key=lambda pair: pair[0].at)
        a_customer, b_customer = records.get(ident, ({}, {}))
        for i, (a_entry, _) in enumerate(entries):
            if not isinstance(a_entry, Contact) or not a_entry.counted:
                continue
            contacts += 1
            request = Request(a_entry.team, a_entry.channel, a_entry.purpose, a_entry.at, a_entry.campaign)
            earlier_a = [e for e, _ in entries[:i] if e.at < a_entry.at]
            earlier_b = [e for _, e in entries[:i] if e.at < a_entry.at]
            before = old.decide(a_customer, request, earlier_a, explain=False)
            after = new.decide(b_customer, request, earlier_b, explain=False)
            if before.allowed == after.allowed:
                continue
            by_team[request.team] += 1
            if before.allowed:
                denied += 1
                by_rule.update(after.denied_by)
            else:
                allowed += 1
                by_rule.update(before.denied_by)
    return Impact(contacts, len(per_customer), denied, allowed, dict(by_rule.most_common()), dict(by_team.most_common()))


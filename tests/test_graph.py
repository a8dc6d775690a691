"""``policylang graph``: the drawing's structure, and that both drawings carry it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from policylang.cli import main
from policylang.compiler import compile_policy
from policylang.graph import RuleGraph, build_graph, to_dot, to_mermaid
from policylang.nodes import Exempt
from policylang.parser import parse
from policylang.rules import Policy
from tests.policy_strategies import valid_policies

NORTHWIND = Path(__file__).parent.parent / "examples" / "northwind.pol"


@pytest.fixture(scope="module")
def northwind() -> Policy:
    return compile_policy(NORTHWIND.read_text(), str(NORTHWIND))


def edges_by_label(graph: RuleGraph, kind: str) -> set[tuple[str, str]]:
    return {(graph.node(e.source).label, graph.node(e.target).label) for e in graph.edges if e.kind == kind}


def test_every_rule_is_one_node(northwind: Policy) -> None:
    graph = build_graph(northwind)
    rule_labels = [n.label for n in graph.nodes if n.kind == "rule"]
    assert sorted(rule_labels) == sorted(r.name for r in northwind.rules)
    assert len({n.id for n in graph.nodes}) == len(graph.nodes)


def test_exemption_edges(northwind: Policy) -> None:
    exempts = edges_by_label(build_graph(northwind), "exempts")
    assert ("transactional", "one sales call a week") in exempts
    assert ("transactional", "calling hours") in exempts
    assert ("owner speaks first", "one voice") in exempts
    assert ("transactional", "call centre") not in exempts  # capacity is not `cap`
    assert len(exempts) == 11


def test_traffic_nodes_govern_their_rules(northwind: Policy) -> None:
    graph = build_graph(northwind)
    governs = edges_by_label(graph, "governs")
    assert ("marketing phone", "one sales call a week") in governs
    assert ("phone, sms", "calling hours") in governs
    assert ("any except transactional", "deceased") in governs
    assert ("by owner", "owner speaks first") in governs
    marketing = {rule for traffic, rule in governs if traffic == "marketing"}
    assert marketing == {"offers per month", "sundays", "holidays", "after a complaint", "collections hold",
                         "minors", "one voice"}
    # each rule is governed by exactly one traffic node
    assert sorted(rule for _, rule in governs) == sorted(r.name for r in northwind.rules)


def test_after_edges_for_prerequisites_and_triggers(northwind: Policy) -> None:
    after = edges_by_label(build_graph(northwind), "after")
    assert after == {
        ("debt email", "warn before sms"),
        ("complaint", "after a complaint"),
        ("debt phone", "after a conversation"),
    }


def test_precedence_chain(northwind: Policy) -> None:
    outranks = edges_by_label(build_graph(northwind), "outranks")
    chain = ["collections", "owner (the customer's owner team)", "service", "wealth_management",
             "private_banking", "cards", "growth"]
    assert outranks == set(zip(chain, chain[1:], strict=False))


def parse_mermaid(text: str) -> tuple[dict[str, str], set[tuple[str, str, str]]]:
    """Node id -> first label line, and (source, arrow, target) edges, read back from Mermaid."""
    nodes = {m[1]: m[2].split("<br/>")[0] for m in re.finditer(r'^\s+(\w+)[(\[{]+"([^"]*)"', text, re.M)}
    edges = {(m[1], m[2], m[3]) for m in re.finditer(r"^\s+(\w+) (-->|-- \w+ -->|-\. \w+ \.->) (\w+)$", text, re.M)}
    return nodes, edges


def parse_dot(text: str) -> tuple[dict[str, str], set[tuple[str, str, str]]]:
    nodes = {m[1]: m[2].split("\\n")[0] for m in re.finditer(r'^\s+(\w+) \[shape=\w+, label="((?:[^"\\]|\\.)*)"\];', text, re.M)}
    edges = {(m[1], m[3] or "", m[2]) for m in re.finditer(r'^\s+(\w+) -> (\w+)(?: \[label="(\w+)".*\])?;$', text, re.M)}
    return nodes, edges


def test_mermaid_drawing_carries_the_structure(northwind: Policy) -> None:
    graph = build_graph(northwind)
    nodes, edges = parse_mermaid(to_mermaid(graph))
    assert text_lines_start(to_mermaid(graph), "flowchart LR")
    assert nodes == {n.id: n.label for n in graph.nodes}
    assert len(edges) == len(graph.edges)
    by_label = {label: node_id for node_id, label in nodes.items()}
    assert (by_label["transactional"], "-. exempts .->", by_label["one sales call a week"]) in edges


def test_dot_drawing_carries_the_structure(northwind: Policy) -> None:
    graph = build_graph(northwind)
    text = to_dot(graph, northwind.title)
    nodes, edges = parse_dot(text)
    assert text.startswith('digraph "Northwind Bank customer contact policy" {')
    assert nodes == {n.id: n.label for n in graph.nodes}
    assert edges == {(e.source, "" if e.kind == "governs" else e.kind, e.target) for e in graph.edges}


def text_lines_start(text: str, first: str) -> bool:
    return text.splitlines()[0] == first


def test_labels_with_quotes_are_escaped() -> None:
    policy = compile_policy('channels sms\ncap "say \\"hi\\" <b>": at most 1 sms per 1 day\n')
    mermaid = to_mermaid(build_graph(policy))
    assert '"say #quot;hi#quot; #lt;b#gt;' in mermaid
    dot = to_dot(build_graph(policy))
    assert 'label="say \\"hi\\" <b>\\n' in dot


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(valid_policies(max_rules=6))
def test_random_policies_draw_every_rule_and_exemption(text: str) -> None:
    policy = compile_policy(text)
    graph = build_graph(policy)
    # The expected structure is read from the syntax tree, not from the compiled graph the
    # drawing is built from: rule n is node rN, and exempt X lifts rule R when one of its
    # targets names R's kind or R's name (section 5).
    tree = parse(text).rules
    rules = {n.id: n.label for n in graph.nodes if n.kind == "rule"}
    assert rules == {f"r{i}": rule.name for i, rule in enumerate(tree)}
    exempts = {(e.source, e.target) for e in graph.edges if e.kind == "exempts"}
    assert exempts == {
        (f"r{x}", f"r{r}")
        for x, exempt in enumerate(tree) if isinstance(exempt, Exempt)
        for r, rule in enumerate(tree) if not isinstance(rule, Exempt)
        if any(t.text == (rule.kind if t.is_kind else rule.name) for t in exempt.targets)
    }
    nodes, edges = parse_dot(to_dot(graph))
    assert set(nodes) == {n.id for n in graph.nodes} and len(edges) == len(set(graph.edges))


def test_graph_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", str(NORTHWIND)]) == 0
    assert capsys.readouterr().out.startswith("flowchart LR\n")
    out = tmp_path / "g.dot"
    assert main(["graph", str(NORTHWIND), "--format", "dot", "-o", str(out)]) == 0
    assert out.read_text().startswith("digraph ")
    broken = tmp_path / "broken.pol"
    broken.write_text("channels sms\ncap \"x\": at most 1 phnoe per 1 day\n")
    assert main(["graph", str(broken)]) == 2
    assert f"{broken}:2:20: error: `phnoe` is not a declared name" in capsys.readouterr().err

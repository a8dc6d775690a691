"""The rule graph of a compiled policy as a drawing (Mermaid or Graphviz DOT).

Nodes: one *traffic* node per distinct selector (the contacts some rule is about), one
node per rule, one node per event a quiet period waits for, and one node per team in the
precedence. Edges:

* ``governs``: traffic -> rule, for the contacts a rule is about;
* ``after``: traffic or event -> rule, for what a ``require`` needs first or what starts a
  ``quiet ... within ... after`` period;
* ``exempts``: exempt rule -> each rule it lifts (from ``Policy.exempted_by``);
* ``outranks``: each team in the precedence -> the next one.

:func:`build_graph` gives the structure (tests and tools read it); :func:`to_mermaid` and
:func:`to_dot` draw it.
"""

from __future__ import annotations

import attrs

from policylang import nodes
from policylang.rules import AfterTrigger, Match, Policy, QuietRule, RequireRule
from policylang.unparse import Unparser

FORMATS = ("mermaid", "dot")


@attrs.frozen
class Node:
    """A node: ``kind`` is traffic, rule, event or team; ``detail`` a second label line."""

    id: str
    kind: str
    label: str
    detail: str = ""


@attrs.frozen
class Edge:
    """A directed edge: ``kind`` is governs, after, exempts or outranks."""

    source: str
    target: str
    kind: str


@attrs.define
class RuleGraph:
    """Nodes and edges in a stable order (policy order, then first use)."""

    nodes: list[Node] = attrs.field(factory=list)
    edges: list[Edge] = attrs.field(factory=list)

    def node(self, node_id: str) -> Node:
        """The node with id ``node_id``; KeyError when there is none."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def find(self, kind: str, label: str) -> Node:
        """The node of ``kind`` labelled ``label``; KeyError when there is none."""
        for node in self.nodes:
            if node.kind == kind and node.label == label:
                return node
        raise KeyError((kind, label))


class _Builder:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.graph = RuleGraph()
        self.traffic: dict[str, str] = {}  # selector text -> node id
        self.events: dict[str, str] = {}
        self.writer = Unparser.for_policy(policy.syntax) if policy.syntax is not None else None

    def traffic_node(self, match: Match, written: nodes.Selector | None) -> str:
        """The node of a selector, labelled as the author would write it."""
        text = match.text
        if self.writer is not None and written is not None:
            text = self.writer.text(written)
        text = text or "any"
        if text not in self.traffic:
            self.traffic[text] = f"s{len(self.traffic)}"
            self.graph.nodes.append(Node(self.traffic[text], "traffic", text))
        return self.traffic[text]

    def event_node(self, name: str) -> str:
        if name not in self.events:
            self.events[name] = f"e{len(self.events)}"
            self.graph.nodes.append(Node(self.events[name], "event", name))
        return self.events[name]

    def build(self) -> RuleGraph:
        edges = self.graph.edges
        for rule in self.policy.rules:
            rule_id = f"r{rule.index}"
            edges.append(Edge(self.traffic_node(rule.match, rule.syntax.selector), rule_id, "governs"))
            detail = self.writer.rule_body(rule.syntax) if self.writer is not None else ""
            self.graph.nodes.append(Node(rule_id, "rule", rule.name, f"{rule.kind}: {detail}"))
            if isinstance(rule, RequireRule):
                prerequisite = rule.source.prerequisite if isinstance(rule.source, nodes.Require) else None
                edges.append(Edge(self.traffic_node(rule.prerequisite, prerequisite), rule_id, "after"))
            elif isinstance(rule, QuietRule) and isinstance(rule.period, AfterTrigger):
                trigger = rule.period
                source = self.event_node(trigger.event) if trigger.event else None
                if trigger.trigger is not None:
                    period = rule.source.period if isinstance(rule.source, nodes.Quiet) else None
                    written = period.trigger if isinstance(period, nodes.WithinAfter) else None
                    source = self.traffic_node(trigger.trigger, written)
                if source is not None:
                    edges.append(Edge(source, rule_id, "after"))
        for lifted, exempts in sorted(self.policy.exempted_by.items()):
            for exempt in exempts:
                edges.append(Edge(f"r{exempt}", f"r{lifted}", "exempts"))
        self.precedence()
        return self.graph

    def precedence(self) -> None:
        previous: str | None = None
        for position, team in enumerate(self.policy.precedence):
            node_id = f"t{position}"
            label = "owner (the customer's owner team)" if team == "owner" else team
            self.graph.nodes.append(Node(node_id, "team", label))
            if previous is not None:
                self.graph.edges.append(Edge(previous, node_id, "outranks"))
            previous = node_id


def build_graph(policy: Policy) -> RuleGraph:
    """The drawing's structure for a compiled policy."""
    return _Builder(policy).build()


# ---- Mermaid ----------------------------------------------------------------------------

MERMAID_SHAPES = {"traffic": ('(["', '"])'), "rule": ('["', '"]'), "event": ('{{"', '"}}'), "team": ('(["', '"])')}
MERMAID_ARROWS = {"governs": "-->", "after": "-- after -->", "exempts": "-. exempts .->", "outranks": "-- outranks -->"}


def mermaid_text(text: str) -> str:
    """Label text safe inside a quoted Mermaid label."""
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def to_mermaid(graph: RuleGraph) -> str:
    """A Mermaid flowchart, left to right; teams in a ``precedence`` subgraph."""
    lines = ["flowchart LR"]
    for node in graph.nodes:
        if node.kind == "team":
            continue
        lines.append("  " + mermaid_node(node))
    teams = [n for n in graph.nodes if n.kind == "team"]
    if teams:
        lines.append("  subgraph precedence")
        lines.extend("    " + mermaid_node(n) for n in teams)
        lines.append("  end")
    for edge in graph.edges:
        lines.append(f"  {edge.source} {MERMAID_ARROWS[edge.kind]} {edge.target}")
    return "\n".join(lines) + "\n"


def mermaid_node(node: Node) -> str:
    opening, closing = MERMAID_SHAPES[node.kind]
    label = mermaid_text(node.label)
    if node.detail:
        label += "<br/>" + mermaid_text(node.detail)
    return f"{node.id}{opening}{label}{closing}"


# ---- Graphviz DOT -----------------------------------------------------------------------

DOT_SHAPES = {"traffic": "ellipse", "rule": "box", "event": "hexagon", "team": "oval"}
DOT_EDGES = {
    "governs": "",
    "after": ' [label="after"]',
    "exempts": ' [label="exempts", style=dashed]',
    "outranks": ' [label="outranks"]',
}


def dot_text(text: str) -> str:
    """A double-quoted DOT string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: RuleGraph, title: str = "policy") -> str:
    """A Graphviz digraph, left to right; teams in a ``cluster_precedence`` subgraph."""
    lines = [f"digraph {dot_text(title)} {{", "  rankdir=LR;"]
    for node in graph.nodes:
        if node.kind != "team":
            lines.append("  " + dot_node(node))
    teams = [n for n in graph.nodes if n.kind == "team"]
    if teams:
        lines.append('  subgraph cluster_precedence { label="precedence";')
        lines.extend("    " + dot_node(n) for n in teams)
        lines.append("  }")
    for edge in graph.edges:
        lines.append(f"  {edge.source} -> {edge.target}{DOT_EDGES[edge.kind]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_node(node: Node) -> str:
    label = node.label + (f"\n{node.detail}" if node.detail else "")
    return f"{node.id} [shape={DOT_SHAPES[node.kind]}, label={dot_text(label)}];"


def draw(policy: Policy, fmt: str = "mermaid") -> str:
    """The policy's rule graph in ``fmt`` (mermaid or dot)."""
    graph = build_graph(policy)
    if fmt == "dot":
        return to_dot(graph, policy.title or policy.file)
    return to_mermaid(graph)

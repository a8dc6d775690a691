"""Where each declared name of a policy is declared and used: the index behind go to
definition, find references, rename, hover and the outline of ``policylang lsp``.

Built from the parser's AST (of the statements that parsed, so it works while a file has
syntax errors) by a generic walk over its attrs nodes: forms added to the language later
are indexed as long as they hold :class:`~policylang.nodes.Name`, ``AttrRef`` and
``ExemptTarget`` nodes.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from policylang import nodes
from policylang.source import Span

VOCABULARY_KIND = {"channels": "channel", "teams": "team", "purposes": "purpose",
                   "outcomes": "outcome", "events": "event"}


@attrs.frozen(slots=True)
class Occurrence:
    """One place a name appears. ``kind``: channel, team, purpose, outcome, event,
    attribute or rule; ``span`` covers the name itself (a rule name with its quotes)."""

    name: str
    kind: str
    span: Span
    declaration: bool


def _nodes(node: object) -> Iterator[object]:
    yield node
    if isinstance(node, tuple):
        for item in node:
            yield from _nodes(item)
    elif attrs.has(type(node)):
        for field in attrs.fields(type(node)):  # type: ignore[arg-type]  # attrs.has checked it
            if field.name not in ("span", "name_span"):
                yield from _nodes(getattr(node, field.name))


def attribute_span(ref: nodes.AttrRef) -> Span:
    """The span of ``ATTR`` in ``customer.ATTR``."""
    s = ref.span
    return Span(s.file, s.end_line, max(s.end_column - len(ref.attribute), 1), s.end_line, s.end_column)


class SymbolIndex:
    """Every occurrence of every declared name in one policy file."""

    def __init__(self, tree: nodes.PolicyFile) -> None:
        self.tree = tree
        self.occurrences: list[Occurrence] = []
        self.kind_of: dict[str, str] = {}
        self.declarations: dict[tuple[str, str], Occurrence] = {}
        self.attribute_types: dict[str, nodes.AttrType] = {}
        self.rules: dict[str, nodes.Rule] = {}
        for statement in tree.statements:
            if isinstance(statement, nodes.Vocabulary):
                kind = VOCABULARY_KIND.get(statement.kind, statement.kind)
                for name in statement.names:
                    self.kind_of.setdefault(name.value, kind)
                    self._declare(Occurrence(name.value, kind, name.span, True))
            elif isinstance(statement, nodes.CustomerBlock):
                for attribute in statement.attributes:
                    self.attribute_types.setdefault(attribute.name.value, attribute.type)
                    self._declare(Occurrence(attribute.name.value, "attribute", attribute.name.span, True))
            elif isinstance(statement, nodes.RULE_TYPES):
                self.rules.setdefault(statement.name, statement)
                self._declare(Occurrence(statement.name, "rule", statement.name_span, True))
        for statement in tree.statements:
            if isinstance(statement, nodes.Vocabulary):
                continue
            for node in _nodes(statement):
                if isinstance(node, nodes.Name) and node.value in self.kind_of:
                    if isinstance(statement, nodes.CustomerBlock):
                        continue  # enum choices are values, not references to vocabulary
                    self.occurrences.append(Occurrence(node.value, self.kind_of[node.value], node.span, False))
                elif isinstance(node, nodes.AttrRef):
                    self.occurrences.append(Occurrence(node.attribute, "attribute", attribute_span(node), False))
                elif isinstance(node, nodes.ExemptTarget) and not node.is_kind:
                    self.occurrences.append(Occurrence(node.text, "rule", node.span, False))
        self.occurrences.sort(key=lambda o: (o.span.line, o.span.column))

    def _declare(self, occurrence: Occurrence) -> None:
        self.occurrences.append(occurrence)
        self.declarations.setdefault((occurrence.name, occurrence.kind), occurrence)

    def at(self, line: int, column: int, file: str | None = None) -> Occurrence | None:
        """The occurrence covering 1-based ``line`` and ``column`` (or just after its end);
        with ``file``, only occurrences in that file (an index of a policy with its includes
        holds every file's)."""
        for occurrence in self.occurrences:
            s = occurrence.span
            if s.line == line and s.column <= column <= s.end_column and (file is None or s.file == file):
                return occurrence
        return None

    def declaration(self, occurrence: Occurrence) -> Occurrence | None:
        return self.declarations.get((occurrence.name, occurrence.kind))

    def references(self, occurrence: Occurrence) -> list[Occurrence]:
        """Every occurrence of the same name and kind, its declaration included."""
        return [o for o in self.occurrences if o.name == occurrence.name and o.kind == occurrence.kind]

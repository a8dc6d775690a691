"""Includes and packs (section 11.17): one policy read from several files.

``include "shared/hours.pol"`` reads a file relative to the including one;
``include "us/reg_f" [version "2026.1"] [with debt as collections, customer.a as customer.b]``
reads a *pack*, a versioned rule file shipped inside policylang (``policylang/packs/us/reg_f/2026.1.pol``).
This module turns a parsed policy and everything it includes into one flat list of
statements, included statements in the place of their ``include`` line, renamed as the line
says. What needs the whole policy's declarations (a pack's vocabulary must be the policy's,
customer attributes merge by name and type, rule names are unique) is the compiler's job:
it gets each file's :class:`Origin` with the flat list.

Rules of reading, so that a policy means one thing however its files are arranged:

- a file or pack is read once, wherever it is included again (a second ``include`` of a pack
  with another version, or of anything with other renaming, is an error);
- a cycle of includes is an error that shows the chain;
- an included file holds vocabulary, customer attributes, rules and includes only;
- a pack's vocabulary lines declare nothing: they say which names the including policy must
  declare (after renaming), so a pack rule can never silently apply to nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from policylang import nodes
from policylang.errors import PolicyCompileError, PolicylangError, did_you_mean
from policylang.source import Source, Span

PACKS_DIR = Path(__file__).resolve().parent / "packs"
PACK_NAME = re.compile(r"^[a-z][a-z0-9_]*(?:/[a-z][a-z0-9_]*)+$")
VERSION = re.compile(r"^\d+(?:\.\d+)*$")
# What an included file may hold; the other statements are the including policy's settings.
INCLUDABLE = (nodes.Vocabulary, nodes.CustomerBlock, nodes.Include, nodes.PackHeader, *nodes.RULE_TYPES)


@attrs.frozen(slots=True)
class PackRef:
    """A pack and the version of it that was read."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


@attrs.frozen(slots=True)
class Origin:
    """Where one file's statements came from.

    ``chain`` holds the ``include`` lines that brought the file in, the policy's own line
    first; ``pack`` is the pack the file is (None for the policy and its ``.pol`` files).
    """

    source: Source
    pack: PackRef | None = None
    chain: tuple[Span, ...] = ()


@attrs.define
class Expansion:
    """A policy with its includes read: the flat statements and where each file came from."""

    statements: list[nodes.Statement]
    origins: dict[str, Origin]
    # The vocabulary lines of packs, renamed: names the policy must declare in the same list.
    required: list[nodes.Vocabulary]
    packs: dict[str, str]  # pack name -> version read, in the order first included
    problems: list[PolicylangError]
    unparsed_words: set[str]
    unparsed_rules: set[str]

    @property
    def pack_of_file(self) -> dict[str, PackRef]:
        return {name: o.pack for name, o in self.origins.items() if o.pack is not None}


# ---- the shipped packs -------------------------------------------------------------------


def version_key(version: str) -> tuple[int, ...]:
    """``"2026.10"`` after ``"2026.9"``: versions compare as numbers, part by part."""
    return tuple(int(part) for part in version.split("."))


def shipped_packs(root: Path | None = None) -> dict[str, list[str]]:
    """Every pack shipped with policylang, its versions oldest first."""
    root = root or PACKS_DIR
    found: dict[str, list[str]] = {}
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*.pol")):
        name = path.parent.relative_to(root).as_posix()
        if PACK_NAME.match(name) and VERSION.match(path.stem) and "tests" not in path.parent.parts:
            found.setdefault(name, []).append(path.stem)
    return {name: sorted(versions, key=version_key) for name, versions in sorted(found.items())}


def pack_path(name: str, version: str, root: Path | None = None) -> Path:
    """The file of one pack version (it may not exist)."""
    return (root or PACKS_DIR).joinpath(*name.split("/"), f"{version}.pol")


# ---- renaming ----------------------------------------------------------------------------

SELECTABLE = ("team", "channel", "purpose")


@attrs.frozen(slots=True)
class Renaming:
    """The ``with a as b, customer.x as customer.y`` of one include line."""

    names: dict[str, str] = attrs.field(factory=dict)
    attributes: dict[str, str] = attrs.field(factory=dict)

    def __bool__(self) -> bool:
        return bool(self.names or self.attributes)

    def apply(self, statements: Sequence[Any]) -> list[Any]:
        """The statements with every vocabulary name and attribute renamed."""
        if not self:
            return list(statements)
        types: dict[str, str] = {}
        for statement in statements:
            if isinstance(statement, nodes.CustomerBlock):
                for attribute in statement.attributes:
                    types.setdefault(attribute.name.value, attribute.type.kind)
        return [self._node(s, types) for s in statements]

    def _node(self, node: Any, types: dict[str, str]) -> Any:
        # Names of days, enum choices, rule names (exempt targets, citations) and literals
        # are not vocabulary; a literal is a vocabulary name only when compared with a
        # team, channel or purpose attribute.
        if isinstance(node, nodes.Name):
            new = self.names.get(node.value)
            return attrs.evolve(node, value=new) if new is not None else node
        if isinstance(node, nodes.AttrRef):
            new = self.attributes.get(node.attribute)
            return attrs.evolve(node, attribute=new) if new is not None else node
        if isinstance(node, nodes.Attribute):
            new = self.attributes.get(node.name.value)
            name = attrs.evolve(node.name, value=new) if new is not None else node.name
            return attrs.evolve(node, name=name)
        if isinstance(node, (nodes.OnDays, nodes.AttrType, nodes.ExemptTarget, nodes.Citation, nodes.Value, str)):
            return node
        if isinstance(node, (nodes.Compare, nodes.InList)):
            renamed = self._fields(node, types)
            if types.get(node.attr.attribute) not in SELECTABLE:
                return renamed
            if isinstance(node, nodes.Compare):
                return attrs.evolve(renamed, value=self._value(node.value))
            return attrs.evolve(renamed, values=tuple(self._value(v) for v in node.values))
        if isinstance(node, tuple):
            return tuple(self._node(item, types) for item in node)
        if attrs.has(type(node)):
            return self._fields(node, types)
        return node

    def _fields(self, node: Any, types: dict[str, str]) -> Any:
        changes = {}
        for field in attrs.fields(type(node)):
            if field.name in ("span", "name_span", "target_span", "version_span") or not field.init:
                continue
            value = getattr(node, field.name)
            new = self._node(value, types)
            if new is not value:
                changes[field.alias or field.name] = new
        return attrs.evolve(node, **changes) if changes else node

    def _value(self, value: nodes.Value) -> nodes.Value:
        if value.kind == "name" and str(value.value) in self.names:
            return attrs.evolve(value, value=self.names[str(value.value)])
        return value


# ---- reading includes --------------------------------------------------------------------


class Expander:
    """Reads one policy's includes (see the module docstring)."""

    def __init__(self, root: Source, base: Path, parse: Any) -> None:
        self.root = root
        self.base = base
        self.parse = parse  # parser.parse_partial, passed in so this module does not import it
        self.origins: dict[str, Origin] = {}
        self.required: list[nodes.Vocabulary] = []
        self.packs: dict[str, str] = {}
        self.problems: list[PolicylangError] = []
        self.unparsed_words: set[str] = set()
        self.unparsed_rules: set[str] = set()
        # what was read: key -> (the include line, its version, its renaming)
        self.read: dict[tuple[str, str], tuple[nodes.Include, str | None, Renaming]] = {}

    def error(self, message: str, span: Span, chain: Sequence[Span], *, hint: str | None = None,
              expected: str | None = None) -> None:
        origin = self.origins.get(span.file)
        problem = PolicyCompileError(message, span, hint=hint, expected=expected,
                                     source=origin.source if origin else self.root)
        problem.included_from = tuple(chain)
        self.problems.append(problem)

    def expand(self, tree: nodes.PolicyFile) -> Expansion:
        header = next((s for s in tree.statements if isinstance(s, nodes.PackHeader)), None)
        pack = PackRef(header.name, header.version) if header is not None else None
        self.origins[self.root.name] = Origin(self.root, pack, ())
        key = self.file_key(Path(self.root.name)) if self.is_path(self.root.name) else ("policy", self.root.name)
        if pack is not None:
            self.packs[pack.name] = pack.version
            self.read[("pack", pack.name)] = (nodes.Include(pack.name, pack.version), pack.version, Renaming())
        statements, self.required = self.walk(tree.statements, self.root.name, self.base, (), (key,), pack, top=True)
        return Expansion(statements, self.origins, self.required, self.packs, self.problems,
                         self.unparsed_words, self.unparsed_rules)

    @staticmethod
    def is_path(name: str) -> bool:
        return not (name.startswith("<") or name == "-")

    @staticmethod
    def file_key(path: Path) -> tuple[str, str]:
        try:
            return ("file", str(path.resolve()))
        except OSError:  # pragma: no cover - resolve() fails only on exotic file systems
            return ("file", str(path.absolute()))

    def walk(
        self,
        statements: Sequence[nodes.Statement],
        file: str,
        folder: Path,
        chain: tuple[Span, ...],
        stack: tuple[tuple[str, str], ...],
        pack: PackRef | None,
        *,
        top: bool = False,
    ) -> tuple[list[nodes.Statement], list[nodes.Vocabulary]]:
        """The flat statements of one file, and the pack vocabulary lines among them."""
        out: list[nodes.Statement] = []
        required: list[nodes.Vocabulary] = []
        for position, statement in enumerate(statements):
            if isinstance(statement, nodes.Include):
                found, needs = self.include(statement, folder, chain, stack)
                out.extend(found)
                required.extend(needs)
            elif isinstance(statement, nodes.PackHeader):
                if position != 0:
                    self.error("the `pack` line must be the first statement of a pack file", statement.span, chain,
                               hint="move it to the top, above the vocabulary")
                elif pack is None and not top:
                    self.error("a `pack` line starts a shipped pack, but this file is included as a file",
                               statement.span, chain,
                               hint="remove the `pack` line, or ship the file as a pack and include it by name")
            elif not top and not isinstance(statement, INCLUDABLE):
                self.error(
                    f"`{self.first_word(statement)}` belongs to the including policy",
                    statement.span,
                    chain,
                    hint="an included file holds vocabulary, customer attributes, rules and includes only",
                )
            elif isinstance(statement, nodes.Vocabulary) and pack is not None and not top:
                required.append(statement)  # a pack declares nothing (11.17)
            else:
                out.append(statement)
        if pack is not None:
            self.check_pack_exempts(out, file, pack, chain)
        return out, required

    def first_word(self, statement: nodes.Statement) -> str:
        span = statement.span
        origin = self.origins.get(span.file)
        words = origin.source.line(span.line)[span.column - 1 :].split() if origin else []
        return words[0] if words else "this statement"

    def check_pack_exempts(
        self, statements: list[nodes.Statement], file: str, pack: PackRef, chain: tuple[Span, ...]
    ) -> None:
        """A pack's exemptions lift its own rules by name: `from cap` would change the policy's."""
        own = {s.name for s in statements if isinstance(s, nodes.RULE_TYPES)}  # its includes' too
        for statement in statements:
            if not isinstance(statement, nodes.Exempt) or statement.span.file != file:
                continue
            for target in statement.targets:
                if target.is_kind:
                    self.error(
                        f"an exemption in the pack {pack.name} lifts every `{target.text}` rule",
                        target.span, chain,
                        hint="a pack exempts its own rules by name; the including policy's rules are its own",
                    )
                elif target.text not in own:
                    self.error(
                        f'the pack {pack.name} has no rule called "{target.text}"',
                        target.span, chain,
                        hint=did_you_mean(target.text, own) or "a pack exempts its own rules only",
                    )

    # ---- one include line ----------------------------------------------------------------
    def include(
        self, line: nodes.Include, folder: Path, chain: tuple[Span, ...], stack: tuple[tuple[str, str], ...]
    ) -> tuple[list[nodes.Statement], list[nodes.Vocabulary]]:
        renaming = self.renaming(line, chain)
        target = self.locate(line, folder, chain)
        if target is None:
            return [], []
        key, path, pack = target
        if key in stack:
            names = [self.describe_key(k) for k in (*stack[stack.index(key):], key)]
            self.error(
                "these includes make a cycle: " + " includes ".join(names),
                line.target_span, chain,
                hint="remove one of the include lines; an included file cannot include its includer",
            )
            return [], []
        if key in self.read:
            self.check_again(line, key, pack, renaming, chain)
            return [], []
        self.read[key] = (line, pack.version if pack else None, renaming)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            reason = "no such file" if isinstance(exc, FileNotFoundError) else str(exc)
            self.error(f"cannot read {path}: {reason}", line.target_span, chain)
            return [], []
        name = str(path)
        partial = self.parse(text, name)
        inner_chain = (*chain, line.span)
        source = Source(name, text)
        self.origins[name] = Origin(source, pack, inner_chain)
        for problem in partial.problems:
            problem.included_from = inner_chain
            self.problems.append(problem)
        self.unparsed_words |= partial.unparsed_words
        self.unparsed_rules |= partial.unparsed_rules
        if pack is not None:
            self.packs.setdefault(pack.name, pack.version)
            self.check_header(partial.tree, pack, name, inner_chain)
        found, needs = self.walk(partial.tree.statements, name, path.parent, inner_chain, (*stack, key), pack)
        self.check_renaming(line, renaming, found, needs, chain)
        return renaming.apply(found), renaming.apply(needs)

    def describe_key(self, key: tuple[str, str]) -> str:
        kind, value = key
        if kind == "file":
            try:
                return str(Path(value).relative_to(self.base.resolve()))
            except ValueError:
                return value
        return value

    def locate(
        self, line: nodes.Include, folder: Path, chain: tuple[Span, ...]
    ) -> tuple[tuple[str, str], Path, PackRef | None] | None:
        """The file an include line names: (read-once key, path, the pack and version)."""
        if line.is_file:
            if line.version is not None:
                self.error("a file has no versions; packs do", line.version_span, chain,
                           hint=f'write `include "{line.target}"`')
                return None
            path = folder / line.target
            if not path.is_file():
                self.error(f'there is no file "{line.target}" next to the including file', line.target_span, chain,
                           hint=f"looked for {path}")
                return None
            return self.file_key(path), path, None
        packs = shipped_packs()
        if line.target not in packs:
            hint = did_you_mean(line.target, packs) or (
                "a file to include ends in `.pol`; `policylang packs list` shows the packs"
            )
            self.error(f'there is no pack called "{line.target}"', line.target_span, chain, hint=hint)
            return None
        versions = packs[line.target]
        version = line.version if line.version is not None else versions[-1]
        if version not in versions:
            self.error(
                f'the pack {line.target} has no version "{version}"',
                line.version_span, chain,
                expected="one of the shipped versions: " + ", ".join(f'"{v}"' for v in versions),
                hint=f'the newest is "{versions[-1]}"',
            )
            return None
        return ("pack", line.target), pack_path(line.target, version), PackRef(line.target, version)

    def check_again(
        self, line: nodes.Include, key: tuple[str, str], pack: PackRef | None, renaming: Renaming,
        chain: tuple[Span, ...],
    ) -> None:
        """A second include of something already read: it must say the same."""
        first, version, first_renaming = self.read[key]
        where = f"{first.span}" if first.span.line else "the policy itself"
        if pack is not None and pack.version != version:
            self.error(
                f"the pack {pack.name} is included twice, in versions {version} and {pack.version}",
                line.version_span if line.version is not None else line.target_span, chain,
                hint=f'a pack is read once: give both include lines the same `version` (first at {where})',
            )
        elif renaming != first_renaming:
            self.error(
                f'"{line.target}" is included twice with different renaming',
                line.span, chain,
                hint=f"it is read once, so one renaming must serve both include lines (first at {where})",
            )

    def check_header(self, tree: nodes.PolicyFile, pack: PackRef, name: str, chain: tuple[Span, ...]) -> None:
        header = tree.statements[0] if tree.statements else None
        if not isinstance(header, nodes.PackHeader):
            self.error(f"the pack file {name} does not start with its `pack` line", chain[-1], chain[:-1],
                       hint=f'its first statement must be `pack "{pack.name}" version "{pack.version}"`')
        elif (header.name, header.version) != (pack.name, pack.version):
            self.error(
                f'this pack file says it is {header.name} {header.version}, but it is shipped as {pack}',
                header.span, chain,
            )

    # ---- renaming ------------------------------------------------------------------------
    def renaming(self, line: nodes.Include, chain: tuple[Span, ...]) -> Renaming:
        names: dict[str, str] = {}
        attributes: dict[str, str] = {}
        targets: dict[tuple[bool, str], str] = {}
        for rename in line.renames:
            table = attributes if rename.attribute else names
            shown = f"customer.{rename.old}" if rename.attribute else rename.old
            if rename.old in table:
                self.error(f"`{shown}` is renamed twice", rename.span, chain)
                continue
            earlier = targets.get((rename.attribute, rename.new))
            if earlier is not None:
                self.error(
                    f"`{shown}` and `{earlier}` are both renamed to `{rename.new}`",
                    rename.span, chain,
                    hint="two names of the included file would become one",
                )
                self.unparsed_words.add(rename.old)  # explained here: not again as undeclared
                continue
            table[rename.old] = rename.new
            targets[(rename.attribute, rename.new)] = shown
        return Renaming(names, attributes)

    def check_renaming(
        self, line: nodes.Include, renaming: Renaming, found: list[nodes.Statement], needs: list[nodes.Vocabulary],
        chain: tuple[Span, ...],
    ) -> None:
        """Each renamed name must be one the included file declares."""
        names = {n.value for v in (*needs, *found) if isinstance(v, nodes.Vocabulary) for n in v.names}
        attributes = {a.name.value for s in found if isinstance(s, nodes.CustomerBlock) for a in s.attributes}
        for rename in line.renames:
            pool = attributes if rename.attribute else names
            if rename.old not in pool and rename.old not in self.unparsed_words:
                shown = f"customer.{rename.old}" if rename.attribute else rename.old
                what = "customer attribute" if rename.attribute else "name"
                self.error(
                    f'"{line.target}" declares no {what} `{shown}` to rename',
                    rename.span, chain,
                    hint=did_you_mean(rename.old, pool),
                )


def expand(tree: nodes.PolicyFile, source: Source, parse: Any, base: Path | None = None) -> Expansion:
    """Read every include of ``tree`` (parsed from ``source``): see :class:`Expander`.

    ``base`` is the folder relative ``.pol`` includes start from: the policy file's folder,
    or the working folder for a policy without a file (standard input, a string).
    """
    if base is None:
        base = Path(source.name).parent if Expander.is_path(source.name) else Path.cwd()
    return Expander(source, base, parse).expand(tree)

"""``policylang lsp``: a language server for ``.pol`` and ``.polt`` files (pygls, over stdio).

Diagnostics come from the compiler (every syntax error of the file, then the semantic
errors) and the linter; hover, completion, go to definition, references, rename and the
outline from the :mod:`policylang.symbols` index; formatting from the formatter. Nothing
here decides what a policy means: each answer is read off the compiler's, the linter's or
the formatter's output.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import attrs
from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

from policylang import nodes
from policylang.errors import PolicylangError
from policylang.source import Span
from policylang.symbols import Occurrence, SymbolIndex

STATEMENT_KEYWORDS = ("policy", "timezone", "channels", "teams", "purposes", "outcomes", "events",
                      "customer", "owner is customer.", "precedence", "cap", "capacity", "quiet",
                      "exclude", "require", "exclusive", "exempt")
BODY_KEYWORDS = ("any", "by", "except", "per", "at most", "outside", "between", "on", "within",
                 "after", "when", "from", "with outcome", "for each", "calendar", "consecutive days",
                 "days", "weeks", "hours", "minutes", "at least", "before")
ATTRIBUTE_TYPES = ("flag", "number", "text", "zone", "date", "team", "channel", "purpose",
                   "one of", "set of")
RUN_COMMAND = "policylang.runScenarios"
TOKEN_TYPES = ["function", "enumMember", "property", "event", "type"]
TOKEN_OF_KIND = {"rule": 0, "channel": 1, "team": 1, "purpose": 1, "outcome": 1, "attribute": 2, "event": 3}
TOKEN_MODIFIERS = ["declaration"]
LARGE = 400  # lines: from this size on, edits get quick diagnostics first (policylang.incremental)
SETTLE_SECONDS = 0.3  # then the whole compile and the linter, once typing pauses this long
DID_YOU_MEAN = re.compile(r"did you mean `([^`]+)`\?")


# ---- analysis of one document -------------------------------------------------------------------


@attrs.define(slots=True)
class Analysis:
    """What the server knows of one document's current text."""

    uri: str
    text: str
    tree: nodes.PolicyFile
    index: SymbolIndex
    errors: list[PolicylangError]
    policy: Any = None  # the compiled Policy when the text compiles
    findings: list[Any] = attrs.Factory(list)
    # 11.17: the names of the policy with its included files and packs, when it has any, so
    # hover and go to definition reach a rule or a name declared in an included file
    expanded: SymbolIndex | None = None

    def find(self, line: int, column: int) -> Occurrence | None:
        """The name at 1-based ``line`` and ``column`` of this document."""
        found = self.index.at(line, column)
        if found is None and self.expanded is not None:
            found = self.expanded.at(line, column, path_of(self.uri))
        return found

    def declaration(self, occurrence: Occurrence) -> Occurrence | None:
        """Where ``occurrence``'s name is declared: this file first, then the included ones."""
        found = self.index.declaration(occurrence)
        if found is None and self.expanded is not None:
            found = self.expanded.declaration(occurrence)
        return found

    def rule_node(self, name: str) -> tuple[nodes.Rule | None, nodes.PolicyFile]:
        """The syntax of rule ``name`` and the tree it was declared in (this file's, or the
        policy with its includes)."""
        node = self.index.rules.get(name)
        if node is None and self.expanded is not None:
            return self.expanded.rules.get(name), self.expanded.tree
        return node, self.tree

    def location(self, span: Span) -> lsp.Location:
        """``span`` as an LSP location: in this document, or in the included file it lies in."""
        uri = self.uri if span.file == path_of(self.uri) else Path(span.file).resolve().as_uri()
        return lsp.Location(uri, to_range(span))


def path_of(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def analyse_policy(uri: str, text: str) -> Analysis:
    """Parse (keeping what parses), compile and lint ``text``."""
    from policylang.lint import Config, find_config, lint_text
    from policylang.parser import parse_partial

    file = path_of(uri)
    partial = parse_partial(text, file)
    analysis = Analysis(uri, text, partial.tree, SymbolIndex(partial.tree), [])
    try:
        config = find_config(Path(file)) if Path(file).parent.is_dir() else Config()
    except PolicylangError:
        config = Config()
    result = lint_text(text, file, config)
    analysis.errors = list(result.errors)
    analysis.policy = result.policy
    analysis.findings = list(result.findings)
    syntax = getattr(result.policy, "syntax", None)
    if syntax is not None and any(s.span.file != file for s in syntax.statements):
        analysis.expanded = SymbolIndex(syntax)
    return analysis


def to_range(span: Span) -> lsp.Range:
    if not span.line:
        return lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
    end_line = span.end_line or span.line
    return lsp.Range(lsp.Position(span.line - 1, max(span.column - 1, 0)),
                     lsp.Position(end_line - 1, max(span.end_column - 1, 0)))


def diagnostics_of(analysis: Analysis) -> list[lsp.Diagnostic]:
    from policylang.diagnostics import error_code

    out = []
    for error in analysis.errors:
        message = error.message
        if error.expected:
            message += f"\nexpected {error.expected}"
        if error.hint:
            message += f"\nhint: {error.hint}"
        out.append(lsp.Diagnostic(range=to_range(error.span), message=message,
                                  severity=lsp.DiagnosticSeverity.Error, source="policylang",
                                  code=error_code(error), data={"hint": error.hint}))
    for finding in analysis.findings:
        message = finding.message + (f"\nhint: {finding.hint}" if finding.hint else "")
        out.append(lsp.Diagnostic(range=to_range(finding.span), message=message,
                                  severity=lsp.DiagnosticSeverity.Warning, source="policylang lint",
                                  code=finding.code))
    return out


def run_scenarios(uri: str, text: str, loader: Any = None) -> tuple[list[PolicylangError], list[Any]]:
    """Run a ``.polt`` text as `policylang test` runs its file: (problems, expect answers).

    ``loader`` compiles the policy a ``use`` line names (the server passes one that reads
    an open editor's unsaved text before the disk)."""
    from policylang.scenario import ScenarioRun, Use, load_policy_file, parse_scenario

    path = Path(path_of(uri))
    try:
        scenario = parse_scenario(text, str(path))
    except PolicylangError as exc:
        return list(exc.errors), []
    run = ScenarioRun(path.parent, loader=loader or load_policy_file)
    problems: list[PolicylangError] = []
    answers: list[Any] = []
    for statement in scenario.statements:
        try:
            result = run.execute(statement)
        except PolicylangError as exc:
            problems.extend(exc.errors)
            if isinstance(statement, Use) or run.policy is None:
                break  # nothing below can run without the policy
            continue
        if not isinstance(result, str) and result.is_expect:
            answers.append(result)
    return problems, answers


def scenario_diagnostics(uri: str, text: str, loader: Any = None) -> list[lsp.Diagnostic]:
    """Syntax errors and problems of a ``.polt`` file, and each failed expectation on its line."""
    from policylang.diagnostics import error_code

    problems, answers = run_scenarios(uri, text, loader)
    here = path_of(uri)
    out = [lsp.Diagnostic(range=to_range(e.span) if e.span.file == here else lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)),
                          message=(e.message if e.span.file == here else f"{e.span}: {e.message}")
                          + (f"\nhint: {e.hint}" if e.hint else ""),
                          severity=lsp.DiagnosticSeverity.Error, source="policylang", code=error_code(e))
           for e in problems]
    for answer in answers:
        if not answer.passed:
            out.append(lsp.Diagnostic(range=to_range(answer.statement.span), message="; ".join(answer.failures),
                                      severity=lsp.DiagnosticSeverity.Error, source="policylang test",
                                      code="expect"))
    return out


# ---- hover --------------------------------------------------------------------------------------


def describe_rule(analysis: Analysis, name: str) -> str:
    """A rule in plain words: what it says, which traffic it governs, its hours in the
    customer's time."""
    from policylang.unparse import Unparser

    node, tree = analysis.rule_node(name)
    if node is None:
        return f'rule "{name}" (not declared in this file)'
    lines = [f'**{node.kind} "{name}"**: {Unparser.for_policy(tree).rule_body(node)}']
    if node.span.file != path_of(analysis.uri):
        lines.append(f"declared in {node.span.file}, line {node.span.line} (included)")
    policy = analysis.policy
    if policy is not None:
        from policylang.lint import Traffic
        from policylang.policydiff import traffic_text
        from policylang.rules import Calendar, CapRule, ClockRange, Consecutive, QuietRule

        rule = policy.rule(name)
        traffic = Traffic(policy)
        shapes = traffic.checked(rule) if rule.kind != "exempt" else traffic.selected(rule)
        lines.append(f"governs: {traffic_text(shapes, policy)}")
        lifters = sorted({policy.rules[i].name for i in policy.exempted_by.get(rule.index, ())})
        if lifters:
            lines.append("exempted by: " + ", ".join(f'"{n}"' for n in lifters))
        zone_words = f"the customer's own time zone ({policy.timezone or 'UTC'} when the record has none)"
        if isinstance(rule, CapRule):
            if isinstance(rule.window, (Calendar, Consecutive)):
                lines.append(f"counts {rule.limit} per {rule.window.text}, whole local days in {zone_words}")
            else:
                lines.append(f"counts {rule.limit} in any {rule.window.text} (a sliding window of absolute time)")
        if isinstance(rule, QuietRule) and isinstance(rule.period, ClockRange):
            p = rule.period
            start, end = (p.start, p.end) if p.quiet_inside else (p.end, p.start)
            zone = policy.timezone or "UTC"
            lines.append(f"quiet from {start // 60:02d}:{start % 60:02d} to {(end % 1440) // 60:02d}:"
                         f"{end % 60:02d} in the customer's own time zone ({zone} when the record has none)")
    return "\n\n".join(lines)


def hover_text(analysis: Analysis, occurrence: Occurrence) -> str:
    if occurrence.kind == "rule":
        return describe_rule(analysis, occurrence.name)
    declaration = analysis.declaration(occurrence)
    if declaration is None:
        where = " (not declared)"
    elif declaration.span.file != path_of(analysis.uri):
        where = f" (declared in {declaration.span.file}, line {declaration.span.line})"
    else:
        where = f" (declared on line {declaration.span.line})"
    if occurrence.kind == "attribute":
        from policylang.unparse import text as attr_type_text

        kind = analysis.index.attribute_types.get(occurrence.name)
        type_text = attr_type_text(kind) if kind is not None else "undeclared"
        return f"customer attribute `{occurrence.name}`: {type_text}{where}"
    return f"{occurrence.kind} `{occurrence.name}`{where}"


# ---- completion ---------------------------------------------------------------------------------


def completions(analysis: Analysis, line_text: str) -> list[lsp.CompletionItem]:
    """What fits at the end of ``line_text`` (the line up to the cursor)."""
    from policylang.unparse import text as attr_type_text

    index = analysis.index

    def names(kind: str) -> list[str]:
        return [n for n, k in index.kind_of.items() if k == kind]

    def items(words: list[str], kind: lsp.CompletionItemKind, detail: str = "") -> list[lsp.CompletionItem]:
        return [lsp.CompletionItem(label=w, kind=kind, detail=detail or None) for w in words]

    if re.search(r"customer\.\w*$", line_text):
        return [lsp.CompletionItem(label=name, kind=lsp.CompletionItemKind.Field,
                                   detail=attr_type_text(spec)) for name, spec in index.attribute_types.items()]
    if re.match(r"^\s*precedence\b", line_text) or re.search(r"\bby\s+(\w+\s*,\s*)*\w*$", line_text):
        return items([*names("team"), "owner"], lsp.CompletionItemKind.EnumMember, "team")
    if re.search(r"\bwith\s+outcome\s+\w*$", line_text):
        return items(names("outcome"), lsp.CompletionItemKind.EnumMember, "outcome")
    if re.search(r"\bfrom\s+(\S+\s*,\s*)*\S*$", line_text) and re.match(r"^\s*exempt\b", line_text):
        kinds = ["cap", "capacity", "quiet", "exclude", "require", "exclusive"]
        return (items(kinds, lsp.CompletionItemKind.Keyword, "every rule of this kind")
                + [lsp.CompletionItem(label=f'"{n}"', kind=lsp.CompletionItemKind.Reference, detail="rule")
                   for n in index.rules])
    if re.match(r"^\s+\w+\s+\w*$", line_text) and _in_customer_block(analysis.text, line_text):
        return items(list(ATTRIBUTE_TYPES), lsp.CompletionItemKind.TypeParameter, "attribute type")
    if re.match(r"^\s*\w*$", line_text):
        return items(list(STATEMENT_KEYWORDS), lsp.CompletionItemKind.Keyword)
    if ":" in line_text or re.match(r"^\s*(cap|capacity|quiet|exclude|require|exclusive|exempt)\b", line_text):
        out = []
        for kind in ("channel", "purpose", "team"):
            out += items(names(kind), lsp.CompletionItemKind.EnumMember, kind)
        if re.search(r"\b(after)\s+\w*$", line_text):
            out += items(names("event"), lsp.CompletionItemKind.Event, "event")
        return out + items(list(BODY_KEYWORDS), lsp.CompletionItemKind.Keyword)
    return []


def _in_customer_block(text: str, line_text: str) -> bool:
    """Is the indented line being typed inside the ``customer`` block?"""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(line_text) and i > 0:
            for above in reversed(lines[:i]):
                if above.strip() and not above[0].isspace():
                    return above.strip().startswith("customer")
    return False


# ---- edits --------------------------------------------------------------------------------------


def rename_edits(analysis: Analysis, occurrence: Occurrence, new_name: str) -> dict[str, list[lsp.TextEdit]]:
    """Every occurrence renamed; a rule's new name quoted, and ``denied by`` lists of the
    ``.polt`` files beside the policy updated too."""
    from policylang.unparse import quote

    text = quote(new_name) if occurrence.kind == "rule" else new_name
    edits = {analysis.uri: [lsp.TextEdit(to_range(o.span), text) for o in analysis.index.references(occurrence)]}
    if occurrence.kind == "rule":
        folder = Path(path_of(analysis.uri)).parent
        old = re.compile(re.escape(quote(occurrence.name)))
        for scenario in sorted(folder.glob("*.polt")) if folder.is_dir() else []:
            changes = []
            for number, line in enumerate(scenario.read_text(encoding="utf-8").split("\n")):
                if "denied by" not in line:
                    continue
                for found in old.finditer(line, line.index("denied by")):
                    changes.append(lsp.TextEdit(lsp.Range(lsp.Position(number, found.start()),
                                                          lsp.Position(number, found.end())), text))
            if changes:
                edits[scenario.resolve().as_uri()] = changes
    return edits


def semantic_tokens(analysis: Analysis) -> list[int]:
    """Declared names as LSP semantic tokens (relative line, start, length, type, modifiers)."""
    data: list[int] = []
    previous_line = previous_start = 0
    for o in analysis.index.occurrences:
        s = o.span
        if not s.line or s.end_line != s.line:
            continue
        line, start = s.line - 1, s.column - 1
        data += [line - previous_line, start - previous_start if line == previous_line else start,
                 s.end_column - s.column, TOKEN_OF_KIND.get(o.kind, 4), 1 if o.declaration else 0]
        previous_line, previous_start = line, start
    return data


def whole_document(text: str) -> lsp.Range:
    lines = text.split("\n")
    return lsp.Range(lsp.Position(0, 0), lsp.Position(len(lines) - 1, len(lines[-1])))


def symbol_kind(kind: str) -> lsp.SymbolKind:
    return {"rule": lsp.SymbolKind.Function, "attribute": lsp.SymbolKind.Field,
            "event": lsp.SymbolKind.Event}.get(kind, lsp.SymbolKind.EnumMember)


# ---- the server -----------------------------------------------------------------------------------


def build_server() -> LanguageServer:
    """A server with every feature registered (``start_io`` runs it)."""
    from policylang import __version__
    from policylang.incremental import Document

    server = LanguageServer("policylang", __version__)
    documents: dict[str, Analysis] = {}
    editing: dict[str, Document] = {}  # large documents: quick diagnostics after each edit
    pending: dict[str, asyncio.TimerHandle] = {}

    def is_scenario(uri: str) -> bool:
        return uri.endswith(".polt")

    def publish(ls: LanguageServer, uri: str, found: list[lsp.Diagnostic]) -> None:
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=found))

    def refresh(ls: LanguageServer, uri: str) -> None:
        text = ls.workspace.get_text_document(uri).source
        if is_scenario(uri):
            publish(ls, uri, scenario_diagnostics(uri, text, loader(ls)))
            return
        if text.count("\n") < LARGE or uri not in documents:
            analysis = documents[uri] = analyse_policy(uri, text)
            if text.count("\n") >= LARGE:
                editing[uri] = Document(path_of(uri), text, list(analysis.errors))
            publish(ls, uri, diagnostics_of(analysis))
            return
        # A large policy: the edited rule's errors now, the whole compile and lint when typing pauses.
        document = editing.setdefault(uri, Document(path_of(uri), documents[uri].text, list(documents[uri].errors)))
        quick = Analysis(uri, text, documents[uri].tree, documents[uri].index, document.update(text))
        publish(ls, uri, diagnostics_of(quick))
        if uri in pending:
            pending.pop(uri).cancel()
        loop = asyncio.get_event_loop()
        pending[uri] = loop.call_later(SETTLE_SECONDS, lambda: asyncio.ensure_future(settle(ls, uri, text)))

    def loader(ls: LanguageServer) -> Any:
        """Compile the policy a scenario uses from the editor's text when it is open."""
        from policylang.compiler import compile_policy
        from policylang.scenario import load_policy_file

        def load(path: Path) -> Any:
            uri = path.resolve().as_uri()
            opened = ls.workspace.text_documents.get(uri)
            return compile_policy(opened.source, str(path)) if opened is not None else load_policy_file(path)

        return load

    async def settle(ls: LanguageServer, uri: str, text: str) -> None:
        pending.pop(uri, None)
        analysis = await asyncio.get_event_loop().run_in_executor(None, analyse_policy, uri, text)
        if ls.workspace.get_text_document(uri).source != text:
            return  # typed on meanwhile: a later settle answers
        documents[uri] = analysis
        editing[uri] = Document(path_of(uri), text, list(analysis.errors))
        publish(ls, uri, diagnostics_of(analysis))

    def current(ls: LanguageServer, uri: str) -> Analysis | None:
        if is_scenario(uri):
            return None
        text = ls.workspace.get_text_document(uri).source
        analysis = documents.get(uri)
        if analysis is None or analysis.text != text:
            analysis = documents[uri] = analyse_policy(uri, text)
        return analysis

    def occurrence_at(ls: LanguageServer, uri: str, position: lsp.Position) -> tuple[Analysis, Occurrence] | None:
        analysis = current(ls, uri)
        if analysis is None:
            return None
        found = analysis.find(position.line + 1, position.character + 1)
        return (analysis, found) if found else None

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: LanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
        refresh(ls, params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: LanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
        refresh(ls, params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: LanguageServer, params: lsp.DidSaveTextDocumentParams) -> None:
        refresh(ls, params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_CODE_LENS)
    def code_lens(ls: LanguageServer, params: lsp.CodeLensParams) -> list[lsp.CodeLens]:
        uri = params.text_document.uri
        if not is_scenario(uri):
            return []
        text = ls.workspace.get_text_document(uri).source
        count = sum(1 for line in text.split("\n") if line.lstrip().startswith("expect"))
        return [lsp.CodeLens(range=lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)),
                             command=lsp.Command(title=f"run {count} expectations", command=RUN_COMMAND,
                                                 arguments=[uri]))]

    @server.command(RUN_COMMAND)
    def run_command(ls: LanguageServer, uri: str) -> str:
        """Run a scenario file's expectations; failures become diagnostics on their lines."""
        text = ls.workspace.get_text_document(uri).source
        problems, answers = run_scenarios(uri, text, loader(ls))
        publish(ls, uri, scenario_diagnostics(uri, text, loader(ls)))
        failed = sum(1 for a in answers if not a.passed)
        return f"{len(answers) - failed} passed, {failed} failed, {1 if problems else 0} errors"

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: LanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
        documents.pop(params.text_document.uri, None)
        editing.pop(params.text_document.uri, None)
        if params.text_document.uri in pending:
            pending.pop(params.text_document.uri).cancel()
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(ls: LanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
        found = occurrence_at(ls, params.text_document.uri, params.position)
        if found is None:
            return None
        analysis, occurrence = found
        return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=hover_text(analysis, occurrence)),
                         range=to_range(occurrence.span))

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[".", " "]))
    def complete(ls: LanguageServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        analysis = current(ls, params.text_document.uri)
        if analysis is None:
            return lsp.CompletionList(is_incomplete=False, items=[])
        lines = analysis.text.split("\n")
        line = lines[params.position.line] if params.position.line < len(lines) else ""
        return lsp.CompletionList(is_incomplete=False, items=completions(analysis, line[: params.position.character]))

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: LanguageServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        found = occurrence_at(ls, params.text_document.uri, params.position)
        if found is None:
            return None
        analysis, occurrence = found
        declaration = analysis.declaration(occurrence)
        return analysis.location(declaration.span) if declaration else None

    @server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    def references(ls: LanguageServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
        found = occurrence_at(ls, params.text_document.uri, params.position)
        if found is None:
            return []
        analysis, occurrence = found
        return [lsp.Location(analysis.uri, to_range(o.span)) for o in analysis.index.references(occurrence)
                if params.context.include_declaration or not o.declaration]

    @server.feature(lsp.TEXT_DOCUMENT_PREPARE_RENAME)
    def prepare_rename(ls: LanguageServer, params: lsp.PrepareRenameParams) -> lsp.Range | None:
        found = occurrence_at(ls, params.text_document.uri, params.position)
        return to_range(found[1].span) if found else None

    @server.feature(lsp.TEXT_DOCUMENT_RENAME)
    def rename(ls: LanguageServer, params: lsp.RenameParams) -> lsp.WorkspaceEdit | None:
        found = occurrence_at(ls, params.text_document.uri, params.position)
        if found is None:
            return None
        analysis, occurrence = found
        if occurrence.kind != "rule" and not re.fullmatch(r"[A-Za-z_]\w*", params.new_name):
            raise ValueError(f"`{params.new_name}` is not a name (letters, digits and _)")
        return lsp.WorkspaceEdit(changes=rename_edits(analysis, occurrence, params.new_name))

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def outline(ls: LanguageServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
        analysis = current(ls, params.text_document.uri)
        if analysis is None:
            return []
        out = []
        for o in analysis.index.occurrences:
            if o.declaration:
                detail = analysis.index.rules[o.name].kind if o.kind == "rule" else o.kind
                out.append(lsp.DocumentSymbol(name=o.name, detail=detail, kind=symbol_kind(o.kind),
                                              range=to_range(o.span), selection_range=to_range(o.span)))
        return out

    @server.feature(lsp.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL,
                    lsp.SemanticTokensLegend(token_types=TOKEN_TYPES, token_modifiers=TOKEN_MODIFIERS))
    def tokens(ls: LanguageServer, params: lsp.SemanticTokensParams) -> lsp.SemanticTokens:
        analysis = current(ls, params.text_document.uri)
        return lsp.SemanticTokens(data=semantic_tokens(analysis) if analysis is not None else [])

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: LanguageServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit]:
        from policylang.formatter import format_policy

        uri = params.text_document.uri
        if is_scenario(uri):
            return []
        text = ls.workspace.get_text_document(uri).source
        try:
            formatted = format_policy(text, path_of(uri))
        except PolicylangError:
            return []  # a file with syntax errors is left as it is; the diagnostics say why
        return [] if formatted == text else [lsp.TextEdit(whole_document(text), formatted)]

    @server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION)
    def code_actions(ls: LanguageServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        uri = params.text_document.uri
        text = ls.workspace.get_text_document(uri).source
        lines = text.split("\n")
        actions = []
        for diagnostic in params.context.diagnostics:
            suggestion = DID_YOU_MEAN.search(diagnostic.message)
            if suggestion:
                actions.append(lsp.CodeAction(
                    title=f"replace with `{suggestion.group(1)}`", kind=lsp.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic], is_preferred=True,
                    edit=lsp.WorkspaceEdit(changes={uri: [lsp.TextEdit(diagnostic.range, suggestion.group(1))]})))
            code = str(diagnostic.code or "")
            if code.startswith("PL"):
                row = diagnostic.range.start.line
                end = len(lines[row]) if row < len(lines) else 0
                actions.append(lsp.CodeAction(
                    title=f"ignore {code} here", kind=lsp.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                    edit=lsp.WorkspaceEdit(changes={uri: [lsp.TextEdit(
                        lsp.Range(lsp.Position(row, end), lsp.Position(row, end)),
                        f"  # policylang: ignore[{code}]")]})))
        return actions

    return server


def serve() -> None:
    """Run the language server on standard input and output until the client says exit."""
    build_server().start_io()

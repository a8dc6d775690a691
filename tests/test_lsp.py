"""The language server end to end: `policylang lsp` started as a subprocess and driven over
stdio by a real LSP client (pytest-lsp): open, edit, hover, complete, definition,
references, rename, format, code actions, outline, and diagnostics after an edit that
introduces and then fixes an error.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

ROOT = Path(__file__).resolve().parent.parent
NORTHWIND = (ROOT / "examples" / "northwind.pol").read_text(encoding="utf-8")


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "policylang.cli", "lsp"]))
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    await lsp_client.initialize_session(lsp.InitializeParams(capabilities=lsp.ClientCapabilities()))
    yield
    await lsp_client.shutdown_session()


def line_of(text: str, needle: str) -> tuple[int, int]:
    """0-based line and character of the first ``needle``."""
    for number, line in enumerate(text.split("\n")):
        if needle in line:
            return number, line.index(needle)
    raise AssertionError(needle)


async def open_doc(client: LanguageClient, path: Path, text: str) -> str:
    uri = path.as_uri()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        lsp.TextDocumentItem(uri=uri, language_id="policylang", version=1, text=text)))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


async def change(client: LanguageClient, uri: str, text: str, version: int) -> list[lsp.Diagnostic]:
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
        [lsp.TextDocumentContentChangeWholeDocument(text=text)]))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return list(client.diagnostics[uri])


@pytest.mark.asyncio
async def test_diagnostics_follow_edits_that_break_and_fix_the_policy(client: LanguageClient, tmp_path: Path) -> None:
    uri = await open_doc(client, tmp_path / "northwind.pol", NORTHWIND)
    assert [d for d in client.diagnostics[uri] if d.severity == lsp.DiagnosticSeverity.Error] == []
    # two syntax errors and a misspelt name: every one is reported at once, with its range
    broken = (NORTHWIND.replace("at most 1 marketing phone per 7 days", "at most marketing phone per 7 days")
              .replace("at most 2 letter per calendar quarter", "at most 2 letter per calendar fortnight")
              .replace('exclude "do not call":         phone', 'exclude "do not call":         phnoe'))
    found = await change(client, uri, broken, 2)
    errors = [d for d in found if d.severity == lsp.DiagnosticSeverity.Error]
    assert sorted((d.range.start.line, d.code) for d in errors) == [
        (line_of(broken, "one sales call")[0], "syntax"), (line_of(broken, "fortnight")[0], "syntax"),
        (line_of(broken, "phnoe")[0], "compile")]
    found = await change(client, uri, NORTHWIND.replace('"do not call":         phone', '"do not call":         phnoe'), 3)
    (typo,) = [d for d in found if d.severity == lsp.DiagnosticSeverity.Error]
    row, col = line_of(NORTHWIND, '"do not call":         phone')
    assert typo.code == "compile" and "did you mean `phone`" in typo.message
    assert typo.range.start == lsp.Position(row, col + len('"do not call":         '))
    # the did-you-mean becomes a quick fix that applies it
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        lsp.TextDocumentIdentifier(uri), typo.range, lsp.CodeActionContext(diagnostics=[typo])))
    assert actions is not None
    fix = next(a for a in actions if isinstance(a, lsp.CodeAction) and a.title == "replace with `phone`")
    assert fix.edit is not None and fix.edit.changes is not None
    assert fix.edit.changes[uri][0].new_text == "phone"
    assert await change(client, uri, NORTHWIND, 4) == [d for d in client.diagnostics[uri]
                                                       if d.severity != lsp.DiagnosticSeverity.Error]


@pytest.mark.asyncio
async def test_lint_warnings_arrive_as_diagnostics_with_a_suppression_action(client: LanguageClient, tmp_path: Path) -> None:
    text = NORTHWIND.replace("outside 08:00-21:00", "outside 21:00-08:00")
    uri = await open_doc(client, tmp_path / "p.pol", text)
    (warning,) = [d for d in client.diagnostics[uri] if d.code == "PL001"]
    assert warning.severity == lsp.DiagnosticSeverity.Warning
    assert warning.range.start.line == line_of(text, "outside 21:00-08:00")[0]
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        lsp.TextDocumentIdentifier(uri), warning.range, lsp.CodeActionContext(diagnostics=[warning])))
    assert actions is not None
    (ignore,) = [a for a in actions if isinstance(a, lsp.CodeAction) and "ignore PL001" in a.title]
    assert ignore.edit is not None and ignore.edit.changes is not None
    edit = ignore.edit.changes[uri][0]
    fixed_lines = text.split("\n")
    row = edit.range.start.line
    fixed_lines[row] = fixed_lines[row][: edit.range.start.character] + edit.new_text
    found = await change(client, uri, "\n".join(fixed_lines), 2)
    assert not [d for d in found if d.code == "PL001"]


@pytest.mark.asyncio
async def test_hover_explains_a_rule_and_a_name(client: LanguageClient, tmp_path: Path) -> None:
    uri = await open_doc(client, tmp_path / "northwind.pol", NORTHWIND)
    row, col = line_of(NORTHWIND, '"calling hours"')
    result = await client.text_document_hover_async(lsp.HoverParams(lsp.TextDocumentIdentifier(uri), lsp.Position(row, col + 3)))
    assert result is not None and isinstance(result.contents, lsp.MarkupContent)
    text = result.contents.value
    assert 'quiet "calling hours"' in text and "no phone, sms outside 08:00-21:00" in text
    assert "quiet from 21:00 to 08:00 in the customer's own time zone (America/New_York" in text
    assert "governs: " in text and "exempted by: \"transactional\"" in text
    row, col = line_of(NORTHWIND, '"letters per quarter"')
    result = await client.text_document_hover_async(lsp.HoverParams(lsp.TextDocumentIdentifier(uri), lsp.Position(row, col + 3)))
    assert result is not None and isinstance(result.contents, lsp.MarkupContent)
    assert "counts 2 per calendar quarter, whole local days in the customer's own time zone" in result.contents.value
    row, col = line_of(NORTHWIND, "customer.age")
    result = await client.text_document_hover_async(lsp.HoverParams(lsp.TextDocumentIdentifier(uri), lsp.Position(row, col + 10)))
    assert result is not None and isinstance(result.contents, lsp.MarkupContent)
    assert result.contents.value == "customer attribute `age`: number (declared on line 16)"


@pytest.mark.asyncio
async def test_completion_by_context(client: LanguageClient, tmp_path: Path) -> None:
    text = NORTHWIND + '\ncap "new one": at most 1 marketing by \nexclude "x": any when customer.\n\n'
    uri = await open_doc(client, tmp_path / "northwind.pol", text)

    async def labels(needle: str) -> set[str]:
        row, col = line_of(text, needle)
        result = await client.text_document_completion_async(lsp.CompletionParams(
            lsp.TextDocumentIdentifier(uri), lsp.Position(row, col + len(needle))))
        assert isinstance(result, lsp.CompletionList)
        return {item.label for item in result.items}

    assert await labels("at most 1 marketing by ") == {"private_banking", "wealth_management", "cards",
                                                       "collections", "growth", "service", "owner"}
    attributes = await labels("any when customer.")
    assert attributes == {"timezone", "status", "do_not_call", "owner", "opted_out", "age"}
    body = await labels('cap "new one": at most 1 ')
    assert {"email", "marketing", "cards", "per"} <= body
    row = len(text.split("\n")) - 2
    result = await client.text_document_completion_async(lsp.CompletionParams(
        lsp.TextDocumentIdentifier(uri), lsp.Position(row, 0)))
    assert isinstance(result, lsp.CompletionList)
    assert {"cap", "quiet", "exclude", "precedence"} <= {i.label for i in result.items}


@pytest.mark.asyncio
async def test_definition_references_and_outline(client: LanguageClient, tmp_path: Path) -> None:
    uri = await open_doc(client, tmp_path / "northwind.pol", NORTHWIND)
    row, col = line_of(NORTHWIND, "debt sms after")
    found = await client.text_document_definition_async(lsp.DefinitionParams(
        lsp.TextDocumentIdentifier(uri), lsp.Position(row, col + len("debt "))))
    assert isinstance(found, lsp.Location)
    decl_row, decl_col = line_of(NORTHWIND, "channels  email")
    assert found.range.start == lsp.Position(decl_row, decl_col + len("channels  email, "))
    refs = await client.text_document_references_async(lsp.ReferenceParams(
        context=lsp.ReferenceContext(include_declaration=True), text_document=lsp.TextDocumentIdentifier(uri),
        position=lsp.Position(row, col + len("debt "))))
    assert refs is not None
    sms_lines = {r.range.start.line for r in refs}
    expected = {n for n, line in enumerate(NORTHWIND.split("\n")) if " sms" in line and not line.startswith("#")}
    assert sms_lines == expected
    symbols = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(lsp.TextDocumentIdentifier(uri)))
    assert symbols is not None
    names = [s.name for s in symbols]
    assert "one sales call a week" in names and "owner speaks first" in names and "age" in names


@pytest.mark.asyncio
async def test_rename_a_rule_updates_exempt_and_scenario_denied_by_lists(client: LanguageClient, tmp_path: Path) -> None:
    shutil.copy(ROOT / "examples" / "northwind.polt", tmp_path / "northwind.polt")
    text = NORTHWIND + 'exempt "service calls":       servicing from "one sales call a week"\n'
    uri = await open_doc(client, tmp_path / "northwind.pol", text)
    row, col = line_of(text, '"one sales call a week"')
    edit = await client.text_document_rename_async(lsp.RenameParams(
        lsp.TextDocumentIdentifier(uri), lsp.Position(row, col + 2), "weekly sales call"))
    assert edit is not None and edit.changes is not None
    policy_edits = edit.changes[uri]
    assert {e.new_text for e in policy_edits} == {'"weekly sales call"'}
    assert sorted(e.range.start.line for e in policy_edits) == [row, line_of(text, 'exempt "service calls"')[0]]
    scenario_uri = (tmp_path / "northwind.polt").resolve().as_uri()
    scenario_text = (tmp_path / "northwind.polt").read_text()
    expected = scenario_text.count('"one sales call a week"')
    assert expected > 0 and len(edit.changes[scenario_uri]) == expected
    # a name: every use, in selectors, precedence and conditions
    row, col = line_of(text, "> cards >")
    edit = await client.text_document_rename_async(lsp.RenameParams(
        lsp.TextDocumentIdentifier(uri), lsp.Position(row, col + 3), "card_services"))
    assert edit is not None and edit.changes is not None
    lines = text.split("\n")
    for e in edit.changes[uri]:
        assert lines[e.range.start.line][e.range.start.character:e.range.end.character] == "cards"
    assert len(edit.changes[uri]) == text.count("cards")


@pytest.mark.asyncio
async def test_formatting_is_the_formatter(client: LanguageClient, tmp_path: Path) -> None:
    from policylang.formatter import format_policy

    messy = NORTHWIND.replace('cap "one sales call a week":   at most', 'cap   "one sales call a week"  :  at   most')
    uri = await open_doc(client, tmp_path / "northwind.pol", messy)
    edits = await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        lsp.TextDocumentIdentifier(uri), lsp.FormattingOptions(tab_size=2, insert_spaces=True)))
    assert edits is not None and len(edits) == 1
    assert edits[0].new_text == format_policy(messy) == NORTHWIND
    uri2 = await open_doc(client, tmp_path / "clean.pol", NORTHWIND)
    assert not await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        lsp.TextDocumentIdentifier(uri2), lsp.FormattingOptions(tab_size=2, insert_spaces=True)))


@pytest.mark.asyncio
async def test_scenario_files_run_with_failures_on_their_expect_lines(client: LanguageClient, tmp_path: Path) -> None:
    good = (ROOT / "examples" / "northwind.polt").read_text()
    (tmp_path / "northwind.pol").write_text(NORTHWIND)
    uri = await open_doc(client, tmp_path / "northwind.polt", good)
    assert not client.diagnostics[uri]
    lenses = await client.text_document_code_lens_async(lsp.CodeLensParams(lsp.TextDocumentIdentifier(uri)))
    assert lenses is not None and lenses[0].command is not None
    assert lenses[0].command.title == f"run {good.count(chr(10) + 'expect')} expectations"
    # a wrong expectation: a diagnostic on its line, saying what was decided
    wrong = good.replace("expect ada: servicing email by service is allowed",
                         "expect ada: servicing email by service is denied by \"one voice\"")
    found = await change(client, uri, wrong, 2)
    assert [(d.range.start.line, d.code) for d in found] == [(line_of(wrong, "servicing email by service is denied")[0], "expect")]
    # the policy open in the editor with an unsaved change is the one the scenario uses
    policy_uri = await open_doc(client, tmp_path / "northwind.pol", NORTHWIND.replace(
        'cap "one sales call a week":   at most 1 marketing phone per 7 days',
        'cap "one sales call a week":   at most 5 marketing phone per 7 days'))
    assert policy_uri
    summary = await client.workspace_execute_command_async(lsp.ExecuteCommandParams(
        command="policylang.runScenarios", arguments=[uri]))
    assert summary.endswith("passed, 2 failed, 0 errors")
    # the server publishes before it answers, and messages arrive in order
    failed_lines = {d.range.start.line for d in client.diagnostics[uri]}
    assert line_of(wrong, 'expect ada: marketing phone by wealth_management is denied by "one sales call a week"')[0] in failed_lines
    # a syntax error
    found = await change(client, uri, good + "\nexpect ada: marketing email by cards is maybe\n", 3)
    assert len(found) == 1 and found[0].code == "syntax"
    assert found[0].range.start.line == len(good.split("\n"))


@pytest.mark.asyncio
async def test_a_large_policy_gets_the_edited_rules_errors_first_then_the_whole_answer(
        client: LanguageClient, tmp_path: Path) -> None:
    import asyncio

    extra = "".join(f'cap "extra {i}": at most {i % 5 + 1} email by cards per {i % 9 + 1} days\n' for i in range(450))
    text = NORTHWIND + extra
    uri = await open_doc(client, tmp_path / "big.pol", text)
    opened = client.diagnostics[uri]
    assert any(d.code == "PL004" for d in opened)
    assert not [d for d in opened if d.severity == lsp.DiagnosticSeverity.Error]
    broken = text.replace('cap "extra 200": at most 1 email by cards', 'cap "extra 200": at most 1 emial by cards')
    quick = await change(client, uri, broken, 2)
    row, col = line_of(broken, "emial")
    # the quick answer: the compiler's error for the edited rule, and nothing from the linter yet
    assert [(d.range.start.line, d.range.start.character, d.code) for d in quick] == [(row, col, "compile")]
    assert not [d for d in await change(client, uri, text, 3) if d.severity == lsp.DiagnosticSeverity.Error]
    for _ in range(600):  # then the whole compile and lint, once typing pauses (bounded wait)
        if any(d.code == "PL004" for d in client.diagnostics[uri]):
            break
        await asyncio.sleep(0.05)
    final = client.diagnostics[uri]
    assert any(d.code == "PL004" for d in final)
    assert not [d for d in final if d.severity == lsp.DiagnosticSeverity.Error]


@pytest.mark.asyncio
async def test_semantic_tokens_mark_declared_names(client: LanguageClient, tmp_path: Path) -> None:
    uri = await open_doc(client, tmp_path / "northwind.pol", NORTHWIND)
    result = await client.text_document_semantic_tokens_full_async(lsp.SemanticTokensParams(lsp.TextDocumentIdentifier(uri)))
    assert result is not None
    data, lines = list(result.data), NORTHWIND.split("\n")
    decoded, line, start = [], 0, 0
    for i in range(0, len(data), 5):
        d_line, d_start, length, kind, modifiers = data[i:i + 5]
        line, start = line + d_line, (start + d_start if d_line == 0 else d_start)
        decoded.append((lines[line][start:start + length], kind, modifiers))
    assert ('"one sales call a week"', 0, 1) in decoded  # a rule, declared
    assert ("phone", 1, 1) in decoded and ("phone", 1, 0) in decoded  # a channel: declared, used
    assert ("do_not_call", 2, 0) in decoded and ("complaint", 3, 0) in decoded


def test_the_broken_corpus_gives_every_error_of_each_file_in_one_pass() -> None:
    """What the server publishes for each broken policy is what `check --format json` reports."""
    import json

    from policylang.cli import main as cli
    from policylang.lsp import analyse_policy, diagnostics_of

    for path in sorted((ROOT / "tests" / "broken").glob("*.pol")):
        published = diagnostics_of(analyse_policy(path.as_uri(), path.read_text(encoding="utf-8-sig")))
        errors = [(d.range.start.line + 1, d.range.start.character + 1, d.code) for d in published
                  if d.severity == lsp.DiagnosticSeverity.Error]
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            cli(["check", "--format", "json", str(path)])
        expected = [(d["line"], d["column"], d["code"]) for d in json.loads(out.getvalue())["diagnostics"]]
        assert errors == expected, path
        assert len(errors) >= 1


@pytest.mark.asyncio
async def test_hover_and_definition_follow_includes(client: LanguageClient, tmp_path: Path) -> None:
    """11.17: a rule and a channel declared in an included file are found from the policy that
    includes it: go to definition opens the included file at the declaration, hover says so."""
    (tmp_path / "parts").mkdir()
    part = 'channels  fax\nquiet "night": no phone outside 08:00-21:00\n'
    (tmp_path / "parts" / "hours.pol").write_text(part)
    text = ('policy "shop"\ntimezone "UTC"\nchannels  phone, email\nteams     sales\npurposes  sell, help\n'
            'include "parts/hours.pol"\ncap "daily": at most 2 sell fax per 1 day\n'
            'exempt "help calls": help from "night"\n')
    uri = await open_doc(client, tmp_path / "shop.pol", text)
    assert [d.message for d in client.diagnostics[uri] if d.severity == lsp.DiagnosticSeverity.Error] == []
    row, col = line_of(text, 'from "night"')
    position = lsp.Position(row, col + len('from "n'))
    found = await client.text_document_definition_async(lsp.DefinitionParams(lsp.TextDocumentIdentifier(uri), position))
    assert isinstance(found, lsp.Location)
    assert found.uri == (tmp_path / "parts" / "hours.pol").resolve().as_uri()
    assert found.range.start.line == 1  # `quiet "night"` is the included file's second line
    hover = await client.text_document_hover_async(lsp.HoverParams(lsp.TextDocumentIdentifier(uri), position))
    assert hover is not None and isinstance(hover.contents, lsp.MarkupContent)
    assert 'quiet "night"' in hover.contents.value and "hours.pol, line 2 (included)" in hover.contents.value
    row, col = line_of(text, "sell fax")
    position = lsp.Position(row, col + len("sell f"))
    found = await client.text_document_definition_async(lsp.DefinitionParams(lsp.TextDocumentIdentifier(uri), position))
    assert isinstance(found, lsp.Location) and found.uri.endswith("/parts/hours.pol") and found.range.start.line == 0
    hover = await client.text_document_hover_async(lsp.HoverParams(lsp.TextDocumentIdentifier(uri), position))
    assert hover is not None and isinstance(hover.contents, lsp.MarkupContent)
    assert hover.contents.value == f"channel `fax` (declared in {tmp_path / 'parts' / 'hours.pol'}, line 1)"

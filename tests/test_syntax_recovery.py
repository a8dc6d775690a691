"""Every syntax error of a file in one run, then the semantic errors of what parsed; the
byte-order mark and Windows line endings accepted everywhere a file is read.

The broken-policy corpus (tests/broken/multi_*.pol) holds the positions and words of each
error; here: the order, the public entry points, the statement splitter and the BOM.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policylang.cli import main
from policylang.compiler import compile_policy
from policylang.errors import ErrorGroup, PolicyCompileError, PolicySyntaxError
from policylang.formatter import format_policy
from policylang.parser import parse, parse_partial
from policylang.resync import Chunk, statement_chunks
from policylang.scenario import parse_scenario

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "tests" / "broken"
EXAMPLES = sorted((ROOT / "examples").glob("*.pol"))
RULE = re.compile(r'(cap|capacity|quiet|exclude|require|exclusive|exempt) "')


def test_syntax_errors_come_first_then_the_semantic_errors_of_what_parsed() -> None:
    path = BROKEN / "multi_one_syntax_five_semantic.pol"
    with pytest.raises(ErrorGroup) as caught:
        compile_policy(path.read_text(encoding="utf-8"), str(path))
    kinds = [type(e) for e in caught.value.errors]
    assert kinds == [PolicySyntaxError] + [PolicyCompileError] * 5


def test_parse_raises_a_group_of_every_syntax_error_for_tools() -> None:
    # the language server calls parse(): it gets them all, in file order
    path = BROKEN / "multi_syntax_errors.pol"
    with pytest.raises(ErrorGroup) as caught:
        parse(path.read_text(encoding="utf-8"), str(path))
    lines = [e.span.line for e in caught.value.errors]
    assert lines == [11, 12, 13, 15, 17]
    assert all(isinstance(e, PolicySyntaxError) for e in caught.value.errors)


def test_the_statements_around_a_syntax_error_still_parse() -> None:
    path = BROKEN / "multi_syntax_errors.pol"
    partial = parse_partial(path.read_text(encoding="utf-8"), str(path))
    names = [getattr(s, "name", None) for s in partial.tree.statements]
    assert names == [None, None, None, "fine", "also fine"]
    assert partial.unparsed_rules == {"weekly", "calling", "monthly", "debt"}


def test_one_syntax_error_is_one_error() -> None:
    text = "channels email\nteams sales\ncap \"x\": at mots 1 email per 7 days\n"
    with pytest.raises(PolicySyntaxError):  # not a group of one
        compile_policy(text)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_statement_by_statement_parse_equals_the_whole_file_parse(path: Path) -> None:
    """The splitter finds the statements the grammar finds: parsing each chunk on its own
    gives the same statements as parsing the file, for every example."""
    from policylang.grammar import load_grammar
    from policylang.parser import _parse_text
    from policylang.resync import chunk_text
    from policylang.source import Source

    text = path.read_text(encoding="utf-8")
    parser = load_grammar("policy.lark")
    whole = _parse_text(parser, text, Source(str(path), text))  # one Lark parse of the whole file
    lines = text.split("\n")
    pieces = [s for c in statement_chunks(text) for s in _parse_text(parser, chunk_text(lines, c), Source(str(path), text))]
    assert tuple(pieces) == whole
    assert parse(text, str(path)).statements == whole  # parse() goes statement by statement, from the text's places
    assert len(statement_chunks(text)) == len(whole)


def test_splitter_continues_after_a_comma_and_inside_parentheses_but_not_into_a_statement() -> None:
    text = "\n".join([
        "channels email,",       # 1 continues
        "  sms",                  # 2
        "# a comment",            # 3 belongs to nothing
        'exclude "x": any when (customer.a',  # 4 open parenthesis
        "or customer.b)",         # 5 continues at the margin
        "teams a,",               # 6 trailing comma...
        'cap "y": at most 1 email per 7 days',  # 7 ...but this starts a statement
        "customer",               # 8
        "  a  flag",              # 9
        "  b  flag",              # 10
    ])
    assert statement_chunks(text) == [Chunk(1, 2), Chunk(4, 5), Chunk(6, 6), Chunk(7, 7), Chunk(8, 10)]


# ---- byte-order marks and line endings -------------------------------------------------

BOM = "\ufeff"
POLICY = (ROOT / "examples" / "northwind.pol").read_text(encoding="utf-8")


def test_a_policy_with_a_byte_order_mark_compiles_and_formats_without_it() -> None:
    plain = compile_policy(POLICY, "p.pol")
    marked = compile_policy(BOM + POLICY, "p.pol")
    assert marked.rules == plain.rules and marked.title == plain.title
    assert format_policy(BOM + POLICY) == POLICY


def test_check_accepts_a_byte_order_mark_and_windows_line_endings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "windows.pol"
    path.write_bytes((BOM + POLICY).replace("\n", "\r\n").encode("utf-8"))
    assert main(["check", str(path)]) == 0
    assert ": ok," in capsys.readouterr().out


def test_an_error_in_a_file_with_a_byte_order_mark_is_at_the_right_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bom.pol"
    # the mark is not a character of the first line: the column counts from the text after it
    path.write_bytes((BOM + "cap \"x\": at mots 1 email per 7 days\nchannels email\n").encode("utf-8"))
    assert main(["check", str(path)]) == 1
    assert f"{path}:1:13: error: unexpected `mots`" in capsys.readouterr().err


def test_a_scenario_with_a_byte_order_mark_parses() -> None:
    scenario = parse_scenario(BOM + 'use "northwind.pol"\nnow 2026-11-24 10:00\n', "s.polt")
    assert len(scenario.statements) == 2


def test_decide_reads_json_files_with_byte_order_marks_and_windows_line_endings(tmp_path: Path) -> None:
    ada = ROOT / "examples" / "ada"
    files = {}
    for name in ("customer.json", "ledger.jsonl", "request.json"):
        text = (ada / name).read_text(encoding="utf-8").replace("\n", "\r\n")
        files[name] = tmp_path / name
        files[name].write_bytes((BOM + text).encode("utf-8"))
    policy = tmp_path / "p.pol"
    policy.write_bytes((BOM + POLICY).encode("utf-8"))
    result = subprocess.run(
        [sys.executable, "-m", "policylang.cli", "decide", str(policy), "--customer", str(files["customer.json"]),
         "--ledger", str(files["ledger.jsonl"]), "--request", str(files["request.json"]), "--format", "json"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "allowed" in json.loads(result.stdout)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_broken_rule_lines_give_one_error_each_and_nothing_else(data: st.DataObject) -> None:
    """Curl the quotes of any set of rule lines of an example: exactly those lines are
    reported, each once, at the quote, and nothing cascades (not even an `exempt` that names
    a broken rule)."""
    path = data.draw(st.sampled_from(EXAMPLES))
    lines = path.read_text(encoding="utf-8").split("\n")
    rule_lines = [i for i, line in enumerate(lines) if RULE.match(line)]
    broken = data.draw(st.sets(st.sampled_from(rule_lines), min_size=1, max_size=5))
    for index in broken:
        lines[index] = lines[index].replace('"', "“", 1)
    with pytest.raises(PolicySyntaxError if len(broken) == 1 else ErrorGroup) as caught:
        compile_policy("\n".join(lines), str(path))
    got = [(e.span.line, e.span.column, type(e)) for e in caught.value.errors]
    assert got == [(i + 1, lines[i].index("“") + 1, PolicySyntaxError) for i in sorted(broken)]

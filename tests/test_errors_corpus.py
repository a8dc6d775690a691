"""The broken-policy corpus: every file in tests/broken/ says, in its header, which errors it
must produce (``# expect LINE:COL: fragment && fragment``), one header line per error.

Each error must be reported at exactly that position, its words (message, expectation and
hint) must contain every fragment, no parser-internal terminal name may leak into them, and
all of a file's errors must come out of one run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policylang.cli import main
from policylang.compiler import compile_policy
from policylang.errors import ErrorGroup, PolicylangError, format_error
from policylang.grammar import load_grammar

BROKEN = Path(__file__).parent / "broken"
FILES = sorted(BROKEN.glob("*.pol"))
EXPECT = re.compile(r"^# expect (\d+):(\d+): (.*)$")

# Names of the grammar's terminals (NAME, _NL, COLON, ...) and Lark's own markers.
TERMINALS = sorted({t.name for t in load_grammar("policy.lark").terminals} | {"$END", "_INDENT", "_DEDENT"})
LEAKS = [re.compile(r"(?<![\w$])" + re.escape(name) + r"(?![\w])") for name in TERMINALS] + [
    re.compile(r"__ANON|__IGNORE|Token\(|Tree\(|lark", re.IGNORECASE)
]


def expectations(path: Path) -> list[tuple[int, int, list[str]]]:
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = EXPECT.match(line)
        if match:
            found.append((int(match[1]), int(match[2]), match[3].split(" && ")))
    return found


def words(error: PolicylangError) -> str:
    parts = [error.message]
    if error.expected:
        parts.append(f"expected {error.expected}")
    if error.hint:
        parts.append(f"hint: {error.hint}")
    return " | ".join(parts)


def test_the_corpus_is_big_enough() -> None:
    assert len(FILES) >= 40
    assert all(expectations(path) for path in FILES), "every corpus file needs an expect header"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_broken_policy_reports_what_its_header_says(path: Path) -> None:
    expected = expectations(path)
    with pytest.raises(PolicylangError) as caught:
        compile_policy(path.read_text(encoding="utf-8"), str(path))
    errors = list(caught.value.errors)
    got = sorted((e.span.line, e.span.column, words(e)) for e in errors)
    want = sorted((line, column) for line, column, _ in expected)
    assert [(line, column) for line, column, _ in got] == want, got
    for line, column, fragments in expected:
        here = [w for at_line, at_column, w in got if (at_line, at_column) == (line, column)]
        assert any(all(f in w for f in fragments) for w in here), (fragments, here)
    for error in errors:
        assert error.span.file == str(path)
        for leak in LEAKS:
            assert not leak.search(words(error)), f"{leak.pattern!r} leaks into: {words(error)}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_rendered_error_quotes_the_line_with_a_caret_under_the_column(path: Path) -> None:
    with pytest.raises(PolicylangError) as caught:
        compile_policy(path.read_text(encoding="utf-8"), str(path))
    source_lines = path.read_text(encoding="utf-8").splitlines()
    for error in caught.value.errors:
        rendered = format_error(error).splitlines()
        assert rendered[0].startswith(f"{path}:{error.span.line}:{error.span.column}: error: ")
        assert rendered[1] == "    " + source_lines[error.span.line - 1].expandtabs(1)
        caret = rendered[2]
        assert caret.index("^") == 4 + error.span.column - 1


def test_several_errors_come_out_of_one_run_in_file_order() -> None:
    path = BROKEN / "several_errors.pol"
    with pytest.raises(ErrorGroup) as caught:
        compile_policy(path.read_text(encoding="utf-8"), str(path))
    positions = [(e.span.line, e.span.column) for e in caught.value.errors]
    assert len(positions) == len(expectations(path)) == 5
    assert positions == sorted(positions)


def test_check_command_reports_every_broken_file_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["check", *map(str, FILES)])
    captured = capsys.readouterr()
    assert status == 1
    assert "Traceback" not in captured.err + captured.out
    for path in FILES:
        assert f"{path}:" in captured.err

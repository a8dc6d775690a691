"""The conventions of the command line: machine-readable output held to the schemas checked
into docs/schemas, JUnit XML, folders and standard input, help text and exit statuses on
every command, the command's own usage for a wrong option, and shell completion scripts
that the shells themselves accept.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

from policylang.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "docs" / "schemas"
BROKEN = sorted((ROOT / "tests" / "broken").glob("*.pol"))
EXAMPLES = ROOT / "examples"
SCENARIOS = ROOT / "tests" / "scenarios"


def schema(name: str) -> jsonschema.protocols.Validator:
    registry: Registry = Registry()
    for path in SCHEMAS.glob("*.json"):
        registry = registry.with_resource(path.name, Resource.from_contents(json.loads(path.read_text())))
    document = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document, registry=registry)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# ---- check --format json ------------------------------------------------------------------


def test_check_json_of_the_whole_broken_corpus_matches_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "--format", "json", *map(str, BROKEN))
    assert code == 1 and err == ""
    document = json.loads(out)
    schema("check.schema.json").validate(document)
    assert [f["file"] for f in document["files"]] == [str(p) for p in BROKEN]
    assert all(not f["ok"] for f in document["files"])
    codes = {d["code"] for d in document["diagnostics"]}
    assert codes == {"syntax", "compile"}
    # the text output reports exactly the same problems
    main(["check", *map(str, BROKEN)])
    text = capsys.readouterr().err
    for d in document["diagnostics"]:
        assert f"{d['file']}:{d['line']}:{d['column']}: error: {d['message']}" in text


def test_check_json_positions_and_words_of_one_error(capsys: pytest.CaptureFixture[str]) -> None:
    path = ROOT / "tests" / "broken" / "plural_cap.pol"
    _, out, _ = run(capsys, "check", "--json", str(path))
    [diagnostic] = json.loads(out)["diagnostics"]
    assert diagnostic == {
        "file": str(path), "line": 10, "column": 1, "end_line": 10, "end_column": 5, "severity": "error",
        "code": "syntax", "message": "`caps` is not a keyword", "expected": None, "hint": "did you mean `cap`?",
    }


def test_check_json_of_good_and_unreadable_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "check", "--format", "json", str(EXAMPLES / "northwind.pol"), str(tmp_path / "nope.pol"))
    assert code == 2
    document = json.loads(out)
    schema("check.schema.json").validate(document)
    assert document["files"][0] == {"file": str(EXAMPLES / "northwind.pol"), "ok": True, "rules": 20}
    assert document["diagnostics"][0]["code"] == "file" and "no such file" in document["diagnostics"][0]["message"]


def test_check_walks_a_folder_and_reads_standard_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    shutil.copy(EXAMPLES / "northwind.pol", nested / "n.pol")
    shutil.copy(ROOT / "tests" / "broken" / "plural_cap.pol", tmp_path / "a" / "broken.pol")
    (tmp_path / "notes.txt").write_text("not a policy")
    code, out, err = run(capsys, "check", str(tmp_path))
    assert code == 1
    assert f"{nested / 'n.pol'} " in out and f"{tmp_path / 'a' / 'broken.pol'}:10:1:" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "check", str(empty))
    assert code == 2 and "no *.pol files" in err
    result = subprocess.run([sys.executable, "-m", "policylang.cli", "check", "-"], input=(EXAMPLES / "northwind.pol").read_text(),
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith('<stdin> "Northwind Bank')


# ---- test --format json|junit, --run, --fail-under ------------------------------------------


@pytest.fixture
def scenario_folder(tmp_path: Path) -> Path:
    shutil.copy(SCENARIOS / "mini.pol", tmp_path / "mini.pol")
    shutil.copy(SCENARIOS / "passing.polt", tmp_path / "good.polt")
    shutil.copy(SCENARIOS / "failing.polt", tmp_path / "failing.polt")
    (tmp_path / "broken.polt").write_text('use "mini.pol"\nexpcet ada: servicing email by sales is allowed\n')
    return tmp_path


def test_a_scenario_that_does_not_parse_is_counted_as_an_error(capsys: pytest.CaptureFixture[str], scenario_folder: Path) -> None:
    code, out, err = run(capsys, "test", str(scenario_folder))
    assert code == 2
    assert out.strip().splitlines()[-1] == "6 passed, 2 failed, 1 error"
    assert f"{scenario_folder / 'broken.polt'}:2:8: error: unexpected `ada`" in err


def test_test_json_matches_the_schema(capsys: pytest.CaptureFixture[str], scenario_folder: Path) -> None:
    code, out, _ = run(capsys, "test", "--format", "json", "--coverage", str(scenario_folder))
    assert code == 2
    document = json.loads(out)
    schema("test.schema.json").validate(document)
    assert document["summary"] == {"passed": 6, "failed": 2, "errors": 1}
    by_file = {Path(f["file"]).name: f for f in document["files"]}
    assert by_file["broken.polt"]["errors"][0]["line"] == 2
    failing = [e for e in by_file["failing.polt"]["expectations"] if not e["passed"]]
    assert [e["line"] for e in failing] == [6, 7] and failing[0]["failures"]
    assert document["coverage"][0]["policy"].endswith("mini.pol")


def test_test_junit_is_xml_a_ci_dashboard_reads(capsys: pytest.CaptureFixture[str], scenario_folder: Path) -> None:
    code, out, _ = run(capsys, "test", "--format", "junit", str(scenario_folder))
    assert code == 2
    root = ET.fromstring(out)
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("9", "2", "1")
    suites = {Path(s.get("name", "")).name: s for s in root.iter("testsuite")}
    assert set(suites) == {"broken.polt", "failing.polt", "good.polt"}
    failures = suites["failing.polt"].findall("testcase/failure")
    assert len(failures) == 2 and "expected allowed" in (failures[0].get("message") or "")
    [error] = suites["broken.polt"].findall("testcase/error")
    assert "unexpected `ada`" in (error.text or "")
    assert len(suites["good.polt"].findall("testcase")) == 5
    assert not suites["good.polt"].findall("testcase/failure")


def test_run_selects_scenario_files(capsys: pytest.CaptureFixture[str], scenario_folder: Path) -> None:
    code, out, _ = run(capsys, "test", "--run", "good", str(scenario_folder))
    assert code == 0 and out.strip().splitlines()[-1] == "5 passed, 0 failed, 0 errors"
    code, out, _ = run(capsys, "test", "--run", "*ing.polt", str(scenario_folder))
    assert code == 1 and out.strip().splitlines()[-1] == "1 passed, 2 failed, 0 errors"
    code, _, err = run(capsys, "test", "--run", "nothing-like-this", str(scenario_folder))
    assert code == 2 and "matching nothing-like-this" in err


def test_fail_under_fails_below_the_percentage(capsys: pytest.CaptureFixture[str]) -> None:
    northwind = str(EXAMPLES / "northwind.polt")
    code, out, _ = run(capsys, "test", "--fail-under", "100", northwind)
    assert code == 0, out
    partial = str(SCENARIOS / "passing.polt")
    code, out, _ = run(capsys, "test", "--coverage", partial)
    percent = float(out.split("rules (")[1].split("%")[0])
    assert percent < 100
    code, out, _ = run(capsys, "test", "--fail-under", f"{percent + 0.1}", partial)
    assert code == 1 and "is below --fail-under" in out
    code, out, _ = run(capsys, "test", "--fail-under", f"{percent}", partial)
    assert code == 0


# ---- fmt and standard input --------------------------------------------------------------

UNFORMATTED = 'channels email\ncap "x":   at most 1 email per 7 days\n'
FORMATTED = 'channels  email\ncap "x":  at most 1 email per 7 days\n'


def test_fmt_reads_standard_input_and_writes_standard_output() -> None:
    result = subprocess.run([sys.executable, "-m", "policylang.cli", "fmt", "-"], input=UNFORMATTED,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout == FORMATTED


def test_fmt_diff_shows_the_change_and_changes_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "p.pol"
    path.write_text(UNFORMATTED)
    code, out, _ = run(capsys, "fmt", "--diff", str(path))
    assert code == 1
    assert '-cap "x":   at most 1 email per 7 days\n+channels  email\n+cap "x":  at most 1 email per 7 days\n' in out
    assert path.read_text() == UNFORMATTED
    path.write_text(FORMATTED)
    assert run(capsys, "fmt", "--diff", str(path)) == (0, "", "")


def test_decide_reads_the_request_from_standard_input() -> None:
    ada = EXAMPLES / "ada"
    result = subprocess.run(
        [sys.executable, "-m", "policylang.cli", "decide", str(EXAMPLES / "northwind.pol"), "--customer",
         str(ada / "customer.json"), "--ledger", str(ada / "ledger.jsonl"), "--request", "-", "--json"],
        input=(ada / "request.json").read_text(), capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "allowed" in json.loads(result.stdout)


def test_only_one_file_option_can_be_standard_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "decide", "-", "--customer", "-", "--request", "x.json")
    assert code == 2 and "only one of" in err


# ---- help, usage and exit statuses ---------------------------------------------------------


def all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    found = []

    def walk(name: str, parser: argparse.ArgumentParser) -> None:
        found.append((name, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child_name, child in action.choices.items():
                    walk(f"{name} {child_name}".strip(), child)

    walk("", build_parser())
    return found


def test_every_option_and_argument_has_help_text() -> None:
    missing = [
        f"{name or 'policylang'}: {action.dest}"
        for name, parser in all_parsers()
        for action in parser._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert missing == []


def test_every_command_documents_its_exit_status() -> None:
    for name, parser in all_parsers():
        assert "exit status:" in (parser.epilog or ""), name or "policylang"
        assert "exit status:" in parser.format_help()


def test_a_wrong_option_prints_the_commands_own_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["graph", str(EXAMPLES / "northwind.pol"), "--json"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: policylang graph ") and "unrecognized arguments: --json" in err
    with pytest.raises(SystemExit):
        main(["ledger", "show", "--bogus"])
    assert capsys.readouterr().err.startswith("usage: policylang ledger show ")


def test_the_readme_documents_every_exit_status_and_format() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Exit statuses and output formats", 1)[1].split("\n## ", 1)[0]
    for name, _parser in all_parsers():
        if name and " " not in name:
            assert f"`{name}`" in section, name
    for needle in ("docs/schemas/check.schema.json", "docs/schemas/test.schema.json", "--format junit", "| 0 |", "| 1 |", "| 2 |"):
        assert needle in section, needle


# ---- shell completion ----------------------------------------------------------------------


def script(capsys: pytest.CaptureFixture[str], shell: str) -> str:
    code, out, _ = run(capsys, "completion", shell)
    assert code == 0
    return out


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_is_accepted_by_its_shell(shell: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (CI installs it)")
    path = tmp_path / f"policylang.{shell}"
    path.write_text(script(capsys, shell))
    result = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


BASH_PROBE = """
source "$1"
complete_words() { COMP_WORDS=("${@}"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _policylang; echo "${COMPREPLY[*]}"; }
complete_words policylang ch
complete_words policylang check --f
complete_words policylang test --format ""
complete_words policylang ledger s
complete_words policylang ledger show --c
complete_words policylang completion ""
"""


def test_bash_completion_offers_commands_options_and_their_values(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "policylang.bash"
    path.write_text(script(capsys, "bash"))
    probe = tmp_path / "probe.sh"
    probe.write_text(BASH_PROBE)
    result = subprocess.run(["bash", str(probe), str(path)], capture_output=True, text=True, check=True,
                            env={**os.environ, "LC_ALL": "C"})
    assert result.stdout.splitlines() == ["check", "--format", "text json junit", "show", "--customer", "-h --help bash zsh fish"]


def test_fish_completion_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    text = script(capsys, "fish")
    for name, _ in all_parsers():
        if name and " " not in name:
            assert f"-a {name} -d" in text
    assert "-l format -x -a 'text json junit'" in text


def test_fish_completes_commands_and_option_values(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed (CI installs it)")
    path = tmp_path / "policylang.fish"
    path.write_text(script(capsys, "fish"))

    def complete(line: str) -> list[str]:
        result = subprocess.run(["fish", "--no-config", "-c", f"source {path}; complete -C '{line}'"],
                                capture_output=True, text=True, check=True)
        return [row.split("\t")[0] for row in result.stdout.splitlines()]

    assert complete("policylang ch") == ["check"]
    assert complete("policylang test --format ") == ["json", "junit", "text"]
    assert complete("policylang ledger s") == ["show"]


def test_zsh_registers_the_completion(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed (CI installs it)")
    path = tmp_path / "_policylang"
    path.write_text(script(capsys, "zsh"))
    result = subprocess.run(["zsh", "-f", "-c", f"autoload -U compinit; compinit -u -D; source {path}; print -r -- $_comps[policylang]"],
                            capture_output=True, text=True, check=False, env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "-F _policylang" in result.stdout

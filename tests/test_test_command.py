"""``policylang test``: discovery, the summary line, failures with traces, exit codes, coverage."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from policylang.cli import main

HERE = Path(__file__).parent
SCENARIOS = HERE / "scenarios"
EXAMPLES = HERE.parent / "examples"


def run_test(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["test", *args])
    out, err = capsys.readouterr()
    return code, out, err


def last_line(out: str) -> str:
    return out.strip().splitlines()[-1]


def test_passing_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_test(capsys, str(SCENARIOS / "passing.polt"))
    assert code == 0
    assert last_line(out) == "5 passed, 0 failed, 0 errors"
    assert "FAIL" not in out


def test_failing_file_names_the_expectation_the_decision_and_the_trace(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_test(capsys, str(SCENARIOS / "failing.polt"))
    assert code == 1
    assert last_line(out) == "1 passed, 2 failed, 0 errors"
    failing = [line for line in out.splitlines() if line.startswith("FAIL ")]
    assert failing == [
        f"FAIL {SCENARIOS / 'failing.polt'}:6: expect ada: servicing phone by service is allowed",
        f'FAIL {SCENARIOS / "failing.polt"}:7: expect ada: servicing phone by service is denied by "nights"',
    ]
    assert 'expected allowed, but it is denied by "one call a day"' in out
    assert 'expected denied by "nights", but it is denied by "one call a day"' in out
    # the trace shows the denying rule with its facts
    assert re.search(r'cap "one call a day": 1 of at most 1 .* -> deny', out)


def test_folders_are_searched_recursively(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    shutil.copy(SCENARIOS / "mini.pol", nested / "mini.pol")
    shutil.copy(SCENARIOS / "passing.polt", nested / "one.polt")
    shutil.copy(SCENARIOS / "passing.polt", tmp_path / "a" / "two.polt")
    (tmp_path / "a" / "two.polt").write_text(
        (SCENARIOS / "passing.polt").read_text().replace('use "mini.pol"', 'use "b/mini.pol"')
    )
    (tmp_path / "notes.txt").write_text("expect nothing")
    code, out, _ = run_test(capsys, str(tmp_path))
    assert code == 0
    assert last_line(out) == "10 passed, 0 failed, 0 errors"


def test_a_scenario_that_does_not_parse_is_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    shutil.copy(SCENARIOS / "mini.pol", tmp_path / "mini.pol")
    (tmp_path / "bad.polt").write_text('use "mini.pol"\nexpcet ada: servicing email by sales is allowed\n')
    shutil.copy(SCENARIOS / "passing.polt", tmp_path / "good.polt")
    code, out, err = run_test(capsys, str(tmp_path))
    assert code == 2
    assert f"{tmp_path / 'bad.polt'}:2:8: error: unexpected `ada`" in err
    assert "did you mean `expect`?" in err
    assert "Traceback" not in out + err
    # the good file still ran and is counted
    assert last_line(out) == "5 passed, 0 failed, 1 error"


def test_a_missing_path_is_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_test(capsys, str(tmp_path / "nope.polt"))
    assert code == 2
    assert "no such file or folder" in err
    code, _, err = run_test(capsys, str(tmp_path))
    assert code == 2
    assert "no *.polt" in err


def coverage_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("coverage ", "untested: "))]


def test_coverage_finds_the_rules_no_test_made_decide(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_test(capsys, "--coverage", str(SCENARIOS / "coverage"))
    assert code == 0
    policy = SCENARIOS / "coverage" / "partial.pol"
    # "nights" is only ever lifted by the exemption (verdict exempt), "no vip calls" never matched
    assert coverage_lines(out) == [
        f"coverage {policy}: 2/4 rules (50.0%)",
        'untested: "nights", "no vip calls"',
    ]
    row = next(line for line in out.splitlines() if '"two emails a week"' in line)
    assert re.search(r"cap\s*│\s*2\s*│\s*0\s*│\s*ok", row)
    assert "UNTESTED" in next(line for line in out.splitlines() if '"nights"' in line)
    assert last_line(out) == "2 passed, 0 failed, 0 errors"


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.polt")), ids=lambda p: p.stem)
def test_every_example_scenario_passes_with_full_rule_coverage(
    capsys: pytest.CaptureFixture[str], example: Path
) -> None:
    code, out, err = run_test(capsys, "--coverage", str(example))
    assert code == 0, out + err
    assert re.fullmatch(r"\d+ passed, 0 failed, 0 errors", last_line(out))
    covered = [line for line in out.splitlines() if line.startswith("coverage ")]
    assert covered and all(line.endswith("(100.0%)") for line in covered), covered


def test_every_example_policy_has_a_scenario() -> None:
    policies = {p.stem for p in EXAMPLES.glob("*.pol")}
    scenarios = {p.stem for p in EXAMPLES.glob("*.polt")}
    assert policies <= scenarios, f"example policies without a .polt: {sorted(policies - scenarios)}"

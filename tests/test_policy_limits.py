"""Issue 9 item 4: policies past the parser's limits get a syntax error with its place (exit
2 from `decide`, 1 from `check`), never a RecursionError or a library's ValueError (exit 70)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import policylang
from policylang.errors import PolicylangError
from policylang.parser import MAX_CONDITION_TERMS, MAX_LINE_CHARS, MAX_NUMBER_DIGITS

HEAD = 'policy "p"\nchannels email\nteams sales\npurposes marketing\ncustomer\n  age number\n'
CASES = {
    "digits": (HEAD + 'cap "c": at most ' + "9" * 5000 + " email per 1 day\n", (7, 18), "digits"),
    "digits19": (HEAD + 'cap "c": at most ' + "9" * (MAX_NUMBER_DIGITS + 1) + " email per 1 day\n", (7, 18),
                 "digits"),
    "and": (HEAD + 'exclude "x": email when ' + " and ".join(["customer.age > 1"] * 300) + "\n", (7, 1),
            "more than"),
    "not": (HEAD + 'exclude "x": email when ' + "not " * 600 + "customer.age > 1\n", (7, 1), "more than"),
    "parens": (HEAD + 'exclude "x": email when ' + "(" * 600 + "customer.age > 1" + ")" * 600 + "\n", (7, 1),
               "more than"),
    "name": (HEAD + 'cap "' + "x" * 10_000_000 + '": at most 1 email per 1 day\n', (7, MAX_LINE_CHARS + 1),
             "characters"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_limits_are_syntax_errors_with_a_place(name: str) -> None:
    text, (line, column), words = CASES[name]
    with pytest.raises(PolicylangError, match=words) as caught:
        policylang.compile(text, "big.pol")
    first = caught.value.errors[0]
    assert (first.span.line, first.span.column) == (line, column)


def test_just_under_the_limits_compiles() -> None:
    terms = " and ".join(["customer.age > 1"] * (MAX_CONDITION_TERMS // 2))
    policylang.compile(HEAD + f'exclude "x": email when {terms}\n'
                       + 'cap "c": at most ' + "9" * MAX_NUMBER_DIGITS + " email per 1 day\n")


def test_decide_exits_2_on_a_policy_past_a_limit(tmp_path: Path) -> None:
    policy = tmp_path / "deep.pol"
    policy.write_text(CASES["not"][0])
    (tmp_path / "c.json").write_text('{"age": 3}')
    (tmp_path / "r.json").write_text('{"team": "sales", "channel": "email", "purpose": "marketing", '
                                     '"at": "2026-11-24T10:00:00Z"}')
    done = subprocess.run([sys.executable, "-m", "policylang.cli", "decide", str(policy), "--customer",
                           str(tmp_path / "c.json"), "--request", str(tmp_path / "r.json")],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "deep.pol:7:1" in done.stderr and "internal error" not in done.stderr

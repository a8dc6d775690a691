"""Fuzzing the front end: no input makes compile_policy (or the formatter) fail with anything
but a PolicylangError that carries a position in the text.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylang.compiler import compile_policy
from policylang.errors import PolicylangError
from policylang.formatter import format_policy
from policylang.parser import KEYWORDS
from tests.policy_strategies import valid_policies

TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\s+|[a-z_][a-z0-9_]*|\d+(?::\d+|-\d+-\d+|\.\d+)?|.', re.S)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
# pieces a mutation may insert: keywords, punctuation, odd characters and numbers
PIECES = sorted(KEYWORDS) + [",", ":", "(", ")", ">", "-", ".", '"', "#", "\n", "\n  ", "\t", "customer.", "0", "99999999999999999999", "25:61", "2026-02-30", "é", "\\", "\r\n"]


def compiles_or_reports(text: str) -> None:
    """compile_policy either succeeds or raises PolicylangError with positioned problems."""
    try:
        compile_policy(text, "fuzz.pol")
    except PolicylangError as exc:
        lines = text.count("\n") + 2
        for problem in exc.errors:
            assert problem.message
            assert 0 <= problem.span.line <= lines, (problem.span, problem.message)
            str(problem)  # rendering never fails either
    with contextlib.suppress(PolicylangError):
        format_policy(text, "fuzz.pol")


@SETTINGS
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    compiles_or_reports(text)


@SETTINGS
@given(st.lists(st.sampled_from(PIECES) | st.from_regex(r"[a-z_]{1,6}", fullmatch=True), max_size=40).map(" ".join))
def test_random_keyword_soup(text: str) -> None:
    compiles_or_reports(text)


@st.composite
def mutated_policies(draw: Any) -> str:
    text = draw(valid_policies(max_rules=5))
    unit = draw(st.sampled_from(["token", "line"]))
    parts = TOKEN.findall(text) if unit == "token" else text.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        if not parts:
            break
        i = draw(st.integers(0, len(parts) - 1))
        how = draw(st.sampled_from(["delete", "swap", "duplicate", "insert", "replace"]))
        if how == "delete":
            del parts[i]
        elif how == "swap":
            j = draw(st.integers(0, len(parts) - 1))
            parts[i], parts[j] = parts[j], parts[i]
        elif how == "duplicate":
            parts.insert(i, parts[i])
        elif how == "insert":
            parts.insert(i, draw(st.sampled_from(PIECES)))
        else:
            parts[i] = draw(st.sampled_from(PIECES) | st.sampled_from(parts))
    return "".join(parts)


@SETTINGS
@given(mutated_policies())
def test_mutated_valid_policies(text: str) -> None:
    compiles_or_reports(text)

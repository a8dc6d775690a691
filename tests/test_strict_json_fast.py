"""Issue 11: the service's body parser (orjson where it can prove the strict parser agrees)
gives exactly what ``inputs.strict_json`` gives, and gives up on everything else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policylang.ingest import fast_strict_json
from policylang.inputs import MAX_JSON_DEPTH, strict_json

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**25), 10**25) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


def strict(text: str) -> tuple[str, Any]:
    try:
        return "ok", strict_json(text)
    except (json.JSONDecodeError, ValueError) as exc:
        return "refused", type(exc).__name__


@settings(max_examples=300, deadline=None)
@given(JSON, st.sampled_from((None, 1)))
def test_the_fast_parse_agrees_with_the_strict_parser(value: Any, indent: int | None) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    got = fast_strict_json(text.encode())
    if got is not None:
        assert strict(text) == ("ok", got)
        assert json.dumps(got) == json.dumps(strict_json(text))  # the same types (int stays int)


@pytest.mark.parametrize("text", [
    '{"a": 1, "a": 2}',
    '{"a": {"b": "x", "b": "x"}}',
    '{"a": NaN}',
    '{"a": "\\u0061"}',
    '{"a": 123456789012345678901234567890}',
    "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
    '{"a": 1',
    '{"a": "x"} {"b": 2}',
])
def test_the_fast_parse_gives_up_where_the_strict_parser_has_the_last_word(text: str) -> None:
    assert fast_strict_json(text.encode()) is None


def test_nesting_at_the_limit_is_parsed() -> None:
    text = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert fast_strict_json(text.encode()) == strict_json(text)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 2000, 100_000])
def test_deep_nesting_is_left_to_the_strict_parser(depth: int) -> None:
    text = '{"a": ' + "[" * depth + "]" * depth + "}"
    assert fast_strict_json(text.encode()) is None

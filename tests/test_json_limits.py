"""Issue 9 items 4 and 12: JSON input past its limits, duplicate keys, NaN - refused with
a project error (InputError: exit 2 at the command line) and a position, on every path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policylang
from policylang.errors import InputError, PolicylangError
from policylang.inputs import MAX_JSON_DEPTH, jsonl_lines, load_json

POLICY = policylang.compile(
    'policy "p"\nchannels email\nteams sales\npurposes marketing\ncustomer\n  age number\n'
    'exclude "minors": email when customer.age < 18\n'
)
REQUEST = '{"team": "sales", "channel": "email", "purpose": "marketing", "at": "2026-11-24T10:00:00Z"}'
LINE = '{"at": "2026-11-20T10:00:00Z", "channel": "email", "purpose": "marketing", "team": "sales"}'


def document(customer: str = '{"age": 40}', ledger: str = "[]", request: str = REQUEST) -> str:
    return f'{{"customer": {customer}, "request": {request}, "ledger": {ledger}}}'


@pytest.mark.parametrize("text", [
    document(customer='{"age": 40, "age": 12}'),
    document(ledger='[{"at": "2026-11-20T10:00:00Z", "channel": "email", "purpose": "marketing", '
                    '"team": "sales", "status": "sent", "status": "released"}]'),
    document(request=REQUEST[:-1] + ', "team": "sales"}'),
])
def test_duplicate_keys_are_refused_on_every_path(text: str) -> None:
    # decide_json tries the orjson fast path first; it must not let the last key win
    for body in (text, text.encode()):
        with pytest.raises(InputError, match="given twice") as caught:
            POLICY.decide_json(body, file="doc.json")
        assert caught.value.span is not None and caught.value.span.column > 1


def test_duplicate_key_position_is_the_second_one() -> None:
    with pytest.raises(InputError) as caught:
        load_json('{"age": 40,\n "age": 12}', "c.json")
    span = caught.value.span
    assert span is not None and (span.line, span.column) == (2, 2)


def test_a_jsonl_line_with_a_duplicate_is_reported_with_its_number() -> None:
    lines = dict(jsonl_lines(LINE + "\n" + LINE[:-1] + ', "team": "x"}\n', "l.jsonl"))
    assert isinstance(lines[2], InputError) and "given twice" in str(lines[2])
    assert not isinstance(lines[1], InputError)


@pytest.mark.parametrize("value, message", [
    ("9" * 5000, "over the limit"),
    ("[" * 2000 + "]" * 2000, "nested deeper"),
    ("NaN", "not a JSON number"),
    ("-Infinity", "not a JSON number"),
])
def test_numbers_and_nesting_past_the_limits(value: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        POLICY.decide_json(document(customer=f'{{"age": {value}}}'), file="doc.json")


def test_nesting_up_to_the_limit_is_only_a_type_error() -> None:
    deep = "[" * (MAX_JSON_DEPTH - 2) + "]" * (MAX_JSON_DEPTH - 2)
    with pytest.raises(InputError, match="must be a number"):
        POLICY.decide_json(document(customer=f'{{"age": {deep}}}'), file="doc.json")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
FIELDS = ("age", "team", "channel", "purpose", "at", "status", "outcome", "campaign", "id", "customer", "extra")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    customer=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3),
    request=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6),
    ledger=st.lists(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6), max_size=3),
    raw=st.sampled_from(["", "9" * 200, "[" * 100 + "]" * 100, "NaN", '"x", "age": 1']),
)
def test_arbitrary_json_gives_a_decision_or_an_input_error(customer: Any, request: Any, ledger: Any, raw: str) -> None:
    text = json.dumps({"customer": customer, "request": request, "ledger": ledger})
    if raw:
        text = text[:-1] + f', "extra": {raw}}}' if not raw.startswith('"') else text[:-1] + f', "x": {raw}}}'
    try:
        POLICY.decide_json(text, file="doc.json")
    except InputError as exc:
        assert exc.span is not None


@pytest.mark.parametrize("at, words", [
    ("1900-01-01T00:00:00+00:01", "outside the years"),
    ("2999-12-31T23:59:00-01:00", "outside the years"),
    ("2026-11-24T10:00:00+00:60", "not a UTC offset"),
    ("2026-11-24T10:00:00+24:00", "not a UTC offset"),
    ("2026-11-24T10:00:00.1234567891Z", "not an RFC 3339 instant"),
])
def test_instants_out_of_range_or_malformed(at: str, words: str) -> None:
    # item 5 and 12: refused as input (exit 2), not a ValueError deep in the evaluator
    with pytest.raises(InputError, match=words):
        POLICY.decide({"age": 40}, {"team": "sales", "channel": "email", "purpose": "marketing", "at": at})


@pytest.mark.parametrize("zone", ["right/Europe/London", "posix/Europe/London", "localtime"])
def test_zone_files_that_are_not_iana_names_are_refused(zone: str) -> None:
    policy = policylang.compile(
        'policy "p"\nchannels email\nteams sales\npurposes marketing\ncustomer\n  timezone zone\n'
    )
    with pytest.raises(InputError):
        policy.decide({"timezone": zone}, {"team": "sales", "channel": "email", "purpose": "marketing",
                                           "at": "2026-11-24T10:00:00Z"})
    with pytest.raises(PolicylangError):
        policylang.compile(f'policy "p"\ntimezone "{zone}"\nchannels email\nteams sales\npurposes marketing\n')

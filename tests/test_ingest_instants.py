"""The fast path's instants (ingest.instant_micros, issue 11) are exactly inputs.parse_instant's.

Every list of texts either gives up (the validating path then reads it) or gives, for each
text, the epoch microseconds of the instant parse_instant reads; never an instant for a text
parse_instant refuses. The reference is parse_instant itself and datetime arithmetic.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylang import ingest
from policylang.errors import InputError
from policylang.inputs import parse_instant, where
from policylang.records import FIRST_YEAR, LAST_YEAR

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def reference(text: object) -> int | None:
    """Epoch microseconds by parse_instant, or None when it refuses the text."""
    try:
        at = parse_instant(text, where("x"))
    except InputError:
        return None
    return (at - EPOCH) // dt.timedelta(microseconds=1)


def fast(texts: list[Any]) -> list[int] | None:
    try:
        return ingest.instant_micros(texts)
    except ingest._Slow:  # noqa: SLF001 - the path under test
        return None


@st.composite
def instant_texts(draw: Any) -> str:
    """Instants written every way, well formed or not, near the edges of every field."""
    year = draw(st.sampled_from((FIRST_YEAR - 1, FIRST_YEAR, FIRST_YEAR + 1, 1969, 1970, 2024, 2026,
                                 LAST_YEAR - 1, LAST_YEAR, LAST_YEAR + 1, 10)))
    month = draw(st.integers(0, 13))
    day = draw(st.sampled_from((0, 1, 28, 29, 30, 31, 32)))
    hour, minute, second = draw(st.integers(0, 25)), draw(st.integers(0, 61)), draw(st.integers(0, 61))
    date = f"{year:04d}-{month:02d}-{day:02d}" if draw(st.integers(0, 9)) else f"{year}{month:02d}{day:02d}"
    sep = draw(st.sampled_from(("T", "T", "T", "t", " ", "TT", "")))
    clock = f"{hour:02d}:{minute:02d}" + (f":{second:02d}" if draw(st.integers(0, 5)) else "")
    fraction = draw(st.sampled_from(("", "", "", ".5", ".25", ".123456", ".1234567", ".999999", ".", ".12a")))
    offset = draw(st.one_of(
        st.sampled_from(("Z", "Z", "z", "", "+00:00", "-00:00", "+0100", "+24:00", "-23:59", "+05:30", "Zx")),
        st.builds(lambda s, h, m: f"{s}{h:02d}:{m:02d}", st.sampled_from("+-"), st.integers(0, 25),
                  st.integers(0, 61)),
    ))
    text = date + sep + clock + fraction + offset
    mangle = draw(st.integers(0, 14))
    if mangle == 0:
        text = " " + text
    elif mangle == 1:
        text = text + "\n"
    elif mangle == 2:
        text = text.replace("2", "\u0662", 1)  # an Arabic-Indic digit: \d in a regex, not [0-9]
    elif mangle == 3:
        text = text[: draw(st.integers(0, len(text)))]
    return text


SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(instant_texts(), min_size=1, max_size=6))
def test_every_instant_read_fast_is_parse_instants(texts: list[str]) -> None:
    wanted = [reference(t) for t in texts]
    for _ in range(2):  # the second time from the parts kept by the first
        got = fast(texts)
        if got is not None:
            assert got == wanted
            assert None not in wanted


@SETTINGS
@given(st.lists(st.builds(
    lambda us, minutes: (EPOCH + dt.timedelta(microseconds=us)).astimezone(
        dt.timezone(dt.timedelta(minutes=minutes))).isoformat(),
    st.integers(-2 * 10**15, 3 * 10**16),  # 1906 to 2920
    st.sampled_from((0, 330, -480, 13 * 60 + 45, -(23 * 60 + 59)))), min_size=1, max_size=30))
def test_well_formed_instants_are_read_fast(texts: list[str]) -> None:
    wanted = [reference(t) for t in texts]
    got = fast(texts)
    if None in wanted:
        assert got is None
    else:
        assert got == wanted  # years 1901 to 2998 here: every one is taken fast


@pytest.mark.parametrize("texts", [
    # a T in the wrong place, or parts that would fit only if texts ran together
    ["2026-01-01T10:00:00ZT2026-01-02", "10:00:00Z"],
    ["2026-01-01T10:00:00Z", "2026-01-01 10:00:00Z"],
    ["2026-01-01T10:00:00Z\n2026-01-01", "T10:00:00Z"],
    ["2026-01-01T10:00:00Z", 5],
    ["2026-01-01T10:00:00Z", None],
    ["2026-01-01T1"],
    [""],
])
def test_texts_that_do_not_split_into_a_date_and_a_time_give_up(texts: list[Any]) -> None:
    assert fast(texts) is None


def test_many_distinct_parts_stay_bounded_and_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "PARTS_KEPT", 50)
    texts = [(EPOCH + dt.timedelta(seconds=7919 * k)).isoformat() for k in range(200)]
    for chunk in (texts[:120], texts[60:], texts):
        assert fast(chunk) == [reference(t) for t in chunk]
        assert len(ingest._DAY_US) <= 200 and len(ingest._MINUTE_US) <= 1440  # noqa: SLF001
        assert len(ingest._REST_US) <= 200  # noqa: SLF001

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
    assert vector(texts) is None


@pytest.mark.parametrize("texts", [
    # texts that join into well-formed instants of one length, though some are not instants
    ["2026-01-01T10:00:00Z", "2026-01-01T10", ":00:00Z2026-01-01T10:00:00Z"],
    ["2026-01-01T10:00:00+01:00", "2026-01-01T10:00:00+01:002026-01-01T10:00:00+01:00", ""],
    ["1950-01-01T10:00:00Z", "1950-01-01T10:00:00Z1950-01-01T", "10:00:00Z"],
])
def test_texts_read_across_each_other_are_refused_by_columns(texts: list[str]) -> None:
    assert None in [reference(t) for t in texts]
    for many in (texts, texts * 200):  # read by the tables, or by numpy (several blocks)
        assert vector(many) is None
        assert fast(many) is None


def test_many_distinct_parts_stay_bounded_and_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "PARTS_KEPT", 50)
    texts = [(EPOCH + dt.timedelta(seconds=7919 * k)).isoformat() for k in range(200)]
    for chunk in (texts[:120], texts[60:], texts):
        assert fast(chunk) == [reference(t) for t in chunk]
        assert len(ingest._HOUR_US) <= 200 and len(ingest._REST_US) <= 200  # noqa: SLF001


# ---- many instants at once (ingest.vector_micros, numpy) and the request's one instant --------


def vector(texts: list[Any]) -> list[int] | None:
    """vector_micros, and the same without numpy's date parser (the matrix reader alone, which
    reads what the parser leaves: other years, several offsets): both give the same answer."""
    def run() -> list[int] | None:
        try:
            return ingest.vector_micros(texts)
        except ingest._Slow:  # noqa: SLF001 - the path under test
            return None

    got = run()
    saved = ingest._datetime64_micros  # noqa: SLF001
    ingest._datetime64_micros = lambda *args: None  # noqa: SLF001
    try:
        assert run() == got
    finally:
        ingest._datetime64_micros = saved  # noqa: SLF001
    return got


@SETTINGS
@given(st.lists(instant_texts(), min_size=1, max_size=6), st.integers(1, 40), st.data())
def test_every_instant_read_by_columns_is_parse_instants(texts: list[str], copies: int, data: Any) -> None:
    # one drawn text repeated (one form, as one system writes a ledger) with the others at
    # random places: either refused or every instant exactly parse_instant's
    many = [texts[0]] * copies
    for text in texts[1:]:
        many.insert(data.draw(st.integers(0, len(many))), text)
    wanted = [reference(t) for t in many]
    got = vector(many)
    if got is not None:
        assert got == wanted
        assert None not in wanted


@SETTINGS
@given(st.lists(st.builds(
    lambda us, minutes, digits: (lambda at: at.isoformat(timespec=digits).replace("+00:00", "Z") if minutes == 0
                                 else at.isoformat(timespec=digits))(
        (EPOCH + dt.timedelta(microseconds=us)).astimezone(dt.timezone(dt.timedelta(minutes=minutes)))),
    st.integers(-2 * 10**15, 3 * 10**16),  # 1906 to 2920
    st.sampled_from((0, 330, -480, 13 * 60 + 45, 23 * 60 + 59, -(23 * 60 + 59))),
    st.just("seconds") | st.just("milliseconds") | st.just("microseconds")), min_size=1, max_size=1100),
    st.integers(0, 2))
def test_well_formed_instants_of_one_form_are_read_by_columns(texts: list[str], form: int) -> None:
    texts = [texts[0][:19] + texts[0][19:]] * (form == 2) + texts  # the same first, or not
    wanted = [reference(t) for t in texts]
    assert None not in wanted
    got = vector(texts)
    if len({len(t) for t in texts}) == 1 and len({t.endswith("Z") for t in texts}) == 1:
        assert got == wanted  # one form: taken by columns, over several blocks past 512
    assert got is None or got == wanted
    assert fast(texts) == wanted  # instant_micros: by columns or, for mixed forms, by its tables


@pytest.mark.parametrize("bad", [
    "2026-02-29T10:00:00Z", "2024-02-30T10:00:00Z", "2026-04-31T10:00:00Z", "2026-13-01T10:00:00Z",
    "2026-00-01T10:00:00Z", "2026-01-00T10:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T10:60:00Z",
    "2026-01-01T10:00:60Z", "1900-12-31T10:00:00Z", "2999-01-01T10:00:00Z", "2026-01-01t10:00:00Z",
    "2026-01-01T10:00:00z", "2026-01-01 10:00:00Z",
])
def test_one_bad_instant_among_many_is_refused_by_columns(bad: str) -> None:
    good = [f"2026-01-{d:02d}T10:00:00Z" for d in range(1, 29)] * 40
    for at in (0, 517, len(good)):
        texts = [*good[:at], bad, *good[at:]]
        assert vector(texts) is None
        got = fast(texts)  # the tables either refuse it too or read it as parse_instant does
        assert got is None or got == [reference(t) for t in texts]
    assert vector(["2024-02-29T23:59:59.5-23:59"] * 3) == [reference("2024-02-29T23:59:59.5-23:59")] * 3


@SETTINGS
@given(instant_texts())
def test_the_requests_instant_is_parse_instants(text: str) -> None:
    try:
        at = parse_instant(text, where("x"))
    except InputError:
        for _ in range(2):
            with pytest.raises(ingest._Slow):  # noqa: SLF001
                ingest.one_instant(text)
    else:
        for _ in range(2):  # the second time from the parts the first kept in the tables
            got = ingest.one_instant(text)
            assert got == at and got.tzinfo is at.tzinfo


@SETTINGS
@given(st.lists(st.builds(
    lambda us, minutes: (EPOCH + dt.timedelta(microseconds=us)).astimezone(dt.timezone(dt.timedelta(minutes=minutes))),
    st.integers(-2 * 10**15, 3 * 10**16), st.sampled_from((0, 330, -480, 23 * 60 + 59, -(23 * 60 + 59)))),
    max_size=20))
def test_epoch_micros_of_datetimes_is_calendar_arithmetic(moments: list[dt.datetime]) -> None:
    import calendar

    from policylang.history import epoch_micros

    wanted = [calendar.timegm(m.utctimetuple()) * 1_000_000 + m.microsecond for m in moments]
    assert epoch_micros(moments) == wanted

"""An instant's fraction of a second reads the same on every Python version (issue 11).

RFC 3339 allows any number of fraction digits. policylang takes 1 to 9 (the pattern's
bound), reads them to the microsecond and drops digits past the sixth (docs/language.md,
"Instants"). Python 3.10's ``datetime.fromisoformat`` reads only 3 or 6 digits, 3.11 and
later any number: the validating path (``inputs.parse_instant``) and every fast reader in
ingest must agree on every version, so the expected values here come from arithmetic on
the digits, not from any parser, and the last test runs the readers with a
``fromisoformat`` as strict as 3.10's, whatever version runs the suite.
"""

from __future__ import annotations

import datetime as dt
import json
import types
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policylang
from policylang import ingest, inputs
from policylang.errors import InputError
from policylang.inputs import parse_instant, where

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

POLICY = """
policy "fractions"
channels phone, email
purposes marketing
teams cards

customer
  timezone zone

cap "two a day": at most 2 marketing per 1 day
"""


def micros_of(date: tuple[int, int, int], clock: tuple[int, int, int], digits: str, offset_minutes: int) -> int:
    """Epoch microseconds by arithmetic: the fraction's first six digits, padded with zeros."""
    day = (dt.date(*date) - EPOCH.date()).days
    fraction = int((digits[:6] + "000000")[:6]) if digits else 0
    seconds = day * 86_400 + clock[0] * 3600 + clock[1] * 60 + clock[2] - offset_minutes * 60
    return seconds * 1_000_000 + fraction


def text_of(date: tuple[int, int, int], clock: tuple[int, int, int], digits: str, offset_minutes: int) -> str:
    sign = "-" if offset_minutes < 0 else "+"
    offset = "Z" if offset_minutes == 0 else f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
    fraction = "." + digits if digits else ""
    return "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}".format(*date, *clock) + fraction + offset


FIXED = [
    ("2026-11-24T10:00:00.5Z", 500_000),
    ("2026-11-24T10:00:00.05Z", 50_000),
    ("2026-11-24T10:00:00.123Z", 123_000),
    ("2026-11-24T10:00:00.1234Z", 123_400),
    ("2026-11-24T10:00:00.12345Z", 123_450),
    ("2026-11-24T10:00:00.123456Z", 123_456),
    ("2026-11-24T10:00:00.1234567Z", 123_456),  # dropped, not rounded
    ("2026-11-24T10:00:00.999999999Z", 999_999),
    ("2026-11-24T10:00:00.000000001Z", 0),
    ("2026-11-24T10:00:00.7+01:00", 700_000),
]


def us(at: dt.datetime) -> int:
    return (at - EPOCH) // dt.timedelta(microseconds=1)


def slow(text: str) -> int | None:
    try:
        return us(parse_instant(text, where("x")))
    except InputError:
        return None


def readers(text: str) -> dict[str, int | None]:
    """What every instant reader makes of ``text`` (None: it gives up or refuses)."""
    found: dict[str, int | None] = {"parse_instant": slow(text)}
    for name, read in (("tables", lambda: ingest.instant_micros([text, text])[0]),
                       ("vector", lambda: ingest.vector_micros([text] * 3)[0]),
                       ("request", lambda: us(ingest.one_instant(text))),
                       ("moments", lambda: us(ingest.fast_moments([text])[0].astimezone(dt.timezone.utc)))):
        try:
            found[name] = read()
        except (ingest._Slow, ValueError):  # noqa: SLF001 - the paths under test
            found[name] = None
    return found


@pytest.mark.parametrize(("text", "fraction"), FIXED)
def test_a_fraction_of_any_length_is_read_to_the_microsecond(text: str, fraction: int) -> None:
    hours = 1 if text.endswith("+01:00") else 0
    wanted = us(dt.datetime(2026, 11, 24, 10 - hours, tzinfo=dt.timezone.utc)) + fraction
    assert slow(text) == wanted
    # a fast reader may give up (the validating path then reads it) but never reads it otherwise
    assert set(readers(text).values()) <= {wanted, None}


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.tuples(st.integers(1901, 2998), st.integers(1, 12), st.integers(1, 28)),
       st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)),
       st.text("0123456789", min_size=0, max_size=9),
       st.sampled_from((0, 60, -60, 330, -(23 * 60 + 59), 23 * 60 + 59)))
def test_every_reader_agrees_with_arithmetic(date: tuple[int, int, int], clock: tuple[int, int, int],
                                              digits: str, offset: int) -> None:
    text = text_of(date, clock, digits, offset)
    wanted = micros_of(date, clock, digits, offset)
    assert slow(text) == wanted
    assert set(readers(text).values()) <= {wanted, None}


def test_ten_fraction_digits_are_refused_everywhere() -> None:
    text = "2026-11-24T10:00:00.1234567890Z"
    assert set(readers(text).values()) == {None}


def test_decide_json_reads_a_one_digit_fraction_on_both_paths() -> None:
    policy = policylang.compile(POLICY, "<fractions>")
    # two contacts in the day before the request, the first exactly a day earlier plus half a second
    ledger = [{"at": "2026-11-23T10:00:00.5Z", "channel": "email", "purpose": "marketing", "team": "cards"},
              {"at": "2026-11-23T12:00:00Z", "channel": "email", "purpose": "marketing", "team": "cards"}]
    document = {"customer": {"id": "ada", "timezone": "Europe/London"},
                "request": {"team": "cards", "channel": "phone", "purpose": "marketing", "at": "2026-11-24T10:00:00.25Z"},
                "ledger": ledger}
    text = json.dumps(document)
    fast = ingest.decide_json(policy, text).to_dict()
    checked = ingest.slow_decide_json(policy, text).to_dict()
    assert fast == checked
    assert fast["allowed"] is False  # 10:00:00.5 the day before lies within the day before 10:00:00.25
    assert fast["next_allowed_at"] == "2026-11-24T10:00:00.500000+00:00"


class _Strict310(dt.datetime):
    """A datetime whose ``fromisoformat`` refuses fractions as Python 3.10's does."""

    @classmethod
    def fromisoformat(cls, text: str) -> Any:
        import re

        found = re.search(r"[:]\d\d\.(\d+)", text)
        if found and len(found.group(1)) not in (3, 6):
            raise ValueError(f"Invalid isoformat string: {text!r}")
        return dt.datetime.fromisoformat(text)


def test_the_readers_agree_with_a_fromisoformat_as_strict_as_python_310s(monkeypatch: pytest.MonkeyPatch) -> None:
    strict = types.SimpleNamespace(**{name: getattr(dt, name) for name in dir(dt) if not name.startswith("__")})
    strict.datetime = _Strict310
    monkeypatch.setattr(inputs, "dt", strict)
    monkeypatch.setattr(ingest, "dt", strict)
    with pytest.raises(ValueError):
        strict.datetime.fromisoformat("2026-11-24T10:00:00.5+00:00")  # the emulation holds
    for text, fraction in FIXED:
        hours = 1 if text.endswith("+01:00") else 0
        wanted = us(dt.datetime(2026, 11, 24, 10 - hours, tzinfo=dt.timezone.utc)) + fraction
        found = readers(text)
        assert found["parse_instant"] == wanted
        assert set(found.values()) <= {wanted, None}

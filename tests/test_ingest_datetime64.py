"""The common case of a ledger's instants read by numpy's date parser (ingest._datetime64_micros,
issue 11) is exactly inputs.parse_instant's, and gives up on everything else.

The common case: every instant of one form, one ending (Z, or one offset), years 2000 to 2899.
The reference is parse_instant itself (and, for the expected values of well-formed instants,
datetime arithmetic); nothing here shares code with the reader under test. Every list of
texts either gives up (``_Slow``: the tables or the validating path then read it) or gives
each text's epoch microseconds exactly.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylang import ingest
from policylang.rules import Policy
from tests.strategies import displacement_scenarios, scenarios
from tests.test_ingest import outcome
from tests.test_ingest_instants import reference

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def common(texts: list[str]) -> list[int] | None:
    """The numpy reader alone (no general matrix reader behind it), or None when it gives up."""
    try:
        return ingest.vector_micros(texts, general=False)
    except ingest._Slow:  # noqa: SLF001 - the path under test
        return None


def written(us: int, minutes: int, digits: str) -> str:
    """The instant ``us`` written with offset ``minutes`` (Z for 0) and ``digits`` of fraction."""
    at = (EPOCH + dt.timedelta(microseconds=us)).astimezone(dt.timezone(dt.timedelta(minutes=minutes)))
    text = at.isoformat(timespec=digits)
    return text.replace("+00:00", "Z") if minutes == 0 else text


Y2000, Y2900 = (int((dt.datetime(y, 1, 1, tzinfo=dt.timezone.utc) - EPOCH).total_seconds()) * 10**6 for y in (2000, 2900))
DAY = 86_400 * 10**6


@SETTINGS
@given(st.lists(st.integers(Y2000 + DAY, Y2900 - DAY), min_size=1, max_size=300),
       st.sampled_from((0, 60, 330, -480, 13 * 60 + 45, 23 * 60 + 59, -(23 * 60 + 59))),
       st.sampled_from(("seconds", "milliseconds", "microseconds")))
def test_instants_of_one_form_and_offset_are_read_by_numpy_exactly(instants: list[int], minutes: int,
                                                                   digits: str) -> None:
    texts = [written(us, minutes, digits) for us in instants]
    wanted = [reference(t) for t in texts]
    assert None not in wanted
    assert common(texts) == wanted  # taken, and exact
    assert wanted == [us - us % (10**6 if digits == "seconds" else 10**3 if digits == "milliseconds" else 1)
                      for us in instants]


@SETTINGS
@given(st.lists(st.tuples(st.integers(1999, 2901), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
                          st.integers(0, 61), st.integers(0, 61)), min_size=1, max_size=8),
       st.sampled_from(("", ".5", ".05", ".123456")),
       st.sampled_from(("Z", "+00:00", "-00:00", "+05:30", "+23:59", "-23:59", "+24:00", "+01:60", "-00:99")),
       st.integers(1, 30))
def test_any_fields_are_read_as_parse_instant_reads_them_or_refused(fields: list[tuple[int, ...]], fraction: str,
                                                                     ending: str, copies: int) -> None:
    # one form and one ending (so the numpy reader is tried), every field at and past its edges
    texts = [f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{fraction}{ending}" for y, mo, d, h, mi, s in fields]
    texts = texts * copies
    wanted = [reference(t) for t in texts]
    got = common(texts)
    if got is not None:
        assert got == wanted
        assert None not in wanted
    elif None not in wanted and {t[:2] for t in texts} == {"20"} and not any(t[2] == "9" for t in texts):
        pytest.fail(f"well-formed instants of one form in 2000-2899 were not taken: {texts[:3]}")


@pytest.mark.parametrize("bad", [
    "2026-02-29T10:00:00Z", "2024-02-30T10:00:00Z", "2026-04-31T10:00:00Z", "2026-13-01T10:00:00Z",
    "2026-00-01T10:00:00Z", "2026-01-00T10:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T10:60:00Z",
    "2026-01-01T10:00:60Z", "2100-02-29T10:00:00Z",
    # a + where the date has a dash: the shape reads + as - (for the offset's sign)
    "2026+01-01T10:00:00Z", "2026-01+01T10:00:00Z",
])
def test_one_bad_instant_among_many_is_refused(bad: str) -> None:
    good = [f"2026-01-{d:02d}T10:00:00Z" for d in range(1, 29)] * 10
    for at in (0, 141, len(good)):
        texts = [*good[:at], bad, *good[at:]]
        assert common(texts) is None
        with pytest.raises(ingest._Slow):  # noqa: SLF001 - the general reader refuses it too
            ingest.vector_micros(texts)
        got = _instant_micros(texts)  # the tables refuse it, or read it as parse_instant does
        assert got is None or got == [reference(t) for t in texts]


def test_a_bad_instant_among_thousands_is_refused_without_crashing_numpy() -> None:
    # numpy's string-to-datetime cast over more than 500 elements reports a bad date without
    # the interpreter's lock: a segmentation fault (numpy 2.4.6). Run apart, so that a crash
    # fails this test instead of ending the run.
    import subprocess
    import sys

    script = """if True:
        from policylang import ingest
        good = [f"2026-01-{d:02d}T10:00:00+01:00" for d in range(1, 29)] * 80
        for bad in ("2026-02-30T10:00:00+01:00", "2026-01-01T24:00:00+01:00", "2026-01-01T10:00:60+01:00"):
            for at in (0, 501, 1000, len(good)):
                texts = [*good[:at], bad, *good[at:]]
                for general in (False, True):
                    try:
                        ingest.vector_micros(texts, general=general)
                    except ingest._Slow:
                        pass
                    else:
                        raise SystemExit(f"{bad} at {at} was taken")
        assert ingest.vector_micros(good, general=False)[-1] == 1769590800000000
        print("refused")
    """
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=__file__.rsplit("/tests/", 1)[0])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "refused"


def _instant_micros(texts: list[str]) -> list[int] | None:
    try:
        return ingest.instant_micros(texts)
    except ingest._Slow:  # noqa: SLF001
        return None


@pytest.mark.parametrize(("texts", "why"), [
    (["2026-01-01T10:00:00+05:30"] * 50 + ["2026-01-01T10:00:00+05:31"], "one offset differs"),
    (["2026-01-01T10:00:00+05:30"] * 50 + ["2026-01-01T10:00:00-05:30"], "one offset's sign differs"),
    (["2026-01-01T10:00:00+05:30"] * 50 + ["2026-01-01T10:00:00+15:30"], "one offset's hours differ"),
    (["2026-01-01T10:00:00+05:30"] * 50 + ["2026-01-01T10:00:00+05:20"], "one offset's minutes differ"),
    (["2026-01-01T10:00:00Z"] * 50 + ["1999-12-31T10:00:00Z"], "a year before 2000"),
    (["2026-01-01T10:00:00Z"] * 50 + ["2900-01-01T10:00:00Z"], "a year from 2900"),
    (["2026-01-01T10:00:00Z"] * 50 + ["1926-01-01T10:00:00Z"], "a year of another century"),
    (["1950-01-01T10:00:00Z"] * 51, "years before 2000"),
])
def test_anything_but_the_common_case_is_left_to_the_other_readers(texts: list[str], why: str) -> None:
    assert common(texts) is None, why
    wanted = [reference(t) for t in texts]
    assert ingest.vector_micros(texts) == wanted  # the general (matrix) reader takes it, exactly
    assert _instant_micros(texts) == wanted


@pytest.mark.parametrize("bad", ["1950+01-01T10:00:00Z", "1950-01+01T10:00:00Z", "2026+01+01T10:00:00+01:00",
                                 "1950-01-01T10:00:00Z".replace("-", "+")])
def test_a_plus_for_a_dash_in_a_date_is_refused_by_every_reader(bad: str) -> None:
    # the shape of an instant reads + as - (for an offset's sign); a date's dashes are checked
    # apart, for the matrix reader too (years outside 2000-2899 are its)
    good = bad[:4] + "-01-01" + bad[10:]
    for texts in ([bad] * 3, [good] * 40 + [bad], [bad] + [good] * 400):
        assert reference(bad) is None
        with pytest.raises(ingest._Slow):  # noqa: SLF001
            ingest.vector_micros(texts)
        assert _instant_micros(texts) is None


@pytest.mark.parametrize("ending", ["+24:00", "-23:60", "+99:00"])
def test_an_offset_out_of_range_on_every_instant_is_refused(ending: str) -> None:
    texts = [f"2026-01-{d:02d}T10:00:00{ending}" for d in range(1, 29)]
    assert None in [reference(t) for t in texts]
    assert common(texts) is None
    assert _instant_micros(texts) is None


def test_instant_micros_takes_numpy_from_its_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [f"2026-01-{d:02d}T10:00:00+01:00" for d in range(1, 29)]
    calls: list[bool] = []
    real = ingest._datetime64_micros  # noqa: SLF001

    def spy(*args: Any) -> Any:
        calls.append(True)
        return real(*args)

    monkeypatch.setattr(ingest, "_datetime64_micros", spy)
    monkeypatch.setattr(ingest, "DATETIME64_FROM", 29)
    assert _instant_micros(texts) == [reference(t) for t in texts]
    assert not calls  # below the threshold: the tables
    monkeypatch.setattr(ingest, "DATETIME64_FROM", 28)
    assert _instant_micros(texts) == [reference(t) for t in texts]
    assert calls  # from it: numpy first


# ---- decide_json: the same decision or the same error, with every instant of one form ---------

BAD_LINES = (
    "2026-02-30T10:00:00", "2026-01-01T24:00:00", "2026-01-01T10:60:00", "2026-13-01T10:00:00",
    "2026+01-01T10:00:00", "1999-12-31T10:00:00",
)


@st.composite
def documents(draw: Any) -> tuple[Policy, str]:
    """A section 10 document whose ledger writes every instant one way (one offset, one
    fraction), perhaps with one line in that form holding a bad date or time, anywhere."""
    _, policy, customer, request, ledger = draw(st.one_of(scenarios(), displacement_scenarios()))
    minutes = draw(st.sampled_from((0, 0, 330, -480)))
    digits = draw(st.sampled_from(("seconds", "milliseconds")))
    zone = dt.timezone(dt.timedelta(minutes=minutes))
    ending = "Z" if minutes == 0 else dt.datetime(2026, 1, 1, tzinfo=zone).isoformat()[-6:]

    def text(at: dt.datetime) -> str:
        return at.astimezone(zone).replace(tzinfo=None).isoformat(timespec=digits) + ending

    objects: list[dict[str, Any]] = []
    for entry in ledger:
        obj = entry.to_dict()
        obj["at"] = text(entry.at)
        objects.append(obj)
    if draw(st.booleans()):
        bad = draw(st.sampled_from(BAD_LINES)) + (".000" if digits == "milliseconds" else "") + ending
        objects.insert(draw(st.integers(0, len(objects))),
                       {"at": bad, "channel": policy.channels[0], "purpose": policy.purposes[0], "team": policy.teams[0]})
    request_obj = {"team": request.team, "channel": request.channel, "purpose": request.purpose,
                   "at": request.at.isoformat()}
    document = {"customer": {"id": "c1", **customer}, "request": request_obj, "ledger": objects}
    return policy, json.dumps(document)


@SETTINGS
@given(documents())
def test_decide_json_with_numpys_reader_gives_the_validating_paths_answer(case: tuple[Policy, str],
                                                                          ) -> None:
    policy, text = case
    slow = outcome(lambda: ingest.slow_decide_json(policy, text, file="doc.json"))
    saved = ingest.DATETIME64_FROM
    ingest.DATETIME64_FROM = 1  # every ledger's instants through numpy's reader first
    try:
        assert outcome(lambda: ingest.decide_json(policy, text, file="doc.json")) == slow
    finally:
        ingest.DATETIME64_FROM = saved
    assert outcome(lambda: ingest.decide_json(policy, text.encode(), file="doc.json")) == slow


@pytest.mark.parametrize("ending", ["Z", "+01:00"])
@pytest.mark.parametrize("year", [2026, 1950])  # numpy's date parser, or the matrix reader
def test_a_ledger_whose_instants_join_well_but_split_badly_gets_the_validating_paths_error(ending: str,
                                                                                          year: int) -> None:
    # two lines' `at` read as one well-formed instant each only across each other: the
    # joined texts are well formed, the texts are not (issue 11: the column readers took them)
    import policylang

    policy = policylang.load(__file__.rsplit("/tests/", 1)[0] + "/examples/northwind.pol")
    lines = [{"at": f"{year}-03-{1 + k % 28:02d}T10:{k % 60:02d}:00{ending}", "channel": "email",
              "purpose": "servicing", "team": "cards"} for k in range(420)]
    whole = lines[300]["at"] + lines[301]["at"]
    lines[300]["at"], lines[301]["at"] = whole[:13], whole[13:]
    document = {"customer": {"id": "ada", "timezone": "Europe/London", "status": "active",
                             "owner": "wealth_management"},
                "request": {"team": "cards", "channel": "email", "purpose": "servicing",
                            "at": f"{year}-04-01T10:00:00Z"},
                "ledger": lines}
    text = json.dumps(document)
    slow = outcome(lambda: ingest.slow_decide_json(policy, text, file="doc.json"))
    assert slow[0] == "error" and "ledger entry 301" in slow[1][1]
    assert outcome(lambda: ingest.decide_json(policy, text, file="doc.json")) == slow

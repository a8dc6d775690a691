"""Ingestion on the real paths: a decision from JSON text, from plain mappings, from records.

Two paths give one answer. The *fast path* parses with orjson (when installed) and turns
well-formed ledger objects straight into the evaluator's index (:class:`History`): the
names are checked against sets built once per policy, all instants are checked over the
joined column and read by the C ``datetime.fromisoformat`` (their conversion to epoch
microseconds, the costly part, is left to the history, which does it for the shapes a rule
asks about), and contacts are built without re-running the attrs converters. It never
reports an error: whenever anything is unusual (a name it does not
know, an instant in a form it does not handle, a ``null``, a backslash escape, a duplicate
key, a JSON syntax error) it gives up and the *validating path* (:mod:`policylang.inputs`)
does the work again, producing the decision or the exact positioned error. So the fast
path accepts a subset of what the validating path accepts, and agrees with it there;
``tests/test_ingest.py`` holds it to that.

Why orjson: parsing the section 10 document is the floor of this path, and on the
benchmark machine orjson parses it in about half the time of ``json.loads`` (msgspec's
untyped decoder is as fast; orjson is the smaller dependency). No JSON parser refuses a
duplicate key, so the fast path proves there is none by counting: without backslash
escapes every string token of the text contributes exactly two ``"``, so the text has
twice as many quotes as the parsed tree has keys and string values unless a key was
overwritten.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import re
from collections.abc import Iterable, Mapping
from itertools import compress, filterfalse, repeat
from operator import add, attrgetter, itemgetter, methodcaller, not_

from policylang.decision import Decision
from policylang.errors import InputError, did_you_mean
from policylang.history import History, epoch_micros
from policylang.inputs import (
    customer_from_json,
    entry_from_json,
    load_json,
    parse_instant,
    request_from_json,
    where,
)
from policylang.records import (
    CONTACT_STATUSES,
    FIRST_YEAR,
    LAST_YEAR,
    Contact,
    Customer,
    Entry,
    Event,
    Request,
    VoidLine,
)
from policylang.rules import Policy
from policylang.slotted import fields, frozen
from policylang.source import Source, Span

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, cast
else:
    from policylang.annotations import Any, cast


def _first_parse(data: Any) -> Any:
    """``orjson.loads``, imported on the first parse: importing orjson imports dataclasses,
    inspect and uuid, a tenth of a cold ``policylang decide`` that parses nothing with it."""
    global _parse
    try:  # an optional speed-up: without it the fast path parses with the standard library
        import orjson

        _parse = orjson.loads
    except ImportError:  # pragma: no cover - orjson is a dependency; this keeps a broken install working
        _parse = json.loads
    return _parse(data)


_parse: Any = _first_parse
# orjson.JSONDecodeError is a ValueError (json.JSONDecodeError's subclass); json raises RecursionError
_PARSE_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, RecursionError)

UTC = dt.timezone.utc
DOCUMENT_FIELDS = ("customer", "request", "ledger")
CONTACT_KEYS = frozenset(("at", "channel", "purpose", "team", "status", "outcome", "campaign", "id", "customer"))
EVENT_KEYS = frozenset(("at", "event", "customer", "id"))
STATUSES = frozenset(CONTACT_STATUSES)

# The instants the fast path converts itself: a subset of what inputs.parse_instant accepts.
# Digits become 0 and + becomes -, so every instant must read like one of SHAPES (upper-case
# T and Z, seconds present, at most six fraction digits); the distinct endings (fraction and
# offset) must be a strict RFC 3339 offset; and the instants must lie clear of the
# FIRST_YEAR/LAST_YEAR edges, where an offset can move the UTC year.
_DIGITS = str.maketrans("123456789+", "000000000-")
SHAPES = frozenset(
    "0000-00-00T00:00:00" + fraction + offset
    for fraction in ("", *("." + "0" * n for n in range(1, 7)))
    for offset in ("Z", "-00:00")
)
ENDING = re.compile(r"(?:\.\d{1,6})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)")
_ENDING = itemgetter(slice(19, None))
EARLIEST = dt.datetime(FIRST_YEAR + 1, 1, 2, tzinfo=dt.timezone.utc)
LATEST = dt.datetime(LAST_YEAR - 1, 12, 30, tzinfo=dt.timezone.utc)


def fast_instants(instants: list[str]) -> tuple[list[dt.datetime], list[int]]:
    """Aware datetimes and epoch microseconds of RFC 3339 texts; :class:`_Slow` for any
    text outside the fast path's forms (the validating path then accepts or refuses it)."""
    moments = fast_moments(instants)
    return moments, epoch_micros(moments)


def fast_moments(instants: list[str]) -> list[dt.datetime]:
    """Aware datetimes of RFC 3339 texts, as :func:`policylang.inputs.parse_instant` reads
    them (but not yet UTC); :class:`_Slow` for any text outside the fast path's forms,
    ``ValueError`` for a date like 02-30. Converting them to epoch microseconds, the costly
    part, is left to whoever needs the instants (:meth:`History.from_moments` does it a
    shape at a time, for the contacts a rule can count)."""
    _shaped(instants)
    moments = list(map(dt.datetime.fromisoformat, instants))  # ValueError for 2026-02-30
    if min(moments) < EARLIEST or max(moments) > LATEST:
        raise _Slow
    return moments


def _shaped(instants: list[str]) -> str:
    """The instants joined by newlines, checked against SHAPES and ENDING (else :class:`_Slow`)."""
    joined = "\n".join(instants)  # TypeError for a value that is not a text
    shapes = set(joined.translate(_DIGITS).split("\n"))
    if not shapes <= SHAPES or len(instants) != joined.count("\n") + 1:
        raise _Slow
    # Z needs no more checking; an offset's hours and minutes do
    if not all(map(methodcaller("endswith", "Z"), shapes)) and not all(
            map(ENDING.fullmatch, set(map(_ENDING, instants)))):
        raise _Slow
    return joined


class _Slow(Exception):
    """The fast path gives up; the validating path decides (or reports the error)."""


# ---- instants straight to epoch microseconds ----------------------------------------------------
#
# An instant in the fast path's form is a date and hour, and the rest (the minutes, the
# seconds, an optional fraction, then Z or an offset): 2026-10-03T10:38:05.25+02:00 is
# 2026-10-03T10 and :38:05.25+02:00. Its epoch microseconds are the sum of one number for each
# part, and a ledger repeats few hours (24 a day: 8,760 for a year) and few rests (3,600 for each
# kind of ending, without a fraction), so each distinct part is checked and converted once (and
# kept for later calls) while the per-instant work is two slices, two dictionary look-ups and
# an addition, loops in C. (Three parts, the date, the hour and minute and the rest, made
# smaller tables but cost half as much again: a look-up costs less than a slice and an
# addition more.) No datetime is made: reading every instant by fromisoformat and converting
# it cost more. Each part is checked completely (digits in [0-9] only, the hour, minute,
# second and offset ranges, a real date, years clear of FIRST_YEAR and LAST_YEAR, which an
# offset cannot move past), so every text accepted here is one that inputs.parse_instant
# accepts, with the same instant; anything else gives up (:class:`_Slow`).

_HOUR_PART = itemgetter(slice(0, 13))
_REST_PART = itemgetter(slice(13, None))
_HOUR_FORM = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})T((?:[01][0-9]|2[0-3]))")
_REST_FORM = re.compile(r":([0-5][0-9]):([0-5][0-9])(?:\.([0-9]{1,6}))?(?:Z|([+-])((?:[01][0-9]|2[0-3])):([0-5][0-9]))")
_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()
_HOUR_US: dict[str, int] = {}
_REST_US: dict[str, int] = {}
PARTS_KEPT = 50_000  # distinct parts of each kind kept between calls (a bound on memory)


def _hour_us(text: str) -> int:
    found = _HOUR_FORM.fullmatch(text)
    if not found:
        raise _Slow
    try:
        day = dt.date.fromisoformat(found[1])
    except ValueError:  # 2026-02-30: the validating path says so
        raise _Slow from None
    if not FIRST_YEAR < day.year < LAST_YEAR:
        raise _Slow
    return ((day.toordinal() - _EPOCH_DAY) * 24 + int(found[2])) * 3_600_000_000


def _rest_us(text: str) -> int:
    found = _REST_FORM.fullmatch(text)
    if not found:
        raise _Slow
    minute, second, fraction, sign, hours, minutes = found.groups()
    offset = 0 if sign is None else (int(hours) * 60 + int(minutes)) * (1 if sign == "+" else -1)
    seconds = int(minute) * 60 + int(second) - offset * 60
    return seconds * 1_000_000 + (int(fraction.ljust(6, "0")) if fraction else 0)


def _looked_up(parts: list[str], kept: dict[str, int], convert: Any) -> list[int]:
    """The number of each part, converting (and keeping) the parts not seen before."""
    try:
        return list(map(kept.__getitem__, parts))
    except KeyError:
        pass
    new = {part: convert(part) for part in set(parts).difference(kept)}  # _Slow for a part out of form
    if len(kept) + len(new) > PARTS_KEPT:
        kept.clear()
    kept.update(new)
    try:
        return list(map(kept.__getitem__, parts))
    except KeyError:  # another thread cleared the table meanwhile: this call's own table
        table = dict(kept)
        table.update({part: convert(part) for part in set(parts).difference(table)})
        return list(map(table.__getitem__, parts))


def instant_micros(instants: list[Any] | tuple[Any, ...]) -> list[int]:
    """Epoch microseconds of RFC 3339 instant texts, exactly as
    :func:`policylang.inputs.parse_instant` reads them; :class:`_Slow` for anything outside
    the fast path's forms (see above), including a value that is not a text."""
    if not instants:
        return []
    size = len(instants)
    if size >= DATETIME64_FROM or size >= VECTOR_FROM:
        try:
            return vector_micros(instants, general=size >= VECTOR_FROM)
        except _Slow:
            pass  # mixed forms, or a bad one: the tables below take the first, refuse the second
    try:
        # each text is its date and hour (with the T between) and its rest: nothing is left out
        return list(map(add, map(_HOUR_US.__getitem__, map(_HOUR_PART, instants)),
                        map(_REST_US.__getitem__, map(_REST_PART, instants))))
    except KeyError:  # a part not seen before (or a text too short to hold both parts)
        pass
    except TypeError:  # not a text
        raise _Slow from None
    try:
        hours = _looked_up(list(map(_HOUR_PART, instants)), _HOUR_US, _hour_us)
        rests = _looked_up(list(map(_REST_PART, instants)), _REST_US, _rest_us)
    except (TypeError, KeyError):  # not a text (a list slices, but is no key)
        raise _Slow from None
    return list(map(add, hours, rests))


# ---- many instants at once, by numpy --------------------------------------------------------------
#
# From VECTOR_FROM instants of one form (the common case: one system wrote the ledger), the
# texts are joined into one byte string and read as a matrix of characters. Their form is
# checked in C without numpy: with every digit mapped to 0 and + to -, the bytes must be one
# of SHAPES repeated (every text the same length, so the rows line up). Then one product of
# the matrix with a table of digit weights gives every field of every instant at once (the
# year and month as one month number, the day, the second of the day, the fraction in
# microseconds, the offset in seconds, and the hour, minute, second and offset parts alone
# for their range checks), a month table gives the first day of each month since the epoch
# and its length (a real date: 02-29 only in leap years), and the rest is arithmetic on
# columns. Measured in one loop: the same cost as the tables below at about 100 instants
# (numpy's cost per call, some 25 us, dominates), three times less at 1,000.

VECTOR_FROM = 350  # measured in one loop: the tables cost less below about 350 instants, more above
# Instants read at a time. Small enough that the product (rows x 32 characters x 11 fields at
# most) stays under OpenBLAS's size for using several threads (262,144): measured on 30,000
# instants, 512 or 1,024 a block took 8 ms, 2,048 (two threads, on a busy two-core machine)
# 104 ms, all at once 20 ms; the arrays of a block also stay in the processor's cache.
VECTOR_BLOCK = 512
_BYTE_DIGITS = bytes.maketrans(b"123456789+", b"000000000-")
_BYTE_SHAPES = frozenset(shape.encode() for shape in SHAPES)
_YM, _DAY, _SOD, _FRACTION, _OFFSET, _MONTH, _HOUR, _MINUTE, _SECOND, _OFF_HOUR, _OFF_MINUTE = range(11)
_VECTOR_FORMS: dict[bytes, tuple[Any, ...]] = {}
_MONTHS: list[Any] = []  # the first day (since the epoch) and the length of every month handled


def _vector_form(shape: bytes) -> tuple[Any, ...]:
    """The digit weights, the bounds of each field and the sign's column of one instant form."""
    import numpy as np

    text = shape.decode()
    weights = np.zeros((len(text), 11), np.int64)

    def put(field: int, start: int, count: int, scale: int = 1) -> None:
        for k in range(count):
            weights[start + k, field] += scale * 10 ** (count - 1 - k)

    put(_YM, 0, 4, 12)
    put(_YM, 5, 2)
    put(_MONTH, 5, 2)
    put(_DAY, 8, 2)
    for field, start in ((_HOUR, 11), (_MINUTE, 14), (_SECOND, 17)):
        put(field, start, 2)
    put(_SOD, 11, 2, 3600)
    put(_SOD, 14, 2, 60)
    put(_SOD, 17, 2)
    ending = len(text) - (1 if text.endswith("Z") else 6)
    for k in range(20, ending):  # the fraction's digits, if any
        weights[k, _FRACTION] = 10 ** (5 - (k - 20))
    sign = -1
    if not text.endswith("Z"):
        sign = ending
        put(_OFFSET, sign + 1, 2, 3600)
        put(_OFFSET, sign + 4, 2, 60)
        put(_OFF_HOUR, sign + 1, 2)
        put(_OFF_MINUTE, sign + 4, 2)
    zero = 48 * weights.sum(axis=0)  # what the digits' character codes add beyond their values
    lowest = np.array([(FIRST_YEAR + 1) * 12 + 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0]) + zero
    highest = np.array([(LAST_YEAR - 1) * 12 + 12, 31, 86_399, 999_999, 86_340, 12, 23, 59, 59, 23, 59]) + zero
    # float64: the product goes through BLAS, exact for these small integers
    return weights.astype(np.float64), zero, lowest.astype(np.float64), highest.astype(np.float64), sign


def _month_table() -> tuple[Any, Any]:
    """The first day (days since the epoch) and the length of every month from FIRST_YEAR to
    LAST_YEAR, indexed by (year - FIRST_YEAR) * 12 + month - 1 (the civil calendar's day
    count, in arrays: some 13,000 months, built once)."""
    import numpy as np

    if not _MONTHS:
        index = np.arange((LAST_YEAR - FIRST_YEAR + 1) * 12 + 1, dtype=np.int64)  # and the month after the last
        year, month = FIRST_YEAR + index // 12, index % 12 + 1
        year = year - (month <= 2)  # the year counted from March, so February's length comes last
        era, years = year // 400, year % 400
        day_of_year = (153 * np.where(month > 2, month - 3, month + 9) + 2) // 5
        firsts = era * 146_097 + years * 365 + years // 4 - years // 100 + day_of_year - 719_468
        _MONTHS[:] = [firsts[:-1], np.diff(firsts)]
    return _MONTHS[0], _MONTHS[1]


def vector_micros(instants: list[Any] | tuple[Any, ...], general: bool = True) -> list[int]:
    """:func:`instant_micros` of many instants of one form, a column at a time by numpy
    (see above); :class:`_Slow` for texts of several forms or lengths (the tables take
    those) and for anything :func:`instant_micros` refuses. Without ``general``, only the
    common case that numpy's own date parser reads (:func:`_datetime64_micros`) is taken."""
    import numpy as np

    size = len(instants)
    try:
        data = "".join(instants).encode("ascii")
        length = len(instants[0])
        # every text as long as the first (none longer, and all of them as long as the joined
        # bytes): the rows below are the texts, never a text read across two of them
        if len(data) != size * length or max(map(len, instants)) != length:
            raise _Slow
    except (TypeError, UnicodeEncodeError):
        raise _Slow from None
    shapes = data.translate(_BYTE_DIGITS)
    shape = shapes[:length]
    # size occurrences of the first shape, none overlapping, in size * length bytes: every text has it
    if shape not in _BYTE_SHAPES or shapes.count(shape) != size:
        raise _Slow
    # the shape reads + as -, for the offset's sign: the date's own dashes must be dashes
    if data[4::length] != b"-" * size or data[7::length] != b"-" * size:
        raise _Slow
    found = _datetime64_micros(data, size, length, shape)
    if found is not None:
        return found
    if not general:
        raise _Slow
    form = _VECTOR_FORMS.get(shape)
    if form is None:
        form = _VECTOR_FORMS[shape] = _vector_form(shape)
    weights, zero, lowest, highest, sign = form
    firsts, lengths = _month_table()
    micros: list[int] = []
    rows = VECTOR_BLOCK
    for start in range(0, size, rows):  # a block at a time: its arrays stay in the processor's cache
        chars = np.frombuffer(data, np.uint8, min(rows, size - start) * length, start * length).reshape(-1, length)
        fields = chars.astype(np.float64) @ weights
        if ((fields < lowest) | (fields > highest)).any():  # (min and max by column cost twice as much)
            raise _Slow
        values = fields.astype(np.int64)
        values -= zero
        month = values[:, _YM] - (FIRST_YEAR * 12 + 1)
        day = values[:, _DAY]
        if (day > lengths[month]).any():
            raise _Slow  # 02-30, 04-31: the validating path says so
        seconds = (firsts[month] + day - 1) * 86_400 + values[:, _SOD]
        if sign >= 0:  # + is 43 and - is 45 in ASCII
            seconds -= (44 - chars[:, sign].astype(np.int64)) * values[:, _OFFSET]
        micros += (seconds * 1_000_000 + values[:, _FRACTION]).tolist()
    return micros


# ---- the common case, by numpy's own date parser ----------------------------------------------
#
# Most ledgers are written by one system: every instant of one form, one ending (Z, or the same
# offset), years of this millennium. Then numpy parses the local dates and times itself, in C:
# the joined bytes are viewed as fixed-width strings of each instant's part before its ending
# (a strided view, no copy: "2026-10-03T10:38:05" or with its fraction, ".25"), cast to
# datetime64[us]. That cast checks what parse_instant checks (a real date: 02-29 only in leap
# years, hours to 23, minutes and seconds to 59, exactly what the form's digits say) and reads a
# fraction of 1 to 6 digits to the microsecond; it refuses (ValueError) what parse_instant
# refuses. Its form was checked before (every digit a digit, every separator in place: the
# shape), so it never sees anything else - in particular never an offset, for which numpy
# warns (per instant: under warnings.catch_warnings(record=True), numpy 2.4 crashed). The
# years are checked on the bytes (the first digit 2, the second 0 to 8: 2000 to 2899, well
# inside FIRST_YEAR..LAST_YEAR, which no offset can leave), the one ending by comparing
# every instant's with the first's; anything else is the matrix reader's (or the tables').
# Measured alone in one loop (a two-core machine under load): 100 instants 16 us against the
# tables' 28, 300 in 36 against 85, 1,000 in 55-70 us against the matrix reader's 290-350.

# Instants from which instant_micros tries numpy first. Alone in a loop numpy wins from 20-30
# instants, but inside decide_json called among other work (benchmarks/decide.py's loop, a
# service's) its first calls find their code and tables out of the processor's caches: measured
# so, decide_json was 5% slower with numpy at 100 events, 3% faster at 200, 16% at 1,000.
DATETIME64_FROM = 200
_DT64: list[Any] = []  # numpy's datetime64[us] dtype and the strings' dtypes by width, made on first use


def _datetime64_micros(data: bytes, size: int, length: int, shape: bytes) -> list[int] | None:
    """Epoch microseconds of ``size`` instants of ``length`` characters joined in ``data``,
    all of form ``shape`` (checked by the caller), read by numpy's date parser; ``None``
    when they are not the common case above (the caller reads them another way);
    :class:`_Slow` for an instant parse_instant refuses."""
    # years 2000 to 2899: the first digit of every year 2, the second 0 to 8
    if data[0::length] != b"2" * size or data[1::length].translate(None, b"012345678"):
        return None
    ending = length - 1 if shape.endswith(b"Z") else length - 6  # where the Z or the offset starts
    offset = 0
    if ending == length - 6:  # the same offset on every instant (sign, hours and minutes)
        # A + or - stands only at a date's dashes (checked) or an offset's sign, and no six
        # characters from a date's dash read like an offset (the T, a colon, is in the way),
        # so the first instant's offset occurs once in each instant exactly when every
        # instant has it.
        first = data[ending:length]
        if data.count(first) != size:
            return None
        sign, hours, minutes = first[:1], int(first[1:3]), int(first[4:6])
        if hours > 23 or minutes > 59:
            raise _Slow  # not an offset: the validating path says so
        offset = (hours * 3600 + minutes * 60) * 1_000_000 * (1 if sign == b"+" else -1)
    import numpy as np

    if not _DT64:
        _DT64[:] = [np.dtype("M8[us]"), {}]
    micro, widths = _DT64
    width = widths.get(ending)
    if width is None:
        width = widths[ending] = np.dtype(f"S{ending}")
    found: list[int] = []
    for start in range(0, size, DATETIME64_BLOCK):
        rows = min(DATETIME64_BLOCK, size - start)
        try:  # each instant's local date and time (with its fraction) as one fixed-width string
            local = np.ndarray((rows,), width, data, start * length, (length,)).astype(micro)
        except ValueError:  # 2026-02-30, 24:00, :60: the validating path says so
            raise _Slow from None
        micros = local.view(np.int64)
        if offset:
            micros -= offset
        found += micros.tolist()
    return found


# Instants cast at a time: at most 500. numpy lets other threads run during a loop over more
# than 500 elements (NPY_BEGIN_THREADS_THRESHOLDED), and its string-to-datetime cast then
# reports a bad date without holding the interpreter's lock: one bad instant among 501 or more
# crashed the process (numpy 2.4.6, segmentation fault; astropy/astropy#18254 is the same bug
# seen from numpy 2.3.0). At most 500 a cast, the error is an ordinary ValueError.
DATETIME64_BLOCK = 480


@frozen
class Names:
    """A policy's vocabulary, built once per policy: a table from each name to the policy's
    own string (a look-up both checks and shares it), and sets."""

    teams: dict[str, str]
    channels: dict[str, str]
    purposes: dict[str, str]
    outcomes: frozenset[str]
    events: frozenset[str]
    outcomes_or_none: frozenset[str | None]


def names(policy: Policy) -> Names:
    """The policy's name sets (memoised on the policy)."""
    cache: dict[Any, Any] = policy._index  # noqa: SLF001 - the policy's own memo table
    found = cache.get("ingest-names")
    if found is None:
        found = cache["ingest-names"] = Names(
            {n: n for n in policy.teams}, {n: n for n in policy.channels}, {n: n for n in policy.purposes},
            frozenset(policy.outcomes), frozenset(policy.events), frozenset((*policy.outcomes, None)),
        )
    assert isinstance(found, Names)
    return found


Columns = tuple[dict[str, list[Any]], Any, dict[str, list[int]], int]  # micros: list[int] | None


def fast_history(policy: Policy, objects: object, count_nulls: bool = False) -> tuple[History, int]:
    """The index of a ledger given as parsed JSON objects and, with ``count_nulls``, how many
    ``null`` values the objects hold (for the duplicate-key count); raises :class:`_Slow`
    to give up. No :class:`Contact` is made here.
    """
    columns, micros, events, nulls = fast_columns(policy, objects, count_nulls, lazy=True)
    return built(columns, micros, events), nulls


def built(columns: dict[str, list[Any]], micros: list[int] | None, events: dict[str, list[int]]) -> History:
    """The history of fast-path columns: without ``micros``, ``columns["at"]`` holds the
    instants as datetimes, converted when a rule first needs them."""
    if micros is None:
        return History.from_moments(columns, events)
    return History.from_columns(columns, micros, events)


def well_formed_history(policy: Policy, objects: object) -> History | None:
    """The index of a ledger of parsed JSON objects when the fast path can prove every line
    well formed, else ``None`` (the caller then validates line by line for the error)."""
    try:
        return fast_history(policy, objects)[0]
    except _Slow:
        return None


def fast_columns(policy: Policy, objects: object, count_nulls: bool = False, lazy: bool = False) -> Columns:
    """Contact columns, their instants, the events and the null count of parsed ledger
    objects (see :func:`fast_history`).

    Works a column at a time (``map`` with ``itemgetter``, sets of the distinct values), so
    the per-entry work happens in C. Names are replaced by the policy's own strings, so the
    parsed objects can be freed once their columns are taken. The instants are read
    straight to epoch microseconds (:func:`instant_micros`), or with ``lazy`` from
    :data:`LAZY_FROM` objects as datetimes converted by the history a shape at a time
    (``None`` for the micros then; the datetimes are in ``at``).
    """
    if type(objects) is not list:
        raise _Slow
    if not objects:
        return {"at": []}, [], {}, 0
    try:
        if set(map(type, objects)) != {dict}:
            raise _Slow
        keys: set[str] = set().union(*objects)
        moments = lazy and len(objects) >= LAZY_FROM
        instants = cast(list[Any], fast_moments(list(map(_AT, objects))) if moments
                        else instant_micros(list(map(_AT, objects))))
        events: dict[str, list[int]] = {}
        nulls = 0
        contacts, contact_instants = objects, instants
        if "event" in keys:
            flags = ["event" in obj for obj in objects]
            happened = list(compress(objects, flags))
            if not set().union(*happened) <= EVENT_KEYS:
                raise _Slow
            names_given = list(map(_EVENT, happened))
            if not set(names_given) <= vocabulary_events(policy):
                raise _Slow
            event_us = epoch_micros(list(compress(instants, flags))) if moments else compress(instants, flags)
            for name, us in zip(names_given, event_us, strict=True):
                events.setdefault(name, []).append(us)
            nulls += _check_optional(happened, ("customer", "id"), count_nulls)
            kept = [not flag for flag in flags]
            contacts = list(compress(objects, kept))
            contact_instants = list(compress(instants, kept))
            keys = set().union(*contacts)
        if not contacts:
            return {"at": []}, [], events, nulls
        if not keys <= CONTACT_KEYS:
            raise _Slow
        vocabulary = names(policy)
        columns: dict[str, list[Any]] = {"at": contact_instants} if moments else {}  # else made from the micros
        for field, allowed in (("channel", vocabulary.channels), ("purpose", vocabulary.purposes),
                               ("team", vocabulary.teams)):
            # KeyError for a name the policy does not declare
            columns[field] = list(map(allowed.__getitem__, map(itemgetter(field), contacts)))
        if "status" in keys:
            statuses = list(map(methodcaller("get", "status", "sent"), contacts))
            if not set(statuses) <= STATUSES:
                raise _Slow
            columns["status"] = statuses
        if "outcome" in keys:
            outcomes = list(map(methodcaller("get", "outcome"), contacts))
            if not set(outcomes) <= vocabulary.outcomes_or_none:
                raise _Slow
            columns["outcome"] = outcomes
            if count_nulls:
                nulls += sum(1 for obj in contacts if "outcome" in obj and obj["outcome"] is None)
        for field in ("campaign", "id", "customer"):
            if field in keys:
                column = list(map(methodcaller("get", field), contacts))
                if not all(value is None or type(value) is str for value in set(column)):
                    raise _Slow
                columns[field] = column
        nulls += _check_optional(contacts, (), count_nulls, ("campaign", "id", "customer"))
    except (KeyError, TypeError, ValueError):  # a missing field, an unhashable value, a date like 02-30
        raise _Slow from None
    return columns, None if moments else contact_instants, events, nulls


_AT = itemgetter("at")
_EVENT = itemgetter("event")


def vocabulary_events(policy: Policy) -> frozenset[str]:
    return names(policy).events


def _check_optional(objects: list[dict[str, Any]], fields: tuple[str, ...], count_nulls: bool,
                    null_fields: tuple[str, ...] = ()) -> int:
    """Check that ``fields`` hold texts or null; the number of nulls in ``fields`` and
    ``null_fields`` when ``count_nulls``."""
    for field in fields:
        if not all(value is None or type(value) is str for value in set(map(methodcaller("get", field), objects))):
            raise _Slow
    if not count_nulls:
        return 0
    return sum(1 for obj in objects for field in fields + null_fields if field in obj and obj[field] is None)


def _strings(value: object) -> int:
    """The string tokens of a parsed JSON value: its keys and string values, at any depth."""
    kind = type(value)
    if kind is str:
        return 1
    if kind is dict:
        assert isinstance(value, dict)
        return len(value) + sum(_strings(v) for v in value.values())
    if kind is list:
        assert isinstance(value, list)
        return sum(_strings(v) for v in value)
    return 0


def _tokens_and_depth(value: object, depth: int = 0) -> tuple[int, int]:
    """The string tokens of a parsed JSON value (keys and string values) and its nesting."""
    kind = type(value)
    if kind is str:
        return 1, depth
    if kind is dict:
        assert isinstance(value, dict)
        count, deepest = len(value), depth + 1
        for item in value.values():
            more, down = _tokens_and_depth(item, depth + 1)
            count += more
            deepest = max(deepest, down)
        return count, deepest
    if kind is list:
        assert isinstance(value, list)
        count, deepest = 0, depth + 1
        for item in value:
            more, down = _tokens_and_depth(item, depth + 1)
            count += more
            deepest = max(deepest, down)
        return count, deepest
    if kind is float and not -BIG <= value <= BIG:  # type: ignore[operator]
        raise _Slow  # orjson reads an integer past 64 bits as a float; the strict parser keeps it whole
    return 0, depth


BIG = float(2**63)


def fast_strict_json(data: bytes) -> object | None:
    """What :func:`policylang.inputs.strict_json` gives for ``data`` (UTF-8 JSON), parsed by
    orjson; ``None`` whenever it cannot prove the strict parser would accept the text
    (a backslash escape, a syntax error, NaN, a number orjson does not hold, nesting past
    the limit, a key given twice), and the caller then parses with ``strict_json``."""
    from policylang.inputs import MAX_JSON_DEPTH

    if b"\\" in data:
        return None
    try:
        obj: object = _parse(data)
    except _PARSE_ERRORS:
        return None
    try:
        tokens, depth = _tokens_and_depth(obj)
    except (_Slow, RecursionError):
        return None
    if depth > MAX_JSON_DEPTH or data.count(b'"') != 2 * tokens:
        return None
    return obj


def _fast_decide(policy: Policy, document: bytes | str, file: str, explain: bool, loads: Any) -> Decision:
    is_bytes = isinstance(document, bytes)
    if (b"\\" in document) if is_bytes else ("\\" in document):
        raise _Slow  # an escape could spell a key two ways; the count below needs none
    try:
        data = _parse(document)
    except _PARSE_ERRORS:
        raise _Slow from None
    if type(data) is not dict or not data.keys() <= set(DOCUMENT_FIELDS) or "customer" not in data or "request" not in data:
        raise _Slow
    ledger = data.get("ledger", [])
    history, nulls = fast_history(policy, ledger, (b"null" in document) if is_bytes else ("null" in document))
    # Every ledger value on this path is a text or null: two quoted tokens per field but one for a null.
    strings = len(data) + _strings(data["customer"]) + _strings(data["request"])
    strings += 2 * sum(map(len, ledger)) - nulls
    quotes = document.count(b'"') if is_bytes else document.count('"')  # type: ignore[arg-type]
    if quotes != 2 * strings:
        raise _Slow  # a key given twice somewhere: the validating path says where
    try:
        customer = customer_from_json(policy, data["customer"], where(file))
        request = request_from_json(policy, data["request"], where(file))
    except InputError:
        raise _Slow from None
    return policy.decide(customer, request, history, explain=explain, loads=loads)


# ---- the typed fast path (msgspec) -------------------------------------------------------------
#
# msgspec decodes the document straight into structs whose fields are typed with the policy's
# own names (``Literal`` of the declared channels, purposes, teams, outcomes and events), so
# the names are checked, unknown fields refused and the entries built in C, in less time than
# ``json.loads`` takes to build dicts. Anything it refuses (a wrong name, a number where a
# text belongs, a void line) sends the document to the validating path for the positioned
# error. The request is a struct too; the customer is kept as a raw JSON slice (its validated
# form is cached per policy by its bytes) and parsed as ``inputs.strict_json`` parses it.
#
# A field a line leaves out holds ABSENT, a text no decoded value can equal (a raw control
# character is not JSON, and the fast path takes no backslash escapes): counting a text in a
# column is a C loop that mostly compares identities, where counting msgspec.UNSET made
# Python compare every name with it.

ABSENT = "\x00"
# A line without `event` holds NO_EVENT there instead: the empty text, which no event name is
# (a name is an identifier), and false, so that filter() and filterfalse() with the field's
# getter split the event lines from the contacts in one C pass each.
NO_EVENT = ""


@frozen
class Schema:
    """msgspec decoders of a policy's section 10 document and of its ledger lines."""

    document: Any
    lines: Any
    fields: tuple[str, ...]
    line: Any = None  # one line, for decode_lines


LINE_FIELDS = ("at", "channel", "purpose", "team", "status", "outcome", "campaign", "id", "customer", "event")


def schema(policy: Policy) -> Schema | None:
    """The policy's typed decoders (memoised on the policy); ``None`` without msgspec."""
    cache: dict[Any, Any] = policy._index  # noqa: SLF001 - the policy's own memo table
    found = cache.get("ingest-schema", False)
    if found is not False:
        return found  # type: ignore[no-any-return]
    try:
        import msgspec
    except ImportError:  # pragma: no cover - msgspec is a dependency; this keeps a broken install working
        cache["ingest-schema"] = None
        return None
    from typing import Literal, Union

    vocabulary = policy.vocabulary

    def names_of(kind: str, *extra: Any) -> Any:
        pool = tuple(vocabulary.get(kind, ()))
        if pool:
            return Union[(Literal[pool], *extra)]  # noqa: UP007
        return Union[(*extra, msgspec.UnsetType)]  # noqa: UP007 - no name declared: any value given is refused

    text: Any = Union[str, None]  # noqa: UP007
    line = msgspec.defstruct("LedgerLine", [
        ("at", str),
        ("channel", names_of("channels"), ABSENT),
        ("purpose", names_of("purposes"), ABSENT),
        ("team", names_of("teams"), ABSENT),
        ("status", Literal[CONTACT_STATUSES], ABSENT),
        ("outcome", names_of("outcomes", None), ABSENT),
        ("campaign", text, ABSENT),
        ("id", text, ABSENT),
        ("customer", text, ABSENT),
        ("event", names_of("events"), NO_EVENT),
    ], forbid_unknown_fields=True, gc=False)
    request = msgspec.defstruct("RequestPart", [
        ("team", names_of("teams")),
        ("channel", names_of("channels")),
        ("purpose", names_of("purposes")),
        ("at", str),
        ("campaign", Union[str, list[str], None], ABSENT),  # noqa: UP007
        ("priority", int, ABSENT),
        ("id", text, ABSENT),
        ("customer", text, ABSENT),  # read by no rule; any other JSON value goes to the validating path
    ], forbid_unknown_fields=True, gc=False)
    document = msgspec.defstruct("Document", [
        ("customer", msgspec.Raw),
        ("request", request),
        ("ledger", Union[list[line], msgspec.UnsetType], msgspec.UNSET),  # type: ignore[valid-type]  # noqa: UP007
    ], forbid_unknown_fields=True, gc=False)
    found = cache["ingest-schema"] = Schema(
        msgspec.json.Decoder(document), msgspec.json.Decoder(list[line]),  # type: ignore[valid-type]
        LINE_FIELDS, msgspec.json.Decoder(line),
    )
    return found


_GETTERS = {name: attrgetter(name) for name in LINE_FIELDS}


class _no_collection:  # lower case: used as `with _no_collection():`, as the function it was
    """The cyclic garbage collector paused while a ledger is read.

    Why: reading a ledger makes a tuple per line and the columns hold them all, so the
    collector runs every 700 of them and, as the survivors pile up, walks them all again:
    measured on 100,000 lines, `line_columns` took 330 ms with it and 210 ms without (16%
    at 10,000 lines, nothing at 100). Nothing read here can form a cycle. It is switched
    back on only if it was on, so a caller's own ``gc.disable()`` stands. (A class, not
    ``contextlib.contextmanager``: importing contextlib was a millisecond of a cold decide.)
    """

    def __enter__(self) -> None:
        self.was_on = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was_on:
            gc.enable()


def line_columns(lines: list[Any], nulls: bool = True, lazy: bool = False) -> tuple[Columns, int]:
    """Contact columns, instants, events and the number of string tokens of decoded ledger
    lines (structs of :func:`schema`); raises :class:`_Slow` for anything the structs do not
    settle (a contact without a channel, an event with contact fields, an unusual instant).
    ``nulls=False`` promises that no line holds a ``null`` (the text has none). ``lazy``
    (see :data:`LAZY_FROM`) keeps the contacts' instants as datetimes in ``at``, converted
    by the history a shape at a time; else they are epoch microseconds (:func:`instant_micros`).
    """
    if not lines:
        return ({}, [], {}, 0), 0
    if len(lines) < 1000:  # too few tuples for the collector to matter
        return _line_columns(lines, nulls, lazy)
    with _no_collection():
        return _line_columns(lines, nulls, lazy)


# From this many lines, a ledger's instants are read as datetimes and converted by the history
# only for the shapes a rule counts (fast_moments, History.from_moments) instead of all at once
# by instant_micros. With the faster instant readers, measured in one loop on
# benchmarks/northwind6.pol, reading every instant at once made decide_json 5-8% faster at
# 1,000 to 10,000 events too (it had been 5-7% slower there), so only a very long ledger is
# read lazily (a decision on it converts only some shapes).
LAZY_FROM = 100_000


_CONTACT_ONLY = ("channel", "purpose", "team", "status", "outcome", "campaign")
_CONTACT_PART = itemgetter(slice(1, 1 + len(_CONTACT_ONLY)))  # those fields of a line's tuple
_NO_CONTACT_PART = (ABSENT,) * len(_CONTACT_ONLY)
assert LINE_FIELDS[1:1 + len(_CONTACT_ONLY)] == _CONTACT_ONLY
_NULLABLE = ("outcome", "campaign", "id", "customer")


def _line_columns(lines: list[Any], nulls: bool, lazy: bool) -> tuple[Columns, int]:
    # The event lines (few) are taken out first, by one pass over the structs (filter, and
    # filterfalse when there are some: NO_EVENT is false), so that the contacts' columns need
    # no second cut. Then one tuple per line, transposed: every column
    # in two passes of C, the fields after `at` by position (_REST_NAMES), counted in one C
    # loop: a fixed cost of few Python steps, which is what a short ledger pays for.
    events: dict[str, list[int]] = {}
    strings = 0
    happened = list(map(_ASTUPLE, filter(_GET_EVENT, lines)))  # the lines with an event (NO_EVENT is false)
    if happened:
        if set(map(_CONTACT_PART, happened)) != {_NO_CONTACT_PART}:
            raise _Slow  # an event line with a contact field: the validating path says which
        at, *given = zip(*happened, strict=True)
        strings += _tokens(given, len(happened), nulls, list(map(tuple.count, given, repeat(ABSENT))))
        for kind, us in zip(given[_EVENT_AT], instant_micros(at), strict=True):
            events.setdefault(kind, []).append(us)
        lines = list(filterfalse(_GET_EVENT, lines))
        if not lines:
            return ({}, [], events, 0), strings
    size = len(lines)
    rows = list(map(_ASTUPLE, lines))
    at, *given = zip(*rows, strict=True)
    absent = [given[k].count(ABSENT) if k != _EVENT_AT else size for k in range(len(given))]
    strings += _tokens(given, size, nulls, absent)
    if max(absent[:3]):
        raise _Slow  # a contact without a channel, purpose or team
    try:
        instants = cast(list[Any], fast_moments(list(at)) if lazy else instant_micros(at))
    except ValueError:  # a date like 02-30
        raise _Slow from None
    columns: dict[str, list[Any]] = {"channel": list(given[0]), "purpose": list(given[1]), "team": list(given[2])}
    for k in range(3, _EVENT_AT):
        missing = absent[k]
        if not missing:
            columns[_REST_NAMES[k]] = list(given[k])
        elif missing != size:  # else the default for every contact
            column = given[k]
            columns[_REST_NAMES[k]] = list(map(_FILLS[k].get, column, column))
    if lazy:
        columns["at"] = instants  # converted a shape at a time, when a rule needs them
        return (columns, None, events, 0), strings
    return (columns, instants, events, 0), strings  # no `at`: a contact's instant is made from its micros


def _tokens(given: list[tuple[Any, ...]], size: int, nulls: bool, absent: list[int]) -> int:
    """The string tokens of ``size`` lines given as columns (the fields after `at`) with
    ``absent`` counts: every line has `at` (a key and a text); every other field given is a
    key token, and a value token unless null (``nulls``: the text may hold one)."""
    strings = 2 * size * len(LINE_FIELDS) - 2 * sum(absent)
    if nulls:
        for k in _NULLABLE_AT:
            column = given[k]
            if absent[k] != size and None in column:
                strings -= column.count(None)
    return strings


_GET_EVENT = attrgetter("event")
_REST_NAMES = LINE_FIELDS[1:]  # the fields after `at`, by position in a line's tuple
_EVENT_AT = _REST_NAMES.index("event")
_CONTACT_COUNT = len(_CONTACT_ONLY)
assert _REST_NAMES[:_CONTACT_COUNT] == _CONTACT_ONLY and _REST_NAMES[:3] == ("channel", "purpose", "team")
_NULLABLE_AT = tuple(map(_REST_NAMES.index, _NULLABLE))
_FILLS = [{ABSENT: "sent" if name == "status" else None} for name in _REST_NAMES]


def _astuple(line: Any) -> tuple[Any, ...]:
    import msgspec

    global _ASTUPLE
    _ASTUPLE = msgspec.structs.astuple
    found: tuple[Any, ...] = msgspec.structs.astuple(line)
    return found


_ASTUPLE: Any = _astuple  # msgspec.structs.astuple once msgspec is imported (on the first line read)


def strict_data(data: bytes) -> object:
    """``inputs.strict_json`` of UTF-8 ``data``, by orjson when its answer is provably the same."""
    found = fast_strict_json(data)
    if found is None:
        from policylang.inputs import strict_json

        found = strict_json(data.decode("utf-8"))
    return found


def _request(part: Any, file: str) -> tuple[Request, int]:
    """The request of a typed document (a struct of :func:`schema`) and its string tokens,
    as :func:`policylang.inputs.request_from_json` reads it; :class:`_Slow` where it would
    refuse it (the validating path then says why)."""
    tokens = 8  # team, channel, purpose and at: a key and a text each
    campaign = part.campaign
    if campaign is ABSENT:
        campaign = None
    elif campaign is None:
        tokens += 1
    elif type(campaign) is str:
        tokens += 2
    else:  # 11.3: a list of texts; a list of one is that text
        if not campaign:
            raise _Slow
        tokens += 1 + len(campaign)
        names = tuple(dict.fromkeys(campaign))
        campaign = names[0] if len(names) == 1 else names
    priority = part.priority
    if priority is ABSENT:
        priority = 0
    else:
        tokens += 1
    for value in (part.id, part.customer):
        if value is not ABSENT:
            tokens += 1 if value is None else 2
    ident = None if part.id is ABSENT else part.id
    return checked_request(part.team, part.channel, part.purpose, one_instant(part.at), campaign, priority,
                           ident), tokens


def checked_request(team: str, channel: str, purpose: str, at: dt.datetime, campaign: str | tuple[str, ...] | None,
                    priority: int, ident: str | None) -> Request:
    """A :class:`Request` of fields already checked as ``request_from_json`` checks them
    (the names declared, ``at`` UTC): the frozen slots are filled directly, since attrs'
    converters would change nothing."""
    request: Request = object.__new__(Request)
    _SET_TEAM(request, team)
    _SET_CHANNEL(request, channel)
    _SET_PURPOSE(request, purpose)
    _SET_AT(request, at)
    _SET_CAMPAIGN(request, campaign)
    _SET_PRIORITY(request, priority)
    _SET_ID(request, ident)
    return request


_SET_TEAM, _SET_CHANNEL, _SET_PURPOSE, _SET_AT, _SET_CAMPAIGN, _SET_PRIORITY, _SET_ID = (
    Request.__dict__[field.name].__set__ for field in fields(Request))
assert tuple(field.name for field in fields(Request)) == (
    "team", "channel", "purpose", "at", "campaign", "priority", "id")  # every field set above, in this order


_ONE_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
                          r"(Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])")


def one_instant(text: str) -> dt.datetime:
    """One instant text as UTC, exactly as :func:`policylang.inputs.parse_instant` reads it,
    or :class:`_Slow` where it would refuse it.

    A text whose two parts the tables of :func:`instant_micros` hold (a ledger's or an
    earlier request's) is read by two look-ups; another in the fast path's forms (see
    :data:`SHAPES`) is read by them, its parts kept. Why: called among other work (a
    service's, the benchmark's loop), the pattern below found the regular expression engine
    out of the processor's caches and took 11 us of one_instant's 21 (measured), where the
    tables were just used by the ledger. Any other text goes to :func:`_one_instant`."""
    try:
        us = _HOUR_US[text[:13]] + _REST_US[text[13:]]
    except KeyError:
        try:
            us = instant_micros((text,))[0]
        except _Slow:
            return _one_instant(text)
    return _EPOCH_UTC + dt.timedelta(microseconds=us)


_EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=UTC)


def _one_instant(text: str) -> dt.datetime:
    """:func:`one_instant` without the tables: for the fast path's forms a pattern and
    ``fromisoformat`` in C, a fifth of ``parse_instant``'s cost (its messages need the
    broader pattern and several steps); any other text is ``parse_instant``'s."""
    found = _ONE_INSTANT.fullmatch(text)
    if found is not None:
        try:
            # parse_instant reads Z as +00:00 too (Python 3.10's fromisoformat takes no Z)
            value = dt.datetime.fromisoformat(text[:-1] + "+00:00" if found[1] == "Z" else text)
        except ValueError:  # 2026-02-30, or (Python 3.10) a fraction of other than 3 or 6 digits,
            pass  # which parse_instant reads from its digits on every version
        else:
            if EARLIEST <= value <= LATEST:
                return value.astimezone(UTC)
    try:  # another form parse_instant takes (t, z, a space, no seconds, 7 to 9 digits), or an error
        return parse_instant(text, where("<request>"))
    except InputError:
        raise _Slow from None


def _typed_decide(policy: Policy, document: bytes | str, file: str, explain: bool, loads: Any) -> Decision:
    found = schema(policy)
    if found is None:  # pragma: no cover - without msgspec: the orjson fast path
        return _fast_decide(policy, document, file, explain, loads)
    import msgspec

    is_bytes = isinstance(document, bytes)
    if (b"\\" in document) if is_bytes else ("\\" in document):
        raise _Slow  # an escape could spell a key two ways; the count below needs none
    if is_bytes and not document.isascii():
        try:
            document.decode("utf-8")  # type: ignore[union-attr]
        except UnicodeDecodeError:
            raise _Slow from None
    try:
        data = found.document.decode(document)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):  # RecursionError: nested too deep
        raise _Slow from None
    except UnicodeEncodeError:  # a text holding a lone surrogate, which has no UTF-8
        raise _Slow from None
    lines = data.ledger
    if lines is msgspec.UNSET:
        lines = []
    # every nullable column is searched for None (a C loop over a column): cheaper than
    # searching the document's text for `null`
    (columns, micros, events, _), strings = line_columns(lines, True, len(lines) >= LAZY_FROM)
    request, request_tokens = _request(data.request, file)
    # The customer record repeats across a customer's requests: its validated form is kept
    # per policy, keyed by its exact bytes (only records that validated, so no error is lost).
    raw = bytes(data.customer)
    customers = _customers(policy)
    known = customers.get(raw)
    raw_customer, customer_tokens = _part(raw) if known is None else (None, known[1])
    strings += (2 if data.ledger is msgspec.UNSET else 3) + customer_tokens + request_tokens
    if quotes(document) != 2 * strings:
        raise _Slow  # a key given twice somewhere (in any part): the validating path says where
    customer = _customer(policy, raw, raw_customer, customer_tokens, file) if known is None else known[0]
    return policy.decide(customer, request, built(columns, micros, events), explain=explain, loads=loads)


def _customers(policy: Policy) -> dict[bytes, tuple[Customer, int]]:
    """The policy's validated customer records, keyed by their exact JSON bytes, with their
    string tokens: a record repeats across a customer's requests. Only records that
    validated (and held no key twice) are kept, so no error is lost."""
    cache: dict[Any, Any] = policy._index  # noqa: SLF001 - the policy's own memo table
    customers: dict[bytes, tuple[Customer, int]] = cache.setdefault("ingest-customers", {})
    return customers


def _customer(policy: Policy, raw: bytes, obj: object, tokens: int, file: str) -> Customer:
    """The customer of a record not seen before (its bytes ``raw``, parsed ``obj``), kept;
    :class:`_Slow` where ``customer_from_json`` refuses it."""
    try:
        customer = customer_from_json(policy, obj, where(file))
    except InputError:
        raise _Slow from None
    customers = _customers(policy)
    if len(customers) >= 1024:
        customers.clear()
    customers[raw] = (customer, tokens)
    return customer


# ---- the native reader (policylang/_scan.c) ---------------------------------------------------
#
# A C extension reads the whole document in one pass straight into the columns the typed path
# makes (names as the policy's own strings, instants as epoch microseconds, the events by
# name), the request's fields and the customer record's bytes: no Python object per ledger
# line, which is what the typed path's cost was made of (msgspec's structs, then a tuple of
# each). It takes a strict subset of what the typed path takes (see the top of _scan.c) and
# returns None for anything else; decide_json then runs the typed path, and the validating
# path after it, exactly as without the extension. Built at install time by hatch_build.py;
# without a compiler the install works on the paths in Python alone.

# POLICYLANG_NATIVE=0 (read once, at import) or ``ingest.native = False`` turns the reader off:
# for tests and for A/B measurements of the paths in Python.
native = os.environ.get("POLICYLANG_NATIVE", "1") != "0"
_SCAN: Any = None  # _scan.scan once imported (on the first decide_json), False when it is missing


def _load_scan() -> Any:
    """``policylang._scan.scan``, imported on first use (a cold start that decides nothing by
    JSON never loads it), or False when the module is missing or of other years."""
    global _SCAN
    try:
        from policylang import _scan

        _SCAN = _scan.scan if _scan.YEARS == (FIRST_YEAR + 1, LAST_YEAR - 1) else False
    except ImportError:
        _SCAN = False
    return _SCAN


def native_available() -> bool:
    """Whether the native reader is built and loads (whatever :data:`native` says)."""
    return bool(_SCAN if _SCAN is not None else _load_scan())


def native_vocabulary(policy: Policy) -> tuple[tuple[tuple[bytes, str], ...], ...]:
    """The names the native reader takes, as (UTF-8 bytes, the policy's own string) pairs:
    channels, purposes, teams, contact statuses, outcomes, events (memoised on the policy)."""
    cache: dict[Any, Any] = policy._index  # noqa: SLF001 - the policy's own memo table
    found = cache.get("ingest-native")
    if found is None:
        vocabulary = policy.vocabulary
        found = cache["ingest-native"] = tuple(
            tuple((name.encode(), name) for name in dict.fromkeys(pool))
            for pool in (vocabulary.get("channels", ()), vocabulary.get("purposes", ()),
                         vocabulary.get("teams", ()), CONTACT_STATUSES, vocabulary.get("outcomes", ()),
                         vocabulary.get("events", ())))
    return found


def _native_decide(policy: Policy, scan: Any, document: bytes | str, file: str, explain: bool,
                   loads: Any) -> Decision:
    found = scan(document, native_vocabulary(policy))
    if found is None:
        raise _Slow  # outside the reader's subset: the typed path, or the validating one, decides
    columns, micros, events, raw, (team, channel, purpose, at_us, campaign, priority, ident) = found
    request = checked_request(team, channel, purpose, _EPOCH_UTC + dt.timedelta(microseconds=at_us), campaign,
                              0 if priority is None else priority, ident)
    known = _customers(policy).get(raw)
    if known is not None:
        customer = known[0]
    else:
        obj, tokens = _part(raw)
        if raw.count(b'"') != 2 * tokens:
            raise _Slow  # a key given twice in the record: the validating path says where
        customer = _customer(policy, raw, obj, tokens, file)
    return policy.decide(customer, request, built(columns, micros, events), explain=explain, loads=loads)


NUMPY_QUOTES = 65_536  # characters from which numpy counts the quotes (measured in place, below)


def quotes(document: bytes | str) -> int:
    """The ``"`` in a document (bytes or text: in UTF-8 a ``"`` byte is only ever that character).

    Measured inside decide_json, right after msgspec read the text: at 100 events (14,000
    characters) str.count took 7-10 us and numpy 11-12; at 1,000 (140,000) str.count 85-120
    and numpy 40-50."""
    if len(document) >= NUMPY_QUOTES:
        try:
            data = document if isinstance(document, bytes) else document.encode()
        except UnicodeEncodeError:  # a lone surrogate: counted as text
            return document.count('"')  # type: ignore[arg-type]
        import numpy as np

        return int(np.count_nonzero(np.frombuffer(data, np.uint8) == 34))
    return document.count(b'"') if isinstance(document, bytes) else document.count('"')


def _part(data: bytes) -> tuple[object, int]:
    """The customer or request of a document already free of backslashes, parsed as
    ``inputs.strict_json`` would, and its string tokens (for the document's duplicate-key
    count, which covers each part: a part's tokens never exceed half its quotes); raises
    :class:`_Slow` where orjson's answer could differ (see :func:`fast_strict_json`)."""
    from policylang.inputs import MAX_JSON_DEPTH

    try:
        obj: object = _parse(data)
        tokens, depth = _tokens_and_depth(obj)
    except _PARSE_ERRORS:
        raise _Slow from None
    if depth > MAX_JSON_DEPTH:
        raise _Slow
    return obj, tokens


def decide_json(policy: Policy, document: bytes | str, *, file: str = "<document>",
                explain: bool = True, loads: Any = None) -> Decision:
    """Decide the section 10 document: ``{"customer": {...}, "request": {...}, "ledger": [...]}``.

    ``ledger`` may be left out (an empty ledger). Raises :class:`InputError` with the line
    and column in ``document`` (named ``file``) of whatever does not validate.
    """
    if native:
        scan = _SCAN if _SCAN is not None else _load_scan()
        if scan:
            try:
                return _native_decide(policy, scan, document, file, explain, loads)
            except _Slow:
                pass
    try:
        return _typed_decide(policy, document, file, explain, loads)
    except _Slow:
        pass
    text = _text(document, file)
    return slow_decide_json(policy, text, file=file, explain=explain, loads=loads)


def _text(document: bytes | str, file: str) -> str:
    if isinstance(document, str):
        return document
    try:
        return document.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"the document is not UTF-8 text (byte {exc.start + 1})", Span.point(file, 1, 1)) from None


def slow_decide_json(policy: Policy, text: str, *, file: str = "<document>",
                     explain: bool = True, loads: Any = None) -> Decision:
    """The validating path of :func:`decide_json`: every part checked by :mod:`policylang.inputs`
    and every error pointed at the line and column of the part (and field) it is about."""
    data = load_json(text, file)
    if not isinstance(data, dict):
        raise _positioned(InputError("the document must be a JSON object with `customer`, `request` and `ledger`",
                                     where(file)), text, None)
    places = member_places(text)
    for key in data:
        if key not in DOCUMENT_FIELDS:
            raise _positioned(InputError(
                f"unknown field `{key}` in the document", where(file),
                hint=did_you_mean(key, DOCUMENT_FIELDS) or "the fields are customer, request and ledger",
            ), text, None)
    for key in ("customer", "request"):
        if key not in data:
            raise _positioned(InputError(f"the document has no `{key}` field", where(file)), text, None)
    try:
        customer = customer_from_json(policy, data["customer"], where(file))
    except InputError as exc:
        raise _positioned(exc, text, places.get("customer")) from None
    try:
        request = request_from_json(policy, data["request"], where(file))
    except InputError as exc:
        raise _positioned(exc, text, places.get("request")) from None
    ledger = data.get("ledger", [])
    if not isinstance(ledger, list):
        raise _positioned(InputError("field `ledger` must be a list of ledger lines", where(file)), text,
                          places.get("ledger"))
    entries: list[Entry] = []
    spans = places.get("ledger entries") or []
    for number, obj in enumerate(ledger, start=1):
        try:
            entries.append(entry_from_json(policy, obj, where(file)))
        except InputError as exc:
            exc.message = f"ledger entry {number}: {exc.message}"
            exc.args = (exc.message,)
            raise _positioned(exc, text, spans[number - 1] if number <= len(spans) else None) from None
    return policy.decide(customer, request, entries, explain=explain, loads=loads)


def _positioned(error: InputError, text: str, place: tuple[int, int] | None) -> InputError:
    """Point ``error`` at the field it names inside ``place`` (start, end offsets), else at
    the start of ``place``, else at the start of the document."""
    error.source = Source(error.span.file, text)
    start, end = place if place is not None else (0, len(text))
    offset = start
    found = re.search(r"(?:field|attribute) `([^`]+)`", error.message)
    if found:
        key = re.compile(r'"' + re.escape(found.group(1)) + r'"\s*:').search(text, start, end)
        if key:
            offset = key.start()
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    error.span = Span.point(error.span.file, line, column, len(found.group(1)) + 2 if found and offset != start else 1)
    return error


def member_places(text: str) -> dict[str, Any]:
    """Offsets (start, end) of the top-level members of a JSON object text, and of each
    element of its ``ledger`` list under ``"ledger entries"``. Only for error messages:
    the text is known to parse."""
    decoder = json.JSONDecoder()
    blank = re.compile(r"[ \t\n\r]*")
    places: dict[str, Any] = {}

    def skip(i: int) -> int:
        match = blank.match(text, i)
        return match.end() if match else i

    i = skip(0)
    if not text.startswith("{", i):
        return places
    i = skip(i + 1)
    while i < len(text) and text[i] != "}":
        key, i = decoder.raw_decode(text, i)
        i = skip(i)
        i = skip(i + 1)  # the colon
        start = i
        if key == "ledger" and text.startswith("[", i):
            elements: list[tuple[int, int]] = []
            i = skip(i + 1)
            while i < len(text) and text[i] != "]":
                _, after = decoder.raw_decode(text, i)
                elements.append((i, after))
                i = skip(after)
                if text.startswith(",", i):
                    i = skip(i + 1)
            places["ledger entries"] = elements
            i += 1
        else:
            _, i = decoder.raw_decode(text, i)
        places[key] = (start, i)
        i = skip(i)
        if text.startswith(",", i):
            i = skip(i + 1)
    return places


# ---- a JSON Lines ledger (the command line) ---------------------------------------------------

TYPED_FROM = 200_000  # characters of JSON Lines from which the typed decoder pays for its import
CHUNK = 4_000_000  # characters of JSON Lines parsed at a time: bounds the memory of parsed objects
_TWO_ON_A_LINE = re.compile(r"\}[ \t]*,[ \t]*\{")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_STDLIB_PARSE = json.JSONDecoder(parse_constant=_refuse_constant).decode


def history_from_jsonl(policy: Policy, text: str | bytes, file: str) -> History:
    """The index of a JSON Lines ledger: the fast path when it can prove the text is plain,
    else :func:`policylang.inputs.ledger_from_jsonl` (every error with its line). ``text``
    may be the file's bytes when they are UTF-8 without a byte-order mark (the command line
    passes a long ASCII ledger unread: decoding 100 MB to a str costs a tenth of a second)."""
    try:
        with _no_collection():
            return _fast_jsonl(policy, text)
    except _Slow:
        from policylang.inputs import ledger_from_jsonl

        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return History(ledger_from_jsonl(policy, text, file))


def _fast_jsonl(policy: Policy, text: str | bytes) -> History:
    """Parse a long ledger's lines a chunk at a time with msgspec (:func:`_typed_jsonl`),
    a short one's as one JSON array per chunk with the standard library's parser (the
    command line's: importing orjson would cost a cold ``policylang decide`` more than it
    saves below :data:`TYPED_FROM`; NaN and infinities refused, as orjson refuses them).

    Joining lines with commas turns a JSON Lines text into an array only if each line is
    one object: so every line must start with ``{`` and end with ``}`` (no blank lines, no
    CR), no line may hold ``}, {`` (two objects, or one object split over lines), and the
    array must have one element per line. Quotes are counted for duplicate keys as in
    :func:`decide_json`.
    """
    # msgspec costs a few tens of milliseconds to import: worth it only for a long ledger
    typed = schema(policy) if len(text) > TYPED_FROM else None
    if typed is not None:
        return _typed_jsonl(typed, text.encode() if isinstance(text, str) else text)
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if "\\" in text:
        raise _Slow
    body = text[:-1] if text.endswith("\n") else text
    if not body:
        return History()
    if not (body.startswith("{") and body.endswith("}")) or body.count("}\n{") != body.count("\n"):
        raise _Slow
    if _TWO_ON_A_LINE.search(body):
        raise _Slow
    parts: list[Columns] = []
    start = 0
    while start < len(body):
        end = body.find("\n", start + CHUNK)
        end = len(body) if end < 0 else end
        chunk = body[start:end]
        try:
            objects = _STDLIB_PARSE("[" + chunk.replace("\n", ",") + "]")
        except _PARSE_ERRORS:
            raise _Slow from None
        if len(objects) != chunk.count("\n") + 1:
            raise _Slow
        columns = fast_columns(policy, objects, "null" in chunk, lazy=True)
        if chunk.count('"') != 2 * (2 * sum(map(len, objects)) - columns[3]):
            raise _Slow  # a key given twice on some line
        del objects
        parts.append(columns)
        start = end + 1
    return _joined(parts)


def _typed_jsonl(typed: Schema, data: bytes) -> History:
    """A long ledger's UTF-8 bytes, decoded a chunk of lines at a time by msgspec's
    ``decode_lines`` into typed lines (no copy of the text, no array built around it).

    Every line must start with ``{`` and end with ``}``, and every newline must sit between
    a ``}`` and a ``{`` (no blank line, no CR, no object spread over lines: a newline
    inside an object would follow a ``}`` and precede a ``{`` with no comma between, which
    does not parse); then each line holds one object exactly when the chunk decodes to as
    many values as it has lines (``decode_lines`` also reads ``{...} {...}`` as two).
    Quotes are counted for duplicate keys as in :func:`decide_json`.
    """
    import msgspec

    if b"\\" in data:
        raise _Slow
    end = len(data) - 1 if data.endswith(b"\n") else len(data)
    if not end:
        return History()
    newlines = data.count(b"\n", 0, end)
    if not (data.startswith(b"{") and data[end - 1:end] == b"}") or data.count(b"}\n{", 0, end) != newlines:
        raise _Slow
    view = memoryview(data)
    parts: list[Columns] = []
    start = 0
    while start < end:
        stop = data.find(b"\n", start + CHUNK, end)
        stop = end if stop < 0 else stop
        try:
            lines = typed.line.decode_lines(view[start:stop])
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            raise _Slow from None
        if len(lines) != data.count(b"\n", start, stop) + 1:
            raise _Slow
        columns, strings = line_columns(lines, data.find(b"null", start, stop) >= 0)
        if data.count(b'"', start, stop) != 2 * strings:
            raise _Slow  # a key given twice on some line
        del lines
        parts.append(columns)
        start = stop + 1
    return _joined(parts)


def _joined(parts: list[Columns]) -> History:
    """One history from the columns of consecutive chunks."""
    if len(parts) == 1:
        return built(parts[0][0], parts[0][1], parts[0][2])
    from policylang.history import FIELDS, default_of

    # every instant converted: the contacts are made from the integers
    parts = [({name: column for name, column in columns.items() if name != "at"},
              epoch_micros(columns["at"]) if micros is None else micros, events, nulls)
             for columns, micros, events, nulls in parts]
    present = {name for columns, _, _, _ in parts for name in columns}
    columns: dict[str, list[Any]] = {}
    for name in FIELDS:
        if name in present:
            joined: list[Any] = []
            for part, micros, _, _ in parts:
                joined.extend(part[name] if name in part else [default_of(name)] * len(micros))
            columns[name] = joined
    micros_all = [us for _, micros, _, _ in parts for us in micros]
    events: dict[str, list[int]] = {}
    for _, _, part_events, _ in parts:
        for name, times in part_events.items():
            events.setdefault(name, []).extend(times)
    return History.from_columns(columns, micros_all, events)


# ---- a store's rows ---------------------------------------------------------------------------


def history_from_rows(rows: list[Any], now_us: int) -> History:
    """The evaluator's index straight from one customer's stored rows (``ledger.Row``).

    The store wrote these rows from validated records, so nothing is checked again, and
    instants stay the integers the store keeps; a :class:`Contact` is made only when the
    evaluator looks at it. Statuses are as of ``now_us`` (a plan past its deadline counts
    as released), exactly as ``Row.entry`` gives them.
    """
    return _history_from(rows, now_us, _ROW_FIELDS)


def history_from_values(values: list[tuple[Any, ...]], now_us: int, columns: tuple[str, ...]) -> History | None:
    """:func:`history_from_rows` of rows as a SQL store reads them (tuples of the named
    ``columns``, any of ``ledger.rows.COLUMNS``), without making a ``Row`` of each; None when
    a row holds a campaign list or warnings (JSON columns: ``Row.from_values`` reads those).

    The events are taken out first, then the contacts' tuples are transposed once (``zip``,
    in C) and every step after works on whole columns: no Python call per row and field."""
    index = {name: at for at, name in enumerate(columns)}
    for json_column in ("campaigns", "warnings"):
        if json_column in index and any(map(itemgetter(index[json_column]), values)):
            return None
    events: dict[str, list[int]] = {}
    campaigns: dict[str, list[tuple[int, Any]]] = {}
    kinds = list(map(itemgetter(index["kind"]), values))
    if "event" in kinds:
        flags = [k == "event" for k in kinds]
        at, event, campaign = index["at_us"], index["event"], index.get("campaign")
        for row in compress(values, flags):
            value = row[campaign] if campaign is not None else None
            events.setdefault(row[event] or "", []).append(row[at])
            campaigns.setdefault(row[event] or "", []).append((row[at], value))
        # 11.3: kept only for the events of which some name a campaign (as History does)
        campaigns = {name: pairs for name, pairs in campaigns.items() if any(c is not None for _, c in pairs)}
        values = list(compress(values, map(not_, flags)))
    size = len(values)
    found = dict(zip(columns, zip(*values, strict=True) if size else [()] * len(columns), strict=True))
    nothing = (None,) * size
    statuses = list(found["status"])
    reasons: list[str | None] = []
    if "released" in statuses:  # 11.4: a void contact is stored released with ended "void:..."
        ended = found.get("ended", nothing)
        statuses = ["void" if status == "released" and (end or "").startswith("void:") else status
                    for status, end in zip(statuses, ended, strict=True)]
        reasons = [end[len("void:"):] or None if status == "void" else None
                   for status, end in zip(statuses, ended, strict=True)]
    if "planned" in statuses:  # a reservation past its deadline no longer counts
        statuses = ["released" if status == "planned" and expiry is not None and expiry <= now_us else status
                    for status, expiry in zip(statuses, found.get("expires_us", nothing), strict=True)]

    def named(name: str) -> list[Any]:
        column = found[name]
        return [value or "" for value in column] if None in column else list(column)

    out: dict[str, list[Any]] = {
        "channel": named("channel"),
        "purpose": named("purpose"),
        "team": named("team"),
        "status": [status or "sent" for status in statuses] if None in statuses else statuses,
        "outcome": list(found.get("outcome", nothing)),
        "campaign": list(found.get("campaign", nothing)),
        "id": list(found["id"]),
        "customer": list(found["customer"]),
        "warnings": [()] * size,  # none (checked above): Row's default
    }
    if "void" in statuses:
        out["void_reason"] = reasons
    return History.from_columns(out, list(found["at_us"]), events, campaigns)


def _history_from(rows: list[Any], now_us: int, fields: dict[str, Any]) -> History:
    kind, at_us, event, campaign = fields["kind"], fields["at_us"], fields["event"], fields["campaign"]
    ended, expires = fields["ended"], fields["expires_us"]
    kinds = list(map(kind, rows))
    events: dict[str, list[int]] = {}
    campaigns: dict[str, list[tuple[int, Any]]] = {}
    contacts = rows
    if "event" in kinds:
        flags = [k == "event" for k in kinds]
        for row in compress(rows, flags):
            events.setdefault(event(row) or "", []).append(at_us(row))
            campaigns.setdefault(event(row) or "", []).append((at_us(row), campaign(row)))
        contacts = list(compress(rows, [not flag for flag in flags]))
        # 11.3: kept only for the events of which some name a campaign (as History does)
        campaigns = {name: pairs for name, pairs in campaigns.items() if any(c is not None for _, c in pairs)}
    statuses = list(map(fields["status"], contacts))
    reasons: list[str | None] = []
    if "released" in statuses:  # 11.4: a void contact is stored released with ended "void:..."
        statuses = ["void" if status == "released" and (ended(row) or "").startswith("void:") else status
                    for status, row in zip(statuses, contacts, strict=True)]
        reasons = [ended(row)[len("void:"):] or None if status == "void" else None
                   for status, row in zip(statuses, contacts, strict=True)]
    if "planned" in statuses:  # a reservation past its deadline no longer counts
        statuses = [
            "released" if status == "planned" and expires(row) is not None and expires(row) <= now_us else status
            for status, row in zip(statuses, contacts, strict=True)
        ]
    columns: dict[str, list[Any]] = {
        "channel": [value or "" for value in map(fields["channel"], contacts)],
        "purpose": [value or "" for value in map(fields["purpose"], contacts)],
        "team": [value or "" for value in map(fields["team"], contacts)],
        "status": [status or "sent" for status in statuses],
        "outcome": list(map(fields["outcome"], contacts)),
        "campaign": list(map(campaign, contacts)),
        "id": list(map(fields["id"], contacts)),
        "customer": list(map(fields["customer"], contacts)),
        "warnings": [value or () for value in map(fields["warnings"], contacts)],
    }
    if "void" in statuses:
        columns["void_reason"] = reasons
    return History.from_columns(columns, list(map(at_us, contacts)), events, campaigns)


_ROW_FIELDS = {name: attrgetter(name) for name in (
    "kind", "at_us", "event", "campaign", "ended", "expires_us", "status", "channel", "purpose", "team", "outcome",
    "id", "customer", "warnings")}


# ---- the library's plain-mapping path ------------------------------------------------------


def request_of(policy: Policy, request: Request | Mapping[str, Any]) -> Request:
    """A :class:`Request`, validating a plain mapping (section 10 fields) like JSON input."""
    if isinstance(request, Request):
        return request
    if not isinstance(request, Mapping):
        raise TypeError(f"a request is a Request or a mapping, not {type(request).__name__}")
    return request_from_json(policy, _plain(request), where("<request>"))


def history_of(policy: Policy, ledger: History | Iterable[Entry | Mapping[str, Any]]) -> History:
    """The evaluator's index of a ledger of records or of plain mappings (ledger lines,
    validated as JSON lines are; an error names the entry's position as its line)."""
    if isinstance(ledger, History):
        return ledger
    entries = ledger if isinstance(ledger, list) else list(ledger)
    kinds = set(map(type, entries))
    if kinds <= {Contact, Event, VoidLine}:
        return History(entries, _kinds=kinds)  # type: ignore[arg-type]
    if kinds == {dict}:
        try:
            return fast_history(policy, entries)[0]
        except _Slow:
            pass
    checked: list[Entry] = []
    for number, entry in enumerate(entries, start=1):
        if isinstance(entry, (Contact, Event, VoidLine)):
            checked.append(entry)  # type: ignore[arg-type]
        else:  # a mapping, or whatever a JSON ledger could hold: refused as a JSON line would be
            plain = _plain(entry) if isinstance(entry, Mapping) else entry
            checked.append(entry_from_json(policy, plain, where("<ledger>", number)))
    return History(checked)


def _plain(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A mapping as the dict the validators expect; an aware datetime becomes its RFC 3339 text."""
    return {key: value.isoformat() if isinstance(value, dt.datetime) and key == "at" else value
            for key, value in mapping.items()}


def customer_of(policy: Policy, customer: Customer | Mapping[str, Any]) -> Customer:
    """A :class:`Customer`, validating a plain mapping."""
    if isinstance(customer, Customer):
        return customer
    return customer_from_json(policy, dict(customer), where("<customer>"))

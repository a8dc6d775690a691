"""Instants, local time and calendar periods.

Inside the evaluator an instant is an ``int`` of microseconds since the Unix epoch (UTC):
exact arithmetic, cheap comparisons. Local time is always derived from an instant with
:mod:`zoneinfo`, so an instant is never both quiet and not quiet around a daylight-saving
change: a wall-clock time that does not exist is simply never reached, and one that
occurs twice is reached twice.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Callable

from policylang.errors import did_you_mean

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = dt.timedelta(microseconds=1)
NAIVE_EPOCH = dt.datetime(1970, 1, 1)
SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
TRANSITION_SCAN = 2 * DAY  # no zone changes its offset twice within two days


@functools.lru_cache(maxsize=512)
def zone(name: str | None) -> dt.tzinfo:
    """The tzinfo for an IANA name (UTC for None)."""
    return zoneinfo.ZoneInfo(name) if name else UTC


def micros(instant: dt.datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    return (instant - EPOCH) // ONE_US


def instant(us: int) -> dt.datetime:
    """The UTC datetime of an epoch-microsecond value."""
    return EPOCH + dt.timedelta(0, 0, us)  # positional: the keyword form costs twice as much


def local(us: int, tz: dt.tzinfo) -> dt.datetime:
    """Local wall time of an instant (aware, in ``tz``; ``fold`` set as ``astimezone`` sets it)."""
    # fromtimestamp(seconds, tz) is tz.fromutc of the same UTC reading, as astimezone is,
    # at half the cost; out of its range the exact old form answers (or raises as it did)
    seconds, micro = divmod(us, 1_000_000)
    try:
        moment = _FROM_TIMESTAMP(seconds, tz)
    except (OverflowError, ValueError, OSError):
        return instant(us).astimezone(tz)
    return moment.replace(microsecond=micro) if micro else moment


_FROM_TIMESTAMP = dt.datetime.fromtimestamp


def offset_us(us: int, tz: dt.tzinfo) -> int:
    off = local(us, tz).utcoffset()
    return 0 if off is None else off // ONE_US


def wall_us(us: int, tz: dt.tzinfo) -> int:
    """The local wall-clock reading of an instant, as microseconds of a naive epoch."""
    return us + offset_us(us, tz)


def wall_datetime(wall: int) -> dt.datetime:
    """A naive datetime from a wall-clock microsecond value."""
    return NAIVE_EPOCH + dt.timedelta(0, 0, wall)


def wall_of(moment: dt.datetime) -> int:
    """Wall-clock microseconds of a naive local datetime."""
    return (moment - dt.datetime(1970, 1, 1)) // ONE_US


def transition_between(start: int, end: int, tz: dt.tzinfo) -> int | None:
    """The first instant in (start, end] with another UTC offset than ``start``, if any.

    Assumes at most one offset change in the span (callers keep it under two days).
    """
    if end <= start or tz is UTC:
        return None
    first = offset_us(start, tz)
    if offset_us(end, tz) == first:
        return None
    low, high = start, end  # offset(low) == first, offset(high) != first
    while high - low > 1:  # about 40 steps to the exact microsecond
        middle = (low + high) // 2
        if offset_us(middle, tz) == first:
            low = middle
        else:
            high = middle
    return high


def earliest_at_wall(target_wall: int, after: int, tz: dt.tzinfo) -> int:
    """The earliest instant >= ``after`` whose local wall clock reads >= ``target_wall``.

    Walks offset segments from ``after`` so gaps (the wall time does not exist: the answer
    is the end of the gap) and folds (the first occurrence) come out exact.
    """
    current = after
    for _ in range(10_000):
        if wall_us(current, tz) >= target_wall:
            return current
        candidate = target_wall - offset_us(current, tz)
        change = transition_between(current, min(candidate, current + TRANSITION_SCAN), tz)
        if change is None:
            if candidate <= current + TRANSITION_SCAN:
                return candidate
            current += TRANSITION_SCAN
        else:
            current = change
    raise RuntimeError("local time did not advance")  # pragma: no cover - zoneinfo invariant


def local_date(us: int, tz: dt.tzinfo) -> dt.date:
    return local(us, tz).date()


ONE_DAY = dt.timedelta(1)  # made once: a timedelta(days=N) call costs several date additions


@functools.lru_cache(maxsize=16384)
def start_of_day_number(ordinal: int, tz: dt.tzinfo) -> int:
    """:func:`start_of_date` of the date with this proleptic ordinal (``date.toordinal()``):
    a run of N dates is ordinals apart, with no date or timedelta made on a hit."""
    return start_of_date(dt.date.fromordinal(ordinal), tz)


@functools.lru_cache(maxsize=16384)
def start_of_date(day: dt.date, tz: dt.tzinfo) -> int:
    """The first instant of a local date (its midnight, or the end of a gap over midnight)."""
    target = wall_of(dt.datetime(day.year, day.month, day.day))
    guess = target - offset_us(target - DAY, tz) - DAY  # well before: offsets are < 1 day
    return earliest_at_wall(target, guess, tz)


@functools.lru_cache(maxsize=4096)
def period_bounds(day: dt.date, unit: str, week_start: int = 0) -> tuple[dt.date, dt.date]:
    """First date of the calendar period containing ``day`` and of the next one; weeks
    start on ``week_start`` (0 = Monday, 11.13)."""
    if unit == "day":
        return day, day + dt.timedelta(days=1)
    if unit == "week":
        start = day - dt.timedelta(days=(day.weekday() - week_start) % 7)
        return start, start + dt.timedelta(days=7)
    if unit == "month":
        start = day.replace(day=1)
        return start, add_months(start, 1)
    if unit == "quarter":
        start = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
        return start, add_months(start, 3)
    start = day.replace(month=1, day=1)
    return start, start.replace(year=start.year + 1)


@functools.lru_cache(maxsize=16384)
def period_instants(day: dt.date, unit: str, week_start: int, tz: dt.tzinfo) -> tuple[int, int]:
    """The first instants of the calendar period holding ``day`` and of the next one, in
    ``tz`` (:func:`period_bounds`, then :func:`start_of_date` of each: one look-up for the three)."""
    first, following = period_bounds(day, unit, week_start)
    return start_of_date(first, tz), start_of_date(following, tz)


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def plus_months(us: int, months: int, tz: dt.tzinfo) -> int:
    """``us`` + N months in ``tz`` (11.2): the same local clock time and day of month, the
    day lowered to the target month's last; a skipped clock time moves forward by the gap
    and a repeated one is the first (zoneinfo's ``fold=0`` reading does both)."""
    moment = local(us, tz)
    first = add_months(moment.date().replace(day=1), months)
    last = (add_months(first, 1) - ONE_DAY).day
    # fold=0: the first of a repeated reading, even when ``us`` was the second one
    target = dt.datetime.combine(first.replace(day=min(moment.day, last)), moment.time().replace(tzinfo=None, fold=0))
    return micros(target.replace(tzinfo=tz))


def plus(us: int, seconds: int, months: int, tz: dt.tzinfo) -> int:
    """``us`` plus a duration of ``seconds`` or of ``months`` (months added in ``tz``)."""
    return plus_months(us, months, tz) if months else us + seconds * SECOND


def next_exit(
    start: int,
    tz: dt.tzinfo,
    quiet: Callable[[dt.datetime], bool],
    next_boundary: Callable[[dt.datetime], dt.datetime],
    horizon: int,
) -> int | None:
    """The earliest instant >= ``start`` whose local wall time is not quiet.

    ``quiet`` judges a naive local wall time; ``next_boundary`` gives the next wall time
    after it at which quietness can change. None when no exit comes before ``horizon``.
    """
    current = start
    while current <= horizon:
        offset = offset_us(current, tz)  # read once: the wall time and the boundary both use it
        wall = wall_datetime(current + offset)
        if not quiet(wall):
            return current
        # Move to the boundary under the current offset, but stop at an offset change:
        # after a fold the wall clock runs back and may leave the quiet period early.
        candidate = wall_of(next_boundary(wall)) - offset
        reach = min(candidate, current + TRANSITION_SCAN)
        # transition_between(current, reach, tz), with the offset at current already known
        if reach <= current or tz is UTC or offset_us(reach, tz) == offset:
            following = reach
        else:
            change = transition_between(current, reach, tz)
            following = change if change is not None else reach
        if following <= current:
            # next_boundary must name a later wall time; without this guard a wrong one
            # would loop forever instead of failing
            raise RuntimeError(f"next_exit made no progress at {instant(current).isoformat()}")
        current = following
    return None


def format_local(us: int, tz: dt.tzinfo) -> str:
    """``2026-11-24 10:00`` in local time (seconds shown when not zero)."""
    moment = local(us, tz)
    text = moment.strftime("%Y-%m-%d %H:%M")
    if moment.second or moment.microsecond:
        text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return text


def format_span(us: int) -> str:
    """A length of time in words: ``6 days 23 hours``."""
    minutes = us // MINUTE
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if minutes or not parts:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(parts)


# ---- zone names -------------------------------------------------------------------------


def valid_zone(name: str) -> bool:
    """Is ``name`` an IANA time zone this machine knows?"""
    if not name or name.startswith("/") or ".." in name:
        return False
    # Files in the zone folder that are not IANA names: `right/` zones count leap seconds
    # (their local times are off by ~27 s), `posix/` duplicates, `localtime` is this machine's.
    if name.startswith(("right/", "posix/", "posixrules")) or name in ("localtime", "Factory"):
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, IsADirectoryError, OSError):
        return False
    return True


def zone_hint(name: str) -> str | None:
    """A did-you-mean for a misspelled zone name."""
    return did_you_mean(name, zoneinfo.available_timezones())

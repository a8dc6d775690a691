"""Public holiday calendars (section 11.10), from the ``holidays`` package.

A calendar code is the package's: a country (``"FR"``) or a country and one of its
subdivisions (``"FR-57"``, ``"US-TX"``); its default public holidays, observed days
included, named in English where the package has English names. Calendars are built per
(code, year) once: a decision asks about a few dates of a few years.
"""

from __future__ import annotations

import datetime as dt
import functools
from importlib import metadata

from policylang.errors import did_you_mean


@functools.cache
def supported() -> dict[str, tuple[str, ...]]:
    """Country code -> its subdivision codes."""
    import holidays

    return {country: tuple(subdivisions) for country, subdivisions in holidays.list_supported_countries().items()}


def split(code: str) -> tuple[str, str | None]:
    country, _, subdivision = code.partition("-")
    return country, subdivision or None


def code_problem(code: str) -> tuple[str, str | None] | None:
    """(message, did-you-mean) when ``code`` is not a calendar the package knows."""
    countries = supported()
    country, subdivision = split(code)
    if country not in countries:
        return f'"{code}" is not a holiday calendar', did_you_mean(code, countries)
    if subdivision is not None and subdivision not in countries[country]:
        pool = [f"{country}-{s}" for s in countries[country]]
        return f'"{code}" is not a region of {country} with a holiday calendar', did_you_mean(code, pool)
    return None


@functools.lru_cache(maxsize=1024)
def year_holidays(code: str, year: int) -> dict[dt.date, str]:
    """The public holidays of ``code`` in ``year``: date -> name (English when available)."""
    import holidays

    country, subdivision = split(code)
    try:
        calendar = holidays.country_holidays(country, subdiv=subdivision, years=year, language="en_US")
    except NotImplementedError:
        calendar = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return dict(calendar.items())


def holiday(code: str, day: dt.date) -> str | None:
    """The holiday's name when ``day`` is a public holiday of ``code``, else None."""
    return year_holidays(code, day.year).get(day)


@functools.cache
def version() -> str:
    """The ``holidays`` package's version, named in each decision's ``sources`` (11.18)."""
    try:
        return metadata.version("holidays")
    except metadata.PackageNotFoundError:  # pragma: no cover - a dependency
        import holidays

        return str(getattr(holidays, "__version__", "unknown"))

"""The scenario AST: frozen statements with spans (a ``.polt`` file, or one REPL line)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any, Literal

import attrs

from policylang.nodes import Name, span_field
from policylang.source import NOWHERE, Source, Span

UTC = dt.timezone.utc

_span = span_field


# ---- the scenario AST ------------------------------------------------------------------


@attrs.frozen(slots=True)
class Instant:
    """A point in time as written: a date, an optional clock time and an optional zone.

    ``zone`` is None (the customer's local time), ``"Z"``, an offset like ``"+01:00"``,
    or an IANA zone name.
    """

    date: dt.date
    clock: dt.time | None = None
    zone: str | None = None
    span: Span = _span()

    def wall(self) -> dt.datetime:
        """The written date and time, naive."""
        return dt.datetime.combine(self.date, self.clock or dt.time(0, 0))

    def resolve(self, local: dt.tzinfo) -> dt.datetime:
        """The instant, reading a zoneless time in ``local``."""
        return self.wall().replace(tzinfo=self.tzinfo() or local)

    def tzinfo(self) -> dt.tzinfo | None:
        """The written zone, or None when the time is local to the customer."""
        return zone_info(self.zone)

    def text(self) -> str:
        """The instant as a scenario writes it."""
        out = self.date.isoformat()
        if self.clock is not None:
            out += " " + clock_text(self.clock)
        if self.zone == "Z":
            out += "Z"
        elif self.zone and self.zone[0] in "+-":
            out += " " + self.zone
        elif self.zone:
            out += f" [{self.zone}]"
        return out


@attrs.frozen(slots=True)
class AttrValue:
    """One ``attr value`` of a ``customer`` line; ``value`` is a literal, a tuple (a set) or None."""

    name: Name
    value: Any
    span: Span = _span()


class SetLiteral(tuple):  # type: ignore[type-arg]
    """A written set ``(a, b)``: a tuple of literals that knows where it was written."""

    span: Span = NOWHERE

    def at(self, span: Span) -> SetLiteral:
        self.span = span
        return self


@attrs.frozen(slots=True)
class ContactSpec:
    """``marketing phone by cards at T [with outcome O] [campaign "x"]``; ``at`` optional in ``displaces``."""

    names: tuple[Name, ...]
    team: Name
    at: Instant | None = None
    outcome: Name | None = None
    campaign: str | tuple[str, ...] | None = None  # 11.18: `campaign "a", "b"`
    span: Span = _span()
    id: str | None = attrs.field(default=None, kw_only=True)  # 11.18 `id "c-1"`


@attrs.frozen(slots=True)
class RequestSpec:
    """``PURPOSE CHANNEL by TEAM [at T] [campaign "x"] [priority N]``."""

    names: tuple[Name, ...]
    team: Name
    at: Instant | None = None
    campaign: str | tuple[str, ...] | None = None
    priority: int = 0
    span: Span = _span()


CheckKind = Literal["allowed", "denied", "next", "displaces", "warns"]


@attrs.frozen(slots=True)
class Check:
    """One assertion of an ``expect``.

    kind: ``allowed``, ``denied`` (``rules`` None: any rules, else exactly these),
    ``next`` (``at`` None: never), ``displaces`` (``contacts`` empty: nothing), ``warns``
    (``rules``: exactly these `warn` rules warn; empty: none does, 11.18).
    """

    kind: CheckKind
    rules: tuple[str, ...] | None = None
    at: Instant | None = None
    contacts: tuple[ContactSpec, ...] = ()
    rule_spans: tuple[Span, ...] = attrs.field(default=(), eq=False, repr=False)
    span: Span = _span()


@attrs.frozen(slots=True)
class Use:
    path: str
    span: Span = _span()


@attrs.frozen(slots=True)
class Now:
    at: Instant
    span: Span = _span()


@attrs.frozen(slots=True)
class CustomerDecl:
    name: Name
    attributes: tuple[AttrValue, ...]
    span: Span = _span()


@attrs.frozen(slots=True)
class Had:
    """``NAME had ...`` (sent) or ``NAME plans ...`` (planned)."""

    customer: Name
    contact: ContactSpec
    planned: bool = False
    span: Span = _span()


@attrs.frozen(slots=True)
class HadEvent:
    customer: Name
    event: Name
    at: Instant
    span: Span = _span()
    campaign: str | tuple[str, ...] | None = attrs.field(default=None, kw_only=True)  # 11.18


@attrs.frozen(slots=True)
class Expect:
    customer: Name
    request: RequestSpec
    checks: tuple[Check, ...]
    span: Span = _span()


@attrs.frozen(slots=True)
class Ask:
    customer: Name
    request: RequestSpec
    span: Span = _span()


@attrs.frozen(slots=True)
class Voided:
    """``NAME voided "c-1", "c-2" at T [because "why"]`` (11.18): a void line (11.4)."""

    customer: Name
    ids: tuple[str, ...]
    at: Instant
    reason: str | None = None
    span: Span = _span()


Statement = Use | Now | CustomerDecl | Had | HadEvent | Voided | Expect | Ask


@attrs.frozen(slots=True)
class ScenarioFile:
    """A parsed scenario: its statements in order and its source text."""

    statements: tuple[Statement, ...]
    source: Source


def clock_text(clock: dt.time) -> str:
    return clock.strftime("%H:%M:%S" if clock.second else "%H:%M")


def zone_info(zone: str | None) -> dt.tzinfo | None:
    """The tzinfo for a written zone (validated when parsed)."""
    if zone is None:
        return None
    if zone == "Z":
        return UTC
    if zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        delta = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return dt.timezone(-delta if zone[0] == "-" else delta)
    return zoneinfo.ZoneInfo(zone)

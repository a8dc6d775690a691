"""Validating input records: customers, ledger lines and requests (JSON), and instants.

Nothing is decided from input that did not validate: every problem raises an
:class:`~policylang.errors.InputError` whose span names the file and line, and whose
message names the field.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterator, Mapping

from policylang.clock import valid_zone, zone_hint
from policylang.errors import InputError, did_you_mean
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
    resolve_voids,
)
from policylang.rules import AttrSpec, Policy
from policylang.source import Span

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
else:
    from policylang.annotations import Any

RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|z|[+-]\d{2}:\d{2})?$"
)


UTC = dt.timezone.utc
_ZONES: dict[str, dt.timezone] = {}


def _offset_zone(offset: str) -> dt.timezone:
    """The fixed zone of an offset text like +05:30 (checked already: hours below 24)."""
    zone = _ZONES.get(offset)
    if zone is None:
        minutes = int(offset[1:3]) * 60 + int(offset[4:6])
        zone = dt.timezone(dt.timedelta(minutes=-minutes if offset[0] == "-" else minutes))
        if len(_ZONES) < 4096:
            _ZONES[offset] = zone
    return zone


def where(file: str, line: int = 0) -> Span:
    """A location for an input record: a file and, for JSONL, the line."""
    return Span(file, line, 1 if line else 0, line, 2 if line else 0)


def parse_instant(text: object, at: Span, field: str = "at", *, noun: str = "field") -> dt.datetime:
    """An RFC 3339 instant with an offset, as UTC. Refuses instants without an offset."""
    if not isinstance(text, str):
        raise InputError(f"{noun} `{field}` must be an RFC 3339 instant text, not {type_name(text)}", at)
    match = RFC3339.match(text.strip())
    if not match:
        raise InputError(
            f"{noun} `{field}`: `{text}` is not an RFC 3339 instant",
            at,
            expected="an instant like 2026-11-24T10:00:00Z or 2026-11-24T10:00:00+01:00",
        )
    if match.group(8) is None:
        raise InputError(
            f"{noun} `{field}`: `{text}` has no offset, so it names no single instant",
            at,
            hint="add Z for UTC or an offset like +01:00",
        )
    offset = match.group(8)
    if offset not in ("Z", "z") and (int(offset[1:3]) > 23 or int(offset[4:6]) > 59):
        raise InputError(f"{noun} `{field}`: `{offset}` in `{text}` is not a UTC offset", at,
                         expected="an offset from -23:59 to +23:59, minutes below 60")  # fmt: skip
    # Built from the pattern's fields, not by datetime.fromisoformat: which fractions that takes
    # depends on the Python version (3.10 reads only 3 or 6 digits), and the fast readers in
    # ingest must read exactly these instants on every version. A fraction of 1 to 9 digits is
    # read to the microsecond, digits past the sixth dropped (docs/language.md, "Instants").
    year, month, day, hour, minute, second, fraction = match.groups()[:7]
    try:
        if not match.group(0).isascii():  # \d also matches other scripts' digits, which are no date
            raise ValueError
        value = dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
            int(fraction[1:7].ljust(6, "0")) if fraction else 0,
            UTC if offset in ("Z", "z") else _offset_zone(offset),
        )
    except ValueError:
        raise InputError(f"{noun} `{field}`: `{text}` is not a real date and time", at) from None
    # both the local date and the instant (in UTC) must lie within the years handled
    if not FIRST_YEAR <= value.year <= LAST_YEAR or not (
        FIRST_YEAR <= (value - value.utcoffset()).replace(tzinfo=None).year <= LAST_YEAR  # type: ignore[operator]
    ):
        raise InputError(
            f"{noun} `{field}`: `{text}` is outside the years policylang handles",
            at,
            expected=f"an instant from {FIRST_YEAR} to {LAST_YEAR}",
        )
    return value.astimezone(dt.timezone.utc)


def type_name(value: object) -> str:
    return {
        bool: "true/false", int: "a number", float: "a number", str: "a text",
        list: "a list", dict: "an object", type(None): "null",
    }.get(type(value), type(value).__name__)


def _name(policy: Policy, value: object, kind: str, at: Span, field: str, noun: str = "field") -> str:
    pool = policy.vocabulary.get(kind + "s", ())
    if not isinstance(value, str):
        raise InputError(f"{noun} `{field}` must be a {kind} name, not {type_name(value)}", at)
    if value not in pool:
        raise InputError(
            f"{noun} `{field}`: `{value}` is not a declared {kind}",
            at,
            hint=did_you_mean(value, pool) or f"declared {kind}s: {', '.join(pool) or 'none'}",
        )
    return value


def _optional_text(obj: Mapping[str, Any], key: str, at: Span) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"field `{key}` must be a text, not {type_name(value)}", at)
    return value


def _campaign(obj: Mapping[str, Any], at: Span) -> str | tuple[str, ...] | None:
    """``campaign``: a text or a list of texts (11.3); a list of one is that text."""
    value = obj.get("campaign")
    if not isinstance(value, list):
        return _optional_text(obj, "campaign", at)
    if not value or not all(isinstance(v, str) for v in value):
        raise InputError("field `campaign` must be a text or a list of texts", at)
    names = tuple(dict.fromkeys(value))
    return names[0] if len(names) == 1 else names


def _object(obj: object, at: Span, what: str) -> Mapping[str, Any]:
    if not isinstance(obj, dict):
        raise InputError(f"a {what} must be a JSON object, not {type_name(obj)}", at)
    return obj


def _no_unknown(obj: Mapping[str, Any], allowed: tuple[str, ...], at: Span, what: str) -> None:
    for key in obj:
        if key not in allowed:
            raise InputError(
                f"unknown field `{key}` in a {what}",
                at,
                hint=did_you_mean(key, allowed) or f"the fields are {', '.join(allowed)}",
            )


REQUEST_FIELDS = ("team", "channel", "purpose", "at", "campaign", "priority", "customer", "id")
CONTACT_FIELDS = ("at", "channel", "purpose", "team", "status", "outcome", "campaign", "id", "customer", "void_reason",
                  "warnings")
EVENT_FIELDS = ("at", "event", "customer", "id", "campaign")
VOID_FIELDS = ("at", "void", "reason", "event", "customer", "id")


def request_from_json(policy: Policy, obj: object, at: Span) -> Request:
    """A :class:`Request` from its JSON object (section 10)."""
    data = _object(obj, at, "request")
    _no_unknown(data, REQUEST_FIELDS, at, "request")
    for key in ("team", "channel", "purpose", "at"):
        if key not in data:
            raise InputError(f"the request has no `{key}` field", at)
    priority = data.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InputError(f"field `priority` must be a whole number, not {type_name(priority)}", at)
    return Request(
        team=_name(policy, data["team"], "team", at, "team"),
        channel=_name(policy, data["channel"], "channel", at, "channel"),
        purpose=_name(policy, data["purpose"], "purpose", at, "purpose"),
        at=parse_instant(data["at"], at),
        campaign=_campaign(data, at),
        priority=priority,
        id=_optional_text(data, "id", at),
    )


def entry_from_json(policy: Policy, obj: object, at: Span) -> Entry:
    """A ledger line: a contact (``channel``...), a declared event (``event``) or, typed
    as an entry for the history to apply, a void line (``void``, 11.4)."""
    data = _object(obj, at, "ledger line")
    if "at" not in data:
        raise InputError("the ledger line has no `at` field", at)
    instant = parse_instant(data["at"], at)
    customer = _optional_text(data, "customer", at)
    if "void" in data:
        _no_unknown(data, VOID_FIELDS, at, "void line")
        named = data["void"]
        ids = [named] if isinstance(named, str) else named
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise InputError("field `void` must be an id or a list of ids", at, expected='"c-1" or ["c-1", "c-2"]')
        event = _name(policy, data["event"], "event", at, "event") if "event" in data else None
        return VoidLine(instant, tuple(ids), _optional_text(data, "reason", at), event, customer)  # type: ignore[return-value]
    if "event" in data:
        _no_unknown(data, EVENT_FIELDS, at, "ledger event")
        return Event(instant, _name(policy, data["event"], "event", at, "event"), customer, _campaign(data, at))
    _no_unknown(data, CONTACT_FIELDS, at, "ledger contact")
    for key in ("channel", "purpose", "team"):
        if key not in data:
            raise InputError(f"the ledger contact has no `{key}` field", at, hint="an event line needs `event`")
    status = data.get("status", "sent")
    if status not in CONTACT_STATUSES:
        raise InputError(
            f"field `status`: `{status}` is not a contact status",
            at,
            expected=", ".join(CONTACT_STATUSES),
            hint=did_you_mean(str(status), CONTACT_STATUSES),
        )
    outcome = data.get("outcome")
    if outcome is not None:
        outcome = _name(policy, outcome, "outcome", at, "outcome")
    return Contact(
        at=instant,
        channel=_name(policy, data["channel"], "channel", at, "channel"),
        purpose=_name(policy, data["purpose"], "purpose", at, "purpose"),
        team=_name(policy, data["team"], "team", at, "team"),
        status=status,
        outcome=outcome,
        campaign=_campaign(data, at),
        id=_optional_text(data, "id", at),
        customer=customer,
        void_reason=_optional_text(data, "void_reason", at),
        warnings=_warnings(data, at),
    )


def _warnings(obj: Mapping[str, Any], at: Span) -> tuple[str, ...]:
    """``warnings`` on a ledger contact (11.14, as a shared ledger exports a reservation's):
    a list of rule names, kept as written (the policy that warned may not be this one)."""
    value = obj.get("warnings", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError("field `warnings` must be a list of rule names", at, expected='["two unanswered"]')
    return tuple(value)


def customer_from_json(policy: Policy, obj: object, at: Span) -> Customer:
    """A :class:`Customer`, every attribute checked against the policy's declared type."""
    data = _object(obj, at, "customer record")
    ident = data.get("id", "")
    if not isinstance(ident, (str, int)) or isinstance(ident, bool):
        raise InputError(f"field `id` must be a text, not {type_name(ident)}", at)
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key == "id":
            continue
        spec = policy.attributes.get(key)
        if spec is None:
            raise InputError(
                f"the customer has no attribute `{key}` in this policy",
                at,
                hint=did_you_mean(key, policy.attributes) or "declare it in the policy's `customer` block",
            )
        if raw is None:
            continue  # null means absent
        values[key] = attribute_value(policy, spec, raw, at)
    return Customer(str(ident), values)


def attribute_value(policy: Policy, spec: AttrSpec, raw: object, at: Span, *, noun: str = "field") -> Any:
    """One attribute value, typed; InputError when it does not fit the declaration. ``noun``
    names the value in messages: a JSON ``field``, or a scenario's customer ``attribute``."""
    field = spec.name
    kind = spec.kind
    if kind == "flag":
        if not isinstance(raw, bool):
            raise InputError(f"{noun} `{field}` is a flag: give true or false, not {type_name(raw)}", at)
        return raw
    if kind == "number":
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
            if isinstance(raw, float) and not math.isfinite(raw):
                raise InputError(f"{noun} `{field}` must be a finite number, not {raw}", at)
            raise InputError(f"{noun} `{field}` must be a number, not {type_name(raw)}", at)
        return float(raw)
    if kind == "date":
        if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
            return raw  # already typed (library callers)
        if isinstance(raw, str):
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                pass
        raise InputError(f"{noun} `{field}` must be a date like \"2026-11-24\"", at)
    if kind == "instant":  # 11.2: RFC 3339 with an offset
        if isinstance(raw, dt.datetime):
            if raw.tzinfo is None:
                raise InputError(f"{noun} `{field}`: an instant needs a UTC offset", at)
            return raw.astimezone(dt.timezone.utc)
        if not isinstance(raw, str):
            raise InputError(f"{noun} `{field}` must be an instant like \"2026-04-02T15:10:00-04:00\", not {type_name(raw)}", at)
        return parse_instant(raw, at, field, noun=noun)
    if kind == "zones" and isinstance(raw, tuple):
        raw = list(raw)
    if kind == "set" and isinstance(raw, (set, frozenset, tuple)):
        raw = sorted(raw, key=str)  # already a collection (library callers)
    if not isinstance(raw, (str, list)):
        raise InputError(f"{noun} `{field}` must be {'a list' if kind == 'set' else 'a text'}, not {type_name(raw)}", at)
    if kind == "region":  # 11.10: a holiday calendar code
        from policylang.calendars import code_problem

        problem = code_problem(raw) if isinstance(raw, str) else (f"`{raw}` is not a text", None)
        if problem is not None:
            raise InputError(f"{noun} `{field}`: {problem[0]}", at, expected='a code like "FR-57" or "US-TX"',
                             hint=problem[1])
        return raw
    if kind == "zones":  # 11.7: a list of IANA names, one string allowed, empty is absent
        names = [raw] if isinstance(raw, str) else raw
        for name in names:
            if not isinstance(name, str) or not valid_zone(name):
                raise InputError(
                    f"{noun} `{field}`: `{name}` is not a known time zone",
                    at,
                    expected='IANA time zone names like ["America/New_York", "America/Chicago"]',
                    hint=zone_hint(str(name)),
                )
        return tuple(dict.fromkeys(names)) or None
    if kind == "zone":
        if not isinstance(raw, str) or not valid_zone(raw):
            raise InputError(
                f"{noun} `{field}`: `{raw}` is not a known time zone",
                at,
                expected='an IANA time zone name like "Europe/London"',
                hint=zone_hint(str(raw)),
            )
        return raw
    if kind == "text":
        if not isinstance(raw, str):
            raise InputError(f"{noun} `{field}` must be a text, not {type_name(raw)}", at)
        return raw
    if kind == "enum":
        if not isinstance(raw, str) or raw not in spec.choices:
            raise InputError(
                f"{noun} `{field}`: `{raw}` is not one of {', '.join(sorted(spec.choices))}",
                at,
                hint=did_you_mean(str(raw), spec.choices),
            )
        return raw
    if kind in ("team", "channel", "purpose"):
        return _name(policy, raw, kind, at, field, noun)
    # a set
    if not isinstance(raw, list):
        raise InputError(f"{noun} `{field}` is a set: give a list, not {type_name(raw)}", at)
    element = spec.element or "text"
    items: set[str] = set()
    for item in raw:
        if element == "text":
            if not isinstance(item, str):
                raise InputError(f"{noun} `{field}` holds texts, not {type_name(item)}", at)
            items.add(item)
        else:
            items.add(_name(policy, item, element, at, field, noun))
    return frozenset(items)


# Limits of JSON input (issue 9): past them no real customer, request or ledger goes, and
# the standard library would fail with a RecursionError or a ValueError of its own.
MAX_JSON_DEPTH = 64  # arrays and objects inside each other
MAX_NUMBER_DIGITS = 100  # characters of one JSON integer


class _Refused(Exception):
    """A JSON text the strict parser refuses: a message and where (an offset) it is."""

    def __init__(self, message: str, offset: int, key: str | None = None) -> None:
        super().__init__(message)
        self.message, self.offset = message, offset
        self.key = key  # the key given twice, for a duplicate


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def _json_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"key `{key}` is given twice in one object (the JSON contract forbids duplicates)", -1, key)
            seen.add(key)
    return found


def _integer(text: str) -> object:
    # int() of a long text is quadratic and refused past 4,300 digits; no count needs 100
    if len(text) > MAX_NUMBER_DIGITS:
        raise _Refused(f"a number of {len(text)} characters is over the limit of {MAX_NUMBER_DIGITS}", -1)
    return int(text)


def _constant(name: str) -> object:
    raise _Refused(f"`{name}` is not a JSON number (JSON has no NaN or infinity)", -1)


_DECODER = json.JSONDecoder(object_pairs_hook=_json_object, parse_int=_integer,
                            parse_constant=_constant)  # fmt: skip


def _too_deep(text: str) -> int:
    """The offset of the first bracket nested deeper than the limit, or -1."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return -1
    blanked = _STRING.sub(lambda m: " " * len(m.group()), text)
    depth = 0
    for m in _BRACKET.finditer(blanked):
        depth += 1 if m.group() in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            return m.start()
    return -1


def _locate(text: str, exc: _Refused) -> int:
    """Where in the text a refused value is (the parser's hooks do not know)."""
    message, key = exc.message, exc.key
    if key is not None:
        places = [m.start() for m in re.finditer(re.escape(json.dumps(key)) + r"\s*:", text)]
        return places[1] if len(places) > 1 else (places[0] if places else 0)
    if message.startswith("a number of"):
        m = re.search(r"-?[0-9]{" + str(MAX_NUMBER_DIGITS) + ",}", text)
        return m.start() if m else 0
    m = re.search(r"NaN|-?Infinity", _STRING.sub(lambda m: " " * len(m.group()), text))
    return m.start() if m else 0


def strict_json(text: str) -> object:
    """Parse JSON, refusing duplicate keys, NaN and infinities, numbers over
    MAX_NUMBER_DIGITS characters and nesting over MAX_JSON_DEPTH; a refusal raises
    ``json.JSONDecodeError`` with the line and column of the offending part."""
    deep = _too_deep(text)
    if deep >= 0:
        raise json.JSONDecodeError(f"arrays and objects nested deeper than {MAX_JSON_DEPTH}", text, deep)
    try:
        return _DECODER.decode(text)
    except _Refused as exc:
        raise json.JSONDecodeError(exc.message, text, _locate(text, exc)) from None
    except RecursionError:  # pragma: no cover - the depth limit comes first
        raise json.JSONDecodeError("nested too deeply", text, 0) from None


def duplicate_key(text: str) -> str | None:
    """The key :func:`strict_json` finds given twice in one object of ``text`` (at any
    depth), or ``None``: none there, or the text refused first for another reason."""
    if _too_deep(text) >= 0:
        return None
    try:
        _DECODER.decode(text)
    except _Refused as exc:
        return exc.key
    except (ValueError, RecursionError):
        return None
    return None


def load_json(text: str, file: str) -> object:
    """Parse one JSON document; InputError with the line and column of a syntax error."""
    try:
        return strict_json(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", Span.point(file, exc.lineno, exc.colno)) from None


def jsonl_lines(text: str, file: str) -> Iterator[tuple[int, object]]:
    """(line number, parsed object, or that line's InputError) for each non-blank line.

    Never stops at a bad line, so an importer can report every one of them.
    """
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, strict_json(line)
        except json.JSONDecodeError as exc:
            yield number, InputError(f"invalid JSON on this line: {exc.msg}", Span.point(file, number, exc.colno))


def read_jsonl(text: str, file: str) -> Iterator[tuple[int, object]]:
    """(line number, parsed object) for each non-blank line; raises at the first bad one."""
    for number, obj in jsonl_lines(text, file):
        if isinstance(obj, InputError):
            raise obj
        yield number, obj


def ledger_from_jsonl(policy: Policy, text: str, file: str) -> list[Entry]:
    """Every entry of a JSONL ledger, or the first bad line's InputError."""
    numbered = list(read_jsonl(text, file))
    entries = [entry_from_json(policy, obj, where(file, number)) for number, obj in numbered]
    return resolve_voids(entries, file, [number for number, _ in numbered])

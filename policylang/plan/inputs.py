"""Candidates (CSV, JSON Lines or Parquet) and the cycle file (TOML), validated.

A bad row is an :class:`InputError` naming the file, the row (the line for JSONL and
CSV, the row number for Parquet) and the field; nothing is guessed.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

import attrs
import numpy as np
import numpy.typing as npt

from policylang.errors import InputError
from policylang.inputs import _name, parse_instant, read_jsonl, type_name, where
from policylang.records import Request
from policylang.rules import Policy
from policylang.source import Span

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FIELDS = ("id", "customer", "team", "channel", "purpose", "campaign", "at", "value", "cost", "priority", "group")
REQUIRED = FIELDS[:8]
CAMPAIGN_KEYS = ("budget", "min_volume", "max_volume", "min_cell")
SHARED = 1 << 18  # entries of the readers' table of equal requests and customer ids


@attrs.frozen(slots=True, eq=False)
class Candidates:
    """Every candidate contact, one index each, in file order.

    ``requests[j]`` is the request the evaluator decides; ``value`` and ``cost`` are
    float arrays; ``group`` is None for a candidate without alternatives.
    """

    ids: list[str]
    customers: list[str]
    requests: list[Request]
    value: npt.NDArray[np.float64]
    cost: npt.NDArray[np.float64]
    group: list[str | None]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def campaigns(self) -> list[str]:
        return [campaign_name(r) for r in self.requests]


def campaign_name(request: Request) -> str:
    """A candidate's campaign (one text: the candidates file gives one per row)."""
    campaign = request.campaign
    if isinstance(campaign, tuple):
        return ",".join(campaign)
    return campaign or ""


@attrs.frozen(slots=True)
class Limits:
    """One campaign's limits from the cycle file; None where not given."""

    budget: float | None = None
    min_volume: int | None = None
    max_volume: int | None = None
    min_cell: int | None = None


@attrs.frozen(slots=True)
class Cycle:
    """The cycle file: a total budget and per-campaign limits."""

    budget: float | None = None
    campaigns: Mapping[str, Limits] = attrs.field(factory=dict)


def read_cycle(text: str, file: str) -> Cycle:
    """Parse a cycle file; an InputError names the table and key of a bad value."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", 0) or 0
        column = getattr(exc, "colno", 0) or 0
        message = str(exc).split(" (at line")[0]
        raise InputError(f"invalid TOML: {message}", Span.point(file, line or 1, column or 1)) from None
    at = where(file)
    unknown = sorted(set(data) - {"budget", "campaign"})
    if unknown:
        raise InputError(f"unknown table `{unknown[0]}` in the cycle file", at, expected="budget, campaign")
    budget = None
    if "budget" in data:
        table = data["budget"]
        if not isinstance(table, dict) or set(table) - {"total"}:
            raise InputError("`[budget]` takes one key, `total`", at)
        if "total" in table:
            budget = _number(table["total"], "budget.total", at)
    campaigns: dict[str, Limits] = {}
    raw = data.get("campaign", {})
    if not isinstance(raw, dict):
        raise InputError("`campaign` must be tables `[campaign.NAME]`", at)
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise InputError(f"`campaign.{name}` must be a table", at)
        bad = sorted(set(table) - set(CAMPAIGN_KEYS))
        if bad:
            raise InputError(f"unknown key `{bad[0]}` in `[campaign.{name}]`", at, expected=", ".join(CAMPAIGN_KEYS))
        counts = {k: _count(table[k], f"campaign.{name}.{k}", at) for k in CAMPAIGN_KEYS[1:] if k in table}
        limits = Limits(
            budget=_number(table["budget"], f"campaign.{name}.budget", at) if "budget" in table else None,
            **counts,
        )
        if limits.min_volume is not None and limits.max_volume is not None and limits.min_volume > limits.max_volume:
            raise InputError(f"`campaign.{name}`: min_volume {limits.min_volume} exceeds max_volume {limits.max_volume}", at)
        campaigns[name] = limits
    return Cycle(budget, campaigns)


def _number(value: object, key: str, at: Span) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InputError(f"`{key}` must be a number at least 0, not {value!r}", at)
    return float(value)


def _count(value: object, key: str, at: Span) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"`{key}` must be a whole number at least 0, not {value!r}", at)
    return value


# ---- candidates ----------------------------------------------------------------------------


def read_candidates(policy: Policy, path: str, data: bytes | None = None) -> Candidates:
    """Read a candidates file by its extension: ``.csv``, ``.jsonl``/``.json`` or ``.parquet``."""
    lower = path.lower()
    rows: Iterator[tuple[int, object]]
    if lower.endswith(".parquet"):
        rows = _parquet_rows(path)
    elif data is None and lower.endswith(".csv"):
        # a column at a time (pyarrow) when every value is good; else row by row, which
        # names the line and field of the first bad one
        fast = csv_columns(policy, path)
        if fast is not None:
            return fast
        # streamed: the whole text in memory (and io.StringIO's copy of it, four bytes a
        # character) was 4 GB at a million customers
        rows = _csv_file_rows(path)
    else:
        if data is None:
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except FileNotFoundError:
                raise InputError(f"{path}: no such file", where(path)) from None
            except OSError as exc:
                raise InputError(f"{path}: cannot be read ({exc.strerror})", where(path)) from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError(f"{path}: is not UTF-8 text", where(path)) from None
        if lower.endswith(".csv"):
            rows = _csv_rows(text, path)
        elif lower.endswith((".jsonl", ".json", ".ndjson")):
            rows = read_jsonl(text, path)
        else:
            raise InputError(f"{path}: unknown candidates format", where(path),
                             expected=".csv, .jsonl or .parquet")
    return _validated(policy, rows, path)


class _Slow(Exception):
    """A value the columns cannot vouch for: the row-by-row reader decides (and names it)."""


def csv_columns(policy: Policy, path: str) -> Candidates | None:
    """The candidates of a CSV file read a column at a time (pyarrow record batches, as the
    batch engine reads CSV: :func:`policylang.tables.csv_batches`), or None when some value
    is not plainly good (then :func:`read_candidates` reads row by row, which accepts or
    refuses it exactly and names the line and field). What the rows path checks per row is
    checked here per distinct value (names, instants, priorities: candidates share few) or
    per column (numbers, ids unique, a group within one customer).

    Reading 5,000,000 candidates row by row cost ~140 s of CPU (a dict, a validation and a
    request per row); a column at a time it is a few seconds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from policylang.tables import csv_batches

    ids: list[str] = []
    customers: list[str] = []
    requests: list[Request] = []
    values: list[Any] = []
    costs: list[Any] = []
    groups: list[str | None] = []
    id_chunks: list[Any] = []
    pairs: list[Any] = []
    shared: dict[Any, Any] = {}
    names: dict[str, str] = {}
    at = where(path)
    try:
        for _, batch in csv_batches(path):
            fields = batch.schema.names
            if set(fields) - set(FIELDS) or set(REQUIRED) - set(fields) or len(set(fields)) != len(fields):
                raise _Slow
            n = batch.num_rows
            if any(batch.column(name).null_count for name in REQUIRED):
                raise _Slow
            column = {name: batch.column(name) for name in fields}
            id_chunks.append(column["id"])
            ids.extend(column["id"].to_pylist())
            # the customer's id once (its rows repeat it)
            codes, distinct = _encoded(column["customer"])
            mine = [shared.setdefault(("customer", c), c) for c in distinct]
            customers.extend([mine[k] for k in codes])
            # a request per distinct (team, channel, purpose, at, campaign, priority)
            keys = ["team", "channel", "purpose", "at", "campaign", "priority"]
            parts = []
            for key in keys:
                if key == "priority" and key in column:
                    parts.append(_encoded(column[key].fill_null("0")))
                elif key in column:
                    parts.append(_encoded(column[key]))
                else:
                    parts.append((np.zeros(n, dtype=np.int64), [None]))
            first, inverse = _distinct_rows([codes_k for codes_k, _ in parts], [len(d) for _, d in parts])
            made: list[Request] = []
            for row in first:
                team, channel, purpose, instant, campaign, priority = (d[int(c[row])] for c, d in parts)
                for kind, name in (("team", team), ("channel", channel), ("purpose", purpose)):
                    if name not in policy.vocabulary.get(kind + "s", ()):
                        raise _Slow
                if priority is None:
                    number = 0
                else:
                    try:
                        number = int(priority)
                    except ValueError:
                        raise _Slow from None
                request = Request(team=names.setdefault(team, team), channel=names.setdefault(channel, channel),
                                  purpose=names.setdefault(purpose, purpose), at=parse_instant(instant, at),
                                  campaign=campaign, priority=number)
                made.append(shared.setdefault(request, request))
            requests.extend([made[k] for k in inverse.tolist()])
            value = _floats(column["value"])
            cost = _floats(column["cost"].fill_null("0")) if "cost" in column else np.zeros(n)
            if (cost < 0).any():
                raise _Slow
            values.append(value)
            costs.append(cost)
            if "group" in column:
                # a group's label once (its two or three rows repeat it)
                encoded = column["group"].dictionary_encode()
                labels = [*encoded.dictionary.to_pylist(), None]
                codes = encoded.indices.fill_null(len(labels) - 1).to_numpy(zero_copy_only=False)
                groups.extend([labels[k] for k in codes.tolist()])
                pairs.append(pa.record_batch([column["group"], column["customer"]], names=["group", "customer"]))
            else:
                groups.extend([None] * n)
            if len(shared) > SHARED:
                shared.clear()
    except (_Slow, InputError, pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None
    pa.default_memory_pool().release_unused()  # the batches' buffers: a few hundred MB at a million
    if id_chunks and pc.count_distinct(pa.chunked_array(id_chunks)).as_py() != len(ids):
        return None  # an id used twice: the rows path names the line
    if pairs:
        table = pa.Table.from_batches(pairs)
        table = table.filter(pc.is_valid(table.column("group")))
        owners = table.group_by("group").aggregate([("customer", "count_distinct")])
        if len(owners) and pc.max(owners.column("customer_count_distinct")).as_py() > 1:
            return None  # a group naming two customers
        del table, owners
    del id_chunks, pairs
    pa.default_memory_pool().release_unused()
    return Candidates(ids, customers, requests,
                      np.concatenate(values) if values else np.zeros(0), np.concatenate(costs) if costs else np.zeros(0),
                      groups)


def _encoded(column: Any) -> tuple[Any, list[Any]]:
    """A text column as (codes, the distinct values): candidates share few teams, slots..."""
    encoded = column.dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    return codes.astype(np.int64), encoded.dictionary.to_pylist()


def _distinct_rows(codes: list[npt.NDArray[np.int64]], sizes: list[int]) -> tuple[list[int], npt.NDArray[np.int64]]:
    """The first row of each distinct combination of ``codes`` (one array a column, values
    below ``sizes``) and each row's combination number."""
    radix = 1
    for size in sizes:
        radix *= size + 1
    if radix < 1 << 62:
        combined = np.zeros(len(codes[0]), dtype=np.int64)
        for column, size in zip(codes, sizes, strict=True):
            combined = combined * (size + 1) + column
        _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    else:  # too many distinct values to number the combinations in 64 bits
        _, first, inverse = np.unique(np.stack(codes, axis=1), axis=0, return_index=True, return_inverse=True)
    return first.tolist(), np.asarray(inverse, dtype=np.int64).ravel()


def _floats(column: Any) -> npt.NDArray[np.float64]:
    """A text column of numbers; _Slow for a null, a text pyarrow does not read as a
    number, or one that is not finite (the rows path refuses or reads it)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.null_count:
        raise _Slow
    try:
        numbers = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _Slow from None
    if not np.isfinite(numbers).all():
        raise _Slow
    return np.asarray(numbers, dtype=np.float64)


def _csv_file_rows(path: str) -> Iterator[tuple[int, object]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            yield from _csv_rows(handle, path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", where(path)) from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: is not UTF-8 text", where(path)) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})", where(path)) from None


def _csv_rows(text: str | TextIO, file: str) -> Iterator[tuple[int, object]]:
    reader = csv.DictReader(io.StringIO(text) if isinstance(text, str) else text)
    for row in reader:
        extra = row.pop(None, None)
        if extra:
            raise InputError("the row has more fields than the header", where(file, reader.line_num))
        yield reader.line_num, {k: (v if v != "" else None) for k, v in row.items()}


def _parquet_rows(path: str) -> Iterator[tuple[int, object]]:
    """Parquet rows read by pyarrow, as the batch job reads them (timestamps with a zone as
    RFC 3339 texts; one without a zone has no offset, which the validator refuses)."""
    from policylang.tables import read_rows

    for number, row in read_rows(path):
        if isinstance(row, InputError):
            raise row
        yield number, row


def _validated(policy: Policy, rows: Iterator[tuple[int, object]], file: str) -> Candidates:
    ids: list[str] = []
    customers: list[str] = []
    requests: list[Request] = []
    values: list[float] = []
    costs: list[float] = []
    groups: list[str | None] = []
    seen: set[str] = set()
    group_owner: dict[str, str] = {}
    is_text = file.lower().endswith(".csv")
    # Equal requests (same team, channel, purpose, instant, campaign, priority: a campaign's
    # send slots) and a customer's id, repeated on each of its rows, are held once: at a
    # million customers the copies were gigabytes. Bounded: past SHARED entries, start over.
    shared: dict[Any, Any] = {}
    for line, obj in rows:
        if len(shared) > SHARED:
            shared.clear()
        at = where(file, line)
        if not isinstance(obj, dict):
            raise InputError(f"a candidate must be an object, not {type_name(obj)}", at)
        unknown = sorted(set(obj) - set(FIELDS))
        if unknown:
            raise InputError(f"unknown field `{unknown[0]}` in a candidate", at, expected=", ".join(FIELDS))
        for key in REQUIRED:
            if obj.get(key) is None:
                raise InputError(f"the candidate has no `{key}` field", at)
        ident = _text(obj["id"], "id", at)
        if ident in seen:
            raise InputError(f"field `id`: `{ident}` is used by an earlier candidate", at)
        seen.add(ident)
        customer = _text(obj["customer"], "customer", at)
        customer = shared.setdefault(("customer", customer), customer)
        request = Request(
            team=_name(policy, obj["team"], "team", at, "team"),
            channel=_name(policy, obj["channel"], "channel", at, "channel"),
            purpose=_name(policy, obj["purpose"], "purpose", at, "purpose"),
            at=parse_instant(obj["at"], at),
            campaign=_text(obj["campaign"], "campaign", at),
            priority=int(_num(obj.get("priority", 0) or 0, "priority", at, is_text, whole=True)),
        )
        request = shared.setdefault(request, request)
        value = _num(obj["value"], "value", at, is_text)
        cost = _num(obj.get("cost", 0) or 0, "cost", at, is_text)
        if cost < 0:
            raise InputError(f"field `cost` must be at least 0, not {cost}", at)
        group = obj.get("group")
        if group is not None:
            group = _text(group, "group", at)
            first = group_owner.setdefault(group, customer)
            if first != customer:
                raise InputError(f"field `group`: `{group}` already holds candidates of customer `{first}`", at,
                                 hint="a group holds one customer's alternatives")
        ids.append(ident)
        customers.append(customer)
        requests.append(request)
        values.append(value)
        costs.append(cost)
        groups.append(group)
    return Candidates(ids, customers, requests, np.array(values, dtype=np.float64),
                      np.array(costs, dtype=np.float64), groups)


def _text(value: object, field: str, at: Span) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"field `{field}` must be a text, not {type_name(value)}", at)
    text = str(value)
    if not text:
        raise InputError(f"field `{field}` is empty", at)
    return text


def _num(value: Any, field: str, at: Span, from_text: bool, whole: bool = False) -> float:
    if from_text and isinstance(value, str):
        try:
            value = int(value) if whole else float(value)
        except ValueError:
            raise InputError(f"field `{field}` must be a {'whole ' if whole else ''}number, not `{value}`", at) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"field `{field}` must be a {'whole ' if whole else ''}number, not {type_name(value)}", at)
    if whole and float(value) != int(value):
        raise InputError(f"field `{field}` must be a whole number, not {value}", at)
    return float(value)

"""Batch decisions: every request of a file decided, customer by customer, on all cores.

The job has three steps. *Prepare* reads the customers, the ledger and the requests (any
format :mod:`policylang.tables` reads), validates every row with the same validators as the
single-decision path (:mod:`policylang.inputs`), and lays them out as Arrow *work rows*
keyed by the group that decides them: :func:`scatter` spills the validated rows a chunk at
a time into per-bucket files (a hash of the customer), :func:`bucket_work` makes a bucket's
work rows (the local engine, :func:`run_files`, goes bucket by bucket, so its memory does
not grow with the input; :func:`prepare` gathers every bucket into one table for Spark). *Decide*
(:func:`decide_group`) takes one group's rows and runs each customer's cycle through
:class:`policylang.arbitration.Cycle`, i.e. the evaluator itself; it is the function both
engines run (worker processes here, Spark executors in :mod:`policylang.spark`). *Finish*
sorts the answers by request row and writes them atomically.

Why groups and not just customers: ``capacity`` rules count every customer's contacts, so
a request they govern cannot be decided without the grants made before it for other
customers. A customer is *coupled* when one of its requests, or one of its planned ledger
contacts (which a grant could displace), matches a capacity rule's selector. Every other
customer's decisions neither read nor change what a capacity rule counts, so each is its own
group and the groups run in any order, in parallel. All coupled customers form one group,
decided in one process in a fixed order: each customer's requests keep their arbitration
order, and the customers' cycles are merged by request time (ties: arbitration rank,
priority, customer id, row). That group's capacity counts (:class:`BatchLoads`) start from
every customer's counted ledger contacts that match a capacity rule and take each grant as
it is made and each displacement as it happens, so its answers are those of deciding every
request one by one in that order. ``docs/batch.md`` says the same for users.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import heapq
import os
import re
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from itertools import compress
from operator import attrgetter, itemgetter, methodcaller
from typing import Any, TypeVar

import attrs
import msgspec
import orjson

from policylang import clock, ingest
from policylang.arbitration import Cycle, arbitration_order, grant
from policylang.decision import Decision
from policylang.errors import InputError
from policylang.history import History, default_of
from policylang.inputs import customer_from_json, entry_from_json, request_from_json, where
from policylang.records import COUNTED_STATUSES, Contact, Customer, Entry, Event, Request, VoidLine
from policylang.rules import CapRule, Policy
from policylang.tables import Row, read_rows

CAPACITY_KEY = "\x00capacity"  # the group of coupled customers (no customer id starts with NUL)
CUSTOMER, LEDGER, REQUEST, LOAD = 0, 1, 2, 3  # work row kinds, in the order a group reads them
MAX_SHOWN = 100
TEXT_FIELDS = ("customer", "record", "team", "channel", "purpose", "status", "outcome", "campaign", "id", "event")


@attrs.define
class BadRow:
    """One row that did not validate: where, which field, what is wrong."""

    file: str
    row: int
    field: str | None
    message: str
    data: Row | None = None

    def line(self) -> str:
        field = f" field `{self.field}`:" if self.field and f"`{self.field}`" not in self.message else ""
        return f"{self.file}: row {self.row}:{field} {self.message}"


@attrs.define
class Problems:
    """Every bad row of a run (all kept: ``--rejects`` writes them all)."""

    rows: list[BadRow] = attrs.field(factory=list)

    def add(self, file: str, row: int, error: InputError | str, data: Row | None = None,
            field: str | None = None) -> None:
        message = error.message if isinstance(error, InputError) else error
        if field is None:
            found = re.search(r"(?:field|attribute) `([^`]+)`", message)
            field = found.group(1) if found else None
        self.rows.append(BadRow(file, row, field, message, data))

    def __bool__(self) -> bool:
        return bool(self.rows)

    def report(self) -> str:
        """Up to :data:`MAX_SHOWN` lines, then a count of the rest."""
        shown = [bad.line() for bad in self.rows[:MAX_SHOWN]]
        if len(self.rows) > MAX_SHOWN:
            shown.append(f"... and {len(self.rows) - MAX_SHOWN} more bad rows")
        return "\n".join(shown)


# ---- preparing the work --------------------------------------------------------------------


@attrs.define
class Prepared:
    """The validated input as work rows (a pyarrow table sorted by key, customer, kind, row)."""

    work: Any
    requests: int
    coupled: int


def _owner(policy: Policy, values: Any) -> str | None:
    return values.get(policy.owner_attribute) if policy.owner_attribute else None


def read_customers(policy: Policy, path: str, problems: Problems) -> dict[str, tuple[int, str, str | None]]:
    """Customer id -> (row, the record as JSON text without its id, owner), every row validated."""
    return {ident: (number, record, owner) for ident, number, record, owner in customer_rows(policy, path, problems)}


def customer_rows(policy: Policy, path: str, problems: Problems,
                  seen: dict[str, int] | None = None) -> Iterator[tuple[str, int, str, str | None]]:
    """(id, row, the record as JSON text without its id, owner) of every valid customer row, in file
    order; ``seen`` (id -> row, filled here) finds an id given twice."""
    kinds = {name: spec.kind for name, spec in policy.attributes.items()}
    found: dict[str, int] = {} if seen is None else seen
    # the record without its id: customers with the same attributes then have the same
    # record text, validated once per distinct text here (a bad one is validated again at
    # each row, so that each error names its row) and decoded once where they are decided
    # (:func:`record_customer`)
    valid: dict[str, str | None] = {}  # record text -> owner, for records found valid
    for number, row in read_rows(path, kinds=kinds):
        if isinstance(row, InputError):
            problems.add(path, number, row)
            continue
        if "id" not in row:
            problems.add(path, number, "the customer record has no `id` field", row, "id")
            continue
        ident = row["id"]
        try:
            record: str | None = orjson.dumps({k: v for k, v in row.items() if k != "id"}).decode()
        except TypeError:  # a value JSON cannot hold: the validator says why
            record = None
        if record is not None and record in valid and type(ident) is str:
            owner = valid[record]
        else:
            try:
                customer = customer_from_json(policy, row, where(path, number))
            except InputError as exc:
                problems.add(path, number, exc, row)
                continue
            ident = customer.id
            owner = _owner(policy, customer.values)
            if record is None:
                record = orjson.dumps({k: v for k, v in row.items() if k != "id"}).decode()
            valid[record] = owner
        if ident in found:
            problems.add(path, number, f"customer `{ident}` is given twice (first on row {found[ident]})", row, "id")
            continue
        found[ident] = number
        yield ident, number, record, owner


def _customer_of(row: Row, file: str, number: int, problems: Problems) -> str | None:
    customer = row.get("customer")
    if not isinstance(customer, str) or not customer:
        problems.add(file, number, "field `customer` must name the customer (a text)", row, "customer")
        return None
    return customer


LEDGER_COLUMNS = ("row", "customer", "at_us", "channel", "purpose", "team", "status", "outcome", "campaign", "id",
                  "event")


def read_ledger(policy: Policy, path: str, problems: Problems) -> Any:
    """Every valid ledger row, as a pyarrow table of :data:`LEDGER_COLUMNS` (Arrow holds
    a ten-million-row ledger in a fraction of the memory of Python objects)."""
    import pyarrow as pa

    return pa.Table.from_batches(list(ledger_batches(policy, path, problems)), schema=ledger_schema())


def ledger_batches(policy: Policy, path: str, problems: Problems,
                   part: tuple[int, int, int] | None = None) -> Iterator[Any]:
    """Every valid ledger row, as pyarrow record batches of :data:`LEDGER_COLUMNS`, a
    chunk of the file at a time.

    Chunks of rows go through the columnar fast path of :mod:`policylang.ingest` (names
    checked per distinct value, instants a column at a time); a chunk it will not vouch for
    is validated row by row, so every bad row is reported with its field. ``part``: only
    that byte range of a JSON Lines file (:func:`policylang.tables.jsonl_parts`).
    """
    import pyarrow as pa

    from policylang.tables import block_vouched, file_format, jsonl_blocks, jsonl_row

    schema = ledger_schema()
    out: dict[str, list[Any]] = {name: [] for name in LEDGER_COLUMNS}

    def flush() -> Any:
        batch = pa.record_batch([pa.array(out[name], schema.field(name).type) for name in LEDGER_COLUMNS],
                                schema=schema)
        for values in out.values():
            values.clear()
        return batch

    def take(numbers: list[int], rows: list[Row]) -> None:
        """Validate rows (parsed objects) into ``out``: the contacts, and the events, each a
        column at a time when the fast path vouches for them all, any other row one by one
        (in row order, so that the bad rows are reported in that order)."""
        flags = ["event" in row for row in rows]
        slow: list[tuple[int, Row]] = []
        if True in flags:
            kept = [not flag for flag in flags]
            objects, contact_numbers = list(compress(rows, kept)), list(compress(numbers, kept))
            slow = _fast_events(policy, list(compress(numbers, flags)), list(compress(rows, flags)), out)
        else:
            objects, contact_numbers = rows, numbers
        if objects:
            try:
                customers = list(map(_CUSTOMER, objects))
                if not all(type(c) is str and c for c in set(customers)):
                    raise KeyError("customer")
                columns, micros, _, _ = ingest.fast_columns(policy, objects)
            except (KeyError, ingest._Slow):  # noqa: SLF001 - the fast path's own signal to validate
                slow = sorted([*zip(contact_numbers, objects, strict=True), *slow], key=_FIRST)
            else:
                out["row"] += contact_numbers
                out["customer"] += customers
                out["at_us"] += micros
                for name in ("channel", "purpose", "team"):
                    out[name] += columns[name]
                for name in ("status", "outcome", "campaign", "id"):
                    out[name] += columns[name] if name in columns else [default_of(name)] * len(micros)
                out["event"] += [None] * len(micros)
        for number, row in slow:
            customer = _customer_of(row, path, number, problems)
            if customer is None:
                continue
            entry = _carried(entry_from_json, policy, row, path, number, problems)
            if entry is None:
                continue
            out["row"].append(number)
            out["customer"].append(customer)
            out["at_us"].append(clock.micros(entry.at))
            if isinstance(entry, Event):
                for name in ("channel", "purpose", "team", "status", "outcome", "campaign", "id"):
                    out[name].append(None)
                out["event"].append(entry.name)
            else:
                for name in ("channel", "purpose", "team", "status", "outcome", "campaign", "id"):
                    out[name].append(getattr(entry, name))
                out["event"].append(None)

    if file_format(path) == "jsonl" and os.path.isfile(path):
        for first, lines in jsonl_blocks(path, part, CHUNK_ROWS):
            if _typed_lines(policy, first, lines, out):
                yield flush()
                continue
            try:
                rows: list[Any] = list(map(orjson.loads, lines))
                numbers = list(range(first, first + len(lines)))
                if set(map(type, rows)) != {dict} or not block_vouched(lines, rows):
                    raise ValueError  # (orjson keeps a duplicate key's last value: jsonl_row refuses it)
            except ValueError:  # a blank, unparsable or non-object line, or a key twice: line by line, in order
                numbers, rows = [], []
                for number, line in enumerate(lines, start=first):
                    found = jsonl_row(path, number, line)
                    if isinstance(found, InputError):
                        problems.add(path, number, found)
                    elif found is not None:
                        numbers.append(number)
                        rows.append(found)
            take(numbers, rows)
            yield flush()
        return
    numbers, rows = [], []
    for number, row in read_rows(path, part=part):
        if isinstance(row, InputError):
            problems.add(path, number, row)
            continue
        numbers.append(number)
        rows.append(row)
        if len(rows) >= CHUNK_ROWS:
            take(numbers, rows)
            numbers, rows = [], []
            yield flush()
    take(numbers, rows)
    yield flush()


_CUSTOMER = itemgetter("customer")
_EVENT_KEYS = frozenset(("at", "event", "customer"))


def _fast_events(policy: Policy, numbers: list[int], rows: list[Row], out: dict[str, list[Any]]) -> list[tuple[int, Row]]:
    """Event rows (parsed objects) into ``out`` a column at a time when every one is in the
    simple form (``at`` an RFC 3339 instant the fast path of :mod:`policylang.ingest`
    reads, ``event`` a name the policy declares, ``customer`` a text, nothing else); an
    empty list then, else the rows as (row number, row), for the caller to validate one by
    one. Why: events (about one ledger row in thirty) were validated row by row, about a
    fifth of the ledger's reading time."""
    try:
        if not set().union(*rows) <= _EVENT_KEYS:
            raise KeyError("event")
        customers = list(map(_CUSTOMER, rows))
        if not all(type(c) is str and c for c in set(customers)):
            raise KeyError("customer")
        names = list(map(_EVENT, rows))
        if not set(names) <= ingest.names(policy).events:
            raise KeyError("event")
        micros = ingest.instant_micros(list(map(_AT, rows)))
    except (KeyError, TypeError, ValueError, ingest._Slow):  # noqa: SLF001 - the fast path's own signal
        return list(zip(numbers, rows, strict=True))
    _add_events(out, numbers, customers, micros, names)
    return []


def _add_events(out: dict[str, list[Any]], numbers: list[int], customers: list[str], micros: list[int],
                names: list[str]) -> None:
    """Append event rows to the ledger's columns: an event has no contact fields."""
    out["row"] += numbers
    out["customer"] += customers
    out["at_us"] += micros
    nothing = [None] * len(numbers)
    for name in ("channel", "purpose", "team", "status", "outcome", "campaign", "id"):
        out[name] += nothing
    out["event"] += names


_EVENT, _AT, _FIRST = itemgetter("event"), itemgetter("at"), itemgetter(0)


class _Line(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A ledger line of the simple forms, as msgspec decodes it: a field left out is
    ``UNSET`` (so told apart from ``null``), an unknown field or a value of another type
    (a number, a list of campaigns, ``null`` where the validator wants a text) fails the
    decoding, and the block is then read as before (:func:`_typed_lines`). Not tracked by
    the cyclic collector (``gc=False``: it holds texts only, so it is in no cycle): a
    block's 25,000 structs set off a collection pass every few blocks, each over all of them."""

    customer: str
    at: str
    channel: str | msgspec.UnsetType = msgspec.UNSET
    purpose: str | msgspec.UnsetType = msgspec.UNSET
    team: str | msgspec.UnsetType = msgspec.UNSET
    status: str | msgspec.UnsetType = msgspec.UNSET
    outcome: str | None | msgspec.UnsetType = msgspec.UNSET
    campaign: str | None | msgspec.UnsetType = msgspec.UNSET
    id: str | None | msgspec.UnsetType = msgspec.UNSET
    event: str | msgspec.UnsetType = msgspec.UNSET


_LINE = msgspec.json.Decoder(_Line).decode
_CONTACT_PART = attrgetter("channel", "purpose", "team", "status", "outcome", "campaign", "id")
_NOTHING = (msgspec.UNSET,) * 7  # an event line's contact fields: all left out
_LINE_FIELD = {name: attrgetter(name) for name in ("customer", "at", "channel", "purpose", "team", "status", "outcome",
                                                    "campaign", "id", "event")}


def _typed_lines(policy: Policy, first: int, lines: list[bytes], out: dict[str, list[Any]]) -> bool:
    """A block of JSON Lines ledger lines (``first`` the number of its first line) into
    ``out`` a column at a time, when every line is one the columnar checks vouch for: a
    contact of the fast path's form (names the policy declares, a status, an outcome, a
    campaign and an id of one text or ``null``) or an event of the simple form (``at``,
    ``event``, ``customer``), ``at`` an instant of the fast path's forms, ``customer`` a
    non-empty text. Else ``out`` is left as it was and ``False`` is returned: the caller
    reads the block as before (:func:`orjson.loads` and :func:`ledger_batches`' ``take``,
    which finds the bad rows and their fields).

    Why: each line decoded by msgspec into a slotted struct of the known fields costs about
    half of :func:`orjson.loads` into a dict, and a column taken from the structs is an
    attribute read, not a look-up in a dict per row (the dicts were the ledger's largest
    cost after the parse). Rows keep the order :func:`ledger_batches` gives them: a block's
    events first, then its contacts, each in row order."""
    try:
        rows = list(map(_LINE, lines))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    try:
        customers = list(map(_LINE_FIELD["customer"], rows))
        if "" in set(customers):
            return False
        micros = ingest.instant_micros(list(map(_LINE_FIELD["at"], rows)))
        vocabulary = ingest.names(policy)
        numbers = range(first, first + len(rows))
        flags = [row.event is not msgspec.UNSET for row in rows]
        if True in flags:
            events = list(compress(rows, flags))
            if set(map(_CONTACT_PART, events)) != {_NOTHING}:
                return False
            names = list(map(_LINE_FIELD["event"], events))
            if not set(names) <= vocabulary.events:
                return False
            kept = [not flag for flag in flags]
            contacts, contact_numbers = list(compress(rows, kept)), list(compress(numbers, kept))
            contact_customers, contact_micros = list(compress(customers, kept)), list(compress(micros, kept))
            event_numbers, event_customers = list(compress(numbers, flags)), list(compress(customers, flags))
            event_micros = list(compress(micros, flags))
        else:
            names = []
            contacts, contact_numbers, contact_customers, contact_micros = rows, list(numbers), customers, micros
            event_numbers, event_customers, event_micros = [], [], []
        columns: dict[str, list[Any]] = {}
        # the string tokens (keys and string values) the structs hold: an event's three
        # fields, a contact's five required ones, and each optional one given (a text, or null)
        tokens = 6 * len(event_numbers) + 10 * len(contact_numbers)
        for name, allowed in (("channel", vocabulary.channels), ("purpose", vocabulary.purposes),
                              ("team", vocabulary.teams)):
            # KeyError for a name the policy does not declare, or for UNSET (a field left out)
            columns[name] = list(map(allowed.__getitem__, map(_LINE_FIELD[name], contacts)))
        for name, allowed_values in (("status", ingest.STATUSES), ("outcome", vocabulary.outcomes_or_none),
                                     ("campaign", None), ("id", None)):
            values = list(map(_LINE_FIELD[name], contacts))
            seen = set(values)
            tokens += 2 * (len(values) - (values.count(msgspec.UNSET) if msgspec.UNSET in seen else 0))
            if None in seen:
                tokens -= values.count(None)
            if msgspec.UNSET in seen:
                given = default_of(name)
                if len(seen) == 1:
                    values = [given] * len(values)
                else:  # the default for a field left out, the value itself for any other
                    values = list(map({msgspec.UNSET: given}.get, values, values))
                seen.discard(msgspec.UNSET)
                seen.add(given)
            if allowed_values is not None and not seen <= allowed_values:
                return False
            columns[name] = values
    except (KeyError, ingest._Slow):  # noqa: SLF001 - the fast path's own signal to validate
        return False
    # msgspec, like orjson, keeps the last value of a key given twice: without backslash
    # escapes the lines hold exactly two `"` per string token unless some key was given twice
    # (then the caller's line-by-line reading reports it as a bad row)
    joined = b"".join(lines)
    if b"\\" in joined or joined.count(b'"') != 2 * tokens:
        return False
    _add_events(out, event_numbers, event_customers, event_micros, names)
    out["row"] += contact_numbers
    out["customer"] += contact_customers
    out["at_us"] += contact_micros
    for name in ("channel", "purpose", "team", "status", "outcome", "campaign", "id"):
        out[name] += columns[name]
    out["event"] += [None] * len(contact_numbers)
    return True
_ROW = attrgetter("row")


Carried = TypeVar("Carried", Entry, Request)
_NOT_CARRIED = ("is not handled by batch or replay yet; decide this customer with "
                "`policylang decide`, or give --rejects FILE to decide the rest without this row")


def not_carried(entry: Entry | Request) -> tuple[str, str] | None:
    """What the columnar engine cannot carry yet, as (message, field), or None.

    Void lines (11.4), a contact or request for a list of campaigns and an event for a
    campaign (11.3) are refused as bad rows, so batch never answers as if they were not
    there (docs/batch.md, "Limits")."""
    match entry:
        case VoidLine():
            return f"a void line (section 11.4) {_NOT_CARRIED}", "void"
        case Event(campaign=campaign) if campaign is not None:
            return f"an event for a campaign (section 11.3) {_NOT_CARRIED}", "campaign"
        case Contact(campaign=tuple()) | Request(campaign=tuple()):
            return f"a list of campaigns (section 11.3) {_NOT_CARRIED}", "campaign"
    return None


def _carried(read: Callable[[Policy, Row, Any], Carried], policy: Policy, row: Row, path: str, number: int,
             problems: Problems) -> Carried | None:
    """``read(policy, row, where)``: a row validated, or None with it reported as bad (its
    error, or what :func:`not_carried` refuses)."""
    try:
        value = read(policy, row, where(path, number))
    except InputError as exc:
        problems.add(path, number, exc, row)
        return None
    refused = not_carried(value)
    if refused is not None:
        problems.add(path, number, refused[0], row, refused[1])
        return None
    return value


def ledger_schema() -> Any:
    import pyarrow as pa

    return pa.schema([(name, pa.int64() if name in ("row", "at_us") else pa.string()) for name in LEDGER_COLUMNS])


AskFields = tuple[str, str, str, int, str | tuple[str, ...] | None, int]  # team, channel, purpose, at_us, campaign, priority


def read_requests(policy: Policy, path: str, problems: Problems) -> Iterator[tuple[int, str, str, AskFields]]:
    """(row, customer, request id, (team, channel, purpose, at_us, campaign, priority)) for
    every valid request row; the id defaults to the row number (:func:`read_request_chunks`,
    a row at a time)."""
    for rows, customers, ids, *fields in read_request_chunks(policy, path, problems):
        yield from zip(rows, customers, ids, zip(*fields, strict=True), strict=True)


RequestColumns = list[list[Any]]  # rows, customers, ids, teams, channels, purposes, at_us, campaigns, priorities


def read_request_chunks(policy: Policy, path: str, problems: Problems) -> Iterator[RequestColumns]:
    """Every valid request row, as columns (in :func:`request_schema`'s order) a chunk of
    the file at a time; the id defaults to the row number.

    A chunk the columnar check (:func:`_fast_requests`) vouches for, and whose ids are all
    new, is taken as it is, without a Python step per row; any other is validated row by
    row by :func:`policylang.inputs.request_from_json`, which reports a bad row with its
    field, in row order."""
    from policylang.tables import block_vouched, jsonl_row

    seen: dict[str, int] = {}
    chunk: list[tuple[int, Row | InputError]] = []

    def vouched(rows: list[Row | InputError]) -> tuple[list[str], list[str | None], list[list[Any]]] | None:
        # a row that could not be parsed sends its chunk to the row-by-row path, which
        # reports the problems in row order
        return None if any(isinstance(row, InputError) for row in rows) else _fast_requests(policy, rows)  # type: ignore[arg-type]

    def flush(lines: Lines | None) -> Iterator[RequestColumns]:
        rows = [row for _, row in chunk]
        fast = vouched(rows)
        if lines is not None and not (block_vouched(lines[1], rows) if fast is None
                                      else _requests_vouched(lines[1], rows, fast)):  # type: ignore[arg-type]
            # a key may be given twice in some line (orjson keeps the last value): the
            # block line by line, where :func:`jsonl_row` finds it and names the row
            again = ((number, jsonl_row(path, number, line)) for number, line in enumerate(lines[1], start=lines[0]))
            chunk[:] = [(number, row) for number, row in again if row is not None]
            rows = [row for _, row in chunk]
            fast = vouched(rows)
        if fast is not None:
            numbers = [number for number, _ in chunk]
            customers, given, columns = fast
            ids = (list(map(str, numbers)) if given.count(None) == len(given)
                   else [str(number) if ident is None else ident for number, ident in zip(numbers, given, strict=True)])
            if len(set(ids)) == len(ids) and seen.keys().isdisjoint(ids):
                seen.update(zip(ids, numbers, strict=True))
                chunk.clear()
                yield [numbers, customers, ids, *columns]
                return
        out: RequestColumns = [[] for _ in range(9)]
        for k, (number, row) in enumerate(chunk):
            if isinstance(row, InputError):
                problems.add(path, number, row)
                continue
            if fast is not None:
                customer, ident = fast[0][k], fast[1][k]
                fields: tuple[Any, ...] = tuple(column[k] for column in fast[2])
                ident = str(number) if ident is None else ident
            else:
                found = _customer_of(row, path, number, problems)
                if found is None:
                    continue
                customer, ident = found, row.get("id", str(number))
                request = _carried(request_from_json, policy, row, path, number, problems)
                if request is None:
                    continue
                fields = (request.team, request.channel, request.purpose, clock.micros(request.at), request.campaign,
                          request.priority)
            if ident in seen:
                problems.add(path, number, f"request id `{ident}` is given twice (first on row {seen[ident]})", row, "id")
                continue
            seen[ident] = number
            for column, value in zip(out, (number, customer, str(ident), *fields), strict=True):
                column.append(value)
        chunk.clear()
        yield out

    for block, lines in _row_blocks(path):
        chunk.extend(block)
        yield from flush(lines)


Lines = tuple[int, list[bytes]]  # a block of JSON Lines: the number of its first line, the lines


def _row_blocks(path: str) -> Iterator[tuple[list[tuple[int, Row | InputError]], Lines | None]]:
    """The rows of ``path`` (as :func:`policylang.tables.read_rows` gives them), a list of
    :data:`CHUNK_ROWS` at a time; a JSON Lines file's parsed a block at a time (its lines
    one by one only in a block holding a blank, unparsable or non-object line). With each
    block parsed at once, its lines: orjson keeps the last value of a key given twice, so
    such a block is not yet vouched for (:func:`_requests_vouched`; else the caller reads
    it again line by line)."""
    from policylang.tables import file_format, jsonl_blocks, jsonl_row

    if file_format(path) == "jsonl" and os.path.isfile(path):
        for first, lines in jsonl_blocks(path, None, CHUNK_ROWS):
            try:
                rows: list[Any] = list(map(orjson.loads, lines))
                if set(map(type, rows)) != {dict}:
                    raise ValueError
            except ValueError:
                found = ((number, jsonl_row(path, number, line)) for number, line in enumerate(lines, start=first))
                yield [(number, row) for number, row in found if row is not None], None
            else:
                yield list(zip(range(first, first + len(lines)), rows, strict=True)), (first, lines)
        return
    block: list[tuple[int, Row | InputError]] = []
    for number, row in read_rows(path):
        block.append((number, row))
        if len(block) >= CHUNK_ROWS:
            yield block, None
            block = []
    yield block, None


def _requests_vouched(lines: list[bytes], rows: list[Row],
                      fast: tuple[list[str], list[str | None], list[list[Any]]]) -> bool:
    """Whether request ``lines``, parsed by orjson into ``rows`` and taken by
    :func:`_fast_requests` (``fast``), provably give no key twice: no backslash escape,
    and two ``"`` per string token the rows hold (each key; the customer, team, channel,
    purpose and instant texts; a campaign and an id where given as a text: the fast path
    takes no other string). A key given twice leaves fewer tokens than the text's quotes.
    Counted from the columns, not by writing the rows again (``orjson.dumps``: about a
    third of parsing them)."""
    joined = b"".join(lines)
    if b"\\" in joined:
        return False
    _, ids, (_, _, _, _, campaigns, _) = fast
    size = len(rows)
    tokens = sum(map(len, rows)) + 5 * size + (size - campaigns.count(None)) + (size - ids.count(None))
    return joined.count(b'"') == 2 * tokens


_REQUEST_KEYS = frozenset(("team", "channel", "purpose", "at", "campaign", "priority", "customer", "id"))
_GET_CAMPAIGN, _GET_PRIORITY, _GET_ID = (methodcaller("get", "campaign"), methodcaller("get", "priority", 0),
                                         methodcaller("get", "id"))


def _fast_requests(policy: Policy, rows: list[Row]) -> tuple[list[str], list[str | None], list[list[Any]]] | None:
    """Customers, ids (``None`` where absent) and the columns of the fields (team, channel,
    purpose, at_us, campaign, priority) of request rows when every one is
    well formed in the simple forms (names the policy declares, RFC 3339 instants the
    fast path of :mod:`policylang.ingest` reads, a text or no campaign, a whole-number or no
    priority, a text or no id); else ``None`` and the caller validates row by row.

    Why: validating each row through :func:`request_from_json` cost about a quarter of
    the batch's time outside the evaluator; here each check runs once per column (names
    looked up per value in the policy's tables, instants joined and checked at once), and
    it accepts a subset of what the validating path accepts, with the same values."""
    if not rows:
        return None
    try:
        if set(map(type, rows)) != {dict}:
            return None
        keys: set[str] = set().union(*rows)
        if not keys <= _REQUEST_KEYS:
            return None
        vocabulary = ingest.names(policy)
        customers = list(map(itemgetter("customer"), rows))
        if not all(type(c) is str and c for c in set(customers)):
            return None
        teams = list(map(vocabulary.teams.__getitem__, map(itemgetter("team"), rows)))
        channels = list(map(vocabulary.channels.__getitem__, map(itemgetter("channel"), rows)))
        purposes = list(map(vocabulary.purposes.__getitem__, map(itemgetter("purpose"), rows)))
        micros = ingest.instant_micros(list(map(_AT, rows)))
        campaigns = list(map(_GET_CAMPAIGN, rows)) if "campaign" in keys else [None] * len(rows)
        if not all(c is None or type(c) is str for c in set(campaigns)):
            return None
        priorities = list(map(_GET_PRIORITY, rows)) if "priority" in keys else [0] * len(rows)
        if not all(type(p) is int for p in set(priorities)):
            return None
        ids = list(map(_GET_ID, rows)) if "id" in keys else [None] * len(rows)
        if "id" in keys and not all(type(i) is str for i in set(map(itemgetter("id"), filter(_HAS_ID, rows)))):
            return None  # an explicit null or a number: the validating path decides
    except (KeyError, TypeError, ValueError, ingest._Slow):  # noqa: SLF001 - the fast path's own signal
        return None
    return customers, ids, [teams, channels, purposes, micros, campaigns, priorities]


def _HAS_ID(row: Row) -> bool:
    return "id" in row


def capacity_rules(policy: Policy) -> list[CapRule]:
    return [rule for rule in policy.rules if isinstance(rule, CapRule) and rule.kind == "capacity"]


@contextlib.contextmanager
def few_collections() -> Iterator[None]:
    """Run with the cyclic garbage collector rarely, and never over what exists already.

    Why: a batch makes and drops millions of short-lived objects (rows, contacts,
    decisions) beside long-lived ones (the policy and its indexes, the id sets). At
    CPython's default thresholds a collection runs every 700 new objects and the older
    generations are rescanned with everything alive; measured on the benchmark's data
    (10,000 customers, one process) that was 10-15 % of the time spent deciding. Frozen
    objects are skipped by every collection; cyclic garbage is still collected, every
    100,000 new objects (so memory stays bounded). In a worker process set up by
    :func:`few_collections_for_good` this does nothing: the setting already holds there."""
    if _FEW_FOR_GOOD:
        yield
        return
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


_FEW_FOR_GOOD = False


def few_collections_for_good() -> None:
    """:func:`few_collections` for the rest of this process's life (a forked worker's:
    pools' initializer, :func:`_on_processes`' tasks).

    Why: leaving :func:`few_collections` puts back CPython's thresholds with the counts
    of the older generations past them, so the next allocation ran a full collection over
    everything the process holds, the unfrozen policy and caches too: about 0.1 s at the
    end of each of a worker's tasks (about a tenth of deciding a bucket of 2,500
    customers). A worker ends when its work does, so nothing needs putting back."""
    global _FEW_FOR_GOOD
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    _FEW_FOR_GOOD = True


BUCKET_CUSTOMERS = 20_000  # customers per bucket: what one worker holds at a time
CHUNK_ROWS = 25_000  # input rows validated and spilled at a time


def request_schema() -> Any:
    import pyarrow as pa

    return pa.schema([("row", pa.int64()), ("customer", pa.string()), ("id", pa.string()), ("team", pa.string()),
                      ("channel", pa.string()), ("purpose", pa.string()), ("at_us", pa.int64()),
                      ("campaign", pa.string()), ("priority", pa.int64())])


def customer_schema() -> Any:
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("row", pa.int64()), ("record", pa.string()), ("owner", pa.string())])


def bucket_of(customer: str, buckets: int) -> int:
    """The bucket of a customer: a stable hash, so all of a customer's rows meet in one."""
    return zlib.crc32(customer.encode()) % buckets


@attrs.define
class Scattered:
    """The validated inputs spilled to Arrow files in ``folder``, a part per bucket; each
    bucket holds whole customers (their record, ledger rows and requests)."""

    folder: str
    buckets: int
    requests: int  # valid requests
    last_row: int  # the largest request row number (0 when there is none)
    ledger_parts: int = 1  # the ledger was read in this many parts, each spilled on its own

    def path(self, part: str, bucket: int) -> str:
        return os.path.join(self.folder, f"{part}-{bucket}.arrow")

    def read(self, part: str, bucket: int, schema: Any) -> Any:
        return read_spill(self.path(part, bucket), schema)

    def read_ledger(self, bucket: int) -> Any:
        """A bucket's ledger rows, from every part the ledger was read in."""
        import pyarrow as pa

        if self.ledger_parts == 1:
            return self.read("ledger0", bucket, ledger_schema())
        return pa.concat_tables([self.read(f"ledger{k}", bucket, ledger_schema()) for k in range(self.ledger_parts)])


def read_spill(path: str, schema: Any) -> Any:
    """A spilled Arrow stream as a table (an empty one when nothing was written there)."""
    import pyarrow as pa

    if not os.path.exists(path):
        return schema.empty_table()
    with pa.OSFile(path, "rb") as source:
        return pa.ipc.open_stream(source).read_all()


def write_spill(path: str, table: Any) -> None:
    """``table`` as an Arrow stream file (what :func:`read_spill` reads)."""
    import pyarrow as pa

    with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, table.schema) as out:
        out.write_table(table)


def spill_by_rows(table: Any, width: int, path_of: Callable[[int], str]) -> int:
    """Spill ``table`` (sorted by its ``row`` column) a file per range of ``width`` row
    numbers, range ``k`` to ``path_of(k)``; the number of rows."""
    rows = table.column("row").to_pylist()
    start = 0
    while start < len(rows):
        k = rows[start] // width
        end = bisect_left(rows, (k + 1) * width, start)
        write_spill(path_of(k), table.slice(start, end - start))
        start = end
    return len(rows)


class Spill:
    """Arrow stream writers, one per bucket, opened on first use."""

    def __init__(self, scattered: Scattered, part: str, schema: Any) -> None:
        self.scattered, self.part, self.schema = scattered, part, schema
        self.writers: dict[int, tuple[Any, Any]] = {}

    def write(self, batch: Any, column: str) -> None:
        """Append ``batch``'s rows, each to the bucket of its customer (named by ``column``)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        if not batch.num_rows:
            return
        count = self.scattered.buckets
        if count == 1:
            self._writer(0).write(batch)
            return
        # the hash once per distinct customer (a customer has about ten ledger rows)
        coded = batch.column(column).dictionary_encode()
        per_value = pa.array([bucket_of(c, count) for c in coded.dictionary.to_pylist()], pa.int32())
        ids = pc.take(per_value, coded.indices)
        batch = batch.take(pc.sort_indices(ids))  # stable: rows keep their order within a bucket
        at = 0
        for b, size in enumerate(np.bincount(ids.to_numpy(zero_copy_only=False), minlength=count).tolist()):
            if size:
                self._writer(b).write(batch.slice(at, size))
                at += size

    def _writer(self, bucket: int) -> Any:
        import pyarrow as pa

        if bucket not in self.writers:
            sink = pa.OSFile(self.scattered.path(self.part, bucket), "wb")
            self.writers[bucket] = (sink, pa.ipc.new_stream(sink, self.schema))
        return self.writers[bucket][1]

    def close(self) -> None:
        for sink, writer in self.writers.values():
            writer.close()
            sink.close()
        self.writers.clear()


@few_collections()
def scatter(policy: Policy, customers_path: str, ledger_path: str | None, requests_path: str, problems: Problems,
            folder: str, *, bucket_customers: int | None = None, workers: int | None = None) -> Scattered:
    """Read and validate the three inputs a chunk at a time into per-bucket Arrow files in
    ``folder``; bad rows go to ``problems``. What stays in memory is a set of customer ids
    (and the request ids, to find one given twice), never the rows.

    A request whose customer has no (valid) record, or whose customer's ledger has a bad
    row, is refused too: deciding it would silently use a wrong record or ledger.

    With two ``workers`` or more (default: every core) the ledger and the requests are
    read at once, each on a forked process of its own, after the customers; a JSON Lines
    ledger of :data:`PART_BYTES` or more (most of the input: ten rows a customer) is read
    in parts, a process each, each validating and spilling its own byte range
    (:func:`_ledger_parts`). The requests are checked against the customers the ledger
    names in bad rows afterwards: when there are any, the requests are read again.
    """
    import pyarrow as pa

    # The customers first, into one file: their number sets the number of buckets.
    seen: dict[str, int] = {}
    everyone = Scattered(folder, 1, 0, 0)
    spill = Spill(everyone, "customers-all", customer_schema())
    rows: list[tuple[str, int, str, str | None]] = []

    def flush_customers() -> None:
        if rows:
            spill.write(pa.RecordBatch.from_arrays([pa.array(list(column), kind.type) for column, kind in
                                                    zip(zip(*rows, strict=True), customer_schema(), strict=True)],
                                                   schema=customer_schema()), "id")
        rows.clear()

    for found in customer_rows(policy, customers_path, problems, seen):
        rows.append(found)
        if len(rows) >= CHUNK_ROWS:
            flush_customers()
    flush_customers()
    spill.close()
    known = set(seen)
    del seen
    bad_customers: set[str] = {bad.data["id"] for bad in problems.rows
                               if bad.data and isinstance(bad.data.get("id"), str)}
    size = max(1, bucket_customers or BUCKET_CUSTOMERS)
    count = -(-len(known) // size)
    if bucket_customers is None:
        # at least eight buckets a worker (of 2,000 customers or more): with a bucket per
        # 20,000 customers, 100,000 customers made five tasks of several seconds for two
        # workers, and the last one ran alone; with four a worker, the workers still
        # finished up to a task's time apart
        count = max(count, min(8 * (workers or os.cpu_count() or 1), -(-len(known) // 2_000)))
    out = Scattered(folder, max(1, count), 0, 0)
    spill = Spill(out, "customers", customer_schema())
    everything = everyone.path("customers-all", 0)
    if os.path.exists(everything):
        with pa.OSFile(everything, "rb") as source:
            for batch in pa.ipc.open_stream(source):
                spill.write(batch, "id")
        os.unlink(everything)
    spill.close()
    if (workers or os.cpu_count() or 1) >= 2:
        # the ledger's parts and the requests on processes of their own, at once: read one
        # after the other they left a core idle for most of the scatter
        parts = _ledger_parts(ledger_path, workers) if ledger_path is not None else []
        out.ledger_parts = max(1, len(parts))
        results: list[Any] = _on_processes(policy, _call, [*((_ledger_part_task, ledger_path, part, out, k)
                                                 for k, part in enumerate(parts)),
                                               (_requests_task, requests_path, customers_path, known,
                                                bad_customers, out)])
        ledger_bad: list[list[BadRow]] = results[:-1]
        asks_bad: list[BadRow]
        asks_bad, out.requests, out.last_row = results[-1]
        for rows_bad in ledger_bad:
            problems.rows.extend(rows_bad)  # the parts in file order: the bad rows in row order
        named = _named_customers(rows for rows_bad in ledger_bad for rows in rows_bad)
        if named <= bad_customers:
            problems.rows.extend(asks_bad)
            return out
        # a customer's ledger has a bad row: its requests are refused, so they are read
        # again knowing it (only on bad input)
        for bucket in range(out.buckets):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(out.path("requests", bucket))
        bad_customers |= named
    elif ledger_path is not None:
        before = len(problems.rows)
        spill = Spill(out, "ledger0", ledger_schema())
        for batch in ledger_batches(policy, ledger_path, problems):
            spill.write(batch, "customer")
        spill.close()
        bad_customers |= _named_customers(problems.rows[before:])
    out.requests, out.last_row = _spill_requests(policy, requests_path, customers_path, known, bad_customers, out,
                                                 problems)
    return out


def _named_customers(rows: Iterable[BadRow]) -> set[str]:
    """The customers bad rows name (a text ``customer`` field)."""
    return {bad.data["customer"] for bad in rows if bad.data and isinstance(bad.data.get("customer"), str)}


def _call(task: Callable[..., Any], *arguments: Any) -> Any:
    return task(*arguments)


def _requests_task(requests_path: str, customers_path: str, known: set[str], bad_customers: set[str],
                   out: Scattered) -> tuple[list[BadRow], int, int]:
    assert _POLICY is not None
    problems = Problems()
    with few_collections():
        count, last = _spill_requests(_POLICY, requests_path, customers_path, known, bad_customers, out, problems)
    return problems.rows, count, last


def _spill_requests(policy: Policy, requests_path: str, customers_path: str, known: set[str],
                    bad_customers: set[str], out: Scattered, problems: Problems) -> tuple[int, int]:
    """Validate the requests and spill them by bucket; how many were valid, and the largest
    row number. A request is refused when its customer is not ``known`` or is one of
    ``bad_customers`` (its record or its ledger has a bad row)."""
    import pyarrow as pa

    spill = Spill(out, "requests", request_schema())
    count = last = 0
    chunks = read_request_chunks(policy, requests_path, problems)
    while True:
        before = len(problems.rows)
        columns = next(chunks, None)
        if columns is None:
            break
        present = set(columns[1])
        if not (present <= known and bad_customers.isdisjoint(present)):
            kept = []
            for number, customer in zip(columns[0], columns[1], strict=True):
                if customer not in known:
                    why = ("its customer record is bad" if customer in bad_customers
                           else f"no customer `{customer}` in {customers_path}")
                    problems.add(requests_path, number, why, None, "customer")
                elif customer in bad_customers:
                    problems.add(requests_path, number, f"the ledger of customer `{customer}` has a bad row", None,
                                 "customer")
                kept.append(customer in known and customer not in bad_customers)
            columns = [list(compress(column, kept)) for column in columns]
            # this chunk's bad rows in row order (the reading reported its own first)
            problems.rows[before:] = sorted(problems.rows[before:], key=_ROW)
        if columns[0]:
            spill.write(pa.RecordBatch.from_arrays([pa.array(column, kind.type) for column, kind in
                                                    zip(columns, request_schema(), strict=True)],
                                                   schema=request_schema()), "customer")
            count += len(columns[0])
            last = max(last, max(columns[0]))
    spill.close()
    return count, last


def scatter_apart(policy: Policy, customers_path: str, ledger_path: str | None, requests_path: str,
                  problems: Problems, folder: str, *, bucket_customers: int | None = None,
                  workers: int | None = None) -> Scattered:
    """:func:`scatter` in a forked process of its own; the same result and bad rows.

    Why: the scatter holds every customer id and request id (a request naming an unknown
    customer, an id given twice), several hundred MB at a million customers. CPython keeps
    memory it freed, and the deciding workers are forked from this process, so done here
    that memory would stay for the whole run; in a process that ends it is given back
    before the deciding starts."""
    preload()
    [(scattered, rows)] = _on_processes(policy, _scatter_task, [(customers_path, ledger_path, requests_path, folder,
                                                                  bucket_customers, workers)])
    problems.rows.extend(rows)
    return scattered  # type: ignore[no-any-return]


def _scatter_task(customers_path: str, ledger_path: str | None, requests_path: str, folder: str,
                  bucket_customers: int | None, workers: int | None) -> tuple[Scattered, list[BadRow]]:
    assert _POLICY is not None
    problems = Problems()
    scattered = scatter(_POLICY, customers_path, ledger_path, requests_path, problems, folder,
                        bucket_customers=bucket_customers, workers=workers)
    return scattered, problems.rows


def preload() -> None:
    """Import what the forked processes use, once, before they are forked.

    Why: the parent of a batch run reads no rows itself (the scatter runs in a process of
    its own), so each forked process (the scatter, the ledger's parts, every pool worker)
    imported pyarrow, its compute functions and numpy again (and pandas, which pyarrow
    imports on its first ``pa.array`` when it is installed): about half a CPU second each."""
    import numpy  # noqa: F401
    import pyarrow as pa
    import pyarrow.compute  # noqa: F401
    import pyarrow.ipc  # noqa: F401

    from policylang import evaluator, tables  # noqa: F401

    pa.array(["x"], pa.string())  # pyarrow's own lazy imports


PART_BYTES = 8 << 20  # a JSON Lines ledger this large or larger is read in parts, in parallel


def _ledger_parts(path: str, workers: int | None) -> list[tuple[int, int, int] | None]:
    """The parts a ledger is read in: byte ranges of a large JSON Lines file, one a
    worker; else the whole file (``[None]``). Why only there: the scatter was one process
    (at a million customers, about a third of the run's wall time with the other core idle)
    and the ledger is most of its rows; JSON Lines can be cut at any line's end. Why from
    8 MB (about 60,000 rows): below that a part is less work than forking it."""
    from policylang.tables import file_format, jsonl_parts

    count = workers or os.cpu_count() or 1
    if count < 2 or not os.path.isfile(path) or file_format(path) != "jsonl" or os.path.getsize(path) < PART_BYTES:
        return [None]
    return list(jsonl_parts(path, count)) or [None]


def _ledger_part_task(path: str, part: tuple[int, int, int] | None, out: Scattered, number: int) -> list[BadRow]:
    """Validate and spill one part of the ledger (to ``ledger{number}-{bucket}``); its bad rows."""
    assert _POLICY is not None
    problems = Problems()
    spill = Spill(out, f"ledger{number}", ledger_schema())
    with few_collections():
        for batch in ledger_batches(_POLICY, path, problems, part):
            spill.write(batch, "customer")
    spill.close()
    return problems.rows


def _on_processes(policy: Policy, task: Callable[..., Any], arguments: list[tuple[Any, ...]]) -> list[Any]:
    """``task(*a)`` for each of ``arguments``, each on a forked process of its own (not a
    pool's: a pool's workers may not fork, and the scatter runs in one); the results in
    the order given. An exception in a task is raised here."""
    global _POLICY
    import multiprocessing
    import pickle
    import tempfile

    context = multiprocessing.get_context("fork")
    saved, _POLICY = _POLICY, policy
    with tempfile.TemporaryDirectory(prefix="policylang-task-") as folder:
        try:
            processes = [context.Process(target=_task_to_file, args=(task, a, os.path.join(folder, str(k))))
                         for k, a in enumerate(arguments)]
            for process in processes:
                process.start()
            for process in processes:
                process.join()
        finally:
            _POLICY = saved
        results = []
        for k, process in enumerate(processes):
            path = os.path.join(folder, str(k))
            if not os.path.exists(path):
                raise RuntimeError(f"a worker process ended with exit status {process.exitcode} and no result")
            with open(path, "rb") as handle:
                failed, value = pickle.load(handle)
            if failed:
                raise value
            results.append(value)
    return results


def _task_to_file(task: Callable[..., Any], arguments: tuple[Any, ...], path: str) -> None:
    import pickle

    few_collections_for_good()
    try:
        result: tuple[bool, Any] = (False, task(*arguments))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
        result = (True, exc)
    with open(path, "wb") as handle:
        pickle.dump(result, handle)


def bucket_work(policy: Policy, scattered: Scattered, bucket: int) -> tuple[Any, int]:
    """One bucket's work rows (a pyarrow table sorted by key, customer, kind, row) and how
    many of its customers are coupled. The rows of the coupled group (key
    :data:`CAPACITY_KEY`) include the bucket's other customers' ledger contacts that a
    capacity rule counts (kind ``LOAD``), so the coupled group's rows from every bucket
    together are exactly what it needs."""
    import pyarrow as pa
    import pyarrow.compute as pc

    people = scattered.read("customers", bucket, customer_schema())
    ledger = scattered.read_ledger(bucket)
    asks = scattered.read("requests", bucket, request_schema())
    records = {ident: (row, record) for ident, row, record in zip(
        people.column("id").to_pylist(), people.column("row").to_pylist(), people.column("record").to_pylist(),
        strict=True)}
    owners = dict(zip(people.column("id").to_pylist(), people.column("owner").to_pylist(), strict=True))
    people_ids, people_owners = people.column("id"), people.column("owner")
    del people
    rules = capacity_rules(policy)
    shapes: dict[tuple[str, str, str, str | None], bool] = {}

    def governed(purpose: str, channel: str, team: str, owner: str | None) -> bool:
        key = (purpose, channel, team, owner)
        found = shapes.get(key)
        if found is None:
            found = shapes[key] = any(rule.match.matches(purpose, channel, team, owner) for rule in rules)
        return found

    ask_customers = asks.column("customer").to_pylist()
    asking = set(ask_customers)
    mine = ledger.filter(pc.is_in(ledger.column("customer"), value_set=pa.array(sorted(asking), pa.string())))
    coupled: set[str] = set()
    if rules:
        coupled = {c for c, p, ch, t in zip(ask_customers, asks.column("purpose").to_pylist(),
                                            asks.column("channel").to_pylist(), asks.column("team").to_pylist(),
                                            strict=True)
                   if governed(p, ch, t, owners[c])}
        planned = mine.filter(pc.equal(mine.column("status"), "planned")).select(
            ["customer", "purpose", "channel", "team"]).to_pydict()
        coupled |= {c for c, p, ch, t in zip(planned["customer"], planned["purpose"], planned["channel"],
                                             planned["team"], strict=True) if governed(p, ch, t, owners.get(c))}
    coupled_set = pa.array(sorted(coupled), pa.string())

    def key(customer: str) -> str:
        return CAPACITY_KEY if customer in coupled else customer

    def keyed(table: Any) -> Any:
        return pc.if_else(pc.is_in(table.column("customer"), value_set=coupled_set), CAPACITY_KEY, table.column("customer"))

    parts: list[dict[str, Any]] = []
    asked = sorted(asking)
    parts.append({"key": [key(c) for c in asked], "kind": [CUSTOMER] * len(asked),
                  "row": [records[c][0] for c in asked], "customer": asked,
                  "record": [records[c][1] for c in asked]})
    part: dict[str, Any] = {name: mine.column(name) for name in LEDGER_COLUMNS}
    part["key"] = keyed(mine)
    part["kind"] = pa.repeat(pa.scalar(LEDGER, pa.int8()), mine.num_rows)
    parts.append(part)
    parts.append({**{name: asks.column(name) for name in asks.column_names},
                  "key": [key(c) for c in ask_customers], "kind": [REQUEST] * asks.num_rows})
    if rules:  # what the others' ledgers hold against capacity rules, for the coupled group
        others = ledger.filter(pc.and_(pc.invert(pc.is_in(ledger.column("customer"), value_set=coupled_set)),
                                       pc.is_in(ledger.column("status"), value_set=pa.array(sorted(COUNTED_STATUSES)))))
        # the test once per distinct (purpose, channel, team, owner), not per row (per row,
        # in Python, it was most of the split's time)
        owner_of = pc.take(people_owners, pc.index_in(others.column("customer"), value_set=people_ids))
        shape = pc.binary_join_element_wise(others.column("purpose"), others.column("channel"), others.column("team"),
                                            pc.fill_null(owner_of, _NO_OWNER), _SEP).combine_chunks().dictionary_encode()
        verdicts = [governed(*(None if part == _NO_OWNER else part for part in value.split(_SEP)))  # type: ignore[arg-type]
                    for value in shape.dictionary.to_pylist()]
        loads = others.filter(pc.take(pa.array(verdicts, pa.bool_()), shape.indices))
        del others, shape, owner_of
        part = {name: loads.column(name) for name in LEDGER_COLUMNS}
        # a load row carries its customer's owner
        part["record"] = [owners.get(c) for c in loads.column("customer").to_pylist()]
        part["key"] = [CAPACITY_KEY] * loads.num_rows
        part["kind"] = [LOAD] * loads.num_rows
        parts.append(part)
    del asks, ledger, mine
    schema = work_schema()
    tables = [pa.table({name: _array(p[name], schema.field(name).type) if name in p
                        else pa.nulls(len(p["row"]), schema.field(name).type)
                        for name in schema.names}, schema=schema) for p in parts]
    del parts
    return sort_work(pa.concat_tables(tables)), len(coupled)


_SEP, _NO_OWNER = "\x1f", "\x00"  # joins a contact's shape into one text; stands for no owner


def sort_work(table: Any) -> Any:
    return table.sort_by([("key", "ascending"), ("customer", "ascending"), ("kind", "ascending"),
                          ("row", "ascending")])


def prepare(policy: Policy, customers_path: str, ledger_path: str | None, requests_path: str,
            problems: Problems) -> Prepared:
    """Read and validate the three inputs into one table of work rows (what the Spark
    engine sends); bad rows go to ``problems``. The local engine does not hold this table:
    it decides bucket by bucket (:func:`run_files`)."""
    import tempfile

    import pyarrow as pa

    with tempfile.TemporaryDirectory(prefix="policylang-batch-") as folder:
        scattered = scatter(policy, customers_path, ledger_path, requests_path, problems, folder)
        tables, coupled = [], 0
        for bucket in range(scattered.buckets):
            table, count = bucket_work(policy, scattered, bucket)
            tables.append(table)
            coupled += count
    work = sort_work(pa.concat_tables(tables)) if tables else work_schema().empty_table()
    return Prepared(work, scattered.requests, coupled)


def _array(values: Any, kind: Any) -> Any:
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.cast(kind)
    return pa.array(values, kind)


def work_schema() -> Any:
    import pyarrow as pa

    types = {"key": pa.string(), "kind": pa.int8(), "row": pa.int64(), "at_us": pa.int64(), "priority": pa.int64()}
    return pa.schema([(name, types.get(name, pa.string())) for name in ("key", "kind", "row", "at_us", "priority",
                                                                         *TEXT_FIELDS)])


# ---- deciding one group --------------------------------------------------------------------


class BatchLoads:
    """Every customer's contacts that ``capacity`` rules count, as they stand at each step of
    the coupled group: the ledger's counted contacts, plus each grant, minus each
    displacement. Kept sorted per rule, so a count is two binary searches."""

    def __init__(self, rules: Sequence[CapRule]) -> None:
        self.rules = list(rules)
        self.by_rule: dict[str, tuple[list[int], list[Contact]]] = {rule.name: ([], []) for rule in rules}

    def add(self, contact: Contact, owner: str | None, *, at_end: bool = False) -> None:
        """Count ``contact`` where its time puts it (after those at the same instant).

        With ``at_end`` it is appended instead and :meth:`settle` must run before any
        count: filling the counts from the ledger by inserting each contact in place
        moved half the list each time (quadratic: at a million customers, with 300,000
        contacts counted, the inserts alone took over a minute); a stable sort once keeps
        the same order."""
        us = clock.micros(contact.at)
        for rule in self.rules:
            # a sent contact whose outcome the rule leaves out (11.3) is not counted by it:
            # the evaluator reads this window as it is
            if rule.leaves_out(contact.status, contact.outcome):
                continue
            if rule.match.matches(contact.purpose, contact.channel, contact.team, owner):
                times, contacts = self.by_rule[rule.name]
                if at_end:
                    times.append(us)
                    contacts.append(contact)
                    continue
                at = bisect_right(times, us)
                times.insert(at, us)
                contacts.insert(at, contact)

    def extend(self, rule: CapRule, times: Sequence[int], contacts: Sequence[Contact]) -> None:
        """Append contacts ``rule`` counts (as :meth:`add` with ``at_end``: :meth:`settle` follows)."""
        mine = self.by_rule[rule.name]
        mine[0].extend(times)
        mine[1].extend(contacts)

    def settle(self) -> None:
        """Sort what :meth:`add` appended by time; contacts at one instant keep the order
        they were added in (as inserting each after its equals would have put them)."""
        for name, (times, contacts) in self.by_rule.items():
            order = sorted(range(len(times)), key=times.__getitem__)
            self.by_rule[name] = ([times[k] for k in order], [contacts[k] for k in order])

    def remove(self, contact: Contact) -> None:
        us = clock.micros(contact.at)
        for times, contacts in self.by_rule.values():
            for k in range(bisect_left(times, us), bisect_right(times, us)):
                if contacts[k] == contact:
                    del times[k]
                    del contacts[k]
                    break

    def replace(self, fresh: Sequence[Contact]) -> None:
        """Put each of ``fresh`` where an equal contact is counted (the same place, so the
        order of contacts at one instant stays as it was)."""
        placed = {id(c) for c in fresh}
        for contact in fresh:
            us = clock.micros(contact.at)
            for times, contacts in self.by_rule.values():
                for k in range(bisect_left(times, us), bisect_right(times, us)):
                    if id(contacts[k]) not in placed and contacts[k] == contact:
                        contacts[k] = contact
                        break

    def contacts(self, rule: CapRule, start: dt.datetime, end: dt.datetime) -> list[Contact]:
        """Counted contacts matching ``rule`` in ``[start, end)`` (the evaluator's ``Loads``)."""
        times, contacts, i, j = self.window(rule, clock.micros(start), clock.micros(end))
        return contacts[i:j]

    def window(self, rule: CapRule, lo: int, hi: int) -> tuple[list[int], list[Contact], int, int]:
        """The sorted counts of ``rule`` and the index range of ``[lo, hi)`` (see ``evaluator.Loads``)."""
        times, contacts = self.by_rule.get(rule.name, ([], []))
        return times, contacts, bisect_left(times, lo), bisect_left(times, hi)


def _group_rows(columns: dict[str, list[Any]]) -> Iterator[tuple[str, list[int]]]:
    """(customer, positions of its rows) in the order the rows come (sorted by customer)."""
    customers = columns["customer"]
    start = 0
    for k in range(1, len(customers) + 1):
        if k == len(customers) or customers[k] != customers[start]:
            yield customers[start], list(range(start, k))
            start = k


HISTORY_FIELDS = ("channel", "purpose", "team", "status", "outcome", "campaign", "id")


def _history(columns: dict[str, list[Any]], positions: list[int], customer: str) -> History:
    """A customer's ledger index straight from its work rows (validated when prepared)."""
    if not positions:
        return history_span(columns, 0, 0, customer)
    if positions[-1] + 1 - positions[0] == len(positions):
        # a customer's ledger rows are consecutive (sorted by customer, kind, row)
        return history_span(columns, positions[0], positions[-1] + 1, customer)
    contacts = [k for k in positions if columns["event"][k] is None]
    events: dict[str, list[int]] = {}
    for k in positions:
        name = columns["event"][k]
        if name is not None:
            events.setdefault(name, []).append(columns["at_us"][k])
    fields = {name: [columns[name][k] for k in contacts] for name in HISTORY_FIELDS}
    fields["customer"] = [customer] * len(contacts)
    return History.from_columns(fields, [columns["at_us"][k] for k in contacts], events)


def history_span(columns: dict[str, list[Any]], start: int, end: int, customer: str) -> History:
    """A customer's ledger index from its work rows ``start:end`` (its ledger rows): the
    columns are slices, not a look-up per row and field."""
    names = columns["event"][start:end]
    at_us = columns["at_us"][start:end]
    if names.count(None) == end - start:
        fields = {name: columns[name][start:end] for name in HISTORY_FIELDS}
        fields["customer"] = [customer] * (end - start)
        return History.from_columns(fields, at_us, {})
    kept = [name is None for name in names]
    events: dict[str, list[int]] = {}
    for name, us in zip(names, at_us, strict=True):
        if name is not None:
            events.setdefault(name, []).append(us)
    fields = {name: list(compress(columns[name][start:end], kept)) for name in HISTORY_FIELDS}
    micros = list(compress(at_us, kept))
    fields["customer"] = [customer] * len(micros)
    return History.from_columns(fields, micros, events)


@attrs.define
class Pending:
    """One customer's cycle in a group: its record, requests and where its answers go."""

    customer: str
    values: Customer
    cycle: Cycle
    rows: list[int]
    ids: list[str]
    step: int = 0


Records = dict[str, Mapping[str, Any]]
RECORDS_KEPT = 10_000  # distinct customer records a process keeps decoded (then it starts again)


def records_memo(policy: Policy) -> Records:
    """The decoded customer records of ``policy`` (kept on the policy, for every task of a
    worker process; emptied when it holds :data:`RECORDS_KEPT`, so that a file whose every
    customer has a record of its own does not grow it without bound).

    Why on the policy and not per task: a task's chunk of 20,000 rows holds about 1,500
    customers, so a memo per chunk decoded about a quarter of all customers' records again
    (the benchmark's 100,000 customers have under a thousand distinct records)."""
    cache: dict[Any, Any] = policy._index  # noqa: SLF001 - the policy's own memo table
    memo: Records | None = cache.get("batch-records")
    if memo is None or len(memo) >= RECORDS_KEPT:
        memo = cache["batch-records"] = {}
    return memo


def record_customer(policy: Policy, record: str, memo: Records, ident: str) -> Customer:
    """Customer ``ident`` from its record (JSON text without the id, validated when
    prepared). Customers with the same record text share one decoding (``memo``: for one
    policy only): most customers of a large file repeat a few attribute combinations."""
    found = memo.get(record)
    if found is None:
        found = memo[record] = customer_from_json(policy, orjson.loads(record), where("<customers>")).values
    return Customer(ident, dict(found))


def _requests(columns: dict[str, list[Any]], mine: list[int]) -> list[Request]:
    return [Request(columns["team"][k], columns["channel"][k], columns["purpose"][k], clock.instant(columns["at_us"][k]),
                    columns["campaign"][k], columns["priority"][k] or 0)
            for k in mine]


Answer = dict[str, Any]


class Answers:
    """Output rows, made into Arrow columns a block at a time.

    Why not a dict per row: making the dict and then taking each field out of it again
    for Arrow cost about a tenth of a bucket's time outside the evaluator. Why not a list
    per field filled at each decision: eight appends a row through the dict of columns
    cost more than keeping (row, id, customer, decision) and taking each field out of a
    block of decisions at once."""

    __slots__ = ("explain", "pending", "blocks", "size")

    BLOCK = 5_000  # decisions held before they are made into columns

    def __init__(self, explain: bool) -> None:
        self.explain = explain
        self.pending: list[tuple[int, str, str, Decision]] = []
        self.blocks: list[Any] = []
        self.size = 0

    def add(self, pending: Pending, index: int, decision: Decision) -> None:
        """The output row of request ``index`` of ``pending``'s cycle."""
        self.pending.append((pending.rows[index], pending.ids[index], pending.customer, decision))
        self.size += 1
        if len(self.pending) >= self.BLOCK:
            self._block()

    def columns(self) -> dict[str, list[Any]]:
        """The rows added since the last block, as lists by field."""
        if not self.pending:
            return {name: [] for name in answer_schema(self.explain).names}
        rows, ids, customers, decisions = map(list, zip(*self.pending, strict=True))
        out: dict[str, list[Any]] = {
            "row": rows, "id": ids, "customer": customers,
            "team": [d.request.team for d in decisions],
            "allowed": [d.allowed for d in decisions],
            "denied_by": [d.denied_by for d in decisions],
            "displaces": [[c.id if c.id is not None else c.describe() for c in d.displaces] if d.displaces else ()
                          for d in decisions],
            "next_allowed_at": [None if d.next_allowed_at is None else d.next_allowed_at.isoformat()
                                for d in decisions]}
        if self.explain:
            out["trace"] = [orjson.dumps([t.to_dict() for t in d.trace]).decode() for d in decisions]
        return out

    def _block(self) -> None:
        import pyarrow as pa

        schema = answer_schema(self.explain)
        if self.pending:
            columns = self.columns()
            self.pending.clear()
            self.blocks.append(pa.table({name: pa.array(values, schema.field(name).type)
                                         for name, values in columns.items()}, schema=schema))

    def table(self) -> Any:
        """Every row added, as one Arrow table (in the order added)."""
        import pyarrow as pa

        self._block()
        return pa.concat_tables(self.blocks) if self.blocks else answer_schema(self.explain).empty_table()

    def rows(self) -> list[Answer]:
        """Every row added, as dicts (tests)."""
        return self.table().to_pylist()  # type: ignore[no-any-return]


def decide_group(policy: Policy, columns: dict[str, list[Any]], explain: bool = False,
                 into: Answers | None = None) -> Answers:
    """Decide the work rows of one or more groups (sorted by key, customer, kind, row); the
    answers are added to ``into`` (a new :class:`Answers` by default), which is returned."""
    out = Answers(explain) if into is None else into
    keys = columns["key"]
    if CAPACITY_KEY in keys:
        at = keys.index(CAPACITY_KEY)
        end = len(keys) - keys[::-1].index(CAPACITY_KEY)
        coupled = {name: values[at:end] for name, values in columns.items()}
        rest = {name: values[:at] + values[end:] for name, values in columns.items()}
        _decide_coupled(policy, coupled, explain, out)
        columns = rest
    _decide_apart(policy, columns, explain, out)
    return out


def _decide_apart(policy: Policy, columns: dict[str, list[Any]], explain: bool, out: Answers) -> None:
    """Decide customers that no capacity rule couples, each on its own, from their work
    rows (sorted by customer, kind, row: each customer's record row, then its ledger rows,
    then its requests, which every customer here has).

    Each customer's parts are slices of the columns, found by where its record row is and
    where its first request is (``list.index``), not by a test per row and kind."""
    kinds = columns["kind"]
    size = len(kinds)
    starts = list(compress(range(size), map(_IS_RECORD, kinds)))
    starts.append(size)
    memo = records_memo(policy)
    add = out.add
    for k in range(len(starts) - 1):
        pending = _pending_span(policy, columns, starts[k], starts[k + 1], memo)
        decide = pending.cycle.decide
        for index in pending.cycle.order:
            add(pending, index, decide(index, explain=explain))


def _pending_span(policy: Policy, columns: dict[str, list[Any]], start: int, end: int, memo: Records,
                  made: Callable[[History], None] | None = None) -> Pending:
    """A customer's cycle from its work rows ``start:end`` (its record row, its ledger
    rows, its requests: each part a slice of the columns); ``made`` is shown its ledger
    index first."""
    customer = columns["customer"][start]
    values = record_customer(policy, columns["record"][start], memo, customer)
    asked = columns["kind"].index(REQUEST, start, end)
    history = history_span(columns, start + 1, asked, customer)
    if made is not None:
        made(history)
    at_us, priorities = columns["at_us"][asked:end], columns["priority"][asked:end]
    requests = list(map(Request, columns["team"][asked:end], columns["channel"][asked:end],
                        columns["purpose"][asked:end], map(clock.instant, at_us), columns["campaign"][asked:end],
                        [p or 0 for p in priorities]))
    ids = columns["id"][asked:end]
    cycle = Cycle(policy, values, requests, history, grant_ids=ids)
    return Pending(customer, values, cycle, columns["row"][asked:end], ids)


def _IS_RECORD(kind: int) -> bool:
    return kind == CUSTOMER


Fetch = Callable[[int, int], dict[str, list[Any]]]
Gather = Callable[[Sequence[tuple[int, int]]], dict[str, list[Any]]]
GATHER_CUSTOMERS = 1_000  # coupled customers whose rows are made into lists at a time


def _gather_by(fetch: Fetch) -> Gather:
    """A gather made of ``fetch``: each span's rows, one after the other."""
    def gather(spans: Sequence[tuple[int, int]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for start, end in spans:
            for name, values in fetch(start, end).items():
                out.setdefault(name, []).extend(values)
        return out

    return gather
NAME_FIELDS = ("channel", "purpose", "team", "status", "outcome", "campaign", "event")


def _shared_names(columns: dict[str, list[Any]], shared: dict[Any, Any]) -> dict[str, list[Any]]:
    """``columns`` with each name (channel, team, ...) one shared object per value.

    Why: Arrow hands out a new string per row, and the coupled group keeps the contacts
    it counts and the ledger indexes of its cycles in progress for the whole run; at a
    million customers those per-row copies of a handful of names were most of its memory."""
    for name in NAME_FIELDS:
        values = columns.get(name)
        if values is not None:
            columns[name] = list(map(shared.setdefault, values, values))
    return columns


@attrs.define(slots=True)
class Waiting:
    """A coupled customer before and while its cycle runs.

    Before its first request only what orders its requests in the merge is held, as
    numbers, and where its rows are; its record, requests, ledger index and cycle are
    made from its rows at its first request and dropped after its last, so the group
    holds a few small tuples per customer and only the cycles in progress as objects."""

    customer: str
    owner: str | None
    span: tuple[int, int]  # its rows, for ``fetch``
    steps: tuple[tuple[int, int, int, int], ...]  # each request, in arbitration order: (at_us, rank, -priority, row)
    pending: Pending | None = None  # its record, cycle, rows and ids, while its cycle runs
    step: int = 0


def _decide_coupled(policy: Policy, columns: dict[str, list[Any]], explain: bool, into: Answers) -> None:
    """The coupled group, its rows given as columns (see :func:`decide_coupled`)."""
    size = len(columns["key"])

    def fetch(start: int, end: int) -> dict[str, list[Any]]:
        return {name: values[start:end] for name, values in columns.items()}

    decide_coupled(policy, fetch, [(0, size)] if size else [], explain, into)


def _capacity_counted(history: History, rules: Sequence[CapRule],
                      owner: str | None) -> Iterator[tuple[CapRule, tuple[list[int], Sequence[Contact]]]]:
    """Each capacity rule and what it counts of a customer's ledger: the instants and the
    contacts (the index's own objects, in time order), as :meth:`BatchLoads.add` would
    take them; only those contacts are made (making every contact of the ledger was a
    seventh of the coupled group's time)."""
    for rule in rules:
        yield rule, history.matching(rule.match, owner, drop=rule.not_counted)


def _swap_in(loads: BatchLoads, owner: str | None, history: History) -> None:
    """Count a cycle's own contacts in place of the equal ones the first pass counted.

    Why: the cycle's index must hand out the very contacts the counts hold (a decision
    leaves out the contacts it would displace by identity); each goes where its equal
    was, so the order of contacts at one instant stays as it was."""
    loads.replace(list({id(c): c for _, (_, contacts) in _capacity_counted(history, loads.rules, owner)
                        for c in contacts}.values()))


def decide_coupled(policy: Policy, fetch: Fetch, spans: Sequence[tuple[int, int]], explain: bool,
                   into: Answers, gather: Gather | None = None) -> None:
    """The coupled group: the customers' cycles merged by time, capacity counted across them.

    Its rows (sorted by customer, kind, row) are read twice: through ``fetch(start, end)``,
    a span of whole customers at a time (``spans``), to fill the counts and order the
    requests; then through ``gather(spans)`` (the rows of several customers' spans, one
    after the other; by default made of ``fetch``), the customers of a block of
    :data:`GATHER_CUSTOMERS` at a time in the order their first requests come up, each
    customer's kept until then. So only the counts, a few numbers per customer
    (:class:`Waiting`), a block's rows and the cycles in progress are held, not the
    group's rows. Why blocks: a fetch per customer (an Arrow slice made into lists of a
    dozen rows) was about a seventh of this group's time."""
    loads = BatchLoads(capacity_rules(policy))
    cycles: list[Waiting | None] = []
    memo = records_memo(policy)
    for first, last in spans:
        columns = fetch(first, last)
        kinds = columns["kind"]
        for customer, positions in _group_rows(columns):
            if kinds[positions[0]] == LOAD:  # other customers' contacts, only counted
                for k in positions:
                    loads.add(Contact(clock.instant(columns["at_us"][k]), columns["channel"][k],
                                      columns["purpose"][k], columns["team"][k], columns["status"][k],
                                      columns["outcome"][k], columns["campaign"][k], columns["id"][k], customer),
                              columns["record"][k], at_end=True)
                continue
            record = next(columns["record"][k] for k in positions if kinds[k] == CUSTOMER)
            owner = _owner(policy, record_customer(policy, record, memo, customer).values)
            history = _history(columns, [k for k in positions if kinds[k] == LEDGER], customer)
            for rule, (times, contacts) in _capacity_counted(history, loads.rules, owner):
                loads.extend(rule, times, contacts)
            del history  # freed by reference counting (no index is a reference cycle)
            mine = [k for k in positions if kinds[k] == REQUEST]
            requests = _requests(columns, mine)
            steps = tuple((columns["at_us"][mine[index]], policy.rank(requests[index].team, owner),
                           -requests[index].priority, columns["row"][mine[index]])
                          for index in arbitration_order(policy, owner, requests))
            cycles.append(Waiting(customer, owner, (first + positions[0], first + positions[-1] + 1), steps))
        del columns
    loads.settle()
    heap: list[tuple[Any, ...]] = []

    def push(number: int) -> None:
        waiting = cycles[number]
        assert waiting is not None
        if waiting.step < len(waiting.steps):
            at_us, rank, priority, row = waiting.steps[waiting.step]
            heapq.heappush(heap, (at_us, rank, priority, waiting.customer, row, number))
        else:
            cycles[number] = None  # done: its cycle and ledger index go (by reference counting)

    for number in range(len(cycles)):
        push(number)
    # each customer's first request comes up in the order of the first entries pushed
    firsts = sorted(heap)
    upcoming = 0
    ready: dict[int, tuple[dict[str, list[Any]], int, int]] = {}  # number -> its block's rows, where it is in them
    take = gather or _gather_by(fetch)
    while heap:
        number = heapq.heappop(heap)[-1]
        waiting = cycles[number]
        assert waiting is not None
        if waiting.pending is None:
            if number not in ready:
                block = [entry[-1] for entry in firsts[upcoming:upcoming + GATHER_CUSTOMERS]]
                upcoming += len(block)
                their = [cycles[n].span for n in block]
                rows = take(their)
                at = 0
                for n, (start, end) in zip(block, their, strict=True):
                    ready[n] = (rows, at, at + end - start)
                    at += end - start
                del rows
            columns, start, end = ready.pop(number)
            waiting.pending = _pending_span(policy, columns, start, end, memo, partial(_swap_in, loads, waiting.owner))
            del columns
        pending = waiting.pending
        index = pending.cycle.order[waiting.step]
        waiting.step += 1
        decision = pending.cycle.decide(index, explain=explain, loads=loads)
        if decision.allowed:
            for contact in decision.displaces:
                loads.remove(contact)
            loads.add(grant(decision.request, pending.ids[index]), waiting.owner)
        into.add(pending, index, decision)
        push(number)


# ---- the output --------------------------------------------------------------------------


def answer_schema(explain: bool) -> Any:
    import pyarrow as pa

    fields = [("row", pa.int64()), ("id", pa.string()), ("customer", pa.string()), ("team", pa.string()),
              ("allowed", pa.bool_()), ("denied_by", pa.list_(pa.string())), ("displaces", pa.list_(pa.string())),
              ("next_allowed_at", pa.string())]
    if explain:
        fields.append(("trace", pa.string()))
    return pa.schema(fields)


def answers_table(answers: list[Answer], explain: bool) -> Any:
    import pyarrow as pa

    schema = answer_schema(explain)
    return pa.table({name: pa.array([a[name] for a in answers], schema.field(name).type) for name in schema.names},
                    schema=schema)


def finish(tables: Iterable[Any], explain: bool) -> Any:
    """The engines' answer tables as one, in request row order (the output's order)."""
    import pyarrow as pa

    parts = [t for t in tables if t.num_rows]
    table = pa.concat_tables(parts) if parts else answers_table([], explain)
    return table.sort_by("row")


# ---- the local engine ----------------------------------------------------------------------

_WORK: Any = None  # the work table, inherited by forked workers
_POLICY: Policy | None = None


def chunks(work: Any, target: int = 20_000, column: str = "key") -> list[tuple[int, int]]:
    """Row ranges of a table sorted by ``column`` that end where its value changes, about
    ``target`` rows each (so the coupled group is never split)."""
    import pyarrow.compute as pc

    keys = work.column(column)
    size = work.num_rows
    if size == 0:
        return []
    # group boundaries: where the key changes
    changes = pc.not_equal(keys.slice(1), keys.slice(0, size - 1)).to_pylist() if size > 1 else []
    bounds = [0, *(k + 1 for k, changed in enumerate(changes) if changed), size]
    out: list[tuple[int, int]] = []
    start = 0
    for b in bounds[1:]:
        if b - start >= target or b == size:
            out.append((start, b))
            start = b
    return out


def _run_chunk(span: tuple[int, int], explain: bool) -> Any:
    assert _POLICY is not None
    start, end = span
    part = _WORK.slice(start, end - start)
    columns = {name: part.column(name).to_pylist() for name in part.column_names}
    return decide_group(_POLICY, columns, explain).table()


def run_local(policy: Policy, work: Any, *, explain: bool = False, workers: int | None = None,
              progress: Callable[[int], None] | None = None) -> Any:
    """Decide every group on ``workers`` processes (default: every core); the answers in
    request row order. ``progress`` is told how many requests each finished chunk held."""
    global _WORK, _POLICY
    import multiprocessing

    spans = chunks(work)
    workers = workers or os.cpu_count() or 1
    _WORK, _POLICY = work, policy
    tables = []
    try:
        if workers == 1 or len(spans) <= 1:
            for span in spans:
                tables.append(_run_chunk(span, explain))
                if progress:
                    progress(tables[-1].num_rows)
        else:
            # fork: the workers inherit the policy and the Arrow work table without copying
            context = multiprocessing.get_context("fork")
            with context.Pool(workers, initializer=few_collections_for_good) as pool:
                for table in pool.imap_unordered(_chunk_task, [(span, explain) for span in spans]):
                    tables.append(table)
                    if progress:
                        progress(table.num_rows)
    finally:
        _WORK, _POLICY = None, None
    return finish(tables, explain)


def _chunk_task(task: tuple[tuple[int, int], bool]) -> Any:
    return _run_chunk(*task)


def work_columns(rows: Iterable[Row]) -> dict[str, list[Any]]:
    """Work rows given as dicts (Spark's pandas groups) as the columns :func:`decide_group` takes."""
    names = ("key", "kind", "row", "at_us", "priority", *TEXT_FIELDS)
    ordered = sorted(rows, key=lambda r: (r["key"], r["customer"], r["kind"], r["row"]))
    return {name: [r[name] for r in ordered] for name in names}


# ---- the local engine, bucket by bucket -------------------------------------------------------

ANSWER_ROWS = 250_000  # request rows per range of the output: what the final merge holds at a time
_SCATTERED: Scattered | None = None  # inherited by forked workers
_EXPLAIN = False


class Tally:
    """The summary's counts, taken a table of answers at a time."""

    def __init__(self) -> None:
        from collections import Counter

        self.decisions = 0
        self.requests: Counter[str] = Counter()
        self.allowed: Counter[str] = Counter()
        self.denied: Counter[tuple[str, str]] = Counter()

    def add(self, table: Any) -> None:
        teams = table.column("team").to_pylist()
        self.decisions += len(teams)
        self.requests.update(teams)
        self.allowed.update(t for t, a in zip(teams, table.column("allowed").to_pylist(), strict=True) if a)
        for team, rules in zip(teams, table.column("denied_by").to_pylist(), strict=True):
            for rule in rules or ():
                self.denied[(team, rule)] += 1

    def merge(self, other: Tally) -> None:
        """Add ``other``'s counts (a task's) to these."""
        self.decisions += other.decisions
        self.requests.update(other.requests)
        self.allowed.update(other.allowed)
        self.denied.update(other.denied)


def run_files(policy: Policy, scattered: Scattered, output: str, *, explain: bool = False,
              workers: int | None = None, progress: Callable[[int], None] | None = None) -> Tally:
    """Decide every request of ``scattered`` on ``workers`` processes (default: every core)
    and write the answers to ``output`` in request row order; the summary's counts.

    Memory is that of a bucket per worker, the coupled group's, and a range of
    :data:`ANSWER_ROWS` output rows, whatever the input's size: each bucket is split
    into its own customers' work and its share of the coupled group; then the coupled
    group (one task: its order couples its customers) and each bucket's customers are
    decided, every task spilling its answers by row range; then each range is sorted and
    written."""
    global _SCATTERED, _POLICY, _EXPLAIN
    import multiprocessing

    from policylang.tables import TableWriter

    workers = workers or os.cpu_count() or 1
    buckets = list(range(scattered.buckets))
    _SCATTERED, _POLICY, _EXPLAIN = scattered, policy, explain
    tally = Tally()  # each task counts its own answers: none of it is left to this process's merge
    try:
        if workers == 1 or scattered.buckets == 1:
            coupled = sum(map(_split_task, buckets))
            tasks: list[int | None] = ([None] if coupled else []) + list(buckets)
            for part in map(_decide_task, tasks):
                tally.merge(part)
                if progress:
                    progress(part.decisions)
        else:
            # fork: the workers inherit the policy and where the buckets are
            with multiprocessing.get_context("fork").Pool(workers, initializer=few_collections_for_good) as pool:
                coupled = sum(pool.imap_unordered(_split_task, buckets))
                # the coupled group first: it is the one task that cannot be split
                tasks = ([None] if coupled else []) + list(buckets)
                for part in pool.imap_unordered(_decide_task, tasks):
                    tally.merge(part)
                    if progress:
                        progress(part.decisions)
    finally:
        _SCATTERED, _POLICY, _EXPLAIN = None, None, False
    names = ["coupled", *(str(b) for b in buckets)]
    with TableWriter(output, answer_schema(explain)) as out:
        for span in range(scattered.last_row // ANSWER_ROWS + 1):
            pieces = []
            for name in names:
                path = scattered.path(f"answers-{name}-{span}", 0)
                if os.path.exists(path):
                    pieces.append(read_spill(path, answer_schema(explain)))
                    os.unlink(path)
            if pieces:
                table = finish(pieces, explain)
                del pieces
                out.write(table)
    return tally


@few_collections()
def _split_task(bucket: int) -> int:
    """Split a bucket's work rows: the coupled group's share, and its own customers'."""
    import pyarrow.compute as pc

    assert _POLICY is not None and _SCATTERED is not None
    work, _ = bucket_work(_POLICY, _SCATTERED, bucket)
    coupled = pc.sum(pc.equal(work.column("key"), CAPACITY_KEY)).as_py() or 0  # CAPACITY_KEY sorts first
    for part, rows in (("coupled", work.slice(0, coupled)), ("work", work.slice(coupled))):
        if rows.num_rows:
            write_spill(_SCATTERED.path(part, bucket), rows)
    return int(coupled)


@few_collections()
def _decide_task(bucket: int | None) -> Tally:
    """Decide a bucket's own customers (or, for ``None``, the coupled group) and spill the
    answers by row range; their counts for the summary."""
    import pyarrow as pa

    assert _POLICY is not None and _SCATTERED is not None
    scattered, explain = _SCATTERED, _EXPLAIN
    work: Any
    if bucket is None:
        parts = [scattered.read("coupled", b, work_schema()) for b in range(scattered.buckets)]
        work = sort_work(pa.concat_tables(parts))
        del parts
        pa.default_memory_pool().release_unused()  # the sort's copies: this task holds on for long

        shared: dict[Any, Any] = {}

        def fetch(start: int, end: int) -> dict[str, list[Any]]:
            return _shared_names(work.slice(start, end - start).to_pydict(), shared)

        def gather(spans: Sequence[tuple[int, int]]) -> dict[str, list[Any]]:
            import numpy as np

            at = np.concatenate([np.arange(start, end) for start, end in spans])
            return _shared_names(work.take(pa.array(at)).to_pydict(), shared)

        answers = Answers(explain)
        decide_coupled(_POLICY, fetch, chunks(work, column="customer"), explain, answers, gather)
    else:
        work = scattered.read("work", bucket, work_schema())
        answers = Answers(explain)
        for start, end in chunks(work):
            decide_group(_POLICY, work.slice(start, end - start).to_pydict(), explain, answers)
    table = answers.table().sort_by("row")
    del answers
    name = "coupled" if bucket is None else str(bucket)
    spill_by_rows(table, ANSWER_ROWS, lambda span: scattered.path(f"answers-{name}-{span}", 0))
    tally = Tally()
    tally.add(table)
    return tally

"""Batch decisions: every request of a file decided, customer by customer, on all cores.

The job has three steps. *Prepare* (:func:`prepare`) reads the customers, the ledger and
the requests (any format :mod:`policylang.tables` reads), validates every row with the same
validators as the single-decision path (:mod:`policylang.inputs`), and lays them out as
one Arrow table of *work rows* keyed by the group that decides them. *Decide*
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

import datetime as dt
import heapq
import os
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import attrs
import orjson

from policylang import clock, ingest
from policylang.arbitration import Cycle, grant
from policylang.decision import Decision
from policylang.errors import InputError
from policylang.history import History, default_of
from policylang.inputs import customer_from_json, entry_from_json, request_from_json, where
from policylang.records import COUNTED_STATUSES, Contact, Customer, Event, Request
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
    """Customer id -> (row, the record as JSON text, owner), every row validated."""
    kinds = {name: spec.kind for name, spec in policy.attributes.items()}
    found: dict[str, tuple[int, str, str | None]] = {}
    for number, row in read_rows(path, kinds=kinds):
        if isinstance(row, InputError):
            problems.add(path, number, row)
            continue
        if "id" not in row:
            problems.add(path, number, "the customer record has no `id` field", row, "id")
            continue
        try:
            customer = customer_from_json(policy, row, where(path, number))
        except InputError as exc:
            problems.add(path, number, exc, row)
            continue
        if customer.id in found:
            problems.add(path, number, f"customer `{customer.id}` is given twice (first on row {found[customer.id][0]})",
                         row, "id")
            continue
        found[customer.id] = (number, orjson.dumps(row).decode(), _owner(policy, customer.values))
    return found


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
    a ten-million-row ledger in a fraction of the memory of Python objects).

    Chunks of rows go through the columnar fast path of :mod:`policylang.ingest` (names
    checked per distinct value, instants a column at a time); a chunk it will not vouch for
    is validated row by row, so every bad row is reported with its field.
    """
    import pyarrow as pa

    schema = ledger_schema()
    batches: list[Any] = []
    out: dict[str, list[Any]] = {name: [] for name in LEDGER_COLUMNS}
    chunk: list[tuple[int, Row]] = []

    def flush() -> None:
        flush_rows()
        batches.append(pa.record_batch([pa.array(out[name], schema.field(name).type) for name in LEDGER_COLUMNS],
                                       schema=schema))
        for values in out.values():
            values.clear()

    def flush_rows() -> None:
        contacts = [(n, r) for n, r in chunk if "event" not in r]
        slow = [(n, r) for n, r in chunk if "event" in r]
        objects = [r for _, r in contacts]
        if objects:
            try:
                customers = [r["customer"] for r in objects]
                if not all(type(c) is str and c for c in set(customers)):
                    raise KeyError("customer")
                columns, micros, _, _ = ingest.fast_columns(policy, objects)
            except (KeyError, ingest._Slow):  # noqa: SLF001 - the fast path's own signal to validate
                slow = chunk
            else:
                out["row"].extend(n for n, _ in contacts)
                out["customer"].extend(customers)
                out["at_us"].extend(micros)
                for name in ("channel", "purpose", "team"):
                    out[name].extend(columns[name])
                for name in ("status", "outcome", "campaign", "id"):
                    out[name].extend(columns[name] if name in columns else [default_of(name)] * len(micros))
                out["event"].extend([None] * len(micros))
        for number, row in slow:
            customer = _customer_of(row, path, number, problems)
            if customer is None:
                continue
            try:
                entry = entry_from_json(policy, row, where(path, number))
            except InputError as exc:
                problems.add(path, number, exc, row)
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
        chunk.clear()

    for number, row in read_rows(path):
        if isinstance(row, InputError):
            problems.add(path, number, row)
            continue
        chunk.append((number, row))
        if len(chunk) >= 50_000:
            flush()
    flush()
    return pa.Table.from_batches(batches, schema=schema)


def ledger_schema() -> Any:
    import pyarrow as pa

    return pa.schema([(name, pa.int64() if name in ("row", "at_us") else pa.string()) for name in LEDGER_COLUMNS])


def read_requests(policy: Policy, path: str, problems: Problems) -> Iterator[tuple[int, str, str, Request]]:
    """(row, customer, request id, request) for every valid request row; the id defaults
    to the row number."""
    seen: dict[str, int] = {}
    for number, row in read_rows(path):
        if isinstance(row, InputError):
            problems.add(path, number, row)
            continue
        customer = _customer_of(row, path, number, problems)
        if customer is None:
            continue
        ident = row.get("id", str(number))
        try:
            request = request_from_json(policy, row, where(path, number))
        except InputError as exc:
            problems.add(path, number, exc, row)
            continue
        if ident in seen:
            problems.add(path, number, f"request id `{ident}` is given twice (first on row {seen[ident]})", row, "id")
            continue
        seen[ident] = number
        yield number, customer, str(ident), request


def capacity_rules(policy: Policy) -> list[CapRule]:
    return [rule for rule in policy.rules if isinstance(rule, CapRule) and rule.kind == "capacity"]


def prepare(policy: Policy, customers_path: str, ledger_path: str | None, requests_path: str,
            problems: Problems) -> Prepared:
    """Read and validate the three inputs into work rows; bad rows go to ``problems``.

    A request whose customer has no (valid) record, or whose customer's ledger has a bad
    row, is refused too: deciding it would silently use a wrong record or ledger.
    """
    import pyarrow as pa

    customers = read_customers(policy, customers_path, problems)
    bad_customers = {bad.data.get("id") for bad in problems.rows if bad.data and isinstance(bad.data.get("id"), str)}
    ledger = ledger_schema().empty_table()
    if ledger_path is not None:
        before = len(problems.rows)
        ledger = read_ledger(policy, ledger_path, problems)
        for bad in problems.rows[before:]:
            if bad.data and isinstance(bad.data.get("customer"), str):
                bad_customers.add(bad.data["customer"])
    asks: dict[str, list[Any]] = {name: [] for name in ("row", "customer", "id", "team", "channel", "purpose",
                                                         "at_us", "campaign", "priority")}
    for number, customer, ident, request in read_requests(policy, requests_path, problems):
        if customer not in customers:
            why = ("its customer record is bad" if customer in bad_customers
                   else f"no customer `{customer}` in {customers_path}")
            problems.add(requests_path, number, why, None, "customer")
            continue
        if customer in bad_customers:
            problems.add(requests_path, number, f"the ledger of customer `{customer}` has a bad row", None, "customer")
            continue
        for name, value in (("row", number), ("customer", customer), ("id", ident), ("team", request.team),
                            ("channel", request.channel), ("purpose", request.purpose),
                            ("at_us", clock.micros(request.at)), ("campaign", request.campaign),
                            ("priority", request.priority)):
            asks[name].append(value)
    rules = capacity_rules(policy)
    shapes: dict[tuple[str, str, str, str | None], bool] = {}

    def governed(purpose: str, channel: str, team: str, owner: str | None) -> bool:
        key = (purpose, channel, team, owner)
        found = shapes.get(key)
        if found is None:
            found = shapes[key] = any(rule.match.matches(purpose, channel, team, owner) for rule in rules)
        return found

    owners = {ident: found[2] for ident, found in customers.items()}
    asking = set(asks["customer"])
    import pyarrow.compute as pc

    mine = ledger.filter(pc.is_in(ledger.column("customer"), value_set=pa.array(sorted(asking), pa.string())))
    coupled: set[str] = set()
    if rules:
        coupled = {c for c, p, ch, t in zip(asks["customer"], asks["purpose"], asks["channel"], asks["team"], strict=True)
                   if governed(p, ch, t, owners[c])}
        planned = mine.filter(pc.equal(mine.column("status"), "planned")).to_pydict()
        coupled |= {c for c, p, ch, t in zip(planned["customer"], planned["purpose"], planned["channel"],
                                             planned["team"], strict=True) if governed(p, ch, t, owners.get(c))}
    coupled_set = pa.array(sorted(coupled), pa.string())

    def key(customer: str) -> str:
        return CAPACITY_KEY if customer in coupled else customer

    def keyed(table: Any) -> Any:
        return pc.if_else(pc.is_in(table.column("customer"), value_set=coupled_set), CAPACITY_KEY, table.column("customer"))

    parts: list[dict[str, Any]] = []
    people = sorted(asking)
    parts.append({"key": [key(c) for c in people], "kind": [CUSTOMER] * len(people),
                  "row": [customers[c][0] for c in people], "customer": people,
                  "record": [customers[c][1] for c in people]})
    part: dict[str, Any] = {name: mine.column(name) for name in LEDGER_COLUMNS}
    part["key"] = keyed(mine)
    part["kind"] = pa.repeat(pa.scalar(LEDGER, pa.int8()), mine.num_rows)
    parts.append(part)
    parts.append({**asks, "key": [key(c) for c in asks["customer"]], "kind": [REQUEST] * len(asks["row"])})
    if coupled:  # what the others' ledgers hold against capacity rules, for the coupled group
        others = ledger.filter(pc.and_(pc.invert(pc.is_in(ledger.column("customer"), value_set=coupled_set)),
                                       pc.is_in(ledger.column("status"), value_set=pa.array(sorted(COUNTED_STATUSES)))))
        batches = []
        for batch in others.to_batches(100_000):
            columns = batch.to_pydict()
            flags = [governed(p, ch, t, owners.get(c)) for c, p, ch, t in zip(
                columns["customer"], columns["purpose"], columns["channel"], columns["team"], strict=True)]
            batches.append(batch.filter(pa.array(flags, pa.bool_())))
        loads = pa.Table.from_batches(batches, schema=ledger.schema) if batches else ledger.schema.empty_table()
        del others, batches
        part = {name: loads.column(name) for name in LEDGER_COLUMNS}
        # a load row carries its customer's owner
        part["record"] = [owners.get(c) for c in loads.column("customer").to_pylist()]
        part["key"] = [CAPACITY_KEY] * loads.num_rows
        part["kind"] = [LOAD] * loads.num_rows
        parts.append(part)
    # Memory: each input copy is dropped as soon as its work rows exist (at a million
    # customers, the ledger, its filters and the Python request columns held at once
    # came to several GB).
    requests = len(asks["row"])
    del asks, ledger, mine
    schema = work_schema()
    tables = []
    while parts:
        p = parts.pop(0)
        tables.append(pa.table({name: _array(p[name], schema.field(name).type) if name in p
                                else pa.nulls(len(p["row"]), schema.field(name).type)
                                for name in schema.names}, schema=schema))
        del p
    table = pa.concat_tables(tables)
    del tables
    table = table.sort_by([("key", "ascending"), ("customer", "ascending"), ("kind", "ascending"),
                           ("row", "ascending")])
    return Prepared(table, requests, len(coupled))


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

    def add(self, contact: Contact, owner: str | None) -> None:
        us = clock.micros(contact.at)
        for rule in self.rules:
            if rule.match.matches(contact.purpose, contact.channel, contact.team, owner):
                times, contacts = self.by_rule[rule.name]
                at = bisect_right(times, us)
                times.insert(at, us)
                contacts.insert(at, contact)

    def remove(self, contact: Contact) -> None:
        us = clock.micros(contact.at)
        for times, contacts in self.by_rule.values():
            for k in range(bisect_left(times, us), bisect_right(times, us)):
                if contacts[k] == contact:
                    del times[k]
                    del contacts[k]
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


def _history(columns: dict[str, list[Any]], positions: list[int], customer: str) -> History:
    """A customer's ledger index straight from its work rows (validated when prepared)."""
    contacts = [k for k in positions if columns["event"][k] is None]
    events: dict[str, list[int]] = {}
    for k in positions:
        name = columns["event"][k]
        if name is not None:
            events.setdefault(name, []).append(columns["at_us"][k])
    fields = {name: [columns[name][k] for k in contacts]
              for name in ("channel", "purpose", "team", "status", "outcome", "campaign", "id")}
    fields["customer"] = [customer] * len(contacts)
    return History.from_columns(fields, [columns["at_us"][k] for k in contacts], events)


@attrs.define
class Pending:
    """One customer's cycle in a group: its record, requests and where its answers go."""

    customer: str
    values: Customer
    cycle: Cycle
    rows: list[int]
    ids: list[str]
    step: int = 0


def _pending(policy: Policy, columns: dict[str, list[Any]], customer: str, positions: list[int]) -> Pending:
    kinds = columns["kind"]
    record = next(columns["record"][k] for k in positions if kinds[k] == CUSTOMER)
    customer_record = customer_from_json(policy, orjson.loads(record), where("<customers>"))
    history = _history(columns, [k for k in positions if kinds[k] == LEDGER], customer)
    mine = [k for k in positions if kinds[k] == REQUEST]
    requests = [
        Request(columns["team"][k], columns["channel"][k], columns["purpose"][k], clock.instant(columns["at_us"][k]),
                columns["campaign"][k], columns["priority"][k] or 0)
        for k in mine
    ]
    ids = [columns["id"][k] for k in mine]
    cycle = Cycle(policy, customer_record, requests, history, grant_ids=ids)
    return Pending(customer, customer_record, cycle, [columns["row"][k] for k in mine], ids)


Answer = dict[str, Any]


def answer(pending: Pending, index: int, decision: Decision, explain: bool) -> Answer:
    """One output row."""
    out: Answer = {
        "row": pending.rows[index],
        "id": pending.ids[index],
        "customer": pending.customer,
        "team": decision.request.team,
        "allowed": decision.allowed,
        "denied_by": list(decision.denied_by),
        "displaces": [c.id if c.id is not None else c.describe() for c in decision.displaces],
        "next_allowed_at": decision.next_allowed_at.isoformat() if decision.next_allowed_at else None,
    }
    if explain:
        out["trace"] = orjson.dumps([t.to_dict() for t in decision.trace]).decode()
    return out


def decide_group(policy: Policy, columns: dict[str, list[Any]], explain: bool = False) -> list[Answer]:
    """Decide the work rows of one or more groups (sorted by key, customer, kind, row)."""
    keys = columns["key"]
    answers: list[Answer] = []
    if CAPACITY_KEY in keys:
        at = keys.index(CAPACITY_KEY)
        end = len(keys) - keys[::-1].index(CAPACITY_KEY)
        coupled = {name: values[at:end] for name, values in columns.items()}
        rest = {name: values[:at] + values[end:] for name, values in columns.items()}
        answers.extend(_decide_coupled(policy, coupled, explain))
        columns = rest
    for customer, positions in _group_rows(columns):
        pending = _pending(policy, columns, customer, positions)
        for index in pending.cycle.order:
            answers.append(answer(pending, index, pending.cycle.decide(index, explain=explain), explain))
    return answers


def _decide_coupled(policy: Policy, columns: dict[str, list[Any]], explain: bool) -> list[Answer]:
    """The coupled group: the customers' cycles merged by time, capacity counted across them."""
    loads = BatchLoads(capacity_rules(policy))
    kinds = columns["kind"]
    cycles: list[Pending] = []
    for customer, positions in _group_rows(columns):
        if kinds[positions[0]] == LOAD:  # other customers' contacts, only counted
            for k in positions:
                loads.add(Contact(clock.instant(columns["at_us"][k]), columns["channel"][k], columns["purpose"][k],
                                  columns["team"][k], columns["status"][k], columns["outcome"][k],
                                  columns["campaign"][k], columns["id"][k], customer), columns["record"][k])
            continue
        pending = _pending(policy, columns, customer, [k for k in positions if kinds[k] != LOAD])
        owner = _owner(policy, pending.values.values)
        history = _history(columns, [k for k in positions if kinds[k] == LEDGER], customer)
        for contact in history.counted:
            loads.add(contact, owner)
        # the cycle's own index must hand out the very contacts the loads hold
        pending.cycle = Cycle(policy, pending.values, pending.cycle.requests, history, grant_ids=pending.ids)
        cycles.append(pending)
    heap: list[tuple[Any, ...]] = []

    def push(number: int) -> None:
        pending = cycles[number]
        if pending.step < len(pending.cycle.order):
            index = pending.cycle.order[pending.step]
            request = pending.cycle.requests[index]
            owner = _owner(policy, pending.values.values)
            heapq.heappush(heap, (clock.micros(request.at), policy.rank(request.team, owner), -request.priority,
                                  pending.customer, pending.rows[index], number))

    for number in range(len(cycles)):
        push(number)
    answers = []
    while heap:
        number = heapq.heappop(heap)[-1]
        pending = cycles[number]
        index = pending.cycle.order[pending.step]
        pending.step += 1
        decision = pending.cycle.decide(index, explain=explain, loads=loads)
        if decision.allowed:
            for contact in decision.displaces:
                loads.remove(contact)
            loads.add(grant(decision.request, pending.ids[index]), _owner(policy, pending.values.values))
        answers.append(answer(pending, index, decision, explain))
        push(number)
    return answers


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
    return answers_table(decide_group(_POLICY, columns, explain), explain)


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
            with context.Pool(workers) as pool:
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

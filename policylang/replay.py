"""Replay: the contacts a ledger records as sent, decided again under a policy.

Each sent contact becomes the request it was (team, channel, purpose, campaign, at its
instant) and is decided against the customer's ledger *before it*: the entries earlier in
time, and those at the same instant earlier in the file, with the statuses the ledger
gives them (a planned or displaced contact is what the ledger says it was). Nothing a
replay decides changes the ledger, so customers are independent and run in parallel;
``capacity`` rules count every customer's contacts before the replayed one
(:class:`PrefixLoads`, built once and shared by the forked workers).

With an old policy (``--against``) each contact is decided under both, and the contacts
whose ``allowed`` or ``denied_by`` differ are the impact of the change.
"""

from __future__ import annotations

import datetime as dt
import html
import os
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs

from policylang import clock
from policylang.batch import (
    LEDGER_COLUMNS,
    Problems,
    Scattered,
    Spill,
    _ledger_parts,
    _on_processes,
    capacity_rules,
    chunks,
    few_collections,
    few_collections_for_good,
    history_span,
    ledger_batches,
    ledger_schema,
    read_customers,
    read_spill,
    record_customer,
    records_memo,
    spill_by_rows,
)
from policylang.evaluator import decide
from policylang.history import History
from policylang.records import COUNTED_STATUSES, Contact, Customer, Request
from policylang.rules import CapRule, Policy


def _sorted(found: list[tuple[tuple[int, int], Contact]]) -> tuple[list[tuple[int, int]], list[int], list[Contact]]:
    found.sort(key=lambda pair: pair[0])
    return [p for p, _ in found], [p[0] for p, _ in found], [c for _, c in found]


_SEP = "\x1f"  # joins a contact's shape into one text (names hold no control character)


def _maybe_governed(counted: Any, rules: list[CapRule], owners: dict[str, str | None]) -> Any:
    """The rows of ``counted`` (ledger contacts) that some capacity rule may count for
    some owner: the others, whose (purpose, channel, team) no rule matches whatever the
    customer's owner (any owner of ``owners``, or none), are dropped before the loop per
    row of :meth:`PrefixLoads.add`, which would skip them. Tested once per distinct
    shape (an Arrow dictionary), not per row: the loop over every counted contact, in
    Python, was about half of reading a ledger for replay."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(counted):
        return counted
    possible: list[str | None] = [*sorted(owner for owner in set(owners.values()) if owner is not None), None]
    shape = pc.binary_join_element_wise(counted.column("purpose"), counted.column("channel"),
                                        counted.column("team"), _SEP)
    shape = (shape.combine_chunks() if isinstance(shape, pa.ChunkedArray) else shape).dictionary_encode()
    verdicts = []
    for value in shape.dictionary.to_pylist():
        purpose, channel, team = value.split(_SEP)
        verdicts.append(any(rule.match.matches(purpose, channel, team, owner) for rule in rules for owner in possible))
    # a row without a shape (no such contact is valid) is kept, for the loop to decide
    keep = pc.fill_null(pc.take(pa.array(verdicts, pa.bool_()), shape.indices), True)
    return counted.filter(keep)


class PrefixLoads:
    """Every customer's counted contacts matching each capacity rule, each with its place
    in the ledger; counts only those before :attr:`cutoff` (the replayed contact's place)."""

    def __init__(self, policy: Policy, owners: dict[str, str | None]) -> None:
        self.cutoff: tuple[int, int] = (0, 0)
        self.by_rule: dict[str, tuple[list[tuple[int, int]], list[int], list[Contact]]] = {}
        rules = capacity_rules(policy)
        # while filling (:meth:`add`, then :meth:`settle`): the rules, each shape's verdicts,
        # what each rule counts so far, and the owners; dropped when settled (the counts
        # alone are what Spark broadcasts)
        self._filling: tuple[list[CapRule], dict[Any, list[bool]], dict[str, list[Any]],
                             dict[str, str | None]] | None = (rules, {}, {rule.name: [] for rule in rules}, owners)

    def add(self, ledger: Any) -> None:
        """Take in the counted contacts of ``ledger`` (validated rows, as an Arrow table or
        record batch of :data:`policylang.batch.LEDGER_COLUMNS`, in any order)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        assert self._filling is not None, "add after settle"
        rules, shapes, found, owners = self._filling
        counted = ledger.filter(pc.and_(pc.is_null(ledger.column("event")),
                                        pc.is_in(ledger.column("status"), value_set=pa.array(sorted(COUNTED_STATUSES)))))
        counted = _maybe_governed(counted, rules, owners)
        for batch in pa.Table.from_batches([counted] if isinstance(counted, pa.RecordBatch)
                                           else counted.to_batches()).to_batches(100_000):
            led = batch.to_pydict()
            for k, customer in enumerate(led["customer"]):
                owner = owners.get(customer)
                shape = (led["purpose"][k], led["channel"][k], led["team"][k], owner)
                verdicts = shapes.get(shape)
                if verdicts is None:
                    verdicts = shapes[shape] = [rule.match.matches(*shape) for rule in rules]
                if not any(verdicts):
                    continue
                contact = Contact(clock.instant(led["at_us"][k]), led["channel"][k], led["purpose"][k], led["team"][k],
                                  led["status"][k], led["outcome"][k], led["campaign"][k], led["id"][k], customer)
                for rule, verdict in zip(rules, verdicts, strict=True):
                    # a sent contact whose outcome the rule leaves out (11.3) is not counted
                    # by it: the evaluator reads this window as it is
                    if verdict and not rule.leaves_out(contact.status, contact.outcome):
                        found[rule.name].append(((led["at_us"][k], led["row"][k]), contact))

    def settle(self) -> PrefixLoads:
        """Sort what :meth:`add` took in by place; the counts are then ready (returns self)."""
        assert self._filling is not None
        rules, _, found, _ = self._filling
        for rule in rules:
            self.by_rule[rule.name] = _sorted(found[rule.name])
        self._filling = None
        return self

    def contacts(self, rule: CapRule, start: dt.datetime, end: dt.datetime) -> list[Contact]:
        _, contacts, i, j = self.window(rule, clock.micros(start), clock.micros(end))
        return contacts[i:j]

    def window(self, rule: CapRule, lo: int, hi: int) -> tuple[list[int], list[Contact], int, int]:
        """The sorted counts of ``rule``, and the index range of those in ``[lo, hi)`` that
        precede the cutoff (see ``evaluator.Loads``)."""
        places, times, contacts = self.by_rule.get(rule.name, ([], [], []))
        i = bisect_left(times, lo)
        j = min(bisect_left(times, hi), bisect_left(places, self.cutoff))
        return times, contacts, i, max(i, j)


@attrs.define
class ReplayJob:
    """What the workers share (inherited by fork): policies, the ledger spilled by bucket, loads."""

    new: Policy
    old: Policy | None
    ledger: SpilledLedger | None  # None on Spark's executors, which are given their rows
    records: dict[str, str]
    start_us: int | None
    end_us: int | None
    loads_new: PrefixLoads | None
    loads_old: PrefixLoads | None


_JOB: ReplayJob | None = None


def _customer(policy: Policy, record: str | None, ident: str) -> Customer:
    """Customer ``ident`` of ``policy`` from its record (the customer's row without its id,
    :func:`batch.customer_rows`), decoded once per distinct record text
    (:func:`batch.records_memo`)."""
    if record is None:
        return Customer(ident, {})
    return record_customer(policy, record, records_memo(policy), ident)


def _verdict(policy: Policy, customer: Customer, request: Request, history: History, loads: PrefixLoads | None,
             cutoff: tuple[int, int]) -> Any:
    if loads is not None:
        loads.cutoff = cutoff
    return decide(policy, customer, request, history, explain=False, loads=loads)


REPLAY_NAMES = ("row", "customer", "at", "week", "team", "channel", "purpose", "allowed", "denied_by",
                "next_allowed_at")
OLD_NAMES = ("old_allowed", "old_denied_by")


def replay_names(against: bool) -> list[str]:
    """The columns of a replayed contact (with the old policy's verdict when ``against``)."""
    return [*REPLAY_NAMES, *(OLD_NAMES if against else ())]


def replay_schema(against: bool) -> Any:
    """The output's Arrow schema."""
    import pyarrow as pa

    types = {"row": pa.int64(), "allowed": pa.bool_(), "old_allowed": pa.bool_(),
             "denied_by": pa.list_(pa.string()), "old_denied_by": pa.list_(pa.string())}
    return pa.schema([(name, types.get(name, pa.string())) for name in replay_names(against)])


def replay_columns(job: ReplayJob, led: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Decide the sent contacts among ledger rows given as columns (whole customers, sorted
    by customer, instant, row): the function both engines run (worker processes here,
    Spark executors in :func:`policylang.spark.run_replay`). The replayed contacts come as
    columns (:func:`replay_names`), in the order of ``led``."""
    out: dict[str, list[Any]] = {name: [] for name in replay_names(job.old is not None)}
    rows, customers, ats, weeks, teams, channels, purposes, allowed, denied, nexts = (
        out[name] for name in REPLAY_NAMES)
    end = len(led["row"])
    events, statuses, micros = led["event"], led["status"], led["at_us"]
    k = 0
    while k < end:
        customer = led["customer"][k]
        stop = k
        while stop < end and led["customer"][stop] == customer:
            stop += 1
        record = job.records.get(customer)
        new_customer = _customer(job.new, record, customer)
        old_customer = _customer(job.old, record, customer) if job.old is not None else None
        zone = clock.zone(_zone(job.new, new_customer))
        for i in range(k, stop):
            us = micros[i]
            if events[i] is not None or statuses[i] != "sent":
                continue
            if (job.start_us is not None and us < job.start_us) or (job.end_us is not None and us >= job.end_us):
                continue
            history = _prefix(led, k, i, customer)
            at = clock.instant(us)
            request = Request(led["team"][i], led["channel"][i], led["purpose"][i], at, led["campaign"][i])
            cutoff = (us, led["row"][i])
            now = _verdict(job.new, new_customer, request, history, job.loads_new, cutoff)
            rows.append(led["row"][i])
            customers.append(customer)
            ats.append(at.isoformat())
            weeks.append("{}-W{:02d}".format(*clock.local(us, zone).isocalendar()[:2]))
            teams.append(request.team)
            channels.append(request.channel)
            purposes.append(request.purpose)
            allowed.append(now.allowed)
            denied.append(list(now.denied_by))
            nexts.append(now.next_allowed_at.isoformat() if now.next_allowed_at else None)
            if job.old is not None and old_customer is not None:
                then = _verdict(job.old, old_customer, request, history, job.loads_old, cutoff)
                out["old_allowed"].append(then.allowed)
                out["old_denied_by"].append(list(then.denied_by))
        k = stop
    return out


def _zone(policy: Policy, customer: Customer) -> str:
    from policylang.evaluator import customer_zone

    return customer_zone(policy, customer.values) or "UTC"


def _prefix(led: dict[str, list[Any]], first: int, upto: int, customer: str) -> History:
    """The customer's ledger before row ``upto`` (rows ``first`` to ``upto`` are that customer's,
    in time order, ties in file order): slices of the columns (:func:`batch.history_span`),
    not a look-up per row and field."""
    return history_span(led, first, upto, customer)


BUCKET_ROWS = 100_000  # ledger rows per bucket (about): what a worker holds at a time


@attrs.define
class SpilledLedger:
    """A validated ledger as Arrow files, a file per bucket (a hash of the customer, so a
    bucket holds whole customers), in a temporary folder removed with this object."""

    parts: Scattered
    folder: Any  # the tempfile.TemporaryDirectory the files are in
    num_rows: int
    last_row: int

    def bucket(self, number: int) -> Any:
        """Bucket ``number``'s rows (from every part the ledger was read in), sorted by
        customer, instant and row."""
        return _by_customer(self.parts.read_ledger(number))

    def table(self) -> Any:
        """Every row, sorted by customer, instant and row (Spark's driver sends them all)."""
        import pyarrow as pa

        return _by_customer(pa.concat_tables([self.parts.read_ledger(b) for b in range(self.parts.buckets)]))


def _by_customer(table: Any) -> Any:
    return table.sort_by([("customer", "ascending"), ("at_us", "ascending"), ("row", "ascending")])


def _bucket_count(path: str) -> int:
    """Buckets for a ledger file of about :data:`BUCKET_ROWS` rows each (the rows counted
    from a Parquet file's footer, estimated from the size of any other: about 100 bytes a
    JSON Lines or CSV row). Only the memory a worker holds depends on it, not the answers."""
    from policylang.tables import file_format

    try:
        if file_format(path) == "parquet":
            import pyarrow.parquet as pq

            rows = pq.ParquetFile(path).metadata.num_rows
        else:
            rows = os.path.getsize(path) // 100
    except (OSError, ValueError):  # the reader reports what is wrong with the file
        return 1
    return max(1, -(-int(rows) // BUCKET_ROWS))


def _counted_candidates(ledger: Any, rules: list[CapRule], owners: dict[str, str | None]) -> Any:
    """The rows of ``ledger`` (validated, Arrow) that some capacity rule of ``rules`` may
    count: counted contacts of a shape some rule takes for some owner (what
    :meth:`PrefixLoads.add` keeps of them is the same as of the whole ledger)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    counted = ledger.filter(pc.and_(pc.is_null(ledger.column("event")),
                                    pc.is_in(ledger.column("status"), value_set=pa.array(sorted(COUNTED_STATUSES)))))
    return _maybe_governed(counted, rules, owners)


def _read_part(path: str, part: tuple[int, int, int] | None, parts: Scattered, number: int,
               rules: list[CapRule], owners: dict[str, str | None]) -> tuple[list[Any], int, int, Any]:
    """Validate one part of the ledger (a byte range: :func:`policylang.batch._ledger_parts`)
    on a forked process and spill it (:func:`_spill_part`); its bad rows, then what
    :func:`_spill_part` gives."""
    from policylang import batch

    assert batch._POLICY is not None  # noqa: SLF001 - set by _on_processes for its tasks
    problems = Problems()
    rows, last, candidates = _spill_part(batch._POLICY, path, part, parts, number, problems, rules, owners)  # noqa: SLF001
    return problems.rows, rows, last, candidates


def _spill_part(policy: Policy, path: str, part: tuple[int, int, int] | None, parts: Scattered, number: int,
                problems: Problems, rules: list[CapRule], owners: dict[str, str | None]) -> tuple[int, int, Any]:
    """Validate the ledger's byte range ``part`` (None: the whole file) into ``problems`` and
    spill its rows by bucket (to ``ledger{number}-{bucket}``): how many rows it held, its
    largest row number, and its rows that ``rules`` (both policies' capacity rules) may
    count, as one Arrow table (for :meth:`PrefixLoads.add`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    spill = Spill(parts, f"ledger{number}", ledger_schema())
    rows = last = 0
    candidates = []
    try:
        for chunk in ledger_batches(policy, path, problems, part):
            if problems or not chunk.num_rows:  # nothing is decided: the rest is read only for its bad rows
                continue
            spill.write(chunk, "customer")
            rows += chunk.num_rows
            last = max(last, pc.max(chunk.column("row")).as_py())
            if rules:
                candidates.append(_counted_candidates(chunk, rules, owners))
    finally:
        spill.close()
    found = pa.Table.from_batches(candidates, schema=ledger_schema()) if candidates else ledger_schema().empty_table()
    return rows, last, found


def prepare_replay(new: Policy, old: Policy | None, ledger_path: str, customers_path: str | None,
                   start: dt.date | None, end: dt.date | None, problems: Problems, *,
                   workers: int | None = None) -> ReplayJob | None:
    """Read and validate the files and build what every engine shares: the ledger spilled
    by bucket (:class:`SpilledLedger`), the customers' records, and the capacity counts
    (None when there are bad rows, which go to ``problems``).

    The ledger is read a chunk at a time and each chunk appended to its buckets' files
    and taken into the counts, so this process never holds the whole ledger (as one Arrow
    table it held about 1 GB at ten million rows). A JSON Lines ledger of
    :data:`policylang.batch.PART_BYTES` or more is read in parts, on ``workers`` forked
    processes (default: every core), as batch reads it: each validates and spills its
    byte range and hands back the rows a capacity rule may count (a few percent), which
    this process takes into the counts. Why: read here alone, about 5 s of CPU per
    million rows kept every other core idle before the first decision."""
    import tempfile

    customers = read_customers(new, customers_path, problems) if customers_path else {}
    owners = {ident: found[2] for ident, found in customers.items()}
    records = {ident: found[1] for ident, found in customers.items()}
    del customers
    loads_new = PrefixLoads(new, owners) if capacity_rules(new) else None
    loads_old = PrefixLoads(old, owners) if old is not None and capacity_rules(old) else None
    folder = tempfile.TemporaryDirectory(prefix="policylang-replay-ledger-")
    parts = Scattered(folder.name, _bucket_count(ledger_path), 0, 0)
    rows = last = 0
    pieces = _ledger_parts(ledger_path, workers)
    rules = [*capacity_rules(new), *(capacity_rules(old) if old is not None else [])]
    parts.ledger_parts = len(pieces)
    try:
        if len(pieces) > 1:
            results = _on_processes(new, _read_part, [(ledger_path, piece, parts, k, rules, owners)
                                                      for k, piece in enumerate(pieces)])
        else:  # one part, read here (its bad rows go straight into problems)
            results = [([], *_spill_part(new, ledger_path, None, parts, 0, problems, rules, owners))]
    except BaseException:
        folder.cleanup()
        raise
    for bad, count, largest, candidates in results:  # the parts in file order: bad rows in row order
        problems.rows.extend(bad)
        rows += count
        last = max(last, largest)
        for loads in (loads_new, loads_old):
            if loads is not None and candidates.num_rows:
                loads.add(candidates)
    del results
    if problems:
        folder.cleanup()
        return None
    day = 86_400_000_000
    return ReplayJob(
        new, old, SpilledLedger(parts, folder, rows, last), records,
        clock.micros(dt.datetime(start.year, start.month, start.day, tzinfo=dt.timezone.utc)) if start else None,
        clock.micros(dt.datetime(end.year, end.month, end.day, tzinfo=dt.timezone.utc)) + day if end else None,
        loads_new.settle() if loads_new is not None else None, loads_old.settle() if loads_old is not None else None,
    )


def replay(new: Policy, old: Policy | None, ledger_path: str, customers_path: str | None,
           start: dt.date | None, end: dt.date | None, problems: Problems, *, workers: int | None = None,
           progress: Callable[[int], None] | None = None) -> Any:
    """Every sent contact in ``[start, end]`` (UTC dates, inclusive) decided again on the
    local engine, as an Arrow table in ledger row order. Bad rows go to ``problems``
    (nothing is decided when there are any: the table is then empty)."""
    job = prepare_replay(new, old, ledger_path, customers_path, start, end, problems, workers=workers)
    if job is None:
        return replay_schema(old is not None).empty_table()
    return run_local(job, workers=workers, progress=progress)


def run_local(job: ReplayJob, *, workers: int | None = None,
              progress: Callable[[int], None] | None = None) -> Any:
    """The local engine, every replayed contact as one Arrow table in ledger row order
    (for tests, and what :func:`policylang.spark.run_replay` is compared with); the
    command streams instead (:func:`run_to_file`)."""
    import tempfile

    import pyarrow as pa

    with tempfile.TemporaryDirectory(prefix="policylang-replay-") as folder:
        ranges = _spill_all(job, folder, workers, progress, ReplayTally(job.old is not None))
        pieces = [_range(job, folder, k) for k in range(ranges)]
    return pa.concat_tables(pieces) if pieces else replay_schema(job.old is not None).empty_table()


def run_to_file(job: ReplayJob, output: str, *, workers: int | None = None,
                progress: Callable[[int], None] | None = None) -> ReplayTally:
    """The local engine, streaming: chunks of whole customers on forked worker processes,
    each spilling its replayed contacts as Arrow by range of ledger rows; then each range
    is sorted and appended to ``output`` (with an old policy, only the contacts whose
    verdicts differ: :func:`differing`). Neither the workers nor this process hold every
    output row (a dict per row held ten million rows in about 10 GB). Returns the
    summary's counts."""
    import tempfile

    from policylang.tables import TableWriter

    against = job.old is not None
    tally = ReplayTally(against)
    with tempfile.TemporaryDirectory(prefix="policylang-replay-") as folder:
        ranges = _spill_all(job, folder, workers, progress, tally)
        with TableWriter(output, replay_schema(against)) as out:
            for k in range(ranges):
                table = _range(job, folder, k)
                if against:
                    table = differing(table)
                tally.written += table.num_rows
                out.write(table)
    return tally


def differing(table: Any) -> Any:
    """The rows of ``table`` whose two verdicts differ (``next_allowed_at`` alone does not count).

    Compared in Arrow, a column at a time (a ``null`` equal only to ``null``, lists equal
    when of the same length with equal elements in order). Why: the rows made into Python
    lists and compared one by one cost about 3.4 µs a replayed contact, in the parent after
    the workers have finished (so on the run's wall time, a whole core idle)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not table.num_rows:
        return table
    keep = pc.or_(_differ(table.column("allowed"), table.column("old_allowed")),
                  _lists_differ(table.column("denied_by"), table.column("old_denied_by")))
    return table.filter(pa.chunked_array([keep]) if isinstance(keep, pa.Array) else keep)


def _differ(a: Any, b: Any) -> Any:
    """Per row, whether ``a`` and ``b`` differ (a ``null`` differs from all but ``null``)."""
    import pyarrow.compute as pc

    return pc.fill_null(pc.not_equal(a, b), pc.xor(pc.is_null(a), pc.is_null(b)))


def _lists_differ(a: Any, b: Any) -> Any:
    """Per row, whether the lists ``a`` and ``b`` differ: in length (or one ``null``), or,
    for the rows of equal length, in any element (their flattened elements then line up)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    a, b = _one_chunk(a), _one_chunk(b)
    lengths_a, lengths_b = pc.list_value_length(a), pc.list_value_length(b)
    differ = _differ(lengths_a, lengths_b).to_numpy(zero_copy_only=False).copy()
    alike = pc.fill_null(pc.equal(lengths_a, lengths_b), False)
    rows = np.flatnonzero(alike.to_numpy(zero_copy_only=False))
    if len(rows):
        same_a, same_b = a.filter(alike), b.filter(alike)
        elements = _differ(pc.list_flatten(same_a), pc.list_flatten(same_b))
        parents = pc.list_parent_indices(same_a).filter(elements).to_numpy()
        differ[rows[parents]] = True
    return pa.array(differ, pa.bool_())


def _one_chunk(column: Any) -> Any:
    import pyarrow as pa

    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


RANGE_ROWS = 1_000_000  # ledger rows per range of the output: what the final merge holds at a time
SPAN_ROWS = 100_000  # ledger rows made into Python objects at a time (whole customers)
_FOLDER: str | None = None


def _spill_all(job: ReplayJob, folder: str, workers: int | None, progress: Callable[[int], None] | None,
               tally: ReplayTally) -> int:
    """Replay every bucket of the ledger on ``workers`` forked processes, each spilled to
    ``folder`` (see :func:`_spill_bucket`), their counts merged into ``tally``; the number
    of ranges."""
    global _JOB, _FOLDER
    import multiprocessing

    assert job.ledger is not None
    if not job.ledger.num_rows:
        return 0
    tasks = list(range(job.ledger.parts.buckets))
    _JOB, _FOLDER = job, folder
    try:
        workers = workers or os.cpu_count() or 1
        if workers == 1 or len(tasks) <= 1:
            for part, count in map(_spill_bucket, tasks):
                tally.merge(part)
                if progress:
                    progress(count)
        else:
            with multiprocessing.get_context("fork").Pool(workers, initializer=few_collections_for_good) as pool:
                for part, count in pool.imap_unordered(_spill_bucket, tasks):
                    tally.merge(part)
                    if progress:
                        progress(count)
    finally:
        _JOB, _FOLDER = None, None
    return job.ledger.last_row // RANGE_ROWS + 1


def _spill_bucket(bucket: int) -> tuple[ReplayTally, int]:
    """Replay one bucket of the ledger, a span of about :data:`SPAN_ROWS` rows of whole
    customers at a time, and spill its contacts, sorted by row, a file per range of ledger
    rows (``{bucket}-{range}.arrow``); its share of the summary's counts, and how many
    ledger rows it held."""
    import pyarrow as pa

    job, folder = _JOB, _FOLDER
    assert job is not None and job.ledger is not None and folder is not None
    ledger = job.ledger.bucket(bucket)
    against = job.old is not None
    tally = ReplayTally(against)
    schema = replay_schema(against)
    pieces = []
    for start, end in chunks(ledger, SPAN_ROWS, "customer"):
        part = ledger.slice(start, end - start)
        with few_collections():
            columns = replay_columns(job, {name: part.column(name).to_pylist() for name in LEDGER_COLUMNS})
        tally.add(columns)
        pieces.append(pa.table({name: pa.array(columns[name], schema.field(name).type) for name in schema.names},
                               schema=schema))
        del columns
    table = pa.concat_tables(pieces).sort_by("row") if pieces else schema.empty_table()
    del pieces
    spill_by_rows(table, RANGE_ROWS, lambda k: os.path.join(folder, f"{bucket}-{k}.arrow"))
    return tally, ledger.num_rows


def _range(job: ReplayJob, folder: str, k: int) -> Any:
    """The replayed contacts of range ``k`` of ledger rows, every span's, sorted by row."""
    import pyarrow as pa

    schema = replay_schema(job.old is not None)
    pieces = []
    for name in os.listdir(folder):
        if name.endswith(f"-{k}.arrow"):
            path = os.path.join(folder, name)
            pieces.append(read_spill(path, schema))
            os.unlink(path)
    return pa.concat_tables(pieces).sort_by("row") if pieces else schema.empty_table()


class ReplayTally:
    """The summary's and the chart's counts, taken a block of replayed contacts at a time:
    how many were replayed, denied and written, the weeks, and the denials per rule by
    team, channel and week (under both policies with ``against``)."""

    BY = ("team", "channel", "week")

    def __init__(self, against: bool) -> None:
        self.against = against
        self.contacts = 0
        self.denied = 0
        self.written = 0
        self.weeks: set[str] = set()
        fields = ("denied_by", "old_denied_by") if against else ("denied_by",)
        self.counts: dict[tuple[str, str], Counter[tuple[str, str]]] = {
            (field, by): Counter() for field in fields for by in self.BY}

    def add(self, columns: dict[str, list[Any]]) -> None:
        """Count replayed contacts given as columns (:func:`replay_names`)."""
        self.contacts += len(columns["row"])
        self.denied += columns["allowed"].count(False)
        self.weeks.update(columns["week"])
        for (field, by), counts in self.counts.items():
            for rules, value in zip(columns[field], columns[by], strict=True):
                for rule in rules:
                    counts[(rule, value)] += 1

    def merge(self, other: ReplayTally) -> None:
        self.contacts += other.contacts
        self.denied += other.denied
        self.written += other.written
        self.weeks |= other.weeks
        for key, counts in other.counts.items():
            self.counts[key].update(counts)

    def denials(self, by: str, field: str = "denied_by") -> Counter[tuple[str, str]]:
        """(rule, value of ``by``) -> number of contacts that rule denies."""
        return self.counts.get((field, by), Counter())



# ---- reports -------------------------------------------------------------------------------


def chart_html(tally: ReplayTally, title: str, against: bool) -> str:
    """A self-contained HTML page: for each rule, its denials per week as bars (old policy
    beside new when ``against``), drawn as inline SVG (no script, no network)."""
    weeks = sorted(tally.weeks)
    new = tally.denials("week")
    old = tally.denials("week", "old_denied_by") if against else Counter()
    rules = sorted({rule for rule, _ in new} | {rule for rule, _ in old})
    peak = max([*new.values(), *old.values(), 1])
    parts = [f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}h2{font-size:1.1em;margin:1.5em 0 .3em}"
             ".new{fill:#c0392b}.old{fill:#95a5a6}text{font-size:11px}</style>",
             f"<h1>{html.escape(title)}</h1>",
             "<p>Contacts the ledger records as sent that the policy would have denied, per rule and week "
             "(in each customer's time zone)."
             + (" <svg width=12 height=12><rect class=old width=12 height=12 /></svg> old policy "
                "<svg width=12 height=12><rect class=new width=12 height=12 /></svg> new policy" if against else "")
             + "</p>"]
    bar = 14 if against else 24
    step = bar * (2 if against else 1) + 10
    for rule in rules:
        width = 60 + step * len(weeks)
        parts.append(f"<h2>{html.escape(rule)}: {sum(new[(rule, w)] for w in weeks):,} denied"
                     + (f" (old policy: {sum(old[(rule, w)] for w in weeks):,})" if against else "") + "</h2>")
        parts.append(f'<svg width="{width}" height="170" role="img">')
        for n, week in enumerate(weeks):
            x = 50 + n * step
            series = [("old", old[(rule, week)]), ("new", new[(rule, week)])] if against else [("new", new[(rule, week)])]
            for m, (kind, count) in enumerate(series):
                height = round(120 * count / peak)
                parts.append(f'<rect class="{kind}" x="{x + m * bar}" y="{130 - height}" width="{bar - 2}" '
                             f'height="{height}"><title>{html.escape(week)} {kind}: {count}</title></rect>')
            parts.append(f'<text x="{x}" y="145" transform="rotate(30 {x} 145)">{html.escape(week)}</text>')
        parts.append(f'<text x="0" y="12">{peak}</text><text x="0" y="130">0</text></svg>')
    if not rules:
        parts.append("<p>No contact would have been denied.</p>")
    return "\n".join(parts) + "\n"

"""Rows in and out of files: JSON Lines, CSV and Parquet, chosen by the file's extension.

Every format is read as a stream of plain rows (dicts with the field names of the JSON
contract, section 10), each with its row number (a JSONL line, a CSV line after the
header, a Parquet row counted from 1), so one validating path serves them all and every
error names the file, the row and the field. Parquet and CSV go through pyarrow (read in
record batches, so a large file is never all Python objects at once); JSON Lines is split
into lines and parsed by orjson, the fast path's parser. Instants may be RFC 3339 texts or,
in Parquet, timestamp columns with a zone (a timestamp without a zone names no instant and
is refused like a text without an offset).

Outputs are written to a temporary file beside the destination and renamed over it only
when complete, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from policylang.errors import InputError
from policylang.source import Span

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
BATCH_ROWS = 65_536
Row = dict[str, Any]


def file_format(path: str) -> str:
    """``jsonl``, ``csv`` or ``parquet`` from the extension; InputError for any other."""
    kind = FORMATS.get(Path(path).suffix.lower())
    if kind is None:
        raise InputError(f"{path}: unknown file type `{Path(path).suffix or '(none)'}`",
                         Span.point(path, 1, 1), hint="use .jsonl, .csv or .parquet")
    return kind


def row_span(file: str, row: int, width: int = 1) -> Span:
    """The location of a row: a line for JSONL and CSV, a row number for Parquet."""
    return Span(file, row, 1, row, 1 + width)


def jsonl_parts(path: str, parts: int) -> list[tuple[int, int, int]]:
    """``path`` (JSON Lines) cut into about ``parts`` byte ranges that end at a line's end,
    as (start, end, number of the range's first line), so that each can be read on its own
    (:func:`read_rows` with ``part``) and still number its rows as the whole file does."""
    size = os.path.getsize(path)
    cuts = [0]
    with open(path, "rb") as handle:
        for k in range(1, parts):
            handle.seek(max(cuts[-1], size * k // parts))
            handle.readline()  # to the end of the line the cut fell in
            cuts.append(handle.tell())
        cuts.append(size)
        out, line, at = [], 1, 0
        for start, end in zip(cuts, cuts[1:], strict=False):
            if end <= start:
                continue
            handle.seek(at)
            while at < start:  # the lines before this range, counted a block at a time
                block = handle.read(min(1 << 24, start - at))
                line += block.count(b"\n")
                at += len(block)
            out.append((start, end, line))
    return out


def read_rows(path: str, *, kinds: Mapping[str, str] | None = None,
              part: tuple[int, int, int] | None = None) -> Iterator[tuple[int, Row | InputError]]:
    """(row number, row) for every row of ``path``; a row that cannot even be parsed comes
    as its :class:`InputError` (reading goes on, so every bad row can be reported).

    ``kinds`` gives the customer attributes' kinds, so that CSV cells (texts) can be typed:
    a ``set`` cell holds a JSON list (``["sms","phone"]``) or ``;``-separated names, a
    ``flag`` cell ``true`` or ``false``, a ``number`` cell a number; an empty cell is absent.
    """
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file", Span.point(path, 1, 1))
    kind = file_format(path)
    if kind == "jsonl":
        return _jsonl_rows(path, *(part or (0, None, 1)))
    assert part is None, "only JSON Lines is read in parts"
    if kind == "csv":
        return _csv_rows(path, dict(kinds or {}))
    return _parquet_rows(path)


def _jsonl_rows(path: str, start: int = 0, end: int | None = None,
                first: int = 1) -> Iterator[tuple[int, Row | InputError]]:
    with open(path, "rb") as handle:
        handle.seek(start)
        lines: Iterable[bytes] = handle if end is None else _up_to(handle, end - start)
        for number, line in enumerate(lines, start=first):
            found = jsonl_row(path, number, line)
            if found is not None:
                yield number, found


def jsonl_row(path: str, number: int, line: bytes) -> Row | InputError | None:
    """Line ``number`` of a JSON Lines file: its object, the problem with it, or ``None``
    for a blank line."""
    if not line.strip():
        return None
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return InputError(f"invalid JSON on this line: {exc}", row_span(path, number))
    if type(obj) is not dict:
        return InputError("each line must be a JSON object", row_span(path, number))
    if b"\\" in line or line.count(b'"') != 2 * string_tokens(obj):
        twice = duplicate_key(line)
        if twice is not None:
            return InputError(twice, row_span(path, number))
    return obj


def string_tokens(value: object) -> int:
    """The string tokens of a parsed JSON value: its keys and string values, at any depth.
    Without backslash escapes a JSON text holds exactly twice as many ``"``; fewer tokens
    than that means a key given twice in one object (orjson and msgspec keep the last)."""
    kind = type(value)
    if kind is str:
        return 1
    if kind is dict:
        assert isinstance(value, dict)
        return len(value) + sum(map(string_tokens, value.values()))
    if kind is list:
        assert isinstance(value, list)
        return sum(map(string_tokens, value))
    return 0


def duplicate_key(line: bytes) -> str | None:
    """The message for a key given twice in one object of ``line`` (a JSON text orjson
    accepted), as the strict parser of the JSON contract finds it; ``None`` if there is none."""
    from policylang.inputs import duplicate_key as twice_in

    try:
        key = twice_in(line.decode("utf-8"))
    except UnicodeDecodeError:  # pragma: no cover - orjson accepted it: UTF-8
        return None
    if key is None:
        return None
    return f"field `{key}` is given twice in one object (the JSON contract forbids duplicate keys)"


def block_vouched(lines: list[bytes], rows: list[Any]) -> bool:
    """Whether a block of JSON Lines ``lines``, parsed by orjson into ``rows`` (objects),
    provably has no key given twice: no backslash escape, and as many ``"`` as orjson
    writes for the parsed rows (twice their keys and string values: without escapes in
    the text no string holds a ``"`` or a character orjson escapes). ``False`` sends the
    block to :func:`jsonl_row`, line by line, which finds the duplicate."""
    joined = b"".join(lines)
    return b"\\" not in joined and joined.count(b'"') == orjson.dumps(rows).count(b'"')


def jsonl_blocks(path: str, part: tuple[int, int, int] | None = None,
                 size: int = 50_000) -> Iterator[tuple[int, list[bytes]]]:
    """(number of the first line, the lines) of ``path`` (or of ``part``, a byte range with
    its first line's number: :func:`jsonl_parts`), ``size`` lines at a time, unparsed.

    Why: a reader that parses a block at once (``map(orjson.loads, lines)``) skips the
    per-row generator and tuple; a block holding a blank or bad line is read again
    line by line (:func:`jsonl_row`) for the problems."""
    from itertools import islice

    start, end, first = part or (0, None, 1)
    with open(path, "rb") as handle:
        handle.seek(start)
        lines: Iterator[bytes] = iter(handle if end is None else _up_to(handle, end - start))
        while block := list(islice(lines, size)):
            yield first, block
            first += len(block)


def _up_to(handle: Any, size: int) -> Iterator[bytes]:
    """The lines of ``handle`` from where it is, ``size`` bytes of them (ending at a line's end)."""
    for line in handle:
        yield line
        size -= len(line)
        if size <= 0:
            return


def csv_batches(path: str) -> Iterator[tuple[int, Any]]:
    """The CSV file's record batches (pyarrow), every column a text (an empty cell is null),
    each batch with the number of the last line before it (the header is line 1): the
    columns themselves, for readers that validate a column at a time. A file pyarrow cannot
    parse is an InputError naming the line after the last batch read."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        header = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 20)).schema.names
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 22),
            convert_options=pacsv.ConvertOptions(column_types={name: pa.string() for name in header},
                                                 strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a readable CSV file ({exc})", Span.point(path, 1, 1)) from None
    named_twice(path, header, "the header")
    number = 1  # the header is line 1
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise InputError(f"{path}: CSV after line {number}: {exc}", Span.point(path, number + 1, 1)) from None
        yield number, batch
        number += batch.num_rows


def named_twice(path: str, names: list[str], where: str) -> None:
    """An InputError (row 1, the field) when ``names`` (a CSV header's or a Parquet file's
    columns) holds a name twice. Why: a row made of such columns keeps one of the two
    values silently (as a JSON object given a key twice, which the contract forbids);
    nothing tells which one the file meant."""
    first: dict[str, int] = {}
    for column, name in enumerate(names, start=1):
        if name in first:
            raise InputError(f"{path}: row 1: field `{name}`: {where} names column `{name}` twice "
                             f"(columns {first[name]} and {column})", Span.point(path, 1, 1))
        first[name] = column


def _csv_rows(path: str, kinds: dict[str, str]) -> Iterator[tuple[int, Row | InputError]]:
    for number, batch in csv_batches(path):
        for row in batch.to_pylist():
            number += 1
            out: Row = {}
            for key, value in row.items():
                if value is None or value == "":
                    continue
                kind = kinds.get(key)
                if kind == "set":
                    value = _csv_set(value)
                elif kind == "flag":
                    value = {"true": True, "false": False}.get(value.strip().lower(), value)
                elif kind == "number":
                    value = _csv_number(value)
                elif key == "priority" and not kinds:
                    value = _csv_int(value)
                out[key] = value
            yield number, out


def _csv_set(cell: str) -> object:
    if cell.startswith("["):
        try:
            return orjson.loads(cell)
        except orjson.JSONDecodeError:
            return cell
    return [part.strip() for part in cell.split(";") if part.strip()]


def _csv_number(cell: str) -> object:
    try:
        return float(cell)
    except ValueError:
        return cell  # the validator names the field and the wrong type


def _csv_int(cell: str) -> object:
    try:
        return int(cell)
    except ValueError:
        return cell  # the validator names the field and the wrong type


def _parquet_rows(path: str) -> Iterator[tuple[int, Row | InputError]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})", Span.point(path, 1, 1)) from None
    named_twice(path, handle.schema_arrow.names, "the schema")
    number = 0
    naive = {f.name for f in handle.schema_arrow if pa.types.is_timestamp(f.type) and f.type.tz is None}
    for batch in handle.iter_batches(batch_size=BATCH_ROWS):
        for row in batch.to_pylist():
            number += 1
            out: Row = {}
            for key, value in row.items():
                if value is None:
                    continue
                if isinstance(value, dt.datetime):
                    if key in naive:
                        out[key] = value.isoformat()  # no offset: the validator refuses it, naming the field
                        continue
                    value = value.isoformat()
                elif isinstance(value, dt.date):
                    value = value.isoformat()
                out[key] = value
            yield number, out


# ---- writing -------------------------------------------------------------------------------


def atomic_path(path: str) -> tuple[str, Callable[[], None], Callable[[], None]]:
    """A temporary path beside ``path``, a function that renames it over ``path`` and one
    that removes it (for a run that fails)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"{path}: the folder {folder} does not exist", Span.point(path, 1, 1))
    # not mkstemp, which makes the file readable by its owner only: the output gets the mode
    # any new file gets (0666 less the umask), as if it had been opened by its name
    while True:
        temp = os.path.join(folder, f".policylang-{secrets.token_hex(8)}{Path(path).suffix}")
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue

    def commit() -> None:
        os.replace(temp, path)

    def abort() -> None:
        if os.path.exists(temp):
            os.unlink(temp)

    return temp, commit, abort


def write_table(table: Any, path: str) -> None:
    """Write a pyarrow table to ``path`` in the format its extension names, atomically.

    List columns become JSON texts in CSV (which has no lists)."""
    with TableWriter(path, table.schema) as out:
        out.write(table)


class TableWriter:
    """Writes a file a table at a time (so a large output is never held whole), in the
    format the extension names, atomically: the file appears only when the ``with`` block
    ends without an error. List columns become JSON texts in CSV (which has no lists)."""

    def __init__(self, path: str, schema: Any) -> None:
        self.kind = file_format(path)
        self.path = path
        self.schema = schema
        self.temp, self._commit, self._abort = atomic_path(path)
        self._writer: Any = None
        self._handle: Any = None
        self._started = False

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if error is not None:
            self._close()
            self._abort()
            return
        try:
            if not self._started:
                import pyarrow as pa

                self.write(pa.Table.from_batches([], schema=self.schema))
            self._close()
        except BaseException:
            self._abort()
            raise
        self._commit()

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def write(self, table: Any) -> None:
        """Append the rows of ``table`` (a pyarrow table with this writer's schema)."""
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        first, self._started = not self._started, True
        if self.kind == "parquet":
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.temp, self.schema)
            self._writer.write_table(table)
        elif self.kind == "csv":
            columns = []
            for name in table.column_names:
                column = table.column(name)
                if pa.types.is_list(column.type):
                    column = pa.array([orjson.dumps(v).decode() for v in column.to_pylist()], pa.string())
                columns.append(column)
            text = pa.table(columns, names=table.column_names)
            if self._writer is None:
                self._writer = pacsv.CSVWriter(self.temp, text.schema)
            if first or text.num_rows:
                self._writer.write_table(text)
        else:
            if self._handle is None:
                self._handle = open(self.temp, "wb")  # noqa: SIM115 - closed by __exit__
            names = table.column_names
            for batch in table.to_batches(BATCH_ROWS):
                columns = [batch.column(name).to_pylist() for name in names]
                self._handle.write(b"".join(orjson.dumps(dict(zip(names, values, strict=True))) + b"\n"
                                            for values in zip(*columns, strict=True)))

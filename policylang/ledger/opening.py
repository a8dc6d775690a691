"""Opening a ledger by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from policylang.ledger.core import Ledger
from policylang.ledger.memory import MemoryLedger
from policylang.ledger.postgres import PostgresLedger
from policylang.ledger.rows import DEFAULT_URL, LedgerError
from policylang.ledger.sqlite import SQLiteLedger


def open_ledger(url: str = DEFAULT_URL, *, create: bool = False, **options: Any) -> Ledger:
    """Open the ledger at ``url`` (migrating an older schema as needed).

    ``memory:``, ``sqlite:///relative/path``, ``sqlite:////absolute/path`` (with
    ``?synchronous=full``: every commit waits for the disk, see docs/ledger.md) or
    ``postgresql://user@host/db[?schema=NAME]``. Only ``create=True`` (what ``policylang
    ledger init`` passes) makes a new ledger: otherwise a URL that names no ledger - a typo,
    or a relative path run from another folder - is a :class:`LedgerError` naming the path
    it looked for, never a new empty ledger that grants against nothing. Options: ``hold``
    (a timedelta), ``clock``, and ``busy_timeout`` (seconds), ``synchronous`` (``"normal"``,
    the default, or ``"full"``) and ``read_cache`` (customers' indexes kept per thread) for
    SQLite.
    """
    if url == "memory:":
        return MemoryLedger(**options)
    if url.startswith("sqlite://"):
        rest, _, query = url[len("sqlite://"):].partition("?")
        path = unquote(rest)
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
        except ValueError:
            pairs = [(query, "")]
        for key, value in pairs:
            if key != "synchronous":
                raise LedgerError(f"{url}: unknown option {key!r} in a SQLite ledger URL",
                                  expected="synchronous=normal or synchronous=full",
                                  hint="a ? in a file name is written %3F")  # fmt: skip
            options["synchronous"] = value
        if not path.startswith("/") or len(path) < 2:
            raise LedgerError(f"{url}: a SQLite ledger URL is sqlite:///PATH", hint="e.g. sqlite:///ledger.sqlite")
        if not create and not Path(path[1:]).exists():
            raise LedgerError(
                f"{url}: no ledger at {Path(path[1:]).absolute()}",
                hint=f"create it with `policylang ledger init --ledger {url}`, or check the path "
                     "(a relative path is read from the current folder)",
            )  # fmt: skip
        return SQLiteLedger(path[1:], **options)
    if url.startswith(("postgresql://", "postgres://")):
        options.pop("busy_timeout", None)
        options.pop("synchronous", None)
        options.pop("read_cache", None)
        return PostgresLedger(url, create=create, **options)
    raise LedgerError(
        f"{url!r} is not a ledger URL",
        expected="memory:, sqlite:///PATH or postgresql://...",
        hint=f"e.g. --ledger {DEFAULT_URL}",
    )

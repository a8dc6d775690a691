"""The shared ledger from the command line.

``policylang ledger init|import|export|show`` manage a ledger; ``policylang reserve``,
``confirm`` and ``release`` let scripts take part in it; ``policylang void`` makes a stored
contact void (section 11.4). Every command takes
``--ledger URL`` (``sqlite:///PATH``, ``postgresql://...`` or ``memory:``); the default is
``$POLICYLANG_LEDGER`` or ``sqlite:///policylang-ledger.sqlite``.

Exit status: 0 on success (a reservation that was denied is a success: the answer is in
the JSON); 1 when a reservation cannot be confirmed or released in its state (displaced,
expired, already sent); 2 for bad input - and ``import`` writes nothing from input with
any bad line, after reporting every bad line with its number.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any, cast

from policylang.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, read_text, stdout
from policylang.errors import InputError, PolicylangError, raise_all
from policylang.inputs import (
    customer_from_json,
    entry_from_json,
    jsonl_lines,
    load_json,
    request_from_json,
    where,
)
from policylang.ledger import (
    DEFAULT_URL,
    Ledger,
    LedgerError,
    ReservationError,
    SQLiteLedger,
    SQLLedger,
    open_ledger,
)
from policylang.records import Contact, Customer, Entry, Event, VoidLine
from policylang.render import print_errors
from policylang.rules import Policy
from policylang.source import Source, Span

# CSV columns of an exported ledger; an import accepts any subset in any order.
ENTRY_COLUMNS = ("customer", "at", "event", "channel", "purpose", "team", "status", "outcome", "campaign", "id",
                 "void_reason", "warnings")
# CSV cells that may hold a list (11.3 campaign lists, 11.14 warnings) hold it as a JSON list;
# a single campaign starting with "[" is written as a list of one, which reads back as that text.
LIST_COLUMNS = ("campaign", "warnings")


EXIT_STATUS = (
    "exit status: 0 done; 2 bad input (a file or line that cannot be read, a ledger URL that "
    "cannot be opened, names the policy does not declare) or a usage error."
)
EXIT_STATUS_RESERVE = (
    "exit status: 0 a decision was made, allowed (and reserved) or denied; 2 bad input (a file "
    "that cannot be read, invalid JSON, an unknown customer id, a ledger URL that cannot be opened) "
    "or a usage error."
)
EXIT_STATUS_CLOSE = (
    "exit status: 0 done; 1 a state conflict (the reservation is already confirmed, released, "
    "displaced or expired); 2 bad input (an unknown reservation id, an unknown outcome, a ledger "
    "URL that cannot be opened) or a usage error."
)


EXIT_STATUS_VOID = (
    "exit status: 0 the contact is void; 2 bad input (an unknown id, a ledger URL that cannot be "
    "opened) or a usage error."
)


def default_url() -> str:
    return os.environ.get("POLICYLANG_LEDGER") or DEFAULT_URL


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``ledger`` (with init, import, export, show) and ``reserve``, ``confirm``, ``release``."""
    top = sub.add_parser(
        "ledger",
        help="create, fill, export and inspect a shared contact ledger",
        description="Create, fill, export and inspect a shared contact ledger (docs/ledger.md).",
        epilog=EXIT_STATUS,
    )
    actions = top.add_subparsers(dest="ledger_command", metavar="ACTION", parser_class=type(top))
    top.set_defaults(run=lambda args: _usage(top))

    p = actions.add_parser("init", help="create the ledger (or migrate an older one)", epilog=EXIT_STATUS)
    _ledger_option(p)
    p.set_defaults(run=run_init)

    p = actions.add_parser("check", help="check the ledger file for damage (SQLite's full integrity check)",
                           epilog="exit status: 0 no damage found; 1 damage found (each problem is printed); "
                                  "2 a ledger that cannot be opened or a usage error.")  # fmt: skip
    _ledger_option(p)
    p.set_defaults(run=run_check)

    p = actions.add_parser("import", help="add contacts and events (or customer records) from JSONL or CSV",
                           epilog=EXIT_STATUS)
    _ledger_option(p)
    p.add_argument("files", nargs="+", metavar="FILE", help="JSONL or CSV files (- for standard input)")
    p.add_argument("--policy", required=True, metavar="POLICY", help="the policy whose names the lines must use")
    p.add_argument("--customers", action="store_true", help="the files hold customer records, not ledger lines")
    p.add_argument("--format", choices=("jsonl", "csv"), help="default: by file extension (.csv, else JSONL)")
    p.set_defaults(run=run_import)

    p = actions.add_parser("export", help="write every contact and event (or customer record) as JSONL or CSV",
                           epilog=EXIT_STATUS)
    _ledger_option(p)
    p.add_argument("--customer", metavar="ID", help="only this customer's entries")
    p.add_argument("--customers", action="store_true", help="export customer records instead")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="the file format (default jsonl)")
    p.add_argument("-o", "--output", metavar="FILE", help="the file to write (default: standard output)")
    p.set_defaults(run=run_export)

    p = actions.add_parser("show", help="summarise the ledger, one customer, or one reservation", epilog=EXIT_STATUS)
    _ledger_option(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--customer", metavar="ID", help="show this customer's record and entries")
    group.add_argument("--reservation", metavar="ID", help="show this reservation's state")
    p.set_defaults(run=run_show)

    p = sub.add_parser("reserve", help="decide a request and, if allowed, hold its slot in the ledger (JSON out)",
                       epilog=EXIT_STATUS_RESERVE)
    _ledger_option(p)
    p.add_argument("--policy", required=True, metavar="POLICY", help="the policy to decide with")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", metavar="JSON", help="the customer record (stored or updated in the ledger)")
    who.add_argument("--customer-id", metavar="ID", help="a customer whose record is in the ledger")
    p.add_argument("--request", required=True, metavar="JSON", help="the request (a JSON object)")
    p.add_argument("--hold", type=float, default=None, metavar="SECONDS",
                   help="how long the reservation waits for confirm before it expires (default 900)")
    p.set_defaults(run=run_reserve)

    p = sub.add_parser("confirm", help="mark a reservation sent (JSON out)", epilog=EXIT_STATUS_CLOSE)
    _ledger_option(p)
    p.add_argument("reservation", metavar="RESERVATION", help="the reservation id that reserve printed")
    p.add_argument("--outcome", metavar="NAME", help="the contact's outcome (one of the policy's outcomes)")
    p.add_argument("--policy", metavar="POLICY", help="check the outcome against this policy's outcomes")
    p.add_argument("--force", action="store_true", help="change an outcome that was already recorded")
    p.set_defaults(run=run_confirm)

    p = sub.add_parser("void", help="make a stored contact void: it counts for nothing (JSON out)",
                       description="Make a stored contact void (section 11.4): it counts for no rule at any "
                       "instant, as a misdirected call that never reached this consumer.",
                       epilog=EXIT_STATUS_VOID)
    _ledger_option(p)
    p.add_argument("entry", metavar="ID", help="the contact's id (the `id` of its ledger line or reservation)")
    p.add_argument("--reason", metavar="TEXT", help="why the contact is void (kept as `void_reason`)")
    p.set_defaults(run=run_void)

    p = sub.add_parser("release", help="give a reservation back without sending (JSON out)", epilog=EXIT_STATUS_CLOSE)
    _ledger_option(p)
    p.add_argument("reservation", metavar="RESERVATION", help="the reservation id that reserve printed")
    p.set_defaults(run=run_release)


def _ledger_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ledger", default=None, metavar="URL",
                   help=f"sqlite:///PATH or postgresql://... (default $POLICYLANG_LEDGER or {DEFAULT_URL})")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_BAD_INPUT


def _open(args: argparse.Namespace, **options: Any) -> Ledger:
    return open_ledger(args.ledger or default_url(), **options)


def _print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")
    sys.stdout.flush()


def _load_policy(path: str) -> Policy:
    from policylang.compiler import compile_policy

    return compile_policy(read_text(path), path)


# ---- init, show -------------------------------------------------------------------------------


def run_init(args: argparse.Namespace) -> int:
    with _open(args, create=True) as ledger:
        damage = ledger.check(full=False) if isinstance(ledger, SQLiteLedger) else []
        if damage:
            raise LedgerError(f"{ledger.url}: the ledger file is damaged ({'; '.join(damage[:3])})",
                              hint="restore it from a backup; `policylang ledger check` lists the damage")  # fmt: skip
        found = ledger.found_version if isinstance(ledger, SQLLedger) else 0
        if found == 0:
            what = "created"
        elif found == ledger.schema_version:
            what = "already up to date"
        else:
            what = f"migrated from version {found}"
        stdout().print(f"{ledger.url}: schema version {ledger.schema_version} ({what})", markup=False)
    return EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    with _open(args) as ledger:
        damage = ledger.check(full=True) if isinstance(ledger, SQLiteLedger) else []
        if damage:
            for problem in damage:
                sys.stderr.write(f"{ledger.url}: {problem}\n")
            sys.stderr.write(f"{ledger.url}: damaged ({len(damage)} problem{'s' if len(damage) != 1 else ''}); "
                             "it takes no writes: restore it from a backup\n")
            return EXIT_FAILED
        stdout().print(f"{ledger.url}: no damage found", markup=False)
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    out = stdout()
    with _open(args) as ledger:
        if args.reservation:
            _print_json(ledger.reservation(args.reservation).to_dict())
        elif args.customer:
            entries = ledger.events(args.customer)
            out.print(f"customer {args.customer}: {len(entries)} entries", markup=False)
            for entry in entries:
                out.print("  " + describe(entry), markup=False)
        else:
            counts = ledger.summary()
            out.print(f"{ledger.url} (schema version {ledger.schema_version})", markup=False)
            for key, value in counts.items():
                out.print(f"  {key:<10} {value}", markup=False)
    return EXIT_OK


def describe(entry: Entry) -> str:
    if isinstance(entry, Event):
        return f"{entry.at:%Y-%m-%d %H:%M}Z  event {entry.name}"
    campaign = ", ".join(entry.campaign) if isinstance(entry.campaign, tuple) else entry.campaign
    warned = ", ".join(entry.warnings)
    extra = "".join(f"  {k} {v}" for k, v in (("outcome", entry.outcome), ("campaign", campaign),
                                               ("warnings", warned)) if v)  # fmt: skip
    return f"{entry.at:%Y-%m-%d %H:%M}Z  {entry.status:<9} {entry.purpose} {entry.channel} by {entry.team}{extra}  [{entry.id}]"


# ---- import -----------------------------------------------------------------------------------


def run_import(args: argparse.Namespace) -> int:
    policy = _load_policy(args.policy)
    entries: list[Entry] = []
    customers: list[Customer] = []
    problems: list[PolicylangError] = []
    void_at: dict[int, tuple[Span, Source]] = {}  # each void line's place, for its errors
    for path in args.files:
        text = read_text(path)
        fmt = args.format or ("csv" if path.lower().endswith(".csv") else "jsonl")
        source = Source(path, text)
        for number, obj in (read_csv(text, path, policy, args.customers) if fmt == "csv" else jsonl_lines(text, path)):
            try:
                if isinstance(obj, InputError):
                    raise obj
                if args.customers:
                    customers.append(customer_record(policy, obj, where(path, number)))
                else:
                    entries.append(ledger_entry(policy, obj, where(path, number)))
                    if isinstance(entries[-1], VoidLine):
                        void_at[id(entries[-1])] = (where(path, number), source)
            except InputError as exc:
                exc.source = source
                problems.append(exc)
    if problems:
        raise_all(problems)  # nothing is written from input with a bad line
    with _open(args) as ledger:
        if args.customers:
            count = ledger.put_customers(policy, customers)
            stdout().print(f"imported {count} customer records into {ledger.url}", markup=False)
        else:
            # entry_from_json returns void lines typed as entries (the history applies them)
            voids = [e for e in cast("list[object]", entries) if isinstance(e, VoidLine)]
            batch = {e.id for e in entries if isinstance(e, Contact) and e.id is not None}
            for line in voids:  # every id must exist before anything is written
                for ident in line.ids:
                    if ident not in batch:
                        try:
                            ledger.reservation(ident)
                        except LedgerError:
                            span, source = void_at[id(line)]
                            raise InputError(f"field `void`: the void line names `{ident}`, which is no contact's "
                                             "id in the file or the ledger", span, hint="nothing was imported",
                                             source=source) from None
            count = ledger.append([e for e in entries if not isinstance(e, VoidLine)])
            for line in voids:  # 11.4: after the contacts they may name
                for ident in line.ids:
                    ledger.void(ident, line.reason)
                if line.event is not None:
                    count += ledger.append([Event(line.at, line.event, line.customer)])
            stdout().print(f"imported {count} entries into {ledger.url}", markup=False)
    return EXIT_OK


def ledger_entry(policy: Policy, obj: object, at: Span) -> Entry:
    """A ledger line for a shared ledger: a valid entry that names its customer."""
    entry = entry_from_json(policy, obj, at)
    if not entry.customer:
        raise InputError("the ledger line has no `customer` field; a shared ledger keeps entries by customer", at)
    return entry


def customer_record(policy: Policy, obj: object, at: Span) -> Customer:
    record = customer_from_json(policy, obj, at)
    if not record.id:
        raise InputError("the customer record has no `id` field", at)
    return record


def read_csv(text: str, path: str, policy: Policy, customers: bool) -> Iterator[tuple[int, object]]:
    """(line number, JSON-like object) for each CSV row; empty cells are absent fields.

    Customer CSV cells are typed by the policy's declarations: flags ``true``/``false``,
    numbers, and sets as ``a;b;c``.
    """
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None:
        return
    try:
        for row in reader:
            number = reader.line_num
            extra = row.pop(None, None)
            if extra:
                yield number, InputError(f"this row has {len(extra)} more cells than the header", where(path, number))
                continue
            obj: dict[str, object] = {key: value for key, value in row.items() if value not in (None, "")}
            if not customers:
                for key in LIST_COLUMNS:
                    obj[key] = _list_cell(obj[key]) if key in obj else obj.get(key)
                    if obj[key] is None:
                        del obj[key]
            yield number, (typed_customer_cells(policy, obj) if customers else obj)  # type: ignore[arg-type]
    except csv.Error as exc:
        yield reader.line_num, InputError(f"bad CSV: {exc}", where(path, reader.line_num))


def _list_cell(value: object) -> object:
    """A CSV cell of LIST_COLUMNS: a JSON list of texts when it is one, else the text itself."""
    if isinstance(value, str) and value.startswith("["):
        try:
            found = json.loads(value)
        except ValueError:
            return value
        if isinstance(found, list) and all(isinstance(v, str) for v in found):
            return found
    return value


def typed_customer_cells(policy: Policy, obj: Mapping[str, str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in obj.items():
        spec = policy.attributes.get(key)
        kind = spec.kind if spec else "text"
        if kind == "flag" and value.lower() in ("true", "false"):
            out[key] = value.lower() == "true"
        elif kind == "number":
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value  # the validator names the field and the problem
        elif kind == "set":
            out[key] = [part.strip() for part in value.split(";") if part.strip()]
        else:
            out[key] = value
    return out


# ---- export -----------------------------------------------------------------------------------


def run_export(args: argparse.Namespace) -> int:
    with _open(args) as ledger:
        if args.customers:
            records = [json.loads(text) for _, text in ledger.stored_customers()]
            if args.customer:
                records = [r for r in records if r.get("id") == args.customer]
            body = customers_csv(records) if args.format == "csv" else "".join(json.dumps(r) + "\n" for r in records)
        else:
            rows = [entry.to_dict() for entry in ledger.export(args.customer)]
            body = entries_csv(rows) if args.format == "csv" else "".join(json.dumps(r) + "\n" for r in rows)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8", newline="") as f:
                f.write(body)
        except OSError as exc:
            raise PolicylangError(f"{args.output}: cannot be written ({exc.strerror})") from None
    else:
        sys.stdout.write(body)
    return EXIT_OK


def entries_csv(rows: list[dict[str, object]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=ENTRY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        cells = dict(row)
        for key in LIST_COLUMNS:
            value = cells.get(key)
            if isinstance(value, list) or (isinstance(value, str) and value.startswith("[")):
                cells[key] = json.dumps(value if isinstance(value, list) else [value], ensure_ascii=False)
        writer.writerow(cells)
    return buffer.getvalue()


def customers_csv(records: list[dict[str, Any]]) -> str:
    columns = ["id", *sorted({k for r in records for k in r} - {"id"})]
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: _cell(v) for k, v in record.items()})
    return buffer.getvalue()


def _cell(value: object) -> object:
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


# ---- reserve, confirm, release ---------------------------------------------------------------


def _read_object(path: str) -> tuple[str, object]:
    text = read_text(path)
    return text, load_json(text, path)


def _located(exc: InputError, text: str) -> InputError:
    try:
        from policylang.commands.decide import locate
    except ImportError:
        exc.source = Source(exc.span.file, text)
        return exc
    return locate(exc, text)


def run_reserve(args: argparse.Namespace) -> int:
    import datetime as dt

    policy = _load_policy(args.policy)
    request_text, request_obj = _read_object(args.request)
    try:
        request = request_from_json(policy, request_obj, where(args.request))
    except InputError as exc:
        raise _located(exc, request_text) from None
    customer: Customer | str = args.customer_id or ""
    if args.customer:
        customer_text, customer_obj = _read_object(args.customer)
        try:
            customer = customer_record(policy, customer_obj, where(args.customer))
        except InputError as exc:
            raise _located(exc, customer_text) from None
    options: dict[str, Any] = {}
    if args.hold is not None:
        if not args.hold > 0:
            raise PolicylangError(f"--hold must be a positive number of seconds, not {args.hold}")
        options["hold"] = dt.timedelta(seconds=args.hold)
    with _open(args, **options) as ledger:
        reservation = ledger.reserve(policy, customer, request)
    _print_json(reservation.to_dict())
    return EXIT_OK


def run_void(args: argparse.Namespace) -> int:
    with _open(args) as ledger:
        contact = ledger.void(args.entry, args.reason)
    _print_json(contact.to_dict())
    return EXIT_OK


def run_confirm(args: argparse.Namespace) -> int:
    if args.outcome and args.policy:
        policy = _load_policy(args.policy)
        if args.outcome not in policy.outcomes:
            raise InputError(f"`{args.outcome}` is not an outcome of {args.policy}",
                             expected=", ".join(policy.outcomes) or "no outcomes are declared")  # fmt: skip
    return _close(args, lambda ledger: ledger.confirm(args.reservation, outcome=args.outcome, force=args.force))


def run_release(args: argparse.Namespace) -> int:
    return _close(args, lambda ledger: ledger.release(args.reservation))


def _close(args: argparse.Namespace, action: Any) -> int:
    with _open(args) as ledger:
        try:
            state = action(ledger)
        except ReservationError as exc:
            print_errors(exc)
            return EXIT_FAILED
    _print_json(state.to_dict())
    return EXIT_OK



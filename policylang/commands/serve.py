"""``policylang serve POLICY_DIR`` (the decision service) and ``policylang audit`` (its decision log)."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
from pathlib import Path

from policylang.cli import EXIT_OK, stdout
from policylang.errors import PolicylangError


class ServeError(PolicylangError):
    """``policylang serve`` cannot start as asked."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``serve`` and ``audit``."""
    p = sub.add_parser(
        "serve", help="serve a folder of policies over HTTP (the decision service)",
        epilog="exit status: 0 the server stopped cleanly; 2 bad input or usage (a folder with no policy, "
        "an unreadable keys file, a ledger that cannot be opened).",
    )
    p.add_argument("policies", metavar="POLICY_DIR", help="the folder of .pol files (and their .polt scenarios)")
    p.add_argument("--ledger", metavar="URL", help="the shared ledger (memory:, sqlite:///PATH, postgresql://...); "
                   "default $POLICYLANG_LEDGER or memory:")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--keys", metavar="KEYS.toml", help="API keys; without it every caller may do everything")
    p.add_argument("--audit-log", metavar="FILE", help="append every decision to this JSON Lines file")
    p.add_argument("--reload-interval", type=float, default=1.0, metavar="SECONDS",
                   help="how often to look for changed policies (0: never)")
    p.add_argument("--max-body", type=int, default=1 << 20, metavar="BYTES", help="largest request body (413 above)")
    p.add_argument("--max-ledger", type=int, default=10_000, metavar="N", help="most ledger entries (413 above)")
    p.add_argument("--pool", type=int, default=4, metavar="N", help="ledger connections per worker")
    p.add_argument("--ssl-certfile", metavar="PEM", help="serve HTTPS with this certificate chain")
    p.add_argument("--ssl-keyfile", metavar="PEM", help="and this private key")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"),
                   help="how much the server logs (default info)")
    p.set_defaults(run=run_serve)

    a = sub.add_parser(
        "audit", help="why was a customer contacted: search the service's decision log",
        epilog="exit status: 0 the log was searched (matches or not); 2 bad input or usage "
        "(an unreadable log, a malformed instant).",
    )
    a.add_argument("--log", required=True, metavar="FILE", help="the decision log (serve --audit-log)")
    a.add_argument("--customer", required=True, metavar="ID", help="the customer whose decisions to show")
    a.add_argument("--from", dest="start", metavar="INSTANT", help="decisions at or after (RFC 3339 or a date)")
    a.add_argument("--to", dest="end", metavar="INSTANT", help="decisions before (RFC 3339 or a date)")
    a.add_argument("--format", choices=("text", "json"), default="text",
                   help="text: a table (default); json: the matching records as JSON Lines")
    a.add_argument("--json", dest="format", action="store_const", const="json", help="the same as --format json")
    a.set_defaults(run=run_audit)


def run_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from policylang.service.app import ENV, Settings, build
    except ImportError as exc:
        raise ServeError(f"the decision service needs its extra ({exc.name} is missing)",
                         hint="pip install 'policylang[service]'") from None
    if args.workers < 1:
        raise ServeError(f"--workers must be at least 1, not {args.workers}")
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise ServeError("--ssl-certfile and --ssl-keyfile go together")
    settings = Settings(
        policies=str(Path(args.policies).resolve()),
        ledger=args.ledger or os.environ.get("POLICYLANG_LEDGER") or "memory:",
        keys=str(Path(args.keys).resolve()) if args.keys else None,
        audit_log=str(Path(args.audit_log).resolve()) if args.audit_log else None,
        reload_interval=args.reload_interval,
        max_body=args.max_body,
        max_ledger=args.max_ledger,
        pool=args.pool,
    )
    if args.workers > 1 and settings.ledger == "memory:":
        raise ServeError("a memory: ledger cannot be shared by several workers", hint="use sqlite:/// or postgresql://")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # every check that can fail on the user's input runs here, before the server starts:
    # a bad policy, keys file or ledger URL is exit status 2 with a clear message
    build(settings, watch=False).state.service.close()
    os.environ[ENV] = settings.to_env()
    uvicorn.run(
        "policylang.service.app:from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,  # an access log line would name customers' URLs; the audit log is the record
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        timeout_graceful_shutdown=30,
    )
    return EXIT_OK


def instant(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PolicylangError(f"{option} {text!r} is not a date or an RFC 3339 instant",
                              hint="e.g. 2026-11-03 or 2026-11-03T09:00:00Z") from None
    if value.tzinfo is None:
        if len(text) > 10:
            raise PolicylangError(f"{option} {text!r} has no offset", hint="add Z or an offset like +01:00")
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def run_audit(args: argparse.Namespace) -> int:
    import json

    from policylang.service.audit import read

    start, end = instant(args.start, "--from"), instant(args.end, "--to")
    out = stdout()
    found = 0
    for record in read(args.log):
        if record.get("customer") != args.customer:
            continue
        request = record.get("request") or {}
        # a decision is "about" the contact's instant, the question an auditor asks
        at = instant(str(request.get("at") or record["time"]), "request.at")
        assert at is not None
        if (start and at < start) or (end and at >= end):
            continue
        found += 1
        if args.format == "json":
            out.print(json.dumps(record), markup=False, highlight=False)
            continue
        verdict = "ALLOWED" if record.get("allowed") else "DENIED"
        rules = ", ".join(f'"{r}"' for r in record.get("rules") or []) or "no rule"
        reservation = f" reservation {record['reservation']}" if record.get("reservation") else ""
        out.print(
            f"{request.get('at')}  {request.get('purpose')} {request.get('channel')} by {request.get('team')}"
            f"{' (' + request['campaign'] + ')' if request.get('campaign') else ''}: {verdict} by {rules}"
            f"\n    policy {record.get('policy')} version {record.get('policy_version')}, {record.get('endpoint')} "
            f"at {record.get('time')} by key {record.get('key')}{reservation}, inputs {record.get('inputs')}",
            markup=False, highlight=False,
        )
    if not found and args.format != "json":
        out.print(f"no decisions about customer {args.customer} in {args.log}", markup=False, highlight=False)
    return EXIT_OK

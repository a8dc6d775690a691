"""``policylang check [--format text|json] PATH...``: compile policies, report every error.

Exit status: 0 when every policy compiles, 1 when one has errors (every error of every
file is reported, syntax errors first), 2 when a path cannot be read or a usage error.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from policylang.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, FileProblem, read_text, write_text
from policylang.diagnostics import SCHEMA_VERSION, diagnostics
from policylang.errors import PolicylangError
from policylang.render import print_errors

EPILOG = """\
exit status: 0 every policy compiles; 1 a policy has errors; 2 a path cannot be read, or a usage error.
output: text (a summary line per good file on stdout, each error with its line, caret and
hint on stderr) or json (one document on stdout, schema docs/schemas/check.schema.json).
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``policylang check``."""
    p = sub.add_parser(
        "check",
        help="compile policies and report every error",
        description="Compile policies and report every error, with its line, column and a hint.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="policy files, folders to search for *.pol, or - for standard input")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text for people (default) or json for programs and editors")
    p.add_argument("--json", dest="format", action="store_const", const="json",
                   help="the same as --format json")
    p.set_defaults(run=run)


def policy_files(paths: list[str], suffix: str = ".pol") -> list[str]:
    """The files named, and every ``*suffix`` below the folders named, in sorted order.

    A name that is neither a file nor a folder stays in the list: reading it then reports
    it as missing, with exit status 2.
    """
    found: list[str] = []
    for name in paths:
        path = Path(name)
        if name != "-" and path.is_dir():
            below = sorted(str(p) for p in path.rglob(f"*{suffix}") if p.is_file())
            if not below:
                raise FileProblem(f"{name}: no *{suffix} files in this folder")
            found.extend(below)
        else:
            found.append(name)
    return list(dict.fromkeys(found))


def run(args: argparse.Namespace) -> int:
    """Check each policy; see the module docstring for the exit status."""
    from policylang.compiled import compile_cached, remember_check

    status = EXIT_OK
    files: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    try:
        names = policy_files(args.paths)
    except FileProblem as exc:
        if args.format == "json":
            print_json([], diagnostics(exc))
        else:
            print_errors(exc)
        return EXIT_BAD_INPUT
    error: PolicylangError
    for name in names:
        shown = "<stdin>" if name == "-" else name
        try:
            text = read_text(name)
            policy = compile_cached(text, shown)  # a text that compiled before: from the cache
        except FileProblem as exc:
            status, error = EXIT_BAD_INPUT, exc
        except PolicylangError as exc:
            status, error = max(status, EXIT_FAILED), exc
        else:
            if args.format == "text":
                line = summary(policy)
                write_text(line)
                if name != "-":  # launch.py answers the next check of this file from the line kept
                    remember_check(policy, text, shown, line)
            files.append({"file": shown, "ok": True, "rules": len(policy.rules)})
            continue
        problems = diagnostics(error, shown)
        files.append({"file": shown, "ok": False, "errors": len(problems)})
        found.extend(problems)
        if args.format == "text":
            print_errors(error)
    if args.format == "json":
        print_json(files, found)
    return status


def print_json(files: list[dict[str, Any]], found: list[dict[str, Any]]) -> None:
    document = {"version": SCHEMA_VERSION, "files": files, "diagnostics": found}
    write_text(json.dumps(document, indent=2, ensure_ascii=False))


def summary(policy: object) -> str:
    """``file "title": ok, N rules (...); N teams, ...``."""
    from policylang.rules import RULE_KINDS, Policy

    assert isinstance(policy, Policy)
    counts = {k: sum(1 for r in policy.rules if r.kind == k) for k in RULE_KINDS}
    rules = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    title = f' "{policy.title}"' if policy.title else ""
    return (
        f"{policy.file}{title}: ok, {len(policy.rules)} rules ({rules or 'none'}); "
        f"{len(policy.teams)} teams, {len(policy.channels)} channels, {len(policy.purposes)} purposes"
    )

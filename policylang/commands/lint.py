"""``policylang lint [--format text|json|sarif] [--strict] PATH...``: warnings a compile misses.

Exit status: 0 when the policies compile (warnings or not), 1 with ``--strict`` when there
is a warning, 2 when a path cannot be read, a policy does not compile, or a usage error.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from policylang.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, FileProblem, read_text, stdout
from policylang.commands.check import policy_files
from policylang.diagnostics import diagnostics
from policylang.errors import ErrorGroup, PolicylangError
from policylang.render import print_errors

EPILOG = """\
exit status: 0 every policy compiles (with or without warnings); 1 a warning with --strict;
2 a path cannot be read, a policy does not compile, a bad lint config, or a usage error.
codes: policylang lint --list-codes. Silence one for a rule with `# policylang: ignore[PL003]`
on its line or the line above, for a file with `# policylang: ignore-file[PL003]`, for a
project with `ignore = ["PL003"]` under [lint] in policylang.toml or [tool.policylang.lint]
in pyproject.toml (where `enable = ["PL011"]` turns on the codes that are off by default).
output: text (each warning with its line, caret and hint), json, or sarif (SARIF 2.1.0,
for code-scanning services).
"""

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``policylang lint``."""
    p = sub.add_parser(
        "lint",
        help="warn about mistakes that compile (reversed quiet hours, shadowed caps, ...)",
        description="Warn about policies that compile but likely do not say what their author meant.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="policy files, folders to search for *.pol, or - for standard input")
    p.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                   help="text for people (default), json for programs, sarif for code scanning")
    p.add_argument("--strict", action="store_true", help="exit 1 when there is any warning")
    p.add_argument("--list-codes", action="store_true", help="list every warning code and what it means")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Lint each policy; see the module docstring for the exit status."""
    from policylang.lint import DEFAULT_OFF, RULES, find_config, format_finding, lint_text

    out = stdout()
    if args.list_codes:
        for rule in RULES.values():
            off = " (off by default)" if rule.code in DEFAULT_OFF else ""
            out.file.write(f"{rule.code}  {rule.name}: {rule.summary}{off}\n")
        return EXIT_OK
    if not args.paths:
        print_errors(FileProblem("lint: give at least one policy file or folder"))
        return EXIT_BAD_INPUT
    try:
        names = policy_files(args.paths)
    except FileProblem as exc:
        print_errors(exc)
        return EXIT_BAD_INPUT
    status = EXIT_OK
    results = []
    errors: list[dict[str, Any]] = []
    for name in names:
        shown = "<stdin>" if name == "-" else name
        try:
            config = find_config(Path.cwd() if name == "-" else Path(name))
            result = lint_text(read_text(name), shown, config)
        except PolicylangError as exc:  # an unreadable file or a bad config
            status = EXIT_BAD_INPUT
            errors.extend(diagnostics(exc, shown))
            if args.format == "text":
                print_errors(exc)
            continue
        results.append(result)
        if result.errors:
            status = EXIT_BAD_INPUT
            errors.extend(diagnostics(ErrorGroup(result.errors), shown))
            if args.format == "text":
                print_errors(ErrorGroup(result.errors))
        elif result.findings and args.strict:
            status = max(status, EXIT_FAILED)
    findings = [f for r in results for f in r.findings]
    if args.format == "text":
        for result in results:
            for finding in result.findings:
                out.file.write(format_finding(finding, result.source) + "\n")
        files = len(results)
        out.file.write(f"{len(findings)} warning{'s' if len(findings) != 1 else ''} in "
                       f"{files} file{'s' if files != 1 else ''}\n")
    elif args.format == "json":
        document = {
            "version": 1,
            "files": [{"file": r.file, "ok": not r.errors, "warnings": len(r.findings)} for r in results],
            "findings": [f.to_json() for f in findings],
            "errors": errors,
        }
        out.file.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    else:
        out.file.write(json.dumps(sarif(findings, errors), indent=2, ensure_ascii=False) + "\n")
    return status


def sarif(findings: list[Any], errors: list[dict[str, Any]]) -> dict[str, Any]:
    """A SARIF 2.1.0 log: one run, a reporting rule per code, a result per finding or error."""
    from policylang import __version__
    from policylang.lint import RULES

    def region(line: int, column: int, end_line: int, end_column: int) -> dict[str, Any]:
        if not line:
            return {}
        return {"region": {"startLine": line, "startColumn": column,
                           "endLine": end_line or line, "endColumn": max(end_column, column)}}

    results = [
        {
            "ruleId": f.code,
            "level": "warning",
            "message": {"text": f.message + (f" (hint: {f.hint})" if f.hint else "")},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": Path(f.span.file).as_posix()},
                **region(f.span.line, f.span.column, f.span.end_line, f.span.end_column)}}],
        }
        for f in findings
    ] + [
        {
            "ruleId": e["code"],
            "level": "error",
            "message": {"text": e["message"] + (f" (hint: {e['hint']})" if e.get("hint") else "")},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": Path(e["file"]).as_posix()},
                **region(e["line"], e["column"], e["end_line"], e["end_column"])}}],
        }
        for e in errors
    ]
    rules = [
        {"id": r.code, "name": r.name, "shortDescription": {"text": r.summary},
         "defaultConfiguration": {"level": "warning"}}
        for r in RULES.values()
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "policylang lint", "version": __version__,
                                      "rules": rules}},
                  "results": results}],
    }

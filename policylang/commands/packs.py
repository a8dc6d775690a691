"""``policylang packs list|show``: the regulatory packs shipped with policylang (11.17).

``list`` names each pack, its versions, its rules and their citations (``--format json``
for programs); ``show NAME [--version V]`` prints one pack's text, highlighted on a
terminal. Exit status: 0 listed or shown; 2 an unknown pack or version, or a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from policylang.cli import EXIT_BAD_INPUT, EXIT_OK, stderr, stdout
from policylang.errors import PolicylangError, did_you_mean

EPILOG = """\
exit status: 0 the packs were listed or the pack was shown; 2 an unknown pack or version,
or a usage error.
output: list prints each pack with its versions (the newest is what an unpinned include
reads), its rules and their citations; --format json gives the same as one JSON document.
show prints the pack's text (highlighted on a terminal).
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``packs`` subcommand."""
    p = sub.add_parser(
        "packs",
        help="list or show the regulatory packs shipped with policylang",
        description="The rule packs a policy can include (`include \"us/reg_f\"`): their versions, rules and citations.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_subparsers(dest="packs_command", metavar="list|show")
    listing = what.add_parser(
        "list", help="every pack, its versions, rules and citations", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    listing.set_defaults(run=run_list)
    show = what.add_parser(
        "show", help="print one pack's text", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    show.add_argument("name", metavar="NAME", help='the pack, e.g. "us/reg_f"')
    show.add_argument("--version", metavar="V", help="the version to show (default: the newest)")
    show.set_defaults(run=run_show)
    p.set_defaults(run=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    stderr().print("policylang packs: say `packs list` or `packs show NAME`")
    return EXIT_BAD_INPUT


def pack_summary(name: str, versions: list[str]) -> dict[str, Any]:
    """One pack as ``list --format json`` shows it: the newest version's rules and citations."""
    from policylang.compiler import compile_policy
    from policylang.includes import pack_path

    newest = versions[-1]
    path = pack_path(name, newest)
    text = path.read_text(encoding="utf-8")
    policy = compile_policy(text, str(path))
    return {
        "name": name,
        "versions": versions,
        "newest": newest,
        "title": pack_title(text),
        "rules": [{"name": r.name, "kind": r.kind, "cite": list(r.cite)} for r in policy.rules],
    }


def pack_title(text: str) -> str:
    """The first comment line of a pack: what it is."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            return stripped.lstrip("#").strip()
    return ""


def run_list(args: argparse.Namespace) -> int:
    """Print the packs."""
    from policylang.includes import shipped_packs

    packs = [pack_summary(name, versions) for name, versions in shipped_packs().items()]
    out = stdout()
    if args.format == "json":
        out.print(json.dumps({"packs": packs}, indent=2), markup=False, highlight=False)
        return EXIT_OK
    for pack in packs:
        older = [v for v in pack["versions"] if v != pack["newest"]]
        versions = pack["newest"] + (f" (also {', '.join(older)})" if older else "")
        out.print(f"{pack['name']} {versions}: {pack['title']}", markup=False)
        for rule in pack["rules"]:
            cite = f"  [{'; '.join(rule['cite'])}]" if rule["cite"] else ""
            out.print(f'  {rule["kind"]} "{rule["name"]}"{cite}', markup=False)
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    """Print one pack's text."""
    from policylang.includes import pack_path, shipped_packs

    packs = shipped_packs()
    if args.name not in packs:
        raise PolicylangError(
            f'there is no pack called "{args.name}"',
            hint=did_you_mean(args.name, packs) or "`policylang packs list` shows the packs",
        )
    versions = packs[args.name]
    version = args.version or versions[-1]
    if version not in versions:
        raise PolicylangError(
            f'the pack {args.name} has no version "{version}"',
            expected="one of " + ", ".join(versions),
        )
    text = pack_path(args.name, version).read_text(encoding="utf-8")
    if sys.stdout.isatty():
        from pygments import highlight
        from pygments.formatters import TerminalFormatter

        from policylang.highlight import PolicyLexer

        text = highlight(text, PolicyLexer(), TerminalFormatter())
    sys.stdout.write(text)
    return EXIT_OK

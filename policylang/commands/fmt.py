"""``policylang fmt [--check | --diff] FILE...``: rewrite policies in the canonical layout.

Exit status: 0 when every file is (now) formatted; 1 when ``--check`` or ``--diff`` finds
files that would change, or a file does not parse (its errors are printed, the file is
left alone); 2 for a file that cannot be read or written, or a usage error. ``-`` reads
standard input and writes the formatted text to standard output.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
from pathlib import Path

from policylang.cli import EXIT_FAILED, EXIT_OK, FileProblem, run_per_file, stdout
from policylang.formatter import format_policy

EPILOG = """\
exit status: 0 every file is (now) formatted; 1 --check or --diff found a file that would
change, or a file does not parse (it is left alone); 2 a file cannot be read or written,
or a usage error.
output: with -, the formatted policy on stdout; with --diff, a unified diff per file.
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``fmt`` subcommand."""
    p = sub.add_parser(
        "fmt",
        help="rewrite policies in the canonical layout",
        description="Rewrite policies in the canonical layout (aligned rule heads, one blank line between groups).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="policy files to rewrite in place; - formats standard input to standard output")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 listing files that would change"
    )
    mode.add_argument(
        "--diff", action="store_true", help="change nothing; print what would change as a unified diff, exit 1 if any"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Format (or check) each file; see the module docstring for the exit status."""
    out = stdout()

    def fmt(name: str, text: str) -> int:
        shown = "<stdin>" if name == "-" else name
        formatted = format_policy(text, shown)
        if args.diff:
            if formatted == text:
                return EXIT_OK
            sys.stdout.writelines(
                difflib.unified_diff(
                    text.splitlines(keepends=True), formatted.splitlines(keepends=True),
                    f"{shown} (as it is)", f"{shown} (formatted)",
                )
            )
            return EXIT_FAILED
        if name == "-" and not args.check:
            sys.stdout.write(formatted)
            return EXIT_OK
        if formatted == text:
            return EXIT_OK
        if args.check:
            out.print(f"{shown}: would be reformatted")
            return EXIT_FAILED
        try:
            write_atomically(Path(name), formatted)
        except OSError as exc:
            raise FileProblem(f"{name}: cannot be written ({exc.strerror})") from None
        out.print(f"{name}: reformatted")
        return EXIT_OK

    return run_per_file(args.files, fmt)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so a reader sees the old file or the new, never half."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        mode = path.stat().st_mode & 0o7777
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise

"""The ``policylang`` command line.

Exit status: 0 for success (any decision, allowed or not), 1 when a check or a test
finds problems, 2 for bad input (unreadable file, malformed policy given to a command
that needs a valid one, invalid JSON, unknown names, missing offsets) and usage errors.
Every subcommand is a function ``run_NAME(args) -> int`` registered in ``COMMANDS``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from policylang.errors import PolicylangError
from policylang.render import print_errors

# Neither argparse nor typing at run time: a well-formed `policylang decide` is read without
# argparse (commands/decide.py quick_args, launch.py), and the two with gettext and locale
# were about a tenth of a cold decide (issue 11). build_parser imports argparse.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from rich.console import Console

    from policylang.commands.decide import QuickArgs

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 70

Command = Callable[["argparse.Namespace"], int]


# rich is imported when a console is first asked for: its import costs more than a whole
# `policylang decide --json`, which writes plain text (see write_text).
def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def write_text(text: str) -> None:
    """Write ``text`` and a newline to standard output as it is.

    For machine output and plain lines: rich would read ``[...]`` in it as markup and
    ``:name:`` as an emoji code (a policy title or a JSON string could hold either).
    """
    sys.stdout.write(text + "\n")


class FileProblem(PolicylangError):
    """A file that cannot be read or written: always exit status 2."""


def read_text(path: str) -> str:
    """A file's text, or a :class:`FileProblem` naming the file.

    ``-`` is standard input. A UTF-8 byte-order mark (Windows editors write one) is
    dropped; line endings are kept as they are (the parsers take ``\r\n``).
    """
    if path == "-":
        try:
            return sys.stdin.buffer.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FileProblem("<stdin>: is not UTF-8 text") from None
    try:
        with open(path, encoding="utf-8-sig") as stream:  # as Path.read_text (pathlib: not on every start)
            return stream.read()
    except UnicodeDecodeError:
        raise FileProblem(f"{path}: is not UTF-8 text") from None
    except OSError as exc:
        raise unreadable(path, exc) from None


def unreadable(path: str, exc: OSError) -> FileProblem:
    """The problem a user is shown when ``path`` cannot be opened or read."""
    if isinstance(exc, FileNotFoundError):
        return FileProblem(f"{path}: no such file")
    if isinstance(exc, IsADirectoryError):
        return FileProblem(f"{path}: is a folder, not a file")
    return FileProblem(f"{path}: cannot be read ({exc.strerror})")


def read_data(path: str) -> str | bytes:
    """A file's bytes when they are ASCII (so UTF-8 with no byte-order mark), else its text
    as :func:`read_text` reads it, with the same problems. For long inputs that a fast
    path parses as bytes (a ledger): decoding 100 MB to a str costs a tenth of a second."""
    if path == "-":
        return read_text(path)
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as exc:
        raise unreadable(path, exc) from None
    if data.isascii():
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileProblem(f"{path}: is not UTF-8 text") from None


def run_per_file(files: Sequence[str], work: Callable[[str, str], int]) -> int:
    """Run ``work(name, text)`` on each file; the worst status wins.

    A file that cannot be read or written stops the run with status 2; a policy error
    is printed and counts as 1 (the other files still run).
    """
    status = EXIT_OK
    for name in files:
        try:
            status = max(status, work(name, read_text(name)))
        except FileProblem as exc:
            print_errors(exc)
            return EXIT_BAD_INPUT
        except PolicylangError as exc:
            print_errors(exc)
            status = max(status, EXIT_FAILED)
    return status


# ---- registry -----------------------------------------------------------------------------

Adder = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

# Subcommand name -> the module that adds it (with ``add_parser``). Only the module of the
# command being run is imported, so a cold `policylang decide` does not load the REPL.
COMMAND_MODULES: dict[str, str] = {
    "check": "policylang.commands.check",
    "decide": "policylang.commands.decide",
    "fmt": "policylang.commands.fmt",
    "graph": "policylang.commands.graph",
    "test": "policylang.commands.test",
    "repl": "policylang.commands.repl",
    "ledger": "policylang.commands.ledger",
    "reserve": "policylang.commands.ledger",
    "confirm": "policylang.commands.ledger",
    "release": "policylang.commands.ledger",
    "void": "policylang.commands.ledger",
    "demo": "policylang.commands.demo",
    "completion": "policylang.commands.completion",
    "serve": "policylang.commands.serve",
    "audit": "policylang.commands.serve",
    "batch": "policylang.commands.batch",
    "replay": "policylang.commands.replay",
    "packs": "policylang.commands.packs",
    "lint": "policylang.commands.lint",
    "diff": "policylang.commands.diff",
    "lsp": "policylang.commands.lsp",
    "plan": "policylang.commands.plan",
}


def adders(command: str | None = None) -> list[Adder]:
    """Parser builders: all of them, or just the one for ``command`` when it is known."""
    modules = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else list(dict.fromkeys(COMMAND_MODULES.values()))
    found: list[Adder] = []
    for module in modules:
        imported = __import__(module, fromlist=["add_parser"])
        found.append(imported.add_parser)
    return found


_PARSER_CLASS: list[type[argparse.ArgumentParser]] = []


def parser_class() -> type[argparse.ArgumentParser]:
    """The command line's parser class (made on first use: it needs argparse)."""
    if _PARSER_CLASS:
        return _PARSER_CLASS[0]
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            self.print_usage(sys.stderr)
            stderr().print(f"policylang: error: {message}")
            raise SystemExit(EXIT_BAD_INPUT)

        def _get_formatter(self) -> argparse.HelpFormatter:
            # argparse makes a formatter for every add_argument, and a formatter without a width
            # imports shutil (and bz2, lzma) to ask it the terminal's: the same width, without them
            make: Any = self.formatter_class
            return make(prog=self.prog, width=terminal_columns() - 2)  # type: ignore[no-any-return]

    _PARSER_CLASS.append(_Parser)
    return _Parser


def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``: $COLUMNS, else the terminal's, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):  # no stdout (None), closed, not a terminal
            columns = 80
    return columns


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    from policylang import __version__

    parser_type = parser_class()
    parser = parser_type(
        prog="policylang",
        description="Contact policies: check, decide, test.",
        epilog="exit status: 0 success (any decision, allowed or denied); 1 findings (errors in a checked "
        "policy, failed tests, a reservation's state conflict); 2 bad input or a usage error. "
        "`policylang COMMAND --help` says which apply to each command.",
    )
    parser.add_argument("--version", action="version", version=f"policylang {__version__}")
    sub: argparse._SubParsersAction[argparse.ArgumentParser] = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=parser_type
    )
    for add in adders(command):
        add(sub)
    return parser


def command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub)command ``args`` were parsed for, or ``parser`` itself."""
    import argparse

    for name in ("command", "ledger_command"):
        chosen = getattr(args, name, None)
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not chosen or not subparsers or chosen not in subparsers[0].choices:
            break
        parser = subparsers[0].choices[chosen]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``policylang`` command."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments[0] if arguments else None)
    args, unknown = parser.parse_known_args(arguments)
    if unknown:  # say it with the usage of the command that was given, not the top level's
        command_parser(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    return execute(args)


def execute(args: argparse.Namespace | QuickArgs) -> int:
    """Run the command ``args`` were parsed for (``args.run(args)``), turning policylang's
    errors into exit status 2 and a bug into status 70 and one paragraph, not a traceback."""
    try:
        result: int = args.run(args)
    except PolicylangError as exc:
        print_errors(exc)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug: say so in one paragraph, not a traceback
        if os.environ.get("POLICYLANG_DEBUG"):
            raise
        stderr().print(
            f"policylang: internal error ({type(exc).__name__}: {exc}). This is a bug in policylang, "
            "not in your input; set POLICYLANG_DEBUG=1 to see where it happened."
        )
        return EXIT_INTERNAL
    return result


if __name__ == "__main__":
    raise SystemExit(main())

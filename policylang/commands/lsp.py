"""``policylang lsp``: the language server, over standard input and output.

Exit status: 0 when the client ends the session (shutdown, then exit), 2 for a usage error
or when the server's dependencies are not installed.
"""

from __future__ import annotations

import argparse

from policylang.cli import EXIT_BAD_INPUT, EXIT_OK, FileProblem
from policylang.render import print_errors

EPILOG = """\
exit status: 0 the client ended the session; 2 a usage error, or pygls is not installed
(pip install 'policylang[lsp]').
Speaks the Language Server Protocol on stdin/stdout for .pol and .polt files: diagnostics
(compiler and linter), hover, completion, go to definition, references, rename, outline,
formatting and code actions. Editors start it as `policylang lsp`.
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``policylang lsp``."""
    p = sub.add_parser(
        "lsp",
        help="run the language server (for editors) over stdio",
        description="Run the policylang language server over standard input and output.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stdio", action="store_true",
                   help="accepted for editors that pass it; stdio is the only transport")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until the client exits."""
    try:
        from policylang.lsp import serve
    except ImportError as exc:
        print_errors(FileProblem(f"the language server needs pygls ({exc}); pip install 'policylang[lsp]'"))
        return EXIT_BAD_INPUT
    serve()
    return EXIT_OK

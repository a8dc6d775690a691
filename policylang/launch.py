"""The ``policylang`` program's first step: answer ``--version`` before loading anything.

The console script points here, not at :mod:`policylang.cli`, because importing the
command line pulls in rich, argparse and the error types; ``policylang --version`` (which
scripts and package managers run often) needs none of them.
"""

from __future__ import annotations

import sys


def main() -> int:
    """Entry point of the ``policylang`` command."""
    if sys.argv[1:] == ["--version"]:
        from policylang import __version__

        sys.stdout.write(f"policylang {__version__}\n")
        return 0
    from policylang.cli import main as run

    return run()


if __name__ == "__main__":
    raise SystemExit(main())

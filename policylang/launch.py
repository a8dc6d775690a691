"""The ``policylang`` program's first step: answer ``--version``, and ``check`` of files
that checked before, without loading the engine.

The console script points here, not at :mod:`policylang.cli`, because importing the
command line pulls in rich, argparse and the error types; ``policylang --version`` (which
scripts and package managers run often) needs none of them, and neither does a ``check``
of an unchanged policy (editors and pre-commit hooks run it on every save), whose summary
line :mod:`policylang.compiled` kept.
"""

from __future__ import annotations

import sys


def main() -> int:
    """Entry point of the ``policylang`` command."""
    arguments = sys.argv[1:]
    if arguments == ["--version"]:
        from policylang import __version__

        sys.stdout.write(f"policylang {__version__}\n")
        return 0
    if len(arguments) > 1 and arguments[0] == "check" and not any(a.startswith("-") for a in arguments[1:]):
        # `check FILE...` of files that checked before: the summary lines kept by the last
        # check (policylang.compiled), with none of the engine imported
        from policylang.compiled import cached_check

        lines = cached_check(arguments[1:])
        if lines is not None:
            sys.stdout.write("".join(line + "\n" for line in lines))
            return 0
    # attrs' generated methods, compiled by an earlier run (policylang.codecache): before any
    # module that defines a class is imported
    from policylang import codecache, compiled

    codecache.install(compiled._folder_name())
    try:
        from policylang.cli import main as run

        return run()
    finally:
        codecache.save()


if __name__ == "__main__":
    raise SystemExit(main())

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
        if arguments[:1] == ["decide"]:
            # a well-formed decide is read without argparse (anything else: argparse, below)
            from policylang.commands.decide import quick_args

            args = quick_args(arguments[1:])
            if args is not None:
                from policylang.cli import execute

                status = execute(args)
                codecache.save()
                return leave(status)
        from policylang.cli import main as run

        return run()
    finally:
        codecache.save()


def leave(status: int) -> int:
    """End the process with ``status`` now, as the interpreter would at its exit, but without
    tearing down every module and object one by one: about a tenth of a cold decide.

    What an exit does that is seen from outside is done here first: the ``atexit``
    functions run and standard output and error are flushed. When that flush fails (a
    closed pipe) or a thread other than this one is still running, ``status`` is returned
    and the interpreter exits as always (the same message and status as before)."""
    import atexit

    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return status
    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):  # broken pipe, closed stream: the interpreter's exit says so
        return status
    import os

    os._exit(status)


if __name__ == "__main__":
    raise SystemExit(main())

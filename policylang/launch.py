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

    codecache.install(compiled._folder_name(), patterns=arguments[:1] not in (["serve"], ["lsp"], ["repl"]))
    try:
        if arguments[:1] == ["decide"]:
            # a well-formed decide is read without argparse (anything else: argparse, below)
            import gc

            # the cyclic collector paused while the decision's modules are imported: it ran
            # over their thousands of objects (all kept) several times, ~5% of a cold decide
            gc.disable()
            try:
                from policylang.commands.decide import quick_args

                args = quick_args(arguments[1:])
                if args is not None:
                    from policylang import evaluator  # noqa: F401 - what deciding runs: imported here too
            finally:
                gc.freeze()  # what was imported is kept to the end: later passes skip it
                gc.enable()
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

    What an exit does that is seen from outside is done here first, in its order: the
    ``atexit`` functions run, then standard output and error are flushed; a flush that
    fails (a closed pipe) is reported as the interpreter reports it ("Exception ignored in:
    ...") and makes the status 120, as it does. While a thread other than this one runs,
    ``status`` is returned and the interpreter exits as always."""
    import atexit

    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return status
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is None or getattr(stream, "closed", False):
            continue
        try:
            stream.flush()
        except Exception as exc:
            status = 120
            _ignored(stream, exc)
    import os

    os._exit(status)


def _ignored(stream: object, exc: Exception) -> None:
    """Say that flushing ``stream`` failed, in the words of CPython's unraisable-error hook."""
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ in ("builtins", "__main__") else f"{kind.__module__}.{kind.__qualname__}"
    try:
        if sys.stderr is not None:
            sys.stderr.write(f"Exception ignored in: {stream!r}\n{name}: {exc}\n")
            sys.stderr.flush()
    except Exception:  # noqa: S110 - standard error is gone too: nothing left to say it on
        pass


if __name__ == "__main__":
    raise SystemExit(main())

"""Subcommands of the ``policylang`` command line, one module each (see :mod:`policylang.cli`)."""

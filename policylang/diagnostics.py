"""Errors as data: the machine-readable form of a problem (``check --format json``).

One diagnostic per problem, with the file, the 1-based line and column of its first
character and of the character after it, a severity, a stable code naming the kind of
problem, the message and the expectation and hint a person reads. The JSON schema of the
whole document is ``docs/schemas/check.schema.json``.
"""

from __future__ import annotations

from typing import Any

from policylang.errors import (
    ErrorGroup,
    InputError,
    PolicyCompileError,
    PolicylangError,
    PolicySyntaxError,
    ScenarioError,
)

SCHEMA_VERSION = 1


def error_code(error: PolicylangError) -> str:
    """The kind of problem: ``syntax``, ``compile``, ``input``, ``scenario`` or ``file``."""
    if isinstance(error, PolicySyntaxError):
        return "syntax"
    if isinstance(error, PolicyCompileError):
        return "compile"
    if isinstance(error, InputError):
        return "input"
    if isinstance(error, ScenarioError):
        return "scenario"
    return "file"


def diagnostic(error: PolicylangError, file: str | None = None) -> dict[str, Any]:
    """One problem as a JSON object (line and column 0 when it concerns a whole file)."""
    span = error.span
    out = {
        "file": span.file if span.line or file is None else file,
        "line": span.line,
        "column": span.column,
        "end_line": span.end_line,
        "end_column": span.end_column,
        "severity": "error",
        "code": error_code(error),
        "message": error.message,
        "expected": error.expected,
        "hint": error.hint,
    }
    if error.included_from:  # 11.17: an error in an included file, and the include lines to it
        out["included_from"] = [
            {"file": s.file, "line": s.line, "column": s.column} for s in reversed(error.included_from)
        ]
    return out


def diagnostics(error: PolicylangError, file: str | None = None) -> list[dict[str, Any]]:
    """Every problem an error carries (several for an :class:`ErrorGroup`)."""
    problems = error.errors if isinstance(error, ErrorGroup) else (error,)
    return [diagnostic(p, file) for p in problems]

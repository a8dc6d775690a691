"""Rendering errors and decisions for people, with rich."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from policylang.errors import PolicylangError, location


def error_text(problem: PolicylangError) -> Text:
    """One error: ``file:line:col: error: message``, the line, a caret, expectation and hint."""
    span = problem.span
    text = Text()
    where = location(span)
    text.append(where, style="bold")
    text.append("error: ", style="bold red")
    text.append(problem.message + "\n")
    if problem.source is not None and span.line:
        line = problem.source.line(span.line).expandtabs(1)
        if line:
            width = span.end_column - span.column if span.end_line == span.line else len(line) - span.column + 1
            width = max(1, min(width, len(line) - span.column + 1))
            text.append(f"    {line}\n")
            text.append("    " + " " * (span.column - 1) + "^" * width + "\n", style="bold red")
    if problem.expected:
        text.append(f"  expected {problem.expected}\n", style="cyan")
    if problem.hint:
        text.append(f"  hint: {problem.hint}\n", style="green")
    return text


def print_errors(error: PolicylangError, console: Console | None = None) -> None:
    """Print every problem an error carries to stderr (or ``console``)."""
    console = console or Console(stderr=True, highlight=False, soft_wrap=True)
    problems = error.errors
    for problem in problems:
        console.print(error_text(problem), end="")
    if len(problems) > 1:
        console.print(f"{len(problems)} errors")

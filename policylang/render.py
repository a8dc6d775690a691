"""Rendering errors and decisions for people, with rich.

rich is imported by the functions that draw, not by this module: importing it costs more
than a whole `policylang decide --json` (issue 11), and the commands import this module
for their error path.
"""

from __future__ import annotations

from policylang.decision import Decision
from policylang.errors import PolicylangError, location

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text


def error_text(problem: PolicylangError) -> Text:
    """One error: ``file:line:col: error: message``, the line, a caret, expectation and hint."""
    from rich.text import Text

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
    for span in reversed(problem.included_from):  # 11.17: the include lines, innermost first
        text.append(f"  included from {span}\n", style="dim")
    return text


def print_errors(error: PolicylangError, console: Console | None = None) -> None:
    """Print every problem an error carries to stderr (or ``console``)."""
    from rich.console import Console

    console = console or Console(stderr=True, highlight=False, soft_wrap=True)
    problems = error.errors
    for problem in problems:
        console.print(error_text(problem), end="")
    if len(problems) > 1:
        console.print(f"{len(problems)} errors")


VERDICT_STYLE = {"deny": "bold red", "pass": "green", "skip": "dim", "exempt": "cyan"}


def decision_panel(decision: Decision) -> Panel:
    """A panel: allowed or denied, by which rules, when next, what it displaces."""
    from rich.panel import Panel
    from rich.text import Text

    req = decision.request
    body = Text()
    body.append(f"{req.purpose} {req.channel} by {req.team} at {req.at.isoformat()}\n")
    if decision.allowed:
        body.append("ALLOWED", style="bold green")
    else:
        body.append("DENIED", style="bold red")
        body.append(" by " + ", ".join(f'"{n}"' for n in decision.denied_by))
        when = decision.next_allowed_at.isoformat() if decision.next_allowed_at else "never: waiting does not help"
        body.append(f"\nnext allowed at: {when}")
    for contact in decision.displaces:
        body.append(f"\ndisplaces: {contact.describe()}", style="yellow")
    for note in decision.notes:
        body.append(f"\nnote: {note}", style="dim")
    if decision.sources:
        body.append("\nsources: " + ", ".join(f"{k} {v}" for k, v in decision.sources), style="dim")
    return Panel(body, title="decision", border_style="green" if decision.allowed else "red", expand=False)


def trace_table(decision: Decision, *, show_skipped: bool = True) -> Table:
    """The trace, one row a rule, verdicts coloured."""
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("rule")
    table.add_column("kind")
    table.add_column("verdict")
    table.add_column("why", overflow="fold")
    for entry in decision.trace:
        if entry.verdict == "skip" and not show_skipped:
            continue
        rule = entry.rule + (f" ({entry.pack} {entry.pack_version})" if entry.pack is not None else "")
        why = Text(entry.reason)
        if entry.cite:  # 11.17
            why.append(f" [{'; '.join(entry.cite)}]", style="dim")
        table.add_row(rule, entry.kind, Text(entry.verdict, style=VERDICT_STYLE.get(entry.verdict, "")), why)
    return table

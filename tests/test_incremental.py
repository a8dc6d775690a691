"""Quick diagnostics after an edit (policylang.incremental) against a full compile of the
same text: for each edit of a sequence (a typo in a rule, its fix, a new rule, a deleted
line, a broken and mended rule, an edited declaration), the quick answer has exactly the
errors the whole compiler reports.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from policylang.compiler import compile_policy
from policylang.errors import PolicylangError
from policylang.incremental import Document

NORTHWIND = (Path(__file__).resolve().parent.parent / "examples" / "northwind.pol").read_text()


def full(text: str) -> list[tuple[int, int, str]]:
    try:
        compile_policy(text, "p.pol")
    except PolicylangError as exc:
        return sorted((e.span.line, e.span.column, e.message) for e in exc.errors)
    return []


def key(errors: list[PolicylangError]) -> list[tuple[int, int, str]]:
    return sorted((e.span.line, e.span.column, e.message) for e in errors)


def edits(text: str) -> list[str]:
    steps = []
    text = text.replace("at most 3 marketing per 30 days", "at most 3 markting per 30 days")
    steps.append(text)  # a typo in a rule
    text = text.replace("at most 7 debt phone", "at most 7 debt phnoe")
    steps.append(text)  # a second typo, below the first
    text = text.replace("at most 3 markting per 30 days", "at most 3 marketing per 30 days")
    steps.append(text)  # the first fixed
    text = text.replace('cap "one sales call a week":', 'cap "one sales call a week":\ncap "new": at most')
    steps.append(text)  # a half-typed rule on a new line, above the remaining typo
    text = text.replace('cap "new": at most', 'cap "new": at most 2 sms per 7 days')
    steps.append(text)  # finished
    text = text.replace('cap "new": at most 2 sms per 7 days\n', "")
    steps.append(text)  # deleted again
    text = text.replace('exempt "transactional":', 'exempt "transactional2":').replace(
        'cap "seven in seven":', 'cap "one voice":')
    steps.append(text)  # a rule renamed to a name another rule has
    text = text.replace("teams     private_banking,", "teams     privat_banking,")
    steps.append(text)  # a declaration: the whole file is compiled again
    return steps


@pytest.mark.parametrize("rules", [0, 120])
def test_quick_updates_report_what_a_full_compile_reports(rules: int) -> None:
    extra = "".join(f'cap "extra {i}": at most {i % 5 + 1} email by cards per {i % 9 + 1} days\n' for i in range(rules))
    document = Document("p.pol")
    base = NORTHWIND + extra
    assert document.full(base) == []
    for step in edits(base):
        assert key(document.update(step)) == full(step), step
        document.full(step)  # what the server does in the background after each edit
    # every edit but two: a deleted statement (others may have named it) and the declaration
    assert document.quick_runs == len(edits(base)) - 2


def test_statements_found_around_an_edit_are_those_of_the_whole_text() -> None:
    from policylang.resync import statement_chunks

    document = Document("p.pol")
    document.full(NORTHWIND)
    lines = NORTHWIND.split("\n")
    for row in range(len(lines)):
        for new_lines, last, delta in (
            (lines[:row] + ['cap "n": at most 1 sms', "  per 7 days"] + lines[row:], row + 2, 2),
            (lines[:row] + lines[row + 1:], row, -1),
            (lines[:row] + [lines[row] + " x"] + lines[row + 1:], row + 1, 0),
        ):
            old_last = last - delta
            assert document.chunks_of(new_lines, row + 1, old_last, delta) == statement_chunks("\n".join(new_lines)), row

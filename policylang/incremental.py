"""Diagnostics after a keystroke in a large policy, without recompiling all of it.

A keystroke changes one statement. When that statement is a rule, its errors are those the
real compiler reports for a policy made of the file's declarations, the edited rule and the
rules it names (or that share its name), every other line blanked so that lines and
columns stay where they are; the errors of the statements that did not change are the last
full compile's, moved by the number of lines inserted or deleted above them. An edit to
anything that is not recognisably a rule (a declaration, a form this module does not know)
compiles the whole file. The server then runs the whole compile and the linter in the
background and publishes their answer, which is authoritative.
"""

from __future__ import annotations

import re

import attrs

from policylang.errors import PolicylangError
from policylang.resync import Chunk, statement_chunks
from policylang.slotted import evolve

RULE_KINDS = ("cap", "capacity", "quiet", "exclude", "require", "exclusive", "exempt")
RULE_PREFIXES = frozenset(kind[:n] for kind in RULE_KINDS for n in range(1, len(kind) + 1))
RULE_HEAD = re.compile(r'^([a-z]+)\b(?:\s*"([^"]*)")?')
QUOTED = re.compile(r'"([^"]*)"')


def compile_errors(text: str, file: str) -> list[PolicylangError]:
    """Every error of the whole file (empty when it compiles)."""
    from policylang.compiler import compile_policy

    try:
        compile_policy(text, file)
    except PolicylangError as exc:
        return list(exc.errors)
    return []


def moved(error: PolicylangError, delta: int) -> PolicylangError:
    """The same error, ``delta`` lines further down (a shallow copy with a new span)."""
    if not delta or not error.span.line:
        return error
    copy = type(error).__new__(type(error))
    copy.__dict__.update(error.__dict__)
    copy.args = error.args
    s = error.span
    copy.span = evolve(s, line=s.line + delta, end_line=s.end_line + delta)
    return copy


@attrs.define
class Document:
    """A policy being edited: its text and the errors of its last full compile."""

    file: str
    text: str = ""
    errors: list[PolicylangError] = attrs.Factory(list)
    quick_runs: int = 0  # how many updates took the quick path (for tests and benchmarks)
    _chunks: list[Chunk] | None = None  # the statements of ``text``, found once

    def full(self, text: str) -> list[PolicylangError]:
        """Compile the whole text; its errors become the reference for later quick updates."""
        self.text, self.errors, self._chunks = text, compile_errors(text, self.file), None
        return self.errors

    def chunks_of(self, new_lines: list[str], first_changed: int, old_last_changed: int, delta: int) -> list[Chunk]:
        """The statements of the new text: the reference's, with those around the edit found
        again (one statement of margin on each side) and those below it moved by ``delta``."""
        if self._chunks is None:
            self._chunks = statement_chunks(self.text)
        old = self._chunks
        if not old:
            return statement_chunks("\n".join(new_lines))
        lo = next((i for i, c in enumerate(old) if c.last >= first_changed - 1), len(old) - 1)
        hi = next((i for i in range(len(old) - 1, -1, -1) if old[i].first <= old_last_changed + 1), 0)
        lo, hi = max(lo - 1, 0), min(max(hi, lo) + 1, len(old) - 1)
        start, end = old[lo].first, old[hi].last + delta
        if lo == 0:
            start = 1
        if hi == len(old) - 1:
            end = len(new_lines)
        window = statement_chunks("\n".join(new_lines[start - 1 : end]))
        moved_window = [Chunk(c.first + start - 1, c.last + start - 1) for c in window]
        below = [Chunk(c.first + delta, c.last + delta) for c in old[hi + 1 :]]
        return old[:lo] + moved_window + below

    def update(self, text: str) -> list[PolicylangError]:
        """The errors of ``text``: quickly when only rules changed, else by a full compile.

        The quick answer does not become the reference: call :meth:`full` (the server does,
        in the background) to reconcile."""
        old_lines, new_lines = self.text.split("\n"), text.split("\n")
        top = 0
        while top < min(len(old_lines), len(new_lines)) and old_lines[top] == new_lines[top]:
            top += 1
        bottom = 0
        while (bottom < min(len(old_lines), len(new_lines)) - top
               and old_lines[-1 - bottom] == new_lines[-1 - bottom]):
            bottom += 1
        if top == len(old_lines) == len(new_lines):
            return self.errors
        first_changed, last_changed = top + 1, len(new_lines) - bottom  # 1-based, in the new text
        old_last_changed = len(old_lines) - bottom
        delta = len(new_lines) - len(old_lines)
        if not self.text:
            return self.full(text)
        chunks = self.chunks_of(new_lines, first_changed, old_last_changed, delta)
        edited = [c for c in chunks if c.last >= first_changed and c.first <= max(last_changed, first_changed)]
        heads = {c: rule_head(new_lines[c.first - 1]) for c in chunks}
        if not edited or any(heads[c] is None for c in edited):
            return self.full(text)
        self.quick_runs += 1
        edited_names = {m[2] for c in edited if (m := heads[c]) is not None and m[2] is not None}
        named = {n for c in edited for line in new_lines[c.first - 1 : c.last] for n in QUOTED.findall(line)}
        keep: list[Chunk] = []
        for chunk in chunks:
            head = heads[chunk]
            if chunk in edited or head is None or head[2] in named or head[2] in edited_names:
                keep.append(chunk)
        lines = [""] * len(new_lines)
        for chunk in keep:
            lines[chunk.first - 1 : chunk.last] = new_lines[chunk.first - 1 : chunk.last]
        fresh = compile_errors("\n".join(lines), self.file)
        lo, hi = min(c.first for c in edited), max(c.last for c in edited)
        mine = [e for e in fresh if lo <= e.span.line <= hi or not e.span.line]
        # errors of unchanged statements: above the edit as they were, below it moved
        old_lo, old_hi = lo, hi - delta
        kept: list[PolicylangError] = []
        for error in self.errors:
            line = error.span.line
            if not line:
                continue
            if line < min(old_lo, first_changed):
                kept.append(error)
            elif line > max(old_hi, old_last_changed):
                kept.append(moved(error, delta))
        result = kept + [e for e in mine if e not in kept]
        result.sort(key=lambda e: (e.span.line, e.span.column))
        return result


def rule_head(line: str) -> re.Match[str] | None:
    """The head of a rule (or of a rule being typed: ``ca`` may become ``cap``), else None."""
    found = RULE_HEAD.match(line)
    return found if found is not None and found[1] in RULE_PREFIXES else None

"""Errors a policy author, a scenario writer or an embedding program can cause.

Every error carries a :class:`Span` so it can be shown as ``file:line:col`` with the
source line and a caret under the problem. Errors are collected, not thrown one by one,
wherever a stage can go on: the compiler reports every problem in a file in one run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from policylang.source import NOWHERE, Source, Span


class PolicylangError(Exception):
    """Base class of every error policylang reports on purpose."""

    def __init__(
        self,
        message: str,
        span: Span = NOWHERE,
        *,
        expected: str | None = None,
        hint: str | None = None,
        source: Source | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.expected = expected
        self.hint = hint
        self.source = source
        # 11.17: the include lines that brought the file in, the policy's own line first
        self.included_from: tuple[Span, ...] = ()

    @property
    def errors(self) -> Sequence[PolicylangError]:
        """The individual problems (one for a plain error)."""
        return (self,)

    def __str__(self) -> str:
        return format_error(self)


class PolicySyntaxError(PolicylangError):
    """The text is not a well-formed policy or scenario."""


class PolicyCompileError(PolicylangError):
    """The policy parses but means nothing sensible (unknown name, wrong type, ...)."""


class InputError(PolicylangError):
    """Bad input at decision time: a customer record, ledger line, request or instant."""


class ScenarioError(PolicylangError):
    """A scenario (``.polt``) statement that cannot run."""


class ErrorGroup(PolicylangError):
    """Several problems found in one run, reported together."""

    def __init__(self, problems: Sequence[PolicylangError]) -> None:
        first = problems[0]
        super().__init__(first.message, first.span, source=first.source)
        self._problems = tuple(problems)

    @property
    def errors(self) -> Sequence[PolicylangError]:
        return self._problems

    def __str__(self) -> str:
        return "\n".join(format_error(p) for p in self._problems)


def raise_all(problems: Sequence[PolicylangError]) -> None:
    """Raise nothing, the one problem, or an :class:`ErrorGroup` of them all."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ErrorGroup(problems)


SUGGEST_ALL_UP_TO = 2_000


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word``, when one is close enough to be a likely typo.

    Past :data:`SUGGEST_ALL_UP_TO` candidates (a generated policy's rule names) only those
    of about the same length that start with the same letter are compared: a hint per
    error must not cost a pass of ``difflib`` over every name, or a large policy with many
    errors takes quadratic time to report them.
    """
    pool = set(candidates)
    if len(pool) > SUGGEST_ALL_UP_TO:
        first = word[:1].casefold()
        pool = {c for c in pool if c[:1].casefold() == first and abs(len(c) - len(word)) <= 2}
    import difflib  # only when a name is wrong: not on every start

    matches = difflib.get_close_matches(word, sorted(pool), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A ``did you mean `x`?`` hint, or None."""
    best = suggest(word, candidates)
    return f"did you mean `{best}`?" if best else None


def format_error(error: PolicylangError) -> str:
    """Plain-text rendering: location, message, source line, caret, expectation, hint."""
    span = error.span
    lines = [f"{location(span)}error: {error.message}"]
    if error.source is not None and span.line:
        text = error.source.line(span.line).expandtabs(1)
        if text:
            width = span.end_column - span.column if span.end_line == span.line else len(text) - span.column + 1
            lines.append(f"    {text}")
            lines.append("    " + " " * (span.column - 1) + "^" * max(1, min(width, len(text) - span.column + 1)))
    if error.expected:
        lines.append(f"  expected {error.expected}")
    if error.hint:
        lines.append(f"  hint: {error.hint}")
    lines.extend(f"  included from {span}" for span in reversed(error.included_from))
    return "\n".join(lines)


def location(span: Span) -> str:
    """``file:line:col: `` or ``file: `` (a whole-file problem) or nothing."""
    if span.line:
        return f"{span}: "
    if span.file and span.file != NOWHERE.file:
        return f"{span.file}: "
    return ""

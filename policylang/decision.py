"""The answer to a request: allowed or not, by which rules, what it displaces, and why."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from policylang.records import Contact, Request
from policylang.slotted import fields, frozen

VERDICTS = ("deny", "pass", "skip", "exempt", "warn")


@frozen
class TraceEntry:
    """One rule's verdict on one request, with the facts behind it in plain words."""

    rule: str
    kind: str
    verdict: str  # deny | pass | skip | exempt | warn
    reason: str = ""
    cite: tuple[str, ...] = ()  # 11.17: the rule's citations
    pack: str | None = None  # the pack the rule came from, and its version
    pack_version: str | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"rule": self.rule, "kind": self.kind, "verdict": self.verdict,
                                  "reason": self.reason, "cite": list(self.cite)}
        if self.pack is not None:
            out["pack"] = self.pack
        return out

    def line(self) -> str:
        """``cap "offers per month": 3 of at most 3 ... -> deny``; a pack rule names its pack
        after its name, and citations follow in brackets (11.17)."""
        reason = f": {self.reason}" if self.reason else ""
        pack = f" ({self.pack} {self.pack_version})" if self.pack is not None else ""
        cite = f" [{'; '.join(self.cite)}]" if self.cite else ""
        return f'{self.kind} "{self.rule}"{pack}{reason} -> {self.verdict}{cite}'


@frozen
class Decision:
    """The evaluator's answer (section 7 of the language reference)."""

    request: Request
    allowed: bool
    denied_by: tuple[str, ...] = ()
    displaces: tuple[Contact, ...] = ()
    next_allowed_at: dt.datetime | None = None
    trace: tuple[TraceEntry, ...] = ()
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # 11.14: `warn` rules that would deny, in policy order
    # 11.17/11.18: (source, version) pairs: the packs the rules came from, the holidays package
    sources: tuple[tuple[str, str], ...] = ()

    def explain(self) -> str:
        """The decision and its trace as text a policy author can read."""
        req = self.request
        head = (
            f"{req.purpose} {req.channel} by {req.team} at {req.at.isoformat()}: "
            + ("ALLOWED" if self.allowed else "DENIED by " + ", ".join(f'"{n}"' for n in self.denied_by))
        )
        lines = [head]
        if self.warnings:
            lines.append("warnings: " + ", ".join(f'"{n}"' for n in self.warnings))
        if self.displaces:
            lines.append("displaces: " + "; ".join(c.describe() for c in self.displaces))
        if not self.allowed:
            when = self.next_allowed_at.isoformat() if self.next_allowed_at else "never (waiting does not help)"
            lines.append(f"next allowed at: {when}")
        lines.extend("  " + entry.line() for entry in self.trace)
        lines.extend(f"note: {note}" for note in self.notes)
        if self.sources:
            lines.append("sources: " + ", ".join(f"{k} {v}" for k, v in self.sources))
        return "\n".join(lines)

    def to_dict(self, scope: str | None = None, teams: Sequence[str] = ()) -> dict[str, object]:
        """The JSON object of section 10 (plus ``notes`` when the search gave up).

        ``scope`` (a team) gives what that team may see: see :mod:`policylang.disclosure`;
        ``teams`` are the policy's teams (a reason naming any other one is withheld).
        """
        if scope is not None:
            from policylang.disclosure import scoped_dict

            return scoped_dict(self, scope, teams or (scope,))
        out: dict[str, object] = {
            "allowed": self.allowed,
            "denied_by": list(self.denied_by),
            "displaces": [c.to_dict() for c in self.displaces],
            "next_allowed_at": self.next_allowed_at.isoformat() if self.next_allowed_at else None,
            "warnings": list(self.warnings),
            "trace": [t.to_dict() for t in self.trace],
            "sources": dict(self.sources),
        }
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def decided(request: Request, allowed: bool, denied_by: tuple[str, ...], displaces: tuple[Contact, ...],
            next_allowed_at: dt.datetime | None, trace: tuple[TraceEntry, ...], notes: tuple[str, ...],
            warnings: tuple[str, ...], sources: tuple[tuple[str, str], ...]) -> Decision:
    """``Decision(...)`` with every field given, its slots filled directly: the evaluator makes
    one per decision, and the frozen class's ``__init__`` sets each field through
    ``object.__setattr__`` (a method look-up and a name look-up each)."""
    decision: Decision = _NEW(Decision)
    _REQUEST(decision, request)
    _ALLOWED(decision, allowed)
    _DENIED_BY(decision, denied_by)
    _DISPLACES(decision, displaces)
    _NEXT_ALLOWED_AT(decision, next_allowed_at)
    _TRACE(decision, trace)
    _NOTES(decision, notes)
    _WARNINGS(decision, warnings)
    _SOURCES(decision, sources)
    return decision


_NEW = object.__new__
_REQUEST, _ALLOWED, _DENIED_BY, _DISPLACES, _NEXT_ALLOWED_AT, _TRACE, _NOTES, _WARNINGS, _SOURCES = (
    Decision.__dict__[spec.name].__set__ for spec in fields(Decision))
assert tuple(spec.name for spec in fields(Decision)) == (
    "request", "allowed", "denied_by", "displaces", "next_allowed_at", "trace", "notes", "warnings",
    "sources"), "decided() fills every field of Decision, in this order"

"""What a team may see of a decision: its own contacts, and only counts of everyone else's.

A decision's trace explains itself with the ledger: ``"marketing phone by private_banking
at 2026-11-23 15:00 with outcome conversation"``, a capacity rule's latest call to some
other customer, the contacts a grant displaces. That is right for the firm's own audit
(the default, ``scope=None``), and wrong for the cards team's dialler. A decision seen in
a team's *scope* keeps every rule name, kind and verdict, the counts, and the caller's
own team's contacts; another team's contact becomes ``a contact by another team``,
another customer's contact is not mentioned at all, and the contacts a grant displaces
are listed only when they are the caller's own (the others are counted).

The reduction works on the finished decision (the evaluator's wording stays in one
place) and fails closed: a reason that still names another team after it has been
reduced is replaced by a fixed text, so a future change of wording can withhold too much
but never show too much.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from policylang.decision import Decision, TraceEntry
from policylang.records import Contact
from policylang.slotted import evolve

WITHHELD = "details withheld: they concern other teams' contacts"

# the evaluator's wording of a contact: "PURPOSE CHANNEL by TEAM at WHEN[ (STATUS)][ with outcome O]"
_CONTACT = re.compile(
    r"(?P<purpose>[\w.-]+) (?P<channel>[\w.-]+) by (?P<team>[\w.-]+) at "
    r"(?P<when>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?(?:Z| ?[A-Z]{2,5}| ?[+-]\d{2}:?\d{2})?)"
    r"(?: \((?P<status>\w+)\))?(?: with outcome (?P<outcome>[\w.-]+))?"
)
# "(latest 2026-11-23 15:00 by private_banking)" after a cap's count
_LATEST = re.compile(r" ?\(latest [^()]*? by (?P<team>[\w.-]+)\)")
_DISPLACES = re.compile(r"; displaces (?P<list>.*)$")
# a rolling window's start is the first counted contact's time; a run of days, its first and last day
_WINDOW = re.compile(r" since \d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}\S*| on \d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2}")


def scoped_entry(entry: TraceEntry, team: str, teams: Iterable[str]) -> TraceEntry:
    """``entry`` as ``team`` may see it."""
    others = [t for t in teams if t != team]
    reason = entry.reason
    if entry.kind in ("cap", "capacity"):
        # when the counted contacts were says whose they were; the count is what the caller needs
        reason = _WINDOW.sub("", reason)
    if entry.kind == "capacity":
        # a capacity rule counts every customer: no contact of it is this customer's own
        reason = _LATEST.sub("", reason)
    else:
        reason = _LATEST.sub(lambda m: m.group(0) if m.group("team") == team else " (latest by another team)", reason)
    displaced = _DISPLACES.search(reason)
    if displaced:
        items = [m for m in _CONTACT.finditer(displaced.group("list"))]
        own = [m.group(0) for m in items if m.group("team") == team and entry.kind != "capacity"]
        hidden = len(items) - len(own)
        parts = own + ([f"{hidden} contact{'s' if hidden != 1 else ''} of other teams"] if hidden else [])
        reason = reason[: displaced.start()] + ("; displaces " + ", ".join(parts) if parts else "")
    reason = _CONTACT.sub(
        lambda m: m.group(0) if m.group("team") == team and entry.kind != "capacity" else "a contact by another team",
        reason,
    )
    if any(re.search(rf"\b{re.escape(other)}\b", reason) for other in others):
        reason = WITHHELD  # fail closed: wording this module does not know
    return evolve(entry, reason=reason)


def scoped_contacts(contacts: Sequence[Contact], team: str) -> tuple[list[dict[str, object]], int]:
    """The caller's own contacts in full, and how many others there were."""
    own = [c.to_dict() for c in contacts if c.team == team]
    return own, len(contacts) - len(own)


def scoped_decision(decision: Decision, team: str, teams: Iterable[str]) -> Decision:
    """``decision`` as ``team`` may see it: scoped trace, only the team's own displaced contacts."""
    names = tuple(teams)
    return evolve(
        decision,
        displaces=tuple(c for c in decision.displaces if c.team == team),
        trace=tuple(scoped_entry(t, team, names) for t in decision.trace),
    )


def scoped_dict(decision: Decision, team: str, teams: Iterable[str]) -> dict[str, object]:
    """The section 10 JSON of ``decision`` as ``team`` may see it.

    ``displaces`` lists only the team's own contacts; ``displaces_others`` counts the rest;
    ``scope`` names the team.
    """
    out = scoped_decision(decision, team, teams).to_dict()
    out["displaces_others"] = len(decision.displaces) - len(out["displaces"])  # type: ignore[arg-type]
    out["scope"] = team
    return out


def decision_dict(decision: Decision, scope: str | None, teams: Iterable[str]) -> dict[str, object]:
    """The full JSON (``scope`` None, the firm's own audit) or what team ``scope`` may see."""
    return decision.to_dict() if scope is None else scoped_dict(decision, scope, teams)

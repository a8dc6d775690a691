"""The words of scenario answers: instants, decisions, contacts and the ``expect`` line ``save`` writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from policylang import unparse
from policylang.decision import Decision
from policylang.records import Contact
from policylang.scenario.nodes import UTC, ContactSpec, RequestSpec

if TYPE_CHECKING:
    from policylang.scenario.runner import Answer


# ---- words -----------------------------------------------------------------------------


def format_wall(moment: dt.datetime) -> str:
    text = moment.strftime("%Y-%m-%d %H:%M")
    if moment.tzinfo is not None:
        text += " " + offset_text(moment)
    return text


def offset_text(moment: dt.datetime) -> str:
    offset = moment.utcoffset() or dt.timedelta(0)
    if offset == dt.timedelta(0) and moment.tzinfo is UTC:
        return "Z"
    sign = "-" if offset < dt.timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def format_instant(moment: dt.datetime, zone: dt.tzinfo) -> str:
    """An instant in the customer's local time, written so a scenario reads it back exactly."""
    local = moment.astimezone(zone)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")
    naive_back = local.replace(tzinfo=None).replace(tzinfo=zone)
    if naive_back.astimezone(UTC) != moment.astimezone(UTC):
        text += " " + offset_text(local)  # a repeated or skipped local time: say which
    return text


def quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def describe_decision(decision: Decision, zone: dt.tzinfo) -> str:
    """``allowed`` / ``denied by "a", "b" (next allowed at ...)``."""
    if decision.allowed:
        text = "allowed"
        if decision.displaces:
            text += ", displacing " + displaced_text(decision.displaces, zone)
        return text
    when = (
        format_instant(decision.next_allowed_at, zone)
        if decision.next_allowed_at
        else "never (waiting does not help)"
    )
    return f"denied by {quoted(decision.denied_by)} (next allowed at {when})"


def contact_text(contact: Contact, zone: dt.tzinfo) -> str:
    return f"{contact.purpose} {contact.channel} by {contact.team} at {format_instant(contact.at, zone)}"


def displaced_text(contacts: Sequence[Contact], zone: dt.tzinfo) -> str:
    return ", ".join(contact_text(c, zone) for c in contacts)


def spec_text(spec: ContactSpec) -> str:
    """The contact as written, normalised (by the one unparser)."""
    return unparse.text(spec)


def contact_fits(spec: ContactSpec, contact: Contact, zone: dt.tzinfo) -> bool:
    names = {n.value for n in spec.names}
    if names != {contact.purpose, contact.channel} or spec.team.value != contact.team:
        return False
    return spec.at is None or spec.at.resolve(zone) == contact.at



def request_text(spec: RequestSpec) -> str:
    """The request as written, normalised (by the one unparser)."""
    return unparse.text(spec)


def expectation_for(answer: Answer) -> str:
    """An ``expect`` line asserting everything an answer said (what ``save`` writes)."""
    statement = answer.statement
    decision = answer.decision
    head = f"expect {answer.customer}: {request_text(statement.request)}"
    if decision.allowed:
        checks = ["is allowed"]
        if decision.displaces:
            checks.append(
                "displaces "
                + ", ".join(
                    f"{c.purpose} {c.channel} by {c.team} at {format_instant(c.at, answer.zone)}"
                    for c in decision.displaces
                )
            )
        else:
            checks.append("displaces nothing")
    else:
        checks = [f"is denied by {quoted(decision.denied_by)}" if decision.denied_by else "is denied"]
        if decision.next_allowed_at is None:
            checks.append("next allowed never")
        else:
            checks.append(f"next allowed at {format_instant(decision.next_allowed_at, answer.zone)}")
    return head + " " + " and ".join(checks)

"""Deciding from a section 10 document (JSON values as received): the one place the service does it.

The body arrives already parsed (the service reads `policy` and the limits from it first), so
the ledger goes through the columnar fast path of :mod:`policylang.ingest`; a ledger the fast
path cannot prove well formed is validated line by line, for an error naming ``ledger[N]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policylang.decision import Decision
from policylang.errors import InputError
from policylang.ingest import well_formed_history
from policylang.inputs import customer_from_json, entry_from_json, request_from_json, where
from policylang.records import Customer, Entry, Request, resolve_voids
from policylang.rules import Policy
from policylang.service.errors import ServiceError, invalid


def parse_request(policy: Policy, obj: object, field: str = "request") -> Request:
    """The request of a document; 422 naming ``field`` when it breaks the contract."""
    if obj is None:
        raise ServiceError("invalid", f"the body has no `{field}`", field=field)
    try:
        return request_from_json(policy, obj, where(field))
    except InputError as exc:
        raise invalid(exc, field) from None


def parse_customer(policy: Policy, obj: object) -> Customer:
    try:
        return customer_from_json(policy, obj, where("customer"))
    except InputError as exc:
        raise invalid(exc, "customer") from None


def parse_ledger(policy: Policy, obj: object, limit: int) -> list[Entry]:
    """The inline ledger; 413 above ``limit`` entries, 422 naming the bad line (``ledger[3].at``)."""
    if obj is None:
        return []
    if not isinstance(obj, list):
        raise ServiceError("invalid", "`ledger` must be a list of ledger lines", field="ledger")
    if len(obj) > limit:
        raise ServiceError("too_large", f"the ledger has {len(obj)} entries, more than {limit}", field="ledger")
    out = []
    for index, line in enumerate(obj):
        try:
            out.append(entry_from_json(policy, line, where("ledger")))
        except InputError as exc:
            raise invalid(exc, f"ledger[{index}]") from None
    try:  # 11.4: void lines are checked against the whole ledger (the error's line is its position)
        resolve_voids(out, "ledger")
    except InputError as exc:
        raise invalid(exc, f"ledger[{exc.span.line - 1}]") from None
    return out


def decide_document(policy: Policy, body: Mapping[str, Any], request: Request, limit: int) -> tuple[Customer, Decision]:
    """Decide an inline document (``customer``, ``ledger``) for an already checked ``request``."""
    customer = parse_customer(policy, body["customer"])
    obj = body.get("ledger")
    fast = well_formed_history(policy, obj) if isinstance(obj, list) and len(obj) <= limit else None
    entries = fast if fast is not None else parse_ledger(policy, obj, limit)
    return customer, policy.decide(customer, request, entries, explain=True)

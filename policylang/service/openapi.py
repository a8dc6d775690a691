"""The service's OpenAPI 3.1 document (checked in as ``docs/openapi.json``; a test keeps them equal).

Run ``python -m policylang.service.openapi > docs/openapi.json`` after changing it.
"""

from __future__ import annotations

import json
from typing import Any

from policylang.service.errors import STATUS

_TEXT = {"type": "string"}
_INSTANT = {"type": "string", "format": "date-time", "description": "RFC 3339 with an offset"}

_REQUEST = {
    "type": "object",
    "required": ["team", "channel", "purpose", "at"],
    "additionalProperties": False,
    "properties": {
        "team": _TEXT, "channel": _TEXT, "purpose": _TEXT, "at": _INSTANT, "campaign": _TEXT,
        "priority": {"type": "integer"},
        "id": {"type": "string", "description": "idempotency key: a retried reserve returns the first answer"},
        "customer": _TEXT,
    },
}
_LEDGER_LINE = {"type": "object", "description": "a contact or an event, as one line of a JSONL ledger (section 10)"}
_CUSTOMER = {"type": "object", "description": "the customer record: `id` and the policy's customer attributes"}
_TRACE = {
    "type": "object",
    "required": ["rule", "kind", "verdict", "reason"],
    "properties": {"rule": _TEXT, "kind": _TEXT, "verdict": {"enum": ["deny", "pass", "skip", "exempt", "warn"]},
                   "reason": _TEXT,
                   "cite": {"type": "array", "items": _TEXT, "description": "the rule's citations (11.17)"},
                   "pack": {"type": "string", "description": "the pack the rule came from (11.17)"}},
}
_DECISION = {
    "type": "object",
    "required": ["allowed", "denied_by", "displaces", "next_allowed_at", "trace"],
    "properties": {
        "allowed": {"type": "boolean"},
        "denied_by": {"type": "array", "items": _TEXT},
        "displaces": {"type": "array", "items": _LEDGER_LINE},
        "displaces_others": {"type": "integer", "description": "without the audit role: other teams' contacts displaced"},
        "next_allowed_at": {"type": ["string", "null"], "format": "date-time"},
        "trace": {"type": "array", "items": _TRACE},
        "warnings": {"type": "array", "items": _TEXT, "description": "`warn` rules that would deny (section 11.14)"},
        "sources": {"type": "object", "additionalProperties": _TEXT,
                    "description": "versions of what the decision used beyond the policy text: the packs (11.17), "
                                   "the holidays package (11.18)"},
        "notes": {"type": "array", "items": _TEXT},
        "scope": {"type": "string", "description": "the team whose view this is (absent: the full audit view)"},
        "policy": _TEXT,
        "policy_version": {"type": "string", "description": "16 hex digits of the SHA-256 of the policy text and of every file it includes (11.17)"},
    },
}
_STATE = {
    "type": "object",
    "required": ["reservation", "state", "expires_at", "displaced_by", "contact"],
    "properties": {
        "reservation": _TEXT,
        "state": {"enum": ["planned", "sent", "displaced", "released", "expired"]},
        "expires_at": {"type": ["string", "null"]},
        "displaced_by": {"type": ["string", "null"]},
        "contact": _LEDGER_LINE,
    },
}
_RESERVATION = {
    "type": "object",
    "required": ["reservation", "allowed", "expires_at", "contact", "displaced", "decision", "policy", "policy_version"],
    "properties": {
        "reservation": {"type": ["string", "null"]},
        "allowed": {"type": "boolean"},
        "expires_at": {"type": ["string", "null"]},
        "contact": {"type": ["object", "null"]},
        "displaced": {"type": "array", "items": _LEDGER_LINE},
        "displaced_others": {"type": "integer"},
        "decision": _DECISION,
        "policy": _TEXT,
        "policy_version": _TEXT,
    },
}
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"enum": sorted(STATUS)}, "message": _TEXT, "field": _TEXT, "hint": _TEXT},
        }
    },
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in codes:
        out[str(STATUS[code])] = {"description": code, **_json({"$ref": "#/components/schemas/Error"})}
    return out


_AUTH = ("unauthorized", "rate_limited")
_BODY = ("malformed_json", "too_large", "invalid")


def _post(summary: str, body: dict[str, Any], answer: dict[str, Any], *codes: str) -> dict[str, Any]:
    return {"post": {
        "summary": summary,
        "requestBody": {"required": True, **_json(body)},
        "responses": {"200": {"description": "the answer", **_json(answer)}, **_errors(*_AUTH, *_BODY, *codes)},
    }}


def _get(summary: str, answer: dict[str, Any], *codes: str, media: str = "application/json") -> dict[str, Any]:
    content = {"content": {media: {"schema": answer}}}
    return {"get": {"summary": summary, "responses": {"200": {"description": "the answer", **content},
                                                       **_errors(*codes)}}}


def document() -> dict[str, Any]:
    """The OpenAPI document."""
    decide_body = {
        "type": "object", "required": ["request"], "additionalProperties": False,
        "properties": {"policy": _TEXT, "customer": _CUSTOMER, "customer_id": _TEXT,
                       "ledger": {"type": "array", "items": _LEDGER_LINE}, "request": _REQUEST},
    }
    reserve_body = {
        "type": "object", "required": ["request"], "additionalProperties": False,
        "properties": {"policy": _TEXT, "customer": _CUSTOMER, "customer_id": _TEXT, "request": _REQUEST},
    }
    close_body = {
        "type": "object", "required": ["reservation"], "additionalProperties": False,
        "properties": {"reservation": _TEXT, "outcome": _TEXT},
    }
    arbitrate_body = {
        "type": "object", "required": ["requests"], "additionalProperties": False,
        "properties": {"policy": _TEXT, "customer": _CUSTOMER, "customer_id": _TEXT,
                       "ledger": {"type": "array", "items": _LEDGER_LINE},
                       "requests": {"type": "array", "items": _REQUEST}},
    }
    rulings = {"type": "object", "required": ["policy", "policy_version", "rulings"], "properties": {
        "policy": _TEXT, "policy_version": _TEXT,
        "rulings": {"type": "array", "items": {"type": "object", "properties": {
            "position": {"type": "integer"}, "decision": _DECISION}}},
    }}
    policies = {"type": "object", "properties": {"policies": {"type": "array", "items": {"type": "object", "properties": {
        "name": _TEXT, "version": _TEXT, "loaded_at": _TEXT,
        "refused": {"type": ["object", "null"], "properties": {
            "version": _TEXT, "refused_at": _TEXT, "errors": {"type": "array", "items": _TEXT}}},
    }}}}}
    status = {"type": "object", "properties": {"status": _TEXT}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "policylang decision service",
            "version": "1",
            "description": "One contact policy for every team's systems. Errors answer "
                           '{"error": {"code", "message", "field"?}}. Send the key as '
                           "`Authorization: Bearer KEY` or `X-API-Key: KEY` when the server has a keys file.",
        },
        "components": {
            "schemas": {"Error": _ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": {
            "/v1/decide": _post("Decide one request (section 10 document, or customer_id from the ledger)",
                                decide_body, _DECISION, "forbidden", "not_found", "unavailable"),
            "/v1/reserve": _post("Decide and, when allowed, record the contact as planned, atomically",
                                 reserve_body, _RESERVATION, "forbidden", "not_found", "unavailable"),
            "/v1/confirm": _post("Mark a reservation sent (with its outcome)", close_body, _STATE,
                                 "forbidden", "not_found", "conflict", "unavailable"),
            "/v1/release": _post("Give a reservation back", close_body, _STATE,
                                 "forbidden", "not_found", "conflict", "unavailable"),
            "/v1/arbitrate": _post("Decide one customer's cycle of requests", arbitrate_body, rulings,
                                   "forbidden", "not_found", "unavailable"),
            "/v1/policies": _get("Loaded policies, versions, and the last refused version of each", policies,
                                 *_AUTH),
            "/healthz": _get("The process answers", status),
            "/readyz": _get("Policies loaded and the ledger reachable", status, "unavailable"),
            "/metrics": _get("Prometheus metrics", {"type": "string"}, media="text/plain"),
            "/openapi.json": _get("This document", {"type": "object"}),
            "/v1/empty": _get("Does nothing (the benchmarks' floor)", {"type": "object"}),
        },
    }


if __name__ == "__main__":
    print(json.dumps(document(), indent=2))

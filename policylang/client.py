"""A small Python client of the decision service (``policylang serve``), over httpx.

    from policylang.client import Client
    with Client("http://127.0.0.1:8080", key="cards-7f3a...") as service:
        answer = service.decide(customer={...}, ledger=[...], request={...}, policy="northwind")
        if answer["allowed"]:
            ...
        held = service.reserve(customer_id="ada", request={..., "id": "dialler-42"})
        service.confirm(held["reservation"], outcome="delivered")

Answers are the service's JSON objects. An error answer raises :class:`ServiceError` with
its status, code, message and field; a 503 or a connection failure is retried
(``retries`` times, honouring ``Retry-After``) for the idempotent calls: decisions, and a
reserve whose request carries an ``id`` (the service answers a retried id with the first
reservation).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from policylang.errors import PolicylangError


class ServiceError(PolicylangError):
    """The service answered with an error status."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}" + (f" (field {field})" if field else ""))
        self.status = status
        self.code = code
        self.field = field
        self.retry_after = retry_after


class Client:
    """One connection pool to one service; use as a context manager or call :meth:`close`."""

    def __init__(self, url: str, *, key: str | None = None, timeout: float = 10.0, retries: int = 3,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=url, headers=headers, timeout=timeout, transport=transport)
        self.retries = retries

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ---- the endpoints -----------------------------------------------------------------------

    def decide(self, request: Mapping[str, Any], *, customer: Mapping[str, Any] | None = None,
               customer_id: str | None = None, ledger: Sequence[Mapping[str, Any]] | None = None,
               policy: str | None = None) -> dict[str, Any]:
        """A decision: the section 10 JSON plus ``policy`` and ``policy_version``."""
        body = _body(policy=policy, customer=customer, customer_id=customer_id, ledger=ledger, request=request)
        return self._call("POST", "/v1/decide", body, retry=True)

    def reserve(self, request: Mapping[str, Any], *, customer: Mapping[str, Any] | None = None,
                customer_id: str | None = None, policy: str | None = None) -> dict[str, Any]:
        """Decide and, when allowed, hold the contact as planned; retried only with ``request["id"]``."""
        body = _body(policy=policy, customer=customer, customer_id=customer_id, request=request)
        return self._call("POST", "/v1/reserve", body, retry="id" in request)

    def confirm(self, reservation: str, outcome: str | None = None) -> dict[str, Any]:
        return self._call("POST", "/v1/confirm", _body(reservation=reservation, outcome=outcome), retry=True)

    def release(self, reservation: str) -> dict[str, Any]:
        return self._call("POST", "/v1/release", {"reservation": reservation}, retry=True)

    def arbitrate(self, requests: Sequence[Mapping[str, Any]], *, customer: Mapping[str, Any] | None = None,
                  customer_id: str | None = None, ledger: Sequence[Mapping[str, Any]] | None = None,
                  policy: str | None = None) -> dict[str, Any]:
        body = _body(policy=policy, customer=customer, customer_id=customer_id, ledger=ledger, requests=requests)
        return self._call("POST", "/v1/arbitrate", body, retry=True)

    def policies(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v1/policies", None, retry=True)["policies"])

    def ready(self) -> bool:
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    # ---- plumbing ------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: object, *, retry: bool) -> dict[str, Any]:
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.request(method, path, json=body)
            except httpx.TransportError as exc:
                if last:
                    raise ServiceError(0, "unreachable", f"{self._http.base_url}: {exc}") from None
                time.sleep(min(2.0, 0.1 * 2**attempt))
                continue
            if response.status_code == 200:
                answer: dict[str, Any] = response.json()
                return answer
            error = _error(response)
            if error.status == 503 and not last:
                time.sleep(min(error.retry_after or 1.0, 5.0))
                continue
            raise error
        raise AssertionError("unreachable")  # the loop returns or raises


def _body(**fields: object) -> dict[str, object]:
    return {k: v for k, v in fields.items() if v is not None}


def _error(response: httpx.Response) -> ServiceError:
    retry_after = response.headers.get("retry-after")
    try:
        error = response.json()["error"]
        code, message, field = str(error["code"]), str(error["message"]), error.get("field")
    except (ValueError, KeyError, TypeError):
        code, message, field = "http", response.text[:200], None
    return ServiceError(response.status_code, code, message, field,
                        float(retry_after) if retry_after and retry_after.isdigit() else None)

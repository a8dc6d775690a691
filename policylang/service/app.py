"""The decision service: the ASGI application behind ``policylang serve``.

Endpoints (the OpenAPI document in ``docs/openapi.json`` is the contract):

- ``POST /v1/decide`` - one decision; the section 10 document inline, or ``customer_id`` to
  read the customer and its ledger from the shared ledger;
- ``POST /v1/reserve``, ``/v1/confirm``, ``/v1/release`` - the shared ledger's operations;
- ``POST /v1/arbitrate`` - one customer's cycle of requests;
- ``GET /v1/policies``, ``/healthz``, ``/readyz``, ``/metrics``, ``/openapi.json``.

Starlette without FastAPI: the handlers validate with :mod:`policylang.inputs` (the same
checks and messages as the command line), so a second schema layer would only add cost.
Ledger calls run on a thread a pooled connection; decisions from inline input run on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import msgspec
import orjson
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Send

from policylang import disclosure
from policylang.arbitration import arbitrate
from policylang.decision import Decision
from policylang.errors import InputError, PolicylangError
from policylang.ingest import fast_strict_json
from policylang.inputs import strict_json
from policylang.ledger import Ledger, LedgerError, Reservation, ReservationError, ReservationState
from policylang.records import Customer, Entry, Request
from policylang.service import audit as audit_log
from policylang.service import documents
from policylang.service.errors import ServiceError
from policylang.service.keys import OPEN, Key, Keys
from policylang.service.metrics import Metrics
from policylang.service.openapi import document
from policylang.service.reload import Loaded, PolicySet, Watcher
from policylang.service.store import Store, Unavailable

log = logging.getLogger("policylang.service")

DEFAULT_MAX_BODY = 1 << 20  # bytes
DEFAULT_MAX_LEDGER = 10_000  # entries in an inline ledger
DEFAULT_MAX_REQUESTS = 1_000  # requests in one arbitration


@attrs.frozen(slots=True)
class Settings:
    """What ``policylang serve`` was asked for; every worker process builds its app from it."""

    policies: str
    ledger: str = "memory:"
    keys: str | None = None
    audit_log: str | None = None
    reload_interval: float = 1.0
    max_body: int = DEFAULT_MAX_BODY
    max_ledger: int = DEFAULT_MAX_LEDGER
    pool: int = 4

    def to_env(self) -> str:
        return json.dumps(attrs.asdict(self))

    @classmethod
    def from_env(cls, text: str) -> Settings:
        return cls(**json.loads(text))


ENV = "POLICYLANG_SERVE_SETTINGS"


def dumps(value: object) -> bytes:
    """Compact UTF-8 JSON, as ``json.dumps(ensure_ascii=False, separators=(",", ":"))`` writes it.

    orjson writes the same text about twenty times faster (3 us for a decision's answer, where
    json.dumps took 60); a value it refuses (a key that is not a text, an integer past 64
    bits) goes to json.dumps."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# The envelope of an inline decision, decoded without parsing the section 10 parts: the
# customer, request and ledger stay raw JSON slices that the policy's own typed decoder
# (Policy.decide_json) reads. Anything this shape refuses goes to the validating path.
class _Envelope(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    policy: str | msgspec.UnsetType = msgspec.UNSET
    customer: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    customer_id: str | msgspec.UnsetType = msgspec.UNSET
    ledger: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    request: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


_ENVELOPE = msgspec.json.Decoder(_Envelope)


def json_response(value: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps(value), status, headers=dict(headers or {}), media_type="application/json")


class Service:
    """The state one worker serves from: policies, keys, ledger pool, decision log, metrics."""

    def __init__(self, settings: Settings, *, watch: bool = True) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.policies = PolicySet(settings.policies, on_reload=self.metrics.reload)
        teams = frozenset(t for p in self.policies.current.values() for t in p.policy.vocabulary.get("teams", ()))
        self.keys = Keys.load(settings.keys, teams) if settings.keys else None
        self.store = Store(settings.ledger, size=settings.pool, on_error=self.metrics.ledger_error)
        # Ledger calls block (a database round trip), so they run on threads: one per pooled
        # connection. A plain executor rather than Starlette's run_in_threadpool (anyio): the
        # hop costs about 80 us of CPU a call instead of 180, and a reservation makes one.
        self.threads = ThreadPoolExecutor(self.store.size, thread_name_prefix="policylang-ledger")
        self.audit = audit_log.AuditLog(settings.audit_log) if settings.audit_log else None
        self.watcher = Watcher(self.policies, settings.reload_interval) if watch and settings.reload_interval > 0 else None
        if self.watcher:
            self.watcher.start()

    def close(self) -> None:
        if self.watcher:
            self.watcher.stop()
        self.threads.shutdown(wait=True)
        self.store.close()
        if self.audit:
            self.audit.close()

    # ---- request plumbing ---------------------------------------------------------------

    def caller(self, request: HttpRequest) -> Key:
        """The key of the request; 401 without a known one, 429 over its rate."""
        if self.keys is None:
            return OPEN
        token = request.headers.get("x-api-key")
        header = request.headers.get("authorization", "")
        if token is None and header[:7].lower() == "bearer ":
            token = header[7:].strip()
        if not token:
            raise ServiceError("unauthorized", "no API key", hint="send Authorization: Bearer KEY or X-API-Key: KEY",
                               headers={"WWW-Authenticate": "Bearer"})
        key = self.keys.find(token)
        if key is None:
            raise ServiceError("unauthorized", "unknown API key", headers={"WWW-Authenticate": "Bearer"})
        wait = self.keys.wait(key)
        if wait > 0:
            raise ServiceError("rate_limited", f"more than {key.rate:g} requests a second for this key",
                               headers={"Retry-After": str(max(1, round(wait + 0.5)))})
        return key

    async def raw_body(self, request: HttpRequest) -> bytes:
        """The bytes of the request body; 413 over the size limit."""
        limit = self.settings.max_body
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ServiceError("too_large", f"the request body is over {limit} bytes")
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ServiceError("too_large", f"the request body is over {limit} bytes")
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def body(self, request: HttpRequest) -> dict[str, Any]:
        """The JSON object of the request; 413 over the size limit, 400 when not JSON."""
        return self.parse(await self.raw_body(request))

    @staticmethod
    def parse(data: bytes) -> dict[str, Any]:
        """The JSON object ``data`` holds; 400 when not JSON, 422 when not an object."""
        # issue 11: orjson where it can prove the strict parser would accept the text
        obj = fast_strict_json(data)
        try:
            if obj is None:
                obj = strict_json(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            where_ = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            why = f": {exc.msg}" if isinstance(exc, json.JSONDecodeError) else ""
            raise ServiceError("malformed_json", f"the body is not valid JSON{where_}{why}") from None
        if not isinstance(obj, dict):
            raise ServiceError("invalid", "the body must be a JSON object")
        return obj

    def policy(self, body: Mapping[str, Any]) -> Loaded:
        """The policy a body names (or the only one); 404 for an unknown name."""
        return self.named(body.get("policy"))

    def named(self, name: object) -> Loaded:
        """The policy called ``name`` (None: the only one); 404 for an unknown name."""
        current = self.policies.current  # one snapshot for the whole request
        if name is None:
            if len(current) == 1:
                return next(iter(current.values()))
            raise ServiceError("invalid", "several policies are loaded: name one with `policy`", field="policy",
                               hint="loaded: " + ", ".join(sorted(current)))
        if not isinstance(name, str):
            raise ServiceError("invalid", "`policy` must be a text (a policy file's stem)", field="policy")
        found = current.get(name)
        if found is None:
            raise ServiceError("not_found", f"no policy {name!r} is loaded", field="policy",
                               hint="loaded: " + ", ".join(sorted(current)))
        return found

    @staticmethod
    def fields(body: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
        for name in body:
            if name not in allowed:
                raise ServiceError("invalid", f"unknown field `{name}`", field=name,
                                   hint="the fields are " + ", ".join(allowed))

    def request_of(self, loaded: Loaded, obj: object, key: Key, field: str = "request") -> Request:
        req = documents.parse_request(loaded.policy, obj, field)
        if not key.may_act_for(req.team):
            raise ServiceError("forbidden", f"this key acts for {key.team}, not for {req.team}", field=f"{field}.team")
        return req

    def customer_of(self, loaded: Loaded, body: Mapping[str, Any]) -> Customer | str:
        """The inline customer record, or the id of a stored one."""
        has_record, has_id = "customer" in body, "customer_id" in body
        if has_record == has_id:
            raise ServiceError("invalid", "give exactly one of `customer` and `customer_id`", field="customer")
        if has_id:
            ident = body["customer_id"]
            if not isinstance(ident, str) or not ident:
                raise ServiceError("invalid", "`customer_id` must be a non-empty text", field="customer_id")
            if "ledger" in body:
                raise ServiceError("invalid", "`ledger` comes from the shared ledger when `customer_id` is given",
                                   field="ledger")
            return ident
        return documents.parse_customer(loaded.policy, body["customer"])

    def ledger_of(self, loaded: Loaded, obj: object) -> list[Entry]:
        return documents.parse_ledger(loaded.policy, obj, self.settings.max_ledger)

    async def ledger_call(self, call: Callable[[Ledger], Any]) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(self.threads, self.store.run, call)
        except Unavailable as exc:
            raise ServiceError("unavailable", "the ledger is unavailable; retry later",
                               headers={"Retry-After": str(max(1, round(exc.retry_after + 0.5)))}) from None

    async def stored(self, loaded: Loaded, ident: str,
                     request: Request | None = None) -> tuple[Customer, list[Entry], Decision | None]:  # fmt: skip
        """A stored customer and its ledger, for a decision by id; 404 when unknown. With
        ``request``, also its decision, in the same call on the ledger's thread (one hop)."""

        def read(ledger: Ledger) -> tuple[Customer | None, list[Entry], Decision | None]:
            customer, entries = ledger.customer(loaded.policy, ident), ledger.events(ident)
            if request is None or customer is None or len(entries) > self.settings.max_ledger:
                return customer, entries, None
            return customer, entries, loaded.policy.decide(customer, request, entries, explain=True, loads=ledger)

        try:
            customer, entries, decision = await self.ledger_call(read)
        except InputError:
            # the stored record does not fit this policy: say so without echoing its values
            raise ServiceError("invalid", f"the stored record of customer {ident!r} does not fit policy {loaded.name}",
                               field="customer_id") from None
        if customer is None:
            raise ServiceError("not_found", f"no customer {ident!r} in the ledger", field="customer_id")
        if len(entries) > self.settings.max_ledger:
            raise ServiceError("too_large", f"customer {ident!r} has more than {self.settings.max_ledger} ledger entries",
                               field="customer_id")
        return customer, entries, decision

    def answer(self, loaded: Loaded, decision: Decision, key: Key) -> dict[str, object]:
        scope = None if key.audit else key.team
        out = disclosure.decision_dict(decision, scope, loaded.policy.vocabulary.get("teams", ()))
        out["policy"] = loaded.name
        out["policy_version"] = loaded.version
        return out

    def logged(self, endpoint: str, key: Key, loaded: Loaded, customer: str | None, inputs: bytes,
               decision: Decision, reservation: str | None = None) -> None:
        self.metrics.decision(loaded.name, decision.allowed, decision.denied_by)
        if self.audit is not None:
            self.audit.append(audit_log.record(
                endpoint=endpoint, team=key.team, key=key.label, policy=loaded.name, version=loaded.version,
                customer=customer, inputs=inputs, decision=decision, reservation=reservation,
            ))

    # ---- endpoints ----------------------------------------------------------------------------

    def inline(self, data: bytes, key: Key) -> tuple[Loaded, Decision, bytes] | None:
        """An inline decision by the policy's typed decoder (``Policy.decide_json``) and the
        customer's raw JSON, or None when the body is not plainly well formed: the validating
        path then answers (the same decision, or the error naming the field).

        The envelope is decoded with the three parts kept as raw slices, which are joined into
        the section 10 document unparsed (``decide_json`` proves the parts strict itself). The
        strict parser refuses a key given twice where this decoder keeps the last, so the body
        must be shown to repeat none: a repeated key adds at least 11 bytes outside the parts
        (``,"ledger":0``), so a body whose envelope is less than 11 bytes longer than its
        compact spelling repeats none (two bytes more for each ", " and ": " of json.dumps);
        any other body is checked by counting quotes, which a repeated key would add to."""
        if b"\\" in data:
            return None  # an escape could spell a key two ways
        try:
            env = _ENVELOPE.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if env.customer is msgspec.UNSET or env.request is msgspec.UNSET or env.customer_id is not msgspec.UNSET:
            return None
        customer, request = bytes(env.customer), bytes(env.request)
        parts = [b'{"customer":', customer, b',"request":', request]
        inside = len(customer) + len(request)
        compact = 2 + 11 + 1 + 10  # {} "customer": , "request":
        if env.policy is not msgspec.UNSET:
            compact += 1 + 9 + 2 + len(env.policy.encode())  # , "policy": "NAME"
        if env.ledger is not msgspec.UNSET:
            ledger = bytes(env.ledger)
            # every line decide_json accepts is an object with an `at`, at least 9 bytes and a
            # comma: a shorter text cannot hold too many lines; a longer one has them counted
            if len(ledger) > 10 * self.settings.max_ledger and ledger.count(b"{") > self.settings.max_ledger:
                return None
            parts += [b',"ledger":', ledger]
            inside += len(ledger)
            compact += 1 + 9
        if len(data) - inside - compact >= 11:
            quotes = 4 + customer.count(b'"') + request.count(b'"')
            if env.policy is not msgspec.UNSET:
                quotes += 4
            if env.ledger is not msgspec.UNSET:
                quotes += 2 + ledger.count(b'"')
            if data.count(b'"') != quotes:
                return None
        loaded = self.named(None if env.policy is msgspec.UNSET else env.policy)
        parts.append(b"}")
        try:
            decision = loaded.policy.decide_json(b"".join(parts), file="body")
        except PolicylangError:
            return None
        if not key.may_act_for(decision.request.team):
            return None  # the validating path says 403 before anything else about the body
        return loaded, decision, customer

    async def decide(self, request: HttpRequest) -> Response:
        key = self.caller(request)
        if "decide" not in key.roles:
            raise ServiceError("forbidden", "this key may not ask for decisions", hint="give it the `decide` role")
        data = await self.raw_body(request)
        fast = self.inline(data, key)
        if fast is not None:
            loaded, decision, customer_json = fast
            if self.audit is not None:
                ident = orjson.loads(customer_json).get("id")  # the customer was valid: a text or absent
                self.logged("decide", key, loaded, ident or None, data, decision)
            else:
                self.metrics.decision(loaded.name, decision.allowed, decision.denied_by)
            return json_response(self.answer(loaded, decision, key))
        body = self.parse(data)
        self.fields(body, ("policy", "customer", "customer_id", "ledger", "request"))
        loaded = self.policy(body)
        req = self.request_of(loaded, body.get("request"), key)
        if "customer" in body and "customer_id" not in body:
            customer, decision = documents.decide_document(loaded.policy, body, req, self.settings.max_ledger)
        else:
            ident = self.customer_of(loaded, body)
            assert isinstance(ident, str)
            customer, _, found = await self.stored(loaded, ident, req)
            assert found is not None  # stored() answered 404 or 413 otherwise
            decision = found
        self.logged("decide", key, loaded, customer.id or None, data, decision)
        return json_response(self.answer(loaded, decision, key))

    async def reserve(self, request: HttpRequest) -> Response:
        key = self.caller(request)
        if "reserve" not in key.roles:
            raise ServiceError("forbidden", "this key may not reserve", hint="give it the `reserve` role")
        data = await self.raw_body(request)
        body = self.parse(data)
        self.fields(body, ("policy", "customer", "customer_id", "request"))
        loaded = self.policy(body)
        req = self.request_of(loaded, body.get("request"), key)
        who = self.customer_of(loaded, body)
        ident = who if isinstance(who, str) else who.id
        if not ident:
            raise ServiceError("invalid", "the customer has no `id`; the ledger keeps contacts by customer id",
                               field="customer.id")
        try:
            reservation: Reservation = await self.ledger_call(
                lambda ledger: ledger.reserve(loaded.policy, who, req)
            )
        except LedgerError as exc:
            if isinstance(who, str) and "no customer" in exc.message:
                raise ServiceError("not_found", f"no customer {ident!r} in the ledger", field="customer_id") from None
            # a ledger's message may describe stored contacts: only the audit role reads it
            message = exc.message if key.audit else "the ledger refused this reservation"
            raise ServiceError("invalid", message, hint=exc.hint if key.audit else None) from None
        except InputError:
            raise ServiceError("invalid", f"the stored record of customer {ident!r} does not fit policy {loaded.name}",
                               field="customer_id") from None
        self.logged("reserve", key, loaded, ident, data, reservation.decision, reservation.id)
        teams = loaded.policy.vocabulary.get("teams", ())
        out = reservation.to_dict(disclosure.decision_dict(reservation.decision, None if key.audit else key.team, teams))
        if not key.audit:
            out["displaced"], out["displaced_others"] = disclosure.scoped_contacts(reservation.displaced, key.team)
        out["policy"] = loaded.name
        out["policy_version"] = loaded.version
        return json_response(out)

    async def _close(self, request: HttpRequest, to: str) -> Response:
        key = self.caller(request)
        if "reserve" not in key.roles:
            raise ServiceError("forbidden", "this key may not confirm or release", hint="give it the `reserve` role")
        body = await self.body(request)
        self.fields(body, ("reservation", "outcome") if to == "sent" else ("reservation",))
        ident = body.get("reservation")
        if not isinstance(ident, str) or not ident:
            raise ServiceError("invalid", "`reservation` must be a reservation id", field="reservation")
        outcome = body.get("outcome")
        if outcome is not None:
            if not isinstance(outcome, str):
                raise ServiceError("invalid", "`outcome` must be a text", field="outcome")
            outcomes = {o for p in self.policies.current.values() for o in p.policy.outcomes}
            if outcome not in outcomes:
                raise ServiceError("invalid", f"`{outcome}` is not an outcome of the loaded policies", field="outcome",
                                   hint="declared: " + (", ".join(sorted(outcomes)) or "none"))

        def close(ledger: Ledger) -> ReservationState:
            state = ledger.reservation(ident)
            if not key.may_act_for(state.contact.team):
                raise ServiceError("forbidden", f"this key acts for {key.team}, not for {state.contact.team}",
                                   field="reservation")
            return ledger.confirm(ident, outcome=outcome) if to == "sent" else ledger.release(ident)

        try:
            state = await self.ledger_call(close)
        except ReservationError as exc:
            raise ServiceError("conflict", exc.message, field="reservation", hint=exc.hint) from None
        except LedgerError as exc:
            raise ServiceError("not_found", exc.message, field="reservation") from None
        return json_response(state.to_dict())

    async def confirm(self, request: HttpRequest) -> Response:
        return await self._close(request, "sent")

    async def release(self, request: HttpRequest) -> Response:
        return await self._close(request, "released")

    async def arbitrate(self, request: HttpRequest) -> Response:
        key = self.caller(request)
        if "decide" not in key.roles:
            raise ServiceError("forbidden", "this key may not ask for decisions", hint="give it the `decide` role")
        data = await self.raw_body(request)
        body = self.parse(data)
        self.fields(body, ("policy", "customer", "customer_id", "ledger", "requests"))
        loaded = self.policy(body)
        raw = body.get("requests")
        if not isinstance(raw, list) or not raw:
            raise ServiceError("invalid", "`requests` must be a non-empty list of requests", field="requests")
        if len(raw) > DEFAULT_MAX_REQUESTS:
            raise ServiceError("too_large", f"more than {DEFAULT_MAX_REQUESTS} requests in one cycle", field="requests")
        reqs = [self.request_of(loaded, obj, key, f"requests[{i}]") for i, obj in enumerate(raw)]
        who = self.customer_of(loaded, body)
        if isinstance(who, str):
            customer, entries, _ = await self.stored(loaded, who)
            rulings = await self.ledger_call(
                lambda ledger: arbitrate(loaded.policy, customer, reqs, entries, explain=True, loads=ledger)
            )
        else:
            customer = who
            entries = self.ledger_of(loaded, body.get("ledger"))
            rulings = arbitrate(loaded.policy, customer, reqs, entries, explain=True)
        out = []
        for ruling in rulings:
            self.logged("arbitrate", key, loaded, customer.id or None, data, ruling.decision)
            out.append({"position": ruling.position, "decision": self.answer(loaded, ruling.decision, key)})
        return json_response({"policy": loaded.name, "policy_version": loaded.version, "rulings": out})

    async def list_policies(self, request: HttpRequest) -> Response:
        self.caller(request)
        current, refused = self.policies.current, self.policies.refused
        names = sorted({*current, *refused})
        out = []
        for name in names:
            item: dict[str, object] = {"name": name}
            if name in current:
                item.update(current[name].to_dict())
            item["refused"] = refused[name].to_dict() if name in refused else None
            out.append(item)
        return json_response({"policies": out})

    async def healthz(self, request: HttpRequest) -> Response:
        return json_response({"status": "ok"})

    async def readyz(self, request: HttpRequest) -> Response:
        ready = await asyncio.get_running_loop().run_in_executor(self.threads, self.store.ready)
        loaded = bool(self.policies.current)
        body = {"ledger": "reachable" if ready else "unreachable", "policies": len(self.policies.current)}
        if ready and loaded:
            return json_response({"status": "ready", **body})
        return json_response({"status": "not ready", **body}, 503, headers={"Retry-After": "1"})

    async def metrics_text(self, request: HttpRequest) -> Response:
        return PlainTextResponse(self.metrics.render(), media_type="text/plain; version=0.0.4")

    async def openapi(self, request: HttpRequest) -> Response:
        return json_response(document())

    async def empty(self, request: HttpRequest) -> Response:
        """The floor of the benchmarks: the same server, no work."""
        return json_response({})


Handler = Callable[[HttpRequest], Awaitable[Response]]


def guarded(service: Service, name: str, handler: Handler) -> Handler:
    """Every error as its JSON body and status; latency and status counted per endpoint."""

    async def endpoint(request: HttpRequest) -> Response:
        start = time.perf_counter()
        try:
            response = await handler(request)
        except ServiceError as exc:
            response = json_response(exc.body(), exc.status, exc.headers)
        except PolicylangError as exc:
            # an error of ours that a handler did not place: the input's fault, never a traceback
            response = json_response(ServiceError("invalid", exc.message, hint=exc.hint).body(), 422)
        except Exception:
            log.exception("internal error in %s", name)  # the traceback names no key and no input
            response = json_response(ServiceError("internal", "internal error").body(), 500)
        service.metrics.observe(name, response.status_code, time.perf_counter() - start)
        return response

    return endpoint


def build(settings: Settings, *, watch: bool = True) -> Front:
    """The application for ``settings``."""
    service = Service(settings, watch=watch)
    routes = [
        ("/v1/decide", "POST", service.decide),
        ("/v1/reserve", "POST", service.reserve),
        ("/v1/confirm", "POST", service.confirm),
        ("/v1/release", "POST", service.release),
        ("/v1/arbitrate", "POST", service.arbitrate),
        ("/v1/policies", "GET", service.list_policies),
        ("/healthz", "GET", service.healthz),
        ("/readyz", "GET", service.readyz),
        ("/metrics", "GET", service.metrics_text),
        ("/openapi.json", "GET", service.openapi),
        ("/v1/empty", "GET", service.empty),
    ]

    async def not_found(request: HttpRequest, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 404)
        if code == 405:
            return json_response(ServiceError("method_not_allowed", f"{request.method} is not served at {request.url.path}")
                                 .body(), 405)
        return json_response(ServiceError("not_found", f"no endpoint {request.url.path}").body(), 404)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        service.close()  # after uvicorn has drained the requests in flight

    endpoints = {(method, path): guarded(service, path, fn) for path, method, fn in routes}
    app = Starlette(
        routes=[Route(path, endpoints[method, path], methods=[method]) for path, method, fn in routes],
        exception_handlers={404: not_found, 405: not_found},
        lifespan=lifespan,
    )
    app.state.service = service
    return Front(app, endpoints)


class Front:
    """The application uvicorn serves: a request for one of the service's own endpoints goes
    straight to it; anything else (lifespan, an unknown path or method) to Starlette.

    Every endpoint already answers every error itself (:func:`guarded`), so Starlette's
    exception middleware and its route matching (a regular expression a route, in order)
    only add cost: about half of an empty request's time in the application."""

    def __init__(self, app: Starlette, endpoints: Mapping[tuple[str, str], Handler]) -> None:
        self.app = app
        self.state = app.state
        self.endpoints = dict(endpoints)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self.endpoints.get((scope["method"], scope["path"]))
            if handler is not None and not scope.get("root_path"):
                response = await handler(HttpRequest(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def from_env() -> Front:
    """The factory uvicorn calls in each worker (``policylang serve`` sets the environment)."""
    return build(Settings.from_env(os.environ[ENV]))

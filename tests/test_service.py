"""The decision service over real HTTP: a real ``policylang serve`` (uvicorn) on loopback.

Every endpoint, every error status with its JSON body, key scoping and what a trace
shows without the audit role, the decision log and ``policylang audit``, the OpenAPI
document against the running server, and live reload.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from policylang import load
from policylang.inputs import customer_from_json, ledger_from_jsonl, where
from policylang.ledger import open_ledger
from policylang.service.openapi import document
from tests.ledger_fixtures import pg_url_or_skip
from tests.pg_server import with_schema
from tests.service_server import EXAMPLES, KEYS, ROOT, Served, policy_folder

ADA = EXAMPLES / "ada"
CARDS = {"Authorization": "Bearer cards-key"}
WEALTH = {"X-API-Key": "wealth-key"}
AUDIT = {"Authorization": "Bearer audit-key"}
OTHER_TEAMS_OF_ADA = ("private_banking", "growth")


def document_of_ada() -> dict[str, Any]:
    return json.loads((ADA / "decide.json").read_text())


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stored(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A ledger holding ada's record and history (the shared ledger of the server), in each store."""
    if request.param == "postgres":
        url = with_schema(pg_url_or_skip(), f"svc_{uuid.uuid4().hex[:10]}")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.sqlite'}"
    policy = load(EXAMPLES / "northwind.pol")
    customer = customer_from_json(policy, json.loads((ADA / "customer.json").read_text()), where("customer"))
    entries = ledger_from_jsonl(policy, (ADA / "ledger.jsonl").read_text(), "ledger")
    with open_ledger(url, create=True) as ledger:
        ledger.put_customers(policy, [customer])
        import attrs

        ledger.append([attrs.evolve(e, customer="ada") for e in entries])
    return url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, stored: str) -> Any:
    folder = tmp_path_factory.mktemp("served")
    keys = folder / "keys.toml"
    keys.write_text(KEYS)
    served = Served(policy_folder("northwind", "tcpa_telemarketing"), "--ledger", stored, "--keys", str(keys),
                    "--audit-log", str(folder / "decisions.jsonl"), "--reload-interval", "0",
                    "--max-body", "200000", "--max-ledger", "50")
    served.audit_log = folder / "decisions.jsonl"  # type: ignore[attr-defined]
    yield served
    served.stop()


def post(server: Served, path: str, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers=AUDIT if headers is None else headers, timeout=30)


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


# ---- answers ---------------------------------------------------------------------------------


def test_decide_inline_answers_as_decide_json_does(server: Served) -> None:
    # the README's document is ada's files in one object
    doc = document_of_ada()
    assert doc["customer"] == json.loads((ADA / "customer.json").read_text())
    assert doc["request"] == json.loads((ADA / "request.json").read_text())
    assert doc["ledger"] == [json.loads(line) for line in (ADA / "ledger.jsonl").read_text().splitlines() if line]
    cli = subprocess.run(
        [str(Path(sys.executable).parent / "policylang"), "decide", str(EXAMPLES / "northwind.pol"),
         "--customer", str(ADA / "customer.json"), "--ledger", str(ADA / "ledger.jsonl"),
         "--request", str(ADA / "request.json"), "--json"],
        capture_output=True, text=True, check=True,
    )
    answer = post(server, "/v1/decide", document_of_ada()).json()
    assert answer.pop("policy") == "northwind"
    version = answer.pop("policy_version")
    import hashlib

    assert version == hashlib.sha256((EXAMPLES / "northwind.pol").read_bytes()).hexdigest()[:16]
    assert answer == json.loads(cli.stdout)


def test_decide_by_customer_id_reads_the_shared_ledger(server: Served) -> None:
    inline = post(server, "/v1/decide", document_of_ada()).json()
    body = {"policy": "northwind", "customer_id": "ada", "request": document_of_ada()["request"]}
    by_id = post(server, "/v1/decide", body).json()
    assert by_id["denied_by"] == inline["denied_by"] == ["one sales call a week", "one voice"]
    assert by_id["next_allowed_at"] == inline["next_allowed_at"]


def test_reserve_confirm_release(server: Served) -> None:
    request = {"team": "cards", "channel": "email", "purpose": "servicing", "at": "2026-11-24T11:00:00Z"}
    customer = {"id": "bea", "status": "active", "owner": "cards", "timezone": "Europe/London"}
    first = post(server, "/v1/reserve", {"policy": "northwind", "customer": customer, "request": request}, CARDS)
    assert first.status_code == 200, first.text
    reserved = first.json()
    assert reserved["allowed"] is True and reserved["contact"]["status"] == "planned"
    assert reserved["policy"] == "northwind"
    ident = reserved["reservation"]
    confirmed = post(server, "/v1/confirm", {"reservation": ident, "outcome": "delivered"}, CARDS)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "sent" and confirmed.json()["contact"]["outcome"] == "delivered"
    # a confirmed contact cannot be given back: a state conflict
    error = error_of(post(server, "/v1/release", {"reservation": ident}, CARDS), 409, "conflict")
    assert error["field"] == "reservation"
    second = post(server, "/v1/reserve", {"policy": "northwind", "customer_id": "bea",
                                          "request": {**request, "at": "2026-11-24T12:00:00Z"}}, CARDS).json()
    released = post(server, "/v1/release", {"reservation": second["reservation"]}, CARDS)
    assert released.json()["state"] == "released"
    error_of(post(server, "/v1/confirm", {"reservation": second["reservation"]}, CARDS), 409, "conflict")


def test_arbitrate_one_cycle(server: Served) -> None:
    doc = document_of_ada()
    requests = [
        {"team": "cards", "channel": "email", "purpose": "marketing", "at": "2026-11-24T10:00:00Z"},
        {"team": "service", "channel": "email", "purpose": "servicing", "at": "2026-11-24T10:00:00Z"},
    ]
    answer = post(server, "/v1/arbitrate", {"policy": "northwind", "customer": doc["customer"],
                                            "ledger": doc["ledger"], "requests": requests}).json()
    assert [r["position"] for r in answer["rulings"]] == [1, 0]  # service outranks cards
    assert all("allowed" in r["decision"] for r in answer["rulings"])


def test_policies_health_ready_metrics(server: Served) -> None:
    listed = httpx.get(server.url + "/v1/policies", headers=CARDS).json()["policies"]
    assert [p["name"] for p in listed] == ["northwind", "tcpa_telemarketing"]
    assert all(len(p["version"]) == 16 and p["refused"] is None for p in listed)
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["ledger"] == "reachable"
    post(server, "/v1/decide", document_of_ada())
    text = httpx.get(server.url + "/metrics").text
    assert 'policylang_decisions_total{pid=' in text
    assert 'policy="northwind",verdict="denied",rule="one voice"}' in text
    assert 'policylang_request_duration_seconds_bucket{pid=' in text and 'le="+Inf"' in text


# ---- errors ------------------------------------------------------------------------------------


def test_every_error_status_has_its_json_body(server: Served) -> None:
    doc = document_of_ada()
    bad = httpx.post(server.url + "/v1/decide", content=b'{"request": ', headers=AUDIT)
    error_of(bad, 400, "malformed_json")
    error_of(post(server, "/v1/decide", doc, headers={}), 401, "unauthorized")
    error_of(post(server, "/v1/decide", doc, headers={"Authorization": "Bearer nope"}), 401, "unauthorized")
    # a cards key acting for wealth management
    wealth_request = {**doc, "request": {**doc["request"], "team": "wealth_management"}}
    assert error_of(post(server, "/v1/decide", wealth_request, CARDS), 403, "forbidden")["field"] == "request.team"
    reserve_for_wealth = {k: v for k, v in wealth_request.items() if k != "ledger"}
    error_of(post(server, "/v1/reserve", reserve_for_wealth, CARDS), 403, "forbidden")
    error_of(post(server, "/v1/decide", doc, {"Authorization": "Bearer batch-key"}), 403, "forbidden")  # no decide role
    assert error_of(post(server, "/v1/decide", {**doc, "policy": "southwind"}), 404, "not_found")["field"] == "policy"
    error_of(post(server, "/v1/confirm", {"reservation": "no-such-id"}), 404, "not_found")
    error_of(post(server, "/v1/decide", {"policy": "northwind", "customer_id": "nobody",
                                         "request": doc["request"]}), 404, "not_found")
    huge = httpx.post(server.url + "/v1/decide", content=b" " * 300_000, headers=AUDIT)
    error_of(huge, 413, "too_large")
    long_ledger = {**doc, "ledger": doc["ledger"] * 20}
    assert error_of(post(server, "/v1/decide", long_ledger), 413, "too_large")["field"] == "ledger"
    unknown_team = {**doc, "request": {**doc["request"], "team": "marketing_dept"}}
    assert error_of(post(server, "/v1/decide", unknown_team), 422, "invalid")["field"] == "request.team"
    no_offset = {**doc, "request": {**doc["request"], "at": "2026-11-24T10:00:00"}}
    error = error_of(post(server, "/v1/decide", no_offset), 422, "invalid")
    assert error["field"] == "request.at" and "offset" in error["message"]
    bad_line = {**doc, "ledger": [*doc["ledger"], {"at": "2026-11-01T00:00:00Z", "event": "party"}]}
    assert error_of(post(server, "/v1/decide", bad_line), 422, "invalid")["field"].startswith("ledger[3]")
    # 11.4: a void line naming no contact is named by its index and field, as other bad lines are
    bad_void = {**doc, "ledger": [*doc["ledger"], {"at": "2026-11-01T00:00:00Z", "void": "c-9"}]}
    error = error_of(post(server, "/v1/decide", bad_void), 422, "invalid")
    assert error["field"] == "ledger[3].void" and "c-9" in error["message"]
    assert error_of(post(server, "/v1/decide", {**doc, "extra": 1}), 422, "invalid")["field"] == "extra"
    several = {k: v for k, v in doc.items() if k != "policy"}
    assert error_of(post(server, "/v1/decide", several), 422, "invalid")["field"] == "policy"
    slow = {"Authorization": "Bearer slow-key"}
    assert post(server, "/v1/decide", {**doc, "request": {**doc["request"]}}, slow).status_code == 200
    limited = post(server, "/v1/decide", doc, slow)
    error_of(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    error_of(httpx.get(server.url + "/v2/decide"), 404, "not_found")
    error_of(httpx.get(server.url + "/v1/decide"), 405, "method_not_allowed")


def test_a_stored_record_is_not_echoed_in_errors(server: Served) -> None:
    # tcpa's customer block differs from northwind's: ada's stored record does not fit it
    request = {"team": "service", "channel": "phone", "purpose": "informational", "at": "2026-11-24T15:00:00Z"}
    for path in ("/v1/decide", "/v1/reserve"):
        response = post(server, path, {"policy": "tcpa_telemarketing", "customer_id": "ada", "request": request})
        error = error_of(response, 422, "invalid")
        assert error["field"] == "customer_id"
        text = json.dumps(error)
        assert "wealth_management" not in text and "active" not in text and "owner" not in text


# ---- who may see what --------------------------------------------------------------------------


def test_a_trace_without_audit_names_no_other_team(server: Served) -> None:
    doc = document_of_ada()
    full = post(server, "/v1/decide", doc, AUDIT).json()
    assert any(team in json.dumps(full["trace"]) for team in OTHER_TEAMS_OF_ADA)  # the audit view has them
    scoped = post(server, "/v1/decide", doc, CARDS).json()
    text = json.dumps(scoped)
    for team in OTHER_TEAMS_OF_ADA:
        assert team not in text
    assert "2026-11-23 15:00" not in text and "outcome conversation" not in text
    assert scoped["scope"] == "cards"
    assert [(t["rule"], t["verdict"]) for t in scoped["trace"]] == [(t["rule"], t["verdict"]) for t in full["trace"]]
    assert scoped["denied_by"] == full["denied_by"]


def test_a_key_confirms_only_its_own_teams_reservations(server: Served) -> None:
    request = {"team": "cards", "channel": "email", "purpose": "servicing", "at": "2026-11-25T11:00:00Z"}
    reserved = post(server, "/v1/reserve", {"policy": "northwind", "customer_id": "ada", "request": request}, CARDS)
    assert reserved.json()["allowed"], reserved.text
    error_of(post(server, "/v1/release", {"reservation": reserved.json()["reservation"]}, WEALTH), 403, "forbidden")
    assert post(server, "/v1/release", {"reservation": reserved.json()["reservation"]}, CARDS).status_code == 200


# ---- the decision log -----------------------------------------------------------------------------


def test_every_decision_is_logged_and_audit_answers_why(server: Served) -> None:
    doc = document_of_ada()
    post(server, "/v1/decide", doc, CARDS)
    records = [json.loads(line) for line in server.audit_log.read_text().splitlines()]  # type: ignore[attr-defined]
    mine = [r for r in records if r["customer"] == "ada" and r["team"] == "cards" and r["endpoint"] == "decide"]
    assert mine, records
    last = mine[-1]
    assert last["policy"] == "northwind" and len(last["policy_version"]) == 16
    assert last["allowed"] is False and last["rules"] == ["one sales call a week", "one voice"]
    assert last["inputs"].startswith("sha256:") and "cards-key" not in json.dumps(records)
    out = subprocess.run(
        [str(Path(sys.executable).parent / "policylang"), "audit", "--log", str(server.audit_log),  # type: ignore[attr-defined]
         "--customer", "ada", "--from", "2026-11-24", "--to", "2026-11-25"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "DENIED" in out and last["policy_version"] in out
    empty = subprocess.run(
        [str(Path(sys.executable).parent / "policylang"), "audit", "--log", str(server.audit_log),  # type: ignore[attr-defined]
         "--customer", "ada", "--from", "2026-11-25", "--to", "2026-11-26"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "DENIED" not in empty
    assert "cards-key" not in server.output()


# ---- the contract ---------------------------------------------------------------------------------


def test_the_openapi_document_is_checked_in_and_served(server: Served) -> None:
    checked_in = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert checked_in == document(), "run: python -m policylang.service.openapi > docs/openapi.json"
    assert httpx.get(server.url + "/openapi.json").json() == checked_in


def test_every_documented_path_answers_with_a_documented_status(server: Served) -> None:
    spec = document()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            body = {} if method == "post" else None
            response = httpx.request(method.upper(), server.url + path, json=body, headers=AUDIT)
            assert str(response.status_code) in operation["responses"], (path, response.status_code, response.text)
            if response.status_code >= 400:
                assert response.json()["error"]["code"] in spec["components"]["schemas"]["Error"]["properties"][
                    "error"]["properties"]["code"]["enum"]


# ---- live reload -----------------------------------------------------------------------------------


def wait_for(predicate: Any, timeout: float = 30.0) -> Any:
    """Poll until ``predicate()`` is truthy (the reload thread's work is visible only over HTTP)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("the server did not get there in time")


def versions(served: Served) -> dict[str, Any]:
    return {p["name"]: p for p in httpx.get(served.url + "/v1/policies").json()["policies"]}


def test_live_reload_swaps_valid_versions_and_refuses_bad_ones() -> None:
    folder = policy_folder("northwind")
    served = Served(folder, "--reload-interval", "0.1")
    try:
        doc = document_of_ada()
        first = versions(served)["northwind"]["version"]
        text = (folder / "northwind.pol").read_text()

        # a valid change (a comment) is compiled, its scenarios pass, and it is swapped in
        (folder / "northwind.pol").write_text(text + "\n# reviewed\n")
        second = wait_for(lambda: (v := versions(served)["northwind"]["version"]) != first and v)
        assert httpx.post(served.url + "/v1/decide", json=doc).json()["policy_version"] == second

        # a version that does not compile is refused; the old one keeps serving
        (folder / "northwind.pol").write_text(text + "\ncap \"broken\": at most\n")
        refused = wait_for(lambda: versions(served)["northwind"]["refused"])
        assert refused["errors"] and versions(served)["northwind"]["version"] == second
        answer = httpx.post(served.url + "/v1/decide", json=doc)
        assert answer.status_code == 200 and answer.json()["policy_version"] == second

        # a version that compiles but fails a scenario beside it is refused too
        loose = text.replace("one sales call a week", "one sales call a week!", 1)
        assert loose != text
        (folder / "northwind.pol").write_text(loose)
        refused = wait_for(lambda: (r := versions(served)["northwind"]["refused"]) and "scenario" in r["errors"][0]
                           and r)
        assert "northwind.polt" in refused["errors"][0]
        assert httpx.post(served.url + "/v1/decide", json=doc).json()["policy_version"] == second
        metrics = httpx.get(served.url + "/metrics").text
        assert 'policylang_reloads_total{pid=' in metrics and 'result="refused"' in metrics
    finally:
        served.stop()


def test_serve_refuses_to_start_on_bad_input(tmp_path: Path) -> None:
    command = str(Path(sys.executable).parent / "policylang")
    missing = subprocess.run([command, "serve", str(tmp_path / "nope"), "--port", "0"], capture_output=True, text=True)
    assert missing.returncode == 2 and "no such folder" in missing.stderr and "Traceback" not in missing.stderr
    keys = tmp_path / "keys.toml"
    keys.write_text('[[key]]\ntoken = "t"\nteam = "marketing_dept"\n')
    bad_team = subprocess.run([command, "serve", str(EXAMPLES), "--keys", str(keys), "--port", "0"],
                              capture_output=True, text=True)
    assert bad_team.returncode == 2 and "marketing_dept" in bad_team.stderr
    bad_url = subprocess.run([command, "serve", str(EXAMPLES), "--ledger", "sqlite:/x", "--port", "0"],
                             capture_output=True, text=True)
    assert bad_url.returncode == 2 and "sqlite:///PATH" in bad_url.stderr


# ---- TLS through the server's options ---------------------------------------------------------------


def test_https_with_the_servers_certificate(tmp_path: Path) -> None:
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed, so no certificate can be made here")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   capture_output=True, check=True)
    import ssl

    trust = ssl.create_default_context(cafile=str(cert))
    served = Served(policy_folder("northwind"), "--reload-interval", "0", "--ssl-certfile", str(cert),
                    "--ssl-keyfile", str(key), scheme="https", verify=trust)
    try:
        answer = httpx.post(served.url + "/v1/decide", json=document_of_ada(), verify=trust)
        assert answer.status_code == 200 and answer.json()["policy"] == "northwind"
        with pytest.raises(httpx.TransportError):
            httpx.get(served.url.replace("https", "http") + "/healthz")
    finally:
        served.stop()


# ---- the Python client -----------------------------------------------------------------------------


def test_the_python_client(server: Served) -> None:
    from policylang.client import Client, ServiceError

    doc = document_of_ada()
    with Client(server.url, key="cards-key") as service:
        answer = service.decide(doc["request"], customer=doc["customer"], ledger=doc["ledger"], policy="northwind")
        assert answer["denied_by"] == ["one sales call a week", "one voice"] and answer["scope"] == "cards"
        request = {"team": "cards", "channel": "email", "purpose": "servicing", "at": "2026-11-26T11:00:00Z"}
        held = service.reserve(request, customer_id="ada", policy="northwind")
        assert held["allowed"]
        assert service.confirm(held["reservation"], outcome="delivered")["state"] == "sent"
        with pytest.raises(ServiceError) as error:
            service.release(held["reservation"])
        assert error.value.status == 409 and error.value.code == "conflict"
        with pytest.raises(ServiceError) as error:
            service.decide(doc["request"], customer=doc["customer"], policy="southwind")
        assert error.value.status == 404 and error.value.field == "policy"
        assert [p["name"] for p in service.policies()] == ["northwind", "tcpa_telemarketing"]
        assert service.ready()
    with Client(server.url, key="wrong") as stranger, pytest.raises(ServiceError) as error:
        stranger.policies()
    assert error.value.status == 401


# ---- answers against the OpenAPI schemas ----------------------------------------------------------

JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int, "null": type(None)}


def conforms(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Where ``value`` breaks ``schema`` (the subset of JSON Schema the document uses); empty if nowhere."""
    if "$ref" in schema:
        schema = document()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    problems: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} not in {schema['enum']}"]
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(isinstance(value, JSON_TYPES[k]) and not (k == "integer" and isinstance(value, bool))
                   for k in kinds):
            return [f"{where}: {type(value).__name__} is not {kinds}"]
    if isinstance(value, dict):
        problems += [f"{where}: no `{k}`" for k in schema.get("required", []) if k not in value]
        if schema.get("additionalProperties") is False:
            problems += [f"{where}: unexpected `{k}`" for k in value if k not in schema.get("properties", {})]
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                problems += conforms(value[key], sub, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += conforms(item, schema["items"], f"{where}[{index}]")
    return problems


def test_answers_conform_to_the_documented_schemas(server: Served) -> None:
    spec = document()["paths"]

    def check(path: str, method: str, response: httpx.Response) -> None:
        operation = spec[path][method]
        schema = operation["responses"][str(response.status_code)]["content"]["application/json"]["schema"]
        assert conforms(response.json(), schema) == [], (path, response.text)

    doc = document_of_ada()
    assert conforms(doc, spec["/v1/decide"]["post"]["requestBody"]["content"]["application/json"]["schema"]) == []
    for headers in (AUDIT, CARDS):
        check("/v1/decide", "post", post(server, "/v1/decide", doc, headers))
    request = {"team": "cards", "channel": "email", "purpose": "servicing", "at": "2026-11-27T11:00:00Z"}
    held = post(server, "/v1/reserve", {"policy": "northwind", "customer_id": "ada", "request": request}, CARDS)
    check("/v1/reserve", "post", held)
    check("/v1/release", "post", post(server, "/v1/release", {"reservation": held.json()["reservation"]}, CARDS))
    check("/v1/confirm", "post", post(server, "/v1/confirm", {"reservation": held.json()["reservation"]}, CARDS))
    check("/v1/arbitrate", "post", post(server, "/v1/arbitrate", {
        "policy": "northwind", "customer": doc["customer"], "ledger": doc["ledger"], "requests": [doc["request"]]}))
    check("/v1/policies", "get", httpx.get(server.url + "/v1/policies", headers=AUDIT))
    check("/readyz", "get", httpx.get(server.url + "/readyz"))
    check("/v1/decide", "post", post(server, "/v1/decide", {**doc, "policy": "southwind"}))

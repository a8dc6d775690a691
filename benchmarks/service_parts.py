"""Where an inline decision's time goes inside the service, measured in process (no sockets).

    python benchmarks/service_parts.py

Builds the service's application for the Northwind policy (memory ledger, a decision log
in a temporary file) and times each part of ``POST /v1/decide`` with a 100-event body of
benchmarks/service.py, then whole requests through the ASGI application (an empty one and
a decision). CPU time of the process (time.process_time), medians of 9 repeats; the decision itself (``Policy.decide_json``) is the
evaluator's, everything else is the service's own cost.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import service as bench  # noqa: E402 - benchmarks/service.py: the same bodies

from policylang.service import app as service_app  # noqa: E402
from policylang.service import audit as audit_log  # noqa: E402
from policylang.service.keys import OPEN  # noqa: E402
from tests.service_server import policy_folder  # noqa: E402


def main() -> None:
    log = Path(tempfile.mkdtemp(prefix="policylang-parts-")) / "decisions.jsonl"
    app = service_app.build(service_app.Settings(policies=str(policy_folder("northwind")), ledger="memory:",
                                                 reload_interval=0, audit_log=str(log)), watch=False)
    service = app.state.service
    body = [raw.split(b"\r\n\r\n", 1)[1] for raw in bench.inline_documents()][3]
    found = service.inline(body, OPEN)
    assert found is not None
    loaded, decision, _ = found
    envelope = service_app._ENVELOPE.decode(body)
    document = (b'{"customer":' + bytes(envelope.customer) + b',"request":' + bytes(envelope.request)
                + b',"ledger":' + bytes(envelope.ledger) + b"}")
    answer = service.answer(loaded, decision, OPEN)
    loop = asyncio.new_event_loop()

    async def call(path: str, data: bytes, method: str) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": [(b"host", b"bench"), (b"content-length", str(len(data)).encode())],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": data, "more_body": False}

        async def send(message: Any) -> None:
            pass

        await app(scope, receive, send)

    parts = [
        ("envelope decode (msgspec, parts raw)", lambda: service_app._ENVELOPE.decode(body), 500),
        ("Policy.decide_json (the decision)", lambda: loaded.policy.decide_json(document), 100),
        ("answer dict (disclosure.decision_dict)", lambda: service.answer(loaded, decision, OPEN), 500),
        ("answer bytes (orjson)", lambda: service_app.dumps(answer), 500),
        ("metrics counters", lambda: (service.metrics.decision("northwind", decision.allowed, decision.denied_by),
                                      service.metrics.observe("/v1/decide", 200, 0.001)), 500),
        ("decision log line (digest, orjson, write)", lambda: service.audit.append(audit_log.record(
            endpoint="decide", team="*", key="k", policy="northwind", version="v", customer="c", inputs=body,
            decision=decision)), 500),
        ("GET /v1/empty through the application", lambda: loop.run_until_complete(call("/v1/empty", b"", "GET")), 1000),
        ("POST /v1/decide through the application",
         lambda: loop.run_until_complete(call("/v1/decide", body, "POST")), 100),
    ]
    print(f"# one {len(body):,}-byte body with 100 ledger lines; CPU time of this process (steadier than "
          "wall time on a shared machine), medians of 9 repeats")
    print(f"{'part':<44} {'us':>8}")
    for name, fn, number in parts:
        times = timeit.repeat(fn, number=number, repeat=9, timer=time.process_time)
        print(f"{name:<44} {1e6 * statistics.median(times) / number:>8.1f}")
    service.close()


if __name__ == "__main__":
    main()

"""The service's fast path for an inline decision gives exactly the validating path's answer.

``Service.inline`` decodes the envelope with the section 10 parts kept raw and hands them to
``Policy.decide_json``; anything it cannot prove plain goes to the validating path (the
body parsed by the strict parser, each part checked by ``policylang.inputs``). Each body
here is answered twice by the same in-process application, once with the fast path and once
with it switched off, and the two answers (status and JSON body) must be equal; the bodies a
strict parser refuses (a key given twice) must not be answered by the fast path at all.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from typing import Any

import httpx
import pytest

from policylang.service.app import Settings, build
from policylang.service.keys import OPEN
from tests.service_server import EXAMPLES, KEYS, ROOT, policy_folder

sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    keys = tmp_path_factory.mktemp("keys") / "keys.toml"
    keys.write_text(KEYS)
    built = build(Settings(policies=str(policy_folder("northwind")), ledger="memory:", keys=str(keys),
                           reload_interval=0, max_ledger=60), watch=False)
    yield built
    built.state.service.close()


def answers(app: Any, bodies: list[bytes], headers: dict[str, str]) -> list[tuple[int, object]]:
    async def run() -> list[tuple[int, object]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            out = []
            for body in bodies:
                response = await client.post("/v1/decide", content=body, headers=headers)
                out.append((response.status_code, response.json()))
            return out

    return asyncio.run(run())


def both_ways(app: Any, bodies: list[bytes], headers: dict[str, str] | None = None) -> list[tuple[int, object]]:
    """The answers with the fast path and without it; asserts they are equal."""
    headers = headers or {"Authorization": "Bearer audit-key"}
    service = app.state.service
    fast = answers(app, bodies, headers)
    service.inline = lambda data, key: None  # the validating path alone
    try:
        slow = answers(app, bodies, headers)
    finally:
        del service.inline
    for body, f, s in zip(bodies, fast, slow, strict=True):
        assert f == s, body[:200]
    return fast


def documents() -> list[dict[str, Any]]:
    import service as bench  # benchmarks/service.py: 100-event documents of the Northwind policy

    out = [json.loads(raw.split(b"\r\n\r\n", 1)[1]) for raw in bench.inline_documents(12)]
    for doc in out:
        doc["ledger"] = doc["ledger"][:50]  # within max_ledger=60
    out.append({"policy": "northwind", **json.loads((EXAMPLES / "ada" / "decide.json").read_text())})
    return out


def spellings(doc: dict[str, Any], rng: random.Random) -> list[bytes]:
    """The same document spelt several ways: spacing, key order, with and without `policy`."""
    keys = list(doc)
    rng.shuffle(keys)
    shuffled = {k: doc[k] for k in keys}
    bare = {k: v for k, v in doc.items() if k != "policy"}
    return [
        json.dumps(doc).encode(),
        json.dumps(doc, separators=(",", ":")).encode(),
        json.dumps(doc, indent=2).encode(),
        json.dumps(shuffled).encode(),
        json.dumps(bare, separators=(",", ":")).encode(),
        b"  " + json.dumps(doc).encode() + b"\n",
    ]


def test_plain_documents_take_the_fast_path_and_agree(app: Any) -> None:
    rng = random.Random(3)
    bodies = [body for doc in documents() for body in spellings(doc, rng)]
    # the fast path does answer these (else the comparison would prove nothing)
    assert all(app.state.service.inline(body, OPEN) is not None for body in bodies)
    found = both_ways(app, bodies)
    assert {status for status, _ in found} == {200}
    assert {answer["allowed"] for _, answer in found} == {True, False}  # type: ignore[index]


@pytest.mark.parametrize("key", ["policy", "customer", "ledger", "request"])
def test_a_key_given_twice_is_malformed_on_both_paths(app: Any, key: str) -> None:
    doc = documents()[0]
    compact = json.dumps(doc, separators=(",", ":")).encode()
    first = json.dumps({key: doc[key]}, separators=(",", ":")).encode()[1:-1]
    decoy = b'"' + key.encode() + b'":0'
    bodies = [
        b"{" + decoy + b"," + compact[1:],  # the decoy first: a last-wins decoder would keep the real one
        compact[:-1] + b"," + first + b"}",  # the same value twice
        b"{" + decoy + b"," + json.dumps(doc).encode()[1:],  # and with json.dumps's spaces
    ]
    for body in bodies:
        assert app.state.service.inline(body, OPEN) is None
    for status, answer in both_ways(app, bodies):
        assert status == 400 and answer["error"]["code"] == "malformed_json"  # type: ignore[index]


def test_errors_and_limits_agree(app: Any) -> None:
    doc = documents()[0]
    long = dict(doc, ledger=doc["ledger"] * 2)  # 100 lines: over max_ledger=60
    bad_at = json.loads(json.dumps(doc))
    bad_at["ledger"][7]["at"] = "2026-11-03T10:00:00"  # no offset
    unknown = dict(doc, extra=1)
    bodies = [json.dumps(b).encode() for b in (long, bad_at, unknown, dict(doc, ledger=None),
                                                dict(doc, policy="nope"), dict(doc, policy=None))]
    statuses = [status for status, _ in both_ways(app, bodies)]
    assert statuses == [413, 422, 422, 200, 404, 200]


def test_another_teams_request_is_forbidden_on_both_paths(app: Any) -> None:
    doc = json.loads(json.dumps(documents()[-1]))
    doc["request"]["team"] = "growth"
    found = both_ways(app, [json.dumps(doc).encode()], {"Authorization": "Bearer cards-key"})
    assert found[0][0] == 403


def test_the_answer_is_json_dumps_text() -> None:
    from policylang.service.app import dumps

    value = {"a": [1, 2.5, None, True], "é": "ü\u2028", "n": -(2**63)}
    assert dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    assert dumps({1: 2**70}) == b'{"1":1180591620717411303424}'  # what orjson refuses goes to json.dumps


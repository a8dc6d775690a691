"""What the columnar batch engine does not carry yet is refused, row and field named.

Void lines (11.4), a campaign list on a contact or request and an event for a campaign
(11.3) used to end `policylang batch` with an internal error (Arrow refusing a tuple, a void
line read as a contact), or, for an event's campaign, to be dropped without a word. Each is
now a bad row: exit 2 and nothing written, or with --rejects the row in the rejects file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policylang.cli import main

ROOT = Path(__file__).resolve().parent.parent
CUSTOMER = {"id": "ada", "timezone": "Europe/London", "status": "active", "owner": "wealth_management"}
CONTACT = {"customer": "ada", "at": "2026-10-20T10:00:00Z", "team": "cards", "channel": "email",
           "purpose": "marketing", "id": "c1", "campaign": "a"}
REQUEST = {"customer": "ada", "id": "x1", "team": "cards", "channel": "email", "purpose": "marketing",
           "at": "2026-11-02T10:00:00Z", "campaign": "a"}


def write(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def run(tmp_path: Path, ledger: list[dict[str, Any]], request: dict[str, Any], *extra: str) -> int:
    return main(["batch", str(ROOT / "examples/northwind.pol"),
                 "--customers", write(tmp_path / "customers.jsonl", [CUSTOMER]),
                 "--ledger", write(tmp_path / "ledger.jsonl", ledger),
                 "--requests", write(tmp_path / "requests.jsonl", [request]),
                 "-o", str(tmp_path / "out.jsonl"), "--no-progress", *extra])


def test_the_plain_rows_are_decided(tmp_path: Path) -> None:
    assert run(tmp_path, [CONTACT], REQUEST) == 0
    assert (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize(("ledger", "request_row", "file", "row", "field", "words"), [
    ([CONTACT, {"customer": "ada", "at": "2026-10-22T10:00:00Z", "void": ["c1"]}], REQUEST,
     "ledger.jsonl", 2, "void", "a void line"),
    ([CONTACT, {"customer": "ada", "at": "2026-10-21T10:00:00Z", "event": "complaint", "campaign": "a"}], REQUEST,
     "ledger.jsonl", 2, "campaign", "an event for a campaign"),
    ([{**CONTACT, "campaign": ["a", "b"]}], REQUEST, "ledger.jsonl", 1, "campaign", "a list of campaigns"),
    ([CONTACT], {**REQUEST, "campaign": ["a", "b"]}, "requests.jsonl", 1, "campaign", "a list of campaigns"),
])
def test_what_batch_does_not_carry_is_a_bad_row(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                ledger: list[dict[str, Any]], request_row: dict[str, Any],
                                                file: str, row: int, field: str, words: str) -> None:
    assert run(tmp_path, ledger, request_row) == 2
    err = capsys.readouterr().err
    assert f"{file}: row {row}: field `{field}`: {words}" in err
    assert "internal error" not in err
    assert not (tmp_path / "out.jsonl").exists()
    rejects = tmp_path / "rejects.jsonl"
    assert run(tmp_path, ledger, request_row, "--rejects", str(rejects)) == 0
    bad = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert (bad[0]["file"].endswith(file), bad[0]["row"], bad[0]["field"]) == (True, row, field)
    assert bad[0]["error"].startswith(words)
    # a customer is never decided on part of its ledger: its request is rejected with it
    assert [b["error"] for b in bad[1:]] == (["the ledger of customer `ada` has a bad row"]
                                             if file == "ledger.jsonl" else [])


def test_a_list_of_one_campaign_is_that_campaign(tmp_path: Path) -> None:
    # 11.3: a list of one is that text, so nothing is refused
    assert run(tmp_path, [{**CONTACT, "campaign": ["a", "a"]}], {**REQUEST, "campaign": ["a"]}) == 0

"""`policylang replay` streamed (issue 12): many spans and ranges give every row a
reference decides one contact at a time with ``Policy.decide`` on the ledger before it."""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from policylang import replay as replay_module
from policylang.cli import main
from policylang.compiler import compile_policy
from policylang.inputs import customer_from_json, entry_from_json, where
from policylang.records import Contact, Request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import batch_data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# no capacity rule: each contact's answer then depends on its own customer's ledger only,
# which the reference below rebuilds from the records, sharing no code with replay
NEW = (ROOT / "examples" / "northwind.pol").read_text().replace(
    'capacity "call centre":        at most 200 phone by service per calendar week\n', "")
OLD = NEW.replace("at most 3 marketing per 30 days", "at most 4 marketing per 30 days").replace(
    "at most 1 marketing phone per 7 days", "at most 2 marketing phone per 7 days")


def reference(policy_text: str, paths: dict[str, str]) -> dict[int, tuple[Any, ...]]:
    """Ledger row -> (customer, allowed, denied_by, next_allowed_at) of every sent contact."""
    policy = compile_policy(policy_text, "ref.pol")
    people = {}
    for line in Path(paths["customers"]).read_text().splitlines():
        row = json.loads(line)
        people[row["id"]] = customer_from_json(policy, row, where("c"))
    ledger: dict[str, list[tuple[int, Any]]] = {}
    for number, line in enumerate(Path(paths["ledger"]).read_text().splitlines(), start=1):
        row = json.loads(line)
        ledger.setdefault(row["customer"], []).append((number, entry_from_json(policy, row, where("l"))))
    out = {}
    for customer, entries in ledger.items():
        for number, entry in entries:
            if not isinstance(entry, Contact) or entry.status != "sent":
                continue
            before = [e for n, e in entries if (e.at, n) < (entry.at, number)]
            found = policy.decide(people[customer], Request(entry.team, entry.channel, entry.purpose, entry.at,
                                                            entry.campaign), before, explain=False)
            out[number] = (customer, found.allowed, list(found.denied_by),
                           found.next_allowed_at.isoformat() if found.next_allowed_at else None)
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("stream")
    paths = batch_data.write_all(str(folder), 60, "jsonl", start=dt.date(2026, 11, 10), seed=5)
    # customers' rows interleaved through the file: a span of whole customers then holds
    # rows from every range, and a range rows from every span
    lines = Path(paths["ledger"]).read_text().splitlines(keepends=True)
    random.Random(5).shuffle(lines)
    Path(paths["ledger"]).write_text("".join(lines))
    (folder / "new.pol").write_text(NEW)
    (folder / "old.pol").write_text(OLD)
    return folder, paths


@pytest.mark.parametrize("workers", ["1", "2"])
def test_streamed_replay_equals_one_contact_at_a_time(data: tuple[Path, dict[str, str]], workers: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Buckets of about 90 ledger rows (about ten), spans of about 37 and output ranges of
    50 rows (so each span's contacts fall in several ranges, and each range gathers
    several buckets' spans): the written file holds
    every sent contact once, in ledger row order, each as the reference decides it; with
    --against, exactly the contacts whose verdicts differ."""
    folder, paths = data
    monkeypatch.setattr(replay_module, "BUCKET_ROWS", 90)
    monkeypatch.setattr(replay_module, "SPAN_ROWS", 37)
    monkeypatch.setattr(replay_module, "RANGE_ROWS", 50)
    new, old = reference(NEW, paths), reference(OLD, paths)
    out = folder / f"out-{workers}.jsonl"
    assert main(["replay", str(folder / "new.pol"), "--ledger", paths["ledger"], "--customers", paths["customers"],
                 "-o", str(out), "--no-progress", "--workers", workers]) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["row"] for r in got] == sorted(new)
    assert {r["row"]: (r["customer"], r["allowed"], r["denied_by"], r["next_allowed_at"]) for r in got} == new
    assert any(not r["allowed"] for r in got) and any(r["allowed"] for r in got)

    out = folder / f"against-{workers}.jsonl"
    assert main(["replay", str(folder / "new.pol"), "--ledger", paths["ledger"], "--customers", paths["customers"],
                 "--against", str(folder / "old.pol"), "-o", str(out), "--no-progress", "--workers", workers]) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    differ = sorted(n for n in new if new[n][1:3] != old[n][1:3])
    assert differ, "the two policies should disagree somewhere in this ledger"
    assert [r["row"] for r in got] == differ
    assert all((r["old_allowed"], r["old_denied_by"]) == tuple(old[r["row"]][1:3]) for r in got)

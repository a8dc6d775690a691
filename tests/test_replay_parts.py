"""Replay reads a large JSON Lines ledger in parts, on processes of their own (as batch
does): the answers, the capacity counts and the bad rows are those of reading it in one."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

from policylang import batch as batch_module
from policylang.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import batch_data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NORTHWIND = (ROOT / "examples" / "northwind.pol").read_text()
# capacity rules that bind on a few dozen customers: each contact's answer then depends on
# every customer's contacts before it, read in every part
NEW = NORTHWIND.replace("at most 200 phone by service per calendar week", "at most 2 phone per calendar week")
OLD = NORTHWIND.replace("at most 200 phone by service per calendar week", "at most 4 phone per calendar week")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("replayed")
    paths = batch_data.write_all(str(folder), 40, "jsonl", start=dt.date(2026, 11, 10), seed=7)
    (folder / "new.pol").write_text(NEW)
    (folder / "old.pol").write_text(OLD)
    return folder, paths


def replay(folder: Path, paths: dict[str, str], name: str, workers: str, *extra: str) -> tuple[int, str]:
    out = folder / f"{name}.jsonl"
    code = main(["replay", str(folder / "new.pol"), "--ledger", paths["ledger"], "--customers", paths["customers"],
                 "-o", str(out), "--no-progress", "--workers", workers, *extra])
    return code, out.read_text() if out.exists() else ""


def test_parts_answer_as_one_read(data: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder, paths = data
    against = ("--against", str(folder / "old.pol"))
    whole = [replay(folder, paths, "one", "1"), replay(folder, paths, "one-against", "1", *against)]
    summaries = capsys.readouterr().out
    monkeypatch.setattr(batch_module, "PART_BYTES", 1)  # every ledger is read in parts
    parted = [replay(folder, paths, "parts", "2"), replay(folder, paths, "parts-against", "2", *against)]
    assert parted == whole
    assert capsys.readouterr().out.replace("parts.jsonl", "one.jsonl").replace("parts-against", "one-against") == summaries
    rows = [json.loads(line) for line in whole[0][1].splitlines()]
    assert any("call centre" in r["denied_by"] for r in rows), "the capacity rule should bind"
    assert whole[1][1], "the two policies should disagree"


def test_bad_rows_of_every_part_in_row_order(data: tuple[Path, dict[str, str]], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _, source = data
    lines = Path(source["ledger"]).read_text().splitlines()
    for k in (3, len(lines) // 2 + 5, len(lines) - 2):  # in the first part and the last
        row = json.loads(lines[k])
        row["channel"] = "pigeon"
        lines[k] = json.dumps(row)
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text("\n".join(lines) + "\n")
    paths = {**source, "ledger": str(ledger)}
    (tmp_path / "new.pol").write_text(NEW)
    reports = []
    for workers in ("1", "2"):
        if workers == "2":
            monkeypatch.setattr(batch_module, "PART_BYTES", 1)
        capsys.readouterr()
        assert replay(tmp_path, paths, f"bad-{workers}", workers) == (2, "")
        reports.append(capsys.readouterr().err)
    assert reports[0] == reports[1]
    assert [f"row {k + 1}:" in reports[0] for k in (3, len(lines) // 2 + 5, len(lines) - 2)] == [True] * 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".policylang-")]

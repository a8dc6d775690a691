"""A CSV header or a Parquet schema that names a column twice is bad input.

A row read from such a file keeps one of the two cells and drops the other silently, as
a JSON object given a key twice would (which the contract forbids): batch and replay
refuse the file, naming it, row 1 and the field, exit 2, nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from policylang.cli import main

ROOT = Path(__file__).resolve().parent.parent
POLICY = str(ROOT / "examples" / "northwind.pol")

CUSTOMERS = "id,timezone,status\nc1,Europe/London,active\n"
REQUESTS = "id,customer,team,channel,purpose,at\nr1,c1,cards,email,marketing,2026-11-30T10:00:00Z\n"
LEDGER = ("customer,at,channel,purpose,team,status\n"
          "c1,2026-11-29T10:00:00Z,email,marketing,cards,sent\n")


def doubled(text: str, column: int) -> str:
    """``text`` (a CSV) with its header's ``column`` named as the one before it."""
    lines = text.splitlines()
    names = lines[0].split(",")
    names[column] = names[column - 1]
    return "\n".join([",".join(names), *lines[1:]]) + "\n"


def write_files(folder: Path, role: str | None) -> dict[str, str]:
    texts = {"customers": CUSTOMERS, "requests": REQUESTS, "ledger": LEDGER}
    paths = {}
    for name, text in texts.items():
        path = folder / f"{name}.csv"
        path.write_text(doubled(text, 2) if name == role else text)
        paths[name] = str(path)
    return paths


def batch(paths: dict[str, str], out: Path, *extra: str) -> int:
    return main(["batch", POLICY, "--customers", paths["customers"], "--ledger", paths["ledger"],
                 "--requests", paths["requests"], "-o", str(out), "--no-progress", *extra])


def test_the_files_decide_without_a_doubled_column(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert batch(write_files(tmp_path, None), out) == 0
    assert len(out.read_text().splitlines()) == 1


@pytest.mark.parametrize("role", ["customers", "requests", "ledger"])
def test_a_column_named_twice_in_a_csv_header(tmp_path: Path, capsys: pytest.CaptureFixture[str], role: str) -> None:
    paths = write_files(tmp_path, role)
    name = (CUSTOMERS if role == "customers" else REQUESTS if role == "requests" else LEDGER).split(",")[1]
    for extra in ((), ("--rejects", str(tmp_path / "rejects.jsonl"))):
        out = tmp_path / "out.jsonl"
        capsys.readouterr()
        assert batch(paths, out, *extra) == 2
        err = capsys.readouterr().err
        assert f"{role}.csv: row 1: field `{name}`: the header names column `{name}` twice (columns 2 and 3)" in err
        assert "Traceback" not in err
        assert not out.exists() and not (tmp_path / "rejects.jsonl").exists()
        assert not [p for p in os.listdir(tmp_path) if p.startswith(".policylang-")]


def test_replay_refuses_a_doubled_ledger_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = write_files(tmp_path, "ledger")
    out = tmp_path / "replay.jsonl"
    assert main(["replay", POLICY, "--ledger", paths["ledger"], "--customers", paths["customers"],
                 "-o", str(out), "--no-progress"]) == 2
    assert "ledger.csv: row 1: field `at`: the header names column `at` twice" in capsys.readouterr().err
    assert not out.exists()


def test_a_column_named_twice_in_a_parquet_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = write_files(tmp_path, None)
    table = pacsv.read_csv(paths["requests"], convert_options=pacsv.ConvertOptions(
        column_types={name: pa.string() for name in REQUESTS.split("\n")[0].split(",")}))
    table = pa.table(table.columns + [table.column("team")], names=[*table.column_names, "team"])
    pq.write_table(table, tmp_path / "requests.parquet")
    paths["requests"] = str(tmp_path / "requests.parquet")
    out = tmp_path / "out.jsonl"
    assert batch(paths, out) == 2
    assert "requests.parquet: row 1: field `team`: the schema names column `team` twice (columns 3 and 7)" in (
        capsys.readouterr().err)
    assert not out.exists()

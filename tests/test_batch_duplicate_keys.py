"""A key given twice in one object of a batch or replay JSON Lines input is a bad row.

orjson and msgspec keep the last value of a duplicate key; the JSON contract (section 10)
forbids duplicates and ``decide --json`` refuses them. ``batch`` and ``replay`` must report
such a row with its file, row and field (exit 2, nothing written), or write it to
``--rejects`` and decide the rest, whichever reader (msgspec's typed lines, orjson's
blocks, line by line) the row falls in.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylang.cli import main

ROOT = Path(__file__).resolve().parent.parent
NORTHWIND = (ROOT / "examples" / "northwind.pol").read_text()

_spec = importlib.util.spec_from_file_location("batch_data", ROOT / "benchmarks" / "batch_data.py")
assert _spec and _spec.loader
batch_data = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("batch_data", batch_data)
_spec.loader.exec_module(batch_data)

SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def files(folder: Path) -> dict[str, str]:
    paths: dict[str, str] = batch_data.write_all(str(folder), 6, "jsonl", seed=3)
    policy = folder / "policy.pol"
    policy.write_text(NORTHWIND)
    paths["policy"] = str(policy)
    return paths


def run_batch(paths: dict[str, str], out: Path, *extra: str) -> int:
    return main(["batch", paths["policy"], "--customers", paths["customers"], "--ledger", paths["ledger"],
                 "--requests", paths["requests"], "-o", str(out), "--no-progress", *extra])


def run_replay(paths: dict[str, str], out: Path, *extra: str) -> int:
    return main(["replay", paths["policy"], "--ledger", paths["ledger"], "--customers", paths["customers"],
                 "-o", str(out), "--no-progress", *extra])


def read_out(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def twice(line: str, key: str) -> str:
    """``line`` with ``key`` given a second time, first, with the same value: orjson and
    msgspec keep the last, so without the check the row reads exactly as before."""
    row = json.loads(line)
    return "{" + json.dumps(key) + ":" + json.dumps(row[key]) + "," + line.lstrip()[1:]


def put_duplicate(path: str, index: int, key: str) -> int:
    """Give ``key`` twice on the line at ``index`` (mod the lines) of ``path``; its row number."""
    lines = Path(path).read_text().splitlines()
    index %= len(lines)
    lines[index] = twice(lines[index], key)
    Path(path).write_text("\n".join(lines) + "\n")
    return index + 1


ROLES = {"ledger": ("customer", "channel", "at", "status"), "requests": ("customer", "team", "at", "id"),
         "customers": ("id", "status", "timezone")}


@SETTINGS
@given(role=st.sampled_from(sorted(ROLES)), index=st.integers(0, 200), pick=st.integers(0, 3))
def test_duplicate_key_is_a_bad_row(tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str],
                                    role: str, index: int, pick: int) -> None:
    folder = tmp_path_factory.mktemp("dup")
    paths = files(folder)
    key = ROLES[role][pick % len(ROLES[role])]
    if role == "ledger":  # an event line has no channel or status: pick a contact line
        lines = Path(paths[role]).read_text().splitlines()
        while key not in json.loads(lines[index % len(lines)]):
            index += 1
    row = put_duplicate(paths[role], index, key)
    out = folder / "out.jsonl"
    capsys.readouterr()
    assert run_batch(paths, out) == 2
    err = capsys.readouterr().err
    assert f"{role}.jsonl: row {row}: field `{key}` is given twice in one object" in err
    assert not out.exists() and not [p for p in os.listdir(folder) if p.startswith(".policylang-")]
    rejects = folder / "rejects.jsonl"
    assert run_batch(paths, out, "--rejects", str(rejects)) == 0
    bad = read_out(rejects)
    assert (f"{role}.jsonl", row, key) in [(Path(r["file"]).name, r["row"], r["field"]) for r in bad]
    assert [r for r in bad if Path(r["file"]).name == f"{role}.jsonl"] == [
        r for r in bad if (Path(r["file"]).name, r["row"]) == (f"{role}.jsonl", row)]
    assert out.exists() and read_out(out)  # the rest decided


def test_replay_duplicate_ledger_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = files(tmp_path)
    row = put_duplicate(paths["ledger"], 7, "customer")
    out = tmp_path / "replay.jsonl"
    assert run_replay(paths, out) == 2
    assert f"ledger.jsonl: row {row}: field `customer` is given twice in one object" in capsys.readouterr().err
    assert not out.exists()


def test_duplicate_in_a_nested_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The format has no nested objects, but a duplicate inside one is still refused as a
    duplicate (at its row), before the field itself is validated."""
    paths = files(tmp_path)
    lines = Path(paths["customers"]).read_text().splitlines()
    lines[2] = lines[2][:-1] + ',"extra":{"k":1,"k":2}}'
    Path(paths["customers"]).write_text("\n".join(lines) + "\n")
    assert run_batch(paths, tmp_path / "out.jsonl") == 2
    assert "customers.jsonl: row 3: field `k` is given twice in one object" in capsys.readouterr().err


def test_escaped_quote_is_not_a_duplicate(tmp_path: Path) -> None:
    """A backslash escape (``\\"``) breaks the quote count: the block is read line by line
    and decides as before."""
    plain, escaped = tmp_path / "plain", tmp_path / "escaped"
    outs = []
    for folder, text in ((plain, "q1"), (escaped, 'q"1')):
        paths = files(folder)
        for role, key in (("requests", "id"), ("ledger", "campaign")):
            lines = Path(paths[role]).read_text().splitlines()
            index = next(k for k, line in enumerate(lines) if '"event"' not in line)
            row = json.loads(lines[index])
            row[key] = text
            lines[index] = json.dumps(row)
            Path(paths[role]).write_text("\n".join(lines) + "\n")
        assert '\\"' in Path(paths["requests"]).read_text() or text == "q1"
        out = folder / "out.jsonl"
        assert run_batch(paths, out) == 0
        outs.append(read_out(out))
    got = [{**r, "id": r["id"].replace('"', "")} for r in outs[1]]
    assert got == outs[0]


REQUEST_FORMS = st.fixed_dictionaries(
    {"customer": st.sampled_from(["c1", "c22"]), "team": st.just("cards"), "channel": st.just("email"),
     "purpose": st.just("marketing"), "at": st.just("2026-11-30T10:00:00Z")},
    optional={"campaign": st.none() | st.sampled_from(["spring", ""]), "priority": st.integers(-3, 3),
              "id": st.sampled_from(["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"])})


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(REQUEST_FORMS, min_size=1, max_size=8, unique_by=lambda r: r.get("id", id(r))),
       doubled=st.none() | st.tuples(st.integers(0, 7), st.integers(0, 7)))
def test_requests_are_vouched_from_their_columns(rows: list[dict[str, Any]], doubled: tuple[int, int] | None) -> None:
    """A block of request lines the columnar path takes is vouched for (no key twice) from
    its columns' tokens, in every optional form (a campaign left out, ``null`` or a text; an
    id and a priority left out or given); a line with any key given twice is not."""
    import orjson

    from policylang.batch import _fast_requests, _requests_vouched
    from policylang.compiler import compile_policy

    policy = compile_policy(NORTHWIND, "northwind.pol")
    lines = [json.dumps(row, separators=(",", ":")).encode() + b"\n" for row in rows]
    if doubled is not None:
        line, key = doubled[0] % len(rows), doubled[1]
        keys = sorted(rows[line])
        lines[line] = twice(lines[line].decode(), keys[key % len(keys)]).encode()
    parsed = [orjson.loads(line) for line in lines]
    fast = _fast_requests(policy, parsed)
    assert fast is not None
    assert _requests_vouched(lines, parsed, fast) is (doubled is None)

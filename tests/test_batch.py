"""`policylang batch`: every row equal to deciding each request by hand.

The reference here shares no code with policylang/batch.py: it validates each row with
policylang.inputs, arbitrates each customer's cycle with ``arbitration.arbitrate`` (or,
with a capacity rule, decides every request of the batch one by one with
``Policy.decide`` and a list-scanning count of every customer's contacts), and compares
allowed, denied_by, displaces and next_allowed_at row by row.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policylang import clock
from policylang.arbitration import arbitrate, arbitration_order
from policylang.cli import main
from policylang.compiler import compile_policy
from policylang.inputs import customer_from_json, entry_from_json, request_from_json, where
from policylang.records import Contact, Request

ROOT = Path(__file__).resolve().parent.parent
NORTHWIND = (ROOT / "examples" / "northwind.pol").read_text()
# northwind with a call centre small enough that the batch's own grants fill it
TIGHT = NORTHWIND.replace("at most 200 phone by service per calendar week", "at most 3 phone by service per calendar week")
NO_CAPACITY = "\n".join(line for line in NORTHWIND.splitlines() if not line.startswith("capacity"))

_spec = importlib.util.spec_from_file_location("batch_data", ROOT / "benchmarks" / "batch_data.py")
assert _spec and _spec.loader
batch_data = importlib.util.module_from_spec(_spec)
sys.modules["batch_data"] = batch_data
_spec.loader.exec_module(batch_data)


def run_batch(policy_path: Path, paths: dict[str, str], out: Path, *extra: str) -> int:
    return main(["batch", str(policy_path), "--customers", paths["customers"], "--ledger", paths["ledger"],
                 "--requests", paths["requests"], "-o", str(out), "--no-progress", *extra])


def read_out(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text().splitlines()]


class ListLoads:
    """Every customer's counted contacts, scanned in full for each count."""

    def __init__(self, ledgers: dict[str, list[Any]], owners: dict[str, str | None]) -> None:
        self.ledgers, self.owners = ledgers, owners

    def contacts(self, rule: Any, start: dt.datetime, end: dt.datetime) -> list[Contact]:
        return [e for customer, entries in self.ledgers.items() for e in entries
                if isinstance(e, Contact) and e.counted and start <= e.at < end
                and rule.match.matches(e.purpose, e.channel, e.team, self.owners.get(customer))]


def reference(policy_text: str, paths: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Request id -> expected answer, from the single-request path."""
    policy = compile_policy(policy_text, "ref.pol")

    def rows(path: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]

    customers = {r["id"]: customer_from_json(policy, r, where("c")) for r in rows(paths["customers"])}
    ledgers: dict[str, list[Any]] = {c: [] for c in customers}
    for r in rows(paths["ledger"]):
        ledgers.setdefault(r["customer"], []).append(entry_from_json(policy, r, where("l")))
    asks: dict[str, list[tuple[int, str, Request]]] = {}
    for number, r in enumerate(rows(paths["requests"]), start=1):
        asks.setdefault(r["customer"], []).append((number, r["id"], request_from_json(policy, r, where("r"))))
    out: dict[str, dict[str, Any]] = {}

    def record(ident: str, customer: str, decision: Any, ids: dict[int, str]) -> None:
        out[ident] = {"id": ident, "customer": customer, "allowed": decision.allowed,
                      "denied_by": list(decision.denied_by),
                      "displaces": sorted(c.id or c.describe() for c in decision.displaces),
                      "next_allowed_at": decision.next_allowed_at.isoformat() if decision.next_allowed_at else None}

    has_capacity = any(rule.kind == "capacity" for rule in policy.rules)
    if not has_capacity:
        for customer, items in asks.items():
            requests = [r for _, _, r in items]
            for ruling in arbitrate(policy, customers[customer], requests, ledgers[customer]):
                decision = ruling.decision
                # arbitrate names its grants request-N; the batch names them by request id
                ids = {n: items[n][1] for n in range(len(items))}
                record(items[ruling.position][1], customer, decision, ids)
                out[items[ruling.position][1]]["displaces"] = sorted(
                    ids[int(c.id.split("-")[1])] if c.id and c.id.startswith("request-") else c.id or c.describe()
                    for c in decision.displaces)
        return out
    # one by one over the whole batch: each customer in arbitration order, merged by time
    owners = {c: customers[c].values.get("owner") for c in customers}
    loads = ListLoads(ledgers, owners)
    queue = []
    for customer, items in asks.items():
        order = arbitration_order(policy, owners[customer], [r for _, _, r in items])
        queue.append([customer, [items[k] for k in order]])
    while True:
        heads = [(clock.micros(items[0][2].at), policy.rank(items[0][2].team, owners[c]), -items[0][2].priority, c,
                  items[0][0], n) for n, (c, items) in enumerate(queue) if items]
        if not heads:
            break
        n = min(heads)[-1]
        customer, items = queue[n]
        number, ident, request = items.pop(0)
        decision = policy.decide(customers[customer], request, list(ledgers[customer]), explain=False, loads=loads)
        if decision.allowed:
            ledgers[customer] = [
                Contact(e.at, e.channel, e.purpose, e.team, "displaced", e.outcome, e.campaign, e.id, e.customer)
                if e in decision.displaces else e for e in ledgers[customer]]
            ledgers[customer].append(Contact(request.at, request.channel, request.purpose, request.team, "planned",
                                             campaign=request.campaign, id=ident))
        record(ident, customer, decision, {})
    return out


def compare(got: list[dict[str, Any]], expected: dict[str, dict[str, Any]]) -> None:
    assert len(got) == len(expected)
    assert [r["row"] for r in got] == sorted(r["row"] for r in got)
    for row in got:
        want = expected[row["id"]]
        mine = {k: row[k] for k in ("id", "customer", "allowed", "denied_by", "next_allowed_at")}
        mine["displaces"] = sorted(row["displaces"])
        assert mine == want, row["id"]


def write_policy(folder: Path, text: str) -> Path:
    path = folder / "policy.pol"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text", [NO_CAPACITY, TIGHT], ids=["no-capacity", "tight-capacity"])
def test_bulk_equals_single_requests(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated data (a DST week in Europe: 2026-10-25), two workers, against the reference;
    small buckets and output ranges, so the coupled group gathers rows from many buckets,
    and small blocks of coupled customers fetched ahead of their first requests."""
    import policylang.batch

    monkeypatch.setattr(policylang.batch, "BUCKET_CUSTOMERS", 300)
    monkeypatch.setattr(policylang.batch, "GATHER_CUSTOMERS", 7)
    monkeypatch.setattr(policylang.batch, "ANSWER_ROWS", 700)
    size = 1500 if text is TIGHT else 5000
    paths = batch_data.write_all(str(tmp_path), size, "jsonl", start=dt.date(2026, 10, 23), seed=7)
    out = tmp_path / "out.jsonl"
    assert run_batch(write_policy(tmp_path, text), paths, out, "--workers", "2") == 0
    got = read_out(out)
    compare(got, reference(text, paths))
    if text is TIGHT:  # the batch's own grants filled the call centre
        assert any("call centre" in r["denied_by"] for r in got)


@settings(max_examples=25)
@given(st.integers(1, 12), st.integers(0, 6), st.integers(1, 5), st.integers(0, 10_000),
       st.sampled_from([NO_CAPACITY, TIGHT]))
def test_small_shapes(tmp_path_factory: pytest.TempPathFactory, customers: int, events: int, requests: int,
                      seed: int, text: str) -> None:
    folder = tmp_path_factory.mktemp("shape")
    paths = batch_data.write_all(str(folder), customers, "jsonl", events=events, requests=requests, seed=seed,
                                 start=dt.date(2026, 11, 23))
    out = folder / "out.jsonl"
    assert run_batch(write_policy(folder, text), paths, out, "--workers", "1") == 0
    compare(read_out(out), reference(text, paths))


def test_formats_agree(tmp_path: Path) -> None:
    """CSV and Parquet (instants as timestamp columns with a zone) give the JSONL answers."""
    policy = write_policy(tmp_path, NORTHWIND)
    answers = {}
    for fmt in ("jsonl", "csv", "parquet"):
        paths = batch_data.write_all(str(tmp_path / fmt), 300, fmt, seed=3)
        if fmt == "parquet":
            for role in ("ledger", "requests"):
                table = pq.read_table(paths[role])
                at = pa.array([dt.datetime.fromisoformat(v.replace("Z", "+00:00")) for v in table.column("at").to_pylist()],
                              pa.timestamp("us", tz="UTC"))
                pq.write_table(table.set_column(table.column_names.index("at"), "at", at), paths[role])
        out = tmp_path / f"out-{fmt}.parquet"
        assert run_batch(policy, paths, out) == 0
        answers[fmt] = pq.read_table(out).drop_columns(["row"])  # a CSV row is its line: the header is line 1
    assert answers["jsonl"].num_rows == 600
    assert answers["jsonl"].equals(answers["csv"])
    assert answers["jsonl"].equals(answers["parquet"])


def test_bad_rows_reported_nothing_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = batch_data.write_all(str(tmp_path), 5, "jsonl", seed=1)
    lines = Path(paths["requests"]).read_text().splitlines()
    lines[2] = lines[2].replace('"channel":"', '"channel":"pigeon').replace('"channel": "', '"channel": "pigeon')
    lines.append("{not json")
    lines.append(json.dumps({"id": "x", "customer": "nobody", "team": "cards", "channel": "email",
                             "purpose": "marketing", "at": "2026-11-24T10:00:00"}))
    Path(paths["requests"]).write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    assert run_batch(write_policy(tmp_path, NORTHWIND), paths, out) == 2
    err = capsys.readouterr().err
    assert "requests.jsonl: row 3: field `channel`" in err
    assert "row 11: invalid JSON" in err
    assert "row 12: field `at`" in err and "no offset" in err
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".policylang-")]
    rejects = tmp_path / "rejects.jsonl"
    assert run_batch(write_policy(tmp_path, NORTHWIND), paths, out, "--rejects", str(rejects)) == 0
    bad = read_out(rejects)
    assert [(r["row"], r["field"]) for r in bad] == [(3, "channel"), (11, None), (12, "at")]
    assert len(read_out(out)) == 9


def test_many_bad_rows_are_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = batch_data.write_all(str(tmp_path), 150, "jsonl", seed=1)
    text = Path(paths["ledger"]).read_text().replace('"team":"', '"team":"x')
    Path(paths["ledger"]).write_text(text)
    assert run_batch(write_policy(tmp_path, NORTHWIND), paths, tmp_path / "o.jsonl") == 2
    err = capsys.readouterr().err
    assert err.count("field `team`") == 100
    assert "more bad rows" in err


def test_readme_example(tmp_path: Path) -> None:
    """The shipped sample: the decisions file and the summary."""
    out = tmp_path / "decisions.csv"
    status = main(["batch", str(ROOT / "examples/northwind.pol"), "--customers", str(ROOT / "examples/batch/customers.jsonl"),
                   "--ledger", str(ROOT / "examples/batch/ledger.jsonl"), "--requests",
                   str(ROOT / "examples/batch/requests.jsonl"), "-o", str(out), "--explain"])
    assert status == 0
    text = out.read_text().splitlines()
    assert text[0].split(",")[:5] == ['"row"', '"id"', '"customer"', '"team"', '"allowed"']
    assert len(text) == 10
    # readable as any new file is (mkstemp's owner-only mode must not leak out)
    umask = os.umask(0o022)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_many_buckets_equal_one(tmp_path: Path, fmt: str) -> None:
    """A run split into many small buckets (a few customers each, the answers merged from
    many row ranges) writes the very file a run in one bucket writes; and the work rows
    the Spark engine is given do not depend on the buckets either."""
    import policylang.batch as batch

    policy = compile_policy(TIGHT, "tight.pol")
    paths = batch_data.write_all(str(tmp_path), 400, "jsonl", start=dt.date(2026, 10, 23), seed=11)
    outputs = []
    for name, size, workers, rows in (("one", 10**9, 1, 10**9), ("many", 7, 2, 50), ("many1", 3, 1, 13)):
        folder = tmp_path / f"spill-{name}"
        folder.mkdir()
        problems = batch.Problems()
        scattered = batch.scatter(policy, paths["customers"], paths["ledger"], paths["requests"], problems,
                                  str(folder), bucket_customers=size)
        assert not problems
        assert (scattered.buckets == 1) == (name == "one")
        batch.ANSWER_ROWS, saved = rows, batch.ANSWER_ROWS
        try:
            out = tmp_path / f"out-{name}.{fmt}"
            tally = batch.run_files(policy, scattered, str(out), workers=workers)
        finally:
            batch.ANSWER_ROWS = saved
        assert tally.decisions == scattered.requests == 800
        outputs.append(out.read_bytes() if fmt == "jsonl" else pq.read_table(out))
        assert not [f for f in os.listdir(folder) if f.startswith("answers-")]  # every range was merged
    got = read_out(tmp_path / f"out-one.{fmt}")
    assert [r["row"] for r in got] == sorted(r["row"] for r in got)
    assert any("call centre" in r["denied_by"] for r in got)  # the coupled group decided something
    if fmt == "jsonl":
        assert outputs[0] == outputs[1] == outputs[2]
    else:
        assert outputs[0].equals(outputs[1]) and outputs[0].equals(outputs[2])


def test_ledger_read_in_parts_equals_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A JSON Lines ledger read in byte ranges on several processes (what a large one
    gets) spills the same rows, reports the same bad rows in the same (row) order, and
    the batch writes the very file the one-process read gives; a part that fails is an
    error of the run, as it is read whole."""
    import policylang.batch as batch

    policy = compile_policy(TIGHT, "tight.pol")
    paths = batch_data.write_all(str(tmp_path), 300, "jsonl", start=dt.date(2026, 10, 23), seed=5)
    lines = Path(paths["ledger"]).read_bytes().splitlines(keepends=True)
    # bad rows spread through the file (each part gets some): unparsable, unknown channel, blank
    for at in (5, 777, 1500, 2222, 2900):
        lines.insert(at, b"{not json\n" if at % 2 else b'{"customer": "c0000001", "at": "2026-10-01T00:00:00Z", '
                     b'"channel": "pigeon", "purpose": "marketing", "team": "growth"}\n')
    lines.insert(1000, b"\n")
    Path(paths["ledger"]).write_bytes(b"".join(lines))
    outputs, reports = [], []
    for name, workers in (("whole", 1), ("parts", 3), ("many", 11)):
        monkeypatch.setattr(batch, "PART_BYTES", 0)
        folder = tmp_path / f"spill-{name}"
        folder.mkdir()
        problems = batch.Problems()
        scattered = batch.scatter_apart(policy, paths["customers"], paths["ledger"], paths["requests"], problems,
                                        str(folder), bucket_customers=40, workers=workers)
        assert scattered.ledger_parts == workers
        reports.append([(b.file, b.row, b.field, b.message) for b in problems.rows])
        problems.rows.clear()
        out = tmp_path / f"out-{name}.jsonl"
        batch.run_files(policy, scattered, str(out), workers=2)
        outputs.append(out.read_bytes())
    assert len(reports[0]) == 5 + sum(1 for r in reports[0] if "has a bad row" in r[3]) > 5
    assert [r[1] for r in reports[0][:5]] == sorted(r[1] for r in reports[0][:5])
    assert reports[0] == reports[1] == reports[2]
    assert outputs[0] == outputs[1] == outputs[2]
    Path(paths["ledger"]).write_bytes(b"".join(lines[:3000]))
    monkeypatch.setattr(batch, "ledger_batches", None)  # every part fails: raised in the parent
    (tmp_path / "spill-failed").mkdir()
    with pytest.raises(TypeError):
        batch.scatter_apart(policy, paths["customers"], paths["ledger"], paths["requests"], batch.Problems(),
                            str(tmp_path / "spill-failed"), workers=2)


def test_repeated_customer_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Customers are validated once per distinct record (issue 12, third round): a bad
    record given on several rows is still reported on each, an id given twice still on
    the second even when its record was seen, and customers sharing a record still get
    their own answers (their requests name them)."""
    same = {"timezone": "Europe/London", "status": "active", "owner": "cards"}
    people = [{"id": f"c{k}", **same} for k in range(4)]
    people += [{"id": "bad1", **same, "status": "sleeping"}, {"id": "bad2", **same, "status": "sleeping"},
               {"id": "c1", **same}]
    (tmp_path / "customers.jsonl").write_text("".join(json.dumps(p) + "\n" for p in people))
    (tmp_path / "ledger.jsonl").write_text("")
    (tmp_path / "requests.jsonl").write_text("".join(
        json.dumps({"id": f"r{k}", "customer": f"c{k}", "team": "cards", "channel": "email", "purpose": "marketing",
                    "at": "2026-11-24T10:00:00Z"}) + "\n" for k in range(4)))
    paths = {role: str(tmp_path / f"{role}.jsonl") for role in ("customers", "ledger", "requests")}
    out = tmp_path / "out.jsonl"
    assert run_batch(write_policy(tmp_path, NORTHWIND), paths, out) == 2
    err = capsys.readouterr().err
    assert "customers.jsonl: row 5: field `status`" in err and "customers.jsonl: row 6: field `status`" in err
    assert "row 7" in err and "customer `c1` is given twice (first on row 2)" in err
    rejects = tmp_path / "rejects.jsonl"
    assert run_batch(write_policy(tmp_path, NORTHWIND), paths, out, "--rejects", str(rejects)) == 0
    # the request of c1, whose id is given twice, is refused too (which record would it use?)
    assert [(Path(r["file"]).name, r["row"], r["field"]) for r in read_out(rejects)] == [
        ("customers.jsonl", 5, "status"), ("customers.jsonl", 6, "status"), ("customers.jsonl", 7, "id"),
        ("requests.jsonl", 2, "customer")]
    assert [(r["id"], r["customer"]) for r in read_out(out)] == [("r0", "c0"), ("r2", "c2"), ("r3", "c3")]

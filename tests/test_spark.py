"""The Spark engine for real: PySpark in local mode (2 cores) on a Java runtime.

One session for the whole module (starting Spark costs seconds). The answers must equal
the local engine's row for row, and both the single-request path's (tests/test_batch.py's
reference), on a DST week with a capacity rule that couples customers, with the work
rows shuffled and split into many small input partitions so that a customer's rows
arrive through different partitions. Replay on Spark equals replay on the local engine
(a capacity rule coupling customers, --against, --from/--to), and the planner's
per-customer step on Spark gives the local engine's plan.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from policylang.batch import Problems, prepare, run_local
from policylang.cli import main
from policylang.compiler import compile_policy
from tests.test_batch import NORTHWIND, TIGHT, batch_data, compare, read_out, reference

REASON = "Spark tests need a Java runtime (`java` on PATH) and pyspark; .ci/run installs both"


def _missing() -> str | None:
    if shutil.which("java") is None:
        return "no `java` on PATH"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed"
    return None


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    missing = _missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{REASON}: {missing}")
        pytest.skip(f"{REASON}: {missing}")
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("policylang tests")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.files.maxPartitionBytes", str(64 * 1024))
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .getOrCreate())
    yield session
    session.stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("spark")
    # 23-29 Oct 2026: Europe's clocks go back on the 25th
    paths = batch_data.write_all(str(folder), 600, "jsonl", start=dt.date(2026, 10, 23), seed=11)
    (folder / "policy.pol").write_text(TIGHT)
    return folder, paths


def test_spark_equals_local_equals_single_requests(spark: Any, data: tuple[Path, dict[str, str]]) -> None:
    from policylang.spark import run_spark

    folder, paths = data
    policy = compile_policy(TIGHT, "policy.pol")
    problems = Problems()
    prepared = prepare(policy, paths["customers"], paths["ledger"], paths["requests"], problems)
    assert not problems and prepared.coupled > 0
    local = run_local(policy, prepared.work, explain=True, workers=2)
    # the work rows in a random order: a customer's rows come through several input partitions
    work = prepared.work
    shuffled = work.take(pa.array(__import__("random").Random(5).sample(range(work.num_rows), work.num_rows)))
    spark_table = run_spark(TIGHT, "policy.pol", shuffled, explain=True, spark=spark)
    assert spark_table.equals(local)
    got = local.drop_columns(["trace"]).to_pylist()
    compare(got, reference(TIGHT, paths))
    assert any("call centre" in r["denied_by"] for r in got)


def test_spark_command(spark: Any, data: tuple[Path, dict[str, str]]) -> None:
    folder, paths = data
    outputs = {}
    for engine in ("local", "spark"):
        out = folder / f"out-{engine}.parquet"
        assert main(["batch", str(folder / "policy.pol"), "--customers", paths["customers"], "--ledger", paths["ledger"],
                     "--requests", paths["requests"], "-o", str(out), "--engine", engine, "--no-progress"]) == 0
        outputs[engine] = pq.read_table(out)
    assert outputs["spark"].equals(outputs["local"])
    assert len(read_out(folder / "out-spark.parquet")) == 1200


# ---- replay (issue 12) ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def replay_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("replay")
    # the ledger's 60 days before 10 Nov 2026 hold both Europe's (25 Oct) and America's (1 Nov) clock changes
    paths = batch_data.write_all(str(folder), 300, "jsonl", start=dt.date(2026, 11, 10), seed=13)
    (folder / "tight.pol").write_text(TIGHT)
    (folder / "northwind.pol").write_text(NORTHWIND)
    return folder, paths


def test_replay_spark_equals_local(spark: Any, replay_data: tuple[Path, dict[str, str]]) -> None:
    """The tight call centre (a capacity rule: every customer's calls count) against the
    shipped one: Spark's replay equals the local engine's, verdict for verdict."""
    from policylang.replay import prepare_replay, run_local
    from policylang.spark import run_replay

    folder, paths = replay_data
    new, old = compile_policy(TIGHT, "tight.pol"), compile_policy(NORTHWIND, "northwind.pol")
    problems = Problems()
    job = prepare_replay(new, old, paths["ledger"], paths["customers"], None, None, problems)
    assert job is not None and not problems
    local = run_local(job, workers=2).to_pylist()
    got = run_replay(job, TIGHT, "tight.pol", NORTHWIND, "northwind.pol", spark=spark).to_pylist()
    assert got == local
    assert len(got) > 2000
    # the capacity rule, which couples customers, denies some contacts under the new policy only
    flagged = [r for r in got if "call centre" in r["denied_by"]]
    assert flagged and all("call centre" not in r["old_denied_by"] for r in flagged)
    assert len({r["customer"] for r in flagged}) > 1
    assert {r["week"] for r in got} >= {"2026-W43", "2026-W44"}  # the weeks of both clock changes


def test_replay_spark_command(spark: Any, replay_data: tuple[Path, dict[str, str]]) -> None:
    folder, paths = replay_data
    outputs = {}
    for engine in ("local", "spark"):
        out = folder / f"replay-{engine}.parquet"
        assert main(["replay", str(folder / "tight.pol"), "--ledger", paths["ledger"], "--customers",
                     paths["customers"], "--against", str(folder / "northwind.pol"), "--from", "2026-10-20",
                     "--to", "2026-11-03", "-o", str(out), "--engine", engine, "--no-progress"]) == 0
        outputs[engine] = pq.read_table(out)
    assert outputs["spark"].equals(outputs["local"])
    assert outputs["spark"].num_rows > 0


# ---- the planner's per-customer step (issue 13) -------------------------------------------------


def test_plan_spark_equals_local(spark: Any, tmp_path: Path) -> None:
    """examples/cycle (400 customers, 2,000 candidates): the plan and its summary are the
    same whether each customer's feasible subsets come from local processes or Spark."""
    import json

    example = Path(__file__).resolve().parents[1] / "examples" / "cycle"
    found = {}
    for engine in ("local", "spark"):
        out = tmp_path / f"plan-{engine}.jsonl"
        assert main(["plan", str(example / "bank.pol"), "--customers", str(example / "customers.jsonl"),
                     "--ledger", str(example / "ledger.jsonl"), "--candidates", str(example / "candidates.csv"),
                     "--cycle", str(example / "cycle.toml"), "-o", str(out), "--solver", "lagrangian",
                     "--engine", engine, "--format", "json"]) == 0
        summary = json.loads((tmp_path / f"plan-{engine}.jsonl.summary.json").read_text())
        del summary["seconds"]
        found[engine] = (out.read_text(), summary)
    assert found["spark"] == found["local"]
    assert found["spark"][1]["granted"] > 0

"""The Spark engine: batch, replay and the planner's per-customer step on Spark executors (PySpark).

Each job runs the local engine's own per-group function on the executors, so the answers
are identical: :func:`run_spark` (batch, below), :func:`run_replay` (replay) and
:func:`run_patterns` (the planner's feasible subsets per customer).

The driver prepares the work rows exactly as the local engine does (:func:`policylang.batch.prepare`:
the same validation, the same groups), writes them as Parquet, and Spark reads them,
groups them by *bucket* (a hash of the group key; the coupled group of ``capacity`` rules
is one bucket of its own) and runs :func:`policylang.batch.decide_group`, the local
engine's own function, on each bucket with ``applyInPandas``. A bucket holds whole
groups, so every customer's cycle is decided in one call, in the same order as locally;
buckets rather than single customers keep the per-call overhead of a pandas group to a
few per executor core. The answers come back as Parquet, sorted by request row like the
local engine's, so the two are identical row for row.

Each executor process compiles the policy text once (cached by its hash). On a cluster,
ship the wheel with ``spark-submit --py-files policylang-*.whl`` (docs/batch.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Sequence
from typing import Any

from policylang.errors import InputError
from policylang.rules import Policy

_COMPILED: dict[str, Policy] = {}
BUCKETS_PER_CORE = 4
ROW_GROUP = 100_000


def _policy(text: str, name: str) -> Policy:
    """The policy compiled once per executor process."""
    key = hashlib.sha256(text.encode()).hexdigest()
    found = _COMPILED.get(key)
    if found is None:
        from policylang.compiler import compile_policy

        found = _COMPILED[key] = compile_policy(text, name)
    return found


def session(master: str | None = None) -> Any:
    """The active Spark session, or a new one (``local[*]`` unless ``master`` says otherwise)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError("--engine spark needs PySpark", hint="pip install 'policylang[spark]'") from None
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    master = master or os.environ.get("SPARK_MASTER", "local[*]")
    if master.startswith("local") and shutil.which("java") is None:
        raise InputError("--engine spark in local mode needs a Java runtime (17 or later) and none is on PATH",
                         hint="install one (Debian: apt-get install openjdk-17-jre-headless) or give --spark-master")
    builder = SparkSession.builder.appName("policylang").master(master)
    return (builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", str(max(2, (os.cpu_count() or 1) * 2)))
            .getOrCreate())


def bucket_of(key: str, buckets: int) -> int:
    """The bucket of a group key (stable across processes, unlike ``hash``)."""
    from policylang.batch import CAPACITY_KEY

    return -1 if key == CAPACITY_KEY else zlib.crc32(key.encode()) % buckets


def run_spark(text: str, name: str, work: Any, *, explain: bool = False, master: str | None = None,
              spark: Any = None) -> Any:
    """Decide the work rows on Spark with the policy ``text`` (from file ``name``: a compiled
    policy holds functions, so executors compile the text); the answers in request row
    order (a pyarrow table)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from policylang.batch import answer_schema, finish

    if work.num_rows == 0:  # Spark would write no part file to read back
        return finish([], explain)
    spark = spark or session(master)
    cores = spark.sparkContext.defaultParallelism
    buckets = max(1, cores * BUCKETS_PER_CORE)
    keys = work.column("key").to_pylist()
    work = work.append_column("bucket", pa.array([bucket_of(k, buckets) for k in keys], pa.int32()))
    schema = answer_schema(explain)
    ddl = ", ".join(f"{f.name} {_ddl(f.type)}" for f in schema)

    def decide(frame: Any) -> Any:
        import pandas as pd

        from policylang.batch import decide_group

        frame = frame.sort_values(["key", "customer", "kind", "row"], kind="stable")
        columns = {c: _plain(frame[c].tolist()) for c in frame.columns if c != "bucket"}
        answers = decide_group(_policy(text, name), columns, explain)
        return pd.DataFrame(answers.rows(), columns=schema.names)

    with tempfile.TemporaryDirectory(prefix="policylang-spark-") as folder:
        # row groups small enough that executors share the reading
        pq.write_table(work, os.path.join(folder, "work.parquet"), row_group_size=ROW_GROUP)
        frame = spark.read.parquet(os.path.join(folder, "work.parquet"))
        out = frame.groupBy("bucket").applyInPandas(decide, ddl)
        out.write.parquet(os.path.join(folder, "answers"))
        table = pq.read_table(os.path.join(folder, "answers"), schema=schema)
    return finish([table], explain)


def _plain(values: list[Any]) -> list[Any]:
    """pandas' missing values (NaN in number columns) as None, numbers as ints."""
    out: list[Any] = []
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            out.append(None)
        elif isinstance(v, float):
            out.append(int(v))
        else:
            out.append(v)
    return out


def _ddl(kind: Any) -> str:
    import pyarrow as pa

    if pa.types.is_list(kind):
        return f"array<{_ddl(kind.value_type)}>"
    return {pa.int64(): "long", pa.string(): "string", pa.bool_(): "boolean"}[kind]


# ---- replay --------------------------------------------------------------------------------

REPLAY_TYPES = {"row": "long", "allowed": "boolean", "old_allowed": "boolean", "denied_by": "array<string>",
                "old_denied_by": "array<string>"}


def run_replay(job: Any, new_text: str, new_name: str, old_text: str | None = None, old_name: str | None = None,
               *, master: str | None = None, spark: Any = None) -> Any:
    """The replay's contacts decided on Spark, an Arrow table in ledger row order: the same
    as the local engine's :func:`policylang.replay.run_local`.

    ``job`` is what :func:`policylang.replay.prepare_replay` built on the driver. The ledger
    rows go to Spark as Parquet with a bucket (a hash of the customer, so a bucket holds
    whole customers), cogrouped with the customers' records; each bucket runs
    :func:`policylang.replay.replay_columns`, the local engine's own function. A replay
    changes nothing, so ``capacity`` rules count the same ledger prefix everywhere: the
    driver's capacity counts (:class:`policylang.replay.PrefixLoads`, only the contacts a
    capacity rule counts) are broadcast to the executors once.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from policylang.batch import LEDGER_COLUMNS
    from policylang.replay import replay_names, replay_schema

    if job.ledger.num_rows == 0:
        return replay_schema(old_text is not None).empty_table()
    spark = spark or session(master)
    cores = spark.sparkContext.defaultParallelism
    buckets = max(1, cores * BUCKETS_PER_CORE)
    ledger = job.ledger.table()
    against = old_text is not None
    ledger = ledger.append_column("bucket", pa.array([zlib.crc32(c.encode()) % buckets
                                                      for c in ledger.column("customer").to_pylist()], pa.int32()))
    ids = sorted(job.records)
    records = pa.table({"id": pa.array(ids, pa.string()), "record": pa.array([job.records[i] for i in ids], pa.string()),
                        "bucket": pa.array([zlib.crc32(i.encode()) % buckets for i in ids], pa.int32())})
    shared = spark.sparkContext.broadcast((job.loads_new, job.loads_old, job.start_us, job.end_us))
    names = replay_names(against)
    ddl = ", ".join(f"{n} {REPLAY_TYPES.get(n, 'string')}" for n in names)

    def decide(left: Any, right: Any) -> Any:
        import pandas as pd

        from policylang.replay import ReplayJob, replay_columns

        if left.empty:
            return pd.DataFrame({n: pd.Series([], dtype=object) for n in names})
        left = left.sort_values(["customer", "at_us", "row"], kind="stable")
        led = {c: _plain(left[c].tolist()) for c in LEDGER_COLUMNS}
        loads_new, loads_old, start_us, end_us = shared.value
        new = _policy(new_text, new_name)
        old = _policy(old_text, old_name or "old.pol") if old_text is not None else None
        here = ReplayJob(new, old, None, dict(zip(right["id"].tolist(), right["record"].tolist(), strict=True)),
                         start_us, end_us, loads_new, loads_old)
        return pd.DataFrame(replay_columns(here, led), columns=names)

    with tempfile.TemporaryDirectory(prefix="policylang-spark-") as folder:
        pq.write_table(ledger, os.path.join(folder, "ledger.parquet"), row_group_size=ROW_GROUP)
        pq.write_table(records, os.path.join(folder, "customers.parquet"), row_group_size=ROW_GROUP)
        left = spark.read.parquet(os.path.join(folder, "ledger.parquet")).groupBy("bucket")
        right = spark.read.parquet(os.path.join(folder, "customers.parquet")).groupBy("bucket")
        left.cogroup(right).applyInPandas(decide, ddl).write.parquet(os.path.join(folder, "answers"))
        table = pq.read_table(os.path.join(folder, "answers"))
    shared.unpersist()
    return table.select(names).cast(replay_schema(against)).sort_by("row")


# ---- the planner's per-customer step ---------------------------------------------------------


def run_patterns(text: str, name: str, jobs: Sequence[Any], *, master: str | None = None,
                 spark: Any = None) -> list[list[int]]:
    """:func:`policylang.plan.oracle.all_patterns` on Spark: each customer's feasible subsets
    of its candidates, in job order (so the plan built from them is the local engine's).

    A job (customer record, ledger, candidate requests, groups) goes to Spark pickled, in a
    bucket by its position; each bucket runs :func:`policylang.plan.oracle.customer_patterns`,
    the local engine's own function, with the policy compiled once per executor process.
    Nothing else of the planner is per customer: the shared rows and the solve run on the
    driver.
    """
    import pickle

    import pyarrow as pa
    import pyarrow.parquet as pq

    if not jobs:
        return []
    spark = spark or session(master)
    buckets = max(1, spark.sparkContext.defaultParallelism * BUCKETS_PER_CORE)
    table = pa.table({
        "k": pa.array(range(len(jobs)), pa.int64()),
        "bucket": pa.array([k % buckets for k in range(len(jobs))], pa.int32()),
        "job": pa.array([pickle.dumps(job, protocol=5) for job in jobs], pa.binary()),
    })

    def walk(frame: Any) -> Any:
        import pandas as pd

        from policylang.plan.oracle import customer_patterns

        policy = _policy(text, name)
        found = [(int(k), json.dumps(customer_patterns(policy, *pickle.loads(job))))
                 for k, job in zip(frame["k"].tolist(), frame["job"].tolist(), strict=True)]
        return pd.DataFrame(found, columns=["k", "masks"])

    with tempfile.TemporaryDirectory(prefix="policylang-spark-") as folder:
        pq.write_table(table, os.path.join(folder, "jobs.parquet"), row_group_size=10_000)
        frame = spark.read.parquet(os.path.join(folder, "jobs.parquet"))
        frame.groupBy("bucket").applyInPandas(walk, "k long, masks string").write.parquet(
            os.path.join(folder, "patterns"))
        out = pq.read_table(os.path.join(folder, "patterns")).sort_by("k")
    masks: list[list[int]] = [json.loads(text) for text in out.column("masks").to_pylist()]
    if len(masks) != len(jobs):
        raise RuntimeError(f"Spark returned {len(masks)} customers' patterns for {len(jobs)} customers")
    return masks

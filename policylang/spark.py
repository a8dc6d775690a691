"""The Spark engine: the batch job's groups decided on Spark executors (PySpark).

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
import os
import tempfile
import zlib
from typing import Any

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
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    builder = SparkSession.builder.appName("policylang batch")
    builder = builder.master(master or os.environ.get("SPARK_MASTER", "local[*]"))
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
        return pd.DataFrame(answers, columns=schema.names)

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

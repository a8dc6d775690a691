"""``replay.differing`` (the rows whose two verdicts differ, compared in Arrow) against a
reference that compares each row's Python values, on tables with nulls, empty lists,
lists of other lengths and names that hold any characters (a separator would not do)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from policylang.replay import differing

NAMES = st.sampled_from(["cap", "quiet", "a\x1fb", "a", "b", "", "\x00"])
LISTS = st.none() | st.lists(NAMES | st.none(), max_size=3)
FLAGS = st.none() | st.booleans()


def reference(rows: list[tuple[Any, Any, Any, Any]]) -> list[int]:
    return [k for k, (a, oa, d, od) in enumerate(rows) if a != oa or d != od]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(FLAGS, FLAGS, LISTS, LISTS), max_size=30), st.integers(1, 4))
def test_differing_equals_comparing_each_row(rows: list[tuple[Any, Any, Any, Any]], pieces: int) -> None:
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    kinds = (pa.bool_(), pa.bool_(), pa.list_(pa.string()), pa.list_(pa.string()))
    arrays = [pa.array(list(column), kind) for column, kind in zip(columns, kinds, strict=True)]
    table = pa.table({"row": list(range(len(rows))), "allowed": arrays[0], "old_allowed": arrays[1],
                      "denied_by": arrays[2], "old_denied_by": arrays[3]})
    # the table in several chunks, as the output's ranges come
    size = max(1, len(rows) // pieces)
    table = pa.concat_tables([table.slice(start, size) for start in range(0, len(rows), size)] or [table])
    assert differing(table).column("row").to_pylist() == reference(rows)


def test_lists_of_equal_length_differ_by_element() -> None:
    table = pa.table({"row": [0, 1, 2, 3], "allowed": [False] * 4, "old_allowed": [False] * 4,
                      "denied_by": [["a", "b"], ["a", "b"], ["a\x1fb"], []],
                      "old_denied_by": [["a", "b"], ["b", "a"], ["a", "b"], []]})
    assert differing(table).column("row").to_pylist() == [1, 2]

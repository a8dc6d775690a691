"""Replay's capacity counts (``replay.PrefixLoads``): the contacts no capacity rule can
count, whatever the customer's owner, are dropped a shape at a time before the loop per
row (``replay._maybe_governed``); the counts must be those of the loop alone over every
row, for rules that select by owner and except the owner, customers with and without an
owner, and customers absent from the customers file."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policylang
from policylang import replay
from policylang.batch import LEDGER_COLUMNS, ledger_schema

POLICY = policylang.compile("""
policy "loads"
channels  email, sms, phone
teams     gold, silver, service
purposes  marketing, servicing
customer
  owner   team
owner is customer.owner
capacity "desk":      at most 5 phone by service per 7 days
capacity "owned sms": at most 4 sms by owner per 7 days
capacity "others":    at most 9 email by gold, silver except owner per calendar day
""", "loads.pol")

OWNERS = {"a": "gold", "b": "silver", "c": None, "d": "service"}
ROW = st.tuples(st.sampled_from(["a", "b", "c", "d", "e"]), st.sampled_from(["email", "sms", "phone"]),
                st.sampled_from(["marketing", "servicing"]), st.sampled_from(["gold", "silver", "service"]),
                st.sampled_from(["sent", "planned", "displaced"]), st.integers(0, 10**6))


def batch(rows: list[tuple[str, str, str, str, str, int]]) -> pa.RecordBatch:
    columns: dict[str, list[Any]] = {name: [None] * len(rows) for name in LEDGER_COLUMNS}
    columns["row"] = list(range(2, len(rows) + 2))
    for name, k in (("customer", 0), ("channel", 1), ("purpose", 2), ("team", 3), ("status", 4)):
        columns[name] = [row[k] for row in rows]
    columns["at_us"] = [1_790_000_000_000_000 + row[5] * 60_000_000 for row in rows]
    return pa.record_batch(columns, schema=ledger_schema())


def counts(rows: list[tuple[str, str, str, str, str, int]]) -> dict[str, list[tuple[tuple[int, int], str | None]]]:
    loads = replay.PrefixLoads(POLICY, OWNERS)
    loads.add(batch(rows))
    loads.settle()
    return {name: [(place, contact.customer) for place, contact in zip(places, contacts, strict=True)]
            for name, (places, _, contacts) in loads.by_rule.items()}


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, max_size=40))
def test_dropping_shapes_no_rule_counts_changes_no_count(rows: list[tuple[str, str, str, str, str, int]]) -> None:
    with_filter = counts(rows)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(replay, "_maybe_governed", lambda counted, rules, owners: counted)
        assert counts(rows) == with_filter


def test_owner_rules_keep_their_shapes() -> None:
    """sms by gold is counted by `by owner` for a customer owned by gold (and only then);
    email by gold by `except owner` except for such a customer."""
    rows = [("a", "sms", "marketing", "gold", "sent", 1), ("b", "sms", "marketing", "gold", "sent", 2),
            ("a", "email", "marketing", "gold", "sent", 3), ("b", "email", "marketing", "gold", "sent", 4),
            ("c", "phone", "servicing", "service", "sent", 5), ("c", "phone", "servicing", "gold", "sent", 6)]
    found = counts(rows)
    assert [customer for _, customer in found["owned sms"]] == ["a"]
    assert [customer for _, customer in found["others"]] == ["b"]
    assert [customer for _, customer in found["desk"]] == ["c"]

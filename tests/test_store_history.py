"""A SQL store's read builds the evaluator's index from plain tuples (issue 11, store path):
exactly the index ``Row`` objects give, for every kind of stored row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from policylang.history import History
from policylang.ingest import history_from_rows, history_from_values
from policylang.ledger import open_ledger
from policylang.ledger.rows import COLUMNS, Row
from policylang.ledger.schema import columns_at

NOW = 1_780_000_000_000_000
names = st.sampled_from(["email", "sms", "phone"])


@st.composite
def rows(draw: Any) -> Row:
    at = NOW + draw(st.integers(-10**12, 10**12))
    campaign = draw(st.one_of(st.none(), st.sampled_from(["a", "b"]), st.tuples(st.just("a"), st.just("b"))))
    if draw(st.booleans()):
        return Row(id=draw(st.uuids()).hex, customer="c", kind="event", at_us=at,
                   event=draw(st.sampled_from(["complaint", "opt_out"])), campaign=campaign)
    status = draw(st.sampled_from(["sent", "planned", "displaced", "released"]))
    ended = draw(st.sampled_from([None, "released", "expired", "void:", "void:wrong person"])) \
        if status == "released" else None
    return Row(id=draw(st.uuids()).hex, customer="c", kind="contact", at_us=at, channel=draw(names),
               purpose=draw(st.sampled_from(["marketing", "debt"])), team=draw(st.sampled_from(["cards", "sales"])),
               status=status, outcome=draw(st.sampled_from([None, "delivered"])), campaign=campaign,
               expires_us=draw(st.one_of(st.none(), st.integers(NOW - 10**9, NOW + 10**9))), ended=ended,
               warnings=draw(st.sampled_from([(), ("w",)])))


def seen(history: History) -> tuple[Any, ...]:
    return (list(history.counted), history.counted_us, history.events, history.event_campaigns,
            list(history.voided), list(history.planned), len(history))


@settings(max_examples=150, deadline=None)
@given(st.lists(rows(), max_size=25), st.sampled_from([len(COLUMNS), len(columns_at(3)), len(columns_at(2))]))
def test_tuples_give_the_index_rows_give(found: list[Row], width: int) -> None:
    if width < len(COLUMNS):  # an older schema stores neither campaign lists nor warnings
        found = [r for r in found if not isinstance(r.campaign, tuple) and not r.warnings]
    values = [row.values(width) for row in found]
    expected = history_from_rows([Row.from_values(v) for v in values], NOW)
    plain = history_from_values(values, NOW, COLUMNS[:width])
    if any(isinstance(r.campaign, tuple) or r.warnings for r in found):
        assert plain is None  # the JSON columns are read by Row.from_values
        return
    assert plain is not None
    assert seen(plain) == seen(expected)


def test_a_sqlite_ledger_reads_its_index_as_before(tmp_path: Path) -> None:
    import datetime as dt

    from policylang.records import Contact, Event

    at = dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc)
    with open_ledger(f"sqlite:///{tmp_path}/l.sqlite", create=True) as ledger:
        ledger.append([Contact(at=at + dt.timedelta(days=k), channel="email", purpose="marketing", team="cards",
                               customer="c", campaign="a" if k % 2 else None) for k in range(5)]
                      + [Event(at=at, name="complaint", customer="c")])
        plain = ledger.history("c")
        with ledger._transaction(write=False) as txn:  # noqa: SLF001 - the old path, for comparison
            rows_then = txn.rows("c")
            now_us = ledger._now_us(txn)  # noqa: SLF001
        assert seen(plain) == seen(history_from_rows(rows_then, now_us))

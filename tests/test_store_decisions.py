"""Issue 11 (store path): a decision on the index a SQLite digest builds (form 2: shapes, words
made when read, contacts picked by their shapes' verdicts) is exactly the decision on the
customer's records as the rows give them (``Row.entry``: the records path, sharing no code
with the digest's index), for ledgers of every status, ties, instants around a DST change,
and planned contacts whose deadlines pass; and a digest read in form 1 decides the same.

Northwind's twenty rules read every part of the index: selectors by team, channel and
purpose, `by team` groups, outcomes, exclusive rules (rivals of other teams), precedence
over planned contacts, quiet rules after events.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policylang
from policylang import ingest
from policylang.ledger import digest
from policylang.ledger.rows import Row
from policylang.ledger.sqlite import _decision_values
from policylang.records import Request
from tests.test_ledger_digests import form_1

ROOT = Path(__file__).resolve().parent.parent
POLICY = policylang.load(ROOT / "examples" / "northwind.pol")
UTC = dt.timezone.utc
# Chicago springs forward at 2026-03-08 08:00 UTC; local midnight is 06:00 UTC after it
DST = dt.datetime(2026, 3, 8, 8, 0, tzinfo=UTC)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
CUSTOMERS = [ingest.customer_of(POLICY, {"timezone": zone, "status": "active", "owner": owner, "age": 40,
                                         "opted_out": opted})
             for zone, owner, opted in (("America/Chicago", "cards", ["push"]), ("Europe/London", "growth", []),
                                        ("America/Chicago", "collections", ["sms"]))]  # fmt: skip


def micros(at: dt.datetime) -> int:
    return (at - EPOCH) // dt.timedelta(microseconds=1)


# few instants (so many ties), around the DST change, local midnight and the hours before now
OFFSETS = [-7 * 86400, -86400, -3 * 3600, -3600, -60, 0, 60, 3600, 2 * 3600, 86400, 3 * 86400]
NOW = DST + dt.timedelta(hours=2)


@st.composite
def stored_rows(draw: Any) -> list[Row]:
    rows = []
    for k in range(draw(st.integers(0, 45))):
        at = micros(DST) + draw(st.sampled_from(OFFSETS)) * 1_000_000
        campaign = draw(st.sampled_from([None, "spring", ("spring", "summer")]))
        if draw(st.integers(0, 9)) == 0:
            rows.append(Row(id=f"e{k}", customer="c", kind="event", at_us=at, campaign=campaign,
                            event=draw(st.sampled_from(POLICY.events))))  # fmt: skip
            continue
        status = draw(st.sampled_from(["sent", "sent", "planned", "planned", "displaced", "released"]))
        ended = draw(st.sampled_from([None, "released", "expired", "void:", "void:wrong person"])) \
            if status == "released" else None
        # a plan's deadline before now (released when read), after it, or none
        expires = draw(st.sampled_from([None, micros(NOW) - 1, micros(NOW), micros(NOW) + 1, micros(NOW) + 10**9])) \
            if status == "planned" else None
        rows.append(Row(id=f"r{k}", customer="c", kind="contact", at_us=at,
                        channel=draw(st.sampled_from(POLICY.channels)), purpose=draw(st.sampled_from(POLICY.purposes)),
                        team=draw(st.sampled_from(POLICY.teams)), status=status,
                        outcome=draw(st.sampled_from([None, *POLICY.outcomes])), campaign=campaign,
                        expires_us=expires, ended=ended))  # fmt: skip
    return sorted(rows, key=lambda row: row.at_us)  # ledger order: instant, then storage order


requests = st.builds(Request, st.sampled_from(POLICY.teams), st.sampled_from(POLICY.channels),
                     st.sampled_from(POLICY.purposes),
                     st.sampled_from([NOW + dt.timedelta(seconds=s) for s in (-3600, 0, 59, 3600, 30 * 3600)]))


def answer(decision: Any) -> tuple[Any, ...]:
    return (decision.allowed, decision.denied_by, decision.next_allowed_at, decision.displaces, decision.warnings,
            decision.explain())


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stored_rows(), st.lists(requests, min_size=1, max_size=4), st.sampled_from(CUSTOMERS),
       st.sampled_from([0, -1, 1, 10**9]))  # fmt: skip
def test_a_decision_on_the_digests_index_is_the_decision_on_the_records(rows: list[Row], asked: list[Request],
                                                                        customer: Any, later: int) -> None:
    now_us = micros(NOW) + later
    records = [row.entry(now_us) for row in rows]
    stored = digest.decode(digest.encode(digest.from_values("c", [_decision_values(row) for row in rows])), "c")
    old = digest.decode(form_1(digest.from_values("c", [_decision_values(row) for row in rows])), "c")
    assert stored is not None and old is not None
    fresh = [stored.history(now_us) for _ in asked]  # one fresh index a decision (a service's read)
    kept = old.history(now_us)  # and one index for every decision (a kept index)
    for request, index in zip(asked, fresh, strict=True):
        want = answer(POLICY.decide(customer, request, records))
        assert answer(POLICY.decide(customer, request, index)) == want
        assert answer(POLICY.decide(customer, request, kept)) == want

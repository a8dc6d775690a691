"""Issue 11 (reserve): a SQL store's capacity loads (``Txn.load_contacts``: plain tuples of the
columns a contact needs, no ``Row`` a row) are exactly the reference's
(``core.load_contacts``: every row read whole as a ``Row``, then ``Row.counted`` and
``Row.entry``), for rows of every status, void contacts, plans whose deadlines pass, campaign
lists, warnings, and rules by team and `by owner`, on SQLite and PostgreSQL."""

from __future__ import annotations

import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylang.ledger import open_ledger
from policylang.ledger.core import load_contacts
from policylang.ledger.rows import Row
from tests.ledger_fixtures import SHARED_STORES, fresh_url, make_policy

POLICY = make_policy(
    """
policy "loads"
channels  email, sms, phone
teams     gold, silver, service
purposes  marketing, servicing
outcomes  delivered, no_answer

customer
  owner   team

owner is customer.owner

capacity "call centre":   at most 5 phone by service per 7 days
capacity "owner sms":     at most 4 sms by owner per 7 days
capacity "not the owner": at most 9 marketing except owner per 7 days
"""
)
NOW = 1_000_000_000_000
WEEK = 7 * 86_400_000_000


@st.composite
def ledgers(draw: Any) -> tuple[list[Row], dict[str, str | None]]:
    owners = {f"c{k}": draw(st.sampled_from([None, *POLICY.teams])) for k in range(3)}
    rows = []
    for k in range(draw(st.integers(0, 30))):
        status = draw(st.sampled_from(["sent", "sent", "planned", "planned", "displaced", "released"]))
        rows.append(Row(
            id=f"r{k}", customer=draw(st.sampled_from(sorted(owners))), kind="contact",
            at_us=NOW + draw(st.sampled_from([-WEEK, -1, 0, 1, WEEK // 2, WEEK, WEEK + 1])),
            channel=draw(st.sampled_from(POLICY.channels)), purpose=draw(st.sampled_from(POLICY.purposes)),
            team=draw(st.sampled_from(POLICY.teams)), status=status,
            outcome=draw(st.sampled_from([None, *POLICY.outcomes])),
            campaign=draw(st.sampled_from([None, "spring", ("spring", "summer")])),
            expires_us=draw(st.sampled_from([None, NOW - 1, NOW, NOW + 1])) if status == "planned" else None,
            ended=draw(st.sampled_from([None, "released", "expired", "void:", "void:wrong person"]))
            if status == "released" else None,
            warnings=draw(st.sampled_from([(), ("warn",), ("a", "b")])),
        ))  # fmt: skip
    if draw(st.booleans()):
        rows.append(Row(id="e", customer="c0", kind="event", at_us=NOW, event="complaint"))
    return rows, owners


@pytest.mark.parametrize("kind", SHARED_STORES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(found=ledgers())
def test_a_sql_stores_loads_are_the_rows_loads(kind: str, found: tuple[list[Row], dict[str, str | None]]) -> None:
    rows, owners = found
    with tempfile.TemporaryDirectory() as folder:
        url = fresh_url(kind, folder)
        with open_ledger(url, create=True) as ledger:
            with ledger._transaction(write=True) as txn:  # noqa: SLF001 - rows as a store holds them
                for customer, owner in owners.items():
                    txn.put_customer(customer, f'{{"id": "{customer}"}}', owner)
                txn.insert(rows)
            with ledger._transaction(write=False) as txn:  # noqa: SLF001
                for rule in POLICY.rules:
                    if getattr(rule, "kind", "") != "capacity":
                        continue
                    for start, end in ((NOW - WEEK, NOW), (NOW, NOW + WEEK), (NOW - WEEK, NOW + 2 * WEEK)):
                        got = txn.load_contacts(rule, start, end, NOW)
                        want = load_contacts(txn, rule, start, end, NOW)
                        assert sorted(got, key=lambda c: c.id or "") == sorted(want, key=lambda c: c.id or "")
                        assert all(type(c.campaign) is not list for c in got)


def test_the_loads_skip_void_and_expired_plans() -> None:
    """A plan counts until its deadline (at the deadline it is released), a sent contact always."""
    rule = next(r for r in POLICY.rules if r.name == "call centre")
    rows = [
        Row("sent", "c0", "contact", NOW, channel="phone", purpose="servicing", team="service", status="sent"),
        Row("live", "c0", "contact", NOW, channel="phone", purpose="servicing", team="service", status="planned",
            expires_us=NOW + 1),
        Row("gone", "c0", "contact", NOW, channel="phone", purpose="servicing", team="service", status="planned",
            expires_us=NOW),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as folder, open_ledger(fresh_url("sqlite", folder), create=True) as ledger:
        with ledger._transaction(write=True) as txn:  # noqa: SLF001
            txn.insert(rows)
        with ledger._transaction(write=False) as txn:  # noqa: SLF001
            got = txn.load_contacts(rule, NOW - WEEK, NOW + WEEK, NOW)
    assert sorted(c.id or "" for c in got) == ["live", "sent"]
    assert {c.id: c.status for c in got} == {"sent": "sent", "live": "planned"}

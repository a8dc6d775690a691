"""SQLite digests (schema version 6, columns): after any sequence of ledger operations - and of other
programs' SQL on the entries table - every stored digest holds exactly the tuples a decision
would read from the rows, and a decision read from the digest equals one read from the rows."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylang.ingest import history_from_rows
from policylang.ledger import digest, open_ledger
from policylang.ledger.schema import DECISION_SELECT, SCHEMA_VERSION
from policylang.ledger.sqlite import SQLiteLedger
from policylang.records import Contact, Customer, Event, Request
from tests.ledger_fixtures import T0, make_policy
from tests.test_store_history import seen

POLICY = make_policy()
PEOPLE = ["ada", "bo", "cy"]
TEAMS = ["gold", "silver", "bronze", "service"]


def digests_match_rows(ledger: SQLiteLedger) -> int:
    """Check every stored digest against the rows (through a separate connection); how many."""
    conn = sqlite3.connect(ledger.path)
    try:
        found = conn.execute("SELECT customer, body FROM digests").fetchall()
        for customer, body in found:
            rows = conn.execute(DECISION_SELECT[SCHEMA_VERSION], (customer,)).fetchall()
            kept = digest.decode(body, customer)
            assert kept is not None and kept.columns() == digest.from_values(customer, rows).columns(), customer
    finally:
        conn.close()
    return len(found)


def same_decision_read(ledger: SQLiteLedger, customer: str) -> None:
    with ledger._transaction(write=False) as txn:  # noqa: SLF001 - the Row path, for comparison
        now_us = ledger._now_us(txn)  # noqa: SLF001
        rows = txn.rows(customer)
    assert everything(ledger.history(customer)) == everything(history_from_rows(rows, now_us))


def everything(history: Any) -> tuple[Any, ...]:
    """What an index shows: :func:`seen` and every contact as made (not only the counted)."""
    return seen(history), [history._contact(k) for k in range(history.size)]  # noqa: SLF001


operation = st.one_of(
    st.tuples(st.just("reserve"), st.sampled_from(PEOPLE), st.sampled_from(TEAMS),
              st.sampled_from(["email", "sms", "phone"]), st.integers(0, 200), st.booleans()),
    st.tuples(st.just("confirm"), st.integers(0, 50), st.sampled_from([None, "delivered"])),
    st.tuples(st.just("release"), st.integers(0, 50)),
    st.tuples(st.just("void"), st.integers(0, 50)),
    st.tuples(st.just("append"), st.sampled_from(PEOPLE), st.integers(0, 200),
              st.sampled_from([None, "spring", ("spring", "summer")]), st.booleans()),
    st.tuples(st.just("bulk"), st.integers(17, 30)),
    st.tuples(st.just("plan"), st.sampled_from(PEOPLE), st.integers(0, 200)),
    st.tuples(st.just("expire"),),
    st.tuples(st.just("sql"), st.sampled_from(PEOPLE),
              st.sampled_from(["UPDATE entries SET status = 'sent' WHERE customer = ? AND status = 'planned'",
                               "DELETE FROM entries WHERE seq = (SELECT MIN(seq) FROM entries WHERE customer = ?)",
                               "UPDATE entries SET at_us = at_us + 1 WHERE customer = ?"])),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(operation, min_size=1, max_size=14))
def test_digests_always_hold_what_the_rows_hold(tmp_path: Path, ops: list[tuple[Any, ...]]) -> None:
    now = [T0]
    ledger = open_ledger(f"sqlite:///{tmp_path}/{uuid.uuid4().hex[:8]}.sqlite", create=True,
                         clock=lambda: now[0])  # fmt: skip
    assert isinstance(ledger, SQLiteLedger)
    made: list[str] = []
    try:
        for op in ops:
            now[0] += dt.timedelta(minutes=7)
            kind = op[0]
            try:
                if kind == "reserve":
                    _, who, team, channel, hours, by_id = op
                    request = Request(team, channel, "marketing", T0 + dt.timedelta(hours=hours))
                    customer = who if by_id and made else Customer(who, {"owner": "silver"})
                    res = ledger.reserve(POLICY, customer, request, explain=False)
                    if res.id:
                        made.append(res.id)
                elif kind in ("confirm", "release", "void") and made:
                    target = made[op[1] % len(made)]
                    if kind == "confirm":
                        ledger.confirm(target, op[2])
                    elif kind == "release":
                        ledger.release(target)
                    else:
                        ledger.void(target, "wrong person")
                elif kind == "append":
                    _, who, hours, campaign, event = op
                    at = T0 - dt.timedelta(hours=hours)
                    entry = (Event(at=at, name="complaint", customer=who, campaign=campaign) if event else
                             Contact(at=at, channel="email", purpose="marketing", team="gold", customer=who,
                                     campaign=campaign, warnings=("w",) if campaign else ()))  # fmt: skip
                    ledger.append([entry])
                elif kind == "bulk":  # more customers than an insert keeps the digests of
                    ledger.append([Contact(at=T0 - dt.timedelta(days=k), channel="sms", purpose="servicing",
                                           team="service", customer=PEOPLE[k % 3] if k < 3 else f"p{k}")
                                   for k in range(op[1])])  # fmt: skip
                elif kind == "plan":
                    _, who, hours = op
                    ledger.reserve_all(POLICY, Customer(who, {"owner": "gold"}), [
                        Request("silver", "email", "marketing", T0 + dt.timedelta(hours=hours)),
                        Request("bronze", "sms", "servicing", T0 + dt.timedelta(hours=hours + 1))])
                elif kind == "expire":
                    now[0] += dt.timedelta(minutes=20)
                    ledger.expire()
                elif kind == "sql":  # another program changes the rows: the digest must go
                    conn = sqlite3.connect(ledger.path)
                    with conn:
                        conn.execute(op[2], (op[1],))
                    conn.close()
            except Exception as exc:  # refusals (a state that cannot be closed) are part of the game
                from policylang.ledger import LedgerError

                assert isinstance(exc, LedgerError), exc
            digests_match_rows(ledger)
        for who in PEOPLE:
            same_decision_read(ledger, who)
    finally:
        ledger.close()


def test_a_reservation_writes_the_digest_and_a_read_uses_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/l.sqlite"
    with open_ledger(url, create=True) as ledger:
        assert isinstance(ledger, SQLiteLedger)
        ledger.append([Contact(at=T0 - dt.timedelta(days=k), channel="email", purpose="marketing", team="gold",
                               customer="ada") for k in range(5)])  # fmt: skip
        assert digests_match_rows(ledger) == 1  # an append of a few customers writes theirs
        sql = sqlite3.connect(ledger.path)
        with sql:
            sql.execute("UPDATE entries SET outcome = 'delivered' WHERE customer = 'ada'")
        assert digests_match_rows(ledger) == 0  # another program's change deleted it
        same_decision_read(ledger, "ada")  # a read without a digest reads the rows
        ledger.reserve(POLICY, Customer("ada", {"owner": "gold"}), Request("gold", "sms", "servicing", T0))
        assert digests_match_rows(ledger) == 1
        # a damaged digest is not trusted: the rows are read
        with sql:
            sql.execute("UPDATE digests SET body = x'c1c1c1'")
        same_decision_read(ledger, "ada")
        sql.close()


def test_a_version_4_ledger_gets_digests_on_opening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/l.sqlite"
    old = SQLiteLedger(f"{tmp_path}/l.sqlite", target_version=4)
    old.append([Contact(at=T0, channel="email", purpose="marketing", team="gold", customer="ada")])
    old.close()
    with open_ledger(url) as new:
        assert isinstance(new, SQLiteLedger)
        assert (new.found_version, new.schema_version) == (4, SCHEMA_VERSION)
        assert digests_match_rows(new) == 0
        same_decision_read(new, "ada")
        new.reserve(POLICY, Customer("ada", {"owner": "gold"}), Request("gold", "sms", "servicing", T0))
        assert digests_match_rows(new) == 1


def test_a_digest_of_another_form_or_for_another_customer_is_not_trusted(tmp_path: Path) -> None:
    import msgspec

    with open_ledger(f"sqlite:///{tmp_path}/l.sqlite", create=True) as ledger:
        assert isinstance(ledger, SQLiteLedger)
        ledger.append([Contact(at=T0 - dt.timedelta(days=k), channel="email", purpose="marketing", team="gold",
                               customer="ada") for k in range(3)])  # fmt: skip
        sql = sqlite3.connect(ledger.path)
        rows = sql.execute(DECISION_SELECT[SCHEMA_VERSION], ("ada",)).fetchall()
        made = digest.from_values("ada", rows)
        good = msgspec.to_builtins(made.digest, builtin_types=(bytes,))
        again = digest.decode(msgspec.msgpack.encode(good), "ada")
        assert again is not None and again.columns() == made.columns()
        wrong = [rows,  # schema version 5's digest: one tuple per row
                 good[:-1],  # a column short
                 [*good[:3], [str(at) for at in good[3]], *good[4:]],  # instants as text
                 [*good[:3], good[3][:-1], *good[4:]],  # a column shorter than the ids
                 [*good[:4], bytes([len(good[1])] * 3), *good[5:]],  # a code naming no word
                 [*good[:4], [-1, 0, 0], *good[5:]],  # a negative code
                 ["bo", *good[1:]]]  # another customer's
        for body in wrong:
            with sql:
                sql.execute("UPDATE digests SET body = ? WHERE customer = 'ada'", (msgspec.msgpack.encode(body),))
            assert digest.decode(sql.execute("SELECT body FROM digests").fetchone()[0], "ada") is None
            same_decision_read(ledger, "ada")
        sql.close()

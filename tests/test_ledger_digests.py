"""SQLite digests (schema version 6, columns): after any sequence of ledger operations - and of other
programs' SQL on the entries table - every stored digest holds exactly the tuples a decision
would read from the rows, and a decision read from the digest equals one read from the rows."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
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
        good = msgspec.msgpack.decode(digest.encode(made))  # form 2, as plain values
        again = digest.decode(msgspec.msgpack.encode(good), "ada")
        assert again is not None and again.columns() == made.columns()
        # form 2's places: form, customer, words, ids, micros, shapes, shape_keys, outcome, ...
        form, customer, words, ids, micros, shapes, keys = good[:7]
        wrong = [rows,  # schema version 5's digest: one tuple per row
                 good[:-1],  # a column short
                 [1, *good[1:]],  # another form's number
                 [*good[:4], [str(at) for at in micros], *good[5:]],  # instants as text
                 [*good[:4], micros[:-1], *good[5:]],  # a column shorter than the ids
                 [*good[:3], ids[:-1], *good[4:]],  # fewer ids than contacts
                 [*good[:5], bytes([len(keys)] * 3), *good[6:]],  # a shape code naming no shape
                 [*good[:5], [-1, 0, 0], *good[6:]],  # a negative code
                 [*good[:7], bytes([len(words)] * 3), *good[8:]],  # an outcome code naming no word
                 [*good[:6], ["not a shape"] * len(keys), *good[7:]],  # a shape key that is not JSON
                 [*good[:6], ['["a","b","c"]'] * len(keys), *good[7:]],  # nor four words
                 [*good[:6], ['["a","b","c",1]'] * len(keys), *good[7:]],  # nor four words of text
                 [form, "bo", *good[2:]]]  # another customer's
        for body in wrong:
            with sql:
                sql.execute("UPDATE digests SET body = ? WHERE customer = 'ada'", (msgspec.msgpack.encode(body),))
            assert digest.decode(sql.execute("SELECT body FROM digests").fetchone()[0], "ada") is None, body
            same_decision_read(ledger, "ada")
        sql.close()


def form_1(stored: digest.Stored) -> bytes:
    """The body schema version 6's first digests (form 1) stored for the same rows: the coded
    columns one by one, words in order of first use, the ids decoded (the reference: written
    here from the columns, sharing no code with form 2's writing)."""
    import msgspec

    columns = stored.columns()
    words: list[Any] = []
    for name in ("channel", "purpose", "team", "status", "outcome"):
        for word in columns[name]:
            if word not in words:
                words.append(word)
    coded = {name: bytes(words.index(word) for word in columns[name])
             for name in ("channel", "purpose", "team", "status", "outcome")}  # fmt: skip
    size = len(columns["ids"])

    def optional(name: str, default: Any) -> Any:
        return None if all(value == default for value in columns[name]) else columns[name]

    return msgspec.msgpack.encode([
        columns["customer"][0], words, columns["ids"], columns["micros"], coded["channel"], coded["purpose"],
        coded["team"], coded["status"], coded["outcome"], optional("expires", None), optional("campaign", None),
        optional("void_reason", None), optional("warnings", []), columns["event_names"], columns["event_micros"],
        optional("event_campaigns", None)] if size or columns["event_names"] else [
        columns["customer"][0], [], [], [], b"", b"", b"", b"", b"", None, None, None, None, [], [], None])


def test_a_form_1_digest_still_reads_and_is_written_again_in_form_2(tmp_path: Path) -> None:
    import msgspec

    url = f"sqlite:///{tmp_path}/l.sqlite"
    clock = [T0]
    with open_ledger(url, create=True, clock=lambda: clock[0]) as ledger:
        assert isinstance(ledger, SQLiteLedger)
        ada = Customer("ada", {"owner": "gold"})
        ledger.append([Contact(at=T0 - dt.timedelta(days=k), channel="email", purpose="marketing", team="gold",
                               customer="ada", outcome="delivered" if k % 2 else None) for k in range(4)]
                      + [Event(at=T0 - dt.timedelta(days=2), name="complaint", customer="ada")])  # fmt: skip
        planned = ledger.reserve(POLICY, ada, Request("gold", "sms", "servicing", T0 + dt.timedelta(hours=5)))
        assert planned.allowed and planned.expires_at is not None
        sql = sqlite3.connect(ledger.path)
        rows = sql.execute(DECISION_SELECT[SCHEMA_VERSION], ("ada",)).fetchall()
        old = form_1(digest.from_values("ada", rows))
        with pytest.raises(msgspec.ValidationError):
            msgspec.msgpack.decode(old, type=digest.Digest)  # not form 2
        read = digest.decode(old, "ada")
        assert read is not None and read.columns() == digest.from_values("ada", rows).columns()
        with sql:
            sql.execute("UPDATE digests SET body = ? WHERE customer = 'ada'", (old,))
        for when in (T0, planned.expires_at):  # the plan counts, then its deadline has passed
            clock[0] = when
            same_decision_read(ledger, "ada")
        clock[0] = T0
        ledger.reserve(POLICY, ada, Request("gold", "sms", "servicing", T0 + dt.timedelta(hours=9)))
        body = sql.execute("SELECT body FROM digests WHERE customer = 'ada'").fetchone()[0]
        assert msgspec.msgpack.decode(body)[0] == digest.FORM  # written again in form 2
        assert digests_match_rows(ledger) == 1
        same_decision_read(ledger, "ada")
        sql.close()


def test_a_digest_whose_ids_do_not_decode_is_a_clear_error_and_the_next_write_mends_it(tmp_path: Path) -> None:
    import msgspec

    with open_ledger(f"sqlite:///{tmp_path}/l.sqlite", create=True) as ledger:
        assert isinstance(ledger, SQLiteLedger)
        ledger.append([Contact(at=T0 - dt.timedelta(days=k), channel="email", purpose="marketing", team="gold",
                               customer="ada") for k in range(3)])  # fmt: skip
        sql = sqlite3.connect(ledger.path)
        good = msgspec.msgpack.decode(sql.execute("SELECT body FROM digests").fetchone()[0])
        with sql:  # three ids that are not text: the array's length is right, its items are not
            sql.execute("UPDATE digests SET body = ?", (msgspec.msgpack.encode([*good[:3], [1, 2, 3], *good[4:]]),))
        history = ledger.history("ada")  # a read leaves the ids encoded until a contact is made
        with pytest.raises(digest.DamagedDigest, match="customer 'ada' is damaged") as raised:
            list(history.counted)
        assert raised.value.hint and "write" in raised.value.hint
        assert ledger.reserve(POLICY, Customer("ada", {"owner": "gold"}), Request("gold", "sms", "servicing", T0),
                              explain=False).allowed  # fmt: skip
        assert digests_match_rows(ledger) == 1  # written again from the rows
        same_decision_read(ledger, "ada")
        sql.close()

"""Stateful differential testing: the memory ledger is the model; SQLite (and PostgreSQL) must agree.

Hypothesis drives random sequences of reserve / confirm / release / expire / append-event /
clock moves against two stores sharing one fake clock. After every step both stores must hold
the same contacts (ids differ - each store mints its own - so a map pairs them), and the
invariants the ledger exists for must hold: no customer has more than 3 counted marketing
contacts in any 7 days, and the call centre never has more than 5 counted calls in any 7 days.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule

from policylang.ledger import Ledger, LedgerError, MemoryLedger, ReservationError, open_ledger
from policylang.records import Contact, Customer, Event, Request
from tests.ledger_fixtures import T0, FakeClock, make_policy, pg_url_or_skip
from tests.pg_server import with_schema

POLICY = make_policy()
CUSTOMERS = {
    "ada": Customer("ada", {"owner": "gold"}),
    "bob": Customer("bob", {"owner": "bronze"}),
    "cy": Customer("cy", {}),
}
WEEK = dt.timedelta(days=7)


def comparable(entries: list[Contact | Event], to_model: dict[str, str]) -> list[tuple[object, ...]]:
    """Entries with each store's own ids replaced by the model's, sorted."""
    out = []
    for e in entries:
        if isinstance(e, Event):
            out.append(("event", e.at, e.name, ""))
        else:
            out.append(("contact", e.at, e.team, e.channel, e.purpose, e.status, e.outcome or "",
                        to_model.get(e.id or "", e.id or "")))  # fmt: skip
    return sorted(out, key=repr)


class LedgerMachine(RuleBasedStateMachine):
    """Drives the model (memory) and a real store side by side."""

    make_real: Callable[[FakeClock], Ledger] = staticmethod(lambda clock: MemoryLedger(clock=clock))  # type: ignore[assignment]
    cleanup: Callable[[], None] = staticmethod(lambda: None)  # type: ignore[assignment]

    reservations = Bundle("reservations")

    @initialize()
    def start(self) -> None:
        self.clock = FakeClock()
        self.model = MemoryLedger(clock=self.clock)
        self.real = type(self).make_real(self.clock)
        self.to_model: dict[str, str] = {}  # real id -> model id
        self.to_real: dict[str, str] = {}

    def teardown(self) -> None:
        if hasattr(self, "real"):
            self.real.close()
        type(self).cleanup()

    @rule(
        target=reservations,
        customer=st.sampled_from(sorted(CUSTOMERS)),
        team=st.sampled_from(["gold", "silver", "bronze", "service"]),
        channel=st.sampled_from(["email", "sms", "phone"]),
        purpose=st.sampled_from(["marketing", "servicing"]),
        day=st.integers(0, 12),
        by_id=st.sampled_from([False, False, True]),
    )
    def reserve(self, customer: str, team: str, channel: str, purpose: str, day: int, by_id: bool) -> object:
        request = Request(team, channel, purpose, T0 + dt.timedelta(days=day))
        record: Customer | str = customer if by_id else CUSTOMERS[customer]
        outcomes = []
        for store in (self.model, self.real):
            try:
                outcomes.append(store.reserve(POLICY, record, request))
            except LedgerError as exc:  # by id before the record was ever stored
                outcomes.append(str(exc))
        mine, theirs = outcomes
        if isinstance(mine, str) or isinstance(theirs, str):
            assert mine == theirs
            return multiple()
        assert (mine.allowed, mine.decision.denied_by) == (theirs.allowed, theirs.decision.denied_by)
        assert mine.decision.next_allowed_at == theirs.decision.next_allowed_at
        assert sorted(c.id or "" for c in mine.displaced) == sorted(
            self.to_model[c.id or ""] for c in theirs.displaced
        )
        if not mine.allowed:
            return multiple()
        assert mine.id and theirs.id and mine.expires_at == theirs.expires_at
        self.to_model[theirs.id] = mine.id
        self.to_real[mine.id] = theirs.id
        return mine.id

    def _both(self, model_id: str, action: Callable[[Ledger, str], object]) -> None:
        real_id = self.to_real.get(model_id, model_id)
        results = []
        for store, rid in ((self.model, model_id), (self.real, real_id)):
            try:
                state = action(store, rid)
                results.append(("ok", getattr(state, "state", None)))
            except ReservationError:
                results.append(("refused", None))
            except LedgerError:
                results.append(("unknown", None))
        assert results[0] == results[1]

    @rule(ref=reservations, outcome=st.sampled_from([None, "delivered", "no_answer"]))
    def confirm(self, ref: str, outcome: str | None) -> None:
        self._both(ref, lambda store, rid: store.confirm(rid, outcome=outcome))

    @rule(ref=reservations)
    def release(self, ref: str) -> None:
        self._both(ref, lambda store, rid: store.release(rid))

    @rule(minutes=st.sampled_from([1, 4, 14, 15, 16]))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)  # the hold is 15 minutes: plans expire

    @rule()
    def sweep_expired(self) -> None:
        assert self.model.expire() == self.real.expire()

    @rule(customer=st.sampled_from(sorted(CUSTOMERS)), day=st.integers(-40, 12))
    def complaint(self, customer: str, day: int) -> None:
        event = Event(at=T0 + dt.timedelta(days=day), name="complaint", customer=customer)
        self.model.append([event])
        self.real.append([event])

    @invariant()
    def stores_agree(self) -> None:
        if not hasattr(self, "real"):
            return
        for customer in CUSTOMERS:
            assert comparable(self.model.events(customer), {}) == comparable(self.real.events(customer), self.to_model)
        assert self.model.summary() == self.real.summary()

    @invariant()
    def caps_hold(self) -> None:
        if not hasattr(self, "real"):
            return
        calls = []
        for customer in CUSTOMERS:
            counted = [c for c in self.real.events(customer) if isinstance(c, Contact) and c.counted]
            marketing = [c.at for c in counted if c.purpose == "marketing"]
            for start in marketing:
                assert sum(1 for t in marketing if start <= t < start + WEEK) <= 3
            calls += [c.at for c in counted if c.channel == "phone" and c.team == "service"]
        for start in calls:
            assert sum(1 for t in calls if start <= t < start + WEEK) <= 5


SETTINGS = settings(max_examples=100, stateful_step_count=50, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])  # fmt: skip


def test_sqlite_agrees_with_the_memory_model() -> None:
    folder = tempfile.mkdtemp(prefix="policylang-stateful-")

    class SQLiteMachine(LedgerMachine):
        make_real = staticmethod(  # type: ignore[assignment]
            lambda clock: open_ledger(f"sqlite:///{folder}/{uuid.uuid4().hex}.sqlite", clock=clock, create=True)
        )

    try:
        SQLiteMachine.TestCase.settings = SETTINGS
        SQLiteMachine.TestCase().runTest()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_postgres_agrees_with_the_memory_model() -> None:
    url = pg_url_or_skip()

    class PostgresMachine(LedgerMachine):
        make_real = staticmethod(  # type: ignore[assignment]
            lambda clock: open_ledger(with_schema(url, f"s_{uuid.uuid4().hex[:12]}"), clock=clock, create=True)
        )

    PostgresMachine.TestCase.settings = settings(SETTINGS, max_examples=15)
    PostgresMachine.TestCase().runTest()


@pytest.mark.skipif(os.environ.get("POLICYLANG_SLOW") != "1", reason="long run: set POLICYLANG_SLOW=1")
def test_sqlite_agrees_with_the_memory_model_long() -> None:
    folder = tempfile.mkdtemp(prefix="policylang-stateful-")

    class SQLiteMachine(LedgerMachine):
        make_real = staticmethod(  # type: ignore[assignment]
            lambda clock: open_ledger(f"sqlite:///{folder}/{uuid.uuid4().hex}.sqlite", clock=clock, create=True)
        )

    try:
        SQLiteMachine.TestCase.settings = settings(SETTINGS, max_examples=1000, stateful_step_count=60)
        SQLiteMachine.TestCase().runTest()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

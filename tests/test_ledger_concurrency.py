"""Many writers, one ledger: caps, capacity and precedence stay exact; a killed writer leaves no trace.

SQLite and PostgreSQL are hammered by separate processes (each opens its own ledger from the
URL, as separate programs would); the memory store by threads of one process. Removing the
per-customer or per-capacity-rule lock from a store makes these tests fail. Where a test needs
a race to happen, it forces it: a writer is paused inside its transaction (the
``_before_commit`` hook) while the other one runs, so the race happens on every run whatever
the scheduler does.
"""

# ruff: noqa: F811 - pytest fixtures imported from tests.ledger_fixtures are parameters here
from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import pytest

from policylang.ledger import Ledger, open_ledger
from policylang.records import Contact, Customer, Request
from tests.ledger_fixtures import T0, fresh_url, make_policy

WORKERS = 8
ATTEMPTS = 200  # per worker, as the brief asks

CAP_POLICY = """
policy "cap of three"
channels email, phone, sms
teams t1, t2, t3, t4, t5, t6, t7, t8
purposes marketing, servicing
precedence t1 > t2 > t3 > t4 > t5 > t6 > t7 > t8
cap "three a week": at most 3 marketing per 7 days
cap "one a week": at most 1 marketing email per 7 days
capacity "fifty": at most 50 phone per 7 days
"""

FORK = multiprocessing.get_context("fork")


def run_all(kind: str, target: Callable[..., Any], jobs: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``target(barrier, *job)`` for every job at once: processes, or threads for memory.

    Each process opens its own ledger from the URL; threads share the one memory ledger.
    """
    if kind == "memory":
        results: list[Any] = [None] * len(jobs)
        barrier = threading.Barrier(len(jobs))

        def thread(i: int) -> None:
            results[i] = target(barrier, *jobs[i])

        threads = [threading.Thread(target=thread, args=(i,)) for i in range(len(jobs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        return results
    queue = FORK.Queue()
    barrier = FORK.Barrier(len(jobs))
    procs = [FORK.Process(target=_child, args=(queue, i, target, barrier, job)) for i, job in enumerate(jobs)]
    for p in procs:
        p.start()
    found: dict[int, Any] = {}
    for _ in procs:
        i, value = queue.get(timeout=240)
        if isinstance(value, BaseException):
            raise value
        found[i] = value
    for p in procs:
        p.join(30)
    return [found[i] for i in range(len(jobs))]


def _child(queue: Any, index: int, target: Callable[..., Any], barrier: Any, job: tuple[Any, ...]) -> None:
    try:
        value = target(barrier, *job)
    except BaseException as exc:  # report it to the parent rather than dying silently
        value = RuntimeError(f"worker {index}: {type(exc).__name__}: {exc}")
    queue.put((index, value))


def _ledger_for(source: Ledger | str) -> tuple[Ledger, bool]:
    """The shared memory ledger itself, or a fresh connection to a URL (closed by the caller)."""
    return (source, False) if isinstance(source, Ledger) else (open_ledger(source), True)


def hammer_one_customer(barrier: Any, source: Ledger | str, team: str, attempts: int) -> list[tuple[str, list[str]]]:
    """Try ``attempts`` reservations for customer ``ada``; (granted id, displaced ids) of each grant."""
    policy = make_policy(CAP_POLICY, "cap.pol")
    ledger, mine = _ledger_for(source)
    granted = []
    barrier.wait()
    for _ in range(attempts):
        res = ledger.reserve(policy, Customer("ada", {}), Request(team, "sms", "marketing", T0), explain=False)
        if res.allowed:
            granted.append((res.id or "", [c.id or "" for c in res.displaced]))
    if mine:
        ledger.close()
    return granted


def hammer_capacity(barrier: Any, source: Ledger | str, customers: list[str]) -> list[str]:
    policy = make_policy(CAP_POLICY, "cap.pol")
    ledger, mine = _ledger_for(source)
    granted = []
    barrier.wait()
    for i, cid in enumerate(customers):
        at = T0 + dt.timedelta(minutes=i)
        res = ledger.reserve(policy, Customer(cid, {}), Request("t1", "phone", "servicing", at), explain=False)
        if res.allowed:
            granted.append(res.id or "")
    if mine:
        ledger.close()
    return granted


def _target(kind: str, tmp_path: os.PathLike[str]) -> tuple[Ledger, Ledger | str]:
    """(a ledger for the test's own checks, what workers get: the ledger or its URL)."""
    url = fresh_url(kind, tmp_path)
    ledger = open_ledger(url, create=True)
    return ledger, (ledger if kind == "memory" else url)


KINDS = ["memory", "sqlite", "postgres"]


@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_reserves_under_a_cap_of_three_grant_exactly_three(kind: str, tmp_path: os.PathLike[str]) -> None:
    ledger, source = _target(kind, tmp_path)
    results = run_all(kind, hammer_one_customer, [(source, "t1", ATTEMPTS)] * WORKERS)
    granted = [gid for worker in results for gid, _ in worker]
    assert len(granted) == 3
    counted = [c for c in ledger.events("ada") if isinstance(c, Contact) and c.counted]
    assert sorted(c.id or "" for c in counted) == sorted(granted)
    ledger.close()


@pytest.mark.parametrize("kind", KINDS)
def test_capacity_of_fifty_across_a_thousand_customers_is_never_exceeded(kind: str, tmp_path: os.PathLike[str]) -> None:
    ledger, source = _target(kind, tmp_path)
    customers = [f"c{i:04d}" for i in range(1000)]
    jobs = [(source, customers[w::WORKERS]) for w in range(WORKERS)]
    results = run_all(kind, hammer_capacity, jobs)
    granted = [gid for worker in results for gid in worker]
    assert len(granted) == 50
    policy = make_policy(CAP_POLICY, "cap.pol")
    stored = ledger.contacts(policy.rule("fifty"), T0 - dt.timedelta(days=7), T0 + dt.timedelta(days=8))  # type: ignore[arg-type]
    assert sorted(c.id or "" for c in stored) == sorted(granted)
    ledger.close()


@pytest.mark.parametrize("kind", KINDS)
def test_precedence_under_concurrent_reserves_keeps_exactly_one_winner(kind: str, tmp_path: os.PathLike[str]) -> None:
    """Eight teams race for one slot ("one a week"); planned contacts of lower teams are displaced."""
    ledger, source = _target(kind, tmp_path)

    def racer(barrier: Any, src: Ledger | str, team: str) -> list[tuple[str, list[str]]]:
        policy = make_policy(CAP_POLICY, "cap.pol")
        led, mine = _ledger_for(src)
        granted = []
        barrier.wait()
        for _ in range(ATTEMPTS // 4):
            res = led.reserve(policy, Customer("ada", {}), Request(team, "email", "marketing", T0), explain=False)
            if res.allowed:
                granted.append((res.id or "", [c.id or "" for c in res.displaced]))
        if mine:
            led.close()
        return granted

    results = run_all(kind, racer, [(source, f"t{i}") for i in range(1, WORKERS + 1)])
    grants = [g for worker in results for g in worker]
    counted = [c for c in ledger.events("ada") if isinstance(c, Contact) and c.counted]
    assert len(counted) == 1 and counted[0].team == "t1"  # t1 always wins or displaces
    reported = [d for _, displaced in grants for d in displaced]
    assert len(reported) == len(set(reported))  # no contact displaced twice
    stored_displaced = {c.id for c in ledger.events("ada") if isinstance(c, Contact) and c.status == "displaced"}
    assert set(reported) == stored_displaced
    assert len(grants) == 1 + len(reported)  # every grant but the winner was displaced
    ledger.close()


# ---- faults -----------------------------------------------------------------------------------


def _reserve_then_hang(url: str, ready: Any) -> None:
    """Reserve for gold (displacing bronze's plan) and stop just before the commit."""
    ledger = open_ledger(url)
    policy = make_policy(CAP_POLICY, "cap.pol")

    def stall(txn: object) -> None:
        ready.set()
        threading.Event().wait(120)

    ledger._before_commit = stall  # type: ignore[method-assign]
    ledger.reserve(policy, Customer("ada", {}), Request("t1", "email", "marketing", T0))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_writer_killed_mid_transaction_leaves_the_ledger_as_it_was(kind: str, tmp_path: os.PathLike[str]) -> None:
    url = fresh_url(kind, tmp_path)
    if kind == "postgres":  # never wait forever on a lock a dead backend might hold
        url += "&options=-c%20lock_timeout%3D20000"
    ledger = open_ledger(url, create=True)
    policy = make_policy(CAP_POLICY, "cap.pol")
    plan = ledger.reserve(policy, Customer("ada", {}), Request("t8", "email", "marketing", T0))
    before = ledger.events("ada")
    ready = FORK.Event()
    child = FORK.Process(target=_reserve_then_hang, args=(url, ready))
    child.start()
    assert ready.wait(60), "the worker never reached its commit"
    os.kill(child.pid or 0, signal.SIGKILL)
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    # nothing of the killed transaction: t8's plan is still planned, there is no t1 contact
    assert ledger.events("ada") == before
    assert ledger.reservation(plan.id or "").state == "planned"
    # and the lock it held is free: the same reservation now commits and displaces
    res = ledger.reserve(policy, Customer("ada", {}), Request("t1", "email", "marketing", T0))
    assert res.allowed and [c.id for c in res.displaced] == [plan.id]
    if kind == "sqlite":
        with sqlite3.connect(url[len("sqlite:///"):]) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    ledger.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_killing_writers_at_random_moments_never_breaks_the_cap(kind: str, tmp_path: os.PathLike[str]) -> None:
    url = fresh_url(kind, tmp_path)
    ledger = open_ledger(url, create=True)
    procs = [FORK.Process(target=_endless_reserver, args=(url, f"t{i % 8 + 1}")) for i in range(4)]
    for p in procs:
        p.start()
    for _ in range(300):  # wait (up to 30 s on a busy machine) until the writers are writing
        if ledger.events("ada"):
            break
        threading.Event().wait(0.1)
    for i, p in enumerate(procs):
        threading.Event().wait(0.1 + 0.15 * i)  # kill them one by one, wherever they are
        os.kill(p.pid or 0, signal.SIGKILL)
        p.join(30)
    contacts = [c for c in ledger.events("ada") if isinstance(c, Contact)]
    assert contacts, "the writers never wrote"
    assert sum(1 for c in contacts if c.counted and c.channel == "email") <= 1
    counted = [c for c in contacts if c.counted]
    assert len(counted) <= 3
    # every displaced contact names a reservation that exists
    ids = {c.id for c in contacts}
    for c in contacts:
        if c.status == "displaced":
            assert ledger.reservation(c.id or "").displaced_by in ids
    ledger.close()


def _endless_reserver(url: str, team: str) -> None:
    ledger = open_ledger(url)
    policy = make_policy(CAP_POLICY, "cap.pol")
    n = 0
    while True:
        n += 1
        channel = "email" if n % 2 else "phone"
        res = ledger.reserve(policy, Customer("ada", {}), Request(team, channel, "marketing", T0), explain=False)
        if res.allowed and n % 3 == 0:
            ledger.release(res.id or "")


def _paused(ledger: Ledger, inside: threading.Event, go: threading.Event) -> None:
    """Make ``ledger``'s next write stop just before its commit until ``go`` is set."""

    def hook(txn: object) -> None:
        ledger._before_commit = lambda txn: None  # type: ignore[method-assign]  # once
        inside.set()
        assert go.wait(60), "the test never let the paused writer go on"

    ledger._before_commit = hook  # type: ignore[method-assign]


def _second(kind: str, first: Ledger, url: str) -> Ledger:
    """Another writer: the same memory ledger (another thread), or another connection."""
    return first if kind == "memory" else open_ledger(url)


@pytest.mark.parametrize("kind", KINDS)
def test_a_confirm_waits_for_a_displacement_in_flight_and_is_refused(kind: str, tmp_path: os.PathLike[str]) -> None:
    """Forced interleaving: the displacing reservation is paused inside its transaction (after
    it marked the plan displaced, before its commit); the confirm of that plan runs meanwhile.
    It must wait for the commit and then be refused; without the customer's lock it would
    confirm a contact that the displacement then overwrites."""
    from policylang.ledger import ReservationError

    url = fresh_url(kind, tmp_path)
    ledger = open_ledger(url, create=True)
    policy = make_policy(CAP_POLICY, "cap.pol")
    plan = ledger.reserve(policy, Customer("ada", {}), Request("t8", "email", "marketing", T0))
    assert plan.allowed and plan.id
    displacer, confirmer = _second(kind, ledger, url), _second(kind, ledger, url)
    inside, go = threading.Event(), threading.Event()
    _paused(displacer, inside, go)
    outcome: dict[str, Any] = {}

    def displace() -> None:
        outcome["reservation"] = displacer.reserve(policy, Customer("ada", {}), Request("t1", "email", "marketing", T0))

    def confirm() -> None:
        try:
            outcome["confirm"] = confirmer.confirm(plan.id or "").state
        except ReservationError as exc:
            outcome["confirm"] = exc.message

    first = threading.Thread(target=displace)
    first.start()
    assert inside.wait(60), "the displacing reservation never reached its commit"
    second = threading.Thread(target=confirm)
    second.start()
    second.join(1.0)  # with the lock it cannot finish while the displacer is paused
    finished_early = not second.is_alive()
    go.set()
    first.join(60)
    second.join(60)
    assert not finished_early, f"confirm did not wait for the displacement in flight: {outcome}"
    assert [c.id for c in outcome["reservation"].displaced] == [plan.id]
    assert "cannot be confirmed: it was displaced" in outcome["confirm"]
    assert ledger.reservation(plan.id).state == "displaced"
    for other in {id(displacer): displacer, id(confirmer): confirmer}.values():
        if other is not ledger:
            other.close()
    ledger.close()


@pytest.mark.parametrize("kind", KINDS)
def test_a_displacement_waits_for_a_confirm_in_flight_and_spares_it(kind: str, tmp_path: os.PathLike[str]) -> None:
    """Forced interleaving, the other order: the confirm is paused before its commit and the
    displacing reservation runs meanwhile; it must wait, then see the contact sent and not
    displace it (here: be denied by "one a week")."""
    url = fresh_url(kind, tmp_path)
    ledger = open_ledger(url, create=True)
    policy = make_policy(CAP_POLICY, "cap.pol")
    plan = ledger.reserve(policy, Customer("ada", {}), Request("t8", "email", "marketing", T0))
    assert plan.allowed and plan.id
    confirmer, displacer = _second(kind, ledger, url), _second(kind, ledger, url)
    inside, go = threading.Event(), threading.Event()
    _paused(confirmer, inside, go)
    outcome: dict[str, Any] = {}
    first = threading.Thread(target=lambda: outcome.setdefault("confirm", confirmer.confirm(plan.id or "").state))
    first.start()
    assert inside.wait(60), "the confirm never reached its commit"
    second = threading.Thread(target=lambda: outcome.setdefault(
        "reservation", displacer.reserve(policy, Customer("ada", {}), Request("t1", "email", "marketing", T0))))
    second.start()
    second.join(1.0)
    finished_early = not second.is_alive()
    go.set()
    first.join(60)
    second.join(60)
    assert not finished_early, f"the reservation did not wait for the confirm in flight: {outcome}"
    assert outcome["confirm"] == "sent"
    assert not outcome["reservation"].allowed and not outcome["reservation"].displaced
    assert ledger.reservation(plan.id).state == "sent"
    for other in {id(displacer): displacer, id(confirmer): confirmer}.values():
        if other is not ledger:
            other.close()
    ledger.close()


# ---- issue 9 item 2 for plans: reserve_all searches after releasing the write lock ----------


@pytest.mark.parametrize("kind", KINDS)
def test_reserve_all_searches_without_holding_the_write_lock(kind: str, tmp_path: os.PathLike[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Forced interleaving: inside the search for a denied plan's next allowed instant, another
    writer reserves a phone call for another customer (it needs the write lock, and on
    PostgreSQL the "fifty" capacity rule's lock, which the plan took for its own call). The
    search waits for that writer: were the plan's transaction still open, the writer could not
    finish and the wait would run out (the 60 s bound only limits a failing run)."""
    from policylang import evaluator

    url = fresh_url(kind, tmp_path)
    ledger = open_ledger(url, create=True)
    other = _second(kind, ledger, url)
    policy = make_policy(CAP_POLICY, "cap.pol")
    search = evaluator.next_allowed
    seen: dict[str, Any] = {}

    def searching(*args: Any) -> Any:
        done = threading.Event()

        def write() -> None:
            seen["other"] = other.reserve(policy, Customer("bo", {}), Request("t2", "phone", "servicing", T0))
            done.set()

        thread = threading.Thread(target=write)
        thread.start()
        seen["finished"] = done.wait(60)
        thread.join(120)
        return search(*args)

    monkeypatch.setattr(evaluator, "next_allowed", searching)
    made = ledger.reserve_all(policy, Customer("ada", {}), [
        Request("t1", "phone", "servicing", T0),
        Request("t1", "email", "marketing", T0),
        Request("t1", "email", "marketing", T0 + dt.timedelta(hours=1)),  # "one a week" denies it
    ])
    monkeypatch.undo()
    assert seen["finished"], "the other writer could not commit while the plan searched"
    assert seen["other"].allowed
    assert len(made) == 1 and made[0].decision.denied_by == ("one a week",)
    # the search saw the plan's own email (rolled back since): a week after it
    assert made[0].decision.next_allowed_at == T0 + dt.timedelta(days=7)
    assert [e.customer for e in ledger.export()] == ["bo"]  # nothing of the plan was written
    if other is not ledger:
        other.close()
    ledger.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_reserve_all_search_counts_what_the_plan_displaced_as_gone(kind: str, tmp_path: os.PathLike[str]) -> None:
    """The search after a plan's denial sees the stored plan that the plan's first request
    displaced as displaced (t8's email, overridden by t1's), and the plan's own email as
    planned: the next allowed instant is a week after the plan's email, not after t8's."""
    url = fresh_url(kind, tmp_path)
    ledger = open_ledger(url, create=True)
    policy = make_policy(CAP_POLICY, "cap.pol")
    early = ledger.reserve(policy, Customer("ada", {}), Request("t8", "email", "marketing", T0))
    assert early.allowed
    made = ledger.reserve_all(policy, Customer("ada", {}), [
        Request("t1", "email", "marketing", T0 + dt.timedelta(days=1)),
        Request("t1", "email", "marketing", T0 + dt.timedelta(days=2)),
    ])
    assert len(made) == 1 and made[0].decision.denied_by == ("one a week",)
    assert made[0].decision.next_allowed_at == T0 + dt.timedelta(days=8)
    assert ledger.reservation(early.id or "").state == "planned"  # rolled back: not displaced
    ledger.close()


def test_a_kept_digest_is_gone_on_from_only_while_it_is_the_stored_one(tmp_path: os.PathLike[str]) -> None:
    """Issue 11: a SQLite ledger goes on from the digest it kept of a customer only while the
    stored bytes are the same. Two writers (two connections) take turns on one customer under
    a cap of three: each turn's reservation sees the other's, so exactly three are granted
    and the stored digest is the one of the rows."""
    from policylang.ledger import digest
    from policylang.ledger.sqlite import SQLiteLedger

    policy = make_policy(CAP_POLICY, "cap.pol")
    url = fresh_url("sqlite", tmp_path)
    writers = [open_ledger(url, create=True), open_ledger(url)]
    try:
        granted = [writers[k % 2].reserve(policy, Customer("ada", {}), Request(f"t{k + 1}", "sms", "marketing", T0),
                                          explain=False).allowed for k in range(6)]  # fmt: skip
        assert granted == [True, True, True, False, False, False]
        first = writers[0]
        assert isinstance(first, SQLiteLedger)
        with first._transaction(write=False) as txn:  # noqa: SLF001
            stored = txn.decision_rows("ada", False)[1]
            rows = txn.plain_rows("ada")[1]  # type: ignore[attr-defined]
        assert isinstance(stored, digest.Stored)
        assert stored.columns() == digest.from_values("ada", rows).columns()
    finally:
        for ledger in writers:
            ledger.close()

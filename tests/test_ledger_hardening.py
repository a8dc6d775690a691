"""Issue 9: the ledger under attack - searches outside the write lock, the store's clock,
store faults, damaged files, retries, typos in URLs.

Each test here failed on the main branch before issue 9.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

import pytest

import policylang
from policylang import evaluator
from policylang.ledger import Ledger, open_ledger
from policylang.records import Customer, Request
from tests.ledger_fixtures import fresh_url, pg_url_or_skip
from tests.pg_server import with_schema

UTC = dt.timezone.utc
REAL_DATETIME = dt.datetime
POLICY = policylang.compile(
    'policy "p"\nchannels email, sms\nteams sales\npurposes marketing\n'
    'cap "one a day": at most 1 email per 1 day\n',
    "hardening.pol",
)
ADA = Customer("ada", {})
BO = Customer("bo", {})


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


def shared_url(kind: str, folder: Any) -> str:
    if kind == "postgres":
        return with_schema(pg_url_or_skip(), f"h_{os.urandom(6).hex()}")
    return fresh_url(kind, folder)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    return shared_url(str(request.param), tmp_path)


@pytest.fixture
def ledgers(url: str) -> Iterator[list[Ledger]]:
    opened: list[Ledger] = []
    yield opened
    for ledger in opened:
        ledger.close()


def open_(url: str, opened: list[Ledger], **options: Any) -> Ledger:
    ledger = open_ledger(url, **options)
    opened.append(ledger)
    return ledger


def test_reserve_searches_without_holding_the_write_lock(url: str, ledgers: list[Ledger],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    # While one reservation searches for its next allowed instant, another process's
    # reservation of another customer goes through: the search does not hold the lock.
    first = open_(url, ledgers)
    other = open_(url, ledgers, busy_timeout=0.5)
    at = now()
    assert first.reserve(POLICY, ADA, Request("sales", "email", "marketing", at)).allowed
    search = evaluator.next_allowed
    granted: list[bool] = []

    def searching(*args: Any) -> Any:
        # inside the search: a writer must get its turn at once (busy_timeout 0.5 s)
        granted.append(other.reserve(POLICY, BO, Request("sales", "email", "marketing", at)).allowed)
        return search(*args)

    monkeypatch.setattr(evaluator, "next_allowed", searching)
    denied = first.reserve(POLICY, ADA, Request("sales", "email", "marketing", at + dt.timedelta(hours=1)))
    assert not denied.allowed
    assert granted == [True]
    assert denied.decision.next_allowed_at is not None


def test_expiry_uses_the_stores_clock_not_the_callers(url: str, ledgers: list[Ledger],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    # item 3: a client whose clock runs 16 minutes ahead must not see a live reservation
    # (15-minute hold) as expired; with a cap of 1 that would grant twice.
    honest = open_(url, ledgers)
    skewed = open_(url, ledgers)
    at = now() + dt.timedelta(hours=2)
    assert honest.reserve(POLICY, ADA, Request("sales", "email", "marketing", at)).allowed

    class Ahead(dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
            return REAL_DATETIME.fromtimestamp(REAL_DATETIME.now(UTC).timestamp() + 16 * 60, tz)

    monkeypatch.setattr(dt, "datetime", Ahead)
    second = skewed.reserve(POLICY, ADA, Request("sales", "email", "marketing", at + dt.timedelta(minutes=1)))
    monkeypatch.undo()
    assert not second.allowed
    sent = [e for e in honest.events("ada") if getattr(e, "status", "") in ("planned", "sent")]
    assert len(sent) == 1

"""Fixtures and helpers shared by the ledger tests (imported by tests/test_ledger*.py).

``store_url`` is parametrised over every store - ``memory``, ``sqlite``, ``postgres`` - so
one suite runs against all of them. PostgreSQL tests get a fresh schema each; they skip
when no server can be started here, but fail when ``CI=true``.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator

import pytest

import policylang
from policylang.ledger import Ledger, open_ledger
from policylang.rules import Policy
from tests.pg_server import Unavailable, shared_url, with_schema

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

# A small policy whose rules the ledger tests lean on: a per-customer cap (with precedence,
# so planned contacts of lower teams are displaced), a capacity across all customers, and
# a capacity that only counts the customers' owners.
POLICY_TEXT = """
policy "ledger tests"
channels  email, sms, phone
teams     gold, silver, bronze, service
purposes  marketing, servicing
outcomes  delivered, no_answer
events    complaint

customer
  owner   team
  vip     flag

owner is customer.owner
precedence gold > silver > bronze

cap "three a week":       at most 3 marketing per 7 days
capacity "call centre":   at most 5 phone by service per 7 days
capacity "owner sms":     at most 4 sms by owner per 7 days
quiet "after a complaint": no marketing within 30 days after complaint
"""


def make_policy(text: str = POLICY_TEXT, name: str = "ledger-tests.pol") -> Policy:
    return policylang.compile(text, name)


def pg_url_or_skip() -> str:
    """A PostgreSQL server URL; skip (or fail, under CI=true) when none can be had."""
    try:
        return shared_url()
    except Unavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required under CI=true: {exc}")
        pytest.skip(f"no PostgreSQL server: {exc}")


def fresh_url(kind: str, folder: os.PathLike[str] | str) -> str:
    """A new, empty ledger of ``kind`` (memory, sqlite or postgres)."""
    if kind == "memory":
        return "memory:"
    if kind == "sqlite":
        return f"sqlite:///{os.fspath(folder)}/ledger-{uuid.uuid4().hex[:8]}.sqlite"
    if kind == "postgres":
        return with_schema(pg_url_or_skip(), f"t_{uuid.uuid4().hex[:12]}")
    raise ValueError(kind)


STORES = ["memory", "sqlite", "postgres"]
SHARED_STORES = ["sqlite", "postgres"]  # stores several processes can share


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class FakeClock:
    """A settable clock for reservation expiry."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_ledger(store_kind: str, tmp_path: os.PathLike[str], clock: FakeClock) -> Iterator[Callable[..., Ledger]]:
    """Open ledgers of the parametrised store (a fresh one each call unless ``url`` is given)."""
    opened: list[Ledger] = []

    def make(url: str | None = None, **options: object) -> Ledger:
        options.setdefault("clock", clock)
        options.setdefault("create", True)  # a fresh store: the tests create it
        ledger = open_ledger(url or fresh_url(store_kind, tmp_path), **options)  # type: ignore[arg-type]
        opened.append(ledger)
        return ledger

    yield make
    for ledger in opened:
        ledger.close()


@pytest.fixture
def ledger(make_ledger: Callable[..., Ledger]) -> Ledger:
    return make_ledger()

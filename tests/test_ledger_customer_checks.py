"""A reservation checks the customer record it is given against the policy once and decides
with it (the verdict and a denial's search): a bad record is still refused with an
InputError and writes nothing, in ``reserve`` and ``reserve_all``, on every store."""

from __future__ import annotations

import datetime as dt

import pytest

from policylang.errors import InputError
from policylang.ledger import Ledger
from policylang.ledger.rows import customer_json
from policylang.records import Customer, Request
from tests.ledger_fixtures import (  # noqa: F401 - fixtures
    POLICY_TEXT,
    T0,
    clock,
    ledger,
    make_ledger,
    make_policy,
    store_kind,
)

POLICY = make_policy()


def marketing(team: str) -> Request:
    return Request(team=team, channel="email", purpose="marketing", at=T0)


@pytest.mark.parametrize("values", [{"owner": "gold", "age": 3.0}, {"owner": "nobody"}, {"vip": "yes"}],
                         ids=["undeclared attribute", "not a team", "not a flag"])
def test_a_bad_record_is_refused_and_nothing_is_written(ledger: Ledger, values: dict[str, object]) -> None:  # noqa: F811
    with pytest.raises(InputError):
        ledger.reserve(POLICY, Customer("ada", values), marketing("gold"))
    with pytest.raises(InputError):
        ledger.reserve_all(POLICY, Customer("ada", values), [marketing("gold"), marketing("silver")])
    assert list(ledger.events("ada")) == [] and ledger.stored_customers() == []


def test_a_denial_searches_with_the_record_checked_once(ledger: Ledger) -> None:  # noqa: F811
    """Typed values as JSON gives them (a flag as bool): the same answers as before."""
    ada = Customer("ada", {"owner": "gold", "vip": True})
    for _ in range(3):
        assert ledger.reserve(POLICY, ada, marketing("gold")).allowed
    denied = ledger.reserve(POLICY, ada, marketing("silver"))
    assert not denied.allowed and denied.decision.denied_by == ("three a week",)
    assert denied.decision.next_allowed_at is not None and denied.decision.next_allowed_at > T0
    again = ledger.reserve(POLICY, "ada", marketing("silver"))  # the stored record, by id
    assert again.decision.next_allowed_at == denied.decision.next_allowed_at
    [plan] = ledger.reserve_all(POLICY, ada, [marketing("bronze")])
    assert not plan.allowed and plan.decision.next_allowed_at == denied.decision.next_allowed_at


NUMBERS = make_policy(POLICY_TEXT.replace("  vip     flag", "  vip     flag\n  age     number\n  likes   set of channel"),
                      "numbers.pol")


def test_a_record_given_again_is_kept_only_by_what_decides_its_text_and_checks(ledger: Ledger) -> None:  # noqa: F811
    """Issue 11: a ledger keeps the JSON text and the checked values of the records it was
    given lately, by each value's type and value (a float's repr): a value equal to a kept
    one but of another type (True and 1 and 1.0) or another text (0.0 and -0.0) is written and
    checked as itself, and a record changed in place is another record."""
    at = [T0]

    def reserve(values: dict[str, object]) -> None:
        at[0] += dt.timedelta(days=1)
        assert ledger.reserve(NUMBERS, Customer("ada", values), Request("gold", "email", "servicing", at[0])).allowed

    def stored() -> str:
        return dict(ledger.stored_customers())["ada"]

    reserve({"owner": "gold", "age": 1})
    assert stored() == customer_json(Customer("ada", {"owner": "gold", "age": 1}))
    with pytest.raises(InputError):  # a flag is no number, though True == 1
        reserve({"owner": "gold", "age": True})
    reserve({"owner": "gold", "age": -0.0})
    assert '"age": -0.0' in stored()
    reserve({"owner": "gold", "age": 0.0})
    assert '"age": 0.0' in stored()
    values: dict[str, object] = {"owner": "gold", "likes": frozenset({"sms"})}
    reserve(values)
    assert '"likes": ["sms"]' in stored()
    values["likes"] = frozenset({"sms", "email"})  # changed in place: written as it is now
    reserve(values)
    assert '"likes": ["email", "sms"]' in stored()
    values["likes"] = frozenset({"fax"})
    with pytest.raises(InputError):  # checked as it is now
        reserve(values)

"""The fast ingestion paths give exactly the validating path's answer and exactly its error.

``decide_json`` tries a columnar fast path and falls back to the validating path
(:mod:`policylang.inputs`); ``decide`` takes plain mappings for the request and the ledger.
The reference here is the validating path run on its own (``slow_decide_json``, or
``inputs.entry_from_json`` and a list of records), which shares no ingestion code with the
fast path.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policylang
from policylang import ingest
from policylang.errors import InputError
from policylang.history import History
from policylang.inputs import entry_from_json, where
from policylang.records import Contact, Event, Request
from policylang.rules import Policy
from tests.strategies import displacement_scenarios, scenarios

UTC = dt.timezone.utc
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(run: Any) -> tuple[str, Any]:
    """("decision", its dict and displaced contacts) or ("error", everything the user sees)."""
    try:
        decision = run()
    except InputError as exc:
        return "error", (type(exc), exc.message, exc.span, exc.expected, exc.hint)
    return "decision", (decision.to_dict(), decision.displaces, decision.next_allowed_at, decision.trace)


# ---- how an instant may be written --------------------------------------------------------

OFFSETS = (dt.timedelta(0), dt.timedelta(hours=5, minutes=30), dt.timedelta(hours=-8), dt.timedelta(hours=13, minutes=45))


@st.composite
def instant_texts(draw: Any, at: dt.datetime) -> str:
    """``at`` written as a caller might: Z, +00:00, another offset, fractions, lower case."""
    offset = draw(st.sampled_from(OFFSETS))
    local = at.astimezone(dt.timezone(offset))
    style = draw(st.integers(0, 19))
    if style == 0:
        return local.isoformat()  # +05:30 and the like
    if style == 1:
        return at.strftime("%Y-%m-%dT%H:%M:%S") + ".250Z"
    if style == 2:
        return at.strftime("%Y-%m-%dt%H:%M:%Sz")  # lower case: the validating path's business
    if style == 3:
        return at.strftime("%Y-%m-%d %H:%M:%SZ")  # a space for the T
    if style == 4:
        return at.strftime("%Y-%m-%dT%H:%MZ")  # no seconds
    if style == 5:
        return at.isoformat()  # +00:00
    if style == 6:  # one or seven fraction digits (read the same on every Python version, issue 11)
        return at.strftime("%Y-%m-%dT%H:%M:%S") + draw(st.sampled_from((".5Z", ".05+01:00", ".1234567Z")))
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_object(draw: Any, entry: Contact | Event) -> dict[str, Any]:
    if isinstance(entry, Event):
        obj: dict[str, Any] = {"at": draw(instant_texts(entry.at)), "event": entry.name}
        if draw(st.integers(0, 5)) == 0:
            obj[draw(st.sampled_from(("customer", "id")))] = draw(st.sampled_from(("c1", None)))
        return obj
    obj = entry.to_dict()
    obj["at"] = draw(instant_texts(entry.at))
    if obj["status"] == "sent" and draw(st.booleans()):
        del obj["status"]  # status defaults to sent
    if draw(st.integers(0, 6)) == 0:
        obj[draw(st.sampled_from(("outcome", "campaign", "id", "customer")))] = None
    if draw(st.integers(0, 6)) == 0:
        obj["id"] = draw(st.sampled_from(("a1", "b2")))
    return obj


# Malformed ledger lines, each a way real ledgers go wrong.
BAD_ENTRIES: tuple[Any, ...] = (
    {"at": "2026-11-24T10:00:00", "channel": "sms", "purpose": "debt", "team": "sales"},  # no offset
    {"at": "2026-02-30T10:00:00Z", "channel": "sms", "purpose": "debt", "team": "sales"},  # no such day
    {"at": "2026-11-24T10:00:00Z", "channel": "fax", "purpose": "debt", "team": "sales"},  # unknown channel
    {"at": "2026-11-24T10:00:00Z", "channel": "sms", "purpose": "debt"},  # no team
    {"at": "2026-11-24T10:00:00Z", "channel": "sms", "purpose": "debt", "team": "sales", "stauts": "sent"},
    {"at": "2026-11-24T10:00:00Z", "channel": "sms", "purpose": "debt", "team": "sales", "status": "sending"},
    {"at": "2026-11-24T10:00:00Z", "channel": "sms", "purpose": "debt", "team": "sales", "outcome": "maybe"},
    {"at": "2026-11-24T10:00:00Z", "channel": "sms", "purpose": "debt", "team": "sales", "campaign": 7},
    {"at": "2026-11-24T10:00:00Z", "channel": ["sms"], "purpose": "debt", "team": "sales"},
    {"at": "2026-11-24T10:00:00Z", "event": "complaints"},
    {"at": "2026-11-24T10:00:00Z", "event": "complaint", "channel": "sms"},
    {"at": "2026-11-24T10:00:00Z", "event": None},
    {"at": 1764000000, "channel": "sms", "purpose": "debt", "team": "sales"},
    {"at": "3000-01-01T00:00:00Z", "channel": "sms", "purpose": "debt", "team": "sales"},
    {"at": "2026-11-24T10:00:00+00:60", "channel": "sms", "purpose": "debt", "team": "sales"},
    {"channel": "sms", "purpose": "debt", "team": "sales"},  # no instant
    # issue 11, the typed (msgspec) path: fields it must tell apart from their defaults
    {"at": "2026-11-24T10:00:00Z", "event": "complaint", "status": "sent"},
    {"at": "2026-11-24T10:00:00Z", "event": "complaint", "outcome": None},
    {"at": "2026-11-24T10:00:00Z", "channel": "sms", "purpose": "debt", "team": "sales", "status": None},
    {"at": "2026-11-24T10:00:00Z", "channel": None, "purpose": "debt", "team": "sales"},
    {"at": "2026-11-24T10:00:00Z", "channel": "sms", "purpose": "debt", "team": "sales", "id": 3},
    {"at": "2026-11-24T10:00:00Z", "channel": "sms", "purpose": "debt", "team": "sales", "void_reason": "x"},
    {"at": "2026-11-24T10:00:00Z", "void": "a1"},
    {"at": "2026-11-24T10:00:00.1234567Z", "channel": "sms", "purpose": "debt", "team": "sales"},
    {"at": "2026-11-24T24:00:00Z", "channel": "sms", "purpose": "debt", "team": "sales"},
    {"at": " 2026-11-24T10:00:00Z", "channel": "sms", "purpose": "debt", "team": "sales"},
    ["2026-11-24T10:00:00Z", "sms"],
    "2026-11-24T10:00:00Z",
    None,
)


@st.composite
def documents(draw: Any, bad: bool = False) -> tuple[Policy, str]:
    """A policy and a section 10 document for it, perhaps with a malformed line somewhere."""
    _, policy, customer, request, ledger = draw(st.one_of(scenarios(), displacement_scenarios()))
    objects = [entry_object(draw, entry) for entry in ledger]
    if bad:
        objects.insert(draw(st.integers(0, len(objects))), draw(st.sampled_from(BAD_ENTRIES)))
    request_obj: dict[str, Any] = {"team": request.team, "channel": request.channel, "purpose": request.purpose,
                                   "at": draw(instant_texts(request.at))}
    if request.campaign is not None:
        request_obj["campaign"] = request.campaign
    document: dict[str, Any] = {"customer": {"id": "c1", **customer}, "request": request_obj}
    if objects or draw(st.booleans()):
        document["ledger"] = objects
    text = json.dumps(document, indent=draw(st.sampled_from((None, 2))))
    return policy, text


def both_paths(policy: Policy, text: str) -> None:
    slow = outcome(lambda: ingest.slow_decide_json(policy, text, file="doc.json"))
    assert outcome(lambda: ingest.decide_json(policy, text, file="doc.json")) == slow
    assert outcome(lambda: ingest.decide_json(policy, text.encode(), file="doc.json")) == slow
    assert outcome(lambda: policy.decide_json(text, file="doc.json")) == slow
    saved = ingest.LAZY_FROM
    ingest.LAZY_FROM = 0  # a long ledger's way: instants as datetimes, converted a shape at a time
    try:
        assert outcome(lambda: ingest.decide_json(policy, text.encode(), file="doc.json")) == slow
    finally:
        ingest.LAZY_FROM = saved
    saved = ingest.VECTOR_FROM
    ingest.VECTOR_FROM = 1  # a long ledger's instants: read a column at a time by numpy
    saved_quotes = ingest.NUMPY_QUOTES
    ingest.NUMPY_QUOTES = 0  # a long document's quotes: counted by numpy
    try:
        assert outcome(lambda: ingest.decide_json(policy, text, file="doc.json")) == slow
        assert outcome(lambda: ingest.decide_json(policy, text.encode(), file="doc.json")) == slow
    finally:
        ingest.VECTOR_FROM = saved
        ingest.NUMPY_QUOTES = saved_quotes
    saved = ingest.DATETIME64_FROM
    ingest.DATETIME64_FROM = 1  # numpy's date parser for the common case, else the tables
    try:
        assert outcome(lambda: ingest.decide_json(policy, text, file="doc.json")) == slow
    finally:
        ingest.DATETIME64_FROM = saved


@SETTINGS
@given(documents())
def test_fast_path_gives_the_validating_paths_decision(case: tuple[Policy, str]) -> None:
    both_paths(*case)


@SETTINGS
@given(documents(bad=True))
def test_a_malformed_line_anywhere_gives_the_validating_paths_error(case: tuple[Policy, str]) -> None:
    both_paths(*case)


@SETTINGS
@given(documents(bad=True))
def test_mappings_give_the_same_decision_and_error_as_json(case: tuple[Policy, str]) -> None:
    policy, text = case
    data = json.loads(text)
    slow = outcome(lambda: ingest.slow_decide_json(policy, text))
    got = outcome(lambda: policy.decide(data["customer"], data["request"], data.get("ledger", [])))
    if slow[0] == "decision":
        assert got == slow
    else:  # the same words; a mapping's position is its place in the list, not a line of text
        assert got[0] == "error"
        assert got[1][1] == re.sub(r"^ledger entry \d+: ", "", slow[1][1])
        assert got[1][3:] == slow[1][3:]


# ---- the fast path is really taken, and really refuses what it cannot prove ------------------

NORTHWIND = policylang.load(__file__.rsplit("/tests/", 1)[0] + "/examples/northwind.pol")
GOOD = {
    "customer": {"id": "ada", "timezone": "Europe/London", "status": "active", "owner": "wealth_management"},
    "request": {"team": "cards", "channel": "phone", "purpose": "marketing", "at": "2026-11-24T10:00:00Z"},
    "ledger": [
        {"at": "2026-11-23T15:00:00+00:00", "channel": "phone", "purpose": "marketing", "team": "private_banking",
         "status": "sent", "outcome": "conversation"},
        {"at": "2026-10-01T09:00:00Z", "event": "complaint"},
        {"at": "2026-11-26T10:00:00Z", "channel": "email", "purpose": "marketing", "team": "growth", "status": "planned"},
    ],
}


def fast(text: str | bytes) -> bool:
    """Do both fast paths (msgspec's typed structs, and orjson's dicts when msgspec is
    missing) decide this document themselves? Both must agree on whether they can."""
    taken = []
    for path in (ingest._typed_decide, ingest._fast_decide):  # noqa: SLF001 - the paths under test
        try:
            path(NORTHWIND, text, "doc.json", True, None)
        except ingest._Slow:  # noqa: SLF001
            taken.append(False)
        else:
            taken.append(True)
    assert taken[0] == taken[1], text
    return taken[0]


def test_a_well_formed_document_takes_the_fast_path() -> None:
    assert fast(json.dumps(GOOD))
    assert fast(json.dumps(GOOD, indent=2).encode())
    assert fast(json.dumps(GOOD | {"ledger": []}))


@pytest.mark.parametrize("text", [
    # a duplicate key: parsers keep the last; the validating path has the last word on it
    json.dumps(GOOD)[:-1] + ', "ledger": []}',
    json.dumps(GOOD).replace('"event": "complaint"', '"event": "complaint", "event": "complaint"'),
    json.dumps(GOOD).replace('"status": "planned"', '"status": "planned" , "team": "growth"'),
    json.dumps(GOOD).replace('"team": "cards"', '"team": "cards",\n "team"\t: "cards"'),
    json.dumps(GOOD).replace('"status": "active"', '"status": "active", "status": "dormant"'),  # in the customer
    # an escape could spell a key twice without repeating its text
    json.dumps(GOOD).replace('"status": "planned"', '"status": "planned", "te\\u0061m": "growth"'),
    json.dumps(GOOD).replace("2026-10-01T09:00:00Z", "2026-10-01T09:00:00+00:60"),
    json.dumps(GOOD).replace("2026-10-01T09:00:00Z", "2026-10-01t09:00:00Z"),
    json.dumps(GOOD).replace('"status": "planned"', '"status": "planned", "outcome": null, "outcome": null'),
    json.dumps(GOOD).replace('"status": "planned"', '"status": "planned", "campaign": "x", "campaign": null'),
    json.dumps(GOOD).replace('"ledger"', '"legder"'),
    # an event line with a contact field written as its default (issue 11's typed path)
    json.dumps(GOOD).replace('"event": "complaint"', '"event": "complaint", "status": "sent"'),
    json.dumps(GOOD).replace('"event": "complaint"', '"event": "complaint", "outcome": null'),
    json.dumps(GOOD).replace('"event": "complaint"', '"event": "complaint", "channel": "sms"'),
    json.dumps(GOOD).replace('"event": "complaint"', '"event": "complaint", "team": "cards"'),
    json.dumps(GOOD).replace('"event": "complaint"', '"event": "complaint", "campaign": "spring"'),
    json.dumps(GOOD).replace('"event": "complaint"', '"at": "2026-10-01T09:00:00Z", "event": "complaint"'),
    json.dumps(GOOD)[:-1],
])
def test_the_fast_path_gives_up_on_what_it_cannot_prove(text: str) -> None:
    assert not fast(text)
    assert outcome(lambda: ingest.decide_json(NORTHWIND, text, file="doc.json")) == outcome(
        lambda: ingest.slow_decide_json(NORTHWIND, text, file="doc.json"))


def test_a_null_is_fine_when_counted() -> None:
    document = json.loads(json.dumps(GOOD))
    document["ledger"][0]["campaign"] = None
    document["ledger"][1]["customer"] = None
    text = json.dumps(document)
    assert fast(text)
    both_paths(NORTHWIND, text)


# The request as the typed path decodes it (issue 11: a struct, not a second parse): every
# variant must give the validating path's decision or its error, taken fast or not.
REQUEST_VARIANTS: tuple[tuple[dict[str, Any], bool], ...] = (
    ({}, True),
    ({"campaign": "spring"}, True),
    ({"campaign": ["spring", "autumn"]}, True),
    ({"campaign": ["spring", "spring"]}, True),  # a list of one name is that name
    ({"campaign": None}, True),
    ({"campaign": []}, False),
    ({"campaign": [1]}, False),
    ({"campaign": 7}, False),
    ({"priority": 3}, True),
    ({"priority": -2}, True),
    ({"priority": 2**70}, True),
    ({"priority": True}, False),
    ({"priority": 1.5}, False),
    ({"priority": "1"}, False),
    ({"id": "r-1"}, True),
    ({"id": None}, True),
    ({"id": 5}, False),
    ({"customer": "ada"}, True),
    ({"customer": None}, True),
    ({"customer": 5}, False),  # no rule reads it: the validating path takes any value
    ({"customer": {"a": [1, {"b": None}]}}, False),
    ({"prio": 3}, False),
    ({"team": "carsd"}, False),
    ({"team": None}, False),
    ({"at": "2026-11-24T10:00:00"}, False),
    ({"at": "2026-11-24t10:00:00z"}, True),
    ({"at": "2026-11-24T10:00:00.1234567+05:30"}, True),
    ({"at": "2026-02-30T10:00:00Z"}, False),
    ({"at": 1764000000}, False),
)


@pytest.mark.parametrize(("change", "taken"), REQUEST_VARIANTS, ids=lambda v: json.dumps(v))
def test_every_request_form_gives_the_validating_paths_answer(change: dict[str, Any], taken: bool) -> None:
    document = json.loads(json.dumps(GOOD))
    document["request"].update(change)
    for text in (json.dumps(document), json.dumps(document, indent=2)):
        assert ingest.schema(NORTHWIND) is not None
        try:
            ingest._typed_decide(NORTHWIND, text, "doc.json", True, None)  # noqa: SLF001 - the path under test
        except ingest._Slow:  # noqa: SLF001
            assert not taken, text
        else:
            assert taken, text
        both_paths(NORTHWIND, text)


@pytest.mark.parametrize("text", [
    json.dumps(GOOD).replace('"team": "cards"', '"team": "cards", "team": "cards"'),
    json.dumps(GOOD).replace('"team": "cards"', '"team": "cards", "id": "a", "id": null'),
    json.dumps(GOOD).replace('"team": "cards"', '"team": "cards", "priority": 1, "priority": 2'),
    json.dumps(GOOD).replace('"team": "cards"', '"team": "cards", "campaign": ["a", "b"], "campaign": "a"'),
    json.dumps(GOOD).replace('"team": "cards"', '"team": "cards", "request": {}'),
])
def test_a_key_given_twice_in_the_request_is_not_taken_fast(text: str) -> None:
    assert not fast(text)
    both_paths(NORTHWIND, text)


# ---- the errors a caller sees ---------------------------------------------------------------


def test_a_bad_ledger_entry_is_pointed_at_in_the_document() -> None:
    document = json.loads(json.dumps(GOOD))
    document["ledger"][2]["team"] = "growht"
    text = json.dumps(document, indent=2)
    with pytest.raises(InputError) as caught:
        NORTHWIND.decide_json(text, file="doc.json")
    error = caught.value
    assert error.message == "ledger entry 3: field `team`: `growht` is not a declared team"
    assert error.hint == "did you mean `growth`?"
    line = text.splitlines()[error.span.line - 1]
    assert line[error.span.column - 1:].startswith('"team": "growht"')
    assert error.span.file == "doc.json"


def test_a_json_syntax_error_has_its_line_and_column() -> None:
    text = json.dumps(GOOD, indent=2).replace('"phone",', '"phone"', 1)
    with pytest.raises(InputError) as caught:
        NORTHWIND.decide_json(text, file="doc.json")
    assert caught.value.message.startswith("invalid JSON")
    assert caught.value.span.line == text.splitlines().index('    "purpose": "marketing",') + 1


def test_a_request_field_error_points_at_the_request() -> None:
    text = json.dumps(GOOD, indent=2).replace('"at": "2026-11-24T10:00:00Z"', '"at": "2026-11-24T10:00:00"')
    with pytest.raises(InputError) as caught:
        NORTHWIND.decide_json(text, file="doc.json")
    assert "has no offset" in caught.value.message
    assert text.splitlines()[caught.value.span.line - 1].strip() == '"at": "2026-11-24T10:00:00"'


@pytest.mark.parametrize(("document", "message"), [
    ({"request": GOOD["request"]}, "the document has no `customer` field"),
    ({"customer": GOOD["customer"], "request": GOOD["request"], "ledgers": []}, "unknown field `ledgers` in the document"),
    ({"customer": GOOD["customer"], "request": GOOD["request"], "ledger": {}}, "field `ledger` must be a list of ledger lines"),
    ([], "the document must be a JSON object with `customer`, `request` and `ledger`"),
])
def test_the_documents_shape_is_checked(document: Any, message: str) -> None:
    with pytest.raises(InputError) as caught:
        NORTHWIND.decide_json(json.dumps(document))
    assert caught.value.message == message


@pytest.mark.parametrize("where_", ["request", "ledger", "customer"])
def test_a_text_holding_a_lone_surrogate_gets_the_validating_paths_answer(where_: str) -> None:
    # a Python text (not bytes) may hold a lone surrogate, which has no UTF-8: msgspec raised
    # UnicodeEncodeError out of decide_json (a traceback) before issue 11t
    document = json.loads(json.dumps(GOOD))
    if where_ == "request":
        document["request"]["id"] = "SURROGATE"
    elif where_ == "ledger":
        document["ledger"][0]["campaign"] = "SURROGATE"
    else:
        document["customer"]["status"] = "SURROGATE"
    text = json.dumps(document, ensure_ascii=False).replace("SURROGATE", "a" + chr(0xD800) + "b")
    assert chr(0xD800) in text
    slow = outcome(lambda: ingest.slow_decide_json(NORTHWIND, text))
    assert outcome(lambda: ingest.decide_json(NORTHWIND, text)) == slow
    if where_ == "customer":
        assert slow[0] == "error"


@pytest.mark.parametrize("text", ['{"a": "b"}', '{"é": "\u00e9"}', '"' * 70_000, 'x"' + chr(0xD800) + '"' * 65_536, ""])
def test_the_quote_count_is_the_texts_either_way(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for threshold in (0, 10**9):
        monkeypatch.setattr(ingest, "NUMPY_QUOTES", threshold)
        assert ingest.quotes(text) == text.count('"')
        if chr(0xD800) not in text:
            assert ingest.quotes(text.encode()) == text.count('"')


def test_bytes_that_are_not_utf8_are_refused() -> None:
    with pytest.raises(InputError, match="not UTF-8"):
        NORTHWIND.decide_json(b'{"customer": "\xff"}')


def test_decide_takes_mappings_and_validates_them() -> None:
    customer = GOOD["customer"]
    from_records = NORTHWIND.decide(
        {k: v for k, v in customer.items() if k != "id"},
        Request("cards", "phone", "marketing", dt.datetime(2026, 11, 24, 10, tzinfo=UTC)),
        [entry_from_json(NORTHWIND, obj, where("x")) for obj in GOOD["ledger"]],
    )
    from_mappings = NORTHWIND.decide({k: v for k, v in customer.items() if k != "id"}, GOOD["request"], GOOD["ledger"])
    assert from_mappings == from_records
    mixed = [GOOD["ledger"][0], entry_from_json(NORTHWIND, GOOD["ledger"][1], where("x")), GOOD["ledger"][2]]
    assert NORTHWIND.decide({}, GOOD["request"], mixed).to_dict() == NORTHWIND.decide({}, GOOD["request"], GOOD["ledger"]).to_dict()
    with pytest.raises(InputError) as caught:
        NORTHWIND.decide({}, GOOD["request"], [GOOD["ledger"][0], {"at": "2026-11-23T15:00:00Z", "event": "complain"}])
    assert caught.value.message == "field `event`: `complain` is not a declared event"
    assert caught.value.span.line == 2  # the entry's position in the list
    with pytest.raises(InputError, match="field `team`"):
        NORTHWIND.decide({}, GOOD["request"] | {"team": "card"}, [])
    with pytest.raises(InputError, match="a ledger line must be a JSON object, not a number"):
        NORTHWIND.decide({}, GOOD["request"], [42])  # type: ignore[list-item]


def test_a_contact_from_columns_is_one_object_and_equals_the_record() -> None:
    history, _ = ingest.fast_history(NORTHWIND, GOOD["ledger"])
    reference = entry_from_json(NORTHWIND, GOOD["ledger"][0], where("x"))
    first = history.counted[0]
    assert first is history.counted[0]
    assert first == reference
    assert first.at.tzinfo is UTC
    assert history.planned[0] is history.counted[1]
    assert len(history) == 3


# ---- a JSON Lines ledger (policylang decide --ledger) ---------------------------------------

ODD_LINES = (
    '{"at": "2026-11-20T10:00:00Z", "event": "complaint"}, {"at": "2026-11-21T10:00:00Z", "event": "complaint"}',
    '{"at": "2026-11-20T10:00:00Z",',  # an object split over two lines, with the next line
    "",
    "   ",
    '{"at": "2026-11-20T10:00:00Z", "event": "complaint", "event": "complaint"}',
    '{"at": "2026-11-20T10:00:00Z", "event": "compl\\u0061int"}',
    '{"at": "2026-11-20T10:00:00Z", "event": "complaint"}\r',
    "[]",
    "{}",
    '{"at": "2026-11-20T10:00:00Z", "event": "complaint"} {"at": "2026-11-20T10:00:00Z", "event": "complaint"}',
    # msgspec's decode_lines (the bytes path) reads values run together as several
    '{"at": "2026-11-20T10:00:00Z", "event": "complaint"}{"at": "2026-11-20T10:00:00Z", "event": "complaint"}',
    '{"at": "2026-11-20T10:00:00Z", "event": "complaint"}\t{"at": "2026-11-20T10:00:00Z", "event": "complaint"}',
    '{"at": "2026-11-20T10:00:00Z", "event": "complaint"} 7',
    '{"at": "2026-11-20T10:00:00Z", "event": "complaint"}\f',
)


@st.composite
def jsonl_ledgers(draw: Any) -> tuple[Policy, str, Request, dict[str, Any]]:
    _, policy, customer, request, ledger = draw(st.one_of(scenarios(), displacement_scenarios()))
    lines = [json.dumps(entry_object(draw, entry)) for entry in ledger]
    for _ in range(draw(st.integers(0, 2))):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.one_of(
            st.sampled_from(ODD_LINES), st.sampled_from(BAD_ENTRIES).map(json.dumps))))
    return policy, "\n".join(lines) + draw(st.sampled_from(("", "\n"))), request, customer


@SETTINGS
@given(jsonl_ledgers(), st.sampled_from((ingest.CHUNK, 60)), st.sampled_from((ingest.TYPED_FROM, 0)), st.booleans())
def test_a_jsonl_ledger_gives_the_validating_paths_answer(case: tuple[Policy, str, Request, dict[str, Any]],
                                                          chunk: int, typed_from: int, as_bytes: bool) -> None:
    from policylang.inputs import ledger_from_jsonl

    policy, text, request, customer = case
    given_text: str | bytes = text.encode() if as_bytes else text  # the command line passes an ASCII file's bytes
    saved = ingest.CHUNK, ingest.TYPED_FROM, ingest.LAZY_FROM
    ingest.CHUNK = chunk  # small chunks: many joined parts
    ingest.TYPED_FROM = typed_from  # 0: msgspec's typed decoder, else orjson's dicts
    ingest.LAZY_FROM = 0 if as_bytes else saved[2]  # 0: orjson's dicts read their instants as datetimes
    try:
        fast = outcome(lambda: policy.decide(customer, request,
                                             ingest.history_from_jsonl(policy, given_text, "l.jsonl")))
    finally:
        ingest.CHUNK, ingest.TYPED_FROM, ingest.LAZY_FROM = saved
    slow = outcome(lambda: policy.decide(customer, request, ledger_from_jsonl(policy, text, "l.jsonl")))
    assert fast == slow


@pytest.mark.parametrize("typed_from", [0, ingest.TYPED_FROM])
def test_the_jsonl_fast_path_is_taken_and_refuses_two_objects_on_a_line(typed_from: int,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "TYPED_FROM", typed_from)
    lines = [json.dumps(obj) for obj in GOOD["ledger"]]
    assert len(ingest._fast_jsonl(NORTHWIND, "\n".join(lines) + "\n")) == 3  # noqa: SLF001
    assert len(ingest._fast_jsonl(NORTHWIND, ("\n".join(lines) + "\n").encode())) == 3  # noqa: SLF001
    for odd in ODD_LINES:
        last = [] if odd == "" else ["\n".join([lines[0], odd])]  # (a last empty line is the final newline)
        for text in ["\n".join([lines[0], odd, lines[1]]), *last]:
            for given_text in (text, text.encode()):
                with pytest.raises(ingest._Slow):  # noqa: SLF001
                    ingest._fast_jsonl(NORTHWIND, given_text)  # noqa: SLF001


def test_an_object_spread_over_two_lines_is_not_read_as_two_lines() -> None:
    # Joined with a comma, these two lines parse as two objects; read line by line, the first is bad.
    text = ('{"at": "2026-11-20T10:00:00Z", "event": "complaint"},{"at": "2026-11-20T10:00:00Z", "id": "a}\n'
            '{b", "event": "complaint"}\n')
    with pytest.raises(ingest._Slow):  # noqa: SLF001
        ingest._fast_jsonl(NORTHWIND, text)  # noqa: SLF001
    with pytest.raises(InputError) as caught:
        ingest.history_from_jsonl(NORTHWIND, text, "l.jsonl")
    assert caught.value.span.line == 1


# ---- a store's rows -----------------------------------------------------------------------------


@SETTINGS
@given(st.one_of(scenarios(), displacement_scenarios()), st.data())
def test_rows_give_the_same_decision_as_their_records(case: Any, data: st.DataObject) -> None:
    import attrs

    from policylang.ledger import row_from_entry

    _, policy, customer, request, ledger = case
    now_us = (request.at - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)
    rows = []
    for entry in ledger:
        row = row_from_entry(attrs.evolve(entry, customer="c1"), now_us)
        if row.status == "planned" and data.draw(st.booleans()):  # a reservation, maybe past its deadline
            row.expires_us = now_us + data.draw(st.sampled_from((-1, 0, 1, 10**9)))
        rows.append(row)
    records = [row.entry(now_us) for row in rows if row.kind == "event" or row.counted(now_us)]
    assert outcome(lambda: policy.decide(customer, request, ingest.history_from_rows(rows, now_us))) == outcome(
        lambda: policy.decide(customer, request, records))


def test_a_displaceable_plan_makes_no_object_for_every_contact() -> None:
    # Issue 11: leaving the displaced plans out of a rule's sequence looks only at the
    # positions at their instants, so a history from columns makes no Contact for the rest.
    sent = [{"at": f"2025-{m:02d}-{d:02d}T10:00:00Z", "channel": "letter", "purpose": "marketing", "team": "growth"}
            for m in range(1, 13) for d in range(1, 28)]
    sent += [{"at": f"2026-10-{d}T10:00:00Z", "channel": "letter", "purpose": "marketing", "team": "growth"}
             for d in (28, 30)]  # with the plan, "offers per month" is full: the plan is displaced
    planned = {"at": "2026-11-25T10:00:00Z", "channel": "email", "purpose": "marketing", "team": "growth",
               "status": "planned"}
    document = {"customer": {"id": "c1", "timezone": "Europe/London", "status": "active"},
                "request": {"team": "collections", "channel": "email", "purpose": "marketing",
                            "at": "2026-11-24T10:00:00Z"},
                "ledger": [*sent, planned]}
    history = ingest.fast_history(NORTHWIND, document["ledger"])[0]
    decision = NORTHWIND.decide(document["customer"], document["request"], history)
    assert [c.team for c in decision.displaces] == ["growth"]
    assert decision == ingest.slow_decide_json(NORTHWIND, json.dumps(document))
    assert len(history._made) < 10  # noqa: SLF001 - the objects made, not 327


def test_planned_contacts_are_made_only_when_read() -> None:
    # issue 11t: a fresh history from columns makes a planned contact when it is read; a
    # request that can displace nobody (every planning team ranks above it) reads none
    plans = [{"at": f"2026-11-{d}T10:00:00Z", "channel": "email", "purpose": "servicing", "team": team,
              "status": "planned"} for d in (25, 26, 27) for team in ("collections", "service")]
    ledger = [{"at": "2026-11-20T10:00:00Z", "channel": "letter", "purpose": "servicing", "team": "service"}, *plans]
    customer = {"id": "c1", "timezone": "Europe/London", "status": "active", "owner": "cards"}
    request = {"team": "growth", "channel": "letter", "purpose": "servicing", "at": "2026-11-24T10:00:00Z"}
    history = ingest.fast_history(NORTHWIND, ledger)[0]
    assert history.has_planned and history._made == {}  # noqa: SLF001 - nothing made up front
    decision = NORTHWIND.decide(customer, request, history, explain=False)  # a trace would name them all
    assert not [c for c in history._made.values() if c.status == "planned"]  # noqa: SLF001
    assert decision == ingest.slow_decide_json(NORTHWIND, json.dumps(
        {"customer": customer, "request": request, "ledger": ledger}), explain=False)
    # the same objects whichever way they are reached
    by_team = history.planned_by_team()
    assert history._made == {}  # noqa: SLF001 - the ids of a team are made when read
    assert len(by_team["service"]) == 3 and by_team["service"][0] == id(history.planned[1])
    assert sorted(map(id, history.planned)) == sorted(i for ids in by_team.values() for i in ids)
    assert [c.team for c in history.planned] == ["collections", "service"] * 3  # time order, ties in ledger order


# ---- issue 11: a history converts the instants of the shapes a rule counts, when it asks ----------


def unrelated_ledger() -> list[dict[str, Any]]:
    """Letters from growth (no rule of a phone debt request counts them) and debt calls."""
    letters = [{"at": f"2026-{m:02d}-{d:02d}T10:00:00Z", "channel": "letter", "purpose": "servicing",
                "team": "growth"} for m in range(1, 11) for d in (3, 13, 23)]
    calls = [{"at": f"2026-11-{d:02d}T15:00:00+01:00", "channel": "phone", "purpose": "debt", "team": "collections",
              "outcome": "no_answer"} for d in (17, 19, 21)]
    return [*letters[:15], *calls, *letters[15:]]


def phone_debt(at: str = "2026-11-24T15:00:00Z", **more: Any) -> dict[str, Any]:
    return {"customer": {"id": "c1", "timezone": "Europe/London", "status": "active"},
            "request": {"team": "collections", "channel": "phone", "purpose": "debt", "at": at},
            "ledger": unrelated_ledger(), **more}


def test_a_fast_history_answers_later_requests_like_its_records() -> None:
    document = phone_debt()
    history = ingest.fast_history(NORTHWIND, document["ledger"])[0]
    decision = NORTHWIND.decide(document["customer"], document["request"], history)
    # every instant was read to microseconds by the fast path (ingest.instant_micros), in
    # ledger order: no datetime was made, so none is left to convert
    contacts = [entry_from_json(NORTHWIND, obj, where("x")) for obj in document["ledger"]]
    assert history._micros == [  # noqa: SLF001
        (c.at - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)
        for c in contacts if isinstance(c, Contact)]
    assert decision == ingest.slow_decide_json(NORTHWIND, json.dumps(document))
    # the same history asked about the letters later agrees with the records
    letter = {"team": "growth", "channel": "letter", "purpose": "marketing", "at": "2026-11-24T15:00:00Z"}
    records = [entry_from_json(NORTHWIND, obj, where("x")) for obj in document["ledger"]]
    assert NORTHWIND.decide(document["customer"], letter, history) == NORTHWIND.decide(
        document["customer"], letter, records)
    assert list(history.counted) == sorted(records, key=lambda c: c.at)  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", [
    "2026-02-30T10:00:00Z", "2026-02-29T10:00:00Z", "2026-04-31T10:00:00Z", "2026-11-24T24:00:00Z",
    "2026-11-24T10:60:00Z", "2026-11-24T10:00:60Z", "2026-13-01T10:00:00Z", "2026-00-10T10:00:00Z",
    "2026-11-24T10:00:00+00:60", "2026-11-24T10:00:00+24:00", "2026+11-24T10:00:00Z", "2026-11+24T10:00:00Z",
    "3000-01-01T00:00:00Z", "1900-01-01T00:30:00+01:00", "2999-12-31T23:30:00-01:00", "2026-11-24T10:00:00",
])
def test_a_malformed_instant_no_rule_would_read_is_still_reported(bad: str) -> None:
    # The letter holding it is of a shape the phone debt request's rules never count.
    document = phone_debt()
    document["ledger"][22]["at"] = bad
    text = json.dumps(document, indent=1)
    expected = outcome(lambda: ingest.slow_decide_json(NORTHWIND, text, file="doc.json"))
    assert outcome(lambda: NORTHWIND.decide_json(text, file="doc.json")) == expected
    if bad == "2026-02-29T10:00:00Z":
        return  # 2026 is no leap year, but 2024 is: checked below
    assert expected[0] == "error" and "ledger entry 23" in expected[1][1], expected


def test_a_leap_day_is_read_in_a_leap_year_only() -> None:
    document = phone_debt()
    document["ledger"][22]["at"] = "2024-02-29T10:00:00Z"
    both_paths(NORTHWIND, json.dumps(document))
    document["ledger"][22]["at"] = "2026-02-29T10:00:00Z"
    both_paths(NORTHWIND, json.dumps(document))
    assert outcome(lambda: NORTHWIND.decide_json(json.dumps(document)))[0] == "error"


@st.composite
def requests_for(draw: Any, policy: Policy, at: dt.datetime) -> Request:
    return Request(draw(st.sampled_from(policy.teams)), draw(st.sampled_from(policy.channels)),
                   draw(st.sampled_from(policy.purposes)), at + dt.timedelta(hours=draw(st.integers(-48, 48))))


@SETTINGS
@given(st.one_of(scenarios(), displacement_scenarios()), st.data())
def test_one_lazy_history_asked_many_requests_agrees_with_records(case: Any, data: st.DataObject) -> None:
    # A history converts shapes as requests ask for them: each answer, whatever was converted
    # before it, is the answer from the records.
    _, policy, customer, request, ledger = case
    objects = [entry_object(data.draw, entry) for entry in ledger]
    try:
        history = ingest.fast_history(policy, objects)[0]
    except ingest._Slow:  # noqa: SLF001 - a form the fast path leaves to the validating path
        return
    records = [entry_from_json(policy, obj, where("x")) for obj in objects]
    for asked in [request, *data.draw(st.lists(requests_for(policy, request.at), max_size=4))]:
        assert outcome(lambda: policy.decide(customer, asked, history)) == outcome(  # noqa: B023
            lambda: policy.decide(customer, asked, records))  # noqa: B023
    assert [(c.at, c.channel, c.status) for c in history.counted] == [
        (c.at, c.channel, c.status) for c in History(records).counted]


def test_a_customer_record_seen_before_gives_the_same_answers() -> None:
    # The typed path keeps validated customer records by their bytes (issue 11): a second
    # document with the same customer is decided from the kept record, an invalid one is
    # never kept, and a duplicate key in a kept record's bytes is still caught.
    policy = policylang.load(__file__.rsplit("/tests/", 1)[0] + "/examples/northwind.pol")
    text = json.dumps(GOOD)
    both_paths(policy, text)
    assert len(policy._index["ingest-customers"]) == 1  # noqa: SLF001
    other = json.dumps(GOOD | {"request": GOOD["request"] | {"channel": "email"}})
    both_paths(policy, other)
    assert len(policy._index["ingest-customers"]) == 1  # noqa: SLF001
    bad = json.dumps(GOOD).replace('"status": "active"', '"status": "asleep"')
    both_paths(policy, bad)
    assert len(policy._index["ingest-customers"]) == 1  # noqa: SLF001
    twice = json.dumps(GOOD).replace('"id": "ada"', '"id": "ada", "id": "bob"')
    both_paths(policy, twice)


def test_a_history_keeps_its_shape_codes_when_a_new_table_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Shapes get process-wide codes (issue 11); past the bound new shapes go to a new table,
    # and a history coded in the older one must not read the new codes as its own.
    from policylang import history as module

    document = phone_debt()
    records = [entry_from_json(NORTHWIND, obj, where("x")) for obj in document["ledger"]]
    history = ingest.fast_history(NORTHWIND, document["ledger"])[0]
    letter = {"team": "growth", "channel": "letter", "purpose": "servicing", "at": "2026-11-24T15:00:00Z"}
    assert NORTHWIND.decide(document["customer"], letter, history) == NORTHWIND.decide(
        document["customer"], letter, records)
    monkeypatch.setattr(module, "SHAPE_CODES", 1)
    table = module._TABLE[0]  # noqa: SLF001
    # another ledger's shapes in another order take the codes the first history holds
    reversed_records = [entry_from_json(NORTHWIND, obj, where("x")) for obj in reversed(document["ledger"])]
    never_seen = Contact(dt.datetime(2026, 1, 1, tzinfo=UTC), f"pigeon {id(table)}", "servicing", "growth")
    for asked in (document["request"], letter):
        assert NORTHWIND.decide(document["customer"], asked, History([never_seen, *reversed_records])) == (
            NORTHWIND.decide(document["customer"], asked, [*records, never_seen]))
        assert NORTHWIND.decide(document["customer"], asked, history) == NORTHWIND.decide(
            document["customer"], asked, records)
    assert module._TABLE[0] is not table  # noqa: SLF001


@pytest.mark.parametrize("collecting", [True, False])
def test_reading_a_long_ledger_leaves_the_collector_as_it_found_it(collecting: bool) -> None:
    """The fast paths pause the garbage collector while they read (issue 11): it must be
    back as it was, after a good ledger and after one the validating path reports."""
    import gc
    from pathlib import Path

    policy = policylang.load(Path(__file__).resolve().parent.parent / "examples" / "northwind.pol")
    line = '{"at": "2026-03-01T10:00:00Z", "channel": "email", "purpose": "marketing", "team": "cards"}'
    good = "\n".join([line] * 1500) + "\n"
    bad = good + line.replace("email", "emial") + "\n"
    was = gc.isenabled()
    try:
        (gc.enable if collecting else gc.disable)()
        assert len(ingest.history_from_jsonl(policy, good, "l.jsonl")) == 1500
        assert gc.isenabled() is collecting
        with pytest.raises(InputError, match="emial"):
            ingest.history_from_jsonl(policy, bad, "l.jsonl")
        assert gc.isenabled() is collecting
        lines = ingest.schema(policy).lines.decode("[" + good.strip().replace("\n", ",") + "]")  # type: ignore[union-attr]
        ingest.line_columns(lines)
        assert gc.isenabled() is collecting
    finally:
        (gc.enable if was else gc.disable)()

"""The native reader (policylang/_scan.c) gives exactly the other paths' decision, or declines.

``decide_json`` tries the C reader first; whatever it declines (it returns None) goes to the
typed path and then the validating path. So for any text, with the reader on or off, the
answer (decision or positioned error) must be the validating path's (``slow_decide_json``,
which shares no code with the C), and whenever the reader accepts a document the validating
path must decide it too, the typed path must accept it, and the columns must be the typed
path's. The generators aim at the reader's edges: instants at month ends, leap days, the
last microsecond, every fraction length, offsets, the first and last years; names outside the
vocabulary, nulls, duplicate keys, whitespace, truncated texts, a damaged byte, random bytes.
``pytest --hypothesis-show-statistics`` shows how often the reader accepted and declined.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import os
import re
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import policylang
from policylang import ingest
from policylang.errors import InputError
from policylang.inputs import parse_instant, where

ROOT = __file__.rsplit("/tests/", 1)[0]
NORTHWIND = policylang.load(ROOT + "/examples/northwind.pol")
# No outcomes and no events declared: a name of either kind is refused by every path.
BARE = policylang.compile("""policy "bare"
channels  email, sms, phone
teams     cards, growth
purposes  marketing, debt
customer
  status  one of active, dormant
cap "two a week": at most 2 marketing per 7 days
""")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
native = pytest.mark.skipif(not ingest.native_available(), reason="the native reader is not built")


def test_ci_tests_the_native_reader() -> None:
    """CI installs with a compiler: the native reader must be there, or CI would test only the
    paths in Python (a missing module is silently a slower path, never an error)."""
    if os.environ.get("CI") == "true":
        assert ingest.native_available(), "policylang._scan is not built: see hatch_build.py"
    elif not ingest.native_available():
        pytest.skip("the native reader is not built here (no compiler?)")


def outcome(run: Any) -> tuple[str, Any]:
    """("decision", everything it says) or ("error", everything the user sees)."""
    try:
        decision = run()
    except InputError as exc:
        return "error", (exc.message, exc.span, exc.expected, exc.hint)
    return "decision", (decision.to_dict(), decision.displaces, decision.next_allowed_at, decision.trace)


def scanned(policy: policylang.Policy, document: str | bytes) -> Any:
    return ingest._load_scan()(document, ingest.native_vocabulary(policy))  # noqa: SLF001 - the reader under test


def check(policy: policylang.Policy, document: str | bytes, record: bool = True) -> None:
    """The reader on, the reader off and the validating path alone give one answer; what the
    reader accepts, every path accepts, with the typed path's very columns."""
    found = scanned(policy, document)
    if record:
        event("native: accepted" if found is not None else "native: declined")
    try:
        text = document.decode("utf-8") if isinstance(document, bytes) else document
    except UnicodeDecodeError:
        reference: tuple[str, Any] = ("error", "not UTF-8")
    else:
        reference = outcome(lambda: ingest.slow_decide_json(policy, text, file="doc.json"))
    saved = ingest.native
    try:
        for on in (True, False):
            ingest.native = on
            got = outcome(lambda: ingest.decide_json(policy, document, file="doc.json"))
            assert got == reference or (reference[1] == "not UTF-8" and "not UTF-8" in got[1][0]), (on, got, reference)
    finally:
        ingest.native = saved
    if found is None:
        return
    if record:
        size = len(found[1]) + sum(map(len, found[2].values()))
        event("native: accepted, lines " + ("0" if not size else "1-3" if size < 4 else "4+"))
    typed = ingest.schema(policy)
    assert typed is not None
    data = typed.document.decode(document)  # the typed path takes what the reader takes
    lines = [] if data.ledger is msgspec.UNSET else data.ledger
    (columns, micros, events, _), _ = ingest.line_columns(lines, True, False)
    assert (found[0], found[1], found[2]) == (columns, micros, events)
    request, _ = ingest._request(data.request, "doc.json")  # noqa: SLF001
    team, channel, purpose, at_us, campaign, priority, ident = found[4]
    assert (team, channel, purpose, EPOCH + dt.timedelta(microseconds=at_us), campaign, priority or 0, ident) == (
        request.team, request.channel, request.purpose, request.at, request.campaign, request.priority, request.id)
    assert found[3] == bytes(data.customer)


# ---- instants at their edges ------------------------------------------------------------------

@st.composite
def instant_texts(draw: Any) -> str:
    """Instant texts near every edge the reader checks, and a few forms only the validating
    path takes (t, z, a space, no seconds, seven fraction digits)."""
    year = draw(st.sampled_from((1900, 1901, 1902, 1999, 2000, 2024, 2026, 2100, 2400, 2997, 2998, 2999, 3000))
                | st.integers(1, 9999))
    month = draw(st.sampled_from((1, 2, 12, 0, 13)) | st.integers(1, 12))
    last = calendar.monthrange(year, month)[1] if 1 <= month <= 12 else 31
    day = draw(st.sampled_from((1, last, last + 1, 28, 29, 30, 31, 0, 32)))
    hour = draw(st.sampled_from((0, 23, 24)) | st.integers(0, 23))
    minute = draw(st.sampled_from((0, 59, 60)) | st.integers(0, 59))
    second = draw(st.sampled_from((0, 59, 60)) | st.integers(0, 59))
    fraction = draw(st.none() | st.integers(1, 7).flatmap(
        lambda n: st.sampled_from(("9" * n, "0" * n)) | st.text("0123456789", min_size=n, max_size=n)))
    offset = draw(st.sampled_from(("Z", "+00:00", "-00:00", "+23:59", "-23:59", "+24:00", "+05:60", "z"))
                  | st.builds(lambda sign, h, m: f"{sign}{h:02}:{m:02}", st.sampled_from("+-"), st.integers(0, 23),
                              st.integers(0, 59)))
    text = f"{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"
    if fraction is not None:
        text += "." + fraction
    text += offset
    odd = draw(st.integers(0, 30))
    if odd == 0:
        text = text.replace("T", "t")
    elif odd == 1:
        text = text.replace("T", " ")
    elif odd == 2:
        text = text[:16] + text[19:]  # no seconds
    elif odd == 3:
        text = " " + text
    elif odd == 4:
        text = text[:-1]  # cut short
    return text


STRICT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})")


@st.composite
def good_instants(draw: Any) -> str:
    """Instant texts in the reader's form, at its edges: the first and last years, month ends,
    leap days, the last microsecond, every fraction length, the widest offsets."""
    year = draw(st.sampled_from((1901, 2998, 2000, 2024, 2100, 2026)) | st.integers(1901, 2998))
    month = draw(st.sampled_from((1, 2, 12)) | st.integers(1, 12))
    last = calendar.monthrange(year, month)[1]
    day = draw(st.sampled_from((1, last)) | st.integers(1, last))
    clock = draw(st.sampled_from(("00:00:00", "23:59:59")) | st.builds(
        "{:02}:{:02}:{:02}".format, st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)))
    fraction = draw(st.sampled_from(("", ".999999", ".000000", ".5")) | st.integers(1, 6).flatmap(
        lambda n: st.text("0123456789", min_size=n, max_size=n).map(".".__add__)))
    offset = draw(st.sampled_from(("Z", "+00:00", "-00:00", "+23:59", "-23:59")) | st.builds(
        "{}{:02}:{:02}".format, st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59)))
    return f"{year:04}-{month:02}-{day:02}T{clock}{fraction}{offset}"


def micros_of(text: str) -> int | None:
    """The instant as the validating path reads it (no code shared with the reader), or None."""
    try:
        return (parse_instant(text, where("t")) - EPOCH) // dt.timedelta(microseconds=1)
    except InputError:
        return None


@native
@settings(max_examples=3000, deadline=None)
@given(instant_texts())
@example("2024-02-29T23:59:59.999999Z")
@example("2023-02-29T10:00:00Z")
@example("1901-01-01T00:00:00+23:59")
@example("2998-12-31T23:59:59.999999-23:59")
@example("2100-02-29T00:00:00Z")
@example("2000-02-29T00:00:00-00:00")
def test_an_instant_is_read_as_the_validating_path_reads_it_or_declined(text: str) -> None:
    document = json.dumps({"customer": CUSTOMER, "request": GOOD_REQUEST,
                           "ledger": [{"at": text, "channel": "sms", "purpose": "debt", "team": "cards"}]})
    found = scanned(NORTHWIND, document)
    expected = micros_of(text)
    event("native: accepted" if found is not None else "native: declined")
    event("validating path: " + ("accepts" if expected is not None else "refuses"))
    if found is not None:
        assert found[1] == [expected], text
    elif expected is not None:  # declined: only forms and years the reader leaves to the others
        assert not (STRICT.fullmatch(text) and 1901 <= int(text[:4]) <= 2998), text
    check(NORTHWIND, document)


# ---- whole documents --------------------------------------------------------------------------

GOOD_REQUEST = {"team": "cards", "channel": "phone", "purpose": "marketing", "at": "2026-11-24T14:00:00Z"}
CUSTOMER = {"id": "ada", "timezone": "Europe/London", "status": "active", "owner": "wealth_management",
            "opted_out": ["sms"], "age": 40}
GOOD = {
    "customer": CUSTOMER,
    "request": GOOD_REQUEST,
    "ledger": [
        {"at": "2026-11-23T15:00:00+00:00", "channel": "phone", "purpose": "marketing", "team": "private_banking",
         "status": "sent", "outcome": "conversation"},
        {"at": "2026-10-01T09:00:00Z", "event": "complaint", "id": "e1", "customer": None},
        {"at": "2026-11-26T10:00:00.25-05:00", "channel": "email", "purpose": "marketing", "team": "growth",
         "status": "planned", "campaign": "spring", "id": "p1", "customer": "ada"},
    ],
}

BLANKS = ("", " ", "\n", "\t", "\r\n", "  ")
WORDS = ("sent", "planned", "void", "fax", "", "complaint", "bereavement", "delivered", "no_answer", "é", "日本",
         "marketing", "debt", "cards", "growth", "phone", "sms", "email", "a\"b", "a\\b", "a\nb")


def names(kind: str) -> st.SearchStrategy[Any]:
    """A name of ``kind`` as Northwind declares it, or anything else a document could hold."""
    declared = NORTHWIND.vocabulary.get(kind) or ("sent",)
    return st.sampled_from(declared) | st.sampled_from(WORDS) | st.sampled_from((None, 7, ["sms"]))


TEXTS = ("c1", "a-1", "", "é", "日本", None)
ODD_VALUES = (3, -0.5, 1e300, True, [], {}, ["x"])


def rare(draw: Any, odds: int) -> bool:
    """True once in ``odds`` + 1 draws; never with ``odds`` 0 (a document with nothing wrong)."""
    return odds > 0 and draw(st.integers(0, odds)) == 0


def texts(draw: Any, odds: int) -> Any:
    return draw(st.sampled_from(ODD_VALUES)) if rare(draw, odds) else draw(st.sampled_from(TEXTS))


@st.composite
def contact_pairs(draw: Any, odds: int) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [("at", draw(instant_texts()) if rare(draw, odds) else draw(good_instants()))]
    for key, kind in (("channel", "channels"), ("purpose", "purposes"), ("team", "teams")):
        if not rare(draw, odds * 3):
            pairs.append((key, draw(names(kind)) if rare(draw, odds) else draw(st.sampled_from(NORTHWIND.vocabulary[kind]))))
    if draw(st.booleans()):
        pairs.append(("status", draw(names("statuses")) if rare(draw, odds)
                      else draw(st.sampled_from(("sent", "planned", "displaced", "released", "void")))))
    if draw(st.booleans()):
        pairs.append(("outcome", draw(names("outcomes")) if rare(draw, odds)
                      else draw(st.sampled_from((*NORTHWIND.vocabulary["outcomes"], None)))))
    for key in ("campaign", "id", "customer"):
        if draw(st.integers(0, 3)) == 0:
            pairs.append((key, texts(draw, odds)))
    return pairs


@st.composite
def event_pairs(draw: Any, odds: int) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [("at", draw(instant_texts()) if rare(draw, odds) else draw(good_instants())),
                                    ("event", draw(names("events")) if rare(draw, odds)
                                     else draw(st.sampled_from(NORTHWIND.vocabulary["events"])))]
    for key in ("customer", "id"):
        if draw(st.integers(0, 3)) == 0:
            pairs.append((key, texts(draw, odds)))
    if rare(draw, odds):  # fields an event line leaves to the validating path, or must not have, well formed
        pairs.append(draw(st.sampled_from((("campaign", "spring"), ("campaign", None), ("channel", "sms"),
                                           ("purpose", "debt"), ("team", "cards"), ("status", "sent"),
                                           ("outcome", None), ("outcome", "delivered"), ("void", "a1")))))
    return pairs


@st.composite
def lines(draw: Any, odds: int) -> Any:
    if rare(draw, odds * 3):  # not an object at all
        return draw(st.sampled_from(("x", 3, None, [], ["2026-11-24T10:00:00Z"])))
    pairs = draw(event_pairs(odds)) if draw(st.integers(0, 5)) == 0 else draw(contact_pairs(odds))
    if rare(draw, odds):
        pairs.append(draw(st.sampled_from(pairs)))  # a key given twice
    if rare(draw, odds * 2):
        pairs.append(("void_reason", "x"))
    if rare(draw, odds * 2):
        del pairs[0]  # no `at`
    return ("object", draw(st.permutations(pairs)) if draw(st.integers(0, 4)) == 0 else pairs)


@st.composite
def request_pairs(draw: Any, odds: int) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [(key, draw(names(key + "s")) if rare(draw, odds) else value)
                                    for key, value in GOOD_REQUEST.items() if key != "at" and not rare(draw, odds * 3)]
    pairs.append(("at", draw(instant_texts()) if rare(draw, odds) else draw(good_instants())))
    if draw(st.integers(0, 3)) == 0:
        pairs.append(("campaign", draw(st.sampled_from(("spring", None, "", "é") + (
            (["a", "b", "a"], ["a"], [], 3) if rare(draw, odds) else ())))))
    if draw(st.integers(0, 3)) == 0:
        pairs.append(("priority", draw(st.sampled_from((0, 5, -3, 10**17, -(10**17), 10**18 - 1, -(10**18) + 1) + (
            (10**18, 2**63, 1.0, 2.5, -0.0, None, "1", True) if rare(draw, odds) else ())))))
    for key in ("id", "customer"):
        if draw(st.integers(0, 4)) == 0:
            pairs.append((key, texts(draw, odds)))
    if rare(draw, odds):
        pairs.append(draw(st.sampled_from(pairs)))  # a key given twice
    return draw(st.permutations(pairs))


@st.composite
def customer_values(draw: Any, odds: int) -> Any:
    if rare(draw, odds):
        return draw(st.sampled_from((
            Raw('{"id": "ada", "id": "bob", "status": "active"}'),  # a key given twice
            [], "ada", None, 3, {"id": "ada", "x": [[[[{}]]]]}, {"id": "ada", "age": "old"},
            Raw("[" * 40 + "]" * 40),  # nested deeper than the reader goes
            *(Raw('{"id": "ada", "age": ' + number + "}")
              for number in ("1e2", "-0", "40.0", "01", "1.", "-", "1e", "2E-3", "1" * 30, "1e999", "- 1")))))
    if draw(st.integers(0, 4)) == 0 and odds:
        return Raw('{"id": "ada", "status": "active", "tags": [true, false, null, 1, -2.5e+3, "é", {}, [], {"a": [1]}]}')
    return {**CUSTOMER, "id": draw(st.sampled_from(("ada", "bob", "é")))}


class Raw(str):
    """JSON text put into a document as it is."""


def dumps(value: Any, draw: Any) -> str:
    """``value`` as JSON with blanks drawn between the tokens; a list of pairs is an object
    (keys may repeat); Raw is put as it is."""
    def blank() -> str:
        return draw(st.sampled_from(BLANKS)) if draw(st.integers(0, 3)) == 0 else " "

    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, tuple) and value and value[0] == "object":
        members = [blank() + json.dumps(key) + blank() + ":" + blank() + dumps(item, draw) + blank()
                   for key, item in value[1]]
        return "{" + ",".join(members) + "}" if members else "{" + blank() + "}"
    if isinstance(value, list):
        items = [blank() + dumps(item, draw) + blank() for item in value]
        return "[" + ",".join(items) + "]" if items else "[" + blank() + "]"
    if isinstance(value, dict):
        return dumps(("object", list(value.items())), draw)
    return json.dumps(value, ensure_ascii=draw(st.booleans()))


CONTACT = [("at", "2026-11-20T10:00:00Z"), ("channel", "sms"), ("purpose", "debt"), ("team", "cards")]
EVENT = [("at", "2026-11-20T10:00:00Z"), ("event", "complaint")]
# Each a well-formed field that one kind of line, or the request, must not hold (or not as given).
EVENT_FORBIDDEN = (("campaign", "spring"), ("campaign", None), ("channel", "sms"), ("purpose", "debt"),
                   ("team", "cards"), ("status", "sent"), ("outcome", None), ("outcome", "delivered"),
                   ("void", "a1"), ("reason", "x"))
CONTACT_FORBIDDEN = (("void_reason", "x"), ("warnings", []), ("void", "a1"), ("reason", "x"), ("event", "complaint"))


def one_defect(draw: Any, parts: list[tuple[str, Any]]) -> None:
    """Make a clean document wrong in exactly one place, the rest as it was: each check of
    the reader is then what alone decides whether the document may be read natively."""
    ledger = next((value for key, value in parts if key == "ledger" and isinstance(value, list)), None)
    if ledger is None:
        ledger = []
        parts.append(("ledger", ledger))
    request = next(value[1] for key, value in parts if key == "request")
    kind = draw(st.integers(0, 12))
    if kind <= 5:  # a line: a contact or an event, new or one already there
        events = kind % 2 == 0
        found = [line[1] for line in ledger if isinstance(line, tuple) and (("event" in dict(line[1])) == events)]
        if found:
            pairs = draw(st.sampled_from(found))
        else:
            pairs = list(EVENT if events else CONTACT)
            ledger.insert(draw(st.integers(0, len(ledger))), ("object", pairs))
        if kind <= 1:
            pairs.append(draw(st.sampled_from(pairs)))  # a key given twice
        elif kind <= 3:
            pairs.insert(draw(st.integers(0, len(pairs))),
                         draw(st.sampled_from(EVENT_FORBIDDEN if events else CONTACT_FORBIDDEN)))
        else:  # a field it needs left out
            keys = [k for k, (key, _) in enumerate(pairs) if key in ("at", "event", "channel", "purpose", "team")]
            del pairs[draw(st.sampled_from(keys))]
    elif kind <= 8:  # the request
        if kind == 6:
            request.append(draw(st.sampled_from(request)))
        elif kind == 7:
            keys = [k for k, (key, _) in enumerate(request) if key in ("at", "team", "channel", "purpose")]
            del request[draw(st.sampled_from(keys))]
        else:
            request.append(draw(st.sampled_from((("campaign", ["a"]), ("priority", 1.0), ("priority", 10**18),
                                                 ("priority", None), ("event", "complaint"), ("status", "sent")))))
    elif kind == 9:  # the customer record
        index = next(k for k, (key, _) in enumerate(parts) if key == "customer")
        parts[index] = ("customer", Raw('{"id": "ada", "status": "active", "id": "ada"}'))
    else:  # the document
        parts.append(draw(st.sampled_from(parts)) if kind == 10 else ("extra", draw(st.sampled_from((1, None, "x")))))


@st.composite
def documents(draw: Any, defective: bool = False) -> tuple[policylang.Policy, str | bytes]:
    """A section 10 document, or with ``defective`` one that is clean but in exactly one place."""
    odds = 0 if defective else draw(st.sampled_from((0, 0, 6, 30)))  # how often something is wrong (0: never)
    policy = BARE if not defective and rare(draw, 3) else NORTHWIND
    ledger = draw(st.lists(lines(odds), max_size=12))
    parts: list[tuple[str, Any]] = [("customer", draw(customer_values(odds))),
                                    ("request", ("object", draw(request_pairs(odds))))]
    if ledger or draw(st.booleans()):
        parts.append(("ledger", draw(st.sampled_from((None, {}, "x"))) if rare(draw, odds * 2) else ledger))
    if rare(draw, odds * 2):
        parts.append(draw(st.sampled_from((("extra", 1), ("customer", {}), ("ledger", []), ("request", {})))))
    if defective:
        one_defect(draw, parts)
    text = dumps(("object", draw(st.permutations(parts))), draw)
    if rare(draw, 10):
        text = draw(st.sampled_from(BLANKS)) + text + draw(st.sampled_from(BLANKS + ("x", "{}", "\x00")))
    damage = draw(st.integers(0, 3)) if odds else -1
    if damage == 0:
        text = text[:draw(st.integers(0, len(text)))]  # cut short
    elif damage == 1:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(("\\", '"', ",", "}", "]", "\x01", "\x7f", "é", "\ud800", "x"))) + text[at:]
    if draw(st.booleans()):
        data = text.encode("utf-8", "surrogatepass")
        if damage == 2 and data:
            at = draw(st.integers(0, len(data) - 1))
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]  # any byte, anywhere
        return policy, data
    return policy, text


@native
@SETTINGS
@given(documents())
def test_the_reader_decides_as_the_validating_path_or_declines(case: tuple[policylang.Policy, str | bytes]) -> None:
    check(*case)


@native
@settings(SETTINGS, max_examples=1000)
@given(documents(defective=True))
def test_a_document_wrong_in_one_place_is_decided_alike(case: tuple[policylang.Policy, str | bytes]) -> None:
    check(*case)


def with_line(line: dict[str, Any]) -> str:
    return json.dumps(GOOD | {"ledger": [*GOOD["ledger"], line]})


LINE_DEFECTS = [
    *(dict(EVENT) | {key: value} for key, value in EVENT_FORBIDDEN),
    *(dict(CONTACT) | {key: value} for key, value in CONTACT_FORBIDDEN),
    *({k: v for k, v in dict(EVENT).items() if k != key} for key in ("at", "event")),
    *({k: v for k, v in dict(CONTACT).items() if k != key} for key in ("at", "channel", "purpose", "team")),
    dict(CONTACT) | {"status": None}, dict(CONTACT) | {"channel": None}, dict(EVENT) | {"event": None},
    dict(CONTACT) | {"status": "sending"}, dict(CONTACT) | {"outcome": "maybe"}, dict(EVENT) | {"event": "complaints"},
    dict(CONTACT) | {"id": 3}, dict(EVENT) | {"customer": []}, dict(CONTACT) | {"at": None},
]


@native
@pytest.mark.parametrize("document", [
    *map(with_line, LINE_DEFECTS),
    with_line(dict(CONTACT)).replace('"team": "cards"', '"team": "cards", "team": "cards"'),
    with_line(dict(EVENT)).replace('"event": "complaint"}', '"event": "complaint", "at": "2026-11-20T10:00:00Z"}'),
    json.dumps(GOOD).replace('"purpose": "marketing", "at"', '"purpose": "marketing", "purpose": "marketing", "at"'),
    json.dumps(GOOD).replace('"ledger": [', '"customer": {}, "ledger": ['),
    json.dumps(GOOD | {"request": GOOD_REQUEST | {"campaign": ["a"]}}),
    json.dumps(GOOD | {"request": GOOD_REQUEST | {"priority": 1.0}}),
    json.dumps(GOOD | {"request": GOOD_REQUEST | {"event": "complaint"}}),
    json.dumps(GOOD | {"request": {k: v for k, v in GOOD_REQUEST.items() if k != "team"}}),
    json.dumps(GOOD | {"extra": 1}),
    json.dumps({k: v for k, v in GOOD.items() if k != "customer"}),
], ids=range(len(LINE_DEFECTS) + 10))
def test_a_document_wrong_in_one_known_place_is_declined(document: str) -> None:
    assert scanned(NORTHWIND, document) is None
    check(NORTHWIND, document, record=False)


@native
@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=100))
def test_random_input_is_declined_or_decided_alike(data: bytes | str) -> None:
    check(NORTHWIND, data)


@native
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_every_cut_of_a_good_document_is_declined(data: st.DataObject) -> None:
    text = json.dumps(GOOD)
    cut = data.draw(st.integers(0, len(text) - 1))
    assert scanned(NORTHWIND, text[:cut]) is None
    assert scanned(NORTHWIND, text.encode()[:cut]) is None


# ---- the reader is really taken, on what the README shows --------------------------------------



@native
@pytest.mark.parametrize("document", [
    GOOD, GOOD | {"ledger": []}, {k: v for k, v in GOOD.items() if k != "ledger"},
    GOOD | {"ledger": [GOOD["ledger"][1]]},  # events only
    GOOD | {"request": GOOD_REQUEST | {"campaign": None, "priority": -2, "id": None, "customer": "ada"}},
])
def test_a_plain_document_is_read_natively(document: dict[str, Any]) -> None:
    for text in (json.dumps(document), json.dumps(document, indent=2).encode(), json.dumps(document, ensure_ascii=False)):
        assert scanned(NORTHWIND, text) is not None
        check(NORTHWIND, text, record=False)


def test_the_switch_turns_the_reader_off(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(ingest, "native", True)
    monkeypatch.setattr(ingest, "_SCAN", lambda *args: calls.append(args))
    NORTHWIND.decide_json(json.dumps(GOOD))
    assert len(calls) == 1
    monkeypatch.setattr(ingest, "native", False)
    NORTHWIND.decide_json(json.dumps(GOOD))
    assert len(calls) == 1


def test_the_environment_variable_turns_the_reader_off() -> None:
    import subprocess
    import sys

    code = "from policylang import ingest; print(ingest.native)"
    for value, expected in (("0", "False"), ("1", "True")):
        env = {**os.environ, "POLICYLANG_NATIVE": value}
        assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                              check=True).stdout.strip() == expected

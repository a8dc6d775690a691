"""An adversarial review of the native reader (policylang/_scan.c, issue 11x).

Three kinds of check, each able to fail:

- every document here, crafted at a place where the C reader and the paths in Python could
  read the same text two ways, gets one answer (decision, or error text and place) from
  ``decide_json`` with the reader on, with it off and from ``slow_decide_json``; where the
  reader is expected to take the document, it must (else the case tests nothing native);
- cuts and one-byte changes of a small document, lone surrogates, names of every length
  around the word compares of ``same()`` and the hash table's edges, empty vocabularies: the
  reader declines or accepts exactly what the policy declares, never crashes (run this file
  under AddressSanitizer to check reads: docs/decide_json.md says how);
- references: tens of thousands of accepted and declined documents (some declined after
  rows were appended) leave the vocabulary's names, None and the interned column names with
  the counts they had, and no memory held.
"""

from __future__ import annotations

import gc
import json
import sys
import tracemalloc
from typing import Any

import pytest

import policylang
from policylang import ingest
from tests.test_native_scan import outcome

ROOT = __file__.rsplit("/tests/", 1)[0]
NORTHWIND = policylang.load(ROOT + "/examples/northwind.pol")
pytestmark = pytest.mark.skipif(not ingest.native_available(), reason="the native reader is not built")


def scan(document: str | bytes, vocabulary: Any = None) -> Any:
    return ingest._load_scan()(document, vocabulary or ingest.native_vocabulary(NORTHWIND))  # noqa: SLF001


def answers(document: str | bytes) -> tuple[str, Any]:
    """The one answer of the three paths (asserted equal), for bytes and str alike."""
    text = document.decode("utf-8") if isinstance(document, bytes) else document
    reference = outcome(lambda: ingest.slow_decide_json(NORTHWIND, text, file="d.json"))
    saved = ingest.native
    try:
        for on in (True, False):
            ingest.native = on
            for given in (text, text.encode("utf-8", "surrogatepass")):
                got = outcome(lambda: ingest.decide_json(NORTHWIND, given, file="d.json"))  # noqa: B023
                assert got == reference, (on, type(given), got, reference)
    finally:
        ingest.native = saved
    return reference


REQUEST = {"team": "cards", "channel": "sms", "purpose": "marketing", "at": "2026-11-24T14:00:00Z"}
CUSTOMER = {"id": "ada", "timezone": "Europe/London", "status": "active", "owner": "wealth_management", "age": 40}
CONTACT = {"at": "2026-11-23T15:00:00Z", "channel": "sms", "purpose": "marketing", "team": "cards"}


def document(request: dict[str, Any] | None = None, ledger: list[Any] | None = None,
             customer: Any = None) -> str:
    return json.dumps({"customer": CUSTOMER if customer is None else customer,
                       "request": {**REQUEST, **(request or {})},
                       "ledger": [CONTACT] if ledger is None else ledger}, ensure_ascii=False)


def at(text: str) -> str:
    """A document whose one contact is at ``text`` (and the request a day after it)."""
    return document(ledger=[{**CONTACT, "at": text}])


# Each: (document, whether the reader must take it). Every one is answered alike by the paths.
CASES: list[tuple[str, str, bool]] = [
    # offsets: zero either way, the largest, a day boundary crossed by the offset
    ("minus zero offset", at("2026-11-23T15:00:00-00:00"), True),
    ("plus zero offset", at("2026-11-23T15:00:00+00:00"), True),
    ("largest offsets", at("2026-11-23T00:00:00+23:59"), True),
    ("offset crossing a day", at("2026-11-23T23:30:00-05:00"), True),
    ("offset crossing the request", document(request={"at": "2026-11-24T01:00:00+02:00"}), True),
    # fractions: trailing zeros, every length, 7 digits (the validating path's own rounding)
    ("fraction .1", at("2026-11-23T15:00:00.1Z"), True),
    ("fraction .100000", at("2026-11-23T15:00:00.100000Z"), True),
    ("fraction .000001", at("2026-11-23T15:00:00.000001Z"), True),
    ("fraction .999999", at("2026-11-23T23:59:59.999999Z"), True),
    ("fraction of 7 digits", at("2026-11-23T15:00:00.1234567Z"), False),
    ("fraction empty", at("2026-11-23T15:00:00.Z"), False),
    # years: the first and last the reader takes, offsets pushing across a year
    ("first local year", at("1901-01-01T00:00:00+23:59"), True),
    ("last local year", at("2998-12-31T23:59:59-23:59"), True),
    ("year before", at("1900-12-31T23:00:00-02:00"), False),
    ("year after", at("2999-01-01T00:30:00+01:00"), False),
    ("year 1900 at the edge", at("1900-01-01T00:00:00Z"), False),
    ("year 1900 pushed out", at("1900-01-01T00:00:00+00:01"), False),
    # leap days
    ("leap day 2024", at("2024-02-29T12:00:00Z"), True),
    ("leap day 2000", at("2000-02-29T12:00:00Z"), True),
    ("no leap day 2100", at("2100-02-29T12:00:00Z"), False),
    ("no leap day 2026", at("2026-02-29T12:00:00Z"), False),
    ("leap second", at("2026-12-31T23:59:60Z"), False),
    ("hour 24", at("2026-11-23T24:00:00Z"), False),
    ("lower-case t and z", at("2026-11-23t15:00:00z"), False),
    ("no seconds", at("2026-11-23T15:00Z"), False),
    ("offset without colon", at("2026-11-23T15:00:00+0100"), False),
    ("offset of 24 hours", at("2026-11-23T15:00:00+24:00"), False),
    # priorities: minus zero, the reader's 18 digits, 2**63 and past it
    ("priority -0", document(request={"priority": -0}).replace('"priority": 0', '"priority": -0'), True),
    ("priority 18 digits", document(request={"priority": 999_999_999_999_999_999}), True),
    ("priority -18 digits", document(request={"priority": -999_999_999_999_999_999}), True),
    ("priority 2**63-1", document(request={"priority": 2**63 - 1}), False),
    ("priority 2**63", document(request={"priority": 2**63}), False),
    ("priority -2**63", document(request={"priority": -(2**63)}), False),
    ("priority 2**70", document(request={"priority": 2**70}), False),
    ("priority 1.0", document(request={"priority": 1.0}), False),
    ("priority 1e2", document(request={"priority": 1}).replace('"priority": 1', '"priority": 1e2'), False),
    ("priority true", document(request={"priority": True}), False),
    ("priority null", document(request={"priority": None}), False),
    # empty and null texts
    ("empty campaign and id", document(request={"campaign": "", "id": ""},
                                       ledger=[{**CONTACT, "campaign": "", "id": "", "customer": ""}]), True),
    ("request customer null", document(request={"customer": None}), True),
    ("request customer text", document(request={"customer": "someone else"}), True),
    ("request customer number", document(request={"customer": 3}), False),
    ("request campaign list", document(request={"campaign": ["a", "a"]}), False),
    # statuses and outcomes
    *[(f"status {status}", document(ledger=[{**CONTACT, "status": status}]), True)
      for status in ("sent", "planned", "displaced", "released", "void")],
    ("status Sent", document(ledger=[{**CONTACT, "status": "Sent"}]), False),
    ("status null", document(ledger=[{**CONTACT, "status": None}]), False),
    ("outcome null", document(ledger=[{**CONTACT, "outcome": None}]), True),
    ("outcome given", document(ledger=[{**CONTACT, "outcome": "no_answer"}, CONTACT]), True),
    ("outcome undeclared", document(ledger=[{**CONTACT, "outcome": "No_answer"}]), False),
    ("events with null id and customer",
     document(ledger=[{"at": "2026-11-20T10:00:00Z", "event": "complaint", "id": None, "customer": None}]), True),
    ("event with texts", document(ledger=[{"at": "2026-11-20T10:00:00Z", "event": "bereavement", "id": "",
                                           "customer": "ada"}]), True),
    ("event with campaign", document(ledger=[{"at": "2026-11-20T10:00:00Z", "event": "complaint",
                                              "campaign": None}]), False),
    ("event with status", document(ledger=[{"at": "2026-11-20T10:00:00Z", "event": "complaint",
                                            "status": "sent"}]), False),
    ("event null", document(ledger=[{"at": "2026-11-20T10:00:00Z", "event": None}]), False),
    # names: a prefix of another, case, a declared name of another kind
    ("name a prefix", document(request={"team": "card"}), False),
    ("name longer", document(request={"team": "cardss"}), False),
    ("name in upper case", document(request={"channel": "SMS"}), False),
    ("name of another kind", document(request={"channel": "cards"}), False),
    ("name prefix in the ledger", document(ledger=[{**CONTACT, "team": "private_bankin"}]), False),
    # whitespace, a BOM, key order, raw control characters, NUL
    ("whitespace everywhere", " \t\r\n" + json.dumps(json.loads(document()), indent="\t") + " \r\n\t", True),
    ("a BOM", "\ufeff" + document(), False),
    ("form feed", document() + "\f", False),
    ("keys reversed", json.dumps({"ledger": [dict(reversed(CONTACT.items()))],
                                  "request": dict(reversed(REQUEST.items())), "customer": CUSTOMER}), True),
    ("no ledger", json.dumps({"request": REQUEST, "customer": CUSTOMER}), True),
    ("ledger null", json.dumps({"customer": CUSTOMER, "request": REQUEST, "ledger": None}), False),
    ("raw NUL in a text", document(request={"id": "a\x00b"}).replace("\\u0000", "\x00"), False),
    ("escaped NUL in a text", document(request={"id": "a\x00b"}), False),
    ("raw tab in a text", document(request={"id": "a\tb"}).replace("\\t", "\t"), False),
    ("DEL in a text", document(request={"id": "a\x7fb"}), True),
    ("non-ASCII customer", document(customer={**CUSTOMER, "id": "Zoë 日本 😀"}), True),
    ("non-ASCII ledger texts", document(ledger=[{**CONTACT, "campaign": "été", "id": "日本", "customer": "😀"}]), True),
    # duplicate keys, in each part
    ("request key twice", document().replace('"team": "cards"', '"team": "cards", "team": "growth"', 1), False),
    ("line key twice", document().replace('"team": "cards"}', '"team": "cards", "team": "cards"}'), False),
    ("request twice", '{"request": ' + json.dumps(REQUEST) + ", " + document()[1:], False),
    ("customer twice", '{"customer": {}, ' + document()[1:], False),
    ("customer key twice", document().replace('"age": 40', '"age": 40, "age": 41'), True),  # checked in Python
    ("ledger twice", document()[:-1] + ', "ledger": []}', False),
    # the customer record: deep, null, not an object
    ("customer deep", document(customer={**CUSTOMER, "x": json.loads("[" * 31 + "]" * 31)}), True),
    ("customer deeper than the reader", document(customer={**CUSTOMER, "x": json.loads("[" * 40 + "]" * 40)}), False),
    ("customer too deep", document(customer={**CUSTOMER, "x": json.loads("[" * 70 + "]" * 70)}), False),
    ("customer null", json.dumps({"customer": None, "request": REQUEST}), True),
    ("customer a list", json.dumps({"customer": [], "request": REQUEST}), True),
    ("customer huge number", document(customer={**CUSTOMER, "age": 10**400}), True),
    ("customer huge float", document(customer={**CUSTOMER, "age": 1}).replace('"age": 1', '"age": 1e400'), True),
    # a refusal after rows were appended
    ("bad last line", document(ledger=[CONTACT, CONTACT, {**CONTACT, "team": "nobody"}]), False),
]


@pytest.mark.parametrize(("name", "text", "native"), CASES, ids=[case[0] for case in CASES])
def test_a_crafted_document_gets_one_answer(name: str, text: str, native: bool) -> None:
    assert (scan(text) is not None) == native, name
    if native:
        assert scan(text.encode()) is not None
    answers(text)


# ---- cuts, one-byte changes, odd texts --------------------------------------------------------

SMALL = json.dumps({"customer": {}, "request": {**REQUEST, "priority": 3, "campaign": None}, "ledger": [
    {**CONTACT, "at": "2026-11-23T15:00:00.5-00:00", "outcome": None, "status": "planned"},
    {"at": "2026-10-01T09:00:00Z", "event": "complaint", "id": None}]}).encode()


def test_every_cut_of_a_document_is_declined_bytes_and_text() -> None:
    """A document cut anywhere (and then ended by a backslash or inside a UTF-8 sequence) is
    never taken: the reader checks every read against the end of the text."""
    whole = SMALL.replace(b'"campaign": null', '"campaign": "été 日本"'.encode())
    assert scan(whole) is not None and scan(whole.decode()) is not None
    for cut in range(len(whole)):
        part = whole[:cut]
        for tail in (b"", b"\\", b"\xc3", b"\xe6\x97", b"\xf0\x9f\x98"):
            assert scan(part + tail) is None, (cut, tail)
        assert scan(part.decode("utf-8", "replace")) is None, cut


def test_every_one_byte_change_is_declined_or_means_the_same() -> None:
    """Each byte of a small document replaced by each of the 256 values: what the reader still
    takes is JSON with the same strings, and the three paths answer it alike."""
    taken = set()
    for i in range(len(SMALL)):
        for c in range(256):
            changed = SMALL[:i] + bytes([c]) + SMALL[i + 1:]
            found = scan(changed)
            if found is not None:
                json.loads(changed)  # the reader took only JSON
                assert changed.count(b'"') == SMALL.count(b'"')
                taken.add(changed)
    assert len(taken) > 100  # digits of instants, blanks, names of one letter changed...
    for changed in sorted(taken):
        answers(changed.decode())


def test_lone_surrogates_and_odd_texts_are_declined() -> None:
    text = SMALL.decode()
    for odd in ("", " ", "\ud800", text.replace("cards", "c\ud800"), text.replace("{}", '"\udfff"'),
                text + "\x00", "\x00" + text, "\ufeff" + text, text[:-1]):
        assert scan(odd) is None, odd
        assert scan(odd.encode("utf-8", "surrogatepass")) is None, odd
    for invalid in (b"\xed\xa0\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf4\x90\x80\x80", b"\xff", b"\x80"):
        assert scan(SMALL.replace(b"{}", b'{"x": "' + invalid + b'"}')) is None, invalid
    assert scan(SMALL.replace(b"{}", '{"x": "\U0010ffff\u07ff\uffff"}'.encode())) is not None
    for deep in ("[" * 100_000, "[" * 33 + "]" * 33, '{"a": ' * 40 + "1" + "}" * 40, "1" * 100_000 + "."):
        assert scan(SMALL.replace(b"{}", deep.encode())) is None


# ---- names around the word compares and the hash table ----------------------------------------

LENGTHS = (0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 24, 40)


def vocabulary(names: list[str]) -> Any:
    statuses = ingest.native_vocabulary(NORTHWIND)[3]
    return tuple(tuple((n.encode(), n) for n in names) if kind != 3 else statuses for kind in range(6))


@pytest.mark.parametrize("alphabet", ["x", "ab", "é"])
def test_a_name_is_found_exactly_at_every_length(alphabet: str) -> None:
    """Names of 0 to 40 characters (``same()`` compares 4 and 8 bytes at a time, overlapping):
    each is found as the policy's own string, and one character more, less or changed at
    either end (or its middle) is not."""
    names = [(alphabet * 40)[:n] for n in LENGTHS]
    given = vocabulary(names)
    for held in names:
        tries = {held, held + "y", held[:-1], "y" + held[1:], held[:-1] + "y",
                 held[: len(held) // 2] + "Y" + held[len(held) // 2 + 1:], held.upper()}
        for name in tries:
            document = json.dumps({"customer": {}, "request": {**REQUEST, "team": held, "channel": held,
                                                               "purpose": held},
                                   "ledger": [{**CONTACT, "team": name, "channel": held, "purpose": held,
                                               "outcome": name}, {"at": CONTACT["at"], "event": name}]},
                                  ensure_ascii=False)
            found = scan(document, given)
            if name in names:
                assert found is not None
                assert found[0]["team"][0] is names[names.index(name)]
                assert found[4][0] is names[names.index(held)]
                assert list(found[2]) == [name] and found[2][name][0] is not None
            else:
                assert found is None, (held, name)


def test_a_large_vocabulary_finds_each_name() -> None:
    names = [f"name{k}" for k in range(3000)]
    given = vocabulary(names)
    for k in range(0, 3000, 37):
        document = json.dumps({"customer": {}, "request": {**REQUEST, "team": names[k], "channel": names[-k - 1],
                                                           "purpose": names[k // 2]}})
        found = scan(document, given)
        assert found is not None and found[4][:3] == (names[k], names[-k - 1], names[k // 2])
        assert scan(document.replace(names[k], names[k] + "x", 1), given) is None


def test_empty_vocabularies_take_no_name() -> None:
    """A policy declaring no outcomes and no events: a name of either is refused, and a
    document without one is still read."""
    bare = policylang.compile('policy "bare"\nchannels email, sms\nteams cards\npurposes debt\n'
                              "customer\n  status  one of active\n")
    assert ingest.native_vocabulary(bare)[4:] == ((), ())
    request = {"team": "cards", "channel": "sms", "purpose": "debt", "at": "2026-11-24T14:00:00Z"}
    line = {"at": "2026-11-23T15:00:00Z", "channel": "sms", "purpose": "debt", "team": "cards"}
    vocabulary = ingest.native_vocabulary(bare)
    plain = json.dumps({"customer": {"id": "x", "status": "active"}, "request": request, "ledger": [line]})
    assert ingest._load_scan()(plain, vocabulary) is not None  # noqa: SLF001
    for extra in ({"outcome": "delivered"}, {"outcome": ""}):
        assert ingest._load_scan()(plain.replace('"cards"}', '"cards", ' + json.dumps(extra)[1:]), vocabulary) is None  # noqa: SLF001
    for event in ("complaint", ""):
        text = json.dumps({"customer": {}, "request": request, "ledger": [{"at": line["at"], "event": event}]})
        assert ingest._load_scan()(text, vocabulary) is None  # noqa: SLF001


# ---- references and memory --------------------------------------------------------------------

def test_no_reference_or_memory_is_kept() -> None:
    """Accepted documents and declined ones (some after rows and events were appended, some
    in the request after its names were read) leave every count as it was: a lost or extra
    reference shows in sys.getrefcount of the names, None and the column names, a lost block
    in tracemalloc."""
    vocabulary = ingest.native_vocabulary(NORTHWIND)
    good = document(request={"campaign": "c", "id": "r", "priority": 7},
                    ledger=[{**CONTACT, "status": "planned", "outcome": None, "campaign": "x", "id": "1",
                             "customer": None}, {"at": CONTACT["at"], "event": "complaint", "customer": None}] * 3)
    bad = [good.replace('"ledger": [', '"ledger": [' + json.dumps(CONTACT) + ", 7, "),  # after one row
           good[:-3] + ', {"at": "2026-11-23T15:00:00Z", "event": "nope"}]}',  # after rows and events
           good.replace('"outcome": null', '"outcome": null, "outcome": null', 1),
           good.replace('"priority": 7', '"priority": 7.5'),  # after the request's names
           good.replace('"id": "r"', '"id": 3'), good[:-1], good + "x"]
    assert scan(good) is not None and all(scan(text) is None for text in bad)
    watched = [name for kind in vocabulary for _, name in kind] + [None, "channel", "status", "customer"]

    def counts() -> list[int]:
        return [sys.getrefcount(thing) for thing in watched]

    def loop(times: int) -> None:
        for _ in range(times):
            found = scan(good)
            del found
            for text in bad:
                scan(text)
                scan(text.encode())

    loop(200)
    gc.collect()
    before = counts()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        loop(3000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert counts() == before
    assert grown < 10_000, grown

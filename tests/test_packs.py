"""Section 11.17: `include`, packs and `cite`.

Include semantics run on small files in a temporary folder and on a temporary packs folder
(``policylang.includes.PACKS_DIR`` is pointed at it); the shipped packs are checked as shipped:
each compiles, is formatted, and its scenarios decide every rule. The property at the end
checks that including a pack means what pasting its renamed text means, with a paste made
by plain word substitution (no code shared with the renaming it checks).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policylang
from policylang import includes
from policylang.cli import main
from policylang.compiler import compile_policy
from policylang.errors import PolicylangError, format_error
from policylang.formatter import format_policy
from policylang.parser import parse
from policylang.records import Contact, Event, Request

ROOT = Path(__file__).resolve().parent.parent
PACKS = ROOT / "policylang" / "packs"
CHICAGO = dt.timezone(dt.timedelta(hours=-5))

DEMO_PACK = """\
pack "xx/demo" version "{version}"
# a demo pack for the tests
channels  phone, sms
purposes  debt
outcomes  conversation
customer
  state  one of fl, ma
cap "demo: seven": at most 7 debt phone per 7 days for each campaign cite "rule 7"
quiet "demo: after talking": no debt phone within 2 days after debt phone with outcome conversation cite "rule 8", "note 2"
exclude "demo: florida": debt sms when customer.state is fl
"""

POLICY_HEAD = """\
policy "shop"
timezone "America/Chicago"
channels  phone, sms, email
teams     agents
purposes  collect, sell
outcomes  talked, missed
customer
  state  one of fl, ma, tx
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def packs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A packs folder holding xx/demo in versions 2025.1, 2026.1 and 2026.10."""
    root = tmp_path / "packs"
    for version in ("2025.1", "2026.1", "2026.10"):
        write(root, f"xx/demo/{version}.pol", DEMO_PACK.format(version=version))
    monkeypatch.setattr(includes, "PACKS_DIR", root)
    return root


def load(path: Path) -> policylang.Policy:
    return compile_policy(path.read_text(encoding="utf-8"), str(path))


def problems(path: Path) -> list[PolicylangError]:
    with pytest.raises(PolicylangError) as caught:
        load(path)
    return list(caught.value.errors)


INCLUDE_DEMO = 'include "xx/demo" with debt as collect, conversation as talked\n'


# ---- reading includes ------------------------------------------------------------------------


def test_unpinned_reads_the_newest_version_comparing_numbers(packs: Path, tmp_path: Path) -> None:
    policy = load(write(tmp_path, "shop.pol", POLICY_HEAD + INCLUDE_DEMO))
    assert policy.sources == {"xx/demo": "2026.10"}  # 2026.10 is newer than 2026.1
    assert [r.name for r in policy.rules] == ["demo: seven", "demo: after talking", "demo: florida"]
    assert policy.rules[1].cite == ("rule 8", "note 2")


def test_a_pinned_version_is_read_and_an_unshipped_one_lists_the_shipped(packs: Path, tmp_path: Path) -> None:
    pinned = POLICY_HEAD + 'include "xx/demo" version "2025.1" with debt as collect, conversation as talked\n'
    assert load(write(tmp_path, "a.pol", pinned)).sources == {"xx/demo": "2025.1"}
    [error] = problems(write(tmp_path, "b.pol", pinned.replace("2025.1", "2024.2")))
    assert (error.span.line, error.span.column) == (9, 27)
    assert error.message == 'the pack xx/demo has no version "2024.2"'
    assert error.expected == 'one of the shipped versions: "2025.1", "2026.1", "2026.10"'


def test_an_unknown_pack_suggests_the_nearest(packs: Path, tmp_path: Path) -> None:
    [error] = problems(write(tmp_path, "a.pol", POLICY_HEAD + 'include "xx/demos"\n'))
    assert error.message == 'there is no pack called "xx/demos"' and error.hint == "did you mean `xx/demo`?"
    [error] = problems(write(tmp_path, "b.pol", POLICY_HEAD + 'include "shared/hours"\n'))
    assert "ends in `.pol`" in (error.hint or "")


def test_files_nest_relative_to_the_including_file_and_take_the_include_lines_place(tmp_path: Path) -> None:
    write(tmp_path, "parts/hours.pol", 'include "more/weekend.pol"\nquiet "hours": no phone outside 08:00-21:00\n')
    write(tmp_path, "parts/more/weekend.pol", "quiet \"weekend\": no sell on weekend\n")
    policy = load(write(tmp_path, "shop.pol", POLICY_HEAD + 'cap "first": at most 1 sell per 1 day\n'
                        'include "parts/hours.pol"\ncap "last": at most 2 sell per 1 day\n'))
    assert [r.name for r in policy.rules] == ["first", "weekend", "hours", "last"]
    assert policy.sources == {}  # files are the policy's own, not packs


def test_an_included_file_may_declare_vocabulary_and_attributes(tmp_path: Path) -> None:
    write(tmp_path, "extra.pol", "channels  letter, phone\ncustomer\n  vip  flag\n"
          "exclude \"no letters to vips\": letter when customer.vip\n")
    policy = load(write(tmp_path, "shop.pol", POLICY_HEAD + 'include "extra.pol"\n'))
    assert policy.channels == ("phone", "sms", "email", "letter")
    assert policy.attributes["vip"].kind == "flag"


def test_a_cycle_is_refused_with_the_chain(tmp_path: Path) -> None:
    write(tmp_path, "b.pol", 'include "c.pol"\n')
    write(tmp_path, "c.pol", 'include "shop.pol"\n')
    shop = write(tmp_path, "shop.pol", POLICY_HEAD + 'include "b.pol"\n')
    [error] = problems(shop)
    assert error.message == "these includes make a cycle: shop.pol includes b.pol includes c.pol includes shop.pol"
    assert error.span.file == str(tmp_path / "c.pol")
    text = format_error(error)
    assert text.splitlines()[-2:] == [f"  included from {tmp_path / 'b.pol'}:1:1", f"  included from {shop}:9:1"]


def test_a_file_included_twice_is_read_once(tmp_path: Path) -> None:
    write(tmp_path, "common.pol", 'quiet "hours": no phone outside 08:00-21:00\n')
    write(tmp_path, "a.pol", 'include "common.pol"\n')
    policy = load(write(tmp_path, "shop.pol", POLICY_HEAD + 'include "a.pol"\ninclude "common.pol"\n'))
    assert [r.name for r in policy.rules] == ["hours"]


def test_one_pack_twice_is_read_once_and_differing_versions_are_an_error(packs: Path, tmp_path: Path) -> None:
    write(tmp_path, "collections.pol", INCLUDE_DEMO)
    policy = load(write(tmp_path, "shop.pol", POLICY_HEAD + INCLUDE_DEMO + 'include "collections.pol"\n'))
    assert len(policy.rules) == 3
    [error] = problems(write(tmp_path, "two.pol", POLICY_HEAD + INCLUDE_DEMO + INCLUDE_DEMO.replace(
        '"xx/demo"', '"xx/demo" version "2025.1"')))
    assert error.message == "the pack xx/demo is included twice, in versions 2026.10 and 2025.1"
    [error] = problems(write(tmp_path, "three.pol", POLICY_HEAD + INCLUDE_DEMO + INCLUDE_DEMO.replace(
        "conversation as talked", "conversation as missed")))
    assert "included twice with different renaming" in error.message


def test_a_missing_file_and_a_version_on_a_file_are_errors(tmp_path: Path) -> None:
    errors = problems(write(tmp_path, "shop.pol", POLICY_HEAD + 'include "nope.pol"\ninclude "x.pol" version "1"\n'))
    assert [e.message for e in errors] == ['there is no file "nope.pol" next to the including file',
                                           "a file has no versions; packs do"]


def test_an_included_file_holds_no_settings(tmp_path: Path) -> None:
    write(tmp_path, "settings.pol", 'policy "x"\ntimezone "Europe/Paris"\nowner is customer.boss\n')
    errors = problems(write(tmp_path, "shop.pol", POLICY_HEAD + 'include "settings.pol"\n'))
    assert [e.message for e in errors] == ["`policy` belongs to the including policy",
                                           "`timezone` belongs to the including policy",
                                           "`owner` belongs to the including policy"]
    assert all(e.included_from and e.included_from[0].line == 9 for e in errors)


# ---- vocabulary, renaming, attributes, names --------------------------------------------------


def test_a_pack_adds_no_vocabulary(packs: Path, tmp_path: Path) -> None:
    errors = problems(write(tmp_path, "shop.pol", POLICY_HEAD + 'include "xx/demo" with debt as collect\n'))
    [error] = errors  # the rule that uses `conversation` is explained by this one error
    assert error.message == "the pack xx/demo uses the outcome `conversation`, which the policy does not declare"
    assert error.span.file == str(packs / "xx/demo/2026.10.pol") and error.span.line == 5
    assert "include \"xx/demo\" with conversation as NAME" in (error.hint or "")
    [error] = problems(write(tmp_path, "kind.pol", POLICY_HEAD + 'include "xx/demo" with debt as agents, conversation as talked\n'))
    assert error.message == "the pack xx/demo uses `debt` (renamed `agents`) as a purpose, but the policy declares `agents` as a team"


def test_renaming_reaches_selectors_outcomes_and_conditions(packs: Path, tmp_path: Path) -> None:
    text = POLICY_HEAD.replace("  state  one of fl, ma, tx\n", "  home  one of fl, ma, tx\n") + (
        'include "xx/demo" with debt as collect, conversation as talked, customer.state as customer.home\n')
    policy = load(write(tmp_path, "shop.pol", text))
    exclude = policy.rule("demo: florida")
    assert exclude.match.purposes == frozenset({"collect"})
    decision = policy.decide({"id": "c", "home": "fl"}, {"team": "agents", "channel": "sms", "purpose": "collect",
                                                         "at": "2026-06-01T15:00:00Z"})
    assert decision.denied_by == ("demo: florida",)


def test_renaming_a_name_the_pack_does_not_declare_is_an_error(packs: Path, tmp_path: Path) -> None:
    errors = problems(write(tmp_path, "shop.pol", POLICY_HEAD + (
        'include "xx/demo" with debt as collect, conversation as talked, dept as sell, customer.sate as customer.x\n')))
    assert [e.message for e in errors] == ['"xx/demo" declares no name `dept` to rename',
                                           '"xx/demo" declares no customer attribute `customer.sate` to rename']
    assert errors[0].hint == "did you mean `debt`?"
    [error] = problems(write(tmp_path, "two.pol", POLICY_HEAD + 'include "xx/demo" with debt as collect, conversation as collect\n'))
    assert error.message == "`conversation` and `debt` are both renamed to `collect`"


def test_attributes_merge_by_name_and_type(packs: Path, tmp_path: Path) -> None:
    narrow = POLICY_HEAD.replace("one of fl, ma, tx", "one of fl, tx") + INCLUDE_DEMO
    [error] = problems(write(tmp_path, "narrow.pol", narrow))
    assert error.message == "customer attribute `state` may be ma here, which the policy's list on " \
        f"{tmp_path / 'narrow.pol'}:8:3 lacks"
    assert error.span.file.endswith("2026.10.pol")
    [error] = problems(write(tmp_path, "text.pol", POLICY_HEAD.replace("one of fl, ma, tx", "text") + INCLUDE_DEMO))
    assert error.message.startswith("customer attribute `state` is one of fl, ma here, but a text on ")
    # two included files that both declare it must agree when the policy does not declare it
    write(tmp_path, "more.pol", "customer\n  state  one of fl\n")
    [error] = problems(write(tmp_path, "two.pol", POLICY_HEAD.replace("customer\n  state  one of fl, ma, tx\n", "")
                             + INCLUDE_DEMO + 'include "more.pol"\n'))
    assert "customer attribute `state` is one of fl here, but one of fl, ma on" in error.message


def test_a_rule_name_twice_shows_both_places(packs: Path, tmp_path: Path) -> None:
    shop = write(tmp_path, "shop.pol", POLICY_HEAD + INCLUDE_DEMO + 'cap "demo: seven": at most 1 sell per 1 day\n')
    [error] = problems(shop)
    assert error.span.file == str(shop) and error.span.line == 10
    assert error.message == f'the rule name "demo: seven" is already used on {packs / "xx/demo/2026.10.pol"}:8:5'


def test_the_policy_exempts_pack_rules_by_name(packs: Path, tmp_path: Path) -> None:
    text = POLICY_HEAD + INCLUDE_DEMO + 'exempt "texas": collect sms from "demo: florida"\n'
    policy = load(write(tmp_path, "shop.pol", text))
    decision = policy.decide({"id": "c", "state": "fl"}, {"team": "agents", "channel": "sms", "purpose": "collect",
                                                         "at": "2026-06-01T15:00:00Z"})
    assert decision.allowed
    assert [t.verdict for t in decision.trace if t.rule == "demo: florida"] == ["exempt"]


def test_a_packs_exemptions_lift_its_own_rules_by_name_only(packs: Path, tmp_path: Path) -> None:
    write(packs, "xx/bad/2026.1.pol", 'pack "xx/bad" version "2026.1"\nchannels  phone\n'
          'cap "bad: one": at most 1 phone per 1 day\nexempt "bad: all": phone from cap, "shop rule"\n')
    errors = problems(write(tmp_path, "shop.pol", POLICY_HEAD + 'include "xx/bad"\ncap "shop rule": at most 1 sell per 1 day\n'))
    assert [e.message for e in errors] == ["an exemption in the pack xx/bad lifts every `cap` rule",
                                           'the pack xx/bad has no rule called "shop rule"']


def test_a_pack_file_must_say_which_pack_it_is(packs: Path, tmp_path: Path) -> None:
    write(packs, "xx/liar/2026.1.pol", 'pack "xx/demo" version "2026.1"\nchannels  phone\n')
    [error] = problems(write(tmp_path, "shop.pol", POLICY_HEAD + 'include "xx/liar"\n'))
    assert error.message == "this pack file says it is xx/demo 2026.1, but it is shipped as xx/liar 2026.1"


def test_a_syntax_error_in_an_included_file_points_into_it(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.pol", 'cap "x": at most 1 phone per\n')
    shop = write(tmp_path, "shop.pol", POLICY_HEAD + 'include "broken.pol"\n')
    [error] = problems(shop)
    assert error.span.file == str(broken) and error.span.line == 1
    assert format_error(error).endswith(f"  included from {shop}:9:1")


def test_check_json_names_the_include_chain(packs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shop = write(tmp_path, "shop.pol", POLICY_HEAD + 'include "xx/demo" with debt as collect\n')
    assert main(["check", "--format", "json", str(shop)]) == 1
    document = json.loads(capsys.readouterr().out)
    [diagnostic] = document["diagnostics"]
    assert diagnostic["included_from"] == [{"file": str(shop), "line": 9, "column": 1}]
    schema = json.loads((ROOT / "docs" / "schemas" / "check.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(document)


# ---- cite in traces, pack, sources ------------------------------------------------------------


def test_trace_lines_and_json_carry_the_pack_and_the_citations(packs: Path, tmp_path: Path) -> None:
    policy = load(write(tmp_path, "shop.pol", POLICY_HEAD + INCLUDE_DEMO + 'cap "mine": at most 9 sell per 1 day cite "house rule 4"\n'))
    ledger = [Contact(at=dt.datetime(2026, 6, 1, 10, tzinfo=CHICAGO) + dt.timedelta(hours=i), channel="phone",
                      purpose="collect", team="agents", campaign="a") for i in range(7)]
    decision = policy.decide({"id": "c"}, Request("agents", "phone", "collect", dt.datetime(2026, 6, 2, 9, tzinfo=CHICAGO),
                                                  campaign="a"), ledger)
    line = next(t.line() for t in decision.trace if t.rule == "demo: seven")
    assert re.fullmatch(r'cap "demo: seven" \(xx/demo 2026\.10\): 7 of at most 7 .* -> deny \[rule 7\]', line), line
    document = decision.to_dict()
    entries = {t["rule"]: t for t in document["trace"]}  # type: ignore[union-attr]
    assert entries["demo: after talking"]["cite"] == ["rule 8", "note 2"]
    assert entries["demo: seven"]["pack"] == "xx/demo"
    assert entries["mine"]["cite"] == ["house rule 4"] and "pack" not in entries["mine"]
    assert document["sources"] == {"xx/demo": "2026.10"}
    assert "sources: xx/demo 2026.10" in decision.explain()


def test_a_pack_reading_a_fixed_calendar_names_the_holidays_version() -> None:
    import holidays

    policy = load(PACKS / "fr" / "demarchage" / "tests" / "prospector.pol")
    decision = policy.decide({"id": "c"}, {"team": "ventes", "channel": "phone", "purpose": "prospection",
                                           "at": "2026-05-25T09:00:00Z"})  # Pentecost Monday, 11:00 in Paris
    assert decision.denied_by == ("France: days and hours",)
    assert decision.to_dict()["sources"] == {"fr/demarchage": "2026.1", "holidays": holidays.__version__}


def test_every_decision_has_sources() -> None:
    policy = policylang.compile('channels  phone\nteams  a\npurposes  p\nquiet "q": no phone outside 08:00-21:00 cite "x"\n')
    decision = policy.decide({"id": "c"}, {"team": "a", "channel": "phone", "purpose": "p", "at": "2026-06-01T03:00:00Z"})
    document = decision.to_dict()
    assert document["sources"] == {} and document["trace"][0]["cite"] == ["x"]  # type: ignore[index]
    assert decision.trace[0].line().endswith("-> deny [x]")


def test_cite_is_written_back_by_the_formatter() -> None:
    text = ('include "us/reg_f" version "2026.1" with debt as collections, customer.a as customer.b\n'
            'channels  phone\ncap "x":  at most 1 phone per 1 day cite "a \\"quoted\\" text", "b"\n')
    assert format_policy(text) == text
    assert format_policy(format_policy(text)) == text


# ---- the shipped packs ------------------------------------------------------------------------

SHIPPED = includes.shipped_packs()


def test_the_packs_are_shipped() -> None:
    assert {"us/reg_f", "us/tcpa", "us/states", "us/states/fl", "us/states/ma", "fr/demarchage", "uk/pecr"} <= set(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_each_pack_compiles_keeps_its_meaning_through_fmt_and_documents_itself(name: str) -> None:
    path = includes.pack_path(name, SHIPPED[name][-1])
    text = path.read_text(encoding="utf-8")
    policy = compile_policy(text, str(path))
    assert policy.rules and all(r.cite for r in policy.rules), "every pack rule cites its source"
    header = text.split("\n\n")[0]
    for needed in ("Sources:", "Not covered:"):
        assert needed in text, f"the header of {name} says {needed}"
    assert re.search(r"\d{4}", header), "the header dates the texts"
    assert parse(format_policy(text)) == parse(text)  # citations included


def test_every_pack_is_at_full_scenario_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "--coverage", "--fail-under", "100", str(PACKS)]) == 0
    out = capsys.readouterr().out
    assert "0 failed, 0 errors" in out


def test_a_policy_including_reg_f_decides_an_official_example_through_decide_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Comment 14(b)(3)(i)-3.i: a conversation Friday April 3, 2026; a call Monday April 6 is
    # over 1006.14(b)(2)(i)(B) unless the consumer consented; with consent it is allowed.
    policy = PACKS / "us" / "reg_f" / "tests" / "collector.pol"
    customer = write(tmp_path, "customer.json", '{"id": "dee", "timezone": "America/Chicago"}')
    conversation = ('{"at": "2026-04-03T10:00:00-05:00", "channel": "phone", "purpose": "debt", "team": "collections",'
                    ' "outcome": "conversation", "campaign": "card"}\n')
    request = write(tmp_path, "request.json", '{"team": "collections", "channel": "phone", "purpose": "debt", '
                    '"at": "2026-04-06T10:00:00-05:00", "campaign": "card"}')
    results = []
    for name, lines in (("without", conversation), ("with", conversation + '{"at": "2026-04-03T10:05:00-05:00", "event": "consent"}\n')):
        ledger = write(tmp_path, f"{name}.jsonl", lines)
        assert main(["decide", str(policy), "--customer", str(customer), "--ledger", str(ledger),
                     "--request", str(request), "--json"]) == 0
        results.append(json.loads(capsys.readouterr().out))
    without, with_consent = results
    assert without["denied_by"] == ["Reg F: after a conversation"]
    assert without["next_allowed_at"] == "2026-04-10T13:00:00+00:00"  # 08:00 in Chicago (CDT)
    entry = next(t for t in without["trace"] if t["rule"] == "Reg F: after a conversation")
    assert entry["cite"] == ["12 CFR 1006.14(b)(2)(i)(B)"] and entry["pack"] == "us/reg_f"
    assert without["sources"] == {"us/reg_f": "2026.1"}
    assert with_consent["allowed"] is True


# ---- the packs command -------------------------------------------------------------------------


def test_packs_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["packs", "list"]) == 0
    out = capsys.readouterr().out
    assert "us/reg_f 2026.1: Regulation F" in out
    assert '  cap "Reg F: seven calls in seven days"  [12 CFR 1006.14(b)(2)(i)(A); 12 CFR 1006.14(b)(3)(ii)]' in out
    assert main(["packs", "list", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    reg_f = next(p for p in document["packs"] if p["name"] == "us/reg_f")
    assert reg_f["newest"] == "2026.1" and reg_f["rules"][0]["cite"][0] == "12 CFR 1006.14(b)(2)(i)(A)"
    assert main(["packs", "show", "us/tcpa"]) == 0
    assert capsys.readouterr().out.startswith('pack "us/tcpa" version "2026.1"\n')
    assert main(["packs", "show", "us/tcp"]) == 2
    assert "did you mean `us/tcpa`?" in capsys.readouterr().err
    assert main(["packs", "show", "us/tcpa", "--version", "1999.1"]) == 2
    assert main(["packs"]) == 2


# ---- including a pack means pasting its renamed text ------------------------------------------

RENAMES = {"debt": "dunning", "consent": "agreed", "conversation": "talked"}


def pasted_reg_f() -> str:
    """The us/reg_f pack pasted into a policy by hand: header, vocabulary and comments dropped,
    names substituted word by word."""
    text = (PACKS / "us" / "reg_f" / "2026.1.pol").read_text(encoding="utf-8")
    body = []
    for line in text.splitlines():
        code = line.split("#", 1)[0] if not line.lstrip().startswith("cite") else line
        if not code.strip() or code.startswith(("pack ", "channels", "purposes", "outcomes", "events")):
            continue
        body.append(re.sub(r"(?<![\w\"])(" + "|".join(RENAMES) + r")(?![\w\"])", lambda m: RENAMES[m[1]], code))
    return "\n".join(body) + "\n"


PASTE_HEAD = """\
policy "collector"
timezone "America/Chicago"
channels  phone, sms, email
teams     agents
purposes  dunning
outcomes  talked, busy, not_in_service, no_answer
events    agreed, revoked
"""
INCLUDED = compile_policy(PASTE_HEAD + 'include "us/reg_f" version "2026.1" with debt as dunning, consent as agreed, '
                          "conversation as talked\n", "<included>")
PASTED = compile_policy(PASTE_HEAD + pasted_reg_f(), "<pasted>")
START = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)

entries = st.lists(
    st.tuples(
        st.integers(0, 14 * 24 * 4),  # quarter hours after the start
        st.sampled_from(["call", "call", "call", "sms", "agreed", "revoked"]),
        st.sampled_from(["talked", "busy", "no_answer", "not_in_service"]),
        st.sampled_from(["a", "b"]),
    ),
    max_size=14,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=entries, when=st.integers(0, 16 * 24 * 4), channel=st.sampled_from(["phone", "sms"]),
       campaign=st.sampled_from(["a", "b"]))
def test_including_a_pack_decides_as_pasting_its_renamed_text(
    entries: list[tuple[int, str, str, str]], when: int, channel: str, campaign: str
) -> None:
    assert [r.name for r in INCLUDED.rules] == [r.name for r in PASTED.rules]
    ledger: list[Contact | Event] = []
    for quarter, kind, outcome, debt in entries:
        at = START + dt.timedelta(minutes=15 * quarter)
        if kind in ("agreed", "revoked"):
            ledger.append(Event(at=at, name=kind))
        else:
            ledger.append(Contact(at=at, channel="phone" if kind == "call" else "sms", purpose="dunning",
                                  team="agents", outcome=outcome, campaign=debt))
    request = Request("agents", channel, "dunning", START + dt.timedelta(minutes=15 * when), campaign=campaign)
    one = INCLUDED.decide({"id": "c"}, request, ledger)
    two = PASTED.decide({"id": "c"}, request, ledger)
    assert (one.allowed, one.denied_by, one.next_allowed_at) == (two.allowed, two.denied_by, two.next_allowed_at)
    assert [(t.rule, t.verdict, t.reason, t.cite) for t in one.trace] == [(t.rule, t.verdict, t.reason, t.cite) for t in two.trace]


# ---- the broken-policy corpus of includes ------------------------------------------------------

BROKEN = Path(__file__).parent / "broken_includes"
CASES = sorted(BROKEN.glob("*.pol"))
EXPECT = re.compile(r"^# expect (?:(\S+?):)?(\d+):(\d+): (.*)$")


def where(case: Path, file: str | None) -> str:
    """The file an expectation names: the case itself, one next to it, or a shipped pack."""
    if file is None:
        return str(case.resolve())
    if file.startswith("packs/"):
        return str((PACKS / file.removeprefix("packs/")).resolve())
    return str((case.parent / file).resolve())


def test_the_include_corpus_covers_each_kind_of_mistake() -> None:
    assert len(CASES) >= 12


@pytest.mark.parametrize("case", CASES, ids=[p.stem for p in CASES])
def test_broken_include_reports_what_its_header_says(case: Path) -> None:
    expected = []
    for line in case.read_text(encoding="utf-8").splitlines():
        match = EXPECT.match(line)
        if match:
            expected.append((where(case, match[1]), int(match[2]), int(match[3]), match[4].split(" && ")))
    assert expected, "every case needs an expect header"
    errors = problems(case)
    got = sorted((str(Path(e.span.file).resolve()), e.span.line, e.span.column) for e in errors)
    assert got == sorted((f, line, column) for f, line, column, _ in expected), [format_error(e) for e in errors]
    for error in errors:
        spot = (str(Path(error.span.file).resolve()), error.span.line, error.span.column)
        fragments = next(fr for f, line, column, fr in expected if (f, line, column) == spot)
        words = " | ".join(filter(None, [error.message, error.expected, error.hint]))
        assert all(fragment in words for fragment in fragments), (fragments, words)
        if Path(error.span.file).resolve() != case.resolve():  # in an included file: the chain leads there
            assert error.included_from and Path(error.included_from[0].file).resolve() == case.resolve()
            assert format_error(error).splitlines()[-1].startswith(f"  included from {case}:")


# ---- every official Reg F example through `decide --json` ----------------------------------------


def call_line(at: str, debt: str, outcome: str = "no_answer") -> dict[str, str]:
    return {"at": at, "channel": "phone", "purpose": "debt", "team": "collections", "outcome": outcome,
            "campaign": debt}


def seven_days_of_21_calls() -> list[dict[str, str]]:
    return [call_line(f"2026-11-{day:02d}T{hour:02d}:00:00-06:00", debt)
            for day in range(9, 16) for hour, debt in ((9, "medical"), (12, "card-a"), (15, "card-b"))]


REG_F_EXAMPLES = [
    # (comment, customer zones, ledger, request instant, debt, denied_by, next_allowed_at)
    ("14(b)(4)-2.i: the eighth call in seven days", "America/Chicago", seven_days_of_21_calls(),
     "2026-11-15T18:00:00-06:00", "card-b", ["Reg F: seven calls in seven days"], "2026-11-16T14:00:00+00:00"),
    ("14(b)(4)-2.i: another debt has its own count", "America/Chicago", seven_days_of_21_calls(),
     "2026-11-15T18:00:00-06:00", "auto-loan", [], "2026-11-16T00:00:00+00:00"),
    ("14(b)(4)-2.v: a conversation holds back its own debt", "America/Chicago",
     [call_line("2026-11-09T10:00:00-06:00", "medical"), call_line("2026-11-12T12:00:00-06:00", "medical", "conversation")],
     "2026-11-13T10:00:00-06:00", "medical", ["Reg F: after a conversation"], "2026-11-19T14:00:00+00:00"),
    ("14(b)(4)-2.v: and not another debt", "America/Chicago",
     [call_line("2026-11-12T12:00:00-06:00", "medical", "conversation")],
     "2026-11-13T10:00:00-06:00", "card", [], "2026-11-13T16:00:00+00:00"),
    ("14(b)(3)(i)-3.ii: Wednesday after a Monday conversation", "America/Chicago",
     [call_line("2026-04-06T15:00:00-05:00", "card", "conversation")],
     "2026-04-08T11:00:00-05:00", "card", ["Reg F: after a conversation"], "2026-04-13T13:00:00+00:00"),
    ("14(b)(3)(ii)-1: busy signals do not count", "America/Chicago",
     [call_line(f"2026-11-{d:02d}T10:00:00-06:00", "card", o) for d, o in
      ((16, "no_answer"), (17, "busy"), (18, "busy"), (19, "no_answer"), (20, "no_answer"), (21, "voicemail"),
       (22, "no_answer"))],
     "2026-11-22T16:00:00-06:00", "card", [], "2026-11-22T22:00:00+00:00"),
    ("6(b)(1)(i)-2: convenient in both zones", ["America/New_York", "America/Los_Angeles"], [],
     "2026-11-24T10:30:00-05:00", "card", ["Reg F: inconvenient times"], "2026-11-24T16:00:00+00:00"),
]


@pytest.mark.parametrize(("comment", "zones", "ledger", "at", "debt", "denied_by", "next_at"), REG_F_EXAMPLES,
                         ids=[e[0].split(":")[0] + ":" + str(i) for i, e in enumerate(REG_F_EXAMPLES)])
def test_official_reg_f_examples_through_decide_json(
    comment: str, zones: object, ledger: list[dict[str, str]], at: str, debt: str, denied_by: list[str], next_at: str,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    customer = write(tmp_path, "customer.json", json.dumps({"id": "c", "timezone": zones}))
    lines = write(tmp_path, "ledger.jsonl", "".join(json.dumps(line) + "\n" for line in ledger))
    request = write(tmp_path, "request.json", json.dumps(
        {"team": "collections", "channel": "phone", "purpose": "debt", "at": at, "campaign": debt}))
    policy = PACKS / "us" / "reg_f" / "tests" / "collector.pol"
    assert main(["decide", str(policy), "--customer", str(customer), "--ledger", str(lines),
                 "--request", str(request), "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["denied_by"] == denied_by, comment
    assert decision["allowed"] == (not denied_by)
    assert dt.datetime.fromisoformat(decision["next_allowed_at"]) == dt.datetime.fromisoformat(next_at), comment
    assert decision["sources"] == {"us/reg_f": "2026.1"}
    for entry in decision["trace"]:
        assert entry["pack"] == "us/reg_f" and entry["cite"][0].startswith("12 CFR 1006.")


def test_the_rendered_trace_names_the_pack_and_the_citations(packs: Path, tmp_path: Path) -> None:
    from rich.console import Console

    from policylang.render import decision_panel, trace_table

    policy = load(write(tmp_path, "shop.pol", POLICY_HEAD + INCLUDE_DEMO))
    decision = policy.decide({"id": "c"}, {"team": "agents", "channel": "phone", "purpose": "collect",
                                           "at": "2026-06-01T15:00:00Z"})
    console = Console(width=200, record=True)
    console.print(decision_panel(decision), trace_table(decision))
    text = console.export_text()
    assert "demo: after talking (xx/demo 2026.10)" in text and "[rule 8; note 2]" in text
    assert "sources: xx/demo 2026.10" in text

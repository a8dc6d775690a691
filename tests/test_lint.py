"""`policylang lint`: each warning code against a hand-written policy that triggers it and one
that does not, with the expected findings written out; suppression comments, project
config, --strict, and the json and sarif formats.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policylang.cli import main
from policylang.lint import RULES, Config, lint_text

HEAD = """\
policy "shop"
timezone "Europe/London"
channels  email, sms, phone
teams     sales, support
purposes  marketing, service
customer
  timezone  zone
  age       number
  status    one of active, closed
exclude "young": any when customer.age < 18
exclude "closed": marketing when customer.status is closed
"""


NO_CONFIG = Config()


def found(body: str, config: Config = NO_CONFIG) -> list[tuple[str, int, str]]:
    """(code, line, message) of every finding for HEAD + body."""
    result = lint_text(HEAD + body, "p.pol", config)
    assert result.errors == (), result.errors
    return [(f.code, f.span.line, f.message) for f in result.findings]


L = len(HEAD.split("\n"))  # the line number of the first body line


CASES = {
    "PL001": (
        'quiet "texts": no sms outside 21:00-08:00\n',
        [("PL001", L, 'quiet "texts" allows sms only between 21:00 and 08:00 (overnight): '
                      "`outside 21:00-08:00` is quiet from 08:00 to 21:00")],
        'quiet "texts": no sms outside 08:00-21:00\nquiet "nights": no sms between 21:00 and 08:00\n',
    ),
    "PL002": (
        'quiet "night": no phone between 20:00 and 09:00\nquiet "day": no phone between 09:00 and 20:00\n',
        [("PL002", L + 1, 'marketing phone by sales has no allowed hour on any day: quiet "day" and "night" '
                          "together cover the whole day")],
        'quiet "night": no phone between 20:00 and 09:00\nquiet "day": no phone between 09:00 and 19:00\n',
    ),
    "PL003": (
        'quiet "evenings": no email between 20:00 and 23:00\n'
        'quiet "late": no marketing email between 21:00 and 22:00\n'
        'quiet "again": no email between 20:00 and 23:00\n',
        [("PL003", L + 1, 'quiet "late" overlaps quiet "evenings" (line 12): both silence marketing email by sales at 21:00'),
         ("PL003", L + 2, 'quiet "again" repeats quiet "evenings" (line 12)')],
        'quiet "evenings": no email between 20:00 and 21:00\nquiet "late": no marketing email between 21:00 and 22:00\n',
    ),
    "PL004": (
        'cap "weekly": at most 3 marketing email per 7 days\ncap "monthly": at most 2 email per 30 days\n',
        [("PL004", L, 'cap "weekly" never decides: cap "monthly" (line 13) allows at most 2 per 30 days over '
                      "the same contacts or more, so it denies first")],
        # a looser cap over more traffic, and a stricter one over less, shadow nothing
        'cap "weekly": at most 1 marketing email per 7 days\ncap "monthly": at most 2 email per 30 days\n'
        'cap "team": at most 1 email per 30 days for each team\n',
    ),
    "PL005": (
        'cap "phones": at most 2 phone per 7 days\nexempt "free phone": phone from "phones"\n',
        [("PL005", L, 'cap "phones" can never apply: exempt "free phone" lift it from everything it selects')],
        'cap "phones": at most 2 phone per 7 days\nexempt "free service": service phone from "phones"\n',
    ),
    "PL006": (
        'exclude "odd": any when customer.age < 18 and customer.age > 65\n'
        'exclude "both": any when customer.status is active and customer.status is closed\n',
        [("PL006", L, 'exclude "odd" can never apply: no number satisfies customer.age < 18 and customer.age > 65'),
         ("PL006", L + 1, 'exclude "both" can never apply: `customer.status` cannot be active and closed at once')],
        'exclude "odd": any when customer.age < 18 or customer.age > 65\n'
        'exclude "both": any when customer.status is active and customer.age >= 65\n',
    ),
    "PL007": (
        'quiet "no calls": no marketing phone on monday, tuesday, wednesday, thursday, friday, weekend\n'
        'require "call first": marketing email after marketing phone\n',
        [("PL007", L + 1, 'require "call first" can never be met: its prerequisite (marketing phone) is denied '
                          'at every time by quiet "no calls"')],
        'quiet "no calls": no marketing phone on monday, tuesday, wednesday, thursday, friday\n'
        'require "call first": marketing email after marketing phone\n',
    ),
    "PL008": (
        'exclusive "only sales": marketing by sales per 7 days\n',
        [("PL008", L, 'exclusive "only sales" governs only team sales, so no other team is ever kept away')],
        'exclusive "one voice": marketing per 7 days\n',
    ),
    "PL009": (
        'precedence sales > support\ncap "sales": at most 2 email by sales per 7 days\n',
        [("PL009", L, "precedence names `sales`, but no cap or exclusive rule counts its contacts together with "
                      "another team's, so its rank changes no decision"),
         ("PL009", L, "precedence names `support`, but no cap or exclusive rule counts its contacts together with "
                      "another team's, so its rank changes no decision")],
        'precedence sales > support\ncap "emails": at most 2 email per 7 days\n',
    ),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_code_fires_on_its_policy_and_not_on_the_fixed_one(code: str) -> None:
    bad, expected, good = CASES[code]
    assert [f for f in found(bad) if f[0] == code] == expected
    assert [f for f in found(good) if f[0] == code] == []


def test_every_code_has_a_case() -> None:
    assert set(CASES) | {"PL010", "PL011", "PL012"} == set(RULES)


def test_unused_declarations() -> None:
    text = HEAD.replace("  status    one of active, closed\n", "  status    one of active, closed\n  tier  text\n")
    text = text.replace("purposes  marketing, service\n", "purposes  marketing, service\nevents  complaint, moved\n")
    text += 'quiet "after complaint": no marketing within 3 days after complaint\n'
    result = lint_text(text, "p.pol")
    assert [(f.code, f.message) for f in result.findings] == [
        ("PL010", "event `moved` is declared but no rule names it"),
        ("PL010", "customer attribute `tier` is declared but no rule uses it"),
    ]
    # channels, purposes and teams no rule names are off unless enabled (requests use them)
    enabled = lint_text(text, "p.pol", Config(enable=frozenset({"PL011"})))
    assert [(f.code, f.message) for f in enabled.findings if f.code == "PL011"] == [
        ("PL011", "channel `email` is declared but no rule names it"),
        ("PL011", "channel `sms` is declared but no rule names it"),
        ("PL011", "channel `phone` is declared but no rule names it"),
        ("PL011", "team `sales` is declared but no rule names it"),
        ("PL011", "team `support` is declared but no rule names it"),
        ("PL011", "purpose `service` is declared but no rule names it"),
    ]


def test_suppression_comments_on_the_line_above_at_the_end_and_for_the_file() -> None:
    bad = 'quiet "texts": no sms outside 21:00-08:00\n'
    assert found("# policylang: ignore[PL001]\n" + bad) == []
    assert found(bad.rstrip("\n") + "  # policylang: ignore[PL003, PL001]\n") == []
    assert found("# policylang: ignore-file[PL001]\n\n\n" + bad) == []
    assert [f[0] for f in found("# policylang: ignore[PL003]\n" + bad)] == ["PL001"]


def test_project_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sub").mkdir()
    policy = tmp_path / "sub" / "p.pol"
    policy.write_text(HEAD + 'quiet "texts": no sms outside 21:00-08:00\n')
    assert main(["lint", "--strict", str(policy)]) == 1
    (tmp_path / "pyproject.toml").write_text('[tool.policylang.lint]\nignore = ["PL001"]\n')
    assert main(["lint", "--strict", str(policy)]) == 0
    (tmp_path / "sub" / "policylang.toml").write_text('[lint]\nignore = ["PL999"]\n')
    capsys.readouterr()
    assert main(["lint", str(policy)]) == 2
    assert "unknown lint code 'PL999'" in capsys.readouterr().err


def test_text_json_and_sarif_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "p.pol"
    policy.write_text(HEAD + 'quiet "texts": no sms outside 21:00-08:00\n')
    assert main(["lint", str(policy)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{policy}:{L}:")
    assert "warning[PL001]" in out and "^^^^" in out and "hint: to be quiet at night" in out
    assert out.endswith("1 warning in 1 file\n")
    assert main(["lint", "--format", "json", str(policy)]) == 0
    document = json.loads(capsys.readouterr().out)
    (finding,) = document["findings"]
    assert finding["code"] == "PL001" and finding["line"] == L and finding["severity"] == "warning"
    assert main(["lint", "--format", "sarif", str(policy)]) == 0
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0"
    (result,) = sarif["runs"][0]["results"]
    assert result["ruleId"] == "PL001"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == L and region["startColumn"] == finding["column"]
    assert {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]} == set(RULES)


def test_a_policy_that_does_not_compile_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "p.pol"
    policy.write_text(HEAD + 'cap "x": at most 2 emial per 7 days\n')
    assert main(["lint", str(policy)]) == 2
    assert "did you mean `email`" in capsys.readouterr().err
    assert main(["lint", str(tmp_path / "missing.pol")]) == 2


def test_the_examples_lint_without_reversed_hours_or_dead_rules() -> None:
    root = Path(__file__).resolve().parent.parent / "examples"
    for path in sorted(root.glob("*.pol")):
        result = lint_text(path.read_text(), str(path))
        assert result.errors == ()
        # PL012: the collections example's own house rules cite nothing beside the Reg F pack
        assert {f.code for f in result.findings} <= {"PL010", "PL012"}, (path, result.findings)


def test_the_linters_traffic_is_the_evaluators_rule_plan() -> None:
    """Which rules are checked for a shape of request: the linter's reading of the rule graph
    against the evaluator's own plan, for every shape of every example policy."""
    import datetime as dt

    from policylang.evaluator import rule_plan
    from policylang.lint import Traffic
    from policylang.records import Request

    root = Path(__file__).resolve().parent.parent / "examples"
    at = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for path in sorted(root.glob("*.pol")):
        policy = lint_text(path.read_text(), str(path)).policy
        assert policy is not None
        traffic = Traffic(policy)
        for shape in traffic.shapes:
            purpose, channel, team, is_owner = shape
            plan = rule_plan(policy, Request(team, channel, purpose, at), team if is_owner else None)
            expected = {rule.index for rule, status, _ in plan.entries if status == "check"}
            assert {i for i, s in traffic.status[shape].items() if s == "check"} == expected, (path, shape)


def test_rules_of_a_policy_that_includes_a_pack_cite_their_text() -> None:
    """PL012: with a pack included, each of the policy's own rules should cite its text; the
    pack's rules (which cite theirs) and a policy without a pack are never flagged."""
    path = Path(__file__).resolve().parent.parent / "examples" / "northwind_collections.pol"
    text = path.read_text()
    flagged = [(f.span.line, f.message) for f in lint_text(text, str(path)).findings if f.code == "PL012"]
    assert [message for _, message in flagged] == [
        'exclude "deceased" cites nothing, though the policy includes "us/reg_f"',
        'quiet "after a bereavement" cites nothing, though the policy includes "us/reg_f"',
        'exempt "legal notices by post" cites nothing, though the policy includes "us/reg_f"',
    ]
    cited = text
    for name in ("deceased", "after a bereavement", "legal notices by post"):
        line = next(line for line in cited.splitlines() if f'"{name}":' in line)
        cited = cited.replace(line, line + f' cite "Northwind collections manual, {name}"')
    assert [f for f in lint_text(cited, str(path)).findings if f.code == "PL012"] == []
    # the same rules without the include: nothing to cite against
    assert [f for f in found('exclude "young2": any when customer.age < 16\n') if f[0] == "PL012"] == []

"""Issue 9, item 15: parse and compile in time and memory linear in the policy.

Speed is measured in benchmarks/compile.py (``--huge``); these tests pin what the faster
paths must keep: the statement-by-statement parse gives what one parse of the whole file
gives (nodes and positions), every syntax error is still reported at its place, the
exemption edges are those of the every-exempt-against-every-rule definition, and hints
over very many names still find the near miss.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

import policylang
from policylang.compiler import exemption_edges
from policylang.errors import PolicylangError, PolicySyntaxError, suggest
from policylang.grammar import load_grammar
from policylang.parser import _parse_text, parse, parse_partial
from policylang.rules import ExemptRule
from policylang.source import Source

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from compile import big_policy  # noqa: E402


def messy(text: str, rng: random.Random) -> str:
    """The same policy with blank lines, comments, CRLF line ends and continued lines."""
    out = []
    for line in text.split("\n"):
        if rng.random() < 0.1:
            out.append("")
        if rng.random() < 0.1:
            out.append("# a comment with \"quotes\" and (parentheses")
        if line.startswith("channels") and "," in line:
            head, rest = line.split(",", 1)
            out.append(head + ",")
            out.append("   " + rest.strip())
            continue
        end = " # trailing" if rng.random() < 0.1 and not line.startswith("  ") and line else ""
        out.append(line + end + ("\r" if rng.random() < 0.2 else ""))
    return "\n".join(out)


@pytest.mark.parametrize("seed", range(3))
def test_the_statement_wise_parse_equals_one_parse_of_the_whole_file(seed: int) -> None:
    text = messy(big_policy(300), random.Random(seed))
    try:
        whole = _parse_text(load_grammar("policy.lark"), text, Source("p.pol", text))
    except PolicySyntaxError as exc:  # a stray `\r` the generator left: refused the same way
        with pytest.raises(PolicylangError) as caught:
            parse(text, "p.pol")
        assert [(e.span, e.message) for e in caught.value.errors] == [(exc.span, exc.message)]
    else:
        assert parse(text, "p.pol").statements == whole  # nodes and every span


@pytest.mark.parametrize("stray", ["\xa0", "\r", "  \v  ", "\u2028"])
@pytest.mark.parametrize("last", [False, True])
def test_a_line_only_blank_to_the_splitter_is_refused_as_by_one_parse(stray: str, last: bool) -> None:
    text = 'policy "p"\nchannels email\n' + stray + ("" if last else '\nteams t\n')
    try:
        _parse_text(load_grammar("policy.lark"), text, Source("p.pol", text))
    except PolicySyntaxError as exc:
        with pytest.raises(PolicylangError) as caught:
            parse(text, "p.pol")
        assert [e.span for e in caught.value.errors] == [exc.span]
        assert exc.span.line == 3
    else:
        assert stray == "\r" and not last  # `\r\n`: a line end
        parse(text, "p.pol")


def test_errors_anywhere_in_a_large_file_are_each_reported_at_their_place() -> None:
    lines = big_policy(2000).split("\n")
    broken = {40: "cap oops", 900: 'quiet "q": no marketing sms outside 8am-9pm', len(lines) - 1: "cap last"}
    for number, text in broken.items():
        lines[number - 1] = text
    partial = parse_partial("\n".join(lines), "big.pol")
    assert [p.span.line for p in partial.problems] == sorted(broken)
    assert partial.problems[0].span.column == 5
    assert len(partial.tree.statements) > 1900  # the rest parsed


def test_a_syntax_error_on_the_last_line_names_it() -> None:
    text = big_policy(3000) + "cap oops\n"
    with pytest.raises(PolicylangError) as caught:
        policylang.compile(text, "big.pol")
    (error,) = caught.value.errors
    assert (error.span.line, error.span.column) == (text.count("\n"), 5)
    assert "cap oops" in str(error.source.line(error.span.line)) if error.source else False


def test_source_lines_are_those_of_splitting_at_newlines() -> None:
    text = "a\r\nb\n\n\x0cc\nd"
    source = Source("f", text)
    assert [source.line(n) for n in range(0, 7)] == ["", "a", "b", "", "\x0cc", "d", ""]


def brute_force_edges(rules: list[object]) -> dict[int, tuple[int, ...]]:
    exempts = [r for r in rules if isinstance(r, ExemptRule)]
    edges: dict[int, tuple[int, ...]] = {}
    for rule in rules:
        if isinstance(rule, ExemptRule):
            continue
        lifting = tuple(e.index for e in exempts if e.lifts(rule))  # type: ignore[arg-type]
        if lifting:
            edges[rule.index] = lifting  # type: ignore[attr-defined]
    return edges


def test_exemption_edges_are_every_exempt_that_lifts_each_rule() -> None:
    rng = random.Random(9)
    head = 'policy "p"\nchannels email\nteams t\npurposes m\n'
    for _ in range(20):
        lines = [head]
        names = [f"r{k}" for k in range(12)]
        for name in names:
            lines.append(rng.choice([f'cap "{name}": at most 1 email per 1 day',
                                     f'quiet "{name}": no m outside 08:00-20:00',
                                     f'exclusive "{name}": m by t per 2 days']))
        for k in range(rng.randrange(0, 6)):
            targets = rng.sample(["cap", "quiet", "exclusive", *(f'"{n}"' for n in names)], rng.randrange(1, 4))
            lines.append(f'exempt "e{k}": m from {", ".join(targets)}')
        policy = policylang.compile("\n".join(lines) + "\n")
        assert policy.exempted_by == brute_force_edges(list(policy.rules))
        assert exemption_edges(list(policy.rules)) == policy.exempted_by


def test_a_near_miss_is_found_among_many_names() -> None:
    names = [f"offers-{k}" for k in range(5000)]
    assert suggest("ofers-4321", names) == "offers-4321"
    assert suggest("offers-4321x", names) == "offers-4321"


def test_a_policy_over_the_statement_limit_is_refused_at_the_first_statement_past_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from policylang import parser

    monkeypatch.setattr(parser, "MAX_STATEMENTS", 5)
    text = 'policy "p"\nchannels email\nteams t\n\npurposes m\ncap "a": at most 1 email per 1 day\n# note\n' \
        'cap "b": at most 1 email per 2 days\n'
    with pytest.raises(PolicylangError) as caught:
        policylang.compile(text, "p.pol")
    (error,) = caught.value.errors
    assert "6 statements, over the limit of 5" in error.message
    assert (error.span.line, error.span.column) == (8, 1)

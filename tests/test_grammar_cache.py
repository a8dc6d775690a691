"""The lexers' compiled-pattern cache (issue 11, cold start) gives exactly ``re.compile``'s patterns.

policylang.grammar.PatternCache keeps CPython's compiled SRE code of every lexer regex in a
file and rebuilds the patterns from it. These tests build parsers with and without it and
compare every pattern and every parse, and check that a damaged or foreign file is ignored.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from lark import Lark
from lark.exceptions import LarkError

from policylang.grammar import PatternCache, _lexers, build_parser

ROOT = Path(__file__).resolve().parent.parent
needs_compiler = pytest.mark.skipif(not hasattr(re, "_compiler"), reason="the cache needs re._compiler (3.11+)")


def fresh_parser(name: str = "policy.lark") -> Lark:
    """A parser with policylang's options, without Lark's cache or ours."""
    return build_parser(name)


def outcome(parser: Lark, text: str) -> Any:
    """The tree, or the error's kind, place and expected terminals (a set: Lark's message lists
    them in set order, which differs between two parsers of one grammar)."""
    try:
        return parser.parse(text)
    except LarkError as exc:
        token = getattr(exc, "token", None)
        return (type(exc).__name__, getattr(exc, "line", None), getattr(exc, "column", None),
                None if token is None else (token.type, str(token)),
                frozenset(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ()))


def policy_texts() -> list[str]:
    files = sorted((ROOT / "examples").rglob("*.pol")) + sorted((ROOT / "tests" / "broken").glob("*.pol"))
    return [f.read_text(encoding="utf-8") for f in files]


@needs_compiler
def test_every_pattern_rebuilt_from_the_file_is_the_one_re_compiles(tmp_path: Path) -> None:
    file = tmp_path / f"policy.{sys.implementation.cache_tag}.re"
    first = PatternCache.for_file(file)
    assert first is not None
    first.install(fresh_parser())
    assert file.is_file() and first.stored
    again = PatternCache.for_file(file)
    assert again is not None
    assert again.stored.keys() == first.stored.keys()
    for pattern, flags in again.stored:
        rebuilt = again.compile(pattern, flags)
        plain = re.compile(pattern, flags)
        assert (rebuilt.pattern, rebuilt.flags, rebuilt.groups, rebuilt.groupindex) == (
            plain.pattern, plain.flags, plain.groups, plain.groupindex)
    assert again.recorded == {}  # every pattern came from the file


@needs_compiler
def test_a_parser_lexing_through_the_cache_parses_every_policy_as_a_plain_one(tmp_path: Path) -> None:
    file = tmp_path / "policy.re"
    PatternCache.for_file(file).install(fresh_parser())  # type: ignore[union-attr]
    cached = fresh_parser()
    patterns = PatternCache.for_file(file)
    assert patterns is not None
    patterns.install(cached)
    assert all(lexer.re is patterns for lexer in _lexers(cached))
    plain = fresh_parser()
    texts = policy_texts()
    assert len(texts) > 50
    for text in texts:  # trees, and the exact error of every broken policy
        assert outcome(cached, text) == outcome(plain, text)
    # every scanner matches as the plain one does, at every offset of every text
    by_accepts = {frozenset(t.name for t in lexer.terminals): lexer for lexer in _lexers(plain)}
    for lexer in _lexers(cached):
        twin = by_accepts[frozenset(t.name for t in lexer.terminals)]
        mres = [m[0] if isinstance(m, tuple) else m for m in lexer.scanner._mres]  # lark < 1.2 keeps pairs
        twins = [m[0] if isinstance(m, tuple) else m for m in twin.scanner._mres]
        ours = [(m.pattern, m.flags, m.groupindex) for m in mres]
        assert ours == [(m.pattern, m.flags, m.groupindex) for m in twins]
        for mine, theirs in zip(mres, twins, strict=True):
            assert mine is not theirs
            for text in texts[:5]:
                for at in range(0, len(text), 7):
                    found, expected = mine.match(text, at), theirs.match(text, at)
                    assert (found and (found.lastgroup, found.group())) == (expected and (expected.lastgroup, expected.group()))


@needs_compiler
@pytest.mark.parametrize("content", [b"", b"not a pickle", b"\x80\x05N.", b"\x80\x05}\x94(\x8c\x01a\x94K\x00\x86\x94\x8c\x01b\x94u."])
def test_a_damaged_or_foreign_file_changes_no_pattern(tmp_path: Path, content: bytes) -> None:
    file = tmp_path / "policy.re"
    file.write_bytes(content)
    patterns = PatternCache.for_file(file)
    assert patterns is not None
    parser = fresh_parser()
    patterns.install(parser)
    plain = fresh_parser()
    for text in policy_texts()[:10]:
        assert outcome(parser, text) == outcome(plain, text)


@needs_compiler
def test_stored_code_that_does_not_fit_its_pattern_is_recompiled(tmp_path: Path) -> None:
    """A file from another interpreter build: _sre refuses the code, re.compile is used."""
    pattern = r"(?P<NAME>[a-z]+)|(?P<NUMBER>[0-9]+)"
    patterns = PatternCache({(pattern, 0): (0, [1, 2, 3], 2, {"NAME": 1, "NUMBER": 2}, (None, "NAME", "NUMBER"))},
                            tmp_path / "x.re")
    compiled = patterns.compile(pattern)
    assert compiled.match("abc1") and compiled.match("abc1").lastgroup == "NAME"  # type: ignore[union-attr]
    assert compiled.groupindex == re.compile(pattern).groupindex
    assert (pattern, 0) in patterns.recorded


@pytest.mark.parametrize("setting", ["folder", "off"])
def test_the_grammar_caches_live_in_the_users_cache_folder_never_in_tmp(tmp_path: Path, setting: str) -> None:
    # Both files are unpickled, so they must not sit where anyone can write (the shared
    # temporary folder); with caching off nothing is written at all.
    import os
    import subprocess

    folder = tmp_path / "cache"
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "POLICYLANG_CACHE_DIR": str(folder) if setting == "folder" else "", "TMPDIR": str(temporary)}
    code = "from policylang.grammar import load_grammar; load_grammar('policy.lark').parse('policy \"p\"\\n')"
    for _ in range(2):  # the second run reads what the first wrote
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert list(temporary.iterdir()) == []
    kept = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    if setting == "off":
        assert kept == []
    else:
        assert any(name.endswith(".cache") for name in kept) and any(name.endswith(".re") for name in kept)

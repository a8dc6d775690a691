"""The cold start of ``policylang decide`` (issue 11, item 3) changes no answer.

A cold ``decide`` reads the policy's rule graph from the compiled-policy cache without its
syntax tree (policylang.compiled.decision_form), imports no attrs (its classes are
policylang.slotted's) and takes their ``__init__`` from the code cache (policylang.codecache). These tests hold that the command's answers equal the
library's, computed in this process from a fresh compile and the validating input readers;
that damaged code-cache files are compiled again and rewritten, never a traceback; that a
run with another hash seed reuses the kept code with its own hash salt; and which modules a
cold decide does not import (a probe of ``sys.modules``, not a timing).
"""

from __future__ import annotations

import json
import marshal
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylang import compiled
from policylang.compiler import compile_policy
from policylang.inputs import customer_from_json, ledger_from_jsonl, load_json, request_from_json, where

ROOT = Path(__file__).resolve().parent.parent
ADA = ROOT / "examples" / "ada"
POLICY = ROOT / "examples" / "northwind.pol"

# run the command in this interpreter and report, on stderr, which of these modules it imported
# (at exit: a decide ends its process in launch.leave, after the atexit functions)
PROBE = (
    "import atexit, sys; sys.argv = ['policylang', *sys.argv[1:]]\n"
    "atexit.register(lambda: sys.stderr.write('MODULES ' + ' '.join(sorted(sys.modules)) + '\\n'))\n"
    "from policylang.launch import main\n"
    "raise SystemExit(main())\n"
)

# what a cold decide of a policy decided before must not import: the parser, the syntax
# tree, the compiler and the grammar (the policy comes from the cache), the scoped-answer
# patterns, rich (plain JSON out), msgspec and orjson (a short ledger), pathlib and shutil;
# and attrs (the decision path's classes are policylang.slotted's), with what attrs and
# orjson would import (inspect, dataclasses, uuid, platform); and argparse (with gettext and
# locale: a well-formed decide is read by commands/decide.quick_args) and typing (its names are
# policylang.annotations' stand-ins at run time), threading and contextlib (history's lock is
# _thread's, ingest's collector pause a class)
NOT_ON_THE_DECIDE_PATH = ("policylang.nodes", "policylang.parser", "policylang.compiler", "policylang.grammar",
                          "policylang.includes", "lark", "policylang.disclosure", "rich", "msgspec", "pathlib",
                          "shutil", "attr", "attrs", "orjson", "inspect", "dataclasses", "uuid", "platform",
                          "argparse", "gettext", "locale", "typing", "importlib.util", "threading", "contextlib")


def requests() -> list[dict[str, str]]:
    """Requests around the ledger's contacts: allowed and denied, several rules, a DST change."""
    shapes = [("cards", "phone", "marketing"), ("growth", "email", "marketing"), ("collections", "phone", "debt"),
              ("private_banking", "letter", "servicing"), ("cards", "sms", "marketing")]
    ats = ["2026-11-24T10:00:00Z", "2026-11-24T03:30:00Z", "2026-10-25T00:30:00+01:00", "2026-12-31T23:59:00Z"]
    return [{"team": t, "channel": c, "purpose": p, "at": at} for (t, c, p), at in zip(shapes * 2, ats * 3, strict=False)]


def library_answer(request: dict[str, str]) -> object:
    """The decision as the library gives it: fresh compile, validating readers, no cache."""
    policy = compile_policy(POLICY.read_text(encoding="utf-8"), str(POLICY))
    customer = customer_from_json(policy, load_json((ADA / "customer.json").read_text(encoding="utf-8"), "c"), where("c"))
    ledger = ledger_from_jsonl(policy, (ADA / "ledger.jsonl").read_text(encoding="utf-8"), "l")
    decision = policy.decide(customer, request_from_json(policy, request, where("r")), ledger, explain=True)
    return json.loads(json.dumps(decision.to_dict()))


def decide(request: Path, cache: Path | str, seed: str = "0") -> tuple[object, set[str]]:
    """The command's JSON answer, and the modules it imported."""
    env = {**os.environ, "POLICYLANG_CACHE_DIR": str(cache), "PYTHONHASHSEED": seed}
    done = subprocess.run([sys.executable, "-c", PROBE, "decide", str(POLICY), "--customer", str(ADA / "customer.json"),
                           "--ledger", str(ADA / "ledger.jsonl"), "--request", str(request), "--json"],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("MODULES ")]
    return json.loads(done.stdout), set(line.split()[1:])


@pytest.fixture(scope="module")
def request_files(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict[str, str], Path]]:
    folder = tmp_path_factory.mktemp("requests")
    found = []
    for n, request in enumerate(requests()):
        path = folder / f"r{n}.json"
        path.write_text(json.dumps(request), encoding="utf-8")
        found.append((request, path))
    return found


def test_the_cold_decide_answers_as_the_library_does(tmp_path: Path,
                                                    request_files: list[tuple[dict[str, str], Path]]) -> None:
    cache = tmp_path / "cache"
    answers = [library_answer(request) for request, _ in request_files]
    assert len({json.dumps(a["allowed"]) for a in answers}) == 2  # type: ignore[index]  # both kinds asked
    first, imported = decide(request_files[0][1], cache, seed="1")  # a miss: compiled, both caches filled
    assert first == answers[0]
    assert "policylang.compiler" in imported
    assert list(cache.glob("*.pickle")) and list(cache.glob("attrs-*.code"))
    for n, ((_, path), answer) in enumerate(zip(request_files, answers, strict=True)):  # hits, another hash seed each
        got, imported = decide(path, cache, seed=str(n + 2))
        assert got == answer, path
        assert not imported & set(NOT_ON_THE_DECIDE_PATH), imported & set(NOT_ON_THE_DECIDE_PATH)
        assert "policylang.codecache" in imported and "policylang.rules" in imported


HEADER = b"policylang-attrs-code-1\n"


@pytest.mark.parametrize("content", [b"", b"garbage", HEADER + b"\x00\x01", HEADER + marshal.dumps({"x": 1}),
                                     HEADER + marshal.dumps({"<a>": {"def f(): pass": 7}})],
                         ids=["empty", "garbage", "truncated", "not codes", "a number for a code"])
def test_a_damaged_code_file_is_compiled_again_and_rewritten(tmp_path: Path, content: bytes,
                                                            request_files: list[tuple[dict[str, str], Path]]) -> None:
    cache = tmp_path / "cache"
    request, path = request_files[0]
    answer = library_answer(request)
    assert decide(path, cache)[0] == answer
    files = sorted(cache.glob("attrs-*-policylang.rules.code"))
    assert len(files) == 1
    files[0].write_bytes(content)
    assert decide(path, cache)[0] == answer
    assert files[0].read_bytes() != content  # rewritten whole
    assert decide(path, cache)[0] == answer


def test_kept_code_takes_this_runs_hash_salt(tmp_path: Path) -> None:
    """attrs salts a class's __hash__ with hash() of a name, which differs with the hash seed:
    code kept by one run must hash with the next run's salt, as attrs' own would (the syntax
    tree's attrs classes; the decision path's slotted classes keep only ``__init__``)."""
    script = (
        "import sys\n"
        "from policylang import codecache\n"
        "assert codecache.install(sys.argv[1])\n"
        "from policylang.nodes import Name\n"
        "from policylang.rules import Match\n"
        "from policylang.records import Request\n"
        "salt = Name.__hash__.__globals__['_policylang_type_hash']\n"
        "assert salt == hash('<attrs generated hash policylang.nodes.Name>'), salt\n"
        "assert hash(Name('x')) == hash(Name('x')) and len({Name('x'), Name('y'), Name('x')}) == 2\n"
        "assert hash(Match(text='x')) == hash(Match(text='x')) and len({Match(), Match(text='y'), Match()}) == 2\n"
        "codecache.save()\n"
        "print(sum(len(c) for m in codecache._codes.values() for c in m.values()), bool(codecache._new))\n"
    )
    cache = str(tmp_path / "cache")
    outputs = [subprocess.run([sys.executable, "-c", script, cache], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout.split() for seed in ("1", "2", "3")]
    assert int(outputs[0][0]) > 10
    assert outputs[1] == outputs[2] == [outputs[0][0], "False"]  # every code from the cache, none new


def test_no_code_cache_when_the_cache_is_off(tmp_path: Path, request_files: list[tuple[dict[str, str], Path]]) -> None:
    request, path = request_files[1]
    assert decide(path, "")[0] == library_answer(request)
    assert not (tmp_path / "cache").exists()


def test_a_policy_from_the_cache_has_no_syntax_tree_and_says_so() -> None:
    text = POLICY.read_text(encoding="utf-8")
    full = compile_policy(text, "p.pol")
    kept = compiled.decision_form(full)
    assert kept.syntax is None and full.syntax is not None
    assert [r.cite for r in kept.rules] == [r.cite for r in full.rules]
    assert kept.rules == full.rules  # equality ignores the source
    with pytest.raises(ValueError, match="not kept"):
        kept.rules[0].syntax  # noqa: B018 - the property raises
    assert full.rules[0].syntax is full.rules[0].source


def test_past_the_bound_only_the_codes_a_run_used_are_kept(tmp_path: Path) -> None:
    """A text that changed from run to run would add a code a run: the file stays bounded."""
    script = (
        "import sys\n"
        "from policylang import codecache\n"
        "assert codecache.install(sys.argv[1])\n"
        "import policylang.rules\n"
        "codes = codecache._codes['policylang.rules']\n"
        "used = sum(map(len, codes.values()))\n"
        "for n in range(codecache.LIMIT):\n"
        "    codes.setdefault('<attrs generated methods policylang.rules.Gone>', {})[f'x = {n}'] = compile('0', 'g', 'exec')\n"
        "codecache._new.add('policylang.rules')\n"
        "codecache.save()\n"
        "kept = codecache._read(codecache._state['path'].format('policylang.rules'))\n"
        "print(used, sum(map(len, kept.values())))\n"
    )
    used, kept = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                                check=True).stdout.split()
    assert int(used) > 10 and kept == used


# ---- regular expressions kept between runs (codecache._patch_re) ----------------------------------------------

@pytest.fixture
def kept_patterns(tmp_path: Path):  # type: ignore[no-untyped-def]
    """codecache's pattern keeping installed in this process on a folder of its own, and
    re as it was afterwards (the original compiler, its cache purged)."""
    import re

    from policylang import codecache

    original = re._compiler.compile  # type: ignore[attr-defined]
    saved = dict(codecache._patterns), dict(codecache._patterns_state)
    codecache._patterns.clear()
    codecache._patterns_state.update(read=False, new=False)
    assert codecache._patch_re(str(tmp_path))
    re.purge()
    try:
        yield original
    finally:
        re._compiler.compile = original  # type: ignore[attr-defined]
        re.purge()
        codecache._patterns.clear()
        codecache._patterns.update(saved[0])
        codecache._patterns_state.clear()
        codecache._patterns_state.update(saved[1])


PIECES = ["a", "b", "\\d", "\\w+", "[a-z]", "[^x]", "(c)", "(?P<n>d)", "(?:e|f)", "|", "*", "+?", "{2,3}", "?",
          "^", "$", "\\b", ".", "(?=g)", "\\(", "(", ")", "\\1", "(?i:h)", "é", "[", "]"]


@pytest.mark.filterwarnings("ignore::FutureWarning")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # kept across inputs
@given(st.lists(st.sampled_from(PIECES), max_size=8),
       st.sampled_from([0, re.IGNORECASE, re.MULTILINE, re.DOTALL, re.VERBOSE, re.ASCII, re.IGNORECASE | re.ASCII]),
       st.booleans())
def test_a_kept_pattern_is_the_pattern_re_compiles(kept_patterns: object, pieces: list[str], flags: int,
                                                  as_bytes: bool) -> None:
    """Compiled once (kept), then served from what was kept: equal to re's own compile of
    the text (code, flags, groups, names) and matching alike; a bad pattern fails alike."""
    from policylang import codecache

    original: Any = kept_patterns
    text = "".join(pieces)
    pattern: str | bytes = text.encode() if as_bytes else text
    try:
        expected = original(pattern, flags)
    except (re.error, ValueError, OverflowError) as exc:
        with pytest.raises(type(exc)) as raised:
            re.compile(pattern, flags)
        assert str(raised.value) == str(exc)
        return
    re.purge()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        first = re.compile(pattern, flags)  # a miss (compiled by re, and kept) or served
    re.purge()
    second = re.compile(pattern, flags)  # served from the kept arguments
    # kept unless re warns of it (then compiled every time, so that every run warns)
    assert ((pattern, flags) in codecache._patterns) == (not said)
    for got in (first, second):
        assert got == expected and got.groupindex == expected.groupindex and got.groups == expected.groups
        for sample in ("", "abc", "ddd g", "x(é)H", "a1b22ccc\nf", "e e"):
            subject: str | bytes = sample.encode() if as_bytes else sample
            found, wanted = got.search(subject), expected.search(subject)
            assert (found and (found.span(), found.groups(), found.lastgroup)) == \
                (wanted and (wanted.span(), wanted.groups(), wanted.lastgroup))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "one byte changed", "not arguments"])
def test_a_damaged_patterns_file_is_not_used(tmp_path: Path, damage: str,
                                             request_files: list[tuple[dict[str, str], Path]]) -> None:
    """A damaged file of kept patterns: the same answer, the patterns compiled again and the
    file rewritten; a changed byte fails the file's digest (a valid but wrong pattern could
    otherwise come out of it)."""
    from policylang import codecache

    cache = tmp_path / "cache"
    request, path = request_files[0]
    answer = library_answer(request)
    assert decide(path, cache)[0] == answer
    (kept,) = cache.glob("patterns-*.code")
    data = kept.read_bytes()
    start = len(codecache.PATTERNS_HEADER) + 32
    payload = marshal.loads(data[start:])
    number = next(key for key in payload if key[0] == codecache_number_pattern())
    if damage == "garbage":
        data = b"garbage"
    elif damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "one byte changed":
        at = len(data) - 7
        data = data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]
    else:  # a file whose digest holds, with an entry that is not _sre.compile's arguments
        payload[number] = ("x", 1)
        body = marshal.dumps(payload)
        data = codecache.PATTERNS_HEADER + codecache._digest(body) + body
    kept.write_bytes(data)
    assert decide(path, cache)[0] == answer
    assert kept.read_bytes() != data  # rewritten
    assert decide(path, cache)[0] == answer


def codecache_number_pattern() -> str:
    """json's number pattern (json.scanner.NUMBER_RE), compiled by every decide."""
    import json.scanner

    return json.scanner.NUMBER_RE.pattern


@pytest.mark.parametrize("command", ["serve", "lsp", "repl"])
def test_long_running_commands_leave_re_as_python_ships_it(tmp_path: Path, command: str) -> None:
    """A server's, editor's or REPL's process compiles patterns it was not started with: its
    ``re`` is not patched and no patterns file is kept (a short command's is: decide above)."""
    cache = tmp_path / "cache"
    env = {**os.environ, "POLICYLANG_CACHE_DIR": str(cache)}
    probe = ("import re, sys\n"
             "from policylang import launch\n"
             "original = re._compiler.compile\n"
             "sys.argv = ['policylang', sys.argv[1], '--help']\n"
             "try:\n"
             "    launch.main()\n"
             "except SystemExit:\n"
             "    pass\n"
             "print('PATCHED' if re._compiler.compile is not original else 'PLAIN', file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe, command], capture_output=True, text=True, env=env, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().endswith("PLAIN"), done.stderr
    assert not list(cache.glob("patterns-*.code"))
    done = subprocess.run([sys.executable, "-c", probe, "check"], capture_output=True, text=True, env=env, check=False)
    assert done.stderr.strip().endswith("PATCHED"), done.stderr  # the probe sees a patch where there is one

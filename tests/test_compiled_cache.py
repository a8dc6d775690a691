"""The cache of compiled policies (policylang.compiled, issue 11 cold start) changes no answer.

A policy loaded from the cache must be the policy the compiler makes (every field, every
decision), an edit must miss, errors must come from the compiler every time, and a damaged
entry or a policy that reads other files must not be served.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from policylang import compiled
from policylang.compiler import compile_policy
from policylang.errors import PolicylangError
from policylang.records import Customer, Request
from policylang.rules import Policy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = sorted([*ROOT.glob("examples/*.pol"), *ROOT.glob("tests/section11/*.pol"), *ROOT.glob("benchmarks/*.pol")])


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("POLICYLANG_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def same_policy(a: Policy, b: Policy) -> None:
    """``b`` (from the cache) is ``a``'s rule graph: every field but the syntax tree, which the
    cache does not keep (compiled.decision_form), and every rule's citations."""
    for field in attrs.fields(Policy):
        if field.name not in ("_index", "syntax"):
            assert getattr(a, field.name) == getattr(b, field.name), field.name
    assert [r.cite for r in a.rules] == [r.cite for r in b.rules]
    assert b.syntax is None and all(r.source is None for r in b.rules)


def requests(policy: Policy) -> list[Request]:
    start = dt.datetime(2026, 3, 28, 23, 30, tzinfo=dt.timezone.utc)  # a DST change in Europe
    return [Request(team, channel, purpose, start + dt.timedelta(hours=7 * k))
            for k, (team, channel, purpose) in enumerate(
                (t, c, p) for t in policy.teams for c in policy.channels for p in policy.purposes)][:60]


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_a_policy_from_the_cache_is_the_policy_the_compiler_makes(path: Path, folder: Path) -> None:
    text = path.read_text(encoding="utf-8")
    fresh = compile_policy(text, str(path))
    first = compiled.compile_cached(text, str(path))
    again = compiled.compile_cached(text, str(path))
    kept = list(folder.glob("*.pickle")) if folder.exists() else []
    if not compiled.keepable(fresh):
        assert kept == []  # it reads other files: compiled each time
        return
    assert len(kept) == 1
    assert again is not first  # unpickled, not the same object
    same_policy(fresh, again)
    attributes = {"timezone": "Europe/Paris", "status": "active"}
    for name, spec in fresh.attributes.items():
        if name not in attributes and getattr(spec, "values", None):
            attributes[name] = spec.values[0]
    try:
        customer = Customer("c1", attributes)
        answers = [fresh.decide(customer, r, []) for r in requests(fresh)]
    except (PolicylangError, TypeError, ValueError):
        pytest.skip("this policy's customers need attributes this test does not make")
    assert [again.decide(customer, r, []) for r in requests(fresh)] == answers


def test_an_edited_policy_is_compiled_again(folder: Path) -> None:
    text = (ROOT / "examples" / "northwind.pol").read_text(encoding="utf-8")
    before = compiled.compile_cached(text, "p.pol")
    edited = text.replace("Northwind Bank", "Southwind Bank", 1)
    assert edited != text
    after = compiled.compile_cached(edited, "p.pol")
    assert before.title != after.title and after.title == compile_policy(edited, "p.pol").title
    assert len(list(folder.glob("*.pickle"))) == 2
    # the name it is shown under is part of the key (errors and traces quote it)
    assert compiled.compile_cached(text, "q.pol").file == "q.pol"


def test_new_code_is_a_new_key(monkeypatch: pytest.MonkeyPatch) -> None:
    key = compiled.cache_key("policy text", "p.pol")
    monkeypatch.setattr(compiled, "code_stamp", lambda: b"another build")
    assert compiled.cache_key("policy text", "p.pol") != key
    assert compiled.cache_key("policy tex", "tp.pol") != compiled.cache_key("policy text", "p.pol")


def test_a_policy_with_errors_is_never_kept(folder: Path) -> None:
    text = (ROOT / "tests" / "broken" / "clock_25.pol").read_text(encoding="utf-8")
    messages = []
    for _ in range(2):
        with pytest.raises(PolicylangError) as caught:
            compiled.compile_cached(text, "b.pol")
        messages.append([str(e) for e in caught.value.errors])
    with pytest.raises(PolicylangError) as direct:
        compile_policy(text, "b.pol")
    assert messages == [[str(e) for e in direct.value.errors]] * 2
    assert not folder.exists() or not list(folder.glob("*.pickle"))


@pytest.mark.parametrize("content", [b"", b"garbage", b"\x80\x05K\x01."])  # the last: a pickled 1, not a Policy
def test_a_damaged_entry_is_compiled_again_and_replaced(folder: Path, content: bytes) -> None:
    text = (ROOT / "examples" / "northwind.pol").read_text(encoding="utf-8")
    compiled.compile_cached(text, "p.pol")
    (entry,) = folder.glob("*.pickle")
    entry.write_bytes(content)
    policy = compiled.compile_cached(text, "p.pol")
    same_policy(compile_policy(text, "p.pol"), policy)
    assert entry.read_bytes() != content


def test_caching_off_and_a_folder_that_cannot_be_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "examples" / "northwind.pol").read_text(encoding="utf-8")
    monkeypatch.setenv("POLICYLANG_CACHE_DIR", "")
    assert compiled.cache_folder() is None
    assert compiled.compile_cached(text, "p.pol").title
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("POLICYLANG_CACHE_DIR", str(blocker / "cache"))
    assert compiled.compile_cached(text, "p.pol").title  # mkdir fails: compiled, not kept


def test_the_oldest_entries_go_past_the_bound(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "KEEP", 3)
    text = (ROOT / "examples" / "northwind.pol").read_text(encoding="utf-8")
    for k in range(5):
        compiled.compile_cached(text, f"p{k}.pol")
        entry = folder / f"{compiled.cache_key(text, f'p{k}.pol')}.pickle"
        os.utime(entry, ns=(k * 10**9, k * 10**9))  # distinct ages whatever the clock's resolution
    left = sorted(folder.glob("*.pickle"))
    assert len(left) == 3
    assert (folder / f"{compiled.cache_key(text, 'p4.pol')}.pickle") in left


def test_the_command_answers_alike_with_and_without_its_cache(tmp_path: Path) -> None:
    ada = ROOT / "examples" / "ada"
    command = [sys.executable, "-m", "policylang.launch", "decide", str(ROOT / "examples" / "northwind.pol"),
               "--customer", str(ada / "customer.json"), "--ledger", str(ada / "ledger.jsonl"),
               "--request", str(ada / "request.json"), "--json"]
    outputs = []
    for cache in ("", str(tmp_path / "c"), str(tmp_path / "c")):  # off, a miss, a hit
        env = {**os.environ, "POLICYLANG_CACHE_DIR": cache}
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1] == outputs[2]
    assert len(list((tmp_path / "c").glob("*.pickle"))) == 1
    check = [sys.executable, "-m", "policylang.launch", "check", str(ROOT / "examples" / "northwind.pol")]
    texts = {subprocess.run(check, capture_output=True, text=True, check=True,
                            env={**os.environ, "POLICYLANG_CACHE_DIR": cache}).stdout
             for cache in ("", str(tmp_path / "c"))}
    assert len(texts) == 1


# ---- `policylang check` of a file that checked before (launch.py answers from the kept line) --

ENGINE_PROBE = (
    "import sys; sys.argv = ['policylang', *sys.argv[1:]]\n"
    "from policylang.launch import main\n"
    "status = main()\n"
    "sys.stderr.write('ENGINE ' + ' '.join(sorted(m for m in ('policylang.rules', 'policylang.cli', 'attrs',"
    " 'pickle', 'lark') if m in sys.modules)) + '\\n')\n"
    "raise SystemExit(status)\n"
)


def run_check(paths: list[str], cache: str, cwd: Path) -> tuple[int, str, str, str]:
    """Exit status, stdout, stderr (without the probe's line) and which engine modules were imported."""
    done = subprocess.run([sys.executable, "-c", ENGINE_PROBE, "check", *paths], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "POLICYLANG_CACHE_DIR": cache})
    lines = done.stderr.splitlines()
    probe = [line for line in lines if line.startswith("ENGINE")]
    rest = "\n".join(line for line in lines if not line.startswith("ENGINE"))
    return done.returncode, done.stdout, rest, probe[-1].strip() if probe else ""


def test_check_of_an_unchanged_file_answers_without_the_engine(tmp_path: Path) -> None:
    cache = str(tmp_path / "c")
    first = tmp_path / "a.pol"
    first.write_text((ROOT / "examples" / "northwind.pol").read_text(encoding="utf-8"), encoding="utf-8")
    second = tmp_path / "b.pol"
    second.write_bytes(b"\xef\xbb\xbf" + (ROOT / "examples" / "regulation_f.pol").read_bytes())  # a BOM, dropped
    paths = ["a.pol", "b.pol", "a.pol"]
    off = run_check(paths, "", tmp_path)
    miss = run_check(paths, cache, tmp_path)
    hit = run_check(paths, cache, tmp_path)
    assert off[:3] == miss[:3] == hit[:3]
    assert off[0] == 0 and off[1].count("\n") == 2
    assert "policylang.rules" in miss[3]
    assert hit[3] == "ENGINE"  # nothing of the engine, not even attrs or pickle
    # an edit, or the same text under another name, runs the compiler again
    first.write_text(first.read_text(encoding="utf-8").replace("Northwind", "Southwind", 1), encoding="utf-8")
    edited = run_check(["a.pol"], cache, tmp_path)
    assert "policylang.rules" in edited[3] and "Southwind" in edited[1]
    assert run_check(["a.pol"], cache, tmp_path)[1:3] == edited[1:3]
    assert "policylang.rules" in run_check(["./a.pol"], cache, tmp_path)[3]


def test_check_never_answers_an_error_or_a_folder_or_stdin_from_the_cache(tmp_path: Path) -> None:
    cache = str(tmp_path / "c")
    good = tmp_path / "good.pol"
    good.write_text((ROOT / "examples" / "northwind.pol").read_text(encoding="utf-8"), encoding="utf-8")
    bad = tmp_path / "bad.pol"
    bad.write_text("policy \"x\"\nteams: a\nrule r: cap 3 per week for teamz\n", encoding="utf-8")
    for _ in range(2):
        assert run_check(["good.pol"], cache, tmp_path)[0] == 0
        status, out, err, probe = run_check(["good.pol", "bad.pol"], cache, tmp_path)
        assert status == 1 and "bad.pol" in err and "policylang.rules" in probe
        status, out, err, probe = run_check(["good.pol", "missing.pol"], cache, tmp_path)
        assert status == 2 and "missing.pol: no such file" in err
    assert compiled.cached_check(["/dev/null"]) is None  # not a regular file: never read twice
    folder_run = run_check(["."], cache, tmp_path)
    assert folder_run[0] == 1 and "policylang.rules" in folder_run[3]
    assert "policylang.cli" in run_check(["--format", "text", "good.pol"], cache, tmp_path)[3]


@pytest.mark.parametrize("content", ["", "garbage", "policylang-check-1\nline one\nline two",
                                     "policylang-check-0\nold format"])
def test_a_damaged_check_entry_runs_the_check_in_full(tmp_path: Path, content: str) -> None:
    cache = tmp_path / "c"
    (tmp_path / "p.pol").write_text((ROOT / "examples" / "northwind.pol").read_text(encoding="utf-8"),
                                    encoding="utf-8")
    expected = run_check(["p.pol"], str(cache), tmp_path)
    (entry,) = cache.glob("*.check")
    entry.write_text(content, encoding="utf-8")
    again = run_check(["p.pol"], str(cache), tmp_path)
    assert again[:3] == expected[:3] and "policylang.rules" in again[3]
    assert run_check(["p.pol"], str(cache), tmp_path)[3] == "ENGINE"  # the full run kept the line again

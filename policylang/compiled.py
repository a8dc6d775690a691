"""Compiled policies kept between runs of the ``policylang`` command (issue 11, cold start).

A cold ``policylang decide`` or ``check`` spends most of its time importing the parser, the
grammar and the compiler and compiling the policy. :func:`compile_cached` keeps the compiled
:class:`~policylang.rules.Policy` (pickled) in the user's cache folder, keyed by everything the
compiled policy is a function of:

- the policy text and the name it is shown under (errors and traces quote it);
- policylang's own code: the name, size and modification time of every module and grammar
  file of the installed package, so an edit or an upgrade is a new key;
- the interpreter's version (pickles of one may not load in another).

What is kept (and what :func:`compile_cached` returns, from the cache or not) is the rule
graph alone (:func:`decision_form`): no syntax tree, so reading it back imports none of the
parser's node classes.

Only policies that read nothing else are kept: no ``include`` line, no rule pack, no
``holidays`` calendar (their files or the installed calendars could change under the same
text). A policy that does not compile is never kept, so every error comes from the compiler.
Loading an entry that fails for any reason (damaged file, a time zone since removed from the
system's database, another interpreter) compiles instead. ``POLICYLANG_CACHE_DIR`` names the
folder (empty: no cache); the default is ``$XDG_CACHE_HOME/policylang/compiled`` or
``~/.cache/policylang/compiled``. The grammar's cached tables and patterns live there too
(:mod:`policylang.grammar`). At most :data:`KEEP` entries are kept, the oldest removed first.
"""

from __future__ import annotations

import os
import sys

# Only os and sys at the top: `policylang check` of a file that checked before answers from
# here (see cached_check) without importing pathlib, hashlib, pickle or any of the engine.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from policylang.rules import Policy
else:
    Any = object

FORMAT = b"policylang-compiled-2"  # 2: without the syntax tree (see decision_form)
KEEP = 64  # entries: a user decides against a handful of policies


def cache_folder() -> Path | None:
    """Where compiled policies are kept, or None when caching is off."""
    from pathlib import Path

    name = _folder_name()
    return None if name is None else Path(name)


def _folder_name() -> str | None:
    chosen = os.environ.get("POLICYLANG_CACHE_DIR")
    if chosen is not None:
        return chosen or None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "policylang", "compiled")


_STAMP: list[bytes] = []


def code_stamp() -> bytes:
    """Name, size and modification time of every file of the installed package that a
    compiled policy can depend on (modules and grammars); read once per process."""
    if _STAMP:
        return _STAMP[0]
    here = os.path.dirname(os.path.realpath(__file__))
    folders = [here, os.path.join(os.path.dirname(here), "grammar"), os.path.join(here, "_grammar")]
    found: list[str] = []

    def walk(folder: str) -> None:  # os.walk's order (files, then folders, each sorted), a third cheaper
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            return
        below = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__":
                    below.append(entry.path)
            elif entry.name.endswith((".py", ".lark")):
                stat = entry.stat()
                found.append(f"{folder}/{entry.name}:{stat.st_size}:{stat.st_mtime_ns}")
        for path in below:
            walk(path)

    for folder in folders:
        walk(folder)
    _STAMP.append("\n".join(found).encode())
    return _STAMP[0]


def _sha256() -> Any:
    try:  # the built-in module: importing hashlib loads OpenSSL, a few milliseconds
        from _sha256 import sha256  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - another interpreter (3.12 renamed it _sha2)
        from hashlib import sha256
    return sha256()


def cache_key(text: str, source: str) -> str:
    """The entry name of ``text`` compiled under the name ``source`` by this code."""
    digest = _sha256()
    for part in (FORMAT, sys.version.encode(), code_stamp(), source.encode("utf-8", "surrogatepass"),
                 text.encode("utf-8", "surrogatepass")):
        digest.update(len(part).to_bytes(8, "big"))  # lengths first: no two keys run together
        digest.update(part)
    return str(digest.hexdigest())


def keepable(policy: Policy) -> bool:
    """Whether ``policy`` depends on nothing but its text (see the module docstring)."""
    return not (policy.included_files or policy.rule_packs or policy.sources
                or policy.holiday_code is not None or policy.holiday_attribute is not None)


def compile_cached(text: str, source: str = "<policy>") -> Policy:
    """``compile_policy(text, source)``, from the cache when this text compiled before.

    The same rule graph and the same errors as :func:`policylang.compiler.compile_policy`,
    in its :func:`decision_form` (no syntax tree) whether it came from the cache or not.
    """
    folder = _folder_name()  # names, not pathlib: a cold decide does not import it
    entry = None if folder is None else os.path.join(folder, f"{cache_key(text, source)}.pickle")
    if entry is not None:
        found = _load(entry)
        if found is not None:
            return found
    from policylang.compiler import compile_policy

    policy = decision_form(compile_policy(text, source))  # the same form from the cache or not
    if entry is not None and keepable(policy):
        _store(entry, policy)
    return policy


def _load(entry: str) -> Policy | None:
    try:  # CPython's unpickler itself: importing pickle.py on top costs a cold decide a millisecond
        from _pickle import load
    except ImportError:  # pragma: no cover - another interpreter
        from pickle import load

    try:
        with open(entry, "rb") as stream:
            found = load(stream)
    except FileNotFoundError:
        return None
    except Exception:  # damaged, or no longer loadable here: compile again (and overwrite)
        return None
    from policylang.rules import Policy

    return found if isinstance(found, Policy) else None


def decision_form(policy: Policy) -> Policy:
    """``policy`` as the cache keeps it: the rule graph without the syntax tree it was
    compiled from (``Policy.syntax`` and each rule's ``source`` are None; the rules keep
    their citations). Deciding, checking, batches, replays and plans read none of the tree,
    and reading it back would import the parser's ~50 node classes on every cold start."""
    from policylang.slotted import evolve

    rules = tuple(evolve(rule, source=None, cite=rule.cite) for rule in policy.rules)
    return evolve(policy, syntax=None, rules=rules, index={})


def _store(entry: str, policy: Policy) -> None:
    import pickle

    try:
        data = pickle.dumps(policy, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # something in it does not pickle: not kept, nothing lost
        return
    if write_whole(entry, data):
        import contextlib
        from pathlib import Path

        with contextlib.suppress(OSError):  # another process pruned the same entries meanwhile
            _prune(Path(entry).parent)


def write_whole(path: str, data: bytes) -> bool:
    """Write ``data`` to the cache file ``path`` whole or not at all, for a concurrent reader
    (a temporary file beside it, then a rename), making its folder; ``False`` when the file
    system refuses (a read-only home, a full disk): the cache is then not kept, same answers."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temporary, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except OSError:
        import contextlib

        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return False
    return True


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime_ns)
    for old in entries[:-KEEP]:
        old.unlink(missing_ok=True)  # FileNotFoundError from stat above if another process pruned: caught by _store
        old.with_suffix(CHECKED).unlink(missing_ok=True)


# ---- `policylang check` of a file that checked before -------------------------------------------
#
# A good policy's `check` output is one summary line, a function of the same key as the
# compiled policy. It is kept beside the pickle as text, so a later `check` of the unchanged
# file prints it without importing the parser, the compiler, attrs or pickle (about a fifth of
# the time of loading the compiled policy). Only successes are kept: every error comes from
# the compiler, as with the compiled policies.

CHECKED = ".check"
CHECKED_HEADER = "policylang-check-1\n"


def remember_check(policy: Policy, text: str, source: str, line: str) -> None:
    """Keep ``line``, the ``check`` summary of ``policy`` compiled from ``text`` under the
    name ``source``, when the policy's compiled form may be kept (see :func:`keepable`)."""
    folder = _folder_name()
    if folder is None or not keepable(policy):
        return
    try:
        data = (CHECKED_HEADER + line).encode("utf-8")
    except UnicodeError:  # a file name with bytes UTF-8 cannot hold: not kept, same answers
        return
    write_whole(os.path.join(folder, cache_key(text, source) + CHECKED), data)


def cached_check(paths: list[str]) -> list[str] | None:
    """The summary lines ``policylang check PATH...`` prints when every path is a policy
    file that checked before, unchanged since, with this code; else ``None`` (the command
    then runs in full). Folders, standard input and unreadable files always run in full."""
    folder = _folder_name()
    if folder is None:
        return None
    lines: list[str] = []
    for name in dict.fromkeys(paths):  # a file named twice is checked once, as policy_files does
        if name == "-" or not os.path.isfile(name):  # a folder, a pipe, a device: read once, in full
            return None
        try:
            with open(name, "rb") as stream:
                text = stream.read().decode("utf-8-sig")  # as cli.read_text reads it
            with open(os.path.join(folder, cache_key(text, name) + CHECKED), encoding="utf-8", newline="") as stream:
                kept = stream.read()
        except (OSError, UnicodeError):
            return None
        if not kept.startswith(CHECKED_HEADER) or "\n" in kept[len(CHECKED_HEADER):]:
            return None
        lines.append(kept[len(CHECKED_HEADER):])
    return lines

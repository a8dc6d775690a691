"""Compiled policies kept between runs of the ``policylang`` command (issue 11, cold start).

A cold ``policylang decide`` or ``check`` spends most of its time importing the parser, the
grammar and the compiler and compiling the policy. :func:`compile_cached` keeps the compiled
:class:`~policylang.rules.Policy` (pickled) in the user's cache folder, keyed by everything the
compiled policy is a function of:

- the policy text and the name it is shown under (errors and traces quote it);
- policylang's own code: the name, size and modification time of every module and grammar
  file of the installed package, so an edit or an upgrade is a new key;
- the interpreter's version (pickles of one may not load in another).

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

import contextlib
import functools
import hashlib
import os
import pickle
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policylang.rules import Policy

FORMAT = b"policylang-compiled-1"
KEEP = 64  # entries: a user decides against a handful of policies


def cache_folder() -> Path | None:
    """Where compiled policies are kept, or None when caching is off."""
    chosen = os.environ.get("POLICYLANG_CACHE_DIR")
    if chosen is not None:
        return Path(chosen) if chosen else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "policylang" / "compiled"


@functools.cache
def code_stamp() -> bytes:
    """Name, size and modification time of every file of the installed package that a
    compiled policy can depend on (modules and grammars)."""
    here = Path(__file__).resolve().parent
    folders = [here, here.parent / "grammar", here / "_grammar"]
    found: list[str] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith((".py", ".lark")):
                    stat = os.stat(os.path.join(root, name))
                    found.append(f"{root}/{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(found).encode()


def cache_key(text: str, source: str) -> str:
    """The entry name of ``text`` compiled under the name ``source`` by this code."""
    digest = hashlib.sha256()
    for part in (FORMAT, sys.version.encode(), code_stamp(), source.encode("utf-8", "surrogatepass"),
                 text.encode("utf-8", "surrogatepass")):
        digest.update(len(part).to_bytes(8, "big"))  # lengths first: no two keys run together
        digest.update(part)
    return digest.hexdigest()


def keepable(policy: Policy) -> bool:
    """Whether ``policy`` depends on nothing but its text (see the module docstring)."""
    return not (policy.included_files or policy.rule_packs or policy.sources
                or policy.holiday_code is not None or policy.holiday_attribute is not None)


def compile_cached(text: str, source: str = "<policy>") -> Policy:
    """``compile_policy(text, source)``, from the cache when this text compiled before.

    The same policy and the same errors as :func:`policylang.compiler.compile_policy`.
    """
    folder = cache_folder()
    entry = None if folder is None else folder / f"{cache_key(text, source)}.pickle"
    if entry is not None:
        found = _load(entry)
        if found is not None:
            return found
    from policylang.compiler import compile_policy

    policy = compile_policy(text, source)
    if entry is not None and keepable(policy):
        _store(entry, policy)
    return policy


def _load(entry: Path) -> Policy | None:
    try:
        with entry.open("rb") as stream:
            found = pickle.load(stream)
    except FileNotFoundError:
        return None
    except Exception:  # damaged, or no longer loadable here: compile again (and overwrite)
        return None
    from policylang.rules import Policy

    return found if isinstance(found, Policy) else None


def _store(entry: Path, policy: Policy) -> None:
    try:
        data = pickle.dumps(policy, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # something in it does not pickle: not kept, nothing lost
        return
    temporary = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, entry)  # whole or not at all, for a concurrent reader
        _prune(entry.parent)
    except OSError:  # a read-only home, a full disk: no cache, same answers
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime_ns)
    for old in entries[:-KEEP]:
        old.unlink(missing_ok=True)  # FileNotFoundError from stat above if another process pruned: caught by _store

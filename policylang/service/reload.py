"""The policies a service serves, and their live, safe reloading.

A folder of ``.pol`` files is loaded at start. :meth:`PolicySet.refresh` (called by a
watcher thread every ``interval`` seconds) notices a changed file, compiles the new text
and runs every ``.polt`` scenario of the folder against it; only when all of that passes
does the new version replace the old one. The replacement is one assignment of an
immutable mapping, so a request that took its :class:`Loaded` policy before the swap
finishes on that version. A version that fails is refused, remembered with its errors
(``GET /v1/policies`` shows it) and the old one keeps serving.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

import attrs

from policylang.compiler import compile_policy
from policylang.errors import PolicylangError, format_error
from policylang.rules import Policy
from policylang.scenario import load_policy_file, run_file
from policylang.source import text_digest

log = logging.getLogger("policylang.service")


def version_of(text: str, included: Mapping[str, str] | None = None) -> str:
    """A policy version: the first 16 hex digits of a SHA-256 over the whole text that decides.

    That is the policy's own text and, when it includes files (11.17), each included file's
    path and digest (``included``: path -> :func:`~policylang.source.text_digest`), so a
    change to an included file is a new version. A policy without includes keeps the plain
    hash of its text.
    """
    digest = hashlib.sha256(text.encode("utf-8"))
    for path, file_digest in sorted((included or {}).items()):
        digest.update(f"\0{path}\0{file_digest}".encode())
    return digest.hexdigest()[:16]


def read_included(paths: Iterable[str]) -> dict[str, str] | None:
    """The digests of the included files as they are on disk now; None when one cannot be read
    (a reload must then compile, and the compiler names the file and the include line)."""
    out = {}
    for path in paths:
        try:
            out[path] = text_digest(Path(path).read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError):
            return None
    return out


@attrs.frozen(slots=True)
class Loaded:
    """One policy as served: its name (the file's stem), compiled form, version and load time."""

    name: str
    path: Path
    policy: Policy
    version: str
    loaded_at: dt.datetime

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, "loaded_at": self.loaded_at.isoformat()}


@attrs.frozen(slots=True)
class Refused:
    """A version of a policy that was not put into service, and why."""

    name: str
    version: str
    at: dt.datetime
    errors: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"version": self.version, "refused_at": self.at.isoformat(), "errors": list(self.errors)}


class PolicyFolderError(PolicylangError):
    """The policy folder cannot be served (missing, empty, or a policy that does not compile)."""


class PolicySet:
    """The served policies of one folder; :attr:`current` is an immutable snapshot."""

    def __init__(self, folder: str | Path, *, on_reload: Callable[[str, str], None] | None = None) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise PolicyFolderError(f"{folder}: no such folder", hint="give the folder that holds the .pol files")
        self._lock = threading.Lock()  # one refresh at a time; readers never wait
        self._on_reload = on_reload or (lambda name, result: None)
        self._seen: dict[Path, tuple[int, int]] = {}
        self.refused: Mapping[str, Refused] = MappingProxyType({})
        self.current: Mapping[str, Loaded] = MappingProxyType({})
        problems = self.refresh()
        if problems:
            raise PolicyFolderError(f"{folder}: {problems[0]}")
        if not self.current:
            raise PolicyFolderError(f"{folder}: holds no .pol files")

    def _stamp(self) -> dict[Path, tuple[int, int]]:
        # the folder's policies and scenarios, and every file a served policy includes (11.17),
        # wherever it lies: a change to any of them is a reason to look again
        included = {Path(p) for loaded in self.current.values() for p in loaded.policy.included_files}
        out = {}
        for path in sorted({*self.folder.glob("*.pol"), *self.folder.glob("*.polt"), *included}):
            try:
                st = path.stat()
            except OSError:
                continue
            out[path] = (st.st_mtime_ns, st.st_size)
        return out

    def refresh(self) -> list[str]:
        """Load whatever changed since the last call; returns the refusals' first errors."""
        with self._lock:
            stamp = self._stamp()
            if stamp == self._seen:
                return []
            self._seen = stamp
            current = dict(self.current)
            refused = dict(self.refused)
            problems: list[str] = []
            names = {p.stem: p for p in stamp if p.suffix == ".pol" and p.parent == self.folder}
            for name in list(current):
                if name not in names:  # a deleted file stops being served
                    del current[name]
                    self._on_reload(name, "removed")
            for name, path in sorted(names.items()):
                try:
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    problems.append(f"{path}: cannot be read ({exc})")
                    continue
                old = current.get(name)
                if old is not None:
                    now_included = read_included(old.policy.included_files)
                    if now_included is not None and old.version == version_of(text, now_included):
                        continue  # neither the policy nor a file it includes changed
                version = version_of(text)  # what a refusal is remembered as, before compiling
                try:
                    candidate = self._admit(path, text)
                except PolicylangError as exc:
                    errors = tuple(format_error(e) for e in exc.errors)
                    refused[name] = Refused(name, version, now(), errors)
                    problems.append(errors[0] if errors else str(exc))
                    log.warning("policy %s version %s refused: %s", name, version, errors[0] if errors else exc)
                    self._on_reload(name, "refused")
                    continue
                version = version_of(text, candidate.included_files)
                current[name] = Loaded(name, path, candidate, version, now())
                refused.pop(name, None)
                log.info("policy %s version %s in service", name, version)
                self._on_reload(name, "loaded")
            # one assignment each: a reader sees the old mapping or the new one, never a mix
            self.refused = MappingProxyType(refused)
            self.current = MappingProxyType(current)
            return problems

    def _admit(self, path: Path, text: str) -> Policy:
        """Compile ``text`` and run the folder's scenarios on it; raises when either fails."""
        policy = compile_policy(text, str(path))
        target = path.resolve()

        used: list[bool] = []

        def loader(wanted: Path) -> Policy:
            if wanted.resolve() == target:
                used.append(True)
                return policy
            return load_policy_file(wanted)

        for scenario in sorted(self.folder.glob("*.polt")):
            used.clear()
            report = run_file(scenario, loader)
            if not used:
                continue  # a scenario of another policy
            problems = list(report.problems)
            failures = report.failures
            if problems:
                raise PolicyFolderError(f"scenario {scenario.name}: {format_error(problems[0])}")
            if failures:
                first = failures[0]
                raise PolicyFolderError(
                    f"scenario {scenario.name}: {len(failures)} expectation(s) fail with this version, "
                    f"first at line {first.statement.span.line}: {first.failures[0]}"
                )
        return policy


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class Watcher:
    """A daemon thread that calls :meth:`PolicySet.refresh` every ``interval`` seconds."""

    def __init__(self, policies: PolicySet, interval: float) -> None:
        self.policies = policies
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="policylang-reload", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.policies.refresh()
            except Exception:  # the watcher must outlive any one bad refresh
                log.exception("policy reload failed")

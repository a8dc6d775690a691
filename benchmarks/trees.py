"""One checkout's ``policylang`` loaded beside this one, for the side-by-side benchmarks
(evaluator_ab.py, ingest_ab.py): each tree's modules live in their own table and are put in
``sys.modules`` while that tree's work runs, so a function's own late import finds its tree."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _ours() -> dict[str, Any]:
    return {n: m for n, m in sys.modules.items() if n == "policylang" or n.startswith("policylang.")}


class Tree:
    """One checkout's policylang with ``modules`` (full names; one this tree lacks is skipped)
    loaded up front, switched in on demand."""

    def __init__(self, label: str, folder: Path, modules: Iterable[str]) -> None:
        self.label = label
        saved = _ours()
        for name in saved:
            del sys.modules[name]
        sys.path.insert(0, str(folder))
        self.modules: dict[str, Any] = {}
        try:
            importlib.invalidate_caches()
            package = importlib.import_module("policylang")
            assert Path(package.__file__ or "").resolve().parent == (folder / "policylang").resolve(), package.__file__
            for name in modules:
                try:
                    importlib.import_module(name)
                except ImportError:  # a module this tree does not have
                    continue
            self.modules = _ours()
        finally:
            sys.path.remove(str(folder))
            for name in _ours():
                del sys.modules[name]
            sys.modules.update(saved)

    @contextmanager
    def active(self) -> Iterator[None]:
        saved = _ours()
        for name in saved:
            del sys.modules[name]
        sys.modules.update(self.modules)
        try:
            yield
        finally:
            for name in self.modules:
                sys.modules.pop(name, None)
            sys.modules.update(saved)

    def mod(self, name: str) -> Any:
        return self.modules[f"policylang.{name}"]

"""The byte code of the methods written as source for policylang's classes, kept between
runs of the ``policylang`` command (issue 11, cold start).

The decision path's classes (:mod:`policylang.slotted`) write each class's ``__init__`` as
Python source, and attrs (the syntax tree's classes, imported by a check or a first compile)
writes ``__init__``, ``__eq__``, ``__hash__``, ``__repr__`` and the like: both compile it when
the class is created, on every start of the program, which was about half of the time the
classes' modules took to import. :func:`install` (called by :mod:`policylang.launch`, the
command line only: a library user's process is left alone) hands both the code objects
compiled by an earlier run, and :func:`save` keeps the ones compiled in this run. attrs is
patched only if and when something imports it (a cached ``decide`` imports none of it).

Correct by construction: an entry is keyed by the exact source text and file name
compiled, in a file named by the interpreter's byte-code magic number, so a code object is
only ever used for the text it was compiled from, by an interpreter that reads it. A file
that cannot be read or decoded is ignored (and rewritten); nothing is kept when the cache
is off (``POLICYLANG_CACHE_DIR`` empty) or cannot be written. When attrs no longer has the
private function this replaces (with the same parameters), attrs is left as it is.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType
    from typing import Any

HEADER = b"policylang-attrs-code-1\n"
LIMIT = 512  # codes a module: far above what policylang needs (a text that changed run to run
# would add one code a run: past the bound, only the codes this run used are kept)

# attrs' name for a class's generated methods, and the name its __hash__'s salt is the hash of
METHODS, HASHED = "<attrs generated methods ", "<attrs generated hash "
TYPE_HASH = "_policylang_type_hash"

# module -> file name attrs gives a class's code -> its source text -> the code compiled from it
_codes: dict[str, dict[str, dict[str, CodeType]]] = {}
_new: set[str] = set()  # modules with codes compiled in this run
_used: set[tuple[str, str]] = set()  # (file name, text) of every code asked for in this run
_state: dict[str, Any] = {"path": None}


def _file(folder: str) -> str:
    """The files' name, with ``{}`` for the module: one file per module, so a command reads
    the codes of the modules it imports and no others."""
    try:  # the interpreter's own import machinery, loaded at its start (importlib.util is not)
        from _frozen_importlib_external import MAGIC_NUMBER
    except ImportError:  # pragma: no cover - another interpreter
        from importlib.util import MAGIC_NUMBER

    return os.path.join(folder, f"attrs-{MAGIC_NUMBER.hex()}-{{}}.code")


def _module_of(filename: str) -> str:
    # "<attrs generated methods policylang.records.Contact>" -> "policylang.records"; the
    # qualified name may hold dots too (a nested class), which only splits the files finer
    return filename.rpartition(" ")[2].rpartition(".")[0] or "_"


def _module_codes(filename: str) -> dict[str, CodeType]:
    module = _module_of(filename)
    found = _codes.get(module)
    if found is None:
        found = _codes[module] = _read(_state["path"].format(module))
    return found.setdefault(filename, {})


def _kept(script: str, filename: str, flags: int = 0) -> CodeType:
    """The code compiled from ``script`` under ``filename``: kept from an earlier run, or
    compiled now (and kept by :func:`save`)."""
    codes = _module_codes(filename)
    _used.add((filename, script))
    found = codes.get(script)
    if found is None:
        found = codes[script] = compile(script, filename, "exec", flags=flags, dont_inherit=True)
        _new.add(_module_of(filename))
    return found


def install(folder: str | None) -> bool:
    """Serve the compilations of :mod:`policylang.slotted` and of attrs (when something
    imports it) from the codes kept in ``folder`` (None: the cache is off)."""
    if folder is None or _state["path"] is not None:
        return False
    _state["path"] = _file(folder)
    from policylang import slotted

    slotted.COMPILE = _kept
    if "attr._make" in sys.modules:
        _patch_attrs(sys.modules["attr._make"])
    else:  # a decide imports no attrs: patch it only if and when something does
        sys.meta_path.insert(0, _AttrsWatch())
    return True


class _AttrsWatch:
    """A finder that, when ``attr._make`` is imported, lets the usual finder load it and
    then patches it (leaving ``sys.meta_path`` as it found it)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "attr._make":
            return None
        sys.meta_path.remove(self)
        from importlib.util import find_spec

        spec = find_spec(name)
        loader = getattr(spec, "loader", None)
        run = getattr(loader, "exec_module", None)
        if run is None:  # pragma: no cover - an unusual install: attrs as it is
            return spec

        def exec_module(module: Any) -> None:
            run(module)
            _patch_attrs(module)

        loader.exec_module = exec_module  # type: ignore[union-attr]  # this loader serves attr._make alone
        return spec


def _patch_attrs(make: Any) -> bool:
    """attrs compiles each class's methods with ``_compile_and_eval``: serve those from the
    kept codes (when that function is still there with the same parameters)."""
    original = getattr(make, "_compile_and_eval", None)
    code = getattr(original, "__code__", None)
    if code is None or code.co_varnames[:4] != ("script", "globs", "locs", "filename"):
        return False  # another attrs: leave it as it is
    # attrs compiles with the __future__ features of its own module: so do we
    import __future__

    flags = 0
    for name in __future__.all_feature_names:
        feature = getattr(make, name, None)
        if isinstance(feature, __future__._Feature):
            flags |= feature.compiler_flag

    def compile_and_eval(script: str, globs: dict[str, Any] | None, locs: Any = None, filename: str = "") -> None:
        if filename.startswith(METHODS) and globs is not None:
            # a hashable class's __hash__ starts from hash() of a name, which differs from run
            # to run (PYTHONHASHSEED): read from a global instead, so the text is the same
            type_hash = hash(HASHED + filename[len(METHODS):])
            constant = f" {type_hash},\n"
            if constant in script:
                script = script.replace(constant, f" {TYPE_HASH},\n")
                globs[TYPE_HASH] = type_hash
        eval(_kept(script, filename, flags), globs, locs)

    make._compile_and_eval = compile_and_eval
    return True


def _read(path: str) -> dict[str, dict[str, CodeType]]:
    import marshal
    from types import CodeType

    try:
        with open(path, "rb") as stream:
            data = stream.read()
        if not data.startswith(HEADER):
            return {}
        found = marshal.loads(memoryview(data)[len(HEADER):])
    except (OSError, ValueError, EOFError, TypeError):  # missing, damaged: compiled again, rewritten
        return {}
    if type(found) is not dict:
        return {}
    return {name: {text: code for text, code in codes.items() if type(text) is str and type(code) is CodeType}
            for name, codes in found.items() if type(name) is str and type(codes) is dict}


def save() -> None:
    """Keep the codes compiled in this run (each module's file whole or not at all)."""
    if not _new:
        return
    import marshal

    from policylang.compiled import write_whole

    for module in sorted(_new):
        codes = _codes[module]
        if sum(map(len, codes.values())) > LIMIT:
            codes = {name: {text: code for text, code in texts.items() if (name, text) in _used}
                     for name, texts in codes.items()}
        try:
            data = HEADER + marshal.dumps(codes)
        except ValueError:  # pragma: no cover - a constant marshal cannot write: not kept
            continue
        write_whole(_state["path"].format(module), data)
    _new.clear()

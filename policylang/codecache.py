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

Regular expressions too: the modules a decide imports (json, policylang.inputs, ingest) compile
about fifteen patterns when they are imported, each parsed and translated by ``re``'s
pure-Python compiler on every start (~4 ms in all). :func:`install` keeps what that compiler
hands the regular-expression engine (``_sre.compile``'s arguments) for each pattern text and
flags, and serves it from the next run on (:func:`_compile_pattern`). A pattern is kept only
after the pattern made from the kept arguments proved equal to the one ``re`` itself compiled.

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

PATTERNS_HEADER = b"policylang-patterns-1\n"  # then the SHA-256 of the rest, then the rest
# (pattern text, flags) -> the arguments of _sre.compile that re's compiler made for them
_patterns: dict[tuple[str | bytes, int], tuple[Any, ...]] = {}
_patterns_state: dict[str, Any] = {"path": None, "read": False, "new": False}
_patterns_used: set[tuple[str | bytes, int]] = set()


def _file(folder: str) -> str:
    """The files' name, with ``{}`` for the module: one file per module, so a command reads
    the codes of the modules it imports and no others."""
    return os.path.join(folder, f"attrs-{_magic()}-{{}}.code")


def _magic() -> str:
    """The interpreter's byte-code magic number, in hexadecimal."""
    try:  # the interpreter's own import machinery, loaded at its start (importlib.util is not)
        from _frozen_importlib_external import MAGIC_NUMBER
    except ImportError:  # pragma: no cover - another interpreter
        from importlib.util import MAGIC_NUMBER
    return str(MAGIC_NUMBER.hex())


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


def install(folder: str | None, patterns: bool = True) -> bool:
    """Serve the compilations of :mod:`policylang.slotted` and of attrs (when something
    imports it) from the codes kept in ``folder`` (None: the cache is off), and with
    ``patterns`` the regular expressions ``re`` compiles (short-lived commands only: a
    server's or editor's process compiles patterns it was not started with, which need not
    be kept, and its ``re`` is best left as Python ships it)."""
    if folder is None or _state["path"] is not None:
        return False
    _state["path"] = _file(folder)
    from policylang import slotted

    slotted.COMPILE = _kept
    if patterns:
        _patch_re(folder)
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


def _patch_re(folder: str) -> bool:
    """Serve ``re``'s compilations from the kept patterns (when its compiler is the one this
    was written against: CPython 3.11's ``re._compiler.compile(p, flags)``)."""
    import re

    compiler: Any = getattr(re, "_compiler", None)
    parser: Any = getattr(re, "_parser", None)
    original: Any = getattr(compiler, "compile", None)
    code = getattr(original, "__code__", None)
    if (code is None or code.co_varnames[:2] != ("p", "flags") or not hasattr(compiler, "_code")
            or not hasattr(parser, "parse") or not hasattr(compiler, "_sre")):
        return False  # another re: left as it is
    # the engine's own version (its code's format) in the name, beside the interpreter's
    _patterns_state["path"] = os.path.join(folder, f"patterns-{_magic()}-{compiler._sre.MAGIC}.code")
    debug = compiler.SRE_FLAG_DEBUG
    make = compiler._sre.compile

    def compile_pattern(p: Any, flags: int = 0) -> Any:
        if type(p) not in (str, bytes) or type(flags) is not int or flags & debug:
            return original(p, flags)
        key = (p, flags)
        if not _patterns_state["read"]:
            _read_patterns()
        _patterns_used.add(key)
        kept = _patterns.get(key)
        if kept is not None and _well_formed(kept):
            try:
                return make(p, *kept)
            except Exception:  # noqa: S110 - damaged (the engine checks the code it is given): made again
                pass
        expected = original(p, flags)
        import warnings

        try:
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always")
                made = _arguments(p, flags)
            again = make(p, *made)
        except Exception:  # another re than the one this was written against: nothing kept
            return expected
        if said:  # re warns of this pattern when it compiles it ("possible nested set"): not kept,
            return expected  # so every run still warns as it did
        if again == expected and again.groupindex == expected.groupindex and again.groups == expected.groups:
            _patterns[key] = made
            _patterns_state["new"] = True
        return expected

    def _arguments(p: Any, flags: int) -> tuple[Any, ...]:
        """What ``re._compiler.compile`` passes to ``_sre.compile`` for ``p`` and ``flags``."""
        parsed = parser.parse(p, flags)
        groupindex = dict(parsed.state.groupdict)
        indexgroup: list[Any] = [None] * parsed.state.groups
        for name, number in groupindex.items():
            indexgroup[number] = name
        # (the compiler's opcodes are named int subclasses: kept as the plain numbers they are)
        code = list(map(int, compiler._code(parsed, flags)))
        return (flags | parsed.state.flags, code, parsed.state.groups - 1, groupindex, tuple(indexgroup))

    compiler.compile = compile_pattern
    return True


def _read_patterns() -> None:
    _patterns_state["read"] = True
    import marshal

    try:
        with open(_patterns_state["path"], "rb") as stream:
            data = stream.read()
        # header, the payload's SHA-256 (a damaged byte of a kept code could still be a valid
        # pattern, a wrong one: never used), payload
        start = len(PATTERNS_HEADER) + 32
        if not data.startswith(PATTERNS_HEADER) or data[len(PATTERNS_HEADER):start] != _digest(data[start:]):
            return
        found = marshal.loads(memoryview(data)[start:])
    except (OSError, ValueError, EOFError, TypeError):  # missing, damaged: compiled again, rewritten
        return
    if type(found) is dict:  # each entry's form is checked when it is used (_well_formed)
        _patterns.update(found)


def _digest(data: bytes) -> bytes:
    from policylang.compiled import _sha256

    digest = _sha256()
    digest.update(data)
    return bytes(digest.digest())


def _well_formed(made: Any) -> bool:
    """Whether a kept entry has the form of ``_sre.compile``'s arguments (a damaged file)."""
    return (type(made) is tuple and len(made) == 5 and type(made[0]) is int and type(made[1]) is list
            and type(made[2]) is int and type(made[3]) is dict and type(made[4]) is tuple)


def _save_patterns() -> None:
    if not _patterns_state["new"]:
        return
    import marshal

    from policylang.compiled import write_whole

    kept = _patterns
    if len(kept) > LIMIT:  # bounded: past it, only the patterns this run used
        kept = {key: made for key, made in kept.items() if key in _patterns_used}
    try:
        payload = marshal.dumps(kept)
    except ValueError:  # pragma: no cover - marshal cannot write it: not kept
        return
    data = PATTERNS_HEADER + _digest(payload) + payload
    write_whole(_patterns_state["path"], data)
    _patterns_state["new"] = False


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
    """Keep the codes compiled in this run (each module's file whole or not at all), and the
    regular expressions."""
    _save_patterns()
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

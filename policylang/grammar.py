"""Finding and loading the Lark grammars, and the shared post-lexer.

The ``.lark`` files live in the top-level ``grammar/`` folder; a wheel carries them as
``policylang/_grammar``. The post-lexer implements the line rules of the language:
a newline after a comma or inside parentheses continues the statement, and the
indentation of a ``customer`` block becomes _INDENT/_DEDENT tokens.
"""

from __future__ import annotations

import functools
import pickle
import re
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lark import Lark, Token
from lark.exceptions import UnexpectedToken


def grammar_path(name: str) -> Path:
    """The path of ``grammar/NAME``, installed or in a source tree."""
    here = Path(__file__).resolve().parent
    for folder in (here / "_grammar", here.parent / "grammar"):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"policylang grammar file {name!r} is missing from the installation")


class LineJoiner:
    """Post-lexer: drops continued newlines and tracks indentation."""

    always_accept = ("_NL",)

    def __init__(self, continue_indented: bool = False) -> None:
        # 11.0: in a policy, an indented line outside a `customer` block continues the
        # statement above (scenarios ignore indentation instead).
        self.continue_indented = continue_indented

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        # No look-ahead here: the contextual lexer lexes each token in the parser state
        # reached by the tokens already yielded, so every token must go out at once.
        depth = 0
        previous: Token | None = None
        levels = [0]
        for token in stream:
            if token.type == "_NL":
                if depth > 0 or previous is None or previous.type in ("COMMA", "_NL"):
                    continue
                if self.continue_indented and levels == [0] and previous.type != "CUSTOMER" and _indent(token) > 0:
                    continue
                previous = token
                yield from self._newline(token, levels)
                continue
            if token.type == "LPAR":
                depth += 1
            elif token.type == "RPAR" and depth > 0:
                depth -= 1
            previous = token
            yield token
        if previous is not None and previous.type != "_NL":
            yield self._make(previous, "_NL", "\n")
        for _ in levels[1:]:
            yield self._make(previous, "_DEDENT", "")

    def _newline(self, token: Token, levels: list[int]) -> Iterator[Token]:
        indent = _indent(token)
        yield token
        if indent > levels[-1]:
            levels.append(indent)
            yield self._make(token, "_INDENT", "")
            return
        while indent < levels[-1]:
            levels.pop()
            yield self._make(token, "_DEDENT", "")
        if indent != levels[-1]:
            raise UnexpectedToken(self._make(token, "_INDENT", ""), {"_NL"})  # type: ignore[no-untyped-call]

    @staticmethod
    def _make(like: Token | None, kind: str, value: str) -> Token:
        if like is None:
            return Token(kind, value, 0, 1, 1, 1, 1, 0)
        return Token.new_borrow_pos(kind, value, like)


def _indent(newline: Token) -> int:
    """The indentation of the line a newline token leads to."""
    last_line = str(newline).rsplit("\n", 1)[-1].expandtabs(8)
    return len(last_line) - len(last_line.lstrip(" "))


@functools.cache
def load_grammar(name: str, start: str = "start") -> Lark:
    """Build (or load from the cache) the LALR parser for ``grammar/NAME``."""
    path = grammar_path(name)
    # Key the cache on every grammar file: scenario.lark imports policy.lark's terminals.
    stamp = "-".join(str(p.stat().st_mtime_ns) for p in sorted(path.parent.glob("*.lark")))
    cache_file = _cache_file(f"grammar-{name}-{zlib.crc32(stamp.encode()):08x}.cache")
    parser = build_parser(name, start, cache_file)
    patterns = None if cache_file is None else PatternCache.for_file(
        cache_file.with_suffix(f".{sys.implementation.cache_tag}.re"))
    if patterns is not None:
        patterns.install(parser)
    return parser


def build_parser(name: str, start: str = "start", cache_file: Path | None = None) -> Lark:
    """The LALR parser for ``grammar/NAME`` with policylang's options; Lark's tables kept
    in ``cache_file`` when one is given (tests build it without, as the reference)."""
    path = grammar_path(name)
    return Lark(
        path.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        postlex=LineJoiner(continue_indented=name == "policy.lark"),
        propagate_positions=True,
        maybe_placeholders=False,
        start=start,
        cache=False if cache_file is None else str(cache_file),
        import_paths=[path.parent],
    )


def _cache_file(name: str) -> Path | None:
    """Where a grammar's tables and patterns are kept: the user's own cache folder (that of
    compiled policies, ``POLICYLANG_CACHE_DIR``), not the shared temporary folder, because
    both files are unpickled and anyone can write in /tmp. None (no cache) when caching is
    off or the folder cannot be made."""
    from policylang.compiled import cache_folder  # noqa: PLC0415 - stdlib only, no cycle

    folder = cache_folder()
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder / name


def _lexers(parser: Lark) -> list[Any]:
    """Every basic lexer of a contextual-lexer parser (one per set of acceptable terminals)."""
    contextual = getattr(getattr(parser.parser, "lexer", None), "lexer", None)
    lexers = getattr(contextual, "lexers", None)
    if not isinstance(lexers, dict):
        return []
    return [*{id(lexer): lexer for lexer in lexers.values()}.values(), contextual.root_lexer]  # type: ignore[union-attr]


class PatternCache:
    """Stands in for the ``re`` module in Lark's lexers, so their regexes are compiled once.

    Why: Lark's contextual lexer builds one scanner per parser state the first time that
    state lexes a token, each a union of the terminals that state accepts; compiling those
    regexes is most of a cold `policylang check` after the imports (about 57 scanners for
    examples/northwind.pol, 30-90 ms), and Lark's own ``cache=`` keeps only the tables.

    A compiled pattern is CPython's pattern parser and compiler output (the SRE code, a list
    of integers) handed to ``_sre.compile``; this keeps that output in a file next to Lark's
    cache, keyed by the grammar files' stamps and the interpreter's byte-code tag, and
    rebuilds each pattern from it (``_sre.compile`` checks the code it is given). The first
    run builds every scanner of the grammar and writes the file. Anything unexpected (an
    interpreter without ``re._compiler``, an unreadable or stale file, a pattern not in it)
    falls back to ``re.compile``, so the patterns are the same either way; tests compare
    every one.
    """

    error = re.error

    def __init__(self, stored: dict[tuple[str, int], tuple[Any, ...]], path: Path) -> None:
        self.stored = stored
        self.path = path
        self.compiled: dict[tuple[str, int], re.Pattern[str]] = {}
        self.recorded: dict[tuple[str, int], tuple[Any, ...]] = {}  # compiled here, not from the file

    @classmethod
    def for_file(cls, path: Path) -> PatternCache | None:
        """The cache kept in ``path`` (an empty one if there is none yet), or None when unsupported."""
        if not hasattr(re, "_compiler") or not hasattr(re._compiler, "_code"):
            return None
        try:
            with path.open("rb") as stream:
                stored = pickle.load(stream)
        except Exception:  # missing, unreadable or damaged: start again
            stored = None
        return cls(stored if isinstance(stored, dict) else {}, path)

    def install(self, parser: Lark) -> None:
        """Make every lexer of ``parser`` compile through this cache (and fill the file once)."""
        lexers = _lexers(parser)
        for lexer in lexers:
            lexer.re = self
        if self.stored or not lexers:
            return
        for lexer in lexers:  # first run: build every scanner, keep what they compiled
            lexer.scanner  # noqa: B018 - the property builds and keeps the scanner
        self.stored = self.recorded
        from policylang.compiled import write_whole  # noqa: PLC0415 - stdlib only, no cycle

        # a read-only or full cache folder: not kept, same patterns
        write_whole(str(self.path), pickle.dumps(self.stored, protocol=pickle.HIGHEST_PROTOCOL))

    def compile(self, pattern: str, flags: int = 0) -> re.Pattern[str]:
        """``re.compile(pattern, flags)``, rebuilt from the stored SRE code when there is one."""
        key = (pattern, flags)
        found = self.compiled.get(key)
        if found is not None:
            return found
        parts = self.stored.get(key)
        compiled: re.Pattern[str] | None = None
        if parts is not None:
            try:
                compiled = _sre_compile(pattern, *parts)
            except Exception:  # a file written by another build of the interpreter
                compiled = None
        if compiled is None:
            compiled, parts = _compile_keeping_code(pattern, flags)
            if parts is not None:
                self.recorded[key] = parts
        self.compiled[key] = compiled
        return compiled

    def match(self, pattern: str, text: str, flags: int = 0) -> re.Match[str] | None:
        """``re.match``, through :meth:`compile`."""
        return self.compile(pattern, flags).match(text)


def _sre_compile(pattern: str, *parts: Any) -> re.Pattern[str]:
    import _sre  # type: ignore[import-not-found]  # noqa: PLC0415 - CPython's regex engine, only here

    compiled: re.Pattern[str] = _sre.compile(pattern, *parts)
    return compiled


def _compile_keeping_code(pattern: str, flags: int) -> tuple[re.Pattern[str], tuple[Any, ...] | None]:
    """``re.compile``, and the arguments ``_sre.compile`` was given (None if they cannot be had).

    The same steps as CPython's ``re._compiler.compile`` (3.11 to 3.13): parse, generate
    code, map group names. The pattern returned is built from those arguments, so what is
    stored is exactly what was used.
    """
    try:
        compiler: Any = re._compiler  # type: ignore[attr-defined]
        parsed = compiler._parser.parse(pattern, flags)
        code = [int(op) for op in compiler._code(parsed, flags)]  # plain ints: opcodes are named int subclasses
        groupindex = dict(parsed.state.groupdict)
        indexgroup: list[str | None] = [None] * parsed.state.groups
        for group, index in groupindex.items():
            indexgroup[index] = group
        parts = (int(flags | parsed.state.flags), code, parsed.state.groups - 1, groupindex, tuple(indexgroup))
        return _sre_compile(pattern, *parts), parts
    except Exception:  # not the compiler this was written for
        return re.compile(pattern, flags), None

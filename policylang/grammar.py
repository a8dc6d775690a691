"""Finding and loading the Lark grammars, and the shared post-lexer.

The ``.lark`` files live in the top-level ``grammar/`` folder; a wheel carries them as
``policylang/_grammar``. The post-lexer implements the line rules of the language:
a newline after a comma or inside parentheses continues the statement, and the
indentation of a ``customer`` block becomes _INDENT/_DEDENT tokens.
"""

from __future__ import annotations

import functools
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

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
    cache_file = Path(tempfile.gettempdir()) / f"policylang-{name}-{zlib.crc32(stamp.encode()):08x}.cache"
    return Lark(
        path.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        postlex=LineJoiner(continue_indented=name == "policy.lark"),
        propagate_positions=True,
        maybe_placeholders=False,
        start=start,
        cache=str(cache_file),
        import_paths=[path.parent],
    )

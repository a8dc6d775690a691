"""Pygments lexers for policies (``.pol``) and scenarios (``.polt``).

Registered as Pygments plugins (``pygmentize -l policylang``); the REPL uses the
scenario lexer to colour what is typed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, cast

from pygments.lexer import RegexLexer, words
from pygments.lexer import bygroups as _bygroups
from pygments.token import (
    Comment,
    Keyword,
    Literal,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

POLICY_STATEMENTS = (
    "policy", "timezone", "channels", "teams", "purposes", "outcomes", "events", "customer",
    "owner", "precedence",
    "include", "pack",  # 11.17
)
RULE_KINDS = ("cap", "capacity", "quiet", "exclude", "require", "exclusive", "exempt")
POLICY_WORDS = (
    "at", "most", "per", "for", "each", "consecutive", "calendar", "no", "outside", "between",
    "and", "on", "within", "after", "with", "outcome", "when", "least", "before", "from", "by",
    "except", "any", "is", "not", "in", "or", "one", "of", "set",
    # section 11
    "warn", "zone", "until", "counting", "only", "ago", "starts", "holidays", "hold", "up", "to",
    "cite", "version", "as",  # 11.17
)
TYPES = ("flag", "number", "text", "zone", "date", "team", "channel", "purpose", "instant", "zones", "region")
UNITS = (
    "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks", "month", "months", "quarter",
    "year", "years",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "weekend",
)

SCENARIO_STATEMENTS = ("use", "now", "customer", "expect", "ask")
SCENARIO_WORDS = (
    "had", "plans", "event", "at", "by", "with", "outcome", "campaign", "priority", "is",
    "next", "displaces", "nothing", "and", "warns", "voided", "because", "id",
)
# pygments ships bygroups untyped
bygroups = cast(Callable[..., Any], _bygroups)

REPL_COMMANDS = ("why", "when", "advance", "reload", "save", "timeline", "rules", "customers", "help", "quit", "exit")

_COMMON: list[tuple[str, object]] = [
    (r"#.*$", Comment.Single),
    (r'"(?:[^"\\\n]|\\.)*"', String.Double),
    (r"\d{4}-\d{2}-\d{2}(T\d{1,2}:\d{2}(:\d{2})?)?", Literal.Date),
    (r"\d{1,2}:\d{2}", Literal.Date),
    (r"-?\d+(\.\d+)?", Number),
    (r"\s+", Whitespace),
]


class PolicyLexer(RegexLexer):
    """Contact policies (``*.pol``)."""

    name = "policylang"
    aliases: ClassVar[list[str]] = ["policylang", "pol"]
    filenames: ClassVar[list[str]] = ["*.pol"]

    tokens: ClassVar[dict[str, list[object]]] = {
        "root": [
            (r"(customer)(\s*\.\s*)([a-z_][a-z0-9_]*)", bygroups(Keyword, Punctuation, Name.Attribute)),
            (words(RULE_KINDS, prefix=r"^", suffix=r"\b"), Keyword.Declaration),
            (words(POLICY_STATEMENTS, prefix=r"^", suffix=r"\b"), Keyword.Namespace),
            (words(POLICY_WORDS, prefix=r"\b", suffix=r"\b"), Keyword),
            (words(TYPES, prefix=r"\b", suffix=r"\b"), Keyword.Type),
            (words(UNITS, prefix=r"\b", suffix=r"\b"), Name.Builtin),
            (words(("true", "false"), suffix=r"\b"), Keyword.Constant),
            (r"<=|>=|==|!=|<|>|-", Operator),
            (r"[:,()]", Punctuation),
            *_COMMON,
            (r"[a-z_][a-z0-9_]*", Name),
            (r".", Text),
        ]
    }


class ScenarioLexer(RegexLexer):
    """Scenarios (``*.polt``) and REPL input."""

    name = "policylang scenario"
    aliases: ClassVar[list[str]] = ["policylang-scenario", "polt"]
    filenames: ClassVar[list[str]] = ["*.polt"]

    tokens: ClassVar[dict[str, list[object]]] = {
        "root": [
            (r"^(\s*)(customer|expect|ask)(\s+)([a-z_][a-z0-9_]*)",
             bygroups(Whitespace, Keyword.Namespace, Whitespace, Name.Variable)),
            (r"^(\s*)([a-z_][a-z0-9_]*)(\s+)(had|plans)\b",
             bygroups(Whitespace, Name.Variable, Whitespace, Keyword.Namespace)),
            (words(SCENARIO_STATEMENTS + REPL_COMMANDS, prefix=r"^\s*", suffix=r"\b"), Keyword.Namespace),
            (r"\b(is\s+)(allowed)\b", bygroups(Keyword, Keyword.Constant)),
            (r"\b(is\s+)(denied)\b", bygroups(Keyword, Keyword.Constant)),
            (r"\b(allowed|never)\b", Keyword.Constant),
            (words(SCENARIO_WORDS, prefix=r"\b", suffix=r"\b"), Keyword),
            (words(("true", "false"), suffix=r"\b"), Keyword.Constant),
            (r"Z\b|[+-]\d{2}:\d{2}|\[[^\]\n]*\]", Literal.Date),
            (r"[:,()]", Punctuation),
            *_COMMON,
            (r"[a-z_][a-z0-9_]*", Name),
            (r".", Text),
        ]
    }

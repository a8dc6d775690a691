"""Policy text to AST: runs the Lark parser and turns its tree into :mod:`policylang.ast`.

Syntax errors are translated into plain words: never a Lark terminal name, always the
line, the column and what the author could have written there.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lark import Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from policylang import ast
from policylang.errors import PolicySyntaxError, did_you_mean
from policylang.grammar import load_grammar
from policylang.source import Source, Span

# How the parser's expectations read to a person.
TERMINAL_WORDS = {
    "NAME": "a name",
    "STRING": 'a quoted name like "offers per month"',
    "INT": "a whole number",
    "NUMBER": "a number",
    "DATE": "a date like 2026-12-25",
    "CLOCK": "a clock time like 08:00",
    "_NL": "the end of the line",
    "_INDENT": "an indented line",
    "_DEDENT": "the end of the indented block",
    "$END": "the end of the file",
    "VOCAB_KIND": "`channels`, `teams`, `purposes`, `outcomes` or `events`",
    "SIMPLE_TYPE": "a type (flag, number, text, zone, date, team, channel, purpose, one of ..., set of ...)",
    "SET_ELEMENT": "channel, team, purpose or text",
    "TIME_UNIT": "minutes, hours, days or weeks",
    "DAY_UNIT": "days",
    "CALENDAR_UNIT": "day, week, month, quarter or year",
    "GROUP": "team, channel, purpose or campaign",
    "RULE_KIND": "a rule kind (cap, capacity, quiet, exclude, require, exclusive) or a quoted rule name",
    "REQUEST_FIELD": "channel, team or purpose",
    "COMPARISON": "a comparison (<, <=, >, >=, ==, !=)",
    "OWNER": "`owner`",
    "ANY": "`any`",
    "TRUE": "`true`",
    "FALSE": "`false`",
}

STATEMENT_KEYWORDS = ["policy", "timezone", "channels", "teams", "purposes", "outcomes", "events", "customer", "owner", "precedence", "cap", "capacity", "quiet", "exclude", "require", "exclusive", "exempt"]

KEYWORDS = frozenset(
    STATEMENT_KEYWORDS
    + ["at", "most", "per", "for", "each", "consecutive", "calendar", "no", "outside", "between", "and", "on", "within", "after", "with", "outcome", "when", "least", "before", "from", "by", "except", "any", "is", "not", "in", "or", "one", "of", "set", "true", "false", "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks", "month", "quarter", "year"]
)


def _span(file: str, meta: Any) -> Span:
    if getattr(meta, "empty", False) or not hasattr(meta, "line"):
        return Span(file, 0, 0, 0, 0)
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def token_span(file: str, token: Token) -> Span:
    """The span of one token."""
    line = token.line or 0
    column = token.column or 0
    end_line = token.end_line or line
    end_column = token.end_column or column + len(str(token))
    return Span(file, line, column, end_line, end_column)


def unquote(token: Token) -> str:
    """The text of a STRING token without quotes and escapes."""
    body = str(token)[1:-1]
    return body.replace('\\"', '"').replace("\\\\", "\\")


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    """Builds AST nodes bottom-up; every node gets its span."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def _s(self, meta: Any) -> Span:
        return _span(self.file, meta)

    def _name(self, token: Token) -> ast.Name:
        return ast.Name(str(token), token_span(self.file, token))

    # -- declarations --
    def start(self, meta: Any, items: list[Any]) -> list[Any]:
        return items

    def policy_name(self, meta: Any, items: list[Token]) -> ast.PolicyName:
        return ast.PolicyName(unquote(items[0]), self._s(meta))

    def policy_timezone(self, meta: Any, items: list[Token]) -> ast.PolicyTimezone:
        return ast.PolicyTimezone(unquote(items[0]), self._s(meta))

    def vocabulary(self, meta: Any, items: list[Any]) -> ast.Vocabulary:
        return ast.Vocabulary(str(items[0]), items[1], self._s(meta))

    def name_list(self, meta: Any, items: list[Token]) -> tuple[ast.Name, ...]:
        return tuple(self._name(t) for t in items)

    def customer_block(self, meta: Any, items: list[ast.Attribute]) -> ast.CustomerBlock:
        return ast.CustomerBlock(tuple(items), self._s(meta))

    def attribute(self, meta: Any, items: list[Any]) -> ast.Attribute:
        return ast.Attribute(self._name(items[0]), items[1], self._s(meta))

    def simple_type(self, meta: Any, items: list[Token]) -> ast.AttrType:
        return ast.AttrType(str(items[0]), span=self._s(meta))

    def enum_type(self, meta: Any, items: list[Token]) -> ast.AttrType:
        return ast.AttrType("enum", tuple(self._name(t) for t in items), span=self._s(meta))

    def set_type(self, meta: Any, items: list[Token]) -> ast.AttrType:
        return ast.AttrType("set", element=str(items[0]), span=self._s(meta))

    def owner_decl(self, meta: Any, items: list[ast.AttrRef]) -> ast.OwnerDecl:
        return ast.OwnerDecl(items[0], self._s(meta))

    def precedence(self, meta: Any, items: list[ast.Name]) -> ast.Precedence:
        return ast.Precedence(tuple(items), self._s(meta))

    def team_ref(self, meta: Any, items: list[Token]) -> ast.Name:
        return self._name(items[0])

    # -- selectors --
    def selector(self, meta: Any, items: list[Any]) -> ast.Selector:
        names: tuple[ast.Name, ...] = ()
        by: tuple[ast.Name, ...] = ()
        excepts: tuple[ast.Name, ...] = ()
        for kind, value in items:
            if kind == "names":
                names = value
            elif kind == "by":
                by = value
            else:
                excepts = value
        return ast.Selector(names, by, excepts, self._s(meta))

    def selector_names(self, meta: Any, items: list[Any]) -> tuple[str, tuple[ast.Name, ...]]:
        names: list[ast.Name] = []
        for item in items:
            if isinstance(item, tuple):
                names.extend(item[1])
            else:
                names.append(item)
        return ("names", tuple(names))

    def selector_name(self, meta: Any, items: list[Token]) -> ast.Name:
        return self._name(items[0])

    def by_clause(self, meta: Any, items: list[ast.Name]) -> tuple[str, tuple[ast.Name, ...]]:
        return ("by", tuple(items))

    def except_clause(self, meta: Any, items: list[Token]) -> tuple[str, tuple[ast.Name, ...]]:
        return ("except", tuple(self._name(t) for t in items))

    # -- windows and durations --
    def duration(self, meta: Any, items: list[Token]) -> ast.Duration:
        return ast.Duration(int(items[0]), str(items[1]).rstrip("s"), self._s(meta))

    def rolling_window(self, meta: Any, items: list[Token]) -> ast.RollingWindow:
        length = ast.Duration(int(items[0]), str(items[1]).rstrip("s"), self._s(meta))
        return ast.RollingWindow(length, self._s(meta))

    def consecutive_window(self, meta: Any, items: list[Token]) -> ast.ConsecutiveDays:
        return ast.ConsecutiveDays(int(items[0]), self._s(meta))

    def calendar_window(self, meta: Any, items: list[Token]) -> ast.CalendarWindow:
        return ast.CalendarWindow(str(items[0]), self._s(meta))

    def for_each(self, meta: Any, items: list[Token]) -> str:
        return str(items[0])

    # -- rules --
    def _rule_head(self, meta: Any, items: list[Any]) -> tuple[str, Span]:
        return unquote(items[0]), token_span(self.file, items[0])

    def _cap(self, kind: str, meta: Any, items: list[Any]) -> ast.Cap:
        name, name_span = self._rule_head(meta, items)
        for_each = items[4] if len(items) > 4 else None
        return ast.Cap(
            kind, name, int(items[1]), items[2], items[3], for_each, self._s(meta), name_span
        )

    def cap(self, meta: Any, items: list[Any]) -> ast.Cap:
        return self._cap("cap", meta, items)

    def capacity(self, meta: Any, items: list[Any]) -> ast.Cap:
        return self._cap("capacity", meta, items)

    def quiet(self, meta: Any, items: list[Any]) -> ast.Quiet:
        name, name_span = self._rule_head(meta, items)
        return ast.Quiet("quiet", name, items[1], items[2], self._s(meta), name_span)

    def outside(self, meta: Any, items: list[Token]) -> ast.Outside:
        return ast.Outside(str(items[0]), str(items[1]), self._s(meta))

    def between(self, meta: Any, items: list[Token]) -> ast.Between:
        return ast.Between(str(items[0]), str(items[1]), self._s(meta))

    def on_days(self, meta: Any, items: list[ast.Name]) -> ast.OnDays:
        return ast.OnDays(tuple(items), self._s(meta))

    def day(self, meta: Any, items: list[Token]) -> ast.Name:
        return self._name(items[0])

    def within_after(self, meta: Any, items: list[Any]) -> ast.WithinAfter:
        outcome, for_each = _trigger_options(items[2:])
        return ast.WithinAfter(items[0], None, items[1], outcome, for_each, self._s(meta))

    def within_days_after(self, meta: Any, items: list[Any]) -> ast.WithinAfter:
        outcome, for_each = _trigger_options(items[3:])
        return ast.WithinAfter(None, int(items[0]), items[2], outcome, for_each, self._s(meta))

    def outcome(self, meta: Any, items: list[Token]) -> ast.Name:
        return self._name(items[0])

    def exclude(self, meta: Any, items: list[Any]) -> ast.Exclude:
        name, name_span = self._rule_head(meta, items)
        return ast.Exclude("exclude", name, items[1], items[2], self._s(meta), name_span)

    def require(self, meta: Any, items: list[Any]) -> ast.Require:
        name, name_span = self._rule_head(meta, items)
        outcome = at_least = within = None
        for item in items[3:]:
            if isinstance(item, ast.Name):
                outcome = item
            elif isinstance(item, tuple) and item[0] == "at_least":
                at_least = item[1]
            elif isinstance(item, tuple):
                within = item[1]
        return ast.Require(
            "require", name, items[1], items[2], outcome, at_least, within, self._s(meta), name_span
        )

    def at_least(self, meta: Any, items: list[Any]) -> tuple[str, ast.Duration]:
        return ("at_least", items[0])

    def within(self, meta: Any, items: list[Any]) -> tuple[str, ast.Duration]:
        return ("within", items[0])

    def exclusive(self, meta: Any, items: list[Any]) -> ast.Exclusive:
        name, name_span = self._rule_head(meta, items)
        return ast.Exclusive("exclusive", name, items[1], items[2], self._s(meta), name_span)

    def exempt(self, meta: Any, items: list[Any]) -> ast.Exempt:
        name, name_span = self._rule_head(meta, items)
        return ast.Exempt("exempt", name, items[1], tuple(items[2:]), self._s(meta), name_span)

    def exempt_target(self, meta: Any, items: list[Token]) -> ast.ExemptTarget:
        token = items[0]
        if token.type == "STRING":
            return ast.ExemptTarget(unquote(token), False, self._s(meta))
        return ast.ExemptTarget(str(token), True, self._s(meta))

    # -- conditions --
    def attr_ref(self, meta: Any, items: list[Token]) -> ast.AttrRef:
        return ast.AttrRef(str(items[0]), self._s(meta))

    def value(self, meta: Any, items: list[Token]) -> ast.Value:
        return literal_value(items[0], self.file)

    def any_of(self, meta: Any, items: list[ast.Condition]) -> ast.AnyOf:
        return ast.AnyOf(tuple(items), self._s(meta))

    def all_of(self, meta: Any, items: list[ast.Condition]) -> ast.AllOf:
        return ast.AllOf(tuple(items), self._s(meta))

    def negation(self, meta: Any, items: list[ast.Condition]) -> ast.Not:
        return ast.Not(items[0], self._s(meta))

    def flag_test(self, meta: Any, items: list[ast.AttrRef]) -> ast.FlagTest:
        return ast.FlagTest(items[0], self._s(meta))

    def is_test(self, meta: Any, items: list[Any]) -> ast.Compare:
        return ast.Compare(items[0], "is", items[1], self._s(meta))

    def is_not_test(self, meta: Any, items: list[Any]) -> ast.Compare:
        return ast.Compare(items[0], "is not", items[1], self._s(meta))

    def in_test(self, meta: Any, items: list[Any]) -> ast.InList:
        return ast.InList(items[0], tuple(items[1:]), False, self._s(meta))

    def not_in_test(self, meta: Any, items: list[Any]) -> ast.InList:
        return ast.InList(items[0], tuple(items[1:]), True, self._s(meta))

    def compare_test(self, meta: Any, items: list[Any]) -> ast.Compare:
        return ast.Compare(items[0], str(items[1]), items[2], self._s(meta))

    def member_test(self, meta: Any, items: list[Any]) -> ast.Member:
        return ast.Member(str(items[0]), items[1], False, self._s(meta))

    def not_member_test(self, meta: Any, items: list[Any]) -> ast.Member:
        return ast.Member(str(items[0]), items[1], True, self._s(meta))


def _trigger_options(items: list[Any]) -> tuple[ast.Name | None, str | None]:
    """The optional ``with outcome O`` and ``for each G`` after a quiet trigger."""
    outcome = next((i for i in items if isinstance(i, ast.Name)), None)
    for_each = next((i for i in items if isinstance(i, str)), None)
    return outcome, for_each


def literal_value(token: Token, file: str) -> ast.Value:
    """A condition literal from its token; dates are checked here, so 2026-02-30 fails early."""
    span = token_span(file, token)
    kind = token.type
    text = str(token)
    if kind == "DATE":
        try:
            return ast.Value("date", dt.date.fromisoformat(text), span)
        except ValueError:
            raise PolicySyntaxError(f"`{text}` is not a real date", span) from None
    if kind == "NUMBER":
        return ast.Value("number", float(text), span)
    if kind == "STRING":
        return ast.Value("text", unquote(token), span)
    if kind in ("TRUE", "FALSE"):
        return ast.Value("bool", kind == "TRUE", span)
    return ast.Value("name", text, span)


def describe_expected(expected: set[str], parser_terminals: dict[str, Any]) -> str:
    """``a name, `per` or the end of the line`` from a set of terminal names."""
    if {"CAP", "QUIET", "EXCLUDE", "VOCAB_KIND"} <= expected:
        return "a statement: " + ", ".join(STATEMENT_KEYWORDS[:-1]) + " or " + STATEMENT_KEYWORDS[-1]
    words: list[str] = []
    for name in sorted(expected):
        if name in TERMINAL_WORDS:
            word = TERMINAL_WORDS[name]
        else:
            term = parser_terminals.get(name)
            pattern = getattr(term, "pattern", None)
            if pattern is not None and type(pattern).__name__ == "PatternStr":
                word = f"`{pattern.value}`"
            else:
                word = name.lower()
        if word not in words:
            words.append(word)
    words.sort(key=lambda w: (not w.startswith("`"), w))
    if len(words) > 8:
        words = words[:8] + ["..."]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _found(token: Token) -> str:
    if token.type == "_NL":
        return "end of the line"
    if token.type == "$END":
        return "end of the file"
    if token.type == "_DEDENT":
        return "line that is not indented"
    return f"`{token}`"


def acceptable(exc: UnexpectedInput, fallback: set[str]) -> set[str]:
    """The terminals the parser would really accept where it failed.

    Lark's own sets are too wide: the lexer adds terminals every state accepts (the
    post-lexer's newline), and LALR merges the look-aheads of states with one core, so
    after ``precedence cards`` it would also offer ``from`` or ``on``. Feeding each
    candidate to a copy of the parser state keeps only those that would be shifted.
    """
    state = getattr(exc, "state", None)
    try:
        candidates = state.parse_conf.parse_table.states[state.position]  # type: ignore[union-attr]
    except (AttributeError, KeyError, TypeError):
        return fallback
    accepted: set[str] = set()
    for name in candidates:
        if not name.isupper() and name != "$END":
            continue
        trial = state.copy()  # type: ignore[union-attr]
        try:
            trial.feed_token(Token(name, ""), name == "$END")
        except UnexpectedInput:
            continue
        except Exception:  # a tree callback choking on the empty probe still means "accepted"
            pass
        accepted.add(name)
    return accepted or fallback


def syntax_error(exc: UnexpectedInput, source: Source, terminals: dict[str, Any]) -> PolicySyntaxError:
    """A plain-words error for a Lark parse failure."""
    file = source.name
    if isinstance(exc, UnexpectedCharacters):
        line_text = source.line(exc.line)
        char = line_text[exc.column - 1 : exc.column] or "?"
        span = Span.point(file, exc.line, exc.column)
        word = _word_at(line_text, exc.column)
        hint = None
        if word and word.lower() != word and word.lower() in KEYWORDS:
            hint = f"keywords are lower case: write `{word.lower()}`"
        elif word and word != word.lower():
            hint = "names are written in lower case letters, digits and _"
        elif char == '"':
            hint = 'a quoted name ends with `"` on the same line'
        allowed = acceptable(exc, set(exc.allowed or ()))
        expected = describe_expected(allowed, terminals) if allowed else None
        return PolicySyntaxError(
            f"unexpected character `{char}`", span, expected=expected, hint=hint, source=source
        )
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "_INDENT":
            return _indent_error(exc, source)
        span = _token_error_span(file, token, source)
        wanted = acceptable(exc, set(exc.expected))
        expected = describe_expected(wanted, terminals)
        hint = _token_hint(token, wanted, terminals)
        return PolicySyntaxError(
            f"unexpected {_found(token)}", span, expected=expected, hint=hint, source=source
        )
    if isinstance(exc, UnexpectedEOF):
        lines = source.text.splitlines() or [""]
        span = Span.point(file, len(lines), len(lines[-1]) + 1)
        expected = describe_expected(set(exc.expected), terminals)
        return PolicySyntaxError("the file ends too early", span, expected=expected, source=source)
    return PolicySyntaxError(str(exc), Span.point(file, 1, 1), source=source)


def _indent_error(exc: UnexpectedToken, source: Source) -> PolicySyntaxError:
    """Indentation where none belongs, or a customer attribute out of line."""
    token = exc.token
    # the indentation token borrows the position of the newline that ends the line above
    line = token.end_line if token.end_line and token.end_line > (token.line or 0) else (token.line or 0) + 1
    span = Span.point(source.name, line, 1, len(source.line(line)) - len(source.line(line).lstrip()) or 1)
    if exc.expected == {"_NL"}:  # the post-lexer: a dedent to a level never used
        message = "this line's indentation does not match the lines above it"
    elif "NAME" in acceptable(exc, set(exc.expected)):
        message = "this line is indented more than the attribute above it"
    else:
        message = "this line is indented, but only the attributes of a `customer` block are"
    return PolicySyntaxError(
        message,
        span,
        hint="indent every attribute of a customer block by the same amount; start other lines at the margin",
        source=source,
    )


def _word_at(line: str, column: int) -> str:
    start = column - 1
    end = start
    while end < len(line) and (line[end].isalnum() or line[end] == "_"):
        end += 1
    return line[start:end]


def _token_error_span(file: str, token: Token, source: Source) -> Span:
    if token.type in ("_NL", "$END", "_DEDENT"):
        line = token.line or 1
        text = source.line(line)
        column = len(text.split("#", 1)[0].rstrip()) + 1
        return Span.point(file, line, max(column, 1))
    return token_span(file, token)


def _token_hint(token: Token, expected: set[str], terminals: dict[str, Any]) -> str | None:
    if token.type == "NAME":
        keywords = []
        for name in expected:
            pattern = getattr(terminals.get(name), "pattern", None)
            if pattern is not None and type(pattern).__name__ == "PatternStr":
                keywords.append(pattern.value)
        if "VOCAB_KIND" in expected:
            keywords += ["channels", "teams", "purposes", "outcomes", "events"]
        if str(token) in STATEMENT_KEYWORDS and "_NL" in expected:
            return "each statement goes on its own line"
        hint = did_you_mean(str(token), keywords)
        if hint:
            return hint
    if token.type == "STRING" and "NAME" in expected:
        return "names are written without quotes; quotes are for rule names"
    if token.type == "NAME" and "STRING" in expected:
        return f'rule names are quoted: "{token}"'
    if token.type in ("_NL", "$END") and "RPAR" in expected:
        return "a `(` is not closed"
    if token.type == "_NL" and "COLON" in expected:
        return 'a rule looks like: cap "name": at most 3 marketing per 30 days'
    return None


def parse(text: str, file: str = "<policy>") -> ast.PolicyFile:
    """Parse policy text into a :class:`ast.PolicyFile`; raise :class:`PolicySyntaxError`."""
    parser = load_grammar("policy.lark")
    source = Source(file, text)
    comments: list[ast.Comment] = []
    try:
        tree = parser.parse(text)
    except UnexpectedInput as exc:
        raise syntax_error(exc, source, _terminals(parser)) from None
    except PolicySyntaxError as exc:
        exc.source = source
        raise
    try:
        statements = _ToAst(file).transform(tree)
    except Exception as exc:  # VisitError wraps our own errors
        inner = getattr(exc, "orig_exc", exc)
        if isinstance(inner, PolicySyntaxError):
            inner.source = source
            raise inner from None
        raise
    comments = collect_comments(text)
    return ast.PolicyFile(tuple(statements), tuple(comments), file)


def collect_comments(text: str) -> list[ast.Comment]:
    """Every ``#`` comment outside a quoted string, with its position."""
    found: list[ast.Comment] = []
    # split at "\n" only, as the lexer counts lines (str.splitlines also splits at \f, \x1c, ...)
    for number, line in enumerate(text.split("\n"), start=1):
        in_string = False
        escaped = False
        for index, char in enumerate(line):
            if escaped:
                escaped = False
            elif char == "\\" and in_string:
                escaped = True
            elif char == '"':
                in_string = not in_string
            elif char == "#" and not in_string:
                found.append(ast.Comment(line[index:].rstrip(), number, index + 1))
                break
    return found


def _terminals(parser: Any) -> dict[str, Any]:
    return {t.name: t for t in parser.terminals}

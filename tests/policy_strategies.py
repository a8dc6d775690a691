"""Hypothesis strategies for valid policy *text* in every form the language has.

:func:`valid_policies` draws a whole policy that compiles: random (non-reserved) names,
a customer block with every attribute type, owner and precedence (sometimes), and rules of
every kind in every form — cap and capacity with rolling, consecutive-day and calendar
windows and ``for each``; quiet ``outside``, ``between``, ``on`` days and dates, ``within``
a duration or N consecutive days after an event or a selector ``with outcome``; exclude
with nested ``and``/``or``/``not`` conditions of every test form; require with and without
an outcome, ``at least`` and ``within``; exclusive; exempt from kinds and quoted names.

The *layout* is random too — extra spaces, blank lines, comments after code and on their
own lines, lists continued on the next line after a comma — so the formatter's and the
parser's tests see many spellings of one AST. :func:`policy_parts` gives the pieces
(statements as lists of lines) for helpers that want to mutate a policy.

Everything here is about syntax and compile-time checks; tests/strategies.py has the
small fixed-vocabulary policies the evaluator's differential tests use.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from policylang.parser import KEYWORDS

RESERVED = KEYWORDS | {
    "flag", "number", "text", "zone", "date", "team", "channel", "purpose", "campaign",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "weekend",
    "customer", "owner", "any", "true", "false",
}
ZONES = ("UTC", "America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Sydney")
CLOCKS = ("00:00", "06:30", "08:00", "9:15", "12:00", "17:45", "21:00", "23:59")
UNITS = ("minute", "hour", "day", "week")
CALENDAR_UNITS = ("day", "week", "month", "quarter", "year")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "weekend")
RULE_KINDS = ("cap", "capacity", "quiet", "exclude", "require", "exclusive")

# names a customer block holds beside its drawn attributes (customer_block), and `id`
BLOCK_NAMES = frozenset({"id", "timezone", "tags", "teams_seen", "score"})
names = st.from_regex(r"[a-z_][a-z0-9_]{0,9}", fullmatch=True).filter(lambda n: n not in RESERVED)
# rule names and titles: any one-line text, quotes and backslashes included
texts = st.text(
    # \x0c, \x1c and \u2028 end a line for str.splitlines but not for the lexer
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")) | st.sampled_from('"\\ \x0c\x1c\u2028'),
    min_size=1,
    max_size=24,
).filter(lambda t: t.strip() != "")


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def plural(amount: int, unit: str) -> str:
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


class Vocabulary:
    """The names one drawn policy declares, by kind."""

    def __init__(self, pool: list[str], has_events: bool, has_outcomes: bool) -> None:
        self.channels = pool[0:3]
        self.teams = pool[3:6]
        self.purposes = pool[6:9]
        self.outcomes = pool[9:11] if has_outcomes else []
        self.events = pool[11:13] if has_events else []
        self.attrs = dict(zip(("flag", "number", "enum", "set", "date", "team", "text"), pool[13:20], strict=True))
        self.choices = pool[20:23]
        self.owner = False


@st.composite
def selectors(draw: Any, v: Vocabulary, allow_any: bool = True) -> str:
    """A selector that can match something."""
    shape = draw(st.sampled_from(["names", "names", "any", "by"] if allow_any else ["names", "by"]))
    if shape == "any":
        text = "any"
        if draw(st.booleans()):
            text += " except " + draw(st.sampled_from(v.purposes + v.channels))
        return text
    parts: list[str] = []
    if shape == "names" or draw(st.booleans()):
        kinds = draw(st.lists(st.sampled_from(["purpose", "channel", "team"]), min_size=1, max_size=3, unique=True))
        pieces = []
        for kind in kinds:
            pool = {"purpose": v.purposes, "channel": v.channels, "team": v.teams}[kind]
            chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True))
            pieces.append(", ".join(chosen))
        parts.append(" ".join(pieces))
    if shape == "by" or draw(st.integers(0, 4)) == 0:
        teams = draw(st.lists(st.sampled_from(v.teams + (["owner"] if v.owner else [])), min_size=1, max_size=2, unique=True))
        parts.append("by " + ", ".join(teams))
    if not parts:
        parts.append(draw(st.sampled_from(v.channels)))
    if draw(st.integers(0, 3)) == 0:
        # except a name of a kind not selected, leaving at least one of that kind
        named = " ".join(parts)
        kind_pool = [n for n in v.purposes + v.channels if n not in named.replace(",", " ").split()]
        if kind_pool:
            parts.append("except " + draw(st.sampled_from(kind_pool)))
    return " ".join(parts)


def durations(max_amount: int = 60) -> st.SearchStrategy[str]:
    return st.builds(plural, st.integers(1, max_amount), st.sampled_from(UNITS))


@st.composite
def windows(draw: Any) -> str:
    form = draw(st.sampled_from(["rolling", "consecutive", "calendar"]))
    if form == "rolling":
        return draw(durations())
    if form == "consecutive":
        days = draw(st.integers(1, 60))
        return f"{days} consecutive {'day' if days == 1 else 'days'}"
    return "calendar " + draw(st.sampled_from(CALENDAR_UNITS))


@st.composite
def cap_body(draw: Any, v: Vocabulary) -> str:
    text = f"at most {draw(st.integers(1, 500))} {draw(selectors(v))} per {draw(windows())}"
    if draw(st.booleans()):
        text += " for each " + draw(st.sampled_from(["team", "channel", "purpose", "campaign"]))
    return text


@st.composite
def trigger(draw: Any, v: Vocabulary) -> str:
    if v.events and draw(st.booleans()):
        return draw(st.sampled_from(v.events))
    text = draw(selectors(v, allow_any=False))
    if v.outcomes and draw(st.booleans()):
        text += " with outcome " + draw(st.sampled_from(v.outcomes))
    if draw(st.integers(0, 3)) == 0:
        text += " for each " + draw(st.sampled_from(["team", "channel", "purpose", "campaign"]))
    return text


@st.composite
def quiet_body(draw: Any, v: Vocabulary) -> str:
    selector = draw(selectors(v))
    form = draw(st.sampled_from(["outside", "between", "on", "within", "within_days"]))
    if form in ("outside", "between"):
        start, end = draw(st.lists(st.sampled_from(CLOCKS), min_size=2, max_size=2, unique=True))
        period = f"outside {start}-{end}" if form == "outside" else f"between {start} and {end}"
    elif form == "on":
        days = draw(st.lists(
            st.sampled_from(DAYS) | st.dates().map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}").filter(lambda s: s[0] != "0"),
            min_size=1, max_size=3,
        ))
        period = "on " + ", ".join(days)
    elif form == "within":
        period = f"within {draw(durations())} after {draw(trigger(v))}"
    else:
        days = draw(st.integers(1, 30))
        period = f"within {days} consecutive {'day' if days == 1 else 'days'} after {draw(trigger(v))}"
    return f"no {selector} {period}"


def number_literal() -> st.SearchStrategy[str]:
    return st.integers(-50, 200).map(str) | st.builds(lambda a, b: f"{a}.{b}", st.integers(0, 99), st.integers(0, 99))


@st.composite
def test_condition(draw: Any, v: Vocabulary) -> str:
    a = v.attrs
    form = draw(st.sampled_from(["flag", "enum_is", "enum_in", "number", "date", "member", "team_is", "text_is"]))
    if form == "flag":
        return f"customer.{a['flag']}"
    if form == "enum_is":
        return f"customer.{a['enum']} {draw(st.sampled_from(['is', 'is not']))} {draw(st.sampled_from(v.choices))}"
    if form == "enum_in":
        chosen = draw(st.lists(st.sampled_from(v.choices), min_size=1, max_size=3, unique=True))
        return f"customer.{a['enum']} {draw(st.sampled_from(['in', 'not in']))} ({', '.join(chosen)})"
    if form == "number":
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!=", "is", "is not"]))
        return f"customer.{a['number']} {op} {draw(number_literal())}"
    if form == "date":
        day = draw(st.dates(min_value=__import__("datetime").date(1900, 1, 1)))
        return f"customer.{a['date']} {draw(st.sampled_from(['<', '>=', '==']))} {day.isoformat()}"
    if form == "member":
        return f"channel {draw(st.sampled_from(['in', 'not in']))} customer.{a['set']}"
    if form == "team_is":
        return f"customer.{a['team']} {draw(st.sampled_from(['is', 'is not']))} {draw(st.sampled_from(v.teams))}"
    return f"customer.{a['text']} is {quote(draw(texts))}"


@st.composite
def conditions(draw: Any, v: Vocabulary, depth: int = 0) -> str:
    if depth >= 2 or draw(st.integers(0, 2)) == 0:
        return draw(test_condition(v))
    form = draw(st.sampled_from(["and", "or", "not", "parens"]))
    if form == "not":
        return "not " + draw(conditions(v, depth + 1).map(lambda c: f"({c})" if " " in c else c))
    if form == "parens":
        return f"({draw(conditions(v, depth + 1))})"
    parts = draw(st.lists(conditions(v, depth + 1), min_size=2, max_size=3))
    return f" {form} ".join(f"({p})" for p in parts)


@st.composite
def require_body(draw: Any, v: Vocabulary) -> str:
    text = f"{draw(selectors(v))} after {draw(selectors(v, allow_any=False))}"
    if v.outcomes and draw(st.booleans()):
        text += " with outcome " + draw(st.sampled_from(v.outcomes))
    at_least = draw(st.none() | st.integers(1, 10))
    within = draw(st.none() | st.integers(10, 60))
    if at_least is not None:
        text += f" at least {plural(at_least, 'day')} before"
        if within is not None:
            text += ","
    if within is not None:
        text += f" within {plural(within, 'day')}"
    return text


@st.composite
def rule_bodies(draw: Any, kind: str, v: Vocabulary) -> str:
    if kind in ("cap", "capacity"):
        return str(draw(cap_body(v)))
    if kind == "quiet":
        return str(draw(quiet_body(v)))
    if kind == "exclude":
        return f"{draw(selectors(v))} when {draw(conditions(v))}"
    if kind == "require":
        return str(draw(require_body(v)))
    return f"{draw(selectors(v))} per {draw(durations())}"


@st.composite
def customer_block(draw: Any, v: Vocabulary) -> list[str]:
    a = v.attrs
    lines = [
        f"{a['flag']} flag",
        f"{a['number']} number",
        f"{a['enum']} one of {', '.join(v.choices)}",
        f"{a['set']} set of channel",
        f"{a['date']} date",
        f"{a['team']} team",
        f"{a['text']} text",
    ]
    if draw(st.booleans()):
        lines.append("timezone zone")
    lines.append(draw(st.sampled_from(["tags set of text", "teams_seen set of team", "score number"])))
    lines = draw(st.permutations(lines))
    indent = " " * draw(st.integers(1, 4))
    return ["customer"] + [indent + line for line in lines]


@st.composite
def policy_parts(draw: Any, max_rules: int = 8) -> list[str]:
    """A valid policy as a list of statements (a customer block is one multi-line item)."""
    # the attributes (pool[13:20]) take none of the customer block's own names: `id` is the
    # customer's identifier, which no attribute may be, and the block may add the others
    pool = draw(st.lists(names, min_size=23, max_size=23, unique=True)
                .filter(lambda pool: BLOCK_NAMES.isdisjoint(pool[13:20])))
    v = Vocabulary(pool, draw(st.booleans()), draw(st.booleans()))
    statements: list[str] = []
    if draw(st.booleans()):
        statements.append(f"policy {quote(draw(texts))}")
    if draw(st.booleans()):
        statements.append(f"timezone {quote(draw(st.sampled_from(ZONES)))}")
    for kind, declared in (("channels", v.channels), ("teams", v.teams), ("purposes", v.purposes),
                           ("outcomes", v.outcomes), ("events", v.events)):
        if declared:
            statements.append(f"{kind} {', '.join(declared)}")
    statements.append("\n".join(draw(customer_block(v))))
    v.owner = draw(st.booleans())
    if v.owner:
        statements.append(f"owner is customer.{v.attrs['team']}")
    if draw(st.booleans()):
        order = draw(st.permutations(v.teams + (["owner"] if v.owner else [])))
        statements.append("precedence " + " > ".join(order[: max(2, len(order) - 1)]))
    kinds = draw(st.lists(st.sampled_from(RULE_KINDS), min_size=1, max_size=max_rules))
    rule_names = draw(st.lists(texts, min_size=len(kinds) + 1, max_size=len(kinds) + 1, unique=True))
    for kind, name in zip(kinds, rule_names, strict=False):
        statements.append(f"{kind} {quote(name)}: {draw(rule_bodies(kind, v))}")
    if draw(st.booleans()):
        targets = draw(st.lists(
            st.sampled_from(["cap", "capacity", "quiet", "exclude", "require", "exclusive"])
            | st.sampled_from(rule_names[: len(kinds)]).map(quote),
            min_size=1, max_size=3, unique=True,
        ))
        statements.append(f"exempt {quote(rule_names[-1])}: {draw(selectors(v))} from {', '.join(targets)}")
    return statements


comments = st.from_regex(r"#[ a-zA-Z0-9#\"'.,:;()-]{0,20}", fullmatch=True)


@st.composite
def layout(draw: Any, statement: str) -> str:
    """One statement in a random but valid spelling."""
    lines = statement.split("\n")
    out = []
    for number, line in enumerate(lines):
        indent = line[: len(line) - len(line.lstrip(" "))]
        words = line.strip().split(" ")
        text = ""
        in_quote = False
        for index, word in enumerate(words):
            if index:
                # inside a quoted string the spaces are content: leave them alone
                text += " " if in_quote else " " * draw(st.integers(1, 3))
            text += word
            in_quote ^= (word.replace('\\\\', '').replace('\\"', '').count('"') % 2 == 1)
            if word.endswith(",") and not in_quote and draw(st.integers(0, 5)) == 0:
                if draw(st.booleans()):
                    text += "  " + draw(comments)
                text += "\n" + " " * draw(st.integers(0, 8))
        if draw(st.integers(0, 4)) == 0:
            text += " " * draw(st.integers(1, 6)) + draw(comments)
        out.append(indent + text if number else text)
    return "\n".join(out)


@st.composite
def valid_policies(draw: Any, max_rules: int = 8) -> str:
    """The text of a policy that parses and compiles, in a random layout."""
    statements = draw(policy_parts(max_rules))
    chunks: list[str] = []
    for statement in statements:
        if draw(st.integers(0, 5)) == 0:
            chunks.append(draw(comments))
        chunks.append(draw(layout(statement)))
        chunks.append("\n" * draw(st.integers(0, 2)))
    text = ""
    for chunk in chunks:
        if chunk.startswith("\n") or chunk == "":
            text += chunk
        else:
            text += chunk + "\n"
    return text

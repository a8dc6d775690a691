"""The what-if REPL: scenario statements typed one at a time, plus session commands.

:class:`Session` is the command layer: ``handle(line)`` returns something rich can print
and never raises. :func:`run_repl` is the prompt_toolkit loop around it (line editing,
persistent history, completion, highlighting).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from policylang import clock, unparse
from policylang.errors import ErrorGroup, PolicylangError, ScenarioError, did_you_mean
from policylang.evaluator import quiet_stretches, window_spans
from policylang.records import Contact
from policylang.render import error_text
from policylang.rules import AfterTrigger, Policy, QuietRule
from policylang.scenario import (
    KEYWORDS,
    Answer,
    Ask,
    CustomerState,
    Expect,
    Now,
    ScenarioRun,
    Statement,
    Use,
    contact_text,
    expectation_for,
    format_instant,
    format_wall,
    load_policy_file,
    parse_statement,
    quoted,
)
from policylang.source import Source, Span

COMMANDS = {
    "ask": "ask NAME: marketing phone by cards [at TIME]   decide a request (no assertion)",
    "expect": 'expect NAME: REQUEST is allowed | is denied [by "rule"] | next allowed at TIME | displaces ...',
    "customer": 'customer NAME: timezone "Europe/London", status active, opted_out (sms)',
    "had": "NAME had PURPOSE CHANNEL by TEAM at TIME [with outcome O] [campaign \"x\"]   (also: NAME had event E at TIME)",
    "plans": "NAME plans PURPOSE CHANNEL by TEAM at TIME   a planned (reserved) contact",
    "use": 'use "policy.pol"   switch to another policy',
    "now": "now 2026-11-24 10:00 [Z | +01:00 | [Europe/London]]   set the clock",
    "why": "why   the full trace of the last answer",
    "when": "when   the next allowed time of the last answer",
    "advance": "advance 3 days   move the clock on (minutes, hours, days, weeks)",
    "timeline": "timeline NAME   the customer's ledger on a time axis",
    "rules": "rules   the policy's rules",
    "customers": "customers   the customers so far",
    "reload": "reload   recompile the policy, keep the scenario",
    "save": "save FILE.polt   write the session as a test (answers become expectations)",
    "help": "help [COMMAND]",
    "quit": "quit   leave (also: exit, Ctrl-D)",
}
SESSION_COMMANDS = ("why", "when", "advance", "timeline", "rules", "customers", "reload", "save", "help", "quit", "exit")
UNITS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}
VERDICT_STYLE = {"deny": "bold red", "pass": "green", "exempt": "yellow", "skip": "dim"}


class Session:
    """One what-if session: the scenario so far, the last answer and what to save."""

    def __init__(
        self,
        policy: str | Path | None = None,
        *,
        base: Path | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        self.base = base or Path.cwd()
        self.run = ScenarioRun(self.base)
        self.finished = False
        self.last: Answer | None = None
        # What ``save`` writes: statements (with ``use`` paths made absolute) in order, and
        # the text the user typed for each ``expect`` (saved as written, never rewritten).
        self.history: list[Statement] = []
        self.typed: dict[int, str] = {}
        # The clock starts at the wall clock (or ``now``); it goes into the saved file only
        # when the user sets it or a statement reads it (an ask without `at`, `advance`).
        self.clock_saved = False
        start = now or dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
        self.run.now = start
        self._start = start
        # A policy that did not compile: `reload` tries it again once the file is fixed.
        self.pending_policy: Path | None = None
        self.startup: RenderableType | None = None
        if policy is not None:
            self.startup = self.load_startup_policy(Path(policy))

    def load_startup_policy(self, path: Path) -> RenderableType:
        """Load the policy named on the command line; errors point into the policy file."""
        try:
            policy = load_policy_file(path if path.is_absolute() else self.base / path)
        except PolicylangError as exc:
            self.pending_policy = path
            return Group(errors(exc), Text(f"{path} did not compile; fix it and type `reload`", style="yellow"))
        except OSError as exc:
            return Text(f"cannot read {path}: {exc.strerror}", style="red")
        resolved = (path if path.is_absolute() else self.base / path).resolve()
        self.run.policy, self.run.policy_path = policy, resolved
        self.history.append(Use(str(resolved)))
        return Text(f"using {path} ({len(policy.rules)} rules)", style="dim")

    # ---- the command layer ----------------------------------------------------------
    def handle(self, line: str) -> RenderableType | None:
        """Run one typed line; return what to show. Never raises (except KeyboardInterrupt)."""
        text = line.strip()
        if not text or text.startswith("#"):
            return None
        word = text.split(None, 1)[0].rstrip(":")
        rest = text[len(word):].strip()
        try:
            if word in SESSION_COMMANDS:
                return self.command(word, rest)
            return self.statement(text)
        except PolicylangError as exc:
            for problem in exc.errors:
                if problem.source is None and problem.span.file == "<input>":
                    problem.source = Source("<input>", text)
            return errors(exc)
        except RecursionError:
            return Text("error: that line is nested too deeply", style="red")
        except Exception as exc:  # noqa: BLE001 - the REPL must survive anything
            return Text(f"internal error: {type(exc).__name__}: {exc}", style="bold red")

    def command(self, word: str, rest: str) -> RenderableType | None:
        if word in ("quit", "exit"):
            self.finished = True
            return Text("bye")
        handler = getattr(self, "cmd_" + word)
        result: RenderableType | None = handler(rest)
        return result

    def statement(self, text: str) -> RenderableType:
        words = text.split()
        if len(words) == 1 and words[0] not in KEYWORDS:
            raise ScenarioError(
                f"unknown command `{words[0]}`",
                Span.point("<input>", 1, 1, len(words[0])),
                hint=did_you_mean(words[0], [*SESSION_COMMANDS, *KEYWORDS[:5]]) or "`help` lists the commands",
            )
        try:
            statement = parse_statement(text, "<input>")
        except PolicylangError as exc:
            first = text.split(None, 1)[0]
            hint = did_you_mean(first, [*SESSION_COMMANDS, *KEYWORDS[:5]])
            if hint and exc.hint is None and first not in KEYWORDS:
                exc.hint = hint
            raise
        if self.reads_the_clock(statement) and not self.clock_saved:
            self._record_now(self.run.now or self._start)
        try:
            result = self.run.execute(statement)
        except PolicylangError:
            if isinstance(statement, Use):
                path = Path(statement.path)
                candidate = path if path.is_absolute() else self.base / path
                self.pending_policy = candidate if candidate.is_file() else self.pending_policy
            raise
        if isinstance(statement, Use) and self.run.policy_path is not None:
            self.pending_policy = None
            statement = Use(str(self.run.policy_path.resolve()), statement.span)
        if isinstance(statement, Now):
            self.clock_saved = True
        if isinstance(statement, Expect):
            self.typed[id(statement)] = text
        self.history.append(statement)
        if isinstance(result, Answer):
            self.last = result
            return answer_view(result)
        return Text(result, style="dim")

    # ---- session commands -----------------------------------------------------------
    def cmd_help(self, rest: str) -> RenderableType:
        if rest:
            usage = COMMANDS.get(rest.strip())
            if usage is None:
                hint = did_you_mean(rest.strip(), COMMANDS)
                return Text(f"no command `{rest.strip()}`" + (f"; {hint}" if hint else ""), style="red")
            return Text(usage)
        table = Table(title="policylang what-if commands", show_header=False, box=None)
        table.add_column(style="bold cyan")
        table.add_column()
        for name, usage in COMMANDS.items():
            table.add_row(name, Text(usage))
        return Group(
            table,
            Text("Times without a zone are the customer's local time. Tab completes names.", style="dim"),
        )

    def need_last(self) -> Answer:
        if self.last is None:
            raise ScenarioError("nothing asked yet", hint="ask first: ask ada: marketing phone by cards")
        return self.last

    def cmd_why(self, rest: str) -> RenderableType:
        answer = self.need_last()
        return Group(decision_panel(answer), trace_table(answer, full=True))

    def cmd_when(self, rest: str) -> RenderableType:
        answer = self.need_last()
        decision = answer.decision
        request = answer.request
        if decision.allowed:
            return Text(f"allowed now: {format_instant(request.at, answer.zone)}", style="green")
        if decision.next_allowed_at is None:
            return Text(
                "never: waiting does not help (an exclusion or a missing prerequisite)", style="red"
            )
        wait = decision.next_allowed_at - request.at
        return Text(
            f"next allowed at {format_instant(decision.next_allowed_at, answer.zone)} "
            f"({decision.next_allowed_at:%Y-%m-%d %H:%M}Z), {describe_wait(wait)} after the request"
        )

    def cmd_advance(self, rest: str) -> RenderableType:
        match = re.fullmatch(r"(\d+)\s*([a-z]+?)s?", rest.strip())
        if not match or match.group(2) not in UNITS:
            raise ScenarioError(
                f"cannot advance by `{rest.strip()}`" if rest.strip() else "advance by how much?",
                Span.point("<input>", 1, 9),
                expected="an amount like 3 days, 2 hours, 30 minutes or 1 week",
            )
        seconds = int(match.group(1)) * UNITS[match.group(2)]
        if seconds > 100 * 366 * 86400:
            raise ScenarioError(
                f"cannot advance by `{rest.strip()}`: that is more than a hundred years",
                Span.point("<input>", 1, 9),
                expected="an amount like 3 days, 2 hours, 30 minutes or 1 week",
            )
        delta = dt.timedelta(seconds=seconds)
        if self.run.now is not None and self.run.now.tzinfo is not None:
            moment = self.run.now
            self.run.now = (moment.astimezone(dt.timezone.utc) + delta).astimezone(moment.tzinfo)
            message = f"now {format_wall(self.run.now)}"
        else:
            message = self.run.advance(delta)
        assert self.run.now is not None
        self._record_now(self.run.now)
        return Text(message, style="dim")

    @staticmethod
    def reads_the_clock(statement: Statement) -> bool:
        """Does the statement use `now` (a request without `at`)?"""
        return isinstance(statement, (Ask, Expect)) and statement.request.at is None

    def _record_now(self, moment: dt.datetime) -> None:
        self.clock_saved = True
        self.run.now = moment
        text = moment.strftime("%Y-%m-%d %H:%M")
        if moment.tzinfo is not None:
            text += "Z" if moment.utcoffset() == dt.timedelta(0) else " " + format_wall(moment).split()[-1]
        self.history.append(parse_statement(f"now {text}"))

    def cmd_reload(self, rest: str) -> RenderableType:
        path = self.run.policy_path
        if self.pending_policy is not None and (path is None or self.pending_policy.resolve() != path):
            pending = self.pending_policy
            try:
                policy = load_policy_file(pending if pending.is_absolute() else self.base / pending)
            except PolicylangError as exc:
                return Group(errors(exc), Text(f"{pending} still does not compile", style="yellow"))
            except OSError as exc:
                return Text(f"cannot read {pending}: {exc.strerror}", style="red")
            resolved = (pending if pending.is_absolute() else self.base / pending).resolve()
            self.run.policy, self.run.policy_path, self.pending_policy = policy, resolved, None
            self.history.append(Use(str(resolved)))
            return Text(f"loaded {pending}: {len(policy.rules)} rules", style="green")
        if path is None:
            raise ScenarioError("no policy to reload", hint='load one: use "northwind.pol"')
        try:
            policy = load_policy_file(path)
        except PolicylangError as exc:
            return Group(errors(exc), Text("kept the previous version of the policy", style="yellow"))
        except OSError as exc:
            return Text(f"cannot read {path}: {exc.strerror}; kept the previous policy", style="red")
        self.run.policy = policy
        return Text(f"reloaded {path}: {len(policy.rules)} rules", style="green")

    def cmd_save(self, rest: str) -> RenderableType:
        name = rest.strip().strip('"')
        if not name:
            raise ScenarioError("save where?", expected="a file name like session.polt")
        target = Path(name) if Path(name).is_absolute() else self.base / name
        if target.suffix != ".polt":
            target = target.with_name(target.name + ".polt")
        text = self.saved_text(target)
        try:
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"cannot write {target}: {exc.strerror}") from None
        count = text.count("\nexpect ")
        return Text(f"saved {target} ({count} expectations)", style="green")

    def saved_text(self, target: Path) -> str:
        """The session as a scenario file at ``target``: every ask becomes an expectation.

        The statements are replayed against the current policy, so the expectations are
        what the saved file will find when it runs (even after a ``reload``).
        """
        replay = ScenarioRun(self.base, policy=self.run.policy, policy_path=self.run.policy_path)
        lines = ["# saved from a policylang repl session"]
        if self.run.policy_path is not None and not any(isinstance(s, Use) for s in self.history):
            lines.append(f"use {unparse.quote(str(relative(self.run.policy_path, target.parent)))}")
        for statement in self.history:
            if isinstance(statement, Use):
                lines.append(f"use {unparse.quote(str(relative(Path(statement.path), target.parent)))}")
            try:
                result = replay.execute(statement)
            except PolicylangError:
                continue  # a line that no longer runs (e.g. after a reload) is left out
            if isinstance(statement, Use):
                continue
            if isinstance(result, Answer) and isinstance(statement, Expect):
                # an expectation is saved as written; a failed one says so, and is kept failing
                if not result.passed:
                    lines.extend(f"# FAILED in the session: {failure}" for failure in result.failures)
                lines.append(self.typed.get(id(statement), expectation_for(result)))
            elif isinstance(result, Answer):
                lines.append(expectation_for(result))
            else:
                lines.append(statement_text(statement))
        return "\n".join(lines) + "\n"

    def cmd_rules(self, rest: str) -> RenderableType:
        policy = self.need_policy()
        table = Table(title=policy.title or str(policy.file), title_justify="left")
        table.add_column("kind", style="cyan")
        table.add_column("rule")
        table.add_column("applies to")
        for rule in policy.rules:
            table.add_row(rule.kind, Text(f'"{rule.name}"'), Text(rule.match.text))
        return table

    def cmd_customers(self, rest: str) -> RenderableType:
        if not self.run.customers:
            return Text("no customers yet; add one: customer ada: status active", style="dim")
        table = Table(show_header=True)
        table.add_column("customer", style="bold")
        table.add_column("attributes")
        table.add_column("ledger", justify="right")
        for state in self.run.customers.values():
            values = ", ".join(f"{k} {show_value(v)}" for k, v in sorted(state.values.items()))
            table.add_row(state.name, Text(values), str(len(state.ledger)))
        return table

    def cmd_timeline(self, rest: str) -> RenderableType:
        from policylang.nodes import Name

        name = rest.strip()
        if not name:
            raise ScenarioError("whose timeline?", expected="a customer name: timeline ada")
        state = self.run.customer(Name(name, Span.point("<input>", 1, 10, len(name))))
        reference = self.reference_time(state)
        return timeline(state, self.need_policy(), self.run.zone_of(state), reference)

    def reference_time(self, state: CustomerState) -> dt.datetime:
        if self.last is not None and self.last.customer == state.name:
            return self.last.request.at
        now = self.run.now or dt.datetime.now(dt.timezone.utc)
        return now if now.tzinfo else now.replace(tzinfo=self.run.zone_of(state))

    def need_policy(self) -> Policy:
        if self.run.policy is None:
            raise ScenarioError("no policy loaded", hint='load one: use "northwind.pol"')
        return self.run.policy

    # ---- completion -----------------------------------------------------------------
    def completions(self, before: str) -> list[tuple[str, int]]:
        """(candidate, characters to replace) for the text before the cursor.

        The candidates depend on where the cursor is: commands and customers at the start
        of a line, customers after `ask`, teams after `by`, rule names after `denied by`,
        channels and purposes in a request, attributes in a `customer` line or after
        `customer.`, the values of the attribute just named.
        """
        if before.count('"') % 2 == 1:
            typed = before[before.rindex('"') + 1 :]
            policy = self.run.policy
            names = [r.name for r in policy.rules] if policy else []
            return [(n + '"', len(typed)) for n in names if n.startswith(typed)]
        match = re.search(r"[a-z_][a-z0-9_]*$", before)
        typed = match.group(0) if match else ""
        head = before[: len(before) - len(typed)]
        pool = self.context_words(head)
        return [(w, len(typed)) for w in sorted(pool) if w.startswith(typed) and w != typed]

    def context_words(self, head: str) -> set[str]:
        """The words that can come next after ``head`` (the line up to the word being typed)."""
        policy = self.run.policy
        vocabulary = policy.vocabulary if policy is not None else {}
        teams = set(vocabulary.get("teams", ()))
        selectable = set(vocabulary.get("channels", ())) | set(vocabulary.get("purposes", ()))
        attributes = dict(policy.attributes) if policy is not None else {}
        customers = set(self.run.customers)
        words = head.replace(":", " : ").replace(",", " , ").split()
        if head.endswith("customer."):
            return set(attributes)
        if not words:
            return customers | set(KEYWORDS[:5]) | set(SESSION_COMMANDS)
        first, last = words[0], words[-1]
        if first == "help":
            return set(COMMANDS)
        if first == "timeline":
            return customers if len(words) == 1 else set()
        if first == "advance":
            return {"minutes", "hours", "days", "weeks"} if len(words) == 2 else set()
        if first in SESSION_COMMANDS:
            return set()
        if first in ("ask", "expect") and len(words) == 1:
            return customers
        if last == "by":
            if "denied" in words:
                return set()  # rule names come quoted: type `"` for them
            return teams
        if last in ("at", "now") or first == "now" or first == "use":
            return set()  # a time or a path
        if last == "outcome":
            return set(vocabulary.get("outcomes", ()))
        if last == "event":
            return set(vocabulary.get("events", ()))
        if first == "customer":
            if ":" not in words:
                return customers
            if last in (":", ","):
                return set(attributes)
            spec = attributes.get(last)
            if spec is not None:
                return set(spec.choices) | ({"true", "false"} if spec.kind == "flag" else set()) | (
                    teams if spec.kind == "team" else set()
                )
            return set()
        if first in ("ask", "expect"):
            if "is" in words or "and" in words:
                return {"allowed", "denied", "next", "never", "displaces", "nothing", "warns", "and", "at", "by"}
            in_request = selectable | {"by", "at", "campaign", "priority"}
            return in_request | ({"is"} if first == "expect" else set())
        if first in customers and len(words) == 1:
            return {"had", "plans", "voided"}
        if len(words) >= 2 and words[1] == "voided":
            return {"at", "because"}
        if len(words) >= 2 and words[1] in ("had", "plans"):
            extra = {"event"} if words[1] == "had" and len(words) == 2 else set()
            return selectable | extra | {"by", "at", "with", "outcome", "campaign", "id"}
        return self.words(first=False)

    def words(self, *, first: bool) -> set[str]:
        pool: set[str] = set(self.run.customers)
        if first:
            return pool | set(KEYWORDS[:5]) | set(SESSION_COMMANDS)
        pool |= set(KEYWORDS)
        policy = self.run.policy
        if policy is not None:
            for names in policy.vocabulary.values():
                pool.update(names)
            pool.update(policy.attributes)
            for spec in policy.attributes.values():
                pool.update(spec.choices)
        pool.update(("minutes", "hours", "days", "weeks"))
        return pool


# ---- rendering ---------------------------------------------------------------------------


def errors(exc: PolicylangError) -> RenderableType:
    problems = exc.errors if isinstance(exc, ErrorGroup) else (exc,)
    return Group(*(error_text(p) for p in problems))


def answer_view(answer: Answer) -> RenderableType:
    """An answer: the decision panel, the rules that spoke, and for an expect PASS/FAIL."""
    parts: list[RenderableType] = []
    if not isinstance(answer.statement, Ask):
        if answer.passed:
            parts.append(Text("PASS", style="bold green"))
        else:
            parts.append(Text("FAIL", style="bold red"))
            parts.extend(Text("  " + f, style="red") for f in answer.failures)
    parts.append(decision_panel(answer))
    parts.append(trace_table(answer, full=False))
    return Group(*parts)


def decision_panel(answer: Answer) -> Panel:
    """Allowed or denied, by which rules, the next allowed time and what it displaces."""
    decision, request, zone = answer.decision, answer.request, answer.zone
    body = Text()
    body.append(f"{request.purpose} {request.channel} by {request.team}", style="bold")
    body.append(f" for {answer.customer} at {format_instant(request.at, zone)} ({zone_name(zone)})\n")
    if decision.allowed:
        body.append("ALLOWED", style="bold green")
    else:
        body.append("DENIED", style="bold red")
        body.append(" by " + quoted(decision.denied_by))
        when = (
            f"{format_instant(decision.next_allowed_at, zone)} ({decision.next_allowed_at:%Y-%m-%d %H:%M}Z)"
            if decision.next_allowed_at
            else "never: waiting does not help"
        )
        body.append(f"\nnext allowed: {when}")
    for contact in decision.displaces:
        body.append("\ndisplaces ", style="yellow")
        body.append(contact_text(contact, zone) + " (planned)")
    for note in decision.notes:
        body.append(f"\nnote: {note}", style="dim")
    return Panel(
        body,
        title="allowed" if decision.allowed else "denied",
        border_style="green" if decision.allowed else "red",
        expand=False,
    )


def trace_table(answer: Answer, *, full: bool) -> Table:
    """The trace: every rule (``full``) or the ones the request was subject to."""
    table = Table(show_header=True, header_style="bold")
    table.add_column("kind", style="cyan")
    table.add_column("rule")
    table.add_column("verdict")
    table.add_column("why")
    skipped = 0
    for entry in answer.decision.trace:
        if entry.verdict == "skip" and not full:
            skipped += 1
            continue
        rule = Text(f'"{entry.rule}"')
        if entry.pack is not None:  # 11.17: a pack rule names its pack, and citations follow the reason
            rule.append(f" ({entry.pack} {entry.pack_version})", style="dim")
        why = Text(entry.reason)
        if entry.cite:
            why.append(f" [{'; '.join(entry.cite)}]", style="dim")
        table.add_row(entry.kind, rule, Text(entry.verdict, style=VERDICT_STYLE.get(entry.verdict, "")), why)
    if skipped:
        table.caption = f"{skipped} rules skipped (not subject); `why` shows all"
    return table


def zone_name(zone: dt.tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone)


def show_value(value: Any) -> str:
    if isinstance(value, frozenset):
        return "(" + ", ".join(sorted(map(str, value))) + ")"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and not re.fullmatch(r"[a-z_][a-z0-9_]*", value):
        return f'"{value}"'
    return str(value)


def describe_wait(wait: dt.timedelta) -> str:
    minutes = int(wait.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [f"{n} {u}{'s' if n != 1 else ''}" for n, u in ((days, "day"), (hours, "hour"), (minutes, "minute")) if n]
    return " ".join(parts) or "0 minutes"


def relative(path: Path, folder: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), folder.resolve())
    except ValueError:  # another drive on Windows
        return str(path.resolve())


def statement_text(statement: Statement) -> str:
    """A statement written back as scenario text (by the one unparser)."""
    return unparse.text(statement)


# ---- the timeline ------------------------------------------------------------------------

WIDTH = 64


def channel_marks(channels: tuple[str, ...]) -> dict[str, str]:
    """One letter per channel: its initial, or its next letter not yet taken (phone p, push u)."""
    marks: dict[str, str] = {}
    for channel in channels:
        free = [c for c in channel + "abcdfghijkmnoqrstvwxyz" if c.isalpha() and c not in marks.values()]
        marks[channel] = free[0] if free else "c"
    return marks


def timeline(state: CustomerState, policy: Policy, zone: dt.tzinfo, reference: dt.datetime) -> RenderableType:
    """The customer's ledger on a time axis, with quiet stretches and rule windows."""
    entries = sorted(state.ledger, key=lambda e: e.at)
    times = [e.at for e in entries] + [reference]
    start = min(times) - dt.timedelta(days=1)
    end = max(times) + dt.timedelta(days=1)
    rows: list[tuple[str, str]] = []
    # Quiet stretches and windows come from the evaluator, so the drawing shows what the
    # decisions use: trigger stretches first (they widen the axis), then quiet hours and
    # days over the axis, and each cap's window at the reference time.
    after = [s for s in quiet_stretches(policy, state.values, entries, start - dt.timedelta(days=400),
                                        reference + dt.timedelta(days=400))
             if isinstance(s[0], QuietRule) and isinstance(s[0].period, AfterTrigger)]
    windows = window_spans(policy, state.values, reference)
    for _, lo, hi in after + windows:
        start, end = min(start, lo), max(end, min(hi, reference + dt.timedelta(days=120)))
    timed = [s for s in quiet_stretches(policy, state.values, entries, start, end)
             if isinstance(s[0], QuietRule) and not isinstance(s[0].period, AfterTrigger)]
    scale = Scale(start, end, WIDTH)
    marks = [" "] * WIDTH
    legend: dict[str, str] = {}
    for entry in entries:
        column = scale.column(entry.at)
        if isinstance(entry, Contact):
            mark = channel_marks(policy.channels).get(entry.channel, "c")
            if entry.status != "sent":
                mark = mark.upper()
            legend[mark] = entry.channel + ("" if mark.islower() else " (planned)")
        else:
            mark = "!"
            legend["!"] = "event"
        marks[column] = "*" if marks[column] not in (" ", mark) else mark
    now_row = [" "] * WIDTH
    now_row[scale.column(reference)] = "v"
    rows.append(("", "".join(now_row)))
    rows.append(("ledger", "".join(marks)))
    rows.append(("", axis(scale, zone)))
    by_rule: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}
    for rule, lo, hi in after:
        rows.append((f'quiet "{rule.name}"', scale.bar(lo, hi, "░")))
    for rule, lo, hi in timed:
        by_rule.setdefault(f'quiet "{rule.name}"', []).append((lo, hi))
    for label, spans in by_rule.items():
        rows.append((label, scale.bars(spans, "░")))
    for rule, lo, hi in windows:
        rows.append((f'{rule.kind} "{rule.name}"', scale.bracket(lo, hi)))
    width = max(len(label) for label, _ in rows)
    text = Text()
    text.append(f"timeline of {state.name} ({zone_name(zone)}), {start.astimezone(zone):%Y-%m-%d} .. "
                f"{end.astimezone(zone):%Y-%m-%d}; v = {format_instant(reference, zone)}\n", style="bold")
    for label, row in rows:
        text.append(label.rjust(width) + " |", style="cyan")
        text.append(row + "\n")
    text.append("marks: " + ", ".join(f"{k} {v}" for k, v in sorted(legend.items())) + "; * several\n", style="dim")
    for entry in entries:
        if isinstance(entry, Contact):
            text.append(f"  {contact_text(entry, zone)}" + (f" ({entry.status})" if entry.status != "sent" else ""))
            if entry.outcome:
                text.append(f" with outcome {entry.outcome}")
            text.append("\n")
        else:
            text.append(f"  event {entry.name} at {format_instant(entry.at, zone)}\n")
    return text


class Scale:
    """Maps instants to character columns."""

    def __init__(self, start: dt.datetime, end: dt.datetime, width: int) -> None:
        self.start, self.end, self.width = start, end, width
        self.seconds = max((end - start).total_seconds(), 1.0)

    def column(self, moment: dt.datetime) -> int:
        share = (moment - self.start).total_seconds() / self.seconds
        return max(0, min(self.width - 1, int(share * self.width)))

    def bar(self, lo: dt.datetime, hi: dt.datetime, char: str) -> str:
        a, b = self.column(lo), self.column(hi)
        return " " * a + char * max(1, b - a) + " " * (self.width - a - max(1, b - a))

    def bars(self, spans: list[tuple[dt.datetime, dt.datetime]], char: str) -> str:
        """Several stretches on one row (a rule's quiet hours, day after day)."""
        row = [" "] * self.width
        for lo, hi in spans:
            a, b = self.column(lo), self.column(hi)
            for column in range(a, max(a + 1, b)):
                row[column] = char
        return "".join(row)

    def bracket(self, lo: dt.datetime, hi: dt.datetime) -> str:
        a, b = self.column(lo), self.column(hi)
        if b <= a:
            return " " * a + "|" + " " * (self.width - a - 1)
        return " " * a + "[" + "-" * (b - a - 1) + "]" + " " * (self.width - b - 1)


def axis(scale: Scale, zone: dt.tzinfo) -> str:
    """Date labels under their columns, as many as fit."""
    row = [" "] * scale.width
    day = scale.start.astimezone(zone).date()
    last_end = -1
    step = max(1, int(scale.seconds // 86400 // 6))
    while True:
        moment = clock.instant(clock.start_of_date(day, zone))  # the clock's local midnight
        if moment > scale.end:
            break
        column = scale.column(moment)
        label = f"+{day:%m-%d}"
        if moment >= scale.start and column > last_end and column + len(label) <= scale.width:
            row[column : column + len(label)] = label
            last_end = column + len(label)
        day += dt.timedelta(days=step)
    return "".join(row)


# ---- the prompt loop ---------------------------------------------------------------------


def history_path() -> Path:
    """$POLICYLANG_HISTORY, else ~/.policylang_history."""
    configured = os.environ.get("POLICYLANG_HISTORY")
    return Path(configured) if configured else Path.home() / ".policylang_history"


def run_repl(policy: str | None, console: Console | None = None) -> int:
    """The interactive loop: prompt, handle, print, until quit or end of input."""
    console = console or Console(highlight=False)
    session = Session(policy)
    if session.startup is not None:
        console.print(session.startup)
    console.print(Text("policylang what-if REPL; `help` lists the commands, Ctrl-D leaves", style="dim"))
    read = _prompter(session)
    while not session.finished:
        try:
            line = read()
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        result = session.handle(line)
        if result is not None:
            console.print(result)
    return 0


def _prompter(session: Session) -> Any:
    import sys

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return lambda: input()
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory
    from prompt_toolkit.lexers import PygmentsLexer

    from policylang.highlight import ScenarioLexer

    class SessionCompleter(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterator[Completion]:
            for word, replace in session.completions(document.text_before_cursor):
                yield Completion(word, start_position=-replace)

    history: History
    try:
        path = history_path()
        path.touch(exist_ok=True)
        history = FileHistory(str(path))
    except OSError:
        history = InMemoryHistory()
    prompt: PromptSession[str] = PromptSession(
        history=history,
        completer=SessionCompleter(),
        lexer=PygmentsLexer(ScenarioLexer),
        complete_while_typing=False,
    )
    return lambda: prompt.prompt("policylang> ")

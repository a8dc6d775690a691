"""Scenarios: the small language of ``*.polt`` policy tests and what-if sessions.

A scenario names a policy (``use``), sets the clock (``now``), describes customers and
their ledgers, and asks questions (``ask``) or asserts answers (``expect``). Statements
run in order: an ``expect`` sees only what the lines above it built.

The package has one module a job: :mod:`~policylang.scenario.nodes` (the statements, frozen
with spans), :mod:`~policylang.scenario.parser` (:func:`parse_scenario` turns text into a
:class:`ScenarioFile`; syntax errors are the policy parser's, with the scenario's words),
:mod:`~policylang.scenario.runner` (:class:`ScenarioRun` executes statements one at a time;
the test runner and the REPL share it; :func:`run_file` runs a whole file) and
:mod:`~policylang.scenario.wording` (how answers are told). The public names are re-exported here.
"""

from __future__ import annotations

from policylang.scenario.nodes import (
    Ask,
    AttrValue,
    Check,
    ContactSpec,
    CustomerDecl,
    Expect,
    Had,
    HadEvent,
    Instant,
    Now,
    RequestSpec,
    ScenarioFile,
    SetLiteral,
    Statement,
    Use,
    Voided,
    clock_text,
    zone_info,
)
from policylang.scenario.parser import (
    KEYWORDS,
    SCENARIO_WORDS,
    STATEMENT_KEYWORDS,
    parse_scenario,
    parse_statement,
)
from policylang.scenario.runner import (
    Answer,
    CustomerState,
    FileReport,
    Loader,
    ScenarioLoads,
    ScenarioRun,
    decided_rules,
    load_policy_file,
    raise_problems,
    run_file,
    typed_attribute,
)
from policylang.scenario.wording import (
    contact_fits,
    contact_text,
    describe_decision,
    displaced_text,
    expectation_for,
    format_instant,
    format_wall,
    offset_text,
    quoted,
    request_text,
    spec_text,
)

__all__ = [
    "KEYWORDS", "SCENARIO_WORDS", "STATEMENT_KEYWORDS",
    "Answer", "Ask", "AttrValue", "Check", "ContactSpec", "CustomerDecl", "CustomerState", "Expect",
    "FileReport", "Had", "HadEvent", "Instant", "Loader", "Now", "RequestSpec", "ScenarioFile",
    "ScenarioLoads", "ScenarioRun", "SetLiteral", "Statement", "Use", "Voided",
    "clock_text", "contact_fits", "contact_text", "decided_rules", "describe_decision", "displaced_text",
    "expectation_for", "format_instant", "format_wall", "load_policy_file", "offset_text", "parse_scenario",
    "parse_statement", "quoted", "raise_problems", "request_text", "run_file", "spec_text",
    "typed_attribute", "zone_info",
]

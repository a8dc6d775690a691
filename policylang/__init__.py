"""policylang: one contact policy for every team that talks to a customer.

Library entry points::

    import policylang
    policy = policylang.load("examples/northwind.pol")
    decision = policy.decide(customer, policylang.Request(...), ledger)
"""

from __future__ import annotations

from pathlib import Path

from policylang.compiler import compile_policy
from policylang.decision import Decision, TraceEntry
from policylang.errors import (
    ErrorGroup,
    InputError,
    PolicyCompileError,
    PolicylangError,
    PolicySyntaxError,
    ScenarioError,
)
from policylang.records import Contact, Event, Request
from policylang.rules import Policy

__version__ = "0.1.0"


def compile(text: str, source: str = "<policy>") -> Policy:  # noqa: A001 - the public name
    """Compile policy ``text``; ``source`` names it in error messages."""
    return compile_policy(text, source)


def load(path: str | Path) -> Policy:
    """Read and compile a ``.pol`` file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicylangError(f"cannot read {path}: {exc}") from None
    return compile_policy(text, str(path))


__all__ = [
    "Contact",
    "Decision",
    "ErrorGroup",
    "Event",
    "InputError",
    "Policy",
    "PolicyCompileError",
    "PolicySyntaxError",
    "PolicylangError",
    "Request",
    "ScenarioError",
    "TraceEntry",
    "compile",
    "load",
]

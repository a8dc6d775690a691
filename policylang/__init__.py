"""policylang: one contact policy for every team that talks to a customer.

Library entry points::

    import policylang
    policy = policylang.load("examples/northwind.pol")
    decision = policy.decide(customer, policylang.Request(...), ledger)
    decision = policy.decide_json(document)  # the section 10 document as JSON text

Importing the package imports none of the engine: each public name is loaded when it
is first used (PEP 562), so ``policylang --version`` and a cold command start pay only
for what they need.
"""

from __future__ import annotations

__version__ = "0.1.0"

# typing, pathlib and importlib are left unimported: a cold start is counted in milliseconds.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from policylang.decision import Decision, TraceEntry
    from policylang.errors import (
        ErrorGroup,
        InputError,
        PolicyCompileError,
        PolicylangError,
        PolicySyntaxError,
        ScenarioError,
    )
    from policylang.loads import SnapshotLoads
    from policylang.records import Contact, Event, Request
    from policylang.rules import Policy

# Public name -> the module that defines it.
_LAZY = {
    "Decision": "policylang.decision",
    "TraceEntry": "policylang.decision",
    "ErrorGroup": "policylang.errors",
    "InputError": "policylang.errors",
    "PolicyCompileError": "policylang.errors",
    "PolicylangError": "policylang.errors",
    "PolicySyntaxError": "policylang.errors",
    "ScenarioError": "policylang.errors",
    "Contact": "policylang.records",
    "Event": "policylang.records",
    "Request": "policylang.records",
    "Policy": "policylang.rules",
    "SnapshotLoads": "policylang.loads",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'policylang' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def compile(text: str, source: str = "<policy>") -> Policy:  # noqa: A001 - the public name
    """Compile policy ``text``; ``source`` names it in error messages."""
    from policylang.compiler import compile_policy

    return compile_policy(text, source)


def load(path: str | Path) -> Policy:
    """Read and compile a ``.pol`` file."""
    from pathlib import Path

    from policylang.compiler import compile_policy
    from policylang.errors import PolicylangError

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
    "SnapshotLoads",
    "TraceEntry",
    "compile",
    "load",
]

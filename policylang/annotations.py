"""Run-time stand-ins for the names of :mod:`typing` that the decision path's modules use
(issue 11, cold start).

Importing :mod:`typing` was about 4 ms of a cold ``policylang decide`` (it builds its many
special forms and imports ``re``), and those modules need its names only for the type
checker. They write::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import Any, cast
    else:
        from policylang.annotations import Any, cast

mypy reads the first branch (it takes any ``TYPE_CHECKING`` as true); at run time the names
below do what :mod:`typing`'s do there: ``cast`` and ``overload`` hand their argument back
(an overload's stub is replaced by the implementation that follows it), ``Any`` can be
subscripted into (``list[Any]``), and a class based on ``Protocol`` is a plain class
(never instantiated or checked with ``isinstance``; it names what callers pass).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")
    F = TypeVar("F", bound=Callable[..., object])

Any = object
Protocol = object


def cast(kind: object, value: T) -> T:
    """``typing.cast``: ``value`` itself."""
    return value


def overload(function: F) -> F:
    """``typing.overload``: the stub itself (the implementation after it replaces it)."""
    return function


def assert_never(value: object) -> None:
    """``typing.assert_never``: code that a closed union's ``match`` never reaches."""
    shown = repr(value)
    if len(shown) > 100:  # typing's bound
        shown = shown[:100] + "..."
    raise AssertionError(f"Expected code to be unreachable, but got: {shown}")

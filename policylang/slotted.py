"""Slotted value classes without attrs: the decision path's records, rule graph, conditions
and decision (issue 11, cold start).

The syntax tree's nodes are attrs classes (the design card asks for that); the classes a
``policylang decide`` needs are written with :func:`frozen` and :func:`define` here instead,
because importing attrs (it imports typing, inspect, platform and builds its own classes)
was most of what a cold decide cost. They behave as ``attrs.frozen(slots=True)`` and
``attrs.define(slots=True)`` classes do for everything policylang and its users rely on:
the same ``__init__`` (positional and keyword-only fields, defaults, factories, converters,
private fields taken by their name without the underscore, ``__attrs_post_init__``), ``==``
field by field within one class, hashing when frozen, the same ``repr``, ``__match_args__``,
immutability (``attrs.exceptions.FrozenInstanceError``), ``__slots__`` with ``__weakref__``,
pickling and copying. ``attrs.fields``, ``attrs.has``, ``attrs.evolve`` and ``attrs.asdict``
keep working on them: each class answers attrs' ``__attrs_attrs__`` with real
``attrs.Attribute`` objects, built (importing attrs) the first time something asks. Inside
policylang, :func:`evolve` and :func:`fields` here do the same without importing attrs.

``__init__``, ``__eq__`` and ``__hash__`` are written as source and compiled, as attrs
writes them (the same speed: records are made, compared and hashed in hot loops); the
command line keeps their byte code between runs (:mod:`policylang.codecache` sets
:data:`COMPILE`). ``repr`` and pickling's state are shared functions.
"""

from __future__ import annotations

from operator import attrgetter, itemgetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_options):  # the type checker's view only: nothing to do at run time
        return lambda function: function


class _Nothing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOTHING"


NOTHING: Any = _Nothing()  # no default


class Field:
    """One field of a class: what :func:`field` says of it (and its name and annotation)."""

    __slots__ = ("name", "type", "default", "factory", "takes_self", "converter", "init", "eq", "repr",
                 "kw_only", "alias", "inherited")

    def __init__(self, default: Any = NOTHING, factory: Callable[..., Any] | None = None, takes_self: bool = False,
                 converter: Callable[[Any], Any] | None = None, init: bool = True, eq: bool = True,
                 repr: bool = True, kw_only: bool = False, alias: str | None = None) -> None:
        self.name, self.type, self.inherited = "", None, False
        self.default, self.factory, self.takes_self, self.converter = default, factory, takes_self, converter
        self.init, self.eq, self.repr, self.kw_only, self.alias = init, eq, repr, kw_only, alias

    def named(self, name: str, annotation: Any, inherited: bool = False) -> Field:
        out = Field(self.default, self.factory, self.takes_self, self.converter, self.init, self.eq, self.repr,
                    self.kw_only, self.alias or name.lstrip("_") or name)
        out.name, out.type, out.inherited = name, annotation, inherited
        return out

    def __repr__(self) -> str:
        return f"Field({self.name!r})"


def field(*, default: Any = NOTHING, factory: Callable[..., Any] | None = None, takes_self: bool = False,
          converter: Callable[[Any], Any] | None = None, init: bool = True, eq: bool = True, repr: bool = True,
          kw_only: bool = False, alias: str | None = None) -> Any:
    """A field with more than a plain default, as ``attrs.field``: ``factory`` makes each
    instance's default (called with the instance when ``takes_self``), ``converter`` is
    applied to the value given, ``init=False`` leaves it out of ``__init__``, ``eq=False``
    out of equality and hashing, ``repr=False`` out of ``repr``."""
    return Field(default, factory, takes_self, converter, init, eq, repr, kw_only, alias)


def _source(specs: tuple[Field, ...], frozen: bool, post_init: bool, eq: bool) -> tuple[str, dict[str, Any]]:
    """The text of ``__init__`` (and ``__eq__``, and ``__hash__`` when frozen, as attrs
    writes them: the same speed) and the globals it reads (the same text every run: the
    hash's salt is a global)."""
    globs: dict[str, Any] = {"NOTHING": NOTHING, "_setattr_of": object.__setattr__.__get__}
    positional: list[str] = []
    keywords: list[str] = []
    body = ["    _setattr = _setattr_of(self)"] if frozen else []
    for spec in specs:
        param = spec.alias or spec.name
        if spec.init:
            if spec.factory is not None:
                default = "=NOTHING"
            elif spec.default is not NOTHING:
                default = f"=_default_{spec.name}"
                globs[f"_default_{spec.name}"] = spec.default
            else:
                default = ""
            (keywords if spec.kw_only else positional).append(param + default)
            value = param
            if spec.factory is not None:
                globs[f"_factory_{spec.name}"] = spec.factory
                made = f"_factory_{spec.name}(self)" if spec.takes_self else f"_factory_{spec.name}()"
                value = f"{param} if {param} is not NOTHING else {made}"
            if spec.converter is not None:
                globs[f"_convert_{spec.name}"] = spec.converter
                value = f"_convert_{spec.name}({value})"
        elif spec.factory is not None:
            globs[f"_factory_{spec.name}"] = spec.factory
            value = f"_factory_{spec.name}(self)" if spec.takes_self else f"_factory_{spec.name}()"
        elif spec.default is not NOTHING:
            value = f"_default_{spec.name}"
            globs[value] = spec.default
        else:
            continue  # set by __attrs_post_init__
        body.append(f"    _setattr({spec.name!r}, {value})" if frozen else f"    self.{spec.name} = {value}")
    if post_init:
        body.append("    self.__attrs_post_init__()")
    params = ", ".join(["self", *positional, *(["*", *keywords] if keywords else [])])
    text = f"def __init__({params}):\n" + ("\n".join(body) or "    pass") + "\n"
    if eq:
        compared = [spec.name for spec in specs if spec.eq]
        # field by field, as attrs compares (a NaN field is not equal to itself)
        same = " and ".join(f"self.{name} == other.{name}" for name in compared) or "True"
        text += (
            "def __eq__(self, other):\n"
            "    if other.__class__ is not self.__class__:\n"
            "        return NotImplemented\n"
            f"    return {same}\n"
        )
        if frozen:
            text += f"def __hash__(self):\n    return hash((_salt, {''.join(f'self.{name}, ' for name in compared)}))\n"
    return text, globs


def _compile(text: str, filename: str) -> Any:
    return compile(text, filename, "exec", dont_inherit=True)


COMPILE: Callable[[str, str], Any] = _compile  # (text, file name) -> code: policylang.codecache keeps them


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    from attr.exceptions import FrozenInstanceError  # attrs' error, as before (only when someone tries)

    raise FrozenInstanceError()


def _frozen_delattr(self: Any, name: str) -> None:
    from attr.exceptions import FrozenInstanceError

    raise FrozenInstanceError()


def _repr(self: Any) -> str:
    cls = type(self)
    shown = cls.__slotted_repr__
    name = cls.__qualname__.rsplit(">.", 1)[-1]
    return f"{name}(" + ", ".join(f"{field}={getattr(self, field)!r}" for field in shown) + ")"


def _getstate(self: Any) -> tuple[Any, ...]:
    return self.__slotted_state__(self)  # type: ignore[no-any-return]


def _setstate(self: Any, state: Any) -> None:
    names = self.__slotted_names__
    if isinstance(state, dict):  # attrs' form (copied by a caller that built it)
        state = tuple(state[name] for name in names if name in state)
    setter = object.__setattr__
    for name, value in zip(names, state, strict=False):  # attrs' dict form may leave some out
        setter(self, name, value)


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A function giving a tuple of the named attributes (a tuple for one and none too)."""
    if len(names) >= 2:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda instance: (one(instance),)
    return lambda instance: ()


class _AttrsView:
    """attrs' ``__attrs_attrs__`` of a class, built on first use (attrs is imported then)."""

    def __get__(self, instance: Any, owner: type) -> Any:
        import attr

        specs: tuple[Field, ...] = owner.__slotted_fields__  # type: ignore[attr-defined]
        made: list[Any] = []
        for spec in specs:
            if spec.factory is not None:
                default: Any = attr.Factory(spec.factory, True) if spec.takes_self else attr.Factory(spec.factory)
            else:
                default = attr.NOTHING if spec.default is NOTHING else spec.default
            made.append(attr.Attribute(  # type: ignore[call-arg]
                name=spec.name, default=default, validator=None, repr=spec.repr, cmp=None, hash=None,
                init=spec.init, inherited=spec.inherited, type=spec.type, converter=spec.converter,
                kw_only=spec.kw_only, eq=spec.eq, order=False, alias=spec.alias))
        tuple_class = type(f"{owner.__name__}Attributes", (tuple,),
                           {spec.name: property(itemgetter(i)) for i, spec in enumerate(specs)})
        found = tuple_class(made)
        type.__setattr__(owner, "__attrs_attrs__", found)  # once a class
        return found


def _build(cls: type, frozen: bool, eq: bool) -> type:
    own: list[Field] = []
    annotations = cls.__dict__.get("__annotations__", {})
    for name, annotation in annotations.items():
        if isinstance(annotation, str) and annotation.startswith(("ClassVar", "typing.ClassVar")):
            continue
        value = cls.__dict__.get(name, NOTHING)
        spec = value if isinstance(value, Field) else Field(default=value)
        own.append(spec.named(name, annotation))
    names = {spec.name for spec in own}
    inherited = [spec.named(spec.name, spec.type, inherited=True)
                 for spec in getattr(cls, "__slotted_fields__", ()) if spec.name not in names]
    specs = (*inherited, *own)
    base_slots = {slot for base in cls.__mro__[1:] for slot in base.__dict__.get("__slots__", ())}
    weakref = any("__weakref__" in base.__dict__ for base in cls.__mro__[1:])
    namespace = {key: value for key, value in cls.__dict__.items()
                 if key not in names and key not in ("__dict__", "__weakref__")}
    namespace["__slots__"] = (*(spec.name for spec in own if spec.name not in base_slots),
                              *(() if weakref else ("__weakref__",)))
    post_init = hasattr(cls, "__attrs_post_init__")
    text, globs = _source(specs, frozen, post_init, eq)
    globs["_salt"] = hash(f"{cls.__module__}.{cls.__qualname__}")
    exec(COMPILE(text, f"<slotted {cls.__module__}.{cls.__qualname__}>"), globs)
    for method in ("__init__", "__eq__", "__hash__"):
        if method in globs:
            globs[method].__qualname__ = f"{cls.__qualname__}.{method}"
            globs[method].__module__ = cls.__module__
    init = globs["__init__"]
    init.__annotations__ = {**{spec.alias: spec.type for spec in specs if spec.init}, "return": None}
    every = tuple(spec.name for spec in specs)
    made_here: dict[str, Any] = {
        "__init__": init, "__repr__": _repr, "__getstate__": _getstate, "__setstate__": _setstate,
        "__replace__": evolve, "__match_args__": tuple(spec.name for spec in specs if spec.init and not spec.kw_only),
    }
    if eq:
        made_here["__eq__"] = globs["__eq__"]
        # equal by value but changeable: not hashable (as attrs)
        made_here["__hash__"] = globs["__hash__"] if frozen else None
    # what the class body writes itself stays (as attrs' auto_detect keeps it)
    namespace.update((key, value) for key, value in made_here.items() if key not in cls.__dict__)
    namespace.update(
        __slotted_fields__=specs, __slotted_names__=every, __slotted_state__=staticmethod(_getter(every)),
        __slotted_repr__=tuple(spec.name for spec in specs if spec.repr), __attrs_attrs__=_AttrsView(),
    )
    if frozen:
        namespace.update(__setattr__=_frozen_setattr, __delattr__=_frozen_delattr)
    made = type(cls)(cls.__name__, cls.__bases__, namespace)
    # methods that use super() or __class__ close over the class: point them at the new one
    for value in namespace.values():
        function = getattr(value, "fget", value)
        cells = getattr(function, "__closure__", None)
        if cells:
            for name, cell in zip(function.__code__.co_freevars, cells, strict=True):
                if name == "__class__" and cell.cell_contents is cls:
                    cell.cell_contents = made
    return made


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def frozen(cls: type[T]) -> type[T]:
    """An immutable slotted class of the annotated fields, as ``attrs.frozen(slots=True)``."""
    return _build(cls, frozen=True, eq=True)


@dataclass_transform(field_specifiers=(field,))
def define(cls: type[T] | None = None, *, eq: bool = True) -> Any:
    """A changeable slotted class of the annotated fields, as ``attrs.define(slots=True)``
    (``eq=False``: compared and hashed by identity)."""
    if cls is None:
        return lambda cls: _build(cls, frozen=False, eq=eq)
    return _build(cls, frozen=False, eq=eq)


def fields(cls: type) -> tuple[Field, ...]:
    """The fields of a class made here, in ``__init__``'s order (inherited ones first)."""
    return cls.__slotted_fields__  # type: ignore[attr-defined,no-any-return]


def evolve(instance: T, **changes: Any) -> T:
    """A copy of ``instance`` with ``changes`` (by ``__init__``'s names), as ``attrs.evolve``."""
    cls = type(instance)
    for spec in cls.__slotted_fields__:  # type: ignore[attr-defined]
        if spec.init and spec.alias not in changes:
            changes[spec.alias] = getattr(instance, spec.name)
    return cls(**changes)

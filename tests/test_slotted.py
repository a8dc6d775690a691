"""policylang.slotted: classes that behave as the attrs classes they replaced (issue 11, cold start).

Each shape is written twice, once with attrs and once with policylang.slotted, and the two are
held to the same answers: ``__init__``'s signature, defaults, factories and converters, ``repr``,
equality and hashing (NaN, another class), ``__match_args__``, immutability and its error,
slots, pickling and copying, and attrs' own functions (``fields``, ``evolve``, ``asdict``,
``has``) on the slotted twin. Then every slotted class of policylang answers ``attrs.fields``
as its twin would and round-trips through pickle.
"""

from __future__ import annotations

import copy
import datetime as dt
import inspect
import math
import pickle
import weakref
from typing import Any

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from policylang import slotted

UTC = dt.timezone.utc


def to_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(UTC)


# ---- twins: the same shapes in attrs and in slotted ------------------------------------------

@attrs.frozen(slots=True)
class APoint:
    x: Any
    y: Any = 0
    tags: tuple[str, ...] = ()


@slotted.frozen
class SPoint:
    x: Any
    y: Any = 0
    tags: tuple[str, ...] = ()


@attrs.frozen(slots=True)
class ABase:
    index: int
    source: Any = attrs.field(eq=False, repr=False)
    warn: bool = attrs.field(default=False, kw_only=True)
    cite: tuple[str, ...] = attrs.field(default=attrs.Factory(lambda s: (str(s.source),) if s.source else (),
                                                              takes_self=True), kw_only=True, eq=False, repr=False)


@attrs.frozen(slots=True)
class AChild(ABase):
    limit: int = 0
    at: dt.datetime = attrs.field(default=dt.datetime(2026, 1, 1, tzinfo=UTC), converter=to_utc)


@slotted.frozen
class SBase:
    index: int
    source: Any = slotted.field(eq=False, repr=False)
    warn: bool = slotted.field(default=False, kw_only=True)
    cite: tuple[str, ...] = slotted.field(factory=lambda s: (str(s.source),) if s.source else (), takes_self=True,
                                          kw_only=True, eq=False, repr=False)


@slotted.frozen
class SChild(SBase):
    limit: int = 0
    at: dt.datetime = slotted.field(default=dt.datetime(2026, 1, 1, tzinfo=UTC), converter=to_utc)


@attrs.frozen(slots=True)
class ADerived:
    values: tuple[int, ...]
    total: int = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "total", sum(self.values))


@slotted.frozen
class SDerived:
    values: tuple[int, ...]
    total: int = slotted.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "total", sum(self.values))


@attrs.define(slots=True, eq=False)
class AHolder:
    name: str
    items: list[int] = attrs.field(factory=list)
    _memo: dict[str, int] = attrs.field(factory=dict, repr=False)
    ready: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        self.ready = bool(self.items)


@slotted.define(eq=False)
class SHolder:
    name: str
    items: list[int] = slotted.field(factory=list)
    _memo: dict[str, int] = slotted.field(factory=dict, repr=False, alias="memo")
    ready: bool = slotted.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        self.ready = bool(self.items)


@attrs.define(slots=True)
class ACounts:
    checks: int = 0
    jumps: int = 0


@slotted.define
class SCounts:
    checks: int = 0
    jumps: int = 0


TWINS = [(APoint, SPoint), (ABase, SBase), (AChild, SChild), (ADerived, SDerived), (AHolder, SHolder),
         (ACounts, SCounts)]


def same_text(a: str, b: str) -> None:
    assert a.replace("APoint", "P").replace("AChild", "C").replace("ABase", "B").replace("ADerived", "D") \
        .replace("AHolder", "H").replace("ACounts", "N") == \
        b.replace("SPoint", "P").replace("SChild", "C").replace("SBase", "B").replace("SDerived", "D") \
        .replace("SHolder", "H").replace("SCounts", "N")


@pytest.mark.parametrize(("a", "s"), TWINS, ids=[s.__name__ for _, s in TWINS])
def test_the_same_init_match_args_slots_and_fields(a: type, s: type) -> None:
    assert str(inspect.signature(a)) == str(inspect.signature(s))
    assert a.__match_args__ == s.__match_args__  # type: ignore[attr-defined]
    assert a.__slots__ == s.__slots__  # type: ignore[attr-defined]
    assert attrs.has(s)
    theirs, ours = attrs.fields(a), attrs.fields(s)
    assert [(f.name, f.alias, f.init, f.eq, f.repr, f.kw_only, f.inherited, f.type) for f in theirs] == \
           [(f.name, f.alias, f.init, f.eq, f.repr, f.kw_only, f.inherited, f.type) for f in ours]
    assert [f.name for f in slotted.fields(s)] == [f.name for f in theirs]
    for f in theirs:  # named access, as attrs' own tuple gives
        assert getattr(ours, f.name).name == f.name


values = st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=3), st.none(),
                   st.tuples(st.integers(), st.text(max_size=2)))


@given(x=values, y=values, x2=values, tags=st.lists(st.text(max_size=2), max_size=2).map(tuple))
@example(x=math.nan, y=0, x2=math.nan, tags=())  # the same NaN: attrs says not equal
@example(x=1, y=(1, "a"), x2=1.0, tags=("a",))  # equal values of other types
def test_points_equal_hash_and_print_as_attrs_does(x: Any, y: Any, x2: Any, tags: tuple[str, ...]) -> None:
    a, s = APoint(x, y, tags), SPoint(x, y, tags)
    same_text(repr(a), repr(s))
    assert (a == APoint(x, y, tags)) == (s == SPoint(x, y, tags))  # a NaN equals itself by identity
    assert (a == APoint(x2, y, tags)) == (s == SPoint(x2, y, tags))
    assert (a != APoint(x2, y, tags)) == (s != SPoint(x2, y, tags))
    if a == APoint(x2, y, tags):
        assert hash(s) == hash(SPoint(x2, y, tags))
    assert s != a and a != s  # another class: never equal
    assert s.__eq__(a) is NotImplemented
    assert pickle.loads(pickle.dumps(s)) == s or any(isinstance(v, float) and math.isnan(v) for v in (x, y))
    assert copy.copy(s) == s or any(isinstance(v, float) and math.isnan(v) for v in (x, y))
    assert attrs.asdict(s) == attrs.asdict(a) or any(isinstance(v, float) and math.isnan(v) for v in (x, y))
    assert attrs.astuple(s) == attrs.astuple(a) or any(isinstance(v, float) and math.isnan(v) for v in (x, y))


def test_defaults_factories_converters_and_keywords() -> None:
    for base, child in ((ABase, AChild), (SBase, SChild)):
        one = child(1, "src", 5, dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))), warn=True)
        assert (one.index, one.source, one.limit, one.warn, one.cite) == (1, "src", 5, True, ("src",))
        assert one.at == dt.datetime(2026, 3, 1, 10, tzinfo=UTC) and one.at.tzinfo is UTC  # converted
        assert base(2, None).cite == () and base(2, None, cite=("x",)).cite == ("x",)
        assert child(1, "a") == child(1, "b")  # source and cite are left out of equality
        assert hash(child(1, "a")) == hash(child(1, "b"))
        with pytest.raises(TypeError):
            child(1, "a", 2, dt.datetime(2026, 1, 1, tzinfo=UTC), True)  # warn is keyword-only
        with pytest.raises(TypeError):
            base(1)  # source has no default
    same_text(repr(AChild(1, "a", warn=True)), repr(SChild(1, "a", warn=True)))
    assert SChild(1, "a") != SBase(1, "a") and SBase(1, "a") != SChild(1, "a")
    derived = SDerived((1, 2, 3))
    assert derived.total == 6 and derived == SDerived((1, 2, 3)) and repr(derived) == "SDerived(values=(1, 2, 3))"
    with pytest.raises(TypeError):
        SDerived((1,), 1)  # type: ignore[call-arg]  # total is not an argument


def test_frozen_instances_refuse_changes_with_attrs_error() -> None:
    point = SPoint(1)
    for change in (lambda: setattr(point, "x", 2), lambda: delattr(point, "x"),
                   lambda: setattr(point, "other", 2)):
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            change()
    assert point.x == 1


def test_changeable_classes_compare_as_attrs_says() -> None:
    holder = SHolder("h", [1], memo={"a": 1})
    assert holder.ready and holder._memo == {"a": 1}
    holder.name = "g"  # changeable
    assert holder != SHolder("g", [1]) and holder == holder  # eq=False: identity
    assert hash(holder) == object.__hash__(holder)
    assert SHolder("x").items is not SHolder("x").items  # a fresh list each
    assert SCounts(1, 2) == SCounts(1, 2) and SCounts.__hash__ is None and ACounts.__hash__ is None
    counts = SCounts()
    counts.checks += 3
    assert counts == SCounts(3, 0)
    same_text(repr(AHolder("h", [1])), repr(SHolder("h", [1])))
    with pytest.raises(AttributeError):
        holder.unknown = 1  # type: ignore[attr-defined]  # slotted


def test_evolve_pickle_copy_and_weakref() -> None:
    child = SChild(1, "src", 3, warn=True)
    for evolved in (attrs.evolve(child, limit=4), slotted.evolve(child, limit=4), child.__replace__(limit=4)):
        assert type(evolved) is SChild and evolved.limit == 4 and evolved.warn and evolved.source == "src"
        assert evolved.cite == ("src",)
    holder = SHolder("h", [1], memo={"k": 2})
    for made in (attrs.evolve(holder, name="g"), slotted.evolve(holder, name="g")):
        assert made.name == "g" and made._memo == {"k": 2} and made.ready
    for value in (child, SDerived((4, 5)), holder, SCounts(2, 1)):
        again = pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        assert type(again) is type(value)
        assert [getattr(again, f.name) for f in slotted.fields(type(value))] == \
               [getattr(value, f.name) for f in slotted.fields(type(value))]
        deep = copy.deepcopy(value)
        assert [getattr(deep, f.name) for f in slotted.fields(type(value))] == \
               [getattr(value, f.name) for f in slotted.fields(type(value))]
    assert weakref.ref(child)() is child


def test_match_patterns_read_the_positional_fields() -> None:
    match SChild(7, "s", 2):
        case SChild(index, source, limit):
            assert (index, source, limit) == (7, "s", 2)
        case _:
            pytest.fail("no match")


def test_super_and_class_cells_point_at_the_made_class() -> None:
    @slotted.frozen
    class Named:
        name: str

        def __str__(self) -> str:
            return f"<{super().__str__() != ''} {__class__.__name__} {self.name}>"

    assert str(Named("a")) == "<True Named a>"


# ---- policylang's own classes -------------------------------------------------------------------

def policylang_classes() -> list[type]:
    import policylang.conditions
    import policylang.decision
    import policylang.evaluator
    import policylang.ingest
    import policylang.records
    import policylang.rules
    import policylang.source

    found = []
    for module in (policylang.conditions, policylang.decision, policylang.evaluator, policylang.ingest,
                   policylang.records, policylang.rules, policylang.source):
        found += [v for v in vars(module).values()
                  if isinstance(v, type) and v.__module__ == module.__name__ and "__slotted_fields__" in vars(v)]
    return found


def test_every_slotted_class_of_the_decision_path_answers_attrs() -> None:
    classes = policylang_classes()
    assert len(classes) >= 40
    for cls in classes:
        assert attrs.has(cls), cls
        assert [f.name for f in attrs.fields(cls)] == [f.name for f in slotted.fields(cls)]
        assert "__weakref__" in {s for c in cls.__mro__ for s in vars(c).get("__slots__", ())}, cls


def test_a_compiled_policy_round_trips_through_pickle() -> None:
    from pathlib import Path

    from policylang.compiled import decision_form
    from policylang.compiler import compile_policy

    path = Path(__file__).resolve().parent.parent / "examples" / "northwind.pol"
    policy = decision_form(compile_policy(path.read_text(encoding="utf-8"), str(path)))
    again = pickle.loads(pickle.dumps(policy, protocol=pickle.HIGHEST_PROTOCOL))
    assert again.rules == policy.rules and [r.cite for r in again.rules] == [r.cite for r in policy.rules]
    assert again.vocabulary == policy.vocabulary and again.has_windows == policy.has_windows
    assert {hash(r) for r in again.rules} == {hash(r) for r in policy.rules}


def test_what_the_class_body_writes_stays() -> None:
    @slotted.frozen
    class Shown:
        name: str
        size: int = 0

        def __repr__(self) -> str:
            return f"<{self.name}>"

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Shown) and other.name == self.name

        __hash__ = object.__hash__

    @attrs.frozen(slots=True)
    class Twin:
        name: str
        size: int = 0

        def __repr__(self) -> str:
            return f"<{self.name}>"

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Twin) and other.name == self.name

        __hash__ = object.__hash__

    for cls in (Shown, Twin):
        one = cls("a", 1)
        assert repr(one) == "<a>" and one == cls("a", 2) and hash(one) == object.__hash__(one)

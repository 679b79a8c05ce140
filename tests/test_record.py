"""``tfckpt._record.Record`` behaves as ``typing.NamedTuple`` does for the records we define."""

from __future__ import annotations

import copy
import pickle
from typing import NamedTuple

import pytest

from tfckpt._record import Record
from tfckpt.format._bundle import BundleEntry, BundleHeader
from tfckpt.format._table_format import BlockHandle


class Point(Record):
    """A point."""

    x: int
    y: int = 2
    tags: tuple[str, ...] = ()

    def norm1(self) -> int:
        return abs(self.x) + abs(self.y)

    @classmethod
    def origin(cls) -> Point:
        return cls(0, 0)

    @property
    def swapped(self) -> tuple[int, int]:
        return self.y, self.x


class TypingPoint(NamedTuple):
    x: int
    y: int = 2
    tags: tuple[str, ...] = ()


def test_same_shape_as_typing_namedtuple() -> None:
    p, q = Point(1), TypingPoint(1)
    assert p == q == (1, 2, ())
    assert Point._fields == TypingPoint._fields == ("x", "y", "tags")
    assert Point._field_defaults == TypingPoint._field_defaults == {"y": 2, "tags": ()}
    assert isinstance(p, tuple) and not hasattr(p, "__dict__")
    assert p._replace(y=5) == Point(1, 5)
    assert p._asdict() == {"x": 1, "y": 2, "tags": ()}
    assert repr(p) == "Point(x=1, y=2, tags=())"
    assert Point.__module__ == __name__ and Point.__qualname__ == "Point"
    assert Point.__doc__ == "A point."
    assert list(Point.__annotations__) == ["x", "y", "tags"]


def test_methods_classmethods_properties() -> None:
    p = Point(-3, 4)
    assert p.norm1() == 7
    assert Point.origin() == Point(0, 0) and type(Point.origin()) is Point
    assert p.swapped == (4, -3)


@pytest.mark.parametrize("value", [Point(1, 2, ("a",)), BlockHandle(7, 9), BundleEntry(1, (2, 3)), BundleHeader()])
def test_pickles(value: object) -> None:
    assert pickle.loads(pickle.dumps(value)) == value
    assert type(pickle.loads(pickle.dumps(value))) is type(value)


def test_refuses_what_typing_refuses() -> None:
    with pytest.raises(TypeError, match="non-default field 'y' after a field with a default"):

        class Bad(Record):
            x: int = 0
            y: int

    with pytest.raises(AttributeError, match="_replace"):

        class Bad2(Record):
            x: int

            def _replace(self) -> None: ...  # type: ignore[override]


def test_namedtuple_protocol_matches_typing() -> None:
    p, q = Point(1, tags=("a",)), TypingPoint(1, tags=("a",))
    assert Point.__match_args__ == TypingPoint.__match_args__
    assert Point._make([1, 2, ()]) == TypingPoint._make([1, 2, ()])
    for make in (Point._make, TypingPoint._make):
        with pytest.raises(TypeError, match="Expected 3 arguments, got 2"):
            make([1, 2])
    for value in (p, q):
        with pytest.raises(ValueError, match="unexpected field names: \\['z'\\]"):
            value._replace(z=1)
        with pytest.raises(TypeError):
            type(value)()  # x has no default
        with pytest.raises(TypeError):
            type(value)(1, 2, (), 4)
    assert p.__getnewargs__() == q.__getnewargs__() == (1, 2, ("a",))
    assert Point(x=5, y=6) == TypingPoint(x=5, y=6)
    assert Point.x.__doc__ == TypingPoint.x.__doc__ == "Alias for field number 0"
    assert Point.__new__.__defaults__ == TypingPoint.__new__.__defaults__
    assert Point.__new__.__code__.co_varnames == TypingPoint.__new__.__code__.co_varnames
    match p:
        case Point(x, y):
            assert (x, y) == (1, 2)
    assert copy.copy(p) == p and copy.deepcopy(p) == p


def test_every_arity() -> None:
    for arity in range(1, 9):
        names = [f"f{i}" for i in range(arity)]
        cls = type(Record)("Many", (Record,), {"__module__": __name__, "__annotations__": dict.fromkeys(names, "int")})
        value = cls(*range(arity))
        assert tuple(value) == tuple(range(arity)) and value._asdict() == dict(zip(names, range(arity)))
        assert cls(**dict(zip(names, range(arity)))) == value
    with pytest.raises(TypeError, match="1 to 8 fields"):
        type(Record)("TooMany", (Record,), {"__module__": __name__, "__annotations__": {f"f{i}": "int" for i in range(9)}})

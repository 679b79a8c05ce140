"""``tfckpt._record.Record`` behaves as ``typing.NamedTuple`` does for the records we define."""

from __future__ import annotations

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

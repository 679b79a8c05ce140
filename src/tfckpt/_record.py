"""``Record``: ``typing.NamedTuple`` for type checkers, a plain ``collections.namedtuple`` at
run time.

Why: ``typing.NamedTuple`` turns every field's annotation into a ``ForwardRef`` when the
class is created, and under ``from __future__ import annotations`` (every module here) each
annotation is a string that ``ForwardRef`` compiles. That is 0.15-0.5 ms per class, ~1.5 ms
of a fresh ``import tfckpt`` for the records on the read path, for checks nothing reads at
run time. ``Record`` builds the same class the way ``typing`` does (fields from the
annotations, trailing defaults, methods and docstring copied onto the namedtuple) minus
those checks; its ``__annotations__`` keep the strings, as on any class of these modules.

Use it exactly like ``NamedTuple``::

    class BlockHandle(Record):
        offset: int
        size: int = 0

        def end(self) -> int: ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["Record"]

if TYPE_CHECKING:
    from typing import NamedTuple as Record
else:
    import collections

    # What typing.NamedTupleMeta refuses to copy, or sets itself.
    _PROHIBITED = frozenset(
        {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults", "_make", "_replace", "_asdict", "_source"}
    )
    _SPECIAL = frozenset({"__module__", "__name__", "__annotations__"})

    class _RecordMeta(type):
        def __new__(mcls, typename, bases, namespace):
            if not bases:  # `Record` itself
                return super().__new__(mcls, typename, bases, namespace)
            if bases != (Record,):
                raise TypeError(f"{typename}: a Record subclasses Record alone")
            fields = list(namespace.get("__annotations__", {}))
            defaults = []
            for name in fields:
                if name in namespace:
                    defaults.append(namespace[name])
                elif defaults:
                    raise TypeError(f"{typename}: non-default field {name!r} after a field with a default")
            cls = collections.namedtuple(typename, fields, defaults=defaults, module=namespace["__module__"])
            for key, value in namespace.items():
                if key in _PROHIBITED:
                    raise AttributeError(f"{typename}: cannot overwrite the namedtuple attribute {key}")
                if key not in _SPECIAL and key not in cls._fields:
                    setattr(cls, key, value)
            cls.__annotations__ = dict(namespace.get("__annotations__", {}))
            return cls

    class Record(metaclass=_RecordMeta):
        """Base of typed records (see the module docstring)."""

"""``Record``: ``typing.NamedTuple`` for type checkers, a plain ``collections.namedtuple`` at
run time, built without compiling anything.

Why: ``typing.NamedTuple`` turns every field's annotation into a ``ForwardRef`` when the
class is created, and under ``from __future__ import annotations`` (every module here) each
annotation is a string that ``ForwardRef`` compiles. That is 0.15-0.5 ms per class, ~1.5 ms
of a fresh ``import tfckpt`` for the records on the read path, for checks nothing reads at
run time. ``Record`` builds the same class the way ``typing`` does (fields from the
annotations, trailing defaults, methods and docstring copied onto the namedtuple) minus
those checks; its ``__annotations__`` keep the strings, as on any class of these modules.
And ``collections.namedtuple`` compiles each class's ``__new__`` from source with ``eval`` and
makes fresh copies of its five methods: ``Record`` renames a ``__new__`` template of the right
arity (``code.replace``, no compiling) and shares one copy of the methods, which halves the
cost of each class again.

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
    import sys
    from operator import itemgetter

    try:
        from _collections import _tuplegetter  # what collections.namedtuple uses
    except ImportError:  # another interpreter: a property is as good, a little slower

        def _tuplegetter(index, doc):
            return property(itemgetter(index), doc=doc)

    _tuple_new = tuple.__new__

    # ``__new__`` templates by field count, renamed per record with ``code.replace``:
    # collections.namedtuple compiles each record's ``__new__`` from source with ``eval``,
    # the largest part of its ~0.1 ms a class. Records here have at most eight fields.
    def _new1(_cls, _0):
        return _tuple_new(_cls, (_0,))

    def _new2(_cls, _0, _1):
        return _tuple_new(_cls, (_0, _1))

    def _new3(_cls, _0, _1, _2):
        return _tuple_new(_cls, (_0, _1, _2))

    def _new4(_cls, _0, _1, _2, _3):
        return _tuple_new(_cls, (_0, _1, _2, _3))

    def _new5(_cls, _0, _1, _2, _3, _4):
        return _tuple_new(_cls, (_0, _1, _2, _3, _4))

    def _new6(_cls, _0, _1, _2, _3, _4, _5):
        return _tuple_new(_cls, (_0, _1, _2, _3, _4, _5))

    def _new7(_cls, _0, _1, _2, _3, _4, _5, _6):
        return _tuple_new(_cls, (_0, _1, _2, _3, _4, _5, _6))

    def _new8(_cls, _0, _1, _2, _3, _4, _5, _6, _7):
        return _tuple_new(_cls, (_0, _1, _2, _3, _4, _5, _6, _7))

    _NEW_BY_ARITY = (None, _new1, _new2, _new3, _new4, _new5, _new6, _new7, _new8)

    # What typing.NamedTupleMeta refuses to copy, or sets itself.
    _PROHIBITED = frozenset(
        {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults", "_make", "_replace", "_asdict", "_source"}
    )
    _SPECIAL = frozenset({"__module__", "__name__", "__annotations__"})

    class _RecordMethods(tuple):
        """The methods every namedtuple class gets, written once (namedtuple makes new
        functions for each class): same names, same behaviour."""

        __slots__ = ()
        _fields: tuple[str, ...] = ()

        @classmethod
        def _make(cls, iterable):
            result = _tuple_new(cls, iterable)
            if len(result) != len(cls._fields):
                raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(result)}")
            return result

        def _replace(self, /, **kwds):
            result = self._make(map(kwds.pop, self._fields, self))
            if kwds:
                raise ValueError(f"Got unexpected field names: {list(kwds)!r}")
            return result

        def __repr__(self):
            fields = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields, self))
            return f"{type(self).__name__}({fields})"

        def _asdict(self):
            return dict(zip(self._fields, self))

        def __getnewargs__(self):
            return tuple(self)

    class _RecordMeta(type):
        def __new__(mcls, typename, bases, namespace):
            if not bases:  # `Record` itself
                return super().__new__(mcls, typename, bases, namespace)
            if bases != (Record,):
                raise TypeError(f"{typename}: a Record subclasses Record alone")
            fields = tuple(sys.intern(name) for name in namespace.get("__annotations__", {}))
            defaults = []
            for name in fields:
                if name in namespace:
                    defaults.append(namespace[name])
                elif defaults:
                    raise TypeError(f"{typename}: non-default field {name!r} after a field with a default")
            if not 0 < len(fields) < len(_NEW_BY_ARITY):
                raise TypeError(f"{typename}: a Record has 1 to {len(_NEW_BY_ARITY) - 1} fields")
            template = _NEW_BY_ARITY[len(fields)]
            code = template.__code__.replace(co_varnames=("_cls", *fields), co_name="__new__")
            if hasattr(code, "co_qualname"):  # Python 3.11+
                code = code.replace(co_qualname=f"{typename}.__new__")
            new = type(template)(code, template.__globals__, "__new__", tuple(defaults) or None)
            new.__doc__ = f"Create new instance of {typename}({', '.join(fields)})"
            body = {
                "__doc__": f"{typename}({', '.join(fields)})",
                "__slots__": (),
                "__module__": namespace["__module__"],
                "__qualname__": namespace.get("__qualname__", typename),
                "_fields": fields,
                "_field_defaults": dict(zip(fields[len(fields) - len(defaults) :], defaults)),
                "__new__": new,
                "__match_args__": fields,
                "__annotations__": dict(namespace.get("__annotations__", {})),
            }
            for index, name in enumerate(fields):
                body[name] = _tuplegetter(index, f"Alias for field number {index}")
            for key, value in namespace.items():
                if key in _PROHIBITED:
                    raise AttributeError(f"{typename}: cannot overwrite the namedtuple attribute {key}")
                if key not in _SPECIAL and key not in fields and key != "__qualname__":
                    body[key] = value
            return type(typename, (_RecordMethods,), body)

    class Record(metaclass=_RecordMeta):
        """Base of typed records (see the module docstring)."""

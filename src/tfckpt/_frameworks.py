"""What :mod:`tfckpt.torch` and :mod:`tfckpt.jax` share: which tensors a ``load`` returns,
as numpy arrays, and the ``/``-nesting of names. Imports no framework.

Arrays come from :func:`tfckpt.open` with ``writable=True`` (copy-on-write mappings), so a
framework may write into them in place without reaching the file; ``copy=True`` reads owned
copies instead.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import numpy as np

from .checkpoint import Checkpoint
from .checkpoint import open as open_checkpoint
from .errors import InvalidArgumentError, UnsupportedError
from .objects import OBJECT_GRAPH_KEY

__all__ = ["Names", "load_arrays", "nest"]

#: What ``names=`` takes: checkpoint keys, or a mapping of returned name -> checkpoint key
#: (such as :meth:`tfckpt.Checkpoint.variables`).
Names = Iterable[str] | Mapping[str, str] | None

#: TensorFlow dtypes without an array form in any framework: skipped unless named.
_NO_ARRAY: Final = frozenset({"string", "variant"})


def load_arrays(
    path: str | os.PathLike[str], names: Names, *, copy: bool, verify: bool, framework: str
) -> dict[str, np.ndarray]:
    """``{returned name: array}`` for ``names`` (default: every tensor but strings and
    variants, which are skipped with one warning; the object graph is skipped silently).

    Raises
    ------
    UnsupportedError
        A string or variant tensor was named explicitly.
    InvalidArgumentError
        ``names`` is a single ``str`` rather than a collection of names.
    NotFoundError, CorruptionError
        As :meth:`tfckpt.Checkpoint.get_tensor`.
    """
    if isinstance(names, (str, bytes)):
        raise InvalidArgumentError(f"names must be a list of tensor names (or a mapping), not the single name {names!r}")
    with open_checkpoint(path, verify=verify, writable=not copy) as ckpt:
        if names is not None:
            pairs = list(names.items()) if isinstance(names, Mapping) else [(key, key) for key in names]
            for _, key in pairs:
                if ckpt.dtype(key) in _NO_ARRAY:
                    raise UnsupportedError(
                        f"{key!r} in {ckpt.prefix} is a {ckpt.dtype(key)} tensor, which {framework} cannot hold; "
                        f"read it with tfckpt.open({ckpt.prefix!r})[{key!r}]"
                    )
            arrays = ckpt.read_many([key for _, key in pairs], copy=copy)  # concurrent from URLs
            return {name: arrays[key] for name, key in pairs}
        # Everything: read first and look at the dtype only for what is not a plain array
        # (asking each tensor's dtype up front would cost as much as the reads themselves).
        arrays, skipped = {}, []
        keys = list(ckpt)
        ckpt._prefetch(keys)  # from a URL: every tensor's bytes requested at once
        for key, arr in _read_all(ckpt, keys, copy):
            if arr is not None and arr.dtype != object:
                arrays[key] = arr
            elif key != OBJECT_GRAPH_KEY:  # strings and variants
                skipped.append(key)
        if skipped:
            shown = ", ".join(repr(k) for k in skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
            warnings.warn(
                f"{ckpt.prefix}: skipped {len(skipped)} string/variant tensor(s) {framework} cannot hold: {shown} "
                "(read them as numpy with tfckpt.open)",
                stacklevel=3,
            )
        return arrays


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a/b": x, "a/c": y}`` -> ``{"a": {"b": x, "c": y}}`` (Flax-style trees).

    Raises
    ------
    InvalidArgumentError
        A name is both a tensor and the prefix of another (``w`` and ``w/adam_m``), or
        has an empty part (``a//b``).
    """
    tree: dict[str, Any] = {}
    for name in sorted(flat):  # a tensor sorts before any name it prefixes
        *parents, leaf = name.split("/")
        if not leaf or not all(parents):
            raise InvalidArgumentError(f"cannot nest {name!r}: it has an empty path component")
        node = tree
        for i, part in enumerate(parents):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InvalidArgumentError(
                    f"cannot nest {name!r}: {'/'.join(parents[: i + 1])!r} is a tensor itself; select names= without one of them"
                )
            node = child
        node[leaf] = flat[name]
    return tree


def _read_all(ckpt: Checkpoint, keys: list[str], copy: bool, batch: int = 4096) -> Iterator[tuple[str, np.ndarray | None]]:
    """``(key, array)`` for ``keys`` by the bulk path (``read_many``), ``None`` for variants
    (which have no array); a batch holding one is read tensor by tensor."""
    for start in range(0, len(keys), batch):
        part = keys[start : start + batch]
        try:
            yield from ckpt.read_many(part, copy=copy).items()
            continue
        except UnsupportedError:
            pass
        for key in part:
            try:
                yield key, ckpt.get_tensor(key, copy=copy)
            except UnsupportedError:
                if ckpt.dtype(key) != "variant":
                    raise
                yield key, None

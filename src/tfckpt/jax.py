"""JAX in and out of TensorFlow checkpoints: ``load`` and ``save``, through numpy.

Importing this module imports jax; ``import tfckpt`` never does.

Reading maps the data shards copy-on-write (``tfckpt.open(..., writable=True)``) and hands
each array to ``jax.device_put``, which on the CPU shares the memory of a tensor whose bytes
are 64-byte aligned (XLA's requirement) and copies the others; buffers are never written
through to the file. JAX uses ml_dtypes itself, so every fixed-width dtype is kept, except
that 64-bit types become 32-bit unless ``jax_enable_x64`` is on, as for any numpy input to
JAX (with a warning when that changes a value). Writing goes through :func:`tfckpt.save`,
which takes ``jax.Array`` leaves directly.

Example::

    import tfckpt.jax

    params = tfckpt.jax.load("bert/model.ckpt-1000", nested=True)  # {"bert": {"embeddings": ...}}
    tfckpt.jax.save("out/model.ckpt-1", params)                    # names "bert/embeddings/..."
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import jax
import numpy as np

from ._frameworks import Names, load_arrays, nest
from .writer import save as _save

__all__ = ["load", "save"]


def load(
    path: str | os.PathLike[str], *, names: Names = None, nested: bool = False, verify: bool = True
) -> dict[str, Any]:
    """Read tensors of a TensorFlow checkpoint as ``jax.Array``s on the default device.

    Parameters
    ----------
    path : str or PathLike
        Anything :func:`tfckpt.open` takes (prefix, ``.index``, directory, ...).
    names : iterable of str, or mapping, optional
        The checkpoint keys to read (default: every tensor; string and variant tensors are
        skipped with a warning). A mapping reads ``{returned name: checkpoint key}``, e.g.
        ``ckpt.variables()``.
    nested : bool
        Return a tree of dicts split on ``/`` (``{"dense": {"kernel": ...}}``, Flax-style)
        instead of a flat dict keyed by name.
    verify : bool
        Verify each tensor's CRC32C (default), as :func:`tfckpt.open`.

    Raises
    ------
    NotFoundError
        A name is not in the checkpoint (also a ``KeyError``).
    UnsupportedError
        A string or variant tensor was named.
    InvalidArgumentError
        ``nested`` and a name is both a tensor and a prefix of another (``w`` and
        ``w/adam_m``): select ``names`` without one of them.
    CorruptionError
        The checkpoint's bytes are damaged.

    Examples
    --------
    >>> import tfckpt.jax                                             # doctest: +SKIP
    >>> params = tfckpt.jax.load("run/model.ckpt-10", nested=True)
    """
    arrays = load_arrays(path, names, copy=False, verify=verify, framework="jax")
    _warn_narrowed(arrays)
    flat = {name: jax.device_put(arr) for name, arr in arrays.items()}
    return nest(flat) if nested else flat


def _warn_narrowed(arrays: dict[str, np.ndarray]) -> None:
    """Warn about the tensors whose values JAX's 32-bit mode (x64 off) would change."""
    changed = []
    for name, arr in arrays.items():
        narrow = jax.dtypes.canonicalize_dtype(arr.dtype)
        if narrow != arr.dtype and not _survives(arr, narrow):
            changed.append(f"{name!r} ({arr.dtype})")
    if changed:
        warnings.warn(
            f"JAX runs with 64-bit types off, so these tensors lose values as {len(changed)} 32-bit array(s): "
            f"{', '.join(changed)}; set jax.config.update('jax_enable_x64', True) to keep them",
            stacklevel=3,
        )


def _survives(arr: np.ndarray, narrow: np.dtype) -> bool:
    back = arr.astype(narrow).astype(arr.dtype)
    return bool(np.array_equal(back, arr, equal_nan=arr.dtype.kind in "fc"))


def save(prefix: str | os.PathLike[str], tree: Any, *, max_shard_size: int | None = None) -> str:
    """Write the leaves of a pytree as a TensorFlow checkpoint, named by their tree paths
    joined with ``/`` (``{"dense": {"kernel": k}}`` -> ``dense/kernel``; list and tuple
    positions and dataclass fields are path components too).

    Leaves may be ``jax.Array``s of any dtype with a TensorFlow counterpart (sharded
    arrays included when this process holds every shard), numpy arrays or Python numbers.

    Raises
    ------
    InvalidArgumentError
        Two leaves get the same name, or a leaf cannot be written (named).

    Examples
    --------
    >>> tfckpt.jax.save("out/model.ckpt-1", {"dense": {"kernel": k, "bias": b}})  # doctest: +SKIP
    'out/model.ckpt-1'
    """
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    named = ((jax.tree_util.keystr(path, simple=True, separator="/"), leaf) for path, leaf in leaves)
    return _save(prefix, named, max_shard_size=max_shard_size)

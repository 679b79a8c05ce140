"""PyTorch in and out of TensorFlow checkpoints: ``load`` and ``save``, through numpy.

Importing this module imports torch; ``import tfckpt`` never does.

Reading maps the data shards copy-on-write (``tfckpt.open(..., writable=True)``): tensors
share the page cache with the file until written, in-place writes (``add_``, optimizer
steps after ``load_state_dict(..., assign=True)``) copy only the pages they touch, and the
file never changes. Dtypes map one to one, bfloat16 and float8 through a same-width integer
view (``torch.from_numpy`` refuses ml_dtypes' types); the few TensorFlow dtypes torch lacks
are widened exactly (:data:`tfckpt.format._dtypes.TORCH_WIDENED`). Writing goes through
:func:`tfckpt.save`, which takes torch tensors directly (detached, moved to the CPU).

Example::

    import tfckpt.torch

    state = tfckpt.torch.load("bert/model.ckpt-1000")
    model.load_state_dict(state, assign=True)
    tfckpt.torch.save("out/model.ckpt-1", model.state_dict())
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Final

import numpy as np
import torch

from ._frameworks import Names, load_arrays
from .errors import UnsupportedError
from .format._dtypes import INT_BY_WIDTH, TORCH_VIEWED, TORCH_WIDENED, dtype_for_array
from .writer import save as _save

__all__ = ["load", "save"]

#: TensorFlow dtypes torch lacks -> the numpy type they are widened to first.
_WIDENED: Final[dict[str, np.dtype]] = {name: np.dtype(wide) for name, wide in TORCH_WIDENED.items()}


def load(
    path: str | os.PathLike[str], *, names: Names = None, copy: bool = False, verify: bool = True
) -> dict[str, torch.Tensor]:
    """Read tensors of a TensorFlow checkpoint as ``torch.Tensor``s on the CPU.

    Parameters
    ----------
    path : str or PathLike
        Anything :func:`tfckpt.open` takes (prefix, ``.index``, directory, ...).
    names : iterable of str, or mapping, optional
        The checkpoint keys to read (default: every tensor; string and variant tensors,
        which torch cannot hold, are skipped with a warning). A mapping reads
        ``{returned name: checkpoint key}``, e.g. ``ckpt.variables()`` for clean names
        without optimizer slots.
    copy : bool
        Read owned copies instead of copy-on-write views of the files (costs a copy of
        every tensor up front; the default costs nothing until a tensor is written).
    verify : bool
        Verify each tensor's CRC32C (default), as :func:`tfckpt.open`.

    Returns
    -------
    dict
        Name -> tensor, in key order (or ``names`` order). Tensors are writable; writing
        never reaches the file. Without ``copy`` they keep the files' mappings alive.

    Raises
    ------
    NotFoundError
        A name is not in the checkpoint (also a ``KeyError``).
    UnsupportedError
        A string or variant tensor was named.
    CorruptionError
        The checkpoint's bytes are damaged.

    Examples
    --------
    >>> import tfckpt.torch                                          # doctest: +SKIP
    >>> state = tfckpt.torch.load("run/model.ckpt-10")
    >>> model.load_state_dict(state, assign=True)
    """
    arrays = load_arrays(path, names, copy=copy, verify=verify, framework="torch")
    return {name: _to_torch(arr) for name, arr in arrays.items()}


def _to_torch(arr: np.ndarray) -> torch.Tensor:
    """A numpy array of any checkpoint dtype as a tensor sharing its memory (widened types
    excepted: int4 & co. become a new int8/uint8/float16 tensor)."""
    if arr.dtype.isbuiltin != 2:  # numpy's own types go straight through
        return torch.from_numpy(arr)
    row = dtype_for_array(arr.dtype)
    name = row.name if row is not None else str(arr.dtype)
    if name in TORCH_VIEWED:
        return torch.from_numpy(arr.view(INT_BY_WIDTH[arr.itemsize])).view(getattr(torch, name))
    if name in _WIDENED:
        return torch.from_numpy(arr.astype(_WIDENED[name]))
    raise UnsupportedError(f"torch has no dtype for {name} data")


def save(
    prefix: str | os.PathLike[str],
    state_dict: Mapping[str, Any] | Iterable[tuple[str, Any]],
    *,
    max_shard_size: int | None = None,
) -> str:
    """Write ``state_dict`` (name -> tensor) as a TensorFlow checkpoint; names as given.

    The same as :func:`tfckpt.save`: any mix of torch tensors (every dtype in
    :data:`tfckpt.format._dtypes.TORCH_DTYPES`; parameters are detached, other devices copied to
    the CPU), numpy arrays and Python numbers. Tied weights are written once per name.

    Raises
    ------
    InvalidArgumentError
        A bad name, or a tensor of a dtype TensorFlow has no counterpart for (named).

    Examples
    --------
    >>> tfckpt.torch.save("out/model.ckpt-1", model.state_dict())     # doctest: +SKIP
    'out/model.ckpt-1'
    """
    return _save(prefix, state_dict, max_shard_size=max_shard_size)

"""Array-likes as tensors: the TensorFlow dtype and the C-ordered, native-order array a
writer stores.

Numbers become a numpy array of the dtype's numpy type; ``str``, ``bytes`` and numpy
``U``/``S`` data become an object array of ``bytes`` (``str`` encoded as UTF-8, numpy's
trailing-NUL stripping avoided), which :func:`._string_payloads.encode_string_tensor` serializes.

Other frameworks' arrays are recognised here, and only here, so every writer path (``save``,
``Writer.add``/``add_slice``, ``save_objects``, ``save_like``, ``CheckpointManager``) takes
them: ``torch.Tensor`` and ``jax.Array`` by :data:`_FRAMEWORK_ARRAYS`, other DLPack
producers through ``numpy.from_dlpack``, anything with ``__array__`` through
``numpy.asarray``. Neither torch nor jax is imported: a value can only be one of their
arrays if its framework is already in ``sys.modules``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Final

import numpy as np

from ..errors import InvalidArgumentError
from ._dtypes import (
    DTYPE_BY_NAME,
    DTYPES,
    INT_BY_WIDTH,
    RESOURCE,
    STRING,
    TORCH_DTYPES,
    TORCH_VIEWED,
    VARIANT,
    DTypeInfo,
    dtype_for_array,
)

__all__ = ["BUFFER_DTYPES", "ArrayLike", "byte_view", "to_tensor"]

ArrayLike = Any


def to_tensor(value: ArrayLike, *, dtype: str | None = None, name: str = "") -> tuple[DTypeInfo, np.ndarray]:
    """Convert an array-like to ``(dtype row, C-contiguous native-order array)``.

    Strings (``str``, ``bytes``, numpy ``U``/``S`` arrays, object arrays of them) become an
    object array of ``bytes`` (``str`` encoded as UTF-8). ``dtype`` forces a TensorFlow dtype
    by name ("qint8", "bfloat16", ...) and casts numeric input to it.
    """
    try:
        return _to_tensor(value, dtype, name)
    except (ValueError, TypeError, OverflowError, UnicodeError) as e:
        if isinstance(e, InvalidArgumentError):
            raise
        raise InvalidArgumentError(f"{name!r}: cannot convert {type(value).__name__} to a tensor: {e}") from e


def _to_tensor(value: ArrayLike, dtype: str | None, name: str) -> tuple[DTypeInfo, np.ndarray]:
    if not isinstance(value, (np.ndarray, np.generic, bytes, str, int, float, list, tuple)):
        value = _foreign_array(value, name)
    if dtype is not None:
        info = DTYPE_BY_NAME.get(dtype) if isinstance(dtype, str) else None
        if info is None or info.enum in (RESOURCE, VARIANT):  # no array form to write from
            raise InvalidArgumentError(f"{name!r}: cannot write dtype {dtype!r}")
        if info.enum == STRING:
            return info, _as_bytes_array(_object_array(value), name)
        assert info.numpy is not None
        arr = np.asarray(value)
        if arr.dtype == object or arr.dtype.kind in "US" or (arr.dtype.kind == "V" and dtype_for_array(arr.dtype) is None):
            raise InvalidArgumentError(f"{name!r}: cannot write {arr.dtype} data as {dtype}")
        return info, _c_order(arr.astype(info.numpy, copy=False))
    if isinstance(value, np.ndarray):
        arr = value
    elif isinstance(value, (bytes, str)):
        return DTYPES[STRING], _as_bytes_array(_object_array(value), name)
    else:
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError, UnicodeError):
            # numpy cannot mix bytes holding non-ASCII with str; an object array can.
            arr = np.asarray(value, dtype=object)
            if not (arr.size and all(isinstance(v, (bytes, str)) for v in arr.flat)):
                raise
        if arr.dtype == object or arr.dtype.kind in "US":
            # numpy's "S" type drops trailing NUL bytes; keep the Python objects as given.
            arr = _object_array(value)
    if arr.dtype == object or arr.dtype.kind in "US":
        return DTYPES[STRING], _as_bytes_array(arr, name)
    row = dtype_for_array(arr.dtype)
    if row is None:
        raise InvalidArgumentError(
            f"{name!r}: numpy dtype {arr.dtype} has no TensorFlow equivalent "
            "(supported: bool, ints, floats, complex, ml_dtypes bfloat16/float8/int4/..., strings)"
        )
    assert row.numpy is not None
    if arr.dtype != row.numpy:  # foreign byte order
        arr = arr.astype(row.numpy)
    return row, _c_order(arr)


def _foreign_array(value: ArrayLike, name: str) -> ArrayLike:
    """A framework's array as a numpy array (zero-copy where the framework allows); any
    other value unchanged."""
    for module, attribute, convert in _FRAMEWORK_ARRAYS:
        framework = sys.modules.get(module)
        cls = getattr(framework, attribute, None) if framework is not None else None
        if cls is not None and isinstance(value, cls):
            try:
                return convert(framework, value, name)
            except (RuntimeError, NotImplementedError, TypeError, ValueError) as e:  # torch/jax raise these
                if isinstance(e, InvalidArgumentError):
                    raise
                raise InvalidArgumentError(f"{name!r}: cannot convert a {module}.{attribute} to a tensor: {e}") from e
    if hasattr(value, "__dlpack__") and not hasattr(value, "__array__"):
        try:
            return np.from_dlpack(value)
        except (BufferError, RuntimeError, TypeError, ValueError) as e:
            raise InvalidArgumentError(f"{name!r}: cannot read {type(value).__name__} through DLPack: {e}") from e
    return value


def _from_torch(torch: Any, tensor: Any, name: str) -> np.ndarray:
    """A ``torch.Tensor`` as numpy: detached from autograd, on the CPU, conjugation and
    negation resolved; bfloat16 and float8 through a same-width integer view (zero-copy
    for a CPU tensor)."""
    dtype_name = str(tensor.dtype).removeprefix("torch.")
    if dtype_name not in TORCH_DTYPES:
        raise InvalidArgumentError(
            f"{name!r}: torch dtype {dtype_name} has no TensorFlow counterpart (supported: {', '.join(sorted(TORCH_DTYPES))})"
        )
    if tensor.layout != torch.strided:  # sparse, mkldnn: dense first
        tensor = tensor.to_dense()
    tensor = tensor.detach().cpu().resolve_conj().resolve_neg()
    numpy_type = DTYPE_BY_NAME[dtype_name].numpy
    assert numpy_type is not None
    if dtype_name in TORCH_VIEWED:
        as_int = INT_BY_WIDTH[numpy_type.itemsize]
        return tensor.view(getattr(torch, as_int)).numpy().view(numpy_type)  # type: ignore[no-any-return]
    return tensor.numpy()  # type: ignore[no-any-return]


def _from_jax(jax: Any, array: Any, name: str) -> np.ndarray:
    """A ``jax.Array`` as numpy (JAX uses ``ml_dtypes`` itself, so every dtype converts);
    a sharded array is assembled from its shards when this process holds all of them."""
    if not array.is_fully_addressable:
        raise InvalidArgumentError(
            f"{name!r}: this jax.Array is sharded across processes and only part of it is here; "
            "gather it first (jax.experimental.multihost_utils.process_allgather)"
        )
    return np.asarray(array)


#: ``(module, class, converter)``: the framework arrays :func:`_foreign_array` recognises,
#: by ``isinstance`` against the class of a module the caller has already imported.
_FRAMEWORK_ARRAYS: Final[tuple[tuple[str, str, Callable[[Any, Any, str], np.ndarray]], ...]] = (
    ("torch", "Tensor", _from_torch),
    ("jax", "Array", _from_jax),
)


def _c_order(arr: np.ndarray) -> np.ndarray:
    """C-contiguous, keeping 0-d arrays 0-d (``np.ascontiguousarray`` would make them 1-d)."""
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _object_array(value: ArrayLike) -> np.ndarray:
    """``value`` as an object array holding the very objects given (0-d for a scalar)."""
    if isinstance(value, (bytes, str)):
        out = np.empty((), dtype=object)
        out[()] = value
        return out
    return np.asarray(value, dtype=object)


def _as_bytes_array(arr: np.ndarray, name: str) -> np.ndarray:
    out = np.empty(arr.shape, dtype=object)
    flat_in = arr.reshape(-1)
    flat_out = out.reshape(-1)
    for i in range(flat_in.size):
        v = flat_in[i]
        if isinstance(v, (bytes, np.bytes_)):
            flat_out[i] = bytes(v)
        elif isinstance(v, (str, np.str_)):
            try:
                flat_out[i] = v.encode("utf-8")
            except UnicodeEncodeError as e:
                raise InvalidArgumentError(f"{name!r}: str at flat index {i} is not encodable as UTF-8: {e}") from e
        else:
            raise InvalidArgumentError(
                f"{name!r}: an object array is saved as a string tensor and must hold only bytes or str; "
                f"found {type(v).__name__} at flat index {i}"
            )
    return out


def byte_view(arr: np.ndarray) -> memoryview:
    """The bytes of a C-contiguous array, without a copy."""
    try:
        return arr.data.cast("B")  # 3x cheaper than reshape + view, for numpy's own dtypes
    except (ValueError, TypeError):  # ml_dtypes types (bfloat16, float8, int4) have no buffer format
        return arr.reshape(-1).view(np.uint8).data


def _exports_buffer(dtype: np.dtype) -> bool:
    try:
        np.zeros(1, dtype).data.cast("B")
    except (ValueError, TypeError):  # as in byte_view: ml_dtypes' types have no buffer format
        return False
    return True


#: The native-order dtypes whose C-contiguous arrays can be written and checksummed through
#: their own buffer (numpy's own, not ml_dtypes'): the writer's fast path.
BUFFER_DTYPES: Final[dict[np.dtype, DTypeInfo]] = {
    row.numpy: info
    for row in DTYPES.values()
    if row.numpy is not None and (info := dtype_for_array(row.numpy)) is not None and _exports_buffer(row.numpy)
}

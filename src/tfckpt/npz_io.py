"""Writing ``.npz`` archives that ``numpy.load(path, allow_pickle=False)`` reads, one tensor at a time.

An ``.npz`` is a ZIP archive with one ``<name>.npy`` member per array (numpy's ``savez``);
``numpy.load`` strips the ``.npy`` again, so ``np.load(f)["dense/kernel"]`` works. Members
are streamed with ``numpy.lib.format.write_array(..., allow_pickle=False)`` into a
temporary file that is renamed into place.

What numpy can hold without pickle decides how each TensorFlow dtype is stored
(:func:`npz_array`):

==============================  =====================================================
TensorFlow dtype                stored as
==============================  =====================================================
bool, ints, floats, complex     the same numpy dtype
qint8, quint8, ... (quantized)  their integer type (as tfckpt reads them)
bfloat16, float8_*, float4      float32: every value is exactly representable
int4, int2 / uint4, uint2       int8 / uint8 (exact)
string                          fixed-width bytes (``S``) when that is lossless, i.e.
                                no element ends in a NUL byte (numpy strips trailing
                                NULs from ``S`` values); otherwise not storable
variant                         not storable
==============================  =====================================================

ml_dtypes arrays are widened rather than stored as raw two-byte records because
``numpy.load`` would return them as an unusable ``V2`` (void) dtype.

Names: a member is ``<name>.npy``, and ZIP cuts a member name at its first NUL byte, stores
it as UTF-8 and in at most 65,535 bytes. So a name with a NUL (which includes every
partitioned-variable slice key), one that is not valid UTF-8, or one longer than that is
refused (:func:`check_npz_name`) rather than stored under another name.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterable
from typing import Final

import numpy as np

from .errors import InvalidArgumentError
from .storage._atomic import replacing

__all__ = ["NPZ_WIDENED", "check_npz_name", "npz_array", "write_npz"]

#: Longest ZIP member name, in bytes (a 16-bit field).
_ZIP_NAME_MAX: Final = 0xFFFF

#: TensorFlow dtypes numpy cannot hold natively -> the numpy dtype they are widened to (exactly).
NPZ_WIDENED: Final[dict[str, str]] = {
    "bfloat16": "float32",
    "float8_e5m2": "float32",
    "float8_e4m3fn": "float32",
    "float8_e4m3fnuz": "float32",
    "float8_e4m3b11fnuz": "float32",
    "float8_e5m2fnuz": "float32",
    "float4_e2m1fn": "float32",
    "int4": "int8",
    "int2": "int8",
    "uint4": "uint8",
    "uint2": "uint8",
}


def npz_array(tf_dtype: str, arr: np.ndarray) -> tuple[np.ndarray | None, str]:
    """``(array to store, "")`` or ``(None, reason)`` for a tensor numpy cannot hold without pickle.

    Examples
    --------
    >>> npz_array("bfloat16", np.zeros(2, dtype="bfloat16"))[0].dtype   # doctest: +SKIP
    dtype('float32')
    """
    widened = NPZ_WIDENED.get(tf_dtype)
    if widened is not None:
        return arr.astype(widened), ""
    if tf_dtype == "variant":
        return None, "variant tensors have no numpy form"
    if arr.dtype == object:
        flat = list(arr.reshape(-1))
        if any(not isinstance(x, bytes) for x in flat):
            return None, "not a string tensor of bytes"
        if any(x.endswith(b"\0") for x in flat):
            return None, "a string ends in a NUL byte, which numpy's fixed-width bytes would drop"
        width = max((len(x) for x in flat), default=0) or 1
        return np.array(flat, dtype=f"S{width}").reshape(arr.shape), ""
    return arr, ""


def check_npz_name(name: str) -> None:
    """Refuse a tensor name ``numpy.load`` would not give back unchanged (see the module docs).

    Raises
    ------
    InvalidArgumentError
        The name holds a NUL byte, is not valid UTF-8, or is too long for a ZIP member.
    """
    if "\0" in name:
        raise InvalidArgumentError(f"{name!r}: a .npz cannot hold a name with a NUL byte (ZIP member names end at the first NUL)")
    try:
        size = len(name.encode("utf-8")) + len(".npy")
    except UnicodeEncodeError:
        raise InvalidArgumentError(f"{name!r}: a .npz stores names as UTF-8, and this name is not valid UTF-8") from None
    if size > _ZIP_NAME_MAX:
        raise InvalidArgumentError(f"{name[:40]!r}...: a name of {size - 4} bytes is too long for a .npz member (at most {_ZIP_NAME_MAX - 4})")


def write_npz(
    path: str | os.PathLike[str],
    items: Iterable[tuple[str, np.ndarray]],
    *,
    compress: bool = False,
    on_tensor: Callable[[str], None] | None = None,
) -> str:
    """Write ``(name, array)`` pairs to an ``.npz`` archive, streaming; return ``path``.

    Arrays must already be storable without pickle (see :func:`npz_array`).

    Raises
    ------
    InvalidArgumentError
        A repeated name, a name a ``.npz`` cannot hold (:func:`check_npz_name`), an object
        array, or an existing ``path`` that is not a regular file; nothing is left at ``path``.

    Examples
    --------
    >>> write_npz("weights.npz", [("w", np.ones(3))])                     # doctest: +SKIP
    'weights.npz'
    """
    final = os.fspath(path)
    seen: set[str] = set()
    with replacing(final) as temp:
        method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        with zipfile.ZipFile(temp, mode="w", compression=method, allowZip64=True) as zf:
            for name, arr in items:
                if name in seen:
                    raise InvalidArgumentError(f"{name!r}: repeated name")
                check_npz_name(name)
                if arr.dtype == object:
                    raise InvalidArgumentError(f"{name!r}: object arrays need pickle; convert with npz_array() first")
                seen.add(name)
                with zf.open(name + ".npy", mode="w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=False)
                if on_tensor is not None:
                    on_tensor(name)
    return final

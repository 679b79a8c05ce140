"""TensorFlow ``DataType`` enum values and how each is stored and served as numpy.

One table, :data:`DTYPES`, drives both reading and writing. Fixed-width types are stored as
raw C-order element bytes in the writer's byte order (``DataTypeCanUseMemcpy``); sub-byte
types (int4, uint4, int2, uint2, float4_e2m1fn) take one byte per element with the value in
the low bits, which is exactly ``ml_dtypes``' in-memory layout, so they are zero-copy too.
Quantized types are served as their underlying integer type. ``string`` and ``variant``
have their own encodings (see :mod:`._bundle`); ``resource`` can never be stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Final

import numpy as np

from ..errors import UnsupportedError

__all__ = ["DTYPES", "DTYPE_BY_NAME", "NUMPY_MAX_RANK", "STRING", "VARIANT", "DTypeInfo", "dtype_for_array", "require_numpy_rank"]

STRING: Final = 7
VARIANT: Final = 21
RESOURCE: Final = 20


#: Marks the rows whose numpy type is ``ml_dtypes``' type of the row's name.
ML_DTYPES: Final = "ml_dtypes"


@dataclass(frozen=True)
class DTypeInfo:
    """One row of the dtype table.

    ``numpy`` is None for types without a fixed-width array form (string, variant,
    resource). ``swap`` is the element width that byte-swapping works on for foreign-endian
    bundles (0: no swap needed; None: TensorFlow refuses to swap this type). ``source`` is
    the numpy type, or :data:`ML_DTYPES` for bfloat16, float8, int4 and friends: their
    ``numpy`` imports ``ml_dtypes`` when first asked for (not at ``import tfckpt``).
    """

    enum: int
    name: str
    source: object
    swap: int | None

    @cached_property
    def numpy(self) -> np.dtype | None:
        if self.source is None:
            return None
        if self.source == ML_DTYPES:
            import ml_dtypes

            dtype: np.dtype = np.dtype(getattr(ml_dtypes, self.name))
        else:
            dtype = np.dtype(self.source)  # type: ignore[call-overload]
        return dtype


def _row(enum: int, name: str, np_type: object, swap: int | None) -> DTypeInfo:
    return DTypeInfo(enum, name, np_type, swap)


#: enum value -> row; names are TensorFlow's ``tf.DType.name``.
DTYPES: Final[dict[int, DTypeInfo]] = {
    r.enum: r
    for r in (
        _row(1, "float32", np.float32, 4),
        _row(2, "float64", np.float64, 8),
        _row(3, "int32", np.int32, 4),
        _row(4, "uint8", np.uint8, 0),
        _row(5, "int16", np.int16, 2),
        _row(6, "int8", np.int8, 0),
        _row(7, "string", None, 0),
        _row(8, "complex64", np.complex64, 4),
        _row(9, "int64", np.int64, 8),
        _row(10, "bool", np.bool_, 0),
        _row(11, "qint8", np.int8, 0),
        _row(12, "quint8", np.uint8, 0),
        _row(13, "qint32", np.int32, 4),
        _row(14, "bfloat16", ML_DTYPES, 2),
        _row(15, "qint16", np.int16, 2),
        _row(16, "quint16", np.uint16, 2),
        _row(17, "uint16", np.uint16, 2),
        _row(18, "complex128", np.complex128, 8),
        _row(19, "float16", np.float16, 2),
        _row(20, "resource", None, None),
        _row(21, "variant", None, None),
        _row(22, "uint32", np.uint32, 4),
        _row(23, "uint64", np.uint64, 8),
        _row(24, "float8_e5m2", ML_DTYPES, None),
        _row(25, "float8_e4m3fn", ML_DTYPES, None),
        _row(26, "float8_e4m3fnuz", ML_DTYPES, None),
        _row(27, "float8_e4m3b11fnuz", ML_DTYPES, None),
        _row(28, "float8_e5m2fnuz", ML_DTYPES, None),
        _row(29, "int4", ML_DTYPES, None),
        _row(30, "uint4", ML_DTYPES, None),
        _row(31, "int2", ML_DTYPES, None),
        _row(32, "uint2", ML_DTYPES, None),
        _row(33, "float4_e2m1fn", ML_DTYPES, None),
    )
}

#: TensorFlow dtype name -> row. ``half`` and ``float``/``double`` are accepted aliases.
DTYPE_BY_NAME: Final[dict[str, DTypeInfo]] = {r.name: r for r in DTYPES.values()}
DTYPE_BY_NAME.update(half=DTYPES[19], float=DTYPES[1], double=DTYPES[2])

# numpy dtype -> the enum a writer records. Quantized types share numpy types with plain
# integers, so only the plain ones are reachable from an array; ask for "qint8" by name.
# Filled on the first call (it needs ml_dtypes).
_ENUM_BY_NUMPY: Final[dict[np.dtype, int]] = {}


def dtype_for_array(dtype: np.dtype) -> DTypeInfo | None:
    """The row a numpy dtype is saved as (native or either byte order), or None."""
    if not _ENUM_BY_NUMPY:
        for row in DTYPES.values():
            if row.numpy is not None and row.name[0] != "q":
                _ENUM_BY_NUMPY.setdefault(row.numpy, row.enum)
    enum = _ENUM_BY_NUMPY.get(dtype.newbyteorder("=")) if dtype.byteorder not in "=|" else _ENUM_BY_NUMPY.get(dtype)
    return None if enum is None else DTYPES[enum]


#: Most dimensions a numpy array can have (``NPY_MAXDIMS``: 64 since numpy 2, 32 before);
#: TensorFlow allows 254, so a valid tensor can have no numpy form.
NUMPY_MAX_RANK: Final = 64 if int(np.__version__.split(".")[0]) >= 2 else 32


def require_numpy_rank(shape: tuple[int, ...], name: str) -> None:
    """Raise :class:`~tfckpt.errors.UnsupportedError` if ``shape`` has more dimensions than numpy allows."""
    if len(shape) > NUMPY_MAX_RANK:
        raise UnsupportedError(
            f"{name!r} has rank {len(shape)}; numpy arrays have at most {NUMPY_MAX_RANK} dimensions, "
            "so it has no numpy form (its shape, dtype and raw_bytes() are still available)"
        )


# -- PyTorch's dtypes (written by :mod:`._tensors`, read by :mod:`tfckpt.torch`) -------------

#: ``torch.<name>`` dtypes that are the TensorFlow dtype of the same name. torch's
#: ``Tensor.numpy()`` and ``torch.from_numpy`` refuse the ``ml_dtypes`` ones (bfloat16,
#: float8), which therefore travel as the same-width integers of :data:`INT_BY_WIDTH` and
#: are reinterpreted on the other side (``Tensor.view(dtype)``, ``ndarray.view(dtype)``).
#: Any other torch dtype (complex32, qint8, float8_e8m0fnu, the packed and sub-byte shells
#: int1-7/uint1-7 and float4_e2m1fn_x2) has no TensorFlow counterpart.
TORCH_DTYPES: Final[frozenset[str]] = frozenset(
    {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
     "float16", "float32", "float64", "complex64", "complex128",
     "bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz"}
)  # fmt: skip

#: The :data:`TORCH_DTYPES` that numpy has only as ml_dtypes' user-defined types
#: (``isbuiltin == 2``): the ones that travel as integers.
TORCH_VIEWED: Final[frozenset[str]] = frozenset(name for name in TORCH_DTYPES if DTYPE_BY_NAME[name].source == ML_DTYPES)

#: TensorFlow dtypes torch has no type for -> the torch dtype that holds each of their
#: values exactly and computes (reading only; writing the tensor back stores that type).
#: float4_e2m1fn (+-0..6, 1 mantissa bit) and float8_e4m3b11fnuz (2**-13..30, 3 mantissa
#: bits, one NaN) both fit float16's 10-bit mantissa and 2**-24..65504 range.
TORCH_WIDENED: Final[dict[str, str]] = {
    "int4": "int8",
    "int2": "int8",
    "uint4": "uint8",
    "uint2": "uint8",
    "float4_e2m1fn": "float16",
    "float8_e4m3b11fnuz": "float16",
}

#: Element width in bytes -> the integer dtype name whose array reinterprets one of that
#: width without a copy (a name both numpy and torch know).
INT_BY_WIDTH: Final[dict[int, str]] = {1: "uint8", 2: "int16", 4: "int32", 8: "int64"}

"""TensorFlow-compatible functions: ``tf.train`` scripts port by changing their import.

::

    import tfckpt as tf_train          # instead of: from tensorflow import train as tf_train
    reader = tf_train.load_checkpoint("run/")
    reader.get_variable_to_shape_map()

Arrays from this facade are owned, writable copies (as TensorFlow's are); use
:func:`tfckpt.open` for zero-copy views.
"""

from __future__ import annotations

import os
from typing import Any

from .checkpoint import Checkpoint, open
from .errors import NotFoundError
from .format._dtypes import DTYPE_BY_NAME, DTYPES
from .format._v2 import BundleReader
from .state import latest_checkpoint

__all__ = ["CheckpointReader", "DType", "list_variables", "load_checkpoint", "load_variable"]


class DType:
    """A stand-in for ``tf.DType``: ``.name`` is TensorFlow's name, ``.as_numpy_dtype`` the numpy type.

    Compares equal to another ``DType`` of the same name and to the name itself.
    """

    __slots__ = ("as_datatype_enum", "name")

    def __init__(self, name: str) -> None:
        info = DTYPE_BY_NAME[name]
        self.name = info.name
        self.as_datatype_enum = info.enum

    @property
    def as_numpy_dtype(self) -> type:
        info = DTYPES[self.as_datatype_enum]
        return info.numpy.type if info.numpy is not None else object

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DType):
            return self.name == other.name
        if isinstance(other, str):
            return other in DTYPE_BY_NAME and DTYPE_BY_NAME[other].name == self.name
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"tfckpt.DType({self.name!r})"


def _resolve_reader_path(ckpt_dir_or_file: str | os.PathLike[str]) -> str:
    path = os.fspath(ckpt_dir_or_file)
    if os.path.isdir(path):
        latest = latest_checkpoint(path)
        if latest is None:
            raise NotFoundError(f"Couldn't find 'checkpoint' file or checkpoints in given directory {path}", name=path)
        return latest
    return path


class CheckpointReader:
    """``tf.train.load_checkpoint``'s reader (``py_checkpoint_reader.CheckpointReader``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._ckpt: Checkpoint = open(path)

    def get_tensor(self, tensor_str: str) -> Any:
        """The tensor as an owned array. Scalars come back as TF returns them: a numpy
        scalar (``np.float32(1.0)``), or ``bytes`` for a string."""
        arr = self._ckpt.get_tensor(tensor_str, copy=True)
        if arr.ndim == 0:
            return arr[()]
        return arr

    def has_tensor(self, tensor_str: str) -> bool:
        return tensor_str in self._ckpt

    def get_variable_to_shape_map(self) -> dict[str, list[int]]:
        return {name: list(self._ckpt.shape(name)) for name in self._ckpt}

    def get_variable_to_dtype_map(self) -> dict[str, DType]:
        return {name: DType(self._ckpt.dtype(name)) for name in self._ckpt}

    def debug_string(self) -> bytes:
        """One line per index entry, ``name (DT_FLOAT) [2,3]``, exactly as TensorFlow's.

        For a V2 bundle that is ``BundleReader::DebugString``: every key in key order
        *including* the raw OrderedCode keys of slices, while the full entries of partitioned
        variables (those with ``slices``) are skipped. For V1, ``TensorSliceReader``'s:
        every tensor, with ``, N slices`` when partitioned (TF's order there is a hash
        map's; this lists names sorted).
        """
        source = self._ckpt._source
        rows: list[tuple[bytes, int, tuple[int, ...], str]] = []
        if isinstance(source, BundleReader):
            for key in sorted(source._raw):
                entry = source.entry_by_key(key)
                if not entry.slices:
                    rows.append((key, entry.dtype, entry.shape, ""))
        else:
            tensors = getattr(source, "_tensors", {})
            for name in self._ckpt:
                enum, shape = source.info(name)
                n = len(getattr(tensors.get(name), "slices", ()))
                rows.append((name.encode("utf-8", "surrogateescape"), enum, shape, f", {n} slices" if n > 1 else ""))
        return b"".join(
            key + f" ({_DT_NAMES[enum]}) [{','.join(map(str, shape))}]{suffix}\n".encode() for key, enum, shape, suffix in rows
        )

    def close(self) -> None:
        self._ckpt.close()


_DT_NAMES = {
    1: "DT_FLOAT", 2: "DT_DOUBLE", 3: "DT_INT32", 4: "DT_UINT8", 5: "DT_INT16", 6: "DT_INT8", 7: "DT_STRING",
    8: "DT_COMPLEX64", 9: "DT_INT64", 10: "DT_BOOL", 11: "DT_QINT8", 12: "DT_QUINT8", 13: "DT_QINT32",
    14: "DT_BFLOAT16", 15: "DT_QINT16", 16: "DT_QUINT16", 17: "DT_UINT16", 18: "DT_COMPLEX128", 19: "DT_HALF",
    20: "DT_RESOURCE", 21: "DT_VARIANT", 22: "DT_UINT32", 23: "DT_UINT64", 24: "DT_FLOAT8_E5M2",
    25: "DT_FLOAT8_E4M3FN", 26: "DT_FLOAT8_E4M3FNUZ", 27: "DT_FLOAT8_E4M3B11FNUZ", 28: "DT_FLOAT8_E5M2FNUZ",
    29: "DT_INT4", 30: "DT_UINT4", 31: "DT_INT2", 32: "DT_UINT2", 33: "DT_FLOAT4_E2M1FN",
}


def load_checkpoint(ckpt_dir_or_file: str | os.PathLike[str]) -> CheckpointReader:
    """``tf.train.load_checkpoint``: a reader for a checkpoint prefix or the latest in a directory.

    Raises
    ------
    NotFoundError
        A directory without a (valid) state file, or no checkpoint at the path.

    Examples
    --------
    >>> reader = tfckpt.load_checkpoint("run/")                     # doctest: +SKIP
    >>> reader.get_tensor("dense/kernel").shape                     # doctest: +SKIP
    (3, 4)
    """
    return CheckpointReader(_resolve_reader_path(ckpt_dir_or_file))


def list_variables(ckpt_dir_or_file: str | os.PathLike[str]) -> list[tuple[str, list[int]]]:
    """``tf.train.list_variables``: sorted ``(name, shape)`` pairs."""
    with open(_resolve_reader_path(ckpt_dir_or_file)) as ckpt:
        return [(name, list(ckpt.shape(name))) for name in ckpt]


def load_variable(ckpt_dir_or_file: str | os.PathLike[str], name: str) -> Any:
    """``tf.train.load_variable``: one tensor as an owned array; a trailing ``:0`` is ignored."""
    name = name.removesuffix(":0")
    reader = load_checkpoint(ckpt_dir_or_file)
    try:
        return reader.get_tensor(name)
    finally:
        reader.close()

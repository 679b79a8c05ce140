"""Writing safetensors files without the ``safetensors`` package, one tensor at a time.

Layout (https://github.com/huggingface/safetensors, "Format")::

    [0, 8)          N: the header length, u64 little-endian
    [8, 8 + N)      header: UTF-8 JSON object, padded with spaces (0x20) so 8 + N is a
                    multiple of 8
    [8 + N, end)    the byte buffer: every tensor's bytes, C order, little-endian

    header := { "__metadata__": {str: str, ...},                    (optional)
                "<name>": {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]},
                ... }

``data_offsets`` are relative to the start of the byte buffer, half-open; the tensors must
tile the buffer exactly (no gaps, no overlaps). A reader rejects headers over 100 MB.

This writer orders tensors by element width, widest first, then by name (as
``safetensors.serialize`` does), so every tensor starts at an offset aligned to its element
size. The header is computed from names, dtypes and shapes alone, so tensors are then
streamed one by one (or in pieces: :class:`TensorPieces`) and memory stays bounded by the
largest tensor. The file is written under a temporary name, flushed to disk in the background
every 64 MiB as it grows, and renamed into place.

Dtypes: the table :data:`SAFETENSORS_DTYPES` maps TensorFlow dtype names to safetensors
codes. Quantized types (``qint8``, ...) are stored as their integer type. float8 types have
codes (``F8_E4M3``, ...) that torch and jax read; the numpy loader of safetensors 0.8 has
no numpy type for them. complex128, the 4- and 2-bit types, strings and variants have no
safetensors code.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

from .errors import InvalidArgumentError
from .storage._atomic import replacing
from .storage._inputs import require_regular
from .storage._shards import WriteBack

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11

__all__ = ["SAFETENSORS_DTYPES", "SafetensorsFile", "SafetensorsSpec", "TensorPieces", "safetensors_dtype", "write_safetensors"]

#: TensorFlow dtype name -> (safetensors dtype code, element size in bytes).
SAFETENSORS_DTYPES: Final[dict[str, tuple[str, int]]] = {
    "float64": ("F64", 8),
    "float32": ("F32", 4),
    "float16": ("F16", 2),
    "bfloat16": ("BF16", 2),
    "int64": ("I64", 8),
    "uint64": ("U64", 8),
    "int32": ("I32", 4),
    "uint32": ("U32", 4),
    "int16": ("I16", 2),
    "uint16": ("U16", 2),
    "int8": ("I8", 1),
    "uint8": ("U8", 1),
    "bool": ("BOOL", 1),
    "complex64": ("C64", 8),
    "float8_e5m2": ("F8_E5M2", 1),
    "float8_e4m3fn": ("F8_E4M3", 1),
    "float8_e4m3fnuz": ("F8_E4M3FNUZ", 1),
    "float8_e5m2fnuz": ("F8_E5M2FNUZ", 1),
    "qint8": ("I8", 1),
    "quint8": ("U8", 1),
    "qint16": ("I16", 2),
    "quint16": ("U16", 2),
    "qint32": ("I32", 4),
}

#: safetensors' header size limit (``MAX_HEADER_SIZE`` in its Rust code).
MAX_HEADER_SIZE: Final = 100_000_000
_ALIGNMENT: Final = 8
_HEADER_LENGTH: Final = struct.Struct("<Q")


def safetensors_dtype(tf_dtype: str) -> str | None:
    """The safetensors code for a TensorFlow dtype name (``"bfloat16"`` -> ``"BF16"``), or None."""
    row = SAFETENSORS_DTYPES.get(tf_dtype)
    return row[0] if row else None


@dataclass(frozen=True)
class SafetensorsSpec:
    """One tensor to write: its name, TensorFlow dtype name and shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n * SAFETENSORS_DTYPES[self.dtype][1]


def _layout(specs: Sequence[SafetensorsSpec]) -> tuple[list[SafetensorsSpec], dict[str, tuple[int, int]]]:
    ordered = sorted(specs, key=lambda s: (-SAFETENSORS_DTYPES[s.dtype][1], s.name))
    offsets: dict[str, tuple[int, int]] = {}
    pos = 0
    for s in ordered:
        offsets[s.name] = (pos, pos + s.nbytes)
        pos += s.nbytes
    return ordered, offsets


def file_order(specs: Sequence[SafetensorsSpec]) -> list[str]:
    """The names in the order :func:`write_safetensors` calls ``get`` (and lays them out)."""
    return [s.name for s in _layout(specs)[0]]


def _header(ordered: Sequence[SafetensorsSpec], offsets: Mapping[str, tuple[int, int]], metadata: Mapping[str, str] | None) -> bytes:
    obj: dict[str, object] = {}
    if metadata:
        obj["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for s in ordered:
        obj[s.name] = {"dtype": SAFETENSORS_DTYPES[s.dtype][0], "shape": list(s.shape), "data_offsets": list(offsets[s.name])}
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-(len(text) + _HEADER_LENGTH.size) % _ALIGNMENT)
    if len(text) > MAX_HEADER_SIZE:
        raise InvalidArgumentError(f"safetensors header would be {len(text)} bytes; readers refuse more than {MAX_HEADER_SIZE}")
    return _HEADER_LENGTH.pack(len(text)) + text


def write_safetensors(
    path: str | os.PathLike[str],
    specs: Sequence[SafetensorsSpec],
    get: Callable[[str], np.ndarray | TensorPieces],
    *,
    metadata: Mapping[str, str] | None = None,
    on_tensor: Callable[[SafetensorsSpec], None] | None = None,
) -> str:
    """Write a safetensors file with the tensors ``specs`` describes, fetching each with ``get(name)``.

    Parameters
    ----------
    path : str or PathLike
        The file to write (replaced atomically).
    specs : sequence of SafetensorsSpec
        Name, TensorFlow dtype name and shape of every tensor; dtypes must be keys of
        :data:`SAFETENSORS_DTYPES` and names unique.
    get : callable
        ``name -> numpy array`` of that dtype and shape (or :class:`TensorPieces`), called once
        per tensor in file order.
    metadata : mapping of str to str, optional
        Stored as ``__metadata__``.
    on_tensor : callable, optional
        Called after each tensor is written (progress reporting).

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    InvalidArgumentError
        A dtype without a safetensors code, a repeated or non-UTF-8 name, or an array from
        ``get`` whose dtype, shape or size differs from its spec. Nothing is left at ``path``.

    Examples
    --------
    >>> specs = [SafetensorsSpec("w", "bfloat16", (2, 3))]                  # doctest: +SKIP
    >>> write_safetensors("model.safetensors", specs, lambda name: ckpt[name])
    'model.safetensors'
    """
    seen: set[str] = set()
    for s in specs:
        if s.dtype not in SAFETENSORS_DTYPES:
            raise InvalidArgumentError(f"{s.name!r}: dtype {s.dtype} has no safetensors equivalent")
        if s.name in seen or s.name == "__metadata__":
            raise InvalidArgumentError(f"{s.name!r}: repeated or reserved tensor name")
        try:
            s.name.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgumentError(f"{s.name!r}: safetensors names must be valid UTF-8") from None
        seen.add(s.name)
    ordered, offsets = _layout(specs)
    header = _header(ordered, offsets, metadata)
    final = os.fspath(path)
    with replacing(final) as temp, open(temp, "wb") as f:
        writeback = WriteBack(f)
        try:
            writeback.write(header)
            for s in ordered:
                value = get(s.name)
                want = SAFETENSORS_DTYPES[s.dtype][1]
                if isinstance(value, TensorPieces):
                    _check_array(s, value.dtype, value.shape, want)
                    written = 0
                    for piece in value.pieces:
                        written += _write_array(writeback, piece, want)
                    if written != s.nbytes:
                        raise InvalidArgumentError(f"{s.name!r}: expected {s.nbytes} bytes of {s.dtype}{list(s.shape)}, "
                                                   f"the pieces held {written}")
                else:
                    arr = np.asarray(value)
                    _check_array(s, arr.dtype, arr.shape, want)
                    _write_array(writeback, arr, want)
                if on_tensor is not None:
                    on_tensor(s)
        except BaseException:
            writeback.finish(quiet=True)  # the error being raised wins over a writeback error
            raise
        writeback.finish()
    return final


@dataclass(frozen=True)
class TensorPieces:
    """A tensor handed to :func:`write_safetensors` as consecutive pieces of its C-order data,
    so that a tensor computed on the fly (transposed, cast) never needs to exist whole.

    ``pieces`` yields arrays of ``dtype`` whose elements, concatenated in C order, are the
    tensor's; each piece is written before the next is requested, so a producer may reuse a
    piece's buffer once it has handed out the next one.
    """

    dtype: np.dtype
    shape: tuple[int, ...]
    pieces: Iterable[np.ndarray]


def _check_array(s: SafetensorsSpec, dtype: np.dtype, shape: Sequence[int], itemsize: int) -> None:
    if tuple(shape) != s.shape or dtype.itemsize != itemsize or dtype == object:
        raise InvalidArgumentError(f"{s.name!r}: expected {s.dtype}{list(s.shape)}, got {dtype}{list(shape)}")


def _write_array(out: WriteBack, arr: np.ndarray, itemsize: int) -> int:
    """Write ``arr``'s elements in C order, little-endian; return the bytes written."""
    if sys.byteorder == "big" and itemsize > 1:
        arr = arr.byteswap()
    if arr.size:
        out.write(np.ascontiguousarray(arr).reshape(-1).view(np.uint8).data)
    return arr.size * itemsize


def iter_specs(items: Iterable[tuple[str, str, Sequence[int]]]) -> list[SafetensorsSpec]:
    """``(name, dtype, shape)`` triples -> specs."""
    return [SafetensorsSpec(n, d, tuple(int(x) for x in s)) for n, d, s in items]


# -- reading -------------------------------------------------------------------------------

#: safetensors dtype code -> TensorFlow dtype name (the first row of each code wins, so
#: ``I8`` reads as int8, not qint8).
TF_DTYPE_OF_SAFETENSORS: Final[dict[str, str]] = {}
for _tf_name, (_code, _) in SAFETENSORS_DTYPES.items():
    TF_DTYPE_OF_SAFETENSORS.setdefault(_code, _tf_name)


class SafetensorsFile:
    """A safetensors file read through a memory map: ``names``, ``spec(name)``, ``get(name)``.

    The header is checked before any tensor is served: its length against the file size and
    :data:`MAX_HEADER_SIZE`, every entry's dtype, shape and ``data_offsets`` against the byte
    buffer (in bounds, sized ``prod(shape) * itemsize``). Arrays are read-only views valid
    while the file is open.

    Raises
    ------
    CorruptionError
        The header is not what the format says (the message names the file and the entry).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from .errors import CorruptionError

        self.path = os.fspath(path)
        require_regular(self.path, "a safetensors file")  # a FIFO or device would block or never end
        size = os.path.getsize(self.path)

        def bad(offset: int, what: str) -> CorruptionError:
            return CorruptionError(what, path=self.path, offset=offset)

        with open(self.path, "rb") as f:
            head = f.read(_HEADER_LENGTH.size)
            if len(head) < _HEADER_LENGTH.size:
                raise bad(0, f"expected an 8-byte header length, the file has {size} bytes")
            (n,) = _HEADER_LENGTH.unpack(head)
            if n > MAX_HEADER_SIZE or _HEADER_LENGTH.size + n > size:
                raise bad(0, f"header length {n} exceeds the file ({size} bytes) or the {MAX_HEADER_SIZE}-byte limit")
            try:
                header = json.loads(f.read(n).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise bad(_HEADER_LENGTH.size, f"header is not UTF-8 JSON ({e})") from None
        if not isinstance(header, dict):
            raise bad(_HEADER_LENGTH.size, "header is not a JSON object")
        self._base = _HEADER_LENGTH.size + n
        buffer = size - self._base
        meta = header.pop("__metadata__", None)
        self.metadata: dict[str, str] = dict(meta) if isinstance(meta, dict) else {}
        self._specs: dict[str, tuple[SafetensorsSpec, int]] = {}
        for name, entry in header.items():
            try:
                dtype = TF_DTYPE_OF_SAFETENSORS[entry["dtype"]]
                shape = tuple(int(d) for d in entry["shape"])
                begin, end = (int(x) for x in entry["data_offsets"])
            except (KeyError, TypeError, ValueError) as e:
                raise bad(_HEADER_LENGTH.size, f"entry {name!r}: expected dtype, shape and data_offsets ({e!r})") from None
            spec = SafetensorsSpec(name, dtype, shape)
            if min(shape, default=0) < 0 or not 0 <= begin <= end <= buffer or end - begin != spec.nbytes:
                raise bad(self._base + begin, f"entry {name!r}: data_offsets [{begin}, {end}) do not hold {dtype}{list(shape)} "
                          f"inside the {buffer}-byte buffer")
            self._specs[name] = (spec, begin)
        self._map = np.memmap(self.path, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)

    @property
    def names(self) -> list[str]:
        return list(self._specs)

    def spec(self, name: str) -> SafetensorsSpec:
        return self._specs[name][0]

    def get(self, name: str) -> np.ndarray:
        from .format._dtypes import DTYPE_BY_NAME

        spec, begin = self._specs[name]
        np_dtype = np.dtype(DTYPE_BY_NAME[spec.dtype].numpy).newbyteorder("<")
        raw = self._map[self._base + begin : self._base + begin + spec.nbytes]
        return raw.view(np_dtype).reshape(spec.shape)

    def close(self) -> None:
        self._map = np.zeros(0, np.uint8)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

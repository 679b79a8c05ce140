"""Encoding bundle entries: the writer's half of :mod:`._bundle`, loaded on first use.

A plain entry (no slices) is ``BundleEntryProto`` as C++ protobuf serializes it: fields in
number order, zero scalars omitted, ``shape`` always present::

    08 dtype  12 len shape  18 shard_id  20 offset  28 size  35 crc32c (fixed32, masked)

The ``dtype`` and ``shape`` fields are what entries of one kind share
(:func:`plain_entry_prefix`); the rest differ per tensor (:func:`plain_entry_tail`), and
:func:`plain_entry_fields` builds many entries at once as padded rows (see :mod:`._rows`).
"""

from __future__ import annotations

import struct
from typing import Final

import numpy as np

from ._bundle import _SHAPE_CACHE_MAX
from ._coding import CRC_MASK_DELTA, encode_varint
from ._rows import Field
from ._rows_build import (
    encode_varints,
    left_aligned,
    left_aligned_columns,
    little_endian_bytes,
    pad_rows,
    varint_lengths,
    varint_words,
)

__all__ = ["encode_plain_entry", "encode_shape_field", "plain_entry_fields", "plain_entry_prefix", "plain_entry_tail"]

#: shape -> its serialized ``shape`` field, for the writer (checkpoints repeat shapes).
_SHAPE_FIELD_CACHE: dict[tuple[int, ...], bytes] = {}


def encode_shape_field(shape: tuple[int, ...]) -> bytes:
    """``12 len (12 dimlen [08 size])*``: the entry's ``shape`` field, zero sizes omitted."""
    field = _SHAPE_FIELD_CACHE.get(shape)
    if field is None:
        body = bytearray()
        for d in shape:
            if d:
                dim = b"\x08" + encode_varint(d)
                body += b"\x12" + encode_varint(len(dim)) + dim
            else:
                body += b"\x12\x00"
        field = b"\x12" + encode_varint(len(body)) + bytes(body)
        if len(_SHAPE_FIELD_CACHE) < _SHAPE_CACHE_MAX:
            _SHAPE_FIELD_CACHE[shape] = field
    return field


_FIXED32_LE: Final = struct.Struct("<I")


def encode_plain_entry(dtype: int, shape: tuple[int, ...], shard_id: int, offset: int, size: int, crc32c: int) -> bytes:
    """``BundleEntry(dtype, shape, shard_id, offset, size, crc32c).encode()`` of an entry
    without slices, without building the object."""
    return plain_entry_prefix(dtype, shape) + plain_entry_tail(shard_id, offset, size, crc32c)


def plain_entry_tail(shard_id: int, offset: int, size: int, crc32c: int) -> bytes:
    """The fields of a plain entry after :func:`plain_entry_prefix` (``crc32c`` masked)."""
    out = b""
    if shard_id:
        out += b"\x18" + encode_varint(shard_id)
    if offset:
        out += b"\x20" + encode_varint(offset)
    if size:
        out += b"\x28" + encode_varint(size)
    if crc32c:
        out += b"\x35" + _FIXED32_LE.pack(crc32c)
    return out


def plain_entry_prefix(dtype: int, shape: tuple[int, ...]) -> bytes:
    """The leading ``dtype`` and ``shape`` fields of a plain entry (what entries of one
    dtype and shape share; :func:`encode_plain_entries` appends the rest)."""
    return b"\x08" + encode_varint(dtype) + encode_shape_field(shape)


def _tagged_varint_field(tag: int, values: np.ndarray) -> Field:
    """``tag || varint(v)`` per value as ``(matrix, keep, lengths)`` rows (see
    :func:`._rows_build.join_fields`), empty where ``v == 0`` (proto3 omits zero scalars)."""
    n = len(values)
    if n and not values.any():  # a field every entry omits (shard_id of a single shard)
        return np.empty((n, 0), np.uint8), np.empty((n, 0), bool), np.zeros(n, np.int64)
    if n > 1 and values.min() == values.max():  # one value (the size of tensors of one kind): one row, repeated
        row, _, length = _tagged_varint_field(tag, values[:1])
        return np.broadcast_to(row, (n, row.shape[1])), None, np.repeat(length, n)  # a nonzero value: the whole row
    lengths = varint_lengths(values)
    if int(lengths.max()) <= 7:  # the tag and the varint in one little-endian word each (values below 2**49)
        words = (varint_words(values, lengths) << np.uint64(8)) | np.uint64(tag)
        matrix = little_endian_bytes(words)[:, : int(lengths.max()) + 1]
    else:
        varints, lengths = encode_varints(values)
        matrix = np.empty((n, varints.shape[1] + 1), np.uint8)
        matrix[:, 0] = tag
        matrix[:, 1:] = varints
    lengths = np.where(values != 0, lengths + 1, 0)
    return matrix, left_aligned_columns(matrix.shape[1], lengths), lengths


def plain_entry_fields(
    prefixes: list[bytes],
    prefix_ids: np.ndarray,
    shard_ids: np.ndarray,
    offsets: np.ndarray,
    sizes: np.ndarray,
    crcs: np.ndarray,
) -> list[Field]:
    """:func:`encode_plain_entry` of many entries at once, as the fields of padded rows
    (see :mod:`._rows`) that :func:`._rows_build.join_fields` concatenates: entry ``i`` is
    ``prefixes[prefix_ids[i]]`` (:func:`plain_entry_prefix`) then its ``shard_id``,
    ``offset``, ``size`` and ``crc32c`` fields, zeros omitted. ``crcs`` are the payloads'
    plain CRC32C values; they are stored masked (:func:`._coding.mask_crc`)."""
    n = len(prefix_ids)
    prefix_matrix, prefix_lengths = pad_rows(prefixes)
    if len(prefixes) == 1:  # one dtype and shape: every row the same, no gather
        prefix: Field = (
            np.broadcast_to(prefix_matrix, (n, prefix_matrix.shape[1])),
            None,
            np.full(n, prefix_lengths[0]),
        )
    else:
        lengths = prefix_lengths[prefix_ids]
        prefix = (prefix_matrix[prefix_ids], left_aligned(prefix_matrix.shape[1], lengths), lengths)
    crc = crcs.astype(np.uint32)  # the mask in uint32 arithmetic, which wraps as mask_crc's & 0xffffffff
    masked = ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(CRC_MASK_DELTA)
    crc_field = np.empty((n, 5), np.uint8)
    crc_field[:, 0] = 0x35  # field 6, wire type 5 (fixed32)
    crc_field[:, 1:] = masked.astype("<u4").view(np.uint8).reshape(n, 4)
    has_crc = masked != 0
    return [
        prefix,
        _tagged_varint_field(0x18, shard_ids),  # field 3, varint
        _tagged_varint_field(0x20, offsets),  # field 4
        _tagged_varint_field(0x28, sizes),  # field 5
        # A masked CRC of 0 is omitted (1 in 2**32): mostly there is no mask to make.
        (crc_field, None, np.full(n, 5)) if has_crc.all() else (crc_field, np.repeat(has_crc[:, None], 5, axis=1), has_crc * 5),
    ]

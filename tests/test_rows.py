"""The vectorized byte helpers (tfckpt.format._rows) agree with their scalar twins byte for byte."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfckpt.format._block_builder import common_prefix_length
from tfckpt.format._coding import encode_varint
from tfckpt.format._rows import MAX_MATRIX_BYTES, common_prefix_lengths, fits
from tfckpt.format._rows_build import encode_varints, join_fields, left_aligned, pad_rows, repad, varint_lengths

EDGES = [0, 1, 127, 128, 255, 16383, 16384, 2**21 - 1, 2**21, 2**28, 2**35, 2**56, 2**63 - 1, 2**63, 2**64 - 1]


def _rows(matrix: np.ndarray, lengths: np.ndarray) -> list[bytes]:
    return [matrix[i, :n].tobytes() for i, n in enumerate(lengths.tolist())]


def test_varints_at_every_length_boundary() -> None:
    values = np.array(EDGES, np.uint64)
    matrix, lengths = encode_varints(values)
    assert _rows(matrix, lengths) == [encode_varint(v) for v in EDGES]
    assert matrix.shape == (len(EDGES), 10)
    assert varint_lengths(values).tolist() == [len(encode_varint(v)) for v in EDGES]


def test_one_byte_varints_take_one_column() -> None:
    matrix, lengths = encode_varints(np.array([0, 5, 127], np.int64))
    assert matrix.tolist() == [[0], [5], [127]] and lengths.tolist() == [1, 1, 1]
    matrix, lengths = encode_varints(np.array([], np.int64))
    assert matrix.shape == (0, 1) and lengths.size == 0


def test_negative_varints_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        encode_varints(np.array([3, -1], np.int64))


@given(st.lists(st.integers(0, 2**64 - 1), max_size=50))
def test_varints_match_the_scalar_encoder(values: list[int]) -> None:
    matrix, lengths = encode_varints(np.array(values, np.uint64))
    assert _rows(matrix, lengths) == [encode_varint(v) for v in values]


def test_pad_rows_and_repad() -> None:
    strings = [b"abc", b"", b"\x00\x00", b"z"]
    matrix, lengths = pad_rows(strings)
    assert matrix.tolist() == [[97, 98, 99], [0, 0, 0], [0, 0, 0], [122, 0, 0]]
    assert lengths.tolist() == [3, 0, 2, 1]
    flat = matrix[left_aligned(3, lengths)]
    assert flat.tobytes() == b"".join(strings)
    assert np.array_equal(repad(flat, lengths), matrix)
    assert pad_rows([])[0].shape == (0, 1)


def test_join_fields_keeps_each_fields_own_bytes_in_row_order() -> None:
    a, a_len = pad_rows([b"ab", b"c"])
    b = np.array([[1, 2, 3], [4, 5, 6]], np.uint8)
    b_keep = np.array([[False, True, True], [True, False, True]])
    data, lengths = join_fields([(a, left_aligned(2, a_len), a_len), (b, b_keep, b_keep.sum(axis=1))])
    assert data.tobytes() == b"ab\x02\x03" + b"c\x04\x06"
    assert lengths.tolist() == [4, 3]


@st.composite
def _fields(draw: st.DrawFn) -> tuple[int, list[tuple[np.ndarray, np.ndarray | None, np.ndarray]]]:
    """Fields of every kind join_fields takes: masked or whole-row (keep None), varying or
    broadcast from one row, narrow (copied column by column) or wide, empty."""
    rows = draw(st.integers(1, 6))
    fields = []
    for _ in range(draw(st.integers(1, 5))):
        width = draw(st.sampled_from([0, 1, 2, 4, 5, 9]))
        cells = st.lists(st.integers(0, 255), min_size=rows * width, max_size=rows * width)
        matrix = np.array(draw(cells), np.uint8).reshape(rows, width)
        if draw(st.booleans()):
            matrix = np.broadcast_to(matrix[:1], (rows, width))
        if draw(st.booleans()):
            fields.append((matrix, None, np.full(rows, width)))
        else:
            keep = np.array(draw(st.lists(st.booleans(), min_size=rows * width, max_size=rows * width)), bool)
            keep = keep.reshape(rows, width)
            if draw(st.booleans()):
                keep = np.broadcast_to(keep[:1], (rows, width))
            fields.append((matrix, keep, keep.sum(axis=1)))
    return rows, fields


@settings(max_examples=200)
@given(_fields())
def test_join_fields_matches_each_rows_fields_concatenated(case: tuple[int, list[tuple[np.ndarray, np.ndarray | None, np.ndarray]]]) -> None:
    rows, fields = case
    expected = [
        b"".join((m[i] if k is None else m[i][k[i]]).tobytes() for m, k, _ in fields) for i in range(rows)
    ]
    data, lengths = join_fields(fields)
    assert lengths.tolist() == [len(row) for row in expected]
    assert data.tobytes() == b"".join(expected)


@settings(max_examples=200)
@given(st.lists(st.lists(st.sampled_from([0, 1, 97]), max_size=6).map(bytes), max_size=30))
def test_common_prefix_lengths_match_the_scalar_one(keys: list[bytes]) -> None:
    # Zero bytes, empty keys and keys that are prefixes of their neighbours: the padding
    # must never count as shared.
    matrix, lengths = pad_rows(keys)
    expected = [0] + [common_prefix_length(a, b) for a, b in itertools.pairwise(keys)]
    assert common_prefix_lengths(matrix, lengths).tolist() == expected[: len(keys)]


def test_fits_allows_small_matrices_or_little_padding() -> None:
    assert fits(1000, 100, 0)
    assert not fits(MAX_MATRIX_BYTES, 2, MAX_MATRIX_BYTES // 4)  # 8x padding, over the floor
    assert fits(MAX_MATRIX_BYTES, 2, MAX_MATRIX_BYTES)  # 2x padding

"""Lying counts with valid checksums: shard counts, slice counts, ranks.

Each file here is a few kilobytes whose index is perfectly well-formed; the values in it
claim work (millions of shards, thousands of slices, a rank numpy cannot hold) that must
not be done in proportion to the claim.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from robust_harness import bounded, expect_error, expect_value, plain_entry, read_all, write_bundle

import tfckpt
from tfckpt.cli import main as cli
from tfckpt.format._bundle import BundleEntry, BundleHeader
from tfckpt.format._coding import crc32c, mask_crc
from tfckpt.format._dtypes import DTYPE_BY_NAME
from tfckpt.format._ordered_code import encode_slice_key
from tfckpt.format._string_payloads import encode_string_tensor

F32 = DTYPE_BY_NAME["float32"].enum


@pytest.mark.parametrize("num_shards", [100_000, 2**31 - 1])
def test_huge_shard_count(tmp_path: Path, num_shards: int) -> None:
    arr = np.arange(3, dtype=np.float32)
    prefix = write_bundle(
        tmp_path / "ckpt", [(b"w", plain_entry(arr, F32))], header=BundleHeader(num_shards=num_shards), shards={0: arr.tobytes()}
    )
    got = expect_value(bounded(lambda: read_all(prefix)))
    assert got["w"].tolist() == arr.tolist()
    # verify reports the missing shards in proportion to what exists, not to the claim
    code = expect_value(bounded(lambda: cli(["verify", "-q", prefix])))
    assert code == 1
    out = bounded(lambda: _verify_output(prefix))
    text = expect_value(out)
    assert f"{num_shards - 1} of {num_shards} data shards are missing" in text
    assert len(text) < 2000


def _verify_output(prefix: str) -> str:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        cli(["verify", "-q", prefix])
    return buf.getvalue()


def _sliced(tmp_path: Path, count: int) -> tuple[str, np.ndarray]:
    """A float32 vector of ``count`` elements stored as ``count`` one-element slices."""
    full = np.arange(count, dtype=np.float32)
    data = full.tobytes()
    starts_lengths = [((i,), (1,)) for i in range(count)]
    entries: list[tuple[bytes, BundleEntry]] = [(b"v", BundleEntry(F32, (count,), slices=tuple(starts_lengths)))]
    for i in range(count):
        piece = data[4 * i : 4 * i + 4]
        entries.append((encode_slice_key(b"v", (i,), (1,)), BundleEntry(F32, (1,), 0, 4 * i, 4, mask_crc(crc32c(piece)))))
    return write_bundle(tmp_path / "ckpt", entries, shards={0: data}), full


def test_many_slices_are_assembled_in_linear_time(tmp_path: Path) -> None:
    prefix, full = _sliced(tmp_path, 4000)
    got = expect_value(bounded(lambda: read_all(prefix)))
    assert list(got) == ["v"]
    assert np.array_equal(got["v"], full)


def test_slices_sharing_bytes_are_refused(tmp_path: Path) -> None:
    """Two slices whose payloads are the same bytes of the shard: refused before allocating,
    so a few bytes of data cannot stand for an output of any size."""
    data = np.float32(1).tobytes()
    crc = mask_crc(crc32c(data))
    entries: list[tuple[bytes, BundleEntry]] = [(b"v", BundleEntry(F32, (2,), slices=(((0,), (1,)), ((1,), (1,)))))]
    entries += [(encode_slice_key(b"v", (i,), (1,)), BundleEntry(F32, (1,), 0, 0, 4, crc)) for i in range(2)]
    prefix = write_bundle(tmp_path / "ckpt", entries, shards={0: data})
    expect_error(bounded(lambda: read_all(prefix)), tfckpt.CorruptionError, "same bytes")


def test_overlapping_slices_still_refused(tmp_path: Path) -> None:
    data = np.arange(4, dtype=np.float32).tobytes()
    entries: list[tuple[bytes, BundleEntry]] = [(b"v", BundleEntry(F32, (3,), slices=(((0,), (2,)), ((1,), (2,)))))]
    for i, (start, off) in enumerate(((0, 0), (1, 8))):
        piece = data[off : off + 8]
        entries.append((encode_slice_key(b"v", (start,), (2,)), BundleEntry(F32, (2,), 0, off, 8, mask_crc(crc32c(piece)))))
    prefix = write_bundle(tmp_path / "ckpt", entries, shards={0: data})
    expect_error(bounded(lambda: read_all(prefix)), tfckpt.CorruptionError)


@pytest.mark.parametrize("rank", [65, 100, 254])
@pytest.mark.parametrize("dtype", ["float32", "string"])
def test_rank_beyond_numpy(tmp_path: Path, rank: int, dtype: str) -> None:
    enum = DTYPE_BY_NAME[dtype].enum
    if dtype == "string":
        data, crc = encode_string_tensor([b"s"])
        entry = BundleEntry(enum, (1,) * rank, 0, 0, len(data), mask_crc(crc))
    else:
        data = np.float32(2).tobytes()
        entry = BundleEntry(enum, (1,) * rank, 0, 0, 4, mask_crc(crc32c(data)))
    prefix = write_bundle(tmp_path / "ckpt", [(b"r", entry)], shards={0: data})
    expect_error(bounded(lambda: read_all(prefix)), tfckpt.UnsupportedError, "rank")
    with tfckpt.open(prefix) as ckpt:  # the metadata is still there to inspect
        assert ckpt.shape("r") == (1,) * rank

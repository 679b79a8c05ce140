"""V1 checkpoints (TensorSliceWriter): TF-written fixtures and hand-built tables, good and bad."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, canonical_bytes, expected

import tfckpt
from tfckpt.format._ordered_code import FULL_EXTENT, encode_slice_key
from tfckpt.format._table import TableBuilder, iter_table
from tfckpt.format._v1 import V1Reader
from tfckpt.proto.saved_tensor_slice_pb2 import SavedSliceMeta, SavedTensorSlices, TensorProto
from tfckpt.proto.tensor_slice_pb2 import TensorSliceProto

# -- building V1 files by hand -----------------------------------------------------------

Slice = tuple[tuple[int, ...], tuple[int, ...], dict[str, Any]]  # starts, lengths (FULL_EXTENT ok), TensorProto fields


def _slice_proto(starts: Sequence[int], lengths: Sequence[int]) -> TensorSliceProto:
    proto = TensorSliceProto()
    for s, n in zip(starts, lengths):
        extent = proto.extent.add()
        if n != FULL_EXTENT:
            extent.start = s
            extent.length = n
    return proto


def v1_rows(
    tensors: Sequence[tuple[str, int, Sequence[int], Sequence[Slice]]], *, producer: int = 1, min_consumer: int = 0
) -> dict[bytes, bytes]:
    """The rows TensorSliceWriter writes: the "" meta row and one row per slice."""
    meta = SavedTensorSlices()
    meta.meta.versions.producer = producer
    meta.meta.versions.min_consumer = min_consumer
    rows: dict[bytes, bytes] = {}
    for name, dtype, shape, slices in tensors:
        ssm: SavedSliceMeta = meta.meta.tensor.add(name=name, type=dtype)
        for d in shape:
            ssm.shape.dim.add(size=d)
        for starts, lengths, fields in slices:
            ssm.slice.append(_slice_proto(starts, lengths))
            row = SavedTensorSlices()
            row.data.name = name
            row.data.slice.CopyFrom(_slice_proto(starts, lengths))
            fields = dict(fields)
            raw = fields.pop("raw", b"")  # wire bytes, for values a Python float would alter
            row.data.data.CopyFrom(TensorProto(**fields))
            row.data.data.MergeFromString(raw)
            rows[encode_slice_key(name.encode(), tuple(starts), tuple(lengths))] = row.SerializeToString()
    rows[b""] = meta.SerializeToString()
    return rows


def table_bytes(rows: dict[bytes, bytes]) -> bytes:
    buf = io.BytesIO()
    builder = TableBuilder(buf)
    for key in sorted(rows):
        builder.add(key, rows[key])
    builder.finish()
    return buf.getvalue()


def write_v1(path: Path, tensors: Sequence[tuple[str, int, Sequence[int], Sequence[Slice]]], **kw: int) -> Path:
    path.write_bytes(table_bytes(v1_rows(tensors, **kw)))
    return path


FULL1 = ((0,), (FULL_EXTENT,))


def full(rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return (0,) * rank, (FULL_EXTENT,) * rank


def read_all(path: str | Path) -> dict[str, np.ndarray]:
    with tfckpt.open(path) as ckpt:
        return {name: ckpt[name] for name in ckpt}


# -- TF-written fixtures ---------------------------------------------------------------------


@pytest.mark.parametrize("case", ["tf1_v1_format", "tf1_v1_sharded", "tf1_v1_partitioned"])
def test_fixture_bit_for_bit(case: str) -> None:
    exp = expected(case)
    [(prefix, want)] = exp["checkpoints"].items()
    with tfckpt.open(FIXTURES / case / prefix) as ckpt:
        assert ckpt.format == "V1"
        assert ckpt.keys() == sorted(want)
        for name, rec in want.items():
            value = ckpt[name]
            assert ckpt.dtype(name) == rec["dtype"] and list(ckpt.shape(name)) == rec["shape"]
            assert value.shape == tuple(rec["shape"]) and value.flags.writeable  # always a fresh array
            if "values_hex" in rec:
                assert canonical_bytes(value).hex() == rec["values_hex"], name


def test_sharded_pattern_resolves_from_directory_state_file_and_pattern() -> None:
    d = FIXTURES / "tf1_v1_sharded"
    pattern = str(d / "model.ckpt-3-?????-of-00003")
    assert tfckpt.latest_checkpoint(d) == pattern  # the state file records the glob, relative
    for path in [d, d / "checkpoint", pattern]:
        with tfckpt.open(path) as ckpt:
            assert ckpt.prefix == pattern and ckpt.format == "V1"
            part = ckpt["pv"]  # its three slices live in the three files
    files = [str(d / f"model.ckpt-3-{i:05d}-of-00003") for i in range(3)]
    holders = [f for f in files if any(b"pv" in k for k, _ in iter_table(Path(f).read_bytes(), f))]
    assert holders == files
    assert part.shape == (6, 3)


def test_sharded_state_file_with_absolute_moved_paths(tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shutil.copytree(FIXTURES / "tf1_v1_sharded", moved)
    (moved / "checkpoint").write_text('model_checkpoint_path: "/elsewhere/run/model.ckpt-3-?????-of-00003"\n')
    assert tfckpt.latest_checkpoint(moved) is None  # TF semantics
    with tfckpt.open(moved) as ckpt:
        assert ckpt.prefix == str(moved / "model.ckpt-3-?????-of-00003")
        assert len(ckpt) == len(expected("tf1_v1_sharded")["checkpoints"]["model.ckpt-3-?????-of-00003"])


def test_directory_without_state_file_finds_v1_files(tmp_path: Path) -> None:
    # as unpacked from a TF-slim .tar.gz: just the V1 file
    shutil.copy(FIXTURES / "tf1_v1_format" / "model.ckpt-3", tmp_path / "inception_v1.ckpt")
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    with tfckpt.open(tmp_path) as ckpt:
        assert ckpt.prefix == str(tmp_path / "inception_v1.ckpt") and ckpt.format == "V1"
    # a complete sharded set is one checkpoint, named by its pattern; it is newer here
    sharded = tmp_path / "sharded"
    shutil.copytree(FIXTURES / "tf1_v1_sharded", sharded)
    os.remove(sharded / "checkpoint")
    with tfckpt.open(sharded) as ckpt:
        assert ckpt.prefix == str(sharded / "model.ckpt-3-?????-of-00003") and "pv" in ckpt
    os.remove(sharded / "model.ckpt-3-00001-of-00003")  # an incomplete set is not a checkpoint
    with pytest.raises(tfckpt.NotFoundError, match="no V1 checkpoint files"):
        tfckpt.open(sharded)


def test_one_shard_alone_lacks_the_other_slices() -> None:
    shard = FIXTURES / "tf1_v1_sharded" / "model.ckpt-3-00001-of-00003"
    with tfckpt.open(shard) as ckpt:
        assert ckpt.format == "V1" and "pv" in ckpt
        with pytest.raises(tfckpt.CorruptionError, match="cover 6 of 18 elements"):
            ckpt["pv"]


def test_missing_shard_is_not_found(tmp_path: Path) -> None:
    for i in (0, 2):
        shutil.copy(FIXTURES / "tf1_v1_sharded" / f"model.ckpt-3-{i:05d}-of-00003", tmp_path)
    with pytest.raises(tfckpt.NotFoundError):
        tfckpt.open(tmp_path / "model.ckpt-3-?????-of-00003")


def test_facade_reads_v1() -> None:
    path = str(FIXTURES / "tf1_v1_format" / "model.ckpt-3")
    want = expected("tf1_v1_format")["checkpoints"]["model.ckpt-3"]
    assert tfckpt.list_variables(path) == sorted((k, v["shape"]) for k, v in want.items())
    assert tfckpt.load_variable(path, "str:0").tolist() == [b"v1", b"", b"\xff\x00"]


# -- hand-built: reassembly and dtypes --------------------------------------------------------


def test_multiple_slices_reassembled_across_files(tmp_path: Path) -> None:
    # TF 2.21's RestoreV2 on these two files gives the same w and s.
    full_value = np.arange(24, dtype=np.float32).reshape(4, 6)
    strings = np.array([[b"a", b"bb", b""], [b"\x00", b"\xff" * 300, b"z"]], dtype=object)
    a = write_v1(
        tmp_path / "m-00000-of-00002",
        [
            ("w", 1, (4, 6), [((0, 0), (4, 2), {"float_val": full_value[:, 0:2].ravel()})]),
            ("s", 7, (2, 3), [((0, 0), (FULL_EXTENT, 1), {"string_val": list(strings[:, 0])})]),
        ],
    )
    b = write_v1(
        tmp_path / "m-00001-of-00002",
        [
            # a full first dimension written as an explicit length, and one as an empty extent
            (
                "w",
                1,
                (4, 6),
                [
                    ((0, 2), (4, 1), {"float_val": full_value[:, 2:3].ravel()}),
                    ((0, 3), (FULL_EXTENT, 3), {"float_val": full_value[:, 3:].ravel()}),
                ],
            ),
            ("s", 7, (2, 3), [((0, 1), (2, 2), {"string_val": list(strings[:, 1:].ravel())})]),
        ],
    )
    reader = V1Reader([str(a), str(b)], verify=True)
    assert reader.names == ["s", "w"]
    assert reader.info("w") == (1, (4, 6))
    np.testing.assert_array_equal(reader.read("w"), full_value)
    got = reader.read("s")
    assert got.dtype == object and got.tolist() == strings.tolist()
    assert reader.raw_bytes("w") == full_value.astype("<f4").tobytes()
    with pytest.raises(tfckpt.UnsupportedError, match="string"):
        reader.raw_bytes("s")
    with pytest.raises(tfckpt.UnsupportedError, match="variant"):
        reader.variant_elements("w")
    reader.close()
    with tfckpt.open(tmp_path / "m-?????-of-00002") as ckpt:
        np.testing.assert_array_equal(ckpt["w"], full_value)


def test_every_v1_dtype(tmp_path: Path) -> None:
    # The expectations for the edge cases (low-16-bit half patterns, C-cast narrowing of int_val,
    # the signalling NaN) were checked against TF 2.21's RestoreV2 on files built this way; TF
    # refuses only quint16 there ("Restoring data type quint16 not yet supported").
    half_bits = [0x3C00, 0x8000, 0x7C00, 0x0001, 0x7E01, 0xFBFF]
    snan = np.array([0x7F800001, 0xFFC00123, 0x3FC00000], np.uint32).view(np.float32)
    dnan = np.array([0x7FF0000000000001, 0x8000000000000000], np.uint64).view(np.float64)
    c64 = np.array([1 + 2j, complex(np.inf, -0.0)], np.complex64)
    c128 = np.array([[complex(-1e300, 5e-324)], [1j]], np.complex128)
    cases: list[tuple[str, int, tuple[int, ...], dict[str, Any], np.ndarray]] = [
        ("f16", 19, (6,), {"half_val": half_bits}, np.array(half_bits, np.uint16).view(np.float16)),
        # TF bit-casts the low 16 bits of each int32
        ("f16_wide", 19, (1,), {"half_val": [0x13C00]}, np.array([0x3C00], np.uint16).view(np.float16)),
        # packed float_val given as wire bytes: a Python float would quieten the signalling NaN
        ("f32_snan", 1, (3,), {"raw": b"\x2a\x0c" + snan.tobytes()}, snan),
        ("f64_nan", 2, (2,), {"double_val": dnan}, dnan),
        ("c64", 8, (2,), {"scomplex_val": c64.view(np.float32)}, c64),
        ("c128", 18, (2, 1), {"dcomplex_val": c128.view(np.float64).ravel()}, c128),
        ("b", 10, (3,), {"bool_val": [True, False, True]}, np.array([True, False, True])),
        ("u8", 4, (3,), {"int_val": [0, 255, 256 + 7]}, np.array([0, 255, 7], np.uint8)),
        ("i8", 6, (2,), {"int_val": [-128, 127]}, np.array([-128, 127], np.int8)),
        ("i16", 5, (2,), {"int_val": [-32768, 32767]}, np.array([-32768, 32767], np.int16)),
        ("u16", 17, (2,), {"int_val": [65535, 32768]}, np.array([65535, 32768], np.uint16)),
        ("i32", 3, (), {"int_val": [-(2**31)]}, np.array(-(2**31), np.int32)),
        ("u32", 22, (1,), {"uint32_val": [2**32 - 1]}, np.array([2**32 - 1], np.uint32)),
        ("i64", 9, (1,), {"int64_val": [-(2**63)]}, np.array([-(2**63)], np.int64)),
        ("u64", 23, (1,), {"uint64_val": [2**64 - 1]}, np.array([2**64 - 1], np.uint64)),
        ("qi8", 11, (1,), {"int_val": [-5]}, np.array([-5], np.int8)),
        ("qu8", 12, (1,), {"int_val": [200]}, np.array([200], np.uint8)),
        ("qi32", 13, (1,), {"int_val": [7]}, np.array([7], np.int32)),
        ("qu16", 16, (1,), {"int_val": [60000]}, np.array([60000], np.uint16)),
        ("empty", 1, (2, 0), {}, np.zeros((2, 0), np.float32)),
        ("s0", 7, (), {"string_val": [b"\x80"]}, np.array(b"\x80", dtype=object)),
    ]
    path = write_v1(tmp_path / "dtypes", [(n, t, shape, [(*full(len(shape)), fields)]) for n, t, shape, fields, _ in cases])
    with tfckpt.open(path) as ckpt:
        for name, _, shape, _, want in cases:
            got = ckpt[name]
            assert got.dtype == want.dtype and got.shape == shape, name
            assert canonical_bytes(got) == canonical_bytes(want), name
        assert ckpt.dtype("qu16") == "quint16" and ckpt.dtype("f16") == "float16"


def test_unpacked_float_fields_and_repeated_submessages_read_like_protobuf(tmp_path: Path) -> None:
    # float_val written unpacked (wire type 5), split over two occurrences of SavedSlice.data
    def tensor_proto(values: list[int]) -> bytes:
        return b"".join(b"\x2d" + v.to_bytes(4, "little") for v in values)  # field 5, fixed32

    row = SavedTensorSlices()
    row.data.name = "x"
    row.data.slice.CopyFrom(_slice_proto(*FULL1))
    head = row.SerializeToString()
    bits = [0x7F800001, 0x3F800000, 0xBF800000]
    part1, part2 = tensor_proto(bits[:2]), tensor_proto(bits[2:])
    saved = b"\x1a" + bytes([len(part1)]) + part1
    extra = b"\x1a" + bytes([len(part2)]) + part2
    body = head + b"\x12" + bytes([len(saved)]) + saved + b"\x12" + bytes([len(extra)]) + extra
    rows = v1_rows([("x", 1, (3,), [])])
    meta = SavedTensorSlices.FromString(rows[b""])
    meta.meta.tensor[0].slice.append(_slice_proto(*FULL1))
    rows = {b"": meta.SerializeToString(), encode_slice_key(b"x", *FULL1): body}
    path = tmp_path / "unpacked"
    path.write_bytes(table_bytes(rows))
    got = read_all(path)["x"]
    assert got.view(np.uint32).tolist() == bits


# -- hand-built: bad input ----------------------------------------------------------------------


def test_not_an_sstable_says_what_to_pass(tmp_path: Path) -> None:
    for content in [b"", b"hello", b"x" * 100]:
        path = tmp_path / "model.ckpt"
        path.write_bytes(content)
        with pytest.raises(tfckpt.InvalidArgumentError) as info:
            tfckpt.open(path)
        assert str(info.value).startswith(
            f"{path} is not a TensorFlow checkpoint (no {path}.index, and not a V1 checkpoint file: "
        )
        assert str(info.value).endswith("; pass the checkpoint prefix, the .index file or the directory")
    with pytest.raises(tfckpt.InvalidArgumentError, match=r"bad table magic\)"):
        tfckpt.open(path)


def test_sstable_without_v1_meta(tmp_path: Path) -> None:
    path = tmp_path / "other"
    path.write_bytes(table_bytes({b"a": b"1"}))
    with pytest.raises(tfckpt.InvalidArgumentError, match="is an SSTable but not a V1 checkpoint: its first key is b'a'"):
        tfckpt.open(path)
    path.write_bytes(table_bytes({}))
    with pytest.raises(tfckpt.InvalidArgumentError, match="not a V1 checkpoint: it is empty"):
        tfckpt.open(path)
    # a V2 .index under another name: its "" row is a BundleHeaderProto
    index = next((FIXTURES / "tf1_saver").glob("*.index"))
    shutil.copy(index, path)
    with pytest.raises(tfckpt.InvalidArgumentError, match="holds no SavedTensorSliceMeta"):
        tfckpt.open(path)
    path.write_bytes(table_bytes({b"": b"\x0a\x05\xff\xff\xff\xff\xff"}))
    with pytest.raises(tfckpt.CorruptionError, match="does not parse as SavedTensorSlices"):
        tfckpt.open(path)


def test_versions_checked_like_tensorflow(tmp_path: Path) -> None:
    t = [("x", 1, (1,), [(*FULL1, {"float_val": [1.0]})])]
    assert read_all(write_v1(tmp_path / "old", t, producer=0))["x"].tolist() == [1.0]
    with pytest.raises(tfckpt.UnsupportedError, match="min_consumer 2"):
        tfckpt.open(write_v1(tmp_path / "new", t, min_consumer=2))
    with pytest.raises(tfckpt.CorruptionError, match="producer version -1"):
        tfckpt.open(write_v1(tmp_path / "neg", t, producer=-1))


@pytest.mark.parametrize(
    ("tensors", "at_open", "error", "message"),
    [
        ([("x", 99, (1,), [(*FULL1, {})])], True, tfckpt.CorruptionError, "unknown dtype enum 99"),
        ([("x", 1, (2,), [((1,), (2,), {"float_val": [1, 2]})])], True, tfckpt.CorruptionError, "outside the shape"),
        (
            [("x", 1, (2,), [((0, 0), (1, 1), {"float_val": [1]})])],
            True,
            tfckpt.CorruptionError,
            "2 extents for a tensor of rank 1",
        ),
        ([("x", 1, (-3,), [])], True, tfckpt.CorruptionError, "negative dimension"),
        (
            [("x", 1, (2,), [(*FULL1, {"float_val": [1]}), (*FULL1, {"float_val": [1]})])],
            True,
            tfckpt.CorruptionError,
            "registered twice",
        ),
        (
            [("x", 1, (3,), [(*FULL1, {"float_val": [1, 2]})])],
            False,
            tfckpt.CorruptionError,
            "holds 2 values in float_val, expected 3",
        ),
        ([("x", 1, (1,), [(*FULL1, {"double_val": [1]})])], False, tfckpt.CorruptionError, "holds 0 values in float_val"),
        ([("x", 8, (1,), [(*FULL1, {"scomplex_val": [1]})])], False, tfckpt.CorruptionError, "odd number"),
        ([("x", 1, (4,), [((0,), (2,), {"float_val": [1, 2]})])], False, tfckpt.CorruptionError, "cover 2 of 4 elements"),
        (
            [("x", 1, (4,), [((0,), (3,), {"float_val": [1, 2, 3]}), ((2,), (2,), {"float_val": [4, 5]})])],
            False,
            tfckpt.CorruptionError,
            r"slice \[2:4\] overlaps",
        ),
        # a lying shape: 2**40 elements claimed, 3 present; nothing that size is allocated
        (
            [("x", 1, (2**40,), [((0,), (3,), {"float_val": [1, 2, 3]})])],
            False,
            tfckpt.CorruptionError,
            "cover 3 of 1099511627776",
        ),
        ([("x", 1, (2**40,), [(*FULL1, {"float_val": [1, 2, 3]})])], False, tfckpt.CorruptionError, "expected 1099511627776"),
        (
            [("x", 14, (1,), [(*FULL1, {"half_val": [1]})])],
            False,
            tfckpt.UnsupportedError,
            "bfloat16, which the V1 format has no field",
        ),
    ],
)
def test_bad_meta_and_rows(tmp_path: Path, tensors: Any, at_open: bool, error: type[Exception], message: str) -> None:
    path = write_v1(tmp_path / "bad", tensors)
    if at_open:
        with pytest.raises(error, match=message) as info:
            tfckpt.open(path)
    else:
        with tfckpt.open(path) as ckpt, pytest.raises(error, match=message) as info:
            ckpt["x"]
    if isinstance(info.value, tfckpt.CorruptionError):
        assert info.value.path == str(path) and info.value.tensor == "x"


def test_rows_that_contradict_the_meta(tmp_path: Path) -> None:
    good = v1_rows([("x", 1, (2,), [(*FULL1, {"float_val": [1, 2]})])])
    key = encode_slice_key(b"x", *FULL1)
    other = SavedTensorSlices.FromString(good[key])
    other.data.name = "y"
    wrong_slice = SavedTensorSlices.FromString(good[key])
    wrong_slice.data.slice.CopyFrom(_slice_proto((0,), (2,)))
    for rows, message in [
        ({b"": good[b""]}, "its data row is missing"),
        ({**good, key: b"\x12\x03\x0a\x01"}, "does not parse as SavedTensorSlices"),
        ({**good, key: b""}, "the row names tensor ''"),
        ({**good, key: other.SerializeToString()}, "the row names tensor 'y'"),
        ({**good, key: wrong_slice.SerializeToString()}, r"the row holds slice \[0:2\]"),
    ]:
        path = tmp_path / "bad"
        path.write_bytes(table_bytes(rows))
        with tfckpt.open(path) as ckpt, pytest.raises(tfckpt.CorruptionError, match=message) as info:
            ckpt["x"]
        assert info.value.tensor == "x" and info.value.path == str(path)


def test_conflicting_registrations_across_files(tmp_path: Path) -> None:
    a = write_v1(tmp_path / "a", [("x", 1, (2,), [((0,), (1,), {"float_val": [1]})])])
    b = write_v1(tmp_path / "b", [("x", 2, (2,), [((1,), (1,), {"double_val": [1]})])])
    c = write_v1(tmp_path / "c", [("x", 1, (2,), [((0,), (1,), {"float_val": [5]})])])
    with pytest.raises(tfckpt.CorruptionError, match=r"registered as float64\[2\] here but as float32\[2\] in"):
        V1Reader([str(a), str(b)], verify=True)
    with pytest.raises(tfckpt.CorruptionError, match=r"slice \[0:1\] is registered twice"):
        V1Reader([str(a), str(c)], verify=True)


def test_tensor_without_slices_is_not_listed(tmp_path: Path) -> None:
    path = write_v1(tmp_path / "noslice", [("ghost", 1, (2,), []), ("x", 3, (1,), [(*FULL1, {"int_val": [4]})])])
    with tfckpt.open(path) as ckpt:
        assert ckpt.keys() == ["x"]  # TensorSliceReader registers slices, not tensors


# -- sweeps ------------------------------------------------------------------------------------


def _outcome(path: Path) -> dict[str, bytes] | None:
    """Every tensor's canonical bytes, or None when tfckpt raised one of its own errors."""
    try:
        with tfckpt.open(path) as ckpt:
            return {name: canonical_bytes(ckpt[name]) for name in ckpt}
    except tfckpt.CheckpointError:
        return None


def test_every_flipped_byte_gives_right_values_or_checkpoint_error(tmp_path: Path) -> None:
    original = (FIXTURES / "tf1_v1_format" / "model.ckpt-3").read_bytes()
    path = tmp_path / "model.ckpt-3"
    path.write_bytes(original)
    want = _outcome(path)
    assert want is not None
    for i in range(len(original)):
        damaged = bytearray(original)
        damaged[i] ^= 0xFF
        path.write_bytes(bytes(damaged))
        got = _outcome(path)
        assert got is None or got == want, f"byte {i}"


def test_every_truncation_is_a_checkpoint_error(tmp_path: Path) -> None:
    original = (FIXTURES / "tf1_v1_format" / "model.ckpt-3").read_bytes()
    path = tmp_path / "model.ckpt-3"
    for n in range(len(original)):
        path.write_bytes(original[:n])
        assert _outcome(path) is None, n


def test_flipped_row_bytes_behind_valid_checksums(tmp_path: Path) -> None:
    # V1 rows carry no checksum of their own: with the block checksums recomputed, a flipped
    # byte may change values, but every failure must still be a CheckpointError.
    rows = v1_rows(
        [
            ("f", 1, (2, 2), [((0, 0), (1, 2), {"float_val": [1.5, -2.0]}), ((1, 0), (1, FULL_EXTENT), {"float_val": [3, 4]})]),
            ("h", 19, (2,), [(*FULL1, {"half_val": [0x3C00, 0x8000]})]),
            ("c", 8, (1,), [(*FULL1, {"scomplex_val": [1.0, 2.0]})]),
            ("s", 7, (2,), [(*FULL1, {"string_val": [b"ab", b""]})]),
            ("i", 4, (), [((), (), {"int_val": [9]})]),
        ]
    )
    path = tmp_path / "rows"
    outcomes = {"ok": 0, "error": 0}
    for key, value in rows.items():
        for i in range(len(value)):
            damaged = bytearray(value)
            damaged[i] ^= 0xFF
            path.write_bytes(table_bytes({**rows, key: bytes(damaged)}))
            try:
                with tfckpt.open(path) as ckpt:
                    for name in ckpt:
                        arr = ckpt[name]
                        assert arr.shape == ckpt.shape(name)
                outcomes["ok"] += 1
            except tfckpt.CheckpointError:
                outcomes["error"] += 1
    assert outcomes["ok"] and outcomes["error"]


def test_closed_reader_releases_files(tmp_path: Path) -> None:
    path = write_v1(tmp_path / "x", [("x", 1, (1,), [(*FULL1, {"float_val": [1.0]})])])
    ckpt = tfckpt.open(path)
    value = ckpt["x"]
    ckpt.close()
    ckpt.close()
    assert ckpt["x"].tolist() == [1.0]  # re-mapped on demand, like the V2 reader's shards
    ckpt.close()
    os.remove(path)
    assert value.tolist() == [1.0]

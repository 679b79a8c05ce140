"""The reading contract of issue 2 and the TensorFlow-compatible facade."""

from __future__ import annotations

from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from conftest import FIXTURES, expected, fixture_cases, sha256

import tfckpt

PARTITIONED = FIXTURES / "partitioned" / "model.ckpt-3"
NO_STATE = FIXTURES / "no_state_file" / "ckpt-1"
ALL_DTYPES = FIXTURES / "all_dtypes" / "dtypes"


@pytest.fixture
def small(tmp_path: Path) -> Path:
    with tfckpt.Writer(tmp_path / "small") as w:
        w.add("b", np.arange(6, dtype=np.float32).reshape(2, 3))
        w.add("a/scalar", np.float64(2.5))
        w.add("strings", np.array([[b"x", b""], [b"\xff", b"long" * 40]], dtype=object))
        w.add("s0", b"only")
        w.add_slice("part", np.ones((1, 2), np.int16), full_shape=(3, 2), start=(0, 0))
        w.add_slice("part", np.zeros((2, 2), np.int16), full_shape=(3, 2), start=(1, 0))
    return tmp_path / "small"


# -- keys ------------------------------------------------------------------------------


def test_keys_sorted_header_excluded_slices_hidden(small: Path) -> None:
    with tfckpt.open(small) as ckpt:
        assert ckpt.keys() == ["a/scalar", "b", "part", "s0", "strings"]
        assert list(ckpt) == ckpt.keys() and len(ckpt) == 5
        assert "" not in ckpt and "part" in ckpt and "nope" not in ckpt and 3 not in ckpt
        assert [name for name, _ in ckpt.items()] == ckpt.keys()
        assert not any(k.startswith("\x00") for k in ckpt.keys())  # noqa: SIM118


def test_keys_are_bytewise_sorted_like_tensorflow() -> None:
    # TF's order is bytewise on UTF-8 keys; "_CHECKPOINTABLE..." sorts after uppercase, before lowercase.
    with tfckpt.open(NO_STATE) as ckpt:
        assert ckpt.keys() == sorted(expected("no_state_file")["checkpoints"]["ckpt-1"])
        assert ckpt.keys()[0] == "_CHECKPOINTABLE_OBJECT_GRAPH"
    with tfckpt.open(PARTITIONED) as ckpt:
        assert ckpt.keys() == ["part_cols", "part_rows", "plain", "scope/part_3d"]


def test_non_ascii_names_round_trip(tmp_path: Path) -> None:
    tfckpt.save(tmp_path / "u", {"é/w": np.zeros(1, np.int8), "z": np.ones(1, np.int8), "Z": np.ones(1, np.int8)})
    with tfckpt.open(tmp_path / "u") as ckpt:
        assert ckpt.keys() == ["Z", "z", "é/w"]  # bytewise: 0xc3 after ASCII
        assert ckpt["é/w"].tolist() == [0]


# -- values ----------------------------------------------------------------------------


def test_scalars_are_0d_arrays(small: Path) -> None:
    with tfckpt.open(small) as ckpt:
        s = ckpt["a/scalar"]
        assert isinstance(s, np.ndarray) and s.shape == () and s.dtype == np.float64 and s.item() == 2.5
        assert ckpt.shape("a/scalar") == ()
        s0 = ckpt["s0"]
        assert isinstance(s0, np.ndarray) and s0.shape == () and s0.dtype == object and s0.item() == b"only"


def test_strings_are_object_arrays_of_bytes(small: Path) -> None:
    with tfckpt.open(small) as ckpt:
        s = ckpt["strings"]
        assert s.dtype == object and s.shape == (2, 2)
        assert all(type(x) is bytes for x in s.flat)
        assert s.tolist() == [[b"x", b""], [b"\xff", b"long" * 40]]
        assert ckpt.dtype("strings") == "string"


def test_fixed_width_are_read_only_zero_copy_views(small: Path) -> None:
    with tfckpt.open(small) as ckpt:
        v = ckpt["b"]
        assert not v.flags.writeable and not v.flags.owndata
        with pytest.raises(ValueError, match="read-only"):
            v[0, 0] = 1
        c = ckpt.get_tensor("b", copy=True)
        assert c.flags.writeable and c.flags.owndata and c.base is None
        c[0, 0] = 42
        assert ckpt["b"][0, 0] == 0  # the file's bytes are untouched
        assert ckpt.get_tensor("b").tolist() == [[0, 1, 2], [3, 4, 5]]


def test_partitioned_reads_are_owned(small: Path) -> None:
    with tfckpt.open(small) as ckpt:
        p = ckpt["part"]
        assert p.flags.writeable and p.dtype == np.int16 and p.tolist() == [[1, 1], [0, 0], [0, 0]]
        assert ckpt.shape("part") == (3, 2) and ckpt.dtype("part") == "int16"


def test_views_survive_close(small: Path) -> None:
    ckpt = tfckpt.open(small)
    v = ckpt["b"]
    ckpt.close()
    ckpt.close()  # idempotent
    assert v.sum() == 15


def test_dtype_names_and_shapes_match_tensorflow() -> None:
    want = expected("all_dtypes")["checkpoints"]["dtypes"]
    with tfckpt.open(ALL_DTYPES) as ckpt:
        for name, t in want.items():
            assert ckpt.dtype(name) == t["dtype"]
            shape = ckpt.shape(name)
            assert type(shape) is tuple and all(type(d) is int for d in shape) and list(shape) == t["shape"]
        assert ckpt["bfloat16"].dtype == ml_dtypes.bfloat16
        assert ckpt["int4"].dtype == ml_dtypes.int4 and ckpt["int4"].itemsize == 1
        assert ckpt["qint8"].dtype == np.int8 and ckpt.dtype("qint8") == "qint8"
        assert ckpt["float32_empty_3d"].shape == (2, 0, 3)


def test_variant_access(tmp_path: Path) -> None:
    with tfckpt.open(ALL_DTYPES) as ckpt:
        assert ckpt.dtype("variant_tensor_list") == "variant"
        with pytest.raises(tfckpt.UnsupportedError, match="'variant_tensor_list' is a variant tensor") as info:
            ckpt["variant_tensor_list"]
        assert "variant_elements()" in str(info.value) and "raw_bytes()" in str(info.value)
        (element,) = ckpt.variant_elements("variant_tensor_list")
        raw = ckpt.raw_bytes("variant_tensor_list")
        assert element in raw and len(raw) > len(element)
        with pytest.raises(tfckpt.UnsupportedError, match="'float32' is float32, not variant"):
            ckpt.variant_elements("float32")


def test_raw_bytes(small: Path) -> None:
    with tfckpt.open(small) as ckpt:
        assert ckpt.raw_bytes("b") == np.arange(6, dtype="<f4").tobytes()
        with pytest.raises(tfckpt.UnsupportedError, match="partitioned into 2 slices"):
            ckpt.raw_bytes("part")


# -- missing names ---------------------------------------------------------------------


def test_not_found_is_key_error_with_suggestions(small: Path) -> None:
    with tfckpt.open(small) as ckpt:
        for call in (ckpt.__getitem__, ckpt.get_tensor, ckpt.shape, ckpt.dtype, ckpt.raw_bytes, ckpt.variant_elements):
            with pytest.raises(KeyError):
                call("strngs")
        with pytest.raises(tfckpt.NotFoundError) as info:
            ckpt["strngs"]
        e = info.value
        assert isinstance(e, tfckpt.CheckpointError) and isinstance(e, ValueError)
        assert e.name == "strngs" and e.suggestions[0] == "strings"
        assert str(e) == f"tensor 'strngs' not found in {small}; did you mean 'strings'?"
        with pytest.raises(tfckpt.NotFoundError, match="did you mean 'b'") as info:
            ckpt["b:0"]  # a graph tensor name
        assert info.value.suggestions[0] == "b"
        with pytest.raises(tfckpt.NotFoundError) as info:
            ckpt["zzzzzzzz"]
        assert info.value.suggestions == () and "did you mean" not in str(info.value)
        # the header and the hidden slice keys are not tensors
        with pytest.raises(tfckpt.NotFoundError):
            ckpt[""]


def test_checkpoint_repr_and_attributes(small: Path) -> None:
    with tfckpt.open(small) as ckpt:
        assert ckpt.prefix == str(small) and ckpt.format == "V2"
        assert repr(ckpt) == f"<tfckpt.Checkpoint {str(small)!r} (V2, 5 tensors)>"


# -- the TF facade ---------------------------------------------------------------------


def test_load_checkpoint_on_a_directory() -> None:
    reader = tfckpt.load_checkpoint(FIXTURES / "manager_rotation")
    assert sorted(reader.get_variable_to_shape_map()) == sorted(expected("manager_rotation")["checkpoints"]["ckpt-4"])
    # TF's latest_checkpoint semantics: no state file, no reader (open() is more lenient)
    with pytest.raises(tfckpt.NotFoundError, match="Couldn't find 'checkpoint' file or checkpoints in given directory"):
        tfckpt.load_checkpoint(FIXTURES / "no_state_file")
    with pytest.raises(ValueError):  # TF raises ValueError here; ours is one too
        tfckpt.list_variables(FIXTURES / "no_state_file")


def _v2_checkpoints() -> list[tuple[str, str]]:
    return [
        (case, prefix)
        for case in fixture_cases()
        for prefix in expected(case)["checkpoints"]
        if (FIXTURES / case / f"{prefix}.index").exists()
    ]


@pytest.mark.parametrize(("case", "prefix"), _v2_checkpoints())
def test_get_tensor_returns_tensorflows_python_types(case: str, prefix: str) -> None:
    # expected.json records type(reader.get_tensor(name)) as TF returned it.
    reader = tfckpt.load_checkpoint(FIXTURES / case / prefix)
    want = expected(case)["checkpoints"][prefix]
    assert reader.get_variable_to_shape_map() == {name: t["shape"] for name, t in want.items()}
    assert {name: d.name for name, d in reader.get_variable_to_dtype_map().items()} == {
        name: t["dtype"] for name, t in want.items()
    }
    for name, t in want.items():
        if t["dtype"] == "variant":
            continue
        value = reader.get_tensor(name)
        assert f"{type(value).__module__}.{type(value).__name__}" == t["tf_python_type"], name
        assert sha256(value) == t["sha256"], name
        if isinstance(value, np.ndarray):
            assert value.flags.writeable  # owned copies, as TF's
    reader.close()


def test_scalar_string_is_bytes() -> None:
    reader = tfckpt.load_checkpoint(ALL_DTYPES)
    assert reader.get_tensor("string_scalar") == b"scalar string"
    assert tfckpt.load_variable(ALL_DTYPES, "string_scalar:0") == b"scalar string"
    v = reader.get_tensor("float32_scalar")
    assert type(v) is np.float32 and v == np.float32(3.1415927)


def test_dtype_map_names() -> None:
    reader = tfckpt.load_checkpoint(ALL_DTYPES)
    dtypes = reader.get_variable_to_dtype_map()
    want = expected("all_dtypes")["checkpoints"]["dtypes"]
    assert {k: d.name for k, d in dtypes.items()} == {k: t["dtype"] for k, t in want.items()}
    assert dtypes["float16"].name == "float16" and dtypes["float16"] == "half" and dtypes["float16"] == tfckpt.DType("float16")
    assert dtypes["bfloat16"].as_numpy_dtype is ml_dtypes.bfloat16
    assert dtypes["string"].as_numpy_dtype is object and dtypes["int64"].as_datatype_enum == 9
    shapes = reader.get_variable_to_shape_map()
    assert shapes["float32_scalar"] == [] and shapes["int32_matrix"] == [3, 4]
    assert all(type(s) is list for s in shapes.values())


def test_partitioned_in_facade_maps() -> None:
    reader = tfckpt.load_checkpoint(PARTITIONED)
    assert reader.get_variable_to_shape_map() == {
        "scope/part_3d": [2, 3, 7],
        "plain": [2],
        "part_rows": [10, 4],
        "part_cols": [3, 5],
    }
    assert reader.has_tensor("part_cols")
    assert not reader.has_tensor("\x00part_cols\x00\x01\x01\x02\x80\x83\x80\x83")


# TF 2.21's ``reader.debug_string()`` for these fixtures, verbatim. For V2 it lists every
# index key in order, *including* slice keys, and skips the full entries of partitioned
# variables (``BundleReader::DebugString``).
TF_DEBUG_STRINGS = {
    PARTITIONED: (
        b"\x00part_cols\x00\x01\x01\x02\x80\x83\x80\x83 (DT_INT32) [3,3]\n"
        b"\x00part_cols\x00\x01\x01\x02\x80\x83\x83\x82 (DT_INT32) [3,2]\n"
        b"\x00part_rows\x00\x01\x01\x02\x80\x84\x80\x84 (DT_FLOAT) [4,4]\n"
        b"\x00part_rows\x00\x01\x01\x02\x84\x83\x80\x84 (DT_FLOAT) [3,4]\n"
        b"\x00part_rows\x00\x01\x01\x02\x87\x83\x80\x84 (DT_FLOAT) [3,4]\n"
        b"\x00scope/part_3d\x00\x01\x01\x03\x80\x82\x80\x83\x80\x83 (DT_DOUBLE) [2,3,3]\n"
        b"\x00scope/part_3d\x00\x01\x01\x03\x80\x82\x80\x83\x83\x82 (DT_DOUBLE) [2,3,2]\n"
        b"\x00scope/part_3d\x00\x01\x01\x03\x80\x82\x80\x83\x85\x82 (DT_DOUBLE) [2,3,2]\n"
        b"plain (DT_FLOAT) [2]\n"
    ),
    NO_STATE: (
        b"_CHECKPOINTABLE_OBJECT_GRAPH (DT_STRING) []\n"
        b"b/.ATTRIBUTES/VARIABLE_VALUE (DT_FLOAT) [2]\n"
        b"save_counter/.ATTRIBUTES/VARIABLE_VALUE (DT_INT64) []\n"
        b"w/.ATTRIBUTES/VARIABLE_VALUE (DT_FLOAT) [3,2]\n"
    ),
    ALL_DTYPES: (
        b"bfloat16 (DT_BFLOAT16) [6]\nbool (DT_BOOL) [4]\nbool_empty_3d (DT_BOOL) [2,0,3]\nbool_scalar (DT_BOOL) []\n"
        b"complex128 (DT_COMPLEX128) [2,1]\ncomplex64 (DT_COMPLEX64) [3]\nfloat16 (DT_HALF) [2,4]\nfloat32 (DT_FLOAT) [2,3]\n"
        b"float32_empty (DT_FLOAT) [0]\nfloat32_empty_3d (DT_FLOAT) [2,0,3]\nfloat32_scalar (DT_FLOAT) []\n"
        b"float32_subnormal_max (DT_FLOAT) [3]\nfloat4_e2m1fn (DT_FLOAT4_E2M1FN) [2,8]\nfloat64 (DT_DOUBLE) [5]\n"
        b"float8_e4m3b11fnuz (DT_FLOAT8_E4M3B11FNUZ) [9]\nfloat8_e4m3fn (DT_FLOAT8_E4M3FN) [9]\n"
        b"float8_e4m3fn_scalar (DT_FLOAT8_E4M3FN) []\nfloat8_e4m3fnuz (DT_FLOAT8_E4M3FNUZ) [9]\n"
        b"float8_e5m2 (DT_FLOAT8_E5M2) [11]\nfloat8_e5m2fnuz (DT_FLOAT8_E5M2FNUZ) [9]\nint16 (DT_INT16) [5]\n"
        b"int2 (DT_INT2) [4]\nint32 (DT_INT32) [5]\nint32_matrix (DT_INT32) [3,4]\nint32_scalar (DT_INT32) []\n"
        b"int4 (DT_INT4) [4,4]\nint4_scalar_minus1 (DT_INT4) []\nint64 (DT_INT64) [5]\nint64_empty (DT_INT64) [0]\n"
        b"int8 (DT_INT8) [5]\nqint16 (DT_QINT16) [4]\nqint32 (DT_QINT32) [4]\nqint8 (DT_QINT8) [4]\nqint8_scalar (DT_QINT8) []\n"
        b"quint16 (DT_QUINT16) [4]\nquint8 (DT_QUINT8) [4]\nstring (DT_STRING) [4]\nstring_empty (DT_STRING) [0]\n"
        b"string_empty_3d (DT_STRING) [2,0,3]\nstring_matrix (DT_STRING) [2,3]\nstring_scalar (DT_STRING) []\n"
        b"uint16 (DT_UINT16) [4]\nuint2 (DT_UINT2) [4]\nuint32 (DT_UINT32) [4]\nuint4 (DT_UINT4) [2,8]\n"
        b"uint64 (DT_UINT64) [4]\nuint8 (DT_UINT8) [4]\nvariant_tensor_list (DT_VARIANT) []\n"
    ),
}


@pytest.mark.parametrize("prefix", list(TF_DEBUG_STRINGS), ids=lambda p: p.parent.name)
def test_debug_string_is_tensorflows(prefix: Path) -> None:
    assert tfckpt.load_checkpoint(prefix).debug_string() == TF_DEBUG_STRINGS[prefix]


def test_debug_string_v1_lines() -> None:
    # TensorSliceReader::DebugString iterates a hash map, so only the lines are comparable.
    want = (
        b"i8 (DT_INT8) [3]\nu8 (DT_UINT8) [2,2]\nglobal_step (DT_INT64) []\ni16 (DT_INT16) [2]\nf16 (DT_HALF) [6]\n"
        b"f64_scalar (DT_DOUBLE) []\nc64 (DT_COMPLEX64) [3]\nstr (DT_STRING) [2,2]\npv (DT_FLOAT) [6,3], 3 slices\n"
        b"u16 (DT_UINT16) [3]\nc128 (DT_COMPLEX128) [2,1]\n"
    )
    got = tfckpt.load_checkpoint(FIXTURES / "tf1_v1_sharded").debug_string()
    assert sorted(got.splitlines()) == sorted(want.splitlines())


def test_list_and_load_variable() -> None:
    assert tfckpt.list_variables(PARTITIONED) == [
        ("part_cols", [3, 5]),
        ("part_rows", [10, 4]),
        ("plain", [2]),
        ("scope/part_3d", [2, 3, 7]),
    ]
    value = tfckpt.load_variable(PARTITIONED, "part_cols:0")
    assert isinstance(value, np.ndarray) and value.shape == (3, 5) and value.flags.writeable
    with pytest.raises(tfckpt.NotFoundError):
        tfckpt.load_variable(PARTITIONED, "part_colz")


def test_raw_bytes_verifies_string_checksums(tmp_path: Path) -> None:
    tfckpt.save(tmp_path / "s", {"s": np.array([b"abc", b"de"], dtype=object)})
    shard = tmp_path / "s.data-00000-of-00001"
    raw = bytearray(shard.read_bytes())
    raw[-1] ^= 0x20  # a string byte, not a length
    shard.write_bytes(bytes(raw))
    with tfckpt.open(tmp_path / "s") as ckpt, pytest.raises(tfckpt.CorruptionError, match="checksum mismatch"):
        ckpt.raw_bytes("s")
    with tfckpt.open(tmp_path / "s", verify=False) as ckpt:
        assert ckpt.raw_bytes("s") == bytes(raw)


def test_non_str_names_are_not_found(small: Path) -> None:
    with tfckpt.open(small) as ckpt:
        with pytest.raises(tfckpt.NotFoundError, match=r"tensor names are str, not bytes: b'b'; did you mean 'b'\?"):
            ckpt[b"b"]  # type: ignore[index]
        for key in (3, None, ("b",)):
            with pytest.raises(KeyError, match="tensor names are str"):
                ckpt[key]  # type: ignore[index]
        assert b"b" not in ckpt and 3 not in ckpt

"""The reader's cold start and per-tensor memory: what `import tfckpt` loads, what an
open reader holds (behaviour only; timings live in benchmarks/, never in tests)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import tfckpt
from tfckpt.format._bundle import BundleHeader, _decode_plain_header, _protos


def _modules_after(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code + "; import sys; print(sorted(sys.modules))"],
                         check=True, capture_output=True, text=True).stdout
    return eval(out.strip().splitlines()[-1])  # noqa: S307 - our own subprocess's list of names


def test_import_loads_only_the_reader() -> None:
    loaded = _modules_after("import tfckpt")
    for module in ("tfckpt.writer", "tfckpt.convert", "tfckpt.objects", "tfckpt.object_writer", "tfckpt.manager",
                   "tfckpt.compat", "tfckpt.state", "google.protobuf", "importlib.metadata", "crc32c"):
        assert module not in loaded, module


def test_open_and_read_need_no_protobuf(tmp_path: pytest.TempPathFactory) -> None:
    tfckpt.save(str(tmp_path / "m"), {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.int64(7)})
    loaded = _modules_after(f"import tfckpt; c = tfckpt.open({str(tmp_path / 'm')!r}); c['a']; c['b']")
    assert "google.protobuf" not in loaded and "importlib.metadata" not in loaded
    # the state file and the TF facade are not needed to read a prefix; importlib.util would
    # only have served to load crc32c's extension
    assert not {"tfckpt.state", "tfckpt.compat", "importlib.util"} & set(loaded)
    # the table writer (with the general, one-entry-per-step table reader) and the slice-key
    # codec of partitioned variables load when a write or a damaged or partitioned index needs them
    assert not {"tfckpt.format._table", "tfckpt.format._ordered_code", "tfckpt.writer"} & set(loaded)


#: Modules a plain read of a local prefix never loads, and what loads each one.
_LOADED_ON_FIRST_USE = {
    "tfckpt.format._v2_bulk": "list(c.items())",  # batches, read-ahead
    "tfckpt.format._rows_crc": "list(c.items())",  # small payloads' checksums in bulk
    "tfckpt.format._v2_general": "c['s']",  # strings, variants, slices, raw and remote payloads
    "tfckpt.format._string_payloads": "c['s']",
    "tfckpt.format._index_lanes": "tfckpt.open(big)",  # indexes of 128 lanes (~2,000 entries) or more
    "tfckpt._paths_dirs": "tfckpt.open(directory)",  # directories, SavedModels, archive roots
    "tfckpt.format._bundle_encode": "tfckpt.save(directory + '/w', {'x': numpy.zeros(2)})",  # the writer's halves
    "tfckpt.format._block_builder": "tfckpt.save(directory + '/w', {'x': numpy.zeros(2)})",
    "tfckpt.format._rows_build": "tfckpt.save(directory + '/w', {'x': numpy.zeros(2)})",
    "tfckpt.format._crc_combine": "tfckpt.average([numeric, numeric], directory + '/avg')",
    "tfckpt.format._source": None,  # for type checkers only
}


def test_a_plain_read_loads_only_the_read_path(tmp_path: pytest.TempPathFactory) -> None:
    """Open a prefix, list it, ask every dtype and shape, read tensors out of index order
    (in order, the second read starts read-ahead, the bulk path): none of the modules that
    load on first use is loaded; then each loads when its feature is used, and works."""
    directory = str(tmp_path)
    prefix = f"{directory}/m"
    tfckpt.save(prefix, {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.int64(7), "s": np.array([b"x", b"yz"])})
    tfckpt.save(f"{directory}/big/m", {f"t{i:05d}": np.float32(i) for i in range(3000)})
    tfckpt.save(f"{directory}/n/m", {"a": np.ones(3, np.float32)})
    setup = (
        f"import numpy, tfckpt; directory = {directory!r}; prefix = {prefix!r}; big = {directory + '/big/m'!r}; "
        f"numeric = {directory + '/n/m'!r}"
    )
    read = "c = tfckpt.open(prefix); names = list(c); [(c.dtype(n), c.shape(n)) for n in names]; c['b']; c['a']"
    loaded = set(_modules_after(f"{setup}; {read}"))
    assert not set(_LOADED_ON_FIRST_USE) & loaded
    for module, use in _LOADED_ON_FIRST_USE.items():
        if use is not None:
            assert module in _modules_after(f"{setup}; {read}; {use}"), (module, use)


def test_every_public_name_resolves() -> None:
    for name in tfckpt.__all__:
        assert getattr(tfckpt, name) is not None
    assert set(tfckpt.__all__) <= set(dir(tfckpt))
    with pytest.raises(AttributeError):
        tfckpt.no_such_name  # noqa: B018


@pytest.mark.parametrize(
    "header",
    [BundleHeader(), BundleHeader(3, 1, 1, 0), BundleHeader(1, 0, 0, 0), BundleHeader(2, 0, 5, 1, (7,)), BundleHeader(1, 0, 5, 2),
     BundleHeader(300, 0, 1 << 20, 1)],
)
def test_hand_decoded_header_matches_protobuf(header: BundleHeader) -> None:
    data = header.encode()
    proto = _protos().BundleHeaderProto.FromString(data)
    plain = _decode_plain_header(data)
    if plain is not None:  # else the protobuf path decodes it
        assert plain == (proto.num_shards, proto.endianness, proto.version.producer, proto.version.min_consumer)
    if header.min_consumer > 1:
        with pytest.raises(tfckpt.UnsupportedError, match="newer reader"):
            BundleHeader.decode(data, "x")
    else:
        assert BundleHeader.decode(data, "x") == header


def test_reading_every_tensor_keeps_no_per_tensor_state(tmp_path: pytest.TempPathFactory) -> None:
    tensors = {f"t{i:03d}": np.full(4, i, np.float32) for i in range(200)}
    tensors["big"] = np.zeros(1 << 15, np.float32)  # 128 KiB: its checksum is remembered
    tfckpt.save(str(tmp_path / "m"), tensors)
    with tfckpt.open(str(tmp_path / "m")) as ckpt:
        for _ in range(2):
            for name, value in ckpt.items():
                np.testing.assert_array_equal(value, tensors[name])
        source = ckpt._source
        assert source._verified == {b"big"}  # type: ignore[attr-defined]
        assert source._entries == {}  # type: ignore[attr-defined]
        assert list(ckpt) == sorted(tensors) and len(ckpt) == len(tensors) and "t007" in ckpt


def test_writable_reads_keep_in_place_writes(tmp_path: pytest.TempPathFactory) -> None:
    tfckpt.save(str(tmp_path / "m"), {"small": np.zeros(4, np.float32)})
    with tfckpt.open(str(tmp_path / "m"), writable=True) as ckpt:
        ckpt["small"][:] = 5  # would fail a checksum that is checked again on the next read
        np.testing.assert_array_equal(ckpt["small"], np.full(4, 5, np.float32))


def test_missing_hidden_and_non_str_names(tmp_path: pytest.TempPathFactory) -> None:
    tfckpt.save(str(tmp_path / "m"), {"dense/kernel": np.zeros(2, np.float32)})
    with tfckpt.open(str(tmp_path / "m")) as ckpt:
        with pytest.raises(tfckpt.NotFoundError, match="did you mean 'dense/kernel'"):
            ckpt["dense/kernal"]
        with pytest.raises(KeyError, match="not bytes"):
            ckpt[b"dense/kernel"]  # type: ignore[index]
        with pytest.raises(tfckpt.NotFoundError):
            ckpt.get_tensor(3, copy=True)  # type: ignore[arg-type]
        assert b"dense/kernel" not in ckpt and "" not in ckpt


# -- the bulk path: items() and read_many() decode entries in batches ----------------------


def test_batch_decoder_agrees_with_the_entry_decoder() -> None:
    import random

    from tfckpt.format._bundle import BundleEntry, _decode_plain_entry, decode_plain_entries
    from tfckpt.format._bundle_encode import encode_plain_entry

    rnd = random.Random(1)
    values = []
    for i in range(3000):
        shape = tuple(rnd.choice([0, 1, 3, 200, 70000]) for _ in range(rnd.randint(0, 3)))
        value = encode_plain_entry(rnd.choice([1, 2, 3, 9, 14]), shape, rnd.choice([0, 0, 1, 5]), rnd.choice([0, 5, 1000, 2**40]),
                                   rnd.choice([0, 4, 2**33]), rnd.choice([0, 1, 2**32 - 1]))
        if i % 7 == 0:
            value = value[: rnd.randint(0, len(value))]
        if i % 11 == 0 and value:
            damaged = bytearray(value)
            damaged[rnd.randrange(len(damaged))] = rnd.randrange(256)
            value = bytes(damaged)
        values.append(value)
    values += [BundleEntry(1, (2,), 0, 0, 8, 3, (((0,), (1,)),)).encode(), b"", b"\x08",
               b"\x08\x01\x12\x00\x20" + b"\xff" * 9 + b"\x01"]  # an offset of 2**64 - 1
    batch = decode_plain_entries(values)
    assert 2000 < batch.plain.sum() < len(values)
    for i, value in enumerate(values):
        got = None
        if batch.plain[i]:
            dtype, shape = batch.kinds[batch.kind[i]]
            got = (dtype, shape, int(batch.shard_id[i]), int(batch.offset[i]), int(batch.size[i]), int(batch.crc32c[i]))
        assert got == _decode_plain_entry(value), value.hex()


def _mixed(n: int = 300) -> dict[str, object]:
    import ml_dtypes

    tensors: dict[str, object] = {f"w/{i:04d}": np.full((2, 3), i, np.float32) for i in range(n)}
    tensors.update({"s": np.array([b"a", b"bc"], object), "scalar": np.int64(-3), "empty": np.zeros((0, 4), np.float16),
                    "bf": np.ones(5, ml_dtypes.bfloat16), "big": np.arange(1 << 15, dtype=np.int32)})
    return tensors


def test_items_and_read_many_equal_get_tensor(tmp_path: pytest.TempPathFactory) -> None:
    tensors = _mixed()
    with tfckpt.Writer(str(tmp_path / "m"), max_shard_size=2000) as writer:  # several shards
        for name, value in tensors.items():
            writer.add(name, value)
    with tfckpt.open(str(tmp_path / "m")) as ckpt:
        items = dict(ckpt.items())
        many = ckpt.read_many(reversed(list(ckpt)), copy=True)
        assert list(items) == list(ckpt)
        for name in ckpt:
            one = ckpt[name]
            for value in (items[name], many[name]):
                assert value.dtype == one.dtype and value.shape == one.shape
                np.testing.assert_array_equal(value, one)
        assert many["w/0001"].flags.writeable and not items["w/0001"].flags.writeable
        with pytest.raises(tfckpt.NotFoundError, match="nope"):
            ckpt.read_many(["w/0001", "nope"])


def test_bulk_path_reports_a_damaged_tensor(tmp_path: pytest.TempPathFactory) -> None:
    tfckpt.save(str(tmp_path / "m"), {f"w/{i:04d}": np.full(4, i, np.float32) for i in range(200)})
    data = str(tmp_path / "m.data-00000-of-00001")
    with open(data, "r+b") as f:
        f.seek(16 * 150 + 2)
        f.write(b"\xff")
    with tfckpt.open(str(tmp_path / "m")) as ckpt:
        with pytest.raises(tfckpt.CorruptionError, match="checksum mismatch") as info:
            dict(ckpt.items())
        assert info.value.tensor == "w/0150"
    with tfckpt.open(str(tmp_path / "m"), verify=False) as ckpt:
        assert len(dict(ckpt.items())) == 200

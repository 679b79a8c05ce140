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
                   "google.protobuf", "importlib.metadata", "crc32c"):
        assert module not in loaded, module


def test_open_and_read_need_no_protobuf(tmp_path: pytest.TempPathFactory) -> None:
    tfckpt.save(str(tmp_path / "m"), {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.int64(7)})
    loaded = _modules_after(f"import tfckpt; c = tfckpt.open({str(tmp_path / 'm')!r}); c['a']; c['b']")
    assert "google.protobuf" not in loaded and "importlib.metadata" not in loaded


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

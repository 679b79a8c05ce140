"""Every tensor of every TF-written fixture reads bit for bit as TensorFlow read it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, expected, fixture_cases, sha256

import tfckpt


def _checkpoints() -> list[tuple[str, str]]:
    return [(case, prefix) for case in fixture_cases() for prefix in expected(case)["checkpoints"]]


@pytest.mark.parametrize(("case", "prefix"), _checkpoints())
def test_every_tensor_matches_tensorflow(case: str, prefix: str) -> None:
    want = expected(case)["checkpoints"][prefix]
    with tfckpt.open(FIXTURES / case / prefix) as ckpt:
        assert ckpt.keys() == sorted(want)
        for name, tf_reading in want.items():
            assert ckpt.dtype(name) == tf_reading["dtype"], name
            assert list(ckpt.shape(name)) == tf_reading["shape"], name
            if tf_reading["dtype"] == "variant":
                assert ckpt.variant_elements(name)  # bytes are there and their checksums hold
                with pytest.raises(tfckpt.UnsupportedError):
                    ckpt[name]
                continue
            value = ckpt[name]
            assert value.shape == tuple(tf_reading["shape"])
            assert sha256(value) == tf_reading["sha256"], name


@pytest.mark.parametrize("case", fixture_cases())
def test_directory_resolves_like_tensorflow(case: str) -> None:
    exp = expected(case)
    latest = tfckpt.latest_checkpoint(FIXTURES / case)
    want = exp["latest_checkpoint"]
    assert (os.path.basename(latest) if latest else None) == want
    if exp["checkpoints"]:
        with tfckpt.open(FIXTURES / case) as ckpt:
            # open() also finds checkpoints TF cannot (moved directory, no state file)
            assert os.path.basename(ckpt.prefix) == exp["prefix"]


def test_moved_directory_falls_back_to_same_base_name(tmp_path: Path) -> None:
    # tf1_saver's state file names absolute paths on the generating machine
    shutil.copytree(FIXTURES / "tf1_saver", tmp_path / "moved")
    assert tfckpt.latest_checkpoint(tmp_path / "moved") is None  # TF semantics
    with tfckpt.open(tmp_path / "moved") as ckpt:
        assert ckpt.prefix == str(tmp_path / "moved" / "model.ckpt-7")


def test_all_ways_to_name_a_checkpoint() -> None:
    d = FIXTURES / "multi_shard"
    prefix = str(d / "model.ckpt-7")
    for path in [prefix, prefix + ".index", prefix + ".data-00002-of-00004", str(d / "checkpoint"), str(d)]:
        with tfckpt.open(path) as ckpt:
            assert ckpt.prefix == prefix


def test_zero_copy_views_and_copies() -> None:
    with tfckpt.open(FIXTURES / "big_tensor") as ckpt:
        name = max(ckpt.keys(), key=lambda n: int(np.prod(ckpt.shape(n))))
        view = ckpt[name]
        assert not view.flags.writeable and not view.flags.owndata
        owned = ckpt.get_tensor(name, copy=True)
        assert owned.flags.writeable and owned.flags.owndata
        assert np.array_equal(view, owned)
    assert float(owned.sum()) == float(view.sum())  # the view outlives close() safely


def test_facade_matches_tensorflow_reader() -> None:
    exp = expected("tf1_saver")["checkpoints"]
    prefix, want = next(iter(exp.items()))
    reader = tfckpt.load_checkpoint(str(FIXTURES / "tf1_saver" / prefix))
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    assert shapes == {k: v["shape"] for k, v in want.items()}
    assert {k: d.name for k, d in dtypes.items()} == {k: v["dtype"] for k, v in want.items()}
    assert tfckpt.list_variables(str(FIXTURES / "tf1_saver" / prefix)) == sorted((k, v["shape"]) for k, v in want.items())
    name = next(iter(want))
    assert reader.has_tensor(name) and not reader.has_tensor(name + "x")
    value = tfckpt.load_variable(str(FIXTURES / "tf1_saver" / prefix), name + ":0")
    assert sha256(value) == want[name]["sha256"]
    assert f"{name} (".encode() in reader.debug_string()


def test_missing_name_suggests_close_names() -> None:
    with tfckpt.open(FIXTURES / "tf1_saver") as ckpt:
        name = ckpt.keys()[0]
        with pytest.raises(tfckpt.NotFoundError) as info:
            ckpt[name + "x"]
        assert isinstance(info.value, KeyError)
        assert name in info.value.suggestions
        assert repr(name) in str(info.value)

"""convert_tf1_to_tf2, convert_tf2_to_tf1, rename and rename_plan, without TensorFlow."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import tfckpt
from tfckpt.errors import InvalidArgumentError, NotFoundError
from tfckpt.objects import OBJECT_GRAPH_KEY

FIXTURES = Path(__file__).parent / "fixtures"
SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
TF1 = FIXTURES / "tf1_saver" / "model.ckpt-7"
NESTED = FIXTURES / "tf2_nested" / "ckpt-2"
KERAS = FIXTURES / "keras_model" / "ckpt-1"


def _contents(prefix: str | Path) -> dict[str, tuple[str, bytes]]:
    with tfckpt.open(prefix) as ckpt:
        return {name: (ckpt.dtype(name), ckpt.raw_bytes(name)) for name in ckpt}


# -- TF1 -> TF2 -------------------------------------------------------------------------------


def test_tf1_to_tf2_layout(tmp_path: Path) -> None:
    out = tfckpt.convert_tf1_to_tf2(TF1, tmp_path / "ckpt-1")
    assert out == str(tmp_path / "ckpt-1")
    src = _contents(TF1)
    with tfckpt.open(out) as ckpt:
        assert ckpt.keys() == sorted(
            [OBJECT_GRAPH_KEY, "save_counter" + SUFFIX] + [f"vars/{n.replace('/', '.S')}{SUFFIX}" for n in src]
        )
        for name, (dtype, raw) in src.items():
            key = f"vars/{name.replace('/', '.S')}{SUFFIX}"
            assert (ckpt.dtype(key), ckpt.raw_bytes(key)) == (dtype, raw)
        graph = ckpt.object_graph
        assert graph is not None
        assert list(graph.root.children) == ["vars", "save_counter"]
        assert list(graph.root.children["vars"].children) == sorted(src)
        # full_name keeps the TF1 name, so variables("full") gives the old names back.
        full = ckpt.variables("full")
        assert full["dense1/kernel/Adam_1"] == "vars/dense1.Skernel.SAdam_1" + SUFFIX
        assert sorted(full) == sorted(src)
        assert ckpt.variables()["vars/global_step"] == "vars/global_step" + SUFFIX


def test_tf1_to_tf2_to_tf1_round_trip(tmp_path: Path) -> None:
    tf2 = tfckpt.convert_tf1_to_tf2(TF1, tmp_path / "tf2" / "ckpt-1", root="weights")
    back = tfckpt.convert_tf2_to_tf1(tf2, tmp_path / "tf1" / "model.ckpt", root="weights")
    assert _contents(back) == _contents(TF1)


def test_tf1_to_tf2_at_the_root(tmp_path: Path) -> None:
    src = tfckpt.save(tmp_path / "src", {"a.b/c": np.float32(1), "scoped/d": np.arange(2)})
    out = tfckpt.convert_tf1_to_tf2(src, tmp_path / "dst", root=None)
    with tfckpt.open(out) as ckpt:
        assert ckpt.keys() == [OBJECT_GRAPH_KEY, "a..b.Sc" + SUFFIX, "save_counter" + SUFFIX, "scoped.Sd" + SUFFIX]
    clash = tfckpt.save(tmp_path / "clash", {"save_counter": np.int64(1)})
    with pytest.raises(InvalidArgumentError, match="collides"):
        tfckpt.convert_tf1_to_tf2(clash, tmp_path / "x", root=None)


@pytest.mark.parametrize("case", ["tf1_v1_format/model.ckpt-3", "partitioned/model.ckpt-3"])
def test_tf1_to_tf2_from_v1_and_partitioned(tmp_path: Path, case: str) -> None:
    src = FIXTURES / case
    out = tfckpt.convert_tf1_to_tf2(src, tmp_path / "ckpt-1")
    with tfckpt.open(src) as old, tfckpt.open(out) as new:
        for name in old:
            key = f"vars/{name.replace('.', '..').replace('/', '.S')}{SUFFIX}"
            assert new.dtype(key) == old.dtype(name)
            assert new.shape(key) == old.shape(name)
            np.testing.assert_array_equal(new[key], old[name])


def test_tf1_to_tf2_rejects_object_based(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="object-based"):
        tfckpt.convert_tf1_to_tf2(NESTED, tmp_path / "x")
    assert not list(tmp_path.iterdir())


# -- TF2 -> TF1 -------------------------------------------------------------------------------


def test_tf2_to_tf1_nested(tmp_path: Path) -> None:
    out = tfckpt.convert_tf2_to_tf1(NESTED, tmp_path / "model.ckpt")
    with tfckpt.open(NESTED) as src, tfckpt.open(out) as ckpt:
        assert ckpt.object_graph is None
        assert ckpt.keys() == sorted(src.variables())
        for name, key in src.variables().items():
            assert ckpt.raw_bytes(name) == src.raw_bytes(key)
            assert ckpt.dtype(name) == src.dtype(key)


def test_tf2_to_tf1_keras_with_root(tmp_path: Path) -> None:
    out = tfckpt.convert_tf2_to_tf1(KERAS, tmp_path / "model.ckpt", root="model/")
    with tfckpt.open(KERAS) as src, tfckpt.open(out) as ckpt:
        assert ckpt.keys() == ["_operations/1/_kernel", "_operations/1/bias", "_operations/2/_kernel", "_operations/2/bias"]
        np.testing.assert_array_equal(ckpt["_operations/1/_kernel"], src["optimizer/_trainable_variables/0" + SUFFIX])


def test_tf2_to_tf1_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="name-based"):
        tfckpt.convert_tf2_to_tf1(TF1, tmp_path / "x")
    with pytest.raises(NotFoundError, match=r"no model variable .* under 'optimizer'; top-level names: \['model'\]"):
        tfckpt.convert_tf2_to_tf1(KERAS, tmp_path / "x", root="optimizer")
    assert not list(tmp_path.iterdir())


def test_conversions_stream(tmp_path: Path) -> None:
    # The 2 MiB tensor is served as a view of the mapped file and written from it: nothing
    # close to its size is allocated on the Python heap.
    src = FIXTURES / "big_tensor" / "ckpt-1"
    tracemalloc.start()
    try:
        tfckpt.convert_tf2_to_tf1(src, tmp_path / "tf1")
        tfckpt.convert_tf1_to_tf2(tmp_path / "tf1", tmp_path / "tf2")
        tfckpt.rename(tmp_path / "tf1", tmp_path / "renamed", {"/": "scope/"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    with tfckpt.open(src) as a, tfckpt.open(tmp_path / "renamed") as b:
        assert a.raw_bytes("big" + SUFFIX) == b.raw_bytes("scope/big")


# -- rename -----------------------------------------------------------------------------------

NAMES = ["bert/embeddings/w", "bert/encoder/layer_0/kernel", "bert/encoder/layer_0/kernel/adam_m", "cls/b", "global_step"]


@pytest.mark.parametrize(
    ("assignment_map", "expected"),
    [
        ({"bert/": "encoder/"}, ["encoder/embeddings/w", "encoder/encoder/layer_0/kernel", "encoder/encoder/layer_0/kernel/adam_m", "cls/b", "global_step"]),
        ({"/": "model/"}, [f"model/{n}" for n in NAMES]),
        ({"bert/": "/"}, ["embeddings/w", "encoder/layer_0/kernel", "encoder/layer_0/kernel/adam_m", "cls/b", "global_step"]),
        ({"cls/b": "head/bias"}, [*NAMES[:3], "head/bias", "global_step"]),
        # An exact name beats a scope; a longer scope beats a shorter one.
        (
            {"bert/": "a/", "bert/encoder/": "b/"},
            ["a/embeddings/w", "b/layer_0/kernel", "b/layer_0/kernel/adam_m", "cls/b", "global_step"],
        ),
        (
            {"bert/": "a/", "bert/embeddings/w": "emb"},
            ["emb", "a/encoder/layer_0/kernel", "a/encoder/layer_0/kernel/adam_m", "cls/b", "global_step"],
        ),
    ],
)  # fmt: skip
def test_rename_plan_assignment_map(assignment_map: dict[str, str], expected: list[str]) -> None:
    assert list(tfckpt.rename_plan(NAMES, assignment_map).values()) == expected


def test_rename_plan_rules_and_filters() -> None:
    plan = tfckpt.rename_plan(
        NAMES,
        {"bert/": "/"},
        rules=[(r"layer_(\d+)", r"layers.\1"), (r"/kernel$", "/weight")],
        exclude=[r"/adam_[mv]$", "^global_step$"],
    )
    assert plan == {
        "bert/embeddings/w": "embeddings/w",
        "bert/encoder/layer_0/kernel": "encoder/layers.0/weight",
        "cls/b": "cls/b",
    }
    assert tfckpt.rename_plan(NAMES, include="^cls/", rules={"^cls/": "head/"}) == {"cls/b": "head/b"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"assignment_map": {"brt/": "x/"}}, r"matched no tensor: assignment map entry 'brt/': 'x/'"),
        ({"assignment_map": {"nope": "x"}}, r"assignment map entry 'nope': 'x'"),
        ({"rules": [("xyz", "")]}, r"rule 'xyz' -> ''"),
        ({"exclude": ["Adam"]}, r"exclude 'Adam'"),
        ({"include": ["^head"]}, r"include '\^head'"),
        ({"assignment_map": {"bert/": "x"}}, "must map a scope to a scope"),
        ({"assignment_map": {"cls/b": "x/"}}, "must map a scope to a scope"),
        ({"rules": [("(", "x")]}, "bad rule pattern"),
        ({"exclude": "["}, "bad exclude pattern"),
        ({"rules": [("^cls/b$", "global_step")]}, "'cls/b' and 'global_step' would both be renamed to 'global_step'"),
        ({"rules": [(".*", "")]}, "renamed to the empty string"),
        ({"exclude": "."}, "no tensor to write"),
        ({"rules": [("w", r"\2")]}, "invalid group reference"),
    ],
)
def test_rename_plan_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        tfckpt.rename_plan(NAMES, **kwargs)  # type: ignore[arg-type]


def test_rename_plan_allow_unmatched() -> None:
    plan = tfckpt.rename_plan(NAMES, {"brt/": "x/"}, rules=[("zzz", "")], exclude="Adam", allow_unmatched=True)
    assert plan == {n: n for n in NAMES}


def test_rename_writes(tmp_path: Path) -> None:
    out = tfckpt.rename(TF1, tmp_path / "out", {"dense1/": "encoder/"}, exclude=[r"/Adam(_1)?$", "power$"])
    with tfckpt.open(TF1) as src, tfckpt.open(out) as ckpt:
        assert ckpt.keys() == ["dense2/bias", "dense2/kernel", "encoder/bias", "encoder/kernel", "global_step"]
        assert ckpt.raw_bytes("encoder/kernel") == src.raw_bytes("dense1/kernel")
        assert ckpt.dtype("global_step") == "int64"


def test_rename_string_tensors_and_object_based(tmp_path: Path) -> None:
    src = tfckpt.save(tmp_path / "src", {"s": np.array([b"a", b"\x00b"], dtype=object)})
    out = tfckpt.rename(src, tmp_path / "out", {"s": "t"})
    assert list(tfckpt.open(out)["t"]) == [b"a", b"\x00b"]
    with pytest.raises(InvalidArgumentError, match="convert_tf2_to_tf1 first"):
        tfckpt.rename(NESTED, tmp_path / "x", {"/": "a/"})


def test_variant_tensors_are_refused_before_writing(tmp_path: Path) -> None:
    src = FIXTURES / "all_dtypes" / "dtypes"
    with tfckpt.open(src) as ckpt:
        variant = [n for n in ckpt if ckpt.dtype(n) == "variant"]
    assert variant
    with pytest.raises(tfckpt.UnsupportedError, match="variant tensor"):
        tfckpt.convert_tf1_to_tf2(src, tmp_path / "a")
    with pytest.raises(tfckpt.UnsupportedError, match="variant tensor"):
        tfckpt.rename(src, tmp_path / "b", {"/": "x/"})
    with pytest.raises(tfckpt.UnsupportedError, match="variant tensor"):
        tfckpt.save_like(src, tmp_path / "c", {})
    assert not list(tmp_path.iterdir())
    # Excluding them works.
    out = tfckpt.rename(src, tmp_path / "d", {"/": "x/"}, exclude=[f"^{v}$" for v in variant])
    assert len(tfckpt.open(out)) == len(tfckpt.open(src)) - len(variant)


def test_save_like_name_based_template(tmp_path: Path) -> None:
    kernel = np.full((3, 5), 0.25, np.float32)
    out = tfckpt.save_like(TF1, tmp_path / "model.ckpt", {"dense1/kernel": kernel, "global_step": 8})
    with tfckpt.open(TF1) as old, tfckpt.open(out) as new:
        assert new.keys() == old.keys()
        np.testing.assert_array_equal(new["dense1/kernel"], kernel)
        assert new["global_step"] == 8
        assert new.raw_bytes("dense1/kernel/Adam") == old.raw_bytes("dense1/kernel/Adam")

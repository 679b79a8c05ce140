"""``tfckpt inspect`` prints what TensorFlow's ``inspect_checkpoint`` prints; converted checkpoints restore in TF.

Runs TF's own tool (``python -m tensorflow.python.tools.inspect_checkpoint``) and ``tfckpt
inspect`` on the same fixtures with the same flags and compares stdout byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfckpt
from tfckpt.cli import main

FIXTURES = Path(__file__).parent.parent / "fixtures"
CASES = ["tf1_saver/model.ckpt-7", "tf2_nested/ckpt-2", "keras_model/ckpt-1", "all_dtypes/dtypes", "multi_shard/model.ckpt-7"]
FLAGS = [[], ["--all_tensor_names"], ["--all_tensors"], ["--all_tensors", "--printoptions", "precision=3", "threshold=5"],
         ["--tensor_name=save_counter/.ATTRIBUTES/VARIABLE_VALUE"], ["--count_exclude_pattern=Adam|OPTIMIZER"]]


def _printoptions(flags: list[str]) -> dict[str, int]:
    if "--printoptions" not in flags:
        return {}
    pairs = flags[flags.index("--printoptions") + 1 :]
    return {k: int(v) for k, v in (p.split("=") for p in pairs)}


def _flag(flags: list[str], name: str) -> str:
    return next((f.split("=", 1)[1] for f in flags if f.startswith(f"--{name}=")), "")


@pytest.mark.parametrize("case", CASES)
def test_inspect_matches_tensorflow(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    from tensorflow.python.tools import inspect_checkpoint as tf_inspect

    prefix = str(FIXTURES / case)
    for flags in FLAGS:
        with np.printoptions(**_printoptions(flags)):  # TF's flag parser calls np.set_printoptions
            tf_inspect.print_tensors_in_checkpoint_file(
                prefix, _flag(flags, "tensor_name"), "--all_tensors" in flags, "--all_tensor_names" in flags,
                count_exclude_pattern=_flag(flags, "count_exclude_pattern"),
            )
        theirs = capsys.readouterr().out
        assert theirs.endswith("\n# Total number of params: " + theirs.rsplit(": ", 1)[-1]) or "not found" in theirs
        if theirs.startswith("Tensor ") and "not found" in theirs:
            continue  # the tensor exists only in the TF2 fixtures
        with np.printoptions():  # main() applies --printoptions only inside its own context
            main(["inspect", f"--file_name={prefix}", *flags])
        mine = capsys.readouterr().out
        assert mine == theirs, (case, flags)


def test_converted_checkpoints_restore_in_tensorflow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # TF1 -> TF2: the migration guide's tf.train.Checkpoint(vars={name: variable}) restores it.
    dst = str(tmp_path / "tf2" / "ckpt-1")
    assert main(["convert", str(FIXTURES / "tf1_saver"), dst, "--to", "tf2", "--skip-optimizer"]) == 0
    with tfckpt.open(FIXTURES / "tf1_saver") as old:
        names = ["dense1/bias", "dense1/kernel", "dense2/bias", "dense2/kernel"]
        variables = {n: tf.Variable(tf.zeros(old.shape(n), dtype=old.dtype(n))) for n in names}
        tf.train.Checkpoint(vars=variables).restore(dst).assert_consumed()
        for n in names:
            np.testing.assert_array_equal(variables[n].numpy(), old[n])

    # TF2 -> TF1 with a rename: tf.compat.v1.train.Saver-style reading by name.
    tf1 = str(tmp_path / "tf1" / "model.ckpt")
    assert main(["convert", str(FIXTURES / "keras_model" / "ckpt-1"), tf1, "--to", "tf1", "--root", "model/_operations",
                 "--rename", "1/=hidden/", "--rename", "2/=out/"]) == 0
    reader = tf.train.load_checkpoint(tf1)
    assert sorted(reader.get_variable_to_shape_map()) == ["hidden/_kernel", "hidden/bias", "out/_kernel", "out/bias"]
    with tfckpt.open(FIXTURES / "keras_model" / "ckpt-1") as src:
        key = src.variables("path")["model/_operations/1/_kernel"]
        np.testing.assert_array_equal(reader.get_tensor("hidden/_kernel"), src[key])
    capsys.readouterr()

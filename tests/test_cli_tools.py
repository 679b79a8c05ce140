"""``tfckpt average``, ``tfckpt merge`` and ``tfckpt meta`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tfckpt
from tfckpt.cli import main

META = Path(__file__).parent / "fixtures" / "meta"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", ["average", "merge", "meta"])
def test_help_with_examples(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and "examples" in out and f"tfckpt {command}" in out


def test_average_directory_last_weights_and_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    paths = []
    for i in range(3):
        p = str(tmp_path / "run" / f"model.ckpt-{i}")
        tfckpt.save(p, {"w": np.full(2, i, np.float32), "w/Adam": np.zeros(2, np.float32), "global_step": np.int64(i)})
        paths.append(p)
    tfckpt.update_checkpoint_state(str(tmp_path / "run"), paths[-1], all_model_checkpoint_paths=paths)
    code, out, err = run(capsys, "average", str(tmp_path / "run"), str(tmp_path / "avg" / "m"), "--last", "2",
                         "--weights", "1,3", "--skip-optimizer")
    assert code == 0, err
    assert "the average of 2 checkpoints" in out and paths[1] in out and paths[0] not in out
    with tfckpt.open(tmp_path / "avg" / "m") as ckpt:
        assert sorted(ckpt) == ["global_step", "w"] and ckpt["w"][0] == 1.75 and ckpt["global_step"] == 2
    code, out, err = run(capsys, *["average", *paths, str(tmp_path / "avg2")])
    assert code == 0 and "the average of 3 checkpoints" in out
    code, _, err = run(capsys, "average", *paths, str(tmp_path / "x"), "--weights", "1,a")
    assert code == 2 and "--weights '1,a'" in err
    tfckpt.save(tmp_path / "other", {"w": np.zeros(3, np.float32)})
    code, _, err = run(capsys, "average", paths[0], str(tmp_path / "other"), str(tmp_path / "x"))
    assert code == 2 and "'w' is float32[2] in" in err and "but float32[3] in" in err
    code, _, err = run(capsys, "average", paths[0], str(tmp_path))
    assert code == 2 and "is a directory" in err


def test_merge_parts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for r in range(3):
        with tfckpt.Writer(tmp_path / "tmp" / f"part-{r}", partial=True) as w:
            w.add_slice("emb", np.full((1, 2), r, np.float32), full_shape=(3, 2), start=(r, 0))
    parts = [str(tmp_path / "tmp" / f"part-{r}") for r in range(3)]
    code, out, err = run(capsys, "merge", *parts, str(tmp_path / "model.ckpt"), "--delete-inputs")
    assert code == 0, err
    assert "4 index entries, 3 data shards from 3 parts" in out
    assert not (tmp_path / "tmp").exists()
    with tfckpt.open(tmp_path / "model.ckpt") as ckpt:
        assert ckpt["emb"][:, 0].tolist() == [0, 1, 2]
    code, _, err = run(capsys, "merge", str(tmp_path / "nope"), str(tmp_path / "m2"))
    assert code == 2 and "nope.index" in err


def test_meta_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "meta", str(META / "tf1_graph" / "model.ckpt-1"))
    assert code == 0
    assert "variables (20 global, 6 trainable, 1 local, 1 moving average, 1 global_step)" in out
    assert "emb[7, 2] @ [3, 0]" in out and "saver: V2, max_to_keep 3, restore op save/restore_all" in out
    assert "written by TensorFlow 2.21.0" in out
    code, out, _ = run(capsys, "meta", str(META / "module_savedmodel"))
    assert code == 0 and "tags: serve" in out and "x: float32 [?, 3]  (serving_default_x:0)" in out
    code, out, _ = run(capsys, "meta", str(META / "keras_savedmodel" / "saved_model.pb"), "--json")
    data = json.loads(out)
    assert data["meta_graphs"][0]["signatures"]["serving_default"]["inputs"]["features"]["shape"] == [None, 4]
    code, _, err = run(capsys, "meta", str(META / "tf1_graph" / "model.ckpt-1.index"))
    assert code == 0
    code, _, err = run(capsys, "meta", str(META / "tf1_graph" / "model.ckpt-1.data-00000-of-00001"))
    assert code == 2 and "not a graph" in err
    code, _, err = run(capsys, "meta", str(Path(__file__).parent / "fixtures" / "tf2_nested" / "ckpt-1"))
    assert code == 2 and "no .meta graph beside this checkpoint" in err and "tfckpt tree" in err

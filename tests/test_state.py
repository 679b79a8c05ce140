"""The ``checkpoint`` state file: exact text written, paths as TF records them, atomic replacement,
and reading back. (The same calls compared with TensorFlow's output: tests/interop/.)"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import tfckpt
import tfckpt.state as state_mod
from tfckpt.errors import InvalidArgumentError


def test_exact_text_with_timestamps(tmp_path: Path) -> None:
    d = str(tmp_path)
    tfckpt.update_checkpoint_state(
        d,
        os.path.join(d, "ckpt-2"),
        [os.path.join(d, "ckpt-1"), os.path.join(d, "ckpt-2")],
        all_model_checkpoint_timestamps=[1795345781.0654757, 1795345782.25],
        last_preserved_timestamp=1795345780.5,
    )
    assert (tmp_path / "checkpoint").read_text() == (
        'model_checkpoint_path: "ckpt-2"\n'
        'all_model_checkpoint_paths: "ckpt-1"\n'
        'all_model_checkpoint_paths: "ckpt-2"\n'
        "all_model_checkpoint_timestamps: 1795345781.0654757\n"
        "all_model_checkpoint_timestamps: 1795345782.25\n"
        "last_preserved_timestamp: 1795345780.5\n"
    )
    assert os.listdir(d) == ["checkpoint"]  # no temporary left behind


def test_model_path_is_appended_and_zero_timestamp_omitted(tmp_path: Path) -> None:
    d = str(tmp_path)
    tfckpt.update_checkpoint_state(d, os.path.join(d, "ckpt-3"), [os.path.join(d, "ckpt-1")])
    assert (tmp_path / "checkpoint").read_text() == (
        'model_checkpoint_path: "ckpt-3"\nall_model_checkpoint_paths: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-3"\n'
    )
    tfckpt.update_checkpoint_state(d, "ckpt-4", last_preserved_timestamp=0.0)
    assert (tmp_path / "checkpoint").read_text() == 'model_checkpoint_path: "ckpt-4"\nall_model_checkpoint_paths: "ckpt-4"\n'


def test_relative_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    tfckpt.update_checkpoint_state("runs/a", "runs/a/ckpt-1", latest_filename="state")
    assert (tmp_path / "runs/a/state").read_text() == 'model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n'
    st = tfckpt.get_checkpoint_state("runs/a", latest_filename="state")
    assert st is not None and st.model_checkpoint_path == os.path.join("runs/a", "ckpt-1")
    # An absolute path under a relative directory is made relative once (TF would write "../ckpt-2").
    tfckpt.update_checkpoint_state("runs/a", str(tmp_path / "runs/a/ckpt-2"))
    assert (tmp_path / "runs/a/checkpoint").read_text().splitlines()[0] == 'model_checkpoint_path: "ckpt-2"'


def test_absolute_paths_kept_for_tf1_saver_style(tmp_path: Path) -> None:
    d = str(tmp_path)
    p = os.path.join(d, "model.ckpt-7")
    tfckpt.update_checkpoint_state(d, p, [p], save_relative_paths=False)
    assert (tmp_path / "checkpoint").read_text() == f'model_checkpoint_path: "{p}"\nall_model_checkpoint_paths: "{p}"\n'
    st = tfckpt.get_checkpoint_state(d)
    assert st is not None and st.model_checkpoint_path == p


def test_non_ascii_paths_round_trip(tmp_path: Path) -> None:
    d = str(tmp_path / "r\u00e9sultats")
    tfckpt.update_checkpoint_state(d, os.path.join(d, "\u00e9tape-1"))
    text = Path(d, "checkpoint").read_text()
    assert text.splitlines()[0] == 'model_checkpoint_path: "\u00e9tape-1"'  # UTF-8, as protobuf's text_format
    st = tfckpt.get_checkpoint_state(d)
    assert st is not None and st.model_checkpoint_path == os.path.join(d, "\u00e9tape-1")


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (("ckpt-2", ["ckpt-1", "ckpt-2"]), {"all_model_checkpoint_timestamps": [1.0]}, ValueError, "must match"),
        (("",), {}, ValueError, "must not be empty"),
    ],
)
def test_bad_arguments(tmp_path: Path, args: Any, kwargs: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        tfckpt.update_checkpoint_state(tmp_path, *args, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_path_may_not_be_the_state_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="conflicts with path used for checkpoint state"):
        tfckpt.update_checkpoint_state(str(tmp_path), str(tmp_path / "checkpoint"), save_relative_paths=False)


def test_failed_replace_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tfckpt.update_checkpoint_state(str(tmp_path), "ckpt-1")
    before = (tmp_path / "checkpoint").read_bytes()

    def replace(src: Any, dst: Any) -> None:
        raise OSError(28, "injected ENOSPC")

    monkeypatch.setattr(state_mod.os, "replace", replace)
    with pytest.raises(OSError, match="injected"):
        tfckpt.update_checkpoint_state(str(tmp_path), "ckpt-2")
    monkeypatch.undo()
    assert (tmp_path / "checkpoint").read_bytes() == before
    assert os.listdir(tmp_path) == ["checkpoint"]


def test_reading_states(tmp_path: Path) -> None:
    d = str(tmp_path)
    assert tfckpt.get_checkpoint_state(d) is None and tfckpt.latest_checkpoint(d) is None
    tfckpt.update_checkpoint_state(d, "ckpt-1")
    assert tfckpt.latest_checkpoint(d) is None  # named, but no ckpt-1.index
    tfckpt.save(tmp_path / "ckpt-1", {"x": 1})
    assert tfckpt.latest_checkpoint(d) == os.path.join(d, "ckpt-1")
    (tmp_path / "checkpoint").write_text("model_checkpoint_path: {")
    assert tfckpt.get_checkpoint_state(d) is None  # unparsable: ignored, as TF
    (tmp_path / "checkpoint").write_text('all_model_checkpoint_paths: "ckpt-1"\n')
    with pytest.raises(ValueError, match="Invalid checkpoint state loaded from"):
        tfckpt.get_checkpoint_state(d)


def test_resolving_spells_the_state_file_name_as_state_does() -> None:
    # _paths keeps its own copy so that opening a prefix does not import the state module
    from tfckpt import _paths

    assert _paths._STATE_FILENAME == state_mod.STATE_FILENAME

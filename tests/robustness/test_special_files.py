"""Special files as inputs and outputs: FIFOs, sockets, character devices, symlinks to them.

Inputs: every file the library opens (index, data shard, state file, V1 file) is checked
for its type before it is read, so a FIFO never blocks and ``/dev/zero`` is never read
"to the end". Outputs: a writer refuses an existing target that is not a regular file, and
never replaces a device node or a FIFO with a regular file.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from robust_harness import bounded, expect_error, expect_value, read_all

import tfckpt
from tfckpt.cli import main as cli

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX special files")


def _bundle(directory: Path, name: str = "ckpt-1") -> Path:
    prefix = directory / name
    tfckpt.save(prefix, {"w": np.arange(3, dtype=np.float32)})
    tfckpt.update_checkpoint_state(directory, str(prefix))
    return prefix


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _replace_with(path: Path, kind: str) -> Iterator[None] | None:
    """Turn ``path`` into a special file of ``kind``; returns an object to keep alive."""
    if path.exists() or path.is_symlink():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        return s  # type: ignore[return-value]
    elif kind in ("zero", "urandom"):
        path.symlink_to(f"/dev/{kind}")
    else:
        raise AssertionError(kind)
    return None


KINDS = ["fifo", "socket", "zero", "urandom"]


@pytest.mark.parametrize("kind", KINDS)
def test_index_special_file(tmp_path: Path, kind: str) -> None:
    prefix = _bundle(tmp_path)
    keep = _replace_with(Path(f"{prefix}.index"), kind)
    for target in (tmp_path, f"{prefix}.index", prefix):
        expect_error(bounded(lambda t=target: read_all(t)), tfckpt.CheckpointError)
    # opened by name, the error says what the file is
    expect_error(bounded(lambda: tfckpt.open(f"{prefix}.index")), tfckpt.InvalidArgumentError, "not a regular file")
    del keep


@pytest.mark.parametrize("kind", KINDS)
def test_data_shard_special_file(tmp_path: Path, kind: str) -> None:
    prefix = _bundle(tmp_path)
    keep = _replace_with(Path(f"{prefix}.data-00000-of-00001"), kind)
    expect_error(bounded(lambda: read_all(prefix)), tfckpt.InvalidArgumentError, "not a regular file")
    del keep


@pytest.mark.parametrize("kind", KINDS)
def test_state_file_special_file(tmp_path: Path, kind: str) -> None:
    _bundle(tmp_path)
    keep = _replace_with(tmp_path / "checkpoint", kind)
    expect_error(bounded(lambda: read_all(tmp_path)), tfckpt.InvalidArgumentError, "not a regular file")
    expect_error(bounded(lambda: tfckpt.latest_checkpoint(tmp_path)), tfckpt.InvalidArgumentError)
    expect_error(bounded(lambda: tfckpt.CheckpointManager(tmp_path)), tfckpt.InvalidArgumentError)
    del keep


@pytest.mark.parametrize("command", ["ls", "verify", "latest", "state", "tree", "show"])
@pytest.mark.parametrize("which", ["index", "data", "state"])
def test_cli_on_fifos_exits_with_an_error(tmp_path: Path, which: str, command: str) -> None:
    prefix = _bundle(tmp_path)
    target = {"index": f"{prefix}.index", "data": f"{prefix}.data-00000-of-00001", "state": tmp_path / "checkpoint"}[which]
    _replace_with(Path(target), "fifo")
    args = [command, str(tmp_path)] + (["w"] if command == "show" else [])
    code = expect_value(bounded(lambda: cli(args)))
    if not (which == "data" and command in ("ls", "latest", "state", "tree")):  # these never read tensor data
        assert code != 0


def test_oversized_state_file_is_refused(tmp_path: Path) -> None:
    _bundle(tmp_path)
    with open(tmp_path / "checkpoint", "w") as f:
        f.write('model_checkpoint_path: "ckpt-1"\n')
        f.write(f"# {'x' * (5 << 20)}\n")
    expect_error(bounded(lambda: tfckpt.latest_checkpoint(tmp_path)), tfckpt.InvalidArgumentError, "MiB")


def test_v1_file_fifo_in_directory(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "model.ckpt")  # what a V1 checkpoint would be called
    expect_error(bounded(lambda: read_all(tmp_path)), tfckpt.CheckpointError)
    expect_error(bounded(lambda: read_all(tmp_path / "model.ckpt")), tfckpt.InvalidArgumentError, "not a regular file")


# -- outputs ---------------------------------------------------------------------------


def _char_device(path: Path) -> None:
    """A character device node with /dev/null's numbers (harmless to write or delete)."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root")


def _special(path: Path, kind: str) -> None:
    if kind == "chardev":
        _char_device(path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
    elif kind == "symlink-to-chardev":
        _char_device(path.parent / "device")
        path.symlink_to(path.parent / "device")
    else:
        raise AssertionError(kind)


def _still_special(path: Path, kind: str) -> bool:
    mode = os.lstat(path).st_mode
    return {
        "chardev": stat.S_ISCHR,
        "fifo": stat.S_ISFIFO,
        "dir": stat.S_ISDIR,
        "symlink-to-chardev": stat.S_ISLNK,
    }[kind](mode) and (kind != "symlink-to-chardev" or stat.S_ISCHR(os.stat(path).st_mode))


OUTPUT_KINDS = ["chardev", "fifo", "dir", "symlink-to-chardev"]


@pytest.mark.parametrize("kind", OUTPUT_KINDS)
@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_convert_refuses_special_output(tmp_path: Path, kind: str, fmt: str) -> None:
    prefix = _bundle(_mkdir(tmp_path / "src"))
    out = tmp_path / f"out.{fmt}"
    _special(out, kind)
    code = expect_value(bounded(lambda: cli(["convert", str(prefix), str(out), "--to", fmt])))
    assert code != 0
    assert _still_special(out, kind)
    expect_error(bounded(lambda: _api_export(out, fmt)), tfckpt.InvalidArgumentError, "not a regular file")
    assert _still_special(out, kind)
    assert [p.name for p in out.parent.iterdir() if ".tmp" in p.name] == []


def _api_export(out: Path, fmt: str) -> None:
    from tfckpt.npz_io import write_npz
    from tfckpt.safetensors_io import SafetensorsSpec, write_safetensors

    if fmt == "npz":
        write_npz(out, [("w", np.zeros(2))])
    else:
        write_safetensors(out, [SafetensorsSpec("w", "float32", (2,))], lambda name: np.zeros(2, np.float32))


@pytest.mark.parametrize("kind", OUTPUT_KINDS)
@pytest.mark.parametrize("which", ["index", "data"])
@pytest.mark.parametrize("how", ["save", "Writer", "manager", "convert-tf1", "convert-tf2"])
def test_checkpoint_writers_refuse_special_targets(tmp_path: Path, kind: str, which: str, how: str) -> None:
    src = _bundle(_mkdir(tmp_path / "src"))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    prefix = out_dir / "ckpt-1"
    target = Path(f"{prefix}.index" if which == "index" else f"{prefix}.data-00000-of-00001")
    _special(target, kind)

    def write() -> object:
        tensors = {"w": np.zeros(2, np.float32)}
        if how == "save":
            return tfckpt.save(prefix, tensors)
        if how == "Writer":
            with tfckpt.Writer(prefix) as w:
                w.add("w", tensors["w"])
            return None
        if how == "manager":
            return tfckpt.CheckpointManager(out_dir, max_to_keep=1).save(tensors, checkpoint_number=1)
        if how == "convert-tf1":
            return cli(["convert", str(src), str(prefix), "--to", "tf1"])
        return cli(["convert", str(src), str(prefix), "--to", "tf2"])

    outcome = bounded(write)
    if how.startswith("convert"):
        assert expect_value(outcome) != 0
    else:
        expect_error(outcome, tfckpt.InvalidArgumentError, "not a regular file")
    assert _still_special(target, kind)
    assert not [p.name for p in out_dir.iterdir() if "tempstate" in p.name]


def test_state_file_output_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "checkpoint")
    expect_error(
        bounded(lambda: tfckpt.update_checkpoint_state(tmp_path, str(tmp_path / "ckpt-1"))), tfckpt.InvalidArgumentError
    )
    assert stat.S_ISFIFO(os.lstat(tmp_path / "checkpoint").st_mode)


def test_symlink_output_is_replaced_not_followed(tmp_path: Path) -> None:
    """A symlink to a regular file: the link is replaced, the file it points to is untouched
    (a writer never writes outside the directory it was given)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "precious.npz"
    victim.write_bytes(b"precious")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    link = out_dir / "w.npz"
    link.symlink_to(victim)
    from tfckpt.npz_io import write_npz

    expect_value(bounded(lambda: write_npz(link, [("w", np.arange(2))])))
    assert victim.read_bytes() == b"precious"
    assert not link.is_symlink()
    assert list(np.load(link)["w"]) == [0, 1]

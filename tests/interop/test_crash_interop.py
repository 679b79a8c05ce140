"""SIGKILL at random moments while tfckpt saves; what is left must be intact, for tfckpt and TensorFlow.

A child process saves in a loop (``tfckpt.save`` over one prefix again and again, a sharded
``Writer`` to new prefixes, or ``CheckpointManager.save`` with rotation) and reports each
save it finished; the parent kills it with SIGKILL a random few milliseconds into the loop,
many times over. After every kill:

* every checkpoint the child reported is still there and complete, unless the manager
  rotated it out (previous checkpoints intact); a prefix being overwritten holds the last
  finished save, the new one, or (killed inside the overwrite window, see
  ``Writer.finish``) no checkpoint, never the old index over the new data;
* every ``.index`` in the directory (the new checkpoint, if the kill came after its commit
  point) opens in tfckpt with exactly the values written, and TensorFlow
  (``tf.train.load_checkpoint``) reads the same values;
* the manager's state file parses (tfckpt and TF) and names a readable checkpoint.

``TFCKPT_KILLS`` sets the kills per mode (default 20); the counts are printed.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfckpt

tf = pytest.importorskip("tensorflow")

KILLS = int(os.environ.get("TFCKPT_KILLS", "20"))

CHILD = r"""
import sys, numpy as np, tfckpt
mode, directory, start = sys.argv[1], sys.argv[2], int(sys.argv[3])

def tensors(n):
    return {"a": np.full((256, 1024), n, np.float32), "b": np.arange(n, n + 1000, dtype=np.int64),
            "s": np.array([b"x" * (n % 50), str(n).encode()], dtype=object)}

manager = tfckpt.CheckpointManager(directory, max_to_keep=2) if mode == "manager" else None
print("ready", flush=True)
n = start
while True:
    if mode == "save":
        tfckpt.save(f"{directory}/ckpt", tensors(n))
        done = f"{directory}/ckpt"
    elif mode == "writer":
        with tfckpt.Writer(f"{directory}/ckpt-{n}", max_shard_size=600_000) as w:
            for name, value in tensors(n).items():
                w.add(name, value)
        done = f"{directory}/ckpt-{n}"
    else:
        done = manager.save(tensors(n), checkpoint_number=n)
    print(n, done, flush=True)
    n += 1
"""


def _number(values: dict[str, Any]) -> int:
    """The ``n`` a complete checkpoint was written with (and a check that all its tensors agree)."""
    n = int(values["a"].reshape(-1)[0])
    assert np.array_equal(values["a"], np.full((256, 1024), n, np.float32))
    assert np.array_equal(values["b"], np.arange(n, n + 1000, dtype=np.int64))
    assert list(values["s"]) == [b"x" * (n % 50), str(n).encode()]
    return n


def _read_tfckpt(prefix: str) -> dict[str, Any]:
    with tfckpt.open(prefix) as ckpt:
        return {name: np.array(ckpt[name]) for name in ckpt}


def _read_tf(prefix: str) -> dict[str, Any]:
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def _kill_once(mode: str, directory: Path, start: int, rng: random.Random) -> list[tuple[int, str]]:
    env = dict(os.environ)
    src = str(Path(tfckpt.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, str(directory), str(start)], stdout=subprocess.PIPE, env=env, text=True
    )
    assert child.stdout is not None
    try:
        ready, _, _ = select.select([child.stdout], [], [], 120)
        assert ready and child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.6))  # the first save takes ~0.2 s, later ones ~0.04 s: the kill lands in one
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        out = child.stdout.read()
        child.wait()
    # Only whole lines are reports: a line the kill cut short (no newline yet) is a save
    # that may or may not have finished, which is what the caller assumes of the next one.
    *lines, _unfinished = out.split("\n")
    reported = []
    for line in lines:
        n, space, prefix = line.partition(" ")
        assert space and n.isdigit(), f"unexpected line {line!r} in the child's output {out!r}"
        reported.append((int(n), prefix))
    return reported


@pytest.mark.parametrize("mode", ["save", "writer", "manager"])
def test_sigkill_leaves_intact_checkpoints(tmp_path: Path, mode: str) -> None:
    rng = random.Random(f"{mode}-{KILLS}")
    reported_all: dict[str, int] = {}  # prefix -> n of every save the child finished
    last: tuple[int, str] | None = None  # the newest finished save
    start = 1
    tf_reads = 0
    absent = 0
    finished = 0
    previous: int | None = None  # mode "save": the version of the prefix found after the last kill
    for _ in range(KILLS):
        reported = _kill_once(mode, tmp_path, start, rng)
        reported_all.update((prefix, n) for n, prefix in reported)
        finished += len(reported)
        killed_save = reported[-1][0] + 1 if reported else start  # the save cut short: it may have committed
        if reported:
            last = reported[-1]
        start = killed_save + 1
        indexes = sorted(str(p)[: -len(".index")] for p in tmp_path.glob("*.index"))
        # Previous checkpoints intact: every finished save (writer), the newest one (manager:
        # older ones may be rotated out), the prefix's last or next version (save).
        if mode == "writer":
            assert set(reported_all) <= set(indexes), "a finished checkpoint disappeared after a kill"
        elif mode == "manager" and last is not None:
            # rotation (max_to_keep=2) removes it only after two newer saves were committed
            newer = [p for p in indexes if int(p.rsplit("-", 1)[1]) > last[0]]
            assert last[1] in indexes or len(newer) >= 2, f"{last[1]} (save {last[0]}) disappeared after a kill"
        elif last is not None and last[1] not in indexes:
            # overwriting one prefix: killed between removing the old index and placing the
            # new one (Writer.finish), the prefix holds no checkpoint rather than a mixed one
            absent += 1
        if mode == "manager":
            state = tfckpt.get_checkpoint_state(tmp_path)
            tf_state = tf.train.get_checkpoint_state(str(tmp_path))
            assert (state is None) == (tf_state is None)
            if state is not None:
                assert list(state.all_model_checkpoint_paths) == list(tf_state.all_model_checkpoint_paths)
                latest = tfckpt.latest_checkpoint(tmp_path)
                assert latest is not None and tf.train.latest_checkpoint(str(tmp_path)) == latest
        # Every checkpoint left (the one being written, if its commit happened) is complete.
        for prefix in indexes:
            values = _read_tfckpt(prefix)
            n = _number(values)
            if mode == "save":
                # the save cut short, else the newest before it (reported now, or found after the last kill)
                before = reported[-1][0] if reported else previous
                assert n in (killed_save, before), (n, before, killed_save)
                previous = n
            else:
                assert prefix.endswith(f"ckpt-{n}")
            tf_values = _read_tf(prefix)
            assert sorted(tf_values) == sorted(values)
            for name, value in values.items():
                if value.dtype == object:
                    assert list(tf_values[name].reshape(-1)) == list(value.reshape(-1))
                else:
                    np.testing.assert_array_equal(tf_values[name], value)
            tf_reads += 1
    print(f"\n{mode}: {KILLS} kills, {finished} saves finished between them, {tf_reads} checkpoint reads by "
          f"TensorFlow after the kills, {absent} times the overwritten prefix held no checkpoint, 0 failures")
    assert tf_reads > 0 and reported_all

"""The ``tfckpt`` command line, end to end.

Most cases call :func:`tfckpt.cli.main` in-process (same code path as the console script,
without ~0.3 s of interpreter start-up each); a representative few run
``python -m tfckpt`` in a subprocess to pin the real entry point, exit codes, the absence of
tracebacks, and that piped output has no colour and no progress bar.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import tfckpt
from tfckpt.cli import main
from tfckpt.npz_io import NPZ_WIDENED

FIXTURES = Path(__file__).parent / "fixtures"


def expected(case: str) -> dict[str, Any]:
    """TensorFlow's readings of a fixture (tests/fixtures/README.md)."""
    return json.loads((FIXTURES / case / "expected.json").read_text())  # type: ignore[no-any-return]


def sha256(arr: np.ndarray) -> str:
    """SHA-256 of a fixed-width array's element bytes, as expected.json records it."""
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cli(*argv: str, cwd: str | Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tfckpt", *argv], capture_output=True, text=True, cwd=cwd, timeout=60, check=False)


def fixture_copy(tmp_path: Path, case: str) -> Path:
    dst = tmp_path / case
    shutil.copytree(FIXTURES / case, dst)
    return dst


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


# -- the real entry point ----------------------------------------------------------------


def test_subprocess_entry_point_and_pipes(tmp_path: Path) -> None:
    top = cli("--help")
    assert top.returncode == 0
    for command in ("ls", "show", "inspect", "verify", "diff", "state", "latest", "tree", "convert"):
        assert f"    {command} " in top.stdout

    # Passing a .data shard works; piped output has no escape codes and verify draws no bar.
    data = FIXTURES / "tf1_saver" / "model.ckpt-7.data-00000-of-00001"
    listing = cli("ls", str(data))
    assert listing.returncode == 0, listing.stderr
    assert "\033[" not in listing.stdout and listing.stderr == ""
    assert listing.stdout.splitlines()[1].split() == ["beta1_power", "float32", "[]", "4", "B", "0"]

    ok = cli("verify", str(FIXTURES / "big_tensor"))
    assert ok.returncode == 0 and ok.stderr == "" and "\033[" not in ok.stdout
    assert "OK  index blocks, data shards and all 4 tensor checksums verified" in ok.stdout

    # A wrong file: exit 2, one line plus a hint with the corrected command, no traceback.
    meta = FIXTURES / "tf1_saver" / "model.ckpt-7.meta"
    bad = cli("ls", str(meta))
    assert bad.returncode == 2 and bad.stdout == ""
    lines = bad.stderr.splitlines()
    assert len(lines) == 2 and "Traceback" not in bad.stderr
    assert lines[0].startswith("tfckpt ls: error: ") and "MetaGraphDef" in lines[0]
    assert lines[1] == f"  hint: pass the checkpoint prefix: tfckpt ls {FIXTURES / 'tf1_saver' / 'model.ckpt-7'}"

    # A corrupt checkpoint: exit 1 naming the tensor.
    case = fixture_copy(tmp_path, "tf1_saver")
    flip_byte(case / "model.ckpt-7.data-00000-of-00001", 0)  # first bytes belong to the first tensor written
    broken = cli("verify", str(case))
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert "BAD  tensor " in broken.stdout and "checksum mismatch" in broken.stdout

    st = pytest.importorskip("safetensors.numpy")
    out = tmp_path / "w.safetensors"
    conv = cli("convert", str(FIXTURES / "tf1_saver"), str(out), "--to", "safetensors", "--skip-optimizer")
    assert conv.returncode == 0, conv.stderr
    assert sorted(st.load_file(str(out))) == ["dense1/bias", "dense1/kernel", "dense2/bias", "dense2/kernel"]


@pytest.mark.parametrize("command", ["ls", "show", "inspect", "verify", "diff", "state", "latest", "tree", "convert"])
def test_every_command_has_help_with_examples(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert "examples" in out and f"tfckpt {command}" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, )[0] == 2
    assert run(capsys, "ls")[0] == 2
    code, _, err = run(capsys, "diff", "a", "b", "--atol", "x")
    assert code == 2 and "invalid float value" in err
    code, _, err = run(capsys, "ls", str(FIXTURES / "tf1_saver"), "--include", "(")
    assert code == 2 and "--include '(' is not a valid regular expression" in err


# -- ls -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["tf1_saver", "tf2_nested", "all_dtypes", "partitioned", "multi_shard", "keras_model"])
def test_ls_json_matches_tensorflows_readings(capsys: pytest.CaptureFixture[str], case: str) -> None:
    code, out, _ = run(capsys, "ls", str(FIXTURES / case), "--json")
    assert code == 0
    rows = json.loads(out)
    exp = expected(case)
    tf = exp["checkpoints"][os.path.basename(exp["prefix"])] if "prefix" in exp and os.path.basename(exp["prefix"]) in exp["checkpoints"] else next(iter(exp["checkpoints"].values()))
    assert [r["name"] for r in rows] == sorted(tf)
    for r in rows:
        assert r["dtype"] == tf[r["name"]]["dtype"], r["name"]
        assert r["shape"] == tf[r["name"]]["shape"], r["name"]
        assert isinstance(r["bytes"], int) and set(r) >= {"name", "dtype", "shape", "bytes", "shard"}


def test_ls_table_totals_and_filters(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ls", str(FIXTURES / "tf1_saver"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "dtype", "shape", "size", "shard", "trainable"]  # model.ckpt-7.meta is beside
    assert lines[6].split() == ["dense1/kernel", "float32", "[3,", "5]", "60", "B", "0", "yes"]
    assert "15 tensors, 400 B" in out
    # 99 numbers in all; the model's own are the two dense layers (3*5+5+5*2+2 = 32).
    assert "parameters: 99 in all, 32 in model variables" in out

    code, out, _ = run(capsys, "ls", str(FIXTURES / "tf1_saver"), "--json", "--include", "^dense1/", "--exclude", "Adam")
    assert [r["name"] for r in json.loads(out)] == ["dense1/bias", "dense1/kernel"]
    code, out, _ = run(capsys, "ls", str(FIXTURES / "tf1_saver"), "--json", "--include", "Adam_1$")
    assert all(r["optimizer"] for r in json.loads(out))

    code, out, _ = run(capsys, "ls", str(FIXTURES / "partitioned"), "--json")
    part = {r["name"]: r for r in json.loads(out)}["part_rows"]
    assert part["shard"] is None and [s["shape"] for s in part["slices"]] == [[4, 4], [3, 4], [3, 4]]
    assert part["bytes"] == 10 * 4 * 4


def test_ls_keras_counts_model_variables_through_the_graph(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ls", str(FIXTURES / "keras_model" / "ckpt-1"), "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    model = sorted(n for n, r in rows.items() if not r["optimizer"])
    assert model == [f"optimizer/_trainable_variables/{i}/.ATTRIBUTES/VARIABLE_VALUE" for i in range(4)]


# -- show / inspect -----------------------------------------------------------------------


def test_show_values_printoptions_and_stats(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, {
        "w": np.array([1.0, 2.0, np.nan, np.inf], np.float32),
        "big": np.arange(100, dtype=np.float64) / 3,
        "bf": np.array([1.5, -2.0], ml_dtypes.bfloat16),
        "s": np.array([b"a", b"bc"], dtype=object),
    })
    code, out, _ = run(capsys, "show", prefix, "big", "--printoptions", "threshold=10", "precision=3")
    assert code == 0
    assert out.splitlines()[0] == "big  float64 [100]"
    assert out.splitlines()[1] == "[ 0.     0.333  0.667 ... 32.333 32.667 33.   ]"

    code, out, _ = run(capsys, "show", prefix, "--all", "--stats")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["w"][3:] == ["1", "2", "1.5", "0.5", "1", "1"]          # min max mean std nan inf (finite values)
    assert rows["bf"][3:] == ["-2", "1.5", "-0.25", "1.75", "0", "0"]
    assert rows["s"][3:] == ["-"] * 6

    code, _, err = run(capsys, "show", prefix, "wx")
    assert code == 2 and "tensor 'wx' not found" in err and "did you mean 'w'" in err
    assert run(capsys, "show", prefix)[0] == 2


# TensorFlow 2.21's `python -m tensorflow.python.tools.inspect_checkpoint` output, recorded.
TF_INSPECT_TF1_SAVER = """\
beta1_power (DT_FLOAT) []
beta2_power (DT_FLOAT) []
dense1/bias (DT_FLOAT) [5]
dense1/bias/Adam (DT_FLOAT) [5]
dense1/bias/Adam_1 (DT_FLOAT) [5]
dense1/kernel (DT_FLOAT) [3,5]
dense1/kernel/Adam (DT_FLOAT) [3,5]
dense1/kernel/Adam_1 (DT_FLOAT) [3,5]
dense2/bias (DT_FLOAT) [2]
dense2/bias/Adam (DT_FLOAT) [2]
dense2/bias/Adam_1 (DT_FLOAT) [2]
dense2/kernel (DT_FLOAT) [5,2]
dense2/kernel/Adam (DT_FLOAT) [5,2]
dense2/kernel/Adam_1 (DT_FLOAT) [5,2]
global_step (DT_INT64) []

# Total number of params: 99
"""

TF_INSPECT_TENSOR = """\
tensor: dense1/kernel (float32) [3, 5]
[[-0.485  0.035 -0.329 -1.658 -0.497]
 [ 1.013 -0.627 -0.019  1.079  0.864]
 [-0.636 -0.623  2.336  0.704  0.102]]
# Total number of params: 99
"""


def test_inspect_prints_what_tensorflow_prints(capsys: pytest.CaptureFixture[str]) -> None:
    prefix = str(FIXTURES / "tf1_saver" / "model.ckpt-7")
    assert run(capsys, "inspect", f"--file_name={prefix}") == (0, TF_INSPECT_TF1_SAVER, "")
    code, out, _ = run(capsys, "inspect", f"--file_name={prefix}", "--tensor_name=dense1/kernel", "--printoptions", "precision=3")
    assert (code, out) == (0, TF_INSPECT_TENSOR)
    code, out, _ = run(capsys, "inspect", f"--file_name={prefix}", "--all_tensor_names", "--count_exclude_pattern=Adam")
    assert out.splitlines()[0] == "tensor: beta1_power (float32) []"
    assert out.splitlines()[-2:] == ["# Excluding 8 tensors (64 params) that match Adam when counting.", "# Total number of params: 35"]
    code, out, _ = run(capsys, "inspect", f"--file_name={prefix}", "--tensor_name=nope")
    assert (code, out) == (2, "Tensor nope not found in checkpoint\n")
    assert run(capsys, "inspect")[0] == 2


# -- verify -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["tf1_saver", "tf2_nested", "all_dtypes", "partitioned", "multi_shard", "multi_block_index",
                                  "tf1_v1_format"])
def test_verify_clean_fixtures(capsys: pytest.CaptureFixture[str], case: str) -> None:
    code, out, _ = run(capsys, "verify", str(FIXTURES / case))
    assert code == 0, out
    assert out.splitlines()[-1].startswith("OK  ")


def test_verify_names_each_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    case = fixture_copy(tmp_path, "multi_shard")
    prefix = case / "model.ckpt-7"
    with tfckpt.open(prefix) as ckpt:
        reader = ckpt._source
        entry = reader.entry("dev0/w")
        shard_of = {n: reader.entry(n).shard_id for n in ckpt}
    shards = [case / f"model.ckpt-7.data-{i:05d}-of-00004" for i in range(4)]
    flip_byte(shards[entry.shard_id], entry.offset + 1)                 # a bad checksum
    missing = next(i for i in range(4) if i != entry.shard_id and list(shard_of.values()).count(i))
    shards[missing].unlink()                                              # a missing shard
    longer = next(i for i in range(4) if i not in (entry.shard_id, missing) and list(shard_of.values()).count(i))
    with open(shards[longer], "ab") as f:
        f.write(b"xyz")                                                   # bytes from another save
    (case / "model.ckpt-7.data-00000-of-00002").write_bytes(b"stale")   # a stray shard of another save

    code, out, _ = run(capsys, "verify", str(prefix))
    assert code == 1
    bad = [line for line in out.splitlines() if line.startswith("BAD  ")]
    assert any("tensor 'dev0/w'" in line and "checksum mismatch" in line for line in bad)
    assert f"BAD  shard {shards[missing].name}: missing" in bad
    assert any(f"shard {shards[longer].name}: 3 bytes after the last tensor" in line and "different save" in line for line in bad)
    assert any("model.ckpt-7.data-00000-of-00002: left over from a different save" in line for line in bad)
    for name, shard in shard_of.items():
        if shard == missing:
            assert any(f"tensor {name!r}" in line for line in bad)
    assert out.splitlines()[-1] == f"{len(bad)} problems found in {prefix}"


def test_verify_truncated_shard_and_damaged_index(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    case = fixture_copy(tmp_path, "big_tensor")
    data = case / "ckpt-1.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:1000])
    code, out, _ = run(capsys, "verify", str(case))
    assert code == 1 and "truncated: 1000 bytes" in out

    case = fixture_copy(tmp_path, "tf1_saver")
    index = case / "model.ckpt-7.index"
    flip_byte(index, 20)
    code, out, err = run(capsys, "verify", str(case))
    assert code == 1 and err == ""
    assert out.startswith(f"BAD  {index} @ ") and "checksum" in out

    case = fixture_copy(tmp_path, "tf1_v1_format")
    v1 = case / "model.ckpt-3"
    flip_byte(v1, v1.stat().st_size // 2)
    code, out, err = run(capsys, "verify", str(v1))
    assert code == 1 and "BAD  " in out and "Traceback" not in out + err


# -- diff ---------------------------------------------------------------------------------


def test_diff(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a, b = str(tmp_path / "a" / "m"), str(tmp_path / "b" / "m")
    tfckpt.save(a, {"emb": np.zeros((30522, 4), np.float32), "w": np.array([1.0, 2.0, np.nan], np.float32),
                    "gone": np.int32(1), "neg0": np.float32(0.0), "s": np.array([b"x"], dtype=object)})
    tfckpt.save(b, {"emb": np.zeros((30528, 4), np.float32), "w": np.array([1.0, 2.0005, np.nan], np.float32),
                    "new": np.int64(1), "neg0": np.float32(-0.0), "s": np.array([b"y"], dtype=object)})
    code, out, _ = run(capsys, "diff", a, b)
    assert code == 1
    lines = out.splitlines()
    assert "- gone  int32 []" in lines and "+ new  int64 []" in lines
    assert "~ emb: shape [30522, 4] -> [30528, 4]" in lines
    w_line = next(line for line in lines if line.startswith("~ w: values differ: max abs diff "))
    assert w_line.endswith(", 1 of 3 elements")
    assert float(w_line.split("max abs diff ")[1].split(",")[0]) == pytest.approx(float(np.float32(2.0005)) - 2.0, rel=1e-5)
    assert "~ neg0: values differ: max abs diff 0, 1 of 1 elements" in lines   # exact comparison sees -0.0
    assert "~ s: values differ: 1 of 1 elements" in lines
    assert lines[-1] == "1 removed, 1 added, 4 changed, 0 equal"

    code, out, _ = run(capsys, "diff", a, b, "--atol", "1e-3", "--json", "--exclude", "^s$")
    report = json.loads(out)
    assert code == 1 and report["removed"] == ["gone"] and report["added"] == ["new"]
    assert report["changed"] == [{"name": "emb", "shape": [[30522, 4], [30528, 4]]}] and report["same"] == 2

    code, out, _ = run(capsys, "diff", a, a)
    assert code == 0 and out.splitlines()[-1] == "0 removed, 0 added, 0 changed, 5 equal"


def test_diff_fixture_checkpoints(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", str(FIXTURES / "tf2_nested" / "ckpt-1"), str(FIXTURES / "tf2_nested" / "ckpt-2"))
    assert code == 1
    changed = sorted(line.split(":")[0][2:] for line in out.splitlines() if line.startswith("~ "))
    exp = expected("tf2_nested")["checkpoints"]
    differ = sorted(n for n in exp["ckpt-1"] if n != "_CHECKPOINTABLE_OBJECT_GRAPH" and exp["ckpt-1"][n]["sha256"] != exp["ckpt-2"][n]["sha256"])
    assert changed == differ


# -- state / latest -----------------------------------------------------------------------


def test_state_fix_moved_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    case = fixture_copy(tmp_path, "tf1_saver")
    code, out, _ = run(capsys, "state", str(case))
    assert code == 1 and "moved: not at the recorded path" in out and "--fix" in out
    code, out, _ = run(capsys, "state", str(case), "--fix")
    assert code == 0
    assert (case / "checkpoint").read_text() == 'model_checkpoint_path: "model.ckpt-7"\nall_model_checkpoint_paths: "model.ckpt-7"\n'
    assert run(capsys, "state", str(case))[0] == 0
    assert run(capsys, "latest", str(case)) == (0, f"{case / 'model.ckpt-7'}\n", "")
    assert tfckpt.latest_checkpoint(case) == str(case / "model.ckpt-7")


def test_state_fix_missing_file_and_set(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    case = fixture_copy(tmp_path, "no_state_file")
    code, out, _ = run(capsys, "state", str(case))
    assert code == 1 and "does not exist" in out and "ckpt-1" in out
    code, out, err = run(capsys, "latest", str(case))
    assert code == 0 and out == f"{case / 'ckpt-1'}\n" and "missing" in err
    assert run(capsys, "state", str(case), "--fix")[0] == 0
    assert (case / "checkpoint").read_text() == 'model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n'

    case = fixture_copy(tmp_path, "manager_rotation")
    before = tfckpt.get_checkpoint_state(case)
    assert run(capsys, "state", str(case))[0] == 0
    code, _, _ = run(capsys, "state", str(case), "--set", "ckpt-3")
    assert code == 0
    state = tfckpt.get_checkpoint_state(case)
    assert state.model_checkpoint_path == str(case / "ckpt-3")
    assert list(state.all_model_checkpoint_paths) == [str(case / "ckpt-4"), str(case / "ckpt-3")]
    stamps = dict(zip(before.all_model_checkpoint_paths, before.all_model_checkpoint_timestamps))
    assert list(state.all_model_checkpoint_timestamps) == [stamps[p] for p in state.all_model_checkpoint_paths]
    assert state.last_preserved_timestamp == before.last_preserved_timestamp
    code, _, err = run(capsys, "state", str(case), "--set", "ckpt-9")
    assert code == 2 and "no such checkpoint" in err and "ckpt-3" in err
    # a file of the bundle names the bundle, not a V1 checkpoint of that file name
    assert run(capsys, "state", str(case), "--set", "ckpt-4.index")[0] == 0
    assert tfckpt.get_checkpoint_state(case).model_checkpoint_path == str(case / "ckpt-4")

    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(capsys, "latest", str(empty))[0] == 2
    assert run(capsys, "state", str(empty), "--fix")[0] == 2


# -- tree ---------------------------------------------------------------------------------


def test_tree(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tree", str(FIXTURES / "tf2_nested"))
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == "(root)"
    assert "│   ├── inner" in lines and "│   │   ├── w -> net/alias" in lines
    assert "│   │   ├── scoped/c  float32 [3]  (scoped_c)" in lines
    assert "└── save_counter  int64 []" in lines

    code, out, _ = run(capsys, "tree", str(FIXTURES / "keras_model" / "ckpt-1"))
    lines = out.splitlines()
    # The kernel is drawn under the model, and the optimizer's reference to it is an alias.
    assert "│   │   │   ├── _kernel  float32 [3, 4]  (hidden/kernel)" in lines
    assert "│   │   ├── 0 -> model/_operations/1/_kernel" in lines
    assert not any("_inbound_nodes" in line for line in lines)          # empty bookkeeping objects hidden
    code, out, _ = run(capsys, "tree", str(FIXTURES / "keras_model" / "ckpt-1"), "--all", "--depth", "2")
    assert "│   ├── _inbound_nodes" in out.splitlines()

    code, out, _ = run(capsys, "tree", str(FIXTURES / "tf1_saver"))
    assert code == 0 and "name-based (TF1)" in out and "│   ├── bias  float32 [5]  (trainable)" in out.splitlines()


# -- convert ------------------------------------------------------------------------------


def test_convert_npz_all_dtypes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_path = tmp_path / "out.npz"
    code, out, err = run(capsys, "convert", str(FIXTURES / "all_dtypes"), str(out_path), "--to", "npz")
    assert code == 0
    assert "skipping 2 tensors npz cannot hold" in err and "string_matrix" in err and "variant_tensor_list" in err
    assert "widened exactly: 8 to float32, 3 to int8, 2 to uint8" in err
    with np.load(out_path, allow_pickle=False) as z, tfckpt.open(FIXTURES / "all_dtypes") as ckpt:
        assert sorted(z.files) == sorted(n for n in ckpt if n not in ("string_matrix", "variant_tensor_list"))
        for name in z.files:
            mine, theirs = z[name], ckpt[name]
            if theirs.dtype == object:
                assert mine.dtype.kind == "S" and mine.shape == theirs.shape
                assert list(mine.reshape(-1)) == list(theirs.reshape(-1))
            elif ckpt.dtype(name) in NPZ_WIDENED:      # ml_dtypes: widened exactly
                assert mine.astype(theirs.dtype).tobytes() == theirs.tobytes(), name
            else:
                assert mine.dtype == theirs.dtype and mine.tobytes() == theirs.tobytes(), name
    assert out.startswith(f"wrote {out_path}: 46 tensors")

    code, _, err = run(capsys, "convert", str(FIXTURES / "all_dtypes"), str(tmp_path / "strict.npz"), "--to", "npz", "--strict")
    assert code == 2 and "string_matrix" in err and not (tmp_path / "strict.npz").exists()


def test_convert_safetensors_preserves_dtypes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    st = pytest.importorskip("safetensors.numpy")
    from safetensors import safe_open

    out_path = tmp_path / "out.safetensors"
    code, _, err = run(capsys, "convert", str(FIXTURES / "all_dtypes"), str(out_path), "--to", "safetensors", "--exclude", "^float8")
    assert code == 0
    for skipped in ("complex128", "int4", "uint2", "float4_e2m1fn", "string_scalar", "variant_tensor_list"):
        assert skipped in err
    loaded = st.load_file(str(out_path))
    exp = expected("all_dtypes")["checkpoints"]["dtypes"]
    assert loaded["bfloat16"].dtype == ml_dtypes.bfloat16
    quantized = {"qint8": np.int8, "quint8": np.uint8, "qint16": np.int16, "quint16": np.uint16, "qint32": np.int32}
    for name, arr in loaded.items():
        tf_dtype = exp[name]["dtype"]
        assert arr.dtype == np.dtype(quantized.get(tf_dtype, ml_dtypes.bfloat16 if tf_dtype == "bfloat16" else tf_dtype)), name
        assert list(arr.shape) == exp[name]["shape"] and sha256(arr) == exp[name]["sha256"], name
    assert len(loaded) == 29

    # float8 keeps its safetensors dtype (torch/jax read it); the header parses and the bytes are right.
    f8 = tmp_path / "f8.safetensors"
    code, _, err = run(capsys, "convert", str(FIXTURES / "all_dtypes"), str(f8), "--to", "safetensors", "--include", "^float8_e4m3fn$|^float8_e5m2$")
    assert code == 0 and "safetensors.numpy 0.8 cannot" in err
    raw = f8.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    assert (8 + n) % 8 == 0 and header["float8_e4m3fn"]["dtype"] == "F8_E4M3" and header["float8_e5m2"]["dtype"] == "F8_E5M2"
    with safe_open(str(f8), framework="np") as f:
        assert sorted(f.keys()) == ["float8_e4m3fn", "float8_e5m2"]
    with tfckpt.open(FIXTURES / "all_dtypes") as ckpt:
        for name, spec in header.items():
            if name != "__metadata__":
                begin, end = spec["data_offsets"]
                assert raw[8 + n + begin : 8 + n + end] == ckpt[name].tobytes()

    code, _, err = run(capsys, "convert", str(FIXTURES / "tf2_nested"), str(tmp_path / "x.safetensors"), "--to", "safetensors", "--strict")
    assert code == 2 and "_CHECKPOINTABLE_OBJECT_GRAPH" in err and "the TF2 object graph" in err
    assert not (tmp_path / "x.safetensors").exists()


def test_convert_tf1_rename_filters_and_optimizer(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = str(FIXTURES / "tf1_saver")
    dst = str(tmp_path / "out" / "model.ckpt")
    code, out, _ = run(capsys, "convert", src, dst, "--to", "tf1", "--rename", "dense1/=encoder/",
                       "--skip-optimizer", "--exclude", "^dense2/bias")
    assert code == 0 and out == f"wrote {dst}: 3 tensors, 120 B\n"
    with tfckpt.open(dst) as new, tfckpt.open(src) as old:
        assert new.keys() == ["dense2/kernel", "encoder/bias", "encoder/kernel"]
        assert new["encoder/kernel"].tobytes() == old["dense1/kernel"].tobytes()

    code, _, err = run(capsys, "convert", src, dst, "--to", "tf1", "--rename", "dense3/=x/")
    assert code == 2 and "matched no tensor" in err and "dense3/" in err
    code, _, err = run(capsys, "convert", src, dst, "--to", "tf1", "--rename", "nonsense")
    assert code == 2 and "expected OLD=NEW" in err
    code, _, err = run(capsys, "convert", src, str(tmp_path), "--to", "tf1")
    assert code == 2 and "is a directory" in err


def test_convert_between_tf1_and_tf2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    tf2 = str(tmp_path / "tf2" / "ckpt-1")
    code, _, _ = run(capsys, "convert", str(FIXTURES / "tf1_saver"), tf2, "--to", "tf2", "--skip-optimizer")
    assert code == 0
    with tfckpt.open(tf2) as ckpt, tfckpt.open(FIXTURES / "tf1_saver") as old:
        assert ckpt.object_graph is not None
        full = ckpt.variables("full")
        assert sorted(full) == ["dense1/bias", "dense1/kernel", "dense2/bias", "dense2/kernel"]
        assert "vars/dense1.Skernel/.ATTRIBUTES/VARIABLE_VALUE" in ckpt
        for name, key in full.items():
            assert ckpt[key].tobytes() == old[name].tobytes()

    code, _, err = run(capsys, "convert", tf2, str(tmp_path / "again"), "--to", "tf2")
    assert code == 2 and "already object-based" in err

    tf1 = str(tmp_path / "tf1" / "model.ckpt")
    code, _, _ = run(capsys, "convert", str(FIXTURES / "keras_model" / "ckpt-1"), tf1, "--to", "tf1", "--root", "model")
    assert code == 0
    with tfckpt.open(tf1) as ckpt:
        assert ckpt.keys() == ["_operations/1/_kernel", "_operations/1/bias", "_operations/2/_kernel", "_operations/2/bias"]

    npz = tmp_path / "k.npz"
    code, _, _ = run(capsys, "convert", str(FIXTURES / "keras_model" / "ckpt-1"), str(npz), "--to", "npz", "--clean-names")
    with np.load(npz, allow_pickle=False) as z:
        assert sorted(z.files) == ["model/_operations/1/_kernel", "model/_operations/1/bias", "model/_operations/2/_kernel",
                                   "model/_operations/2/bias"]


# -- error messages -----------------------------------------------------------------------


def test_wrong_paths_get_a_corrected_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "ls", str(FIXTURES / "tf1_saver" / "model.ckpt"))
    assert code == 2 and err.splitlines()[1] == f"  hint: did you mean: tfckpt ls {FIXTURES / 'tf1_saver' / 'model.ckpt-7'}"
    code, _, err = run(capsys, "inspect", f"--file_name={FIXTURES / 'tf1_saver' / 'model.ckpt-7.meta'}")
    assert code == 2 and err.splitlines()[1] == f"  hint: pass the checkpoint prefix: tfckpt inspect --file_name={FIXTURES / 'tf1_saver' / 'model.ckpt-7'}"
    lone = tmp_path / "model.ckpt-7.data-00000-of-00001"
    shutil.copy(FIXTURES / "tf1_saver" / lone.name, lone)
    code, _, err = run(capsys, "ls", str(lone))
    assert code == 2 and "index" in err and "copy the .index file too" in err
    assert len(err.splitlines()) == 2


# -- terminal-only output -------------------------------------------------------------------


class _FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_and_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from tfckpt.cli import _output

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert _output.Style(_FakeTTY())("bad", "red", "bold") == "\033[31;1mbad\033[0m"
    assert _output.Style(io.StringIO())("bad", "red") == "bad"
    monkeypatch.setenv("NO_COLOR", "1")
    assert _output.Style(_FakeTTY())("bad", "red") == "bad"

    monkeypatch.setattr(_output, "PROGRESS_DELAY_S", 0)
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    assert list(_output.progress(range(3), total=3, desc="verify")) == [0, 1, 2]
    assert piped.getvalue() == ""
    tty = _FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    assert list(_output.progress(range(3), total=30, desc="verify", unit="B", weights=lambda i: 10)) == [0, 1, 2]
    assert "verify:" in tty.getvalue() and "/30.0 [" in tty.getvalue()   # a bar over 30 bytes, on stderr


def test_verify_spots_a_shard_from_another_save(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Two saves with the same layout: swapping in the other save's shard keeps every size right,
    # so only the checksums can tell; when all of them fail, verify names the shard.
    a, b = tmp_path / "a" / "m", tmp_path / "b" / "m"
    tfckpt.save(a, {"x": np.arange(4, dtype=np.float32), "y": np.ones(3, np.int64)})
    tfckpt.save(b, {"x": np.arange(4, dtype=np.float32) + 1, "y": np.zeros(3, np.int64)})
    shutil.copy(f"{b}.data-00000-of-00001", f"{a}.data-00000-of-00001")
    code, out, _ = run(capsys, "verify", str(a))
    assert code == 1
    bad = [line for line in out.splitlines() if line.startswith("BAD  ")]
    assert [line.split(":")[0] for line in bad] == ["BAD  tensor 'x'", "BAD  tensor 'y'", "BAD  shard 0"]
    assert "probably belongs to a different save" in bad[-1]

"""Hostile tensor names through every exporter: NUL bytes, invalid UTF-8, very long names,
names that look like slice keys. Each is exported exactly (the reader sees the same name)
or refused with an error naming the tensor; nothing is dropped or renamed silently.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from robust_harness import bounded, expect_error, expect_value, plain_entry, write_bundle

import tfckpt
from tfckpt.cli import main as cli
from tfckpt.format._dtypes import DTYPE_BY_NAME
from tfckpt.format._ordered_code import encode_slice_key
from tfckpt.format._v2 import decode_name

F32 = DTYPE_BY_NAME["float32"].enum

HOSTILE = {
    "nul": b"a\x00b",
    "leading-nul": b"\x00",
    "invalid-utf8": b"w\xff\xfe",
    "long": b"n" * 70_000,
    "slice-lookalike": encode_slice_key(b"w", (0,), (1,)),  # a slice key of a tensor that is not partitioned
}


def _checkpoint(tmp_path: Path, key: bytes) -> str:
    arr = np.arange(2, dtype=np.float32)
    other = np.ones(1, dtype=np.float32)
    return write_bundle(
        tmp_path / "ckpt",
        [(key, plain_entry(arr, F32)), (b"w", plain_entry(other, F32, offset=8))],
        shards={0: arr.tobytes() + other.tobytes()},
    )


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_reader_sees_every_name(tmp_path: Path, case: str) -> None:
    prefix = _checkpoint(tmp_path, HOSTILE[case])
    with tfckpt.open(prefix) as ckpt:
        assert sorted(ckpt) == sorted([decode_name(HOSTILE[case]), "w"])
        assert ckpt[decode_name(HOSTILE[case])].tolist() == [0.0, 1.0]


def _npz(prefix: str, out: Path) -> dict[str, list[float]]:
    from tfckpt.npz_io import write_npz

    with tfckpt.open(prefix) as ckpt:
        write_npz(out, ((n, ckpt[n]) for n in ckpt))
    with np.load(out) as z:
        return {k: z[k].tolist() for k in z.files}


def _safetensors(prefix: str, out: Path) -> dict[str, list[float]]:
    from safetensors.numpy import load_file

    from tfckpt.safetensors_io import SafetensorsSpec, write_safetensors

    with tfckpt.open(prefix) as ckpt:
        specs = [SafetensorsSpec(n, ckpt.dtype(n), ckpt.shape(n)) for n in ckpt]
        write_safetensors(out, specs, ckpt.__getitem__)
    return {k: v.tolist() for k, v in load_file(str(out)).items()}


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_exports_keep_or_refuse(tmp_path: Path, case: str, fmt: str) -> None:
    pytest.importorskip("safetensors")
    prefix = _checkpoint(tmp_path, HOSTILE[case])
    name = decode_name(HOSTILE[case])
    out = tmp_path / f"out.{fmt}"
    outcome = bounded(lambda: (_npz if fmt == "npz" else _safetensors)(prefix, out))
    if outcome.error:
        expect_error(outcome, tfckpt.InvalidArgumentError, repr(name)[:40])
        assert not out.exists()
    else:
        assert expect_value(outcome) == {name: [0.0, 1.0], "w": [1.0]}


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("to", ["npz", "safetensors", "tf1", "tf2"])
def test_cli_convert_keeps_or_refuses(tmp_path: Path, case: str, to: str) -> None:
    pytest.importorskip("safetensors")
    prefix = _checkpoint(tmp_path, HOSTILE[case])
    name = decode_name(HOSTILE[case])
    out = tmp_path / ("out" if to in ("tf1", "tf2") else f"out.{to}")

    def run() -> tuple[int, str]:
        import contextlib
        import io

        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli(["convert", prefix, str(out), "--to", to])
        return code, err.getvalue()

    code, err = expect_value(bounded(run))
    assert "unexpected" not in err
    assert code == 0, err
    if to in ("tf1", "tf2"):
        with tfckpt.open(out) as ckpt:
            got = {k: ckpt[v].tolist() for k, v in ckpt.variables("full").items()}
    elif to == "npz":
        with np.load(out) as z:
            got = {k: z[k].tolist() for k in z.files}
    else:
        from safetensors.numpy import load_file

        got = {k: v.tolist() for k, v in load_file(str(out)).items()}
    if name in got:
        assert got == {name: [0.0, 1.0], "w": [1.0]}
    else:  # left out, and the warning says which and why (as for a dtype the target lacks)
        assert got == {"w": [1.0]}
        assert "skipping 1 tensor" in err and "name " in err and name[:20] in err
    # --strict refuses instead
    out.unlink(missing_ok=True)

    def strict() -> int:
        import contextlib
        import io

        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            return cli(["convert", prefix, str(out), "--to", to, "--strict"])

    assert expect_value(bounded(strict)) == (0 if name in got else 2)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(exclude_categories=()), max_size=12), min_size=1, max_size=4, unique=True))
def test_npz_round_trips_every_name_it_accepts(names: list[str]) -> None:
    """Any str a checkpoint can hold (including surrogate-escaped bytes): written exactly or refused."""
    from tfckpt.npz_io import check_npz_name, write_npz

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "x.npz"
        storable = []
        for n in names:
            try:
                check_npz_name(n)
            except tfckpt.InvalidArgumentError:
                continue
            storable.append(n)
        write_npz(out, [(n, np.array([i])) for i, n in enumerate(storable)])
        with np.load(out) as z:
            assert sorted(z.files) == sorted(storable)
            for i, n in enumerate(storable):
                assert z[n].tolist() == [i]

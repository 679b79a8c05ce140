"""Read-ahead: ``ckpt[name]`` in index order makes the arrays of a run of rows at once
(``tfckpt.format._v2_bulk.read_ahead``). It must give what one read at a time gives (same arrays,
dtypes, shapes, flags, errors), hold at most one run, and never take what it cannot
check: damaged rows raise the read's own error when (and only when) they are read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfckpt
import tfckpt.format._v2 as v2_mod
import tfckpt.format._v2_bulk as bulk_mod

_DTYPES = [np.float32, np.int8, np.float64, np.bool_, np.complex64, np.uint16]


@st.composite
def _tensors(draw: st.DrawFn) -> dict[str, np.ndarray]:
    # runs of one dtype and shape (what a run makes as one array), broken by other kinds
    kinds = st.tuples(st.lists(st.integers(0, 3), max_size=3).map(tuple), st.sampled_from(_DTYPES), st.integers(1, 30))
    out: dict[str, np.ndarray] = {}
    for shape, dtype, repeat in draw(st.lists(kinds, min_size=1, max_size=5)):
        for _ in range(repeat):
            i = len(out)
            out[f"t{i:04d}"] = (np.arange(int(np.prod(shape)), dtype=np.int64) + i).astype(dtype).reshape(shape)
    count = len(out)
    for i in draw(st.lists(st.integers(0, count), max_size=3)):
        out[f"t{i:04d}s"] = np.array([b"x", b"yz"], dtype=object)  # strings: rows a run does not take
    if draw(st.booleans()):
        out["t_big"] = np.arange(1 << 14, dtype=np.float32)  # 64 KiB: never read ahead when verified
    return out


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert (a.dtype, a.shape, a.flags.writeable) == (b.dtype, b.shape, b.flags.writeable)
    assert a.tolist() == b.tolist() if a.dtype == object else a.tobytes() == b.tobytes()


def _order(names: list[str], data: st.DataObject) -> list[tuple[str, bool]]:
    """Reads in index order, with skips, re-reads and jumps back; each with or without copy."""
    order: list[tuple[str, bool]] = []
    i = 0
    while i < len(names) and len(order) < 3 * len(names):
        order.append((names[i], data.draw(st.booleans())))
        i += data.draw(st.sampled_from([1, 1, 1, 1, 0, 2, -3]))
        i = max(i, 0)
    return order


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(_tensors(), st.data(), st.booleans(), st.sampled_from([2, 5, 1024]))
def test_read_ahead_equals_one_read_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tensors: dict[str, np.ndarray], data: st.DataObject, verify: bool,
    first_rows: int,
) -> None:
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, tensors)
    monkeypatch.setattr(bulk_mod, "_AHEAD_FIRST_ROWS", first_rows)  # runs that end inside the index too
    monkeypatch.setattr(bulk_mod, "_AHEAD_MAX_ROWS", max(first_rows, 8))
    with tfckpt.open(prefix, verify=verify) as ahead, tfckpt.open(prefix, verify=verify) as alone:
        alone._source._ahead_on = False  # type: ignore[attr-defined]
        order = _order(list(ahead), data)
        for name, copy in order:
            got = ahead.get_tensor(name, copy=True) if copy else ahead[name]
            _same(got, alone.get_tensor(name, copy=True) if copy else alone[name])
            np.testing.assert_array_equal(got, tensors[name])
            assert len(ahead._source.ahead) <= max(first_rows, 8)  # type: ignore[attr-defined]
            assert not alone._source.ahead  # type: ignore[attr-defined]
        if verify:  # its check would be remembered by name
            assert ahead._source.ahead.get("t_big") is None  # type: ignore[attr-defined]  # (None: a row not taken)


def test_a_full_scan_is_served_by_runs_and_leaves_nothing_behind(tmp_path: Path) -> None:
    tensors = {f"t{i:05d}": np.full(4, i, np.float32) for i in range(3000)}
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, tensors)
    with tfckpt.open(prefix) as ckpt:
        source = ckpt._source  # type: ignore[attr-defined]
        calls = 0
        read = source.read

        def counting(name: str, *, copy: bool = False) -> np.ndarray:
            nonlocal calls
            calls += 1
            return read(name, copy=copy)

        ckpt._read = counting  # type: ignore[method-assign]
        for name in ckpt:
            arr = ckpt[name]
            assert not arr.flags.writeable and arr.tolist() == [float(int(name[1:]))] * 4
        # the first read alone, the second starts a run of 1024 rows, the next run (2048
        # rows) covers the rest: three calls of the reader for 3,000 tensors
        assert calls == 3
        assert not source.ahead  # every array read ahead was handed out
        assert source._entries == {} and source._verified == set()


def test_reads_out_of_order_keep_no_run(tmp_path: Path) -> None:
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, {f"t{i:03d}": np.full(2, i, np.int32) for i in range(300)})
    with tfckpt.open(prefix) as ckpt:
        source = ckpt._source  # type: ignore[attr-defined]
        ckpt["t010"], ckpt["t011"]  # a run from t011 on
        assert len(source.ahead) == 300 - 12
        ckpt["t200"]  # inside the run: served from it
        assert "t200" not in source.ahead and len(source.ahead) == 300 - 13
        ckpt["t005"]  # outside the run: it is dropped
        assert not source.ahead
        for name in ["t100", "t050", "t150", "t001"]:
            assert ckpt[name].tolist() == [int(name[1:])] * 2
            assert not source.ahead


def test_writable_remote_and_unmarked_readers_do_not_read_ahead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tensors = {f"t{i:03d}": np.full(2, i, np.float32) for i in range(100)}
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, tensors)
    with tfckpt.open(prefix, writable=True) as ckpt:
        for name in ckpt:
            ckpt[name][:] = -1  # in place: a checksum checked again would fail
        for name in ckpt:
            assert ckpt[name].tolist() == [-1, -1]
        assert not ckpt._source.ahead  # type: ignore[attr-defined]
    build = v2_mod._FastColumns.build
    monkeypatch.setattr(v2_mod._FastColumns, "build", lambda columns, shards, enabled: build(columns, shards, False))
    with tfckpt.open(prefix) as ckpt:
        for name in ckpt:
            np.testing.assert_array_equal(ckpt[name], tensors[name])
        assert not ckpt._source.ahead  # type: ignore[attr-defined]


@pytest.mark.parametrize("damage", ["checksum", "truncated"])
def test_damaged_rows_in_a_run_raise_when_read(tmp_path: Path, damage: str) -> None:
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, {f"t{i:03d}": np.full(4, i, np.float32) for i in range(200)})
    shard = Path(prefix + ".data-00000-of-00001")
    raw = bytearray(shard.read_bytes())
    if damage == "checksum":
        raw[57 * 16 + 3] ^= 1  # a bit of t057
        bad = ["t057"]
    else:
        del raw[190 * 16 + 5 :]  # t190 cut short, t191... gone
        bad = [f"t{i:03d}" for i in range(190, 200)]
    shard.write_bytes(bytes(raw))
    with tfckpt.open(prefix) as alone:
        expected = {}
        for name in bad:
            with pytest.raises(tfckpt.CorruptionError) as info:
                alone[name]
            expected[name] = str(info.value)
    with tfckpt.open(prefix) as ckpt:
        for name in ckpt:  # in index order: runs
            if name in expected:
                with pytest.raises(tfckpt.CorruptionError) as info:
                    ckpt[name]
                assert str(info.value) == expected[name] and info.value.tensor == name
                assert info.value.path.endswith(".data-00000-of-00001") and info.value.offset is not None
            else:
                assert ckpt[name].tolist() == [float(int(name[1:]))] * 4


def test_large_payloads_are_read_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # payloads a run would not take (verified and 64 KiB or more, or over half the run's
    # bytes) never start one: no array work for nothing on each read of a big checkpoint
    tensors = {f"big{i}": np.full(1 << 15, i, np.float32) for i in range(4)}  # 128 KiB each
    tensors.update({f"s{i:03d}": np.full(2, i, np.float32) for i in range(50)})  # then small ones
    prefix = str(tmp_path / "m")
    tfckpt.save(prefix, tensors)
    runs: list[object] = []
    fast_rows = bulk_mod.fast_rows

    def counting(self: v2_mod.BundleReader, names: list[str] | None, rows: object, *, copy: bool) -> object:
        runs.append(rows)
        return fast_rows(self, names, rows, copy=copy)  # type: ignore[arg-type]

    monkeypatch.setattr(bulk_mod, "fast_rows", counting)
    with tfckpt.open(prefix) as ckpt:
        for name in ckpt:
            np.testing.assert_array_equal(ckpt[name], tensors[name])
    assert runs == [slice(5, 55)]  # big0-big3 (rows 1-4) alone, then a run from s000 on

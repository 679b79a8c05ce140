"""The many-process recipe of docs/tools.md on torch.distributed (gloo, 4 processes on
loopback): each rank writes its part with ``tfckpt.Writer`` (whole tensors it owns, and its
rows of a partitioned embedding), a barrier, rank 0 merges. The merged checkpoint goes to
the hand-off directory, where tests/interop has TensorFlow restore it."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
mp = pytest.importorskip("torch.multiprocessing")

WORLD = 4
VOCAB, DIM = 10, 6


def _model(seed: int = 0) -> dict[str, "torch.Tensor"]:
    g = torch.Generator().manual_seed(seed)
    return {
        "encoder/embedding": torch.randn(VOCAB, DIM, generator=g),
        **{f"encoder/layer_{i}/kernel": torch.randn(DIM, DIM, generator=g) for i in range(WORLD)},
        **{f"encoder/layer_{i}/bias": torch.zeros(DIM, dtype=torch.float16) + i for i in range(WORLD)},
        "global_step": torch.tensor(1, dtype=torch.int64),
    }


def _rows(rank: int) -> tuple[int, int]:
    """The embedding rows rank ``rank`` owns: 3, 3, 2, 2 of 10."""
    sizes = [VOCAB // WORLD + (1 if r < VOCAB % WORLD else 0) for r in range(WORLD)]
    start = sum(sizes[:rank])
    return start, sizes[rank]


def _worker(rank: int, port: int, out: str) -> None:
    import tfckpt

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        model = _model()
        temp = os.path.join(out, "model.ckpt-1_temp")
        # 1. every rank writes its own part: its layer, its rows of the embedding
        with tfckpt.Writer(os.path.join(temp, f"part-{rank:05d}-of-{WORLD:05d}"), partial=True) as w:
            start, n = _rows(rank)
            w.add_slice("encoder/embedding", model["encoder/embedding"][start : start + n].numpy(), full_shape=(VOCAB, DIM), start=(start, 0))
            w.add(f"encoder/layer_{rank}/kernel", model[f"encoder/layer_{rank}/kernel"].numpy())
            w.add(f"encoder/layer_{rank}/bias", model[f"encoder/layer_{rank}/bias"].numpy())
            if rank == 0:
                w.add("global_step", model["global_step"].numpy())
        # 2. a barrier: every part is committed (its .index renamed into place)
        dist.barrier()
        # 3. rank 0 merges, the others wait for it
        if rank == 0:
            parts = [os.path.join(temp, f"part-{r:05d}-of-{WORLD:05d}") for r in range(WORLD)]
            tfckpt.merge(parts, os.path.join(out, "model.ckpt-1"), delete_inputs=True)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_four_gloo_ranks_write_parts_and_rank0_merges(handoff_dir: Callable[[str], Path]) -> None:
    import tfckpt

    out = handoff_dir("merge")
    mp.start_processes(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True, start_method="spawn")
    expected = {k: v.numpy() for k, v in _model().items()}
    assert not (out / "model.ckpt-1_temp").exists()  # delete_inputs removed the parts and their directory
    with tfckpt.open(out / "model.ckpt-1") as ckpt:
        assert sorted(ckpt) == sorted(expected)
        for name, value in expected.items():
            assert ckpt[name].dtype == value.dtype and np.array_equal(ckpt[name], value), name
        assert ckpt.shape("encoder/embedding") == (VOCAB, DIM)
    assert sorted(p.name for p in out.iterdir() if ".data-" in p.name) == [f"model.ckpt-1.data-{i:05d}-of-00004" for i in range(4)]
    np.savez(out / "expected.npz", **expected)

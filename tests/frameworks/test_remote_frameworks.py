"""The framework loaders read URLs like paths, fetching every tensor at once (read_many)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tfckpt

BERT = Path(__file__).parent.parent.parent / "examples" / "bert_tiny"


@pytest.fixture()
def memory_url() -> object:
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    for f in BERT.iterdir():
        fs.pipe_file(f"/tfckpt-fw/{f.name}", f.read_bytes())
    yield "memory://tfckpt-fw"
    fs.rm("/tfckpt-fw", recursive=True)


def test_torch_load_from_a_url(memory_url: str) -> None:
    torch = pytest.importorskip("torch")
    import tfckpt.torch

    remote = tfckpt.torch.load(memory_url)
    local = tfckpt.torch.load(BERT)
    assert remote.keys() == local.keys()
    for name in local:
        assert torch.equal(remote[name], local[name]), name
    remote["bert/embeddings/word_embeddings"].add_(1.0)  # writable, as from files
    picked = tfckpt.torch.load(memory_url, names=["global_step"])
    assert picked["global_step"].item() == 1000


def test_jax_load_from_a_url(memory_url: str) -> None:
    pytest.importorskip("jax")
    import tfckpt.jax

    remote = tfckpt.jax.load(memory_url)
    with tfckpt.open(BERT) as local:
        for name, arr in remote.items():
            assert np.array_equal(np.asarray(arr), local[name]), name

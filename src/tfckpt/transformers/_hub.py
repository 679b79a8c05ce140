"""A transformers model directory: ``config.json`` and safetensors weights, one file or sharded.

Layout, as ``PreTrainedModel.save_pretrained`` writes it::

    OUTDIR/config.json
    OUTDIR/model.safetensors                          when the weights fit in one shard, else
    OUTDIR/model-00001-of-0000N.safetensors ...       shards filled greedily in order, a tensor
                                                      larger than the limit alone in its shard
    OUTDIR/model.safetensors.index.json               {"metadata": {"total_size": bytes},
                                                       "weight_map": {name: shard file}}

Each safetensors header carries ``{"format": "pt"}``, the metadata transformers checks. Every
file is written under a temporary name and renamed into place, the index last; weight files
of an earlier export in OUTDIR that the new one does not use are removed afterwards.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np

from ..errors import InvalidArgumentError, NotFoundError
from ..safetensors_io import SafetensorsFile, SafetensorsSpec, TensorPieces, file_order, write_safetensors
from ..storage._atomic import remove_quietly, replacing
from ..storage._inputs import read_regular

__all__ = ["DEFAULT_MAX_SHARD_SIZE", "open_weights", "shard", "write_json", "write_model_dir"]

#: transformers 5's ``save_pretrained(max_shard_size="50GB")`` (4.x used 5GB): decimal bytes.
DEFAULT_MAX_SHARD_SIZE: Final = 50 * 10**9
SINGLE_FILE: Final = "model.safetensors"
INDEX_FILE: Final = "model.safetensors.index.json"
CONFIG_FILE: Final = "config.json"
_SHARD_RE: Final = re.compile(r"model-\d{5}-of-\d{5}\.safetensors")
_METADATA: Final = {"format": "pt"}


def shard(specs: Sequence[SafetensorsSpec], max_shard_size: int) -> list[list[SafetensorsSpec]]:
    """Split ``specs`` greedily in order into groups of at most ``max_shard_size`` bytes
    (``huggingface_hub.split_state_dict_into_shards``'s rule)."""
    if max_shard_size <= 0:
        raise InvalidArgumentError(f"max_shard_size must be positive, got {max_shard_size}")
    groups: list[list[SafetensorsSpec]] = []
    size = 0
    for s in specs:
        if not groups or size + s.nbytes > max_shard_size:
            groups.append([])
            size = 0
        groups[-1].append(s)
        size += s.nbytes
    return groups


def write_json(path: str, value: Mapping[str, Any]) -> None:
    with replacing(path) as temp, open(temp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.write("\n")


def write_model_dir(
    outdir: str,
    specs: Sequence[SafetensorsSpec],
    get: Callable[[str], np.ndarray | TensorPieces],
    config: Mapping[str, Any],
    *,
    max_shard_size: int = DEFAULT_MAX_SHARD_SIZE,
    on_order: Callable[[Sequence[str]], None] | None = None,
) -> list[str]:
    """Write the weights (streamed through ``get``) and ``config.json``; return the files written.

    ``on_order`` is told beforehand the order in which ``get`` will be called (for prefetching)."""
    os.makedirs(outdir, exist_ok=True)
    groups = shard(specs, max_shard_size)
    if on_order is not None:
        on_order([name for group in groups for name in file_order(group)])
    written: list[str] = []
    if len(groups) <= 1:
        written.append(write_safetensors(os.path.join(outdir, SINGLE_FILE), specs, get, metadata=_METADATA))
    else:
        weight_map: dict[str, str] = {}
        for i, group in enumerate(groups, 1):
            name = f"model-{i:05d}-of-{len(groups):05d}.safetensors"
            written.append(write_safetensors(os.path.join(outdir, name), group, get, metadata=_METADATA))
            weight_map.update((s.name, name) for s in group)
        index = {"metadata": {"total_size": sum(s.nbytes for s in specs)}, "weight_map": weight_map}
        write_json(os.path.join(outdir, INDEX_FILE), index)
        written.append(os.path.join(outdir, INDEX_FILE))
    write_json(os.path.join(outdir, CONFIG_FILE), config)
    written.append(os.path.join(outdir, CONFIG_FILE))
    keep = {os.path.basename(p) for p in written}
    for name in os.listdir(outdir):
        if name not in keep and (name in (SINGLE_FILE, INDEX_FILE) or _SHARD_RE.fullmatch(name)):
            remove_quietly(os.path.join(outdir, name))
    return written


def open_weights(directory: str) -> dict[str, SafetensorsFile]:
    """Transformers name -> the open file holding it, from ``model.safetensors`` or the index."""
    single = os.path.join(directory, SINGLE_FILE)
    index = os.path.join(directory, INDEX_FILE)
    if os.path.isfile(single):
        f = SafetensorsFile(single)
        return {name: f for name in f.names}
    if not os.path.isfile(index):
        raise NotFoundError(f"{directory}: neither {SINGLE_FILE} nor {INDEX_FILE} (a PyTorch .bin model? save it with "
                            "safe_serialization=True)", name=directory)
    try:
        weight_map = json.loads(read_regular(index, "a safetensors index").decode("utf-8"))["weight_map"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
        raise InvalidArgumentError(f"{index}: expected a JSON object with a weight_map ({e!r})") from None
    files: dict[str, SafetensorsFile] = {}
    out: dict[str, SafetensorsFile] = {}
    for name, file in weight_map.items():
        if not isinstance(file, str) or os.path.basename(file) != file:
            raise InvalidArgumentError(f"{index}: {name!r} points at {file!r}, not a file in {directory}")
        if file not in files:
            files[file] = SafetensorsFile(os.path.join(directory, file))
        if name not in files[file].names:
            raise InvalidArgumentError(f"{index}: {name!r} is not in {file}")
        out[name] = files[file]
    return out

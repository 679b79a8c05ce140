"""tfckpt: read and write TensorFlow checkpoints without TensorFlow.

Reading::

    import tfckpt
    with tfckpt.open("path/to/model.ckpt-1000") as ckpt:   # or a directory, .index, .data-*
        for name in ckpt:
            print(name, ckpt.dtype(name), ckpt.shape(name))
        kernel = ckpt["dense/kernel"]                       # numpy, zero-copy, read-only

TensorFlow-compatible functions (``load_checkpoint``, ``list_variables``, ``load_variable``,
``latest_checkpoint``, ``get_checkpoint_state``) mirror ``tf.train``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .checkpoint import Checkpoint, open
from .errors import CheckpointError, CorruptionError, InvalidArgumentError, NotFoundError, RemoteError, UnsupportedError

__version__ = "0.1.0"

if TYPE_CHECKING:  # for type checkers; at run time __getattr__ imports them on first use
    from .compat import CheckpointReader, DType, list_variables, load_checkpoint, load_variable
    from .convert import convert_tf1_to_tf2, convert_tf2_to_tf1, rename, rename_plan
    from .manager import CheckpointManager
    from .object_writer import save_like, save_objects
    from .objects import ObjectGraph
    from .state import get_checkpoint_state, latest_checkpoint, update_checkpoint_state
    from .tools.average import average
    from .tools.merge import merge
    from .tools.meta import MetaGraph, SavedModelInfo, read_meta
    from .writer import Writer, save

# Public name -> the module defining it, imported on first use: `import tfckpt` loads only
# what reading a checkpoint needs (the TF facade, the state file, the writer, conversions,
# object graphs and tools cost import time, even in a fresh process that only reads).
_LAZY = {
    "CheckpointManager": ".manager",
    "CheckpointReader": ".compat",
    "DType": ".compat",
    "get_checkpoint_state": ".state",
    "latest_checkpoint": ".state",
    "list_variables": ".compat",
    "load_checkpoint": ".compat",
    "load_variable": ".compat",
    "update_checkpoint_state": ".state",
    "ObjectGraph": ".objects",
    "Writer": ".writer",
    "average": ".tools.average",
    "convert_tf1_to_tf2": ".convert",
    "convert_tf2_to_tf1": ".convert",
    "merge": ".tools.merge",
    "MetaGraph": ".tools.meta",
    "read_meta": ".tools.meta",
    "rename": ".convert",
    "rename_plan": ".convert",
    "SavedModelInfo": ".tools.meta",
    "save": ".writer",
    "save_like": ".object_writer",
    "save_objects": ".object_writer",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tfckpt' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Checkpoint",
    "CheckpointError",
    "CheckpointManager",
    "CheckpointReader",
    "CorruptionError",
    "DType",
    "InvalidArgumentError",
    "MetaGraph",
    "NotFoundError",
    "ObjectGraph",
    "RemoteError",
    "SavedModelInfo",
    "UnsupportedError",
    "Writer",
    "average",
    "convert_tf1_to_tf2",
    "convert_tf2_to_tf1",
    "get_checkpoint_state",
    "latest_checkpoint",
    "list_variables",
    "load_checkpoint",
    "load_variable",
    "merge",
    "open",
    "read_meta",
    "rename",
    "rename_plan",
    "save",
    "save_like",
    "save_objects",
    "update_checkpoint_state",
]

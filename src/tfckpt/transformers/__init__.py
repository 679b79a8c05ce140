"""Google's TensorFlow checkpoints <-> Hugging Face transformers directories, without either.

::

    import tfckpt.transformers as tt
    report = tt.export("uncased_L-12_H-768_A-12/bert_model.ckpt", "bert-hf", model="bert")
    print(report)            # tensors written, optimizer slots skipped, missing keys, the Auto class
    # transformers.AutoModelForPreTraining.from_pretrained("bert-hf")
    tt.to_tf1("bert-hf", "bert-tf/bert_model.ckpt", model="bert")   # and back, bert_config.json beside it

Families: ``bert``, ``albert``, ``electra`` (``part="discriminator"`` or ``"generator"``) and
``t5`` (T5 v1.0, T5 v1.1 and mT5). Each is a table of rules in its own module; the engine is
:mod:`._rules`. Nothing here imports transformers, torch or TensorFlow: the output is
safetensors and JSON. See ``docs/transformers.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

from ..errors import InvalidArgumentError
from ._export import Report
from ._export import export as _export_checkpoint
from ._export import to_tf1 as _export_tf1
from ._family import Family, Part
from ._hub import DEFAULT_MAX_SHARD_SIZE
from ._rules import TRANSFORMS, CompiledRules, Rule
from .albert import ALBERT
from .bert import BERT
from .electra import ELECTRA
from .t5 import T5

__all__ = ["DEFAULT_MAX_SHARD_SIZE", "FAMILIES", "TRANSFORMS", "CompiledRules", "Family", "Part", "Report", "Rule",
           "export", "family", "to_tf1"]  # fmt: skip

#: Model family name -> its table.
FAMILIES: Final[dict[str, Family]] = {f.name: f for f in (BERT, ALBERT, ELECTRA, T5)}

PathLike = str | os.PathLike[str]


def family(model: str) -> Family:
    """The :class:`Family` called ``model`` (``"bert"``, ...)."""
    try:
        return FAMILIES[model]
    except KeyError:
        raise InvalidArgumentError(f"unknown model family {model!r}; choose one of {', '.join(FAMILIES)}") from None


def export(
    src: PathLike,
    outdir: PathLike,
    *,
    model: str,
    part: str | None = None,
    config: PathLike | Mapping[str, Any] | None = None,
    num_heads: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    keep_dtype: bool = False,
    max_shard_size: int = DEFAULT_MAX_SHARD_SIZE,
    skip_unmatched: bool = False,
) -> Report:
    """Convert an original Google checkpoint into a directory transformers loads.

    Writes ``outdir/model.safetensors`` (or shards and ``model.safetensors.index.json`` past
    ``max_shard_size`` bytes) and ``outdir/config.json``. Optimizer slots (``adam_m``,
    ``adam_v``, ``/Adam``, Adafactor ``_slot_*``), beta powers and ``global_step`` are
    skipped and counted.

    Parameters
    ----------
    src : str or PathLike
        The checkpoint (prefix, directory, ``.index`` file; anything :func:`tfckpt.open` takes).
    outdir : str or PathLike
        The directory to write (created if needed).
    model : str
        ``"bert"``, ``"albert"``, ``"electra"`` or ``"t5"``.
    part : str, optional
        ELECTRA: ``"discriminator"`` (default) or ``"generator"``.
    config : path or mapping, optional
        Google's config file (or its content). Default: the family's file beside the
        checkpoint (``bert_config.json``, ``albert_config.json``), else shapes alone.
    num_heads : int, optional
        The attention head count, when neither config nor shapes tell.
    overrides : mapping, optional
        transformers config fields to set (``{"num_hidden_layers": 12}`` for an ALBERT
        checkpoint without its config file); they win over the config file.
    keep_dtype : bool
        Keep the stored float dtype (bfloat16, ...) instead of float32, the dtype of
        transformers 4.x's converters.
    max_shard_size : int
        Bytes per safetensors file (default 50 GB, transformers 5's).
    skip_unmatched : bool
        Leave out tensors no rule maps instead of failing (they are listed in the report).

    Returns
    -------
    Report
        Tensors matched, skipped, the transformers names missing from the checkpoint, the
        ``transformers.AutoModel...`` class to load with (``report.auto_class``).

    Raises
    ------
    InvalidArgumentError
        Tensors no rule maps (all are named), a config field missing or contradicted by the
        shapes, an unknown family or part.

    Examples
    --------
    >>> tfckpt.transformers.export("bert/bert_model.ckpt", "bert-hf", model="bert").auto_class   # doctest: +SKIP
    'AutoModelForPreTraining'
    """
    return _export_checkpoint(src, outdir, family(model), part=part, config=config, num_heads=num_heads, overrides=overrides,
                   keep_dtype=keep_dtype,
                   max_shard_size=max_shard_size, skip_unmatched=skip_unmatched)


def to_tf1(
    hf_dir: PathLike,
    prefix: PathLike,
    *,
    model: str,
    part: str | None = None,
    max_shard_size: int | None = None,
    skip_unmatched: bool = False,
) -> Report:
    """Write a TF1 checkpoint with Google's names and kernel layout from a transformers directory.

    Reads ``hf_dir/config.json`` and ``model.safetensors`` (or its index and shards); writes
    the checkpoint at ``prefix`` and Google's config file beside it (``bert_config.json``, ...),
    so Google's TensorFlow code restores it. Tied copies (the MLM decoder, T5's
    ``embed_tokens``) are left out; ELECTRA's generator writes its embeddings under
    ``electra/embeddings/``, as ELECTRA shares them. ``part`` defaults to the one whose class
    ``config.json``'s ``architectures`` names.

    Raises
    ------
    InvalidArgumentError
        Weights no rule maps (all are named), config fields Google's file needs are missing.
    NotFoundError
        No safetensors weights in ``hf_dir``.

    Examples
    --------
    >>> tfckpt.transformers.to_tf1("bert-hf", "bert-tf/bert_model.ckpt", model="bert")     # doctest: +SKIP
    """
    return _export_tf1(hf_dir, prefix, family(model), part=part, max_shard_size=max_shard_size, skip_unmatched=skip_unmatched)

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

from ._export import Report, export, to_tf1
from ._family import Family, Part
from ._hub import DEFAULT_MAX_SHARD_SIZE
from ._registry import FAMILIES, family
from ._rules import TRANSFORMS, CompiledRules, Rule

__all__ = ["DEFAULT_MAX_SHARD_SIZE", "FAMILIES", "TRANSFORMS", "CompiledRules", "Family", "Part", "Report", "Rule",
           "export", "family", "to_tf1"]  # fmt: skip

"""Whole-checkpoint tools: :func:`average` (checkpoint averaging), :func:`merge` (TensorFlow's
``MergeV2Checkpoints``) and :func:`read_meta` (the graph beside the weights: ``.meta`` files
and ``saved_model.pb``). ``tfckpt`` re-exports them, importing this package on first use."""

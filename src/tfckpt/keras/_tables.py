"""What Keras 2 called things, per layer and per optimizer, as data.

A Keras 2 TF-format checkpoint (``model.save_weights("model.ckpt")`` in ``tf.keras`` up to
2.15 or in ``tf_keras``) is a ``tf.train.Checkpoint`` whose root is the model. Each object is
reached from its parent by a *local name*:

=============================  ================================================================
parent                         local names of its children (checkpoint key components)
=============================  ================================================================
Functional / Sequential model  ``layer-N`` for ``model.layers[N]`` (a functional model's
                               ``layers`` include its ``InputLayer``s, a Sequential's do not) and
                               ``layer_with_weights-M`` for the M-th of them that has weights
subclassed model or layer      the Python attribute name (``self.encoder = ...`` -> ``encoder``);
                               a list attribute adds ``0``, ``1``, ... and a dict its keys
built-in layers                :data:`SUBLAYER_EDGES` (``cell``, ``forward_layer``, ...)
a layer -> its variable        the name given to ``add_weight`` (``kernel``, ``gamma``, ...),
                               which Keras 3 keeps as ``Variable.name`` except as in
                               :data:`VARIABLE_RENAMES`
the model -> its optimizer     ``optimizer``; see :data:`OPTIMIZER_SLOT_LISTS`
=============================  ================================================================

Keys are matched on the Keras 3 class name and its base classes' names (``type(x).__mro__``),
so subclasses of a built-in layer inherit its row. Nothing here imports Keras.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BOOKKEEPING_CHILDREN",
    "LEGACY_HYPERPARAMETERS",
    "LEGACY_OPTIMIZER_SLOTS",
    "MISMATCH_HINTS",
    "OPTIMIZER_SCALARS",
    "OPTIMIZER_SLOT_LISTS",
    "SUBLAYER_EDGES",
    "VARIABLE_RENAMES",
]

#: Keras 3 layer class -> ((Keras 2 local name, Keras 3 attribute), ...): the sub-layers a
#: built-in layer tracks. Layers not listed here are walked by their Python attributes, as
#: Keras 2 tracked a subclassed layer.
SUBLAYER_EDGES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    # An RNN layer owns its cell; the cell owns kernel, recurrent_kernel, bias. Keras 2 and 3
    # agree on the gate order (LSTM: i, f, c, o; GRU: z, r, h) and on GRU's bias layout:
    # (3 * units,) with reset_after=False, (2, 3 * units) with reset_after=True (input and
    # recurrent biases), so no values are rearranged.
    "RNN": (("cell", "cell"),),
    "Bidirectional": (("forward_layer", "forward_layer"), ("backward_layer", "backward_layer")),
    "TimeDistributed": (("layer", "layer"),),
    # Four EinsumDense layers; kernel shapes (dim, heads, key_dim) and (heads, key_dim, dim) in both.
    "MultiHeadAttention": (
        ("_query_dense", "_query_dense"),
        ("_key_dense", "_key_dense"),
        ("_value_dense", "_value_dense"),
        ("_output_dense", "_output_dense"),
    ),
}

#: Local names whose objects hold no weights, only Keras 2 bookkeeping: a SavedModel
#: (``model.save("dir")``) tracks each layer's metric state (``total``, ``count``) under ``keras_api``.
BOOKKEEPING_CHILDREN: Final = frozenset({"keras_api"})

#: (Keras 3 layer class, Keras 3 ``Variable.name``) -> the Keras 2 local name of that variable.
VARIABLE_RENAMES: Final[dict[tuple[str, str], str]] = {
    ("DepthwiseConv2D", "kernel"): "depthwise_kernel",  # Keras 3 names it kernel
    ("DepthwiseConv1D", "kernel"): "depthwise_kernel",
}

#: (Keras 3 layer class, Keras 2 variable name, checkpoint rank, model rank) -> a hint added to
#: a shape mismatch: the layout differences that a constructor argument decides.
MISMATCH_HINTS: Final[dict[tuple[str, str, int, int], str]] = {
    ("GRUCell", "bias", 1, 2): "the checkpoint's GRU was built with reset_after=False: build the Keras 3 GRU so too",
    ("GRUCell", "bias", 2, 1): "the checkpoint's GRU was built with reset_after=True (the default): build the Keras 3 GRU so too",
}

#: Optimizer scalars: Keras 2 local name under ``optimizer`` -> Keras 3 optimizer attribute.
#: ``_iterations``/``_learning_rate`` are the Keras 2.11+ optimizers', ``iter``/``learning_rate``
#: the legacy ones' (``tf.keras.optimizers.legacy``, the only kind up to TF 2.10). A learning
#: rate is loaded only where Keras 3 keeps it in a variable (not a schedule).
OPTIMIZER_SCALARS: Final[dict[str, str]] = {
    "_iterations": "_iterations",
    "iter": "_iterations",
    "_learning_rate": "_learning_rate",
    "learning_rate": "_learning_rate",
    "_u_product": "_u_product",  # Nadam's running product of momentum factors
    "momentum_cache": "_u_product",  # the same product in the legacy Nadam
}

#: Legacy optimizers' hyperparameters saved as variables; Keras 3 keeps them in its config.
LEGACY_HYPERPARAMETERS: Final = frozenset(
    {"beta_1", "beta_2", "beta", "decay", "epsilon", "rho", "momentum", "initial_accumulator_value",
     "learning_rate_power", "l1_regularization_strength", "l2_regularization_strength"}
)  # fmt: skip

#: Keras 2.11+ optimizers: per Keras 3 optimizer class, the Keras 2 per-variable slot list (a
#: child of ``optimizer``, element i holding the slot of a variable whose ``full_name`` it
#: names as ``<optimizer>/<slot>/<variable full_name>``) -> the Keras 3 attribute holding the
#: same list (element i for ``optimizer._trainable_variables[i]``).
OPTIMIZER_SLOT_LISTS: Final[dict[str, dict[str, str]]] = {
    "Adam": {"_momentums": "_momentums", "_velocities": "_velocities", "_velocity_hats": "_velocity_hats"},
    "AdamW": {"_momentums": "_momentums", "_velocities": "_velocities", "_velocity_hats": "_velocity_hats"},
    "Nadam": {"_momentums": "_momentums", "_velocities": "_velocities"},
    "Adamax": {"_m": "_m", "_u": "_u"},
    "SGD": {"momentums": "momentums"},
    "RMSprop": {"_velocities": "_velocities", "_momentums": "_momentums", "_average_gradients": "_average_gradients"},
    "Adagrad": {"_accumulators": "_accumulators"},
    "Adadelta": {"_accumulated_grads": "_accumulated_grads", "_accumulated_delta_vars": "_accumulated_delta_vars"},
    "Ftrl": {"_accumulators": "_accumulators", "_linears": "_linears"},
    "Lion": {"momentums": "_momentums"},  # renamed in Keras 3
}

#: Legacy optimizers (slots linked to their variable in the object graph): per Keras 3
#: optimizer class, Keras 2 slot name -> Keras 3 attribute (``tf_keras/optimizers/legacy``).
LEGACY_OPTIMIZER_SLOTS: Final[dict[str, dict[str, str]]] = {
    "Adam": {"m": "_momentums", "v": "_velocities", "vhat": "_velocity_hats"},
    "Nadam": {"m": "_momentums", "v": "_velocities"},
    "Adamax": {"m": "_m", "v": "_u"},
    "SGD": {"momentum": "momentums"},
    "RMSprop": {"rms": "_velocities", "momentum": "_momentums", "mg": "_average_gradients"},
    "Adagrad": {"accumulator": "_accumulators"},
    "Adadelta": {"accum_grad": "_accumulated_grads", "accum_var": "_accumulated_delta_vars"},
    "Ftrl": {"accumulator": "_accumulators", "linear": "_linears"},
}

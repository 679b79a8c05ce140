"""Load Keras 2 TF-format weights into a Keras 3 model, on any Keras 3 backend, without TensorFlow.

Keras 3 refuses the TensorFlow checkpoint format that Keras 2 wrote for
``model.save_weights("model.ckpt")`` (any name not ending in ``.h5``). This module reads it
with tfckpt and assigns the values to a Keras 3 model of the same architecture, matching as
Keras 2's own loader did: by the checkpoint's object graph (layers in tracking order, nested
models, each variable by its attribute name), or by layer name. See ``docs/keras.md``.

Keras (and through it the backend: JAX, PyTorch or TensorFlow) is imported only by this
module; ``import tfckpt`` never imports it.

Examples
--------
>>> import keras, tfckpt.keras                               # doctest: +SKIP
>>> model = build_model()                                    # the same architecture, Keras 3
>>> tfckpt.keras.load_weights(model, "old/model.ckpt")       # doctest: +SKIP
LoadResult(loaded 24 variables, no optimizer state)
>>> model.save_weights("model.weights.h5")                   # Keras 3's native file
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..checkpoint import open as open_checkpoint
from ..errors import InvalidArgumentError
from ._match import Assignment, match_by_name, match_by_topology
from ._optimizer import has_optimizer_state, plan_optimizer

__all__ = ["LoadResult", "WeightsMismatchError", "load_weights"]


class WeightsMismatchError(InvalidArgumentError):
    """The checkpoint and the model do not fit: every problem is in :attr:`problems`, one line
    each (naming the layer, the variable and both shapes, or what matched nothing)."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"{path}: {len(self.problems)} mismatch(es) between the checkpoint and the model "
            f"(load_weights(..., skip_mismatch=True) loads the rest):\n{lines}"
        )


@dataclass
class LoadResult:
    """What :func:`load_weights` did.

    Attributes
    ----------
    loaded : list[str]
        Keras 3 paths of the model variables that were assigned.
    skipped : list[str]
        The mismatches left out with ``skip_mismatch=True`` (empty otherwise).
    optimizer_loaded : bool
        Whether the optimizer state was loaded too.
    optimizer_message : str or None
        Why not, when the checkpoint has optimizer state that was not loaded.
    """

    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    optimizer_loaded: bool = False
    optimizer_message: str | None = None

    def __repr__(self) -> str:
        opt = "optimizer state loaded" if self.optimizer_loaded else (self.optimizer_message or "no optimizer state")
        skipped = f", {len(self.skipped)} mismatches skipped" if self.skipped else ""
        return f"LoadResult(loaded {len(self.loaded)} variables{skipped}, {opt})"


def _weights_prefix(path: str | os.PathLike[str]) -> str:
    """``path``, or for a Keras 2 SavedModel directory (``model.save("dir")``) the checkpoint
    inside it, ``dir/variables/variables``, whose object graph is rooted at the model too."""
    inside = os.path.join(os.fspath(path), "variables", "variables")
    return inside if os.path.isfile(inside + ".index") else os.fspath(path)


def load_weights(model: Any, path: str | os.PathLike[str], *, skip_mismatch: bool = False,
                 by_name: bool = False) -> LoadResult:
    """Load Keras 2 TF-format weights (``save_weights`` without ``.h5``) into a Keras 3 model.

    Parameters
    ----------
    model : keras.Model
        A built Keras 3 model (functional and Sequential models are built when made; call a
        subclassed one on a batch first) of the architecture that saved the checkpoint.
    path : str or path-like
        The checkpoint: the prefix passed to ``save_weights`` (``"model.ckpt"``), its
        ``.index`` file, or the directory holding its ``checkpoint`` state file; or a Keras 2
        SavedModel directory (``model.save("dir")``), whose weights are a checkpoint of the
        same layout in ``dir/variables``.
    skip_mismatch : bool
        Load what fits and warn about the rest (``UserWarning``), instead of raising.
    by_name : bool
        Match each model layer to the checkpoint layer of the same name (then its variables by
        attribute), instead of by position in the object graph. Checkpoint layers the model
        lacks are ignored; model layers the checkpoint lacks are mismatches.

    Optimizer state loads too when ``model.optimizer`` is built (``model.compile(...)`` then
    ``model.optimizer.build(model.trainable_variables)``) and every slot of it matches;
    otherwise it is left alone with a ``UserWarning`` saying why.

    Returns
    -------
    LoadResult

    Raises
    ------
    WeightsMismatchError
        (an :class:`~tfckpt.InvalidArgumentError`) some variable has no match or a different
        shape, unless ``skip_mismatch``; lists every problem, not only the first.
    InvalidArgumentError
        The model has no weights yet, or the checkpoint has no object graph (a TF1
        name-based checkpoint is not a Keras 2 one).
    NotFoundError, CorruptionError
        No checkpoint at ``path``, or a damaged one.
    """
    if not getattr(model, "weights", None):
        raise InvalidArgumentError(
            f"the model {getattr(model, 'name', model)!r} has no weights yet: build it first "
            "(call it on a batch, or model.build(input_shape))"
        )
    result = LoadResult()
    with open_checkpoint(_weights_prefix(path)) as ckpt:
        graph = ckpt.object_graph
        if graph is None:
            raise InvalidArgumentError(
                f"{ckpt.prefix}: no object graph, so not a Keras TF-format checkpoint (a TF1 name-based "
                "one? read it with tfckpt.open and assign by name)"
            )
        plan = (match_by_name if by_name else match_by_topology)(model, ckpt, graph)
        if plan.problems and not skip_mismatch:
            raise WeightsMismatchError(ckpt.prefix, plan.problems)
        if plan.problems:
            result.skipped = list(plan.problems)
            warnings.warn(f"{ckpt.prefix}: skipped {len(plan.problems)} mismatch(es):\n"
                          + "\n".join(f"  - {p}" for p in plan.problems), UserWarning, stacklevel=2)
        opt_assignments: list[Assignment] = []
        if has_optimizer_state(graph):
            optimizer = getattr(model, "optimizer", None)
            if optimizer is None or not getattr(optimizer, "built", False):
                result.optimizer_message = (
                    "optimizer state not loaded: the model has no built optimizer (compile the model and call "
                    "model.optimizer.build(model.trainable_variables) first)"
                )
            else:
                opt_assignments, problems = plan_optimizer(optimizer, ckpt, graph, plan.assignments)
                if problems:
                    result.optimizer_message = (
                        f"optimizer state not loaded: it does not match the Keras 3 {type(optimizer).__name__} "
                        f"({len(problems)} problem(s)):\n" + "\n".join(f"  - {p}" for p in problems)
                    )
                    opt_assignments = []
            if result.optimizer_message is not None:
                warnings.warn(f"{ckpt.prefix}: {result.optimizer_message}", UserWarning, stacklevel=2)
        for a in plan.assignments:
            a.variable.assign(ckpt.get_tensor(a.key, copy=True))
        for a in opt_assignments:
            a.variable.assign(ckpt.get_tensor(a.key, copy=True))
    result.loaded = [a.variable.path for a in plan.assignments]
    result.optimizer_loaded = bool(opt_assignments)
    return result

"""A Keras 3 model seen as Keras 2 tracked it: each object's children by Keras 2 local name.

Keras 2 restored TF-format weights by walking the checkpoint's object graph and the live
model's trackable graph side by side, child by local name (``Checkpoint.read`` ->
``CheckpointPosition.restore``). Keras 3 has no trackable graph, so :class:`Keras2View`
recreates the part that matters: for any Keras 3 object, the children Keras 2 would have
listed (:meth:`Keras2View.children`) and the variables it would have owned
(:meth:`Keras2View.variables`), using the tables in :mod:`._tables`. Objects are Keras 3
layers and models, or :class:`Container` for a list or dict attribute.

The view only reads attributes; it imports nothing (Keras objects are recognised by the names
of their classes, as the tables are keyed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ._tables import SUBLAYER_EDGES, VARIABLE_RENAMES

__all__ = ["Container", "Keras2View", "class_names", "is_layer"]

#: Keras 3 attributes that hold layers but were no Keras 2 checkpoint dependency: the flat list
#: of every sub-layer, a Functional's graph, and the optimizer (restored on its own).
_NOT_DEPENDENCIES: Final = frozenset({"_layers", "_operations", "_functional", "optimizer", "_optimizer"})


def class_names(obj: object) -> list[str]:
    """The names of ``type(obj)`` and its base classes, most derived first."""
    return [cls.__name__ for cls in type(obj).__mro__]


def is_layer(obj: object) -> bool:
    """True for a Keras 3 layer or model (anything with Keras 3's own-variable lists)."""
    return hasattr(obj, "_trainable_variables") and hasattr(obj, "_non_trainable_variables") and hasattr(obj, "weights")


def _row(table: Mapping[str, Any], obj: object) -> Any:
    for name in class_names(obj):
        if name in table:
            return table[name]
    return None


@dataclass(eq=False)
class Container:
    """A list or dict attribute of a subclassed layer: Keras 2 tracked it as an object of its
    own, its items under ``"0"``, ``"1"``, ... or under their keys."""

    items: dict[str, Any]
    path: str


class Keras2View:
    """Children and variables of Keras 3 objects, named as a Keras 2 checkpoint names them."""

    def children(self, obj: Any) -> dict[str, Any]:
        """Keras 2 local name -> child object (layer, model or :class:`Container`)."""
        if isinstance(obj, Container):
            return self._tracked(obj.items, obj.path)
        names = class_names(obj)
        if "Functional" in names or "Sequential" in names:
            return self._model_children(obj)
        edges = _row(SUBLAYER_EDGES, obj)
        if edges is not None:
            return {local: getattr(obj, attr) for local, attr in edges if getattr(obj, attr, None) is not None}
        return self._attribute_children(obj)

    def variables(self, obj: Any) -> dict[str, Any]:
        """Keras 2 local name -> Keras 3 variable, for the variables ``obj`` itself owns."""
        if isinstance(obj, Container) or not is_layer(obj):
            return {}
        names = class_names(obj)
        found: dict[str, Any] = {}
        for var in [*obj._trainable_variables, *obj._non_trainable_variables]:
            local = next((VARIABLE_RENAMES[(n, var.name)] for n in names if (n, var.name) in VARIABLE_RENAMES), var.name)
            found.setdefault(local, var)
        return found

    @staticmethod
    def _model_children(model: Any) -> dict[str, Any]:
        # Functional._layer_checkpoint_dependencies in Keras 2: both names for a layer with weights.
        found: dict[str, Any] = {}
        with_weights = 0
        for index, layer in enumerate(model.layers):
            if layer.weights:
                found[f"layer_with_weights-{with_weights}"] = layer
                with_weights += 1
            found[f"layer-{index}"] = layer
        return found

    @classmethod
    def _attribute_children(cls, obj: Any) -> dict[str, Any]:
        attrs = dict(vars(obj))
        # On the PyTorch backend a layer is a torch.nn.Module, whose __setattr__ keeps
        # sub-modules (the layers) in _modules rather than in the instance dict.
        modules = attrs.pop("_modules", None)
        if isinstance(modules, dict):
            attrs.update(modules)
        attrs = {k: v for k, v in attrs.items() if k not in _NOT_DEPENDENCIES}
        return cls._tracked(attrs, getattr(obj, "name", type(obj).__name__))

    @classmethod
    def _tracked(cls, items: Mapping[str, Any], path: str) -> dict[str, Any]:
        """The layers among ``items``, and its lists and dicts that hold layers as containers."""
        found: dict[str, Any] = {}
        for name, value in items.items():
            if is_layer(value):
                found[name] = value
            elif isinstance(value, (list, tuple)) and _holds_layers(value):
                found[name] = Container({str(i): v for i, v in enumerate(value)}, f"{path}.{name}")
            elif isinstance(value, dict) and _holds_layers(list(value.values())):
                found[name] = Container({str(k): v for k, v in value.items()}, f"{path}.{name}")
        return found


def _holds_layers(values: Any) -> bool:
    """A list (or dict values) with a layer in it, at any depth of nested lists and dicts."""
    for v in values:
        if is_layer(v):
            return True
        if isinstance(v, (list, tuple)) and _holds_layers(v):
            return True
        if isinstance(v, dict) and _holds_layers(list(v.values())):
            return True
    return False

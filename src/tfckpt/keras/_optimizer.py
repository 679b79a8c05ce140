"""Matching a Keras 2 checkpoint's optimizer state to a built Keras 3 optimizer.

Keras 2 saved the model's optimizer under the root's ``optimizer`` child, in one of two forms:

- **Keras 2.11+ optimizers** (``tf.keras.optimizers.Adam`` from TF 2.11, ``tf_keras``):
  scalars ``_iterations`` and ``_learning_rate``, and one list per slot kind (``_momentums``,
  ``_velocities``, ...). The lists do not say which model variable an element belongs to, but
  each element's ``full_name`` does: ``Adam/m/dense/kernel`` is the ``m`` slot of the variable
  whose full name is ``dense/kernel``.
- **legacy optimizers** (``tf.keras.optimizers.legacy``, the only kind up to TF 2.10):
  scalars ``iter``, ``learning_rate`` and hyperparameters (``beta_1``, ...), and slot
  variables that the object graph links to their variable (``SlotVariableReference``).

Keras 3 keeps, per slot kind, a list aligned with ``optimizer._trainable_variables``; the
tables in :mod:`._tables` give the Keras 3 list for each Keras 2 slot kind, per optimizer
class. Optimizer state loads only whole: when any slot has no place, any place gets no slot,
or a shape differs, :func:`plan_optimizer` returns the reasons and nothing of it is loaded.
"""

from __future__ import annotations

from typing import Any

from ..checkpoint import Checkpoint
from ..objects import OPTIMIZER_EDGE, VARIABLE_VALUE, Node, ObjectGraph
from ._match import Assignment, model_variable_nodes, shape_of, stored_shape, variable_key
from ._tables import (
    LEGACY_HYPERPARAMETERS,
    LEGACY_OPTIMIZER_SLOTS,
    OPTIMIZER_SCALARS,
    OPTIMIZER_SLOT_LISTS,
)

__all__ = ["has_optimizer_state", "plan_optimizer"]


def _full_name(node: Node) -> str:
    return next((a.full_name for a in node.attributes if a.name == VARIABLE_VALUE), "").split(":")[0]


def _is_variable(value: Any) -> bool:
    return hasattr(value, "assign") and hasattr(value, "shape")


def has_optimizer_state(graph: ObjectGraph) -> bool:
    """Whether the checkpoint saved an optimizer with any variable beside the model."""
    node = graph.root.children.get(OPTIMIZER_EDGE)
    return node is not None and any(variable_key(n) is not None for n in _descendants(node))


def _descendants(node: Node) -> list[Node]:
    seen = {node.node_id: node}
    stack = [node]
    while stack:
        for child in stack.pop().children.values():
            if child.node_id not in seen:
                seen[child.node_id] = child
                stack.append(child)
    return list(seen.values())


def plan_optimizer(
    optimizer: Any, ckpt: Checkpoint, graph: ObjectGraph, weights: list[Assignment]
) -> tuple[list[Assignment], list[str]]:
    """(assignments, problems) for the optimizer state; load the assignments only if there
    are no problems. ``weights`` are the model's matched variables."""
    node = graph.root.children[OPTIMIZER_EDGE]
    cls = type(optimizer).__name__
    problems: list[str] = []
    out: list[Assignment] = []
    var_of_key = {a.key: a.variable for a in weights}
    index_of = {id(v): i for i, v in enumerate(getattr(optimizer, "_trainable_variables", []))}
    filled: set[tuple[str, int]] = set()

    def place(key: str, attr: str, model_var: Any, what: str) -> None:
        i = index_of.get(id(model_var))
        slots = getattr(optimizer, attr, None)
        if i is None or not isinstance(slots, list) or i >= len(slots) or slots[i] is None:
            problems.append(f"{what}: the Keras 3 {cls} has no {attr} slot for {model_var.path}")
            return
        stored = stored_shape(ckpt, key)
        if stored != shape_of(slots[i]):
            problems.append(f"{what}: shape {list(stored)}, the Keras 3 slot {list(shape_of(slots[i]))}")
            return
        filled.add((attr, i))
        out.append(Assignment(key, slots[i]))

    # Scalars (iterations, learning rate) and the legacy hyperparameters.
    for name, child in node.children.items():
        key = variable_key(child)
        if key is None:
            continue
        if name in OPTIMIZER_SCALARS:
            scalar_attr = OPTIMIZER_SCALARS[name]
            target = getattr(optimizer, scalar_attr, None)
            if _is_variable(target) and stored_shape(ckpt, key) == shape_of(target):
                out.append(Assignment(key, target))
            elif _is_variable(target):
                problems.append(f"optimizer/{name}: shape {list(stored_shape(ckpt, key))}, the Keras 3 "
                                f"{scalar_attr} {list(shape_of(target))}")
            elif scalar_attr != "_learning_rate":  # a learning-rate schedule keeps no variable: nothing to load
                problems.append(f"optimizer/{name}: the Keras 3 {cls} has no {scalar_attr}")
        elif name not in LEGACY_HYPERPARAMETERS:
            problems.append(f"optimizer/{name}: no counterpart in the Keras 3 {cls}")

    # Keras 2.11+ slot lists, elements linked to their variable by full name.
    lists = OPTIMIZER_SLOT_LISTS.get(cls, {})
    by_full_name: dict[str, list[str]] = {}
    for key in model_variable_nodes(graph):
        owner = graph.owner(key)
        if owner is not None:
            by_full_name.setdefault(_full_name(owner), []).append(key)
    for list_name, list_node in node.children.items():
        if list_name == "_variables" or variable_key(list_node) is not None:
            continue  # _variables holds every optimizer variable again, in creation order
        elements = [(i, c) for i, c in list_node.children.items() if variable_key(c) is not None]
        if not elements:
            continue
        attr = lists.get(list_name)
        if attr is None:
            problems.append(f"optimizer/{list_name} ({len(elements)} slots): no counterpart in the Keras 3 {cls}")
            continue
        for i, element in elements:
            what = f"optimizer/{list_name}/{i}"
            slot_key = variable_key(element)
            assert slot_key is not None
            full = _full_name(element)
            var_full = full.split("/", 2)[2] if full.count("/") >= 2 else ""  # <optimizer>/<slot>/<variable>
            keys = by_full_name.get(var_full, [])
            if len(keys) != 1 or keys[0] not in var_of_key:
                problems.append(f"{what} ({full}): no single loaded model variable named {var_full!r}")
                continue
            place(slot_key, attr, var_of_key[keys[0]], what)

    # Legacy slot variables, linked in the graph.
    legacy = LEGACY_OPTIMIZER_SLOTS.get(cls, {})
    for slot in node.slot_variables:
        slot_key = variable_key(slot.slot_variable)
        var_key = variable_key(slot.original_variable)
        if slot_key is None or var_key is None:
            continue
        what = f"slot {slot.slot_name!r} of {'/'.join(graph.bfs_paths().get(slot.original_variable.node_id, ()))}"
        if slot.slot_name not in legacy:
            problems.append(f"{what}: no counterpart in the Keras 3 {cls}")
        elif var_key not in var_of_key:
            problems.append(f"{what}: its variable was not loaded into the model")
        else:
            place(slot_key, legacy[slot.slot_name], var_of_key[var_key], what)

    # Every Keras 3 slot must have been filled, or its optimizer would resume half-initialised.
    for attr in sorted(set(lists.values()) | set(legacy.values())):
        slots = getattr(optimizer, attr, None)
        if isinstance(slots, list):
            empty = [s.path for i, s in enumerate(slots) if s is not None and (attr, i) not in filled]
            if empty:
                shown = ", ".join(empty[:3]) + (", ..." if len(empty) > 3 else "")
                problems.append(f"the Keras 3 {cls}'s {attr}: {len(empty)} of {len(slots)} slots have no value "
                                f"in the checkpoint ({shown})")
    return out, problems

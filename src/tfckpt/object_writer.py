"""Writing object-based (TF2) checkpoints: :func:`save_objects` and :func:`save_like`.

:func:`save_objects` lays a nested mapping out as TensorFlow 2.21's ``tf.train.Checkpoint.save``
does (``tfckpt.objects`` documents the key and proto formats):

* node 0 is the root; nodes are numbered breadth-first, children in mapping order, except
  that the root's children are sorted by name (``tf.train.Checkpoint(**kwargs)`` sorts its
  keyword arguments) and ``save_counter`` is appended last;
* each leaf is a variable node with one attribute ``{name: "VARIABLE_VALUE", full_name:
  <"/"-joined unescaped path>, checkpoint_key: <escaped path>/.ATTRIBUTES/VARIABLE_VALUE}``;
* every node carries ``has_checkpoint_values`` (true when it or a descendant holds a value);
* tensor data is written in node order, the ``_CHECKPOINTABLE_OBJECT_GRAPH`` scalar string
  last, which is the order TF's data files show.

:func:`save_like` keeps an existing checkpoint's graph tensor byte for byte and replaces values.
Both stream: each tensor is produced, written and dropped before the next one is read.
"""

from __future__ import annotations

import difflib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

import numpy as np

from .checkpoint import Checkpoint
from .checkpoint import open as open_checkpoint
from .errors import InvalidArgumentError, NotFoundError, UnsupportedError
from .objects import OBJECT_GRAPH_KEY, SAVE_COUNTER, VARIABLE_VALUE, checkpoint_key
from .proto.trackable_object_graph_pb2 import TrackableObjectGraph  # type: ignore[attr-defined, unused-ignore]
from .writer import Writer, to_tensor

__all__ = ["ObjectTreeLayout", "check_copyable", "layout_tree", "save_like", "save_objects", "write_object_checkpoint"]

_MAX_DEPTH: Final = 1000  # nesting deeper than this is a cycle or a mistake


class ObjectTreeLayout:
    """The object graph for a nested mapping, without its values.

    ``variables`` lists ``(checkpoint_key, leaf)`` in node order, ``graph`` is the serialized
    ``TrackableObjectGraph``.
    """

    def __init__(self, graph: bytes, variables: list[tuple[str, Any]]) -> None:
        self.graph = graph
        self.variables = variables


def layout_tree(
    tree: Mapping[str, Any],
    *,
    save_counter: Any = None,
    full_name: Callable[[tuple[str, ...], Any], str] | None = None,
) -> ObjectTreeLayout:
    """Number the objects of ``tree`` breadth-first and build the graph TF would write.

    ``save_counter`` (any leaf, or None for no counter) becomes the root's last child.
    ``full_name(path, leaf)`` gives each variable's ``full_name`` attribute (default: the
    ``/``-joined path).

    Raises
    ------
    InvalidArgumentError
        A key that is not a non-empty string, a ``save_counter`` key at the root while a
        counter is written, or a mapping nested in itself.
    """
    if not isinstance(tree, Mapping):
        raise InvalidArgumentError(f"the tree must be a mapping of names to arrays or mappings, got {type(tree).__name__}")
    root_items = sorted(tree.items(), key=lambda kv: _check_key(kv[0], ()))
    if save_counter is not None:
        if SAVE_COUNTER in tree:
            raise InvalidArgumentError(
                f"the tree has a root entry {SAVE_COUNTER!r}, which collides with the checkpoint's own counter; "
                "pass save_counter=False to write it as an ordinary variable"
            )
        root_items.append((SAVE_COUNTER, save_counter))

    proto = TrackableObjectGraph()
    proto.nodes.add()
    variables: list[tuple[str, Any]] = []
    filled: set[int] = set()  # nodes that hold a value or have a descendant that does
    # Breadth-first: (node id, path, items of the mapping it stands for, ids of the nodes above it
    # and itself, ids of the mappings above it and itself).
    queue: deque[tuple[int, tuple[str, ...], list[tuple[str, Any]], tuple[int, ...], frozenset[int]]] = deque(
        [(0, (), root_items, (0,), frozenset([id(tree)]))]
    )
    while queue:
        node_id, path, items, chain, mappings = queue.popleft()
        for name, value in items:
            child_path = (*path, _check_key(name, path))
            child_id = len(proto.nodes)
            proto.nodes[node_id].children.add(node_id=child_id, local_name=name)
            child = proto.nodes.add()
            if isinstance(value, Mapping):
                if id(value) in mappings or len(child_path) > _MAX_DEPTH:
                    raise InvalidArgumentError(f"{'/'.join(child_path)!r}: the mapping contains itself")
                queue.append((child_id, child_path, list(value.items()), (*chain, child_id), mappings | {id(value)}))
            else:
                key = checkpoint_key(child_path)
                own_name = (
                    "/".join(child_path)
                    if full_name is None or (not path and value is save_counter)
                    else full_name(child_path, value)
                )
                child.attributes.add(name=VARIABLE_VALUE, full_name=own_name, checkpoint_key=key)
                variables.append((key, value))
                filled.update(chain)
                filled.add(child_id)
    for i, node in enumerate(proto.nodes):
        node.has_checkpoint_values.value = i in filled
    return ObjectTreeLayout(proto.SerializeToString(deterministic=True), variables)


def _check_key(name: object, path: tuple[str, ...]) -> str:
    where = "/".join(path) or "the root"
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"object names must be non-empty strings, found {name!r} under {where}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a name read from undecodable bytes (surrogateescape)
        raise InvalidArgumentError(
            f"{name!r} under {where}: an object-based checkpoint stores names as UTF-8 protobuf strings, "
            "and this name is not valid UTF-8"
        ) from None
    return name


def write_object_checkpoint(
    prefix: str | os.PathLike[str],
    layout: ObjectTreeLayout,
    load: Callable[[Any], tuple[Any, str | None]],
    *,
    max_shard_size: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """Write ``layout``'s variables, each produced by ``load(leaf) -> (value, dtype or None)``
    just before it is written, then the graph; return the prefix."""
    with Writer(prefix, max_shard_size=max_shard_size, storage_options=storage_options) as writer:
        for key, leaf in layout.variables:
            value, dtype = load(leaf)
            writer.add(key, value, dtype=dtype)
        writer.add(OBJECT_GRAPH_KEY, np.array(layout.graph, dtype=object), dtype="string")
    return writer.prefix


def save_objects(
    prefix: str | os.PathLike[str],
    tree: Mapping[str, Any],
    *,
    save_counter: bool | int = True,
    max_shard_size: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """Write a nested mapping as an object-based checkpoint that ``tf.train.Checkpoint`` restores.

    Inner mappings become objects (``tf.Module``, dict, Keras layer: anything whose tracked
    children have those names); other values are variables, converted like
    :func:`tfckpt.save` does. Names may contain ``/`` and ``.``; keys escape them as TF does.

    Parameters
    ----------
    prefix : str or PathLike
        Checkpoint prefix to write (``out/ckpt-1``).
    tree : Mapping
        ``{name: array or mapping}``. The root's entries are the ``tf.train.Checkpoint``
        keyword arguments.
    save_counter : bool or int
        Write ``save_counter`` (int64, value 1, or the int given), as ``Checkpoint.save``
        does; ``tf.train.Checkpoint(...).restore(prefix).assert_consumed()`` needs it. With
        False the result is what ``Checkpoint.write`` produces, for ``Checkpoint.read``.
    max_shard_size : int, optional
        As for :class:`tfckpt.Writer`.
    storage_options : mapping, optional
        For a URL prefix, as for :class:`tfckpt.Writer`.

    Returns
    -------
    str
        The prefix.

    Raises
    ------
    InvalidArgumentError
        A bad name or value, or a root entry named ``save_counter`` while the counter is
        written; nothing is written at ``prefix``.

    Examples
    --------
    >>> tfckpt.save_objects("out/ckpt-1", {"model": {"dense": {"kernel": k, "bias": b}}})  # doctest: +SKIP
    'out/ckpt-1'
    >>> # TF: tf.train.Checkpoint(model=m).restore("out/ckpt-1").assert_consumed()
    """
    counter: Any = None
    if save_counter is not False:
        counter = np.int64(1 if save_counter is True else int(save_counter))
    layout = layout_tree(tree, save_counter=counter)
    return write_object_checkpoint(
        prefix, layout, lambda leaf: (leaf, None), max_shard_size=max_shard_size, storage_options=storage_options
    )


def check_copyable(ckpt: Checkpoint, keys: Iterable[str]) -> None:
    """Raise before anything is written if one of ``keys`` cannot be rewritten.

    Raises
    ------
    UnsupportedError
        A ``variant`` tensor (a serialized TensorList, dataset state...): tfckpt does not
        write DT_VARIANT.
    """
    for key in keys:
        if ckpt.dtype(key) == "variant":
            raise UnsupportedError(f"{ckpt.prefix}: tensor {key!r} is a variant tensor, which tfckpt cannot write")


def _resolve_names(template: Checkpoint, values: Mapping[str, Any]) -> dict[str, Any]:
    """Map each name of ``values`` to the template key it means (key, then path, then full name)."""
    by_path = template.variables("path")
    by_full = template.variables("full")
    resolved: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, value in values.items():
        if name in template:
            key = name
        elif name in by_path:
            key = by_path[name]
        elif name in by_full:
            key = by_full[name]
        else:
            candidates = [*by_path, *by_full, *template.keys()]
            close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise NotFoundError(
                f"{name!r} is neither a tensor of {template.prefix} nor one of its variables() names{hint}",
                name=name,
                suggestions=close,
            )
        if key == OBJECT_GRAPH_KEY:
            raise InvalidArgumentError(f"{OBJECT_GRAPH_KEY} is kept from the template and cannot be replaced")
        if key in resolved:
            raise InvalidArgumentError(f"{origin[key]!r} and {name!r} both name the tensor {key!r}")
        resolved[key] = value
        origin[key] = name
    return resolved


def _checked(template: Checkpoint, key: str, value: Any) -> tuple[Any, str]:
    """``value`` as a tensor of the template's dtype and shape, or a clear error."""
    want_dtype = template.dtype(key)
    want_shape = template.shape(key)
    has_dtype = isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "dtype")
    if has_dtype:
        info, arr = to_tensor(value, name=key)
        if info.name != want_dtype:
            raise InvalidArgumentError(
                f"{key!r}: expected dtype {want_dtype}, got {info.name} (convert with .astype before saving)"
            )
    else:  # plain Python numbers and lists take the template's dtype
        info, arr = to_tensor(value, dtype=want_dtype, name=key)
    if tuple(arr.shape) != want_shape:
        raise InvalidArgumentError(f"{key!r}: expected shape {want_shape}, got {tuple(arr.shape)}")
    return arr, want_dtype


def save_like(
    template: str | os.PathLike[str] | Checkpoint,
    prefix: str | os.PathLike[str],
    values: Mapping[str, Any],
    *,
    max_shard_size: int | None = None,
) -> str:
    """Write a copy of ``template`` with new values for some of its tensors.

    The template's object graph (``_CHECKPOINTABLE_OBJECT_GRAPH``) is copied unchanged, so
    TensorFlow restores the result into the same objects (a Keras model and its optimizer,
    say) as the template. Tensors not in ``values`` are copied.

    Parameters
    ----------
    template : str, PathLike or Checkpoint
        The checkpoint to imitate (anything :func:`tfckpt.open` accepts).
    prefix : str or PathLike
        Where to write.
    values : Mapping
        New values keyed by checkpoint key or by a name :meth:`Checkpoint.variables` returns
        (``"path"`` names first, then ``"full"`` names). Arrays must have the template's dtype
        and shape; plain Python numbers and lists are converted to the template's dtype.

    Returns
    -------
    str
        The prefix.

    Raises
    ------
    NotFoundError
        A name of ``values`` matches no tensor or variable (with suggestions).
    InvalidArgumentError
        A dtype or shape differs from the template's, two names mean the same tensor, or the
        graph tensor is given. Nothing is written at ``prefix``.
    UnsupportedError
        The template holds a variant tensor, which cannot be copied.

    Examples
    --------
    >>> new = {"hidden/kernel": torch_kernel.T.numpy()}                     # doctest: +SKIP
    >>> tfckpt.save_like("keras_ckpt/ckpt-1", "out/ckpt-1", new)             # doctest: +SKIP
    'out/ckpt-1'
    """
    own = not isinstance(template, Checkpoint)
    ckpt = open_checkpoint(template) if not isinstance(template, Checkpoint) else template
    try:
        replacements = _resolve_names(ckpt, values)
        checked = {key: _checked(ckpt, key, value) for key, value in replacements.items()}
        check_copyable(ckpt, (key for key in ckpt if key not in checked))
        with Writer(prefix, max_shard_size=max_shard_size) as writer:
            for key in _template_order(ckpt):
                if key in checked:
                    arr, dtype = checked.pop(key)
                    writer.add(key, arr, dtype=dtype)
                else:
                    writer.add(key, ckpt.get_tensor(key), dtype=ckpt.dtype(key))
        return writer.prefix
    finally:
        if own:
            ckpt.close()


def _template_order(ckpt: Checkpoint) -> Iterator[str]:
    """The template's keys with the graph last (the order TF writes data in)."""
    for key in ckpt:
        if key != OBJECT_GRAPH_KEY:
            yield key
    if OBJECT_GRAPH_KEY in ckpt:
        yield OBJECT_GRAPH_KEY

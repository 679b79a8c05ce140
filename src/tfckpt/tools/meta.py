"""The graph beside the weights: :func:`read_meta` for TF1 ``model.ckpt.meta`` files
(``MetaGraphDef``) and ``saved_model.pb`` (``SavedModel``), without TensorFlow.

What is read (``protos/tfckpt/proto/meta_graph.proto`` and its imports, trimmed to these fields):

* ``meta_info_def``: tags, ``tensorflow_version``, ``tensorflow_git_version``;
* ``collection_def``: a collection whose values are serialized ``VariableDef`` protos
  (``variables``, ``trainable_variables``, ``local_variables``, ``moving_average_variables``,
  ``model_variables``, ...) lists variables. A ``VariableDef`` names the variable's tensor
  (``dense/kernel:0``), its initializer op (``dense/kernel/Assign``), initial value and
  snapshot tensors, whether it is trainable, and for a slice of a partitioned variable its
  ``SaveSliceInfoDef`` (the full variable's name and shape, this slice's offset and shape);
* ``graph_def.node``: op types (counted), and the dtype and shape of each variable from the
  ``dtype``/``shape`` attributes of its op (``VariableV2``, ``VarHandleOp``);
* ``saver_def``: the Saver's tensor and op names, ``max_to_keep``, ``sharded``, format version;
* ``signature_def``: each signature's method and its inputs and outputs (tensor name, dtype,
  shape with ``None`` for unknown dimensions; ``None`` for an unknown rank).

A TF1 variable is stored in its checkpoint under :attr:`Variable.checkpoint_key`: its op name,
or for a slice the full variable's name.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Final

from google.protobuf.message import DecodeError

from ..errors import CorruptionError, InvalidArgumentError
from ..format._dtypes import DTYPES
from ..proto.meta_graph_pb2 import MetaGraphDef  # type: ignore[attr-defined, unused-ignore]
from ..proto.saved_model_pb2 import SavedModel  # type: ignore[attr-defined, unused-ignore]
from ..proto.variable_pb2 import VariableDef  # type: ignore[attr-defined, unused-ignore]
from ..storage._inputs import require_regular

__all__ = ["MetaGraph", "SavedModelInfo", "SaverInfo", "Signature", "SliceInfo", "TensorSpec", "Variable", "read_meta"]

#: The standard variable collections (``tf.compat.v1.GraphKeys``), in the order shown.
VARIABLE_COLLECTIONS: Final = (
    "variables", "trainable_variables", "local_variables", "moving_average_variables", "model_variables",
)  # fmt: skip
#: Ops whose ``dtype`` and ``shape`` attributes describe a variable.
VARIABLE_OPS: Final = ("VariableV2", "Variable", "VarHandleOp", "AutoReloadVariable")
#: ``SaverDef.CheckpointFormatVersion``.
SAVER_VERSIONS: Final = {0: "LEGACY", 1: "V1", 2: "V2"}
#: The name ``tf.saved_model.save`` and ``SavedModelBuilder`` give the graph file.
SAVED_MODEL_FILE: Final = "saved_model.pb"
#: Larger graph files are refused (protobuf's own limit on one message is 2 GiB).
MAX_GRAPH_BYTES: Final = 2**31 - 1

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class SliceInfo:
    """``SaveSliceInfoDef``: where this slice sits in its partitioned variable."""

    full_name: str
    full_shape: tuple[int, ...]
    var_offset: tuple[int, ...]
    var_shape: tuple[int, ...]


@dataclass(frozen=True)
class Variable:
    """One TF1 variable of a MetaGraph (from its ``VariableDef`` and its op's attributes)."""

    name: str  #: the variable's tensor, ``dense/kernel:0``
    dtype: str | None  #: TensorFlow dtype name; None if the graph has no such op
    shape: Shape | None  #: None for an unknown rank
    trainable: bool
    initializer: str  #: the initializer op, ``dense/kernel/Assign``
    initial_value: str
    initial_value_op: str | None  #: the op type that makes the initial value (``Const``, ``Add``, ...)
    snapshot: str
    is_resource: bool
    slice: SliceInfo | None
    collections: tuple[str, ...]  #: every collection that lists it

    @property
    def op_name(self) -> str:
        return self.name.rsplit(":", 1)[0] if ":" in self.name else self.name

    @property
    def checkpoint_key(self) -> str:
        """The name the variable's value has in the checkpoint (``Saver``'s default)."""
        return self.slice.full_name if self.slice is not None else self.op_name


@dataclass(frozen=True)
class SaverInfo:
    """``SaverDef``: how ``tf.compat.v1.train.Saver`` saves and restores this graph."""

    filename_tensor_name: str
    save_tensor_name: str
    restore_op_name: str
    max_to_keep: int
    sharded: bool
    keep_checkpoint_every_n_hours: float
    version: str  #: ``"V2"`` (bundles), ``"V1"`` or ``"LEGACY"``


@dataclass(frozen=True)
class TensorSpec:
    """A signature input or output (``TensorInfo``)."""

    name: str  #: the graph tensor (``serving_default_x:0``); for sparse ones the values tensor
    dtype: str
    shape: Shape | None  #: None for an unknown rank; None entries for unknown dimensions


@dataclass(frozen=True)
class Signature:
    """A ``SignatureDef``: what a SavedModel's function takes and returns."""

    method_name: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]


@dataclass(frozen=True)
class MetaGraph:
    """What :func:`read_meta` reads from one ``MetaGraphDef``."""

    tags: tuple[str, ...]
    tensorflow_version: str
    tensorflow_git_version: str
    graph_producer: int  #: ``GraphDef.versions.producer``
    variables: dict[str, Variable]  #: by tensor name, in the ``variables`` collection's order, then others
    collections: dict[str, list[str]]  #: collection -> variable names, for collections of VariableDefs
    saver: SaverInfo | None
    op_counts: dict[str, int]  #: op type -> node count, most frequent first
    signatures: dict[str, Signature]

    def collection(self, name: str) -> list[Variable]:
        """The variables of collection ``name`` (``"trainable_variables"``...), in its order."""
        return [self.variables[v] for v in self.collections.get(name, [])]

    def trainable_checkpoint_keys(self) -> set[str]:
        """Checkpoint keys of the trainable variables (what ``tfckpt ls`` marks)."""
        return {v.checkpoint_key for v in self.collection("trainable_variables")}


@dataclass(frozen=True)
class SavedModelInfo:
    """What :func:`read_meta` reads from a ``saved_model.pb``: its MetaGraphs (one per tag set)."""

    schema_version: int
    meta_graphs: list[MetaGraph]


def _dims(shape: object) -> Shape | None:
    if shape.unknown_rank:  # type: ignore[attr-defined]
        return None
    return tuple(None if d.size < 0 else int(d.size) for d in shape.dim)  # type: ignore[attr-defined]


def _dtype(enum: int) -> str:
    if enum == 0:
        return "invalid"  # DT_INVALID: what TF writes for an op (NoOp) named as a tensor
    info = DTYPES.get(enum) or DTYPES.get(enum - 100)  # 101...: reference types (float32_ref)
    return info.name if info is not None else f"dtype_{enum}"


def _spec(info: object) -> TensorSpec:
    kind = info.WhichOneof("encoding")  # type: ignore[attr-defined]
    if kind == "coo_sparse":
        name = info.coo_sparse.values_tensor_name  # type: ignore[attr-defined]
    elif kind == "composite_tensor":
        parts = info.composite_tensor.components  # type: ignore[attr-defined]
        name = ", ".join(c.name for c in parts)
    else:
        name = info.name  # type: ignore[attr-defined]
    return TensorSpec(name, _dtype(info.dtype), _dims(info.tensor_shape))  # type: ignore[attr-defined]


def _meta_graph(proto: object) -> MetaGraph:
    info = proto.meta_info_def  # type: ignore[attr-defined]
    nodes = {n.name: n for n in proto.graph_def.node}  # type: ignore[attr-defined]
    found: dict[str, tuple[object, list[str]]] = {}
    collections: dict[str, list[str]] = {}
    rank = {c: i for i, c in enumerate(VARIABLE_COLLECTIONS)}
    names = sorted(proto.collection_def, key=lambda c: (rank.get(c, len(rank)), c))  # type: ignore[attr-defined]
    for cname in names:
        col = proto.collection_def[cname]  # type: ignore[attr-defined]
        if col.WhichOneof("kind") != "bytes_list" or not col.bytes_list.value:
            continue
        members: list[str] = []
        for raw in col.bytes_list.value:
            var = VariableDef()
            try:
                var.ParseFromString(raw)
            except DecodeError:
                members = []
                break  # not a collection of variables (a collection of other protos)
            if not var.variable_name:
                members = []
                break
            members.append(var.variable_name)
            found.setdefault(var.variable_name, (var, []))[1].append(cname)
        if members:
            collections[cname] = members
    variables = {}
    for vname, (var, cols) in found.items():
        node = nodes.get(vname.rsplit(":", 1)[0])
        dtype = shape = None
        if node is not None and node.op in VARIABLE_OPS:
            if "dtype" in node.attr:
                dtype = _dtype(node.attr["dtype"].type)
            if "shape" in node.attr:
                shape = _dims(node.attr["shape"].shape)
        init_node = nodes.get(var.initial_value_name.rsplit(":", 1)[0])  # type: ignore[attr-defined]
        ssi = var.save_slice_info_def  # type: ignore[attr-defined]
        slice_info = None
        if var.HasField("save_slice_info_def"):  # type: ignore[attr-defined]
            slice_info = SliceInfo(ssi.full_name, tuple(ssi.full_shape), tuple(ssi.var_offset), tuple(ssi.var_shape))
        variables[vname] = Variable(
            vname, dtype, shape, var.trainable, var.initializer_name, var.initial_value_name,  # type: ignore[attr-defined]
            init_node.op if init_node is not None else None, var.snapshot_name, var.is_resource, slice_info, tuple(cols),  # type: ignore[attr-defined]
        )
    saver = None
    if proto.HasField("saver_def"):  # type: ignore[attr-defined]
        sd = proto.saver_def  # type: ignore[attr-defined]
        saver = SaverInfo(sd.filename_tensor_name, sd.save_tensor_name, sd.restore_op_name, sd.max_to_keep, sd.sharded,
                          sd.keep_checkpoint_every_n_hours, SAVER_VERSIONS.get(sd.version, str(sd.version)))
    signatures = {
        key: Signature(sig.method_name, {k: _spec(v) for k, v in sorted(sig.inputs.items())},
                       {k: _spec(v) for k, v in sorted(sig.outputs.items())})
        for key, sig in sorted(proto.signature_def.items())  # type: ignore[attr-defined]
    }
    counts = Counter(n.op for n in proto.graph_def.node)  # type: ignore[attr-defined]
    return MetaGraph(
        tuple(info.tags), info.tensorflow_version, info.tensorflow_git_version,
        proto.graph_def.versions.producer, variables, collections, saver,  # type: ignore[attr-defined]
        dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))), signatures,
    )


def _graph_file(path: str) -> str:
    """``path`` itself, a SavedModel directory's ``saved_model.pb``, or a checkpoint prefix's ``.meta``."""
    if os.path.isdir(path):
        pb = os.path.join(path, SAVED_MODEL_FILE)
        if os.path.isfile(pb):
            return pb
        metas = sorted(n for n in os.listdir(path) if n.endswith(".meta"))
        if metas:
            return os.path.join(path, metas[-1])
        raise FileNotFoundError(2, f"no {SAVED_MODEL_FILE} or .meta file in this directory", path)
    stem = path.removesuffix(".index")
    if (stem != path or not os.path.exists(path)) and os.path.isfile(stem + ".meta"):
        return stem + ".meta"
    if not os.path.exists(path) and os.path.isfile(stem + ".index"):
        raise FileNotFoundError(2, "no .meta graph beside this checkpoint (only TF1 Savers write one)", stem + ".meta")
    return path


def read_meta(path: str | os.PathLike[str]) -> MetaGraph | SavedModelInfo:
    """Read a TF1 ``.meta`` graph or a SavedModel's ``saved_model.pb``.

    Parameters
    ----------
    path : str or PathLike
        A ``.meta`` file, a checkpoint prefix with a ``.meta`` beside it, a ``saved_model.pb``,
        or a SavedModel directory.

    Returns
    -------
    MetaGraph or SavedModelInfo
        A :class:`MetaGraph` for a ``.meta`` file; a :class:`SavedModelInfo` (its MetaGraphs)
        for a SavedModel.

    Raises
    ------
    CorruptionError
        The file does not parse as a ``MetaGraphDef`` / ``SavedModel``.
    InvalidArgumentError
        The file is a checkpoint index or data shard, not a graph.
    FileNotFoundError
        Nothing at ``path``.

    Examples
    --------
    >>> meta = tfckpt.read_meta("run/model.ckpt-1000.meta")                   # doctest: +SKIP
    >>> [v.name for v in meta.collection("trainable_variables")]             # doctest: +SKIP
    ['dense/kernel:0', 'dense/bias:0']
    >>> tfckpt.read_meta("export/1").meta_graphs[0].signatures["serving_default"].inputs  # doctest: +SKIP
    """
    file = _graph_file(os.fspath(path))
    if file.endswith(".index") or ".data-" in os.path.basename(file):
        raise InvalidArgumentError(f"{file} is part of a checkpoint bundle, not a graph; pass the .meta file or saved_model.pb")
    require_regular(file, "a graph file")  # a FIFO or device would block or never end
    size = os.path.getsize(file)
    if size > MAX_GRAPH_BYTES:
        raise InvalidArgumentError(f"{file}: {size} bytes, larger than any protocol buffer can be")
    with open(file, "rb") as f:
        data = f.read()
    saved_model = os.path.basename(file) == SAVED_MODEL_FILE or file.endswith(".pb")
    proto = SavedModel() if saved_model else MetaGraphDef()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        what = "SavedModel" if saved_model else "MetaGraphDef"
        raise CorruptionError(f"cannot parse as a {what} ({len(data)} bytes): {e}", path=file) from None
    if saved_model:
        return SavedModelInfo(proto.saved_model_schema_version, [_meta_graph(mg) for mg in proto.meta_graphs])
    return _meta_graph(proto)

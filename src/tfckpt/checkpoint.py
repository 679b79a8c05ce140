"""The public reader: :func:`open` and :class:`Checkpoint`."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._paths import resolve
from .errors import CorruptionError, NotFoundError, UnsupportedError
from .format._dtypes import DTYPES
from .format._v2 import BundleReader
from .storage._local import LOCAL

if TYPE_CHECKING:  # (the protocol in its own module: its bytecode is not loaded at run time)
    from .format._source import TensorSource as _TensorSource
    from .objects import ObjectGraph

__all__ = ["Checkpoint", "open"]

#: Tensors decoded together by the bulk path (items, read_many): large enough to amortize
#: the array operations, small enough that their padded rows stay a few hundred KiB.
_BATCH = 4096


class Checkpoint:
    """A TensorFlow checkpoint opened for reading; a read-only mapping of name to array.

    Create it with :func:`tfckpt.open`. Use it as a context manager so its memory maps
    are released promptly.

    Lifetime of arrays: fixed-width tensors are returned as **read-only zero-copy views**
    into the memory-mapped data shard. Use them while the checkpoint is open; pass
    ``copy=True`` to :meth:`get_tensor` (or call ``.copy()``) for an array of your own.
    (A view that outlives :meth:`close` keeps its mapping alive rather than crashing.)
    Strings, partitioned variables and bundles of the other byte order are always copies.
    Opened with ``writable=True``, the views are writable and copy-on-write: the file never
    changes, and every read of a tensor from this ``Checkpoint`` sees the same memory, so
    in-place writes show in later reads of it (see :func:`open`).
    Tensors read from a URL are arrays over the fetched bytes (nothing is mapped; private
    writable copies with ``writable=True``), and stay valid after :meth:`close`.

    Attributes
    ----------
    prefix : str
        The checkpoint that was opened (after resolving directories and file names).
    format : str
        ``"V2"`` (tensor bundle, everything since TF 1.x) or ``"V1"`` (TensorSliceWriter).
    saved_model : str or None
        The SavedModel (or TF1 Hub module) directory when the checkpoint is its
        ``variables/variables``, else None.
    """

    def __init__(self, source: _TensorSource, prefix: str, format: str, *, saved_model: str | None = None) -> None:
        self._source = source
        self._read = source.read  # bound once: __getitem__ is the per-tensor hot path
        # arrays the source has read ahead (V2 bundles read in index order), by name:
        # popping one is reading it (see format._v2_bulk.read_ahead)
        ahead: dict[str, np.ndarray | None] = getattr(source, "ahead", {})
        self._pop_ahead = ahead.pop
        self.prefix = prefix
        self.format = format
        self.saved_model = saved_model
        self._object_graph: ObjectGraph | None = None

    # -- mapping protocol --------------------------------------------------------------

    def keys(self) -> list[str]:
        """Every tensor name, sorted (bytewise); the bundle header excluded."""
        return list(self._source)

    def __iter__(self) -> Iterator[str]:
        return iter(self._source)

    def __len__(self) -> int:
        return len(self._source)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._source

    def items(self) -> Iterator[tuple[str, np.ndarray]]:
        """``(name, array)`` for every tensor, in key order (views; see the class docs).

        The bulk path: entries are decoded in batches of 4096, as :meth:`read_many`
        does (remote bytes fetched a batch at a time).
        """
        batches = getattr(self._source, "iter_batches", None)  # V2 bundles: rows in index order
        if batches is None:
            batches = self._batches_by_name
        # chained in C: no Python frame per tensor
        return itertools.chain.from_iterable(itertools.starmap(zip, batches(_BATCH)))

    def _batches_by_name(self, size: int) -> Iterator[tuple[list[str], list[np.ndarray]]]:
        names = iter(self._source)
        while batch := list(itertools.islice(names, size)):
            self._prefetch(batch)
            yield batch, self._source.read_batch(batch)

    def __getitem__(self, name: str) -> np.ndarray:
        # get_tensor inlined: this is the per-tensor hot path
        if isinstance(name, str):
            arr = self._pop_ahead(name, None)
            if arr is not None:
                return arr
            try:
                return self._read(name)
            except NotFoundError:
                pass
        raise self._not_found(name)

    # -- tensors -----------------------------------------------------------------------

    def _check(self, name: str) -> None:
        if not (isinstance(name, str) and name in self._source):
            raise self._not_found(name)

    def _not_found(self, name: str) -> NotFoundError:
        if not isinstance(name, str):  # a mapping answers KeyError for any key, not TypeError
            hint = f"; did you mean {name.decode('utf-8', 'replace')!r}?" if isinstance(name, bytes) else ""
            return NotFoundError(f"tensor names are str, not {type(name).__name__}: {name!r}{hint}", name=str(name))
        candidates = list(self._source)
        import difflib  # only for this error message: keeps `import tfckpt` fast

        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
        if name.endswith(":0") and name[:-2] in self._source:
            close.insert(0, name[:-2])
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return NotFoundError(f"tensor {name!r} not found in {self.prefix}{hint}", name=name, suggestions=close)

    def get_tensor(self, name: str, *, copy: bool = False) -> np.ndarray:
        """The tensor ``name`` as a numpy array, bit for bit TensorFlow's reading.

        Scalars are 0-d arrays; strings are object arrays of ``bytes``; bfloat16, float8,
        int4 and friends use ``ml_dtypes``; quantized types their integer type.

        Parameters
        ----------
        name : str
            A key from :meth:`keys`.
        copy : bool
            Return an owned, writable array instead of a read-only view.

        Raises
        ------
        NotFoundError
            No tensor of that name (also a ``KeyError``); the message suggests close names.
        CorruptionError
            The stored bytes fail their checksum or contradict the index.
        UnsupportedError
            A variant tensor (use :meth:`variant_elements`).

        Examples
        --------
        >>> with tfckpt.open("examples/bert_tiny") as ckpt:            # doctest: +SKIP
        ...     w = ckpt["bert/embeddings/word_embeddings"]
        """
        if isinstance(name, str):
            try:
                return self._source.read(name, copy=copy)
            except NotFoundError:
                pass
        raise self._not_found(name)

    def read_many(self, names: Iterable[str], *, copy: bool = False) -> dict[str, np.ndarray]:
        """``{name: array}`` for ``names``, as :meth:`get_tensor`; remote tensors fetched concurrently.

        From ``s3://``, ``gs://``, ``https://``, ... every tensor's byte range is requested
        at once (many connections in flight), which is much faster than one
        :meth:`get_tensor` after another. Locally the index entries of ``names`` are
        decoded together with array operations, which leaves a fraction of a
        :meth:`get_tensor` call per tensor. The fetched bytes of all ``names`` are held
        in memory together.

        Raises
        ------
        NotFoundError
            A name that is not in the checkpoint (checked before anything is fetched).
        CorruptionError
            Stored bytes fail their checksum or contradict the index.

        Examples
        --------
        >>> with tfckpt.open("s3://bucket/bert/bert_model.ckpt") as ckpt:     # doctest: +SKIP
        ...     weights = ckpt.read_many([n for n in ckpt if "adam" not in n])
        """
        wanted = list(names)
        for name in wanted:
            self._check(name)
        self._prefetch(wanted)
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(wanted), _BATCH):  # the bulk path: entries decoded together
            batch = wanted[start : start + _BATCH]
            out.update(zip(batch, self._source.read_batch(batch, copy=copy)))
        return out

    def _prefetch(self, names: list[str]) -> None:
        """Fetch the bytes of ``names`` concurrently when they are remote (else nothing)."""
        prefetch = getattr(self._source, "prefetch", None)  # V2 bundles; V1 files are always local
        if prefetch is not None:
            prefetch(names)

    def shape(self, name: str) -> tuple[int, ...]:
        """The shape of ``name`` as a tuple of ints (no data is read)."""
        self._check(name)
        return self._source.info(name)[1]

    def dtype(self, name: str) -> str:
        """TensorFlow's dtype name of ``name``: ``"float32"``, ``"bfloat16"``, ``"string"``, ``"variant"``, ..."""
        self._check(name)
        return DTYPES[self._source.info(name)[0]].name

    def raw_bytes(self, name: str) -> bytes:
        """The payload of ``name`` exactly as stored (for variant tensors, debugging, hashing)."""
        self._check(name)
        return self._source.raw_bytes(name)

    def variant_elements(self, name: str) -> list[bytes]:
        """Each element of a variant tensor as its serialized ``VariantTensorDataProto``."""
        self._check(name)
        return self._source.variant_elements(name)

    # -- object graph (TF2 object-based checkpoints; see tfckpt.objects) -----------------

    @property
    def object_graph(self) -> ObjectGraph | None:
        """The parsed ``TrackableObjectGraph``, or None for a name-based (TF1) checkpoint.

        Parsed on first use and cached. See :class:`tfckpt.objects.ObjectGraph`.

        Raises
        ------
        CorruptionError
            ``_CHECKPOINTABLE_OBJECT_GRAPH`` is not a scalar string or not a valid graph.
        """
        from .objects import OBJECT_GRAPH_KEY, ObjectGraph

        if self._object_graph is None and OBJECT_GRAPH_KEY in self._source:
            dtype, shape = self._source.info(OBJECT_GRAPH_KEY)
            if DTYPES[dtype].name != "string" or shape != ():
                raise CorruptionError(
                    f"expected a scalar string, found {DTYPES[dtype].name}{list(shape)}", path=self.prefix, tensor=OBJECT_GRAPH_KEY
                )
            data = bytes(self._source.read(OBJECT_GRAPH_KEY)[()])
            self._object_graph = ObjectGraph.parse(data, path=self.prefix)
        return self._object_graph

    def object_paths(self, key: str, *, limit: int = 10) -> list[str]:
        """Paths from the root object to the object that owns tensor ``key``, at most ``limit``.

        Paths are ``/``-joined *unescaped* local names, shortest first; the first is the one
        TensorFlow keyed the tensor by. ``[]`` for a name-based checkpoint or a tensor no
        object owns (such as the graph itself). Work is bounded however many paths the
        graph has (see :meth:`tfckpt.objects.ObjectGraph.paths_to`).

        Raises
        ------
        NotFoundError
            No tensor ``key`` in the checkpoint.
        CorruptionError
            The object graph is damaged.

        Examples
        --------
        >>> ckpt.object_paths("optimizer/_trainable_variables/0/.ATTRIBUTES/VARIABLE_VALUE")  # doctest: +SKIP
        ['model/_operations/1/_kernel', 'optimizer/_trainable_variables/0', 'model/optimizer/_trainable_variables/0']
        """
        self._check(key)
        graph = self.object_graph
        return [] if graph is None else graph.object_paths(key, limit=limit)

    def variables(self, names: Literal["path", "full"] = "path") -> dict[str, str]:
        """Clean name -> checkpoint key for the model's own variables.

        Left out: bookkeeping (``save_counter``, the graph) and optimizer state (slot
        variables, and variables every path to which passes through an optimizer: an object
        reached by an edge named ``optimizer`` or owning slot variables). For name-based
        checkpoints the names are the keys, minus optimizer slots (``<var>/Adam``,
        ``<var>/adam_m``, ...), ``beta1_power``/``beta2_power`` and ``global_step``; see
        :func:`tfckpt.objects.name_based_model_variables`.

        Parameters
        ----------
        names : {"path", "full"}
            ``"path"``: the shortest path avoiding optimizers, unescaped, without the
            ``/.ATTRIBUTES/VARIABLE_VALUE`` suffix (``model/_operations/1/_kernel``).
            ``"full"``: the variable's own ``full_name`` where present and unique
            (``hidden/kernel``), else the path.

        Raises
        ------
        InvalidArgumentError
            An unknown ``names`` mode.
        CorruptionError
            The object graph is damaged.

        Examples
        --------
        >>> with tfckpt.open("keras_ckpt/ckpt-1") as ckpt:                   # doctest: +SKIP
        ...     weights = {name: ckpt[key] for name, key in ckpt.variables("full").items()}
        """
        from .errors import InvalidArgumentError
        from .objects import name_based_model_variables

        if names not in ("path", "full"):
            raise InvalidArgumentError(f"names must be 'path' or 'full', got {names!r}")
        graph = self.object_graph
        if graph is None:
            return {name: name for name in name_based_model_variables(list(self._source))}
        return graph.variables(names)

    # -- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Release the memory maps. Idempotent."""
        self._source.close()

    def __enter__(self) -> Checkpoint:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<tfckpt.Checkpoint {self.prefix!r} ({self.format}, {len(self)} tensors)>"


def open(
    path: str | os.PathLike[str], *, verify: bool = True, writable: bool = False, storage_options: Mapping[str, Any] | None = None
) -> Checkpoint:
    """Open a TensorFlow checkpoint for reading, without TensorFlow.

    Parameters
    ----------
    path : str or PathLike
        The checkpoint prefix (``run/model.ckpt-7``), its ``.index`` file, any of its
        ``.data-XXXXX-of-NNNNN`` shards, the ``checkpoint`` state file, a directory, or a
        V1 checkpoint file. A directory resolves through its state file; if that is missing
        or names paths that no longer exist, the bundle with the same base name in the
        directory is used, else the newest one. ``Checkpoint.prefix`` tells which.
        The same forms work as fsspec URLs (``gs://``, ``s3://``, ``https://``,
        ``simplecache::s3://...``) and through a local archive (``bert.zip``,
        ``bert.zip/dir/bert_model.ckpt``); a SavedModel directory, ``saved_model.pb`` or
        ``tfhub_module.pb`` opens its ``variables/variables``. See docs/remote.md.
    verify : bool
        Verify each tensor's CRC32C on its first read (default; bytes fetched from a URL
        on every read). Index block checksums are always verified.
    writable : bool
        Return writable zero-copy arrays: the data shards are mapped copy-on-write (private
        mappings, as ``numpy.load(mmap_mode="c")``), so writing into an array copies the
        touched pages (4 KiB each) into this process's memory and never reaches the file.
        Reading costs the same as the default read-only mapping; memory grows only by the
        pages written. Needed to hand arrays to frameworks that write in place
        (``torch.from_numpy``, optimizer steps) or refuse read-only memory (DLPack).
    storage_options : mapping, optional
        For URLs: passed to the fsspec file system (``{"anon": True}``,
        ``{"client_kwargs": {"endpoint_url": ...}}``, ...), as ``fsspec.open`` takes them.

    Raises
    ------
    NotFoundError
        Nothing at ``path`` looks like a checkpoint.
    InvalidArgumentError
        ``path`` is the wrong kind of file (a ``.meta`` graph, a temporary file, ...), or
        not a path at all (a file object: a checkpoint is several files).
    CorruptionError
        The index is damaged.
    UnsupportedError
        A V1 checkpoint at a URL or in an archive (V1 is read from local files only).
    ImportError
        A URL without fsspec (``pip install 'tfckpt[remote]'``) or its protocol's package.

    Examples
    --------
    >>> import tfckpt
    >>> with tfckpt.open("examples/bert_tiny") as ckpt:                # doctest: +SKIP
    ...     for name in ckpt:
    ...         print(name, ckpt.dtype(name), ckpt.shape(name))
    """
    resolved = resolve(path, storage_options)
    store = resolved.store
    if resolved.is_v1:
        if store is LOCAL:
            from .format._v1 import V1Reader

            return Checkpoint(V1Reader(list(resolved.v1_files), verify=verify), resolved.prefix, "V1")
        store.close()
        raise UnsupportedError(f"{store.url(resolved.prefix)} is a V1 checkpoint; V1 checkpoints are read from local files only")
    try:
        reader = BundleReader(resolved.prefix, verify=verify, writable=writable, store=store, index=resolved.index)
    except BaseException:
        store.close()
        raise
    saved_model = store.url(resolved.saved_model) if resolved.saved_model is not None else None
    return Checkpoint(reader, store.url(resolved.prefix), "V2", saved_model=saved_model)

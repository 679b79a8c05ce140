"""Writing V2 checkpoints that TensorFlow loads as its own: :func:`save` and :class:`Writer`.

For the same tensors added in the same order, a single-shard write is byte-identical to
TensorFlow's ``SaveV2`` (``BundleWriter``): payloads concatenated in arrival order into
``<prefix>.data-00000-of-00001``, entries sorted by key into ``<prefix>.index`` with the
header ``num_shards: 1, endianness: LITTLE, version {producer: 1}``.

Multiple shards (``max_shard_size``) are what TF's ``MergeV2Checkpoints`` produces:
``<prefix>.data-%05d-of-%05d`` with ``num_shards: N`` in the header and each entry's
``shard_id``/``offset`` pointing into its shard.

Atomicity (the commit sequence of :meth:`Writer.finish`)::

    write  <prefix>.data-0000i.tempstate<random>   (as tensors arrive; fsync at finish, in a
                                                   helper thread while the index is built)
    write  <prefix>.index.tempstate<random>        (fsync)
    link   existing <prefix>.data-i-of-N  -> <that name>.tempstate<random>   (backup)
    rename each data temporary -> <prefix>.data-i-of-N
    fsync  the directory
    rename the index temporary -> <prefix>.index   <- commit point
    delete the backups, and data shards of an older checkpoint with another shard count

* An *exception* at any step before the commit point (bad input, ``OSError``, a failed
  rename, ``KeyboardInterrupt``) deletes the temporaries, renames the backups back and
  removes shards that did not exist before: the prefix is exactly as it was.
* A *crash* (power loss, ``SIGKILL``) at a new prefix never exposes a partial checkpoint:
  without the index there is no checkpoint. It can leave ``*.tempstate*`` files, which
  readers ignore and which are not deleted automatically (they may belong to a concurrent
  writer).
* A crash while *overwriting an existing prefix* has one window this file format cannot
  close: between the first data rename and the index rename, the old index sits next to
  new data files of the same names. Every entry carries a CRC32C of its bytes, so tfckpt
  and TensorFlow report such a tensor as corrupt instead of returning wrong values (if the
  shard count changed, the old index still names its own untouched files and stays fully
  readable). Writing each checkpoint to a new prefix, as :class:`CheckpointManager` does,
  avoids the window entirely.
"""

from __future__ import annotations

import array
import bisect
import math
import operator
import os
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Final

import numpy as np

from .errors import InvalidArgumentError
from .format._bundle import HEADER_KEY, BundleEntry, BundleHeader, data_filename, index_filename
from .format._bundle_encode import plain_entry_fields, plain_entry_prefix, plain_entry_tail
from .format._coding import MAX_VARINT64_BYTES, crc32c, crc32c_function, mask_crc
from .format._dtypes import DTYPE_BY_NAME, DTYPES, STRING, DTypeInfo
from .format._ordered_code import encode_slice_key
from .format._rows import fits
from .format._string_payloads import encode_string_tensor
from .format._table import BULK_MIN_ENTRIES, JoinedKeys, TableBuilder
from .format._tensors import BUFFER_DTYPES, ArrayLike, byte_view, to_tensor
from .storage import is_url
from .storage._atomic import check_output, remove_quietly
from .storage._shards import (
    DIRECT_MIN,
    PARALLEL_CRC_MIN,
    WRITE_BEHIND_CHUNK,
    WRITEBACK_CHUNK,
    Background,
    Shard,
    address_of,
    drop_backups,
    fsync_dir,
    is_stale_shard,
    open_direct,
    put_back,
    remove_stale_shards,
    set_aside,
    temp_name,
    write_and_checksum,
    write_at,
    write_at_direct,
)

if TYPE_CHECKING:
    from .storage._upload import Upload

__all__ = ["Writer", "save", "to_tensor"]


def _name_key(name: str) -> bytes:
    """The index key of a tensor name (UTF-8; lone surrogates from ``os.fsdecode`` round-trip)."""
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"tensor names must be non-empty strings, got {name!r}")
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as e:
        raise InvalidArgumentError(f"tensor name {name!r} is not encodable as UTF-8: {e}") from e


#: A row of :attr:`Writer._rows`: prefix id, shard id, offset, size, crc32c (unmasked).
_ENTRY_ROW: Final = struct.Struct("<5q")
_ROW_FIELDS: Final = 5

#: Filled bytes after which :meth:`Writer._fill` starts a background flush (if none is
#: running): less than :data:`WRITEBACK_CHUNK`, so that what :meth:`Writer.finish` still
#: has to flush after the last tensor, when threads fill reserved bytes faster than the
#: disk takes them, is a few tensors' worth.
FILLED_WRITEBACK_CHUNK: Final = 16 << 20


class Reserved:
    """Bytes :meth:`Writer._reserve` set aside in a data shard: ``size`` bytes at ``offset``,
    for the index row ``row`` (whose CRC32C :meth:`Writer._fill` sets).

    Writes go through descriptors of its own (a ``dup`` of the shard's and, for at least
    :data:`DIRECT_MIN` bytes, one that writes whole pages directly to the disk:
    :func:`.write_at_direct`), open until :meth:`close` (:meth:`Writer._fill` closes them):
    if the writer is abandoned while threads still write, they write into the deleted
    temporary file, never into a descriptor that was closed and reused for another file."""

    __slots__ = ("_direct", "_direct_bytes", "_fd", "offset", "row", "shard", "size")

    def __init__(self, shard: Shard, offset: int, size: int, row: int) -> None:
        self.shard, self.offset, self.size, self.row = shard, offset, size, row
        self._fd = os.dup(shard.file.fileno())
        self._direct = open_direct(shard.temp_path) if size >= DIRECT_MIN else -1
        self._direct_bytes: list[int] = []  # appended to by any thread (atomic), summed by cached

    def write(self, data: memoryview, at: int) -> None:
        """Write ``data`` (bytes) at ``at`` bytes into the reserved ones; any thread, any
        order, until :meth:`close`. The pages of ``data`` that line up with the file's go
        directly to the disk (:func:`.write_at_direct`): a caller that wants this places its
        bytes in memory at the file offset's distance from a page boundary."""
        if at < 0 or at + data.nbytes > self.size:
            raise ValueError(f"{data.nbytes} bytes at {at} do not fit the {self.size} reserved")
        if self._fd < 0:
            raise ValueError("write to a closed reservation")
        if self._direct >= 0 and data.nbytes >= DIRECT_MIN:
            self._direct_bytes.append(write_at_direct(self._fd, self._direct, data, self.offset + at, address_of(data)))
        else:
            write_at(self._fd, data, self.offset + at)

    @property
    def cached(self) -> int:
        """The bytes written so far through the page cache (not directly to the disk), or to
        be written, for :meth:`Writer._fill`'s background flushes."""
        return self.size - sum(self._direct_bytes)

    def close(self) -> None:
        """Close its descriptors, once no thread writes any more. Idempotent."""
        fd, self._fd = self._fd, -1
        direct, self._direct = self._direct, -1
        if direct >= 0:
            os.close(direct)
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            self.close()


#: Tensors of a dict or list that :meth:`Writer.add_many` checks and writes as one batch
#: (see :meth:`Writer._add_batch`): enough to make the batch's fixed cost of ~20 numpy calls
#: small per tensor, few enough that one odd tensor sends only its batch the slow way.
ADD_BATCH: Final = 2048

_DTYPE_OF: Final = operator.attrgetter("dtype")
_SHAPE_OF: Final = operator.attrgetter("shape")
_NDIM_OF: Final = operator.attrgetter("ndim")
_FIRST: Final = operator.itemgetter(0)
_SECOND: Final = operator.itemgetter(1)

#: A batch of :meth:`Writer.add_many` is copied into the shard's staging buffer
#: (:meth:`.Shard.stage`) if its bytes come to at most this; a bigger one is written array
#: by array, with no copy.
STAGED_BATCH_MAX: Final = 16 << 20

#: Index entries encoded per bulk step: bounds the temporary arrays (a few hundred bytes an
#: entry for typical names: the index of 200,000 tensors peaked at 28 MiB traced, output included).
INDEX_CHUNK: Final = 1 << 14

#: The header of a one-shard bundle, which :class:`_EarlyIndex` writes first.
_ONE_SHARD_HEADER: Final = BundleHeader(num_shards=1).encode()

#: The longest :func:`._bundle_encode.plain_entry_tail`: three tagged varints and a tagged fixed32.
_MAX_PLAIN_TAIL: Final = 3 * (1 + MAX_VARINT64_BYTES) + 5


class _EarlyIndex:
    """The index of a one-shard checkpoint, encoded while its tensors are still being
    written (:meth:`Writer._index_while_writing`): :func:`write_index_rows` of the same
    entries, fed in row order to a :class:`TableBuilder` in memory that already holds the
    header. Only for keys that arrive in key order (as the sorted dicts of models do): the
    builder refuses the first key out of order, and the writer then drops it."""

    __slots__ = ("blocks", "done", "table")

    def __init__(self) -> None:
        self.blocks = _Parts()
        self.table = TableBuilder(self.blocks)  # type: ignore[arg-type]  # it only writes
        self.table.add(HEADER_KEY, _ONE_SHARD_HEADER)
        self.done = 0  # rows encoded

    def encode(self, keys: _FreshKeys, rows: array.array[int], prefixes: list[bytes], upto: int) -> None:
        """Encode the entries of rows ``done`` to ``upto`` (``keys`` of every row, ``rows``
        the writer's flat row array). Raises ValueError for a key out of order."""
        first, self.done = self.done, upto
        chunk = np.frombuffer(rows[first * _ROW_FIELDS : upto * _ROW_FIELDS], np.int64).reshape(-1, _ROW_FIELDS)
        _add_plain_entries(self.table, keys[first:upto], chunk, prefixes)

    def finish(self, file: BinaryIO) -> None:
        """Finish the table and write it to ``file``."""
        self.table.finish()
        file.writelines(self.blocks.parts)


class _FreshKeys:
    """The keys of a fresh dict's batches (:attr:`Writer._unindexed`), in row order: their
    UTF-8 bytes one after another and where each one ends, with no ``bytes`` object per
    key (a batch's names are joined and encoded at once: :meth:`Writer._add_batch`).
    Slices are :class:`.JoinedKeys` for the index, copied out so that this can still grow."""

    __slots__ = ("data", "ends")

    def __init__(self) -> None:
        self.data = bytearray()
        self.ends = array.array("q")  # where each key's bytes end in data

    def __len__(self) -> int:
        return len(self.ends)

    def extend(self, data: bytes, lengths: np.ndarray) -> None:
        """Append the keys whose bytes, one after another, are ``data`` (``lengths`` each)."""
        self.ends.frombytes(byte_view(np.cumsum(lengths) + len(self.data)))
        self.data += data

    def __getitem__(self, index: slice) -> JoinedKeys:
        first, stop, _ = index.indices(len(self))
        stop = max(first, stop)
        start = self.ends[first - 1] if first else 0
        ends = np.frombuffer(self.ends[first:stop], np.int64)  # a copy's buffer: ends can still grow
        return JoinedKeys(bytes(self.data[start : int(ends[-1]) if stop > first else start]), np.diff(ends, prepend=start))

    def tolist(self) -> list[bytes]:
        return list(self[0 : len(self)])


class _Parts:
    """A write-only file that keeps what is written, as written: the blocks of an
    :class:`_EarlyIndex`, with no copy into a growing buffer (whose fresh pages, a fault
    each, cost more than the copy)."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(data)
        return len(data)


class Writer:
    """Streams tensors into a new checkpoint at ``prefix``.

    Each :meth:`add` writes the tensor's bytes immediately, so memory stays bounded by the
    largest tensor. Leaving the ``with`` block normally calls :meth:`finish`; leaving it
    with an exception calls :meth:`abandon` and nothing at ``prefix`` changes.

    Parameters
    ----------
    prefix : str or PathLike
        Checkpoint prefix, e.g. ``"out/model.ckpt-1"``; the directory is created.
    max_shard_size : int, optional
        Start a new data shard before a tensor that would take the current one past this
        many bytes (a tensor larger than the limit gets a shard of its own). Default: one
        shard, as TensorFlow's ``SaveV2``.
    partial : bool
        This bundle is one worker's part of a checkpoint, to be completed by
        :func:`tfckpt.merge`: the slices of a partitioned variable need not cover its full
        shape (other workers write the rest), as with TensorFlow's ``BundleWriter``.
    storage_options : mapping, optional
        For a URL prefix (``s3://``, ``gs://``, ``file://``, ...): the fsspec file system's
        options. The bundle is written to a local temporary directory, then uploaded: data
        objects first, the index last (see docs/remote.md).

    Raises
    ------
    InvalidArgumentError
        ``prefix`` names a directory, or ``max_shard_size`` is not positive; its
        ``.index`` or a data file exists and is not a regular file (a device, a FIFO, a
        directory: never replaced); from :meth:`add`/:meth:`add_slice`/:meth:`finish`,
        bad names, values or slices.
    OSError
        The directory cannot be created or written; the prefix is left as it was.

    Examples
    --------
    >>> with tfckpt.Writer("out/model.ckpt-1") as w:                    # doctest: +SKIP
    ...     w.add("dense/kernel", np.zeros((3, 4), np.float32))
    ...     w.add("global_step", np.int64(1))
    """

    def __init__(
        self,
        prefix: str | os.PathLike[str],
        *,
        max_shard_size: int | None = None,
        partial: bool = False,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.prefix = os.fspath(prefix)
        self._upload: Upload | None = None
        if is_url(self.prefix):  # staged locally, uploaded by finish(): see tfckpt.storage._upload
            from .storage._upload import Upload

            self.prefix, self._upload = Upload.start(self.prefix, storage_options)
            if self._upload is not None:
                self.prefix = self._upload.staging_prefix
        if not self.prefix or self.prefix.endswith(os.sep):
            raise InvalidArgumentError(f"checkpoint prefix {self.prefix!r} must name a file prefix, not a directory")
        if max_shard_size is not None and max_shard_size <= 0:
            raise InvalidArgumentError(f"max_shard_size must be positive, got {max_shard_size}")
        self.max_shard_size = max_shard_size
        self.partial = partial
        # Index entries are kept as rows of numbers and encoded all at once in finish()
        # (_bundle_encode.plain_entry_fields): key -> row number in _rows, a flat int64 array of
        # _ROW_FIELDS per row (prefix id, shard id, offset, size, crc32c unmasked), where the
        # prefix id names the entry's dtype and shape fields. A batch of add_many appends
        # its rows with one copy; finish() views them all as one (n, 5) numpy array.
        # Batches of a dict into an empty writer (names known distinct) append their keys
        # to _unindexed instead, the keys of the last rows in order; _index() moves them
        # into _entries when a lookup needs it, and finish() often never does.
        self._entries: dict[bytes, int] = {}
        self._unindexed = _FreshKeys()
        self._rows = array.array("q")
        self._prefixes: list[bytes] = []
        self._prefix_ids: dict[tuple[int, tuple[int, ...]], int] = {}
        self._partitioned: dict[bytes, list[tuple[tuple[int, ...], tuple[int, ...]]]] = {}
        self._partition_meta: dict[bytes, tuple[int, tuple[int, ...]]] = {}
        self._shards: list[Shard] = []
        self._unfilled: dict[int, str] = {}  # row -> name of each _reserve() not yet _fill()ed
        # The index of fresh batches, encoded while their bytes are written: while all rows
        # are in _unindexed (see _index_while_writing), else None.
        self._early: _EarlyIndex | None = None
        check_output(index_filename(self.prefix))  # fail before writing gigabytes, not at finish()
        self._state = "open"
        directory = os.path.dirname(self.prefix)
        if directory:
            os.makedirs(directory, exist_ok=True)

    # -- adding tensors ----------------------------------------------------------------

    def _require_open(self) -> None:
        if self._state != "open":
            raise InvalidArgumentError(f"writer for {self.prefix} is already {self._state}")

    def _index(self) -> dict[bytes, int]:
        """:attr:`_entries` with the :attr:`_unindexed` keys added: every key -> its row."""
        keys = self._unindexed
        self._early = None  # the rows are no longer all fresh ones
        if keys:
            self._unindexed = _FreshKeys()
            first = len(self._rows) // _ROW_FIELDS - len(keys)
            self._entries.update(zip(keys.tolist(), range(first, first + len(keys))))
        return self._entries

    def _check_name(self, name: str) -> bytes:
        key = _name_key(name)
        if key in self._index() or key in self._partitioned:
            raise InvalidArgumentError(f"duplicate tensor name {name!r}")
        return key

    def _prefix_id(self, enum: int, shape: tuple[int, ...]) -> int:
        """The id of the dtype-and-shape fields shared by entries of this dtype and shape."""
        meta = (enum, shape)
        prefix_id = self._prefix_ids.get(meta)
        if prefix_id is None:
            prefix_id = self._prefix_ids[meta] = len(self._prefixes)
            self._prefixes.append(plain_entry_prefix(enum, shape))
        return prefix_id

    def _shard_stem(self, shard_id: int) -> str:
        # The shard count is unknown until finish(); the temporary lives beside the prefix.
        return f"{self.prefix}.data-{shard_id:05d}"

    def _shard_for(self, nbytes: int) -> tuple[int, Shard]:
        if not self._shards:
            self._shards.append(Shard(self._shard_stem(0)))
        shard = self._shards[-1]
        limit = self.max_shard_size
        if limit is not None and shard.size and shard.size + nbytes > limit:
            shard = Shard(self._shard_stem(len(self._shards)))
            self._shards.append(shard)
        return len(self._shards) - 1, shard

    def _write_payload(self, info: DTypeInfo, arr: np.ndarray) -> tuple[int, int, int, int]:
        """Append one tensor's bytes; return ``(shard_id, offset, size, crc32c)``."""
        if info.enum == STRING:
            payload, crc = encode_string_tensor(list(arr.reshape(-1)))
            data: bytes | memoryview = payload
        else:
            data = byte_view(arr) if arr.size else b""
            crc = -1 if len(data) >= PARALLEL_CRC_MIN else crc32c(data)  # -1: checksummed while written
        size = len(data) if isinstance(data, bytes) else data.nbytes
        shard_id, shard = self._shard_for(size)
        offset = shard.size
        try:
            shard.settle()
            if crc < 0:
                crc = write_and_checksum(shard.file, data)
            else:
                shard.file.write(data)
        except BaseException:
            self.abandon()
            raise
        shard.wrote(size)
        return shard_id, offset, size, crc

    def add(self, name: str, value: ArrayLike, *, dtype: str | None = None) -> None:
        """Write tensor ``name`` now.

        ``value`` is a numpy array (any supported dtype, any memory order), a
        ``torch.Tensor`` or ``jax.Array`` (or any DLPack or ``__array__`` producer), a numpy
        or Python scalar, or a (nested) sequence; ``str``/``bytes`` data becomes a string
        tensor. ``dtype`` forces a TensorFlow dtype by name (``"qint8"``, ``"bfloat16"``).

        Raises
        ------
        InvalidArgumentError
            Empty or duplicate name, unsupported dtype, non-string objects in a string
            tensor. Nothing is renamed into place; the writer stays usable.
        """
        if dtype is None:
            self._add_pairs(((name, value),))
        else:
            self._add_general(name, value, dtype)

    def add_many(self, items: Mapping[str, ArrayLike] | Iterable[tuple[str, ArrayLike]]) -> None:
        """Write every ``(name, value)`` of ``items`` (a mapping or an iterable of pairs),
        in order: the same as :meth:`add` for each, in a loop tuned for many small tensors.

        Raises
        ------
        InvalidArgumentError
            As :meth:`add`, for the first bad item; the items before it are written.
        """
        # A dict's names are distinct, so its keys are too (strict UTF-8 is one-to-one; plain
        # str, whose equality is by value): into a writer holding no entry yet, no batch
        # needs a duplicate lookup. Each batch's names are checked to be plain str as it
        # comes (below), while they are in the CPU cache.
        fresh = type(items) is dict and not self._entries and not self._unindexed and not self._partitioned and "" not in items
        if type(items) is dict:
            # Batches taken from the dict's iterators, not from lists of all its names and
            # values: every name and array is touched while its batch is in the cache.
            batches: Iterable[tuple[list[Any], list[Any]]] = _dict_batches(items)
        elif isinstance(items, (list, tuple)) and set(map(type, items)) <= {tuple} and set(map(len, items)) <= {2}:
            names, values = list(map(_FIRST, items)), list(map(_SECOND, items))
            batches = ((names[i : i + ADD_BATCH], values[i : i + ADD_BATCH]) for i in range(0, len(values), ADD_BATCH))
        else:  # a stream (or a lazy mapping): one item at a time, memory bounded by one tensor
            self._add_pairs(items.items() if isinstance(items, Mapping) else items)
            return
        # Accepted batches of small tensors are copied into the shard's staging buffer (see
        # _add_batch) until about WRITE_BEHIND_CHUNK bytes, which a helper thread writes
        # while the next batches are prepared.
        if fresh and self.max_shard_size is None:
            self._early = _EarlyIndex()
        try:
            for batch_names, batch_values in batches:
                # Past a batch with a name that is not a plain str, every batch is checked
                # against the entries before it.
                fresh = fresh and set(map(type, batch_names)) == {str}
                staged = self._add_batch(batch_names, batch_values, distinct=fresh)
                if staged is None:
                    self._write_staged()
                    self._add_pairs(zip(batch_names, batch_values))
                elif not staged:  # big tensors: a call each costs little next to their bytes
                    self._write_staged()
                    self._write_each(batch_values)
                elif self._shards[-1].staged >= WRITE_BEHIND_CHUNK:
                    self._index_while_writing()
                    self._write_staged()
        finally:
            self._write_staged()  # the bytes of every recorded entry, whatever happens next

    def _index_while_writing(self) -> None:
        """While the disk is behind (handing over the next chunk would wait for a write in
        flight), encode index entries of the rows recorded so far (:class:`_EarlyIndex`),
        :data:`INDEX_CHUNK` at a time: work :meth:`finish` no longer does after the last
        tensor. A key out of order drops the early index; finish() then builds it whole."""
        shard = self._shards[-1]
        while self._early is not None and shard.would_wait:
            early = self._early
            upto = min(len(self._unindexed), early.done + INDEX_CHUNK)
            if upto - early.done < BULK_MIN_ENTRIES:
                return
            try:
                early.encode(self._unindexed, self._rows, self._prefixes, upto)
            except BaseException as e:
                self._early = None
                if not isinstance(e, ValueError):
                    raise

    def _add_batch(self, names: Sequence[Any], values: Sequence[Any], *, distinct: bool = False) -> bool | None:
        """Record a batch of small native numpy arrays under new names, with a few calls per
        batch instead of a Python loop per tensor, and reserve their bytes in the current
        shard; return whether their bytes, if they come to at most :data:`STAGED_BATCH_MAX`,
        were staged there (:meth:`.Shard.stage`; the caller writes them:
        :meth:`_write_staged`; else the arrays themselves, :meth:`_write_each`). Return None, having changed nothing,
        if any item needs more: then the caller takes the one-item path, which makes the
        same checks and writes the same bytes, and raises for bad items. ``distinct``: the
        names are known to be non-empty and to differ from each other and from every entry
        (the caller's dict into an empty writer); their keys then go to :attr:`_unindexed`,
        with no dict update.

        What is left per tensor runs in C: ``str.encode`` of the names, ``type``, ``dtype``
        and ``shape`` lookups, one CRC32C call each (which also refuses a value whose buffer
        is not C-contiguous), the dict update and the copy of the arrays' buffers.
        """
        n = len(values)
        if not n or self._state != "open" or set(map(type, values)) != {np.ndarray}:
            return None
        try:
            if distinct:  # plain str names (add_many checked): one join and one encode for all
                text = "".join(names)
                data = text.encode()
                # ASCII (one byte a character) unless the encoding is longer than the text.
                key_lengths = np.fromiter(map(len, names if len(data) == len(text) else map(str.encode, names)), np.int64, n)
            else:
                keys = list(map(str.encode, names))  # UTF-8; non-str names and lone surrogates go the slow way
        except (TypeError, UnicodeError):
            return None
        # The batch's distinct (dtype, shape) kinds; usually one, then no per-tensor lookup.
        dtypes = set(map(_DTYPE_OF, values))
        if set(map(_NDIM_OF, values)) == {1}:  # vectors: their lengths, no shape tuple made per array
            shapes = dict.fromkeys((length,) for length in set(map(len, values)))
        else:
            shapes = dict.fromkeys(map(_SHAPE_OF, values))
        kind_of: np.ndarray | None = None
        if len(dtypes) == 1 and len(shapes) == 1:
            kinds = [(*dtypes, *shapes)]
        else:
            metas = list(zip(map(_DTYPE_OF, values), map(_SHAPE_OF, values)))
            numbers = {meta: i for i, meta in enumerate(dict.fromkeys(metas))}
            kind_of = np.fromiter(map(numbers.__getitem__, metas), np.intp, n)
            kinds = list(numbers)
        kind_sizes = []
        for dtype, shape in kinds:
            row = BUFFER_DTYPES.get(dtype)
            size = dtype.itemsize * math.prod(shape)
            if row is None or not 0 < size < PARALLEL_CRC_MIN:
                return None
            kind_sizes.append(size)
        sizes = np.full(n, kind_sizes[0], np.int64) if kind_of is None else np.array(kind_sizes, np.int64)[kind_of]
        total = int(sizes.sum())
        if not self._shards:
            self._shards.append(Shard(self._shard_stem(0)))
        shard = self._shards[-1]
        if self.max_shard_size is not None and shard.size + total > self.max_shard_size:
            return None  # the one-item path starts the next shard where it must
        try:
            crcs = np.fromiter(map(crc32c_function(), values), np.int64, n)
        except (ValueError, TypeError, BufferError):  # not C-contiguous: no plain buffer
            return None
        # Copied now, while the arrays are still in the CPU cache from their CRC, into the
        # shard's reused staging buffer; big ones are written one by one.
        staged = total <= STAGED_BATCH_MAX
        mark = shard.stage(values, total) if staged else None
        if not distinct:
            entries = self._index()
            if not entries.keys().isdisjoint(keys) or (self._partitioned and not self._partitioned.keys().isdisjoint(keys)):
                if mark is not None:
                    shard.unstage(mark)
                return None
            before, first_row = len(entries), len(self._rows) // _ROW_FIELDS
            entries.update(zip(keys, range(first_row, first_row + n)))
            if len(entries) != before + n or b"" in entries:  # a name repeated within the batch, or empty
                for key in keys:  # all were new: removing them restores the dict
                    entries.pop(key, None)
                if mark is not None:
                    shard.unstage(mark)
                return None
        kind_ids = np.array([self._prefix_id(BUFFER_DTYPES[dtype].enum, shape) for dtype, shape in kinds], np.int64)
        ends = np.cumsum(sizes)
        rows = np.empty((n, _ROW_FIELDS), np.int64)
        rows[:, 0] = kind_ids[0] if kind_of is None else kind_ids[kind_of]
        rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4] = len(self._shards) - 1, ends - sizes + shard.size, sizes, crcs
        self._rows.frombytes(byte_view(rows))  # its bytes, with no intermediate copy
        if distinct:  # with its rows, so _unindexed stays the keys of the last rows
            self._unindexed.extend(data, key_lengths)
        shard.size += total
        return staged

    def _write_staged(self) -> None:
        """Write the staged batches (their bytes are reserved at the end of the current
        shard) in a helper thread."""
        if self._shards:
            try:
                self._shards[-1].write_staged()
            except BaseException:
                self.abandon()
                raise

    def _write_each(self, values: Sequence[np.ndarray]) -> None:
        """Write arrays whose bytes are reserved at the end of the current shard, one call each."""
        shard = self._shards[-1]
        try:
            shard.settle()
            for value in values:
                shard.file.write(value)  # type: ignore[call-overload]  # a C-contiguous array is its bytes
                shard.unflushed += value.nbytes
                if shard.unflushed >= WRITEBACK_CHUNK:
                    shard.write_back()
        except BaseException:
            self.abandon()
            raise

    def _add_pairs(self, pairs: Iterable[tuple[str, ArrayLike]]) -> None:
        # One item at a time (add(), streams, and batches _add_batch declined): the common
        # case runs inline here, a small, non-empty, C-ordered array of a native-order numpy
        # dtype under a new name into the current shard. Everything else takes _add_general;
        # both make the same checks and the same bytes.
        entries, partitioned, prefix_ids, rows = self._index(), self._partitioned, self._prefix_ids, self._rows
        limit = self.max_shard_size
        checksum = crc32c_function()
        shard = self._shards[-1] if self._shards else None
        shard_id = len(self._shards) - 1
        if shard is not None:
            try:
                shard.settle()  # the staged writes of add_many's go first
            except BaseException:
                self.abandon()
                raise
        for name, value in pairs:
            if shard is not None and type(value) is np.ndarray and type(name) is str and name and self._state == "open":
                row = BUFFER_DTYPES.get(value.dtype)
                size = value.nbytes
                if (
                    row is not None
                    and 0 < size < PARALLEL_CRC_MIN
                    and value.flags.c_contiguous
                    and (limit is None or shard.size + size <= limit)
                ):
                    try:
                        key = name.encode("utf-8", "surrogateescape")
                    except UnicodeEncodeError:
                        key = b""  # _add_general raises the proper error
                    if key and key not in entries and key not in partitioned:
                        offset = shard.size
                        try:
                            shard.file.write(value)  # type: ignore[call-overload]  # a C-contiguous array is its bytes
                        except BaseException:
                            self.abandon()
                            raise
                        shard.size = offset + size
                        shard.unflushed += size
                        if shard.unflushed >= WRITEBACK_CHUNK:
                            shard.write_back()
                        prefix_id = prefix_ids.get((row.enum, value.shape))
                        if prefix_id is None:
                            prefix_id = self._prefix_id(row.enum, value.shape)
                        entries[key] = len(rows) // _ROW_FIELDS
                        rows.extend((prefix_id, shard_id, offset, size, checksum(value)))
                        continue
            self._add_general(name, value, None)
            shard = self._shards[-1]
            shard_id = len(self._shards) - 1

    def _add_general(self, name: str, value: ArrayLike, dtype: str | None) -> None:
        self._require_open()
        key = self._check_name(name)
        info, arr = to_tensor(value, dtype=dtype, name=name)
        shard_id, offset, size, crc = self._write_payload(info, arr)
        self._add_row(key, self._prefix_id(info.enum, tuple(arr.shape)), shard_id, offset, size, crc)

    def _add_row(self, key: bytes, prefix_id: int, shard_id: int, offset: int, size: int, crc: int) -> None:
        self._entries[key] = len(self._rows) // _ROW_FIELDS
        self._rows.extend((prefix_id, shard_id, offset, size, crc))

    def add_slice(
        self, name: str, value: ArrayLike, *, full_shape: Sequence[int], start: Sequence[int], dtype: str | None = None
    ) -> None:
        """Write one slice of the partitioned variable ``name`` (TF's ``BundleWriter::AddSlice``).

        ``start`` is the slice's offset along each axis, ``value.shape`` its lengths. Add
        slices that together cover ``full_shape`` exactly; TensorFlow reassembles them.

        Raises
        ------
        InvalidArgumentError
            Rank or dtype mismatch with earlier slices, a slice outside ``full_shape``, a
            slice overlapping an earlier one, or a name already used by a whole tensor.
        """
        self._require_open()
        key = _name_key(name)
        if key in self._index():
            raise InvalidArgumentError(f"{name!r} was already added as a whole tensor")
        info, arr = to_tensor(value, dtype=dtype, name=name)
        try:
            full = tuple(operator.index(d) for d in full_shape)
            starts = tuple(operator.index(s) for s in start)
        except TypeError as e:
            raise InvalidArgumentError(f"{name!r}: full_shape and start must be sequences of integers: {e}") from e
        lengths = tuple(arr.shape)
        if len(full) != arr.ndim or len(starts) != arr.ndim:
            raise InvalidArgumentError(
                f"{name!r}: slice of rank {arr.ndim} needs full_shape and start of that rank, got {list(full)} and {list(starts)}"
            )
        for s, n, d in zip(starts, lengths, full):
            if s < 0 or d < 0 or s + n > d:
                raise InvalidArgumentError(f"{name!r}: slice start {list(starts)} shape {list(lengths)} is outside {list(full)}")
        meta = self._partition_meta.setdefault(key, (info.enum, full))
        if meta != (info.enum, full):
            raise InvalidArgumentError(
                f"{name!r}: slice is {info.name}{list(full)} but earlier slices were {DTYPES[meta[0]].name}{list(meta[1])}"
            )
        slices = self._partitioned.setdefault(key, [])
        for other_starts, other_lengths in slices:
            if all(s < os_ + on and os_ < s + n for s, n, os_, on in zip(starts, lengths, other_starts, other_lengths)):
                raise InvalidArgumentError(f"{name!r}: slice at {list(starts)} overlaps the slice at {list(other_starts)}")
        slices.append((starts, lengths))
        shard_id, offset, size, crc = self._write_payload(info, arr)
        self._add_row(encode_slice_key(key, starts, lengths), self._prefix_id(info.enum, lengths), shard_id, offset, size, crc)

    def _reserve(self, name: str, dtype: str, shape: tuple[int, ...]) -> Reserved:
        """Make room for tensor ``name``'s bytes at the end of the current shard, for a caller
        that writes them itself (:meth:`Reserved.write`, from any thread, in any order) and
        then calls :meth:`_fill` with their CRC32C; :meth:`finish` refuses until it has. The
        entry and the place are those :meth:`add` of a C-ordered ``dtype`` array of ``shape``
        would make, so the checkpoint is byte-identical (:mod:`tfckpt.tools.average` computes
        each tensor in chunks on several threads and writes them where they belong, with no
        whole-tensor buffer).

        Raises
        ------
        InvalidArgumentError
            A bad or duplicate name, or a dtype without a fixed width.
        """
        self._require_open()
        key = self._check_name(name)
        info = DTYPE_BY_NAME.get(dtype)
        if info is None or info.numpy is None or info.numpy.kind == "O":
            raise InvalidArgumentError(f"{name!r}: no fixed-width bytes to reserve for dtype {dtype!r}")
        size = math.prod(shape) * info.numpy.itemsize
        shard_id, shard = self._shard_for(size)
        offset = shard.size
        try:
            shard.write_staged()  # none outside add_many(); were there any, they come before the reserved bytes
            shard.settle()  # the staged writes in flight, then the file appends after them
            shard.file.seek(offset + size)  # flushes what is buffered; the next tensor's bytes go after the reserved ones
        except BaseException:
            self.abandon()
            raise
        shard.size = offset + size
        row = len(self._rows) // _ROW_FIELDS  # the one _add_row appends
        self._unfilled[row] = name
        self._add_row(key, self._prefix_id(info.enum, tuple(shape)), shard_id, offset, size, 0)
        return Reserved(shard, offset, size, row)

    def _fill(self, reserved: Reserved, crc: int) -> None:
        """Record that ``reserved``'s bytes are written, with their CRC32C (unmasked), and
        close it."""
        reserved.close()
        del self._unfilled[reserved.row]
        self._rows[reserved.row * _ROW_FIELDS + 4] = crc
        shard = reserved.shard
        shard.unflushed += reserved.cached  # a background flush covers these (see WriteBack); direct ones skipped the page cache
        if shard.unflushed >= FILLED_WRITEBACK_CHUNK:
            try:
                shard.write_back()
            except BaseException:
                self.abandon()
                raise

    # -- lifecycle ---------------------------------------------------------------------

    def _full_entries(self) -> dict[bytes, bytes]:
        """Check the partitioned variables; return their full entries (name -> encoded
        entry with ``slices``). A single slice that is the whole tensor becomes a plain
        entry under the name instead, as in TensorFlow."""
        full_entries = {}
        for key, slices in self._partitioned.items():
            enum, full = self._partition_meta[key]
            if len(slices) == 1 and slices[0] == (tuple(0 for _ in full), full):
                entries = self._index()
                entries[key] = entries.pop(encode_slice_key(key, *slices[0]))
                continue
            covered = sum(int(np.prod(n)) for _, n in slices)
            if covered != int(np.prod(full)) and not self.partial:
                raise InvalidArgumentError(
                    f"{key.decode('utf-8', 'surrogateescape')!r}: slices cover {covered} of {int(np.prod(full))} elements"
                )
            full_entries[key] = BundleEntry(enum, full, 0, 0, 0, 0, tuple(slices)).encode()
        return full_entries

    def _write_index(self, file: BinaryIO, encoded: dict[bytes, bytes]) -> None:
        early, fresh_rows = self._early, len(self._unindexed)
        if (
            early is not None
            and fresh_rows * _ROW_FIELDS == len(self._rows)  # every row a fresh batch's (else _index() dropped it)
            and encoded.keys() == {HEADER_KEY}  # and nothing else to add
            and encoded[HEADER_KEY] == _ONE_SHARD_HEADER
        ):
            try:
                early.encode(self._unindexed, self._rows, self._prefixes, fresh_rows)
                early.finish(file)
                return
            except ValueError:  # a key out of order: the whole index, sorted, below
                pass
            finally:
                self._early = None
        rows = np.frombuffer(self._rows, np.int64).reshape(-1, _ROW_FIELDS)
        # Only fresh batches: the keys in row order, no dict needed (nor built, if sorted).
        entries = self._unindexed.tolist() if not self._entries else self._index()
        write_index_rows(file, entries, rows, self._prefixes, encoded)

    def _sync_shards(self) -> None:
        for shard in self._shards:
            shard.sync()

    def finish(self) -> str:
        """Write the index and rename everything into place; return the prefix.

        Order: fsync the data shards while the index is built and written under a
        temporary name and fsynced; if a checkpoint exists at the prefix, remove its index
        (hard-linked aside first) and fsync the directory; rename the shards into place
        (hard-linking any file they replace aside first), fsync the directory, rename the
        index into place (the commit point), then delete the set-aside files and any data
        shards of a previous checkpoint at this prefix that had a different shard count.
        A process killed at any moment leaves the previous checkpoint or the new one, or,
        when it overwrites a prefix and dies between removing the old index and renaming
        the new one, no checkpoint there; never an index over data it does not describe.

        Raises
        ------
        InvalidArgumentError
            Slices of a partitioned variable do not cover its full shape. As for any
            exception here (``OSError`` included), the temporaries are removed, files
            already renamed are put back, and the prefix is left as it was.
        """
        self._require_open()
        index_temp = None
        directory = os.path.dirname(self.prefix) or "."
        placed: list[tuple[str, bool, str | None]] = []  # (final path, existed before, hard-link backup)
        syncing: Background | None = None
        committed = False
        try:
            if self._unfilled:
                raise InvalidArgumentError(
                    f"{len(self._unfilled)} reserved tensors were never written, e.g. {next(iter(self._unfilled.values()))!r}"
                )
            full_entries = self._full_entries()
            if not self._shards:
                self._shards.append(Shard(self._shard_stem(0)))
            count = len(self._shards)
            for i, shard in enumerate(self._shards):
                shard.final_path = data_filename(self.prefix, i, count)
                check_output(shard.final_path)
            check_output(index_filename(self.prefix))
            # fsync is disk-bound and releases the GIL: it overlaps building the index.
            syncing = Background(self._sync_shards)
            index_temp = temp_name(index_filename(self.prefix))
            with open(index_temp, "wb") as f:
                self._write_index(f, {HEADER_KEY: BundleHeader(num_shards=count).encode(), **full_entries})
                f.flush()
                os.fsync(f.fileno())
            syncing.wait()
            for shard in self._shards:
                shard.file.close()
            index_path = index_filename(self.prefix)
            if os.path.lexists(index_path):
                # Overwriting: the old index goes first (kept aside for put_back), so a crash
                # between the shard renames and the index rename leaves no checkpoint at the
                # prefix, never the old index over new data.
                placed.append(set_aside(index_path))
                os.unlink(index_path)
                fsync_dir(directory)
            for shard in self._shards:
                placed.append(set_aside(shard.final_path))
                os.replace(shard.temp_path, shard.final_path)
            # The shard renames must be durable before the index can name them.
            fsync_dir(directory)
            os.replace(index_temp, index_filename(self.prefix))
            committed = True
        except BaseException:
            if syncing is not None:
                syncing.wait(quiet=True)  # before abandon() closes the files it uses
            if index_temp is not None:
                remove_quietly(index_temp)
            if not committed:
                put_back(placed)
            self.abandon()
            raise
        finally:
            if committed:
                drop_backups(placed)
        self._state = "finished"
        remove_stale_shards(self.prefix, count)
        fsync_dir(directory)
        if self._upload is not None:
            staged = self.prefix
            base = os.path.basename(staged)
            self.prefix = self._upload.commit(
                [(data_filename(staged, i, count), data_filename(self._upload.prefix, i, count)) for i in range(count)],
                (index_filename(staged), index_filename(self._upload.prefix)),
                lambda name: is_stale_shard(name, base, count),
            )
        return self.prefix

    def abandon(self) -> None:
        """Drop everything written so far; the prefix is left as it was. Idempotent."""
        if self._state == "finished":
            return
        for shard in self._shards:
            shard.join()
            shard.release_buffers()
            try:
                shard.file.close()
            except OSError:
                pass
            remove_quietly(shard.temp_path)
        if self._upload is not None:
            self._upload.abandon()
        self._state = "abandoned"

    def __enter__(self) -> Writer:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.abandon()

    def __del__(self) -> None:
        if getattr(self, "_state", "finished") == "open":
            self.abandon()


def _dict_batches(items: dict[Any, Any]) -> Iterator[tuple[list[Any], list[Any]]]:
    """The names and values of ``items``, :data:`ADD_BATCH` at a time, in order."""
    names, values = iter(items), iter(items.values())
    for _ in range(0, len(items), ADD_BATCH):
        yield list(islice(names, ADD_BATCH)), list(islice(values, ADD_BATCH))


def write_index(file: BinaryIO, entries: dict[bytes, bytes], prefixes: list[bytes], encoded: dict[bytes, bytes]) -> None:
    """:func:`write_index_rows` of plain ``entries`` given as key -> :data:`_ENTRY_ROW`-packed
    row (what :func:`tfckpt.merge` collects)."""
    rows = np.frombuffer(b"".join(entries.values()), np.int64).reshape(-1, _ROW_FIELDS)
    write_index_rows(file, list(entries), rows, prefixes, encoded)


def write_index_rows(
    file: BinaryIO,
    entries: Mapping[bytes, int] | list[bytes],
    rows: np.ndarray,
    prefixes: list[bytes],
    encoded: dict[bytes, bytes],
) -> None:
    """Write an index table: the plain ``entries`` (key -> row number in ``rows``, an
    ``(n, 5)`` array of prefix id, shard id, offset, size and unmasked crc32c, whose prefix
    id indexes ``prefixes``; or a list of the keys of ``rows`` in order), encoded in bulk,
    and in key order between them the ``encoded`` ones (the header first, then the full
    entries of partitioned variables)."""
    keys = sorted(entries)
    if isinstance(entries, list):
        if keys != entries:  # else added in key order (a sorted source): the rows are too
            row_of = dict(zip(entries, range(len(entries))))
            rows = rows[np.fromiter(map(row_of.__getitem__, keys), np.intp, len(keys))]
    elif keys == list(entries):  # added in key order: no lookup per key
        rows = rows[np.fromiter(entries.values(), np.intp, len(keys))]
    else:
        rows = rows[np.fromiter(map(entries.__getitem__, keys), np.intp, len(keys))]
    table = TableBuilder(file)
    start = 0
    for key in sorted(encoded):
        end = bisect.bisect_left(keys, key, start)
        _add_plain_entries(table, keys[start:end], rows[start:end], prefixes)
        table.add(key, encoded[key])
        start = end
    _add_plain_entries(table, keys[start:], rows[start:], prefixes)
    table.finish()


def _add_plain_entries(table: TableBuilder, keys: Sequence[bytes], rows: np.ndarray, prefixes: list[bytes]) -> None:
    """Encode and add the entries of ``keys`` (``rows`` in the same order), :data:`INDEX_CHUNK` at a time."""
    prefix_lengths = np.array([len(p) for p in prefixes] or [0], np.int64)
    width = int(prefix_lengths.max()) + _MAX_PLAIN_TAIL
    for first in range(0, len(keys), INDEX_CHUNK):
        chunk, chunk_rows = keys[first : first + INDEX_CHUNK], rows[first : first + INDEX_CHUNK]
        # The padded rows are as wide as the longest prefix (shape): bulk unless a few
        # high-rank shapes among many small ones would make the padding dominate.
        if len(chunk) >= BULK_MIN_ENTRIES and fits(len(chunk), width, int(prefix_lengths[chunk_rows[:, 0]].sum())):
            table.add_fields(chunk, plain_entry_fields(prefixes, *chunk_rows.T))
            continue
        for key, (prefix_id, shard_id, offset, size, crc) in zip(chunk, chunk_rows.tolist()):
            table.add(key, prefixes[prefix_id] + plain_entry_tail(shard_id, offset, size, mask_crc(crc)))


def save(
    prefix: str | os.PathLike[str],
    tensors: Mapping[str, ArrayLike] | Iterable[tuple[str, ArrayLike]],
    *,
    max_shard_size: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """Write ``tensors`` as a TensorFlow (V2, name-based) checkpoint at ``prefix``.

    ``prefix`` may be a URL (``s3://bucket/run/model.ckpt-1``, with fsspec's
    ``storage_options``): see :class:`Writer`.

    Keys are the tensor names as given; data is written in iteration order, so the files
    are byte-identical to ``tf.raw_ops.SaveV2`` with the same names in the same order.

    Returns
    -------
    str
        The prefix, ready for ``tf.train.load_checkpoint``.

    Raises
    ------
    InvalidArgumentError
        A bad name or value; nothing is written at ``prefix``.
    OSError
        Writing or renaming failed; what was at ``prefix`` before is left intact.

    Examples
    --------
    >>> tfckpt.save("out/model.ckpt-1", {"w": np.ones((2, 3), np.float32), "step": 1})  # doctest: +SKIP
    'out/model.ckpt-1'
    """
    with Writer(prefix, max_shard_size=max_shard_size, storage_options=storage_options) as writer:
        writer.add_many(tensors)
    return writer.prefix

"""Merging bundles written by several workers into one: :func:`merge`, TensorFlow's
``MergeV2Checkpoints`` without TensorFlow.

Each worker of a distributed save writes a bundle of its own (``<prefix>_temp/part-0000i-of-0000n``);
the merge reads only their indexes and produces one bundle whose index is byte-identical to
what ``tf.raw_ops.MergeV2Checkpoints`` writes from the same inputs (``MergeBundles`` in
``tensor_bundle.cc``):

* inputs are read in the order given; each index's entries in key order;
* header: ``num_shards`` is the sum of the inputs'; ``endianness`` and ``version`` must agree
  and are copied from the first input;
* a key seen for the first time keeps its entry, with ``shard_id`` renumbered: each input data
  file gets the next new id the first time an entry names it, so files are numbered in the
  order their first entries appear, not by their old numbers. The full entry of a partitioned
  variable goes through the same numbering (with its ``shard_id`` 0), as in TensorFlow;
* a key seen again is an error, except for the full entry of a partitioned variable, whose
  ``slices`` are appended to the first one's (dtype and full shape must agree);
* data files are not read: each becomes ``<dst>.data-<new id>-of-<count>`` by a hard link (a
  rename with ``delete_inputs``), or a copy where the file system has no links.

Where tfckpt differs from TensorFlow: every check is made before any file changes (TensorFlow
renames data files as it goes and can fail half way, or crash on a dtype mismatch); slices of
one variable that overlap are refused; a data file no entry names (a worker that saved no
tensor) is kept and numbered after the others, so the header's shard count always matches the
files (TensorFlow then writes an index that names files it did not create). The output is
committed as :class:`tfckpt.Writer` commits: data files under temporary names, renamed into
place, the index last.

Inputs and output may be URLs (``s3://``, ``gs://``, ...; :mod:`tfckpt.storage`): each
input index is read with one request, each data object is copied server-side when input and
output are on one file system (``cp_file``: S3's CopyObject), and streamed otherwise. A URL
output is committed by :class:`tfckpt.storage._upload.Upload`, the sequence every write to a
URL uses: data objects first, the index last, and after a failure no index at ``dst``.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final

import numpy as np

from ..errors import CorruptionError, InvalidArgumentError
from ..format._bundle import HEADER_KEY, BundleEntry, BundleHeader, data_filename, decode_plain_entries, index_filename
from ..format._bundle_encode import plain_entry_prefix
from ..format._coding import unmask_crc
from ..format._dtypes import DTYPES
from ..format._table import iter_table
from ..format._v2 import decode_name
from ..storage import Store, is_url, options_for, store_for
from ..storage._atomic import check_output, remove_quietly
from ..storage._local import LOCAL
from ..storage._shards import drop_backups, fsync_dir, is_stale_shard, put_back, remove_stale_shards, set_aside, temp_name
from ..storage._upload import Upload
from ..writer import write_index

__all__ = ["MergePlan", "commit_merge", "merge", "plan_merge"]

PathLike = str | os.PathLike[str]

#: A file of an input: its store and the path in it.
DataFile = tuple[Store, str]


#: A plain entry's row for :func:`tfckpt.writer.write_index`: prefix id, shard id, offset,
#: size, unmasked crc32c (the Writer's ``_ENTRY_ROW``).
_ROW: Final = struct.Struct("<5q")


@dataclass
class MergePlan:
    """What :func:`merge` will write: the header, the entries, and the input data files in
    their new shard order. Entries without slices are kept as packed rows (``rows``, with
    ``prefixes`` holding the encoded dtype-and-shape fields they share) and encoded in bulk
    as the Writer does; the full entries of partitioned variables are in ``sliced``."""

    header: BundleHeader
    rows: dict[bytes, bytes] = field(default_factory=dict)
    prefixes: list[bytes] = field(default_factory=list)
    sliced: dict[bytes, BundleEntry] = field(default_factory=dict)
    data_files: list[DataFile] = field(default_factory=list)
    #: key -> the input prefix its entry came from (for error messages)
    origin: dict[bytes, str] = field(default_factory=dict)

    @property
    def entry_count(self) -> int:
        return len(self.rows) + len(self.sliced)


def _read_index(store: Store, prefix: str) -> tuple[BundleHeader, list[tuple[bytes, bytes]]]:
    """The header and entries of ``prefix``'s index: one read (one request for a URL)."""
    path = store.url(index_filename(prefix))
    try:
        data = store.get(index_filename(prefix), what="a checkpoint index")
    except FileNotFoundError:
        raise FileNotFoundError(2, "no such checkpoint index (merge needs every part's .index file)", path) from None
    items = list(iter_table(data, path))
    if not items or items[0][0] != HEADER_KEY:
        raise CorruptionError("index does not start with the bundle header (empty key)", path=path)
    return BundleHeader.decode(items[0][1], path), items[1:]


def _overlaps(a: tuple[tuple[int, ...], tuple[int, ...]], b: tuple[tuple[int, ...], tuple[int, ...]], shape: tuple[int, ...]) -> bool:
    """Do two slices (starts, lengths; length -1 = the whole axis) share an element?"""
    for sa, la, sb, lb, d in zip(a[0], a[1], b[0], b[1], shape):
        ea = d if la < 0 else sa + la
        eb = d if lb < 0 else sb + lb
        if not (sa < eb and sb < ea):
            return False
    return True


def _add_slices(plan: MergePlan, key: bytes, entry: BundleEntry, prefix: str) -> None:
    """Append the slices of ``entry`` (from ``prefix``) to the full entry seen before."""
    name = decode_name(key)
    other = plan.origin[key]
    existing = plan.sliced.get(key)
    if existing is None or not entry.slices:
        raise InvalidArgumentError(f"tensor {name!r} is in both {other} and {prefix} (a tensor can be saved by one worker only)")
    if (existing.dtype, existing.shape) != (entry.dtype, entry.shape):
        raise InvalidArgumentError(
            f"partitioned variable {name!r}: {other} has {DTYPES[existing.dtype].name}{list(existing.shape)}, "
            f"{prefix} has {DTYPES[entry.dtype].name}{list(entry.shape)}"
        )
    for s in entry.slices:
        clash = next((t for t in existing.slices if _overlaps(s, t, entry.shape)), None)
        if clash is not None:
            raise InvalidArgumentError(
                f"partitioned variable {name!r}: the slice at {list(s[0])} from {prefix} overlaps the slice at {list(clash[0])} from {other}"
            )
    plan.sliced[key] = existing._replace(slices=existing.slices + entry.slices)


def plan_merge(prefixes: Sequence[PathLike], *, storage_options: Mapping[str, Any] | None = None) -> MergePlan:
    """Read the indexes of ``prefixes`` (paths or URLs, ``storage_options`` for fsspec) and
    work out the merged index (see the module docs).

    Raises
    ------
    InvalidArgumentError
        No prefixes; a tensor in two inputs; slices of one variable with different dtypes or
        full shapes, or overlapping; inputs of different byte orders or format versions.
    CorruptionError
        An input index is damaged, or an entry names a shard its header does not have.
    FileNotFoundError
        An input's index or one of its data files is missing.
    """
    names = [os.fspath(p) for p in prefixes]
    if not names:
        raise InvalidArgumentError("merge needs at least one input prefix")
    plan: MergePlan | None = None
    shard_ids: dict[str, int] = {}  # input data file (as a URL or path) -> new shard id, in order of first use
    located: dict[str, DataFile] = {}
    prefix_ids: dict[tuple[int, tuple[int, ...]], int] = {}
    total_shards = 0
    all_files: list[str] = []
    pack = _ROW.pack
    for prefix in names:
        store, inner = store_for(prefix, options_for(prefix, storage_options))
        header, items = _read_index(store, inner)
        path = store.url(index_filename(inner))
        total_shards += header.num_shards
        files = []
        for i in range(header.num_shards):
            data_file = data_filename(inner, i, header.num_shards)
            files.append(store.url(data_file))
            located[files[-1]] = (store, data_file)
        all_files += files
        if plan is None:
            plan = MergePlan(header)
        else:
            first = plan.header
            if header.endianness != first.endianness:
                raise InvalidArgumentError(f"{prefix}: byte order differs from {names[0]}'s; cannot merge bundles of both")
            if (header.producer, header.min_consumer, header.bad_consumers) != (first.producer, first.min_consumer, first.bad_consumers):
                raise InvalidArgumentError(
                    f"{prefix}: format version {header.producer}/{header.min_consumer} differs from {names[0]}'s "
                    f"{first.producer}/{first.min_consumer}"
                )
        rows, origin = plan.rows, plan.origin
        new_ids: dict[int, int] = {}  # this input's shard id -> new shard id
        # The plain entries' fields decoded column-wise (the bulk decoder), the rest one by one.
        batch = decode_plain_entries([value for _, value in items])
        kinds = batch.kinds
        crcs: np.ndarray = unmask_crc(batch.crc32c.astype(np.int64))  # type: ignore[arg-type, assignment]  # works column-wise
        columns = zip(
            batch.plain.tolist(), batch.kind.tolist(), batch.shard_id.tolist(), batch.offset.tolist(), batch.size.tolist(),
            crcs.tolist(),
        )
        for (key, value), (is_plain, kind, shard, offset, size, crc) in zip(items, columns):
            if key in origin:
                _add_slices(plan, key, BundleEntry.decode(value, path, decode_name(key)), prefix)
                continue
            entry = None
            if is_plain:
                dtype, shape = kinds[kind]
            else:
                entry = BundleEntry.decode(value, path, decode_name(key))
                dtype, shape, shard, offset, size, crc = (
                    entry.dtype, entry.shape, entry.shard_id, entry.offset, entry.size, unmask_crc(entry.crc32c)
                )
            new_id = new_ids.get(shard)
            if new_id is None:
                if shard >= header.num_shards:
                    raise CorruptionError(f"entry names shard {shard} of a bundle of {header.num_shards}", path=path, tensor=decode_name(key))
                new_id = new_ids[shard] = shard_ids.setdefault(files[shard], len(shard_ids))
            origin[key] = prefix
            if entry is not None and entry.slices:
                plan.sliced[key] = entry._replace(shard_id=new_id)
                continue
            prefix_id = prefix_ids.get((dtype, shape))
            if prefix_id is None:
                prefix_id = prefix_ids[dtype, shape] = len(plan.prefixes)
                plan.prefixes.append(plain_entry_prefix(dtype, shape))
            rows[key] = pack(prefix_id, new_id, offset, size, crc)
    assert plan is not None
    # Files no entry names keep their bytes and take the ids after the named ones, so the
    # summed shard count in the header matches the files.
    for path in all_files:
        shard_ids.setdefault(path, len(shard_ids))
    plan.header = plan.header._replace(num_shards=total_shards)
    plan.data_files = [located[url] for url in sorted(shard_ids, key=shard_ids.__getitem__)]
    for store, path in plan.data_files:
        if not store.isfile(path):
            raise FileNotFoundError(2, "data shard missing (every .data-* file of every part is needed)", store.url(path))
    return plan


def _place(data_file: DataFile, temp: str, move: bool) -> bool:
    """Put the input's bytes at the local ``temp``: hard link, else rename (if ``move``), else
    copy; an input behind a URL is downloaded. Returns True if the input was renamed (so a
    failure must rename it back)."""
    store, source = data_file
    if store is not LOCAL:
        store.get_file(source, temp)
        with open(temp, "rb+") as f:
            os.fsync(f.fileno())
        return False
    try:
        os.link(source, temp)
        return False
    except OSError:
        pass
    if move:
        try:
            os.rename(source, temp)
            return True
        except OSError:
            pass
    shutil.copyfile(source, temp)
    with open(temp, "rb+") as f:
        os.fsync(f.fileno())
    return False


def merge(
    prefixes: Sequence[PathLike], dst: PathLike, *, delete_inputs: bool = False, storage_options: Mapping[str, Any] | None = None
) -> str:
    """Merge the bundles at ``prefixes`` into one checkpoint at ``dst``, as TensorFlow's
    ``MergeV2Checkpoints`` does, with the same index bytes.

    Only the indexes are read and written: each input data file becomes a data shard of
    ``dst`` by a hard link, or a copy where the file system has no hard links, so the time
    is proportional to the index size, not the data.

    Parameters
    ----------
    prefixes : sequence of str or PathLike
        The parts, in the order TensorFlow would be given them (shard numbering follows it).
    dst : str or PathLike
        The merged checkpoint's prefix; its directory is created.
    delete_inputs : bool
        After the merge is committed, delete the inputs' files (their data files are renamed
        rather than linked when links are unavailable) and their directories if left empty,
        as ``MergeV2Checkpoints(delete_old_dirs=True)`` does.
    storage_options : mapping, optional
        For inputs or ``dst`` given as URLs (``s3://``, ``gs://``, ...): the fsspec file
        system's options. Data objects are copied server-side when inputs and ``dst`` share
        a file system, streamed otherwise; the index is written last (docs/remote.md).

    Returns
    -------
    str
        ``dst``, ready for ``tf.train.load_checkpoint``.

    Raises
    ------
    InvalidArgumentError
        See :func:`plan_merge`; nothing is written.
    CorruptionError, FileNotFoundError
        An input is damaged or incomplete; nothing is written.
    OSError
        Writing failed; whatever was at ``dst`` is left as it was.

    Examples
    --------
    >>> tfckpt.merge(["run/tmp/part-0", "run/tmp/part-1"], "run/model.ckpt-100")  # doctest: +SKIP
    'run/model.ckpt-100'
    """
    target = os.fspath(dst)
    if not target or target.endswith((os.sep, "/")) or (not is_url(target) and os.path.isdir(target)):
        raise InvalidArgumentError(f"merge destination {target!r} must name a checkpoint prefix, not a directory")
    sources = [os.fspath(p) for p in prefixes]
    if any(_same_place(s, target) for s in sources):
        raise InvalidArgumentError(f"merge destination {target!r} is also one of its inputs")
    plan = plan_merge(sources, storage_options=storage_options)
    return commit_merge(plan, sources, target, delete_inputs=delete_inputs, storage_options=storage_options)


def _same_place(a: str, b: str) -> bool:
    return a == b if is_url(a) or is_url(b) else os.path.abspath(a) == os.path.abspath(b)


def _write_plan_index(f: BinaryIO, plan: MergePlan) -> None:
    encoded = {key: entry.encode() for key, entry in plan.sliced.items()}
    write_index(f, plan.rows, plan.prefixes, {HEADER_KEY: plan.header.encode(), **encoded})


def commit_merge(
    plan: MergePlan,
    sources: list[str],
    target: str,
    *,
    delete_inputs: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """Write ``plan`` (from :func:`plan_merge` of ``sources``) at ``target``, atomically."""
    if is_url(target):
        local, upload = Upload.start(target, storage_options)
        if upload is not None:
            return _commit_upload(plan, sources, upload, delete_inputs, storage_options)
        target = local  # file:// is a local path
    directory = os.path.dirname(target) or "."
    os.makedirs(directory, exist_ok=True)
    count = len(plan.data_files)
    finals = [data_filename(target, i, count) for i in range(count)]
    for final in (*finals, index_filename(target)):
        check_output(final)  # never replace a device, FIFO or directory
    temps: list[tuple[str, bool]] = []  # (temporary name, whether the input was renamed to it)
    placed: list[tuple[str, bool, str | None]] = []
    index_temp: str | None = None
    committed = False
    moved = 0  # data files renamed into place
    try:
        for source, final in zip(plan.data_files, finals):
            temp = temp_name(final)
            temps.append((temp, _place(source, temp, delete_inputs)))
        index_temp = temp_name(index_filename(target))
        with open(index_temp, "wb") as f:
            _write_plan_index(f, plan)
            f.flush()
            os.fsync(f.fileno())
        for (temp, _), final in zip(temps, finals):
            placed.append(set_aside(final))
            os.replace(temp, final)
            moved += 1
        fsync_dir(directory)
        os.replace(index_temp, index_filename(target))
        committed = True
    except BaseException:
        if index_temp is not None:
            remove_quietly(index_temp)
        _undo([path for _, path in plan.data_files], temps, finals, placed, moved)
        raise
    finally:
        if committed:
            drop_backups(placed)
    remove_stale_shards(target, count)
    if delete_inputs:
        _delete_inputs(sources, plan.data_files, directory, storage_options)
    fsync_dir(directory)
    return target


def _commit_upload(
    plan: MergePlan, sources: list[str], upload: Upload, delete_inputs: bool, storage_options: Mapping[str, Any] | None
) -> str:
    """Commit ``plan`` to a URL: the index is staged locally, the data objects are copied
    from the inputs (server-side on one file system), then the index is uploaded."""
    store = upload.store
    count = len(plan.data_files)
    try:
        index_local = index_filename(upload.staging_prefix)
        with open(index_local, "wb") as f:
            _write_plan_index(f, plan)
    except BaseException:
        upload.abandon()
        raise
    inputs = {source.url(path): (source, path) for source, path in plan.data_files}

    def place(remote: str, source_url: str) -> None:
        store.copy_from(remote, *inputs[source_url])

    files = [(url, data_filename(upload.prefix, i, count)) for i, url in enumerate(inputs)]
    base = store.basename(upload.prefix)
    url = upload.commit(files, (index_local, index_filename(upload.prefix)), lambda name: is_stale_shard(name, base, count), place)
    if delete_inputs:
        _delete_inputs(sources, plan.data_files, None, storage_options)
    return url


def _undo(
    sources: list[str], temps: list[tuple[str, bool]], finals: list[str], placed: list[tuple[str, bool, str | None]], moved: int
) -> None:
    """Roll a failed commit back: inputs renamed away go home, then the files at ``dst`` are
    restored (:func:`._shards.put_back`) and the remaining temporaries removed."""
    for i, (source, (temp, renamed)) in enumerate(zip(sources, temps)):
        if renamed:
            try:
                os.rename(finals[i] if i < moved else temp, source)
            except OSError:
                pass
    put_back(placed)
    for temp, renamed in temps[moved:]:
        if not renamed:
            remove_quietly(temp)


def _delete_inputs(
    prefixes: list[str], data_files: list[DataFile], merged_dir: str | None, storage_options: Mapping[str, Any] | None
) -> None:
    """Best effort, as TensorFlow: the inputs' files, then their local directories if now
    empty (object stores have no directories to remove)."""
    indexes = [(store, index_filename(path)) for store, path in (store_for(p, options_for(p, storage_options)) for p in prefixes)]
    for store, path in [*data_files, *indexes]:
        try:
            store.delete(path)
        except OSError:
            pass
    for folder in dict.fromkeys(os.path.dirname(p) or "." for p in prefixes if not is_url(p)):
        if merged_dir is None or os.path.abspath(folder) != os.path.abspath(merged_dir):
            try:
                os.rmdir(folder)
            except OSError:
                pass

"""Where checkpoint files live, below the format layers: one small interface, three stores.

Modules:

- ``_inputs``: every local file the library reads is opened here (regular files only, no
  FIFOs or devices; reads bounded by the file's size).
- ``_shards``: a write's shard files, temporary names and commit renames.
- ``_atomic``: atomic replacement and removal; outputs that are not regular files refused.
- ``_local``, ``_fsspec``, ``_archive``: the stores; ``_upload``: writing a bundle to a URL.

Everything above this package (the bundle reader and writer, and :mod:`tfckpt._paths`,
which resolves what a user named: prefix, ``.index``, data shard, state file, directory,
SavedModel, archive or URL, to a checkpoint prefix in a store) speaks to a
:class:`Store` and never asks where the bytes come from, as zarr v3's stores keep storage
apart from the array core. The stores:

* :class:`~._local.LocalStore`: files on this machine; whole objects are memory-mapped
  (the bundle reader's zero-copy views) through ``_inputs``, and nothing else changes.
* :class:`~._fsspec.FsspecStore`: any fsspec URL (``s3://``, ``gs://``, ``https://``,
  ``memory://``, chained ``simplecache::s3://...``). Tensors are fetched as byte ranges,
  many at once (fsspec's ``cat_ranges``, as zarr's ``get_partial_values``).
* :class:`~._archive.ArchiveStore`: the members of a local ``.zip``/``.tar``/``.tar.gz``.
  Stored zip members and plain tar members are slices of one mapping of the archive.

A path inside a store is the store's own string: an OS path for local files, the
protocol-less fsspec path for URLs, ``dir/name`` for archive members. :meth:`Store.url`
turns it back into what the user would type, for messages and ``Checkpoint.prefix``.

:func:`store_for` picks the store for a user's path; fsspec is imported only when the
path is a URL, so ``import tfckpt`` never imports it. Nothing here is public API:
:mod:`tfckpt` re-exports what users need.
"""

from __future__ import annotations

import abc
import mmap
import os
import posixpath
from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = ["ARCHIVE_SUFFIXES", "Buffer", "Store", "is_url", "options_for", "split_archive", "store_for"]

#: What a store hands out for a whole object: a memory map, a slice of one, or bytes.
Buffer = mmap.mmap | memoryview | bytes | bytearray

#: The characters of a URL scheme after its first letter (RFC 3986).
_SCHEME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")

#: Archive file names as published (``uncased_L-12_H-768_A-12.zip``, ``model.tar.gz``),
#: compared in lower case.
ARCHIVE_SUFFIXES: Final = (".zip", ".tar", ".tar.gz", ".tgz")


def is_url(path: str) -> bool:
    """True for fsspec URLs (``s3://b/k``, ``simplecache::gs://...``); ``file://`` included.

    That is ``scheme://`` at the start (a letter, then at least one of letters, digits,
    ``+.-``: one-letter "schemes" are Windows drive letters, ``C:\\...``) or a chained
    ``a::b://`` URL (fsspec's syntax) anywhere. String tests rather than a regex: every
    open asks, and compiling one costs a fresh process ~0.1 ms.
    """
    if "::" in path:
        return True
    scheme, sep, _ = path.partition("://")
    return bool(sep) and len(scheme) > 1 and scheme[0].isascii() and scheme[0].isalpha() and _SCHEME_CHARS.issuperset(scheme)


class Store(abc.ABC):
    """The operations a checkpoint needs from where it is kept.

    Reads: :meth:`get` (a whole object: the index, a state file), :meth:`get_ranges`
    (many half-open ``[start, end)`` byte ranges, fetched concurrently where the store can),
    :meth:`mapping` (a zero-copy buffer of a whole object, when the store has one),
    :meth:`size`, :meth:`isfile`, :meth:`isdir`, :meth:`listdir`. Writes: :meth:`put` (an
    object appears whole or not at all) and :meth:`delete`.

    Paths are the store's own strings; :meth:`join`, :meth:`dirname`, :meth:`basename`
    and :meth:`isabs` work on them.
    """

    #: Whether :meth:`mapping` serves data objects (local files, stored archive members);
    #: when False the bundle reader fetches each tensor with :meth:`get_ranges`.
    maps_objects: bool = False

    # -- path arithmetic (posix by default; the local store uses os.path) ------------------

    def join(self, directory: str, name: str) -> str:
        return posixpath.join(directory, name)

    def dirname(self, path: str) -> str:
        return posixpath.dirname(path.rstrip("/"))

    def basename(self, path: str) -> str:
        return posixpath.basename(path.rstrip("/"))

    def isabs(self, path: str) -> bool:
        return path.startswith("/")

    def url(self, path: str) -> str:
        """``path`` as the user would write it (a URL, ``archive.zip/member``, an OS path)."""
        return path

    # -- reads -----------------------------------------------------------------------------

    @abc.abstractmethod
    def get(self, path: str, *, what: str = "a checkpoint file") -> bytes:
        """The whole object at ``path``; ``FileNotFoundError`` if there is none.

        ``what`` names the object in errors (``"a checkpoint index"``).
        """

    @abc.abstractmethod
    def get_ranges(self, requests: Sequence[tuple[str, int, int]]) -> Sequence[bytes | memoryview]:
        """The bytes ``[start, end)`` of each ``(path, start, end)``, in order.

        A range past the end of its object comes back short (callers check lengths).
        """

    def mapping(self, path: str, *, writable: bool = False, what: str = "a data shard") -> Buffer | None:
        """A zero-copy buffer of the whole object, or None if this store has none.

        Read-only, or with ``writable`` private to this process (copy-on-write, or a copy):
        writes never reach the object.
        """
        return None

    @abc.abstractmethod
    def size(self, path: str) -> int:
        """Length of the object in bytes; ``FileNotFoundError`` if there is none."""

    @abc.abstractmethod
    def isfile(self, path: str) -> bool: ...

    @abc.abstractmethod
    def isdir(self, path: str) -> bool: ...

    @abc.abstractmethod
    def listdir(self, directory: str) -> list[tuple[str, float]]:
        """``(name, modification time)`` of each object (regular file) directly in ``directory``; [] if none.

        Stores without times (archives, some servers) give 0.0; callers break ties by name.
        """

    # -- writes ----------------------------------------------------------------------------

    def put(self, path: str, data: bytes) -> None:
        """Create or replace the object at ``path`` with ``data``, whole or not at all."""
        raise NotImplementedError(f"{type(self).__name__} is read-only")

    def put_file(self, path: str, local_file: str) -> None:
        """Upload the local file ``local_file`` to ``path`` (whole or not at all)."""
        with open(local_file, "rb") as f:
            self.put(path, f.read())

    def get_file(self, path: str, local_file: str) -> None:
        """Download the object at ``path`` to the local file ``local_file``."""
        with open(local_file, "wb") as f:
            f.write(self.get(path, what="a data shard"))

    def copy_from(self, path: str, source: Store, source_path: str) -> None:
        """Create or replace ``path`` with the bytes of ``source_path`` in ``source``, whole
        or not at all (a merge placing a part's data object)."""
        raise NotImplementedError(f"{type(self).__name__} is read-only")

    def delete(self, path: str) -> None:
        """Remove ``path``; no error if it is already gone."""
        raise NotImplementedError(f"{type(self).__name__} is read-only")

    def close(self) -> None:  # most stores hold nothing
        """Release what the store holds open (an archive's mapping)."""


def split_archive(path: str) -> tuple[str, str] | None:
    """``("x.zip", "dir/model.ckpt")`` for a local path through an archive, else None.

    The first component that names an existing archive file ends the archive's path; what
    follows (possibly empty) is the path inside it.
    """
    parts = path.replace(os.sep, "/").split("/")
    for i in range(len(parts)):
        head = "/".join(parts[: i + 1])
        if head.lower().endswith(ARCHIVE_SUFFIXES) and os.path.isfile(head or "/"):
            return head, "/".join(parts[i + 1 :])
    return None


def options_for(path: str, storage_options: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """``storage_options`` if ``path`` is a URL, else None: for operations on several paths
    (merge, average) some of which may be local."""
    return storage_options if is_url(path) else None


def store_for(path: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Store, str]:
    """The store holding ``path`` and the path inside it.

    URLs go to fsspec (with ``storage_options``, as ``fsspec.url_to_fs``), a path through a
    local archive to the archive, anything else to the local file system.

    Raises
    ------
    ImportError
        A URL without fsspec installed (``pip install 'tfckpt[remote]'``).
    """
    if is_url(path):
        from ._fsspec import FsspecStore

        return FsspecStore.from_url(path, storage_options)
    if storage_options:
        from ..errors import InvalidArgumentError

        raise InvalidArgumentError(f"storage_options apply to URLs (s3://, gs://, https://, ...), not to the local path {path!r}")
    archive = split_archive(path)
    if archive is not None:
        from ._archive import ArchiveStore

        return ArchiveStore(archive[0]), archive[1]
    from ._local import LOCAL

    return LOCAL, path

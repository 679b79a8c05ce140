"""Writing a bundle to a URL: staged in a local temporary directory, then uploaded in order.

The writer's own commit sequence (temporary files, fsync, renames) needs a file system; an
object store has none of it, but it does make each object visible whole or not at all
(single PUTs and multipart uploads alike). So a bundle for ``s3://``/``gs://``/... is first
written completely to a local temporary directory by the unchanged local writer, then
:meth:`Upload.commit` runs the object-store sequence:

1. delete an existing index at the prefix, so no reader pairs an old index with new data;
2. upload every data object;
3. upload the index: the commit point, after which readers see the new checkpoint;
4. delete data objects of the same prefix with another shard count (a previous save).

If anything fails before step 3, the data objects uploaded so far are deleted and no index
exists at the prefix (when an old checkpoint was being replaced, it is gone too: object
stores cannot swap several objects at once). The staging directory costs local disk space
equal to the checkpoint, and is always removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import Store, store_for
from ._local import LOCAL

__all__ = ["Upload"]


class Upload:
    """Where a bundle for a URL is staged, and how it is committed there."""

    def __init__(self, store: Store, prefix: str, staging: str) -> None:
        self.store = store
        self.prefix = prefix
        self.staging = staging
        self.staging_prefix = os.path.join(staging, store.basename(prefix) or "ckpt")

    @classmethod
    def start(cls, url: str, storage_options: Mapping[str, Any] | None) -> tuple[str, Upload | None]:
        """``(local prefix to write, upload)``; a ``file://`` URL is written in place (no upload)."""
        store, path = store_for(url, storage_options)
        if store is LOCAL:
            return path, None
        return "", cls(store, path, tempfile.mkdtemp(prefix="tfckpt-upload-"))

    def commit(
        self,
        files: Sequence[tuple[str, str]],
        index: tuple[str, str],
        stale: Callable[[str], bool],
        place: Callable[[str, str], None] | None = None,
    ) -> str:
        """Upload ``files`` (``(local, remote)`` pairs), then ``index``; delete objects ``stale`` picks.

        ``place(remote, source)`` puts each data object instead of uploading a local file
        (a merge copies the parts' objects, server-side where it can); default
        :meth:`Store.put_file`. Returns the prefix as a URL.
        """
        put = self.store.put_file if place is None else place
        uploaded: list[str] = []
        try:
            self.store.delete(index[1])
            for local, remote in files:
                put(remote, local)
                uploaded.append(remote)
            self.store.put_file(index[1], index[0])
        except BaseException:
            for remote in uploaded:
                try:
                    self.store.delete(remote)
                except Exception:  # noqa: BLE001, S110 - cleanup must not mask the upload's error
                    pass
            raise
        finally:
            self.abandon()
        directory = self.store.dirname(self.prefix)
        for name, _ in self.store.listdir(directory):
            if stale(name):
                self.store.delete(self.store.join(directory, name))
        return self.store.url(self.prefix)

    def abandon(self) -> None:
        """Remove the staging directory (idempotent)."""
        shutil.rmtree(self.staging, ignore_errors=True)

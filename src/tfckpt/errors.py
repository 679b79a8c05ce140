"""The tfckpt exception hierarchy.

Every problem with a checkpoint's *content* raises a subclass of :class:`CheckpointError`,
which is a :class:`ValueError`, so ``except ValueError`` keeps working for callers that do
not know this library. Operating-system errors (a missing file, a permission problem) stay
the built-in :class:`OSError` subclasses, except where noted.

=========================  ==============================================================
class                      raised when
=========================  ==============================================================
``CheckpointError``        root; never raised directly
``NotFoundError``          a tensor name or checkpoint is not there (also ``KeyError``)
``CorruptionError``        bytes on disk contradict the format (``path``, ``offset``)
``UnsupportedError``       valid data this library cannot turn into an array
``InvalidArgumentError``   the caller passed something unusable (wrong file, bad tensor)
``RemoteError``            a URL's server failed (5xx, reset, timeout) after the retries;
                           also an ``OSError``
=========================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "CheckpointError",
    "CorruptionError",
    "InvalidArgumentError",
    "NotFoundError",
    "RemoteError",
    "UnsupportedError",
]


class CheckpointError(ValueError):
    """Root of every error tfckpt raises about a checkpoint."""


class NotFoundError(CheckpointError, KeyError):
    """A tensor (or checkpoint) that was asked for does not exist.

    Also a :class:`KeyError`, so ``ckpt[name]`` behaves like a mapping lookup.
    ``suggestions`` holds close names, best first.
    """

    def __init__(self, message: str, *, name: str | None = None, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.name = name
        self.suggestions = tuple(suggestions)

    def __str__(self) -> str:  # KeyError would repr() the message; keep it readable
        return str(self.args[0])


class CorruptionError(CheckpointError):
    """The bytes of a checkpoint file contradict the format.

    Attributes
    ----------
    path : str or None
        The file that holds the bad bytes.
    offset : int or None
        Byte offset in ``path`` where the problem was found, when known.
    tensor : str or None
        The tensor being read, when the problem is inside one tensor.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        offset: int | None = None,
        tensor: str | None = None,
    ) -> None:
        where = path or ""
        if offset is not None:
            where += f" @ {offset:#x}"
        if tensor is not None:
            where += f" (tensor {tensor!r})"
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.offset = offset
        self.tensor = tensor


class UnsupportedError(CheckpointError):
    """The data is valid but cannot be served as requested (a variant tensor as an array, ...)."""


class InvalidArgumentError(CheckpointError):
    """The caller passed an argument that cannot work (the wrong kind of file, a bad tensor, ...)."""


class RemoteError(CheckpointError, OSError):
    """Reading a URL failed: the server erred (5xx), the connection broke or timed out.

    Raised once the bounded retries are spent (or at once for errors no retry can mend);
    the last failure is chained as ``__cause__``. Also an :class:`OSError`, as a failed
    local read would be.

    Attributes
    ----------
    url : str
        The object being read.
    start, end : int or None
        The byte range ``[start, end)`` asked for; None for a whole object.
    attempts : int
        How many times it was requested.
    """

    def __init__(self, message: str, *, url: str, start: int | None = None, end: int | None = None, attempts: int = 1) -> None:
        where = url if start is None else f"{url} bytes [{start}, {end})"
        super().__init__(f"{where}: {message}")
        self.url = url
        self.start = start
        self.end = end
        self.attempts = attempts

"""Terminal output for the command line: tables, sizes, colour, warnings, progress bars.

Colour and progress bars appear only on a terminal: colour when stdout is a TTY (and
``NO_COLOR`` is unset), a progress bar when stderr is a TTY. Piped output is plain text,
so ``tfckpt ls ckpt | grep kernel`` and captured test output never contain escape codes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, TextIO, TypeVar

__all__ = ["Style", "human_bytes", "progress", "table", "warn"]

T = TypeVar("T")

#: SGR codes used; nothing fancier than bold and three colours.
_CODES: Final = {"bold": "1", "red": "31", "green": "32", "yellow": "33", "dim": "2"}
#: A progress bar appears only after a run has taken this long (tqdm's ``delay``).
PROGRESS_DELAY_S: Final = 0.5


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Style:
    """Wraps text in ANSI colours when ``stream`` is a terminal and ``NO_COLOR`` is unset."""

    def __init__(self, stream: TextIO | None = None) -> None:
        stream = stream if stream is not None else sys.stdout
        self.enabled = _isatty(stream) and not os.environ.get("NO_COLOR")

    def __call__(self, text: str, *styles: str) -> str:
        if not self.enabled or not styles:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\033[{codes}m{text}\033[0m"


def human_bytes(n: int) -> str:
    """``1536`` -> ``"1.5 KiB"``; exact below 1 KiB."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def human_count(n: int) -> str:
    """``1234567`` -> ``"1,234,567"``."""
    return f"{n:,}"


def table(rows: Sequence[Sequence[str]], header: Sequence[str], *, right: Iterable[int] = (), style: Style | None = None) -> str:
    """Columns padded to their widest cell; columns in ``right`` are right-aligned."""
    right_set = set(right)
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def fmt(row: Sequence[str]) -> str:
        cells = [c.rjust(widths[i]) if i in right_set else c.ljust(widths[i]) for i, c in enumerate(row)]
        return "  ".join(cells).rstrip()

    head = fmt(header)
    lines = [style(head, "bold") if style else head]
    lines.extend(fmt(r) for r in rows)
    return "\n".join(lines)


def warn(message: str) -> None:
    """A one-line warning on stderr, prefixed ``tfckpt: warning:``."""
    print(f"tfckpt: warning: {message}", file=sys.stderr)


def progress(items: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it", weights: Any = None) -> Iterator[T]:
    """Iterate ``items`` with a tqdm bar on stderr, shown only on a terminal and only for long runs.

    ``weights`` (a callable item -> int) advances the bar by that amount per item, e.g.
    bytes per tensor, so the bar tracks data rather than tensor count.
    """
    if not _isatty(sys.stderr):
        yield from items
        return
    from tqdm import tqdm  # imported here: keeps ``tfckpt --help`` fast

    with tqdm(total=total, desc=desc, unit=unit, unit_scale=True, unit_divisor=1024 if unit == "B" else 1000,
              delay=PROGRESS_DELAY_S, leave=False, file=sys.stderr, dynamic_ncols=True) as bar:
        for item in items:
            yield item
            bar.update(weights(item) if weights is not None else 1)

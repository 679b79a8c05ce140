"""The model families :func:`tfckpt.transformers.export` knows, by name."""

from __future__ import annotations

from typing import Final

from ..errors import InvalidArgumentError
from ._family import Family
from .albert import ALBERT
from .bert import BERT
from .electra import ELECTRA
from .t5 import T5

__all__ = ["FAMILIES", "family"]

#: Model family name -> its table. Adding a family: a module with its :class:`Family`, listed here.
FAMILIES: Final[dict[str, Family]] = {f.name: f for f in (BERT, ALBERT, ELECTRA, T5)}


def family(model: str | Family) -> Family:
    """The :class:`Family` called ``model`` (``"bert"``, ...); a :class:`Family` is returned as is."""
    if isinstance(model, Family):
        return model
    try:
        return FAMILIES[model]
    except KeyError:
        raise InvalidArgumentError(f"unknown model family {model!r}; choose one of {', '.join(FAMILIES)}") from None

"""What a model family is: its rule table and the facts its config is made from, as data.

A family module (:mod:`.bert`, :mod:`.albert`, :mod:`.electra`, :mod:`.t5`) defines one
:class:`Family`. Adding a family means writing such a module and listing it in
:data:`tfckpt.transformers.FAMILIES`; the engine (:mod:`._rules`), the config resolution
(:mod:`._config`) and the writers (:mod:`._export`) do not change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._rules import Rule

__all__ = ["Derive", "Family", "Part"]

#: ``f(config so far, {transformers name: shape}) -> value`` (None: cannot tell).
Derive = Callable[[Mapping[str, Any], Mapping[str, tuple[int, ...]]], Any]


@dataclass(frozen=True)
class Part:
    """One model inside a checkpoint (ELECTRA holds a discriminator and a generator).

    ``ignore`` rows ``(TF regex, reason)`` name variables that are present but belong to
    another part: they are counted in the report, not exported.
    """

    name: str
    rules: tuple[Rule, ...]
    architecture: str
    auto_class: str
    ignore: tuple[tuple[str, str], ...] = ()
    config_files: tuple[str, ...] = ()
    derived: Mapping[str, Derive] = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    """A model family: its parts and how its transformers ``config.json`` is made.

    Config fields come, in order of precedence, from the caller's overrides, Google's config
    file (copied verbatim), the shapes (``shapes``: field -> (transformers name, axis);
    ``ranges``: placeholder -> the field counting its values), ``derived`` rules, and
    ``defaults`` (the defaults of Google's own code). ``required`` fields still missing are an
    error that names them.
    """

    name: str
    model_type: str
    parts: Mapping[str, Part]
    default_part: str
    ranges: Mapping[str, str]
    shapes: Mapping[str, tuple[str, int]]
    required: tuple[str, ...]
    heads_field: str
    google_config: str
    google_fields: tuple[str, ...]
    derived: Mapping[str, Derive] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    predicates: Mapping[str, Callable[[Mapping[str, Any]], bool]] = field(default_factory=dict)
    #: Transformers names that are copies of another weight (tied embeddings), with the config
    #: flag that ties them (None: always tied). The reverse direction skips them.
    tied: tuple[tuple[str, str | None], ...] = ()
    #: Transformers names of buffers (not weights) that some versions saved, such as
    #: ``bert.embeddings.position_ids``: the reverse direction skips them.
    buffers: tuple[str, ...] = ()

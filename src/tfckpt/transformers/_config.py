"""Configs: Google's config file and the shapes -> transformers ``config.json``, and back.

Forward, each field comes from the first of: the caller's overrides (``--num-heads``), Google's
config file copied verbatim (``bert_config.json``, ...), the shapes of the weights (a shape
that contradicts the file is an error), the family's derived rules (ELECTRA's head count
``max(1, hidden // 64)``), and the defaults of Google's own code. A required field still
missing is an :class:`~tfckpt.errors.InvalidArgumentError` naming every such field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InvalidArgumentError
from ..storage._inputs import read_regular
from ._family import Family, Part
from ._rules import Match

__all__ = ["find_google_config", "google_config", "hf_config", "read_json"]


def read_json(path: str, what: str) -> dict[str, Any]:
    """A JSON object from ``path``; anything else is an error naming the file."""
    try:
        value = json.loads(read_regular(path, what).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidArgumentError(f"{path}: {what} is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{path}: {what} must hold a JSON object, found {type(value).__name__}")
    return value


def find_google_config(part: Part, directory: str) -> str | None:
    """The first of the part's config file names present in ``directory``."""
    for name in part.config_files:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def _counts(family: Family, matches: Iterable[Match]) -> dict[str, int]:
    """Placeholder -> 1 + the largest value seen (``layer_11`` -> 12 layers)."""
    out: dict[str, int] = {}
    for m in matches:
        for p, v in m.values.items():
            out[p] = max(out.get(p, 0), v + 1)
    return out


def hf_config(
    family: Family,
    part: Part,
    matches: list[Match],
    shapes: Mapping[str, tuple[int, ...]],
    *,
    google: Mapping[str, Any] | None = None,
    google_path: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The transformers ``config.json`` for ``part``.

    ``matches`` are the forward matches, ``shapes`` the transformers name -> shape of the
    tensors written. Raises :class:`InvalidArgumentError` on a contradiction between the
    config file and the shapes, or when required fields are missing.
    """
    where = google_path or "the config file"
    config: dict[str, Any] = dict(google or {})
    inferred: dict[str, Any] = {}
    for fld, (name, axis) in family.shapes.items():
        if name in shapes and axis < len(shapes[name]):
            inferred[fld] = shapes[name][axis]
    counts = _counts(family, matches)
    for placeholder, fld in family.ranges.items():
        if placeholder in counts:
            inferred[fld] = counts[placeholder]
    for fld, value in inferred.items():
        if fld in config and config[fld] != value:
            raise InvalidArgumentError(
                f"{where} says {fld}={config[fld]!r} but the checkpoint's shapes give {value!r}; "
                "is it the config of another model (or of the other ELECTRA part)?"
            )
        config[fld] = value
    config.update(overrides or {})
    for rules in (part.derived, family.derived):
        for fld, derive in rules.items():
            if fld not in config:
                value = derive(config, shapes)
                if value is not None:
                    config[fld] = value
    for fld, value in family.defaults.items():
        config.setdefault(fld, value)
    missing = [f for f in family.required if f not in config]
    if missing:
        hint = " (pass --num-heads / num_heads=...)" if family.heads_field in missing else " (pass --set FIELD=VALUE / overrides=...)"
        source = f"{google_path} and the checkpoint's shapes" if google_path else "the checkpoint's shapes (no config file found)"
        raise InvalidArgumentError(f"{family.name} config: {', '.join(missing)} missing; {source} do not tell{hint}")
    config.update(family.fixed)
    return {"architectures": [part.architecture], "model_type": family.model_type, **config}


def google_config(family: Family, hf: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Google's config file content for a transformers config: the fields Google's code reads
    (a field transformers does not keep, such as ALBERT's ``gap_size``, gets Google's default)."""
    values = {**family.defaults, **hf}
    missing = [f for f in family.google_fields if f not in values]
    if missing:
        raise InvalidArgumentError(f"{path}: {', '.join(missing)} missing from the transformers config")
    return {f: values[f] for f in family.google_fields}

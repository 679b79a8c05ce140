"""The two directions: a Google TF checkpoint -> a transformers directory, and back.

Both stream. The export hands unchanged tensors to the writer as views of the memory-mapped
checkpoint and computes transposed or cast ones in pieces, ahead of the writer, in helper
threads (:mod:`._prefetch`), so memory stays at a constant 8 MiB of piece buffers; the
reverse reads a view, transposes it (one copy) and writes it before the next, so memory stays
at the largest tensor plus a constant. Nothing here imports transformers or torch.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..checkpoint import Checkpoint
from ..checkpoint import open as open_checkpoint
from ..errors import InvalidArgumentError
from ..format._dtypes import DTYPE_BY_NAME
from ..objects import name_based_model_variables
from ..safetensors_io import SAFETENSORS_DTYPES, SafetensorsSpec
from ..writer import Writer
from ._config import find_google_config, google_config, hf_config, read_json
from ._family import Family, Part
from ._hub import CONFIG_FILE, DEFAULT_MAX_SHARD_SIZE, open_weights, write_json, write_model_dir
from ._prefetch import Job, Prefetcher
from ._registry import family as find_family
from ._rules import TRANSFORMS, CompiledRules, Match

__all__ = ["Report", "export", "to_tf1"]

PathLike = str | os.PathLike[str]

# Mesh TensorFlow's Adafactor slots sit beside their variable: ``q`` -> ``q_slot_vc``,
# ``q_slot_vr`` (factored second moments), ``scale_slot_v``, ``..._slot_m`` (momentum).
_MESH_SLOT_RE: Final = re.compile(r"(?P<var>.+)_slot_(?:vc|vr|v|m)")
_FLOAT_DTYPES: Final = frozenset({"float16", "bfloat16", "float32", "float64"})


def _is_mesh_slot(name: str, present: set[str]) -> bool:
    slot = _MESH_SLOT_RE.fullmatch(name)
    return slot is not None and slot.group("var") in present


@dataclass
class Report:
    """What a conversion did. ``str(report)`` is the summary the command line prints.

    ``matched`` pairs (source name, target name); ``optimizer`` lists the optimizer slots and
    counters left out; ``ignored`` maps names of another part to why they were left out;
    ``unmatched`` names no rule knew (only with ``skip_unmatched``); ``missing`` lists the
    transformers names a complete model has that the checkpoint lacks; ``tied`` the tied copies
    the reverse direction left out.
    """

    family: str
    part: str
    direction: str
    auto_class: str
    matched: list[tuple[str, str]] = field(default_factory=list)
    optimizer: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    tied: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"{self.family} ({self.part}) -> {self.direction}: {len(self.matched)} tensors written"]
        if self.optimizer:
            lines.append(f"skipped {len(self.optimizer)} optimizer slots and counters")
        reasons: dict[str, int] = {}
        for why in self.ignored.values():
            reasons[why] = reasons.get(why, 0) + 1
        lines.extend(f"skipped {n} tensors: {why}" for why, n in reasons.items())
        if self.tied:
            lines.append(f"skipped {len(self.tied)} tied copies: {', '.join(self.tied)}")
        if self.unmatched:
            lines.append(f"skipped {len(self.unmatched)} tensors no rule maps: {', '.join(self.unmatched)}")
        if self.direction == "transformers":
            lines.append("missing: " + (", ".join(self.missing) if self.missing else "none"))
            lines.append(f"load with transformers.{self.auto_class}.from_pretrained(...)")
        lines.extend(f"wrote {p}" for p in self.files)
        return "\n".join(lines)


def family_part(family: Family, part: str | None) -> Part:
    name = part or family.default_part
    if name not in family.parts:
        raise InvalidArgumentError(f"{family.name} has no part {name!r}; choose one of {', '.join(family.parts)}")
    return family.parts[name]


def _unmatched_error(names: list[str], where: str, direction: str) -> InvalidArgumentError:
    shown = ", ".join(names[:20]) + (f", ... ({len(names) - 20} more)" if len(names) > 20 else "")
    return InvalidArgumentError(
        f"{where}: {len(names)} tensor{'s' if len(names) != 1 else ''} no {direction} rule maps: {shown} "
        "(is it another model family or part? skip_unmatched / --skip-unmatched leaves them out)"
    )


def export(
    src: PathLike,
    outdir: PathLike,
    *,
    model: str | Family,
    part: str | None = None,
    config: PathLike | Mapping[str, Any] | None = None,
    num_heads: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    keep_dtype: bool = False,
    max_shard_size: int = DEFAULT_MAX_SHARD_SIZE,
    skip_unmatched: bool = False,
) -> Report:
    """Convert an original Google checkpoint into a directory transformers loads.

    Writes ``outdir/model.safetensors`` (or shards and ``model.safetensors.index.json`` past
    ``max_shard_size`` bytes) and ``outdir/config.json``. Optimizer slots (``adam_m``,
    ``adam_v``, ``/Adam``, Adafactor ``_slot_*``), beta powers and ``global_step`` are
    skipped and counted.

    Parameters
    ----------
    src : str or PathLike
        The checkpoint (prefix, directory, ``.index`` file; anything :func:`tfckpt.open` takes).
    outdir : str or PathLike
        The directory to write (created if needed).
    model : str or Family
        ``"bert"``, ``"albert"``, ``"electra"`` or ``"t5"`` (or a :class:`Family` of your own).
    part : str, optional
        ELECTRA: ``"discriminator"`` (default) or ``"generator"``; BERT: ``"pretraining"``
        (default), ``"classifier"`` (run_classifier.py) or ``"squad"`` (run_squad.py).
    config : path or mapping, optional
        Google's config file (or its content). Default: the family's file beside the
        checkpoint (``bert_config.json``, ``albert_config.json``), else shapes alone.
    num_heads : int, optional
        The attention head count, when neither config nor shapes tell.
    overrides : mapping, optional
        transformers config fields to set (``{"num_hidden_layers": 12}`` for an ALBERT
        checkpoint without its config file); they win over the config file.
    keep_dtype : bool
        Keep the stored float dtype (bfloat16, ...) instead of float32, the dtype of
        transformers 4.x's converters.
    max_shard_size : int
        Bytes per safetensors file (default 50 GB, transformers 5's).
    skip_unmatched : bool
        Leave out tensors no rule maps instead of failing (they are listed in the report).

    Returns
    -------
    Report
        Tensors matched, skipped, the transformers names missing from the checkpoint, the
        ``transformers.AutoModel...`` class to load with (``report.auto_class``).

    Raises
    ------
    InvalidArgumentError
        Tensors no rule maps (all are named), a config field missing or contradicted by the
        shapes, an unknown family or part.

    Examples
    --------
    >>> tfckpt.transformers.export("bert/bert_model.ckpt", "bert-hf", model="bert").auto_class   # doctest: +SKIP
    'AutoModelForPreTraining'
    """
    family = find_family(model)
    chosen = family_part(family, part)
    rules = CompiledRules(chosen.rules)
    with open_checkpoint(src) as ckpt:
        names = list(ckpt)
        weights = name_based_model_variables(names)
        present = set(names)
        weights = [n for n in weights if not _is_mesh_slot(n, present)]
        kept = set(weights)
        report = Report(family.name, chosen.name, "transformers", chosen.auto_class)
        report.optimizer = [n for n in names if n not in kept]
        candidates = []
        for n in weights:
            why = next((reason for pattern, reason in chosen.ignore if re.fullmatch(pattern, n)), None)
            if why is None:
                candidates.append(n)
            else:
                report.ignored[n] = why
        matches, unmatched = rules.map_all(candidates)
        if unmatched and not skip_unmatched:
            raise _unmatched_error(unmatched, ckpt.prefix, "transformers")
        report.unmatched = unmatched
        if not matches:
            raise InvalidArgumentError(f"{ckpt.prefix}: no tensor of a {family.name} {chosen.name} checkpoint found")
        specs: list[SafetensorsSpec] = []
        for m in matches:
            dtype = ckpt.dtype(m.source)
            if dtype not in SAFETENSORS_DTYPES:
                raise InvalidArgumentError(f"{m.source!r}: dtype {dtype} has no safetensors equivalent")
            out_dtype = dtype if keep_dtype or dtype not in _FLOAT_DTYPES else "float32"
            specs.append(SafetensorsSpec(m.target, out_dtype, TRANSFORMS[m.transform].shape(ckpt.shape(m.source))))
        shapes = {s.name: s.shape for s in specs}
        google: Mapping[str, Any] | None
        if isinstance(config, Mapping):
            google, google_path = config, None
        else:
            google_path = os.fspath(config) if config is not None else find_google_config(chosen, os.path.dirname(ckpt.prefix))
            google = read_json(google_path, "the model config") if google_path else None
        fields = {**(overrides or {}), **({family.heads_field: num_heads} if num_heads is not None else {})}
        report.config = hf_config(family, chosen, matches, shapes, google=google, google_path=google_path, overrides=fields)
        counts = {p: _count(report.config, f) for p, f in family.ranges.items()}
        expected = rules.expected_hf(counts, lambda when: family.predicates[when](report.config))
        report.missing = sorted(set(expected) - set(shapes))
        report.matched = [(m.source, m.target) for m in matches]
        jobs = {spec.name: _job(ckpt, m, spec) for m, spec in zip(matches, specs)}
        with Prefetcher(jobs) as get:
            report.files = write_model_dir(os.fspath(outdir), specs, get, report.config, max_shard_size=max_shard_size,
                                           on_order=get.plan)
    return report


def _job(ckpt: Checkpoint, m: Match, spec: SafetensorsSpec) -> Job:
    """How to make ``spec`` from the checkpoint tensor ``m.source``: an untransformed tensor
    of the output dtype is its (memory-mapped) source itself; anything else is filled in pieces."""
    out_dtype = DTYPE_BY_NAME[spec.dtype].numpy
    assert out_dtype is not None  # safetensors dtypes all have one
    unchanged = m.transform == "copy" and spec.dtype == ckpt.dtype(m.source)
    fill = None if unchanged else TRANSFORMS[m.transform].rows
    return Job(spec.name, lambda: ckpt.get_tensor(m.source), out_dtype, spec.shape, fill)


def _count(config: Mapping[str, Any], field: str) -> int:
    value = config.get(field, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidArgumentError(f"config field {field} must be a non-negative integer, got {value!r}")
    return value


def _guess_part(family: Family, config: Mapping[str, Any]) -> Part:
    archs = config.get("architectures") or []
    for p in family.parts.values():
        if p.architecture in archs:
            return p
    return family.parts[family.default_part]


def to_tf1(
    hf_dir: PathLike,
    prefix: PathLike,
    *,
    model: str | Family,
    part: str | None = None,
    max_shard_size: int | None = None,
    skip_unmatched: bool = False,
) -> Report:
    """Write a TF1 checkpoint with Google's names and kernel layout from a transformers directory.

    Reads ``hf_dir/config.json`` and ``model.safetensors`` (or its index and shards); writes
    the checkpoint at ``prefix`` and Google's config file beside it (``bert_config.json``, ...),
    so Google's TensorFlow code restores it. Tied copies (the MLM decoder, T5's
    ``embed_tokens``) are left out; ELECTRA's generator writes its embeddings under
    ``electra/embeddings/``, as ELECTRA shares them. ``part`` defaults to the one whose class
    ``config.json``'s ``architectures`` names.

    Raises
    ------
    InvalidArgumentError
        Weights no rule maps (all are named), config fields Google's file needs are missing.
    NotFoundError
        No safetensors weights in ``hf_dir``.

    Examples
    --------
    >>> tfckpt.transformers.to_tf1("bert-hf", "bert-tf/bert_model.ckpt", model="bert")     # doctest: +SKIP
    """
    family = find_family(model)
    directory = os.fspath(hf_dir)
    config_path = os.path.join(directory, CONFIG_FILE)
    config = read_json(config_path, "the transformers config")
    chosen = family_part(family, part) if part is not None else _guess_part(family, config)
    rules = CompiledRules(chosen.rules)
    files = open_weights(directory)
    report = Report(family.name, chosen.name, "tf1", chosen.auto_class)
    tied_rules = [(re.compile(pattern), flag) for pattern, flag in family.tied]
    names = []
    for name in files:
        if any(rx.fullmatch(name) and (flag is None or config.get(flag, True)) for rx, flag in tied_rules):
            report.tied.append(name)
        elif any(re.fullmatch(pattern, name) for pattern in family.buffers):
            report.ignored[name] = "a buffer, not a weight"
        else:
            names.append(name)
    matches, unmatched = rules.map_all(names, reverse=True)
    if unmatched and not skip_unmatched:
        raise _unmatched_error(unmatched, directory, "TF")
    report.unmatched = unmatched
    google = google_config(family, config, config_path)
    with Writer(prefix, max_shard_size=max_shard_size) as writer:
        for m in sorted(matches, key=lambda m: m.target):
            f = files[m.source]
            writer.add(m.target, TRANSFORMS[m.transform].array(f.get(m.source)), dtype=f.spec(m.source).dtype)
    out = os.path.join(os.path.dirname(os.fspath(prefix)), family.google_config)
    write_json(out, google)
    report.matched = [(m.source, m.target) for m in matches]
    report.files = [writer.prefix, out]
    report.config = google
    return report

"""The rule engine: one table of rows maps TensorFlow names to transformers names and back.

A row is ``Rule(tf, hf, transform)``. Both names are templates whose ``{placeholders}`` stand
for layer numbers::

    Rule("bert/encoder/layer_{layer}/attention/self/query/kernel",
         "bert.encoder.layer.{layer}.attention.self.query.weight", "transpose")

``{name}`` matches a decimal number without leading zeros (``layer_11``); ``{name:03}``
matches a number written with at least three digits (T5's ``block_007``) and is written back
zero-padded to that width. A template must match a whole name. The same row runs forward
(TF name -> HF name, apply ``transform``) and in reverse (HF name -> TF name, apply the
transform's inverse), so the two directions cannot drift apart.

Transforms are rows of :data:`TRANSFORMS`: a function on the array, the same on the shape,
and the name of the inverse transform.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from ..errors import InvalidArgumentError

__all__ = ["TRANSFORMS", "CompiledRules", "Match", "Rule", "Template", "Transform"]


@dataclass(frozen=True)
class Transform:
    """How a tensor changes between the TF and the transformers layout: on a whole array, on
    a shape, the inverse's name, and ``rows(a, out, begin, end)``, which writes rows
    ``[begin, end)`` (axis 0) of the result into ``out`` (casting to ``out``'s dtype as
    ``astype`` does; a 0-d result is one row) so a large result can be made in pieces."""

    array: Callable[[np.ndarray], np.ndarray]
    shape: Callable[[tuple[int, ...]], tuple[int, ...]]
    inverse: str
    rows: Callable[[np.ndarray, np.ndarray, int, int], None]


#: Rows of a matrix transposed per step by :func:`_transpose_rows` (64 float32 rows of BERT-base's
#: 3072-wide kernels are 768 KiB: source and destination tiles stay in the CPU caches).
_TRANSPOSE_ROWS: Final = 64


def _copy_rows(a: np.ndarray, out: np.ndarray, begin: int, end: int) -> None:
    out[...] = a[begin:end] if a.ndim else a


def _transpose_rows(a: np.ndarray, out: np.ndarray, begin: int, end: int) -> None:
    """Rows ``[begin, end)`` of ``a`` with all axes reversed.

    Matrices go through in bands of source rows: numpy's own strided copy of ``a.T`` walks the
    source column by column, 3-6x slower on BERT-base's kernels than these cache-sized bands."""
    if a.ndim != 2:
        out[...] = np.transpose(a)[begin:end] if a.ndim else a
        return
    columns = a[:, begin:end]  # the source columns that become rows [begin, end)
    for i in range(0, a.shape[0], _TRANSPOSE_ROWS):
        out[:, i : i + _TRANSPOSE_ROWS] = columns[i : i + _TRANSPOSE_ROWS].T


def _transpose(a: np.ndarray) -> np.ndarray:
    """All axes reversed, as a C-contiguous copy (safetensors and TF bundles store C order)."""
    if a.ndim != 2 or a.size < (1 << 16):
        return np.ascontiguousarray(np.transpose(a))
    out = np.empty(a.shape[::-1], dtype=a.dtype)
    _transpose_rows(a, out, 0, a.shape[1])
    return out


#: Transform name -> Transform. "transpose" reverses all axes (a dense kernel [in, out] is a
#: torch Linear weight [out, in]; on 1-D tensors it changes nothing).
TRANSFORMS: Final[Mapping[str, Transform]] = {
    "copy": Transform(lambda a: a, lambda s: s, "copy", _copy_rows),
    "transpose": Transform(_transpose, lambda s: tuple(reversed(s)), "transpose", _transpose_rows),
}

_PLACEHOLDER_RE: Final = re.compile(r"\{([A-Za-z_]\w*)(?::0(\d+))?\}")


@dataclass(frozen=True)
class Template:
    """A name with ``{placeholders}``: matches names and formats them from placeholder values."""

    text: str
    regex: re.Pattern[str] = field(init=False, compare=False)
    widths: Mapping[str, int] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        parts: list[str] = []
        widths: dict[str, int] = {}
        pos = 0
        for m in _PLACEHOLDER_RE.finditer(self.text):
            parts.append(re.escape(self.text[pos : m.start()]))
            name, width = m.group(1), int(m.group(2) or 0)
            if name in widths:
                raise InvalidArgumentError(f"template {self.text!r}: placeholder {{{name}}} appears twice")
            widths[name] = width
            parts.append(f"(?P<{name}>\\d{{{width},}})" if width else f"(?P<{name}>0|[1-9]\\d*)")
            pos = m.end()
        parts.append(re.escape(self.text[pos:]))
        object.__setattr__(self, "regex", re.compile("".join(parts)))
        object.__setattr__(self, "widths", widths)

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(self.widths)

    def match(self, name: str) -> dict[str, int] | None:
        m = self.regex.fullmatch(name)
        return None if m is None else {k: int(v) for k, v in m.groupdict().items()}

    def format(self, values: Mapping[str, int]) -> str:
        def repl(m: re.Match[str]) -> str:
            return str(values[m.group(1)]).zfill(self.widths[m.group(1)])

        return _PLACEHOLDER_RE.sub(repl, self.text)


@functools.lru_cache(maxsize=4096)
def _template(text: str) -> Template:
    """Templates are immutable: compile each text once per process."""
    return Template(text)


@dataclass(frozen=True)
class Rule:
    """One row of a family's table.

    ``when`` names a predicate of the family (``"gated"``, ...) on the transformers config:
    the row's weights are expected in a complete checkpoint only when it holds. It does not
    stop a present weight from being converted.
    """

    tf: str
    hf: str
    transform: str = "copy"
    when: str | None = None

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise InvalidArgumentError(f"rule {self.tf!r}: unknown transform {self.transform!r}; known: {sorted(TRANSFORMS)}")
        if {m[0] for m in _PLACEHOLDER_RE.findall(self.tf)} != {m[0] for m in _PLACEHOLDER_RE.findall(self.hf)}:
            raise InvalidArgumentError(f"rule {self.tf!r} -> {self.hf!r}: both sides need the same placeholders")


@dataclass(frozen=True)
class Match:
    """A name matched by a rule: the name on the other side, the transform to apply, the rule."""

    source: str
    target: str
    transform: str
    rule: Rule
    values: Mapping[str, int]


class CompiledRules:
    """A table of rules ready to map names in either direction.

    ``forward`` maps TF names to transformers names, ``reverse`` the other way. The first row
    that matches wins; a table where two rows map different names to one target is refused at
    mapping time (:meth:`map_all`).
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._tf = [_template(r.tf) for r in self.rules]
        self._hf = [_template(r.hf) for r in self.rules]

    def forward(self, tf_name: str) -> Match | None:
        return self._map(tf_name, self._tf, self._hf, reverse=False)

    def reverse(self, hf_name: str) -> Match | None:
        return self._map(hf_name, self._hf, self._tf, reverse=True)

    def _map(self, name: str, src: list[Template], dst: list[Template], *, reverse: bool) -> Match | None:
        for rule, s, d in zip(self.rules, src, dst):
            values = s.match(name)
            if values is not None:
                transform = TRANSFORMS[rule.transform].inverse if reverse else rule.transform
                return Match(name, d.format(values), transform, rule, values)
        return None

    def map_all(self, names: Iterable[str], *, reverse: bool = False) -> tuple[list[Match], list[str]]:
        """``(matches, unmatched names)``; two names mapping to one target is an error."""
        matches: list[Match] = []
        unmatched: list[str] = []
        seen: dict[str, str] = {}
        for name in names:
            m = self.reverse(name) if reverse else self.forward(name)
            if m is None:
                unmatched.append(name)
                continue
            if m.target in seen:
                raise InvalidArgumentError(f"{seen[m.target]!r} and {name!r} both map to {m.target!r}")
            seen[m.target] = name
            matches.append(m)
        return matches, unmatched

    def expected_hf(self, counts: Mapping[str, int], holds: Callable[[str], bool]) -> list[str]:
        """Every transformers name the table yields when placeholder ``p`` ranges over
        ``range(counts[p])``, for rows whose ``when`` predicate holds."""
        out: list[str] = []
        for rule, hf in zip(self.rules, self._hf):
            if rule.when is not None and not holds(rule.when):
                continue
            combos: list[dict[str, int]] = [{}]
            for p in hf.placeholders:
                combos = [{**c, p: i} for c in combos for i in range(counts.get(p, 0))]
            out.extend(hf.format(c) for c in combos)
        return out

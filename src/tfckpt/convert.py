"""Moving checkpoints between naming schemes without TensorFlow.

* :func:`convert_tf1_to_tf2`: name-based -> object-based, as the TF2 migration guide's recipe
  ``tf.train.Checkpoint(vars={name: tf.Variable(value)}).save(dst)``: one dict object under
  ``root`` whose entries are the TF1 names (escaped in keys: ``vars/scoped.Sc/.ATTRIBUTES/...``).
* :func:`convert_tf2_to_tf1`: object-based -> name-based: the model variables of
  :meth:`tfckpt.Checkpoint.variables`, named by their clean paths (optionally only those under
  ``root``, with that prefix removed), which ``tf.compat.v1.train.Saver`` restores.
* :func:`rename`: name-based -> name-based with ``init_from_checkpoint`` assignment-map rules,
  regex rules and include/exclude filters (:func:`rename_plan` shows the mapping first).

Every function streams: one tensor is read, written and released before the next, so memory
stays bounded by the largest tensor. Partitioned (sliced) variables are written whole.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .checkpoint import Checkpoint
from .checkpoint import open as open_checkpoint
from .errors import InvalidArgumentError, NotFoundError
from .object_writer import check_copyable, layout_tree, write_object_checkpoint
from .objects import OBJECT_GRAPH_KEY
from .writer import Writer

__all__ = ["convert_tf1_to_tf2", "convert_tf2_to_tf1", "rename", "rename_plan"]

PathLike = str | os.PathLike[str]
Rules = Mapping[str, str] | Sequence[tuple[str, str]]


def _require_name_based(ckpt: Checkpoint, what: str) -> None:
    if OBJECT_GRAPH_KEY in ckpt:
        raise InvalidArgumentError(
            f"{ckpt.prefix} is an object-based (TF2) checkpoint; {what} needs a name-based one (use convert_tf2_to_tf1 first)"
        )


def convert_tf1_to_tf2(src: PathLike, dst: PathLike, *, root: str | None = "vars", max_shard_size: int | None = None) -> str:
    """Convert a name-based (TF1) checkpoint into an object-based (TF2) one.

    Every tensor becomes a variable of the dict ``root``, so
    ``tf.train.Checkpoint(vars={name: variable, ...}).restore(dst).assert_consumed()``
    restores it (the result has a ``save_counter``, as ``Checkpoint.save`` writes). Each
    variable's ``full_name`` is its TF1 name, so ``variables("full")`` gives the old names back.

    Parameters
    ----------
    src : str or PathLike
        The name-based checkpoint (V2 or V1; anything :func:`tfckpt.open` accepts).
    dst : str or PathLike
        The prefix to write.
    root : str or None
        The ``tf.train.Checkpoint`` keyword holding the variables (default ``"vars"``); None
        puts them directly under the root (``tf.train.Checkpoint(**variables)``).

    Returns
    -------
    str
        ``dst``.

    Raises
    ------
    InvalidArgumentError
        ``src`` is already object-based, or (with ``root=None``) holds a ``save_counter``.
    UnsupportedError
        ``src`` holds a variant tensor. Nothing is written.

    Examples
    --------
    >>> tfckpt.convert_tf1_to_tf2("tf1/model.ckpt-7", "tf2/ckpt-1")      # doctest: +SKIP
    'tf2/ckpt-1'
    """
    with open_checkpoint(src) as ckpt:
        _require_name_based(ckpt, "convert_tf1_to_tf2")
        check_copyable(ckpt, ckpt)
        names = {name: name for name in ckpt}
        tree: dict[str, Any] = {root: names} if root is not None else names
        layout = layout_tree(tree, save_counter=_COUNTER, full_name=lambda path, leaf: str(leaf))

        def load(leaf: Any) -> tuple[Any, str | None]:
            if leaf is _COUNTER:
                return _COUNTER_VALUE, "int64"
            return ckpt.get_tensor(leaf), ckpt.dtype(leaf)

        return write_object_checkpoint(dst, layout, load, max_shard_size=max_shard_size)


_COUNTER = object()  # stands for the save_counter leaf in a layout
_COUNTER_VALUE = 1


def convert_tf2_to_tf1(src: PathLike, dst: PathLike, *, root: str | None = None, max_shard_size: int | None = None) -> str:
    """Convert an object-based (TF2) checkpoint into a name-based (TF1) one.

    The tensors written are the model variables of :meth:`Checkpoint.variables` (no
    ``save_counter``, no optimizer state), named by their clean paths: the unescaped object
    path without ``/.ATTRIBUTES/VARIABLE_VALUE`` (``var_list/scoped/c``). With ``root``, only
    variables under that path are written, with ``root/`` removed (``scoped/c``), as the
    migration guide's recipe does for ``tf.train.Checkpoint(var_list=...)``.

    Parameters
    ----------
    src : str or PathLike
        The object-based checkpoint.
    dst : str or PathLike
        The prefix to write.
    root : str, optional
        An object path (``"var_list"``, ``"model/encoder"``) to take the variables from.

    Returns
    -------
    str
        ``dst``.

    Raises
    ------
    InvalidArgumentError
        ``src`` is name-based.
    NotFoundError
        No model variable lies under ``root``.
    CorruptionError
        The object graph is damaged.

    Examples
    --------
    >>> tfckpt.convert_tf2_to_tf1("tf2/ckpt-1", "tf1/model.ckpt", root="var_list")  # doctest: +SKIP
    'tf1/model.ckpt'
    """
    with open_checkpoint(src) as ckpt:
        if ckpt.object_graph is None:
            raise InvalidArgumentError(f"{ckpt.prefix} is a name-based checkpoint; convert_tf2_to_tf1 needs an object-based one")
        variables = ckpt.variables("path")
        if root is not None:
            scope = root.strip("/") + "/"
            selected = {name[len(scope) :]: key for name, key in variables.items() if name.startswith(scope)}
            if not selected:
                tops = sorted({name.split("/", 1)[0] for name in variables})
                raise NotFoundError(f"no model variable of {ckpt.prefix} lies under {root!r}; top-level names: {tops}", name=root)
            variables = selected
        check_copyable(ckpt, variables.values())
        with Writer(dst, max_shard_size=max_shard_size) as writer:
            for name in sorted(variables):
                key = variables[name]
                writer.add(name, ckpt.get_tensor(key), dtype=ckpt.dtype(key))
        return writer.prefix


class _Rule:
    """One assignment-map entry or regex rule, remembering whether it matched anything."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.used = False


def _compile_filters(patterns: Iterable[str] | str | None, what: str) -> list[tuple[re.Pattern[str], _Rule]]:
    if patterns is None:
        return []
    if isinstance(patterns, str):
        patterns = [patterns]
    out = []
    for p in patterns:
        try:
            out.append((re.compile(p), _Rule(f"{what} {p!r}")))
        except re.error as e:
            raise InvalidArgumentError(f"bad {what} pattern {p!r}: {e}") from e
    return out


def rename_plan(
    names: Iterable[str],
    assignment_map: Mapping[str, str] | None = None,
    *,
    rules: Rules = (),
    include: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
    allow_unmatched: bool = False,
) -> dict[str, str]:
    """The old name -> new name mapping :func:`rename` would apply to ``names``.

    See :func:`rename` for the rules.

    Raises
    ------
    InvalidArgumentError
        A rule or filter matched nothing (unless ``allow_unmatched``), a scope mapped to a
        single name or back, a bad regex, two tensors renamed to one name, or nothing left.

    Examples
    --------
    >>> rename_plan(["bert/w", "cls/b"], {"bert/": "encoder/"})
    {'bert/w': 'encoder/w', 'cls/b': 'cls/b'}
    """
    exact: dict[str, tuple[str, _Rule]] = {}
    scopes: list[tuple[str, str, _Rule]] = []
    for old, new in (assignment_map or {}).items():
        if old.endswith("/") != new.endswith("/"):
            raise InvalidArgumentError(
                f"assignment map entry {old!r}: {new!r} must map a scope to a scope ('old/': 'new/') or a name to a name"
            )
        rule = _Rule(f"assignment map entry {old!r}: {new!r}")
        if old.endswith("/"):
            # '/' stands for the root scope on either side (init_from_checkpoint).
            scopes.append(("" if old == "/" else old, "" if new == "/" else new, rule))
        else:
            exact[old] = (new, rule)
    scopes.sort(key=lambda s: len(s[0]), reverse=True)  # the most specific scope wins
    regexes: list[tuple[re.Pattern[str], str, _Rule]] = []
    for pattern, repl in rules.items() if isinstance(rules, Mapping) else rules:
        try:
            regexes.append((re.compile(pattern), repl, _Rule(f"rule {pattern!r} -> {repl!r}")))
        except re.error as e:
            raise InvalidArgumentError(f"bad rule pattern {pattern!r}: {e}") from e
    includes = _compile_filters(include, "include")
    excludes = _compile_filters(exclude, "exclude")

    plan: dict[str, str] = {}
    sources: dict[str, str] = {}
    for name in names:
        if includes and not _any_match(includes, name):
            continue
        if _any_match(excludes, name):
            continue
        new = name
        if name in exact:
            new, rule = exact[name]
            rule.used = True
        else:
            for old_scope, new_scope, rule in scopes:
                if name.startswith(old_scope):
                    new = new_scope + name[len(old_scope) :]
                    rule.used = True
                    break
        for regex, repl, rule in regexes:
            if regex.search(new):
                try:
                    new = regex.sub(repl, new)
                except (re.error, IndexError) as e:
                    raise InvalidArgumentError(f"{rule.description}: {e}") from e
                rule.used = True
        if not new:
            raise InvalidArgumentError(f"{name!r} would be renamed to the empty string")
        if new in sources:
            raise InvalidArgumentError(f"{sources[new]!r} and {name!r} would both be renamed to {new!r}")
        sources[new] = name
        plan[name] = new
    if not allow_unmatched:
        all_rules = [r for _, r in exact.values()] + [s[2] for s in scopes] + [r[2] for r in regexes]
        unused = [r.description for r in all_rules + [f[1] for f in includes + excludes] if not r.used]
        if unused:
            raise InvalidArgumentError(f"matched no tensor: {'; '.join(unused)} (pass allow_unmatched=True to allow this)")
    if not plan:
        raise InvalidArgumentError("the filters leave no tensor to write")
    return plan


def _any_match(filters: list[tuple[re.Pattern[str], _Rule]], name: str) -> bool:
    hit = False
    for pattern, rule in filters:
        if pattern.search(name):
            rule.used = hit = True
    return hit


def rename(
    src: PathLike,
    dst: PathLike,
    assignment_map: Mapping[str, str] | None = None,
    *,
    rules: Rules = (),
    include: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
    allow_unmatched: bool = False,
    max_shard_size: int | None = None,
) -> str:
    """Copy a name-based checkpoint under new tensor names.

    Applied to each tensor name in order:

    1. Filters: with ``include`` (regexes, ``re.search``), only names matching one are kept;
       names matching an ``exclude`` regex are dropped.
    2. ``assignment_map``, with the semantics of ``tf.compat.v1.train.init_from_checkpoint``
       (checkpoint name -> new name): ``{"old/name": "new/name"}`` renames one tensor;
       ``{"old_scope/": "new_scope/"}`` moves everything under a scope; ``"/"`` is the root, so
       ``{"/": "scope/"}`` adds a scope and ``{"scope/": "/"}`` removes one. An exact name
       beats a scope, and a longer scope beats a shorter one. Names no entry matches are kept.
    3. ``rules``: ``(pattern, replacement)`` regex rules applied in order with ``re.sub`` to
       the name so far (``[(r"/kernel$", "/weight")]``).

    Parameters
    ----------
    src, dst : str or PathLike
        The name-based checkpoint to read and the prefix to write.
    allow_unmatched : bool
        Accept assignment-map entries, rules and filters that match no tensor (by default
        each is an error, which catches typos).

    Returns
    -------
    str
        ``dst``.

    Raises
    ------
    InvalidArgumentError
        ``src`` is object-based, or the rules are unusable (see :func:`rename_plan`). Nothing
        is written at ``dst``.
    UnsupportedError
        A selected tensor is a variant tensor (exclude it).

    Examples
    --------
    >>> tfckpt.rename("bert/model.ckpt", "out/model.ckpt", {"bert/": "encoder/"},
    ...               exclude=[r"/adam_[mv]$", r"^global_step$"])      # doctest: +SKIP
    'out/model.ckpt'
    """
    with open_checkpoint(src) as ckpt:
        _require_name_based(ckpt, "rename")
        plan = rename_plan(
            ckpt.keys(), assignment_map, rules=rules, include=include, exclude=exclude, allow_unmatched=allow_unmatched
        )
        check_copyable(ckpt, plan)
        with Writer(dst, max_shard_size=max_shard_size) as writer:
            for old, new in plan.items():
                writer.add(new, ckpt.get_tensor(old), dtype=ckpt.dtype(old))
        return writer.prefix

"""``tfckpt keras SRC OUT.weights.h5 --model MODULE:FUNCTION``: Keras 2 TF-format weights to a Keras 3 file.

One step of the migration in ``docs/keras.md``: build the Keras 3 model with the user's
function, load the Keras 2 checkpoint into it with :func:`tfckpt.keras.load_weights`, and
write Keras 3's native weights file with ``model.save_weights`` (atomically: a temporary
file renamed into place). The Keras backend is chosen before Keras is first imported.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from typing import Any

from ..storage._atomic import replacing
from ._common import EXIT_FOUND, EXIT_OK, CliError
from ._output import warn

EXAMPLES = """\
examples:
  tfckpt keras old/model.ckpt model.weights.h5 --model mymodels:build --backend jax
  tfckpt keras old/ model.weights.h5 --model pkg.nets:make_classifier --backend torch --by-name
  tfckpt keras old/model.ckpt model.weights.h5 --model mymodels:build --skip-mismatch

The function is called with no arguments and returns the Keras 3 model, built (a subclassed
model called once on a batch). MODULE is imported with the current directory on the path.
The optimizer state a checkpoint may hold is not carried over: a .weights.h5 file holds the
model's weights only.
"""

_WEIGHTS_SUFFIX = ".weights.h5"  # the only weights file name Keras 3's save_weights takes


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "keras", help="Keras 2 TF-format weights -> a Keras 3 .weights.h5 file (needs keras)",
        description="Load weights saved by Keras 2 (tf.keras save_weights without .h5) into the Keras 3 model "
        "that MODULE:FUNCTION builds, matching as Keras 2 did, and save them as Keras 3's native .weights.h5. "
        "Every mismatch is listed; nothing is written unless all fit (or --skip-mismatch).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("src", metavar="SRC", help="the Keras 2 checkpoint (prefix, .index file, or its directory)")
    p.add_argument("out", metavar="OUT", help=f"the Keras 3 weights file to write (ends in {_WEIGHTS_SUFFIX})")
    p.add_argument("--model", required=True, metavar="MODULE:FUNCTION", help="a function that builds the Keras 3 model")
    p.add_argument("--backend", choices=["jax", "torch", "tensorflow", "numpy"], default=None,
                   help="the Keras 3 backend (default: $KERAS_BACKEND, else Keras' own default)")
    p.add_argument("--by-name", action="store_true", help="match layers by name instead of by position")
    p.add_argument("--skip-mismatch", action="store_true", help="load what fits, warn about the rest")
    p.set_defaults(func=run)


def _import_keras(backend: str | None) -> Any:
    if backend is not None:
        loaded = sys.modules.get("keras")
        if loaded is not None and loaded.backend.backend() != backend:
            raise CliError(f"Keras is already running on {loaded.backend.backend()}, not {backend}",
                           "a process fixes its Keras backend at the first import")
        os.environ["KERAS_BACKEND"] = backend
    try:
        keras = importlib.import_module("keras")
    except Exception as e:  # noqa: BLE001 - ImportError, or the backend's own import failing with anything
        raise CliError(f"cannot import keras: {type(e).__name__}: {e}",
                       "pip install 'tfckpt[keras]' and a backend (jax or torch); choose it with --backend") from None
    return keras


def _build(spec: str) -> Any:
    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name:
        raise CliError(f"--model {spec!r}: expected MODULE:FUNCTION", "e.g. --model mymodels:build")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise CliError(f"--model {spec}: cannot import {module_name}: {e}") from None
    for part in func_name.split("."):
        if not hasattr(obj, part):
            raise CliError(f"--model {spec}: {module_name} has no attribute {func_name!r}")
        obj = getattr(obj, part)
    try:
        return obj()
    except Exception as e:  # noqa: BLE001 - the user's model code may raise anything; say which step failed
        raise CliError(f"--model {spec}: building the model failed: {type(e).__name__}: {e}") from None


def run(args: argparse.Namespace) -> int:
    if not args.out.endswith(_WEIGHTS_SUFFIX):
        raise CliError(f"{args.out}: Keras 3 writes weights only to a file ending in {_WEIGHTS_SUFFIX}",
                       f"e.g. {os.path.splitext(args.out)[0]}{_WEIGHTS_SUFFIX}")
    _import_keras(args.backend)
    from ..keras import WeightsMismatchError, load_weights

    model = _build(args.model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reported below from the result, once each
        try:
            result = load_weights(model, args.src, skip_mismatch=args.skip_mismatch, by_name=args.by_name)
        except WeightsMismatchError as e:
            for problem in e.problems:
                print(f"  - {problem}", file=sys.stderr)
            raise CliError(f"{e.path}: {len(e.problems)} mismatch(es) between the checkpoint and the model (listed above); "
                           "nothing written", "--skip-mismatch writes what fits; --by-name matches layers by name",
                           code=EXIT_FOUND) from None
    for problem in result.skipped:
        warn(f"skipped: {problem}")
    with replacing(args.out, suffix=_WEIGHTS_SUFFIX) as temp:
        model.save_weights(temp)
    print(f"wrote {args.out}: {len(result.loaded)} variables from {args.src}"
          + (f", {len(result.skipped)} mismatches skipped" if result.skipped else ""))
    return EXIT_OK

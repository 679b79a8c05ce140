"""Coverage-guided fuzzing of the reader with atheris (libFuzzer for Python).

Usage (CI runs the first; the second is the release run, see docs/robustness.md)::

    python tests/robustness/fuzz_reader.py -runs=20000
    python tests/robustness/fuzz_reader.py -max_total_time=3600 -jobs=2 CORPUS_DIR

Each input is one of four kinds, chosen by its first byte, so mutations reach every layer
rather than stopping at the first checksum:

0. raw: ``u16 index length | index bytes | data shard bytes``: the files as they are;
1. re-framed: ``u16 data length | data | (u8 key length | key | u16 value length | value)*``:
   the entries are written into a table with valid block checksums, and every value that
   parses as an entry gets the right CRC32C of the bytes it points to, so the bundle layer
   (entries, shapes, slices, sizes, offsets) sees the mutated values, not a checksum error;
2. object graph: the rest is a serialized ``TrackableObjectGraph``, stored in a valid
   bundle with a variable for every key it names; ``variables()``, ``object_paths()``
   and ``paths_to`` run on it;
3. V1: the rest is a V1 (TensorSliceWriter) table file.

Accepted outcomes: values, or an exception from the project's hierarchy
(:class:`tfckpt.CheckpointError`). Anything else escaping is a crash, as is an input that
runs longer than ``-timeout`` (default here: 10 s) or grows the process past
``-rss_limit_mb`` (default here: 1024 MiB, the Python process included).
Seeds come from the TF-written fixtures in ``tests/fixtures``; they are written to a
temporary corpus directory when none is given.
"""

from __future__ import annotations

import os
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
_WORK = os.environ.get("TFCKPT_FUZZ_DIR") or tempfile.mkdtemp(prefix="tfckpt-fuzz-")  # the files of one input


def _u16(value: int) -> bytes:
    return struct.pack("<H", min(value, 0xFFFF))


def seeds() -> list[bytes]:
    """Inputs of each kind built from the fixtures."""
    import tfckpt
    from tfckpt.format._table import iter_table

    out = []
    for case, prefix in [
        ("no_state_file", "ckpt-1"),
        ("all_dtypes", "dtypes"),
        ("partitioned", None),
        ("tf2_nested", "ckpt-2"),
        ("keras_model", "model_only"),
        ("multi_shard", "model.ckpt-7"),
    ]:
        d = FIXTURES / case
        name = prefix or min(p.name[: -len(".index")] for p in d.glob("*.index"))
        index = (d / f"{name}.index").read_bytes()
        data = b"".join(p.read_bytes() for p in sorted(d.glob(f"{name}.data-*")))[:4096]
        out.append(b"\x00" + _u16(len(index)) + index + data)
        framed = bytearray(b"\x01" + _u16(len(data)) + data)
        for key, value in iter_table(index, "seed"):
            framed += bytes([min(len(key), 255)]) + key[:255] + _u16(len(value)) + value[:0xFFFF]
        out.append(bytes(framed))
        with tfckpt.open(d / name) as ckpt:
            graph = ckpt.object_graph
            if graph is not None:
                out.append(b"\x02" + bytes(ckpt["_CHECKPOINTABLE_OBJECT_GRAPH"][()]))
    for v1 in sorted((FIXTURES / "tf1_v1_format").glob("model.ckpt-*")) + sorted((FIXTURES / "tf1_v1_partitioned").glob("*")):
        if v1.is_file() and v1.suffix not in (".json", ".meta") and v1.name != "checkpoint":
            out.append(b"\x03" + v1.read_bytes()[:8192])
    return out


def _fix_entry(value: bytes, data: bytes) -> bytes:
    """``value`` with the right CRC32C if it is an entry pointing inside ``data``."""
    from google.protobuf.message import DecodeError

    from tfckpt.format._coding import crc32c, mask_crc
    from tfckpt.proto.tensor_bundle_pb2 import BundleEntryProto  # type: ignore[attr-defined]

    try:
        entry = BundleEntryProto.FromString(value)
    except (DecodeError, RuntimeError, ValueError):
        return value
    if entry.slices or not 0 <= entry.offset <= entry.offset + entry.size <= len(data):
        return value
    entry.crc32c = mask_crc(crc32c(data[entry.offset : entry.offset + entry.size]))
    return bytes(entry.SerializeToString())


def _write_framed(body: bytes, prefix: str) -> None:
    from tfckpt.format._table import TableBuilder

    size = int.from_bytes(body[:2].ljust(2, b"\0"), "little")
    data = body[2 : 2 + size]
    pos = 2 + size
    rows: dict[bytes, bytes] = {}
    while pos < len(body):
        klen = body[pos]
        key = body[pos + 1 : pos + 1 + klen]
        pos += 1 + klen
        vlen = int.from_bytes(body[pos : pos + 2].ljust(2, b"\0"), "little")
        rows[key] = _fix_entry(body[pos + 2 : pos + 2 + vlen], data)
        pos += 2 + vlen
    with open(prefix + ".index", "wb") as f:
        table = TableBuilder(f)
        for key in sorted(rows):
            table.add(key, rows[key])
        table.finish()
    _write_shards(prefix, data)


def _write_shards(prefix: str, data: bytes) -> None:
    for name in os.listdir(_WORK):
        if ".data-" in name:
            os.unlink(os.path.join(_WORK, name))
    with open(prefix + ".data-00000-of-00001", "wb") as f:
        f.write(data)


def _write_graph(graph: bytes, prefix: str) -> None:
    import tfckpt
    from tfckpt.objects import ObjectGraph

    keys: list[str] = []
    try:
        keys = sorted(ObjectGraph.parse(graph).checkpoint_keys)
    except tfckpt.CheckpointError:
        pass
    with tfckpt.Writer(prefix) as w:
        w.add("_CHECKPOINTABLE_OBJECT_GRAPH", np.array(graph, dtype=object))
        for k in keys:
            if k != "_CHECKPOINTABLE_OBJECT_GRAPH":
                try:
                    w.add(k, np.float32(1))
                except tfckpt.InvalidArgumentError:
                    pass  # a key no writer accepts (empty): the graph names a missing tensor


def exercise(data: bytes) -> None:
    """Turn one input into files and read everything; raise only on a real failure."""
    import tfckpt

    prefix = os.path.join(_WORK, "ckpt")
    kind, body = (data[0] % 4, data[1:]) if data else (0, b"")
    for stale in (prefix + ".index", os.path.join(_WORK, "v1.ckpt")):
        if os.path.exists(stale):
            os.unlink(stale)
    if kind == 0:
        size = int.from_bytes(body[:2].ljust(2, b"\0"), "little")
        with open(prefix + ".index", "wb") as f:
            f.write(body[2 : 2 + size])
        _write_shards(prefix, body[2 + size :])
        target = prefix
    elif kind == 1:
        _write_framed(body, prefix)
        target = prefix
    elif kind == 2:
        _write_graph(body, prefix)
        target = prefix
    else:
        target = os.path.join(_WORK, "v1.ckpt")
        with open(target, "wb") as f:
            f.write(body)
    try:
        with tfckpt.open(target) as ckpt:
            for name in ckpt:
                if ckpt.dtype(name) == "variant":
                    ckpt.variant_elements(name)
                else:
                    ckpt.get_tensor(name)
                    ckpt.raw_bytes(name) if ckpt.format == "V2" else None
            graph = ckpt.object_graph
            ckpt.variables()
            ckpt.variables("full")
            if graph is not None:
                for key in list(graph.checkpoint_keys)[:50]:
                    graph.object_paths(key, limit=20)
    except tfckpt.CheckpointError:
        pass


def mutate_without_atheris(runs: int, seed: int = 0) -> None:
    """The fallback where atheris does not install: random byte-level mutations of the seeds
    (flips, insertions, deletions, splices, interesting values). Not coverage-guided."""
    import random

    rng = random.Random(seed)
    pool = seeds()
    interesting = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff\xff\xff\xff", b"\x00\x00\x00\x80", b"\xff\xff\xff\xff\x0f"]
    for _ in range(runs):
        data = bytearray(rng.choice(pool))
        for _ in range(rng.randint(1, 8)):
            op = rng.randrange(5)
            pos = rng.randrange(len(data) + 1)
            if op == 0 and data:
                data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
            elif op == 1:
                data[pos:pos] = rng.choice(interesting)
            elif op == 2:
                del data[pos : pos + rng.randint(1, 16)]
            elif op == 3:
                other = rng.choice(pool)
                start = rng.randrange(len(other) + 1)
                data[pos:pos] = other[start : start + rng.randint(1, 64)]
            else:
                value = rng.choice(interesting)
                data[pos : pos + len(value)] = value
        exercise(bytes(data[:20000]))
    print(f"Done {runs} runs (random mutations, atheris unavailable)")


def main() -> None:
    try:
        import atheris
    except ImportError:
        runs = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("-runs=")), 20000)
        mutate_without_atheris(runs)
        return
    import google.protobuf.text_format  # noqa: F401 - dependencies stay uninstrumented (fast start)
    import ml_dtypes  # noqa: F401
    import snappy  # noqa: F401

    with atheris.instrument_imports(include=["tfckpt"]):
        import tfckpt
        import tfckpt.format._v1
        import tfckpt.objects  # noqa: F401

    args = list(sys.argv)
    corpora = [a for a in args[1:] if not a.startswith("-")]
    if not corpora:  # no corpus directory given: seed a temporary one
        corpora = [tempfile.mkdtemp(prefix="tfckpt-fuzz-corpus-")]
        args.append(corpora[0])
    for corpus in corpora:
        if os.path.isdir(corpus) and not os.listdir(corpus):  # an empty corpus starts from the seeds
            for i, seed in enumerate(seeds()):
                Path(corpus, f"seed-{i}").write_bytes(seed)
    defaults = {"-timeout": "10", "-rss_limit_mb": "1024", "-max_len": "20000"}
    for flag, value in defaults.items():
        if not any(a.startswith(flag + "=") for a in args):
            args.insert(1, f"{flag}={value}")
    atheris.Setup(args, exercise)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

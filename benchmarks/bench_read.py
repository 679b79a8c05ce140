"""Read benchmark: tfckpt.open + get_tensor versus tf.train.load_checkpoint + get_tensor.

Run from the TensorFlow venv so both libraries are measured in the same process on the
same files (without TensorFlow it measures tfckpt alone)::

    python benchmarks/bench_read.py [--size-gib 1] [--count 64] [--small 100000] [--repeat 5]

Cases (checksums verified by both libraries, files warm in the page cache for both):

* ``big``: ``--size-gib`` of float32 in ``--count`` tensors. Open the checkpoint, list it
  and read every tensor in sorted order. Every byte is touched: TensorFlow copies each
  tensor out of the file and checks its CRC32C; tfckpt checks the CRC32C over its
  zero-copy view. The ``+ consume`` variant additionally runs a CRC32C over every returned
  array in both libraries (a stand-in for a consumer that reads all the values).
* ``small``: ``--small`` tensors of 1 KiB (256 float32): open (and list), then read all.

The data is written by tfckpt (byte-identical to TensorFlow's ``SaveV2``), into a temporary
directory (``--dir`` to choose where) that is removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import crc32c

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import Report, Row, add_case_arguments, checkpoint_files, float_tensors, load_tensorflow, measure, warm, workdir

import tfckpt


def write_checkpoint(prefix: str, count: int, elements: int) -> int:
    total = 0
    with tfckpt.Writer(prefix) as writer:
        for name, arr in float_tensors(count, elements):
            writer.add(name, arr)
            total += arr.nbytes
    return total


# -- the two readers, the way a user would write them ----------------------------------


def read_tfckpt(prefix: str, consume: bool = False) -> int:
    checksum = 0
    with tfckpt.open(prefix) as ckpt:
        for name in ckpt.keys():  # noqa: SIM118 - the documented listing call
            arr = ckpt.get_tensor(name)
            if consume:
                checksum ^= crc32c.crc32c(arr)
            del arr
    return checksum


def read_tf(tf: object, prefix: str, consume: bool = False) -> int:
    checksum = 0
    reader = tf.train.load_checkpoint(prefix)  # type: ignore[attr-defined]
    for name in sorted(reader.get_variable_to_shape_map()):
        arr = reader.get_tensor(name)
        if consume:
            checksum ^= crc32c.crc32c(arr)
    return checksum


def tensor_spans(prefix: str) -> list[tuple[str, int, int]]:
    """``(data file, offset, size)`` of every tensor, for the floor (taken untimed)."""
    with tfckpt.open(prefix) as ckpt:
        source = ckpt._source  # type: ignore[attr-defined]
        return [(source.shard_path(e.shard_id), e.offset, e.size) for e in map(source.entry, ckpt)]


def read_floor(spans: list[tuple[str, int, int]]) -> None:
    """The floor: the data files memory-mapped and a CRC32C of each tensor's bytes."""
    import mmap

    views: dict[str, memoryview] = {}
    for path, offset, size in spans:
        if path not in views:
            with open(path, "rb") as f:
                views[path] = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
        crc32c.crc32c(views[path][offset : offset + size])


def open_then_read_tfckpt(prefix: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    with tfckpt.open(prefix) as ckpt:
        names = ckpt.keys()
        t1 = time.perf_counter()
        get = ckpt.get_tensor
        for name in names:
            get(name)
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def open_then_read_tf(tf: object, prefix: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    reader = tf.train.load_checkpoint(prefix)  # type: ignore[attr-defined]
    names = sorted(reader.get_variable_to_shape_map())
    t1 = time.perf_counter()
    get = reader.get_tensor
    for name in names:
        get(name)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def phases(fn: object, repeat: int) -> tuple[list[float], list[float], list[float]]:
    opens, reads, totals = [], [], []
    for _ in range(repeat):
        o, r = fn()  # type: ignore[operator]
        opens.append(o)
        reads.append(r)
        totals.append(o + r)
    return opens, reads, totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_case_arguments(parser, repeat=5)
    args = parser.parse_args(argv)
    tf = load_tensorflow()
    report = Report("Read: open + read every tensor, checksums verified")

    with workdir(args.dir) as tmp:
        if args.size_gib > 0:
            elements = int(args.size_gib * 2**30) // 4 // args.count
            prefix = os.path.join(tmp, "big", "model.ckpt-1")
            nbytes = write_checkpoint(prefix, args.count, elements)
            files = checkpoint_files(prefix)
            case = f"{nbytes / 2**30:g} GiB in {args.count} float32 tensors"
            print(f"{case}: {prefix}")
            if tf is not None:  # same values either way
                assert read_tfckpt(prefix, consume=True) == read_tf(tf, prefix, consume=True)
            warm_files = lambda: warm(files)
            spans = tensor_spans(prefix)
            report.add(Row(case, "floor (memmap + crc32c)", measure(lambda: read_floor(spans), repeat=args.repeat, setup=warm_files), nbytes))
            for consume in (False, True):
                label = case + (" + consume" if consume else "")
                report.add(
                    Row(
                        label,
                        "tfckpt",
                        measure(lambda c=consume: read_tfckpt(prefix, c), repeat=args.repeat, setup=warm_files),
                        nbytes,
                    )
                )
                if tf is not None:
                    report.add(
                        Row(
                            label,
                            "tensorflow",
                            measure(lambda c=consume: read_tf(tf, prefix, c), repeat=args.repeat, setup=warm_files),
                            nbytes,
                        )
                    )
            for path in files:
                os.unlink(path)

        if args.small > 0:
            prefix = os.path.join(tmp, "small", "model.ckpt-1")
            nbytes = write_checkpoint(prefix, args.small, 256)
            files = checkpoint_files(prefix)
            case = f"{args.small:,} tensors of 1 KiB"
            print(f"{case}: {prefix} (index {os.path.getsize(prefix + '.index') / 2**20:.1f} MiB)")
            warm(files)
            runs = {"tfckpt": lambda: open_then_read_tfckpt(prefix)}
            if tf is not None:
                runs["tensorflow"] = lambda: open_then_read_tf(tf, prefix)
            results = {lib: phases(fn, 1) for lib, fn in runs.items()}  # one warm-up run each
            results = {lib: phases(fn, args.repeat) for lib, fn in runs.items()}
            for i, what in enumerate(("open", "read all", "open + read all")):
                for lib in runs:
                    report.add(Row(f"{case}: {what}", lib, results[lib][i], nbytes if i else 0))

    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

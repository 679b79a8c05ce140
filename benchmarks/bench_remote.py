"""Remote read benchmark: tfckpt over fsspec against fetching with s3fs/fsspec directly.

Needs ``pip install -e '.[test]'`` (fsspec, s3fs, moto[server], aiohttp)::

    python benchmarks/bench_remote.py [--size-gib 1] [--count 64] [--repeat 3]

An S3-compatible server (moto's server mode, in its own process so that it does not share
the client's interpreter) is started on 127.0.0.1 and stopped at the end. A checkpoint of
``--size-gib`` float32 in ``--count`` tensors is uploaded to it. Cases:

* ``read all``: ``tfckpt.open(url).read_many(every name)`` (ranged GETs of each tensor's
  bytes, many in flight, checksums verified) against ``s3fs`` fetching the index and data
  objects whole (``fs.cat([...])``, concurrent too), which is the least any reader must do.
* ``first tensor``: ``tfckpt.open(prefix url)[name]`` (resolve, index, one tensor) against
  fetching the index object plus that tensor's byte range with fsspec, offsets known in
  advance (what a hand-written reader that already knows the layout would do).

Both sides use the same cached s3fs instance (warm connections). Loopback moto is CPU
bound in Python, so absolute GB/s say more about moto than about the network; the ratios
are the figure of merit. Beware: moto answers a ranged GET by reading the *whole* object and
slicing it (``S3Response._handle_range_header``), so each request costs it the object's
size, unlike S3 or GCS; ``--part-mib`` (larger parts, fewer requests) shows that effect. Finally, a one-tensor read against a loopback HTTP server that
counts the bytes it sends (``tests/remote/servers.py``) gives the bytes transferred.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

from _common import Report, Row, add_case_arguments, checkpoint_files, float_tensors, measure, workdir

import tfckpt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).read()
            return proc, endpoint
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_case_arguments(parser, repeat=3)
    parser.add_argument("--part-mib", type=float, default=None,
                        help="ranged reads are cut into parts of this size (default: tfckpt's PART_SIZE, 16 MiB)")
    args = parser.parse_args()
    import fsspec.core

    from tfckpt.storage import _fsspec

    if args.part_mib:
        _fsspec.PART_SIZE = int(args.part_mib * (1 << 20))
    print(f"part size {_fsspec.PART_SIZE / (1 << 20):g} MiB", flush=True)

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    proc, endpoint = start_moto()
    try:
        options: dict[str, Any] = {"key": "testing", "secret": "testing", "endpoint_url": endpoint}
        fs, _ = fsspec.core.url_to_fs("s3://bench", **options)
        fs.mkdir("bench")
        elements = int(args.size_gib * (1 << 30)) // 4 // args.count
        report = Report(f"Remote reads from loopback S3 (moto server): {args.count} tensors, {args.size_gib} GiB")
        with workdir(args.dir) as tmp:
            prefix = os.path.join(tmp, "model.ckpt-1")
            total = 0
            with tfckpt.Writer(prefix) as writer:
                for name, arr in float_tensors(args.count, elements):
                    writer.add(name, arr)
                    total += arr.nbytes
            # moto needs long to assemble a 1 GiB multipart upload; wait instead of retrying
            uploader, _ = fsspec.core.url_to_fs("s3://bench", skip_instance_cache=True,
                                                config_kwargs={"read_timeout": 1800, "retries": {"max_attempts": 1}}, **options)
            for f in checkpoint_files(prefix):
                uploader.put_file(f, f"bench/run/{os.path.basename(f)}")
        url = "s3://bench/run/model.ckpt-1"
        objects = [f"bench/run/model.ckpt-1.{s}" for s in ("index", "data-00000-of-00001")]

        def tfckpt_all() -> None:
            with tfckpt.open(url, storage_options=options) as ckpt:
                got = ckpt.read_many(list(ckpt))
                assert sum(a.nbytes for a in got.values()) == total

        def s3fs_whole() -> None:
            got = fs.cat(objects)
            assert sum(len(v) for v in got.values()) >= total

        print("read all (interleaved rounds):", flush=True)
        times: dict[str, list[float]] = {"tfckpt": [], "s3fs": []}
        for _ in range(args.repeat):
            times["s3fs"] += measure(s3fs_whole, repeat=1)
            times["tfckpt"] += measure(tfckpt_all, repeat=1)
        report.add(Row("read all", "tfckpt", times["tfckpt"], total, "read_many, ranged GETs"))
        report.add(Row("read all", "s3fs", times["s3fs"], total, "cat of the objects whole"))

        with tfckpt.open(url, storage_options=options) as ckpt:
            name = sorted(ckpt)[len(ckpt) // 2]
            entry = ckpt._source.entry(name)  # type: ignore[attr-defined]
        first: dict[str, list[float]] = {"tfckpt": [], "fsspec": []}

        def tfckpt_first() -> None:
            with tfckpt.open(url, storage_options=options) as ckpt:
                ckpt[name]

        def fsspec_first() -> None:
            fs.cat_file(objects[0])
            fs.cat_file(objects[1], start=entry.offset, end=entry.offset + entry.size)

        print("first tensor (interleaved rounds):", flush=True)
        for _ in range(max(5, args.repeat * 3)):
            first["fsspec"] += measure(fsspec_first, repeat=1)
            first["tfckpt"] += measure(tfckpt_first, repeat=1)
        report.add(Row("first tensor", "tfckpt", first["tfckpt"], entry.size, "open + one tensor"))
        report.add(Row("first tensor", "fsspec", first["fsspec"], entry.size, "index + range, offsets known"))
        report.print()
        print("(the last two columns compare tfckpt with the row's library: time ratio and speedup)")
        transferred(args)
    finally:
        proc.terminate()
        proc.wait()


def transferred(args: argparse.Namespace) -> None:
    """Bytes a one-tensor read moves, counted by a loopback HTTP server."""
    from remote.servers import CountingServer

    elements = int(args.size_gib * (1 << 30)) // 4 // args.count
    with workdir(args.dir) as tmp:
        with tfckpt.Writer(os.path.join(tmp, "model.ckpt-1")) as writer:
            for name, arr in float_tensors(args.count, elements):
                writer.add(name, arr)
        server = CountingServer(tmp)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            with tfckpt.open(f"{server.url}/model.ckpt-1") as ckpt:
                name = sorted(ckpt)[len(ckpt) // 2]
                nbytes = ckpt[name].nbytes
            index = os.path.getsize(os.path.join(tmp, "model.ckpt-1.index"))
            data = os.path.getsize(os.path.join(tmp, "model.ckpt-1.data-00000-of-00001"))
            print(f"one-tensor read over HTTP: {server.sent:,} bytes sent = index {index:,} + tensor {nbytes:,} "
                  f"+ {server.sent - index - nbytes:,} extra; the data object is {data:,} bytes; "
                  f"{len(server.log)} requests ({', '.join(sorted({m for m, *_ in server.log}))})")
        finally:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    main()

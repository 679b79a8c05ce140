"""``tfckpt verify``: check every checksum and every data shard of a checkpoint.

Checks, in order: the index (every block checksum, verified when it is opened; every entry
decodes); the data shards the header promises (present, and exactly as long as the entries
they hold: TensorFlow never pads or appends, so extra bytes mean the file came from another
save); stray ``.data`` files of the same prefix with another shard count (left by a different
save); then every tensor's bytes against its CRC32C (strings and variants element by element,
partitioned variables slice by slice). Exit 1 names each bad tensor or file.
"""

from __future__ import annotations

import argparse
import os
import stat
from dataclasses import dataclass, field

from ..checkpoint import Checkpoint
from ..errors import CheckpointError, CorruptionError
from ..format._bundle import HEADER_KEY, match_data_file
from ..format._v2 import BundleReader, decode_name
from ..storage._inputs import describe_kind
from ..storage._local import LOCAL
from ._common import EXIT_FOUND, EXIT_OK, describe, open_ckpt, prefetched, records
from ._output import Style, human_bytes, progress

EXAMPLES = """\
examples:
  tfckpt verify run/model.ckpt-1000
  tfckpt verify run/ && echo intact          # exit 0 intact, 1 damaged, 2 unreadable
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify", help="check every block and tensor checksum and every data shard",
        description="Verify a checkpoint: index block checksums, data shards (missing, wrong size, "
        "left over from another save) and every tensor's checksum. Exit 1 names each problem.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", help="checkpoint prefix, .index or .data file, state file or directory")
    p.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    p.set_defaults(func=run)


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    bad_shards: set[int] = field(default_factory=set)

    def add(self, what: str, message: str) -> None:
        self.problems.append(f"{what}: {message}")


#: Missing shards that hold no tensors are listed one by one up to this many, then summarized.
_MISSING_LISTED = 10


def _check_shards(reader: BundleReader, report: Report) -> None:
    """Missing, short, long and stray data files of a V2 bundle.

    Work is proportional to the entries and the directory listing, never to the header's
    shard count, which a damaged header can set to 2**31-1.
    """
    count = reader.header.num_shards
    extents: dict[int, int] = {}
    for key in reader._raw:
        if key == HEADER_KEY:
            continue
        try:
            entry = reader.entry_by_key(key)
        except CheckpointError as e:
            report.add(f"entry {decode_name(key)!r}", str(e))
            continue
        if entry.slices:
            continue  # a partitioned variable's full entry owns no bytes
        if not 0 <= entry.shard_id < count:
            continue  # reported when the tensor is read
        extents[entry.shard_id] = max(extents.get(entry.shard_id, 0), entry.offset + entry.size)
    store = reader.store
    directory = store.dirname(reader.prefix) or "."
    base = store.basename(reader.prefix)
    if store is LOCAL:
        try:
            listing = sorted(os.listdir(directory))
        except OSError:
            listing = []
    else:
        listing = sorted(name for name, _ in store.listdir(directory))
    present: set[int] = set()
    for fname in listing:
        m = match_data_file(fname)
        if not m or m.group("prefix") != base:
            continue
        if int(m.group("count")) != count or int(m.group("shard")) >= count:
            report.add(f"shard {fname}", f"left over from a different save (this checkpoint has {count} shard"
                       f"{'s' if count != 1 else ''}, named -of-{count:05d}); delete it")
        else:
            present.add(int(m.group("shard")))
    for shard in sorted(present | set(extents)):
        path = reader.shard_path(shard)
        name = store.basename(path)
        try:
            if store is LOCAL:
                st = os.stat(path)
                if not stat.S_ISREG(st.st_mode):
                    report.add(f"shard {name}", f"{describe_kind(st.st_mode)}, not a regular file")
                    report.bad_shards.add(shard)
                    continue
                size = st.st_size
            else:
                size = store.size(path)
        except OSError:
            report.add(f"shard {name}", "missing")
            report.bad_shards.add(shard)
            continue
        need = extents.get(shard, 0)
        if size < need:
            report.add(f"shard {name}", f"truncated: {size} bytes, but its tensors end at byte {need}")
            report.bad_shards.add(shard)
        elif size > need:
            report.add(f"shard {name}", f"{size - need} bytes after the last tensor (its tensors end at byte {need} of "
                       f"{size}): the file belongs to a different save")
            report.bad_shards.add(shard)
    # Shards that hold no tensor and are absent: TF writes every shard, so they are missing too.
    missing = count - len(present | set(extents))
    if 0 < missing <= _MISSING_LISTED:
        for shard in (i for i in range(count) if i not in present and i not in extents):
            report.add(f"shard {os.path.basename(reader.shard_path(shard))}", "missing")
    elif missing:
        report.add("shards", f"{missing} of {count} data shards are missing (the header says {count}; "
                   f"{len(present)} exist{'s' if len(present) == 1 else ''})")


def _check_tensor(ckpt: Checkpoint, name: str) -> None:
    if ckpt.dtype(name) == "variant":
        ckpt.variant_elements(name)
    else:
        ckpt.get_tensor(name)


def run(args: argparse.Namespace) -> int:
    style = Style()
    report = Report()
    try:
        ckpt = open_ckpt(args.path, verify=True)  # opening verifies every index block checksum
    except CorruptionError as e:
        print(f"{style('BAD', 'red', 'bold')}  {e}")
        print(f"1 problem found in {args.path}: its table of names and offsets cannot be read, so no tensor can")
        return EXIT_FOUND
    with ckpt:
        reader = ckpt._source
        rows = records(ckpt)
        total = sum(r.bytes for r in rows)
        shards = reader.header.num_shards if isinstance(reader, BundleReader) else 1
        if not args.quiet:
            print(f"{describe(ckpt)}: {len(rows)} tensors, {human_bytes(total)}"
                  + (f", {shards} data shard{'s' if shards != 1 else ''}" if isinstance(reader, BundleReader) else ""))
        if isinstance(reader, BundleReader):
            _check_shards(reader, report)
        failed_by_shard: dict[int | None, int] = {}
        tensors_by_shard: dict[int | None, int] = {}
        for row in progress(prefetched(ckpt, rows), total=total, desc="verify", unit="B", weights=lambda r: r.bytes):
            tensors_by_shard[row.shard] = tensors_by_shard.get(row.shard, 0) + 1
            try:
                _check_tensor(ckpt, row.name)
            except CorruptionError as e:
                failed_by_shard[row.shard] = failed_by_shard.get(row.shard, 0) + 1
                if row.shard not in report.bad_shards:  # already explained by the shard's own problem
                    report.add(f"tensor {row.name!r}", str(e).replace(f" (tensor {row.name!r})", ""))
                else:
                    report.problems.append(f"tensor {row.name!r}: unreadable, its shard {row.shard} is damaged (above)")
        for shard, failed in failed_by_shard.items():
            if shard is not None and shard not in report.bad_shards and failed == tensors_by_shard[shard] and failed > 1:
                report.problems.append(f"shard {shard}: every tensor in it fails its checksum; the file probably belongs to a different save")
        prefix = ckpt.prefix
    if report.problems:
        for line in report.problems:
            print(f"{style('BAD', 'red', 'bold')}  {line}")
        print(f"{len(report.problems)} problem{'s' if len(report.problems) != 1 else ''} found in {prefix}")
        return EXIT_FOUND
    if not args.quiet:
        print(f"{style('OK', 'green', 'bold')}  index blocks, data shards and all {len(rows)} tensor checksums verified")
    return EXIT_OK


"""SSTable layers (framing, blocks, tables) pinned to exact bytes and to TensorFlow's files.

Also the hand-built Snappy-compressed indexes (TF writes none, but its reader accepts them).
"""

from __future__ import annotations

import io
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
import snappy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfckpt
import tfckpt.format._rows as rows_mod
import tfckpt.format._table as table_mod
from tfckpt.format._block import BlockFormatError, iter_block
from tfckpt.format._block_builder import BlockBuilder
from tfckpt.format._coding import crc32c, encode_fixed32, encode_varint, mask_crc
from tfckpt.format._rows_build import pad_rows
from tfckpt.format._table import TableBuilder, block_with_trailer, find_short_successor, find_shortest_separator, iter_table
from tfckpt.format._table_format import (
    BLOCK_TRAILER_SIZE,
    FOOTER_SIZE,
    SNAPPY_COMPRESSION,
    TABLE_MAGIC,
    BlockHandle,
    Footer,
    TableFormatError,
    read_block,
)

FIXTURES = Path(__file__).parent / "fixtures"

EMPTY_BLOCK = bytes.fromhex("00 00 00 00 01 00 00 00")


# -- framing: handles, footer, trailer ---------------------------------------------------


def test_block_handle_exact_bytes_and_inverse() -> None:
    h = BlockHandle(0, 367)
    assert h.encode() == bytes.fromhex("00 ef 02")
    assert BlockHandle.decode(b"\xaa" + h.encode(), 1, 4) == (h, 4)
    big = BlockHandle(2**40, 2**33)
    assert BlockHandle.decode(big.encode(), 0, len(big.encode()))[0] == big


def test_block_handle_truncated() -> None:
    with pytest.raises(TableFormatError, match="bad block handle: truncated varint") as info:
        BlockHandle.decode(b"\x05\x80", 0, 2)
    assert info.value.pos == 1


def test_footer_exact_bytes() -> None:
    # FORMAT section 2's worked example: metaindex @372 size 8, index @385 size 15.
    footer = Footer(BlockHandle(372, 8), BlockHandle(385, 15))
    raw = footer.encode()
    assert raw == bytes.fromhex("f4 02 08 81 03 0f") + bytes(34) + bytes.fromhex("57 fb 80 8b 24 75 47 db")
    assert len(raw) == FOOTER_SIZE == 48
    assert Footer.decode(b"junk" + raw, 4 + len(raw)) == footer
    assert TABLE_MAGIC.to_bytes(8, "little") == raw[-8:]


def test_footer_errors() -> None:
    raw = Footer(BlockHandle(0, 8), BlockHandle(13, 9)).encode()
    with pytest.raises(TableFormatError, match="too short for a 48-byte table footer"):
        Footer.decode(raw[1:], 47)
    bad = bytearray(raw)
    bad[-1] ^= 1
    with pytest.raises(
        TableFormatError, match=r"not an SSTable: bad magic number 0xda4775248b80fb57 \(expected 0xdb4775248b80fb57\)"
    ) as info:
        Footer.decode(bytes(bad), 48)
    assert info.value.pos == 40
    unterminated = b"\x80" * 40 + raw[-8:]
    with pytest.raises(TableFormatError, match="bad block handle"):
        Footer.decode(unterminated, 48)


def test_trailer_matches_tensorflow_metaindex_block() -> None:
    # Every TF index holds the empty metaindex block, framed, right before the index block.
    data = (FIXTURES / "no_state_file" / "ckpt-1.index").read_bytes()
    footer = Footer.decode(data, len(data))
    assert footer.metaindex.size == 8
    start = footer.metaindex.offset
    on_disk = data[start : start + 8 + BLOCK_TRAILER_SIZE]
    assert on_disk == block_with_trailer(BlockBuilder().finish())
    assert on_disk[:9] == EMPTY_BLOCK + b"\x00"
    assert on_disk[9:] == encode_fixed32(mask_crc(crc32c(EMPTY_BLOCK + b"\x00")))


def _framed(contents: bytes, compression: int = 0) -> tuple[bytes, BlockHandle]:
    return block_with_trailer(contents, compression), BlockHandle(0, len(contents))


def test_read_block_checks_everything() -> None:
    buf, handle = _framed(b"hello")
    assert bytes(read_block(buf, handle, len(buf), max_uncompressed=100)) == b"hello"
    bad = bytearray(buf)
    bad[0] ^= 0xFF
    with pytest.raises(TableFormatError, match=r"block checksum mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)"):
        read_block(bytes(bad), handle, len(buf), max_uncompressed=100)
    with pytest.raises(TableFormatError, match="runs past the end of the file"):
        read_block(buf, BlockHandle(0, 6), len(buf), max_uncompressed=100)
    unknown, _ = _framed(b"hello", compression=7)
    with pytest.raises(TableFormatError, match=r"unknown block compression type 7 \(expected one of \[0, 1\]\)"):
        read_block(unknown, handle, len(unknown), max_uncompressed=100)


# -- blocks ----------------------------------------------------------------------------


def test_empty_block_exact_bytes() -> None:
    assert BlockBuilder().finish() == EMPTY_BLOCK
    assert list(iter_block(EMPTY_BLOCK)) == []


def test_block_prefix_compression_exact_bytes() -> None:
    b = BlockBuilder()
    b.add(b"apple", b"1")
    b.add(b"apply", b"22")
    b.add(b"b", b"")
    raw = b.finish()
    assert raw == (
        bytes.fromhex("00 05 01")
        + b"apple"
        + b"1"
        + bytes.fromhex("04 01 02")
        + b"y"
        + b"22"
        + bytes.fromhex("00 01 00")
        + b"b"
        + encode_fixed32(0)
        + encode_fixed32(1)
    )
    assert b.size_estimate() == len(raw)
    assert list(iter_block(raw)) == [(b"apple", b"1"), (b"apply", b"22"), (b"b", b"")]


def test_block_restart_points_every_16_entries() -> None:
    b = BlockBuilder()
    keys = [b"key%03d" % i for i in range(33)]
    for k in keys:
        b.add(k, b"v")
    raw = b.finish()
    num_restarts = int.from_bytes(raw[-4:], "little")
    assert num_restarts == 3  # entries 0, 16, 32
    array = raw[-4 - 4 * num_restarts : -4]
    restarts = [int.from_bytes(array[i : i + 4], "little") for i in range(0, len(array), 4)]
    pos = 0
    starts = []
    for i in range(33):  # every header varint is one byte here
        starts.append(pos)
        shared, non_shared, vlen = raw[pos], raw[pos + 1], raw[pos + 2]
        assert (shared == 0) == (i % 16 == 0), i  # whole keys exactly at restart points
        assert shared + non_shared == 6 and vlen == 1
        pos += 3 + non_shared + vlen
    assert restarts == [starts[0], starts[16], starts[32]]
    assert [k for k, _ in iter_block(raw)] == keys


def test_index_block_restarts_every_entry() -> None:
    b = BlockBuilder(restart_interval=1)
    for k in (b"aa", b"ab", b"ac"):
        b.add(k, b"")
    raw = b.finish()
    assert raw == b"\x00\x02\x00aa\x00\x02\x00ab\x00\x02\x00ac" + b"".join(encode_fixed32(x) for x in (0, 5, 10, 3))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x00\x00\x00", "too short for its restart count"),
        (encode_fixed32(2), "claims 2 restart points but has room for at most 0"),
        (b"\x01\x01\x00a" + encode_fixed32(0) + encode_fixed32(1), "shares 1 key bytes but the previous key has 0"),
        (b"\x00\x05\x00ab" + encode_fixed32(0) + encode_fixed32(1), "runs past the block's entries"),
        (b"\x00\x80" + encode_fixed32(0) + encode_fixed32(1), "truncated varint"),
        (b"\x00\xff\xff\xff\xff\x1f\x00" + encode_fixed32(0) + encode_fixed32(1), "overflows 32 bits"),
    ],
)
def test_malformed_blocks(raw: bytes, message: str) -> None:
    with pytest.raises(BlockFormatError, match=message):
        list(iter_block(raw))


# -- separators ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "limit", "separator"),
    [
        (b"abc1xyz", b"abc5", b"abc2"),
        (b"layer_04227/kernel", b"layer_04228/bias", b"layer_04227/kernel"),  # '7' + 1 == '8': unchanged
        (b"abc", b"abcd", b"abc"),  # prefix: unchanged
        (b"ab\xff", b"ac", b"ab\xff"),
        (b"a\xffz", b"b", b"a\xffz"),  # first differing byte 'a'+1 == 'b': unchanged
        (b"a\xffz", b"c", b"b"),
        (b"", b"x", b""),
    ],
)
def test_find_shortest_separator(start: bytes, limit: bytes, separator: bytes) -> None:
    assert find_shortest_separator(start, limit) == separator
    assert start <= separator < limit


@pytest.mark.parametrize(
    ("key", "successor"),
    [(b"u16", b"v"), (b"\xff\xffa", b"\xff\xffb"), (b"\xff\xff", b"\xff\xff"), (b"", b""), (b"save_counter/x", b"t")],
)
def test_find_short_successor(key: bytes, successor: bytes) -> None:
    assert find_short_successor(key) == successor
    assert successor >= key


@given(st.binary(max_size=8), st.binary(max_size=8))
def test_separator_property(a: bytes, b: bytes) -> None:
    if a == b:
        return
    start, limit = min(a, b), max(a, b)
    sep = find_shortest_separator(start, limit)
    assert start <= sep < limit and len(sep) <= len(start)


# -- tables --------------------------------------------------------------------------


def _build(items: list[tuple[bytes, bytes]], block_size: int) -> bytes:
    f = io.BytesIO()
    t = TableBuilder(f, block_size=block_size)
    for k, v in items:
        t.add(k, v)
    size = t.finish()
    assert size == len(f.getvalue())
    return f.getvalue()


def _index_handles(data: bytes) -> list[tuple[bytes, BlockHandle]]:
    footer = Footer.decode(data, len(data))
    index = read_block(data, footer.index, len(data), max_uncompressed=1 << 30)
    return [(k, BlockHandle.decode(v, 0, len(v))[0]) for k, v in iter_block(bytes(index))]


def test_tiny_block_size_forces_many_blocks() -> None:
    items = [(b"tensor/%04d" % i, bytes([i % 251]) * (i % 7)) for i in range(300)]
    data = _build(items, block_size=64)
    handles = _index_handles(data)
    assert len(handles) > 30
    assert list(iter_table(data, "t.index")) == items
    # Separators bound the blocks: every key of block i is <= its separator < keys of block i+1.
    for (sep, h), nxt in zip(handles, handles[1:] + [(None, None)]):
        block = [k for k, _ in iter_block(bytes(read_block(data, h, len(data), max_uncompressed=1 << 20)))]
        assert block[-1] <= sep
        if nxt[1] is not None:
            first_next = next(iter_block(bytes(read_block(data, nxt[1], len(data), max_uncompressed=1 << 20))))[0]
            assert sep < first_next


def test_huge_entry_gets_a_block_of_its_own() -> None:
    items = [(b"a", b"x"), (b"b", b"y" * 200), (b"c", b"z")]
    data = _build(items, block_size=100)  # 1 + 200 >= 2 * 100 flushes "a" first
    handles = _index_handles(data)
    blocks = [[k for k, _ in iter_block(bytes(read_block(data, h, len(data), max_uncompressed=1 << 20)))] for _, h in handles]
    assert blocks == [[b"a"], [b"b"], [b"c"]]
    assert [sep for sep, _ in handles] == [b"a", b"b", b"d"]


def test_empty_table() -> None:
    data = _build([], block_size=4096)
    assert list(iter_table(data, "t")) == []
    footer = Footer.decode(data, len(data))
    assert footer == Footer(BlockHandle(0, 8), BlockHandle(13, 8))  # empty metaindex, then an empty index
    assert data == 2 * block_with_trailer(EMPTY_BLOCK) + footer.encode()


def test_builder_refuses_unsorted_keys() -> None:
    t = TableBuilder(io.BytesIO())
    t.add(b"b", b"")
    with pytest.raises(ValueError, match="strictly increasing"):
        t.add(b"a", b"")
    with pytest.raises(ValueError, match="strictly increasing"):
        t.add(b"b", b"")


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(st.binary(max_size=12), st.binary(max_size=40), max_size=60),
    st.sampled_from([1, 16, 80, 4096]),
)
def test_table_round_trip(entries: dict[bytes, bytes], block_size: int) -> None:
    items = sorted(entries.items())
    assert list(iter_table(_build(items, block_size), "t")) == items


# -- add_many: the bulk path is add() in bulk -------------------------------------------------


def _build_mixed(items: list[tuple[bytes, bytes]], block_size: int, runs: list[tuple[int, bool]]) -> bytes:
    """Build with runs of ``(length, bulk)``: bulk runs through add_many, the rest through add."""
    f = io.BytesIO()
    t = TableBuilder(f, block_size=block_size)
    i = 0
    for length, bulk in [*runs, (len(items), True)]:
        run = items[i : i + length]
        if bulk:
            matrix, lengths = pad_rows([v for _, v in run])
            t.add_many([k for k, _ in run], matrix, lengths)
        else:
            for k, v in run:
                t.add(k, v)
        i += len(run)
    t.finish()
    return f.getvalue()


@pytest.fixture
def always_bulk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_mod, "BULK_MIN_ENTRIES", 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # a constant patch
@given(
    st.dictionaries(st.lists(st.sampled_from([0, 1, 0x61, 0xFF]), max_size=20).map(bytes), st.binary(max_size=200), max_size=300),
    st.sampled_from([64, 300, 1024, 4096, 262144]),
    st.lists(st.tuples(st.integers(0, 40), st.booleans()), max_size=8),
)
def test_add_many_writes_what_add_writes(
    always_bulk: None, entries: dict[bytes, bytes], block_size: int, runs: list[tuple[int, bool]]
) -> None:
    items = sorted(entries.items())
    assert _build_mixed(items, block_size, runs) == _build(items, block_size)


def test_add_many_cuts_blocks_like_add_at_scale() -> None:
    # 30,000 entries: several 256 KiB blocks with restarts, cut by the numpy path.
    items = [(b"model/layer_%05d/kernel" % i, bytes([i % 256]) * (i % 40)) for i in range(30_000)]
    data = _build_mixed(items, 262144, [])
    assert data == _build(items, 262144)
    assert len(_index_handles(data)) > 3


@pytest.mark.parametrize("key_length", [126, 127, 128, 254, 255, 256, 300])
def test_add_many_writes_what_add_writes_for_long_keys(always_bulk: None, key_length: int) -> None:
    # Keys of 128 bytes and more take two-byte header varints; keys of 256 bytes and more
    # a key mask computed in int64 rather than wrapping uint8 (see _block_builder.encode_entries).
    items = [(b"p" * (key_length - 4) + b"%04d" % i, b"v" * (i % 5)) for i in range(0, 600, 7)]
    items += [(b"p" * (key_length - 4) + b"%04d" % 999 + b"x" * (i % 3), b"w") for i in range(1)]
    assert _build_mixed(sorted(items), 4096, []) == _build(sorted(items), 4096)
    assert _build_mixed(sorted(items), 4096, [(5, False), (9, True)]) == _build(sorted(items), 4096)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # a constant patch
@given(
    st.integers(1, 6).flatmap(
        lambda n: st.sets(st.lists(st.sampled_from([0, 1, 0x61, 0xFF]), min_size=n, max_size=n).map(bytes), max_size=80)
    ),
    st.sampled_from([64, 4096]),
    st.lists(st.tuples(st.integers(0, 20), st.booleans()), max_size=4),
)
def test_add_many_of_keys_of_one_length_writes_what_add_writes(
    always_bulk: None, keys: set[bytes], block_size: int, runs: list[tuple[int, bool]]
) -> None:
    # Keys of one length become the key matrix by one join (_table._key_matrix), trailing
    # zero bytes included; mixed with runs of add(), as the writer's early index is.
    items = sorted((k, k[::-1] * 3) for k in keys)
    assert _build_mixed(items, block_size, runs) == _build(items, block_size)


@pytest.mark.parametrize(
    "keys",
    [[b"ab", b"a\x00", b"\xff\xff"], [b"abc", b"a", b"", b"a\x00\x00"], [b"x"], [b""] * 3, [b"k%05d" % i for i in range(500)]],
)
def test_key_matrix_pads_as_numpy_does(keys: list[bytes]) -> None:
    lengths = np.fromiter(map(len, keys), np.int64, len(keys))
    got = table_mod._key_matrix(keys, lengths)
    width = max(int(lengths.max()), 1)
    assert got.shape == (len(keys), width)
    assert got.tobytes() == b"".join(k.ljust(width, b"\x00") for k in keys)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # a constant patch
@given(
    st.sets(st.lists(st.sampled_from([0, 1, 0x61, 0xFF]), max_size=7).map(bytes), max_size=80),
    st.booleans(),
    st.sampled_from([64, 4096]),
)
def test_joined_keys_write_what_a_list_of_keys_writes(
    always_bulk: None, keys: set[bytes], one_length: bool, block_size: int
) -> None:
    # The writer hands a fresh dict's keys to add_fields as JoinedKeys (bytes joined, lengths):
    # the key matrix is padded from the joined bytes, the keys at block edges sliced out of them.
    if one_length:
        keys = {k.ljust(7, b"\x00") for k in keys}
    ordered = sorted(keys)
    matrix, lengths = pad_rows([k[::-1] for k in ordered])
    joined = table_mod.JoinedKeys(b"".join(ordered), np.fromiter(map(len, ordered), np.int64, len(ordered)))
    built = []
    for given_keys in (ordered, joined):
        f = io.BytesIO()
        t = TableBuilder(f, block_size=block_size)
        t.add_many(given_keys, matrix, lengths)
        t.finish()
        built.append(f.getvalue())
    assert built[0] == built[1] == _build([(k, k[::-1]) for k in ordered], block_size)


def test_add_many_falls_back_for_huge_entries_and_long_keys(always_bulk: None, monkeypatch: pytest.MonkeyPatch) -> None:
    items = [(b"k%03d" % i, b"v" * (250 if i == 7 else 3)) for i in range(20)]
    assert _build_mixed(items, 100, []) == _build(items, 100)  # entry 7 >= 2 * block size: a block of its own
    monkeypatch.setattr(rows_mod, "MAX_MATRIX_BYTES", 0)
    monkeypatch.setattr(rows_mod, "MAX_PADDING_FACTOR", 0)
    assert _build_mixed(items, 4096, []) == _build(items, 4096)


def test_add_many_refuses_unsorted_keys(always_bulk: None) -> None:
    matrix, lengths = pad_rows([b"", b""])
    with pytest.raises(ValueError, match="strictly increasing"):
        TableBuilder(io.BytesIO()).add_many([b"b", b"a"], matrix, lengths)
    t = TableBuilder(io.BytesIO())
    t.add(b"m", b"")
    with pytest.raises(ValueError, match="strictly increasing"):
        t.add_many([b"m", b"n"], matrix, lengths)


def _tf_index_files() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*/*.index"))


@pytest.mark.parametrize("path", _tf_index_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_rebuilds_tensorflow_indexes_byte_identically(path: Path) -> None:
    data = path.read_bytes()
    items = list(iter_table(data, str(path)))
    assert _build(items, block_size=262144) == data


def test_multi_block_fixture_really_has_several_blocks() -> None:
    data = (FIXTURES / "multi_block_index" / "many.index").read_bytes()
    assert len(_index_handles(data)) >= 2


def test_keys_out_of_order_is_corruption() -> None:
    # Two blocks, each sorted, but the second starts below the end of the first.
    first = BlockBuilder()
    first.add(b"m", b"")
    second = BlockBuilder()
    second.add(b"a", b"")
    out = bytearray()
    h1 = BlockHandle(0, len(first.finish()))
    out += block_with_trailer(first.finish())
    h2 = BlockHandle(len(out), len(second.finish()))
    out += block_with_trailer(second.finish())
    meta = BlockHandle(len(out), 8)
    out += block_with_trailer(EMPTY_BLOCK)
    idx = BlockBuilder(1)
    idx.add(b"m", h1.encode())
    idx.add(b"n", h2.encode())
    ih = BlockHandle(len(out), len(idx.finish()))
    out += block_with_trailer(idx.finish())
    out += Footer(meta, ih).encode()
    with pytest.raises(tfckpt.CorruptionError, match=r"bad\.index @ 0x.*keys out of order: b'a' after b'm'"):
        list(iter_table(bytes(out), "bad.index"))


# -- Snappy-compressed tables (hand-built: TF only reads them) ------------------------


def snappy_rewrite(data: bytes, *, lie: int | None = None) -> bytes:
    """Re-frame every data block and the index block of a table as Snappy blocks.

    ``lie`` replaces the first data block's uncompressed-length header with that value
    (the CRC is computed over the lying bytes, so only the length is wrong).
    """
    out = bytearray()
    index = BlockBuilder(1)
    for n, (sep, handle) in enumerate(_index_handles(data)):
        contents = bytes(read_block(data, handle, len(data), max_uncompressed=1 << 30))
        packed = snappy.compress(contents)
        if lie is not None and n == 0:
            length_len = len(encode_varint(len(contents)))
            packed = encode_varint(lie) + packed[length_len:]
        new = BlockHandle(len(out), len(packed))
        out += block_with_trailer(packed, SNAPPY_COMPRESSION)
        index.add(sep, new.encode())
    meta = BlockHandle(len(out), 8)
    out += block_with_trailer(EMPTY_BLOCK)
    packed = snappy.compress(index.finish())
    ih = BlockHandle(len(out), len(packed))
    out += block_with_trailer(packed, SNAPPY_COMPRESSION)
    out += Footer(meta, ih).encode()
    return bytes(out)


def test_snappy_block_trailer_covers_compressed_bytes_and_type() -> None:
    packed = snappy.compress(b"abc" * 20)
    framed = block_with_trailer(packed, SNAPPY_COMPRESSION)
    assert framed[len(packed)] == 1
    assert framed[-4:] == encode_fixed32(mask_crc(crc32c(packed + b"\x01")))
    assert bytes(read_block(framed, BlockHandle(0, len(packed)), len(framed), max_uncompressed=1000)) == b"abc" * 20


@pytest.mark.parametrize("case", ["multi_block_index", "partitioned", "all_dtypes"])
def test_snappy_index_reads_identically(case: str, tmp_path: Path) -> None:
    src = FIXTURES / case
    dst = tmp_path / case
    shutil.copytree(src, dst)
    (index,) = dst.glob("*.index")
    original = index.read_bytes()
    index.write_bytes(snappy_rewrite(original))
    assert index.read_bytes() != original
    prefix = str(index)[: -len(".index")]
    with tfckpt.open(str(src / Path(prefix).name)) as want, tfckpt.open(prefix) as got:
        assert got.keys() == want.keys()
        for name in want:
            assert got.dtype(name) == want.dtype(name) and got.shape(name) == want.shape(name)
            if want.dtype(name) == "variant":
                assert got.variant_elements(name) == want.variant_elements(name)
            else:
                a, b = want[name], got[name]
                assert a.dtype == b.dtype and a.shape == b.shape
                if a.dtype == object:
                    assert a.tolist() == b.tolist()
                else:
                    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("lie", [0, 10, 2**31, 900_000_000])
def test_snappy_length_header_that_lies(lie: int, tmp_path: Path) -> None:
    dst = tmp_path / "ckpt"
    shutil.copytree(FIXTURES / "no_state_file", dst)
    index = dst / "ckpt-1.index"
    index.write_bytes(snappy_rewrite(index.read_bytes(), lie=lie))
    with pytest.raises(tfckpt.CorruptionError, match=r"ckpt-1\.index @ 0x0: .*snappy block") as info:
        tfckpt.open(dst / "ckpt-1")
    assert info.value.offset == 0
    if lie >= 2**20:  # refused from the header alone, before any allocation
        assert f"claims {lie} uncompressed bytes" in str(info.value)


def test_snappy_garbage_is_corruption(tmp_path: Path) -> None:
    packed = b"\x20" + b"\xff" * 10  # claims 32 bytes, then an invalid tag stream
    framed = block_with_trailer(packed, SNAPPY_COMPRESSION)
    with pytest.raises(TableFormatError, match="bad snappy block"):
        read_block(framed, BlockHandle(0, len(packed)), len(framed), max_uncompressed=1000)
    unreadable = b"\xff\xff\xff\xff\xff\xff"
    framed = block_with_trailer(unreadable, SNAPPY_COMPRESSION)
    with pytest.raises(TableFormatError, match="unreadable length header"):
        read_block(framed, BlockHandle(0, len(unreadable)), len(framed), max_uncompressed=1000)


def test_snappy_data_survives_numpy_views(tmp_path: Path) -> None:
    # zero-copy reads still work when the index (not the data) was compressed
    dst = tmp_path / "c"
    shutil.copytree(FIXTURES / "no_state_file", dst)
    index = dst / "ckpt-1.index"
    index.write_bytes(snappy_rewrite(index.read_bytes()))
    with tfckpt.open(dst) as ckpt:
        w = ckpt["w/.ATTRIBUTES/VARIABLE_VALUE"]
        assert w.shape == (3, 2) and not w.flags.writeable
        assert w.tobytes().hex() == "32fe9ebf7036383ed5f799be16e22f3fe33e763fe216923f"
        assert np.asarray(ckpt["save_counter/.ATTRIBUTES/VARIABLE_VALUE"]).item() == 1


@settings(max_examples=300)
@given(st.binary(max_size=120))
def test_block_iterator_fuzz(raw: bytes) -> None:
    try:
        entries = list(iter_block(raw))
    except BlockFormatError:
        return
    assert all(isinstance(k, bytes) and isinstance(v, bytes) for k, v in entries)


@settings(max_examples=300)
@given(st.binary(min_size=48, max_size=160), st.data())
def test_table_reader_fuzz(raw: bytes, data: st.DataObject) -> None:
    # random bytes ending in a valid footer that points somewhere inside them
    n = len(raw)
    a, b = sorted(data.draw(st.integers(0, n)) for _ in range(2))
    footer = Footer(BlockHandle(0, 0), BlockHandle(a, b - a)).encode()
    buf = raw + footer
    if data.draw(st.booleans()) and b - a >= 0 and b + BLOCK_TRAILER_SIZE <= len(buf):
        # and sometimes a block with a valid checksum there, so its contents get parsed
        contents = bytes(buf[a:b])
        framed = block_with_trailer(contents)
        buf = buf[:a] + framed + buf[a + len(framed) :]
    try:
        list(iter_table(buf, "fuzz.index"))
    except tfckpt.CorruptionError as e:
        assert e.path == "fuzz.index"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # a constant patch
@given(st.lists(st.lists(st.sampled_from([0, 1, 0x61, 0xFF]), max_size=6).map(bytes), min_size=2, max_size=40))
def test_add_many_accepts_exactly_strictly_increasing_keys(always_bulk: None, keys: list[bytes]) -> None:
    # The bulk path checks the order with array operations (trailing zero bytes, prefixes, equal keys).
    matrix, lengths = pad_rows([b"v"] * len(keys))
    increasing = all(a < b for a, b in itertools.pairwise(keys))
    t = TableBuilder(io.BytesIO())
    if increasing:
        t.add_many(keys, matrix, lengths)
    else:
        with pytest.raises(ValueError, match="strictly increasing"):
            t.add_many(keys, matrix, lengths)

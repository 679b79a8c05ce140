"""The hand-written fast paths agree with the reference implementations they shortcut.

Performance work (see docs/performance.md) added shortcuts that must never change a result:
the hand-decoded BundleEntryProto must equal protobuf's parse for every input it accepts
(and defer to protobuf for the rest), including mutated and truncated entries.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tfckpt.errors import CorruptionError
from tfckpt.format._bundle import BundleEntry, _decode_plain_entry
from tfckpt.format._dtypes import DTYPES

_DTYPE_ENUMS = sorted(DTYPES)


def _via_protobuf(value: bytes) -> BundleEntry | CorruptionError:
    """BundleEntry.decode with the fast path disabled (the reference)."""
    import tfckpt.format._bundle as bundle

    saved = bundle._decode_plain_entry
    bundle._decode_plain_entry = lambda value: None  # type: ignore[assignment]
    try:
        return BundleEntry.decode(value, "x.index", "t")
    except CorruptionError as e:
        return e
    finally:
        bundle._decode_plain_entry = saved


entries = st.builds(
    BundleEntry,
    dtype=st.sampled_from(_DTYPE_ENUMS),
    shape=st.lists(st.integers(0, 2**40), max_size=6).map(tuple),
    shard_id=st.integers(0, 2**31 - 1),
    offset=st.integers(0, 2**63 - 1),
    size=st.integers(0, 2**63 - 1),
    crc32c=st.integers(0, 2**32 - 1),
    slices=st.just(()),  # plain entries: Hypothesis fills every NamedTuple field
)


@settings(max_examples=400, deadline=None)
@given(entries)
def test_fast_decode_equals_protobuf_on_written_entries(entry: BundleEntry) -> None:
    encoded = entry.encode()
    fast = _decode_plain_entry(encoded)
    assert fast is not None
    assert BundleEntry(*fast) == entry == _via_protobuf(encoded)


@settings(max_examples=600, deadline=None)
@given(entries, st.data())
def test_fast_decode_accepts_only_what_protobuf_reads_identically(entry: BundleEntry, data: st.DataObject) -> None:
    encoded = bytearray(entry.encode())
    for _ in range(data.draw(st.integers(1, 3))):
        kind = data.draw(st.sampled_from(["flip", "truncate", "insert"]))
        pos = data.draw(st.integers(0, max(len(encoded) - 1, 0)))
        if kind == "flip" and encoded:
            encoded[pos] ^= data.draw(st.integers(1, 255))
        elif kind == "truncate":
            del encoded[pos:]
        else:
            encoded[pos:pos] = bytes([data.draw(st.integers(0, 255))])
    value = bytes(encoded)
    fast = _decode_plain_entry(value)  # must not raise
    if fast is not None:
        assert BundleEntry(*fast) == _via_protobuf(value)


def test_fast_decode_defers_unusual_entries() -> None:
    sliced = BundleEntry(1, (4, 6), slices=(((0, 0), (2, -1)),)).encode()
    assert _decode_plain_entry(sliced) is None
    negative_dim = b"\x08\x01\x12\x0d\x12\x0b\x08" + b"\xff" * 9 + b"\x01"
    assert _decode_plain_entry(negative_dim) is None
    assert isinstance(_via_protobuf(negative_dim), CorruptionError)
    out_of_order = b"\x12\x00\x08\x01"
    assert _decode_plain_entry(out_of_order) is None
    assert _via_protobuf(out_of_order) == BundleEntry(1, ())

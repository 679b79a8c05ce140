"""The on-disk format, one module per layer, lowest first; a module imports only those above it
in this list (and :mod:`tfckpt.errors`):

- ``_coding``: varints, fixed-width integers, masked CRC32C.
- ``_table_format``: block handles, the table footer, block trailers (checksum, compression).
- ``_block``: SSTable data and index blocks (prefix-compressed keys, restart points).
- ``_table``: the SSTable as a whole, read and written (the bundle's ``.index`` file).
- ``_rows``: padded byte rows, the vectorized encoders behind bulk index writing.
- ``_dtypes``: TensorFlow's DataType enum against numpy dtypes, as one table.
- ``_ordered_code``: TensorFlow's OrderedCode keys (partitioned-variable slice keys).
- ``_bundle``: the tensor bundle: header and entry protos, shard names, tensor codecs.
- ``_tensors``: array-likes (numpy and framework values) as the tensors a writer stores.
- ``_index``: a whole ``.index`` table decoded into columns with array operations (keys as
  names, value offsets), falling back to ``_table`` for small or unusual tables.
- ``_v2``: the V2 bundle reader over the index and mapped data shards.
- ``_v1``: the V1 ``TensorSliceWriter`` checkpoint reader.

Nothing here is public API: :mod:`tfckpt` re-exports what users need.
"""

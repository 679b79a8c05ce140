"""Where checkpoint files live, below the format layers:

- ``_inputs``: every file the library reads is opened here (regular files only, no FIFOs or
  devices; reads bounded by the file's size).
- ``_paths``: what a user named (prefix, ``.index``, data shard, state file, directory) to a
  checkpoint prefix.
- ``_shards``: a write's shard files, temporary names and commit renames.
- ``_atomic``: atomic replacement and removal; outputs that are not regular files refused.

The format layers (:mod:`tfckpt.format`) never touch the file system except through these.
Nothing here is public API: :mod:`tfckpt` re-exports what users need.
"""

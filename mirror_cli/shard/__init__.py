"""Erasure-coded shards (``mirror shard``): any k of n shard files restore a file.

The shards and the manifest of a set are objects in its locations, each a Remote
(:mod:`mirror_cli.remotes`: a folder, an S3 bucket or a PostgreSQL table, mixed freely in one
set). One module per command, each returning a dataclass of :mod:`.results` or raising a
:class:`~mirror_cli.errors.MirrorError`, never printing::

    create.create(src, locations, k, n, progress=None, *, mkdir=False, store=None) -> CreateResult
    verify.verify(manifest) -> VerifyReport
    restore.restore(manifest, output, progress=None) -> RestoreResult
    repair.repair(manifest, progress=None, *, store=None) -> RepairResult

create and repair record themselves in the journal's audit chain when given its store.
The others: :mod:`.levels` (the named k-of-n levels), :mod:`.locations` (locations opened as
remotes; shards are streamed to and from them), :mod:`.manifest` and :mod:`.format` (the two
file formats, docs/formats/shard.md), :mod:`.stripes` (the stripe loops), :mod:`.codec` and
:mod:`.gf256` (Reed-Solomon over GF(2^8) with NumPy).

This ``__init__`` imports nothing: NumPy (50-130 ms) comes in only through :mod:`.stripes`,
which create, restore and repair import and verify does not, so ``mirror shard verify``
never loads it.
"""

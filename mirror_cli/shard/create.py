"""``mirror shard create``: a file cut into n shards, any k of which restore it, spread
round-robin over the locations, with the set's manifest in every location."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from mirror_cli.errors import MirrorError, UsageError
from mirror_cli.localfs import io_error
from mirror_cli.remotes.base import ObjectWriter, check_name
from mirror_cli.shard import format as fmt
from mirror_cli.shard import manifest as mf
from mirror_cli.shard import stripes
from mirror_cli.shard.levels import check_kn, level_name
from mirror_cli.shard.locations import Locations, Place, local_path
from mirror_cli.shard.results import CreateResult, record

if TYPE_CHECKING:  # only for the annotation: the caller opens the store
    from mirror_cli.db.store import Store


def create(src: Path | str, locations: Locations | Sequence[str | os.PathLike[str]], k: int, n: int,
           progress: stripes.Progress = None, *, mkdir: bool = False, stripe_size: int | None = None,
           store: Store | None = None) -> CreateResult:
    """Erasure-code *src* into *n* shards (any *k* restore it) spread over *locations*.

    *locations* are folder paths or remote URLs (a folder that does not exist is made only with
    *mkdir*), or :class:`~.locations.Locations` already checked by the caller. Every shard and
    manifest is written whole or not at all; on any failure whatever was written is removed.
    The new set is recorded in *store*'s audit chain.
    """
    check_kn(k, n)
    if not locations:
        raise UsageError("no location given for the shards.", "Name at least one folder with --to.")
    src = local_path(src)
    if not src.is_file():
        raise UsageError(f"{src} does not exist or is not a file.")
    stripe = stripe_size or fmt.default_stripe_size(k, n)
    problem = fmt.stripe_problem(stripe, n)
    if problem:
        raise UsageError(f"{problem}.")
    for name in (mf.manifest_name(src.name, "0" * 32), mf.shard_names(src.name, "0" * 32, n)[-1]):
        check_name(name)  # names every location takes (exit 2 otherwise), checked before any folder is made
    with contextlib.ExitStack() as stack:
        if not isinstance(locations, Locations):
            locations = stack.enter_context(Locations(locations, mkdir=mkdir))
        order, distinct = locations.open()
        set_id = os.urandom(16)  # its names are claimed below with exclusive writes: never over another set
        try:
            size = src.stat().st_size
        except OSError as exc:
            raise io_error("read", src, exc) from None
        geo = fmt.Geometry(k, size, stripe)
        names = mf.shard_names(src.name, set_id.hex(), n)
        places = [order[i % len(order)] for i in range(n)]
        outs = [stack.enter_context(place.remote.put_stream(name, exclusive=True))  # discarded unless committed
                for place, name in zip(places, names)]
        headers = [fmt.ShardHeader(k, n, i, fmt.MATRIX_ID, set_id, size, stripe, geo.stripe_count, geo.data_length)
                   for i in range(n)]
        digests, src_sha = stripes.encode(src, [(out, place.where(name)) for out, place, name
                                                in zip(outs, places, names)], headers, progress)
        root = mf.merkle_root(digests)
        entries = [mf.ShardEntry(i, names[i], places[i].location, geo.shard_bytes, digests[i],
                                 mf.merkle_proof(digests, i)) for i in range(n)]
        manifest = mf.Manifest(set_id.hex(), _now(), k, n, level_name(k, n), fmt.MATRIX_NAME, stripe,
                               src.name, size, src_sha, root, entries)
        _publish(manifest, places, distinct, outs)
        shards = [places[i].where(names[i]) for i in range(n)]
        manifests = [place.where(manifest.file_name()) for place in distinct]
    record(store, "shard.created", {"k": k, "n": n, "set_id": set_id.hex(), "sha256": src_sha, "bytes": size,
                                    "locations": len(distinct)})
    return CreateResult(k, n, manifests, shards, set_id.hex(), level_name(k, n), src, size, src_sha, digests, root)


def _publish(manifest: mf.Manifest, places: list[Place], distinct: list[Place], outs: list[ObjectWriter]) -> None:
    """Publish shard i in ``places[i]`` and the manifest in every place, each only where its name
    is free; on failure take it all back."""
    written: list[tuple[Place, str]] = []
    try:
        for place, out, entry in zip(places, outs, manifest.shards):
            out.commit()
            written.append((place, entry.file))
        text = manifest.dumps().encode("utf-8")
        for place in distinct:
            place.remote.put_new(manifest.file_name(), text)  # never over another set's manifest
            written.append((place, manifest.file_name()))
    except BaseException:
        for place, name in written:  # no half a set that looks like one
            with contextlib.suppress(MirrorError, OSError):
                place.remote.delete([name])
        raise


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

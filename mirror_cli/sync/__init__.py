"""End-to-end encrypted sync between one person's devices (docs/formats/sync.md).

The remote only ever holds sealed, padded objects under HMAC names: one head per device (the only
object ever overwritten, by its own device), write-once segments forming a hash chain per device,
and write-once checkpoint chunks. Records merge per field, causality first (version vectors), a
hybrid logical clock second; a concurrent loser is kept as a conflict revision, never dropped.

* ``keys``       — the remote key, its passphrase envelope, the derived object and name keys, recovery codes;
* ``objects``    — sealing and padding, heads, segments, the chain;
* ``merge``      — the pure merge of two states of one record;
* ``local``      — this device's sync state in the database: stamping local changes, applying merged states;
* ``access``     — the remote's bootstrap object and opening its key (passphrase sources, keyring, code);
* ``config``     — the remotes a journal syncs with;
* ``session``    — what one sync is given, what it reports, its state, the per-journal lock;
* ``engine``     — one sync: open, key, heads (rollback and fork checks), a copy's new identity, audit;
* ``forks``      — two copies of one journal syncing as one device: the fork point, the notice, recovery;
* ``pull``       — fetch and authenticate new segments (or a checkpoint), merge each in one transaction;
* ``push``       — stage, upload and commit this device's segments and head; checkpoints and collection;
* ``checkpoint`` — writing, loading and collecting checkpoints;
* ``conflicts``  — listing and resolving conflict revisions;
* ``wipe``       — deleting every object of a remote (and the older versions a provider keeps, where allowed);
* ``generations`` — what one sync does when the remote key changed elsewhere (rotated, revoked, re-wrapped);
* ``rotate``     — ``remote rotate`` / ``remote revoke``: a new remote key generation;
* ``rewrap``     — a new passphrase for a remote's key (``key change``), no data object changed.
"""

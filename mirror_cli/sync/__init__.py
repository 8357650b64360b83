"""End-to-end encrypted sync between one person's devices (docs/formats/sync.md).

The remote only ever holds sealed, padded objects under HMAC names: one head per device
(the only object ever overwritten, by its own device) and write-once segments forming a
hash chain per device. Records merge per field, causality first (version vectors), a hybrid
logical clock second; a concurrent loser is kept as a conflict revision, never dropped.

* ``keys``    — the remote key, its passphrase envelope, the derived object and name keys;
* ``objects`` — sealing and padding, heads, segments, the chain;
* ``merge``   — the pure merge of two states of one record;
* ``local``   — the device's sync state in the database: stamping local changes, applying merged states;
* ``config``  — the remotes a journal syncs with;
* ``engine``  — one sync: lock, open, key, heads, pull, push, audit, report.
"""

"""Backups: one self-checking file per snapshot of the database; create, list, verify, restore, prune.

A backup file holds a consistent SQLite snapshot of the database and the `mirror export` JSON
document of that same snapshot, compressed together, with a manifest and checksums; for an
encrypted database the whole of it is sealed in a MIRRENC container (``docs/formats/backup.md``).

* :mod:`~mirror_cli.backup.format` — the bytes: header, manifest, archive, trailer; write and read.
* :mod:`~mirror_cli.backup.create` — ``create``: snapshot, export, compress, write.
* :mod:`~mirror_cli.backup.restore` — ``verify`` and ``restore`` (every check, then the swap).
* :mod:`~mirror_cli.backup.swap` — the restored snapshot into the live database, under its write lock.
* :mod:`~mirror_cli.backup.opened` — the opened-field transform of an encrypted backup's snapshot.
* :mod:`~mirror_cli.backup.retention` — ``list``, restic's ``--keep-*`` rules, ``prune``.
* :mod:`~mirror_cli.backup.location` — where backups live: a folder, or a remote (``s3://``,
  ``postgresql://``) whose backups are read from whole copies in a private working folder.
* :mod:`~mirror_cli.backup.keys` — where the data key of an encrypted backup comes from.
* :mod:`~mirror_cli.backup.workspace` — the backups folder's lock; private working folders for
  plaintext (RAM or beside the database, never the backups folder nor the shared temp dir).

Nothing here prints; errors are MirrorError subclasses (CONTRACT.md codes): damaged ->
VerificationError (3), not a backup / hostile -> InvalidInputError (5), no key or wrong
passphrase -> LockedError (4). ``create`` and ``restore`` write their own audit events.
"""

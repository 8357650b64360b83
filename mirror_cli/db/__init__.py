"""The database: one SQLite file, its connection, schema and migrations.

:mod:`.store` owns the connection (WAL, busy timeout, foreign keys, ``BEGIN IMMEDIATE`` writes, meta);
:mod:`.open` opens, migrates and unlocks the journal for a command; :mod:`.schema` is ``mirror migrate``
(status, up, down, history, check); :mod:`.migrations` holds the numbered SQL files and their runner.
"""

"""The database: one SQLite file, its connection, schema and migrations.

:mod:`.store` owns the connection (WAL, busy timeout, foreign keys, ``BEGIN IMMEDIATE`` writes, meta)
and holds the unlocked key as one attribute, ``store.key``; :mod:`.open` opens and migrates the
journal for a command and unlocks it (returning the unlock's warnings); :mod:`.scrub` wipes old
bytes out of the file after ``key enable`` and ``delete --all``; :mod:`.schema` is ``mirror migrate``
(status, up, down, history, check); :mod:`.migrations` holds the numbered SQL files and their runner;
:mod:`.peek` reads a journal's size and whether it is encrypted without opening it (``mirror journals``).
"""

-- End-to-end encrypted sync (docs/formats/sync.md): the local state of sync.
--
-- rev_hlc: the hybrid logical clock of each local change (Store.tick), so an
-- edit is ordered by when it was made, not when it was synced; pruned once
-- stamped. sync_records: per record, its version vector, the stamp of each
-- field and a keyed digest of each field's value (never the value), global to
-- this device. sync_sent: the digest of the state last exchanged with each
-- remote. sync_heads: each head as last read (sealed) with its listing tag, so a sync reads only
-- the heads that changed. sync_outbox: segments staged before upload (re-driven after a
-- crash). sync_conflicts: the values that lost a concurrent edit, sealed like
-- user content. Device ids, HLCs and counters are in clear, like rev.

-- migrate:up
CREATE TABLE rev_hlc (
    rev  INTEGER PRIMARY KEY,
    hlc  TEXT NOT NULL
);
CREATE TABLE sync_remotes (
    name       TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    options    TEXT NOT NULL DEFAULT '{}',
    remote_id  TEXT,
    key_id     TEXT,
    gen        INTEGER,
    paused     INTEGER NOT NULL DEFAULT 0,
    added_at   TEXT NOT NULL,
    last_sync  TEXT
);
CREATE TABLE sync_self (
    remote     TEXT PRIMARY KEY REFERENCES sync_remotes (name) ON DELETE CASCADE,
    dev        TEXT NOT NULL,
    seq        INTEGER NOT NULL DEFAULT 0,
    chain      TEXT NOT NULL,
    dot        INTEGER NOT NULL DEFAULT 0,
    head_tag   TEXT,
    staged     BLOB,
    scan_rev   INTEGER NOT NULL DEFAULT 0,
    ckpt       TEXT
);
CREATE TABLE sync_peers (
    remote     TEXT NOT NULL REFERENCES sync_remotes (name) ON DELETE CASCADE,
    dev        TEXT NOT NULL,
    label      TEXT,
    seq        INTEGER NOT NULL DEFAULT 0,
    chain      TEXT,
    applied    INTEGER NOT NULL DEFAULT 0,
    applied_chain TEXT,
    head_tag   TEXT,
    head_hlc   TEXT,
    seen_at    TEXT,
    PRIMARY KEY (remote, dev)
);
CREATE TABLE sync_heads (
    remote  TEXT NOT NULL REFERENCES sync_remotes (name) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    tag     TEXT NOT NULL,
    blob    BLOB NOT NULL,
    PRIMARY KEY (remote, name)
);
CREATE TABLE sync_records (
    kind   TEXT NOT NULL,
    id     TEXT NOT NULL,
    rev    INTEGER NOT NULL,
    state  TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE sync_sent (
    remote  TEXT NOT NULL REFERENCES sync_remotes (name) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL,
    digest  TEXT NOT NULL,
    PRIMARY KEY (remote, kind, id)
);
CREATE TABLE sync_outbox (
    remote  TEXT NOT NULL REFERENCES sync_remotes (name) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    name    TEXT NOT NULL,
    body    BLOB NOT NULL,
    PRIMARY KEY (remote, seq)
);
CREATE TABLE sync_conflicts (
    cid           INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,
    id            TEXT NOT NULL,
    field         TEXT NOT NULL,
    value,
    value_stamp   TEXT NOT NULL,
    kept_stamp    TEXT NOT NULL,
    other_device  TEXT,
    detected_at   TEXT NOT NULL,
    seen          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sync_conflicts_record ON sync_conflicts (kind, id);
CREATE INDEX sync_records_rev ON sync_records (rev);

-- migrate:down
DROP INDEX sync_records_rev;
DROP INDEX sync_conflicts_record;
DROP TABLE sync_conflicts;
DROP TABLE sync_outbox;
DROP TABLE sync_sent;
DROP TABLE sync_records;
DROP TABLE sync_heads;
DROP TABLE sync_peers;
DROP TABLE sync_self;
DROP TABLE sync_remotes;
DROP TABLE rev_hlc;
DELETE FROM meta WHERE key IN ('device_id', 'hlc', 'sync_dot', 'sync_rev');

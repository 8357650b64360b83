-- mirror schema, version 1: the journal, derived observations, the audit chain.
--
-- User content columns (reflections.content/response/tags, patterns.name,
-- pattern_occurrences.evidence, tensions.data) hold TEXT while the database is
-- unencrypted and an envelope BLOB once `mirror key enable` has run; SQLite's
-- column affinity is left open on purpose. ids, times, mode, local_only and
-- the sync bookkeeping (rev, tombstones) always stay in clear.
--
-- Every user record has: a stable id (ULID), created_at/updated_at (ISO-8601
-- UTC, millisecond precision, 'Z'), and rev: the value of the per-database
-- change counter (meta 'clock') at its last change. Deletions leave a row in
-- tombstones so that sync can carry them.

-- migrate:up
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE reflections (
    id          TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    content     NOT NULL,
    response,
    mode        TEXT NOT NULL DEFAULT 'REFLECTION',
    tags        NOT NULL DEFAULT '[]',
    local_only  INTEGER NOT NULL DEFAULT 0 CHECK (local_only IN (0, 1)),
    rev         INTEGER NOT NULL
);
CREATE INDEX reflections_created_at ON reflections (created_at);
CREATE INDEX reflections_rev ON reflections (rev);

-- Full-text index over plaintext content only. The triggers skip rows whose
-- content is an encryption envelope (a BLOB), so an encrypted database keeps
-- no plaintext index on disk; search then decrypts and scans.
CREATE VIRTUAL TABLE reflections_fts USING fts5 (
    content, response, tags,
    content = 'reflections', content_rowid = 'rowid',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER reflections_fts_insert AFTER INSERT ON reflections
WHEN typeof(new.content) = 'text' BEGIN
    INSERT INTO reflections_fts (rowid, content, response, tags)
    VALUES (new.rowid, new.content, new.response, new.tags);
END;
CREATE TRIGGER reflections_fts_delete AFTER DELETE ON reflections
WHEN typeof(old.content) = 'text' BEGIN
    INSERT INTO reflections_fts (reflections_fts, rowid, content, response, tags)
    VALUES ('delete', old.rowid, old.content, old.response, old.tags);
END;
CREATE TRIGGER reflections_fts_update_old AFTER UPDATE ON reflections
WHEN typeof(old.content) = 'text' BEGIN
    INSERT INTO reflections_fts (reflections_fts, rowid, content, response, tags)
    VALUES ('delete', old.rowid, old.content, old.response, old.tags);
END;
CREATE TRIGGER reflections_fts_update_new AFTER UPDATE ON reflections
WHEN typeof(new.content) = 'text' BEGIN
    INSERT INTO reflections_fts (rowid, content, response, tags)
    VALUES (new.rowid, new.content, new.response, new.tags);
END;

CREATE TABLE patterns (
    id            TEXT PRIMARY KEY,
    pattern_type  TEXT NOT NULL,
    name          NOT NULL,
    confidence    REAL NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    first_seen    TEXT,
    last_seen     TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    rev           INTEGER NOT NULL
);

CREATE TABLE pattern_occurrences (
    pattern_id     TEXT NOT NULL REFERENCES patterns (id) ON DELETE CASCADE,
    reflection_id  TEXT NOT NULL REFERENCES reflections (id) ON DELETE CASCADE,
    evidence,
    confidence     REAL NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    PRIMARY KEY (pattern_id, reflection_id)
);
CREATE INDEX pattern_occurrences_reflection ON pattern_occurrences (reflection_id);

CREATE TABLE tensions (
    id             TEXT PRIMARY KEY,
    reflection_id  TEXT REFERENCES reflections (id) ON DELETE CASCADE,
    detected_at    TEXT NOT NULL,
    -- JSON {"name", "axis_a", "axis_b", "position", "intensity"}; sealed when encrypted
    data           NOT NULL,
    rev            INTEGER NOT NULL
);
CREATE INDEX tensions_reflection ON tensions (reflection_id);

CREATE TABLE tombstones (
    kind        TEXT NOT NULL,
    id          TEXT NOT NULL,
    deleted_at  TEXT NOT NULL,
    rev         INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE TABLE audit_events (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    event_type     TEXT NOT NULL,
    timestamp      TEXT NOT NULL,
    data           TEXT NOT NULL,
    previous_hash  TEXT NOT NULL,
    event_hash     TEXT NOT NULL,
    -- 'sha256' for plain links, 'hmac-sha256' once the chain is keyed
    link           TEXT NOT NULL DEFAULT 'sha256'
);

-- The records an event vouches for: (kind, id) and the SHA-256 of the stored
-- row after the event, NULL for a deletion. The event's data carries the
-- SHA-256 of this list, so the list is covered by the chain.
CREATE TABLE audit_vouches (
    seq        INTEGER NOT NULL REFERENCES audit_events (seq) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    digest     TEXT,
    PRIMARY KEY (seq, kind, record_id)
);
CREATE INDEX audit_vouches_record ON audit_vouches (kind, record_id, seq);

-- migrate:down
DROP TABLE audit_vouches;
DROP TABLE audit_events;
DROP TABLE tombstones;
DROP TABLE tensions;
DROP TABLE pattern_occurrences;
DROP TABLE patterns;
DROP TRIGGER reflections_fts_update_new;
DROP TRIGGER reflections_fts_update_old;
DROP TRIGGER reflections_fts_delete;
DROP TRIGGER reflections_fts_insert;
DROP TABLE reflections_fts;
DROP TABLE reflections;
DROP TABLE meta;

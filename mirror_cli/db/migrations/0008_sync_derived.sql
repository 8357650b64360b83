-- Patterns and tensions across devices (`mirror sync --only patterns,tensions`; docs/formats/sync.md,
-- "Derived records"). One row per natural key this device has published or received: the natural key
-- itself ([pattern_type, name] or [reflection_id or "", name], JSON text, sealed like user content so
-- a deletion can still be published after the row is gone), the stamp of the value that won (hybrid
-- logical clock and device) and a keyed digest of that value (never the value: it is the patterns or
-- tensions row); vdig NULL means deleted. The id is a local ULID, never derived from the name.

-- migrate:up
CREATE TABLE sync_derived (
    id    TEXT PRIMARY KEY,
    kind  TEXT NOT NULL CHECK (kind IN ('pattern', 'tension')),
    nkey  NOT NULL,
    hlc   TEXT NOT NULL,
    dev   TEXT NOT NULL,
    vdig  TEXT
);

-- migrate:down
DROP TABLE sync_derived;

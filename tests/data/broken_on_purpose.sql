-- Test-only migration: creates a table, changes data, then fails mid-way
-- (the last statement names a table that does not exist). The runner must
-- roll all of it back and leave the database exactly as it was.

-- migrate:up
CREATE TABLE broken_extra (
    id    INTEGER PRIMARY KEY,
    note  TEXT NOT NULL
);
INSERT INTO broken_extra (note) VALUES ('half-way');
UPDATE reflections SET mode = 'CHANGED_BY_BROKEN_MIGRATION';
CREATE INDEX reflections_mode_broken ON reflections (mode);
INSERT INTO no_such_table (x) VALUES (1);

-- migrate:down
DROP TABLE broken_extra;

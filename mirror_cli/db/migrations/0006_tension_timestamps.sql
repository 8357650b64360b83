-- Tensions get created_at and updated_at like every other user record, so that
-- end-to-end sync can order and merge them (issue 2: "every user record carries
-- a stable id, created_at, updated_at, a change counter and tombstones").
-- Existing rows take their detected_at. Triggers stamp rows that the code
-- inserts or changes, so writers need not know about these columns: a new row
-- gets created_at = updated_at = now (unless given), and any change to its
-- data, detected_at or reflection_id (a real change) moves updated_at to now (unless the
-- statement set updated_at itself). Times: ISO-8601 UTC, milliseconds, Z.

-- migrate:up
ALTER TABLE tensions ADD COLUMN created_at TEXT;
ALTER TABLE tensions ADD COLUMN updated_at TEXT;
UPDATE tensions SET created_at = detected_at, updated_at = detected_at;
CREATE TRIGGER tensions_stamp_insert AFTER INSERT ON tensions
WHEN NEW.created_at IS NULL OR NEW.updated_at IS NULL
BEGIN
    UPDATE tensions
    SET created_at = coalesce(NEW.created_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        updated_at = coalesce(NEW.updated_at, NEW.created_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    WHERE id = NEW.id;
END;
CREATE TRIGGER tensions_stamp_update AFTER UPDATE OF data, detected_at, reflection_id ON tensions
WHEN NEW.updated_at IS OLD.updated_at
    AND (NEW.data IS NOT OLD.data OR NEW.detected_at IS NOT OLD.detected_at
         OR NEW.reflection_id IS NOT OLD.reflection_id)
BEGIN
    UPDATE tensions SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

-- migrate:down
DROP TRIGGER tensions_stamp_update;
DROP TRIGGER tensions_stamp_insert;
ALTER TABLE tensions DROP COLUMN updated_at;
ALTER TABLE tensions DROP COLUMN created_at;

-- Keep the full-text index right when a reflection's text is changed.
--
-- 0001 maintained the index on UPDATE with two AFTER UPDATE triggers, one
-- removing the old text and one adding the new. SQLite fires the newer
-- trigger first, so the new text was added and then the old text's tokens
-- (and the row's size entry) removed again: after `mirror edit` the words
-- both versions share were no longer found and searches could fail with
-- "database disk image is malformed". One trigger now does both steps in
-- order, and the index is rebuilt from the plaintext rows (encrypted rows
-- stay out of it, as before).

-- migrate:up
DROP TRIGGER reflections_fts_update_new;
DROP TRIGGER reflections_fts_update_old;
CREATE TRIGGER reflections_fts_update AFTER UPDATE ON reflections BEGIN
    INSERT INTO reflections_fts (reflections_fts, rowid, content, response, tags)
    SELECT 'delete', old.rowid, old.content, old.response, old.tags WHERE typeof(old.content) = 'text';
    INSERT INTO reflections_fts (rowid, content, response, tags)
    SELECT new.rowid, new.content, new.response, new.tags WHERE typeof(new.content) = 'text';
END;
INSERT INTO reflections_fts (reflections_fts) VALUES ('delete-all');
INSERT INTO reflections_fts (rowid, content, response, tags)
    SELECT rowid, content, response, tags FROM reflections WHERE typeof(content) = 'text';

-- migrate:down
DROP TRIGGER reflections_fts_update;
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

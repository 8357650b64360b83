-- Reflections get a visibility: 'private' (the default, never shown to anyone)
-- or 'shared' (the owner marked it as fine to share, e.g. in a Markdown export
-- meant for a therapist or friend). Existing reflections become private.

-- migrate:up
ALTER TABLE reflections ADD COLUMN visibility TEXT NOT NULL DEFAULT 'private'
    CHECK (visibility IN ('private', 'shared'));

-- migrate:down
ALTER TABLE reflections DROP COLUMN visibility;

-- Pattern occurrences get an intensity in [0, 1]: how strongly the words of
-- that reflection express the pattern (intensifiers, repetition), apart from
-- the confidence that the pattern is there at all. NULL until analysed.

-- migrate:up
ALTER TABLE pattern_occurrences ADD COLUMN intensity REAL
    CHECK (intensity IS NULL OR intensity BETWEEN 0 AND 1);

-- migrate:down
ALTER TABLE pattern_occurrences DROP COLUMN intensity;

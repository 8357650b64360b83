-- Incremental pattern and tension analysis (issue 7).
--
-- analysis_state remembers, per reflection, the rev that was analysed and what
-- was found in it (JSON: {"p": [[type, name, [words], confidence, intensity]],
-- "t": [[tension, position, intensity, [words a], [words b]]]}), so that a new
-- analysis reads only reflections whose rev changed. pattern_stats holds each
-- pattern's running totals (support, sum of confidences in 1e-4 units, strong
-- occurrences) and its timeline (JSON {day: [count, units]}). findings and
-- timeline are user content: sealed like patterns.name once the database is
-- encrypted (record id: the reflection id, the pattern id). Both are caches:
-- deleting their rows only makes the next analysis start from scratch.

-- migrate:up
CREATE TABLE analysis_state (
    reflection_id  TEXT PRIMARY KEY REFERENCES reflections (id) ON DELETE CASCADE,
    rev            INTEGER NOT NULL,
    findings       NOT NULL
);

CREATE TABLE pattern_stats (
    pattern_id      TEXT PRIMARY KEY REFERENCES patterns (id) ON DELETE CASCADE,
    support         INTEGER NOT NULL,
    evidence_units  INTEGER NOT NULL,
    strong          INTEGER NOT NULL,
    timeline        NOT NULL
);

-- migrate:down
DROP TABLE pattern_stats;
DROP TABLE analysis_state;

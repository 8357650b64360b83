-- Partial indexes that let a write without a key check, in a few page reads, that a journal with no key
-- record holds no sealed value and no keyed audit event (db/keyless.py). Without them that check read
-- every row of a plain journal on the first write of each process: 25 ms at 10,000 reflections,
-- 0.25 s at 100,000, for every `mirror reflect`. In a plain journal they are empty; in an encrypted one
-- they hold one small entry per row (the check does not run there). Each WHERE is written exactly as
-- keyless.py asks, so that SQLite uses the index; dropped, the query is the same one and the answer too,
-- only slower. Emptied by someone who writes the file, the answer is wrong: what the file cannot forge
-- (the marks this machine keeps of encrypted journals, by id and by file) then has every row read.

-- migrate:up
CREATE INDEX reflections_sealed ON reflections (local_only)
    WHERE typeof(content) = 'blob' OR typeof(response) = 'blob' OR typeof(tags) = 'blob';
CREATE INDEX patterns_sealed ON patterns (rev) WHERE typeof(name) = 'blob';
CREATE INDEX pattern_occurrences_sealed ON pattern_occurrences (confidence) WHERE typeof(evidence) = 'blob';
CREATE INDEX tensions_sealed ON tensions (rev) WHERE typeof(data) = 'blob';
CREATE INDEX analysis_state_sealed ON analysis_state (rev) WHERE typeof(findings) = 'blob';
CREATE INDEX pattern_stats_sealed ON pattern_stats (support) WHERE typeof(timeline) = 'blob';
CREATE INDEX sync_conflicts_sealed ON sync_conflicts (seen) WHERE typeof(value) = 'blob';
CREATE INDEX sync_derived_sealed ON sync_derived (kind) WHERE typeof(nkey) = 'blob';
CREATE INDEX audit_events_keyed ON audit_events (seq) WHERE link != 'sha256';

-- migrate:down
DROP INDEX audit_events_keyed;
DROP INDEX sync_derived_sealed;
DROP INDEX sync_conflicts_sealed;
DROP INDEX pattern_stats_sealed;
DROP INDEX analysis_state_sealed;
DROP INDEX tensions_sealed;
DROP INDEX pattern_occurrences_sealed;
DROP INDEX patterns_sealed;
DROP INDEX reflections_sealed;

-- Several readers per bootstrap (snapshot.parallelism > 1, see source/snapshot/ranges.rs): the
-- job's key ranges and each one's progress, as JSON: [{"range": {"column", "from", "to"} or
-- null for the whole table, "last_key": [hex, ...] or null, "done": bool}, ...]. Stored before
-- the first chunk and after each chunk; replaces last_key, which older jobs still resume from.
ALTER TABLE bootstrap_jobs
    ADD COLUMN key_ranges TEXT NULL AFTER last_key;

-- Resync jobs created for DDL: before bootstrapping, every HBase row of the table is deleted at
-- purge_version (the DDL's version), masking what the DDL changed without row events.
ALTER TABLE bootstrap_jobs
    ADD COLUMN purge_version BIGINT NULL AFTER where_clause,
    ADD COLUMN purged TINYINT NOT NULL DEFAULT 0 AFTER purge_version;

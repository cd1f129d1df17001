-- Versions are milliseconds since the epoch (HBase's own clock), see docs/ARCHITECTURE.md.

-- Where the checkpoint's history comes from: the server (its server_uuid, or its server_id) and
-- what the checkpoint's binlog file began with (the creation time of its first event, and its
-- second event: MariaDB's GTID list, MySQL's previous GTIDs), so a changed server or a reset
-- binlog is told apart from the history the checkpoint belongs to.
-- highest_version: the highest version the pipeline wrote (NULL: written by a version of the
-- service with binlog-derived versions); a restart starts above it.
ALTER TABLE checkpoint
    ADD COLUMN source_id       VARCHAR(100) NULL AFTER gtid_set,
    ADD COLUMN file_origin     TEXT         NULL AFTER source_id,
    ADD COLUMN highest_version BIGINT       NULL AFTER file_origin;

-- Jobs no longer delete at a version: a `cleanup` job writes every row as a whole-row replace
-- and then deletes, in stream order, the HBase rows MySQL does not have (`cleaned` once done;
-- `extras_key` is the last HBase key looked at). Resyncs are keyed by their DDL's position.
-- `repair_keys` holds the rows a `verify --repair` hands to the daemon.
ALTER TABLE bootstrap_jobs
    ADD COLUMN cleanup      TINYINT      NOT NULL DEFAULT 0 AFTER where_clause,
    ADD COLUMN cleaned      TINYINT      NOT NULL DEFAULT 0 AFTER cleanup,
    ADD COLUMN extras_key   TEXT         NULL AFTER cleaned,
    ADD COLUMN ddl_position VARCHAR(300) NULL AFTER extras_key,
    ADD COLUMN repair_keys  MEDIUMTEXT   NULL AFTER ddl_position;
UPDATE bootstrap_jobs SET cleanup = 1 WHERE purge_version IS NOT NULL;
ALTER TABLE bootstrap_jobs DROP COLUMN purge_version, DROP COLUMN purged;

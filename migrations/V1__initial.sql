-- State store of mysql2hbase. Applied by `mysql2hbase migrate` and at `run` start.

-- The position below which HBase has acknowledged every change, one row per pipeline
-- (keyed by our replica server_id, so several pipelines may share one state schema).
CREATE TABLE checkpoint (
    server_id     INT UNSIGNED    NOT NULL PRIMARY KEY,
    binlog_file   VARCHAR(255)    NOT NULL,
    binlog_pos    BIGINT UNSIGNED NOT NULL,
    gtid_set      TEXT            NULL,
    updated_at    TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE = InnoDB;

-- Table bootstraps. Insert a row with database_name and table_name (and optionally
-- where_clause) from any SQL client to request one; the daemon picks up 'pending' rows.
CREATE TABLE bootstrap_jobs (
    id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    database_name  VARCHAR(64)     NOT NULL,
    table_name     VARCHAR(64)     NOT NULL,
    where_clause   TEXT            NULL,
    status         VARCHAR(16)     NOT NULL DEFAULT 'pending', -- pending | running | complete | failed
    locking_mode   VARCHAR(16)     NULL,
    snapshot_file  VARCHAR(255)    NULL,     -- position P the rows are consistent with (locking modes)
    snapshot_pos   BIGINT UNSIGNED NULL,
    last_key       TEXT            NULL,     -- JSON primary key of the last finished chunk
    chunks_done    BIGINT UNSIGNED NOT NULL DEFAULT 0,
    rows_done      BIGINT UNSIGNED NOT NULL DEFAULT 0,
    rows_total     BIGINT UNSIGNED NULL,
    lock_held_ms   BIGINT UNSIGNED NULL,     -- how long the global read lock was held
    error          TEXT            NULL,
    created_at     TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    started_at     TIMESTAMP(3)    NULL,
    finished_at    TIMESTAMP(3)    NULL,
    KEY status_idx (status)
) ENGINE = InnoDB;

-- Column layouts of captured tables as of a binlog position, for servers that do not send
-- column names in TABLE_MAP events (binlog_row_metadata other than FULL).
CREATE TABLE schema_history (
    id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    database_name  VARCHAR(64)     NOT NULL,
    table_name     VARCHAR(64)     NOT NULL,
    binlog_file    VARCHAR(255)    NOT NULL,
    binlog_pos     BIGINT UNSIGNED NOT NULL,
    columns_json   MEDIUMTEXT      NOT NULL,
    ddl            MEDIUMTEXT      NULL,
    created_at     TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    KEY table_idx (database_name, table_name, id)
) ENGINE = InnoDB;

-- Per-table state: a table the service had to stop (un-followable DDL, no primary key) and why.
CREATE TABLE table_state (
    database_name  VARCHAR(64)     NOT NULL,
    table_name     VARCHAR(64)     NOT NULL,
    state          VARCHAR(16)     NOT NULL, -- streaming | stopped
    reason         TEXT            NULL,
    updated_at     TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (database_name, table_name)
) ENGINE = InnoDB;

-- Backfills (see docs/ARCHITECTURE.md, "DDL, statements and XA"): a resync of a DDL that changed
-- only some columns writes just those. put_columns: JSON array of the columns whose cells are
-- rewritten from MySQL (added, re-rendered, renamed to); cleared_columns: JSON array of the
-- columns whose cells are deleted (dropped, renamed from). Both NULL for whole-row jobs.
ALTER TABLE bootstrap_jobs
    ADD COLUMN put_columns     TEXT NULL AFTER repair_keys,
    ADD COLUMN cleared_columns TEXT NULL AFTER put_columns;

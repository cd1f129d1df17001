-- Schema history (see docs/ARCHITECTURE.md, "Schema history"): a captured table's columns as
-- of a binlog position (binlog_file/binlog_pos: a DDL, or the first row event seen without a
-- recorded schema), read from information_schema when the binlog was at read_at_file /
-- read_at_pos at the latest. The columns hold for the position when no other DDL of the table
-- lies between the two positions.
ALTER TABLE schema_history
    ADD COLUMN read_at_file VARCHAR(255)    NULL AFTER binlog_pos,
    ADD COLUMN read_at_pos  BIGINT UNSIGNED NULL AFTER read_at_file;

//! Which `ALTER TABLE` statements leave every stored value as it was.
//!
//! An `ALTER TABLE` is a list of clauses separated by commas at the top level. The statement
//! changes no stored value when each clause is one of:
//! - an index or a constraint other than the primary key: `ADD INDEX|KEY|UNIQUE|FULLTEXT|
//!   SPATIAL|FOREIGN KEY|CHECK|CONSTRAINT ...` (not `PRIMARY`), `DROP INDEX|KEY|FOREIGN KEY|CHECK|
//!   CONSTRAINT name` (not `PRIMARY`), `ALTER INDEX`, `RENAME INDEX|KEY`, `ENABLE|DISABLE KEYS`;
//! - a column's default or visibility: `ALTER [COLUMN] c SET DEFAULT ... | DROP DEFAULT |
//!   SET VISIBLE | SET INVISIBLE` (existing rows keep their values);
//! - the physical layout: `FORCE`, `ORDER BY`, partition maintenance that moves rows only
//!   between partitions of the same table (`ADD|REORGANIZE|COALESCE|REBUILD|OPTIMIZE|ANALYZE|
//!   CHECK|REPAIR PARTITION`, `PARTITION BY`, `REMOVE PARTITIONING`);
//! - table options (`ENGINE`, `COMMENT`, `AUTO_INCREMENT`, `ALGORITHM`, `LOCK`, `ROW_FORMAT`,
//!   the table's default `CHARACTER SET` / `COLLATE` without `CONVERT TO`, ...).
//!
//! Anything else (a column added, dropped, renamed or modified, the primary key, `CONVERT TO
//! CHARACTER SET`, `DROP|TRUNCATE|EXCHANGE|DISCARD|IMPORT PARTITION`, a clause not known here)
//! may change stored values or row keys: the caller resyncs the table. Unknown means "may", so a
//! clause this module does not know costs a resync, never a wrong row.

/// Whether the clauses of an `ALTER TABLE` (the upper-cased tokens after the table name, as
/// `core::ddl`'s tokenizer makes them) change no stored value and no row key.
pub(super) fn changes_no_rows(tokens: &[String]) -> bool {
    let words = split_equals(tokens);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut clause: Vec<&str> = Vec::new();
    let mut depth = 0usize;
    for (k, &w) in words.iter().enumerate() {
        // Partition maintenance ends the statement and lists partitions with commas
        // (`REORGANIZE PARTITION p0, p1 INTO (...)`).
        if clause.is_empty()
            && PARTITION_MAINTENANCE.contains(&w)
            && words.get(k + 1) == Some(&"PARTITION")
        {
            return true;
        }
        match w {
            "(" => depth += 1,
            ")" => depth = depth.saturating_sub(1),
            "," if depth == 0 => {
                if !clause_changes_no_rows(&clause) {
                    return false;
                }
                clause.clear();
                continue;
            }
            _ => {}
        }
        clause.push(w);
    }
    clause_changes_no_rows(&clause)
}

/// `ENGINE=InnoDB` is one token of the tokenizer; options read better as `ENGINE`, `=`,
/// `InnoDB`.
fn split_equals(tokens: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(tokens.len());
    for t in tokens {
        if t.starts_with('`') || !t.contains('=') {
            out.push(t.clone());
            continue;
        }
        let mut rest = t.as_str();
        while let Some(at) = rest.find('=') {
            if at > 0 {
                out.push(rest[..at].to_string());
            }
            out.push("=".to_string());
            rest = &rest[at + 1..];
        }
        if !rest.is_empty() {
            out.push(rest.to_string());
        }
    }
    out
}

/// Table options: `[DEFAULT] name [=] value`, several per clause, without commas.
const TABLE_OPTIONS: &[&str] = &[
    "ENGINE",
    "AUTO_INCREMENT",
    "COMMENT",
    "ALGORITHM",
    "LOCK",
    "ROW_FORMAT",
    "KEY_BLOCK_SIZE",
    "STATS_PERSISTENT",
    "STATS_AUTO_RECALC",
    "STATS_SAMPLE_PAGES",
    "PACK_KEYS",
    "CHECKSUM",
    "PAGE_CHECKSUM",
    "MIN_ROWS",
    "MAX_ROWS",
    "AVG_ROW_LENGTH",
    "DELAY_KEY_WRITE",
    "COMPRESSION",
    "ENCRYPTION",
    "ENCRYPTED",
    "ENCRYPTION_KEY_ID",
    "PAGE_COMPRESSED",
    "PAGE_COMPRESSION_LEVEL",
    "TRANSACTIONAL",
    "IETF_QUOTES",
    "INSERT_METHOD",
    "TABLESPACE",
    "CHARSET",
    "COLLATE",
    "WAIT",
];

/// Partition operations that keep every row in the table.
const PARTITION_MAINTENANCE: &[&str] = &[
    "ADD",
    "REORGANIZE",
    "COALESCE",
    "REBUILD",
    "OPTIMIZE",
    "ANALYZE",
    "CHECK",
    "REPAIR",
];

fn clause_changes_no_rows(c: &[&str]) -> bool {
    let at = |i: usize| c.get(i).copied().unwrap_or("");
    let not_primary = |i: usize| at(i) != "PRIMARY" && at(i) != "`PRIMARY`";
    match at(0) {
        "" | "FORCE" | "NOWAIT" => c.len() <= 1,
        "ADD" => match at(1) {
            "INDEX" | "KEY" | "UNIQUE" | "FULLTEXT" | "SPATIAL" | "FOREIGN" | "CHECK" => true,
            // ADD CONSTRAINT [name] UNIQUE|FOREIGN KEY|CHECK, never PRIMARY KEY.
            "CONSTRAINT" => (2..=3).any(|i| matches!(at(i), "UNIQUE" | "FOREIGN" | "CHECK")),
            "PARTITION" => true,
            _ => false,
        },
        "DROP" => match at(1) {
            "INDEX" | "KEY" | "CONSTRAINT" => {
                let name = if at(2) == "IF" { 4 } else { 2 };
                not_primary(name)
            }
            "FOREIGN" | "CHECK" => true,
            _ => false,
        },
        "ALTER" => {
            if at(1) == "INDEX" || at(1) == "KEY" {
                return true;
            }
            // ALTER [COLUMN] [IF EXISTS] c SET DEFAULT v | DROP DEFAULT | SET [IN]VISIBLE
            let mut i = if at(1) == "COLUMN" { 2 } else { 1 };
            if at(i) == "IF" && at(i + 1) == "EXISTS" {
                i += 2;
            }
            matches!(
                (at(i + 1), at(i + 2)),
                ("SET", "DEFAULT")
                    | ("DROP", "DEFAULT")
                    | ("SET", "VISIBLE")
                    | ("SET", "INVISIBLE")
            )
        }
        "RENAME" => matches!(at(1), "INDEX" | "KEY"),
        "ENABLE" | "DISABLE" => at(1) == "KEYS" && c.len() == 2,
        "ORDER" => at(1) == "BY",
        "REMOVE" => at(1) == "PARTITIONING" && c.len() == 2,
        "PARTITION" => at(1) == "BY",
        w if PARTITION_MAINTENANCE.contains(&w) && at(1) == "PARTITION" => true,
        _ => table_options_only(c),
    }
}

/// `[DEFAULT] name [=] value ...`; `CHARACTER SET x` counts as one name (the table's default
/// for new columns, not a conversion of stored values).
fn table_options_only(c: &[&str]) -> bool {
    let mut i = 0;
    while i < c.len() {
        if c[i] == "DEFAULT" {
            i += 1;
        }
        match c.get(i).copied() {
            Some("CHARACTER") if c.get(i + 1) == Some(&"SET") => i += 2,
            Some(name) if TABLE_OPTIONS.contains(&name) => i += 1,
            _ => return false,
        }
        if c.get(i) == Some(&"=") {
            i += 1;
        }
        // One value: a word, a number or a string literal.
        match c.get(i) {
            Some(v) if !matches!(*v, "(" | ")" | "," | "=") => i += 1,
            _ => return false,
        }
    }
    !c.is_empty()
}

#[cfg(test)]
mod tests {
    use crate::core::ddl::{classify, Statement, TableRef};

    fn schema_only(q: &str) -> bool {
        match classify(q, "d") {
            Statement::SchemaOnly(tables) => {
                assert_eq!(
                    tables,
                    [TableRef {
                        db: "d".into(),
                        table: "t".into()
                    }],
                    "{q}"
                );
                true
            }
            Statement::Ddl(_) => false,
            other => panic!("{q}: {other:?}"),
        }
    }

    #[test]
    fn alters_that_change_no_stored_value() {
        for q in [
            "ALTER TABLE t ADD INDEX (w)",
            "ALTER TABLE t ADD INDEX i (a, b) USING BTREE COMMENT 'x, y', ADD UNIQUE KEY u (c)",
            "alter table t add fulltext ft (s), add spatial index sp (g)",
            "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id) ON DELETE CASCADE",
            "ALTER TABLE t ADD CONSTRAINT c1 CHECK (a > 0), ADD CHECK (b < 5)",
            "ALTER TABLE t DROP INDEX i, DROP KEY j, DROP FOREIGN KEY fk, DROP CHECK c1",
            "ALTER TABLE t DROP INDEX IF EXISTS i",
            "ALTER TABLE t RENAME INDEX a TO b, ALTER INDEX c INVISIBLE",
            "ALTER TABLE t ENGINE=InnoDB",
            "ALTER TABLE t ENGINE = InnoDB ROW_FORMAT=DYNAMIC COMMENT='orders, by day'",
            "ALTER TABLE t AUTO_INCREMENT = 1000",
            "ALTER TABLE t FORCE",
            "ALTER TABLE t ADD INDEX (w), ALGORITHM=INPLACE, LOCK=NONE",
            "ALTER ONLINE TABLE t ADD INDEX (w)",
            "ALTER TABLE t DEFAULT CHARACTER SET = utf8mb4 COLLATE utf8mb4_bin",
            "ALTER TABLE t ALTER COLUMN v SET DEFAULT 5, ALTER w DROP DEFAULT",
            "ALTER TABLE t ORDER BY v",
            "ALTER TABLE t PARTITION BY HASH (id) PARTITIONS 4",
            "ALTER TABLE t ADD PARTITION (PARTITION p3 VALUES LESS THAN (30))",
            "ALTER TABLE t REORGANIZE PARTITION p0, p1 INTO (PARTITION p01 VALUES LESS THAN (20))",
            "ALTER TABLE t COALESCE PARTITION 2",
            "ALTER TABLE t OPTIMIZE PARTITION p0, p1",
            "ALTER TABLE t REMOVE PARTITIONING",
        ] {
            assert!(schema_only(q), "{q} changes no stored value");
        }
    }

    #[test]
    fn alters_that_may_change_stored_values_or_keys() {
        for q in [
            "ALTER TABLE t ADD COLUMN c INT DEFAULT 5",
            "ALTER TABLE t ADD c INT",
            "ALTER TABLE t ADD INDEX (w), ADD COLUMN c INT",
            "ALTER TABLE t DROP COLUMN c",
            "ALTER TABLE t DROP c",
            "ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (a, b)",
            "ALTER TABLE t ADD PRIMARY KEY (a)",
            "ALTER TABLE t ADD CONSTRAINT pk PRIMARY KEY (a)",
            "ALTER TABLE t DROP INDEX `PRIMARY`",
            "ALTER TABLE t MODIFY v BIGINT",
            "ALTER TABLE t CHANGE v w INT",
            "ALTER TABLE t RENAME COLUMN v TO w",
            "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4",
            "ALTER TABLE t DROP PARTITION p0",
            "ALTER TABLE t TRUNCATE PARTITION p0",
            "ALTER TABLE t IMPORT TABLESPACE",
            "ALTER TABLE t ALTER COLUMN v SET DEFAULT 5, DROP COLUMN w",
            "ALTER TABLE t SOMETHING_NEW",
        ] {
            assert!(!schema_only(q), "{q} may change stored values");
        }
    }
}

//! What a statement in the binlog (a QUERY event that is not transaction control) does to the
//! rows of captured tables.
//!
//! Row events carry the new schema in their TABLE_MAP events after a DDL, so decoding follows by
//! itself. What does not follow by itself are rows changed without row events:
//! - DDL: ADD COLUMN with a default, DROP COLUMN (cells left behind), MODIFY COLUMN (values
//!   re-rendered), TRUNCATE, DROP TABLE, RENAME TABLE (both names of every pair), CREATE OR
//!   REPLACE, `EXCHANGE PARTITION` (both tables), DROP DATABASE (every table of it); an
//!   `ALTER TABLE` whose every clause is known to keep stored values (indexes, constraints,
//!   table options, partition maintenance: see `alter`) is [`Statement::SchemaOnly`] instead;
//! - DML that a session logged as a statement (`binlog_format = STATEMENT`, or `MIXED` for a
//!   statement the server deems safe): INSERT, REPLACE, UPDATE, DELETE, LOAD DATA, every table
//!   they may write (for joins: every table named; a superset is only extra work).
//!
//! The router resyncs such tables from the statement's position (see `core::router`), or stops
//! when the configuration says so. A statement whose tables cannot be worked out is
//! [`Statement::Unknown`]: never ignored. This module only reads the statement.

mod alter;
mod columns;

pub use columns::column_change;

/// One table named by a statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableRef {
    pub db: String,
    pub table: String,
}

/// What a statement does to table rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// Changes no table's rows: CREATE TABLE, indexes, views, grants, users, ...
    NoRowChanges,
    /// DDL that changes these tables' definitions but no stored value and no row key (indexes,
    /// constraints, table options, partition maintenance: see `alter`).
    SchemaOnly(Vec<TableRef>),
    /// DDL that may change these tables' rows without row events.
    Ddl(Vec<TableRef>),
    /// Every table of the database is gone.
    DropDatabase(String),
    /// DML logged as a statement: the tables it may write.
    Dml(Vec<TableRef>),
    /// The tables it changes cannot be worked out; the reason.
    Unknown(String),
}

/// What `query` (run with `default_db` as the current database) does to table rows.
pub fn classify(query: &str, default_db: &str) -> Statement {
    match classify_tokens(query, default_db) {
        Ok(statement) => statement,
        Err(UnparsedDdl(reason)) => Statement::Unknown(reason),
    }
}

/// Why a statement could not be understood.
#[derive(Debug, PartialEq, Eq)]
struct UnparsedDdl(String);

/// Statements known to change no table rows, by their first words.
const NO_ROW_CHANGES: &[&str] = &[
    "ANALYZE",
    "CHECK",
    "CHECKSUM",
    "FLUSH",
    "GRANT",
    "REVOKE",
    "OPTIMIZE",
    "REPAIR",
    "SET",
    "INSTALL",
    "UNINSTALL",
    "RESET",
    "PURGE",
    "KILL",
    "SHUTDOWN",
    "LOCK",
    "UNLOCK",
    "USE",
    "SIGNAL",
    "RESIGNAL",
];

fn classify_tokens(query: &str, default_db: &str) -> Result<Statement, UnparsedDdl> {
    let tokens = tokenize(query);
    let upper: Vec<String> = tokens.iter().map(|t| t.to_ascii_uppercase()).collect();
    let at = |i: usize| upper.get(i).map(String::as_str).unwrap_or("");
    let mut i;
    let name_at = |i: &mut usize| -> Result<TableRef, UnparsedDdl> {
        let first = tokens
            .get(*i)
            .filter(|t| !matches!(t.as_str(), "," | "(" | ")" | ";" | "." | "''"))
            .ok_or_else(|| UnparsedDdl(format!("no table name in {query:?}")))?;
        *i += 1;
        if tokens.get(*i).map(String::as_str) == Some(".") {
            let second = tokens
                .get(*i + 1)
                .ok_or_else(|| UnparsedDdl(format!("no table name after {first}. in {query:?}")))?;
            *i += 2;
            Ok(TableRef {
                db: unquote(first),
                table: unquote(second),
            })
        } else {
            Ok(TableRef {
                db: default_db.to_string(),
                table: unquote(first),
            })
        }
    };
    let word = at(0);
    // MariaDB's `SET STATEMENT var = value [, ...] FOR statement`: the statement counts.
    if word == "SET" && at(1) == "STATEMENT" {
        let upper_query = query.to_ascii_uppercase();
        return match upper_query.find(" FOR ") {
            Some(at) => classify_tokens(&query[at + 5..], default_db),
            None => Err(UnparsedDdl(format!("no FOR in {query:?}"))),
        };
    }
    if NO_ROW_CHANGES.contains(&word) {
        return Ok(Statement::NoRowChanges);
    }
    match word {
        "ALTER" => {
            i = 1;
            while matches!(at(i), "ONLINE" | "IGNORE") {
                i += 1;
            }
            if at(i) != "TABLE" {
                return Ok(Statement::NoRowChanges); // ALTER DATABASE, ALTER USER, ...
            }
            i += 1;
            if at(i) == "IF" && at(i + 1) == "EXISTS" {
                i += 2;
            }
            let mut out = vec![name_at(&mut i)?];
            // mysqldump's `ALTER TABLE t DISABLE KEYS` / `ENABLE KEYS` change no rows.
            if matches!(at(i), "DISABLE" | "ENABLE") && at(i + 1) == "KEYS" && i + 2 >= upper.len()
            {
                return Ok(Statement::NoRowChanges);
            }
            if alter::changes_no_rows(&upper[i..]) {
                return Ok(Statement::SchemaOnly(out));
            }
            while i < upper.len() {
                // ALTER TABLE a RENAME [TO | AS] b: the new name needs its rows too.
                if at(i) == "RENAME" && !matches!(at(i + 1), "COLUMN" | "INDEX" | "KEY") {
                    i += 1;
                    if matches!(at(i), "TO" | "AS") {
                        i += 1;
                    }
                    out.push(name_at(&mut i)?);
                // ALTER TABLE a EXCHANGE PARTITION p WITH TABLE b: rows move both ways.
                } else if at(i) == "WITH" && at(i + 1) == "TABLE" {
                    i += 2;
                    out.push(name_at(&mut i)?);
                } else {
                    i += 1;
                }
            }
            Ok(Statement::Ddl(out))
        }
        "TRUNCATE" => {
            i = 1;
            if at(i) == "TABLE" {
                i += 1;
            }
            Ok(Statement::Ddl(vec![name_at(&mut i)?]))
        }
        "DROP" => {
            i = 1;
            if matches!(at(i), "DATABASE" | "SCHEMA") {
                i += 1;
                if at(i) == "IF" && at(i + 1) == "EXISTS" {
                    i += 2;
                }
                let db = tokens
                    .get(i)
                    .ok_or_else(|| UnparsedDdl(format!("no database name in {query:?}")))?;
                return Ok(Statement::DropDatabase(unquote(db)));
            }
            if at(i) != "TABLE" {
                return Ok(Statement::NoRowChanges); // DROP TEMPORARY TABLE, INDEX, VIEW, ...
            }
            i += 1;
            if at(i) == "IF" && at(i + 1) == "EXISTS" {
                i += 2;
            }
            let mut out = vec![name_at(&mut i)?];
            while at(i) == "," {
                i += 1;
                out.push(name_at(&mut i)?);
            }
            Ok(Statement::Ddl(out))
        }
        "RENAME" => {
            if at(1) != "TABLE" {
                return Ok(Statement::NoRowChanges); // RENAME USER
            }
            i = 2;
            let mut out = Vec::new();
            loop {
                out.push(name_at(&mut i)?);
                if at(i) != "TO" {
                    return Err(UnparsedDdl(format!("expected TO in {query:?}")));
                }
                i += 1;
                out.push(name_at(&mut i)?);
                if at(i) != "," {
                    return Ok(Statement::Ddl(out));
                }
                i += 1;
            }
        }
        "CREATE" => {
            i = 1;
            // CREATE OR REPLACE TABLE replaces an existing table's rows.
            let replace = at(1) == "OR" && at(2) == "REPLACE";
            if replace {
                i = 3;
            }
            if at(i) != "TABLE" {
                return Ok(Statement::NoRowChanges);
            }
            i += 1;
            if at(i) == "IF" && at(i + 1) == "NOT" && at(i + 2) == "EXISTS" {
                i += 3;
            }
            let table = name_at(&mut i)?;
            // CREATE TABLE ... SELECT logged as a statement fills the table.
            let fills = upper[i..].iter().any(|w| w == "SELECT");
            if replace || fills {
                Ok(Statement::Ddl(vec![table]))
            } else {
                Ok(Statement::NoRowChanges)
            }
        }
        "INSERT" | "REPLACE" => {
            i = 1;
            while matches!(
                at(i),
                "LOW_PRIORITY" | "DELAYED" | "HIGH_PRIORITY" | "IGNORE"
            ) {
                i += 1;
            }
            if at(i) == "INTO" {
                i += 1;
            }
            Ok(Statement::Dml(vec![name_at(&mut i)?]))
        }
        "LOAD" => {
            // LOAD DATA|XML [modifiers] [LOCAL] INFILE 'f' [REPLACE|IGNORE] INTO TABLE t
            let into = (0..upper.len())
                .find(|&k| at(k) == "INTO" && at(k + 1) == "TABLE")
                .ok_or_else(|| UnparsedDdl(format!("no INTO TABLE in {query:?}")))?;
            i = into + 2;
            Ok(Statement::Dml(vec![name_at(&mut i)?]))
        }
        "UPDATE" | "DELETE" => Ok(Statement::Dml(dml_tables(
            &tokens, &upper, word, default_db, query,
        )?)),
        "XA" | "BEGIN" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" | "START" => {
            Ok(Statement::NoRowChanges)
        }
        _ => Err(UnparsedDdl(format!(
            "a statement this service does not know: {query:?}"
        ))),
    }
}

/// Whether `query` is an `ALTER TABLE` (inside `SET STATEMENT ... FOR` and executable
/// comments too).
pub fn is_alter_table(query: &str) -> bool {
    let upper: Vec<String> = tokenize(query)
        .iter()
        .map(|t| t.to_ascii_uppercase())
        .collect();
    let start = match upper.first().map(String::as_str) {
        Some("SET") => match upper.iter().position(|w| w == "FOR") {
            Some(at) => at + 1,
            None => return false,
        },
        _ => 0,
    };
    let mut i = start + 1;
    while matches!(upper.get(i).map(String::as_str), Some("ONLINE" | "IGNORE")) {
        i += 1;
    }
    upper.get(start).map(String::as_str) == Some("ALTER")
        && upper.get(i).map(String::as_str) == Some("TABLE")
}

/// The columns the `MODIFY` and `CHANGE` clauses of an `ALTER TABLE` name (new names).
pub fn modified_columns(query: &str) -> Vec<String> {
    let tokens = tokenize(query);
    let upper: Vec<String> = tokens.iter().map(|t| t.to_ascii_uppercase()).collect();
    columns::modified_columns(&tokens, &upper)
}

/// The databases a statement names: its default database and every qualifier (`db.`), for
/// telling whether a statement of unknown effect can concern captured tables at all.
pub fn databases_named(query: &str, default_db: &str) -> Vec<String> {
    let tokens = tokenize(query);
    let mut out = vec![default_db.to_string()];
    for pair in tokens.windows(2) {
        if pair[1] == "." && !matches!(pair[0].as_str(), "." | "," | "(" | ")" | "''") {
            let db = unquote(&pair[0]);
            if !out.contains(&db) {
                out.push(db);
            }
        }
    }
    out
}

/// The tables an UPDATE or DELETE statement may write: every table name in its table
/// references (UPDATE: before SET; DELETE: before WHERE / ORDER / LIMIT, which covers the
/// multi-table forms `DELETE t1, t2 FROM t1 JOIN t2 ...` and `DELETE FROM t1 USING ...`).
/// Names are words that follow UPDATE, FROM, USING, JOIN or a comma, so aliases and `ON`
/// conditions are not taken for tables; a name of another kind is only extra work.
fn dml_tables(
    tokens: &[String],
    upper: &[String],
    word: &str,
    default_db: &str,
    query: &str,
) -> Result<Vec<TableRef>, UnparsedDdl> {
    let ends: &[&str] = if word == "UPDATE" {
        &["SET"]
    } else {
        &["WHERE", "ORDER", "LIMIT", "RETURNING"]
    };
    let end = upper
        .iter()
        .position(|w| ends.contains(&w.as_str()))
        .unwrap_or(upper.len());
    let starts_name = |w: &str| matches!(w, "UPDATE" | "DELETE" | "FROM" | "USING" | "JOIN" | ",");
    let modifiers = ["LOW_PRIORITY", "QUICK", "IGNORE", "STRAIGHT_JOIN"];
    let mut out: Vec<TableRef> = Vec::new();
    let mut i = 0;
    while i < end {
        if !starts_name(&upper[i]) {
            i += 1;
            continue;
        }
        i += 1;
        while i < end && modifiers.contains(&upper[i].as_str()) {
            i += 1;
        }
        if i >= end || matches!(tokens[i].as_str(), "(" | "," | "FROM") || upper[i] == "FROM" {
            continue;
        }
        let first = &tokens[i];
        let (db, table) = if tokens.get(i + 1).map(String::as_str) == Some(".") {
            let second = tokens
                .get(i + 2)
                .ok_or_else(|| UnparsedDdl(format!("no table name after {first}. in {query:?}")))?;
            i += 3;
            (
                unquote(first),
                unquote(second).trim_end_matches(".*").to_string(),
            )
        } else {
            i += 1;
            (default_db.to_string(), unquote(first))
        };
        // `DELETE t1.* FROM ...`
        let table = if table == "*" { continue } else { table };
        let r = TableRef { db, table };
        if !out.contains(&r) {
            out.push(r);
        }
    }
    if out.is_empty() {
        return Err(UnparsedDdl(format!("no table name in {query:?}")));
    }
    Ok(out)
}

/// Words, quoted identifiers (kept with their backticks), and `.`, `,`, `(`, `)` as tokens;
/// comments and string literals are skipped.
fn tokenize(q: &str) -> Vec<String> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            // Executable comments (`/*!40101 ... */`, MariaDB's `/*M!100100 ... */`) are SQL
            // the server ran: their content counts, the markers and version do not.
            let executable = match (chars.get(i + 2), chars.get(i + 3)) {
                (Some('!'), _) => Some(i + 3),
                (Some('M'), Some('!')) => Some(i + 4),
                _ => None,
            };
            if let Some(content) = executable {
                i = content;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                continue;
            }
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '*' && chars.get(i + 1) == Some(&'/') {
            i += 2; // the end of an executable comment
        } else if c == '#' || (c == '-' && chars.get(i + 1) == Some(&'-')) {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '`' {
            let mut s = String::from('`');
            i += 1;
            while i < chars.len() {
                if chars[i] == '`' {
                    if chars.get(i + 1) == Some(&'`') {
                        s.push('`');
                        i += 2;
                        continue;
                    }
                    break;
                }
                s.push(chars[i]);
                i += 1;
            }
            s.push('`');
            i += 1;
            out.push(s);
        } else if c == '\'' || c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push("''".into());
        } else if ".,();".contains(c) {
            out.push(c.to_string());
            i += 1;
        } else {
            let start = i;
            let ends_word = |i: usize| {
                chars[i].is_whitespace()
                    || ".,()`;'\"".contains(chars[i])
                    || (chars[i] == '*' && chars.get(i + 1) == Some(&'/'))
            };
            while i < chars.len() && !ends_word(i) {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        }
    }
    out
}

fn unquote(t: &str) -> String {
    t.strip_prefix('`')
        .and_then(|s| s.strip_suffix('`'))
        .unwrap_or(t)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(db: &str, t: &str) -> TableRef {
        TableRef {
            db: db.into(),
            table: t.into(),
        }
    }

    fn ddl(q: &str) -> Vec<TableRef> {
        match classify(q, "d") {
            Statement::Ddl(tables) => tables,
            other => panic!("{q}: {other:?}"),
        }
    }

    fn dml(q: &str) -> Vec<TableRef> {
        match classify(q, "d") {
            Statement::Dml(tables) => tables,
            other => panic!("{q}: {other:?}"),
        }
    }

    #[test]
    fn ddl_that_changes_rows_without_row_events() {
        assert_eq!(
            ddl("ALTER TABLE t ADD COLUMN c INT DEFAULT 5"),
            [r("d", "t")]
        );
        assert_eq!(
            ddl("alter table `my db`.`t``x` drop column c"),
            [r("my db", "t`x")]
        );
        assert_eq!(ddl("ALTER TABLE a RENAME TO b"), [r("d", "a"), r("d", "b")]);
        assert_eq!(ddl("ALTER TABLE a RENAME COLUMN x TO y"), [r("d", "a")]);
        assert_eq!(
            ddl("ALTER TABLE a EXCHANGE PARTITION p0 WITH TABLE s.b WITHOUT VALIDATION"),
            [r("d", "a"), r("s", "b")]
        );
        assert_eq!(ddl("TRUNCATE TABLE s.t"), [r("s", "t")]);
        assert_eq!(ddl("TRUNCATE t"), [r("d", "t")]);
        assert_eq!(
            ddl("DROP TABLE IF EXISTS `a`,`b` /* generated by server */"),
            [r("d", "a"), r("d", "b")]
        );
        assert_eq!(
            ddl("RENAME TABLE a TO b, s.c TO s.d"),
            [r("d", "a"), r("d", "b"), r("s", "c"), r("s", "d")]
        );
        // A swap: both tables, each named twice.
        assert_eq!(
            ddl("RENAME TABLE a TO tmp, b TO a, tmp TO b"),
            [
                r("d", "a"),
                r("d", "tmp"),
                r("d", "b"),
                r("d", "a"),
                r("d", "tmp"),
                r("d", "b")
            ]
        );
        assert_eq!(ddl("CREATE OR REPLACE TABLE t (id INT)"), [r("d", "t")]);
        assert_eq!(ddl("CREATE TABLE t2 SELECT * FROM t"), [r("d", "t2")]);
        assert_eq!(
            ddl("/*M!100100 TRUNCATE `s`.`t` */"),
            [r("s", "t")],
            "executable comments run"
        );
        assert_eq!(
            ddl("SET STATEMENT max_statement_time=60 FOR ALTER TABLE t DROP COLUMN c"),
            [r("d", "t")]
        );
        assert_eq!(
            classify("DROP DATABASE IF EXISTS `shop`", "d"),
            Statement::DropDatabase("shop".into())
        );
        assert_eq!(
            classify("drop schema shop", "d"),
            Statement::DropDatabase("shop".into())
        );
    }

    #[test]
    fn dml_logged_as_statements() {
        assert_eq!(dml("INSERT INTO t VALUES (1)"), [r("d", "t")]);
        assert_eq!(dml("insert ignore s.t (a) select a from u"), [r("s", "t")]);
        assert_eq!(
            dml("REPLACE LOW_PRIORITY INTO `t` SET a = 1"),
            [r("d", "t")]
        );
        assert_eq!(dml("UPDATE t SET v = v + 1 WHERE id = 1"), [r("d", "t")]);
        assert_eq!(
            dml("UPDATE LOW_PRIORITY s.t AS x JOIN u ON x.id = u.id SET x.v = u.v"),
            [r("s", "t"), r("d", "u")]
        );
        assert_eq!(
            dml("UPDATE t1, t2 SET t1.a = t2.a"),
            [r("d", "t1"), r("d", "t2")]
        );
        assert_eq!(dml("DELETE FROM t WHERE id < 5"), [r("d", "t")]);
        assert_eq!(dml("DELETE QUICK IGNORE FROM s.t"), [r("s", "t")]);
        assert_eq!(
            dml("DELETE t1, t2 FROM t1 INNER JOIN t2 ON t1.id = t2.id WHERE t1.id > 1"),
            [r("d", "t1"), r("d", "t2")]
        );
        assert_eq!(
            dml("DELETE FROM t1 USING t1 JOIN t2 ON t1.id = t2.id"),
            [r("d", "t1"), r("d", "t2")]
        );
        assert_eq!(
            dml("LOAD DATA LOCAL INFILE '/tmp/x.csv' REPLACE INTO TABLE s.t FIELDS TERMINATED BY ','"),
            [r("s", "t")]
        );
    }

    #[test]
    fn statements_without_row_changes() {
        for q in [
            "CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(5) DEFAULT 'a.b')",
            "CREATE TABLE IF NOT EXISTS t LIKE u",
            "DROP TEMPORARY TABLE t",
            "CREATE INDEX i ON t (c)",
            "DROP INDEX i ON t",
            "CREATE DATABASE x",
            "CREATE DEFINER=`root`@`localhost` TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1",
            "CREATE OR REPLACE VIEW v AS SELECT 1",
            "GRANT SELECT ON *.* TO x",
            "ANALYZE TABLE t",
            "FLUSH PRIVILEGES",
            "ALTER USER x IDENTIFIED BY 'y'",
            "/*!40000 ALTER TABLE `t` DISABLE KEYS */",
            "/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */ /*!50001 VIEW `v` AS select 1 AS `1` */",
            "CREATE DEFINER=`root`@`localhost` FUNCTION `f`() RETURNS int(11) DETERMINISTIC RETURN 1",
            "SET STATEMENT max_statement_time=60 FOR CREATE INDEX i ON t (c)",
        ] {
            assert_eq!(classify(q, "d"), Statement::NoRowChanges, "{q}");
        }
    }

    #[test]
    fn databases_a_statement_names() {
        assert_eq!(
            databases_named("SELECT `shop`.`f`(x.a) FROM other.t x", "d"),
            ["d", "shop", "x", "other"]
        );
    }

    #[test]
    fn statements_whose_tables_cannot_be_told() {
        for q in [
            "RENAME TABLE a",
            "SELECT f(1)",
            "CALL p()",
            "HANDLER t READ NEXT",
        ] {
            assert!(
                matches!(classify(q, "d"), Statement::Unknown(_)),
                "{q}: {:?}",
                classify(q, "d")
            );
        }
    }
}

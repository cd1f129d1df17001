//! Following DDL on captured tables.
//!
//! Row events after a DDL carry the new schema in their TABLE_MAP events, so decoding follows by
//! itself. What does not follow by itself is data the DDL changed without row events: ADD COLUMN
//! with a default, DROP COLUMN (cells left behind), MODIFY COLUMN (values re-rendered), TRUNCATE,
//! DROP TABLE, RENAME TABLE. For those the affected table is *resynced*: a bootstrap job that
//! first deletes every HBase row of the table at the DDL's version V (a family delete masks every
//! cell <= V and nothing the stream writes after the DDL), then, when the table still exists,
//! bootstraps it. The versioning makes this safe while the stream keeps running.
//!
//! This module only works out which tables a statement touches.

/// What a DDL statement does to a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DdlEffect {
    /// The table's rows may have changed without row events: resync it.
    Resync { db: String, table: String },
}

/// Why a DDL statement could not be understood.
#[derive(Debug, PartialEq, Eq)]
pub struct UnparsedDdl(pub String);

/// The tables a statement affects, with `default_db` for unqualified names. `Ok(vec![])` for
/// statements that change no table data (CREATE TABLE, indexes, grants, ...).
pub fn effects(query: &str, default_db: &str) -> Result<Vec<DdlEffect>, UnparsedDdl> {
    let tokens = tokenize(query);
    let upper: Vec<String> = tokens.iter().map(|t| t.to_ascii_uppercase()).collect();
    let at = |i: usize| upper.get(i).map(String::as_str).unwrap_or("");
    let mut i;
    let name_at = |i: &mut usize| -> Result<(String, String), UnparsedDdl> {
        let first = tokens
            .get(*i)
            .ok_or_else(|| UnparsedDdl(format!("no table name in {query:?}")))?;
        *i += 1;
        if tokens.get(*i).map(String::as_str) == Some(".") {
            let second = tokens
                .get(*i + 1)
                .ok_or_else(|| UnparsedDdl(format!("no table name after {first}. in {query:?}")))?;
            *i += 2;
            Ok((unquote(first), unquote(second)))
        } else {
            Ok((default_db.to_string(), unquote(first)))
        }
    };
    let resync = |(db, table): (String, String)| DdlEffect::Resync { db, table };
    match at(0) {
        "ALTER" => {
            i = 1;
            while matches!(at(i), "ONLINE" | "IGNORE") {
                i += 1;
            }
            if at(i) != "TABLE" {
                return Ok(vec![]); // ALTER DATABASE, ALTER USER, ...
            }
            i += 1;
            if at(i) == "IF" && at(i + 1) == "EXISTS" {
                i += 2;
            }
            let mut out = vec![resync(name_at(&mut i)?)];
            // ALTER TABLE a RENAME [TO | AS] b: the new name needs its rows too.
            while i < upper.len() {
                if at(i) == "RENAME" && !matches!(at(i + 1), "COLUMN" | "INDEX" | "KEY") {
                    i += 1;
                    if matches!(at(i), "TO" | "AS") {
                        i += 1;
                    }
                    out.push(resync(name_at(&mut i)?));
                } else {
                    i += 1;
                }
            }
            Ok(out)
        }
        "TRUNCATE" => {
            i = 1;
            if at(i) == "TABLE" {
                i += 1;
            }
            Ok(vec![resync(name_at(&mut i)?)])
        }
        "DROP" => {
            i = 1;
            if at(i) == "TEMPORARY" {
                return Ok(vec![]);
            }
            if at(i) != "TABLE" {
                return Ok(vec![]);
            }
            i += 1;
            if at(i) == "IF" && at(i + 1) == "EXISTS" {
                i += 2;
            }
            let mut out = vec![resync(name_at(&mut i)?)];
            while at(i) == "," {
                i += 1;
                out.push(resync(name_at(&mut i)?));
            }
            Ok(out)
        }
        "RENAME" => {
            if at(1) != "TABLE" {
                return Ok(vec![]);
            }
            i = 2;
            let mut out = Vec::new();
            loop {
                out.push(resync(name_at(&mut i)?));
                if at(i) != "TO" {
                    return Err(UnparsedDdl(format!("expected TO in {query:?}")));
                }
                i += 1;
                out.push(resync(name_at(&mut i)?));
                if at(i) != "," {
                    return Ok(out);
                }
                i += 1;
            }
        }
        "CREATE" => {
            // CREATE OR REPLACE TABLE replaces an existing table's rows.
            if at(1) == "OR" && at(2) == "REPLACE" && at(3) == "TABLE" {
                i = 4;
                if at(i) == "IF" && at(i + 1) == "NOT" && at(i + 2) == "EXISTS" {
                    i += 3;
                }
                return Ok(vec![resync(name_at(&mut i)?)]);
            }
            Ok(vec![])
        }
        _ => Ok(vec![]),
    }
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
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
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
            while i < chars.len() && !chars[i].is_whitespace() && !".,()`;'\"".contains(chars[i]) {
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

    fn r(db: &str, t: &str) -> DdlEffect {
        DdlEffect::Resync {
            db: db.into(),
            table: t.into(),
        }
    }

    #[test]
    fn statements_that_change_rows_without_row_events() {
        assert_eq!(
            effects("ALTER TABLE t ADD COLUMN c INT DEFAULT 5", "d").unwrap(),
            [r("d", "t")]
        );
        assert_eq!(
            effects("alter table `my db`.`t``x` drop column c", "d").unwrap(),
            [r("my db", "t`x")]
        );
        assert_eq!(
            effects("ALTER TABLE a RENAME TO b", "d").unwrap(),
            [r("d", "a"), r("d", "b")]
        );
        assert_eq!(
            effects("ALTER TABLE a RENAME COLUMN x TO y", "d").unwrap(),
            [r("d", "a")]
        );
        assert_eq!(effects("TRUNCATE TABLE s.t", "d").unwrap(), [r("s", "t")]);
        assert_eq!(effects("TRUNCATE t", "d").unwrap(), [r("d", "t")]);
        assert_eq!(
            effects(
                "DROP TABLE IF EXISTS `a`,`b` /* generated by server */",
                "d"
            )
            .unwrap(),
            [r("d", "a"), r("d", "b")]
        );
        assert_eq!(
            effects("RENAME TABLE a TO b, s.c TO s.d", "d").unwrap(),
            [r("d", "a"), r("d", "b"), r("s", "c"), r("s", "d")]
        );
        assert_eq!(
            effects("CREATE OR REPLACE TABLE t (id INT)", "d").unwrap(),
            [r("d", "t")]
        );
    }

    #[test]
    fn statements_without_row_changes() {
        assert!(effects(
            "CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(5) DEFAULT 'a.b')",
            "d"
        )
        .unwrap()
        .is_empty());
        assert!(effects("DROP TEMPORARY TABLE t", "d").unwrap().is_empty());
        assert!(effects("CREATE INDEX i ON t (c)", "d").unwrap().is_empty());
        assert!(effects("GRANT SELECT ON *.* TO x", "d").unwrap().is_empty());
        assert!(effects("RENAME TABLE a", "d").is_err());
    }
}

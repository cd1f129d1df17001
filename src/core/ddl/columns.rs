//! Which columns an `ALTER TABLE` changed, for a backfill instead of a whole-table resync.
//!
//! Compares the table's schema before the DDL (its last TABLE_MAP event) with the one after
//! (`information_schema` when the DDL is followed), by column name: a column only after is
//! added, one only before is dropped, one whose type kind, signedness, collation or ENUM/SET
//! labels differ is re-rendered, and every column a `MODIFY` or `CHANGE` clause names is taken
//! as re-rendered too (a length or precision change shows in neither schema's fields here).
//! The key columns must be unchanged in name and definition; otherwise row keys may change
//! and only a whole-table resync is exact.

use crate::model::{ColumnSchema, TableSchema};
use crate::state::ColumnChange;

/// The columns changed between `before` and `after`, or `None` when the change needs a
/// whole-table resync: a key column changed, or nothing can be told apart (no column changed
/// and yet the statement is not schema-only: the caller resyncs to be safe).
pub fn column_change(
    before: &TableSchema,
    after: &TableSchema,
    key_columns: &[String],
    modified: &[String],
) -> Option<ColumnChange> {
    let find = |s: &TableSchema, name: &str| s.columns.iter().find(|c| c.name == name).cloned();
    let before_keys: Vec<&str> = before
        .primary_key
        .iter()
        .map(|&i| before.columns[i].name.as_str())
        .collect();
    let after_keys: Vec<&str> = after
        .primary_key
        .iter()
        .map(|&i| after.columns[i].name.as_str())
        .collect();
    if before_keys != after_keys {
        return None;
    }
    let mut change = ColumnChange::default();
    for c in &after.columns {
        let rewritten = match find(before, &c.name) {
            None => true,
            Some(old) => !same_rendering(&old, c) || modified.contains(&c.name),
        };
        if rewritten {
            change.put.push(c.name.clone());
        }
    }
    for c in &before.columns {
        if find(after, &c.name).is_none() {
            change.cleared.push(c.name.clone());
        }
    }
    let touches_key = change
        .put
        .iter()
        .chain(&change.cleared)
        .any(|c| key_columns.contains(c) || before_keys.contains(&c.as_str()));
    if touches_key || (change.put.is_empty() && change.cleared.is_empty()) {
        return None;
    }
    Some(change)
}

/// Whether a value of `a` and of `b` render to the same cell.
fn same_rendering(a: &ColumnSchema, b: &ColumnSchema) -> bool {
    crate::model::schema::type_kind(a.column_type) == crate::model::schema::type_kind(b.column_type)
        && a.unsigned == b.unsigned
        && a.collation == b.collation
        && a.enum_values == b.enum_values
        && a.set_values == b.set_values
}

/// The columns `MODIFY [COLUMN] c` and `CHANGE [COLUMN] old c` clauses of an `ALTER TABLE`
/// name (their new names), from the statement's upper-cased and original tokens.
pub(super) fn modified_columns(tokens: &[String], upper: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut clause_start = true;
    let mut i = 0;
    while i < upper.len() {
        match upper[i].as_str() {
            "(" => depth += 1,
            ")" => depth = depth.saturating_sub(1),
            "," if depth == 0 => {
                clause_start = true;
                i += 1;
                continue;
            }
            w @ ("MODIFY" | "CHANGE") if clause_start && depth == 0 => {
                let mut j = i + 1;
                if upper.get(j).map(String::as_str) == Some("COLUMN") {
                    j += 1;
                }
                if upper.get(j).map(String::as_str) == Some("IF") {
                    j += 2;
                }
                if w == "CHANGE" {
                    j += 1; // the old name
                }
                if let Some(name) = tokens.get(j) {
                    out.push(super::unquote(name));
                }
            }
            _ => {}
        }
        clause_start = false;
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_common::constants::ColumnType::{self, *};

    fn schema(columns: &[(&str, ColumnType)]) -> TableSchema {
        TableSchema {
            database: "d".into(),
            table: "t".into(),
            columns: columns
                .iter()
                .map(|&(name, column_type)| ColumnSchema {
                    name: name.into(),
                    column_type,
                    meta: vec![],
                    unsigned: false,
                    collation: None,
                    enum_values: vec![],
                    set_values: vec![],
                })
                .collect(),
            primary_key: vec![0],
        }
    }

    fn change(put: &[&str], cleared: &[&str]) -> Option<ColumnChange> {
        Some(ColumnChange {
            put: put.iter().map(|s| s.to_string()).collect(),
            cleared: cleared.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn added_dropped_renamed_and_re_rendered_columns() {
        let before = schema(&[
            ("id", MYSQL_TYPE_LONG),
            ("v", MYSQL_TYPE_LONG),
            ("s", MYSQL_TYPE_VARCHAR),
        ]);
        let key = ["id".to_string()];
        // ADD COLUMN c ... FIRST: order does not matter, names do.
        let after = schema(&[
            ("c", MYSQL_TYPE_LONG),
            ("id", MYSQL_TYPE_LONG),
            ("v", MYSQL_TYPE_LONG),
            ("s", MYSQL_TYPE_VARCHAR),
        ]);
        let mut after = after;
        after.primary_key = vec![1];
        assert_eq!(
            column_change(&before, &after, &key, &[]),
            change(&["c"], &[])
        );
        // DROP COLUMN s
        let after = schema(&[("id", MYSQL_TYPE_LONG), ("v", MYSQL_TYPE_LONG)]);
        assert_eq!(
            column_change(&before, &after, &key, &[]),
            change(&[], &["s"])
        );
        // RENAME COLUMN s TO s2
        let after = schema(&[
            ("id", MYSQL_TYPE_LONG),
            ("v", MYSQL_TYPE_LONG),
            ("s2", MYSQL_TYPE_VARCHAR),
        ]);
        assert_eq!(
            column_change(&before, &after, &key, &[]),
            change(&["s2"], &["s"])
        );
        // MODIFY v DECIMAL: another kind; MODIFY s VARCHAR(40): named by the statement.
        let after = schema(&[
            ("id", MYSQL_TYPE_LONG),
            ("v", MYSQL_TYPE_NEWDECIMAL),
            ("s", MYSQL_TYPE_VARCHAR),
        ]);
        assert_eq!(
            column_change(&before, &after, &key, &["s".into()]),
            change(&["v", "s"], &[])
        );
        // A new primary key, or a key column changed: a whole resync.
        let mut after = schema(&[
            ("id", MYSQL_TYPE_LONG),
            ("v", MYSQL_TYPE_LONG),
            ("s", MYSQL_TYPE_VARCHAR),
        ]);
        after.primary_key = vec![0, 1];
        assert_eq!(column_change(&before, &after, &key, &[]), None);
        let after = schema(&[
            ("id", MYSQL_TYPE_LONGLONG),
            ("v", MYSQL_TYPE_LONG),
            ("s", MYSQL_TYPE_VARCHAR),
        ]);
        assert_eq!(column_change(&before, &after, &key, &["id".into()]), None);
        // Nothing told apart: a whole resync, to be safe.
        assert_eq!(column_change(&before, &before, &key, &[]), None);
    }
}

//! `check`'s items for joined tables (`[[mapping.tables]]` with `qualifier`, see
//! `core::mapping`), against the real schemas and HBase: what the configuration alone cannot
//! tell (`config::joined` checks the templates, families and shared qualifiers at load).
//!
//! For each joined table: it exists and is captured; its mapping resolves (the join key and
//! template columns exist, its primary key lies within them); a captured table writes its own
//! rows into the same HBase table (the parent), once; the join key has as many columns as the
//! parent's row key, each of a type whose text matches the parent's for equal values (an INT
//! joined to a BIGINT is fine, to a VARCHAR is not: `7` and `007`); and an existing HBase table
//! has every family the joined tables write (HBase's Thrift1 API cannot add one).

use std::sync::Arc;

use mysql_async::Conn;
use mysql_common::constants::ColumnType;

use super::check::{CheckItem, Outcome};
use crate::config::{Config, TableOverride};
use crate::core::filter::TableFilter;
use crate::core::mapping::{hbase_target, TableMapping};
use crate::model::ColumnSchema;
use crate::source::schema::load_table_schema;

/// The items for every joined table; none when there are none.
pub async fn check_joined_tables(
    cfg: &Config,
    conn: &mut Conn,
    captured: &[(String, String)],
) -> Vec<CheckItem> {
    let joined: Vec<&TableOverride> = cfg
        .mapping
        .tables
        .iter()
        .filter(|o| o.qualifier.is_some())
        .collect();
    if joined.is_empty() {
        return Vec::new();
    }
    let mut problems = Vec::new();
    for entry in &joined {
        if let Err(problem) = check_one(cfg, conn, captured, entry).await {
            problems.push(problem);
        }
    }
    let mut items = vec![if problems.is_empty() {
        CheckItem::pass(
            "mapping.joined",
            format!(
                "{} joined table(s), each with its parent and a matching join key",
                joined.len()
            ),
        )
    } else {
        CheckItem::new(
            "mapping.joined",
            Outcome::Fail,
            problems.join("; "),
            "fix the [[mapping.tables]] entries named (row_key = the columns holding the parent's key, in its order; qualifier columns of the joined table)",
        )
    }];
    items.extend(check_families(cfg).await);
    items
}

/// One joined table's problem, if any.
async fn check_one(
    cfg: &Config,
    conn: &mut Conn,
    captured: &[(String, String)],
    entry: &TableOverride,
) -> Result<(), String> {
    let source = &entry.source;
    let (db, table) = source.split_once('.').unwrap_or_default();
    if !captured.iter().any(|(d, t)| d == db && t == table) {
        return Err(format!(
            "{source} is joined but not captured (or does not exist)"
        ));
    }
    let filter = TableFilter::new(&cfg.capture);
    let schema = load(conn, db, table).await?;
    let child = TableMapping::resolve(cfg, &filter, Arc::new(schema)).map_err(|e| e.to_string())?;
    let parents: Vec<&(String, String)> = captured
        .iter()
        .filter(|(d, t)| {
            cfg.mapping.joined(&format!("{d}.{t}")).is_none()
                && hbase_target(cfg, d, t).0 == *child.hbase_table
        })
        .collect();
    let (pdb, ptable) = match parents.as_slice() {
        [one] => one,
        [] => {
            return Err(format!(
                "no captured table writes its own rows into {} (the HBase table {source} is joined into): name the parent's table there",
                child.hbase_table
            ))
        }
        many => {
            return Err(format!(
                "several captured tables write their own rows into {}: {}",
                child.hbase_table,
                many.iter()
                    .map(|(d, t)| format!("{d}.{t}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    };
    let parent_schema = load(conn, pdb, ptable).await?;
    let parent =
        TableMapping::resolve(cfg, &filter, Arc::new(parent_schema)).map_err(|e| e.to_string())?;
    let names = |m: &TableMapping| -> Vec<String> {
        m.row_key
            .iter()
            .map(|&i| m.schema.columns[i].name.clone())
            .collect()
    };
    if child.row_key.len() != parent.row_key.len() {
        return Err(format!(
            "{source}'s row_key {:?} has {} column(s), the row key of its parent {pdb}.{ptable} {:?} has {}",
            names(&child),
            child.row_key.len(),
            names(&parent),
            parent.row_key.len()
        ));
    }
    for (&c, &p) in child.row_key.iter().zip(&parent.row_key) {
        let (cc, pc) = (&child.schema.columns[c], &parent.schema.columns[p]);
        if key_text_kind(cc) != key_text_kind(pc) {
            return Err(format!(
                "{source}.{} ({}) joins {pdb}.{ptable}.{} ({}): their text differs for equal values, so children would land in other rows than their parent's",
                cc.name,
                key_text_kind(cc),
                pc.name,
                key_text_kind(pc)
            ));
        }
    }
    Ok(())
}

async fn load(conn: &mut Conn, db: &str, table: &str) -> Result<crate::model::TableSchema, String> {
    load_table_schema(conn, db, table)
        .await
        .map_err(|e| format!("cannot read {db}.{table}'s columns: {e}"))?
        .ok_or_else(|| format!("{db}.{table} does not exist"))
}

/// What a key column's text looks like: equal kinds render equal values as equal text.
fn key_text_kind(c: &ColumnSchema) -> String {
    use ColumnType::*;
    match c.column_type {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG
        | MYSQL_TYPE_LONGLONG => "integer".into(),
        MYSQL_TYPE_NEWDECIMAL | MYSQL_TYPE_DECIMAL => {
            format!(
                "decimal with {} decimals",
                c.meta.get(1).copied().unwrap_or(0)
            )
        }
        MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_STRING
            if c.collation != Some(63) =>
        {
            "text".into()
        }
        MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_STRING => "binary".into(),
        other => format!("{other:?} {:?}", c.meta),
    }
}

/// Existing HBase tables must have every family their joined tables write.
async fn check_families(cfg: &Config) -> Option<CheckItem> {
    let wanted = cfg.mapping.joined_families();
    let hbase = cfg.hbase.clone();
    let missing = tokio::task::spawn_blocking(move || {
        use crate::sink::hbase::client;
        let mut c = client::connect(&hbase)?;
        let existing = client::table_names(&mut c)?;
        let mut missing = Vec::new();
        for (table, families) in wanted.iter().filter(|(t, _)| existing.contains(t)) {
            let have = client::families(&mut c, table)?;
            for f in families.iter().filter(|f| !have.contains(f)) {
                missing.push((table.clone(), f.clone()));
            }
        }
        Ok::<_, crate::error::SyncError>(missing)
    })
    .await;
    // check_hbase says why HBase cannot be reached.
    let missing = missing.ok()?.ok()?;
    Some(if missing.is_empty() {
        CheckItem::pass(
            "hbase_families",
            "the HBase tables joined tables write into have their families (or do not exist yet: they are created with them)",
        )
    } else {
        let alters: Vec<String> = missing
            .iter()
            .map(|(t, f)| format!("alter '{t}', NAME => '{f}'"))
            .collect();
        CheckItem::new(
            "hbase_families",
            Outcome::Fail,
            format!(
                "HBase tables without a family a joined table writes: {}",
                missing
                    .iter()
                    .map(|(t, f)| format!("{t}:{f}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "in the HBase shell: {} (HBase's Thrift1 API cannot add families)",
                alters.join("; ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::decode::test_support::col;
    use ColumnType::*;

    #[test]
    fn key_kinds_match_when_the_text_does() {
        let int = col(MYSQL_TYPE_LONG, &[], false, None);
        let big = col(MYSQL_TYPE_LONGLONG, &[], true, None);
        let text = col(MYSQL_TYPE_VARCHAR, &[40, 0], false, Some(45));
        let bin = col(MYSQL_TYPE_VARCHAR, &[40, 0], false, Some(63));
        let d2 = col(MYSQL_TYPE_NEWDECIMAL, &[10, 2], false, None);
        let d3 = col(MYSQL_TYPE_NEWDECIMAL, &[10, 3], false, None);
        assert_eq!(key_text_kind(&int), key_text_kind(&big));
        assert_ne!(key_text_kind(&int), key_text_kind(&text));
        assert_ne!(key_text_kind(&text), key_text_kind(&bin));
        assert_ne!(key_text_kind(&d2), key_text_kind(&d3));
    }
}

//! Joined tables in the configuration: a `[[mapping.tables]]` entry with `qualifier` writes its
//! rows into another table's HBase rows (wide rows), each column a cell named by the
//! qualifier template, in a family of its own.
//!
//! Template syntax: literal text and placeholders in braces. `{column}` (the column's name)
//! appears exactly once, at the end; any other placeholder names a column of the joined table
//! whose value (escaped, see `core::mapping`) makes its rows' cells distinct, e.g.
//! `{id}:{column}`. Between two placeholders there is literal text, so a qualifier reads back
//! into its values unambiguously.
//!
//! What is checked here, without the tables' schemas: the template, that the entry names the
//! parent's HBase `table` and a `family` of its own (not the parent's), no `salt_buckets` (the
//! parent's salt applies to the row key), and that joined tables sharing a family cannot write
//! the same qualifiers (their templates start with literal prefixes neither of which starts
//! the other) and agree on `on_parent_delete`. `check` validates the rest against the schemas.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ConfigError, MappingConfig, TableOverride};
use crate::model::naming::hbase_table_name;

/// What deleting a parent row does to its joined children's cells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnParentDelete {
    /// Children keep their cells until their own rows are deleted (the HBase row holds what
    /// MySQL holds).
    #[default]
    Keep,
    /// The child family goes with the parent (at the parent's delete version): for foreign
    /// keys with `ON DELETE CASCADE`, whose cascaded deletes the binlog does not carry.
    DeleteChildren,
}

/// One piece of a qualifier template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Literal(String),
    /// A column of the joined table, by name.
    Key(String),
    /// The name of the column the cell holds.
    Column,
}

/// Parses a qualifier template (see the module doc).
pub fn parse_qualifier(template: &str) -> Result<Vec<TemplatePart>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            Some(0) if rest.starts_with('{') => {
                let end = rest.find('}').ok_or("a `{` without its `}`".to_string())?;
                let name = &rest[1..end];
                if name.is_empty() || name.contains('{') {
                    return Err(format!("a bad placeholder `{}`", &rest[..=end]));
                }
                if matches!(
                    parts.last(),
                    Some(TemplatePart::Key(_) | TemplatePart::Column)
                ) {
                    return Err(
                        "two placeholders side by side: put literal text between them (e.g. `{id}:{column}`)"
                            .into(),
                    );
                }
                parts.push(if name == "column" {
                    TemplatePart::Column
                } else {
                    TemplatePart::Key(name.to_string())
                });
                rest = &rest[end + 1..];
            }
            Some(0) => return Err("a `}` without its `{`".into()),
            Some(i) => {
                parts.push(TemplatePart::Literal(rest[..i].to_string()));
                rest = &rest[i..];
            }
            None => {
                parts.push(TemplatePart::Literal(rest.to_string()));
                rest = "";
            }
        }
    }
    let columns = parts.iter().filter(|p| **p == TemplatePart::Column).count();
    if columns != 1 || parts.last() != Some(&TemplatePart::Column) {
        return Err("`{column}` must appear exactly once, at the end".into());
    }
    Ok(parts)
}

/// The literal text a template starts with (empty when it starts with a placeholder).
fn literal_prefix(parts: &[TemplatePart]) -> &str {
    match parts.first() {
        Some(TemplatePart::Literal(l)) => l,
        _ => "",
    }
}

impl TableOverride {
    /// A joined table's template columns (by name); none for other tables or a bad template
    /// (which `Config::validate` refuses).
    pub fn template_columns(&self) -> Vec<String> {
        let parts = self.qualifier.as_deref().map(parse_qualifier);
        parts
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| match p {
                TemplatePart::Key(column) => Some(column),
                _ => None,
            })
            .collect()
    }
}

impl MappingConfig {
    /// The entry of a joined table (`qualifier` set) for `source`.
    pub fn joined(&self, source: &str) -> Option<&TableOverride> {
        self.tables
            .iter()
            .find(|o| o.source == source && o.qualifier.is_some())
    }

    /// The family and salt of the table whose own rows are `hbase_table`'s (the parent of the
    /// tables joined into it): its entry's, else the defaults.
    pub fn parent_of(&self, hbase_table: &str) -> (String, Option<u16>) {
        let parent = self.tables.iter().find(|o| {
            o.qualifier.is_none()
                && match &o.table {
                    Some(t) => t == hbase_table,
                    None => o
                        .source
                        .split_once('.')
                        .is_some_and(|(db, t)| hbase_table_name(&self.table, db, t) == hbase_table),
                }
        });
        (
            parent
                .and_then(|o| o.family.clone())
                .unwrap_or_else(|| self.family.clone()),
            parent.and_then(|o| o.salt_buckets),
        )
    }

    /// HBase tables that tables are joined into, with every family they need (the parent's
    /// first): a table is created with all of them.
    pub fn joined_families(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for o in self.tables.iter().filter(|o| o.qualifier.is_some()) {
            let (Some(table), Some(family)) = (&o.table, &o.family) else {
                continue;
            };
            let families = out
                .entry(table.clone())
                .or_insert_with(|| vec![self.parent_of(table).0]);
            if !families.contains(family) {
                families.push(family.clone());
            }
        }
        out
    }

    /// The families deleted with a parent row of `hbase_table`: those of the tables joined into
    /// it with `on_parent_delete = "delete_children"`.
    pub fn families_deleted_with_parent(&self, hbase_table: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for o in &self.tables {
            if o.qualifier.is_some()
                && o.table.as_deref() == Some(hbase_table)
                && o.on_parent_delete == Some(OnParentDelete::DeleteChildren)
            {
                if let Some(f) = o.family.clone().filter(|f| !out.contains(f)) {
                    out.push(f);
                }
            }
        }
        out
    }

    /// The checks of the module doc.
    pub(super) fn validate_joined(&self) -> Result<(), ConfigError> {
        let bad = |source: &str, key: &str, value: &str, allowed: String| ConfigError::BadValue {
            key: format!("mapping.tables.{key} (source = \"{source}\")"),
            value: value.to_string(),
            allowed,
        };
        let joined: Vec<&TableOverride> = self
            .tables
            .iter()
            .filter(|o| o.qualifier.is_some())
            .collect();
        for o in self.tables.iter().filter(|o| o.qualifier.is_none()) {
            if o.on_parent_delete.is_some() {
                return Err(bad(&o.source, "on_parent_delete", "set", "only in an entry with `qualifier` (a joined table decides what a parent delete does to it)".into()));
            }
        }
        for (i, o) in joined.iter().enumerate() {
            let template = o.qualifier.as_deref().expect("filtered");
            let parts = parse_qualifier(template).map_err(|e| {
                bad(
                    &o.source,
                    "qualifier",
                    template,
                    format!("a qualifier template: {e}"),
                )
            })?;
            let Some(table) = &o.table else {
                return Err(bad(
                    &o.source,
                    "table",
                    "(missing)",
                    "the HBase table of the parent whose rows this table is joined into".into(),
                ));
            };
            let Some(family) = &o.family else {
                return Err(bad(
                    &o.source,
                    "family",
                    "(missing)",
                    "a family of its own in the parent's HBase table, e.g. \"items\"".into(),
                ));
            };
            let (parent_family, _) = self.parent_of(table);
            if *family == parent_family {
                return Err(bad(&o.source, "family", family, format!("a family other than the parent's own ({parent_family}): the parent's rows replace and delete their whole family")));
            }
            if o.salt_buckets.is_some() {
                return Err(bad(
                    &o.source,
                    "salt_buckets",
                    "set",
                    format!(
                        "nothing: a joined table's row keys are salted as its parent's ({table})"
                    ),
                ));
            }
            for other in &joined[..i] {
                if other.table != o.table || other.family != o.family {
                    continue;
                }
                let other_parts = parse_qualifier(other.qualifier.as_deref().expect("filtered"))
                    .map_err(|e| bad(&other.source, "qualifier", "", e))?;
                let (a, b) = (literal_prefix(&parts), literal_prefix(&other_parts));
                if a.is_empty() || b.is_empty() || a.starts_with(b) || b.starts_with(a) {
                    return Err(bad(&o.source, "qualifier", template, format!("a template that cannot name the same cells as {}'s ({:?}) in the shared family {family}: start each with literal text neither of which starts the other (e.g. \"item:{{id}}:{{column}}\" and \"pay:{{id}}:{{column}}\"), or give each table its own family", other.source, other.qualifier.as_deref().unwrap_or_default())));
                }
                if other.on_parent_delete.unwrap_or_default()
                    != o.on_parent_delete.unwrap_or_default()
                {
                    return Err(bad(&o.source, "on_parent_delete", &format!("{:?}", o.on_parent_delete.unwrap_or_default()), format!("the same as {}'s, which shares the family {family} (a parent delete deletes whole families)", other.source)));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TemplatePart::*;

    #[test]
    fn templates_parse_or_say_why_not() {
        assert_eq!(parse_qualifier("{column}").unwrap(), vec![Column]);
        assert_eq!(
            parse_qualifier("i{id}:{column}").unwrap(),
            vec![
                Literal("i".into()),
                Key("id".into()),
                Literal(":".into()),
                Column
            ]
        );
        for (bad, why) in [
            ("{id}{column}", "side by side"),
            ("{id}:", "exactly once"),
            ("{column}:{id}", "exactly once, at the end"),
            ("{column}{column}", "side by side"),
            ("{id:{column}", "bad placeholder"),
            ("id}:{column}", "without its `{`"),
            ("{}:{column}", "bad placeholder"),
            ("x{", "without its `}`"),
        ] {
            let err = parse_qualifier(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}

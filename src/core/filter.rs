//! Which tables and columns are captured: `db.table` (and `db.table.column`) patterns where `*`
//! matches any run of characters. A table is captured when an include pattern matches and no
//! exclude pattern does (`exclude_tool_tables` count as exclude patterns).

use crate::config::{captures_column, CaptureConfig};

pub use crate::config::glob_match;

/// The compiled `[capture]` section.
#[derive(Debug, Clone, Default)]
pub struct TableFilter {
    include: Vec<String>,
    exclude: Vec<String>,
    exclude_columns: Vec<String>,
}

impl TableFilter {
    pub fn new(cfg: &CaptureConfig) -> Self {
        TableFilter {
            include: cfg.include.clone(),
            exclude: cfg
                .exclude
                .iter()
                .chain(&cfg.exclude_tool_tables)
                .cloned()
                .collect(),
            exclude_columns: cfg.exclude_columns.clone(),
        }
    }

    pub fn captures(&self, db: &str, table: &str) -> bool {
        let name = format!("{db}.{table}");
        self.include.iter().any(|p| glob_match(p, &name))
            && !self.exclude.iter().any(|p| glob_match(p, &name))
    }

    pub fn captures_column(&self, db: &str, table: &str, column: &str) -> bool {
        captures_column(&self.exclude_columns, db, table, column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        assert!(glob_match("shop.*", "shop.orders"));
        assert!(!glob_match("shop.*", "shopx.orders"));
        assert!(glob_match("*.orders", "a.orders"));
        assert!(glob_match("s*p.o*s", "shop.orders"));
        assert!(!glob_match("shop.order", "shop.orders"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a**b", "ab"));
    }

    #[test]
    fn include_then_exclude() {
        let f = TableFilter::new(&CaptureConfig {
            include: vec!["shop.*".into()],
            exclude: vec!["shop.tmp_*".into()],
            exclude_columns: vec!["shop.users.password".into()],
            ..Default::default()
        });
        assert!(f.captures("shop", "orders"));
        assert!(!f.captures("shop", "tmp_x"));
        assert!(!f.captures("other", "orders"));
        assert!(!f.captures_column("shop", "users", "password"));
        assert!(f.captures_column("shop", "users", "name"));
        // Online schema change tools' helper tables, by default.
        for helper in [
            "_orders_new",
            "_orders_old",
            "_orders_gho",
            "_orders_ghc",
            "_orders_del",
        ] {
            assert!(!f.captures("shop", helper), "{helper}");
        }
        assert!(f.captures("shop", "orders_new"));
        let all = TableFilter::new(&CaptureConfig {
            include: vec!["shop.*".into()],
            exclude_tool_tables: vec![],
            ..Default::default()
        });
        assert!(all.captures("shop", "_orders_new"));
    }
}

//! Which tables and columns are captured: `db.table` (and `db.table.column`) patterns where `*`
//! matches any run of characters. A table is captured when an include pattern matches and no
//! exclude pattern does.

use crate::config::CaptureConfig;

/// `*`-glob match, case-sensitive like MySQL table names on Linux.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut star_ti) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            star_ti = ti;
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            star_ti += 1;
            ti = star_ti;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

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
            exclude: cfg.exclude.clone(),
            exclude_columns: cfg.exclude_columns.clone(),
        }
    }

    pub fn captures(&self, db: &str, table: &str) -> bool {
        let name = format!("{db}.{table}");
        self.include.iter().any(|p| glob_match(p, &name))
            && !self.exclude.iter().any(|p| glob_match(p, &name))
    }

    pub fn captures_column(&self, db: &str, table: &str, column: &str) -> bool {
        if self.exclude_columns.is_empty() {
            return true;
        }
        let name = format!("{db}.{table}.{column}");
        !self.exclude_columns.iter().any(|p| glob_match(p, &name))
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
        });
        assert!(f.captures("shop", "orders"));
        assert!(!f.captures("shop", "tmp_x"));
        assert!(!f.captures("other", "orders"));
        assert!(!f.captures_column("shop", "users", "password"));
        assert!(f.captures_column("shop", "users", "name"));
    }
}

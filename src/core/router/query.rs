//! What a QUERY event means for transaction boundaries: MySQL and MariaDB write `BEGIN`,
//! `COMMIT`, savepoints and XA statements as QUERY events beside DDL, and MariaDB replaces events
//! a replica may not know with comment-only dummy QUERY events.

/// What a QUERY event means for transaction boundaries.
#[derive(Debug, PartialEq)]
pub enum QueryKind {
    /// BEGIN, SAVEPOINT, ROLLBACK TO, XA START/END/PREPARE, and the comment-only dummy events
    /// MariaDB sends in place of events a replica may not know (ANNOTATE_ROWS, GTID, ...).
    InTransaction,
    /// COMMIT, ROLLBACK, XA COMMIT/ROLLBACK.
    TransactionEnd,
    /// Anything else: DDL and other statements that commit implicitly.
    Ddl,
}

pub fn classify_query(query: &str) -> QueryKind {
    let q = query.trim_start();
    if q.starts_with('#') || q.starts_with("/*") && !q.contains("*/ ") {
        return QueryKind::InTransaction;
    }
    let words: Vec<String> = q
        .split_whitespace()
        .take(3)
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["BEGIN", ..]
        | ["SAVEPOINT", ..]
        | ["RELEASE", "SAVEPOINT", ..]
        | ["ROLLBACK", "TO", ..] => QueryKind::InTransaction,
        ["XA", "START" | "BEGIN" | "END" | "PREPARE", ..] => QueryKind::InTransaction,
        ["COMMIT", ..] | ["ROLLBACK", ..] | ["XA", "COMMIT" | "ROLLBACK", ..] => {
            QueryKind::TransactionEnd
        }
        _ => QueryKind::Ddl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_events_are_classified() {
        assert_eq!(classify_query("BEGIN"), QueryKind::InTransaction);
        assert_eq!(
            classify_query("# Dummy event replacing event type 160"),
            QueryKind::InTransaction
        );
        assert_eq!(classify_query("SAVEPOINT `s1`"), QueryKind::InTransaction);
        assert_eq!(classify_query("ROLLBACK TO `s1`"), QueryKind::InTransaction);
        assert_eq!(classify_query("COMMIT"), QueryKind::TransactionEnd);
        assert_eq!(classify_query("ROLLBACK"), QueryKind::TransactionEnd);
        assert_eq!(classify_query("ALTER TABLE t ADD c INT"), QueryKind::Ddl);
        assert_eq!(classify_query("/* x */ TRUNCATE t"), QueryKind::Ddl);
    }
}

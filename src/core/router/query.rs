//! What a QUERY event means for transaction boundaries: MySQL and MariaDB write `BEGIN`,
//! `COMMIT`, savepoints and XA statements as QUERY events beside DDL (and DML a session logs as
//! a statement), and MariaDB replaces events a replica may not know with comment-only dummy
//! QUERY events.

/// What a QUERY event means for transaction boundaries.
#[derive(Debug, PartialEq)]
pub enum QueryKind {
    /// BEGIN, SAVEPOINT, ROLLBACK TO, XA END/PREPARE, and the comment-only dummy events
    /// MariaDB sends in place of events a replica may not know (ANNOTATE_ROWS, GTID, ...).
    InTransaction,
    /// COMMIT, ROLLBACK.
    TransactionEnd,
    /// `XA START xid` (MySQL; MariaDB says it in the GTID event).
    XaStart(String),
    /// `XA COMMIT xid [ONE PHASE]`.
    XaCommit { xid: String, one_phase: bool },
    /// `XA ROLLBACK xid`.
    XaRollback(String),
    /// Anything else: DDL, DML logged as a statement, ... (see `core::ddl`).
    Statement,
}

pub fn classify_query(query: &str) -> QueryKind {
    let q = query.trim_start();
    // MariaDB's dummy events are comments; executable comments (`/*!...`) are statements.
    let comment = q.starts_with("/*") && !q.starts_with("/*!") && !q.starts_with("/*M!");
    if q.starts_with('#') || comment && !q.contains("*/ ") {
        return QueryKind::InTransaction;
    }
    let words: Vec<String> = q
        .split_whitespace()
        .take(3)
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    // The xid: what follows the first two words.
    let xid = || q.split_whitespace().skip(2).collect::<Vec<_>>().join(" ");
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
        ["XA", "START" | "BEGIN", ..] => QueryKind::XaStart(xid()),
        ["XA", "END" | "PREPARE", ..] => QueryKind::InTransaction,
        ["XA", "COMMIT", ..] => {
            let xid = xid();
            let one_phase = xid.to_ascii_uppercase().ends_with("ONE PHASE");
            QueryKind::XaCommit { xid, one_phase }
        }
        ["XA", "ROLLBACK", ..] => QueryKind::XaRollback(xid()),
        ["COMMIT", ..] | ["ROLLBACK", ..] => QueryKind::TransactionEnd,
        _ => QueryKind::Statement,
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
        assert_eq!(
            classify_query("ALTER TABLE t ADD c INT"),
            QueryKind::Statement
        );
        assert_eq!(classify_query("/* x */ TRUNCATE t"), QueryKind::Statement);
        assert_eq!(classify_query("UPDATE t SET v = 1"), QueryKind::Statement);
        assert_eq!(
            classify_query("XA START X'7831',X'',1"),
            QueryKind::XaStart("X'7831',X'',1".into())
        );
        assert_eq!(
            classify_query("XA END X'7831',X'',1"),
            QueryKind::InTransaction
        );
        assert_eq!(
            classify_query("XA COMMIT X'7831',X'',1 ONE PHASE"),
            QueryKind::XaCommit {
                xid: "X'7831',X'',1 ONE PHASE".into(),
                one_phase: true
            }
        );
        assert_eq!(
            classify_query("XA ROLLBACK X'7831',X'',1"),
            QueryKind::XaRollback("X'7831',X'',1".into())
        );
    }
}

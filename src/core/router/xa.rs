//! XA transactions: applied at `XA COMMIT`, dropped at `XA ROLLBACK`, never at `XA PREPARE`.
//!
//! Both servers log an XA transaction's rows when it is *prepared*: MariaDB as a GTID event
//! flagged "prepared XA" carrying the xid, the rows, `XA END` and an XA_PREPARE event; MySQL as
//! `XA START` (a query), the rows, `XA END` and an XA_PREPARE event. The outcome comes later, in
//! a transaction of its own: `XA COMMIT xid` or `XA ROLLBACK xid`, possibly after many other
//! transactions. `XA COMMIT ... ONE PHASE` has no prepare: MariaDB logs it as an ordinary
//! transaction, MySQL as `XA START` ... `XA COMMIT xid ONE PHASE`.
//!
//! So the router holds an XA transaction's row changes (and its change events) from its start
//! until its outcome, and sends them to the sinks at `XA COMMIT`, in stream order there. While
//! any prepared transaction is open the router sends no commit point, so the checkpoint stays
//! before its prepare: a restart reads the prepared rows again. The rows held are bounded by
//! [`XaTransactions::new`]'s limit; beyond it the rows are let go and only the tables are kept,
//! to be resynced at the commit. An `XA COMMIT` of a transaction prepared before the stream's
//! start (a first start between prepare and commit) cannot be replayed: every captured table is
//! resynced.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::model::RowChange;
use crate::sink::kafka::maxwell::TransactionBuffer;

/// One XA transaction's held work.
pub struct HeldTransaction {
    pub xid: String,
    /// Row changes in stream order with their source table (`db.table`); `None` once over the
    /// limit.
    pub changes: Option<Vec<(Arc<str>, RowChange)>>,
    bytes: usize,
    /// Captured tables it wrote (`db.table`).
    pub tables: BTreeSet<String>,
    /// Its change events, when they are published.
    pub events: Option<TransactionBuffer>,
}

/// What an `XA COMMIT` releases.
pub enum Outcome {
    /// The held transaction: apply its changes (or resync its tables when it grew too large).
    Held(Box<HeldTransaction>),
    /// Prepared before the stream started: nothing is held.
    Unknown,
}

pub struct XaTransactions {
    /// Between the transaction's start and its prepare (or one-phase commit).
    active: Option<HeldTransaction>,
    /// Prepared, outcome not seen yet, by xid.
    prepared: HashMap<String, HeldTransaction>,
    /// Bytes of row changes held over all transactions before they are let go.
    limit_bytes: usize,
    held_bytes: usize,
}

impl XaTransactions {
    pub fn new(limit_bytes: usize) -> Self {
        XaTransactions {
            active: None,
            prepared: HashMap::new(),
            limit_bytes,
            held_bytes: 0,
        }
    }

    /// An XA transaction starts: its rows are held from now on.
    pub fn start(&mut self, xid: &str) {
        self.active = Some(HeldTransaction {
            xid: normalize_xid(xid),
            changes: Some(Vec::new()),
            bytes: 0,
            tables: BTreeSet::new(),
            events: None,
        });
    }

    /// Whether rows routed now belong to an XA transaction.
    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// Whether a prepared transaction waits for its outcome (then no commit point may pass it).
    pub fn any_prepared(&self) -> bool {
        !self.prepared.is_empty()
    }

    /// Holds row changes of the active transaction (in stream order).
    pub fn hold(&mut self, source: &Arc<str>, changes: Vec<RowChange>) {
        let Some(txn) = self.active.as_mut() else {
            return;
        };
        txn.tables.insert(source.to_string());
        let size: usize = changes.iter().map(RowChange::size).sum();
        if let Some(held) = txn.changes.as_mut() {
            if self.held_bytes + size > self.limit_bytes {
                // Too large to hold: its tables are resynced at the commit instead.
                self.held_bytes -= txn.bytes;
                txn.bytes = 0;
                txn.changes = None;
            } else {
                self.held_bytes += size;
                txn.bytes += size;
                held.extend(changes.into_iter().map(|c| (source.clone(), c)));
            }
        }
    }

    /// The active transaction was prepared: it waits for its outcome, with its change events.
    pub fn prepare(&mut self, events: Option<TransactionBuffer>) {
        if let Some(mut txn) = self.active.take() {
            txn.events = events;
            self.prepared.insert(txn.xid.clone(), txn);
        }
    }

    /// `XA COMMIT xid` (`one_phase`: of the active transaction, never prepared).
    pub fn commit(&mut self, xid: &str, one_phase: bool) -> Outcome {
        let xid = normalize_xid(xid);
        let txn = if one_phase {
            self.active.take().filter(|t| t.xid == xid)
        } else {
            self.prepared.remove(&xid)
        };
        match txn {
            Some(txn) => {
                self.held_bytes -= txn.bytes;
                Outcome::Held(Box::new(txn))
            }
            None => Outcome::Unknown,
        }
    }

    /// `XA ROLLBACK xid`: the held work is dropped.
    pub fn rollback(&mut self, xid: &str) {
        let xid = normalize_xid(xid);
        let txn = match self.active.take() {
            Some(active) if active.xid == xid => Some(active),
            other => {
                self.active = other;
                self.prepared.remove(&xid)
            }
        };
        if let Some(txn) = txn {
            self.held_bytes -= txn.bytes;
        }
    }
}

/// The xid as the servers print it in `XA COMMIT` / `XA ROLLBACK` (`X'6131',X'',1`), compared
/// without case and blanks.
pub fn normalize_xid(xid: &str) -> String {
    let xid = xid.trim().trim_end_matches(';');
    let upper = xid.to_ascii_uppercase();
    let xid = upper.strip_suffix("ONE PHASE").unwrap_or(&upper);
    xid.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The xid of a MariaDB GTID event flagged as starting a prepared XA transaction
/// (`FL_PREPARED_XA`), in the form `XA COMMIT` prints it; `None` for every other GTID event.
///
/// The body: sequence number (8 bytes), domain id (4), flags (1), the commit id (8) when
/// `FL_GROUP_COMMIT_ID`, then for XA the format id (4), gtrid and bqual lengths (1 each) and
/// their bytes.
pub fn mariadb_prepared_xid(body: &[u8]) -> Option<String> {
    const FL_GROUP_COMMIT_ID: u8 = 0x02;
    const FL_PREPARED_XA: u8 = 0x40;
    let flags = *body.get(12)?;
    if flags & FL_PREPARED_XA == 0 {
        return None;
    }
    let mut at = 13;
    if flags & FL_GROUP_COMMIT_ID != 0 {
        at += 8;
    }
    let format_id = i32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?);
    let gtrid_len = *body.get(at + 4)? as usize;
    let bqual_len = *body.get(at + 5)? as usize;
    let data = body.get(at + 6..at + 6 + gtrid_len + bqual_len)?;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
    Some(format!(
        "X'{}',X'{}',{format_id}",
        hex(&data[..gtrid_len]),
        hex(&data[gtrid_len..])
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RowOp, Version};

    fn change(key: &str) -> RowChange {
        RowChange {
            table: Arc::from("t"),
            family: Arc::from("d"),
            key: key.as_bytes().to_vec(),
            member: None,
            op: RowOp::Delete,
            version: Version(1),
        }
    }

    #[test]
    fn xids_compare_as_the_servers_print_them() {
        assert_eq!(normalize_xid("X'7831',X'',1"), "X'7831',X'',1");
        assert_eq!(
            normalize_xid("x'7a31', X'',1 ONE PHASE"),
            normalize_xid("X'7A31',X'',1")
        );
        // gtrid "x1", bqual "", format 1; no commit id.
        let mut body = vec![0; 12];
        body.push(0x40);
        body.extend_from_slice(&1i32.to_le_bytes());
        body.extend_from_slice(&[2, 0]);
        body.extend_from_slice(b"x1");
        assert_eq!(
            mariadb_prepared_xid(&body).as_deref(),
            Some("X'7831',X'',1")
        );
        body[12] = 0x08; // an ordinary transaction
        assert_eq!(mariadb_prepared_xid(&body), None);
    }

    #[test]
    fn held_until_the_outcome_and_bounded() {
        let t: Arc<str> = Arc::from("db.t");
        let mut xa = XaTransactions::new(1 << 20);
        xa.start("X'31',X'',1");
        xa.hold(&t, vec![change("1"), change("2")]);
        xa.prepare(None);
        assert!(!xa.is_active() && xa.any_prepared());
        xa.start("X'32',X'',1");
        xa.hold(&t, vec![change("3")]);
        xa.prepare(None);
        xa.rollback("X'32',X'',1");
        match xa.commit("X'31',X'',1", false) {
            Outcome::Held(txn) => assert_eq!(txn.changes.unwrap().len(), 2),
            Outcome::Unknown => panic!("held"),
        }
        assert!(!xa.any_prepared());
        assert!(matches!(xa.commit("X'33',X'',1", false), Outcome::Unknown));
        assert_eq!(xa.held_bytes, 0);

        // Over the limit: the rows go, the tables stay.
        let mut small = XaTransactions::new(change("1").size() * 2);
        small.start("X'34',X'',1");
        small.hold(&t, vec![change("1")]);
        small.hold(&t, vec![change("2"), change("3")]);
        small.prepare(None);
        match small.commit("X'34',X'',1", false) {
            Outcome::Held(txn) => {
                assert!(txn.changes.is_none());
                assert!(txn.tables.contains("db.t"));
            }
            Outcome::Unknown => panic!("held"),
        }
        assert_eq!(small.held_bytes, 0);

        // One phase: the active transaction commits without a prepare.
        small.start("X'35',X'',1");
        small.hold(&t, vec![change("1")]);
        assert!(matches!(
            small.commit("X'35',X'',1 ONE PHASE", true),
            Outcome::Held(_)
        ));
        assert!(!small.is_active());
    }
}

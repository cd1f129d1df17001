//! HBase cell versions, in HBase's own clock: milliseconds since the epoch.
//!
//! Every HBase write carries an explicit timestamp, its version (see `docs/ARCHITECTURE.md`,
//! "The invariant"). Versions are close to the change's commit time, so a family TTL means what
//! users expect and cells other tools wrote (wall-clock timestamps) order against ours; and for
//! every row they strictly increase across crashes, restarts, failovers, binlog resets and
//! changes of the writer count:
//!
//! - The router gives each event the version `max(previous, commit second in ms)`: never
//!   decreasing, and never below the pipeline's floor.
//! - A sink stamps each batch with `max(its last change's version, its previous stamp + 1)` (+ 2
//!   when the batch replaces whole rows, whose family delete goes one below the stamp, see
//!   `sink::hbase::mutations`), so one row's writes, which always go through one sink, strictly
//!   increase without a millisecond per event.
//! - [`VersionClock`] never hands out a stamp more than [`LEAD_LIMIT_MS`] ahead of the clock (a
//!   stamp further ahead waits that long), so a pipeline that starts later can start above every
//!   stamp ever handed out: its floor is above the clock plus the limit ([`start_floor`]), and
//!   above the highest stamp stored with the checkpoint (in case the clock stepped back).

use std::sync::atomic::{AtomicI64, Ordering};

/// An HBase cell timestamp: milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub i64);

impl Version {
    /// The version of a commit at `secs` (the binlog's event timestamps are in seconds).
    pub fn from_secs(secs: u32) -> Version {
        Version(i64::from(secs) * 1000)
    }

    /// The wall clock now.
    pub fn now() -> Version {
        Version(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        )
    }
}

/// How far ahead of the clock a stamp may be: a batch that would be stamped further ahead waits
/// until it is not (it only happens when a sink writes more than one batch per millisecond).
pub const LEAD_LIMIT_MS: i64 = 500;

/// The floor of a pipeline starting at `now_ms`: above every stamp handed out before, which
/// were at most [`LEAD_LIMIT_MS`] ahead of the clock of their time, and above `stored_highest`,
/// the highest stamp stored with the checkpoint (which also holds if the clock stepped back).
/// Above the clock, so also above the cells other tools wrote before.
pub fn start_floor(now_ms: i64, stored_highest: Option<i64>) -> i64 {
    (now_ms + LEAD_LIMIT_MS + 1).max(stored_highest.map_or(i64::MIN, |h| h + 1))
}

/// The versions a pipeline hands out: at least its floor, strictly increasing per sink, never
/// more than [`LEAD_LIMIT_MS`] ahead of the clock.
#[derive(Debug)]
pub struct VersionClock {
    floor: i64,
    /// The highest stamp handed out.
    highest: AtomicI64,
}

impl VersionClock {
    pub fn new(floor: i64) -> Self {
        VersionClock {
            floor,
            highest: AtomicI64::new(floor - 1),
        }
    }

    pub fn floor(&self) -> Version {
        Version(self.floor)
    }

    pub fn highest(&self) -> i64 {
        self.highest.load(Ordering::Acquire)
    }

    /// The stamp of a batch whose last change has version `wanted`, after a previous stamp
    /// `previous`, leaving `gap` versions free below it (1 plain, 2 for whole-row replaces):
    /// `max(wanted, previous + gap, floor)`. Waits while that is more than [`LEAD_LIMIT_MS`]
    /// ahead of the clock.
    pub async fn stamp(&self, wanted: Version, previous: i64, gap: i64) -> Version {
        let stamp = wanted.0.max(previous + gap).max(self.floor);
        loop {
            let ahead = stamp - Version::now().0 - LEAD_LIMIT_MS;
            if ahead <= 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(ahead as u64)).await;
        }
        self.highest.fetch_max(stamp, Ordering::AcqRel);
        Version(stamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_milliseconds() {
        assert_eq!(
            Version::from_secs(1_700_000_000),
            Version(1_700_000_000_000)
        );
        let now = Version::now();
        assert!(now.0 > 1_700_000_000_000, "{now:?}");
    }

    #[tokio::test]
    async fn stamps_strictly_increase_stay_above_the_floor_and_near_the_clock() {
        let now = Version::now().0;
        let clock = VersionClock::new(now - 10_000);
        // Below the floor (a replay of old changes after a restart): the floor.
        let a = clock.stamp(Version(1_000), clock.floor().0 - 1, 1).await;
        assert_eq!(a, Version(now - 10_000));
        // Same commit second again: one above the previous stamp.
        let b = clock.stamp(Version(1_000), a.0, 1).await;
        assert_eq!(b, Version(a.0 + 1));
        // A replace leaves a version free below its stamp.
        let c = clock.stamp(Version(1_000), b.0, 2).await;
        assert_eq!(c, Version(b.0 + 2));
        assert_eq!(clock.highest(), c.0);
        // Further ahead of the clock than the limit: waits until it is not.
        let started = std::time::Instant::now();
        let far = Version(Version::now().0 + LEAD_LIMIT_MS + 150);
        assert_eq!(clock.stamp(far, c.0, 1).await, far);
        assert!(started.elapsed() >= std::time::Duration::from_millis(140));
        assert!(Version::now().0 + LEAD_LIMIT_MS >= far.0);
    }

    #[test]
    fn a_later_start_is_above_every_stamp_handed_out_before() {
        let now = 1_700_000_000_000;
        // Stamps of an earlier life were at most LEAD_LIMIT_MS ahead of their (earlier) time.
        assert_eq!(start_floor(now, None), now + LEAD_LIMIT_MS + 1);
        assert_eq!(start_floor(now, Some(now - 5)), now + LEAD_LIMIT_MS + 1);
        // The clock stepped back: the stored highest stamp still holds.
        assert_eq!(start_floor(now, Some(now + 60_000)), now + 60_001);
    }
}

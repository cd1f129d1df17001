//! HBase cell versions, in HBase's own clock: milliseconds since the epoch.
//!
//! Every HBase write carries an explicit timestamp, its version (see `docs/ARCHITECTURE.md`,
//! "The invariant"). Versions are close to the change's commit time, so a family TTL means what
//! users expect and cells other tools wrote (wall-clock timestamps) order against ours; and for
//! every row they strictly increase across crashes, restarts, failovers, binlog resets and
//! changes of the writer count:
//!
//! - The router gives each event the version `max(previous, commit second in ms)`: never
//!   decreasing, and never below the clock's floor (below).
//! - A sink stamps each batch with `max(its last change's version, its previous stamp + 1)` (+ 2
//!   when the batch replaces whole rows, whose family delete goes one below the stamp, see
//!   `sink::hbase::mutations`), so one row's writes, which always go through one sink, strictly
//!   increase without a millisecond per event.
//! - [`VersionClock`] holds the highest stamp handed out and a *reservation*: stamps are only
//!   handed out up to a bound stored in the state store first, and a restart's floor is above the
//!   stored bound. So a restart, whatever it replays, writes above every version written before.

use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::Notify;

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

/// How far ahead of the versions in use (or of the clock) a reservation reaches.
pub const RESERVATION_WINDOW_MS: i64 = 1_000;

/// The versions a pipeline may hand out: at least `floor`, at most what is reserved.
#[derive(Debug)]
pub struct VersionClock {
    /// Every version handed out is at least this (above everything used before the start).
    floor: i64,
    /// Versions up to this are stored as reserved; none above is handed out.
    reserved: AtomicI64,
    /// The highest stamp handed out.
    highest: AtomicI64,
    /// Woken when the reservation grows.
    grown: Notify,
}

impl VersionClock {
    /// A clock starting at `floor`, with versions up to `reserved` already stored as reserved.
    pub fn new(floor: i64, reserved: i64) -> Self {
        VersionClock {
            floor,
            reserved: AtomicI64::new(reserved),
            highest: AtomicI64::new(floor - 1),
            grown: Notify::new(),
        }
    }

    pub fn floor(&self) -> Version {
        Version(self.floor)
    }

    pub fn highest(&self) -> i64 {
        self.highest.load(Ordering::Acquire)
    }

    pub fn reserved(&self) -> i64 {
        self.reserved.load(Ordering::Acquire)
    }

    /// The reservation to store next, if the current one is running short at `now_ms`: half the
    /// window left before the versions in use (or the clock) reach it.
    pub fn renewal_due(&self, now_ms: i64) -> Option<i64> {
        let in_use = self.highest().max(now_ms);
        (self.reserved() - in_use < RESERVATION_WINDOW_MS / 2)
            .then_some(in_use + RESERVATION_WINDOW_MS)
    }

    /// A reservation up to `bound` is stored: stamps up to it may be handed out.
    pub fn reserve(&self, bound: i64) {
        self.reserved.fetch_max(bound, Ordering::AcqRel);
        self.grown.notify_waiters();
    }

    /// The stamp of a batch whose last change has version `wanted`, after a previous stamp
    /// `previous`, leaving `gap` versions free below it (1 plain, 2 for whole-row replaces):
    /// `max(wanted, previous + gap, floor)`. Waits while that is above the reservation.
    pub async fn stamp(&self, wanted: Version, previous: i64, gap: i64) -> Version {
        let stamp = wanted.0.max(previous + gap).max(self.floor);
        loop {
            let grown = self.grown.notified();
            if stamp <= self.reserved() {
                break;
            }
            grown.await;
        }
        self.highest.fetch_max(stamp, Ordering::AcqRel);
        Version(stamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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
    async fn stamps_strictly_increase_stay_above_the_floor_and_wait_for_the_reservation() {
        let clock = Arc::new(VersionClock::new(5_000, 6_000));
        // Below the floor (a replay of old changes after a restart): the floor.
        let a = clock.stamp(Version(1_000), clock.floor().0 - 1, 1).await;
        assert_eq!(a, Version(5_000));
        // Same commit second again: one above the previous stamp.
        let b = clock.stamp(Version(1_000), a.0, 1).await;
        assert_eq!(b, Version(5_001));
        // A replace leaves a version free below its stamp.
        let c = clock.stamp(Version(1_000), b.0, 2).await;
        assert_eq!(c, Version(5_003));
        assert_eq!(clock.highest(), 5_003);
        // Above the reservation: waits until it is stored.
        let waiting = tokio::spawn({
            let clock = clock.clone();
            async move { clock.stamp(Version(6_500), 5_003, 1).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "handed out a version not reserved");
        clock.reserve(7_000);
        assert_eq!(waiting.await.unwrap(), Version(6_500));
    }

    #[test]
    fn renewals_keep_a_window_ahead_of_use_and_of_the_clock() {
        let clock = VersionClock::new(1_000, 2_000);
        assert_eq!(clock.renewal_due(1_000), None, "a whole window left");
        assert_eq!(
            clock.renewal_due(1_600),
            Some(1_600 + RESERVATION_WINDOW_MS),
            "less than half a window before the clock reaches it"
        );
        clock.highest.store(1_900, Ordering::Release);
        assert_eq!(clock.renewal_due(0), Some(1_900 + RESERVATION_WINDOW_MS));
    }
}

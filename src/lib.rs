//! mysql2hbase: keeps HBase tables exactly in sync with MySQL.
//!
//! Data flow: [`source`] (binlog, snapshot) -> [`core`] (routing, partitioning, checkpoints) ->
//! [`sink`] (HBase, Kafka). Below every stage: [`model`] (the shared types) and [`telemetry`]
//! (metrics, health). Beside it: [`config`], [`error`], the [`state`] store and [`admin`]
//! (commands, HTTP API, verify, check). An import only ever goes down this list:
//! admin -> core -> sink, source -> state, config, error -> telemetry -> model.
//! `docs/ARCHITECTURE.md` describes the design.

pub mod admin;
pub mod config;
pub mod core;
pub mod error;
pub mod model;
pub mod sink;
pub mod source;
pub mod state;
pub mod telemetry;

/// Turns transparent huge pages off for this process. mimalloc asks the kernel for them, and
/// then the first touch of each fresh 64 KiB allocator page makes the kernel zero a whole
/// 2 MiB page: 15-18% of the streaming daemon's CPU went to that (perf, bench/RESULTS.md), 0.7%
/// without. `PR_SET_THP_DISABLE` also covers machines whose THP setting is `always`, which
/// mimalloc's build option (`no_thp`) would not. A failure (a kernel without the call) only
/// costs speed, so it is not reported.
pub fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: this prctl only sets a flag on the calling process; it touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn transparent_huge_pages_are_off_after_the_call() {
        super::disable_transparent_huge_pages();
        // SAFETY: PR_GET_THP_DISABLE only reads the calling process's flag.
        let off = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(off, 1, "PR_GET_THP_DISABLE after the call");
    }
}

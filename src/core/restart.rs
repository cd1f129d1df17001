//! Restart strategies (Flink's names): what the daemon does when a component fails (HBase down,
//! MySQL connection lost, ...). The pipeline is torn down and restarted from the stored
//! checkpoint, which loses nothing and skips nothing; the strategy says how long to wait and
//! when to give up.
//!
//! A restart counts as recovered once the pipeline has moved its checkpoint past where it
//! restarted from; `fixed-delay` and `exponential` then start counting again, so a daemon that
//! survives an outage a month is not closer to giving up after the next one.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::warn;

use crate::config::{RestartConfig, RestartStrategy};
use crate::error::{Result, SyncError};
use crate::telemetry::metrics::METRICS;

pub struct Restarts {
    cfg: RestartConfig,
    /// Consecutive failures without recovery.
    consecutive: u32,
    /// Failure times within `interval` (failure-rate).
    recent: VecDeque<Instant>,
}

/// What to do after a failure.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    RestartAfter(Duration),
    GiveUp { failures: u32 },
}

impl Restarts {
    pub fn new(cfg: RestartConfig) -> Self {
        Restarts {
            cfg,
            consecutive: 0,
            recent: VecDeque::new(),
        }
    }

    /// The pipeline recovered (its checkpoint moved after a restart).
    pub fn recovered(&mut self) {
        self.consecutive = 0;
    }

    /// After `error`: waits the strategy's delay and returns `Ok(true)` to restart, `Ok(false)`
    /// when shutdown was requested meanwhile, or the error that gives up. `what` names what
    /// restarts, and from where, for the log.
    pub async fn wait_to_restart(
        &mut self,
        error: &SyncError,
        what: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<bool> {
        let strategy = self.cfg.strategy.as_str();
        match self.failed(Instant::now()) {
            Decision::RestartAfter(delay) => {
                METRICS.restarts.inc();
                warn!(error = %error, restart_in = ?delay, strategy, "{what}");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => Ok(true),
                    _ = shutdown.changed() => Ok(false),
                }
            }
            Decision::GiveUp { failures } => Err(SyncError::GaveUp {
                strategy: strategy.to_string(),
                failures,
                last: error.to_string(),
            }),
        }
    }

    pub fn failed(&mut self, now: Instant) -> Decision {
        self.consecutive += 1;
        let c = &self.cfg;
        match c.strategy {
            RestartStrategy::None => Decision::GiveUp { failures: 1 },
            RestartStrategy::FixedDelay => {
                if self.consecutive > c.attempts {
                    Decision::GiveUp {
                        failures: self.consecutive,
                    }
                } else {
                    Decision::RestartAfter(c.delay)
                }
            }
            RestartStrategy::Exponential => {
                if self.consecutive > c.attempts {
                    return Decision::GiveUp {
                        failures: self.consecutive,
                    };
                }
                let factor = 2u32.saturating_pow(self.consecutive.saturating_sub(1).min(20));
                Decision::RestartAfter(c.delay.saturating_mul(factor).min(c.max_delay))
            }
            RestartStrategy::FailureRate => {
                self.recent.push_back(now);
                while self
                    .recent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > c.interval)
                {
                    self.recent.pop_front();
                }
                if self.recent.len() as u32 > c.failures_per_interval {
                    Decision::GiveUp {
                        failures: self.recent.len() as u32,
                    }
                } else {
                    Decision::RestartAfter(c.delay)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(strategy: RestartStrategy) -> RestartConfig {
        RestartConfig {
            strategy,
            attempts: 2,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(3),
            failures_per_interval: 2,
            interval: Duration::from_secs(60),
        }
    }

    #[test]
    fn fixed_delay_gives_up_after_its_attempts_and_counts_again_after_recovery() {
        let mut r = Restarts::new(cfg(RestartStrategy::FixedDelay));
        let now = Instant::now();
        assert_eq!(
            r.failed(now),
            Decision::RestartAfter(Duration::from_secs(1))
        );
        assert_eq!(
            r.failed(now),
            Decision::RestartAfter(Duration::from_secs(1))
        );
        r.recovered();
        assert_eq!(
            r.failed(now),
            Decision::RestartAfter(Duration::from_secs(1))
        );
        assert_eq!(
            r.failed(now),
            Decision::RestartAfter(Duration::from_secs(1))
        );
        assert_eq!(r.failed(now), Decision::GiveUp { failures: 3 });
    }

    #[test]
    fn exponential_doubles_up_to_max_delay() {
        let mut r = Restarts::new(RestartConfig {
            attempts: 10,
            ..cfg(RestartStrategy::Exponential)
        });
        let now = Instant::now();
        let delays: Vec<_> = (0..4).map(|_| r.failed(now)).collect();
        assert_eq!(
            delays,
            [1, 2, 3, 3].map(|s| Decision::RestartAfter(Duration::from_secs(s)))
        );
    }

    #[test]
    fn failure_rate_counts_failures_within_the_interval() {
        let mut r = Restarts::new(cfg(RestartStrategy::FailureRate));
        let t0 = Instant::now();
        assert!(matches!(r.failed(t0), Decision::RestartAfter(_)));
        assert!(matches!(
            r.failed(t0 + Duration::from_secs(61)),
            Decision::RestartAfter(_)
        ));
        assert!(matches!(
            r.failed(t0 + Duration::from_secs(62)),
            Decision::RestartAfter(_)
        ));
        assert_eq!(
            r.failed(t0 + Duration::from_secs(63)),
            Decision::GiveUp { failures: 3 }
        );
        assert_eq!(
            Restarts::new(cfg(RestartStrategy::None)).failed(t0),
            Decision::GiveUp { failures: 1 }
        );
    }
}

//! When a failed run is tried again: exponential backoff with jitter, up to a
//! number of attempts and an age, then the run is dead-lettered. Plain data
//! with safe defaults.

use std::time::Duration;

use serde::Deserialize;

use super::spool::{Millis, Next, duration_millis};

/// The retry policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (default 8).
    pub max_attempts: u32,
    /// The wait before the second attempt; each later wait doubles (default 2s).
    #[serde(deserialize_with = "configured")]
    pub first_delay: Duration,
    /// The longest wait between attempts (default 5m).
    #[serde(deserialize_with = "configured")]
    pub max_delay: Duration,
    /// No attempt starts once the run is this old (default 24h).
    #[serde(deserialize_with = "configured")]
    pub max_age: Duration,
}

/// Durations are written as everywhere in the file (`"2s"`, `"5m"`), never
/// zero.
fn configured<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    hookbox_core::units::ConfigDuration::deserialize(deserializer).map(|written| written.0)
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(300),
            max_age: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// What becomes of a run whose attempt number `attempt` just failed.
    /// `jitter` (0.0 to 1.0) picks the wait within the upper half of the
    /// backoff, so retries of many runs spread out.
    pub fn after_failure(
        &self,
        attempt: u32,
        created_at: Millis,
        now: Millis,
        jitter: f64,
    ) -> Next {
        let delay = hookbox_core::backoff::exponential(self.first_delay, self.max_delay, attempt)
            .mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        let due = now.saturating_add(duration_millis(delay));
        let too_old = due.saturating_sub(created_at) >= duration_millis(self.max_age);
        if attempt >= self.max_attempts || too_old {
            Next::Dead
        } else {
            Next::RetryAt(due)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_durations_a_file_may_write_neither_wrap_nor_kill_runs() {
        let century = Duration::from_secs(hookbox_core::units::LONGEST_DURATION_SECONDS);
        let policy = RetryPolicy {
            max_attempts: 3,
            first_delay: century / 2,
            max_delay: century,
            max_age: century,
        };
        let now = 1_800_000_000_000;
        match policy.after_failure(1, now, now, 1.0) {
            Next::RetryAt(due) => assert!(due > now, "{due}"),
            other => panic!("a wait of half a century within a century is a retry: {other:?}"),
        }
    }

    #[test]
    fn waits_double_up_to_the_cap_then_the_run_is_dead() {
        let policy = RetryPolicy {
            max_attempts: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(4),
            max_age: Duration::from_secs(3600),
        };
        let waits: Vec<Next> = (1..=5)
            .map(|n| policy.after_failure(n, 0, 0, 1.0))
            .collect();
        assert_eq!(
            waits,
            [
                Next::RetryAt(1000),
                Next::RetryAt(2000),
                Next::RetryAt(4000),
                Next::RetryAt(4000),
                Next::Dead
            ]
        );
        assert_eq!(
            policy.after_failure(1, 0, 0, 0.0),
            Next::RetryAt(500),
            "jitter halves at most"
        );
    }

    #[test]
    fn an_old_run_is_dead_whatever_its_attempts() {
        let policy = RetryPolicy::default();
        let day = 24 * 3600 * 1000;
        assert_eq!(policy.after_failure(1, 0, day, 0.5), Next::Dead);
    }
}

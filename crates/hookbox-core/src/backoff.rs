//! The one backoff schedule: waits that double after each failure, up to a
//! cap. The service's retries and the git source's refetches both follow it.

use std::time::Duration;

/// The wait after `failures` failures in a row: `first` after the first,
/// doubling with each further one, never more than `max` (and nothing before
/// any failure).
pub fn exponential(first: Duration, max: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let exponent = (failures - 1).min(30);
    first.saturating_mul(1u32 << exponent).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_the_first_failure_up_to_the_cap() {
        let second = Duration::from_secs(1);
        let waits: Vec<u64> = (0..=5)
            .map(|failures| exponential(second, 4 * second, failures).as_secs())
            .collect();
        assert_eq!(waits, [0, 1, 2, 4, 4, 4]);
        assert_eq!(
            exponential(second, Duration::MAX, u32::MAX),
            second * (1 << 30),
            "no overflow however many failures"
        );
    }
}

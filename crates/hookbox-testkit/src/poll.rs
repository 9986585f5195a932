//! Waiting on a condition with a deadline, never on time passing: look
//! again every so often until what is seen is what is waited for, or the
//! deadline passes. Either way the caller gets what was seen last, so a
//! failing test says what it saw.

use std::time::{Duration, Instant};

/// Looks with `look` every `every` until `done` holds for what it sees, or
/// `within` has passed; what it saw last.
pub async fn poll_until<T>(
    within: Duration,
    every: Duration,
    mut look: impl AsyncFnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let seen = look().await;
        if done(&seen) || Instant::now() >= deadline {
            return seen;
        }
        tokio::time::sleep(every).await;
    }
}

/// [`poll_until`] for a caller that may block its thread.
pub fn poll_until_blocking<T>(
    within: Duration,
    every: Duration,
    mut look: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let seen = look();
        if done(&seen) || Instant::now() >= deadline {
            return seen;
        }
        std::thread::sleep(every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_stops_once_the_condition_holds() {
        let mut looks = 0;
        let seen = poll_until_blocking(
            Duration::from_secs(60),
            Duration::ZERO,
            || {
                looks += 1;
                looks
            },
            |&looks| looks == 3,
        );
        assert_eq!(seen, 3);
    }

    #[test]
    fn at_the_deadline_it_gives_what_it_saw_last() {
        let mut looks = 0;
        let seen = poll_until_blocking(
            Duration::ZERO,
            Duration::ZERO,
            || {
                looks += 1;
                looks
            },
            |_| false,
        );
        assert_eq!(seen, 1, "one look, then the deadline");
    }

    #[tokio::test]
    async fn the_async_form_stops_once_the_condition_holds() {
        let mut looks = 0;
        let seen = poll_until(
            Duration::from_secs(60),
            Duration::ZERO,
            async || {
                looks += 1;
                looks
            },
            |&looks| looks == 3,
        )
        .await;
        assert_eq!(seen, 3);
    }
}

//! Reconnect delays: exponential, jittered, capped at two seconds, so a
//! restarted peer is found again within about two seconds and a herd of
//! nodes that lost a peer together does not redial in lock-step.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    first: Duration,
    cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(50), Duration::from_secs(2))
    }
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration) -> Backoff {
        Backoff {
            attempt: 0,
            first,
            cap,
        }
    }

    /// The delay before the next attempt. `jitter` in `[0, 1)` (the caller's
    /// randomness, so tests are deterministic) picks a point in the upper
    /// half of the exponential step: `[step/2, step)`.
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let step = self
            .first
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// After a successful connection.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_up_to_the_cap() {
        let mut b = Backoff::default();
        let delays: Vec<_> = (0..10)
            .map(|_| b.next_delay(0.999_999).as_millis())
            .collect();
        assert_eq!(delays[..6], [49, 99, 199, 399, 799, 1599]);
        assert!(delays[6..].iter().all(|&d| (1000..=2000).contains(&d)));
    }

    #[test]
    fn jitter_spreads_within_the_upper_half_and_reset_starts_over() {
        let mut b = Backoff::default();
        for _ in 0..10 {
            b.next_delay(0.0);
        }
        assert_eq!(b.next_delay(0.0), Duration::from_secs(1));
        b.reset();
        assert_eq!(b.next_delay(0.0), Duration::from_millis(25));
    }
}

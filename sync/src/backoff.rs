//! When to try again after a failed connection: exponential backoff with full jitter, so a
//! province of clinics coming back online after an outage does not reconnect in lockstep.

use std::time::Duration;

use rand::Rng;

/// Retry timing. Pure apart from the random jitter source passed to [`Backoff::next_delay`].
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The first delay's ceiling.
    pub base: Duration,
    /// No delay is longer than this.
    pub max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            failures: 0,
        }
    }

    /// How many attempts failed in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A connection succeeded: the next failure starts again from `base`.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// An attempt failed: the delay before the next one, uniformly random in
    /// `[ceiling/2, ceiling]` where the ceiling doubles with each failure up to `max`.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << self.failures.min(20))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        let ms = ceiling.as_millis().max(1) as u64;
        Duration::from_millis(rng.gen_range(ms / 2..=ms))
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(300))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn delays_grow_to_the_cap_with_jitter_and_reset() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut rng = StdRng::seed_from_u64(7);
        let delays: Vec<Duration> = (0..10).map(|_| b.next_delay(&mut rng)).collect();
        for (i, d) in delays.iter().enumerate() {
            let ceiling = Duration::from_secs(1 << i).min(Duration::from_secs(60));
            assert!(*d <= ceiling && *d >= ceiling / 2, "attempt {i}: {d:?}");
        }
        assert_eq!(b.failures(), 10);
        b.reset();
        assert!(b.next_delay(&mut rng) <= Duration::from_secs(1));
    }

    #[test]
    fn jitter_spreads_clients_apart() {
        let mut rng = StdRng::seed_from_u64(1);
        let firsts: std::collections::BTreeSet<u128> = (0..50)
            .map(|_| {
                let mut b = Backoff::new(Duration::from_secs(8), Duration::from_secs(60));
                b.next_delay(&mut rng).as_millis()
            })
            .collect();
        assert!(firsts.len() > 40, "{} distinct delays", firsts.len());
    }
}

//! Bounded retries with exponential backoff and full jitter, honouring `Retry-After`.

use rand::Rng;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited for: the call fails as transient.
    pub max_retry_after: Duration,
    /// No attempt starts after this much time since the first.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(120),
            deadline: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// For a queue worker with a short invocation (the apply function has 60 s for a batch):
    /// each call gives up within 12 s and does not wait out a `Retry-After` over 10 s, so the
    /// message goes back to the queue, to be retried after its visibility timeout, instead of
    /// the invocation timing out and taking the whole batch with it.
    pub fn queue_worker() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(10),
            deadline: Duration::from_secs(12),
        }
    }

    /// A policy for tests: quick, but still several attempts.
    #[cfg(feature = "testing")]
    pub fn fast() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(5),
            deadline: Duration::from_secs(30),
        }
    }

    /// How long to wait before attempt `attempt + 1`, or `None` to give up.
    pub fn delay(
        &self,
        attempt: u32,
        started: Instant,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let delay = match retry_after {
            Some(wait) if wait > self.max_retry_after => return None,
            Some(wait) => wait,
            None => {
                let exp = self.base_delay.saturating_mul(1u32 << attempt.min(16));
                let cap = exp.min(self.max_delay);
                rand::thread_rng().gen_range(Duration::ZERO..=cap)
            }
        };
        (started.elapsed() + delay <= self.deadline).then_some(delay)
    }
}

/// The longest `Retry-After` read as such; a longer one is read as this (and the policy then
/// gives up rather than wait: see [`RetryPolicy::max_retry_after`]).
const RETRY_AFTER_CEILING: Duration = Duration::from_secs(24 * 3600);

/// `Retry-After` in seconds (integer or decimal), at most a day. HTTP dates are not used by
/// these APIs.
pub fn parse_retry_after(value: Option<&reqwest::header::HeaderValue>) -> Option<Duration> {
    let secs: f64 = value?.to_str().ok()?.trim().parse().ok()?;
    if !(secs.is_finite() && secs >= 0.0) {
        return None;
    }
    Some(
        Duration::try_from_secs_f64(secs)
            .map_or(RETRY_AFTER_CEILING, |d| d.min(RETRY_AFTER_CEILING)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_within_bounds_and_gives_up() {
        let policy = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            max_retry_after: Duration::from_secs(10),
            deadline: Duration::from_secs(60),
        };
        let start = Instant::now();
        for attempt in 1..4 {
            let d = policy.delay(attempt, start, None).unwrap();
            assert!(d <= Duration::from_millis(300), "capped: {d:?}");
        }
        assert_eq!(policy.delay(4, start, None), None, "bounded attempts");
        assert_eq!(
            policy.delay(1, start, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2)),
            "Retry-After wins"
        );
        assert_eq!(
            policy.delay(1, start, Some(Duration::from_secs(11))),
            None,
            "too long a Retry-After fails now"
        );
    }

    #[test]
    fn respects_the_deadline() {
        let policy = RetryPolicy {
            deadline: Duration::from_millis(10),
            ..RetryPolicy::default()
        };
        assert_eq!(
            policy.delay(1, Instant::now(), Some(Duration::from_secs(1))),
            None
        );
    }

    #[test]
    fn parses_retry_after_seconds() {
        let v = reqwest::header::HeaderValue::from_static("3");
        assert_eq!(parse_retry_after(Some(&v)), Some(Duration::from_secs(3)));
        let v = reqwest::header::HeaderValue::from_static("0.5");
        assert_eq!(
            parse_retry_after(Some(&v)),
            Some(Duration::from_millis(500))
        );
        let v = reqwest::header::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(parse_retry_after(Some(&v)), None);
        for huge in ["1e30", "18446744073709551616", "99999999999999999999999"] {
            let v = reqwest::header::HeaderValue::from_static(huge);
            assert_eq!(
                parse_retry_after(Some(&v)),
                Some(RETRY_AFTER_CEILING),
                "{huge} is clamped, not a panic"
            );
        }
    }
}

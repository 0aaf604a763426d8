//! What one scenario needed, what it made, and the ratios between them. Pure arithmetic over
//! counts, so that the rules are tested on their own.

use serde::Serialize;
use std::time::Duration;

/// Kombo's maximum page size: a full read needs ceil(N / 250) pages.
pub const KOMBO_PAGE_SIZE: u64 = sync_clients::kombo::MAX_PAGE_SIZE as u64;
/// The page size the Learn Amp client lists users and teams with.
pub const LEARNAMP_PAGE_SIZE: u64 = sync_clients::learnamp::PER_PAGE as u64;

/// What the APIs allow: the latency each answer takes, Learn Amp's rate, the calls in flight.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Limits {
    pub kombo_latency_ms: u64,
    pub learnamp_latency_ms: u64,
    /// Learn Amp's requests per second (the sandbox answers 429 + `Retry-After` over it).
    pub learnamp_rate_limit: Option<f64>,
    /// Share of Learn Amp calls the sandbox answers 429 at random, on top of the rate limit.
    pub learnamp_random_429_share: f64,
    /// Learn Amp calls the engine keeps in flight.
    pub concurrency: usize,
}

/// The fewest calls a scenario can be done with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Minimum {
    /// ceil(employees in Kombo's listing / 250).
    pub kombo_pages: u64,
    /// Listing pages of Learn Amp: its users on a first import (to adopt, not duplicate, users
    /// that exist already) and its users and teams on a reconcile; none otherwise.
    pub learnamp_listing_pages: u64,
    /// One write per employee whose Learn Amp user had to change.
    pub employee_writes: u64,
    /// One write per team that had to be created.
    pub team_writes: u64,
    /// One token, when Learn Amp has to be called at all.
    pub token: u64,
    pub total: u64,
}

impl Minimum {
    pub fn new(
        kombo_employees: u64,
        learnamp_listing_pages: u64,
        employee_writes: u64,
        team_writes: u64,
    ) -> Self {
        let kombo_pages = kombo_employees.div_ceil(KOMBO_PAGE_SIZE).max(1);
        let learnamp = learnamp_listing_pages + employee_writes + team_writes;
        let token = u64::from(learnamp > 0);
        Self {
            kombo_pages,
            learnamp_listing_pages,
            employee_writes,
            team_writes,
            token,
            total: kombo_pages + learnamp + token,
        }
    }
}

/// Listing pages of `items` at Learn Amp's page size; one page even when there are none.
pub fn learnamp_pages(items: u64) -> u64 {
    items.div_ceil(LEARNAMP_PAGE_SIZE).max(1)
}

/// What the APIs themselves took to answer, beyond the latency: the sandboxes' own time.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceTime {
    pub kombo: Duration,
    pub learnamp: Duration,
}

/// The time the APIs force on a run, however fast the engine. Kombo's pages come one after
/// the other (each page's cursor comes with the page before), each taking the latency plus
/// the server's own time. Learn Amp's calls take the slower of their rate limit and
/// `latency × calls / concurrency` (plus the server's own time over all of them); the rate
/// limit is a token bucket that starts full with one second of calls (`max(1, rate)`, the
/// sandbox's burst), which cost no waiting. `learnamp_after_kombo` of them can only start once
/// Kombo is read (all of them, but for a reconcile's listing, which overlaps Kombo's). So the
/// bound is the longer of "Kombo, then those calls" and "all of Learn Amp's calls".
pub fn rate_limit_bound(
    limits: &Limits,
    kombo_calls: u64,
    learnamp_served: u64,
    learnamp_after_kombo: u64,
    service: ServiceTime,
) -> Duration {
    let kombo = Duration::from_millis(limits.kombo_latency_ms) * kombo_calls as u32 + service.kombo;
    let learnamp = |calls: u64, service: Duration| {
        let by_rate = limits
            .learnamp_rate_limit
            .map(|r| Duration::from_secs_f64((calls as f64 - r.max(1.0)).max(0.0) / r))
            .unwrap_or_default();
        let by_latency = (Duration::from_millis(limits.learnamp_latency_ms) * calls as u32
            + service)
            / limits.concurrency.max(1) as u32;
        by_rate.max(by_latency)
    };
    // The server's time is known for all calls together, not for those after Kombo alone.
    let after_kombo = kombo + learnamp(learnamp_after_kombo, Duration::ZERO);
    after_kombo.max(learnamp(learnamp_served, service.learnamp))
}

/// `made / needed`, rounded to 3 decimals; `None` when nothing was needed.
pub fn ratio(made: f64, needed: f64) -> Option<f64> {
    (needed > 0.0).then(|| (made / needed * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: Option<f64>, la_latency_ms: u64) -> Limits {
        Limits {
            kombo_latency_ms: 20,
            learnamp_latency_ms: la_latency_ms,
            learnamp_rate_limit: rate,
            learnamp_random_429_share: 0.0,
            concurrency: 8,
        }
    }

    #[test]
    fn minimum_counts_pages_writes_and_one_token_only_when_learn_amp_is_needed() {
        let resync = Minimum::new(50_000, 0, 0, 0);
        assert_eq!(resync.kombo_pages, 200);
        assert_eq!((resync.token, resync.total), (0, 200));

        let churn = Minimum::new(1_001, 0, 10, 0);
        assert_eq!(churn.kombo_pages, 5);
        assert_eq!((churn.token, churn.total), (1, 16));

        assert_eq!(
            Minimum::new(0, 0, 0, 0).kombo_pages,
            1,
            "one page says 'none'"
        );
        assert_eq!(learnamp_pages(0), 1);
        assert_eq!(learnamp_pages(201), 3);
    }

    #[test]
    fn the_bound_is_kombo_pages_in_series_then_the_slower_of_rate_and_latency() {
        let none = ServiceTime::default();
        // 40 pages at 20 ms, then 600 writes at 100/s, of which the first 100 are the burst.
        let b = rate_limit_bound(&limits(Some(100.0), 0), 40, 600, 600, none);
        assert_eq!(b, Duration::from_millis(800 + 5_000));
        assert_eq!(
            rate_limit_bound(&limits(Some(100.0), 0), 0, 60, 60, none),
            Duration::ZERO,
            "within the burst"
        );
        // No rate limit: 800 writes of 40 ms, 8 at a time.
        let b = rate_limit_bound(&limits(None, 40), 40, 800, 800, none);
        assert_eq!(b, Duration::from_millis(800 + 4_000));
        // Both: the slower one holds.
        let b = rate_limit_bound(&limits(Some(1_000.0), 40), 0, 800, 800, none);
        assert_eq!(b, Duration::from_millis(4_000));
        // The servers' own time adds to the latency: Kombo's in series, Learn Amp's 8 at a time.
        let service = ServiceTime {
            kombo: Duration::from_millis(300),
            learnamp: Duration::from_millis(800),
        };
        let b = rate_limit_bound(&limits(None, 40), 40, 800, 800, service);
        assert_eq!(
            b,
            Duration::from_millis(4_000 + 100).max(Duration::from_millis(800 + 300 + 4_000))
        );
        assert_eq!(b, Duration::from_millis(5_100));
        // A reconcile: 400 reads beside Kombo's 40 pages, then 80 writes (480 calls of 40 ms).
        let b = rate_limit_bound(&limits(None, 40), 40, 480, 80, none);
        assert_eq!(
            b,
            Duration::from_millis(2_400),
            "all of Learn Amp's calls take longer"
        );
        let b = rate_limit_bound(&limits(None, 40), 200, 480, 80, none);
        assert_eq!(
            b,
            Duration::from_millis(4_000 + 400),
            "Kombo, then the writes"
        );
    }

    #[test]
    fn ratios_are_rounded_and_undefined_over_nothing() {
        assert_eq!(ratio(105.0, 100.0), Some(1.05));
        assert_eq!(ratio(2.0, 3.0), Some(0.667));
        assert_eq!(ratio(3.0, 0.0), None);
    }
}

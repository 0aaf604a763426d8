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

/// What the APIs took to answer the calls that got past the faults, as the sandboxes measured
/// it: for each call, from its arrival to its answer (the injected latency as it was slept,
/// which tokio's millisecond timer rounds up, and the server's own work), summed.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnswerTime {
    pub kombo: Duration,
    pub learnamp: Duration,
}

/// Learn Amp's calls that got past the rate limit, as the bound counts them.
#[derive(Debug, Clone, Copy, Default)]
pub struct LearnAmpServed {
    /// Every call served.
    pub calls: u64,
    /// Of them, the team writes: made before any user write, `concurrency` at a time.
    pub team_writes: u64,
    /// Of them, those that can only start once Kombo is read (all of them, but for a
    /// reconcile's listing, which overlaps Kombo's); the team writes are among them.
    pub after_kombo: u64,
}

/// The time the APIs force on a run, however fast the engine, and the part of it the team
/// writes take.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bound {
    pub total: Duration,
    pub teams: Duration,
}

/// The time the APIs force on a run. Kombo's pages come one after the other (each page's
/// cursor comes with the page before): the sum of their answer times. Learn Amp's calls take
/// the slower of their rate limit and their answer time, `concurrency` at a time. The rate
/// limit is a token bucket that starts full with one second of calls (`max(1, rate)`, the
/// sandbox's burst), which cost no waiting. The teams' rule: every team is written before any
/// user refers to it, so the team writes take `ceil(teams / concurrency)` answer times of their
/// own, and the other calls go `concurrency` at a time after them. `after_kombo` of the calls
/// can only start once Kombo is read. So the bound is the longer of "Kombo, then those calls"
/// and "all of Learn Amp's calls".
pub fn rate_limit_bound(limits: &Limits, learnamp: LearnAmpServed, answered: AnswerTime) -> Bound {
    let concurrency = limits.concurrency.max(1) as u64;
    let each_answer = match learnamp.calls {
        0 => Duration::ZERO,
        calls => answered.learnamp / calls as u32,
    };
    let teams = each_answer * learnamp.team_writes.div_ceil(concurrency) as u32;
    let learnamp_time = |calls: u64| {
        let by_rate = limits
            .learnamp_rate_limit
            .map(|r| Duration::from_secs_f64((calls as f64 - r.max(1.0)).max(0.0) / r))
            .unwrap_or_default();
        let others = calls.saturating_sub(learnamp.team_writes);
        let by_answers = teams + each_answer * others as u32 / concurrency as u32;
        by_rate.max(by_answers)
    };
    let after_kombo = answered.kombo + learnamp_time(learnamp.after_kombo);
    Bound {
        total: after_kombo.max(learnamp_time(learnamp.calls)),
        teams,
    }
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

    fn served(calls: u64, team_writes: u64, after_kombo: u64) -> LearnAmpServed {
        LearnAmpServed {
            calls,
            team_writes,
            after_kombo,
        }
    }

    fn answered(kombo_ms: u64, learnamp_ms: u64) -> AnswerTime {
        AnswerTime {
            kombo: Duration::from_millis(kombo_ms),
            learnamp: Duration::from_millis(learnamp_ms),
        }
    }

    #[test]
    fn the_bound_is_kombo_pages_in_series_then_the_slower_of_rate_and_answers() {
        // 40 pages answered in 800 ms, then 600 writes at 100/s, of which the first 100 are
        // the burst.
        let b = rate_limit_bound(
            &limits(Some(100.0), 0),
            served(600, 0, 600),
            answered(800, 0),
        );
        assert_eq!(b.total, Duration::from_millis(800 + 5_000));
        assert_eq!(
            rate_limit_bound(&limits(Some(100.0), 0), served(60, 0, 60), answered(0, 0)).total,
            Duration::ZERO,
            "within the burst"
        );
        // No rate limit: 800 writes answered in 40 ms each, 8 at a time.
        let b = rate_limit_bound(
            &limits(None, 40),
            served(800, 0, 800),
            answered(800, 32_000),
        );
        assert_eq!(b.total, Duration::from_millis(800 + 4_000));
        // Both: the slower one holds.
        let b = rate_limit_bound(
            &limits(Some(1_000.0), 40),
            served(800, 0, 800),
            answered(0, 32_000),
        );
        assert_eq!(b.total, Duration::from_millis(4_000));
        let b = rate_limit_bound(
            &limits(Some(100.0), 40),
            served(800, 0, 800),
            answered(0, 32_000),
        );
        assert_eq!(b.total, Duration::from_millis(7_000));
        // A reconcile: 400 reads beside Kombo's 40 pages, then 80 writes (480 calls of 40 ms).
        let b = rate_limit_bound(&limits(None, 40), served(480, 0, 80), answered(800, 19_200));
        assert_eq!(
            b.total,
            Duration::from_millis(2_400),
            "all of Learn Amp's calls take longer"
        );
        let b = rate_limit_bound(
            &limits(None, 40),
            served(480, 0, 80),
            answered(4_000, 19_200),
        );
        assert_eq!(
            b.total,
            Duration::from_millis(4_000 + 400),
            "Kombo, then the writes"
        );
    }

    #[test]
    fn teams_take_their_own_rounds_before_the_users() {
        // 20 teams then 800 users, 40 ms each, 8 at a time: 3 rounds of teams (8, 8, 4), then
        // 100 rounds of users.
        let b = rate_limit_bound(
            &limits(None, 40),
            served(820, 20, 820),
            answered(800, 32_800),
        );
        assert_eq!(b.teams, Duration::from_millis(3 * 40));
        assert_eq!(b.total, Duration::from_millis(800 + 120 + 4_000));
        // One team still takes a whole answer: nothing else can go beside it.
        let b = rate_limit_bound(&limits(None, 40), served(9, 1, 9), answered(0, 360));
        assert_eq!(b.total, Duration::from_millis(40 + 40));
        // Under a rate limit the teams are calls like any other.
        let b = rate_limit_bound(
            &limits(Some(100.0), 0),
            served(620, 20, 620),
            answered(0, 0),
        );
        assert_eq!(b.total, Duration::from_millis(5_200));
    }

    #[test]
    fn ratios_are_rounded_and_undefined_over_nothing() {
        assert_eq!(ratio(105.0, 100.0), Some(1.05));
        assert_eq!(ratio(2.0, 3.0), Some(0.667));
        assert_eq!(ratio(3.0, 0.0), None);
    }
}

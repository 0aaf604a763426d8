//! Pacing of one client's calls at the rate the API allows, learned from the API's own answers
//! (AIMD): nothing is configured, and nothing is known of the limit until a call is turned away.
//!
//! * Until then calls go unpaced.
//! * A 429 that asks for a wait (`Retry-After` over zero) lowers the pace to [`SLOW_DOWN`] of the
//!   lower of the pace and the calls served in the last second (the first time: of those served,
//!   which is what the API let through). Only calls sent under the current pace count: the calls
//!   that were in flight when the pace was lowered say nothing new. A bare 429 (or
//!   `Retry-After: 0`) is retried, not learned from: it does not say the client is too fast.
//! * When no call was served in the last second there is no rate to read, and when a call sent
//!   under a lowered pace is turned away before any was served, slowing down did not help (the
//!   API's window is closed): either way every call waits out the `Retry-After` first.
//! * Each call the pace held back and that was then served raises the pace by [`SPEED_UP`] calls
//!   per second: while the pace is what holds the calls back, it grows 1 % a second, whatever the
//!   rate, until the next 429 says it is too fast again.
//!
//! The pace is shared by every worker of the client (a run's calls share one client), so the
//! workers together keep to it. The pace is a spacing between the starts of calls, not a budget
//! of tokens: after a pause the calls do not come in a burst.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The share of the observed rate the pace falls to at a 429.
pub const SLOW_DOWN: f64 = 0.9;
/// Calls per second the pace gains with each call it held back that was served.
pub const SPEED_UP: f64 = 0.01;
/// The window the served calls are counted over when the pace is lowered.
const SERVED_WINDOW: Duration = Duration::from_secs(1);
/// The slowest pace: one call a minute. Never zero, so a call always gets a slot.
const MIN_RATE: f64 = 1.0 / 60.0;

#[derive(Default)]
pub struct Pacer {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Calls per second; `None` until the API turned a call away.
    rate: Option<f64>,
    /// When the next call may start.
    next_slot: Option<Instant>,
    /// Raised each time the pace is lowered.
    epoch: u64,
    /// Whether a call sent under the current pace was served.
    served_in_epoch: bool,
    /// No call starts before this: a `Retry-After` every call waits out.
    hold_until: Option<Instant>,
    /// When each call of the last [`SERVED_WINDOW`] was served.
    served: VecDeque<Instant>,
}

/// A call's slot: the pace it was sent under, and whether the pace held it back.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    epoch: u64,
    held_back: bool,
}

impl Pacer {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the next slot and takes it; `None` when the slot is further away than
    /// `time_left`. A call still waiting when the pace is lowered takes a slot again, under the
    /// new pace: the calls that were waiting do not go at the pace that was too fast.
    pub async fn slot(&self, time_left: Duration) -> Option<Slot> {
        let deadline = Instant::now() + time_left;
        loop {
            let (at, slot) = {
                let mut s = self.lock();
                let now = Instant::now();
                let mut at = now;
                if let Some(hold) = s.hold_until {
                    at = at.max(hold);
                }
                if let (Some(rate), Some(next)) = (s.rate, s.next_slot) {
                    at = at.max(next);
                    if at > deadline {
                        return None;
                    }
                    s.next_slot = Some(at + Duration::from_secs_f64(1.0 / rate));
                } else if at > deadline {
                    return None;
                }
                let slot = Slot {
                    epoch: s.epoch,
                    held_back: at > now,
                };
                (at, slot)
            };
            if !slot.held_back {
                return Some(slot);
            }
            tokio::time::sleep_until(at).await;
            if self.lock().epoch == slot.epoch {
                return Some(slot);
            }
        }
    }

    /// The call was answered (neither turned away nor failed).
    pub fn served(&self, slot: Slot) {
        let mut s = self.lock();
        let now = Instant::now();
        s.served.push_back(now);
        while s
            .served
            .front()
            .is_some_and(|&t| now.duration_since(t) > SERVED_WINDOW)
        {
            s.served.pop_front();
        }
        if slot.epoch == s.epoch {
            s.served_in_epoch = true;
        }
        if let (true, Some(rate)) = (slot.held_back, s.rate) {
            s.rate = Some(rate + SPEED_UP);
        }
    }

    /// The call was answered 429 with `retry_after` (which the caller caps at the longest wait
    /// it would make). Returns the pace when it was lowered.
    pub fn turned_away(&self, slot: Slot, retry_after: Option<Duration>) -> Option<f64> {
        let retry_after = retry_after.filter(|d| !d.is_zero())?;
        let mut s = self.lock();
        if slot.epoch != s.epoch {
            return None;
        }
        let now = Instant::now();
        let served = s
            .served
            .iter()
            .filter(|&&t| now.duration_since(t) <= SERVED_WINDOW)
            .count() as f64;
        let observed = match (s.rate, served > 0.0) {
            (Some(rate), true) => rate.min(served),
            (Some(rate), false) => rate,
            (None, true) => served,
            (None, false) => {
                // Nothing to read a rate from: wait, and learn from the next 429.
                s.hold_until = Some(now + retry_after);
                s.epoch += 1;
                return None;
            }
        };
        if !s.served_in_epoch && s.epoch > 0 {
            s.hold_until = Some(now + retry_after);
        }
        let rate = (observed * SLOW_DOWN).max(MIN_RATE);
        s.rate = Some(rate);
        s.epoch += 1;
        s.served_in_epoch = false;
        // The next call leaves the API one interval to recover, after any hold.
        let start = s.hold_until.map_or(now, |hold| hold.max(now));
        s.next_slot = Some(start + Duration::from_secs_f64(1.0 / rate));
        Some(rate)
    }

    /// The pace learned so far, in calls per second; `None` while calls go unpaced.
    pub fn rate(&self) -> Option<f64> {
        self.lock().rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    /// Serves `n` calls through the pacer, one after another; the time they took.
    async fn serve(pacer: &Pacer, n: usize) -> Duration {
        let started = Instant::now();
        for _ in 0..n {
            let slot = pacer.slot(LONG).await.unwrap();
            pacer.served(slot);
        }
        started.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn calls_go_unpaced_until_one_is_turned_away_with_a_wait() {
        let pacer = Pacer::new();
        assert_eq!(serve(&pacer, 1000).await, Duration::ZERO);
        let slot = pacer.slot(LONG).await.unwrap();
        assert_eq!(pacer.turned_away(slot, None), None, "a bare 429");
        assert_eq!(pacer.turned_away(slot, Some(Duration::ZERO)), None);
        assert_eq!(pacer.rate(), None);
        assert_eq!(serve(&pacer, 10).await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_paces_at_nine_tenths_of_what_was_served_in_the_last_second() {
        let pacer = Pacer::new();
        // 50 calls served more than a second ago, then 100 in the last 200 ms.
        serve(&pacer, 50).await;
        tokio::time::advance(Duration::from_secs(2)).await;
        for _ in 0..100 {
            let slot = pacer.slot(LONG).await.unwrap();
            pacer.served(slot);
            tokio::time::advance(Duration::from_millis(2)).await;
        }
        let in_flight: Vec<Slot> = slots_at_once(&pacer, 3).await;
        let rate = pacer.turned_away(in_flight[0], Some(Duration::from_secs(1)));
        assert_eq!(rate, Some(90.0));
        // The other calls sent before the pace was lowered do not lower it again.
        assert_eq!(
            pacer.turned_away(in_flight[1], Some(Duration::from_secs(1))),
            None
        );
        assert_eq!(pacer.rate(), Some(90.0));
        // 90 calls a second: 45 calls take half a second, the first one interval after the 429.
        let took = serve(&pacer, 45).await;
        let interval = Duration::from_secs_f64(1.0 / 90.0);
        assert!(took >= interval * 45 - Duration::from_millis(1), "{took:?}");
        assert!(took <= interval * 46, "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn calls_waiting_for_a_slot_when_the_pace_is_lowered_go_at_the_new_pace() {
        let pacer = Pacer::new();
        serve(&pacer, 100).await;
        let first = pacer.slot(LONG).await.unwrap();
        pacer.turned_away(first, Some(Duration::from_secs(1)));
        let in_flight = pacer.slot(LONG).await.unwrap();
        // Three calls wait for their slots at 90 a second; 1 ms later the call in flight is
        // turned away, and the pace falls to 81 a second.
        let lowered_at = Instant::now() + Duration::from_millis(1);
        let waiting = async {
            let take = || async {
                let slot = pacer.slot(LONG).await.unwrap();
                (slot, Instant::now())
            };
            tokio::join!(take(), take(), take())
        };
        let lowering = async {
            tokio::time::sleep_until(lowered_at).await;
            pacer.turned_away(in_flight, Some(Duration::from_secs(1)))
        };
        let ((a, b, c), lowered) = tokio::join!(waiting, lowering);
        assert_eq!(lowered, Some(81.0));
        let interval = Duration::from_secs_f64(1.0 / 81.0);
        let mut times = Vec::new();
        for (slot, at) in [a, b, c] {
            assert_eq!(slot.epoch, 2, "taken again under the new pace");
            times.push(at);
        }
        times.sort();
        assert!(times[0] >= lowered_at + interval - Duration::from_millis(1));
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= interval - Duration::from_millis(1));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_with_nothing_served_in_the_last_second_is_waited_out_not_learned() {
        let pacer = Pacer::new();
        let first = pacer.slot(LONG).await.unwrap();
        assert_eq!(pacer.turned_away(first, Some(Duration::from_secs(2))), None);
        assert_eq!(pacer.rate(), None, "no rate read from nothing");
        let before = Instant::now();
        let next = pacer.slot(LONG).await.unwrap();
        assert_eq!(before.elapsed(), Duration::from_secs(2), "the Retry-After");
        // Then calls go unpaced again, and the next 429 teaches the pace.
        pacer.served(next);
        assert_eq!(serve(&pacer, 49).await, Duration::ZERO);
        let slot = pacer.slot(LONG).await.unwrap();
        assert_eq!(
            pacer.turned_away(slot, Some(Duration::from_secs(1))),
            Some(45.0)
        );
    }

    /// `n` slots taken at once, as by workers in flight together.
    async fn slots_at_once(pacer: &Pacer, n: usize) -> Vec<Slot> {
        let mut slots = Vec::new();
        for _ in 0..n {
            slots.push(pacer.slot(LONG).await.unwrap());
        }
        slots
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_grows_one_percent_a_second_while_it_holds_calls_back() {
        let pacer = Pacer::new();
        serve(&pacer, 100).await;
        let slot = pacer.slot(LONG).await.unwrap();
        pacer.turned_away(slot, Some(Duration::from_secs(1)));
        let start = pacer.rate().unwrap();
        assert_eq!(start, 90.0);
        // Ten seconds of calls, each held back by the pace.
        let mut calls = 0;
        let began = Instant::now();
        while began.elapsed() < Duration::from_secs(10) {
            let slot = pacer.slot(LONG).await.unwrap();
            pacer.served(slot);
            calls += 1;
        }
        let rate = pacer.rate().unwrap();
        assert!((rate - (start + calls as f64 * SPEED_UP)).abs() < 1e-9);
        // About 1 % a second: 90 → about 99.4 after 10 s.
        assert!((98.0..101.0).contains(&rate), "{rate}");
        // Calls the pace did not hold back (the workers were slower) do not raise it.
        tokio::time::advance(Duration::from_secs(5)).await;
        let slot = pacer.slot(LONG).await.unwrap();
        pacer.served(slot);
        assert_eq!(pacer.rate(), Some(rate));
    }

    #[tokio::test(start_paused = true)]
    async fn when_slowing_down_does_not_help_every_call_waits_out_the_retry_after() {
        let pacer = Pacer::new();
        serve(&pacer, 100).await;
        let first = pacer.slot(LONG).await.unwrap();
        pacer.turned_away(first, Some(Duration::from_secs(30)));
        assert_eq!(pacer.rate(), Some(90.0));
        // A call under the lowered pace is turned away too, before any was served.
        let second = pacer.slot(LONG).await.unwrap();
        let lowered = pacer.turned_away(second, Some(Duration::from_secs(30)));
        assert_eq!(lowered, Some(81.0));
        let before = Instant::now();
        assert!(
            pacer.slot(Duration::from_secs(10)).await.is_none(),
            "no slot within 10 s"
        );
        assert_eq!(Instant::now(), before, "refused at once");
        pacer.slot(LONG).await.unwrap();
        let waited = before.elapsed();
        assert!(waited >= Duration::from_secs(30), "{waited:?}");
        assert!(waited < Duration::from_secs(31), "{waited:?}");
    }
}

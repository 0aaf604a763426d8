//! The local runner's order of managers before reports, without waves as barriers: a change
//! whose manager is created or reactivated in the same run is held back until the manager's
//! change settled, then released to the queue. A wave no longer waits for the slowest change
//! of the wave before it, and no report is written before its manager's Learn Amp user exists.

use crate::messages::ChangeMessage;
use std::collections::HashMap;

/// The local runner's changes whose manager is created or reactivated in the same run (a wave
/// after 0), held back until the manager's change settled, then released to the queue.
#[derive(Default)]
pub struct ManagerGate {
    /// The held changes, by the employee id of the manager they wait for.
    waiting: HashMap<String, Vec<ChangeMessage>>,
    held: usize,
}

impl ManagerGate {
    /// The gate, holding the changes that wait for a manager, and the changes ready now.
    pub fn new(messages: Vec<ChangeMessage>) -> (Self, Vec<ChangeMessage>) {
        let mut gate = Self::default();
        let mut ready = Vec::new();
        for message in messages {
            let manager = match (&message.desired.manager_employee_id, message.wave) {
                (Some(manager), 1..) => manager.clone(),
                _ => {
                    ready.push(message);
                    continue;
                }
            };
            gate.waiting.entry(manager).or_default().push(message);
            gate.held += 1;
        }
        (gate, ready)
    }

    /// The changes that waited for `manager`, whose own change has settled.
    pub fn release(&mut self, manager: &str) -> Vec<ChangeMessage> {
        let released = self.waiting.remove(manager).unwrap_or_default();
        self.held -= released.len();
        released
    }

    /// Every change still held, in wave order.
    pub fn release_all(&mut self) -> Vec<ChangeMessage> {
        let mut released: Vec<ChangeMessage> = self.waiting.drain().flat_map(|(_, m)| m).collect();
        released.sort_by(|a, b| {
            (a.wave, &a.desired.employee_id).cmp(&(b.wave, &b.desired.employee_id))
        });
        self.held = 0;
        released
    }

    pub fn len(&self) -> usize {
        self.held
    }

    pub fn is_empty(&self) -> bool {
        self.held == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::DesiredUser;
    use chrono::NaiveDate;

    fn change(id: &str, manager: Option<&str>, wave: u32) -> ChangeMessage {
        let mut desired = DesiredUser::missing(id);
        desired.manager_employee_id = manager.map(str::to_string);
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        ChangeMessage::new("t", "run", desired, today, wave)
    }

    fn ids(messages: &[ChangeMessage]) -> Vec<&str> {
        messages
            .iter()
            .map(|m| m.desired.employee_id.as_str())
            .collect()
    }

    #[test]
    fn a_report_is_released_when_its_manager_settles_and_not_before() {
        let (mut gate, ready) = ManagerGate::new(vec![
            change("ceo", None, 0),
            // Its manager needs no write in this run: ready now.
            change("solo", Some("kept"), 0),
            change("head", Some("ceo"), 1),
            change("dev-b", Some("head"), 2),
            change("dev-a", Some("head"), 2),
        ]);
        assert_eq!(ids(&ready), ["ceo", "solo"]);
        assert_eq!(gate.len(), 3);
        assert!(gate.release("solo").is_empty(), "nobody waits for solo");
        assert_eq!(ids(&gate.release("ceo")), ["head"]);
        assert_eq!(gate.len(), 2);
        assert_eq!(ids(&gate.release("head")), ["dev-b", "dev-a"]);
        assert!(gate.is_empty());
        assert!(gate.release("head").is_empty(), "released once");
    }

    #[test]
    fn what_is_still_held_can_be_released_at_once_in_wave_order() {
        let (mut gate, ready) = ManagerGate::new(vec![
            change("dev", Some("head"), 2),
            change("head", Some("ceo"), 1),
        ]);
        assert!(ready.is_empty());
        assert_eq!(ids(&gate.release_all()), ["head", "dev"]);
        assert!(gate.is_empty());
        assert!(gate.release_all().is_empty());
    }
}

//! The run report: what a sync run did, per employee, for operators and machines.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Create,
    /// A Learn Amp user that existed already was linked to the employee (found by its email, or
    /// by the employee's id an earlier or interrupted run had given it): nothing was created.
    /// One that was deactivated and came back this way counts as `Reactivate`.
    Adopt,
    Update,
    Deactivate,
    Reactivate,
    Unchanged,
    Deferred,
    Failed,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Adopt => "adopt",
            Self::Update => "update",
            Self::Deactivate => "deactivate",
            Self::Reactivate => "reactivate",
            Self::Unchanged => "unchanged",
            Self::Deferred => "deferred",
            Self::Failed => "failed",
        }
    }

    /// Whether carrying this action out writes to Learn Amp.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Self::Create | Self::Adopt | Self::Update | Self::Deactivate | Self::Reactivate
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub created: u64,
    /// Reports written before adoptions were counted apart have none (they counted them as
    /// `created`).
    #[serde(default)]
    pub adopted: u64,
    pub updated: u64,
    pub deactivated: u64,
    pub reactivated: u64,
    pub unchanged: u64,
    pub deferred: u64,
    pub failed: u64,
}

impl Counts {
    pub fn add(&mut self, kind: ActionKind) {
        match kind {
            ActionKind::Create => self.created += 1,
            ActionKind::Adopt => self.adopted += 1,
            ActionKind::Update => self.updated += 1,
            ActionKind::Deactivate => self.deactivated += 1,
            ActionKind::Reactivate => self.reactivated += 1,
            ActionKind::Unchanged => self.unchanged += 1,
            ActionKind::Deferred => self.deferred += 1,
            ActionKind::Failed => self.failed += 1,
        }
    }
}

/// One employee's line in the report. Ids and reasons only, never names or emails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub employee_id: String,
    pub action: ActionKind,
    pub learnamp_user_id: Option<u64>,
    pub detail: String,
}

/// A problem in one employee's data that the run worked around.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub employee_id: String,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    Full,
    Delta,
    /// A full read that also reads Learn Amp's users and teams, and corrects what drifted there.
    Reconcile,
}

/// What started a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    /// The local runner (`personio-sync sync`, the demo).
    #[default]
    Local,
    /// The 3-hourly EventBridge schedule.
    Schedule,
    /// A webhook, through the sync-request queue.
    Webhook,
    /// A direct invoke of the sync function (import all, dry run, one employee).
    Invoke,
}

impl RunTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Schedule => "schedule",
            Self::Webhook => "webhook",
            Self::Invoke => "invoke",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub run_id: String,
    pub tenant: String,
    #[serde(default)]
    pub trigger: RunTrigger,
    pub mode: SyncMode,
    pub dry_run: bool,
    pub today: chrono::NaiveDate,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub counts: Counts,
    /// Why deactivations were held back, when the deactivation guard stopped them.
    pub halted: Option<String>,
    /// Every employee whose action was not "unchanged".
    pub actions: Vec<ActionRecord>,
    pub notes: Vec<Note>,
    /// Team writes: created and renamed Learn Amp teams.
    pub teams: TeamCounts,
    /// Change messages sent to the apply function (AWS runs); the counts are then the plan.
    #[serde(default)]
    pub queued: u64,
    pub api_calls: ApiCalls,
    #[serde(default)]
    pub timings: RunTimings,
    /// Changes of this run that the apply function could not make (permanent Learn Amp
    /// errors), recorded after the run returned and merged in when the report is read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apply_failures: Vec<ActionRecord>,
    /// What the apply function made of the changes this run queued (AWS runs): recorded after
    /// the run returned and merged in when the report is read; absent until one settles. The
    /// `counts` above are then the plan, and these say what was really done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
    /// The run was stopped before it had applied every change (a signal, or its deadline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
}

/// How far a stopped run got. The changes not started are planned again by the next run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopped {
    /// What stopped it: `SIGTERM`, `SIGINT`, `--max-run-seconds (S s)`.
    pub reason: String,
    /// Changes applied (created, adopted, updated, deactivated, reactivated) before it stopped.
    pub applied: u64,
    /// Changes not started, or cut off in flight after the grace period.
    pub not_started: u64,
}

/// What the apply function made of one queued change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settled {
    /// Applied, with the action made (`unchanged` when nothing was left to write by then).
    Applied(ActionKind),
    /// Skipped: another run's change had completed the same desired state; nothing written.
    Duplicate,
}

/// One change of a run, settled by the apply function. Ids only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyOutcome {
    pub employee_id: String,
    pub settled: Settled,
}

/// The apply side of an AWS run: its queued changes as they settled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The changes applied, by the action made.
    pub counts: Counts,
    /// The changes skipped as duplicates of another run's: nothing was written for them.
    pub duplicates: u64,
    /// Each settled employee's outcome, so that a redelivery is counted once.
    pub employees: BTreeMap<String, Settled>,
}

impl Applied {
    /// Counts one outcome: an employee's first application stands; a change that was both
    /// skipped and applied (by a redelivery) counts as applied.
    fn absorb(&mut self, outcome: ApplyOutcome) {
        match (self.employees.get(&outcome.employee_id), outcome.settled) {
            (Some(Settled::Applied(_)), _) | (Some(Settled::Duplicate), Settled::Duplicate) => {
                return
            }
            (Some(Settled::Duplicate), Settled::Applied(kind)) => {
                self.duplicates -= 1;
                self.counts.add(kind);
            }
            (None, Settled::Applied(kind)) => self.counts.add(kind),
            (None, Settled::Duplicate) => self.duplicates += 1,
        }
        self.employees.insert(outcome.employee_id, outcome.settled);
    }
}

impl RunReport {
    /// Merges one apply failure in; a redelivered failure is counted once.
    pub fn absorb_apply_failure(&mut self, failure: ActionRecord) {
        if self
            .apply_failures
            .iter()
            .any(|f| f.employee_id == failure.employee_id)
        {
            return;
        }
        self.counts.failed += 1;
        self.apply_failures.push(failure);
    }

    /// Merges one apply outcome in; a redelivered change is counted once.
    pub fn absorb_apply_outcome(&mut self, outcome: ApplyOutcome) {
        self.applied
            .get_or_insert_with(Applied::default)
            .absorb(outcome);
    }

    pub fn converged(&self) -> bool {
        self.counts.failed == 0 && self.stopped.is_none()
    }
}

/// Where a run's time went, for operators and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTimings {
    /// Reading Kombo (and Learn Amp, on a reconcile or a first import) and the stored state.
    pub read_ms: u64,
    /// CPU time of the whole process while it read: decoding the answers, and the mapping of
    /// each record as its page arrives (also counted in `plan_cpu_us`: do not add them up).
    pub read_cpu_us: u64,
    /// CPU time of planning: mapping every record to its desired user, and comparing each
    /// with what was applied (a reconcile's look at Learn Amp's users is counted as reading).
    pub plan_cpu_us: u64,
    /// Planning once everything is read: comparing each desired user with what was applied
    /// (the mapping as pages arrive is part of the read). Absent in reports of older builds.
    #[serde(default)]
    pub plan_ms: u64,
    /// Creating teams, then applying (or queueing) the changes, wave by wave.
    pub apply_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamCounts {
    pub created: u64,
    pub renamed: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCalls {
    pub kombo: BTreeMap<String, u64>,
    pub learnamp: BTreeMap<String, u64>,
}

impl ApiCalls {
    pub fn learnamp_total(&self) -> u64 {
        self.learnamp.values().sum()
    }

    /// Learn Amp calls that change something (everything but reads and the token).
    pub fn learnamp_writes(&self) -> u64 {
        self.learnamp
            .iter()
            .filter(|(k, _)| !k.starts_with("GET ") && !k.contains("/oauth/token"))
            .map(|(_, v)| v)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(employee_id: &str, settled: Settled) -> ApplyOutcome {
        ApplyOutcome {
            employee_id: employee_id.into(),
            settled,
        }
    }

    #[test]
    fn adoptions_are_counted_apart_and_reports_written_before_them_still_read() {
        let mut counts = Counts::default();
        for kind in [ActionKind::Create, ActionKind::Adopt, ActionKind::Adopt] {
            counts.add(kind);
        }
        assert_eq!((counts.created, counts.adopted), (1, 2));
        let json = serde_json::to_value(&counts).unwrap();
        assert_eq!(json["adopted"], 2);
        let old = serde_json::json!({"created": 4, "updated": 1, "deactivated": 0,
            "reactivated": 0, "unchanged": 9, "deferred": 0, "failed": 0});
        let old: Counts = serde_json::from_value(old).unwrap();
        assert_eq!((old.created, old.adopted), (4, 0));
        let settled = serde_json::json!({"employee_id": "E1", "settled": {"applied": "adopt"}});
        assert_eq!(
            serde_json::from_value::<ApplyOutcome>(settled).unwrap(),
            outcome("E1", Settled::Applied(ActionKind::Adopt))
        );
    }

    #[test]
    fn apply_outcomes_count_each_change_once_and_an_application_beats_a_skip() {
        let mut applied = Applied::default();
        for o in [
            outcome("E1", Settled::Duplicate),
            outcome("E1", Settled::Applied(ActionKind::Update)),
            outcome("E1", Settled::Duplicate),
            outcome("E2", Settled::Applied(ActionKind::Create)),
            outcome("E2", Settled::Applied(ActionKind::Create)),
            outcome("E3", Settled::Duplicate),
            outcome("E3", Settled::Duplicate),
        ] {
            applied.absorb(o);
        }
        assert_eq!((applied.counts.updated, applied.counts.created), (1, 1));
        assert_eq!(applied.duplicates, 1);
        // The stored shape of an outcome.
        let json = serde_json::json!({"employee_id": "E1", "settled": {"applied": "update"}});
        assert_eq!(
            serde_json::from_value::<ApplyOutcome>(json).unwrap(),
            outcome("E1", Settled::Applied(ActionKind::Update))
        );
    }
}

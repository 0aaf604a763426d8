//! One sync run for one tenant: read Kombo, plan, create or rename teams, send one change
//! message per employee that differs, drain the queue through the applier, report.
//!
//! The local runner drives all of it in one process; on AWS the same `Engine::plan_and_enqueue`
//! runs in the sync function and `Applier` in the apply function.
//!
//! Managers are written before their reports. On AWS each manager wave is queued with a longer
//! delay than the one before, and the apply function holds a report back while its manager is
//! not applied yet. The local runner holds each report back until its manager's change settled
//! ([`ManagerGate`]), so no wave waits for the slowest change of the wave before it.

use crate::applier::{Applier, ApplyError, KnownUsers};
use crate::cpu::{micros_since, process_cpu_time, thread_cpu_time};
use crate::error::{QueueError, SourceError, StoreError, TargetError};
use crate::kombo::Group;
use crate::manager_gate::ManagerGate;
use crate::mapping::{name_hash, today_in};
use crate::messages::{ChangeMessage, ChangeReason};
use crate::planner::{plan, Listing, Plan, PlanInput, TeamChange};
use crate::ports::{EmployeeStates, HrisSource, LearnAmp, ListQuery, Queue, StateStore};
use crate::reconcile::{observe_teams, record_observed, take_in_drifted, UserObserver};
use crate::report::{
    ActionKind, ActionRecord, ApiCalls, Counts, Note, RunReport, RunTimings, RunTrigger, Stopped,
    SyncMode, TeamCounts,
};
use crate::settings::TenantSettings;
use crate::state::{EmployeeState, TeamState};
pub use crate::stop::Stop;
use chrono::{NaiveDate, Utc};
use futures::stream::{self, FuturesUnordered, StreamExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use thiserror::Error;

/// How an engine run delivers its change messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// Send and apply in this process (the local runner).
    Drain,
    /// Send for the apply function (AWS).
    Enqueue,
}

/// What a run does with Learn Amp once it has planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NextCalls {
    /// Nothing, or nothing yet: a plan shown, or changes queued for the apply function.
    None,
    /// It writes the changes itself.
    Writes,
}

/// Each manager wave is delayed this much more than the one before (SQS allows 900 s at most).
pub const WAVE_DELAY_SECONDS: u32 = 20;
const MAX_DELAY_SECONDS: u32 = 900;

/// A delta reads from this long before its cursor. The cursor is the start of the last read on
/// our clock, and Kombo stamps changes on its own: a clock behind Kombo's by less than this
/// misses no change. Re-reading an unchanged employee writes nothing (its hashes match).
pub const DELTA_SAFETY_WINDOW_SECONDS: i64 = 5 * 60;

/// A message that keeps failing with retryable errors is given up after this many deliveries
/// within one run; its employee is reported as failed and retried by the next run.
pub const MAX_DELIVERIES: u32 = 4;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub mode: SyncMode,
    pub dry_run: bool,
    /// Overrides "today" (in the tenant's time zone), for what-if runs and tests.
    pub today: Option<NaiveDate>,
    /// Sync only this Kombo employee.
    pub employee_id: Option<String>,
    pub allow_mass_deactivation: bool,
    /// What started the run, for its report.
    pub trigger: RunTrigger,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            mode: SyncMode::Full,
            dry_run: false,
            today: None,
            employee_id: None,
            allow_mass_deactivation: false,
            trigger: RunTrigger::Local,
        }
    }
}

#[derive(Debug, Error)]
pub enum EngineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Target(#[from] TargetError),
}

impl EngineError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Source(e) => e.is_retryable(),
            Self::Store(e) => e.is_retryable(),
            Self::Queue(_) => true,
            Self::Target(e) => e.is_retryable(),
        }
    }
}

/// What a drain did: its records, whether a change was given up on, and how many changes it
/// did not start (or cut off) because the run was stopped.
struct Drained {
    records: Vec<ActionRecord>,
    gave_up: bool,
    not_started: u64,
}

pub struct Engine<'a> {
    pub hris: &'a dyn HrisSource,
    pub learnamp: &'a dyn LearnAmp,
    pub store: &'a dyn StateStore,
    pub queue: &'a dyn Queue<ChangeMessage>,
    pub settings: &'a TenantSettings,
    /// Learn Amp calls in flight at once.
    pub concurrency: usize,
    /// Told how far a run is, for long runs in a terminal.
    pub progress: &'a dyn Progress,
}

/// How far a run is: the changes planned, then each change settled (applied, or given up on).
pub trait Progress: Send + Sync {
    fn planned(&self, changes: usize);
    fn settled_one(&self);
    fn finished(&self) {}
}

/// For runs nobody watches (the Lambda functions, tests).
pub struct NoProgress;

impl Progress for NoProgress {
    fn planned(&self, _changes: usize) {}
    fn settled_one(&self) {}
}

/// What planning produced: the plan, and what the run needs to finish its report.
pub struct PlannedRun {
    pub run_id: String,
    pub today: NaiveDate,
    pub plan: Plan,
    pub read_started_at: chrono::DateTime<Utc>,
    pub mode: SyncMode,
    /// Learn Amp's users, when they were read (first import, reconcile), for adoption.
    pub known_users: Option<KnownUsers>,
    /// Reconcile: the employee states that drifted, and the teams Learn Amp holds; recorded
    /// before the changes are applied.
    pub observed: Option<(Vec<EmployeeState>, HashMap<String, TeamState>)>,
    /// The drifted states were recorded while planning (see `take_in_drifted`).
    pub drifted_recorded: bool,
    /// The read and the planning; the run adds its apply time.
    pub timings: RunTimings,
}

impl Engine<'_> {
    fn tenant(&self) -> &str {
        &self.settings.tenant_id
    }

    fn applier<'s>(&'s self, known: Option<&'s KnownUsers>) -> Applier<'s> {
        Applier {
            learnamp: self.learnamp,
            store: self.store,
            settings: self.settings,
            known,
            manager_state: None,
        }
    }

    /// Reads Kombo and plans. Nothing is written, but for what a reconcile observed in Learn Amp
    /// where the store shares its states (see `take_in_drifted`), never in a dry run.
    pub async fn plan(&self, options: &RunOptions) -> Result<PlannedRun, EngineError> {
        self.plan_then(options, NextCalls::None).await
    }

    /// `plan`, getting Learn Amp ready (its token) while Kombo is still read as soon as an
    /// employee decided on the way needs a write, when this run makes its writes itself:
    /// the first write then does not wait for the token after the read.
    async fn plan_then(
        &self,
        options: &RunOptions,
        next: NextCalls,
    ) -> Result<PlannedRun, EngineError> {
        let read_started_at = Utc::now();
        let read_clock = std::time::Instant::now();
        let read_cpu = process_cpu_time();
        let today = options
            .today
            .unwrap_or_else(|| today_in(self.settings, read_started_at));
        let cursor = match options.mode {
            SyncMode::Delta => self
                .store
                .cursor(self.tenant())
                .await?
                .map(|cursor| cursor - chrono::Duration::seconds(DELTA_SAFETY_WINDOW_SECONDS)),
            SyncMode::Full | SyncMode::Reconcile => None,
        };
        // A delta with no previous read is a full read.
        let mode = match (options.mode, cursor) {
            (SyncMode::Delta, None) => SyncMode::Full,
            (mode, _) => mode,
        };
        let query = ListQuery {
            updated_after: cursor,
            ids: options.employee_id.clone().map(|id| vec![id]),
        };
        let mut listing = Listing::default();
        // Mapping each record to its desired user is planning, done as the pages arrive.
        let mut mapping_cpu_us = 0;
        // Kombo, the stored state and (for a reconcile) Learn Amp are read at once: none of
        // these reads needs another's answer. Once the state is there, each page's employees
        // are compared with it as the page arrives (a reconcile first records what drifted).
        let stored_for_pages = std::sync::OnceLock::new();
        // `true` as soon as an employee decided on the way needs a write; dropped unsent when
        // the read ends without one.
        let (writes_tx, writes_expected) = tokio::sync::oneshot::channel();
        let mut writes_tx = (next == NextCalls::Writes).then_some(writes_tx);
        let read_kombo = async {
            let listed = self
                .hris
                .each_employee_page(&query, &mut |page| {
                    let started = thread_cpu_time();
                    if let Some(state) = stored_for_pages.get() {
                        listing.decide_against(state, self.settings.invite_policy);
                    }
                    listing.add(&page.employees, self.settings, today);
                    listing.add_malformed(page.malformed);
                    if writes_tx.is_some() && listing.writes_expected() {
                        let _ = writes_tx.take().map(|tx| tx.send(true));
                    }
                    mapping_cpu_us += micros_since(started, thread_cpu_time());
                })
                .await;
            drop(writes_tx);
            listed?;
            let changed_groups = match mode {
                SyncMode::Delta => {
                    self.hris
                        .list_groups(&ListQuery {
                            updated_after: cursor,
                            ids: None,
                        })
                        .await?
                }
                SyncMode::Full | SyncMode::Reconcile => Vec::new(),
            };
            Ok::<Vec<Group>, EngineError>(changed_groups)
        };
        let read_state = async {
            let state = self.store.employees(self.tenant()).await?;
            if mode != SyncMode::Reconcile {
                let _ = stored_for_pages.set(EmployeeStates::clone(&state));
            }
            let teams = self.store.teams(self.tenant()).await?;
            Ok::<_, EngineError>((state, teams))
        };
        let read_learnamp = async {
            if mode != SyncMode::Reconcile {
                return Ok::<_, EngineError>(None);
            }
            Ok(Some(
                UserObserver::read(self.learnamp, self.settings).await?,
            ))
        };
        let prepare_learnamp = async {
            if writes_expected.await == Ok(true) {
                if let Err(error) = self.learnamp.prepare_calls().await {
                    // The first write meets the same error, and reports it.
                    tracing::debug!(tenant = %self.tenant(), %error, "learn amp not prepared ahead of the writes");
                }
            }
        };
        let (kombo, stored, in_learnamp, ()) =
            tokio::join!(read_kombo, read_state, read_learnamp, prepare_learnamp);
        // Reported in this order whatever failed first, so a run's error (and whether it is
        // retried) does not depend on timing.
        let changed_groups = kombo?;
        let (mut state, mut teams) = stored?;
        let in_learnamp = in_learnamp?;
        let mut known_users = None;
        let mut observed = None;
        let mut drifted_recorded = false;
        let mut unreadable_users = Vec::new();
        if let Some((observer, la_teams)) = in_learnamp {
            let observed_users = observer.finish(&state);
            let (drifted, users) = (observed_users.drifted, observed_users.known);
            unreadable_users = observed_users.skipped;
            let may_write = !options.dry_run;
            drifted_recorded =
                take_in_drifted(self.store, self.tenant(), &mut state, &drifted, may_write).await?;
            teams = observe_teams(&la_teams);
            observed = Some((drifted, teams.clone()));
            known_users = Some(users);
        } else if !state.values().any(EmployeeState::is_linked)
            && !listing.is_empty()
            && !options.dry_run
        {
            // A first import: users may exist in Learn Amp already (made by hand, or by an
            // earlier tool). One listing finds them all, instead of a lookup per employee.
            let (known, skipped) = KnownUsers::list(self.learnamp).await?;
            unreadable_users = skipped;
            known_users = Some(known);
        }
        let read_ms = read_clock.elapsed().as_millis() as u64;
        let read_cpu_us = micros_since(read_cpu, process_cpu_time());
        let plan_cpu = thread_cpu_time();
        let plan_clock = std::time::Instant::now();
        let listed = listing.len();
        let mut plan = plan(PlanInput {
            settings: self.settings,
            today,
            listing,
            complete_listing: mode != SyncMode::Delta && options.employee_id.is_none(),
            changed_groups: &changed_groups,
            state: &state,
            teams: &teams,
            allow_mass_deactivation: options.allow_mass_deactivation,
        });
        plan.notes.extend(unreadable_users.iter().map(|m| Note {
            employee_id: String::new(),
            detail: format!(
                "Learn Amp {m}: this user could not be read and was left out of this run"
            ),
        }));
        let plan_cpu_us = mapping_cpu_us + micros_since(plan_cpu, thread_cpu_time());
        tracing::info!(
            tenant = %self.tenant(),
            employees = listed,
            changes = plan.changes.len(),
            teams = plan.teams.len(),
            halted = plan.halted.is_some(),
            read_ms,
            plan_cpu_us,
            "planned"
        );
        Ok(PlannedRun {
            run_id: uuid::Uuid::new_v4().to_string(),
            today,
            plan,
            read_started_at,
            mode,
            known_users,
            observed,
            drifted_recorded,
            timings: RunTimings {
                read_ms,
                read_cpu_us,
                plan_cpu_us,
                plan_ms: plan_clock.elapsed().as_millis() as u64,
                apply_ms: 0,
            },
        })
    }

    /// A whole run in one process: plan, and unless `dry_run`, apply (draining the queue, each
    /// report once its manager's change settled) and record. The local runner's run.
    pub async fn run(&self, options: &RunOptions) -> Result<RunReport, EngineError> {
        self.execute(options, Delivery::Drain, None).await
    }

    /// `run`, stopped gracefully when `stop` fires: the report then says how far it got, and
    /// the delta cursor stays where it was so that the next run plans what was not done.
    pub async fn run_until(
        &self,
        options: &RunOptions,
        stop: &Stop,
    ) -> Result<RunReport, EngineError> {
        self.execute(options, Delivery::Drain, Some(stop)).await
    }

    /// The sync function's run: plan, create or rename teams, and queue one change message per
    /// employee that differs, for the apply function. Managers' waves are queued with a delay so
    /// that they are usually applied before their reports.
    pub async fn plan_and_enqueue(&self, options: &RunOptions) -> Result<RunReport, EngineError> {
        self.execute(options, Delivery::Enqueue, None).await
    }

    async fn execute(
        &self,
        options: &RunOptions,
        delivery: Delivery,
        stop: Option<&Stop>,
    ) -> Result<RunReport, EngineError> {
        let stopped = || stop.and_then(Stop::reason).is_some();
        let started_at = Utc::now();
        // Progress is of changes applied here; a dry run or a queueing run applies none.
        let applying = !options.dry_run && delivery == Delivery::Drain;
        let next = match applying {
            true => NextCalls::Writes,
            false => NextCalls::None,
        };
        let mut planned = self.plan_then(options, next).await?;
        if applying {
            self.progress.planned(planned.plan.changes.len());
        }
        let mut actions: Vec<ActionRecord> = Vec::new();
        let mut teams = TeamCounts::default();
        let mut retry_pending = false;
        let apply_clock = std::time::Instant::now();
        let mut queued = 0u64;
        let mut not_started = 0u64;

        if options.dry_run || delivery == Delivery::Enqueue {
            actions.extend(planned.plan.changes.iter().map(|c| ActionRecord {
                employee_id: c.desired.employee_id.clone(),
                action: c.decision.kind,
                learnamp_user_id: None,
                detail: c.decision.detail.clone(),
            }));
        }
        if options.dry_run {
            for team in &planned.plan.teams {
                match team.existing {
                    Some(_) => teams.renamed += 1,
                    None => teams.created += 1,
                }
            }
        } else {
            if let Some((employees, observed_teams)) = &planned.observed {
                let employees = if planned.drifted_recorded {
                    &[]
                } else {
                    &employees[..]
                };
                record_observed(self.store, self.tenant(), employees, observed_teams).await?;
            }
            if !stopped() {
                teams = self.apply_teams(&planned.plan).await?;
            }
            let mut waves: BTreeMap<u32, Vec<ChangeMessage>> = BTreeMap::new();
            // A change of an employee whose Learn Amp user drifted is a repair: it may want a
            // state completed before, and must not be skipped as a duplicate of it.
            let drifted: HashSet<&str> = planned
                .observed
                .iter()
                .flat_map(|(employees, _)| employees.iter().map(|s| s.employee_id.as_str()))
                .collect();
            // The messages take the desired users over from the plan: one copy, not two.
            for change in std::mem::take(&mut planned.plan.changes) {
                let reason = if drifted.contains(change.desired.employee_id.as_str()) {
                    ChangeReason::Repair
                } else {
                    ChangeReason::SourceChange
                };
                waves.entry(change.wave).or_default().push(
                    ChangeMessage::new(
                        self.tenant(),
                        &planned.run_id,
                        change.desired,
                        planned.today,
                        change.wave,
                    )
                    .with_reason(reason),
                );
            }
            match delivery {
                Delivery::Drain => {
                    let messages: Vec<ChangeMessage> = waves.into_values().flatten().collect();
                    queued += messages.len() as u64;
                    if stopped() {
                        not_started += messages.len() as u64;
                    } else {
                        let (mut gate, ready) = ManagerGate::new(messages);
                        self.queue.send_batch(ready).await?;
                        let drained = self
                            .drain(planned.known_users.as_ref(), stop, &mut gate)
                            .await?;
                        retry_pending |= drained.gave_up;
                        not_started += drained.not_started;
                        actions.extend(drained.records);
                    }
                }
                Delivery::Enqueue => {
                    for (wave, messages) in waves {
                        queued += messages.len() as u64;
                        let delay = (wave * WAVE_DELAY_SECONDS).min(MAX_DELAY_SECONDS);
                        self.queue.send_delayed(messages, delay).await?;
                    }
                }
            }
        }

        let stopped = stop.and_then(Stop::reason).map(|reason| Stopped {
            reason,
            applied: actions.iter().filter(|a| a.action.writes()).count() as u64,
            not_started,
        });
        // Changes are still owed: the next delta must read from where this one did.
        retry_pending |= stopped.is_some();
        let apply_ms = apply_clock.elapsed().as_millis() as u64;
        let mut counts = Counts::default();
        for record in planned.plan.settled.iter().chain(actions.iter()) {
            counts.add(record.action);
        }
        // Unchanged employees are counted, not listed (a listing of a whole company each run
        // would drown the few that matter).
        actions.extend(
            planned
                .plan
                .settled
                .iter()
                .filter(|r| r.action != ActionKind::Unchanged)
                .cloned(),
        );
        actions.retain(|r| r.action != ActionKind::Unchanged || !r.detail.is_empty());
        actions.sort_by(|a, b| a.employee_id.cmp(&b.employee_id));

        if applying {
            self.progress.finished();
        }
        let finished_at = Utc::now();
        let report = RunReport {
            run_id: planned.run_id.clone(),
            tenant: self.tenant().to_string(),
            trigger: options.trigger,
            mode: planned.mode,
            dry_run: options.dry_run,
            today: planned.today,
            started_at,
            finished_at,
            duration_ms: (finished_at - started_at).num_milliseconds().max(0) as u64,
            counts,
            halted: planned.plan.halted.clone(),
            actions,
            notes: planned.plan.notes.clone(),
            teams,
            queued: if delivery == Delivery::Enqueue {
                queued
            } else {
                0
            },
            api_calls: ApiCalls {
                kombo: self.hris.call_stats(),
                learnamp: self.learnamp.call_stats(),
            },
            timings: RunTimings {
                apply_ms,
                ..planned.timings
            },
            apply_failures: Vec::new(),
            applied: None,
            stopped,
        };
        if !options.dry_run {
            // The next delta reads from this run's start, unless changes are still owed that a
            // delta would not see again.
            if !retry_pending && options.employee_id.is_none() && report.halted.is_none() {
                self.store
                    .put_cursor(self.tenant(), planned.read_started_at)
                    .await?;
            }
            self.store.put_report(self.tenant(), &report).await?;
            self.store.flush().await?;
        }
        tracing::info!(
            tenant = %report.tenant,
            run_id = %report.run_id,
            created = report.counts.created,
            adopted = report.counts.adopted,
            updated = report.counts.updated,
            deactivated = report.counts.deactivated,
            reactivated = report.counts.reactivated,
            unchanged = report.counts.unchanged,
            deferred = report.counts.deferred,
            failed = report.counts.failed,
            queued = report.queued,
            "run finished"
        );
        Ok(report)
    }

    async fn apply_teams(&self, plan: &Plan) -> Result<TeamCounts, EngineError> {
        let mut counts = TeamCounts::default();
        let mut writes = stream::iter(&plan.teams)
            .map(|change| self.apply_team(change))
            .buffer_unordered(self.concurrency.max(1));
        while let Some(written) = writes.next().await {
            match written? {
                TeamWritten::Created => counts.created += 1,
                TeamWritten::Renamed => counts.renamed += 1,
                TeamWritten::Failed => counts.failed += 1,
            }
        }
        Ok(counts)
    }

    /// One team's create or rename, recorded in the state; an error only when it is fatal.
    async fn apply_team(&self, change: &TeamChange) -> Result<TeamWritten, EngineError> {
        let team = &change.team;
        let result = match change.existing {
            Some(id) => self
                .learnamp
                .rename_team(id, &team.name)
                .await
                .map(|t| (t, TeamWritten::Renamed)),
            None => match self.learnamp.create_team(&team.name, &team.group_id).await {
                Ok(t) => Ok((t, TeamWritten::Created)),
                Err(e) if e.is_taken("integrationExternalId") => {
                    // Created by a run that did not record it; take it over, and its name.
                    match self.learnamp.team_by_external_id(&team.group_id).await {
                        Ok(Some(t)) if t.name.as_deref() == Some(team.name.as_str()) => {
                            Ok((t, TeamWritten::Created))
                        }
                        Ok(Some(t)) => self
                            .learnamp
                            .rename_team(t.id, &team.name)
                            .await
                            .map(|t| (t, TeamWritten::Renamed)),
                        Ok(None) => Err(e),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            },
        };
        match result {
            Ok((t, written)) => {
                self.store
                    .put_team(
                        self.tenant(),
                        &TeamState {
                            group_id: team.group_id.clone(),
                            learnamp_team_id: t.id,
                            name_hash: name_hash(&team.group_id, &team.name),
                        },
                    )
                    .await?;
                Ok(written)
            }
            Err(e) if e.is_fatal() => Err(e.into()),
            Err(e) => {
                // Users of this team will fail on it and be reported; the rest goes on.
                tracing::warn!(group_id = %team.group_id, error = %e, "team write failed");
                Ok(TeamWritten::Failed)
            }
        }
    }

    /// Applies everything in the queue, or, once `stop` fires, takes no more: the calls in flight
    /// get the stop's grace period, and what is left in the queue is counted as not started.
    /// A report held by `gate` is sent to the queue once its manager's change settled (applied,
    /// or given up on: then the report is written without its manager, as the next run sets it).
    async fn drain(
        &self,
        known: Option<&KnownUsers>,
        stop: Option<&Stop>,
        gate: &mut ManagerGate,
    ) -> Result<Drained, EngineError> {
        let applier = &self.applier(known);
        let slots = self.concurrency.max(1);
        let mut records = Vec::new();
        let mut gave_up = false;
        let mut not_started = 0u64;
        let mut in_flight = FuturesUnordered::new();
        let mut queue_empty = false;
        let mut grace_ends: Option<tokio::time::Instant> = None;
        loop {
            if let (None, Some(stop)) = (grace_ends, stop) {
                if stop.reason().is_some() {
                    grace_ends = Some(tokio::time::Instant::now() + stop.grace());
                }
            }
            // Every slot busy: a message is taken as soon as another settles, not batch by batch
            // (a batch waits for its slowest call while the other slots idle).
            while grace_ends.is_none() && !queue_empty && in_flight.len() < slots {
                let batch = self.queue.receive(slots - in_flight.len()).await?;
                queue_empty = batch.is_empty();
                for delivery in batch {
                    in_flight.push(async move {
                        let outcome = applier.apply(&delivery.message).await;
                        (delivery, outcome)
                    });
                }
            }
            let next = match (grace_ends, stop) {
                (Some(deadline), _) => {
                    match tokio::time::timeout_at(deadline, in_flight.next()).await {
                        Ok(next) => next,
                        Err(_) => {
                            // Cut off: recorded by nobody, so the next run re-decides them (a
                            // user Learn Amp made meanwhile is linked, not created again).
                            not_started += in_flight.len() as u64;
                            break;
                        }
                    }
                }
                (None, Some(stop)) => tokio::select! {
                    next = in_flight.next() => next,
                    () = stop.fired() => continue,
                },
                (None, None) => in_flight.next().await,
            };
            let Some((delivery, outcome)) = next else {
                if grace_ends.is_some() || gate.is_empty() {
                    break;
                }
                // Reports whose manager's change never came: written now rather than never.
                self.queue.send_batch(gate.release_all()).await?;
                queue_empty = false;
                continue;
            };
            // What settled may have been handed back: look at the queue again.
            queue_empty = false;
            let settled = match &outcome {
                Ok(_) => true,
                Err(ApplyError::Fatal(_)) => false,
                Err(e) => !(e.is_retryable() && delivery.receive_count < MAX_DELIVERIES),
            };
            if settled {
                let reports = gate.release(&delivery.message.desired.employee_id);
                if !reports.is_empty() {
                    self.queue.send_batch(reports).await?;
                }
            }
            match outcome {
                Ok(record) => {
                    self.queue.ack(&delivery.receipt).await?;
                    records.push(record);
                    self.progress.settled_one();
                }
                Err(ApplyError::Fatal(e)) => return Err(e.into()),
                Err(e) if e.is_retryable() && delivery.receive_count < MAX_DELIVERIES => {
                    tracing::warn!(employee_id = %delivery.message.desired.employee_id, attempt = delivery.receive_count, error = %e, "change will be retried");
                    self.queue.retry_later(&delivery.receipt).await?;
                }
                Err(e) => {
                    self.queue.ack(&delivery.receipt).await?;
                    gave_up = true;
                    self.progress.settled_one();
                    records.push(ActionRecord {
                        employee_id: delivery.message.desired.employee_id.clone(),
                        action: ActionKind::Failed,
                        learnamp_user_id: None,
                        detail: format!("gave up after {} attempts: {e}", delivery.receive_count),
                    });
                }
            }
        }
        drop(in_flight);
        if grace_ends.is_some() {
            // Stopped: the reports still held were not started either.
            not_started += gate.len() as u64;
            // Stopped: what is still queued was not started; the queue is left empty.
            loop {
                let batch = self.queue.receive(slots.max(64)).await?;
                if batch.is_empty() {
                    break;
                }
                for delivery in batch {
                    self.queue.ack(&delivery.receipt).await?;
                    not_started += 1;
                }
            }
        }
        Ok(Drained {
            records,
            gave_up,
            not_started,
        })
    }
}

/// What one team's write did.
enum TeamWritten {
    Created,
    Renamed,
    Failed,
}

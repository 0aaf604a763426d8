//! Desired states vs what was last applied → one action per employee.
//!
//! The same [`decide`] serves the planner and the applier: a change message carries the desired
//! state, never the action, so a replayed, reordered or duplicated message is re-decided against
//! the state it finds and cannot undo newer work.

use crate::fields::Field;
use crate::kombo::{Employee, Group};
use crate::mapping::{map_employee_with_notes, name_hash, DesiredUser, Lifecycle, TeamRef};
use crate::ports::{EmployeeStates, MalformedRecord};
use crate::report::{ActionKind, ActionRecord, Note};
use crate::settings::{InvitePolicy, TenantSettings};
use crate::state::{EmployeeState, TeamState};
use chrono::NaiveDate;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What to do for one employee, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub kind: ActionKind,
    /// For updates: the fields that differ.
    pub fields: Vec<Field>,
    pub detail: String,
}

impl Decision {
    fn new(kind: ActionKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            fields: Vec::new(),
            detail: detail.into(),
        }
    }
}

/// The action that brings the employee's Learn Amp user from `state` to `desired`.
pub fn decide(
    desired: &DesiredUser,
    state: Option<&EmployeeState>,
    policy: InvitePolicy,
) -> Decision {
    let linked = state.filter(|s| s.is_linked());
    match (&desired.lifecycle, linked) {
        (Lifecycle::Inactive { reason }, Some(s)) if s.active => {
            Decision::new(ActionKind::Deactivate, reason.describe())
        }
        (Lifecycle::Inactive { .. }, Some(_)) => {
            Decision::new(ActionKind::Unchanged, "already deactivated")
        }
        (Lifecycle::Inactive { reason }, None) => Decision::new(
            ActionKind::Unchanged,
            format!("no Learn Amp user to deactivate ({})", reason.describe()),
        ),
        (Lifecycle::Unknown { raw }, None) => Decision::new(
            ActionKind::Deferred,
            format!("employment status '{raw}' not known to Kombo and no start date: not created"),
        ),
        (Lifecycle::Unknown { raw }, Some(s)) if !s.active => Decision::new(
            ActionKind::Unchanged,
            format!(
                "employment status '{raw}' not known to Kombo and no start date: left deactivated"
            ),
        ),
        (Lifecycle::PreHire { start }, None) if policy == InvitePolicy::OnHireDate => {
            Decision::new(
                ActionKind::Deferred,
                format!("pre-hire: created and invited on the hire date {start}"),
            )
        }
        (_, None) => {
            if desired.email.is_none() {
                Decision::new(
                    ActionKind::Deferred,
                    "not created: no work email in Personio",
                )
            } else if desired.first_name.is_none() || desired.last_name.is_none() {
                Decision::new(
                    ActionKind::Deferred,
                    "not created: first or last name missing in Personio",
                )
            } else {
                let invite = match policy {
                    InvitePolicy::Manual => "without invitation (manual policy)",
                    _ => "with invitation",
                };
                Decision::new(ActionKind::Create, format!("joiner: created {invite}"))
            }
        }
        (_, Some(s)) if !s.active => Decision {
            kind: ActionKind::Reactivate,
            fields: desired.fields(),
            detail: "rehire: reactivated, team and manager re-asserted".into(),
        },
        (_, Some(s)) => {
            let fields = s.differing_fields(desired);
            if fields.is_empty() {
                Decision::new(ActionKind::Unchanged, "")
            } else {
                let names: Vec<String> = fields.iter().map(Field::name).collect();
                Decision {
                    kind: ActionKind::Update,
                    detail: format!("changed: {}", names.join(", ")),
                    fields,
                }
            }
        }
    }
}

/// One employee's planned change, in the wave it must be applied in: managers are applied in an
/// earlier wave than their reports, so a report's manager already exists when it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChange {
    pub desired: DesiredUser,
    pub decision: Decision,
    pub wave: u32,
}

/// A team to create or rename before any user is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamChange {
    pub team: TeamRef,
    pub existing: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Employees with something to write, in wave order.
    pub changes: Vec<PlannedChange>,
    /// Employees with nothing to write (unchanged, deferred), with the reason.
    pub settled: Vec<ActionRecord>,
    pub teams: Vec<TeamChange>,
    /// Set when the deactivation guard held this run's deactivations back.
    pub halted: Option<String>,
    /// Problems in the data that did not stop the employee's change (a manager cycle, ...).
    pub notes: Vec<Note>,
}

/// A listing of employees as the planner needs it: each one's desired user, and the names of
/// the primary-team groups its records carry (a rename shows there). Built page by page, so
/// that each raw record is dropped once mapped and a large company is never held whole.
#[derive(Debug, Default)]
pub struct Listing {
    desired: BTreeMap<String, DesiredUser>,
    team_names: BTreeMap<String, TeamRef>,
    /// Records that could not be read: each fails, and the listing is no longer complete.
    malformed: Vec<MalformedRecord>,
    /// What the mapping noted, per employee (a status Kombo could not map, a skipped field).
    notes: BTreeMap<String, Vec<String>>,
    /// Decisions made as the pages arrived, once the stored state was there (`decide_against`).
    early: Option<EarlyDecisions>,
}

/// Each listed employee decided against one stored state while the listing was still being
/// read: the comparison (a hash per field of every employee) then overlaps the read instead of
/// following its last page. `plan` keeps them only when it plans against this very state.
#[derive(Debug)]
struct EarlyDecisions {
    state: EmployeeStates,
    policy: InvitePolicy,
    decisions: BTreeMap<String, Decision>,
    /// Whether any decision so far writes to Learn Amp (a later page may still undo it). Not
    /// a deactivation: the guard may yet hold every one back.
    some_write: bool,
}

impl EarlyDecisions {
    fn decide(&mut self, desired: &DesiredUser) {
        let decision = decide(desired, self.state.get(&desired.employee_id), self.policy);
        self.some_write |= decision.kind.writes() && decision.kind != ActionKind::Deactivate;
        match self.decisions.get_mut(&desired.employee_id) {
            Some(earlier) => *earlier = decision,
            None => {
                self.decisions.insert(desired.employee_id.clone(), decision);
            }
        }
    }
}

impl Listing {
    pub fn of(employees: &[Employee], settings: &TenantSettings, today: NaiveDate) -> Self {
        let mut listing = Self::default();
        listing.add(employees, settings, today);
        listing
    }

    pub fn add(&mut self, employees: &[Employee], settings: &TenantSettings, today: NaiveDate) {
        for employee in employees {
            // A listing may hold one id twice across pages of a moving dataset; the later wins.
            let (desired, notes) = map_employee_with_notes(employee, settings, today);
            if let Some(early) = &mut self.early {
                early.decide(&desired);
            }
            self.desired.insert(employee.id.clone(), desired);
            if notes.is_empty() {
                self.notes.remove(&employee.id);
            } else {
                self.notes.insert(employee.id.clone(), notes);
            }
            for g in &employee.groups {
                if g.group_type.as_ref() != Some(&settings.primary_team_group_type) {
                    continue;
                }
                if let Some(name) = g.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                    self.team_names
                        .entry(g.id.clone())
                        .or_insert_with(|| TeamRef {
                            group_id: g.id.clone(),
                            name: name.to_string(),
                        });
                }
            }
        }
    }

    /// Records of the listing that could not be read. With any, the listing is incomplete: no
    /// one is deactivated for being missing from it.
    pub fn add_malformed(&mut self, malformed: Vec<MalformedRecord>) {
        self.malformed.extend(malformed);
    }

    /// Decides every employee listed so far against `state`, and each one listed from now on
    /// as its page arrives. Only for a run that plans against this same state, unchanged (not a
    /// reconcile, which records what drifted in it first): `plan` drops decisions made against
    /// any other.
    pub fn decide_against(&mut self, state: &EmployeeStates, policy: InvitePolicy) {
        if self.early.is_some() {
            return;
        }
        let mut early = EarlyDecisions {
            state: EmployeeStates::clone(state),
            policy,
            decisions: BTreeMap::new(),
            some_write: false,
        };
        for desired in self.desired.values() {
            early.decide(desired);
        }
        self.early = Some(early);
    }

    /// Whether an employee decided while the listing is read will likely be written to Learn
    /// Amp: a hint to get ready for the writes, not the plan (which decides after the read).
    pub fn writes_expected(&self) -> bool {
        self.early.as_ref().is_some_and(|early| early.some_write)
    }

    /// Employees listed (each id once).
    pub fn len(&self) -> usize {
        self.desired.len()
    }

    pub fn is_empty(&self) -> bool {
        self.desired.is_empty()
    }
}

pub struct PlanInput<'a> {
    pub settings: &'a TenantSettings,
    pub today: NaiveDate,
    pub listing: Listing,
    /// True when `listing` is the complete company, so a linked employee missing from it has left.
    pub complete_listing: bool,
    /// Groups whose own record changed (delta runs), to catch renames that Kombo does not
    /// propagate to `updated_after` on employees.
    pub changed_groups: &'a [Group],
    pub state: &'a HashMap<String, EmployeeState>,
    pub teams: &'a HashMap<String, TeamState>,
    pub allow_mass_deactivation: bool,
}

pub fn plan(mut input: PlanInput<'_>) -> Plan {
    let settings = input.settings;
    let mut desired = std::mem::take(&mut input.listing.desired);
    let malformed = std::mem::take(&mut input.listing.malformed);
    let early_decisions = input.listing.early.take();
    let mut settled = Vec::new();
    let mut notes = Vec::new();
    if !malformed.is_empty() {
        if input.complete_listing {
            notes.push(Note {
                employee_id: String::new(),
                detail: format!(
                    "{} employee record(s) could not be read from Kombo: no one is deactivated for missing from this run's listing",
                    malformed.len()
                ),
            });
            input.complete_listing = false;
        }
        settled.extend(unreadable_records(malformed, &desired, input.state));
    }
    for (employee_id, details) in std::mem::take(&mut input.listing.notes) {
        notes.extend(details.into_iter().map(|detail| Note {
            employee_id: employee_id.clone(),
            detail,
        }));
    }
    let input = &input;
    if input.complete_listing {
        for (id, s) in input.state {
            if s.is_linked() && s.active && !desired.contains_key(id) {
                desired.insert(id.clone(), DesiredUser::missing(id));
            }
        }
    }

    let decide_one =
        |d: &DesiredUser| decide(d, input.state.get(&d.employee_id), settings.invite_policy);
    // What was decided while the listing was read holds if it was decided against this state.
    let mut decisions = early_decisions
        .filter(|e| {
            std::ptr::eq(std::sync::Arc::as_ptr(&e.state), input.state)
                && e.policy == settings.invite_policy
        })
        .map(|e| e.decisions)
        .unwrap_or_default();
    // The rest: those missing from a complete listing, and all of them when the state came
    // after the listing's last page.
    // Every decision is of a listed employee: with as many decisions, none is missing.
    if decisions.len() < desired.len() {
        for d in desired.values() {
            if !decisions.contains_key(&d.employee_id) {
                decisions.insert(d.employee_id.clone(), decide_one(d));
            }
        }
    }
    // Only an employee whose manager was dropped needs deciding again. A deactivation the
    // guard will hold leaves its user active, and a manager of their reports.
    let held = hold_reason(input, &decisions);
    for id in resolve_managers(
        &mut desired,
        &decisions,
        input.state,
        held.is_some(),
        &mut notes,
    ) {
        decisions.insert(id.clone(), decide_one(&desired[&id]));
    }

    resolve_email_conflicts(&desired, input.state, &mut decisions, &mut notes);
    // Neither re-deciding for a dropped manager nor an email conflict changes a deactivation.
    let halted = hold_deactivations(&mut decisions, held);

    let waves = waves(&desired, &decisions);
    let mut changes = Vec::new();
    // The same employees in the same order (every decided employee is desired, and there are
    // as many of each): walked side by side rather than looked up one by one.
    assert_eq!(desired.len(), decisions.len(), "one decision per employee");
    for ((id, d), (decided, decision)) in desired.into_iter().zip(decisions) {
        debug_assert_eq!(id, decided);
        match decision.kind {
            ActionKind::Unchanged | ActionKind::Deferred | ActionKind::Failed => {
                settled.push(ActionRecord {
                    learnamp_user_id: input.state.get(&id).and_then(|s| s.learnamp_user_id),
                    employee_id: id,
                    action: decision.kind,
                    detail: decision.detail,
                })
            }
            _ => changes.push(PlannedChange {
                wave: waves.get(&id).copied().unwrap_or(0),
                desired: d,
                decision,
            }),
        }
    }
    changes.sort_by(|a, b| (a.wave, &a.desired.employee_id).cmp(&(b.wave, &b.desired.employee_id)));
    let teams = team_changes(input, &changes);
    Plan {
        changes,
        settled,
        teams,
        halted,
        notes,
    }
}

/// A failed record for each employee record Kombo sent that could not be read (unless the
/// same employee was read well elsewhere in the listing): nothing is changed for them.
fn unreadable_records(
    malformed: Vec<MalformedRecord>,
    desired: &BTreeMap<String, DesiredUser>,
    state: &HashMap<String, EmployeeState>,
) -> Vec<ActionRecord> {
    malformed
        .into_iter()
        .filter(|m| m.id.as_ref().is_none_or(|id| !desired.contains_key(id)))
        .map(|m| {
            let employee_id = m
                .id
                .clone()
                .unwrap_or_else(|| format!("(unreadable record at page position {})", m.position));
            ActionRecord {
                learnamp_user_id: state.get(&employee_id).and_then(|s| s.learnamp_user_id),
                employee_id,
                action: ActionKind::Failed,
                detail: format!("could not be read from Kombo: {}", m.problem),
            }
        })
        .collect()
}

/// Keeps a manager only when the manager is, or will be after this run, an active Learn Amp
/// user, and when no cycle runs through the chain. Cycles are reported, not followed.
/// Returns the employees whose manager it dropped.
fn resolve_managers(
    desired: &mut BTreeMap<String, DesiredUser>,
    decisions: &BTreeMap<String, Decision>,
    state: &HashMap<String, EmployeeState>,
    deactivations_held: bool,
    notes: &mut Vec<Note>,
) -> Vec<String> {
    // Borrowed, not copied: at 50,000 employees this runs after Kombo's last page, in series.
    let manager_of: HashMap<&str, &str> = desired
        .values()
        .filter_map(|d| Some((d.employee_id.as_str(), d.manager_employee_id.as_deref()?)))
        .collect();
    let active_now = |id: &str| state.get(id).is_some_and(|s| s.is_linked() && s.active);
    let will_be_active = |id: &str| {
        decisions
            .get(id)
            .is_some_and(|decision| match decision.kind {
                ActionKind::Create | ActionKind::Reactivate | ActionKind::Update => true,
                ActionKind::Unchanged => active_now(id),
                ActionKind::Deactivate if deactivations_held => active_now(id),
                _ => false,
            })
    };
    // Listed (or missing from a complete listing): what this run decides for them, whether or
    // not they have a manager of their own. Not in this listing: trust what was applied.
    let manager_active = |manager: &str| match desired.contains_key(manager) {
        true => will_be_active(manager),
        false => active_now(manager),
    };
    // What is known of each manager, found once for all their reports (a few thousand managers
    // for 50,000 employees; each lookup in the maps keyed by id is a walk through memory): whether
    // their chain reaches the top, and whether they will be active.
    let mut managers: HashMap<&str, (bool, bool)> = HashMap::new();
    // Found first, over the borrowed chains; the managers are dropped after.
    let mut dropped: Vec<String> = Vec::new();
    for d in desired.values() {
        let Some(manager) = d.manager_employee_id.as_deref() else {
            continue;
        };
        let (reaches_the_top, active) = *managers.entry(manager).or_insert_with(|| {
            (
                reaches_the_top(manager, &manager_of),
                manager_active(manager),
            )
        });
        // A manager whose chain reaches the top is in no loop, and neither is their report
        // (a loop through the report would run through the manager's chain).
        if !reaches_the_top && in_cycle(&d.employee_id, &manager_of) {
            notes.push(Note {
                employee_id: d.employee_id.clone(),
                detail: if manager == d.employee_id {
                    "is their own manager in Personio: manager not set".to_string()
                } else {
                    format!("manager chain loops through {manager}: manager not set")
                },
            });
            dropped.push(d.employee_id.clone());
            continue;
        }
        if !active {
            dropped.push(d.employee_id.clone());
        }
    }
    for id in &dropped {
        if let Some(d) = desired.get_mut(id) {
            d.manager_employee_id = None;
        }
    }
    dropped
}

/// Two employees with one work email get one user: the one already linked keeps it (or, for
/// two joiners, the first by id); the other is not created and is reported as a conflict.
fn resolve_email_conflicts(
    desired: &BTreeMap<String, DesiredUser>,
    state: &HashMap<String, EmployeeState>,
    decisions: &mut BTreeMap<String, Decision>,
    notes: &mut Vec<Note>,
) {
    // Sorted by email, and by id within an email (the listing's order; the sort is stable): a
    // vector and a sort instead of a map of lists, one allocation per employee instead of two.
    let mut by_email: Vec<(String, &str)> = desired
        .values()
        .filter(|d| d.lifecycle.should_be_active())
        .filter_map(|d| Some((d.value(&Field::Email)?, d.employee_id.as_str())))
        .collect();
    by_email.sort_by(|a, b| a.0.cmp(&b.0));
    let shared = by_email
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|same| same.len() > 1)
        .map(|same| same.iter().map(|(_, id)| *id).collect::<Vec<&str>>());
    for ids in shared {
        let keeper = ids
            .iter()
            .find(|id| state.get(**id).is_some_and(|s| s.is_linked()))
            .or(ids.first())
            .copied()
            .unwrap_or_default();
        for &id in ids.iter().filter(|&&id| id != keeper) {
            let Some(decision) = decisions.get_mut(id) else {
                continue;
            };
            if decision.kind == ActionKind::Create {
                *decision = Decision::new(
                    ActionKind::Deferred,
                    format!("conflict: same work email as employee {keeper}, who has the Learn Amp user; not created"),
                );
            }
            notes.push(Note {
                employee_id: id.to_string(),
                detail: format!("conflict: same work email as employee {keeper}"),
            });
        }
    }
}

/// Whether `manager`'s chain ends with someone who has no manager within a short walk (false
/// says nothing: a loop, or a chain too long to tell at once).
fn reaches_the_top(manager: &str, manager_of: &HashMap<&str, &str>) -> bool {
    let mut current = manager;
    for _ in 0..SHORT_CHAIN {
        match manager_of.get(current) {
            None => return true,
            Some(&next) => current = next,
        }
    }
    false
}

/// Chains are short (a company is a few levels deep): walked first without a record of who was
/// seen, which would cost an allocation per employee.
const SHORT_CHAIN: usize = 64;

fn in_cycle(start: &str, manager_of: &HashMap<&str, &str>) -> bool {
    let mut current = start;
    for _ in 0..SHORT_CHAIN {
        match manager_of.get(current) {
            None => return false,
            Some(&next) if next == start => return true,
            Some(&next) => current = next,
        }
    }
    let mut seen = HashSet::new();
    let mut current = start;
    while let Some(&next) = manager_of.get(current) {
        if next == start {
            return true;
        }
        if !seen.insert(next) {
            return false; // a loop further up that does not include `start`
        }
        current = next;
    }
    false
}

/// Wave 0 holds employees whose manager needs no write in this run; every other employee comes
/// one wave after its manager.
fn waves(
    desired: &BTreeMap<String, DesiredUser>,
    decisions: &BTreeMap<String, Decision>,
) -> HashMap<String, u32> {
    let changing = |id: &str| {
        decisions
            .get(id)
            .is_some_and(|d| matches!(d.kind, ActionKind::Create | ActionKind::Reactivate))
    };
    let mut wave = HashMap::new();
    // Only a change has a wave: the employees with nothing to write are most of a resync.
    let settles = |id: &str| {
        decisions.get(id).is_some_and(|d| {
            matches!(
                d.kind,
                ActionKind::Unchanged | ActionKind::Deferred | ActionKind::Failed
            )
        })
    };
    for id in desired.keys().filter(|id| !settles(id)) {
        // Walk up to the first manager that is not being created; chains are acyclic here.
        let mut depth = 0u32;
        let mut current = id.as_str();
        while let Some(manager) = desired
            .get(current)
            .and_then(|d| d.manager_employee_id.as_deref())
        {
            if !changing(manager) || depth as usize > desired.len() {
                break;
            }
            depth += 1;
            current = manager;
        }
        wave.insert(id.clone(), depth);
    }
    wave
}

/// The deactivation guard: when there is a reason to hold them, every deactivation is deferred,
/// and the reason is the run's.
fn hold_deactivations(
    decisions: &mut BTreeMap<String, Decision>,
    reason: Option<String>,
) -> Option<String> {
    let reason = reason?;
    for decision in decisions.values_mut() {
        if decision.kind == ActionKind::Deactivate {
            *decision = Decision::new(
                ActionKind::Deferred,
                format!(
                    "deactivation held by the guard ({}); rerun with --allow-mass-deactivation to apply",
                    decision.detail
                ),
            );
        }
    }
    Some(reason)
}

/// Why the guard holds this plan's deactivations back, if it does.
fn hold_reason(input: &PlanInput<'_>, decisions: &BTreeMap<String, Decision>) -> Option<String> {
    let deactivations = decisions
        .values()
        .filter(|d| d.kind == ActionKind::Deactivate)
        .count();
    if deactivations == 0 || input.allow_mass_deactivation {
        return None;
    }
    let active = input
        .state
        .values()
        .filter(|s| s.is_linked() && s.active)
        .count();
    let percent = 100.0 * deactivations as f64 / active.max(1) as f64;
    let settings = input.settings;
    if percent > settings.max_deactivation_percent {
        Some(format!(
            "{deactivations} deactivations are {percent:.1} % of {active} active users, over the limit of {} %",
            settings.max_deactivation_percent
        ))
    } else if settings
        .max_deactivations
        .is_some_and(|max| deactivations > max)
    {
        Some(format!(
            "{deactivations} deactivations exceed max_deactivations = {}",
            settings.max_deactivations.unwrap_or_default()
        ))
    } else {
        None
    }
}

/// Teams to create (needed by a user write in this run) or rename (their name changed).
fn team_changes(input: &PlanInput<'_>, changes: &[PlannedChange]) -> Vec<TeamChange> {
    let mut wanted: BTreeMap<String, TeamRef> = BTreeMap::new();
    let mut needed_by_writes: HashSet<String> = HashSet::new();
    for change in changes {
        let sets_team = matches!(
            change.decision.kind,
            ActionKind::Create | ActionKind::Reactivate
        ) || change.decision.fields.contains(&Field::PrimaryTeam);
        if let (true, Some(team)) = (sets_team, &change.desired.primary_team) {
            needed_by_writes.insert(team.group_id.clone());
            wanted.entry(team.group_id.clone()).or_insert(team.clone());
        }
    }
    // Renames show in every employee of a full listing, and in the group records of a delta.
    for (id, team) in &input.listing.team_names {
        wanted.entry(id.clone()).or_insert_with(|| team.clone());
    }
    for g in input.changed_groups {
        if g.remote_deleted_at.is_none()
            && g.group_type.as_ref() == Some(&input.settings.primary_team_group_type)
            && input.teams.contains_key(&g.id)
        {
            if let Some(name) = g.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                wanted.insert(
                    g.id.clone(),
                    TeamRef {
                        group_id: g.id.clone(),
                        name: name.to_string(),
                    },
                );
            }
        }
    }
    wanted
        .into_values()
        .filter_map(|team| match input.teams.get(&team.group_id) {
            Some(t) if t.name_hash == name_hash(&team.group_id, &team.name) => None,
            Some(t) => Some(TeamChange {
                existing: Some(t.learnamp_team_id),
                team,
            }),
            None if needed_by_writes.contains(&team.group_id) => Some(TeamChange {
                team,
                existing: None,
            }),
            None => None,
        })
        .collect()
}

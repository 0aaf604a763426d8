//! The changes a scenario makes before its run: HR churn in Kombo, or hand edits in Learn
//! Amp. Each change is chosen so that it needs exactly one Learn Amp write, and nothing else
//! does: only employees without reports change (a manager's change would also change their
//! reports), departments move between teams that exist, joiners report to active users.

use chrono::{Duration as Days, NaiveDate, TimeZone, Utc};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use sandbox::{EmbeddedGroup, KomboEmployee, KomboSandbox, LearnAmpSandbox, LearnAmpSnapshot};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// What a churn changed, by kind; each needs one write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Churn {
    pub job_titles: u64,
    pub department_moves: u64,
    pub leavers: u64,
    pub joiners: u64,
}

impl Churn {
    pub fn total(&self) -> u64 {
        self.job_titles + self.department_moves + self.leavers + self.joiners
    }
}

/// `percent` % of `employees`, rounded up: at least one.
fn share_of(employees: usize, percent: f64) -> usize {
    ((employees as f64 * percent / 100.0).ceil() as usize).max(1)
}

/// The Kombo ids of the employees whose Learn Amp user is active.
fn active_employees(snapshot: &LearnAmpSnapshot) -> HashSet<&str> {
    snapshot
        .users
        .iter()
        .filter(|u| u.status != "deactivated")
        .filter_map(|u| u.integration_external_id.as_deref())
        .collect()
}

/// Employees with an active Learn Amp user and no reports, in a seeded random order.
fn candidates(kombo: &KomboSandbox, snapshot: &LearnAmpSnapshot, seed: u64) -> Vec<KomboEmployee> {
    let employees = kombo.employees();
    let managers: HashSet<&str> = employees
        .iter()
        .filter_map(|e| e.manager_id.as_deref())
        .collect();
    let active = active_employees(snapshot);
    let mut picked: Vec<KomboEmployee> = employees
        .iter()
        .filter(|e| {
            e.remote_deleted_at.is_none()
                && active.contains(e.id.as_str())
                && !managers.contains(e.id.as_str())
        })
        .cloned()
        .collect();
    picked.sort_by(|a, b| a.id.cmp(&b.id));
    picked.shuffle(&mut SmallRng::seed_from_u64(seed));
    picked
}

/// Changes `percent` % of `employees` in Kombo: of every ten, five job titles, two department
/// moves, one leaver and two joiners.
pub fn churn(
    kombo: &KomboSandbox,
    learnamp: &LearnAmpSandbox,
    employees: usize,
    percent: f64,
    today: NaiveDate,
    seed: u64,
) -> Churn {
    let snapshot = learnamp.snapshot();
    let wanted = share_of(employees, percent);
    let picked = candidates(kombo, &snapshot, seed);
    let departments = departments_with_a_team(kombo, &snapshot);
    let active = active_employees(&snapshot);
    let midnight = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"));
    let tag = format!("{seed}-{}", (percent * 10.0) as u64);
    let mut churn = Churn::default();
    for (i, employee) in picked.iter().take(wanted).enumerate() {
        match i % 10 {
            0..=4 => {
                kombo.update_employee(&employee.id, |e| {
                    e.job_title = Some(format!("Bench title {tag}-{i}"));
                });
                churn.job_titles += 1;
            }
            5 | 6 => {
                let current = department_of(employee);
                let Some(target) = departments
                    .iter()
                    .find(|g| Some(g.id.as_str()) != current.map(|c| c.id.as_str()))
                else {
                    continue;
                };
                kombo.update_employee(&employee.id, |e| {
                    e.groups
                        .retain(|g| g.r#type.as_deref() != Some("DEPARTMENT"));
                    e.groups.push(target.clone());
                });
                churn.department_moves += 1;
            }
            7 => {
                kombo.update_employee(&employee.id, |e| {
                    e.employment_status = Some("INACTIVE".into());
                    e.termination_date = Some(midnight(today - Days::days(1)));
                });
                churn.leavers += 1;
            }
            _ => {
                let mut joiner = employee.clone();
                joiner.id = format!("bench-joiner-{tag}-{i}");
                joiner.remote_id = format!("9{i:07}");
                joiner.employee_number = None;
                joiner.work_email = Some(format!("bench.joiner.{tag}.{i}@acme.example"));
                joiner.personal_email = None;
                joiner.employment_status = Some("ACTIVE".into());
                joiner.start_date = Some(midnight(today - Days::days(7)));
                joiner.termination_date = None;
                joiner.manager_id.take_if(|m| !active.contains(m.as_str()));
                kombo.upsert_employee(joiner);
                churn.joiners += 1;
            }
        }
    }
    churn
}

fn department_of(employee: &KomboEmployee) -> Option<&EmbeddedGroup> {
    employee
        .groups
        .iter()
        .find(|g| g.r#type.as_deref() == Some("DEPARTMENT"))
}

/// Kombo departments that have their Learn Amp team already, as embedded in employees.
fn departments_with_a_team(
    kombo: &KomboSandbox,
    snapshot: &LearnAmpSnapshot,
) -> Vec<EmbeddedGroup> {
    let teams: HashSet<&str> = snapshot
        .teams
        .iter()
        .filter_map(|t| t.integration_external_id.as_deref())
        .collect();
    let mut departments: Vec<EmbeddedGroup> = kombo
        .groups()
        .into_iter()
        .filter(|g| g.r#type.as_deref() == Some("DEPARTMENT") && teams.contains(g.id.as_str()))
        .map(|g| EmbeddedGroup {
            id: g.id,
            remote_id: g.remote_id,
            name: g.name,
            r#type: g.r#type,
        })
        .collect();
    departments.sort_by(|a, b| a.id.cmp(&b.id));
    departments
}

/// Edits the job title of `percent` % of the synced Learn Amp users by hand, as an admin
/// would; a reconcile has to put each back with one write. Returns how many were edited.
pub fn drift(
    kombo: &KomboSandbox,
    learnamp: &LearnAmpSandbox,
    employees: usize,
    percent: f64,
    seed: u64,
) -> u64 {
    let snapshot = learnamp.snapshot();
    let wanted = share_of(employees, percent);
    let users: HashMap<&str, u64> = snapshot
        .users
        .iter()
        .filter(|u| u.job_title.is_some())
        .filter_map(|u| u.integration_external_id.as_deref().map(|ext| (ext, u.id)))
        .collect();
    let mut edited = 0;
    for employee in candidates(kombo, &snapshot, seed).iter().take(wanted) {
        if let Some(&id) = users.get(employee.id.as_str()) {
            learnamp.admin_update_user(id, |u| u.job_title = Some("Edited in Learn Amp".into()));
            edited += 1;
        }
    }
    edited
}

//! End-to-end: the engine syncs a generated company over HTTP from the Kombo sandbox into the
//! Learn Amp sandbox, then an unchanged run writes nothing, then a run after changes writes
//! exactly the changed employees.

use chrono::{Duration, TimeZone, Utc};
use e2e::{today, Harness};
use sandbox::kombo::EmbeddedGroup;
use sandbox::KomboEmployee;
use std::collections::HashMap;
use sync_core::report::{ActionKind, SyncMode};
use sync_core::{InvitePolicy, RunOptions};

/// Whether Learn Amp should hold an active user for this employee today, read straight from the
/// Kombo record (independently of the engine's own mapping).
fn should_be_active(e: &KomboEmployee, policy: InvitePolicy) -> bool {
    let day = |d: chrono::DateTime<Utc>| d.date_naive();
    let gone = e.remote_deleted_at.is_some()
        || e.employment_status.as_deref() == Some("INACTIVE")
        || e.termination_date.is_some_and(|t| day(t) < today());
    let waiting = policy == InvitePolicy::OnHireDate
        && e.employment_status.as_deref() == Some("PENDING")
        && e.start_date.is_some_and(|s| day(s) > today());
    !gone && !waiting && e.work_email.is_some()
}

fn department(e: &KomboEmployee) -> Option<&EmbeddedGroup> {
    e.groups
        .iter()
        .find(|g| g.r#type.as_deref() == Some("DEPARTMENT"))
}

/// Every field of every employee's Learn Amp user matches Personio.
fn assert_mirrors_personio(h: &Harness, policy: InvitePolicy) -> usize {
    let snapshot = h.learnamp.snapshot();
    let teams: HashMap<u64, Option<String>> = snapshot
        .teams
        .iter()
        .map(|t| (t.id, t.integration_external_id.clone()))
        .collect();
    let users_by_id: HashMap<u64, &sandbox::SandboxUser> =
        snapshot.users.iter().map(|u| (u.id, u)).collect();
    let mut active = 0;
    for e in h.kombo.employees() {
        let users = h.users_of(&e.id);
        if !should_be_active(&e, policy) {
            assert!(
                users.iter().all(|u| u.status == "deactivated"),
                "{} should have no active user",
                e.id
            );
            continue;
        }
        active += 1;
        let u = h.user_of(&e.id);
        assert_ne!(u.status, "deactivated", "{}", e.id);
        assert_eq!(
            Some(u.first_name.as_str()),
            e.first_name.as_deref(),
            "{}",
            e.id
        );
        assert_eq!(
            Some(u.last_name.as_str()),
            e.last_name.as_deref(),
            "{}",
            e.id
        );
        assert!(
            e.work_email
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(&u.email)),
            "{}",
            e.id
        );
        assert_eq!(u.job_title, e.job_title, "{}", e.id);
        assert_eq!(
            u.hire_date,
            e.start_date.map(|d| d.date_naive().to_string()),
            "{}",
            e.id
        );
        let team_ext = u
            .primary_team_id
            .and_then(|id| teams.get(&id).cloned().flatten());
        assert_eq!(
            team_ext.as_deref(),
            department(&e).map(|g| g.id.as_str()),
            "{} primary team",
            e.id
        );
        if let Some(manager) = e.manager_id.as_deref().and_then(|m| h.kombo.employee(m)) {
            if should_be_active(&manager, policy) {
                let manager_user = u
                    .manager_id
                    .and_then(|id| users_by_id.get(&id))
                    .unwrap_or_else(|| panic!("{} has no manager", e.id));
                assert_eq!(
                    manager_user.integration_external_id.as_deref(),
                    Some(manager.id.as_str())
                );
            }
        }
    }
    active
}

#[tokio::test]
async fn first_import_then_unchanged_then_exactly_the_changes() {
    let h = Harness::generated(120, 3, Harness::settings(InvitePolicy::Manual)).await;

    let first = h.full().await;
    assert!(first.converged(), "{:?}", first.actions);
    let active = assert_mirrors_personio(&h, InvitePolicy::Manual);
    assert_eq!(first.counts.created as usize, active);
    let calls = h.learnamp.calls();
    let teams = h.learnamp.snapshot().teams.len() as u64;
    assert_eq!(
        calls.get("POST /v1/users"),
        first.counts.created,
        "one create per joiner"
    );
    assert_eq!(teams, first.teams.created, "one team per department");
    assert_eq!(
        calls.writes(),
        first.counts.created + first.teams.created,
        "one write per user and per team: {:?}",
        calls.by_endpoint
    );
    assert_eq!(calls.get("POST /oauth/token"), 1);
    assert!(
        h.learnamp
            .snapshot()
            .users
            .iter()
            .all(|u| u.invitations_sent == 0),
        "manual policy invites nobody"
    );
    println!(
        "first run: {} employees, {} active users, Learn Amp calls {:?}",
        h.kombo.employees().len(),
        active,
        calls.by_endpoint
    );

    h.learnamp.reset_calls();
    let second = h.full().await;
    assert_eq!(second.counts.unchanged as usize, h.kombo.employees().len());
    let calls = h.learnamp.calls();
    assert_eq!(
        calls.writes(),
        0,
        "an unchanged run writes nothing: {:?}",
        calls.by_endpoint
    );
    assert_eq!(calls.total, 0, "not even a token: it is cached");
    println!("unchanged run: Learn Amp calls {:?}", calls.by_endpoint);

    // Four Personio changes: a new job title, a department move, a leaver and a joiner.
    let employees = h.kombo.employees();
    let managers: std::collections::HashSet<String> = employees
        .iter()
        .filter_map(|e| e.manager_id.clone())
        .collect();
    let mut regular = employees.iter().filter(|e| {
        should_be_active(e, InvitePolicy::Manual)
            && !managers.contains(&e.id)
            && department(e).is_some()
            && e.employment_status.as_deref() == Some("ACTIVE")
            && e.termination_date.is_none()
    });
    let (retitled, mover, leaver) = (
        regular.next().unwrap().clone(),
        regular.next().unwrap().clone(),
        regular.next().unwrap().clone(),
    );
    let target = h
        .kombo
        .groups()
        .into_iter()
        .find(|g| {
            g.r#type.as_deref() == Some("DEPARTMENT")
                && Some(g.id.as_str()) != department(&mover).map(|d| d.id.as_str())
        })
        .unwrap();
    h.kombo.update_employee(&retitled.id, |e| {
        e.job_title = Some("Chief Learning Officer".into())
    });
    h.kombo.update_employee(&mover.id, |e| {
        e.groups
            .retain(|g| g.r#type.as_deref() != Some("DEPARTMENT"));
        e.groups.push(EmbeddedGroup {
            id: target.id.clone(),
            remote_id: target.remote_id.clone(),
            name: target.name.clone(),
            r#type: target.r#type.clone(),
        });
    });
    h.kombo.update_employee(&leaver.id, |e| {
        e.employment_status = Some("INACTIVE".into());
        e.termination_date = Some(
            Utc.from_utc_datetime(&(today() - Duration::days(1)).and_hms_opt(0, 0, 0).unwrap()),
        );
    });
    let mut joiner = retitled.clone();
    joiner.id = "JoinerE2E0000000000000001".into();
    joiner.work_email = Some("new.joiner@acme.example".into());
    joiner.job_title = Some("Apprentice".into());
    h.kombo.upsert_employee(joiner.clone());

    h.learnamp.reset_calls();
    let third = h
        .run(&RunOptions {
            mode: SyncMode::Delta,
            ..Default::default()
        })
        .await;
    assert_eq!(
        (
            third.counts.created,
            third.counts.updated,
            third.counts.deactivated
        ),
        (1, 2, 1),
        "{:?}",
        third.actions
    );
    let calls = h.learnamp.calls();
    assert_eq!(calls.get("POST /v1/users"), 1);
    assert_eq!(calls.get("PUT /v1/users/{id}"), 2);
    assert_eq!(calls.get("PUT /v1/users/{id}/deactivate"), 1);
    assert_eq!(
        calls.writes(),
        4,
        "exactly the changed employees: {:?}",
        calls.by_endpoint
    );
    println!("run with changes: Learn Amp calls {:?}", calls.by_endpoint);
    assert_mirrors_personio(&h, InvitePolicy::Manual);
    h.assert_no_duplicates();
    let moved = h.user_of(&mover.id);
    let team = h
        .learnamp
        .snapshot()
        .teams
        .into_iter()
        .find(|t| Some(t.id) == moved.primary_team_id)
        .unwrap();
    assert_eq!(
        team.integration_external_id.as_deref(),
        Some(target.id.as_str())
    );
    assert_eq!(h.user_of(&leaver.id).status, "deactivated");

    // A full run after the delta agrees that nothing is left to do.
    h.learnamp.reset_calls();
    let again = h.full().await;
    assert_eq!(h.learnamp.calls().writes(), 0, "{:?}", again.actions);
    h.stop().await;
}

#[tokio::test]
async fn invite_policies_decide_who_is_invited_and_when() {
    for policy in [
        InvitePolicy::Immediately,
        InvitePolicy::OnHireDate,
        InvitePolicy::Manual,
    ] {
        let h = Harness::generated(80, 11, Harness::settings(policy)).await;
        let report = h.full().await;
        assert!(report.converged());
        assert_mirrors_personio(&h, policy);
        let pre_hires: Vec<KomboEmployee> = h
            .kombo
            .employees()
            .into_iter()
            .filter(|e| {
                e.employment_status.as_deref() == Some("PENDING")
                    && e.start_date.is_some_and(|s| s.date_naive() > today())
            })
            .collect();
        assert!(!pre_hires.is_empty(), "the generated company has pre-hires");
        let users = h.learnamp.snapshot().users;
        let invited = users.iter().filter(|u| u.invitations_sent > 0).count();
        let synced = users
            .iter()
            .filter(|u| u.integration_external_id.is_some())
            .count();
        match policy {
            InvitePolicy::Immediately => {
                assert_eq!(invited, synced, "everyone created is invited at once");
                assert!(pre_hires.iter().all(|p| h.users_of(&p.id).len() == 1));
            }
            InvitePolicy::OnHireDate => {
                assert_eq!(invited, synced);
                assert!(
                    pre_hires.iter().all(|p| h.users_of(&p.id).is_empty()),
                    "pre-hires wait for their hire date"
                );
                assert!(report.counts.deferred as usize >= pre_hires.len());
                // On a pre-hire's start date, the next run creates and invites exactly them.
                let first_start = pre_hires
                    .iter()
                    .filter_map(|p| p.start_date)
                    .min()
                    .unwrap()
                    .date_naive();
                let starting: Vec<&KomboEmployee> = pre_hires
                    .iter()
                    .filter(|p| p.start_date.unwrap().date_naive() == first_start)
                    .collect();
                h.learnamp.reset_calls();
                let on_day = h
                    .run(&RunOptions {
                        today: Some(first_start),
                        ..Default::default()
                    })
                    .await;
                assert_eq!(
                    on_day.counts.created as usize,
                    starting.len(),
                    "{:?}",
                    on_day.actions
                );
                for p in &starting {
                    assert_eq!(h.user_of(&p.id).invitations_sent, 1);
                }
            }
            InvitePolicy::Manual => assert_eq!(invited, 0),
        }
        // Nobody is ever invited twice, whatever the later runs do.
        h.full().await;
        assert!(h
            .learnamp
            .snapshot()
            .users
            .iter()
            .all(|u| u.invitations_sent <= 1));
        h.stop().await;
    }
}

#[tokio::test]
async fn a_rehire_reactivates_the_same_user_with_team_and_manager() {
    let h = Harness::generated(40, 5, Harness::settings(InvitePolicy::Immediately)).await;
    h.full().await;
    let all = h.kombo.employees();
    let is_manager = |id: &str| all.iter().any(|e| e.manager_id.as_deref() == Some(id));
    // Not a manager: a manager's leaving and return also rewrites their reports' manager.
    let employee = all
        .iter()
        .find(|e| {
            should_be_active(e, InvitePolicy::Immediately)
                && e.manager_id.is_some()
                && !is_manager(&e.id)
                && department(e).is_some()
                && e.employment_status.as_deref() == Some("ACTIVE")
        })
        .unwrap()
        .clone();
    let before = h.user_of(&employee.id);
    assert!(before.primary_team_id.is_some());

    h.kombo.update_employee(&employee.id, |e| {
        e.employment_status = Some("INACTIVE".into())
    });
    let left = h.full().await;
    assert_eq!(left.counts.deactivated, 1);
    let gone = h.user_of(&employee.id);
    assert_eq!(gone.status, "deactivated");
    assert_eq!(
        gone.primary_team_id, None,
        "Learn Amp removes a deactivated user from its teams"
    );

    h.kombo.update_employee(&employee.id, |e| {
        e.employment_status = Some("ACTIVE".into())
    });
    h.learnamp.reset_calls();
    let back = h.full().await;
    assert_eq!(back.counts.reactivated, 1, "{:?}", back.actions);
    let after = h.user_of(&employee.id);
    assert_eq!(after.id, before.id, "the same Learn Amp user");
    assert_ne!(after.status, "deactivated");
    assert_eq!(
        after.primary_team_id, before.primary_team_id,
        "team re-asserted"
    );
    assert_eq!(after.manager_id, before.manager_id, "manager re-asserted");
    assert_eq!(
        after.invitations_sent, before.invitations_sent,
        "no second invitation"
    );
    assert_eq!(
        h.learnamp.calls().writes(),
        1,
        "reactivation and re-assertion in one call"
    );
    h.stop().await;
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let h = Harness::generated(30, 2, Harness::settings(InvitePolicy::Manual)).await;
    let plan = h
        .run(&RunOptions {
            dry_run: true,
            ..Default::default()
        })
        .await;
    assert!(plan.dry_run);
    assert!(plan.counts.created > 0);
    assert!(plan
        .actions
        .iter()
        .any(|a| a.action == ActionKind::Create && !a.detail.is_empty()));
    assert_eq!(h.learnamp.calls().total, 0, "no Learn Amp call at all");
    assert_eq!(
        h.learnamp.snapshot().users.len(),
        1,
        "only the account owner"
    );
    let real = h.full().await;
    assert_eq!(
        real.counts.created, plan.counts.created,
        "the dry run showed what the real run did"
    );
    h.stop().await;
}

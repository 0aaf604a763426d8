//! Joiners, movers and leavers: one scenario per case a real HR directory produces. Each starts
//! from a small Kombo fixture, runs the engine over HTTP against the sandboxes, stepping "today"
//! through the dates, and checks the Learn Amp state after each run.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use e2e::{Harness, TENANT};
use sandbox::kombo::{EmbeddedGroup, EmbeddedLocation};
use sandbox::learnamp::SeedUser;
use sandbox::{Company, KomboEmployee, KomboGroup, KomboLocation};
use sync_core::ports::StateStore;
use sync_core::report::{ActionKind, SyncMode};
use sync_core::settings::{CustomFieldMapping, DeactivateOn, Scope};
use sync_core::{InvitePolicy, RunOptions, TenantSettings};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn at(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap())
}

fn group(id: &str, name: &str, kind: &str) -> KomboGroup {
    KomboGroup {
        id: id.into(),
        remote_id: id.into(),
        name: Some(name.into()),
        r#type: Some(kind.into()),
        parent_id: None,
        changed_at: at(day(2026, 1, 1)),
        remote_deleted_at: None,
    }
}

fn member(g: &KomboGroup) -> EmbeddedGroup {
    EmbeddedGroup {
        id: g.id.clone(),
        remote_id: g.remote_id.clone(),
        name: g.name.clone(),
        r#type: g.r#type.clone(),
    }
}

/// An active employee of `dept` who started in 2025.
fn employee(id: &str, dept: Option<&KomboGroup>) -> KomboEmployee {
    KomboEmployee {
        id: id.into(),
        remote_id: id.into(),
        first_name: Some(format!("First-{id}")),
        last_name: Some(format!("Last-{id}")),
        job_title: Some("Analyst".into()),
        work_email: Some(format!("{id}@acme.example")),
        employment_status: Some("ACTIVE".into()),
        start_date: Some(at(day(2025, 3, 1))),
        changed_at: at(day(2026, 1, 1)),
        groups: dept.map(member).into_iter().collect(),
        ..Default::default()
    }
}

fn company(employees: Vec<KomboEmployee>, groups: Vec<KomboGroup>) -> Company {
    Company {
        employees,
        groups,
        locations: vec![],
    }
}

fn settings(policy: InvitePolicy) -> TenantSettings {
    let mut s = TenantSettings::new(TENANT);
    s.invite_policy = policy;
    s
}

async fn run_on(h: &Harness, today: NaiveDate) -> sync_core::report::RunReport {
    h.run(&RunOptions {
        today: Some(today),
        ..Default::default()
    })
    .await
}

fn team_ext(h: &Harness, team_id: Option<u64>) -> Option<String> {
    team_id
        .and_then(|id| h.learnamp.team(id))
        .and_then(|t| t.integration_external_id)
}

// 1. Pre-hires follow the invite policy.
#[tokio::test]
async fn case_1_pre_hires_follow_the_invite_policy() {
    let eng = group("dep-eng", "Engineering", "DEPARTMENT");
    let mut pre = employee("pre", Some(&eng));
    pre.employment_status = Some("PENDING".into());
    pre.start_date = Some(at(day(2026, 12, 1)));
    for (policy, created_early, invited) in [
        (InvitePolicy::Immediately, true, 1),
        (InvitePolicy::OnHireDate, false, 1),
        (InvitePolicy::Manual, true, 0),
    ] {
        let h = Harness::start(
            company(vec![pre.clone()], vec![eng.clone()]),
            settings(policy),
        )
        .await;
        let early = run_on(&h, day(2026, 11, 30)).await;
        assert_eq!(h.users_of("pre").len(), created_early as usize, "{policy}");
        if !created_early {
            assert_eq!(early.counts.deferred, 1);
            assert!(
                early.actions[0].detail.contains("2026-12-01"),
                "{:?}",
                early.actions
            );
        }
        run_on(&h, day(2026, 12, 1)).await;
        let user = h.user_of("pre");
        assert_eq!(user.invitations_sent, invited, "{policy}");
        assert_eq!(user.hire_date.as_deref(), Some("2026-12-01"));
        run_on(&h, day(2026, 12, 2)).await;
        assert_eq!(
            h.user_of("pre").invitations_sent,
            invited,
            "{policy}: never twice"
        );
        h.stop().await;
    }
}

// 2. Terminations: future dates wait; INACTIVE, deletion and LEAVE.
#[tokio::test]
async fn case_2_terminations() {
    let eng = group("dep-eng", "Engineering", "DEPARTMENT");
    let mut future = employee("future", Some(&eng));
    future.termination_date = Some(at(day(2026, 12, 15)));
    let staff: Vec<KomboEmployee> = [
        "inactive", "deleted", "leave", "missing", "stays1", "stays2", "stays3", "stays4",
        "stays5", "stays6", "stays7", "stays8", "stays9", "stays10", "stays11", "stays12",
    ]
    .iter()
    .map(|id| employee(id, Some(&eng)))
    .chain([future])
    .collect();
    let h = Harness::start(company(staff, vec![eng]), settings(InvitePolicy::Manual)).await;
    run_on(&h, day(2026, 11, 22)).await;

    h.kombo.update_employee("inactive", |e| {
        e.employment_status = Some("INACTIVE".into())
    });
    h.kombo.delete_employee("deleted");
    h.kombo
        .update_employee("leave", |e| e.employment_status = Some("LEAVE".into()));
    h.kombo.purge_employee("missing");
    // A delta says nothing about who is absent; only a complete full listing does.
    let delta = h
        .run(&RunOptions {
            mode: SyncMode::Delta,
            today: Some(day(2026, 12, 14)),
            ..Default::default()
        })
        .await;
    assert_eq!(delta.counts.deactivated, 2, "{:?}", delta.actions);
    assert_ne!(h.user_of("missing").status, "deactivated");
    let r = run_on(&h, day(2026, 12, 14)).await;
    assert_eq!(r.counts.deactivated, 1, "{:?}", r.actions);
    assert_eq!(h.user_of("missing").status, "deactivated");
    assert!(r
        .actions
        .iter()
        .any(|a| a.employee_id == "missing"
            && a.detail.contains("missing from a complete full listing")));
    assert_eq!(h.user_of("inactive").status, "deactivated");
    assert_eq!(h.user_of("deleted").status, "deactivated");
    assert_ne!(
        h.user_of("leave").status,
        "deactivated",
        "LEAVE keeps the user active"
    );
    assert_ne!(
        h.user_of("future").status,
        "deactivated",
        "active until the termination date"
    );
    let r = run_on(&h, day(2026, 12, 15)).await;
    assert_eq!(r.counts.deactivated, 0, "{:?}", r.actions);
    assert_ne!(
        h.user_of("future").status,
        "deactivated",
        "the termination date is the last day worked, with access"
    );

    let r = run_on(&h, day(2026, 12, 16)).await;
    assert_eq!(r.counts.deactivated, 1);
    assert_eq!(h.user_of("future").status, "deactivated");
    assert!(r
        .actions
        .iter()
        .any(|a| a.detail == "termination date reached"));
    h.stop().await;
}

// 3. Rehires: the same id reactivates; a new id with a leaver's email re-links that user.
#[tokio::test]
async fn case_3_rehires() {
    let eng = group("dep-eng", "Engineering", "DEPARTMENT");
    let staff: Vec<KomboEmployee> = (0..10)
        .map(|i| employee(&format!("e{i}"), Some(&eng)))
        .collect();
    let h = Harness::start(
        company(staff, vec![eng]),
        settings(InvitePolicy::Immediately),
    )
    .await;
    run_on(&h, day(2026, 11, 22)).await;
    let original = h.user_of("e1");

    // Same Kombo id back to ACTIVE.
    h.kombo
        .update_employee("e1", |e| e.employment_status = Some("INACTIVE".into()));
    run_on(&h, day(2026, 11, 23)).await;
    h.kombo
        .update_employee("e1", |e| e.employment_status = Some("ACTIVE".into()));
    let r = run_on(&h, day(2026, 11, 24)).await;
    assert_eq!(r.counts.reactivated, 1);
    let back = h.user_of("e1");
    assert_eq!(
        (back.id, back.primary_team_id.is_some()),
        (original.id, true)
    );
    assert_eq!(back.invitations_sent, 1);

    // A new Kombo id carrying the email of a deactivated user (deleted and re-created in Personio).
    let old = h.user_of("e2");
    h.kombo
        .update_employee("e2", |e| e.employment_status = Some("INACTIVE".into()));
    run_on(&h, day(2026, 11, 25)).await;
    let mut rehire = employee(
        "e2-new",
        h.kombo
            .employee("e2")
            .unwrap()
            .groups
            .first()
            .map(|g| group(&g.id, g.name.as_deref().unwrap(), "DEPARTMENT"))
            .as_ref(),
    );
    rehire.work_email = Some("e2@acme.example".into());
    h.kombo.upsert_employee(rehire);
    let r = run_on(&h, day(2026, 11, 26)).await;
    assert!(r.converged(), "{:?}", r.actions);
    let relinked = h.user_of("e2-new");
    assert_eq!(relinked.id, old.id, "the same Learn Amp user, re-linked");
    assert_ne!(relinked.status, "deactivated");
    assert_eq!(
        relinked.invitations_sent, old.invitations_sent,
        "no second invitation"
    );
    assert!(h.users_of("e2").is_empty());
    h.assert_no_duplicates();
    // Later runs leave it alone.
    let again = run_on(&h, day(2026, 11, 27)).await;
    assert_eq!(again.counts.unchanged as usize, h.kombo.employees().len());
    h.stop().await;
}

// 4. Emails: a change updates the same user; duplicates and missing emails are reported.
#[tokio::test]
async fn case_4_emails() {
    let eng = group("dep-eng", "Engineering", "DEPARTMENT");
    let mut twin = employee("twin", Some(&eng));
    twin.work_email = Some("A@ACME.example".into());
    let mut a = employee("a", Some(&eng));
    a.work_email = Some("a@acme.example".into());
    let mut nomail = employee("nomail", Some(&eng));
    nomail.work_email = None;
    let h = Harness::start(
        company(vec![a, twin, employee("b", Some(&eng)), nomail], vec![eng]),
        settings(InvitePolicy::Manual),
    )
    .await;
    let r = run_on(&h, day(2026, 11, 22)).await;
    assert_eq!(r.counts.created, 2, "{:?}", r.actions);
    assert_eq!(h.users_of("a").len(), 1, "the first by id keeps the user");
    assert!(h.users_of("twin").is_empty());
    assert!(
        r.notes
            .iter()
            .any(|n| n.employee_id == "twin" && n.detail.contains("conflict")),
        "{:?}",
        r.notes
    );
    assert!(r.actions.iter().any(|x| x.employee_id == "nomail"
        && x.action == ActionKind::Deferred
        && x.detail.contains("no work email")));
    assert!(h.users_of("nomail").is_empty());

    let user = h.user_of("b");
    h.kombo.update_employee("b", |e| {
        e.work_email = Some("b.renamed@acme.example".into())
    });
    let r = run_on(&h, day(2026, 11, 23)).await;
    assert_eq!(r.counts.updated, 1);
    let after = h.user_of("b");
    assert_eq!(
        (after.id, after.email.as_str()),
        (user.id, "b.renamed@acme.example")
    );
    h.stop().await;
}

// 5. Adoption: users that exist already are adopted by email, case-insensitively.
#[tokio::test]
async fn case_5_existing_users_are_adopted() {
    let eng = group("dep-eng", "Engineering", "DEPARTMENT");
    let staff: Vec<KomboEmployee> = (0..6)
        .map(|i| employee(&format!("e{i}"), Some(&eng)))
        .collect();
    let h = Harness::start(
        company(staff, vec![eng]),
        settings(InvitePolicy::Immediately),
    )
    .await;
    let existing: Vec<u64> = (0..3)
        .map(|i| {
            h.learnamp.seed_user(SeedUser {
                email: format!("E{i}@Acme.Example"),
                first_name: "Hand".into(),
                last_name: "Made".into(),
                integration_external_id: None,
                deactivated: i == 2,
            })
        })
        .collect();
    let r = run_on(&h, day(2026, 11, 22)).await;
    assert!(r.converged(), "{:?}", r.actions);
    for (i, id) in existing.iter().enumerate() {
        let user = h.user_of(&format!("e{i}"));
        assert_eq!(user.id, *id, "e{i} adopted");
        assert_ne!(
            user.status, "deactivated",
            "a deactivated match of an active employee is reactivated"
        );
        assert_eq!(user.first_name, format!("First-e{i}"));
    }
    assert_eq!(
        h.learnamp.calls().get("POST /v1/users"),
        3,
        "only the three others are created"
    );
    assert_eq!(
        (r.counts.created, r.counts.adopted, r.counts.reactivated),
        (3, 2, 1),
        "the adopted users are not counted as created, and the deactivated one came back"
    );
    h.assert_no_duplicates();
    h.stop().await;
}

// 6. Teams: primary team only, renamed in place, admin structure untouched.
#[tokio::test]
async fn case_6_teams() {
    let eng = group("dep-eng", "Engineering", "DEPARTMENT");
    let sales = group("dep-sales", "Sales", "DEPARTMENT");
    let guild = group("team-guild", "Rust Guild", "TEAM");
    let mut mover = employee("mover", Some(&eng));
    mover.groups.push(member(&guild));
    let staff = vec![
        mover,
        employee("stay", Some(&eng)),
        employee("nodept", None),
        employee("seller", Some(&sales)),
    ];
    let h = Harness::start(
        company(staff, vec![eng.clone(), sales.clone(), guild.clone()]),
        settings(InvitePolicy::Manual),
    )
    .await;
    run_on(&h, day(2026, 11, 22)).await;
    assert_eq!(h.user_of("nodept").primary_team_id, None);
    assert_eq!(
        team_ext(&h, h.user_of("mover").primary_team_id).as_deref(),
        Some("dep-eng")
    );
    let snapshot = h.learnamp.snapshot();
    assert_eq!(
        snapshot.teams.len(),
        2,
        "only departments become teams, flat"
    );
    assert!(snapshot.teams.iter().all(|t| t.parent_team_id.is_none()));

    // An admin builds structure in Learn Amp: a parent team, a team manager, a secondary team.
    let eng_team = snapshot
        .teams
        .iter()
        .find(|t| t.integration_external_id.as_deref() == Some("dep-eng"))
        .unwrap()
        .id;
    let parent = h.learnamp.seed_team("Company", None, None);
    let learning = h.learnamp.seed_team("Learning circle", None, None);
    let stay = h.user_of("stay");
    h.learnamp.admin_update_team(eng_team, |t| {
        t.parent_team_id = Some(parent);
        t.manager_id = Some(stay.id);
    });
    h.learnamp
        .add_secondary_team(h.user_of("mover").id, learning);

    // Personio: Engineering renamed, the mover moves to Sales.
    h.kombo.rename_group("dep-eng", "Platform Engineering");
    h.kombo.update_employee("mover", |e| {
        e.groups.retain(|g| g.id != "dep-eng");
        e.groups.push(member(&sales));
    });
    h.learnamp.reset_calls();
    let r = run_on(&h, day(2026, 11, 23)).await;
    assert_eq!(
        (r.teams.renamed, r.teams.created, r.counts.updated),
        (1, 0, 1),
        "{:?}",
        r.actions
    );
    let team = h.learnamp.team(eng_team).unwrap();
    assert_eq!(team.name, "Platform Engineering", "renamed in place");
    assert_eq!(
        (team.parent_team_id, team.manager_id),
        (Some(parent), Some(stay.id)),
        "admin structure kept"
    );
    let mover = h.user_of("mover");
    assert_eq!(
        team_ext(&h, mover.primary_team_id).as_deref(),
        Some("dep-sales")
    );
    assert_eq!(
        mover.secondary_team_ids,
        vec![learning],
        "secondary teams untouched"
    );
    assert_eq!(
        h.learnamp.calls().writes(),
        2,
        "one rename, one primary-team change"
    );

    // The group type is configurable: TEAM groups as primary teams.
    let mut by_team = settings(InvitePolicy::Manual);
    by_team.primary_team_group_type = sync_core::kombo::GroupType::Team;
    let h2 = Harness::start(
        company(
            vec![h.kombo.employee("stay").unwrap(), {
                let mut g = employee("guildie", Some(&eng));
                g.groups.push(member(&guild));
                g
            }],
            vec![eng, guild],
        ),
        by_team,
    )
    .await;
    run_on(&h2, day(2026, 11, 22)).await;
    assert_eq!(
        team_ext(&h2, h2.user_of("guildie").primary_team_id).as_deref(),
        Some("team-guild")
    );
    assert_eq!(h2.user_of("stay").primary_team_id, None);
    h2.stop().await;
    h.stop().await;
}

// 7. Managers: set once the manager exists, cycles reported, a leaving manager cleared.
#[tokio::test]
async fn case_7_managers() {
    let eng = group("dep-eng", "Engineering", "DEPARTMENT");
    let boss = employee("boss", Some(&eng));
    let mut lead = employee("lead", Some(&eng));
    lead.manager_id = Some("boss".into());
    let mut dev = employee("dev", Some(&eng));
    dev.manager_id = Some("lead".into());
    let mut loop_a = employee("loop-a", Some(&eng));
    loop_a.manager_id = Some("loop-b".into());
    let mut loop_b = employee("loop-b", Some(&eng));
    loop_b.manager_id = Some("loop-a".into());
    let mut own = employee("own", Some(&eng));
    own.manager_id = Some("own".into());
    let mut staff = vec![dev, lead, boss, loop_a, loop_b, own];
    staff.extend((0..6).map(|i| {
        let mut e = employee(&format!("x{i}"), Some(&eng));
        e.manager_id = Some("lead".into());
        e
    }));
    let h = Harness::start(company(staff, vec![eng]), settings(InvitePolicy::Manual)).await;
    let r = run_on(&h, day(2026, 11, 22)).await;
    assert!(r.converged());
    let (boss, lead, dev) = (h.user_of("boss"), h.user_of("lead"), h.user_of("dev"));
    assert_eq!(
        (lead.manager_id, dev.manager_id),
        (Some(boss.id), Some(lead.id)),
        "set in the same run"
    );
    assert_eq!(
        h.learnamp.calls().writes(),
        12 + 1,
        "one write per user and the team: no second pass"
    );
    assert_eq!(h.user_of("loop-a").manager_id, None);
    assert_eq!(h.user_of("own").manager_id, None);
    let noted: Vec<&str> = r.notes.iter().map(|n| n.employee_id.as_str()).collect();
    assert_eq!(noted, ["loop-a", "loop-b", "own"], "{:?}", r.notes);
    assert!(r.notes[2].detail.contains("own manager"));

    // The lead leaves: their reports no longer have them as manager.
    h.kombo
        .update_employee("lead", |e| e.employment_status = Some("INACTIVE".into()));
    let r = run_on(&h, day(2026, 11, 23)).await;
    assert_eq!(r.counts.deactivated, 1);
    assert_ne!(h.user_of("dev").manager_id, Some(lead.id));
    assert_eq!(
        h.user_of("dev").manager_id,
        Some(1),
        "Learn Amp hands them to the account owner"
    );
    let again = run_on(&h, day(2026, 11, 24)).await;
    assert_eq!(
        again.counts.updated, 0,
        "and the sync does not fight it: {:?}",
        again.actions
    );
    h.stop().await;
}

// 8. Location and custom fields, configured per tenant.
#[tokio::test]
async fn case_8_location_and_custom_fields() {
    let eng = group("dep-eng", "Engineering", "DEPARTMENT");
    let berlin = KomboLocation {
        id: "loc-ber".into(),
        remote_id: None,
        name: Some("Berlin HQ".into()),
        r#type: Some("OFFICE".into()),
        changed_at: at(day(2026, 1, 1)),
        remote_deleted_at: None,
    };
    let mut e = employee("e", Some(&eng));
    e.work_location_id = Some("loc-ber".into());
    e.work_location = Some(EmbeddedLocation {
        id: "loc-ber".into(),
        remote_id: None,
        name: Some("Berlin HQ".into()),
        r#type: Some("OFFICE".into()),
    });
    e.custom_fields.insert("cost_center".into(), "CC-42".into());
    e.custom_fields.insert("shirt".into(), "L".into());
    let mut s = settings(InvitePolicy::Manual);
    s.sync_location = true;
    s.custom_fields = vec![CustomFieldMapping {
        source: "cost_center".into(),
        target: "Cost Center".into(),
    }];
    let mut c = company(vec![e], vec![eng.clone()]);
    c.locations.push(berlin);
    let h = Harness::start(c, s.clone()).await;
    run_on(&h, day(2026, 11, 22)).await;
    let user = h.user_of("e");
    assert_eq!(user.location.as_deref(), Some("Berlin HQ"));
    assert_eq!(
        user.custom_fields.get("Cost Center").map(String::as_str),
        Some("CC-42")
    );
    assert!(
        !user.custom_fields.contains_key("shirt"),
        "only mapped fields"
    );

    h.kombo.update_employee("e", |e| {
        e.custom_fields.insert("cost_center".into(), "CC-7".into());
    });
    h.learnamp.reset_calls();
    let r = run_on(&h, day(2026, 11, 23)).await;
    assert_eq!(r.counts.updated, 1);
    assert_eq!(
        h.user_of("e")
            .custom_fields
            .get("Cost Center")
            .map(String::as_str),
        Some("CC-7")
    );
    // An object in Kombo has no single value: the Learn Amp field is left alone, and the report
    // names the key, never the value.
    h.kombo.update_employee("e", |e| {
        e.custom_fields.insert(
            "cost_center".into(),
            serde_json::json!({"code": "CC-secret", "share": 100}),
        );
    });
    h.learnamp.reset_calls();
    let r = run_on(&h, day(2026, 11, 24)).await;
    assert_eq!(h.learnamp.calls().writes(), 0, "{:?}", r.actions);
    assert_eq!(
        h.user_of("e")
            .custom_fields
            .get("Cost Center")
            .map(String::as_str),
        Some("CC-7")
    );
    assert!(
        r.notes.len() == 1
            && r.notes[0].detail.contains("'cost_center'")
            && !r.notes[0].detail.contains("CC-secret"),
        "{:?}",
        r.notes
    );
    h.stop().await;

    // A Learn Amp custom field name that does not exist: reported once, not retried.
    s.custom_fields.push(CustomFieldMapping {
        source: "shirt".into(),
        target: "Shirt Size".into(),
    });
    let mut e = employee("e", Some(&eng));
    e.custom_fields.insert("shirt".into(), "L".into());
    let h = Harness::start(company(vec![e], vec![eng]), s).await;
    let r = run_on(&h, day(2026, 11, 22)).await;
    assert!(r.converged(), "{:?}", r.actions);
    assert!(
        r.actions[0].detail.contains("'Shirt Size'") && r.actions[0].detail.contains("unknown"),
        "{:?}",
        r.actions
    );
    assert_eq!(h.users_of("e").len(), 1, "the user is created without it");
    h.learnamp.reset_calls();
    let again = run_on(&h, day(2026, 11, 23)).await;
    assert_eq!(
        h.learnamp.calls().writes(),
        0,
        "not retried: {:?}",
        again.actions
    );
    h.stop().await;
}

// 9. Scoping: only the configured legal entities, employment types or groups.
#[tokio::test]
async fn case_9_scoping() {
    let eng = group("dep-eng", "Engineering", "DEPARTMENT");
    let staff: Vec<KomboEmployee> = (0..8)
        .map(|i| {
            let mut e = employee(&format!("e{i}"), Some(&eng));
            e.legal_entity_id = Some(if i < 6 {
                "le-de".into()
            } else {
                "le-uk".into()
            });
            e.employment_type = Some(if i == 0 {
                "FREELANCE".into()
            } else {
                "FULL_TIME".into()
            });
            e
        })
        .collect();
    let mut s = settings(InvitePolicy::Manual);
    s.scope = Scope {
        legal_entity_ids: vec!["le-de".into()],
        employment_types: vec!["FULL_TIME".into(), "PART_TIME".into()],
        group_ids: vec![],
    };
    let h = Harness::start(company(staff, vec![eng]), s).await;
    let r = run_on(&h, day(2026, 11, 22)).await;
    assert_eq!(r.counts.created, 5, "e1..e5: German full-timers");
    assert!(h.users_of("e0").is_empty() && h.users_of("e6").is_empty());
    // Someone who moves out of scope loses their active user.
    h.kombo
        .update_employee("e1", |e| e.legal_entity_id = Some("le-uk".into()));
    let r = run_on(&h, day(2026, 11, 23)).await;
    assert_eq!(r.counts.deactivated, 1);
    assert!(r.actions.iter().any(|a| a.detail.contains("scope")));
    h.stop().await;
}

// 10. The deactivation guard.
#[tokio::test]
async fn case_10_the_deactivation_guard() {
    let eng = group("dep-eng", "Engineering", "DEPARTMENT");
    let staff: Vec<KomboEmployee> = (0..10)
        .map(|i| employee(&format!("e{i}"), Some(&eng)))
        .collect();
    let mut s = settings(InvitePolicy::Manual);
    s.max_deactivation_percent = 50.0; // so that the absolute limit is the one that holds
    s.max_deactivations = Some(2);
    let h = Harness::start(company(staff, vec![eng]), s).await;
    run_on(&h, day(2026, 11, 22)).await;
    for i in 0..3 {
        h.kombo.update_employee(&format!("e{i}"), |e| {
            e.employment_status = Some("INACTIVE".into())
        });
    }
    h.kombo
        .update_employee("e5", |e| e.job_title = Some("Promoted".into()));
    let r = run_on(&h, day(2026, 11, 23)).await;
    assert!(
        r.halted
            .as_deref()
            .unwrap()
            .contains("max_deactivations = 2"),
        "{:?}",
        r.halted
    );
    assert_eq!(
        (r.counts.deactivated, r.counts.updated),
        (0, 1),
        "everything else applied"
    );
    assert!((0..3).all(|i| h.user_of(&format!("e{i}")).status != "deactivated"));
    let r = h
        .run(&RunOptions {
            today: Some(day(2026, 11, 23)),
            allow_mass_deactivation: true,
            ..Default::default()
        })
        .await;
    assert_eq!((r.halted, r.counts.deactivated), (None, 3));
    h.stop().await;
}

// 11. Reconcile corrects drift in Learn Amp with the minimum writes.
#[tokio::test]
async fn case_11_reconcile() {
    let eng = group("dep-eng", "Engineering", "DEPARTMENT");
    let staff: Vec<KomboEmployee> = (0..8)
        .map(|i| employee(&format!("e{i}"), Some(&eng)))
        .collect();
    let h = Harness::start(company(staff, vec![eng]), settings(InvitePolicy::Manual)).await;
    run_on(&h, day(2026, 11, 22)).await;
    // Hand edits in Learn Amp: a job title, a deactivation, a team rename.
    let (e1, e2) = (h.user_of("e1"), h.user_of("e2"));
    h.learnamp
        .admin_update_user(e1.id, |u| u.job_title = Some("Edited by hand".into()));
    h.learnamp.admin_deactivate_user(e2.id);

    // Ordinary runs stay cheap: they never read Learn Amp's users.
    h.learnamp.reset_calls();
    let full = run_on(&h, day(2026, 11, 23)).await;
    assert_eq!((full.counts.updated, h.learnamp.calls().total), (0, 0));

    let plan = h
        .run(&RunOptions {
            mode: SyncMode::Reconcile,
            dry_run: true,
            today: Some(day(2026, 11, 23)),
            ..Default::default()
        })
        .await;
    assert_eq!(
        (plan.counts.updated, plan.counts.reactivated),
        (1, 1),
        "{:?}",
        plan.actions
    );
    assert!(
        plan.actions
            .iter()
            .any(|a| a.employee_id == "e1" && a.detail == "changed: job_title"),
        "{:?}",
        plan.actions
    );

    h.learnamp.reset_calls();
    let r = h
        .run(&RunOptions {
            mode: SyncMode::Reconcile,
            today: Some(day(2026, 11, 23)),
            ..Default::default()
        })
        .await;
    assert_eq!(
        (r.counts.updated, r.counts.reactivated),
        (1, 1),
        "{:?}",
        r.actions
    );
    let calls = h.learnamp.calls();
    assert_eq!(calls.writes(), 2, "{:?}", calls.by_endpoint);
    assert_eq!(h.user_of("e1").job_title.as_deref(), Some("Analyst"));
    let e2 = h.user_of("e2");
    assert!(e2.status != "deactivated" && e2.primary_team_id.is_some());
    // Converged: nothing left to correct, and nothing to write back either: the states of the
    // users that did not drift stand as they were, their "nothing changed" hash included.
    let before = h.store.employees(TENANT).await.unwrap();
    h.learnamp.reset_calls();
    h.run(&RunOptions {
        mode: SyncMode::Reconcile,
        today: Some(day(2026, 11, 23)),
        ..Default::default()
    })
    .await;
    assert_eq!(h.learnamp.calls().writes(), 0);
    let after = h.store.employees(TENANT).await.unwrap();
    assert_eq!(*before, *after, "an undrifted reconcile rewrites no state");
    assert!(
        after.values().all(|s| s.applied_hash.is_some()),
        "{after:?}"
    );
    h.stop().await;
}

// 12. A dry run shows the plan, per employee, with the reason.
#[tokio::test]
async fn case_12_dry_run_explains_each_action() {
    let eng = group("dep-eng", "Engineering", "DEPARTMENT");
    let mut pre = employee("pre", Some(&eng));
    pre.employment_status = Some("PENDING".into());
    pre.start_date = Some(at(day(2027, 1, 4)));
    let h = Harness::start(
        company(
            vec![
                employee("joiner", Some(&eng)),
                employee("leaver", Some(&eng)),
                pre,
            ],
            vec![eng],
        ),
        settings(InvitePolicy::OnHireDate),
    )
    .await;
    run_on(&h, day(2026, 11, 22)).await;
    h.kombo.update_employee("leaver", |e| {
        e.termination_date = Some(at(day(2026, 11, 30)))
    });
    h.kombo
        .update_employee("joiner", |e| e.job_title = Some("Lead".into()));
    let plan = h
        .run(&RunOptions {
            dry_run: true,
            allow_mass_deactivation: true,
            today: Some(day(2026, 12, 1)),
            ..Default::default()
        })
        .await;
    let line = |id: &str| {
        plan.actions
            .iter()
            .find(|a| a.employee_id == id)
            .map(|a| (a.action, a.detail.clone()))
            .unwrap()
    };
    assert_eq!(
        line("joiner"),
        (ActionKind::Update, "changed: job_title".into())
    );
    assert_eq!(
        line("leaver"),
        (ActionKind::Deactivate, "termination date reached".into())
    );
    assert_eq!(
        line("pre"),
        (
            ActionKind::Deferred,
            "pre-hire: created and invited on the hire date 2027-01-04".into()
        )
    );
    assert_eq!(
        h.user_of("joiner").job_title.as_deref(),
        Some("Analyst"),
        "nothing changed"
    );
    h.stop().await;
}

// 13. A tenant may deactivate on the termination date itself; a termination left over from an
// earlier employment (before the current start date) deactivates nobody.
#[tokio::test]
async fn case_13_termination_rules() {
    let eng = group("dep-eng", "Engineering", "DEPARTMENT");
    let mut leaver = employee("leaver", Some(&eng));
    leaver.termination_date = Some(at(day(2026, 11, 30)));
    let mut rehired = employee("rehired", Some(&eng)); // started 2025-03-01
    rehired.termination_date = Some(at(day(2024, 12, 31)));
    let mut on_leave = rehired.clone();
    on_leave.id = "on-leave".into();
    on_leave.remote_id = "on-leave".into();
    on_leave.work_email = Some("on-leave@acme.example".into());
    on_leave.employment_status = Some("LEAVE".into());
    let mut s = settings(InvitePolicy::Manual);
    s.deactivate_on = DeactivateOn::TerminationDate;
    s.max_deactivation_percent = 100.0;
    let h = Harness::start(company(vec![leaver, rehired, on_leave], vec![eng]), s).await;
    let r = run_on(&h, day(2026, 11, 29)).await;
    assert_eq!(r.counts.created, 3, "{:?}", r.actions);
    let r = run_on(&h, day(2026, 11, 30)).await;
    assert_eq!(r.counts.deactivated, 1, "{:?}", r.actions);
    assert_eq!(h.user_of("leaver").status, "deactivated", "on the date");
    assert_ne!(h.user_of("rehired").status, "deactivated");
    assert_ne!(h.user_of("on-leave").status, "deactivated");
    h.stop().await;
}

// 14. A status string Kombo could not map: decided from the dates, and noted.
#[tokio::test]
async fn case_14_status_strings_kombo_could_not_map() {
    let eng = group("dep-eng", "Engineering", "DEPARTMENT");
    let mut started = employee("started", Some(&eng));
    started.employment_status = Some("Probezeit".into());
    let mut later = employee("later", Some(&eng));
    later.employment_status = Some("Probezeit".into());
    later.start_date = Some(at(day(2026, 12, 1)));
    let h = Harness::start(
        company(vec![started, later], vec![eng]),
        settings(InvitePolicy::OnHireDate),
    )
    .await;
    let r = run_on(&h, day(2026, 11, 22)).await;
    assert_eq!(
        (r.counts.created, r.counts.deferred),
        (1, 1),
        "{:?}",
        r.actions
    );
    assert_ne!(h.user_of("started").status, "deactivated");
    assert!(
        h.users_of("later").is_empty(),
        "a pre-hire, created on the hire date"
    );
    let noted: Vec<(&str, &str)> = r
        .notes
        .iter()
        .map(|n| (n.employee_id.as_str(), n.detail.as_str()))
        .collect();
    assert_eq!(
        noted,
        [
            (
                "later",
                "employment status 'Probezeit' not known to Kombo: decided from the dates"
            ),
            (
                "started",
                "employment status 'Probezeit' not known to Kombo: decided from the dates"
            ),
        ]
    );
    run_on(&h, day(2026, 12, 1)).await;
    assert_eq!(h.user_of("later").invitations_sent, 1);
    h.stop().await;
}

// 15. A delta reads from a safety window before its cursor: a change Kombo stamped shortly
// before the cursor (our clock behind Kombo's) is still picked up, and re-reading the unchanged
// writes nothing.
#[tokio::test]
async fn case_15_a_delta_overlaps_its_cursor() {
    let eng = group("dep-eng", "Engineering", "DEPARTMENT");
    let staff: Vec<KomboEmployee> = (0..4)
        .map(|i| employee(&format!("e{i}"), Some(&eng)))
        .collect();
    let h = Harness::start(company(staff, vec![eng]), settings(InvitePolicy::Manual)).await;
    run_on(&h, day(2026, 11, 22)).await;
    h.kombo
        .update_employee("e1", |e| e.job_title = Some("Lead".into()));
    // Our clock two minutes ahead of Kombo's: the stored cursor is after the change's stamp.
    let stamped = h.kombo.employee("e1").unwrap().changed_at;
    h.store
        .put_cursor(TENANT, stamped + chrono::Duration::minutes(2))
        .await
        .unwrap();
    let delta = RunOptions {
        mode: SyncMode::Delta,
        today: Some(day(2026, 11, 22)),
        ..Default::default()
    };
    let r = h.run(&delta).await;
    assert_eq!(r.mode, SyncMode::Delta);
    assert_eq!(r.counts.updated, 1, "{:?}", r.actions);
    assert_eq!(h.user_of("e1").job_title.as_deref(), Some("Lead"));
    h.learnamp.reset_calls();
    let again = h.run(&delta).await;
    assert_eq!(
        again.counts.unchanged, 1,
        "e1 read again: {:?}",
        again.actions
    );
    assert_eq!(h.learnamp.calls().writes(), 0);
    h.stop().await;
}

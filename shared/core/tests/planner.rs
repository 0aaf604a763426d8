//! The planner: create, update, deactivate, reactivate and no-op, under every invite policy,
//! plus the manager waves, the deactivation guard and team changes.

use chrono::{NaiveDate, TimeZone, Utc};
use std::collections::HashMap;
use sync_core::fields::Field;
use sync_core::kombo::{Employee, EmployeeGroup, EmploymentStatus, Group, GroupType};
use sync_core::mapping::{map_employee, name_hash};
use sync_core::planner::{plan, Listing, Plan, PlanInput};
use sync_core::report::ActionKind;
use sync_core::state::{EmployeeState, TeamState};
use sync_core::{InvitePolicy, TenantSettings};

mod common;
use common::employee;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
}

fn pre_hire(id: &str) -> Employee {
    let mut e = employee(id, EmploymentStatus::Pending);
    e.start_date = Some(Utc.with_ymd_and_hms(2026, 12, 15, 0, 0, 0).unwrap());
    e
}

fn settings(policy: InvitePolicy) -> TenantSettings {
    let mut s = TenantSettings::new("personio:test");
    s.invite_policy = policy;
    s
}

/// The state after `e` was applied in full, linked to Learn Amp user `user`.
fn applied(e: &Employee, user: u64, active: bool) -> EmployeeState {
    let desired = map_employee(e, &settings(InvitePolicy::Manual), today());
    let mut s = EmployeeState::new(&e.id, Utc::now());
    s.learnamp_user_id = Some(user);
    s.active = active;
    s.applied_fields = desired.field_hashes();
    s.applied_hash = Some(desired.state_hash());
    s
}

fn eng_team() -> HashMap<String, TeamState> {
    HashMap::from([(
        "dep-eng".to_string(),
        TeamState {
            group_id: "dep-eng".into(),
            learnamp_team_id: 10,
            name_hash: name_hash("dep-eng", "Engineering"),
        },
    )])
}

struct Case {
    settings: TenantSettings,
    employees: Vec<Employee>,
    state: HashMap<String, EmployeeState>,
    teams: HashMap<String, TeamState>,
    complete: bool,
    changed_groups: Vec<Group>,
    allow: bool,
}

impl Case {
    fn new(policy: InvitePolicy, employees: Vec<Employee>) -> Self {
        Self {
            settings: settings(policy),
            employees,
            state: HashMap::new(),
            teams: eng_team(),
            complete: true,
            changed_groups: Vec::new(),
            allow: false,
        }
    }

    fn run(&self) -> Plan {
        plan(PlanInput {
            settings: &self.settings,
            today: today(),
            listing: Listing::of(&self.employees, &self.settings, today()),
            complete_listing: self.complete,
            changed_groups: &self.changed_groups,
            state: &self.state,
            teams: &self.teams,
            allow_mass_deactivation: self.allow,
        })
    }
}

fn kind_of(plan: &Plan, id: &str) -> ActionKind {
    plan.changes
        .iter()
        .find(|c| c.desired.employee_id == id)
        .map(|c| c.decision.kind)
        .or_else(|| {
            plan.settled
                .iter()
                .find(|r| r.employee_id == id)
                .map(|r| r.action)
        })
        .unwrap_or_else(|| panic!("{id} is not in the plan"))
}

#[test]
fn joiners_under_each_invite_policy() {
    let employees = vec![
        employee("active", EmploymentStatus::Active),
        pre_hire("prehire"),
    ];
    for (policy, prehire_kind) in [
        (InvitePolicy::Immediately, ActionKind::Create),
        (InvitePolicy::OnHireDate, ActionKind::Deferred),
        (InvitePolicy::Manual, ActionKind::Create),
    ] {
        let plan = Case::new(policy, employees.clone()).run();
        assert_eq!(kind_of(&plan, "active"), ActionKind::Create, "{policy}");
        assert_eq!(kind_of(&plan, "prehire"), prehire_kind, "{policy}");
    }
}

#[test]
fn on_hire_date_creates_on_the_hire_date() {
    let mut e = pre_hire("p");
    e.start_date = Some(Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap());
    let plan = Case::new(InvitePolicy::OnHireDate, vec![e]).run();
    assert_eq!(kind_of(&plan, "p"), ActionKind::Create);
}

#[test]
fn unchanged_employees_are_no_ops_under_each_policy() {
    for policy in [
        InvitePolicy::Immediately,
        InvitePolicy::OnHireDate,
        InvitePolicy::Manual,
    ] {
        let e = employee("e", EmploymentStatus::Active);
        let p = pre_hire("p");
        let mut case = Case::new(policy, vec![e.clone(), p.clone()]);
        case.state.insert("e".into(), applied(&e, 1, true));
        case.state.insert("p".into(), applied(&p, 2, true));
        let plan = case.run();
        assert!(plan.changes.is_empty(), "{policy}: {:?}", plan.changes);
        assert!(plan.teams.is_empty());
        assert_eq!(kind_of(&plan, "e"), ActionKind::Unchanged);
    }
}

#[test]
fn movers_update_only_the_changed_fields() {
    for policy in [
        InvitePolicy::Immediately,
        InvitePolicy::OnHireDate,
        InvitePolicy::Manual,
    ] {
        let before = employee("e", EmploymentStatus::Active);
        let mut after = before.clone();
        after.job_title = Some("Staff Engineer".into());
        after.groups[0] = EmployeeGroup {
            id: "dep-sales".into(),
            remote_id: None,
            name: Some("Sales".into()),
            group_type: Some(GroupType::Department),
        };
        let mut case = Case::new(policy, vec![after]);
        case.state.insert("e".into(), applied(&before, 1, true));
        let plan = case.run();
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.changes[0].decision.kind, ActionKind::Update);
        assert_eq!(
            plan.changes[0].decision.fields,
            vec![Field::JobTitle, Field::PrimaryTeam]
        );
        // The new department's team is created before the user is written.
        assert_eq!(plan.teams.len(), 1);
        assert_eq!(plan.teams[0].team.group_id, "dep-sales");
        assert_eq!(plan.teams[0].existing, None);
    }
}

#[test]
fn leavers_are_deactivated_under_each_policy() {
    for policy in [
        InvitePolicy::Immediately,
        InvitePolicy::OnHireDate,
        InvitePolicy::Manual,
    ] {
        let active = employee("e", EmploymentStatus::Active);
        let mut left = active.clone();
        left.employment_status = Some(EmploymentStatus::Inactive);
        let mut case = Case::new(policy, vec![left]);
        for i in 0..9 {
            let other = employee(&format!("o{i}"), EmploymentStatus::Active);
            case.state
                .insert(other.id.clone(), applied(&other, 100 + i, true));
            case.employees.push(other);
        }
        case.state.insert("e".into(), applied(&active, 1, true));
        let plan = case.run();
        assert_eq!(kind_of(&plan, "e"), ActionKind::Deactivate, "{policy}");
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.halted, None);
    }
}

#[test]
fn rehires_are_reactivated_under_each_policy() {
    for policy in [
        InvitePolicy::Immediately,
        InvitePolicy::OnHireDate,
        InvitePolicy::Manual,
    ] {
        let e = employee("e", EmploymentStatus::Active);
        let mut case = Case::new(policy, vec![e.clone()]);
        case.state.insert("e".into(), applied(&e, 1, false));
        let plan = case.run();
        assert_eq!(kind_of(&plan, "e"), ActionKind::Reactivate, "{policy}");
        assert_eq!(
            plan.changes[0].decision.fields.len(),
            Field::FIXED.len(),
            "everything is re-asserted"
        );
    }
}

#[test]
fn a_leaver_never_synced_is_not_created() {
    let mut e = employee("gone", EmploymentStatus::Inactive);
    e.termination_date = Some(Utc.with_ymd_and_hms(2025, 6, 30, 0, 0, 0).unwrap());
    let plan = Case::new(InvitePolicy::Immediately, vec![e]).run();
    assert!(plan.changes.is_empty());
    assert_eq!(kind_of(&plan, "gone"), ActionKind::Unchanged);
}

#[test]
fn missing_from_a_complete_listing_deactivates_but_a_delta_does_not() {
    let kept: Vec<Employee> = (0..9)
        .map(|i| employee(&format!("k{i}"), EmploymentStatus::Active))
        .collect();
    let vanished = employee("vanished", EmploymentStatus::Active);
    let mut case = Case::new(InvitePolicy::Manual, kept.clone());
    for (i, e) in kept.iter().chain([&vanished]).enumerate() {
        case.state
            .insert(e.id.clone(), applied(e, i as u64 + 1, true));
    }
    assert_eq!(kind_of(&case.run(), "vanished"), ActionKind::Deactivate);
    case.complete = false;
    assert!(
        case.run().changes.is_empty(),
        "a delta listing says nothing about absent employees"
    );
}

#[test]
fn employees_without_email_are_not_created() {
    let mut e = employee("e", EmploymentStatus::Active);
    e.work_email = None;
    let plan = Case::new(InvitePolicy::Immediately, vec![e]).run();
    assert_eq!(kind_of(&plan, "e"), ActionKind::Deferred);
    assert!(plan.settled[0].detail.contains("no work email"));
}

#[test]
fn managers_are_written_in_an_earlier_wave_than_their_reports() {
    let ceo = employee("ceo", EmploymentStatus::Active);
    let mut head = employee("head", EmploymentStatus::Active);
    head.manager_id = Some("ceo".into());
    let mut dev = employee("dev", EmploymentStatus::Active);
    dev.manager_id = Some("head".into());
    let plan = Case::new(InvitePolicy::Manual, vec![dev, head, ceo]).run();
    let wave = |id: &str| {
        plan.changes
            .iter()
            .find(|c| c.desired.employee_id == id)
            .unwrap()
            .wave
    };
    assert_eq!((wave("ceo"), wave("head"), wave("dev")), (0, 1, 2));
    let order: Vec<&str> = plan
        .changes
        .iter()
        .map(|c| c.desired.employee_id.as_str())
        .collect();
    assert_eq!(order, ["ceo", "head", "dev"]);
}

#[test]
fn manager_cycles_are_reported_not_followed() {
    let mut a = employee("a", EmploymentStatus::Active);
    a.manager_id = Some("b".into());
    let mut b = employee("b", EmploymentStatus::Active);
    b.manager_id = Some("a".into());
    let mut c = employee("c", EmploymentStatus::Active);
    c.manager_id = Some("a".into());
    let plan = Case::new(InvitePolicy::Manual, vec![a, b, c]).run();
    assert_eq!(plan.changes.len(), 3);
    let noted: Vec<&str> = plan.notes.iter().map(|n| n.employee_id.as_str()).collect();
    assert_eq!(noted, ["a", "b"]);
    let manager_of = |id: &str| {
        plan.changes
            .iter()
            .find(|x| x.desired.employee_id == id)
            .unwrap()
            .desired
            .manager_employee_id
            .clone()
    };
    assert_eq!(manager_of("a"), None);
    assert_eq!(manager_of("c").as_deref(), Some("a"));
}

#[test]
fn an_inactive_manager_is_not_set() {
    let mut boss = employee("boss", EmploymentStatus::Inactive);
    boss.termination_date = Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    let mut dev = employee("dev", EmploymentStatus::Active);
    dev.manager_id = Some("boss".into());
    let plan = Case::new(InvitePolicy::Manual, vec![boss, dev]).run();
    let dev = plan
        .changes
        .iter()
        .find(|c| c.desired.employee_id == "dev")
        .unwrap();
    assert_eq!(dev.desired.manager_employee_id, None);
}

#[test]
fn a_manager_deactivated_in_the_same_run_is_not_set_whether_or_not_they_have_a_manager() {
    // The boss heads the company (no manager of their own) and leaves; so does a head under them.
    let boss = employee("boss", EmploymentStatus::Active);
    let mut head = employee("head", EmploymentStatus::Active);
    head.manager_id = Some("boss".into());
    let mut dev = employee("dev", EmploymentStatus::Active);
    dev.manager_id = Some("boss".into());
    let mut ops = employee("ops", EmploymentStatus::Active);
    ops.manager_id = Some("head".into());
    let mut case = Case::new(InvitePolicy::Manual, Vec::new());
    for (e, user) in [(&boss, 1), (&head, 2), (&dev, 3), (&ops, 4)] {
        case.state.insert(e.id.clone(), applied(e, user, true));
    }
    for i in 0..16 {
        let other = employee(&format!("o{i}"), EmploymentStatus::Active);
        case.state
            .insert(other.id.clone(), applied(&other, 100 + i, true));
        case.employees.push(other);
    }
    let mut left_boss = boss.clone();
    left_boss.employment_status = Some(EmploymentStatus::Inactive);
    let mut left_head = head.clone();
    left_head.employment_status = Some(EmploymentStatus::Inactive);
    case.employees.extend([left_boss, left_head, dev, ops]);

    let plan = case.run();
    assert_eq!(plan.halted, None);
    assert_eq!(kind_of(&plan, "boss"), ActionKind::Deactivate);
    assert_eq!(kind_of(&plan, "head"), ActionKind::Deactivate);
    for report in ["dev", "ops"] {
        let change = plan
            .changes
            .iter()
            .find(|c| c.desired.employee_id == report)
            .unwrap_or_else(|| panic!("{report}'s manager is cleared"));
        assert_eq!(change.desired.manager_employee_id, None, "{report}");
    }
}

#[test]
fn a_manager_whose_deactivation_the_guard_holds_stays_their_reports_manager() {
    // A listing without the top of the company (a truncated answer, say): the boss and most
    // others look gone, the guard holds their deactivations, and so the boss stays active in
    // Learn Amp and stays the manager of the report who was listed.
    let boss = employee("boss", EmploymentStatus::Active);
    let mut head = employee("head", EmploymentStatus::Active);
    head.manager_id = Some("boss".into());
    let mut dev = employee("dev", EmploymentStatus::Active);
    dev.manager_id = Some("head".into());
    let mut ops = employee("ops", EmploymentStatus::Active);
    ops.manager_id = Some("boss".into());
    let mut case = Case::new(InvitePolicy::Manual, vec![dev.clone(), ops.clone()]);
    for (e, user) in [(&boss, 1), (&head, 2), (&dev, 3), (&ops, 4)] {
        case.state.insert(e.id.clone(), applied(e, user, true));
    }

    let plan = case.run();
    assert!(plan.halted.is_some(), "2 of 4 users deactivated is held");
    assert_eq!(kind_of(&plan, "boss"), ActionKind::Deferred);
    assert_eq!(kind_of(&plan, "head"), ActionKind::Deferred);
    assert_eq!(kind_of(&plan, "dev"), ActionKind::Unchanged, "manager kept");
    assert_eq!(kind_of(&plan, "ops"), ActionKind::Unchanged, "manager kept");
}

#[test]
fn the_guard_holds_mass_deactivations_unless_allowed() {
    let all: Vec<Employee> = (0..10)
        .map(|i| employee(&format!("e{i}"), EmploymentStatus::Active))
        .collect();
    let mut case = Case::new(InvitePolicy::Manual, all[..7].to_vec());
    for (i, e) in all.iter().enumerate() {
        case.state
            .insert(e.id.clone(), applied(e, i as u64 + 1, true));
    }
    let mut joiner = employee("new", EmploymentStatus::Active);
    joiner.job_title = Some("New".into());
    case.employees.push(joiner);
    let plan = case.run();
    assert!(
        plan.halted.as_deref().unwrap().contains("30.0 %"),
        "{:?}",
        plan.halted
    );
    assert!(plan
        .changes
        .iter()
        .all(|c| c.decision.kind != ActionKind::Deactivate));
    assert_eq!(
        kind_of(&plan, "new"),
        ActionKind::Create,
        "everything else still applies"
    );
    assert_eq!(
        plan.settled
            .iter()
            .filter(|r| r.action == ActionKind::Deferred)
            .count(),
        3
    );

    case.allow = true;
    let plan = case.run();
    assert_eq!(plan.halted, None);
    assert_eq!(
        plan.changes
            .iter()
            .filter(|c| c.decision.kind == ActionKind::Deactivate)
            .count(),
        3
    );
}

#[test]
fn renamed_departments_are_renamed_in_place() {
    let mut e = employee("e", EmploymentStatus::Active);
    let mut case = Case::new(InvitePolicy::Manual, vec![e.clone()]);
    case.state.insert("e".into(), applied(&e, 1, true));
    e.groups[0].name = Some("Platform Engineering".into());
    case.employees = vec![e];
    let plan = case.run();
    assert!(plan.changes.is_empty(), "the team name is not a user field");
    assert_eq!(plan.teams.len(), 1);
    assert_eq!(plan.teams[0].existing, Some(10));
    assert_eq!(plan.teams[0].team.name, "Platform Engineering");

    // In a delta, the rename shows in the group's own record only.
    let mut case = Case::new(InvitePolicy::Manual, vec![]);
    case.complete = false;
    case.changed_groups = vec![Group {
        id: "dep-eng".into(),
        remote_id: None,
        name: Some("Core Engineering".into()),
        group_type: Some(GroupType::Department),
        parent_id: None,
        changed_at: None,
        remote_deleted_at: None,
    }];
    let plan = case.run();
    assert_eq!(plan.teams[0].team.name, "Core Engineering");
}

#[test]
fn a_joiner_with_a_status_kombo_could_not_map_is_decided_from_the_dates_and_noted() {
    let started = employee("started", EmploymentStatus::Other("Probezeit".into()));
    let mut later = employee("later", EmploymentStatus::Other("Probezeit".into()));
    later.start_date = Some(Utc.with_ymd_and_hms(2026, 12, 15, 0, 0, 0).unwrap());
    let mut left = employee("left", EmploymentStatus::Other("Ausgetreten".into()));
    left.termination_date = Some(Utc.with_ymd_and_hms(2026, 10, 31, 0, 0, 0).unwrap());
    let mut undated = employee("undated", EmploymentStatus::Other("Probezeit".into()));
    undated.start_date = None;
    let plan = Case::new(
        InvitePolicy::OnHireDate,
        vec![started, later, left, undated],
    )
    .run();
    assert_eq!(kind_of(&plan, "started"), ActionKind::Create);
    assert_eq!(kind_of(&plan, "later"), ActionKind::Deferred, "a pre-hire");
    assert_eq!(kind_of(&plan, "left"), ActionKind::Unchanged, "a leaver");
    assert_eq!(kind_of(&plan, "undated"), ActionKind::Deferred);
    let notes: Vec<(&str, &str)> = plan
        .notes
        .iter()
        .map(|n| (n.employee_id.as_str(), n.detail.as_str()))
        .collect();
    assert_eq!(
        notes,
        [
            (
                "later",
                "employment status 'Probezeit' not known to Kombo: decided from the dates"
            ),
            (
                "left",
                "employment status 'Ausgetreten' not known to Kombo: decided from the dates"
            ),
            (
                "started",
                "employment status 'Probezeit' not known to Kombo: decided from the dates"
            ),
            (
                "undated",
                "employment status 'Probezeit' not known to Kombo and no start date to decide from"
            ),
        ]
    );
}

#[test]
fn a_skipped_custom_field_is_noted_and_not_compared() {
    let mut s = settings(InvitePolicy::Manual);
    s.custom_fields = vec!["cost_center=Cost Center".parse().unwrap()];
    let mut e = employee("e", EmploymentStatus::Active);
    let with = |e: &mut Employee, v: serde_json::Value| {
        e.custom_fields = Some(
            serde_json::json!({ "cost_center": v })
                .as_object()
                .unwrap()
                .clone(),
        );
    };
    with(&mut e, serde_json::json!("CC-42"));
    let mut case = Case::new(InvitePolicy::Manual, vec![]);
    case.settings = s.clone();
    let desired = map_employee(&e, &s, today());
    let mut state = EmployeeState::new("e", Utc::now());
    state.learnamp_user_id = Some(1);
    state.active = true;
    state.applied_fields = desired.field_hashes();
    state.applied_hash = Some(desired.state_hash());
    case.state.insert("e".into(), state);
    // The value becomes an object: nothing to write, and the field is left alone.
    with(&mut e, serde_json::json!({"id": 7, "label": "CC-secret"}));
    case.employees = vec![e];
    let plan = case.run();
    assert_eq!(kind_of(&plan, "e"), ActionKind::Unchanged, "{plan:?}");
    assert_eq!(plan.notes.len(), 1);
    assert!(
        plan.notes[0].detail.contains("'cost_center'")
            && !plan.notes[0].detail.contains("CC-secret"),
        "{:?}",
        plan.notes
    );
}

/// A company with one of each: unchanged, a mover, a leaver, a rehire, a joiner, one missing
/// from the listing, a report whose manager leaves, two joiners sharing an email.
fn mixed_case() -> Case {
    let unchanged = employee("unchanged", EmploymentStatus::Active);
    let before = employee("mover", EmploymentStatus::Active);
    let mut mover = before.clone();
    mover.job_title = Some("Staff Engineer".into());
    let mut leaver = employee("leaver", EmploymentStatus::Inactive);
    leaver.termination_date = Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    leaver.manager_id = Some("unchanged".into());
    let rehire = employee("rehire", EmploymentStatus::Active);
    let joiner = employee("joiner", EmploymentStatus::Active);
    let mut report = employee("report", EmploymentStatus::Active);
    report.manager_id = Some("leaver".into());
    let mut twin_a = employee("twin-a", EmploymentStatus::Active);
    twin_a.work_email = Some("twin@example.com".into());
    let mut twin_b = employee("twin-b", EmploymentStatus::Active);
    twin_b.work_email = Some("twin@example.com".into());
    let mut case = Case::new(
        InvitePolicy::Immediately,
        vec![
            unchanged.clone(),
            mover,
            leaver.clone(),
            rehire.clone(),
            joiner,
            report,
            twin_a,
            twin_b,
        ],
    );
    let missing = employee("missing", EmploymentStatus::Active);
    let active_leaver = employee("leaver", EmploymentStatus::Active);
    for (e, user, active) in [
        (&unchanged, 1, true),
        (&before, 2, true),
        (&active_leaver, 3, true),
        (&rehire, 4, false),
        (&missing, 5, true),
    ] {
        case.state.insert(e.id.clone(), applied(e, user, active));
    }
    case.allow = true;
    case
}

#[test]
fn decisions_made_as_pages_arrive_plan_what_planning_after_the_read_plans() {
    let case = mixed_case();
    let whole = case.run();
    let state = std::sync::Arc::new(case.state.clone());
    // The state arrives after the first page: that page is decided then, the next as it comes.
    let (first, second) = case.employees.split_at(3);
    let mut listing = Listing::of(first, &case.settings, today());
    listing.decide_against(&state, case.settings.invite_policy);
    listing.add(second, &case.settings, today());
    let early = plan(PlanInput {
        settings: &case.settings,
        today: today(),
        listing,
        complete_listing: true,
        changed_groups: &[],
        state: &state,
        teams: &case.teams,
        allow_mass_deactivation: true,
    });
    assert_eq!(early, whole);
    assert_eq!(kind_of(&early, "missing"), ActionKind::Deactivate);
    assert_eq!(kind_of(&early, "twin-b"), ActionKind::Deferred);
    assert!(early
        .changes
        .iter()
        .any(|c| c.desired.employee_id == "report" && c.desired.manager_employee_id.is_none()));
}

#[test]
fn decisions_made_against_another_state_are_made_again() {
    let case = mixed_case();
    let whole = case.run();
    // Decided against an empty state (everyone a joiner), planned against the real one.
    let other = std::sync::Arc::new(HashMap::new());
    let mut listing = Listing::default();
    listing.decide_against(&other, case.settings.invite_policy);
    listing.add(&case.employees, &case.settings, today());
    let planned = plan(PlanInput {
        settings: &case.settings,
        today: today(),
        listing,
        complete_listing: true,
        changed_groups: &[],
        state: &case.state,
        teams: &case.teams,
        allow_mass_deactivation: true,
    });
    assert_eq!(planned, whole);
}

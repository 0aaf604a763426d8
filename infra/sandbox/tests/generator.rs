//! The company generator and fixture loading.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{NaiveDate, TimeZone, Utc};
use sandbox::{generate_company, load_fixture, KomboSandbox};
use serde_json::Value;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 14).unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn deterministic_for_the_same_inputs() {
    let a = generate_company(300, 7, today());
    let b = generate_company(300, 7, today());
    let c = generate_company(300, 8, today());
    let ser = |c: &sandbox::Company| {
        serde_json::to_string(&(&c.employees, &c.groups, &c.locations)).unwrap()
    };
    assert_eq!(ser(&a), ser(&b));
    assert_ne!(ser(&a), ser(&c));
    for e in &a.employees {
        assert_eq!(e.id.len(), 24);
        assert!(e.id.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}

#[test]
fn empty_and_tiny_companies() {
    let c = generate_company(0, 1, today());
    assert!(c.employees.is_empty());
    assert!(c.groups.len() >= 3);
    let c = generate_company(1, 1, today());
    assert_eq!(c.employees.len(), 1);
    assert!(c.employees[0].manager_id.is_none());
    let c = generate_company(2, 1, today());
    assert_eq!(c.employees[1].manager_id.as_ref(), Some(&c.employees[0].id));
}

#[test]
fn structure_and_proportions() {
    let n = 10_000;
    let c = generate_company(n, 2024, today());
    assert_eq!(c.employees.len(), n);

    // Unique, lowercase, ASCII emails.
    let emails: HashSet<&str> = c
        .employees
        .iter()
        .map(|e| e.work_email.as_deref().unwrap())
        .collect();
    assert_eq!(emails.len(), n);
    for e in &emails {
        assert!(
            e.is_ascii() && *e == e.to_lowercase() && e.ends_with("@acme.example"),
            "{e}"
        );
    }
    let first_names: HashSet<&str> = c
        .employees
        .iter()
        .map(|e| e.first_name.as_deref().unwrap())
        .collect();
    assert!(first_names.len() >= 40);

    // Groups and locations.
    let depts: Vec<_> = c
        .groups
        .iter()
        .filter(|g| g.r#type.as_deref() == Some("DEPARTMENT"))
        .collect();
    assert_eq!(depts.len(), 400);
    let dept_names: HashSet<_> = depts.iter().map(|g| g.name.clone()).collect();
    assert_eq!(dept_names.len(), 400, "department names are unique");
    let teams = c
        .groups
        .iter()
        .filter(|g| g.r#type.as_deref() == Some("TEAM"))
        .count();
    assert!((1..=2).contains(&teams));
    assert!((3..=5).contains(&c.locations.len()));
    let loc_ids: HashSet<_> = c.locations.iter().map(|l| l.id.clone()).collect();
    let group_ids: HashSet<_> = c.groups.iter().map(|g| g.id.clone()).collect();
    let in_team = c.employees.iter().filter(|e| e.groups.len() == 2).count();
    assert!(in_team > n / 20 && in_team < n / 5, "{in_team}");

    // A manager tree of depth ≤ 2 rooted at employee 0.
    let by_id: HashMap<&str, &sandbox::KomboEmployee> =
        c.employees.iter().map(|e| (e.id.as_str(), e)).collect();
    assert!(c.employees[0].manager_id.is_none());
    for e in &c.employees[1..] {
        let m = by_id[e
            .manager_id
            .as_deref()
            .expect("everyone but the CEO has a manager")];
        assert!(
            m.manager_id.is_none() || by_id[m.manager_id.as_deref().unwrap()].manager_id.is_none()
        );
        assert!(loc_ids.contains(e.work_location_id.as_deref().unwrap()));
        assert_eq!(
            e.work_location.as_ref().unwrap().id,
            *e.work_location_id.as_ref().unwrap()
        );
        assert!(e.groups.iter().all(|g| group_ids.contains(&g.id)));
        assert_eq!(e.groups[0].r#type.as_deref(), Some("DEPARTMENT"));
    }

    // Status proportions and dates.
    let now = Utc.from_utc_datetime(&today().and_hms_opt(0, 0, 0).unwrap());
    let count = |s: &str| {
        c.employees
            .iter()
            .filter(|e| e.employment_status.as_deref() == Some(s))
            .count() as f64
            / n as f64
    };
    let (pending, inactive, leave) = (count("PENDING"), count("INACTIVE"), count("LEAVE"));
    assert!((0.02..0.045).contains(&pending), "{pending}");
    assert!((0.035..0.065).contains(&inactive), "{inactive}");
    assert!((0.005..0.02).contains(&leave), "{leave}");
    let future_leavers = c
        .employees
        .iter()
        .filter(|e| {
            e.employment_status.as_deref() == Some("ACTIVE")
                && e.termination_date.is_some_and(|t| t > now)
        })
        .count() as f64
        / n as f64;
    assert!((0.005..0.02).contains(&future_leavers), "{future_leavers}");
    for e in &c.employees {
        let start = e.start_date.unwrap();
        match e.employment_status.as_deref().unwrap() {
            "PENDING" => {
                let days = (start - now).num_days();
                assert!((5..=40).contains(&days), "{days}");
            }
            "INACTIVE" => {
                let t = e.termination_date.unwrap();
                let days = (now - t).num_days();
                assert!((10..=400).contains(&days), "{days}");
                assert!(start < t);
            }
            "ACTIVE" => {
                assert!(start < now);
                if let Some(t) = e.termination_date {
                    let days = (t - now).num_days();
                    assert!((5..=30).contains(&days), "{days}");
                }
            }
            "LEAVE" => assert!(start < now),
            other => panic!("unexpected status {other}"),
        }
        assert!(e.changed_at < now);
    }
}

#[test]
fn large_companies_are_fast() {
    let t = Instant::now();
    let c = generate_company(50_000, 3, today());
    let elapsed = t.elapsed();
    assert_eq!(c.employees.len(), 50_000);
    let emails: HashSet<&str> = c
        .employees
        .iter()
        .map(|e| e.work_email.as_deref().unwrap())
        .collect();
    assert_eq!(emails.len(), 50_000);
    eprintln!("generated 50k employees in {elapsed:?}");
    // Well under a second in release mode; debug builds get more room.
    assert!(elapsed.as_secs_f64() < 10.0, "{elapsed:?}");
}

#[test]
fn loads_the_openapi_example_fixture() {
    let c = load_fixture(&fixture("kombo_employees_example.json")).unwrap();
    assert_eq!(c.employees.len(), 1);
    let e = &c.employees[0];
    assert_eq!(e.id, "26vafvWSRmbhNcxJYqjCzuJg");
    assert_eq!(e.remote_id, "32");
    assert_eq!(e.employment_status.as_deref(), Some("INACTIVE"));
    assert_eq!(e.work_email.as_deref(), Some("john.doe@acme.com"));
    assert_eq!(
        e.start_date.unwrap(),
        Utc.with_ymd_and_hms(2020, 4, 7, 0, 0, 0).unwrap()
    );
    assert_eq!(c.groups.len(), 1);
    assert_eq!(c.groups[0].name.as_deref(), Some("Customer Success"));
    assert_eq!(c.groups[0].r#type.as_deref(), Some("TEAM"));
    assert_eq!(c.locations.len(), 1);
    assert_eq!(c.locations[0].name.as_deref(), Some("Kombo HQ"));
    assert!(c.locations[0].remote_deleted_at.is_some());

    // Round trip: a sandbox serving the fixture returns the same core fields.
    let sb = KomboSandbox::new("k", "i", c.clone());
    assert_eq!(sb.employee(&e.id).unwrap(), *e);
}

#[test]
fn loads_a_bare_array_and_reports_bad_files() {
    let dir = std::env::temp_dir().join(format!("sandbox-fixture-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let original: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("kombo_employees_example.json")).unwrap(),
    )
    .unwrap();
    let bare = dir.join("bare.json");
    std::fs::write(&bare, original["data"]["results"].to_string()).unwrap();
    let c = load_fixture(&bare).unwrap();
    assert_eq!(c.employees.len(), 1);

    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{not json").unwrap();
    let err = load_fixture(&broken).unwrap_err();
    assert!(err.contains("broken.json"), "{err}");

    let wrong = dir.join("wrong.json");
    std::fs::write(&wrong, r#"{"status":"success","data":{}}"#).unwrap();
    let err = load_fixture(&wrong).unwrap_err();
    assert!(err.contains("wrong.json"), "{err}");

    let bad_employee = dir.join("bad_employee.json");
    std::fs::write(&bad_employee, r#"[{"id": 5}]"#).unwrap();
    let err = load_fixture(&bad_employee).unwrap_err();
    assert!(
        err.contains("bad_employee.json") && err.contains("#0"),
        "{err}"
    );

    let missing = dir.join("missing.json");
    let err = load_fixture(&missing).unwrap_err();
    assert!(err.contains("missing.json"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

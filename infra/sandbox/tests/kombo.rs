//! The Kombo sandbox over HTTP.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use reqwest::StatusCode;
use sandbox::{generate_company, KomboSandbox, RunningServer};
use serde_json::Value;

const KEY: &str = "kombo-test-key";
const INTEGRATION: &str = "personio:SandboxIntegration01";

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

async fn start(n: usize) -> (KomboSandbox, RunningServer) {
    let sb = KomboSandbox::new(KEY, INTEGRATION, generate_company(n, 42, today()));
    let srv = sb.start(0).await.expect("start");
    (sb, srv)
}

async fn get(srv: &RunningServer, path: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
    get_with(srv, path, query, Some(KEY), Some(INTEGRATION)).await
}

async fn get_with(
    srv: &RunningServer,
    path: &str,
    query: &[(&str, &str)],
    key: Option<&str>,
    integration: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .get(format!("{}{path}", srv.base_url))
        .query(query);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(i) = integration {
        req = req.header("X-Integration-Id", i);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(body["error"]["title"].is_string(), "{body}");
    assert!(body["error"]["log_url"].is_null(), "{body}");
}

/// All pages of a listing; panics on a non-200.
async fn all_pages(
    srv: &RunningServer,
    path: &str,
    query: &[(&str, &str)],
    page_size: usize,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    let size = page_size.to_string();
    loop {
        let mut q: Vec<(&str, &str)> = query.to_vec();
        q.push(("page_size", &size));
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let (status, body) = get(srv, path, &q).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "success");
        let results = body["data"]["results"].as_array().expect("results");
        assert!(results.len() <= page_size);
        out.extend(results.iter().cloned());
        match &body["data"]["next"] {
            Value::Null => return out,
            Value::String(s) => cursor = Some(s.clone()),
            other => panic!("bad next {other}"),
        }
    }
}

#[tokio::test]
async fn auth_and_integration_header_are_enforced() {
    let (sb, srv) = start(10).await;

    let (s, b) = get_with(&srv, "/hris/employees", &[], None, Some(INTEGRATION)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_error(&b, "PLATFORM.AUTHENTICATION_INVALID");

    let (s, b) = get_with(
        &srv,
        "/hris/employees",
        &[],
        Some("wrong"),
        Some(INTEGRATION),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_error(&b, "PLATFORM.AUTHENTICATION_INVALID");

    let (s, b) = get_with(&srv, "/hris/employees", &[], Some(KEY), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_error(&b, "PLATFORM.INPUT_INVALID");

    let (s, b) = get_with(&srv, "/hris/groups", &[], Some(KEY), Some("personio:other")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error(&b, "PLATFORM.INTEGRATION_NOT_FOUND");

    // check-api-key needs no integration.
    let (s, b) = get_with(&srv, "/check-api-key", &[], Some(KEY), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["status"], "success");
    assert!(b["data"]["environment_id"].is_string());
    let (s, _) = get_with(&srv, "/check-api-key", &[], Some("nope"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    assert_eq!(sb.request_count(), 6);
    // /_sandbox is neither authenticated nor counted.
    let state: Value = reqwest::get(format!("http://{}/_sandbox/state", srv.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["employees"].as_array().unwrap().len(), 10);
    assert!(state["groups"].as_array().unwrap().len() >= 3);
    assert!(state["locations"].as_array().unwrap().len() >= 3);
    assert_eq!(sb.request_count(), 6);
    sb.reset_request_count();
    assert_eq!(sb.request_count(), 0);
    srv.shutdown().await;
}

#[tokio::test]
async fn page_size_bounds() {
    let (_sb, srv) = start(300).await;
    for bad in ["0", "251", "abc", "-1", "1.5"] {
        let (s, b) = get(&srv, "/hris/employees", &[("page_size", bad)]).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "page_size={bad}");
        assert_error(&b, "PLATFORM.INPUT_INVALID");
    }
    let (s, b) = get(&srv, "/hris/employees", &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["data"]["results"].as_array().unwrap().len(), 100);
    let (_, b) = get(&srv, "/hris/employees", &[("page_size", "250")]).await;
    assert_eq!(b["data"]["results"].as_array().unwrap().len(), 250);
    assert!(b["data"]["next"].is_string());
    let (_, b) = get(&srv, "/hris/employees", &[("page_size", "1")]).await;
    assert_eq!(b["data"]["results"].as_array().unwrap().len(), 1);
    srv.shutdown().await;
}

#[tokio::test]
async fn cursor_pagination_visits_every_employee_once() {
    let (sb, srv) = start(1003).await;
    let all = all_pages(&srv, "/hris/employees", &[], 97).await;
    let ids: Vec<String> = all
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 1003);
    assert_eq!(unique.len(), 1003);
    let expected: HashSet<String> = sb.employees().into_iter().map(|e| e.id).collect();
    assert_eq!(
        unique.into_iter().cloned().collect::<HashSet<_>>(),
        expected
    );

    // Changes between pages neither skip nor repeat records.
    let (_, first) = get(&srv, "/hris/employees", &[("page_size", "100")]).await;
    let seen: Vec<String> = first["data"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    sb.delete_employee(&seen[3]);
    let mut changed = sb.employee(&seen[5]).unwrap();
    changed.job_title = Some("Changed".into());
    sb.upsert_employee(changed);
    let mut newbie = sb.employee(&seen[0]).unwrap();
    newbie.id = "NewEmployee0000000000001".into();
    newbie.remote_id = "999999".into();
    sb.upsert_employee(newbie);
    let mut rest = Vec::new();
    let mut cursor = first["data"]["next"].as_str().map(str::to_string);
    while let Some(c) = cursor {
        let (s, b) = get(
            &srv,
            "/hris/employees",
            &[("page_size", "100"), ("cursor", &c)],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        rest.extend(
            b["data"]["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string()),
        );
        cursor = b["data"]["next"].as_str().map(str::to_string);
    }
    assert_eq!(seen.len() + rest.len(), 1004);
    assert!(rest.iter().all(|id| !seen.contains(id)));
    assert_eq!(rest.last().unwrap(), "NewEmployee0000000000001");

    // A malformed cursor, a cursor of another listing, or changed filters → 400.
    let (s, b) = get(&srv, "/hris/employees", &[("cursor", "not-a-cursor")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_error(&b, "PLATFORM.INPUT_INVALID");
    let next = first["data"]["next"].as_str().unwrap();
    let (s, _) = get(&srv, "/hris/groups", &[("cursor", next)]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = get(
        &srv,
        "/hris/employees",
        &[("cursor", next), ("include_deleted", "true")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Repeating the same filters (here: the defaults) is fine.
    let (s, _) = get(
        &srv,
        "/hris/employees",
        &[("cursor", next), ("include_deleted", "false")],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    srv.shutdown().await;
}

#[tokio::test]
async fn groups_and_locations_paginate() {
    let (sb, srv) = start(200).await;
    let groups = all_pages(&srv, "/hris/groups", &[], 2).await;
    assert_eq!(groups.len(), sb.groups().len());
    let g = &groups[0];
    for k in [
        "id",
        "remote_id",
        "name",
        "type",
        "parent_id",
        "changed_at",
        "remote_deleted_at",
        "remote_data",
    ] {
        assert!(g.get(k).is_some(), "group key {k}");
    }
    let depts = all_pages(&srv, "/hris/groups", &[("types", "DEPARTMENT")], 100).await;
    assert!(depts.iter().all(|g| g["type"] == "DEPARTMENT"));
    assert_eq!(depts.len(), 8);
    let locations = all_pages(&srv, "/hris/locations", &[], 1).await;
    assert_eq!(locations.len(), sb.locations().len());
    srv.shutdown().await;
}

#[tokio::test]
async fn employee_wire_shape() {
    let (sb, srv) = start(30).await;
    let all = all_pages(&srv, "/hris/employees", &[], 100).await;
    let report = all
        .iter()
        .find(|e| e["manager_id"].is_string())
        .expect("someone has a manager");
    let manager = sb.employee(report["manager_id"].as_str().unwrap()).unwrap();
    assert_eq!(report["manager"]["id"], manager.id.as_str());
    assert_eq!(
        report["manager"]["work_email"],
        manager.work_email.as_deref().unwrap()
    );
    assert_eq!(report["teams"], report["groups"]);
    assert_eq!(report["employments"], serde_json::json!([]));
    assert_eq!(report["time_off_balances"], serde_json::json!([]));
    assert!(report["remote_data"].is_null());
    assert!(report["custom_fields"].is_object());
    let start = report["start_date"].as_str().unwrap();
    assert!(start.ends_with("T00:00:00.000Z"), "{start}");
    assert!(report["changed_at"].as_str().unwrap().ends_with(".000Z"));
    assert_eq!(report["work_location"]["id"], report["work_location_id"]);
    assert!(report["work_location"]["changed_at"].is_string());
    let ceo = all.iter().find(|e| e["manager_id"].is_null()).unwrap();
    assert!(ceo["manager"].is_null());
    srv.shutdown().await;
}

#[tokio::test]
async fn include_deleted_and_updated_after() {
    let (sb, srv) = start(40).await;
    let employees = sb.employees();
    let victim = employees[10].id.clone();

    assert!(sb.delete_employee(&victim));
    let visible = all_pages(&srv, "/hris/employees", &[], 100).await;
    assert_eq!(visible.len(), 39);
    assert!(visible.iter().all(|e| e["id"] != victim.as_str()));
    let with_deleted =
        all_pages(&srv, "/hris/employees", &[("include_deleted", "true")], 100).await;
    assert_eq!(with_deleted.len(), 40);
    let gone = with_deleted
        .iter()
        .find(|e| e["id"] == victim.as_str())
        .unwrap();
    assert!(gone["remote_deleted_at"].is_string());
    let (s, b) = get(&srv, "/hris/employees", &[("include_deleted", "yes")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_error(&b, "PLATFORM.INPUT_INVALID");

    // Nothing changed after `t`.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let t = Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let after = all_pages(&srv, "/hris/employees", &[("updated_after", &t)], 100).await;
    assert!(after.is_empty());

    // A group rename bumps the group, not its members.
    let dept = sb.groups()[0].clone();
    assert!(sb.rename_group(&dept.id, "Renamed Department"));
    let after = all_pages(&srv, "/hris/employees", &[("updated_after", &t)], 100).await;
    assert!(after.is_empty(), "a rename must not bump employees");
    let groups = all_pages(&srv, "/hris/groups", &[("updated_after", &t)], 100).await;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["name"], "Renamed Department");
    // ...but the embedded name is the new one.
    let all = all_pages(&srv, "/hris/employees", &[], 100).await;
    let member = all
        .iter()
        .find(|e| e["groups"][0]["id"] == dept.id.as_str())
        .unwrap();
    assert_eq!(member["groups"][0]["name"], "Renamed Department");

    // An own change bumps the employee and its reports (manager is a linked record).
    let ceo = employees.iter().find(|e| e.manager_id.is_none()).unwrap();
    assert!(sb.update_employee(&ceo.id, |e| e.job_title =
        Some("Chief Everything Officer".into())));
    let after = all_pages(&srv, "/hris/employees", &[("updated_after", &t)], 100).await;
    let ids: HashSet<&str> = after.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(ids.contains(ceo.id.as_str()));
    let reports: Vec<&str> = employees
        .iter()
        .filter(|e| e.manager_id.as_deref() == Some(ceo.id.as_str()))
        .map(|e| e.id.as_str())
        .collect();
    assert!(!reports.is_empty());
    for r in &reports {
        assert!(ids.contains(r), "report {r} must be bumped");
    }
    assert_eq!(ids.len(), 1 + reports.len());
    let changed = after.iter().find(|e| e["id"] == ceo.id.as_str()).unwrap();
    assert!(changed["changed_at"].as_str().unwrap() > t.as_str());

    // Deletion after t shows up only with include_deleted=true. The sandbox's clock gives each
    // change its own millisecond, so after bumping the CEO's reports it runs a few milliseconds
    // ahead of the wall clock: wait until it is behind again, or the reports look changed
    // after t2.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t2 = Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let leaf = employees
        .iter()
        .find(|e| {
            !employees
                .iter()
                .any(|x| x.manager_id.as_deref() == Some(e.id.as_str()))
                && e.id != victim
        })
        .unwrap();
    sb.delete_employee(&leaf.id);
    let after = all_pages(&srv, "/hris/employees", &[("updated_after", &t2)], 100).await;
    assert!(after.is_empty());
    let after = all_pages(
        &srv,
        "/hris/employees",
        &[("updated_after", &t2), ("include_deleted", "true")],
        100,
    )
    .await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["id"], leaf.id.as_str());

    for bad in ["yesterday", "2024-13-01T00:00:00Z", "2024-01-01"] {
        let (s, b) = get(&srv, "/hris/employees", &[("updated_after", bad)]).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert_error(&b, "PLATFORM.INPUT_INVALID");
    }
    srv.shutdown().await;
}

#[tokio::test]
async fn filters() {
    let (sb, srv) = start(500).await;
    let employees = sb.employees();
    let ids = format!("{},{}", employees[1].id, employees[7].id);
    let got = all_pages(&srv, "/hris/employees", &[("ids", &ids)], 100).await;
    assert_eq!(got.len(), 2);
    let pending = employees
        .iter()
        .filter(|e| e.employment_status.as_deref() == Some("PENDING"))
        .count();
    let got = all_pages(
        &srv,
        "/hris/employees",
        &[("employment_statuses", "PENDING")],
        100,
    )
    .await;
    assert_eq!(got.len(), pending);
    let (s, _) = get(&srv, "/hris/employees", &[("employment_statuses", "FIRED")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let email = employees[3].work_email.clone().unwrap().to_uppercase();
    let got = all_pages(&srv, "/hris/employees", &[("work_emails", &email)], 100).await;
    assert_eq!(got.len(), 1);
    srv.shutdown().await;
}

#[tokio::test]
async fn setup_pending_answers_409() {
    let (sb, srv) = start(5).await;
    sb.set_setup_pending(true);
    for path in ["/hris/employees", "/hris/groups", "/hris/locations"] {
        let (s, b) = get(&srv, path, &[]).await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_error(&b, "INTEGRATION.SETUP_SYNC_PENDING");
    }
    sb.set_setup_pending(false);
    let (s, _) = get(&srv, "/hris/employees", &[]).await;
    assert_eq!(s, StatusCode::OK);
    srv.shutdown().await;
}

#[tokio::test]
async fn fail_after_pages_fails_mid_pagination() {
    let (sb, srv) = start(50).await;
    sb.fail_after_pages(Some(2));
    let (s, p1) = get(&srv, "/hris/employees", &[("page_size", "10")]).await;
    assert_eq!(s, StatusCode::OK);
    let c1 = p1["data"]["next"].as_str().unwrap().to_string();
    let (s, p2) = get(
        &srv,
        "/hris/employees",
        &[("page_size", "10"), ("cursor", &c1)],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let c2 = p2["data"]["next"].as_str().unwrap().to_string();
    for _ in 0..2 {
        let (s, b) = get(
            &srv,
            "/hris/employees",
            &[("page_size", "10"), ("cursor", &c2)],
        )
        .await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_error(&b, "REMOTE.SERVICE_UNAVAILABLE");
    }
    // A new listing starts at page 1 again.
    let (s, _) = get(&srv, "/hris/employees", &[("page_size", "10")]).await;
    assert_eq!(s, StatusCode::OK);
    sb.fail_after_pages(None);
    let (s, p3) = get(
        &srv,
        "/hris/employees",
        &[("page_size", "10"), ("cursor", &c2)],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p3["data"]["results"].as_array().unwrap().len(), 10);
    srv.shutdown().await;
}

#[tokio::test]
async fn drop_stops_the_server() {
    let (_sb, srv) = start(1).await;
    let addr = srv.addr;
    drop(srv);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn employees_can_be_changed_and_purged_by_hand() {
    let (sb, srv) = start(5).await;
    let root = srv.base_url.trim_end_matches("/v1").to_string();
    let id = sb.employees()[0].id.clone();
    let before = sb.employees()[0].changed_at;
    let http = reqwest::Client::new();
    let patched = http
        .patch(format!("{root}/_sandbox/employees/{id}"))
        .json(&serde_json::json!({"job_title": "Chief Tester", "employment_status": "INACTIVE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let employee = sb.employees().into_iter().find(|e| e.id == id).unwrap();
    assert_eq!(employee.job_title.as_deref(), Some("Chief Tester"));
    assert_eq!(employee.employment_status.as_deref(), Some("INACTIVE"));
    assert!(employee.changed_at > before, "Kombo reports the change");

    let bad = http
        .patch(format!("{root}/_sandbox/employees/{id}"))
        .json(&serde_json::json!({"start_date": "not a date"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let missing = http
        .delete(format!("{root}/_sandbox/employees/nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let purged = http
        .delete(format!("{root}/_sandbox/employees/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(purged.status(), StatusCode::OK);
    let (_, listing) = get(&srv, "/hris/employees", &[("include_deleted", "true")]).await;
    let ids: Vec<&str> = listing["data"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&id.as_str()), "gone from every listing");
    srv.shutdown().await;
}

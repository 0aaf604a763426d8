//! The Kombo models decode every response the OpenAPI spec allows: the spec's own examples,
//! nullable fields as null, optional keys missing, and open enums carrying raw HRIS strings.

use sync_core::kombo::{
    Employee, EmploymentStatus, ErrorEnvelope, Group, GroupType, Location, PageEnvelope,
    WebhookEvent,
};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn decodes_the_specs_employee_example() {
    let page: PageEnvelope<Employee> =
        serde_json::from_str(&fixture("kombo_employees_example.json")).unwrap();
    assert_eq!(page.status, "success");
    assert!(page.data.next.is_some());
    let e = &page.data.results[0];
    assert_eq!(e.id, "26vafvWSRmbhNcxJYqjCzuJg");
    assert_eq!(e.employment_status, Some(EmploymentStatus::Inactive));
    assert_eq!(e.work_email.as_deref(), Some("john.doe@acme.com"));
    assert_eq!(e.groups[0].group_type, Some(GroupType::Team));
    assert_eq!(
        e.start_date.unwrap().to_rfc3339(),
        "2020-04-07T00:00:00+00:00"
    );
    assert!(e.work_location.is_some());
}

#[test]
fn decodes_the_specs_group_and_location_examples() {
    let groups: PageEnvelope<Group> =
        serde_json::from_str(&fixture("kombo_groups_example.json")).unwrap();
    assert_eq!(
        groups.data.results[0].parent_id.as_deref(),
        Some("KGaJ5XaVPob8mYVfD49W4DGB")
    );
    let locations: PageEnvelope<Location> =
        serde_json::from_str(&fixture("kombo_locations_example.json")).unwrap();
    assert!(locations.data.results[0].remote_deleted_at.is_some());
}

#[test]
fn every_nullable_field_may_be_null() {
    let mut page: serde_json::Value =
        serde_json::from_str(&fixture("kombo_employees_example.json")).unwrap();
    let employee = page["data"]["results"][0].as_object_mut().unwrap();
    let required_non_null = [
        "id",
        "remote_id",
        "changed_at",
        "integration_fields",
        "employments",
        "time_off_balances",
        "groups",
        "teams",
    ];
    for (key, value) in employee.iter_mut() {
        if !required_non_null.contains(&key.as_str()) {
            *value = serde_json::Value::Null;
        }
    }
    let page: PageEnvelope<Employee> = serde_json::from_value(page).unwrap();
    let e = &page.data.results[0];
    assert_eq!(e.first_name, None);
    assert_eq!(e.employment_status, None);
    assert_eq!(e.work_location, None);
    assert_eq!(e.custom_fields, None);
}

#[test]
fn optional_keys_may_be_missing_and_arrays_may_be_null() {
    let minimal = r#"{"status":"success","data":{"next":null,"results":[
        {"id":"a1","remote_id":"1","changed_at":"2026-01-01T00:00:00.000Z","groups":null,"integration_fields":null}
    ]}}"#;
    let page: PageEnvelope<Employee> = serde_json::from_str(minimal).unwrap();
    let e = &page.data.results[0];
    assert!(e.groups.is_empty());
    assert!(e.integration_fields.is_empty());
    assert_eq!(e.work_email, None);
    assert_eq!(page.data.next, None);
}

#[test]
fn open_enums_keep_the_raw_hris_string() {
    let body = r#"{"id":"a1","remote_id":"1","employment_status":"Probezeit","changed_at":"2026-01-01T00:00:00Z",
        "groups":[{"id":"g","remote_id":"g","name":"X","type":"SQUAD"}]}"#;
    let e: Employee = serde_json::from_str(body).unwrap();
    assert_eq!(
        e.employment_status,
        Some(EmploymentStatus::Other("Probezeit".into()))
    );
    assert_eq!(
        e.groups[0].group_type,
        Some(GroupType::Other("SQUAD".into()))
    );
    // And they serialise back unchanged.
    let again = serde_json::to_value(&e).unwrap();
    assert_eq!(again["employment_status"], "Probezeit");
}

#[test]
fn decodes_the_error_envelope() {
    let body = r#"{"status":"error","error":{"code":"INTEGRATION.SETUP_SYNC_PENDING","title":null,"message":"The initial sync is still running.","log_url":null}}"#;
    let err: ErrorEnvelope = serde_json::from_str(body).unwrap();
    assert_eq!(
        err.error.code.as_deref(),
        Some("INTEGRATION.SETUP_SYNC_PENDING")
    );
    let bare = r#"{"status":"error","error":{"message":"boom"}}"#;
    let err: ErrorEnvelope = serde_json::from_str(bare).unwrap();
    assert_eq!(err.error.code, None);
}

#[test]
fn reads_webhook_events_of_every_kind() {
    let changed: WebhookEvent = serde_json::from_str(r#"{"id":"e1","type":"data-changed","data":{"integration_id":"personio:X","integration_tool":"personio","integration_category":"HRIS","changed_models":[{"name":"hris_absences"}]}}"#).unwrap();
    assert_eq!(changed.integration_id(), Some("personio:X"));
    assert!(!changed.needs_sync(), "absences do not affect users");
    let created: WebhookEvent = serde_json::from_str(r#"{"id":"e2","type":"integration-created","data":{"id":"personio:Y","tool":"personio","category":"HRIS","end_user":{"organization_name":"Acme","creator_email":null,"origin_id":null}}}"#).unwrap();
    assert_eq!(created.integration_id(), Some("personio:Y"));
    assert!(!created.needs_sync());
}

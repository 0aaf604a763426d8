//! Builders shared by the integration tests of sync-core.

use chrono::{TimeZone, Utc};
use sync_core::kombo::{Employee, EmployeeGroup, EmploymentStatus, GroupType};

/// An employee with a work email, a start in the past and one department, Engineering.
pub fn employee(id: &str, status: EmploymentStatus) -> Employee {
    Employee {
        id: id.into(),
        first_name: Some(format!("First{id}")),
        last_name: Some("Last".into()),
        work_email: Some(format!("{id}@acme.example")),
        job_title: Some("Engineer".into()),
        employment_status: Some(status),
        start_date: Some(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()),
        groups: vec![EmployeeGroup {
            id: "dep-eng".into(),
            remote_id: None,
            name: Some("Engineering".into()),
            group_type: Some(GroupType::Department),
        }],
        ..Default::default()
    }
}

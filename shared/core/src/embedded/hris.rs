//! The HRIS in memory: employees, groups and locations as Kombo would list them.

use crate::error::SourceError;
use crate::kombo::{Employee, Group, Location};
use crate::ports::{CallStats, HrisSource, ListQuery};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

/// Kombo's listings over records held in memory. Like Kombo's, a listing includes deleted
/// records and keeps the order records were first added in. A listing's `updated_after` keeps
/// the records whose `changed_at` is after it, and those without one (their change time is not
/// known, so a delta cannot rule them out); `ids` keeps the records named.
#[derive(Default)]
pub struct InMemoryHris {
    data: Mutex<Data>,
}

#[derive(Default)]
struct Data {
    employees: Vec<Employee>,
    groups: Vec<Group>,
    locations: Vec<Location>,
    /// Errors the next listings fail with, in order.
    failures: VecDeque<SourceError>,
    calls: CallStats,
}

impl InMemoryHris {
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().expect("in-memory HRIS lock")
    }

    /// Adds an employee, or replaces the one with its id (keeping its place).
    pub fn put_employee(&self, employee: Employee) {
        upsert(&mut self.data().employees, employee, |e| &e.id);
    }

    pub fn put_group(&self, group: Group) {
        upsert(&mut self.data().groups, group, |g| &g.id);
    }

    pub fn put_location(&self, location: Location) {
        upsert(&mut self.data().locations, location, |l| &l.id);
    }

    /// The next listing fails with `error` (each call takes one, in order).
    pub fn fail_next(&self, error: SourceError) {
        self.data().failures.push_back(error);
    }

    /// Counts one call of `endpoint`, and hands over the failure it was given, if any.
    fn call(&self, endpoint: &str) -> Result<MutexGuard<'_, Data>, SourceError> {
        let mut data = self.data();
        *data.calls.entry(endpoint.to_string()).or_default() += 1;
        match data.failures.pop_front() {
            Some(error) => Err(error),
            None => Ok(data),
        }
    }
}

fn upsert<T>(records: &mut Vec<T>, record: T, id: impl Fn(&T) -> &String) {
    match records.iter().position(|r| id(r) == id(&record)) {
        Some(i) => records[i] = record,
        None => records.push(record),
    }
}

fn listed<T: Clone>(
    records: &[T],
    query: &ListQuery,
    id: impl Fn(&T) -> &String,
    changed_at: impl Fn(&T) -> Option<DateTime<Utc>>,
) -> Vec<T> {
    records
        .iter()
        .filter(|r| {
            query
                .ids
                .as_ref()
                .is_none_or(|ids| ids.iter().any(|i| i == id(r)))
        })
        .filter(|r| match (query.updated_after, changed_at(r)) {
            (Some(after), Some(changed)) => changed > after,
            _ => true,
        })
        .cloned()
        .collect()
}

#[async_trait]
impl HrisSource for InMemoryHris {
    async fn list_employees(&self, query: &ListQuery) -> Result<Vec<Employee>, SourceError> {
        let data = self.call("GET /hris/employees")?;
        Ok(listed(&data.employees, query, |e| &e.id, |e| e.changed_at))
    }

    async fn list_groups(&self, query: &ListQuery) -> Result<Vec<Group>, SourceError> {
        let data = self.call("GET /hris/groups")?;
        Ok(listed(&data.groups, query, |g| &g.id, |g| g.changed_at))
    }

    async fn list_locations(&self, query: &ListQuery) -> Result<Vec<Location>, SourceError> {
        let data = self.call("GET /hris/locations")?;
        Ok(listed(&data.locations, query, |l| &l.id, |l| l.changed_at))
    }

    fn call_stats(&self) -> CallStats {
        self.data().calls.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn employee(id: &str, changed_day: Option<u32>) -> Employee {
        Employee {
            id: id.into(),
            changed_at: changed_day.map(|d| Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).unwrap()),
            ..Employee::default()
        }
    }

    fn ids(employees: &[Employee]) -> Vec<&str> {
        employees.iter().map(|e| e.id.as_str()).collect()
    }

    #[tokio::test]
    async fn a_delta_keeps_what_changed_after_its_start_and_what_has_no_change_time() {
        let hris = InMemoryHris::new();
        hris.put_employee(employee("old", Some(1)));
        hris.put_employee(employee("new", Some(20)));
        hris.put_employee(employee("undated", None));
        hris.put_employee(employee("old", Some(2))); // replaced in place
        let delta = ListQuery {
            updated_after: Some(Utc.with_ymd_and_hms(2026, 11, 10, 0, 0, 0).unwrap()),
            ids: None,
        };
        let all = hris.list_employees(&ListQuery::default()).await.unwrap();
        assert_eq!(ids(&all), ["old", "new", "undated"]);
        let changed = hris.list_employees(&delta).await.unwrap();
        assert_eq!(ids(&changed), ["new", "undated"]);
        let one = ListQuery {
            ids: Some(vec!["undated".into()]),
            ..ListQuery::default()
        };
        assert_eq!(ids(&hris.list_employees(&one).await.unwrap()), ["undated"]);
    }

    #[tokio::test]
    async fn a_failure_is_handed_to_the_next_listing_only_and_every_call_is_counted() {
        let hris = InMemoryHris::new();
        hris.put_employee(employee("e1", None));
        hris.fail_next(SourceError::NotReady {
            code: "INTEGRATION.SETUP_SYNC_PENDING".into(),
        });
        let query = ListQuery::default();
        let err = hris.list_employees(&query).await.unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        assert_eq!(hris.list_employees(&query).await.unwrap().len(), 1);
        assert_eq!(hris.call_stats()["GET /hris/employees"], 2);
    }
}

//! The embedded state store: per tenant, an append-only log of JSON lines in a directory (or
//! nothing at all, in memory for tests).
//!
//! Crash safety: every record is one `write` of a whole line, so a process killed at any point
//! leaves at most a torn last line, which is ignored on the next open; the record before it is
//! intact. Compaction writes a new log to a temporary file, syncs it and renames it over the
//! old one, which is atomic. Together with the applier's "record after Learn Amp accepted" order
//! (see `applier`), a killed run never leads the next one to duplicate a user.

use crate::error::StoreError;
use crate::ports::{EmployeeStates, StateStore};
use crate::report::{ActionRecord, ApplyOutcome, RunReport};
use crate::state::{EmployeeState, TeamState};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const REPORTS_KEPT: usize = 50;

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
enum Entry {
    Employee(EmployeeState),
    Team(TeamState),
    Cursor(DateTime<Utc>),
    Report(Box<RunReport>),
    ApplyFailure {
        run_id: String,
        failure: ActionRecord,
    },
    ApplyOutcome {
        run_id: String,
        outcome: ApplyOutcome,
    },
}

#[derive(Default)]
struct TenantData {
    /// Shared with the runs that read it; a write copies it only while a reader still holds it.
    employees: EmployeeStates,
    teams: HashMap<String, TeamState>,
    cursor: Option<DateTime<Utc>>,
    reports: VecDeque<RunReport>,
    log: Option<File>,
    log_path: Option<PathBuf>,
}

impl TenantData {
    fn apply(&mut self, entry: Entry) {
        match entry {
            Entry::Employee(s) => {
                Arc::make_mut(&mut self.employees).insert(s.employee_id.clone(), s);
            }
            Entry::Team(t) => {
                self.teams.insert(t.group_id.clone(), t);
            }
            Entry::Cursor(c) => self.cursor = Some(c),
            Entry::Report(r) => {
                self.reports.push_back(*r);
                while self.reports.len() > REPORTS_KEPT {
                    self.reports.pop_front();
                }
            }
            Entry::ApplyFailure { run_id, failure } => {
                // A failure of a run no longer kept is dropped with it.
                if let Some(report) = self.reports.iter_mut().find(|r| r.run_id == run_id) {
                    report.absorb_apply_failure(failure);
                }
            }
            Entry::ApplyOutcome { run_id, outcome } => {
                if let Some(report) = self.reports.iter_mut().find(|r| r.run_id == run_id) {
                    report.absorb_apply_outcome(outcome);
                }
            }
        }
    }

    fn live_entries(&self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut employees: Vec<_> = self.employees.values().cloned().collect();
        employees.sort_by(|a, b| a.employee_id.cmp(&b.employee_id));
        entries.extend(employees.into_iter().map(Entry::Employee));
        let mut teams: Vec<_> = self.teams.values().cloned().collect();
        teams.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        entries.extend(teams.into_iter().map(Entry::Team));
        entries.extend(self.cursor.map(Entry::Cursor));
        entries.extend(
            self.reports
                .iter()
                .cloned()
                .map(|r| Entry::Report(Box::new(r))),
        );
        entries
    }

    fn record(&mut self, entry: Entry) -> Result<(), StoreError> {
        if let (None, Some(path)) = (&self.log, &self.log_path) {
            // Opened on the first write, so that reading (a dry run) leaves no file behind.
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
            }
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| io(path, source))?;
            self.log = Some(log);
        }
        if let (Some(log), Some(path)) = (&mut self.log, &self.log_path) {
            let mut line =
                serde_json::to_vec(&entry).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            line.push(b'\n');
            log.write_all(&line).map_err(|source| io(path, source))?;
        }
        self.apply(entry);
        Ok(())
    }
}

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Tenant ids contain ':' (`personio:...`); file names get a reversible, collision-free form.
fn file_name_for(tenant: &str) -> String {
    tenant
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' => (b as char).to_string(),
            other => format!("_{other:02x}"),
        })
        .collect()
}

pub struct EmbeddedStore {
    dir: Option<PathBuf>,
    tenants: Mutex<HashMap<String, TenantData>>,
}

impl EmbeddedStore {
    /// A store that keeps nothing after the process ends.
    pub fn in_memory() -> Self {
        Self {
            dir: None,
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// A store in `dir`, created if missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        if dir.exists() && !dir.is_dir() {
            return Err(io(&dir, std::io::Error::other("not a directory")));
        }
        Ok(Self {
            dir: Some(dir),
            tenants: Mutex::new(HashMap::new()),
        })
    }

    fn load(&self, tenant: &str) -> Result<TenantData, StoreError> {
        let Some(dir) = &self.dir else {
            return Ok(TenantData::default());
        };
        let path = dir.join(format!("{}.jsonl", file_name_for(tenant)));
        let mut data = TenantData::default();
        let mut lines = 0usize;
        if path.exists() {
            let file = File::open(&path).map_err(|source| io(&path, source))?;
            // A torn last line from a killed process is the only undecodable line possible;
            // one anywhere else is damage, and skipping it would forget what it recorded.
            let mut undecodable: Option<(usize, serde_json::Error)> = None;
            for line in BufReader::new(file).split(b'\n') {
                let line = line.map_err(|source| io(&path, source))?;
                lines += 1;
                if let Some((number, e)) = undecodable.take() {
                    return Err(StoreError::Corrupt(format!(
                        "{}: line {number} is not a record ({:?} error at column {}); restore the file from a backup, or remove the line to forget what it recorded",
                        path.display(),
                        e.classify(),
                        e.column()
                    )));
                }
                match serde_json::from_slice::<Entry>(&line) {
                    Ok(entry) => data.apply(entry),
                    Err(e) => undecodable = Some((lines, e)),
                }
            }
        }
        // Rewrite the log when it is mostly superseded records (and always after a torn write).
        let live = data.employees.len() + data.teams.len() + data.reports.len() + 1;
        if lines > 2 * live + 100 || (lines > 0 && !ends_with_newline(&path)) {
            compact(&path, &data.live_entries())?;
        }
        data.log_path = Some(path);
        Ok(data)
    }

    fn with_tenant<R>(
        &self,
        tenant: &str,
        f: impl FnOnce(&mut TenantData) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut tenants = self
            .tenants
            .lock()
            .map_err(|_| StoreError::Unavailable("a writer panicked".into()))?;
        if !tenants.contains_key(tenant) {
            let data = self.load(tenant)?;
            tenants.insert(tenant.to_string(), data);
        }
        f(tenants.get_mut(tenant).expect("just inserted"))
    }
}

/// Reads the last byte only: the log of a large company is many megabytes.
fn ends_with_newline(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = File::open(path) else {
        return true;
    };
    let mut last = [0u8; 1];
    match file.seek(SeekFrom::End(-1)) {
        Ok(_) => file
            .read_exact(&mut last)
            .map_or(true, |()| last[0] == b'\n'),
        // An empty file has no torn line.
        Err(_) => true,
    }
}

fn compact(path: &Path, entries: &[Entry]) -> Result<(), StoreError> {
    let tmp = path.with_extension("jsonl.tmp");
    {
        let mut file = File::create(&tmp).map_err(|source| io(&tmp, source))?;
        let mut buf = Vec::new();
        for entry in entries {
            serde_json::to_writer(&mut buf, entry)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            buf.push(b'\n');
        }
        file.write_all(&buf).map_err(|source| io(&tmp, source))?;
        file.sync_all().map_err(|source| io(&tmp, source))?;
    }
    std::fs::rename(&tmp, path).map_err(|source| io(path, source))
}

#[async_trait]
impl StateStore for EmbeddedStore {
    async fn employees(&self, tenant: &str) -> Result<EmployeeStates, StoreError> {
        self.with_tenant(tenant, |d| Ok(Arc::clone(&d.employees)))
    }

    async fn employee(
        &self,
        tenant: &str,
        employee_id: &str,
    ) -> Result<Option<EmployeeState>, StoreError> {
        self.with_tenant(tenant, |d| Ok(d.employees.get(employee_id).cloned()))
    }

    async fn put_employee(&self, tenant: &str, state: &EmployeeState) -> Result<(), StoreError> {
        self.with_tenant(tenant, |d| d.record(Entry::Employee(state.clone())))
    }

    async fn teams(&self, tenant: &str) -> Result<HashMap<String, TeamState>, StoreError> {
        self.with_tenant(tenant, |d| Ok(d.teams.clone()))
    }

    async fn put_team(&self, tenant: &str, state: &TeamState) -> Result<(), StoreError> {
        self.with_tenant(tenant, |d| d.record(Entry::Team(state.clone())))
    }

    async fn cursor(&self, tenant: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.with_tenant(tenant, |d| Ok(d.cursor))
    }

    async fn put_cursor(
        &self,
        tenant: &str,
        read_started_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with_tenant(tenant, |d| d.record(Entry::Cursor(read_started_at)))
    }

    async fn put_report(&self, tenant: &str, report: &RunReport) -> Result<(), StoreError> {
        self.with_tenant(tenant, |d| {
            d.record(Entry::Report(Box::new(report.clone())))
        })
    }

    async fn reports(&self, tenant: &str, limit: usize) -> Result<Vec<RunReport>, StoreError> {
        self.with_tenant(tenant, |d| {
            Ok(d.reports.iter().rev().take(limit).cloned().collect())
        })
    }

    async fn put_apply_failure(
        &self,
        tenant: &str,
        run_id: &str,
        failure: &ActionRecord,
    ) -> Result<(), StoreError> {
        self.with_tenant(tenant, |d| {
            d.record(Entry::ApplyFailure {
                run_id: run_id.to_string(),
                failure: failure.clone(),
            })
        })
    }

    async fn put_apply_outcome(
        &self,
        tenant: &str,
        run_id: &str,
        outcome: &ApplyOutcome,
    ) -> Result<(), StoreError> {
        self.with_tenant(tenant, |d| {
            d.record(Entry::ApplyOutcome {
                run_id: run_id.to_string(),
                outcome: outcome.clone(),
            })
        })
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let tenants = self
            .tenants
            .lock()
            .map_err(|_| StoreError::Unavailable("a writer panicked".into()))?;
        for data in tenants.values() {
            if let (Some(log), Some(path)) = (&data.log, &data.log_path) {
                log.sync_data().map_err(|source| io(path, source))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::Field;

    fn state(id: &str, user: u64) -> EmployeeState {
        let mut s = EmployeeState::new(id, Utc::now());
        s.learnamp_user_id = Some(user);
        s.active = true;
        s.applied_fields
            .insert(Field::Email, "00000000000abcde".parse().unwrap());
        s
    }

    #[tokio::test]
    async fn survives_reopen_and_keeps_the_latest_record() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = "personio:T1";
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            store.put_employee(tenant, &state("e1", 1)).await.unwrap();
            store.put_employee(tenant, &state("e1", 2)).await.unwrap();
            store.put_employee(tenant, &state("e2", 3)).await.unwrap();
            store.put_cursor(tenant, Utc::now()).await.unwrap();
            store.flush().await.unwrap();
        }
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let employees = store.employees(tenant).await.unwrap();
        assert_eq!(employees.len(), 2);
        assert_eq!(employees["e1"].learnamp_user_id, Some(2));
        assert!(store.cursor(tenant).await.unwrap().is_some());
        assert!(store.employees("personio:other").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_torn_last_line_loses_only_that_record() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = "personio:T1";
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            store.put_employee(tenant, &state("e1", 1)).await.unwrap();
            store.put_employee(tenant, &state("e2", 2)).await.unwrap();
        }
        // Simulate a kill in the middle of writing the second record.
        let path = dir.path().join(format!("{}.jsonl", file_name_for(tenant)));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();

        let store = EmbeddedStore::open(dir.path()).unwrap();
        let employees = store.employees(tenant).await.unwrap();
        assert_eq!(employees.len(), 1);
        assert_eq!(employees["e1"].learnamp_user_id, Some(1));
        // Writing after recovery appends to a clean log.
        store.put_employee(tenant, &state("e3", 3)).await.unwrap();
        drop(store);
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(store.employees(tenant).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_damaged_line_before_the_last_is_an_error_not_a_forgotten_record() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = "t";
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            for (id, user) in [("e1", 1), ("e2", 2), ("e3", 3)] {
                store.put_employee(tenant, &state(id, user)).await.unwrap();
            }
        }
        let path = dir.path().join(format!("{}.jsonl", file_name_for(tenant)));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let damaged = format!("{}\n{}\n{}\n", lines[0], &lines[1][..10], lines[2]);
        std::fs::write(&path, damaged).unwrap();

        let store = EmbeddedStore::open(dir.path()).unwrap();
        match store.employees(tenant).await {
            Err(StoreError::Corrupt(message)) => assert!(message.contains("line 2"), "{message}"),
            other => panic!("expected a corrupt-store error, got {other:?}"),
        }
        // Nothing was rewritten: the record is still there to be restored.
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
    }

    #[tokio::test]
    async fn compacts_superseded_records() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = "t";
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            for i in 0..500 {
                store.put_employee(tenant, &state("e1", i)).await.unwrap();
            }
        }
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(
            store
                .employee(tenant, "e1")
                .await
                .unwrap()
                .unwrap()
                .learnamp_user_id,
            Some(499)
        );
        let path = dir.path().join("t.jsonl");
        let lines = std::fs::read_to_string(path).unwrap().lines().count();
        assert!(
            lines <= 2,
            "compacted to the live records, got {lines} lines"
        );
    }

    #[test]
    fn file_names_are_safe_and_distinct() {
        assert_eq!(file_name_for("personio:AB/c"), "personio_3aAB_2fc");
        assert_ne!(file_name_for("a:b"), file_name_for("a_3ab"));
    }
}

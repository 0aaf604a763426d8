//! The embedded state store: per tenant, an append-only log of JSON lines in a directory (or
//! nothing at all, in memory for tests).
//!
//! Crash safety: every record is one `write` of a whole line, so a process killed at any point
//! leaves at most a torn last line (no newline at its end), which is dropped on the next open;
//! the record before it is intact. A complete line that holds no record this build can read
//! (damage, or a record type of a newer build) is an error before anything is written, never
//! skipped: `check_log` finds such lines and `repair_log` drops them, keeping a backup.
//!
//! Every record carries its format (`"format":1`); a record without one is format 1. A record
//! of a newer format is refused, so an older build never half-reads what a newer one wrote. Compaction writes a new log to a temporary file, syncs it and renames it over the
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

/// The format of the records this build writes, and the newest it reads.
pub const FORMAT: u32 = 1;

/// What is written for a record: its format, then the record.
#[derive(Serialize)]
struct Line<'a> {
    format: u32,
    #[serde(flatten)]
    entry: &'a Entry,
}

/// The format of a line, read before the record (an older record has none: format 1).
#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    format: Option<u32>,
}

fn encode(entry: &Entry, buf: &mut Vec<u8>) -> Result<(), StoreError> {
    serde_json::to_writer(
        &mut *buf,
        &Line {
            format: FORMAT,
            entry,
        },
    )
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    buf.push(b'\n');
    Ok(())
}

/// One complete line of the log, decoded. Lives for one line; a box would cost an allocation
/// per record read.
#[allow(clippy::large_enum_variant)]
enum Decoded {
    Record(Entry),
    Blank,
    Newer(u32),
    Undecodable,
}

fn decode(line: &[u8]) -> Decoded {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Decoded::Blank;
    }
    match serde_json::from_slice::<Header>(line) {
        Ok(Header {
            format: Some(format),
        }) if format > FORMAT => Decoded::Newer(format),
        Ok(_) => match serde_json::from_slice::<Entry>(line) {
            Ok(entry) => Decoded::Record(entry),
            Err(_) => Decoded::Undecodable,
        },
        Err(_) => Decoded::Undecodable,
    }
}

/// Reads a log line by line: each complete line (newline included) and whether the last one is
/// torn (no newline: a write cut off by a kill).
fn for_each_line(
    path: &Path,
    mut f: impl FnMut(usize, &[u8]) -> Result<(), StoreError>,
) -> Result<LineCount, StoreError> {
    let file = File::open(path).map_err(|source| io(path, source))?;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut count = LineCount::default();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| io(path, source))?;
        if read == 0 {
            return Ok(count);
        }
        if line.last() != Some(&b'\n') {
            count.torn_last = true;
            return Ok(count);
        }
        count.complete += 1;
        f(count.complete, &line[..line.len() - 1])?;
    }
}

#[derive(Default)]
struct LineCount {
    complete: usize,
    torn_last: bool,
}

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
            let mut line = Vec::new();
            encode(&entry, &mut line)?;
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
        let mut torn = false;
        if path.exists() {
            // Nothing is applied from a log with a line this build cannot read: the caller gets
            // every such line number, and the file is left as it was.
            let mut undecodable = Vec::new();
            let count = for_each_line(&path, |number, line| {
                match decode(line) {
                    Decoded::Record(entry) => data.apply(entry),
                    Decoded::Blank => {}
                    Decoded::Newer(format) => {
                        return Err(StoreError::NewerFormat {
                            path: path.display().to_string(),
                            line: number,
                            format,
                            supported: FORMAT,
                        })
                    }
                    Decoded::Undecodable => undecodable.push(number),
                }
                Ok(())
            })?;
            if !undecodable.is_empty() {
                return Err(StoreError::Undecodable {
                    path: path.display().to_string(),
                    dir: dir.display().to_string(),
                    lines: undecodable,
                });
            }
            lines = count.complete + usize::from(count.torn_last);
            torn = count.torn_last;
        }
        // Rewrite the log when it is mostly superseded records (and always after a torn write).
        let live = data.employees.len() + data.teams.len() + data.reports.len() + 1;
        if lines > 2 * live + 100 || torn {
            compact(&path, &data.live_entries())?;
        }
        data.log_path = Some(path);
        Ok(data)
    }

    /// Reads a tenant's log now, so that a log this build cannot read is reported before a
    /// run calls anyone.
    pub fn preload(&self, tenant: &str) -> Result<(), StoreError> {
        self.with_tenant(tenant, |_| Ok(()))
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

fn compact(path: &Path, entries: &[Entry]) -> Result<(), StoreError> {
    let tmp = path.with_extension("jsonl.tmp");
    {
        let mut file = File::create(&tmp).map_err(|source| io(&tmp, source))?;
        let mut buf = Vec::new();
        for entry in entries {
            encode(entry, &mut buf)?;
        }
        file.write_all(&buf).map_err(|source| io(&tmp, source))?;
        file.sync_all().map_err(|source| io(&tmp, source))?;
    }
    std::fs::rename(&tmp, path).map_err(|source| io(path, source))
}

/// What `check_log` found in one log: line numbers only, never a line's content.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogCheck {
    /// Complete lines holding a record this build reads.
    pub records: usize,
    /// Complete lines holding no record this build can read.
    pub undecodable: Vec<usize>,
    /// Lines of a newer format, with it: readable only by a newer build.
    pub newer: Vec<(usize, u32)>,
    /// The last line has no newline: a write cut off by a kill, dropped on the next open.
    pub torn_last: bool,
}

impl LogCheck {
    /// Whether a run can read this log (a torn last line is dropped on open).
    pub fn is_ok(&self) -> bool {
        self.undecodable.is_empty() && self.newer.is_empty()
    }
}

/// The tenants' logs in a state directory, sorted.
pub fn log_files(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut logs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|source| io(dir, source))? {
        let path = entry.map_err(|source| io(dir, source))?.path();
        if path.extension().is_some_and(|e| e == "jsonl") && path.is_file() {
            logs.push(path);
        }
    }
    logs.sort();
    Ok(logs)
}

/// Reads a log and says which lines a run could not read. Changes nothing.
pub fn check_log(path: &Path) -> Result<LogCheck, StoreError> {
    let mut check = LogCheck::default();
    let count = for_each_line(path, |number, line| {
        match decode(line) {
            Decoded::Record(_) => check.records += 1,
            Decoded::Blank => {}
            Decoded::Newer(format) => check.newer.push((number, format)),
            Decoded::Undecodable => check.undecodable.push(number),
        }
        Ok(())
    })?;
    check.torn_last = count.torn_last;
    Ok(check)
}

/// What `repair_log` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// Nothing to drop; the log is untouched.
    Clean,
    /// The undecodable lines (by number) were dropped, and a torn last line if there was one;
    /// the log as it was is kept at `backup`.
    Repaired {
        dropped: Vec<usize>,
        torn_last: bool,
        backup: PathBuf,
    },
}

/// Drops the complete lines that hold no readable record (and a torn last line), after copying
/// the log to `<log>.backup-<UTC time>` next to it. A log with a record of a newer format is
/// refused and left as it is: that record is not damage, and a newer build reads it. The new
/// log replaces the old one atomically; the lines kept are kept byte for byte.
pub fn repair_log(path: &Path) -> Result<Repair, StoreError> {
    let check = check_log(path)?;
    if let Some(&(line, format)) = check.newer.first() {
        return Err(StoreError::NewerFormat {
            path: path.display().to_string(),
            line,
            format,
            supported: FORMAT,
        });
    }
    if check.undecodable.is_empty() && !check.torn_last {
        return Ok(Repair::Clean);
    }
    let stamp = Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let mut backup = PathBuf::from(format!("{}.backup-{stamp}", path.display()));
    let mut n = 1;
    while backup.exists() {
        n += 1;
        backup = PathBuf::from(format!("{}.backup-{stamp}-{n}", path.display()));
    }
    std::fs::copy(path, &backup).map_err(|source| io(&backup, source))?;
    File::open(&backup)
        .and_then(|f| f.sync_all())
        .map_err(|source| io(&backup, source))?;

    let tmp = path.with_extension("jsonl.tmp");
    {
        let mut kept = Vec::new();
        let dropped = &check.undecodable;
        for_each_line(path, |number, line| {
            if dropped.binary_search(&number).is_err() {
                kept.extend_from_slice(line);
                kept.push(b'\n');
            }
            Ok(())
        })?;
        let mut file = File::create(&tmp).map_err(|source| io(&tmp, source))?;
        file.write_all(&kept).map_err(|source| io(&tmp, source))?;
        file.sync_all().map_err(|source| io(&tmp, source))?;
    }
    std::fs::rename(&tmp, path).map_err(|source| io(path, source))?;
    Ok(Repair::Repaired {
        dropped: check.undecodable,
        torn_last: check.torn_last,
        backup,
    })
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
    use crate::fields::Field;

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
            Err(e @ StoreError::Undecodable { .. }) => {
                assert!(e.to_string().contains("line 2 is not a record"), "{e}")
            }
            other => panic!("expected an undecodable-line error, got {other:?}"),
        }
        // Nothing was rewritten: the record is still there to be restored.
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
    }

    fn log_of(dir: &Path, tenant: &str) -> PathBuf {
        dir.join(format!("{}.jsonl", file_name_for(tenant)))
    }

    async fn three_records(dir: &Path, tenant: &str) -> Vec<String> {
        let store = EmbeddedStore::open(dir).unwrap();
        for (id, user) in [("e1", 1), ("e2", 2), ("e3", 3)] {
            store.put_employee(tenant, &state(id, user)).await.unwrap();
        }
        let text = std::fs::read_to_string(log_of(dir, tenant)).unwrap();
        text.lines().map(str::to_string).collect()
    }

    /// What an older build sees after a newer one added a record type without a new format.
    const UNKNOWN_RECORD: &str = r#"{"format":1,"t":"employee_note","v":{"employee_id":"e9"}}"#;

    #[tokio::test]
    async fn every_record_carries_its_format_and_records_without_one_are_format_1() {
        let dir = tempfile::tempdir().unwrap();
        let lines = three_records(dir.path(), "t").await;
        assert!(
            lines.iter().all(|l| l.starts_with(r#"{"format":1,"t":"#)),
            "{lines:?}"
        );
        // A log written before records had a format.
        let old: Vec<String> = lines
            .iter()
            .map(|l| l.replace(r#""format":1,"#, ""))
            .collect();
        std::fs::write(log_of(dir.path(), "t"), old.join("\n") + "\n").unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(store.employees("t").await.unwrap().len(), 3);
        assert!(check_log(&log_of(dir.path(), "t")).unwrap().is_ok());
    }

    #[tokio::test]
    async fn a_complete_unknown_record_is_an_error_even_as_the_last_line_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = "t";
        let lines = three_records(dir.path(), tenant).await;
        let path = log_of(dir.path(), tenant);
        for at in [1, 3] {
            let mut edited = lines.clone();
            edited.insert(at, UNKNOWN_RECORD.to_string());
            let text = edited.join("\n") + "\n";
            std::fs::write(&path, &text).unwrap();
            let store = EmbeddedStore::open(dir.path()).unwrap();
            let err = store
                .put_employee(tenant, &state("e4", 4))
                .await
                .unwrap_err();
            let message = err.to_string();
            assert!(
                matches!(&err, StoreError::Undecodable { lines, .. } if lines == &vec![at + 1]),
                "{message}"
            );
            assert!(
                message.contains(&format!("line {} is not a record", at + 1)),
                "{message}"
            );
            assert!(message.contains("state repair --state"), "{message}");
            assert!(!message.contains("employee_note"), "no content: {message}");
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                text,
                "nothing written"
            );
        }
    }

    #[tokio::test]
    async fn a_record_of_a_newer_format_is_refused_and_repair_leaves_it() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = "t";
        let mut lines = three_records(dir.path(), tenant).await;
        let path = log_of(dir.path(), tenant);
        lines[1] = lines[1].replace(r#""format":1"#, r#""format":2"#);
        let text = lines.join("\n") + "\n";
        std::fs::write(&path, &text).unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let err = store.employees(tenant).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("line 2 was written by a newer personio-sync (format 2"),
            "{err}"
        );
        let check = check_log(&path).unwrap();
        assert_eq!(check.newer, vec![(2, 2)]);
        assert!(!check.is_ok());
        assert!(matches!(
            repair_log(&path),
            Err(StoreError::NewerFormat { line: 2, .. })
        ));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "left as it was"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no backup"
        );
    }

    #[tokio::test]
    async fn repair_keeps_a_backup_and_drops_only_the_undecodable_lines() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = "t";
        let mut lines = three_records(dir.path(), tenant).await;
        let path = log_of(dir.path(), tenant);
        lines.insert(1, UNKNOWN_RECORD.to_string());
        lines.insert(3, "{not json".to_string());
        let text = lines.join("\n") + "\n";
        std::fs::write(&path, &text).unwrap();
        assert_eq!(check_log(&path).unwrap().undecodable, vec![2, 4]);

        let Repair::Repaired {
            dropped, backup, ..
        } = repair_log(&path).unwrap()
        else {
            panic!("repaired")
        };
        assert_eq!(dropped, vec![2, 4]);
        assert_eq!(backup.parent(), path.parent());
        assert!(backup
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("t.jsonl.backup-"));
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), text);
        assert!(check_log(&path).unwrap().is_ok());
        assert_eq!(repair_log(&path).unwrap(), Repair::Clean);
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(store.employees(tenant).await.unwrap().len(), 3);
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

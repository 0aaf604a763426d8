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
    // What this build writes starts with its format: the record is then read in one pass, not
    // a pass for the format and another for the record (a log of 50,000 employees is 30 MB).
    if let Some(format) = leading_format(line) {
        if format > FORMAT {
            return Decoded::Newer(format);
        }
        return match serde_json::from_slice::<Entry>(line) {
            Ok(entry) => Decoded::Record(entry),
            Err(_) => Decoded::Undecodable,
        };
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

/// The format of a line that starts exactly as `encode` writes one (`{"format":N,`), else
/// `None`: the line is then read the slow way, which finds the format wherever it is.
fn leading_format(line: &[u8]) -> Option<u32> {
    let rest = line.strip_prefix(br#"{"format":"#)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if !(1..=9).contains(&digits) || rest.get(digits) != Some(&b',') {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Reads a log line by line: each complete line (newline included) and whether the last one is
/// torn (no newline: a write cut off by a kill).
fn for_each_line(
    path: &Path,
    mut f: impl FnMut(usize, &[u8]) -> Result<(), StoreError>,
) -> Result<LineCount, StoreError> {
    let file = File::open(path).map_err(|source| io(path, source))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
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
    /// Logs being read on a thread of their own (`load_in_background`), by tenant; the first
    /// call that needs one waits for it (without blocking its task) and moves it into `tenants`.
    loading: tokio::sync::Mutex<HashMap<String, Loading>>,
}

type Loading = tokio::sync::oneshot::Receiver<Result<TenantData, StoreError>>;

impl EmbeddedStore {
    /// A store that keeps nothing after the process ends.
    pub fn in_memory() -> Self {
        Self {
            dir: None,
            tenants: Mutex::new(HashMap::new()),
            loading: Default::default(),
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
            loading: Default::default(),
        })
    }

    fn load(&self, tenant: &str) -> Result<TenantData, StoreError> {
        load(self.dir.as_deref(), tenant)
    }

    /// Starts reading a tenant's log on a thread of its own, so that a run can read its source
    /// meanwhile: at 50,000 employees the log is some 30 MB, a large part of a short run. A log
    /// this build cannot read is reported by the first call that needs the tenant's data (the
    /// run's read of its state, before it writes anything or calls Learn Amp).
    pub fn load_in_background(&self, tenant: &str) -> Result<(), StoreError> {
        let (send, receive) = tokio::sync::oneshot::channel();
        let dir = self.dir.clone();
        let name = tenant.to_string();
        std::thread::Builder::new()
            .name("state-load".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let loaded = load(dir.as_deref(), &name);
                tracing::debug!(
                    load_ms = started.elapsed().as_millis() as u64,
                    "state log read"
                );
                // No one waits any more when the store was dropped: nothing to do then.
                let _ = send.send(loaded);
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start reading the state: {e}")))?;
        self.loading
            .try_lock()
            .map_err(|_| StoreError::Unavailable("the state is being read".into()))?
            .insert(tenant.to_string(), receive);
        Ok(())
    }

    /// Waits for a tenant's log being read in the background, if it is.
    async fn loaded(&self, tenant: &str) -> Result<(), StoreError> {
        let mut loading = self.loading.lock().await;
        let Some(receive) = loading.remove(tenant) else {
            return Ok(());
        };
        let data = receive
            .await
            .map_err(|_| StoreError::Unavailable("the state's reader stopped".into()))??;
        self.tenants
            .lock()
            .map_err(|_| StoreError::Unavailable("a writer panicked".into()))?
            .insert(tenant.to_string(), data);
        Ok(())
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

/// A tenant's data, read from its log in `dir` (none without a directory: in memory).
fn load(dir: Option<&Path>, tenant: &str) -> Result<TenantData, StoreError> {
    let Some(dir) = dir else {
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
        self.loaded(tenant).await?;
        self.with_tenant(tenant, |d| Ok(Arc::clone(&d.employees)))
    }

    async fn employee(
        &self,
        tenant: &str,
        employee_id: &str,
    ) -> Result<Option<EmployeeState>, StoreError> {
        self.loaded(tenant).await?;
        self.with_tenant(tenant, |d| Ok(d.employees.get(employee_id).cloned()))
    }

    async fn put_employee(&self, tenant: &str, state: &EmployeeState) -> Result<(), StoreError> {
        self.loaded(tenant).await?;
        self.with_tenant(tenant, |d| d.record(Entry::Employee(state.clone())))
    }

    async fn teams(&self, tenant: &str) -> Result<HashMap<String, TeamState>, StoreError> {
        self.loaded(tenant).await?;
        self.with_tenant(tenant, |d| Ok(d.teams.clone()))
    }

    async fn put_team(&self, tenant: &str, state: &TeamState) -> Result<(), StoreError> {
        self.loaded(tenant).await?;
        self.with_tenant(tenant, |d| d.record(Entry::Team(state.clone())))
    }

    async fn cursor(&self, tenant: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.loaded(tenant).await?;
        self.with_tenant(tenant, |d| Ok(d.cursor))
    }

    async fn put_cursor(
        &self,
        tenant: &str,
        read_started_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.loaded(tenant).await?;
        self.with_tenant(tenant, |d| d.record(Entry::Cursor(read_started_at)))
    }

    async fn put_report(&self, tenant: &str, report: &RunReport) -> Result<(), StoreError> {
        self.loaded(tenant).await?;
        self.with_tenant(tenant, |d| {
            d.record(Entry::Report(Box::new(report.clone())))
        })
    }

    async fn reports(&self, tenant: &str, limit: usize) -> Result<Vec<RunReport>, StoreError> {
        self.loaded(tenant).await?;
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
        self.loaded(tenant).await?;
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
        self.loaded(tenant).await?;
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
mod tests;

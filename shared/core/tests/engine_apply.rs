//! The local runner's apply phase, against a Learn Amp that records when each call starts and
//! ends (on tokio's paused clock, so the order is exact): teams are written concurrently within
//! the engine's concurrency, before any user; a report is written once its own manager exists,
//! with the manager set, without waiting for the other managers of its wave. Learn Amp is made
//! ready for the writes while Kombo is still read, and only by a run that will write.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use sync_core::error::{SourceError, TargetError};
use sync_core::kombo::{Employee, EmploymentStatus, Group, Location};
use sync_core::learnamp::{Team, User, UserWrite};
use sync_core::messages::ChangeMessage;
use sync_core::ports::{EmployeePage, HrisSource, LearnAmp, ListQuery, UserDetail, UserListing};
use sync_core::queue::InProcessQueue;
use sync_core::report::ActionKind;
use sync_core::store::EmbeddedStore;
use sync_core::{Engine, NoProgress, RunOptions, TenantSettings};
use tokio::time::Instant;

mod common;

struct Company(Vec<Employee>);

#[async_trait]
impl HrisSource for Company {
    async fn list_employees(&self, _: &ListQuery) -> Result<Vec<Employee>, SourceError> {
        Ok(self.0.clone())
    }
    async fn list_groups(&self, _: &ListQuery) -> Result<Vec<Group>, SourceError> {
        Ok(Vec::new())
    }
    async fn list_locations(&self, _: &ListQuery) -> Result<Vec<Location>, SourceError> {
        Ok(Vec::new())
    }
}

/// Kombo handing its employees over `page_size` at a time, each page `page_latency` after the
/// one before; records when it handed over its last page.
struct PagedCompany {
    employees: Vec<Employee>,
    page_size: usize,
    page_latency: Duration,
    last_page_at: Mutex<Option<Instant>>,
}

#[async_trait]
impl HrisSource for PagedCompany {
    async fn list_employees(&self, _: &ListQuery) -> Result<Vec<Employee>, SourceError> {
        Ok(self.employees.clone())
    }
    async fn each_employee_page(
        &self,
        _: &ListQuery,
        on_page: &mut (dyn FnMut(EmployeePage) + Send),
    ) -> Result<(), SourceError> {
        for page in self.employees.chunks(self.page_size) {
            tokio::time::sleep(self.page_latency).await;
            *self.last_page_at.lock().unwrap() = Some(Instant::now());
            on_page(EmployeePage {
                employees: page.to_vec(),
                malformed: Vec::new(),
            });
        }
        Ok(())
    }
    async fn list_groups(&self, _: &ListQuery) -> Result<Vec<Group>, SourceError> {
        Ok(Vec::new())
    }
    async fn list_locations(&self, _: &ListQuery) -> Result<Vec<Location>, SourceError> {
        Ok(Vec::new())
    }
}

/// One Learn Amp call, as the fake saw it.
#[derive(Debug, Clone)]
struct Call {
    /// `team:<group id>` or `user:<employee id>`.
    what: String,
    started: Instant,
    ended: Instant,
}

/// Learn Amp with a latency per call (longer for the users named in `slow`), recording every
/// call and each created user's manager.
#[derive(Default)]
struct RecordingLearnAmp {
    slow: Vec<String>,
    calls: Mutex<Vec<Call>>,
    /// Employee id → (Learn Amp id, the manager id its create carried).
    users: Mutex<HashMap<String, (u64, Option<u64>)>>,
    /// `prepare_calls` fails (Learn Amp's token endpoint down for a moment).
    unprepared: bool,
}

impl RecordingLearnAmp {
    async fn call(&self, what: String, latency: Duration) {
        let started = Instant::now();
        tokio::time::sleep(latency).await;
        self.calls.lock().unwrap().push(Call {
            what,
            started,
            ended: Instant::now(),
        });
    }

    fn calls_of(&self, kind: &str) -> Vec<Call> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|c| c.what.starts_with(kind))
            .cloned()
            .collect()
    }

    fn call_of(&self, what: &str) -> Call {
        let calls = self.calls.lock().unwrap();
        calls.iter().find(|c| c.what == what).cloned().unwrap()
    }
}

/// The most of `calls` in flight at one time.
fn most_at_once(calls: &[Call]) -> usize {
    calls
        .iter()
        .map(|c| {
            calls
                .iter()
                .filter(|d| d.started <= c.started && c.started < d.ended)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[async_trait]
impl LearnAmp for RecordingLearnAmp {
    async fn user_by_external_id(&self, _: &str) -> Result<Option<User>, TargetError> {
        Ok(None)
    }
    async fn users_by_email(&self, _: &str) -> Result<Vec<User>, TargetError> {
        Ok(Vec::new())
    }
    async fn list_users(&self, _: UserDetail) -> Result<UserListing, TargetError> {
        Ok(UserListing::default())
    }
    async fn list_teams(&self) -> Result<Vec<Team>, TargetError> {
        Ok(Vec::new())
    }
    async fn create_user(&self, write: &UserWrite) -> Result<u64, TargetError> {
        let employee = write.integration_external_id.clone().unwrap();
        let latency = match self.slow.contains(&employee) {
            true => Duration::from_millis(200),
            false => Duration::from_millis(20),
        };
        self.call(format!("user:{employee}"), latency).await;
        let mut users = self.users.lock().unwrap();
        let id = 100 + users.len() as u64;
        users.insert(employee, (id, write.manager_id));
        Ok(id)
    }
    async fn update_user(&self, _: u64, _: &UserWrite) -> Result<(), TargetError> {
        unimplemented!("an import only creates")
    }
    async fn deactivate_user(&self, _: u64) -> Result<(), TargetError> {
        unimplemented!("an import only creates")
    }
    async fn reactivate_user(&self, _: u64) -> Result<(), TargetError> {
        unimplemented!("an import only creates")
    }
    async fn team_by_external_id(&self, _: &str) -> Result<Option<Team>, TargetError> {
        Ok(None)
    }
    async fn create_team(&self, name: &str, external_id: &str) -> Result<Team, TargetError> {
        self.call(format!("team:{external_id}"), Duration::from_millis(20))
            .await;
        Ok(Team {
            id: 1 + self.calls.lock().unwrap().len() as u64,
            name: Some(name.to_string()),
            integration_external_id: Some(external_id.to_string()),
            parent_team_id: None,
        })
    }
    async fn rename_team(&self, _: u64, _: &str) -> Result<Team, TargetError> {
        unimplemented!("an import only creates")
    }
    async fn prepare_calls(&self) -> Result<(), TargetError> {
        self.call("prepare".into(), Duration::from_millis(20)).await;
        match self.unprepared {
            true => Err(TargetError::Transient("HTTP 503".into())),
            false => Ok(()),
        }
    }
}

/// An active employee reporting to `manager`, in department `department`.
fn employee(id: &str, manager: Option<&str>, department: usize) -> Employee {
    let mut e = common::employee(id, EmploymentStatus::Active);
    e.manager_id = manager.map(str::to_string);
    e.groups[0].id = format!("dep-{department}");
    e.groups[0].name = Some(format!("Department {department}"));
    e
}

#[tokio::test(start_paused = true)]
async fn teams_go_concurrently_and_each_report_follows_its_own_manager() {
    // A CEO, two heads with three reports each, in seven departments; head "a" is slow to
    // create.
    let employees = vec![
        employee("ceo", None, 0),
        employee("a", Some("ceo"), 1),
        employee("b", Some("ceo"), 2),
        employee("a0", Some("a"), 3),
        employee("a1", Some("a"), 4),
        employee("a2", Some("a"), 5),
        employee("b0", Some("b"), 4),
        employee("b1", Some("b"), 5),
        employee("b2", Some("b"), 6),
    ];
    let learnamp = RecordingLearnAmp {
        slow: vec!["a".into()],
        ..Default::default()
    };
    let store = EmbeddedStore::in_memory();
    let queue = InProcessQueue::<ChangeMessage>::new();
    let settings = TenantSettings::new("personio:engine-tests");
    let concurrency = 3;
    let engine = Engine {
        hris: &Company(employees),
        learnamp: &learnamp,
        store: &store,
        queue: &queue,
        settings: &settings,
        concurrency,
        progress: &NoProgress,
    };
    let report = engine.run(&RunOptions::default()).await.unwrap();
    assert_eq!(report.counts.created, 9, "{:?}", report.actions);
    assert_eq!(report.teams.created, 7);
    assert!(report
        .actions
        .iter()
        .all(|a| a.action == ActionKind::Create));

    // Teams: as many at once as the concurrency allows, all before any user; and never more
    // calls at once than that.
    let teams = learnamp.calls_of("team:");
    let users = learnamp.calls_of("user:");
    assert_eq!(teams.len(), 7);
    assert_eq!(most_at_once(&teams), concurrency);
    assert_eq!(most_at_once(&learnamp.calls_of("")), concurrency);
    let teams_done = teams.iter().map(|c| c.ended).max().unwrap();
    assert!(users.iter().all(|c| c.started >= teams_done));

    // Managers before reports: every report's create started once its manager's ended, and
    // carried the manager's new id.
    let created = learnamp.users.lock().unwrap().clone();
    for (report, manager) in [
        ("a", "ceo"),
        ("b", "ceo"),
        ("a0", "a"),
        ("a1", "a"),
        ("a2", "a"),
        ("b0", "b"),
        ("b1", "b"),
        ("b2", "b"),
    ] {
        assert_eq!(created[report].1, Some(created[manager].0), "{report}");
        let manager_done = learnamp.call_of(&format!("user:{manager}")).ended;
        assert!(learnamp.call_of(&format!("user:{report}")).started >= manager_done);
    }
    // No wave barrier: b's reports did not wait for "a", a slower manager of b's wave.
    let a_done = learnamp.call_of("user:a").ended;
    for report in ["b0", "b1", "b2"] {
        let started = learnamp.call_of(&format!("user:{report}")).started;
        assert!(started < a_done, "{report} waited for a");
    }
}

/// A company of `employees` in `departments`, read from Kombo 10 at a time, 100 ms a page,
/// and what an engine over it needs.
struct PagedStack {
    company: PagedCompany,
    learnamp: RecordingLearnAmp,
    store: EmbeddedStore,
    queue: InProcessQueue<ChangeMessage>,
    settings: TenantSettings,
}

impl PagedStack {
    fn new(employees: usize, departments: usize) -> Self {
        Self {
            company: PagedCompany {
                employees: (0..employees)
                    .map(|i| employee(&format!("e{i}"), None, i % departments))
                    .collect(),
                page_size: 10,
                page_latency: Duration::from_millis(100),
                last_page_at: Mutex::new(None),
            },
            learnamp: RecordingLearnAmp::default(),
            store: EmbeddedStore::in_memory(),
            queue: InProcessQueue::new(),
            settings: TenantSettings::new("personio:engine-tests"),
        }
    }

    fn engine(&self) -> Engine<'_> {
        Engine {
            hris: &self.company,
            learnamp: &self.learnamp,
            store: &self.store,
            queue: &self.queue,
            settings: &self.settings,
            concurrency: 4,
            progress: &NoProgress,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn learn_amp_is_made_ready_during_the_read_only_by_a_run_that_writes() {
    // 40 employees in 4 pages: a first import decides its creates as the pages arrive.
    let stack = PagedStack::new(40, 2);
    let (engine, learnamp) = (stack.engine(), &stack.learnamp);

    let dry_run = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let preview = engine.run(&dry_run).await.unwrap();
    assert_eq!(preview.counts.created, 40);
    assert!(learnamp.calls_of("").is_empty(), "a dry run calls nobody");

    let report = engine.run(&RunOptions::default()).await.unwrap();
    assert_eq!(report.counts.created, 40, "{:?}", report.actions);
    let prepared = learnamp.calls_of("prepare");
    assert_eq!(prepared.len(), 1, "made ready once");
    let last_page_at = stack.company.last_page_at.lock().unwrap().unwrap();
    assert!(
        prepared[0].ended <= last_page_at,
        "ready before Kombo's last page, not after the read: {:?} vs {:?}",
        prepared[0].ended,
        last_page_at
    );

    // Nothing changed: nothing to get ready for.
    let calls_before = learnamp.calls_of("").len();
    let resync = engine.run(&RunOptions::default()).await.unwrap();
    assert_eq!(resync.counts.unchanged, 40, "{:?}", resync.actions);
    assert_eq!(
        learnamp.calls_of("").len(),
        calls_before,
        "a resync calls nobody"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_whose_preparation_failed_still_writes() {
    let mut stack = PagedStack::new(20, 1);
    stack.learnamp.unprepared = true;
    let report = stack.engine().run(&RunOptions::default()).await.unwrap();
    assert_eq!(report.counts.created, 20, "{:?}", report.actions);
    assert_eq!(stack.learnamp.calls_of("prepare").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn deactivations_alone_do_not_make_learn_amp_ready() {
    let stack = PagedStack::new(20, 1);
    stack.engine().run(&RunOptions::default()).await.unwrap();
    let prepared = stack.learnamp.calls_of("prepare").len();
    assert_eq!(prepared, 1);

    // Everyone leaves at once: the guard holds the deactivations back, and nothing is written.
    let everyone_left = PagedCompany {
        employees: stack
            .company
            .employees
            .iter()
            .cloned()
            .map(|mut e| {
                e.employment_status = Some(EmploymentStatus::Inactive);
                e
            })
            .collect(),
        page_size: 10,
        page_latency: Duration::from_millis(100),
        last_page_at: Mutex::new(None),
    };
    let engine = Engine {
        hris: &everyone_left,
        ..stack.engine()
    };
    let calls_before = stack.learnamp.calls_of("").len();
    let report = engine.run(&RunOptions::default()).await.unwrap();
    assert!(report.halted.is_some(), "{report:?}");
    assert_eq!(
        stack.learnamp.calls_of("").len(),
        calls_before,
        "no token for writes the guard may hold"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_that_queues_its_changes_does_not_make_learn_amp_ready() {
    let stack = PagedStack::new(20, 1);
    let report = stack
        .engine()
        .plan_and_enqueue(&RunOptions::default())
        .await
        .unwrap();
    assert_eq!(report.queued, 20);
    assert!(stack.learnamp.calls_of("prepare").is_empty());
    // The sync function writes the teams itself.
    assert_eq!(stack.learnamp.calls_of("team:").len(), 1);
}

#[test]
fn a_run_that_met_an_unreadable_store_record_is_not_retried() {
    use sync_core::error::StoreError;
    use sync_core::EngineError;
    assert!(!EngineError::Store(StoreError::Corrupt("item without data".into())).is_retryable());
    assert!(EngineError::Store(StoreError::Unavailable("throttled".into())).is_retryable());
}

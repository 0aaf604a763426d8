//! The serverless path, measured (issue 16): the sync and apply handlers against moto behind a
//! counting proxy and against the sandboxes, through four scenarios on one company: the initial
//! import, an unchanged resync, 1 % churn (job titles of employees who manage nobody: one Learn
//! Amp write each), and one more change applied alone, a batch of one, whose requests in order
//! are the critical path of a change. Each scenario gives the AWS requests of the sync run and
//! of the apply invocations by operation, and the Learn Amp calls. Counts are exact; the
//! durations are this machine's against moto and the sandboxes, not Lambda's.
//!
//! `cargo run --release -p e2e --example serverless-bench -- 1000,10000 bench.json` writes the
//! figures as JSON; the test command runs it at 30 employees and asserts the counts
//! (`tests/tests/serverless_bench.rs`).

use crate::aws_proxy::{by_operation, count, in_series, AwsCall};
use chrono::NaiveDate;
use sandbox::{Company, KomboSandbox, LearnAmpSandbox};
use serde_json::{json, Value};
use std::collections::HashSet;
use sync_core::{InvitePolicy, TenantSettings};

mod stack;
pub use stack::{Drained, Stack};

const KOMBO_KEY: &str = "bench-kombo-key";
const CLIENT_ID: &str = "bench-client";
const CLIENT_SECRET: &str = "bench-secret";
pub const TENANT: &str = "personio:serverless-bench";

/// The AWS requests of one phase (a sync run, or the apply invocations of a drain).
#[derive(Debug, Clone, Default)]
pub struct Phase {
    pub calls: Vec<AwsCall>,
}

impl Phase {
    pub fn dynamodb(&self) -> u64 {
        count(&self.calls, "dynamodb")
    }
    pub fn dynamodb_writes(&self) -> u64 {
        self.calls.iter().filter(|c| c.is_dynamodb_write()).count() as u64
    }
    pub fn sqs(&self) -> u64 {
        count(&self.calls, "sqs")
    }
    pub fn ssm(&self) -> u64 {
        count(&self.calls, "ssm")
    }
    /// Requests on one kind of item (`state:settings`, `state:employee`, …).
    pub fn on(&self, target: &str) -> u64 {
        self.calls.iter().filter(|c| c.target == target).count() as u64
    }
    fn to_json(&self) -> Value {
        json!({
            "dynamodb": self.dynamodb(), "dynamodb_writes": self.dynamodb_writes(),
            "sqs": self.sqs(), "ssm": self.ssm(), "by_operation": by_operation(&self.calls),
            "by_target": by_operation(&self.calls.iter().map(|c| AwsCall {
                operation: format!("{}@{}", c.operation, c.target), ..c.clone()
            }).collect::<Vec<_>>()),
        })
    }
}

/// One scenario's figures.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    pub name: String,
    pub employees: usize,
    /// The changes the sync run queued, and those it found unchanged.
    pub queued: u64,
    pub unchanged: u64,
    pub sync: Phase,
    pub sync_ms: f64,
    pub apply: Phase,
    pub drained: Drained,
    pub learnamp_calls: u64,
    pub learnamp_writes: u64,
}

impl Scenario {
    pub fn to_json(&self) -> Value {
        let per = |n: u64, d: u64| match d {
            0 => Value::Null,
            d => json!((n as f64 / d as f64 * 1000.0).round() / 1000.0),
        };
        let n = self.queued;
        let aws_apply = self.apply.dynamodb() + self.apply.sqs() + self.apply.ssm();
        json!({
            "scenario": self.name, "employees": self.employees, "queued": n,
            "unchanged": self.unchanged,
            "sync": self.sync.to_json(), "sync_ms": self.sync_ms.round(),
            "apply": self.apply.to_json(),
            "apply_invocations": self.drained.invocations,
            "apply_records": self.drained.records,
            "handed_back": self.drained.handed_back,
            "apply_ms": self.drained.apply_ms.round(),
            "esm_sqs": self.drained.esm_receives + self.drained.esm_deletes,
            "learnamp_calls": self.learnamp_calls, "learnamp_writes": self.learnamp_writes,
            "per_change": {
                "dynamodb": per(self.apply.dynamodb() + self.sync.dynamodb(), n),
                "apply_dynamodb": per(self.apply.dynamodb(), n),
                "apply_dynamodb_writes": per(self.apply.dynamodb_writes(), n),
                "sqs": per(self.apply.sqs() + self.sync.sqs() + self.drained.esm_receives + self.drained.esm_deletes, n),
                "ssm": per(self.apply.ssm() + self.sync.ssm(), n),
                "apply_aws": per(aws_apply, n),
                "learnamp_calls": per(self.learnamp_calls, n),
            },
            "per_unchanged_employee": {
                "dynamodb": per(self.sync.dynamodb(), self.unchanged),
                "dynamodb_writes": per(self.sync.dynamodb_writes(), self.unchanged),
            },
        })
    }
}

/// The critical path of one change: the apply invocation of a batch of one, request by request.
#[derive(Debug, Clone, Default)]
pub struct CriticalPath {
    pub calls: Vec<AwsCall>,
    pub learnamp_calls: u64,
}

impl CriticalPath {
    pub fn dynamodb_in_series(&self) -> u64 {
        let dynamo: Vec<AwsCall> = self
            .calls
            .iter()
            .filter(|c| c.service == "dynamodb")
            .cloned()
            .collect();
        in_series(&dynamo)
    }
    pub fn aws_in_series(&self) -> u64 {
        in_series(&self.calls)
    }
    pub fn to_json(&self) -> Value {
        let mut ordered = self.calls.clone();
        ordered.sort_by_key(|c| c.started_us);
        json!({
            "requests": ordered.iter().map(|c| format!("{}.{} {}", c.service, c.operation, c.target)).collect::<Vec<_>>(),
            "dynamodb_requests": count(&self.calls, "dynamodb"),
            "dynamodb_in_series": self.dynamodb_in_series(),
            "aws_in_series": self.aws_in_series(),
            "learnamp_calls": self.learnamp_calls,
        })
    }
}

pub struct Figures {
    pub scenarios: Vec<Scenario>,
    pub critical_path: CriticalPath,
}

impl Figures {
    pub fn to_json(&self) -> Value {
        json!({
            "scenarios": self.scenarios.iter().map(Scenario::to_json).collect::<Vec<_>>(),
            "critical_path": self.critical_path.to_json(),
        })
    }
}

fn today() -> NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive()
}

/// Employees whose job title can change with one Learn Amp write: active, linked, and managing
/// nobody (a manager's change can wait on nothing, but keep the churn plain).
fn churnable(kombo: &KomboSandbox) -> Vec<String> {
    let employees = kombo.employees();
    let managers: HashSet<String> = employees
        .iter()
        .filter_map(|e| e.manager_id.clone())
        .collect();
    employees
        .iter()
        .filter(|e| {
            !managers.contains(&e.id)
                && e.employment_status.as_deref() == Some("ACTIVE")
                && e.termination_date.is_none()
                && e.remote_deleted_at.is_none()
                && e.work_email.is_some()
        })
        .map(|e| e.id.clone())
        .collect()
}

/// Runs the scenarios on a company of `employees`; `apply_concurrency` is the apply function's
/// records in flight (the template's 8).
pub async fn run(employees: usize, apply_concurrency: usize) -> Figures {
    let company: Company = sandbox::generate_company(employees, 16, today());
    let kombo = KomboSandbox::new(KOMBO_KEY, TENANT, company);
    let learnamp = LearnAmpSandbox::new(CLIENT_ID, CLIENT_SECRET);
    let kombo_server = kombo.start(0).await.expect("kombo sandbox");
    let learnamp_server = learnamp.start(0).await.expect("learn amp sandbox");
    let mut settings = TenantSettings::new(TENANT);
    settings.invite_policy = InvitePolicy::Immediately;
    let mut stack = Stack::start(
        &kombo_server.base_url,
        &learnamp_server.base_url,
        settings,
        KOMBO_KEY,
        (CLIENT_ID, CLIENT_SECRET),
    )
    .await;
    stack.apply_concurrency = apply_concurrency;
    let full = json!({"tenant": TENANT, "mode": "full"});

    let mut scenarios = Vec::new();
    scenarios.push(scenario(&stack, &learnamp, "import", employees, &full, 10).await);
    scenarios.push(scenario(&stack, &learnamp, "resync", employees, &full, 10).await);
    let candidates = churnable(&kombo);
    let changed = (employees / 100).max(1);
    for (i, id) in candidates.iter().take(changed).enumerate() {
        kombo.update_employee(id, |e| e.job_title = Some(format!("Churned title {i}")));
    }
    scenarios.push(scenario(&stack, &learnamp, "churn1", employees, &full, 10).await);

    // One more change, alone in its batch: its requests are the critical path of a change.
    let one = candidates.get(changed).expect("an employee left to change");
    kombo.update_employee(one, |e| e.job_title = Some("The critical path".into()));
    let one_change = scenario(&stack, &learnamp, "one change", employees, &full, 1).await;
    let critical_path = CriticalPath {
        calls: one_change.apply.calls.clone(),
        learnamp_calls: one_change.learnamp_calls,
    };
    scenarios.push(one_change);

    kombo_server.shutdown().await;
    learnamp_server.shutdown().await;
    drop(stack);
    Figures {
        scenarios,
        critical_path,
    }
}

async fn scenario(
    stack: &Stack,
    learnamp: &LearnAmpSandbox,
    name: &str,
    employees: usize,
    payload: &Value,
    batch: i32,
) -> Scenario {
    learnamp.reset_calls();
    let mark = stack.proxy.mark();
    let (report, sync_ms) = stack.invoke_sync(payload.clone()).await;
    let sync = Phase {
        calls: stack.proxy.since(mark),
    };
    let mark = stack.proxy.mark();
    let drained = stack.drain_changes(batch).await;
    let apply = Phase {
        calls: stack.proxy.since(mark),
    };
    let calls = learnamp.calls();
    Scenario {
        name: name.to_string(),
        employees,
        queued: report["queued"].as_u64().unwrap_or_default(),
        unchanged: report["counts"]["unchanged"].as_u64().unwrap_or_default(),
        sync,
        sync_ms,
        apply,
        drained,
        learnamp_calls: calls.total,
        learnamp_writes: calls.writes(),
    }
}

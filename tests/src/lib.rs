//! The end-to-end harness: both sandboxes on 127.0.0.1, the real HTTP clients, the embedded
//! store in a temporary directory and the in-process queue, wired into the engine exactly as the
//! local runner wires them.

pub mod webdriver;

use chrono::NaiveDate;
use sandbox::{Company, KomboSandbox, LearnAmpSandbox, RunningServer, SandboxUser};
use sync_clients::{KomboClient, LearnAmpClient, RetryPolicy};
use sync_core::messages::ChangeMessage;
use sync_core::queue::InProcessQueue;
use sync_core::report::RunReport;
use sync_core::store::EmbeddedStore;
use sync_core::{Engine, EngineError, RunOptions, TenantSettings};

pub const KOMBO_KEY: &str = "test-kombo-key";
pub const TENANT: &str = "personio:e2e";
pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-secret";

pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
}

pub struct Harness {
    pub kombo: KomboSandbox,
    pub learnamp: LearnAmpSandbox,
    pub kombo_server: RunningServer,
    pub learnamp_server: RunningServer,
    pub kombo_client: KomboClient,
    pub learnamp_client: LearnAmpClient,
    pub state_dir: tempfile::TempDir,
    pub store: EmbeddedStore,
    pub queue: InProcessQueue<ChangeMessage>,
    pub settings: TenantSettings,
}

impl Harness {
    pub async fn start(company: Company, settings: TenantSettings) -> Self {
        let kombo = KomboSandbox::new(KOMBO_KEY, &settings.tenant_id, company);
        let learnamp = LearnAmpSandbox::new(CLIENT_ID, CLIENT_SECRET);
        let kombo_server = kombo.start(0).await.expect("kombo sandbox binds");
        let learnamp_server = learnamp.start(0).await.expect("learn amp sandbox binds");
        let kombo_client = KomboClient::new(&kombo_server.base_url, KOMBO_KEY, &settings.tenant_id)
            .with_retry(RetryPolicy::fast());
        let learnamp_client =
            LearnAmpClient::new(&learnamp_server.base_url, CLIENT_ID, CLIENT_SECRET)
                .with_retry(RetryPolicy::fast());
        let state_dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(state_dir.path()).expect("store opens");
        Self {
            kombo,
            learnamp,
            kombo_server,
            learnamp_server,
            kombo_client,
            learnamp_client,
            state_dir,
            store,
            queue: InProcessQueue::new(),
            settings,
        }
    }

    pub async fn generated(employees: usize, seed: u64, settings: TenantSettings) -> Self {
        Self::start(
            sandbox::generate_company(employees, seed, today()),
            settings,
        )
        .await
    }

    pub fn settings(policy: sync_core::InvitePolicy) -> TenantSettings {
        let mut s = TenantSettings::new(TENANT);
        s.invite_policy = policy;
        s
    }

    pub async fn try_run(&self, options: &RunOptions) -> Result<RunReport, EngineError> {
        self.kombo_client.reset_call_stats();
        self.learnamp_client.reset_call_stats();
        let options = RunOptions {
            today: options.today.or(Some(today())),
            ..options.clone()
        };
        Engine {
            hris: &self.kombo_client,
            learnamp: &self.learnamp_client,
            store: &self.store,
            queue: &self.queue,
            settings: &self.settings,
            concurrency: 4,
            progress: &sync_core::NoProgress,
        }
        .run(&options)
        .await
    }

    pub async fn run(&self, options: &RunOptions) -> RunReport {
        self.try_run(options).await.expect("the run completes")
    }

    pub async fn full(&self) -> RunReport {
        self.run(&RunOptions::default()).await
    }

    /// Learn Amp's users that carry this Kombo employee id.
    pub fn users_of(&self, employee_id: &str) -> Vec<SandboxUser> {
        self.learnamp
            .snapshot()
            .users
            .into_iter()
            .filter(|u| u.integration_external_id.as_deref() == Some(employee_id))
            .collect()
    }

    /// The one Learn Amp user of this employee; panics on none or a duplicate.
    pub fn user_of(&self, employee_id: &str) -> SandboxUser {
        let mut users = self.users_of(employee_id);
        assert_eq!(
            users.len(),
            1,
            "employee {employee_id} has {} users",
            users.len()
        );
        users.remove(0)
    }

    /// Asserts that no two Learn Amp users share an external id or an email.
    pub fn assert_no_duplicates(&self) {
        let users = self.learnamp.snapshot().users;
        let mut ids = std::collections::HashSet::new();
        let mut emails = std::collections::HashSet::new();
        for u in &users {
            if let Some(id) = &u.integration_external_id {
                assert!(ids.insert(id.clone()), "duplicate external id {id}");
            }
            assert!(
                emails.insert(u.email.to_lowercase()),
                "duplicate email of user {}",
                u.id
            );
        }
    }

    /// Asserts that no employee has two Learn Amp users and nobody was invited twice; returns
    /// how many employees have a user.
    pub fn assert_one_user_per_employee_invited_at_most_once(&self) -> usize {
        let mut seen = std::collections::HashSet::new();
        for user in &self.learnamp.snapshot().users {
            if let Some(id) = &user.integration_external_id {
                assert!(seen.insert(id.clone()), "two users for employee {id}");
            }
            assert!(
                user.invitations_sent <= 1,
                "user {} invited {} times",
                user.id,
                user.invitations_sent
            );
        }
        seen.len()
    }

    /// Asserts that every employee converged, naming the failures otherwise.
    pub fn assert_converged(report: &RunReport) {
        let failed: Vec<_> = report
            .actions
            .iter()
            .filter(|a| a.action == sync_core::report::ActionKind::Failed)
            .take(5)
            .collect();
        assert!(report.converged(), "failed: {failed:?}");
    }

    pub async fn stop(self) {
        self.kombo_server.shutdown().await;
        self.learnamp_server.shutdown().await;
    }
}

pub mod aws_proxy;
pub mod aws_stack;
pub mod serverless_bench;
pub mod template_policy;

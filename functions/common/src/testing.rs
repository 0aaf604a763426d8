//! A world for the functions' handler tests (feature `testing`): both sandboxes over HTTP, the
//! embedded adapters of every port, and the events Lambda delivers, built as Lambda builds them.

use crate::{HttpClients, StaticSecrets};
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use sandbox::{Company, KomboSandbox, LearnAmpSandbox, RunningServer};
use std::collections::HashMap;
use std::sync::Arc;
use sync_clients::RetryPolicy;
use sync_core::coordination::InMemoryCoordination;
use sync_core::idempotency::{InMemoryLedger, LedgerClaims};
use sync_core::messages::ChangeMessage;
use sync_core::messages::SyncRequest;
use sync_core::queue::InProcessQueue;
use sync_core::store::EmbeddedStore;
use sync_core::tenants::{InMemoryTenants, TenantConfig, TenantStore};
use sync_core::TenantSettings;

pub const TENANT: &str = "personio:handler-tests";
pub const KOMBO_KEY: &str = "handler-kombo-key";
pub const CLIENT_ID: &str = "handler-client";
pub const CLIENT_SECRET: &str = "handler-secret";
pub const SECRET_REF: &str = "/personio-sync/handler-tests/learnamp-client-secret";

pub struct TestWorld {
    pub kombo: KomboSandbox,
    pub learnamp: LearnAmpSandbox,
    kombo_server: RunningServer,
    learnamp_server: RunningServer,
    pub tenants: InMemoryTenants,
    pub coordination: InMemoryCoordination,
    pub store: EmbeddedStore,
    _state_dir: tempfile::TempDir,
    /// The embedded change ledger's claims: [`TestWorld::ledger`] over them and `store`.
    pub claims: LedgerClaims,
    pub changes: InProcessQueue<ChangeMessage>,
    pub sync_requests: InProcessQueue<SyncRequest>,
    pub clients: HttpClients,
}

impl TestWorld {
    /// Both sandboxes serving `company`, and [`TENANT`] registered and enabled.
    pub async fn start(company: Company) -> Self {
        let kombo = KomboSandbox::new(KOMBO_KEY, TENANT, company);
        let learnamp = LearnAmpSandbox::new(CLIENT_ID, CLIENT_SECRET);
        let kombo_server = kombo.start(0).await.expect("kombo sandbox binds");
        let learnamp_server = learnamp.start(0).await.expect("learn amp sandbox binds");
        let state_dir = tempfile::tempdir().expect("temp dir");
        let secrets = StaticSecrets(HashMap::from([(
            SECRET_REF.to_string(),
            CLIENT_SECRET.to_string(),
        )]));
        let world = Self {
            clients: HttpClients::new(
                kombo_server.base_url.clone(),
                KOMBO_KEY.into(),
                Arc::new(secrets),
            )
            .with_retry(RetryPolicy::fast()),
            kombo,
            learnamp,
            kombo_server,
            learnamp_server,
            tenants: InMemoryTenants::default(),
            coordination: InMemoryCoordination::default(),
            store: EmbeddedStore::open(state_dir.path()).expect("store opens"),
            _state_dir: state_dir,
            claims: LedgerClaims::default(),
            changes: InProcessQueue::new(),
            sync_requests: InProcessQueue::new(),
        };
        world
            .tenants
            .put_tenant(&world.tenant_config(TENANT))
            .await
            .expect("tenant registered");
        world
    }

    /// The apply function's change ledger: the embedded one, over this world's store.
    pub fn ledger(&self) -> InMemoryLedger<'_> {
        InMemoryLedger {
            store: &self.store,
            claims: &self.claims,
        }
    }

    /// A tenant of this world's Learn Amp sandbox.
    pub fn tenant_config(&self, tenant: &str) -> TenantConfig {
        TenantConfig {
            settings: TenantSettings::new(tenant),
            learnamp_base_url: self.learnamp_server.base_url.clone(),
            learnamp_client_id: CLIENT_ID.into(),
            learnamp_client_secret_ref: SECRET_REF.into(),
            learnamp_scope: None,
            personio_company_id: None,
            enabled: true,
            last_event: None,
            first_import: Default::default(),
            revision: Default::default(),
            kombo: Default::default(),
        }
    }

    pub async fn stop(self) {
        self.kombo_server.shutdown().await;
        self.learnamp_server.shutdown().await;
    }
}

/// An SQS record as the event source mapping delivers it.
pub fn sqs_record(message_id: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(message_id.into());
    record.receipt_handle = Some(format!("receipt-{message_id}"));
    record.body = Some(body.into());
    record.event_source = Some("aws:sqs".into());
    record.event_source_arn = Some("arn:aws:sqs:eu-central-1:123456789012:personio-sync".into());
    record.aws_region = Some("eu-central-1".into());
    record.attributes = HashMap::from([
        (
            "ApproximateReceiveCount".to_string(),
            receive_count.to_string(),
        ),
        ("SentTimestamp".to_string(), "1795324800000".to_string()),
    ]);
    record
}

pub fn sqs_event(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

/// The event the EventBridge schedule sends, as JSON (what the sync function receives).
pub fn scheduled_event() -> serde_json::Value {
    let event: aws_lambda_events::eventbridge::EventBridgeEvent =
        serde_json::from_value(serde_json::json!({
            "version": "0",
            "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-11-22T06:00:00Z",
            "region": "eu-central-1",
            "resources": ["arn:aws:events:eu-central-1:123456789012:rule/personio-sync-schedule"],
            "detail": {}
        }))
        .expect("a scheduled event");
    serde_json::to_value(event).expect("serializes")
}

/// What this thread logs (as JSON lines, the format Lambda gets) while it is held: a test's own
/// capture, which no other test writes into.
pub struct CapturedLogs {
    lines: Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl CapturedLogs {
    pub fn start() -> Self {
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_writer(move || LogWriter(writer.clone()))
            .json()
            .finish();
        Self {
            lines,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lines.lock().expect("log lock")).into_owned()
    }
}

struct LogWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

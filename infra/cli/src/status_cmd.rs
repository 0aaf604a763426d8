//! `personio-sync status --tenant T`: a tenant of the AWS deployment at a glance: its last runs
//! (trigger, start, duration, counts, halted reason), what is going on now, the employees in
//! error with Learn Amp's message, and, given the queue URLs, the changes waiting in SQS. The
//! tenant part is what the sync function returns for `{"tenant": T, "status": true}`.

use crate::settings_args::{required, ConfigError};
use crate::sync_cmd::{ReportFormat, EXIT_CONFIG, EXIT_FAILED, EXIT_OK};
use aws_sdk_sqs::types::QueueAttributeName;
use clap::Args;
use serde::Serialize;
use sync_aws::DynamoStateStore;
use sync_core::status::{tenant_status, TenantStatus, DEFAULT_RUNS};
use sync_core::tenants::TenantStore;

#[derive(Args)]
pub struct StatusArgs {
    /// The tenant's Kombo integration id
    #[arg(long)]
    tenant: Option<String>,
    /// How many runs to show, newest first
    #[arg(long, default_value_t = DEFAULT_RUNS)]
    runs: usize,
    /// Print the status as JSON on stdout
    #[arg(long, value_enum)]
    report: Option<ReportFormat>,
    /// The deployment's state table (the stack output StateTableName)
    #[arg(long, env = "STATE_TABLE")]
    table: Option<String>,
    /// The changes queue (stack output ChangesQueueUrl): shows the changes waiting to be applied
    #[arg(long, env = "CHANGES_QUEUE_URL")]
    changes_queue_url: Option<String>,
    /// The changes dead-letter queue (stack output ChangesDeadLetterQueueUrl)
    #[arg(long, env = "CHANGES_DLQ_URL")]
    changes_dlq_url: Option<String>,
    /// Another endpoint for DynamoDB and SQS, e.g. a moto server
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
}

/// Messages in a queue, as SQS counts them (approximately, by its own account).
#[derive(Debug, Serialize)]
pub struct QueueDepth {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

/// The queues are shared by every tenant of the deployment.
#[derive(Debug, Serialize)]
pub struct Queues {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<QueueDepth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes_dead_letter: Option<QueueDepth>,
}

#[derive(Serialize)]
struct Status {
    #[serde(flatten)]
    tenant: TenantStatus,
    enabled: bool,
    /// When Kombo last refused a run for the customer's broken Personio connection, unless a
    /// run has read Kombo since.
    #[serde(skip_serializing_if = "Option::is_none")]
    connection_broken_since: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    queues: Option<Queues>,
}

async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<QueueDepth, String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| format!("cannot read queue {url}: {}", sync_aws::describe(&e)))?;
    let count = |name: QueueAttributeName| -> u64 {
        out.attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(QueueDepth {
        visible: count(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    })
}

pub async fn run(args: StatusArgs) -> u8 {
    let (tenant, table) = match (
        required(args.tenant, "--tenant", "the tenant's integration id"),
        required(args.table, "--table", "STATE_TABLE"),
    ) {
        (Ok(t), Ok(table)) => (t, table),
        (Err(ConfigError(m)), _) | (_, Err(ConfigError(m))) => {
            eprintln!("personio-sync: {m}");
            return EXIT_CONFIG;
        }
    };
    if args.runs == 0 || args.runs > 100 {
        eprintln!("personio-sync: --runs must be between 1 and 100");
        return EXIT_CONFIG;
    }
    let config = crate::tenants_cmd::sdk_config(args.endpoint_url.as_deref()).await;
    let store = DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    let registered = match store.tenant(&tenant).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            eprintln!("personio-sync: no tenant {tenant}: `personio-sync tenants list` shows the registered ones");
            return EXIT_CONFIG;
        }
        Err(e) => {
            eprintln!("personio-sync: cannot read tenant {tenant}: {e}");
            return EXIT_FAILED;
        }
    };
    let status = match tenant_status(&tenant, args.runs, &store, &store, chrono::Utc::now()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("personio-sync: cannot read the status of {tenant}: {e}");
            return EXIT_FAILED;
        }
    };
    let sqs = aws_sdk_sqs::Client::new(&config);
    let mut queues = None;
    if args.changes_queue_url.is_some() || args.changes_dlq_url.is_some() {
        let mut q = Queues {
            changes: None,
            changes_dead_letter: None,
        };
        for (url, slot) in [
            (&args.changes_queue_url, &mut q.changes),
            (&args.changes_dlq_url, &mut q.changes_dead_letter),
        ] {
            if let Some(url) = url {
                match depth(&sqs, url).await {
                    Ok(d) => *slot = Some(d),
                    Err(m) => {
                        eprintln!("personio-sync: {m}");
                        return EXIT_FAILED;
                    }
                }
            }
        }
        queues = Some(q);
    }
    let status = Status {
        tenant: status,
        enabled: registered.enabled,
        connection_broken_since: registered
            .last_event
            .as_ref()
            .filter(|e| e.event_type == "connection-broken")
            .map(|e| e.received_at),
        queues,
    };
    if args.report == Some(ReportFormat::Json) {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).expect("the status serializes")
        );
    } else {
        print!("{}", status.tenant.to_text());
        if !status.enabled {
            println!(
                "\nthe tenant is DISABLED: the schedule skips it and its webhooks queue nothing"
            );
        }
        if let Some(since) = status.connection_broken_since {
            println!(
                "\nthe customer's Personio connection is BROKEN (Kombo refused it at {since}): the customer must reconnect Personio through Kombo's connection flow; nothing is synced until then"
            );
        }
        if let Some(q) = &status.queues {
            println!("\nqueues (all tenants):");
            if let Some(d) = &q.changes {
                println!(
                    "  changes waiting: {} visible, {} being applied, {} delayed",
                    d.visible, d.in_flight, d.delayed
                );
            }
            if let Some(d) = &q.changes_dead_letter {
                println!(
                    "  changes dead-letter queue: {} (see the runbook: replaying the DLQ)",
                    d.visible + d.in_flight
                );
            }
        }
    }
    EXIT_OK
}

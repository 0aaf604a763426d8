//! `personio-sync dlq replay --from DLQ --to QUEUE`: sends every message of a dead-letter queue
//! back to the queue it came from, then deletes it from the dead-letter queue. Safe to replay:
//! change messages are level-triggered (an outdated or already-applied one is a no-op) and a
//! sync request runs the tenant's sync again.

use crate::settings_args::{required, ConfigError};
use crate::sync_cmd::{EXIT_CONFIG, EXIT_FAILED, EXIT_OK};
use clap::{Args, Subcommand};

#[derive(Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Moves the dead-letter queue's messages back to their queue.
    Replay(ReplayArgs),
}

#[derive(Args)]
struct ReplayArgs {
    /// The dead-letter queue's URL (stack output ChangesDeadLetterQueueUrl or
    /// SyncRequestsDeadLetterQueueUrl)
    #[arg(long)]
    from: Option<String>,
    /// The queue to send them to (stack output ChangesQueueUrl or SyncRequestsQueueUrl)
    #[arg(long)]
    to: Option<String>,
    /// Replay at most this many messages
    #[arg(long)]
    max: Option<usize>,
    /// Another endpoint for SQS, e.g. a moto server
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
}

pub async fn run(args: DlqArgs) -> u8 {
    let DlqCommand::Replay(args) = args.command;
    let (from, to) = match (
        required(args.from, "--from", "the dead-letter queue's URL"),
        required(args.to, "--to", "the source queue's URL"),
    ) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(ConfigError(m)), _) | (_, Err(ConfigError(m))) => {
            eprintln!("personio-sync: {m}");
            return EXIT_CONFIG;
        }
    };
    if from == to {
        eprintln!("personio-sync: --from and --to are the same queue");
        return EXIT_CONFIG;
    }
    let config = crate::tenants_cmd::sdk_config(args.endpoint_url.as_deref()).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    match replay(&sqs, &from, &to, args.max.unwrap_or(usize::MAX)).await {
        Ok(moved) => {
            println!("{moved} messages replayed from {from} to {to}");
            EXIT_OK
        }
        Err((moved, message)) => {
            eprintln!("personio-sync: {message} ({moved} messages were replayed before)");
            EXIT_FAILED
        }
    }
}

async fn replay(
    sqs: &aws_sdk_sqs::Client,
    from: &str,
    to: &str,
    max: usize,
) -> Result<usize, (usize, String)> {
    let mut moved = 0;
    while moved < max {
        let batch = sqs
            .receive_message()
            .queue_url(from)
            .max_number_of_messages((max - moved).min(10) as i32)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| {
                (
                    moved,
                    format!("cannot read {from}: {}", sync_aws::describe(&e)),
                )
            })?;
        if batch.messages().is_empty() {
            break;
        }
        for message in batch.messages() {
            let (Some(body), Some(receipt)) = (message.body(), message.receipt_handle()) else {
                continue;
            };
            // Sent first, deleted after: a failure in between replays a message twice, which a
            // level-triggered message tolerates, rather than losing it.
            sqs.send_message()
                .queue_url(to)
                .message_body(body)
                .send()
                .await
                .map_err(|e| {
                    (
                        moved,
                        format!("cannot send to {to}: {}", sync_aws::describe(&e)),
                    )
                })?;
            sqs.delete_message()
                .queue_url(from)
                .receipt_handle(receipt)
                .send()
                .await
                .map_err(|e| {
                    (
                        moved,
                        format!("cannot delete from {from}: {}", sync_aws::describe(&e)),
                    )
                })?;
            moved += 1;
        }
    }
    Ok(moved)
}

//! A queue in SQS, carrying JSON messages: the AWS adapter of sync-core's `Queue`.

use crate::describe;
use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageSystemAttributeName, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;
use sync_core::error::QueueError;
use sync_core::ports::{Delivery, Queue};

/// SendMessageBatch takes at most ten entries.
const BATCH: usize = 10;

pub struct SqsQueue<M> {
    client: Client,
    url: String,
    /// The longest per-message delay sent: SQS allows 900 s; tests and local stacks set 0.
    max_delay_seconds: u32,
    _message: PhantomData<fn() -> M>,
}

impl<M> SqsQueue<M> {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
            max_delay_seconds: 900,
            _message: PhantomData,
        }
    }

    /// Caps the delays asked for (manager-before-report waves): with 0, every message is
    /// visible at once and the apply side's manager wait alone orders the waves.
    pub fn with_max_delay(mut self, seconds: u32) -> Self {
        self.max_delay_seconds = seconds.min(900);
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

fn unavailable<E: std::error::Error>(error: E) -> QueueError {
    QueueError::Unavailable(describe(&error))
}

impl<M: Serialize> SqsQueue<M> {
    async fn send_entries(&self, messages: Vec<M>, delay_seconds: u32) -> Result<(), QueueError> {
        let delay_seconds = delay_seconds.min(self.max_delay_seconds);
        for chunk in messages.chunks(BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, message) in chunk.iter().enumerate() {
                let body = serde_json::to_string(message)
                    .map_err(|e| QueueError::Unavailable(e.to_string()))?;
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .set_delay_seconds((delay_seconds > 0).then_some(delay_seconds as i32))
                        .build()
                        .map_err(unavailable)?,
                );
            }
            // Entries SQS failed to take are sent once more; a second failure is an error.
            for attempt in 0..2 {
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries.clone()))
                    .send()
                    .await
                    .map_err(unavailable)?;
                let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
                if failed.is_empty() {
                    break;
                }
                if attempt == 1 {
                    return Err(QueueError::Unavailable(format!(
                        "SQS refused {} messages of a batch",
                        failed.len()
                    )));
                }
                entries.retain(|e| failed.contains(&e.id()));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl<M: Serialize + DeserializeOwned + Send + Sync + 'static> Queue<M> for SqsQueue<M> {
    async fn send_batch(&self, messages: Vec<M>) -> Result<(), QueueError> {
        self.send_entries(messages, 0).await
    }

    async fn send_delayed(&self, messages: Vec<M>, delay_seconds: u32) -> Result<(), QueueError> {
        self.send_entries(messages, delay_seconds).await
    }

    async fn receive(&self, max: usize) -> Result<Vec<Delivery<M>>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, BATCH) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(unavailable)?;
        let mut deliveries = Vec::new();
        for message in out.messages() {
            let (Some(body), Some(receipt)) = (message.body(), message.receipt_handle()) else {
                continue;
            };
            let parsed = sync_core::decode::decode_str(body)
                .map_err(|e| QueueError::Unavailable(format!("undecodable message: {e}")))?;
            let receive_count = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            deliveries.push(Delivery {
                receipt: receipt.to_string(),
                message: parsed,
                receive_count,
            });
        }
        Ok(deliveries)
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn retry_later(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

//! Idempotency records in DynamoDB, with Powertools' record design (attribute names included):
//! `id` (key), `status` (`INPROGRESS` | `COMPLETED`), `expiration` (epoch seconds, also the
//! table's TTL attribute), `in_progress_expiration` (epoch milliseconds), `data`.
//!
//! A claim is one conditional PutItem that succeeds when no record exists, the record expired,
//! or an IN_PROGRESS record outlived its claimant's deadline; on failure DynamoDB returns the
//! existing record with the error (`ReturnValuesOnConditionCheckFailure=ALL_OLD`), so no second
//! read is needed.

use crate::describe;
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use sync_core::error::StoreError;
use sync_core::idempotency::{
    Claim, IdempotencyStore, Record, RecordStatus, COMPLETED_FOR_SECONDS,
};

const IN_PROGRESS: &str = "INPROGRESS";
const COMPLETED: &str = "COMPLETED";
/// A claim that lost a race with an expiring record is tried again this many times.
const CLAIM_ATTEMPTS: usize = 3;

#[derive(Clone)]
pub struct DynamoIdempotency {
    client: Client,
    table: String,
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn record_of(item: &HashMap<String, AttributeValue>) -> Option<Record> {
    let status = match item.get("status")?.as_s().ok()?.as_str() {
        IN_PROGRESS => RecordStatus::InProgress,
        COMPLETED => RecordStatus::Completed,
        _ => return None,
    };
    Some(Record {
        status,
        expiration: number(item, "expiration")?,
        in_progress_expiration: number(item, "in_progress_expiration"),
        data: item.get("data").and_then(|d| d.as_s().ok()).cloned(),
    })
}

impl DynamoIdempotency {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn read(&self, key: &str) -> Result<Option<Record>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(key.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        Ok(out.item().and_then(record_of))
    }
}

#[async_trait]
impl IdempotencyStore for DynamoIdempotency {
    async fn claim(
        &self,
        key: &str,
        now_ms: i64,
        in_progress_until_ms: i64,
    ) -> Result<Claim, StoreError> {
        for _ in 0..CLAIM_ATTEMPTS {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("id", AttributeValue::S(key.to_string()))
                .item("status", AttributeValue::S(IN_PROGRESS.into()))
                .item(
                    "expiration",
                    AttributeValue::N((now_ms / 1000 + COMPLETED_FOR_SECONDS).to_string()),
                )
                .item(
                    "in_progress_expiration",
                    AttributeValue::N(in_progress_until_ms.to_string()),
                )
                .condition_expression(
                    "attribute_not_exists(id) OR expiration < :now \
                     OR (#status = :in_progress AND in_progress_expiration < :now_ms)",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":now", AttributeValue::N((now_ms / 1000).to_string()))
                .expression_attribute_values(":now_ms", AttributeValue::N(now_ms.to_string()))
                .expression_attribute_values(":in_progress", AttributeValue::S(IN_PROGRESS.into()))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(Claim::Acquired),
                Err(e) => e,
            };
            let existing = match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    match failed.item() {
                        Some(item) => record_of(item),
                        // Stores that do not return the old item: read it.
                        None => self.read(key).await?,
                    }
                }
                _ => return Err(StoreError::Unavailable(describe(&error))),
            };
            match existing {
                // The record vanished, or expired, between the write and now: claim again.
                None => continue,
                Some(record) if record.is_claimable(now_ms) => continue,
                Some(record) => return Ok(record.as_claim()),
            }
        }
        Ok(Claim::InProgress)
    }

    async fn complete(&self, key: &str, now_ms: i64, data: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("id", AttributeValue::S(key.to_string()))
            .item("status", AttributeValue::S(COMPLETED.into()))
            .item(
                "expiration",
                AttributeValue::N((now_ms / 1000 + COMPLETED_FOR_SECONDS).to_string()),
            )
            .item("data", AttributeValue::S(data.to_string()))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(key.to_string()))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        Ok(())
    }
}

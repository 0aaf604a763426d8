//! The apply function's change ledger ([`ChangeLedger`]) on the employee's own item of the state
//! table (`employee#<kombo id>`), beside its state in `data`:
//!
//! | attribute | holds |
//! |---|---|
//! | `claim_key` | the idempotency key of the employee's change in flight, or of its last completed one |
//! | `claim_status` | `INPROGRESS` or `COMPLETED` (absent: nothing claimed) |
//! | `claim_until` | epoch milliseconds: an `INPROGRESS` claim lapses then (its holder's deadline) |
//! | `claim_expiration` | epoch seconds: a `COMPLETED` change stops short-circuiting its duplicates then |
//! | `claim_hash` | the desired-state hash of the change in `claim_key` |
//! | `claim_data` | the completed attempt's record |
//!
//! So a change costs two writes in series: one conditional UpdateItem claims the change and
//! the employee at once and returns the item as it was (`ReturnValues=ALL_OLD`: the state read
//! comes with it); one UpdateItem writes the new state, the completion and the release. The
//! records of the idempotency table written before (one per key, and a lease per employee) are
//! no longer read: a duplicate of a change they completed finds the state already holding it.

use crate::describe;
use crate::dynamo::{decode_state, unless_condition_failed, DynamoStateStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use std::collections::HashMap;
use sync_core::error::StoreError;
use sync_core::idempotency::{ChangeClaim, ChangeKey, ChangeLedger, COMPLETED_FOR_SECONDS};
use sync_core::state::EmployeeState;

const IN_PROGRESS: &str = "INPROGRESS";
const COMPLETED: &str = "COMPLETED";
/// A claim that lost a race with a claim lapsing is tried again this many times.
const CLAIM_ATTEMPTS: usize = 3;

type Item = HashMap<String, AttributeValue>;

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

/// What a claim that failed its condition means, from the item as it was; `None`: it no longer
/// stands in the way (it lapsed between the write and now), so claim again.
fn refusal(item: &Item, change: &ChangeKey, now_ms: i64) -> Option<ChangeClaim> {
    match text(item, "claim_status")? {
        IN_PROGRESS if number(item, "claim_until").is_some_and(|t| t >= now_ms) => {
            Some(ChangeClaim::Busy)
        }
        COMPLETED
            if change.is_duplicate_of(
                text(item, "claim_key").unwrap_or_default(),
                text(item, "claim_hash"),
            ) && number(item, "claim_expiration").is_some_and(|e| e >= now_ms / 1000) =>
        {
            Some(ChangeClaim::Completed(
                text(item, "claim_data").unwrap_or_default().to_string(),
            ))
        }
        _ => None,
    }
}

impl DynamoStateStore {
    fn employee_item(change: &ChangeKey) -> (AttributeValue, AttributeValue) {
        (
            AttributeValue::S(format!("tenant#{}", change.tenant)),
            AttributeValue::S(format!("employee#{}", change.employee_id)),
        )
    }

    async fn read_item(&self, change: &ChangeKey) -> Result<Option<Item>, StoreError> {
        let (pk, sk) = Self::employee_item(change);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", sk)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        Ok(out.item().cloned())
    }
}

#[async_trait]
impl ChangeLedger for DynamoStateStore {
    async fn claim_change(
        &self,
        change: &ChangeKey,
        now_ms: i64,
        in_progress_until_ms: i64,
    ) -> Result<ChangeClaim, StoreError> {
        // Free, or a completion of another change, or a completion that expired, or a claim
        // whose holder's deadline passed. For a source change, a completion of the same desired
        // state under another key (a repair's) is no other change.
        let other_change = if change.repair {
            "claim_key <> :key"
        } else {
            "(claim_key <> :key AND (attribute_not_exists(claim_hash) OR claim_hash <> :hash))"
        };
        let condition = format!(
            "attribute_not_exists(claim_status) \
             OR (claim_status = :completed AND ({other_change} OR claim_expiration < :now)) \
             OR (claim_status = :in_progress AND claim_until < :now_ms)"
        );
        for _ in 0..CLAIM_ATTEMPTS {
            let (pk, sk) = Self::employee_item(change);
            let mut request = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", pk)
                .key("sk", sk)
                .update_expression(
                    "SET claim_key = :key, claim_hash = :claimed_hash, claim_status = :in_progress, \
                     claim_until = :until, claim_expiration = :expiration REMOVE claim_data",
                )
                .condition_expression(&condition)
                .expression_attribute_values(":key", AttributeValue::S(change.key.clone()))
                .expression_attribute_values(
                    ":claimed_hash",
                    AttributeValue::S(change.desired_hash.clone()),
                )
                .expression_attribute_values(":in_progress", AttributeValue::S(IN_PROGRESS.into()))
                .expression_attribute_values(":completed", AttributeValue::S(COMPLETED.into()))
                .expression_attribute_values(
                    ":until",
                    AttributeValue::N(in_progress_until_ms.to_string()),
                )
                .expression_attribute_values(
                    ":expiration",
                    AttributeValue::N((now_ms / 1000 + COMPLETED_FOR_SECONDS).to_string()),
                )
                .expression_attribute_values(":now", AttributeValue::N((now_ms / 1000).to_string()))
                .expression_attribute_values(":now_ms", AttributeValue::N(now_ms.to_string()))
                .return_values(ReturnValue::AllOld)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            if !change.repair {
                request = request.expression_attribute_values(
                    ":hash",
                    AttributeValue::S(change.desired_hash.clone()),
                );
            }
            let result = request.send().await;
            let error = match result {
                Ok(out) => {
                    let state = out.attributes().map(decode_state).transpose()?.flatten();
                    return Ok(ChangeClaim::Acquired(state.map(Box::new)));
                }
                Err(e) => e,
            };
            let existing = match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    match failed.item() {
                        Some(item) => Some(item.clone()),
                        // Stores that do not return the old item: read it.
                        None => self.read_item(change).await?,
                    }
                }
                _ => return Err(StoreError::Unavailable(describe(&error))),
            };
            if let Some(refused) = existing.and_then(|item| refusal(&item, change, now_ms)) {
                return Ok(refused);
            }
        }
        Ok(ChangeClaim::Busy)
    }

    async fn complete_change(
        &self,
        change: &ChangeKey,
        state: Option<&EmployeeState>,
        now_ms: i64,
        data: &str,
    ) -> Result<(), StoreError> {
        let (pk, sk) = Self::employee_item(change);
        let mut set = "SET claim_key = :key, claim_hash = :hash, claim_status = :completed, \
                       claim_expiration = :expiration, claim_data = :data"
            .to_string();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", sk)
            .expression_attribute_values(":key", AttributeValue::S(change.key.clone()))
            .expression_attribute_values(":hash", AttributeValue::S(change.desired_hash.clone()))
            .expression_attribute_values(":completed", AttributeValue::S(COMPLETED.into()))
            .expression_attribute_values(
                ":expiration",
                AttributeValue::N((now_ms / 1000 + COMPLETED_FOR_SECONDS).to_string()),
            )
            .expression_attribute_values(":data", AttributeValue::S(data.to_string()));
        if let Some(state) = state {
            let json =
                serde_json::to_string(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            set.push_str(", #state = :state");
            request = request
                .expression_attribute_names("#state", "data")
                .expression_attribute_values(":state", AttributeValue::S(json));
        }
        let result = request
            .update_expression(format!("{set} REMOVE claim_until"))
            // Only our own claim: one that lapsed (its holder outlived its deadline) and was
            // taken over is its new holder's, whose state must not be rolled back to ours.
            .condition_expression("claim_key = :key AND claim_status = :in_progress")
            .expression_attribute_values(":in_progress", AttributeValue::S(IN_PROGRESS.into()))
            .send()
            .await;
        unless_condition_failed(result)
    }

    async fn release_change(&self, change: &ChangeKey) -> Result<(), StoreError> {
        let (pk, sk) = Self::employee_item(change);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", sk)
            .update_expression(
                "REMOVE claim_key, claim_hash, claim_status, claim_until, claim_expiration, \
                 claim_data",
            )
            // Only our own claim: one that lapsed and was taken over is its new holder's.
            .condition_expression("claim_key = :key AND claim_status = :in_progress")
            .expression_attribute_values(":key", AttributeValue::S(change.key.clone()))
            .expression_attribute_values(":in_progress", AttributeValue::S(IN_PROGRESS.into()))
            .send()
            .await;
        unless_condition_failed(result)
    }
}

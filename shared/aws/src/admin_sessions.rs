//! The admin page's sessions in the state table (see [`sync_core::admin`]):
//!
//! | pk | sk | holds |
//! |---|---|---|
//! | `admin-nonce#<nonce>` | `nonce` | an admin link's nonce, used; until the link's expiry (`expires_at`) |
//! | `admin-session#<sha-256 of the cookie>` | `session` | tenant, CSRF token, expiry (`expires_at`) |
//! | `tenant#<id>` | `admin-import` | when an admin last asked for an import |
//!
//! `expires_at` is the table's TTL attribute: DynamoDB cleans up, the code checks expiry itself.
//! A nonce is claimed with one conditional PutItem, so it is consumed once however many requests
//! race with it.

use crate::dynamo::{decode, unavailable};
use crate::DynamoStateStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use sync_core::admin::{AdminSession, AdminSessions};
use sync_core::error::StoreError;

/// A session's item lives a day past its expiry before TTL removes it; the code never reads it
/// after `expires_at` anyway.
const SESSION_TTL_GRACE_SECONDS: i64 = 24 * 3600;

#[async_trait]
impl AdminSessions for DynamoStateStore {
    async fn consume_nonce(
        &self,
        nonce: &str,
        keep_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.put_if_free(
            format!("admin-nonce#{nonce}"),
            "nonce",
            Utc::now(),
            keep_until,
            None,
        )
        .await
    }

    async fn create(&self, id_hash: &str, session: &AdminSession) -> Result<(), StoreError> {
        let data =
            serde_json::to_string(session).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("admin-session#{id_hash}")))
            .item("sk", AttributeValue::S("session".into()))
            .item("data", AttributeValue::S(data))
            .item(
                "expires_at",
                AttributeValue::N(
                    (session.expires_at.timestamp() + SESSION_TTL_GRACE_SECONDS).to_string(),
                ),
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<AdminSession>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("admin-session#{id_hash}")))
            .key("sk", AttributeValue::S("session".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let session: Option<AdminSession> = out.item().map(decode).transpose()?;
        Ok(session.filter(|s| s.expires_at > now))
    }

    async fn note_import(&self, tenant: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.put(tenant, "admin-import".into(), &at, None).await
    }

    async fn import_requested(&self, tenant: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.get(tenant, "admin-import").await
    }
}

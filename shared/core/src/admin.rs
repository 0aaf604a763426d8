//! The admin page's sessions, as a port: the single-use nonces of admin links, the sessions they
//! open, and when an admin last asked for an import. A session is found by the SHA-256 of the
//! cookie's value: the store never holds the value itself, so a copy of the store opens nothing.

use crate::error::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;

/// One admin's session, for one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminSession {
    pub tenant_id: String,
    /// Sent back in `X-CSRF-Token` with every state-changing request.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait AdminSessions: Send + Sync {
    /// Marks an admin link's nonce used, remembering it until `keep_until` (the link's expiry):
    /// true the first time, false ever after. Atomic: two requests with one nonce never both win.
    async fn consume_nonce(
        &self,
        nonce: &str,
        keep_until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Stores a new session under the SHA-256 (hex) of its cookie value.
    async fn create(&self, id_hash: &str, session: &AdminSession) -> Result<(), StoreError>;
    /// The session stored under `id_hash`, unless it expired by `now`.
    async fn get(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<AdminSession>, StoreError>;
    /// Records that an admin of `tenant` asked for an import at `at` (shown as queued until a
    /// run starts).
    async fn note_import(&self, tenant: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    async fn import_requested(&self, tenant: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// The embedded sessions, for one process (`personio-sync admin serve`, tests). A restart
/// forgets them: admins open a new link.
#[derive(Default)]
pub struct InMemoryAdminSessions {
    nonces: Mutex<HashMap<String, DateTime<Utc>>>,
    sessions: Mutex<HashMap<String, AdminSession>>,
    imports: Mutex<HashMap<String, DateTime<Utc>>>,
}

#[async_trait]
impl AdminSessions for InMemoryAdminSessions {
    async fn consume_nonce(
        &self,
        nonce: &str,
        keep_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut nonces = self.nonces.lock().expect("lock");
        let now = Utc::now();
        nonces.retain(|_, until| *until > now);
        if nonces.contains_key(nonce) {
            return Ok(false);
        }
        nonces.insert(nonce.to_string(), keep_until);
        Ok(true)
    }

    async fn create(&self, id_hash: &str, session: &AdminSession) -> Result<(), StoreError> {
        self.sessions
            .lock()
            .expect("lock")
            .insert(id_hash.to_string(), session.clone());
        Ok(())
    }

    async fn get(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<AdminSession>, StoreError> {
        Ok(self
            .sessions
            .lock()
            .expect("lock")
            .get(id_hash)
            .filter(|s| s.expires_at > now)
            .cloned())
    }

    async fn note_import(&self, tenant: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.imports
            .lock()
            .expect("lock")
            .insert(tenant.to_string(), at);
        Ok(())
    }

    async fn import_requested(&self, tenant: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.imports.lock().expect("lock").get(tenant).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_nonce_is_consumed_once_and_a_session_lapses() {
        let sessions = InMemoryAdminSessions::default();
        let until = Utc::now() + chrono::Duration::minutes(15);
        assert!(sessions.consume_nonce("n1", until).await.unwrap());
        assert!(!sessions.consume_nonce("n1", until).await.unwrap());
        assert!(sessions.consume_nonce("n2", until).await.unwrap());
        let now = Utc::now();
        let session = AdminSession {
            tenant_id: "a".into(),
            csrf_token: "c".into(),
            expires_at: now + chrono::Duration::hours(8),
        };
        sessions.create("h", &session).await.unwrap();
        assert_eq!(sessions.get("h", now).await.unwrap(), Some(session));
        assert_eq!(
            sessions
                .get("h", now + chrono::Duration::hours(9))
                .await
                .unwrap(),
            None
        );
        assert_eq!(sessions.get("other", now).await.unwrap(), None);
    }
}

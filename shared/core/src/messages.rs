//! The messages the functions send each other through SQS, as a contract between a producer
//! and a consumer that are deployed separately:
//!
//! | message | producers | consumer | queue |
//! |---|---|---|---|
//! | [`SyncRequest`] | the webhook function (a delta), the sync function (the schedule's full syncs, a busy tenant's request sent again) | the sync function | sync requests |
//! | [`ChangeMessage`] | the sync function (one per employee that differs) | the apply function | changes |
//!
//! Each carries `"version"`. The rules:
//!
//! - A producer writes its type's [`QueueMessage::VERSION`]; a consumer reads the versions in
//!   [`QueueMessage::READS`], and decodes through [`decode`], which checks the version before it
//!   reads anything else.
//! - A message without `"version"` is version 1 ([`UNVERSIONED`]): it was queued by a build that
//!   predates the field, and such messages are still in flight while the build that added it is
//!   deployed.
//! - A new optional field (one with a serde default that means what older messages meant) keeps
//!   the version. Anything an older consumer would misread (a field renamed, removed, retyped or
//!   given a new meaning, a new field it must not ignore) is a new version: first deploy
//!   consumers that read it, then producers that write it.
//! - A consumer refuses a version it does not read ([`MessageError::UnknownVersion`]) and hands
//!   the message back to SQS: after the queue's `maxReceiveCount` it lands in the dead-letter
//!   queue, from where it is replayed once a build that reads it is deployed. It is never
//!   dropped, and its body (names, emails) is never logged.

use crate::decode::{decode_str, DecodeProblem};
use crate::mapping::DesiredUser;
use crate::report::{RunTrigger, SyncMode};
use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The version of a message that carries none: one queued before messages were versioned.
pub const UNVERSIONED: u32 = 1;

fn unversioned() -> u32 {
    UNVERSIONED
}

/// A message of one of the queues.
pub trait QueueMessage: Serialize + DeserializeOwned {
    /// What the message is called in errors and logs.
    const KIND: &'static str;
    /// The version this build writes.
    const VERSION: u32;
    /// Every version this build reads, [`Self::VERSION`] among them.
    const READS: &'static [u32];
}

/// Why a queued message was not read. Never retryable: a redelivery reads no better. The
/// consumers hand such a message back all the same, so that SQS keeps it (in the dead-letter
/// queue after `maxReceiveCount`) instead of losing it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MessageError {
    #[error("{kind} of version {got}: this build reads version {}; the message is left for the dead-letter queue, to replay once a build that reads it is deployed", versions(.known))]
    UnknownVersion {
        kind: &'static str,
        got: u64,
        known: &'static [u32],
    },
    /// Names the field and what was wrong with it, never the value.
    #[error("undecodable {kind}: {problem}")]
    Undecodable {
        kind: &'static str,
        problem: DecodeProblem,
    },
}

impl MessageError {
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// "1", "1 or 2".
fn versions(known: &[u32]) -> String {
    let known: Vec<String> = known.iter().map(u32::to_string).collect();
    known.join(" or ")
}

/// A queued message's body as `M`: its version checked first (no `"version"` is
/// [`UNVERSIONED`]), so that a version this build does not read is named as such, whatever its
/// fields look like.
pub fn decode<M: QueueMessage>(body: &str) -> Result<M, MessageError> {
    #[derive(Deserialize)]
    struct Version {
        #[serde(default)]
        version: Option<u64>,
    }
    let undecodable = |problem| MessageError::Undecodable {
        kind: M::KIND,
        problem,
    };
    let version = decode_str::<Version>(body)
        .map_err(undecodable)?
        .version
        .unwrap_or(u64::from(UNVERSIONED));
    if !M::READS.iter().any(|&known| u64::from(known) == version) {
        return Err(MessageError::UnknownVersion {
            kind: M::KIND,
            got: version,
            known: M::READS,
        });
    }
    decode_str(body).map_err(undecodable)
}

/// A request for one tenant's sync, on the sync-request queue: a webhook's delta sync, or the
/// schedule's full sync (one message per tenant, so that each tenant has an invocation's whole
/// time of its own and one tenant's failure is retried alone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Written by the constructors; see the module's rules.
    #[serde(default = "unversioned")]
    version: u32,
    pub tenant: String,
    /// The webhook event (or scheduled event) that asked for it, for tracing.
    pub event_id: String,
    #[serde(default = "delta")]
    pub mode: SyncMode,
    #[serde(default = "webhook")]
    pub trigger: RunTrigger,
}

impl QueueMessage for SyncRequest {
    const KIND: &'static str = "sync request";
    const VERSION: u32 = 1;
    const READS: &'static [u32] = &[1];
}

fn delta() -> SyncMode {
    SyncMode::Delta
}

fn webhook() -> RunTrigger {
    RunTrigger::Webhook
}

impl SyncRequest {
    /// The delta sync a webhook asks for.
    pub fn delta(tenant: impl Into<String>, event_id: impl Into<String>) -> Self {
        Self {
            version: Self::VERSION,
            tenant: tenant.into(),
            event_id: event_id.into(),
            mode: SyncMode::Delta,
            trigger: RunTrigger::Webhook,
        }
    }

    /// The full sync the schedule runs for each enabled tenant.
    pub fn scheduled(tenant: impl Into<String>, event_id: impl Into<String>) -> Self {
        Self {
            version: Self::VERSION,
            tenant: tenant.into(),
            event_id: event_id.into(),
            mode: SyncMode::Full,
            trigger: RunTrigger::Schedule,
        }
    }

    /// "Import all from Personio", asked for on the admin page: a full sync, like the
    /// schedule's, started by hand.
    pub fn import_all(tenant: impl Into<String>, event_id: impl Into<String>) -> Self {
        Self {
            version: Self::VERSION,
            tenant: tenant.into(),
            event_id: event_id.into(),
            mode: SyncMode::Full,
            trigger: RunTrigger::Invoke,
        }
    }

    /// The version of the contract this message was written in.
    pub fn version(&self) -> u32 {
        self.version
    }
}

/// Why a change message exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeReason {
    /// Planned from Kombo against the state the sync last applied. Messages queued before the
    /// field existed decode as this.
    #[default]
    SourceChange,
    /// A reconcile found the employee's Learn Amp user drifted from what was applied (changed by
    /// hand): the desired state may be one completed before, and must be applied again.
    Repair,
}

/// "Employee E of tenant T should look like S, as of source version V."
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeMessage {
    /// Written by [`ChangeMessage::new`]; see the module's rules.
    #[serde(default = "unversioned")]
    version: u32,
    pub tenant: String,
    pub run_id: String,
    pub desired: DesiredUser,
    /// `desired.state_hash()`: with tenant and employee (and, for a repair, the run), the
    /// idempotency key of this change.
    pub desired_hash: String,
    pub today: NaiveDate,
    pub wave: u32,
    #[serde(default)]
    pub reason: ChangeReason,
}

impl QueueMessage for ChangeMessage {
    const KIND: &'static str = "change message";
    const VERSION: u32 = 1;
    const READS: &'static [u32] = &[1];
}

impl ChangeMessage {
    pub fn new(
        tenant: &str,
        run_id: &str,
        desired: DesiredUser,
        today: NaiveDate,
        wave: u32,
    ) -> Self {
        Self {
            version: Self::VERSION,
            tenant: tenant.to_string(),
            run_id: run_id.to_string(),
            desired_hash: desired.state_hash(),
            desired,
            today,
            wave,
            reason: ChangeReason::SourceChange,
        }
    }

    /// The version of the contract this message was written in.
    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn with_reason(mut self, reason: ChangeReason) -> Self {
        self.reason = reason;
        self
    }

    /// Tenant + employee + desired-state hash: the webhook's and the schedule's copies of one
    /// source change share it, so the second is a duplicate. A repair's key also names its run:
    /// it wants a state that was completed before (that is what drifted), so no earlier
    /// completion may hide it, while its own redeliveries still short-circuit.
    pub fn idempotency_key(&self) -> String {
        let key = format!(
            "{}#{}#{}",
            self.tenant, self.desired.employee_id, self.desired_hash
        );
        match self.reason {
            ChangeReason::SourceChange => key,
            ChangeReason::Repair => format!("{key}#repair#{}", self.run_id),
        }
    }

    /// The key held while any change of this employee is being applied.
    pub fn employee_lease_key(&self) -> String {
        format!("{}#{}#in-flight", self.tenant, self.desired.employee_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change() -> ChangeMessage {
        ChangeMessage::new(
            "personio:T",
            "run-1",
            DesiredUser {
                email: Some("ada@example.test".into()),
                job_title: None,
                hire_date: None,
                ..DesiredUser::sample("E1")
            },
            NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            0,
        )
    }

    fn json_of(message: &impl Serialize) -> serde_json::Value {
        serde_json::to_value(message).unwrap()
    }

    #[test]
    fn what_a_producer_writes_carries_its_version_and_decodes_as_it_was() {
        let request = SyncRequest::delta("personio:T", "evt-1");
        let body = serde_json::to_string(&request).unwrap();
        assert_eq!(json_of(&request)["version"], SyncRequest::VERSION);
        assert_eq!(decode::<SyncRequest>(&body), Ok(request));

        let change = change().with_reason(ChangeReason::Repair);
        let body = serde_json::to_string(&change).unwrap();
        assert_eq!(json_of(&change)["version"], ChangeMessage::VERSION);
        assert_eq!(decode::<ChangeMessage>(&body), Ok(change));
    }

    #[test]
    fn a_message_without_a_version_is_version_1() {
        // The shapes queued before messages were versioned, as they may still be in flight.
        let request =
            decode::<SyncRequest>(r#"{"tenant":"personio:T","event_id":"evt-1"}"#).unwrap();
        assert_eq!(request.version(), 1);
        assert_eq!(request, SyncRequest::delta("personio:T", "evt-1"));

        let mut legacy = json_of(&change());
        legacy.as_object_mut().unwrap().remove("version");
        legacy.as_object_mut().unwrap().remove("reason");
        let decoded = decode::<ChangeMessage>(&legacy.to_string()).unwrap();
        assert_eq!(
            (decoded.version(), decoded.reason),
            (1, ChangeReason::SourceChange)
        );
        assert_eq!(decoded, change());
    }

    #[test]
    fn an_unknown_version_is_refused_by_name_whatever_its_fields_and_without_them() {
        // A version 2 that renamed every field: the version is what is wrong, not a field.
        let body = r#"{"version":2,"who":"ada@example.test","employee":{"name":"Ada Example"}}"#;
        let error = decode::<ChangeMessage>(body).unwrap_err();
        assert_eq!(
            error,
            MessageError::UnknownVersion {
                kind: "change message",
                got: 2,
                known: &[1]
            }
        );
        let text = error.to_string();
        assert!(
            text.starts_with("change message of version 2: this build reads version 1;"),
            "{text}"
        );
        assert!(!text.contains("ada@") && !text.contains("Ada"), "{text}");
        assert!(!error.is_retryable());

        let mut request = json_of(&SyncRequest::delta("personio:T", "evt-1"));
        request["version"] = 7.into();
        assert!(matches!(
            decode::<SyncRequest>(&request.to_string()),
            Err(MessageError::UnknownVersion { got: 7, .. })
        ));
    }

    #[test]
    fn a_body_that_is_not_a_message_names_the_field_never_the_value() {
        let error =
            decode::<SyncRequest>(r#"{"version":"one","tenant":"personio:T"}"#).unwrap_err();
        assert!(
            matches!(&error, MessageError::Undecodable { problem, .. } if problem.path == "version"),
            "{error}"
        );
        let error = decode::<ChangeMessage>(r#"{"tenant":"personio:T","run_id":"Ada Example"}"#)
            .unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("undecodable change message: "), "{text}");
        assert!(!text.contains("Ada"), "{text}");
        assert!(matches!(
            decode::<ChangeMessage>("{not json"),
            Err(MessageError::Undecodable { .. })
        ));
    }
}

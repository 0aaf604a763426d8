//! What an incoming Kombo webhook asks of the sync, once its signature checked out.

use crate::kombo::WebhookEvent;
use crate::messages::SyncRequest;
use crate::webhook::{parse_kombo_webhook, WebhookError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake {
    /// A `data-changed` event for a model the sync reads: run a delta sync.
    Sync(SyncRequest),
    /// An integration lifecycle event, to record on the tenant.
    TenantEvent { tenant: String, event_type: String },
    /// A valid event for a tenant this deployment does not serve.
    UnknownTenant { tenant: String },
    /// A valid event that needs nothing (other types, other models).
    Ignored { event_type: String },
}

/// Verifies and classifies a Kombo webhook. `is_known_tenant` says whether an integration id is
/// one of ours. Deduplication on the event id is the caller's, because where "seen" ids live
/// differs between the local runner and AWS.
pub fn kombo_intake(
    secrets: &[&[u8]],
    body: &[u8],
    signature: Option<&str>,
    is_known_tenant: impl Fn(&str) -> bool,
) -> Result<(WebhookEvent, Intake), WebhookError> {
    let event = parse_kombo_webhook(secrets, body, signature)?;
    let intake = classify(&event, is_known_tenant);
    Ok((event, intake))
}

/// What a verified Kombo event asks for.
pub fn classify(event: &WebhookEvent, is_known_tenant: impl Fn(&str) -> bool) -> Intake {
    match (event.event_type.as_str(), event.integration_id()) {
        (_, Some(tenant)) if !is_known_tenant(tenant) => Intake::UnknownTenant {
            tenant: tenant.to_string(),
        },
        ("data-changed", Some(tenant)) if event.needs_sync() => {
            Intake::Sync(SyncRequest::delta(tenant, event.id.clone()))
        }
        (
            kind @ ("integration-created" | "integration-deleted" | "integration-state-changed"),
            Some(tenant),
        ) => Intake::TenantEvent {
            tenant: tenant.to_string(),
            event_type: kind.to_string(),
        },
        (kind, _) => Intake::Ignored {
            event_type: kind.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::kombo_signature;

    fn signed(body: &str) -> (Vec<u8>, String) {
        (
            body.as_bytes().to_vec(),
            kombo_signature(b"k", body.as_bytes()),
        )
    }

    #[test]
    fn a_data_changed_event_belongs_to_its_integration_id_never_its_data_id() {
        let known = |t: &str| t == "personio:A";
        // `data.id` of another (known or not) integration is not the tenant: `integration_id` is.
        let (body, sig) = signed(
            r#"{"id":"e1","type":"data-changed","data":{"id":"personio:B","integration_id":"personio:A","changed_models":[{"name":"hris_employees"}]}}"#,
        );
        let (_, intake) = kombo_intake(&[b"k"], &body, Some(&sig), known).unwrap();
        assert_eq!(intake, Intake::Sync(SyncRequest::delta("personio:A", "e1")));

        // Without `integration_id`, a data-changed event names no tenant.
        let (body, sig) = signed(
            r#"{"id":"e2","type":"data-changed","data":{"id":"personio:A","changed_models":[{"name":"hris_employees"}]}}"#,
        );
        let (event, intake) = kombo_intake(&[b"k"], &body, Some(&sig), known).unwrap();
        assert_eq!(event.integration_id(), None);
        assert_eq!(
            intake,
            Intake::Ignored {
                event_type: "data-changed".into()
            }
        );

        // The lifecycle events name it in `data.id` (created, deleted) or `data.integration_id`.
        for kind in [
            "integration-created",
            "integration-deleted",
            "integration-state-changed",
        ] {
            let (body, sig) = signed(&format!(
                r#"{{"id":"e3","type":"{kind}","data":{{"id":"personio:A","tool":"personio"}}}}"#
            ));
            let (_, intake) = kombo_intake(&[b"k"], &body, Some(&sig), known).unwrap();
            assert_eq!(
                intake,
                Intake::TenantEvent {
                    tenant: "personio:A".into(),
                    event_type: kind.into()
                }
            );
        }
    }

    #[test]
    fn classifies_events() {
        let known = |t: &str| t == "personio:A";
        let (body, sig) = signed(
            r#"{"id":"e1","type":"data-changed","data":{"integration_id":"personio:A","changed_models":[{"name":"hris_employees"}]}}"#,
        );
        let (_, intake) = kombo_intake(&[b"k"], &body, Some(&sig), known).unwrap();
        assert_eq!(intake, Intake::Sync(SyncRequest::delta("personio:A", "e1")));

        let (body, sig) = signed(
            r#"{"id":"e2","type":"data-changed","data":{"integration_id":"personio:B","changed_models":[{"name":"hris_employees"}]}}"#,
        );
        let (_, intake) = kombo_intake(&[b"k"], &body, Some(&sig), known).unwrap();
        assert_eq!(
            intake,
            Intake::UnknownTenant {
                tenant: "personio:B".into()
            }
        );

        let (body, sig) = signed(
            r#"{"id":"e3","type":"integration-state-changed","data":{"integration_id":"personio:A","state":"INVALID"}}"#,
        );
        let (_, intake) = kombo_intake(&[b"k"], &body, Some(&sig), known).unwrap();
        assert!(matches!(intake, Intake::TenantEvent { .. }));

        let (body, sig) =
            signed(r#"{"id":"e4","type":"sync-finished","data":{"integration_id":"personio:A"}}"#);
        let (_, intake) = kombo_intake(&[b"k"], &body, Some(&sig), known).unwrap();
        assert_eq!(
            intake,
            Intake::Ignored {
                event_type: "sync-finished".into()
            }
        );

        assert_eq!(
            kombo_intake(&[b"wrong"], &body, Some(&sig), known).unwrap_err(),
            WebhookError::BadSignature
        );
    }
}

//! Verification of incoming webhooks.
//!
//! Kombo signs the raw request body: `X-Kombo-Signature` is the HMAC-SHA256 of the exact bytes
//! received, keyed with the webhook secret, encoded base64url without padding (the padded form,
//! with its one trailing `=`, is accepted too). The body must never be re-serialised before
//! checking, and the comparison is constant-time.

use crate::kombo::WebhookEvent;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use thiserror::Error;

pub const KOMBO_SIGNATURE_HEADER: &str = "X-Kombo-Signature";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("missing or invalid signature")]
    BadSignature,
    #[error("body is not a valid webhook event: {0}")]
    Malformed(String),
}

/// The signature Kombo sends for `body`.
pub fn kombo_signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Checks `signature` against every accepted secret (two during a rotation).
pub fn verify_kombo_signature(
    secrets: &[&[u8]],
    body: &[u8],
    signature: Option<&str>,
) -> Result<(), WebhookError> {
    let signature = signature
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(WebhookError::BadSignature)?;
    // 32 bytes of HMAC encode to 43 characters: padded, exactly one `=` follows.
    let signature = signature.strip_suffix('=').unwrap_or(signature);
    let mut valid = false;
    for secret in secrets {
        let expected = kombo_signature(secret, body);
        // Evaluate every secret, so timing does not tell which one matched.
        valid |= bool::from(expected.as_bytes().ct_eq(signature.as_bytes()));
    }
    if valid {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}

/// Verifies, then parses, a Kombo webhook.
pub fn parse_kombo_webhook(
    secrets: &[&[u8]],
    body: &[u8],
    signature: Option<&str>,
) -> Result<WebhookEvent, WebhookError> {
    verify_kombo_signature(secrets, body, signature)?;
    crate::decode::decode(body).map_err(|e| WebhookError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"Cbfk5sHtDxrSrJBRjsDtbaN9","type":"data-changed","data":{"integration_id":"personio:CBNMt7dSNCzBdnRTx87dev4E","integration_tool":"personio","integration_category":"HRIS","changed_models":[{"name":"hris_employees"},{"name":"hris_join_employees_teams"}]}}"#;

    #[test]
    fn signature_is_base64url_hmac_sha256_without_padding() {
        let sig = kombo_signature(b"secret", b"hello");
        // HMAC-SHA256("secret", "hello") = 88aab3ede8d3adf94d26ab90d3bafd4a2083070c3bcce9c014ee04a443847c0b
        assert_eq!(sig, "iKqz7ejTrflNJquQ07r9SiCDBww7zOnAFO4EpEOEfAs");
        assert!(!sig.contains('='));
    }

    #[test]
    fn accepts_the_raw_body_and_rejects_anything_else() {
        let sig = kombo_signature(b"s3cret", BODY);
        let event = parse_kombo_webhook(&[b"s3cret"], BODY, Some(&sig)).unwrap();
        assert_eq!(
            event.integration_id(),
            Some("personio:CBNMt7dSNCzBdnRTx87dev4E")
        );
        assert!(event.needs_sync());

        assert_eq!(
            parse_kombo_webhook(&[b"other"], BODY, Some(&sig)),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            parse_kombo_webhook(&[b"s3cret"], BODY, None),
            Err(WebhookError::BadSignature)
        );
        // The same JSON re-serialised is a different body.
        let reserialised =
            serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(BODY).unwrap())
                .unwrap();
        assert_eq!(
            parse_kombo_webhook(&[b"s3cret"], &reserialised, Some(&sig)),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn a_padded_signature_verifies_and_a_forged_padded_one_does_not() {
        let sig = kombo_signature(b"s3cret", BODY);
        // 32 bytes of HMAC are 43 base64url characters, and one `=` when padded.
        let padded = format!("{sig}=");
        assert!(verify_kombo_signature(&[b"s3cret"], BODY, Some(&padded)).is_ok());

        let forged = format!("{}=", kombo_signature(b"guess", BODY));
        assert_eq!(
            verify_kombo_signature(&[b"s3cret"], BODY, Some(&forged)),
            Err(WebhookError::BadSignature)
        );
        let over_padded = format!("{sig}==");
        assert_eq!(
            verify_kombo_signature(&[b"s3cret"], BODY, Some(&over_padded)),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_kombo_signature(&[b"s3cret"], BODY, Some("=")),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn accepts_old_and_new_secret_during_rotation() {
        let sig = kombo_signature(b"old", BODY);
        assert!(verify_kombo_signature(&[b"new", b"old"], BODY, Some(&sig)).is_ok());
    }

    #[test]
    fn malformed_json_with_a_valid_signature_is_malformed_not_unauthorised() {
        let body = b"{not json";
        let sig = kombo_signature(b"k", body);
        assert!(matches!(
            parse_kombo_webhook(&[b"k"], body, Some(&sig)),
            Err(WebhookError::Malformed(_))
        ));
    }
}

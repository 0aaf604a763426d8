//! Errors of the ports. Each says whether trying again later can succeed, because that decides
//! between a retry (a nack, an SQS redelivery) and a permanent failure recorded on the employee.

use std::collections::BTreeMap;
use thiserror::Error;

/// Reading the HRIS (Kombo) failed. Any error aborts the listing: a partial listing is never
/// planned against, so it can never deactivate anyone.
#[derive(Debug, Error)]
pub enum SourceError {
    #[error("Kombo integration is not ready yet ({code}); the read will be retried later")]
    NotReady { code: String },
    #[error("Kombo rejected the API key or integration id ({code}): {message}. Check KOMBO_API_KEY and KOMBO_INTEGRATION_ID")]
    Unauthorized { code: String, message: String },
    /// The customer's own connection (Kombo to Personio) no longer works: nothing on our side
    /// can fix it, and nothing can be read until the customer reconnects.
    #[error("the customer's Personio connection in Kombo no longer works ({code}): the customer must reconnect Personio through Kombo's connection flow (an operator can send them a relink link); nothing is synced until then")]
    ConnectionBroken { code: String },
    #[error("Kombo request failed after retries ({code}): {message}")]
    Transient { code: String, message: String },
    #[error("Kombo rejected the request ({code}): {message}")]
    Rejected { code: String, message: String },
    #[error("Kombo returned a response that could not be decoded: {0}")]
    Decode(String),
    /// An answer no correct Kombo gives (a redirect, a cursor that repeats, a listing that does
    /// not end, an oversized body): not retried, the run stops.
    #[error("Kombo's answer broke the API's contract: {0}")]
    Protocol(String),
}

impl SourceError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::NotReady { .. } | Self::Transient { .. })
    }
}

/// A Learn Amp call failed.
#[derive(Debug, Error, Clone)]
pub enum TargetError {
    /// 4xx other than 401/404/429: a validation error, permanent for this employee.
    #[error("Learn Amp rejected the request (HTTP {status}): {message}")]
    Rejected {
        status: u16,
        message: String,
        field_errors: BTreeMap<String, Vec<String>>,
    },
    #[error("Learn Amp has no such record")]
    NotFound,
    /// 403: the credentials lack a scope (Learn Amp names it): fatal for the whole run, as every
    /// further call of that kind would be refused too.
    #[error("Learn Amp refused the request for lack of permission ({0}). Give the API credentials every scope the sync needs (Company Settings → API): {scopes}", scopes = crate::learnamp::SYNC_SCOPES)]
    Forbidden(String),
    /// The credentials are wrong: fatal for the whole run.
    #[error("Learn Amp refused the credentials: {0}. Check LEARNAMP_CLIENT_ID and LEARNAMP_CLIENT_SECRET")]
    Unauthorized(String),
    /// 429, 5xx, timeouts and connection errors that outlived the retries.
    #[error("Learn Amp is unavailable after retries: {0}")]
    Transient(String),
    #[error("Learn Amp returned a response that could not be decoded: {0}")]
    Decode(String),
    /// An answer no correct Learn Amp gives (a redirect, a listing that does not end, an
    /// oversized body): fatal for the whole run, like refused credentials.
    #[error("Learn Amp's answer broke the API's contract: {0}")]
    Protocol(String),
}

impl TargetError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transient(_))
    }

    /// True when every further call of the run would fail the same way: the run stops.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized(_) | Self::Forbidden(_) | Self::Protocol(_)
        )
    }

    /// True when the rejection says `field` "has already been taken" (Learn Amp's uniqueness
    /// error for `integrationExternalId` and, in the sandbox, `email`).
    pub fn is_taken(&self, field: &str) -> bool {
        match self {
            Self::Rejected {
                field_errors,
                message,
                ..
            } => {
                field_errors
                    .get(field)
                    .is_some_and(|msgs| msgs.iter().any(|m| m.contains("already been taken")))
                    || (field_errors.is_empty()
                        && message.contains("already been taken")
                        && message
                            .to_ascii_lowercase()
                            .contains(&humanize(field).to_ascii_lowercase()))
            }
            _ => false,
        }
    }
}

/// `integrationExternalId` → `integration external id`, the wording of Rails messages.
fn humanize(field: &str) -> String {
    let mut out = String::new();
    for c in field.chars() {
        if c.is_ascii_uppercase() {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The state store failed.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("state store I/O failed at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("state store holds a record that could not be decoded: {0}")]
    Corrupt(String),
    #[error("state store is unavailable: {0}")]
    Unavailable(String),
    /// A record changed since it was read (tenant `{0}`'s): nothing was written. Read it again
    /// and make the change again.
    #[error(
        "tenant {0}'s record was changed by another writer since it was read; nothing was written"
    )]
    Conflict(String),
    /// Complete lines of the embedded store's log that hold no record this build can read
    /// (damage, or a record type added by a newer build). Nothing was written.
    #[error("{path}: {} not {} this personio-sync can read; nothing was written. `personio-sync state repair --state {dir}` keeps a backup of the log and drops {}, or restore the log from a backup", lines_text(.lines), if .lines.len() == 1 { "a record" } else { "records" }, if .lines.len() == 1 { "that line" } else { "those lines" })]
    Undecodable {
        path: String,
        dir: String,
        lines: Vec<usize>,
    },
    /// A record of a format newer than this build's: refused, never skipped.
    #[error("{path}: line {line} was written by a newer personio-sync (format {format}; this one reads up to format {supported}); upgrade personio-sync")]
    NewerFormat {
        path: String,
        line: usize,
        format: u32,
        supported: u32,
    },
}

impl StoreError {
    /// An I/O failure or an unavailable store may pass; a record that cannot be read stays
    /// unreadable however often it is read again (it needs a repair, a restore or an upgrade).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Io { .. } | Self::Unavailable(_) | Self::Conflict(_) => true,
            Self::Corrupt(_) | Self::Undecodable { .. } | Self::NewerFormat { .. } => false,
        }
    }
}

/// "line 21 is", "lines 3, 21 are": numbers only, never a line's content.
fn lines_text(lines: &[usize]) -> String {
    const SHOWN: usize = 20;
    let mut numbers: Vec<String> = lines.iter().take(SHOWN).map(|n| n.to_string()).collect();
    if lines.len() > SHOWN {
        numbers.push(format!("and {} more", lines.len() - SHOWN));
    }
    match lines.len() {
        1 => format!("line {} is", numbers[0]),
        _ => format!("lines {} are", numbers.join(", ")),
    }
}

/// The queue failed.
#[derive(Debug, Error)]
pub enum QueueError {
    #[error("queue is unavailable: {0}")]
    Unavailable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_taken_fields() {
        let mut field_errors = BTreeMap::new();
        field_errors.insert(
            "integrationExternalId".to_string(),
            vec!["has already been taken".to_string()],
        );
        let err = TargetError::Rejected {
            status: 400,
            message: "Validation failed: Integration external id has already been taken".into(),
            field_errors,
        };
        assert!(err.is_taken("integrationExternalId"));
        assert!(!err.is_taken("email"));

        let bare = TargetError::Rejected {
            status: 400,
            message: "Validation failed: Email has already been taken".into(),
            field_errors: BTreeMap::new(),
        };
        assert!(bare.is_taken("email"));
        assert!(!bare.is_retryable());
        assert!(TargetError::Transient("503".into()).is_retryable());
    }

    #[test]
    fn a_store_record_that_cannot_be_read_is_not_retried() {
        assert!(!StoreError::Corrupt("item without data".into()).is_retryable());
        let undecodable = StoreError::Undecodable {
            path: "t.jsonl".into(),
            dir: ".".into(),
            lines: vec![3],
        };
        assert!(!undecodable.is_retryable());
        let newer = StoreError::NewerFormat {
            path: "t.jsonl".into(),
            line: 1,
            format: 2,
            supported: 1,
        };
        assert!(!newer.is_retryable());
        assert!(StoreError::Unavailable("throttled".into()).is_retryable());
        let io = StoreError::Io {
            path: "t.jsonl".into(),
            source: std::io::Error::other("disk full"),
        };
        assert!(io.is_retryable());
    }
}

//! A route's failure, as the admin reads it: a status and a sentence that says what to do.

use crate::http::Response;
use sync_core::error::{SourceError, StoreError};

/// A route's failure: the status and the sentence the admin reads, plus fields some errors add
/// (`relink`, `field`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub extra: Vec<(&'static str, serde_json::Value)>,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    /// 422 naming the field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::new(422, message).with("field", field)
    }

    pub fn into_response(self) -> Response {
        let mut body = serde_json::Map::new();
        body.insert("error".into(), self.message.into());
        for (name, value) in self.extra {
            body.insert(name.into(), value);
        }
        Response::json(self.status, &body)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Conflict(_) = e {
            tracing::info!(error = %e, "admin: the tenant's record changed while this request ran");
            return Self::new(
                409,
                "This integration was changed at the same moment (in another window, or by Kombo): nothing was saved. Reload the page and try again.",
            );
        }
        tracing::error!(error = %e, retryable = e.is_retryable(), "admin: state store failed");
        Self::new(
            503,
            "Our service could not read or save this just now: try again in a minute.",
        )
    }
}

impl From<SourceError> for ApiError {
    fn from(e: SourceError) -> Self {
        tracing::warn!(error = %e, retryable = e.is_retryable(), "admin: Kombo failed");
        match e {
            SourceError::ConnectionBroken { .. } => Self::new(
                409,
                "The Personio connection no longer works: reconnect Personio.",
            ),
            SourceError::NotReady { .. } => Self::new(
                409,
                "Kombo is still reading your Personio: try again once it has finished.",
            ),
            _ => Self::new(
                502,
                "Kombo (which reads Personio for us) could not be reached: try again in a minute.",
            ),
        }
    }
}

pub type ApiResult = Result<Response, ApiError>;

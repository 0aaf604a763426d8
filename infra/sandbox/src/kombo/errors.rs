//! Kombo's error envelope, and the answers to injected faults in it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::faults::FaultAnswers;

/// Kombo's error envelope.
pub(super) fn error_response(
    status: StatusCode,
    code: &str,
    title: &str,
    message: &str,
) -> Response {
    (
        status,
        Json(json!({
            "status": "error",
            "error": {"code": code, "title": title, "message": message, "log_url": null}
        })),
    )
        .into_response()
}

pub(super) fn input_invalid(message: &str) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        "PLATFORM.INPUT_INVALID",
        "The provided input is invalid.",
        message,
    )
}

pub(super) async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "PLATFORM.INPUT_INVALID",
        "Not found.",
        "This endpoint does not exist in the Kombo sandbox.",
    )
}

/// The fault layer's answers, in Kombo's envelope.
pub(super) const FAULT_ANSWERS: FaultAnswers = FaultAnswers {
    too_many_requests: rate_limit_exceeded,
    unavailable: service_unavailable,
};

fn rate_limit_exceeded() -> Response {
    error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "PLATFORM.RATE_LIMIT_EXCEEDED",
        "You have exceeded the rate limit.",
        "Too many requests. Please retry after the time given in the Retry-After header.",
    )
}

fn service_unavailable(status: StatusCode) -> Response {
    error_response(
        status,
        "REMOTE.SERVICE_UNAVAILABLE",
        "The remote service is unavailable.",
        "The service is temporarily unavailable (injected by the sandbox). Please try again later.",
    )
}

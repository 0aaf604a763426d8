//! The stand-in for Kombo's connection page, at the link `create-link` and `relink` hand out
//! (`GET /connect?token=…`), and the connection flow's `/_sandbox/*` control endpoints.
//!
//! The page is plain HTML: "Connect Personio", a Connect and a Cancel button, which post the
//! form back (`POST /connect`). The answer hands the outcome to whoever opened the page, as
//! Kombo's `showKomboConnect(link)` gets it: `postMessage({type: "kombo-connect:success", token},
//! "*")` or `{type: "kombo-connect:cancel"}` to `window.parent` (the page in an iframe) and to
//! `window.opener` (the page in a popup). The token is also in the answer's
//! `<output id="kombo-token">`, for tests that read HTML. A cancelled link stays usable.
//!
//! Control: `PUT /_sandbox/webhook` `{"url": …|null, "secret": …}`; `PUT /_sandbox/setup-delay`
//! `{"ms": n|null}`; `PATCH /_sandbox/integrations/{id}` `{"status"?, "setup_status"?}`;
//! `POST /_sandbox/custom-fields` `{"key", "model"?, "label"?}`; `GET /_sandbox/integrations`;
//! `GET /_sandbox/webhooks` (the outbox).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::connect;
use super::connect_state::PendingLink;
use super::data::Shared;
use super::errors::{input_invalid, not_found};

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/connect", get(page).post(answer))
        .route("/_sandbox/webhook", put(set_webhook))
        .route("/_sandbox/setup-delay", put(set_setup_delay))
        .route("/_sandbox/integrations", get(list_integrations))
        .route("/_sandbox/integrations/{id}", patch(set_status))
        .route("/_sandbox/custom-fields", post(add_custom_field))
        .route("/_sandbox/webhooks", get(list_webhooks))
}

#[derive(Deserialize)]
struct LinkQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    token: String,
    #[serde(default)]
    action: String,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#1d2330}\
h1{font-size:1.4rem}button{font-size:1rem;padding:.6rem 1.2rem;margin-right:.5rem;border-radius:.4rem;border:1px solid #3a4a8c}\
button[value=connect]{background:#3a4a8c;color:#fff}.note{color:#555;font-size:.9rem}";

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    );
    let mut response = (status, Html(page)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    response
}

/// Tokens are the sandbox's own (hex), but the one in a request is the client's: only hex
/// characters are echoed into a page.
fn hex_only(token: &str) -> String {
    token.chars().filter(char::is_ascii_hexdigit).collect()
}

fn message_page(title: &str, text: &str, message: serde_json::Value) -> Response {
    // JSON of hex tokens and fixed strings: nothing that could close the script element.
    let script = format!(
        "<script>(function(){{var m={message};\
         if(window.parent&&window.parent!==window)window.parent.postMessage(m,\"*\");\
         if(window.opener)window.opener.postMessage(m,\"*\");}})();</script>"
    );
    let token = message
        .get("token")
        .and_then(|t| t.as_str())
        .map(|t| format!("<output id=\"kombo-token\" hidden>{t}</output>"))
        .unwrap_or_default();
    html(
        StatusCode::OK,
        title,
        &format!("<h1>{title}</h1><p>{text}</p>{token}{script}"),
    )
}

async fn page(State(sh): State<Arc<Shared>>, Query(query): Query<LinkQuery>) -> Response {
    let token = hex_only(&query.token);
    let relink = {
        let connect = sh.connect();
        match connect.links.get(&token) {
            Some(link) => matches!(link.pending, PendingLink::Relink(_)),
            None => return invalid_link(),
        }
    };
    let (heading, action) = if relink {
        ("Reconnect Personio", "Reconnect")
    } else {
        ("Connect Personio", "Connect")
    };
    html(
        StatusCode::OK,
        heading,
        &format!(
            "<h1>{heading}</h1>\
             <p>Kombo would now ask for your Personio API credentials (client id and secret) \
             and the data to share.</p>\
             <p class=\"note\">This is the Kombo sandbox's stand-in page: no credentials are needed.</p>\
             <form method=\"post\" action=\"/connect\">\
             <input type=\"hidden\" name=\"token\" value=\"{token}\">\
             <button type=\"submit\" name=\"action\" value=\"connect\">{action}</button>\
             <button type=\"submit\" name=\"action\" value=\"cancel\">Cancel</button>\
             </form>"
        ),
    )
}

fn invalid_link() -> Response {
    let mut response = message_page(
        "This link is no longer valid",
        "Start the connection again from the integration page.",
        json!({"type": "kombo-connect:cancel"}),
    );
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

async fn answer(State(sh): State<Arc<Shared>>, Form(choice): Form<Choice>) -> Response {
    let token = hex_only(&choice.token);
    match choice.action.as_str() {
        "connect" => match connect::complete_link(&sh, &token).await {
            Some(token) => message_page(
                "Personio is connected",
                "You can close this window.",
                json!({"type": "kombo-connect:success", "token": token}),
            ),
            None => invalid_link(),
        },
        _ => message_page(
            "Connection cancelled",
            "Nothing was connected.",
            json!({"type": "kombo-connect:cancel"}),
        ),
    }
}

#[derive(Deserialize)]
struct WebhookTarget {
    url: Option<String>,
    #[serde(default)]
    secret: String,
}

async fn set_webhook(State(sh): State<Arc<Shared>>, Json(target): Json<WebhookTarget>) -> Response {
    connect::set_webhook(&sh, target.url.as_deref(), &target.secret);
    Json(json!({"status": "success"})).into_response()
}

#[derive(Deserialize)]
struct SetupDelay {
    ms: Option<u64>,
}

async fn set_setup_delay(State(sh): State<Arc<Shared>>, Json(delay): Json<SetupDelay>) -> Response {
    connect::set_setup_delay(&sh, delay.ms.map(Duration::from_millis));
    Json(json!({"status": "success"})).into_response()
}

async fn list_integrations(State(sh): State<Arc<Shared>>) -> Response {
    Json(json!({"integrations": connect::integrations(&sh)})).into_response()
}

#[derive(Deserialize)]
struct Statuses {
    status: Option<String>,
    setup_status: Option<String>,
}

async fn set_status(
    State(sh): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(statuses): Json<Statuses>,
) -> Response {
    let found = connect::set_integration_status(
        &sh,
        &id,
        statuses.status.as_deref(),
        statuses.setup_status.as_deref(),
    )
    .await;
    if found {
        Json(json!({"status": "success"})).into_response()
    } else {
        not_found().await
    }
}

#[derive(Deserialize)]
struct NewField {
    key: String,
    model: Option<String>,
    label: Option<String>,
}

async fn add_custom_field(State(sh): State<Arc<Shared>>, Json(field): Json<NewField>) -> Response {
    if field.key.is_empty() {
        return input_invalid("key must not be empty");
    }
    connect::add_custom_field(
        &sh,
        &field.key,
        field.model.as_deref().unwrap_or("hris_employees"),
        field.label.as_deref(),
    );
    Json(json!({"status": "success"})).into_response()
}

async fn list_webhooks(State(sh): State<Arc<Shared>>) -> Response {
    let sent: Vec<serde_json::Value> = connect::webhooks_sent(&sh)
        .into_iter()
        .map(|w| json!({"type": w.event_type, "body": w.body, "delivered": w.delivered}))
        .collect();
    Json(json!({"webhooks": sent})).into_response()
}

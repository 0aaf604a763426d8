//! A counting proxy in front of moto: every AWS request that reaches it is forwarded as it came
//! and logged with its service, its operation and when it started and ended, so that a bench or
//! a test can say how many DynamoDB, SQS and SSM requests a function made, and how many of them
//! were in series.
//!
//! The operation is read the way AWS routes it: the `X-Amz-Target` header of the JSON protocols
//! (`DynamoDB_20120810.GetItem`, `AmazonSQS.SendMessageBatch`, `AmazonSSM.GetParameter`), else
//! the `Action` of a query-protocol form body, the service then from the signature's scope.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One request seen by the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsCall {
    /// `dynamodb`, `sqs`, `ssm`, or what the signature's scope names.
    pub service: String,
    /// `GetItem`, `SendMessageBatch`, …
    pub operation: String,
    /// What the request is about: for DynamoDB the table and the kind of item (the sort key up
    /// to its first `#`, e.g. `state:settings`, `state:employee`), for SQS the queue's name, for
    /// SSM the parameter's name.
    pub target: String,
    /// Microseconds since the proxy started, when the request arrived and when it was answered.
    pub started_us: u64,
    pub ended_us: u64,
}

impl AwsCall {
    /// Whether the request writes (a DynamoDB write costs write units, not read units).
    pub fn is_dynamodb_write(&self) -> bool {
        self.service == "dynamodb"
            && matches!(
                self.operation.as_str(),
                "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems"
            )
    }
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    client: reqwest::Client,
    log: Arc<Mutex<Vec<AwsCall>>>,
    epoch: Instant,
}

/// The proxy; it stops when dropped.
pub struct CountingProxy {
    /// Where the SDK clients to be counted send their requests.
    pub endpoint: String,
    log: Arc<Mutex<Vec<AwsCall>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    /// Listens on a free 127.0.0.1 port, forwarding to `upstream` (moto's endpoint).
    pub async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let endpoint = format!("http://{}", listener.local_addr().expect("bound"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            log: log.clone(),
            epoch: Instant::now(),
        };
        let app = axum::Router::new().fallback(forward).with_state(shared);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            endpoint,
            log,
            task,
        }
    }

    /// Every request so far, in the order they were answered.
    pub fn calls(&self) -> Vec<AwsCall> {
        self.log.lock().expect("log").clone()
    }

    /// How many requests so far: what a later [`CountingProxy::since`] counts from.
    pub fn mark(&self) -> usize {
        self.log.lock().expect("log").len()
    }

    /// The requests answered since `mark`.
    pub fn since(&self, mark: usize) -> Vec<AwsCall> {
        self.log.lock().expect("log")[mark..].to_vec()
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Requests by `service.operation`.
pub fn by_operation(calls: &[AwsCall]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for call in calls {
        *counts
            .entry(format!("{}.{}", call.service, call.operation))
            .or_insert(0) += 1;
    }
    counts
}

/// Requests of one service.
pub fn count(calls: &[AwsCall], service: &str) -> u64 {
    calls.iter().filter(|c| c.service == service).count() as u64
}

/// The longest chain of requests each of which started only after the one before it in the
/// chain was answered: the round trips in series. Requests in flight at once count once.
pub fn in_series(calls: &[AwsCall]) -> u64 {
    let mut sorted: Vec<&AwsCall> = calls.iter().collect();
    sorted.sort_by_key(|c| c.started_us);
    let mut depth: Vec<u64> = Vec::with_capacity(sorted.len());
    for (i, call) in sorted.iter().enumerate() {
        let before = (0..i)
            .filter(|&j| sorted[j].ended_us <= call.started_us)
            .map(|j| depth[j])
            .max()
            .unwrap_or(0);
        depth.push(before + 1);
    }
    depth.into_iter().max().unwrap_or(0)
}

fn classify(headers: &HeaderMap, body: &[u8]) -> (String, String) {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (prefix, operation) = target.split_once('.').unwrap_or(("", target));
        let service = match prefix {
            p if p.starts_with("DynamoDB") => "dynamodb",
            "AmazonSQS" => "sqs",
            "AmazonSSM" => "ssm",
            other => other,
        };
        return (service.to_string(), operation.to_string());
    }
    let operation = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()
        .and_then(|form| form.into_iter().find(|(k, _)| k == "Action"))
        .map(|(_, v)| v)
        .unwrap_or_else(|| "unknown".into());
    // `Credential=KEY/DATE/REGION/SERVICE/aws4_request`
    let service = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string();
    (service, operation)
}

/// See [`AwsCall::target`].
fn target_of(service: &str, body: &[u8]) -> String {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    match service {
        "dynamodb" => {
            let table = text(&json["TableName"]);
            let key = json.get("Key").or_else(|| json.get("Item"));
            let kind = key
                .and_then(|k| k.get("sk").or_else(|| k.get("id")))
                .and_then(|v| v["S"].as_str())
                .map(|sk| match sk.split_once('#') {
                    Some((kind, _)) if !kind.starts_with("personio:") => kind.to_string(),
                    // An idempotency key starts with the tenant's id.
                    _ if sk.ends_with("#in-flight") => "lease".to_string(),
                    Some(_) => "key".to_string(),
                    None => sk.to_string(),
                });
            match kind {
                Some(kind) => format!("{table}:{kind}"),
                None => table,
            }
        }
        // The parameter's name: what an SSM policy's resource names.
        "ssm" => text(&json["Name"]),
        "sqs" => text(&json["QueueUrl"])
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

async fn forward(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started_us = shared.epoch.elapsed().as_micros() as u64;
    let (service, operation) = classify(&headers, &body);
    let target = target_of(&service, &body);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = shared
        .client
        .request(method, format!("{}{path}", shared.upstream))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::from(e.to_string()))
                .expect("a response");
        }
    };
    let mut builder = Response::builder().status(response.status());
    for (name, value) in response.headers() {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            builder = builder.header(name, value);
        }
    }
    let bytes = response.bytes().await.unwrap_or_default();
    let ended_us = shared.epoch.elapsed().as_micros() as u64;
    shared.log.lock().expect("log").push(AwsCall {
        service,
        operation,
        target,
        started_us,
        ended_us,
    });
    builder.body(Body::from(bytes)).expect("a response")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(started_us: u64, ended_us: u64) -> AwsCall {
        AwsCall {
            service: "dynamodb".into(),
            operation: "GetItem".into(),
            target: "state:employee".into(),
            started_us,
            ended_us,
        }
    }

    #[test]
    fn requests_in_flight_at_once_count_once_in_series() {
        // a, then b and c at once, then d: three in series.
        let calls = [call(0, 10), call(11, 20), call(12, 25), call(26, 30)];
        assert_eq!(in_series(&calls), 3);
        assert_eq!(in_series(&calls[..1]), 1);
        assert_eq!(in_series(&[]), 0);
    }

    #[test]
    fn operations_are_read_from_the_target_or_the_form() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-target", "DynamoDB_20120810.PutItem".parse().unwrap());
        assert_eq!(
            classify(&headers, b""),
            ("dynamodb".to_string(), "PutItem".to_string())
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=K/20260101/eu-central-1/sqs/aws4_request, Signature=0"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            classify(&headers, b"Action=DeleteMessage&QueueUrl=x"),
            ("sqs".to_string(), "DeleteMessage".to_string())
        );
    }
}

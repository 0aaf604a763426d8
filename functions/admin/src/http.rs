//! The handler's own request and response: what a Function URL event and an axum request both
//! become, so that one handler serves AWS and the local server.

use aws_lambda_events::http::{HeaderMap, HeaderValue};
use aws_lambda_events::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Serialize;

/// Bodies larger than this are refused (413) before anything reads them.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Upper case.
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Names in lower case; a repeated header keeps its first value.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            ..Self::default()
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    pub fn with_query(mut self, query: &str) -> Self {
        self.query = query.to_string();
        self
    }

    pub fn with_json(mut self, body: &serde_json::Value) -> Self {
        self.body = body.to_string().into_bytes();
        self.with_header("content-type", "application/json")
    }

    /// The value of cookie `name`, from every `Cookie` header.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// A Function URL's event (its cookies come apart from the headers). `None` for a body that
    /// is not valid base64.
    pub fn from_lambda(event: LambdaFunctionUrlRequest) -> Option<Self> {
        let mut headers: Vec<(String, String)> = header_pairs(&event.headers);
        if let Some(cookies) = event.cookies.filter(|c| !c.is_empty()) {
            headers.push(("cookie".into(), cookies.join("; ")));
        }
        let body = event.body.unwrap_or_default();
        let body = if event.is_base64_encoded {
            STANDARD.decode(body).ok()?
        } else {
            body.into_bytes()
        };
        Some(Self {
            method: event
                .request_context
                .http
                .method
                .unwrap_or_default()
                .to_ascii_uppercase(),
            path: event.raw_path.unwrap_or_else(|| "/".into()),
            query: event.raw_query_string.unwrap_or_default(),
            headers,
            body,
        })
    }
}

/// Header pairs, names in lower case; values that are not visible ASCII are dropped.
pub fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(n, v)| {
            Some((
                n.as_str().to_ascii_lowercase(),
                v.to_str().ok()?.to_string(),
            ))
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// `Set-Cookie` values.
    pub cookies: Vec<String>,
    pub body: String,
}

/// The page frames Kombo's connection page (`https://connect.kombo.dev/…`, as Kombo's
/// `showKomboConnect` does) and, on a local stack, the Kombo sandbox's stand-in on 127.0.0.1;
/// nothing else.
const CSP: &str =
    "default-src 'self'; frame-src 'self' https://connect.kombo.dev http://127.0.0.1:*; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

impl Response {
    fn new(status: u16, content_type: &str, body: String) -> Self {
        let mut headers = vec![
            ("content-type".to_string(), content_type.to_string()),
            ("cache-control".into(), "no-store".into()),
            ("x-content-type-options".into(), "nosniff".into()),
            ("referrer-policy".into(), "no-referrer".into()),
        ];
        if content_type.starts_with("text/html") {
            headers.push(("content-security-policy".into(), CSP.into()));
            headers.push(("x-frame-options".into(), "DENY".into()));
        }
        Self {
            status,
            headers,
            cookies: Vec::new(),
            body,
        }
    }

    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        let body = serde_json::to_string(value).expect("response serializes");
        Self::new(status, "application/json", body)
    }

    /// `{"error": message}`.
    pub fn error(status: u16, message: impl std::fmt::Display) -> Self {
        Self::json(status, &serde_json::json!({ "error": message.to_string() }))
    }

    pub fn html(status: u16, body: &str) -> Self {
        Self::new(status, "text/html; charset=utf-8", body.to_string())
    }

    pub fn asset(content_type: &str, body: &str) -> Self {
        Self::new(200, content_type, body.to_string())
    }

    pub fn redirect(location: &str) -> Self {
        let mut response = Self::new(303, "text/plain; charset=utf-8", String::new());
        response.headers.push(("location".into(), location.into()));
        response
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (tests).
    pub fn json_body(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn into_lambda(self) -> LambdaFunctionUrlResponse {
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                aws_lambda_events::http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        let mut response = LambdaFunctionUrlResponse::default();
        response.status_code = i64::from(self.status);
        response.headers = headers;
        response.body = Some(self.body);
        response.cookies = self.cookies;
        response
    }
}

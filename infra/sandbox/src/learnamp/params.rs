//! Request parameters: the body (form, multipart or JSON) merged with the query, and the
//! Grape-style validations of single fields, lists and pagination.

use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::responses::{bad_request, bad_request_full};
use crate::util::{
    content_type_param, midnight_utc, parse_iso_datetime, parse_multipart, rails_nest,
};

pub(super) type Params = Map<String, Value>;

/// Grape-style validation errors, collected in order.
#[derive(Default)]
pub(super) struct Errs(Vec<(String, String)>);

impl Errs {
    pub(super) fn add(&mut self, field: &str, msg: &str) {
        self.0.push((field.to_string(), msg.to_string()));
    }

    pub(super) fn check(&self) -> Result<(), Response> {
        if self.0.is_empty() {
            return Ok(());
        }
        let msg = self
            .0
            .iter()
            .map(|(f, m)| format!("{f} {m}"))
            .collect::<Vec<_>>()
            .join(", ");
        let fields: Vec<(&str, &str)> = self
            .0
            .iter()
            .map(|(f, m)| (f.as_str(), m.as_str()))
            .collect();
        Err(bad_request_full(&msg, &fields))
    }
}

pub(super) fn parse_params(
    content_type: Option<&str>,
    body: &[u8],
    query: Option<&str>,
) -> Result<Params, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| format!("Malformed query string: {e}"))?;
    let mut params = rails_nest(pairs);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(params);
    }
    let ct = content_type.unwrap_or("");
    let ct_lower = ct.to_ascii_lowercase();
    let body_params = if ct_lower.starts_with("application/json")
        || (ct_lower.is_empty() && body.trim_ascii_start().starts_with(b"{"))
    {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err("The JSON body must be an object".into()),
            Err(e) => return Err(format!("Invalid JSON body: {e}")),
        }
    } else if ct_lower.starts_with("multipart/form-data") {
        let boundary = content_type_param(ct, "boundary")
            .ok_or("multipart/form-data body without a boundary")?;
        rails_nest(parse_multipart(body, &boundary)?)
    } else {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|e| format!("Malformed form body: {e}"))?;
        rails_nest(pairs)
    };
    for (k, v) in body_params {
        params.insert(k, v);
    }
    Ok(params)
}

/// One scalar parameter.
pub(super) enum F {
    Absent,
    Null,
    Str(String),
    Bad,
}

pub(super) fn field(p: &Params, k: &str) -> F {
    match p.get(k) {
        None => F::Absent,
        Some(Value::Null) => F::Null,
        Some(Value::String(s)) => F::Str(s.clone()),
        Some(Value::Number(n)) => F::Str(n.to_string()),
        Some(Value::Bool(b)) => F::Str(b.to_string()),
        Some(_) => F::Bad,
    }
}

fn present(p: &Params, k: &str) -> bool {
    !matches!(p.get(k), None | Some(Value::Null))
}

pub(super) fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// Grape's `mutually_exclusive`.
pub(super) fn mutually_exclusive(p: &Params, pairs: &[(&str, &str)]) -> Result<(), Response> {
    for (a, b) in pairs {
        if p.contains_key(*a) && p.contains_key(*b) {
            return Err(bad_request(&format!("{a}, {b} are mutually exclusive")));
        }
    }
    Ok(())
}

/// Grape's `exactly_one_of`.
pub(super) fn exactly_one_of(p: &Params, keys: &[&str]) -> Result<String, Response> {
    let given: Vec<&&str> = keys.iter().filter(|k| present(p, k)).collect();
    match given.len() {
        1 => Ok(given[0].to_string()),
        0 => Err(bad_request(&format!(
            "{} are missing, exactly one parameter must be provided",
            keys.join(", ")
        ))),
        _ => Err(bad_request(&format!(
            "{} are mutually exclusive",
            keys.join(", ")
        ))),
    }
}

/// A required non-blank string (create): "is missing" / "is empty".
pub(super) fn required_str(p: &Params, k: &str, errs: &mut Errs) -> Option<String> {
    match field(p, k) {
        F::Absent => {
            errs.add(k, "is missing");
            None
        }
        F::Null => {
            errs.add(k, "is empty");
            None
        }
        F::Str(s) if blank(&s) => {
            errs.add(k, "is empty");
            None
        }
        F::Str(s) => Some(s.trim().to_string()),
        F::Bad => {
            errs.add(k, "is invalid");
            None
        }
    }
}

/// An optional non-blank string (update): absent → None, blank → "is empty".
pub(super) fn optional_nonblank(p: &Params, k: &str, errs: &mut Errs) -> Option<String> {
    match field(p, k) {
        F::Absent => None,
        F::Null => {
            errs.add(k, "is empty");
            None
        }
        F::Str(s) if blank(&s) => {
            errs.add(k, "is empty");
            None
        }
        F::Str(s) => Some(s.trim().to_string()),
        F::Bad => {
            errs.add(k, "is invalid");
            None
        }
    }
}

/// An optional clearable string: absent → None, null/blank → Some(None).
pub(super) fn clearable_str(p: &Params, k: &str, errs: &mut Errs) -> Option<Option<String>> {
    match field(p, k) {
        F::Absent => None,
        F::Null => Some(None),
        F::Str(s) if blank(&s) => Some(None),
        F::Str(s) => Some(Some(s)),
        F::Bad => {
            errs.add(k, "is invalid");
            None
        }
    }
}

pub(super) fn parse_int(s: &str) -> Option<u64> {
    s.trim().parse::<u64>().ok()
}

/// An optional clearable integer: absent → None, null/blank → Some(None).
pub(super) fn clearable_int(p: &Params, k: &str, errs: &mut Errs) -> Option<Option<u64>> {
    match field(p, k) {
        F::Absent => None,
        F::Null => Some(None),
        F::Str(s) if blank(&s) => Some(None),
        F::Str(s) => match parse_int(&s) {
            Some(n) => Some(Some(n)),
            None => {
                errs.add(k, "is invalid");
                None
            }
        },
        F::Bad => {
            errs.add(k, "is invalid");
            None
        }
    }
}

pub(super) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "t" | "yes" => Some(true),
        "false" | "0" | "f" | "no" => Some(false),
        _ => None,
    }
}

pub(super) fn bool_field(p: &Params, k: &str, errs: &mut Errs) -> Option<bool> {
    match field(p, k) {
        F::Absent | F::Null => None,
        F::Str(s) if blank(&s) => None,
        F::Str(s) => {
            let b = parse_bool(&s);
            if b.is_none() {
                errs.add(k, "is invalid");
            }
            b
        }
        F::Bad => {
            errs.add(k, "is invalid");
            None
        }
    }
}

/// A list of strings: a JSON/Rack array, or a comma-separated string. Blank items are dropped.
pub(super) fn str_list(p: &Params, k: &str, errs: &mut Errs) -> Option<Vec<String>> {
    let items: Vec<String> = match p.get(k)? {
        Value::Null => Vec::new(),
        Value::Array(a) => {
            let mut out = Vec::new();
            for v in a {
                match v {
                    Value::String(s) => out.push(s.clone()),
                    Value::Number(n) => out.push(n.to_string()),
                    Value::Null => {}
                    _ => {
                        errs.add(k, "is invalid");
                        return None;
                    }
                }
            }
            out
        }
        Value::String(s) => s.split(',').map(str::to_string).collect(),
        Value::Number(n) => vec![n.to_string()],
        _ => {
            errs.add(k, "is invalid");
            return None;
        }
    };
    Some(
        items
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

pub(super) fn int_list(p: &Params, k: &str, errs: &mut Errs) -> Option<Vec<u64>> {
    let items = str_list(p, k, errs)?;
    let mut out = Vec::with_capacity(items.len());
    for s in items {
        match parse_int(&s) {
            Some(n) => out.push(n),
            None => {
                errs.add(k, "is invalid");
                return None;
            }
        }
    }
    Some(out)
}

/// `customFields`: an array of `{name, value}` (or a Rack hash with numeric keys).
pub(super) fn custom_fields_param(
    p: &Params,
    errs: &mut Errs,
) -> Option<Vec<(String, Option<String>)>> {
    let raw = p.get("customFields")?;
    let items: Vec<&Value> = match raw {
        Value::Null => return Some(Vec::new()),
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) if o.keys().all(|k| k.parse::<usize>().is_ok()) => {
            let mut v: Vec<(usize, &Value)> = o
                .iter()
                .map(|(k, v)| (k.parse::<usize>().unwrap_or(0), v))
                .collect();
            v.sort_by_key(|(k, _)| *k);
            v.into_iter().map(|(_, v)| v).collect()
        }
        Value::Object(_) => vec![raw],
        _ => {
            errs.add("customFields", "is invalid");
            return None;
        }
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Object(o) = item else {
            errs.add("customFields", "is invalid");
            return None;
        };
        let name = match o.get("name") {
            Some(Value::String(s)) if !blank(s) => s.trim().to_string(),
            _ => {
                errs.add("customFields", "is invalid");
                return None;
            }
        };
        let value = match o.get("value") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            Some(_) => {
                errs.add("customFields", "is invalid");
                return None;
            }
        };
        out.push((name, value));
    }
    Some(out)
}

pub(super) fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

pub(super) fn pagination(p: &Params) -> Result<(usize, usize), Response> {
    let mut errs = Errs::default();
    let mut get = |k: &str, default: usize| -> usize {
        match field(p, k) {
            F::Absent | F::Null => default,
            F::Str(s) if blank(&s) => default,
            F::Str(s) => match s.trim().parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    errs.add(k, "is invalid");
                    default
                }
            },
            F::Bad => {
                errs.add(k, "is invalid");
                default
            }
        }
    };
    let page = get("page", 1);
    let per_page = get("perPage", 25).min(100);
    errs.check()?;
    Ok((page, per_page))
}

pub(super) fn page_slice<T: Clone>(items: &[T], page: usize, per_page: usize) -> Vec<T> {
    let start = (page - 1).saturating_mul(per_page);
    items.iter().skip(start).take(per_page).cloned().collect()
}

/// A date-range bound of the users' list filters.
pub(super) fn range_bound(v: &Value, is_to: bool) -> Option<DateTime<Utc>> {
    let s = v.as_str()?;
    if s.contains('T') {
        return parse_iso_datetime(s);
    }
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    let d = if is_to { d.succ_opt()? } else { d };
    Some(midnight_utc(d))
}

//! The query parameters of the listings: validation, the cursor that carries them from page to
//! page, the filters they select records with, and the page cut.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::response::Response;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::data::EmpRec;
use super::errors::input_invalid;
use crate::util::{fmt_kombo_dt, parse_iso_datetime};

#[derive(Serialize, Deserialize)]
pub(super) struct Cursor {
    pub(super) v: u8,
    /// The listing (`employees`, `groups`, `locations`).
    pub(super) m: String,
    /// Position in insertion order of the first record to consider.
    pub(super) p: usize,
    /// Page number of the page this cursor leads to (1-based).
    pub(super) n: usize,
    /// The listing's filters.
    pub(super) f: BTreeMap<String, String>,
}

pub(super) fn encode_cursor(c: &Cursor) -> String {
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode_cursor(s: &str) -> Option<Cursor> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()?;
    let c: Cursor = serde_json::from_slice(&bytes).ok()?;
    (c.v == 1).then_some(c)
}

pub(super) struct Listing {
    pub(super) page_size: usize,
    pub(super) pos: usize,
    pub(super) page: usize,
    pub(super) filters: BTreeMap<String, String>,
}

const COMMON_FILTERS: &[&str] = &["ids", "remote_ids"];
pub(super) const EMPLOYEE_FILTERS: &[&str] = &[
    "employment_status",
    "employment_statuses",
    "group_ids",
    "legal_entity_ids",
    "work_location_ids",
    "work_emails",
    "personal_emails",
    "custom_fields",
];
pub(super) const GROUP_FILTERS: &[&str] = &["types", "name_contains"];
pub(super) const LOCATION_FILTERS: &[&str] = &["name_contains"];
const STATUSES: &[&str] = &["ACTIVE", "PENDING", "INACTIVE", "LEAVE"];
const GROUP_TYPES: &[&str] = &["DEPARTMENT", "TEAM", "COST_CENTER", "null"];

fn parse_bool_param(name: &str, v: &str) -> Result<bool, Response> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(input_invalid(&format!(
            "Invalid value for query parameter \"{name}\": expected \"true\" or \"false\", got \"{v}\"."
        ))),
    }
}

pub(super) fn parse_listing(
    listing: &str,
    query: Option<&str>,
    extra: &[&str],
) -> Result<Listing, Response> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| input_invalid(&format!("Malformed query string: {e}")))?;
    let q: HashMap<String, String> = pairs.into_iter().collect();
    let page_size = match q.get("page_size") {
        None => 100,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if (1..=250).contains(&n) => n as usize,
            _ => {
                return Err(input_invalid(&format!(
                    "Invalid value for query parameter \"page_size\": \"{v}\". It must be an integer between 1 and 250."
                )))
            }
        },
    };
    let mut filters = BTreeMap::new();
    if let Some(v) = q.get("updated_after") {
        let t = parse_iso_datetime(v).filter(|_| v.contains('T')).ok_or_else(|| {
            input_invalid(&format!(
                "Invalid value for query parameter \"updated_after\": \"{v}\". Expected a date-time like 2024-01-31T12:00:00.000Z."
            ))
        })?;
        filters.insert("updated_after".to_string(), fmt_kombo_dt(&t));
    }
    if let Some(v) = q.get("include_deleted") {
        if parse_bool_param("include_deleted", v)? {
            filters.insert("include_deleted".to_string(), "true".to_string());
        }
    }
    if let Some(v) = q.get("ignore_unsupported_filters") {
        parse_bool_param("ignore_unsupported_filters", v)?;
    }
    for key in COMMON_FILTERS.iter().chain(extra.iter()) {
        let Some(v) = q.get(*key) else { continue };
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        match *key {
            "employment_statuses" | "employment_status" => {
                for s in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if !STATUSES.contains(&s) {
                        return Err(input_invalid(&format!(
                            "Invalid value \"{s}\" for query parameter \"{key}\". Allowed: ACTIVE, PENDING, INACTIVE, LEAVE."
                        )));
                    }
                }
            }
            "types" => {
                for s in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if !GROUP_TYPES.contains(&s) {
                        return Err(input_invalid(&format!(
                            "Invalid value \"{s}\" for query parameter \"types\". Allowed: DEPARTMENT, TEAM, COST_CENTER, null."
                        )));
                    }
                }
            }
            "custom_fields" => {
                let ok = matches!(serde_json::from_str::<Value>(v), Ok(Value::Object(m)) if m.len() == 1
                    && m.values().all(|x| !x.is_array() && !x.is_object()));
                if !ok {
                    return Err(input_invalid(
                        "Invalid value for query parameter \"custom_fields\": expected a JSON object with exactly one key-value pair.",
                    ));
                }
            }
            _ => {}
        }
        filters.insert(key.to_string(), v.to_string());
    }
    let (pos, page) = match q.get("cursor") {
        None => (0, 1),
        Some(raw) => {
            let c = decode_cursor(raw)
                .filter(|c| c.m == listing)
                .ok_or_else(|| input_invalid("The provided cursor is invalid."))?;
            for (k, v) in &filters {
                if c.f.get(k) != Some(v) {
                    return Err(input_invalid(&format!(
                        "The query parameter \"{k}\" does not match the one the cursor was created with. Keep the filters unchanged while paginating."
                    )));
                }
            }
            filters = c.f;
            (c.p, c.n)
        }
    };
    Ok(Listing {
        page_size,
        pos,
        page,
        filters,
    })
}

pub(super) fn csv_set(
    filters: &BTreeMap<String, String>,
    key: &str,
    lowercase: bool,
) -> Option<HashSet<String>> {
    filters.get(key).map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                if lowercase {
                    s.to_lowercase()
                } else {
                    s.to_string()
                }
            })
            .collect()
    })
}

pub(super) struct CommonFilter {
    updated_after: Option<DateTime<Utc>>,
    include_deleted: bool,
    ids: Option<HashSet<String>>,
    remote_ids: Option<HashSet<String>>,
    name_contains: Option<String>,
}

impl CommonFilter {
    pub(super) fn new(f: &BTreeMap<String, String>) -> Self {
        CommonFilter {
            updated_after: f.get("updated_after").and_then(|v| parse_iso_datetime(v)),
            include_deleted: f.get("include_deleted").is_some_and(|v| v == "true"),
            ids: csv_set(f, "ids", false),
            remote_ids: csv_set(f, "remote_ids", false),
            name_contains: f.get("name_contains").map(|s| s.to_lowercase()),
        }
    }

    pub(super) fn matches(
        &self,
        id: &str,
        remote_id: Option<&str>,
        name: Option<&str>,
        deleted: bool,
        updated_at: DateTime<Utc>,
    ) -> bool {
        if deleted && !self.include_deleted {
            return false;
        }
        if self.updated_after.is_some_and(|t| updated_at <= t) {
            return false;
        }
        if self.ids.as_ref().is_some_and(|s| !s.contains(id)) {
            return false;
        }
        if self
            .remote_ids
            .as_ref()
            .is_some_and(|s| !remote_id.is_some_and(|r| s.contains(r)))
        {
            return false;
        }
        if let Some(needle) = &self.name_contains {
            if !name.is_some_and(|n| n.to_lowercase().contains(needle)) {
                return false;
            }
        }
        true
    }
}

pub(super) struct EmployeeFilter {
    common: CommonFilter,
    statuses: Option<HashSet<String>>,
    group_ids: Option<HashSet<String>>,
    legal_entity_ids: Option<HashSet<String>>,
    work_location_ids: Option<HashSet<String>>,
    work_emails: Option<HashSet<String>>,
    personal_emails: Option<HashSet<String>>,
    custom: Option<(String, Value)>,
}

impl EmployeeFilter {
    pub(super) fn new(f: &BTreeMap<String, String>) -> Self {
        let mut statuses = csv_set(f, "employment_statuses", false);
        if let Some(single) = csv_set(f, "employment_status", false) {
            statuses = Some(match statuses {
                Some(s) => s.intersection(&single).cloned().collect(),
                None => single,
            });
        }
        let custom = f
            .get("custom_fields")
            .and_then(|v| serde_json::from_str::<Map<String, Value>>(v).ok())
            .and_then(|m| m.into_iter().next());
        EmployeeFilter {
            common: CommonFilter::new(f),
            statuses,
            group_ids: csv_set(f, "group_ids", false),
            legal_entity_ids: csv_set(f, "legal_entity_ids", false),
            work_location_ids: csv_set(f, "work_location_ids", false),
            work_emails: csv_set(f, "work_emails", true),
            personal_emails: csv_set(f, "personal_emails", true),
            custom,
        }
    }

    pub(super) fn matches(&self, r: &EmpRec) -> bool {
        let e = &r.e;
        if r.purged {
            return false;
        }
        if !self.common.matches(
            &e.id,
            Some(&e.remote_id),
            None,
            e.remote_deleted_at.is_some(),
            r.updated_at,
        ) {
            return false;
        }
        fn in_set(set: &Option<HashSet<String>>, v: Option<&str>) -> bool {
            match set {
                None => true,
                Some(s) => v.is_some_and(|v| s.contains(v)),
            }
        }
        if !in_set(&self.statuses, e.employment_status.as_deref()) {
            return false;
        }
        if let Some(s) = &self.group_ids {
            if !e.groups.iter().any(|g| s.contains(&g.id)) {
                return false;
            }
        }
        if !in_set(&self.legal_entity_ids, e.legal_entity_id.as_deref())
            || !in_set(&self.work_location_ids, e.work_location_id.as_deref())
        {
            return false;
        }
        let work = e.work_email.as_ref().map(|s| s.to_lowercase());
        let personal = e.personal_email.as_ref().map(|s| s.to_lowercase());
        if !in_set(&self.work_emails, work.as_deref())
            || !in_set(&self.personal_emails, personal.as_deref())
        {
            return false;
        }
        if let Some((k, want)) = &self.custom {
            let have = e.custom_fields.get(k).unwrap_or(&Value::Null);
            let same = have == want
                || match (have, want) {
                    (Value::String(a), b) | (b, Value::String(a)) if !b.is_null() => {
                        *a == b.to_string().trim_matches('"')
                    }
                    _ => false,
                };
            if !same {
                return false;
            }
        }
        true
    }
}

/// Indices of one page of matching records from `start`, and the position of the next match.
pub(super) fn take_page<T>(
    items: &[T],
    start: usize,
    size: usize,
    pred: impl Fn(&T) -> bool,
) -> (Vec<usize>, Option<usize>) {
    let mut out = Vec::with_capacity(size.min(items.len()));
    let mut i = start;
    while i < items.len() {
        if pred(&items[i]) {
            if out.len() == size {
                return (out, Some(i));
            }
            out.push(i);
        }
        i += 1;
    }
    (out, None)
}

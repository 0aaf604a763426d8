//! Small helpers shared by both sandboxes: time formatting, percent-decoding, a minimal
//! `multipart/form-data` parser and Rack/Rails-style nesting of form parameters.

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use serde_json::{Map, Value};

/// Formats a timestamp the way Kombo does on the wire: `2020-04-07T00:00:00.000Z`.
pub(crate) fn fmt_kombo_dt(dt: &DateTime<Utc>) -> String {
    dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parses an ISO date-time (RFC 3339, e.g. `2020-04-07T00:00:00.000Z`). A plain `YYYY-MM-DD`
/// date is accepted too and means midnight UTC.
pub(crate) fn parse_iso_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s.trim()) {
        return Some(dt.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .map(midnight_utc)
}

/// Midnight UTC of a calendar date.
pub(crate) fn midnight_utc(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// The current time truncated to milliseconds (the precision of Kombo's wire format).
pub(crate) fn now_ms() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// Serde helpers for `DateTime<Utc>` in Kombo's wire format.
pub(crate) mod kombo_dt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(dt: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::fmt_kombo_dt(dt))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = Option::<String>::deserialize(d)?;
        match raw {
            None => Ok(DateTime::<Utc>::default()),
            Some(s) => super::parse_iso_datetime(&s)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid date-time {s:?}"))),
        }
    }
}

/// Serde helpers for `Option<DateTime<Utc>>` in Kombo's wire format (`null` when absent).
pub(crate) mod kombo_dt_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(dt: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match dt {
            Some(dt) => s.serialize_str(&super::fmt_kombo_dt(dt)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let raw = Option::<String>::deserialize(d)?;
        match raw {
            None => Ok(None),
            Some(s) => super::parse_iso_datetime(&s)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid date-time {s:?}"))),
        }
    }
}

/// Deserializes `null` as the type's default (Kombo sends `custom_fields: null` sometimes).
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    use serde::Deserialize;
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Percent-decodes one URL path segment (`+` stays a plus). `None` if the result is not UTF-8
/// or an escape is malformed.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Extracts a parameter (e.g. `boundary`) from a `Content-Type` header value.
pub(crate) fn content_type_param(content_type: &str, name: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|part| {
        let (k, v) = part.split_once('=')?;
        if k.trim().eq_ignore_ascii_case(name) {
            Some(v.trim().trim_matches('"').to_string())
        } else {
            None
        }
    })
}

/// A minimal `multipart/form-data` parser: returns the (name, value) pairs of the parts, in
/// order. File parts are read as (lossy) text. Enough for `curl --form` style bodies.
pub(crate) fn parse_multipart(
    body: &[u8],
    boundary: &str,
) -> Result<Vec<(String, String)>, String> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut pairs = Vec::new();
    let mut pos = find(body, delim, 0).ok_or("multipart body has no opening boundary")?;
    loop {
        pos += delim.len();
        if body[pos..].starts_with(b"--") {
            return Ok(pairs);
        }
        // Skip the CRLF after the boundary line.
        if body[pos..].starts_with(b"\r\n") {
            pos += 2;
        } else if body[pos..].starts_with(b"\n") {
            pos += 1;
        }
        let next = find(body, delim, pos).ok_or("multipart body has no closing boundary")?;
        let part = &body[pos..next];
        // Strip the line break that precedes the next boundary.
        let part = part
            .strip_suffix(b"\r\n")
            .or_else(|| part.strip_suffix(b"\n"))
            .unwrap_or(part);
        let (head, content) = match find(part, b"\r\n\r\n", 0) {
            Some(i) => (&part[..i], &part[i + 4..]),
            None => match find(part, b"\n\n", 0) {
                Some(i) => (&part[..i], &part[i + 2..]),
                None => return Err("malformed multipart part (no header end)".into()),
            },
        };
        let head = String::from_utf8_lossy(head);
        let name = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .and_then(disposition_name)
            .ok_or("multipart part without a form-data name")?;
        pairs.push((name, String::from_utf8_lossy(content).into_owned()));
        pos = next;
    }
}

fn disposition_name(line: &str) -> Option<String> {
    for part in line.split(';').skip(1) {
        let (k, v) = part.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("name") {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Builds a nested parameter object from flat form pairs the way Rack does for Rails/Grape:
/// `a=1`, `a[]=1&a[]=2` (array), `a[b]=1` (object), `a[][k]=1&a[][v]=2` (array of objects: a new
/// element starts when the last one already has the key).
pub(crate) fn rails_nest(pairs: Vec<(String, String)>) -> Map<String, Value> {
    let mut root = Map::new();
    for (k, v) in pairs {
        normalize(&mut root, &k, Value::String(v));
    }
    root
}

fn normalize(target: &mut Map<String, Value>, name: &str, v: Value) {
    let (key, after) = match name.find('[') {
        Some(i) if i > 0 && name.ends_with(']') => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    if after.is_empty() {
        target.insert(key.to_string(), v);
        return;
    }
    if after == "[]" {
        let slot = target
            .entry(key.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if !slot.is_array() {
            *slot = Value::Array(Vec::new());
        }
        if let Value::Array(a) = slot {
            a.push(v);
        }
        return;
    }
    if let Some(rest) = after.strip_prefix("[]") {
        // rest looks like "[name]" or "[name][x]".
        let child = bracket_child(rest);
        let slot = target
            .entry(key.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if !slot.is_array() {
            *slot = Value::Array(Vec::new());
        }
        if let Value::Array(a) = slot {
            let start_new = match a.last() {
                Some(Value::Object(last)) => has_key(last, &child),
                _ => true,
            };
            if start_new {
                a.push(Value::Object(Map::new()));
            }
            if let Some(Value::Object(last)) = a.last_mut() {
                normalize(last, &child, v);
            }
        }
        return;
    }
    let child = bracket_child(after);
    let slot = target
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(o) = slot {
        normalize(o, &child, v);
    }
}

/// `"[name][x]"` → `"name[x]"`.
fn bracket_child(s: &str) -> String {
    match (s.strip_prefix('['), s.find(']')) {
        (Some(_), Some(close)) => format!("{}{}", &s[1..close], &s[close + 1..]),
        _ => s.to_string(),
    }
}

fn has_key(obj: &Map<String, Value>, child: &str) -> bool {
    let (key, after) = match child.find('[') {
        Some(i) if i > 0 => (&child[..i], &child[i..]),
        _ => (child, ""),
    };
    match obj.get(key) {
        None => false,
        Some(Value::Object(o)) if !after.is_empty() && !after.starts_with("[]") => {
            has_key(o, &bracket_child(after))
        }
        Some(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nests_rails_style_params() {
        let pairs = vec![
            ("email".to_string(), "a@b.c".to_string()),
            ("secondaryTeamIds[]".to_string(), "1".to_string()),
            ("secondaryTeamIds[]".to_string(), "2".to_string()),
            (
                "customFields[][name]".to_string(),
                "Employee ID".to_string(),
            ),
            ("customFields[][value]".to_string(), "42".to_string()),
            (
                "customFields[][name]".to_string(),
                "Cost Center".to_string(),
            ),
            ("customFields[][value]".to_string(), "CC".to_string()),
            ("filters[status][]".to_string(), "confirmed".to_string()),
            ("filters[email]".to_string(), "x@y.z".to_string()),
        ];
        let v = Value::Object(rails_nest(pairs));
        assert_eq!(
            v,
            json!({
                "email": "a@b.c",
                "secondaryTeamIds": ["1", "2"],
                "customFields": [{"name": "Employee ID", "value": "42"}, {"name": "Cost Center", "value": "CC"}],
                "filters": {"status": ["confirmed"], "email": "x@y.z"}
            })
        );
    }

    #[test]
    fn parses_multipart() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"client_id\"\r\n\r\nabc\r\n--XyZ\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--XyZ--\r\n";
        let pairs = parse_multipart(body.as_bytes(), "XyZ").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("client_id".to_string(), "abc".to_string()),
                ("grant_type".to_string(), "client_credentials".to_string())
            ]
        );
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("HR%2F1001").as_deref(), Some("HR/1001"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("bad%zz"), None);
    }
}

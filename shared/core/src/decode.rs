//! Decoding remote JSON with errors that name where and what, never the value.
//!
//! serde_json's messages quote the offending value (`invalid type: string "Jane Doe", expected
//! struct Address`), and remote records hold names and emails. Every decode of remote or stored
//! JSON goes through here, so that an error, which reaches logs and reports, says only which
//! field was wrong and what was expected there.

use serde::de::DeserializeOwned;
use std::fmt;

/// Why a document did not decode: the path of the field (`data.results[3].home_address`, empty
/// for the document itself) and what was wrong, without the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeProblem {
    pub path: String,
    pub problem: String,
}

impl fmt::Display for DecodeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() || self.path == "." {
            f.write_str(&self.problem)
        } else {
            write!(f, "field `{}`: {}", self.path, self.problem)
        }
    }
}

impl std::error::Error for DecodeProblem {}

/// Decodes `bytes` as `T`; an error names the field and the expected type.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeProblem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| DecodeProblem {
        path: match e.inner().classify() {
            // Broken JSON has no field to name.
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => String::new(),
            _ => e.path().to_string(),
        },
        problem: describe(e.inner()),
    })?;
    de.end().map_err(|e| DecodeProblem {
        path: String::new(),
        problem: describe(&e),
    })?;
    Ok(value)
}

/// Decodes a string: [`decode`] over its bytes.
pub fn decode_str<T: DeserializeOwned>(text: &str) -> Result<T, DecodeProblem> {
    decode(text.as_bytes())
}

/// Converts an already parsed value: [`decode`]'s errors, for `serde_json::Value` input.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, DecodeProblem> {
    serde_path_to_error::deserialize(value).map_err(|e| DecodeProblem {
        path: e.path().to_string(),
        problem: describe(e.inner()),
    })
}

/// A record of a listing that could not be decoded: skipped, and reported by its Kombo id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedRecord {
    /// The record's Kombo id, when it could be read.
    pub id: Option<String>,
    /// Its place in its page.
    pub position: usize,
    /// What was wrong: the field and the expected type, never the value.
    pub problem: String,
}

impl std::fmt::Display for MalformedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            Some(id) => write!(f, "record {id}: {}", self.problem),
            None => write!(
                f,
                "record at position {} (no readable id): {}",
                self.position, self.problem
            ),
        }
    }
}

/// Each record of a listing decoded alone, appended to `records`; one that does not decode is
/// appended to `malformed` with its id (a string or a number, when it has a readable one), its
/// place in the listing and the problem, instead of failing the whole listing.
pub fn each_record<T: DeserializeOwned>(
    values: Vec<serde_json::Value>,
    records: &mut Vec<T>,
    malformed: &mut Vec<MalformedRecord>,
) {
    for (position, value) in values.into_iter().enumerate() {
        let id = match value.get("id") {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        match from_value::<T>(value) {
            Ok(record) => records.push(record),
            Err(problem) => malformed.push(MalformedRecord {
                id,
                position,
                problem: problem.to_string(),
            }),
        }
    }
}

/// An id as a number or a numeric string (`deserialize_with`): APIs that document numeric ids
/// do not always keep to them.
pub fn numeric_id<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    use serde::Deserialize;
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| serde::de::Error::custom("expected a numeric id"))
}

/// serde_json's message for `error` with every quoted value taken out: what kind of value was
/// found and what was expected, or where the syntax broke.
pub fn describe(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match error.classify() {
        Category::Io => "the document could not be read".to_string(),
        Category::Eof => "the document ends too early".to_string(),
        Category::Syntax => format!(
            "not valid JSON (line {} column {})",
            error.line(),
            error.column()
        ),
        Category::Data => describe_data(&error.to_string()),
    }
}

/// A data error's message, rebuilt from the parts that describe types and our own field names.
fn describe_data(message: &str) -> String {
    // "... at line 1 column 20" is position, not value; it goes (the path says where).
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    let expected = message
        .rfind(", expected ")
        .map(|i| &message[i + ", expected ".len()..]);
    let kind_of = |rest: &str| {
        // `string "Jane"`, `integer `5``, `map`: the words before a quoted value.
        rest.split(['"', '`', ','])
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    };
    if let Some(field) = message.strip_prefix("missing field ") {
        return format!("missing field {field}");
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        return with_expected(format!("invalid type: {}", kind_of(rest)), expected);
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        return with_expected(format!("invalid value: {}", kind_of(rest)), expected);
    }
    if message.starts_with("invalid length ") {
        return with_expected("invalid length".to_string(), expected);
    }
    if message.starts_with("unknown variant ") {
        return with_expected("unknown variant".to_string(), expected);
    }
    if message.starts_with("duplicate field ") {
        return message.to_string();
    }
    // A custom message (a parser's own words) may quote its input: keep none of it.
    "invalid value".to_string()
}

fn with_expected(found: String, expected: Option<&str>) -> String {
    match expected {
        Some(e) => format!("{found}, expected {e}"),
        None => found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Person {
        id: String,
        address: Address,
        #[serde(default)]
        kind: Option<Kind>,
        #[serde(default)]
        age: Option<u8>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Address {
        city: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Staff,
    }

    fn problem(json: &str) -> String {
        decode_str::<Person>(json).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_field_and_the_type_never_the_value() {
        let cases = [
            (
                r#"{"id":"e1","address":"Jane Doe jane@example.com"}"#,
                "field `address`: invalid type: string, expected struct Address",
            ),
            (
                r#"{"id":"e1","address":{"city":"Berlin"},"kind":"jane@example.com"}"#,
                "field `kind`: unknown variant, expected `staff`",
            ),
            (
                r#"{"id":"e1","address":{"city":"Berlin"},"age":4096}"#,
                "field `age`: invalid value: integer, expected u8",
            ),
            (
                r#"{"id":"e1","address":{}}"#,
                "field `address`: missing field `city`",
            ),
            (
                r#"{"id":"e1","address":{"city":"Berlin"}} "Jane""#,
                "not valid JSON (line 1 column 41)",
            ),
            (
                r#"{"id":"e1","address":{"ci"#,
                "the document ends too early",
            ),
        ];
        for (json, expected) in cases {
            let message = problem(json);
            assert_eq!(message, expected, "{json}");
            for secret in ["Jane", "jane@example.com", "4096"] {
                assert!(!message.contains(secret), "{message}");
            }
        }
    }

    #[test]
    fn a_custom_message_is_not_repeated() {
        #[derive(Debug)]
        struct Picky;
        impl<'de> Deserialize<'de> for Picky {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Err(serde::de::Error::custom(format!("cannot parse {s}")))
            }
        }
        let err = decode_str::<Picky>(r#""jane@example.com""#).unwrap_err();
        assert_eq!(err.to_string(), "invalid value");
    }
}

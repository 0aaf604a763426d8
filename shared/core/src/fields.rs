//! The fields the sync owns on a Learn Amp user, and the hashes that stand for their values:
//! the vocabulary shared by the mapping (what a user should hold) and the stored state (what was
//! applied), which therefore depend on it rather than on each other.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The fields the sync owns on a Learn Amp user. Everything else is left alone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Email,
    FirstName,
    LastName,
    JobTitle,
    HireDate,
    PrimaryTeam,
    Manager,
    Location,
    /// A Learn Amp custom field, by its name in Learn Amp.
    Custom(String),
}

impl Field {
    /// The fields every user has (custom fields come from the tenant's mapping).
    pub const FIXED: [Field; 8] = [
        Field::Email,
        Field::FirstName,
        Field::LastName,
        Field::JobTitle,
        Field::HireDate,
        Field::PrimaryTeam,
        Field::Manager,
        Field::Location,
    ];

    /// A fixed field's name; `None` for a custom field.
    fn fixed_name(&self) -> Option<&'static str> {
        Some(match self {
            Self::Email => "email",
            Self::FirstName => "first_name",
            Self::LastName => "last_name",
            Self::JobTitle => "job_title",
            Self::HireDate => "hire_date",
            Self::PrimaryTeam => "primary_team",
            Self::Manager => "manager",
            Self::Location => "location",
            Self::Custom(_) => return None,
        })
    }

    pub fn name(&self) -> String {
        match self {
            Self::Custom(name) => format!("custom:{name}"),
            fixed => fixed.fixed_name().unwrap_or_default().to_string(),
        }
    }

    /// Feeds `name()`'s bytes to a hash without building the string (it is hashed for every
    /// field of every employee of a run).
    pub(crate) fn hash_name(&self, hasher: &mut Sha256) {
        match self {
            Self::Custom(name) => {
                hasher.update(b"custom:");
                hasher.update(name.as_bytes());
            }
            fixed => hasher.update(fixed.fixed_name().unwrap_or_default().as_bytes()),
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        if let Some(fixed) = Self::FIXED.iter().find(|f| f.fixed_name() == Some(name)) {
            return Some(fixed.clone());
        }
        Some(Self::Custom(name.strip_prefix("custom:")?.to_string()))
    }
}

// Fields key the stored per-field hashes, so they serialise as plain strings.
impl Serialize for Field {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Field::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown field {name}")))
    }
}

/// Salted with the employee id, so equal values of different employees hash differently.
pub fn field_hash(employee_id: &str, field: &Field, value: Option<&str>) -> FieldHash {
    let mut hasher = Sha256::new();
    hasher.update(employee_id.as_bytes());
    hasher.update([0]);
    field.hash_name(&mut hasher);
    hasher.update([0]);
    match value {
        Some(v) => {
            hasher.update([1]);
            hasher.update(v.as_bytes());
        }
        None => hasher.update([0]),
    }
    FieldHash::of_digest(&hasher.finalize())
}

/// The first 64 bits of a field's SHA-256, held as a number (8 bytes, no allocation: a state
/// holds one per field of every employee) and written as 16 hex digits, as stored state has
/// always had them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldHash(u64);

impl FieldHash {
    pub(crate) fn of_digest(digest: &[u8]) -> Self {
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Self(u64::from_be_bytes(first))
    }

    /// The 16 lowercase hex digits, without allocating.
    pub fn hex(&self) -> [u8; 16] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 16];
        for (i, byte) in self.0.to_be_bytes().iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(byte >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(byte & 0x0f)];
        }
        out
    }
}

impl std::str::FromStr for FieldHash {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 {
            return Err(format!(
                "a field hash is 16 hex digits, got {} characters",
                s.len()
            ));
        }
        u64::from_str_radix(s, 16)
            .map(Self)
            .map_err(|e| format!("a field hash is 16 hex digits: {e}"))
    }
}

impl std::fmt::Display for FieldHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::fmt::Debug for FieldHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Serialize for FieldHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let hex = self.hex();
        serializer.serialize_str(std::str::from_utf8(&hex).expect("hex digits are ASCII"))
    }
}

impl<'de> Deserialize<'de> for FieldHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Per-field hashes, in field order. The fixed fields sit in place (no allocation: a state is
/// held for every employee of a company), the tenant's custom fields beside them. Stored as a
/// map of field name to hash, as it always was.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppliedFields {
    fixed: [Option<FieldHash>; Field::FIXED.len()],
    /// By Learn Amp field name, sorted.
    custom: Vec<(String, FieldHash)>,
}

impl AppliedFields {
    /// A fixed field's place in `Field::FIXED`; a custom field's name.
    fn slot(field: &Field) -> Result<usize, &str> {
        match field {
            Field::Custom(name) => Err(name),
            fixed => Ok(Field::FIXED
                .iter()
                .position(|f| f == fixed)
                .expect("every field but a custom one is in Field::FIXED")),
        }
    }

    pub fn get(&self, field: &Field) -> Option<&FieldHash> {
        match Self::slot(field) {
            Ok(i) => self.fixed[i].as_ref(),
            Err(name) => self
                .custom
                .binary_search_by(|(n, _)| n.as_str().cmp(name))
                .ok()
                .map(|i| &self.custom[i].1),
        }
    }

    pub fn insert(&mut self, field: Field, hash: FieldHash) {
        match field {
            Field::Custom(name) => match self.custom.binary_search_by(|(n, _)| n.cmp(&name)) {
                Ok(i) => self.custom[i].1 = hash,
                Err(i) => self.custom.insert(i, (name, hash)),
            },
            fixed => {
                let i = Self::slot(&fixed).expect("a fixed field");
                self.fixed[i] = Some(hash);
            }
        }
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    pub fn is_empty(&self) -> bool {
        self.fixed.iter().all(Option::is_none) && self.custom.is_empty()
    }

    /// In field order: the fixed fields, then the custom ones by name.
    pub fn iter(&self) -> impl Iterator<Item = (Field, FieldHash)> + '_ {
        Field::FIXED
            .iter()
            .zip(self.fixed.iter())
            .filter_map(|(f, h)| Some((f.clone(), (*h)?)))
            .chain(
                self.custom
                    .iter()
                    .map(|(n, h)| (Field::Custom(n.clone()), *h)),
            )
    }
}

impl std::ops::Index<&Field> for AppliedFields {
    type Output = FieldHash;

    /// # Panics
    /// If the field has no hash, as a map's index does.
    fn index(&self, field: &Field) -> &FieldHash {
        self.get(field)
            .unwrap_or_else(|| panic!("no applied hash for {}", field.name()))
    }
}

impl FromIterator<(Field, FieldHash)> for AppliedFields {
    fn from_iter<I: IntoIterator<Item = (Field, FieldHash)>>(items: I) -> Self {
        let mut fields = Self::default();
        for (field, hash) in items {
            fields.insert(field, hash);
        }
        fields
    }
}

impl Serialize for AppliedFields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (field, hash) in self.iter() {
            map.serialize_entry(&field, &hash)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for AppliedFields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<Field, FieldHash>::deserialize(deserializer)?;
        Ok(map.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_name_is_hashed_as_its_name() {
        let fields = Field::FIXED
            .iter()
            .cloned()
            .chain([Field::Custom("Cost Center".into())]);
        for field in fields {
            let (mut fed, mut named) = (Sha256::new(), Sha256::new());
            field.hash_name(&mut fed);
            named.update(field.name().as_bytes());
            assert_eq!(fed.finalize(), named.finalize(), "{field:?}");
        }
    }

    #[test]
    fn field_hashes_are_stored_as_the_16_hex_digits_they_always_were() {
        let hash = field_hash("emp1", &Field::Email, Some("a@b.example"));
        let mut hasher = Sha256::new();
        hasher.update(b"emp1\0email\0\x01a@b.example");
        let digest = hasher.finalize();
        let old: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hash.to_string(), old);
        assert_eq!(std::str::from_utf8(&hash.hex()).unwrap(), old);
        let json = serde_json::to_string(&hash).unwrap();
        assert_eq!(json, format!("\"{old}\""));
        assert_eq!(serde_json::from_str::<FieldHash>(&json).unwrap(), hash);
        assert!(serde_json::from_str::<FieldHash>("\"abcd\"").is_err());
        assert!(serde_json::from_str::<FieldHash>("\"zzzzzzzzzzzzzzzz\"").is_err());
    }

    fn hash(n: u64) -> FieldHash {
        format!("{n:016x}").parse().unwrap()
    }

    #[test]
    fn applied_fields_keep_field_order_and_the_stored_map_shape() {
        let mut fields = AppliedFields::default();
        assert!(fields.is_empty());
        fields.insert(Field::Custom("Team".into()), hash(3));
        fields.insert(Field::Location, hash(2));
        fields.insert(Field::Email, hash(1));
        fields.insert(Field::Custom("Cost Center".into()), hash(4));
        fields.insert(Field::Email, hash(5));
        assert_eq!(fields.get(&Field::Email), Some(&hash(5)));
        assert_eq!(fields.get(&Field::JobTitle), None);
        assert_eq!(fields.get(&Field::Custom("Team".into())), Some(&hash(3)));
        assert_eq!(fields.get(&Field::Custom("Nope".into())), None);

        // The order and the JSON of the BTreeMap it replaces.
        let as_map: BTreeMap<Field, FieldHash> = fields.iter().collect();
        assert_eq!(
            fields.iter().collect::<Vec<_>>(),
            as_map.clone().into_iter().collect::<Vec<_>>()
        );
        let json = serde_json::to_string(&fields).unwrap();
        assert_eq!(json, serde_json::to_string(&as_map).unwrap());
        assert_eq!(
            serde_json::from_str::<AppliedFields>(&json).unwrap(),
            fields
        );

        fields.clear();
        assert!(fields.is_empty());
    }

    #[test]
    fn each_fixed_field_has_the_slot_of_its_place_in_field_order() {
        for (i, field) in Field::FIXED.iter().enumerate() {
            assert_eq!(AppliedFields::slot(field), Ok(i), "{field:?}");
        }
    }
}

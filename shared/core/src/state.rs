//! What the sync remembers per tenant: for each employee the Learn Amp user it was linked to and
//! hashes of what was last applied; for each team its Learn Amp id. Ids and hashes only.

use crate::mapping::{DesiredUser, Field, FieldHash};
use chrono::{DateTime, Utc};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmployeeState {
    pub employee_id: String,
    pub learnamp_user_id: Option<u64>,
    /// Whether the Learn Amp user was last left active.
    pub active: bool,
    /// Set once an invitation went out; never cleared, so nobody is invited twice.
    pub invited: bool,
    /// `DesiredUser::state_hash` of what was last applied in full.
    pub applied_hash: Option<String>,
    /// Per-field hashes of what Learn Amp holds, as far as the sync wrote it.
    pub applied_fields: AppliedFields,
    pub source_version: Option<DateTime<Utc>>,
    /// Learn Amp's message for the last permanent failure, if the last attempt failed.
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl EmployeeState {
    pub fn new(employee_id: &str, now: DateTime<Utc>) -> Self {
        Self {
            employee_id: employee_id.to_string(),
            learnamp_user_id: None,
            active: false,
            invited: false,
            applied_hash: None,
            applied_fields: AppliedFields::default(),
            source_version: None,
            last_error: None,
            updated_at: now,
        }
    }

    /// The fields whose desired value differs from what was applied.
    pub fn differing_fields(&self, desired: &DesiredUser) -> Vec<Field> {
        let desired_hashes = desired.field_hashes();
        desired
            .fields()
            .into_iter()
            .filter(|f| self.applied_fields.get(f) != desired_hashes.get(f))
            .collect()
    }

    pub fn is_linked(&self) -> bool {
        self.learnamp_user_id.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamState {
    pub group_id: String,
    pub learnamp_team_id: u64,
    pub name_hash: String,
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

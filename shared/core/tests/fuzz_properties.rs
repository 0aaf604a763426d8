//! Bounded fuzzing with proptest (cargo fuzz needs a nightly toolchain CI does not install):
//! the webhook verification and parsing, and the Kombo employee decoder with the mapping behind
//! it, fed arbitrary and mutated input. Each property fails if its promise breaks: a forged or
//! altered webhook verifies, or some input panics. `PROPTEST_CASES` raises the bound for a
//! longer run (the test command runs the default below).

use chrono::NaiveDate;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{json, Value};
use sync_core::kombo::{Employee, PageEnvelope, WebhookEvent};
use sync_core::mapping::{lifecycle_of, map_employee};
use sync_core::settings::DeactivateOn;
use sync_core::webhook::{kombo_signature, parse_kombo_webhook, verify_kombo_signature};
use sync_core::TenantSettings;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(512),
        ..ProptestConfig::default()
    }
}

/// Arbitrary JSON, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        // Strings the decoder gives meaning to.
        prop_oneof![
            Just("ACTIVE"),
            Just("INACTIVE"),
            Just("PENDING"),
            Just("LEAVE"),
            Just("DEPARTMENT"),
            Just("TEAM"),
            Just("2026-12-01T00:00:00.000Z"),
            Just("2026-02-30"),
            Just("")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,12}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Date,
    Groups,
    Location,
    Object,
    IntegrationFields,
}

/// A value a field of that kind may hold, including Kombo's odd ones (empty strings, raw HRIS
/// enum values, dates at the edges, fields inside groups missing or null).
fn value_of(kind: Kind) -> BoxedStrategy<Value> {
    let text = prop_oneof![
        ".{0,24}",
        Just("ACTIVE".to_string()),
        Just("INACTIVE".to_string()),
        Just("PENDING".to_string()),
        Just("LEAVE".to_string()),
        Just(String::new()),
        Just("  padded@Example.COM ".to_string()),
    ];
    match kind {
        Kind::Text => text.prop_map(Value::from).boxed(),
        Kind::Date => (0i64..4_102_444_800)
            .prop_map(|secs| {
                let at = chrono::DateTime::from_timestamp(secs, 0).unwrap();
                Value::from(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            })
            .boxed(),
        Kind::Groups => prop::collection::vec(
            (
                ".{1,8}",
                prop::option::of(".{0,12}"),
                prop::option::of(prop_oneof![Just("DEPARTMENT"), Just("TEAM"), Just("COST_CENTER"), Just("??")]),
            )
                .prop_map(|(id, name, kind)| json!({"id": id, "name": name, "type": kind})),
            0..4,
        )
        .prop_map(Value::from)
        .boxed(),
        Kind::Location => (".{1,8}", prop::option::of(".{0,12}"))
            .prop_map(|(id, name)| json!({"id": id, "name": name}))
            .boxed(),
        Kind::Object => prop::collection::btree_map(".{0,8}", any_json(), 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
            .boxed(),
        Kind::IntegrationFields => prop::collection::vec(
            (".{0,8}", any_json()).prop_map(|(key, value)| json!({"id": "f", "key": key, "type": "DEFAULT", "value": value, "label": null})),
            0..3,
        )
        .prop_map(Value::from)
        .boxed(),
    }
}

/// An employee in Kombo's shape: each field left out, null, a value of its kind, or, rarely,
/// arbitrary JSON (which the decoder must refuse without panicking).
fn employee_like() -> impl Strategy<Value = Value> {
    const FIELDS: &[(&str, Kind)] = &[
        ("first_name", Kind::Text),
        ("last_name", Kind::Text),
        ("work_email", Kind::Text),
        ("job_title", Kind::Text),
        ("employment_status", Kind::Text),
        ("employment_type", Kind::Text),
        ("manager_id", Kind::Text),
        ("legal_entity_id", Kind::Text),
        ("start_date", Kind::Date),
        ("termination_date", Kind::Date),
        ("changed_at", Kind::Date),
        ("remote_deleted_at", Kind::Date),
        ("groups", Kind::Groups),
        ("work_location", Kind::Location),
        ("custom_fields", Kind::Object),
        ("integration_fields", Kind::IntegrationFields),
    ];
    let fields: Vec<BoxedStrategy<Option<Value>>> = FIELDS
        .iter()
        .map(|(_, kind)| {
            prop_oneof![
                3 => Just(None),
                2 => Just(Some(Value::Null)),
                12 => value_of(*kind).prop_map(Some),
                1 => any_json().prop_map(Some),
            ]
            .boxed()
        })
        .collect();
    (".{1,16}", fields).prop_map(|(id, values)| {
        let mut employee = serde_json::Map::new();
        employee.insert("id".into(), Value::from(id));
        for ((field, _), value) in FIELDS.iter().zip(values) {
            if let Some(v) = value {
                employee.insert(field.to_string(), v);
            }
        }
        Value::Object(employee)
    })
}

const SECRET: &[u8] = b"fuzz-kombo-webhook-secret";

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_signed_body_verifies_and_any_other_body_does_not(
        body in prop::collection::vec(any::<u8>(), 0..512),
        flip_at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let signature = kombo_signature(SECRET, &body);
        prop_assert!(verify_kombo_signature(&[SECRET], &body, Some(&signature)).is_ok());
        // The signature of a different body, or of the same body under another secret, fails.
        if !body.is_empty() {
            let mut altered = body.clone();
            let i = flip_at.index(altered.len());
            altered[i] ^= flip;
            prop_assert!(verify_kombo_signature(&[SECRET], &altered, Some(&signature)).is_err());
        }
        prop_assert!(verify_kombo_signature(&[b"another-secret"], &body, Some(&signature)).is_err());
        prop_assert!(verify_kombo_signature(&[SECRET], &body, None).is_err());
    }

    #[test]
    fn a_forged_signature_never_verifies(
        body in prop::collection::vec(any::<u8>(), 0..256),
        forged in ".{0,64}",
    ) {
        prop_assume!(forged.trim() != kombo_signature(SECRET, &body));
        prop_assert!(parse_kombo_webhook(&[SECRET], &body, Some(&forged)).is_err());
    }

    #[test]
    fn a_signature_over_reserialised_json_is_refused(data in any_json()) {
        // Kombo signs the bytes it sent; a signature over the same JSON written another way
        // (here: pretty-printed) belongs to other bytes and must fail.
        let event = json!({"id": "evt", "type": "data-changed", "data": data});
        let raw = serde_json::to_vec(&event).unwrap();
        let pretty = serde_json::to_vec_pretty(&event).unwrap();
        let signature = kombo_signature(SECRET, &pretty);
        prop_assert!(parse_kombo_webhook(&[SECRET], &raw, Some(&signature)).is_err());
    }

    #[test]
    fn any_signed_body_parses_or_is_malformed_without_panicking(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            any_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            any_json().prop_map(|data| serde_json::to_vec(&json!({"id": "e", "type": "data-changed", "data": data})).unwrap()),
        ],
    ) {
        let signature = kombo_signature(SECRET, &body);
        if let Ok(event) = parse_kombo_webhook(&[SECRET], &body, Some(&signature)) {
            // Whatever parsed can be asked what it wants without panicking.
            let _ = (event.integration_id(), event.changed_models(), event.needs_sync());
        }
        let _ = serde_json::from_slice::<WebhookEvent>(&body);
    }

    #[test]
    fn the_employee_decoder_and_mapping_never_panic(employee in employee_like(), day in 0u32..3650) {
        let page = json!({"status": "success", "data": {"next": null, "results": [employee.clone()]}});
        let decoded = serde_json::from_value::<PageEnvelope<Employee>>(page);
        if let Ok(page) = &decoded {
            let today = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Days::new(day.into());
            let settings = TenantSettings::new("personio:fuzz");
            for e in &page.data.results {
                for on in [DeactivateOn::DayAfterTermination, DeactivateOn::TerminationDate] {
                    let _ = lifecycle_of(e, today, on);
                }
                let desired = map_employee(e, &settings, today);
                let _ = (desired.state_hash(), desired.field_hashes());
            }
        }
        let _ = serde_json::from_value::<Employee>(employee);
    }
}

#[test]
fn the_employee_property_reaches_the_mapping() {
    // The generator must produce employees that decode, or the mapping is never exercised.
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 200,
        ..config()
    });
    let mut decoded = 0;
    for _ in 0..200 {
        let value = employee_like().new_tree(&mut runner).unwrap().current();
        let page = json!({"status": "success", "data": {"next": null, "results": [value]}});
        decoded += usize::from(serde_json::from_value::<PageEnvelope<Employee>>(page).is_ok());
    }
    assert!(
        decoded >= 20,
        "only {decoded} of 200 generated employees decode"
    );
}

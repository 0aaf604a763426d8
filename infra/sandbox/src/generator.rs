//! A deterministic fake-company generator and a loader for Kombo-shaped JSON fixtures.
//!
//! [`generate_company`] is a pure function of `(employees, seed, today)`:
//!
//! * ids are Kombo-like 24-character base62 strings drawn from a seeded RNG; `remote_id`s are
//!   numeric strings like Personio's;
//! * names come from lists of ~50 first and ~50 last names (a few with non-ASCII letters or
//!   apostrophes); work emails are unique, lowercase, ASCII `first.last@acme.example`, with a
//!   number appended when taken (`first.last2@...`);
//! * departments: `max(3, round(employees / 25))` `DEPARTMENT` groups named after common
//!   departments, with a numeric suffix once the list is exhausted ("Engineering 2"); plus one or
//!   two `TEAM` groups that about 10 % of employees are also in;
//! * 3 to 5 locations ("Berlin", "London", "Remote", "Munich", "Amsterdam"), embedded as
//!   `work_location` + `work_location_id`; one legal entity;
//! * managers form a tree: employee 0 is the CEO (no manager, in the first department), employee
//!   `k` (1 ≤ k ≤ departments) heads department `k-1` and reports to the CEO, everyone else is in
//!   a random department and reports to its head (or to the CEO when the company is too small for
//!   that department to have a head);
//! * statuses (CEO and heads are always plain `ACTIVE`): ≈3 % `PENDING` pre-hires starting 5–40
//!   days after `today`, ≈5 % `INACTIVE` leavers whose `termination_date` is 10–400 days before
//!   `today`, ≈1 % `ACTIVE` with a `termination_date` 5–30 days ahead, ≈1 % `LEAVE`, the rest
//!   `ACTIVE` with a start date in the past;
//! * `changed_at` is midnight UTC of the day before `today` for every record.
//!
//! Generation is linear in the number of employees (email uniqueness uses hash sets).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Days, NaiveDate, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

pub use crate::kombo::Company;
use crate::kombo::{EmbeddedGroup, EmbeddedLocation, KomboEmployee, KomboGroup, KomboLocation};
use crate::util::{midnight_utc, parse_iso_datetime};

const FIRST_NAMES: &[&str] = &[
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hannah",
    "Isabel",
    "Jonas",
    "Katharina",
    "Lukas",
    "Maria",
    "Noah",
    "Olivia",
    "Paul",
    "Quentin",
    "Rosa",
    "Sophie",
    "Tom",
    "Ursula",
    "Viktor",
    "Wei",
    "Xenia",
    "Yusuf",
    "Zoe",
    "Amelia",
    "Oliver",
    "Jack",
    "Isla",
    "Harry",
    "Mia",
    "Leon",
    "Lea",
    "Elias",
    "Marie",
    "Finn",
    "Lina",
    "Jürgen",
    "Zoë",
    "José",
    "Aisha",
    "Mateo",
    "Priya",
    "Sven",
    "Ingrid",
    "Kenji",
    "Fatima",
    "Liam",
    "Chloé",
];

const LAST_NAMES: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Roberts",
    "Johnson",
    "Walker",
    "Wright",
    "Robinson",
    "Thompson",
    "White",
    "Hughes",
    "Edwards",
    "Green",
    "Hall",
    "O'Brien",
    "García",
    "Martínez",
    "Rossi",
    "Dubois",
    "Kowalski",
    "Nielsen",
    "Tanaka",
    "Nguyen",
    "Patel",
];

const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "People",
    "Customer Success",
    "Operations",
    "Product",
    "Legal",
    "Design",
    "Data",
    "IT",
];

const TEAM_GROUPS: &[&str] = &["Works Council", "Project Phoenix"];

const LOCATIONS: &[(&str, &str)] = &[
    ("Berlin", "OFFICE"),
    ("London", "OFFICE"),
    ("Remote", "REMOTE"),
    ("Munich", "OFFICE"),
    ("Amsterdam", "OFFICE"),
];

fn titles_for(department: &str) -> &'static [&'static str] {
    let base = department
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .trim_end();
    match base {
        "Engineering" => &[
            "Software Engineer",
            "Senior Software Engineer",
            "Staff Engineer",
            "QA Engineer",
            "Engineering Manager",
        ],
        "Sales" => &[
            "Account Executive",
            "Sales Development Representative",
            "Key Account Manager",
        ],
        "Marketing" => &[
            "Marketing Manager",
            "Content Marketer",
            "Performance Marketing Specialist",
        ],
        "Finance" => &["Accountant", "Financial Analyst", "Controller"],
        "People" => &[
            "HR Business Partner",
            "Recruiter",
            "People Operations Specialist",
        ],
        "Customer Success" => &[
            "Customer Success Manager",
            "Support Specialist",
            "Onboarding Specialist",
        ],
        "Operations" => &["Operations Manager", "Office Manager", "Operations Analyst"],
        "Product" => &[
            "Product Manager",
            "Senior Product Manager",
            "Product Analyst",
        ],
        "Legal" => &["Legal Counsel", "Paralegal"],
        "Design" => &["Product Designer", "UX Researcher"],
        "Data" => &["Data Analyst", "Data Engineer", "Data Scientist"],
        "IT" => &["IT Administrator", "IT Support Specialist"],
        _ => &["Specialist"],
    }
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn kombo_id(rng: &mut SmallRng, used: &mut HashSet<String>) -> String {
    loop {
        let id: String = (0..24)
            .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
            .collect();
        if used.insert(id.clone()) {
            return id;
        }
    }
}

/// Lowercase ASCII slug of a name for an email local part (`Müller` → `mueller`, `O'Brien` →
/// `obrien`).
fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            'ä' | 'Ä' => out.push_str("ae"),
            'ö' | 'Ö' => out.push_str("oe"),
            'ü' | 'Ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            'é' | 'è' | 'ë' | 'É' => out.push('e'),
            'á' | 'à' => out.push('a'),
            'í' => out.push('i'),
            'ó' => out.push('o'),
            'ú' => out.push('u'),
            'ñ' => out.push('n'),
            c if c.is_ascii_alphanumeric() => out.push(c.to_ascii_lowercase()),
            _ => {}
        }
    }
    out
}

fn day(today: NaiveDate, offset_days: i64) -> DateTime<Utc> {
    let d = if offset_days >= 0 {
        today.checked_add_days(Days::new(offset_days as u64))
    } else {
        today.checked_sub_days(Days::new(offset_days.unsigned_abs()))
    };
    midnight_utc(d.unwrap_or(today))
}

/// Generates a deterministic company of `employees` employees (see the module docs).
pub fn generate_company(employees: usize, seed: u64, today: NaiveDate) -> Company {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut used_ids = HashSet::new();
    let changed_at = day(today, -1);

    // Departments and team groups.
    let n_depts = ((employees + 12) / 25).max(3);
    let mut groups = Vec::with_capacity(n_depts + 2);
    for k in 0..n_depts {
        let base = DEPARTMENTS[k % DEPARTMENTS.len()];
        let round = k / DEPARTMENTS.len();
        let name = if round == 0 {
            base.to_string()
        } else {
            format!("{base} {}", round + 1)
        };
        groups.push(KomboGroup {
            id: kombo_id(&mut rng, &mut used_ids),
            remote_id: (1000 + k).to_string(),
            name: Some(name),
            r#type: Some("DEPARTMENT".into()),
            parent_id: None,
            changed_at,
            remote_deleted_at: None,
        });
    }
    let n_teams = rng.gen_range(1..=2);
    for (k, name) in TEAM_GROUPS.iter().take(n_teams).enumerate() {
        groups.push(KomboGroup {
            id: kombo_id(&mut rng, &mut used_ids),
            remote_id: (5000 + k).to_string(),
            name: Some(name.to_string()),
            r#type: Some("TEAM".into()),
            parent_id: None,
            changed_at,
            remote_deleted_at: None,
        });
    }

    // Locations and the legal entity.
    let n_locs = rng.gen_range(3..=5);
    let locations: Vec<KomboLocation> = LOCATIONS
        .iter()
        .take(n_locs)
        .enumerate()
        .map(|(k, (name, kind))| KomboLocation {
            id: kombo_id(&mut rng, &mut used_ids),
            remote_id: Some((50 + k).to_string()),
            name: Some(name.to_string()),
            r#type: Some(kind.to_string()),
            changed_at,
            remote_deleted_at: None,
        })
        .collect();
    let legal_entity_id = kombo_id(&mut rng, &mut used_ids);
    let legal_entity = json!({"id": legal_entity_id, "remote_id": "1", "name": "Acme GmbH"});

    let ids: Vec<String> = (0..employees)
        .map(|_| kombo_id(&mut rng, &mut used_ids))
        .collect();
    let heads = n_depts.min(employees.saturating_sub(1));

    let mut used_emails: HashSet<String> = HashSet::with_capacity(employees);
    let mut next_suffix: HashMap<String, u32> = HashMap::new();
    let mut out = Vec::with_capacity(employees);

    for (i, id) in ids.iter().enumerate() {
        let first = FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.gen_range(0..LAST_NAMES.len())];
        let base = format!("{}.{}", slug(first), slug(last));
        let mut email = format!("{base}@acme.example");
        if !used_emails.insert(email.clone()) {
            let n = next_suffix.entry(base.clone()).or_insert(2);
            loop {
                email = format!("{base}{n}@acme.example");
                *n += 1;
                if used_emails.insert(email.clone()) {
                    break;
                }
            }
        }

        let (dept, manager, title) = if i == 0 {
            (0, None, "Chief Executive Officer".to_string())
        } else if i <= heads {
            let d = i - 1;
            let name = groups[d].name.clone().unwrap_or_default();
            (d, Some(ids[0].clone()), format!("Head of {name}"))
        } else {
            let d = rng.gen_range(0..n_depts);
            let manager = if d < heads { &ids[d + 1] } else { &ids[0] };
            let name = groups[d].name.clone().unwrap_or_default();
            let titles = titles_for(&name);
            let title = titles[rng.gen_range(0..titles.len())].to_string();
            (d, Some(manager.clone()), title)
        };

        let mut emb_groups = vec![embed_group(&groups[dept])];
        let team_roll: f64 = rng.gen();
        if team_roll < 0.10 {
            let t = n_depts + rng.gen_range(0..n_teams);
            emb_groups.push(embed_group(&groups[t]));
        }

        let loc = &locations[rng.gen_range(0..locations.len())];

        let roll: f64 = rng.gen();
        let special = i > heads;
        let (status, start, termination) = if special && roll < 0.03 {
            ("PENDING", day(today, rng.gen_range(5..=40)), None)
        } else if special && roll < 0.08 {
            let term = rng.gen_range(10..=400);
            let start = term + rng.gen_range(60..=2000);
            ("INACTIVE", day(today, -start), Some(day(today, -term)))
        } else if special && roll < 0.09 {
            let start = rng.gen_range(60..=2500);
            (
                "ACTIVE",
                day(today, -start),
                Some(day(today, rng.gen_range(5..=30))),
            )
        } else if special && roll < 0.10 {
            ("LEAVE", day(today, -rng.gen_range(90..=2500)), None)
        } else {
            ("ACTIVE", day(today, -rng.gen_range(30..=3650)), None)
        };

        let type_roll: f64 = rng.gen();
        let employment_type = if type_roll < 0.80 {
            "FULL_TIME"
        } else if type_roll < 0.92 {
            "PART_TIME"
        } else if type_roll < 0.96 {
            "CONTRACT"
        } else if type_roll < 0.98 {
            "INTERNSHIP"
        } else {
            "WORKING_STUDENT"
        };
        let personal_email = (rng.gen::<f64>() < 0.5)
            .then(|| format!("{}.{}{}@mail.example", slug(first), slug(last), i));
        let mut custom_fields = Map::new();
        custom_fields.insert(
            "cost_center".into(),
            Value::String(format!("CC-{}", 100 + dept)),
        );

        out.push(KomboEmployee {
            id: id.clone(),
            remote_id: (100_000 + i).to_string(),
            employee_number: Some(format!("{:05}", i + 1)),
            first_name: Some(first.to_string()),
            last_name: Some(last.to_string()),
            display_full_name: Some(format!("{first} {last}")),
            job_title: Some(title),
            work_email: Some(email),
            personal_email,
            employment_status: Some(status.to_string()),
            employment_type: Some(employment_type.to_string()),
            work_location_id: Some(loc.id.clone()),
            legal_entity_id: Some(legal_entity_id.clone()),
            manager_id: manager,
            start_date: Some(start),
            termination_date: termination,
            changed_at,
            remote_deleted_at: None,
            custom_fields,
            integration_fields: Vec::new(),
            groups: emb_groups,
            work_location: Some(EmbeddedLocation {
                id: loc.id.clone(),
                remote_id: loc.remote_id.clone(),
                name: loc.name.clone(),
                r#type: loc.r#type.clone(),
            }),
            legal_entity: Some(legal_entity.clone()),
        });
    }

    Company {
        employees: out,
        groups,
        locations,
    }
}

fn embed_group(g: &KomboGroup) -> EmbeddedGroup {
    EmbeddedGroup {
        id: g.id.clone(),
        remote_id: g.remote_id.clone(),
        name: g.name.clone(),
        r#type: g.r#type.clone(),
    }
}

/// Loads a company from a JSON file in Kombo's response shape: a `GET /hris/employees` page
/// (`{"status":"success","data":{"results":[...]}}`) or a bare array of employees. Groups and
/// locations are derived from the employees' embedded `groups` and `work_location` (first
/// occurrence wins; a location keeps its embedded `changed_at`/`remote_deleted_at` when
/// present, otherwise the employee's `changed_at`).
pub fn load_fixture(path: &Path) -> Result<Company, String> {
    let shown = path.display();
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read fixture {shown}: {e}"))?;
    let root: Value = serde_json::from_str(&text)
        .map_err(|e| format!("fixture {shown} is not valid JSON: {e}"))?;
    let items = match &root {
        Value::Array(a) => a.clone(),
        Value::Object(o) => match o.get("data").and_then(|d| d.get("results")) {
            Some(Value::Array(a)) => a.clone(),
            _ => {
                return Err(format!(
                    "fixture {shown}: expected a Kombo /hris/employees response \
                     ({{\"status\":\"success\",\"data\":{{\"results\":[...]}}}}) or a JSON array of employees"
                ))
            }
        },
        _ => {
            return Err(format!(
                "fixture {shown}: expected a JSON object or array at the top level"
            ))
        }
    };
    let mut company = Company::default();
    let mut seen_groups = HashSet::new();
    let mut seen_locs = HashSet::new();
    for (i, raw) in items.into_iter().enumerate() {
        let e: KomboEmployee = serde_json::from_value(raw.clone())
            .map_err(|err| format!("fixture {shown}: employee #{i} is invalid: {err}"))?;
        if e.id.is_empty() {
            return Err(format!("fixture {shown}: employee #{i} has no id"));
        }
        for g in &e.groups {
            if seen_groups.insert(g.id.clone()) {
                company.groups.push(KomboGroup {
                    id: g.id.clone(),
                    remote_id: g.remote_id.clone(),
                    name: g.name.clone(),
                    r#type: g.r#type.clone(),
                    parent_id: None,
                    changed_at: e.changed_at,
                    remote_deleted_at: None,
                });
            }
        }
        if let Some(l) = &e.work_location {
            if seen_locs.insert(l.id.clone()) {
                let raw_loc = raw.get("work_location");
                let ts = |k: &str| {
                    raw_loc
                        .and_then(|w| w.get(k))
                        .and_then(Value::as_str)
                        .and_then(parse_iso_datetime)
                };
                company.locations.push(KomboLocation {
                    id: l.id.clone(),
                    remote_id: l.remote_id.clone(),
                    name: l.name.clone(),
                    r#type: l.r#type.clone(),
                    changed_at: ts("changed_at").unwrap_or(e.changed_at),
                    remote_deleted_at: ts("remote_deleted_at"),
                });
            }
        }
        company.employees.push(e);
    }
    Ok(company)
}

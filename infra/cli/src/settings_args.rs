//! The tenant's sync settings as flags: the same for a local run (`sync`) and for a tenant of
//! the AWS deployment (`tenants add`), so both mean the same thing by each flag.

use clap::{Args, ValueEnum};
use sync_core::kombo::GroupType;
use sync_core::settings::{CustomFieldMapping, DeactivateOn, Scope};
use sync_core::{InvitePolicy, TenantSettings};

/// A configuration error: one line naming the flag or variable to fix.
#[derive(Debug)]
pub struct ConfigError(pub String);

#[derive(Clone, Copy, ValueEnum)]
pub enum GroupTypeArg {
    Department,
    Team,
}

/// From which day a leaver's Learn Amp user is deactivated.
#[derive(Clone, Copy, ValueEnum)]
pub enum DeactivateOnArg {
    /// The day after the termination date (the last day is worked with access)
    DayAfter,
    /// The termination date itself
    TerminationDate,
}

#[derive(Args)]
pub struct SettingsArgs {
    /// When new users are invited: immediately, on_hire_date or manual
    #[arg(long, env = "INVITE_POLICY", default_value = "manual")]
    invite_policy: String,
    /// Time zone for hire and termination dates
    #[arg(long, env = "TENANT_TIME_ZONE", default_value = "Europe/Berlin")]
    time_zone: String,
    /// When a leaver loses access: the day after the termination date, or on it
    #[arg(long, value_enum, env = "DEACTIVATE_ON", default_value = "day-after")]
    deactivate_on: DeactivateOnArg,
    /// Which Kombo group type is the primary team
    #[arg(
        long,
        value_enum,
        env = "PRIMARY_TEAM_GROUP_TYPE",
        default_value = "department"
    )]
    primary_team_group_type: GroupTypeArg,
    /// Write the work location's name to the user's location
    #[arg(long, env = "SYNC_LOCATION")]
    sync_location: bool,
    /// A custom field to sync, as KOMBO_KEY=LEARN_AMP_FIELD (a Kombo custom_fields or
    /// integration_fields key, and a Learn Amp custom field name); repeatable
    #[arg(long = "custom-field", value_name = "KOMBO_KEY=LEARN_AMP_FIELD")]
    custom_fields: Vec<String>,
    /// Sync only employees of these legal entities (Kombo ids); repeatable
    #[arg(long = "scope-legal-entity", value_name = "ID")]
    scope_legal_entities: Vec<String>,
    /// Sync only employees of these employment types (FULL_TIME, PART_TIME, ...); repeatable
    #[arg(long = "scope-employment-type", value_name = "TYPE")]
    scope_employment_types: Vec<String>,
    /// Sync only employees of these groups (Kombo ids); repeatable
    #[arg(long = "scope-group", value_name = "ID")]
    scope_groups: Vec<String>,
    /// The deactivation guard: a run deactivating more than this share of active users halts
    #[arg(long, env = "MAX_DEACTIVATION_PERCENT", default_value_t = 20.0)]
    max_deactivation_percent: f64,
    /// The deactivation guard: a run deactivating more than this many users halts
    #[arg(long, env = "MAX_DEACTIVATIONS")]
    max_deactivations: Option<usize>,
}

impl SettingsArgs {
    pub fn into_settings(self, integration_id: String) -> Result<TenantSettings, ConfigError> {
        let invite_policy: InvitePolicy = self
            .invite_policy
            .parse()
            .map_err(|e| ConfigError(format!("--invite-policy: {e}")))?;
        let time_zone: chrono_tz::Tz = self.time_zone.parse().map_err(|_| {
            ConfigError(format!(
                "--time-zone: unknown time zone '{}'",
                self.time_zone
            ))
        })?;
        if !(0.0..=100.0).contains(&self.max_deactivation_percent) {
            return Err(ConfigError(
                "--max-deactivation-percent must be between 0 and 100".into(),
            ));
        }
        let custom_fields = self
            .custom_fields
            .iter()
            .map(|c| {
                c.parse::<CustomFieldMapping>()
                    .map_err(|e| ConfigError(format!("--custom-field: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut settings = TenantSettings::new(integration_id);
        settings.invite_policy = invite_policy;
        settings.time_zone = time_zone;
        settings.deactivate_on = match self.deactivate_on {
            DeactivateOnArg::DayAfter => DeactivateOn::DayAfterTermination,
            DeactivateOnArg::TerminationDate => DeactivateOn::TerminationDate,
        };
        settings.primary_team_group_type = match self.primary_team_group_type {
            GroupTypeArg::Department => GroupType::Department,
            GroupTypeArg::Team => GroupType::Team,
        };
        settings.sync_location = self.sync_location;
        settings.custom_fields = custom_fields;
        settings.scope = Scope {
            legal_entity_ids: self.scope_legal_entities,
            employment_types: self.scope_employment_types,
            group_ids: self.scope_groups,
        };
        settings.max_deactivation_percent = self.max_deactivation_percent;
        settings.max_deactivations = self.max_deactivations;
        Ok(settings)
    }
}

pub fn required(value: Option<String>, flag: &str, var: &str) -> Result<String, ConfigError> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ConfigError(format!("missing {flag} (or {var})")))
}

pub fn url(value: String, flag: &str) -> Result<String, ConfigError> {
    match reqwest::Url::parse(&value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(value),
        _ => Err(ConfigError(format!(
            "{flag} must be an http(s) URL, got '{value}'"
        ))),
    }
}

/// The Learn Amp account a tenant writes to: its API base URL and client id, both required.
pub fn learnamp_account(
    base_url: Option<String>,
    client_id: Option<String>,
) -> Result<(String, String), ConfigError> {
    let base_url = url(
        required(base_url, "--learnamp-url", "LEARNAMP_BASE_URL")?,
        "--learnamp-url",
    )?;
    let client_id = required(client_id, "--learnamp-client-id", "LEARNAMP_CLIENT_ID")?;
    Ok((base_url, client_id))
}

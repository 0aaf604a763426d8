//! The sync function's configuration, read by its `main` at cold start; what does not hold
//! fails the start, naming the variable to fix.

use fn_common::config::{ConfigError, Env, SecretSetting};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `KOMBO_BASE_URL`: the Kombo API root.
    pub kombo_base_url: String,
    /// `KOMBO_API_KEY` (or the SSM parameter `KOMBO_API_KEY_PARAM` names).
    pub kombo_api_key: SecretSetting,
    /// `STATE_TABLE`: tenants, employee state, reports, coordination.
    pub state_table: String,
    /// `CHANGES_QUEUE_URL`: where the changes go, for the apply function.
    pub changes_queue_url: String,
    /// `CHANGES_MAX_DELAY_SECONDS`, 0 to 900: the longest delay a wave of changes is queued
    /// with (managers' waves go first). Unset, SQS's longest; local stacks, which drain the
    /// queue by hand, set 0, and the apply side's manager wait alone then orders the waves.
    pub changes_max_delay_seconds: Option<u32>,
    /// `SYNC_REQUESTS_QUEUE_URL`: the schedule's per-tenant runs, and busy tenants' requests.
    pub sync_requests_queue_url: String,
}

impl Config {
    /// `lookup` reads a variable: [`fn_common::config::process_env`] in `main`.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        Ok(Self {
            kombo_base_url: env.required("KOMBO_BASE_URL")?,
            kombo_api_key: env.secret("KOMBO_API_KEY")?,
            state_table: env.required("STATE_TABLE")?,
            changes_queue_url: env.required("CHANGES_QUEUE_URL")?,
            changes_max_delay_seconds: env.optional_number("CHANGES_MAX_DELAY_SECONDS", 0..=900)?,
            sync_requests_queue_url: env.required("SYNC_REQUESTS_QUEUE_URL")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fn_common::config::{fixed_env, fixed_env_without};

    const DEPLOYED: &[(&str, &str)] = &[
        ("KOMBO_BASE_URL", "https://api.kombo.dev/v1"),
        ("KOMBO_API_KEY_PARAM", "/personio-sync/kombo-api-key"),
        ("STATE_TABLE", "state"),
        ("CHANGES_QUEUE_URL", "https://sqs/changes"),
        ("SYNC_REQUESTS_QUEUE_URL", "https://sqs/sync-requests"),
    ];

    #[test]
    fn the_template_s_variables_make_a_config() {
        let config = Config::from_env(fixed_env(DEPLOYED)).unwrap();
        assert_eq!(
            config,
            Config {
                kombo_base_url: "https://api.kombo.dev/v1".into(),
                kombo_api_key: SecretSetting::Parameter {
                    variable: "KOMBO_API_KEY",
                    name: "/personio-sync/kombo-api-key".into()
                },
                state_table: "state".into(),
                changes_queue_url: "https://sqs/changes".into(),
                changes_max_delay_seconds: None,
                sync_requests_queue_url: "https://sqs/sync-requests".into(),
            }
        );
    }

    #[test]
    fn a_local_stack_sets_the_changes_delay_and_a_wrong_one_is_named() {
        let with_delay = |value| {
            let mut vars = DEPLOYED.to_vec();
            vars.push(("CHANGES_MAX_DELAY_SECONDS", value));
            Config::from_env(fixed_env(&vars)).map(|c| c.changes_max_delay_seconds)
        };
        assert_eq!(with_delay("0"), Ok(Some(0)));
        assert_eq!(with_delay(""), Ok(None));
        for wrong in ["soon", "901", "-1"] {
            assert_eq!(
                with_delay(wrong).unwrap_err().to_string(),
                "environment variable CHANGES_MAX_DELAY_SECONDS must be a whole number from 0 to 900"
            );
        }
    }

    #[test]
    fn each_missing_variable_is_named() {
        for (variable, _) in DEPLOYED {
            let error = Config::from_env(fixed_env_without(DEPLOYED, variable)).unwrap_err();
            let named = match error {
                ConfigError::Missing { variable } => variable.to_string(),
                ConfigError::MissingSecret { variable } => format!("{variable}_PARAM"),
                other => panic!("{other}"),
            };
            assert_eq!(named, *variable);
        }
    }
}

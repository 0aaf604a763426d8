//! The admin function's configuration, read by its `main` at cold start; what does not hold
//! fails the start, naming the variable to fix (never its value).

use fn_common::config::{ConfigError, Env, SecretSetting};
use fn_common::SecretSource;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `STATE_TABLE`: tenants, state, reports, admin sessions and link nonces.
    pub state_table: String,
    /// `SYNC_REQUESTS_QUEUE_URL`: where "Import all" queues its full sync.
    pub sync_requests_queue_url: String,
    /// `KOMBO_BASE_URL`: the Kombo API root.
    pub kombo_base_url: String,
    /// `KOMBO_API_KEY` (or the SSM parameter `KOMBO_API_KEY_PARAM` names).
    pub kombo_api_key: SecretSetting,
    /// `ADMIN_LINK_KEY` (or `ADMIN_LINK_KEY_PARAM`): the admin links' key, and during a
    /// rotation the previous one on a second line.
    pub admin_link_key: SecretSetting,
    /// `SECRET_PREFIX` (`/personio-sync` unless set): tenants' Learn Amp secrets are written
    /// under `<prefix>/tenants/`.
    pub secret_prefix: String,
}

/// The secrets, read once. No `Debug`: nothing prints them.
pub struct Secrets {
    pub kombo_api_key: String,
    pub link_keys: Vec<Vec<u8>>,
}

impl Config {
    /// `lookup` reads a variable: [`fn_common::config::process_env`] in `main`.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let secret_prefix = env
            .optional("SECRET_PREFIX")
            .unwrap_or_else(|| "/personio-sync".into());
        let prefix_ok = secret_prefix.starts_with('/')
            && secret_prefix.len() > 1
            && secret_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'.' | b'-'));
        if !prefix_ok {
            return Err(ConfigError::Invalid {
                variable: "SECRET_PREFIX",
                expected: "an SSM parameter path such as /personio-sync".into(),
            });
        }
        Ok(Self {
            state_table: env.required("STATE_TABLE")?,
            sync_requests_queue_url: env.required("SYNC_REQUESTS_QUEUE_URL")?,
            kombo_base_url: env.required("KOMBO_BASE_URL")?,
            kombo_api_key: env.secret("KOMBO_API_KEY")?,
            admin_link_key: env.secret("ADMIN_LINK_KEY")?,
            secret_prefix: secret_prefix.trim_end_matches('/').to_string(),
        })
    }

    pub async fn secrets(&self, source: &dyn SecretSource) -> Result<Secrets, ConfigError> {
        let kombo_api_key = self.kombo_api_key.read(source).await?;
        let link_keys = crate::link::parse_keys(&self.admin_link_key.read(source).await?).map_err(
            |problem| ConfigError::UnusableSecret {
                variable: "ADMIN_LINK_KEY",
                problem,
            },
        )?;
        Ok(Secrets {
            kombo_api_key,
            link_keys,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fn_common::config::{fixed_env, fixed_env_without};
    use fn_common::StaticSecrets;
    use std::collections::HashMap;

    const DEPLOYED: &[(&str, &str)] = &[
        ("STATE_TABLE", "state"),
        ("SYNC_REQUESTS_QUEUE_URL", "https://sqs/sync-requests"),
        ("KOMBO_BASE_URL", "https://api.kombo.dev/v1"),
        ("KOMBO_API_KEY_PARAM", "/personio-sync/kombo-api-key"),
        ("ADMIN_LINK_KEY_PARAM", "/personio-sync/admin-link-key"),
        ("SECRET_PREFIX", "/personio-sync/"),
    ];

    #[test]
    fn the_template_s_variables_make_a_config() {
        let config = Config::from_env(fixed_env(DEPLOYED)).unwrap();
        assert_eq!(config.state_table, "state");
        assert_eq!(config.secret_prefix, "/personio-sync");
        assert_eq!(
            config.admin_link_key,
            SecretSetting::Parameter {
                variable: "ADMIN_LINK_KEY",
                name: "/personio-sync/admin-link-key".into()
            }
        );
    }

    #[test]
    fn a_missing_or_wrong_variable_is_named_never_its_value() {
        for variable in ["STATE_TABLE", "SYNC_REQUESTS_QUEUE_URL", "KOMBO_BASE_URL"] {
            let e = Config::from_env(fixed_env_without(DEPLOYED, variable)).unwrap_err();
            assert!(e.to_string().contains(variable), "{e}");
        }
        let e = Config::from_env(fixed_env_without(DEPLOYED, "ADMIN_LINK_KEY_PARAM")).unwrap_err();
        assert!(e.to_string().contains("ADMIN_LINK_KEY_PARAM"), "{e}");
        let mut vars = DEPLOYED.to_vec();
        vars.retain(|(n, _)| *n != "SECRET_PREFIX");
        vars.push(("SECRET_PREFIX", "no-slash secret-looking"));
        let e = Config::from_env(fixed_env(&vars)).unwrap_err();
        assert!(
            e.to_string().contains("SECRET_PREFIX") && !e.to_string().contains("secret-looking")
        );
    }

    #[tokio::test]
    async fn a_short_link_key_fails_the_start_without_showing_it() {
        let config = Config::from_env(fixed_env(DEPLOYED)).unwrap();
        let secrets = StaticSecrets(HashMap::from([
            ("/personio-sync/kombo-api-key".to_string(), "k".to_string()),
            (
                "/personio-sync/admin-link-key".to_string(),
                "tooshort".to_string(),
            ),
        ]));
        let e = config.secrets(&secrets).await.err().expect("refused");
        assert!(
            e.to_string().contains("ADMIN_LINK_KEY") && !e.to_string().contains("tooshort"),
            "{e}"
        );
    }
}

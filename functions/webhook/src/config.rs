//! The webhook function's configuration, read by its `main` at cold start; what does not hold
//! fails the start, naming the variable to fix.

use crate::{DEFAULT_PERSONIO_DELTA_DELAY_SECONDS, MAX_DELAY_SECONDS};
use fn_common::config::{ConfigError, Env, SecretSetting};
use fn_common::SecretSource;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `KOMBO_WEBHOOK_SECRET` (or the SSM parameter `KOMBO_WEBHOOK_SECRET_PARAM` names): see
    /// [`KomboWebhookSecrets`].
    pub kombo_webhook_secret: SecretSetting,
    /// `PERSONIO_WEBHOOK_TOKEN` (or `PERSONIO_WEBHOOK_TOKEN_PARAM`): the static token Personio
    /// webhooks carry. Unset, Personio webhooks are refused.
    pub personio_webhook_token: Option<SecretSetting>,
    /// `PERSONIO_TOKEN_HEADER`: the header that carries it, `authorization` unless set.
    pub personio_token_header: String,
    /// `PERSONIO_DELTA_DELAY_SECONDS`, 0 to [`MAX_DELAY_SECONDS`]: how long the delta a Personio
    /// webhook asks for waits, [`DEFAULT_PERSONIO_DELTA_DELAY_SECONDS`] unless set.
    pub personio_delta_delay_seconds: u32,
    /// `STATE_TABLE`: tenants, event dedupe and coalescing.
    pub state_table: String,
    /// `SYNC_REQUESTS_QUEUE_URL`: where the delta syncs go.
    pub sync_requests_queue_url: String,
}

impl Config {
    /// `lookup` reads a variable: [`fn_common::config::process_env`] in `main`.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        Ok(Self {
            kombo_webhook_secret: env.secret("KOMBO_WEBHOOK_SECRET")?,
            personio_webhook_token: env.optional_secret("PERSONIO_WEBHOOK_TOKEN"),
            personio_token_header: env
                .optional("PERSONIO_TOKEN_HEADER")
                .unwrap_or_else(|| "authorization".into()),
            personio_delta_delay_seconds: env.number(
                "PERSONIO_DELTA_DELAY_SECONDS",
                DEFAULT_PERSONIO_DELTA_DELAY_SECONDS,
                0..=MAX_DELAY_SECONDS,
            )?,
            state_table: env.required("STATE_TABLE")?,
            sync_requests_queue_url: env.required("SYNC_REQUESTS_QUEUE_URL")?,
        })
    }

    /// The secrets, read once. A configured Personio token that cannot be read fails the cold
    /// start, rather than turning every Personio webhook into a 401.
    pub async fn secrets(&self, source: &dyn SecretSource) -> Result<Secrets, ConfigError> {
        let kombo = KomboWebhookSecrets::parse(&self.kombo_webhook_secret.read(source).await?)?;
        let personio_token = match &self.personio_webhook_token {
            Some(token) => Some(token.read(source).await?),
            None => None,
        };
        Ok(Secrets {
            kombo,
            personio_token,
        })
    }
}

/// The webhook function's secrets, as read at cold start. No `Debug`: nothing prints them.
pub struct Secrets {
    pub kombo: KomboWebhookSecrets,
    pub personio_token: Option<String>,
}

/// The secrets a Kombo webhook's signature is checked against. The parameter holds one per
/// line: the current secret, and during a rotation the previous one after it (the runbook's
/// "Rotate the Kombo webhook secret"), so that webhooks Kombo signed with either are accepted
/// while its side changes over.
#[derive(Clone, PartialEq, Eq)]
pub struct KomboWebhookSecrets {
    pub current: Vec<u8>,
    pub previous: Option<Vec<u8>>,
}

impl KomboWebhookSecrets {
    /// The parameter's value: one secret per line, blank lines and surrounding blanks ignored.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        let problem = |problem| ConfigError::UnusableSecret {
            variable: "KOMBO_WEBHOOK_SECRET",
            problem,
        };
        let mut lines = value.lines().map(str::trim).filter(|line| !line.is_empty());
        let current = lines.next().ok_or(problem("holds no secret"))?;
        let previous = lines.next();
        if lines.next().is_some() {
            return Err(problem("holds more than two secrets: it takes the current one and, during a rotation, the previous one on a second line"));
        }
        Ok(Self {
            current: current.as_bytes().to_vec(),
            previous: previous.map(|p| p.as_bytes().to_vec()),
        })
    }

    /// Every secret a signature may be made with, the current one first.
    pub fn accepted(&self) -> Vec<Vec<u8>> {
        std::iter::once(self.current.clone())
            .chain(self.previous.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fn_common::config::{fixed_env, fixed_env_without};
    use fn_common::StaticSecrets;
    use std::collections::HashMap;

    const DEPLOYED: &[(&str, &str)] = &[
        (
            "KOMBO_WEBHOOK_SECRET_PARAM",
            "/personio-sync/kombo-webhook-secret",
        ),
        ("STATE_TABLE", "state"),
        ("SYNC_REQUESTS_QUEUE_URL", "https://sqs/sync-requests"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut vars = DEPLOYED.to_vec();
        vars.retain(|(name, _)| !extra.iter().any(|(n, _)| n == name));
        vars.extend_from_slice(extra);
        vars
    }

    #[test]
    fn the_template_s_variables_make_a_config_with_its_defaults() {
        let config = Config::from_env(fixed_env(DEPLOYED)).unwrap();
        assert_eq!(
            config.kombo_webhook_secret,
            SecretSetting::Parameter {
                variable: "KOMBO_WEBHOOK_SECRET",
                name: "/personio-sync/kombo-webhook-secret".into()
            }
        );
        assert_eq!(config.personio_webhook_token, None);
        assert_eq!(config.personio_token_header, "authorization");
        assert_eq!(config.personio_delta_delay_seconds, 120);
        assert_eq!(config.state_table, "state");
        assert_eq!(config.sync_requests_queue_url, "https://sqs/sync-requests");
    }

    #[test]
    fn the_personio_delay_is_read_and_bounded_by_sqs() {
        let delay = |value| {
            Config::from_env(fixed_env(&with(&[("PERSONIO_DELTA_DELAY_SECONDS", value)])))
                .map(|c| c.personio_delta_delay_seconds)
        };
        assert_eq!(delay(""), Ok(120));
        assert_eq!(delay("0"), Ok(0));
        assert_eq!(delay(" 300 "), Ok(300));
        assert_eq!(delay("900"), Ok(900));
        for wrong in ["901", "-1", "2m", "1.5", "99999999999"] {
            let error = delay(wrong).unwrap_err();
            assert_eq!(
                error.to_string(),
                "environment variable PERSONIO_DELTA_DELAY_SECONDS must be a whole number from 0 to 900",
                "{wrong}"
            );
        }
    }

    #[test]
    fn a_missing_variable_is_named() {
        for variable in ["STATE_TABLE", "SYNC_REQUESTS_QUEUE_URL"] {
            assert_eq!(
                Config::from_env(fixed_env_without(DEPLOYED, variable)),
                Err(ConfigError::Missing { variable })
            );
        }
        assert_eq!(
            Config::from_env(fixed_env_without(DEPLOYED, "KOMBO_WEBHOOK_SECRET_PARAM")),
            Err(ConfigError::MissingSecret {
                variable: "KOMBO_WEBHOOK_SECRET"
            })
        );
    }

    #[tokio::test]
    async fn the_secrets_are_read_from_their_parameters_and_a_configured_token_must_be_readable() {
        let ssm = StaticSecrets(HashMap::from([
            (
                "/personio-sync/kombo-webhook-secret".to_string(),
                "new-secret\nold-secret\n".to_string(),
            ),
            (
                "/personio-sync/personio-token".to_string(),
                "Bearer t".to_string(),
            ),
        ]));
        let config = Config::from_env(fixed_env(&with(&[(
            "PERSONIO_WEBHOOK_TOKEN_PARAM",
            "/personio-sync/personio-token",
        )])))
        .unwrap();
        let secrets = config.secrets(&ssm).await.unwrap();
        assert_eq!(
            secrets.kombo.accepted(),
            vec![b"new-secret".to_vec(), b"old-secret".to_vec()]
        );
        assert_eq!(secrets.personio_token.as_deref(), Some("Bearer t"));

        let config = Config::from_env(fixed_env(&with(&[(
            "PERSONIO_WEBHOOK_TOKEN_PARAM",
            "/personio-sync/not-created",
        )])))
        .unwrap();
        let Err(error) = config.secrets(&ssm).await else {
            panic!("an unreadable token fails the start");
        };
        assert!(matches!(
            error,
            ConfigError::UnreadableSecret {
                variable: "PERSONIO_WEBHOOK_TOKEN",
                ..
            }
        ));
    }

    #[test]
    fn the_kombo_secret_is_the_current_one_then_during_a_rotation_the_previous_one() {
        let one = KomboWebhookSecrets::parse("current\n").unwrap();
        assert_eq!(
            (one.current.as_slice(), one.previous),
            (&b"current"[..], None)
        );
        let rotating = KomboWebhookSecrets::parse(" new \n\n old ").unwrap();
        assert_eq!(rotating.current, b"new");
        assert_eq!(rotating.previous.as_deref(), Some(&b"old"[..]));
        for wrong in ["", " \n ", "a\nb\nc"] {
            let Err(ConfigError::UnusableSecret { variable, problem }) =
                KomboWebhookSecrets::parse(wrong)
            else {
                panic!("{wrong:?} is refused");
            };
            assert_eq!(variable, "KOMBO_WEBHOOK_SECRET", "{problem}");
        }
    }
}

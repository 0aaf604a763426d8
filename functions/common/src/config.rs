//! Reading a function's configuration from its environment, at cold start: what each function's
//! `Config::from_env` is made of. Variables come through a lookup (the process environment in a
//! `main`, fixed values in tests, so that no test changes an environment the others share), and
//! every error names the variable to fix, never its value: some hold secrets.

use crate::{SecretError, SecretSource};
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;
use thiserror::Error;

/// The process environment: the lookup a `main` gives `Config::from_env`.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Fixed variables, as a lookup for `Config::from_env` in tests.
pub fn fixed_env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        vars.iter()
            .find(|(variable, _)| *variable == name)
            .map(|(_, value)| (*value).to_string())
    }
}

/// `vars` without `unset`, as a lookup: a test's "what if this one is missing".
pub fn fixed_env_without<'a>(
    vars: &'a [(&'a str, &'a str)],
    unset: &'a str,
) -> impl Fn(&str) -> Option<String> + 'a {
    let all = fixed_env(vars);
    move |name| if name == unset { None } else { all(name) }
}

/// A configuration a function cannot start with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("environment variable {variable} is not set")]
    Missing { variable: &'static str },
    #[error("environment variable {variable} must be {expected}")]
    Invalid {
        variable: &'static str,
        expected: String,
    },
    #[error("set {variable}_PARAM to the SSM parameter holding {variable} (or {variable} to the value itself, for a local run)")]
    MissingSecret { variable: &'static str },
    #[error("{variable} (the SSM parameter named by {variable}_PARAM): {source}")]
    UnreadableSecret {
        variable: &'static str,
        source: SecretError,
    },
    /// The secret was read, but is not what the function needs.
    #[error("{variable} {problem}")]
    UnusableSecret {
        variable: &'static str,
        problem: &'static str,
    },
}

impl ConfigError {
    /// Only a secret store that failed can do better at the next cold start: everything else
    /// needs the configuration fixed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::UnreadableSecret { source, .. } => source.is_retryable(),
            _ => false,
        }
    }
}

/// Logs why the function cannot start (naming what to fix, as JSON in Lambda's logs) and hands
/// the error to the `main`, which ends the cold start with it.
pub fn refuse_start(error: ConfigError) -> Box<dyn std::error::Error + Send + Sync> {
    tracing::error!(error = %error, retryable = error.is_retryable(), "the function cannot start");
    Box::new(error)
}

/// The variables of one lookup.
pub struct Env<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn new(lookup: F) -> Self {
        Self { lookup }
    }

    /// The variable's value; unset, empty or blank, none.
    pub fn optional(&self, variable: &'static str) -> Option<String> {
        (self.lookup)(variable).filter(|value| !value.trim().is_empty())
    }

    pub fn required(&self, variable: &'static str) -> Result<String, ConfigError> {
        self.optional(variable)
            .ok_or(ConfigError::Missing { variable })
    }

    /// A whole number in `range` (surrounding blanks allowed); unset, `default`.
    pub fn number<T>(
        &self,
        variable: &'static str,
        default: T,
        range: RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + fmt::Display,
    {
        Ok(self.optional_number(variable, range)?.unwrap_or(default))
    }

    /// A whole number in `range` (surrounding blanks allowed), if set.
    pub fn optional_number<T>(
        &self,
        variable: &'static str,
        range: RangeInclusive<T>,
    ) -> Result<Option<T>, ConfigError>
    where
        T: FromStr + PartialOrd + fmt::Display,
    {
        let Some(text) = self.optional(variable) else {
            return Ok(None);
        };
        text.trim()
            .parse::<T>()
            .ok()
            .filter(|n| range.contains(n))
            .map(Some)
            .ok_or_else(|| ConfigError::Invalid {
                variable,
                expected: format!("a whole number from {} to {}", range.start(), range.end()),
            })
    }

    /// Where the secret `variable` is: in `variable` itself (local runs), or in the SSM
    /// parameter that `{variable}_PARAM` names; `None` when neither is set.
    pub fn optional_secret(&self, variable: &'static str) -> Option<SecretSetting> {
        if let Some(value) = self.optional(variable) {
            return Some(SecretSetting::Value { variable, value });
        }
        let name =
            (self.lookup)(&format!("{variable}_PARAM")).filter(|name| !name.trim().is_empty())?;
        Some(SecretSetting::Parameter { variable, name })
    }

    pub fn secret(&self, variable: &'static str) -> Result<SecretSetting, ConfigError> {
        self.optional_secret(variable)
            .ok_or(ConfigError::MissingSecret { variable })
    }
}

/// Where a secret is configured. Its `Debug` shows where, never the value.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSetting {
    /// Given in the variable itself.
    Value {
        variable: &'static str,
        value: String,
    },
    /// An SSM SecureString parameter, named by `{variable}_PARAM`.
    Parameter {
        variable: &'static str,
        name: String,
    },
}

impl fmt::Debug for SecretSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value { variable, .. } => write!(f, "{variable} (given, not shown)"),
            Self::Parameter { variable, name } => {
                write!(f, "{variable} (SSM parameter {name})")
            }
        }
    }
}

impl SecretSetting {
    pub fn variable(&self) -> &'static str {
        match self {
            Self::Value { variable, .. } | Self::Parameter { variable, .. } => variable,
        }
    }

    /// The secret itself: given, or read from SSM.
    pub async fn read(&self, secrets: &dyn SecretSource) -> Result<String, ConfigError> {
        match self {
            Self::Value { value, .. } => Ok(value.clone()),
            Self::Parameter { variable, name } => secrets
                .secret(name)
                .await
                .map_err(|source| ConfigError::UnreadableSecret { variable, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StaticSecrets;
    use std::collections::HashMap;

    #[test]
    fn blank_is_unset_and_a_missing_variable_is_named() {
        let env = Env::new(fixed_env(&[("STATE_TABLE", "state"), ("BLANK", "  ")]));
        assert_eq!(env.required("STATE_TABLE").as_deref(), Ok("state"));
        assert_eq!(env.optional("BLANK"), None);
        let missing = env.required("CHANGES_QUEUE_URL").unwrap_err();
        assert_eq!(
            missing.to_string(),
            "environment variable CHANGES_QUEUE_URL is not set"
        );
        assert!(!missing.is_retryable());
    }

    #[test]
    fn a_number_is_bounded_and_its_error_names_the_variable_not_the_value() {
        let env = Env::new(fixed_env(&[
            ("GOOD", " 300 "),
            ("TOO_BIG", "901"),
            ("WORDS", "two minutes"),
        ]));
        assert_eq!(env.number("GOOD", 120u32, 0..=900), Ok(300));
        assert_eq!(env.number("UNSET", 120u32, 0..=900), Ok(120));
        assert_eq!(env.optional_number("UNSET", 0u32..=900), Ok(None));
        for variable in ["TOO_BIG", "WORDS"] {
            let error = env.number(variable, 120u32, 0..=900).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("environment variable {variable} must be a whole number from 0 to 900")
            );
        }
    }

    #[tokio::test]
    async fn a_secret_is_given_or_read_from_its_parameter_and_never_shown() {
        let secrets = StaticSecrets(HashMap::from([(
            "/personio-sync/kombo-api-key".to_string(),
            "from-ssm".to_string(),
        )]));
        let given = Env::new(fixed_env(&[("KOMBO_API_KEY", "given-key")]));
        let setting = given.secret("KOMBO_API_KEY").unwrap();
        assert_eq!(setting.read(&secrets).await.as_deref(), Ok("given-key"));
        assert!(!format!("{setting:?}").contains("given-key"));

        let by_reference = Env::new(fixed_env(&[(
            "KOMBO_API_KEY_PARAM",
            "/personio-sync/kombo-api-key",
        )]));
        let setting = by_reference.secret("KOMBO_API_KEY").unwrap();
        assert_eq!(setting.read(&secrets).await.as_deref(), Ok("from-ssm"));

        let elsewhere = Env::new(fixed_env(&[("KOMBO_API_KEY_PARAM", "/nowhere")]));
        let error = elsewhere
            .secret("KOMBO_API_KEY")
            .unwrap()
            .read(&secrets)
            .await
            .unwrap_err();
        assert!(
            error.to_string().starts_with("KOMBO_API_KEY (the SSM parameter named by KOMBO_API_KEY_PARAM): SSM parameter /nowhere does not exist"),
            "{error}"
        );
        assert!(!error.is_retryable(), "an operator must create it");

        let unset = Env::new(fixed_env(&[]));
        assert_eq!(unset.optional_secret("PERSONIO_WEBHOOK_TOKEN"), None);
        assert_eq!(
            unset.secret("KOMBO_API_KEY").unwrap_err().to_string(),
            "set KOMBO_API_KEY_PARAM to the SSM parameter holding KOMBO_API_KEY (or KOMBO_API_KEY to the value itself, for a local run)"
        );
    }

    #[test]
    fn only_a_failing_secret_store_is_worth_another_cold_start() {
        let unreadable = |source| ConfigError::UnreadableSecret {
            variable: "KOMBO_API_KEY",
            source,
        };
        assert!(unreadable(SecretError::Unavailable {
            reference: "/p".into(),
            message: "timeout".into()
        })
        .is_retryable());
        assert!(!unreadable(SecretError::Refused {
            reference: "/p".into(),
            message: "AccessDeniedException".into()
        })
        .is_retryable());
    }
}

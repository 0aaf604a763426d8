//! The apply function's configuration, read by its `main` at cold start; what does not hold
//! fails the start, naming the variable to fix.

use fn_common::config::{ConfigError, Env};

/// Changes of one batch applied at once unless `APPLY_CHANGES_IN_FLIGHT` says otherwise.
pub const DEFAULT_CHANGES_IN_FLIGHT: usize = 8;
/// The most `APPLY_CHANGES_IN_FLIGHT` takes: the local runner's `--concurrency` bound. A batch
/// holds at most 10 records (the template's `BatchSize`), so more than 10 changes nothing.
pub const MAX_CHANGES_IN_FLIGHT: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `STATE_TABLE`: tenants and employee state.
    pub state_table: String,
    /// `IDEMPOTENCY_TABLE`: where the changes were claimed and completed until issue 16; they
    /// are now claimed on the employee's item of the state table (`sync_aws::ledger`), and this
    /// table is no longer read. Still required, so that a rollback finds it configured.
    pub idempotency_table: String,
    /// `APPLY_CHANGES_IN_FLIGHT`, 1 to [`MAX_CHANGES_IN_FLIGHT`]: the changes of one batch
    /// applied at once (so Learn Amp calls in flight per invocation),
    /// [`DEFAULT_CHANGES_IN_FLIGHT`] unless set.
    pub changes_in_flight: usize,
}

impl Config {
    /// `lookup` reads a variable: [`fn_common::config::process_env`] in `main`.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        Ok(Self {
            state_table: env.required("STATE_TABLE")?,
            idempotency_table: env.required("IDEMPOTENCY_TABLE")?,
            changes_in_flight: env.number(
                "APPLY_CHANGES_IN_FLIGHT",
                DEFAULT_CHANGES_IN_FLIGHT,
                1..=MAX_CHANGES_IN_FLIGHT,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fn_common::config::{fixed_env, fixed_env_without};

    const DEPLOYED: &[(&str, &str)] = &[
        ("STATE_TABLE", "state"),
        ("IDEMPOTENCY_TABLE", "idempotency"),
    ];

    fn in_flight(value: &'static str) -> Result<usize, ConfigError> {
        let mut vars = DEPLOYED.to_vec();
        vars.push(("APPLY_CHANGES_IN_FLIGHT", value));
        Config::from_env(fixed_env(&vars)).map(|c| c.changes_in_flight)
    }

    #[test]
    fn eight_changes_are_in_flight_unless_configured() {
        let config = Config::from_env(fixed_env(DEPLOYED)).unwrap();
        assert_eq!(
            config,
            Config {
                state_table: "state".into(),
                idempotency_table: "idempotency".into(),
                changes_in_flight: 8,
            }
        );
        assert_eq!(in_flight("3"), Ok(3));
        assert_eq!(in_flight(" 10 "), Ok(10));
        assert_eq!(in_flight(""), Ok(8));
    }

    #[test]
    fn a_wrong_number_of_changes_in_flight_is_named() {
        for wrong in ["0", "65", "-1", "many"] {
            assert_eq!(
                in_flight(wrong),
                Err(ConfigError::Invalid {
                    variable: "APPLY_CHANGES_IN_FLIGHT",
                    expected: "a whole number from 1 to 64".into()
                }),
                "{wrong}"
            );
        }
    }

    #[test]
    fn a_missing_table_is_named() {
        for variable in ["STATE_TABLE", "IDEMPOTENCY_TABLE"] {
            assert_eq!(
                Config::from_env(fixed_env_without(DEPLOYED, variable)),
                Err(ConfigError::Missing { variable })
            );
        }
    }
}

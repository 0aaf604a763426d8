//! The apply function's work for one change message, without Lambda: claim the change and the
//! employee in one write (the employee's state comes back with it, and the manager's is read
//! beside it), apply, then complete the change in one more write (the new state, the completion
//! and the employee given back), or release the claim so that a retry runs again.

use crate::applier::{Applier, ApplyError};
use crate::error::StoreError;
use crate::idempotency::{ChangeClaim, ChangeKey, ChangeLedger};
use crate::messages::ChangeMessage;
use crate::report::ActionRecord;
use serde::{Deserialize, Serialize};

#[derive(Debug)]
pub enum Processed {
    /// Applied now (the record says how), or failed permanently (recorded on the employee).
    Done(ActionRecord),
    /// This very change (its run's message, delivered again) was completed before: nothing
    /// done now. The first attempt's record.
    Redelivered(ActionRecord),
    /// Another run's change completed the same desired state before: nothing done. The first
    /// attempt's record, when it can be read.
    Duplicate(Option<ActionRecord>),
    /// Try again later: another worker holds the change, or a retryable error occurred.
    Retry(String),
}

/// A change whose manager is being created in the same run waits for it this many deliveries,
/// then is applied without the manager (the next run sets it).
pub const MANAGER_WAIT_DELIVERIES: u32 = 3;

pub async fn process_change(
    applier: &Applier<'_>,
    ledger: &dyn ChangeLedger,
    message: &ChangeMessage,
    receive_count: u32,
    now_ms: i64,
    deadline_ms: i64,
) -> Result<Processed, StoreError> {
    let change = ChangeKey::of(message);
    let (tenant, employee) = (&message.tenant, &message.desired.employee_id);
    // One change per employee in flight (two versions applied at once could leave Learn Amp
    // with the older one's fields and the state with the newer one's hashes): the claim is on
    // the employee, and lapses at its holder's deadline if the holder dies. The manager's state
    // is read at the same time, not after: the wait below and the write's manager need it.
    let manager_read = async {
        match &message.desired.manager_employee_id {
            Some(manager) => applier.store.employee(tenant, manager).await.map(Some),
            None => Ok(None),
        }
    };
    let (claim, manager) = futures::join!(
        ledger.claim_change(&change, now_ms, deadline_ms),
        manager_read
    );
    let state = match claim? {
        ChangeClaim::Acquired(state) => state.map(|s| *s),
        ChangeClaim::Completed(data) => return Ok(completed_before(message, &data)),
        ChangeClaim::Busy => {
            return Ok(Processed::Retry(format!(
                "another change of employee {employee} is being applied"
            )))
        }
    };
    let release = || ledger.release_change(&change);
    // The employee's state already holds this source change's desired state, and no live
    // completion said so (it expired, or the idempotency table of before issue 16 held it): a
    // duplicate still. A repair is never one: its state drifted.
    let holds_it = state
        .as_ref()
        .and_then(|s| s.applied_hash.as_deref())
        .is_some_and(|h| h == message.desired_hash);
    if holds_it && !change.repair {
        release().await?;
        return Ok(Processed::Duplicate(None));
    }
    let manager = match manager {
        Ok(manager) => manager,
        Err(e) => {
            release().await?;
            return Err(e);
        }
    };
    if message.wave > 0 && receive_count < MANAGER_WAIT_DELIVERIES {
        if let Some(name) = &message.desired.manager_employee_id {
            let ready = manager
                .as_ref()
                .and_then(Option::as_ref)
                .is_some_and(|s| s.active && s.is_linked());
            if !ready {
                release().await?;
                return Ok(Processed::Retry(format!(
                    "manager {name} is not applied yet"
                )));
            }
        }
    }
    let applier = Applier {
        manager_state: manager.as_ref(),
        ..*applier
    };
    match applier.apply_to(message, state).await {
        Ok((record, new_state)) => {
            let completion = Completion {
                record,
                run_id: Some(message.run_id.clone()),
            };
            let data = serde_json::to_string(&completion).unwrap_or_default();
            ledger
                .complete_change(&change, new_state.as_ref(), now_ms, &data)
                .await?;
            Ok(Processed::Done(completion.record))
        }
        Err(ApplyError::Store(e)) => {
            release().await?;
            Err(e)
        }
        Err(e) => {
            release().await?;
            Ok(Processed::Retry(e.to_string()))
        }
    }
}

/// What a completed record stores: the attempt's record, and the run whose change it was
/// (absent in records written before it was stored).
#[derive(Serialize, Deserialize)]
struct Completion {
    #[serde(flatten)]
    record: ActionRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run_id: Option<String>,
}

/// A completed record found for `message`: its own redelivery, or another run's duplicate.
fn completed_before(message: &ChangeMessage, data: &str) -> Processed {
    match serde_json::from_str::<Completion>(data) {
        Ok(c) if c.run_id.as_deref() == Some(message.run_id.as_str()) => {
            Processed::Redelivered(c.record)
        }
        Ok(c) => Processed::Duplicate(Some(c.record)),
        Err(_) => Processed::Duplicate(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::InMemoryLearnAmp;
    use crate::idempotency::{InMemoryLedger, LedgerClaims};
    use crate::mapping::DesiredUser;
    use crate::ports::{LearnAmp, StateStore};
    use crate::reconcile::observe_employees;
    use crate::report::ActionKind;
    use crate::settings::TenantSettings;
    use crate::store::EmbeddedStore;

    const TENANT: &str = "personio:worker-tests";

    fn desired() -> DesiredUser {
        DesiredUser {
            hire_date: None,
            ..DesiredUser::sample("E1")
        }
    }

    /// The message a reconcile sends for a drifted user; built from JSON, as the apply
    /// function decodes it.
    fn repair(run_id: &str) -> ChangeMessage {
        let mut json = serde_json::to_value(ChangeMessage::new(
            TENANT,
            run_id,
            desired(),
            chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            0,
        ))
        .unwrap();
        json["reason"] = "repair".into();
        serde_json::from_value(json).unwrap()
    }

    fn source_change(run_id: &str) -> ChangeMessage {
        ChangeMessage::new(
            TENANT,
            run_id,
            desired(),
            chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            0,
        )
    }

    #[tokio::test]
    async fn a_repair_of_a_completed_state_is_applied_and_a_source_duplicate_is_not() {
        let learnamp = InMemoryLearnAmp::new();
        let store = EmbeddedStore::in_memory();
        let claims = LedgerClaims::default();
        let idempotency = InMemoryLedger {
            store: &store,
            claims: &claims,
        };
        let settings = TenantSettings::new(TENANT);
        let applier = Applier {
            learnamp: &learnamp,
            store: &store,
            settings: &settings,
            known: None,
            manager_state: None,
        };
        let now = chrono::Utc::now().timestamp_millis();
        let process = |message: ChangeMessage| {
            let (applier, idempotency) = (&applier, &idempotency);
            async move {
                process_change(applier, idempotency, &message, 1, now, now + 60_000)
                    .await
                    .unwrap()
            }
        };
        let written = || learnamp.writes().len();

        // The import creates the user and completes its desired state.
        let import = process(source_change("import")).await;
        assert!(
            matches!(&import, Processed::Done(r) if r.action == ActionKind::Create),
            "{import:?}"
        );
        assert_eq!(written(), 1);
        let Processed::Done(created) = import else {
            unreachable!("checked above")
        };
        let user_id = created.learnamp_user_id.expect("linked");

        // An admin retitles the user by hand; a reconcile observes it and records the drift.
        learnamp.edit_by_hand(user_id, |user| {
            user.job_title = Some("Retitled by hand".into())
        });
        let stored = store.employees(TENANT).await.unwrap();
        let listing = learnamp
            .list_users(crate::ports::UserDetail::Basic)
            .await
            .unwrap();
        let drifted = observe_employees(&stored, listing, &[], &settings);
        assert_eq!(drifted.len(), 1, "the drift is seen");
        store.put_employee(TENANT, &drifted[0]).await.unwrap();

        // The repair wants the state the import completed: it is applied all the same.
        let repaired = process(repair("reconcile")).await;
        assert!(
            matches!(&repaired, Processed::Done(r) if r.action == ActionKind::Update),
            "{repaired:?}"
        );
        assert_eq!(written(), 2);
        assert_eq!(
            learnamp.user(user_id).unwrap().job_title.as_deref(),
            Some("Engineer"),
            "the title is repaired"
        );

        // A source change with the same desired state (the webhook's and the schedule's
        // copies) is still a duplicate; the repair's own redelivery is known as such.
        let outcome = process(source_change("webhook")).await;
        assert!(matches!(outcome, Processed::Duplicate(_)), "{outcome:?}");
        let outcome = process(repair("reconcile")).await;
        assert!(
            matches!(&outcome, Processed::Redelivered(r) if r.action == ActionKind::Update),
            "{outcome:?}"
        );
        assert_eq!(written(), 2, "nothing more written");
    }
}

//! The applier's branches against the in-memory Learn Amp and the in-memory store: what it
//! sends, what it records, and what the report says, for each way a user can come to exist.

use super::*;
use crate::embedded::learnamp::{InMemoryLearnAmp, LearnAmpCall, SeedUser, UserStatus};
use crate::mapping::{InactiveReason, Lifecycle, TeamRef};
use crate::ports::UserDetail;
use crate::store::EmbeddedStore;
use chrono::{NaiveDate, TimeZone, Utc};
use std::collections::BTreeMap;

const TENANT: &str = "personio:applier-tests";

struct World {
    learnamp: InMemoryLearnAmp,
    store: EmbeddedStore,
    settings: TenantSettings,
}

impl World {
    fn new() -> Self {
        let mut settings = TenantSettings::new(TENANT);
        settings.invite_policy = InvitePolicy::Immediately;
        Self {
            learnamp: InMemoryLearnAmp::new(),
            store: EmbeddedStore::in_memory(),
            settings,
        }
    }

    fn applier<'a>(&'a self, known: Option<&'a KnownUsers>) -> Applier<'a> {
        Applier {
            learnamp: &self.learnamp,
            store: &self.store,
            settings: &self.settings,
            known,
            manager_state: None,
        }
    }

    /// Applies as a delta run or the apply function does: without a listing of Learn Amp.
    async fn apply(&self, desired: &DesiredUser) -> ActionRecord {
        self.try_apply(desired).await.expect("applied")
    }

    async fn try_apply(&self, desired: &DesiredUser) -> Result<ActionRecord, ApplyError> {
        self.applier(None).apply(&message(desired)).await
    }

    /// Applies as a first import or a reconcile does: Learn Amp's users listed once before.
    async fn apply_knowing_users(&self, desired: &DesiredUser) -> ActionRecord {
        let listing = self.learnamp.list_users(UserDetail::Basic).await.unwrap();
        let known = KnownUsers::from_listing(listing);
        self.applier(Some(&known))
            .apply(&message(desired))
            .await
            .expect("applied")
    }

    async fn state(&self, employee_id: &str) -> EmployeeState {
        self.store
            .employee(TENANT, employee_id)
            .await
            .unwrap()
            .expect("the employee has a state")
    }

    /// A user already linked to the employee: created through the applier.
    async fn linked(&self, desired: &DesiredUser) -> u64 {
        let created = self.apply(desired).await;
        assert_eq!(created.action, ActionKind::Create, "{created:?}");
        created.learnamp_user_id.unwrap()
    }

    fn creates(&self) -> usize {
        self.learnamp
            .calls()
            .iter()
            .filter(|c| matches!(c, LearnAmpCall::CreateUser(_)))
            .count()
    }
}

fn message(desired: &DesiredUser) -> ChangeMessage {
    let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
    ChangeMessage::new(TENANT, "run-1", desired.clone(), today, 0)
}

fn employee(id: &str) -> DesiredUser {
    DesiredUser::sample(id)
}

fn left(mut desired: DesiredUser) -> DesiredUser {
    desired.lifecycle = Lifecycle::Inactive {
        reason: InactiveReason::TerminationDatePassed,
    };
    desired
}

fn seed(email: &str, external_id: Option<&str>, deactivated: bool) -> SeedUser {
    SeedUser {
        email: email.into(),
        first_name: "Hand".into(),
        last_name: "Made".into(),
        integration_external_id: external_id.map(String::from),
        deactivated,
    }
}

#[tokio::test]
async fn a_joiner_is_created_invited_and_recorded_as_complete() {
    let world = World::new();
    let desired = employee("E1");
    let record = world.apply(&desired).await;
    assert_eq!(record.action, ActionKind::Create, "{record:?}");
    let user = world.learnamp.user_of("E1").expect("created with the id");
    assert_eq!(record.learnamp_user_id, Some(user.id));
    assert_eq!(user.email, "e1@example.test");
    assert_eq!(user.job_title.as_deref(), Some("Engineer"));
    assert_eq!(user.hire_date.as_deref(), Some("2026-01-05"));
    assert_eq!(
        (user.status, user.invitations_sent),
        (UserStatus::InvitePending, 1)
    );
    let state = world.state("E1").await;
    assert_eq!(state.learnamp_user_id, Some(user.id));
    assert!(state.active && state.invited);
    assert_eq!(state.applied_hash, Some(desired.state_hash()));

    // The same desired state again: nothing is sent.
    let calls = world.learnamp.calls().len();
    let again = world.apply(&desired).await;
    assert_eq!(
        (again.action, again.detail.as_str()),
        (ActionKind::Unchanged, "already applied")
    );
    assert_eq!(world.learnamp.calls().len(), calls);
}

#[tokio::test]
async fn the_manual_policy_creates_without_an_invitation() {
    let mut world = World::new();
    world.settings.invite_policy = InvitePolicy::Manual;
    world.apply(&employee("E1")).await;
    let user = world.learnamp.user_of("E1").unwrap();
    assert_eq!(
        (user.status, user.invitations_sent),
        (UserStatus::NotInvited, 0)
    );
    assert!(!world.state("E1").await.invited);
}

#[tokio::test]
async fn a_mover_is_updated_with_the_changed_field_and_the_names_the_docs_require() {
    let world = World::new();
    let user_id = world.linked(&employee("E1")).await;
    let mut moved = employee("E1");
    moved.job_title = Some("Principal Engineer".into());
    let record = world.apply(&moved).await;
    assert_eq!(record.action, ActionKind::Update, "{record:?}");
    assert_eq!(record.detail, "changed: job_title");
    let Some(LearnAmpCall::UpdateUser(id, write)) = world.learnamp.calls().pop() else {
        panic!("an update is sent");
    };
    assert_eq!(id, user_id);
    assert_eq!(write.job_title.as_deref(), Some("Principal Engineer"));
    assert_eq!(write.email.as_deref(), Some("e1@example.test"));
    assert_eq!(write.hire_date, None, "unchanged fields are not sent");
    let user = world.learnamp.user(user_id).unwrap();
    assert_eq!(user.job_title.as_deref(), Some("Principal Engineer"));
    assert_eq!(
        world.state("E1").await.applied_hash,
        Some(moved.state_hash())
    );
}

#[tokio::test]
async fn a_leaver_is_deactivated_and_a_change_older_than_the_applied_one_is_skipped() {
    let world = World::new();
    let mut desired = employee("E1");
    desired.source_version = Some(Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap());
    let user_id = world.linked(&desired).await;

    let mut leaver = left(desired.clone());
    leaver.source_version = Some(Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap());
    let record = world.apply(&leaver).await;
    assert_eq!(record.action, ActionKind::Deactivate, "{record:?}");
    assert_eq!(
        world.learnamp.user(user_id).unwrap().status,
        UserStatus::Deactivated
    );
    let state = world.state("E1").await;
    assert!(!state.active);
    assert_eq!(state.learnamp_user_id, Some(user_id), "still linked");

    // A change from before the leave, delivered late, must not bring the user back.
    let calls = world.learnamp.calls().len();
    let mut late = employee("E1");
    late.job_title = Some("Staff Engineer".into());
    late.source_version = Some(Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap());
    let record = world.apply(&late).await;
    assert_eq!(record.action, ActionKind::Unchanged, "{record:?}");
    assert!(
        record.detail.starts_with("stale change skipped"),
        "{record:?}"
    );
    assert_eq!(world.learnamp.calls().len(), calls, "nothing sent");
    assert!(!world.state("E1").await.active);
}

#[tokio::test]
async fn a_user_that_existed_before_the_integration_is_adopted_by_email_not_created() {
    let world = World::new();
    // Found in the listing of a first import.
    let listed = world
        .learnamp
        .seed_user(seed("E1@Example.test", None, false));
    let record = world.apply_knowing_users(&employee("E1")).await;
    assert_eq!(record.action, ActionKind::Adopt, "{record:?}");
    assert_eq!(record.learnamp_user_id, Some(listed));
    assert_eq!(
        record.detail,
        "adopted the existing Learn Amp user with this email"
    );
    // Found through Learn Amp's "Email has already been taken" on a delta's create.
    let refused = world
        .learnamp
        .seed_user(seed("e2@example.test", None, false));
    let record = world.apply(&employee("E2")).await;
    assert_eq!(record.action, ActionKind::Adopt, "{record:?}");
    assert_eq!(record.learnamp_user_id, Some(refused));

    assert_eq!(world.creates(), 1, "only the refused create was sent");
    for (employee_id, user_id) in [("E1", listed), ("E2", refused)] {
        let user = world.learnamp.user(user_id).unwrap();
        assert_eq!(user.integration_external_id.as_deref(), Some(employee_id));
        assert_eq!(
            user.job_title.as_deref(),
            Some("Engineer"),
            "every field written"
        );
        assert_eq!(
            (user.status, user.invitations_sent),
            (UserStatus::Confirmed, 1)
        );
        let state = world.state(employee_id).await;
        assert_eq!(state.learnamp_user_id, Some(user_id));
        assert!(
            state.active && state.invited,
            "an adopted user is never invited"
        );
    }
}

#[tokio::test]
async fn a_user_an_interrupted_run_created_is_linked_on_already_taken_not_duplicated() {
    let world = World::new();
    // Learn Amp accepted the create; the run died before it recorded the state.
    let orphan = world
        .learnamp
        .seed_user(seed("e1@example.test", Some("E1"), false));
    let record = world.apply(&employee("E1")).await;
    assert_eq!(record.action, ActionKind::Adopt, "{record:?}");
    assert_eq!(record.learnamp_user_id, Some(orphan));
    assert_eq!(
        record.detail,
        "linked the user an interrupted run had created"
    );
    assert_eq!(
        world.learnamp.users().len(),
        2,
        "the owner and the one user"
    );
    assert_eq!(world.state("E1").await.learnamp_user_id, Some(orphan));
    assert_eq!(
        world.learnamp.user(orphan).unwrap().job_title.as_deref(),
        Some("Engineer")
    );

    // A first import finds it in the listing by its external id, without trying a create.
    let world = World::new();
    let orphan = world
        .learnamp
        .seed_user(seed("e1@example.test", Some("E1"), false));
    let record = world.apply_knowing_users(&employee("E1")).await;
    assert_eq!(record.action, ActionKind::Adopt, "{record:?}");
    assert_eq!(record.learnamp_user_id, Some(orphan));
    assert_eq!(world.creates(), 0);
}

#[tokio::test]
async fn a_rehire_under_a_new_id_reactivates_and_relinks_the_former_employees_user() {
    let world = World::new();
    let former = employee("OLD");
    let mut rehired = employee("NEW");
    rehired.email = former.email.clone();
    let user_id = world.linked(&former).await;
    world.apply(&left(former)).await;

    let record = world.apply(&rehired).await;
    assert_eq!(record.action, ActionKind::Reactivate, "{record:?}");
    assert_eq!(record.learnamp_user_id, Some(user_id));
    assert_eq!(
        record.detail,
        "rehire: reactivated and re-linked the user of former employee OLD"
    );
    let user = world.learnamp.user(user_id).unwrap();
    assert_eq!(user.integration_external_id.as_deref(), Some("NEW"));
    assert_eq!(
        user.status,
        UserStatus::InvitePending,
        "its status before it left"
    );
    assert_eq!(user.invitations_sent, 1, "not invited again");
    let old = world.state("OLD").await;
    assert_eq!(
        (old.learnamp_user_id, old.active),
        (None, false),
        "unlinked"
    );
    let new = world.state("NEW").await;
    assert_eq!((new.learnamp_user_id, new.active), (Some(user_id), true));
    assert_eq!(world.learnamp.users().len(), 2, "no second user");
}

#[tokio::test]
async fn an_email_held_by_another_active_employees_user_is_a_failure_not_a_takeover() {
    let world = World::new();
    let holder = world.linked(&employee("E1")).await;
    let mut clash = employee("E2");
    clash.email = Some("E1@example.test".into());
    let record = world.apply(&clash).await;
    assert_eq!(record.action, ActionKind::Failed, "{record:?}");
    assert!(record.detail.starts_with("create: "), "{record:?}");
    assert!(
        record.detail.contains("linked to another active employee"),
        "{record:?}"
    );
    assert_eq!(
        world
            .learnamp
            .user(holder)
            .unwrap()
            .integration_external_id
            .as_deref(),
        Some("E1")
    );
    let state = world.state("E2").await;
    assert!(!state.is_linked());
    assert!(state.last_error.is_some());
}

#[tokio::test]
async fn a_user_deleted_by_hand_is_created_again_without_a_second_invitation() {
    let world = World::new();
    let deleted = world.linked(&employee("E1")).await;
    world.learnamp.delete_by_hand(deleted);

    let mut moved = employee("E1");
    moved.job_title = Some("Principal Engineer".into());
    let record = world.apply(&moved).await;
    assert_eq!(record.action, ActionKind::Create, "{record:?}");
    assert_eq!(
        record.detail,
        "the Learn Amp user was deleted: created again"
    );
    let user = world.learnamp.user_of("E1").expect("created again");
    assert_ne!(user.id, deleted);
    assert_eq!(record.learnamp_user_id, Some(user.id));
    assert_eq!(user.job_title.as_deref(), Some("Principal Engineer"));
    assert_eq!(
        (user.status, user.invitations_sent),
        (UserStatus::NotInvited, 0)
    );
    let state = world.state("E1").await;
    assert_eq!(state.learnamp_user_id, Some(user.id));
    assert_eq!(state.applied_hash, Some(moved.state_hash()));
    let calls = world.learnamp.calls();
    let last: Vec<&str> = calls[calls.len() - 3..]
        .iter()
        .map(|c| c.endpoint())
        .collect();
    assert_eq!(
        last,
        [
            "PUT /v1/users/{id}",
            "GET /v1/users/by_integration_external_id/{id}",
            "POST /v1/users"
        ],
        "the update's 404, the look-up by id, the create"
    );
}

#[tokio::test]
async fn a_user_deleted_by_hand_and_given_back_its_id_is_relinked() {
    let world = World::new();
    let deleted = world.linked(&employee("E1")).await;
    world.learnamp.delete_by_hand(deleted);
    // An admin made the user again by hand, with the employee's id.
    let remade = world
        .learnamp
        .seed_user(seed("e1@example.test", Some("E1"), false));

    let mut moved = employee("E1");
    moved.job_title = Some("Principal Engineer".into());
    let record = world.apply(&moved).await;
    assert_eq!(record.action, ActionKind::Adopt, "{record:?}");
    assert_eq!(record.detail, "re-linked the user by external id");
    assert_eq!(record.learnamp_user_id, Some(remade));
    assert_eq!(world.state("E1").await.learnamp_user_id, Some(remade));
    assert_eq!(world.creates(), 1, "only the first create");
}

#[tokio::test]
async fn a_leaver_whose_user_was_deleted_by_hand_is_recorded_as_deactivated() {
    let world = World::new();
    let deleted = world.linked(&employee("E1")).await;
    world.learnamp.delete_by_hand(deleted);
    let record = world.apply(&left(employee("E1"))).await;
    assert_eq!(record.action, ActionKind::Deactivate, "{record:?}");
    assert!(!world.state("E1").await.active);
    assert_eq!(world.creates(), 1);
}

#[tokio::test]
async fn a_returning_leaver_is_reactivated_and_its_team_written_again_in_one_call() {
    let world = World::new();
    world.learnamp.seed_team("Engineering", Some("G1"));
    let mut desired = employee("E1");
    desired.primary_team = Some(TeamRef {
        group_id: "G1".into(),
        name: "Engineering".into(),
    });
    let user_id = world.linked(&desired).await;
    assert!(world
        .learnamp
        .user(user_id)
        .unwrap()
        .primary_team_id
        .is_some());
    world.apply(&left(desired.clone())).await;
    assert_eq!(
        world.learnamp.user(user_id).unwrap().primary_team_id,
        None,
        "deactivation"
    );

    let writes = world.learnamp.writes().len();
    let record = world.apply(&desired).await;
    assert_eq!(record.action, ActionKind::Reactivate, "{record:?}");
    assert_eq!(record.learnamp_user_id, Some(user_id));
    let user = world.learnamp.user(user_id).unwrap();
    assert_eq!(user.status, UserStatus::InvitePending);
    assert!(user.primary_team_id.is_some(), "the team is written again");
    assert_eq!(world.learnamp.writes().len(), writes + 1, "one call");
    let state = world.state("E1").await;
    assert!(state.active);
    assert_eq!(state.applied_hash, Some(desired.state_hash()));
}

#[tokio::test]
async fn a_custom_field_learn_amp_does_not_know_is_left_out_and_the_rest_created() {
    let world = World::new();
    let mut desired = employee("E1");
    desired.custom_fields = BTreeMap::from([("Badge".to_string(), Some("B-1".to_string()))]);
    let record = world.apply(&desired).await;
    assert_eq!(record.action, ActionKind::Create, "{record:?}");
    assert_eq!(
        record.detail,
        "joiner: created with invitation; custom field 'Badge' unknown to Learn Amp: not written (check the tenant's custom field mapping)"
    );
    let creates: Vec<UserWrite> = world
        .learnamp
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            LearnAmpCall::CreateUser(write) => Some(write),
            _ => None,
        })
        .collect();
    assert_eq!(creates.len(), 2, "sent again");
    assert!(creates[1].custom_fields.is_empty(), "{:?}", creates[1]);
    let user = world.learnamp.user_of("E1").expect("created");
    assert_eq!(user.job_title.as_deref(), Some("Engineer"));
    // Reported once: not tried again until its value changes.
    let again = world.apply(&desired).await;
    assert_eq!(again.action, ActionKind::Unchanged, "{again:?}");
}

#[tokio::test]
async fn a_404_names_no_field_so_every_custom_field_of_the_write_is_left_out() {
    let world = World::new();
    let mut desired = employee("E1");
    desired.custom_fields = BTreeMap::from([
        ("Badge".to_string(), Some("B-1".to_string())),
        ("Cost Center".to_string(), Some("CC-7".to_string())),
    ]);
    let record = world.apply(&desired).await;
    assert_eq!(record.action, ActionKind::Create, "{record:?}");
    assert!(
        record.detail.ends_with("custom field 'Badge', 'Cost Center' unknown to Learn Amp: not written (check the tenant's custom field mapping)"),
        "{record:?}"
    );
    assert!(world
        .learnamp
        .user_of("E1")
        .unwrap()
        .custom_fields
        .is_empty());
}

#[tokio::test]
async fn a_custom_field_learn_amp_refuses_to_clear_is_named_and_the_rest_updated() {
    let world = World::new();
    world.learnamp.require_custom_field("Cost Center");
    let mut desired = employee("E1");
    desired.custom_fields = BTreeMap::from([("Cost Center".to_string(), Some("CC-7".to_string()))]);
    let user_id = world.linked(&desired).await;

    desired.custom_fields.insert("Cost Center".into(), None); // cleared in Personio
    desired.job_title = Some("Principal Engineer".into());
    let record = world.apply(&desired).await;
    assert_eq!(record.action, ActionKind::Update, "{record:?}");
    assert!(
        record.detail.ends_with(
            "; custom field 'Cost Center' refused by Learn Amp: not written, the rest of the change was"
        ),
        "{record:?}"
    );
    let user = world.learnamp.user(user_id).unwrap();
    assert_eq!(user.job_title.as_deref(), Some("Principal Engineer"));
    assert_eq!(
        user.custom_fields["Cost Center"], "CC-7",
        "Learn Amp kept it"
    );
    let Some(LearnAmpCall::UpdateUser(_, resent)) = world.learnamp.calls().pop() else {
        panic!("the update is sent again");
    };
    assert!(resent.custom_fields.is_empty(), "{resent:?}");
}

#[tokio::test]
async fn a_rejection_fails_the_employee_a_transient_error_is_retried_and_refused_credentials_stop()
{
    let world = World::new();
    world
        .learnamp
        .fail_next(TargetError::Transient("HTTP 503".into()));
    let err = world.try_apply(&employee("E1")).await.unwrap_err();
    assert!(
        matches!(err, ApplyError::Retryable(_)) && err.is_retryable(),
        "{err:?}"
    );
    assert_eq!(
        world.store.employee(TENANT, "E1").await.unwrap(),
        None,
        "nothing recorded"
    );

    world
        .learnamp
        .fail_next(TargetError::Unauthorized("invalid_client".into()));
    let err = world.try_apply(&employee("E1")).await.unwrap_err();
    assert!(
        matches!(err, ApplyError::Fatal(_)) && !err.is_retryable(),
        "{err:?}"
    );

    let mut no_email = employee("E1");
    no_email.email = Some("not an email".into());
    let record = world.apply(&no_email).await;
    assert_eq!(record.action, ActionKind::Failed, "{record:?}");
    assert!(record.detail.contains("Email is invalid"), "{record:?}");
    let state = world.state("E1").await;
    assert!(state.last_error.is_some() && !state.is_linked());
    assert_eq!(world.learnamp.users().len(), 1, "only the owner");
}

#[test]
fn a_store_record_that_cannot_be_read_is_not_retried() {
    assert!(!ApplyError::Store(StoreError::Corrupt("item without data".into())).is_retryable());
    assert!(ApplyError::Store(StoreError::Unavailable("throttled".into())).is_retryable());
}

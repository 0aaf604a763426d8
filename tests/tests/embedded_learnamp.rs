//! The in-memory Learn Amp (`sync_core::embedded`) answers as Learn Amp does: the same calls,
//! made to it and, through the real HTTP client, to the Learn Amp sandbox, get the same answers
//! and the same errors. The applier's unit tests run against the in-memory one; this keeps them
//! honest.

use e2e::{CLIENT_ID, CLIENT_SECRET};
use sandbox::LearnAmpSandbox;
use sync_clients::{LearnAmpClient, RetryPolicy};
use sync_core::embedded::learnamp::{InMemoryLearnAmp, SeedUser};
use sync_core::error::TargetError;
use sync_core::learnamp::{User, UserWrite};
use sync_core::ports::{LearnAmp, UserDetail};

/// What each call answered, one line per call.
struct Transcript(Vec<String>);

impl Transcript {
    fn answer<T: std::fmt::Debug>(&mut self, call: &str, answer: Result<T, TargetError>) {
        self.0.push(format!("{call}: {answer:?}"));
    }

    /// Users without their status label's date (display text the sync never reads, and a day
    /// the in-memory one does not keep).
    fn users(&mut self, call: &str, answer: Result<Vec<User>, TargetError>) {
        let answer = answer.map(|users| {
            users
                .into_iter()
                .map(|mut user| {
                    if let Some(status) = &mut user.status {
                        status.time = None;
                    }
                    user
                })
                .collect::<Vec<_>>()
        });
        self.answer(call, answer);
    }
}

fn write(email: &str, external_id: Option<&str>) -> UserWrite {
    UserWrite {
        email: Some(email.into()),
        first_name: Some("Grace".into()),
        last_name: Some("Example".into()),
        integration_external_id: external_id.map(String::from),
        skip_invitation: Some(true),
        ..UserWrite::default()
    }
}

/// Every call of the port, in the cases the sync meets. The company holds the owner (1), a team
/// `G1` (301), a user made by hand (1001) and a deactivated user of a former employee (1002).
async fn script(learnamp: &dyn LearnAmp) -> Vec<String> {
    let mut t = Transcript(Vec::new());
    let mut joiner = write("c@example.test", Some("E1"));
    joiner.job_title = Some("Engineer".into());
    joiner.hire_date = Some("2026-01-05".into());
    joiner.primary_team_integration_external_id = Some("G1".into());
    joiner.custom_fields = vec![("Employee ID".into(), "7".into())];
    t.answer("create", learnamp.create_user(&joiner).await);
    let taken_id = write("d@example.test", Some("E1"));
    t.answer("external id taken", learnamp.create_user(&taken_id).await);
    let taken_email = write("A@Example.test", Some("E2"));
    t.answer("email taken", learnamp.create_user(&taken_email).await);
    let both = write("a@example.test", Some("E1"));
    t.answer("both taken", learnamp.create_user(&both).await);
    let mut unknown_field = write("e@example.test", Some("E3"));
    unknown_field.custom_fields = vec![("Badge".into(), "B-1".into())];
    t.answer(
        "unknown custom field",
        learnamp.create_user(&unknown_field).await,
    );
    let mut no_email = write("x@example.test", Some("E4"));
    no_email.email = None;
    t.answer("no email", learnamp.create_user(&no_email).await);
    t.answer(
        "invalid email",
        learnamp.create_user(&write("not an email", None)).await,
    );
    let mut unknown_team = write("f@example.test", Some("E5"));
    unknown_team.primary_team_integration_external_id = Some("G404".into());
    t.answer("unknown team", learnamp.create_user(&unknown_team).await);

    let managed = UserWrite {
        manager_id: Some(1001),
        ..UserWrite::default()
    };
    t.answer("set manager", learnamp.update_user(1003, &managed).await);
    let cleared = UserWrite {
        custom_fields: vec![("Cost Center".into(), String::new())],
        ..UserWrite::default()
    };
    t.answer(
        "clear a required custom field",
        learnamp.update_user(1003, &cleared).await,
    );
    t.answer(
        "update unknown user",
        learnamp.update_user(999_999, &managed).await,
    );
    let inactive_manager = UserWrite {
        manager_id: Some(1002),
        ..UserWrite::default()
    };
    t.answer(
        "deactivated manager",
        learnamp.update_user(1003, &inactive_manager).await,
    );
    let self_managed = UserWrite {
        manager_id: Some(1003),
        ..UserWrite::default()
    };
    t.answer(
        "own manager",
        learnamp.update_user(1003, &self_managed).await,
    );

    t.answer(
        "deactivate the manager",
        learnamp.deactivate_user(1001).await,
    );
    t.users(
        "its report",
        learnamp.user_by_external_id("E1").await.map(Vec::from_iter),
    );
    t.answer("deactivate the owner", learnamp.deactivate_user(1).await);
    t.answer(
        "deactivate unknown user",
        learnamp.deactivate_user(999_999).await,
    );
    t.answer(
        "reactivate unknown user",
        learnamp.reactivate_user(999_999).await,
    );
    let retitled = UserWrite {
        job_title: Some("Hand made".into()),
        ..UserWrite::default()
    };
    t.answer(
        "update a deactivated user",
        learnamp.update_user(1001, &retitled).await,
    );
    t.users(
        "still deactivated",
        learnamp.users_by_email("a@example.test").await,
    );
    t.answer("reactivate", learnamp.reactivate_user(1001).await);
    let rehire = UserWrite {
        integration_external_id: Some("NEW".into()),
        reactivate: true,
        ..UserWrite::default()
    };
    t.answer(
        "relink and reactivate",
        learnamp.update_user(1002, &rehire).await,
    );
    t.answer(
        "deactivate a team member",
        learnamp.deactivate_user(1003).await,
    );
    t.users(
        "out of its team",
        learnamp.user_by_external_id("E1").await.map(Vec::from_iter),
    );
    t.answer("reactivate it", learnamp.reactivate_user(1003).await);

    t.users(
        "by external id",
        learnamp
            .user_by_external_id("NEW")
            .await
            .map(Vec::from_iter),
    );
    t.users(
        "by unknown external id",
        learnamp
            .user_by_external_id("nope")
            .await
            .map(Vec::from_iter),
    );
    t.users("by email", learnamp.users_by_email("C@EXAMPLE.TEST").await);
    for detail in [UserDetail::Basic, UserDetail::Expanded] {
        let listing = learnamp.list_users(detail).await.map(|l| {
            assert!(l.skipped.is_empty());
            l.users
        });
        t.users(&format!("list {detail:?}"), listing);
    }

    t.answer(
        "team by external id",
        learnamp.team_by_external_id("G1").await,
    );
    t.answer("unknown team", learnamp.team_by_external_id("G404").await);
    t.answer("create team", learnamp.create_team("Sales", "G2").await);
    t.answer("team id taken", learnamp.create_team("Sales 2", "G1").await);
    t.answer("team without name", learnamp.create_team(" ", "G3").await);
    t.answer("rename team", learnamp.rename_team(301, "Eng").await);
    t.answer("rename unknown team", learnamp.rename_team(999, "X").await);
    t.answer("teams", learnamp.list_teams().await);
    t.0
}

fn seed(
    email: &str,
    external_id: Option<&str>,
    deactivated: bool,
) -> (SeedUser, sandbox::SeedUser) {
    let memory = SeedUser {
        email: email.into(),
        first_name: "Hand".into(),
        last_name: "Made".into(),
        integration_external_id: external_id.map(String::from),
        deactivated,
    };
    let http = sandbox::SeedUser {
        email: email.into(),
        first_name: "Hand".into(),
        last_name: "Made".into(),
        integration_external_id: external_id.map(String::from),
        deactivated,
    };
    (memory, http)
}

#[tokio::test]
async fn the_in_memory_learn_amp_answers_as_the_sandbox_does_through_the_http_client() {
    let sandbox = LearnAmpSandbox::new(CLIENT_ID, CLIENT_SECRET);
    let server = sandbox.start(0).await.expect("the sandbox binds");
    let client = LearnAmpClient::new(&server.base_url, CLIENT_ID, CLIENT_SECRET)
        .with_retry(RetryPolicy::fast());
    let memory = InMemoryLearnAmp::new();
    assert_eq!(sandbox.seed_team("Engineering", Some("G1"), None), 301);
    assert_eq!(memory.seed_team("Engineering", Some("G1")), 301);
    sandbox.require_custom_field("Cost Center");
    memory.require_custom_field("Cost Center");
    for (i, (in_memory, over_http)) in [
        seed("a@example.test", None, false),
        seed("b@example.test", Some("OLD"), true),
    ]
    .into_iter()
    .enumerate()
    {
        let id = 1001 + i as u64;
        assert_eq!(sandbox.seed_user(over_http), id);
        assert_eq!(memory.seed_user(in_memory), id);
    }

    let expected = script(&client).await;
    let answered = script(&memory).await;
    for (http, in_memory) in expected.iter().zip(&answered) {
        assert_eq!(in_memory, http);
    }
    assert_eq!(answered.len(), expected.len());
    server.shutdown().await;
}

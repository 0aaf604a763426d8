//! The change ledger on the employee's state item (`sync_aws::ledger`), against moto: one
//! claim per employee at a time, duplicates short-circuited, A→B→A applied, a repair never
//! swallowed, the state read with the claim and written with the completion.

use chrono::Utc;
use sync_aws::testing::{create_table, MotoServer};
use sync_aws::DynamoStateStore;
use sync_core::idempotency::{ChangeClaim, ChangeKey, ChangeLedger};
use sync_core::ports::StateStore;
use sync_core::state::EmployeeState;

const TENANT: &str = "personio:ledger";

fn change(hash: &str, repair: bool) -> ChangeKey {
    let key = format!("{TENANT}#E1#{hash}");
    ChangeKey {
        tenant: TENANT.into(),
        employee_id: "E1".into(),
        key: if repair {
            format!("{key}#repair#run")
        } else {
            key
        },
        desired_hash: hash.into(),
        repair,
    }
}

fn state(hash: &str) -> EmployeeState {
    let mut state = EmployeeState::new("E1", Utc::now());
    state.learnamp_user_id = Some(7);
    state.applied_hash = Some(hash.into());
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_claim_per_employee_duplicates_short_circuit_and_a_b_a_applies() {
    let moto = MotoServer::start();
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    create_table(&client, "state", &["pk", "sk"]).await;
    let store = DynamoStateStore::new(client, "state");
    let now = Utc::now().timestamp_millis();
    let (a, b) = (change("A", false), change("B", false));

    // A new employee: claimed with no state; another change of it waits.
    assert_eq!(
        store.claim_change(&a, now, now + 60_000).await.unwrap(),
        ChangeClaim::Acquired(None)
    );
    assert_eq!(
        store.claim_change(&b, now, now + 60_000).await.unwrap(),
        ChangeClaim::Busy
    );
    assert!(
        store.employees(TENANT).await.unwrap().is_empty(),
        "a claim is no state"
    );
    store
        .complete_change(&a, Some(&state("A")), now, "done A")
        .await
        .unwrap();
    let stored = store
        .employee(TENANT, "E1")
        .await
        .unwrap()
        .expect("a state");
    assert_eq!(
        stored.applied_hash.as_deref(),
        Some("A"),
        "written with the completion"
    );

    // A duplicate of A short-circuits; B is claimed with A's state, then completed.
    assert_eq!(
        store.claim_change(&a, now, now + 60_000).await.unwrap(),
        ChangeClaim::Completed("done A".into())
    );
    let ChangeClaim::Acquired(Some(found)) =
        store.claim_change(&b, now, now + 60_000).await.unwrap()
    else {
        panic!("B claimed with the state");
    };
    assert_eq!(found.applied_hash.as_deref(), Some("A"));
    store
        .complete_change(&b, Some(&state("B")), now, "done B")
        .await
        .unwrap();

    // A again after B: applied, not a duplicate. A failure releases it, and the state stays B.
    assert!(matches!(
        store.claim_change(&a, now, now + 60_000).await.unwrap(),
        ChangeClaim::Acquired(Some(s)) if s.applied_hash.as_deref() == Some("B")
    ));
    store.release_change(&a).await.unwrap();
    let ChangeClaim::Acquired(Some(s)) = store.claim_change(&a, now, now + 60_000).await.unwrap()
    else {
        panic!("released: claimable again");
    };
    assert_eq!(s.applied_hash.as_deref(), Some("B"));
    // The sync function's own write of the state leaves the claim in place.
    store.put_employee(TENANT, &state("B")).await.unwrap();
    assert_eq!(
        store.claim_change(&b, now, now + 60_000).await.unwrap(),
        ChangeClaim::Busy
    );
    // The holder died: its deadline passed, and the claim can be taken over.
    let later = now + 61_000;
    assert!(matches!(
        store.claim_change(&b, later, later + 60_000).await.unwrap(),
        ChangeClaim::Acquired(Some(_))
    ));
    store
        .complete_change(&b, None, later, "done B again")
        .await
        .unwrap();
    // The holder of A outlived its deadline: its late completion rolls nothing back.
    store
        .complete_change(&a, Some(&state("A")), later, "late A")
        .await
        .unwrap();
    let stored = store.employee(TENANT, "E1").await.unwrap().expect("state");
    assert_eq!(
        stored.applied_hash.as_deref(),
        Some("B"),
        "the new holder's state stands"
    );
    assert_eq!(
        store.claim_change(&b, later, later + 60_000).await.unwrap(),
        ChangeClaim::Completed("done B again".into())
    );

    // A repair of B's state is applied; then B from the source is its duplicate.
    let repair = change("B", true);
    assert!(matches!(
        store
            .claim_change(&repair, later, later + 60_000)
            .await
            .unwrap(),
        ChangeClaim::Acquired(_)
    ));
    store
        .complete_change(&repair, Some(&state("B")), later, "repaired")
        .await
        .unwrap();
    assert_eq!(
        store.claim_change(&b, later, later + 60_000).await.unwrap(),
        ChangeClaim::Completed("repaired".into())
    );
    drop(moto);
}

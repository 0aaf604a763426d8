//! Each route's behaviour with the in-memory Kombo connection flow and the sandboxes over HTTP.

mod common;

use common::{Admin, SANDBOX_INTEGRATION};
use fn_common::testing::{CLIENT_ID, CLIENT_SECRET};
use fn_common::SecretSource;
use serde_json::json;
use sync_core::connect::{IntegrationStatus, SetupStatus};
use sync_core::ports::{Queue, StateStore};
use sync_core::report::{RunTrigger, SyncMode};
use sync_core::tenants::{FirstImport, KomboConnection, TenantStore};

fn link_body() -> serde_json::Value {
    json!({"email": "admin@acme.example", "organization_name": "ACME GmbH"})
}

#[tokio::test]
async fn connecting_binds_the_integration_made_for_this_tenant_and_refuses_a_second() {
    let admin = Admin::start().await;
    let s = admin.login("acme").await;
    let status = admin.call(&s, "GET", "/api/status", None).await.json_body();
    assert_eq!(status["connection"]["state"], "not_connected");
    assert_eq!(status["ready_to_import"], false);
    assert_eq!(status["not_ready_reason"], "Connect Personio first.");

    // Two links before either is completed: Kombo would make two integrations.
    let first = admin
        .call(&s, "POST", "/api/connect/link", Some(link_body()))
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let first = first.json_body()["link"].as_str().unwrap().to_string();
    let second = admin
        .call(&s, "POST", "/api/connect/link", Some(link_body()))
        .await;
    let second = second.json_body()["link"].as_str().unwrap().to_string();
    let token = admin.connect.complete_link(&first).unwrap();
    let done = admin
        .call(
            &s,
            "POST",
            "/api/connect/complete",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let connection = &done.json_body()["connection"];
    assert_eq!(connection["state"], "connected");
    assert_eq!(connection["status"], "ACTIVE");
    assert_eq!(connection["setup_status"], "INCOMPLETE");
    let bound = connection["integration_id"].as_str().unwrap().to_string();
    assert_eq!(
        admin.tenant("acme").await.unwrap().integration_id(),
        Some(bound.as_str())
    );
    // The same token again: the same integration, statuses refreshed.
    let again = admin
        .call(
            &s,
            "POST",
            "/api/connect/complete",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(again.status, 200);

    // A new link is refused while connected.
    let refused = admin
        .call(&s, "POST", "/api/connect/link", Some(link_body()))
        .await;
    assert_eq!(refused.status, 409);
    assert_eq!(refused.json_body()["relink"], false);
    // The second integration: refused while the first works ...
    let token2 = admin.connect.complete_link(&second).unwrap();
    let dup = admin
        .call(
            &s,
            "POST",
            "/api/connect/complete",
            Some(json!({"token": token2})),
        )
        .await;
    assert_eq!(dup.status, 409, "{}", dup.body);
    assert_eq!(dup.json_body()["relink"], false);
    // ... and with a relink offered once the first broke.
    admin.connect.set_status(&bound, IntegrationStatus::Invalid);
    let dup = admin
        .call(
            &s,
            "POST",
            "/api/connect/complete",
            Some(json!({"token": token2})),
        )
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.json_body()["relink"], true);
    assert_eq!(
        admin.tenant("acme").await.unwrap().integration_id(),
        Some(bound.as_str())
    );

    // An unknown token, a malformed one.
    let unknown = admin
        .call(
            &s,
            "POST",
            "/api/connect/complete",
            Some(json!({"token": "token-999"})),
        )
        .await;
    assert_eq!(unknown.status, 422);
    let malformed = admin
        .call(
            &s,
            "POST",
            "/api/connect/complete",
            Some(json!({"token": "a b<script>"})),
        )
        .await;
    assert_eq!(malformed.status, 422);
    assert!(!malformed.body.contains("<script>"));
    admin.stop().await;
}

#[tokio::test]
async fn another_tenants_token_is_refused_with_403() {
    let admin = Admin::start().await;
    let globex = admin.login("globex").await;
    let link = admin
        .call(&globex, "POST", "/api/connect/link", Some(link_body()))
        .await;
    let token = admin
        .connect
        .complete_link(link.json_body()["link"].as_str().unwrap())
        .unwrap();
    let acme = admin.login("acme").await;
    let stolen = admin
        .call(
            &acme,
            "POST",
            "/api/connect/complete",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(stolen.status, 403, "{}", stolen.body);
    assert!(stolen.json_body()["error"]
        .as_str()
        .unwrap()
        .contains("another Learn Amp account"));
    assert!(admin.tenant("acme").await.is_none());
    // Globex completes its own.
    let own = admin
        .call(
            &globex,
            "POST",
            "/api/connect/complete",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(own.status, 200);
    admin.stop().await;
}

#[tokio::test]
async fn relink_only_when_invalid_and_disconnect_deletes_at_kombo() {
    let admin = Admin::start().await;
    let s = admin.login("acme").await;
    let not_connected = admin.call(&s, "POST", "/api/connect/relink", None).await;
    assert_eq!(not_connected.status, 409);
    let link = admin
        .call(&s, "POST", "/api/connect/link", Some(link_body()))
        .await;
    let token = admin
        .connect
        .complete_link(link.json_body()["link"].as_str().unwrap())
        .unwrap();
    let done = admin
        .call(
            &s,
            "POST",
            "/api/connect/complete",
            Some(json!({"token": token})),
        )
        .await;
    let id = done.json_body()["connection"]["integration_id"]
        .as_str()
        .unwrap()
        .to_string();

    let working = admin.call(&s, "POST", "/api/connect/relink", None).await;
    assert_eq!(working.status, 409, "{}", working.body);
    admin.connect.set_status(&id, IntegrationStatus::Invalid);
    let status = admin.call(&s, "GET", "/api/status", None).await.json_body();
    assert_eq!(status["connection"]["status"], "INVALID", "read from Kombo");
    let relink = admin.call(&s, "POST", "/api/connect/relink", None).await;
    assert_eq!(relink.status, 200, "{}", relink.body);
    let token = admin
        .connect
        .complete_link(relink.json_body()["link"].as_str().unwrap())
        .unwrap();
    let done = admin
        .call(
            &s,
            "POST",
            "/api/connect/complete",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(done.status, 200);
    assert_eq!(
        done.json_body()["connection"]["integration_id"],
        id.as_str()
    );
    assert_eq!(done.json_body()["connection"]["status"], "ACTIVE");
    let mut relinked = admin.tenant("acme").await.unwrap();
    assert_eq!(
        relinked.first_import,
        FirstImport::AwaitingAdmin,
        "a new tenant's import waits for its admin"
    );
    // The admin imported since (relinking kept the integration, so that stays).
    relinked.first_import = FirstImport::Started;
    admin.world.tenants.put_tenant(&relinked).await.unwrap();

    let gone = admin
        .call(&s, "POST", "/api/connect/disconnect", None)
        .await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(gone.json_body()["connection"]["state"], "not_connected");
    assert!(admin
        .connect
        .integrations()
        .iter()
        .all(|i| i.integration_id != id));
    let disconnected = admin.tenant("acme").await.unwrap();
    assert_eq!(disconnected.kombo, KomboConnection::NotConnected);
    assert_eq!(
        disconnected.first_import,
        FirstImport::AwaitingAdmin,
        "the next connection's import waits for the admin"
    );
    // Again: nothing left, still fine.
    assert_eq!(
        admin
            .call(&s, "POST", "/api/connect/disconnect", None)
            .await
            .status,
        200
    );
    admin.stop().await;
}

#[tokio::test]
async fn learn_amp_credentials_are_checked_against_learn_amp_before_they_are_saved() {
    let admin = Admin::start().await;
    let s = admin.login("acme").await;
    let base_url = admin.world.tenant_config("x").learnamp_base_url;
    let wrong = admin
        .call(&s, "PUT", "/api/learnamp", Some(json!({"base_url": base_url, "client_id": CLIENT_ID, "client_secret": "wrong-secret"})))
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert!(wrong.json_body()["error"]
        .as_str()
        .unwrap()
        .contains("refused these credentials"));
    assert!(!wrong.body.contains("wrong-secret"));
    let name = "/personio-sync/tenants/acme/learnamp-client-secret";
    assert!(admin.secrets.secret(name).await.is_err(), "nothing written");
    assert!(admin.tenant("acme").await.is_none());

    let bad_url = admin
        .call(&s, "PUT", "/api/learnamp", Some(json!({"base_url": "ftp://x", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})))
        .await;
    assert_eq!(bad_url.status, 422);
    assert_eq!(bad_url.json_body()["field"], "base_url");

    let right = admin
        .call(&s, "PUT", "/api/learnamp", Some(json!({"base_url": format!("{base_url}/"), "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})))
        .await;
    assert_eq!(right.status, 200, "{}", right.body);
    assert_eq!(
        right.json_body()["learnamp"],
        json!({"configured": true, "base_url": base_url, "client_id": CLIENT_ID})
    );
    assert!(!right.body.contains(CLIENT_SECRET));
    assert_eq!(admin.secrets.secret(name).await.unwrap(), CLIENT_SECRET);
    let saved = admin.tenant("acme").await.unwrap();
    assert_eq!(saved.learnamp_client_secret_ref, name);
    assert_eq!(
        saved.kombo,
        KomboConnection::NotConnected,
        "a self-service tenant starts unconnected"
    );
    let status = admin.call(&s, "GET", "/api/status", None).await;
    assert!(!status.body.contains(CLIENT_SECRET));
    assert_eq!(status.json_body()["learnamp"]["configured"], true);
    admin.stop().await;
}

#[tokio::test]
async fn settings_round_trip_and_are_validated() {
    let admin = Admin::start().await;
    let s = admin.login("acme").await;
    let defaults = admin
        .call(&s, "GET", "/api/settings", None)
        .await
        .json_body();
    assert_eq!(defaults["invite_policy"], "manual");
    assert_eq!(defaults["time_zone"], "Europe/Berlin");
    assert_eq!(
        defaults["deactivation_guard"],
        json!({"max_percent": 20.0, "max_count": null})
    );
    let body = common::body_for("PUT", "/api/settings", "").unwrap();
    let saved = admin
        .call(&s, "PUT", "/api/settings", Some(body.clone()))
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    let mut expected = body.clone();
    expected["deactivate_on"] = json!("day_after_termination");
    assert_eq!(saved.json_body(), expected);
    assert_eq!(
        admin
            .call(&s, "GET", "/api/settings", None)
            .await
            .json_body(),
        expected
    );
    let config = admin.tenant("acme").await.unwrap();
    assert_eq!(
        config.settings.invite_policy,
        sync_core::InvitePolicy::OnHireDate
    );
    assert!(config.settings.sync_location);
    assert_eq!(config.settings.max_deactivations, Some(5));

    for (field, value, named) in [
        ("time_zone", json!("Mars/Olympus"), "time_zone"),
        (
            "deactivation_guard",
            json!({"max_percent": 120.0, "max_count": null}),
            "deactivation_guard.max_percent",
        ),
        (
            "custom_fields",
            json!([{"personio_key": "a", "learnamp_field": "X"}, {"personio_key": "b", "learnamp_field": "X"}]),
            "custom_fields",
        ),
        ("scope", json!({"group_ids": [""]}), "scope.group_ids"),
    ] {
        let mut bad = body.clone();
        bad[field] = value;
        let refused = admin.call(&s, "PUT", "/api/settings", Some(bad)).await;
        assert_eq!(refused.status, 422, "{field}: {}", refused.body);
        assert_eq!(refused.json_body()["field"], named);
    }
    let mut bad = body.clone();
    bad["invite_policy"] = json!("sometimes");
    assert_eq!(
        admin
            .call(&s, "PUT", "/api/settings", Some(bad))
            .await
            .status,
        400
    );
    assert_eq!(
        admin.tenant("acme").await.unwrap().settings,
        config.settings,
        "refusals changed nothing"
    );
    admin.stop().await;
}

#[tokio::test]
async fn custom_fields_are_personio_s_from_kombo() {
    let admin = Admin::start().await;
    let s = admin.login("acme").await;
    assert_eq!(
        admin
            .call(&s, "GET", "/api/custom-fields", None)
            .await
            .status,
        409
    );
    admin.ready_tenant("acme").await;
    admin.connect.put_custom_field(
        SANDBOX_INTEGRATION,
        sync_core::connect::CustomFieldInfo {
            id: "cf1".into(),
            key: "shirt_size".into(),
            model: "hris_employees".into(),
            label: Some("Shirt size".into()),
        },
    );
    let fields = admin.call(&s, "GET", "/api/custom-fields", None).await;
    assert_eq!(fields.status, 200);
    assert_eq!(
        fields.json_body(),
        json!({"fields": [{"key": "shirt_size", "label": "Shirt size"}]})
    );
    admin.stop().await;
}

#[tokio::test]
async fn import_waits_for_setup_then_queues_a_full_sync() {
    let admin = Admin::start().await;
    let s = admin.login("acme").await;
    let refused = admin.call(&s, "POST", "/api/import", None).await;
    assert_eq!(refused.status, 409);
    assert_eq!(refused.json_body()["error"], "Connect Personio first.");
    admin.ready_tenant("acme").await;
    admin
        .connect
        .set_setup_status(SANDBOX_INTEGRATION, SetupStatus::FinalSyncPending);
    let waiting = admin.call(&s, "POST", "/api/import", None).await;
    assert_eq!(waiting.status, 409);
    assert!(waiting.json_body()["error"]
        .as_str()
        .unwrap()
        .contains("FINAL_SYNC_PENDING"));
    assert!(admin.world.sync_requests.is_empty());
    assert_eq!(
        admin.call(&s, "POST", "/api/preview", None).await.status,
        409
    );

    admin
        .connect
        .set_setup_status(SANDBOX_INTEGRATION, SetupStatus::Completed);
    let status = admin.call(&s, "GET", "/api/status", None).await.json_body();
    assert_eq!(status["ready_to_import"], true, "{status}");
    let queued = admin.call(&s, "POST", "/api/import", Some(json!({}))).await;
    assert_eq!(queued.status, 202, "{}", queued.body);
    assert_eq!(queued.json_body(), json!({"queued": true}));
    let requests = admin.world.sync_requests.receive(10).await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0].message;
    assert_eq!(
        (request.tenant.as_str(), request.mode, request.trigger),
        ("acme", SyncMode::Full, RunTrigger::Invoke)
    );
    let status = admin.call(&s, "GET", "/api/status", None).await.json_body();
    assert_eq!(status["run_in_progress"]["phase"], "queued", "{status}");
    admin.stop().await;
}

#[tokio::test]
async fn the_preview_counts_and_lists_what_an_import_would_do_and_writes_nothing() {
    let admin = Admin::start().await;
    let s = admin.login("acme").await;
    admin.ready_tenant("acme").await;
    let preview = admin.call(&s, "POST", "/api/preview", None).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    let preview = preview.json_body();
    let counts = &preview["counts"];
    let listed: u64 = [
        "create",
        "update",
        "deactivate",
        "reactivate",
        "defer",
        "unchanged",
        "failed",
        "adopt",
    ]
    .iter()
    .map(|k| counts[k].as_u64().unwrap())
    .sum();
    assert!(listed >= 12, "every employee is counted: {counts}");
    assert!(counts["create"].as_u64().unwrap() > 0, "{counts}");
    assert_eq!(
        counts["invite"], 0,
        "the default policy is manual: {counts}"
    );
    let items = preview["items"].as_array().unwrap();
    let created = items.iter().find(|i| i["action"] == "create").unwrap();
    assert!(
        created["name"].as_str().is_some_and(|n| !n.is_empty()),
        "{created}"
    );
    assert!(created["email"].as_str().is_some_and(|e| e.contains('@')));
    assert!(created["reason"].as_str().unwrap().contains("joiner"));
    assert_eq!(preview["truncated"], false);
    // Nothing written: no report, no state, no Learn Amp user.
    assert!(admin
        .world
        .store
        .reports("acme", 10)
        .await
        .unwrap()
        .is_empty());
    assert!(admin
        .world
        .store
        .employees("acme")
        .await
        .unwrap()
        .is_empty());
    assert!(admin.world.sync_requests.is_empty());

    // With invitations, the joiners are counted as invited.
    let mut settings = common::body_for("PUT", "/api/settings", "").unwrap();
    settings["invite_policy"] = json!("immediately");
    settings["scope"] = json!({});
    assert_eq!(
        admin
            .call(&s, "PUT", "/api/settings", Some(settings))
            .await
            .status,
        200
    );
    let preview = admin
        .call(&s, "POST", "/api/preview", None)
        .await
        .json_body();
    assert!(
        preview["counts"]["invite"].as_u64().unwrap() > 0,
        "{}",
        preview["counts"]
    );
    assert!(preview["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["invite"] == true));
    admin.stop().await;
}

#[tokio::test]
async fn status_shows_a_run_in_progress_and_the_employees_in_error_with_live_names() {
    use sync_core::coordination::Coordination;
    let admin = Admin::start().await;
    let s = admin.login("acme").await;
    admin.ready_tenant("acme").await;
    let preview = admin
        .call(&s, "POST", "/api/preview", None)
        .await
        .json_body();
    let employee = preview["items"][0]["employee_id"]
        .as_str()
        .unwrap()
        .to_string();
    let name = preview["items"][0]["name"].clone();
    let mut state = sync_core::state::EmployeeState::new(&employee, chrono::Utc::now());
    state.learnamp_user_id = Some(7);
    state.last_error = Some("email has already been taken".into());
    admin
        .world
        .store
        .put_employee("acme", &state)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    assert!(admin
        .world
        .coordination
        .lock_run("acme", "run-1", now, now + chrono::Duration::minutes(5))
        .await
        .unwrap());

    let status = admin.call(&s, "GET", "/api/status", None).await.json_body();
    assert_eq!(status["run_in_progress"]["phase"], "reading", "{status}");
    let errors = status["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["employee_id"], employee.as_str());
    assert_eq!(errors[0]["learnamp_user_id"], 7);
    assert_eq!(errors[0]["message"], "email has already been taken");
    assert_eq!(errors[0]["name"], name, "read live from Kombo");
    assert!(errors[0]["email"].as_str().is_some_and(|e| e.contains('@')));
    // Nothing of the names was stored.
    let stored = admin
        .world
        .store
        .employee("acme", &employee)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, state);
    admin.stop().await;
}

//! The Learn Amp sandbox over HTTP.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use sandbox::learnamp::SeedUser;
use sandbox::{LearnAmpSandbox, RunningServer};
use serde_json::{json, Value};

const ID: &str = "client-id";
const SECRET: &str = "client-secret";

struct La {
    sb: LearnAmpSandbox,
    srv: RunningServer,
    token: String,
    http: reqwest::Client,
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    raw: String,
}

async fn read(resp: reqwest::Response) -> Resp {
    let status = resp.status();
    let headers = resp.headers().clone();
    let raw = resp.text().await.unwrap();
    let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
        raw,
    }
}

async fn start() -> La {
    let sb = LearnAmpSandbox::new(ID, SECRET);
    let srv = sb.start(0).await.unwrap();
    let http = reqwest::Client::new();
    let r = read(
        http.post(format!("{}/oauth/token", srv.base_url))
            .form(&[
                ("client_id", ID),
                ("client_secret", SECRET),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let token = r.body["access_token"].as_str().unwrap().to_string();
    La {
        sb,
        srv,
        token,
        http,
    }
}

impl La {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.srv.base_url)
    }

    async fn get(&self, path: &str) -> Resp {
        read(
            self.http
                .get(self.url(path))
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn form(&self, method: Method, path: &str, pairs: &[(&str, &str)]) -> Resp {
        read(
            self.http
                .request(method, self.url(path))
                .bearer_auth(&self.token)
                .form(pairs)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn json(&self, method: Method, path: &str, body: Value) -> Resp {
        read(
            self.http
                .request(method, self.url(path))
                .bearer_auth(&self.token)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn empty(&self, method: Method, path: &str) -> Resp {
        read(
            self.http
                .request(method, self.url(path))
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn create(&self, email: &str, ext: &str, extra: &[(&str, &str)]) -> Value {
        let mut pairs = vec![
            ("email", email),
            ("firstName", "Test"),
            ("lastName", "User"),
            ("integrationExternalId", ext),
        ];
        pairs.extend_from_slice(extra);
        let r = self.form(Method::POST, "/v1/users", &pairs).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
        r.body
    }
}

fn multipart(fields: &[(&str, &str)]) -> (String, String) {
    let boundary = "----sandboxBoundary7MA4YWxkTrZu0gW";
    let mut body = String::new();
    for (k, v) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn token_endpoint() {
    let la = start().await;
    let url = la.url("/oauth/token");

    // Multipart, as curl --form sends it.
    let (ct, body) = multipart(&[
        ("client_id", ID),
        ("client_secret", SECRET),
        ("grant_type", "client_credentials"),
    ]);
    let r = read(
        la.http
            .post(&url)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 7200);
    assert_eq!(r.body["scope"], "public");
    assert!(r.body["created_at"].as_i64().unwrap() > 1_600_000_000);
    assert!(r.body["access_token"].as_str().unwrap().len() >= 32);

    let r = read(
        la.http
            .post(&url)
            .form(&[
                ("client_id", ID),
                ("client_secret", "wrong"),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error"], "invalid_client");
    assert!(r.body["error_description"].is_string());

    let r = read(
        la.http
            .post(&url)
            .form(&[
                ("client_id", ID),
                ("client_secret", SECRET),
                ("grant_type", "password"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"], "unsupported_grant_type");

    let r = read(
        la.http
            .post(&url)
            .form(&[("client_id", ID), ("client_secret", SECRET)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"], "invalid_request");

    // Requested scopes are echoed; unknown ones are rejected.
    let r = read(
        la.http
            .post(&url)
            .form(&[
                ("client_id", ID),
                ("client_secret", SECRET),
                ("grant_type", "client_credentials"),
                ("scope", "users:read teams:read"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["scope"], "users:read teams:read");
    let limited = r.body["access_token"].as_str().unwrap().to_string();
    let r = read(
        la.http
            .get(la.url("/v1/users"))
            .bearer_auth(&limited)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = read(
        la.http
            .post(la.url("/v1/users"))
            .bearer_auth(&limited)
            .form(&[("email", "a@b.example")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.body["error"],
        "Access to this resource requires scope \"users:create\"."
    );
    let r = read(
        la.http
            .post(&url)
            .form(&[
                ("client_id", ID),
                ("client_secret", SECRET),
                ("grant_type", "client_credentials"),
                ("scope", "users:everything"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"], "invalid_scope");
    la.srv.shutdown().await;
}

#[tokio::test]
async fn missing_invalid_and_expired_tokens_get_401() {
    let la = start().await;
    let r = read(la.http.get(la.url("/v1/users")).send().await.unwrap()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body["error"].is_string());
    let r = read(
        la.http
            .get(la.url("/v1/users"))
            .bearer_auth("bogus")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    assert_eq!(la.get("/v1/users").await.status, StatusCode::OK);
    la.sb.expire_all_tokens();
    let r = la.get("/v1/users").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error"], "The access token expired");

    // A short TTL expires by itself.
    la.sb.set_token_ttl(1);
    let r = read(
        la.http
            .post(la.url("/oauth/token"))
            .form(&[
                ("client_id", ID),
                ("client_secret", SECRET),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.body["expires_in"], 1);
    let token = r.body["access_token"].as_str().unwrap().to_string();
    let call = || la.http.get(la.url("/v1/users")).bearer_auth(&token).send();
    assert_eq!(call().await.unwrap().status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(call().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    la.srv.shutdown().await;
}

#[tokio::test]
async fn create_update_deactivate_reactivate() {
    let la = start().await;
    let u = la
        .create(
            "jane.doe@acme.example",
            "EMP-1",
            &[
                ("jobTitle", "Engineer"),
                ("hireDate", "2024-02-29"),
                ("location", "Berlin"),
                ("department", "Engineering"),
                ("language", "de"),
            ],
        )
        .await;
    let id = u["id"].as_u64().unwrap();
    assert_eq!(u["firstName"], "Test");
    assert_eq!(u["integrationExternalId"], "EMP-1");
    assert_eq!(u["hireDate"], "2024-02-29");
    assert_eq!(u["location"], "Berlin");
    assert_eq!(u["language"], "de");
    assert_eq!(u["role"], "viewer");
    assert_eq!(u["status"]["status"], "Invite pending");
    assert!(u["status"]["time"].as_str().unwrap().starts_with("Sent "));
    assert!(u["primaryTeam"].is_null());
    assert_eq!(u["secondaryTeams"], json!([]));
    let su = la.sb.user(id).unwrap();
    assert_eq!(su.status, "invite_pending");
    assert_eq!(su.invitations_sent, 1);

    let skipped = la
        .create("quiet@acme.example", "EMP-2", &[("skipInvitation", "true")])
        .await;
    assert_eq!(skipped["status"]["status"], "Not invited");
    assert!(skipped["status"]["time"].is_null());
    assert_eq!(
        la.sb
            .user(skipped["id"].as_u64().unwrap())
            .unwrap()
            .invitations_sent,
        0
    );

    // Partial update: only the sent fields change.
    let r = la
        .form(
            Method::PUT,
            &format!("/v1/users/{id}"),
            &[("jobTitle", "Senior Engineer")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.body["jobTitle"], "Senior Engineer");
    assert_eq!(r.body["location"], "Berlin");
    assert_eq!(r.body["email"], "jane.doe@acme.example");

    // Update by external id (URL-encoded), and renaming the external id.
    let r = la
        .form(
            Method::PUT,
            "/v1/users/by_integration_external_id/EMP-1",
            &[
                ("location", "Edinburgh"),
                ("integrationExternalId", "HR/1001"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let r = la
        .get("/v1/users/by_integration_external_id/HR%2F1001")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["id"].as_u64(), Some(id));
    assert_eq!(r.body["location"], "Edinburgh");
    assert_eq!(
        la.get("/v1/users/by_integration_external_id/EMP-1")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let r = la.get(&format!("/v1/users/{id}.json")).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = la.get("/v1/users/999999").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, json!({"error": "Not found"}));

    // Clearing with an empty value.
    let r = la
        .form(
            Method::PUT,
            &format!("/v1/users/{id}"),
            &[("integrationExternalId", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["integrationExternalId"].is_null());

    // Deactivate → 204 with an empty body.
    let r = la
        .empty(Method::PUT, &format!("/v1/users/{id}/deactivate"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.raw.is_empty());
    let r = la.get(&format!("/v1/users/{id}")).await;
    assert_eq!(r.body["status"]["status"], "Deactivated");

    // Updating a deactivated user keeps it deactivated.
    let r = la
        .form(
            Method::PUT,
            &format!("/v1/users/{id}"),
            &[("jobTitle", "Ghost")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"]["status"], "Deactivated");

    // Reactivate → previous status, no new invitation.
    let r = la
        .empty(Method::PUT, &format!("/v1/users/{id}/reactivate"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let su = la.sb.user(id).unwrap();
    assert_eq!(su.status, "invite_pending");
    assert_eq!(su.invitations_sent, 1);

    // reactivate=true on update.
    la.sb
        .admin_update_user(id, |u| u.status = "confirmed".into());
    la.empty(Method::PUT, &format!("/v1/users/{id}/deactivate"))
        .await;
    let r = la
        .form(
            Method::PUT,
            &format!("/v1/users/{id}"),
            &[("reactivate", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"]["status"], "Confirmed");

    // Unknown ids.
    assert_eq!(
        la.empty(Method::PUT, "/v1/users/424242/deactivate")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        la.empty(Method::PUT, "/v1/users/424242/reactivate")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Delete.
    let sid = skipped["id"].as_u64().unwrap();
    let r = la.empty(Method::DELETE, &format!("/v1/users/{sid}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(la.sb.user(sid).is_none());
    assert_eq!(
        la.empty(Method::DELETE, &format!("/v1/users/{sid}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    la.srv.shutdown().await;
}

#[tokio::test]
async fn validation_errors_match_the_docs() {
    let la = start().await;
    let r = la.form(Method::POST, "/v1/users", &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({
            "error": "email is missing, firstName is missing, lastName is missing",
            "fullErrors": {"email": ["is missing"], "firstName": ["is missing"], "lastName": ["is missing"]}
        })
    );
    let r = la
        .form(
            Method::POST,
            "/v1/users",
            &[("email", ""), ("firstName", "A"), ("lastName", "B")],
        )
        .await;
    assert_eq!(
        r.body,
        json!({"error": "email is empty", "fullErrors": {"email": ["is empty"]}})
    );
    let r = la
        .form(
            Method::POST,
            "/v1/users",
            &[
                ("email", "x@acme.example"),
                ("firstName", "A"),
                ("lastName", "B"),
                ("hireDate", "2024-02-30"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"], "hireDate is invalid");

    la.create("taken@acme.example", "EXT-1", &[]).await;
    let r = la
        .form(
            Method::POST,
            "/v1/users",
            &[
                ("email", "other@acme.example"),
                ("firstName", "A"),
                ("lastName", "B"),
                ("integrationExternalId", "EXT-1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({
            "error": "Validation failed: Integration external id has already been taken",
            "fullErrors": {"integrationExternalId": ["has already been taken"]}
        })
    );
    let r = la
        .form(
            Method::POST,
            "/v1/users",
            &[
                ("email", "TAKEN@acme.example"),
                ("firstName", "A"),
                ("lastName", "B"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({
            "error": "Validation failed: Email has already been taken",
            "fullErrors": {"email": ["has already been taken"]}
        })
    );
    // An update changing the email to a taken one.
    let other = la.create("second@acme.example", "EXT-2", &[]).await;
    let oid = other["id"].as_u64().unwrap();
    let r = la
        .form(
            Method::PUT,
            &format!("/v1/users/{oid}"),
            &[("email", "Taken@Acme.example")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body["error"],
        "Validation failed: Email has already been taken"
    );
    let r = la
        .form(
            Method::PUT,
            "/v1/users/by_integration_external_id/EXT-2",
            &[("integrationExternalId", "EXT-1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body["fullErrors"],
        json!({"integrationExternalId": ["has already been taken"]})
    );
    // Keeping one's own email / external id is fine.
    let r = la
        .form(
            Method::PUT,
            &format!("/v1/users/{oid}"),
            &[
                ("email", "second@acme.example"),
                ("integrationExternalId", "EXT-2"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);

    // Mutually exclusive parameters.
    let base = [
        ("email", "m@acme.example"),
        ("firstName", "A"),
        ("lastName", "B"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let r = la
        .form(
            Method::POST,
            "/v1/users",
            &with(&[
                ("primaryTeamId", "1"),
                ("primaryTeamIntegrationExternalId", "X"),
            ]),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"error": "primaryTeamId, primaryTeamIntegrationExternalId are mutually exclusive"})
    );
    let r = la
        .form(
            Method::POST,
            "/v1/users",
            &with(&[
                ("managerId", "1"),
                ("managerEmail", "owner@sandbox.learnamp.test"),
            ]),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"error": "managerId, managerEmail are mutually exclusive"})
    );
    let r = la
        .form(
            Method::POST,
            "/v1/users",
            &with(&[("managerEmail", "nobody@acme.example")]),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({"error": "managerEmail must match an existing user email within your company"})
    );
    let r = la
        .form(
            Method::POST,
            "/v1/users",
            &with(&[("primaryTeamIntegrationExternalId", "NOPE")]),
        )
        .await;
    assert_eq!(
        r.body,
        json!({
            "error": "primaryTeamIntegrationExternalId must match existing teams integration external IDs",
            "fullErrors": {"primaryTeamIntegrationExternalId": ["must match existing teams integration external IDs"]}
        })
    );
    let r = la
        .form(
            Method::POST,
            "/v1/users",
            &with(&[("occupationRole", "Pilot")]),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = la
        .form(
            Method::POST,
            "/v1/users",
            &with(&[
                ("customFields[][name]", "Shoe Size"),
                ("customFields[][value]", "42"),
            ]),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, json!({"error": "Not found"}));
    // Nothing was created by the failed calls.
    assert!(la.sb.snapshot().user_by_email("m@acme.example").is_none());
    la.srv.shutdown().await;
}

#[tokio::test]
async fn managers_teams_and_custom_fields() {
    let la = start().await;
    let dept = la.sb.seed_team("Engineering", Some("DEPT-ENG"), None);
    let other = la.sb.seed_team("Sales", Some("DEPT/SALES"), None);
    let club = la.sb.seed_team("Book Club", None, None);
    let boss = la
        .create(
            "boss@acme.example",
            "B-1",
            &[
                ("primaryTeamIntegrationExternalId", "DEPT-ENG"),
                ("skipInvitation", "true"),
            ],
        )
        .await;
    let boss_id = boss["id"].as_u64().unwrap();
    assert_eq!(boss["primaryTeam"]["id"].as_u64(), Some(dept));
    assert_eq!(boss["primaryTeam"]["teamUsersCount"], 1);

    let club_s = club.to_string();
    let worker = la
        .create(
            "worker@acme.example",
            "W-1",
            &[
                ("primaryTeamIntegrationExternalId", "DEPT-ENG"),
                ("secondaryTeamIds[]", &club_s),
                ("managerEmail", "BOSS@acme.example"),
                ("customFields[][name]", "Employee ID"),
                ("customFields[][value]", "W-1"),
                ("customFields[][name]", "Cost Center"),
                ("customFields[][value]", "CC-7"),
            ],
        )
        .await;
    let wid = worker["id"].as_u64().unwrap();
    assert_eq!(worker["manager"]["id"].as_u64(), Some(boss_id));
    assert_eq!(worker["secondaryTeams"][0]["id"].as_u64(), Some(club));
    let su = la.sb.user(wid).unwrap();
    assert_eq!(su.custom_fields["Employee ID"], "W-1");
    assert_eq!(su.custom_fields["Cost Center"], "CC-7");
    assert_eq!(su.manager_id, Some(boss_id));

    // Changing the primary team leaves secondary teams alone.
    let r = la
        .form(
            Method::PUT,
            &format!("/v1/users/{wid}"),
            &[("primaryTeamIntegrationExternalId", "DEPT/SALES")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let su = la.sb.user(wid).unwrap();
    assert_eq!(su.primary_team_id, Some(other));
    assert_eq!(su.secondary_team_ids, vec![club]);

    // Clearing a custom field with an empty value; JSON bodies work too.
    let r = la
        .json(
            Method::PUT,
            &format!("/v1/users/{wid}"),
            json!({"customFields": [{"name": "Cost Center", "value": null}], "jobTitle": "Rep"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let su = la.sb.user(wid).unwrap();
    assert!(!su.custom_fields.contains_key("Cost Center"));
    assert_eq!(su.custom_fields["Employee ID"], "W-1");
    assert_eq!(su.job_title.as_deref(), Some("Rep"));

    // Expanded list shows the manager, teams and custom fields.
    let r = la
        .get("/v1/users?expanded=true&filters[integration_external_id]=W-1")
        .await;
    let u = &r.body["users"][0];
    assert_eq!(u["manager"]["id"].as_u64(), Some(boss_id));
    assert_eq!(u["primaryTeam"]["id"].as_u64(), Some(other));
    assert_eq!(
        u["customFields"],
        json!([{"name": "Employee ID", "value": "W-1"}])
    );
    let r = la
        .get("/v1/users?filters[integration_external_id]=W-1")
        .await;
    assert!(r.body["users"][0].get("manager").is_none());

    // A team managed by the boss.
    let r = la
        .form(
            Method::PUT,
            &format!("/v1/teams/{dept}"),
            &[("managerId", &boss_id.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.body["manager"]["id"].as_u64(), Some(boss_id));

    // Deactivating the boss: teams left, reports and team go to the owner.
    la.sb.add_secondary_team(boss_id, club);
    let r = la
        .empty(Method::PUT, &format!("/v1/users/{boss_id}/deactivate"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let boss_now = la.sb.user(boss_id).unwrap();
    assert_eq!(boss_now.status, "deactivated");
    assert_eq!(boss_now.primary_team_id, None);
    assert!(boss_now.secondary_team_ids.is_empty());
    assert_eq!(la.sb.user(wid).unwrap().manager_id, Some(1));
    assert_eq!(la.sb.team(dept).unwrap().manager_id, Some(1));
    let r = la.get(&format!("/v1/teams/{dept}")).await;
    assert_eq!(r.body["teamUsersCount"], 0);

    // A deactivated user can't be a manager.
    let r = la
        .form(
            Method::PUT,
            &format!("/v1/users/{wid}"),
            &[("managerEmail", "boss@acme.example")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = la
        .form(
            Method::PUT,
            &format!("/v1/users/{wid}"),
            &[("managerId", &boss_id.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // The owner cannot be deactivated.
    assert_eq!(
        la.empty(Method::PUT, "/v1/users/1/deactivate").await.status,
        StatusCode::BAD_REQUEST
    );
    la.srv.shutdown().await;
}

#[tokio::test]
async fn pagination_and_filters() {
    let la = start().await;
    for i in 0..60 {
        la.sb.seed_user(SeedUser {
            email: format!("user{i:02}@acme.example"),
            first_name: format!("First{i}"),
            last_name: "Person".into(),
            integration_external_id: Some(format!("EXT-{i}")),
            deactivated: i % 10 == 0,
        });
    }
    let r = la.get("/v1/users?perPage=25&page=3").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["total"], "61");
    assert_eq!(r.headers["per-page"], "25");
    assert_eq!(r.headers["total-pages"], "3");
    assert_eq!(r.body["users"].as_array().unwrap().len(), 11);
    let r = la.get("/v1/users").await;
    assert_eq!(r.headers["per-page"], "25");
    assert_eq!(r.body["users"].as_array().unwrap().len(), 25);
    assert_eq!(r.body["users"][0]["id"], 1);
    let r = la.get("/v1/users?perPage=500").await;
    assert_eq!(r.headers["per-page"], "100");
    assert_eq!(r.body["users"].as_array().unwrap().len(), 61);
    let r = la.get("/v1/users?page=9").await;
    assert_eq!(r.body["users"], json!([]));
    assert_eq!(
        la.get("/v1/users?page=0").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        la.get("/v1/users?perPage=x").await.status,
        StatusCode::BAD_REQUEST
    );

    let r = la.get("/v1/users?filters[email]=USER07@ACME.EXAMPLE").await;
    assert_eq!(r.body["users"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["users"][0]["email"], "user07@acme.example");
    let r = la.get("/v1/users?filters[email]=user07").await;
    assert_eq!(r.body["users"], json!([]));
    let r = la
        .get("/v1/users?filters[status][]=deactivated&filters[status][]=not_invited")
        .await;
    assert_eq!(r.headers["total"], "6");
    let r = la
        .get("/v1/users?filters[status]=confirmed,deactivated")
        .await;
    assert_eq!(r.headers["total"], "61");
    let r = la.get("/v1/users?filters[first_name]=first1").await;
    assert_eq!(r.headers["total"], "11");
    assert_eq!(
        la.get("/v1/users?filters[status][]=sleeping").await.status,
        StatusCode::BAD_REQUEST
    );

    for i in 0..30 {
        la.sb.seed_team(&format!("Team {i}"), None, None);
    }
    let r = la.get("/v1/teams?perPage=7&page=5").await;
    assert_eq!(r.headers["total"], "30");
    assert_eq!(r.headers["total-pages"], "5");
    assert_eq!(r.body["teams"].as_array().unwrap().len(), 2);
    let r = la.get("/v1/teams?filters[name]=team 2").await;
    assert_eq!(r.headers["total"], "11");
    la.srv.shutdown().await;
}

#[tokio::test]
async fn teams_and_memberships() {
    let la = start().await;
    let r = la
        .form(
            Method::POST,
            "/v1/teams",
            &[
                ("name", "Engineering"),
                ("integrationExternalId", "DEPT-1"),
                ("tags", "a,b"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let team = r.body["id"].as_u64().unwrap();
    assert_eq!(r.body["integrationExternalId"], "DEPT-1");
    assert_eq!(r.body["teamUsersCount"], 0);
    assert_eq!(r.body["apiTeamPath"], format!("/v1/teams/{team}.json"));
    assert_eq!(r.body["tags"], json!(["a", "b"]));
    assert_eq!(r.body["users"], json!([]));

    let r = la
        .form(
            Method::POST,
            "/v1/teams",
            &[("name", "Dup"), ("integrationExternalId", "DEPT-1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({
            "error": "Integration external id has already been taken",
            "fullErrors": {"integrationExternalId": ["has already been taken"]}
        })
    );
    let r = la
        .form(Method::POST, "/v1/teams", &[("parentTeamId", "999")])
        .await;
    assert_eq!(
        r.body,
        json!({
            "error": "name is missing, parentTeamId must match existing teams IDs",
            "fullErrors": {"name": ["is missing"], "parentTeamId": ["must match existing teams IDs"]}
        })
    );
    let r = la
        .form(
            Method::POST,
            "/v1/teams",
            &[
                ("name", "X"),
                ("parentTeamId", "1"),
                ("parentTeamName", "Engineering"),
            ],
        )
        .await;
    assert_eq!(
        r.body,
        json!({"error": "parentTeamId, parentTeamName are mutually exclusive"})
    );
    let r = la
        .form(
            Method::POST,
            "/v1/teams",
            &[("name", "Backend"), ("parentTeamName", "engineering")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["parentTeam"]["id"].as_u64(), Some(team));
    let backend = r.body["id"].as_u64().unwrap();

    // by_external_id routes.
    let r = la.get("/v1/teams/by_external_id/DEPT-1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["subTeams"][0]["id"].as_u64(), Some(backend));
    let r = la
        .form(
            Method::PUT,
            "/v1/teams/by_external_id/DEPT-1",
            &[("name", "Eng")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["name"], "Eng");
    assert!(r.body.get("users").is_none());
    let r = la
        .form(Method::PUT, &format!("/v1/teams/{team}"), &[("name", "")])
        .await;
    assert_eq!(
        r.body,
        json!({"error": "name is empty", "fullErrors": {"name": ["is empty"]}})
    );
    let r = la
        .form(
            Method::PUT,
            &format!("/v1/teams/{team}"),
            &[("parentTeamId", &backend.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a cycle");
    assert_eq!(
        la.get("/v1/teams/by_external_id/NOPE").await.status,
        StatusCode::NOT_FOUND
    );

    // Memberships (JSON bodies).
    let u = la.create("member@acme.example", "M-1", &[]).await;
    let uid = u["id"].as_u64().unwrap();
    let r = la
        .json(
            Method::POST,
            &format!("/v1/teams/{team}/users"),
            json!({"userId": uid}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let mid = r.body["id"].as_u64().unwrap();
    assert_eq!(r.body, json!({"id": mid, "teamId": team, "userId": uid}));
    assert_eq!(la.sb.user(uid).unwrap().secondary_team_ids, vec![team]);
    // Idempotent.
    let r = la
        .json(
            Method::POST,
            &format!("/v1/teams/{team}/users"),
            json!({"userId": uid}),
        )
        .await;
    assert_eq!(r.body["id"].as_u64(), Some(mid));
    let r = la
        .json(Method::POST, &format!("/v1/teams/{team}/users"), json!({}))
        .await;
    assert_eq!(
        r.body,
        json!({"error": "userId is missing, userId is empty", "fullErrors": {"userId": ["is missing", "is empty"]}})
    );
    let r = la
        .json(
            Method::POST,
            "/v1/teams/by_external_id/DEPT-1/users",
            json!({"userId": uid, "isPrimary": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let su = la.sb.user(uid).unwrap();
    assert_eq!(su.primary_team_id, Some(team));
    assert!(su.secondary_team_ids.is_empty());

    let r = la.get(&format!("/v1/teams/{team}/users")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["total"], "1");
    assert_eq!(r.body["users"][0]["id"].as_u64(), Some(uid));
    assert_eq!(r.body["users"][0]["primaryTeam"]["id"].as_u64(), Some(team));

    // The flat route.
    let r = la
        .json(
            Method::POST,
            "/v1/teams/users",
            json!({"teamName": "backend", "userEmail": "MEMBER@acme.example"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(r.body["teamId"].as_u64(), Some(backend));
    let r = la
        .json(
            Method::POST,
            "/v1/teams/users",
            json!({"teamId": team, "teamName": "Eng", "userId": uid}),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"error": "teamId, teamName, teamIntegrationExternalId are mutually exclusive"})
    );
    let r = la
        .json(Method::POST, "/v1/teams/users", json!({"userId": uid}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = la
        .json(
            Method::POST,
            "/v1/teams/users",
            json!({"teamIntegrationExternalId": "NOPE", "userId": uid}),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"error": "teamIntegrationExternalId must match an existing team integration external ID within your company"})
    );

    // Removal.
    let r = la
        .empty(Method::DELETE, &format!("/v1/teams/{backend}/users/{uid}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = la
        .empty(Method::DELETE, &format!("/v1/teams/{backend}/users/{uid}"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, json!({"error": "Not found"}));

    // Deleting a team keeps its users.
    let r = la
        .empty(Method::DELETE, "/v1/teams/by_external_id/DEPT-1")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let su = la.sb.user(uid).unwrap();
    assert_eq!(su.primary_team_id, None);
    assert!(la.sb.team(team).is_none());
    assert_eq!(la.sb.team(backend).unwrap().parent_team_id, None);
    la.srv.shutdown().await;
}

#[tokio::test]
async fn call_counts_by_route_template() {
    let la = start().await;
    let u = la.create("count@acme.example", "C-1", &[]).await;
    let id = u["id"].as_u64().unwrap();
    la.form(
        Method::PUT,
        &format!("/v1/users/{id}"),
        &[("jobTitle", "X")],
    )
    .await;
    la.empty(Method::PUT, &format!("/v1/users/{id}/deactivate"))
        .await;
    la.get("/v1/users/by_integration_external_id/C-1").await;
    la.get("/v1/users?page=1").await;
    // Unauthorised calls count too.
    la.http.get(la.url("/v1/users")).send().await.unwrap();
    // Inspection routes don't.
    la.http.get(la.url("/_sandbox/state")).send().await.unwrap();

    let c = la.sb.calls();
    assert_eq!(c.get("POST /oauth/token"), 1);
    assert_eq!(c.get("POST /v1/users"), 1);
    assert_eq!(c.get("PUT /v1/users/{id}"), 1);
    assert_eq!(c.get("PUT /v1/users/{id}/deactivate"), 1);
    assert_eq!(c.get("GET /v1/users/by_integration_external_id/{id}"), 1);
    assert_eq!(c.get("GET /v1/users"), 2);
    assert_eq!(c.total, 7);
    assert_eq!(c.writes(), 3);

    let served: Value = la
        .http
        .get(la.url("/_sandbox/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served["total"], 7);
    assert_eq!(served["by_endpoint"]["PUT /v1/users/{id}"], 1);
    let state: Value = la
        .http
        .get(la.url("/_sandbox/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["users"].as_array().unwrap().len(), 2);
    assert_eq!(state["users"][0]["role"], "owner");
    assert_eq!(state["users"][0]["email"], "owner@sandbox.learnamp.test");

    la.sb.reset_calls();
    assert_eq!(la.sb.calls().total, 0);
    la.srv.shutdown().await;
}

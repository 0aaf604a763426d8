//! Which endpoint a request is for (method and path, `.json` suffix and URL-encoded external
//! ids accepted), the scope it needs, call counting by route template, and the dispatch of
//! `/oauth` and `/v1` requests to their handlers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::params::parse_params;
use super::responses::{bad_request, error, not_found};
use super::store::{Ref, Shared};
use crate::util::percent_decode;

#[derive(Clone, Debug)]
enum Kind {
    Token,
    UsersList,
    UserCreate,
    UserShow(Ref),
    UserUpdate(Ref),
    UserDeactivate(String),
    UserReactivate(String),
    UserDelete(String),
    TeamsList,
    TeamCreate,
    TeamShow(Ref),
    TeamUpdate(Ref),
    TeamDelete(Ref),
    TeamUsersList(Ref),
    TeamUsersAdd(Ref),
    TeamUsersAddFlat,
    TeamUserRemove(Ref, String),
}

#[derive(Clone, Debug)]
struct Route {
    kind: Kind,
    template: &'static str,
}

impl Route {
    fn scope(&self) -> Option<&'static str> {
        Some(match self.kind {
            Kind::Token => return None,
            Kind::UsersList | Kind::UserShow(_) => "users:read",
            Kind::UserCreate => "users:create",
            Kind::UserUpdate(_) => "users:update",
            Kind::UserDeactivate(_) => "users:deactivate",
            Kind::UserReactivate(_) => "users:reactivate",
            Kind::UserDelete(_) => "users:delete",
            Kind::TeamsList | Kind::TeamShow(_) => "teams:read",
            Kind::TeamCreate => "teams:create",
            Kind::TeamUpdate(_) => "teams:update",
            Kind::TeamDelete(_) => "teams:delete",
            Kind::TeamUsersList(_) => "team_users:read",
            Kind::TeamUsersAdd(_) | Kind::TeamUsersAddFlat => "team_users:create",
            Kind::TeamUserRemove(..) => "team_users:delete",
        })
    }
}

fn classify(method: &Method, path: &str) -> Option<Route> {
    let mut segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect::<Option<Vec<_>>>()?;
    if segs.len() > 1 && segs.last().is_some_and(|s| s.is_empty()) {
        segs.pop();
    }
    if let Some(last) = segs.last_mut() {
        if let Some(stripped) = last.strip_suffix(".json") {
            *last = stripped.to_string();
        }
    }
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let r = |kind: Kind, template: &'static str| Some(Route { kind, template });
    let id = |x: &str| Ref::Id(x.to_string());
    let ext = |x: &str| Ref::Ext(x.to_string());
    use Kind::*;
    match (method.as_str(), s.as_slice()) {
        ("POST", ["oauth", "token"]) => r(Token, "POST /oauth/token"),
        ("GET", ["v1", "users"]) => r(UsersList, "GET /v1/users"),
        ("POST", ["v1", "users"]) => r(UserCreate, "POST /v1/users"),
        ("GET", ["v1", "users", "by_integration_external_id", x]) => r(
            UserShow(ext(x)),
            "GET /v1/users/by_integration_external_id/{id}",
        ),
        ("PUT", ["v1", "users", "by_integration_external_id", x]) => r(
            UserUpdate(ext(x)),
            "PUT /v1/users/by_integration_external_id/{id}",
        ),
        ("GET", ["v1", "users", x]) => r(UserShow(id(x)), "GET /v1/users/{id}"),
        ("PUT", ["v1", "users", x]) => r(UserUpdate(id(x)), "PUT /v1/users/{id}"),
        ("DELETE", ["v1", "users", x]) => r(UserDelete(x.to_string()), "DELETE /v1/users/{id}"),
        ("PUT", ["v1", "users", x, "deactivate"]) => r(
            UserDeactivate(x.to_string()),
            "PUT /v1/users/{id}/deactivate",
        ),
        ("PUT", ["v1", "users", x, "reactivate"]) => r(
            UserReactivate(x.to_string()),
            "PUT /v1/users/{id}/reactivate",
        ),
        ("GET", ["v1", "teams"]) => r(TeamsList, "GET /v1/teams"),
        ("POST", ["v1", "teams"]) => r(TeamCreate, "POST /v1/teams"),
        ("POST", ["v1", "teams", "users"]) => r(TeamUsersAddFlat, "POST /v1/teams/users"),
        ("GET", ["v1", "teams", "by_external_id", x]) => {
            r(TeamShow(ext(x)), "GET /v1/teams/by_external_id/{id}")
        }
        ("PUT", ["v1", "teams", "by_external_id", x]) => {
            r(TeamUpdate(ext(x)), "PUT /v1/teams/by_external_id/{id}")
        }
        ("DELETE", ["v1", "teams", "by_external_id", x]) => {
            r(TeamDelete(ext(x)), "DELETE /v1/teams/by_external_id/{id}")
        }
        ("GET", ["v1", "teams", "by_external_id", x, "users"]) => r(
            TeamUsersList(ext(x)),
            "GET /v1/teams/by_external_id/{id}/users",
        ),
        ("POST", ["v1", "teams", "by_external_id", x, "users"]) => r(
            TeamUsersAdd(ext(x)),
            "POST /v1/teams/by_external_id/{id}/users",
        ),
        ("DELETE", ["v1", "teams", "by_external_id", x, "users", u]) => r(
            TeamUserRemove(ext(x), u.to_string()),
            "DELETE /v1/teams/by_external_id/{id}/users/{user_id}",
        ),
        ("GET", ["v1", "teams", x]) => r(TeamShow(id(x)), "GET /v1/teams/{id}"),
        ("PUT", ["v1", "teams", x]) => r(TeamUpdate(id(x)), "PUT /v1/teams/{id}"),
        ("DELETE", ["v1", "teams", x]) => r(TeamDelete(id(x)), "DELETE /v1/teams/{id}"),
        ("GET", ["v1", "teams", x, "users"]) => r(TeamUsersList(id(x)), "GET /v1/teams/{id}/users"),
        ("POST", ["v1", "teams", x, "users"]) => {
            r(TeamUsersAdd(id(x)), "POST /v1/teams/{id}/users")
        }
        ("DELETE", ["v1", "teams", x, "users", u]) => r(
            TeamUserRemove(id(x), u.to_string()),
            "DELETE /v1/teams/{id}/users/{user_id}",
        ),
        _ => None,
    }
}

pub(super) async fn count_calls(
    State(sh): State<Arc<Shared>>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/v1") || path.starts_with("/oauth") {
        let route = classify(req.method(), &path);
        let key = match &route {
            Some(r) => r.template.to_string(),
            None => format!("{} {}", req.method(), path),
        };
        {
            let mut c = sh.calls.lock().unwrap_or_else(|e| e.into_inner());
            *c.by_endpoint.entry(key).or_insert(0) += 1;
            c.total += 1;
        }
        if let Some(r) = route {
            req.extensions_mut().insert(r);
        }
    }
    next.run(req).await
}

pub(super) async fn api(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Some(route) = parts
        .extensions
        .get::<Route>()
        .cloned()
        .or_else(|| classify(&parts.method, parts.uri.path()))
    else {
        return not_found();
    };
    {
        let mut c = sh.calls.lock().unwrap_or_else(|e| e.into_inner());
        *c.served_by_endpoint
            .entry(route.template.to_string())
            .or_insert(0) += 1;
    }
    let bytes = match axum::body::to_bytes(body, 32 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return bad_request("The request body could not be read"),
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if let Kind::Token = route.kind {
        return sh.token(&parts.headers, content_type, &bytes, parts.uri.query());
    }
    let scopes = match sh.authenticate(&parts.headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(needed) = route.scope() {
        if !scopes.iter().any(|s| s == "public" || s == needed) {
            return error(
                StatusCode::FORBIDDEN,
                &format!("Access to this resource requires scope \"{needed}\"."),
            );
        }
    }
    let params = match parse_params(content_type, &bytes, parts.uri.query()) {
        Ok(p) => p,
        Err(m) => return bad_request(&m),
    };
    let mut d = sh.data.lock().unwrap_or_else(|e| e.into_inner());
    let result = match &route.kind {
        Kind::Token => unreachable!("handled above"),
        Kind::UsersList => d.list_users(&params),
        Kind::UserCreate => d.create_user(&params),
        Kind::UserShow(r) => d.show_user(r),
        Kind::UserUpdate(r) => d.update_user(r, &params),
        Kind::UserDeactivate(id) => d.deactivate_route(id),
        Kind::UserReactivate(id) => d.reactivate_route(id),
        Kind::UserDelete(id) => d.delete_user_route(id),
        Kind::TeamsList => d.list_teams(&params),
        Kind::TeamCreate => d.create_team(&params),
        Kind::TeamShow(r) => d.show_team(r),
        Kind::TeamUpdate(r) => d.update_team(r, &params),
        Kind::TeamDelete(r) => d.delete_team_route(r),
        Kind::TeamUsersList(r) => d.list_team_users(r, &params),
        Kind::TeamUsersAdd(r) => d.add_team_user(r, &params),
        Kind::TeamUsersAddFlat => d.add_team_user_flat(&params),
        Kind::TeamUserRemove(r, u) => d.remove_team_user(r, u),
    };
    result.unwrap_or_else(|e| e)
}

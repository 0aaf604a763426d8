//! A simulator of Learn Amp's public API (token at `/oauth/token`, resources under `/v1`), as
//! documented in `learnamp-api-docs` (authentication, users, teams, team users, pagination,
//! errors) and the research notes (deactivation side effects from Learn Amp's knowledge base).
//!
//! # What it enforces
//!
//! * `POST /oauth/token` (OAuth2 client credentials, Doorkeeper-style): the body may be
//!   `application/x-www-form-urlencoded`, `multipart/form-data` (curl `--form`) or JSON; the
//!   client may also authenticate with HTTP Basic. A missing `grant_type` → 400
//!   `invalid_request`, another grant type → 400 `unsupported_grant_type`, bad or missing
//!   credentials → 401 `invalid_client`, an unknown scope → 400 `invalid_scope`. The response is
//!   `{"access_token","token_type":"Bearer","expires_in","scope","created_at"}`, `scope` being
//!   the requested scopes or `public`.
//! * Every `/v1` call needs `Authorization: Bearer <token>` of an unexpired token, else 401
//!   `{"error":"The access token is invalid"}` / `{"error":"The access token expired"}` (with a
//!   `WWW-Authenticate` header).
//! * Scopes: a token with `public` (the default) has full access (the sandbox's credentials are
//!   "legacy" ones). A token requested with granular scopes only may call only the endpoints whose
//!   documented scope it has, else 403 `{"error":"Access to this resource requires scope \"...\"."}`.
//! * Users, teams and team membership routes and their validations as documented: Grape-style
//!   400 bodies (`{"error":"email is missing, ...","fullErrors":{...}}`), "are mutually
//!   exclusive" pairs, unknown team external ids, unknown/inactive managers, duplicate
//!   `integrationExternalId` ("Validation failed: ..."), unknown custom field → 404, unknown
//!   `occupationRole` → 422, 404 `{"error":"Not found"}`.
//! * Pagination (`page`, `perPage`) with the `Total`, `Per-Page`, `Total-Pages` headers on every
//!   list; paths also accept a `.json` suffix; external ids in paths are URL-decoded.
//! * Deactivation (API or [`LearnAmpSandbox::admin_deactivate_user`]) follows the knowledge
//!   base: the user leaves all teams (primary and secondary), users whose override manager it
//!   was get the account owner as manager, teams it managed get the owner as manager (and it is
//!   dropped from secondary managers). The owner (id 1, role `owner`,
//!   `owner@sandbox.learnamp.test`, confirmed) is seeded at start.
//!
//! # Choices where the docs are silent
//!
//! * **Email** is unique in the company, case-insensitively (deactivated users included):
//!   a duplicate on create, or an update that changes the email to a taken one → 400
//!   `{"error":"Validation failed: Email has already been taken","fullErrors":{"email":["has already been taken"]}}`.
//!   Emails are stored as sent; `filters[email]` is an exact, case-insensitive match. An email
//!   without `local@domain.tld` shape → 400 "Validation failed: Email is invalid".
//! * **Updates are partial**: only the fields sent change. An empty value clears optional
//!   fields (`integrationExternalId`, `jobTitle`, `hireDate`, `location`, `department`,
//!   `primaryTeamId`, `managerId`, ...); an empty `email`/`firstName`/`lastName` → "is empty".
//!   Setting the primary team never touches secondary teams (the old primary membership is
//!   replaced, not demoted); a team never appears as both primary and secondary.
//!   `secondaryTeamIds` replaces the secondary teams (`secondaryTeamIds[]=` with an empty value
//!   clears them). An update of a deactivated user without `reactivate=true` is applied and the
//!   user stays deactivated. `skipInvitation` is ignored on update.
//! * **Statuses**: create sends an invitation (`invite_pending`, `invitations_sent += 1`) unless
//!   `skipInvitation=true` (`not_invited`). Reactivation restores the status the user had before
//!   deactivation (`confirmed`, `invite_pending` or `not_invited`; seeded deactivated users count
//!   as `confirmed`) and sends nothing. The JSON `status` is the documented display object:
//!   `Confirmed`/`Deactivated` with `"On 29 Nov 16"`, `Invite pending` with `"Sent 25 Sep 19"`,
//!   `Not invited` with `time: null`.
//! * A manager (`managerId`/`managerEmail`) must be an existing, non-deactivated user other than
//!   the user itself; an unknown `managerId` → 400
//!   `{"error":"managerId must match an existing active user within your company"}`.
//! * The account owner cannot be deactivated or deleted (400).
//! * Deleting a user removes its memberships and clears it as manager of users and teams.
//! * `perPage` defaults to 25 and is capped at 100; `page` starts at 1; a non-integer or
//!   non-positive value → 400. `Total-Pages` is 0 for an empty list. Lists are ordered by id.
//! * `filters[name]` on teams is a case-insensitive substring match (like the users' name
//!   filters). Team names need not be unique; `teamName`/`parentTeamName` pick the lowest id
//!   among case-insensitive exact matches.
//! * `PUT /v1/teams/...` is partial (`name`, `integrationExternalId`, `managerId`,
//!   `parentTeamId`, `tags`, `response`); other team fields are ignored on update. A parent that
//!   would create a cycle → 400.
//! * Team membership: adding an existing member is idempotent (201 with the same membership
//!   id); `isPrimary: true` makes the team the user's primary team. Unknown users/teams → 404,
//!   except an unknown `teamIntegrationExternalId` on `POST /v1/teams/users` (400, documented).
//!   Bulk add is not simulated.
//! * The user JSON: `manager` is the override manager only (`null` if none); `customFields` (in
//!   expanded/show responses) is `[{"name","value"}]`; `occupationRole` is `null` (the sandbox
//!   company defines no occupation roles, so setting one → 422); `timeZone` is `"London"`.
//! * Request bodies may be form-encoded, multipart or JSON, on every route; query parameters are
//!   merged in (the body wins). `customFields` follows Rack's array-of-hashes rules
//!   (`customFields[][name]=..&customFields[][value]=..`).
//! * Every request to `/v1/*` or `/oauth/*` is counted in [`CallCounts`] under its route template
//!   (e.g. `PUT /v1/users/{id}`), before faults are injected, so faulted and unauthorised
//!   requests count too; unmatched paths are counted under `"METHOD <path>"`.

// Handlers return the error `Response` itself as the `Err` of their `Result`s.
#![allow(clippy::result_large_err)]

// Layers, each using only those listed before it: `model` (the public data types), `responses`
// (error bodies, pagination headers), `params` (request parameters and their validation),
// `store` (the in-memory company and its side effects), `render` (the JSON shapes), `oauth`
// (tokens and scopes), `users`, `teams` and `team_users` (the routes' handlers), `routing` (which
// endpoint a request is for, counting, dispatch), `control` (the handle, the `/_sandbox/*`
// endpoints and the server).
mod control;
mod model;
mod oauth;
mod params;
mod render;
mod responses;
mod routing;
mod store;
mod team_users;
mod teams;
mod users;

pub use control::LearnAmpSandbox;
pub use model::{
    CallCounts, LearnAmpSnapshot, SandboxTeam, SandboxUser, SeedUser, UserShape, OWNER_EMAIL,
    OWNER_ID,
};

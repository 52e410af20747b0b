//! Organization (admin) REST API, as Atlassian publishes it (`tests/openapi/atlassian-admin.json`,
//! checked on every request by [`check_request`]): directory users (v2 search and the deprecated
//! listing), user and group role assignments (v2), last-active dates (v1), group search and
//! details (v2), group membership writes (v2), directories (v2), the audit-log events (v1
//! events, events stream, event actions) and the org listing (v1 `GET /orgs`: the sandbox's one
//! org), with Bearer API-key auth and the error bodies and codes the spec documents per
//! operation ([`Family`]).
//!
//! Choices where the spec says nothing (see `docs/sandbox.md`):
//! - Membership add and remove answer **204** with no body. Adding an existing member is the
//!   documented **409**, code `ADMIN-UAM-409-2` (Resource Conflicts); removing a non-member is
//!   an idempotent no-op that answers 204 (the spec says nothing). Both are counted as
//!   duplicate writes in `/__sandbox/stats`, no event recorded.
//! - Cursors are opaque strings that only mark a position: resend the same filters with them.
//! - The directory holds only `atlassian` accounts (the spec's `AccountType`): apps and JSM
//!   portal customers are not in it.
//! - `productAccess` lists the products a user holds (grant-group membership), keyed by the
//!   snapshot product keys (`jira-software`, `confluence`, ...), with `lastActiveTimestamp`
//!   when known. `last-active-dates` lists every product with recorded activity whose key the
//!   spec's enum knows.
//! - An org without Atlassian Guard ([`Org::guard`] false) answers the events API with **403**.
//! - `GET /v1/orgs` lists the one org the sandbox serves, named after its site's first label
//!   (`acme` for `acme.atlassian.net`); its links point where Atlassian's do (`/v1/orgs/{id}`,
//!   `.../domains`, `.../users`), operations the sandbox does not serve.

// Handlers bail out with a ready `Response` as their error; the size is irrelevant there.
#![allow(clippy::result_large_err)]

use super::model::{Org, WriteError, WriteOutcome};
use super::server::{enc, is_json, json_bytes, json_value, same_secret, App, Params};
use crate::atlassian::wire::{self, AccountIdBody};
use crate::live::{AccountStatus, AccountType, EventAction, User};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Which error vocabulary a path's operations publish in the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// The v2 user-access-management operations: `Errors` bodies, `ADMIN-UAM-*` codes (the
    /// list the spec keeps as `ApiError`).
    V2,
    /// v1 last-active dates: `ApplicationError` codes; a 429 is a `ProxyError`.
    LastActive,
    /// v1 events, events stream and event actions: `ApplicationError` codes; 401 and 429 are
    /// `ProxyError`s.
    Events,
    /// v1 org listing (`GET /v1/orgs`): its only documented 400 is `Error.InvalidPageCursor`
    /// (`ADMIN-400-1`); 401 and 429 are `ProxyError`s.
    Orgs,
}

impl Family {
    /// The family of a request path (`/admin/...`).
    pub fn of(path: &str) -> Family {
        if !path.starts_with("/admin/v1/") {
            Family::V2
        } else if path.trim_end_matches('/') == "/admin/v1/orgs" {
            Family::Orgs
        } else if path.ends_with("/last-active-dates") {
            Family::LastActive
        } else {
            Family::Events
        }
    }

    /// The documented code and title for an error status without a more specific code.
    fn code(self, status: StatusCode) -> (&'static str, &'static str) {
        let v2 = self == Family::V2;
        match status.as_u16() {
            400 if v2 => ("ADMIN-UAM-400-1", "Bad Request"),
            400 if self == Family::LastActive => ("ADMIN-400-4", "Invalid resource"),
            400 if self == Family::Orgs => ("ADMIN-400-1", "Invalid page cursor"),
            400 => ("ADMIN-400-19", "Invalid request syntax"),
            401 if v2 => ("ADMIN-UAM-401-1", "Unauthenticated"),
            401 => ("ADMIN-401-2", "Unauthorized"),
            403 if v2 => ("ADMIN-UAM-403-1", "Forbidden"),
            403 => ("ADMIN-403-3", "Not allowed to manage the org"),
            404 if v2 => ("ADMIN-UAM-404-1", "Unknown Resource"),
            404 => ("ADMIN-404-1", "Unknown resource"),
            405 if v2 => ("ADMIN-UAM-405-1", "Method Not Supported"),
            405 => ("ADMIN-405-1", "Method not supported"),
            409 if v2 => ("ADMIN-UAM-409-2", "Resource Conflicts"),
            409 => ("ADMIN-409-28", "Conflict"),
            415 if v2 => ("ADMIN-UAM-415-1", "Unsupported Media Type"),
            415 => ("ADMIN-400-24", "Invalid request body"),
            429 => ("ADMIN-429-1", "Rate limit exceeded"),
            _ if v2 => ("ADMIN-UAM-500-1", "Internal Error"),
            _ => ("ADMIN-500-1", "Internal error"),
        }
    }

    /// Whether the spec gives this status a `ProxyError` body (`{code: number, message}`).
    fn proxy_error(self, status: StatusCode) -> bool {
        match self {
            Family::V2 => false,
            Family::LastActive => status == StatusCode::TOO_MANY_REQUESTS,
            Family::Events | Family::Orgs => {
                status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::UNAUTHORIZED
            }
        }
    }
}

/// An admin API error body with a specific code: `{"errors": [{id, status, code, title,
/// detail}]}` (the spec's `Errors`, `Errors.ApplicationErrors.Model` and the events' error
/// models all have this shape).
pub fn error(app: &App, status: StatusCode, code: &str, title: &str, detail: &str) -> Response {
    json_value(
        status,
        &json!({ "errors": [ {
            "id": app.error_id(),
            "status": status.as_u16().to_string(),
            "code": code,
            "title": title,
            "detail": detail,
        } ] }),
    )
}

/// The error the spec documents for `status` on `path`, with the family's code, or a
/// `ProxyError` (`{"code": 429, "message": ...}`) where the spec gives one.
pub fn status_error(app: &App, path: &str, status: StatusCode, detail: &str) -> Response {
    let family = Family::of(path);
    if family.proxy_error(status) {
        return json_value(
            status,
            &json!({ "code": status.as_u16(), "message": detail }),
        );
    }
    let (code, title) = family.code(status);
    error(app, status, code, title, detail)
}

macro_rules! try_resp {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(resp) => return resp,
        }
    };
}

/// A 400 of the v2 operations.
fn bad(app: &App, detail: &str) -> Response {
    bad_in(app, Family::V2, detail)
}

fn bad_in(app: &App, fam: Family, detail: &str) -> Response {
    let (code, title) = fam.code(StatusCode::BAD_REQUEST);
    error(app, StatusCode::BAD_REQUEST, code, title, detail)
}

fn unsupported(app: &App) -> Response {
    let (code, title) = Family::V2.code(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    error(
        app,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code,
        title,
        "Send the request body as application/json.",
    )
}

/// Whether the request carries the admin API key as a Bearer token.
pub fn authenticated(app: &App, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, key)) = value.trim().split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && same_secret(key.trim(), &app.config.credentials.admin_api_key)
}

fn authenticate(app: &App, headers: &HeaderMap, fam: Family) -> Result<(), Response> {
    if authenticated(app, headers) {
        return Ok(());
    }
    let detail =
        "The API key is missing, invalid or expired. Send `Authorization: Bearer <API key>`.";
    if fam.proxy_error(StatusCode::UNAUTHORIZED) {
        return Err(json_value(
            StatusCode::UNAUTHORIZED,
            &json!({ "code": 401, "message": detail }),
        ));
    }
    let (code, title) = fam.code(StatusCode::UNAUTHORIZED);
    Err(error(app, StatusCode::UNAUTHORIZED, code, title, detail))
}

fn check_org(app: &App, org: &Org, org_id: &str, fam: Family) -> Result<(), Response> {
    if org_id == org.org_id {
        return Ok(());
    }
    let code = if fam == Family::V2 {
        "ADMIN-UAM-404-2"
    } else {
        "ADMIN-404-2"
    };
    Err(error(
        app,
        StatusCode::NOT_FOUND,
        code,
        "Organization not found",
        &format!("No organization with id '{org_id}' is accessible with this API key."),
    ))
}

/// The directory a path names: `None` for `-` (every directory), its index otherwise; an
/// unknown directory is a 404.
fn check_directory(app: &App, org: &Org, directory_id: &str) -> Result<Option<u16>, Response> {
    if directory_id == "-" {
        return Ok(None);
    }
    match org.directory_index(directory_id) {
        Some(d) => Ok(Some(d)),
        None => Err(error(
            app,
            StatusCode::NOT_FOUND,
            "ADMIN-UAM-404-1",
            "Unknown Resource",
            &format!("No directory with id '{directory_id}' in this organization."),
        )),
    }
}

/// The id of directory `d`.
fn dir_id(org: &Org, d: u16) -> &str {
    org.directories
        .get(usize::from(d))
        .map_or(org.directory_id.as_str(), |rec| rec.id.as_str())
}

fn path_error(app: &App, fam: Family) -> Response {
    bad_in(app, fam, "The request path could not be decoded.")
}

/// Checks an `/admin/...` request against the operation the spec publishes for it (path and
/// query parameters, JSON body; see [`super::spec`]) before its handler runs. Unauthenticated requests and paths the spec does not
/// publish pass through untouched: the handler or the router answers them (401, 404, 405).
/// A violation is a 400 in the operation's error vocabulary whose detail names the field.
pub async fn check_request(
    app: &App,
    req: axum::extract::Request,
) -> Result<axum::extract::Request, Response> {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/admin") else {
        return Ok(req);
    };
    let Some((op, params)) = super::spec::operation(req.method().as_str(), rest) else {
        return Ok(req);
    };
    if !authenticated(app, req.headers()) {
        return Ok(req);
    }
    let query = Params::from_uri(req.uri()).0;
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return Err(bad_in(
            app,
            Family::of(&path),
            "The request body could not be read (at most 1 MiB).",
        ));
    };
    let json: Option<Value> = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice(&bytes).ok()
    };
    let malformed = json.is_none() && !bytes.iter().all(u8::is_ascii_whitespace);
    if !malformed {
        if let Err(v) = op.check(&params, &query, json.as_ref()) {
            app.stats.spec_violations.fetch_add(1, Ordering::Relaxed);
            return Err(bad_in(app, Family::of(&path), &v.detail));
        }
    }
    Ok(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
}

/// Whether an account is in the org's directory: the spec's `AccountType` is `atlassian` only,
/// so apps and JSM portal customers are not.
fn in_directory(u: &User) -> bool {
    u.account_type == AccountType::Atlassian
}

/// The key the users search's `productAccess` gives a product: `jira` for every Jira product
/// (the spec keys product access by product family and site), else the product key.
pub fn access_key(key: &str) -> &str {
    if key.starts_with("jira-") {
        "jira"
    } else {
        key
    }
}

/// The key v1 `last-active-dates` gives a product (`UserProductLastActive.key`, an enum that
/// spells Jira Service Management `jira-service-desk`); `None` for products the enum lacks
/// (Jira Product Discovery, Compass), whose activity that endpoint does not report.
pub fn last_active_key(key: &str) -> Option<&'static str> {
    const KEYS: &[&str] = &[
        "jira-software",
        "jira-service-desk",
        "jira-core",
        "jira-ops",
        "stride",
        "hipchat",
        "confluence",
        "bitbucket",
        "trello",
        "opsgenie",
        "statuspage",
    ];
    let key = match key {
        "jira-servicedesk" | "jira-servicemanagement" | "jira-service-management" => {
            "jira-service-desk"
        }
        k => k,
    };
    KEYS.iter().copied().find(|k| *k == key)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn statuses(u: &User) -> (&'static str, &'static str, &'static str) {
    match u.status {
        AccountStatus::Active => ("active", "active", "active"),
        AccountStatus::Suspended => ("suspended", "active", "suspended"),
        AccountStatus::Deactivated => ("deactivated", "inactive", "active"),
        AccountStatus::Closed => ("deactivated", "closed", "active"),
    }
}

/// The cloud id of the site product `key` is on (the org's site for keys it has no product for).
fn cloud_of<'a>(org: &'a Org, key: &str) -> &'a str {
    org.products
        .iter()
        .find(|p| p.key == key)
        .map_or(org.cloud_id.as_str(), |p| p.cloud_id.as_str())
}

fn product_ari(org: &Org, key: &str) -> String {
    format!("ari:cloud:{key}::site/{}", cloud_of(org, key))
}

/// One `MultiDirectoryUser`, with the expansions asked for.
fn directory_user(
    app: &App,
    org: &Org,
    u: u32,
    product_access: bool,
    groups: bool,
) -> wire::AdminUser {
    let user = org.user(u);
    let (status, account_status, membership_status) = statuses(user);
    // The expansion shows group ids as ARIs, as the spec's example does (group search and
    // group details show them bare).
    let groups = groups.then(|| {
        org.groups_by_name_order
            .iter()
            .filter(|&&g| org.is_member(g, u))
            .map(|&g| wire::AdminGroupRef {
                id: format!("{GROUP_ARI_PREFIX}{}", org.group(g).id),
                name: Some(org.group(g).name.clone()),
            })
            .collect()
    });
    let product_access = product_access.then(|| {
        // One entry per product and site, keyed as the spec keys them: `jira` for every Jira
        // product of a site (its time the latest on any of them), else the product key.
        let mut out: Vec<wire::ProductAccess> = Vec::new();
        let mut done: Vec<(&str, &str)> = Vec::new();
        for (p, product) in org.products.iter().enumerate() {
            if !org.holds(p as u32, u) {
                continue;
            }
            let key = access_key(&product.key);
            let cloud = product.cloud_id.as_str();
            if done.contains(&(key, cloud)) {
                continue;
            }
            done.push((key, cloud));
            let at = if key == "jira" {
                let jira_here: Vec<&str> = org
                    .products
                    .iter()
                    .filter(|q| access_key(&q.key) == "jira" && q.cloud_id == cloud)
                    .map(|q| q.key.as_str())
                    .collect();
                user.last_active
                    .iter()
                    .filter(|(k, _)| jira_here.contains(&k.as_str()))
                    .map(|(_, t)| *t)
                    .max()
            } else {
                user.last_active.get(&product.key).copied()
            };
            out.push(wire::ProductAccess {
                id: Some(format!("ari:cloud:{key}::site/{cloud}")),
                key: key.to_string(),
                last_active_timestamp: at.map(ts),
                last_active_timestamp_snake: None,
            });
        }
        out
    });
    let links = wire::SelfLink {
        self_url: Some(format!(
            "{}/admin/v2/orgs/{}/directories/{}/users/{}",
            app.base_url,
            org.org_id,
            dir_id(org, org.user_directory(u)),
            enc(&user.account_id)
        )),
    };
    wire::AdminUser {
        account_id: user.account_id.clone(),
        account_status: Some(account_status.to_string()),
        account_type: Some(user.account_type.as_str().to_string()),
        added_to_org: user.added_to_org.map(ts),
        email: user.email.clone(),
        email_verified: user.email.is_some(),
        groups,
        links: Some(links),
        membership_status: Some(membership_status.to_string()),
        mfa_enabled: Some(false),
        name: Some(user.name.clone()),
        nickname: Some(nickname(user).to_string()),
        product_access,
        status: Some(status.to_string()),
    }
}

/// A page of the admin API as JSON.
fn page_json<T: serde::Serialize>(page: &wire::AdminPage<T>) -> Response {
    match serde_json::to_vec(page) {
        Ok(bytes) => json_bytes(StatusCode::OK, bytes),
        Err(e) => json_value(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({ "error": e.to_string() }),
        ),
    }
}

const GROUP_CURSOR_PREFIX: &str = "g-";
const USER_CURSOR_PREFIX: &str = "sbxu1.";

fn encode_cursor(prefix: &str, n: u64) -> String {
    format!("{prefix}{:x}", n ^ 0x5eed_cafe)
}

fn decode_cursor(prefix: &str, cursor: &str) -> Option<u64> {
    let hex = cursor.strip_prefix(prefix)?;
    u64::from_str_radix(hex, 16).ok().map(|n| n ^ 0x5eed_cafe)
}

/// The body of a search request (an empty body is `{}`), in the client's request type, which
/// refuses fields other than the operation's, as the admin API does.
fn search_body<T: serde::de::DeserializeOwned>(
    app: &App,
    headers: &HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<T, Response> {
    let Ok(body) = body else {
        return Err(bad(app, "The request body could not be read."));
    };
    let empty = body.iter().all(u8::is_ascii_whitespace);
    if !empty && !is_json(headers) {
        return Err(unsupported(app));
    }
    let parsed = if empty {
        serde_json::from_str("{}")
    } else {
        serde_json::from_slice(&body)
    };
    parsed.map_err(|e| bad(app, &format!("Malformed or unknown request body: {e}")))
}

/// A listing's `limit`: 1 to 100, `default` when absent.
fn page_limit(app: &App, limit: Option<u64>, default: usize) -> Result<usize, Response> {
    match limit {
        None => Ok(default),
        Some(n @ 1..=100) => Ok(n as usize),
        Some(_) => Err(bad(app, "`limit` must be a whole number from 1 to 100.")),
    }
}

/// Where a search request's `cursor` starts (0 without one).
fn page_start(app: &App, cursor: Option<&str>, prefix: &str) -> Result<usize, Response> {
    match cursor {
        None => Ok(0),
        Some(c) => decode_cursor(prefix, c)
            .map(|n| n as usize)
            .ok_or_else(|| bad(app, "Invalid cursor.")),
    }
}

/// The group a path or filter names, by bare id or by its ARI form
/// (`ari:cloud:identity::group/<id>`): the spec shows group ids both ways.
pub fn group_by_any_id(org: &Org, id: &str) -> Option<u32> {
    org.group_index(id).or_else(|| {
        id.strip_prefix(GROUP_ARI_PREFIX)
            .and_then(|bare| org.group_index(bare))
    })
}

/// The prefix of a group's ARI.
pub const GROUP_ARI_PREFIX: &str = "ari:cloud:identity::group/";

/// `POST /admin/v2/orgs/{orgId}/directories/{directoryId}/users/search`.
pub async fn users_search(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers, Family::V2));
    let Ok(Path((org_id, directory_id))) = path else {
        return path_error(&app, Family::V2);
    };
    let req = try_resp!(search_body(&app, &headers, body));
    users_page(&app, &org_id, &directory_id, req, 50)
}

/// `GET /admin/v2/orgs/{orgId}/directories/{directoryId}/users` (deprecated upstream): the
/// search's filters as query parameters (arrays as repeated keys), `limit` default 20, no
/// expansions.
pub async fn users_list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers, Family::V2));
    let Ok(Path((org_id, directory_id))) = path else {
        return path_error(&app, Family::V2);
    };
    let params = Params::from_uri(&uri);
    let mut obj = serde_json::Map::new();
    for (k, v) in &params.0 {
        let value = match k.as_str() {
            "limit" => match v.parse::<u64>() {
                Ok(n) => json!(n),
                Err(_) => return bad(&app, "`limit` must be a whole number from 1 to 100."),
            },
            "mfaEnabled" => json!(v == "true"),
            "cursor" | "claimStatus" | "searchTerm" => json!(v),
            "emails" | "expand" | "sortBy" => {
                return bad(
                    &app,
                    &format!("`{k}` is not a parameter of this operation."),
                )
            }
            _ => {
                if let Some(Value::Array(items)) = obj.get_mut(k) {
                    items.push(json!(v));
                    continue;
                }
                json!([v])
            }
        };
        obj.insert(k.clone(), value);
    }
    match serde_json::from_value(Value::Object(obj)) {
        Ok(req) => users_page(&app, &org_id, &directory_id, req, 20),
        Err(e) => bad(&app, &format!("Unknown or malformed query parameter: {e}")),
    }
}

/// One page of directory users matching the search request.
fn users_page(
    app: &App,
    org_id: &str,
    directory_id: &str,
    req: wire::UserSearchRequest,
    default_limit: usize,
) -> Response {
    let app = &app;
    let wire::UserSearchRequest {
        account_ids,
        emails,
        status,
        account_status,
        membership_status,
        group_ids,
        email_domains: domains,
        directory_ids,
        expand,
        resource_ids,
        role_ids,
        ..
    } = req.clone();
    let limit = try_resp!(page_limit(app, req.limit, default_limit));
    let search_term = req.search_term.map(|s| s.to_lowercase());
    if search_term.is_some() && emails.is_some() {
        return bad(app, "`emails` and `searchTerm` cannot be used together.");
    }
    // Nobody in the sandbox has two-step verification; every account is unmanaged.
    let nobody = req.mfa_enabled == Some(true) || req.claim_status.as_deref() == Some("managed");
    let sort_desc = req
        .sort_by
        .as_ref()
        .map(|s| s.first().and_then(|s| s.direction.as_deref()) == Some("desc"));
    let expand = expand.unwrap_or_default();
    for e in &expand {
        if !matches!(
            e.as_str(),
            "productAccess" | "groups" | "platformRoles" | "counts.resources"
        ) {
            return bad(app, &format!("Unknown expand value `{e}` (productAccess, groups, platformRoles, counts.resources)."));
        }
    }
    let start = try_resp!(page_start(app, req.cursor.as_deref(), USER_CURSOR_PREFIX));
    let org = app.org();
    try_resp!(check_org(app, &org, org_id, Family::V2));
    let in_dir = try_resp!(check_directory(app, &org, directory_id));
    let dir_filter: Option<Vec<u16>> =
        match &directory_ids {
            None => None,
            Some(ids) => {
                let mut out = Vec::new();
                for id in ids {
                    match org.directory_index(id) {
                        Some(d) => out.push(d),
                        None => return bad(
                            app,
                            "`directoryIds` names a directory that is not in this organization.",
                        ),
                    }
                }
                Some(out)
            }
        };
    let group_filter: Option<Vec<u32>> = match &group_ids {
        None => None,
        Some(ids) => {
            let mut out = Vec::new();
            for id in ids {
                match group_by_any_id(&org, id) {
                    Some(g) => out.push(g),
                    None => {
                        return error(
                            app,
                            StatusCode::NOT_FOUND,
                            "ADMIN-UAM-404-3",
                            "Group Not Found",
                            &format!("Group '{id}' does not exist."),
                        )
                    }
                }
            }
            Some(out)
        }
    };
    // Products named by `resourceIds` (site ARIs of products).
    let product_filter: Option<Vec<u32>> = resource_ids.as_ref().map(|ids| {
        (0..org.products.len() as u32)
            .filter(|&p| ids.contains(&product_ari(&org, &org.products[p as usize].key)))
            .collect()
    });
    // Holding a product is the `atlassian/user` role on it; the sandbox models no other role.
    let role_user = role_ids
        .as_ref()
        .map(|r| r.iter().any(|x| x == "atlassian/user"));
    let emails: Option<Vec<String>> = emails.map(|e| e.iter().map(|x| x.to_lowercase()).collect());
    let domains: Option<Vec<String>> =
        domains.map(|e| e.iter().map(|x| x.to_lowercase()).collect());
    let holds_any = |u: u32, products: &[u32]| products.iter().any(|&p| org.holds(p, u));
    let all_products: Vec<u32> = (0..org.products.len() as u32).collect();
    let matches = |u: u32| -> bool {
        let user = org.user(u);
        if !in_directory(user) || nobody {
            return false;
        }
        let d = org.user_directory(u);
        if in_dir.is_some_and(|x| x != d) || dir_filter.as_ref().is_some_and(|ds| !ds.contains(&d))
        {
            return false;
        }
        let (st, ast, mst) = statuses(user);
        let email = if emails.is_some() || domains.is_some() || search_term.is_some() {
            user.email.as_deref().unwrap_or("").to_lowercase()
        } else {
            String::new()
        };
        account_ids
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|i| i == &user.account_id))
            && emails.as_ref().is_none_or(|es| es.contains(&email))
            && domains
                .as_ref()
                .is_none_or(|ds| ds.iter().any(|d| email.ends_with(&format!("@{d}"))))
            && status.as_ref().is_none_or(|s| s.iter().any(|x| x == st))
            && account_status
                .as_ref()
                .is_none_or(|s| s.iter().any(|x| x == ast))
            && membership_status
                .as_ref()
                .is_none_or(|s| s.iter().any(|x| x == mst))
            && group_filter
                .as_ref()
                .is_none_or(|gs| gs.iter().any(|&g| org.is_member(g, u)))
            && product_filter.as_ref().is_none_or(|ps| holds_any(u, ps))
            && role_user.is_none_or(|want| want && holds_any(u, &all_products))
            && search_term.as_ref().is_none_or(|t| {
                user.name.to_lowercase().contains(t.as_str()) || email.contains(t.as_str())
            })
    };
    let want_products = expand.iter().any(|e| e == "productAccess");
    let want_groups = expand.iter().any(|e| e == "groups");
    let mut next = None;
    // The users of the page, in order.
    let mut page: Vec<u32> = Vec::with_capacity(limit);
    match sort_desc {
        None => {
            // Seed order; the cursor is the index of the next user to look at.
            let n = org.users.len();
            let mut u = start;
            while u < n {
                if matches(u as u32) {
                    if page.len() == limit {
                        next = Some(u);
                        break;
                    }
                    page.push(u as u32);
                }
                u += 1;
            }
        }
        Some(desc) => {
            // By nickname; the cursor is the position in that order (from its end when
            // descending) of the next user to look at.
            let order = org.nick_order();
            let n = order.len();
            let mut i = start;
            while i < n {
                let u = if desc { order[n - 1 - i] } else { order[i] };
                if matches(u) {
                    if page.len() == limit {
                        next = Some(i);
                        break;
                    }
                    page.push(u);
                }
                i += 1;
            }
        }
    }
    let data = page
        .iter()
        .map(|&u| directory_user(app, &org, u, want_products, want_groups))
        .collect();
    drop(org);
    page_json(&wire::AdminPage {
        data,
        links: wire::Links {
            self_url: Some(encode_cursor(USER_CURSOR_PREFIX, start as u64)),
            next: next.map(|nx| encode_cursor(USER_CURSOR_PREFIX, nx as u64)),
        },
        meta: wire::Meta::default(),
    })
}

/// The nickname the directory shows: the first word of the name.
fn nickname(u: &User) -> &str {
    u.name.split_whitespace().next().unwrap_or("")
}

/// The site ARI of a product (`ari:cloud:jira-software::site/<cloud id>`), the `resourceId` of
/// its role assignments.
fn role_resource(org: &Org, p: u32) -> String {
    product_ari(org, &org.products[p as usize].key)
}

/// One `MultiDirectoryGroup` (also the `data` of `MultiDirectoryGroupDetails`).
fn group_json(app: &App, org: &Org, g: u32, users: bool, resources: bool) -> Value {
    let group = org.group(g);
    let mut v = json!({
        "id": group.id,
        "name": group.name,
        "description": "",
        "directoryId": dir_id(org, group.directory),
        "externalSynced": group.synced,
        "managedBy": if group.synced { "external" } else { "admins" },
        "managementAccess": {
            "deletable": !group.synced,
            "modifiable": !group.synced,
            "readable": true,
        },
        "links": { "self": format!("{}/admin/v2/orgs/{}/directories/{}/groups/{}", app.base_url, org.org_id, dir_id(org, group.directory), enc(&group.id)) },
    });
    let mut counts = serde_json::Map::new();
    if users {
        counts.insert("users".into(), json!(group.members.len()));
    }
    if resources {
        counts.insert("resources".into(), json!(group.products.len()));
    }
    if !counts.is_empty() {
        v["counts"] = Value::Object(counts);
    }
    v
}

/// `POST /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/search`: groups by id (bare
/// or ARI) or name (exact, case-insensitive) or search term, members (`accountIds`), role
/// (`roleIds`: `atlassian/user` for groups that grant a product) and resource
/// (`resourceOwners`, `resourceIds`), cursor-paged in name order (`sortBy` name asc or desc),
/// with `externalSynced` and `managedBy` saying whether an identity provider syncs the group
/// and `counts` when expanded.
pub async fn groups_search(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers, Family::V2));
    let Ok(Path((org_id, directory_id))) = path else {
        return path_error(&app, Family::V2);
    };
    let req: wire::GroupSearchRequest = try_resp!(search_body(&app, &headers, body));
    let wire::GroupSearchRequest {
        group_ids: ids,
        group_names: names,
        account_ids: accounts,
        directory_ids: directories,
        role_ids: roles,
        resource_owners: owners,
        resource_ids: resources,
        expand,
        ..
    } = req.clone();
    let term = req.search_term.map(|s| s.to_lowercase());
    if names.is_some() && (ids.is_some() || term.is_some()) {
        return bad(
            &app,
            "`groupNames` cannot be used together with `groupIds` or `searchTerm`.",
        );
    }
    let names: Option<Vec<String>> = names.map(|n| n.iter().map(|x| x.to_lowercase()).collect());
    let desc = req
        .sort_by
        .as_ref()
        .and_then(|s| s.first())
        .and_then(|s| s.direction.as_deref())
        == Some("desc");
    let expand = expand.unwrap_or_default();
    let limit = try_resp!(page_limit(&app, req.limit, 20));
    let start = try_resp!(page_start(&app, req.cursor.as_deref(), GROUP_CURSOR_PREFIX));
    let org = app.org();
    try_resp!(check_org(&app, &org, &org_id, Family::V2));
    let in_dir = try_resp!(check_directory(&app, &org, &directory_id));
    let wanted_ids: Option<Vec<u32>> = ids.as_ref().map(|ids| {
        ids.iter()
            .filter_map(|id| group_by_any_id(&org, id))
            .collect()
    });
    let members: Option<Vec<u32>> = accounts
        .as_ref()
        .map(|a| a.iter().filter_map(|id| org.user_index(id)).collect());
    let grants =
        |g: u32, pred: &dyn Fn(u32) -> bool| org.group(g).products.iter().any(|&p| pred(p));
    let mut order: Vec<u32> = org
        .groups_by_name_order
        .iter()
        .copied()
        .filter(|&g| wanted_ids.as_ref().is_none_or(|w| w.contains(&g)))
        .filter(|&g| {
            names
                .as_ref()
                .is_none_or(|ns| ns.contains(&org.group(g).name.to_lowercase()))
        })
        .filter(|&g| {
            term.as_ref()
                .is_none_or(|t| org.group(g).name.to_lowercase().contains(t.as_str()))
        })
        .filter(|&g| {
            members
                .as_ref()
                .is_none_or(|m| m.iter().any(|&u| org.is_member(g, u)))
        })
        .filter(|&g| {
            let d = org.group(g).directory;
            in_dir.is_none_or(|x| x == d)
                && directories
                    .as_ref()
                    .is_none_or(|ids| ids.iter().any(|id| id == dir_id(&org, d)))
        })
        .filter(|&g| {
            roles
                .as_ref()
                .is_none_or(|r| r.iter().any(|x| x == "atlassian/user") && grants(g, &|_| true))
        })
        .filter(|&g| {
            owners
                .as_ref()
                .is_none_or(|o| grants(g, &|p| o.contains(&org.products[p as usize].key)))
        })
        .filter(|&g| {
            resources
                .as_ref()
                .is_none_or(|r| grants(g, &|p| r.contains(&role_resource(&org, p))))
        })
        .collect();
    if desc {
        order.reverse();
    }
    let users = expand.iter().any(|e| e == "counts.users");
    let resources = expand.iter().any(|e| e == "counts.resources");
    let page: Vec<Value> = order
        .iter()
        .skip(start)
        .take(limit)
        .map(|&g| group_json(&app, &org, g, users, resources))
        .collect();
    let mut links = json!({ "self": encode_cursor(GROUP_CURSOR_PREFIX, start as u64) });
    let next = start.saturating_add(limit);
    if next < order.len() {
        links["next"] = json!(encode_cursor(GROUP_CURSOR_PREFIX, next as u64));
    }
    json_value(StatusCode::OK, &json!({ "data": page, "links": links }))
}

fn group_not_found(app: &App, id: &str) -> Response {
    error(
        app,
        StatusCode::NOT_FOUND,
        "ADMIN-UAM-404-3",
        "Group Not Found",
        &format!("Group '{id}' does not exist."),
    )
}

/// `GET /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}`: the group's details
/// with both counts.
pub async fn get_group(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    path: Result<Path<(String, String, String)>, axum::extract::rejection::PathRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers, Family::V2));
    let Ok(Path((org_id, directory_id, group_id))) = path else {
        return path_error(&app, Family::V2);
    };
    let org = app.org();
    try_resp!(check_org(&app, &org, &org_id, Family::V2));
    let in_dir = try_resp!(check_directory(&app, &org, &directory_id));
    let Some(g) = group_by_any_id(&org, &group_id)
        .filter(|&g| in_dir.is_none_or(|d| d == org.group(g).directory))
    else {
        return group_not_found(&app, &group_id);
    };
    json_value(
        StatusCode::OK,
        &json!({ "data": group_json(&app, &org, g, true, true) }),
    )
}

/// The filters and paging of the role-assignment listings (`limitParam`: 1 to 100, default 20).
struct RoleQuery {
    start: usize,
    limit: usize,
    owners: Option<Vec<String>>,
    resources: Option<Vec<String>>,
    roles: Option<Vec<String>>,
    directories: Option<Vec<String>>,
}

const ROLE_CURSOR_PREFIX: &str = "sbxr1.";

fn role_query(app: &App, uri: &Uri) -> Result<RoleQuery, Response> {
    let params = Params::from_uri(uri);
    let list = |k: &str| {
        let v: Vec<String> = params.all(k).into_iter().map(str::to_string).collect();
        (!v.is_empty()).then_some(v)
    };
    let limit = match params.get("limit") {
        None => 20,
        Some(v) => match v.parse::<usize>() {
            Ok(n @ 1..=100) => n,
            _ => return Err(bad(app, "`limit` must be a whole number from 1 to 100.")),
        },
    };
    let start = match params.get("cursor") {
        None => 0,
        Some(c) => decode_cursor(ROLE_CURSOR_PREFIX, c)
            .map(|n| n as usize)
            .ok_or_else(|| bad(app, "Invalid cursor."))?,
    };
    Ok(RoleQuery {
        start,
        limit,
        owners: list("resourceOwners"),
        resources: list("resourceIds"),
        roles: list("roleIds"),
        directories: list("directoryIds"),
    })
}

impl RoleQuery {
    /// Whether the product `p`'s assignment with these roles, in directory `dir`, passes the
    /// filters.
    fn keeps(&self, org: &Org, p: u32, roles: &[&str], dir: u16) -> bool {
        let key = &org.products[p as usize].key;
        self.owners.as_ref().is_none_or(|o| o.contains(key))
            && self
                .resources
                .as_ref()
                .is_none_or(|r| r.contains(&role_resource(org, p)))
            && self
                .roles
                .as_ref()
                .is_none_or(|r| r.iter().any(|x| roles.contains(&x.as_str())))
            && self
                .directories
                .as_ref()
                .is_none_or(|d| d.iter().any(|id| id == dir_id(org, dir)))
    }

    /// The page of `items` and its links.
    fn page(&self, items: Vec<Value>) -> Value {
        let total = items.len();
        let data: Vec<Value> = items
            .into_iter()
            .skip(self.start)
            .take(self.limit)
            .collect();
        let mut links = json!({ "self": encode_cursor(ROLE_CURSOR_PREFIX, self.start as u64) });
        let next = self.start.saturating_add(self.limit);
        if next < total {
            links["next"] = json!(encode_cursor(ROLE_CURSOR_PREFIX, next as u64));
        }
        json!({ "data": data, "links": links })
    }
}

/// `GET /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/role-assignments`:
/// one assignment per product the group grants (`resourceOwner` the product key, `resourceId`
/// its site ARI, role `atlassian/user`).
pub async fn group_role_assignments(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    path: Result<Path<(String, String, String)>, axum::extract::rejection::PathRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers, Family::V2));
    let Ok(Path((org_id, directory_id, group_id))) = path else {
        return path_error(&app, Family::V2);
    };
    let query = try_resp!(role_query(&app, &uri));
    let org = app.org();
    try_resp!(check_org(&app, &org, &org_id, Family::V2));
    let in_dir = try_resp!(check_directory(&app, &org, &directory_id));
    let Some(g) = group_by_any_id(&org, &group_id)
        .filter(|&g| in_dir.is_none_or(|d| d == org.group(g).directory))
    else {
        return group_not_found(&app, &group_id);
    };
    let dir = org.group(g).directory;
    let items: Vec<Value> = org
        .group(g)
        .products
        .iter()
        .copied()
        .filter(|&p| query.keeps(&org, p, &["atlassian/user"], dir))
        .map(|p| {
            json!({
                "resourceId": role_resource(&org, p),
                "resourceOwner": org.products[p as usize].key,
                "defaultRole": null,
                "roles": ["atlassian/user"],
            })
        })
        .collect();
    json_value(StatusCode::OK, &query.page(items))
}

/// `GET /admin/v2/orgs/{orgId}/directories/{directoryId}/users/{accountId}/role-assignments`:
/// one assignment per product the user holds, with how it was assigned (`group_direct`
/// through a grant group).
pub async fn user_role_assignments(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    path: Result<Path<(String, String, String)>, axum::extract::rejection::PathRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers, Family::V2));
    let Ok(Path((org_id, directory_id, account_id))) = path else {
        return path_error(&app, Family::V2);
    };
    let query = try_resp!(role_query(&app, &uri));
    let org = app.org();
    try_resp!(check_org(&app, &org, &org_id, Family::V2));
    let in_dir = try_resp!(check_directory(&app, &org, &directory_id));
    let Some(u) = org
        .user_index(&account_id)
        .filter(|&u| in_directory(org.user(u)))
        .filter(|&u| in_dir.is_none_or(|d| d == org.user_directory(u)))
    else {
        return error(
            &app,
            StatusCode::NOT_FOUND,
            "ADMIN-UAM-404-1",
            "Unknown Resource",
            &format!("User '{account_id}' is not in the directory."),
        );
    };
    let (_, _, membership) = statuses(org.user(u));
    let dir = org.user_directory(u);
    let items: Vec<Value> = (0..org.products.len() as u32)
        .filter(|&p| org.holds(p, u))
        .filter(|&p| query.keeps(&org, p, &["atlassian/user"], dir))
        .map(|p| {
            // How the role was assigned: through a grant group, directly, or both.
            let mut methods = Vec::new();
            if org.holds_through_group(p, u) {
                methods.push("group_direct");
            }
            if org.holds_directly(p, u) {
                methods.push("direct");
            }
            json!({
                "resourceId": role_resource(&org, p),
                "resourceOwner": org.products[p as usize].key,
                "roles": ["atlassian/user"],
                "roleAssignments": [
                    { "role": "atlassian/user", "roleAssignmentMethods": methods }
                ],
                "directoryId": dir_id(&org, dir),
                "userDirectoryStatus": membership,
            })
        })
        .collect();
    json_value(StatusCode::OK, &query.page(items))
}

/// `GET /admin/v2/orgs/{orgId}/directories`: the org's directories (`searchTerm` on the name,
/// `directoryIds`, `accountId`: the directories the user is in).
pub async fn directories(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers, Family::V2));
    let Ok(Path(org_id)) = path else {
        return path_error(&app, Family::V2);
    };
    let query = try_resp!(role_query(&app, &uri));
    let params = Params::from_uri(&uri);
    let org = app.org();
    try_resp!(check_org(&app, &org, &org_id, Family::V2));
    let term = params.get("searchTerm").map(str::to_lowercase);
    let member = params.get("accountId").map(|a| {
        org.user_index(a)
            .filter(|&u| in_directory(org.user(u)))
            .map(|u| org.user_directory(u))
    });
    let items: Vec<Value> = org
        .directories
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            term.as_ref()
                .is_none_or(|t| d.name.to_lowercase().contains(t.as_str()))
        })
        .filter(|(_, d)| {
            query
                .directories
                .as_ref()
                .is_none_or(|ids| ids.contains(&d.id))
        })
        .filter(|(i, _)| member.is_none_or(|m| m.is_some_and(|m| usize::from(m) == *i)))
        .map(|(_, d)| json!({ "directoryId": d.id, "name": d.name }))
        .collect();
    json_value(StatusCode::OK, &query.page(items))
}

/// `GET /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates`.
pub async fn last_active_dates(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers, Family::LastActive));
    let Ok(Path((org_id, account_id))) = path else {
        return path_error(&app, Family::LastActive);
    };
    let org = app.org();
    try_resp!(check_org(&app, &org, &org_id, Family::LastActive));
    let Some(u) = org
        .user_index(&account_id)
        .filter(|&u| in_directory(org.user(u)))
    else {
        return error(
            &app,
            StatusCode::NOT_FOUND,
            "ADMIN-404-8",
            "User not found",
            &format!("User '{account_id}' is not in the organization directory."),
        );
    };
    let user = org.user(u);
    let product_access: Vec<Value> = user
        .last_active
        .iter()
        .filter_map(|(key, t)| Some((key, last_active_key(key)?, t)))
        .map(|(key, v1_key, t)| {
            json!({
                "id": product_ari(&org, key),
                "key": v1_key,
                "last_active": t.format("%Y-%m-%d").to_string(),
                "last_active_timestamp": ts(*t),
            })
        })
        .collect();
    let mut data = json!({ "product_access": product_access });
    if let Some(t) = user.added_to_org {
        data["added_to_org"] = json!(t.format("%Y-%m-%d").to_string());
        data["added_to_org_timestamp"] = json!(ts(t));
    }
    json_value(StatusCode::OK, &json!({ "data": data, "links": {} }))
}

/// The account of a membership add's body, the client's [`AccountIdBody`].
fn membership_body(app: &App, body: &Bytes) -> Result<String, Response> {
    match serde_json::from_slice(body) {
        Ok(AccountIdBody { account_id }) if !account_id.is_empty() => Ok(account_id),
        _ => Err(bad(
            app,
            "The request body must be {\"accountId\": \"<account id>\"}.",
        )),
    }
}

fn lookup_membership(
    app: &App,
    org: &Org,
    in_dir: Option<u16>,
    group_id: &str,
    account_id: &str,
) -> Result<(u32, u32), Response> {
    let g = group_by_any_id(org, group_id)
        .filter(|&g| in_dir.is_none_or(|d| d == org.group(g).directory))
        .ok_or_else(|| {
            error(
                app,
                StatusCode::NOT_FOUND,
                "ADMIN-UAM-404-3",
                "Group Not Found",
                &format!("Group '{group_id}' does not exist."),
            )
        })?;
    let u = org
        .user_index(account_id)
        .filter(|&u| in_directory(org.user(u)))
        .ok_or_else(|| {
            error(
                app,
                StatusCode::NOT_FOUND,
                "ADMIN-UAM-404-1",
                "User Not Found",
                &format!("User '{account_id}' is not in the directory."),
            )
        })?;
    if org.user_directory(u) != org.group(g).directory {
        // "The user must be in the same directory as the group."
        return Err(bad(
            app,
            &format!(
                "User '{account_id}' is not in the directory of group '{group_id}': a user must \
                 be in the same directory as the group."
            ),
        ));
    }
    Ok((g, u))
}

fn refused(app: &App, e: WriteError) -> Response {
    app.stats.refused_writes.fetch_add(1, Ordering::Relaxed);
    match e {
        WriteError::Synced { group } => error(
            app,
            StatusCode::FORBIDDEN,
            "ADMIN-UAM-403-1",
            "Forbidden",
            &format!("You can't change the members of '{group}': it is synced from an identity provider. Manage it there."),
        ),
        WriteError::ClosedAccount { account_id } => error(
            app,
            StatusCode::BAD_REQUEST,
            "ADMIN-UAM-400-2",
            "Inactive user",
            &format!("User '{account_id}' is closed and can't be added to groups."),
        ),
        WriteError::LicenseLimit { product, limit } => error(
            app,
            StatusCode::CONFLICT,
            "ADMIN-UAM-409-3",
            "Product License Limit Exceeded",
            &format!("Adding the user would exceed the user limit ({limit}) of {product}."),
        ),
    }
}

/// Which membership write a handler made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    Add,
    Remove,
}

async fn finish_write(
    app: &Arc<App>,
    write: Write,
    result: Result<WriteOutcome, WriteError>,
    (group_id, account_id): (String, String),
) -> Response {
    if result.is_ok() {
        app.stats.count_membership_write(&group_id, &account_id);
    }
    match result {
        Ok(WriteOutcome::Applied) => {
            app.stats.writes_applied.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = app.persist().await {
                return error(
                    app,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ADMIN-UAM-500-1",
                    "Internal Error",
                    &e,
                );
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(WriteOutcome::Duplicate) => {
            app.stats.duplicate_writes.fetch_add(1, Ordering::Relaxed);
            match write {
                // The spec documents a 409 for "the user is already in the group"; its code list
                // names conflicts ADMIN-UAM-409-2.
                Write::Add => error(
                    app,
                    StatusCode::CONFLICT,
                    "ADMIN-UAM-409-2",
                    "Resource Conflicts",
                    "The user is already in the group.",
                ),
                // The spec documents no answer for removing a non-member: desired state, 204.
                Write::Remove => StatusCode::NO_CONTENT.into_response(),
            }
        }
        Err(e) => refused(app, e),
    }
}

/// `POST /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships`.
pub async fn add_membership(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    path: Result<Path<(String, String, String)>, axum::extract::rejection::PathRejection>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers, Family::V2));
    let Ok(Path((org_id, directory_id, group_id))) = path else {
        return path_error(&app, Family::V2);
    };
    let Ok(body) = body else {
        return bad(&app, "The request body could not be read.");
    };
    if !is_json(&headers) {
        return unsupported(&app);
    }
    let account_id = try_resp!(membership_body(&app, &body));
    let now = app.now();
    let (result, key) = {
        let mut org = app.org_mut();
        try_resp!(check_org(&app, &org, &org_id, Family::V2));
        let in_dir = try_resp!(check_directory(&app, &org, &directory_id));
        let (g, u) = try_resp!(lookup_membership(
            &app,
            &org,
            in_dir,
            &group_id,
            &account_id
        ));
        let key = (org.group(g).id.clone(), account_id.clone());
        (org.add_member(g, u, now, None), key)
    };
    finish_write(&app, Write::Add, result, key).await
}

/// `DELETE /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships/{accountId}`.
pub async fn remove_membership(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    path: Result<Path<(String, String, String, String)>, axum::extract::rejection::PathRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers, Family::V2));
    let Ok(Path((org_id, directory_id, group_id, account_id))) = path else {
        return path_error(&app, Family::V2);
    };
    let now = app.now();
    let (result, key) = {
        let mut org = app.org_mut();
        try_resp!(check_org(&app, &org, &org_id, Family::V2));
        let in_dir = try_resp!(check_directory(&app, &org, &directory_id));
        let (g, u) = try_resp!(lookup_membership(
            &app,
            &org,
            in_dir,
            &group_id,
            &account_id
        ));
        let key = (org.group(g).id.clone(), account_id.clone());
        (org.remove_member(g, u, now, None), key)
    };
    finish_write(&app, Write::Remove, result, key).await
}

const EVENT_CURSOR_PREFIX: &str = "sbxe1.";

/// A user reference of an event (`id`, with the email and name when known).
fn user_ref(user: Option<&User>, id: &str) -> wire::EventObject {
    wire::EventObject {
        email: user.and_then(|u| u.email.clone()),
        id: Some(id.to_string()),
        name: user.map(|u| u.name.clone()),
        ..wire::EventObject::default()
    }
}

/// The key the spec's events API uses for a product (its `product` filter takes `bitbucket`,
/// `confluence`, `guard_detect`, `jira`, `loom`): every Jira product is `jira`.
pub fn events_product_key(key: &str) -> &str {
    if key == "jira" || key.starts_with("jira-") {
        "jira"
    } else {
        key
    }
}

/// One event. The stream's `PollingEventModel` carries `processedAt`; the query API's
/// `EventModel` does not.
fn event(app: &App, org: &Org, e: &super::model::EventRec, processed_at: bool) -> wire::AdminEvent {
    let user = org.user_index(&e.account_id).map(|u| org.user(u));
    let api_token = || Some(json!({ "authType": "api-token" }));
    let actor = match (&e.actor, e.action) {
        (Some(a), _) => wire::EventObject {
            auth: api_token(),
            ..user_ref(org.user_index(a).map(|u| org.user(u)), a)
        },
        (None, EventAction::UserAddedToGroup | EventAction::UserRemovedFromGroup) => {
            wire::EventObject {
                auth: api_token(),
                id: Some("admin-api-key".into()),
                name: Some("Organization API key".into()),
                ..wire::EventObject::default()
            }
        }
        (None, _) => user_ref(user, &e.account_id),
    };
    let item = |attributes: Value, id: String, kind: &str| wire::EventObject {
        attributes: Some(attributes),
        id: Some(id),
        kind: Some(kind.to_string()),
        ..wire::EventObject::default()
    };
    let mut who = json!({ "accountId": e.account_id });
    if let Some(u) = user {
        if let Some(email) = &u.email {
            who["email"] = json!(email);
        }
        who["name"] = json!(u.name);
    }
    let mut context = vec![item(who, e.account_id.clone(), "users")];
    if let Some(gid) = &e.group_id {
        let mut attributes = json!({ "groupId": gid });
        if let Some(g) = org.group_index(gid) {
            attributes["groupName"] = json!(org.group(g).name);
        }
        context.push(item(attributes, gid.clone(), "groups"));
    }
    if let Some(p) = &e.product {
        let attributes = json!({ "productKey": p });
        context.push(item(attributes, product_ari(org, p), "products"));
    }
    let id = format!("{:016x}", e.id);
    wire::AdminEvent {
        links: Some(wire::SelfLink {
            self_url: Some(format!(
                "{}/admin/v1/orgs/{}/events/{id}",
                app.base_url, org.org_id
            )),
        }),
        id: Some(id),
        kind: "events",
        attributes: wire::EventAttributes {
            action: e.action.as_str().to_string(),
            actor: Some(actor),
            container: vec![wire::EventObject {
                id: Some(org.org_id.clone()),
                kind: Some("organizations".into()),
                ..wire::EventObject::default()
            }],
            context,
            location: Some(json!({ "ip": "127.0.0.1" })),
            // The sandbox processes an event the moment it happens.
            processed_at: processed_at.then(|| ts(e.time)),
            time: ts(e.time),
        },
    }
}

/// The events stream's largest page (`limit` maximum in the published spec).
pub const EVENTS_PAGE_MAX: usize = 500;
/// The events stream's page size when `limit` is not given (the published default).
pub const EVENTS_PAGE_DEFAULT: usize = 200;
/// The events query API's page size when `limit` is not given (the published default).
pub const EVENTS_QUERY_PAGE_DEFAULT: usize = 30;

/// Which events listing is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listing {
    /// `GET /v1/orgs/{orgId}/events-stream` (`PollingEventPage`).
    Stream,
    /// `GET /v1/orgs/{orgId}/events` (`EventPage`, with filters).
    Query,
}

/// `GET /admin/v1/orgs/{orgId}/events-stream`.
pub async fn events_stream(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    events_listing(&app, &headers, &uri, path, Listing::Stream)
}

/// `GET /admin/v1/orgs/{orgId}/events`: the same events, filtered by `action`, `actor`
/// (account ids, comma-separated), `product` (`jira`, `confluence`, ...), `ip` and `q` (a
/// substring of the action or the account id).
pub async fn events_query(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    events_listing(&app, &headers, &uri, path, Listing::Query)
}

fn no_guard(app: &App) -> Response {
    error(
        app,
        StatusCode::FORBIDDEN,
        "ADMIN-403-3",
        "Not allowed to manage the org",
        "This organization has no Atlassian Guard subscription: its audit log events are not \
         available through the API.",
    )
}

fn events_listing(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    listing: Listing,
) -> Response {
    try_resp!(authenticate(app, headers, Family::Events));
    let Ok(Path(org_id)) = path else {
        return path_error(app, Family::Events);
    };
    let params = Params::from_uri(uri);
    let syntax = |detail: &str| {
        error(
            app,
            StatusCode::BAD_REQUEST,
            "ADMIN-400-19",
            "Invalid request syntax",
            detail,
        )
    };
    let int = |k: &str| -> Result<Option<i64>, Response> {
        match params.get(k) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                error(
                    app,
                    StatusCode::BAD_REQUEST,
                    "ADMIN-400-3",
                    "Invalid time date",
                    &format!("`{k}` must be a time in epoch milliseconds."),
                )
            }),
        }
    };
    let from = try_resp!(int("from"));
    let to = try_resp!(int("to"));
    let default_limit = match listing {
        Listing::Stream => EVENTS_PAGE_DEFAULT,
        Listing::Query => EVENTS_QUERY_PAGE_DEFAULT,
    };
    let limit = match params.get("limit") {
        None => default_limit,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=EVENTS_PAGE_MAX).contains(&n) => n,
            _ => {
                return syntax(&format!(
                    "`limit` must be a whole number from 1 to {EVENTS_PAGE_MAX}."
                ))
            }
        },
    };
    let desc = match params.get("sortOrder") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return syntax("`sortOrder` must be asc or desc."),
    };
    let after: Option<(i64, u64)> = match params.get("cursor") {
        None => None,
        Some(c) => {
            let parsed = c
                .strip_prefix(EVENT_CURSOR_PREFIX)
                .and_then(|rest| rest.split_once('.'))
                .and_then(|(t, id)| {
                    Some((t.parse::<i64>().ok()?, u64::from_str_radix(id, 16).ok()?))
                });
            match parsed {
                Some(p) => Some(p),
                None => {
                    return error(
                        app,
                        StatusCode::BAD_REQUEST,
                        "ADMIN-400-1",
                        "Invalid page cursor",
                        "The cursor is not one this API gave out.",
                    )
                }
            }
        }
    };
    let list = |k: &str| -> Option<Vec<String>> {
        params
            .get(k)
            .map(|v| v.split(',').map(str::to_string).collect())
    };
    let (action, actors, products, ips, q) = (
        params.get("action").map(str::to_string),
        list("actor"),
        list("product"),
        list("ip"),
        params.get("q").map(str::to_lowercase),
    );
    let org = app.org();
    try_resp!(check_org(app, &org, &org_id, Family::Events));
    if !org.guard {
        return no_guard(app);
    }
    let filtered = |e: &&super::model::EventRec| {
        let ms = e.time.timestamp_millis();
        from.is_none_or(|f| ms >= f)
            && to.is_none_or(|t| ms <= t)
            && action.as_ref().is_none_or(|a| a == e.action.as_str())
            && actors.as_ref().is_none_or(|a| {
                a.iter()
                    .any(|x| x == e.actor.as_deref().unwrap_or(&e.account_id))
            })
            && products.as_ref().is_none_or(|ps| {
                e.product
                    .as_deref()
                    .is_some_and(|p| ps.iter().any(|x| x == events_product_key(p)))
            })
            && ips
                .as_ref()
                .is_none_or(|ips| ips.iter().any(|i| i == "127.0.0.1"))
            && q.as_ref().is_none_or(|q| {
                e.action.as_str().contains(q.as_str()) || e.account_id.to_lowercase().contains(q)
            })
    };
    let past_cursor = |e: &&super::model::EventRec| match after {
        None => true,
        Some(c) if desc => (e.time.timestamp_millis(), e.id) < c,
        Some(c) => (e.time.timestamp_millis(), e.id) > c,
    };
    let mut page: Vec<&super::model::EventRec> = Vec::with_capacity(limit + 1);
    if desc {
        page.extend(
            org.events
                .iter()
                .rev()
                .filter(filtered)
                .filter(past_cursor)
                .take(limit + 1),
        );
    } else {
        page.extend(
            org.events
                .iter()
                .filter(filtered)
                .filter(past_cursor)
                .take(limit + 1),
        );
    }
    let more = page.len() > limit;
    page.truncate(limit);
    let next_cursor = if more {
        page.last().map(|e| {
            format!(
                "{EVENT_CURSOR_PREFIX}{}.{:x}",
                e.time.timestamp_millis(),
                e.id
            )
        })
    } else {
        None
    };
    let resource = match listing {
        Listing::Stream => "events-stream",
        Listing::Query => "events",
    };
    // The page links repeat the query with the cursor replaced.
    let page_url = |cursor: Option<&str>| {
        let mut q: Vec<String> = params
            .0
            .iter()
            .filter(|(k, _)| k != "cursor")
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        if let Some(c) = cursor {
            q.push(format!("cursor={}", enc(c)));
        }
        let mut url = format!("{}/admin/v1/orgs/{}/{resource}", app.base_url, org.org_id);
        if !q.is_empty() {
            url.push('?');
            url.push_str(&q.join("&"));
        }
        url
    };
    let data = page
        .iter()
        .map(|e| event(app, &org, e, listing == Listing::Stream))
        .collect();
    page_json(&wire::AdminPage {
        data,
        links: wire::Links {
            self_url: Some(page_url(params.get("cursor"))),
            next: next_cursor.as_ref().map(|c| page_url(Some(c))),
        },
        meta: wire::Meta {
            next: next_cursor,
            page_size: Some(page.len()),
        },
    })
}

/// The event actions the sandbox records, with the display names `GET .../event-actions`
/// lists (`EventActionModel`: `id` is the action key events carry in `attributes.action`).
pub const EVENT_ACTIONS: &[(EventAction, &str, &str)] = &[
    (
        EventAction::UserLoggedIn,
        "User logged in",
        "Authentication",
    ),
    (
        EventAction::AccessRequested,
        "User requested product access",
        "Product access",
    ),
    (
        EventAction::UserAddedToGroup,
        "User added to group",
        "Group management",
    ),
    (
        EventAction::UserRemovedFromGroup,
        "User removed from group",
        "Group management",
    ),
];

/// `GET /admin/v1/orgs/{orgId}/event-actions`: every action key events may carry.
pub async fn event_actions(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers, Family::Events));
    let Ok(Path(org_id)) = path else {
        return path_error(&app, Family::Events);
    };
    let org = app.org();
    try_resp!(check_org(&app, &org, &org_id, Family::Events));
    if !org.guard {
        return no_guard(&app);
    }
    let data: Vec<Value> = EVENT_ACTIONS
        .iter()
        .map(|(action, name, group)| {
            json!({
                "id": action.as_str(),
                "type": "event-actions",
                "attributes": { "displayName": name, "groupDisplayName": group },
            })
        })
        .collect();
    json_value(StatusCode::OK, &json!({ "data": data }))
}

/// Orgs a page of `GET /admin/v1/orgs` holds (the spec publishes no `limit` for it).
const ORGS_PAGE: usize = 20;

const ORG_CURSOR_PREFIX: &str = "sbxo1.";

/// The name `GET /v1/orgs` gives the sandbox's org: its site's first label (`acme` for
/// `acme.atlassian.net`).
fn org_name(org: &Org) -> &str {
    let site = org
        .site
        .split_once("://")
        .map_or(org.site.as_str(), |(_, s)| s);
    site.split(['.', '/', ':'])
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(site)
}

/// `GET /admin/v1/orgs`: the organizations the API key can manage (`OrgPage`), which in the
/// sandbox is its one org. `cursor` is a position the listing gave out; any other cursor is
/// the documented 400 (`Error.InvalidPageCursor`). The links are URLs, as `LinkPageModel` and
/// `LinkSelfModel` describe them.
pub async fn orgs(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    try_resp!(authenticate(&app, &headers, Family::Orgs));
    let params = Params::from_uri(&uri);
    let org = app.org();
    let all = [&*org];
    let start = match params.get("cursor") {
        None => 0,
        Some(c) => match decode_cursor(ORG_CURSOR_PREFIX, c)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n < all.len())
        {
            Some(n) => n,
            None => {
                return error(
                    &app,
                    StatusCode::BAD_REQUEST,
                    "ADMIN-400-1",
                    "Invalid page cursor",
                    "The cursor is not one this API gave out.",
                )
            }
        },
    };
    let listing = format!("{}/admin/v1/orgs", app.base_url);
    let page_url = |at: usize| match at {
        0 => listing.clone(),
        n => format!(
            "{listing}?cursor={}",
            enc(&encode_cursor(ORG_CURSOR_PREFIX, n as u64))
        ),
    };
    let data: Vec<Value> = all
        .iter()
        .skip(start)
        .take(ORGS_PAGE)
        .map(|o| {
            let url = format!("{listing}/{}", enc(&o.org_id));
            json!({
                "id": o.org_id,
                "type": "orgs",
                "attributes": { "name": org_name(o) },
                "relationships": {
                    "domains": { "links": { "related": format!("{url}/domains") } },
                    "users": { "links": { "related": format!("{url}/users") } },
                },
                "links": { "self": url },
            })
        })
        .collect();
    let mut links = json!({ "self": page_url(start) });
    let next = start.saturating_add(ORGS_PAGE);
    if next < all.len() {
        links["next"] = json!(page_url(next));
    }
    json_value(StatusCode::OK, &json!({ "data": data, "links": links }))
}

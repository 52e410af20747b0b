//! Jira Cloud platform REST API v3: the group, user and application-role operations of
//! `tests/openapi/jira-platform-v3-groups-users.json`, with Basic auth (email + API token) and
//! `ErrorCollection` error bodies.
//!
//! Choices where Atlassian documents nothing (see `docs/sandbox.md`):
//! - `POST /group/user` for an existing member answers **400** `Cannot add user. User is
//!   already a member of 'GROUP'` (what Jira has historically answered); `DELETE /group/user`
//!   for a non-member answers **400** `Cannot remove user ... since user is not a member of
//!   'GROUP'`. Clients must treat both as "already done". Both count as duplicate writes.
//! - A write to an IdP-synced group answers **403**.
//! - An add that would exceed the product's license answers **400** naming the product and
//!   its limit.
//! - `GET /group` (deprecated upstream) expands at most the first 50 active members;
//!   `POST /group` creates a group that grants nothing; `DELETE /group` refuses synced groups
//!   (403) and does not support `swapGroup`/`swapGroupId` (400).
//! - A `POST` body not declared as `application/json` answers 415.
//! - `groupId` and `groupname` together answer 400 (the spec says they are exclusive).
//! - `group/member` clamps `maxResults` to 50 (values below 1 are a 400); `users/search` clamps
//!   to 1000; `group/bulk` clamps to 50.

// Handlers bail out with a ready `Response` as their error; the size is irrelevant there.
#![allow(clippy::result_large_err)]

use super::model::{WriteError, WriteOutcome};
use super::server::{base64_decode, enc, is_json, json_text, json_value, same_secret, App, Params};
use crate::atlassian::wire::{AccountIdBody, JiraUser};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// An `ErrorCollection` body with one message.
pub fn error(status: StatusCode, message: &str) -> Response {
    json_value(status, &json!({ "errorMessages": [message], "errors": {} }))
}

fn field_error(status: StatusCode, field: &str, message: &str) -> Response {
    json_value(
        status,
        &json!({ "errorMessages": [], "errors": { field: message } }),
    )
}

/// Checks Basic auth against the configured email and API token.
pub fn authenticate(app: &App, headers: &HeaderMap) -> Result<(), Response> {
    let unauthorized = || {
        error(
            StatusCode::UNAUTHORIZED,
            "Client must be authenticated to access this resource.",
        )
    };
    let Some(value) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthorized());
    };
    let Some((scheme, rest)) = value.trim().split_once(' ') else {
        return Err(unauthorized());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(unauthorized());
    }
    let decoded = base64_decode(rest.trim()).and_then(|b| String::from_utf8(b).ok());
    let Some((email, token)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
        return Err(unauthorized());
    };
    let creds = &app.config.credentials;
    if email.eq_ignore_ascii_case(&creds.email) && same_secret(token, &creds.api_token) {
        Ok(())
    } else {
        Err(unauthorized())
    }
}

macro_rules! try_resp {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(resp) => return resp,
        }
    };
}

fn bad_request(message: String) -> Response {
    error(StatusCode::BAD_REQUEST, &message)
}

/// The initials avatar of a user: `(initials, n)` for
/// `.../initials/{initials}-{n}.png?size=S&s=S`.
fn avatar(account_id: &str, name: &str) -> (String, u32) {
    let initials: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .collect::<String>()
        .to_uppercase();
    let initials = if initials.is_empty() {
        "U".to_string()
    } else {
        initials
    };
    let n = account_id
        .bytes()
        .fold(0u32, |a, b| a.wrapping_add(u32::from(b)))
        % 6;
    (initials, n)
}

const AVATAR_BASE: &str =
    "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/initials/";

const TIME_ZONES: &[&str] = &[
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
];

/// A user as Jira shows it: `User` (`full`: users/search, myself) or `UserDetails` (group
/// pages), in the client's wire type.
fn jira_user(base_url: &str, u: &crate::live::User, full: bool) -> JiraUser {
    use crate::live::{AccountStatus, AccountType};
    let (initials, n) = avatar(&u.account_id, &u.name);
    let initials = enc(&initials);
    let avatar_urls = [("16x16", 16), ("24x24", 24), ("32x32", 32), ("48x48", 48)]
        .map(|(k, s)| (k, format!("{AVATAR_BASE}{initials}-{n}.png?size={s}&s={s}")))
        .to_vec();
    JiraUser {
        self_url: Some(format!(
            "{base_url}/rest/api/3/user?accountId={}",
            enc(&u.account_id)
        )),
        account_id: u.account_id.clone(),
        account_type: Some(u.account_type.as_str().to_string()),
        app_type: (full && u.account_type == AccountType::App).then(|| "service".to_string()),
        email_address: u.email.clone(),
        avatar_urls,
        display_name: Some(u.name.clone()),
        active: Some(u.status == AccountStatus::Active),
        time_zone: Some(time_zone(u)),
        locale: full.then_some("en_US"),
    }
}

fn time_zone(u: &crate::live::User) -> &'static str {
    TIME_ZONES[u.account_id.len().wrapping_add(u.name.len()) % TIME_ZONES.len()]
}

fn user_object(base_url: &str, u: &crate::live::User, full: bool) -> serde_json::Value {
    serde_json::to_value(jira_user(base_url, u, full)).unwrap_or_default()
}

fn render_user(base_url: &str, u: &crate::live::User, full: bool) -> String {
    serde_json::to_string(&jira_user(base_url, u, full)).unwrap_or_default()
}

fn cached<'a>(
    cache: &'a [std::sync::OnceLock<Box<str>>],
    u: u32,
    render: impl FnOnce() -> String,
) -> std::borrow::Cow<'a, str> {
    match cache.get(u as usize) {
        Some(cell) => std::borrow::Cow::Borrowed(cell.get_or_init(|| render().into_boxed_str())),
        None => std::borrow::Cow::Owned(render()),
    }
}

/// `GET /rest/api/3/myself`.
pub async fn myself(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    try_resp!(authenticate(&app, &headers));
    let params = Params::from_uri(&uri);
    let expand: Vec<String> = params
        .get("expand")
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let org = app.org();
    let mut value = match app.myself.user {
        Some(u) => user_object(&app.base_url, org.user(u), true),
        None => user_object(
            &app.base_url,
            &crate::live::User {
                account_id: app.myself.account_id.clone(),
                email: Some(app.config.credentials.email.clone()),
                name: "Sandbox Admin".into(),
                account_type: crate::live::AccountType::Atlassian,
                status: crate::live::AccountStatus::Active,
                added_to_org: None,
                last_active: Default::default(),
            },
            true,
        ),
    };
    let groups: Vec<u32> = app
        .myself
        .user
        .map(|u| org.groups_of(u))
        .unwrap_or_default();
    let roles: Vec<u32> = app
        .myself
        .user
        .map(|u| {
            (0..org.products.len() as u32)
                .filter(|&p| org.products[p as usize].key.starts_with("jira-") && org.holds(p, u))
                .collect()
        })
        .unwrap_or_default();
    let want_groups = expand.iter().any(|e| e == "groups");
    let want_roles = expand.iter().any(|e| e == "applicationRoles");
    if let Some(m) = value.as_object_mut() {
        let group_items: Vec<serde_json::Value> = if want_groups {
            groups
                .iter()
                .map(|&g| group_name_json(&app, &org, g))
                .collect()
        } else {
            vec![]
        };
        m.insert(
            "groups".into(),
            json!({ "size": groups.len(), "items": group_items }),
        );
        let role_items: Vec<serde_json::Value> = if want_roles {
            roles
                .iter()
                .map(|&p| application_role_json(&app, &org, p))
                .collect()
        } else {
            vec![]
        };
        m.insert(
            "applicationRoles".into(),
            json!({ "size": roles.len(), "items": role_items }),
        );
        m.insert("expand".into(), json!("groups,applicationRoles"));
    }
    drop(org);
    let mut resp = json_value(StatusCode::OK, &value);
    if let Ok(v) = axum::http::HeaderValue::from_str(&app.myself.account_id) {
        resp.headers_mut().insert("x-aaccountid", v);
    }
    resp
}

/// `GET /rest/api/3/users/search` and `GET /rest/api/3/users`: every account, a bare array.
pub async fn users_search(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    try_resp!(authenticate(&app, &headers));
    let params = Params::from_uri(&uri);
    let start = try_resp!(params.int("startAt", 0).map_err(bad_request));
    let max = try_resp!(params.int("maxResults", 50).map_err(bad_request));
    if start < 0 {
        return bad_request("startAt must not be negative.".into());
    }
    if max < 0 {
        return bad_request("maxResults must not be negative.".into());
    }
    let max = max.min(1000) as usize;
    let org = app.org();
    let start = (start as usize).min(org.users.len());
    let end = start.saturating_add(max).min(org.users.len());
    let mut out = String::with_capacity((end - start) * 700 + 2);
    out.push('[');
    for u in start..end {
        if u > start {
            out.push(',');
        }
        let u = u as u32;
        out.push_str(&cached(&app.user_json, u, || {
            render_user(&app.base_url, org.user(u), true)
        }));
    }
    out.push(']');
    json_text(StatusCode::OK, out)
}

fn group_name_json(app: &App, org: &super::model::Org, g: u32) -> serde_json::Value {
    let group = org.group(g);
    json!({
        "name": group.name,
        "groupId": group.id,
        "self": format!("{}/rest/api/3/group?groupId={}", app.base_url, enc(&group.id)),
    })
}

/// Resolves `groupId` / `groupname` to a group index, or the error response.
fn resolve_group(
    org: &super::model::Org,
    params: &Params,
) -> Result<(u32, &'static str), Response> {
    match (params.get("groupId"), params.get("groupname")) {
        (Some(_), Some(_)) => Err(bad_request(
            "Only one of groupId and groupname may be given.".into(),
        )),
        (None, None) => Err(bad_request(
            "Either a group name or a group ID must be provided.".into(),
        )),
        (Some(id), None) => org.group_index(id).map(|g| (g, "groupId")).ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                &format!("Group with groupId '{id}' doesn't exist."),
            )
        }),
        (None, Some(name)) => org
            .group_by_name(name)
            .map(|g| (g, "groupname"))
            .ok_or_else(|| {
                error(
                    StatusCode::NOT_FOUND,
                    &format!("Group with name '{name}' doesn't exist."),
                )
            }),
    }
}

/// `GET /rest/api/3/group/member`.
pub async fn group_member(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    try_resp!(authenticate(&app, &headers));
    let params = Params::from_uri(&uri);
    let inactive = try_resp!(params
        .bool("includeInactiveUsers", false)
        .map_err(bad_request));
    let start = try_resp!(params.int("startAt", 0).map_err(bad_request));
    let max = try_resp!(params.int("maxResults", 50).map_err(bad_request));
    if start < 0 {
        return bad_request("startAt must not be negative.".into());
    }
    if max < 1 {
        return bad_request("maxResults must be between 1 and 50.".into());
    }
    let max = max.min(50) as usize;
    let org = app.org();
    let (g, key) = try_resp!(resolve_group(&org, &params));
    let group = org.group(g);
    let list = if inactive {
        &group.members
    } else {
        &group.active_members
    };
    let total = list.len();
    let s = (start as usize).min(total);
    let e = s.saturating_add(max).min(total);
    let is_last = (start as usize).saturating_add(max) >= total;
    let ident = if key == "groupId" {
        &group.id
    } else {
        &group.name
    };
    let page_url = |at: usize| {
        format!(
            "{}/rest/api/3/group/member?{key}={}&includeInactiveUsers={inactive}&startAt={at}&maxResults={max}",
            app.base_url,
            enc(ident)
        )
    };
    let mut out = String::with_capacity((e - s) * 600 + 400);
    let _ = write!(
        out,
        "{{\"self\":{},\"maxResults\":{max},\"startAt\":{start},\"total\":{total},\"isLast\":{is_last},",
        json!(page_url(start as usize))
    );
    if !is_last {
        let _ = write!(
            out,
            "\"nextPage\":{},",
            json!(page_url((start as usize).saturating_add(max)))
        );
    }
    out.push_str("\"values\":[");
    for (i, &u) in list[s..e].iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&cached(&app.user_details_json, u, || {
            render_user(&app.base_url, org.user(u), false)
        }));
    }
    out.push_str("]}");
    json_text(StatusCode::OK, out)
}

/// `GET /rest/api/3/group/bulk`.
pub async fn group_bulk(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    try_resp!(authenticate(&app, &headers));
    let params = Params::from_uri(&uri);
    let start = try_resp!(params.int("startAt", 0).map_err(bad_request));
    let max = try_resp!(params.int("maxResults", 50).map_err(bad_request));
    if start < 0 || max < 0 {
        return bad_request("startAt and maxResults must not be negative.".into());
    }
    let max = max.min(50) as usize;
    let access = params.get("accessType");
    if let Some(a) = access {
        if !matches!(a, "site-admin" | "admin" | "user") {
            return bad_request(format!(
                "Invalid accessType '{a}': expected site-admin, admin or user."
            ));
        }
    }
    let app_key = params.get("applicationKey");
    if let Some(k) = app_key {
        if !matches!(
            k,
            "jira-software" | "jira-servicedesk" | "jira-product-discovery" | "jira-core"
        ) {
            return bad_request(format!("Invalid applicationKey '{k}'."));
        }
    }
    let ids = params.all("groupId");
    let names: Vec<String> = params
        .all("groupName")
        .iter()
        .map(|n| n.to_lowercase())
        .collect();
    let org = app.org();
    let matching: Vec<u32> = org
        .groups_by_name_order
        .iter()
        .copied()
        .filter(|&g| {
            let group = org.group(g);
            let lname = group.name.to_lowercase();
            (ids.is_empty() && names.is_empty()
                || ids.contains(&group.id.as_str())
                || names.contains(&lname))
                && match access {
                    None => true,
                    Some("site-admin") => lname == "site-admins",
                    Some("admin") => {
                        lname.ends_with("-admins") || lname.ends_with("-administrators")
                    }
                    Some(_) => !group.products.is_empty(),
                }
                && match app_key {
                    None => true,
                    Some(k) => group
                        .products
                        .iter()
                        .any(|&p| org.products[p as usize].key == k),
                }
        })
        .collect();
    let total = matching.len();
    let s = (start as usize).min(total);
    let e = s.saturating_add(max).min(total);
    let is_last = (start as usize).saturating_add(max) >= total;
    let values: Vec<serde_json::Value> = matching[s..e]
        .iter()
        .map(|&g| json!({ "name": org.group(g).name, "groupId": org.group(g).id }))
        .collect();
    let mut query: Vec<String> = params
        .0
        .iter()
        .filter(|(k, _)| k != "startAt" && k != "maxResults")
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    query.push(format!("maxResults={max}"));
    let url = |at: usize| {
        format!(
            "{}/rest/api/3/group/bulk?{}&startAt={at}",
            app.base_url,
            query.join("&")
        )
    };
    let mut body = json!({
        "self": url(start as usize),
        "maxResults": max,
        "startAt": start,
        "total": total,
        "isLast": is_last,
        "values": values,
    });
    if !is_last {
        body["nextPage"] = json!(url((start as usize).saturating_add(max)));
    }
    json_value(StatusCode::OK, &body)
}

/// `GET /rest/api/3/user/groups?accountId=`.
pub async fn user_groups(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    try_resp!(authenticate(&app, &headers));
    let params = Params::from_uri(&uri);
    let Some(account_id) = params.get("accountId").filter(|a| !a.is_empty()) else {
        return field_error(
            StatusCode::BAD_REQUEST,
            "accountId",
            "accountId must be provided.",
        );
    };
    let org = app.org();
    let Some(u) = org.user_index(account_id) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("The user with account ID '{account_id}' does not exist."),
        );
    };
    let groups: Vec<serde_json::Value> = org
        .groups_of(u)
        .into_iter()
        .map(|g| group_name_json(&app, &org, g))
        .collect();
    json_value(StatusCode::OK, &serde_json::Value::Array(groups))
}

fn application_role_json(app: &App, org: &super::model::Org, p: u32) -> serde_json::Value {
    let prod = &org.products[p as usize];
    let names: Vec<&str> = prod
        .groups
        .iter()
        .map(|&g| org.group(g).name.as_str())
        .collect();
    let details: Vec<serde_json::Value> = prod
        .groups
        .iter()
        .map(|&g| group_name_json(app, org, g))
        .collect();
    let (seats, remaining) = match prod.limit {
        Some(l) => (i64::from(l), i64::from(l) - i64::from(prod.billable)),
        None => (-1, -1),
    };
    json!({
        "key": prod.key,
        "groups": names,
        "groupDetails": details,
        "name": prod.name,
        "defaultGroups": names.first().map(|n| vec![*n]).unwrap_or_default(),
        "defaultGroupsDetails": details.first().map(|d| vec![d.clone()]).unwrap_or_default(),
        "selectedByDefault": false,
        "defined": false,
        "numberOfSeats": seats,
        "remainingSeats": remaining,
        "userCount": prod.billable,
        "userCountDescription": "users",
        "hasUnlimitedSeats": prod.limit.is_none(),
        "platform": prod.key == "jira-core",
    })
}

/// `GET /rest/api/3/applicationrole`: Jira products only (Confluence seats are not a Jira
/// application role); `userCount` counts active `atlassian` accounts in any grant group.
pub async fn application_roles(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    try_resp!(authenticate(&app, &headers));
    let org = app.org();
    let roles: Vec<serde_json::Value> = (0..org.products.len() as u32)
        .filter(|&p| org.products[p as usize].key.starts_with("jira-"))
        .map(|p| application_role_json(&app, &org, p))
        .collect();
    json_value(StatusCode::OK, &serde_json::Value::Array(roles))
}

/// The account of a membership add's body, the client's [`AccountIdBody`]: a field Jira does
/// not document for it (the deprecated `name` included) is a 400.
fn parse_account_body(body: &Bytes) -> Result<String, Response> {
    let AccountIdBody { account_id } = serde_json::from_slice(body).map_err(|e| {
        bad_request(format!(
            "Unrecognized or malformed JSON in the request body: {e}"
        ))
    })?;
    if account_id.is_empty() || account_id.len() > 128 {
        return Err(field_error(
            StatusCode::BAD_REQUEST,
            "accountId",
            "accountId must be 1 to 128 characters.",
        ));
    }
    Ok(account_id)
}

fn user_not_found(account_id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!(
            "Specified user '{account_id}' does not exist or you do not have required permissions"
        ),
    )
}

fn write_refused(app: &App, e: WriteError) -> Response {
    app.stats.refused_writes.fetch_add(1, Ordering::Relaxed);
    match e {
        WriteError::Synced { group } => error(
            StatusCode::FORBIDDEN,
            &format!(
                "Cannot edit group memberships of '{group}', as external user management is enabled: the group is synced from an identity provider."
            ),
        ),
        WriteError::ClosedAccount { account_id } => bad_request(format!(
            "Cannot add user '{account_id}': the account is closed."
        )),
        WriteError::LicenseLimit { product, limit } => bad_request(format!(
            "Cannot add user: the license of {} ({product}) is full ({limit} of {limit} users). Remove users or increase the user limit.",
            super::model::product_name(&product)
        )),
    }
}

/// `POST /rest/api/3/group/user`: 201 with the `Group`.
pub async fn add_user_to_group(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers));
    if !is_json(&headers) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type: send the body as application/json.",
        );
    }
    let params = Params::from_uri(&uri);
    let Ok(body) = body else {
        return bad_request("The request body could not be read.".into());
    };
    {
        let org = app.org();
        try_resp!(resolve_group(&org, &params));
    }
    let account_id = try_resp!(parse_account_body(&body));
    let now = app.now();
    let result = {
        let mut org = app.org_mut();
        let (g, _) = try_resp!(resolve_group(&org, &params));
        let Some(u) = org.user_index(&account_id) else {
            return user_not_found(&account_id);
        };
        let outcome = org.add_member(g, u, now, Some(app.myself.account_id.clone()));
        let group = org.group(g);
        if outcome.is_ok() {
            app.stats.count_membership_write(&group.id, &account_id);
        }
        let body = json!({
            "name": group.name,
            "groupId": group.id,
            "self": format!("{}/rest/api/3/group?groupId={}", app.base_url, enc(&group.id)),
            "users": { "size": group.members.len(), "items": [], "max-results": 50, "start-index": 0, "end-index": 0 },
            "expand": "users",
        });
        outcome.map(|o| (o, body, group.name.clone()))
    };
    match result {
        Ok((WriteOutcome::Applied, body, _)) => {
            app.stats.writes_applied.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = app.persist().await {
                return error(StatusCode::INTERNAL_SERVER_ERROR, &e);
            }
            json_value(StatusCode::CREATED, &body)
        }
        Ok((WriteOutcome::Duplicate, _, group)) => {
            app.stats.duplicate_writes.fetch_add(1, Ordering::Relaxed);
            bad_request(format!(
                "Cannot add user. User is already a member of '{group}'"
            ))
        }
        Err(e) => write_refused(&app, e),
    }
}

/// `DELETE /rest/api/3/group/user`: 200 with no body.
pub async fn remove_user_from_group(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    try_resp!(authenticate(&app, &headers));
    let params = Params::from_uri(&uri);
    let Some(account_id) = params.get("accountId").filter(|a| !a.is_empty()) else {
        return field_error(
            StatusCode::BAD_REQUEST,
            "accountId",
            "accountId must be provided.",
        );
    };
    if account_id.len() > 128 {
        return field_error(
            StatusCode::BAD_REQUEST,
            "accountId",
            "accountId must be at most 128 characters.",
        );
    }
    let now = app.now();
    let result = {
        let mut org = app.org_mut();
        let (g, _) = try_resp!(resolve_group(&org, &params));
        let Some(u) = org.user_index(account_id) else {
            return user_not_found(account_id);
        };
        let name = org.group(g).name.clone();
        let group_id = org.group(g).id.clone();
        let outcome = org.remove_member(g, u, now, Some(app.myself.account_id.clone()));
        if outcome.is_ok() {
            app.stats.count_membership_write(&group_id, account_id);
        }
        outcome.map(|o| (o, name))
    };
    match result {
        Ok((WriteOutcome::Applied, _)) => {
            app.stats.writes_applied.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = app.persist().await {
                return error(StatusCode::INTERNAL_SERVER_ERROR, &e);
            }
            StatusCode::OK.into_response()
        }
        Ok((WriteOutcome::Duplicate, group)) => {
            app.stats.duplicate_writes.fetch_add(1, Ordering::Relaxed);
            bad_request(format!(
                "Cannot remove user '{account_id}' from group '{group}' since user is not a member of '{group}'"
            ))
        }
        Err(e) => write_refused(&app, e),
    }
}

fn group_json(app: &App, org: &super::model::Org, g: u32, expand_users: bool) -> serde_json::Value {
    let group = org.group(g);
    let shown: Vec<u32> = if expand_users {
        group.active_members.iter().copied().take(50).collect()
    } else {
        Vec::new()
    };
    let items: Vec<serde_json::Value> = shown
        .iter()
        .map(|&u| user_object(&app.base_url, org.user(u), false))
        .collect();
    json!({
        "name": group.name,
        "groupId": group.id,
        "self": format!("{}/rest/api/3/group?groupId={}", app.base_url, enc(&group.id)),
        "users": {
            "size": group.members.len(),
            "items": items,
            "max-results": 50,
            "start-index": 0,
            "end-index": shown.len().saturating_sub(1),
        },
        "expand": "users",
    })
}

/// `GET /rest/api/3/group` (deprecated upstream; use `group/member`).
pub async fn get_group(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    try_resp!(authenticate(&app, &headers));
    let params = Params::from_uri(&uri);
    let expand_users = params
        .get("expand")
        .is_some_and(|e| e.split(',').any(|x| x.trim().starts_with("users")));
    let org = app.org();
    let (g, _) = try_resp!(resolve_group(&org, &params));
    json_value(StatusCode::OK, &group_json(&app, &org, g, expand_users))
}

/// `POST /rest/api/3/group`: body `{"name": "..."}`; 201 with the `Group`.
pub async fn create_group(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers));
    if !is_json(&headers) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type: send the body as application/json.",
        );
    }
    let Ok(body) = body else {
        return bad_request("The request body could not be read.".into());
    };
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return bad_request(format!(
                "Unrecognized or malformed JSON in the request body: {e}"
            ))
        }
    };
    let name = match value.get("name") {
        Some(serde_json::Value::String(n)) if !n.trim().is_empty() && n.len() <= 255 => n.clone(),
        _ => {
            return field_error(
                StatusCode::BAD_REQUEST,
                "name",
                "You must specify a valid group name.",
            )
        }
    };
    let created = {
        let mut org = app.org_mut();
        match org.create_group(&name) {
            Some(g) => group_json(&app, &org, g, false),
            None => {
                return field_error(
                    StatusCode::BAD_REQUEST,
                    "name",
                    "A group with this name already exists.",
                )
            }
        }
    };
    app.stats.writes_applied.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = app.persist().await {
        return error(StatusCode::INTERNAL_SERVER_ERROR, &e);
    }
    json_value(StatusCode::CREATED, &created)
}

/// `DELETE /rest/api/3/group`: 200 with no body.
pub async fn remove_group(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    try_resp!(authenticate(&app, &headers));
    let params = Params::from_uri(&uri);
    if params.get("swapGroup").is_some() || params.get("swapGroupId").is_some() {
        return bad_request("The sandbox does not support swapGroup or swapGroupId.".into());
    }
    let result = {
        let mut org = app.org_mut();
        let (g, _) = try_resp!(resolve_group(&org, &params));
        org.delete_group(g)
    };
    match result {
        Ok(()) => {
            app.stats.writes_applied.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = app.persist().await {
                return error(StatusCode::INTERNAL_SERVER_ERROR, &e);
            }
            StatusCode::OK.into_response()
        }
        Err(e) => write_refused(&app, e),
    }
}

//! Organization (admin) REST API: directory user search (v2), last-active dates (v1), group
//! membership writes (v2) and the events stream (v1), with Bearer API-key auth and
//! `{"errors":[{id,status,code,title,detail}]}` error bodies.
//!
//! Choices where Atlassian documents nothing (see `docs/sandbox.md`):
//! - Membership add and remove answer **204** with no body. Adding an existing member and
//!   removing a non-member are idempotent no-ops that also answer 204 (counted as duplicate
//!   writes in `/__sandbox/stats`, no event recorded).
//! - `users/search` takes `limit` 1..=100 (default 50); larger values are a 400.
//! - `users/search` `cursor` and `events-stream` `cursor` are opaque strings; the cursor only
//!   marks a position, so resend the same filters with it.
//! - The directory holds `atlassian` and `app` accounts; JSM portal customers are not in it.
//! - `productAccess` lists the products a user holds (grant-group membership), keyed by the
//!   snapshot product keys (`jira-software`, `confluence`, ...), with `lastActiveTimestamp`
//!   when known. `last-active-dates` lists every product with recorded activity.
//! - `events-stream` takes `limit` 1..=500 (default 200, both as published; more is a 400 that
//!   names `limit`), `from`/`to` in epoch milliseconds, `sortOrder` `asc` (default) or `desc`.
//!   An org without Atlassian Guard ([`Org::guard`] false) answers **403** instead.

// Handlers bail out with a ready `Response` as their error; the size is irrelevant there.
#![allow(clippy::result_large_err)]

use super::jsonw;
use super::model::{Org, WriteError, WriteOutcome};
use super::server::{enc, is_json, json_bytes, json_value, same_secret, App, Params};
use crate::live::{AccountStatus, AccountType, EventAction, User};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// An admin API error body.
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

macro_rules! try_resp {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(resp) => return resp,
        }
    };
}

fn bad(app: &App, detail: &str) -> Response {
    error(
        app,
        StatusCode::BAD_REQUEST,
        "ADMIN-400",
        "Bad Request",
        detail,
    )
}

fn unsupported(app: &App) -> Response {
    error(
        app,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "ADMIN-415",
        "Unsupported Media Type",
        "Send the request body as application/json.",
    )
}

fn authenticate(app: &App, headers: &HeaderMap) -> Result<(), Response> {
    let unauthorized = || {
        error(
            app,
            StatusCode::UNAUTHORIZED,
            "ADMIN-401",
            "Unauthorized",
            "The API key is missing, invalid or expired. Send `Authorization: Bearer <API key>`.",
        )
    };
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let (scheme, key) = value.trim().split_once(' ').ok_or_else(unauthorized)?;
    if scheme.eq_ignore_ascii_case("bearer")
        && same_secret(key.trim(), &app.config.credentials.admin_api_key)
    {
        Ok(())
    } else {
        Err(unauthorized())
    }
}

fn check_org(app: &App, org: &Org, org_id: &str) -> Result<(), Response> {
    if org_id == org.org_id {
        Ok(())
    } else {
        Err(error(
            app,
            StatusCode::NOT_FOUND,
            "ADMIN-404-1",
            "Organization Not Found",
            &format!("No organization with id '{org_id}' is accessible with this API key."),
        ))
    }
}

fn check_directory(app: &App, org: &Org, directory_id: &str) -> Result<(), Response> {
    if directory_id == "-" || directory_id == org.directory_id {
        Ok(())
    } else {
        Err(error(
            app,
            StatusCode::NOT_FOUND,
            "ADMIN-UAM-404-2",
            "Directory Not Found",
            &format!("No directory with id '{directory_id}' in this organization."),
        ))
    }
}

fn path_error(app: &App) -> Response {
    bad(app, "The request path could not be decoded.")
}

fn in_directory(u: &User) -> bool {
    u.account_type != AccountType::Customer
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

fn product_ari(org: &Org, key: &str) -> String {
    format!("ari:cloud:{key}::site/{}", org.cloud_id)
}

/// Appends [`product_ari`] as a JSON string, without building it first.
fn write_product_ari(out: &mut Vec<u8>, org: &Org, key: &str) {
    jsonw::raw(out, "\"ari:cloud:");
    jsonw::escaped(out, key);
    jsonw::raw(out, "::site/");
    jsonw::escaped(out, &org.cloud_id);
    out.push(b'"');
}

/// Appends one `MultiDirectoryUser` (keys in serde_json's sorted order).
fn write_directory_user(
    out: &mut Vec<u8>,
    app: &App,
    org: &Org,
    u: u32,
    product_access: bool,
    groups: bool,
) {
    let user = org.user(u);
    let (status, account_status, membership_status) = statuses(user);
    jsonw::raw(out, "{\"accountId\":");
    jsonw::str(out, &user.account_id);
    jsonw::raw(out, ",\"accountStatus\":\"");
    jsonw::raw(out, account_status);
    jsonw::raw(out, "\",\"accountType\":\"");
    jsonw::raw(out, user.account_type.as_str());
    out.push(b'"');
    if let Some(t) = user.added_to_org {
        jsonw::raw(out, ",\"addedToOrg\":");
        jsonw::ts(out, t);
    }
    if let Some(email) = &user.email {
        jsonw::raw(out, ",\"email\":");
        jsonw::str(out, email);
        jsonw::raw(out, ",\"emailVerified\":true");
    }
    if groups {
        jsonw::raw(out, ",\"groups\":[");
        let mut first = true;
        for &g in &org.groups_by_name_order {
            if !org.is_member(g, u) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            let group = org.group(g);
            jsonw::raw(out, "{\"id\":");
            jsonw::str(out, &group.id);
            jsonw::raw(out, ",\"name\":");
            jsonw::str(out, &group.name);
            out.push(b'}');
        }
        out.push(b']');
    }
    jsonw::raw(out, ",\"links\":{\"self\":\"");
    jsonw::escaped(out, &app.base_url);
    jsonw::raw(out, "/admin/v2/orgs/");
    jsonw::escaped(out, &org.org_id);
    jsonw::raw(out, "/directories/");
    jsonw::escaped(out, &org.directory_id);
    jsonw::raw(out, "/users/");
    jsonw::enc(out, &user.account_id);
    jsonw::raw(out, "\"},\"membershipStatus\":\"");
    jsonw::raw(out, membership_status);
    jsonw::raw(out, "\",\"mfaEnabled\":false,\"name\":");
    jsonw::str(out, &user.name);
    jsonw::raw(out, ",\"nickname\":");
    jsonw::str(out, user.name.split_whitespace().next().unwrap_or(""));
    if product_access {
        jsonw::raw(out, ",\"productAccess\":[");
        let mut first = true;
        for (p, product) in org.products.iter().enumerate() {
            if !org.holds(p as u32, u) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            jsonw::raw(out, "{\"id\":");
            write_product_ari(out, org, &product.key);
            jsonw::raw(out, ",\"key\":");
            jsonw::str(out, &product.key);
            if let Some(t) = user.last_active.get(&product.key) {
                jsonw::raw(out, ",\"lastActiveTimestamp\":");
                jsonw::ts(out, *t);
            }
            out.push(b'}');
        }
        out.push(b']');
    }
    jsonw::raw(out, ",\"status\":\"");
    jsonw::raw(out, status);
    jsonw::raw(out, "\"}");
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

fn string_list(
    obj: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<String>>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("`{key}` must be an array of strings."))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("`{key}` must be an array of strings.")),
    }
}

/// The JSON object body of a search request (an empty body is `{}`), with fields other than
/// `known` refused, as the admin API does.
fn search_body(
    app: &App,
    headers: &HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
    known: &[&str],
) -> Result<serde_json::Map<String, Value>, Response> {
    let Ok(body) = body else {
        return Err(bad(app, "The request body could not be read."));
    };
    let empty = body.iter().all(u8::is_ascii_whitespace);
    if !empty && !is_json(headers) {
        return Err(unsupported(app));
    }
    let value: Value = if empty {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| bad(app, &format!("Malformed JSON in the request body: {e}")))?
    };
    let Value::Object(obj) = value else {
        return Err(bad(app, "The request body must be a JSON object."));
    };
    if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(bad(
            app,
            &format!(
                "Unknown field `{k}` in the request body (the sandbox supports: {}).",
                known.join(", ")
            ),
        ));
    }
    Ok(obj)
}

/// A search request's `limit`: 1 to 100, default 50.
fn page_limit(app: &App, obj: &serde_json::Map<String, Value>) -> Result<usize, Response> {
    match obj.get("limit") {
        None | Some(Value::Null) => Ok(50),
        Some(v) => match v.as_u64() {
            Some(n @ 1..=100) => Ok(n as usize),
            _ => Err(bad(app, "`limit` must be a whole number from 1 to 100.")),
        },
    }
}

/// Where a search request's `cursor` starts (0 without one).
fn page_start(
    app: &App,
    obj: &serde_json::Map<String, Value>,
    prefix: &str,
) -> Result<usize, Response> {
    match obj.get("cursor") {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(c)) => decode_cursor(prefix, c)
            .map(|n| n as usize)
            .ok_or_else(|| bad(app, "Invalid cursor.")),
        Some(_) => Err(bad(app, "`cursor` must be a string.")),
    }
}

/// `POST /admin/v2/orgs/{orgId}/directories/{directoryId}/users/search`.
pub async fn users_search(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers));
    let Ok(Path((org_id, directory_id))) = path else {
        return path_error(&app);
    };
    const KNOWN: &[&str] = &[
        "cursor",
        "limit",
        "accountIds",
        "emails",
        "searchTerm",
        "status",
        "accountStatus",
        "membershipStatus",
        "groupIds",
        "emailDomains",
        "directoryIds",
        "expand",
    ];
    let obj = &try_resp!(search_body(&app, &headers, body, KNOWN));
    let lists = (|| -> Result<_, String> {
        Ok((
            string_list(obj, "accountIds")?,
            string_list(obj, "emails")?,
            string_list(obj, "status")?,
            string_list(obj, "accountStatus")?,
            string_list(obj, "membershipStatus")?,
            string_list(obj, "groupIds")?,
            string_list(obj, "emailDomains")?,
            string_list(obj, "directoryIds")?,
            string_list(obj, "expand")?,
        ))
    })();
    let (
        account_ids,
        emails,
        status,
        account_status,
        membership_status,
        group_ids,
        domains,
        directory_ids,
        expand,
    ) = match lists {
        Ok(l) => l,
        Err(e) => return bad(&app, &e),
    };
    let limit = try_resp!(page_limit(&app, obj));
    let search_term = match obj.get("searchTerm") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.to_lowercase()),
        Some(_) => return bad(&app, "`searchTerm` must be a string."),
    };
    if search_term.is_some() && emails.is_some() {
        return bad(&app, "`emails` and `searchTerm` cannot be used together.");
    }
    let expand = expand.unwrap_or_default();
    for e in &expand {
        if !matches!(
            e.as_str(),
            "productAccess" | "groups" | "platformRoles" | "counts.resources"
        ) {
            return bad(&app, &format!("Unknown expand value `{e}` (productAccess, groups, platformRoles, counts.resources)."));
        }
    }
    let start = try_resp!(page_start(&app, obj, USER_CURSOR_PREFIX));
    let org = app.org();
    try_resp!(check_org(&app, &org, &org_id));
    try_resp!(check_directory(&app, &org, &directory_id));
    if let Some(ids) = &directory_ids {
        if ids.iter().any(|d| d != &org.directory_id) {
            return bad(
                &app,
                "`directoryIds` names a directory that is not in this organization.",
            );
        }
    }
    let group_filter: Option<Vec<u32>> = match &group_ids {
        None => None,
        Some(ids) => {
            let mut out = Vec::new();
            for id in ids {
                match org.group_index(id) {
                    Some(g) => out.push(g),
                    None => {
                        return error(
                            &app,
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
    let emails: Option<Vec<String>> = emails.map(|e| e.iter().map(|x| x.to_lowercase()).collect());
    let domains: Option<Vec<String>> =
        domains.map(|e| e.iter().map(|x| x.to_lowercase()).collect());
    let matches = |u: u32| -> bool {
        let user = org.user(u);
        if !in_directory(user) {
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
            && search_term.as_ref().is_none_or(|t| {
                user.name.to_lowercase().contains(t.as_str()) || email.contains(t.as_str())
            })
    };
    let want_products = expand.iter().any(|e| e == "productAccess");
    let want_groups = expand.iter().any(|e| e == "groups");
    let mut out = Vec::with_capacity(limit * 1024 + 128);
    jsonw::raw(&mut out, "{\"data\":[");
    let mut count = 0;
    let mut next = None;
    let n = org.users.len();
    let mut u = start;
    while u < n {
        if matches(u as u32) {
            if count == limit {
                next = Some(u);
                break;
            }
            if count > 0 {
                out.push(b',');
            }
            count += 1;
            write_directory_user(&mut out, &app, &org, u as u32, want_products, want_groups);
        }
        u += 1;
    }
    drop(org);
    jsonw::raw(&mut out, "],\"links\":{");
    if let Some(nx) = next {
        jsonw::raw(&mut out, "\"next\":");
        jsonw::str(&mut out, &encode_cursor(USER_CURSOR_PREFIX, nx as u64));
        out.push(b',');
    }
    jsonw::raw(&mut out, "\"self\":");
    jsonw::str(&mut out, &encode_cursor(USER_CURSOR_PREFIX, start as u64));
    jsonw::raw(&mut out, "}}");
    json_bytes(StatusCode::OK, out)
}

/// `POST /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/search`: groups by id or name
/// (exact, case-insensitive) or search term, cursor-paged, with `externalSynced` and
/// `managedBy` saying whether an identity provider syncs the group.
pub async fn groups_search(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers));
    let Ok(Path((org_id, directory_id))) = path else {
        return path_error(&app);
    };
    const KNOWN: &[&str] = &[
        "cursor",
        "limit",
        "groupIds",
        "groupNames",
        "searchTerm",
        "expand",
    ];
    let obj = &try_resp!(search_body(&app, &headers, body, KNOWN));
    let lists = (|| -> Result<_, String> {
        Ok((
            string_list(obj, "groupIds")?,
            string_list(obj, "groupNames")?,
        ))
    })();
    let (ids, names) = match lists {
        Ok(l) => l,
        Err(e) => return bad(&app, &e),
    };
    let names: Option<Vec<String>> = names.map(|n| n.iter().map(|x| x.to_lowercase()).collect());
    let term = match obj.get("searchTerm") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.to_lowercase()),
        Some(_) => return bad(&app, "`searchTerm` must be a string."),
    };
    let limit = try_resp!(page_limit(&app, obj));
    let start = try_resp!(page_start(&app, obj, GROUP_CURSOR_PREFIX));
    let org = app.org();
    try_resp!(check_org(&app, &org, &org_id));
    try_resp!(check_directory(&app, &org, &directory_id));
    let matching: Vec<&super::model::GroupRec> = org
        .groups
        .iter()
        .filter(|g| ids.as_ref().is_none_or(|ids| ids.contains(&g.id)))
        .filter(|g| {
            names
                .as_ref()
                .is_none_or(|ns| ns.contains(&g.name.to_lowercase()))
        })
        .filter(|g| {
            term.as_ref()
                .is_none_or(|t| g.name.to_lowercase().contains(t.as_str()))
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(limit)
        .map(|g| {
            json!({
                "id": g.id,
                "name": g.name,
                "description": "",
                "directoryId": org.directory_id,
                "externalSynced": g.synced,
                "managedBy": { "type": if g.synced { "EXTERNAL" } else { "ADMINS" } },
                "counts": { "users": g.members.len() },
                "links": { "self": format!("{}/admin/v2/orgs/{}/directories/{}/groups/{}", app.base_url, org.org_id, org.directory_id, g.id) },
            })
        })
        .collect();
    let mut links = json!({ "self": encode_cursor(GROUP_CURSOR_PREFIX, start as u64) });
    let next = start.saturating_add(limit);
    if next < matching.len() {
        links["next"] = json!(encode_cursor(GROUP_CURSOR_PREFIX, next as u64));
    }
    json_value(StatusCode::OK, &json!({ "data": page, "links": links }))
}

/// `GET /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates`.
pub async fn last_active_dates(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers));
    let Ok(Path((org_id, account_id))) = path else {
        return path_error(&app);
    };
    let org = app.org();
    try_resp!(check_org(&app, &org, &org_id));
    let Some(u) = org
        .user_index(&account_id)
        .filter(|&u| in_directory(org.user(u)))
    else {
        return error(
            &app,
            StatusCode::NOT_FOUND,
            "ADMIN-404-2",
            "User Not Found",
            &format!("User '{account_id}' is not in the organization directory."),
        );
    };
    let user = org.user(u);
    let product_access: Vec<Value> = user
        .last_active
        .iter()
        .map(|(key, t)| {
            json!({
                "id": product_ari(&org, key),
                "key": key,
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

fn membership_body(app: &App, body: &Bytes) -> Result<String, Response> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad(app, &format!("Malformed JSON in the request body: {e}")))?;
    match value.get("accountId") {
        Some(Value::String(a)) if !a.is_empty() => Ok(a.clone()),
        _ => Err(bad(
            app,
            "The request body must be {\"accountId\": \"<account id>\"}.",
        )),
    }
}

fn lookup_membership(
    app: &App,
    org: &Org,
    group_id: &str,
    account_id: &str,
) -> Result<(u32, u32), Response> {
    let g = org.group_index(group_id).ok_or_else(|| {
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
    Ok((g, u))
}

fn refused(app: &App, e: WriteError) -> Response {
    app.stats.refused_writes.fetch_add(1, Ordering::Relaxed);
    match e {
        WriteError::Synced { group } => error(
            app,
            StatusCode::FORBIDDEN,
            "ADMIN-UAM-403-4",
            "Group Synced From Identity Provider",
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

async fn finish_write(app: &Arc<App>, result: Result<WriteOutcome, WriteError>) -> Response {
    match result {
        Ok(WriteOutcome::Applied) => {
            app.stats.writes_applied.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = app.persist().await {
                return error(
                    app,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ADMIN-500",
                    "Internal Server Error",
                    &e,
                );
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(WriteOutcome::Duplicate) => {
            app.stats.duplicate_writes.fetch_add(1, Ordering::Relaxed);
            StatusCode::NO_CONTENT.into_response()
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
    try_resp!(authenticate(&app, &headers));
    let Ok(Path((org_id, directory_id, group_id))) = path else {
        return path_error(&app);
    };
    let Ok(body) = body else {
        return bad(&app, "The request body could not be read.");
    };
    if !is_json(&headers) {
        return unsupported(&app);
    }
    let account_id = try_resp!(membership_body(&app, &body));
    let now = app.now();
    let result = {
        let mut org = app.org_mut();
        try_resp!(check_org(&app, &org, &org_id));
        try_resp!(check_directory(&app, &org, &directory_id));
        let (g, u) = try_resp!(lookup_membership(&app, &org, &group_id, &account_id));
        org.add_member(g, u, now, None)
    };
    finish_write(&app, result).await
}

/// `DELETE /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships/{accountId}`.
pub async fn remove_membership(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    path: Result<Path<(String, String, String, String)>, axum::extract::rejection::PathRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers));
    let Ok(Path((org_id, directory_id, group_id, account_id))) = path else {
        return path_error(&app);
    };
    let now = app.now();
    let result = {
        let mut org = app.org_mut();
        try_resp!(check_org(&app, &org, &org_id));
        try_resp!(check_directory(&app, &org, &directory_id));
        let (g, u) = try_resp!(lookup_membership(&app, &org, &group_id, &account_id));
        org.remove_member(g, u, now, None)
    };
    finish_write(&app, result).await
}

const EVENT_CURSOR_PREFIX: &str = "sbxe1.";

/// Appends `"email":…,` and `"id":…` and `,"name":…` of a user reference, `null` where the
/// account is unknown (keys in sorted order, `id` in the middle).
fn write_user_ref(out: &mut Vec<u8>, user: Option<&User>, id: &str) {
    jsonw::raw(out, "\"email\":");
    jsonw::opt_str(out, user.and_then(|u| u.email.as_deref()));
    jsonw::raw(out, ",\"id\":");
    jsonw::str(out, id);
    jsonw::raw(out, ",\"name\":");
    jsonw::opt_str(out, user.map(|u| u.name.as_str()));
}

/// Appends one event of the events stream (keys in serde_json's sorted order).
fn write_event(out: &mut Vec<u8>, app: &App, org: &Org, e: &super::model::EventRec) {
    let user = org.user_index(&e.account_id).map(|u| org.user(u));
    jsonw::raw(out, "{\"attributes\":{\"action\":\"");
    jsonw::raw(out, e.action.as_str());
    jsonw::raw(out, "\",\"actor\":{");
    match (&e.actor, e.action) {
        (Some(a), _) => {
            let u = org.user_index(a).map(|u| org.user(u));
            jsonw::raw(out, "\"auth\":{\"authType\":\"api-token\"},");
            write_user_ref(out, u, a);
        }
        (None, EventAction::UserAddedToGroup | EventAction::UserRemovedFromGroup) => {
            jsonw::raw(
                out,
                "\"auth\":{\"authType\":\"api-token\"},\"id\":\"admin-api-key\",\"name\":\"Organization API key\"",
            );
        }
        (None, _) => write_user_ref(out, user, &e.account_id),
    }
    jsonw::raw(out, "},\"container\":[{\"id\":");
    jsonw::str(out, &org.org_id);
    jsonw::raw(
        out,
        ",\"type\":\"organizations\"}],\"context\":[{\"attributes\":{\"accountId\":",
    );
    jsonw::str(out, &e.account_id);
    jsonw::raw(out, ",\"email\":");
    jsonw::opt_str(out, user.and_then(|u| u.email.as_deref()));
    jsonw::raw(out, ",\"name\":");
    jsonw::opt_str(out, user.map(|u| u.name.as_str()));
    jsonw::raw(out, "},\"id\":");
    jsonw::str(out, &e.account_id);
    jsonw::raw(out, ",\"type\":\"users\"}");
    if let Some(gid) = &e.group_id {
        let name = org.group_index(gid).map(|g| org.group(g).name.as_str());
        jsonw::raw(out, ",{\"attributes\":{\"groupId\":");
        jsonw::str(out, gid);
        jsonw::raw(out, ",\"groupName\":");
        jsonw::opt_str(out, name);
        jsonw::raw(out, "},\"id\":");
        jsonw::str(out, gid);
        jsonw::raw(out, ",\"type\":\"groups\"}");
    }
    if let Some(p) = &e.product {
        jsonw::raw(out, ",{\"attributes\":{\"productKey\":");
        jsonw::str(out, p);
        jsonw::raw(out, "},\"id\":");
        write_product_ari(out, org, p);
        jsonw::raw(out, ",\"type\":\"products\"}");
    }
    jsonw::raw(out, "],\"location\":{\"ip\":\"127.0.0.1\"},\"time\":");
    jsonw::ts(out, e.time);
    let id = format!("{:016x}", e.id);
    jsonw::raw(out, "},\"id\":\"");
    jsonw::raw(out, &id);
    jsonw::raw(out, "\",\"links\":{\"self\":\"");
    jsonw::escaped(out, &app.base_url);
    jsonw::raw(out, "/admin/v1/orgs/");
    jsonw::escaped(out, &org.org_id);
    jsonw::raw(out, "/events/");
    jsonw::raw(out, &id);
    jsonw::raw(out, "\"},\"type\":\"events\"}");
}

/// The events stream's largest page (`limit` maximum in the published spec).
pub const EVENTS_PAGE_MAX: usize = 500;
/// The events stream's page size when `limit` is not given (the published default).
pub const EVENTS_PAGE_DEFAULT: usize = 200;

/// `GET /admin/v1/orgs/{orgId}/events-stream`.
pub async fn events_stream(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    try_resp!(authenticate(&app, &headers));
    let Ok(Path(org_id)) = path else {
        return path_error(&app);
    };
    let params = Params::from_uri(&uri);
    let int = |k: &str| -> Result<Option<i64>, Response> {
        match params.get(k) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                bad(
                    &app,
                    &format!("`{k}` must be a time in epoch milliseconds."),
                )
            }),
        }
    };
    let from = try_resp!(int("from"));
    let to = try_resp!(int("to"));
    let limit = match params.get("limit") {
        None => EVENTS_PAGE_DEFAULT,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=EVENTS_PAGE_MAX).contains(&n) => n,
            _ => {
                return bad(
                    &app,
                    &format!("`limit` must be a whole number from 1 to {EVENTS_PAGE_MAX}."),
                )
            }
        },
    };
    let desc = match params.get("sortOrder") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return bad(&app, "`sortOrder` must be asc or desc."),
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
                None => return bad(&app, "Invalid cursor."),
            }
        }
    };
    let org = app.org();
    try_resp!(check_org(&app, &org, &org_id));
    if !org.guard {
        return error(
            &app,
            StatusCode::FORBIDDEN,
            "ADMIN-403",
            "Forbidden",
            "This organization has no Atlassian Guard subscription: its audit log events are \
             not available through the API.",
        );
    }
    let in_window = |e: &&super::model::EventRec| {
        let ms = e.time.timestamp_millis();
        from.is_none_or(|f| ms >= f) && to.is_none_or(|t| ms <= t)
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
                .filter(in_window)
                .filter(past_cursor)
                .take(limit + 1),
        );
    } else {
        page.extend(
            org.events
                .iter()
                .filter(in_window)
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
    let base_query = |cursor: Option<&str>| {
        let mut q = vec![
            format!("limit={limit}"),
            format!("sortOrder={}", if desc { "desc" } else { "asc" }),
        ];
        if let Some(f) = from {
            q.push(format!("from={f}"));
        }
        if let Some(t) = to {
            q.push(format!("to={t}"));
        }
        if let Some(c) = cursor {
            q.push(format!("cursor={}", enc(c)));
        }
        format!(
            "{}/admin/v1/orgs/{}/events-stream?{}",
            app.base_url,
            org.org_id,
            q.join("&")
        )
    };
    let mut out = Vec::with_capacity(page.len() * 1024 + 512);
    jsonw::raw(&mut out, "{\"data\":[");
    for (i, e) in page.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_event(&mut out, &app, &org, e);
    }
    jsonw::raw(&mut out, "],\"links\":{");
    if let Some(c) = &next_cursor {
        jsonw::raw(&mut out, "\"next\":");
        jsonw::str(&mut out, &base_query(Some(c)));
        out.push(b',');
    }
    jsonw::raw(&mut out, "\"self\":");
    jsonw::str(&mut out, &base_query(params.get("cursor")));
    jsonw::raw(&mut out, "},\"meta\":{\"next\":");
    jsonw::opt_str(&mut out, next_cursor.as_deref());
    jsonw::raw(&mut out, ",\"page_size\":");
    jsonw::num(&mut out, page.len());
    jsonw::raw(&mut out, "}}");
    json_bytes(StatusCode::OK, out)
}

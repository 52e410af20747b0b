//! Control endpoints under `/__sandbox` (no auth, no rate limit, no faults): request
//! statistics, the state snapshot, event and activity injection, and the clock.
//!
//! - `GET /__sandbox/stats`: request counts per `METHOD /route`, responses per status, 429s,
//!   injected faults, writes applied, duplicate writes (adds of existing members, removes of
//!   non-members), refused writes, membership writes per (group, account) (how many were
//!   written again), and the API requests in flight.
//! - `GET /__sandbox/state`: the state in the snapshot format (DESIGN §5.1).
//! - `POST /__sandbox/events`: `{"action": "user_logged_in" | "access_requested",
//!   "account_id": "...", "product": "jira-software", "time": "RFC 3339"}`; `product` is
//!   required for access requests and refused on a login (a login is an event of the account,
//!   never product activity); `time` defaults to the sandbox clock. Answers 201 with the stored
//!   event. Events never move last-active times.
//! - `POST /__sandbox/activity`: `{"account_id": "...", "product": "jira-software", "time":
//!   "RFC 3339"}` records activity on a product of the org: the user's last-active time for it
//!   becomes the later of the stored one and `time` (default: the sandbox clock). Answers 201
//!   with `{account_id, product, last_active}`, the time now stored.
//! - `GET /__sandbox/clock`, `POST /__sandbox/clock`: `{"set": "RFC 3339"}` or
//!   `{"advance": "30d"}` (units `m`, `h`, `d`, `w`). Answers `{"now": ...}`.
//! - `GET /__sandbox/requests`: the request log, every API request received (the latest
//!   100,000), oldest first: `[{method, path, query: [[key, value]], body, time}]`.
//! - `POST /__sandbox/script`: queues a scripted answer for tests ([`super::script`]); 204.

use super::model::EventRec;
use super::server::{json_text, json_value, App};
use crate::live::EventAction;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// A control-endpoint error body.
pub fn error(status: StatusCode, message: &str) -> Response {
    json_value(status, &json!({ "error": message }))
}

/// A control request's JSON body, or the 400 that says why it is not one (`what` names it).
fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
    what: &str,
) -> Result<T, Box<Response>> {
    let Ok(body) = body else {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        )));
    };
    serde_json::from_slice(&body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            &format!("invalid {what}: {e}"),
        ))
    })
}

/// `GET /__sandbox/requests`.
pub async fn requests(State(app): State<Arc<App>>) -> Response {
    match serde_json::to_string(&app.recorded_requests()) {
        Ok(text) => json_text(StatusCode::OK, text),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// `GET /__sandbox/mail`: every message the mail sink accepted, oldest first.
pub async fn mail(State(app): State<Arc<App>>) -> Response {
    match serde_json::to_string(&app.mailbox.messages()) {
        Ok(text) => json_text(StatusCode::OK, text),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// `POST /__sandbox/script`.
pub async fn script(
    State(app): State<Arc<App>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    match json_body(body, "scripted answer") {
        Ok(answer) => {
            app.script.push(answer);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(refused) => *refused,
    }
}

/// `GET /__sandbox/stats`.
pub async fn stats(State(app): State<Arc<App>>) -> Response {
    json_value(StatusCode::OK, &app.stats.to_json())
}

/// `GET /__sandbox/state`.
pub async fn state(State(app): State<Arc<App>>) -> Response {
    let now = app.now();
    let snapshot = app.org().snapshot(now);
    match serde_json::to_string(&snapshot) {
        Ok(text) => json_text(StatusCode::OK, text),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InjectEvent {
    action: EventAction,
    #[serde(alias = "accountId")]
    account_id: String,
    #[serde(default)]
    product: Option<String>,
    #[serde(default)]
    time: Option<DateTime<Utc>>,
}

/// `POST /__sandbox/events`.
pub async fn inject_event(
    State(app): State<Arc<App>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let req: InjectEvent = match json_body(body, "event") {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    if !matches!(
        req.action,
        EventAction::UserLoggedIn | EventAction::AccessRequested
    ) {
        return error(
            StatusCode::BAD_REQUEST,
            "only user_logged_in and access_requested can be injected; group events come from writes",
        );
    }
    if req.action == EventAction::AccessRequested && req.product.is_none() {
        return error(StatusCode::BAD_REQUEST, "access_requested needs a product");
    }
    if req.action == EventAction::UserLoggedIn && req.product.is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            "a login is an event of the account, not of a product: send it without `product`, \
             and record product activity with POST /__sandbox/activity \
             {\"account_id\", \"product\", \"time\"}",
        );
    }
    let time = req.time.unwrap_or_else(|| app.now());
    let stored = {
        let mut org = app.org_mut();
        if org.user_index(&req.account_id).is_none() {
            return error(
                StatusCode::NOT_FOUND,
                &format!("no account `{}` in the sandbox", req.account_id),
            );
        }
        org.inject_event(EventRec {
            id: 0,
            time,
            action: req.action,
            account_id: req.account_id,
            product: req.product,
            group_id: None,
            actor: None,
        })
    };
    if let Err(e) = app.persist().await {
        return error(StatusCode::INTERNAL_SERVER_ERROR, &e);
    }
    json_value(
        StatusCode::CREATED,
        &json!({
            "id": stored.id,
            "time": stored.time.to_rfc3339_opts(SecondsFormat::Secs, true),
            "action": stored.action.as_str(),
            "account_id": stored.account_id,
            "product": stored.product,
        }),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordActivity {
    #[serde(alias = "accountId")]
    account_id: String,
    product: String,
    #[serde(default)]
    time: Option<DateTime<Utc>>,
}

/// `POST /__sandbox/activity`.
pub async fn record_activity(
    State(app): State<Arc<App>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let req: RecordActivity = match json_body(body, "activity") {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    let time = req.time.unwrap_or_else(|| app.now());
    let stored = {
        let mut org = app.org_mut();
        let Some(u) = org.user_index(&req.account_id) else {
            return error(
                StatusCode::NOT_FOUND,
                &format!("no account `{}` in the sandbox", req.account_id),
            );
        };
        if org.product_index(&req.product).is_none() {
            let known: Vec<&str> = org.products().iter().map(|p| p.key.as_str()).collect();
            return error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "`{}` is not a product of this org; its products are: {}",
                    req.product,
                    known.join(", ")
                ),
            );
        }
        org.record_activity(u, &req.product, time)
    };
    if let Err(e) = app.persist().await {
        return error(StatusCode::INTERNAL_SERVER_ERROR, &e);
    }
    json_value(
        StatusCode::CREATED,
        &json!({
            "account_id": req.account_id,
            "product": req.product,
            "last_active": stored.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        }),
    )
}

fn now_json(app: &App) -> Response {
    json_value(
        StatusCode::OK,
        &json!({ "now": app.now().to_rfc3339_opts(SecondsFormat::Secs, true) }),
    )
}

/// `GET /__sandbox/clock`.
pub async fn clock(State(app): State<Arc<App>>) -> Response {
    now_json(&app)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockRequest {
    #[serde(default)]
    set: Option<DateTime<Utc>>,
    #[serde(default)]
    advance: Option<String>,
}

/// `POST /__sandbox/clock`.
pub async fn set_clock(
    State(app): State<Arc<App>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let req: ClockRequest = match json_body(body, "clock request") {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    let advance = match req.advance.as_deref().map(crate::time::Duration::parse) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    {
        let mut clock = app.clock.lock().unwrap_or_else(|e| e.into_inner());
        match (req.set, advance) {
            (Some(t), None) => clock.set(t),
            (None, Some(d)) => {
                if !clock.advance(d.to_chrono()) {
                    return error(StatusCode::BAD_REQUEST, "that moves the clock out of range");
                }
            }
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "send exactly one of {\"set\": \"RFC 3339 time\"} or {\"advance\": \"30d\"}",
                )
            }
        }
    }
    now_json(&app)
}

//! Scripted answers, a test control: `POST /__sandbox/script` queues an answer for the next
//! request (or the next `times` requests) whose line ([`RecordedRequest::line`]) contains
//! `match`, so a client test can meet what the sandbox never says on its own: a given status or
//! body, a lost answer, a truncated, padded, slow or endless body.
//!
//! A scripted answer only replaces the answer to a request the sandbox accepts: the request is
//! authenticated, within the rate limits and, on the admin API, keeps to the published spec
//! (otherwise the usual refusal is sent and the script waits). It never makes the sandbox
//! accept a request it would refuse. What a scripted body says is the test's business: it is
//! sent verbatim, unchecked against the spec.
//!
//! [`RecordedRequest::line`]: super::server::RecordedRequest::line

use super::faults::SlowBody;
use super::server::{api_error, json_value, Api, App, ConnControl};
use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// One queued answer (the body of `POST /__sandbox/script`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scripted {
    /// Applies to requests whose line (`METHOD /path?query`, the query decoded) contains this.
    #[serde(rename = "match")]
    pub matches: String,
    /// How many requests it answers (default 1).
    #[serde(default = "one")]
    pub times: u32,
    /// Answer with this status instead of the handler's answer.
    #[serde(default)]
    pub status: Option<u16>,
    /// With `status`: this JSON body (default: the API's error body for the status).
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Extra response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Something the connection suffers instead of a plain answer.
    #[serde(default)]
    pub fault: Option<ScriptFault>,
    /// Wait this long before answering.
    #[serde(default)]
    pub latency_ms: u64,
    /// Pad the body with spaces to this many bytes (still the same JSON).
    #[serde(default)]
    pub pad_to: Option<usize>,
}

fn one() -> u32 {
    1
}

/// What a scripted answer does to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptFault {
    /// Reset the connection before the handler runs: the request is lost.
    Reset,
    /// Run the handler (a write lands), then reset the connection: the answer is lost.
    ResetAfter,
    /// Announce the whole body, send half, then drop the connection.
    Truncate,
    /// Announce a 10 GiB body with `Content-Length` and stream spaces.
    HugeBody,
    /// Stream the body in eight chunks, 200 ms apart.
    SlowBody,
}

/// The queue of scripted answers.
#[derive(Debug, Default)]
pub struct Script(Mutex<Vec<Scripted>>);

impl Script {
    /// Queues `answer` behind the ones already queued.
    pub fn push(&self, answer: Scripted) {
        if answer.times > 0 {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(answer);
        }
    }

    /// The first queued answer that matches `line`, used up once.
    pub fn take(&self, line: &str) -> Option<Scripted> {
        let mut queue = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let i = queue.iter().position(|s| line.contains(&s.matches))?;
        queue[i].times -= 1;
        Some(if queue[i].times == 0 {
            queue.remove(i)
        } else {
            queue[i].clone()
        })
    }
}

/// Answers one request as `s` says.
pub async fn answer(
    app: &App,
    api: Api,
    req: axum::extract::Request,
    next: Next,
    s: Scripted,
) -> Response {
    if s.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(s.latency_ms)).await;
    }
    let control = req.extensions().get::<ConnControl>().cloned();
    let path = req.uri().path().to_string();
    let mut resp = match (s.fault, s.status) {
        (Some(ScriptFault::Reset | ScriptFault::ResetAfter), _) => {
            if s.fault == Some(ScriptFault::ResetAfter) {
                let _ = next.run(req).await;
            }
            if let Some(control) = control {
                control.reset().await;
            }
            return StatusCode::BAD_GATEWAY.into_response();
        }
        (_, Some(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            match &s.body {
                Some(body) => json_value(status, body),
                None => api_error(
                    app,
                    api,
                    &path,
                    status,
                    "The sandbox answered as scripted (POST /__sandbox/script).",
                ),
            }
        }
        (_, None) => next.run(req).await,
    };
    for (k, v) in &s.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    if s.pad_to.is_none() && s.fault.is_none() {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let mut bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default()
        .to_vec();
    if let Some(size) = s.pad_to {
        bytes.resize(size.max(bytes.len()), b' ');
    }
    let length = |n: u64| HeaderValue::from(n);
    let body = match s.fault {
        Some(ScriptFault::Truncate) => {
            parts.headers.insert(
                axum::http::header::CONTENT_LENGTH,
                length(bytes.len() as u64),
            );
            let half = Bytes::from(bytes[..bytes.len() / 2].to_vec());
            Body::from_stream(futures_util::stream::iter([
                Ok(half),
                Err(std::io::Error::other("truncated as scripted")),
            ]))
        }
        Some(ScriptFault::HugeBody) => {
            parts
                .headers
                .insert(axum::http::header::CONTENT_LENGTH, length(10 << 30));
            let filler = Bytes::from(vec![b' '; 1 << 20]);
            Body::from_stream(futures_util::stream::iter(
                (0..10_240).map(move |_| Ok::<_, std::io::Error>(filler.clone())),
            ))
        }
        Some(ScriptFault::SlowBody) => {
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            SlowBody::body(Bytes::from(bytes), Duration::from_millis(200))
        }
        _ => {
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            Body::from(bytes)
        }
    };
    Response::from_parts(parts, body)
}

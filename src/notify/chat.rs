//! Chat digests through incoming webhooks: Slack, Microsoft Teams, or our own JSON.
//!
//! The webhook URL is the credential (whoever has it can post to the channel), so it is held
//! as a [`Secret`] and every error or `Debug` output names its host only.
//!
//! Payloads:
//! - [`ChatFormat::Slack`]: Slack's incoming-webhook message, `{"text", "blocks"}`: `text` is
//!   the notification fallback, `blocks` a `header` block and one `section` block (mrkdwn) per
//!   [`DigestSection`], within Slack's documented limits (50 blocks, 150 characters in a header,
//!   3,000 in a section's text).
//! - [`ChatFormat::Teams`]: an Adaptive Card (version 1.4) in a `message` attachment, the shape
//!   Microsoft documents for Teams incoming webhooks and the Workflows "post to a channel when
//!   a webhook request is received" trigger that replaces Office 365 connectors; the legacy
//!   MessageCard is not accepted by Workflows, so it is not used.
//! - [`ChatFormat::Json`]: our own shape, for anything else (a relay, a ticketing hook):
//!   `{"source": "seatkeeper", "version": 1, "title": "...", "sections": [{"heading": "...",
//!   "count": 3, "lines": ["..."]}]}`, every line included.

use super::{is_loopback_host, Delivery, Pacer, RetryPolicy};
use crate::atlassian::retry::RateLimitInfo;
use crate::atlassian::Secret;
pub use crate::messages::{Digest, DigestSection};
pub use crate::policy::notify::ChatFormat;
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};
use std::fmt;
use std::time::Duration;

/// A problem with the webhook settings. The URL itself is never repeated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    /// The URL does not parse or has no host.
    #[error("the chat webhook url is not usable: {0}")]
    Url(String),
    /// Plain `http://` to a host that is not loopback: the URL, a credential, would cross the
    /// network in the clear.
    #[error("the chat webhook at {host} uses http://; only https:// is allowed (http:// only to a loopback host)")]
    PlainHttp {
        /// The host (and port) the URL names.
        host: String,
    },
    /// A scheme other than http/https.
    #[error("the chat webhook url's scheme is `{0}`: expected https://")]
    Scheme(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Lines listed per section in Slack and Teams; the rest are counted ("… and 12 more"). A
/// digest is a summary; the full list is in the JSON format and the audit log.
const MAX_LINES: usize = 25;
/// Slack: at most 50 blocks, 150 characters in a header, 3,000 in a section's text.
const SLACK_MAX_BLOCKS: usize = 50;
const SLACK_MAX_HEADER: usize = 150;
const SLACK_MAX_SECTION: usize = 3000;

impl ChatFormat {
    /// The JSON body posted for `post`.
    pub fn payload(self, post: &Digest) -> Value {
        match self {
            ChatFormat::Slack => slack_payload(post),
            ChatFormat::Teams => teams_payload(post),
            ChatFormat::Json => json!({
                "source": "seatkeeper",
                "version": 1,
                "title": post.title,
                "sections": post.sections.iter().map(|s| json!({
                    "heading": s.heading,
                    "count": s.count,
                    "lines": s.lines,
                })).collect::<Vec<_>>(),
            }),
        }
    }
}

/// "Reclaimed: 12, Warned: 3": the one-line summary (Slack's notification text).
fn counts(post: &Digest) -> String {
    post.sections
        .iter()
        .map(|s| format!("{}: {}", s.heading, s.count))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The lines to list, and how many more the section counts beyond them.
fn listed(section: &DigestSection) -> (&[String], usize) {
    let shown = &section.lines[..section.lines.len().min(MAX_LINES)];
    (shown, section.count.max(section.lines.len()) - shown.len())
}

/// Slack's three mrkdwn control characters (Slack's "escaping text" rules).
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Cuts `text` to at most `max` characters, ending with "…" when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn slack_payload(post: &Digest) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": clip(&post.title, SLACK_MAX_HEADER), "emoji": true},
    })];
    // One block for the header, one kept for the note on sections left out.
    let room = SLACK_MAX_BLOCKS - 2;
    for section in post.sections.iter().take(room) {
        let (shown, more) = listed(section);
        let mut text = format!("*{}* ({})", slack_escape(&section.heading), section.count);
        for line in shown {
            text.push_str("\n• ");
            text.push_str(&slack_escape(line));
        }
        if more > 0 {
            text.push_str(&format!("\n… and {more} more"));
        }
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip(&text, SLACK_MAX_SECTION)},
        }));
    }
    if post.sections.len() > room {
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("… and {} more sections", post.sections.len() - room)}],
        }));
    }
    let summary = counts(post);
    let text = if summary.is_empty() {
        post.title.clone()
    } else {
        format!("{} ({summary})", post.title)
    };
    json!({"text": slack_escape(&text), "blocks": blocks})
}

fn teams_payload(post: &Digest) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock", "text": post.title, "weight": "Bolder", "size": "Medium", "wrap": true,
    })];
    if !post.sections.is_empty() {
        body.push(json!({
            "type": "FactSet",
            "facts": post.sections.iter().map(|s| json!({"title": s.heading, "value": s.count.to_string()})).collect::<Vec<_>>(),
        }));
    }
    for section in &post.sections {
        let (shown, more) = listed(section);
        if shown.is_empty() && more == 0 {
            continue;
        }
        body.push(json!({
            "type": "TextBlock", "text": format!("{} ({})", section.heading, section.count),
            "weight": "Bolder", "wrap": true, "spacing": "Medium",
        }));
        // Adaptive Cards' markdown subset: "- " lines make a bulleted list.
        let mut text: Vec<String> = shown.iter().map(|l| format!("- {l}")).collect();
        if more > 0 {
            text.push(format!("… and {more} more"));
        }
        body.push(json!({"type": "TextBlock", "text": text.join("\n"), "wrap": true}));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}

/// Posts [`Digest`]s to one webhook.
pub struct Chat {
    client: reqwest::Client,
    url: Secret,
    /// `host[:port]`, the only part of the URL any output shows.
    host: String,
    format: ChatFormat,
    retry: RetryPolicy,
    pacer: Pacer,
}

impl fmt::Debug for Chat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chat")
            .field("host", &self.host)
            .field("format", &self.format)
            .field("retry", &self.retry)
            .field("pacer", &self.pacer)
            .finish_non_exhaustive()
    }
}

impl Chat {
    /// Checks the URL (https, or http to a loopback host) and builds the client: 10 s timeout,
    /// no redirects (a webhook that redirects is misconfigured, and following it would send the
    /// digest somewhere unchecked), the default retries and pacing (one post a second, Slack's
    /// documented webhook rate).
    pub fn new(url: Secret, format: ChatFormat) -> Result<Chat, ChatError> {
        // The parse error of `url` names no part of it (url's errors are kinds, not echoes).
        let parsed = Url::parse(url.expose().trim()).map_err(|e| ChatError::Url(e.to_string()))?;
        let host_name = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| ChatError::Url("no host".to_string()))?;
        let host = match parsed.port() {
            Some(port) => format!("{host_name}:{port}"),
            None => host_name.to_string(),
        };
        match parsed.scheme() {
            "https" => {}
            "http" if is_loopback_host(host_name) => {}
            "http" => return Err(ChatError::PlainHttp { host }),
            other => return Err(ChatError::Scheme(other.to_string())),
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("seatkeeper/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ChatError::Client(e.without_url().to_string()))?;
        Ok(Chat {
            client,
            url,
            host,
            format,
            retry: RetryPolicy::default(),
            pacer: Pacer::default(),
        })
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Chat {
        self.retry = RetryPolicy {
            attempts: retry.attempts.max(1),
            ..retry
        };
        self
    }

    /// Replaces the pacer.
    pub fn with_pacer(mut self, pacer: Pacer) -> Chat {
        self.pacer = pacer;
        self
    }

    /// The webhook's host (and port, when the URL names one).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The format posted.
    pub fn format(&self) -> ChatFormat {
        self.format
    }

    /// Posts `post`: waits for the pacer, then tries up to the retry budget. 5xx answers, 429
    /// and network errors are retried (a 429's or 503's `Retry-After` is honoured, capped at
    /// the policy's `max_wait`); any other 4xx is permanent at once (a revoked webhook, a
    /// payload the service refuses). A 2xx is [`Delivery::Accepted`] with the status and body.
    pub async fn post(&self, post: &Digest) -> Delivery {
        let payload = self.format.payload(post);
        self.pacer.wait().await;
        let mut attempt = 1;
        loop {
            let (failure, retry_after) = match self
                .client
                .post(self.url.expose().trim())
                .json(&payload)
                .send()
                .await
            {
                Ok(response) => {
                    let status = response.status();
                    let retry_after =
                        RateLimitInfo::from_headers(response.headers(), chrono::Utc::now())
                            .retry_after;
                    let body = response.text().await.unwrap_or_default();
                    let body = self.scrub(clip(body.trim(), 200));
                    if status.is_success() {
                        let reply = format!("{} {body}", status.as_u16());
                        return Delivery::Accepted {
                            reply: reply.trim().to_string(),
                        };
                    }
                    let retry = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
                    let mut text = format!("chat webhook at {} answered {status}", self.host);
                    if !body.is_empty() {
                        text.push_str(&format!(": {body}"));
                    }
                    (Failure { retry, text }, retry_after)
                }
                Err(error) => {
                    let what = if error.is_timeout() {
                        "timed out posting to"
                    } else {
                        "cannot reach"
                    };
                    let text = format!(
                        "{what} chat webhook at {}: {}",
                        self.host,
                        self.scrub(innermost(&error.without_url()))
                    );
                    (Failure { retry: true, text }, None)
                }
            };
            if !failure.retry || attempt >= self.retry.attempts {
                let mut error = failure.text;
                if attempt > 1 {
                    error.push_str(&format!(" (after {attempt} attempts)"));
                }
                return Delivery::Failed {
                    permanent: !failure.retry,
                    error,
                };
            }
            let wait = retry_after
                .map(|ra| ra.min(self.retry.max_wait))
                .unwrap_or_else(|| self.retry.wait_after(attempt));
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Removes the URL, and its path (the secret part), from `text`, should a service or an
    /// error echo them.
    fn scrub(&self, text: String) -> String {
        let url = self.url.expose().trim();
        let mut text = text.replace(url, "***");
        if let Ok(parsed) = Url::parse(url) {
            let path = parsed.path();
            if path.len() > 1 {
                text = text.replace(path, "/***");
            }
            if let Some(query) = parsed.query().filter(|q| !q.is_empty()) {
                text = text.replace(query, "***");
            }
        }
        text
    }
}

struct Failure {
    retry: bool,
    text: String,
}

/// The innermost cause of `error` ("Connection refused"), or the error itself.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post() -> Digest {
        Digest {
            title: "seatkeeper: 2 Jira seats reclaimed".into(),
            sections: vec![
                DigestSection {
                    heading: "Reclaimed".into(),
                    count: 30,
                    lines: (0..30)
                        .map(|i| format!("user{i} <u{i}@example.com> & co"))
                        .collect(),
                },
                DigestSection {
                    heading: "Failed".into(),
                    count: 0,
                    lines: vec![],
                },
            ],
        }
    }

    #[test]
    fn slack_escapes_and_summarises() {
        let payload = ChatFormat::Slack.payload(&post());
        assert_eq!(
            payload["text"],
            "seatkeeper: 2 Jira seats reclaimed (Reclaimed: 30, Failed: 0)"
        );
        assert_eq!(payload["blocks"][0]["type"], "header");
        let section = payload["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(section.starts_with("*Reclaimed* (30)\n• user0 &lt;u0@example.com&gt; &amp; co"));
        assert!(section.ends_with("\n… and 5 more"), "{section}");
        assert_eq!(payload["blocks"][2]["text"]["text"], "*Failed* (0)");
    }

    #[test]
    fn slack_stays_within_its_limits() {
        let many = Digest {
            title: "t".repeat(400),
            sections: (0..80)
                .map(|i| DigestSection {
                    heading: format!("s{i}"),
                    count: 1,
                    lines: vec!["x".repeat(5000)],
                })
                .collect(),
        };
        let payload = ChatFormat::Slack.payload(&many);
        let blocks = payload["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), SLACK_MAX_BLOCKS);
        assert_eq!(
            blocks[0]["text"]["text"].as_str().unwrap().chars().count(),
            SLACK_MAX_HEADER
        );
        assert!(blocks[1..49]
            .iter()
            .all(|b| b["text"]["text"].as_str().unwrap().chars().count() <= SLACK_MAX_SECTION));
        assert_eq!(blocks[49]["elements"][0]["text"], "… and 32 more sections");
    }

    #[test]
    fn json_keeps_every_line() {
        let payload = ChatFormat::Json.payload(&post());
        assert_eq!(payload["source"], "seatkeeper");
        assert_eq!(
            payload["sections"][0]["lines"].as_array().unwrap().len(),
            30
        );
        assert_eq!(payload["sections"][1]["count"], 0);
    }

    #[test]
    fn the_url_is_checked_and_never_shown() {
        let secret = "https://hooks.slack.com/services/T0/B0/s3cretPart";
        let chat = Chat::new(Secret::new(secret), ChatFormat::Slack).unwrap();
        assert_eq!(chat.host(), "hooks.slack.com");
        assert!(!format!("{chat:?}").contains("s3cret"));
        assert_eq!(
            chat.scrub(format!("error for {secret} at /services/T0/B0/s3cretPart")),
            "error for *** at /***"
        );

        let err = Chat::new(
            Secret::new("http://hooks.example.com/services/s3cretPart"),
            ChatFormat::Slack,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ChatError::PlainHttp {
                host: "hooks.example.com".into()
            }
        );
        assert!(!err.to_string().contains("s3cret"));
        assert!(Chat::new(Secret::new("http://127.0.0.1:9/x"), ChatFormat::Json).is_ok());
        let err = Chat::new(Secret::new("not a url s3cret"), ChatFormat::Json).unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = Chat::new(Secret::new("ftp://h/s3cret"), ChatFormat::Json).unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}

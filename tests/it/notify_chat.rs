//! `notify::chat` against a real HTTP receiver on loopback (`notify_support::webhook`): the
//! Slack and Teams payload shapes as received, `Retry-After` on 429, the retry budget on 5xx,
//! no retry on other 4xx, and the webhook URL (a credential) kept out of every error.

#![allow(clippy::unwrap_used)]

use crate::notify_support::webhook::{Receiver, Reply};
use seatkeeper::atlassian::Secret;
use seatkeeper::notify::{
    Chat, ChatError, ChatFormat, Delivery, Digest, DigestSection, Pacer, RetryPolicy,
};
use std::time::Duration;

/// The secret part of a webhook URL, as Slack issues them.
const SECRET_PATH: &str = "/services/T0001/B0002/XXXXsecretXXXX";

fn digest() -> Digest {
    Digest {
        title: "seatkeeper: 2 Jira seats reclaimed on acme".into(),
        sections: vec![
            DigestSection {
                heading: "Reclaimed".into(),
                count: 2,
                lines: vec![
                    "Zoë Ärger <zoe@example.com>: inactive 120 days".into(),
                    "Bo <bo@example.com>: left the company".into(),
                ],
            },
            DigestSection {
                heading: "Warned".into(),
                count: 1,
                lines: vec!["Ana <ana@example.com>: reclaim on 2026-12-10".into()],
            },
        ],
    }
}

fn chat(receiver: &Receiver, format: ChatFormat) -> Chat {
    Chat::new(Secret::new(receiver.url(SECRET_PATH)), format)
        .unwrap()
        .with_pacer(Pacer::off())
        .with_retry(RetryPolicy {
            attempts: 3,
            backoff: Duration::from_millis(20),
            max_wait: Duration::from_secs(5),
        })
}

fn failed(delivery: Delivery) -> (bool, String) {
    match delivery {
        Delivery::Failed { permanent, error } => (permanent, error),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn slack_payload_as_received() {
    let receiver = Receiver::start(vec![Reply::ok()]).await;
    let delivery = chat(&receiver, ChatFormat::Slack).post(&digest()).await;
    assert_eq!(
        delivery,
        Delivery::Accepted {
            reply: "200 ok".into()
        }
    );
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, SECRET_PATH);
    assert!(received[0].content_type.starts_with("application/json"));
    let body = &received[0].body;
    assert_eq!(
        body["text"],
        "seatkeeper: 2 Jira seats reclaimed on acme (Reclaimed: 2, Warned: 1)"
    );
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(
        blocks[0]["text"]["text"],
        "seatkeeper: 2 Jira seats reclaimed on acme"
    );
    assert_eq!(blocks[1]["type"], "section");
    assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
    assert_eq!(
        blocks[1]["text"]["text"],
        "*Reclaimed* (2)\n• Zoë Ärger &lt;zoe@example.com&gt;: inactive 120 days\n• Bo &lt;bo@example.com&gt;: left the company"
    );
}

#[tokio::test]
async fn teams_adaptive_card_as_received() {
    // Teams' Workflows webhooks answer 202 with an empty body.
    let receiver = Receiver::start(vec![Reply::status(202, "")]).await;
    let delivery = chat(&receiver, ChatFormat::Teams).post(&digest()).await;
    assert_eq!(
        delivery,
        Delivery::Accepted {
            reply: "202".into()
        }
    );
    let body = &receiver.received()[0].body;
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    let blocks = card["body"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "TextBlock");
    assert_eq!(
        blocks[0]["text"],
        "seatkeeper: 2 Jira seats reclaimed on acme"
    );
    assert_eq!(blocks[1]["type"], "FactSet");
    assert_eq!(
        blocks[1]["facts"],
        serde_json::json!([{"title": "Reclaimed", "value": "2"}, {"title": "Warned", "value": "1"}])
    );
    assert_eq!(blocks[2]["text"], "Reclaimed (2)");
    assert_eq!(
        blocks[3]["text"],
        "- Zoë Ärger <zoe@example.com>: inactive 120 days\n- Bo <bo@example.com>: left the company"
    );
}

#[tokio::test]
async fn json_payload_as_received() {
    let receiver = Receiver::start(vec![]).await;
    assert!(chat(&receiver, ChatFormat::Json)
        .post(&digest())
        .await
        .is_accepted());
    let body = &receiver.received()[0].body;
    assert_eq!(body["source"], "seatkeeper");
    assert_eq!(body["version"], 1);
    assert_eq!(body["sections"][1]["heading"], "Warned");
    assert_eq!(body["sections"][1]["count"], 1);
}

#[tokio::test]
async fn a_429_waits_for_retry_after_then_delivers_once() {
    let receiver = Receiver::start(vec![
        Reply {
            status: 429,
            retry_after: Some("1".into()),
            body: "rate_limited".into(),
        },
        Reply::ok(),
    ])
    .await;
    let delivery = chat(&receiver, ChatFormat::Slack).post(&digest()).await;
    assert!(delivery.is_accepted(), "{delivery:?}");
    let received = receiver.received();
    assert_eq!(received.len(), 2, "one refused post, one delivered");
    let waited = received[1].at - received[0].at;
    // Retry-After (1 s) was honoured, not the policy's 20 ms backoff.
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
}

#[tokio::test]
async fn retry_after_is_capped_by_the_policy() {
    let receiver = Receiver::start(vec![
        Reply {
            status: 503,
            retry_after: Some("3600".into()),
            body: String::new(),
        },
        Reply::ok(),
    ])
    .await;
    let chat = chat(&receiver, ChatFormat::Slack).with_retry(RetryPolicy {
        attempts: 2,
        backoff: Duration::from_millis(10),
        max_wait: Duration::from_millis(50),
    });
    let started = std::time::Instant::now();
    assert!(chat.post(&digest()).await.is_accepted());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_500_forever_fails_after_the_budget_naming_host_and_status_only() {
    let receiver = Receiver::start(vec![Reply::status(
        500,
        &format!("internal error for {SECRET_PATH}"),
    )])
    .await;
    let delivery = chat(&receiver, ChatFormat::Slack).post(&digest()).await;
    let everything = format!("{delivery:?}");
    let (permanent, error) = failed(delivery);
    eprintln!("the error: {error}");
    assert!(!permanent);
    assert!(
        error.starts_with(&format!(
            "chat webhook at {} answered 500 Internal Server Error",
            receiver.addr
        )),
        "{error}"
    );
    assert!(error.ends_with("(after 3 attempts)"), "{error}");
    assert!(!everything.contains("secret"), "{everything}");
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn another_4xx_is_permanent_at_once() {
    let receiver = Receiver::start(vec![Reply::status(404, "no_service")]).await;
    let (permanent, error) = failed(chat(&receiver, ChatFormat::Slack).post(&digest()).await);
    assert!(permanent);
    assert_eq!(
        error,
        format!(
            "chat webhook at {} answered 404 Not Found: no_service",
            receiver.addr
        )
    );
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn an_unreachable_webhook_names_the_host_not_the_url() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let chat = Chat::new(
        Secret::new(format!("http://127.0.0.1:{port}{SECRET_PATH}")),
        ChatFormat::Json,
    )
    .unwrap()
    .with_pacer(Pacer::off())
    .with_retry(RetryPolicy {
        attempts: 2,
        backoff: Duration::from_millis(10),
        max_wait: Duration::from_millis(10),
    });
    let (permanent, error) = failed(chat.post(&digest()).await);
    eprintln!("the error: {error}");
    assert!(!permanent);
    assert!(
        error.starts_with(&format!("cannot reach chat webhook at 127.0.0.1:{port}: ")),
        "{error}"
    );
    assert!(
        !error.contains("secret") && !error.contains("/services"),
        "{error}"
    );
    assert!(error.ends_with("(after 2 attempts)"), "{error}");
}

#[test]
fn plain_http_is_refused_unless_loopback() {
    let err = Chat::new(
        Secret::new(format!("http://hooks.example.com{SECRET_PATH}")),
        ChatFormat::Slack,
    )
    .unwrap_err();
    assert_eq!(
        err,
        ChatError::PlainHttp {
            host: "hooks.example.com".into()
        }
    );
    assert!(!err.to_string().contains("secret"), "{err}");
    for ok in [
        format!("https://hooks.example.com{SECRET_PATH}"),
        format!("http://localhost:8080{SECRET_PATH}"),
        format!("http://[::1]:8080{SECRET_PATH}"),
    ] {
        assert!(
            Chat::new(Secret::new(ok.clone()), ChatFormat::Teams).is_ok(),
            "{ok}"
        );
    }
}

/// The digest the README shows is the one seatkeeper posts: the `examples/acme` plan at the
/// walk-through's time, with its `reclaim-soon` emails sent, in the JSON format.
#[test]
fn the_readme_shows_the_digest_as_posted() {
    use seatkeeper::ledger::Ledger;
    use seatkeeper::planner::{self, PlanInput};
    let root = crate::support::root();
    let acme = root.join("examples/acme");
    let mut policy = seatkeeper::files::load_policy_dir(&acme).unwrap().policy;
    policy.notify = Some(seatkeeper::policy::notify::Notify {
        email: Some(seatkeeper::policy::notify::Email {
            smtp: "smtp://mail.acme.com:587".into(),
            from: "Acme IT <it@acme.com>".into(),
            reply_to: None,
        }),
        chat: Some(ChatFormat::Json),
        before_reclaim: true,
        after_reclaim: true,
        digest: true,
        templates: Default::default(),
        rate: Default::default(),
    });
    let live = seatkeeper::files::load_snapshot(&acme.join("snapshot.json")).unwrap();
    let ledger = Ledger::parse_jsonl(std::fs::read(acme.join("audit/seatkeeper.jsonl")).unwrap());
    let plan = planner::plan(&PlanInput {
        policy: &policy,
        live: &live,
        ledger: &ledger,
        now: live.taken_at,
        actor: None,
        policy_commit: None,
        allow_mass_removal: false,
    });
    let settings = policy.notify.as_ref().unwrap();
    let (due, _) = seatkeeper::messages::reclaim_soon_emails(&plan, &policy, &ledger, settings);
    let sent: Vec<_> = due.iter().collect();
    let digest = seatkeeper::messages::plan_digest(&plan, &sent, &[]);
    let posted = serde_json::to_string_pretty(&ChatFormat::Json.payload(&digest)).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let shown = readme
        .split("```json digest\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README has a ```json digest block");
    assert_eq!(
        shown.trim_end(),
        posted,
        "README's digest differs from what is posted"
    );

    // And the email it shows is chen's, as `notify --dry-run` prints it.
    let chen = due
        .iter()
        .map(|d| &d.email)
        .find(|e| e.to == "chen@acme.com")
        .unwrap();
    let printed = format!(
        "To: {} <{}>\nSubject: {}\nMessage-ID: <{}>\n\n{}",
        chen.to_name.as_deref().unwrap(),
        chen.to,
        chen.subject,
        chen.message_id,
        chen.body.trim_end()
    );
    let shown = readme
        .split("```text email\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README has a ```text email block");
    assert_eq!(
        shown.trim_end(),
        printed,
        "README's email differs from what is sent"
    );
}

//! `notify::mail` against a real SMTP server (aiosmtpd on loopback, see `notify_support`):
//! delivery read back from the server, STARTTLS and SMTPS with a private root, TLS and AUTH
//! failures, an unreachable server, 4xx retries and 5xx refusals. Skipped (loudly) only with
//! `SEATKEEPER_SKIP_SMTP=1`.

#![allow(clippy::unwrap_used)]

use crate::notify_support::{smtp_tests_enabled, SmtpOptions, SmtpServer, TestCert};
use seatkeeper::atlassian::Secret;
use seatkeeper::notify::mail::{PASSWORD_VAR, USERNAME_VAR};
use seatkeeper::notify::{Delivery, Email, Mailer, Pacer, RetryPolicy, SmtpSettings, TlsMode};
use std::time::{Duration, Instant};

const PASSWORD: &str = "pw-Zq81-never-shown";

fn settings(url: String) -> SmtpSettings {
    let mut settings = SmtpSettings::new(url, "Seat Keeper <seats@example.com>");
    settings.reply_to = Some("IT Help Desk <help@example.com>".into());
    settings.timeout = Duration::from_secs(5);
    // Fast retries: the tests check how many attempts were made, not how long they waited.
    settings.retry = RetryPolicy {
        attempts: 3,
        backoff: Duration::from_millis(20),
        max_wait: Duration::from_millis(100),
    };
    settings
}

fn mailer(settings: &SmtpSettings) -> Mailer {
    Mailer::new(settings).unwrap().with_pacer(Pacer::off())
}

fn email() -> Email {
    Email {
        to: "zoe@example.com".into(),
        to_name: Some("Zoë Ärger".into()),
        subject: "Ihre Jira-Lizenz läuft ab — in 3 Tagen".into(),
        body: "Hallo Zoë,\n\nIhr Jira-Sitz wird am 2026-12-10 freigegeben. 🪑\nÜbrigens: ≥ 90 Tage inaktiv.\n"
            .into(),
        message_id: "sk-0123abcd@seatkeeper".into(),
    }
}

fn with_credentials(mut settings: SmtpSettings, user: &str, password: &str) -> SmtpSettings {
    let (user, password) = (user.to_string(), password.to_string());
    settings = settings.credentials_from(move |name| match name {
        USERNAME_VAR => Some(user.clone()),
        PASSWORD_VAR => Some(password.clone()),
        _ => None,
    });
    settings
}

fn failed(delivery: Delivery) -> (bool, String) {
    match delivery {
        Delivery::Failed { permanent, error } => (permanent, error),
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn header<'a>(message: &'a serde_json::Value, name: &str) -> &'a str {
    message["headers"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} header in {message}"))
}

#[tokio::test]
async fn delivered_and_read_back_with_headers_and_utf8_body() {
    if !smtp_tests_enabled("notify_mail::delivered_and_read_back_with_headers_and_utf8_body") {
        return;
    }
    let server = SmtpServer::start(&SmtpOptions::default());
    let mailer = mailer(&settings(server.url("smtp")));
    // A loopback server without STARTTLS: plain text is allowed there, and only there.
    assert_eq!(mailer.tls_mode(), TlsMode::Opportunistic);

    let delivery = mailer.send(&email()).await;
    let Delivery::Accepted { reply } = delivery else {
        panic!("not delivered: {delivery:?}")
    };
    assert!(
        reply.starts_with("250") && reply.contains("queued as Q000001"),
        "{reply}"
    );

    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m["mail_from"], "seats@example.com");
    assert_eq!(m["rcpt_tos"], serde_json::json!(["zoe@example.com"]));
    assert_eq!(header(m, "From"), "Seat Keeper <seats@example.com>");
    assert_eq!(header(m, "To"), "Zoë Ärger <zoe@example.com>");
    assert_eq!(header(m, "Reply-To"), "IT Help Desk <help@example.com>");
    assert_eq!(
        header(m, "Subject"),
        "Ihre Jira-Lizenz läuft ab — in 3 Tagen"
    );
    assert_eq!(header(m, "Message-ID"), "<sk-0123abcd@seatkeeper>");
    assert_eq!(header(m, "Auto-Submitted"), "auto-generated");
    let content_type = header(m, "Content-Type");
    assert!(
        content_type.starts_with("text/plain") && content_type.contains("utf-8"),
        "{m}"
    );
    let body = m["body"].as_str().unwrap().replace("\r\n", "\n");
    assert_eq!(body.trim_end(), email().body.trim_end());
    assert_eq!(m["tls"], false);
}

#[tokio::test]
async fn starttls_with_a_private_root_and_auth() {
    if !smtp_tests_enabled("notify_mail::starttls_with_a_private_root_and_auth") {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let cert = TestCert::generate(certs.path());
    let server = SmtpServer::start(&SmtpOptions {
        starttls: Some(cert.clone()),
        auth: Some(("alice".into(), PASSWORD.into())),
        ..SmtpOptions::default()
    });
    let mut settings = with_credentials(settings(server.url("smtp")), "alice", PASSWORD);
    settings.extra_root_cert = Some(cert.cert_pem.into_bytes());
    let delivery = mailer(&settings).send(&email()).await;
    assert!(delivery.is_accepted(), "{delivery:?}");

    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["tls"], true, "STARTTLS was used");
    assert_eq!(messages[0]["authenticated"], true);
    assert_eq!(messages[0]["login"], "alice");
}

#[tokio::test]
async fn smtps_with_a_private_root() {
    if !smtp_tests_enabled("notify_mail::smtps_with_a_private_root") {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let cert = TestCert::generate(certs.path());
    let server = SmtpServer::start(&SmtpOptions {
        implicit_tls: Some(cert.clone()),
        ..SmtpOptions::default()
    });
    let mut settings = settings(server.url("smtps"));
    settings.extra_root_cert = Some(cert.cert_pem.into_bytes());
    let mailer = mailer(&settings);
    assert_eq!(mailer.tls_mode(), TlsMode::Implicit);
    let delivery = mailer.send(&email()).await;
    assert!(delivery.is_accepted(), "{delivery:?}");
    assert_eq!(server.messages()[0]["tls"], true);
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error_and_nothing_is_sent() {
    if !smtp_tests_enabled(
        "notify_mail::an_untrusted_certificate_is_a_tls_error_and_nothing_is_sent",
    ) {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(&SmtpOptions {
        starttls: Some(TestCert::generate(certs.path())),
        ..SmtpOptions::default()
    });
    // The client is not told about the server's root: STARTTLS is offered, so it is used even on
    // loopback, and the handshake must fail rather than fall back to plain text.
    let (permanent, error) = failed(mailer(&settings(server.url("smtp"))).send(&email()).await);
    eprintln!("the error: {error}");
    assert!(!permanent);
    assert!(
        error.starts_with("TLS handshake with 127.0.0.1 failed: "),
        "{error}"
    );
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert!(
        !error.contains("attempts"),
        "a TLS failure is not retried: {error}"
    );
    assert_eq!(server.data_attempts(), 0);
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_wrong_password_names_the_user_and_never_the_password() {
    if !smtp_tests_enabled("notify_mail::a_wrong_password_names_the_user_and_never_the_password") {
        return;
    }
    let server = SmtpServer::start(&SmtpOptions {
        auth: Some(("alice".into(), "the-right-one".into())),
        ..SmtpOptions::default()
    });
    let settings = with_credentials(settings(server.url("smtp")), "alice", PASSWORD);
    let mailer = mailer(&settings);
    let delivery = mailer.send(&email()).await;
    let everything = format!("{delivery:?} {settings:?} {mailer:?}");
    let (permanent, error) = failed(delivery);
    eprintln!("the error: {error}");
    assert!(!permanent, "the settings failed, not the message");
    assert!(
        error.starts_with("authentication failed for user alice at 127.0.0.1:"),
        "{error}"
    );
    assert!(error.contains("535"), "{error}");
    assert!(
        !error.contains("attempts"),
        "auth failures are not retried: {error}"
    );
    assert!(!everything.contains(PASSWORD), "{everything}");
    assert_eq!(server.data_attempts(), 0);

    // The right password goes through the same server.
    let settings = with_credentials(settings.clone(), "alice", "the-right-one");
    assert!(Mailer::new(&settings)
        .unwrap()
        .with_pacer(Pacer::off())
        .send(&email())
        .await
        .is_accepted());
}

#[tokio::test]
async fn no_credentials_for_a_server_that_requires_them() {
    if !smtp_tests_enabled("notify_mail::no_credentials_for_a_server_that_requires_them") {
        return;
    }
    let server = SmtpServer::start(&SmtpOptions {
        auth: Some(("alice".into(), "x".into())),
        ..SmtpOptions::default()
    });
    let (_, error) = failed(mailer(&settings(server.url("smtp"))).send(&email()).await);
    assert!(error.contains("requires authentication"), "{error}");
    assert!(error.contains(USERNAME_VAR), "{error}");
}

#[tokio::test]
async fn an_unreachable_server_fails_clearly_within_the_timeout() {
    // No server at all: a port that was just free on loopback.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut settings = settings(format!("smtp://127.0.0.1:{port}"));
    settings.retry.attempts = 2;
    let started = Instant::now();
    let (permanent, error) = failed(mailer(&settings).send(&email()).await);
    eprintln!("the error: {error}");
    assert!(
        started.elapsed() < settings.timeout,
        "{:?}",
        started.elapsed()
    );
    assert!(!permanent);
    assert!(
        error.starts_with(&format!("cannot connect to 127.0.0.1:{port}: ")),
        "{error}"
    );
    assert!(
        error.ends_with("(after 2 attempts)"),
        "connection errors are retried: {error}"
    );
}

#[tokio::test]
async fn a_server_that_never_greets_times_out() {
    // Accepts connections and says nothing: a wrong port, or a stuck relay.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut settings = settings(format!("smtp://127.0.0.1:{port}"));
    settings.timeout = Duration::from_millis(300);
    settings.retry.attempts = 2;
    let started = Instant::now();
    let (permanent, error) = failed(mailer(&settings).send(&email()).await);
    eprintln!("the error: {error}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(!permanent);
    assert_eq!(
        error,
        format!(
            "127.0.0.1:{port} accepted the connection but sent no SMTP greeting within 300ms (after 2 attempts)"
        )
    );
    holder.abort();
}

#[tokio::test]
async fn a_4xx_is_retried_and_the_message_delivered_once() {
    if !smtp_tests_enabled("notify_mail::a_4xx_is_retried_and_the_message_delivered_once") {
        return;
    }
    let server = SmtpServer::start(&SmtpOptions {
        transient: 2,
        ..SmtpOptions::default()
    });
    let delivery = mailer(&settings(server.url("smtp"))).send(&email()).await;
    assert!(delivery.is_accepted(), "{delivery:?}");
    assert_eq!(server.data_attempts(), 3);
    assert_eq!(server.messages().len(), 1);

    // One 4xx too many for the budget: a transient failure, named with its reply.
    let server = SmtpServer::start(&SmtpOptions {
        transient: 5,
        ..SmtpOptions::default()
    });
    let (permanent, error) = failed(mailer(&settings(server.url("smtp"))).send(&email()).await);
    assert!(!permanent);
    assert!(error.contains("deferred the message: 451"), "{error}");
    assert!(error.ends_with("(after 3 attempts)"), "{error}");
    assert_eq!(server.data_attempts(), 3);
}

#[tokio::test]
async fn a_5xx_is_permanent_after_one_attempt() {
    if !smtp_tests_enabled("notify_mail::a_5xx_is_permanent_after_one_attempt") {
        return;
    }
    let server = SmtpServer::start(&SmtpOptions {
        reject: true,
        ..SmtpOptions::default()
    });
    let (permanent, error) = failed(mailer(&settings(server.url("smtp"))).send(&email()).await);
    assert!(permanent);
    assert!(
        error.starts_with(&format!(
            "127.0.0.1:{} refused the message: 554",
            server.port
        )),
        "{error}"
    );
    assert!(error.contains("rejected by policy"), "{error}");
    assert_eq!(server.data_attempts(), 1);
    assert!(server.messages().is_empty());
}

#[test]
fn a_from_that_is_not_an_address_is_refused_by_name() {
    let err = Mailer::new(&SmtpSettings::new(
        "smtp://127.0.0.1:2525",
        "Seat Keeper <not an address>",
    ))
    .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("`from` is not a mailbox"), "{text}");
    assert!(text.contains("Seat Keeper <not an address>"), "{text}");
}

#[test]
fn plain_smtp_to_a_remote_host_must_use_starttls() {
    // The decision alone, with no network: lettre then refuses to go on when the server does
    // not offer STARTTLS, and Mailer::send reports it.
    assert_eq!(
        TlsMode::for_server("smtp", "smtp.example.com").unwrap(),
        TlsMode::Required
    );
    assert_eq!(
        TlsMode::for_server("smtp", "192.168.1.20").unwrap(),
        TlsMode::Required
    );
    assert_eq!(
        TlsMode::for_server("smtp", "::1").unwrap(),
        TlsMode::Opportunistic
    );
    let mailer = Mailer::new(&SmtpSettings::new(
        "smtp://relay.example.com:25",
        "seats@example.com",
    ))
    .unwrap();
    assert_eq!(mailer.tls_mode(), TlsMode::Required);
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let settings = SmtpSettings {
        username: Some(Secret::new("alice")),
        password: Some(Secret::new(PASSWORD)),
        ..SmtpSettings::new("smtps://smtp.example.com", "seats@example.com")
    };
    let shown = format!("{settings:?} {:?}", Mailer::new(&settings).unwrap());
    assert!(!shown.contains(PASSWORD), "{shown}");
}

//! Email over SMTP with `lettre` (tokio, rustls; no OpenSSL).
//!
//! [`Mailer::new`] checks the settings before anything is sent: the URL's scheme, the `from`
//! and `reply_to` mailboxes, the credentials, the extra root certificate. Transport security
//! follows [`TlsMode::for_server`]: `smtps://` is TLS from the first byte; `smtp://` must
//! upgrade with STARTTLS, except to a loopback host, where it upgrades when the server offers
//! it. [`Mailer::send`] paces, retries transient failures and returns a [`Delivery`]; its error
//! texts name what failed (the server's `host:port`, the user) and never the password.

use super::{is_loopback_host, Delivery, Pacer, RetryPolicy};
use crate::atlassian::Secret;
use lettre::address::Envelope;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use lettre::transport::smtp::Error as SmtpError;
use lettre::{Address, Message};
use reqwest::Url;
use std::fmt;
use std::time::Duration;

/// The environment variable that holds the SMTP user name.
pub const USERNAME_VAR: &str = "SEATKEEPER_SMTP_USERNAME";
/// The environment variable that holds the SMTP password.
pub const PASSWORD_VAR: &str = "SEATKEEPER_SMTP_PASSWORD";

/// Where and how to send mail.
#[derive(Clone)]
pub struct SmtpSettings {
    /// `smtp://host[:port]` (STARTTLS; port 587 by default) or `smtps://host[:port]` (implicit
    /// TLS; port 465 by default). Credentials do not go here: see [`USERNAME_VAR`].
    pub url: String,
    /// The sender, `"Name <address>"` or a bare address.
    pub from: String,
    /// Where replies go, when not to `from` (a no-reply sender with a help-desk reply address).
    pub reply_to: Option<String>,
    /// The SMTP AUTH user (from [`USERNAME_VAR`]).
    pub username: Option<Secret>,
    /// The SMTP AUTH password (from [`PASSWORD_VAR`]).
    pub password: Option<Secret>,
    /// How long each step of opening a session may take (the TCP connect, the greeting and
    /// EHLO, the STARTTLS handshake); a whole attempt, sending included, gets four times this.
    pub timeout: Duration,
    /// A PEM root certificate trusted besides the public web roots: for relays whose certificate
    /// a private CA issued (common inside companies), and for tests' self-signed servers.
    pub extra_root_cert: Option<Vec<u8>>,
    /// How transient failures are retried.
    pub retry: RetryPolicy,
}

impl SmtpSettings {
    /// Settings for `url` and `from`, with no credentials, a 30 s timeout and the default retries.
    pub fn new(url: impl Into<String>, from: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            from: from.into(),
            reply_to: None,
            username: None,
            password: None,
            timeout: Duration::from_secs(30),
            extra_root_cert: None,
            retry: RetryPolicy::default(),
        }
    }

    /// Reads the credentials through `lookup` (the CLI passes the environment; tests pass a
    /// map), from [`USERNAME_VAR`] and [`PASSWORD_VAR`]. Empty values count as unset. Nothing
    /// else in this module reads the environment.
    pub fn credentials_from(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let read = |name: &str| lookup(name).filter(|v| !v.is_empty()).map(Secret::new);
        self.username = read(USERNAME_VAR);
        self.password = read(PASSWORD_VAR);
        self
    }
}

impl fmt::Debug for SmtpSettings {
    // By hand: the URL is shown without any user info (which Mailer::new refuses anyway, but a
    // mistyped settings value may be logged before that), and the secrets as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("url", &url_without_userinfo(&self.url))
            .field("from", &self.from)
            .field("reply_to", &self.reply_to)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("timeout", &self.timeout)
            .field(
                "extra_root_cert",
                &self.extra_root_cert.as_ref().map(Vec::len),
            )
            .field("retry", &self.retry)
            .finish()
    }
}

fn url_without_userinfo(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "(not a URL)".to_string(),
    }
}

pub use crate::messages::Email;

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp://` to a host that is not loopback: STARTTLS or no delivery, so neither the
    /// password nor the mail crosses a network in plain text.
    Required,
    /// `smtp://` to a loopback host: STARTTLS when the server offers it, plain text otherwise.
    Opportunistic,
}

impl TlsMode {
    /// The mode for a URL scheme and host, or an error for a scheme other than smtp/smtps.
    pub fn for_server(scheme: &str, host: &str) -> Result<TlsMode, MailError> {
        match scheme {
            "smtps" => Ok(TlsMode::Implicit),
            "smtp" if is_loopback_host(host) => Ok(TlsMode::Opportunistic),
            "smtp" => Ok(TlsMode::Required),
            other => Err(MailError::Scheme(other.to_string())),
        }
    }
}

/// A settings problem found by [`Mailer::new`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The URL does not parse or has no host. The URL itself is not repeated: it may hold a
    /// password.
    #[error("the SMTP url is not usable: {0} (expected smtp://host:port or smtps://host:port)")]
    Url(String),
    /// A scheme other than smtp/smtps.
    #[error("the SMTP url's scheme is `{0}`: only smtp:// (STARTTLS) and smtps:// (implicit TLS) are supported")]
    Scheme(String),
    /// A mailbox setting that does not parse.
    #[error("`{field}` is not a mailbox (\"Name <address>\" or an address): {value:?}: {reason}")]
    Mailbox {
        /// The setting: `from` or `reply_to`.
        field: &'static str,
        /// What it held.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A user without a password, credentials in the URL, and the like.
    #[error("SMTP credentials: {0}")]
    Credentials(String),
    /// The extra root certificate is not usable.
    #[error("the extra root certificate is not usable: {0}")]
    Certificate(String),
}

/// Sends [`Email`]s through one SMTP server. Each message opens its own connection: a
/// notification run sends a few messages a second at most, and a fresh connection makes every
/// attempt independent (a retry never inherits a half-broken session).
///
/// The session is driven through lettre's connection API rather than its transport, to own the
/// socket: lettre writes a message's body and its terminating `.` in two writes, and with
/// Nagle's algorithm on the second waits for the server's delayed ACK (40 ms on Linux) on
/// every message; the transport offers no way to set `TCP_NODELAY`.
pub struct Mailer {
    /// `host:port`, the name every error uses.
    server: String,
    host: String,
    port: u16,
    tls: TlsMode,
    tls_parameters: TlsParameters,
    credentials: Option<Credentials>,
    /// EHLO name: the machine's host name (strict relays refuse `EHLO localhost`).
    hello: ClientId,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    /// For error texts ("authentication failed for user X"); the user name is not the secret.
    username: Option<String>,
    /// Only to scrub it from any error text, in case a server echoes it back.
    password: Option<Secret>,
    timeout: Duration,
    retry: RetryPolicy,
    pacer: Pacer,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("tls", &self.tls)
            .field("from", &self.from.to_string())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("retry", &self.retry)
            .field("pacer", &self.pacer)
            .finish_non_exhaustive()
    }
}

/// Marks notices as machine-sent (RFC 3834), so out-of-office responders do not answer them.
#[derive(Debug, Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}

impl Mailer {
    /// Checks `settings` and prepares the transport; nothing is sent and no connection is made.
    /// Sends are paced at the default rate (one a second); see [`Mailer::with_pacer`].
    pub fn new(settings: &SmtpSettings) -> Result<Mailer, MailError> {
        let url = Url::parse(settings.url.trim()).map_err(|e| MailError::Url(e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(MailError::Credentials(format!(
                "the url holds a user or password; put them in {USERNAME_VAR} and {PASSWORD_VAR}"
            )));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| MailError::Url("no host".to_string()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tls = TlsMode::for_server(url.scheme(), &host)?;
        let port = url.port().unwrap_or(match tls {
            TlsMode::Implicit => 465,
            TlsMode::Required | TlsMode::Opportunistic => 587,
        });
        let server = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };

        let from = parse_mailbox("from", &settings.from)?;
        let reply_to = settings
            .reply_to
            .as_deref()
            .map(|value| parse_mailbox("reply_to", value))
            .transpose()?;

        let mut tls_builder = TlsParameters::builder(host.clone());
        if let Some(pem) = &settings.extra_root_cert {
            let cert =
                Certificate::from_pem(pem).map_err(|e| MailError::Certificate(e.to_string()))?;
            tls_builder = tls_builder.add_root_certificate(cert);
        }
        let tls_parameters = tls_builder
            .build_rustls()
            .map_err(|e| MailError::Certificate(e.to_string()))?;

        let mut credentials = None;
        let username = match (&settings.username, &settings.password) {
            (Some(user), Some(password)) => {
                credentials = Some(Credentials::new(
                    user.expose().to_string(),
                    password.expose().to_string(),
                ));
                Some(user.expose().to_string())
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(MailError::Credentials(format!(
                    "{USERNAME_VAR} is set but {PASSWORD_VAR} is not"
                )))
            }
            (None, Some(_)) => {
                return Err(MailError::Credentials(format!(
                    "{PASSWORD_VAR} is set but {USERNAME_VAR} is not"
                )))
            }
        };

        Ok(Mailer {
            server,
            host,
            port,
            tls,
            tls_parameters,
            credentials,
            hello: ClientId::default(),
            from,
            reply_to,
            username,
            password: settings.password.clone(),
            timeout: settings.timeout,
            retry: RetryPolicy {
                attempts: settings.retry.attempts.max(1),
                ..settings.retry
            },
            pacer: Pacer::default(),
        })
    }

    /// Replaces the pacer (e.g. [`Pacer::off`] for a local relay or a benchmark).
    pub fn with_pacer(mut self, pacer: Pacer) -> Mailer {
        self.pacer = pacer;
        self
    }

    /// The server as `host:port`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// How the connection is secured.
    pub fn tls_mode(&self) -> TlsMode {
        self.tls
    }

    /// Builds the message as it will be sent (headers and encoded body), e.g. to show a preview.
    pub fn render(&self, email: &Email) -> Result<Vec<u8>, String> {
        Ok(self.message(email)?.formatted())
    }

    fn message(&self, email: &Email) -> Result<Message, String> {
        let to: Address = email
            .to
            .trim()
            .parse()
            .map_err(|e| format!("`to` is not an email address: {:?}: {e}", email.to))?;
        let id = email.message_id.trim();
        let id_ok = id.split_once('@').is_some_and(|(left, right)| {
            !left.is_empty() && !right.is_empty() && !right.contains('@')
        }) && !id
            .contains(|c: char| c.is_whitespace() || c.is_control() || "<>".contains(c));
        if !id_ok {
            return Err(format!(
                "`message_id` must look like left@right without spaces or angle brackets: {id:?}"
            ));
        }
        // Line breaks in a header would end it early; fold them, as a mail client would.
        let fold = |s: &str| s.replace(['\r', '\n'], " ");
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(email.to_name.as_deref().map(fold), to))
            .subject(fold(&email.subject))
            .message_id(Some(format!("<{id}>")))
            .header(ContentType::TEXT_PLAIN)
            .header(AutoSubmitted);
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        builder
            .body(email.body.clone())
            .map_err(|e| format!("cannot build the message: {e}"))
    }

    /// Sends `email`: waits for the pacer, then tries up to the retry budget. Transient failures
    /// (4xx replies, connection errors, timeouts) are retried with backoff; a 5xx refusal, an
    /// authentication failure, a TLS failure or an unusable message are not, as trying again
    /// within seconds cannot change them.
    ///
    /// `permanent` in [`Delivery::Failed`] is true when the message itself was refused (5xx) or
    /// cannot be built; failures of the settings (TLS, authentication, no STARTTLS) are
    /// `permanent: false`: once they are fixed, the same message can be delivered.
    pub async fn send(&self, email: &Email) -> Delivery {
        let message = match self.message(email) {
            Ok(message) => message,
            Err(error) => {
                return Delivery::Failed {
                    permanent: true,
                    error,
                }
            }
        };
        self.pacer.wait().await;
        let mut attempt = 1;
        loop {
            // `timeout` bounds the connect and the TLS handshake; this bounds a whole attempt,
            // against a server that answers slowly, or not at all, after connecting.
            let outcome = tokio::time::timeout(
                self.timeout * 4,
                self.attempt(message.envelope(), &message.formatted()),
            )
            .await;
            let failure = match outcome {
                Ok(Ok(response)) => {
                    let text: Vec<&str> = response.message().collect();
                    return Delivery::Accepted {
                        reply: format!("{} {}", response.code(), text.join(" "))
                            .trim()
                            .to_string(),
                    };
                }
                Ok(Err(AttemptError::Smtp(error))) => self.explain(&error),
                Ok(Err(AttemptError::Connect(error))) => Failure {
                    retry: true,
                    permanent: false,
                    text: format!("cannot connect to {}: {error}", self.server),
                },
                Ok(Err(AttemptError::ConnectTimeout)) => Failure {
                    retry: true,
                    permanent: false,
                    text: format!(
                        "cannot connect to {}: no answer within {:?}",
                        self.server, self.timeout
                    ),
                },
                Ok(Err(AttemptError::NoGreeting)) => Failure {
                    retry: true,
                    permanent: false,
                    text: format!(
                        "{} accepted the connection but sent no SMTP greeting within {:?}",
                        self.server, self.timeout
                    ),
                },
                Ok(Err(AttemptError::NoStartTls)) => Failure {
                    retry: false,
                    permanent: false,
                    text: format!(
                        "{} does not offer STARTTLS; seatkeeper sends no mail or password in plain text to a host that is not loopback (use smtps://, or a relay that offers STARTTLS)",
                        self.server
                    ),
                },
                Err(_) => Failure {
                    retry: true,
                    permanent: false,
                    text: format!(
                        "{} did not finish a delivery within {:?}",
                        self.server,
                        self.timeout * 4
                    ),
                },
            };
            if !failure.retry || attempt >= self.retry.attempts {
                let mut error = self.scrub(failure.text);
                if attempt > 1 {
                    error.push_str(&format!(" (after {attempt} attempts)"));
                }
                return Delivery::Failed {
                    permanent: failure.permanent,
                    error,
                };
            }
            tokio::time::sleep(self.retry.wait_after(attempt)).await;
            attempt += 1;
        }
    }

    /// One SMTP session: connect, secure, authenticate, send, quit.
    async fn attempt(&self, envelope: &Envelope, raw: &[u8]) -> Result<Response, AttemptError> {
        let mut conn = self.connect().await?;
        let mut outcome = Ok(());
        if let Some(credentials) = &self.credentials {
            outcome = conn
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map(drop);
        }
        let result = match outcome {
            Ok(()) => conn.send(envelope, raw).await,
            Err(error) => Err(error),
        };
        // QUIT, politely but briefly: the message's fate is already decided.
        let _ = tokio::time::timeout(self.timeout, conn.abort()).await;
        result.map_err(AttemptError::Smtp)
    }

    /// Connects and secures the session as [`TlsMode`] says.
    async fn connect(&self) -> Result<AsyncSmtpConnection, AttemptError> {
        if self.tls == TlsMode::Implicit {
            // TLS from the first byte: lettre's own connect does the handshake (its socket is
            // not ours to set TCP_NODELAY on; TLS records make that matter less).
            return AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(self.timeout),
                &self.hello,
                Some(self.tls_parameters.clone()),
                None,
            )
            .await
            .map_err(AttemptError::Smtp);
        }
        let tcp = match tokio::time::timeout(
            self.timeout,
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        {
            Err(_) => return Err(AttemptError::ConnectTimeout),
            Ok(Err(error)) => return Err(AttemptError::Connect(error)),
            Ok(Ok(tcp)) => tcp,
        };
        // See the type's documentation: without it every message waits for a delayed ACK.
        let _ = tcp.set_nodelay(true);
        // The greeting and EHLO, bounded too: a port that accepts and then says nothing (a
        // wrong port, a stuck relay) is a timeout, not a hang.
        let mut conn = tokio::time::timeout(
            self.timeout,
            AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello),
        )
        .await
        .map_err(|_| AttemptError::NoGreeting)?
        .map_err(AttemptError::Smtp)?;
        if conn.can_starttls() {
            // Offered, so used, loopback or not: a failed handshake fails the attempt rather
            // than falling back to plain text.
            tokio::time::timeout(
                self.timeout,
                conn.starttls(self.tls_parameters.clone(), &self.hello),
            )
            .await
            .map_err(|_| AttemptError::ConnectTimeout)?
            .map_err(AttemptError::Smtp)?;
        } else if self.tls == TlsMode::Required {
            conn.abort().await;
            return Err(AttemptError::NoStartTls);
        }
        Ok(conn)
    }

    /// Names what failed, and decides whether it is worth another attempt.
    fn explain(&self, error: &SmtpError) -> Failure {
        let server = &self.server;
        // The innermost cause is the useful part ("Connection refused", the server's reply
        // text, rustls' reason); lettre's wrappers ("Connection error: ...") add little.
        let mut cause: &(dyn std::error::Error + 'static) = error;
        let mut tls_failed = error.is_tls();
        while let Some(inner) = cause.source() {
            tls_failed |= is_rustls_error(inner);
            cause = inner;
        }
        tls_failed |= is_rustls_error(cause);
        let cause = cause.to_string();
        if let Some(code) = error.status() {
            let code = code.to_string();
            let user = self.username.as_deref().unwrap_or("(none)");
            return match code.as_str() {
                // 530 authentication required, 534 mechanism too weak, 535 credentials invalid,
                // 538 encryption required for the mechanism (RFC 4954).
                "530" | "534" | "535" | "538" => Failure {
                    retry: false,
                    permanent: false,
                    text: if self.username.is_some() {
                        format!("authentication failed for user {user} at {server}: {code} {cause}")
                    } else {
                        format!("{server} requires authentication ({code} {cause}); set {USERNAME_VAR} and {PASSWORD_VAR}")
                    },
                },
                _ if error.is_permanent() => Failure {
                    retry: false,
                    permanent: true,
                    text: format!("{server} refused the message: {code} {cause}"),
                },
                _ => Failure {
                    retry: true,
                    permanent: false,
                    text: format!("{server} deferred the message: {code} {cause}"),
                },
            };
        }
        if tls_failed {
            return Failure {
                retry: false,
                permanent: false,
                text: format!("TLS handshake with {} failed: {cause}", self.host),
            };
        }
        if cause.contains("STARTTLS") {
            return Failure {
                retry: false,
                permanent: false,
                text: format!(
                    "{server} does not offer STARTTLS; seatkeeper sends no mail or password in plain text to a host that is not loopback (use smtps://, or a relay that offers STARTTLS)"
                ),
            };
        }
        if cause.contains("authentication mechanism") {
            let user = self.username.as_deref().unwrap_or("(none)");
            return Failure {
                retry: false,
                permanent: false,
                text: format!(
                    "authentication failed for user {user} at {server}: the server offers no AUTH mechanism seatkeeper speaks (PLAIN, LOGIN), or offers none before TLS"
                ),
            };
        }
        if error.is_timeout() {
            return Failure {
                retry: true,
                permanent: false,
                text: format!("{server} timed out (after {:?}): {cause}", self.timeout),
            };
        }
        let what = if error.to_string().starts_with("Connection error") {
            "cannot connect to"
        } else {
            "network error talking to"
        };
        Failure {
            retry: !error.is_client(),
            permanent: false,
            text: format!("{what} {server}: {cause}"),
        }
    }

    /// Removes the password from `text`, should a server have echoed it.
    fn scrub(&self, text: String) -> String {
        match &self.password {
            Some(password) if !password.expose().is_empty() => {
                text.replace(password.expose(), "***")
            }
            _ => text,
        }
    }
}

/// Why one attempt failed.
enum AttemptError {
    /// The TCP connection was refused or broke (DNS, refused, unreachable).
    Connect(std::io::Error),
    /// No TCP connection, or no TLS handshake, within the timeout.
    ConnectTimeout,
    /// Connected, but no SMTP greeting and EHLO reply within the timeout.
    NoGreeting,
    /// A host that is not loopback offered no STARTTLS.
    NoStartTls,
    /// What lettre reported: a reply code, a TLS failure, a broken session.
    Smtp(SmtpError),
}

struct Failure {
    retry: bool,
    permanent: bool,
    text: String,
}

/// True for a rustls error, bare or inside the `io::Error` that tokio-rustls wraps it in.
fn is_rustls_error(error: &(dyn std::error::Error + 'static)) -> bool {
    error.is::<rustls::Error>()
        || error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .is_some_and(|inner| inner.is::<rustls::Error>())
}

fn parse_mailbox(field: &'static str, value: &str) -> Result<Mailbox, MailError> {
    value
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| MailError::Mailbox {
            field,
            value: value.to_string(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> SmtpSettings {
        SmtpSettings::new(url, "Seat Keeper <seats@example.com>")
    }

    #[test]
    fn tls_mode_follows_scheme_and_host() {
        assert_eq!(
            TlsMode::for_server("smtp", "smtp.example.com"),
            Ok(TlsMode::Required)
        );
        assert_eq!(
            TlsMode::for_server("smtp", "10.1.2.3"),
            Ok(TlsMode::Required)
        );
        assert_eq!(
            TlsMode::for_server("smtp", "127.0.0.1"),
            Ok(TlsMode::Opportunistic)
        );
        assert_eq!(
            TlsMode::for_server("smtp", "localhost"),
            Ok(TlsMode::Opportunistic)
        );
        assert_eq!(
            TlsMode::for_server("smtps", "smtp.example.com"),
            Ok(TlsMode::Implicit)
        );
        assert!(TlsMode::for_server("http", "smtp.example.com").is_err());
    }

    #[test]
    fn new_checks_the_settings() {
        let mailer = Mailer::new(&settings("smtp://smtp.example.com")).unwrap();
        assert_eq!(mailer.server(), "smtp.example.com:587");
        assert_eq!(mailer.tls_mode(), TlsMode::Required);
        let mailer = Mailer::new(&settings("smtps://smtp.example.com")).unwrap();
        assert_eq!(mailer.server(), "smtp.example.com:465");
        let mailer = Mailer::new(&settings("smtp://[::1]:2525")).unwrap();
        assert_eq!(mailer.server(), "[::1]:2525");
        assert_eq!(mailer.tls_mode(), TlsMode::Opportunistic);

        let err = Mailer::new(&settings("http://smtp.example.com")).unwrap_err();
        assert!(err.to_string().contains("`http`"), "{err}");
        let err = Mailer::new(&SmtpSettings::new("smtp://h", "not an address")).unwrap_err();
        assert!(err.to_string().contains("`from`"), "{err}");
        assert!(err.to_string().contains("not an address"), "{err}");
        let mut bad_reply = settings("smtp://h");
        bad_reply.reply_to = Some("help desk".into());
        let err = Mailer::new(&bad_reply).unwrap_err();
        assert!(err.to_string().contains("`reply_to`"), "{err}");
    }

    #[test]
    fn credentials_stay_out_of_urls_and_output() {
        let err = Mailer::new(&settings("smtp://me:hunter2@smtp.example.com")).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains(USERNAME_VAR), "{err}");

        let s = settings("smtp://smtp.example.com").credentials_from(|name| match name {
            USERNAME_VAR => Some("me".into()),
            PASSWORD_VAR => Some("hunter2".into()),
            _ => None,
        });
        let debug = format!("{s:?} {:?}", Mailer::new(&s).unwrap());
        assert!(!debug.contains("hunter2"), "{debug}");
        let shown = format!("{:?}", settings("smtp://me:hunter2@h"));
        assert!(!shown.contains("hunter2"), "{shown}");

        let only_user = settings("smtp://h")
            .credentials_from(|name| (name == USERNAME_VAR).then(|| "me".to_string()));
        assert!(matches!(
            Mailer::new(&only_user),
            Err(MailError::Credentials(_))
        ));
        let empty = settings("smtp://h").credentials_from(|_| Some(String::new()));
        assert!(empty.username.is_none() && empty.password.is_none());
    }

    #[test]
    fn renders_headers_and_refuses_bad_messages() {
        let mut s = settings("smtp://smtp.example.com");
        s.reply_to = Some("Help <help@example.com>".into());
        let mailer = Mailer::new(&s).unwrap();
        let email = Email {
            to: "ana@example.com".into(),
            to_name: Some("Ana".into()),
            subject: "Your Jira seat\r\nBcc: evil@example.com".into(),
            body: "Grüße".into(),
            message_id: "sk-1@seatkeeper".into(),
        };
        let raw = String::from_utf8(mailer.render(&email).unwrap()).unwrap();
        assert!(raw.contains("Message-ID: <sk-1@seatkeeper>"), "{raw}");
        assert!(raw.contains("Auto-Submitted: auto-generated"), "{raw}");
        assert!(raw.contains("Reply-To: Help <help@example.com>"), "{raw}");
        assert!(!raw.contains("\r\nBcc:"), "{raw}");

        let mut bad = email.clone();
        bad.message_id = "<x@y>".into();
        assert!(mailer.render(&bad).unwrap_err().contains("message_id"));
        let mut bad = email;
        bad.to = "nobody".into();
        assert!(mailer.render(&bad).unwrap_err().contains("`to`"));
    }
}

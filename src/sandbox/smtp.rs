//! The sandbox's mail sink: an SMTP server on loopback that keeps every message it accepts, so
//! `seatkeeper demo` and rehearsals show the emails a real run would send. The messages are
//! listed at `GET /__sandbox/mail`.
//!
//! It speaks the part of SMTP (RFC 5321) a sender needs: EHLO/HELO, MAIL, RCPT, DATA with dot
//! stuffing, RSET, NOOP, QUIT. It is stricter than a mail server, never looser: commands out of
//! order are refused (503), it offers no AUTH and no STARTTLS (a sender that insists on either
//! fails, as it would against a server without them), a line longer than RFC 5321's 1,000
//! octets is refused, and so is a message over 1 MiB.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The most a message may hold.
const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// RFC 5321 §4.5.3.1.6: a text line is at most 1,000 octets with its CRLF.
const MAX_LINE_BYTES: usize = 1000;
/// Recipients per message (RFC 5321 §4.5.3.1.8 asks servers to take at least 100).
const MAX_RECIPIENTS: usize = 100;

/// One message the sink accepted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The `Message-ID` header, without angle brackets.
    pub message_id: Option<String>,
    /// The `Subject` header.
    pub subject: Option<String>,
    /// The whole message as sent (headers and body), dot stuffing undone.
    pub data: String,
    /// The body as text: quoted-printable or base64 transfer encoding undone.
    pub body: String,
    /// When it was accepted (the sandbox's clock).
    pub received_at: DateTime<Utc>,
}

/// The messages accepted so far, shared with the HTTP control endpoints.
#[derive(Debug, Clone, Default)]
pub struct Mailbox(Arc<Mutex<Vec<ReceivedMail>>>);

impl Mailbox {
    /// Every message accepted, in order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Forgets every message.
    pub fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    fn push(&self, mail: ReceivedMail) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(mail);
    }
}

/// Accepts SMTP connections on `listener` until the task is dropped; `now` stamps each
/// message with the sandbox's clock.
pub async fn serve(
    listener: TcpListener,
    mailbox: Mailbox,
    now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (mailbox, now) = (mailbox.clone(), Arc::clone(&now));
        tokio::spawn(async move {
            // A broken connection loses only its unfinished message.
            let _ = session(stream, &mailbox, now.as_ref()).await;
        });
    }
}

/// Where a session stands.
enum State {
    /// Before EHLO/HELO.
    Start,
    /// Greeted; no transaction.
    Ready,
    /// After MAIL FROM.
    Mail { from: String, to: Vec<String> },
}

async fn session(
    stream: TcpStream,
    mailbox: &Mailbox,
    now: &(dyn Fn() -> DateTime<Utc> + Send + Sync),
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write
        .write_all(b"220 sandbox.seatkeeper ESMTP mail sink\r\n")
        .await?;
    let mut state = State::Start;
    loop {
        let Some(line) = read_line(&mut lines).await? else {
            return Ok(());
        };
        let Some(line) = line else {
            write.write_all(b"500 5.5.2 line too long\r\n").await?;
            continue;
        };
        let upper = line.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("");
        let reply: &[u8] = match (verb, &mut state) {
            ("EHLO", _) => {
                state = State::Ready;
                b"250-sandbox.seatkeeper\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 1048576\r\n"
            }
            ("HELO", _) => {
                state = State::Ready;
                b"250 sandbox.seatkeeper\r\n"
            }
            ("NOOP", _) => b"250 2.0.0 OK\r\n",
            ("QUIT", _) => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            ("RSET", State::Start) => b"250 2.0.0 OK\r\n",
            ("RSET", _) => {
                state = State::Ready;
                b"250 2.0.0 OK\r\n"
            }
            ("MAIL", State::Ready) => match path_after(&line, "MAIL FROM:") {
                Some(from) => {
                    state = State::Mail {
                        from,
                        to: Vec::new(),
                    };
                    b"250 2.1.0 OK\r\n"
                }
                None => b"501 5.5.4 syntax: MAIL FROM:<address>\r\n",
            },
            ("RCPT", State::Mail { to, .. }) => match path_after(&line, "RCPT TO:") {
                Some(rcpt) if !rcpt.is_empty() && to.len() < MAX_RECIPIENTS => {
                    to.push(rcpt);
                    b"250 2.1.5 OK\r\n"
                }
                Some(rcpt) if rcpt.is_empty() => b"501 5.1.3 an empty recipient\r\n",
                Some(_) => b"452 4.5.3 too many recipients\r\n",
                None => b"501 5.5.4 syntax: RCPT TO:<address>\r\n",
            },
            ("DATA", State::Mail { to, .. }) if to.is_empty() => {
                b"554 5.5.1 no valid recipients\r\n"
            }
            ("DATA", State::Mail { from, to }) => {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let (from, to) = (std::mem::take(from), std::mem::take(to));
                state = State::Ready;
                match read_data(&mut lines).await? {
                    None => return Ok(()),
                    Some(Err(reply)) => reply,
                    Some(Ok(data)) => {
                        let body = decoded_body(&data);
                        mailbox.push(ReceivedMail {
                            body,
                            message_id: header(&data, "Message-ID")
                                .map(|id| id.trim_matches(['<', '>', ' ']).to_string()),
                            subject: header(&data, "Subject"),
                            from,
                            to,
                            data,
                            received_at: now(),
                        });
                        b"250 2.0.0 OK: queued\r\n"
                    }
                }
            }
            ("AUTH" | "STARTTLS", _) => b"502 5.5.1 not offered by this server\r\n",
            ("MAIL" | "RCPT" | "DATA", _) => b"503 5.5.1 bad sequence of commands\r\n",
            _ => b"500 5.5.2 command not recognized\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// The next line without its line end: `None` at the end of the stream, `Some(None)` for a
/// line over the limit (read through and dropped).
async fn read_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<Option<String>>> {
    let mut buf = Vec::new();
    let n = (&mut *reader)
        .take(MAX_LINE_BYTES as u64 + 1)
        .read_until(b'\n', &mut buf)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if !buf.ends_with(b"\n") {
        // Over the limit: skip the rest of the line.
        let mut rest = Vec::new();
        reader.read_until(b'\n', &mut rest).await?;
        return Ok(Some(None));
    }
    while buf.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
        buf.pop();
    }
    Ok(Some(Some(String::from_utf8_lossy(&buf).into_owned())))
}

/// The message after DATA, up to the lone dot: the text, or the reply refusing it. `None` when
/// the connection ended first.
async fn read_data<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<Result<String, &'static [u8]>>> {
    let mut data = String::new();
    let mut refused: Option<&'static [u8]> = None;
    loop {
        let Some(line) = read_line(reader).await? else {
            return Ok(None);
        };
        let Some(line) = line else {
            refused = Some(b"500 5.5.2 line too long\r\n");
            continue;
        };
        if line == "." {
            return Ok(Some(refused.map_or(Ok(data), Err)));
        }
        let line = line.strip_prefix('.').unwrap_or(&line);
        if data.len() + line.len() + 2 > MAX_MESSAGE_BYTES {
            refused = Some(b"552 5.3.4 message too big\r\n");
            continue;
        }
        if refused.is_none() {
            data.push_str(line);
            data.push_str("\r\n");
        }
    }
}

/// The address of `MAIL FROM:<a>` or `RCPT TO:<a>` (parameters after it ignored); `None` when
/// the command is not written that way.
fn path_after(line: &str, prefix: &str) -> Option<String> {
    let head = line.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = line[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_string())
}

/// The body of a single-part message as text, its transfer encoding undone.
fn decoded_body(data: &str) -> String {
    let body = data.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let encoding = header(data, "Content-Transfer-Encoding").unwrap_or_default();
    let bytes = match encoding.to_ascii_lowercase().as_str() {
        "quoted-printable" => quoted_printable(body),
        "base64" => {
            use base64::Engine as _;
            let packed: String = body.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(packed)
                .unwrap_or_else(|_| body.as_bytes().to_vec())
        }
        _ => body.as_bytes().to_vec(),
    };
    String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
}

/// RFC 2045 §6.7: `=XX` is a byte, `=` at a line end joins the lines.
fn quoted_printable(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The first `name:` header of a message, unfolded.
fn header(data: &str, name: &str) -> Option<String> {
    let mut lines = data.split("\r\n").take_while(|l| !l.is_empty()).peekable();
    while let Some(line) = lines.next() {
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        if field.eq_ignore_ascii_case(name) {
            let mut value = value.trim().to_string();
            while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
                value.push(' ');
                value.push_str(next.trim());
                lines.next();
            }
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sink() -> (std::net::SocketAddr, Mailbox) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mailbox = Mailbox::default();
        let now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync> =
            Arc::new(|| "2026-12-07T10:00:00Z".parse().unwrap());
        tokio::spawn(serve(listener, mailbox.clone(), now));
        (addr, mailbox)
    }

    /// Sends `script` and returns everything the server answered.
    async fn talk(addr: std::net::SocketAddr, script: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(script.as_bytes()).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn a_message_is_kept_with_its_envelope_headers_and_undone_dots() {
        let (addr, mailbox) = sink().await;
        let replies = talk(
            addr,
            "EHLO me\r\nMAIL FROM:<it@acme.com> BODY=8BITMIME\r\nRCPT TO:<ana@acme.com>\r\nDATA\r\n\
             Subject: Your seat\r\nMessage-ID: <abc.seatkeeper@acme>\r\n\r\nHej Åsa\r\n..dot\r\n.\r\nQUIT\r\n",
        )
        .await;
        let codes: Vec<&str> = replies.lines().map(|l| &l[..3]).collect();
        assert_eq!(
            codes,
            ["220", "250", "250", "250", "250", "250", "250", "354", "250", "221"]
        );
        let mail = mailbox.messages();
        assert_eq!(mail.len(), 1);
        assert_eq!(mail[0].from, "it@acme.com");
        assert_eq!(mail[0].to, ["ana@acme.com"]);
        assert_eq!(mail[0].subject.as_deref(), Some("Your seat"));
        assert_eq!(mail[0].message_id.as_deref(), Some("abc.seatkeeper@acme"));
        assert!(
            mail[0].data.ends_with("Hej Åsa\r\n.dot\r\n"),
            "{:?}",
            mail[0].data
        );
    }

    #[tokio::test]
    async fn commands_out_of_order_auth_and_starttls_are_refused() {
        let (addr, mailbox) = sink().await;
        let replies = talk(
            addr,
            "MAIL FROM:<it@acme.com>\r\nEHLO me\r\nRCPT TO:<a@acme.com>\r\nSTARTTLS\r\nAUTH PLAIN x\r\n\
             MAIL FROM:<it@acme.com>\r\nDATA\r\nQUIT\r\n",
        )
        .await;
        let codes: Vec<&str> = replies
            .lines()
            .filter(|l| !l.starts_with("250-"))
            .map(|l| &l[..3])
            .collect();
        assert_eq!(
            codes,
            ["220", "503", "250", "503", "502", "502", "250", "554", "221"]
        );
        assert!(mailbox.messages().is_empty());
    }
}

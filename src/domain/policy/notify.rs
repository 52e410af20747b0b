//! `notify:`: telling people before and after their seat is reclaimed, and admins in chat. This
//! module holds the validated settings and the message templates; which messages are due is
//! [`crate::messages`], and delivery is the `notify` edge.
//!
//! A template is plain text: a `Subject:` line, a blank line, then the body. `{name}`-style
//! placeholders are filled in per message; `{{` and `}}` write a brace.

use crate::diagnostics::{Diagnostic, Location};
use std::fmt;

/// Settings of `notify:`. Secrets (SMTP credentials, the chat webhook URL) never live here: they
/// come from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify {
    /// `email:`: where mail goes out, and from whom.
    pub email: Option<Email>,
    /// `chat.format:`: the chat the digest is posted to.
    pub chat: Option<ChatFormat>,
    /// Email each person when their reclaim is announced; a reclaim then waits until that email
    /// was accepted at least the product's `notice` earlier (rail `not-notified`).
    pub before_reclaim: bool,
    /// Email each person whose seat was reclaimed, with how to get it back.
    pub after_reclaim: bool,
    /// Post each `notify` run's and apply's summary to chat.
    pub digest: bool,
    /// The templates of every message kind (the defaults, or the policy's `templates:` folder).
    pub templates: Templates,
    /// At most this many messages.
    pub rate: Rate,
}

/// `notify.email:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    /// `smtp://host[:port]` (STARTTLS) or `smtps://host[:port]` (TLS from the start).
    pub smtp: String,
    /// The sender, `Name <address>` or `address`.
    pub from: String,
    /// Where replies go, when not to `from`.
    pub reply_to: Option<String>,
}

impl Email {
    /// The address people are told to reply to: `reply_to`, else the address in `from`.
    pub fn reply_address(&self) -> &str {
        self.reply_to
            .as_deref()
            .unwrap_or_else(|| mailbox_address(&self.from).unwrap_or(&self.from))
    }
}

/// The chat formats the digest can be posted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatFormat {
    /// A Slack incoming webhook.
    Slack,
    /// A Microsoft Teams incoming webhook.
    Teams,
    /// seatkeeper's own JSON, for anything else.
    Json,
}

impl ChatFormat {
    /// Every format, by its name in the policy.
    pub const ALL: [(&'static str, ChatFormat); 3] = [
        ("slack", ChatFormat::Slack),
        ("teams", ChatFormat::Teams),
        ("json", ChatFormat::Json),
    ];

    /// The name in the policy, like `slack`.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("json", |(name, _)| name)
    }
}

/// A sending rate: `messages` per `seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// How many messages.
    pub messages: u32,
    /// In how many seconds.
    pub seconds: u32,
}

impl Default for Rate {
    /// One message a second.
    fn default() -> Self {
        Rate {
            messages: 1,
            seconds: 1,
        }
    }
}

impl Rate {
    /// Parses `N/s`, `N/min` or `N/h`.
    pub fn parse(text: &str) -> Option<Rate> {
        let (n, unit) = text.trim().split_once('/')?;
        let messages: u32 = n.trim().parse().ok().filter(|&n| n > 0)?;
        let seconds = match unit.trim() {
            "s" => 1,
            "min" => 60,
            "h" => 3600,
            _ => return None,
        };
        Some(Rate { messages, seconds })
    }
}

/// The kinds of email seatkeeper sends to people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageKind {
    /// The reclaim of a seat was announced: when, why, and how to keep it.
    ReclaimSoon,
    /// A seat was reclaimed: when, why, and how to get it back.
    Reclaimed,
}

impl MessageKind {
    /// Every kind.
    pub const ALL: [MessageKind; 2] = [MessageKind::ReclaimSoon, MessageKind::Reclaimed];

    /// The name in audit records and of its template file (`NAME.txt`).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::ReclaimSoon => "reclaim-soon",
            MessageKind::Reclaimed => "reclaimed",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<MessageKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a template can say. Each is filled in per message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The person's name (their email when Atlassian has no name).
    Name,
    /// The person's email.
    Email,
    /// The product's name, like `Jira Software`.
    Product,
    /// The product's key, like `jira-software`.
    ProductKey,
    /// The reclaim date (announced, or done), like `2026-12-09`.
    Date,
    /// The evidence, like `last used Jira Software on 2026-08-30`.
    Evidence,
    /// The site, like `acme.atlassian.net`.
    Site,
    /// Where the person asks for the product back: its address on the site, where Atlassian
    /// offers "Request access" to someone without a seat.
    RequestLink,
    /// The address replies go to.
    ReplyTo,
}

impl Field {
    /// Every field, by its placeholder name.
    pub const ALL: [(&'static str, Field); 9] = [
        ("name", Field::Name),
        ("email", Field::Email),
        ("product", Field::Product),
        ("product_key", Field::ProductKey),
        ("date", Field::Date),
        ("evidence", Field::Evidence),
        ("site", Field::Site),
        ("request_link", Field::RequestLink),
        ("reply_to", Field::ReplyTo),
    ];

    fn named(name: &str) -> Option<Field> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|&(_, f)| f)
    }
}

/// A piece of a template: text as written, or a placeholder.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Field(Field),
}

/// A message template: a subject and a body, each text with placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    subject: Vec<Piece>,
    body: Vec<Piece>,
    /// Where the template came from (`default`, or its file).
    pub source: String,
}

impl Template {
    /// Parses a template file: `Subject: ...`, a blank line, then the body. Problems name the
    /// file, line and column.
    pub fn parse(file: &str, text: &str) -> Result<Template, Vec<Diagnostic>> {
        let text = text.replace("\r\n", "\n");
        let mut diags = Vec::new();
        let (first, rest) = text.split_once('\n').unwrap_or((text.as_str(), ""));
        let Some(subject) = first.strip_prefix("Subject:") else {
            return Err(vec![Diagnostic::error(
                "template-without-subject",
                Location::at(file, 1, 1),
                "a template starts with a `Subject:` line",
            )
            .with_hint(
                "write `Subject: ...` on the first line, then a blank line, then the body",
            )]);
        };
        let body = match rest.strip_prefix('\n') {
            Some(body) => body,
            None if rest.trim().is_empty() => rest,
            None => {
                return Err(vec![Diagnostic::error(
                    "template-without-subject",
                    Location::at(file, 2, 1),
                    "the subject line is followed by a blank line, then the body",
                )
                .with_hint("put a blank line after the `Subject:` line")]);
            }
        };
        let column = first.len() - subject.trim_start().len() + 1;
        let subject = pieces(file, subject.trim(), 1, column, &mut diags);
        let body = pieces(file, body, 3, 1, &mut diags);
        if subject.is_empty() && diags.is_empty() {
            diags.push(Diagnostic::error(
                "template-without-subject",
                Location::at(file, 1, 1),
                "the subject is empty",
            ));
        }
        if diags.is_empty() {
            Ok(Template {
                subject,
                body,
                source: file.to_string(),
            })
        } else {
            Err(diags)
        }
    }

    /// The subject and the body, with `value` filling in each placeholder.
    pub fn render(&self, value: impl Fn(Field) -> String) -> (String, String) {
        let fill = |pieces: &[Piece]| {
            pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(t) => t.clone(),
                    Piece::Field(f) => value(*f),
                })
                .collect::<String>()
        };
        (fill(&self.subject), fill(&self.body))
    }
}

/// Splits `text` (starting at `line`:`column` of `file`) into text and placeholders.
fn pieces(
    file: &str,
    text: &str,
    line: u32,
    column: usize,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let (mut line, mut column) = (line, column as u32);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let at = Location::at(file, line, column);
        column += 1;
        match c {
            '\n' => {
                literal.push(c);
                line += 1;
                column = 1;
            }
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                column += 1;
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                column += 1;
                literal.push('}');
            }
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    column += 1;
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                match Field::named(name.trim()) {
                    Some(field) if closed => {
                        if !literal.is_empty() {
                            out.push(Piece::Text(std::mem::take(&mut literal)));
                        }
                        out.push(Piece::Field(field));
                    }
                    _ => {
                        let known: Vec<&str> = Field::ALL.iter().map(|(n, _)| *n).collect();
                        let hint = match crate::policy::raw::did_you_mean(name.trim(), &known) {
                            Some(meant) => format!(
                                "did you mean `{{{meant}}}`? Known: {{{}}}",
                                known.join("}, {")
                            ),
                            None => format!(
                                "known placeholders: {{{}}}; write `{{{{` for a brace",
                                known.join("}, {")
                            ),
                        };
                        let what = if closed {
                            format!("unknown placeholder `{{{name}}}`")
                        } else {
                            "a `{` that is never closed".to_string()
                        };
                        diags.push(
                            Diagnostic::error("unknown-placeholder", at, what).with_hint(hint),
                        );
                        if !closed {
                            break;
                        }
                    }
                }
            }
            '}' => {
                diags.push(
                    Diagnostic::error("unknown-placeholder", at, "a `}` without its `{`")
                        .with_hint("write `}}` for a brace"),
                );
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        out.push(Piece::Text(literal));
    }
    out
}

/// The template of each message kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Templates {
    /// `reclaim-soon`.
    pub reclaim_soon: Template,
    /// `reclaimed`.
    pub reclaimed: Template,
}

impl Templates {
    /// The template of `kind`.
    pub fn get(&self, kind: MessageKind) -> &Template {
        match kind {
            MessageKind::ReclaimSoon => &self.reclaim_soon,
            MessageKind::Reclaimed => &self.reclaimed,
        }
    }

    /// Replaces the template of `kind`.
    pub fn set(&mut self, kind: MessageKind, template: Template) {
        match kind {
            MessageKind::ReclaimSoon => self.reclaim_soon = template,
            MessageKind::Reclaimed => self.reclaimed = template,
        }
    }
}

impl Default for Templates {
    /// The built-in wording.
    fn default() -> Self {
        let parse =
            |text: &str| Template::parse("default", text).expect("the default templates parse");
        Templates {
            reclaim_soon: parse(DEFAULT_RECLAIM_SOON),
            reclaimed: parse(DEFAULT_RECLAIMED),
        }
    }
}

/// The built-in `reclaim-soon` template.
pub const DEFAULT_RECLAIM_SOON: &str = "Subject: Your {product} seat will be reclaimed on {date}

Hello {name},

Your {product} licence on {site} will be reclaimed on {date}: {evidence}.

To keep it, do either of these before {date}:
- use {product}, or
- ask for it at {request_link}, or reply to {reply_to}.

If you no longer need {product}, there is nothing to do.
";

/// The built-in `reclaimed` template.
pub const DEFAULT_RECLAIMED: &str = "Subject: Your {product} seat was reclaimed on {date}

Hello {name},

Your {product} licence on {site} was reclaimed on {date}: {evidence}.

To get it back, log in and request access at {request_link}, or reply to {reply_to}.
";

/// The address in a mailbox (`Name <address>` or `address`), if it looks like one: one `@`
/// with text on both sides, no spaces, and a dot in the domain.
pub fn mailbox_address(mailbox: &str) -> Option<&str> {
    let mailbox = mailbox.trim();
    let address = match (mailbox.rfind('<'), mailbox.ends_with('>')) {
        (Some(open), true) => &mailbox[open + 1..mailbox.len() - 1],
        (None, false) => mailbox,
        _ => return None,
    };
    let (local, domain) = address.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    ok.then_some(address)
}

/// The product's name for people, like `Jira Software` for `jira-software`.
pub fn product_name(key: &str) -> String {
    match key {
        "jira-software" => "Jira Software".to_string(),
        "jira-core" | "jira-work-management" => "Jira Work Management".to_string(),
        "jira-servicedesk" => "Jira Service Management".to_string(),
        "jira-product-discovery" => "Jira Product Discovery".to_string(),
        "confluence" => "Confluence".to_string(),
        "statuspage" => "Statuspage".to_string(),
        "opsgenie" => "Opsgenie".to_string(),
        "trello" => "Trello".to_string(),
        "bitbucket" => "Bitbucket".to_string(),
        "compass" => "Compass".to_string(),
        "atlas" => "Atlas".to_string(),
        other => other.to_string(),
    }
}

/// Where someone asks for `product` on `site`: the product's address, where Atlassian offers
/// "Request access" to a person without a seat.
pub fn request_link(site: &str, product: &str) -> String {
    match product {
        "confluence" => format!("https://{site}/wiki"),
        "jira-servicedesk" => format!("https://{site}/jira/servicedesk"),
        _ => format!("https://{site}/jira"),
    }
}

/// Checks an `smtp:` URL: `smtp://` or `smtps://`, a host, an optional port, nothing else.
/// Credentials in it are refused: they are secrets and come from the environment.
pub fn check_smtp_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("smtp://")
        .or_else(|| url.strip_prefix("smtps://"))
        .ok_or_else(|| format!("`{url}` is not an smtp:// or smtps:// URL"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains('@') {
        return Err("the URL holds credentials; they come from SEATKEEPER_SMTP_USERNAME and SEATKEEPER_SMTP_PASSWORD".to_string());
    }
    if authority.contains(['/', '?', '#']) {
        return Err(format!(
            "`{url}` has a path or query; write only smtp://host:port"
        ));
    }
    // `[::1]:25` or `host:25`: the port follows the last colon outside brackets.
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("`{url}` has an unclosed `[`"))?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if let Some(port) = port {
        if port.parse::<u16>().ok().filter(|&p| p > 0).is_none() {
            return Err(format!("`{port}` is not a port"));
        }
    }
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_fills_in_its_placeholders() {
        let t = Template::parse(
            "notify/reclaimed.txt",
            "Subject: {product} for {name}\n\nHi {name}, {{literal}} on {date}.\n",
        )
        .unwrap();
        let (subject, body) = t.render(|f| match f {
            Field::Product => "Confluence".into(),
            Field::Name => "Ana".into(),
            Field::Date => "2026-12-09".into(),
            _ => "?".into(),
        });
        assert_eq!(subject, "Confluence for Ana");
        assert_eq!(body, "Hi Ana, {literal} on 2026-12-09.\n");
    }

    #[test]
    fn an_unknown_placeholder_names_its_line_and_column() {
        let e = Template::parse(
            "notify/reclaim-soon.txt",
            "Subject: hi\n\nline one\nyour {prodcut} seat\n",
        )
        .unwrap_err();
        assert_eq!(e.len(), 1);
        let d = &e[0];
        assert_eq!(
            (d.code, d.location.line, d.location.column),
            ("unknown-placeholder", 4, 6)
        );
        assert!(d.message.contains("{prodcut}"), "{}", d.message);
        assert!(
            d.hint.as_deref().unwrap().contains("{product}"),
            "{:?}",
            d.hint
        );
        let e = Template::parse("t.txt", "Subject: {nme\n\nbody").unwrap_err();
        assert_eq!((e[0].location.line, e[0].location.column), (1, 10));
        let e = Template::parse("t.txt", "no subject\n\nbody").unwrap_err();
        assert_eq!(e[0].code, "template-without-subject");
    }

    #[test]
    fn the_default_templates_parse_and_use_every_promise() {
        let t = Templates::default();
        let (subject, body) = t.reclaim_soon.render(|f| format!("<{f:?}>"));
        assert_eq!(subject, "Your <Product> seat will be reclaimed on <Date>");
        for f in ["<Date>", "<Evidence>", "<RequestLink>", "<ReplyTo>"] {
            assert!(body.contains(f), "{f} missing from {body}");
        }
        let (_, body) = t.reclaimed.render(|f| format!("<{f:?}>"));
        assert!(
            body.contains("<RequestLink>") && body.contains("<Date>"),
            "{body}"
        );
    }

    #[test]
    fn mailboxes_and_smtp_urls() {
        assert_eq!(
            mailbox_address("Atlassian licences <it@acme.com>"),
            Some("it@acme.com")
        );
        assert_eq!(mailbox_address("it@acme.com"), Some("it@acme.com"));
        for bad in [
            "it",
            "it@",
            "@acme.com",
            "it@acme",
            "a b@acme.com",
            "Name <it@acme.com",
            "x@@acme.com",
        ] {
            assert_eq!(mailbox_address(bad), None, "{bad}");
        }
        assert!(check_smtp_url("smtp://mail.acme.com:587").is_ok());
        assert!(check_smtp_url("smtps://mail.acme.com").is_ok());
        assert!(check_smtp_url("smtp://[::1]:2525").is_ok());
        assert!(check_smtp_url("http://mail.acme.com").is_err());
        assert!(check_smtp_url("smtp://user:pw@mail.acme.com")
            .unwrap_err()
            .contains("SEATKEEPER_SMTP_PASSWORD"));
        assert!(check_smtp_url("smtp://mail.acme.com:99999").is_err());
        assert!(check_smtp_url("smtp://").is_err());
        assert_eq!(
            Rate::parse("30/min"),
            Some(Rate {
                messages: 30,
                seconds: 60
            })
        );
        assert_eq!(Rate::parse("0/s"), None);
        assert_eq!(Rate::parse("5/day"), None);
    }
}

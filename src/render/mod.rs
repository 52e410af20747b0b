//! Renderers: read a [`crate::plan::Plan`] (or an [`crate::plan::Explanation`]) and write text,
//! markdown or JSON to a `&mut dyn Write`. Nothing here decides anything: the plan is data, and
//! every renderer only formats it. Nothing here prints either; the caller owns the writer and
//! decides on colour (see [`RenderOptions::for_terminal`]).
//!
//! - [`text`]: terraform-like output for terminals and CI logs.
//! - [`markdown`]: PR comments, summary first, kept under GitHub's comment limit.
//! - [`json`]: the machine-readable plan contract (DESIGN §5.1, `schema/plan.schema.json`).
//! - [`explain`]: `seatkeeper explain USER` as text, markdown or JSON.
//!
//! User-controlled text (emails, names, reasons, group names) is never written raw: the text
//! renderers replace control characters so a crafted name cannot move the cursor or recolour a
//! terminal, and the markdown renderer escapes markdown and HTML.

pub mod diff;
pub mod explain;
pub mod json;
pub mod markdown;
pub mod text;

use crate::plan::{Explanation, Plan};
use chrono::{DateTime, Timelike, Utc};
use std::borrow::Cow;
use std::io::{self, Write};

/// How to render: options shared by every format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenderOptions {
    /// Emit ANSI colour and bold (text renderers only; markdown and JSON ignore it).
    pub color: bool,
}

impl RenderOptions {
    /// Options for output without colour.
    pub const PLAIN: RenderOptions = RenderOptions { color: false };

    /// Decides colour the usual way: `always` and `never` win; `auto` colours only a terminal
    /// and only when `NO_COLOR` is unset or empty. The caller passes what it observed (whether
    /// stdout is a terminal, the value of `NO_COLOR`), so this reads no environment.
    pub fn for_terminal(choice: ColorChoice, is_terminal: bool, no_color: Option<&str>) -> Self {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && no_color.is_none_or(str::is_empty),
        };
        RenderOptions { color }
    }
}

/// The `--color` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// The output formats of `plan` (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum Format {
    /// Terraform-like text for terminals and logs.
    #[default]
    Text,
    /// Markdown for pull-request comments.
    Markdown,
    /// The JSON plan contract (`schema/plan.schema.json`).
    Json,
}

impl Format {
    /// The flag value: `text`, `markdown` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Markdown => "markdown",
            Format::Json => "json",
        }
    }
}

/// Renders a plan in the given format.
pub fn render(
    plan: &Plan,
    format: Format,
    opts: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    // `out` is often stdout, which writes every line on its own: buffer whole blocks.
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    match format {
        Format::Text => text::render(plan, opts, &mut out),
        Format::Markdown => markdown::render(plan, &mut out),
        Format::Json => json::render(plan, &mut out),
    }?;
    out.flush()
}

/// Renders what `explain` found about one user in the given format.
pub fn render_explanation(
    explanation: &Explanation,
    format: Format,
    opts: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Text => explain::text(explanation, opts, out),
        Format::Markdown => explain::markdown(explanation, out),
        Format::Json => explain::json(explanation, out),
    }
}

/// ANSI styling that is a no-op when colour is off.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    color: bool,
}

impl Style {
    pub(crate) fn new(opts: &RenderOptions) -> Self {
        Style { color: opts.color }
    }

    fn paint<'a>(self, code: &str, text: &'a str) -> Cow<'a, str> {
        if self.color && !text.is_empty() {
            Cow::Owned(format!("\x1b[{code}m{text}\x1b[0m"))
        } else {
            Cow::Borrowed(text)
        }
    }

    pub(crate) fn bold<'a>(self, text: &'a str) -> Cow<'a, str> {
        self.paint("1", text)
    }

    pub(crate) fn green<'a>(self, text: &'a str) -> Cow<'a, str> {
        self.paint("32", text)
    }

    pub(crate) fn red<'a>(self, text: &'a str) -> Cow<'a, str> {
        self.paint("31", text)
    }

    pub(crate) fn yellow<'a>(self, text: &'a str) -> Cow<'a, str> {
        self.paint("33", text)
    }
}

/// Makes user-controlled text safe for a terminal: control characters (ESC, newlines, tabs,
/// C1 controls) become visible `\u{..}` escapes, and bidi overrides are escaped too.
pub(crate) fn terminal_safe(text: &str) -> Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut safe = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            safe.extend(c.escape_unicode());
        } else {
            safe.push(c);
        }
    }
    Cow::Owned(safe)
}

/// Display width of text, counted in characters (good enough for emails and product keys).
pub(crate) fn width(text: &str) -> usize {
    text.chars().count()
}

/// Pads `text` with spaces to `cols` characters.
pub(crate) fn pad(text: &str, cols: usize) -> String {
    let mut padded = String::with_capacity(cols.max(text.len()));
    padded.push_str(text);
    padded.extend(std::iter::repeat_n(' ', cols.saturating_sub(width(text))));
    padded
}

/// A date for humans: `2026-07-01`, or `2026-07-01 09:30 UTC` when the time is not midnight.
pub(crate) fn human_time(at: DateTime<Utc>) -> String {
    if at.time() == chrono::NaiveTime::MIN {
        at.format("%Y-%m-%d").to_string()
    } else if at.second() == 0 {
        at.format("%Y-%m-%d %H:%M UTC").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}

/// The seat change `after - before` with a sign: `+3`, `-7`, `0`.
pub(crate) fn signed_delta(before: usize, after: usize) -> String {
    use std::cmp::Ordering;
    match after.cmp(&before) {
        Ordering::Greater => format!("+{}", after - before),
        Ordering::Less => format!("-{}", before - after),
        Ordering::Equal => "0".to_string(),
    }
}

/// "1 membership" / "3 memberships".
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Serializes any value as pretty JSON with a trailing newline.
pub(crate) fn write_json<T: serde::Serialize + ?Sized>(
    value: &T,
    out: &mut dyn Write,
) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

#[cfg(test)]
pub(crate) mod fixtures;

/// The plan header's word on how far back the events reached, when they fall short of what
/// the plan needs (DESIGN §4), or `None` when they cover it or the reader did not say.
pub(crate) fn events_note(plan: &Plan) -> Option<String> {
    let read = plan.events.as_ref()?;
    if read.is_complete() {
        return None;
    }
    let wanted = read.wanted_from.format("%Y-%m-%d");
    let why = read
        .note
        .as_deref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    Some(match read.covered_from {
        None => format!(
            "no org events{why}: logins and access requests are not seen; the plan needs them from {wanted}"
        ),
        Some(from) => format!(
            "org events reach back to {} only{why}; the plan needs them from {wanted}",
            from.format("%Y-%m-%d")
        ),
    })
}

/// The plan header's word on safety rails that took their default, if any.
pub(crate) fn safety_defaults_note(plan: &Plan) -> Option<String> {
    if plan.safety_defaults.is_empty() {
        return None;
    }
    Some(format!(
        "no `safety:` rails written for {}: defaults apply (max_removals 10% of holders, at least 1; max_additions 100)",
        plan.safety_defaults.join(" and ")
    ))
}

/// The plan header's word on a first run against the org.
pub(crate) const FIRST_RUN_NOTE: &str =
    "first run against this org (the audit log is empty): seats past their window are announced, not reclaimed";

/// Dormant notices per product: how many, and the first few accounts (text and markdown show
/// this summary; JSON lists every notice).
pub(crate) fn dormant_summary(plan: &Plan) -> Vec<(&str, usize, Vec<&str>)> {
    let mut out: Vec<(&str, usize, Vec<&str>)> = Vec::new();
    for n in plan
        .notices
        .iter()
        .filter(|n| n.kind == crate::plan::NoticeKind::Dormant)
    {
        let who = n.email.as_deref().unwrap_or(&n.account_id);
        match out.iter_mut().find(|(p, _, _)| *p == n.product) {
            Some((_, count, examples)) => {
                *count += 1;
                if examples.len() < DORMANT_EXAMPLES {
                    examples.push(who);
                }
            }
            None => out.push((&n.product, 1, vec![who])),
        }
    }
    out
}

/// How many accounts a dormant summary names.
const DORMANT_EXAMPLES: usize = 3;

/// The words of one product's dormant summary: "2 dormant since a reclaim or idle past the
/// window (a@x, b@x); `explain` or `--format json` lists them".
pub(crate) fn dormant_words(count: usize, examples: &[&str]) -> String {
    let more = if count > examples.len() { ", …" } else { "" };
    format!(
        "{count} dormant since a reclaim or idle past the window ({}{more}): no seat until they ask, log in or are active; `explain` or `--format json` lists them",
        examples.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_choice_follows_flag_terminal_and_no_color() {
        let auto = ColorChoice::Auto;
        assert!(RenderOptions::for_terminal(auto, true, None).color);
        assert!(RenderOptions::for_terminal(auto, true, Some("")).color);
        assert!(!RenderOptions::for_terminal(auto, true, Some("1")).color);
        assert!(!RenderOptions::for_terminal(auto, false, None).color);
        assert!(RenderOptions::for_terminal(ColorChoice::Always, false, Some("1")).color);
        assert!(!RenderOptions::for_terminal(ColorChoice::Never, true, None).color);
    }

    #[test]
    fn terminal_text_cannot_carry_escape_sequences() {
        assert_eq!(terminal_safe("alice@acme.com"), "alice@acme.com");
        let evil = "mallory\x1b[2J\nx\u{202e}@acme.com";
        let safe = terminal_safe(evil);
        assert!(!safe.chars().any(char::is_control), "{safe}");
        assert_eq!(safe, "mallory\\u{1b}[2J\\u{a}x\\u{202e}@acme.com");
    }

    #[test]
    fn human_times_and_deltas() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
        assert_eq!(human_time(t("2026-07-01T00:00:00Z")), "2026-07-01");
        assert_eq!(
            human_time(t("2026-07-01T09:30:00Z")),
            "2026-07-01 09:30 UTC"
        );
        assert_eq!(
            human_time(t("2026-07-01T09:30:05Z")),
            "2026-07-01 09:30:05 UTC"
        );
        assert_eq!(signed_delta(3, 5), "+2");
        assert_eq!(signed_delta(5, 3), "-2");
        assert_eq!(signed_delta(5, 5), "0");
        assert_eq!(pad("ab", 4), "ab  ");
        assert_eq!(pad("abcdef", 4), "abcdef");
    }

    #[test]
    fn format_names_match_the_cli_flag() {
        use clap::ValueEnum;
        for f in Format::value_variants() {
            let pv = f.to_possible_value().expect("visible");
            assert_eq!(pv.get_name(), f.as_str());
        }
    }
}

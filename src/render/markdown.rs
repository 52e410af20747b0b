//! The markdown plan, for pull-request comments.
//!
//! The summary comes first and always survives: a one-line verdict (the text footer), the policy
//! commit and time, ledger observations, warnings, and one table with adds, removes, blocked
//! actions, notices and seats (before, after, change, budget) per product. Then each product gets
//! a collapsed `<details>` section with tables of its actions (user, group, rule, reason), blocked
//! actions, notices and ledger observations.
//!
//! A comment must stay under GitHub's limit of [`GITHUB_COMMENT_LIMIT`] characters. When the
//! full plan is longer, every table shows only its first N rows followed by `… and K more`, with
//! N the largest number that fits; if even N = 0 is too long the sections are replaced by a note.
//! The limit is checked in bytes, which is never less than the character count.
//!
//! User-controlled text (emails, group names, reasons, details) is escaped with [`escape`], so a
//! crafted email cannot break a table, inject HTML or links, or mention a GitHub user.

use super::text::{footer, short_commit};
use super::{
    dormant_summary, dormant_words, events_note, human_time, plural, safety_defaults_note,
    signed_delta, FIRST_RUN_NOTE,
};
use crate::plan::{Action, ActionKind, Blocked, Notice, NoticeKind, Observation, Plan};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

/// GitHub's maximum comment body length.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// How many warnings the summary lists before it says "… and K more".
const SUMMARY_WARNINGS: usize = 10;

/// How many requests awaiting approval the summary lists.
const SUMMARY_REQUESTS: usize = 20;

/// Writes the markdown form of `plan`, kept under [`GITHUB_COMMENT_LIMIT`].
pub fn render(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(to_string(plan, GITHUB_COMMENT_LIMIT).as_bytes())
}

/// The markdown form of `plan`, shorter than `limit` bytes (collapsing lists as needed).
pub fn to_string(plan: &Plan, limit: usize) -> String {
    let summary = summary(plan);
    let sections = Sections::new(plan);
    let fits = |text: &str| text.len() < limit;

    let longest = sections.longest_table();
    let full = sections.render(&summary, longest);
    if fits(&full) {
        return full;
    }
    // The length grows with N, so search for the largest N that fits.
    let (mut lo, mut hi) = (0usize, longest); // invariant: N = hi does not fit
    let mut best = None;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let text = sections.render(&summary, mid);
        if fits(&text) {
            best = Some(text);
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if let Some(text) = best {
        return text;
    }
    let note = "\n_The per-product details are too long for a comment; \
                run `seatkeeper plan` or read the JSON plan for the full list._\n";
    let mut text = summary;
    if !fits(&format!("{text}{note}")) {
        // Only a pathological summary (thousands of products) or limit gets here: cut it.
        let keep = limit.saturating_sub(note.len() + 2);
        truncate_at_boundary(&mut text, keep);
        text.push('\n');
    }
    text.push_str(note);
    truncate_at_boundary(&mut text, limit.saturating_sub(1));
    text
}

/// Truncates to at most `max` bytes without splitting a character.
fn truncate_at_boundary(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut cut = max;
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
}

/// Escapes user-controlled text for markdown (including table cells) and HTML: backslash before
/// `` \ ` * _ [ ] | ~ ``, entities for `& < >`, control characters and line breaks become
/// spaces, and an `@` that could start a GitHub mention is followed by a word joiner.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut prev: Option<char> = None;
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '@' if !prev.is_some_and(char::is_alphanumeric) => out.push_str("@\u{2060}"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
        prev = Some(c);
    }
    out
}

/// Escapes text for an HTML context (the `<summary>` line, where markdown is not parsed).
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[derive(Default)]
struct Counts {
    adds: usize,
    removes: usize,
    blocked: usize,
    notices: usize,
    observed: usize,
}

fn summary(plan: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### seatkeeper plan for {}\n", escape(&plan.site));
    let _ = writeln!(s, "**{}**\n", footer(plan));
    let policy = match &plan.policy_commit {
        Some(commit) => {
            // A code span shows backslashes literally, so keep only what a commit id holds.
            let id: String = short_commit(commit)
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            format!("`{id}`")
        }
        None => "not in git".to_string(),
    };
    let dirty = if plan.policy_dirty {
        " (uncommitted changes)"
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "Policy {policy}{dirty} · as of {}\n",
        human_time(plan.generated_at)
    );
    if plan.first_run {
        let _ = writeln!(s, "⚠️ {}\n", escape(FIRST_RUN_NOTE));
    }
    if let Some(note) = safety_defaults_note(plan) {
        let _ = writeln!(s, "⚠️ {}\n", escape(&note));
    }
    if let Some(note) = events_note(plan) {
        let _ = writeln!(s, "⚠️ {}\n", escape(&note));
    }
    if !plan.observed.is_empty() {
        let _ = writeln!(
            s,
            "Ledger: will record {} granted outside seatkeeper.\n",
            plural(plan.observed.len(), "membership", "memberships")
        );
    }
    if !plan.announce.is_empty() {
        let _ = writeln!(
            s,
            "Ledger: will record {}; once applied, those dates hold.\n",
            plural(
                plan.announce.len(),
                "reclaim announcement",
                "reclaim announcements"
            )
        );
    }
    if !plan.requests.is_empty() {
        let _ = writeln!(
            s,
            "**Requests awaiting approval ({})**: the policy does not grant these; to approve one, add its line to `users:`.\n",
            plan.requests.len()
        );
        s.push_str("| product | user | requested | policy line |\n|---|---|---|---|\n");
        for r in plan.requests.iter().take(SUMMARY_REQUESTS) {
            let replaces = r
                .replaces
                .as_ref()
                .map(|l| format!(" (replaces {})", escape(&l.to_string())))
                .unwrap_or_default();
            // A code span shows its text literally; backticks inside would end it.
            let line = r.policy_line.replace('`', "'").replace('|', "\\|");
            let _ = writeln!(
                s,
                "| {} | {} | {} | `{line}`{replaces} |",
                escape(&r.product),
                user(r.email.as_deref(), &r.account_id),
                r.requested_at.format("%Y-%m-%d"),
            );
        }
        if plan.requests.len() > SUMMARY_REQUESTS {
            let _ = writeln!(
                s,
                "| … | {} more in `--format json` | | |",
                plan.requests.len() - SUMMARY_REQUESTS
            );
        }
        s.push('\n');
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(s, "**Warnings**\n");
        for w in plan.warnings.iter().take(SUMMARY_WARNINGS) {
            let at = w
                .location
                .as_ref()
                .map(|l| format!("{}: ", escape(&l.to_string())))
                .unwrap_or_default();
            let hint = w
                .hint
                .as_ref()
                .map(|h| format!(" ({})", escape(h)))
                .unwrap_or_default();
            let _ = writeln!(s, "- `{}` {at}{}{hint}", w.code, escape(&w.message));
        }
        if plan.warnings.len() > SUMMARY_WARNINGS {
            let _ = writeln!(s, "- … and {} more", plan.warnings.len() - SUMMARY_WARNINGS);
        }
        s.push('\n');
    }

    let counts = product_counts(plan);
    if !counts.is_empty() {
        s.push_str("| product | add | remove | blocked | notices | seats before | seats after | change | budget |\n");
        s.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        for (product, c) in &counts {
            let (before, after, change, budget) = match plan.seats.get(*product) {
                Some(seats) => (
                    seats.before.to_string(),
                    seats.after.to_string(),
                    signed_delta(seats.before, seats.after),
                    match seats.budget {
                        Some(b) if seats.after > b as usize => format!("{b} ⚠️ over"),
                        Some(b) => b.to_string(),
                        None => "–".to_string(),
                    },
                ),
                None => ("–".into(), "–".into(), "–".into(), "–".into()),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {before} | {after} | {change} | {budget} |",
                escape(product),
                c.adds,
                c.removes,
                c.blocked,
                c.notices
            );
        }
        s.push('\n');
    }
    s
}

fn product_counts(plan: &Plan) -> BTreeMap<&str, Counts> {
    let mut counts: BTreeMap<&str, Counts> = BTreeMap::new();
    for product in plan.seats.keys() {
        counts.entry(product).or_default();
    }
    for a in &plan.actions {
        let c = counts.entry(&a.product).or_default();
        match a.kind {
            ActionKind::Add => c.adds += 1,
            ActionKind::Remove => c.removes += 1,
        }
    }
    for b in &plan.blocked {
        counts.entry(&b.action.product).or_default().blocked += 1;
    }
    for n in &plan.notices {
        counts.entry(&n.product).or_default().notices += 1;
    }
    for o in &plan.observed {
        counts.entry(&o.product).or_default().observed += 1;
    }
    counts
}

/// One table with its rows rendered once up front.
struct Table {
    title: Option<&'static str>,
    head: &'static str,
    rows: Vec<String>,
}

impl Table {
    fn write(&self, s: &mut String, n: usize) {
        if self.rows.is_empty() {
            return;
        }
        if let Some(title) = self.title {
            let _ = writeln!(s, "**{title}**\n");
        }
        s.push_str(self.head);
        for row in self.rows.iter().take(n) {
            s.push_str(row);
        }
        if self.rows.len() > n {
            let _ = writeln!(s, "\n… and {} more", self.rows.len() - n);
        }
        s.push('\n');
    }
}

struct Section {
    title: String,
    tables: Vec<Table>,
}

struct Sections {
    sections: Vec<Section>,
}

fn user<'a>(email: Option<&'a str>, account_id: &'a str) -> String {
    escape(email.unwrap_or(account_id))
}

fn kind_cell(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Add => "`+`",
        ActionKind::Remove => "`-`",
    }
}

fn action_row(a: &Action) -> String {
    format!(
        "| {} | {} | {} | {} | {} |\n",
        kind_cell(a.kind),
        user(a.email.as_deref(), &a.account_id),
        escape(&a.group),
        a.rule,
        escape(&a.reason)
    )
}

fn blocked_row(b: &Blocked) -> String {
    let a = &b.action;
    format!(
        "| {} | {} | {} | {} | {} | {} |\n",
        kind_cell(a.kind),
        user(a.email.as_deref(), &a.account_id),
        escape(&a.group),
        b.rail,
        escape(&b.rail_detail),
        a.rule
    )
}

fn notice_row(n: &Notice) -> String {
    format!(
        "| {} | {} | {} |\n",
        n.kind.as_str(),
        user(n.email.as_deref(), &n.account_id),
        escape(&n.detail)
    )
}

fn observed_row(o: &Observation) -> String {
    format!(
        "| {} | {} |\n",
        user(o.email.as_deref(), &o.account_id),
        escape(&o.group)
    )
}

impl Sections {
    fn new(plan: &Plan) -> Self {
        let counts = product_counts(plan);
        let mut sections = Vec::new();
        for (product, c) in &counts {
            if c.adds + c.removes + c.blocked + c.notices + c.observed == 0 {
                continue;
            }
            let mut parts = Vec::new();
            if c.adds > 0 {
                parts.push(format!("{} to add", c.adds));
            }
            if c.removes > 0 {
                parts.push(format!("{} to remove", c.removes));
            }
            if c.blocked > 0 {
                parts.push(format!("{} blocked", c.blocked));
            }
            if c.notices > 0 {
                parts.push(plural(c.notices, "notice", "notices"));
            }
            if c.observed > 0 {
                parts.push(format!("{} to record", c.observed));
            }
            let title = format!("<b>{}</b>: {}", html_escape(product), parts.join(", "));
            let of = |p: &str| p == *product;
            let tables = vec![
                Table {
                    title: None,
                    head: "| | user | group | rule | reason |\n|---|---|---|---|---|\n",
                    rows: plan
                        .actions
                        .iter()
                        .filter(|a| of(&a.product))
                        .map(action_row)
                        .collect(),
                },
                Table {
                    title: Some("Blocked (never attempted)"),
                    head: "| | user | group | rail | detail | rule |\n|---|---|---|---|---|---|\n",
                    rows: plan
                        .blocked
                        .iter()
                        .filter(|b| of(&b.action.product))
                        .map(blocked_row)
                        .collect(),
                },
                Table {
                    title: Some("Notices"),
                    head: "| kind | user | detail |\n|---|---|---|\n",
                    rows: plan
                        .notices
                        .iter()
                        .filter(|n| of(&n.product) && n.kind != NoticeKind::Dormant)
                        .map(notice_row)
                        .chain(
                            dormant_summary(plan)
                                .into_iter()
                                .filter(|(p, _, _)| of(p))
                                .map(|(_, count, examples)| {
                                    let examples: Vec<String> =
                                        examples.iter().map(|e| escape(e)).collect();
                                    let examples: Vec<&str> =
                                        examples.iter().map(String::as_str).collect();
                                    format!(
                                        "| dormant | | {} |\n",
                                        dormant_words(count, &examples).replace('|', "\\|")
                                    )
                                }),
                        )
                        .collect(),
                },
                Table {
                    title: Some("Granted outside seatkeeper (recorded in the ledger)"),
                    head: "| user | group |\n|---|---|\n",
                    rows: plan
                        .observed
                        .iter()
                        .filter(|o| of(&o.product))
                        .map(observed_row)
                        .collect(),
                },
            ];
            sections.push(Section { title, tables });
        }
        Sections { sections }
    }

    fn longest_table(&self) -> usize {
        self.sections
            .iter()
            .flat_map(|s| s.tables.iter().map(|t| t.rows.len()))
            .max()
            .unwrap_or(0)
    }

    /// The summary followed by every section, each table cut to `n` rows.
    fn render(&self, summary: &str, n: usize) -> String {
        let mut s = String::from(summary);
        for section in &self.sections {
            let _ = writeln!(s, "<details><summary>{}</summary>\n", section.title);
            for table in &section.tables {
                table.write(&mut s, n);
            }
            s.push_str("</details>\n\n");
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Rule;
    use crate::render::fixtures::{empty_plan, sample_plan, PlanBuilder};

    fn md(plan: &Plan) -> String {
        let mut out = Vec::new();
        render(plan, &mut out).expect("render");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(md(&sample_plan()));
    }

    #[test]
    fn snapshot_no_changes() {
        insta::assert_snapshot!(md(&empty_plan()));
    }

    #[test]
    fn snapshot_collapsed() {
        let plan = sample_plan();
        insta::assert_snapshot!(Sections::new(&plan).render(&summary(&plan), 1));
    }

    fn huge_plan() -> Plan {
        let mut b = PlanBuilder::new();
        for i in 0..15_000 {
            let email = format!("user{i:05}@acme.com");
            b = b.remove(
                "jira-software",
                "jira-software-users-acme",
                &email,
                Rule::Inactive,
                "inactive since 2026-07-01 (147 days > 90d)",
            );
        }
        for i in 0..5_000 {
            let email = format!("user{i:05}@acme.com");
            b = b.add(
                "confluence",
                "confluence-users-acme",
                &email,
                Rule::Eligible,
                "eligible",
            );
        }
        b.seats("jira-software", 20_000, 5_000, Some(25_000))
            .seats("confluence", 1_000, 6_000, None)
            .build()
    }

    #[test]
    fn twenty_thousand_actions_fit_in_a_comment() {
        let plan = huge_plan();
        assert_eq!(plan.actions.len(), 20_000);
        let text = md(&plan);
        assert!(text.len() < GITHUB_COMMENT_LIMIT, "{} bytes", text.len());
        assert!(text.chars().count() < GITHUB_COMMENT_LIMIT);

        // The summary survives whole.
        assert!(
            text.starts_with(&summary(&plan)),
            "summary first and intact"
        );
        assert!(text.contains("**Plan: 5000 to add, 15000 to remove, 0 blocked.**"));
        assert!(text.contains("| confluence | 5000 | 0 | 0 | 0 | 1000 | 6000 | +5000 | – |"));
        assert!(
            text.contains("| jira-software | 0 | 15000 | 0 | 0 | 20000 | 5000 | -15000 | 25000 |")
        );

        // Each product shows its first N rows, then "… and K more" with K = total - N.
        let conf = text
            .split("<b>confluence</b>")
            .nth(1)
            .expect("confluence section");
        let conf = conf.split("</details>").next().expect("section end");
        let jira = text
            .split("<b>jira-software</b>")
            .nth(1)
            .expect("jira section");
        let jira = jira.split("</details>").next().expect("section end");
        let shown = |section: &str| section.lines().filter(|l| l.starts_with("| `")).count();
        let more = |section: &str| -> usize {
            let line = section
                .lines()
                .find(|l| l.starts_with("… and "))
                .expect("more line");
            line.trim_start_matches("… and ")
                .trim_end_matches(" more")
                .parse()
                .expect("count")
        };
        let n = shown(conf);
        assert!(n > 10, "as many rows as fit, got {n}");
        assert_eq!(shown(jira), n, "the same N for every product");
        assert_eq!(more(conf), 5_000 - n);
        assert_eq!(more(jira), 15_000 - n);

        // N is the largest that fits: one more row would not.
        let sections = Sections::new(&plan);
        assert!(sections.render(&summary(&plan), n + 1).len() >= GITHUB_COMMENT_LIMIT);
    }

    #[test]
    fn a_small_limit_still_keeps_the_summary() {
        let plan = huge_plan();
        let limit = summary(&plan).len() + 200;
        let text = to_string(&plan, limit);
        assert!(text.len() < limit, "{text}");
        assert!(text.starts_with(&summary(&plan)));
        assert!(text.contains("too long for a comment"));
        let text = to_string(&plan, summary(&plan).len() + 400);
        assert!(text.starts_with(&summary(&plan)));
        assert!(
            text.contains("… and 5000 more") && text.contains("… and 15000 more"),
            "{text}"
        );
        let tiny = to_string(&plan, 100);
        assert!(tiny.len() < 100, "{tiny}");
    }

    #[test]
    fn markdown_metacharacters_in_user_text_are_escaped() {
        let evil = "a|b`c*d_e[f](http://x)<img src=x>~\\@y.io";
        let plan = PlanBuilder::new()
            .remove(
                "confluence",
                "confluence-users-acme",
                evil,
                Rule::NotEligible,
                "reason with | pipe and <script>alert(1)</script> and **bold**\nnew row",
            )
            .notice(
                crate::plan::NoticeKind::Drift,
                "confluence",
                "@octocat",
                "ping @team",
                None,
            )
            .build();
        let text = md(&plan);
        // The `@` follows a non-alphanumeric, so it could start a mention: a word joiner defuses it.
        let escaped = "a\\|b\\`c\\*d\\_e\\[f\\](http://x)&lt;img src=x&gt;\\~\\\\@\u{2060}y.io";
        assert_eq!(escape(evil), escaped);
        assert!(text.contains(escaped), "{text}");
        assert!(
            !text.contains("<img") && !text.contains("<script>"),
            "{text}"
        );
        assert!(text.contains(r"reason with \| pipe and &lt;script&gt;alert(1)&lt;/script&gt; and \*\*bold\*\* new row"));
        // Every action row still has exactly its six cell separators.
        let row = text.lines().find(|l| l.starts_with("| `-`")).expect("row");
        assert_eq!(row.matches(" | ").count() + 2, 6, "{row}");
        assert!(
            !text.contains("@octocat") && !text.contains("@team"),
            "mentions are defused"
        );
        assert_eq!(escape("alice@acme.com"), "alice@acme.com");
    }
}

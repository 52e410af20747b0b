//! The text plan, like terraform's: a header, the actions grouped by product and group with the
//! rule and reason inline, then blocked actions, notices, ledger observations, the seats table,
//! warnings and a one-line footer that scripts and humans both read:
//!
//! ```text
//! seatkeeper plan for acme.atlassian.net
//!   policy 9f1c2ab3d4e5, as of 2026-11-25 08:00 UTC
//!
//! jira-software
//!   # jira-software-users-acme
//!   + alice@acme.com  (requested 2026-11-20)
//!   + carol@acme.com  (logged-in: requested access 2026-11-23)
//!   - bob@x.io        (inactive since 2026-07-01 (147 days > 90d))
//!
//! Plan: 2 to add, 1 to remove, 0 blocked.
//! ```
//!
//! Colour (green `+`, red `-`, yellow blocked and notices, bold headings) is used only when
//! [`RenderOptions::color`] says so. Columns are aligned on the plain text, so colour never
//! shifts them.

use super::{
    dormant_summary, dormant_words, events_note, human_time, pad, plural, safety_defaults_note,
    signed_delta, terminal_safe, width, RenderOptions, Style, FIRST_RUN_NOTE,
};
use crate::plan::{Action, ActionKind, NoticeKind, Plan};
use std::borrow::Cow;
use std::io::{self, Write};

/// Emails longer than this do not widen the user column for everyone else.
const MAX_USER_COLUMN: usize = 40;

/// The footer for a plan that changes nothing.
pub const NO_CHANGES: &str = "No changes. Atlassian groups match the policy.";

/// Writes the text form of `plan`.
pub fn render(plan: &Plan, opts: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    let style = Style::new(opts);
    header(plan, style, out)?;
    actions(plan, style, out)?;
    blocked(plan, style, out)?;
    notices(plan, style, out)?;
    requests(plan, style, out)?;
    observed(plan, style, out)?;
    announcements(plan, style, out)?;
    seats(plan, style, out)?;
    warnings(plan, style, out)?;
    writeln!(out)?;
    let footer = footer(plan);
    writeln!(out, "{}", style.bold(&footer))
}

/// The last line: `Plan: N to add, M to remove, K blocked.`, or [`NO_CHANGES`] when the plan has
/// no actions, no blocked actions and nothing to record.
pub fn footer(plan: &Plan) -> String {
    if plan.actions.is_empty()
        && plan.blocked.is_empty()
        && plan.observed.is_empty()
        && plan.announce.is_empty()
    {
        return NO_CHANGES.to_string();
    }
    let (adds, removes) = plan.counts();
    let announce = match plan.announce.len() {
        0 => String::new(),
        n => format!(", {} to announce", plural(n, "reclaim", "reclaims")),
    };
    format!(
        "Plan: {adds} to add, {removes} to remove, {} blocked{announce}.",
        plan.blocked.len()
    )
}

fn header(plan: &Plan, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let title = format!("seatkeeper plan for {}", terminal_safe(&plan.site));
    writeln!(out, "{}", style.bold(&title))?;
    let policy = match &plan.policy_commit {
        Some(commit) => format!("policy {}", terminal_safe(short_commit(commit))),
        None => "policy not in git".to_string(),
    };
    let dirty = if plan.policy_dirty {
        " (uncommitted changes)"
    } else {
        ""
    };
    writeln!(
        out,
        "  {policy}{dirty}, as of {}",
        human_time(plan.generated_at)
    )?;
    if plan.first_run {
        writeln!(out, "  {}", style.yellow(FIRST_RUN_NOTE))?;
    }
    if let Some(note) = safety_defaults_note(plan) {
        writeln!(out, "  {}", style.yellow(&note))?;
    }
    if let Some(note) = events_note(plan) {
        writeln!(out, "  {}", style.yellow(&terminal_safe(&note)))?;
    }
    Ok(())
}

/// The first 12 characters of a commit id.
pub(crate) fn short_commit(commit: &str) -> &str {
    commit
        .char_indices()
        .nth(12)
        .map_or(commit, |(i, _)| &commit[..i])
}

fn user_column<'a>(who: impl Iterator<Item = &'a str>) -> usize {
    who.map(|w| width(&terminal_safe(w)))
        .filter(|&w| w <= MAX_USER_COLUMN)
        .max()
        .unwrap_or(0)
}

/// Paints `text`, then pads it to `cols` so the escape codes stay around the word only.
fn pad_painted<'a>(text: &'a str, cols: usize, paint: impl Fn(&'a str) -> Cow<'a, str>) -> String {
    let spaces = cols.saturating_sub(width(text));
    format!("{}{}", paint(text), " ".repeat(spaces))
}

fn symbol(kind: ActionKind, style: Style) -> String {
    let s = kind.symbol().to_string();
    match kind {
        ActionKind::Add => style.green(&s).into_owned(),
        ActionKind::Remove => style.red(&s).into_owned(),
    }
}

/// The reason in words, led by the rule's name unless the words already say it: "inactive since
/// 2026-06-01 (…)" rather than "inactive: inactive since …", but "logged-in: requested access
/// 2026-11-23".
fn rule_and_reason(action: &Action) -> String {
    let rule = action.rule.as_str();
    if action.reason.is_empty() {
        return rule.to_string();
    }
    if says_rule(&action.reason, rule) {
        terminal_safe(&action.reason).into_owned()
    } else {
        format!("{rule}: {}", terminal_safe(&action.reason))
    }
}

/// Whether `reason` starts with the words of `rule` ("not-eligible" → "not eligible"), as a whole
/// word.
fn says_rule(reason: &str, rule: &str) -> bool {
    let mut rest = reason.as_bytes().iter();
    let same = rule
        .bytes()
        .all(|r| rest.next() == Some(if r == b'-' { &b' ' } else { &r }));
    same && rest.next().is_none_or(|c| !c.is_ascii_alphanumeric())
}

fn actions(plan: &Plan, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let mut cols = 0;
    let mut product: Option<&str> = None;
    let mut group: Option<&str> = None;
    for action in &plan.actions {
        if product != Some(action.product.as_str()) {
            writeln!(out)?;
            writeln!(out, "{}", style.bold(&terminal_safe(&action.product)))?;
            product = Some(&action.product);
            group = None;
            // Align the reasons within each product.
            let same_product = plan.actions.iter().filter(|a| a.product == action.product);
            cols = user_column(same_product.map(Action::who));
        }
        if group != Some(action.group.as_str()) {
            writeln!(out, "  # {}", terminal_safe(&action.group))?;
            group = Some(&action.group);
        }
        let who = pad(&terminal_safe(action.who()), cols);
        writeln!(
            out,
            "  {} {who}  ({})",
            symbol(action.kind, style),
            rule_and_reason(action)
        )?;
    }
    Ok(())
}

fn blocked(plan: &Plan, style: Style, out: &mut dyn Write) -> io::Result<()> {
    if plan.blocked.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let title = format!("Blocked ({}, never attempted):", plan.blocked.len());
    writeln!(out, "{}", style.yellow(&style.bold(&title)))?;
    let cols = user_column(plan.blocked.iter().map(|b| b.action.who()));
    let group_cols = plan
        .blocked
        .iter()
        .map(|b| width(&terminal_safe(&b.action.group)))
        .max();
    let rail_cols = plan.blocked.iter().map(|b| b.rail.as_str().len()).max();
    for b in &plan.blocked {
        let a = &b.action;
        let who = pad(&terminal_safe(a.who()), cols);
        let group = pad(&terminal_safe(&a.group), group_cols.unwrap_or(0));
        let rail = pad_painted(b.rail.as_str(), rail_cols.unwrap_or(0), |t| style.yellow(t));
        writeln!(
            out,
            "  {} {who}  {group}  {}  {} ({})",
            a.kind.symbol(),
            rail,
            terminal_safe(&b.rail_detail),
            rule_and_reason(a)
        )?;
    }
    Ok(())
}

fn notices(plan: &Plan, style: Style, out: &mut dyn Write) -> io::Result<()> {
    if plan.notices.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{}", style.bold("Notices:"))?;
    let who = |n: &crate::plan::Notice| {
        terminal_safe(n.email.as_deref().unwrap_or(&n.account_id)).into_owned()
    };
    let kind_cols = plan
        .notices
        .iter()
        .map(|n| n.kind.as_str().len())
        .max()
        .unwrap_or(0);
    let product_cols = plan
        .notices
        .iter()
        .map(|n| width(&terminal_safe(&n.product)))
        .max()
        .unwrap_or(0);
    let cols = user_column(
        plan.notices
            .iter()
            .map(|n| n.email.as_deref().unwrap_or(&n.account_id)),
    );
    let dormant = dormant_summary(plan);
    let mut summarised: Option<&str> = None;
    for n in &plan.notices {
        let kind = pad_painted(n.kind.as_str(), kind_cols, |t| style.yellow(t));
        let product = pad(&terminal_safe(&n.product), product_cols);
        if n.kind == NoticeKind::Dormant {
            // One line per product: the list can run to thousands after a reclaim.
            if summarised == Some(n.product.as_str()) {
                continue;
            }
            summarised = Some(&n.product);
            if let Some((_, count, examples)) = dormant.iter().find(|d| d.0 == n.product) {
                let words = dormant_words(*count, examples);
                let line = format!("  {kind}  {product}  {}", terminal_safe(&words));
                writeln!(out, "{}", line.trim_end())?;
            }
            continue;
        }
        writeln!(
            out,
            "  {}  {}  {}  {}",
            kind,
            product,
            pad(&who(n), cols),
            terminal_safe(&n.detail)
        )?;
    }
    Ok(())
}

fn requests(plan: &Plan, style: Style, out: &mut dyn Write) -> io::Result<()> {
    if plan.requests.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let title = format!(
        "Requests awaiting approval ({}): the policy does not grant these; to approve one, add its line to `users:` in a pull request:",
        plan.requests.len()
    );
    writeln!(out, "{}", style.bold(&title))?;
    for r in &plan.requests {
        let who = terminal_safe(r.email.as_deref().unwrap_or(&r.account_id));
        writeln!(
            out,
            "  ? {who}  {}  requested {} ({})",
            terminal_safe(&r.product),
            r.requested_at.format("%Y-%m-%d"),
            r.rule
        )?;
        let replaces = r
            .replaces
            .as_ref()
            .map(|l| format!("  # replaces the entry at {l}"))
            .unwrap_or_default();
        writeln!(out, "      {}{replaces}", terminal_safe(&r.policy_line))?;
    }
    Ok(())
}

fn announcements(plan: &Plan, style: Style, out: &mut dyn Write) -> io::Result<()> {
    if plan.announce.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let title =
        format!(
        "Ledger: will record {} (new reclaim-soon dates above); once applied, those dates hold.",
        plural(plan.announce.len(), "reclaim announcement", "reclaim announcements")
    );
    writeln!(out, "{}", style.bold(&title))
}

fn observed(plan: &Plan, style: Style, out: &mut dyn Write) -> io::Result<()> {
    if plan.observed.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let title = format!(
        "Ledger: will record {} granted outside seatkeeper:",
        plural(plan.observed.len(), "membership", "memberships")
    );
    writeln!(out, "{}", style.bold(&title))?;
    let cols = user_column(
        plan.observed
            .iter()
            .map(|o| o.email.as_deref().unwrap_or(&o.account_id)),
    );
    for o in &plan.observed {
        let who = terminal_safe(o.email.as_deref().unwrap_or(&o.account_id));
        writeln!(out, "  = {}  {}", pad(&who, cols), terminal_safe(&o.group))?;
    }
    Ok(())
}

fn seats(plan: &Plan, style: Style, out: &mut dyn Write) -> io::Result<()> {
    if plan.seats.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{}", style.bold("Seats:"))?;
    // Seats are billable holders; members Atlassian does not bill get a column of their own
    // when there are any.
    let not_billed = plan.seats.values().any(|s| s.not_billed > 0);
    let mut rows = vec![vec![
        "product".to_string(),
        "before".to_string(),
        "after".to_string(),
        "change".to_string(),
        "budget".to_string(),
    ]];
    if not_billed {
        rows[0].push("not billed".to_string());
    }
    for (product, s) in &plan.seats {
        let mut row = vec![
            terminal_safe(product).into_owned(),
            s.before.to_string(),
            s.after.to_string(),
            signed_delta(s.before, s.after),
            s.budget.map_or_else(|| "-".to_string(), |b| b.to_string()),
        ];
        if not_billed {
            row.push(s.not_billed.to_string());
        }
        rows.push(row);
    }
    let mut widths = vec![0usize; rows[0].len()];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let over: Vec<bool> = std::iter::once(false)
        .chain(
            plan.seats
                .values()
                .map(|s| s.budget.is_some_and(|b| s.after > b as usize)),
        )
        .collect();
    for (i, row) in rows.iter().enumerate() {
        let mut line = format!("  {}", pad(&row[0], widths[0]));
        for (cell, &w) in row.iter().zip(&widths).skip(1) {
            line.push_str("  ");
            line.push_str(&" ".repeat(w - width(cell)));
            line.push_str(cell);
        }
        let line = if over[i] {
            format!("{line}  {}", style.yellow("over budget"))
        } else {
            line
        };
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn warnings(plan: &Plan, style: Style, out: &mut dyn Write) -> io::Result<()> {
    if plan.warnings.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{}", style.yellow(&style.bold("Warnings:")))?;
    for w in &plan.warnings {
        let at = w
            .location
            .as_ref()
            .map(|l| format!("{l}: "))
            .unwrap_or_default();
        writeln!(
            out,
            "  ! [{}] {at}{}",
            terminal_safe(&w.code),
            terminal_safe(&w.message)
        )?;
        if let Some(hint) = &w.hint {
            writeln!(out, "    hint: {}", terminal_safe(hint))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Rule;
    use crate::render::fixtures::{empty_plan, sample_plan, PlanBuilder};

    fn text(plan: &Plan, color: bool) -> String {
        let mut out = Vec::new();
        render(plan, &RenderOptions { color }, &mut out).expect("render");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn snapshot_plain() {
        insta::assert_snapshot!(text(&sample_plan(), false));
    }

    #[test]
    fn snapshot_colour() {
        insta::assert_snapshot!(text(&sample_plan(), true));
    }

    #[test]
    fn snapshot_no_changes() {
        insta::assert_snapshot!(text(&empty_plan(), false));
    }

    #[test]
    fn a_reason_that_says_its_rule_is_not_led_by_the_rule_again() {
        assert!(says_rule(
            "inactive since 2026-06-01 (177 days > 90d)",
            "inactive"
        ));
        assert!(says_rule(
            "not eligible: no safe-user entry",
            "not-eligible"
        ));
        assert!(says_rule("account closed", "account-closed"));
        assert!(says_rule("logged in 2026-11-24", "logged-in"));
        assert!(!says_rule("requested access 2026-11-23", "logged-in"));
        assert!(!says_rule(
            "active 2026-11-10 after the reclaim",
            "inactive"
        ));
        // A whole word only: "eligibleish" does not say "eligible".
        assert!(!says_rule("eligibleish", "eligible"));
        assert!(!says_rule("inact", "inactive"));
        assert!(says_rule("eligible", "eligible"));
    }

    #[test]
    fn plain_output_has_no_escape_codes_and_colour_output_does() {
        assert!(!text(&sample_plan(), false).contains('\x1b'));
        let coloured = text(&sample_plan(), true);
        assert!(coloured.contains("\x1b[32m+\x1b[0m"), "{coloured}");
        assert!(coloured.contains("\x1b[31m-\x1b[0m"), "{coloured}");
    }

    fn strip_ansi(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("\x1b[") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('m').expect("sgr end");
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn colour_changes_nothing_but_the_escape_codes() {
        for plan in [sample_plan(), empty_plan()] {
            assert_eq!(strip_ansi(&text(&plan, true)), text(&plan, false));
        }
    }

    #[test]
    fn footer_counts_and_no_changes() {
        let plan = sample_plan();
        assert!(text(&plan, false).ends_with("\nPlan: 3 to add, 3 to remove, 2 blocked.\n"));
        assert!(text(&empty_plan(), false).ends_with(&format!("\n{NO_CHANGES}\n")));
        let only_observed = PlanBuilder::new()
            .observed("confluence", "c", "a@b.c")
            .build();
        assert_eq!(
            footer(&only_observed),
            "Plan: 0 to add, 0 to remove, 0 blocked."
        );
    }

    #[test]
    fn user_text_cannot_inject_terminal_escapes() {
        let plan = PlanBuilder::new()
            .remove(
                "confluence",
                "g",
                "eve\x1b]0;pwned\x07@x.io",
                Rule::NotEligible,
                "x\x1b[2Jy",
            )
            .build();
        let out = text(&plan, false);
        assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out}");
    }

    #[test]
    fn the_header_says_when_events_fall_short_and_when_it_is_a_first_run() {
        let t = |s: &str| s.parse().expect("time");
        let mut plan = empty_plan();
        plan.first_run = true;
        plan.events = Some(crate::live::EventsRead {
            wanted_from: t("2026-06-01T08:00:00Z"),
            covered_from: None,
            note: Some("the events API answered 403: it needs Atlassian Guard".into()),
        });
        let out = text(&plan, false);
        assert!(out.contains("\n  first run against this org (the audit log is empty): seats past their window are announced, not reclaimed\n"), "{out}");
        assert!(out.contains("\n  no org events (the events API answered 403: it needs Atlassian Guard): logins and access requests are not seen; the plan needs them from 2026-06-01\n"), "{out}");
        plan.events = Some(crate::live::EventsRead {
            wanted_from: t("2026-06-01T08:00:00Z"),
            covered_from: Some(t("2026-09-01T00:00:00Z")),
            note: None,
        });
        assert!(text(&plan, false).contains(
            "org events reach back to 2026-09-01 only; the plan needs them from 2026-06-01"
        ));
        // A read that covers the window says nothing.
        plan.events = Some(crate::live::EventsRead {
            wanted_from: t("2026-09-01T08:00:00Z"),
            covered_from: Some(t("2026-09-01T08:00:00Z")),
            note: None,
        });
        assert!(!text(&plan, false).contains("org events"));
    }

    #[test]
    fn short_commits() {
        assert_eq!(short_commit("9f1c2ab3d4e5f60718"), "9f1c2ab3d4e5");
        assert_eq!(short_commit("abc"), "abc");
    }
}

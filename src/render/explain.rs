//! `seatkeeper explain USER`: for every managed product, whether the user holds it now and after
//! the plan, what happens, the rule and reason, the activity evidence, the policy entry that
//! makes them a safe user, and when the seat would be reclaimed.
//!
//! ```text
//! alice@acme.com (Alice Example)
//!   account 5b10ac8d82e05b22cc7d4ef5, atlassian, active
//!
//! jira-software
//!   holds now:    yes (jira-software-users-acme)
//!   after plan:   no
//!   outcome:      remove
//!   rule:         inactive
//!   reason:       inactive since 2026-07-01 (147 days > 90d)
//!   evidence:     membership began 2026-07-01
//!   last active:  2025-02-11
//!   policy entry: teams/eng.yaml:12:5
//!   reclaim date: 2026-09-29 (announced)
//! ```
//!
//! The JSON form is the serde form of [`Explanation`], pretty-printed with a trailing newline.
//! `outcome` is `keep`, `add`, `remove`, `none`, `dormant`, `reported`, `ignored`, or
//! `{"blocked": RAIL}`.

use super::markdown::escape;
use super::{human_time, terminal_safe, write_json, RenderOptions, Style};
use crate::plan::{Decision, Evidence, EvidenceSource, Explanation, Outcome};
use std::io::{self, Write};

/// The outcome in words: `keep`, `add`, `blocked by seat-budget`, ...
pub fn outcome_words(outcome: Outcome) -> String {
    match outcome {
        Outcome::Keep => "keep".into(),
        Outcome::Add => "add".into(),
        Outcome::Remove => "remove".into(),
        Outcome::None => "none".into(),
        Outcome::Dormant => "dormant (no add without new demand)".into(),
        Outcome::Blocked(rail) => format!("blocked by {rail}"),
        Outcome::Reported => "reported only (drift: report)".into(),
        Outcome::Ignored => "ignored (never touched)".into(),
    }
}

/// The evidence in words: `last active 2026-07-01`, `requested 2026-11-20`, `no activity data`.
pub fn evidence_words(evidence: &Evidence) -> String {
    match (evidence.source, evidence.at) {
        (EvidenceSource::None, _) => EvidenceSource::None.describe().to_string(),
        (source, Some(at)) => format!("{} {}", source.describe(), human_time(at)),
        (source, None) => source.describe().to_string(),
    }
}

fn yes_no(holds: bool) -> &'static str {
    if holds {
        "yes"
    } else {
        "no"
    }
}

fn holds_now(d: &Decision) -> String {
    if d.groups_now.is_empty() {
        yes_no(d.holds_now).to_string()
    } else {
        format!("{} ({})", yes_no(d.holds_now), d.groups_now.join(", "))
    }
}

fn who(e: &Explanation) -> String {
    let id = e.email.as_deref().unwrap_or(&e.account_id);
    if e.name.is_empty() {
        id.to_string()
    } else {
        format!("{id} ({})", e.name)
    }
}

/// The label/value lines of one decision, before any styling or escaping.
fn fields(d: &Decision) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("holds now", holds_now(d)),
        ("after plan", yes_no(d.holds_after).to_string()),
        ("outcome", outcome_words(d.outcome)),
        (
            "rule",
            d.rule.map_or_else(|| "-".to_string(), |r| r.to_string()),
        ),
    ];
    if !d.reason.is_empty() {
        fields.push(("reason", d.reason.clone()));
    }
    fields.push(("evidence", evidence_words(&d.evidence)));
    // The product's own last-active time, always: a login or a group change may have decided,
    // but this is what Atlassian bills against.
    fields.push((
        "last active",
        d.evidence
            .last_active
            .map_or_else(|| "never on this product".to_string(), human_time),
    ));
    fields.push((
        "policy entry",
        d.evidence
            .entry
            .as_ref()
            .map_or_else(|| "none".to_string(), |l| l.to_string()),
    ));
    if let Some(at) = d.reclaim_at {
        let announced = if d.reclaim_announced {
            " (announced)"
        } else {
            ""
        };
        fields.push(("reclaim date", format!("{}{announced}", human_time(at))));
    }
    fields
}

/// Writes the text form.
pub fn text(e: &Explanation, opts: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    let style = Style::new(opts);
    writeln!(out, "{}", style.bold(&terminal_safe(&who(e))))?;
    writeln!(
        out,
        "  account {}, {}, {}",
        terminal_safe(&e.account_id),
        terminal_safe(&e.account_type),
        terminal_safe(&e.status)
    )?;
    if e.products.is_empty() {
        writeln!(out)?;
        writeln!(out, "No managed products.")?;
    }
    for d in &e.products {
        writeln!(out)?;
        writeln!(out, "{}", style.bold(&terminal_safe(&d.product)))?;
        for (label, value) in fields(d) {
            let value = terminal_safe(&value);
            let value = match (label, d.outcome) {
                ("outcome", Outcome::Add) => style.green(&value).into_owned(),
                ("outcome", Outcome::Remove) => style.red(&value).into_owned(),
                ("outcome", Outcome::Blocked(_) | Outcome::Dormant | Outcome::Reported) => {
                    style.yellow(&value).into_owned()
                }
                _ => value.into_owned(),
            };
            writeln!(out, "  {:<14}{value}", format!("{label}:"))?;
        }
    }
    Ok(())
}

/// Writes a markdown table (one row per product), for pasting into an access review.
pub fn markdown(e: &Explanation, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "### {}\n", escape(&who(e)))?;
    writeln!(
        out,
        "Account {}, {}, {}\n",
        escape(&e.account_id),
        escape(&e.account_type),
        escape(&e.status)
    )?;
    writeln!(
        out,
        "| product | holds now | after plan | outcome | rule | reason | evidence | policy entry | reclaim date |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|")?;
    for d in &e.products {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            escape(&d.product),
            escape(&holds_now(d)),
            yes_no(d.holds_after),
            escape(&outcome_words(d.outcome)),
            d.rule.map_or_else(|| "–".to_string(), |r| r.to_string()),
            escape(&d.reason),
            escape(&evidence_words(&d.evidence)),
            d.evidence
                .entry
                .as_ref()
                .map_or_else(|| "–".to_string(), |l| escape(&l.to_string())),
            d.reclaim_at.map_or_else(|| "–".to_string(), human_time),
        )?;
    }
    Ok(())
}

/// Writes the JSON form: the serde form of [`Explanation`], pretty, with a trailing newline.
pub fn json(e: &Explanation, out: &mut dyn Write) -> io::Result<()> {
    write_json(e, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::sample_explanation;

    fn render(f: impl Fn(&mut dyn Write) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).expect("render");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn snapshot_text() {
        let e = sample_explanation();
        insta::assert_snapshot!(render(|o| text(&e, &RenderOptions::PLAIN, o)));
    }

    #[test]
    fn snapshot_text_colour() {
        let e = sample_explanation();
        insta::assert_snapshot!(render(|o| text(&e, &RenderOptions { color: true }, o)));
    }

    #[test]
    fn snapshot_markdown() {
        let e = sample_explanation();
        insta::assert_snapshot!(render(|o| markdown(&e, o)));
    }

    #[test]
    fn snapshot_json() {
        let e = sample_explanation();
        let out = render(|o| json(&e, o));
        assert!(out.ends_with("}\n"));
        let value: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(value["products"][1]["outcome"]["blocked"], "seat-budget");
        assert_eq!(
            value["products"][2]["evidence"]["entry"]["file"],
            "teams/eng.yaml"
        );
        insta::assert_snapshot!(out);
    }

    #[test]
    fn text_names_every_required_fact() {
        let e = sample_explanation();
        let out = render(|o| text(&e, &RenderOptions::PLAIN, o));
        for needle in [
            "holds now:    yes (jira-software-users-acme, jira-software-users-legacy)",
            "after plan:   no",
            "outcome:      remove",
            "rule:         inactive",
            "evidence:     last active 2026-07-01",
            "policy entry: teams/eng.yaml:12:5",
            "reclaim date: 2026-09-29",
            "outcome:      blocked by seat-budget",
        ] {
            assert!(out.contains(needle), "missing {needle:?} in\n{out}");
        }
    }
}

//! The markdown report, for a review ticket or a pull request in the policy repo.
//!
//! Summary table first (one row per product: holders by basis, unmanaged, leaving, reclaim
//! soon, dormant, seats now, after the plan and the budget), then what changed since the last
//! review, then one section per product: holders (user, name, rule, entry, added by, last
//! active, days left, outcome), unmanaged members, dormant safe users and seats over time.
//!
//! User-controlled text is escaped with [`crate::render::markdown::escape`].

use super::{day, short, AccessReport, Change, Changes, ProductReport};
use crate::render::markdown::escape;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Writes the markdown report.
pub fn render(report: &AccessReport, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(to_string(report).as_bytes())
}

/// The markdown report as a string.
pub fn to_string(report: &AccessReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Access review: {}\n", escape(&report.site));
    let commit = match &report.policy_commit {
        Some(c) => format!("`{}`", code(short(c))),
        None => "not in git".to_string(),
    };
    let dirty = if report.policy_dirty {
        " (uncommitted changes)"
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "As of {} · policy {commit}{dirty}\n",
        day(report.generated_at)
    );
    if !report.warnings.is_empty() {
        let _ = writeln!(s, "**Warnings**\n");
        for w in &report.warnings {
            let _ = writeln!(s, "- {}", escape(w));
        }
        s.push('\n');
    }
    summary(&mut s, report);
    if let Some(changes) = &report.changes {
        changes_section(&mut s, changes);
    }
    for p in &report.products {
        product(&mut s, p);
    }
    s
}

/// Keeps only what a commit id or date holds, for code spans (which show backslashes).
fn code(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

fn opt_num(n: Option<impl ToString>) -> String {
    n.map_or_else(|| "–".to_string(), |n| n.to_string())
}

fn summary(s: &mut String, report: &AccessReport) {
    let _ = writeln!(s, "## Summary\n");
    s.push_str("| product | holders | kept | safe users | eligible group | unmanaged | leaving | reclaim soon | dormant | seats now | after plan | budget |\n");
    s.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for p in &report.products {
        let c = &p.counts;
        let budget = match p.seats.budget {
            Some(b) if p.seats.before > b as usize => format!("{b} ⚠️ over"),
            b => opt_num(b),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {budget} |",
            escape(&p.product),
            c.holders,
            c.kept,
            c.safe_users,
            c.eligible_group,
            c.unmanaged,
            c.leaving,
            c.reclaim_soon,
            c.dormant,
            p.seats.before,
            p.seats.after,
        );
    }
    let hidden: Vec<String> = report
        .products
        .iter()
        .filter(|p| p.counts.ignored + p.counts.unlisted > 0)
        .map(|p| {
            format!(
                "{}: {} ignored, {} not in the user list",
                escape(&p.product),
                p.counts.ignored,
                p.counts.unlisted
            )
        })
        .collect();
    if !hidden.is_empty() {
        let _ = writeln!(
            s,
            "\nSeats now also count members that are not listed ({}).",
            hidden.join("; ")
        );
    }
    s.push('\n');
}

fn changes_section(s: &mut String, c: &Changes) {
    let _ = writeln!(s, "## Changes since {}\n", escape(&c.label));
    let _ = writeln!(
        s,
        "{} granted · {} revoked · {} reclaimed (from the audit log, after {})\n",
        c.grants.len(),
        c.revocations.len(),
        c.reclaims.len(),
        crate::render::human_time(c.since)
    );
    for (title, list) in [
        ("Grants", &c.grants),
        ("Revocations", &c.revocations),
        ("Reclaims", &c.reclaims),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(s, "### {title}\n");
        s.push_str("| date | product | user | group | rule | reason | by |\n");
        s.push_str("|---|---|---|---|---|---|---|\n");
        for ch in list {
            change_row(s, ch);
        }
        s.push('\n');
    }
    if let Some(diff) = &c.policy {
        let _ = writeln!(s, "### Policy changes\n");
        if diff.is_empty() {
            let _ = writeln!(s, "No access-relevant policy change.\n");
        }
        for (verb, map) in [("granted", &diff.granted), ("revoked", &diff.revoked)] {
            for (product, users) in map {
                let users: Vec<String> = users.iter().map(|u| escape(u)).collect();
                let _ = writeln!(s, "- {} {verb}: {}", escape(product), users.join(", "));
            }
        }
        for line in diff.rules.iter().chain(&diff.budgets).chain(&diff.rails) {
            let _ = writeln!(s, "- {}", escape(line));
        }
        s.push('\n');
    }
}

fn change_row(s: &mut String, c: &Change) {
    let _ = writeln!(
        s,
        "| {} | {} | {} | {} | {} | {} | {} |",
        day(c.time),
        escape(&c.product),
        escape(c.who()),
        escape(&c.group),
        escape(&c.rule),
        escape(&c.reason),
        escape(&c.actor)
    );
}

fn product(s: &mut String, p: &ProductReport) {
    let _ = writeln!(s, "## {}\n", escape(&p.product));
    let rule = p
        .inactivity
        .as_deref()
        .map_or("no inactivity rule".to_string(), |w| {
            format!("reclaim after {}", escape(w))
        });
    let _ = writeln!(
        s,
        "Groups: {} · {rule} · seats {} now, {} after the plan, budget {}\n",
        p.groups
            .iter()
            .map(|g| escape(g))
            .collect::<Vec<_>>()
            .join(", "),
        p.seats.before,
        p.seats.after,
        opt_num(p.seats.budget)
    );
    if p.holders.is_empty() {
        let _ = writeln!(s, "No holders.\n");
    } else {
        s.push_str(
            "| user | name | rule | entry | added by | last active | days left | outcome |\n",
        );
        s.push_str("|---|---|---|---|---|---|--:|---|\n");
        for h in &p.holders {
            let rule = match &h.via {
                Some(via) => format!("{} ({})", h.basis.as_str(), escape(via)),
                None => h.basis.as_str().to_string(),
            };
            let entry = h
                .entry
                .as_ref()
                .map_or("–".into(), |l| escape(&format!("{}:{}", l.file, l.line)));
            let added = h.added_by.as_ref().map_or("–".into(), |o| {
                format!(
                    "`{}` {} {}",
                    code(short(&o.commit)),
                    escape(&o.author),
                    code(&o.date)
                )
            });
            // The evidence that decided, and the product's own last use beside it.
            let active = match (h.last_active, h.product_last_active) {
                (Some(t), _) if h.activity_source == crate::plan::EvidenceSource::LastActive => {
                    format!("{} (last active)", day(t))
                }
                (Some(t), used) => format!(
                    "{} ({}); {}",
                    day(t),
                    h.activity_source.describe(),
                    used.map_or("never used".to_string(), |u| format!("used {}", day(u)))
                ),
                (None, Some(u)) => format!("used {}", day(u)),
                (None, None) => "–".to_string(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {rule} | {entry} | {added} | {active} | {} | {} |",
                escape(h.who()),
                escape(&h.name),
                opt_num(h.days_left),
                escape(&h.fate.describe())
            );
        }
        s.push('\n');
    }
    let unmanaged: Vec<_> = p.unmanaged().collect();
    if !unmanaged.is_empty() {
        let _ = writeln!(s, "**Unmanaged members** (not safe users, not kept)\n");
        for h in unmanaged {
            let _ = writeln!(
                s,
                "- {} ({}): {} — {}",
                escape(h.who()),
                escape(&h.groups.join(", ")),
                escape(&h.reason),
                escape(&h.fate.describe())
            );
        }
        s.push('\n');
    }
    if !p.requests.is_empty() {
        let _ = writeln!(
            s,
            "**Requests awaiting approval** (to approve one, add its line to `users:`)\n"
        );
        for r in &p.requests {
            let replaces = r
                .replaces
                .as_ref()
                .map(|l| format!(", replacing {}", escape(&l.to_string())))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "- {} asked on {}: `{}`{replaces}",
                escape(r.email.as_deref().unwrap_or(&r.account_id)),
                day(r.requested_at),
                r.policy_line.replace('`', "'")
            );
        }
        s.push('\n');
    }
    if !p.dormant.is_empty() {
        let _ = writeln!(s, "**Dormant safe users**\n");
        for d in &p.dormant {
            let entry = d
                .entry
                .as_ref()
                .map_or(String::new(), |l| format!(" ({}:{})", l.file, l.line));
            let _ = writeln!(
                s,
                "- {}{}: {}",
                escape(d.who()),
                escape(&entry),
                escape(&d.reason)
            );
        }
        s.push('\n');
    }
    if p.history.len() > 1 {
        let points: Vec<String> = p
            .history
            .iter()
            .map(|pt| format!("{} ({})", pt.seats, day(pt.at)))
            .collect();
        let _ = writeln!(s, "Seats over time: {}\n", points.join(" → "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_report_snapshot() {
        insta::assert_snapshot!(to_string(&crate::report::fixtures::report()));
    }

    #[test]
    fn markdown_changes_since_a_revision_snapshot() {
        use crate::report::{fixtures, Since};
        // The policy at the revision: no frank, a smaller jira-software budget.
        let mut base = fixtures::policy();
        base.users.retain(|u| u.who.to_string() != "frank@acme.com");
        if let Some(p) = base.products.iter_mut().find(|p| p.key == "jira-software") {
            p.seats = Some(3);
        }
        let since = Since {
            cutoff: "2026-08-01T00:00:00Z".parse().unwrap(),
            label: "review-2026-q3 (0123456789ab)".into(),
            commit: Some("0123456789ab".repeat(3)),
            base_policy: Some(base),
        };
        let (_, report) = fixtures::build(Some(&since));
        let text = to_string(&report);
        let changes =
            &text[text.find("## Changes since").unwrap()..text.find("## confluence").unwrap()];
        insta::assert_snapshot!(changes);
    }
}

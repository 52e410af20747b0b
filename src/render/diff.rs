//! Renders what a pull request changes: the policy diff in access terms, the plan delta, and the
//! changed policy files as unified diffs (via `similar`). Text for terminals, markdown for PR
//! comments (summary first, under GitHub's comment limit).

use super::markdown::{escape, GITHUB_COMMENT_LIMIT};
use super::{plural, terminal_safe, RenderOptions, Style};
use crate::diff::{PlanDelta, PolicyDiff};
use crate::plan::Action;
use std::io::{self, Write};

/// Everything a diff report shows.
#[derive(Debug, Clone)]
pub struct DiffReport {
    /// How the base is named (`main`, a commit).
    pub base: String,
    /// How the head is named (`HEAD`, `work tree`).
    pub head: String,
    /// The access diff.
    pub policy: PolicyDiff,
    /// The plan delta, when live state or a snapshot was available.
    pub plan: Option<PlanDelta>,
    /// Changed files: (path, unified diff).
    pub files: Vec<(String, String)>,
}

impl DiffReport {
    /// Whether the PR changes access or what apply would do.
    pub fn has_changes(&self) -> bool {
        !self.policy.is_empty() || self.plan.as_ref().is_some_and(|p| !p.is_empty())
    }
}

/// A unified diff of one file's two versions (empty when equal).
pub fn file_diff(path: &str, before: &str, after: &str) -> String {
    if before == after {
        return String::new();
    }
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(2)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

/// An action for a markdown list: the sign in a code span, since `- - user` and `- + user`
/// render on GitHub as nested bullets and additions and removals would look the same.
fn md_action_line(a: &Action) -> String {
    format!(
        "`{}` {}",
        a.kind.symbol(),
        escape(&format!(
            "{} {} ({}: {})",
            a.who(),
            a.group,
            a.rule,
            a.reason
        ))
    )
}

fn action_line(a: &Action) -> String {
    format!(
        "{} {} {} ({}: {})",
        a.kind.symbol(),
        a.who(),
        a.group,
        a.rule,
        a.reason
    )
}

fn summary(report: &DiffReport) -> String {
    let granted: usize = report.policy.granted.values().map(Vec::len).sum();
    let revoked: usize = report.policy.revoked.values().map(Vec::len).sum();
    let mut s = format!(
        "{}, {}, {}, {}, {}",
        plural(granted, "grant", "grants"),
        plural(revoked, "revocation", "revocations"),
        plural(report.policy.rules.len(), "rule change", "rule changes"),
        plural(
            report.policy.budgets.len(),
            "budget change",
            "budget changes"
        ),
        plural(report.policy.rails.len(), "rail change", "rail changes"),
    );
    if let Some(plan) = &report.plan {
        s.push_str(&format!(
            "; the plan gains {}, loses {} and has {} newly blocked",
            plural(plan.introduced.len(), "action", "actions"),
            plan.cancelled.len(),
            plan.newly_blocked.len()
        ));
    }
    s
}

/// Renders the report as text: `+` green, `-` red, with colour when `opts` says so.
pub fn text(report: &DiffReport, opts: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    let style = Style::new(opts);
    let sign = |symbol: char, line: &str| -> String {
        let line = format!("{symbol} {}", terminal_safe(line));
        match symbol {
            '+' => style.green(&line).into_owned(),
            '-' => style.red(&line).into_owned(),
            _ => style.yellow(&line).into_owned(),
        }
    };
    writeln!(
        out,
        "{}",
        style.bold(&format!(
            "seatkeeper diff {}..{}",
            terminal_safe(&report.base),
            terminal_safe(&report.head)
        ))
    )?;
    if !report.has_changes() {
        writeln!(out, "\nNo access changes.")?;
    } else {
        writeln!(out, "\n{}.", summary(report))?;
    }
    for (title, map, symbol) in [
        ("Granted", &report.policy.granted, '+'),
        ("Revoked", &report.policy.revoked, '-'),
    ] {
        if map.is_empty() {
            continue;
        }
        writeln!(out, "\n{title}:")?;
        for (product, users) in map {
            writeln!(out, "  {product}")?;
            for u in users {
                writeln!(out, "    {}", sign(symbol, u))?;
            }
        }
    }
    for (title, lines) in [
        ("Rules", &report.policy.rules),
        ("Budgets", &report.policy.budgets),
        ("Rails", &report.policy.rails),
    ] {
        if !lines.is_empty() {
            writeln!(out, "\n{title}:")?;
            for l in lines {
                writeln!(out, "  {}", sign('~', l))?;
            }
        }
    }
    if let Some(plan) = &report.plan {
        writeln!(
            out,
            "\nPlan delta (what applying the head does that the base would not):"
        )?;
        if plan.is_empty() {
            writeln!(out, "  none")?;
        }
        for a in &plan.introduced {
            let line = action_line(a);
            let (symbol, rest) = line.split_at(1);
            writeln!(
                out,
                "  {}",
                sign(symbol.chars().next().unwrap_or('~'), rest.trim_start())
            )?;
        }
        for a in &plan.cancelled {
            let line = terminal_safe(&action_line(a)).into_owned();
            writeln!(out, "  cancelled: {}", style.yellow(&line))?;
        }
        for (a, rail) in &plan.newly_blocked {
            let line = terminal_safe(&action_line(a)).into_owned();
            writeln!(out, "  blocked by {rail}: {}", style.yellow(&line))?;
        }
    }
    for (path, diff) in &report.files {
        writeln!(out, "\n{path}:\n{diff}")?;
    }
    Ok(())
}

/// Renders the report as JSON: the access diff, the plan delta (`null` without live state) and
/// the changed files, with `has_changes` as `--detailed-exitcode` reads it.
pub fn json(report: &DiffReport, out: &mut dyn Write) -> io::Result<()> {
    let plan = report.plan.as_ref().map(|p| {
        serde_json::json!({
            "introduced": p.introduced,
            "cancelled": p.cancelled,
            "newly_blocked": p
                .newly_blocked
                .iter()
                .map(|(action, rail)| serde_json::json!({ "action": action, "rail": rail }))
                .collect::<Vec<_>>(),
        })
    });
    let files: Vec<serde_json::Value> = report
        .files
        .iter()
        .map(|(path, diff)| serde_json::json!({ "path": path, "diff": diff }))
        .collect();
    let value = serde_json::json!({
        "base": report.base,
        "head": report.head,
        "has_changes": report.has_changes(),
        "policy": {
            "granted": report.policy.granted,
            "revoked": report.policy.revoked,
            "rules": report.policy.rules,
            "budgets": report.policy.budgets,
            "rails": report.policy.rails,
        },
        "plan": plan,
        "files": files,
    });
    super::write_json(&value, out)
}

/// Renders the report as a PR comment under `limit` bytes, collapsing long lists.
pub fn markdown_string(report: &DiffReport, limit: usize) -> String {
    // Shrink the per-list row cap until it fits; the summary always survives.
    let mut cap = 500usize;
    loop {
        let body = markdown_with_cap(report, cap);
        if body.len() <= limit || cap == 0 {
            return if body.len() <= limit {
                body
            } else {
                markdown_with_cap(report, 0)
                    .chars()
                    .take(limit / 4)
                    .collect()
            };
        }
        cap /= 2;
    }
}

fn list(out: &mut String, items: &[String], cap: usize) {
    for item in items.iter().take(cap) {
        out.push_str(&format!("- {item}\n"));
    }
    if items.len() > cap {
        out.push_str(&format!("- … and {} more\n", items.len() - cap));
    }
}

fn markdown_with_cap(report: &DiffReport, cap: usize) -> String {
    let mut s = format!(
        "### seatkeeper diff `{}`..`{}`\n\n**{}.**\n\n",
        escape(&report.base),
        escape(&report.head),
        if report.has_changes() {
            summary(report)
        } else {
            "No access changes".into()
        }
    );
    for (title, map) in [
        ("Granted", &report.policy.granted),
        ("Revoked", &report.policy.revoked),
    ] {
        for (product, users) in map {
            s.push_str(&format!(
                "<details><summary><b>{title}</b> {product}: {}</summary>\n\n",
                users.len()
            ));
            list(
                &mut s,
                &users.iter().map(|u| escape(u)).collect::<Vec<_>>(),
                cap,
            );
            s.push_str("\n</details>\n\n");
        }
    }
    let changes: Vec<String> = report
        .policy
        .rules
        .iter()
        .chain(&report.policy.budgets)
        .chain(&report.policy.rails)
        .map(|l| escape(l))
        .collect();
    if !changes.is_empty() {
        s.push_str("**Rules, budgets and rails**\n\n");
        list(&mut s, &changes, cap.max(50));
        s.push('\n');
    }
    if let Some(plan) = &report.plan {
        let lines: Vec<String> = plan
            .introduced
            .iter()
            .map(md_action_line)
            .chain(
                plan.cancelled
                    .iter()
                    .map(|a| format!("cancelled: {}", md_action_line(a))),
            )
            .chain(
                plan.newly_blocked
                    .iter()
                    .map(|(a, r)| format!("blocked by {r}: {}", md_action_line(a))),
            )
            .collect();
        s.push_str(&format!(
            "<details><summary><b>Plan delta</b>: {} changes</summary>\n\n",
            lines.len()
        ));
        list(&mut s, &lines, cap);
        s.push_str("\n</details>\n\n");
    }
    if !report.files.is_empty() && cap > 0 {
        s.push_str("<details><summary>Policy files</summary>\n\n");
        for (path, diff) in &report.files {
            let diff: String = diff.lines().take(cap * 4).collect::<Vec<_>>().join("\n");
            s.push_str(&format!(
                "`{}`\n\n```diff\n{}\n```\n\n",
                escape(path),
                diff.replace("```", "ʼʼʼ")
            ));
        }
        s.push_str("</details>\n");
    }
    s
}

/// Renders the report as markdown under GitHub's comment limit.
pub fn markdown(report: &DiffReport, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(markdown_string(report, GITHUB_COMMENT_LIMIT).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn huge_diffs_collapse_under_the_limit_with_the_summary_first() {
        let users: Vec<String> = (0..20_000).map(|i| format!("user{i}@acme.com")).collect();
        let report = DiffReport {
            base: "main".into(),
            head: "HEAD".into(),
            policy: PolicyDiff {
                granted: BTreeMap::from([("confluence".to_string(), users)]),
                ..PolicyDiff::default()
            },
            plan: None,
            files: vec![(
                "teams/eng.yaml".into(),
                file_diff("teams/eng.yaml", "a\n", "b\n"),
            )],
        };
        let md = markdown_string(&report, GITHUB_COMMENT_LIMIT);
        assert!(md.len() <= GITHUB_COMMENT_LIMIT);
        assert!(md.starts_with("### seatkeeper diff"));
        assert!(
            md.contains("**20000 grants, 0 revocations"),
            "{}",
            &md[..300]
        );
        assert!(md.contains("more\n"));
        let mut text_out = Vec::new();
        text(&report, &RenderOptions { color: false }, &mut text_out).unwrap();
        assert!(String::from_utf8(text_out).unwrap().contains("+b"));
        let mut json_out = Vec::new();
        json(&report, &mut json_out).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json_out).unwrap();
        assert_eq!(value["has_changes"], true);
        assert_eq!(value["policy"]["granted"].as_object().unwrap().len(), 1);
        assert_eq!(value["files"][0]["path"], "teams/eng.yaml");
        assert!(value["plan"].is_null());
    }

    #[test]
    fn additions_and_removals_keep_their_signs_in_a_markdown_list() {
        use crate::plan::{ActionKind, Evidence, Rule};
        let action = |kind| Action {
            kind,
            product: "confluence".into(),
            group: "confluence-users".into(),
            group_id: "g1".into(),
            account_id: "a".into(),
            email: Some("rosa@acme.com".into()),
            rule: Rule::Eligible,
            reason: "eligible".into(),
            evidence: Evidence::default(),
        };
        let report = DiffReport {
            base: "main".into(),
            head: "HEAD".into(),
            policy: PolicyDiff::default(),
            plan: Some(crate::diff::PlanDelta {
                introduced: vec![action(ActionKind::Add), action(ActionKind::Remove)],
                cancelled: Vec::new(),
                newly_blocked: Vec::new(),
            }),
            files: Vec::new(),
        };
        let md = markdown_string(&report, GITHUB_COMMENT_LIMIT);
        // `- - x` and `- + x` would be nested bullets on GitHub: the signs go in code spans.
        for line in md.lines() {
            assert!(
                !line.starts_with("- - ") && !line.starts_with("- + "),
                "{line}"
            );
        }
        assert!(md.contains("- `+` rosa@acme.com confluence-users"), "{md}");
        assert!(md.contains("- `-` rosa@acme.com confluence-users"), "{md}");
    }
}

//! The HTML report: one self-contained file to attach to an access review. Inline CSS, an
//! inline SVG chart of seats over time per product, no scripts, fonts, images or any other
//! external resource (a `Content-Security-Policy` meta tag forbids loading any). It prints
//! cleanly (`@media print`: no shadows, table headers repeated on every page, rows never split).
//!
//! Machine-readable marks, for tests and scrapers (the CSV carries the same numbers):
//! - summary rows: `tr[data-product]` with `data-holders`, `data-seats-before`,
//!   `data-seats-after`, `data-budget`, `data-unmanaged`, `data-dormant`;
//! - holder rows: `tr.holder` with `data-product`, `data-account-id`, `data-email`,
//!   `data-rule`, `data-days-left` (empty when not applicable);
//! - each chart: `svg.chart[data-product]` with `data-points` and `data-last-seats`.
//!
//! Every piece of user-controlled text goes through [`escape`], in text and attributes alike.

use super::{day, short, AccessReport, Change, Changes, ProductReport, SeatPoint};
use chrono::{DateTime, Utc};
use std::fmt::Write as _;
use std::io::{self, Write};

/// Writes the HTML report.
pub fn render(report: &AccessReport, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(to_string(report).as_bytes())
}

/// Escapes text for HTML text and double- or single-quoted attributes. Control characters other
/// than newline and tab become spaces.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg-alt: #f6f8fa; --warn: #9a6700;
        --bad: #cf222e; --good: #1a7f37; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--fg); margin: 2rem auto; max-width: 1200px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { font-size: 1rem; margin: 1.25rem 0 .5rem; }
p.meta, .muted { color: var(--muted); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: var(--bg-alt); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fbfcfd; }
td.name { white-space: pre-line; }
td code, td time { white-space: nowrap; }
.fate-reclaim, .fate-remove { color: var(--bad); font-weight: 600; }
.fate-blocked, .fate-reported, .soon { color: var(--warn); font-weight: 600; }
.over { color: var(--bad); font-weight: 600; }
.warnings { border-left: 4px solid var(--warn); padding: .25rem 1rem; background: #fff8c5; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 1rem; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: .5rem; }
figcaption { font-weight: 600; margin-bottom: .25rem; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart .axis { stroke: var(--muted); stroke-width: 1; }
svg.chart .grid { stroke: var(--line); stroke-width: 1; }
svg.chart .series { fill: none; stroke: #0969da; stroke-width: 2; }
svg.chart .budget { stroke: var(--bad); stroke-width: 1; stroke-dasharray: 4 3; }
svg.chart text { font: 11px system-ui, sans-serif; fill: var(--muted); }
footer { margin-top: 3rem; color: var(--muted); font-size: .85em; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { break-after: avoid; }
  tr, figure { break-inside: avoid; }
  thead { display: table-header-group; }
  tbody tr:nth-child(even) { background: none; }
  .charts { display: block; }
  figure { margin-bottom: .5rem; }
  * { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  @page { margin: 1.5cm; }
}
"#;

/// The HTML report as a string.
pub fn to_string(report: &AccessReport) -> String {
    let mut s = String::with_capacity(16 * 1024);
    let site = escape(&report.site);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>Access review: {site} ({})</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        day(report.generated_at)
    );
    let commit = report.policy_commit.as_deref().map_or_else(
        || "not in git".to_string(),
        |c| format!("<code title=\"{}\">{}</code>", escape(c), escape(short(c))),
    );
    let dirty = if report.policy_dirty {
        " (uncommitted changes)"
    } else {
        ""
    };
    let _ = write!(
        s,
        "<header>\n<h1>Access review: {site}</h1>\n<p class=\"meta\">As of <time datetime=\"{}\">{}</time> · policy {commit}{dirty}</p>\n</header>\n",
        report.generated_at.to_rfc3339(),
        crate::render::human_time(report.generated_at),
    );
    if !report.warnings.is_empty() {
        s.push_str("<section class=\"warnings\" id=\"warnings\">\n<h3>Warnings</h3>\n<ul>\n");
        for w in &report.warnings {
            let _ = writeln!(s, "<li>{}</li>", escape(w));
        }
        s.push_str("</ul>\n</section>\n");
    }
    summary(&mut s, report);
    charts(&mut s, report);
    if let Some(changes) = &report.changes {
        changes_section(&mut s, changes);
    }
    for p in &report.products {
        product(&mut s, p);
    }
    let _ = write!(
        s,
        "<footer>Generated by seatkeeper {} · report format {}</footer>\n</body>\n</html>\n",
        escape(env!("CARGO_PKG_VERSION")),
        report.format_version
    );
    s
}

fn opt(n: Option<impl ToString>) -> String {
    n.map_or_else(String::new, |n| n.to_string())
}

fn summary(s: &mut String, report: &AccessReport) {
    s.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n<table class=\"summary\">\n<thead><tr>\
        <th>Product</th><th class=\"num\">Holders</th><th class=\"num\">Kept</th>\
        <th class=\"num\">Safe users</th><th class=\"num\">Eligible group</th>\
        <th class=\"num\">Unmanaged</th><th class=\"num\">Leaving</th><th class=\"num\">Reclaim soon</th>\
        <th class=\"num\">Dormant</th><th class=\"num\">Ignored / unlisted</th>\
        <th class=\"num\">Seats now</th><th class=\"num\">After plan</th><th class=\"num\">Budget</th>\
        </tr></thead>\n<tbody>\n");
    for p in &report.products {
        let c = &p.counts;
        let over = p.seats.budget.is_some_and(|b| p.seats.before > b as usize);
        let _ = writeln!(
            s,
            "<tr data-product=\"{product}\" data-holders=\"{}\" data-seats-before=\"{}\" \
             data-seats-after=\"{}\" data-budget=\"{}\" data-unmanaged=\"{}\" data-dormant=\"{}\">\
             <td><a href=\"#product-{product}\">{product}</a></td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{} / {}</td>\
             <td class=\"num{}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            c.holders,
            p.seats.before,
            p.seats.after,
            opt(p.seats.budget),
            c.unmanaged,
            c.dormant,
            c.holders,
            c.kept,
            c.safe_users,
            c.eligible_group,
            c.unmanaged,
            c.leaving,
            c.reclaim_soon,
            c.dormant,
            c.ignored,
            c.unlisted,
            if over { " over" } else { "" },
            p.seats.before,
            p.seats.after,
            p.seats.budget.map_or("–".to_string(), |b| b.to_string()),
            product = escape(&p.product),
        );
    }
    s.push_str("</tbody>\n</table>\n<p class=\"muted\">Seats now = holders + ignored + members missing from the user list.</p>\n</section>\n");
}

// Chart geometry (SVG user units).
const W: f64 = 480.0;
const H: f64 = 200.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

fn charts(s: &mut String, report: &AccessReport) {
    s.push_str("<section id=\"history\">\n<h2>Seats over time</h2>\n<p class=\"muted\">Reconstructed from the audit log, \
        backwards from today's seats: changes made outside seatkeeper that it never observed are not shown. \
        The dashed line is the budget.</p>\n<div class=\"charts\">\n");
    for p in &report.products {
        chart(s, p, report.generated_at);
    }
    s.push_str("</div>\n</section>\n");
}

fn chart(s: &mut String, p: &ProductReport, now: DateTime<Utc>) {
    let points: &[SeatPoint] = &p.history;
    let product = escape(&p.product);
    let start = points.first().map_or(now, |pt| pt.at);
    let end = now.max(points.last().map_or(now, |pt| pt.at));
    let span = (end - start).num_seconds().max(1) as f64;
    let max_seats = points
        .iter()
        .map(|pt| pt.seats)
        .chain(p.seats.budget.map(|b| b as usize))
        .max()
        .unwrap_or(0)
        .max(1);
    let y_max = nice_ceiling(max_seats);
    let x = |t: DateTime<Utc>| LEFT + (t - start).num_seconds() as f64 / span * (W - LEFT - RIGHT);
    let y = |n: usize| TOP + (1.0 - n as f64 / y_max as f64) * (H - TOP - BOTTOM);
    let last = points.last().map_or(p.seats.before, |pt| pt.seats);

    let _ = write!(
        s,
        "<figure>\n<figcaption>{product}</figcaption>\n\
         <svg class=\"chart\" data-product=\"{product}\" data-points=\"{}\" data-last-seats=\"{last}\" \
         viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"Seats of {product} over time\" \
         xmlns=\"http://www.w3.org/2000/svg\">\n<title>Seats of {product} over time</title>\n",
        points.len(),
    );
    // Grid and y labels: 0, half and the top.
    for n in [0, y_max / 2, y_max] {
        let _ = writeln!(
            s,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{x2}\" y2=\"{yy:.1}\"/>\
             <text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\">{n}</text>",
            yy = y(n),
            x2 = W - RIGHT,
            tx = LEFT - 4.0,
            ty = y(n) + 4.0,
        );
    }
    let _ = writeln!(
        s,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{b:.1}\" x2=\"{x2}\" y2=\"{b:.1}\"/>\
         <text x=\"{LEFT}\" y=\"{ly}\" text-anchor=\"start\">{}</text>\
         <text x=\"{x2}\" y=\"{ly}\" text-anchor=\"end\">{}</text>",
        day(start),
        day(end),
        b = H - BOTTOM,
        x2 = W - RIGHT,
        ly = H - 8.0,
    );
    if let Some(budget) = p.seats.budget {
        let _ = writeln!(
            s,
            "<line class=\"budget\" x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{x2}\" y2=\"{yy:.1}\"><title>budget {budget}</title></line>",
            yy = y(budget as usize),
            x2 = W - RIGHT,
        );
    }
    // A step line: each point holds until the next one, the last until now.
    let mut path = String::new();
    for (i, pt) in points.iter().enumerate() {
        let next = points.get(i + 1).map_or(end, |n| n.at);
        let _ = write!(
            path,
            "{:.1},{:.1} {:.1},{:.1} ",
            x(pt.at),
            y(pt.seats),
            x(next),
            y(pt.seats)
        );
    }
    let _ = writeln!(
        s,
        "<polyline class=\"series\" points=\"{}\"/>",
        path.trim_end()
    );
    for pt in points {
        let _ = writeln!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#0969da\"><title>{}: {} seats</title></circle>",
            x(pt.at),
            y(pt.seats),
            day(pt.at),
            pt.seats
        );
    }
    s.push_str("</svg>\n</figure>\n");
}

/// The smallest of 1, 2, 5 × 10^k that is ≥ n (a round top for the y axis).
fn nice_ceiling(n: usize) -> usize {
    let mut base = 1usize;
    loop {
        for m in [1, 2, 5] {
            let v = base.saturating_mul(m);
            if v >= n || v == usize::MAX {
                return v;
            }
        }
        base = base.saturating_mul(10);
    }
}

fn changes_section(s: &mut String, c: &Changes) {
    let _ = writeln!(
        s,
        "<section id=\"changes\">\n<h2>Changes since {}</h2>\n<p class=\"muted\">From the audit log after {}: \
         {} granted, {} revoked, {} reclaimed.</p>",
        escape(&c.label),
        crate::render::human_time(c.since),
        c.grants.len(),
        c.revocations.len(),
        c.reclaims.len()
    );
    for (title, class, list) in [
        ("Grants", "grants", &c.grants),
        ("Revocations", "revocations", &c.revocations),
        ("Reclaims", "reclaims", &c.reclaims),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "<h3>{title}</h3>\n<table class=\"{class}\">\n<thead><tr><th>Date</th><th>Product</th><th>User</th>\
             <th>Group</th><th>Rule</th><th>Reason</th><th>By</th></tr></thead>\n<tbody>"
        );
        for ch in list {
            change_row(s, ch);
        }
        s.push_str("</tbody>\n</table>\n");
    }
    if let Some(diff) = &c.policy {
        s.push_str("<h3>Policy changes</h3>\n<ul class=\"policy-diff\">\n");
        if diff.is_empty() {
            s.push_str("<li>No access-relevant policy change.</li>\n");
        }
        for (verb, map) in [("granted", &diff.granted), ("revoked", &diff.revoked)] {
            for (product, users) in map {
                let _ = writeln!(
                    s,
                    "<li>{} {verb}: {}</li>",
                    escape(product),
                    escape(&users.join(", "))
                );
            }
        }
        for line in diff.rules.iter().chain(&diff.budgets).chain(&diff.rails) {
            let _ = writeln!(s, "<li>{}</li>", escape(line));
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</section>\n");
}

fn change_row(s: &mut String, c: &Change) {
    let _ = writeln!(
        s,
        "<tr><td><time datetime=\"{}\">{}</time></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        c.time.to_rfc3339(),
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
    let product = escape(&p.product);
    let rule = p.inactivity.as_deref().map_or_else(
        || "no inactivity rule".to_string(),
        |w| format!("reclaim after {}", escape(w)),
    );
    let _ = writeln!(
        s,
        "<section class=\"product\" id=\"product-{product}\" data-product=\"{product}\">\n<h2>{product}</h2>\n\
         <p class=\"meta\">Groups: {} · {rule} · seats {} now, {} after the plan, budget {}</p>",
        escape(&p.groups.join(", ")),
        p.seats.before,
        p.seats.after,
        p.seats.budget.map_or("none".to_string(), |b| b.to_string()),
    );
    let _ = writeln!(s, "<h3>Holders ({})</h3>", p.holders.len());
    s.push_str("<table class=\"holders\">\n<thead><tr><th>User</th><th>Name</th><th>Rule</th><th>Entry</th>\
        <th>Added by</th><th>Last active</th><th class=\"num\">Days left</th><th>Outcome</th></tr></thead>\n<tbody>\n");
    for h in &p.holders {
        let rule = match &h.via {
            Some(via) => format!(
                "{} <span class=\"muted\">({})</span>",
                h.basis.describe(),
                escape(via)
            ),
            None => h.basis.describe().to_string(),
        };
        let entry = h.entry.as_ref().map_or_else(String::new, |l| {
            format!("<code>{}</code>", escape(&format!("{}:{}", l.file, l.line)))
        });
        let added = h.added_by.as_ref().map_or_else(String::new, |o| {
            format!(
                "<code title=\"{}\">{}</code> {}<br><span class=\"muted\">{}</span>",
                escape(&format!("{} {}", o.commit, o.summary)),
                escape(o.commit.get(..8).unwrap_or(&o.commit)),
                escape(&o.author),
                escape(&o.date)
            )
        });
        let mut active = h.last_active.map_or_else(String::new, |t| {
            format!(
                "<time datetime=\"{}\">{}</time> <span class=\"muted\">{}</span>",
                t.to_rfc3339(),
                day(t),
                escape(h.activity_source.describe())
            )
        });
        if h.activity_source != crate::plan::EvidenceSource::LastActive {
            // The product's own last use, beside whatever evidence decided.
            active.push_str(&match h.product_last_active {
                Some(t) => format!(
                    "<br><span class=\"muted\">used <time datetime=\"{}\">{}</time></span>",
                    t.to_rfc3339(),
                    day(t)
                ),
                None => "<br><span class=\"muted\">never used</span>".to_string(),
            });
        }
        let soon = h.days_left.is_some_and(|d| d <= 14);
        let fate_class = match h.fate {
            super::Fate::Keep => "keep",
            super::Fate::Reclaim => "reclaim",
            super::Fate::Remove => "remove",
            super::Fate::Blocked(_) => "blocked",
            super::Fate::Reported => "reported",
        };
        let _ = writeln!(
            s,
            "<tr class=\"holder\" data-product=\"{product}\" data-account-id=\"{}\" data-email=\"{}\" \
             data-rule=\"{}\" data-days-left=\"{}\"><td>{}</td><td class=\"name\">{}</td><td>{rule}</td>\
             <td>{entry}</td><td>{added}</td><td>{active}</td><td class=\"num{}\">{}</td>\
             <td class=\"fate-{fate_class}\" title=\"{}\">{}</td></tr>",
            escape(&h.account_id),
            escape(h.email.as_deref().unwrap_or("")),
            h.basis.as_str(),
            opt(h.days_left),
            escape(h.who()),
            escape(&h.name),
            if soon { " soon" } else { "" },
            opt(h.days_left),
            escape(&h.reason),
            escape(&h.fate.describe()),
        );
    }
    s.push_str("</tbody>\n</table>\n");
    let unmanaged: Vec<_> = p.unmanaged().collect();
    if !unmanaged.is_empty() {
        let _ = writeln!(
            s,
            "<h3>Unmanaged members ({})</h3>\n<p class=\"muted\">In a grant group, but neither a safe user nor kept.</p>\n<ul class=\"unmanaged\">",
            unmanaged.len()
        );
        for h in unmanaged {
            let _ = writeln!(
                s,
                "<li data-account-id=\"{}\">{} ({}): {} — {}</li>",
                escape(&h.account_id),
                escape(h.who()),
                escape(&h.groups.join(", ")),
                escape(&h.reason),
                escape(&h.fate.describe())
            );
        }
        s.push_str("</ul>\n");
    }
    if !p.requests.is_empty() {
        let _ = writeln!(
            s,
            "<h3>Requests awaiting approval ({})</h3>\n<ul class=\"requests\">",
            p.requests.len()
        );
        for r in &p.requests {
            let replaces = r.replaces.as_ref().map_or_else(String::new, |l| {
                format!(", replacing <code>{}</code>", escape(&l.to_string()))
            });
            let _ = writeln!(
                s,
                "<li data-account-id=\"{}\">{} asked on {}: <code>{}</code>{replaces}</li>",
                escape(&r.account_id),
                escape(r.email.as_deref().unwrap_or(&r.account_id)),
                day(r.requested_at),
                escape(&r.policy_line)
            );
        }
        s.push_str("</ul>\n");
    }
    if !p.dormant.is_empty() {
        let _ = writeln!(
            s,
            "<h3>Dormant safe users ({})</h3>\n<ul class=\"dormant\">",
            p.dormant.len()
        );
        for d in &p.dormant {
            let entry = d.entry.as_ref().map_or_else(String::new, |l| {
                format!(
                    " <code>{}</code>",
                    escape(&format!("{}:{}", l.file, l.line))
                )
            });
            let _ = writeln!(
                s,
                "<li data-account-id=\"{}\">{}{entry}: {}</li>",
                escape(&d.account_id),
                escape(d.who()),
                escape(&d.reason)
            );
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_self_contained_and_escaped() {
        let html = to_string(&crate::report::fixtures::report());
        for external in ["<script", "src=", "href=\"http", "@import", "url(", "<link"] {
            assert!(!html.contains(external), "found {external}");
        }
        assert!(html.contains("@media print"));
        assert!(html.contains("<svg class=\"chart\""));
        assert!(!html.contains("Mallory, \"The\""), "raw quotes in output");
        assert!(html.contains("Mallory, &quot;The&quot;\nIntruder"));
        assert!(html.contains("=HYPERLINK(&quot;http://evil&quot;"));
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(
            [0, 1, 3, 6, 10, 11, 40, 251].map(nice_ceiling),
            [1, 1, 5, 10, 10, 20, 50, 500]
        );
    }
}

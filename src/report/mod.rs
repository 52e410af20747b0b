//! Access reviews: `seatkeeper report`. For every managed product, who holds a seat and why (the
//! rule, the policy entry's `file:line`, and the commit and author that added it), their last
//! activity and the days left before reclaim; dormant safe users, unmanaged members, seats
//! against budget, what changed since the last review, and seats over time from the audit log.
//!
//! This module owns the report model ([`AccessReport`]) and its renderers. It decides nothing:
//! every decision comes from the planner ([`crate::planner::explain_all`]), so the report always
//! agrees with `plan` and `explain` for the same inputs.
//!
//! - [`generate`]: the entry point of `seatkeeper report` (plan, audit log, blame, `--since`,
//!   build); [`render`] then writes any [`ReportFormat`].
//! - [`build`]: the pure builder, from planner output, the audit log and git origins.
//! - [`history`]: seats over time per product, reconstructed from the audit log, and the changes
//!   since a cutoff.
//! - [`since`]: resolving `--since REV|DATE` (the only part that reads git).
//! - [`markdown`], [`csv`], [`json`], [`html`]: the renderers; like every renderer they only
//!   write to a `&mut dyn Write`.
//!
//! The CSV and the HTML report carry the same numbers: both are rendered from the same
//! [`AccessReport`] and a browser test (`tests/it/report_html.rs`) checks it.

pub mod build;
pub mod csv;
pub mod history;
pub mod html;
pub mod json;
pub mod markdown;
pub mod since;

#[cfg(test)]
pub(crate) mod fixtures;

pub use build::{parse_audit_records, Origins, ReportSources};
pub use since::{resolve_since, Since, SinceError};

use crate::diff::PolicyDiff;
use crate::gitinfo::LineOrigin;
use crate::plan::{EvidenceSource, Rail, Seats};
use crate::planner::PlanInput;
use crate::policy::Location;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::io::{self, Write};
use std::path::Path;

/// The report format version this build writes (the JSON `format_version`). Fields are only
/// ever added.
pub const REPORT_FORMAT_VERSION: u32 = 1;

/// An access review of every managed product.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessReport {
    /// Always [`REPORT_FORMAT_VERSION`].
    pub format_version: u32,
    /// The site.
    pub site: String,
    /// The `now` the report was made for.
    pub generated_at: DateTime<Utc>,
    /// The policy's git commit, when known.
    pub policy_commit: Option<String>,
    /// True when the policy work tree had uncommitted changes.
    pub policy_dirty: bool,
    /// One section per managed product, in policy order.
    pub products: Vec<ProductReport>,
    /// What changed since the last review (`--since`), if asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
    /// Non-fatal problems (a lenient audit log read, planner warnings).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl AccessReport {
    /// Every holder of every product, in report order: what the CSV lists, one row each.
    pub fn holders(&self) -> impl Iterator<Item = (&ProductReport, &Holder)> + '_ {
        self.products
            .iter()
            .flat_map(|p| p.holders.iter().map(move |h| (p, h)))
    }
}

/// One product's section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductReport {
    /// The product key.
    pub product: String,
    /// Its grant groups.
    pub groups: Vec<String>,
    /// The inactivity rule (`90d`), if any.
    pub inactivity: Option<String>,
    /// Seats now (`before`), after the current plan (`after`) and the budget.
    pub seats: Seats,
    /// Counts for the summary.
    pub counts: Counts,
    /// Who holds a seat now, sorted by email (then account id). Ignored accounts are left out,
    /// as the policy asks; they are counted in [`Counts::ignored`].
    pub holders: Vec<Holder>,
    /// Safe users without the product who are not re-granted without new demand.
    pub dormant: Vec<DormantUser>,
    /// Access requests from people the policy does not grant the product, each with the
    /// `users:` line that would.
    pub requests: Vec<crate::plan::AccessRequest>,
    /// Seats over time, reconstructed from the audit log (see [`history`]).
    pub history: Vec<SeatPoint>,
}

impl ProductReport {
    /// Holders who are not safe users and not kept: not eligible, expired or closed accounts.
    pub fn unmanaged(&self) -> impl Iterator<Item = &Holder> + '_ {
        self.holders.iter().filter(|h| h.basis.is_unmanaged())
    }
}

/// Counts of one product. `holders + ignored + unlisted == seats.before`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Holders listed in the report.
    pub holders: usize,
    /// Holders matched by `keep`.
    pub kept: usize,
    /// Holders with a safe-user entry.
    pub safe_users: usize,
    /// Holders through an eligible group.
    pub eligible_group: usize,
    /// Holders who are not eligible (see [`ProductReport::unmanaged`]).
    pub unmanaged: usize,
    /// Holders the current plan reclaims or removes.
    pub leaving: usize,
    /// Holders with a `reclaim-soon` notice in the plan (reclaim within the product's `notice`).
    pub reclaim_soon: usize,
    /// Dormant safe users.
    pub dormant: usize,
    /// Members matched by `ignore` (counted as seats, never listed).
    pub ignored: usize,
    /// Members of the grant groups missing from the live user list.
    pub unlisted: usize,
}

/// Why someone holds a seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// Matched by a `keep` entry.
    Kept,
    /// A safe-user (`users:`) entry covers the product.
    SafeUser,
    /// Member of an `eligible_groups` group.
    EligibleGroup,
    /// Nothing grants the product: not a safe user (unmanaged).
    NotEligible,
    /// The safe-user entry's `until` has passed (unmanaged).
    Expired,
    /// The account is closed or deactivated (unmanaged).
    AccountClosed,
}

impl Basis {
    /// The wire name (the CSV `rule` column).
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Kept => "kept",
            Basis::SafeUser => "safe-user",
            Basis::EligibleGroup => "eligible-group",
            Basis::NotEligible => "not-eligible",
            Basis::Expired => "expired",
            Basis::AccountClosed => "account-closed",
        }
    }

    /// Words for humans.
    pub fn describe(self) -> &'static str {
        match self {
            Basis::Kept => "kept",
            Basis::SafeUser => "safe user entry",
            Basis::EligibleGroup => "eligible group",
            Basis::NotEligible => "not eligible",
            Basis::Expired => "grant expired",
            Basis::AccountClosed => "account closed",
        }
    }

    /// Whether the holder is an unmanaged member (not a safe user and not kept).
    pub fn is_unmanaged(self) -> bool {
        matches!(
            self,
            Basis::NotEligible | Basis::Expired | Basis::AccountClosed
        )
    }
}

/// What the current plan does with a holder's seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "rail")]
pub enum Fate {
    /// Keeps the seat.
    Keep,
    /// Reclaimed for inactivity by the current plan.
    Reclaim,
    /// Removed by the current plan (not eligible, expired, closed).
    Remove,
    /// The plan wants a change that a safety rail blocks.
    Blocked(Rail),
    /// `drift: report`: the change is only reported.
    Reported,
}

impl Fate {
    /// Words for humans and the CSV `outcome` column: `keep`, `reclaim`, `remove`,
    /// `blocked (seat-budget)`, `reported`.
    pub fn describe(self) -> String {
        match self {
            Fate::Keep => "keep".into(),
            Fate::Reclaim => "reclaim".into(),
            Fate::Remove => "remove".into(),
            Fate::Blocked(rail) => format!("blocked ({rail})"),
            Fate::Reported => "reported".into(),
        }
    }
}

/// One person holding one product.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Holder {
    /// Account id.
    pub account_id: String,
    /// Email, when known.
    pub email: Option<String>,
    /// Display name.
    pub name: String,
    /// Account status (`active`, `suspended`, ...).
    pub status: String,
    /// The grant groups they are in.
    pub groups: Vec<String>,
    /// Why they hold it.
    pub basis: Basis,
    /// The eligible group, or the keep entry's matcher (`group site-admins`), when that is why.
    pub via: Option<String>,
    /// The policy entry behind it (safe-user entry, keep entry, or the expired entry).
    pub entry: Option<Location>,
    /// The commit that last changed the entry's line, per git blame.
    pub added_by: Option<LineOrigin>,
    /// What the current plan does with the seat.
    pub fate: Fate,
    /// The planner's reason, in words.
    pub reason: String,
    /// The latest activity evidence: which fact.
    pub activity_source: EvidenceSource,
    /// The latest activity evidence: when; reclaim counts from here. For holders the plan
    /// removes as not eligible (whose decision carries the policy as evidence), their
    /// last-active time for the product.
    pub last_active: Option<DateTime<Utc>>,
    /// When the seat is reclaimed if nothing changes (products with an inactivity rule).
    pub reclaim_at: Option<DateTime<Utc>>,
    /// Whole days from the report time to `reclaim_at`, 0 when due.
    pub days_left: Option<i64>,
    /// The product's own last-active time, whatever evidence decided (`None`: never used).
    pub product_last_active: Option<DateTime<Utc>>,
}

impl Holder {
    /// The email if known, else the account id.
    pub fn who(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.account_id)
    }
}

/// A safe user without the product, not re-granted without new demand.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DormantUser {
    /// Account id.
    pub account_id: String,
    /// Email, when known.
    pub email: Option<String>,
    /// Display name.
    pub name: String,
    /// Their safe-user entry.
    pub entry: Option<Location>,
    /// The commit that last changed the entry's line.
    pub added_by: Option<LineOrigin>,
    /// The latest activity evidence.
    pub last_active: Option<DateTime<Utc>>,
    /// The planner's reason, in words.
    pub reason: String,
}

impl DormantUser {
    /// The email if known, else the account id.
    pub fn who(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.account_id)
    }
}

/// Seats of a product from `at` on (until the next point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SeatPoint {
    /// From when.
    pub at: DateTime<Utc>,
    /// How many accounts held the product.
    pub seats: usize,
}

/// What changed since the last review.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changes {
    /// The cutoff: changes strictly after it are listed.
    pub since: DateTime<Utc>,
    /// What the user asked for: the date, or the revision and its commit.
    pub label: String,
    /// The policy commit at the `--since` revision, when a revision was given.
    pub base_commit: Option<String>,
    /// Memberships seatkeeper added, or first saw granted outside it (`observed`).
    pub grants: Vec<Change>,
    /// Memberships seatkeeper removed for another reason than inactivity.
    pub revocations: Vec<Change>,
    /// Seats reclaimed for inactivity.
    pub reclaims: Vec<Change>,
    /// The policy diff between the `--since` revision and now, when a revision was given.
    pub policy: Option<PolicyDiff>,
}

/// One audit-log line after the cutoff.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// When.
    pub time: DateTime<Utc>,
    /// `add`, `remove` or `observed`.
    pub kind: crate::ledger::AuditKind,
    /// Product key.
    pub product: String,
    /// Group name.
    pub group: String,
    /// Account id.
    pub account_id: String,
    /// Email, when known.
    pub email: Option<String>,
    /// The plan rule.
    pub rule: String,
    /// The reason recorded.
    pub reason: String,
    /// Who applied it.
    pub actor: String,
    /// The policy commit the change was planned from.
    pub policy_commit: Option<String>,
}

impl Change {
    /// The email if known, else the account id.
    pub fn who(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.account_id)
    }
}

/// The output formats of `report` (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum ReportFormat {
    /// Markdown, for a review ticket or pull request.
    #[default]
    Markdown,
    /// CSV, one row per holder (RFC 4180, spreadsheet-safe).
    Csv,
    /// JSON, with `format_version`.
    Json,
    /// One self-contained HTML file, printable, with a chart of seats over time.
    Html,
}

impl ReportFormat {
    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Markdown => "markdown",
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
            ReportFormat::Html => "html",
        }
    }
}

/// Renders the report in the given format.
pub fn render(report: &AccessReport, format: ReportFormat, out: &mut dyn Write) -> io::Result<()> {
    match format {
        ReportFormat::Markdown => markdown::render(report, out),
        ReportFormat::Csv => csv::render(report, out),
        ReportFormat::Json => json::render(report, out),
        ReportFormat::Html => html::render(report, out),
    }
}

/// What `seatkeeper report` needs besides the planner input.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportOptions<'a> {
    /// The policy folder: git blame and `--since REV` are resolved in its repository.
    pub policy_dir: Option<&'a Path>,
    /// `--ref REV`: the policy was read at this revision, so blame it there.
    pub git_ref: Option<&'a str>,
    /// Whether the policy work tree had uncommitted changes (shown in the report).
    pub policy_dirty: bool,
    /// The audit log's text, when there is one (the same log the ledger was read from).
    pub audit_log: Option<&'a str>,
    /// `--since REV|DATE`, as typed.
    pub since: Option<&'a str>,
}

/// Everything `seatkeeper report` does once its inputs are loaded: plans, reads the audit log
/// leniently (bad lines become report warnings), blames the policy entries when the policy
/// folder is in git (at `git_ref` when given), resolves `--since` and builds the report.
/// Render it with [`render`].
///
/// Errors only for `--since`: an unknown revision, a non-git folder given a revision, or a
/// policy that does not validate at that revision (exit code 1 in the CLI).
pub fn generate(
    input: &PlanInput<'_>,
    opts: &ReportOptions<'_>,
) -> Result<AccessReport, SinceError> {
    let since = match (opts.since, opts.policy_dir) {
        (Some(text), Some(dir)) => Some(resolve_since(dir, text)?),
        (Some(text), None) => match since::parse_cutoff(text) {
            Some(cutoff) => Some(Since::at(cutoff)),
            None => {
                return Err(SinceError::NotGit {
                    text: text.to_string(),
                    place: "the policy".to_string(),
                })
            }
        },
        (None, _) => None,
    };
    let (records, log_warnings) = opts.audit_log.map(parse_audit_records).unwrap_or_default();
    let (mut plan, explanations) = crate::planner::plan_and_explain(input);
    plan.policy_dirty = opts.policy_dirty;
    let mut blamer = opts.policy_dir.and_then(|dir| match opts.git_ref {
        Some(rev) => crate::gitinfo::Blamer::open_at(dir, rev),
        None => crate::gitinfo::Blamer::open(dir),
    });
    let origins = blamer.as_mut().map(|b| b as &mut dyn Origins);
    let sources = ReportSources {
        policy: input.policy,
        live: input.live,
        plan: &plan,
        explanations: &explanations,
        records: &records,
        since: since.as_ref(),
    };
    let mut report = AccessReport::from_sources(&sources, origins);
    // The ledger (and so the plan) may already carry the same warnings.
    for w in log_warnings {
        if !report.warnings.contains(&w) {
            report.warnings.push(w);
        }
    }
    Ok(report)
}

/// `2026-07-01`.
pub(crate) fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// The first 12 characters of a commit id.
pub(crate) fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn generate_plans_reads_the_log_and_resolves_since() {
        let policy = fixtures::policy();
        let live = fixtures::live();
        let log = fixtures::audit_log();
        let ledger = crate::ledger::Ledger::parse_jsonl(&log);
        let input = PlanInput {
            policy: &policy,
            live: &live,
            ledger: &ledger,
            now: fixtures::now(),
            actor: None,
            policy_commit: None,
            allow_mass_removal: true,
        };
        let opts = ReportOptions {
            policy_dirty: true,
            audit_log: Some(&log),
            since: Some("2026-09-01"),
            ..ReportOptions::default()
        };
        let report = generate(&input, &opts).unwrap();
        assert!(report.policy_dirty);
        let changes = report.changes.as_ref().unwrap();
        assert_eq!((changes.grants.len(), changes.revocations.len()), (1, 1));
        let bad_line = report
            .warnings
            .iter()
            .filter(|w| w.starts_with("audit log line 7"))
            .count();
        assert_eq!(bad_line, 1, "{:?}", report.warnings);
        let err = generate(
            &input,
            &ReportOptions {
                since: Some("v1.0"),
                ..opts
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("v1.0"), "{err}");
    }

    #[test]
    fn format_names_match_the_cli_flag() {
        use clap::ValueEnum;
        for f in ReportFormat::value_variants() {
            let pv = f.to_possible_value().expect("visible");
            assert_eq!(pv.get_name(), f.as_str());
        }
    }
}

//! Builds an [`AccessReport`] from what the planner decided. Pure apart from the optional
//! [`Origins`] lookup (git blame), which the caller passes in.
//!
//! For each product, a *holder* is an account in any of its grant groups now
//! ([`Decision::holds_now`]). Ignored accounts are counted but never listed, and members missing
//! from the live user list are counted as `unlisted`, so that
//! `holders + ignored + unlisted == seats.before` (the plan's count).
//!
//! Why a holder holds the seat ([`Basis`]) comes from the decision: rule `kept` is a `keep`
//! entry (the first one matching, as in the planner); a decision with a safe-user entry is a
//! safe user; an eligible decision without one holds it through an eligible group; rules
//! `not-eligible`, `expired` and `account-closed` are unmanaged members, whatever the plan does
//! about them (removal, blocked by a rail, or only reported under `drift: report`).

use super::history;
use super::{
    AccessReport, Basis, Counts, DormantUser, Fate, Holder, ProductReport, Since,
    REPORT_FORMAT_VERSION,
};
use crate::gitinfo::{Blamer, LineOrigin};
use crate::ledger::AuditRecord;
use crate::live::LiveState;
use crate::plan::{Decision, EvidenceSource, Explanation, NoticeKind, Outcome, Plan, Rule};
use crate::planner::{self, PlanInput};
use crate::policy::{Location, Matcher, Policy, Selector};
use crate::time::whole_days;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Where a policy line came from: the commit and author that last changed it.
pub trait Origins {
    /// The origin of `line` (1-based) of `file` (relative to the policy folder), if known.
    fn origin(&mut self, file: &str, line: u32) -> Option<LineOrigin>;
}

impl Origins for Blamer {
    fn origin(&mut self, file: &str, line: u32) -> Option<LineOrigin> {
        Blamer::origin(self, file, line)
    }
}

/// A fixed table of origins, keyed by (file, line): for tests and for callers that computed
/// blame elsewhere.
impl Origins for BTreeMap<(String, u32), LineOrigin> {
    fn origin(&mut self, file: &str, line: u32) -> Option<LineOrigin> {
        self.get(&(file.to_string(), line)).cloned()
    }
}

/// Everything the builder reads.
#[derive(Debug, Clone, Copy)]
pub struct ReportSources<'a> {
    /// The policy the plan was made from.
    pub policy: &'a Policy,
    /// The live state the plan was made from.
    pub live: &'a LiveState,
    /// The plan (seats, notices, warnings, `generated_at` as the report time).
    pub plan: &'a Plan,
    /// The planner's explanation of every user ([`planner::explain_all`]).
    pub explanations: &'a [Explanation],
    /// The audit log, in log order.
    pub records: &'a [AuditRecord],
    /// `--since`, resolved.
    pub since: Option<&'a Since>,
}

impl AccessReport {
    /// Builds the report for a planner input and the plan made from it: explains every user
    /// (one plan build), then [`AccessReport::from_sources`]. `records` is the audit log in
    /// log order (see [`parse_audit_records`]); `origins` is usually a [`Blamer`].
    pub fn build(
        input: &PlanInput<'_>,
        plan: &Plan,
        origins: Option<&mut dyn Origins>,
        records: &[AuditRecord],
        since: Option<&Since>,
    ) -> AccessReport {
        let explanations = planner::explain_all(input);
        AccessReport::from_sources(
            &ReportSources {
                policy: input.policy,
                live: input.live,
                plan,
                explanations: &explanations,
                records,
                since,
            },
            origins,
        )
    }

    /// Builds the report from planner output. Deterministic: the same sources (and origins)
    /// give the same report.
    pub fn from_sources(src: &ReportSources<'_>, mut origins: Option<&mut dyn Origins>) -> Self {
        let now = src.plan.generated_at;
        let mut blame = |loc: &Option<Location>| -> Option<LineOrigin> {
            let loc = loc.as_ref()?;
            origins.as_mut()?.origin(&loc.file, loc.line)
        };
        let members = Membership::new(src.live);
        let users: HashMap<&str, &crate::live::User> = src
            .live
            .users
            .iter()
            .map(|u| (u.account_id.as_str(), u))
            .collect();
        let reclaim_soon: HashSet<(&str, &str)> = src
            .plan
            .notices
            .iter()
            .filter(|n| n.kind == NoticeKind::ReclaimSoon)
            .map(|n| (n.product.as_str(), n.account_id.as_str()))
            .collect();

        let mut products: Vec<ProductReport> = src
            .policy
            .products
            .iter()
            .map(|p| ProductReport {
                product: p.key.clone(),
                groups: p.groups.clone(),
                inactivity: p.inactivity.map(|d| d.to_string()),
                seats: src
                    .plan
                    .seats
                    .get(&p.key)
                    .copied()
                    .unwrap_or(crate::plan::Seats {
                        before: 0,
                        after: 0,
                        not_billed: 0,
                        licensed: None,
                        budget: p.seats,
                    }),
                counts: Counts {
                    unlisted: members.unlisted(&p.groups),
                    ..Counts::default()
                },
                holders: Vec::new(),
                dormant: Vec::new(),
                requests: src
                    .plan
                    .requests
                    .iter()
                    .filter(|r| r.product == p.key)
                    .cloned()
                    .collect(),
                history: history::seat_history(
                    &p.groups,
                    src.live,
                    src.records,
                    now,
                    src.since.map(|s| s.cutoff),
                ),
            })
            .collect();
        let index: HashMap<String, usize> = products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.product.clone(), i))
            .collect();

        for e in src.explanations {
            for d in &e.products {
                let Some(report) = index.get(&d.product).and_then(|&i| products.get_mut(i)) else {
                    continue;
                };
                if d.outcome == Outcome::Ignored {
                    if d.holds_now {
                        report.counts.ignored += 1;
                    }
                    continue;
                }
                if d.outcome == Outcome::Dormant && !d.holds_now {
                    report.dormant.push(DormantUser {
                        account_id: e.account_id.clone(),
                        email: e.email.clone(),
                        name: e.name.clone(),
                        entry: d.evidence.entry.clone(),
                        added_by: blame(&d.evidence.entry),
                        last_active: d.evidence.at,
                        reason: d.reason.clone(),
                    });
                    continue;
                }
                if !d.holds_now {
                    continue;
                }
                let (basis, via, entry) = basis(src.policy, &members, e, d);
                // Removal decisions carry the policy as evidence; show the activity instead.
                let (activity_source, last_active) = match d.evidence.source {
                    EvidenceSource::Policy | EvidenceSource::None => {
                        let at = users
                            .get(e.account_id.as_str())
                            .and_then(|u| u.last_active.get(&d.product))
                            .copied();
                        (
                            at.map_or(EvidenceSource::None, |_| EvidenceSource::LastActive),
                            at,
                        )
                    }
                    source => (source, d.evidence.at),
                };
                let added_by = blame(&entry);
                if reclaim_soon.contains(&(d.product.as_str(), e.account_id.as_str())) {
                    report.counts.reclaim_soon += 1;
                }
                report.holders.push(Holder {
                    account_id: e.account_id.clone(),
                    email: e.email.clone(),
                    name: e.name.clone(),
                    status: e.status.clone(),
                    groups: d.groups_now.clone(),
                    basis,
                    via,
                    entry,
                    added_by,
                    fate: fate(d),
                    reason: d.reason.clone(),
                    activity_source,
                    last_active,
                    reclaim_at: d.reclaim_at,
                    days_left: d.reclaim_at.map(|r| whole_days(now, r)),
                    product_last_active: d.evidence.last_active,
                });
            }
        }

        for p in &mut products {
            p.holders.sort_by(|a, b| {
                (a.who().to_lowercase(), &a.account_id)
                    .cmp(&(b.who().to_lowercase(), &b.account_id))
            });
            p.dormant.sort_by(|a, b| {
                (a.who().to_lowercase(), &a.account_id)
                    .cmp(&(b.who().to_lowercase(), &b.account_id))
            });
            let c = &mut p.counts;
            c.holders = p.holders.len();
            c.dormant = p.dormant.len();
            for h in &p.holders {
                match h.basis {
                    Basis::Kept => c.kept += 1,
                    Basis::SafeUser => c.safe_users += 1,
                    Basis::EligibleGroup => c.eligible_group += 1,
                    Basis::NotEligible | Basis::Expired | Basis::AccountClosed => c.unmanaged += 1,
                }
                if matches!(h.fate, Fate::Reclaim | Fate::Remove) {
                    c.leaving += 1;
                }
            }
        }

        AccessReport {
            format_version: REPORT_FORMAT_VERSION,
            site: src.plan.site.clone(),
            generated_at: now,
            policy_commit: src.plan.policy_commit.clone(),
            policy_dirty: src.plan.policy_dirty,
            products,
            changes: src
                .since
                .map(|s| history::changes_since(src.records, s, src.policy, now)),
            warnings: src.plan.warnings.iter().map(ToString::to_string).collect(),
        }
    }
}

/// What the plan does with a holder's seat.
fn fate(d: &Decision) -> Fate {
    match d.outcome {
        Outcome::Remove if d.rule == Some(Rule::Inactive) => Fate::Reclaim,
        Outcome::Remove => Fate::Remove,
        Outcome::Blocked(rail) => Fate::Blocked(rail),
        Outcome::Reported => Fate::Reported,
        Outcome::Keep | Outcome::Add | Outcome::None | Outcome::Dormant | Outcome::Ignored => {
            Fate::Keep
        }
    }
}

/// Why a holder holds the seat: the basis, the eligible group or keep matcher, and the entry.
fn basis(
    policy: &Policy,
    members: &Membership<'_>,
    e: &Explanation,
    d: &Decision,
) -> (Basis, Option<String>, Option<Location>) {
    let entry = d.evidence.entry.clone();
    match d.rule {
        Some(Rule::Kept) => match keep_entry(policy, members, e) {
            Some(sel) => (
                Basis::Kept,
                Some(describe_matcher(&sel.matcher)),
                Some(sel.location.clone()),
            ),
            None => (Basis::Kept, None, entry),
        },
        Some(Rule::NotEligible) => (Basis::NotEligible, None, entry),
        Some(Rule::Expired) => (Basis::Expired, None, entry),
        Some(Rule::AccountClosed) => (Basis::AccountClosed, None, entry),
        _ if entry.is_some() => (Basis::SafeUser, None, entry),
        _ => {
            let group = policy
                .eligible_groups_for(&d.product)
                .find(|g| members.is_member(g, &e.account_id));
            (Basis::EligibleGroup, group.map(str::to_string), None)
        }
    }
}

/// The first `keep` entry matching the account (the planner's rule: first match wins).
fn keep_entry<'p>(
    policy: &'p Policy,
    members: &Membership<'_>,
    e: &Explanation,
) -> Option<&'p Selector> {
    let email = e.email.as_deref().map(str::to_lowercase);
    policy.keep.iter().find(|sel| match &sel.matcher {
        Matcher::Email(m) => email.as_deref() == Some(m.as_str()),
        Matcher::AccountId(id) => *id == e.account_id,
        Matcher::Group(g) => members.is_member(g, &e.account_id),
        Matcher::AccountType(t) => t.as_str() == e.account_type,
    })
}

fn describe_matcher(m: &Matcher) -> String {
    match m {
        Matcher::Email(e) => format!("email {e}"),
        Matcher::AccountId(a) => format!("account {a}"),
        Matcher::Group(g) => format!("group {g}"),
        Matcher::AccountType(t) => format!("account_type {}", t.as_str()),
    }
}

/// Live group membership by group name.
struct Membership<'a> {
    groups: HashMap<&'a str, HashSet<&'a str>>,
    users: HashSet<&'a str>,
}

impl<'a> Membership<'a> {
    fn new(live: &'a LiveState) -> Self {
        let mut groups: HashMap<&str, HashSet<&str>> = HashMap::new();
        for g in &live.groups {
            groups
                .entry(g.name.as_str())
                .or_default()
                .extend(g.members.iter().map(String::as_str));
        }
        Self {
            groups,
            users: live.users.iter().map(|u| u.account_id.as_str()).collect(),
        }
    }

    fn is_member(&self, group: &str, account: &str) -> bool {
        self.groups.get(group).is_some_and(|m| m.contains(account))
    }

    /// Members of any of `groups` that are not in the live user list.
    fn unlisted(&self, groups: &[String]) -> usize {
        let mut missing: HashSet<&str> = HashSet::new();
        for g in groups {
            if let Some(m) = self.groups.get(g.as_str()) {
                missing.extend(m.iter().filter(|a| !self.users.contains(*a)));
            }
        }
        missing.len()
    }
}

pub use crate::ledger::parse_records as parse_audit_records;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Evidence, Rail, Seats, PLAN_FORMAT_VERSION};
    use crate::report::fixtures;

    fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
        s.parse().unwrap()
    }

    fn decision(product: &str, holds: bool, outcome: Outcome, rule: Option<Rule>) -> Decision {
        Decision {
            product: product.into(),
            groups_now: if holds {
                vec![format!("{product}-users-acme")]
            } else {
                vec![]
            },
            holds_now: holds,
            holds_after: holds && outcome == Outcome::Keep,
            outcome,
            rule,
            reason: format!("{outcome:?}"),
            evidence: Evidence::default(),
            reclaim_announced: false,
            reclaim_at: None,
        }
    }

    fn person(who: &str, decisions: Vec<Decision>) -> Explanation {
        Explanation {
            account_id: format!("5b10{who}"),
            email: Some(format!("{who}@acme.com")),
            name: who.to_uppercase(),
            status: "active".into(),
            account_type: if who == "cust" {
                "customer"
            } else {
                "atlassian"
            }
            .into(),
            products: decisions,
        }
    }

    fn plan() -> Plan {
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            site: "acme.atlassian.net".into(),
            policy_commit: None,
            policy_dirty: false,
            generated_at: t("2026-11-25T08:00:00Z"),
            actions: vec![],
            blocked: vec![],
            notices: vec![],
            observed: vec![],
            seats: [(
                "jira-software".to_string(),
                Seats {
                    before: 6,
                    after: 5,
                    not_billed: 0,
                    licensed: None,
                    budget: Some(4),
                },
            )]
            .into(),
            announce: Vec::new(),
            requests: Vec::new(),
            events: None,
            first_run: false,
            safety_defaults: Vec::new(),
            policy_dir: None,
            fingerprint: Default::default(),
            warnings: vec![crate::plan::Warning::new("test", "a warning")],
        }
    }

    #[test]
    fn classifies_hand_built_decisions() {
        let policy = fixtures::policy();
        let live = fixtures::live();
        let j = "jira-software";
        let entry = Location {
            file: "teams/eng.yaml".into(),
            line: 2,
            column: 5,
        };
        let mut reclaim = decision(j, true, Outcome::Remove, Some(Rule::Inactive));
        reclaim.evidence = Evidence {
            source: EvidenceSource::LastActive,
            at: Some(t("2026-08-20T00:00:00Z")),
            last_active: None,
            entry: Some(entry.clone()),
        };
        reclaim.reclaim_at = Some(t("2026-11-18T00:00:00Z"));
        let mut soon = decision(j, true, Outcome::Keep, Some(Rule::Eligible));
        soon.evidence.entry = Some(entry.clone());
        soon.evidence.source = EvidenceSource::Login;
        soon.evidence.at = Some(t("2026-08-30T00:00:00Z"));
        soon.reclaim_at = Some(t("2026-11-28T00:00:00Z"));
        let mut dormant = decision(j, false, Outcome::Dormant, None);
        dormant.evidence.entry = Some(entry.clone());
        let explanations = vec![
            person(
                "admin",
                vec![decision(j, true, Outcome::Keep, Some(Rule::Kept))],
            ),
            person("bob", vec![reclaim]),
            person("carol", vec![soon]),
            person(
                "erin",
                vec![decision(j, true, Outcome::Keep, Some(Rule::Eligible))],
            ),
            person(
                "eve",
                vec![decision(
                    j,
                    true,
                    Outcome::Blocked(Rail::MaxRemovals),
                    Some(Rule::NotEligible),
                )],
            ),
            person("cust", vec![decision(j, true, Outcome::Ignored, None)]),
            person("frank", vec![dormant]),
            person(
                "zed",
                vec![decision(j, false, Outcome::Add, Some(Rule::Eligible))],
            ),
            person(
                "nobody",
                vec![decision("no-such-product", true, Outcome::Keep, None)],
            ),
        ];
        let mut plan = plan();
        plan.notices.push(crate::plan::Notice {
            kind: NoticeKind::ReclaimSoon,
            product: j.into(),
            account_id: "5b10carol".into(),
            email: None,
            detail: String::new(),
            at: None,
            name: None,
            evidence: None,
        });
        let mut origins = BTreeMap::from([(
            ("teams/eng.yaml".to_string(), 2),
            LineOrigin {
                commit: "c3".repeat(20),
                author: "Bo".into(),
                date: "2026-03-05".into(),
                summary: "add bob".into(),
            },
        )]);
        let src = ReportSources {
            policy: &policy,
            live: &live,
            plan: &plan,
            explanations: &explanations,
            records: &[],
            since: None,
        };
        let report = AccessReport::from_sources(&src, Some(&mut origins));
        assert_eq!(report.warnings, vec!["[test] a warning".to_string()]);
        assert!(report.changes.is_none());
        let jira = report
            .products
            .iter()
            .find(|p| p.product == j)
            .expect("jira");
        let view: Vec<(&str, Basis, Fate, Option<i64>)> = jira
            .holders
            .iter()
            .map(|h| (h.who(), h.basis, h.fate, h.days_left))
            .collect();
        assert_eq!(
            view,
            vec![
                ("admin@acme.com", Basis::Kept, Fate::Keep, None),
                ("bob@acme.com", Basis::SafeUser, Fate::Reclaim, Some(0)),
                ("carol@acme.com", Basis::SafeUser, Fate::Keep, Some(2)),
                ("erin@acme.com", Basis::EligibleGroup, Fate::Keep, None),
                (
                    "eve@acme.com",
                    Basis::NotEligible,
                    Fate::Blocked(Rail::MaxRemovals),
                    None
                ),
            ]
        );
        let admin = &jira.holders[0];
        assert_eq!(admin.via.as_deref(), Some("email admin@acme.com"));
        assert_eq!(
            admin.entry.as_ref().map(|l| &*l.file),
            Some("seatkeeper.yaml")
        );
        assert_eq!(jira.holders[3].via.as_deref(), Some("employees"));
        assert_eq!(
            jira.holders[1].added_by.as_ref().map(|o| o.author.as_str()),
            Some("Bo")
        );
        assert!(jira.holders[3].added_by.is_none());
        // eve's decision has no activity evidence: her live last-active time is shown.
        assert_eq!(jira.holders[4].last_active, Some(t("2026-11-10T00:00:00Z")));
        assert_eq!(
            jira.counts,
            Counts {
                holders: 5,
                kept: 1,
                safe_users: 2,
                eligible_group: 1,
                unmanaged: 1,
                leaving: 1,
                reclaim_soon: 1,
                dormant: 1,
                ignored: 1,
                unlisted: 0,
            }
        );
        assert_eq!(jira.dormant[0].who(), "frank@acme.com");
        assert_eq!(jira.seats.before, 6);
        let conf = report
            .products
            .iter()
            .find(|p| p.product == "confluence")
            .expect("confluence");
        assert!(conf.holders.is_empty());
        assert_eq!(conf.counts.unlisted, 1, "5b10ghost");
        assert_eq!(conf.seats.budget, None);
    }

    #[test]
    fn the_real_planner_agrees_with_the_plan() {
        let (plan, report) = fixtures::build(None);
        for p in &report.products {
            let seats = plan.seats.get(&p.product).expect("seats");
            assert_eq!(p.seats, *seats);
            assert_eq!(
                p.counts.holders + p.counts.ignored + p.counts.unlisted,
                seats.before + seats.not_billed,
                "{}",
                p.product
            );
            let leaving = plan
                .actions
                .iter()
                .filter(|a| a.product == p.product && a.kind == crate::plan::ActionKind::Remove)
                .map(|a| a.account_id.as_str())
                .collect::<HashSet<_>>();
            let reported: HashSet<&str> = p
                .holders
                .iter()
                .filter(|h| matches!(h.fate, Fate::Reclaim | Fate::Remove))
                .map(|h| h.account_id.as_str())
                .collect();
            assert_eq!(leaving, reported, "{}", p.product);
            assert_eq!(
                seats.before - leaving.len()
                    + plan
                        .actions
                        .iter()
                        .filter(|a| a.product == p.product && a.kind == crate::plan::ActionKind::Add)
                        .count(),
                seats.after
            );
        }
        let jira = &report.products[1];
        assert_eq!(jira.product, "jira-software");
        let carol = jira
            .holders
            .iter()
            .find(|h| h.who() == "carol@acme.com")
            .expect("carol");
        assert_eq!(carol.days_left, Some(2));
        assert_eq!(jira.counts.reclaim_soon, 1);
        let bob = jira
            .holders
            .iter()
            .find(|h| h.who() == "bob@acme.com")
            .expect("bob");
        assert_eq!(
            (bob.fate, bob.added_by.as_ref().map(|o| o.author.as_str())),
            (Fate::Reclaim, Some("Bo, \"Lead\""))
        );
        assert_eq!(
            jira.history.last().map(|p| p.seats),
            Some(plan.seats["jira-software"].before)
        );
    }

    #[test]
    fn explain_all_equals_explain_per_user() {
        let policy = fixtures::policy();
        let live = fixtures::live();
        let ledger = crate::ledger::Ledger::parse_jsonl(fixtures::audit_log());
        let input = PlanInput {
            policy: &policy,
            live: &live,
            ledger: &ledger,
            now: fixtures::now(),
            actor: None,
            policy_commit: None,
            allow_mass_removal: false,
        };
        let all = planner::explain_all(&input);
        assert_eq!(all.len(), live.users.len());
        for (user, e) in live.users.iter().zip(&all) {
            assert_eq!(planner::explain(&input, &user.account_id).as_ref(), Some(e));
        }
    }

    #[test]
    fn unreadable_audit_lines_are_warnings() {
        let (records, warnings) = parse_audit_records(fixtures::audit_log());
        assert_eq!(records.len(), 6);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("audit log line 7:"), "{warnings:?}");
    }
}

//! Hand-built plans and explanations for the renderer tests (the planner is tested elsewhere).

use crate::plan::*;
use crate::policy::Location;
use chrono::{DateTime, Utc};

pub(crate) fn t(s: &str) -> DateTime<Utc> {
    let s = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    s.parse().expect("fixture time")
}

fn account_id(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email);
    format!(
        "5b10{}",
        local
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    )
}

fn group_id(group: &str) -> String {
    format!("gid-{group}")
}

pub(crate) fn action(
    kind: ActionKind,
    product: &str,
    group: &str,
    email: &str,
    rule: Rule,
    reason: &str,
) -> Action {
    Action {
        kind,
        product: product.into(),
        group: group.into(),
        group_id: group_id(group),
        account_id: account_id(email),
        email: Some(email.into()),
        rule,
        reason: reason.into(),
        evidence: Evidence::default(),
    }
}

/// Builds a [`Plan`] the way the planner would: sorted actions, fingerprints of touched groups.
pub(crate) struct PlanBuilder {
    plan: Plan,
}

impl PlanBuilder {
    pub(crate) fn new() -> Self {
        PlanBuilder {
            plan: Plan {
                format_version: PLAN_FORMAT_VERSION,
                site: "acme.atlassian.net".into(),
                policy_commit: Some("9f1c2ab3d4e5f60718293a4b5c6d7e8f90a1b2c3".into()),
                policy_dirty: false,
                generated_at: t("2026-11-25T08:00:00Z"),
                actions: vec![],
                blocked: vec![],
                notices: vec![],
                observed: vec![],
                seats: Default::default(),
                announce: Vec::new(),
                requests: Vec::new(),
                events: None,
                first_run: false,
                safety_defaults: Vec::new(),
                policy_dir: None,
                fingerprint: Default::default(),
                warnings: vec![],
            },
        }
    }

    pub(crate) fn action(mut self, a: Action) -> Self {
        self.plan.actions.push(a);
        self
    }

    pub(crate) fn add(
        self,
        product: &str,
        group: &str,
        email: &str,
        rule: Rule,
        why: &str,
    ) -> Self {
        self.action(action(ActionKind::Add, product, group, email, rule, why))
    }

    pub(crate) fn remove(
        self,
        product: &str,
        group: &str,
        email: &str,
        rule: Rule,
        why: &str,
    ) -> Self {
        self.action(action(ActionKind::Remove, product, group, email, rule, why))
    }

    pub(crate) fn blocked(mut self, action: Action, rail: Rail, detail: &str) -> Self {
        self.plan.blocked.push(Blocked {
            action,
            rail,
            rail_detail: detail.into(),
        });
        self
    }

    pub(crate) fn notice(
        mut self,
        kind: NoticeKind,
        product: &str,
        email: &str,
        detail: &str,
        at: Option<&str>,
    ) -> Self {
        self.plan.notices.push(Notice {
            kind,
            product: product.into(),
            account_id: account_id(email),
            email: Some(email.into()),
            detail: detail.into(),
            at: at.map(t),
            name: None,
            evidence: None,
        });
        self
    }

    pub(crate) fn observed(mut self, product: &str, group: &str, email: &str) -> Self {
        self.plan.observed.push(Observation {
            product: product.into(),
            group: group.into(),
            group_id: group_id(group),
            account_id: account_id(email),
            email: Some(email.into()),
        });
        self
    }

    pub(crate) fn seats(
        mut self,
        product: &str,
        before: usize,
        after: usize,
        budget: Option<u32>,
    ) -> Self {
        self.plan.seats.insert(
            product.into(),
            Seats {
                before,
                after,
                not_billed: 0,
                licensed: None,
                budget,
            },
        );
        self
    }

    pub(crate) fn warning(mut self, w: &str) -> Self {
        self.plan
            .warnings
            .push(crate::plan::Warning::new("audit-log", w));
        self
    }

    pub(crate) fn dirty(mut self) -> Self {
        self.plan.policy_dirty = true;
        self
    }

    pub(crate) fn build(mut self) -> Plan {
        self.plan
            .actions
            .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        for a in &self.plan.actions {
            let fp = fingerprint_members([a.group_id.as_str()]);
            self.plan.fingerprint.insert(a.group_id.clone(), fp);
        }
        self.plan
    }
}

const JSW: &str = "jira-software";
const JSW_G: &str = "jira-software-users-acme";
const CONF: &str = "confluence";
const CONF_G: &str = "confluence-users-acme";

/// A plan with a bit of everything: adds, removes in two groups, blocked, notices, observations.
pub(crate) fn sample_plan() -> Plan {
    let mut inactive = action(
        ActionKind::Remove,
        JSW,
        JSW_G,
        "bob@x.io",
        Rule::Inactive,
        "inactive since 2026-07-01 (147 days > 90d)",
    );
    inactive.evidence = Evidence {
        source: EvidenceSource::LastActive,
        at: Some(t("2026-07-01")),
        last_active: None,
        entry: Some(Location {
            file: "teams/eng.yaml".into(),
            line: 12,
            column: 5,
        }),
    };
    PlanBuilder::new()
        .add(
            JSW,
            JSW_G,
            "alice@acme.com",
            Rule::Requested,
            "requested 2026-11-20",
        )
        .add(
            JSW,
            JSW_G,
            "henry.longname@subsidiary.acme.com",
            Rule::Eligible,
            "eligible",
        )
        .action(inactive)
        .remove(
            JSW,
            "jira-software-users-legacy",
            "bob@x.io",
            Rule::Inactive,
            "inactive since 2026-07-01 (147 days > 90d)",
        )
        .remove(
            CONF,
            CONF_G,
            "mallory@approved-domain.com",
            Rule::NotEligible,
            "not a safe user for confluence",
        )
        .add(
            CONF,
            CONF_G,
            "carol@acme.com",
            Rule::LoggedIn,
            "logged in 2026-11-24",
        )
        .blocked(
            action(
                ActionKind::Add,
                JSW,
                JSW_G,
                "dave@acme.com",
                Rule::Eligible,
                "eligible",
            ),
            Rail::SeatBudget,
            "seat budget 250 reached",
        )
        .blocked(
            action(
                ActionKind::Remove,
                CONF,
                "confluence-admins",
                "root@acme.com",
                Rule::NotEligible,
                "not a safe user for confluence",
            ),
            Rail::LastAdmin,
            "last member of admin group confluence-admins",
        )
        .notice(
            NoticeKind::ReclaimSoon,
            JSW,
            "erin@acme.com",
            "reclaimed on 2026-12-03 unless active (last active 2026-09-04)",
            Some("2026-12-03"),
        )
        .notice(
            NoticeKind::Dormant,
            CONF,
            "frank@acme.com",
            "reclaimed 2026-08-01; no demand since",
            None,
        )
        .notice(
            NoticeKind::Drift,
            CONF,
            "grace@acme.com",
            "added outside seatkeeper; drift: report",
            None,
        )
        .observed(JSW, JSW_G, "ivan@acme.com")
        .seats(JSW, 250, 249, Some(250))
        .seats(CONF, 40, 40, None)
        .warning("audit log line 14: hash chain broken (read leniently)")
        .build()
}

/// A plan with nothing to do but a notice and seats.
pub(crate) fn empty_plan() -> Plan {
    PlanBuilder::new()
        .notice(
            NoticeKind::ReclaimSoon,
            JSW,
            "erin@acme.com",
            "reclaimed on 2026-12-03 unless active",
            Some("2026-12-03"),
        )
        .seats(JSW, 212, 212, Some(250))
        .dirty()
        .build()
}

fn decision(product: &str, outcome: Outcome) -> Decision {
    Decision {
        product: product.into(),
        groups_now: vec![],
        holds_now: false,
        holds_after: false,
        outcome,
        rule: None,
        reason: String::new(),
        evidence: Evidence::default(),
        reclaim_announced: false,
        reclaim_at: None,
    }
}

/// An explanation covering the interesting outcomes.
pub(crate) fn sample_explanation() -> Explanation {
    let entry = Location {
        file: "teams/eng.yaml".into(),
        line: 12,
        column: 5,
    };
    Explanation {
        account_id: "5b10ac8d82e05b22cc7d4ef5".into(),
        email: Some("alice@acme.com".into()),
        name: "Alice Example".into(),
        status: "active".into(),
        account_type: "atlassian".into(),
        products: vec![
            Decision {
                groups_now: vec![CONF_G.into()],
                holds_now: true,
                holds_after: true,
                rule: Some(Rule::Eligible),
                reason: "safe user; active".into(),
                evidence: Evidence {
                    source: EvidenceSource::LastActive,
                    at: Some(t("2026-11-20T09:30:00Z")),
                    last_active: None,
                    entry: Some(entry.clone()),
                },
                reclaim_at: Some(t("2027-03-20T09:30:00Z")),
                ..decision(CONF, Outcome::Keep)
            },
            Decision {
                holds_after: false,
                rule: Some(Rule::Eligible),
                reason: "eligible".into(),
                evidence: Evidence {
                    source: EvidenceSource::Requested,
                    at: Some(t("2026-11-20")),
                    last_active: None,
                    entry: Some(entry.clone()),
                },
                ..decision("jira-servicedesk", Outcome::Blocked(Rail::SeatBudget))
            },
            Decision {
                groups_now: vec![JSW_G.into(), "jira-software-users-legacy".into()],
                holds_now: true,
                rule: Some(Rule::Inactive),
                reason: "inactive since 2026-07-01 (147 days > 90d)".into(),
                evidence: Evidence {
                    source: EvidenceSource::LastActive,
                    at: Some(t("2026-07-01")),
                    last_active: None,
                    entry: Some(entry),
                },
                reclaim_at: Some(t("2026-09-29")),
                ..decision(JSW, Outcome::Remove)
            },
        ],
    }
}

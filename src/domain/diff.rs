//! What a policy change means in access terms: who gains or loses eligibility for which product,
//! which product rules, budgets and safety rails changed, and how the plan against the same live
//! state differs. Pure: both policies and plans come in as values.

use crate::plan::{Action, ActionKind, Plan};
use crate::policy::{Limit, Policy, Product, UserRef};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The difference between two policies, in access terms.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PolicyDiff {
    /// Product → users that become safe users for it.
    pub granted: BTreeMap<String, Vec<String>>,
    /// Product → users that stop being safe users for it.
    pub revoked: BTreeMap<String, Vec<String>>,
    /// Changes to product rules (groups, inactivity, notice, grace, drift), one line each.
    pub rules: Vec<String>,
    /// Changes to seat budgets.
    pub budgets: Vec<String>,
    /// Changes to safety rails, keep, ignore and eligible groups.
    pub rails: Vec<String>,
}

impl PolicyDiff {
    /// Whether nothing access-relevant changed.
    pub fn is_empty(&self) -> bool {
        self.granted.is_empty()
            && self.revoked.is_empty()
            && self.rules.is_empty()
            && self.budgets.is_empty()
            && self.rails.is_empty()
    }
}

/// The eligibility grid of a policy: product → users named by its `users:` entries with an
/// unexpired grant (`until` compared with `today`).
fn grants(policy: &Policy, today: chrono::NaiveDate) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for product in &policy.products {
        let users = out.entry(product.key.clone()).or_default();
        for user in &policy.users {
            if user.covers(&product.key) && user.until.is_none_or(|u| u >= today) {
                users.insert(match &user.who {
                    UserRef::Email(e) => e.clone(),
                    UserRef::AccountId(a) => a.clone(),
                });
            }
        }
    }
    out
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "none".to_string(), |v| v.to_string())
}

fn compare_products(base: Option<&Product>, head: Option<&Product>, diff: &mut PolicyDiff) {
    let key = head.or(base).map(|p| p.key.as_str()).unwrap_or_default();
    let (b, h) = match (base, head) {
        (None, Some(_)) => return diff.rules.push(format!("{key}: now managed")),
        (Some(_), None) => return diff.rules.push(format!("{key}: no longer managed")),
        (Some(b), Some(h)) => (b, h),
        (None, None) => return,
    };
    let mut rule = |what: &str, before: String, after: String| {
        if before != after {
            diff.rules.push(format!("{key}: {what} {before} → {after}"));
        }
    };
    rule("groups", b.groups.join(", "), h.groups.join(", "));
    rule("inactivity", opt(b.inactivity), opt(h.inactivity));
    rule("notice", opt(b.notice), opt(h.notice));
    rule("grace", b.grace.to_string(), h.grace.to_string());
    rule(
        "drift",
        format!("{:?}", b.drift).to_lowercase(),
        format!("{:?}", h.drift).to_lowercase(),
    );
    rule(
        "eligible_groups",
        b.eligible_groups.join(", "),
        h.eligible_groups.join(", "),
    );
    rule(
        "restore_on_login",
        b.restore_on_login.to_string(),
        h.restore_on_login.to_string(),
    );
    if b.seats != h.seats {
        diff.budgets
            .push(format!("{key}: seats {} → {}", opt(b.seats), opt(h.seats)));
    }
}

/// Compares two policies. `today` decides which time-bound grants count.
pub fn policy_diff(base: &Policy, head: &Policy, today: chrono::NaiveDate) -> PolicyDiff {
    let mut diff = PolicyDiff::default();
    let (before, after) = (grants(base, today), grants(head, today));
    let products: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let empty = BTreeSet::new();
    for product in products {
        let b = before.get(product).unwrap_or(&empty);
        let a = after.get(product).unwrap_or(&empty);
        let granted: Vec<String> = a.difference(b).cloned().collect();
        let revoked: Vec<String> = b.difference(a).cloned().collect();
        if !granted.is_empty() {
            diff.granted.insert(product.clone(), granted);
        }
        if !revoked.is_empty() {
            diff.revoked.insert(product.clone(), revoked);
        }
        compare_products(base.product(product), head.product(product), &mut diff);
    }
    let limit = |l: Option<Limit>| opt(l);
    let mut rail = |what: &str, before: String, after: String| {
        if before != after {
            diff.rails.push(format!("{what}: {before} → {after}"));
        }
    };
    rail(
        "max_removals",
        limit(base.safety.max_removals),
        limit(head.safety.max_removals),
    );
    rail(
        "max_additions",
        limit(base.safety.max_additions),
        limit(head.safety.max_additions),
    );
    rail(
        "eligible_groups",
        format!("{:?}", base.eligible_groups),
        format!("{:?}", head.eligible_groups),
    );
    let matchers = |p: &Policy, keep: bool| {
        let list = if keep { &p.keep } else { &p.ignore };
        format!("{:?}", list.iter().map(|s| &s.matcher).collect::<Vec<_>>())
    };
    rail("keep", matchers(base, true), matchers(head, true));
    rail("ignore", matchers(base, false), matchers(head, false));
    diff
}

/// How the plan of the head policy differs from the plan of the base policy on the same live
/// state: actions the PR introduces and actions it cancels.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlanDelta {
    /// Actions the head plan has and the base plan does not.
    pub introduced: Vec<Action>,
    /// Actions the base plan has and the head plan does not.
    pub cancelled: Vec<Action>,
    /// Blocked in head but not in base, as (action, rail).
    pub newly_blocked: Vec<(Action, String)>,
}

impl PlanDelta {
    /// Whether the two plans do the same.
    pub fn is_empty(&self) -> bool {
        self.introduced.is_empty() && self.cancelled.is_empty() && self.newly_blocked.is_empty()
    }
}

/// Compares the base and head plans.
pub fn plan_delta(base: &Plan, head: &Plan) -> PlanDelta {
    let key = |a: &'_ Action| -> (ActionKind, String, String) {
        (a.kind, a.group_id.clone(), a.account_id.clone())
    };
    let base_keys: BTreeSet<_> = base.actions.iter().map(key).collect();
    let head_keys: BTreeSet<_> = head.actions.iter().map(key).collect();
    let base_blocked: BTreeSet<_> = base.blocked.iter().map(|b| key(&b.action)).collect();
    PlanDelta {
        introduced: head
            .actions
            .iter()
            .filter(|a| !base_keys.contains(&key(a)))
            .cloned()
            .collect(),
        cancelled: base
            .actions
            .iter()
            .filter(|a| !head_keys.contains(&key(a)))
            .cloned()
            .collect(),
        newly_blocked: head
            .blocked
            .iter()
            .filter(|b| !base_blocked.contains(&key(&b.action)))
            .map(|b| (b.action.clone(), b.rail.as_str().to_string()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Drift, Location, SafeUser, Safety, DEFAULT_GRACE};
    use crate::time::Duration;

    fn user(email: &str, products: Option<&[&str]>, until: Option<&str>) -> SafeUser {
        SafeUser {
            who: UserRef::Email(email.into()),
            products: products.map(|ps| ps.iter().map(|p| p.to_string()).collect()),
            until: until.map(|d| crate::time::parse_date(d).unwrap()),
            requested: None,
            location: Location::default(),
        }
    }

    fn policy(users: Vec<SafeUser>, seats: Option<u32>, inactivity: Option<i64>) -> Policy {
        let product = |key: &str| Product {
            key: key.into(),
            groups: vec![format!("{key}-users")],
            seats,
            inactivity: inactivity.map(Duration::days),
            notice: None,
            grace: DEFAULT_GRACE,
            drift: Drift::Revert,
            eligible_groups: Vec::new(),
            restore_on_login: true,
            location: Location::default(),
        };
        Policy {
            site: "acme.atlassian.net".into(),
            org: None,
            products: vec![product("confluence"), product("jira-software")],
            users,
            eligible_groups: vec![],
            keep: vec![],
            ignore: vec![],
            audit_log: "audit/seatkeeper.jsonl".into(),
            safety: Safety::default(),
            notify: None,
        }
    }

    #[test]
    fn grants_revocations_rules_and_budgets_are_named() {
        let today = crate::time::parse_date("2026-11-25").unwrap();
        let base = policy(
            vec![
                user("a@x.io", None, None),
                user("b@x.io", Some(&["confluence"]), None),
            ],
            Some(10),
            Some(90),
        );
        let mut head = policy(
            vec![
                user("a@x.io", Some(&["jira-software"]), None),
                user("b@x.io", Some(&["confluence"]), None),
                user("c@x.io", None, Some("2026-01-01")),
            ],
            Some(12),
            Some(60),
        );
        head.safety.max_removals = Some(Limit::Percent(10.0));
        let diff = policy_diff(&base, &head, today);
        assert_eq!(
            diff.revoked.get("confluence"),
            Some(&vec!["a@x.io".to_string()])
        );
        assert!(
            diff.granted.is_empty(),
            "c's grant has already expired: {diff:?}"
        );
        assert!(
            diff.rules
                .contains(&"jira-software: inactivity 90d → 60d".to_string()),
            "{diff:?}"
        );
        assert!(diff
            .budgets
            .contains(&"confluence: seats 10 → 12".to_string()));
        assert_eq!(diff.rails, vec!["max_removals: none → 10%".to_string()]);
        assert!(policy_diff(&base, &base, today).is_empty());
    }
}

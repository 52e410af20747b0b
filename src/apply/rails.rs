//! The safety rails, checked again on the actions about to run. The planner applied them when
//! it made the plan, but a saved plan is a file anyone could edit: every action must stay inside
//! what the policy manages (a grant group of its product) and inside the groups whose
//! fingerprint the stale-plan check compares, and the `self`, `max_removals` and
//! `max_additions` rails must still hold.

use super::run::ApplyError;
use crate::live::LiveState;
use crate::plan::{Action, ActionKind, Plan};
use crate::policy::Policy;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Checks `plan` against `policy`'s rails. `actor` is the account running seatkeeper (the
/// `self` rail), when the credentials belong to one.
pub fn check(
    plan: &Plan,
    policy: &Policy,
    actor: Option<&str>,
    allow_mass_removal: bool,
) -> Result<(), ApplyError> {
    check_actions(plan, policy)?;
    if let Some(me) = actor {
        if let Some(a) = plan
            .actions
            .iter()
            .find(|a| a.kind == ActionKind::Remove && a.account_id == me)
        {
            return Err(ApplyError::Rail(format!(
                "the plan removes {} from {}, which is the account running seatkeeper (rail `self`)",
                a.who(),
                a.group
            )));
        }
    }
    let safety = &policy.safety;
    // Counted in accounts, like the planner: removing one account from two groups is one seat.
    let mut per_product: BTreeMap<&str, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
    for a in &plan.actions {
        let entry = per_product.entry(a.product.as_str()).or_default();
        match a.kind {
            ActionKind::Add => entry.0.insert(a.account_id.as_str()),
            ActionKind::Remove => entry.1.insert(a.account_id.as_str()),
        };
    }
    for (product, (adds, removes)) in per_product {
        let (adds, removes) = (adds.len(), removes.len());
        // The planner's base: every member of the product's groups, billed or not.
        let before = plan
            .seats
            .get(product)
            .map_or(0, |s| s.before + s.not_billed);
        if let (Some((limit, allowed)), false) =
            (safety.max_removals_for(before), allow_mass_removal)
        {
            if removes > allowed {
                return Err(ApplyError::Rail(format!(
                    "{removes} removals in {product} exceed max_removals ({limit} of {before}); review and pass --allow-mass-removal"
                )));
            }
        }
        if let Some((limit, allowed)) = safety.max_additions_for(before) {
            if adds > allowed {
                return Err(ApplyError::Rail(format!(
                    "{adds} additions in {product} exceed max_additions ({limit})"
                )));
            }
        }
    }
    Ok(())
}

/// Checks a saved plan against the plan the policy produces for the same time, re-derived from
/// the policy at the plan's commit and the live state read now (`derived`, made with every rail
/// lifted: the rails are checked by [`check`]). A saved plan is a file anyone could edit, so
/// every action that is not done yet (`done`: recorded for this plan, or already in effect)
/// must be one the policy produces, its `group_id` must be the live id of the group it names,
/// and no action may appear twice. The error names the first action that fails, and why.
pub fn check_derivation(
    saved: &Plan,
    derived: &Plan,
    live: &LiveState,
    done: impl Fn(&Action) -> bool,
) -> Result<(), ApplyError> {
    let live_ids: HashMap<&str, &str> = live
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.id.as_str()))
        .collect();
    let key = |a: &Action| {
        (
            a.kind,
            a.product.clone(),
            a.group_id.clone(),
            a.account_id.clone(),
        )
    };
    let produced: HashSet<_> = derived
        .actions
        .iter()
        .chain(derived.blocked.iter().map(|b| &b.action))
        .map(key)
        .collect();
    let mut seen = HashSet::new();
    for a in &saved.actions {
        let refuse = |problem: String| ApplyError::Mismatch {
            action: format!("{} {} {}", a.kind.symbol(), a.who(), a.group),
            problem,
        };
        if !seen.insert((a.kind, a.group_id.as_str(), a.account_id.as_str())) {
            return Err(refuse("it appears twice in the plan".into()));
        }
        match live_ids.get(a.group.as_str()) {
            Some(id) if *id == a.group_id => {}
            Some(id) => {
                return Err(refuse(format!(
                    "its group_id {} is not the live id of {} ({id})",
                    a.group_id, a.group
                )))
            }
            None => return Err(refuse(format!("group {} does not exist now", a.group))),
        }
        if !done(a) && !produced.contains(&key(a)) {
            return Err(refuse(format!(
                "the policy (at the plan's commit) does not produce it for {} with the live \
                 state read now",
                saved.generated_at.format("%Y-%m-%d %H:%M UTC")
            )));
        }
    }
    Ok(())
}

/// Every action stays inside a grant group of its product and inside a fingerprinted group.
fn check_actions(plan: &Plan, policy: &Policy) -> Result<(), ApplyError> {
    for a in &plan.actions {
        let granted = policy
            .product(&a.product)
            .is_some_and(|p| p.groups.iter().any(|g| g == &a.group));
        let problem = if !granted {
            Some(format!(
                "{} is not a grant group of {} in the policy",
                a.group, a.product
            ))
        } else if !plan.fingerprint.contains_key(&a.group_id) {
            Some(format!(
                "group {} ({}) has no fingerprint, so its freshness cannot be checked",
                a.group, a.group_id
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(ApplyError::Mismatch {
                action: format!("{} {} {}", a.kind.symbol(), a.who(), a.group),
                problem,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Evidence, Rule, Seats, PLAN_FORMAT_VERSION};
    use crate::policy::source::MemFiles;

    fn remove(account: &str) -> Action {
        Action {
            kind: ActionKind::Remove,
            product: "confluence".into(),
            group: "confluence-users-x".into(),
            group_id: "g1".into(),
            account_id: account.into(),
            email: None,
            rule: Rule::AccountClosed,
            reason: String::new(),
            evidence: Evidence::default(),
        }
    }

    fn plan(removals: usize) -> Plan {
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            site: "x.atlassian.net".into(),
            policy_commit: None,
            policy_dirty: false,
            generated_at: chrono::DateTime::UNIX_EPOCH,
            actions: (0..removals).map(|i| remove(&format!("u{i}"))).collect(),
            blocked: Vec::new(),
            notices: Vec::new(),
            observed: Vec::new(),
            // 30 members, two of them closed accounts: 28 billed.
            seats: BTreeMap::from([(
                "confluence".to_string(),
                Seats {
                    before: 28,
                    after: 28 - removals.min(28),
                    licensed: None,
                    budget: None,
                    not_billed: 2,
                },
            )]),
            safety_defaults: Vec::new(),
            announce: Vec::new(),
            requests: Vec::new(),
            events: None,
            first_run: false,
            policy_dir: None,
            fingerprint: BTreeMap::from([("g1".to_string(), "sha256:00".to_string())]),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn a_percentage_rail_counts_every_member_as_the_planner_does() {
        let yaml = "version: 1\nsite: x.atlassian.net\nproducts:\n  confluence:\n    groups: [confluence-users-x]\nsafety:\n  max_removals: 10%\n";
        let policy = crate::policy::load(&MemFiles::new().with(crate::policy::MAIN_FILE, yaml))
            .expect("policy")
            .policy;
        // The planner allows 10% of the 30 members: 3 removals (two closed accounts and one
        // more). Counting only the 28 billed members, the re-check refused that plan (exit 3).
        assert!(check(&plan(3), &policy, None, false).is_ok());
        let Err(ApplyError::Rail(message)) = check(&plan(4), &policy, None, false) else {
            panic!("4 removals exceed 10% of 30");
        };
        assert_eq!(
            message,
            "4 removals in confluence exceed max_removals (10% of 30); review and pass --allow-mass-removal"
        );
    }
}

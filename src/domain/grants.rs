//! Every path that bills a product (DESIGN §3 and §4): which groups grant each product, as
//! Atlassian's group role assignments say, named by the policy or not; who holds a product
//! through such a group; who holds it by a direct role assignment. From them, the plan warns
//! about granting groups the policy does not name, and about people it frees from every group
//! of a product who still hold the product another way (the seat is still billed).
//!
//! Pure: [`Grants`] is read by the admin API client ([`crate::atlassian::LiveRead::grants`]),
//! direct assignments are looked up for the people a plan frees, and [`warnings`] turns them
//! into plan warnings.

use crate::live::{AccountStatus, AccountType, LiveState};
use crate::plan::{ActionKind, Plan, Warning};
use crate::policy::Policy;
use std::collections::{BTreeMap, BTreeSet};

/// A group that grants a product.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GrantingGroup {
    /// The group id (bare).
    pub id: String,
    /// The group name.
    pub name: String,
}

/// Access paths beyond the policy's groups, per policy product.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Policy product → the site ARIs (`resourceId`s) it is known by.
    pub resources: BTreeMap<String, BTreeSet<String>>,
    /// Policy product → every group whose role assignments give access to it (sorted by name).
    /// Products whose site is not known are absent.
    pub groups: BTreeMap<String, Vec<GrantingGroup>>,
    /// Account → policy product → the names of the granting groups the policy does not name
    /// for that product that the account is in.
    pub held_elsewhere: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Account → the policy products it holds by a direct role assignment (looked up for the
    /// accounts a plan frees; see [`freed`]).
    pub direct: BTreeMap<String, BTreeSet<String>>,
}

/// Whether the policy's groups of `product` include a group named `name` (case-insensitive,
/// as Atlassian matches group names).
fn named(policy: &Policy, product: &str, name: &str) -> bool {
    policy
        .products
        .iter()
        .filter(|p| p.key == product)
        .flat_map(|p| &p.groups)
        .any(|g| g.eq_ignore_ascii_case(name))
}

/// Granting groups the policy does not name: `(product, group name)`, sorted.
pub fn unnamed_groups(policy: &Policy, grants: &Grants) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = grants
        .groups
        .iter()
        .flat_map(|(p, gs)| gs.iter().map(move |g| (p, g)))
        .filter(|(p, g)| !named(policy, p, &g.name))
        .map(|(p, g)| (p.clone(), g.name.clone()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The people a plan frees: account → the products whose every policy group it leaves (it is
/// in some of them now, and the plan removes it from all of those).
pub fn freed(policy: &Policy, live: &LiveState, plan: &Plan) -> BTreeMap<String, BTreeSet<String>> {
    let mut removed: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for a in plan.actions.iter().filter(|a| a.kind == ActionKind::Remove) {
        removed
            .entry((a.account_id.as_str(), a.product.as_str()))
            .or_default()
            .insert(a.group.as_str());
    }
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ((account, product), groups) in removed {
        let Some(p) = policy.products.iter().find(|p| p.key == product) else {
            continue;
        };
        let still_in = p.groups.iter().any(|g| {
            !groups.iter().any(|r| r.eq_ignore_ascii_case(g))
                && live.groups.iter().any(|lg| {
                    lg.name.eq_ignore_ascii_case(g) && lg.members.iter().any(|m| m == account)
                })
        });
        if !still_in {
            out.entry(account.to_string())
                .or_default()
                .insert(product.to_string());
        }
    }
    out
}

/// The plan warnings of [`Grants`]: granting groups the policy does not name, and people the
/// plan frees who are still billed through another group or a direct role assignment.
pub fn warnings(policy: &Policy, live: &LiveState, plan: &Plan, grants: &Grants) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut by_product: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let unnamed = unnamed_groups(policy, grants);
    for (p, g) in &unnamed {
        by_product.entry(p).or_default().push(g);
    }
    for (product, groups) in by_product {
        let list: Vec<String> = groups.iter().map(|g| format!("`{g}`")).collect();
        let location = policy.product(product).map(|p| p.location.clone());
        let mut warning = Warning::new(
            "unnamed-grant-group",
            format!(
                "{product} is also granted by {} {} (Atlassian's group role assignments), which \
                 the policy does not name: {} members hold {product} whatever the policy says",
                if groups.len() == 1 { "group" } else { "groups" },
                list.join(", "),
                if groups.len() == 1 { "its" } else { "their" },
            ),
        )
        .hint(format!(
            "add {} to `products.{product}.groups` to manage {}",
            if groups.len() == 1 { "it" } else { "them" },
            if groups.len() == 1 { "it" } else { "them" },
        ));
        warning.location = location;
        out.push(warning);
    }
    let users: BTreeMap<&str, &crate::live::User> = live
        .users
        .iter()
        .map(|u| (u.account_id.as_str(), u))
        .collect();
    for (account, products) in freed(policy, live, plan) {
        let Some(user) = users.get(account.as_str()) else {
            continue;
        };
        // Only active people take a seat.
        if user.account_type != AccountType::Atlassian || user.status != AccountStatus::Active {
            continue;
        }
        for product in products {
            let mut via: Vec<String> = grants
                .held_elsewhere
                .get(&account)
                .and_then(|m| m.get(&product))
                .into_iter()
                .flatten()
                .map(|g| format!("group `{g}`"))
                .collect();
            if grants
                .direct
                .get(&account)
                .is_some_and(|ps| ps.contains(&product))
            {
                via.push("a direct role assignment".to_string());
            }
            if via.is_empty() {
                continue;
            }
            let who = user.email.as_deref().unwrap_or(account.as_str());
            out.push(Warning::new(
                "still-billed",
                format!(
                    "{who} is freed from every {product} group of the policy but still billed via \
                     {}: the seat is not freed until that goes too",
                    via.join(" and ")
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{Activity, Group, User};
    use crate::plan::Action;

    fn policy() -> Policy {
        let text = "version: 1\nsite: acme.atlassian.net\norg: o\nproducts:\n  jira-software:\n    groups: [jsw-a, jsw-b]\n  confluence:\n    groups: [conf]\n";
        let files = crate::policy::source::MemFiles::new().with(crate::policy::MAIN_FILE, text);
        match crate::policy::load(&files) {
            Ok(l) => l.policy,
            Err(d) => panic!("{d:?}"),
        }
    }

    fn user(id: &str) -> User {
        User {
            account_id: id.into(),
            email: Some(format!("{id}@acme.test")),
            name: id.into(),
            account_type: AccountType::Atlassian,
            status: AccountStatus::Active,
            added_to_org: None,
            last_active: Activity::new(),
        }
    }

    fn group(name: &str, members: &[&str]) -> Group {
        Group {
            id: format!("id-{name}"),
            name: name.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
            synced: false,
        }
    }

    fn remove(account: &str, group: &str, product: &str) -> Action {
        let mut a: Action = serde_json::from_value(serde_json::json!({
            "kind": "remove", "product": product, "group": group, "group_id": format!("id-{group}"),
            "account_id": account, "rule": "inactive", "reason": "r"
        }))
        .expect("an action");
        a.email = Some(format!("{account}@acme.test"));
        a
    }

    #[test]
    fn freed_people_still_billed_elsewhere_and_unnamed_groups_are_warned_about() {
        let policy = policy();
        let live = LiveState {
            users: ["a", "b", "c"].iter().map(|u| user(u)).collect(),
            groups: vec![group("jsw-a", &["a", "b", "c"]), group("jsw-b", &["b"])],
            ..serde_json::from_value(serde_json::json!({
                "format_version": 1, "site": "acme.atlassian.net", "taken_at": "2026-11-25T08:00:00Z",
                "users": [], "groups": []
            }))
            .expect("a state")
        };
        let mut plan: Plan = serde_json::from_value(serde_json::json!({
            "format_version": 1, "site": "acme.atlassian.net", "generated_at": "2026-11-25T08:00:00Z",
            "actions": [], "seats": {}, "fingerprint": {}
        }))
        .expect("a plan");
        // a and c leave jsw-a, their only group; b stays in jsw-b: not freed.
        plan.actions = vec![
            remove("a", "jsw-a", "jira-software"),
            remove("b", "jsw-a", "jira-software"),
            remove("c", "jsw-a", "jira-software"),
        ];
        let freed = freed(&policy, &live, &plan);
        assert_eq!(freed.keys().collect::<Vec<_>>(), ["a", "c"]);
        let mut grants = Grants::default();
        grants.groups.insert(
            "jira-software".into(),
            vec![
                GrantingGroup {
                    id: "id-jsw-a".into(),
                    name: "jsw-a".into(),
                },
                GrantingGroup {
                    id: "id-legacy".into(),
                    name: "legacy".into(),
                },
            ],
        );
        grants.held_elsewhere.insert(
            "a".into(),
            [("jira-software".to_string(), vec!["legacy".to_string()])].into(),
        );
        grants
            .direct
            .insert("c".into(), ["jira-software".to_string()].into());
        assert_eq!(
            unnamed_groups(&policy, &grants),
            [("jira-software".to_string(), "legacy".to_string())]
        );
        let w = warnings(&policy, &live, &plan, &grants);
        assert_eq!(w.len(), 3, "{w:#?}");
        assert!(
            w[0].message
                .starts_with("jira-software is also granted by group `legacy`"),
            "{}",
            w[0]
        );
        assert!(
            w[1].message.contains("a@acme.test")
                && w[1].message.contains("still billed via group `legacy`"),
            "{}",
            w[1]
        );
        assert!(
            w[2].message.contains("c@acme.test")
                && w[2].message.contains("via a direct role assignment"),
            "{}",
            w[2]
        );
    }
}

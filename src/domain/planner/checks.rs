//! Policy lines that name nothing in live state: a safe user no account has, a group the org
//! does not have, a site that is not the one read. Each is a [`Warning`] with a stable code and
//! the line it comes from, shown by plan, explain and `validate --live`, because a typo here
//! silently changes who holds a seat.

use crate::live::LiveState;
use crate::plan::Warning;
use crate::policy::raw::edits_within;
use crate::policy::{Matcher, Policy, UserRef};
use std::collections::HashSet;

/// How many similar emails an unmatched safe-user entry suggests.
const CLOSEST: usize = 3;

/// The furthest (in edits) a suggested email may be from the one written.
const MAX_EDITS: usize = 3;

/// Every policy line that names something live state does not have, in policy order.
pub fn live_checks(policy: &Policy, live: &LiveState) -> Vec<Warning> {
    let mut out = Vec::new();
    if !same_site(&policy.site, &live.site) {
        out.push(
            Warning::new(
                "site-mismatch",
                format!(
                    "the policy manages {}, but the live state was read from {}",
                    policy.site, live.site
                ),
            )
            .hint("plan against the policy's own site, or fix `site:` in seatkeeper.yaml"),
        );
    }
    out.extend(unknown_groups(policy, live));
    out.extend(unmatched_users(policy, live));
    out
}

fn same_site(a: &str, b: &str) -> bool {
    let host = |s: &str| {
        let s = s.trim();
        let s = s.split_once("://").map_or(s, |(_, rest)| rest);
        s.trim_end_matches('/').to_lowercase()
    };
    host(a) == host(b)
}

fn unknown_groups(policy: &Policy, live: &LiveState) -> Vec<Warning> {
    let live_groups: HashSet<&str> = live.groups.iter().map(|g| g.name.as_str()).collect();
    let missing = |name: &str| !live_groups.contains(name);
    let closest = |name: &str| {
        let names: Vec<&str> = live.groups.iter().map(|g| g.name.as_str()).collect();
        crate::policy::raw::did_you_mean(name, &names)
            .map(|n| format!("did you mean `{n}`? (group names are exact)"))
            .unwrap_or_else(|| "check the name in admin.atlassian.com > Groups".to_string())
    };
    let mut out = Vec::new();
    for p in &policy.products {
        let found = p.groups.iter().filter(|g| !missing(g)).count();
        for g in p.groups.iter().filter(|g| missing(g)) {
            out.push(
                Warning::new(
                    "unknown-group",
                    format!("product {}: group `{g}` does not exist in the org", p.key),
                )
                .at(&p.location)
                .hint(closest(g)),
            );
        }
        if found == 0 && !p.groups.is_empty() {
            out.push(
                Warning::new(
                    "product-without-groups",
                    format!(
                        "product {}: none of its groups exists in the org; nothing is planned for it",
                        p.key
                    ),
                )
                .at(&p.location),
            );
        }
        for g in p.eligible_groups.iter().filter(|g| missing(g)) {
            out.push(
                Warning::new(
                    "unknown-group",
                    format!(
                        "product {}: eligible group `{g}` does not exist in the org; nobody is eligible through it",
                        p.key
                    ),
                )
                .at(&p.location)
                .hint(closest(g)),
            );
        }
    }
    for g in policy.eligible_groups.iter().filter(|g| missing(g)) {
        out.push(
            Warning::new(
                "unknown-group",
                format!(
                    "eligible_groups: group `{g}` does not exist in the org; nobody is eligible through it"
                ),
            )
            .hint(closest(g)),
        );
    }
    for (list, selectors) in [("keep", &policy.keep), ("ignore", &policy.ignore)] {
        for s in selectors {
            if let Matcher::Group(g) = &s.matcher {
                if missing(g) {
                    out.push(
                        Warning::new(
                            "unknown-group",
                            format!("{list}: group `{g}` does not exist in the org; the entry matches nobody"),
                        )
                        .at(&s.location)
                        .hint(closest(g)),
                    );
                }
            }
        }
    }
    out
}

fn unmatched_users(policy: &Policy, live: &LiveState) -> Vec<Warning> {
    let emails: HashSet<String> = live
        .users
        .iter()
        .filter_map(|u| u.email.as_deref())
        .map(str::to_lowercase)
        .collect();
    let ids: HashSet<&str> = live.users.iter().map(|u| u.account_id.as_str()).collect();
    let mut out = Vec::new();
    for entry in &policy.users {
        let matched = match &entry.who {
            UserRef::Email(e) => emails.contains(&e.to_lowercase()),
            UserRef::AccountId(a) => ids.contains(a.as_str()),
        };
        if matched {
            continue;
        }
        let warning = Warning::new(
            "unmatched-user",
            format!(
                "safe-user entry {} matches no account of the org: it grants nothing",
                entry.who
            ),
        )
        .at(&entry.location);
        let hint = match &entry.who {
            UserRef::Email(e) => {
                let near = closest_emails(&e.to_lowercase(), &emails);
                if near.is_empty() {
                    "check the spelling, or remove the entry if the person has left".to_string()
                } else {
                    format!("closest emails in the org: {}", near.join(", "))
                }
            }
            UserRef::AccountId(_) => {
                "check the account id (admin.atlassian.com > Directory > Users)".to_string()
            }
        };
        out.push(warning.hint(hint));
    }
    out
}

/// The emails at most [`MAX_EDITS`] edits from `email`, closest first (then alphabetical).
fn closest_emails(email: &str, emails: &HashSet<String>) -> Vec<String> {
    let mut near: Vec<(usize, &String)> = emails
        .iter()
        .filter_map(|e| edits_within(email, e, MAX_EDITS).map(|d| (d, e)))
        .collect();
    near.sort();
    near.into_iter()
        .take(CLOSEST)
        .map(|(_, e)| e.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_is_bounded() {
        assert_eq!(
            edits_within("bob.bernrad@acme.com", "bob.bernard@acme.com", 3),
            Some(2)
        );
        assert_eq!(
            edits_within("heidi.kim@acme.tset", "heidi.kim@acme.test", 3),
            Some(2)
        );
        assert_eq!(edits_within("a@x.io", "someone.else@acme.com", 3), None);
        assert_eq!(edits_within("same@acme.com", "same@acme.com", 0), Some(0));
    }

    #[test]
    fn sites_compare_as_hosts() {
        assert!(same_site(
            "acme.atlassian.net",
            "https://ACME.atlassian.net/"
        ));
        assert!(!same_site("acme.atlassian.net", "acme-test.atlassian.net"));
    }
}

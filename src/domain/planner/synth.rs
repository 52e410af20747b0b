//! Synthetic orgs: a deterministic generator of realistic policies and live states of any size,
//! for the planner benchmark, property tests and the sandbox's `--generate`.
//!
//! [`synth_org`] builds an org with five products of two grant groups each, two years of
//! activity, app, customer, suspended, deactivated and closed accounts, an
//! `all-products-staff` eligible group, a `site-admins` keep group, time-bound and requested safe-user entries, and recent
//! login, access-request and group-addition events. Users, group members and safe users are
//! listed in account-id order, as `export --snapshot` and `export --policy-out` write them. The same `(users, seed)` always gives
//! the same org; no `rand` involved (xorshift64*).

use crate::live::{
    AccountStatus, AccountType, Activity, Event, EventAction, Group, LiveState, User,
    SNAPSHOT_FORMAT_VERSION,
};
use crate::policy::{
    Drift, Limit, Location, Matcher, Policy, Product, SafeUser, Safety, Selector, UserRef,
};
use crate::time::Duration;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use std::collections::BTreeMap;

/// A tiny deterministic PRNG (xorshift64*), ours so that a seed gives the same org, faults
/// and plans on every platform and in every version (a library's PRNG may change its stream).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// Seeds the generator (any seed, zero included).
    pub fn new(seed: u64) -> Self {
        Self((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// An integer in `[0, n)` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// An index into a slice of `len` items (0 when empty).
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// A float in `[lo, hi)`.
    pub fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// 128 random bits.
    pub fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }
}

/// The `now` of every synthetic org (its `taken_at`): 2026-11-25T08:00:00Z.
pub fn synth_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// (product key, share of users holding it, inactivity days, drift mode)
const PRODUCTS: [(&str, f64, i64, Drift); 5] = [
    ("compass", 0.25, 90, Drift::Report),
    ("confluence", 0.7, 120, Drift::Revert),
    ("jira-product-discovery", 0.2, 60, Drift::Revert),
    ("jira-servicedesk", 0.15, 90, Drift::Revert),
    ("jira-software", 0.8, 90, Drift::Revert),
];

fn loc(file: &str, line: usize) -> Location {
    Location::at(file, line as u32, 5)
}

/// Generates an org of `users` accounts from `seed`: its policy and its live state (whose
/// `taken_at` is [`synth_now`]; plan at that time).
pub fn synth_org(users: usize, seed: u64) -> (Policy, LiveState) {
    let mut rng = XorShift::new(seed);
    let now = synth_now();
    let days_ago = |d: f64| now - TimeDelta::seconds((d * 86_400.0) as i64);

    let mut groups: Vec<Group> = Vec::new();
    let group = |name: String, synced: bool, groups: &mut Vec<Group>| -> usize {
        groups.push(Group {
            id: format!("grp-{:04}", groups.len() + 1),
            name,
            members: Vec::new(),
            synced,
        });
        groups.len() - 1
    };
    let grant: Vec<[usize; 2]> = PRODUCTS
        .iter()
        .map(|(key, ..)| {
            [
                group(format!("{key}-users-acme"), false, &mut groups),
                group(format!("{key}-users-legacy"), false, &mut groups),
            ]
        })
        .collect();
    let employees = group("all-products-staff".to_string(), true, &mut groups);
    let site_admins = group("site-admins".to_string(), false, &mut groups);
    let contractors = group("contractors".to_string(), false, &mut groups);

    let mut live_users = Vec::with_capacity(users);
    let mut safe = Vec::new();
    let mut events = Vec::new();
    let mut holders = [0usize; PRODUCTS.len()];
    let mut admins = 0;
    for i in 0..users {
        let account_id = format!("{:012x}{:012x}", rng.next_u64() >> 16, rng.next_u64() >> 16);
        let r = rng.unit();
        let account_type = if r < 0.04 {
            AccountType::App
        } else if r < 0.10 {
            AccountType::Customer
        } else {
            AccountType::Atlassian
        };
        let r = rng.unit();
        let status = if r < 0.01 {
            AccountStatus::Closed
        } else if r < 0.02 {
            AccountStatus::Deactivated
        } else if r < 0.05 {
            AccountStatus::Suspended
        } else {
            AccountStatus::Active
        };
        let email = match account_type {
            AccountType::Atlassian => Some(format!("user{i}@acme.com")),
            AccountType::Customer => Some(format!("customer{i}@example.org")),
            AccountType::App => rng
                .chance(0.5)
                .then(|| format!("app{i}@connect.atlassian.com")),
        };
        let added_to_org = Some(days_ago(rng.unit() * 1_095.0));
        let person = account_type == AccountType::Atlassian;
        let active = status == AccountStatus::Active;

        let mut last_active = Activity::new();
        let mut held = Vec::new();
        for (p, (key, share, ..)) in PRODUCTS.iter().enumerate() {
            let holds = if account_type == AccountType::Customer {
                key.starts_with("jira-servicedesk") && rng.chance(0.05)
            } else {
                rng.chance(*share)
            };
            if holds {
                holders[p] += 1;
                held.push(p);
                let [main, legacy] = grant[p];
                let in_main = rng.chance(0.85);
                if in_main {
                    groups[main].members.push(account_id.clone());
                }
                if !in_main || rng.chance(0.2) {
                    groups[legacy].members.push(account_id.clone());
                }
                let r = rng.unit();
                if r < 0.92 {
                    // Most holders are active (about two weeks on average) ...
                    let days = -(1.0 - rng.unit()).ln() * 15.0;
                    last_active.insert(key.to_string(), days_ago(days));
                } else if r < 0.97 {
                    // ... a tail has been idle for months ...
                    last_active.insert(key.to_string(), days_ago(60.0 + rng.unit() * 670.0));
                }
                // ... and a few have no activity data at all.
                if rng.chance(0.02) {
                    let g = if in_main { main } else { legacy };
                    events.push(Event {
                        time: days_ago(rng.unit() * 60.0),
                        action: EventAction::UserAddedToGroup,
                        account_id: account_id.clone(),
                        product: None,
                        group_id: Some(groups[g].id.clone()),
                    });
                }
            } else if rng.chance(0.1) {
                last_active.insert(key.to_string(), days_ago(200.0 + rng.unit() * 530.0));
            }
        }
        if person && active && rng.chance(0.05) {
            groups[employees].members.push(account_id.clone());
        }
        if person && rng.chance(0.05) {
            groups[contractors].members.push(account_id.clone());
        }
        if person && active && admins < 3 && rng.chance(0.01) {
            groups[site_admins].members.push(account_id.clone());
            admins += 1;
        }
        // The safe-user list mostly mirrors who holds what (a steady state), with a few
        // holders missing from it and a few fresh entries for people without a seat yet.
        let listed = if held.is_empty() {
            rng.chance(0.04)
        } else {
            rng.chance(0.96)
        };
        if person && listed {
            let who = match (&email, rng.chance(0.2)) {
                (Some(e), false) => UserRef::Email(e.clone()),
                _ => UserRef::AccountId(account_id.clone()),
            };
            let products = if held.is_empty() {
                let p = rng.below(PRODUCTS.len() as u64) as usize;
                Some(vec![PRODUCTS[p].0.to_string()])
            } else if rng.chance(0.3) {
                None
            } else {
                Some(held.iter().map(|&p| PRODUCTS[p].0.to_string()).collect())
            };
            let until = rng
                .chance(0.05)
                .then(|| days_ago(rng.unit() * 500.0 - 400.0).date_naive());
            let requested = (held.is_empty() && rng.chance(0.5) || rng.chance(0.01))
                .then(|| days_ago(rng.unit() * 30.0).date_naive());
            safe.push((
                account_id.clone(),
                SafeUser {
                    who,
                    products,
                    until,
                    requested,
                    location: loc("teams/people.yaml", 0),
                },
            ));
        }
        if active && rng.chance(0.15) {
            events.push(Event {
                time: days_ago(rng.unit() * 30.0),
                action: EventAction::UserLoggedIn,
                account_id: account_id.clone(),
                product: None,
                group_id: None,
            });
        }
        if active && rng.chance(0.01) {
            let p = rng.below(PRODUCTS.len() as u64) as usize;
            events.push(Event {
                time: days_ago(rng.unit() * 14.0),
                action: EventAction::AccessRequested,
                account_id: account_id.clone(),
                product: Some(PRODUCTS[p].0.to_string()),
                group_id: None,
            });
        }
        live_users.push(User {
            account_id,
            email,
            name: format!("User {i}"),
            account_type,
            status,
            added_to_org,
            last_active,
        });
    }
    events.sort_by(|a, b| {
        a.time
            .cmp(&b.time)
            .then_with(|| a.account_id.cmp(&b.account_id))
    });

    let products = PRODUCTS
        .iter()
        .enumerate()
        .map(|(p, (key, _, inactivity, drift))| Product {
            key: key.to_string(),
            groups: grant[p].iter().map(|&g| groups[g].name.clone()).collect(),
            seats: Some((holders[p] as f64 * 1.02) as u32 + 10),
            inactivity: Some(Duration::days(*inactivity)),
            notice: Some(Duration::days(14)),
            grace: Duration::days(2),
            drift: *drift,
            eligible_groups: Vec::new(),
            restore_on_login: true,
            location: loc("seatkeeper.yaml", 5 + p * 7),
        })
        .collect();
    // Safe users in account-id order, as `export --policy-out` writes a bootstrapped policy.
    safe.sort_by(|a, b| a.0.cmp(&b.0));
    let safe: Vec<SafeUser> = safe
        .into_iter()
        .enumerate()
        .map(|(i, (_, mut entry))| {
            entry.location = loc("teams/people.yaml", i * 4 + 1);
            entry
        })
        .collect();
    let policy = Policy {
        site: "acme.atlassian.net".to_string(),
        org: Some("synth-org".to_string()),
        products,
        users: safe,
        eligible_groups: vec!["all-products-staff".to_string()],
        keep: vec![
            Selector {
                matcher: Matcher::Group("site-admins".to_string()),
                location: loc("seatkeeper.yaml", 50),
            },
            Selector {
                matcher: Matcher::AccountType(AccountType::App),
                location: loc("seatkeeper.yaml", 51),
            },
        ],
        ignore: vec![Selector {
            matcher: Matcher::AccountType(AccountType::Customer),
            location: loc("seatkeeper.yaml", 54),
        }],
        audit_log: "audit/seatkeeper.jsonl".to_string(),
        notify: None,
        safety: Safety {
            max_removals: Some(Limit::Percent(50.0)),
            max_additions: None,
            admin_groups: None,
            defaulted: Vec::new(),
        },
    };
    // Users and members in account-id order, as `export --snapshot` writes them.
    live_users.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    for g in &mut groups {
        g.members.sort_unstable();
        g.members.dedup();
    }
    let live = LiveState {
        format_version: SNAPSHOT_FORMAT_VERSION,
        site: policy.site.clone(),
        org_id: policy.org.clone(),
        taken_at: now,
        users: live_users,
        groups,
        events,
        licenses: BTreeMap::new(),
        events_read: None,
    };
    (policy, live)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synth_is_deterministic_and_varied() {
        let (p1, l1) = synth_org(500, 7);
        let (p2, l2) = synth_org(500, 7);
        assert_eq!(p1, p2);
        assert_eq!(l1, l2);
        let (_, l3) = synth_org(500, 8);
        assert_ne!(l1, l3);
        assert_eq!(l1.users.len(), 500);
        assert_eq!(p1.products.len(), 5);
        assert!(p1.products.iter().all(|p| p.groups.len() == 2));
        for t in [
            AccountType::App,
            AccountType::Customer,
            AccountType::Atlassian,
        ] {
            assert!(l1.users.iter().any(|u| u.account_type == t), "{t:?}");
        }
        for s in [
            AccountStatus::Closed,
            AccountStatus::Suspended,
            AccountStatus::Active,
        ] {
            assert!(l1.users.iter().any(|u| u.status == s), "{s:?}");
        }
        assert!(!p1.users.is_empty());
        assert!(!l1.events.is_empty());
    }
}

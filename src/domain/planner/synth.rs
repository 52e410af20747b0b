//! Synthetic orgs: the one deterministic generator of realistic orgs of any size, for the
//! sandbox's `--generate`, the tests and the benchmarks. Pure: no clock, no I/O.
//!
//! [`generate_state`] builds the org (site `acme.atlassian.net`, domain `acme.test`):
//! - account 0 is the sandbox admin (the given email), in `site-admins` and every product group;
//! - about 0.5 % app accounts (at least two), 10 % JSM portal customers, and among people 3 %
//!   suspended, 2 % deactivated and 3 % closed accounts (closed ones keep stale memberships);
//! - products `jira-software` (two grant groups: `jira-software-users-acme` and
//!   `jira-software-users-contractors`, some people in both), `confluence`
//!   (`confluence-users-acme`) and `jira-servicedesk` (`jira-servicemanagement-users-acme`);
//! - `employees`, a group synced from an identity provider (read-only);
//! - activity spread over two years: people join the org over the last 730 days, most product
//!   holders were active within 30 days, some within 90, some long ago, a few never; some
//!   non-holders have old activity (seats reclaimed earlier);
//! - events: a login for everyone active in the last 30 days, access requests from a few
//!   non-holders, and group additions for recent joiners.
//!
//! [`synth_org`] adds a policy written for that org (its three products, safe users mirroring
//! who holds what with time-bound and requested entries, a keep group, apps kept and customers
//! ignored), as of [`synth_now`]. The same `(users, seed)` always gives the same org; no `rand`
//! involved (xorshift64*).

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
use std::collections::HashSet;

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

/// A stable id derived from `seed` (a hash in UUID form): group and org ids of generated orgs,
/// sandbox error ids.
pub fn derived_id(seed: &str) -> String {
    let mut h1: u64 = 0xcbf2_9ce4_8422_2325;
    let mut h2: u64 = 0x8422_2325_cbf2_9ce4;
    for b in seed.bytes() {
        h1 = (h1 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        h2 = (h2 ^ u64::from(b))
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(7);
    }
    let hex = format!("{h1:016x}{h2:016x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

const FIRST: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yvonne", "aiko",
    "bjorn", "chen", "dmitri", "elena", "fatima", "goran", "hana", "ines", "jamal", "kofi", "lena",
    "mateo", "nora", "omar", "priya", "quinn", "rosa", "sven", "tariq",
];
const LAST: &[&str] = &[
    "smith", "jones", "garcia", "muller", "rossi", "tanaka", "kim", "nguyen", "silva", "kowalski",
    "novak", "hansen", "dubois", "costa", "ivanova", "ahmed", "okafor", "larsen", "moreau",
    "fischer", "popescu", "yilmaz", "haddad", "schmidt", "weber", "lopez", "martin", "bernard",
    "wang", "li", "singh", "patel", "brown", "taylor", "wilson", "evans", "walsh", "byrne",
    "murphy", "kelly",
];

/// Group names of the generated org.
pub const JSW_GROUP: &str = "jira-software-users-acme";
/// The second grant group of `jira-software`.
pub const JSW_CONTRACTORS_GROUP: &str = "jira-software-users-contractors";
/// The Confluence grant group.
pub const CONFLUENCE_GROUP: &str = "confluence-users-acme";
/// The Jira Service Management grant group.
pub const JSM_GROUP: &str = "jira-servicemanagement-users-acme";
/// The IdP-synced group.
pub const SYNCED_GROUP: &str = "employees";

fn uuid(rng: &mut XorShift) -> String {
    let a: u128 = rng.next_u128();
    let h = format!("{a:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// Each product of a generated org with its grant groups.
pub const PRODUCT_GROUPS: [(&str, &[&str]); 3] = [
    ("jira-software", &[JSW_GROUP, JSW_CONTRACTORS_GROUP]),
    ("confluence", &[CONFLUENCE_GROUP]),
    ("jira-servicedesk", &[JSM_GROUP]),
];

/// Generates the live state of an org of `users` accounts from `seed`, "as of" `now` (all
/// activity lies before it); account 0 has `admin_email`.
pub fn generate_state(users: usize, seed: u64, now: DateTime<Utc>, admin_email: &str) -> LiveState {
    let mut rng = XorShift::new(seed);
    let n = users.max(1);
    let days = |d: f64| TimeDelta::seconds((d * 86_400.0) as i64);

    let group_names = [
        JSW_GROUP,
        JSW_CONTRACTORS_GROUP,
        CONFLUENCE_GROUP,
        JSM_GROUP,
        SYNCED_GROUP,
        "site-admins",
        "jira-admins-acme",
    ];
    let mut members: Vec<Vec<String>> = vec![Vec::new(); group_names.len()];
    let (jsw, jswc, conf, jsm, emp, sadm, jadm) = (0, 1, 2, 3, 4, 5, 6);

    let mut users = Vec::with_capacity(n);
    let mut events = Vec::new();
    let mut emails: HashSet<String> = HashSet::with_capacity(n);

    for i in 0..n {
        let added = now - days(rng.between(0.0, 730.0));
        if i == 0 {
            let id = format!("712020:{}", uuid(&mut rng));
            for g in [jsw, conf, jsm, sadm, jadm, emp] {
                members[g].push(id.clone());
            }
            let mut last = Activity::new();
            for p in ["jira-software", "confluence", "jira-servicedesk"] {
                last.insert(p.to_string(), now - days(rng.between(0.0, 2.0)));
            }
            emails.insert(admin_email.to_lowercase());
            users.push(User {
                account_id: id,
                email: Some(admin_email.to_string()),
                name: "Sandbox Admin".to_string(),
                account_type: AccountType::Atlassian,
                status: AccountStatus::Active,
                added_to_org: Some(now - days(729.0)),
                last_active: last,
            });
            continue;
        }
        let kind: f64 = rng.unit();
        if i <= 2 || kind < 0.005 {
            // An app (bot) account; some hold Jira for integrations.
            let id = format!("557058:{}", uuid(&mut rng));
            if rng.chance(0.5) {
                members[jsw].push(id.clone());
            }
            users.push(User {
                account_id: id,
                email: None,
                name: format!("Automation bot {i}"),
                account_type: AccountType::App,
                status: AccountStatus::Active,
                added_to_org: Some(added),
                last_active: Activity::new(),
            });
            continue;
        }
        let first = FIRST[rng.index(FIRST.len())];
        let last = LAST[rng.index(LAST.len())];
        let name = format!(
            "{}{} {}{}",
            &first[..1].to_uppercase(),
            &first[1..],
            &last[..1].to_uppercase(),
            &last[1..]
        );
        if kind < 0.10 {
            // A JSM portal customer: no groups, not billed.
            let id = format!("qm:{}:{}", uuid(&mut rng), uuid(&mut rng));
            let mut email = format!("{first}.{last}@customer-{}.test", i % 97);
            if !emails.insert(email.clone()) {
                email = format!("{first}.{last}.{i}@customer-{}.test", i % 97);
                emails.insert(email.clone());
            }
            users.push(User {
                account_id: id,
                email: Some(email),
                name,
                account_type: AccountType::Customer,
                status: AccountStatus::Active,
                added_to_org: Some(added),
                last_active: Activity::new(),
            });
            continue;
        }
        let id = format!("712020:{}", uuid(&mut rng));
        let s: f64 = rng.unit();
        let status = if s < 0.03 {
            AccountStatus::Suspended
        } else if s < 0.05 {
            AccountStatus::Deactivated
        } else if s < 0.08 {
            AccountStatus::Closed
        } else {
            AccountStatus::Active
        };
        let contractor = rng.chance(0.12);
        let domain = if contractor {
            "contractor.test"
        } else {
            "acme.test"
        };
        let mut email = format!("{first}.{last}@{domain}");
        if !emails.insert(email.clone()) {
            email = format!("{first}.{last}{i}@{domain}");
            emails.insert(email.clone());
        }
        let age_days = (now - added).num_seconds() as f64 / 86_400.0;
        let activity = |rng: &mut XorShift| -> Option<DateTime<Utc>> {
            let r: f64 = rng.unit();
            let ago: f64 = if r < 0.60 {
                rng.between(0.0, 30.0)
            } else if r < 0.75 {
                rng.between(30.0, 90.0)
            } else if r < 0.87 {
                rng.between(90.0, 365.0)
            } else if r < 0.95 {
                rng.between(365.0, 730.0)
            } else {
                return None;
            };
            Some(now - days(ago.min(age_days)))
        };
        let mut last_active = Activity::new();
        let mut product_groups = Vec::new();
        if rng.chance(0.65) {
            let r: f64 = rng.unit();
            if contractor || r < 0.05 {
                product_groups.push(jswc);
            }
            if !contractor || r < 0.05 {
                product_groups.push(jsw);
            }
            if let Some(t) = activity(&mut rng) {
                last_active.insert("jira-software".to_string(), t);
            }
        } else if rng.chance(0.3) {
            // Reclaimed earlier: old activity, no group.
            last_active.insert(
                "jira-software".to_string(),
                now - days(rng.between(200.0, 700.0).min(age_days)),
            );
        }
        if rng.chance(0.75) {
            product_groups.push(conf);
            if let Some(t) = activity(&mut rng) {
                last_active.insert("confluence".to_string(), t);
            }
        } else if rng.chance(0.3) {
            last_active.insert(
                "confluence".to_string(),
                now - days(rng.between(200.0, 700.0).min(age_days)),
            );
        }
        if rng.chance(0.10) {
            product_groups.push(jsm);
            if let Some(t) = activity(&mut rng) {
                last_active.insert("jira-servicedesk".to_string(), t);
            }
        }
        if status == AccountStatus::Active && !contractor && rng.chance(0.85) {
            product_groups.push(emp);
        }
        if status == AccountStatus::Active && rng.chance(0.0005) {
            product_groups.push(sadm);
        }
        if status == AccountStatus::Active && rng.chance(0.002) {
            product_groups.push(jadm);
        }
        // A login event for recent activity.
        if status == AccountStatus::Active {
            if let Some(t) = last_active.values().max().copied() {
                if now - t < TimeDelta::days(30) {
                    events.push(Event {
                        time: t,
                        action: EventAction::UserLoggedIn,
                        account_id: id.clone(),
                        product: None,
                        group_id: None,
                    });
                }
            }
            if !product_groups.contains(&jsw) && !product_groups.contains(&jswc) && rng.chance(0.02)
            {
                events.push(Event {
                    time: now - days(rng.between(0.0, 14.0)),
                    action: EventAction::AccessRequested,
                    account_id: id.clone(),
                    product: Some("jira-software".to_string()),
                    group_id: None,
                });
            }
        }
        if now - added < TimeDelta::days(30) {
            for &g in &product_groups {
                events.push(Event {
                    time: added,
                    action: EventAction::UserAddedToGroup,
                    account_id: id.clone(),
                    product: None,
                    group_id: Some(derived_id(&format!("group:{}", group_names[g]))),
                });
            }
        }
        for g in product_groups {
            members[g].push(id.clone());
        }
        let (email, name) = if status == AccountStatus::Closed {
            (None, "Former user".to_string())
        } else {
            (Some(email), name)
        };
        users.push(User {
            account_id: id,
            email,
            name,
            account_type: AccountType::Atlassian,
            status,
            added_to_org: Some(added),
            last_active,
        });
    }
    events.sort_by_key(|e| e.time);

    let groups: Vec<Group> = group_names
        .iter()
        .zip(members)
        .map(|(name, members)| Group {
            id: derived_id(&format!("group:{name}")),
            name: (*name).to_string(),
            members,
            synced: *name == SYNCED_GROUP,
        })
        .collect();

    LiveState {
        format_version: SNAPSHOT_FORMAT_VERSION,
        site: "acme.atlassian.net".to_string(),
        org_id: Some(derived_id(&format!("org:generated:{seed}"))),
        taken_at: now,
        users,
        groups,
        events,
        licenses: BTreeMap::new(),
        events_read: None,
    }
}

fn loc(file: &str, line: usize) -> Location {
    Location::at(file, line as u32, 5)
}

/// Generates an org of `users` accounts from `seed` ([`generate_state`] as of [`synth_now`],
/// account 0 `admin@acme.test`) and a policy written for it. Users, group members and safe
/// users are listed in account-id order, as `export --snapshot` and `export --policy-out`
/// write them.
pub fn synth_org(users: usize, seed: u64) -> (Policy, LiveState) {
    let mut live = generate_state(users, seed, synth_now(), "admin@acme.test");
    // Users and members in account-id order, as `export --snapshot` writes them.
    live.users.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    for g in &mut live.groups {
        g.members.sort_unstable();
        g.members.dedup();
    }
    // The policy draws from its own stream, so the org is the one `--generate` serves.
    let mut rng = XorShift::new(seed ^ 0x5afe_5afe);
    let now = synth_now();
    let days_ago = |d: f64| now - TimeDelta::seconds((d * 86_400.0) as i64);
    let group_of: BTreeMap<&str, &Group> =
        live.groups.iter().map(|g| (g.name.as_str(), g)).collect();
    let holds = |account: &str, groups: &[&str]| {
        groups.iter().filter_map(|g| group_of.get(g)).any(|g| {
            g.members
                .binary_search_by(|m| m.as_str().cmp(account))
                .is_ok()
        })
    };
    // (product key, inactivity days, drift mode)
    let settings = [
        (90, Drift::Revert),
        (120, Drift::Revert),
        (90, Drift::Report),
    ];
    let mut holders = [0usize; PRODUCT_GROUPS.len()];
    let mut safe = Vec::new();
    let people = live.users.iter();
    for u in people.filter(|u| u.account_type == AccountType::Atlassian) {
        let held: Vec<usize> = (0..PRODUCT_GROUPS.len())
            .filter(|&p| holds(&u.account_id, PRODUCT_GROUPS[p].1))
            .collect();
        for &p in &held {
            holders[p] += 1;
        }
        // The safe-user list mostly mirrors who holds what (a steady state), with a few
        // holders missing from it and a few fresh entries for people without a seat yet.
        let listed = if held.is_empty() {
            rng.chance(0.04)
        } else {
            rng.chance(0.96)
        };
        if !listed {
            continue;
        }
        let who = match (&u.email, rng.chance(0.2)) {
            (Some(e), false) => UserRef::Email(e.clone()),
            _ => UserRef::AccountId(u.account_id.clone()),
        };
        let products = if held.is_empty() {
            let p = rng.index(PRODUCT_GROUPS.len());
            Some(vec![PRODUCT_GROUPS[p].0.to_string()])
        } else if rng.chance(0.3) {
            None
        } else {
            Some(
                held.iter()
                    .map(|&p| PRODUCT_GROUPS[p].0.to_string())
                    .collect(),
            )
        };
        let until = rng
            .chance(0.05)
            .then(|| days_ago(rng.unit() * 500.0 - 400.0).date_naive());
        let requested = (held.is_empty() && rng.chance(0.5) || rng.chance(0.01))
            .then(|| days_ago(rng.unit() * 30.0).date_naive());
        safe.push(SafeUser {
            who,
            products,
            until,
            requested,
            location: loc("teams/people.yaml", safe.len() * 4 + 1),
        });
    }
    // Products in key order, as a loaded policy has them.
    let mut order: Vec<usize> = (0..PRODUCT_GROUPS.len()).collect();
    order.sort_by_key(|&p| PRODUCT_GROUPS[p].0);
    let products = order
        .into_iter()
        .enumerate()
        .map(|(line, p)| {
            let ((key, groups), (inactivity, drift)) = (PRODUCT_GROUPS[p], settings[p]);
            Product {
                key: key.to_string(),
                groups: groups.iter().map(|g| g.to_string()).collect(),
                seats: Some((holders[p] as f64 * 1.02) as u32 + 10),
                inactivity: Some(Duration::days(inactivity)),
                notice: Some(Duration::days(14)),
                grace: Duration::days(2),
                drift,
                eligible_groups: Vec::new(),
                restore_on_login: true,
                location: loc("seatkeeper.yaml", 5 + line * 7),
            }
        })
        .collect();
    let policy = Policy {
        site: live.site.clone(),
        org: live.org_id.clone(),
        products,
        users: safe,
        eligible_groups: vec!["jira-admins-acme".to_string()],
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
        assert_eq!(p1.products.len(), 3);
        assert!(p1.products.iter().all(|p| !p.groups.is_empty()));
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

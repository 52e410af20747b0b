//! `--generate N --seed S`: a realistic synthetic org, deterministic from (N, seed, now).
//!
//! Shape of the org (site `acme.atlassian.net`, domain `acme.test`):
//! - account 0 is the sandbox admin (`admin@acme.test`, the default credentials' account), in
//!   `site-admins` and every product group;
//! - about 0.5 % app accounts (at least two), 10 % JSM portal customers, and among people 3 %
//!   suspended, 2 % deactivated and 3 % closed accounts (closed ones keep stale memberships);
//! - products `jira-software` (two grant groups: `jira-software-users-acme` and
//!   `jira-software-users-contractors`, some people in both), `confluence`
//!   (`confluence-users-acme`) and `jira-servicedesk` (`jira-servicemanagement-users-acme`),
//!   each with a license limit a little above its current seat count;
//! - `employees`, a group synced from an identity provider (read-only);
//! - activity spread over two years: people join the org over the last 730 days, most product
//!   holders were active within 30 days, some within 90, some long ago, a few never; some
//!   non-holders have old activity (seats reclaimed earlier);
//! - events: a login for everyone active in the last 30 days, access requests from a few
//!   non-holders, and group additions for recent joiners.

use super::model::{derived_id, ModelError, Org, ProductSeed, SandboxExtension};
use crate::live::{
    AccountStatus, AccountType, Activity, Event, EventAction, Group, LiveState, User,
    SNAPSHOT_FORMAT_VERSION,
};
use crate::planner::synth::XorShift;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{BTreeMap, HashSet};

/// Parameters of a generated org.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Number of accounts (people, apps and customers).
    pub users: usize,
    /// RNG seed.
    pub seed: u64,
    /// The time the org is generated "as of"; all activity lies before it.
    pub now: DateTime<Utc>,
    /// Email of account 0, the admin the sandbox credentials belong to.
    pub admin_email: String,
    /// Sites, directories, Guard and access paths beyond the default shape.
    pub shape: OrgShape,
}

/// The shape of a generated org beyond its users (`--sites`, `--directories`, `--no-guard`,
/// `--hidden-grants`). The default is one site, one directory, Guard, and every seat held
/// through the product's named grant groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgShape {
    /// Sites: the first (`acme.atlassian.net`) has Jira Software, Confluence and Jira Service
    /// Management; each further one (`acme-2.atlassian.net`, ...) has Jira Work Management
    /// (`jira-core`, group `jira-users-<site>`) for a share of the people.
    pub sites: usize,
    /// Directories: people are spread over them round-robin, each directory after the first
    /// with its own copy of every group (`<group>-dir<N>`, granting the same products).
    pub directories: usize,
    /// Whether the org has Atlassian Guard (the events API needs it).
    pub guard: bool,
    /// Seats held outside the named groups: a legacy group that grants Jira Software
    /// (`jira-software-users-legacy`, which a policy written for the default groups does not
    /// name) and direct role assignments of Jira Software to a few people.
    pub hidden_grants: bool,
}

impl Default for OrgShape {
    fn default() -> Self {
        Self {
            sites: 1,
            directories: 1,
            guard: true,
            hidden_grants: false,
        }
    }
}

/// The legacy group of [`OrgShape::hidden_grants`].
pub const LEGACY_GROUP: &str = "jira-software-users-legacy";

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

/// Generates the org.
pub fn generate(opts: &GenerateOptions) -> Result<Org, ModelError> {
    let mut rng = XorShift::new(opts.seed);
    let now = opts.now;
    let n = opts.users.max(1);
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
            emails.insert(opts.admin_email.to_lowercase());
            users.push(User {
                account_id: id,
                email: Some(opts.admin_email.clone()),
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

    let mut groups = groups;
    let mut ext = SandboxExtension::default();
    for (key, gs) in [
        ("jira-software", vec![JSW_GROUP, JSW_CONTRACTORS_GROUP]),
        ("confluence", vec![CONFLUENCE_GROUP]),
        ("jira-servicedesk", vec![JSM_GROUP]),
    ] {
        ext.products.insert(
            key.to_string(),
            ProductSeed {
                groups: gs.into_iter().map(String::from).collect(),
                ..ProductSeed::default()
            },
        );
    }
    shape_org(opts, &users, &mut groups, &mut ext);
    let state = LiveState {
        format_version: SNAPSHOT_FORMAT_VERSION,
        site: "acme.atlassian.net".to_string(),
        org_id: Some(derived_id(&format!("org:generated:{}", opts.seed))),
        taken_at: now,
        users,
        groups,
        events,
        licenses: BTreeMap::new(),
        events_read: None,
    };
    let mut org = Org::from_seed(state, ext)?;
    org.guard = opts.shape.guard;
    // License limits a little above the current seat counts.
    for p in &mut org.products {
        let headroom = (p.billable / 50).max(2);
        p.limit = Some(p.billable + headroom);
    }
    Ok(org)
}

/// Applies [`OrgShape`] to a generated org (nothing for the default shape, so a default org
/// is the same whatever the shape code does). Deterministic: it draws no random numbers.
fn shape_org(
    opts: &GenerateOptions,
    users: &[User],
    groups: &mut Vec<Group>,
    ext: &mut SandboxExtension,
) {
    let shape = opts.shape;
    let people: Vec<&User> = users
        .iter()
        .filter(|u| u.account_type == AccountType::Atlassian)
        .collect();
    if shape.hidden_grants {
        // Every 40th person is (also) in the legacy group; every 97th holds Jira Software by a
        // direct assignment.
        let legacy: Vec<String> = people
            .iter()
            .skip(1)
            .step_by(40)
            .map(|u| u.account_id.clone())
            .collect();
        groups.push(Group {
            id: derived_id(&format!("group:{LEGACY_GROUP}")),
            name: LEGACY_GROUP.to_string(),
            members: legacy,
            synced: false,
        });
        if let Some(p) = ext.products.get_mut("jira-software") {
            p.groups.push(LEGACY_GROUP.to_string());
            p.direct = people
                .iter()
                .skip(3)
                .step_by(97)
                .map(|u| u.account_id.clone())
                .collect();
        }
    }
    for k in 2..=shape.sites.max(1) {
        let site = format!("acme-{k}.atlassian.net");
        let name = format!("jira-users-acme-{k}");
        let members: Vec<String> = people
            .iter()
            .skip(k)
            .step_by(3 + k)
            .map(|u| u.account_id.clone())
            .collect();
        groups.push(Group {
            id: derived_id(&format!("group:{name}")),
            name: name.clone(),
            members,
            synced: false,
        });
        // One more Jira product per further site (a product key is one product of the org).
        let key = match k {
            2 => "jira-core".to_string(),
            3 => "jira-product-discovery".to_string(),
            _ => format!("jira-core-{k}"),
        };
        ext.products.insert(
            key,
            ProductSeed {
                groups: vec![name],
                site: Some(site),
                ..ProductSeed::default()
            },
        );
    }
    let dirs = shape.directories.max(1);
    if dirs > 1 {
        // Account 0 (the admin) stays in the first directory; the others go round-robin.
        let dir_of = |i: usize| if i == 0 { 0 } else { i % dirs };
        let index: std::collections::HashMap<&str, usize> = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.account_id.as_str(), i))
            .collect();
        let mut seeds: Vec<super::model::DirectorySeed> = (1..dirs)
            .map(|d| super::model::DirectorySeed {
                id: derived_id(&format!("directory:generated:{}:{d}", opts.seed)),
                name: Some(format!("Directory {}", d + 1)),
                users: users
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| dir_of(*i) == d)
                    .map(|(_, u)| u.account_id.clone())
                    .collect(),
                groups: Vec::new(),
            })
            .collect();
        let mut copies = Vec::new();
        for g in groups.iter_mut() {
            for d in 1..dirs {
                let name = format!("{}-dir{}", g.name, d + 1);
                let members: Vec<String> = g
                    .members
                    .iter()
                    .filter(|m| index.get(m.as_str()).is_some_and(|&i| dir_of(i) == d))
                    .cloned()
                    .collect();
                let id = derived_id(&format!("group:{name}"));
                seeds[d - 1].groups.push(id.clone());
                for p in ext.products.values_mut() {
                    if p.groups.contains(&g.name) {
                        p.groups.push(name.clone());
                    }
                }
                copies.push(Group {
                    id,
                    name,
                    members,
                    synced: g.synced,
                });
            }
            g.members
                .retain(|m| index.get(m.as_str()).is_none_or(|&i| dir_of(i) == 0));
        }
        groups.extend(copies);
        ext.directories = seeds;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(n: usize, seed: u64) -> GenerateOptions {
        GenerateOptions {
            users: n,
            seed,
            now: "2026-11-25T08:00:00Z".parse().expect("time"),
            admin_email: "admin@acme.test".into(),
            shape: OrgShape::default(),
        }
    }

    /// The same seed gives the same org in every version and on every platform: the stream
    /// is ours ([`XorShift`]), pinned here by a digest of a generated org.
    #[test]
    fn a_seed_gives_the_same_org_forever() {
        use sha2::Digest;
        let org = generate(&opts(300, 1)).expect("generates");
        let state = org.snapshot("2026-11-25T08:00:00Z".parse().expect("time"));
        let json = serde_json::to_vec(&state).expect("json");
        let digest = hex::encode(&sha2::Sha256::digest(&json)[..8]);
        assert_eq!(digest, "0cc0960c748ecc35", "the generated org changed");
    }

    #[test]
    fn shapes_add_sites_directories_and_hidden_grants() {
        let plain = generate(&opts(600, 3)).expect("generates");
        let shaped = generate(&GenerateOptions {
            shape: OrgShape {
                sites: 3,
                directories: 3,
                guard: false,
                hidden_grants: true,
            },
            ..opts(600, 3)
        })
        .expect("generates");
        assert!(!shaped.guard && plain.guard);
        assert_eq!(shaped.directories.len(), 3);
        assert_eq!(plain.directories.len(), 1);
        // Every person is in one directory, and groups hold only their directory's accounts.
        for g in shaped.groups() {
            for &m in &g.members {
                assert_eq!(shaped.user_directory(m), g.directory, "{}", g.name);
            }
        }
        assert!(shaped
            .group_by_name("jira-software-users-acme-dir2")
            .is_some());
        let jsw = shaped.product_index("jira-software").expect("jsw");
        let p = &shaped.products()[jsw as usize];
        assert!(!p.direct.is_empty());
        assert!(p
            .groups
            .contains(&shaped.group_by_name(LEGACY_GROUP).expect("legacy")));
        let core = shaped.product_index("jira-core").expect("second site");
        assert_eq!(
            shaped.products()[core as usize].site,
            "acme-2.atlassian.net"
        );
        assert_ne!(shaped.products()[core as usize].cloud_id, p.cloud_id);
        assert!(shaped.product_index("jira-product-discovery").is_some());
        // The default shape is the org it always was.
        assert_eq!(
            plain.snapshot(opts(1, 1).now).users,
            shaped.snapshot(opts(1, 1).now).users
        );
        let back = Org::parse_seed(
            &String::from_utf8(shaped.to_state_json(opts(1, 1).now).expect("json")).expect("utf8"),
        )
        .expect("parses")
        .expect("valid");
        assert_eq!(back.directories, shaped.directories);
        assert_eq!(
            back.products()[jsw as usize].direct,
            shaped.products()[jsw as usize].direct
        );
    }

    #[test]
    fn deterministic_and_realistic() {
        let a = generate(&opts(2000, 7)).expect("generates");
        let b = generate(&opts(2000, 7)).expect("generates");
        let now = opts(1, 1).now;
        assert_eq!(a.snapshot(now), b.snapshot(now));
        let c = generate(&opts(2000, 8)).expect("generates");
        assert_ne!(a.snapshot(now), c.snapshot(now));
        assert_eq!(a.users.len(), 2000);
        let count = |t: AccountType| a.users.iter().filter(|u| u.account_type == t).count();
        assert!(count(AccountType::App) >= 2);
        assert!(count(AccountType::Customer) > 100);
        for s in [
            AccountStatus::Suspended,
            AccountStatus::Closed,
            AccountStatus::Deactivated,
        ] {
            assert!(a.users.iter().any(|u| u.status == s), "{s:?}");
        }
        let jsw = a.product_index("jira-software").expect("product");
        assert_eq!(a.products[jsw as usize].groups.len(), 2);
        let g1 = a.group_by_name(JSW_GROUP).expect("group");
        let g2 = a.group_by_name(JSW_CONTRACTORS_GROUP).expect("group");
        assert!(
            a.group(g1).members.iter().any(|u| a.is_member(g2, *u)),
            "someone in both"
        );
        assert!(
            a.group(a.group_by_name(SYNCED_GROUP).expect("group"))
                .synced
        );
        assert_eq!(a.user_by_email("admin@acme.test"), Some(0));
        assert!(!a.events.is_empty());
    }
}

//! `--generate N --seed S`: the org of [`crate::planner::synth::generate_state`] (the one
//! synthetic-org generator, shared with the tests and benchmarks), deterministic from (N, seed,
//! now), with the sandbox's side of it: which groups grant which product, license limits a
//! little above each product's seat count, and the wider shapes of [`OrgShape`].

use super::model::{derived_id, ModelError, Org, ProductSeed, SandboxExtension};
use crate::live::{AccountType, Group, User};
use crate::planner::synth::generate_state;
pub use crate::planner::synth::{
    CONFLUENCE_GROUP, JSM_GROUP, JSW_CONTRACTORS_GROUP, JSW_GROUP, PRODUCT_GROUPS, SYNCED_GROUP,
};
use chrono::{DateTime, Utc};

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

/// Generates the org.
pub fn generate(opts: &GenerateOptions) -> Result<Org, ModelError> {
    let mut state = generate_state(opts.users, opts.seed, opts.now, &opts.admin_email);
    let mut ext = SandboxExtension::default();
    for (key, gs) in PRODUCT_GROUPS {
        ext.products.insert(
            key.to_string(),
            ProductSeed {
                groups: gs.iter().map(|g| g.to_string()).collect(),
                ..ProductSeed::default()
            },
        );
    }
    shape_org(opts, &state.users, &mut state.groups, &mut ext);
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
    use crate::live::AccountStatus;

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

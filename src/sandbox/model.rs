//! The sandbox's in-memory org: users, groups, products (which groups grant them, license
//! limits, seat counts) and events. It is the single source of truth behind every read path, so
//! a write through either API shows up in Jira group pages, admin searches, `applicationrole`
//! seat counts, the events stream and `/__sandbox/state` at once.
//!
//! Seed and state files are the snapshot format ([`LiveState`]) with one optional extra
//! top-level key, `sandbox`, holding what a snapshot does not carry ([`SandboxExtension`]):
//! which groups grant which product, the directory id and the cloud id. Without it, grant
//! groups are inferred from Atlassian's default group names (see [`infer_product_groups`]).

use crate::live::{
    AccountStatus, AccountType, Event, EventAction, Group, LiveState, User, SNAPSHOT_FORMAT_VERSION,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::OnceLock;

/// What a snapshot does not carry but the sandbox needs; stored under the `sandbox` key of seed
/// and state files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxExtension {
    /// The org directory id (admin API `directoryId`); derived from the org id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_id: Option<String>,
    /// The site's cloud id, used in product ARIs; derived from the site when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_id: Option<String>,
    /// Product key → the groups (names or ids) that grant it. Products missing here are
    /// inferred from group names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub products: BTreeMap<String, ProductSeed>,
    /// Whether the org has Atlassian Guard, which the events API needs (default: yes). `false`
    /// makes the events stream answer 403, as for an org without Guard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<bool>,
    /// More directories than the first (`directory_id`): each names the accounts and groups in
    /// it; every other account and group is in the first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directories: Vec<DirectorySeed>,
    /// Cloud ids of the org's other sites, by host name (derived from the name when absent).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sites: BTreeMap<String, String>,
}

/// One product's grant groups in a seed file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSeed {
    /// Group names or ids that grant the product.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Accounts holding the product by a direct role assignment, without any group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub direct: Vec<String>,
    /// The site the product is on (a host name); the org's `site` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

/// A directory after the first, with its accounts and groups (ids).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySeed {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// A directory of the org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRec {
    pub id: String,
    pub name: String,
}

/// Why a seed could not become an org.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid org description: {message}")]
    Parse { path: String, message: String },
    #[error("invalid org: {0}")]
    Invalid(String),
}

/// A group in the model. Member lists are kept sorted by user index (seed order), which is the
/// order group pages list them in.
#[derive(Debug, Clone)]
pub struct GroupRec {
    pub id: String,
    pub name: String,
    pub synced: bool,
    /// Every member, sorted.
    pub members: Vec<u32>,
    /// Members whose account is active (what `group/member` shows by default), sorted.
    pub active_members: Vec<u32>,
    /// Products this group grants.
    pub products: Vec<u32>,
    /// The directory the group is in (index into the org's directories).
    pub directory: u16,
    /// Deleted through the API: kept as a tombstone so group indices stay stable, but absent
    /// from every lookup, listing and snapshot.
    pub deleted: bool,
}

/// A product with its grant groups and seat accounting.
#[derive(Debug, Clone)]
pub struct ProductRec {
    pub key: String,
    pub name: String,
    pub limit: Option<u32>,
    /// Grant groups (indices into the groups).
    pub groups: Vec<u32>,
    /// Per user: how many grant groups of this product the user is in, plus one for a direct
    /// role assignment.
    grants: Vec<u16>,
    /// Users holding the product by a direct role assignment (sorted).
    pub direct: Vec<u32>,
    /// The cloud id of the site the product is on.
    pub cloud_id: String,
    /// The site's host name.
    pub site: String,
    /// Users counting against the license: active `atlassian` accounts holding the product.
    pub billable: u32,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRec {
    pub id: u64,
    pub time: DateTime<Utc>,
    pub action: EventAction,
    pub account_id: String,
    pub product: Option<String>,
    pub group_id: Option<String>,
    /// Who did it: an account id for Jira writes, `None` for the admin API key or the user.
    pub actor: Option<String>,
}

/// Result of a membership write that changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The membership changed.
    Applied,
    /// Add of an existing member, or remove of a non-member. Nothing changed.
    Duplicate,
}

/// Why a membership write was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The group is synced from an identity provider and read-only.
    Synced { group: String },
    /// The account is closed and cannot be granted anything.
    ClosedAccount { account_id: String },
    /// Adding would exceed the license of `product`.
    LicenseLimit { product: String, limit: u32 },
}

/// Writes a JSON array whose items are rendered once and cached in `parts`.
fn write_cached(
    out: &mut Vec<u8>,
    parts: &[OnceLock<Box<str>>],
    render: impl Fn(usize) -> Result<String, serde_json::Error>,
) -> Result<(), serde_json::Error> {
    out.push(b'[');
    for (i, cell) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let text = match cell.get() {
            Some(t) => t,
            None => {
                let t = render(i)?;
                cell.get_or_init(|| t.into_boxed_str())
            }
        };
        out.extend_from_slice(text.as_bytes());
    }
    out.push(b']');
    Ok(())
}

#[derive(Serialize)]
struct GroupOut<'a> {
    id: &'a str,
    name: &'a str,
    members: Members<'a>,
    synced: bool,
}

struct Members<'a> {
    users: &'a [User],
    members: &'a [u32],
}

impl Serialize for Members<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.members
                .iter()
                .filter_map(|&u| self.users.get(u as usize).map(|u| u.account_id.as_str())),
        )
    }
}

#[derive(Serialize)]
struct EventOut<'a> {
    time: DateTime<Utc>,
    action: EventAction,
    account_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    product: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<&'a str>,
}

/// The in-memory org.
#[derive(Debug, Clone)]
pub struct Org {
    pub site: String,
    pub org_id: String,
    /// The first directory's id (every account and group a seed does not place elsewhere).
    pub directory_id: String,
    /// The cloud id of the org's `site`.
    pub cloud_id: String,
    /// Whether the org has Atlassian Guard: without it the events stream answers 403.
    pub guard: bool,
    /// The directories, the first being `directory_id`.
    pub directories: Vec<DirectoryRec>,
    /// Per user: the directory the account is in.
    pub(crate) user_dir: Vec<u16>,
    /// Other sites' cloud ids by host name, as seeded.
    sites: BTreeMap<String, String>,
    pub(crate) users: Vec<User>,
    pub(crate) groups: Vec<GroupRec>,
    pub(crate) products: Vec<ProductRec>,
    /// Events sorted by (time, id).
    pub(crate) events: Vec<EventRec>,
    user_idx: HashMap<String, u32>,
    email_idx: HashMap<String, u32>,
    group_by_id: HashMap<String, u32>,
    group_by_name: HashMap<String, u32>,
    /// Group indices sorted by lowercase name.
    pub groups_by_name_order: Vec<u32>,
    next_event_id: u64,
    /// Bumped on every change; used to coalesce state-file saves.
    pub(crate) version: u64,
    /// State-file JSON of each user, filled on the first save (users rarely change).
    user_json: Vec<OnceLock<Box<str>>>,
    /// State-file JSON of each event, parallel to `events`.
    event_json: Vec<OnceLock<Box<str>>>,
    /// User indices by nickname (the first word of the name, lowercased), then index: the
    /// order of a users search sorted by `nick_name`. Names never change, so it is built once.
    nick_order: OnceLock<Vec<u32>>,
}

/// Known product keys, their display names, and the prefixes of their default group names.
const KNOWN_PRODUCTS: &[(&str, &str, &[&str])] = &[
    ("jira-software", "Jira Software", &["jira-software-users"]),
    (
        "jira-servicedesk",
        "Jira Service Management",
        &["jira-servicedesk-users", "jira-servicemanagement-users"],
    ),
    (
        "jira-core",
        "Jira Work Management",
        &["jira-core-users", "jira-users"],
    ),
    (
        "jira-product-discovery",
        "Jira Product Discovery",
        &["jira-product-discovery-users"],
    ),
    ("confluence", "Confluence", &["confluence-users"]),
];

/// The display name of a product key.
pub fn product_name(key: &str) -> String {
    KNOWN_PRODUCTS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, n, _)| n.to_string())
        .unwrap_or_else(|| key.to_string())
}

fn name_has_prefix(name: &str, prefix: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == prefix
        || name
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('-'))
}

/// Infers which groups grant `product` from Atlassian's default group names: a group grants
/// `jira-software` when its name is `jira-software-users` or starts with `jira-software-users-`;
/// likewise `confluence-users`, `jira-servicedesk-users` / `jira-servicemanagement-users`,
/// `jira-core-users` / `jira-users`, `jira-product-discovery-users`, and `<key>-users` for any
/// other product key.
pub fn infer_product_groups<'a>(
    product: &str,
    groups: impl Iterator<Item = &'a str>,
) -> Vec<&'a str> {
    let own = format!("{product}-users");
    let prefixes: Vec<&str> = KNOWN_PRODUCTS
        .iter()
        .find(|(k, _, _)| *k == product)
        .map(|(_, _, p)| p.to_vec())
        .unwrap_or_else(|| vec![own.as_str()]);
    groups
        .filter(|g| prefixes.iter().any(|p| name_has_prefix(g, p)))
        .collect()
}

pub use crate::planner::synth::derived_id;

impl Org {
    /// Builds the model from a snapshot plus the sandbox extension. Rejects duplicate ids and
    /// members that name unknown accounts.
    pub fn from_seed(state: LiveState, ext: SandboxExtension) -> Result<Self, ModelError> {
        let LiveState {
            site,
            org_id,
            users,
            groups,
            events,
            licenses,
            ..
        } = state;
        let org_id = org_id.unwrap_or_else(|| derived_id(&format!("org:{site}")));
        let directory_id = ext
            .directory_id
            .clone()
            .unwrap_or_else(|| derived_id(&format!("directory:{org_id}")));
        let cloud_id = ext
            .cloud_id
            .clone()
            .unwrap_or_else(|| derived_id(&format!("cloud:{site}")));

        let mut user_idx = HashMap::with_capacity(users.len());
        let mut email_idx = HashMap::with_capacity(users.len());
        for (i, u) in users.iter().enumerate() {
            let i = i as u32;
            if user_idx.insert(u.account_id.clone(), i).is_some() {
                return Err(ModelError::Invalid(format!(
                    "account id `{}` appears twice in users",
                    u.account_id
                )));
            }
            if let Some(e) = &u.email {
                email_idx.entry(e.to_lowercase()).or_insert(i);
            }
        }
        let mut recs = Vec::with_capacity(groups.len());
        let mut group_by_id = HashMap::new();
        let mut group_by_name = HashMap::new();
        for (
            gi,
            Group {
                id,
                name,
                members,
                synced,
            },
        ) in groups.into_iter().enumerate()
        {
            let gi = gi as u32;
            if group_by_id.insert(id.clone(), gi).is_some() {
                return Err(ModelError::Invalid(format!(
                    "group id `{id}` appears twice"
                )));
            }
            if group_by_name.insert(name.to_lowercase(), gi).is_some() {
                return Err(ModelError::Invalid(format!(
                    "group name `{name}` appears twice"
                )));
            }
            let mut set = Vec::with_capacity(members.len());
            for m in &members {
                let Some(&ui) = user_idx.get(m) else {
                    return Err(ModelError::Invalid(format!(
                        "group `{name}` lists member `{m}`, which is not in users"
                    )));
                };
                set.push(ui);
            }
            set.sort_unstable();
            set.dedup();
            let active_members = set
                .iter()
                .copied()
                .filter(|&u| users[u as usize].status == AccountStatus::Active)
                .collect();
            recs.push(GroupRec {
                id,
                name,
                synced,
                members: set,
                active_members,
                products: Vec::new(),
                directory: 0,
                deleted: false,
            });
        }
        let mut groups_by_name_order: Vec<u32> = (0..recs.len() as u32).collect();
        groups_by_name_order.sort_by_key(|&g| recs[g as usize].name.to_lowercase());

        // Directories: the first, then the seed's others with their accounts and groups.
        let mut directories = vec![DirectoryRec {
            id: directory_id.clone(),
            name: "Primary Directory".to_string(),
        }];
        let mut user_dir = vec![0u16; users.len()];
        for (d, seed) in ext.directories.iter().enumerate() {
            let di = u16::try_from(d + 1)
                .map_err(|_| ModelError::Invalid("too many directories".into()))?;
            if directories.iter().any(|x| x.id == seed.id) {
                return Err(ModelError::Invalid(format!(
                    "directory id `{}` appears twice",
                    seed.id
                )));
            }
            directories.push(DirectoryRec {
                id: seed.id.clone(),
                name: seed
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("Directory {}", d + 2)),
            });
            for a in &seed.users {
                let &u = user_idx.get(a).ok_or_else(|| {
                    ModelError::Invalid(format!(
                        "directory `{}` lists account `{a}`, which is not in users",
                        seed.id
                    ))
                })?;
                user_dir[u as usize] = di;
            }
            for g in &seed.groups {
                let &gi = group_by_id.get(g).ok_or_else(|| {
                    ModelError::Invalid(format!(
                        "directory `{}` lists group `{g}`, which is not in groups",
                        seed.id
                    ))
                })?;
                recs[gi as usize].directory = di;
            }
        }
        for g in &recs {
            if let Some(&m) = g
                .members
                .iter()
                .find(|&&m| user_dir[m as usize] != g.directory)
            {
                return Err(ModelError::Invalid(format!(
                    "group `{}` lists `{}`, an account of another directory (a group's members \
                     are in its directory)",
                    g.name, users[m as usize].account_id
                )));
            }
        }
        let site_cloud = |host: &Option<String>| match host {
            None => (site.clone(), cloud_id.clone()),
            Some(h) if h.eq_ignore_ascii_case(&site) => (site.clone(), cloud_id.clone()),
            Some(h) => (
                h.clone(),
                ext.sites
                    .get(h)
                    .cloned()
                    .unwrap_or_else(|| derived_id(&format!("cloud:{h}"))),
            ),
        };

        // Products: explicit ones, license keys, and any known product whose groups exist.
        let mut keys: Vec<String> = ext.products.keys().cloned().collect();
        keys.extend(licenses.keys().cloned());
        for (k, _, _) in KNOWN_PRODUCTS {
            if !infer_product_groups(k, recs.iter().map(|g| g.name.as_str())).is_empty() {
                keys.push((*k).to_string());
            }
        }
        keys.sort();
        keys.dedup();
        let mut products = Vec::new();
        for key in keys {
            let gids: Vec<u32> = match ext.products.get(&key) {
                Some(seed) => {
                    let mut out = Vec::new();
                    for g in &seed.groups {
                        let gi = group_by_id
                            .get(g)
                            .or_else(|| group_by_name.get(&g.to_lowercase()))
                            .copied()
                            .ok_or_else(|| {
                                ModelError::Invalid(format!(
                                    "product `{key}` names group `{g}`, which is not in groups"
                                ))
                            })?;
                        out.push(gi);
                    }
                    out
                }
                None => {
                    let names = infer_product_groups(&key, recs.iter().map(|g| g.name.as_str()));
                    names
                        .iter()
                        .filter_map(|n| group_by_name.get(&n.to_lowercase()).copied())
                        .collect()
                }
            };
            let pi = products.len() as u32;
            for &g in &gids {
                recs[g as usize].products.push(pi);
            }
            let seed = ext.products.get(&key);
            let mut direct = Vec::new();
            for a in seed.map(|s| s.direct.as_slice()).unwrap_or_default() {
                let &u = user_idx.get(a).ok_or_else(|| {
                    ModelError::Invalid(format!(
                        "product `{key}` is assigned directly to `{a}`, which is not in users"
                    ))
                })?;
                direct.push(u);
            }
            direct.sort_unstable();
            direct.dedup();
            let (site_name, cloud) = site_cloud(&seed.and_then(|s| s.site.clone()));
            products.push(ProductRec {
                name: product_name(&key),
                limit: licenses.get(&key).map(|l| l.limit),
                key,
                groups: gids,
                grants: vec![0; users.len()],
                direct,
                cloud_id: cloud,
                site: site_name,
                billable: 0,
            });
        }
        for p in &mut products {
            for &g in &p.groups {
                for &u in &recs[g as usize].members {
                    p.grants[u as usize] = p.grants[u as usize].saturating_add(1);
                }
            }
            for &u in &p.direct {
                p.grants[u as usize] = p.grants[u as usize].saturating_add(1);
            }
            p.billable = p
                .grants
                .iter()
                .enumerate()
                .filter(|(u, &n)| n > 0 && is_billable(&users[*u]))
                .count() as u32;
        }

        let mut evs: Vec<EventRec> = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| EventRec {
                id: i as u64 + 1,
                time: e.time,
                action: e.action,
                account_id: e.account_id,
                product: e.product,
                group_id: e.group_id,
                actor: None,
            })
            .collect();
        evs.sort_by_key(|e| (e.time, e.id));
        let next_event_id = evs.len() as u64 + 1;
        let (n_users, n_events) = (users.len(), evs.len());

        Ok(Self {
            site,
            org_id,
            directory_id,
            cloud_id,
            guard: ext.guard.unwrap_or(true),
            directories,
            user_dir,
            sites: ext.sites.clone(),
            users,
            groups: recs,
            products,
            events: evs,
            user_idx,
            email_idx,
            group_by_id,
            group_by_name,
            groups_by_name_order,
            next_event_id,
            version: 0,
            user_json: (0..n_users).map(|_| OnceLock::new()).collect(),
            event_json: (0..n_events).map(|_| OnceLock::new()).collect(),
            nick_order: OnceLock::new(),
        })
    }

    /// Builds the model from a plain snapshot.
    pub fn from_live(state: LiveState) -> Result<Self, ModelError> {
        Self::from_seed(state, SandboxExtension::default())
    }

    /// Reads a seed or state file: the snapshot format (JSON or YAML) plus an optional `sandbox`
    /// key. `format_version` and `taken_at` may be left out of hand-written files.
    pub fn load_file(path: &Path) -> Result<Self, ModelError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Read {
            path: display.clone(),
            source,
        })?;
        Self::parse_seed(&text).map_err(|message| ModelError::Parse {
            path: display,
            message,
        })?
    }

    /// Parses seed text (JSON when it starts with `{`, YAML otherwise).
    pub fn parse_seed(text: &str) -> Result<Result<Self, ModelError>, String> {
        let mut value: serde_json::Value = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| e.to_string())?
        } else {
            crate::yaml::from_yaml("seed", text).map_err(|d| {
                d.iter()
                    .map(|d| format!("line {}: {}", d.location.line, d.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            })?
        };
        let Some(obj) = value.as_object_mut() else {
            return Err("the top level must be a mapping".to_string());
        };
        let ext = match obj.remove("sandbox") {
            Some(v) => serde_json::from_value(v).map_err(|e| format!("in `sandbox`: {e}"))?,
            None => SandboxExtension::default(),
        };
        obj.entry("format_version")
            .or_insert(serde_json::Value::from(SNAPSHOT_FORMAT_VERSION));
        obj.entry("taken_at")
            .or_insert(serde_json::Value::from(Utc::now().to_rfc3339()));
        let state: LiveState = serde_json::from_value(value).map_err(|e| e.to_string())?;
        if state.format_version != SNAPSHOT_FORMAT_VERSION {
            return Err(format!(
                "format_version {} is not supported (this build reads {SNAPSHOT_FORMAT_VERSION})",
                state.format_version
            ));
        }
        Ok(Self::from_seed(state, ext))
    }

    /// The snapshot of the current state (`GET /__sandbox/state`).
    pub fn snapshot(&self, now: DateTime<Utc>) -> LiveState {
        let licenses = self
            .products
            .iter()
            .filter_map(|p| {
                p.limit
                    .map(|limit| (p.key.clone(), crate::live::License { limit }))
            })
            .collect();
        LiveState {
            format_version: SNAPSHOT_FORMAT_VERSION,
            site: self.site.clone(),
            org_id: Some(self.org_id.clone()),
            taken_at: now,
            users: self.users.clone(),
            groups: self
                .groups
                .iter()
                .filter(|g| !g.deleted)
                .map(|g| Group {
                    id: g.id.clone(),
                    name: g.name.clone(),
                    members: g
                        .members
                        .iter()
                        .map(|&u| self.users[u as usize].account_id.clone())
                        .collect(),
                    synced: g.synced,
                })
                .collect(),
            events: self
                .events
                .iter()
                .map(|e| Event {
                    time: e.time,
                    action: e.action,
                    account_id: e.account_id.clone(),
                    product: e.product.clone(),
                    group_id: e.group_id.clone(),
                })
                .collect(),
            licenses,
            events_read: None,
        }
    }

    /// The state file form: the snapshot plus the `sandbox` extension, as JSON. It is written
    /// after every write, so users and events are rendered once and cached, and the document
    /// is assembled from the cached parts (same field names and order as [`LiveState`]).
    pub fn to_state_json(&self, now: DateTime<Utc>) -> Result<Vec<u8>, serde_json::Error> {
        // Every product with its current grant groups (by id), so a reload needs no inference.
        let products: BTreeMap<String, ProductSeed> = self
            .products
            .iter()
            .map(|p| {
                let groups = p
                    .groups
                    .iter()
                    .map(|&g| self.groups[g as usize].id.clone())
                    .collect();
                let direct = p
                    .direct
                    .iter()
                    .map(|&u| self.users[u as usize].account_id.clone())
                    .collect();
                let site = (p.site != self.site).then(|| p.site.clone());
                (
                    p.key.clone(),
                    ProductSeed {
                        groups,
                        direct,
                        site,
                    },
                )
            })
            .collect();
        let directories = self
            .directories
            .iter()
            .enumerate()
            .skip(1)
            .map(|(d, rec)| DirectorySeed {
                id: rec.id.clone(),
                name: Some(rec.name.clone()),
                users: (0..self.users.len())
                    .filter(|&u| usize::from(self.user_dir[u]) == d)
                    .map(|u| self.users[u].account_id.clone())
                    .collect(),
                groups: self
                    .groups
                    .iter()
                    .filter(|g| !g.deleted && usize::from(g.directory) == d)
                    .map(|g| g.id.clone())
                    .collect(),
            })
            .collect();
        let mut sites = self.sites.clone();
        for p in &self.products {
            if p.site != self.site {
                sites.insert(p.site.clone(), p.cloud_id.clone());
            }
        }
        let ext = SandboxExtension {
            directory_id: Some(self.directory_id.clone()),
            cloud_id: Some(self.cloud_id.clone()),
            products,
            guard: (!self.guard).then_some(false),
            directories,
            sites,
        };
        let licenses: BTreeMap<&str, crate::live::License> = self
            .products
            .iter()
            .filter_map(|p| {
                p.limit
                    .map(|limit| (p.key.as_str(), crate::live::License { limit }))
            })
            .collect();
        let groups: Vec<GroupOut<'_>> = self
            .groups
            .iter()
            .filter(|g| !g.deleted)
            .map(|g| GroupOut {
                id: &g.id,
                name: &g.name,
                members: Members {
                    users: &self.users,
                    members: &g.members,
                },
                synced: g.synced,
            })
            .collect();

        let mut out: Vec<u8> = Vec::with_capacity(64 * self.users.len() + 4096);
        out.extend_from_slice(b"{\"format_version\":");
        serde_json::to_writer(&mut out, &SNAPSHOT_FORMAT_VERSION)?;
        out.extend_from_slice(b",\"site\":");
        serde_json::to_writer(&mut out, &self.site)?;
        out.extend_from_slice(b",\"org_id\":");
        serde_json::to_writer(&mut out, &self.org_id)?;
        out.extend_from_slice(b",\"taken_at\":");
        serde_json::to_writer(&mut out, &now)?;
        out.extend_from_slice(b",\"users\":");
        write_cached(&mut out, &self.user_json, |i| {
            serde_json::to_string(&self.users[i])
        })?;
        out.extend_from_slice(b",\"groups\":");
        serde_json::to_writer(&mut out, &groups)?;
        out.extend_from_slice(b",\"events\":");
        write_cached(&mut out, &self.event_json, |i| {
            let e = &self.events[i];
            serde_json::to_string(&EventOut {
                time: e.time,
                action: e.action,
                account_id: &e.account_id,
                product: e.product.as_deref(),
                group_id: e.group_id.as_deref(),
            })
        })?;
        if !licenses.is_empty() {
            out.extend_from_slice(b",\"licenses\":");
            serde_json::to_writer(&mut out, &licenses)?;
        }
        out.extend_from_slice(b",\"sandbox\":");
        serde_json::to_writer(&mut out, &ext)?;
        out.push(b'}');
        Ok(out)
    }

    /// Every account, in seed order (the order of group pages and searches).
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// Every group slot, in seed order; skip the ones marked `deleted`.
    pub fn groups(&self) -> &[GroupRec] {
        &self.groups
    }

    /// Creates an empty group that grants nothing; `None` when the name is taken.
    pub fn create_group(&mut self, name: &str) -> Option<u32> {
        let key = name.to_lowercase();
        if self.group_by_name.contains_key(&key) {
            return None;
        }
        let g = self.groups.len() as u32;
        let id = derived_id(&format!("group:{}:{name}:{g}", self.org_id));
        self.groups.push(GroupRec {
            id: id.clone(),
            name: name.to_string(),
            synced: false,
            members: Vec::new(),
            active_members: Vec::new(),
            products: Vec::new(),
            directory: 0,
            deleted: false,
        });
        self.group_by_id.insert(id, g);
        self.group_by_name.insert(key, g);
        let groups = &self.groups;
        let pos = self
            .groups_by_name_order
            .partition_point(|&o| groups[o as usize].name.to_lowercase() < name.to_lowercase());
        self.groups_by_name_order.insert(pos, g);
        self.version += 1;
        Some(g)
    }

    /// Deletes a group: its members lose what it granted. Synced groups refuse.
    pub fn delete_group(&mut self, g: u32) -> Result<(), WriteError> {
        let group = &self.groups[g as usize];
        if group.synced {
            return Err(WriteError::Synced {
                group: group.name.clone(),
            });
        }
        let members = group.members.clone();
        let products = group.products.clone();
        for p in products {
            let prod = &mut self.products[p as usize];
            prod.groups.retain(|&x| x != g);
            for &u in &members {
                let n = &mut prod.grants[u as usize];
                *n = n.saturating_sub(1);
                if *n == 0 && is_billable(&self.users[u as usize]) {
                    prod.billable = prod.billable.saturating_sub(1);
                }
            }
        }
        let group = &mut self.groups[g as usize];
        group.deleted = true;
        group.members.clear();
        group.active_members.clear();
        group.products.clear();
        let (id, name) = (group.id.clone(), group.name.to_lowercase());
        self.group_by_id.remove(&id);
        self.group_by_name.remove(&name);
        self.groups_by_name_order.retain(|&x| x != g);
        self.version += 1;
        Ok(())
    }

    /// Products with their grant groups, limits and seat counts, by key.
    pub fn products(&self) -> &[ProductRec] {
        &self.products
    }

    /// Events sorted by time.
    pub fn events(&self) -> &[EventRec] {
        &self.events
    }

    /// User index by account id.
    pub fn user_index(&self, account_id: &str) -> Option<u32> {
        self.user_idx.get(account_id).copied()
    }

    /// User index by email (case-insensitive).
    pub fn user_by_email(&self, email: &str) -> Option<u32> {
        self.email_idx.get(&email.to_lowercase()).copied()
    }

    /// The user at an index.
    pub fn user(&self, u: u32) -> &User {
        &self.users[u as usize]
    }

    /// Group index by id.
    pub fn group_index(&self, id: &str) -> Option<u32> {
        self.group_by_id.get(id).copied()
    }

    /// Group index by name (case-insensitive, as Jira matches group names).
    pub fn group_by_name(&self, name: &str) -> Option<u32> {
        self.group_by_name.get(&name.to_lowercase()).copied()
    }

    /// The group at an index.
    pub fn group(&self, g: u32) -> &GroupRec {
        &self.groups[g as usize]
    }

    /// Whether `u` is a member of `g`.
    pub fn is_member(&self, g: u32, u: u32) -> bool {
        self.groups[g as usize].members.binary_search(&u).is_ok()
    }

    /// Groups `u` belongs to, in group-name order.
    pub fn groups_of(&self, u: u32) -> Vec<u32> {
        self.groups_by_name_order
            .iter()
            .copied()
            .filter(|&g| self.is_member(g, u))
            .collect()
    }

    /// Product index by key.
    pub fn product_index(&self, key: &str) -> Option<u32> {
        self.products
            .iter()
            .position(|p| p.key == key)
            .map(|p| p as u32)
    }

    /// Whether `u` holds product `p` (is in one of its grant groups, or assigned it directly).
    pub fn holds(&self, p: u32, u: u32) -> bool {
        self.products[p as usize].grants[u as usize] > 0
    }

    /// Every user index in nickname order (see the `nick_order` field).
    pub fn nick_order(&self) -> &[u32] {
        self.nick_order.get_or_init(|| {
            let mut order: Vec<u32> = (0..self.users.len() as u32).collect();
            order.sort_by_cached_key(|&u| {
                let nick = self.users[u as usize]
                    .name
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_lowercase();
                (nick, u)
            });
            order
        })
    }

    /// Whether `u` holds product `p` by a direct role assignment.
    pub fn holds_directly(&self, p: u32, u: u32) -> bool {
        self.products[p as usize].direct.binary_search(&u).is_ok()
    }

    /// Whether `u` is in a grant group of product `p`.
    pub fn holds_through_group(&self, p: u32, u: u32) -> bool {
        let n = self.products[p as usize].grants[u as usize];
        n > u16::from(self.holds_directly(p, u))
    }

    /// The directory index of account `u`.
    pub fn user_directory(&self, u: u32) -> u16 {
        self.user_dir[u as usize]
    }

    /// The directory index of a directory id; `None` for `-` and unknown ids alike.
    pub fn directory_index(&self, id: &str) -> Option<u16> {
        self.directories
            .iter()
            .position(|d| d.id == id)
            .and_then(|d| u16::try_from(d).ok())
    }

    /// Adds `u` to `g` at `now`, recording a `user_added_to_group` event.
    pub fn add_member(
        &mut self,
        g: u32,
        u: u32,
        now: DateTime<Utc>,
        actor: Option<String>,
    ) -> Result<WriteOutcome, WriteError> {
        let group = &self.groups[g as usize];
        if group.synced {
            return Err(WriteError::Synced {
                group: group.name.clone(),
            });
        }
        if group.members.binary_search(&u).is_ok() {
            return Ok(WriteOutcome::Duplicate);
        }
        let user = &self.users[u as usize];
        if user.status == AccountStatus::Closed {
            return Err(WriteError::ClosedAccount {
                account_id: user.account_id.clone(),
            });
        }
        if is_billable(user) {
            for &p in &group.products {
                let prod = &self.products[p as usize];
                if let Some(limit) = prod.limit {
                    if prod.grants[u as usize] == 0 && prod.billable >= limit {
                        return Err(WriteError::LicenseLimit {
                            product: prod.key.clone(),
                            limit,
                        });
                    }
                }
            }
        }
        let billable = is_billable(user);
        let active = user.status == AccountStatus::Active;
        let group = &mut self.groups[g as usize];
        if let Err(pos) = group.members.binary_search(&u) {
            group.members.insert(pos, u);
        }
        if active {
            if let Err(pos) = group.active_members.binary_search(&u) {
                group.active_members.insert(pos, u);
            }
        }
        let group_id = group.id.clone();
        for &p in &group.products.clone() {
            let prod = &mut self.products[p as usize];
            let n = &mut prod.grants[u as usize];
            if *n == 0 && billable {
                prod.billable += 1;
            }
            *n = n.saturating_add(1);
        }
        let account_id = self.users[u as usize].account_id.clone();
        self.push_event(EventRec {
            id: 0,
            time: now,
            action: EventAction::UserAddedToGroup,
            account_id,
            product: None,
            group_id: Some(group_id),
            actor,
        });
        Ok(WriteOutcome::Applied)
    }

    /// Removes `u` from `g` at `now`, recording a `user_removed_from_group` event.
    pub fn remove_member(
        &mut self,
        g: u32,
        u: u32,
        now: DateTime<Utc>,
        actor: Option<String>,
    ) -> Result<WriteOutcome, WriteError> {
        let group = &mut self.groups[g as usize];
        if group.synced {
            return Err(WriteError::Synced {
                group: group.name.clone(),
            });
        }
        let Ok(pos) = group.members.binary_search(&u) else {
            return Ok(WriteOutcome::Duplicate);
        };
        group.members.remove(pos);
        if let Ok(pos) = group.active_members.binary_search(&u) {
            group.active_members.remove(pos);
        }
        let group_id = group.id.clone();
        let billable = is_billable(&self.users[u as usize]);
        for &p in &self.groups[g as usize].products.clone() {
            let prod = &mut self.products[p as usize];
            let n = &mut prod.grants[u as usize];
            *n = n.saturating_sub(1);
            if *n == 0 && billable {
                prod.billable = prod.billable.saturating_sub(1);
            }
        }
        let account_id = self.users[u as usize].account_id.clone();
        self.push_event(EventRec {
            id: 0,
            time: now,
            action: EventAction::UserRemovedFromGroup,
            account_id,
            product: None,
            group_id: Some(group_id),
            actor,
        });
        Ok(WriteOutcome::Applied)
    }

    /// Records an event (a login or an access request injected through the control API). An
    /// event never moves a last-active time: a login is an event of the account, not activity
    /// on a product ([`Org::record_activity`] is).
    pub fn inject_event(&mut self, mut event: EventRec) -> EventRec {
        event.id = 0;
        self.push_event(event)
    }

    /// Records activity of user `u` on `product` at `at`, as Atlassian's last-active dates do:
    /// the latest time wins, so an earlier time leaves a later one in place. Returns the
    /// last-active time now stored.
    pub fn record_activity(&mut self, u: u32, product: &str, at: DateTime<Utc>) -> DateTime<Utc> {
        let user = &mut self.users[u as usize];
        if user.last_active.get(product).is_none_or(|&cur| cur < at) {
            user.last_active.insert(product, at);
            self.user_json[u as usize] = OnceLock::new();
            self.version += 1;
        }
        self.users[u as usize]
            .last_active
            .get(product)
            .copied()
            .unwrap_or(at)
    }

    fn push_event(&mut self, mut event: EventRec) -> EventRec {
        event.id = self.next_event_id;
        self.next_event_id += 1;
        let pos = self
            .events
            .partition_point(|e| (e.time, e.id) <= (event.time, event.id));
        self.events.insert(pos, event.clone());
        self.event_json.insert(pos, OnceLock::new());
        self.version += 1;
        event
    }

    /// Account ids of all users, to help error messages and generators.
    pub fn account_ids(&self) -> HashSet<&str> {
        self.user_idx.keys().map(String::as_str).collect()
    }
}

/// Whether an account counts against a product license when it holds the product.
pub fn is_billable(user: &User) -> bool {
    user.account_type == AccountType::Atlassian && user.status == AccountStatus::Active
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::License;

    /// The sandbox knows Atlassian's products by the keys the policy validator checks against.
    #[test]
    fn known_products_are_atlassian_product_keys() {
        for (key, _, _) in KNOWN_PRODUCTS {
            assert!(
                crate::policy::validate::ATLASSIAN_PRODUCT_KEYS.contains(key),
                "{key}"
            );
        }
    }

    fn user(id: &str, status: AccountStatus) -> User {
        User {
            account_id: id.to_string(),
            email: Some(format!("{id}@acme.test")),
            name: id.to_string(),
            account_type: AccountType::Atlassian,
            status,
            added_to_org: None,
            last_active: crate::live::Activity::new(),
        }
    }

    fn org() -> Org {
        let state = LiveState {
            format_version: 1,
            site: "acme.atlassian.net".into(),
            org_id: None,
            taken_at: Utc::now(),
            users: vec![
                user("a", AccountStatus::Active),
                user("b", AccountStatus::Active),
                user("c", AccountStatus::Suspended),
            ],
            groups: vec![
                Group {
                    id: "g1".into(),
                    name: "jira-software-users-acme".into(),
                    members: vec!["a".into(), "c".into()],
                    synced: false,
                },
                Group {
                    id: "g2".into(),
                    name: "jira-software-users-ext".into(),
                    members: vec!["a".into()],
                    synced: false,
                },
                Group {
                    id: "g3".into(),
                    name: "employees".into(),
                    members: vec![],
                    synced: true,
                },
            ],
            events: vec![],
            licenses: [("jira-software".to_string(), License { limit: 1 })].into(),
            events_read: None,
        };
        Org::from_live(state).expect("valid org")
    }

    #[test]
    fn seats_count_distinct_billable_holders() {
        let mut o = org();
        let p = o.product_index("jira-software").expect("inferred");
        assert_eq!(o.products[p as usize].groups.len(), 2);
        assert_eq!(o.products[p as usize].billable, 1);
        let now = Utc::now();
        assert_eq!(
            o.add_member(1, 1, now, None),
            Err(WriteError::LicenseLimit {
                product: "jira-software".into(),
                limit: 1
            })
        );
        assert_eq!(o.add_member(0, 0, now, None), Ok(WriteOutcome::Duplicate));
        assert_eq!(o.remove_member(1, 0, now, None), Ok(WriteOutcome::Applied));
        assert_eq!(
            o.products[p as usize].billable, 1,
            "still holds it through g1"
        );
        assert_eq!(o.remove_member(0, 0, now, None), Ok(WriteOutcome::Applied));
        assert_eq!(o.products[p as usize].billable, 0);
        assert_eq!(o.add_member(1, 1, now, None), Ok(WriteOutcome::Applied));
        assert!(matches!(
            o.add_member(2, 1, now, None),
            Err(WriteError::Synced { .. })
        ));
        assert_eq!(o.events.len(), 3);
        assert_eq!(o.group(0).active_members, Vec::<u32>::new());
        assert_eq!(o.group(0).members, vec![2]);
    }

    #[test]
    fn state_json_round_trips() {
        let o = org();
        let bytes = o.to_state_json(Utc::now()).expect("serializes");
        let text = String::from_utf8(bytes).expect("utf8");
        let mut value: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert!(value["sandbox"]["products"]["jira-software"].is_object());
        value.as_object_mut().expect("object").remove("sandbox");
        let now: DateTime<Utc> = value["taken_at"]
            .as_str()
            .expect("t")
            .parse()
            .expect("time");
        let as_live: LiveState = serde_json::from_value(value).expect("the snapshot format");
        assert_eq!(as_live, o.snapshot(now));
        let back = Org::parse_seed(&text).expect("parses").expect("valid");
        assert_eq!(back.org_id, o.org_id);
        assert_eq!(back.products.len(), o.products.len());
        assert!(Org::parse_seed("[]").is_err());
        assert!(Org::parse_seed("{\"site\": 3}").is_err());
    }

    #[test]
    fn an_org_without_guard_is_seeded_and_kept_in_the_state_file() {
        assert!(org().guard, "Guard by default");
        let text = String::from_utf8(org().to_state_json(Utc::now()).expect("json")).expect("utf8");
        assert!(!text.contains("guard"), "the default is not written");
        let seed = "site: acme.atlassian.net\nusers: []\ngroups: []\nsandbox:\n  guard: false\n";
        let o = Org::parse_seed(seed).expect("parses").expect("valid");
        assert!(!o.guard);
        let text = String::from_utf8(o.to_state_json(Utc::now()).expect("json")).expect("utf8");
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value["sandbox"]["guard"], false);
        let back = Org::parse_seed(&text).expect("parses").expect("valid");
        assert!(!back.guard);
    }

    #[test]
    fn yaml_seeds_with_explicit_and_inferred_products() {
        let yaml = r#"
site: acme.atlassian.net
users:
  - { account_id: a, email: a@acme.test, name: A, account_type: atlassian, status: active }
  - { account_id: b, name: B, account_type: app, status: active }
groups:
  - { id: g1, name: jira-software-users, members: [a, b] }
  - { id: g2, name: confluence-users-acme, members: [a] }
  - { id: g3, name: wiki-editors, members: [b] }
  - { id: g4, name: jira-users-legacy, members: [] }
licenses:
  confluence: { limit: 3 }
sandbox:
  products:
    confluence: { groups: [confluence-users-acme, g3] }
"#;
        let o = Org::parse_seed(yaml).expect("parses").expect("valid");
        let jsw = o.product_index("jira-software").expect("inferred");
        assert_eq!(o.products[jsw as usize].groups, vec![0]);
        assert_eq!(o.products[jsw as usize].billable, 1, "apps are not billed");
        let conf = o.product_index("confluence").expect("explicit");
        assert_eq!(o.products[conf as usize].groups, vec![1, 2]);
        assert_eq!(o.products[conf as usize].limit, Some(3));
        assert!(
            o.product_index("jira-core").is_some(),
            "jira-users-* grants jira-core"
        );
        for bad in [
            "site: x\nusers: []\ngroups: [{id: g, name: n, members: [ghost]}]",
            "site: x\nusers: []\ngroups: []\nsandbox: {products: {confluence: {groups: [nope]}}}",
            "site: x\nusers: []\ngroups: []\nsandbox: {surprise: 1}",
            "site: x\nformat_version: 2\nusers: []\ngroups: []",
        ] {
            let parsed = Org::parse_seed(bad);
            assert!(matches!(parsed, Err(_) | Ok(Err(_))), "{bad}");
        }
    }

    #[test]
    fn deleted_and_created_groups_survive_a_state_round_trip() {
        let mut o = org();
        let p = o.product_index("jira-software").expect("product");
        o.delete_group(1).expect("deletes");
        assert_eq!(o.products[p as usize].groups, vec![0]);
        assert!(o.delete_group(2).is_err(), "synced");
        let g = o.create_group("Reviewers").expect("creates");
        assert!(
            o.create_group("reviewers").is_none(),
            "names are case-insensitive"
        );
        assert_eq!(
            o.add_member(g, 1, Utc::now(), None),
            Ok(WriteOutcome::Applied)
        );
        let text = String::from_utf8(o.to_state_json(Utc::now()).expect("json")).expect("utf8");
        let back = Org::parse_seed(&text).expect("parses").expect("valid");
        assert!(back.group_index("g2").is_none());
        let g = back.group_by_name("reviewers").expect("kept");
        assert_eq!(back.group(g).members, vec![1]);
        let p = back.product_index("jira-software").expect("product");
        assert_eq!(back.products[p as usize].groups.len(), 1);
        assert_eq!(back.products[p as usize].limit, Some(1));
    }
}

//! Reading live state with the fewest requests.
//!
//! - **Admin path** (org id and admin key): the paged admin v2 user search with
//!   `expand: [productAccess, groups]` gives users, their group memberships and per-product last
//!   activity in one listing; one group search names the managed groups (ids, synced flag,
//!   directory); the events stream gives recent events. The three run concurrently.
//! - **Site path** (email and token only): the Jira user listing (1000 a page), one `group/bulk`
//!   request per 50 managed group names, and `group/member` per group, 50 a page, with every
//!   page after the first fetched concurrently once `total` is known. No activity data.
//!
//! Only the groups the caller names are returned ([`ReadRequest::groups`]), whichever path is
//! used, so that plans do not depend on the path.

use super::client::{Call, Client, RequestStats};
use super::error::{Api, ApiError};
use super::paging::CursorPager;
use super::permits::Priority;
use super::wire::{
    grants_access, strings, AdminEvent, AdminGroup, AdminUser, ApplicationRole, EventActionList,
    GroupSearchRequest, JiraGroup, JiraPage, JiraUser, LastActivePage, RoleAssignment, SiteAri,
    SortBy, UserSearchRequest,
};
use crate::grants::{GrantingGroup, Grants};
use crate::live::{
    AccountStatus, AccountType, Activity, Event, EventAction, EventsRead, Group, License,
    LiveState, User, SNAPSHOT_FORMAT_VERSION,
};
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::try_join_all;
use reqwest::Method;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;

/// Jira's `users/search` page size ("limited to 1000").
pub const JIRA_USERS_PAGE: u64 = 1000;
/// Jira's `group/member` page size (at most 50).
pub const JIRA_MEMBERS_PAGE: u64 = 50;
/// Jira's `group/bulk` page size, and so the most group names asked for in one request.
pub const JIRA_GROUPS_PAGE: usize = 50;
/// The most items an admin API id filter takes (`groupIds`, `accountIds`, `directoryIds`:
/// `maxItems` 10 in the published spec); longer lists are sent in chunks.
pub const ADMIN_FILTER_MAX: usize = 10;
/// The most emails one users search takes (`emails`: `maxItems` 100).
pub const EMAILS_MAX: usize = 100;
/// The most names one admin group search takes (`groupNames`: `maxItems` 100).
pub const GROUP_NAMES_MAX: usize = 100;
/// The most site ARIs one `resourceIds` filter takes (`maxItems` 20).
pub const RESOURCE_IDS_MAX: usize = 20;
/// The page size of the role-assignment listings (`limit` maximum 100).
pub const ROLES_PAGE: u32 = 100;
/// The v1 last-active dates, for pacing and messages.
const LAST_ACTIVE_ENDPOINT: &str =
    "GET /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates";
/// The user role-assignment listing, for pacing and messages.
const USER_ROLES_ENDPOINT: &str =
    "GET /admin/v2/orgs/{orgId}/directories/{directoryId}/users/{accountId}/role-assignments";
/// The group role-assignment listing, for pacing and messages.
pub(crate) const GROUP_ROLES_ENDPOINT: &str =
    "GET /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/role-assignments";

/// The product keys the admin API's `productAccess` may carry that seatkeeper knows: the spec's
/// `jira` (every Jira product of a site) and `confluence`, and Atlassian's other product keys.
/// Any other key is an error: seatkeeper will not guess what it bills.
pub const ADMIN_PRODUCT_KEYS: &[&str] = &[
    "jira",
    "confluence",
    "bitbucket",
    "compass",
    "jira-core",
    "jira-product-discovery",
    "jira-service-desk",
    "jira-servicedesk",
    "jira-service-management",
    "jira-software",
    "jira-work-management",
    "loom",
    "opsgenie",
    "statuspage",
    "trello",
];

/// What to read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRequest {
    /// The site, like `acme.atlassian.net` (copied into the state).
    pub site: String,
    /// Group names whose ids and members to read.
    pub groups: Vec<String>,
    /// Policy product keys: admin `productAccess` keys are mapped onto them.
    pub products: Vec<String>,
    /// Each policy product's grant groups (names): their role assignments say which site a
    /// product is on, and membership says which products a user holds. Products missing here
    /// are matched on any site.
    pub product_groups: BTreeMap<String, Vec<String>>,
    /// Read org events from this time to `now` (admin path only); `None` reads no events.
    /// `ops::read_request` sets it to [`Policy::events_window_start`](crate::policy::Policy::events_window_start).
    pub events_since: Option<DateTime<Utc>>,
    /// The time the state is taken at (`taken_at`, end of the events window).
    pub now: DateTime<Utc>,
    /// Read Jira's licensed seats per product (`applicationrole`, one request; needs site
    /// credentials and *Administer Jira*; skipped quietly when either is missing).
    pub licenses: bool,
    /// Admin path: read only the members of [`ReadRequest::groups`], the safe users
    /// ([`ReadRequest::safe_emails`], [`ReadRequest::safe_account_ids`]) and the accounts the
    /// events name, in listings that run side by side (per directory and 10 groups, each read
    /// from both ends), instead of the whole directory.
    pub members_only: bool,
    /// The safe users named by email (with [`ReadRequest::members_only`]).
    pub safe_emails: Vec<String>,
    /// The safe users named by account id (with [`ReadRequest::members_only`]).
    pub safe_account_ids: Vec<String>,
}

/// The most items one `startAt` listing reads: Atlassian's largest orgs hold 200,000 users;
/// past this a server that ignores `startAt` (the same page forever) is stopped, not followed
/// until memory runs out.
pub const MAX_LISTED_ITEMS: usize = 250_000;

/// Fails a `startAt` listing that has already read [`MAX_LISTED_ITEMS`].
fn check_listed(endpoint: &str, listed: usize) -> Result<(), ApiError> {
    if listed < MAX_LISTED_ITEMS {
        return Ok(());
    }
    Err(ApiError::Decode {
        endpoint: endpoint.to_string(),
        message: format!(
            "the listing goes on past {MAX_LISTED_ITEMS} entries, more than any Atlassian org \
             holds (does the server ignore `startAt`?); stopping rather than reading forever"
        ),
    })
}

/// Which API the state was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPath {
    /// Admin v2 directory listing (with activity and events).
    Admin,
    /// Jira site API (no activity data).
    Site,
}

/// The result of [`Client::read_live`].
#[derive(Debug, Clone)]
pub struct LiveRead {
    /// The state read.
    pub state: LiveState,
    /// Which API it came from.
    pub path: ReadPath,
    /// Requested group names that do not exist.
    pub missing_groups: Vec<String>,
    /// Requests this read made (retries included), for comparison with the minimum.
    pub stats: RequestStats,
    /// Every path that bills the policy's products beyond its groups (admin path, when the
    /// products' sites are known); direct assignments are left to [`Client::direct_assignments`].
    pub grants: Option<Grants>,
    /// People whose Jira activity was told apart per product by reading their v1 last-active
    /// dates (one request each, within that endpoint's 200 a minute).
    pub last_active_reads: u64,
}

impl Client {
    /// Reads users, the requested groups with members, activity and events. Uses the admin path
    /// when admin credentials are configured, else the site path.
    pub async fn read_live(&self, request: &ReadRequest) -> Result<LiveRead, ApiError> {
        let before = self.stats();
        let read = async {
            if self.has_admin() {
                let (s, m, g, n) = self.read_admin(request).await?;
                Ok((s, ReadPath::Admin, m, g, n))
            } else {
                let (s, m) = self.read_site(request).await?;
                Ok((s, ReadPath::Site, m, None, 0))
            }
        };
        let licenses = async {
            if request.licenses && self.has_site() {
                self.jira_licenses(&request.products).await
            } else {
                Ok(BTreeMap::new())
            }
        };
        let ((mut state, path, missing_groups, grants, last_active_reads), licenses) =
            tokio::try_join!(read, licenses)?;
        state.licenses = licenses;
        state.users.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        state.groups.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(LiveRead {
            state,
            path,
            missing_groups,
            stats: self.stats() - before,
            grants,
            last_active_reads,
        })
    }

    pub(crate) fn org_id(&self) -> Result<&str, ApiError> {
        self.admin_org_id("the admin API")
    }

    // ---------------------------------------------------------------- admin path

    async fn read_admin(
        &self,
        req: &ReadRequest,
    ) -> Result<(LiveState, Vec<String>, Option<Grants>, u64), ApiError> {
        let org = self.org_id()?.to_string();
        const EXPAND: &[&str] = &["productAccess", "groups"];
        // The sites the groups' role assignments give the policy's products on, and every
        // group that grants them.
        let sites_of = |groups: Option<Vec<GroupInfo>>| {
            let org = &org;
            async move {
                let sites = match &groups {
                    Some(g) => self.product_sites(org, g, &req.product_groups).await?,
                    None => ProductSites::default(),
                };
                let granting = self.granting_groups(org, &sites.resources).await?;
                Ok::<_, ApiError>((groups, sites, granting))
            }
        };
        let events = async {
            match req.events_since {
                Some(since) => self.admin_events(&org, since, req.now).await.map(Some),
                None => Ok(None),
            }
        };
        let (mut users, (groups, sites, granting), events) = if req.members_only {
            // The listings need the groups' ids: the group search first, then the members'
            // listings beside the role assignments.
            let main = async {
                let groups = self.lookup_groups_by_name(&org, &req.groups).await?;
                let listed = groups.clone();
                let users = self.scoped_users(&org, req, listed.as_deref(), EXPAND);
                let (users, rest) = tokio::try_join!(users, sites_of(groups))?;
                Ok::<_, ApiError>((users, rest))
            };
            let ((users, rest), events) = tokio::try_join!(main, events)?;
            (users, rest, events)
        } else {
            // The whole directory, while the groups are looked up.
            let users = self.admin_users(&org, UserSearchRequest::default(), EXPAND);
            let rest = async {
                let groups = self.lookup_groups_by_name(&org, &req.groups).await?;
                sites_of(groups).await
            };
            tokio::try_join!(users, rest, events)?
        };
        if req.members_only {
            // People who asked for access are listed as requests even when they hold nothing.
            if let Some(AdminEvents::Read { events, .. }) = &events {
                let known: BTreeSet<&str> = users.iter().map(|u| u.account_id.as_str()).collect();
                let askers: Vec<String> = events
                    .iter()
                    .filter(|e| e.action == EventAction::AccessRequested)
                    .map(|e| e.account_id.as_str())
                    .filter(|a| !known.contains(a))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                let more = self.users_by_account(&org, &askers, EXPAND).await?;
                merge_users(&mut users, more);
            }
        }
        let (events, events_read) = match (req.events_since, events) {
            (Some(since), Some(AdminEvents::Read { events, missing })) => (
                events,
                Some(EventsRead {
                    wanted_from: since,
                    // Atlassian publishes no retention horizon for the events stream: what it
                    // answers for `from` is taken as covering the whole window.
                    covered_from: Some(since),
                    note: (!missing.is_empty()).then(|| {
                        let names: Vec<&str> = missing.iter().map(|a| a.as_str()).collect();
                        format!(
                            "the org's event actions (GET .../event-actions) list no {}: those \
                             events are not known",
                            names.join(", ")
                        )
                    }),
                }),
            ),
            (Some(since), Some(AdminEvents::Unavailable { status })) => (
                Vec::new(),
                Some(EventsRead {
                    wanted_from: since,
                    covered_from: None,
                    note: Some(format!(
                        "no events: the org's events API answered {status} (it needs Atlassian \
                         Guard and an admin API key that may read events); logins, access \
                         requests and group additions are not known"
                    )),
                }),
            ),
            _ => (Vec::new(), None),
        };
        // A members-only read keeps the events of the people it read: anyone else holds no
        // product the policy manages and is no safe user, so their logins and group changes
        // decide nothing, and a snapshot may only name accounts it lists.
        let mut events = events;
        if req.members_only {
            let read: BTreeSet<&str> = users.iter().map(|u| u.account_id.as_str()).collect();
            events.retain(|e| read.contains(e.account_id.as_str()));
        }
        // Without a group listing, the groups come from the users' `groups` expansion (groups
        // without members are then unknown, and nothing says whether a group is synced).
        let groups = match groups {
            Some(g) => g,
            None => groups_from_expansion(&users, &req.groups),
        };

        let wanted: BTreeSet<&str> = groups.iter().map(|g| g.id.as_str()).collect();
        let mut members: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for u in &users {
            for g in u.groups() {
                if wanted.contains(g.id.as_str()) {
                    members
                        .entry(g.id.as_str())
                        .or_default()
                        .insert(u.account_id.clone());
                }
            }
        }
        let live_groups = groups
            .iter()
            .map(|g| Group {
                id: g.id.clone(),
                name: g.name.clone(),
                members: members
                    .remove(g.id.as_str())
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
                synced: g.synced,
            })
            .collect();
        let missing = missing_names(&req.groups, groups.iter().map(|g| g.name.as_str()));
        let grants = granting.map(|groups| held_elsewhere(req, &users, groups, &sites));
        let activity_map = ActivityMap::new(req, &groups, sites.clouds);
        // Someone holding several Jira products of a site: which one the `jira` activity was on
        // comes from the per-product last-active dates (v1), read for exactly those people.
        let ambiguous = ambiguous_users(&users, &activity_map);
        let accounts: Vec<String> = ambiguous.into_keys().collect();
        let resolved = self.last_active_dates(&org, &accounts).await?;
        let last_active_reads = accounts.len() as u64;
        let state = LiveState {
            format_version: SNAPSHOT_FORMAT_VERSION,
            site: req.site.clone(),
            org_id: Some(org),
            taken_at: req.now,
            users: users
                .iter()
                .map(|u| admin_user(u, &activity_map, &resolved))
                .collect::<Result<_, _>>()?,
            groups: live_groups,
            events,
            licenses: BTreeMap::new(),
            events_read,
        };
        Ok((state, missing, grants, last_active_reads))
    }

    /// Ids, names and synced flags of the groups with these names, for the admin path. With
    /// [`ClientConfig::prefer_admin_group_search`] (the default) the admin v2 group search comes
    /// first, because it is the only read that says whether an identity provider syncs a group;
    /// Jira `group/bulk` (one request per 50 names, synced flags unknown) is the fallback where
    /// the search is not served. `None` when nothing answers.
    ///
    /// [`ClientConfig::prefer_admin_group_search`]: super::ClientConfig::prefer_admin_group_search
    async fn lookup_groups_by_name(
        &self,
        org: &str,
        names: &[String],
    ) -> Result<Option<Vec<GroupInfo>>, ApiError> {
        if names.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let use_bulk_first = self.has_site() && !self.config.prefer_admin_group_search;
        if !use_bulk_first {
            let wanted: BTreeSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
            // `groupNames` takes at most 100 names a request.
            let searches = names.chunks(GROUP_NAMES_MAX).map(|chunk| {
                self.admin_group_search(
                    org,
                    GroupSearchRequest {
                        group_names: strings(chunk),
                        expand: strings(&["counts.users"]),
                        ..GroupSearchRequest::default()
                    },
                )
            });
            let found: Option<Vec<AdminGroup>> = try_join_all(searches)
                .await?
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .map(|lists| lists.into_iter().flatten().collect());
            if let Some(groups) = found {
                let mut seen = BTreeSet::new();
                return Ok(Some(
                    groups
                        .into_iter()
                        .filter(|g| seen.insert(g.id.clone()))
                        .filter(|g| wanted.contains(&g.name.to_lowercase()))
                        .map(|g| GroupInfo {
                            synced: g.synced(),
                            members: g.counts.as_ref().and_then(|c| c.users),
                            directory: g.directory_id.clone(),
                            id: g.id,
                            name: g.name,
                        })
                        .collect(),
                ));
            }
        }
        if !self.has_site() {
            return Ok(None);
        }
        let found = self.jira_groups_by_name(names).await?;
        Ok(Some(
            found
                .into_iter()
                .map(|(id, name)| GroupInfo {
                    id,
                    name,
                    synced: false,
                    directory: None,
                    members: None,
                })
                .collect(),
        ))
    }

    /// The cloud ids of the sites each policy product is on, from the role assignments of its
    /// grant groups (`GET .../groups/{groupId}/role-assignments`, one listing per group, side
    /// by side): an assignment whose `resourceOwner` is the product and whose role gives
    /// access puts the product on the site of its `resourceId`. A product whose groups are not
    /// found, or whose listings answer 403 or 404, has no known site (an empty set).
    async fn product_sites(
        &self,
        org: &str,
        groups: &[GroupInfo],
        product_groups: &BTreeMap<String, Vec<String>>,
    ) -> Result<ProductSites, ApiError> {
        let by_name: HashMap<String, &str> = groups
            .iter()
            .map(|g| (g.name.to_lowercase(), g.id.as_str()))
            .collect();
        let ids: BTreeSet<&str> = product_groups
            .values()
            .flatten()
            .filter_map(|n| by_name.get(&n.to_lowercase()).copied())
            .collect();
        let listings = ids.iter().map(|&id| async move {
            match self.group_role_assignments(org, id).await {
                Ok(list) => Ok((id, list)),
                Err(e)
                    if matches!(
                        e.root(),
                        ApiError::Forbidden { .. } | ApiError::NotFound { .. }
                    ) =>
                {
                    Ok((id, Vec::new()))
                }
                Err(e) => Err(e),
            }
        });
        let assigned: HashMap<&str, Vec<RoleAssignment>> =
            try_join_all(listings).await?.into_iter().collect();
        let mut out = ProductSites::default();
        for (product, names) in product_groups {
            let mut clouds = BTreeSet::new();
            let mut resources = BTreeSet::new();
            for name in names {
                let Some(id) = by_name.get(&name.to_lowercase()) else {
                    continue;
                };
                for a in assigned.get(id).into_iter().flatten() {
                    let owner = a.resource_owner.as_deref().unwrap_or_default();
                    if !same_product(owner, product) || !a.roles.iter().any(|r| grants_access(r)) {
                        continue;
                    }
                    let Some(raw) = a.resource_id.as_deref() else {
                        continue;
                    };
                    let ari = SiteAri::parse(raw).map_err(|m| ApiError::Decode {
                        endpoint: GROUP_ROLES_ENDPOINT.into(),
                        message: format!("group {id}: {m}"),
                    })?;
                    clouds.insert(ari.cloud_id);
                    resources.insert(raw.to_string());
                }
            }
            out.clouds.insert(product.clone(), clouds);
            if !resources.is_empty() {
                out.resources.insert(product.clone(), resources);
            }
        }
        Ok(out)
    }

    /// Every group that grants each product whose site ARIs are known, named by the policy or
    /// not: one group search per product filtered by its `resourceIds` and the roles that give
    /// access (`atlassian/user`, `atlassian/admin`), side by side. `None` when the group search
    /// is not served.
    async fn granting_groups(
        &self,
        org: &str,
        resources: &BTreeMap<String, BTreeSet<String>>,
    ) -> Result<Option<BTreeMap<String, Vec<GrantingGroup>>>, ApiError> {
        let searches = resources.iter().map(|(product, aris)| async move {
            // `resourceIds` takes at most 20 ARIs.
            let mut found: BTreeMap<String, GrantingGroup> = BTreeMap::new();
            let aris: Vec<&String> = aris.iter().collect();
            for chunk in aris.chunks(RESOURCE_IDS_MAX) {
                let filter = GroupSearchRequest {
                    resource_ids: strings(chunk),
                    role_ids: strings(&["atlassian/user", "atlassian/admin"]),
                    ..GroupSearchRequest::default()
                };
                let Some(groups) = self.admin_group_search(org, filter).await? else {
                    return Ok::<_, ApiError>(None);
                };
                for g in groups {
                    found.insert(
                        g.id.clone(),
                        GrantingGroup {
                            id: g.id,
                            name: g.name,
                        },
                    );
                }
            }
            let mut list: Vec<GrantingGroup> = found.into_values().collect();
            list.sort_by_key(|g| g.name.to_lowercase());
            Ok(Some((product.clone(), list)))
        });
        let lists = try_join_all(searches).await?;
        Ok(lists.into_iter().collect::<Option<BTreeMap<_, _>>>())
    }

    /// The policy products each of `accounts` holds by a direct role assignment: one
    /// `GET .../users/{accountId}/role-assignments` listing per account, side by side; an
    /// assignment counts when a role that gives access was assigned `direct` on a site ARI of
    /// the product (`grants.resources`). An account the directory does not hold (404) has none.
    pub async fn direct_assignments(
        &self,
        accounts: &[String],
        grants: &Grants,
    ) -> Result<BTreeMap<String, BTreeSet<String>>, ApiError> {
        let org = self.org_id()?.to_string();
        let org = org.as_str();
        let lookups = accounts.iter().map(|account| async move {
            let mut out = Vec::new();
            let mut pages = CursorPager::new(self, |cursor| {
                let call = Call::new(
                    Api::Admin,
                    Method::GET,
                    USER_ROLES_ENDPOINT,
                    &[
                        "admin",
                        "v2",
                        "orgs",
                        org,
                        "directories",
                        "-",
                        "users",
                        account,
                        "role-assignments",
                    ],
                )
                .query("limit", ROLES_PAGE)
                .fan_out();
                match cursor {
                    Some(c) => call.query("cursor", c),
                    None => call,
                }
            });
            loop {
                let page: Vec<RoleAssignment> = match pages.next_page().await {
                    Ok(Some(p)) => p,
                    Ok(None) => break,
                    Err(e)
                        if pages.before_first_page()
                            && matches!(e.root(), ApiError::NotFound { .. }) =>
                    {
                        break
                    }
                    Err(e) => return Err(e),
                };
                out.extend(page);
            }
            let products: BTreeSet<String> = out
                .iter()
                .filter(|a| {
                    a.role_assignments.iter().any(|r| {
                        grants_access(&r.role)
                            && r.role_assignment_methods.iter().any(|m| m == "direct")
                    })
                })
                .filter_map(|a| a.resource_id.as_deref())
                .flat_map(|ari| {
                    grants
                        .resources
                        .iter()
                        .filter(move |(_, aris)| aris.contains(ari))
                        .map(|(p, _)| p.clone())
                })
                .collect();
            Ok::<_, ApiError>((account.clone(), products))
        });
        Ok(try_join_all(lookups)
            .await?
            .into_iter()
            .filter(|(_, ps)| !ps.is_empty())
            .collect())
    }

    /// The v1 last-active dates of each account (`GET /admin/v1/orgs/{orgId}/directory/users/
    /// {accountId}/last-active-dates`, following `links.next`), side by side; the endpoint's
    /// budget (200 a minute per org) paces them. An account the directory does not hold (404)
    /// has none.
    async fn last_active_dates(
        &self,
        org: &str,
        accounts: &[String],
    ) -> Result<BTreeMap<String, Vec<ProductLastActive>>, ApiError> {
        let reads = accounts.iter().map(|account| async move {
            let mut out = Vec::new();
            let mut cursor: Option<String> = None;
            let mut seen = BTreeSet::new();
            loop {
                let mut call = Call::new(
                    Api::Admin,
                    Method::GET,
                    LAST_ACTIVE_ENDPOINT,
                    &[
                        "admin",
                        "v1",
                        "orgs",
                        org,
                        "directory",
                        "users",
                        account,
                        "last-active-dates",
                    ],
                )
                .fan_out();
                if let Some(c) = &cursor {
                    call = call.query("cursor", c);
                }
                let page: LastActivePage = match self.get_json(&call).await {
                    Ok(p) => p,
                    Err(e) if cursor.is_none() && matches!(e.root(), ApiError::NotFound { .. }) => {
                        break
                    }
                    Err(e) => return Err(e),
                };
                for e in page.data.product_access {
                    let at = e
                        .last_active_timestamp
                        .as_deref()
                        .or(e.last_active.as_deref())
                        .and_then(parse_time);
                    out.push(ProductLastActive {
                        key: e.key,
                        id: e.id,
                        at,
                    });
                }
                match page
                    .links
                    .next
                    .filter(|n| !n.is_empty() && seen.insert(n.clone()))
                {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            Ok::<_, ApiError>((account.clone(), out))
        });
        Ok(try_join_all(reads).await?.into_iter().collect())
    }

    /// Every role assignment of a group (`limit` 100, cursor pages).
    pub(crate) async fn group_role_assignments(
        &self,
        org: &str,
        group_id: &str,
    ) -> Result<Vec<RoleAssignment>, ApiError> {
        let dir = self
            .directories
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(group_id)
            .cloned()
            .unwrap_or_else(|| "-".to_string());
        let mut out = Vec::new();
        let mut pages = CursorPager::new(self, |cursor| {
            let call = Call::new(
                Api::Admin,
                Method::GET,
                GROUP_ROLES_ENDPOINT,
                &[
                    "admin",
                    "v2",
                    "orgs",
                    org,
                    "directories",
                    &dir,
                    "groups",
                    group_id,
                    "role-assignments",
                ],
            )
            .query("limit", ROLES_PAGE);
            match cursor {
                Some(c) => call.query("cursor", c),
                None => call,
            }
        });
        while let Some(page) = pages.next_page().await? {
            out.extend(page);
        }
        Ok(out)
    }

    /// The users a plan needs ([`ReadRequest::members_only`]): the members of the requested
    /// groups, listed per directory and 10 groups (`groupIds`), each listing read from both
    /// ends when it is longer than a page, and the safe users (`emails`, 100 a request;
    /// `accountIds`, 10 a request); all side by side. Without group ids, the whole directory.
    async fn scoped_users(
        &self,
        org: &str,
        req: &ReadRequest,
        groups: Option<&[GroupInfo]>,
        expand: &[&str],
    ) -> Result<Vec<AdminUser>, ApiError> {
        let Some(groups) = groups else {
            return self
                .admin_users(org, UserSearchRequest::default(), expand)
                .await;
        };
        let mut by_directory: BTreeMap<&str, Vec<&GroupInfo>> = BTreeMap::new();
        for g in groups {
            by_directory
                .entry(g.directory.as_deref().unwrap_or("-"))
                .or_default()
                .push(g);
        }
        let page = u64::from(self.config.admin_page_size);
        let mut listings: Vec<super::ApiFuture<'_, Vec<AdminUser>>> = Vec::new();
        for (dir, gs) in by_directory {
            for chunk in gs.chunks(ADMIN_FILTER_MAX) {
                let ids: Vec<&str> = chunk.iter().map(|g| g.id.as_str()).collect();
                let filter = UserSearchRequest {
                    group_ids: strings(&ids),
                    ..UserSearchRequest::default()
                };
                // More members than a page (or an unknown count): from both ends at once.
                let long = chunk
                    .iter()
                    .map(|g| g.members)
                    .try_fold(0u64, |sum, m| m.map(|m| sum + m))
                    .is_none_or(|n| n > page);
                let dir = dir.to_string();
                if long {
                    listings.push(Box::pin(async move {
                        self.two_ended(org, &dir, filter, expand).await
                    }));
                } else {
                    listings.push(Box::pin(async move {
                        self.directory_users(org, &dir, filter, None, expand).await
                    }));
                }
            }
        }
        for chunk in req.safe_emails.chunks(EMAILS_MAX) {
            listings.push(Box::pin(self.directory_users(
                org,
                "-",
                UserSearchRequest {
                    emails: strings(chunk),
                    ..UserSearchRequest::default()
                },
                None,
                expand,
            )));
        }
        listings.push(Box::pin(self.users_by_account(
            org,
            &req.safe_account_ids,
            expand,
        )));
        let mut out = Vec::new();
        for list in try_join_all(listings).await? {
            merge_users(&mut out, list);
        }
        Ok(out)
    }

    /// The accounts with these ids (`accountIds`, 10 a request, side by side).
    async fn users_by_account(
        &self,
        org: &str,
        ids: &[String],
        expand: &[&str],
    ) -> Result<Vec<AdminUser>, ApiError> {
        let lists = ids.chunks(ADMIN_FILTER_MAX).map(|chunk| {
            let filter = UserSearchRequest {
                account_ids: strings(chunk),
                ..UserSearchRequest::default()
            };
            self.directory_users(org, "-", filter, None, expand)
        });
        let mut out = Vec::new();
        for list in try_join_all(lists).await? {
            merge_users(&mut out, list);
        }
        Ok(out)
    }

    /// A user listing read from both ends at once: sorted by nickname ascending and
    /// descending, each chain stopping once it has passed where the other one is (its last
    /// nickname beyond the other's, and a page holding someone the other read). Every user is
    /// then read: the ascending chain has everyone before its last nickname, the descending one
    /// everyone after its own. Without nicknames the chains run to their ends.
    async fn two_ended(
        &self,
        org: &str,
        dir: &str,
        filter: UserSearchRequest,
        expand: &[&str],
    ) -> Result<Vec<AdminUser>, ApiError> {
        #[derive(Default)]
        struct Meet {
            last: [Option<String>; 2],
            seen: [HashSet<String>; 2],
        }
        let meet = std::sync::Mutex::new(Meet::default());
        let chain = |side: usize| {
            let (meet, filter) = (&meet, filter.clone());
            async move {
                let direction = if side == 0 { "asc" } else { "desc" };
                let mut out: Vec<AdminUser> = Vec::new();
                let mut pages = CursorPager::new(self, |cursor| {
                    let limit = self.config.admin_page_size;
                    let body = user_search(&filter, limit, expand, Some(direction), cursor);
                    users_search_call(org, dir, body)
                });
                while let Some(users) = pages.next_page().await? {
                    self.learn_directories(users.iter().filter_map(AdminUser::directory_id));
                    let last = users
                        .last()
                        .and_then(|u| u.nickname.as_deref().or(u.name.as_deref()))
                        .map(str::to_lowercase);
                    let nicknames = users.iter().all(|u| u.nickname.is_some());
                    let stop = {
                        let mut m = meet.lock().unwrap_or_else(|e| e.into_inner());
                        let other = 1 - side;
                        let overlap = users.iter().any(|u| m.seen[other].contains(&u.account_id));
                        for u in &users {
                            m.seen[side].insert(u.account_id.clone());
                        }
                        m.last[side] = last.clone();
                        let crossed = match (&last, &m.last[other]) {
                            (Some(mine), Some(theirs)) if side == 0 => mine > theirs,
                            (Some(mine), Some(theirs)) => mine < theirs,
                            _ => false,
                        };
                        nicknames && crossed && overlap
                    };
                    out.extend(users);
                    if stop {
                        break;
                    }
                }
                Ok::<_, ApiError>(out)
            }
        };
        let (a, b) = tokio::try_join!(chain(0), chain(1))?;
        let mut out = Vec::new();
        merge_users(&mut out, a);
        merge_users(&mut out, b);
        Ok(out)
    }

    /// Every page of one user listing in directory `dir` (`-`: all), `filter` merged into the
    /// body.
    async fn directory_users(
        &self,
        org: &str,
        dir: &str,
        filter: UserSearchRequest,
        sort: Option<&str>,
        expand: &[&str],
    ) -> Result<Vec<AdminUser>, ApiError> {
        let mut out: Vec<AdminUser> = Vec::new();
        let mut pages = CursorPager::new(self, |cursor| {
            let limit = self.config.admin_page_size;
            users_search_call(org, dir, user_search(&filter, limit, expand, sort, cursor))
        });
        while let Some(users) = pages.next_page().await? {
            self.learn_directories(users.iter().filter_map(AdminUser::directory_id));
            merge_users(&mut out, users);
        }
        Ok(out)
    }

    /// Every page of the admin v2 user search with `filter` merged into the body. Users listed
    /// twice (once per directory) are merged.
    pub(crate) async fn admin_users(
        &self,
        org: &str,
        filter: UserSearchRequest,
        expand: &[&str],
    ) -> Result<Vec<AdminUser>, ApiError> {
        let mut out: Vec<AdminUser> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut pages = CursorPager::new(self, |cursor| {
            let limit = self.config.admin_page_size;
            admin_search(
                "POST /admin/v2/orgs/{orgId}/directories/-/users/search",
                org,
                "users",
                user_search(&filter, limit, expand, None, cursor),
            )
        });
        while let Some(users) = pages.next_page().await? {
            self.learn_directories(users.iter().filter_map(AdminUser::directory_id));
            for u in users {
                match index.get(&u.account_id) {
                    Some(&i) => merge_admin_user(&mut out[i], u),
                    None => {
                        index.insert(u.account_id.clone(), out.len());
                        out.push(u);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every page of the admin v2 group search; remembers each group's directory. `None` when
    /// the endpoint is not served (a 404 on the first page); the client then stops asking.
    pub(crate) async fn admin_group_search(
        &self,
        org: &str,
        filter: GroupSearchRequest,
    ) -> Result<Option<Vec<AdminGroup>>, ApiError> {
        if self.group_search_unsupported.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let mut out: Vec<AdminGroup> = Vec::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut pages = CursorPager::new(self, |cursor| {
            admin_search(
                "POST /admin/v2/orgs/{orgId}/directories/-/groups/search",
                org,
                "groups",
                GroupSearchRequest {
                    limit: Some(100),
                    cursor: cursor.map(str::to_string),
                    ..filter.clone()
                },
            )
        });
        loop {
            let groups: Vec<AdminGroup> = match pages.next_page().await {
                Ok(Some(g)) => g,
                Ok(None) => break,
                Err(e)
                    if pages.before_first_page()
                        && matches!(e.root(), ApiError::NotFound { .. }) =>
                {
                    self.group_search_unsupported.store(true, Ordering::Relaxed);
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            {
                let mut dirs = self.directories.lock().unwrap_or_else(|e| e.into_inner());
                for g in &groups {
                    if let Some(d) = &g.directory_id {
                        dirs.insert(g.id.clone(), d.clone());
                    }
                }
            }
            out.extend(groups.into_iter().filter(|g| seen.insert(g.id.clone())));
        }
        Ok(Some(out))
    }

    /// Org events in `[since, now]`, oldest first, as the planner understands them. A 403 or
    /// 404 on the first page means the org has no events to give (the events API needs
    /// Atlassian Guard): a normal state, not a failure.
    async fn admin_events(
        &self,
        org: &str,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<AdminEvents, ApiError> {
        // The action keys come from the org's own listing, not from guesses.
        let call = Call::new(
            Api::Admin,
            Method::GET,
            "GET /admin/v1/orgs/{orgId}/event-actions",
            &["admin", "v1", "orgs", org, "event-actions"],
        );
        let listed: EventActionList = match self.get_json(&call).await {
            Ok(l) => l,
            Err(e)
                if matches!(
                    e.root(),
                    ApiError::Forbidden { .. } | ApiError::NotFound { .. }
                ) =>
            {
                return Ok(AdminEvents::Unavailable {
                    status: e.status().unwrap_or_default(),
                });
            }
            Err(e) => return Err(e),
        };
        let actions = ActionKeys::from_listing(&listed);
        let mut out = Vec::new();
        let mut pages = CursorPager::new(self, |cursor| {
            // The same filters on every page: some cursors only mark a position.
            let call = Call::new(
                Api::Admin,
                Method::GET,
                "GET /admin/v1/orgs/{orgId}/events-stream",
                &["admin", "v1", "orgs", org, "events-stream"],
            )
            .query("from", since.timestamp_millis())
            .query("to", now.timestamp_millis())
            .query("limit", self.config.events_page_size)
            .query("sortOrder", "asc");
            match cursor {
                Some(c) => call.query("cursor", c),
                None => call,
            }
        });
        loop {
            let events: Vec<AdminEvent> = match pages.next_page().await {
                Ok(Some(events)) => events,
                Ok(None) => break,
                Err(e)
                    if pages.before_first_page()
                        && matches!(
                            e.root(),
                            ApiError::Forbidden { .. } | ApiError::NotFound { .. }
                        ) =>
                {
                    return Ok(AdminEvents::Unavailable {
                        status: e.status().unwrap_or_default(),
                    });
                }
                Err(e) => return Err(e),
            };
            for e in &events {
                let event = admin_event(e, &actions).map_err(|m| ApiError::Decode {
                    endpoint: "GET /admin/v1/orgs/{orgId}/events-stream".into(),
                    message: format!("event {}: {m}", e.id.as_deref().unwrap_or("(no id)")),
                })?;
                out.extend(event);
            }
        }
        out.sort_by_key(|e: &Event| e.time);
        Ok(AdminEvents::Read {
            events: out,
            missing: actions.missing(),
        })
    }

    // ---------------------------------------------------------------- site path

    async fn read_site(&self, req: &ReadRequest) -> Result<(LiveState, Vec<String>), ApiError> {
        let users = self.jira_users();
        let groups = async {
            let groups = self.jira_groups_by_name(&req.groups).await?;
            let members =
                try_join_all(groups.iter().map(|(id, _)| self.jira_group_members(id))).await?;
            Ok::<_, ApiError>((groups, members))
        };
        let (users, (groups, members)) = tokio::try_join!(users, groups)?;

        // Members the user listing missed (it can lag) are still users of the state.
        let mut all: BTreeMap<String, User> = users
            .iter()
            .map(|u| (u.account_id.clone(), jira_user(u)))
            .collect();
        for page in &members {
            for u in page {
                all.entry(u.account_id.clone())
                    .or_insert_with(|| jira_user(u));
            }
        }
        let missing = missing_names(&req.groups, groups.iter().map(|(_, n)| n.as_str()));
        let live_groups = groups
            .into_iter()
            .zip(members)
            .map(|((id, name), members)| Group {
                id,
                name,
                members: sorted_ids(members.iter().map(|u| u.account_id.clone())),
                synced: false,
            })
            .collect();
        let state = LiveState {
            format_version: SNAPSHOT_FORMAT_VERSION,
            site: req.site.clone(),
            org_id: None,
            taken_at: req.now,
            users: all.into_values().collect(),
            groups: live_groups,
            events: Vec::new(),
            licenses: BTreeMap::new(),
            events_read: req.events_since.map(|since| EventsRead {
                wanted_from: since,
                covered_from: None,
                note: Some(
                    "no events: they come only from the org admin API, and this read used site \
                     credentials (set ATLASSIAN_ADMIN_API_KEY and `org:` in the policy)"
                        .into(),
                ),
            }),
        };
        Ok((state, missing))
    }

    /// Licensed seats per product from `GET /rest/api/3/applicationrole`, keyed by policy
    /// product keys; products with unlimited seats are left out. Without *Administer Jira* (403)
    /// the map is empty.
    async fn jira_licenses(
        &self,
        products: &[String],
    ) -> Result<BTreeMap<String, License>, ApiError> {
        let call = Call::new(
            Api::Site,
            Method::GET,
            "GET /rest/api/3/applicationrole",
            &["rest", "api", "3", "applicationrole"],
        );
        let roles: Vec<ApplicationRole> = match self.get_json(&call).await {
            Ok(r) => r,
            Err(e) if matches!(e.root(), ApiError::Forbidden { .. }) => return Ok(BTreeMap::new()),
            Err(e) => return Err(e),
        };
        let mut out = BTreeMap::new();
        for role in roles {
            let seats = match (role.has_unlimited_seats, role.number_of_seats) {
                (Some(true), _) | (_, None) => continue,
                (_, Some(n)) => match u32::try_from(n) {
                    Ok(n) => n,
                    Err(_) => continue,
                },
            };
            for key in product_keys(&role.key, products) {
                out.insert(key, License { limit: seats });
            }
        }
        Ok(out)
    }

    /// Every account from `GET /rest/api/3/users/search`, 1000 a page, until a short page.
    async fn jira_users(&self) -> Result<Vec<JiraUser>, ApiError> {
        let mut out: Vec<JiraUser> = Vec::new();
        let mut start = 0u64;
        loop {
            check_listed("GET /rest/api/3/users/search", out.len())?;
            let call = Call::new(
                Api::Site,
                Method::GET,
                "GET /rest/api/3/users/search",
                &["rest", "api", "3", "users", "search"],
            )
            .query("startAt", start)
            .query("maxResults", JIRA_USERS_PAGE);
            let page: Vec<JiraUser> = self.get_json(&call).await?;
            let n = page.len() as u64;
            out.extend(page);
            if n < JIRA_USERS_PAGE {
                break;
            }
            start += n;
        }
        let mut seen = BTreeSet::new();
        out.retain(|u| seen.insert(u.account_id.clone()));
        Ok(out)
    }

    /// `(id, name)` of the groups with these names, from `GET /rest/api/3/group/bulk` with
    /// repeated `groupName` parameters (50 names a request, requests concurrent).
    async fn jira_groups_by_name(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, String)>, ApiError> {
        let chunks = names.chunks(JIRA_GROUPS_PAGE).map(|chunk| async move {
            let mut out = Vec::new();
            let mut start = 0u64;
            loop {
                let mut call = Call::new(
                    Api::Site,
                    Method::GET,
                    "GET /rest/api/3/group/bulk",
                    &["rest", "api", "3", "group", "bulk"],
                )
                .query("startAt", start)
                .query("maxResults", JIRA_GROUPS_PAGE);
                for n in chunk {
                    call = call.query("groupName", n);
                }
                check_listed("GET /rest/api/3/group/bulk", out.len())?;
                let page: JiraPage<JiraGroup> = self.get_json(&call).await?;
                let n = page.values.len() as u64;
                out.extend(page.values);
                if page.is_last != Some(false) || n == 0 {
                    break;
                }
                start += n;
            }
            Ok::<_, ApiError>(out)
        });
        let found = try_join_all(chunks).await?;
        let wanted: BTreeSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
        let mut seen = BTreeSet::new();
        Ok(found
            .into_iter()
            .flatten()
            .filter(|g| wanted.contains(&g.name.to_lowercase()))
            .filter_map(|g| g.group_id.map(|id| (id, g.name)))
            .filter(|(id, _)| seen.insert(id.clone()))
            .collect())
    }

    /// Every member (inactive included) of one group from `GET /rest/api/3/group/member`. The
    /// first page gives `total`; the remaining pages are fetched concurrently.
    pub(crate) async fn jira_group_members(
        &self,
        group_id: &str,
    ) -> Result<Vec<JiraUser>, ApiError> {
        let page_at = |start: u64, size: u64, priority: Priority| {
            let mut call = Call::new(
                Api::Site,
                Method::GET,
                "GET /rest/api/3/group/member",
                &["rest", "api", "3", "group", "member"],
            )
            .query("groupId", group_id)
            .query("includeInactiveUsers", "true")
            .query("startAt", start)
            .query("maxResults", size);
            if priority == Priority::FanOut {
                call = call.fan_out();
            }
            async move { self.get_json::<JiraPage<JiraUser>>(&call).await }
        };
        let first = page_at(0, JIRA_MEMBERS_PAGE, Priority::Chain).await?;
        // The server may cap the page below what was asked: use the size it reports.
        let size = first
            .max_results
            .filter(|&m| m > 0)
            .unwrap_or(JIRA_MEMBERS_PAGE)
            .min(JIRA_MEMBERS_PAGE);
        let mut members = Vec::new();
        let mut next = first.values.len() as u64;
        let mut last = is_last_page(&first, size);
        members.extend(first.values);
        if !last {
            if let Some(total) = first.total {
                // `total` comes from the server: fetch at most this many pages at once and let
                // the page-by-page loop below read anything beyond.
                const MAX_PAGES_AT_ONCE: u64 = 2_000;
                let total = total.min(next.saturating_add(MAX_PAGES_AT_ONCE * size));
                let starts: Vec<u64> = (next..total).step_by(size as usize).collect();
                let pages =
                    try_join_all(starts.iter().map(|&s| page_at(s, size, Priority::FanOut)))
                        .await?;
                if let (Some(&s), Some(p)) = (starts.last(), pages.last()) {
                    next = s.saturating_add(p.values.len() as u64);
                    last = is_last_page(p, size);
                } else {
                    last = true;
                }
                for p in pages {
                    members.extend(p.values);
                }
            }
        }
        // Without `total`, or when the group grew while we read it: continue page by page.
        while !last {
            check_listed("GET /rest/api/3/group/member", members.len())?;
            let p = page_at(next, size, Priority::Chain).await?;
            next = next.saturating_add(p.values.len() as u64);
            last = is_last_page(&p, size) || p.values.is_empty();
            members.extend(p.values);
        }
        let mut seen = BTreeSet::new();
        members.retain(|u| seen.insert(u.account_id.clone()));
        Ok(members)
    }
}

/// Where the policy's products are, from their grant groups' role assignments.
#[derive(Debug, Default)]
struct ProductSites {
    /// Policy product → the cloud ids of its sites (empty: unknown).
    clouds: BTreeMap<String, BTreeSet<String>>,
    /// Policy product → its site ARIs (`resourceId`s); products without any are absent.
    resources: BTreeMap<String, BTreeSet<String>>,
}

/// The [`Grants`] of a read: every granting group of each product, and who is in one the
/// policy does not name for it (from the users' `groups` expansion, which lists all of a
/// user's groups).
fn held_elsewhere(
    req: &ReadRequest,
    users: &[AdminUser],
    groups: BTreeMap<String, Vec<GrantingGroup>>,
    sites: &ProductSites,
) -> Grants {
    // Group id → (product, group name) for the granting groups the policy does not name.
    let mut unnamed: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
    for (product, list) in &groups {
        let named = req.product_groups.get(product);
        for g in list {
            let is_named =
                named.is_some_and(|ns| ns.iter().any(|n| n.eq_ignore_ascii_case(&g.name)));
            if !is_named {
                unnamed
                    .entry(g.id.as_str())
                    .or_default()
                    .push((product.as_str(), g.name.as_str()));
            }
        }
    }
    let mut held: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for u in users {
        for g in u.groups() {
            for (product, name) in unnamed.get(g.id.as_str()).into_iter().flatten() {
                held.entry(u.account_id.clone())
                    .or_default()
                    .entry(product.to_string())
                    .or_default()
                    .push(name.to_string());
            }
        }
    }
    Grants {
        resources: sites.resources.clone(),
        groups,
        held_elsewhere: held,
        direct: BTreeMap::new(),
    }
}

/// What the events stream gave.
#[derive(Debug)]
enum AdminEvents {
    /// The events of the window, and the planner's actions the org's listing does not have.
    Read {
        events: Vec<Event>,
        missing: Vec<EventAction>,
    },
    /// None: the endpoint answered `status` (403 or 404), as for an org without Atlassian Guard.
    Unavailable { status: u16 },
}

/// A group as the admin path knows it.
#[derive(Debug, Clone)]
struct GroupInfo {
    id: String,
    name: String,
    synced: bool,
    /// The group's directory, when a group search said.
    directory: Option<String>,
    /// How many members it has, when a group search said.
    members: Option<u64>,
}

/// `POST /admin/v2/orgs/{org}/directories/-/{what}/search` with `body`; `endpoint` names it for
/// pacing and messages.
fn admin_search(
    endpoint: &'static str,
    org: &str,
    what: &str,
    body: impl serde::Serialize,
) -> Call {
    Call::new(
        Api::Admin,
        Method::POST,
        endpoint,
        &[
            "admin",
            "v2",
            "orgs",
            org,
            "directories",
            "-",
            what,
            "search",
        ],
    )
    .json(body)
}

/// A users search body: the caller's `filter` with the page size, the expansions, the order by
/// nickname and the cursor of the page after the first.
fn user_search(
    filter: &UserSearchRequest,
    limit: impl Into<u64>,
    expand: &[&str],
    sort: Option<&str>,
    cursor: Option<&str>,
) -> UserSearchRequest {
    UserSearchRequest {
        limit: Some(limit.into()),
        expand: (!expand.is_empty()).then(|| strings(expand)).flatten(),
        sort_by: sort.map(|direction| {
            vec![SortBy {
                field: "nick_name".into(),
                direction: Some(direction.into()),
            }]
        }),
        cursor: cursor.map(str::to_string),
        ..filter.clone()
    }
}

/// `POST /admin/v2/orgs/{org}/directories/{dir}/users/search` with `body`.
fn users_search_call(org: &str, dir: &str, body: UserSearchRequest) -> Call {
    Call::new(
        Api::Admin,
        Method::POST,
        "POST /admin/v2/orgs/{orgId}/directories/-/users/search",
        &[
            "admin",
            "v2",
            "orgs",
            org,
            "directories",
            dir,
            "users",
            "search",
        ],
    )
    .json(body)
}

/// Adds `more` to `into`, merging users listed twice (group memberships and product access of
/// both listings).
fn merge_users(into: &mut Vec<AdminUser>, more: Vec<AdminUser>) {
    let mut index: HashMap<String, usize> = into
        .iter()
        .enumerate()
        .map(|(i, u)| (u.account_id.clone(), i))
        .collect();
    for u in more {
        match index.get(&u.account_id) {
            Some(&i) => merge_admin_user(&mut into[i], u),
            None => {
                index.insert(u.account_id.clone(), into.len());
                into.push(u);
            }
        }
    }
}

/// The requested groups as named in the users' `groups` expansion.
fn groups_from_expansion(users: &[AdminUser], names: &[String]) -> Vec<GroupInfo> {
    let wanted: BTreeSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
    let mut seen = BTreeSet::new();
    users
        .iter()
        .flat_map(|u| u.groups())
        .filter_map(|g| g.name.as_ref().map(|n| (g, n)))
        .filter(|(_, n)| wanted.contains(&n.to_lowercase()))
        .filter(|(g, _)| seen.insert(g.id.clone()))
        .map(|(g, n)| GroupInfo {
            id: g.id.clone(),
            name: n.clone(),
            synced: false,
            directory: None,
            members: None,
        })
        .collect()
}

fn is_last_page<T>(page: &JiraPage<T>, size: u64) -> bool {
    match page.is_last {
        Some(last) => last,
        None => match (page.total, page.start_at) {
            (Some(total), Some(start)) => start + page.values.len() as u64 >= total,
            _ => (page.values.len() as u64) < size,
        },
    }
}

fn sorted_ids(ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let set: BTreeSet<String> = ids.into_iter().collect();
    set.into_iter().collect()
}

fn missing_names<'a>(wanted: &[String], found: impl Iterator<Item = &'a str>) -> Vec<String> {
    let found: BTreeSet<String> = found.map(str::to_lowercase).collect();
    wanted
        .iter()
        .filter(|n| !found.contains(&n.to_lowercase()))
        .cloned()
        .collect()
}

fn merge_admin_user(into: &mut AdminUser, other: AdminUser) {
    let groups = into.groups.get_or_insert_with(Vec::new);
    for g in other.groups.unwrap_or_default() {
        if !groups.iter().any(|h| h.id == g.id) {
            groups.push(g);
        }
    }
    let access = into.product_access.get_or_insert_with(Vec::new);
    access.extend(other.product_access.unwrap_or_default());
    if into.email.is_none() {
        into.email = other.email;
    }
}

/// `atlassian`, `app`, `customer`; anything else (`unknown`) counts as a person.
pub fn account_type(raw: Option<&str>) -> AccountType {
    match raw.map(str::to_ascii_lowercase).as_deref() {
        Some("app") => AccountType::App,
        Some("customer") => AccountType::Customer,
        _ => AccountType::Atlassian,
    }
}

/// The admin user's status: closed account, deactivated, suspended (in this org), else active.
pub fn admin_status(u: &AdminUser) -> AccountStatus {
    let lower = |s: &Option<String>| s.as_deref().map(str::to_ascii_lowercase);
    let account = lower(&u.account_status);
    let status = lower(&u.status);
    let membership = lower(&u.membership_status);
    if account.as_deref() == Some("closed") || status.as_deref() == Some("for_deletion") {
        AccountStatus::Closed
    } else if account.as_deref() == Some("inactive") || status.as_deref() == Some("deactivated") {
        AccountStatus::Deactivated
    } else if status.as_deref() == Some("suspended") || membership.as_deref() == Some("suspended") {
        AccountStatus::Suspended
    } else {
        AccountStatus::Active
    }
}

/// Maps the admin API's `productAccess` onto the policy's product keys, through the site: an
/// entry counts only for the policy's products on the site of its ARI, and the spec's `jira`
/// (one entry per Jira site) goes to the Jira product the user holds there.
#[derive(Debug)]
struct ActivityMap {
    products: Vec<String>,
    /// Policy product → the cloud ids of its sites (empty: unknown, any site matches).
    sites: BTreeMap<String, BTreeSet<String>>,
    /// Group id → the policy products it grants.
    grants: HashMap<String, Vec<String>>,
}

impl ActivityMap {
    fn new(
        req: &ReadRequest,
        groups: &[GroupInfo],
        sites: BTreeMap<String, BTreeSet<String>>,
    ) -> Self {
        let by_name: HashMap<String, &str> = groups
            .iter()
            .map(|g| (g.name.to_lowercase(), g.id.as_str()))
            .collect();
        let mut grants: HashMap<String, Vec<String>> = HashMap::new();
        for (product, names) in &req.product_groups {
            for n in names {
                if let Some(id) = by_name.get(&n.to_lowercase()) {
                    grants
                        .entry(id.to_string())
                        .or_default()
                        .push(product.clone());
                }
            }
        }
        Self {
            products: req.products.clone(),
            sites,
            grants,
        }
    }

    /// The policy products a user holds through the groups of the read.
    fn held(&self, u: &AdminUser) -> BTreeSet<&str> {
        u.groups()
            .iter()
            .filter_map(|g| self.grants.get(&g.id))
            .flatten()
            .map(String::as_str)
            .collect()
    }
}

/// Which policy products one `productAccess` entry is activity on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribution {
    /// These products (usually one).
    Products(Vec<String>),
    /// A `jira` entry for someone who holds several Jira products of the site: which one the
    /// activity was on is read from the per-product last-active dates (v1).
    Ambiguous(Vec<String>),
    /// A `jira` entry for someone who holds no Jira product of the site (activity before a
    /// reclaim, say): every Jira product of the policy on the site.
    Unheld(Vec<String>),
}

impl Attribution {
    fn keys(&self) -> &[String] {
        match self {
            Attribution::Products(k) | Attribution::Ambiguous(k) | Attribution::Unheld(k) => k,
        }
    }
}

/// Whether an admin API product key (`productAccess`, role `resourceOwner`) names the policy
/// product `policy_key`: the same key, ignoring case, dashes and underscores, with Jira Service
/// Management's three spellings taken as one.
pub fn same_product(admin_key: &str, policy_key: &str) -> bool {
    let norm = |s: &str| {
        let n = s.to_ascii_lowercase().replace(['-', '_'], "");
        match n.as_str() {
            "jiraservicemanagement" | "jiraservicedesk" => "jiraservicedesk".to_string(),
            _ => n,
        }
    };
    norm(admin_key) == norm(policy_key)
}

/// Which policy products a `productAccess` entry (`key`, site ARI `id`) is activity on, for a
/// user who holds `held`. `sites` are the cloud ids of each product's site (empty: unknown).
/// An unknown key or an `id` that is not a site ARI is an error.
pub fn attribute_product_access(
    key: &str,
    id: Option<&str>,
    products: &[String],
    sites: &BTreeMap<String, BTreeSet<String>>,
    held: &BTreeSet<&str>,
) -> Result<Attribution, String> {
    if !ADMIN_PRODUCT_KEYS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(key))
    {
        return Err(format!(
            "the product key `{}` is not one seatkeeper knows ({})",
            key.escape_debug(),
            ADMIN_PRODUCT_KEYS.join(", ")
        ));
    }
    let cloud = id.map(SiteAri::parse).transpose()?.map(|a| a.cloud_id);
    let on_site = |p: &String| match (&cloud, sites.get(p)) {
        (Some(c), Some(known)) if !known.is_empty() => known.contains(c),
        _ => true,
    };
    let jira = key.eq_ignore_ascii_case("jira");
    let candidates: Vec<String> = products
        .iter()
        .filter(|p| {
            if jira {
                p.to_ascii_lowercase().starts_with("jira-")
            } else {
                same_product(key, p)
            }
        })
        .filter(|p| on_site(p))
        .cloned()
        .collect();
    if !jira || candidates.len() <= 1 {
        return Ok(Attribution::Products(candidates));
    }
    let holding: Vec<String> = candidates
        .iter()
        .filter(|p| held.contains(p.as_str()))
        .cloned()
        .collect();
    Ok(match holding.len() {
        1 => Attribution::Products(holding),
        0 => Attribution::Unheld(candidates),
        _ => Attribution::Ambiguous(holding),
    })
}

/// The users whose `jira` activity must be told apart per product: account → the Jira products
/// of the policy it holds on one site (several).
fn ambiguous_users(users: &[AdminUser], map: &ActivityMap) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for u in users {
        let held = map.held(u);
        for pa in u.product_access() {
            if let Ok(Attribution::Ambiguous(ps)) = attribute_product_access(
                &pa.key,
                pa.id.as_deref(),
                &map.products,
                &map.sites,
                &held,
            ) {
                out.entry(u.account_id.clone()).or_default().extend(ps);
            }
        }
    }
    out
}

/// Whether v1 last-active dates can report `product` (`UserProductLastActive.key` is an enum
/// without, for example, Jira Product Discovery, which then keeps the site's `jira` activity).
fn v1_reports(product: &str) -> bool {
    [
        "jira-software",
        "jira-service-desk",
        "jira-core",
        "jira-ops",
        "confluence",
        "bitbucket",
        "trello",
        "opsgenie",
        "statuspage",
    ]
    .iter()
    .any(|k| same_product(k, product))
}

/// Maps an admin user onto the state's user. `resolved` holds the per-product last-active
/// dates (v1) read for users whose `jira` activity is ambiguous: there they replace it.
fn admin_user(
    u: &AdminUser,
    map: &ActivityMap,
    resolved: &BTreeMap<String, Vec<ProductLastActive>>,
) -> Result<User, ApiError> {
    let mut last_active = Activity::new();
    let held = map.held(u);
    let v1 = resolved.get(&u.account_id);
    for pa in u.product_access() {
        let attribution =
            attribute_product_access(&pa.key, pa.id.as_deref(), &map.products, &map.sites, &held)
                .map_err(|m| ApiError::Decode {
                endpoint: "POST /admin/v2/orgs/{orgId}/directories/-/users/search".into(),
                message: format!("user {}: productAccess: {m}", u.account_id),
            })?;
        let at = pa
            .last_active_timestamp
            .as_deref()
            .or(pa.last_active_timestamp_snake.as_deref())
            .and_then(parse_time);
        match (&attribution, v1) {
            (Attribution::Ambiguous(products), Some(v1)) => {
                let cloud = pa
                    .id
                    .as_deref()
                    .and_then(|id| SiteAri::parse(id).ok())
                    .map(|a| a.cloud_id);
                for product in products {
                    if !v1_reports(product) {
                        if let Some(at) = at {
                            last_active.record(product.clone(), at);
                        }
                        continue;
                    }
                    let on_site = |e: &&ProductLastActive| match (
                        &cloud,
                        e.id.as_deref().and_then(|id| SiteAri::parse(id).ok()),
                    ) {
                        (Some(c), Some(a)) => &a.cloud_id == c,
                        _ => true,
                    };
                    for e in v1
                        .iter()
                        .filter(|e| same_product(&e.key, product))
                        .filter(on_site)
                    {
                        if let Some(t) = e.at {
                            last_active.record(product.clone(), t);
                        }
                    }
                }
            }
            _ => {
                if let Some(at) = at {
                    for key in attribution.keys() {
                        last_active.record(key.clone(), at);
                    }
                }
            }
        }
    }
    Ok(User {
        account_id: u.account_id.clone(),
        email: u.email.clone().filter(|e| !e.is_empty()),
        name: u.name.clone().unwrap_or_default(),
        account_type: account_type(u.account_type.as_deref()),
        status: admin_status(u),
        added_to_org: u.added_to_org.as_deref().and_then(parse_time),
        last_active,
    })
}

/// One product of a user's v1 last-active dates.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductLastActive {
    /// The v1 product key (`jira-software`, `jira-service-desk`, ...).
    pub key: String,
    /// The product's site ARI.
    pub id: Option<String>,
    /// The last activity (`last_active_timestamp`, else the `last_active` date).
    pub at: Option<DateTime<Utc>>,
}

fn jira_user(u: &JiraUser) -> User {
    User {
        account_id: u.account_id.clone(),
        email: u.email_address.clone().filter(|e| !e.is_empty()),
        name: u.display_name.clone().unwrap_or_default(),
        account_type: account_type(u.account_type.as_deref()),
        status: jira_status(u.active),
        added_to_org: None,
        last_active: Activity::new(),
    }
}

/// Jira only says `active` or not, and `active: false` covers suspended, deactivated and closed
/// accounts alike. It maps to [`AccountStatus::Suspended`], the status the planner treats
/// most carefully (never granted a seat, never removed for the status alone): removing a
/// suspended account's memberships would lose what a restore gives back. The admin path knows
/// the exact status.
pub fn jira_status(active: Option<bool>) -> AccountStatus {
    if active == Some(false) {
        AccountStatus::Suspended
    } else {
        AccountStatus::Active
    }
}

/// The policy product keys an admin `productAccess` key stands for: the same key; the same key
/// without dashes (`jira-service-desk` = `jira-servicedesk`); for the bare `jira`, every `jira-*`
/// product; otherwise the raw key itself.
pub fn product_keys(raw: &str, products: &[String]) -> Vec<String> {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['-', '_'], "");
    let raw_n = norm(raw);
    let same: Vec<String> = products
        .iter()
        .filter(|p| norm(p) == raw_n)
        .cloned()
        .collect();
    if !same.is_empty() {
        return same;
    }
    if raw_n == "jira" {
        let jira: Vec<String> = products
            .iter()
            .filter(|p| p.to_ascii_lowercase().starts_with("jira-"))
            .cloned()
            .collect();
        if !jira.is_empty() {
            return jira;
        }
    }
    vec![raw.to_string()]
}

/// An RFC 3339 timestamp or a `YYYY-MM-DD` date (midnight UTC).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

/// Maps an admin event onto the planner's events; `Ok(None)` for actions it does not use (or
/// without a time or a user), an error for a group id of an unexpected form.
pub fn admin_event(e: &AdminEvent, actions: &ActionKeys) -> Result<Option<Event>, String> {
    let a = &e.attributes;
    let Some(action) = actions.action(&a.action) else {
        return Ok(None);
    };
    let Some(time) = parse_time(&a.time) else {
        return Ok(None);
    };
    let objects = || a.context.iter().chain(&a.container);
    let of_type = |needle: &str| {
        objects()
            .find(|o| {
                o.kind
                    .as_deref()
                    .is_some_and(|k| k.to_ascii_lowercase().contains(needle))
            })
            .and_then(|o| o.id.clone())
    };
    let account_id = match action {
        // The actor of a login or an access request is the user.
        EventAction::UserLoggedIn | EventAction::AccessRequested => {
            of_type("user").or_else(|| a.actor.as_ref().and_then(|x| x.id.clone()))
        }
        // The actor of a group change is an admin; the user is in the context.
        EventAction::UserAddedToGroup | EventAction::UserRemovedFromGroup => of_type("user"),
    };
    let Some(account_id) = account_id else {
        return Ok(None);
    };
    let product = (action == EventAction::AccessRequested)
        .then(|| {
            objects()
                .find(|o| {
                    o.kind
                        .as_deref()
                        .is_some_and(|k| k.to_ascii_lowercase().contains("product"))
                })
                .and_then(|o| {
                    o.attributes
                        .as_ref()
                        .and_then(|at| {
                            at.get("key")
                                .or_else(|| at.get("productKey"))
                                .and_then(|k| k.as_str())
                                .map(str::to_string)
                        })
                        .or_else(|| o.id.clone())
                })
        })
        .flatten();
    let group_id = matches!(
        action,
        EventAction::UserAddedToGroup | EventAction::UserRemovedFromGroup
    )
    .then(|| of_type("group"))
    .flatten()
    .map(|g| super::wire::normalize_group_id(&g))
    .transpose()?;
    Ok(Some(Event {
        time,
        action,
        account_id,
        product,
        group_id,
    }))
}

/// The audit-log action keys of the planner's event actions: the keys the sandbox and
/// seatkeeper's snapshots use. An org's events are read with the keys its own
/// `GET .../event-actions` listing confirms ([`ActionKeys::from_listing`]); nothing is matched
/// by guessing at a key's spelling.
pub const ACTION_KEYS: &[(&str, EventAction)] = &[
    ("user_logged_in", EventAction::UserLoggedIn),
    ("access_requested", EventAction::AccessRequested),
    ("user_added_to_group", EventAction::UserAddedToGroup),
    ("user_removed_from_group", EventAction::UserRemovedFromGroup),
];

/// Which event actions an org's events are read with: the [`ACTION_KEYS`] its event-actions
/// listing holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionKeys(BTreeMap<String, EventAction>);

impl ActionKeys {
    /// The known keys the listing confirms (by `id`).
    pub fn from_listing(list: &EventActionList) -> Self {
        Self(
            list.data
                .iter()
                .filter_map(|entry| {
                    ACTION_KEYS
                        .iter()
                        .find(|(k, _)| *k == entry.id)
                        .map(|(k, a)| (k.to_string(), *a))
                })
                .collect(),
        )
    }

    /// Every known key, as if the listing held them all.
    pub fn all() -> Self {
        Self(
            ACTION_KEYS
                .iter()
                .map(|(k, a)| (k.to_string(), *a))
                .collect(),
        )
    }

    /// The planner's action for an event's action key; `None` for keys it does not use.
    pub fn action(&self, key: &str) -> Option<EventAction> {
        self.0.get(key).copied()
    }

    /// The planner's actions no listed key stands for.
    pub fn missing(&self) -> Vec<EventAction> {
        ACTION_KEYS
            .iter()
            .map(|(_, a)| *a)
            .filter(|a| !self.0.values().any(|x| x == a))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(raw: &str, products: &[&str]) -> Vec<String> {
        let products: Vec<String> = products.iter().map(|s| s.to_string()).collect();
        product_keys(raw, &products)
    }

    #[test]
    fn product_access_keys_map_onto_policy_keys() {
        assert_eq!(
            keys("jira-software", &["jira-software", "confluence"]),
            ["jira-software"]
        );
        assert_eq!(
            keys("jira-service-desk", &["jira-servicedesk"]),
            ["jira-servicedesk"]
        );
        assert_eq!(
            keys("jira", &["confluence", "jira-software", "jira-servicedesk"]),
            ["jira-software", "jira-servicedesk"]
        );
        assert_eq!(keys("trello", &["confluence"]), ["trello"]);
    }

    #[test]
    fn product_access_goes_to_the_policy_product_on_its_site() {
        let products: Vec<String> = ["jira-software", "jira-servicedesk", "confluence"]
            .map(String::from)
            .to_vec();
        let sites: BTreeMap<String, BTreeSet<String>> = [
            ("jira-software", "c1"),
            ("jira-servicedesk", "c1"),
            ("confluence", "c1"),
        ]
        .iter()
        .map(|(p, c)| (p.to_string(), BTreeSet::from([c.to_string()])))
        .collect();
        let held = |ps: &[&'static str]| -> BTreeSet<&'static str> { ps.iter().copied().collect() };
        let at = |key: &str, id: &str, h: &[&'static str]| {
            attribute_product_access(key, Some(id), &products, &sites, &held(h))
        };
        let one = |p: &str| Ok(Attribution::Products(vec![p.to_string()]));
        assert_eq!(
            at("confluence", "ari:cloud:confluence::site/c1", &[]),
            one("confluence")
        );
        // Another site's activity is not the policy's.
        assert_eq!(
            at(
                "confluence",
                "ari:cloud:confluence::site/c2",
                &["confluence"]
            ),
            Ok(Attribution::Products(vec![]))
        );
        // `jira` goes to the Jira product the user holds on that site...
        assert_eq!(
            at(
                "jira",
                "ari:cloud:jira::site/c1",
                &["jira-servicedesk", "confluence"]
            ),
            one("jira-servicedesk")
        );
        assert_eq!(
            at("jira", "ari:cloud:jira::site/c2", &["jira-software"]),
            Ok(Attribution::Products(vec![]))
        );
        // ...and is ambiguous for someone holding both, or neither.
        let both = vec!["jira-software".to_string(), "jira-servicedesk".to_string()];
        assert_eq!(
            at(
                "jira",
                "ari:cloud:jira::site/c1",
                &["jira-software", "jira-servicedesk"]
            ),
            Ok(Attribution::Ambiguous(both.clone()))
        );
        assert_eq!(
            at("jira", "ari:cloud:jira::site/c1", &[]),
            Ok(Attribution::Unheld(both))
        );
        // The v1 spelling of Jira Service Management is the same product.
        assert_eq!(
            at(
                "jira-service-desk",
                "ari:cloud:jira-service-desk::site/c1",
                &[]
            ),
            one("jira-servicedesk")
        );
        // A product the policy does not manage is nobody's activity.
        assert_eq!(
            at("trello", "ari:cloud:trello::site/c1", &[]),
            Ok(Attribution::Products(vec![]))
        );
        // Without known sites, any site matches.
        assert_eq!(
            attribute_product_access(
                "confluence",
                Some("ari:cloud:confluence::site/zz"),
                &products,
                &BTreeMap::new(),
                &held(&[])
            ),
            one("confluence")
        );
        // Bad input is an error that names it.
        let err = at("rovo-agents", "ari:cloud:jira::site/c1", &[]).expect_err("unknown key");
        assert!(err.contains("`rovo-agents`"), "{err}");
        let err = at("jira", "ari:cloud:jira::workspace/c1", &[]).expect_err("not a site ARI");
        assert!(err.contains("not a site ARI"), "{err}");
    }

    #[test]
    fn statuses() {
        let u = |account: &str, status: &str, membership: &str| -> AdminUser {
            serde_json::from_value(json!({"accountId": "a", "accountStatus": account, "status": status, "membershipStatus": membership})).unwrap()
        };
        assert_eq!(
            admin_status(&u("active", "active", "active")),
            AccountStatus::Active
        );
        assert_eq!(
            admin_status(&u("closed", "active", "active")),
            AccountStatus::Closed
        );
        assert_eq!(
            admin_status(&u("inactive", "active", "active")),
            AccountStatus::Deactivated
        );
        assert_eq!(
            admin_status(&u("active", "suspended", "active")),
            AccountStatus::Suspended
        );
        assert_eq!(
            admin_status(&u("active", "active", "suspended")),
            AccountStatus::Suspended
        );
    }

    #[test]
    fn events_map_user_group_and_product() {
        let e: AdminEvent = serde_json::from_value(json!({
            "id": "1",
            "attributes": {
                "time": "2026-11-24T10:00:00Z",
                "action": "user_added_to_group",
                "actor": {"id": "admin"},
                "context": [{"id": "u1", "type": "users"}, {"id": "g1", "type": "groups"}]
            }
        }))
        .unwrap();
        let ev = admin_event(&e, &ActionKeys::all()).unwrap().unwrap();
        assert_eq!(
            (ev.action, ev.account_id.as_str(), ev.group_id.as_deref()),
            (EventAction::UserAddedToGroup, "u1", Some("g1"))
        );
        let e: AdminEvent = serde_json::from_value(json!({
            "attributes": {"time": "2026-11-24T10:00:00Z", "action": "user_logged_in", "actor": {"id": "u2"}}
        }))
        .unwrap();
        let ev = admin_event(&e, &ActionKeys::all()).unwrap().unwrap();
        assert_eq!(
            (ev.action, ev.account_id.as_str()),
            (EventAction::UserLoggedIn, "u2")
        );
        // Only the keys the org's listing confirms are read; nothing is guessed from spelling.
        let listing: EventActionList = serde_json::from_value(json!({"data": [
            {"id": "user_logged_in", "type": "event-actions", "attributes": {"displayName": "User logged in", "groupDisplayName": "Authentication"}},
            {"id": "group_created", "type": "event-actions", "attributes": {"displayName": "Group created", "groupDisplayName": "Groups"}}
        ]}))
        .unwrap();
        let keys = ActionKeys::from_listing(&listing);
        assert_eq!(
            keys.action("user_logged_in"),
            Some(EventAction::UserLoggedIn)
        );
        assert_eq!(keys.action("group_created"), None);
        assert_eq!(keys.action("user_login"), None, "no guessing");
        assert_eq!(
            keys.missing(),
            [
                EventAction::AccessRequested,
                EventAction::UserAddedToGroup,
                EventAction::UserRemovedFromGroup
            ]
        );
        let added: AdminEvent = serde_json::from_value(json!({
            "attributes": {"time": "2026-11-24T10:00:00Z", "action": "user_added_to_group", "actor": {"id": "a"},
                "context": [{"id": "u1", "type": "users"}, {"id": "g1", "type": "groups"}]}
        }))
        .unwrap();
        assert_eq!(admin_event(&added, &keys), Ok(None), "not listed");
        assert_eq!(parse_time("2024-02-01"), parse_time("2024-02-01T00:00:00Z"));
    }
}

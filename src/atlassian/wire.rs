//! Raw serde types of the Atlassian JSON, kept apart from the [`crate::live`] model, shared by
//! the client and the sandbox.
//!
//! Responses are lenient when read (unknown fields ignored, most fields optional) because
//! Atlassian adds fields freely; the sandbox serialises its answers from the same types, so what
//! it sends is what the client reads (fields the client has no use for are
//! `skip_deserializing`). Request bodies are strict (`deny_unknown_fields`): the client
//! serialises them, the sandbox parses them, and a field Atlassian does not document is refused.
//! The mapping into [`crate::live`] types lives in `read.rs`.

use serde::{Deserialize, Deserializer, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

/// The prefix of a group's ARI (`ari:cloud:identity::group/<id>`).
pub const GROUP_ARI_PREFIX: &str = "ari:cloud:identity::group/";

/// A group id as seatkeeper keeps it: the bare id. Atlassian's Organizations API shows group ids
/// in two forms, bare (group search, group details, memberships) and as an ARI
/// (`ari:cloud:identity::group/<id>` in the users' `groups` expansion); this is the one place
/// both become one. Anything else that looks like an ARI, or an id with a character that
/// cannot be a path segment, is an error that says what was received.
pub fn normalize_group_id(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let bare = match raw.strip_prefix(GROUP_ARI_PREFIX) {
        Some(rest) => rest,
        None if raw.starts_with("ari:") => {
            return Err(format!(
                "the group id `{}` is an ARI of an unexpected form (expected \
                 `{GROUP_ARI_PREFIX}<id>` or a bare id)",
                raw.escape_debug()
            ))
        }
        None => raw,
    };
    if bare.is_empty()
        || bare
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '/' | '?' | '#' | ':'))
    {
        return Err(format!(
            "the group id `{}` is neither a bare id nor `{GROUP_ARI_PREFIX}<id>`",
            raw.escape_debug()
        ));
    }
    Ok(bare.to_string())
}

/// Deserializes a group id in either documented form into the bare id ([`normalize_group_id`]).
fn group_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    normalize_group_id(&raw).map_err(serde::de::Error::custom)
}

/// A site ARI of a product, `ari:cloud:<resource>::site/<cloud id>`, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteAri {
    /// The resource (product) part: `jira`, `jira-software`, `confluence`, ...
    pub resource: String,
    /// The site's cloud id.
    pub cloud_id: String,
}

impl SiteAri {
    /// Parses `ari:cloud:<resource>::site/<cloud id>`; anything else is an error naming it.
    pub fn parse(raw: &str) -> Result<SiteAri, String> {
        let bad = || {
            format!(
                "`{}` is not a site ARI of the form `ari:cloud:<product>::site/<cloud id>`",
                raw.escape_debug()
            )
        };
        let rest = raw.trim().strip_prefix("ari:cloud:").ok_or_else(bad)?;
        let (resource, site) = rest.split_once("::").ok_or_else(bad)?;
        let cloud_id = site.strip_prefix("site/").ok_or_else(bad)?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !ok(resource) || !ok(cloud_id) {
            return Err(bad());
        }
        Ok(SiteAri {
            resource: resource.to_string(),
            cloud_id: cloud_id.to_string(),
        })
    }
}

/// Jira `User` / `UserDetails` (users/search, group/member, myself).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JiraUser {
    #[serde(
        rename = "self",
        skip_deserializing,
        skip_serializing_if = "Option::is_none"
    )]
    pub self_url: Option<String>,
    pub account_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_type: Option<String>,
    /// `service` for apps (`User` only).
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub app_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    /// `16x16`, `24x24`, `32x32`, `48x48` → URL.
    #[serde(skip_deserializing, skip_serializing_if = "Vec::is_empty")]
    #[serde(serialize_with = "pairs_as_map")]
    pub avatar_urls: Vec<(&'static str, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<&'static str>,
    /// (`User` only.)
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub locale: Option<&'static str>,
}

fn pairs_as_map<S: serde::Serializer>(
    pairs: &[(&'static str, String)],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

/// Jira `PageBean*` (group/member, group/bulk).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JiraPage<T> {
    #[serde(default)]
    pub start_at: Option<u64>,
    #[serde(default)]
    pub max_results: Option<u64>,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub is_last: Option<bool>,
    #[serde(default = "Vec::new")]
    pub values: Vec<T>,
}

/// Jira `GroupDetails` (group/bulk). `externalSynced`/`managedBy` are not in Jira's schema;
/// they are read when present.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JiraGroup {
    pub name: String,
    #[serde(default)]
    pub group_id: Option<String>,
}

/// Admin cursor links: `next` is a cursor (v2) or a URL (v1 events).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Links {
    #[serde(
        rename = "self",
        skip_deserializing,
        skip_serializing_if = "Option::is_none"
    )]
    pub self_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Admin v1 page meta (events-stream): `next` is a cursor.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<usize>,
}

impl Meta {
    fn is_absent(&self) -> bool {
        self.next.is_none() && self.page_size.is_none()
    }
}

/// An admin API page: `{data: [..], links: {next}, meta: {next}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminPage<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default)]
    pub links: Links,
    #[serde(default, skip_serializing_if = "Meta::is_absent")]
    pub meta: Meta,
}

impl<T> AdminPage<T> {
    /// The cursor of the next page: `meta.next`, else `links.next` (taking the `cursor` query
    /// parameter when it is a URL).
    pub fn next_cursor(&self) -> Option<String> {
        let raw = self.meta.next.as_deref().filter(|s| !s.is_empty()).or(self
            .links
            .next
            .as_deref()
            .filter(|s| !s.is_empty()))?;
        if raw.contains("://") || raw.starts_with('/') {
            let full = if raw.starts_with('/') {
                format!("http://x{raw}")
            } else {
                raw.to_string()
            };
            reqwest::Url::parse(&full)
                .ok()?
                .query_pairs()
                .find(|(k, _)| k == "cursor")
                .map(|(_, v)| v.into_owned())
        } else {
            Some(raw.to_string())
        }
    }
}

/// One organization of `GET /v1/orgs` (`OrgModel`: `{id, type: "orgs", attributes: {name},
/// relationships, links}`); only the id and the name are read.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminOrg {
    pub id: String,
    #[serde(default)]
    pub attributes: Option<OrgAttributes>,
}

/// `attributes` of an org (`OrgModel.attributes`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrgAttributes {
    #[serde(default)]
    pub name: Option<String>,
}

/// Admin v2 `MultiDirectoryUser` (users/search with `expand: [productAccess, groups]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminUser {
    pub account_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_to_org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_deserializing, skip_serializing_if = "is_false")]
    pub email_verified: bool,
    /// With `expand: ["groups"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<AdminGroupRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<SelfLink>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The nickname, the key of a search sorted by `nick_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    /// With `expand: ["productAccess"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_access: Option<Vec<ProductAccess>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// `links: {self: URL}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SelfLink {
    #[serde(default, rename = "self")]
    pub self_url: Option<String>,
}

impl AdminUser {
    /// The directory named in `links.self` (`.../directories/{directoryId}/users/{accountId}`).
    pub fn directory_id(&self) -> Option<&str> {
        let url = self.links.as_ref()?.self_url.as_deref()?;
        let mut parts = url.split('/');
        parts.find(|p| *p == "directories")?;
        parts.next().filter(|d| !d.is_empty() && *d != "-")
    }

    /// The `productAccess` expansion (empty when not expanded).
    pub fn product_access(&self) -> &[ProductAccess] {
        self.product_access.as_deref().unwrap_or_default()
    }

    /// The `groups` expansion (empty when not expanded).
    pub fn groups(&self) -> &[AdminGroupRef] {
        self.groups.as_deref().unwrap_or_default()
    }
}

/// One entry of `productAccess`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductAccess {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_active_timestamp: Option<String>,
    /// v1-style name, accepted too.
    #[serde(default, rename = "last_active_timestamp", skip_serializing)]
    pub last_active_timestamp_snake: Option<String>,
}

/// A group named in a user's `groups` expansion (its id an ARI or bare; kept bare).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminGroupRef {
    #[serde(deserialize_with = "group_id")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Admin v2 group (groups/search), its id kept bare.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminGroup {
    #[serde(deserialize_with = "group_id")]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub directory_id: Option<String>,
    #[serde(default)]
    pub external_synced: Option<bool>,
    #[serde(default)]
    pub managed_by: Option<serde_json::Value>,
    /// `counts` (with `expand: ["counts.users"]`).
    #[serde(default)]
    pub counts: Option<GroupCounts>,
}

/// `GroupCounts`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GroupCounts {
    #[serde(default)]
    pub users: Option<u64>,
}

impl AdminGroup {
    /// Whether an identity provider syncs the group.
    pub fn synced(&self) -> bool {
        if self.external_synced == Some(true) {
            return true;
        }
        // `managedBy` is `{"type": "EXTERNAL"|"ADMINS"|..}` or a bare string.
        let kind = match &self.managed_by {
            Some(serde_json::Value::String(s)) => Some(s.as_str()),
            Some(serde_json::Value::Object(o)) => o.get("type").and_then(|v| v.as_str()),
            _ => None,
        };
        kind.is_some_and(|k| {
            let k = k.to_ascii_lowercase();
            k.contains("external")
                || k.contains("scim")
                || k.contains("idp")
                || k.contains("synced")
        })
    }
}

/// Admin v1 event (`PollingEventModel` of events-stream, `EventModel` of events).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminEvent {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "type", skip_deserializing)]
    pub kind: &'static str,
    pub attributes: EventAttributes,
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub links: Option<SelfLink>,
}

/// `attributes` of an event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventAttributes {
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<EventObject>,
    #[serde(default)]
    pub container: Vec<EventObject>,
    #[serde(default)]
    pub context: Vec<EventObject>,
    /// `{ip}` of the request that made the event.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub location: Option<serde_json::Value>,
    /// When Atlassian processed the event (the events stream's sort key).
    #[serde(
        default,
        rename = "processedAt",
        skip_serializing_if = "Option::is_none"
    )]
    pub processed_at: Option<String>,
    pub time: String,
}

/// One entry of `GET /v1/orgs/{orgId}/event-actions` (`EventActionModel`): `id` is an action
/// key events carry in `attributes.action`.
#[derive(Debug, Clone, Deserialize)]
pub struct EventActionEntry {
    pub id: String,
    #[serde(default)]
    pub attributes: Option<EventActionNames>,
}

/// The display names of an event action.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventActionNames {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub group_display_name: Option<String>,
}

/// `GET /v1/orgs/{orgId}/event-actions` (`EventActions`).
#[derive(Debug, Clone, Deserialize)]
pub struct EventActionList {
    #[serde(default)]
    pub data: Vec<EventActionEntry>,
}

/// An object an event names: the actor, a context item or a container.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EventObject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<serde_json::Value>,
    /// The actor's authentication (`{authType}`).
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub auth: Option<serde_json::Value>,
    /// The actor's email and name.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A group's or a user's role assignment on one resource (`role-assignments` listings).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    /// The resource's site ARI.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// The resource's owner (a product key such as `jira-software`).
    #[serde(default)]
    pub resource_owner: Option<String>,
    /// The roles (groups; deprecated on users, where `roleAssignments` says how).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Users: each role with how it was assigned (`direct`, `group_direct`, `inferred`).
    #[serde(default)]
    pub role_assignments: Vec<RoleWithMethods>,
}

/// One role of a user's assignment, with how it was assigned.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleWithMethods {
    pub role: String,
    #[serde(default)]
    pub role_assignment_methods: Vec<String>,
}

/// The roles that give access to a product (billable): `atlassian/user` and `atlassian/admin`.
pub fn grants_access(role: &str) -> bool {
    matches!(role, "atlassian/user" | "atlassian/admin")
}

/// `GET /v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates`
/// (`UserProductAccessActivityPage`).
#[derive(Debug, Clone, Deserialize)]
pub struct LastActivePage {
    pub data: LastActiveData,
    #[serde(default)]
    pub links: Links,
}

/// `UserProductAccessModel`.
#[derive(Debug, Clone, Deserialize)]
pub struct LastActiveData {
    #[serde(default)]
    pub product_access: Vec<LastActiveEntry>,
}

/// `UserProductLastActive`.
#[derive(Debug, Clone, Deserialize)]
pub struct LastActiveEntry {
    pub key: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub last_active: Option<String>,
    #[serde(default)]
    pub last_active_timestamp: Option<String>,
}

/// One entry of `GET /rest/api/3/applicationrole`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationRole {
    pub key: String,
    #[serde(default)]
    pub number_of_seats: Option<i64>,
    #[serde(default)]
    pub has_unlimited_seats: Option<bool>,
}

/// The body of a membership add: Jira's `UpdateUserToGroupBean` (`POST /rest/api/3/group/user`;
/// its deprecated `name` is not accepted) and the admin API's `{"accountId"}`
/// (`POST .../groups/{groupId}/memberships`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountIdBody {
    pub account_id: String,
}

/// `MultiDirectoryUserSearchRequest`: the body of `POST .../directories/{id}/users/search` (and
/// the query of the deprecated `GET .../users`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserSearchRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_status: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_domains: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expand: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership_status: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_term: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<Vec<SortBy>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<String>>,
}

/// `MultiDirectoryGroupSearchRequest`: the body of `POST .../directories/{id}/groups/search`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupSearchRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expand: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_names: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_owners: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_term: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<Vec<SortBy>>,
}

/// A request's list of strings (`Some`, even when empty).
pub fn strings(items: &[impl AsRef<str>]) -> Option<Vec<String>> {
    Some(items.iter().map(|s| s.as_ref().to_string()).collect())
}

/// One `sortBy` entry of a search request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SortBy {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
}

/// `GET /rest/api/3/myself`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Myself {
    pub account_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_cursor_from_cursor_or_url() {
        let p: AdminPage<AdminGroup> =
            serde_json::from_str(r#"{"data":[],"links":{"next":"abc"}}"#).unwrap();
        assert_eq!(p.next_cursor().as_deref(), Some("abc"));
        let p: AdminPage<AdminGroup> = serde_json::from_str(
            r#"{"data":[],"links":{"next":"https://api.atlassian.com/admin/v1/orgs/o/events-stream?cursor=c%3D1&limit=2"}}"#,
        )
        .unwrap();
        assert_eq!(p.next_cursor().as_deref(), Some("c=1"));
        let p: AdminPage<AdminGroup> =
            serde_json::from_str(r#"{"data":[],"meta":{"next":"m"},"links":{"next":null}}"#)
                .unwrap();
        assert_eq!(p.next_cursor().as_deref(), Some("m"));
        let p: AdminPage<AdminGroup> = serde_json::from_str(r#"{"data":[],"links":{}}"#).unwrap();
        assert_eq!(p.next_cursor(), None);
    }

    #[test]
    fn an_org_page_reads_ids_names_and_the_next_link() {
        let p: AdminPage<AdminOrg> = serde_json::from_str(
            r#"{"data":[{"id":"o-1","type":"orgs","attributes":{"name":"Acme"},"relationships":{},"links":{"self":"u"},"extra":1},
                        {"id":"o-2"}],
                "links":{"self":"https://api.atlassian.com/admin/v1/orgs","next":"https://api.atlassian.com/admin/v1/orgs?cursor=c2"}}"#,
        )
        .expect("an OrgPage");
        let names: Vec<(&str, Option<&str>)> = p
            .data
            .iter()
            .map(|o| {
                (
                    o.id.as_str(),
                    o.attributes.as_ref().and_then(|a| a.name.as_deref()),
                )
            })
            .collect();
        assert_eq!(names, [("o-1", Some("Acme")), ("o-2", None)]);
        assert_eq!(p.next_cursor().as_deref(), Some("c2"));
    }

    #[test]
    fn group_ids_in_both_documented_forms_become_one() {
        let id = "3571b9a7-348f-414a-9087-8e1ea03a7df8";
        assert_eq!(normalize_group_id(id).as_deref(), Ok(id));
        assert_eq!(
            normalize_group_id(&format!("ari:cloud:identity::group/{id}")).as_deref(),
            Ok(id)
        );
        for bad in [
            "ari:cloud:identity::team/abc",
            "ari:cloud:jira::site/1",
            "ari:cloud:identity::group/",
            "a/b",
            "",
            "x y",
        ] {
            assert!(normalize_group_id(bad).is_err(), "{bad}");
        }
        let g: AdminGroupRef =
            serde_json::from_str(&format!(r#"{{"id":"ari:cloud:identity::group/{id}"}}"#))
                .expect("an ARI");
        assert_eq!(g.id, id);
        let err = serde_json::from_str::<AdminGroupRef>(r#"{"id":"ari:cloud:x::y/z"}"#)
            .expect_err("refused");
        assert!(err.to_string().contains("unexpected form"), "{err}");
    }

    #[test]
    fn site_aris_are_taken_apart_or_refused() {
        assert_eq!(
            SiteAri::parse("ari:cloud:jira::site/9a8b-1"),
            Ok(SiteAri {
                resource: "jira".into(),
                cloud_id: "9a8b-1".into()
            })
        );
        for bad in [
            "ari:cloud:jira::workspace/1",
            "jira",
            "ari:cloud:::site/1",
            "ari:cloud:jira::site/",
            "ari:cloud:jira::site/a/b",
        ] {
            assert!(SiteAri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn synced_from_either_field() {
        let g = |extra: &str| -> AdminGroup {
            serde_json::from_str(&format!(r#"{{"id":"1","name":"n"{extra}}}"#)).unwrap()
        };
        assert!(!g("").synced());
        assert!(g(r#","externalSynced":true"#).synced());
        assert!(g(r#","managedBy":{"type":"EXTERNAL"}"#).synced());
        assert!(!g(r#","managedBy":{"type":"ADMINS"}"#).synced());
    }
}

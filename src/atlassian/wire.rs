//! Raw serde types of the Atlassian JSON we read, kept apart from the [`crate::live`] model.
//! They are lenient (unknown fields ignored, most fields optional) because Atlassian adds fields
//! freely; the mapping into [`crate::live`] types lives in `read.rs`.

use serde::Deserialize;

/// Jira `User` / `UserDetails` (users/search, group/member, myself).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JiraUser {
    pub account_id: String,
    #[serde(default)]
    pub account_type: Option<String>,
    #[serde(default)]
    pub email_address: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
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

/// Admin v2 cursor links: `next` is a cursor (v2) or a URL (v1 events).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Links {
    #[serde(default)]
    pub next: Option<String>,
}

/// Admin v1 page meta (events-stream): `next` is a cursor.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Meta {
    #[serde(default)]
    pub next: Option<String>,
}

/// An admin API page: `{data: [..], links: {next}, meta: {next}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminPage<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default)]
    pub links: Links,
    #[serde(default)]
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

/// Admin v2 `MultiDirectoryUser` (users/search with `expand: [productAccess, groups]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminUser {
    pub account_id: String,
    #[serde(default)]
    pub account_type: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub account_status: Option<String>,
    #[serde(default)]
    pub membership_status: Option<String>,
    #[serde(default)]
    pub added_to_org: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub product_access: Vec<ProductAccess>,
    #[serde(default)]
    pub groups: Vec<AdminGroupRef>,
    #[serde(default)]
    pub links: Option<SelfLink>,
}

/// `links: {self: URL}`.
#[derive(Debug, Clone, Default, Deserialize)]
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
}

/// One entry of `productAccess`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductAccess {
    pub key: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub last_active_timestamp: Option<String>,
    /// v1-style name, accepted too.
    #[serde(default, rename = "last_active_timestamp")]
    pub last_active_timestamp_snake: Option<String>,
}

/// A group named in a user's `groups` expansion.
#[derive(Debug, Clone, Deserialize)]
pub struct AdminGroupRef {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// Admin v2 group (groups/search).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminGroup {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub directory_id: Option<String>,
    #[serde(default)]
    pub external_synced: Option<bool>,
    #[serde(default)]
    pub managed_by: Option<serde_json::Value>,
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

/// Admin v1 event (events-stream).
#[derive(Debug, Clone, Deserialize)]
pub struct AdminEvent {
    #[serde(default)]
    pub id: Option<String>,
    pub attributes: EventAttributes,
}

/// `attributes` of an event.
#[derive(Debug, Clone, Deserialize)]
pub struct EventAttributes {
    pub time: String,
    pub action: String,
    #[serde(default)]
    pub actor: Option<EventObject>,
    #[serde(default)]
    pub context: Vec<EventObject>,
    #[serde(default)]
    pub container: Vec<EventObject>,
}

/// An object an event names: the actor, a context item or a container.
#[derive(Debug, Clone, Deserialize)]
pub struct EventObject {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub attributes: Option<serde_json::Value>,
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

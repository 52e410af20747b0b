//! Live state: the users, groups, activity and recent events of an Atlassian org, as read from
//! Atlassian Cloud, the sandbox or a snapshot file. The serde form of [`LiveState`] *is* the
//! snapshot format (DESIGN §5.1, `format_version` 1); fields are only ever added. Reading and
//! checking snapshot files lives in [`snapshot`].

pub mod rfc3339;
pub mod snapshot;

pub use snapshot::{parse_snapshot, parse_snapshot_bytes};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The snapshot format version this build writes and reads.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;

/// Everything the planner needs to know about the org right now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveState {
    /// Always [`SNAPSHOT_FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// The site, like `acme.atlassian.net`.
    pub site: String,
    /// The organization id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// When this state was read.
    #[serde(deserialize_with = "rfc3339::utc")]
    pub taken_at: DateTime<Utc>,
    /// Every account the site or org knows, including apps, customers and closed accounts.
    pub users: Vec<User>,
    /// Groups with their members (account ids).
    pub groups: Vec<Group>,
    /// Recent org events, oldest first.
    #[serde(default)]
    pub events: Vec<Event>,
    /// Seats per product as Atlassian counts them (`applicationrole`), when known.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub licenses: BTreeMap<String, License>,
    /// How far back `events` reach, when the reader knows (DESIGN §4: evidence must not depend
    /// on how far back the read looked, so a short or missing read is said in the plan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_read: Option<EventsRead>,
}

/// What the event read covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsRead {
    /// The start of the window the plan needs (the longest `inactivity + grace + notice` of
    /// any product before the plan's time).
    #[serde(deserialize_with = "rfc3339::utc")]
    pub wanted_from: DateTime<Utc>,
    /// The earliest time the events actually cover; `None` when there are no events at all
    /// (for example, the events API needs Atlassian Guard).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "rfc3339::option_utc"
    )]
    pub covered_from: Option<DateTime<Utc>>,
    /// Why the read is short or missing, in an admin's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl EventsRead {
    /// Whether the events cover the whole window the plan needs.
    pub fn is_complete(&self) -> bool {
        self.covered_from
            .is_some_and(|from| from <= self.wanted_from)
    }
}

/// Licensed seats of one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct License {
    /// Seats paid for.
    pub limit: u32,
}

/// One Atlassian account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The Atlassian account id.
    pub account_id: String,
    /// Email; Atlassian may hide it for privacy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// `atlassian`, `app` or `customer`.
    pub account_type: AccountType,
    /// `active`, `suspended`, `deactivated` or `closed`.
    pub status: AccountStatus,
    /// When the account joined the org.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "rfc3339::option_utc"
    )]
    pub added_to_org: Option<DateTime<Utc>>,
    /// Last activity per product key.
    #[serde(default, skip_serializing_if = "Activity::is_empty")]
    pub last_active: Activity,
}

/// Last activity per product key: a small map kept as a sorted slice. A user has a handful of
/// products, and an org has up to hundreds of thousands of users: a `BTreeMap` node costs about
/// 400 bytes per user, this costs 40 bytes per product. Serialized as a JSON object, like the
/// map it replaces; a key given twice keeps its latest time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity(Box<[(String, DateTime<Utc>)]>);

impl Activity {
    /// No activity.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no product has activity.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of products with activity.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The last activity on `product`.
    pub fn get(&self, product: &str) -> Option<&DateTime<Utc>> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(product))
            .ok()
            .and_then(|i| self.0.get(i))
            .map(|(_, t)| t)
    }

    /// (product, time) pairs in product order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &DateTime<Utc>)> + '_ {
        self.into_iter()
    }

    /// The times, in product order.
    pub fn values(&self) -> impl Iterator<Item = &DateTime<Utc>> + '_ {
        self.0.iter().map(|(_, t)| t)
    }

    /// Sets the activity on `product` to `at`, whatever it was.
    pub fn insert(&mut self, product: impl Into<String>, at: DateTime<Utc>) {
        let product = product.into();
        match self.0.binary_search_by(|(k, _)| k.cmp(&product)) {
            Ok(i) => {
                if let Some(slot) = self.0.get_mut(i) {
                    slot.1 = at;
                }
            }
            Err(i) => {
                let mut v = std::mem::take(&mut self.0).into_vec();
                v.insert(i, (product, at));
                self.0 = v.into_boxed_slice();
            }
        }
    }

    /// Records activity on `product` at `at` unless a later one is known.
    pub fn record(&mut self, product: impl Into<String>, at: DateTime<Utc>) {
        let product = product.into();
        if self.get(&product).is_none_or(|&cur| cur < at) {
            self.insert(product, at);
        }
    }

    /// Sorts and merges pairs: the latest time of each product wins.
    fn from_pairs(mut pairs: Vec<(String, DateTime<Utc>)>) -> Self {
        pairs.sort_unstable();
        // Sorted by (key, time): of equal keys the last one is the latest.
        pairs.dedup_by(|next, kept| {
            if next.0 == kept.0 {
                kept.1 = next.1;
                true
            } else {
                false
            }
        });
        Activity(pairs.into_boxed_slice())
    }
}

impl<K: Into<String>> FromIterator<(K, DateTime<Utc>)> for Activity {
    fn from_iter<I: IntoIterator<Item = (K, DateTime<Utc>)>>(iter: I) -> Self {
        Self::from_pairs(iter.into_iter().map(|(k, t)| (k.into(), t)).collect())
    }
}

impl<K: Into<String>, const N: usize> From<[(K, DateTime<Utc>); N]> for Activity {
    fn from(pairs: [(K, DateTime<Utc>); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a Activity {
    type Item = (&'a String, &'a DateTime<Utc>);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, DateTime<Utc>)>,
        fn(&'a (String, DateTime<Utc>)) -> (&'a String, &'a DateTime<Utc>),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, t)| (k, t))
    }
}

impl Serialize for Activity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Activity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Activity;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map from product key to time")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Activity, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(4).min(16));
                while let Some((key, rfc3339::Time(at))) = map.next_entry()? {
                    pairs.push((key, at));
                }
                Ok(Activity::from_pairs(pairs))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// The kind of account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountType {
    /// A person with an Atlassian account.
    Atlassian,
    /// An app or bot.
    App,
    /// A Jira Service Management portal customer.
    Customer,
}

impl AccountType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Atlassian => "atlassian",
            AccountType::App => "app",
            AccountType::Customer => "customer",
        }
    }
}

/// Account status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    /// Can log in.
    Active,
    /// Suspended by an admin: not billed, keeps memberships.
    Suspended,
    /// Deactivated.
    Deactivated,
    /// Closed (deleted) account.
    Closed,
}

impl AccountStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Suspended => "suspended",
            AccountStatus::Deactivated => "deactivated",
            AccountStatus::Closed => "closed",
        }
    }
}

/// One group and its members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The group id.
    pub id: String,
    /// The group name.
    pub name: String,
    /// Member account ids.
    #[serde(default)]
    pub members: Vec<String>,
    /// Whether an identity provider syncs the group (read-only here).
    #[serde(default)]
    pub synced: bool,
}

/// One org event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// When it happened.
    #[serde(deserialize_with = "rfc3339::utc")]
    pub time: DateTime<Utc>,
    /// What happened.
    pub action: EventAction,
    /// Whose account.
    pub account_id: String,
    /// For `access_requested`: the product key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// For group events: the group id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}

/// Event actions the planner understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventAction {
    /// The user logged in.
    UserLoggedIn,
    /// The user asked for access to a product.
    AccessRequested,
    /// The user was added to a group.
    UserAddedToGroup,
    /// The user was removed from a group.
    UserRemovedFromGroup,
}

impl EventAction {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::UserLoggedIn => "user_logged_in",
            EventAction::AccessRequested => "access_requested",
            EventAction::UserAddedToGroup => "user_added_to_group",
            EventAction::UserRemovedFromGroup => "user_removed_from_group",
        }
    }
}

/// Lookups over a [`LiveState`] built once, so the planner never scans lists per user.
#[derive(Debug)]
pub struct LiveIndex<'a> {
    /// The state indexed.
    pub state: &'a LiveState,
    /// Account id → user.
    pub users_by_id: HashMap<&'a str, &'a User>,
    /// Lowercase email → user.
    pub users_by_email: HashMap<String, &'a User>,
    /// Group name → group.
    pub groups_by_name: HashMap<&'a str, &'a Group>,
    /// Group id → group.
    pub groups_by_id: HashMap<&'a str, &'a Group>,
}

impl<'a> LiveIndex<'a> {
    /// Indexes `state`.
    pub fn new(state: &'a LiveState) -> Self {
        Self {
            state,
            users_by_id: state
                .users
                .iter()
                .map(|u| (u.account_id.as_str(), u))
                .collect(),
            users_by_email: state
                .users
                .iter()
                .filter_map(|u| u.email.as_ref().map(|e| (e.to_lowercase(), u)))
                .collect(),
            groups_by_name: state.groups.iter().map(|g| (g.name.as_str(), g)).collect(),
            groups_by_id: state.groups.iter().map(|g| (g.id.as_str(), g)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("a valid time")
    }

    #[test]
    fn activity_reads_and_writes_a_json_object_in_key_order() {
        let a: Activity = serde_json::from_str(
            r#"{"jira-software": "2026-11-01T00:00:00Z", "confluence": "2026-10-01T00:00:00Z"}"#,
        )
        .expect("a map");
        assert_eq!(a.len(), 2);
        assert_eq!(a.get("confluence"), Some(&t("2026-10-01T00:00:00Z")));
        assert_eq!(a.get("jira-servicedesk"), None);
        assert_eq!(
            serde_json::to_string(&a).expect("serializes"),
            r#"{"confluence":"2026-10-01T00:00:00Z","jira-software":"2026-11-01T00:00:00Z"}"#
        );
        assert!(serde_json::from_str::<Activity>("[]").is_err());
        assert!(serde_json::from_str::<Activity>(r#"{"x": "yesterday"}"#).is_err());
    }

    #[test]
    fn activity_keeps_the_latest_time_of_a_repeated_key() {
        let a: Activity = serde_json::from_str(
            r#"{"jira": "2026-11-01T00:00:00Z", "jira": "2026-09-01T00:00:00Z"}"#,
        )
        .expect("a map");
        assert_eq!(a.len(), 1);
        assert_eq!(a.get("jira"), Some(&t("2026-11-01T00:00:00Z")));

        let mut b = Activity::new();
        b.record("jira", t("2026-09-01T00:00:00Z"));
        b.record("jira", t("2026-11-01T00:00:00Z"));
        b.record("jira", t("2026-10-01T00:00:00Z"));
        b.record("confluence", t("2026-01-01T00:00:00Z"));
        assert_eq!(
            b,
            a.iter()
                .map(|(k, &v)| (k.clone(), v))
                .chain([("confluence".to_string(), t("2026-01-01T00:00:00Z"))])
                .collect()
        );
        b.insert("jira", t("2020-01-01T00:00:00Z"));
        assert_eq!(b.get("jira"), Some(&t("2020-01-01T00:00:00Z")));
        assert_eq!(b.values().count(), 2);
    }
}

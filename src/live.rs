//! Live state: the users, groups, activity and recent events of an Atlassian org, as read from
//! Atlassian Cloud, the sandbox or a snapshot file. The serde form of [`LiveState`] *is* the
//! snapshot format (DESIGN §5.1, `format_version` 1); fields are only ever added. Reading and
//! checking snapshot files lives in [`snapshot`].

pub mod snapshot;

pub use snapshot::{load_snapshot, parse_snapshot};

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_to_org: Option<DateTime<Utc>>,
    /// Last activity per product key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub last_active: BTreeMap<String, DateTime<Utc>>,
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
            users_by_id: state.users.iter().map(|u| (u.account_id.as_str(), u)).collect(),
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

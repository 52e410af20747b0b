//! The policy: which products seatkeeper manages, who may hold them (the safe users), when a seat
//! is reclaimed, and the safety rails. This module owns the validated model; [`raw`] holds the
//! serde types that mirror the YAML, [`validate`] turns raw files into a [`Policy`] while
//! collecting every problem as a [`Diagnostic`], and [`source`] reads a policy folder.

pub mod diagnostics;
pub mod raw;
pub mod source;
pub mod validate;
pub mod write;

pub use diagnostics::{render_diagnostics, Diagnostic, Severity};
pub use source::{DirFiles, PolicyFiles, MAIN_FILE};

use crate::live::AccountType;
use crate::time::Duration;
use chrono::NaiveDate;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A policy that passed validation, with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated policy.
    pub policy: Policy,
    /// Warnings (never errors), sorted by file, line and column.
    pub warnings: Vec<Diagnostic>,
    /// The files read: the main file first, then the included files by path.
    pub files: Vec<String>,
}

/// Loads and validates a policy: `seatkeeper.yaml` at the root of `files` and the files it
/// includes. On failure, every error found (and the warnings found with them) is returned at
/// once, sorted by file, line and column; render them with [`render_diagnostics`].
pub fn load(files: &dyn PolicyFiles) -> Result<Loaded, Vec<Diagnostic>> {
    validate::load(files)
}

/// [`load`] from a policy folder.
pub fn load_dir(path: impl AsRef<Path>) -> Result<Loaded, Vec<Diagnostic>> {
    load(&DirFiles::new(path.as_ref()))
}

/// Where something was written: a policy file relative to the policy root, and a 1-based line
/// and column.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Location {
    /// Path relative to the policy folder, with `/` separators. Shared: a policy holds
    /// hundreds of thousands of locations in a handful of files.
    #[serde(with = "shared_str")]
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl Location {
    /// A place in `file`.
    pub fn at(file: &str, line: u32, column: u32) -> Self {
        Self {
            file: Arc::from(file),
            line,
            column,
        }
    }

    /// A place in `file`, sharing the file name (no allocation).
    pub fn in_shared(file: &Arc<str>, line: u32, column: u32) -> Self {
        Self {
            file: Arc::clone(file),
            line,
            column,
        }
    }

    /// The whole of `file` (line and column 0).
    pub fn whole_file(file: &str) -> Self {
        Self::at(file, 0, 0)
    }
}

/// Serde for [`Location::file`]: a plain string.
mod shared_str {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::sync::Arc;

    pub fn serialize<S: Serializer>(value: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
        String::deserialize(d).map(Arc::from)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A validated policy (format version 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The Jira/Confluence site, like `acme.atlassian.net`.
    pub site: String,
    /// The organization id; when set, activity data and events come from the admin API.
    pub org: Option<String>,
    /// Managed products, sorted by key.
    pub products: Vec<Product>,
    /// The safe users, in file order (main file first, then includes in path order).
    pub users: Vec<SafeUser>,
    /// Members of these live groups are safe users for every product.
    pub eligible_groups: Vec<String>,
    /// Accounts seatkeeper never removes.
    pub keep: Vec<Selector>,
    /// Accounts seatkeeper never touches and never reports.
    pub ignore: Vec<Selector>,
    /// The audit log path, relative to the policy folder.
    pub audit_log: String,
    /// Safety rails.
    pub safety: Safety,
}

impl Policy {
    /// The product with this key.
    pub fn product(&self, key: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.key == key)
    }
}

/// One managed product and the groups that grant it.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// The product key (`jira-software`, `confluence`, ...), also the key of `last_active`.
    pub key: String,
    /// Groups granting this product; additions go to the first.
    pub groups: Vec<String>,
    /// Seat budget: additions beyond it are blocked.
    pub seats: Option<u32>,
    /// Reclaim a seat after this long without activity.
    pub inactivity: Option<Duration>,
    /// List seats that will be reclaimed within this window.
    pub notice: Option<Duration>,
    /// New grants are not reclaimed within this window (activity data lags).
    pub grace: Duration,
    /// What to do with changes made outside seatkeeper.
    pub drift: Drift,
    /// Members of these live groups may hold this product (beside the policy-wide list).
    pub eligible_groups: Vec<String>,
    /// A login after a reclaim of this product restores it.
    pub restore_on_login: bool,
    /// Where the product is declared.
    pub location: Location,
}

/// The default `grace`: activity data lags up to a day.
pub const DEFAULT_GRACE: Duration = Duration::days(1);

/// What to do about memberships that disagree with the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Drift {
    /// Plan actions that put the group back in line with the policy.
    #[default]
    Revert,
    /// Only report the difference as notices.
    Report,
}

/// How a safe user is identified.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UserRef {
    /// By email, stored lowercase.
    Email(String),
    /// By Atlassian account id.
    AccountId(String),
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserRef::Email(e) => f.write_str(e),
            UserRef::AccountId(a) => write!(f, "account {a}"),
        }
    }
}

/// One entry of `users:`: who may hold which products.
#[derive(Debug, Clone, PartialEq)]
pub struct SafeUser {
    /// Who.
    pub who: UserRef,
    /// Products this user may hold; `None` means every product.
    pub products: Option<Vec<String>>,
    /// The grant expires at the end of this day (UTC).
    pub until: Option<NaiveDate>,
    /// A fresh request: restores a reclaimed seat and counts as activity.
    pub requested: Option<NaiveDate>,
    /// Where the entry is written.
    pub location: Location,
}

impl SafeUser {
    /// Whether this entry covers `product` (ignoring `until`).
    pub fn covers(&self, product: &str) -> bool {
        self.products
            .as_ref()
            .is_none_or(|ps| ps.iter().any(|p| p == product))
    }
}

/// An entry of `keep:` or `ignore:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// What the entry matches.
    pub matcher: Matcher,
    /// Where the entry is written.
    pub location: Location,
}

/// What a `keep`/`ignore` entry matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// An email, lowercase.
    Email(String),
    /// An account id.
    AccountId(String),
    /// Members of a live group (by name).
    Group(String),
    /// Every account of a type.
    AccountType(AccountType),
}

/// A limit written as an absolute count (`10`) or a share of current members (`10%`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// At most this many.
    Count(u32),
    /// At most this percentage (0–100) of the product's current members, rounded down.
    Percent(f64),
}

impl Limit {
    /// The largest allowed number given `base` current members.
    pub fn resolve(self, base: usize) -> usize {
        match self {
            Limit::Count(n) => n as usize,
            Limit::Percent(p) => ((base as f64) * p / 100.0).floor() as usize,
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Count(n) => write!(f, "{n}"),
            Limit::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// The safety rails.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Safety {
    /// Per product: block all removals when more than this many are planned.
    pub max_removals: Option<Limit>,
    /// Per product: block additions beyond this many.
    pub max_additions: Option<Limit>,
    /// Groups whose last member is never removed (`last-admin`). Default: `site-admins`,
    /// `org-admins` and any group whose name contains `-admins`.
    pub admin_groups: Option<Vec<String>>,
}

impl Safety {
    /// Whether `group` is an admin group for the `last-admin` rail.
    pub fn is_admin_group(&self, group: &str) -> bool {
        match &self.admin_groups {
            Some(groups) => groups.iter().any(|g| g == group),
            None => group == "site-admins" || group == "org-admins" || group.contains("-admins"),
        }
    }
}

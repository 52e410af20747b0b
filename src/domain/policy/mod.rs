//! The policy: which products seatkeeper manages, who may hold them (the safe users), when a seat
//! is reclaimed, and the safety rails. This module owns the validated model; [`raw`] holds the
//! serde types that mirror the YAML, [`validate`] turns raw files into a [`Policy`] while
//! collecting every problem as a [`Diagnostic`], and [`source`] reads a policy folder.

pub mod notify;
pub mod raw;
pub mod source;
pub mod validate;
pub mod write;

pub use crate::diagnostics::{render_diagnostics, Diagnostic, Location, Severity};
pub use source::{PolicyFiles, MAIN_FILE};

use crate::live::AccountType;
use crate::time::Duration;
use chrono::NaiveDate;
use std::fmt;

/// The shortest event window a live read takes: with no inactivity rule, or only short ones,
/// 30 days of logins and access requests are still read (they are demand after a reclaim).
pub const MIN_EVENT_DAYS: i64 = 30;

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
///
/// Dates are checked against today's date (UTC) by the wall clock; use [`load_at`] to check
/// them against another day (the day a plan is made for).
pub fn load(files: &dyn PolicyFiles) -> Result<Loaded, Vec<Diagnostic>> {
    load_at(files, chrono::Utc::now().date_naive())
}

/// [`load`], with `today` as the date that `requested:` dates may not be after.
pub fn load_at(files: &dyn PolicyFiles, today: NaiveDate) -> Result<Loaded, Vec<Diagnostic>> {
    validate::load(files, today)
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
    /// `notify:`: email and chat, when set.
    pub notify: Option<notify::Notify>,
}

impl Policy {
    /// Every group the policy names: each product's groups and eligible groups, the policy-wide
    /// `eligible_groups`, `keep`/`ignore` group entries and explicit admin groups; sorted, once
    /// each. What a live read must read the members of.
    pub fn named_groups(&self) -> Vec<String> {
        let mut groups: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
        for p in &self.products {
            groups.extend(p.groups.iter().map(String::as_str));
            groups.extend(p.eligible_groups.iter().map(String::as_str));
        }
        groups.extend(self.eligible_groups.iter().map(String::as_str));
        for sel in self.keep.iter().chain(&self.ignore) {
            if let Matcher::Group(g) = &sel.matcher {
                groups.insert(g);
            }
        }
        if let Some(admin) = &self.safety.admin_groups {
            groups.extend(admin.iter().map(String::as_str));
        }
        groups.into_iter().map(str::to_string).collect()
    }

    /// The safe users named by email, sorted, once each.
    pub fn safe_emails(&self) -> Vec<String> {
        let emails: std::collections::BTreeSet<&str> = self
            .users
            .iter()
            .filter_map(|u| match &u.who {
                UserRef::Email(e) => Some(e.as_str()),
                UserRef::AccountId(_) => None,
            })
            .collect();
        emails.into_iter().map(str::to_string).collect()
    }

    /// The safe users named by account id, sorted, once each.
    pub fn safe_account_ids(&self) -> Vec<String> {
        let ids: std::collections::BTreeSet<&str> = self
            .users
            .iter()
            .filter_map(|u| match &u.who {
                UserRef::AccountId(a) => Some(a.as_str()),
                UserRef::Email(_) => None,
            })
            .collect();
        ids.into_iter().map(str::to_string).collect()
    }

    /// How far back the events a plan needs reach: the longest `inactivity + grace + notice`
    /// of any product with an inactivity rule (DESIGN §4: a membership that began earlier
    /// cannot protect a seat anyway), and at least [`MIN_EVENT_DAYS`].
    pub fn events_window(&self) -> chrono::TimeDelta {
        let floor = chrono::TimeDelta::days(MIN_EVENT_DAYS);
        self.products
            .iter()
            .filter_map(|p| {
                let inactivity = p.inactivity?.as_seconds();
                let notice = p.notice.map_or(0, |n| n.as_seconds());
                let total = inactivity
                    .saturating_add(p.grace.as_seconds())
                    .saturating_add(notice);
                Some(chrono::TimeDelta::try_seconds(total).unwrap_or(chrono::TimeDelta::MAX))
            })
            .fold(floor, chrono::TimeDelta::max)
    }

    /// The start of the event window of a plan made for `at`: `at` minus
    /// [`Policy::events_window`], never before 1970 (the events API takes epoch milliseconds).
    pub fn events_window_start(
        &self,
        at: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        at.checked_sub_signed(self.events_window())
            .unwrap_or(chrono::DateTime::UNIX_EPOCH)
            .max(chrono::DateTime::UNIX_EPOCH)
    }

    /// The product with this key.
    pub fn product(&self, key: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.key == key)
    }

    /// The live groups whose members may hold `product_key`: the top-level `eligible_groups`
    /// (every product) first, then the product's own `eligible_groups`, each group once. Only
    /// the top-level list for a key the policy does not declare.
    pub fn eligible_groups_for<'a>(&'a self, product_key: &str) -> impl Iterator<Item = &'a str> {
        let own = self
            .product(product_key)
            .map_or(&[][..], |p| p.eligible_groups.as_slice());
        let global = &self.eligible_groups;
        global.iter().map(String::as_str).chain(
            own.iter()
                .enumerate()
                .filter(move |(i, g)| !global.contains(g) && !own[..*i].contains(g))
                .map(|(_, g)| g.as_str()),
        )
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
    /// Members of these live groups may hold this product (besides the top-level
    /// [`Policy::eligible_groups`], which grant every product); each group once, in file order.
    /// See [`Policy::eligible_groups_for`].
    pub eligible_groups: Vec<String>,
    /// Whether a login after a reclaim of this product is demand that restores it (default
    /// `true`).
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
///
/// A loaded policy always has both limits: what `safety:` says, or the default
/// ([`Safety::DEFAULT_MAX_REMOVALS`], [`Safety::DEFAULT_MAX_ADDITIONS`]) for a rail it does not
/// write, listed in [`Safety::defaulted`]. `None` (no rail at all) only comes from policies
/// built in code; [`Safety::default`] is such a policy, not the loaded defaults
/// ([`Safety::defaults`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Safety {
    /// Per product: block all removals when more than this many are planned.
    pub max_removals: Option<Limit>,
    /// Per product: block additions beyond this many.
    pub max_additions: Option<Limit>,
    /// Groups whose last member is never removed (`last-admin`). Default: `site-admins`,
    /// `org-admins` and any group whose name contains `-admins`.
    pub admin_groups: Option<Vec<String>>,
    /// The rails that took their default because the policy does not write them:
    /// `"max_removals"`, `"max_additions"`, in that order.
    pub defaulted: Vec<&'static str>,
}

impl Safety {
    /// `max_removals` when the policy does not write it: 10% of a product's holders, and at
    /// least 1 (see [`Safety::max_removals_for`]).
    pub const DEFAULT_MAX_REMOVALS: Limit = Limit::Percent(10.0);

    /// `max_additions` when the policy does not write it.
    pub const DEFAULT_MAX_ADDITIONS: Limit = Limit::Count(100);

    /// The rails of a policy without a `safety:` block.
    pub fn defaults() -> Self {
        Self {
            max_removals: Some(Self::DEFAULT_MAX_REMOVALS),
            max_additions: Some(Self::DEFAULT_MAX_ADDITIONS),
            admin_groups: None,
            defaulted: vec!["max_removals", "max_additions"],
        }
    }

    /// The rails that took their default, in words for `validate` and the plan header, or
    /// `None` when the policy writes both.
    pub fn defaults_words(&self) -> Option<String> {
        if self.defaulted.is_empty() {
            return None;
        }
        let rails: Vec<String> = self
            .defaulted
            .iter()
            .map(|rail| match *rail {
                "max_removals" => format!(
                    "max_removals {} of a product's holders (at least 1)",
                    Self::DEFAULT_MAX_REMOVALS
                ),
                other => format!("{other} {}", Self::DEFAULT_MAX_ADDITIONS),
            })
            .collect();
        Some(format!(
            "safety defaults apply: {}; write them under `safety:` to choose your own",
            rails.join(", ")
        ))
    }

    /// Whether `rail` (`"max_removals"` or `"max_additions"`) took its default.
    pub fn is_defaulted(&self, rail: &str) -> bool {
        self.defaulted.contains(&rail)
    }

    /// The `max_removals` rail for a product with `holders` current holders: the limit and how
    /// many accounts may lose the product, or `None` when there is no rail. A percentage rounds
    /// down; the default (10%) allows at least 1, so a small product can still lose one
    /// holder, while a written `10%` keeps its round-down.
    pub fn max_removals_for(&self, holders: usize) -> Option<(Limit, usize)> {
        let limit = self.max_removals?;
        let allowed = limit.resolve(holders);
        if self.is_defaulted("max_removals") {
            Some((limit, allowed.max(1)))
        } else {
            Some((limit, allowed))
        }
    }

    /// The `max_additions` rail for a product with `holders` current holders: the limit and how
    /// many accounts may gain the product, or `None` when there is no rail.
    pub fn max_additions_for(&self, holders: usize) -> Option<(Limit, usize)> {
        let limit = self.max_additions?;
        Some((limit, limit.resolve(holders)))
    }

    /// Whether `group` is an admin group for the `last-admin` rail.
    pub fn is_admin_group(&self, group: &str) -> bool {
        match &self.admin_groups {
            Some(groups) => groups.iter().any(|g| g == group),
            None => group == "site-admins" || group == "org-admins" || group.contains("-admins"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(products: &str) -> Policy {
        let text =
            format!("version: 1\nsite: acme.atlassian.net\norg: org-1\nproducts:\n{products}");
        let files = source::MemFiles::new().with(MAIN_FILE, text);
        match load(&files) {
            Ok(loaded) => loaded.policy,
            Err(ds) => panic!("{ds:?}"),
        }
    }

    fn at() -> chrono::DateTime<chrono::Utc> {
        "2026-11-25T08:00:00Z".parse().unwrap()
    }

    #[test]
    fn the_event_window_is_the_longest_inactivity_grace_and_notice() {
        // jira: 90d + 2d + 14d = 106 days; confluence: 120d + 1d (default grace) = 121 days.
        let p = policy(
            "  jira-software:\n    groups: [jira-users]\n    inactivity: 90d\n    grace: 2d\n    notice: 14d\n  confluence:\n    groups: [confluence-users]\n    inactivity: 120d\n",
        );
        assert_eq!(p.events_window(), chrono::TimeDelta::days(121));
        assert_eq!(
            p.events_window_start(at()),
            at() - chrono::TimeDelta::days(121)
        );

        // Hours of grace count too: 20w + 36h + 4w.
        let p = policy(
            "  jira-software:\n    groups: [jira-users]\n    inactivity: 20w\n    grace: 36h\n    notice: 4w\n",
        );
        assert_eq!(
            p.events_window(),
            chrono::TimeDelta::days(24 * 7) + chrono::TimeDelta::hours(36)
        );
    }

    #[test]
    fn the_event_window_is_at_least_30_days() {
        let none = policy("  confluence:\n    groups: [confluence-users]\n");
        assert_eq!(
            none.events_window(),
            chrono::TimeDelta::days(MIN_EVENT_DAYS)
        );
        let short = policy(
            "  confluence:\n    groups: [confluence-users]\n    inactivity: 7d\n    notice: 7d\n",
        );
        assert_eq!(short.events_window(), chrono::TimeDelta::days(30));
        // Counted back from the plan's time, whatever the wall clock says.
        let past: chrono::DateTime<chrono::Utc> = "2020-01-31T00:00:00Z".parse().unwrap();
        assert_eq!(
            none.events_window_start(past),
            "2020-01-01T00:00:00Z"
                .parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap()
        );
        // Never before the epoch the events API counts from.
        let early: chrono::DateTime<chrono::Utc> = "1970-01-10T00:00:00Z".parse().unwrap();
        assert_eq!(
            none.events_window_start(early),
            chrono::DateTime::UNIX_EPOCH
        );
    }
}

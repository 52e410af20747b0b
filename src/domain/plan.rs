//! The plan: the ordered membership changes the planner proposes, each with the rule and the
//! evidence behind it, plus blocked actions, notices, a seat summary and the fingerprint of every
//! touched group. A plan is data: renderers read it and `apply` executes it.
//!
//! The JSON form (`plan --format json` and saved plan files) is a contract (DESIGN §5.1). It
//! carries `format_version`, and fields are only ever added.

use crate::diagnostics::Location;
use crate::live::EventsRead;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

/// The plan format version this build writes and reads.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// A complete plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Always [`PLAN_FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// The site the plan is for.
    pub site: String,
    /// The git commit of the policy, when the policy lives in git.
    #[serde(default)]
    pub policy_commit: Option<String>,
    /// True when the policy work tree had uncommitted changes.
    #[serde(default)]
    pub policy_dirty: bool,
    /// The policy folder the plan was made from (an absolute path), so that `apply PLAN`
    /// finds it without `--policy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_dir: Option<String>,
    /// The `now` the plan was made for.
    pub generated_at: DateTime<Utc>,
    /// Changes to make, sorted by (product, group, kind, email, account id).
    pub actions: Vec<Action>,
    /// Changes the rules want but a rail blocks; never attempted.
    #[serde(default)]
    pub blocked: Vec<Blocked>,
    /// Things an admin should know that need no change now.
    #[serde(default)]
    pub notices: Vec<Notice>,
    /// Memberships granted outside seatkeeper after a reclaim; `apply` records them in the ledger.
    #[serde(default)]
    pub observed: Vec<Observation>,
    /// Seats per product before and after the plan.
    pub seats: BTreeMap<String, Seats>,
    /// Group id → fingerprint of its live members, for every group an action touches.
    pub fingerprint: BTreeMap<String, String>,
    /// Non-fatal problems met while planning: policy lines that match nothing live, a lenient
    /// ledger read, seats billed another way. Each has a stable code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// Reclaim dates this plan announces for the first time (or moves later); `apply` records
    /// them in the audit log, even when the plan has no actions, so the dates hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub announce: Vec<Announcement>,
    /// Access requests from people the policy does not let hold the product, each with the
    /// policy line that would grant it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<AccessRequest>,
    /// How far back the live events reached, when the reader said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<EventsRead>,
    /// The safety rails that took their default because the policy does not write them
    /// (`max_removals`, `max_additions`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub safety_defaults: Vec<String>,
    /// The audit log held no line: seats past their window are announced, not reclaimed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_run: bool,
}

impl Plan {
    /// Whether applying the plan would change anything: actions, or lines for the ledger
    /// (observations and announcements).
    pub fn has_changes(&self) -> bool {
        !self.actions.is_empty() || !self.observed.is_empty() || !self.announce.is_empty()
    }

    /// Number of additions and removals.
    pub fn counts(&self) -> (usize, usize) {
        let adds = self
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::Add)
            .count();
        (adds, self.actions.len() - adds)
    }

    /// A stable id: the SHA-256 of the plan's JSON, shortened.
    pub fn id(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&json);
        hex::encode(&digest[..8])
    }
}

/// A problem met while planning that an admin should fix; it changes no action by itself.
/// The code is stable: the same in plan, explain and `validate --live`. A plan saved by an
/// earlier version, whose warnings were plain text, reads back with the code `warning`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "WarningForm")]
pub struct Warning {
    /// Stable kebab-case code, like `unmatched-user` or `unknown-group`.
    pub code: String,
    /// The policy line that causes it, when one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// How a warning is read: the structured form, or the plain text of earlier plans.
#[derive(Deserialize)]
#[serde(untagged)]
enum WarningForm {
    Text(String),
    Full {
        code: String,
        #[serde(default)]
        location: Option<Location>,
        message: String,
        #[serde(default)]
        hint: Option<String>,
    },
}

impl From<WarningForm> for Warning {
    fn from(form: WarningForm) -> Self {
        match form {
            WarningForm::Text(message) => Warning::new("warning", message),
            WarningForm::Full {
                code,
                location,
                message,
                hint,
            } => Warning {
                code,
                location,
                message,
                hint,
            },
        }
    }
}

impl Warning {
    /// A warning with no location or hint.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_string(),
            location: None,
            message: message.into(),
            hint: None,
        }
    }

    /// The same warning, located at `location`.
    pub fn at(mut self, location: &Location) -> Self {
        self.location = Some(location.clone());
        self
    }

    /// The same warning, with a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// `[code] file:line:column: message (hint)`: one line, as logs and reports show it.
impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] ", self.code)?;
        if let Some(at) = &self.location {
            write!(f, "{at}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Add or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Add the account to the group.
    Add,
    /// Remove the account from the group.
    Remove,
}

impl ActionKind {
    /// The terraform-style symbol: `+` or `-`.
    pub fn symbol(self) -> char {
        match self {
            ActionKind::Add => '+',
            ActionKind::Remove => '-',
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Add => "add",
            ActionKind::Remove => "remove",
        }
    }
}

/// One membership change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Add or remove.
    pub kind: ActionKind,
    /// Product key.
    pub product: String,
    /// Group name.
    pub group: String,
    /// Group id.
    pub group_id: String,
    /// Account id.
    pub account_id: String,
    /// Email, when known.
    #[serde(default)]
    pub email: Option<String>,
    /// The rule that caused the action.
    pub rule: Rule,
    /// Why, in words: "inactive since 2026-07-01 (147 days > 90d)".
    pub reason: String,
    /// The evidence behind the rule.
    #[serde(default)]
    pub evidence: Evidence,
}

impl Action {
    /// The email if known, else the account id: how the action names its user.
    pub fn who(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.account_id)
    }

    /// The deterministic sort key of DESIGN §4: (product, group, kind, email, account id).
    pub fn sort_key(&self) -> (&str, &str, ActionKind, &str, &str) {
        (
            &self.product,
            &self.group,
            self.kind,
            self.email.as_deref().unwrap_or(""),
            &self.account_id,
        )
    }
}

/// An action a safety rail blocked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blocked {
    /// The action that would have run.
    #[serde(flatten)]
    pub action: Action,
    /// The rail that blocked it.
    pub rail: Rail,
    /// Why the rail applies: "seat budget 250 reached".
    pub rail_detail: String,
}

/// The rule behind an action or decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Not a safe user for the product.
    NotEligible,
    /// The safe-user entry's `until` has passed.
    Expired,
    /// The account is closed or deactivated.
    AccountClosed,
    /// No activity for longer than the product's `inactivity`.
    Inactive,
    /// A safe user without the product.
    Eligible,
    /// A safe user whose `requested` date is demand.
    Requested,
    /// A safe user who logged in (or asked for access) after a reclaim.
    LoggedIn,
    /// Matched by `keep`.
    Kept,
    /// A membership changed outside seatkeeper.
    Drift,
}

impl Rule {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::NotEligible => "not-eligible",
            Rule::Expired => "expired",
            Rule::AccountClosed => "account-closed",
            Rule::Inactive => "inactive",
            Rule::Eligible => "eligible",
            Rule::Requested => "requested",
            Rule::LoggedIn => "logged-in",
            Rule::Kept => "kept",
            Rule::Drift => "drift",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A safety rail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rail {
    /// The product's `seats` budget is reached.
    SeatBudget,
    /// More removals than `safety.max_removals` allows.
    MaxRemovals,
    /// More additions than `safety.max_additions` allows.
    MaxAdditions,
    /// The account running seatkeeper.
    #[serde(rename = "self")]
    SelfAccount,
    /// The last member of an admin group.
    LastAdmin,
    /// The group is synced from an identity provider.
    SyncedGroup,
    /// The product's licence has no seat left after the plan's removals.
    LicenceLimit,
    /// `notify.before_reclaim`: the person's `reclaim-soon` email was not accepted at least
    /// the product's `notice` before (or not at all yet).
    NotNotified,
}

impl Rail {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rail::SeatBudget => "seat-budget",
            Rail::MaxRemovals => "max-removals",
            Rail::MaxAdditions => "max-additions",
            Rail::SelfAccount => "self",
            Rail::LastAdmin => "last-admin",
            Rail::SyncedGroup => "synced-group",
            Rail::LicenceLimit => "licence-limit",
            Rail::NotNotified => "not-notified",
        }
    }
}

impl fmt::Display for Rail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the activity evidence of a decision was.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Which fact was the latest activity.
    pub source: EvidenceSource,
    /// When, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// The user's safe-user entry, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<Location>,
    /// The product's own last-active time, whatever decided (DESIGN §4: always shown beside
    /// the evidence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_active: Option<DateTime<Utc>>,
}

/// The source of the latest activity evidence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceSource {
    /// No activity evidence was needed or known.
    #[default]
    None,
    /// Last-active time for the product.
    LastActive,
    /// When the current membership began (ledger or group-addition event).
    MembershipBegan,
    /// The entry's `requested` date.
    Requested,
    /// A login event.
    Login,
    /// An access-request event.
    AccessRequest,
    /// The added-to-org date (only when nothing else is known).
    AddedToOrg,
    /// The policy entry (eligibility, expiry) or account status.
    Policy,
}

impl EvidenceSource {
    /// Words for humans.
    pub fn describe(self) -> &'static str {
        match self {
            EvidenceSource::None => "no activity data",
            EvidenceSource::LastActive => "last active",
            EvidenceSource::MembershipBegan => "membership began",
            EvidenceSource::Requested => "requested",
            EvidenceSource::Login => "logged in",
            EvidenceSource::AccessRequest => "requested access",
            EvidenceSource::AddedToOrg => "added to org",
            EvidenceSource::Policy => "policy",
        }
    }
}

/// Something worth knowing that needs no change now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// What kind of notice.
    pub kind: NoticeKind,
    /// Product key.
    pub product: String,
    /// Account id.
    pub account_id: String,
    /// Email, when known.
    #[serde(default)]
    pub email: Option<String>,
    /// Details in words.
    pub detail: String,
    /// The relevant date (reclaim date for `reclaim-soon`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// `reclaim-soon`: the person's name, for the email that tells them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `reclaim-soon`: the evidence the reclaim rests on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

/// Kinds of notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeKind {
    /// The seat will be reclaimed within the product's `notice` window.
    ReclaimSoon,
    /// A safe user without the product and without demand since a reclaim.
    Dormant,
    /// `drift: report`: a change the policy wants but that is only reported.
    Drift,
}

impl NoticeKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::ReclaimSoon => "reclaim-soon",
            NoticeKind::Dormant => "dormant",
            NoticeKind::Drift => "drift",
        }
    }
}

/// A membership granted outside seatkeeper after a reclaim, which `apply` records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Product key.
    pub product: String,
    /// Group name.
    pub group: String,
    /// Group id.
    pub group_id: String,
    /// Account id.
    pub account_id: String,
    /// Email, when known.
    #[serde(default)]
    pub email: Option<String>,
}

/// A reclaim date announced by a plan, which `apply` records in the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Announcement {
    /// Product key.
    pub product: String,
    /// Account id.
    pub account_id: String,
    /// Email, when known.
    #[serde(default)]
    pub email: Option<String>,
    /// The seat is reclaimed on this date unless the user is active on the product before.
    pub reclaim_on: DateTime<Utc>,
    /// Why, in words (the notice's detail).
    #[serde(default)]
    pub detail: String,
}

/// An access request from someone the policy does not let hold the product: awaiting approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessRequest {
    /// Product key.
    pub product: String,
    /// Account id.
    pub account_id: String,
    /// Email, when known.
    #[serde(default)]
    pub email: Option<String>,
    /// When the request was made (the latest, if several).
    pub requested_at: DateTime<Utc>,
    /// Why the policy does not grant it now (`not-eligible` or `expired`).
    pub rule: Rule,
    /// The `users:` entry that would grant it, ready to paste into a pull request.
    pub policy_line: String,
    /// The existing entry the line replaces, if the user has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Location>,
}

/// Seats of one product, as Atlassian bills them: active accounts holding the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seats {
    /// Billable holders now: active accounts in any grant group (ignored accounts included,
    /// and members the live state does not list, whose status is unknown).
    pub before: usize,
    /// Billable holders after the plan's actions.
    pub after: usize,
    /// The policy's budget, if any; additions beyond it are blocked.
    #[serde(default)]
    pub budget: Option<u32>,
    /// Members who are not billed (suspended, deactivated or closed accounts), shown apart.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_billed: usize,
    /// Seats Atlassian licenses for the product, when known: additions beyond it are blocked
    /// (`licence-limit`), and apply starts additions only as removals free seats under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licensed: Option<u32>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The fingerprint of a group's membership: `sha256:` and the hex digest of its sorted member ids.
pub fn fingerprint_members<'a>(members: impl IntoIterator<Item = &'a str>) -> String {
    let mut ids: Vec<&str> = members.into_iter().collect();
    // Snapshots and Atlassian list members in id order already, and a sorted list sorts in
    // linear time.
    ids.sort_unstable();
    ids.dedup();
    let mut hasher = Sha256::new();
    for id in ids {
        hasher.update(id.as_bytes());
        hasher.update(b"\n");
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// What `explain` reports about one user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// Account id.
    pub account_id: String,
    /// Email, when known.
    pub email: Option<String>,
    /// Display name.
    pub name: String,
    /// Account status.
    pub status: String,
    /// Account type.
    pub account_type: String,
    /// One decision per managed product, in product order.
    pub products: Vec<Decision>,
}

/// The planner's decision for one (user, product).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Product key.
    pub product: String,
    /// Grant groups the user is in now.
    pub groups_now: Vec<String>,
    /// Whether the user holds the product now.
    pub holds_now: bool,
    /// Whether the user will hold it after the plan (blocked actions do not run).
    pub holds_after: bool,
    /// What happens.
    pub outcome: Outcome,
    /// The rule behind the outcome, if one applies.
    pub rule: Option<Rule>,
    /// Why, in words.
    pub reason: String,
    /// The activity evidence and the policy entry.
    pub evidence: Evidence,
    /// When the seat would be reclaimed if nothing changes, for holders under an inactivity rule.
    pub reclaim_at: Option<DateTime<Utc>>,
    /// `reclaim_at` was announced by an applied plan, so it holds.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reclaim_announced: bool,
}

/// What happens to one (user, product).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Holds it and keeps it.
    Keep,
    /// Gets it.
    Add,
    /// Loses it.
    Remove,
    /// Neither holds nor gets it.
    None,
    /// Dormant: eligible but not re-granted without new demand.
    Dormant,
    /// A rail blocks the change.
    Blocked(Rail),
    /// `drift: report`: the change is only reported.
    Reported,
    /// Matched by `ignore`: never touched.
    Ignored,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_ignores_order_and_duplicates() {
        let a = fingerprint_members(["b", "a", "a"]);
        assert_eq!(a, fingerprint_members(["a", "b"]));
        assert_ne!(a, fingerprint_members(["a"]));
        assert!(a.starts_with("sha256:"));
    }

    #[test]
    fn fingerprint_hashes_the_ids_in_byte_order() {
        let ids = [
            "5b10ac8d82e05b22cc7d4ef5",
            "5b10ac8d82e05b22cc7d4ef4",
            "5b10ac8d",
            "5b10ac8",
            "5b10ac8\u{0}",
            "5b10ac8\u{0}x",
            "",
            "z",
            "Z",
            "ü",
            "5b10ac8d",
        ];
        let mut sorted: Vec<&str> = ids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut hasher = Sha256::new();
        for id in sorted {
            hasher.update(id.as_bytes());
            hasher.update(b"\n");
        }
        let expected = format!("sha256:{}", hex::encode(hasher.finalize()));
        assert_eq!(fingerprint_members(ids), expected);
        assert_eq!(fingerprint_members(ids.iter().rev().copied()), expected);
    }

    #[test]
    fn warnings_of_earlier_plans_read_back_as_text() {
        let old: Vec<Warning> =
            serde_json::from_str(r#"["audit log line 3: skipped"]"#).expect("reads");
        assert_eq!(old[0].code, "warning");
        assert_eq!(old[0].message, "audit log line 3: skipped");
        let new = Warning::new("unknown-group", "g").hint("h");
        let back: Warning =
            serde_json::from_str(&serde_json::to_string(&new).expect("json")).expect("reads");
        assert_eq!(back, new);
    }
}

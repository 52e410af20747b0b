//! The JSON plan: `plan --format json` and the saved plan file that `apply` executes.
//!
//! # The contract
//!
//! The output is exactly the serde form of [`Plan`], pretty-printed, followed by a newline. It is
//! described field by field in `schema/plan.schema.json` (JSON Schema draft 2020-12), and a test
//! validates rendered plans against that schema. Fields are only ever *added*: consumers must
//! ignore fields they do not know, and `format_version` changes only if a field changes meaning.
//!
//! ```json
//! {
//!   "format_version": 1,
//!   "site": "acme.atlassian.net",
//!   "policy_commit": "9f1c2ab3d4e5f60718293a4b5c6d7e8f90a1b2c3",
//!   "policy_dirty": false,
//!   "generated_at": "2026-11-25T08:00:00Z",
//!   "actions": [
//!     {
//!       "kind": "remove",
//!       "product": "jira-software",
//!       "group": "jira-software-users-acme",
//!       "group_id": "a1b2c3",
//!       "account_id": "5b10ac8d82e05b22cc7d4ef5",
//!       "email": "bob@x.io",
//!       "rule": "inactive",
//!       "reason": "inactive since 2026-07-01 (147 days > 90d)",
//!       "evidence": {
//!         "source": "last-active",
//!         "at": "2026-07-01T00:00:00Z",
//!         "entry": { "file": "teams/eng.yaml", "line": 12, "column": 5 }
//!       }
//!     }
//!   ],
//!   "blocked": [
//!     { "kind": "add", "product": "jira-software", "group": "jira-software-users-acme",
//!       "group_id": "a1b2c3", "account_id": "5b10...", "email": "dave@acme.com",
//!       "rule": "eligible", "reason": "eligible", "evidence": { "source": "none" },
//!       "rail": "seat-budget", "rail_detail": "seat budget 250 reached" }
//!   ],
//!   "notices": [
//!     { "kind": "reclaim-soon", "product": "jira-software", "account_id": "5b10...",
//!       "email": "erin@acme.com", "detail": "reclaimed on 2026-12-03 unless active",
//!       "at": "2026-12-03T00:00:00Z" }
//!   ],
//!   "observed": [
//!     { "product": "jira-software", "group": "jira-software-users-acme", "group_id": "a1b2c3",
//!       "account_id": "5b10...", "email": "ivan@acme.com" }
//!   ],
//!   "seats": { "jira-software": { "before": 212, "after": 211, "budget": 250 } },
//!   "fingerprint": { "a1b2c3": "sha256:…" },
//!   "warnings": [
//!     { "code": "unmatched-user", "location": { "file": "teams/eng.yaml", "line": 3, "column": 5 },
//!       "message": "safe-user entry bob.bernrad@acme.com matches no account of the org: it grants nothing",
//!       "hint": "closest emails in the org: bob.bernard@acme.com" }
//!   ],
//!   "summary": { "add": 0, "remove": 1, "blocked": 1, "notices": 1, "announce": 0,
//!     "observed": 1, "requests": 0, "warnings": 1, "has_changes": true }
//! }
//! ```
//!
//! `summary` counts what the plan holds, for scripts and CI; it is written by `--format json`
//! and ignored when a plan is read back (the saved plan `plan --out` writes has none).
//!
//! - `kind` (actions and blocked): `add` | `remove`.
//! - `rule`: `not-eligible`, `expired`, `account-closed`, `inactive`, `eligible`, `requested`,
//!   `logged-in`, `kept`, `drift`.
//! - `rail`: `seat-budget`, `max-removals`, `max-additions`, `self`, `last-admin`,
//!   `synced-group`. A blocked entry is an action with `rail` and `rail_detail` added.
//! - `notices[].kind`: `reclaim-soon`, `dormant`, `drift`.
//! - `evidence.source`: `none`, `last-active`, `membership-began`, `requested`, `login`,
//!   `access-request`, `added-to-org`, `policy`.
//! - Times are RFC 3339 in UTC. `email`, `policy_commit` and `budget` are `null` when unknown;
//!   `evidence.at`, `evidence.entry`, `notices[].at` and `warnings` are omitted when empty.
//! - `actions` are sorted by (product, group, kind, email, account id); `reason`, `rail_detail`
//!   and `detail` are for humans and never drive `apply`.

use super::write_json;
use crate::plan::Plan;
use serde::Serialize;
use std::io::{self, Write};

/// The counts of a plan, for scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Additions to execute.
    pub add: usize,
    /// Removals to execute.
    pub remove: usize,
    /// Changes a rail holds back.
    pub blocked: usize,
    /// Notices (reclaims soon, dormant people, drift).
    pub notices: usize,
    /// Reclaim dates announced for the first time.
    pub announce: usize,
    /// Memberships granted outside seatkeeper, recorded by apply.
    pub observed: usize,
    /// Access requests awaiting approval.
    pub requests: usize,
    /// Warnings.
    pub warnings: usize,
    /// Whether apply would change anything (`--detailed-exitcode` exits 2).
    pub has_changes: bool,
}

impl Summary {
    /// The counts of `plan`.
    pub fn of(plan: &Plan) -> Self {
        let (add, remove) = plan.counts();
        Self {
            add,
            remove,
            blocked: plan.blocked.len(),
            notices: plan.notices.len(),
            announce: plan.announce.len(),
            observed: plan.observed.len(),
            requests: plan.requests.len(),
            warnings: plan.warnings.len(),
            has_changes: plan.has_changes(),
        }
    }
}

#[derive(Serialize)]
struct WithSummary<'a> {
    #[serde(flatten)]
    plan: &'a Plan,
    summary: Summary,
}

/// Writes `plan` as pretty JSON with a trailing newline (the contract above), its summary last.
pub fn render(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    write_json(
        &WithSummary {
            plan,
            summary: Summary::of(plan),
        },
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::{empty_plan, sample_plan, PlanBuilder};

    fn json(plan: &Plan) -> String {
        let mut out = Vec::new();
        render(plan, &mut out).expect("render");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn round_trips_to_an_equal_plan() {
        let odd = PlanBuilder::new()
            .add(
                "p",
                "g",
                "we|ird`<b>\"quote\"\n@x.io",
                crate::plan::Rule::Eligible,
                "ünïcödé ✓",
            )
            .build();
        for plan in [sample_plan(), empty_plan(), odd] {
            let text = json(&plan);
            assert!(text.ends_with("}\n"), "trailing newline");
            let back: Plan = serde_json::from_str(&text).expect("deserialize");
            assert_eq!(back, plan);
        }
    }

    #[test]
    fn is_the_serde_form_pretty_printed_with_its_summary() {
        let plan = sample_plan();
        let text = json(&plan);
        let bare = serde_json::to_string_pretty(&plan).expect("serialize");
        // The plan's own fields come first, exactly as serde writes them; the summary last.
        assert!(text.starts_with(bare.trim_end_matches("\n}")), "{text}");
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        let (add, remove) = plan.counts();
        assert_eq!(value["summary"]["add"], add);
        assert_eq!(value["summary"]["remove"], remove);
        assert_eq!(value["summary"]["blocked"], plan.blocked.len());
        assert_eq!(value["summary"]["has_changes"], plan.has_changes());
        assert_eq!(value["format_version"], 1);
        assert_eq!(value["blocked"][0]["rail"], "seat-budget");
        assert_eq!(value["actions"][0]["rule"], "logged-in");
    }
}

//! The JSON report: `report --format json`.
//!
//! The output is the serde form of [`AccessReport`], pretty-printed, with a trailing newline.
//! `format_version` is [`REPORT_FORMAT_VERSION`](super::REPORT_FORMAT_VERSION); fields are only
//! ever added, so consumers must ignore fields they do not know.
//!
//! ```json
//! {
//!   "format_version": 1,
//!   "site": "acme.atlassian.net",
//!   "generated_at": "2026-11-25T08:00:00Z",
//!   "policy_commit": "9f1c…", "policy_dirty": false,
//!   "products": [ {
//!     "product": "jira-software", "groups": ["jira-software-users-acme"], "inactivity": "90d",
//!     "seats": { "before": 5, "after": 4, "budget": 10 },
//!     "counts": { "holders": 5, "kept": 1, "safe_users": 2, "eligible_group": 1, "unmanaged": 1,
//!                 "leaving": 2, "reclaim_soon": 1, "dormant": 1, "ignored": 0, "unlisted": 0 },
//!     "holders": [ {
//!       "account_id": "5b10alice", "email": "alice@acme.com", "name": "Alice", "status": "active",
//!       "groups": ["jira-software-users-acme"], "basis": "safe-user", "via": null,
//!       "entry": { "file": "teams/eng.yaml", "line": 4, "column": 5 },
//!       "added_by": { "commit": "…", "author": "Ann Admin", "date": "2026-03-02", "summary": "…" },
//!       "fate": { "kind": "keep" },
//!       "reason": "eligible (users entry at teams/eng.yaml:4:5); last active 2026-11-20; …",
//!       "activity_source": "last-active", "last_active": "2026-11-20T00:00:00Z",
//!       "reclaim_at": "2027-02-18T00:00:00Z", "days_left": 84 } ],
//!     "dormant": [ { "account_id": "…", "email": "…", "name": "…", "entry": null,
//!                    "added_by": null, "last_active": null, "reason": "dormant: …" } ],
//!     "history": [ { "at": "2026-07-31T06:00:00Z", "seats": 7 }, { "at": "…", "seats": 5 } ]
//!   } ],
//!   "changes": { "since": "…", "label": "2026-10-01", "base_commit": null,
//!                "grants": [], "revocations": [], "reclaims": [ { "time": "…", "kind": "remove",
//!                "product": "…", "group": "…", "account_id": "…", "email": "…", "rule": "inactive",
//!                "reason": "…", "actor": "…", "policy_commit": "…" } ],
//!                "policy": { "granted": {}, "revoked": {}, "rules": [], "budgets": [], "rails": [] } },
//!   "warnings": []
//! }
//! ```
//!
//! - `basis`: `kept`, `safe-user`, `eligible-group`, `not-eligible`, `expired`,
//!   `account-closed` (the last three are unmanaged members).
//! - `fate.kind`: `keep`, `reclaim`, `remove`, `blocked` (with `fate.rail`), `reported`.
//! - `history`: each point holds from `at` until the next one (see [`super::history`]).
//! - `changes` is present only with `--since`; `changes.policy` only when it was a revision.

use super::AccessReport;
use std::io::{self, Write};

/// Writes the JSON report.
pub fn render(report: &AccessReport, out: &mut dyn Write) -> io::Result<()> {
    crate::render::write_json(report, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{fixtures, Basis, Since};
    use serde_json::Value;

    fn validator() -> jsonschema::Validator {
        let schema: Value =
            serde_json::from_str(include_str!("../../schema/report.schema.json")).unwrap();
        jsonschema::validator_for(&schema).unwrap()
    }

    fn json(report: &AccessReport) -> Value {
        let mut out = Vec::new();
        render(report, &mut out).unwrap();
        assert!(out.ends_with(b"}\n"));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn rendered_reports_match_the_schema() {
        let v = validator();
        let mut since = Since::at("2026-09-01T00:00:00Z".parse().unwrap());
        let mut base = fixtures::policy();
        base.users.pop();
        since.base_policy = Some(base);
        since.commit = Some("0".repeat(40));
        let (_, with_diff) = fixtures::build(Some(&since));
        let (_, plain) = fixtures::build(None);
        for report in [fixtures::report(), with_diff, plain] {
            let value = json(&report);
            let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{errors:#?}");
            assert_eq!(value["format_version"], 1);
        }
        let mut broken = json(&fixtures::report());
        broken["products"][0]["holders"][0]["basis"] = "bogus".into();
        assert!(!v.is_valid(&broken));
        let mut broken = json(&fixtures::report());
        broken["products"][0]["counts"]
            .as_object_mut()
            .unwrap()
            .remove("holders");
        assert!(!v.is_valid(&broken));
    }

    #[test]
    fn the_schema_lists_every_basis() {
        let schema: Value =
            serde_json::from_str(include_str!("../../schema/report.schema.json")).unwrap();
        let listed: Vec<&str> = schema["$defs"]["basis"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let all = [
            Basis::Kept,
            Basis::SafeUser,
            Basis::EligibleGroup,
            Basis::NotEligible,
            Basis::Expired,
            Basis::AccountClosed,
        ];
        assert_eq!(listed, all.map(Basis::as_str));
    }
}

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

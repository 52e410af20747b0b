//! A small org for the report tests: a policy (main file and one team file), a live state, an
//! audit log and git origins, planned by the real planner.
//!
//! jira-software (budget 4, inactivity 90d, notice 14d): admin (kept), alice (safe user),
//! bob (inactive: reclaimed by the plan), carol (reclaim in 2 days), erin (eligible group),
//! eve (not eligible, crafted formula name); frank is dormant (reclaimed 2026-08-01).
//! confluence (no inactivity rule): alice, dave (expired grant), mallory (not eligible,
//! crafted name with comma, quotes and newline), a portal customer (ignored) and an account
//! missing from the user list.

use super::{AccessReport, Since};
use crate::gitinfo::LineOrigin;
use crate::ledger::Ledger;
use crate::live::LiveState;
use crate::plan::Plan;
use crate::planner::{self, PlanInput};
use crate::policy::{self, source::MemFiles, Policy};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

pub(crate) const MAIN: &str = r#"version: 1
site: acme.atlassian.net
org: 3b7c1d2e-5f60-4a7b-8c9d-0e1f2a3b4c5d
products:
  jira-software:
    groups: [jira-software-users-acme]
    seats: 4
    inactivity: 90d
    notice: 14d
  confluence:
    groups: [confluence-users-acme]
include: [teams/*.yaml]
users:
  - email: alice@acme.com
  - email: carol@acme.com
    products: [jira-software]
eligible_groups: [employees]
keep:
  - email: admin@acme.com
ignore:
  - account_type: customer
"#;

pub(crate) const TEAM: &str = r#"users:
  - email: bob@acme.com
    products: [jira-software]
  - email: dave@acme.com
    products: [confluence]
    until: 2026-10-31
  - email: frank@acme.com
    products: [jira-software]
"#;

pub(crate) const LIVE: &str = r#"{
  "format_version": 1,
  "site": "acme.atlassian.net",
  "org_id": "3b7c1d2e-5f60-4a7b-8c9d-0e1f2a3b4c5d",
  "taken_at": "2026-11-25T08:00:00Z",
  "users": [
    { "account_id": "5b10admin", "email": "admin@acme.com", "name": "Site Admin", "account_type": "atlassian", "status": "active",
      "last_active": { "jira-software": "2026-11-24T09:00:00Z" } },
    { "account_id": "5b10alice", "email": "alice@acme.com", "name": "Alice Andersen", "account_type": "atlassian", "status": "active",
      "last_active": { "jira-software": "2026-11-20T00:00:00Z", "confluence": "2026-11-21T00:00:00Z" } },
    { "account_id": "5b10bob", "email": "bob@acme.com", "name": "Bob Berg", "account_type": "atlassian", "status": "active",
      "last_active": { "jira-software": "2026-08-20T00:00:00Z" } },
    { "account_id": "5b10carol", "email": "carol@acme.com", "name": "Carol Chen", "account_type": "atlassian", "status": "active",
      "last_active": { "jira-software": "2026-08-30T00:00:00Z" } },
    { "account_id": "5b10dave", "email": "dave@acme.com", "name": "Dave Dietrich", "account_type": "atlassian", "status": "active",
      "last_active": { "confluence": "2026-11-02T00:00:00Z" } },
    { "account_id": "5b10erin", "email": "erin@acme.com", "name": "Erin Eze", "account_type": "atlassian", "status": "active",
      "last_active": { "jira-software": "2026-11-01T00:00:00Z" } },
    { "account_id": "5b10eve", "email": "eve@acme.com", "name": "=HYPERLINK(\"http://evil\",\"x\")", "account_type": "atlassian", "status": "active",
      "last_active": { "jira-software": "2026-11-10T00:00:00Z" } },
    { "account_id": "5b10frank", "email": "frank@acme.com", "name": "Frank Fox", "account_type": "atlassian", "status": "active",
      "last_active": { "jira-software": "2026-04-01T00:00:00Z" } },
    { "account_id": "5b10mallory", "email": "mallory@acme.com", "name": "Mallory, \"The\"\nIntruder", "account_type": "atlassian", "status": "active" },
    { "account_id": "5b10cust", "email": "customer@example.com", "name": "Portal Customer", "account_type": "customer", "status": "active" }
  ],
  "groups": [
    { "id": "g-jira", "name": "jira-software-users-acme",
      "members": ["5b10admin", "5b10alice", "5b10bob", "5b10carol", "5b10erin", "5b10eve"] },
    { "id": "g-conf", "name": "confluence-users-acme",
      "members": ["5b10alice", "5b10dave", "5b10mallory", "5b10cust", "5b10ghost"] },
    { "id": "g-emp", "name": "employees", "members": ["5b10erin"] }
  ],
  "events": []
}"#;

fn record(time: &str, kind: &str, product: &str, group: &str, who: &str, rule: &str) -> String {
    let gid = if product == "jira-software" {
        "g-jira"
    } else {
        "g-conf"
    };
    format!(
        r#"{{"time":"{time}","kind":"{kind}","product":"{product}","group":"{group}","group_id":"{gid}","account_id":"5b10{who}","email":"{who}@acme.com","rule":"{rule}","reason":"{rule}","result":"ok","plan_id":"p1","policy_commit":"c0ffee","actor":"ci"}}"#
    )
}

/// An `announced` line: an applied plan announced `who`'s jira-software reclaim for `on`.
fn announced(time: &str, who: &str, on: &str) -> String {
    record(time, "announced", "jira-software", "", who, "inactive")
        .replace(r#""group_id":"g-jira""#, r#""group_id":"""#)
        .replace(
            r#""actor":"ci""#,
            &format!(r#""actor":"ci","reclaim_on":"{on}""#),
        )
}

/// The audit log: frank reclaimed on 2026-08-01, erin added on 2026-09-01, grace (since left)
/// removed from confluence on 2026-10-15, a failed add that must not count, the announcements
/// of bob's and carol's reclaims, and a garbage line.
pub(crate) fn audit_log() -> String {
    let j = "jira-software-users-acme";
    let c = "confluence-users-acme";
    let mut lines = [
        record(
            "2026-08-01T06:00:00Z",
            "remove",
            "jira-software",
            j,
            "frank",
            "inactive",
        ),
        record(
            "2026-09-01T06:00:00Z",
            "add",
            "jira-software",
            j,
            "erin",
            "eligible",
        ),
        record(
            "2026-10-15T06:00:00Z",
            "remove",
            "confluence",
            c,
            "grace",
            "not-eligible",
        ),
        record(
            "2026-11-01T06:00:00Z",
            "add",
            "jira-software",
            j,
            "zed",
            "eligible",
        )
        .replace(r#""result":"ok""#, r#""result":"failed""#),
        announced("2026-11-04T06:00:00Z", "bob", "2026-11-18T00:00:00Z"),
        announced("2026-11-14T06:00:00Z", "carol", "2026-11-28T00:00:00Z"),
    ]
    .join("\n");
    lines.push_str("\nnot json\n");
    lines
}

pub(crate) fn now() -> DateTime<Utc> {
    "2026-11-25T08:00:00Z".parse().expect("time")
}

pub(crate) fn policy() -> Policy {
    let files = MemFiles::new()
        .with("seatkeeper.yaml", MAIN)
        .with("teams/eng.yaml", TEAM);
    match policy::load(&files) {
        Ok(loaded) => loaded.policy,
        Err(diags) => panic!("fixture policy: {diags:?}"),
    }
}

pub(crate) fn live() -> LiveState {
    serde_json::from_str(LIVE).expect("fixture live state")
}

/// The line of `file` that mentions `needle`, 1-based.
pub(crate) fn line_of(file: &str, needle: &str) -> u32 {
    let text = if file == "seatkeeper.yaml" {
        MAIN
    } else {
        TEAM
    };
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle") as u32
        + 1
}

/// Git origins for a few entries, as a blamer would find them.
pub(crate) fn origins() -> BTreeMap<(String, u32), LineOrigin> {
    let origin = |commit: &str, author: &str, date: &str| LineOrigin {
        commit: commit.repeat(40 / commit.len()),
        author: author.into(),
        date: date.into(),
        summary: "grant access".into(),
    };
    BTreeMap::from([
        (
            (
                "seatkeeper.yaml".to_string(),
                line_of("seatkeeper.yaml", "alice@"),
            ),
            origin("a1", "Ann Admin", "2026-01-10"),
        ),
        (
            (
                "seatkeeper.yaml".to_string(),
                line_of("seatkeeper.yaml", "admin@"),
            ),
            origin("b2", "Ann Admin", "2026-01-10"),
        ),
        (
            (
                "teams/eng.yaml".to_string(),
                line_of("teams/eng.yaml", "bob@"),
            ),
            origin("c3", "Bo, \"Lead\"", "2026-03-05"),
        ),
    ])
}

/// The plan, the audit records and the report for the fixture org.
pub(crate) fn build(since: Option<&Since>) -> (Plan, AccessReport) {
    let policy = policy();
    let live = live();
    let (records, warnings) = super::parse_audit_records(audit_log());
    let ledger = Ledger::from_records(&records);
    let input = PlanInput {
        policy: &policy,
        live: &live,
        ledger: &ledger,
        now: now(),
        actor: None,
        policy_commit: Some("9f1c2ab3d4e5f60718293a4b5c6d7e8f90a1b2c3"),
        allow_mass_removal: true,
    };
    let plan = planner::plan(&input);
    let mut origins = origins();
    let mut report = AccessReport::build(&input, &plan, Some(&mut origins), &records, since);
    report.warnings.extend(warnings);
    (plan, report)
}

/// The fixture report with changes since 2026-09-01.
pub(crate) fn report() -> AccessReport {
    let since = Since::at("2026-09-01T00:00:00Z".parse().expect("time"));
    build(Some(&since)).1
}

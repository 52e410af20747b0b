//! Operations: what a command does, between the command line and the backends. An operation
//! knows the policy model and the Atlassian client alike, so neither has to know the other.
//! Each takes a request and a [`Context`] (credentials, clock, deadline, the sink for warnings
//! and progress), and returns an outcome for the command line to render, or a
//! [`CommandError`] whose kind decides the exit code.

pub mod apply;
pub mod context;
pub mod diff;
pub mod error;
pub mod explain;
pub mod export;
pub mod inputs;
pub mod notify;
pub mod plan;
pub mod planning;
pub mod progress;
pub mod report;
pub mod session;
pub mod test;
pub mod validate;

pub use context::{Clock, Context};
pub use error::{failed, CommandError, ErrorKind};
pub use inputs::{PolicyRef, PolicySource};
pub use planning::{Planning, StateRequest, DEFAULT_PARALLELISM};

use crate::atlassian::ReadRequest;
use crate::policy::Policy;
use chrono::{DateTime, Utc};

/// What a plan of `policy` for `at` needs read: the members of every group it names
/// ([`Policy::named_groups`]) and its safe users, its products and their grant groups, the
/// events from [`Policy::events_window_start`] up to `at`, the state taken at `at`.
pub fn read_request(policy: &Policy, at: DateTime<Utc>) -> ReadRequest {
    ReadRequest {
        site: policy.site.clone(),
        groups: policy.named_groups(),
        products: policy.products.iter().map(|p| p.key.clone()).collect(),
        product_groups: policy
            .products
            .iter()
            .map(|p| (p.key.clone(), p.groups.clone()))
            .collect(),
        events_since: Some(policy.events_window_start(at)),
        now: at,
        licenses: true,
        members_only: true,
        safe_emails: policy.safe_emails(),
        safe_account_ids: policy.safe_account_ids(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::source::MemFiles;

    #[test]
    fn a_plan_reads_the_groups_and_people_the_policy_names_over_its_event_window() {
        let text = "version: 1\nsite: acme.atlassian.net\norg: org-1\nproducts:\n  jira-software:\n    groups: [jira-users]\n    inactivity: 90d\n    grace: 2d\n    notice: 14d\n    eligible_groups: [staff]\nkeep:\n  - group: admins\nusers:\n  - email: b@acme.com\n  - email: a@acme.com\n  - account_id: x1\n";
        let files = MemFiles::new().with(crate::policy::MAIN_FILE, text);
        let policy = crate::policy::load(&files).unwrap().policy;
        let at: DateTime<Utc> = "2026-11-25T08:00:00Z".parse().unwrap();
        let r = read_request(&policy, at);
        assert_eq!(r.groups, ["admins", "jira-users", "staff"]);
        assert_eq!(r.safe_emails, ["a@acme.com", "b@acme.com"]);
        assert_eq!(r.safe_account_ids, ["x1"]);
        assert_eq!(r.events_since, Some(at - chrono::TimeDelta::days(106)));
        assert_eq!(r.now, at, "the window ends at the plan's time");
    }
}

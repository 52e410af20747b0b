//! `report`: the access review. For every product, who holds a seat and why, last activity and
//! days left, dormant safe users, unmanaged members and seats against budget; with a `since`,
//! what changed since the last review.

use super::{failed, CommandError, Context, Planning, PolicyRef, StateRequest};
use crate::report::{self, AccessReport, ReportOptions};

/// What to review.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// The policy.
    pub policy: PolicyRef,
    /// Live state and the time.
    pub state: StateRequest,
    /// Add what changed since this date (YYYY-MM-DD) or git revision (the last review).
    pub since: Option<String>,
}

/// Builds the access review.
pub fn report(request: &ReportRequest, ctx: &mut Context) -> Result<AccessReport, CommandError> {
    let planning = Planning::load(&request.policy, &request.state, ctx)?;
    let log = std::fs::read_to_string(&planning.audit_log).ok();
    let options = ReportOptions {
        policy_dir: Some(&planning.source.dir),
        git_ref: request.policy.rev.as_deref(),
        policy_dirty: planning.source.dirty,
        audit_log: log.as_deref(),
        since: request.since.as_deref(),
    };
    report::generate(&planning.input(false), &options).map_err(|e| failed(e.to_string()))
}

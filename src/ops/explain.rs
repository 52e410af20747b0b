//! `explain`: every product, whether a user holds it now and after the plan, and why.

use super::inputs::print_warnings;
use super::{failed, CommandError, Context, Planning, PolicyRef, StateRequest};
use crate::plan::Explanation;
use crate::planner;

/// Whom to explain, under which policy and state.
#[derive(Debug, Clone)]
pub struct ExplainRequest {
    /// The user: an email or an account id.
    pub user: String,
    /// The policy.
    pub policy: PolicyRef,
    /// Live state and the time.
    pub state: StateRequest,
}

/// Explains the user's access; the policy lines that match nothing live go to the sink first,
/// since they change what anyone may hold.
pub fn explain(request: &ExplainRequest, ctx: &mut Context) -> Result<Explanation, CommandError> {
    let planning = Planning::load(&request.policy, &request.state, ctx)?;
    let checks = planner::live_checks(&planning.source.policy, &planning.live);
    print_warnings(&checks, ctx.err)?;
    planner::explain(&planning.input(false), &request.user).ok_or_else(|| {
        failed(format!(
            "no account with email or account id `{}` in {}",
            request.user, planning.state_label
        ))
    })
}

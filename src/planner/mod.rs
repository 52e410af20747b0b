//! The planner: a pure function of (policy, live state, ledger, now) to a [`Plan`].

use crate::ledger::Ledger;
use crate::live::LiveState;
use crate::plan::{Explanation, Plan};
use crate::policy::Policy;
use chrono::{DateTime, Utc};

/// Everything the planner reads. Nothing else influences the plan.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The validated policy.
    pub policy: &'a Policy,
    /// Live state.
    pub live: &'a LiveState,
    /// What earlier applies did.
    pub ledger: &'a Ledger,
    /// The time to plan for.
    pub now: DateTime<Utc>,
    /// The account id whose credentials run seatkeeper (the `self` rail), if known.
    pub actor: Option<&'a str>,
    /// The policy's git commit, if known.
    pub policy_commit: Option<&'a str>,
    /// `--allow-mass-removal`: lift the `max-removals` rail.
    pub allow_mass_removal: bool,
}

/// Plans. Deterministic: the same input gives the same plan.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let _ = input;
    unimplemented!("planner")
}

/// Explains every product decision for one user, named by email or account id.
pub fn explain(input: &PlanInput<'_>, user: &str) -> Option<Explanation> {
    let _ = (input, user);
    unimplemented!("explain")
}

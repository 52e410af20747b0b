//! `plan`: loads policy, live state and ledger, plans, and saves the plan when asked; reads a
//! plan saved by `plan --out`.

use super::{failed, CommandError, Context, Planning, PolicyRef, StateRequest};
use crate::plan::{Plan, PLAN_FORMAT_VERSION};
use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// What to plan.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    /// The policy.
    pub policy: PolicyRef,
    /// Live state and the time.
    pub state: StateRequest,
    /// Save the plan (JSON) here for `apply`.
    pub out: Option<PathBuf>,
    /// Lift the max-removals rail for this plan.
    pub allow_mass_removal: bool,
}

/// A plan, with what it was made from.
pub struct Planned {
    /// The plan.
    pub plan: Plan,
    /// Its inputs.
    pub inputs: Planning,
}

impl Planned {
    /// Frees the plan and its inputs on another thread. Freeing a large org, its policy and its
    /// plan one allocation at a time takes a tenth of a second at 100,000 users, and the process
    /// exits right after: let a thread do it (or the exit). If no thread can be started,
    /// everything is dropped here.
    pub fn free_in_background(self) {
        let Planning {
            source,
            live,
            ledger,
            ..
        } = self.inputs;
        let (plan, policy) = (self.plan, source.policy);
        let _ = std::thread::Builder::new()
            .name("free-plan".into())
            .spawn(move || drop((plan, live, ledger, policy)));
    }
}

/// Plans, and saves the plan to `request.out`.
pub fn plan(request: &PlanRequest, ctx: &mut Context) -> Result<Planned, CommandError> {
    let inputs = Planning::load(&request.policy, &request.state, ctx)?;
    let plan = inputs.plan(request.allow_mass_removal)?;
    if let Some(path) = &request.out {
        let json = serde_json::to_vec_pretty(&plan)?;
        crate::files::write_atomically(path, &json)
            .with_context(|| format!("cannot write plan {}", path.display()))?;
    }
    Ok(Planned { plan, inputs })
}

/// Reads a plan saved by `plan --out`: a located message when it is not one, and a refusal when
/// a newer seatkeeper wrote it.
pub fn read_saved(path: &Path) -> Result<Plan, CommandError> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read plan {}", path.display()))?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| {
        failed(format!(
            "{}:{}:{}: not a seatkeeper plan: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    if plan.format_version > PLAN_FORMAT_VERSION {
        return Err(failed(format!(
            "{} has plan format {}, newer than this seatkeeper reads ({PLAN_FORMAT_VERSION}): \
             upgrade seatkeeper",
            path.display(),
            plan.format_version
        )));
    }
    Ok(plan)
}

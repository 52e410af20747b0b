//! `seatkeeper apply [PLAN]`: executes a saved plan, or plans, shows the plan and asks first
//! ([`ops::apply`]). This is the edge: arguments, the prompt, and what to say when it is done.

use super::{parse_parallelism, render_options, Env, PolicyArgs, Status, DEFAULT_PARALLELISM};
use crate::ops::apply::{Applied, ApplyRequest};
use crate::ops::{self, CommandError, ErrorKind};
use crate::render::{self, Format};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// `apply` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A plan saved by `plan --out`. Without it, apply plans now, shows the plan and asks.
    plan: Option<PathBuf>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    auto_approve: bool,
    /// Lift the max-removals rail.
    #[arg(long)]
    allow_mass_removal: bool,
    /// At most this many requests in flight (1 to 64).
    #[arg(long, default_value_t = DEFAULT_PARALLELISM, value_parser = parse_parallelism)]
    parallelism: usize,
    /// Remove an apply lock left behind by a killed run, then exit.
    #[arg(long)]
    force_unlock: bool,
    /// Sandbox rehearsals only (SEATKEEPER_API_BASE on 127.0.0.1, ::1 or localhost): the time
    /// of this apply. Without PLAN it plans for this time; the audit lines are stamped with it
    /// (with PLAN, not earlier than the plan's generated_at). RFC 3339, a date, or `+30d`.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    #[command(flatten)]
    timeout: super::TimeoutArgs,
}

/// Runs `apply`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CommandError> {
    let ctx = &mut env.context(args.timeout.timeout, super::DEFAULT_APPLY_TIMEOUT, err)?;
    let request = ApplyRequest {
        plan: args.plan.clone(),
        policy: args.policy.request(),
        allow_mass_removal: args.allow_mass_removal,
        parallelism: args.parallelism,
        force_unlock: args.force_unlock,
        at: args.at.clone(),
    };
    let mut confirm = |plan: &crate::plan::Plan| -> Result<(), CommandError> {
        render::render(plan, Format::Text, &render_options(env), out)?;
        if !plan.has_changes() || args.auto_approve {
            return Ok(());
        }
        if !env.stdin_is_terminal {
            return Err(CommandError::new(
                ErrorKind::Refused,
                "there is no terminal to confirm on: pass --auto-approve, or save the plan with \
                 `seatkeeper plan --out PLAN` and run `seatkeeper apply PLAN`",
            ));
        }
        write!(out, "\nApply these changes? Only 'yes' is accepted: ")?;
        out.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        match answer.trim() {
            "yes" => Ok(()),
            _ => Err(CommandError::new(ErrorKind::Refused, "apply cancelled")),
        }
    };
    match ops::apply::apply(&request, ctx, &mut confirm)? {
        Applied::Unlocked(lock, Some(holder)) => {
            let lock = lock.display();
            writeln!(out, "Removed the apply lock {lock} (was: {holder})")?
        }
        Applied::Unlocked(lock, None) => writeln!(out, "No apply lock at {}", lock.display())?,
        Applied::NoChanges => {}
        Applied::Done(audit_log) => writeln!(out, "Audit log: {}", audit_log.display())?,
    }
    Ok(Status::Success)
}

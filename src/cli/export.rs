//! `seatkeeper export`: bootstrap from live state ([`ops::export`]). `--snapshot FILE` writes
//! live state in the snapshot format; `--policy-out DIR` writes a starting policy whose plan
//! against the same org is empty. Both read what the policy given with `--policy` manages.

use super::{parse_parallelism, Env, PolicyArgs, Status, DEFAULT_PARALLELISM};
use crate::ops::{self, export::ExportRequest, CommandError};
use std::io::Write;
use std::path::PathBuf;

/// `export` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Write live state to this snapshot file.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Write a starting policy (seatkeeper.yaml and teams/exported.yaml) into this folder.
    #[arg(long)]
    policy_out: Option<PathBuf>,
    /// Read live state as of this time (events window end).
    #[arg(long)]
    at: Option<String>,
    /// At most this many requests in flight (1 to 64).
    #[arg(long, default_value_t = DEFAULT_PARALLELISM, value_parser = parse_parallelism)]
    parallelism: usize,
    #[command(flatten)]
    timeout: super::TimeoutArgs,
}

/// Runs `export`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CommandError> {
    let ctx = &mut env.context(args.timeout.timeout, super::DEFAULT_TIMEOUT, err)?;
    let request = ExportRequest {
        policy: args.policy.request(),
        snapshot: args.snapshot.clone(),
        starting_policy: args.policy_out.is_some(),
        at: args.at.clone(),
        parallelism: args.parallelism,
    };
    let exported = ops::export::export(&request, ctx)?;
    if let Some(path) = &args.snapshot {
        let live = &exported.live;
        writeln!(
            out,
            "Wrote {} ({} users, {} groups, {} events)",
            path.display(),
            live.users.len(),
            live.groups.len(),
            live.events.len()
        )?;
    }
    if let (Some(dir), Some(starting)) = (&args.policy_out, &exported.starting) {
        ops::export::write_policy(dir, starting)?;
        writeln!(
            out,
            "Wrote a starting policy to {} (seatkeeper.yaml, teams/exported.yaml)",
            dir.display()
        )?;
        match starting.closed {
            0 => writeln!(out, "Its plan against this org is empty.")?,
            1 => writeln!(
                out,
                "Its plan against this org removes only the 1 closed account listed at the end \
                 of teams/exported.yaml, for review."
            )?,
            n => writeln!(
                out,
                "Its plan against this org removes only the {n} closed accounts listed at the \
                 end of teams/exported.yaml, for review."
            )?,
        }
        writeln!(
            out,
            "Next: review the safe users, then add inactivity rules and budgets."
        )?;
    }
    Ok(Status::Success)
}

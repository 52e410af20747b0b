//! `seatkeeper audit verify [LOG]`: checks the audit log's hash chain.

use super::{Env, Status};
use crate::audit_log::{verify, Verification};
use crate::ops::{failed, CommandError};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

/// `audit` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Check every line's hash chain and report the first bad line (exit 0 or 1).
    Verify {
        /// The audit log (default: the `audit_log` of the policy in --policy).
        log: Option<PathBuf>,
        /// The policy folder whose audit log to verify.
        #[arg(long, default_value = ".")]
        policy: PathBuf,
    },
}

/// Runs `audit`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CommandError> {
    match &args.command {
        AuditCommand::Verify { log, policy } => {
            let log = match log {
                Some(log) => log.clone(),
                None => {
                    let today = env.now.date_naive();
                    let source = crate::ops::inputs::load_policy_at(policy, None, today, err)?;
                    source.audit_path()?
                }
            };
            let log = &log;
            // Bytes, not text: a line that is not UTF-8 is a bad line, as every reader sees it.
            let text = std::fs::read(log)
                .with_context(|| format!("cannot read audit log {}", log.display()))?;
            match verify(&text) {
                Verification::Intact(n) => {
                    writeln!(out, "{}: {n} records, hash chain intact", log.display())?;
                    Ok(Status::Success)
                }
                Verification::Broken { line, problem } => {
                    Err(failed(format!("{}:{line}: {problem}", log.display())))
                }
            }
        }
    }
}

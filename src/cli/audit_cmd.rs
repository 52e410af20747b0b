//! `seatkeeper audit verify [LOG]`: checks the audit log's hash chain.

use super::{Exit, Status};
use crate::audit::{verify, Verification};
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
        /// The audit log (default: audit/seatkeeper.jsonl).
        #[arg(default_value = "audit/seatkeeper.jsonl")]
        log: PathBuf,
    },
}

/// Runs `audit`.
pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<Status> {
    match &args.command {
        AuditCommand::Verify { log } => {
            let text = std::fs::read_to_string(log)
                .with_context(|| format!("cannot read audit log {}", log.display()))?;
            match verify(&text) {
                Verification::Intact(n) => {
                    writeln!(out, "{}: {n} records, hash chain intact", log.display())?;
                    Ok(Status::Success)
                }
                Verification::Broken { line, problem } => Err(Exit::new(
                    Status::Error,
                    format!("{}:{line}: {problem}", log.display()),
                )
                .into()),
            }
        }
    }
}

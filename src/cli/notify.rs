//! `seatkeeper notify [PLAN]`: emails what a plan announces, and the reclaims not told yet,
//! once each ([`ops::notify`]); `--dry-run` prints the messages instead.

use super::{Env, PolicyArgs, Status};
use crate::notify::Delivery;
use crate::ops::notify::{Notified, NotifyRequest};
use crate::ops::{self, CommandError, ErrorKind, StateRequest};
use std::io::Write;
use std::path::PathBuf;

/// `notify` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A plan saved by `plan --out`. Without it, notify plans now (from Atlassian, or
    /// `--snapshot`).
    plan: Option<PathBuf>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Plan from this snapshot file instead of Atlassian (without PLAN).
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Print each message instead of sending it; the audit log is not touched.
    #[arg(long)]
    dry_run: bool,
    /// Sandbox rehearsals only (SEATKEEPER_API_BASE on 127.0.0.1, ::1 or localhost): the time
    /// of this run, for its plan and its audit lines. RFC 3339, a date, or `+30d`.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    #[command(flatten)]
    timeout: super::TimeoutArgs,
}

/// Runs `notify`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CommandError> {
    let ctx = &mut env.context(args.timeout.timeout, super::DEFAULT_TIMEOUT, err)?;
    let request = NotifyRequest {
        policy: args.policy.request(),
        plan: args.plan.clone(),
        state: StateRequest {
            snapshot: args.snapshot.clone(),
            at: None,
        },
        dry_run: args.dry_run,
        at: args.at.clone(),
    };
    let notified = ops::notify::notify(&request, ctx)?;
    if args.dry_run {
        print_messages(&notified, out)?;
    }
    summarize(&notified, args.dry_run, out)?;
    match notified.failures() {
        0 => Ok(Status::Success),
        n => Err(CommandError::new(
            ErrorKind::Partial,
            format!(
                "{n} of {} email(s) were not accepted; they are recorded as failed and sent \
                 again by the next run, and their reclaims wait (rail `not-notified`)",
                notified.emails.len()
            ),
        )),
    }
}

/// Every message as it would be sent.
fn print_messages(notified: &Notified, out: &mut dyn Write) -> std::io::Result<()> {
    for (due, _) in &notified.emails {
        let e = &due.email;
        let to = match &e.to_name {
            Some(name) => format!("{name} <{}>", e.to),
            None => e.to.clone(),
        };
        writeln!(out, "To: {to}")?;
        writeln!(out, "Subject: {}", e.subject)?;
        writeln!(out, "Message-ID: <{}>", e.message_id)?;
        writeln!(out)?;
        writeln!(out, "{}", e.body.trim_end())?;
        writeln!(out, "\n----")?;
    }
    Ok(())
}

/// One line for the run, and where it is recorded.
pub fn summarize(notified: &Notified, dry_run: bool, out: &mut dyn Write) -> std::io::Result<()> {
    let total = notified.emails.len();
    let failed = notified.failures();
    let mut line = if dry_run {
        format!("{total} email(s) due (dry run: nothing sent, nothing recorded)")
    } else {
        format!(
            "{} email(s) sent, {failed} failed; recorded in {}",
            total - failed,
            notified.audit_log.display()
        )
    };
    if notified.without_email > 0 {
        line.push_str(&format!(
            "; {} person(s) have no email address and were not told",
            notified.without_email
        ));
    }
    match &notified.digest {
        Some(Delivery::Accepted { .. }) => line.push_str("; digest posted to chat"),
        Some(Delivery::Failed { error, .. }) => {
            line.push_str(&format!("; the chat digest failed: {error}"))
        }
        None => {}
    }
    writeln!(out, "{line}.")
}

//! `seatkeeper validate`: reports every problem of the policy at once ([`ops::validate`]); with
//! `--live` or `--snapshot`, also the policy lines that name nothing in the org.

use super::{render_options, Env, PolicyArgs, Status};
use crate::ops::{self, validate::ValidateRequest, CommandError};
use crate::render::Style;
use std::io::Write;

/// Output formats of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ValidateFormat {
    /// Messages on stderr, a one-line verdict on stdout.
    Text,
    /// One JSON object on stdout: the verdict and every diagnostic.
    Json,
}

/// `validate` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Also check the policy against the live org (needs credentials): safe users and groups
    /// that match nothing, a site that is not the org's.
    #[arg(long, conflicts_with = "snapshot")]
    live: bool,
    /// Also check the policy against this snapshot of the org, like `--live`.
    #[arg(long)]
    snapshot: Option<std::path::PathBuf>,
    /// Check dates as of this time: RFC 3339, a date, or `+30d` from now.
    #[arg(long)]
    at: Option<String>,
    #[command(flatten)]
    timeout: super::TimeoutArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
    format: ValidateFormat,
}

/// Runs `validate`. Dates are checked against today's date by the clock, or `--at`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CommandError> {
    let ctx = &mut env.context(args.timeout.timeout, super::DEFAULT_TIMEOUT, err)?;
    let json = args.format == ValidateFormat::Json;
    let request = ValidateRequest {
        policy: args.policy.request(),
        live: args.live,
        snapshot: args.snapshot.clone(),
        at: args.at.clone(),
        print: !json,
    };
    let v = ops::validate::validate(&request, ctx)?;
    if json {
        let value = serde_json::json!({
            "policy": v.label,
            "valid": v.errors == 0,
            "errors": v.errors,
            "products": v.counts.map(|c| c.0),
            "safe_users": v.counts.map(|c| c.1),
            "diagnostics": v.diagnostics,
            "org_checked": v.org_checked,
            "org_warnings": v.org_warnings,
        });
        crate::render::write_json(&value, out)?;
    }
    if v.errors > 0 {
        let noun = if v.errors == 1 { "error" } else { "errors" };
        return Err(ops::failed(format!(
            "policy {} has {} {noun}",
            v.label, v.errors
        )));
    }
    if json {
        return Ok(Status::Success);
    }
    let style = Style::new(&render_options(env));
    let (products, users) = v.counts.unwrap_or_default();
    writeln!(
        out,
        "{}: {} ({products} products, {users} safe users){}",
        v.label,
        style.green("valid"),
        match v.org_warnings.len() {
            0 if v.org_checked => "; every line matches the org".into(),
            0 => String::new(),
            1 => "; 1 warning about the org".into(),
            n => format!("; {n} warnings about the org"),
        }
    )?;
    if let Some(words) = v.defaults {
        writeln!(out, "{words}")?;
    }
    Ok(Status::Success)
}

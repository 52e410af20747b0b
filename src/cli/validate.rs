//! `seatkeeper validate`: loads the policy and reports every problem at once; with `--live` or
//! `--snapshot`, also the policy lines that name nothing in the org (unknown safe users and
//! groups, another site).

use super::inputs::{load_policy_quietly, print_warnings, Loaded};
use super::planning::{resolve_at, Planning, StateArgs};
use super::{render_options, Env, Exit, PolicyArgs, Status};
use crate::plan::Warning;
use crate::policy::Severity;
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
) -> anyhow::Result<Status> {
    let env = &env.until(args.timeout.timeout, super::DEFAULT_TIMEOUT)?;
    let now = resolve_at(args.at.as_deref(), env)?;
    let loaded = load_policy_quietly(
        &args.policy.policy,
        args.policy.git_ref.as_deref(),
        env.policy_today(now),
    )?;
    let with_org = args.live || args.snapshot.is_some();
    if args.format == ValidateFormat::Json {
        return json(args, env, loaded, with_org, out);
    }
    let source = loaded.report(err)?;
    let warnings = if with_org {
        let planning = Planning::from_source(source, &state_args(args), env, err)?;
        let warnings = crate::planner::live_checks(&planning.source.policy, &planning.live);
        print_warnings(&warnings, err)?;
        (planning.source, warnings)
    } else {
        (source, Vec::new())
    };
    let (source, warnings) = warnings;
    let style = Style::new(&render_options(env));
    let policy = &source.policy;
    writeln!(
        out,
        "{}: {} ({} products, {} safe users){}",
        source.label,
        style.green("valid"),
        policy.products.len(),
        policy.users.len(),
        match warnings.len() {
            0 if with_org => "; every line matches the org".into(),
            0 => String::new(),
            1 => "; 1 warning about the org".into(),
            n => format!("; {n} warnings about the org"),
        }
    )?;
    if let Some(words) = policy.safety.defaults_words() {
        writeln!(out, "{words}")?;
    }
    Ok(Status::Success)
}

fn state_args(args: &Args) -> StateArgs {
    StateArgs {
        snapshot: args.snapshot.clone(),
        at: args.at.clone(),
        timeout: args.timeout,
    }
}

/// `--format json`: the verdict and every diagnostic as one object on stdout; exit 1 when the
/// policy has errors, as in text.
fn json(
    args: &Args,
    env: &Env,
    loaded: Loaded,
    with_org: bool,
    out: &mut dyn Write,
) -> anyhow::Result<Status> {
    let diagnostics = loaded.diagnostics;
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let (label, counts, warnings): (String, Option<(usize, usize)>, Vec<Warning>) = match loaded
        .source
    {
        Ok(source) => {
            let counts = Some((source.policy.products.len(), source.policy.users.len()));
            let label = source.label.clone();
            let warnings = if with_org {
                // Network notes go nowhere: stdout holds one JSON object.
                let planning =
                    Planning::from_source(source, &state_args(args), env, &mut std::io::sink())?;
                crate::planner::live_checks(&planning.source.policy, &planning.live)
            } else {
                Vec::new()
            };
            (label, counts, warnings)
        }
        Err(label) => (label, None, Vec::new()),
    };
    let value = serde_json::json!({
        "policy": label,
        "valid": errors == 0,
        "errors": errors,
        "products": counts.map(|c| c.0),
        "safe_users": counts.map(|c| c.1),
        "diagnostics": diagnostics,
        "org_checked": with_org && errors == 0,
        "org_warnings": warnings,
    });
    crate::render::write_json(&value, out)?;
    if errors > 0 {
        return Err(Exit::new(
            Status::Error,
            format!(
                "policy {label} has {errors} {}",
                if errors == 1 { "error" } else { "errors" }
            ),
        )
        .into());
    }
    Ok(Status::Success)
}

//! The command line: argument definitions, the environment read once into [`Env`] and from it
//! the operations' [`Context`], one file per subcommand (its arguments, its request, one
//! [`crate::ops`] call, rendering, apply's prompt), and the exit codes of outcomes (DESIGN §5):
//! 0 success or no changes, 2 changes present (`--detailed-exitcode`), 3 a rail that needs a
//! human; a failure exits with its [`crate::ops::ErrorKind`]'s code (1 error, 3 refused, 4 stale plan, 5
//! partially applied).

mod apply;
mod audit;
mod demo;
mod diff;
mod explain;
mod export;
mod init;
mod notify;
mod plan;
mod report;
mod sandbox;
mod test;
mod validate;

pub use crate::apply::Deadline;
use crate::atlassian::{CredentialSource, Secret};
pub use crate::ops::DEFAULT_PARALLELISM;
use crate::ops::{Clock, CommandError, Context, PolicyRef, StateRequest};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_is_seconds_minutes_or_hours_and_says_what_is_wrong() {
        for (text, secs) in [("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400)] {
            assert_eq!(parse_timeout(text), Ok(Duration::from_secs(secs)), "{text}");
        }
        for (text, why) in [
            ("30", "`30` has no unit"),
            ("0s", "more than 0"),
            ("3d", "`d` is not a unit"),
            ("m", "a number must come before `m`"),
            ("200h", "more than 7 days"),
            ("", "more than 0"),
        ] {
            let e = parse_timeout(text).unwrap_err();
            assert!(e.contains(why) && e.contains("`30m`"), "{text}: {e}");
        }
        let deadline = |secs| Deadline {
            at: Instant::now(),
            limit: Duration::from_secs(secs),
        };
        assert_eq!(
            deadline(5400).to_string(),
            "the time limit of 1h30m (--timeout or SEATKEEPER_TIMEOUT)"
        );
        assert!(deadline(2).to_string().contains(" 2s "));
    }

    #[test]
    fn the_flag_wins_over_the_environment_which_wins_over_the_default() {
        let env = Env {
            timeout: Some("2m".into()),
            ..Env::default()
        };
        let limit = |d: Deadline| Some(d.limit);
        let flag = Some(Duration::from_secs(5));
        assert_eq!(limit(env.deadline(flag, DEFAULT_TIMEOUT).unwrap()), flag);
        let from_env = env.deadline(None, DEFAULT_TIMEOUT).unwrap();
        assert_eq!(limit(from_env), Some(Duration::from_secs(120)));
        let default = Env::default().deadline(None, DEFAULT_TIMEOUT).unwrap();
        assert_eq!(limit(default), Some(DEFAULT_TIMEOUT));
        let bad = Env {
            timeout: Some("soon".into()),
            ..Env::default()
        };
        let e = bad.deadline(None, DEFAULT_TIMEOUT).unwrap_err().to_string();
        assert!(
            e.starts_with("SEATKEEPER_TIMEOUT: `soon` is not a time limit"),
            "{e}"
        );
    }
}

/// Exit statuses of a command that did not fail; a failure exits with the code of its
/// [`crate::ops::ErrorKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 0: success, or no changes.
    Success = 0,
    /// 2: changes are present (only with `--detailed-exitcode`).
    Changes = 2,
    /// 3: a mass-change rail holds actions back (only with `--detailed-exitcode`).
    Refused = 3,
}

impl Status {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Parses `--parallelism`: 1 to 64 requests in flight.
pub fn parse_parallelism(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n @ 1..=64) => Ok(n),
        _ => Err(format!("`{text}` is not a number from 1 to 64")),
    }
}

/// How long `apply` may run by default (`--timeout`, `SEATKEEPER_TIMEOUT`).
pub const DEFAULT_APPLY_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// How long every other command that talks to Atlassian may run by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Parses a `--timeout` (or `SEATKEEPER_TIMEOUT`): whole numbers with `s`, `m` (minutes here)
/// or `h`, one or more of them (`90s`, `30m`, `1h30m`), more than 0 and at most 7 days.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| {
        format!("`{text}` is not a time limit: {why}; write it like `90s`, `30m` or `1h30m`")
    };
    let mut total = 0u64;
    let mut digits = String::new();
    for c in text.trim().chars() {
        match c {
            '0'..='9' => digits.push(c),
            's' | 'm' | 'h' => {
                let n: u64 = digits
                    .parse()
                    .map_err(|_| bad(&format!("a number must come before `{c}`")))?;
                let unit = match c {
                    's' => 1,
                    'm' => 60,
                    _ => 3600,
                };
                total = n
                    .checked_mul(unit)
                    .and_then(|v| total.checked_add(v))
                    .ok_or_else(|| bad("it is too long"))?;
                digits.clear();
            }
            other => return Err(bad(&format!("`{other}` is not a unit (s, m or h)"))),
        }
    }
    if !digits.is_empty() {
        return Err(bad(&format!("`{digits}` has no unit (s, m or h)")));
    }
    match total {
        0 => Err(bad("it must be more than 0")),
        t if t > 7 * 24 * 3600 => Err(bad("it is more than 7 days")),
        t => Ok(Duration::from_secs(t)),
    }
}

/// `--timeout`: the time limit of a command that talks to Atlassian.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct TimeoutArgs {
    /// Stop after this long: `90s`, `30m`, `2h`, `1h30m` (`m` is minutes). Default:
    /// SEATKEEPER_TIMEOUT, else 60m for apply and 30m for other commands.
    ///
    /// A read stops at the limit and the command exits 1. Apply starts no write after it,
    /// finishes and records the writes in flight (up to a minute more), lists what it did not
    /// start, and exits 5: run it again to finish. Whatever the limit, a host that cannot be
    /// connected to is reported within 10 s.
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
}

/// What seatkeeper reads from its environment. `main` builds it once; nothing else reads the
/// environment, so tests can pin every input.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `ATLASSIAN_EMAIL`, `ATLASSIAN_API_TOKEN` and `ATLASSIAN_ADMIN_API_KEY` (secrets), and
    /// `SEATKEEPER_API_BASE` (points both APIs at a sandbox).
    pub credentials: CredentialSource,
    /// `SEATKEEPER_ACTOR`: who runs apply, for the audit log (default: the account behind the
    /// credentials, else `$USER`).
    pub actor: Option<String>,
    /// `NO_COLOR` is set.
    pub no_color: bool,
    /// `--color` (a flag of every command).
    pub color: crate::render::ColorChoice,
    /// Whether stdout is a terminal.
    pub stdout_is_terminal: bool,
    /// Whether stderr is a terminal (progress is rewritten in place there).
    pub stderr_is_terminal: bool,
    /// Whether stdin is a terminal (for apply's question).
    pub stdin_is_terminal: bool,
    /// The current time.
    pub now: DateTime<Utc>,
    /// `SEATKEEPER_TIMEOUT`, as written (checked by [`Env::deadline`]).
    pub timeout: Option<String>,
    /// `SEATKEEPER_SMTP_USERNAME`, `SEATKEEPER_SMTP_PASSWORD` and `SEATKEEPER_CHAT_WEBHOOK_URL`.
    pub notify: crate::ops::context::NotifySecrets,
}

impl Env {
    /// A redactor for the credentials in this environment: everything seatkeeper prints passes
    /// through it at the edge, whatever the inner layers did.
    pub fn redactor(&self) -> crate::redact::Redactor {
        let api_base = None;
        CredentialSource {
            api_base,
            ..self.credentials.clone()
        }
        .redactor_with(self.notify.values())
    }

    /// The deadline of a command that talks to Atlassian: `--timeout` (`flag`), else
    /// `SEATKEEPER_TIMEOUT`, else `default`, from now.
    pub fn deadline(
        &self,
        flag: Option<Duration>,
        default: Duration,
    ) -> Result<Deadline, CommandError> {
        let limit = match (flag, self.timeout.as_deref()) {
            (Some(limit), _) => limit,
            (None, Some(text)) => parse_timeout(text)
                .map_err(|e| crate::ops::failed(format!("SEATKEEPER_TIMEOUT: {e}")))?,
            (None, None) => default,
        };
        Ok(Deadline {
            at: Instant::now() + limit,
            limit,
        })
    }

    /// The context of an operation in this environment, with the deadline of
    /// [`Env::deadline`] and `err` as its sink.
    pub fn context<'a>(
        &self,
        timeout: Option<Duration>,
        default: Duration,
        err: &'a mut dyn Write,
    ) -> Result<Context<'a>, CommandError> {
        Ok(Context {
            credentials: self.credentials.clone(),
            actor: self.actor.clone(),
            clock: Clock::System(self.now),
            deadline: Some(self.deadline(timeout, default)?),
            progress: crate::ops::progress::ProgressMode::for_stderr(self.stderr_is_terminal),
            notify: self.notify.clone(),
            err,
        })
    }

    /// Reads the process environment and the clock.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            credentials: CredentialSource {
                email: var("ATLASSIAN_EMAIL"),
                // A credential pasted with its newline is the credential: trimmed, not "rejected".
                api_token: var("ATLASSIAN_API_TOKEN").map(|v| Secret::new(v.trim())),
                admin_api_key: var("ATLASSIAN_ADMIN_API_KEY").map(|v| Secret::new(v.trim())),
                api_base: var("SEATKEEPER_API_BASE"),
            },
            actor: var("SEATKEEPER_ACTOR").or_else(|| var("USER")),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            color: crate::render::ColorChoice::Auto,
            stdout_is_terminal: std::io::stdout().is_terminal(),
            stderr_is_terminal: std::io::stderr().is_terminal(),
            stdin_is_terminal: std::io::stdin().is_terminal(),
            now: Utc::now(),
            timeout: var("SEATKEEPER_TIMEOUT"),
            notify: crate::ops::context::NotifySecrets {
                smtp_username: var("SEATKEEPER_SMTP_USERNAME").map(Secret::new),
                smtp_password: var("SEATKEEPER_SMTP_PASSWORD").map(Secret::new),
                chat_webhook: var("SEATKEEPER_CHAT_WEBHOOK_URL").map(|v| Secret::new(v.trim())),
            },
        }
    }
}

/// seatkeeper: Atlassian Cloud product licenses as code.
#[derive(Debug, Parser)]
#[command(name = "seatkeeper", version, about, long_about = None)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
    /// Colour: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, global = true, default_value_t = crate::render::ColorChoice::Auto)]
    pub color: crate::render::ColorChoice,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a policy folder and report every problem at once (exit 0 or 1).
    Validate(validate::Args),
    /// Show what seatkeeper would change, and why.
    Plan(plan::Args),
    /// Execute a saved plan (or plan, show and ask), with the stale-plan check and the audit log.
    Apply(apply::Args),
    /// Email people before and after a reclaim, once each, and post a digest to chat.
    Notify(notify::Args),
    /// Explain, for every product, whether a user holds it and why.
    Explain(explain::Args),
    /// Sandbox + plan + apply + plan again, with no setup.
    Demo(demo::Args),
    /// Show what a pull request changes: access diff and plan delta between two revisions.
    Diff(diff::Args),
    /// The access review: who holds which product, why, and since when (markdown, csv, json, html).
    Report(report::Args),
    /// Serve a local Atlassian Cloud (Jira v3 and admin APIs) for rehearsals and tests.
    Sandbox(sandbox::Args),
    /// Run the policy's self-tests (tests/*.yaml) against a snapshot.
    Test(test::Args),
    /// Write a starting policy for an org, found from its admin API key alone.
    Init(init::Args),
    /// Write live state as a snapshot, or a starting policy whose plan is empty.
    Export(export::Args),
    /// Audit log tools.
    Audit(audit::Args),
}

/// Where a policy comes from (shared by several commands).
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// The policy folder (holding seatkeeper.yaml).
    #[arg(long, default_value = ".")]
    pub policy: PathBuf,
    /// Read the policy as it is at this git revision (branch, tag, commit), with no checkout.
    #[arg(long = "ref", value_name = "REV")]
    pub git_ref: Option<String>,
}

impl PolicyArgs {
    /// The policy these arguments name.
    pub fn request(&self) -> PolicyRef {
        PolicyRef {
            dir: self.policy.clone(),
            rev: self.git_ref.clone(),
        }
    }
}

/// Where live state comes from, and when to plan (shared by several commands).
#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// Read live state from this snapshot file instead of Atlassian.
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// Plan as of this time: RFC 3339, a date, or `+30d` from now (with `--snapshot`: from the
    /// snapshot's time, a forecast of the org it holds).
    #[arg(long)]
    pub at: Option<String>,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
}

impl StateArgs {
    /// The live state and time these arguments name.
    pub fn request(&self) -> StateRequest {
        StateRequest {
            snapshot: self.snapshot.clone(),
            at: self.at.clone(),
        }
    }
}

/// Render options for stdout: the `--color` choice in this environment.
pub fn render_options(env: &Env) -> crate::render::RenderOptions {
    let no_color = env.no_color.then_some("1");
    crate::render::RenderOptions::for_terminal(env.color, env.stdout_is_terminal, no_color)
}

/// Runs one command.
pub fn run(
    cli: Cli,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CommandError> {
    let env = &Env {
        color: cli.color,
        ..env.clone()
    };
    match cli.command {
        Command::Validate(args) => validate::run(&args, env, out, err),
        Command::Plan(args) => plan::run(&args, env, out, err),
        Command::Apply(args) => apply::run(&args, env, out, err),
        Command::Notify(args) => notify::run(&args, env, out, err),
        Command::Explain(args) => explain::run(&args, env, out, err),
        Command::Demo(args) => demo::run(&args, env, out, err),
        Command::Diff(args) => diff::run(&args, env, out, err),
        Command::Report(args) => report::run(&args, env, out, err),
        Command::Sandbox(args) => sandbox::run(&args, out),
        Command::Test(args) => test::run(&args, env, out, err),
        Command::Init(args) => init::run(&args, env, out, err),
        Command::Export(args) => export::run(&args, env, out, err),
        Command::Audit(args) => audit::run(&args, env, out, err),
    }
}

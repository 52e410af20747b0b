//! `seatkeeper test`: runs the policy's self-tests ([`ops::test`]) and lists them. Exit 0 when
//! all pass, 1 when any fails or cannot be read.

use super::{Env, PolicyArgs, StateArgs, Status, DEFAULT_TIMEOUT};
use crate::ops::{self, test::TestRequest, CommandError};
use std::io::Write;

/// Output formats of `test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TestFormat {
    /// `ok`/`FAIL` lines and a count.
    Text,
    /// One JSON object: every case with its failures, and the counts.
    Json,
}

/// `test` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    state: StateArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TestFormat::Text)]
    format: TestFormat,
}

/// Runs `test`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CommandError> {
    let ctx = &mut env.context(args.state.timeout.timeout, DEFAULT_TIMEOUT, err)?;
    let request = TestRequest {
        policy: args.policy.request(),
        state: args.state.request(),
    };
    let run = ops::test::test(&request, ctx)?;
    let style = crate::render::Style::new(&super::render_options(env));
    let failed = run.cases.iter().filter(|c| !c.failures.is_empty()).count();
    let passed = run.cases.len() - failed;
    if args.format == TestFormat::Text {
        for case in &run.cases {
            let verdict = if case.failures.is_empty() {
                style.green("ok   ")
            } else {
                style.red("FAIL ")
            };
            writeln!(out, "{verdict} {}  ({})", case.name, case.place)?;
            for f in &case.failures {
                writeln!(out, "        {f}")?;
            }
        }
    }
    if let Some(stopped) = run.stopped {
        return Err(stopped);
    }
    match args.format {
        TestFormat::Text => writeln!(out, "\n{passed} passed, {failed} failed.")?,
        TestFormat::Json => {
            let tests: Vec<_> = run
                .cases
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "name": c.name,
                        "place": c.place,
                        "ok": c.failures.is_empty(),
                        "failures": c.failures,
                    })
                })
                .collect();
            let value = serde_json::json!({ "passed": passed, "failed": failed, "tests": tests });
            crate::render::write_json(&value, out)?;
        }
    }
    if failed > 0 {
        return Err(ops::failed(format!("{failed} policy self-tests failed")));
    }
    Ok(Status::Success)
}

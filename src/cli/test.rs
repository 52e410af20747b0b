//! `seatkeeper test`: runs the policy's self-tests (`tests/*.yaml` in the policy folder) against
//! a snapshot or live state, after planning. Exit 0 when all pass, 1 when any fails or cannot be read.

use super::inputs::load_policy_source;
use super::planning::{current_state, resolve_at, Planning, StateArgs};
use super::{Env, Exit, PolicyArgs, Status, DEFAULT_TIMEOUT};
use crate::policy::source::MAX_POLICY_FILE_BYTES;
use crate::selftest::{run_case, TestFile};
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
) -> anyhow::Result<Status> {
    let env = &env.until(args.state.timeout.timeout, DEFAULT_TIMEOUT)?;
    let now = resolve_at(args.state.at.as_deref(), env)?;
    let source = load_policy_source(&args.policy, env.policy_today(now), err)?;
    let test_files = source
        .files
        .glob("tests/*.yaml")
        .map_err(|e| Exit::new(Status::Error, format!("cannot list tests/*.yaml: {e}")))?;
    if test_files.is_empty() {
        return Err(Exit::new(
            Status::Error,
            format!(
                "{} has no self-tests: add tests/*.yaml (see README, \"Policy self-tests\")",
                source.label
            ),
        )
        .into());
    }
    // Self-tests are listed before anything is read from Atlassian.
    let (live, actor) = current_state(
        args.state.snapshot.as_deref(),
        &source.policy,
        env,
        now,
        err,
    )?;
    let planning = Planning::from_parts(source, live, actor, now, err)?;
    let input = planning.input(false);
    let plan = planning.plan(false)?;
    let source = &planning.source;

    let style = crate::render::Style::new(&super::render_options(env));
    let (mut passed, mut failed) = (0, 0);
    let mut cases = Vec::new();
    for file in &test_files {
        let bytes = source
            .files
            .read(file, MAX_POLICY_FILE_BYTES)
            .map_err(|e| Exit::new(Status::Error, format!("{file}: {e}")))?;
        let text = String::from_utf8_lossy(&bytes);
        let parsed: TestFile = match crate::yaml::from_yaml(file, &text) {
            Ok(parsed) => parsed,
            Err(diagnostics) => {
                super::inputs::print_diagnostics(&diagnostics, err)?;
                return Err(
                    Exit::new(Status::Error, format!("{file}: not a valid test file")).into(),
                );
            }
        };
        for (i, case) in parsed.tests.iter().enumerate() {
            let result = run_case(case, &input, &plan, format!("{file}: tests[{i}]"));
            let ok = result.failures.is_empty();
            if ok {
                passed += 1;
            } else {
                failed += 1;
            }
            if args.format == TestFormat::Text {
                let verdict = if ok {
                    style.green("ok   ")
                } else {
                    style.red("FAIL ")
                };
                writeln!(out, "{verdict} {}  ({})", result.name, result.place)?;
                for f in &result.failures {
                    writeln!(out, "        {f}")?;
                }
            }
            cases.push(serde_json::json!({
                "name": result.name,
                "place": result.place,
                "ok": ok,
                "failures": result.failures,
            }));
        }
    }
    match args.format {
        TestFormat::Text => writeln!(out, "\n{passed} passed, {failed} failed.")?,
        TestFormat::Json => {
            let value = serde_json::json!({ "passed": passed, "failed": failed, "tests": cases });
            crate::render::write_json(&value, out)?;
        }
    }
    if failed > 0 {
        return Err(Exit::new(Status::Error, format!("{failed} policy self-tests failed")).into());
    }
    Ok(Status::Success)
}

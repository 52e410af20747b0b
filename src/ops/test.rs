//! `test`: runs the policy's self-tests (`tests/*.yaml` in the policy folder) against a
//! snapshot or live state, after planning.

use super::inputs::{load_policy, print_diagnostics};
use super::planning::current_state;
use super::{failed, CommandError, Context, Planning, PolicyRef, StateRequest};
use crate::policy::source::MAX_POLICY_FILE_BYTES;
use crate::selftest::{run_case, TestFile, TestResult};

/// Which policy's self-tests, against which state.
#[derive(Debug, Clone)]
pub struct TestRequest {
    /// The policy.
    pub policy: PolicyRef,
    /// Live state and the time.
    pub state: StateRequest,
}

/// The self-tests run, in file order.
pub struct TestRun {
    /// Every case run.
    pub cases: Vec<TestResult>,
    /// A test file that could not be read stops the run: the cases before it still count.
    pub stopped: Option<CommandError>,
}

/// Runs the self-tests. A policy without any is an error; failing cases are an outcome.
pub fn test(request: &TestRequest, ctx: &mut Context) -> Result<TestRun, CommandError> {
    let now = ctx.resolve_at(request.state.at.as_deref())?;
    let source = load_policy(&request.policy, ctx.today(now), ctx.err)?;
    let test_files = source
        .files
        .glob("tests/*.yaml")
        .map_err(|e| failed(format!("cannot list tests/*.yaml: {e}")))?;
    if test_files.is_empty() {
        return Err(failed(format!(
            "{} has no self-tests: add tests/*.yaml (see README, \"Policy self-tests\")",
            source.label
        )));
    }
    // Self-tests are listed before anything is read from Atlassian.
    let snapshot = request.state.snapshot.as_deref();
    let (live, actor) = current_state(snapshot, &source.policy, ctx, now)?;
    let planning = Planning::from_parts(source, live, actor, now, ctx.err)?;
    let input = planning.input(false);
    let plan = planning.plan(false)?;
    let mut run = TestRun {
        cases: Vec::new(),
        stopped: None,
    };
    for file in &test_files {
        let bytes = match planning.source.files.read(file, MAX_POLICY_FILE_BYTES) {
            Ok(bytes) => bytes,
            Err(e) => {
                run.stopped = Some(failed(format!("{file}: {e}")));
                break;
            }
        };
        let parsed: TestFile = match crate::yaml::from_yaml(file, &String::from_utf8_lossy(&bytes))
        {
            Ok(parsed) => parsed,
            Err(diagnostics) => {
                print_diagnostics(&diagnostics, ctx.err)?;
                run.stopped = Some(failed(format!("{file}: not a valid test file")));
                break;
            }
        };
        for (i, case) in parsed.tests.iter().enumerate() {
            let place = format!("{file}: tests[{i}]");
            run.cases.push(run_case(case, &input, &plan, place));
        }
    }
    Ok(run)
}

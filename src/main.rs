//! The `seatkeeper` binary: parses arguments, reads the environment once into [`Env`], runs one
//! command and maps the outcome to a documented exit code.

use clap::Parser;

use seatkeeper::cli::{self, Cli, Env};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    // A usage error exits 1, not clap's 2: 2 means "changes present" to `--detailed-exitcode`,
    // and CI must never read a typo in a flag as a plan with changes.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let env = Env::from_process();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let code = match cli::run(cli, &env, &mut out, &mut err) {
        Ok(status) => status.code(),
        Err(error) => {
            if error.is_broken_pipe() {
                return ExitCode::SUCCESS;
            }
            let text = env.redactor().redact(&error.render());
            let _ = writeln!(err, "{text}");
            error.kind.code()
        }
    };
    let _ = out.flush();
    ExitCode::from(code)
}

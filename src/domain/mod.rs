//! The pure core: the policy model and its validation, the live-state model, the ledger of
//! earlier applies, the planner and its plan, the diff of two policies, self-tests, time and
//! diagnostics. It reads no clock, no environment, no file and no network: inputs come in as
//! values, and the edges (the Atlassian client, the sandbox, files, git, the terminal) live
//! outside this folder. `tests/it/cli.rs` fails the build on an import that would break that.

pub mod diagnostics;
pub mod diff;
pub mod grants;
pub mod ledger;
pub mod live;
pub mod messages;
pub mod par;
pub mod plan;
pub mod planner;
pub mod policy;
pub mod selftest;
pub mod time;
pub mod yaml;

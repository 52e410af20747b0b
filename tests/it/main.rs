//! The integration tests, one binary: each module was a test binary of its own, and linking
//! thirteen of them cost minutes on a 2-core CI machine. `cargo test --test it MODULE::` runs
//! one module. The browser test (`report_html`) and the CI-template emulation (`ci_templates`)
//! skip when `SEATKEEPER_SKIP_BROWSER=1` / `SEATKEEPER_SKIP_CI_EMULATION=1`: `.ci/run` runs
//! them in a step of their own.

mod notify_support;
mod sandbox_support;
mod support;

mod apply_e2e;
mod ci_templates;
mod cli;
mod client_requests;
mod client_sandbox;
mod inprocess;
mod notify_chat;
mod notify_e2e;
mod notify_mail;
mod plan_schema;
mod planner_props;
mod policy_fixtures;
mod reclaim_simulation;
mod report_html;
mod sandbox_api;
mod sandbox_conformance;
mod sandbox_faults;
mod schema;

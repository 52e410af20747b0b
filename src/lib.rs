//! seatkeeper: Atlassian Cloud product licenses as code.
//!
//! Architecture (the layout mirrors it):
//!
//! ```text
//! policy repo ─► policy::load ─► Policy ─┐
//!                                        ├─► planner::plan (pure) ─► Plan ─► render::{text, markdown, json}
//! snapshot / Atlassian ─► LiveState ─────┘
//!              audit log ─► Ledger ──────┘
//! ```
//!
//! The pure core is [`domain`]: [`policy`] (model and validation), [`live`] (the live-state
//! model and its snapshot format), [`ledger`] (what earlier applies did), [`planner`], [`plan`],
//! [`diff`], [`selftest`], [`time`] and [`diagnostics`], re-exported here. It reads no clock, no
//! environment, no file and no network; time comes in as a value. [`ops`] is what each command
//! does, between the command line and the backends: a request and a context (credentials,
//! clock, deadline, warnings sink) in, an outcome or a `CommandError` out. The edges are
//! [`render`] (writes to a `&mut dyn Write`),
//! [`atlassian`] (the HTTP client), [`apply`] and [`audit_log`] (executing plans and recording
//! them), [`files`] (reading policy folders and snapshots, atomic writes), [`gitinfo`] (the
//! policy repo), [`sandbox`] (a local Atlassian Cloud, over HTTP or in-process), [`notify`]
//! (delivering notifications: SMTP mail and chat webhooks) and [`cli`] (arguments, rendering,
//! apply's prompt, exit codes). [`messages`] (core) decides which messages are due and what they
//! say.
//! [`grants`] holds every path that bills a product (granting groups the policy does not name,
//! direct role assignments) and the plan warnings they give.
//! Access reviews ([`report`]) combine the planner's explanations with the audit log and git
//! blame, and render markdown, CSV, JSON or HTML.

pub mod apply;
pub mod atlassian;
pub mod audit_log;
pub mod cli;
pub mod domain;
pub mod files;
pub mod gitinfo;
pub mod notify;
pub mod ops;
pub mod redact;
pub mod render;
pub mod report;
pub mod sandbox;

pub use domain::{
    diagnostics, diff, grants, ledger, live, messages, par, plan, planner, policy, selftest, time,
    yaml,
};

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
//! The pure core is [`policy`] (model and validation), [`live`] (the live-state model and its
//! snapshot format), [`ledger`] (what earlier applies did), [`planner`], [`plan`], [`diff`] and
//! [`selftest`]. It reads no clock, no environment and no network; time comes in as a value. The
//! edges are [`render`] (writes to a `&mut dyn Write`), [`atlassian`] (the HTTP client),
//! [`apply`] and [`audit`] (executing plans and recording them), [`files`] (atomic writes),
//! [`gitinfo`] (the policy repo), [`sandbox`] (a local Atlassian Cloud over HTTP) and [`cli`]
//! (arguments, files, exit codes).
//! [`grants`] holds every path that bills a product (granting groups the policy does not name,
//! direct role assignments) and the plan warnings they give.
//! Access reviews ([`report`]) combine the planner's explanations with the audit log and git
//! blame, and render markdown, CSV, JSON or HTML.

pub mod apply;
pub mod atlassian;
pub mod audit;
pub mod cli;
pub mod diagnostics;
pub mod diff;
pub mod files;
pub mod gitinfo;
pub mod grants;
pub mod ledger;
pub mod live;
pub mod ops;
pub mod par;
pub mod plan;
pub mod planner;
pub mod policy;
pub mod redact;
pub mod render;
pub mod report;
pub mod sandbox;
pub mod selftest;
pub mod time;

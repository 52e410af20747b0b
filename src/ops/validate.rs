//! `validate`: loads the policy and finds every problem at once; with the live org or a
//! snapshot, also the policy lines that name nothing in the org (unknown safe users and
//! groups, another site).

use super::inputs::{load_policy_quietly, print_diagnostics, print_warnings};
use super::{CommandError, Context, Planning, PolicyRef, StateRequest};
use crate::plan::Warning;
use crate::policy::{Diagnostic, Severity};
use std::path::PathBuf;

/// What to validate.
#[derive(Debug, Clone)]
pub struct ValidateRequest {
    /// The policy.
    pub policy: PolicyRef,
    /// Also check it against the live org (needs credentials).
    pub live: bool,
    /// Also check it against this snapshot of the org.
    pub snapshot: Option<PathBuf>,
    /// Check dates as of this time: RFC 3339, a date, or `+30d` from now.
    pub at: Option<String>,
    /// Print the diagnostics and org warnings to the sink as they are found (text); otherwise
    /// they are only returned, and network notes go nowhere (JSON holds them all).
    pub print: bool,
}

/// What validation found.
pub struct Validation {
    /// What was read: the folder or `git:REV`.
    pub label: String,
    /// The number of products and safe users, when the policy loaded.
    pub counts: Option<(usize, usize)>,
    /// Every error and warning, sorted by place.
    pub diagnostics: Vec<Diagnostic>,
    /// How many of them are errors.
    pub errors: usize,
    /// Whether the policy was checked against the org (it had no errors, and the org was asked
    /// for).
    pub org_checked: bool,
    /// The policy lines that match nothing in the org.
    pub org_warnings: Vec<Warning>,
    /// The words that say which safety rails are at their defaults, if any are.
    pub defaults: Option<String>,
}

/// Validates the policy, and checks it against the org when asked. A policy with errors is an
/// outcome, not a failure: the caller reports the diagnostics its way, then fails.
pub fn validate(request: &ValidateRequest, ctx: &mut Context) -> Result<Validation, CommandError> {
    let now = ctx.resolve_at(request.at.as_deref())?;
    let (dir, rev) = (&request.policy.dir, request.policy.rev.as_deref());
    let loaded = load_policy_quietly(dir, rev, ctx.today(now))?;
    if request.print {
        print_diagnostics(&loaded.diagnostics, ctx.err)?;
    }
    let errors = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let with_org = request.live || request.snapshot.is_some();
    let mut validation = Validation {
        label: String::new(),
        counts: None,
        diagnostics: loaded.diagnostics,
        errors,
        org_checked: with_org && errors == 0,
        org_warnings: Vec::new(),
        defaults: None,
    };
    let source = match loaded.source {
        Ok(source) => source,
        Err(label) => {
            validation.label = label;
            return Ok(validation);
        }
    };
    validation.label = source.label.clone();
    validation.counts = Some((source.policy.products.len(), source.policy.users.len()));
    validation.defaults = source.policy.safety.defaults_words();
    if with_org {
        let state = StateRequest {
            snapshot: request.snapshot.clone(),
            at: request.at.clone(),
        };
        let planning = if request.print {
            Planning::from_source(source, &state, ctx)?
        } else {
            Planning::from_source(source, &state, &mut ctx.with_err(&mut std::io::sink()))?
        };
        validation.org_warnings =
            crate::planner::live_checks(&planning.source.policy, &planning.live);
        if request.print {
            print_warnings(&validation.org_warnings, ctx.err)?;
        }
    }
    Ok(validation)
}

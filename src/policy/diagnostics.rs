//! Diagnostics: one problem in a policy or snapshot, with a stable kebab-case code, where it is,
//! a message and a hint. Validation collects all of them and reports them at once.

use super::Location;
use std::fmt;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Validation fails.
    Error,
    /// Worth knowing; validation passes.
    Warning,
}

/// One problem found in an input file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Stable kebab-case code, like `unknown-key` or `duplicate-user`.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// Where; `line`/`column` are 0 when only the file is known.
    pub location: Location,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error.
    pub fn error(code: &'static str, location: Location, message: impl Into<String>) -> Self {
        Self { code, severity: Severity::Error, location, message: message.into(), hint: None }
    }

    /// A warning.
    pub fn warning(code: &'static str, location: Location, message: impl Into<String>) -> Self {
        Self { code, severity: Severity::Warning, location, message: message.into(), hint: None }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let loc = &self.location;
        if loc.line == 0 {
            write!(f, "{level}[{}]: {}: {}", self.code, loc.file, self.message)?;
        } else {
            write!(f, "{level}[{}]: {loc}: {}", self.code, self.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Writes diagnostics for humans, one block per diagnostic, then a summary line like
/// `2 errors, 1 warning`. Nothing is written for an empty list.
pub fn render_diagnostics(
    diags: &[Diagnostic],
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    if diags.is_empty() {
        return Ok(());
    }
    for d in diags {
        writeln!(out, "{d}")?;
    }
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diags.len() - errors;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    writeln!(
        out,
        "{}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}

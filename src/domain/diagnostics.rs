//! Diagnostics: one problem in a policy or snapshot, with a stable kebab-case code, where it is
//! ([`Location`]), a message and a hint. Validation collects all of them and reports them at
//! once. Shared by the policy and the live-state readers, so neither depends on the other.

use std::fmt;
use std::sync::Arc;

/// Where something was written: a policy file relative to the policy root, and a 1-based line
/// and column.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Location {
    /// Path relative to the policy folder, with `/` separators. Shared: a policy holds
    /// hundreds of thousands of locations in a handful of files.
    #[serde(with = "shared_str")]
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl Location {
    /// A place in `file`.
    pub fn at(file: &str, line: u32, column: u32) -> Self {
        Self {
            file: Arc::from(file),
            line,
            column,
        }
    }

    /// A place in `file`, sharing the file name (no allocation).
    pub fn in_shared(file: &Arc<str>, line: u32, column: u32) -> Self {
        Self {
            file: Arc::clone(file),
            line,
            column,
        }
    }

    /// The whole of `file` (line and column 0).
    pub fn whole_file(file: &str) -> Self {
        Self::at(file, 0, 0)
    }
}

/// Serde for [`Location::file`]: a plain string.
mod shared_str {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::sync::Arc;

    pub fn serialize<S: Serializer>(value: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
        String::deserialize(d).map(Arc::from)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

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
        Self {
            code,
            severity: Severity::Error,
            location,
            message: message.into(),
            hint: None,
        }
    }

    /// A warning.
    pub fn warning(code: &'static str, location: Location, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: Severity::Warning,
            location,
            message: message.into(),
            hint: None,
        }
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

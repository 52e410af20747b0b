//! The one error every operation returns, in the style of jj's `CommandError`: a kind that
//! decides the exit code (DESIGN §5), the cause chain kept whole for `Caused by:`, and hints
//! kept apart from the message.

use std::fmt;

/// How a hint starts, on a line of its own under the message.
const HINT: &str = "\n  hint: ";

/// What kind of failure it is; each kind exits with its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 1: an error (bad input, a failed read, a file that cannot be written).
    Error = 1,
    /// 3: refused: a rail that needs a human, a held lock, no terminal to confirm on.
    Refused = 3,
    /// 4: the saved plan is stale.
    Stale = 4,
    /// 5: partially applied (some actions failed, or the time limit stopped apply); rerun to
    /// converge.
    Partial = 5,
}

impl ErrorKind {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Why an operation failed. Anything that converts to [`anyhow::Error`] converts to this with
/// [`ErrorKind::Error`], so `?` keeps its cause chain.
#[derive(Debug)]
pub struct CommandError {
    /// Which exit code.
    pub kind: ErrorKind,
    /// What went wrong, with its causes.
    pub error: anyhow::Error,
    /// What to try, shown after the causes.
    pub hints: Vec<String>,
}

impl CommandError {
    /// A failure of `kind` that says `message`. The lower layers write their hints into their
    /// messages (`...\n  hint: ...`): those lines become hints here.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut parts = message.split(HINT);
        let headline = parts.next().unwrap_or_default().to_string();
        Self {
            kind,
            error: anyhow::Error::msg(headline),
            hints: parts.map(str::to_string).collect(),
        }
    }

    /// This error with a hint added.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Renders the error like cargo: `error:`, its `Caused by:` chain, then the hints.
    pub fn render(&self) -> String {
        let mut text = format!("error: {}", self.error);
        let causes: Vec<String> = self.error.chain().skip(1).map(|c| c.to_string()).collect();
        if !causes.is_empty() {
            text.push_str("\n\nCaused by:");
            for cause in causes {
                text.push_str(&format!("\n  {cause}"));
            }
        }
        for hint in &self.hints {
            text.push_str(&format!("{HINT}{hint}"));
        }
        text
    }

    /// Whether the error is a closed stdout (`seatkeeper plan | head`), which exits 0 like
    /// ripgrep.
    pub fn is_broken_pipe(&self) -> bool {
        self.error.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
        })
    }
}

/// The message and its hints, as they read inside another message.
impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)?;
        self.hints
            .iter()
            .try_for_each(|hint| write!(f, "{HINT}{hint}"))
    }
}

impl<E: Into<anyhow::Error>> From<E> for CommandError {
    fn from(error: E) -> Self {
        Self {
            kind: ErrorKind::Error,
            error: error.into(),
            hints: Vec::new(),
        }
    }
}

/// A failure of kind [`ErrorKind::Error`] that says `message`.
pub fn failed(message: impl Into<String>) -> CommandError {
    CommandError::new(ErrorKind::Error, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_then_hints_and_the_kind_decides_the_code() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = CommandError::from(anyhow::Error::new(io).context("cannot read plan p.json"))
            .hint("make one with `seatkeeper plan --out p.json`");
        assert_eq!(
            e.render(),
            "error: cannot read plan p.json\n\nCaused by:\n  no such file\n  hint: make one with \
             `seatkeeper plan --out p.json`"
        );
        assert_eq!(e.kind.code(), 1);
        let lock = CommandError::new(ErrorKind::Refused, "the lock is held\n  hint: wait");
        assert_eq!((lock.hints.len(), lock.kind.code()), (1, 3));
        assert_eq!(lock.render(), "error: the lock is held\n  hint: wait");
        let pipe = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "closed");
        assert!(CommandError::from(pipe).is_broken_pipe());
    }
}

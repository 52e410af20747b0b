//! Progress of long network work on stderr, so a read of a big org never looks hung: on a
//! terminal one line rewritten in place every second, elsewhere (CI logs) a plain line every
//! 10 s. Work that finishes within the first period prints nothing.

use crate::atlassian::RequestStats;
use std::future::Future;
use std::io::Write;
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// One line, rewritten in place (stderr is a terminal).
    Terminal,
    /// A plain line now and then (CI logs, files).
    Lines,
    /// Nothing.
    Off,
}

impl ProgressMode {
    /// The mode for a stderr that is, or is not, a terminal.
    pub fn for_stderr(is_terminal: bool) -> Self {
        if is_terminal {
            Self::Terminal
        } else {
            Self::Lines
        }
    }

    fn period(self) -> Duration {
        match self {
            Self::Terminal => Duration::from_secs(1),
            Self::Lines | Self::Off => Duration::from_secs(10),
        }
    }
}

fn line(what: &str, stats: RequestStats, elapsed: Duration) -> String {
    let mut s = format!(
        "{what}: {} requests, {} s",
        stats.requests,
        elapsed.as_secs()
    );
    if stats.retries > 0 || stats.rate_limited > 0 {
        s.push_str(&format!(
            " ({} retried, {} rate-limited)",
            stats.retries, stats.rate_limited
        ));
    }
    s
}

/// Drives `work` to completion, telling `err` how it goes: `what` names the work, `stats` counts
/// its requests so far.
pub async fn with_progress<F: Future>(
    work: F,
    what: &str,
    mode: ProgressMode,
    stats: impl Fn() -> RequestStats,
    err: &mut dyn Write,
) -> F::Output {
    if mode == ProgressMode::Off {
        return work.await;
    }
    let started = Instant::now();
    let before = stats();
    let mut ticker =
        tokio::time::interval_at(tokio::time::Instant::now() + mode.period(), mode.period());
    let mut shown = false;
    tokio::pin!(work);
    let output = loop {
        tokio::select! {
            output = &mut work => break output,
            _ = ticker.tick() => {
                let text = line(what, stats() - before, started.elapsed());
                // A failed write to stderr must not fail the work.
                let _ = match mode {
                    ProgressMode::Terminal => write!(err, "\r\x1b[2K{text}"),
                    _ => writeln!(err, "{text}"),
                };
                let _ = err.flush();
                shown = true;
            }
        }
    };
    if shown && mode == ProgressMode::Terminal {
        let _ = write!(err, "\r\x1b[2K");
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn quiet_when_quick_and_a_line_every_period_otherwise() {
        let stats = || RequestStats {
            requests: 7,
            retries: 1,
            rate_limited: 0,
        };
        let mut out = Vec::new();
        let quick = with_progress(async { 1 }, "reading", ProgressMode::Lines, stats, &mut out);
        assert_eq!(quick.await, 1);
        assert!(out.is_empty());

        let slow = async {
            tokio::time::sleep(Duration::from_secs(25)).await;
            2
        };
        let done = with_progress(slow, "reading", ProgressMode::Lines, stats, &mut out).await;
        assert_eq!(done, 2);
        let text = String::from_utf8(out).unwrap_or_default();
        // The counts are relative to the start (here constant, so 0), one line per 10 s.
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.starts_with("reading: 0 requests, "), "{text}");

        let mut term = Vec::new();
        let slow = async {
            tokio::time::sleep(Duration::from_secs(3)).await;
        };
        with_progress(slow, "reading", ProgressMode::Terminal, stats, &mut term).await;
        let text = String::from_utf8(term).unwrap_or_default();
        assert!(text.starts_with("\r\u{1b}[2Kreading"), "{text:?}");
        assert!(
            text.ends_with("\r\u{1b}[2K"),
            "the line is cleared: {text:?}"
        );
    }
}

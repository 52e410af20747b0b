//! Durations (`90d`, `12h`, `2w`) as written in policies and on the command line, and the
//! `--at` argument (`2026-11-25T08:00:00Z`, `2026-11-25` or `+30d`).

use chrono::{DateTime, NaiveDate, Utc};
use std::fmt;

/// A non-negative span of time written as `<n><unit>` with unit `m`, `h`, `d` or `w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    seconds: i64,
}

/// Why a duration or time could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error(
        "`{0}` is not a duration: write a number and a unit, like `90d`, `12h`, `2w` or `30m`"
    )]
    BadDuration(String),
    #[error("`{0}` is not a date: write it as YYYY-MM-DD, like `2027-01-31`")]
    BadDate(String),
    #[error("`{0}` is not a time: write an RFC 3339 timestamp (`2026-11-25T08:00:00Z`), a date (`2026-11-25`) or an offset from now (`+30d`)")]
    BadTime(String),
}

impl Duration {
    /// A duration of whole days.
    pub const fn days(days: i64) -> Self {
        Self {
            seconds: days * 86_400,
        }
    }

    /// A duration of whole seconds.
    pub const fn seconds(seconds: i64) -> Self {
        Self { seconds }
    }

    /// The length in seconds.
    pub const fn as_seconds(self) -> i64 {
        self.seconds
    }

    /// The same span as a `chrono::TimeDelta` for date arithmetic.
    pub fn to_chrono(self) -> chrono::TimeDelta {
        chrono::TimeDelta::seconds(self.seconds)
    }

    /// Parses `90d`, `12h`, `2w`, `30m` (and `0d`). Rejects signs, spaces, fractions and overflow.
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        let bad = || TimeError::BadDuration(text.to_string());
        if !text.is_ascii() {
            return Err(bad());
        }
        let (digits, unit) = text.split_at(text.len().saturating_sub(1));
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 9 {
            return Err(bad());
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        let unit_seconds = match unit {
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(bad()),
        };
        Ok(Self {
            seconds: n * unit_seconds,
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        if s % 86_400 == 0 {
            write!(f, "{}d", s / 86_400)
        } else if s % 3_600 == 0 {
            write!(f, "{}h", s / 3_600)
        } else {
            write!(f, "{}m", s / 60)
        }
    }
}

/// Parses a calendar date `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate, TimeError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 10)
        .ok_or_else(|| TimeError::BadDate(text.to_string()))
}

/// The start (00:00 UTC) of a calendar date.
pub fn start_of_day(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Resolves `--at`: an RFC 3339 timestamp, a date (midnight UTC) or `+N<unit>` after `now`.
pub fn parse_at(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeError> {
    if let Some(offset) = text.strip_prefix('+') {
        let d = Duration::parse(offset).map_err(|_| TimeError::BadTime(text.to_string()))?;
        return now
            .checked_add_signed(d.to_chrono())
            .ok_or_else(|| TimeError::BadTime(text.to_string()));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    parse_date(text)
        .map(start_of_day)
        .map_err(|_| TimeError::BadTime(text.to_string()))
}

/// Whole days from `earlier` to `later`, rounded down (0 when `later` is not after `earlier`).
pub fn whole_days(earlier: DateTime<Utc>, later: DateTime<Utc>) -> i64 {
    (later - earlier).num_days().max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_display() {
        assert_eq!(
            Duration::parse("90d").map(|d| d.to_string()),
            Ok("90d".into())
        );
        assert_eq!(Duration::parse("2w"), Ok(Duration::days(14)));
        assert_eq!(Duration::parse("12h").map(|d| d.as_seconds()), Ok(43_200));
        for bad in [
            "",
            "d",
            "90",
            "-1d",
            "1.5d",
            "90 d",
            "90D",
            "9999999999d",
            "+3d",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn at_accepts_timestamps_dates_and_offsets() {
        let now = parse_at("2026-11-25T08:00:00Z", Utc::now()).expect("timestamp");
        assert_eq!(
            parse_at("+30d", now).expect("offset").to_rfc3339(),
            "2026-12-25T08:00:00+00:00"
        );
        assert_eq!(
            parse_at("2026-12-01", now).expect("date").to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        assert!(parse_at("next tuesday", now).is_err());
        assert!(
            parse_at("+999999999w", now).is_err(),
            "overflow is an error, not a panic"
        );
        assert!(parse_date("2026-02-30").is_err());
    }
}

//! Durations (`90d`, `12h`, `2w`) as written in policies, on the command line and to the
//! sandbox clock (one parser; each place says which units it takes), and the `--at` argument (`2026-11-25T08:00:00Z`, `2026-11-25` or `+30d`).

use chrono::{DateTime, NaiveDate, Utc};
use std::fmt;

/// A non-negative span of time written as `<n><unit>`. Which units are accepted depends on
/// where the duration is written (see [`Unit`] and [`Duration::parse_in`]): policies take days
/// and weeks (`grace` also hours), the command line and the sandbox clock take hours, days and
/// weeks. `m` is never a unit: months or minutes, nobody can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    seconds: i64,
}

/// A unit a duration may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// `h`.
    Hours,
    /// `d`.
    Days,
    /// `w`.
    Weeks,
}

impl Unit {
    /// The letter that writes this unit.
    pub const fn letter(self) -> char {
        match self {
            Unit::Hours => 'h',
            Unit::Days => 'd',
            Unit::Weeks => 'w',
        }
    }

    /// The unit's length in seconds.
    pub const fn seconds(self) -> i64 {
        match self {
            Unit::Hours => 3_600,
            Unit::Days => 86_400,
            Unit::Weeks => 7 * 86_400,
        }
    }

    fn from_letter(text: &str) -> Option<Self> {
        match text {
            "h" => Some(Unit::Hours),
            "d" => Some(Unit::Days),
            "w" => Some(Unit::Weeks),
            _ => None,
        }
    }
}

/// Days and weeks: the units of a policy's `inactivity` and `notice`.
pub const DAYS_WEEKS: &[Unit] = &[Unit::Days, Unit::Weeks];

/// Hours, days and weeks: a policy's `grace`, `--at +N<unit>` and the sandbox clock.
pub const HOURS_DAYS_WEEKS: &[Unit] = &[Unit::Hours, Unit::Days, Unit::Weeks];

/// Why a text is not a duration, in enough detail for a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    /// Not a whole number followed by letters (a sign, a space, a fraction, no number, more
    /// than 9 digits, non-ASCII text).
    Malformed,
    /// A number without a unit, like `90`.
    MissingUnit {
        /// The number.
        n: i64,
    },
    /// `m`: months or minutes?
    Ambiguous {
        /// The number.
        n: i64,
    },
    /// A unit seatkeeper knows that is not accepted here (`h` for `inactivity`).
    UnitNotAllowed {
        /// The number.
        n: i64,
        /// The unit.
        unit: Unit,
    },
    /// Letters that are not a unit, like `y` or `days`.
    UnknownUnit {
        /// The number.
        n: i64,
        /// The letters as written.
        unit: String,
    },
}

/// Why a duration or time could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("`{0}` is not a duration: write a number and a unit, like `90d`, `12h` or `2w`")]
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

    /// Parses `90d`, `12h` or `2w` (and `0d`): hours, days and weeks, as the command line and
    /// the sandbox clock take them. Rejects `m`, signs, spaces, fractions and overflow.
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        Self::parse_in(text, HOURS_DAYS_WEEKS).map_err(|_| TimeError::BadDuration(text.into()))
    }

    /// Parses `<n><unit>` where the unit is one of `units`: at most 9 digits, then one unit
    /// letter, nothing else.
    pub fn parse_in(text: &str, units: &[Unit]) -> Result<Self, DurationError> {
        if !text.is_ascii() {
            return Err(DurationError::Malformed);
        }
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return Err(DurationError::Malformed);
        }
        let (number, unit) = text.split_at(digits);
        let n: i64 = number.parse().map_err(|_| DurationError::Malformed)?;
        if unit.is_empty() {
            return Err(DurationError::MissingUnit { n });
        }
        if !unit.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(DurationError::Malformed);
        }
        if unit == "m" {
            return Err(DurationError::Ambiguous { n });
        }
        match Unit::from_letter(unit) {
            Some(u) if units.contains(&u) => Ok(Self {
                seconds: n * u.seconds(),
            }),
            Some(u) => Err(DurationError::UnitNotAllowed { n, unit: u }),
            None => Err(DurationError::UnknownUnit {
                n,
                unit: unit.to_string(),
            }),
        }
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
            "30m",
            "3d!",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn units_are_chosen_by_the_caller_and_m_is_never_one() {
        use DurationError::*;
        assert_eq!(
            Duration::parse_in("12w", DAYS_WEEKS),
            Ok(Duration::days(84))
        );
        assert_eq!(
            Duration::parse_in("36h", DAYS_WEEKS),
            Err(UnitNotAllowed {
                n: 36,
                unit: Unit::Hours
            })
        );
        assert_eq!(
            Duration::parse_in("36h", HOURS_DAYS_WEEKS).map(Duration::as_seconds),
            Ok(36 * 3_600)
        );
        for units in [DAYS_WEEKS, HOURS_DAYS_WEEKS] {
            assert_eq!(Duration::parse_in("3m", units), Err(Ambiguous { n: 3 }));
        }
        assert_eq!(
            Duration::parse_in("2y", DAYS_WEEKS),
            Err(UnknownUnit {
                n: 2,
                unit: "y".into()
            })
        );
        assert_eq!(
            Duration::parse_in("90days", DAYS_WEEKS),
            Err(UnknownUnit {
                n: 90,
                unit: "days".into()
            })
        );
        assert_eq!(
            Duration::parse_in("90", DAYS_WEEKS),
            Err(MissingUnit { n: 90 })
        );
        for bad in ["", "d", "90 d", "1.5d", "-1d", "3d!", "1234567890d", "9é"] {
            assert_eq!(
                Duration::parse_in(bad, DAYS_WEEKS),
                Err(Malformed),
                "{bad:?}"
            );
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

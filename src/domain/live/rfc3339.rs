//! Reading snapshot times fast. Snapshots hold hundreds of thousands of RFC 3339 times, nearly
//! all in the canonical form `YYYY-MM-DDTHH:MM:SSZ` that seatkeeper writes. That form is read
//! here directly; anything else (fractional seconds, offsets, lowercase `t`/`z`, a space, leap
//! seconds, out-of-range fields, other types) goes to chrono's own deserializer, so what is
//! accepted and every error message stay exactly chrono's.
//!
//! Use with `#[serde(deserialize_with = "rfc3339::utc")]` (or [`option_utc`] for an optional
//! field); [`Time`] reads map values.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};
use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// `YYYY-MM-DDTHH:MM:SSZ` exactly, with a real date and a time of day without a leap second;
/// `None` for anything else.
pub fn parse_canonical(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let year = i32::try_from(num(0, 4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, num(5, 7)?, num(8, 10)?)?;
    let time = NaiveTime::from_hms_opt(hour, minute, second)?;
    Some(date.and_time(time).and_utc())
}

/// A time read through [`parse_canonical`] with chrono as the fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time(pub DateTime<Utc>);

struct TimeVisitor;

impl Visitor<'_> for TimeVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // chrono's words, so type errors read the same.
        f.write_str("an RFC 3339 formatted date and time string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        match parse_canonical(value) {
            Some(t) => Ok(t),
            None => value
                .parse::<DateTime<FixedOffset>>()
                .map(|t| t.with_timezone(&Utc))
                .map_err(E::custom),
        }
    }
}

impl<'de> de::Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TimeVisitor).map(Time)
    }
}

/// Deserializes a `DateTime<Utc>` like chrono does, faster.
pub fn utc<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    d.deserialize_str(TimeVisitor)
}

/// Deserializes an `Option<DateTime<Utc>>` like chrono does, faster.
pub fn option_utc<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    <Option<Time> as de::Deserialize>::deserialize(d).map(|t| t.map(|t| t.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Chrono {
        t: DateTime<Utc>,
        #[serde(default)]
        o: Option<DateTime<Utc>>,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Fast {
        #[serde(deserialize_with = "utc")]
        t: DateTime<Utc>,
        #[serde(default, deserialize_with = "option_utc")]
        o: Option<DateTime<Utc>>,
    }

    /// Both readers give the same time, or the same error message (position included).
    /// Whether the fast path read it.
    fn agree(json_value: &str) -> bool {
        for doc in [
            format!("{{\"t\": {json_value}}}"),
            format!("{{\"t\": \"2026-01-01T00:00:00Z\", \"o\": {json_value}}}"),
        ] {
            let slow = serde_json::from_str::<Chrono>(&doc).map_err(|e| e.to_string());
            let fast = serde_json::from_str::<Fast>(&doc).map_err(|e| e.to_string());
            match (&slow, &fast) {
                (Ok(s), Ok(f)) => assert_eq!((s.t, s.o), (f.t, f.o), "{doc}"),
                (Err(s), Err(f)) => assert_eq!(s, f, "{doc}"),
                _ => panic!("{doc}: chrono {slow:?}, fast {fast:?}"),
            }
        }
        let text = json_value.trim_matches('"');
        let fast = parse_canonical(text);
        if let Some(t) = fast {
            let chrono = text.parse::<DateTime<FixedOffset>>().map(|t| t.to_utc());
            assert_eq!(chrono, Ok(t), "{text}");
        }
        fast.is_some()
    }

    #[test]
    fn agrees_with_chrono_on_edge_cases() {
        for text in [
            "2026-11-25T08:00:00Z",
            "2024-02-29T23:59:59Z",
            "2023-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2000-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2026-12-31T23:59:60Z",
            "2026-06-30T23:59:60Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-01-01T00:00:61Z",
            "2026-00-10T00:00:00Z",
            "2026-13-10T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-04-00T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2026-11-25t08:00:00Z",
            "2026-11-25T08:00:00z",
            "2026-11-25 08:00:00Z",
            "2026-11-25T08:00:00.5Z",
            "2026-11-25T08:00:00.123456789Z",
            "2026-11-25T08:00:00+00:00",
            "2026-11-25T08:00:00-00:00",
            "2026-11-25T08:00:00+01:30",
            "2026-11-25T08:00:00+0130",
            "2026-11-25T08:00:00+24:00",
            "2026-11-25T08:00:00",
            "2026-11-25T08:00Z",
            "2026-11-25",
            "+2026-11-25T08:00:00Z",
            "-0001-11-25T08:00:00Z",
            "12026-11-25T08:00:00Z",
            "2026-1-25T08:00:00Z",
            "2026-11-25T8:00:00Z",
            "2026/11/25T08:00:00Z",
            "2026-11-25T08-00-00Z",
            "2026-11-25T08:00:00ZZ",
            " 2026-11-25T08:00:00Z",
            "2026-11-25T08:00:00Z ",
            "2026-11-2aT08:00:00Z",
            "2026-11-25T08:00:0aZ",
            "２０２６-11-25T08:00:00Z",
            "",
            "yesterday",
        ] {
            agree(&format!("\"{text}\""));
        }
        assert!(agree("\"2024-02-29T23:59:59Z\""));
        assert!(!agree("\"2026-12-31T23:59:60Z\""));
        agree("\"2026-11-25T08:00:00\\u005a\"");
        for other in ["null", "5", "1.5", "true", "[]", "{}"] {
            agree(other);
        }
    }

    #[test]
    fn agrees_with_chrono_on_generated_times() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut fast = 0;
        // Mostly in range, sometimes any two digits.
        let digits = |rng: &mut SmallRng, n: usize, hi: u32| -> String {
            let hi = if rng.gen_bool(0.9) {
                hi
            } else {
                10u32.pow(n as u32)
            };
            let v = rng.gen_range(0..hi);
            format!("{v:0n$}")
        };
        for _ in 0..20_000 {
            let year = match rng.gen_range(0..4) {
                0 => digits(&mut rng, 4, 10_000),
                _ => format!("{}", rng.gen_range(1999..2101)),
            };
            let month = digits(&mut rng, 2, 13);
            let day = digits(&mut rng, 2, 32);
            let hour = digits(&mut rng, 2, 25);
            let minute = digits(&mut rng, 2, 61);
            let second = digits(&mut rng, 2, 62);
            let t = ["T", "T", "T", "t", " "][rng.gen_range(0..5)];
            let frac = ["", "", "", ".5", ".000", ".123456789", "."][rng.gen_range(0..7)];
            let zone = [
                "Z", "Z", "Z", "z", "+00:00", "-05:30", "+23:59", "+24:00", "",
            ][rng.gen_range(0..9)];
            fast += usize::from(agree(&format!(
                "\"{year}-{month}-{day}{t}{hour}:{minute}:{second}{frac}{zone}\""
            )));
        }
        assert!(fast > 500, "{fast}");
    }
}

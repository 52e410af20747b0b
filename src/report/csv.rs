//! The CSV report: one row per (product, holder), for spreadsheets and audit evidence.
//!
//! Columns, in this order (more may be appended, never reordered):
//! `product, account_id, email, name, rule, entry, added_by_commit, added_by_author,
//! last_active, days_left, added_on, via, outcome, activity, reclaim_on, status,
//! product_last_active`.
//!
//! - `rule` is the [`Basis`](super::Basis): `kept`, `safe-user`, `eligible-group`,
//!   `not-eligible`, `expired`, `account-closed`.
//! - `entry` is `file:line` of the policy entry; `added_by_*`/`added_on` come from git blame.
//! - `last_active` is the date of the latest activity evidence (named by `activity`), from
//!   which `days_left` (whole days until `reclaim_on`) counts. Empty when not applicable.
//! - `product_last_active` is the product's own last-active date, whatever evidence decided
//!   (a login never keeps a seat); empty when the product was never used.
//!
//! The file follows RFC 4180: CRLF line ends, and a field holding a comma, quote, CR or LF is
//! quoted with its quotes doubled. A field that a spreadsheet would run as a formula (starting
//! with `=`, `+`, `-`, `@`, tab or CR) is prefixed with `'`, so a crafted display name cannot
//! execute anything when the review is opened in Excel or Sheets.

use super::{day, AccessReport};
use std::borrow::Cow;
use std::io::{self, Write};

/// The header row.
pub const COLUMNS: [&str; 17] = [
    "product",
    "account_id",
    "email",
    "name",
    "rule",
    "entry",
    "added_by_commit",
    "added_by_author",
    "last_active",
    "days_left",
    "added_on",
    "via",
    "outcome",
    "activity",
    "reclaim_on",
    "status",
    "product_last_active",
];

/// Writes the CSV report.
pub fn render(report: &AccessReport, out: &mut dyn Write) -> io::Result<()> {
    write_row(out, COLUMNS.iter().map(|c| Cow::Borrowed(*c)))?;
    for (product, h) in report.holders() {
        let origin = h.added_by.as_ref();
        let row: [Cow<'_, str>; 17] = [
            product.product.as_str().into(),
            h.account_id.as_str().into(),
            h.email.as_deref().unwrap_or("").into(),
            h.name.as_str().into(),
            h.basis.as_str().into(),
            h.entry
                .as_ref()
                .map_or(String::new(), |l| format!("{}:{}", l.file, l.line))
                .into(),
            origin.map_or("", |o| o.commit.as_str()).into(),
            origin.map_or("", |o| o.author.as_str()).into(),
            h.last_active.map(day).unwrap_or_default().into(),
            h.days_left
                .map(|d| d.to_string())
                .unwrap_or_default()
                .into(),
            origin.map_or("", |o| o.date.as_str()).into(),
            h.via.as_deref().unwrap_or("").into(),
            h.fate.describe().into(),
            h.activity_source.describe().into(),
            h.reclaim_at.map(day).unwrap_or_default().into(),
            h.status.as_str().into(),
            h.product_last_active.map(day).unwrap_or_default().into(),
        ];
        write_row(out, row.into_iter())?;
    }
    Ok(())
}

fn write_row<'a>(
    out: &mut dyn Write,
    fields: impl Iterator<Item = Cow<'a, str>>,
) -> io::Result<()> {
    let mut line = String::new();
    for (i, f) in fields.enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&field(&f));
    }
    line.push_str("\r\n");
    out.write_all(line.as_bytes())
}

/// One field, neutralised against formula injection and quoted per RFC 4180 when needed.
pub fn field(value: &str) -> Cow<'_, str> {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let value: Cow<'_, str> = if formula {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    };
    if value.contains([',', '"', '\r', '\n']) || formula {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        value
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A strict RFC 4180 parser for tests: rows of fields.
    pub(crate) fn parse(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut field = String::new();
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            if quoted {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => quoted = false,
                    c => field.push(c),
                }
            } else {
                match c {
                    '"' => {
                        assert!(field.is_empty(), "quote inside an unquoted field");
                        quoted = true;
                    }
                    ',' => row.push(std::mem::take(&mut field)),
                    '\r' => {
                        assert_eq!(chars.next(), Some('\n'), "bare CR");
                        row.push(std::mem::take(&mut field));
                        rows.push(std::mem::take(&mut row));
                    }
                    '\n' => panic!("bare LF outside quotes"),
                    c => field.push(c),
                }
            }
        }
        assert!(!quoted, "unterminated quote");
        assert!(field.is_empty() && row.is_empty(), "last row without CRLF");
        rows
    }

    #[test]
    fn fields_are_quoted_per_rfc_4180() {
        assert_eq!(field("alice"), "alice");
        assert_eq!(field("Smith, Alice"), "\"Smith, Alice\"");
        assert_eq!(field("Al \"the pal\""), "\"Al \"\"the pal\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("cr\rhere"), "\"cr\rhere\"");
    }

    #[test]
    fn formula_prefixes_are_neutralised() {
        for evil in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tcmd",
        ] {
            let f = field(evil);
            assert!(f.starts_with("\"'"), "{evil:?} → {f}");
        }
        assert_eq!(field("=1+1"), "\"'=1+1\"");
        assert_eq!(
            field("alice@acme.com"),
            "alice@acme.com",
            "@ inside is fine"
        );
    }

    #[test]
    fn crafted_names_survive_a_round_trip() {
        let report = crate::report::fixtures::report();
        let mut out = Vec::new();
        render(&report, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows = parse(&text);
        assert_eq!(rows[0], COLUMNS.map(String::from).to_vec());
        assert_eq!(rows.len(), 1 + report.holders().count());
        assert!(rows.iter().all(|r| r.len() == COLUMNS.len()));
        let names: Vec<&str> = rows.iter().map(|r| r[3].as_str()).collect();
        assert!(names.contains(&"Mallory, \"The\"\nIntruder"), "{names:?}");
        assert!(
            names.contains(&"'=HYPERLINK(\"http://evil\",\"x\")"),
            "{names:?}"
        );
        for r in &rows[1..] {
            for f in r {
                assert!(!f.starts_with(['=', '+', '-', '@']), "unsafe field {f:?}");
            }
        }
    }
}

//! Writing JSON straight into one byte buffer, for the page handlers that serve thousands of
//! objects a page (admin `users/search`, `events-stream`). Building a `serde_json::Value` per
//! object allocates a map node per key and a `String` per value; these helpers append to one
//! pre-sized buffer instead.
//!
//! Callers write object keys in the order `serde_json::Value` serializes them (sorted), so the
//! bytes are the same as the `json!` rendering they replace. Strings are escaped by serde_json
//! itself.

use chrono::{DateTime, SecondsFormat, Utc};
use std::io::Write as _;

/// Appends `s` as a JSON string.
pub fn str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escaped(out, s);
    out.push(b'"');
}

/// Appends the inside of the JSON string for `s` (no quotes), escaped as serde_json escapes:
/// `"`, `\\` and control characters. Escaping works character by character, so a string can be
/// written in pieces.
pub fn escaped(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `s` as a JSON string, or `null`.
pub fn opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends raw JSON text (keys, punctuation, literals).
pub fn raw(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
}

/// Appends a number.
pub fn num(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    let _ = write!(out, "{n}");
}

/// Appends a timestamp as the admin API writes it (`2024-01-02T03:04:05.678Z`).
pub fn ts(out: &mut Vec<u8>, t: DateTime<Utc>) {
    out.push(b'"');
    raw(out, &t.to_rfc3339_opts(SecondsFormat::Millis, true));
    out.push(b'"');
}

/// Appends `s` percent-encoded as a URL query value or path segment (no quotes).
pub fn enc(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_serde_json() {
        for s in [
            "plain",
            "quote \" back \\ slash",
            "tab\tnl\n\u{1}\u{8}\u{c}\r\u{1f}\u{7f}é✓",
            "",
        ] {
            let mut out = Vec::new();
            str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap());
        }
        let mut out = Vec::new();
        opt_str(&mut out, None);
        assert_eq!(out, b"null");
    }

    #[test]
    fn encoding_matches_the_server_helper() {
        for s in ["a b/c", "712020:abc-DEF_1.2~", "é"] {
            let mut out = Vec::new();
            enc(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                super::super::server::enc(s)
            );
        }
    }
}

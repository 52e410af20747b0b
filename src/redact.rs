//! Credentials in every encoding they travel in, found and replaced in one pass. A proxy or a
//! block page can echo a request's headers back in an error body, and an error body can end up
//! in the terminal, in CI logs and in the audit log that CI commits to git. So a token is looked
//! for raw, percent-encoded, in base64 (standard and URL-safe, with and without padding), and
//! inside the `Basic` header value `base64(email:token)`; a `Bearer` header carries the raw key.

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;

/// What redacted text shows in place of a credential.
pub const REDACTED: &str = "***";

/// Finds every known credential, in every encoding, in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    finder: Option<AhoCorasick>,
    patterns: usize,
}

impl Redactor {
    /// A redactor for `secrets`: each a credential and, for site tokens, the email it is sent
    /// with (`Basic base64(email:token)`). Values shorter than 4 bytes are not searched for:
    /// they would match everywhere and protect nothing.
    pub fn new<'a>(secrets: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Self {
        let mut patterns: Vec<String> = Vec::new();
        for (secret, email) in secrets {
            if secret.len() < 4 {
                continue;
            }
            patterns.extend(encodings(secret));
            if let Some(email) = email {
                let pair = format!("{email}:{secret}");
                patterns.extend(encodings(&pair).into_iter().skip(1));
            }
        }
        patterns.sort_unstable();
        patterns.dedup();
        let finder = (!patterns.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&patterns)
                    .ok()
            })
            .flatten();
        Self {
            finder,
            patterns: patterns.len(),
        }
    }

    /// `text` with every credential replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        match &self.finder {
            Some(finder) if finder.is_match(text) => {
                finder.replace_all(text, &vec![REDACTED; self.patterns])
            }
            _ => text.to_string(),
        }
    }
}

/// The forms a value takes on the way out: raw, percent-encoded (upper- and lower-case hex),
/// and base64 (standard and URL-safe, padded or not).
fn encodings(value: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let percent = percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    let lower = lower_hex_escapes(&percent);
    let mut out = vec![value.to_string(), percent, lower];
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        let encoded = engine.encode(value);
        // Base64 may itself be echoed percent-encoded (`+`, `/`, `=`).
        let escaped =
            percent_encoding::utf8_percent_encode(&encoded, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        out.push(lower_hex_escapes(&escaped));
        out.push(escaped);
        out.push(encoded);
    }
    // Base64 without its last, partial group still gives the value away: drop up to 3
    // trailing characters of the unpadded form too, as long as 8 remain.
    let bare = STANDARD_NO_PAD.encode(value);
    if bare.len() > 11 {
        out.push(bare[..bare.len() - (bare.len() % 4).max(1)].to_string());
    }
    out.retain(|p| p.len() >= 4);
    out
}

/// `%2F` → `%2f`, for servers that echo escapes in lower case.
fn lower_hex_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            for _ in 0..2 {
                if let Some(h) = chars.next() {
                    out.push(h.to_ascii_lowercase());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    const TOKEN: &str = "ATATT3xFfGF0c0ffee+/=token";
    const EMAIL: &str = "bot@acme.com";

    #[test]
    fn every_encoding_of_a_credential_is_redacted() {
        let r = Redactor::new([(TOKEN, Some(EMAIL)), ("admin-key-123/+", None)]);
        let basic = STANDARD.encode(format!("{EMAIL}:{TOKEN}"));
        let cases = [
            format!("token {TOKEN} leaked"),
            format!("Authorization: Basic {basic}"),
            "Authorization: Bearer admin-key-123/+".to_string(),
            format!(
                "q={}",
                percent_encoding::utf8_percent_encode(TOKEN, percent_encoding::NON_ALPHANUMERIC)
            ),
            format!("q={}", lower_hex_escapes("admin%2Dkey%2D123%2F%2B")),
            format!("echo {}", STANDARD.encode(TOKEN)),
            format!("echo {}", URL_SAFE_NO_PAD.encode(TOKEN)),
        ];
        for text in &cases {
            let out = r.redact(text);
            assert!(out.contains(REDACTED), "{text} → {out}");
            assert!(
                !out.contains(TOKEN) && !out.contains("admin-key-123"),
                "{out}"
            );
            assert!(!out.contains(&basic), "{out}");
        }
        assert_eq!(r.redact("nothing here"), "nothing here");
        assert_eq!(Redactor::default().redact("a"), "a");
        // Too short to be searched for.
        assert_eq!(Redactor::new([("abc", None)]).redact("abc"), "abc");
    }
}

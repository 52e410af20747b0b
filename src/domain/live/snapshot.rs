//! Reading snapshot files (DESIGN §5.1): JSON into a [`LiveState`], then the checks serde cannot
//! do (unique ids and names, members and events that name real accounts). Problems come back as
//! [`Diagnostic`]s with `file:line:column`.
//!
//! The happy path is one `serde_json` pass plus hash-set checks; positions are only searched for
//! in the text when something is wrong, and each kind of problem is reported at most
//! [`MAX_REPORTED`] times, so a 100,000-user snapshot loads in tens of milliseconds.

use super::{EventAction, LiveState, SNAPSHOT_FORMAT_VERSION};
use crate::diagnostics::{Diagnostic, Location};
use std::collections::{HashMap, HashSet};

/// Snapshots larger than this are rejected before parsing.
pub const MAX_SNAPSHOT_BYTES: u64 = 512 * 1024 * 1024;

/// Each kind of problem is reported this many times at most, then summarized.
pub const MAX_REPORTED: usize = 20;

/// Every diagnostic code the snapshot reader emits (all errors).
pub const CODES: &[&str] = &[
    "missing-file",
    "io-error",
    "file-too-large",
    "not-utf8",
    "empty-file",
    "json-syntax",
    "wrong-type",
    "unknown-key",
    "missing-key",
    "duplicate-key",
    "invalid-value",
    "unsupported-format-version",
    "duplicate-account",
    "duplicate-group",
    "dangling-member",
    "unknown-account",
];

/// Parses the bytes of a snapshot file: UTF-8, then [`parse_snapshot`]. `label` names the
/// file in diagnostics.
pub fn parse_snapshot_bytes(label: &str, bytes: Vec<u8>) -> Result<LiveState, Vec<Diagnostic>> {
    if bytes.len() as u64 > MAX_SNAPSHOT_BYTES {
        return Err(vec![too_large(label, bytes.len() as u64)]);
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let loc = location_at(label, valid, valid.len());
        vec![
            Diagnostic::error("not-utf8", loc, "the file is not valid UTF-8")
                .with_hint("snapshots are UTF-8 JSON as written by `seatkeeper export --snapshot`"),
        ]
    })?;
    parse_snapshot(label, &text)
}

/// The diagnostic of a snapshot larger than [`MAX_SNAPSHOT_BYTES`].
pub fn too_large(label: &str, size: u64) -> Diagnostic {
    Diagnostic::error(
        "file-too-large",
        Location::at(label, 1, 1),
        format!("the file is {size} bytes; snapshots may be at most {MAX_SNAPSHOT_BYTES} bytes"),
    )
    .with_hint("check that this is a snapshot written by `seatkeeper export --snapshot`")
}

/// Parses and checks a snapshot. `file_label` names the file in diagnostics.
pub fn parse_snapshot(file_label: &str, text: &str) -> Result<LiveState, Vec<Diagnostic>> {
    if text.len() as u64 > MAX_SNAPSHOT_BYTES {
        return Err(vec![too_large(file_label, text.len() as u64)]);
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(vec![Diagnostic::error(
            "empty-file",
            Location::at(file_label, 1, 1),
            "the snapshot is empty",
        )
        .with_hint("write one with `seatkeeper export --snapshot FILE`")]);
    }
    let body = text.trim_start();
    if !body.starts_with('{') {
        let offset = text.len() - body.len();
        return Err(vec![Diagnostic::error(
            "wrong-type",
            location_at(file_label, text.as_bytes(), offset),
            "a snapshot is a JSON object (`{ \"format_version\": 1, ... }`)",
        )
        .with_hint(
            "check that this is a snapshot written by `seatkeeper export --snapshot`",
        )]);
    }
    let state: LiveState = match serde_json::from_str(text) {
        Ok(state) => state,
        Err(e) => {
            // A newer format fails on its new fields first: say what really is wrong.
            if let Some(d) = version_problem(file_label, text) {
                return Err(vec![d]);
            }
            return Err(vec![json_error(file_label, text, &e)]);
        }
    };
    if state.format_version != SNAPSHOT_FORMAT_VERSION {
        return Err(vec![unsupported_version(
            file_label,
            text,
            state.format_version.into(),
        )]);
    }
    let diags = Checker::new(file_label, text).check(&state);
    if diags.is_empty() {
        Ok(state)
    } else {
        Err(diags)
    }
}

fn version_problem(file: &str, text: &str) -> Option<Diagnostic> {
    #[derive(serde::Deserialize)]
    struct Probe {
        format_version: serde_json::Value,
    }
    let probe: Probe = serde_json::from_str(text).ok()?;
    if probe.format_version.as_u64() == Some(u64::from(SNAPSHOT_FORMAT_VERSION)) {
        return None;
    }
    Some(unsupported_version(file, text, probe.format_version))
}

fn unsupported_version(file: &str, text: &str, found: serde_json::Value) -> Diagnostic {
    let offset = find_key(text, 0, "format_version").unwrap_or(0);
    Diagnostic::error(
        "unsupported-format-version",
        location_at(file, text.as_bytes(), offset),
        format!(
            "snapshot format_version {found} is not supported; this seatkeeper reads format_version {SNAPSHOT_FORMAT_VERSION}"
        ),
    )
    .with_hint("write the snapshot again with this seatkeeper, or upgrade seatkeeper")
}

/// A serde_json error as a diagnostic: code by kind, the JSON path in the message.
fn json_error(file: &str, text: &str, e: &serde_json::Error) -> Diagnostic {
    let line = u32::try_from(e.line()).unwrap_or(u32::MAX).max(1);
    let column = u32::try_from(e.column()).unwrap_or(u32::MAX).max(1);
    let location = Location::at(file, line, column);
    let full = e.to_string();
    let msg = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(m, _)| m)
        .to_string();
    use serde_json::error::Category;
    let (code, hint) = match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ("json-syntax", "the file is not valid JSON; was it cut short or edited by hand?")
        }
        Category::Data if msg.starts_with("unknown field") => {
            ("unknown-key", "remove the key, or upgrade seatkeeper if a newer version wrote it")
        }
        Category::Data if msg.starts_with("unknown variant") => {
            ("invalid-value", "use one of the values listed")
        }
        Category::Data if msg.starts_with("missing field") => {
            ("missing-key", "add the field; see schema/snapshot.schema.json")
        }
        Category::Data if msg.starts_with("duplicate field") => {
            ("duplicate-key", "remove one of the two")
        }
        Category::Data if msg.starts_with("invalid type") => {
            ("wrong-type", "see schema/snapshot.schema.json for the expected types")
        }
        Category::Data => (
            "invalid-value",
            "times are RFC 3339 timestamps like `2026-11-25T08:00:00Z`; see schema/snapshot.schema.json",
        ),
    };
    let offset = offset_of(text, line, column);
    // A missing field is reported at the end of its object: name the object, not its last key.
    let path = json_path_at(text, offset, !msg.starts_with("missing field"));
    let msg = if path.is_empty() {
        msg
    } else {
        format!("`{path}`: {msg}")
    };
    Diagnostic::error(code, location, msg).with_hint(hint)
}

/// The checks serde cannot do.
struct Checker<'t> {
    file: &'t str,
    text: &'t str,
    diags: Vec<Diagnostic>,
    counts: HashMap<&'static str, usize>,
}

impl<'t> Checker<'t> {
    fn new(file: &'t str, text: &'t str) -> Self {
        Self {
            file,
            text,
            diags: Vec::new(),
            counts: HashMap::new(),
        }
    }

    /// Whether another `code` may be reported (counts it either way).
    fn room(&mut self, code: &'static str) -> bool {
        let n = self.counts.entry(code).or_insert(0);
        *n += 1;
        *n <= MAX_REPORTED
    }

    fn report(&mut self, code: &'static str, offset: Option<usize>, msg: String, hint: &str) {
        let loc = location_at(self.file, self.text.as_bytes(), offset.unwrap_or(0));
        self.diags
            .push(Diagnostic::error(code, loc, msg).with_hint(hint));
    }

    fn check(mut self, state: &LiveState) -> Vec<Diagnostic> {
        // Where each list starts, searched for only when something in it is reported (a scan
        // of a large snapshot costs tens of milliseconds).
        let text = self.text;
        let users_at = std::cell::OnceCell::new();
        let users_at = || *users_at.get_or_init(|| find_key(text, 0, "users"));
        let groups_at = std::cell::OnceCell::new();
        let groups_at = || *groups_at.get_or_init(|| find_key(text, 0, "groups"));
        let events_at = std::cell::OnceCell::new();
        let events_at = || *events_at.get_or_init(|| find_key(text, 0, "events"));

        let mut users: HashSet<&str> = HashSet::with_capacity(state.users.len());
        let mut dup_seen: HashMap<&str, usize> = HashMap::new();
        for u in &state.users {
            if !users.insert(u.account_id.as_str()) {
                let nth = dup_seen.entry(u.account_id.as_str()).or_insert(1);
                *nth += 1;
                let nth = *nth;
                if self.room("duplicate-account") {
                    let at = nth_value(self.text, users_at(), "account_id", &u.account_id, nth);
                    self.report(
                        "duplicate-account",
                        at,
                        format!(
                            "account `{}` is listed more than once in `users`",
                            u.account_id
                        ),
                        "each account appears once; was the snapshot merged by hand?",
                    );
                }
            }
        }

        let mut ids: HashMap<&str, usize> = HashMap::with_capacity(state.groups.len());
        let mut names: HashMap<&str, usize> = HashMap::with_capacity(state.groups.len());
        for g in &state.groups {
            let n = ids.entry(g.id.as_str()).or_insert(0);
            *n += 1;
            let nth = *n;
            if nth > 1 && self.room("duplicate-group") {
                let at = nth_value(self.text, groups_at(), "id", &g.id, nth);
                self.report(
                    "duplicate-group",
                    at,
                    format!("group id `{}` is listed more than once", g.id),
                    "each group appears once",
                );
            }
            let n = names.entry(g.name.as_str()).or_insert(0);
            *n += 1;
            let nth = *n;
            if nth > 1 && self.room("duplicate-group") {
                let at = nth_value(self.text, groups_at(), "name", &g.name, nth);
                self.report(
                    "duplicate-group",
                    at,
                    format!("group name `{}` is used by more than one group", g.name),
                    "group names are unique in an Atlassian site",
                );
            }
            for m in &g.members {
                if !users.contains(m.as_str()) && self.room("dangling-member") {
                    let group_at = nth_value(self.text, groups_at(), "id", &g.id, 1);
                    let at = group_at.and_then(|from| find_string(self.text, from, m));
                    self.report(
                        "dangling-member",
                        at.or(group_at),
                        format!(
                            "group `{}` lists member `{m}`, which is not in `users`",
                            g.name
                        ),
                        "every member must be an account in `users`",
                    );
                }
            }
        }

        // Unknown accounts in first-seen order, with how many events name each.
        let mut unknown: Vec<(&str, usize)> = Vec::new();
        let mut unknown_at: HashMap<&str, usize> = HashMap::new();
        for ev in &state.events {
            if !users.contains(ev.account_id.as_str()) {
                let next = unknown.len();
                let i = *unknown_at.entry(ev.account_id.as_str()).or_insert(next);
                if i == next {
                    unknown.push((&ev.account_id, 0));
                }
                unknown[i].1 += 1;
            }
            let missing = match ev.action {
                EventAction::AccessRequested if ev.product.is_none() => Some("product"),
                EventAction::UserAddedToGroup | EventAction::UserRemovedFromGroup
                    if ev.group_id.is_none() =>
                {
                    Some("group_id")
                }
                _ => None,
            };
            if let Some(field) = missing {
                if self.room("missing-key") {
                    let at = nth_value(self.text, events_at(), "action", ev.action.as_str(), 1);
                    self.report(
                        "missing-key",
                        at,
                        format!("this `{}` event has no `{field}`", ev.action.as_str()),
                        "add the field to the event",
                    );
                }
            }
        }
        for (account, n) in unknown {
            if self.room("unknown-account") {
                let at = nth_value(self.text, events_at(), "account_id", account, 1);
                let times = if n == 1 {
                    String::new()
                } else {
                    format!(" ({n} events)")
                };
                self.report(
                    "unknown-account",
                    at,
                    format!("an event names account `{account}`{times}, which is not in `users`"),
                    "events may only name accounts listed in `users`",
                );
            }
        }

        let mut over: Vec<(&'static str, usize)> = self
            .counts
            .iter()
            .filter(|(_, n)| **n > MAX_REPORTED)
            .map(|(c, n)| (*c, *n))
            .collect();
        over.sort();
        for (code, n) in over {
            self.diags.push(Diagnostic::error(
                code,
                Location::whole_file(self.file),
                format!("{} more `{code}` problems not shown", n - MAX_REPORTED),
            ));
        }
        self.diags
    }
}

/// The offset of the opening quote of `"key"` used as an object key at or after `from`.
fn find_key(text: &str, from: usize, key: &str) -> Option<usize> {
    let needle = format!("\"{key}\"");
    let mut at = from;
    while let Some(pos) = text.get(at..)?.find(&needle) {
        let start = at + pos;
        let after = start + needle.len();
        if text[after..].trim_start().starts_with(':') {
            return Some(start);
        }
        at = after;
    }
    None
}

/// The offset of the string `value` (JSON-encoded) at or after `from`.
fn find_string(text: &str, from: usize, value: &str) -> Option<usize> {
    let needle = serde_json::to_string(value).ok()?;
    text.get(from..)?.find(&needle).map(|p| from + p)
}

/// The offset of the `nth` (1-based) `"key": "value"` pair at or after `from`.
fn nth_value(text: &str, from: Option<usize>, key: &str, value: &str, nth: usize) -> Option<usize> {
    let needle = serde_json::to_string(value).ok()?;
    let mut at = from.unwrap_or(0);
    let mut seen = 0;
    while let Some(pos) = text.get(at..)?.find(&needle) {
        let start = at + pos;
        let before = text[..start].trim_end();
        if let Some(b) = before.strip_suffix(':') {
            if b.trim_end().ends_with(&format!("\"{key}\"")) {
                seen += 1;
                if seen == nth {
                    return Some(start);
                }
            }
        }
        at = start + needle.len();
    }
    None
}

/// The byte offset of a 1-based line and column (serde_json columns count bytes).
fn offset_of(text: &str, line: u32, column: u32) -> usize {
    let mut offset = 0;
    for _ in 1..line {
        match text[offset..].find('\n') {
            Some(p) => offset += p + 1,
            None => return text.len(),
        }
    }
    (offset + column.saturating_sub(1) as usize).min(text.len())
}

/// A location from a byte offset.
fn location_at(file: &str, bytes: &[u8], offset: usize) -> Location {
    let head = &bytes[..offset.min(bytes.len())];
    let line = head.iter().filter(|b| **b == b'\n').count() + 1;
    let start = head.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&head[start..]).chars().count() + 1;
    Location::at(
        file,
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// The JSON path (`users[3].status`) of the value being read at `offset`, by a light scan that
/// only runs when reporting an error.
/// With `last_key` false, the innermost object's current key is left out.
fn json_path_at(text: &str, offset: usize, last_key: bool) -> String {
    enum Frame {
        Object { key: Option<String>, want_key: bool },
        Array { index: usize },
    }
    let bytes = text.as_bytes();
    let end = offset.min(bytes.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match bytes[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if let Some(Frame::Object {
                    key,
                    want_key: want @ true,
                }) = stack.last_mut()
                {
                    *key = text.get(start..i.min(text.len())).map(str::to_string);
                    *want = false;
                }
            }
            b'{' => stack.push(Frame::Object {
                key: None,
                want_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array { index }) => *index += 1,
                Some(Frame::Object { want_key, .. }) => *want_key = true,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    if !last_key {
        if let Some(Frame::Object { key, .. }) = stack.last_mut() {
            *key = None;
        }
    }
    let mut path = String::new();
    for f in &stack {
        match f {
            Frame::Object { key: Some(k), .. } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => path.push_str(&format!("[{index}]")),
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{
  "format_version": 1,
  "site": "acme.atlassian.net",
  "taken_at": "2026-11-25T08:00:00Z",
  "users": [
    { "account_id": "u1", "email": "a@acme.com", "name": "A", "account_type": "atlassian", "status": "active" },
    { "account_id": "u2", "account_type": "app", "status": "active" }
  ],
  "groups": [ { "id": "g1", "name": "jira-software-users-acme", "members": ["u1", "u2"] } ],
  "events": [ { "time": "2026-11-24T10:00:00Z", "action": "user_logged_in", "account_id": "u1" } ]
}"#;

    fn codes(text: &str) -> Vec<String> {
        match parse_snapshot("s.json", text) {
            Ok(_) => vec![],
            Err(ds) => ds
                .iter()
                .map(|d| format!("{} {}", d.code, d.location))
                .collect(),
        }
    }

    #[test]
    fn valid_snapshot_parses() {
        let s = parse_snapshot("s.json", OK).unwrap();
        assert_eq!(s.users.len(), 2);
    }

    #[test]
    fn problems_are_located() {
        assert_eq!(
            codes(&OK.replace("\"u2\"]", "\"u9\"]")),
            ["dangling-member s.json:9:83"]
        );
        assert_eq!(
            codes(&OK.replace("\"status\": \"active\" },", "\"status\": \"gone\" },")).len(),
            1
        );
        let d = parse_snapshot(
            "s.json",
            &OK.replace("\"status\": \"active\" },", "\"status\": \"gone\" },"),
        )
        .unwrap_err();
        assert_eq!(d[0].code, "invalid-value");
        assert!(
            d[0].message
                .starts_with("`users[0].status`: unknown variant `gone`"),
            "{}",
            d[0].message
        );
        assert_eq!(
            codes(&OK.replace("\"format_version\": 1", "\"format_version\": 2, \"new\": 1")),
            ["unsupported-format-version s.json:2:3"]
        );
        assert_eq!(
            codes("{\"format_version\": 1,"),
            ["json-syntax s.json:1:21"]
        );
        assert_eq!(codes(" \n"), ["empty-file s.json:1:1"]);
        assert_eq!(
            codes(&OK.replace("\"account_id\": \"u2\"", "\"account_id\": \"u1\"")),
            [
                "duplicate-account s.json:7:21",
                "dangling-member s.json:9:83"
            ]
        );
        assert_eq!(
            codes(&OK.replace("\"account_id\": \"u1\" }", "\"account_id\": \"zz\" }")),
            ["unknown-account s.json:10:91"]
        );
    }

    #[test]
    fn hostile_input_is_an_error() {
        let deep = format!("{{\"users\": {}", "[".repeat(1_000_000));
        assert_eq!(codes(&deep).len(), 1);
        assert_eq!(codes(&"[".repeat(1_000_000)).len(), 1);
        assert_eq!(codes("\u{feff}[]"), ["wrong-type s.json:1:1"]);
        assert_eq!(codes(" null"), ["wrong-type s.json:1:2"]);
    }

    #[test]
    fn json_paths() {
        let t = r#"{"a": [1, {"b": [true, "x"]}], "c": 1}"#;
        assert_eq!(json_path_at(t, t.find("\"x\"").unwrap(), true), "a[1].b[1]");
        assert_eq!(json_path_at(t, t.find("1}").unwrap(), true), "c");
        assert_eq!(json_path_at(t, t.find("1}").unwrap(), false), "");
        let missing = r#"{"users": [{"account_id": "u1"}]}"#;
        let d = parse_snapshot("s", missing).unwrap_err();
        assert_eq!(d[0].message, "`users[0]`: missing field `account_type`");
    }
}

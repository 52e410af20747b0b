//! Validation: reads the main file and its includes (stage one, [`super::raw`]), then checks the
//! meaning of what was written and builds the [`Policy`] (stage two). Every problem in every file
//! is collected before the result is returned; nothing stops at the first one.
//!
//! Diagnostic codes are stable (tests and users grep for them); see [`CODES`].

use super::notify::{self, ChatFormat, MessageKind, Notify, Rate, Template, Templates};
use super::raw::{
    self, did_you_mean, is_secret_key, Node, NodeKind, RawLimit, RawPolicy, RawSelector, RawUser,
    Spanned,
};
use super::source::{self, PolicyFiles, SourceError, MAIN_FILE, MAX_POLICY_FILE_BYTES};
use super::{
    Diagnostic, Drift, Limit, Loaded, Location, Matcher, Policy, Product, SafeUser, Safety,
    Selector, Severity, UserRef, DEFAULT_GRACE,
};
use crate::live::AccountType;
use crate::time::{parse_date, Duration, DurationError, Unit, DAYS_WEEKS, HOURS_DAYS_WEEKS};
use chrono::NaiveDate;
use std::collections::{BTreeSet, HashMap};

/// The default audit log path, relative to the policy folder.
pub const DEFAULT_AUDIT_LOG: &str = "audit/seatkeeper.jsonl";

/// Atlassian's product keys, as Jira and the admin API name the products (the admin API also
/// writes `jira-service-desk` for `jira-servicedesk`). A declared product key that is not one of
/// them is a warning (activity data is matched by this key), or an error when the users name
/// the Atlassian key it looks like.
pub const ATLASSIAN_PRODUCT_KEYS: &[&str] = &[
    "bitbucket",
    "compass",
    "confluence",
    "jira-core",
    "jira-product-discovery",
    "jira-service-desk",
    "jira-servicedesk",
    "jira-software",
    "opsgenie",
    "statuspage",
    "trello",
];

/// The shortest `inactivity` accepted without a `!`.
pub const MIN_INACTIVITY: Duration = Duration::days(7);

/// Every diagnostic code the policy loader emits, with its severity.
pub const CODES: &[(&str, Severity)] = &[
    ("missing-file", Severity::Error),
    ("io-error", Severity::Error),
    ("file-too-large", Severity::Error),
    ("not-utf8", Severity::Error),
    ("empty-file", Severity::Error),
    ("yaml-syntax", Severity::Error),
    ("wrong-type", Severity::Error),
    ("unknown-key", Severity::Error),
    ("duplicate-key", Severity::Error),
    ("missing-key", Severity::Error),
    ("unsupported-version", Severity::Error),
    ("invalid-site", Severity::Error),
    ("invalid-org", Severity::Error),
    ("no-products", Severity::Error),
    ("invalid-product-key", Severity::Error),
    ("not-atlassian-product", Severity::Warning),
    ("misspelled-product", Severity::Error),
    ("product-without-groups", Severity::Error),
    ("invalid-group", Severity::Error),
    ("group-in-two-products", Severity::Error),
    ("duplicate-group", Severity::Warning),
    ("invalid-seats", Severity::Error),
    ("bad-duration", Severity::Error),
    ("inactivity-too-short", Severity::Error),
    ("inactivity-without-activity-data", Severity::Error),
    ("notice-without-inactivity", Severity::Warning),
    ("notice-exceeds-inactivity", Severity::Warning),
    ("invalid-value", Severity::Error),
    ("user-identity", Severity::Error),
    ("invalid-email", Severity::Error),
    ("invalid-account-id", Severity::Error),
    ("duplicate-user", Severity::Error),
    ("unknown-product", Severity::Error),
    ("eligible-group-grants-product", Severity::Warning),
    ("duplicate-eligible-group", Severity::Error),
    ("user-without-products", Severity::Warning),
    ("bad-date", Severity::Error),
    ("requested-in-future", Severity::Error),
    ("until-before-requested", Severity::Warning),
    ("selector-matchers", Severity::Error),
    ("invalid-limit", Severity::Error),
    ("path-escapes-root", Severity::Error),
    ("include-escapes-root", Severity::Error),
    ("bad-glob", Severity::Error),
    ("include-matches-nothing", Severity::Warning),
    ("include-disallowed-key", Severity::Error),
    ("secret-in-policy", Severity::Error),
    ("invalid-smtp-url", Severity::Error),
    ("invalid-address", Severity::Error),
    ("notify-needs-email", Severity::Error),
    ("notify-needs-chat", Severity::Error),
    ("unknown-template", Severity::Error),
    ("unknown-placeholder", Severity::Error),
    ("template-without-subject", Severity::Error),
];

/// Loads and validates the policy in `files`; `requested:` dates may not be after `today`.
/// Errors (and the warnings found with them) come back sorted by file (main file first, then
/// includes by path), line and column.
pub fn load(files: &dyn PolicyFiles, today: NaiveDate) -> Result<Loaded, Vec<Diagnostic>> {
    let mut v = Validator {
        today,
        ..Validator::default()
    };
    let mut read_files = Vec::new();

    let main = v.read_file(files, MAIN_FILE, true);
    let mut raw = RawPolicy::default();
    if let Some(root) = main {
        read_files.push(MAIN_FILE.to_string());
        raw = raw::read_policy_tree(root, &mut v.diags);
    }

    // Includes: expand every glob, then read the files in path order.
    let mut users: Vec<RawUser> = std::mem::take(&mut raw.users);
    let mut included: BTreeSet<String> = BTreeSet::new();
    if let Some(include) = &raw.include {
        for pattern in &include.value {
            // `./teams/*.yaml` means `teams/*.yaml` for every source.
            let mut glob = pattern.value.as_str();
            while let Some(rest) = glob.strip_prefix("./") {
                glob = rest;
            }
            match files.glob(glob) {
                Ok(paths) => {
                    let paths: Vec<String> = paths.into_iter().filter(|p| p != MAIN_FILE).collect();
                    if paths.is_empty() {
                        v.diags.push(
                            Diagnostic::warning(
                                "include-matches-nothing",
                                pattern.location.clone(),
                                format!("`{}` matches no file", pattern.value),
                            )
                            .with_hint("check the path: globs are relative to the policy folder"),
                        );
                    }
                    included.extend(paths);
                }
                Err(SourceError::Escapes(_)) => v.diags.push(
                    Diagnostic::error(
                        "include-escapes-root",
                        pattern.location.clone(),
                        format!("`{}` leads outside the policy folder", pattern.value),
                    )
                    .with_hint("include only files inside the policy folder, like `teams/*.yaml`"),
                ),
                Err(SourceError::BadPattern { reason, .. }) => v.diags.push(
                    Diagnostic::error(
                        "bad-glob",
                        pattern.location.clone(),
                        format!("`{}` is not a valid glob: {reason}", pattern.value),
                    )
                    .with_hint("use `*`, `**`, `?` and `[abc]`, like `teams/*.yaml`"),
                ),
                Err(e) => v.diags.push(Diagnostic::error(
                    "io-error",
                    pattern.location.clone(),
                    format!("cannot list `{}`: {e}", pattern.value),
                )),
            }
        }
    }
    for path in &included {
        read_files.push(path.clone());
        if let Some(root) = v.read_file(files, path, false) {
            users.extend(raw::read_include_tree(root, &mut v.diags).users);
        }
    }

    let notify_settings = raw.notify.take().and_then(|n| v.notify(n, files));
    let mut policy = v.build(raw, users);
    if let Some(policy) = &mut policy {
        policy.notify = notify_settings;
    }
    let order: HashMap<&str, usize> = read_files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.as_str(), i))
        .collect();
    let mut diags = v.finish();
    diags.sort_by(|a, b| {
        let ka = (
            order.get(&*a.location.file).unwrap_or(&usize::MAX),
            a.location.line,
            a.location.column,
        );
        let kb = (
            order.get(&*b.location.file).unwrap_or(&usize::MAX),
            b.location.line,
            b.location.column,
        );
        ka.cmp(&kb).then_with(|| a.code.cmp(b.code))
    });
    match policy {
        Some(policy) if !diags.iter().any(|d| d.severity == Severity::Error) => Ok(Loaded {
            policy,
            warnings: diags,
            files: read_files,
        }),
        Some(_) => Err(diags),
        None => {
            if !diags.iter().any(|d| d.severity == Severity::Error) {
                // Cannot happen: every way to lose the policy reports an error. Never return an
                // empty failure, though.
                diags.push(
                    Diagnostic::error(
                        "missing-key",
                        Location::at(MAIN_FILE, 1, 1),
                        "the policy is incomplete",
                    )
                    .with_hint("check `version`, `site` and `products`"),
                );
            }
            Err(diags)
        }
    }
}

#[derive(Default)]
struct Validator {
    diags: Vec<Diagnostic>,
    /// Secret values seen; they are scrubbed from every message.
    secrets: Vec<String>,
    /// (file, line) of every `secret-in-policy` diagnostic: one per line.
    secret_lines: std::collections::HashSet<(std::sync::Arc<str>, u32)>,
    /// Whether a main-file problem already makes the policy unusable.
    broken_main: bool,
    /// `requested:` dates may not be after this day.
    today: NaiveDate,
}

/// Which of a product's durations is read: it decides the units, the `!` and the minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Window {
    Inactivity,
    Notice,
    Grace,
}

impl Window {
    fn key(self) -> &'static str {
        match self {
            Window::Inactivity => "inactivity",
            Window::Notice => "notice",
            Window::Grace => "grace",
        }
    }

    fn units(self) -> &'static [Unit] {
        match self {
            Window::Grace => HOURS_DAYS_WEEKS,
            Window::Inactivity | Window::Notice => DAYS_WEEKS,
        }
    }
}

impl Validator {
    fn error(
        &mut self,
        code: &'static str,
        loc: &Location,
        msg: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::error(code, loc.clone(), msg).with_hint(hint));
    }

    fn warning(
        &mut self,
        code: &'static str,
        loc: &Location,
        msg: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::warning(code, loc.clone(), msg).with_hint(hint));
    }

    /// Reads, decodes and parses one file, and scans it for secrets.
    fn read_file(&mut self, files: &dyn PolicyFiles, path: &str, main: bool) -> Option<Node> {
        let start = Location::at(path, 1, 1);
        let bytes = match files.read(path, MAX_POLICY_FILE_BYTES) {
            Ok(b) => b,
            Err(SourceError::NotFound) => {
                self.broken_main |= main;
                self.diags.push(
                    Diagnostic::error("missing-file", Location::whole_file(path), "file not found")
                        .with_hint(if main {
                            format!(
                                "a policy folder holds `{MAIN_FILE}` at its root; check --policy"
                            )
                        } else {
                            "the file disappeared while loading; run again".to_string()
                        }),
                );
                return None;
            }
            Err(SourceError::TooLarge { size, limit }) => {
                self.broken_main |= main;
                self.error(
                    "file-too-large",
                    &start,
                    format!("the file is {size} bytes; policy files may be at most {limit} bytes"),
                    "split the users into included files, or check that this is the right file",
                );
                return None;
            }
            Err(e) => {
                self.broken_main |= main;
                self.error(
                    "io-error",
                    &start,
                    format!("cannot read the file: {e}"),
                    "check the file's permissions",
                );
                return None;
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                self.broken_main |= main;
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let (line, column) = line_col(valid);
                self.error(
                    "not-utf8",
                    &Location::at(path, line, column),
                    "the file is not valid UTF-8",
                    "save the file as UTF-8",
                );
                return None;
            }
        };
        // A byte-order mark is invisible in editors: columns count from after it.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        self.scan_text_for_tokens(path, text);
        let root = match raw::parse_yaml(path, text) {
            Ok(root) => root,
            Err(ds) => {
                self.broken_main |= main;
                self.diags.extend(ds);
                return None;
            }
        };
        if matches!(root.kind, NodeKind::Null) {
            self.broken_main |= main;
            self.error(
                "empty-file",
                &start,
                "the file is empty",
                if main {
                    "start with `version: 1`, `site:` and `products:`"
                } else {
                    "add `users:` entries or remove the file"
                },
            );
            return None;
        }
        self.scan_for_secrets(&root, false);
        Some(root)
    }

    /// Atlassian token prefixes anywhere in the text, comments included.
    fn scan_text_for_tokens(&mut self, path: &str, text: &str) {
        if !text.contains("ATATT") && !text.contains("ATCTT") {
            return;
        }
        for (i, line) in text.lines().enumerate() {
            for prefix in ["ATATT", "ATCTT"] {
                let mut from = 0;
                while let Some(pos) = line[from..].find(prefix) {
                    let start = from + pos;
                    let token: String = line[start..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(*c))
                        .collect();
                    from = start + token.len().max(1);
                    if token.len() >= 20 {
                        let col = line[..start].chars().count() + 1;
                        let loc = Location::at(path, to_u32(i + 1), to_u32(col));
                        self.secret(&loc, "an Atlassian API token", token);
                    }
                }
            }
        }
    }

    fn scan_for_secrets(&mut self, node: &Node, under_secret_key: bool) {
        match &node.kind {
            NodeKind::Str(s) if under_secret_key => self.secrets.push(s.to_string()),
            NodeKind::Str(s) if looks_like_token(s) => {
                self.secret(&node.location, "a token or key", s.to_string());
            }
            NodeKind::Seq(items) => items
                .iter()
                .for_each(|i| self.scan_for_secrets(i, under_secret_key)),
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    let secret_key = k.as_str().is_some_and(is_secret_key);
                    if secret_key && !under_secret_key {
                        self.secret(&k.location, "a credential setting", String::new());
                    }
                    self.scan_for_secrets(k, under_secret_key);
                    self.scan_for_secrets(v, under_secret_key || secret_key);
                }
            }
            _ => {}
        }
    }

    fn secret(&mut self, loc: &Location, what: &str, value: String) {
        if !value.is_empty() {
            self.secrets.push(value);
        }
        // One diagnostic per line, found in a set: 100,000 tokens must not compare 100,000²
        // times.
        if self
            .secret_lines
            .insert((std::sync::Arc::clone(&loc.file), loc.line))
        {
            self.error(
                "secret-in-policy",
                loc,
                format!("this looks like {what}; secrets must not be kept in the policy"),
                "remove it and rotate the credential: it is in the git history. seatkeeper reads \
                 credentials only from the environment (ATLASSIAN_API_TOKEN, ATLASSIAN_ADMIN_API_KEY)",
            );
        }
    }

    /// Scrubs secrets from every message and returns the diagnostics. All secrets are found in
    /// one pass over each message (Aho-Corasick), longest first where they overlap, so the
    /// time grows with the text, not with messages times secrets.
    fn finish(self) -> Vec<Diagnostic> {
        let mut diags = self.diags;
        let mut secrets = self.secrets;
        secrets.retain(|s| s.len() >= 4);
        secrets.sort_unstable();
        secrets.dedup();
        if secrets.is_empty() {
            return diags;
        }
        let Ok(finder) = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&secrets)
        else {
            // Too large to search: say nothing rather than risk printing a secret.
            for d in &mut diags {
                d.message =
                    "a problem was found; its text is withheld because the policy holds secrets"
                        .into();
                d.hint = None;
            }
            return diags;
        };
        let redacted = vec!["<redacted>"; secrets.len()];
        let scrub = |text: &mut String| {
            if finder.is_match(text.as_str()) {
                *text = finder.replace_all(text, &redacted);
            }
        };
        for d in &mut diags {
            scrub(&mut d.message);
            if let Some(h) = &mut d.hint {
                scrub(h);
            }
        }
        diags
    }

    /// A product's `inactivity`, `notice` or `grace`: days and weeks (`grace` also hours); an
    /// `inactivity` under [`MIN_INACTIVITY`] needs a trailing `!`.
    fn window(
        &mut self,
        value: &Option<Spanned<String>>,
        product: &str,
        which: Window,
    ) -> Option<Duration> {
        let v = value.as_ref()?;
        let what = format!("`products.{product}.{}`", which.key());
        let (text, confirmed) = match v.value.strip_suffix('!') {
            Some(text) => (text, true),
            None => (v.value.as_str(), false),
        };
        if confirmed && which != Window::Inactivity {
            self.error(
                "bad-duration",
                &v.location,
                format!("{what}: `{}`: only `inactivity` takes a `!`", v.value),
                format!("remove the `!`: write `{text}`"),
            );
            return None;
        }
        let d = match Duration::parse_in(text, which.units()) {
            Ok(d) => d,
            Err(e) => {
                let (msg, hint) = duration_problem(&v.value, text, &e, which);
                self.error("bad-duration", &v.location, format!("{what}: {msg}"), hint);
                return None;
            }
        };
        if which == Window::Inactivity {
            if d.as_seconds() == 0 {
                self.error(
                    "bad-duration",
                    &v.location,
                    format!("{what} must be longer than zero"),
                    "write a window like `90d`, or remove it to never reclaim",
                );
                return None;
            }
            if d < MIN_INACTIVITY && !confirmed {
                self.error(
                    "inactivity-too-short",
                    &v.location,
                    format!(
                        "{what}: `{text}` is under the 7-day minimum: a week's holiday would cost people their seat"
                    ),
                    format!("write `7d` or more, or `{text}!` if you mean a window this short"),
                );
                return None;
            }
        }
        Some(d)
    }

    fn date(&mut self, value: &Option<Spanned<String>>, what: &str) -> Option<chrono::NaiveDate> {
        let v = value.as_ref()?;
        match parse_date(&v.value) {
            Ok(d) => Some(d),
            Err(_) => {
                self.error(
                    "bad-date",
                    &v.location,
                    format!("`{what}`: `{}` is not a calendar date", v.value),
                    "write a real date as YYYY-MM-DD, like `2027-01-31`",
                );
                None
            }
        }
    }

    fn email(&mut self, v: &Spanned<String>) -> Option<String> {
        if is_email(&v.value) {
            Some(v.value.trim().to_lowercase())
        } else {
            self.error(
                "invalid-email",
                &v.location,
                format!("`{}` is not an email address", v.value),
                "write it like `alice@acme.com`",
            );
            None
        }
    }

    /// [`Self::email`], reusing the string when it can.
    fn email_owned(&mut self, v: Spanned<String>) -> Option<String> {
        if is_email(&v.value) {
            Some(trimmed_lowercase(v.value))
        } else {
            self.email(&v)
        }
    }

    /// [`Self::account_id`], moving the string.
    fn account_id_owned(&mut self, v: Spanned<String>) -> Option<String> {
        if is_account_id(&v.value) {
            Some(v.value)
        } else {
            self.account_id(&v)
        }
    }

    fn account_id(&mut self, v: &Spanned<String>) -> Option<String> {
        if is_account_id(&v.value) {
            Some(v.value.clone())
        } else {
            self.error(
                "invalid-account-id",
                &v.location,
                format!("`{}` is not an Atlassian account id", v.value),
                "copy the id from the user's profile URL, like `5b10ac8d82e05b22cc7d4ef5`",
            );
            None
        }
    }

    fn limit(&mut self, value: &Option<Spanned<RawLimit>>, what: &str) -> Option<Limit> {
        let v = value.as_ref()?;
        let parsed = match &v.value {
            RawLimit::Count(n) => u32::try_from(*n).ok().map(Limit::Count),
            RawLimit::Text(t) => match t.trim().strip_suffix('%') {
                Some(num) => num
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|p| {
                        p.is_finite() && (0.0..=100.0).contains(p) && !num.trim().starts_with('+')
                    })
                    .map(Limit::Percent),
                None => t
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|_| !t.trim().starts_with('+'))
                    .map(Limit::Count),
            },
        };
        if parsed.is_none() {
            let shown = match &v.value {
                RawLimit::Count(n) => n.to_string(),
                RawLimit::Text(t) => t.clone(),
            };
            self.error(
                "invalid-limit",
                &v.location,
                format!("`safety.{what}`: `{shown}` is not a limit"),
                "write a count of zero or more (`100`) or a percentage from 0% to 100% (`10%`)",
            );
        }
        parsed
    }

    fn group_name(&mut self, g: &Spanned<String>, what: &str) -> bool {
        if g.value.trim().is_empty() {
            self.error(
                "invalid-group",
                &g.location,
                format!("{what}: a group name is empty"),
                "write the group's name",
            );
            false
        } else {
            true
        }
    }

    /// Stage two: the model from the raw files. `None` when something essential is missing.
    fn build(&mut self, raw: RawPolicy, raw_users: Vec<RawUser>) -> Option<Policy> {
        if let Some(v) = &raw.version {
            if v.value != 1 {
                self.error(
                    "unsupported-version",
                    &v.location,
                    format!(
                        "policy version {} is not supported; this seatkeeper reads version 1",
                        v.value
                    ),
                    "set `version: 1`, or upgrade seatkeeper",
                );
            }
        }
        let site = raw.site.as_ref().map(|s| {
            let host = s.value.trim();
            let ok = host.contains('.')
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                && !host.starts_with(['.', '-'])
                && !host.ends_with('.');
            if !ok {
                let hint = if host.contains("://") {
                    "write the host only, without `https://` or a path: `acme.atlassian.net`"
                } else {
                    "write the site's host name, like `acme.atlassian.net`"
                };
                self.error(
                    "invalid-site",
                    &s.location,
                    format!("`{}` is not a site host name", s.value),
                    hint,
                );
            }
            host.to_lowercase()
        });
        let org = raw.org.as_ref().and_then(|o| {
            let ok = !o.value.trim().is_empty()
                && o.value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                self.error(
                    "invalid-org",
                    &o.location,
                    format!("`{}` is not an organization id", o.value),
                    "copy the id from admin.atlassian.com (Settings → API keys), like `3b7c1d2e-...`",
                );
            }
            ok.then(|| o.value.trim().to_string())
        });

        // An `org:` that is written but malformed is reported once, not again per product.
        let products = self.products(&raw, org.is_some() || raw.org.is_some());
        let product_keys: Vec<&str> = products.iter().map(|p| p.key.as_str()).collect();
        let mut misspelled = misspelled_products(&products);
        let users = self.users(raw_users, &product_keys, &mut misspelled);
        self.report_non_atlassian_products(&products, &misspelled);

        let eligible_groups = self.group_list(&raw.eligible_groups, "eligible_groups");
        for g in raw.eligible_groups.iter().flat_map(|l| &l.value) {
            if let Some(p) = products.iter().find(|p| p.groups.contains(&g.value)) {
                let msg = format!(
                    "`{}` grants `{}`, so everyone in it is eligible and no seat of it is ever reclaimed",
                    g.value, p.key
                );
                let hint = "list a group of people (like `employees`), not a product-access group";
                self.warning("eligible-group-grants-product", &g.location, msg, hint);
            }
        }
        let keep = self.selectors(&raw.keep, "keep");
        let ignore = self.selectors(&raw.ignore, "ignore");

        let audit_log = match &raw.audit_log {
            Some(a) => {
                if source::check_relative(&a.value).is_err() {
                    self.error(
                        "path-escapes-root",
                        &a.location,
                        format!("`audit_log`: `{}` leads outside the policy folder", a.value),
                        format!("use a path inside the policy repo, like `{DEFAULT_AUDIT_LOG}`"),
                    );
                }
                a.value.clone()
            }
            None => DEFAULT_AUDIT_LOG.to_string(),
        };

        let mut safety = Safety::default();
        if let Some(s) = &raw.safety {
            safety.max_removals = self.limit(&s.max_removals, "max_removals");
            safety.max_additions = self.limit(&s.max_additions, "max_additions");
            if s.admin_groups.is_some() {
                safety.admin_groups = Some(self.group_list(&s.admin_groups, "safety.admin_groups"));
            }
        }
        // A rail the policy does not write takes its conservative default.
        let written = |f: fn(&raw::RawSafety) -> bool| raw.safety.as_ref().is_some_and(f);
        if !written(|s| s.max_removals.is_some()) {
            safety.max_removals = Some(Safety::DEFAULT_MAX_REMOVALS);
            safety.defaulted.push("max_removals");
        }
        if !written(|s| s.max_additions.is_some()) {
            safety.max_additions = Some(Safety::DEFAULT_MAX_ADDITIONS);
            safety.defaulted.push("max_additions");
        }

        if self.broken_main {
            return None;
        }
        Some(Policy {
            site: site?,
            org,
            products,
            users,
            eligible_groups,
            keep,
            ignore,
            audit_log,
            safety,
            notify: None,
        })
    }

    /// `notify:`: checks the settings and reads the templates folder. Secrets may not be
    /// written here; the scan for them covers the whole file already.
    fn notify(&mut self, raw: Spanned<raw::RawNotify>, files: &dyn PolicyFiles) -> Option<Notify> {
        let Spanned {
            value: raw,
            location,
        } = raw;
        let email = raw.email.as_ref().and_then(|Spanned { value: e, location: at }| {
            let Some(smtp) = &e.smtp else {
                self.error(
                    "missing-key",
                    at,
                    "`notify.email` needs `smtp`",
                    "write `smtp: smtp://mail.acme.com:587` (the credentials come from SEATKEEPER_SMTP_USERNAME and SEATKEEPER_SMTP_PASSWORD)",
                );
                return None;
            };
            if let Err(why) = notify::check_smtp_url(&smtp.value) {
                self.error(
                    "invalid-smtp-url",
                    &smtp.location,
                    format!("`notify.email.smtp`: {why}"),
                    "write `smtp://host:587` (STARTTLS) or `smtps://host:465` (TLS)",
                );
            }
            let Some(from) = &e.from else {
                self.error(
                    "missing-key",
                    at,
                    "`notify.email` needs `from`",
                    "write `from: \"Atlassian licences <it@acme.com>\"`",
                );
                return None;
            };
            for (key, mailbox) in [("from", Some(from)), ("reply_to", e.reply_to.as_ref())] {
                let Some(mailbox) = mailbox else { continue };
                if notify::mailbox_address(&mailbox.value).is_none() {
                    self.error(
                        "invalid-address",
                        &mailbox.location,
                        format!("`notify.email.{key}`: `{}` is not an email address", mailbox.value),
                        "write `it@acme.com` or `\"Atlassian licences <it@acme.com>\"`",
                    );
                }
            }
            Some(notify::Email {
                smtp: smtp.value.clone(),
                from: from.value.clone(),
                reply_to: e.reply_to.as_ref().map(|r| r.value.clone()),
            })
        });
        let chat = raw.chat.as_ref().and_then(|Spanned { value: c, location: at }| {
            let Some(format) = &c.format else {
                self.error(
                    "missing-key",
                    at,
                    "`notify.chat` needs `format`",
                    "write `format: slack`, `teams` or `json` (the webhook URL comes from SEATKEEPER_CHAT_WEBHOOK_URL)",
                );
                return None;
            };
            let found = ChatFormat::ALL.iter().find(|(name, _)| *name == format.value);
            if found.is_none() {
                self.error(
                    "invalid-value",
                    &format.location,
                    format!("`notify.chat.format`: `{}` is not a chat format", format.value),
                    "write `slack`, `teams` or `json`",
                );
            }
            found.map(|&(_, f)| f)
        });
        // Telling people is on once there is a way to reach them; switching it off is explicit.
        let flag =
            |f: &Option<Spanned<bool>>, default: bool| f.as_ref().map_or(default, |b| b.value);
        let before_reclaim = flag(&raw.before_reclaim, raw.email.is_some());
        let after_reclaim = flag(&raw.after_reclaim, raw.email.is_some());
        let digest = flag(&raw.digest, raw.chat.is_some());
        for (key, on, written) in [
            ("before_reclaim", before_reclaim, &raw.before_reclaim),
            ("after_reclaim", after_reclaim, &raw.after_reclaim),
        ] {
            if on && raw.email.is_none() {
                let at = written.as_ref().map_or(&location, |w| &w.location);
                self.error(
                    "notify-needs-email",
                    at,
                    format!("`notify.{key}` sends email, but `notify.email` is not set"),
                    "add `email:` with `smtp` and `from` under `notify:`",
                );
            }
        }
        if digest && raw.chat.is_none() {
            let at = raw.digest.as_ref().map_or(&location, |w| &w.location);
            self.error(
                "notify-needs-chat",
                at,
                "`notify.digest` posts to chat, but `notify.chat` is not set",
                "add `chat: { format: slack }` under `notify:` and set SEATKEEPER_CHAT_WEBHOOK_URL",
            );
        }
        let rate = match &raw.rate {
            None => Rate::default(),
            Some(r) => Rate::parse(&r.value).unwrap_or_else(|| {
                self.error(
                    "invalid-value",
                    &r.location,
                    format!("`notify.rate`: `{}` is not a rate", r.value),
                    "write messages per second, minute or hour, like `1/s` or `30/min`",
                );
                Rate::default()
            }),
        };
        let mut templates = Templates::default();
        if let Some(folder) = &raw.templates {
            self.templates(folder, files, &mut templates);
        }
        Some(Notify {
            email,
            chat,
            before_reclaim,
            after_reclaim,
            digest,
            templates,
            rate,
        })
    }

    /// Reads `KIND.txt` files of the `templates:` folder over the defaults.
    fn templates(
        &mut self,
        folder: &Spanned<String>,
        files: &dyn PolicyFiles,
        templates: &mut Templates,
    ) {
        let dir = folder.value.trim_end_matches('/');
        if source::check_relative(dir).is_err() {
            self.error(
                "path-escapes-root",
                &folder.location,
                format!("`notify.templates`: `{dir}` leads outside the policy folder"),
                "use a folder inside the policy repo, like `notify/`",
            );
            return;
        }
        let paths = match files.glob(&format!("{dir}/*")) {
            Ok(paths) => paths,
            Err(e) => {
                self.error(
                    "io-error",
                    &folder.location,
                    format!("cannot list `{dir}`: {e}"),
                    "check the folder",
                );
                return;
            }
        };
        if paths.is_empty() {
            self.error(
                "missing-file",
                &folder.location,
                format!("`notify.templates`: `{dir}/` holds no template"),
                "add `reclaim-soon.txt` or `reclaimed.txt`, or remove `templates:` to use the built-in wording",
            );
        }
        let names: Vec<String> = MessageKind::ALL
            .iter()
            .map(|k| format!("{k}.txt"))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        for path in paths {
            let name = path.rsplit('/').next().unwrap_or(&path);
            let Some(kind) = name.strip_suffix(".txt").and_then(MessageKind::from_name) else {
                let hint = match did_you_mean(name, &names) {
                    Some(meant) => format!("did you mean `{meant}`?"),
                    None => format!("templates are named {}", names.join(" and ")),
                };
                self.error(
                    "unknown-template",
                    &Location::at(&path, 1, 1),
                    format!("`{name}` is not a message seatkeeper sends"),
                    hint,
                );
                continue;
            };
            let text = match files.read(&path, MAX_POLICY_FILE_BYTES) {
                Ok(bytes) => String::from_utf8(bytes),
                Err(e) => {
                    self.error(
                        "io-error",
                        &Location::whole_file(&path),
                        format!("cannot read the template: {e}"),
                        "check the file",
                    );
                    continue;
                }
            };
            let Ok(text) = text else {
                self.error(
                    "not-utf8",
                    &Location::whole_file(&path),
                    "the template is not UTF-8",
                    "save the file as UTF-8",
                );
                continue;
            };
            match Template::parse(&path, &text) {
                Ok(t) => templates.set(kind, t),
                Err(diags) => self.diags.extend(diags),
            }
        }
    }

    fn group_list(&mut self, list: &Option<raw::StrList>, what: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for g in list.iter().flat_map(|l| &l.value) {
            if self.group_name(g, &format!("`{what}`")) && !out.contains(&g.value) {
                out.push(g.value.clone());
            }
        }
        out
    }

    fn products(&mut self, raw: &RawPolicy, has_org: bool) -> Vec<Product> {
        let mut out = Vec::new();
        let Some(products) = &raw.products else {
            return out;
        };
        if products.value.0.is_empty() {
            self.error(
                "no-products",
                &products.location,
                "`products` is empty",
                "declare at least one product with its groups",
            );
        }
        let mut granting: HashMap<String, (String, Location)> = HashMap::new();
        for (key, p) in &products.value.0 {
            let k = &key.value;
            if !is_product_key(k) {
                self.error(
                    "invalid-product-key",
                    &key.location,
                    format!("`{k}` is not a product key"),
                    "use Atlassian's product keys: lowercase words joined by `-`, like `jira-software`, `jira-servicedesk`, `confluence`",
                );
            }
            let mut groups: Vec<String> = Vec::new();
            // A set beside the list: a list of 100,000 names is checked in linear time.
            let mut listed: std::collections::HashSet<String> = std::collections::HashSet::new();
            for g in p.groups.iter().flat_map(|l| &l.value) {
                if !self.group_name(g, &format!("`products.{k}.groups`")) {
                    continue;
                }
                if !listed.insert(g.value.clone()) {
                    self.warning(
                        "duplicate-group",
                        &g.location,
                        format!("group `{}` is listed twice for `{k}`", g.value),
                        "remove the second one",
                    );
                    continue;
                }
                match granting.get(&g.value) {
                    Some((other, at)) if other != k => {
                        let msg = format!("group `{}` already grants `{other}`; a group may grant only one product", g.value);
                        let hint = format!("first used at {at}; give each product its own groups");
                        self.error("group-in-two-products", &g.location, msg, hint);
                    }
                    _ => {
                        granting.insert(g.value.clone(), (k.clone(), g.location.clone()));
                    }
                }
                groups.push(g.value.clone());
            }
            if groups.is_empty() && p.groups.as_ref().is_none_or(|l| l.value.is_empty()) {
                // At `groups: []` when the list is written, else at the product.
                let at = p.groups.as_ref().map_or(&key.location, |l| &l.location);
                self.error(
                    "product-without-groups",
                    at,
                    format!("product `{k}` has no groups"),
                    format!("add the groups that grant it, like `groups: [{k}-users-<site>]`"),
                );
            }
            let seats = p.seats.as_ref().and_then(|s| {
                let n = u32::try_from(s.value).ok().filter(|n| *n > 0);
                if n.is_none() {
                    self.error(
                        "invalid-seats",
                        &s.location,
                        format!(
                            "`products.{k}.seats` must be a positive whole number, found {}",
                            s.value
                        ),
                        "write the seat budget, like `seats: 250`, or remove it for no budget",
                    );
                }
                n
            });
            let inactivity = self.window(&p.inactivity, k, Window::Inactivity);
            if let Some(raw_d) = &p.inactivity {
                if !has_org {
                    self.error(
                        "inactivity-without-activity-data",
                        &raw_d.location,
                        format!("`products.{k}.inactivity` needs activity data, but the policy sets no `org:`"),
                        "set `org:` to your organization id and provide ATLASSIAN_ADMIN_API_KEY, so \
                         seatkeeper can read last-active times from the admin API",
                    );
                }
            }
            let notice = self.window(&p.notice, k, Window::Notice);
            if let (Some(n), Some(raw_n)) = (notice, &p.notice) {
                match (inactivity, &p.inactivity) {
                    (_, None) => self.warning(
                        "notice-without-inactivity",
                        &raw_n.location,
                        format!("`products.{k}.notice` has no effect without `inactivity`"),
                        "add `inactivity:` or remove `notice:`",
                    ),
                    (Some(i), _) if n > i => self.warning(
                        "notice-exceeds-inactivity",
                        &raw_n.location,
                        format!("`products.{k}.notice` ({n}) is longer than `inactivity` ({i})"),
                        "every seat would be listed as reclaimed soon; use a shorter notice",
                    ),
                    _ => {}
                }
            }
            let grace = self
                .window(&p.grace, k, Window::Grace)
                .unwrap_or(DEFAULT_GRACE);
            let drift = match &p.drift {
                None => Drift::default(),
                Some(d) => match d.value.as_str() {
                    "revert" => Drift::Revert,
                    "report" => Drift::Report,
                    other => {
                        let hint = match did_you_mean(other, &["revert", "report"]) {
                            Some(m) => format!("did you mean `{m}`?"),
                            None => "write `revert` or `report`".to_string(),
                        };
                        let msg = format!(
                            "`products.{k}.drift`: `{other}` is not one of `revert`, `report`"
                        );
                        self.error("invalid-value", &d.location, msg, hint);
                        Drift::default()
                    }
                },
            };
            let eligible_groups = self.product_eligible_groups(p, k, &groups);
            out.push(Product {
                key: k.clone(),
                groups,
                seats,
                inactivity,
                notice,
                grace,
                drift,
                eligible_groups,
                restore_on_login: p.restore_on_login.as_ref().is_none_or(|b| b.value),
                location: key.location.clone(),
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// `products.P.eligible_groups`: each group once (a repeat is an error at the repeat).
    fn product_eligible_groups(
        &mut self,
        p: &raw::RawProduct,
        k: &str,
        groups: &[String],
    ) -> Vec<String> {
        let what = format!("`products.{k}.eligible_groups`");
        let mut out: Vec<String> = Vec::new();
        let mut first: HashMap<&str, &Location> = HashMap::new();
        let grant: std::collections::HashSet<&str> = groups.iter().map(String::as_str).collect();
        for g in p.eligible_groups.iter().flat_map(|l| &l.value) {
            if !self.group_name(g, &what) {
                continue;
            }
            if let Some(at) = first.get(g.value.as_str()) {
                let msg = format!("group `{}` is named twice in {what}", g.value);
                let hint = format!("first named at {at}; remove this one");
                self.error("duplicate-eligible-group", &g.location, msg, hint);
                continue;
            }
            first.insert(&g.value, &g.location);
            if grant.contains(g.value.as_str()) {
                let msg = format!(
                    "`{}` grants `{k}`, so everyone in it is eligible and no seat of it is ever reclaimed",
                    g.value
                );
                let hint = "list a group of people (like `employees`), not a product-access group";
                self.warning("eligible-group-grants-product", &g.location, msg, hint);
            }
            out.push(g.value.clone());
        }
        out
    }

    /// One diagnostic per declared product key that is not an Atlassian product key: a warning,
    /// or an error when users name the Atlassian key it looks like (counted in `misspelled`).
    fn report_non_atlassian_products(&mut self, products: &[Product], misspelled: &[Misspelled]) {
        for p in products {
            let k = p.key.as_str();
            if ATLASSIAN_PRODUCT_KEYS.contains(&k) || !is_product_key(k) {
                continue;
            }
            match misspelled.iter().find(|m| m.declared == k) {
                Some(m) if m.uses > 0 => {
                    let times = if m.uses == 1 {
                        "once".to_string()
                    } else {
                        format!("{} times", m.uses)
                    };
                    let first = m
                        .first_use
                        .as_ref()
                        .map_or(String::new(), |at| format!(", first at {at}"));
                    let meant = m.meant;
                    self.error(
                        "misspelled-product",
                        &p.location,
                        format!(
                            "`{k}` is not an Atlassian product key, and `users:` name `{meant}` ({times}{first}), which the policy does not declare"
                        ),
                        format!(
                            "did you mean `{meant}`? rename `{k}` to `{meant}` here: the users already name `{meant}`"
                        ),
                    );
                }
                Some(m) => self.warning(
                    "not-atlassian-product",
                    &p.location,
                    format!("`{k}` is not an Atlassian product key"),
                    format!(
                        "did you mean `{}`? activity data and seats are matched by Atlassian's key",
                        m.meant
                    ),
                ),
                None => self.warning(
                    "not-atlassian-product",
                    &p.location,
                    format!("`{k}` is not an Atlassian product key"),
                    format!(
                        "activity data and seats are matched by Atlassian's key: {}",
                        ATLASSIAN_PRODUCT_KEYS.join(", ")
                    ),
                ),
            }
        }
    }

    /// The safe users, moving the strings out of the raw entries. A product a user names that
    /// the policy does not declare is an error, except the Atlassian key of a misspelled
    /// declaration: those are counted in `misspelled` and reported once, at the declaration.
    fn users(
        &mut self,
        raw_users: Vec<RawUser>,
        product_keys: &[&str],
        misspelled: &mut [Misspelled],
    ) -> Vec<SafeUser> {
        let mut out = Vec::with_capacity(raw_users.len());
        for u in raw_users {
            let RawUser {
                email,
                account_id,
                products,
                until: raw_until,
                requested: raw_requested,
                location,
                keys,
            } = u;
            let who = match (email, account_id) {
                (Some(_), Some(_)) => {
                    self.error(
                        "user-identity",
                        &location,
                        "this entry has both `email` and `account_id`",
                        "name the user once: keep either `email` or `account_id`",
                    );
                    None
                }
                (Some(e), None) => self.email_owned(e).map(UserRef::Email),
                (None, Some(a)) => self.account_id_owned(a).map(UserRef::AccountId),
                (None, None) => {
                    if !keys.contains("email") && !keys.contains("account_id") {
                        self.error(
                            "user-identity",
                            &location,
                            "this entry names no user",
                            "add `email: someone@example.com` or `account_id: ...`",
                        );
                    }
                    None
                }
            };
            let products = products.map(|list| {
                let mut ps: Vec<String> = Vec::with_capacity(list.value.len());
                let empty = list.value.is_empty();
                for p in list.value {
                    let typo = misspelled.iter_mut().find(|m| m.meant == p.value);
                    if let Some(m) = typo.filter(|_| !product_keys.contains(&p.value.as_str())) {
                        m.uses += 1;
                        m.first_use.get_or_insert(p.location);
                    } else if !product_keys.contains(&p.value.as_str()) {
                        let hint = match did_you_mean(&p.value, product_keys) {
                            Some(m) => format!("did you mean `{m}`?"),
                            None => format!("the policy declares: {}", product_keys.join(", ")),
                        };
                        let msg = format!("`{}` is not a product of this policy", p.value);
                        self.error("unknown-product", &p.location, msg, hint);
                    } else if !ps.contains(&p.value) {
                        ps.push(p.value);
                    }
                }
                if empty {
                    self.warning(
                        "user-without-products",
                        &list.location,
                        "this entry lists no products, so it makes the user eligible for nothing",
                        "list the products, or remove `products:` to allow every product",
                    );
                }
                ps
            });
            let until = self.date(&raw_until, "until");
            let requested = self.date(&raw_requested, "requested");
            if let (Some(rq), Some(raw_rq)) = (requested, &raw_requested) {
                if rq > self.today {
                    self.error(
                        "requested-in-future",
                        &raw_rq.location,
                        format!("`requested` ({rq}) is after today ({})", self.today),
                        format!(
                            "write the day the user asked for access, no later than {}",
                            self.today
                        ),
                    );
                }
            }
            if let (Some(un), Some(rq), Some(raw_un)) = (until, requested, &raw_until) {
                if un < rq {
                    self.warning(
                        "until-before-requested",
                        &raw_un.location,
                        format!("`until` ({un}) is before `requested` ({rq}): the grant expired before it was asked for"),
                        "check the dates",
                    );
                }
            }
            if let Some(who) = who {
                out.push(SafeUser {
                    who,
                    products,
                    until,
                    requested,
                    location,
                });
            }
        }
        // Duplicates, checked once every entry is read (the diagnostics are sorted by place
        // at the end, so when they are pushed does not matter).
        let mut seen: HashMap<&UserRef, &Location> = HashMap::with_capacity(out.len());
        for u in &out {
            if let Some(first) = seen.get(&u.who) {
                let msg = format!("{} is listed twice", u.who);
                let hint = format!("first listed at {first}; merge the two entries");
                self.error("duplicate-user", &u.location, msg, hint);
            } else {
                seen.insert(&u.who, &u.location);
            }
        }
        out
    }

    fn selectors(&mut self, raw: &[RawSelector], what: &str) -> Vec<Selector> {
        let mut out = Vec::new();
        for s in raw {
            let written = s.keys.len();
            let given = [
                s.email.is_some(),
                s.account_id.is_some(),
                s.group.is_some(),
                s.account_type.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if written > 1 {
                self.error(
                    "selector-matchers",
                    &s.location,
                    format!(
                        "this `{what}` entry names {}; write one per entry",
                        s.keys.as_slice().join(" and ")
                    ),
                    "split it into one entry per matcher",
                );
                continue;
            }
            if written == 0 {
                self.error(
                    "selector-matchers",
                    &s.location,
                    format!("this `{what}` entry matches nothing"),
                    "write one of `email:`, `account_id:`, `group:` or `account_type:`",
                );
                continue;
            }
            if given == 0 {
                continue; // its one key had the wrong type, already reported
            }
            let matcher = if let Some(e) = &s.email {
                self.email(e).map(Matcher::Email)
            } else if let Some(a) = &s.account_id {
                self.account_id(a).map(Matcher::AccountId)
            } else if let Some(g) = &s.group {
                self.group_name(g, &format!("`{what}`"))
                    .then(|| Matcher::Group(g.value.clone()))
            } else if let Some(t) = &s.account_type {
                match t.value.as_str() {
                    "atlassian" => Some(Matcher::AccountType(AccountType::Atlassian)),
                    "app" => Some(Matcher::AccountType(AccountType::App)),
                    "customer" => Some(Matcher::AccountType(AccountType::Customer)),
                    other => {
                        let types = ["atlassian", "app", "customer"];
                        let hint = match did_you_mean(other, &types) {
                            Some(m) => format!("did you mean `{m}`?"),
                            None => "write `atlassian`, `app` or `customer`".to_string(),
                        };
                        let msg = format!("`account_type`: `{other}` is not one of `atlassian`, `app`, `customer`");
                        self.error("invalid-value", &t.location, msg, hint);
                        None
                    }
                }
            } else {
                None
            };
            if let Some(matcher) = matcher {
                out.push(Selector {
                    matcher,
                    location: s.location.clone(),
                });
            }
        }
        out
    }
}

/// A declared product key that is not an Atlassian key but looks like one the policy does not
/// declare, and how often the users name that Atlassian key.
#[derive(Debug)]
struct Misspelled {
    /// The key as declared (`confluense`).
    declared: String,
    /// The Atlassian key it looks like (`confluence`).
    meant: &'static str,
    /// How many times users name `meant`.
    uses: usize,
    /// Where a user first names `meant`.
    first_use: Option<Location>,
}

/// The declared product keys that look like an undeclared Atlassian key.
fn misspelled_products(products: &[Product]) -> Vec<Misspelled> {
    products
        .iter()
        .filter(|p| !ATLASSIAN_PRODUCT_KEYS.contains(&p.key.as_str()) && is_product_key(&p.key))
        .filter_map(|p| {
            let meant = did_you_mean(&p.key, ATLASSIAN_PRODUCT_KEYS)?;
            let declared = products.iter().any(|q| q.key == meant);
            (!declared).then(|| Misspelled {
                declared: p.key.clone(),
                meant,
                uses: 0,
                first_use: None,
            })
        })
        .collect()
}

/// Lowercase words of letters and digits joined by `-`.
fn is_product_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !k.starts_with('-')
}

/// The message and hint for a policy duration that did not parse. `written` is the value as
/// written, `text` the same without a confirming `!`.
fn duration_problem(
    written: &str,
    text: &str,
    e: &DurationError,
    which: Window,
) -> (String, String) {
    let hours = which == Window::Grace;
    let key = which.key();
    let units = if hours {
        "hours (`h`), days (`d`) or weeks (`w`), like `36h`, `2d` or `1w`"
    } else {
        "days (`d`) or weeks (`w`), like `90d` or `12w`"
    };
    let plural = |n: i64, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    // Hours as the unit this window takes: whole days, rounded up, unless it takes hours.
    let in_hours = |n: i64| {
        if hours {
            format!("`{n}h`")
        } else {
            format!("`{}d`", (n + 23) / 24)
        }
    };
    match e {
        DurationError::Malformed => {
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let hint = if compact != text && !compact.is_empty() {
                match Duration::parse_in(&compact, which.units()) {
                    Ok(_) => format!("remove the space: write `{compact}`"),
                    Err(inner) => duration_problem(&compact, &compact, &inner, which).1,
                }
            } else {
                format!("write a whole number and a unit with nothing between: {units}")
            };
            (format!("`{written}` is not a duration"), hint)
        }
        DurationError::MissingUnit { n } => (
            format!("`{written}` has no unit"),
            format!("write `{n}d` for {}", plural(*n, "day")),
        ),
        DurationError::Ambiguous { n } => {
            let months = format!("`{}d` for {}", n * 30, plural(*n, "month"));
            let hint = if hours {
                format!(
                    "write {months}, or `{}h` for {} rounded up to hours: minutes are not a policy unit",
                    ((n + 59) / 60).max(1),
                    plural(*n, "minute")
                )
            } else {
                format!("write {months}: minutes are not a policy unit, and `{key}` is counted in days or weeks")
            };
            (
                format!(
                    "`{written}` is ambiguous: {} or {}?",
                    plural(*n, "month"),
                    plural(*n, "minute")
                ),
                hint,
            )
        }
        DurationError::UnitNotAllowed { n, unit } => (
            format!(
                "`{written}` is in {}, but `{key}` is counted in days or weeks",
                match unit {
                    Unit::Hours => "hours",
                    Unit::Days => "days",
                    Unit::Weeks => "weeks",
                }
            ),
            format!("write {}: only `grace` takes hours", in_hours(*n)),
        ),
        DurationError::UnknownUnit { n, unit } => {
            let n = *n;
            let lower = unit.to_ascii_lowercase();
            let hint = match lower.as_str() {
                "d" | "w" => format!("units are lowercase: write `{n}{lower}`"),
                "h" if hours => format!("units are lowercase: write `{n}h`"),
                "day" | "days" => format!("write `{n}d`"),
                "week" | "weeks" | "wk" | "wks" => format!("write `{n}w`"),
                "h" | "hr" | "hrs" | "hour" | "hours" if hours => format!("write `{n}h`"),
                "h" | "hr" | "hrs" | "hour" | "hours" => {
                    format!("write {}: only `grace` takes hours", in_hours(n))
                }
                "y" | "yr" | "yrs" | "year" | "years" => {
                    format!("write `{}d` for {}", n * 365, plural(n, "year"))
                }
                "mo" | "mon" | "mos" | "month" | "months" => {
                    format!("write `{}d` for {}", n * 30, plural(n, "month"))
                }
                "min" | "mins" | "minute" | "minutes" | "s" | "sec" | "secs" | "second"
                | "seconds" => format!(
                    "minutes and seconds are not policy units: write {}",
                    if hours {
                        "hours, like `1h`"
                    } else {
                        "days, like `1d`"
                    }
                ),
                _ => format!("write {units}"),
            };
            (format!("`{written}` has an unknown unit `{unit}`"), hint)
        }
    }
}

/// A plain check: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn is_email(text: &str) -> bool {
    let t = text.trim();
    let Some((local, domain)) = t.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && t.len() <= 254
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[],;:\"\\".contains(c))
}

/// Up to 128 ASCII letters, digits, `:`, `-` and `_`.
fn is_account_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_".contains(c))
}

/// `text.trim().to_lowercase()`, in place when `text` is ASCII.
fn trimmed_lowercase(text: String) -> String {
    let trimmed = text.trim();
    let mut text = if trimmed.len() == text.len() {
        text
    } else {
        trimmed.to_string()
    };
    if text.is_ascii() {
        text.make_ascii_lowercase();
        text
    } else {
        text.to_lowercase()
    }
}

/// Whether a value looks like a credential: an Atlassian token, or a long random-looking run of
/// base64 characters (upper and lower case letters and digits mixed).
pub fn looks_like_token(text: &str) -> bool {
    let t = text.trim();
    if t.len() < 20 {
        return false; // both shapes below are at least 20 bytes long
    }
    if (t.starts_with("ATATT") || t.starts_with("ATCTT")) && t.len() >= 20 {
        return true;
    }
    t.split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
        .filter(|run| run.len() >= 24)
        .any(|run| {
            run.bytes().any(|b| b.is_ascii_uppercase())
                && run.bytes().any(|b| b.is_ascii_lowercase())
                && run.bytes().filter(u8::is_ascii_digit).count() >= 2
        })
}

/// 1-based line and column just after `bytes`.
fn line_col(bytes: &[u8]) -> (u32, u32) {
    let line = bytes.iter().filter(|b| **b == b'\n').count() + 1;
    let last = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&bytes[last..]).chars().count() + 1;
    (to_u32(line), to_u32(column))
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::source::MemFiles;

    fn codes(files: MemFiles) -> Vec<String> {
        match crate::policy::load(&files) {
            Ok(l) => l
                .warnings
                .iter()
                .map(|d| format!("{} {}", d.code, d.location))
                .collect(),
            Err(ds) => ds
                .iter()
                .map(|d| format!("{} {}", d.code, d.location))
                .collect(),
        }
    }

    const OK: &str = "version: 1\nsite: acme.atlassian.net\nproducts:\n  confluence:\n    groups: [confluence-users-acme]\n";

    #[test]
    fn minimal_policy_loads_with_defaults() {
        let loaded = crate::policy::load(&MemFiles::new().with(MAIN_FILE, OK)).unwrap();
        let p = &loaded.policy;
        assert_eq!(p.site, "acme.atlassian.net");
        assert_eq!(p.audit_log, DEFAULT_AUDIT_LOG);
        assert_eq!(p.products[0].grace, DEFAULT_GRACE);
        assert_eq!(p.products[0].drift, Drift::Revert);
        assert!(loaded.warnings.is_empty());
    }

    #[test]
    fn limits() {
        for (text, ok) in [
            ("10%", true),
            ("0%", true),
            ("100%", true),
            ("2.5%", true),
            ("'7'", true),
            ("0", true),
            ("150%", false),
            ("-1", false),
            ("abc", false),
            ("-5%", false),
            ("'%'", false),
            ("nan%", false),
        ] {
            let policy = format!("{OK}safety:\n  max_removals: {text}\n");
            let got = codes(MemFiles::new().with(MAIN_FILE, policy));
            assert_eq!(got.is_empty(), ok, "{text}: {got:?}");
        }
    }

    #[test]
    fn secrets_are_never_echoed() {
        let token = "ATATT3xFfGF0T4JNjYz8bWvK2mQ9pLrX";
        let policy =
            format!("{OK}users:\n  - email: {token}\n    api_token: hunter2hunter2\n# {token}\n");
        let err = crate::policy::load(&MemFiles::new().with(MAIN_FILE, policy)).unwrap_err();
        let all: String = err.iter().map(|d| d.to_string()).collect();
        assert!(!all.contains(token) && !all.contains("hunter2"), "{all}");
        assert!(
            err.iter().filter(|d| d.code == "secret-in-policy").count() >= 3,
            "{all}"
        );
    }

    #[test]
    fn token_shapes() {
        assert!(looks_like_token("ATATT3xFfGF0T4JNjYz8bWvK2mQ9pLrX"));
        assert!(looks_like_token("dGhpcyBpcyBhIHNlY3JldCB0b2tlbjEyMw=="));
        for fine in [
            "5b10ac8d82e05b22cc7d4ef5",
            "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077",
            "3b7c1d2e-4f5a-6b7c-8d9e-0f1a2b3c4d5e",
            "Jira-Software-Users-Acme2024-Contractors",
            "alice.longname.with.many.parts@acme-corporation.com",
        ] {
            assert!(!looks_like_token(fine), "{fine}");
        }
    }

    #[test]
    fn emails() {
        for ok in ["a@b.co", "Alice.Smith+x@acme.com"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@@b.co", "a b@c.co", "a@b..co", "a@.b.co", "<a@b.co>",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn non_utf8_and_huge_files() {
        let mut bytes = OK.as_bytes().to_vec();
        bytes.extend_from_slice(b"org: \xff\n");
        assert_eq!(
            codes(MemFiles::new().with(MAIN_FILE, bytes)),
            ["not-utf8 seatkeeper.yaml:6:6"]
        );
        let huge = vec![b'#'; (MAX_POLICY_FILE_BYTES + 1) as usize];
        assert_eq!(
            codes(MemFiles::new().with(MAIN_FILE, huge)),
            ["file-too-large seatkeeper.yaml:1:1"]
        );
        assert_eq!(codes(MemFiles::new()), ["missing-file seatkeeper.yaml:0:0"]);
    }

    #[test]
    fn every_code_is_listed_and_kebab_case() {
        for (code, _) in CODES {
            assert!(
                code.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit()),
                "{code}"
            );
        }
    }
}

#[cfg(test)]
mod edge_tests {
    use super::*;
    use crate::policy::source::MemFiles;

    #[test]
    fn bom_and_crlf_are_fine() {
        let text = "\u{feff}version: 1\r\nsite: acme.atlassian.net\r\norg: x\r\nproducts:\r\n  confluence:\r\n    groups: [c]\r\n    inactivity: 9x\r\n";
        let err = crate::policy::load(&MemFiles::new().with(MAIN_FILE, text)).unwrap_err();
        let got: Vec<String> = err
            .iter()
            .map(|d| format!("{} {}", d.code, d.location))
            .collect();
        assert_eq!(got, ["bad-duration seatkeeper.yaml:7:17"]);
    }

    #[test]
    fn dot_slash_includes_match_like_plain_ones() {
        let main = "version: 1\nsite: a.b\nproducts:\n  c:\n    groups: [g]\ninclude: [./t/*.yaml, t/*.yaml]\n";
        let files = MemFiles::new()
            .with(MAIN_FILE, main)
            .with("t/x.yaml", "users:\n  - email: a@b.co\n");
        let loaded = crate::policy::load(&files).unwrap();
        assert_eq!(loaded.files, [MAIN_FILE, "t/x.yaml"]);
        assert_eq!(loaded.policy.users.len(), 1);
    }

    #[test]
    fn a_bare_string_user_gets_a_useful_hint() {
        let text =
            "version: 1\nsite: a.b\nproducts:\n  confluence:\n    groups: [g]\nusers:\n  - alice@acme.com\n";
        let err = crate::policy::load(&MemFiles::new().with(MAIN_FILE, text)).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].code, "wrong-type");
        assert_eq!(
            err[0].hint.as_deref(),
            Some("write `- email: alice@acme.com`")
        );
    }
}

/// Revision 2: unambiguous durations, default rails, per-product keys, dates checked against
/// today, misspelled product keys, and diagnostics that point at the mistake.
#[cfg(test)]
mod revision2_tests {
    use super::*;
    use crate::policy::source::MemFiles;

    const HEAD: &str = "version: 1\nsite: acme.atlassian.net\norg: o-1\nproducts:\n";

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).expect("a date")
    }

    fn files(main: &str) -> MemFiles {
        MemFiles::new().with(MAIN_FILE, format!("{HEAD}{main}"))
    }

    /// Every diagnostic as an admin reads it: `level[code]: file:line:column: message`, then
    /// `  hint: ...`.
    fn rendered(files: &MemFiles) -> Vec<String> {
        let diags = match load(files, today()) {
            Ok(l) => l.warnings,
            Err(ds) => ds,
        };
        diags.iter().map(ToString::to_string).collect()
    }

    fn loads(main: &str) -> Policy {
        match load(&files(main), today()) {
            Ok(l) => l.policy,
            Err(ds) => panic!("{ds:#?}"),
        }
    }

    #[test]
    fn durations_take_days_and_weeks_and_m_is_ambiguous() {
        let got = rendered(&files(
            "  jira-software:\n    groups: [j]\n    inactivity: 3m\n    notice: 36h\n    grace: 3m\n  confluence:\n    groups: [c]\n    inactivity: 2y\n    notice: '14'\n    grace: 2D\n",
        ));
        assert_eq!(
            got,
            [
                "error[bad-duration]: seatkeeper.yaml:7:17: `products.jira-software.inactivity`: `3m` is ambiguous: 3 months or 3 minutes?\n  \
                 hint: write `90d` for 3 months: minutes are not a policy unit, and `inactivity` is counted in days or weeks",
                "error[bad-duration]: seatkeeper.yaml:8:13: `products.jira-software.notice`: `36h` is in hours, but `notice` is counted in days or weeks\n  \
                 hint: write `2d`: only `grace` takes hours",
                "error[bad-duration]: seatkeeper.yaml:9:12: `products.jira-software.grace`: `3m` is ambiguous: 3 months or 3 minutes?\n  \
                 hint: write `90d` for 3 months, or `1h` for 3 minutes rounded up to hours: minutes are not a policy unit",
                "error[bad-duration]: seatkeeper.yaml:12:17: `products.confluence.inactivity`: `2y` has an unknown unit `y`\n  \
                 hint: write `730d` for 2 years",
                "error[bad-duration]: seatkeeper.yaml:13:13: `products.confluence.notice`: `14` has no unit\n  \
                 hint: write `14d` for 14 days",
                "error[bad-duration]: seatkeeper.yaml:14:12: `products.confluence.grace`: `2D` has an unknown unit `D`\n  \
                 hint: units are lowercase: write `2d`",
            ]
        );
        let p = loads("  jira-software:\n    groups: [j]\n    inactivity: 12w\n    notice: 14d\n    grace: 36h\n");
        let jira = &p.products[0];
        assert_eq!(jira.inactivity, Some(Duration::days(84)));
        assert_eq!(jira.grace, Duration::seconds(36 * 3_600));
    }

    #[test]
    fn an_inactivity_under_a_week_needs_a_bang() {
        let got = rendered(&files(
            "  jira-software:\n    groups: [j]\n    inactivity: 3d\n  confluence:\n    groups: [c]\n    inactivity: 0d!\n    notice: 1d!\n",
        ));
        assert_eq!(
            got,
            [
                "error[inactivity-too-short]: seatkeeper.yaml:7:17: `products.jira-software.inactivity`: `3d` is under the 7-day minimum: a week's holiday would cost people their seat\n  \
                 hint: write `7d` or more, or `3d!` if you mean a window this short",
                "error[bad-duration]: seatkeeper.yaml:10:17: `products.confluence.inactivity` must be longer than zero\n  \
                 hint: write a window like `90d`, or remove it to never reclaim",
                "error[bad-duration]: seatkeeper.yaml:11:13: `products.confluence.notice`: `1d!`: only `inactivity` takes a `!`\n  \
                 hint: remove the `!`: write `1d`",
            ]
        );
        let p = loads("  jira-software:\n    groups: [j]\n    inactivity: 3d!\n  confluence:\n    groups: [c]\n    inactivity: 7d\n");
        assert_eq!(p.products[1].inactivity, Some(Duration::days(3)));
        assert_eq!(p.products[0].inactivity, Some(Duration::days(7)));
    }

    #[test]
    fn missing_rails_take_conservative_defaults() {
        let p = loads("  confluence:\n    groups: [c]\n");
        assert_eq!(p.safety, Safety::defaults());
        assert_eq!(p.safety.defaulted, ["max_removals", "max_additions"]);
        assert_eq!(p.safety.max_removals, Some(Limit::Percent(10.0)));
        // 10% of 5 holders rounds down to 0; the default still lets one go.
        assert_eq!(
            p.safety.max_removals_for(5),
            Some((Limit::Percent(10.0), 1))
        );
        assert_eq!(
            p.safety.max_removals_for(57),
            Some((Limit::Percent(10.0), 5))
        );
        assert_eq!(
            p.safety.max_additions_for(5),
            Some((Limit::Count(100), 100))
        );

        // A written 10% keeps its round-down; the rail that is not written still defaults.
        let p = loads("  confluence:\n    groups: [c]\nsafety:\n  max_removals: 10%\n");
        assert_eq!(p.safety.defaulted, ["max_additions"]);
        assert_eq!(
            p.safety.max_removals_for(5),
            Some((Limit::Percent(10.0), 0))
        );
        let p = loads("  confluence:\n    groups: [c]\nsafety:\n  max_additions: 5\n");
        assert_eq!(p.safety.defaulted, ["max_removals"]);
        assert_eq!(p.safety.max_additions, Some(Limit::Count(5)));
        let p = loads(
            "  confluence:\n    groups: [c]\nsafety:\n  max_removals: 3\n  max_additions: 5\n",
        );
        assert!(p.safety.defaulted.is_empty());
        // A policy built in code without rails has none.
        assert_eq!(Safety::default().max_removals_for(1_000), None);
    }

    #[test]
    fn per_product_eligible_groups_and_restore_on_login() {
        let p = loads(
            "  jira-software:\n    groups: [j]\n    eligible_groups: [engineering, employees, contractors]\n    restore_on_login: false\n  confluence:\n    groups: [c]\neligible_groups: [employees, staff]\n",
        );
        let jira = p.product("jira-software").expect("declared");
        assert_eq!(
            jira.eligible_groups,
            ["engineering", "employees", "contractors"]
        );
        assert!(!jira.restore_on_login);
        assert!(p.product("confluence").expect("declared").restore_on_login);
        let groups: Vec<&str> = p.eligible_groups_for("jira-software").collect();
        assert_eq!(
            groups,
            ["employees", "staff", "engineering", "contractors"],
            "the top-level list first, then the product's own, each group once"
        );
        let groups: Vec<&str> = p.eligible_groups_for("confluence").collect();
        assert_eq!(groups, ["employees", "staff"]);
        assert_eq!(p.eligible_groups_for("trello").count(), 2);
    }

    #[test]
    fn per_product_mistakes_point_at_the_value() {
        let got = rendered(&files(
            "  jira-software:\n    groups: [j]\n    restore_on_login: yes\n    eligible_groups: [a, b, a]\n  confluence:\n    groups: [c]\n    restore_on_login: 1\n    eligible_group: [x]\n    eligible_groups: [c]\n",
        ));
        assert_eq!(
            got,
            [
                "error[wrong-type]: seatkeeper.yaml:7:23: `products.jira-software.restore_on_login` must be a boolean, found a string\n  \
                 hint: `yes` is text, not a boolean: write `true`, without quotes",
                "error[duplicate-eligible-group]: seatkeeper.yaml:8:29: group `a` is named twice in `products.jira-software.eligible_groups`\n  \
                 hint: first named at seatkeeper.yaml:8:23; remove this one",
                "error[wrong-type]: seatkeeper.yaml:11:23: `products.confluence.restore_on_login` must be a boolean, found an integer\n  \
                 hint: write `true` or `false`, without quotes",
                "error[unknown-key]: seatkeeper.yaml:12:5: unknown key `eligible_group` in `products.confluence`\n  \
                 hint: did you mean `eligible_groups`?",
                "warning[eligible-group-grants-product]: seatkeeper.yaml:13:23: `c` grants `confluence`, so everyone in it is eligible and no seat of it is ever reclaimed\n  \
                 hint: list a group of people (like `employees`), not a product-access group",
            ]
        );
    }

    #[test]
    fn requested_after_today_is_an_error() {
        let main = "  confluence:\n    groups: [c]\nusers:\n  - email: a@acme.com\n    requested: 2026-11-25\n  - email: b@acme.com\n    requested: 2026-11-26\n";
        assert_eq!(
            rendered(&files(main)),
            [
                "error[requested-in-future]: seatkeeper.yaml:11:16: `requested` (2026-11-26) is after today (2026-11-25)\n  \
                 hint: write the day the user asked for access, no later than 2026-11-25"
            ]
        );
        let next_day = NaiveDate::from_ymd_opt(2026, 11, 26).expect("a date");
        assert!(crate::policy::load_at(&files(main), next_day).is_ok());
    }

    #[test]
    fn a_misspelled_product_is_one_error_at_its_declaration() {
        let mut team = String::from("users:\n");
        for i in 0..300 {
            team.push_str(&format!(
                "  - email: u{i}@acme.com\n    products: [confluence]\n"
            ));
        }
        let main = "  jira-software:\n    groups: [j]\n  confluense:\n    groups: [c]\ninclude: [teams/*.yaml]\nusers:\n  - email: a@acme.com\n    products: [confluense, jira-sofware]\n";
        let got = rendered(&files(main).with("teams/support.yaml", team));
        assert_eq!(
            got,
            [
                "error[misspelled-product]: seatkeeper.yaml:7:3: `confluense` is not an Atlassian product key, and `users:` name `confluence` (300 times, first at teams/support.yaml:3:16), which the policy does not declare\n  \
                 hint: did you mean `confluence`? rename `confluense` to `confluence` here: the users already name `confluence`",
                "error[unknown-product]: seatkeeper.yaml:12:28: `jira-sofware` is not a product of this policy\n  \
                 hint: did you mean `jira-software`?",
            ]
        );
        // Declared and used with the same misspelling, or not an Atlassian key at all: a warning.
        let got = rendered(&files(
            "  confluense:\n    groups: [c]\n  acme-wiki:\n    groups: [w]\nusers:\n  - email: a@acme.com\n    products: [confluense]\n",
        ));
        assert_eq!(
            got,
            [
                "warning[not-atlassian-product]: seatkeeper.yaml:5:3: `confluense` is not an Atlassian product key\n  \
                 hint: did you mean `confluence`? activity data and seats are matched by Atlassian's key",
                "warning[not-atlassian-product]: seatkeeper.yaml:7:3: `acme-wiki` is not an Atlassian product key\n  \
                 hint: activity data and seats are matched by Atlassian's key: bitbucket, compass, confluence, jira-core, jira-product-discovery, jira-service-desk, jira-servicedesk, jira-software, opsgenie, statuspage, trello",
            ]
        );
    }

    #[test]
    fn unclosed_brackets_and_empty_groups_point_at_the_bracket() {
        let got = rendered(&files(
            "  jira-software:\n    groups: [j, k\n    inactivity: 90d\n  confluence:\n    groups: [c]\n",
        ));
        assert_eq!(
            got,
            [
                "error[yaml-syntax]: seatkeeper.yaml:6:13: broken YAML: this `[` is never closed (the parser gave up at line 7, column 15: illegal placement of ':' indicator)\n  \
                 hint: close the list with `]`, like `groups: [a, b]`, or write one `- item` per line"
            ]
        );
        let got = rendered(&files("  jira-software:\n    seats: 5\n    groups: []\n"));
        assert_eq!(
            got,
            [
                "error[product-without-groups]: seatkeeper.yaml:7:13: product `jira-software` has no groups\n  \
                 hint: add the groups that grant it, like `groups: [jira-software-users-<site>]`"
            ]
        );
        let got = rendered(&files("  jira-software: {groups: [j], seats: 5\n"));
        assert!(
            got[0].starts_with(
                "error[yaml-syntax]: seatkeeper.yaml:5:18: broken YAML: this `{` is never closed"
            ),
            "{got:?}"
        );
    }
}

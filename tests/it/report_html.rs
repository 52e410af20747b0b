//! The HTML access report in a real browser: render the report of `examples/acme` (with a
//! crafted display name added), open it in headless Chromium, and check that it renders (the
//! DOM Chromium built has the tables and one SVG chart per product, and the page prints to PDF)
//! and that the numbers in the rendered DOM match the CSV report of the same data.
//!
//! Chromium is required: without it the test fails, unless `SEATKEEPER_SKIP_BROWSER=1` is set.
//! On Debian: `apt-get install -y chromium` (what `.ci/run` needs). Set
//! `SEATKEEPER_CHROMIUM` to use another binary.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use seatkeeper::ledger::Ledger;
use seatkeeper::live::LiveState;
use seatkeeper::planner::PlanInput;
use seatkeeper::report::{self, AccessReport, ReportFormat, ReportOptions};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme")
}

fn acme_report() -> AccessReport {
    let dir = example();
    let policy = match seatkeeper::files::load_policy_dir(&dir) {
        Ok(loaded) => loaded.policy,
        Err(diags) => panic!("examples/acme does not load: {diags:?}"),
    };
    let text = std::fs::read_to_string(dir.join("snapshot.json")).unwrap();
    let mut live: LiveState = serde_json::from_str(&text).unwrap();
    // A display name that must survive HTML and CSV intact: comma, quotes, newline, markup and
    // a formula prefix.
    let crafted = "=Mallory, \"The\" <b>Intruder</b>\n& co";
    live.users[1].name = crafted.to_string();
    let log = std::fs::read_to_string(dir.join(&policy.audit_log)).unwrap();
    let ledger = Ledger::parse_jsonl(&log);
    let input = PlanInput {
        policy: &policy,
        live: &live,
        ledger: &ledger,
        now: live.taken_at,
        actor: None,
        policy_commit: None,
        allow_mass_removal: false,
    };
    let report = report::generate(
        &input,
        &ReportOptions {
            policy_dir: Some(&dir),
            git_ref: None,
            policy_dirty: false,
            audit_log: Some(&log),
            since: Some("2026-01-01"),
        },
    )
    .unwrap();
    assert!(
        report.holders().any(|(_, h)| h.name == crafted),
        "the crafted user holds a seat"
    );
    report
}

fn render(report: &AccessReport, format: ReportFormat) -> String {
    let mut out = Vec::new();
    report::render(report, format, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The Chromium binary, or `None` when the test may be skipped.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SEATKEEPER_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    });
    if found.is_some() {
        return found;
    }
    if std::env::var("SEATKEEPER_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("SEATKEEPER_SKIP_BROWSER=1: skipping the browser test (chromium not found)");
        return None;
    }
    panic!(
        "chromium is not installed, so the HTML report cannot be tested in a browser.\n\
         Install it with `apt-get install -y chromium` (Debian), \
         point SEATKEEPER_CHROMIUM at a Chromium binary, or set SEATKEEPER_SKIP_BROWSER=1 to skip."
    );
}

/// Runs headless Chromium with a fresh profile on `file` with `extra` flags, killing it after
/// 90 seconds. Returns stdout.
fn run_chromium(bin: &Path, file: &Path, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", file.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    // Read both pipes while Chromium runs: a DOM larger than the pipe buffer would block it.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().unwrap();
    let stderr = stderr.join().unwrap();
    assert!(
        status.success(),
        "chromium failed ({status}): {}",
        String::from_utf8_lossy(&stderr)
    );
    String::from_utf8(stdout).unwrap()
}

/// Start tags `<name ...>` in serialized HTML with their attributes (entities decoded).
fn start_tags<'a>(html: &'a str, name: &'a str) -> Vec<HashMap<String, String>> {
    let open = format!("<{name}");
    let mut tags = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        if !rest.starts_with([' ', '>', '\n', '/']) {
            continue;
        }
        let mut attrs = HashMap::new();
        let mut chars = rest.char_indices().peekable();
        loop {
            while chars
                .peek()
                .is_some_and(|(_, c)| c.is_whitespace() || *c == '/')
            {
                chars.next();
            }
            let Some(&(start, c)) = chars.peek() else {
                break;
            };
            if c == '>' {
                rest = &rest[start + 1..];
                break;
            }
            let mut end = start;
            while let Some(&(j, c)) = chars.peek() {
                if c == '=' || c == '>' || c.is_whitespace() {
                    break;
                }
                end = j + c.len_utf8();
                chars.next();
            }
            let key = rest[start..end].to_string();
            let mut value = String::new();
            if chars.peek().is_some_and(|(_, c)| *c == '=') {
                chars.next();
                let quote = chars.next().map(|(_, c)| c).unwrap();
                assert!(quote == '"' || quote == '\'', "unquoted attribute {key}");
                for (_, c) in chars.by_ref() {
                    if c == quote {
                        break;
                    }
                    value.push(c);
                }
            }
            attrs.insert(key, decode(&value));
        }
        tags.push(attrs);
    }
    tags
}

fn decode(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// RFC 4180 rows (the CSV is CRLF-terminated; quoted fields may hold CR, LF, commas, quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        !quoted && row.is_empty() && field.is_empty(),
        "truncated CSV"
    );
    rows
}

#[test]
fn html_report_renders_in_chromium_and_matches_the_csv() {
    let report = acme_report();
    let html = render(&report, ReportFormat::Html);
    let csv = render(&report, ReportFormat::Csv);
    let Some(bin) = chromium() else { return };

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.html");
    std::fs::write(&file, &html).unwrap();
    let dom = run_chromium(&bin, &file, &["--dump-dom".to_string()]);

    // It rendered: Chromium's DOM has the summary, a holders table per product and the charts.
    assert!(
        dom.contains("<table class=\"summary\">"),
        "no summary table:\n{dom:.2000}"
    );
    assert_eq!(
        dom.matches("<table class=\"holders\">").count(),
        report.products.len()
    );
    let charts = start_tags(&dom, "svg");
    assert_eq!(charts.len(), report.products.len(), "one chart per product");
    assert!(dom.contains("<polyline"), "the charts have lines");
    assert!(!dom.contains("<script"), "no scripts");
    assert!(
        dom.contains("Mallory, \"The\" &lt;b&gt;Intruder&lt;/b&gt;"),
        "the crafted name is text, not markup"
    );

    // The numbers in the DOM match the CSV.
    let rows = parse_csv(&csv);
    let header = &rows[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (product, account, email, days_left, name) = (
        col("product"),
        col("account_id"),
        col("email"),
        col("days_left"),
        col("name"),
    );
    let mut csv_holders: BTreeMap<String, usize> = BTreeMap::new();
    let mut csv_rows: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for r in &rows[1..] {
        *csv_holders.entry(r[product].clone()).or_default() += 1;
        csv_rows.insert(
            (r[product].clone(), r[account].clone()),
            (r[email].clone(), r[days_left].clone()),
        );
        assert!(!r[name].starts_with(['=', '+', '-', '@']), "{:?}", r[name]);
    }
    assert!(
        rows.iter()
            .any(|r| r[name] == "'=Mallory, \"The\" <b>Intruder</b>\n& co"),
        "the crafted name round-trips through the CSV, neutralised"
    );

    let mut dom_rows: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    let mut dom_holders: BTreeMap<String, usize> = BTreeMap::new();
    for tr in start_tags(&dom, "tr") {
        if tr.get("class").map(String::as_str) != Some("holder") {
            continue;
        }
        let key = (tr["data-product"].clone(), tr["data-account-id"].clone());
        *dom_holders.entry(key.0.clone()).or_default() += 1;
        let value = (tr["data-email"].clone(), tr["data-days-left"].clone());
        assert!(
            dom_rows.insert(key, value).is_none(),
            "duplicate holder row"
        );
    }
    assert_eq!(dom_holders, csv_holders, "holders per product");
    assert_eq!(dom_rows, csv_rows, "each holder's email and days left");
    assert!(
        dom_rows.values().any(|(_, d)| !d.is_empty()),
        "some holders have days left"
    );

    let summary: Vec<_> = start_tags(&dom, "tr")
        .into_iter()
        .filter(|t| t.contains_key("data-holders"))
        .collect();
    assert_eq!(summary.len(), report.products.len());
    for s in &summary {
        let p = &s["data-product"];
        assert_eq!(
            s["data-holders"],
            csv_holders.get(p).copied().unwrap_or(0).to_string(),
            "summary holders of {p}"
        );
        let expected = report.products.iter().find(|x| &x.product == p).unwrap();
        assert_eq!(s["data-seats-before"], expected.seats.before.to_string());
        assert_eq!(s["data-seats-after"], expected.seats.after.to_string());
        let chart = charts
            .iter()
            .find(|c| c.get("data-product") == Some(p))
            .unwrap_or_else(|| panic!("no chart for {p}"));
        assert_eq!(
            chart["data-last-seats"], s["data-seats-before"],
            "the chart ends at today's seats for {p}"
        );
    }

    // It prints: Chromium's print pipeline turns it into a PDF.
    let pdf = dir.path().join("report.pdf");
    run_chromium(
        &bin,
        &file,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".to_string(),
        ],
    );
    let bytes = std::fs::read(&pdf).expect("a PDF was written");
    assert!(
        bytes.starts_with(b"%PDF-") && bytes.len() > 5_000,
        "PDF of {} bytes",
        bytes.len()
    );
}

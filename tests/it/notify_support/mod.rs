//! Real servers for the notification tests: an aiosmtpd SMTP server process on loopback
//! (`smtp_server.py` beside this file) and a small HTTP receiver for chat webhooks.
//!
//! The SMTP tests need Python's `aiosmtpd` (`.ci/run` installs it). Without it they fail with a
//! hint; `SEATKEEPER_SKIP_SMTP=1` skips them instead, loudly.
#![allow(clippy::unwrap_used, dead_code)]

pub mod webhook;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// False (after a loud message) when `SEATKEEPER_SKIP_SMTP=1`; panics with an install hint
/// when aiosmtpd is missing, so a CI machine without it fails instead of passing silently.
pub fn smtp_tests_enabled(test: &str) -> bool {
    if std::env::var("SEATKEEPER_SKIP_SMTP").is_ok_and(|v| v == "1") {
        // Straight to the process's stderr: the test harness captures `eprintln!` of passing
        // tests, and a skip must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "!!! SKIPPED {test}: SEATKEEPER_SKIP_SMTP=1, so no real SMTP server is started"
        );
        return false;
    }
    let probe = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output();
    match probe {
        Ok(out) if out.status.success() => true,
        _ => panic!(
            "{test} needs a real SMTP server: Python 3 with aiosmtpd \
             (`python3 -m pip install aiosmtpd`); set SEATKEEPER_SKIP_SMTP=1 to skip these tests"
        ),
    }
}

/// How the test SMTP server behaves.
#[derive(Debug, Default, Clone)]
pub struct SmtpOptions {
    /// Offer STARTTLS with this certificate.
    pub starttls: Option<TestCert>,
    /// Speak TLS from the first byte (smtps) with this certificate.
    pub implicit_tls: Option<TestCert>,
    /// Require AUTH with this user and password.
    pub auth: Option<(String, String)>,
    /// Answer the first N DATA commands 451.
    pub transient: u32,
    /// Answer every DATA 554.
    pub reject: bool,
    /// Write nothing (the benchmark).
    pub no_save: bool,
    /// Save the Nth DATA, then wait this long before answering it: a client killed meanwhile
    /// had its message delivered without hearing so.
    pub slow_reply: Option<(u32, std::time::Duration)>,
}

/// A running aiosmtpd process; killed when dropped.
pub struct SmtpServer {
    child: Child,
    stdin: Option<ChildStdin>,
    pub port: u16,
    dir: tempfile::TempDir,
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, written to PEM files.
#[derive(Debug, Clone)]
pub struct TestCert {
    pub cert_pem: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

impl TestCert {
    /// Generates a certificate into `dir`.
    pub fn generate(dir: &Path) -> TestCert {
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .unwrap();
        let cert_pem = certified.cert.pem();
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        std::fs::write(&cert_path, &cert_pem).unwrap();
        std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
        TestCert {
            cert_pem,
            cert_path,
            key_path,
        }
    }
}

impl SmtpServer {
    /// Starts the server and waits until it listens.
    pub fn start(options: &SmtpOptions) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/it/notify_support/smtp_server.py");
        let mut command = Command::new("python3");
        command
            .arg(&script)
            .arg("--out")
            .arg(dir.path().join("out"));
        if let Some(cert) = &options.starttls {
            command
                .arg("--starttls")
                .arg(&cert.cert_path)
                .arg(&cert.key_path);
        }
        if let Some(cert) = &options.implicit_tls {
            command
                .arg("--implicit-tls")
                .arg(&cert.cert_path)
                .arg(&cert.key_path);
        }
        if let Some((user, password)) = &options.auth {
            command.arg("--auth").arg(user).arg(password);
        }
        if options.transient > 0 {
            command
                .arg("--transient")
                .arg(options.transient.to_string());
        }
        if options.reject {
            command.arg("--reject");
        }
        if options.no_save {
            command.arg("--no-save");
        }
        if let Some((n, wait)) = options.slow_reply {
            command
                .arg("--slow-reply")
                .arg(n.to_string())
                .arg(wait.as_millis().to_string());
        }
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(port) = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            panic!("the SMTP test server did not start: {line:?}\n{log}");
        };
        let stdin = child.stdin.take();
        SmtpServer {
            child,
            stdin,
            port,
            dir,
        }
    }

    /// `smtp://127.0.0.1:PORT` (or `smtps://` for implicit TLS).
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The messages the server accepted, in order, as the script wrote them.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let out = self.dir.path().join("out");
        let mut paths: Vec<_> = std::fs::read_dir(&out)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|e| e == "json"))
                    .collect()
            })
            .unwrap_or_default();
        paths.sort();
        paths
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }

    /// How many DATA commands reached the server (accepted or not).
    pub fn data_attempts(&self) -> u32 {
        std::fs::read_to_string(self.dir.path().join("out/attempts"))
            .map(|s| s.trim().parse().unwrap())
            .unwrap_or(0)
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // Closing stdin ends the script; kill it (our own child, by handle) in case it hangs.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

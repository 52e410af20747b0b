//! Sandbox benchmarks (`cargo bench --bench sandbox`):
//!
//! 1. start-up: generate a 100,000-user org and bind the server; prints the time and the peak
//!    resident memory (`VmHWM` from `/proc/self/status`). Targets: < 5 s, < 1 GB.
//! 2. throughput: `GET /rest/api/3/group/member` pages (50 users each) over keep-alive
//!    connections with concurrent clients, no injected latency. Target: >= 20,000 requests/s.
//!
//! Environment knobs: `BENCH_USERS` (default 100000), `BENCH_SECONDS` (default 5),
//! `BENCH_CONCURRENCY` (default 16).
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use seatkeeper::sandbox::{self, OrgSource, SandboxConfig, DEFAULT_API_TOKEN, DEFAULT_EMAIL};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU seconds of this process so far (from `/proc/self/stat`, 100 ticks/s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let users: usize = env_or("BENCH_USERS", 100_000);
    let seconds: u64 = env_or("BENCH_SECONDS", 5);
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 16);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        // 1. Start-up.
        let started = Instant::now();
        let config = SandboxConfig::default();
        let org = sandbox::load_org(&OrgSource::Generate { users, seed: 42 }, &config).unwrap();
        let generated = started.elapsed();
        let running = sandbox::serve(config, org).await.unwrap();
        let startup = started.elapsed();
        let hwm = vm_hwm_kib().unwrap_or(0);
        println!(
            "startup: generate {users} users + bind in {:.3} s (generate {:.3} s); peak RSS (VmHWM) {:.1} MiB",
            startup.as_secs_f64(),
            generated.as_secs_f64(),
            hwm as f64 / 1024.0
        );
        println!(
            "startup targets: < 5 s {}, < 1 GB {}",
            if startup < Duration::from_secs(5) { "ok" } else { "MISSED" },
            if hwm < 1024 * 1024 { "ok" } else { "MISSED" }
        );

        // 2. group/member throughput.
        let base = running.base_url();
        let snapshot = running.snapshot();
        let group = snapshot
            .groups
            .iter()
            .find(|g| g.name == sandbox::generate::JSW_GROUP)
            .unwrap();
        let group_id = group.id.clone();
        let pages = group.members.len().div_ceil(50).max(1);
        drop(snapshot);
        let addr = running.addr();
        let auth = format!(
            "Basic {}",
            base64(format!("{DEFAULT_EMAIL}:{DEFAULT_API_TOKEN}").as_bytes())
        );
        let done = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        // Check one page through reqwest (a real client) before measuring.
        let check = reqwest::Client::new()
            .get(format!("{base}/rest/api/3/group/member?groupId={group_id}"))
            .basic_auth(DEFAULT_EMAIL, Some(DEFAULT_API_TOKEN))
            .send()
            .await
            .unwrap();
        assert!(check.status().is_success());
        let t0 = Instant::now();
        let cpu0 = cpu_seconds();
        let mut tasks = Vec::new();
        for worker in 0..concurrency {
            let (auth, group_id) = (auth.clone(), group_id.clone());
            let (done, bytes, errors, stop) = (done.clone(), bytes.clone(), errors.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                // A minimal keep-alive HTTP/1.1 client (like wrk): the benchmark measures the
                // server, not a client library.
                let mut conn = Conn::connect(addr).await;
                let mut page = worker;
                while !stop.load(Ordering::Relaxed) {
                    page = (page * 7 + 13) % pages;
                    let request = format!(
                        "GET /rest/api/3/group/member?groupId={group_id}&startAt={} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nAccept: application/json\r\n\r\n",
                        page * 50
                    );
                    match conn.roundtrip(request.as_bytes()).await {
                        Some((200, n)) => {
                            bytes.fetch_add(n as u64, Ordering::Relaxed);
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            conn = Conn::connect(addr).await;
                        }
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        let elapsed = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let n = done.load(Ordering::Relaxed);
        let rps = n as f64 / elapsed;
        println!(
            "group/member: {n} pages of 50 in {elapsed:.2} s with {concurrency} keep-alive clients = {rps:.0} requests/s ({:.1} MiB/s, {} errors)",
            bytes.load(Ordering::Relaxed) as f64 / elapsed / 1024.0 / 1024.0,
            errors.load(Ordering::Relaxed)
        );
        println!(
            "  CPU used (server + load generator): {cpu:.2} s of {:.2} s available on 2 cores = {:.0} requests per CPU-second",
            elapsed * 2.0,
            n as f64 / cpu.max(0.01)
        );
        println!(
            "throughput target: >= 20000 requests/s {}",
            if rps >= 20_000.0 { "ok" } else { "MISSED" }
        );
        running.shutdown().await;

        // 3. Writes with a state file: every write is saved before it is answered.
        let dir = std::env::temp_dir().join(format!("seatkeeper-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = SandboxConfig { state_file: Some(dir.join("state.json")), ..SandboxConfig::default() };
        let org = sandbox::load_org(&OrgSource::Generate { users, seed: 42 }, &config).unwrap();
        let t = Instant::now();
        let size = org.to_state_json(chrono::Utc::now()).unwrap().len();
        let first = t.elapsed();
        let t = Instant::now();
        org.to_state_json(chrono::Utc::now()).unwrap();
        println!(
            "state file: {:.1} MiB, serialized in {:.0} ms the first time, {:.0} ms after (cached users and events)",
            size as f64 / 1048576.0,
            first.as_secs_f64() * 1000.0,
            t.elapsed().as_secs_f64() * 1000.0
        );
        let running = sandbox::serve(config, org).await.unwrap();
        let snapshot = running.snapshot();
        let group = snapshot.groups.iter().find(|g| g.name == sandbox::generate::JSW_GROUP).unwrap();
        let outsiders: Vec<String> = snapshot
            .users
            .iter()
            .filter(|u| u.account_type == seatkeeper::live::AccountType::App && !group.members.contains(&u.account_id))
            .map(|u| u.account_id.clone())
            .take(10)
            .collect();
        let client = reqwest::Client::new();
        let t = Instant::now();
        for id in &outsiders {
            let resp = client
                .post(format!("{}/rest/api/3/group/user?groupId={}", running.base_url(), group.id))
                .basic_auth(DEFAULT_EMAIL, Some(DEFAULT_API_TOKEN))
                .json(&serde_json::json!({ "accountId": id }))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
        }
        println!(
            "writes with --state on {users} users: {:.1} ms per write ({} writes)",
            t.elapsed().as_secs_f64() * 1000.0 / outsiders.len().max(1) as f64,
            outsiders.len()
        );
        running.shutdown().await;
        let t = Instant::now();
        let loaded = seatkeeper::sandbox::Org::load_file(&dir.join("state.json")).unwrap();
        println!(
            "state file load ({} users): {:.0} ms",
            loaded.users().len(),
            t.elapsed().as_secs_f64() * 1000.0
        );
        let _ = std::fs::remove_dir_all(&dir);
    });
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

struct Conn {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn connect(addr: std::net::SocketAddr) -> Conn {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Sends one request and reads one response; returns the status and the body length.
    async fn roundtrip(&mut self, request: &[u8]) -> Option<(u16, usize)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.stream.write_all(request).await.ok()?;
        self.buf.clear();
        let mut scanned: usize = 0;
        let header_end = loop {
            if self.buf.capacity() - self.buf.len() < 16 * 1024 {
                self.buf.reserve(64 * 1024);
            }
            let n = self.stream.read_buf(&mut self.buf).await.ok()?;
            if n == 0 {
                return None;
            }
            let from = scanned.saturating_sub(3);
            if let Some(i) = self.buf[from..].windows(4).position(|w| w == b"\r\n\r\n") {
                break from + i + 4;
            }
            scanned = self.buf.len();
        };
        let head = std::str::from_utf8(&self.buf[..header_end]).ok()?;
        let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
        let length: usize = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })?;
        self.buf
            .reserve((header_end + length).saturating_sub(self.buf.len()));
        while self.buf.len() < header_end + length {
            let n = self.stream.read_buf(&mut self.buf).await.ok()?;
            if n == 0 {
                return None;
            }
        }
        Some((status, length))
    }
}

//! Sends N messages (default 500) to a real SMTP server (aiosmtpd on loopback, the mail tests'
//! server) with the pacer off, and prints messages per second: one at a time, as a
//! notification run sends, and 8 in flight. Each message is its own SMTP session (connect,
//! EHLO, MAIL, RCPT, DATA, QUIT), so this measures a whole delivery, not a pipelined batch.
//! Run with `cargo bench --bench notify` (`cargo bench --bench notify -- 2000` for another N).
//! Needs Python's aiosmtpd (`.ci/run` installs it); `SEATKEEPER_SKIP_SMTP=1` skips.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[path = "../tests/it/notify_support/mod.rs"]
mod notify_support;

use notify_support::{smtp_tests_enabled, SmtpOptions, SmtpServer};
use seatkeeper::notify::{Delivery, Email, Mailer, Pacer, SmtpSettings};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn email(i: usize) -> Email {
    Email {
        to: format!("user{i}@example.com"),
        to_name: Some(format!("User Nummer {i}")),
        subject: format!("Ihre Jira-Lizenz läuft ab — Hinweis {i}"),
        body:
            "Hallo,\n\nIhr Jira-Sitz wird in 3 Tagen freigegeben, weil er 90 Tage ungenutzt war.\n\
               Antworten Sie auf diese Nachricht, wenn Sie ihn behalten möchten.\n"
                .repeat(4),
        message_id: format!("sk-bench-{i:06}@seatkeeper"),
    }
}

async fn run(mailer: Arc<Mailer>, n: usize, in_flight: usize) -> Duration {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (mailer, next) = (mailer.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    match mailer.send(&email(i)).await {
                        Delivery::Accepted { .. } => {}
                        failed => panic!("message {i} not delivered: {failed:?}"),
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    started.elapsed()
}

fn main() {
    let n = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(500);
    if !smtp_tests_enabled("bench notify") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for in_flight in [1, 8] {
            // A fresh server per run, saving nothing, so the count below is this run's alone
            // and the server's disk writes do not weigh on the figure.
            let server = SmtpServer::start(&SmtpOptions {
                no_save: true,
                ..SmtpOptions::default()
            });
            let mut settings =
                SmtpSettings::new(server.url("smtp"), "Seat Keeper <seats@example.com>");
            settings.timeout = Duration::from_secs(10);
            let mailer = Arc::new(Mailer::new(&settings).unwrap().with_pacer(Pacer::off()));
            let took = run(mailer, n, in_flight).await;
            assert_eq!(server.data_attempts() as usize, n, "every message reached the server");
            println!(
                "notify/smtp loopback, {in_flight} in flight: {n} messages in {:.2} s = {:.0} messages/s",
                took.as_secs_f64(),
                n as f64 / took.as_secs_f64()
            );
        }
    });
}

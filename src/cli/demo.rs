//! `seatkeeper demo`: the whole loop with no setup. Runs the sandbox in-process, with no socket,
//! with the `examples/acme` org, copies the acme policy repo to a fresh folder, then plans,
//! applies and plans again (the second plan has nothing left to add or remove), and says where
//! the audit log is.

use super::{render_options, Env, Status, DEFAULT_PARALLELISM};
use crate::apply::run::ApplyOptions;
use crate::atlassian::{ClientConfig, CredentialSource};
use crate::audit_log::{verify, Verification};
use crate::ops::apply::apply_plan;
use crate::ops::inputs::load_policy_at;
use crate::ops::planning::plan_live;
use crate::ops::session::{runtime, Session};
use crate::ops::{Clock, CommandError, Context};
use crate::render::{self, Format};
use crate::sandbox::{self, InProcess, OrgSource, SandboxConfig};
use anyhow::Context as _;
use std::io::Write;
use std::path::PathBuf;

/// The acme policy repo, built into the binary so the demo runs from any folder.
const ACME_FILES: &[(&str, &str)] = &[
    (
        "seatkeeper.yaml",
        include_str!("../../examples/acme/seatkeeper.yaml"),
    ),
    (
        "teams/engineering.yaml",
        include_str!("../../examples/acme/teams/engineering.yaml"),
    ),
    (
        "teams/product.yaml",
        include_str!("../../examples/acme/teams/product.yaml"),
    ),
    (
        "teams/support.yaml",
        include_str!("../../examples/acme/teams/support.yaml"),
    ),
    (
        "teams/contractors.yaml",
        include_str!("../../examples/acme/teams/contractors.yaml"),
    ),
    (
        "tests/access.yaml",
        include_str!("../../examples/acme/tests/access.yaml"),
    ),
    (
        "audit/seatkeeper.jsonl",
        include_str!("../../examples/acme/audit/seatkeeper.jsonl"),
    ),
];
const ACME_SNAPSHOT: &str = include_str!("../../examples/acme/snapshot.json");

/// `demo` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to put the demo policy repo (default: a new folder under the temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn step(out: &mut dyn Write, title: &str) -> std::io::Result<()> {
    writeln!(out, "\n━━ {title} ━━\n")
}

/// Runs `demo`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CommandError> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("seatkeeper-demo-{}", std::process::id())),
    };
    for (path, text) in ACME_FILES {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, text)
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    let snapshot = crate::live::parse_snapshot("examples/acme/snapshot.json", ACME_SNAPSHOT)
        .map_err(|d| {
            anyhow::anyhow!("the built-in acme snapshot does not load: {:?}", d.first())
        })?;
    let now = snapshot.taken_at;
    let config = SandboxConfig {
        now: Some(now),
        ..SandboxConfig::default()
    };
    let org = sandbox::load_org(&OrgSource::Snapshot(Box::new(snapshot)), &config)?;

    // The sandbox runs in this process with no socket: its router answers the client's
    // requests in memory. It lives on its own runtime; the CLI session drives requests on
    // another.
    let server_rt = runtime()?;
    let client_config = ClientConfig {
        parallelism: DEFAULT_PARALLELISM,
        ..ClientConfig::default()
    };
    let sandbox =
        server_rt.block_on(InProcess::start(config.clone(), org, client_config.clone()))?;
    // The one socket: the sandbox's mail sink on loopback, which the policy's `notify:` sends
    // to, so the demo shows the emails a real run would send.
    let mail_sink = server_rt.block_on(sandbox.start_mail_sink())?;
    let policy_file = dir.join(crate::policy::MAIN_FILE);
    let mut policy_text = std::fs::read_to_string(&policy_file)?;
    policy_text.push_str(&format!(
        "\n# Added by the demo: email people through the sandbox's mail sink.\nnotify:\n  email:\n    smtp: smtp://{mail_sink}\n    from: \"Acme IT <it@acme.com>\"\n  rate: 100/s\n"
    ));
    std::fs::write(&policy_file, policy_text)
        .with_context(|| format!("cannot write {}", policy_file.display()))?;
    writeln!(out, "seatkeeper demo: a sandbox Atlassian org and the acme policy repo, nothing leaves this machine.")?;
    writeln!(
        out,
        "  sandbox:     in this process, no network (org acme.atlassian.net, 60 users); mail sink smtp://{mail_sink}"
    )?;
    writeln!(
        out,
        "  policy repo: {} (a copy of examples/acme)",
        dir.display()
    )?;
    writeln!(
        out,
        "  time:        {} (the snapshot's time, so the demo always tells the same story)",
        now.format("%Y-%m-%d %H:%M UTC")
    )?;

    let ctx = Context {
        credentials: CredentialSource::default(),
        actor: Some("seatkeeper-demo".into()),
        // The demo replays the snapshot's day: every reading of the clock is that time.
        clock: Clock::Fixed(now),
        deadline: None,
        progress: crate::ops::progress::ProgressMode::for_stderr(env.stderr_is_terminal),
        notify: Default::default(),
        err,
    };
    let source = load_policy_at(&dir, None, ctx.today(now), ctx.err)?;
    let client = sandbox
        .client(true, true, client_config)
        .map_err(|e| crate::ops::failed(e.to_string()))?;
    let session = Session::with_client(client, &ctx)?;
    let actor_account = session.myself()?;
    let at = (actor_account.as_deref(), now);
    let opts = render_options(env);

    step(
        out,
        "1. seatkeeper plan (reads the org through the admin API)",
    )?;
    let (plan, _) = plan_live(&session, &source, at, false, ctx.err)?;
    render::render(&plan, Format::Text, &opts, out)?;

    step(
        out,
        "2. seatkeeper notify (each idle seat's holder is emailed before any reclaim)",
    )?;
    let plan_path = dir.join("plan.json");
    crate::files::write_atomically(&plan_path, &serde_json::to_vec_pretty(&plan)?)?;
    let request = crate::ops::notify::NotifyRequest {
        policy: crate::ops::PolicyRef {
            dir: dir.clone(),
            rev: None,
        },
        plan: Some(plan_path),
        state: crate::ops::StateRequest {
            snapshot: None,
            at: None,
        },
        dry_run: false,
        at: None,
    };
    let notified = crate::ops::notify::notify(&request, &mut ctx.with_err(&mut *out))?;
    super::notify::summarize(&notified, false, out)?;

    step(out, "3. seatkeeper apply --auto-approve")?;
    out.flush()?;
    let options = ApplyOptions {
        allow_mass_removal: false,
        parallelism: DEFAULT_PARALLELISM,
        clock: Clock::Fixed(now),
        deadline: None,
    };
    // The plan made now: the emails just accepted let reclaims without a `notice` go ahead.
    let (plan, live) = plan_live(&session, &source, at, false, ctx.err)?;
    let headroom = crate::apply::Headroom::of(&plan, &live);
    let actor = ("seatkeeper-demo", actor_account.as_deref());
    apply_plan(&session, &source, (&plan, &headroom), actor, &options, out)?;
    crate::ops::notify::after_apply(
        &source,
        &plan,
        Clock::Fixed(now),
        &mut ctx.with_err(&mut *out),
    )?;

    step(
        out,
        "4. seatkeeper plan (again: nothing left to add or remove; the reclaims wait for their date)",
    )?;
    let (again, _) = plan_live(&session, &source, at, false, ctx.err)?;
    render::render(&again, Format::Text, &opts, out)?;

    step(out, "Mail the sandbox received")?;
    let mail = sandbox.mail();
    for m in &mail {
        writeln!(
            out,
            "  {:<24} {}",
            m.to.join(", "),
            m.subject.as_deref().unwrap_or("")
        )?;
    }
    if let Some(first) = mail.first() {
        writeln!(out, "\nThe first, as sent to {}:\n", first.to.join(", "))?;
        for line in first.body.lines() {
            writeln!(out, "  | {line}")?;
        }
    }

    let audit_path = source.audit_path()?;
    let text = std::fs::read(&audit_path).unwrap_or_default();
    step(out, "Audit log")?;
    match verify(&text) {
        Verification::Intact(n) => writeln!(
            out,
            "{} ({n} records, hash chain intact)",
            audit_path.display()
        )?,
        Verification::Broken { line, problem } => {
            writeln!(out, "{}: line {line}: {problem}", audit_path.display())?
        }
    }
    writeln!(
        out,
        "Verify it yourself: seatkeeper audit verify {}",
        audit_path.display()
    )?;
    let (adds, removes) = again.counts();
    drop(session);
    drop(sandbox);
    if adds + removes > 0 {
        return Err(crate::ops::failed(format!("the second plan still has {adds} additions and {removes} removals: the demo did not converge")));
    }
    Ok(Status::Success)
}

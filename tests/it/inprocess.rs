//! The sandbox in-process ([`InProcess`]): no socket, the same answers. A live read and a plan
//! through it equal those through HTTP against a sandbox on loopback for the same generated
//! org, and it writes like the HTTP path (through the apply executor's `Directory` too).

#![allow(clippy::unwrap_used)]

use seatkeeper::apply::{Directory, WriteOutcome};
use seatkeeper::atlassian::{AtlassianApi, Client, ClientConfig, CredentialSource, Credentials};
use seatkeeper::atlassian::{RetryConfig, Secret};
use seatkeeper::plan::ActionKind;
use seatkeeper::sandbox::{self, InProcess, OrgSource, SandboxConfig};
use std::time::Duration;

const POLICY: &str = "version: 1
site: acme.atlassian.net
org: ORG
products:
  jira-software:
    groups: [jira-software-users-acme, jira-software-users-contractors]
    inactivity: 90d
  confluence:
    groups: [confluence-users-acme]
    inactivity: 120d
keep:
  - email: admin@acme.test
";

fn config() -> SandboxConfig {
    SandboxConfig {
        org: OrgSource::Generate {
            users: 400,
            seed: sandbox::DEFAULT_GENERATE_SEED,
        },
        now: Some(seatkeeper::planner::synth::synth_now()),
        ..SandboxConfig::default()
    }
}

fn client_config() -> ClientConfig {
    ClientConfig {
        retry: RetryConfig::without_delays(),
        request_timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    }
}

#[tokio::test]
async fn a_read_and_a_plan_in_process_equal_those_over_http() {
    let config = config();
    let org = sandbox::load_org(&config.org, &config).unwrap();
    let http = sandbox::serve(config.clone(), org).await.unwrap();
    let creds = &config.credentials;
    let source = CredentialSource {
        email: Some(creds.email.clone()),
        api_token: Some(Secret::new(creds.api_token.clone())),
        admin_api_key: Some(Secret::new(creds.admin_api_key.clone())),
        api_base: Some(http.base_url()),
    };
    let creds = Credentials::resolve("acme.atlassian.net", Some(&http.org_id()), source).unwrap();
    let over_http = Client::new(creds, client_config()).unwrap();
    let org = sandbox::load_org(&config.org, &config).unwrap();
    let in_process = InProcess::start(config.clone(), org, client_config())
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let policy = POLICY.replace("ORG", &http.org_id());
    std::fs::write(dir.path().join("seatkeeper.yaml"), policy).unwrap();
    let now = seatkeeper::planner::synth::synth_now();
    let files = seatkeeper::files::DirFiles::new(dir.path());
    let policy = seatkeeper::policy::load_at(&files, now.date_naive())
        .unwrap()
        .policy;
    let request = seatkeeper::ops::read_request(&policy, now);
    let a = AtlassianApi::read_live(&over_http, &request).await.unwrap();
    let b = in_process.read_live(&request).await.unwrap();
    let json = |v: &seatkeeper::live::LiveState| serde_json::to_value(v).unwrap();
    assert_eq!(json(&a.state), json(&b.state));
    assert_eq!((a.path, &a.missing_groups), (b.path, &b.missing_groups));
    assert_eq!(a.stats, b.stats, "the same requests");
    assert!(b.state.users.len() > 300 && b.stats.requests > 5);
    let plan = |live: &seatkeeper::live::LiveState| {
        let ledger = seatkeeper::ledger::Ledger::default();
        let plan = seatkeeper::planner::plan(&seatkeeper::planner::PlanInput {
            policy: &policy,
            live,
            ledger: &ledger,
            now,
            actor: None,
            policy_commit: None,
            allow_mass_removal: true,
        });
        serde_json::to_value(plan).unwrap()
    };
    let planned = plan(&b.state);
    assert_eq!(plan(&a.state), planned);
    assert!(planned["actions"].as_array().is_some_and(|a| !a.is_empty()));
    // Both sandboxes saw the same requests.
    let lines = |log: Vec<sandbox::RecordedRequest>| {
        let mut l: Vec<String> = log.iter().map(|r| r.line()).collect();
        l.sort();
        l
    };
    assert_eq!(
        lines(http.recorded_requests()),
        lines(in_process.recorded_requests())
    );
}

#[tokio::test]
async fn in_process_writes_land_like_http_ones_and_serve_the_executor() {
    let config = config();
    let org = sandbox::load_org(&config.org, &config).unwrap();
    let sandbox = InProcess::start(config, org, client_config())
        .await
        .unwrap();
    let state = sandbox.snapshot();
    let group = state
        .groups
        .iter()
        .find(|g| g.name == "confluence-users-acme")
        .unwrap();
    let outsider = state
        .users
        .iter()
        .find(|u| {
            u.account_type == seatkeeper::live::AccountType::Atlassian
                && u.status == seatkeeper::live::AccountStatus::Active
                && !group.members.contains(&u.account_id)
        })
        .unwrap();
    let (g, a) = (group.id.as_str(), outsider.account_id.as_str());
    let wrote = Directory::write(&sandbox, ActionKind::Add, g, a).await;
    assert_eq!(wrote.unwrap(), WriteOutcome::Done);
    assert!(Directory::is_member(&sandbox, g, a).await.unwrap());
    let again = Directory::write(&sandbox, ActionKind::Add, g, a).await;
    assert_eq!(again.unwrap(), WriteOutcome::AlreadyDone);
    let after = sandbox.snapshot();
    let members = &after.groups.iter().find(|x| x.id == g).unwrap().members;
    assert!(members.iter().any(|m| m == a));
    assert_eq!(sandbox.sandbox_stats()["writes_applied"], 1);
    assert_eq!(
        sandbox.remove_member(g, a).await.unwrap(),
        seatkeeper::atlassian::Change::Done
    );
    assert!(sandbox.stats().requests >= 4);
}

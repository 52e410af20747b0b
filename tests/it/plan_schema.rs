//! `schema/plan.schema.json` matches what `plan --format json` writes: rendered plans validate,
//! broken plans do not, and the schema's enums list exactly the wire names of the Rust enums.

use chrono::{DateTime, Utc};
use seatkeeper::plan::*;
use seatkeeper::policy::Location;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn schema() -> Value {
    serde_json::from_str(include_str!("../../schema/plan.schema.json")).expect("schema is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&schema()).expect("schema compiles")
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("time")
}

fn action(kind: ActionKind, product: &str, email: Option<&str>, rule: Rule) -> Action {
    Action {
        kind,
        product: product.into(),
        group: format!("{product}-users-acme"),
        group_id: format!("gid-{product}"),
        account_id: format!("5b10{}", email.unwrap_or("anon").len()),
        email: email.map(Into::into),
        rule,
        reason: format!("{rule} because"),
        evidence: Evidence::default(),
    }
}

fn empty_plan() -> Plan {
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        site: "acme.atlassian.net".into(),
        policy_commit: None,
        policy_dirty: false,
        generated_at: t("2026-11-25T08:00:00Z"),
        actions: vec![],
        blocked: vec![],
        notices: vec![],
        observed: vec![],
        seats: Default::default(),
        announce: Vec::new(),
        requests: Vec::new(),
        events: None,
        first_run: false,
        safety_defaults: Vec::new(),
        policy_dir: None,
        fingerprint: Default::default(),
        warnings: vec![],
    }
}

fn full_plan() -> Plan {
    let mut inactive = action(
        ActionKind::Remove,
        "jira-software",
        Some("bob@x.io"),
        Rule::Inactive,
    );
    inactive.evidence = Evidence {
        source: EvidenceSource::LastActive,
        at: Some(t("2026-07-01T00:00:00Z")),
        last_active: None,
        entry: Some(Location {
            file: "teams/eng.yaml".into(),
            line: 12,
            column: 5,
        }),
    };
    let mut plan = Plan {
        policy_commit: Some("9f1c2ab3d4e5f60718293a4b5c6d7e8f90a1b2c3".into()),
        policy_dirty: true,
        actions: vec![
            action(ActionKind::Add, "confluence", None, Rule::LoggedIn),
            action(
                ActionKind::Add,
                "jira-software",
                Some("alice@acme.com"),
                Rule::Requested,
            ),
            inactive,
        ],
        blocked: vec![Blocked {
            action: action(
                ActionKind::Add,
                "jira-software",
                Some("dave@acme.com"),
                Rule::Eligible,
            ),
            rail: Rail::SeatBudget,
            rail_detail: "seat budget 250 reached".into(),
        }],
        notices: vec![Notice {
            kind: NoticeKind::ReclaimSoon,
            product: "jira-software".into(),
            account_id: "5b10erin".into(),
            email: Some("erin@acme.com".into()),
            detail: "reclaimed on 2026-12-03 unless active".into(),
            at: Some(t("2026-12-03T00:00:00Z")),
            name: Some("Erin".into()),
            evidence: Some(Evidence {
                source: EvidenceSource::LastActive,
                at: Some(t("2026-08-30T00:00:00Z")),
                entry: None,
                last_active: Some(t("2026-08-30T00:00:00Z")),
            }),
        }],
        observed: vec![Observation {
            product: "jira-software".into(),
            group: "jira-software-users-acme".into(),
            group_id: "gid-jira-software".into(),
            account_id: "5b10ivan".into(),
            email: None,
        }],
        warnings: vec![seatkeeper::plan::Warning::new(
            "audit-log",
            "audit log line 14: hash chain broken",
        )
        .hint("run `seatkeeper audit verify`")],
        ..empty_plan()
    };
    plan.seats.insert(
        "jira-software".into(),
        Seats {
            before: 250,
            after: 250,
            not_billed: 0,
            licensed: None,
            budget: Some(250),
        },
    );
    plan.seats.insert(
        "confluence".into(),
        Seats {
            before: 40,
            after: 41,
            not_billed: 0,
            licensed: None,
            budget: None,
        },
    );
    for a in &plan.actions {
        plan.fingerprint.insert(
            a.group_id.clone(),
            fingerprint_members([a.account_id.as_str()]),
        );
    }
    plan
}

/// A plan holding every rule, rail, notice kind and evidence source.
fn every_variant_plan() -> Plan {
    let mut plan = empty_plan();
    for (i, rule) in all_rules().into_iter().enumerate() {
        let mut a = action(ActionKind::Remove, "confluence", Some("x@y.z"), rule);
        a.evidence.source = all_sources()[i % all_sources().len()];
        plan.actions.push(a);
    }
    for rail in all_rails() {
        let action = action(ActionKind::Add, "confluence", None, Rule::Eligible);
        plan.blocked.push(Blocked {
            action,
            rail,
            rail_detail: rail.to_string(),
        });
    }
    for kind in all_notice_kinds() {
        plan.notices.push(Notice {
            kind,
            product: "confluence".into(),
            account_id: "5b10".into(),
            email: None,
            detail: kind.as_str().into(),
            at: None,
            name: None,
            evidence: None,
        });
    }
    plan
}

fn rendered(plan: &Plan) -> Value {
    let mut out = Vec::new();
    seatkeeper::render::json::render(plan, &mut out).expect("render");
    serde_json::from_slice(&out).expect("rendered plan is JSON")
}

fn errors(instance: &Value) -> Vec<String> {
    validator()
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

#[test]
fn schema_is_valid_draft_2020_12() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    jsonschema::draft202012::meta::validate(&schema).expect("valid against the meta-schema");
}

#[test]
fn rendered_plans_validate() {
    for plan in [empty_plan(), full_plan(), every_variant_plan()] {
        let value = rendered(&plan);
        assert_eq!(errors(&value), Vec::<String>::new(), "{value:#}");
    }
}

/// Breaks a rendered plan in one way.
type Breaker = Box<dyn Fn(&mut Value)>;

#[test]
fn broken_plans_are_rejected() {
    let cases: Vec<(&str, Breaker)> = vec![
        (
            "missing format_version",
            Box::new(|p| drop(p.as_object_mut().map(|o| o.remove("format_version")))),
        ),
        (
            "unknown rule",
            Box::new(|p| p["actions"][0]["rule"] = json!("vibes")),
        ),
        (
            "unknown rail",
            Box::new(|p| p["blocked"][0]["rail"] = json!("gut-feeling")),
        ),
        (
            "unknown action kind",
            Box::new(|p| p["actions"][0]["kind"] = json!("replace")),
        ),
        (
            "unknown notice kind",
            Box::new(|p| p["notices"][0]["kind"] = json!("gossip")),
        ),
        (
            "blocked without rail",
            Box::new(|p| drop(p["blocked"][0].as_object_mut().map(|o| o.remove("rail")))),
        ),
        (
            "action without account",
            Box::new(|p| {
                drop(
                    p["actions"][1]
                        .as_object_mut()
                        .map(|o| o.remove("account_id")),
                )
            }),
        ),
        (
            "negative seats",
            Box::new(|p| p["seats"]["confluence"]["after"] = json!(-1)),
        ),
        (
            "bad fingerprint",
            Box::new(|p| p["fingerprint"]["gid-confluence"] = json!("md5:abc")),
        ),
        (
            "version as string",
            Box::new(|p| p["format_version"] = json!("1")),
        ),
    ];
    for (name, break_it) in cases {
        let mut value = rendered(&full_plan());
        break_it(&mut value);
        assert!(
            !validator().is_valid(&value),
            "{name}: the schema accepted {value:#}"
        );
        // The schema and the reader agree: apply would refuse the same file. (The reader does
        // not check the fingerprint's shape; a malformed one simply never matches.)
        if name != "bad fingerprint" {
            assert!(
                serde_json::from_value::<Plan>(value).is_err(),
                "{name}: serde accepted it"
            );
        }
    }
}

#[test]
fn added_fields_are_accepted() {
    let mut value = rendered(&full_plan());
    value["something_new"] = json!({"in": "format 1.x"});
    value["actions"][0]["new_field"] = json!(true);
    assert!(validator().is_valid(&value));
}

// Every list below is guarded by an exhaustive `match`: adding a variant fails to compile here
// until the schema's enum is updated too.

fn all_rules() -> Vec<Rule> {
    use Rule::*;
    let all = vec![
        NotEligible,
        Expired,
        AccountClosed,
        Inactive,
        Eligible,
        Requested,
        LoggedIn,
        Kept,
        Drift,
    ];
    for r in &all {
        match r {
            NotEligible | Expired | AccountClosed | Inactive | Eligible | Requested | LoggedIn
            | Kept | Drift => {}
        }
    }
    all
}

fn all_rails() -> Vec<Rail> {
    use Rail::*;
    let all = vec![
        SeatBudget,
        MaxRemovals,
        MaxAdditions,
        SelfAccount,
        LastAdmin,
        SyncedGroup,
        LicenceLimit,
        NotNotified,
    ];
    for r in &all {
        match r {
            SeatBudget | MaxRemovals | MaxAdditions | SelfAccount | LastAdmin | SyncedGroup
            | LicenceLimit | NotNotified => {}
        }
    }
    all
}

fn all_notice_kinds() -> Vec<NoticeKind> {
    use NoticeKind::*;
    let all = vec![ReclaimSoon, Dormant, Drift];
    for k in &all {
        match k {
            ReclaimSoon | Dormant | Drift => {}
        }
    }
    all
}

fn all_sources() -> Vec<EvidenceSource> {
    use EvidenceSource::*;
    let all = vec![
        None,
        LastActive,
        MembershipBegan,
        Requested,
        Login,
        AccessRequest,
        AddedToOrg,
        Policy,
    ];
    for s in &all {
        match s {
            None | LastActive | MembershipBegan | Requested | Login | AccessRequest
            | AddedToOrg | Policy => {}
        }
    }
    all
}

fn wire_names<T: serde::Serialize>(values: &[T]) -> BTreeSet<String> {
    values
        .iter()
        .map(|v| {
            serde_json::to_value(v)
                .expect("serialize")
                .as_str()
                .expect("string")
                .to_string()
        })
        .collect()
}

fn schema_enum(pointer: &str) -> BTreeSet<String> {
    let schema = schema();
    let values = schema
        .pointer(pointer)
        .and_then(Value::as_array)
        .expect(pointer);
    values
        .iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect()
}

#[test]
fn schema_enums_match_the_wire_names() {
    assert_eq!(schema_enum("/$defs/rule/enum"), wire_names(&all_rules()));
    assert_eq!(schema_enum("/$defs/rail/enum"), wire_names(&all_rails()));
    assert_eq!(
        schema_enum("/$defs/notice/properties/kind/enum"),
        wire_names(&all_notice_kinds())
    );
    assert_eq!(
        schema_enum("/$defs/evidence_source/enum"),
        wire_names(&all_sources())
    );
    assert_eq!(
        schema_enum("/$defs/kind/enum"),
        wire_names(&[ActionKind::Add, ActionKind::Remove])
    );
    // The Rust helpers agree with serde.
    for r in all_rules() {
        assert_eq!(serde_json::to_value(r).expect("rule"), json!(r.as_str()));
    }
    for r in all_rails() {
        assert_eq!(serde_json::to_value(r).expect("rail"), json!(r.as_str()));
    }
}

// ----------------------------------------------------------------------------- GitHub markdown

/// The markdown as GitHub renders it: comrak with GitHub's extensions (tables, strikethrough,
/// autolinks, task lists), HTML as a PR comment shows it.
fn github_html(markdown: &str) -> String {
    let mut options = comrak::Options::default();
    options.extension.table = true;
    options.extension.strikethrough = true;
    options.extension.autolink = true;
    options.extension.tasklist = true;
    options.render.r#unsafe = true; // GitHub keeps <details> and <summary>.
    comrak::markdown_to_html(markdown, &options)
}

/// The table rows (`<tr>…</tr>`) of `html` whose first cell is `sign`.
fn rows_signed<'a>(html: &'a str, sign: &str) -> Vec<&'a str> {
    html.split("<tr>")
        .filter(|row| {
            row.trim_start()
                .starts_with(&format!("<td><code>{sign}</code></td>"))
        })
        .collect()
}

fn markdown(plan: &Plan) -> String {
    let mut out = Vec::new();
    seatkeeper::render::render(
        plan,
        seatkeeper::render::Format::Markdown,
        &seatkeeper::render::RenderOptions { color: false },
        &mut out,
    )
    .expect("render");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn the_markdown_plan_keeps_adds_removes_and_blocked_apart_on_github() {
    let plan = full_plan();
    let html = github_html(&markdown(&plan));
    // Every action is a table row led by its sign in a code span, never a nested list.
    assert!(
        !html.contains("<li><ul>") && !html.contains("<ul>\n<li><ul>"),
        "{html}"
    );
    let adds = rows_signed(&html, "+");
    let removes = rows_signed(&html, "-");
    assert!(adds.iter().any(|r| r.contains("alice@acme.com")), "{html}");
    assert!(removes.iter().any(|r| r.contains("bob@x.io")), "{html}");
    assert!(!adds.iter().any(|r| r.contains("bob@x.io")));
    // Blocked rows sit under their own heading and name the rail.
    let blocked = html
        .split("<strong>Blocked (never attempted)</strong>")
        .nth(1)
        .expect("a blocked section");
    let blocked_row = rows_signed(blocked, "+")
        .into_iter()
        .find(|r| r.contains("dave@acme.com"))
        .expect("dave's blocked row");
    assert!(blocked_row.contains("seat-budget"), "{blocked_row}");
    // The summary renders as bold text and the per-product tables as tables.
    assert!(
        html.contains("<strong>Plan: 2 to add, 1 to remove, 1 blocked.</strong>"),
        "{html}"
    );
    assert!(html.matches("<table>").count() >= 3);
}

#[test]
fn the_markdown_diff_keeps_its_signs_on_github() {
    let base = empty_plan();
    let head = full_plan();
    let report = seatkeeper::render::diff::DiffReport {
        base: "origin/main".into(),
        head: "HEAD".into(),
        policy: seatkeeper::diff::PolicyDiff::default(),
        plan: Some(seatkeeper::diff::plan_delta(&base, &head)),
        files: Vec::new(),
    };
    let md = seatkeeper::render::diff::markdown_string(&report, 65_536);
    let html = github_html(&md);
    let items: Vec<&str> = html.split("<li>").skip(1).collect();
    assert!(
        items
            .iter()
            .any(|i| i.starts_with("<code>+</code>") && i.contains("alice@acme.com")),
        "{html}"
    );
    assert!(
        items
            .iter()
            .any(|i| i.starts_with("<code>-</code>") && i.contains("bob@x.io")),
        "{html}"
    );
    assert!(
        !html.contains("<li>\n<ul>"),
        "a sign became a nested list: {html}"
    );
}

#[test]
fn a_plan_of_a_100k_user_org_fits_in_one_github_comment() {
    let (policy, live) = seatkeeper::planner::synth::synth_org(100_000, 7);
    let ledger = seatkeeper::ledger::Ledger::default();
    let plan = seatkeeper::planner::plan(&seatkeeper::planner::PlanInput {
        policy: &policy,
        live: &live,
        ledger: &ledger,
        now: seatkeeper::planner::synth::synth_now(),
        actor: None,
        policy_commit: None,
        allow_mass_removal: true,
    });
    assert!(plan.actions.len() > 1_000, "{} actions", plan.actions.len());
    let md = markdown(&plan);
    assert!(
        md.chars().count() < 65_536,
        "{} characters",
        md.chars().count()
    );
    let html = github_html(&md);
    // The summary and the per-product table survive whole; the lists are cut to fit.
    let (adds, removes) = plan.counts();
    assert!(
        html.contains(&format!(
            "<strong>Plan: {adds} to add, {removes} to remove, {} blocked",
            plan.blocked.len()
        )),
        "{}",
        &html[..html.len().min(2_000)]
    );
    assert!(html.contains("<table>"));
}

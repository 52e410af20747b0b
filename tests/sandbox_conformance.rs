//! Every Jira operation the sandbox serves, successes and errors, validated against the
//! schemas of Atlassian's OpenAPI document (`tests/openapi/`). Status codes must be ones the
//! operation documents, except 401 and 429, which the API narrative documents for every
//! operation. Error bodies without a documented schema must be `ErrorCollection`s.

mod sandbox_support;

use reqwest::Method;
use sandbox_support::*;
use seatkeeper::sandbox::{RateLimitConfig, SandboxConfig};
use serde_json::{json, Value};

struct Spec {
    doc: Value,
}

impl Spec {
    fn load() -> Spec {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/openapi/jira-platform-v3-groups-users.json"
        ))
        .expect("OpenAPI document");
        Spec {
            doc: serde_json::from_str(&text).expect("valid JSON"),
        }
    }

    /// A validator for `schema`, with the document's components embedded so
    /// `#/components/schemas/...` references resolve inside the same root.
    fn validator(&self, schema: &Value) -> jsonschema::Validator {
        let root = json!({
            "components": self.doc["components"].clone(),
            "allOf": [schema],
        });
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .expect("schema compiles")
    }

    fn operation(&self, method: &Method, path: &str) -> &Value {
        let op = &self.doc["paths"][path][method.as_str().to_lowercase()];
        assert!(
            op.is_object(),
            "{method} {path} is not in the OpenAPI document"
        );
        op
    }

    /// Checks one response of `method path` against the document.
    fn check(&self, method: &Method, path: &str, status: u16, body: &str) {
        let op = self.operation(method, path);
        let documented = op["responses"].get(status.to_string()).is_some();
        assert!(
            documented || status == 401 || status == 429,
            "{method} {path} answered {status}, which the operation does not document"
        );
        let schema =
            op["responses"][status.to_string()]["content"]["application/json"]["schema"].clone();
        if schema.is_object() {
            let instance: Value = serde_json::from_str(body).unwrap_or_else(|e| {
                panic!("{method} {path} {status}: body is not JSON ({e}): {body}")
            });
            let v = self.validator(&schema);
            let errors: Vec<String> = v
                .iter_errors(&instance)
                .map(|e| format!("{e} at {}", e.instance_path))
                .collect();
            assert!(
                errors.is_empty(),
                "{method} {path} {status} does not match its schema: {errors:#?}\n{body}"
            );
        } else if status >= 400 {
            let instance: Value = serde_json::from_str(body).unwrap_or_else(|e| {
                panic!("{method} {path} {status}: error body is not JSON ({e}): {body}")
            });
            let v = self.validator(&json!({ "$ref": "#/components/schemas/ErrorCollection" }));
            let errors: Vec<String> = v.iter_errors(&instance).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "{method} {path} {status}: not an ErrorCollection: {errors:?}\n{body}"
            );
            assert!(
                instance["errorMessages"]
                    .as_array()
                    .is_some_and(|m| !m.is_empty())
                    || instance["errors"]
                        .as_object()
                        .is_some_and(|m| !m.is_empty()),
                "{method} {path} {status}: the error says nothing: {body}"
            );
        } else {
            assert!(
                body.is_empty(),
                "{method} {path} {status}: expected no body, got {body}"
            );
        }
    }
}

struct Case {
    method: Method,
    /// The OpenAPI path.
    op: &'static str,
    /// The request path and query.
    url: String,
    body: Option<Value>,
    auth: bool,
    expect: u16,
}

fn case(method: Method, op: &'static str, url: &str, expect: u16) -> Case {
    Case {
        method,
        op,
        url: url.to_string(),
        body: None,
        auth: true,
        expect,
    }
}

#[test]
fn the_validator_rejects_wrong_shapes() {
    let spec = Spec::load();
    let page = spec.validator(&json!({ "$ref": "#/components/schemas/PageBeanUserDetails" }));
    assert!(page.is_valid(&json!({ "values": [ { "accountId": "a", "active": true } ] })));
    assert!(!page.is_valid(&json!({ "values": [ { "accountId": "a", "lastActive": "x" } ] })));
    assert!(!page.is_valid(&json!({ "total": "ten" })));
    assert!(!page.is_valid(&json!({ "values": [ { "emailAddress": null } ] })));
}

#[tokio::test]
async fn every_jira_operation_matches_the_openapi_document() {
    let spec = Spec::load();
    let env = Env::fixture().await;
    let get = Method::GET;
    let post = Method::POST;
    let del = Method::DELETE;
    let mut cases = vec![
        case(get.clone(), "/rest/api/3/myself", "/rest/api/3/myself", 200),
        case(
            get.clone(),
            "/rest/api/3/myself",
            "/rest/api/3/myself?expand=groups,applicationRoles",
            200,
        ),
        case(
            get.clone(),
            "/rest/api/3/users/search",
            "/rest/api/3/users/search?maxResults=1000",
            200,
        ),
        case(
            get.clone(),
            "/rest/api/3/users/search",
            "/rest/api/3/users/search?startAt=10100&maxResults=50",
            200,
        ),
        case(
            get.clone(),
            "/rest/api/3/users/search",
            "/rest/api/3/users/search?startAt=-1",
            400,
        ),
        case(
            get.clone(),
            "/rest/api/3/users/search",
            "/rest/api/3/users/search?maxResults=lots",
            400,
        ),
        case(
            get.clone(),
            "/rest/api/3/users",
            "/rest/api/3/users?maxResults=5",
            200,
        ),
        case(
            get.clone(),
            "/rest/api/3/group/bulk",
            "/rest/api/3/group/bulk",
            200,
        ),
        case(
            get.clone(),
            "/rest/api/3/group/bulk",
            "/rest/api/3/group/bulk?maxResults=2",
            200,
        ),
        case(
            get.clone(),
            "/rest/api/3/group/bulk",
            "/rest/api/3/group/bulk?applicationKey=jira-software&accessType=user",
            200,
        ),
        case(
            get.clone(),
            "/rest/api/3/group/bulk",
            "/rest/api/3/group/bulk?groupId=gid-1&groupName=g50",
            200,
        ),
        case(
            get.clone(),
            "/rest/api/3/group/bulk",
            "/rest/api/3/group/bulk?accessType=everyone",
            400,
        ),
        case(
            get.clone(),
            "/rest/api/3/group/member",
            "/rest/api/3/group/member?groupId=gid-51",
            200,
        ),
        case(
            get.clone(),
            "/rest/api/3/group/member",
            "/rest/api/3/group/member?groupname=jira-software-users-acme&includeInactiveUsers=true",
            200,
        ),
        case(
            get.clone(),
            "/rest/api/3/group/member",
            "/rest/api/3/group/member?groupId=gid-0",
            200,
        ),
        case(
            get.clone(),
            "/rest/api/3/group/member",
            "/rest/api/3/group/member",
            400,
        ),
        case(
            get.clone(),
            "/rest/api/3/group/member",
            "/rest/api/3/group/member?groupId=gid-1&maxResults=0",
            400,
        ),
        case(
            get.clone(),
            "/rest/api/3/group/member",
            "/rest/api/3/group/member?groupId=nope",
            404,
        ),
        case(
            get.clone(),
            "/rest/api/3/group/member",
            "/rest/api/3/group/member?groupname=nope",
            404,
        ),
        case(
            get.clone(),
            "/rest/api/3/user/groups",
            &format!("/rest/api/3/user/groups?accountId={}", account(0)),
            200,
        ),
        case(
            get.clone(),
            "/rest/api/3/user/groups",
            "/rest/api/3/user/groups?accountId=nobody",
            404,
        ),
        case(
            get.clone(),
            "/rest/api/3/applicationrole",
            "/rest/api/3/applicationrole",
            200,
        ),
        case(
            del.clone(),
            "/rest/api/3/group/user",
            &format!(
                "/rest/api/3/group/user?groupId=gid-50&accountId={}",
                account(1)
            ),
            200,
        ),
        case(
            del.clone(),
            "/rest/api/3/group/user",
            &format!(
                "/rest/api/3/group/user?groupId=gid-50&accountId={}",
                account(1)
            ),
            400,
        ),
        case(
            del.clone(),
            "/rest/api/3/group/user",
            "/rest/api/3/group/user?groupId=gid-50",
            400,
        ),
        case(
            del.clone(),
            "/rest/api/3/group/user",
            &format!(
                "/rest/api/3/group/user?groupId=nope&accountId={}",
                account(1)
            ),
            404,
        ),
        case(
            del.clone(),
            "/rest/api/3/group/user",
            "/rest/api/3/group/user?groupId=gid-50&accountId=nobody",
            404,
        ),
        case(
            del.clone(),
            "/rest/api/3/group/user",
            &format!(
                "/rest/api/3/group/user?groupId=gid-emp&accountId={}",
                account(1)
            ),
            403,
        ),
    ];
    for (method, url, expect) in [
        (
            get.clone(),
            "/rest/api/3/group?groupId=gid-51&expand=users",
            200,
        ),
        (get.clone(), "/rest/api/3/group?groupname=g0", 200),
        (get.clone(), "/rest/api/3/group", 400),
        (get.clone(), "/rest/api/3/group?groupId=nope", 404),
        (del.clone(), "/rest/api/3/group?groupId=gid-emp", 403),
        (del.clone(), "/rest/api/3/group", 400),
        (del.clone(), "/rest/api/3/group?groupname=nope", 404),
        (
            del.clone(),
            "/rest/api/3/group?groupname=g1&swapGroup=g0",
            400,
        ),
    ] {
        cases.push(case(method, "/rest/api/3/group", url, expect));
    }
    for (body, expect) in [
        (json!({ "name": "new-team" }), 201),
        (json!({ "name": "NEW-team" }), 400),
        (json!({}), 400),
        (json!({ "name": 7 }), 400),
    ] {
        cases.push(Case {
            method: post.clone(),
            op: "/rest/api/3/group",
            url: "/rest/api/3/group".into(),
            body: Some(body),
            auth: true,
            expect,
        });
    }
    cases.push(case(
        del.clone(),
        "/rest/api/3/group",
        "/rest/api/3/group?groupname=new-team",
        200,
    ));
    cases.push(case(
        del.clone(),
        "/rest/api/3/group",
        "/rest/api/3/group?groupname=new-team",
        404,
    ));
    let mut add = |url: String, body: Value, expect: u16| {
        cases.push(Case {
            method: post.clone(),
            op: "/rest/api/3/group/user",
            url,
            body: Some(body),
            auth: true,
            expect,
        })
    };
    add(
        "/rest/api/3/group/user?groupId=gid-50".into(),
        json!({ "accountId": account(1) }),
        201,
    );
    add(
        "/rest/api/3/group/user?groupname=g50".into(),
        json!({ "accountId": account(1) }),
        400,
    );
    add(
        "/rest/api/3/group/user?groupId=gid-50".into(),
        json!({ "name": "bob" }),
        400,
    );
    add(
        "/rest/api/3/group/user?groupId=gid-50".into(),
        json!(["not", "an", "object"]),
        400,
    );
    add(
        "/rest/api/3/group/user?groupId=gid-50".into(),
        json!({ "accountId": 42 }),
        400,
    );
    add(
        "/rest/api/3/group/user".into(),
        json!({ "accountId": account(1) }),
        400,
    );
    add(
        "/rest/api/3/group/user?groupId=nope".into(),
        json!({ "accountId": account(1) }),
        404,
    );
    add(
        "/rest/api/3/group/user?groupId=gid-50".into(),
        json!({ "accountId": "nobody" }),
        404,
    );
    add(
        "/rest/api/3/group/user?groupId=gid-emp".into(),
        json!({ "accountId": account(900) }),
        403,
    );
    add(
        "/rest/api/3/group/user?groupId=gid-50".into(),
        json!({ "accountId": "special:closed" }),
        400,
    );
    // The license of jira-software has 26 seats and 25 are taken.
    add(
        "/rest/api/3/group/user?groupId=gid-jsw".into(),
        json!({ "accountId": account(500) }),
        201,
    );
    add(
        "/rest/api/3/group/user?groupId=gid-jsw".into(),
        json!({ "accountId": account(501) }),
        400,
    );

    // Unauthenticated variants of every operation.
    for (method, op, url) in [
        (get.clone(), "/rest/api/3/myself", "/rest/api/3/myself"),
        (
            get.clone(),
            "/rest/api/3/users/search",
            "/rest/api/3/users/search",
        ),
        (get.clone(), "/rest/api/3/users", "/rest/api/3/users"),
        (
            get.clone(),
            "/rest/api/3/group/bulk",
            "/rest/api/3/group/bulk",
        ),
        (
            get.clone(),
            "/rest/api/3/group/member",
            "/rest/api/3/group/member?groupId=gid-1",
        ),
        (
            get.clone(),
            "/rest/api/3/user/groups",
            "/rest/api/3/user/groups?accountId=x",
        ),
        (
            get.clone(),
            "/rest/api/3/applicationrole",
            "/rest/api/3/applicationrole",
        ),
        (
            post.clone(),
            "/rest/api/3/group/user",
            "/rest/api/3/group/user?groupId=gid-1",
        ),
        (
            del.clone(),
            "/rest/api/3/group/user",
            "/rest/api/3/group/user?groupId=gid-1&accountId=x",
        ),
        (
            get.clone(),
            "/rest/api/3/group",
            "/rest/api/3/group?groupId=gid-1",
        ),
        (post.clone(), "/rest/api/3/group", "/rest/api/3/group"),
        (
            del.clone(),
            "/rest/api/3/group",
            "/rest/api/3/group?groupId=gid-1",
        ),
    ] {
        cases.push(Case {
            method,
            op,
            url: url.to_string(),
            body: Some(json!({"accountId": "x"})),
            auth: false,
            expect: 401,
        });
    }

    // Every operation of the document is exercised.
    for (path, item) in spec.doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("operations").keys() {
            assert!(
                cases
                    .iter()
                    .any(|c| c.op == path && c.method.as_str().eq_ignore_ascii_case(method)),
                "no case for {method} {path}"
            );
        }
    }
    for c in &cases {
        let mut req = if c.auth {
            env.jira(c.method.clone(), &c.url)
        } else {
            env.raw(c.method.clone(), &c.url)
        };
        if let Some(b) = &c.body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.text().await.expect("body");
        assert_eq!(status, c.expect, "{} {}: {body}", c.method, c.url);
        spec.check(&c.method, c.op, status, &body);
    }

    // A malformed JSON body on the write path.
    let resp = env
        .jira(post.clone(), "/rest/api/3/group/user?groupId=gid-50")
        .header("content-type", "application/json")
        .body("{\"accountId\": ")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 400);
    spec.check(
        &post,
        "/rest/api/3/group/user",
        400,
        &resp.text().await.expect("body"),
    );
}

#[tokio::test]
async fn rate_limited_answers_match_the_document() {
    let spec = Spec::load();
    let config = SandboxConfig {
        rate_limit: Some(RateLimitConfig {
            per_second: 0.5,
            burst: 2,
        }),
        ..SandboxConfig::default()
    };
    let env = Env::start(fixture(), config).await;
    let mut last = None;
    for i in 0..3 {
        let resp = env
            .jira(Method::POST, "/rest/api/3/group/user?groupId=gid-51")
            .json(&json!({ "accountId": account(100 + i) }))
            .send()
            .await
            .expect("request");
        last = Some((resp.status().as_u16(), resp.text().await.expect("body")));
    }
    let (status, body) = last.expect("three requests");
    assert_eq!(status, 429);
    spec.check(&Method::POST, "/rest/api/3/group/user", status, &body);
}

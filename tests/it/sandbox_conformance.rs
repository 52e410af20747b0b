//! Every Jira operation the sandbox serves, successes and errors, validated against the
//! schemas of Atlassian's OpenAPI document (`tests/openapi/`). Status codes must be ones the
//! operation documents, except 401 and 429, which the API narrative documents for every
//! operation. Error bodies without a documented schema must be `ErrorCollection`s.

use crate::sandbox_support::*;
use reqwest::Method;
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

// ------------------------------------------------------------------ the admin (Organizations) API

/// Atlassian's published Organizations API (`tests/openapi/atlassian-admin.json`), with its
/// OpenAPI 3.0 `nullable` turned into JSON Schema (as its `x-trimmed-notes` ask).
struct AdminSpec {
    doc: Value,
    /// Every `ADMIN-*` code the spec publishes (`ApplicationError.code` and the `ADMIN-UAM-*`
    /// list of `ApiError.code`).
    codes: Vec<String>,
}

fn nullable_to_json_schema(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for child in map.values_mut() {
                nullable_to_json_schema(child);
            }
            if map.get("nullable") == Some(&Value::Bool(true)) {
                map.remove("nullable");
                if let Some(t) = map.get("type").and_then(Value::as_str).map(str::to_string) {
                    map.insert("type".into(), json!([t, "null"]));
                    if let Some(Value::Array(e)) = map.get_mut("enum") {
                        e.push(Value::Null);
                    }
                } else if let Some(r) = map.remove("$ref") {
                    map.insert("anyOf".into(), json!([{ "$ref": r }, { "type": "null" }]));
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_to_json_schema),
        _ => {}
    }
}

impl AdminSpec {
    fn load() -> AdminSpec {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/openapi/atlassian-admin.json"
        ))
        .expect("OpenAPI document");
        assert_eq!(
            text,
            seatkeeper::sandbox::spec::ADMIN_SPEC,
            "the sandbox embeds this document"
        );
        let mut doc: Value = serde_json::from_str(&text).expect("valid JSON");
        nullable_to_json_schema(&mut doc);
        // Every code the document publishes: the lists of `ApplicationError.code` and
        // `ApiError.code`, the codes operations name in their responses, and the `enum`s of the
        // error models.
        fn codes_in(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(text) => {
                    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
                        if word.starts_with("ADMIN-")
                            && word.ends_with(|c: char| c.is_ascii_digit())
                        {
                            out.push(word.to_string());
                        }
                    }
                }
                Value::Object(map) => map.values().for_each(|c| codes_in(c, out)),
                Value::Array(items) => items.iter().for_each(|c| codes_in(c, out)),
                _ => {}
            }
        }
        let mut codes = Vec::new();
        codes_in(&doc, &mut codes);
        codes.sort();
        codes.dedup();
        assert!(codes.contains(&"ADMIN-UAM-409-2".to_string()), "{codes:?}");
        assert!(codes.contains(&"ADMIN-400-19".to_string()), "{codes:?}");
        AdminSpec { doc, codes }
    }

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

    fn errors(&self, schema: &Value, instance: &Value) -> Vec<String> {
        self.validator(schema)
            .iter_errors(instance)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect()
    }

    fn operation(&self, method: &Method, path: &str) -> &Value {
        let op = &self.doc["paths"][path][method.as_str().to_lowercase()];
        assert!(
            op.is_object(),
            "{method} {path} is not in the OpenAPI document"
        );
        op
    }

    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => self.resolve(self.doc.pointer(&r[1..]).expect("reference")),
            None => v,
        }
    }

    /// Checks one response of `method path` against the document. `open` names a status the
    /// sandbox answers where the spec documents none (a choice listed in docs/sandbox.md).
    fn check(&self, method: &Method, path: &str, status: u16, body: &str, open: bool) {
        let op = self.operation(method, path);
        let response = op["responses"]
            .get(status.to_string())
            .map(|r| self.resolve(r));
        // The narrative documents 401 and 429 for every operation.
        assert!(
            response.is_some() || status == 401 || status == 429 || open,
            "{method} {path} answered {status}, which the operation does not document: {body}"
        );
        if status < 400 {
            let schema = response
                .map(|r| r["content"]["application/json"]["schema"].clone())
                .unwrap_or(Value::Null);
            if schema.is_object() {
                let instance: Value = serde_json::from_str(body).unwrap_or_else(|e| {
                    panic!("{method} {path} {status}: body is not JSON ({e}): {body}")
                });
                let errors = self.errors(&schema, &instance);
                assert!(
                    errors.is_empty(),
                    "{method} {path} {status} does not match its schema: {errors:#?}\n{body}"
                );
            } else {
                assert!(
                    body.is_empty(),
                    "{method} {path} {status}: expected no body, got {body}"
                );
            }
            return;
        }
        let instance: Value = serde_json::from_str(body).unwrap_or_else(|e| {
            panic!("{method} {path} {status}: error body is not JSON ({e}): {body}")
        });
        let documented = response
            .map(|r| r["content"]["application/json"]["schema"].clone())
            .filter(Value::is_object);
        // Without a documented schema (writes, 401/429 of v2, open choices) the v2 shape.
        let schema = documented.unwrap_or_else(|| {
            if status == 429 && path.starts_with("/v1/") {
                json!({ "$ref": "#/components/schemas/ProxyError" })
            } else {
                json!({ "$ref": "#/components/schemas/Errors" })
            }
        });
        let errors = self.errors(&schema, &instance);
        assert!(
            errors.is_empty(),
            "{method} {path} {status} does not match its schema: {errors:#?}\n{body}"
        );
        // The error says something, with a published code.
        match instance.get("errors").and_then(Value::as_array) {
            Some(items) => {
                assert!(!items.is_empty(), "{method} {path} {status}: {body}");
                for e in items {
                    assert_eq!(e["status"], status.to_string(), "{body}");
                    let code = e["code"].as_str().unwrap_or_default();
                    assert!(
                        self.codes.iter().any(|c| c == code),
                        "{method} {path} {status}: code {code:?} is not a published ADMIN code: {body}"
                    );
                    assert!(e["title"].is_string() && e["detail"].is_string(), "{body}");
                }
            }
            None => {
                // A ProxyError.
                assert_eq!(instance["code"], json!(status), "{method} {path}: {body}");
                assert!(instance["message"].is_string(), "{body}");
            }
        }
    }
}

fn admin_case(
    method: Method,
    op: &'static str,
    url: String,
    body: Option<Value>,
    expect: u16,
) -> Case {
    Case {
        method,
        op,
        url,
        body,
        auth: true,
        expect,
    }
}

#[test]
fn the_admin_validator_knows_nullable_and_formats() {
    let spec = AdminSpec::load();
    let schema = json!({ "$ref": "#/components/schemas/UserProductAccessActivityPage" });
    let ok = json!({ "data": { "product_access": [], "added_to_org": null } });
    assert!(spec.errors(&schema, &ok).is_empty());
    let bad_key =
        json!({ "data": { "product_access": [ { "id": "x", "key": "jira-servicedesk" } ] } });
    assert!(
        !spec.errors(&schema, &bad_key).is_empty(),
        "an enum of v1 keys"
    );
    let bad_date = json!({ "data": { "product_access": [], "added_to_org": "yesterday" } });
    assert!(!spec.errors(&schema, &bad_date).is_empty(), "format: date");
    let user = json!({ "$ref": "#/components/schemas/MultiDirectoryUser" });
    assert!(!spec
        .errors(&user, &json!({ "accountType": "app" }))
        .is_empty());
    let polling = json!({ "$ref": "#/components/schemas/PollingEventModel" });
    let event = json!({ "id": "1", "type": "events", "links": { "self": "u" },
        "attributes": { "time": "2026-11-24T10:00:00Z", "action": "a", "actor": { "id": "x" }, "context": [] } });
    assert!(
        !spec.errors(&polling, &event).is_empty(),
        "processedAt is required"
    );
}

#[tokio::test]
async fn every_admin_operation_matches_the_openapi_document() {
    let spec = AdminSpec::load();
    let env = Env::fixture().await;
    let org = env.org_id.clone();
    let dir = env.sandbox.directory_id();
    let (get, post, del) = (Method::GET, Method::POST, Method::DELETE);
    // Events to list: logins, an access request, then the writes below add group events.
    for (action, i, product) in [
        ("user_logged_in", 3, None),
        ("user_logged_in", 4, None),
        ("access_requested", 5, Some("confluence")),
    ] {
        let mut event = json!({ "action": action, "account_id": account(i) });
        if let Some(p) = product {
            event["product"] = json!(p);
        }
        let resp = env
            .raw(Method::POST, "/__sandbox/events")
            .json(&event)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 201);
    }

    const SEARCH: &str = "/v2/orgs/{orgId}/directories/{directoryId}/users/search";
    const USERS: &str = "/v2/orgs/{orgId}/directories/{directoryId}/users";
    const USER_ROLES: &str =
        "/v2/orgs/{orgId}/directories/{directoryId}/users/{accountId}/role-assignments";
    const LAST_ACTIVE: &str = "/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates";
    const GROUPS: &str = "/v2/orgs/{orgId}/directories/{directoryId}/groups/search";
    const GROUP: &str = "/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}";
    const GROUP_ROLES: &str =
        "/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/role-assignments";
    const ADD: &str = "/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships";
    const REMOVE: &str =
        "/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships/{accountId}";
    const DIRECTORIES: &str = "/v2/orgs/{orgId}/directories";
    const EVENTS: &str = "/v1/orgs/{orgId}/events";
    const STREAM: &str = "/v1/orgs/{orgId}/events-stream";
    const ACTIONS: &str = "/v1/orgs/{orgId}/event-actions";
    const ORGS: &str = "/v1/orgs";

    let search = format!("/admin/v2/orgs/{org}/directories/-/users/search");
    let eleven: Vec<String> = (0..11).map(|i| format!("gid-{i}")).collect();
    let mut cases = vec![];
    for (body, expect) in [
        (json!({}), 200),
        (
            json!({ "limit": 100, "expand": ["productAccess", "groups", "platformRoles", "counts.resources"] }),
            200,
        ),
        (
            json!({ "emails": ["user7@acme.test"], "expand": ["groups"] }),
            200,
        ),
        (
            json!({ "groupIds": ["gid-jsw", "ari:cloud:identity::group/gid-conf"], "expand": ["productAccess"] }),
            200,
        ),
        (
            json!({ "status": ["suspended", "deactivated"], "accountStatus": ["closed", "inactive", "active"] }),
            200,
        ),
        (
            json!({ "sortBy": [{ "field": "nick_name", "direction": "desc" }], "limit": 3 }),
            200,
        ),
        (
            json!({ "roleIds": ["atlassian/user"], "mfaEnabled": false, "claimStatus": "unmanaged", "limit": 2 }),
            200,
        ),
        (json!({ "limit": 101 }), 400),
        (json!({ "groupIds": eleven }), 400),
        (json!({ "emails": ["a@acme.test"], "searchTerm": "a" }), 400),
        (json!({ "expand": ["everything"] }), 400),
        (json!({ "groupIDs": ["gid-1"] }), 400),
        (json!({ "groupIds": ["nope"] }), 404),
    ] {
        cases.push(admin_case(
            post.clone(),
            SEARCH,
            search.clone(),
            Some(body),
            expect,
        ));
    }
    cases.push(admin_case(
        post.clone(),
        SEARCH,
        "/admin/v2/orgs/other/directories/-/users/search".into(),
        Some(json!({})),
        404,
    ));
    cases.push(admin_case(
        post.clone(),
        SEARCH,
        format!("/admin/v2/orgs/{org}/directories/nope/users/search"),
        Some(json!({})),
        404,
    ));
    cases.push(admin_case(
        post.clone(),
        SEARCH,
        format!("/admin/v2/orgs/{org}/directories/{dir}/users/search"),
        None,
        200,
    ));

    let users = format!("/admin/v2/orgs/{org}/directories/-/users");
    for (q, expect) in [
        ("", 200),
        ("?limit=5&groupIds=gid-1&groupIds=gid-50&status=active", 200),
        ("?limit=101", 400),
        ("?limit=ten", 400),
        ("?status=asleep", 400),
        (
            &format!(
                "?{}",
                (0..11)
                    .map(|i| format!("accountIds=a{i}"))
                    .collect::<Vec<_>>()
                    .join("&")
            ),
            400,
        ),
        ("?groupIds=nope", 404),
    ] {
        cases.push(admin_case(
            get.clone(),
            USERS,
            format!("{users}{q}"),
            None,
            expect,
        ));
    }

    let user_roles =
        |who: &str| format!("/admin/v2/orgs/{org}/directories/-/users/{who}/role-assignments");
    cases.push(admin_case(
        get.clone(),
        USER_ROLES,
        user_roles(&account(0)),
        None,
        200,
    ));
    cases.push(admin_case(
        get.clone(),
        USER_ROLES,
        format!(
            "{}?limit=1&resourceOwners=confluence",
            user_roles(&account(0))
        ),
        None,
        200,
    ));
    cases.push(admin_case(
        get.clone(),
        USER_ROLES,
        format!("{}?limit=0", user_roles(&account(0))),
        None,
        400,
    ));
    cases.push(admin_case(
        get.clone(),
        USER_ROLES,
        user_roles("nobody"),
        None,
        404,
    ));

    let last_active =
        |who: &str| format!("/admin/v1/orgs/{org}/directory/users/{who}/last-active-dates");
    cases.push(admin_case(
        get.clone(),
        LAST_ACTIVE,
        last_active(&account(0)),
        None,
        200,
    ));
    cases.push(admin_case(
        get.clone(),
        LAST_ACTIVE,
        last_active("special:suspended"),
        None,
        200,
    ));
    cases.push(admin_case(
        get.clone(),
        LAST_ACTIVE,
        format!("{}?page=2", last_active(&account(0))),
        None,
        400,
    ));
    cases.push(admin_case(
        get.clone(),
        LAST_ACTIVE,
        last_active("nobody"),
        None,
        404,
    ));
    cases.push(admin_case(
        get.clone(),
        LAST_ACTIVE,
        last_active("special:customer"),
        None,
        404,
    ));

    let groups = format!("/admin/v2/orgs/{org}/directories/-/groups/search");
    for (body, expect) in [
        (json!({}), 200),
        (
            json!({ "groupNames": ["G50", "jira-software-users-acme"], "expand": ["counts.users", "counts.resources"] }),
            200,
        ),
        (
            json!({ "groupIds": ["gid-1", "ari:cloud:identity::group/gid-emp"], "limit": 100 }),
            200,
        ),
        (
            json!({ "searchTerm": "jira", "sortBy": [{ "field": "name", "direction": "desc" }] }),
            200,
        ),
        (
            json!({ "roleIds": ["atlassian/user"], "resourceOwners": ["jira-software"], "accountIds": [account(16)] }),
            200,
        ),
        (json!({ "groupNames": ["g1"], "groupIds": ["gid-1"] }), 400),
        (json!({ "limit": 0 }), 400),
        (json!({ "expand": [] }), 400),
    ] {
        cases.push(admin_case(
            post.clone(),
            GROUPS,
            groups.clone(),
            Some(body),
            expect,
        ));
    }

    let group = |g: &str| format!("/admin/v2/orgs/{org}/directories/-/groups/{g}");
    cases.push(admin_case(get.clone(), GROUP, group("gid-jsw"), None, 200));
    cases.push(admin_case(
        get.clone(),
        GROUP,
        group("ari:cloud:identity::group%2Fgid-emp"),
        None,
        200,
    ));
    cases.push(admin_case(get.clone(), GROUP, group("nope"), None, 404));
    cases.push(admin_case(
        get.clone(),
        GROUP_ROLES,
        format!("{}/role-assignments", group("gid-jsw")),
        None,
        200,
    ));
    cases.push(admin_case(
        get.clone(),
        GROUP_ROLES,
        format!(
            "{}/role-assignments?roleIds=atlassian/user&limit=100",
            group("gid-conf")
        ),
        None,
        200,
    ));
    cases.push(admin_case(
        get.clone(),
        GROUP_ROLES,
        format!(
            "{}/role-assignments?roleIds=atlassian/nobody",
            group("gid-conf")
        ),
        None,
        400,
    ));
    cases.push(admin_case(
        get.clone(),
        GROUP_ROLES,
        format!("{}/role-assignments", group("nope")),
        None,
        404,
    ));

    let add = |g: &str| format!("/admin/v2/orgs/{org}/directories/-/groups/{g}/memberships");
    for (g, body, expect) in [
        ("gid-50", json!({ "accountId": account(900) }), 204),
        ("gid-50", json!({ "accountId": account(900) }), 409),
        ("gid-50", json!({}), 400),
        ("gid-50", json!({ "accountId": "special:closed" }), 400),
        ("gid-emp", json!({ "accountId": account(900) }), 403),
        ("nope", json!({ "accountId": account(900) }), 404),
        ("gid-50", json!({ "accountId": "nobody" }), 404),
        // The license of jira-software has 26 seats and 25 are taken.
        ("gid-jsw", json!({ "accountId": account(500) }), 204),
        ("gid-jsw", json!({ "accountId": account(501) }), 409),
    ] {
        cases.push(admin_case(post.clone(), ADD, add(g), Some(body), expect));
    }
    let remove = |g: &str, who: &str| {
        format!("/admin/v2/orgs/{org}/directories/-/groups/{g}/memberships/{who}")
    };
    cases.push(admin_case(
        del.clone(),
        REMOVE,
        remove("gid-50", &account(1)),
        None,
        204,
    ));
    cases.push(admin_case(
        del.clone(),
        REMOVE,
        remove("gid-50", &account(1)),
        None,
        204,
    ));
    cases.push(admin_case(
        del.clone(),
        REMOVE,
        remove("gid-emp", &account(1)),
        None,
        403,
    ));
    cases.push(admin_case(
        del.clone(),
        REMOVE,
        remove("nope", &account(1)),
        None,
        404,
    ));

    let directories = format!("/admin/v2/orgs/{org}/directories");
    cases.push(admin_case(
        get.clone(),
        DIRECTORIES,
        directories.clone(),
        None,
        200,
    ));
    cases.push(admin_case(
        get.clone(),
        DIRECTORIES,
        format!("{directories}?searchTerm=primary&accountId={}", account(3)),
        None,
        200,
    ));
    cases.push(admin_case(
        get.clone(),
        DIRECTORIES,
        format!("{directories}?limit=0"),
        None,
        400,
    ));

    let events = format!("/admin/v1/orgs/{org}/events");
    for (q, expect) in [
        ("", 200),
        ("?limit=2&action=user_logged_in", 200),
        ("?product=confluence,jira&q=requested", 200),
        (
            &format!("?actor={}&ip=127.0.0.1&limit=500", account(3)),
            200,
        ),
        ("?limit=501", 400),
        ("?from=yesterday", 400),
        ("?cursor=bogus", 400),
        ("?product=jira-software", 400),
    ] {
        cases.push(admin_case(
            get.clone(),
            EVENTS,
            format!("{events}{q}"),
            None,
            expect,
        ));
    }
    let stream = format!("/admin/v1/orgs/{org}/events-stream");
    for (q, expect) in [
        ("", 200),
        ("?limit=2", 200),
        ("?limit=500&sortOrder=desc&from=0&to=99999999999999", 200),
        ("?limit=501", 400),
        ("?sortOrder=up", 400),
        ("?cursor=bogus", 400),
        ("?to=later", 400),
    ] {
        cases.push(admin_case(
            get.clone(),
            STREAM,
            format!("{stream}{q}"),
            None,
            expect,
        ));
    }
    cases.push(admin_case(
        get.clone(),
        ACTIONS,
        format!("/admin/v1/orgs/{org}/event-actions"),
        None,
        200,
    ));
    cases.push(admin_case(
        get.clone(),
        ACTIONS,
        "/admin/v1/orgs/other/event-actions".into(),
        None,
        404,
    ));
    // The org listing: one page; its only documented 400 is an invalid page cursor, which an
    // undeclared parameter answers too.
    for (q, expect) in [
        ("", 200),
        ("?cursor=bogus", 400),
        ("?cursor=", 400),
        ("?limit=1", 400),
    ] {
        cases.push(admin_case(
            get.clone(),
            ORGS,
            format!("/admin/v1/orgs{q}"),
            None,
            expect,
        ));
    }

    // Unauthenticated variants of every operation.
    let unauthenticated: Vec<Case> = cases
        .iter()
        .filter(|c| c.expect == 200 || c.expect == 204)
        .map(|c| Case {
            method: c.method.clone(),
            op: c.op,
            url: c.url.clone(),
            body: c.body.clone(),
            auth: false,
            expect: 401,
        })
        .collect();
    cases.extend(unauthenticated);

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
    // The next page of a listing is served too.
    for c in &cases {
        let mut req = if c.auth {
            env.admin(c.method.clone(), &c.url)
        } else {
            env.raw(c.method.clone(), &c.url)
        };
        if let Some(b) = &c.body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.text().await.expect("body");
        assert_eq!(
            status, c.expect,
            "{} {} {:?}: {body}",
            c.method, c.url, c.body
        );
        spec.check(&c.method, c.op, status, &body, false);
    }

    // Bodies that are not JSON: 415 (the published ADMIN-UAM-415-1) and 400.
    let resp = env
        .admin(post.clone(), &add("gid-50"))
        .header("content-type", "text/plain")
        .body("{\"accountId\": \"x\"}")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 415);
    spec.check(&post, ADD, 415, &resp.text().await.expect("body"), true);
    let resp = env
        .admin(post.clone(), &search)
        .header("content-type", "application/json")
        .body("{\"limit\": ")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 400);
    spec.check(&post, SEARCH, 400, &resp.text().await.expect("body"), false);
    // No case answered a status the spec leaves undocumented by accident.
    let stats = env.stats().await;
    assert!(stats["spec_violations"].as_u64().unwrap_or(0) > 0);
}

/// `GET /v1/orgs` (getOrgs) lists the sandbox's one org in the `OrgPage` shape, with the
/// documented rate-limit headers, and an injected server error keeps to the documented 500.
#[tokio::test]
async fn the_org_listing_names_the_sandbox_org_as_the_document_says() {
    let spec = AdminSpec::load();
    let env = Env::start(
        fixture(),
        SandboxConfig {
            admin_limits: Some(seatkeeper::sandbox::AdminLimits::DOCUMENTED),
            ..SandboxConfig::default()
        },
    )
    .await;
    let resp = env
        .admin(Method::GET, "/admin/v1/orgs")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    // The spec names no budget for the listing: the sandbox's default for such paths.
    assert_eq!(
        h["x-ratelimit-limit"],
        seatkeeper::sandbox::AdminLimits::DEFAULT_OTHER_PER_PATH.to_string()
    );
    assert!(h.contains_key("x-ratelimit-remaining") && h.contains_key("x-ratelimit-reset"));
    assert!(h.get("retry-after").is_none() && h.get("x-ratelimit-nearlimit").is_none());
    let body = resp.text().await.expect("body");
    spec.check(&Method::GET, "/v1/orgs", 200, &body, false);
    let page: Value = serde_json::from_str(&body).expect("json");
    let data = page["data"].as_array().expect("data");
    assert_eq!(data.len(), 1, "{body}");
    assert_eq!(data[0]["id"], json!(env.org_id));
    assert_eq!(data[0]["type"], "orgs");
    assert_eq!(
        data[0]["attributes"]["name"], "acme",
        "the site's first label"
    );
    assert!(page["links"].get("next").is_none(), "one page: {body}");
    // `links.self` fetches the same page again.
    let again = page["links"]["self"].as_str().expect("self link");
    let resp = env
        .client
        .get(again)
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["data"],
        page["data"]
    );

    // Injected faults answer the documented 500 (`Error.InternalError`) among the others.
    let env = Env::start(
        fixture(),
        SandboxConfig {
            faults: seatkeeper::sandbox::FaultConfig::parse("5xx=1,seed=7").expect("faults"),
            ..SandboxConfig::default()
        },
    )
    .await;
    let mut seen_500 = false;
    for _ in 0..40 {
        let resp = env
            .admin(Method::GET, "/admin/v1/orgs")
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        assert!(status >= 500, "every answer is a fault: {status}");
        if status == 500 {
            spec.check(
                &Method::GET,
                "/v1/orgs",
                500,
                &resp.text().await.expect("body"),
                false,
            );
            seen_500 = true;
            break;
        }
    }
    assert!(seen_500, "one of 40 faults is a 500");
}

#[tokio::test]
async fn an_org_without_guard_answers_events_with_a_documented_error_shape() {
    let spec = AdminSpec::load();
    let mut state = fixture();
    state.users.truncate(20);
    for g in &mut state.groups {
        g.members
            .retain(|m| state.users.iter().any(|u| &u.account_id == m));
    }
    let org = seatkeeper::sandbox::Org::parse_seed(&{
        let mut v = serde_json::to_value(&state).expect("json");
        v["sandbox"] = json!({ "guard": false });
        v.to_string()
    })
    .expect("parses")
    .expect("valid");
    let env = Env::start_org(
        org,
        SandboxConfig {
            now: Some(now()),
            ..SandboxConfig::default()
        },
    )
    .await;
    for (op, url) in [
        ("/v1/orgs/{orgId}/events-stream", "events-stream"),
        ("/v1/orgs/{orgId}/events", "events"),
        ("/v1/orgs/{orgId}/event-actions", "event-actions"),
    ] {
        let resp = env
            .admin(Method::GET, &format!("/admin/v1/orgs/{}/{url}", env.org_id))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 403, "{url}");
        // 403 is the sandbox's choice where the spec says nothing (docs/sandbox.md).
        spec.check(
            &Method::GET,
            op,
            403,
            &resp.text().await.expect("body"),
            true,
        );
    }
}

#[tokio::test]
async fn admin_rate_limited_answers_match_the_document() {
    let spec = AdminSpec::load();
    let config = SandboxConfig {
        admin_limits: Some(seatkeeper::sandbox::AdminLimits {
            events_per_path: 1,
            events_per_user: 10,
            last_active_per_org: 1,
            other_per_path: 1,
            window: std::time::Duration::from_secs(60),
        }),
        ..SandboxConfig::default()
    };
    let env = Env::start(fixture(), config).await;
    for (op, method, url) in [
        (
            "/v2/orgs/{orgId}/directories/{directoryId}/users/search",
            Method::POST,
            format!("/admin/v2/orgs/{}/directories/-/users/search", env.org_id),
        ),
        (
            "/v1/orgs/{orgId}/events-stream",
            Method::GET,
            format!("/admin/v1/orgs/{}/events-stream", env.org_id),
        ),
        (
            "/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates",
            Method::GET,
            format!(
                "/admin/v1/orgs/{}/directory/users/{}/last-active-dates",
                env.org_id,
                account(0)
            ),
        ),
        ("/v1/orgs", Method::GET, "/admin/v1/orgs".to_string()),
    ] {
        let mut last = None;
        for _ in 0..2 {
            let mut req = env.admin(method.clone(), &url);
            if method == Method::POST {
                req = req.json(&json!({}));
            }
            let resp = req.send().await.expect("request");
            last = Some((resp.status().as_u16(), resp.text().await.expect("body")));
        }
        let (status, body) = last.expect("two requests");
        assert_eq!(status, 429, "{url}");
        spec.check(&method, op, status, &body, false);
    }
    // Admin answers carry only the documented rate-limit headers.
    let actions = format!("/admin/v1/orgs/{}/event-actions", env.org_id);
    let first = env
        .admin(Method::GET, &actions)
        .send()
        .await
        .expect("request");
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("x-ratelimit-nearlimit").is_none());
    assert!(first.headers().contains_key("x-ratelimit-reset"));
    let resp = env
        .admin(Method::GET, &actions)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 429);
    let h = resp.headers();
    assert!(h.get("retry-after").is_none(), "{h:?}");
    assert!(h.get("x-ratelimit-nearlimit").is_none(), "{h:?}");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert!(h.contains_key("x-ratelimit-limit"));
    let reset = h["x-ratelimit-reset"].to_str().expect("ascii");
    chrono::DateTime::parse_from_rfc3339(reset).expect("ISO 8601");
}

/// Every admin request the client sends, for a read with events, the stale check of many groups
/// and writes, validates against the spec's parameters and request bodies.
#[tokio::test]
async fn every_request_the_client_sends_keeps_to_the_admin_spec() {
    use seatkeeper::atlassian::{
        Client, ClientConfig, CredentialSource, Credentials, ReadRequest, RetryConfig, Secret,
    };
    let spec = AdminSpec::load();
    let config = SandboxConfig::default();
    let mut state = fixture();
    for i in 0..3 {
        state.groups.push(seatkeeper::live::Group {
            id: format!("gid-extra-{i}"),
            name: format!("extra-{i}"),
            members: vec![account(i)],
            synced: false,
        });
    }
    // Jira Service Management for some Jira Software holders: their activity is told apart
    // with v1 last-active dates.
    state.groups.push(seatkeeper::live::Group {
        id: "gid-jsm".into(),
        name: "jira-servicedesk-users-acme".into(),
        members: (10..30).map(account).collect(),
        synced: false,
    });
    let env = Env::start(state, config).await;
    let source = CredentialSource {
        email: None,
        api_token: None,
        admin_api_key: Some(Secret::new(ADMIN_KEY)),
        api_base: Some(env.base.clone()),
    };
    let creds =
        Credentials::resolve("acme.atlassian.net", Some(&env.org_id), source).expect("credentials");
    let client = Client::new(
        creds,
        ClientConfig {
            retry: RetryConfig::without_delays(),
            ..ClientConfig::default()
        },
    )
    .expect("client");
    // More than 10 groups and more than 100 group names.
    let mut names: Vec<String> = [
        "g0",
        "g1",
        "g50",
        "g51",
        "g10000",
        JSW,
        JSW2,
        CONF,
        SYNCED,
        "site-admins",
        "extra-0",
        "extra-1",
        "extra-2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.extend((0..120).map(|i| format!("missing-{i}")));
    let request = ReadRequest {
        site: "acme.atlassian.net".into(),
        groups: names,
        products: vec!["jira-software".into(), "confluence".into()],
        product_groups: [
            (
                "jira-software".to_string(),
                vec![JSW.to_string(), JSW2.to_string()],
            ),
            ("confluence".to_string(), vec![CONF.to_string()]),
        ]
        .into(),
        events_since: Some(now() - chrono::TimeDelta::days(30)),
        now: now(),
        licenses: false,
        members_only: false,
        safe_emails: vec![],
        safe_account_ids: vec![],
    };
    let read = client.read_live(&request).await.expect("read");
    let ids: Vec<String> = read.state.groups.iter().map(|g| g.id.clone()).collect();
    assert!(ids.len() > 10, "{ids:?}");
    // Apply's stale check re-reads them all, 10 ids a listing, and sees what the read saw.
    let members = client.group_members(&ids).await.expect("members");
    for g in &read.state.groups {
        assert_eq!(members[&g.id], g.members, "{}", g.name);
    }
    client.add_member("gid-1", &account(77)).await.expect("add");
    client
        .remove_member("gid-1", &account(77))
        .await
        .expect("remove");
    // A duplicate add is checked with a membership search.
    assert_eq!(
        client.add_member("gid-1", &account(1)).await.expect("add"),
        seatkeeper::atlassian::Change::AlreadyDone
    );
    // The read plan makes: members only, long listings from both ends, safe users by email
    // and id, granting groups, v1 last-active dates; then direct assignments of people freed.
    let request = ReadRequest {
        groups: vec![
            "g10000".into(),
            "g51".into(),
            JSW.into(),
            JSW2.into(),
            "jira-servicedesk-users-acme".into(),
        ],
        products: vec!["jira-software".into(), "jira-servicedesk".into()],
        product_groups: [
            (
                "jira-software".to_string(),
                vec![JSW.to_string(), JSW2.to_string()],
            ),
            (
                "jira-servicedesk".to_string(),
                vec!["jira-servicedesk-users-acme".to_string()],
            ),
        ]
        .into(),
        members_only: true,
        safe_emails: (0..150).map(|i| format!("user{i}@acme.test")).collect(),
        safe_account_ids: (200..215).map(account).collect(),
        ..request
    };
    let scoped = client.read_live(&request).await.expect("scoped read");
    assert!(
        scoped.last_active_reads >= 10,
        "{}",
        scoped.last_active_reads
    );
    let grants = scoped.grants.expect("grants");
    client
        .direct_assignments(&(0..12).map(account).collect::<Vec<_>>(), &grants)
        .await
        .expect("direct assignments");
    // The org listing `seatkeeper init` reads with the key alone.
    let orgs = client.org_ids().await.expect("orgs");
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0].id, env.org_id);

    let mut recorded = env.sandbox.recorded_requests();
    recorded.retain(|r| r.path.starts_with("/admin/"));
    assert!(
        recorded.iter().any(|r| r.path == "/admin/v1/orgs"),
        "the org listing is recorded"
    );
    assert!(recorded.len() > 5);
    for r in &recorded {
        let path = r.path.strip_prefix("/admin").expect("admin path");
        let (op_path, op) = spec.doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .filter_map(|(p, item)| Some((p, item.get(r.method.to_lowercase())?)))
            .find(|(p, _)| {
                let a: Vec<&str> = p.trim_matches('/').split('/').collect();
                let b: Vec<&str> = path.trim_matches('/').split('/').collect();
                a.len() == b.len() && a.iter().zip(&b).all(|(t, s)| t.starts_with('{') || t == s)
            })
            .unwrap_or_else(|| panic!("{} {} is not an operation of the spec", r.method, r.path));
        let params: Vec<&Value> = op["parameters"]
            .as_array()
            .map(|ps| ps.iter().map(|p| spec.resolve(p)).collect())
            .unwrap_or_default();
        for (k, _) in &r.query {
            assert!(
                params
                    .iter()
                    .any(|p| p["in"] == "query" && p["name"] == k.as_str()),
                "{} {op_path}: `{k}` is not a declared query parameter",
                r.method
            );
        }
        for p in params.iter().filter(|p| p["in"] == "query") {
            let name = p["name"].as_str().expect("name");
            let values: Vec<&str> = r
                .query
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .collect();
            if values.is_empty() {
                continue;
            }
            let schema = spec.resolve(&p["schema"]).clone();
            let typed = |v: &str, s: &Value| match s["type"].as_str() {
                Some("integer") => v.parse::<i64>().map(Value::from).unwrap_or(json!(v)),
                Some("boolean") => v.parse::<bool>().map(Value::from).unwrap_or(json!(v)),
                _ => json!(v),
            };
            let value = if schema["type"] == "array" {
                Value::Array(values.iter().map(|v| typed(v, &schema["items"])).collect())
            } else {
                assert_eq!(values.len(), 1, "{op_path}: {name} given twice");
                typed(values[0], &schema)
            };
            let errors = spec.errors(&schema, &value);
            assert!(
                errors.is_empty(),
                "{} {op_path} `{name}`={value}: {errors:?}",
                r.method
            );
        }
        let body_schema = op["requestBody"]["content"]["application/json"]["schema"].clone();
        match (&r.body, body_schema.is_object()) {
            (Some(body), true) => {
                let errors = spec.errors(&body_schema, body);
                assert!(
                    errors.is_empty(),
                    "{} {op_path} {body}: {errors:?}",
                    r.method
                );
                let declared = spec.resolve(&body_schema)["properties"].clone();
                for k in body.as_object().expect("object body").keys() {
                    assert!(
                        declared.get(k).is_some(),
                        "{op_path}: `{k}` is not a declared field"
                    );
                }
            }
            (Some(body), false) => panic!("{} {op_path} takes no body, got {body}", r.method),
            (None, _) => {}
        }
    }
    assert_eq!(env.stats().await["spec_violations"], 0);
}

/// A generated org of several sites and directories, with a legacy grant group and direct role
/// assignments, answers every listing as the spec says: per directory, with site ARIs of each
/// product's own site and `direct` assignment methods.
#[tokio::test]
async fn a_multi_site_multi_directory_org_matches_the_document() {
    use seatkeeper::sandbox::{self, OrgShape, OrgSource};
    let spec = AdminSpec::load();
    let config = SandboxConfig {
        now: Some(now()),
        shape: OrgShape {
            sites: 2,
            directories: 3,
            guard: true,
            hidden_grants: true,
        },
        ..SandboxConfig::default()
    };
    let org = sandbox::load_org(
        &OrgSource::Generate {
            users: 400,
            seed: 5,
        },
        &config,
    )
    .expect("org");
    let products = org.products().to_vec();
    let directories = org.directories.clone();
    let direct_user = {
        let jsw = org.product_index("jira-software").expect("jsw");
        let u = products[jsw as usize].direct[0];
        org.users()[u as usize].account_id.clone()
    };
    let env = Env::start_org(org, config).await;
    let o = env.org_id.clone();
    let get = Method::GET;
    let post = Method::POST;
    let check = |method: &Method, op: &str, status: u16, body: &str| {
        spec.check(method, op, status, body, false)
    };

    let resp = env
        .admin(get.clone(), &format!("/admin/v2/orgs/{o}/directories"))
        .send()
        .await
        .expect("request");
    let body = resp.text().await.expect("body");
    check(&get, "/v2/orgs/{orgId}/directories", 200, &body);
    let listed: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(3));

    let mut clouds = std::collections::BTreeSet::new();
    let mut seen = 0;
    for d in &directories {
        let url = format!("/admin/v2/orgs/{o}/directories/{}/users/search", d.id);
        let resp = env
            .admin(post.clone(), &url)
            .json(&json!({ "limit": 100, "expand": ["productAccess", "groups"] }))
            .send()
            .await
            .expect("request");
        let body = resp.text().await.expect("body");
        check(
            &post,
            "/v2/orgs/{orgId}/directories/{directoryId}/users/search",
            200,
            &body,
        );
        let page: Value = serde_json::from_str(&body).expect("json");
        for u in page["data"].as_array().expect("data") {
            seen += 1;
            assert!(u["links"]["self"].as_str().expect("self").contains(&d.id));
            for pa in u["productAccess"].as_array().expect("expanded") {
                clouds.insert(
                    pa["id"]
                        .as_str()
                        .expect("ari")
                        .rsplit('/')
                        .next()
                        .expect("cloud")
                        .to_string(),
                );
            }
        }
        let resp = env
            .admin(
                post.clone(),
                &format!("/admin/v2/orgs/{o}/directories/{}/groups/search", d.id),
            )
            .json(&json!({ "roleIds": ["atlassian/user"], "limit": 100 }))
            .send()
            .await
            .expect("request");
        let body = resp.text().await.expect("body");
        check(
            &post,
            "/v2/orgs/{orgId}/directories/{directoryId}/groups/search",
            200,
            &body,
        );
        let groups: Value = serde_json::from_str(&body).expect("json");
        for g in groups["data"].as_array().expect("data") {
            assert_eq!(g["directoryId"], d.id.as_str());
            let roles = env
                .admin(
                    get.clone(),
                    &format!(
                        "/admin/v2/orgs/{o}/directories/{}/groups/{}/role-assignments",
                        d.id,
                        g["id"].as_str().expect("id")
                    ),
                )
                .send()
                .await
                .expect("request");
            let body = roles.text().await.expect("body");
            check(
                &get,
                "/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/role-assignments",
                200,
                &body,
            );
        }
    }
    assert!(seen > 100);
    assert_eq!(clouds.len(), 2, "two sites: {clouds:?}");
    // A direct assignment says so.
    let resp = env
        .admin(
            get.clone(),
            &format!("/admin/v2/orgs/{o}/directories/-/users/{direct_user}/role-assignments"),
        )
        .send()
        .await
        .expect("request");
    let body = resp.text().await.expect("body");
    check(
        &get,
        "/v2/orgs/{orgId}/directories/{directoryId}/users/{accountId}/role-assignments",
        200,
        &body,
    );
    assert!(body.contains("\"direct\""), "{body}");
    // A member of another directory cannot be added to a group.
    let d0 = &directories[0].id;
    let other = directories[1].id.clone();
    let resp = env
        .admin(
            post.clone(),
            &format!("/admin/v2/orgs/{o}/directories/{other}/users/search"),
        )
        .json(&json!({ "limit": 1 }))
        .send()
        .await
        .expect("request");
    let page: Value = resp.json().await.expect("json");
    let stranger = page["data"][0]["accountId"]
        .as_str()
        .expect("id")
        .to_string();
    let jsw_group = "jira-software-users-acme";
    let resp = env
        .admin(
            post.clone(),
            &format!("/admin/v2/orgs/{o}/directories/{d0}/groups/search"),
        )
        .json(&json!({ "groupNames": [jsw_group] }))
        .send()
        .await
        .expect("request");
    let found: Value = resp.json().await.expect("json");
    let gid = found["data"][0]["id"].as_str().expect("id").to_string();
    let resp = env
        .admin(
            post.clone(),
            &format!("/admin/v2/orgs/{o}/directories/{d0}/groups/{gid}/memberships"),
        )
        .json(&json!({ "accountId": stranger }))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 400);
    let body = resp.text().await.expect("body");
    assert!(body.contains("same directory"), "{body}");
    check(
        &post,
        "/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships",
        400,
        &body,
    );
}

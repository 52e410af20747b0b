//! Atlassian's published Organizations (admin) API, embedded (`tests/openapi/atlassian-admin.json`,
//! see its `info.description` for the source), and the request check every `/admin/...` request
//! of the sandbox passes before its handler runs: which operation it is, and whether its path
//! and query parameters and its JSON body keep to the operation's request schemas (types,
//! enums, `minimum`/`maximum`, `minItems`/`maxItems`, `uniqueItems`, `required`).
//!
//! The check is stricter than Atlassian in one documented way: a query parameter or a body field
//! the operation does not declare is refused, so a client typo fails a test instead of being
//! ignored in production. The first violation found is reported, naming the field
//! (`groupIds`, `expand[2]`, `limit`).

use serde_json::{Map, Value};
use std::sync::OnceLock;

/// The embedded spec text.
pub const ADMIN_SPEC: &str = include_str!("../../tests/openapi/atlassian-admin.json");

/// The parsed spec (`Value::Null` if it were ever unparsable; a unit test guards that).
pub fn doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::from_str(ADMIN_SPEC).unwrap_or(Value::Null))
}

/// Follows a local `$ref` (`#/components/...`) once; anything else is returned as is.
pub fn resolve(v: &'static Value) -> &'static Value {
    let mut v = v;
    // References may chain; a cycle would be a broken spec, so stop after a few hops.
    for _ in 0..8 {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => match r.strip_prefix('#').and_then(|p| doc().pointer(p)) {
                Some(target) => v = target,
                None => return v,
            },
            None => return v,
        }
    }
    v
}

/// A request that breaks the operation's request schema: which field, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The parameter or body field, like `limit`, `groupIds` or `expand[2]`.
    pub field: String,
    /// What is wrong, in a sentence that names the field.
    pub detail: String,
}

impl Violation {
    fn new(field: &str, detail: String) -> Self {
        Self {
            field: field.to_string(),
            detail,
        }
    }
}

/// One operation of the spec (a path template and a method).
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// The spec's path template, like `/v2/orgs/{orgId}/directories/{directoryId}/users/search`.
    pub path: &'static str,
    op: &'static Value,
}

/// A request's path parameters, decoded, by their names in the spec.
pub type PathParams = Vec<(&'static str, String)>;

/// The operation a request is, from its method and its path below `/admin`, with the path
/// parameters (decoded) by name. Literal segments win over templated ones
/// (`groups/search` is the search, not the group `search`).
pub fn operation(method: &str, path: &str) -> Option<(Operation, PathParams)> {
    let method = method.to_ascii_lowercase();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut best: Option<(usize, Operation, PathParams)> = None;
    for (template, item) in doc().get("paths")?.as_object()? {
        let Some(op) = item.get(&method) else {
            continue;
        };
        let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut literal = 0;
        let mut params = Vec::new();
        let fits = parts.iter().zip(&segments).all(|(t, s)| {
            match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                Some(name) => {
                    params.push((name, percent_decode(s)));
                    !s.is_empty()
                }
                None => {
                    literal += 1;
                    t == s
                }
            }
        });
        if fits && best.as_ref().is_none_or(|(l, _, _)| literal > *l) {
            best = Some((
                literal,
                Operation {
                    path: template.as_str(),
                    op,
                },
                params,
            ));
        }
    }
    best.map(|(_, op, params)| (op, params))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Operation {
    /// The operation object of the spec.
    pub fn spec(&self) -> &'static Value {
        self.op
    }

    /// Whether the operation documents a response with this status.
    pub fn documents(&self, status: u16) -> bool {
        self.op
            .get("responses")
            .and_then(|r| r.get(status.to_string()))
            .is_some()
    }

    fn parameters(&self) -> impl Iterator<Item = &'static Value> {
        self.op
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(resolve)
    }

    /// The schema of the JSON request body, when the operation takes one.
    pub fn body_schema(&self) -> Option<&'static Value> {
        self.op
            .get("requestBody")
            .map(resolve)?
            .pointer("/content/application~1json/schema")
    }

    /// Checks a request's path parameters, query pairs (in order, repeated keys kept) and JSON
    /// body against the operation. `body` is `None` when the request has none.
    pub fn check(
        &self,
        path_params: &[(&str, String)],
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<(), Violation> {
        for (name, value) in path_params {
            if value.trim().is_empty() {
                return Err(Violation::new(
                    name,
                    format!("The path parameter `{name}` is empty."),
                ));
            }
        }
        let declared: Vec<&'static Value> = self
            .parameters()
            .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"))
            .collect();
        for (key, _) in query {
            let known = declared
                .iter()
                .any(|p| p.get("name").and_then(Value::as_str) == Some(key.as_str()));
            if !known {
                let names: Vec<&str> = declared
                    .iter()
                    .filter_map(|p| p.get("name").and_then(Value::as_str))
                    .collect();
                return Err(Violation::new(
                    key,
                    format!(
                        "`{key}` is not a query parameter of this operation (it takes: {}).",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                ));
            }
        }
        for p in declared {
            let Some(name) = p.get("name").and_then(Value::as_str) else {
                continue;
            };
            let values: Vec<&str> = query
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .collect();
            let required = p.get("required").and_then(Value::as_bool) == Some(true);
            if values.is_empty() {
                if required {
                    return Err(Violation::new(
                        name,
                        format!("The query parameter `{name}` is required."),
                    ));
                }
                continue;
            }
            let Some(schema) = p.get("schema").map(resolve) else {
                continue;
            };
            let value = query_value(p, schema, name, &values)?;
            check_value(schema, &value, name)?;
        }
        if let (Some(schema), Some(body)) = (self.body_schema(), body) {
            check_value(schema, body, "")?;
        }
        Ok(())
    }
}

fn type_of(schema: &Value) -> Option<&str> {
    schema.get("type").and_then(Value::as_str)
}

/// The JSON value of a query parameter: arrays from repeated keys (`explode`, the OpenAPI
/// default for `form`) or from one comma-separated value (`explode: false`), scalars typed by
/// the schema.
fn query_value(
    param: &Value,
    schema: &'static Value,
    name: &str,
    values: &[&str],
) -> Result<Value, Violation> {
    if type_of(schema) == Some("array") {
        let explode = param
            .get("explode")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let raw: Vec<&str> = if explode {
            values.to_vec()
        } else {
            values.iter().flat_map(|v| v.split(',')).collect()
        };
        let items = schema.get("items").map(resolve);
        let typed = raw
            .iter()
            .enumerate()
            .map(|(i, v)| scalar(items, &format!("{name}[{i}]"), v))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Value::Array(typed));
    }
    if values.len() > 1 {
        return Err(Violation::new(
            name,
            format!("The query parameter `{name}` is given more than once."),
        ));
    }
    scalar(Some(schema), name, values[0])
}

fn scalar(schema: Option<&Value>, field: &str, raw: &str) -> Result<Value, Violation> {
    let not = |what: &str| {
        Violation::new(
            field,
            format!("`{field}` must be {what} (it is `{}`).", raw.escape_debug()),
        )
    };
    match schema.and_then(type_of) {
        Some("integer") => raw
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| not("a whole number")),
        Some("number") => raw
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| not("a number")),
        Some("boolean") => match raw {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(not("true or false")),
        },
        _ => Ok(Value::String(raw.to_string())),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "a whole number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn child(field: &str, key: &str) -> String {
    if field.is_empty() {
        key.to_string()
    } else {
        format!("{field}.{key}")
    }
}

fn shown(field: &str) -> String {
    if field.is_empty() {
        "The request body".to_string()
    } else {
        format!("`{field}`")
    }
}

/// Checks `value` against the subset of JSON Schema the request schemas use.
pub fn check_value(schema: &'static Value, value: &Value, field: &str) -> Result<(), Violation> {
    let schema = resolve(schema);
    if value.is_null() && schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    let bad = |detail: String| Err(Violation::new(field, detail));
    let want = type_of(schema).or_else(|| schema.get("properties").map(|_| "object"));
    let fits = match want {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !fits {
        let article = match want {
            Some("object") | Some("array") | Some("integer") => "an",
            _ => "a",
        };
        return bad(format!(
            "{} must be {article} {} (it is {}).",
            shown(field),
            want.unwrap_or("value"),
            json_type(value)
        ));
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            let list: Vec<String> = options
                .iter()
                .map(|o| o.as_str().map_or_else(|| o.to_string(), str::to_string))
                .collect();
            return bad(format!(
                "{} must be one of {} (it is {value}).",
                shown(field),
                list.join(", ")
            ));
        }
    }
    if let Some(n) = value.as_f64() {
        let min = schema.get("minimum").and_then(Value::as_f64);
        let max = schema.get("maximum").and_then(Value::as_f64);
        let int32 = schema.get("format").and_then(Value::as_str) == Some("int32");
        let max = match (max, int32) {
            (None, true) => Some(f64::from(i32::MAX)),
            (m, _) => m,
        };
        if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
            let range = match (min, max) {
                (Some(a), Some(b)) => format!("from {a} to {b}"),
                (Some(a), None) => format!("at least {a}"),
                (None, Some(b)) => format!("at most {b}"),
                (None, None) => String::new(),
            };
            return bad(format!("{} must be {range} (it is {value}).", shown(field)));
        }
    }
    if let Some(items) = value.as_array() {
        let min = schema.get("minItems").and_then(Value::as_u64);
        let max = schema.get("maxItems").and_then(Value::as_u64);
        let n = items.len() as u64;
        if let Some(m) = max.filter(|&m| n > m) {
            return bad(format!(
                "{} holds {n} items; at most {m} are allowed.",
                shown(field)
            ));
        }
        if let Some(m) = min.filter(|&m| n < m) {
            return bad(format!(
                "{} holds {n} items; at least {m} {} required.",
                shown(field),
                if m == 1 { "is" } else { "are" }
            ));
        }
        if schema.get("uniqueItems").and_then(Value::as_bool) == Some(true) {
            for (i, a) in items.iter().enumerate() {
                if items[..i].contains(a) {
                    return bad(format!(
                        "{} holds {a} twice; its items must be unique.",
                        shown(field)
                    ));
                }
            }
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                check_value(item_schema, item, &format!("{field}[{i}]"))?;
            }
        }
    }
    if let Some(obj) = value.as_object() {
        check_object(schema, obj, field)?;
    }
    Ok(())
}

fn check_object(
    schema: &'static Value,
    obj: &Map<String, Value>,
    field: &str,
) -> Result<(), Violation> {
    let properties = schema.get("properties").and_then(Value::as_object);
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !obj.contains_key(name) {
            let f = child(field, name);
            return Err(Violation::new(&f, format!("`{f}` is required.")));
        }
    }
    let Some(properties) = properties else {
        return Ok(());
    };
    for (key, v) in obj {
        let f = child(field, key);
        match properties.get(key) {
            Some(s) => check_value(s, v, &f)?,
            None => {
                let known: Vec<&str> = properties.keys().map(String::as_str).collect();
                return Err(Violation::new(
                    &f,
                    format!(
                        "`{f}` is not a field of this request (its fields: {}).",
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(method: &str, path: &str) -> Operation {
        operation(method, path).expect("an operation").0
    }

    #[test]
    fn the_embedded_spec_parses_and_names_its_operations() {
        assert!(doc().get("paths").is_some());
        let (o, params) =
            operation("POST", "/v2/orgs/o%2D1/directories/-/groups/search").expect("search");
        assert_eq!(
            o.path,
            "/v2/orgs/{orgId}/directories/{directoryId}/groups/search"
        );
        assert_eq!(
            params,
            [("orgId", "o-1".into()), ("directoryId", "-".into())]
        );
        let (o, params) = operation("GET", "/v2/orgs/o/directories/d/groups/search").expect("get");
        assert_eq!(
            o.path,
            "/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}"
        );
        assert_eq!(params[2], ("groupId", "search".into()));
        assert!(operation("PUT", "/v2/orgs/o/directories/d/groups/search").is_none());
        assert!(operation("GET", "/v9/nothing").is_none());
        assert!(o.documents(200) && !o.documents(409));
    }

    #[test]
    fn bodies_keep_to_maxima_enums_and_declared_fields() {
        let users = op("POST", "/v2/orgs/o/directories/-/users/search");
        let ok = json!({"limit": 100, "expand": ["productAccess", "groups"], "groupIds": ["a"]});
        assert_eq!(users.check(&[], &[], Some(&ok)), Ok(()));
        let check = |body: Value| users.check(&[], &[], Some(&body)).map_err(|v| v.field);
        assert_eq!(check(json!({"limit": 101})), Err("limit".into()));
        assert_eq!(check(json!({"limit": 0})), Err("limit".into()));
        assert_eq!(check(json!({"limit": "10"})), Err("limit".into()));
        let eleven: Vec<String> = (0..11).map(|i| i.to_string()).collect();
        assert_eq!(check(json!({ "groupIds": eleven })), Err("groupIds".into()));
        assert_eq!(check(json!({ "groupIds": [] })), Err("groupIds".into()));
        assert_eq!(
            check(json!({"expand": ["groups", "nope"]})),
            Err("expand[1]".into())
        );
        assert_eq!(
            check(json!({"expand": ["groups", "groups"]})),
            Err("expand".into())
        );
        assert_eq!(check(json!({"groupIDs": ["a"]})), Err("groupIDs".into()));
        assert_eq!(check(json!([])), Err("".into()));
        let sort = json!({"sortBy": [{"field": "nick_name"}]});
        assert_eq!(check(sort), Err("sortBy[0].direction".into()));
        let v = users
            .check(&[], &[], Some(&json!({"limit": 500})))
            .expect_err("too large");
        assert_eq!(v.detail, "`limit` must be from 1 to 100 (it is 500).");
    }

    #[test]
    fn query_parameters_are_typed_bounded_and_declared() {
        let events = op("GET", "/v1/orgs/o/events-stream");
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let check =
            |pairs: &[(&str, &str)]| events.check(&[], &q(pairs), None).map_err(|v| v.field);
        assert_eq!(
            check(&[("limit", "500"), ("sortOrder", "asc"), ("from", "1")]),
            Ok(())
        );
        assert_eq!(check(&[("limit", "501")]), Err("limit".into()));
        assert_eq!(check(&[("limit", "many")]), Err("limit".into()));
        assert_eq!(check(&[("sortOrder", "up")]), Err("sortOrder".into()));
        assert_eq!(
            check(&[("limit", "1"), ("limit", "2")]),
            Err("limit".into())
        );
        assert_eq!(check(&[("size", "1")]), Err("size".into()));
        let list = op("GET", "/v2/orgs/o/directories/d/users/a/role-assignments");
        let ids: Vec<(String, String)> = (0..11)
            .map(|i| ("directoryIds".into(), i.to_string()))
            .collect();
        assert_eq!(
            list.check(&[], &ids, None).map_err(|v| v.field),
            Err("directoryIds".into())
        );
        let events = op("GET", "/v1/orgs/o/events");
        // `product` is a comma-separated list (`explode: false`) of documented keys.
        assert_eq!(
            events.check(&[], &q(&[("product", "jira,confluence")]), None),
            Ok(())
        );
        assert_eq!(
            events
                .check(&[], &q(&[("product", "jira,jira-software")]), None)
                .map_err(|v| v.field),
            Err("product[1]".into())
        );
    }
}

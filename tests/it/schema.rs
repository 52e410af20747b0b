//! The JSON Schemas in `schema/` agree with the loaders:
//!
//! - every valid policy fixture (YAML converted to JSON) validates against
//!   `policy.schema.json` (main file) or `policy-include.schema.json` (included files);
//! - every invalid fixture that a schema can detect is rejected; the ones only the loader can
//!   catch are listed in [`POLICY_SEMANTIC_ONLY`] / [`SNAPSHOT_SEMANTIC_ONLY`] (and must pass
//!   the schema, so the lists stay honest), and the ones that are not a JSON document at all in
//!   [`POLICY_NOT_A_DOCUMENT`] / [`SNAPSHOT_NOT_A_DOCUMENT`];
//! - the schemas name exactly the keys the raw types accept.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use crate::support::root;
use seatkeeper::policy::raw;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Invalid policy fixtures whose mistake only the loader can see (cross-file, cross-field,
/// calendar or content checks).
const POLICY_SEMANTIC_ONLY: &[&str] = &[
    "bad-date-feb-30",             // the pattern allows any NNNN-NN-NN
    "duplicate-key",               // a parsed document keeps only the last of duplicate keys
    "duplicate-user-across-files", // across files
    "duplicate-user-case",         // across entries, case-insensitively
    "group-in-two-products",       // across products
    "include-bad-glob",            // glob syntax
    "inactivity-without-org",      // depends on another key
    "misspelled-product",          // depends on `users:` in every file
    "notify-template",             // template files, and `before_reclaim` needing `email`
    "requested-in-future",         // depends on today's date
    "secret-value",                // content of comments and values
    "unknown-product",             // depends on `products:`
];

/// Invalid policy fixtures that cannot be turned into a JSON document (broken YAML, not UTF-8,
/// empty, duplicate keys, no main file).
const POLICY_NOT_A_DOCUMENT: &[&str] =
    &["empty-file", "missing-main-file", "not-utf8", "yaml-syntax"];

/// Invalid snapshot fixtures only the loader can see (uniqueness and references).
const SNAPSHOT_SEMANTIC_ONLY: &[&str] = &[
    "dangling-member",
    "duplicate-account",
    "duplicate-group-id",
    "duplicate-group-name",
    "event-unknown-account",
];

/// Invalid snapshot fixtures that are not a JSON document.
const SNAPSHOT_NOT_A_DOCUMENT: &[&str] = &["empty", "json-syntax"];

fn schema(name: &str) -> Value {
    let text = std::fs::read_to_string(root().join("schema").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn validator(name: &str) -> std::sync::Arc<jsonschema::Validator> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    cache
        .entry(name.to_string())
        .or_insert_with(|| {
            let s = schema(name);
            assert!(
                jsonschema::draft202012::meta::is_valid(&s),
                "{name} is not a valid 2020-12 schema"
            );
            Arc::new(jsonschema::validator_for(&s).unwrap())
        })
        .clone()
}

fn dirs(kind: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures").join(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn yaml_files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(
                    p.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The fixture's files as JSON documents, each with the schema that applies; `None` when a file
/// is not a document (or the main file is missing).
fn documents(dir: &Path) -> Option<Vec<(String, Value, &'static str)>> {
    let files = yaml_files(dir);
    if !files.iter().any(|f| f == "seatkeeper.yaml") {
        return None;
    }
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(dir.join(&file)).ok()?;
        let doc: Value = serde_yaml::from_str(&text).ok()?;
        if doc.is_null() {
            return None;
        }
        let schema = if file == "seatkeeper.yaml" {
            "policy.schema.json"
        } else {
            "policy-include.schema.json"
        };
        out.push((file, doc, schema));
    }
    Some(out)
}

#[test]
fn valid_policies_match_the_schema() {
    for dir in dirs("policy/valid") {
        for (file, doc, schema) in documents(&dir).unwrap() {
            let v = validator(schema);
            let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "{}/{file} against {schema}: {errors:#?}",
                name(&dir)
            );
        }
    }
}

#[test]
fn invalid_policies_are_rejected_by_the_schema_when_it_can_tell() {
    let mut failures = Vec::new();
    for dir in dirs("policy/invalid") {
        let n = name(&dir);
        let Some(docs) = documents(&dir) else {
            if !POLICY_NOT_A_DOCUMENT.contains(&n.as_str()) {
                failures.push(format!(
                    "{n}: not a JSON document; add it to POLICY_NOT_A_DOCUMENT"
                ));
            }
            continue;
        };
        if POLICY_NOT_A_DOCUMENT.contains(&n.as_str()) {
            failures.push(format!(
                "{n}: converts to JSON; remove it from POLICY_NOT_A_DOCUMENT"
            ));
        }
        let rejected = docs
            .iter()
            .any(|(_, doc, schema)| !validator(schema).is_valid(doc));
        let semantic = POLICY_SEMANTIC_ONLY.contains(&n.as_str());
        if semantic && rejected {
            failures.push(format!(
                "{n}: the schema catches it now; remove it from POLICY_SEMANTIC_ONLY"
            ));
        }
        if !semantic && !rejected {
            failures.push(format!(
                "{n}: the schema accepts it; tighten the schema or list it as semantic-only"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn snapshots_match_the_schema() {
    let v = validator("snapshot.schema.json");
    for file in dirs("snapshot/valid") {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", name(&file));
        // What this build writes validates too.
        let state = seatkeeper::live::parse_snapshot("s", &doc.to_string()).unwrap();
        assert!(
            v.is_valid(&serde_json::to_value(&state).unwrap()),
            "{}",
            name(&file)
        );
    }
    let mut failures = Vec::new();
    for dir in dirs("snapshot/invalid") {
        let n = name(&dir);
        let text = std::fs::read_to_string(dir.join("snapshot.json")).unwrap();
        let Ok(doc) = serde_json::from_str::<Value>(&text) else {
            if !SNAPSHOT_NOT_A_DOCUMENT.contains(&n.as_str()) {
                failures.push(format!("{n}: not JSON; add it to SNAPSHOT_NOT_A_DOCUMENT"));
            }
            continue;
        };
        let semantic = SNAPSHOT_SEMANTIC_ONLY.contains(&n.as_str());
        if semantic != v.is_valid(&doc) {
            failures.push(format!(
                "{n}: semantic-only is {semantic}, but the schema disagrees"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn keys(v: &Value) -> BTreeSet<String> {
    v["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

#[test]
fn schemas_name_exactly_the_keys_the_loader_accepts() {
    let p = schema("policy.schema.json");
    assert_eq!(keys(&p), set(raw::keys_of::<raw::RawPolicy>()));
    assert_eq!(
        keys(&p["$defs"]["product"]),
        set(raw::keys_of::<raw::RawProduct>())
    );
    assert_eq!(
        keys(&p["$defs"]["user"]),
        set(raw::keys_of::<raw::RawUser>())
    );
    assert_eq!(
        keys(&p["$defs"]["selector"]),
        set(raw::keys_of::<raw::RawSelector>())
    );
    assert_eq!(
        keys(&p["properties"]["safety"]),
        set(raw::keys_of::<raw::RawSafety>())
    );
    let inc = schema("policy-include.schema.json");
    assert_eq!(inc["properties"]["users"], p["properties"]["users"]);
    for (k, def) in inc["$defs"].as_object().unwrap() {
        assert_eq!(
            def, &p["$defs"][k],
            "$defs/{k} differs between the policy schemas"
        );
    }
}

//! Raw policy files: the first of the two loading stages.
//!
//! A file is parsed with the `yaml-rust2` event parser into a [`Node`] tree in which every value
//! carries its [`Location`] (file, line, column). The tree is then read into the raw types
//! ([`RawPolicy`], [`RawIncludeFile`], ...) that mirror the YAML one to one. This stage reports
//! every *structural* problem it finds (YAML syntax, wrong types, unknown, duplicate and missing
//! keys) and keeps going; the semantic checks live in [`super::validate`].
//!
//! The raw types also derive `serde::Deserialize` with `deny_unknown_fields`, so tools that only
//! want the shape (and no locations) can read a policy with `serde_yaml`; a test keeps the two
//! readers in agreement.

use super::{Diagnostic, Location};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting accepted; policies are a few levels deep.
const MAX_DEPTH: usize = 64;
/// Most nodes a file may expand to (aliases included), against alias bombs.
const MAX_NODES: usize = 2_000_000;

// ---------------------------------------------------------------------------------------------
// The spanned YAML tree
// ---------------------------------------------------------------------------------------------

/// One YAML value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub kind: NodeKind,
    /// Where the value starts (for a block mapping or sequence: its first entry).
    pub location: Location,
}

/// A YAML value, with plain scalars resolved by the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string (any quoted scalar, or a plain one that is nothing else).
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order (duplicate keys kept; the reader reports them).
    Map(Vec<(Node, Node)>),
}

impl NodeKind {
    /// What kind of value this is, for messages ("a string", "a list", ...).
    pub fn describe(&self) -> &'static str {
        match self {
            NodeKind::Null => "nothing (null)",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// The string value, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value at a path like `users[3].email` or `products.jira-software.inactivity`
    /// (mapping keys separated by `.`, list indexes in brackets).
    pub fn get_path(&self, path: &str) -> Option<&Node> {
        let mut node = self;
        for segment in path.split('.').filter(|s| !s.is_empty()) {
            let (key, mut rest) = match segment.find('[') {
                Some(i) => segment.split_at(i),
                None => (segment, ""),
            };
            if !key.is_empty() {
                node = match &node.kind {
                    NodeKind::Map(entries) => entries
                        .iter()
                        .find(|(k, _)| k.as_str() == Some(key))
                        .map(|(_, v)| v)?,
                    _ => return None,
                };
            }
            while let Some(stripped) = rest.strip_prefix('[') {
                let end = stripped.find(']')?;
                let index: usize = stripped[..end].parse().ok()?;
                node = match &node.kind {
                    NodeKind::Seq(items) => items.get(index)?,
                    _ => return None,
                };
                rest = &stripped[end + 1..];
            }
        }
        Some(node)
    }

    /// Calls `f` on this node and every node below it (keys included), depth first.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Node, Option<&'a Node>)) {
        // `f` gets the node and, for mapping values, their key.
        fn go<'a>(
            n: &'a Node,
            key: Option<&'a Node>,
            f: &mut dyn FnMut(&'a Node, Option<&'a Node>),
        ) {
            f(n, key);
            match &n.kind {
                NodeKind::Seq(items) => items.iter().for_each(|i| go(i, None, f)),
                NodeKind::Map(entries) => entries.iter().for_each(|(k, v)| {
                    go(k, None, f);
                    go(v, Some(k), f);
                }),
                _ => {}
            }
        }
        go(self, None, f);
    }
}

/// Parses YAML text into a [`Node`] tree, or one `yaml-syntax` diagnostic when the YAML is
/// broken. An empty document gives a [`NodeKind::Null`] root; a leading `---` is fine, a second
/// document is not.
pub fn parse_yaml(file: &str, text: &str) -> Result<Node, Vec<Diagnostic>> {
    let mut builder = Builder::new(file);
    let mut parser = Parser::new_from_str(text);
    // Drive the event parser by hand: `Parser::load` recurses per nesting level (and can
    // overflow the stack on hostile input); this loop does not, and stops at the first problem.
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((ev, mark)) => {
                builder.on_event(ev, mark);
                if builder.failure.is_some() {
                    break;
                }
            }
            Err(e) => {
                let loc = builder.loc(e.marker());
                let info = e.info();
                return Err(vec![Diagnostic::error(
                    "yaml-syntax",
                    loc,
                    format!("broken YAML: {info}"),
                )
                .with_hint(
                    "check the indentation, quoting and brackets on this line and the lines above",
                )]);
            }
        }
    }
    if let Some(d) = builder.failure {
        return Err(vec![d]);
    }
    // Trailing empty documents (a final `---`) hold nothing.
    while builder.documents.len() > 1
        && builder
            .documents
            .last()
            .is_some_and(|d| d.kind == NodeKind::Null)
    {
        builder.documents.pop();
    }
    match builder.documents.len() {
        0 => Ok(Node {
            kind: NodeKind::Null,
            location: Location::at(file, 1, 1),
        }),
        1 => Ok(builder.documents.remove(0)),
        _ => {
            let second = builder.documents.swap_remove(1);
            Err(vec![Diagnostic::error(
                "yaml-syntax",
                second.location,
                "more than one YAML document in this file",
            )
            .with_hint(
                "remove the `---` separator: a policy file holds one document",
            )])
        }
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        location: Location,
        anchor: usize,
    },
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        location: Location,
        anchor: usize,
    },
}

struct Builder {
    shared_file: std::sync::Arc<str>,
    stack: Vec<Frame>,
    documents: Vec<Node>,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    failure: Option<Diagnostic>,
}

impl Builder {
    fn new(file: &str) -> Self {
        Self {
            shared_file: std::sync::Arc::from(file),
            stack: Vec::new(),
            documents: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
            failure: None,
        }
    }

    fn loc(&self, m: &Marker) -> Location {
        let line = u32::try_from(m.line()).unwrap_or(u32::MAX).max(1);
        let column = u32::try_from(m.col().saturating_add(1)).unwrap_or(u32::MAX);
        Location::in_shared(&self.shared_file, line, column)
    }

    fn fail(&mut self, d: Diagnostic) {
        if self.failure.is_none() {
            self.failure = Some(d);
        }
    }

    fn finish(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            let size = count(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

fn count(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count(k) + count(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.failure.is_some() {
            return;
        }
        let location = self.loc(&mark);
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                self.nodes += 1;
                let kind = if style != TScalarStyle::Plain
                    || tag.as_ref().is_some_and(|t| t.suffix == "str")
                {
                    NodeKind::Str(value)
                } else {
                    resolve_plain(value)
                };
                self.finish(Node { kind, location }, anchor);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(Diagnostic::error(
                        "yaml-syntax",
                        location,
                        format!("values are nested more than {MAX_DEPTH} levels deep"),
                    ));
                    return;
                }
                self.nodes += 1;
                self.stack.push(if matches!(ev, Event::SequenceStart(..)) {
                    Frame::Seq {
                        items: Vec::new(),
                        location,
                        anchor,
                    }
                } else {
                    Frame::Map {
                        entries: Vec::new(),
                        key: None,
                        location,
                        anchor,
                    }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq {
                    items,
                    location,
                    anchor,
                }) => {
                    self.finish(
                        Node {
                            kind: NodeKind::Seq(items),
                            location,
                        },
                        anchor,
                    );
                }
                Some(Frame::Map {
                    entries,
                    location,
                    anchor,
                    ..
                }) => {
                    // A block mapping's start mark points past its first key: use the key.
                    let location = entries
                        .first()
                        .map_or(location, |(k, _)| k.location.clone());
                    self.finish(
                        Node {
                            kind: NodeKind::Map(entries),
                            location,
                        },
                        anchor,
                    );
                }
                None => {}
            },
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((node, size)) => {
                    self.nodes = self.nodes.saturating_add(*size);
                    if self.nodes > MAX_NODES {
                        self.fail(Diagnostic::error(
                            "yaml-syntax",
                            location,
                            "aliases expand this file to too many values",
                        ));
                        return;
                    }
                    let mut node = node.clone();
                    node.location = location;
                    self.finish(node, 0);
                }
                None => self.fail(Diagnostic::error("yaml-syntax", location, "unknown alias")),
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// Resolves a plain scalar by the YAML 1.2 core schema.
pub(crate) fn resolve_plain(value: String) -> NodeKind {
    match value.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "true" | "True" | "TRUE" => return NodeKind::Bool(true),
        "false" | "False" | "FALSE" => return NodeKind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return NodeKind::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return NodeKind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeKind::Float(f64::NAN),
        _ => {}
    }
    let digits = value.strip_prefix(['-', '+']).unwrap_or(&value);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = value.parse::<i64>() {
            return NodeKind::Int(n);
        }
    }
    if let Some(hex) = value.strip_prefix("0x") {
        if let Ok(n) = i64::from_str_radix(hex, 16) {
            return NodeKind::Int(n);
        }
    }
    if let Some(oct) = value.strip_prefix("0o") {
        if let Ok(n) = i64::from_str_radix(oct, 8) {
            return NodeKind::Int(n);
        }
    }
    let float_chars = value
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
    if float_chars && value.bytes().any(|b| b.is_ascii_digit()) {
        if let Ok(f) = value.parse::<f64>() {
            return NodeKind::Float(f);
        }
    }
    NodeKind::Str(value)
}

// ---------------------------------------------------------------------------------------------
// The raw types
// ---------------------------------------------------------------------------------------------

/// A value and where it was written. Equality ignores the location. Deserializing through serde
/// leaves the location empty.
#[derive(Debug, Clone, Default)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub location: Location,
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(|value| Spanned {
            value,
            location: Location::default(),
        })
    }
}

/// A list of strings with locations.
pub type StrList = Spanned<Vec<Spanned<String>>>;

/// `seatkeeper.yaml`, as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// `version:` (must be 1).
    pub version: Option<Spanned<i64>>,
    /// `site:`.
    pub site: Option<Spanned<String>>,
    /// `org:`.
    pub org: Option<Spanned<String>>,
    /// `products:`, in file order.
    pub products: Option<Spanned<RawProducts>>,
    /// `include:` globs.
    pub include: Option<StrList>,
    /// `users:`.
    #[serde(default)]
    pub users: Vec<RawUser>,
    /// `eligible_groups:`.
    pub eligible_groups: Option<StrList>,
    /// `keep:`.
    #[serde(default)]
    pub keep: Vec<RawSelector>,
    /// `ignore:`.
    #[serde(default)]
    pub ignore: Vec<RawSelector>,
    /// `audit_log:`.
    pub audit_log: Option<Spanned<String>>,
    /// `safety:`.
    pub safety: Option<RawSafety>,
}

/// The keys `seatkeeper.yaml` may hold.
pub const POLICY_KEYS: &[&str] = &[
    "version",
    "site",
    "org",
    "products",
    "include",
    "users",
    "eligible_groups",
    "keep",
    "ignore",
    "audit_log",
    "safety",
];

/// `products:`: product key → product, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawProducts(pub Vec<(Spanned<String>, RawProduct)>);

impl<'de> Deserialize<'de> for RawProducts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawProducts;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of product keys to products")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawProducts, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, RawProduct>()? {
                    out.push((
                        Spanned {
                            value: k,
                            location: Location::default(),
                        },
                        v,
                    ));
                }
                Ok(RawProducts(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// One product under `products:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProduct {
    /// `groups:`.
    pub groups: Option<StrList>,
    /// `seats:`.
    pub seats: Option<Spanned<i64>>,
    /// `inactivity:`.
    pub inactivity: Option<Spanned<String>>,
    /// `notice:`.
    pub notice: Option<Spanned<String>>,
    /// `grace:`.
    pub grace: Option<Spanned<String>>,
    /// `drift:`.
    pub drift: Option<Spanned<String>>,
    /// Where the product key is written.
    #[serde(skip)]
    pub location: Location,
}

/// The keys a product may hold.
pub const PRODUCT_KEYS: &[&str] = &["groups", "seats", "inactivity", "notice", "grace", "drift"];

/// One entry of `users:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    /// `email:`.
    pub email: Option<Spanned<String>>,
    /// `account_id:`.
    pub account_id: Option<Spanned<String>>,
    /// `products:`.
    pub products: Option<StrList>,
    /// `until:` (a date).
    pub until: Option<Spanned<String>>,
    /// `requested:` (a date).
    pub requested: Option<Spanned<String>>,
    /// Where the entry starts.
    #[serde(skip)]
    pub location: Location,
    /// The keys written in the entry, valid or not (so validation does not report a key that
    /// had the wrong type as missing).
    #[serde(skip)]
    pub keys: Vec<String>,
}

/// The keys a user entry may hold.
pub const USER_KEYS: &[&str] = &["email", "account_id", "products", "until", "requested"];

/// One entry of `keep:` or `ignore:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSelector {
    /// `email:`.
    pub email: Option<Spanned<String>>,
    /// `account_id:`.
    pub account_id: Option<Spanned<String>>,
    /// `group:`.
    pub group: Option<Spanned<String>>,
    /// `account_type:`.
    pub account_type: Option<Spanned<String>>,
    /// Where the entry starts.
    #[serde(skip)]
    pub location: Location,
    /// The keys written in the entry, valid or not (so validation does not report a key that
    /// had the wrong type as missing).
    #[serde(skip)]
    pub keys: Vec<String>,
}

/// The keys a keep/ignore entry may hold.
pub const SELECTOR_KEYS: &[&str] = &["email", "account_id", "group", "account_type"];

/// `safety:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSafety {
    /// `max_removals:`.
    pub max_removals: Option<Spanned<RawLimit>>,
    /// `max_additions:`.
    pub max_additions: Option<Spanned<RawLimit>>,
    /// `admin_groups:`.
    pub admin_groups: Option<StrList>,
}

/// The keys `safety:` may hold.
pub const SAFETY_KEYS: &[&str] = &["max_removals", "max_additions", "admin_groups"];

/// A limit as written: a number, or a string like `10%`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum RawLimit {
    /// `100`.
    Count(i64),
    /// `10%`.
    Text(String),
}

/// An included file: it may only hold `users:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIncludeFile {
    /// `users:`.
    #[serde(default)]
    pub users: Vec<RawUser>,
}

// ---------------------------------------------------------------------------------------------
// Reading the tree into raw types
// ---------------------------------------------------------------------------------------------

/// Collects the structural problems of one file.
struct Reader<'d> {
    diags: &'d mut Vec<Diagnostic>,
}

impl Reader<'_> {
    fn wrong_type(&mut self, node: &Node, path: &str, expected: &str) {
        self.diags.push(
            Diagnostic::error(
                "wrong-type",
                node.location.clone(),
                format!(
                    "`{path}` must be {expected}, found {}",
                    node.kind.describe()
                ),
            )
            .with_hint(type_hint(expected)),
        );
    }

    /// The entries of a mapping, with unknown and duplicate keys reported. `None` when `node` is
    /// not a mapping (reported).
    fn mapping<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        known: &[&str],
        unknown_code: &'static str,
    ) -> Option<Vec<(&'n str, &'n Node, &'n Node)>> {
        let NodeKind::Map(entries) = &node.kind else {
            self.wrong_type(node, path, "a mapping");
            return None;
        };
        let mut seen: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for (k, v) in entries {
            let Some(key) = k.as_str() else {
                self.diags.push(Diagnostic::error(
                    "wrong-type",
                    k.location.clone(),
                    format!(
                        "keys of `{path}` must be strings, found {}",
                        k.kind.describe()
                    ),
                ));
                continue;
            };
            if seen.contains(&key) {
                self.diags.push(
                    Diagnostic::error(
                        "duplicate-key",
                        k.location.clone(),
                        format!("`{}` is written twice", join(path, key)),
                    )
                    .with_hint("remove one of them: YAML keeps only the last"),
                );
                continue;
            }
            seen.push(key);
            if !known.is_empty() && !known.contains(&key) {
                if !is_secret_key(key) {
                    self.unknown_key(k, key, path, known, unknown_code);
                }
                continue;
            }
            out.push((key, k, v));
        }
        Some(out)
    }

    fn unknown_key(&mut self, k: &Node, key: &str, path: &str, known: &[&str], code: &'static str) {
        let place = if path.is_empty() {
            "the top level".to_string()
        } else {
            format!("`{path}`")
        };
        let mut d = if code == "include-disallowed-key" {
            Diagnostic::error(
                code,
                k.location.clone(),
                format!("included files may hold only `users:`, found `{key}`"),
            )
        } else {
            Diagnostic::error(
                code,
                k.location.clone(),
                format!("unknown key `{key}` in {place}"),
            )
        };
        let hint = match did_you_mean(key, known) {
            Some(best) => format!("did you mean `{best}`?"),
            None if code == "include-disallowed-key" => {
                "move this setting to seatkeeper.yaml".to_string()
            }
            None => format!("expected one of: {}", known.join(", ")),
        };
        d = d.with_hint(hint);
        self.diags.push(d);
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<Spanned<String>> {
        match &node.kind {
            NodeKind::Str(s) => Some(Spanned {
                value: s.clone(),
                location: node.location.clone(),
            }),
            _ => {
                self.wrong_type(node, path, "a string");
                None
            }
        }
    }

    fn int(&mut self, node: &Node, path: &str) -> Option<Spanned<i64>> {
        match &node.kind {
            NodeKind::Int(n) => Some(Spanned {
                value: *n,
                location: node.location.clone(),
            }),
            _ => {
                self.wrong_type(node, path, "an integer");
                None
            }
        }
    }

    fn string_list(&mut self, node: &Node, path: &str) -> Option<StrList> {
        let NodeKind::Seq(items) = &node.kind else {
            self.wrong_type(node, path, "a list of strings");
            return None;
        };
        let value = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.string(item, &format!("{path}[{i}]")))
            .collect();
        Some(Spanned {
            value,
            location: node.location.clone(),
        })
    }

    fn seq<'n>(&mut self, node: &'n Node, path: &str) -> &'n [Node] {
        match &node.kind {
            NodeKind::Seq(items) => items,
            _ => {
                self.wrong_type(node, path, "a list");
                &[]
            }
        }
    }

    fn limit(&mut self, node: &Node, path: &str) -> Option<Spanned<RawLimit>> {
        let value = match &node.kind {
            NodeKind::Int(n) => RawLimit::Count(*n),
            NodeKind::Str(s) => RawLimit::Text(s.clone()),
            _ => {
                self.wrong_type(node, path, "a count or a percentage");
                return None;
            }
        };
        Some(Spanned {
            value,
            location: node.location.clone(),
        })
    }

    fn users(&mut self, node: &Node, path: &str) -> Vec<RawUser> {
        let mut out = Vec::new();
        for (i, item) in self.seq(node, path).iter().enumerate() {
            let path = format!("{path}[{i}]");
            if let NodeKind::Str(s) = &item.kind {
                let key = if s.contains('@') {
                    "email"
                } else {
                    "account_id"
                };
                self.diags.push(
                    Diagnostic::error(
                        "wrong-type",
                        item.location.clone(),
                        format!("`{path}` must be a mapping, found a string"),
                    )
                    .with_hint(format!("write `- {key}: {s}`")),
                );
                continue;
            }
            let Some(entries) = self.mapping(item, &path, USER_KEYS, "unknown-key") else {
                continue;
            };
            let mut u = RawUser {
                location: item.location.clone(),
                ..RawUser::default()
            };
            for (key, _, v) in entries {
                let p = join(&path, key);
                u.keys.push(key.to_string());
                match key {
                    "email" => u.email = self.string(v, &p),
                    "account_id" => u.account_id = self.string(v, &p),
                    "products" => u.products = self.string_list(v, &p),
                    "until" => u.until = self.string(v, &p),
                    "requested" => u.requested = self.string(v, &p),
                    _ => {}
                }
            }
            out.push(u);
        }
        out
    }

    fn selectors(&mut self, node: &Node, path: &str) -> Vec<RawSelector> {
        let mut out = Vec::new();
        for (i, item) in self.seq(node, path).iter().enumerate() {
            let path = format!("{path}[{i}]");
            let Some(entries) = self.mapping(item, &path, SELECTOR_KEYS, "unknown-key") else {
                continue;
            };
            let mut s = RawSelector {
                location: item.location.clone(),
                ..RawSelector::default()
            };
            for (key, _, v) in entries {
                let p = join(&path, key);
                s.keys.push(key.to_string());
                match key {
                    "email" => s.email = self.string(v, &p),
                    "account_id" => s.account_id = self.string(v, &p),
                    "group" => s.group = self.string(v, &p),
                    "account_type" => s.account_type = self.string(v, &p),
                    _ => {}
                }
            }
            out.push(s);
        }
        out
    }

    fn products(&mut self, node: &Node) -> Option<Spanned<RawProducts>> {
        let entries = self.mapping(node, "products", &[], "unknown-key")?;
        let mut out = Vec::new();
        for (key, k, v) in entries {
            let path = join("products", key);
            let mut p = RawProduct {
                location: k.location.clone(),
                ..RawProduct::default()
            };
            if matches!(v.kind, NodeKind::Null) {
                out.push((
                    Spanned {
                        value: key.to_string(),
                        location: k.location.clone(),
                    },
                    p,
                ));
                continue;
            }
            let Some(fields) = self.mapping(v, &path, PRODUCT_KEYS, "unknown-key") else {
                continue;
            };
            for (field, _, fv) in fields {
                let fp = join(&path, field);
                match field {
                    "groups" => p.groups = self.string_list(fv, &fp),
                    "seats" => p.seats = self.int(fv, &fp),
                    "inactivity" => p.inactivity = self.string(fv, &fp),
                    "notice" => p.notice = self.string(fv, &fp),
                    "grace" => p.grace = self.string(fv, &fp),
                    "drift" => p.drift = self.string(fv, &fp),
                    _ => {}
                }
            }
            out.push((
                Spanned {
                    value: key.to_string(),
                    location: k.location.clone(),
                },
                p,
            ));
        }
        Some(Spanned {
            value: RawProducts(out),
            location: node.location.clone(),
        })
    }

    fn safety(&mut self, node: &Node) -> Option<RawSafety> {
        let entries = self.mapping(node, "safety", SAFETY_KEYS, "unknown-key")?;
        let mut s = RawSafety::default();
        for (key, _, v) in entries {
            let p = join("safety", key);
            match key {
                "max_removals" => s.max_removals = self.limit(v, &p),
                "max_additions" => s.max_additions = self.limit(v, &p),
                "admin_groups" => s.admin_groups = self.string_list(v, &p),
                _ => {}
            }
        }
        Some(s)
    }
}

/// Reads the main policy file's tree. Structural problems go to `diags`; what could be read is
/// returned either way. Absent required keys are reported here (`missing-key`).
pub fn read_policy(root: &Node, diags: &mut Vec<Diagnostic>) -> RawPolicy {
    let mut r = Reader { diags };
    let mut p = RawPolicy::default();
    let Some(entries) = r.mapping(root, "", POLICY_KEYS, "unknown-key") else {
        return p;
    };
    let mut present: Vec<&str> = Vec::new();
    for (key, _, v) in entries {
        present.push(key);
        // An optional key with no value is treated as absent.
        if matches!(v.kind, NodeKind::Null) && !matches!(key, "version" | "site" | "products") {
            continue;
        }
        match key {
            "version" => p.version = r.int(v, key),
            "site" => p.site = r.string(v, key),
            "org" => p.org = r.string(v, key),
            "products" => {
                if matches!(v.kind, NodeKind::Null) {
                    r.diags.push(
                        Diagnostic::error("no-products", v.location.clone(), "`products` is empty")
                            .with_hint("declare at least one product with its groups"),
                    );
                } else {
                    p.products = r.products(v);
                }
            }
            "include" => p.include = r.string_list(v, key),
            "users" => p.users = r.users(v, key),
            "eligible_groups" => p.eligible_groups = r.string_list(v, key),
            "keep" => p.keep = r.selectors(v, key),
            "ignore" => p.ignore = r.selectors(v, key),
            "audit_log" => p.audit_log = r.string(v, key),
            "safety" => p.safety = r.safety(v),
            _ => {}
        }
    }
    for (key, example) in [
        ("version", "version: 1"),
        ("site", "site: acme.atlassian.net"),
        (
            "products",
            "products:\n    jira-software:\n      groups: [jira-software-users-acme]",
        ),
    ] {
        if !present.contains(&key) {
            r.diags.push(
                Diagnostic::error(
                    "missing-key",
                    Location::at(&root.location.file, 1, 1),
                    format!("`{key}` is required"),
                )
                .with_hint(format!("add `{example}`")),
            );
        }
    }
    p
}

/// Reads an included file's tree: only `users:` is allowed.
pub fn read_include(root: &Node, diags: &mut Vec<Diagnostic>) -> RawIncludeFile {
    let mut r = Reader { diags };
    let mut f = RawIncludeFile::default();
    let Some(entries) = r.mapping(root, "", &["users"], "include-disallowed-key") else {
        return f;
    };
    for (_, _, v) in entries {
        if !matches!(v.kind, NodeKind::Null) {
            f.users = r.users(v, "users");
        }
    }
    f
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_hint(expected: &str) -> String {
    match expected {
        "a string" => "quote the value, like `\"text\"`".into(),
        "an integer" => "write a whole number without quotes, like `250`".into(),
        "a list of strings" | "a list" => {
            "write a list, like `[a, b]` or one `- item` per line".into()
        }
        "a mapping" => "write `key: value` pairs indented under this key".into(),
        "a count or a percentage" => "write a count like `100` or a percentage like `10%`".into(),
        other => format!("write {other}"),
    }
}

/// Whether a key name looks like it holds a credential.
pub fn is_secret_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    [
        "token",
        "password",
        "passwd",
        "secret",
        "apikey",
        "privatekey",
        "credential",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// The closest of `candidates` to `word`, if close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let w = word.to_lowercase();
    candidates
        .iter()
        .map(|c| (levenshtein(&w, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_one_based() {
        let text = "version: 1\nproducts:\n  jira:\n    groups: [a, b]\nusers:\n  - email: x@y.z\n";
        let root = parse_yaml("f.yaml", text).unwrap();
        let loc = |p: &str| {
            let l = &root.get_path(p).unwrap().location;
            (l.line, l.column)
        };
        assert_eq!(loc("version"), (1, 10));
        assert_eq!(loc("products.jira.groups[1]"), (4, 17));
        assert_eq!(loc("users[0].email"), (6, 12));
        assert_eq!(loc("users[0]"), (6, 5));
    }

    #[test]
    fn scalars_resolve_by_core_schema() {
        let root = parse_yaml("f", "a: 10%\nb: -1\nc: '5'\nd: 2026-02-30\ne: ~\nf: 1.5\n").unwrap();
        let k = |p: &str| root.get_path(p).unwrap().kind.clone();
        assert_eq!(k("a"), NodeKind::Str("10%".into()));
        assert_eq!(k("b"), NodeKind::Int(-1));
        assert_eq!(k("c"), NodeKind::Str("5".into()));
        assert_eq!(k("d"), NodeKind::Str("2026-02-30".into()));
        assert_eq!(k("e"), NodeKind::Null);
        assert_eq!(k("f"), NodeKind::Float(1.5));
    }

    #[test]
    fn broken_and_hostile_yaml_is_an_error_not_a_panic() {
        for text in [
            "a: [1, 2",
            "a: b: c",
            "a: *nope",
            &"[".repeat(10_000),
            &format!("{}1{}", "- ".repeat(200), ""),
            "a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n",
            "a: 1\n---\nb: 2\n",
        ] {
            let err = parse_yaml("f", text).expect_err(text);
            assert_eq!(err[0].code, "yaml-syntax", "{text}");
            assert!(err[0].location.line >= 1);
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        for (open, close) in [("[", "]"), ("{a: ", "}"), ("- ", "")] {
            let text = format!("{}1{}", open.repeat(500_000), close.repeat(500_000));
            let err = parse_yaml("f", &text).expect_err(open);
            assert_eq!(err[0].code, "yaml-syntax");
        }
    }

    #[test]
    fn document_markers() {
        for ok in [
            "---\na: 1\n",
            "a: 1\n...\n",
            "%YAML 1.2\n---\na: 1\n",
            "---\na: 1\n---\n",
        ] {
            let root = parse_yaml("f", ok).unwrap_or_else(|e| panic!("{ok:?}: {e:?}"));
            assert!(root.get_path("a").is_some(), "{ok:?}");
        }
    }

    #[test]
    fn did_you_mean_finds_typos_only() {
        assert_eq!(did_you_mean("inactivty", PRODUCT_KEYS), Some("inactivity"));
        assert_eq!(did_you_mean("emial", USER_KEYS), Some("email"));
        assert_eq!(did_you_mean("colour", USER_KEYS), None);
    }
}

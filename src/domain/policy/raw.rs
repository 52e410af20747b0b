//! Raw policy files: the first of the two loading stages.
//!
//! A file is parsed with the `yaml-rust2` event parser into a [`Node`] tree in which every value
//! carries its [`Location`] (file, line, column). The tree is then read into the raw types
//! ([`RawPolicy`], [`RawIncludeFile`], ...) that mirror the YAML one to one. This stage reports
//! every *structural* problem it finds (YAML syntax, wrong types, unknown, duplicate and missing
//! keys) and keeps going; the semantic checks live in [`super::validate`].
//!
//! The raw types also derive `serde::Deserialize` with `deny_unknown_fields`, so the same tree
//! can be read with serde ([`crate::yaml::from_node`], as every other YAML file of a policy repo
//! is); a test keeps the two readers in agreement.

use super::{Diagnostic, Location};
use serde::Deserialize;
use std::borrow::Cow;
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
    /// A string (any quoted scalar, or a plain one that is nothing else). Key names that the
    /// policy format defines are borrowed.
    Str(Cow<'static, str>),
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
                if let Some(d) = unclosed_bracket(&builder, text, &loc, info) {
                    return Err(vec![d]);
                }
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

/// The diagnostic for a parse error inside a `[...]` or `{...}` that is still open: the parser
/// gives up where the closing bracket was due (often the next line), but the mistake is the
/// bracket, so it is reported where the bracket opened. `None` when the innermost open
/// collection is not a flow one, or the error is something else on the bracket's own line.
fn unclosed_bracket(
    builder: &Builder,
    text: &str,
    at: &Location,
    info: &str,
) -> Option<Diagnostic> {
    let (open, is_seq) = match builder.stack.last()? {
        Frame::Seq { location, .. } => (location, true),
        Frame::Map { location, .. } => (location, false),
    };
    let bracket = if is_seq { '[' } else { '{' };
    let line = text
        .lines()
        .nth(usize::try_from(open.line).ok()?.checked_sub(1)?)?;
    let column = usize::try_from(open.column).ok()?.checked_sub(1)?;
    if line.chars().nth(column) != Some(bracket) {
        return None; // a block collection
    }
    let closing = if is_seq { ']' } else { '}' };
    let expected_close = info.contains(&format!("',' or '{closing}'"));
    if at.line == open.line && !expected_close {
        return None;
    }
    let (what, example, per_line) = if is_seq {
        ("list", "`groups: [a, b]`", "`- item`")
    } else {
        ("mapping", "`{email: a@acme.com}`", "`key: value`")
    };
    Some(
        Diagnostic::error(
            "yaml-syntax",
            open.clone(),
            format!(
                "broken YAML: this `{bracket}` is never closed (the parser gave up at line {}, column {}: {info})",
                at.line, at.column
            ),
        )
        .with_hint(format!(
            "close the {what} with `{closing}`, like {example}, or write one {per_line} per line"
        )),
    )
}

/// A collection being read. Its children wait on the builder's shared `pending` stack from
/// `start` on and move into a vector of exactly their number when it ends (most mappings have
/// one or two entries).
enum Frame {
    Seq {
        start: usize,
        location: Location,
        anchor: usize,
    },
    Map {
        start: usize,
        location: Location,
        anchor: usize,
    },
}

struct Builder {
    shared_file: std::sync::Arc<str>,
    stack: Vec<Frame>,
    pending: Vec<Node>,
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
            pending: Vec::new(),
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
        match self.stack.last() {
            None => self.documents.push(node),
            Some(_) => self.pending.push(node),
        }
    }

    /// Whether the next node is a mapping key.
    fn at_key(&self) -> bool {
        match self.stack.last() {
            Some(Frame::Map { start, .. }) => (self.pending.len() - start) % 2 == 0,
            _ => false,
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
                let mut kind = if style != TScalarStyle::Plain
                    || tag.as_ref().is_some_and(|t| t.suffix == "str")
                {
                    NodeKind::Str(Cow::Owned(value))
                } else {
                    resolve_plain(value)
                };
                // The policy's own key names are shared, not held once per entry.
                if let NodeKind::Str(text) = &kind {
                    if let Some(known) = known_key(text).filter(|_| self.at_key()) {
                        kind = NodeKind::Str(Cow::Borrowed(known));
                    }
                }
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
                let start = self.pending.len();
                self.stack.push(if matches!(ev, Event::SequenceStart(..)) {
                    Frame::Seq {
                        start,
                        location,
                        anchor,
                    }
                } else {
                    Frame::Map {
                        start,
                        location,
                        anchor,
                    }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq {
                    start,
                    location,
                    anchor,
                }) => {
                    let items: Vec<Node> = self.pending.drain(start..).collect();
                    self.finish(
                        Node {
                            kind: NodeKind::Seq(items),
                            location,
                        },
                        anchor,
                    );
                }
                Some(Frame::Map {
                    start,
                    location,
                    anchor,
                }) => {
                    let mut nodes = self.pending.drain(start..);
                    let mut entries = Vec::with_capacity(nodes.len() / 2);
                    // A key without a value (only after an error) is dropped.
                    while let (Some(k), Some(v)) = (nodes.next(), nodes.next()) {
                        entries.push((k, v));
                    }
                    drop(nodes);
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

/// `text` as one of the key names a policy file may hold.
fn known_key(text: &str) -> Option<&'static str> {
    [
        keys_of::<RawPolicy>(),
        keys_of::<RawProduct>(),
        keys_of::<RawUser>(),
        keys_of::<RawSelector>(),
        keys_of::<RawSafety>(),
        keys_of::<RawNotify>(),
        keys_of::<RawEmail>(),
        keys_of::<RawChat>(),
    ]
    .into_iter()
    .flatten()
    .copied()
    .find(|k| *k == text)
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
    NodeKind::Str(Cow::Owned(value))
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

/// The keys a raw type accepts: the field names serde derives for it. Each raw struct declares
/// its keys once, as its fields; the reader, its suggestions and the schema test ask here.
pub fn keys_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut keys: &'static [&'static str] = &[];
    // A derived struct asks for `deserialize_struct` with its field names first thing.
    let _ = T::deserialize(FieldNames(&mut keys));
    keys
}

/// A deserializer that only takes note of the field names a struct asks for.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

/// Stops deserialising once the field names are known.
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field names only")
    }
}

impl std::error::Error for Stop {}

impl serde::de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> serde::Deserializer<'de> for FieldNames<'_> {
    type Error = Stop;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        *self.0 = fields;
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
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
    /// `notify:`.
    pub notify: Option<Spanned<RawNotify>>,
}

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
    /// `eligible_groups:`.
    pub eligible_groups: Option<StrList>,
    /// `restore_on_login:`.
    pub restore_on_login: Option<Spanned<bool>>,
    /// Where the product key is written.
    #[serde(skip)]
    pub location: Location,
}

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
    pub keys: KeyList,
}

/// The known keys written in an entry, in file order, each once (an entry has a handful of
/// known keys, so they are kept inline).
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyList {
    keys: [&'static str; KeyList::CAPACITY],
    len: u8,
}

impl KeyList {
    /// More keys than any entry type knows.
    const CAPACITY: usize = 8;

    /// Adds a key (keys beyond the capacity are dropped; no entry type has that many).
    pub fn push(&mut self, key: &'static str) {
        debug_assert!(usize::from(self.len) < Self::CAPACITY);
        if let Some(slot) = self.keys.get_mut(usize::from(self.len)) {
            *slot = key;
            self.len += 1;
        }
    }

    /// The keys, in file order.
    pub fn as_slice(&self) -> &[&'static str] {
        &self.keys[..usize::from(self.len)]
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether no key was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `key` was written.
    pub fn contains(&self, key: &str) -> bool {
        self.as_slice().contains(&key)
    }

    /// Forgets the keys.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl PartialEq for KeyList {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

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
    pub keys: KeyList,
}

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

/// `notify:`: who is told what, and how.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    /// `email:`.
    pub email: Option<Spanned<RawEmail>>,
    /// `chat:`.
    pub chat: Option<Spanned<RawChat>>,
    /// `before_reclaim:`.
    pub before_reclaim: Option<Spanned<bool>>,
    /// `after_reclaim:`.
    pub after_reclaim: Option<Spanned<bool>>,
    /// `digest:`.
    pub digest: Option<Spanned<bool>>,
    /// `templates:` (a folder).
    pub templates: Option<Spanned<String>>,
    /// `rate:` (like `1/s` or `30/min`).
    pub rate: Option<Spanned<String>>,
}

/// `notify.email:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    /// `smtp:` (a URL).
    pub smtp: Option<Spanned<String>>,
    /// `from:`.
    pub from: Option<Spanned<String>>,
    /// `reply_to:`.
    pub reply_to: Option<Spanned<String>>,
}

/// `notify.chat:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChat {
    /// `format:`.
    pub format: Option<Spanned<String>>,
}

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

/// Where a value sits in a file, like `users[3].email`: built on the stack as the reader
/// descends and only formatted when a problem is reported.
#[derive(Clone, Copy)]
enum Path<'a> {
    /// The top level.
    Root,
    /// A mapping value under its key.
    Key(&'a Path<'a>, &'a str),
    /// A list item at its index.
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    /// Whether the path reads as the empty string (the top level).
    fn is_empty(&self) -> bool {
        match self {
            Path::Root => true,
            Path::Key(parent, key) => key.is_empty() && parent.is_empty(),
            Path::Index(..) => false,
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(parent, key) if parent.is_empty() => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// Which entries of a mapping survive the key checks: a bit per entry, on the stack for the
/// small mappings that make up nearly all of a policy.
enum Kept {
    Small(u64),
    Large(Vec<bool>),
}

impl Kept {
    fn new(len: usize) -> Self {
        if len <= 64 {
            Kept::Small(0)
        } else {
            Kept::Large(vec![false; len])
        }
    }

    fn set(&mut self, i: usize) {
        match self {
            Kept::Small(bits) => *bits |= 1 << i,
            Kept::Large(v) => v[i] = true,
        }
    }

    fn get(&self, i: usize) -> bool {
        match self {
            Kept::Small(bits) => bits & (1 << i) != 0,
            Kept::Large(v) => v[i],
        }
    }
}

/// Collects the structural problems of one file. Reads the tree by value: strings move into
/// the raw types, nothing is copied.
struct Reader<'d> {
    diags: &'d mut Vec<Diagnostic>,
}

impl Reader<'_> {
    fn wrong_type(&mut self, node: &Node, path: &Path<'_>, expected: &str) {
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

    /// Calls `f` with each entry of a mapping whose key is a known, first-seen string, after
    /// reporting unknown and duplicate keys (all key problems of the mapping come before any
    /// problem inside its values). `f` gets the key as found in `known` (empty when `known`
    /// is empty: any key is accepted), the key node and the value. `false` when `node` is not a
    /// mapping (reported).
    fn mapping(
        &mut self,
        node: Node,
        path: &Path<'_>,
        known: &[&'static str],
        unknown_code: &'static str,
        mut f: impl FnMut(&mut Self, &'static str, Node, Node),
    ) -> bool {
        let entries = match node.kind {
            NodeKind::Map(entries) => entries,
            kind => {
                self.wrong_type(&Node { kind, ..node }, path, "a mapping");
                return false;
            }
        };
        let mut kept = Kept::new(entries.len());
        // Known keys seen so far, one bit each; other keys (errors unless `known` is empty) in
        // a set: a mapping of 100,000 unknown keys must not take 100,000² comparisons.
        let mut seen_known: u64 = 0;
        let mut seen_other: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (i, (k, _)) in entries.iter().enumerate() {
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
            let known_at = known.iter().position(|c| *c == key);
            let bit = known_at.filter(|j| *j < 64).map(|j| 1u64 << j);
            let dup = match bit {
                Some(bit) => seen_known & bit != 0,
                None => seen_other.contains(key),
            };
            if dup {
                self.diags.push(
                    Diagnostic::error(
                        "duplicate-key",
                        k.location.clone(),
                        format!("`{}` is written twice", Path::Key(path, key)),
                    )
                    .with_hint("remove one of them: YAML keeps only the last"),
                );
                continue;
            }
            match bit {
                Some(bit) => seen_known |= bit,
                None => {
                    seen_other.insert(key);
                }
            }
            if !known.is_empty() && known_at.is_none() {
                if !is_secret_key(key) {
                    self.unknown_key(k, key, path, known, unknown_code);
                }
                continue;
            }
            kept.set(i);
        }
        drop(seen_other);
        for (i, (k, v)) in entries.into_iter().enumerate() {
            if kept.get(i) {
                let key = match k.as_str() {
                    Some(key) => known.iter().copied().find(|c| *c == key).unwrap_or(""),
                    None => "",
                };
                f(self, key, k, v);
            }
        }
        true
    }

    fn unknown_key(
        &mut self,
        k: &Node,
        key: &str,
        path: &Path<'_>,
        known: &[&str],
        code: &'static str,
    ) {
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

    fn string(&mut self, node: Node, path: &Path<'_>) -> Option<Spanned<String>> {
        match node.kind {
            NodeKind::Str(value) => Some(Spanned {
                value: value.into_owned(),
                location: node.location,
            }),
            _ => {
                self.wrong_type(&node, path, "a string");
                None
            }
        }
    }

    fn int(&mut self, node: Node, path: &Path<'_>) -> Option<Spanned<i64>> {
        match node.kind {
            NodeKind::Int(value) => Some(Spanned {
                value,
                location: node.location,
            }),
            _ => {
                self.wrong_type(&node, path, "an integer");
                None
            }
        }
    }

    fn boolean(&mut self, node: Node, path: &Path<'_>) -> Option<Spanned<bool>> {
        match node.kind {
            NodeKind::Bool(value) => Some(Spanned {
                value,
                location: node.location,
            }),
            NodeKind::Str(ref text) => {
                let meant = match text.to_ascii_lowercase().as_str() {
                    "yes" | "y" | "on" => Some("true"),
                    "no" | "n" | "off" => Some("false"),
                    _ => None,
                };
                self.wrong_type(&node, path, "a boolean");
                if let (Some(meant), Some(d)) = (meant, self.diags.last_mut()) {
                    d.hint = Some(format!(
                        "`{text}` is text, not a boolean: write `{meant}`, without quotes"
                    ));
                }
                None
            }
            _ => {
                self.wrong_type(&node, path, "a boolean");
                None
            }
        }
    }

    fn string_list(&mut self, node: Node, path: &Path<'_>) -> Option<StrList> {
        let items = match node.kind {
            NodeKind::Seq(items) => items,
            kind => {
                self.wrong_type(&Node { kind, ..node }, path, "a list of strings");
                return None;
            }
        };
        let value = items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| self.string(item, &Path::Index(path, i)))
            .collect();
        Some(Spanned {
            value,
            location: node.location,
        })
    }

    fn seq(&mut self, node: Node, path: &Path<'_>) -> Vec<Node> {
        match node.kind {
            NodeKind::Seq(items) => items,
            kind => {
                self.wrong_type(&Node { kind, ..node }, path, "a list");
                Vec::new()
            }
        }
    }

    fn limit(&mut self, node: Node, path: &Path<'_>) -> Option<Spanned<RawLimit>> {
        let value = match node.kind {
            NodeKind::Int(n) => RawLimit::Count(n),
            NodeKind::Str(s) => RawLimit::Text(s.into_owned()),
            _ => {
                self.wrong_type(&node, path, "a count or a percentage");
                return None;
            }
        };
        Some(Spanned {
            value,
            location: node.location,
        })
    }

    fn users(&mut self, node: Node, path: &Path<'_>) -> Vec<RawUser> {
        let items = self.seq(node, path);
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let path = Path::Index(path, i);
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
            let mut u = RawUser {
                location: item.location.clone(),
                ..RawUser::default()
            };
            let is_map = self.mapping(
                item,
                &path,
                keys_of::<RawUser>(),
                "unknown-key",
                |r, key, _, v| {
                    let p = Path::Key(&path, key);
                    u.keys.push(key);
                    match key {
                        "email" => u.email = r.string(v, &p),
                        "account_id" => u.account_id = r.string(v, &p),
                        "products" => u.products = r.string_list(v, &p),
                        "until" => u.until = r.string(v, &p),
                        "requested" => u.requested = r.string(v, &p),
                        _ => {}
                    }
                },
            );
            if is_map {
                out.push(u);
            }
        }
        out
    }

    fn selectors(&mut self, node: Node, path: &Path<'_>) -> Vec<RawSelector> {
        let items = self.seq(node, path);
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let path = Path::Index(path, i);
            let mut s = RawSelector {
                location: item.location.clone(),
                ..RawSelector::default()
            };
            let is_map = self.mapping(
                item,
                &path,
                keys_of::<RawSelector>(),
                "unknown-key",
                |r, key, _, v| {
                    let p = Path::Key(&path, key);
                    s.keys.push(key);
                    match key {
                        "email" => s.email = r.string(v, &p),
                        "account_id" => s.account_id = r.string(v, &p),
                        "group" => s.group = r.string(v, &p),
                        "account_type" => s.account_type = r.string(v, &p),
                        _ => {}
                    }
                },
            );
            if is_map {
                out.push(s);
            }
        }
        out
    }

    fn products(&mut self, node: Node, path: &Path<'_>) -> Option<Spanned<RawProducts>> {
        let location = node.location.clone();
        let mut out = Vec::new();
        let is_map = self.mapping(node, path, &[], "unknown-key", |r, _, k, v| {
            let Node {
                kind: NodeKind::Str(key),
                location: key_location,
            } = k
            else {
                return; // the mapping passes string keys only
            };
            let key = key.into_owned();
            let mut p = RawProduct {
                location: key_location.clone(),
                ..RawProduct::default()
            };
            let name = Spanned {
                value: key,
                location: key_location,
            };
            if matches!(v.kind, NodeKind::Null) {
                out.push((name, p));
                return;
            }
            let path = Path::Key(path, &name.value);
            let is_map = r.mapping(
                v,
                &path,
                keys_of::<RawProduct>(),
                "unknown-key",
                |r, field, _, fv| {
                    let fp = Path::Key(&path, field);
                    match field {
                        "groups" => p.groups = r.string_list(fv, &fp),
                        "seats" => p.seats = r.int(fv, &fp),
                        "inactivity" => p.inactivity = r.string(fv, &fp),
                        "notice" => p.notice = r.string(fv, &fp),
                        "grace" => p.grace = r.string(fv, &fp),
                        "drift" => p.drift = r.string(fv, &fp),
                        "eligible_groups" => p.eligible_groups = r.string_list(fv, &fp),
                        "restore_on_login" => p.restore_on_login = r.boolean(fv, &fp),
                        _ => {}
                    }
                },
            );
            if is_map {
                out.push((name, p));
            }
        });
        is_map.then_some(Spanned {
            value: RawProducts(out),
            location,
        })
    }

    fn safety(&mut self, node: Node, path: &Path<'_>) -> Option<RawSafety> {
        let mut s = RawSafety::default();
        let is_map = self.mapping(
            node,
            path,
            keys_of::<RawSafety>(),
            "unknown-key",
            |r, key, _, v| {
                let p = Path::Key(path, key);
                match key {
                    "max_removals" => s.max_removals = r.limit(v, &p),
                    "max_additions" => s.max_additions = r.limit(v, &p),
                    "admin_groups" => s.admin_groups = r.string_list(v, &p),
                    _ => {}
                }
            },
        );
        is_map.then_some(s)
    }

    fn notify(&mut self, node: Node, path: &Path<'_>) -> Option<Spanned<RawNotify>> {
        let location = node.location.clone();
        let mut n = RawNotify::default();
        let is_map = self.mapping(
            node,
            path,
            keys_of::<RawNotify>(),
            "unknown-key",
            |r, key, _, v| {
                let p = Path::Key(path, key);
                match key {
                    "email" => n.email = r.email(v, &p),
                    "chat" => n.chat = r.chat(v, &p),
                    "before_reclaim" => n.before_reclaim = r.boolean(v, &p),
                    "after_reclaim" => n.after_reclaim = r.boolean(v, &p),
                    "digest" => n.digest = r.boolean(v, &p),
                    "templates" => n.templates = r.string(v, &p),
                    "rate" => n.rate = r.string(v, &p),
                    _ => {}
                }
            },
        );
        is_map.then_some(Spanned { value: n, location })
    }

    fn email(&mut self, node: Node, path: &Path<'_>) -> Option<Spanned<RawEmail>> {
        let location = node.location.clone();
        let mut e = RawEmail::default();
        let is_map = self.mapping(
            node,
            path,
            keys_of::<RawEmail>(),
            "unknown-key",
            |r, key, _, v| {
                let p = Path::Key(path, key);
                match key {
                    "smtp" => e.smtp = r.string(v, &p),
                    "from" => e.from = r.string(v, &p),
                    "reply_to" => e.reply_to = r.string(v, &p),
                    _ => {}
                }
            },
        );
        is_map.then_some(Spanned { value: e, location })
    }

    fn chat(&mut self, node: Node, path: &Path<'_>) -> Option<Spanned<RawChat>> {
        let location = node.location.clone();
        let mut c = RawChat::default();
        let is_map = self.mapping(
            node,
            path,
            keys_of::<RawChat>(),
            "unknown-key",
            |r, key, _, v| {
                if key == "format" {
                    c.format = r.string(v, &Path::Key(path, key));
                }
            },
        );
        is_map.then_some(Spanned { value: c, location })
    }
}

/// Reads the main policy file's tree. Structural problems go to `diags`; what could be read is
/// returned either way. Absent required keys are reported here (`missing-key`).
pub fn read_policy(root: &Node, diags: &mut Vec<Diagnostic>) -> RawPolicy {
    read_policy_tree(root.clone(), diags)
}

/// [`read_policy`], taking the tree: its strings move into the raw types.
pub fn read_policy_tree(root: Node, diags: &mut Vec<Diagnostic>) -> RawPolicy {
    let mut r = Reader { diags };
    let mut p = RawPolicy::default();
    let file = std::sync::Arc::clone(&root.location.file);
    let mut present: Vec<&'static str> = Vec::new();
    let is_map = r.mapping(
        root,
        &Path::Root,
        keys_of::<RawPolicy>(),
        "unknown-key",
        |r, key, _, v| {
            present.push(key);
            // An optional key with no value is treated as absent.
            if matches!(v.kind, NodeKind::Null) && !matches!(key, "version" | "site" | "products") {
                return;
            }
            let path = Path::Key(&Path::Root, key);
            match key {
                "version" => p.version = r.int(v, &path),
                "site" => p.site = r.string(v, &path),
                "org" => p.org = r.string(v, &path),
                "products" => {
                    if matches!(v.kind, NodeKind::Null) {
                        r.diags.push(
                            Diagnostic::error("no-products", v.location, "`products` is empty")
                                .with_hint("declare at least one product with its groups"),
                        );
                    } else {
                        p.products = r.products(v, &path);
                    }
                }
                "include" => p.include = r.string_list(v, &path),
                "users" => p.users = r.users(v, &path),
                "eligible_groups" => p.eligible_groups = r.string_list(v, &path),
                "keep" => p.keep = r.selectors(v, &path),
                "ignore" => p.ignore = r.selectors(v, &path),
                "audit_log" => p.audit_log = r.string(v, &path),
                "safety" => p.safety = r.safety(v, &path),
                "notify" => p.notify = r.notify(v, &path),
                _ => {}
            }
        },
    );
    if !is_map {
        return p;
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
                    Location::in_shared(&file, 1, 1),
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
    read_include_tree(root.clone(), diags)
}

/// [`read_include`], taking the tree: its strings move into the raw types.
pub fn read_include_tree(root: Node, diags: &mut Vec<Diagnostic>) -> RawIncludeFile {
    let mut r = Reader { diags };
    let mut f = RawIncludeFile::default();
    r.mapping(
        root,
        &Path::Root,
        keys_of::<RawIncludeFile>(),
        "include-disallowed-key",
        |r, _, _, v| {
            if !matches!(v.kind, NodeKind::Null) {
                f.users = r.users(v, &Path::Key(&Path::Root, "users"));
            }
        },
    );
    f
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
        "a boolean" => "write `true` or `false`, without quotes".into(),
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
    edits_within(a, b, usize::MAX).unwrap_or(usize::MAX)
}

/// The Levenshtein distance of `a` and `b` when it is at most `max`; stops as soon as a row
/// exceeds it, so comparing one word with a whole org's emails stays cheap.
pub fn edits_within(a: &str, b: &str, max: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        if cur.iter().min().copied().unwrap_or(0) > max {
            return None;
        }
        prev = cur;
    }
    prev.last().copied().filter(|&d| d <= max)
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
    fn problems_name_the_path_of_the_value() {
        let text = "version: 1\nsite: s\nproducts:\n  jira:\n    groups: [a, 1]\n    seats: x\n    \"groups\": []\nusers:\n  - email: 3\n    products: [a, [b]]\n  - x@y.z\n  - {email: a@b.c, email: d@e.f, emial: q}\nsafety: {max_removals: [1]}\n";
        let root = parse_yaml("f", text).unwrap();
        let mut diags = Vec::new();
        let raw = read_policy_tree(root, &mut diags);
        let got: Vec<String> = diags
            .iter()
            .map(|d| format!("{} {}: {}", d.code, d.location, d.message))
            .collect();
        assert_eq!(
            got,
            [
                "duplicate-key f:7:5: `products.jira.groups` is written twice",
                "wrong-type f:5:17: `products.jira.groups[1]` must be a string, found an integer",
                "wrong-type f:6:12: `products.jira.seats` must be an integer, found a string",
                "wrong-type f:9:12: `users[0].email` must be a string, found an integer",
                "wrong-type f:10:19: `users[0].products[1]` must be a string, found a list",
                "wrong-type f:11:5: `users[1]` must be a mapping, found a string",
                "duplicate-key f:12:20: `users[2].email` is written twice",
                "unknown-key f:12:34: unknown key `emial` in `users[2]`",
                "wrong-type f:13:24: `safety.max_removals` must be a count or a percentage, found a list",
            ]
        );
        assert_eq!(raw.users.len(), 2);
        assert_eq!(raw.users[0].keys.as_slice(), ["email", "products"]);
        assert_eq!(raw.users[1].keys.as_slice(), ["email"]);
        assert_eq!(raw.users[1].email.as_ref().unwrap().value, "a@b.c");
    }

    #[test]
    fn did_you_mean_finds_typos_only() {
        assert_eq!(
            keys_of::<RawUser>(),
            ["email", "account_id", "products", "until", "requested"],
            "a raw type's keys are its fields, in declaration order"
        );
        assert_eq!(keys_of::<RawIncludeFile>(), ["users"]);
        assert_eq!(
            did_you_mean("inactivty", keys_of::<RawProduct>()),
            Some("inactivity")
        );
        assert_eq!(did_you_mean("emial", keys_of::<RawUser>()), Some("email"));
        assert_eq!(did_you_mean("colour", keys_of::<RawUser>()), None);
    }
}

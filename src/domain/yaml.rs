//! The one YAML reader of a policy repo. Every YAML file (the policy and its includes, self-tests
//! in `tests/*.yaml`, sandbox seeds) is parsed by [`parse_yaml`] into a tree that knows where
//! each value is written, with the YAML 1.2 core schema for plain scalars. The policy is read
//! from that tree by its own reader; everything else is deserialised from it with serde
//! ([`from_yaml`]), so a mistake in any file is a [`Diagnostic`] with a stable code and the
//! `file:line:column` of the value at fault.

pub use crate::policy::raw::{parse_yaml, Node, NodeKind};

use crate::diagnostics::{Diagnostic, Location};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// Parses `text` (named `file` in diagnostics) and deserialises it into `T`.
pub fn from_yaml<T: for<'de> Deserialize<'de>>(
    file: &str,
    text: &str,
) -> Result<T, Vec<Diagnostic>> {
    let root = parse_yaml(file, text)?;
    from_node(&root).map_err(|e| vec![e])
}

/// Deserialises `T` from a parsed tree; an error is located at the value that caused it.
pub fn from_node<T: for<'de> Deserialize<'de>>(node: &Node) -> Result<T, Diagnostic> {
    T::deserialize(NodeDeserializer { node }).map_err(|e| e.into_diagnostic(&node.location))
}

/// A deserialisation error: a stable code, a message, and where (filled in by the innermost
/// value that saw it).
#[derive(Debug)]
pub struct Error {
    code: &'static str,
    message: String,
    location: Option<Location>,
}

impl Error {
    fn new(code: &'static str, message: String) -> Self {
        Self {
            code,
            message,
            location: None,
        }
    }

    fn at(mut self, location: &Location) -> Self {
        if self.location.is_none() {
            self.location = Some(location.clone());
        }
        self
    }

    fn into_diagnostic(self, fallback: &Location) -> Diagnostic {
        let location = self.location.unwrap_or_else(|| fallback.clone());
        Diagnostic::error(self.code, location, self.message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        Self::new("invalid-value", msg.to_string())
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::new("wrong-type", format!("expected {exp}, found {unexp}"))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let hint = crate::policy::raw::did_you_mean(field, expected)
            .map(|m| format!(" (did you mean `{m}`?)"))
            .unwrap_or_default();
        Self::new(
            "unknown-key",
            format!(
                "unknown key `{field}`{hint}; expected one of: {}",
                expected.join(", ")
            ),
        )
    }

    fn missing_field(field: &'static str) -> Self {
        Self::new("missing-key", format!("missing key `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self::new("duplicate-key", format!("`{field}` is written twice"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(
            "invalid-value",
            format!("`{variant}` is not one of: {}", expected.join(", ")),
        )
    }
}

struct NodeDeserializer<'a> {
    node: &'a Node,
}

impl<'de, 'a> de::Deserializer<'de> for NodeDeserializer<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let at = &self.node.location;
        let result = match &self.node.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Bool(b) => visitor.visit_bool(*b),
            NodeKind::Int(i) => visitor.visit_i64(*i),
            NodeKind::Float(f) => visitor.visit_f64(*f),
            NodeKind::Str(s) => visitor.visit_str(s),
            NodeKind::Seq(items) => visitor.visit_seq(Items {
                items: items.iter(),
            }),
            NodeKind::Map(entries) => visitor.visit_map(Entries {
                entries: entries.iter(),
                value: None,
            }),
        };
        result.map_err(|e| e.at(at))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.node.kind {
            NodeKind::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let at = &self.node.location;
        let result = match &self.node.kind {
            NodeKind::Str(s) => visitor.visit_enum(s.as_ref().into_deserializer()),
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                visitor.visit_enum(Variant { key, value })
            }
            other => Err(Error::new(
                "wrong-type",
                format!(
                    "expected a name or a mapping with one key, found {}",
                    other.describe()
                ),
            )),
        };
        result.map_err(|e| e.at(at))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

struct Items<'a> {
    items: std::slice::Iter<'a, Node>,
}

impl<'de> SeqAccess<'de> for Items<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(NodeDeserializer { node })
                .map(Some)
                .map_err(|e| e.at(&node.location)),
            None => Ok(None),
        }
    }
}

struct Entries<'a> {
    entries: std::slice::Iter<'a, (Node, Node)>,
    value: Option<&'a Node>,
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(NodeDeserializer { node: key })
                    .map(Some)
                    .map_err(|e| e.at(&key.location))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let node = self
            .value
            .take()
            .ok_or_else(|| Error::new("invalid-value", "a value without its key".into()))?;
        seed.deserialize(NodeDeserializer { node })
            .map_err(|e| e.at(&node.location))
    }
}

struct Variant<'a> {
    key: &'a Node,
    value: &'a Node,
}

impl<'de, 'a> de::EnumAccess<'de> for Variant<'a> {
    type Error = Error;
    type Variant = VariantValue<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Error> {
        let name = seed
            .deserialize(NodeDeserializer { node: self.key })
            .map_err(|e| e.at(&self.key.location))?;
        Ok((name, VariantValue { node: self.value }))
    }
}

struct VariantValue<'a> {
    node: &'a Node,
}

impl<'de> de::VariantAccess<'de> for VariantValue<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.node.kind {
            NodeKind::Null => Ok(()),
            _ => Err(
                Error::new("wrong-type", "this variant takes no value".into())
                    .at(&self.node.location),
            ),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(NodeDeserializer { node: self.node })
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(NodeDeserializer { node: self.node }, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(NodeDeserializer { node: self.node }, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Case {
        name: String,
        count: Option<u32>,
        #[serde(default)]
        tags: Vec<String>,
        kind: Kind,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Add,
        Remove,
    }

    #[test]
    fn reads_structs_lists_options_and_enums() {
        let text = "name: a\ncount: 3\ntags: [x, 'y']\nkind: add\n";
        let case: Case = from_yaml("t.yaml", text).unwrap();
        assert_eq!(
            case,
            Case {
                name: "a".into(),
                count: Some(3),
                tags: vec!["x".into(), "y".into()],
                kind: Kind::Add,
            }
        );
        let any: serde_json::Value = from_yaml("t.yaml", "a: [1, 2.5, true, ~, b]\n").unwrap();
        assert_eq!(any, serde_json::json!({ "a": [1, 2.5, true, null, "b"] }));
        let map: BTreeMap<String, u64> = from_yaml("t.yaml", "x: 1\ny: 2\n").unwrap();
        assert_eq!(map["y"], 2);
    }

    #[test]
    fn mistakes_are_located_at_the_value_with_a_code() {
        let err = |text: &str| {
            from_yaml::<Case>("tests/a.yaml", text)
                .unwrap_err()
                .remove(0)
        };
        let d = err("name: a\nkind: add\ncuont: 3\n");
        assert_eq!((d.code, d.location.line), ("unknown-key", 3));
        assert!(d.message.contains("did you mean `count`?"), "{}", d.message);
        let d = err("name: a\nkind: add\ncount: lots\n");
        assert_eq!(
            (d.code, d.location.line, d.location.column),
            ("wrong-type", 3, 8)
        );
        let d = err("name: a\nkind: move\n");
        assert_eq!((d.code, d.location.line), ("invalid-value", 2));
        let d = err("name: a\n");
        assert_eq!(d.code, "missing-key");
        let d = err("name: a\nname: b\nkind: add\n");
        assert_eq!(d.code, "duplicate-key");
        let d = err("name: [a\n");
        assert_eq!(d.code, "yaml-syntax");
        assert_eq!(&*d.location.file, "tests/a.yaml");
    }
}

//! serde over the positioned tree: every error comes back located.

use std::fmt;
use std::sync::Arc;

use model::Diagnostic;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Error as _, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use crate::node::{Node, NodeValue};

const SPANNED_MARKER: &str = "__yamlspan_spanned";

/// A value with the position it was written at, for checks after deserialization.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// The file it came from.
    pub file: Arc<str>,
    /// 1-based line (0 when not deserialized from YAML).
    pub line: u64,
    /// 1-based column (0 when not deserialized from YAML).
    pub column: u64,
    /// The scalar as written, for diagnostics.
    pub text: Option<String>,
}

impl<T> Spanned<T> {
    /// A diagnostic at this value's position about `field`.
    pub fn diagnostic(&self, field: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: self.file.to_string(),
            line: self.line,
            column: self.column,
            field: field.into(),
            value: self.text.clone(),
            message: message.into(),
        }
    }
}

impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for Spanned<T> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpannedVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: de::Deserialize<'de>> Visitor<'de> for SpannedVisitor<T> {
            type Value = Spanned<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a positioned value")
            }
            // Our deserializer hands over (file, line, column, text, value).
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let missing = || de::Error::custom("internal: incomplete position");
                let file: String = seq.next_element()?.ok_or_else(missing)?;
                let line: u64 = seq.next_element()?.ok_or_else(missing)?;
                let column: u64 = seq.next_element()?.ok_or_else(missing)?;
                let text: Option<String> = seq.next_element()?.ok_or_else(missing)?;
                let value: T = seq.next_element()?.ok_or_else(missing)?;
                Ok(Spanned { value, file: Arc::from(file), line, column, text })
            }
            // Any other deserializer: no position.
            fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                Ok(Spanned { value: T::deserialize(d)?, file: Arc::from(""), line: 0, column: 0, text: None })
            }
        }
        deserializer.deserialize_newtype_struct(SPANNED_MARKER, SpannedVisitor(std::marker::PhantomData))
    }
}

/// Error raised inside deserialization; located by the innermost node that knows where.
#[derive(Debug)]
struct DeError {
    message: String,
    located: Option<Diagnostic>,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self { message: msg.to_string(), located: None }
    }
}

impl DeError {
    fn locate(mut self, node: &Node, path: &str) -> Self {
        if self.located.is_none() {
            self.located = Some(node.diagnostic(path, self.message.clone()));
        }
        self
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

impl Node {
    /// Deserializes this subtree into `T`; `path` names it in errors (e.g. `groups[0]`).
    pub fn deserialize<T: DeserializeOwned>(&self, path: &str) -> Result<T, Diagnostic> {
        T::deserialize(NodeDe { node: self, path: path.to_owned() })
            .map_err(|e: DeError| e.locate(self, path).located.unwrap_or_else(|| self.diagnostic(path, "invalid")))
    }
}

struct NodeDe<'a> {
    node: &'a Node,
    path: String,
}

impl NodeDe<'_> {
    fn type_error(&self, expected: &str) -> DeError {
        DeError::custom(format!("expected {expected}, found {}", self.node.value.kind())).locate(self.node, &self.path)
    }
}

macro_rules! deserialize_number {
    ($method:ident, $visit:ident, $ty:ty, $what:literal) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            let value: Option<$ty> = match &self.node.value {
                NodeValue::Int(i) => <$ty>::try_from(*i).ok(),
                NodeValue::UInt(u) => <$ty>::try_from(*u).ok(),
                _ => return Err(self.type_error($what)),
            };
            match value {
                Some(v) => visitor.$visit(v).map_err(|e: DeError| e.locate(self.node, &self.path)),
                None => Err(DeError::custom(concat!("out of range for ", $what)).locate(self.node, &self.path)),
            }
        }
    };
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            NodeValue::Null => visitor.visit_unit(),
            NodeValue::Bool(b) => visitor.visit_bool(*b),
            NodeValue::Int(i) => visitor.visit_i64(*i),
            NodeValue::UInt(u) => visitor.visit_u64(*u),
            NodeValue::Float(f) => visitor.visit_f64(*f),
            NodeValue::Str(s) => visitor.visit_str(s),
            NodeValue::Seq(items) => visitor.visit_seq(SeqDe { items: items.iter(), index: 0, path: &self.path }),
            NodeValue::Map(entries) => {
                visitor.visit_map(MapDe { entries: entries.iter(), value: None, path: &self.path })
            }
        };
        result.map_err(|e: DeError| e.locate(self.node, &self.path))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            NodeValue::Bool(b) => visitor.visit_bool(*b).map_err(|e: DeError| e.locate(self.node, &self.path)),
            _ => Err(self.type_error("true or false")),
        }
    }

    deserialize_number!(deserialize_i8, visit_i8, i8, "an integer (i8)");
    deserialize_number!(deserialize_i16, visit_i16, i16, "an integer (i16)");
    deserialize_number!(deserialize_i32, visit_i32, i32, "an integer (i32)");
    deserialize_number!(deserialize_i64, visit_i64, i64, "an integer");
    deserialize_number!(deserialize_u8, visit_u8, u8, "a non-negative integer (u8)");
    deserialize_number!(deserialize_u16, visit_u16, u16, "a non-negative integer (u16)");
    deserialize_number!(deserialize_u32, visit_u32, u32, "a non-negative integer (u32)");
    deserialize_number!(deserialize_u64, visit_u64, u64, "a non-negative integer");

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let v = match &self.node.value {
            NodeValue::Float(f) => *f,
            NodeValue::Int(i) => *i as f64,
            NodeValue::UInt(u) => *u as f64,
            _ => return Err(self.type_error("a number")),
        };
        visitor.visit_f64(v).map_err(|e: DeError| e.locate(self.node, &self.path))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // A string field accepts any scalar, as Go's YAML does: `expr: 1` is the text "1".
        match &self.node.value {
            NodeValue::Seq(_) | NodeValue::Map(_) | NodeValue::Null => Err(self.type_error("a string")),
            NodeValue::Str(s) => visitor.visit_str(s).map_err(|e: DeError| e.locate(self.node, &self.path)),
            _ => {
                let text = self.node.scalar_text().unwrap_or_default();
                visitor.visit_string(text).map_err(|e: DeError| e.locate(self.node, &self.path))
            }
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, DeError> {
        Err(self.type_error("bytes (unsupported)"))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            NodeValue::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            NodeValue::Null => visitor.visit_unit(),
            _ => Err(self.type_error("null")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        if name == SPANNED_MARKER {
            let node = self.node;
            let path = self.path.clone();
            return visitor
                .visit_seq(SpannedDe { node, path: &path, step: 0 })
                .map_err(|e: DeError| e.locate(node, &path));
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            NodeValue::Seq(items) => visitor
                .visit_seq(SeqDe { items: items.iter(), index: 0, path: &self.path })
                .map_err(|e: DeError| e.locate(self.node, &self.path)),
            _ => Err(self.type_error("a sequence")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            NodeValue::Map(entries) => visitor
                .visit_map(MapDe { entries: entries.iter(), value: None, path: &self.path })
                .map_err(|e: DeError| e.locate(self.node, &self.path)),
            _ => Err(self.type_error("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let located = |e: DeError| e.locate(self.node, &self.path);
        match &self.node.value {
            NodeValue::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()).map_err(located),
            NodeValue::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                let Some(variant) = key.scalar_text() else {
                    return Err(DeError::custom("variant name must be a scalar").locate(key, &self.path));
                };
                let path = join(&self.path, &variant);
                visitor.visit_enum(EnumDe { variant, key, value, path }).map_err(located)
            }
            _ => Err(self.type_error("a variant name or a single-key mapping")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct SeqDe<'a, 'p> {
    items: std::slice::Iter<'a, Node>,
    index: usize,
    path: &'p str,
}

impl<'de> de::SeqAccess<'de> for SeqDe<'_, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let path = format!("{}[{}]", self.path, self.index);
        self.index += 1;
        seed.deserialize(NodeDe { node, path: path.clone() }).map(Some).map_err(|e: DeError| e.locate(node, &path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a, 'p> {
    entries: std::slice::Iter<'a, (Node, Node)>,
    value: Option<(&'a Node, String)>,
    path: &'p str,
}

impl<'de> de::MapAccess<'de> for MapDe<'_, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let name = key.scalar_text().unwrap_or_default();
        let path = join(self.path, &name);
        self.value = Some((value, path.clone()));
        // An unknown field is reported at its key, with the key as the value.
        seed.deserialize(NodeDe { node: key, path: path.clone() }).map(Some).map_err(|e: DeError| e.locate(key, &path))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (node, path) = self.value.take().ok_or_else(|| DeError::custom("internal: value before key"))?;
        seed.deserialize(NodeDe { node, path: path.clone() }).map_err(|e: DeError| e.locate(node, &path))
    }
}

struct EnumDe<'a> {
    variant: String,
    key: &'a Node,
    value: &'a Node,
    path: String,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumDe<'a> {
    type Error = DeError;
    type Variant = VariantDe<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, VariantDe<'a>), DeError> {
        let key = self.key;
        let path = self.path.clone();
        let v = seed.deserialize(self.variant.into_deserializer()).map_err(|e: DeError| e.locate(key, &path))?;
        Ok((v, VariantDe { value: self.value, path: self.path }))
    }
}

struct VariantDe<'a> {
    value: &'a Node,
    path: String,
}

impl<'de> de::VariantAccess<'de> for VariantDe<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match &self.value.value {
            NodeValue::Null => Ok(()),
            _ => Err(DeError::custom("this variant takes no value").locate(self.value, &self.path)),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(NodeDe { node: self.value, path: self.path })
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(NodeDe { node: self.value, path: self.path }, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_map(NodeDe { node: self.value, path: self.path }, visitor)
    }
}

/// Feeds [`Spanned`]'s visitor: file, line, column, text, then the value itself.
struct SpannedDe<'a, 'p> {
    node: &'a Node,
    path: &'p str,
    step: u8,
}

impl<'de> de::SeqAccess<'de> for SpannedDe<'_, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        self.step += 1;
        let node = self.node;
        match self.step {
            1 => seed.deserialize(node.file.to_string().into_deserializer()).map(Some),
            2 => seed.deserialize(node.line.into_deserializer()).map(Some),
            3 => seed.deserialize(node.column.into_deserializer()).map(Some),
            4 => seed.deserialize(OptionalText(node.scalar_text())).map(Some),
            5 => seed.deserialize(NodeDe { node, path: self.path.to_owned() }).map(Some),
            _ => Ok(None),
        }
    }
}

struct OptionalText(Option<String>);

impl<'de> de::Deserializer<'de> for OptionalText {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Some(s) => visitor.visit_some(s.into_deserializer()),
            None => visitor.visit_none(),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use crate::{Diagnostics, Spanned, parse_document};

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Rule {
        alert: String,
        expr: Spanned<String>,
        #[serde(default, rename = "for")]
        for_: Option<String>,
        #[serde(default)]
        labels: std::collections::BTreeMap<String, String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Step {
        Restart,
        Signal { name: String },
    }

    #[test]
    fn unknown_field_is_reported_at_its_key_with_path() {
        let root = parse_document("r.yaml", "- alert: A\n  expr: up\n  lables: {}\n").expect("yaml");
        let mut diags = Diagnostics::new();
        let good: Vec<(usize, Rule, _)> = root.each("rules", &mut diags);
        assert!(good.is_empty());
        let d = &diags.0[0];
        assert_eq!((d.line, d.column), (3, 3), "{d}");
        assert_eq!(d.field, "rules[0].lables");
        assert!(d.message.contains("unknown field `lables`"), "{d}");
    }

    #[test]
    fn collects_one_error_per_bad_element_and_keeps_good_ones() {
        let text = "- alert: A\n  expr: up\n- alert: [x]\n  expr: up\n- expr: up\n- alert: D\n  expr: up\n";
        let root = parse_document("r.yaml", text).expect("yaml");
        let mut diags = Diagnostics::new();
        let good: Vec<(usize, Rule, _)> = root.each("rules", &mut diags);
        assert_eq!(good.iter().map(|(i, _, _)| *i).collect::<Vec<_>>(), vec![0, 3]);
        assert_eq!(diags.len(), 2, "{diags}");
        assert_eq!((diags.0[0].line, diags.0[0].column, diags.0[0].field.as_str()), (3, 10, "rules[1].alert"));
        assert!(diags.0[0].message.contains("expected a string"), "{}", diags.0[0]);
        assert_eq!((diags.0[1].line, diags.0[1].field.as_str()), (5, "rules[2]"));
        assert!(diags.0[1].message.contains("missing field `alert`"), "{}", diags.0[1]);
    }

    #[test]
    fn spanned_keeps_position_and_text() {
        let root = parse_document("r.yaml", "alert: A\nexpr: rate(x[5m]) > 1\n").expect("yaml");
        let rule: Rule = root.deserialize("").expect("valid");
        assert_eq!(rule.expr.value, "rate(x[5m]) > 1");
        assert_eq!((rule.expr.line, rule.expr.column), (2, 7));
        assert_eq!(&*rule.expr.file, "r.yaml");
        let d = rule.expr.diagnostic("expr", "bad");
        assert_eq!(d.to_string(), "r.yaml:2:7: expr = \"rate(x[5m]) > 1\": bad");
    }

    #[test]
    fn scalars_become_strings_for_string_fields() {
        let root = parse_document("r.yaml", "alert: 5\nexpr: 1\nfor: 10\n").expect("yaml");
        let rule: Rule = root.deserialize("").expect("valid");
        assert_eq!(rule.alert, "5");
        assert_eq!(rule.for_.as_deref(), Some("10"));
    }

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        count: Option<u32>,
    }

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        url: String,
        #[serde(default)]
        tries: Option<u32>,
    }

    #[test]
    fn lenient_reports_every_bad_entry_and_keeps_the_rest() {
        let text = "nmae: x\nname: ok\ninner: { url: u, tries: many, colour: red }\ncount: -1\n";
        let root = parse_document("f.yaml", text).expect("yaml");
        assert!(root.deserialize::<Outer>("").is_err(), "strict deserialization stops at the first");
        let mut diags = Diagnostics::new();
        let outer: Outer = root.deserialize_lenient("", &mut diags).expect("partial value");
        let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 4, "{shown:#?}");
        assert!(shown[0].starts_with("f.yaml:1:1: nmae = \"nmae\": unknown field `nmae`"), "{shown:#?}");
        assert!(shown[1].starts_with("f.yaml:3:25: inner.tries = \"many\": expected"), "{shown:#?}");
        assert!(shown[2].starts_with("f.yaml:3:31: inner.colour = \"colour\": unknown field"), "{shown:#?}");
        assert!(shown[3].starts_with("f.yaml:4:8: count = \"-1\": out of range"), "{shown:#?}");
        assert_eq!(outer.name.as_deref(), Some("ok"));
        assert_eq!(outer.inner.as_ref().map(|i| i.url.as_str()), Some("u"), "the good part of a section stays");
        assert_eq!(outer.count, None);
    }

    #[test]
    fn lenient_does_not_repeat_a_pruned_required_field_as_missing() {
        let root = parse_document("f.yaml", "inner: { url: [x] }\nname: ok\n").expect("yaml");
        let mut diags = Diagnostics::new();
        let outer: Outer = root.deserialize_lenient("", &mut diags).expect("partial value");
        assert_eq!(diags.len(), 1, "{diags}");
        assert_eq!(diags.0[0].field, "inner.url");
        assert!(outer.inner.is_none());
        assert_eq!(outer.name.as_deref(), Some("ok"));
    }

    #[test]
    fn lenient_gives_up_when_the_node_itself_is_wrong() {
        let root = parse_document("f.yaml", "- a\n").expect("yaml");
        let mut diags = Diagnostics::new();
        assert!(root.deserialize_lenient::<Outer>("", &mut diags).is_none());
        assert_eq!(diags.len(), 1, "{diags}");
        assert!(diags.0[0].message.contains("expected a mapping"), "{diags}");
    }

    #[test]
    fn each_lenient_flags_partial_elements() {
        let root =
            parse_document("f.yaml", "- { url: a }\n- { url: b, extra: 1, tries: x }\n- { tries: 1 }\n").expect("yaml");
        let mut diags = Diagnostics::new();
        let items: Vec<(usize, Inner, _, bool)> = root.each_lenient("items", &mut diags);
        let got: Vec<(usize, &str, bool)> = items.iter().map(|(i, v, _, clean)| (*i, v.url.as_str(), *clean)).collect();
        assert_eq!(got, vec![(0, "a", true), (1, "b", false)]);
        let fields: Vec<&str> = diags.0.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, vec!["items[1].extra", "items[1].tries", "items[2]"], "{diags}");
    }

    #[test]
    fn enums_externally_tagged() {
        let root = parse_document("s.yaml", "- restart\n- signal: {name: HUP}\n- bogus\n").expect("yaml");
        let mut diags = Diagnostics::new();
        let steps: Vec<(usize, Step, _)> = root.each("steps", &mut diags);
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[1].1, Step::Signal { name: "HUP".into() });
        assert_eq!(diags.0[0].line, 3);
        assert!(diags.0[0].message.contains("unknown variant `bogus`"), "{}", diags.0[0]);
    }
}

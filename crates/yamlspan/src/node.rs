//! The positioned YAML tree.

use std::fmt;
use std::sync::Arc;

use model::Diagnostic;
use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};

/// One YAML node with the file, line and column (1-based) where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The node's content.
    pub value: NodeValue,
    /// File the node came from, as the user named it.
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

/// What a node holds. Plain scalars keep the type YAML 1.2's core schema gives them.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// A non-negative integer beyond `i64`.
    UInt(u64),
    /// A float.
    Float(f64),
    /// A string (quoted or plain).
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<(Node, Node)>),
}

impl NodeValue {
    /// What kind of node this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Int(_) | Self::UInt(_) => "an integer",
            Self::Float(_) => "a float",
            Self::Str(_) => "a string",
            Self::Seq(_) => "a sequence",
            Self::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// The scalar as written (approximately, for numbers), or `None` for collections.
    pub fn scalar_text(&self) -> Option<String> {
        Some(match &self.value {
            NodeValue::Null => "null".to_owned(),
            NodeValue::Bool(b) => b.to_string(),
            NodeValue::Int(i) => i.to_string(),
            NodeValue::UInt(u) => u.to_string(),
            NodeValue::Float(f) => f.to_string(),
            NodeValue::Str(s) => s.clone(),
            NodeValue::Seq(_) | NodeValue::Map(_) => return None,
        })
    }

    /// The value under `key` when this is a mapping with that string key.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(entries) => {
                entries.iter().find(|(k, _)| matches!(&k.value, NodeValue::Str(s) if s == key)).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// A diagnostic located at this node, about `field`, quoting its value when scalar.
    pub fn diagnostic(&self, field: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: self.file.to_string(),
            line: self.line,
            column: self.column,
            field: field.into(),
            value: self.scalar_text(),
            message: message.into(),
        }
    }
}

/// Parses one YAML document. An empty document is a `Null` root. A syntax error is
/// returned with its position; there is nothing to collect past it.
pub fn parse_document(file: &str, text: &str) -> Result<Node, Diagnostic> {
    let options = serde_saphyr::options! { with_snippet: false };
    let file: Arc<str> = Arc::from(file);
    let parsed: Result<Option<serde_saphyr::Spanned<RawValue>>, _> = serde_saphyr::from_str_with_options(text, options);
    match parsed {
        Ok(Some(root)) => Ok(root_into_node(root, &file)),
        Ok(None) => Ok(Node { value: NodeValue::Null, file, line: 1, column: 1 }),
        Err(e) => {
            let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
            Err(Diagnostic {
                file: file.to_string(),
                line,
                column,
                field: String::new(),
                value: None,
                message: format!("invalid YAML: {}", strip_location(&e.to_string())),
            })
        }
    }
}

/// saphyr appends " at line X column Y" to messages; the diagnostic carries that already.
fn strip_location(msg: &str) -> String {
    let first_line = msg.lines().next().unwrap_or(msg);
    match first_line.rfind(" at line ") {
        Some(i) => first_line[..i].to_owned(),
        None => first_line.to_owned(),
    }
}

fn root_into_node(raw: serde_saphyr::Spanned<RawValue>, file: &Arc<str>) -> Node {
    let value = match raw.value {
        RawValue::Null => NodeValue::Null,
        RawValue::Bool(b) => NodeValue::Bool(b),
        RawValue::Int(i) => NodeValue::Int(i),
        RawValue::UInt(u) => NodeValue::UInt(u),
        RawValue::Float(f) => NodeValue::Float(f),
        RawValue::Str(s) => NodeValue::Str(s),
        RawValue::Seq(items) => NodeValue::Seq(items.into_iter().map(|i| root_into_node(i, file)).collect()),
        RawValue::Map(entries) => NodeValue::Map(
            entries.into_iter().map(|(k, v)| (root_into_node(k, file), root_into_node(v, file))).collect(),
        ),
    };
    Node { value, file: file.clone(), line: raw.referenced.line(), column: raw.referenced.column() }
}

/// The tree as saphyr hands it over, before file names are attached.
enum RawValue {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<serde_saphyr::Spanned<RawValue>>),
    Map(Vec<(serde_saphyr::Spanned<RawValue>, serde_saphyr::Spanned<RawValue>)>),
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML node")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawValue, E> {
        Ok(RawValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawValue, E> {
        Ok(RawValue::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawValue, E> {
        Ok(i64::try_from(v).map(RawValue::Int).unwrap_or(RawValue::UInt(v)))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawValue, E> {
        i64::try_from(v).map(RawValue::Int).map_err(|_| E::custom("integer out of range"))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawValue, E> {
        u64::try_from(v).map(RawValue::UInt).map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawValue, E> {
        Ok(RawValue::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawValue, E> {
        Ok(RawValue::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<RawValue, E> {
        Ok(RawValue::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<RawValue, D::Error> {
        d.deserialize_any(RawVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(RawValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(RawValue::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_point_at_values() {
        let root = parse_document("f.yaml", "a: 1\nb:\n  - x\n  - \"y\"\n").expect("parses");
        let a = root.get("a").expect("a");
        assert_eq!((a.line, a.column), (1, 4));
        assert_eq!(a.value, NodeValue::Int(1));
        let NodeValue::Seq(items) = &root.get("b").expect("b").value else { panic!("not a seq") };
        assert_eq!((items[1].line, items[1].column), (4, 5));
        assert_eq!(items[1].value, NodeValue::Str("y".into()));
        assert_eq!(&*items[1].file, "f.yaml");
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse_document("f.yaml", "a: [1, 2\nb: 3\n").expect_err("unclosed flow sequence");
        assert_eq!(err.file, "f.yaml");
        assert!(err.line >= 1, "{err}");
        assert!(err.message.starts_with("invalid YAML"), "{err}");
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(parse_document("f", "").expect("parses").value, NodeValue::Null);
        assert_eq!(parse_document("f", "# only a comment\n").expect("parses").value, NodeValue::Null);
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        assert!(parse_document("f", "a: 1\na: 2\n").is_err());
    }
}

//! Action JSON as a compact tree: short strings inline and shared, objects sorted by key,
//! numbers exactly as written.
//!
//! Object members are kept in [`key_order`] (shorter keys first), which settles most
//! comparisons of a search on the lengths alone; they are written out in alphabetical order.

use std::cmp::Ordering;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smol_str::SmolStr;

/// One JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    /// A number, exactly as written (never rounded through floating point).
    Number(SmolStr),
    Text(SmolStr),
    Array(Box<[Node]>),
    /// Members sorted by key in [`key_order`]; no key appears twice.
    Object(Box<[(SmolStr, Node)]>),
}

impl Node {
    /// Parses JSON text. An object that repeats a key is an error: a bank's input must not
    /// mean two things.
    pub(crate) fn parse(text: &str) -> Result<Node, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        let node = Node::deserialize(&mut de).map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        Ok(node)
    }

    /// The member `key` of an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        let Node::Object(members) = self else { return None };
        member(members, key)
    }

    /// What kind of value this is, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Number(_) => "a number",
            Node::Text(_) => "text",
            Node::Array(_) => "an array",
            Node::Object(_) => "an object",
        }
    }

    /// Whether the value nests deeper than `limit` (looking no deeper than that).
    pub(crate) fn too_deep(&self, limit: usize) -> bool {
        let Some(below) = limit.checked_sub(1) else { return true };
        match self {
            Node::Array(items) => items.iter().any(|i| i.too_deep(below)),
            Node::Object(members) => members.iter().any(|(_, v)| v.too_deep(below)),
            _ => false,
        }
    }
}

/// The member `key` of an object's sorted members: a scan of a small object (most keys differ
/// in length from the one sought), a binary search of a large one.
pub(crate) fn member<'n>(members: &'n [(SmolStr, Node)], key: &str) -> Option<&'n Node> {
    if members.len() <= 8 {
        return members.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v);
    }
    let at = members.binary_search_by(|(k, _)| key_order(k, key)).ok()?;
    members.get(at).map(|(_, v)| v)
}

/// The order of an object's members: by length, then by bytes.
pub(crate) fn key_order(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// Whether `text` is a JSON number as serde_json writes the numbers it reads (the exponent as
/// `e` and a sign): `-?(0|[1-9][0-9]*)(\.[0-9]+)?(e[+-][0-9]+)?`. Every number [`Node::parse`]
/// reads is.
fn is_json_number(text: &str) -> bool {
    let mut rest = text.as_bytes();
    let digits = |rest: &mut &[u8]| {
        let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        *rest = rest.get(n..).unwrap_or_default();
        n
    };
    let eat = |rest: &mut &[u8], of: &[u8]| match rest.split_first() {
        Some((b, tail)) if of.contains(b) => {
            *rest = tail;
            true
        }
        _ => false,
    };
    eat(&mut rest, b"-");
    let leading_zero = rest.first() == Some(&b'0');
    match digits(&mut rest) {
        0 => return false,
        n if leading_zero && n > 1 => return false,
        _ => {}
    }
    if eat(&mut rest, b".") && digits(&mut rest) == 0 {
        return false;
    }
    if eat(&mut rest, b"e") && (!eat(&mut rest, b"+-") || digits(&mut rest) == 0) {
        return false;
    }
    rest.is_empty()
}

/// Bytewise order, settled by the first bytes where they differ (most keys of an object do)
/// without a call to compare the rest.
fn alphabetical(a: &str, b: &str) -> Ordering {
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(x), Some(y)) if x != y => x.cmp(y),
        _ => a.as_bytes().cmp(b.as_bytes()),
    }
}

/// Writes an object's members as a JSON object, in alphabetical order as JSON objects are
/// written elsewhere.
pub(crate) fn serialize_members<S: Serializer>(members: &[(SmolStr, Node)], s: S) -> Result<S::Ok, S::Error> {
    let mut sorted: Vec<&(SmolStr, Node)> = members.iter().collect();
    sorted.sort_unstable_by(|a, b| alphabetical(&a.0, &b.0));
    let mut map = s.serialize_map(Some(sorted.len()))?;
    for (k, v) in sorted {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

/// How serde_json (with `arbitrary_precision`) marks a number it passes as a map.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

impl<'de> DeserializeSeed<'de> for NodeVisitor {
    type Value = Node;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut members: Vec<(SmolStr, Node)> = Vec::new();
        while let Some(key) = map.next_key::<SmolStr>()? {
            if key == NUMBER_TOKEN && members.is_empty() {
                // serde_json hands an exact-precision number over as a one-entry map.
                let digits: SmolStr = map.next_value()?;
                return Ok(Node::Number(digits));
            }
            let value = map.next_value_seed(NodeVisitor)?;
            members.push((key, value));
        }
        members.sort_unstable_by(|a, b| key_order(&a.0, &b.0));
        if let Some(w) = members.windows(2).find(|w| matches!(w, [a, b] if a.0 == b.0)) {
            let key = w.first().map(|(k, _)| k.as_str()).unwrap_or_default();
            return Err(serde::de::Error::custom(format!("the key `{key}` appears twice in one object")));
        }
        Ok(Node::Object(members.into_boxed_slice()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(NodeVisitor)? {
            items.push(item);
        }
        Ok(Node::Array(items.into_boxed_slice()))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(smol_str::format_smolstr!("{v}")))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(smol_str::format_smolstr!("{v}")))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Number(smol_str::format_smolstr!("{v}")))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Number(smol_str::format_smolstr!("{v}")))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Node, E> {
        let n = serde_json::Number::from_f64(v).ok_or_else(|| E::custom("not a finite number"))?;
        Ok(Node::Number(n.to_string().into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Text(v.into()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Text(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => s.serialize_unit(),
            Node::Bool(b) => s.serialize_bool(*b),
            // A number as serde_json wrote it when reading it, handed over as its own numbers
            // are (with `arbitrary_precision`): no parse and no copy per number. Other digits
            // (a tree built in code) go through its parser, which normalises them or gives null.
            Node::Number(digits) if is_json_number(digits) => {
                let mut number = s.serialize_struct(NUMBER_TOKEN, 1)?;
                number.serialize_field(NUMBER_TOKEN, digits.as_str())?;
                number.end()
            }
            Node::Number(digits) => match digits.parse::<serde_json::Number>() {
                Ok(n) => n.serialize(s),
                Err(_) => s.serialize_unit(),
            },
            Node::Text(t) => s.serialize_str(t),
            Node::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Object(members) => serialize_members(members, s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_sorted_and_numbers_exact() {
        let node = Node::parse(r#"{"b": 1.10, "aa": [true, null, "x"], "c": 12345678901234567890123}"#).unwrap();
        let Node::Object(members) = &node else { panic!("not an object") };
        let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "c", "aa"]);
        assert!(matches!(node.get("aa"), Some(Node::Array(items)) if items.len() == 3));
        assert_eq!(node.get("b"), Some(&Node::Number("1.10".into())));
        assert_eq!(node.get("c"), Some(&Node::Number("12345678901234567890123".into())));
        assert_eq!(node.get("z"), None);
        // A large object is searched, not scanned.
        let large: String = (0..20).map(|i| format!("\"k{i}\": {i}")).collect::<Vec<_>>().join(", ");
        let large = Node::parse(&format!("{{{large}}}")).unwrap();
        assert_eq!(large.get("k13"), Some(&Node::Number("13".into())));
        assert_eq!(large.get("k7"), Some(&Node::Number("7".into())));
        assert_eq!(large.get("k20"), None);
        // Written in alphabetical order, numbers as written.
        assert_eq!(
            serde_json::to_string(&node).unwrap(),
            r#"{"aa":[true,null,"x"],"b":1.10,"c":12345678901234567890123}"#
        );
    }

    #[test]
    fn a_repeated_key_is_an_error() {
        let err = Node::parse(r#"{"a": 1, "b": {"x": 1, "x": 2}}"#).unwrap_err();
        assert!(err.contains("the key `x` appears twice"), "{err}");
    }

    #[test]
    fn from_a_serde_json_value_numbers_stay_exact() {
        let value: serde_json::Value = serde_json::from_str(r#"{"n": 0.1, "i": -7}"#).unwrap();
        let node = Node::deserialize(value).unwrap();
        assert_eq!(node.get("n"), Some(&Node::Number("0.1".into())));
        assert_eq!(node.get("i"), Some(&Node::Number("-7".into())));
    }

    #[test]
    fn integers_beyond_64_bits_are_numbers() {
        use serde::de::IntoDeserializer;
        let wide: Result<Node, serde::de::value::Error> = Node::deserialize(10u128.pow(30).into_deserializer());
        assert_eq!(wide.unwrap(), Node::Number("1000000000000000000000000000000".into()));
        let negative: Result<Node, serde::de::value::Error> = Node::deserialize((-5i128).into_deserializer());
        assert_eq!(negative.unwrap(), Node::Number("-5".into()));
    }

    #[test]
    fn depth_is_measured() {
        let node = Node::parse("[[[1]]]").unwrap();
        assert!(!node.too_deep(4));
        assert!(node.too_deep(3));
    }

    #[test]
    fn numbers_as_serde_json_writes_them_are_told_from_other_text() {
        for number in ["0", "-0", "7", "-12", "1.10", "0.5", "1e+5", "-2.5e-3", "12345678901234567890123"] {
            assert!(is_json_number(number), "{number}");
            assert_eq!(Node::parse(number).unwrap(), Node::Number(number.into()));
        }
        // Not JSON, or JSON that serde_json writes otherwise (`1e+5`).
        for other in ["", "-", "01", "-01", "1.", ".5", "1e", "1e+", "+1", "1 ", "0x10", "1.2.3", "NaN", "1e5", "1E+5"]
        {
            assert!(!is_json_number(other), "{other}");
        }
    }

    /// The canonical JSON the general way: each number through serde_json's parser, each object
    /// into a map that keeps its keys in order, members inserted in alphabetical order.
    fn general(node: &Node) -> serde_json::Value {
        use serde_json::Value;
        match node {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(digits) => digits.parse::<serde_json::Number>().map_or(Value::Null, Value::Number),
            Node::Text(t) => Value::String(t.to_string()),
            Node::Array(items) => Value::Array(items.iter().map(general).collect()),
            Node::Object(members) => {
                let mut sorted: Vec<&(SmolStr, Node)> = members.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(sorted.into_iter().map(|(k, v)| (k.to_string(), general(v))).collect())
            }
        }
    }

    fn nodes() -> impl proptest::strategy::Strategy<Value = Node> {
        use proptest::prelude::*;
        let number = prop_oneof![
            "-?(0|[1-9][0-9]{0,24})([.][0-9]{1,12})?([eE][+-]?[0-9]{1,3})?",
            "-?(0|[1-9][0-9]{0,24})([.][0-9]{1,12})?(e[+-][0-9]{1,3})?",
            "[-+.eE0-9a ]{0,8}",
        ];
        let leaf = prop_oneof![
            Just(Node::Null),
            any::<bool>().prop_map(Node::Bool),
            number.prop_map(|d: String| Node::Number(d.into())),
            "(?s).{0,12}".prop_map(|t: String| Node::Text(t.into())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(|v| Node::Array(v.into_boxed_slice())),
                proptest::collection::btree_map("[a-zA-Z_]{0,6}", inner, 0..8).prop_map(|m| {
                    let mut members: Vec<(SmolStr, Node)> = m.into_iter().map(|(k, v)| (k.into(), v)).collect();
                    members.sort_unstable_by(|a, b| key_order(&a.0, &b.0));
                    Node::Object(members.into_boxed_slice())
                }),
            ]
        })
    }

    proptest::proptest! {
        /// Numbers handed over as written give the text their parse and serialisation would.
        #[test]
        fn canonical_text_is_the_general_text(node in nodes()) {
            proptest::prop_assert_eq!(serde_json::to_string(&node).unwrap(), serde_json::to_string(&general(&node)).unwrap());
        }
    }
}

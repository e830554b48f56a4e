//! A serializer-neutral value, for Options/Details dicts and for payloads the router must read
//! or transcode.
//!
//! Owns: [`Value`] and [`Dict`]. Never: encoding (see `codec`). Payloads on the hot path stay raw
//! bytes (`Payload::Raw`) and are turned into values only to transcode between serializers.

use std::collections::HashMap;

/// Dicts up to this many entries are deduplicated by scanning; larger ones through a hash index.
const SMALL_DICT: usize = 16;

/// A WAMP value. Integers keep their sign class: non-negative decode as [`Value::UInt`], negative
/// as [`Value::Int`], so round trips through any serializer compare equal.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null` / nil.
    Null,
    /// A boolean.
    Bool(bool),
    /// A negative integer (non-negative ones are always `UInt`).
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// A floating-point number.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// Binary data (JSON carries it as `"\u0000" + base64`).
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Value>),
    /// A dict with string keys.
    Dict(Dict),
}

impl Value {
    /// An integer value in canonical form (`UInt` when non-negative).
    pub fn int(v: i64) -> Value {
        if v >= 0 {
            Value::UInt(v as u64)
        } else {
            Value::Int(v)
        }
    }

    /// The value as a string slice, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a bool, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The value as a non-negative integer, if it is one.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::UInt(v) => Some(*v),
            _ => None,
        }
    }

    /// The value as a list, if it is one.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The value as a dict, if it is one.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::UInt(v)
    }
}

impl From<Dict> for Value {
    fn from(d: Dict) -> Value {
        Value::Dict(d)
    }
}

/// A dict with string keys, in insertion order. Options and Details have a handful of keys, so a
/// vector beats a hash map for lookups; a later insert of the same key replaces the earlier value.
/// Decoders build dicts with [`Dict::from_entries`], which stays linear however many keys a peer
/// sends.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dict(Vec<(String, Value)>);

impl Dict {
    /// An empty dict.
    pub fn new() -> Dict {
        Dict(Vec::new())
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A dict of `entries` in order; a repeated key keeps its first position and its last value.
    /// Linear in the number of entries (a hash index removes duplicates in large inputs).
    pub fn from_entries(mut entries: Vec<(String, Value)>) -> Dict {
        if entries.len() <= SMALL_DICT {
            let mut d = Dict(Vec::with_capacity(entries.len()));
            for (k, v) in entries {
                d.insert(k, v);
            }
            return d;
        }
        let mut first: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
        let mut keep = vec![true; entries.len()];
        let mut moves = Vec::new();
        for (i, (k, _)) in entries.iter().enumerate() {
            match first.get(k.as_str()) {
                Some(&at) => {
                    keep[i] = false;
                    moves.push((i, at));
                }
                None => {
                    first.insert(k.as_str(), i);
                }
            }
        }
        drop(first);
        for (from, to) in moves {
            let v = std::mem::replace(&mut entries[from].1, Value::Null);
            entries[to].1 = v;
        }
        let mut i = 0;
        entries.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        Dict(entries)
    }

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Builder form of [`Dict::insert`].
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Dict {
        self.insert(key, value);
        self
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if the dict has no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `key` as a bool, if present and a bool.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }

    /// `key` as a string, if present and a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

impl FromIterator<(String, Value)> for Dict {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Dict {
        Dict::from_entries(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dict_insert_replaces_existing_key() {
        let mut d = Dict::new().with("a", 1u64).with("b", true);
        d.insert("a", "x");
        assert_eq!(d.len(), 2);
        assert_eq!(d.get_str("a"), Some("x"));
        assert_eq!(d.get_bool("b"), Some(true));
        assert_eq!(d.get("c"), None);
    }

    #[test]
    fn from_entries_keeps_first_position_and_last_value_of_repeated_keys() {
        for n in [3usize, 100] {
            let mut entries: Vec<(String, Value)> = (0..n).map(|i| (format!("k{i}"), Value::UInt(i as u64))).collect();
            entries.push(("k1".into(), Value::from("last")));
            let d = Dict::from_entries(entries);
            assert_eq!(d.len(), n);
            assert_eq!(d.get_str("k1"), Some("last"));
            assert_eq!(d.iter().nth(1).map(|(k, _)| k), Some("k1"));
            assert_eq!(d.iter().last().map(|(k, _)| k.to_owned()), Some(format!("k{}", n - 1)));
        }
    }

    #[test]
    fn from_entries_keeps_every_distinct_key_of_a_large_dict_in_order() {
        let entries: Vec<(String, Value)> = (0..200_000).map(|i| (format!("k{i}"), Value::UInt(i))).collect();
        let d = Dict::from_entries(entries);
        assert_eq!(d.len(), 200_000);
        assert!(d.iter().enumerate().all(|(i, (k, v))| k == format!("k{i}") && *v == Value::UInt(i as u64)));
    }

    #[test]
    fn int_uses_uint_for_non_negative_values() {
        assert_eq!(Value::int(5), Value::UInt(5));
        assert_eq!(Value::int(-5), Value::Int(-5));
    }
}

//! The values a template works on: ko's data is maps of strings,
//! integers (`.Timestamp`, `.Git.CommitTimestamp`) and booleans
//! (`.Git.IsDirty`), and these are what Go's functions compare and print.

use super::lex::outside;
use std::cmp::Ordering;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Map(Map),
    /// What `index` finds for a missing key of a map of any values.
    Nil,
}

/// A map with string keys, as ko's template data has.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    pub entries: BTreeMap<String, Value>,
    /// A `map[string]string` (`.Env`, `.GoEnv`), whose missing keys `index`
    /// reads as `""`; otherwise a `map[string]any`, whose missing keys are nil.
    pub of_strings: bool,
}

impl Map {
    /// A map of strings.
    pub fn strings(entries: &BTreeMap<String, String>) -> Map {
        Map {
            entries: entries
                .iter()
                .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
                .collect(),
            of_strings: true,
        }
    }

    /// A map of any values.
    pub fn values(entries: impl IntoIterator<Item = (&'static str, Value)>) -> Map {
        Map {
            entries: entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            of_strings: false,
        }
    }
}

impl Value {
    /// Go's name for the type, as its messages say it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Int(_) => "int",
            Value::Bool(_) => "bool",
            Value::Map(_) => "map",
            Value::Nil => "nil",
        }
    }

    /// text/template's truth: false, 0, "", an empty map and nil are false.
    pub fn truth(&self) -> bool {
        match self {
            Value::Str(s) => !s.is_empty(),
            Value::Int(i) => *i != 0,
            Value::Bool(b) => *b,
            Value::Map(m) => !m.entries.is_empty(),
            Value::Nil => false,
        }
    }

    /// The value as an action prints it. Go would print a map as
    /// `map[K:V ...]` and nil as `<no value>`: neither belongs in a flag.
    pub fn print(&self) -> Result<String, String> {
        match self {
            Value::Str(s) => Ok(s.clone()),
            Value::Int(i) => Ok(i.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Map(_) => Err(outside("a value that prints a map")),
            Value::Nil => Err(outside("a value that prints no value (<no value>)")),
        }
    }

    /// `eq`'s comparison of two values.
    pub fn equals(&self, other: &Value) -> Result<bool, String> {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => Ok(a == b),
            (Value::Int(a), Value::Int(b)) => Ok(a == b),
            (Value::Bool(a), Value::Bool(b)) => Ok(a == b),
            (Value::Map(_), _) | (_, Value::Map(_)) => Err("non-comparable type map".to_string()),
            _ => Err("incompatible types for comparison".to_string()),
        }
    }

    /// `lt`'s comparison: strings and integers only.
    pub fn order(&self, other: &Value) -> Result<Ordering, String> {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => Ok(a.cmp(b)),
            (Value::Int(a), Value::Int(b)) => Ok(a.cmp(b)),
            (Value::Str(_) | Value::Int(_), Value::Str(_) | Value::Int(_)) => {
                Err("incompatible types for comparison".to_string())
            }
            _ => Err("invalid type for comparison".to_string()),
        }
    }
}

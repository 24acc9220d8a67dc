//! Canonical JSON: the one way rko turns a value into bytes.
//!
//! oci-spec keeps annotations and labels in `HashMap`s, whose iteration order
//! changes from run to run. Going through `serde_json::Value` (a `BTreeMap`,
//! since nothing enables serde_json's `preserve_order`) sorts every object's
//! keys, so the same value always gives the same bytes, as Go's encoder does
//! for maps.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

/// Compact JSON with object keys sorted, byte-identical for equal values.
pub fn to_canonical_vec<T: Serialize>(value: &T) -> Vec<u8> {
    let value = serde_json::to_value(value).expect("rko's own types always serialize");
    serde_json::to_vec(&value).expect("a serde_json::Value always serializes")
}

/// Reads and parses a JSON file, naming the file and what it should hold on error.
pub fn read_file<T: DeserializeOwned>(path: &Path, what: &'static str) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    parse(&bytes, path, what)
}

/// Parses JSON bytes that came from `path`.
pub fn parse<T: DeserializeOwned>(bytes: &[u8], path: &Path, what: &'static str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::Json {
        what,
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn object_keys_come_out_sorted_whatever_the_map_order() {
        let mut map = HashMap::new();
        for key in ["zeta", "alpha", "mu", "beta", "omega", "gamma"] {
            map.insert(key.to_string(), 1);
        }
        assert_eq!(
            String::from_utf8(to_canonical_vec(&map)).unwrap(),
            r#"{"alpha":1,"beta":1,"gamma":1,"mu":1,"omega":1,"zeta":1}"#
        );
    }
}

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

    /// Found by fuzzing (fuzz/, target image_config): a float in a base
    /// image's config was read one unit in the last place off, so the
    /// config rko wrote held another number than the base's.
    #[test]
    fn numbers_are_written_as_they_were_read() {
        for number in [
            "1.6666658331666e+46",
            "0.1",
            "5e-324",
            "1.7976931348623157e308",
        ] {
            // Rust's own parser is exact.
            let want: f64 = number.parse().unwrap();
            let value: serde_json::Value =
                serde_json::from_str(&format!("{{\"n\":{number}}}")).unwrap();
            assert_eq!(value["n"].as_f64(), Some(want), "{number} read");
            let written: serde_json::Value =
                serde_json::from_slice(&to_canonical_vec(&value)).unwrap();
            assert_eq!(written["n"].as_f64(), Some(want), "{number} written");
        }
    }

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

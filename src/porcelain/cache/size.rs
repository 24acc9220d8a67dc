//! `KOCACHE`'s size cap: sizes as people write them (`5GB`, `500MB`,
//! `2GiB`), as rko prints them, and `KOCACHE_MAX_SIZE`.
//!
//! ko has no cap (its `KOCACHE` only grows); the variable is named after
//! `KOCACHE` and written like ccache's `max_size`: decimal units (`k`, `M`,
//! `G`, `T`, each optionally followed by `B`), binary ones (`Ki`, `Mi`,
//! `Gi`, `Ti`, optionally `B`), or a plain number of bytes.

use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// The cap when `KOCACHE_MAX_SIZE` is not set.
pub const DEFAULT_MAX_SIZE: u64 = 5_000_000_000;

/// The variable that sets the cap.
pub const VARIABLE: &str = "KOCACHE_MAX_SIZE";

/// `KOCACHE_MAX_SIZE` from the environment `env`: `None` for `off`, the
/// default when unset.
pub fn cap(env: &BTreeMap<String, String>) -> Result<Option<u64>> {
    match env
        .get(VARIABLE)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        None => Ok(Some(DEFAULT_MAX_SIZE)),
        Some("off") => Ok(None),
        Some(text) => parse(text).map(Some).ok_or_else(|| {
            Error::invalid(format!(
                "{VARIABLE}={text:?} is not a size: write bytes with an optional unit \
                 (5GB, 500MB, 2GiB) or off for no cap"
            ))
        }),
    }
}

/// `text` as a number of bytes, if it is a size.
pub fn parse(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        _ => return None,
    };
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    match number.split_once('.') {
        None => number.parse::<u64>().ok()?.checked_mul(multiplier),
        Some(_) => {
            let bytes = number.parse::<f64>().ok()? * multiplier as f64;
            (bytes < u64::MAX as f64).then_some(bytes.round() as u64)
        }
    }
}

/// `bytes` for people, in decimal units with one decimal: `3.0 MB`.
pub fn format(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `bytes` for people and exactly: `3.0 MB (3000000 bytes)`.
pub fn describe(bytes: u64) -> String {
    format!("{} ({bytes} bytes)", format(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_in_decimal_and_binary_units() {
        let cases: [(&str, Option<u64>); 17] = [
            ("1234", Some(1234)),
            ("0", Some(0)),
            ("5GB", Some(5_000_000_000)),
            ("5G", Some(5_000_000_000)),
            ("5 gb", Some(5_000_000_000)),
            ("500MB", Some(500_000_000)),
            ("3kB", Some(3_000)),
            ("2GiB", Some(2 << 30)),
            ("2Gi", Some(2 << 30)),
            ("1.5GB", Some(1_500_000_000)),
            ("1TB", Some(1_000_000_000_000)),
            ("12B", Some(12)),
            ("lots", None),
            ("12XB", None),
            ("GB", None),
            ("1.GB", None),
            ("99999999999TB", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), want, "{text}");
        }
    }

    #[test]
    fn sizes_print_in_decimal_units() {
        let cases = [
            (0, "0 B"),
            (999, "999 B"),
            (1_500, "1.5 kB"),
            (3_000_000, "3.0 MB"),
            (999_960, "1.0 MB"),
            (5_000_000_000, "5.0 GB"),
            (12_300_000_000_000, "12.3 TB"),
        ];
        for (bytes, want) in cases {
            assert_eq!(format(bytes), want, "{bytes}");
        }
    }

    #[test]
    fn the_cap_comes_from_kocache_max_size() {
        let env = |value: Option<&str>| -> BTreeMap<String, String> {
            value
                .map(|v| [(VARIABLE.to_string(), v.to_string())].into())
                .unwrap_or_default()
        };
        // (KOCACHE_MAX_SIZE, the cap or the start of the error)
        type Case = (Option<&'static str>, Result<Option<u64>, &'static str>);
        let cases: [Case; 5] = [
            (None, Ok(Some(DEFAULT_MAX_SIZE))),
            (Some(""), Ok(Some(DEFAULT_MAX_SIZE))),
            (Some("off"), Ok(None)),
            (Some("2GB"), Ok(Some(2_000_000_000))),
            (Some("lots"), Err("KOCACHE_MAX_SIZE=\"lots\" is not a size")),
        ];
        for (value, want) in cases {
            match (cap(&env(value)), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{value:?}"),
                (Err(got), Err(want)) => assert!(got.to_string().starts_with(want), "{got}"),
                (got, want) => panic!("{value:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}

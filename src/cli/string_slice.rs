//! ko's string-slice flags (spf13/pflag's `StringSlice`: `--platform`,
//! `--tags`, `--ldflags`, `--image-label`, `--image-annotation`,
//! `--filename`): each value is one CSV record, so `--ldflags=-s,-w` is two
//! values and `--ldflags "-s -w"` one.

use rko::{Error, Result};

/// The values of a ko string-slice flag, in order: pflag reads each as
/// one CSV record, so each is split at its commas, and a field in double
/// quotes may hold commas (`""` for a quote).
pub fn csv_values(flag: &str, values: &[String]) -> Result<Vec<String>> {
    // pflag replaces the default with the first value given, then appends;
    // clap does the same with `default_value`.
    let mut fields = Vec::new();
    for value in values {
        fields.extend(
            csv_record(value).map_err(|why| Error::invalid(format!("{flag} {value:?}: {why}")))?,
        );
    }
    Ok(fields)
}

/// One CSV record as Go's encoding/csv reads it (no lazy quotes); empty
/// for an empty value, as pflag's `readAsCSV`.
fn csv_record(value: &str) -> std::result::Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    if value.is_empty() {
        return Ok(fields);
    }
    let mut chars = value.chars().peekable();
    loop {
        let mut field = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
        }
        let ended = loop {
            match (chars.next(), quoted) {
                (None, true) => return Err("a quoted field has no closing quote"),
                (None, false) => break true,
                (Some('"'), true) if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (Some('"'), true) => match chars.next() {
                    None => break true,
                    Some(',') => break false,
                    Some(_) => return Err("text after a closing quote: quote the whole field"),
                },
                (Some('"'), false) => {
                    return Err("a quote inside a field: quote the whole field (\"…\")")
                }
                (Some(','), false) => break false,
                (Some(c), _) => field.push(c),
            }
        };
        fields.push(field);
        if ended {
            return Ok(fields);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_slice_values_split_as_pflag_reads_them() {
        // Checked against ko v0.19.1: `--ldflags=-s,-w` and `--ldflags "-s -w"`
        // give go build the same -ldflags.
        let ok = |v: &[&str]| Ok(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        for (value, want) in [
            ("", ok(&[])),
            ("-s", ok(&["-s"])),
            ("-s -w", ok(&["-s -w"])),
            ("-s,-w", ok(&["-s", "-w"])),
            ("-X main.v=1,-s", ok(&["-X main.v=1", "-s"])),
            ("linux", ok(&["linux"])),
            ("a=1", ok(&["a=1"])),
            ("a=1,b=2", ok(&["a=1", "b=2"])),
            ("a=1,", ok(&["a=1", ""])),
            (",", ok(&["", ""])),
            ("\"a=1,2\",b=3", ok(&["a=1,2", "b=3"])),
            ("\"a=\"\"x\"\"\"", ok(&["a=\"x\""])),
            ("b=3,\"a=1,2\"", ok(&["b=3", "a=1,2"])),
            (
                "a=\"1\"",
                Err("a quote inside a field: quote the whole field (\"…\")"),
            ),
            ("\"a=1", Err("a quoted field has no closing quote")),
            (
                "\"a\"=1",
                Err("text after a closing quote: quote the whole field"),
            ),
        ] {
            assert_eq!(csv_record(value), want, "{value:?}");
        }
    }
}

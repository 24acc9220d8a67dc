//! Why a rebuild differs: the first difference between the two images (a
//! manifest annotation, a layer and the tar entry in it, a config field)
//! and the recorded inputs that differ from the rebuild's (the Go
//! version, the tree, `SOURCE_DATE_EPOCH`, the base image).

use crate::error::Result;
use crate::image::layout::Layout;
use crate::provenance::statement::Recorded;
use oci_spec::image::{Descriptor, ImageManifest};
use serde_json::Value;
use std::io::Read;

/// The first difference between the image `original` of layout `a` and
/// `rebuilt` of layout `b`, in words.
pub fn first(
    a: &Layout,
    original: &ImageManifest,
    b: &Layout,
    rebuilt: &ImageManifest,
) -> Result<String> {
    if original.annotations() != rebuilt.annotations() {
        let (x, y) = (json(original.annotations()), json(rebuilt.annotations()));
        return Ok(format!(
            "manifest annotations: {}",
            value_difference("", &x, &y)
        ));
    }
    let (xs, ys) = (original.layers(), rebuilt.layers());
    for (i, (x, y)) in xs.iter().zip(ys).enumerate() {
        if x.digest() != y.digest() {
            let entry =
                tar_difference(a, x, b, y).unwrap_or_else(|e| format!("(its entries unread: {e})"));
            return Ok(format!(
                "layer {} ({} vs {}): {entry}",
                i + 1,
                x.digest(),
                y.digest()
            ));
        }
    }
    if xs.len() != ys.len() {
        return Ok(format!("{} layers, the rebuild has {}", xs.len(), ys.len()));
    }
    if original.config().digest() != rebuilt.config().digest() {
        let x: Value = a.read_json(original.config(), "image config")?;
        let y: Value = b.read_json(rebuilt.config(), "image config")?;
        return Ok(format!("config {}", value_difference("", &x, &y)));
    }
    Ok("the manifests differ in their media types or sizes".to_string())
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The first path at which `x` and `y` differ, with both values.
fn value_difference(path: &str, x: &Value, y: &Value) -> String {
    match (x, y) {
        (Value::Object(xm), Value::Object(ym)) => {
            let mut keys: Vec<&String> = xm.keys().chain(ym.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let (xv, yv) = (
                    xm.get(key).unwrap_or(&Value::Null),
                    ym.get(key).unwrap_or(&Value::Null),
                );
                if xv != yv {
                    return value_difference(&format!("{path}.{key}"), xv, yv);
                }
            }
        }
        (Value::Array(xa), Value::Array(ya)) if xa.len() == ya.len() => {
            for (i, (xv, yv)) in xa.iter().zip(ya).enumerate() {
                if xv != yv {
                    return value_difference(&format!("{path}[{i}]"), xv, yv);
                }
            }
        }
        _ => {}
    }
    let path = path.trim_start_matches('.');
    format!("field {path}: {x} in the image, {y} in the rebuild")
}

/// One tar entry as compared: name, then what may differ.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    name: String,
    mode: u32,
    mtime: u64,
    size: u64,
    content: String,
}

/// The first tar entry that differs between two layers.
fn tar_difference(a: &Layout, x: &Descriptor, b: &Layout, y: &Descriptor) -> Result<String> {
    let (xs, ys) = (entries(a, x)?, entries(b, y)?);
    for (x, y) in xs.iter().zip(&ys) {
        if x == y {
            continue;
        }
        let what = if x.name != y.name {
            format!(
                "tar entry {} in the image, {} in the rebuild",
                x.name, y.name
            )
        } else if x.content != y.content {
            format!(
                "tar entry {}: its content differs ({} vs {} bytes)",
                x.name, x.size, y.size
            )
        } else if x.mtime != y.mtime {
            format!(
                "tar entry {}: mtime {} in the image, {} in the rebuild",
                x.name, x.mtime, y.mtime
            )
        } else {
            format!(
                "tar entry {}: mode {:o} in the image, {:o} in the rebuild",
                x.name, x.mode, y.mode
            )
        };
        return Ok(what);
    }
    Ok(format!(
        "{} tar entries in the image, {} in the rebuild",
        xs.len(),
        ys.len()
    ))
}

/// A gzip (or plain) tar layer's entries.
fn entries(layout: &Layout, layer: &Descriptor) -> Result<Vec<Entry>> {
    let bytes = layout.read_blob(layer)?;
    let plain = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| crate::error::Error::invalid(format!("layer {}: {e}", layer.digest())))?;
        out
    } else {
        bytes
    };
    let broken =
        |e: std::io::Error| crate::error::Error::invalid(format!("layer {}: {e}", layer.digest()));
    let mut archive = tar::Archive::new(plain.as_slice());
    let mut found = Vec::new();
    for entry in archive.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        let header = entry.header().clone();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).map_err(broken)?;
        found.push(Entry {
            name: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
            mode: header.mode().unwrap_or(0),
            mtime: header.mtime().unwrap_or(0),
            size: content.len() as u64,
            content: crate::digest::sha256(&content).to_string(),
        });
    }
    Ok(found)
}

/// The recorded inputs that differ from the rebuild's, most likely cause
/// first, in words.
pub fn causes(recorded: &Recorded, rebuilt: &Recorded) -> Vec<String> {
    let mut said = Vec::new();
    let mut differs = |what: &str, x: String, y: String| {
        if x != y {
            said.push(format!("{what}: {x} in the image, {y} in the rebuild"));
        }
    };
    let source = |r: &Recorded| {
        r.source.as_ref().map_or("no revision".to_string(), |s| {
            format!(
                "revision {}{}",
                s.revision,
                if s.clean {
                    ""
                } else {
                    " with uncommitted changes"
                }
            )
        })
    };
    let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_string());
    let epoch = |r: &Recorded| {
        r.source_date_epoch
            .map_or("unset".to_string(), |e| e.to_string())
    };
    let base = |r: &Recorded| {
        r.base
            .digest
            .as_ref()
            .map_or(r.base.name.clone(), |d| format!("{}@{d}", r.base.name))
    };
    differs(
        "the Go version",
        recorded.go_version.clone(),
        rebuilt.go_version.clone(),
    );
    differs("the source tree", source(recorded), source(rebuilt));
    differs("SOURCE_DATE_EPOCH", epoch(recorded), epoch(rebuilt));
    differs("the base image", base(recorded), base(rebuilt));
    differs(
        "the -ldflags go build got",
        shown(&recorded.ldflags_rendered),
        shown(&rebuilt.ldflags_rendered),
    );
    differs(
        ".ko.yaml (sha256)",
        shown(&recorded.ko_yaml),
        shown(&rebuilt.ko_yaml),
    );
    differs(
        "rko's version",
        recorded.rko_version.clone(),
        rebuilt.rko_version.clone(),
    );
    said
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_differing_field_is_named() {
        let cases = [
            (
                json!({"a": 1, "b": 2}),
                json!({"a": 1, "b": 3}),
                "field b: 2 in the image, 3 in the rebuild",
            ),
            (
                json!({"config": {"Env": ["A=1", "B=2"]}}),
                json!({"config": {"Env": ["A=1", "B=3"]}}),
                r#"field config.Env[1]: "B=2" in the image, "B=3" in the rebuild"#,
            ),
            (
                json!({"created": "x"}),
                json!({}),
                r#"field created: "x" in the image, null in the rebuild"#,
            ),
        ];
        for (x, y, want) in cases {
            assert_eq!(value_difference("", &x, &y), want);
        }
    }
}

//! `resolve-yaml`'s `ko://` replacement over any YAML the user gives: the
//! text scans or is refused; with nothing resolved the output is the input;
//! with every reference resolved the output is YAML whose events are the
//! input's, each `ko://` scalar replaced by its reference and nothing else
//! changed. A selector (the first line, when it starts with `#l `) keeps
//! the matching documents, each still YAML.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rko::{prepare_yaml, Selector, YamlInput};
use saphyr_parser::{Event, Parser};
use std::collections::BTreeMap;

/// The events of `text` as comparable text (markers and styles left out:
/// a plain `ko://a` may become a plain reference), or `None` if it is not YAML.
fn events(text: &str, resolved: &BTreeMap<String, String>) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for item in Parser::new_from_str(text) {
        let (event, _) = item.ok()?;
        out.push(match event {
            Event::Scalar(value, _, anchor, tag) => {
                let value = value
                    .strip_prefix("ko://")
                    .and_then(|path| resolved.get(path))
                    .map_or(value.to_string(), Clone::clone);
                format!("scalar {value:?} {anchor} {tag:?}")
            }
            other => format!("{other:?}"),
        });
    }
    Some(out)
}

fuzz_target!(|text: &str| {
    let input = |text: &str| YamlInput {
        name: "fuzz.yaml".into(),
        text: text.into(),
    };
    let selector = text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("#l "))
        .and_then(|s| s.parse::<Selector>().ok());
    let Ok(prepared) = prepare_yaml(vec![input(text)], None) else {
        return;
    };
    let (out, missing) = prepared.render(&BTreeMap::new());
    assert_eq!(out, text);
    let paths = prepared.import_paths();
    assert_eq!(missing, paths);

    let resolved: BTreeMap<String, String> = paths
        .iter()
        .enumerate()
        .map(|(i, path)| {
            (
                path.clone(),
                format!("registry.example/p{i}@sha256:{i:064}"),
            )
        })
        .collect();
    let (out, missing) = prepared.render(&resolved);
    assert!(missing.is_empty());
    let before = events(text, &resolved).expect("the input scanned as YAML");
    let after =
        events(&out, &BTreeMap::new()).unwrap_or_else(|| panic!("the output is not YAML: {out:?}"));
    assert_eq!(before, after, "{out:?}");

    if let Some(selector) = selector {
        let selected = prepare_yaml(vec![input(text)], Some(&selector)).expect("it scanned once");
        let (out, _) = selected.render(&resolved);
        let again = prepare_yaml(vec![input(&out)], None)
            .unwrap_or_else(|e| panic!("the selected documents {out:?} do not scan: {e}"));
        assert!(again.import_paths().is_empty(), "{out:?}");
    }
});

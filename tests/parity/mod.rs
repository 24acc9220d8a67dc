//! ko parity proved side by side (issue 20): every fixture in
//! `tests/parity/fixtures/` runs through the real ko (pinned in
//! scripts/peers.txt) and through rko, with the same module, command line
//! and environment, against the same registry and base image; then
//! everything each left behind is compared field by field: exit status and
//! error, printed references, tags in the registry, manifests, configs,
//! layer diffIDs (with the first differing tar header when they differ),
//! SBOMs, `--image-refs`, `--oci-layout-path`, `--tarball` and log lines.
//!
//! A difference passes only when `tests/parity/differences.yaml` lists it
//! with its reason; a listed difference that no longer happens fails too,
//! so the list stays true. `RKO_PARITY=NAME,...` runs only those fixtures;
//! `RKO_PARITY_BIN=PATH` compares another rko binary (an older build).
//! The table of the run is written to `target/parity-report.md`.

mod fixture;
mod observe;
mod podman;
mod run;
mod tarview;
mod view;

use crate::util::registry::{Auth, Registry};
use crate::util::{repo_root, rko, run_ok};
use fixture::Fixture;
use observe::{Observation, Observer};
use run::{Stage, Tool};
use serde::Deserialize;
use std::fmt::Write as _;

/// One intended difference.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Listed {
    /// Fixture names it applies to (`*` matches any run of characters).
    fixture: String,
    /// The field, as the harness names it (globs as above).
    field: String,
    /// Why rko differs on purpose, or why it cannot match.
    reason: String,
}

/// One field that differs.
struct Difference {
    fixture: String,
    about: String,
    field: String,
    ko: String,
    rko: String,
    /// Why, where the harness can tell (the first differing tar header).
    detail: String,
}

#[test]
fn every_fixture_matches_ko_or_its_difference_is_listed() {
    let registry = Registry::start(Auth::None);
    // ko takes an --oci-layout-path for a repository name, which must be
    // lower case: the scratch directory's name is.
    let root = tempfile::Builder::new()
        .prefix(&format!("rko-parity-{}-", std::process::id()))
        .rand_bytes(0)
        .tempdir()
        .unwrap();
    let stage = Stage {
        registry: registry.host(),
        base: push_base(&registry.host(), root.path()),
        root: root.path().to_path_buf(),
        podman: podman::PodmanService::start(&root.path().join("podman")),
    };
    let listed: Vec<Listed> = serde_norway::from_str(
        &std::fs::read_to_string(repo_root().join("tests/parity/differences.yaml")).unwrap(),
    )
    .expect("tests/parity/differences.yaml");
    let only: Option<Vec<String>> = std::env::var("RKO_PARITY")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    let fixtures: Vec<Fixture> = Fixture::all(&repo_root().join("tests/parity/fixtures"))
        .into_iter()
        .filter(|f| only.as_ref().is_none_or(|o| o.contains(&f.name)))
        .collect();
    if only.is_none() {
        assert!(
            fixtures.len() >= 25,
            "issue 20 asks for at least 25 fixtures"
        );
    }

    let mut report =
        String::from("| fixture | names | config | diffIDs | other |\n|---|---|---|---|---|\n");
    let mut unlisted = Vec::new();
    let mut used = vec![false; listed.len()];
    for fixture in &fixtures {
        let differences = compare(&stage, fixture);
        let mut cells = [(0, 0); 4];
        for difference in differences {
            let column = column_of(&difference.field);
            match listed.iter().position(|l| {
                glob(&l.fixture, &difference.fixture) && glob(&l.field, &difference.field)
            }) {
                Some(i) => {
                    used[i] = true;
                    cells[column].1 += 1;
                }
                None => {
                    cells[column].0 += 1;
                    unlisted.push(difference);
                }
            }
        }
        let cell = |(unlisted, listed): (usize, usize)| match (unlisted, listed) {
            (0, 0) => "same".to_string(),
            (0, n) => format!("{n} listed"),
            (n, 0) => format!("**{n} differ**"),
            (n, m) => format!("**{n} differ**, {m} listed"),
        };
        writeln!(
            report,
            "| {} | {} | {} | {} | {} |",
            fixture.name,
            cell(cells[0]),
            cell(cells[1]),
            cell(cells[2]),
            cell(cells[3])
        )
        .unwrap();
    }
    let _ = std::fs::write(repo_root().join("target/parity-report.md"), &report);
    eprintln!("{report}");

    let mut failure = String::new();
    for d in &unlisted {
        writeln!(
            failure,
            "{} ({}): {}\n    ko:  {}\n    rko: {}{}",
            d.fixture,
            d.about,
            d.field,
            d.ko,
            d.rko,
            if d.detail.is_empty() {
                String::new()
            } else {
                format!("\n    why: {}", d.detail)
            }
        )
        .unwrap();
    }
    if only.is_none() {
        for (entry, used) in listed.iter().zip(&used) {
            if !used {
                writeln!(
                    failure,
                    "listed but no longer different ({} / {}): {}; take it out of differences.yaml",
                    entry.fixture, entry.field, entry.reason
                )
                .unwrap();
            }
        }
    }
    assert!(
        failure.is_empty(),
        "rko differs from ko where tests/parity/differences.yaml does not say why:\n{failure}"
    );
}

/// Runs both tools on `fixture` and lists every field that differs.
fn compare(stage: &Stage, fixture: &Fixture) -> Vec<Difference> {
    stage.prepare(fixture);
    // Each tool's results are read before the other runs: with -L both
    // load the same names into the one daemon.
    let ko = stage.run(fixture, Tool::Ko);
    let ko_view = Observer::new(stage, fixture, &ko);
    let ko_seen = ko_view.observe();
    let rko = stage.run(fixture, Tool::Rko);
    let rko_view = Observer::new(stage, fixture, &rko);
    let rko_seen = rko_view.observe();
    let mut differences = Vec::new();
    let missing = "(none)".to_string();
    let fields: std::collections::BTreeSet<&String> =
        ko_seen.keys().chain(rko_seen.keys()).collect();
    // An image only one tool made is one difference, not one per field.
    let image_of = |field: &str| {
        let (image, _) = field.strip_prefix('[')?.split_once(']')?;
        Some(format!("[{image}]"))
    };
    let has = |seen: &Observation, image: &str| {
        seen.keys().any(|k| image_of(k).as_deref() == Some(image))
    };
    let only_one_side =
        |field: &str| image_of(field).filter(|image| has(&ko_seen, image) != has(&rko_seen, image));
    let mut reported_images = Vec::new();
    for field in fields {
        if let Some(image) = only_one_side(field) {
            if !reported_images.contains(&image) {
                reported_images.push(image.clone());
                let made = |seen: &Observation| {
                    if has(seen, &image) { "made" } else { "(none)" }.to_string()
                };
                differences.push(Difference {
                    fixture: fixture.name.clone(),
                    about: fixture.about.clone(),
                    field: image.clone(),
                    ko: made(&ko_seen),
                    rko: made(&rko_seen),
                    detail: String::new(),
                });
            }
            continue;
        }
        let (a, b) = (
            ko_seen.get(field).unwrap_or(&missing),
            rko_seen.get(field).unwrap_or(&missing),
        );
        if a == b {
            continue;
        }
        let mut detail = String::new();
        if field.contains("rootfs.diff_ids[") {
            detail = explain_diff_id(&ko_view, &rko_view, field, &ko_seen, &rko_seen);
        }
        if field == "exit" {
            detail = format!(
                "ko said: {}\n    rko said: {}",
                last_line(&ko.stderr),
                last_line(&rko.stderr)
            );
        }
        differences.push(Difference {
            fixture: fixture.name.clone(),
            about: fixture.about.clone(),
            field: field.clone(),
            ko: a.clone(),
            rko: b.clone(),
            detail,
        });
    }
    differences
}

/// The first tar header field that differs between the two layers behind
/// a differing diffID.
fn explain_diff_id(
    ko: &Observer,
    rko: &Observer,
    field: &str,
    ko_seen: &Observation,
    rko_seen: &Observation,
) -> String {
    let (Some(ko_diff), Some(rko_diff)) = (ko_seen.get(field), rko_seen.get(field)) else {
        return String::new();
    };
    let layer = |observer: &Observer, diff_id: &str| -> Result<Vec<tarview::Header>, String> {
        for (_, _, image) in &observer.images {
            for pulled in std::iter::once(image).chain(image.children.values()) {
                let Some(config) = &pulled.config else {
                    continue;
                };
                let ids = config["rootfs"]["diff_ids"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if let Some(i) = ids.iter().position(|d| d == diff_id) {
                    let digest = pulled.manifest["layers"][i]["digest"]
                        .as_str()
                        .unwrap_or("");
                    return tarview::headers(&pulled.blob(digest)?);
                }
            }
        }
        Err(format!("no layer with diffID {diff_id}"))
    };
    match (layer(ko, ko_diff), layer(rko, rko_diff)) {
        (Ok(a), Ok(b)) => tarview::first_difference(&a, &b)
            .unwrap_or_else(|| "same headers and contents: the tar framing differs".into()),
        (Err(e), _) | (_, Err(e)) => e,
    }
}

/// Which report column a field belongs to: names, config, diffIDs, other.
fn column_of(field: &str) -> usize {
    if field.contains("rootfs.diff_ids") {
        2
    } else if field.contains(" config") || field.contains(" manifest") {
        1
    } else if field == "stdout"
        || field == "exit"
        || field.starts_with("tags ")
        || field.starts_with("error")
    {
        0
    } else {
        3
    }
}

/// `*` matches any run of characters; everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len()).any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
        }
    }
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// Pushes builtin:static for linux/amd64 and linux/arm64, as an index, to
/// `registry/base:static`: the base both tools get (ko's own default base
/// needs the internet).
fn push_base(registry: &str, dir: &std::path::Path) -> String {
    let mut images = Vec::new();
    for arch in ["amd64", "arm64"] {
        let out = dir.join(format!("base-{arch}"));
        run_ok(
            rko()
                .args(["append", "--base", "builtin:static", "--platform"])
                .arg(format!("linux/{arch}"))
                .arg("--out")
                .arg(&out),
        );
        images.push(out);
    }
    let index = dir.join("base-index");
    let mut cmd = rko();
    cmd.arg("index");
    for image in &images {
        cmd.arg("--image").arg(image);
    }
    run_ok(cmd.arg("--out").arg(&index));
    let reference = format!("{registry}/base:static");
    // Also as base:other, for the fixtures that pick a base per import path.
    run_ok(
        rko()
            .arg("push")
            .arg(&index)
            .arg(&reference)
            .args(["--tag", "other"]),
    );
    reference
}

#[test]
fn globs_match_runs_of_characters() {
    for (pattern, text, expected) in [
        ("*", "anything", true),
        ("tags *", "tags app-1", true),
        (
            "image1 config.history[*].created",
            "image1 config.history[2].created",
            true,
        ),
        ("image1 config", "image1 config.x", false),
        ("a*c", "abc", true),
        ("a*c", "abd", false),
    ] {
        assert_eq!(glob(pattern, text), expected, "{pattern} ~ {text}");
    }
}
